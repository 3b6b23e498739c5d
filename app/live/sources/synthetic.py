"""Synthetic scenes for demos and tests with no camera: a draining IV bottle (and synthetic IMU streams).

`BottleSceneSource` animates the models' bottle renderer
(`edgeloop.models.data.bottles.render_bottle`): one scene (container,
background, camera) drains from full to empty over `drain_seconds`, then the
bottle is taken away for `gap_seconds` (an empty scene), then a new bottle of
another shape hangs, full again. Time is the frame index divided by `fps`, so a
run is reproducible whatever the machine's speed. Every frame carries its
ground truth in `meta`: `fill` (0..1, None when no bottle) and `label`.

A paced scene (`fps` > 0) stands in for a camera and behaves like one: it is
*live*, so when the link is slower than `fps` the pipeline shows the newest
frame instead of queueing old ones (latency stays low). Unpaced (`fps` 0) it
is a data set run as fast as possible, and every frame is sent.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edgeloop import InputError
from edgeloop.app.live.sources.base import END, Capture, Source, _End


FILL_STEPS = 120  # rendered fill levels per drain: 0.8 % apart, finer than the eye or the classes care


class BottleSceneSource(Source):
    """An animated draining saline bottle, paced at `fps` (0 = as fast as rendering allows).

    Each scene is rendered at FILL_STEPS fill levels and the frames are reused
    while the level stays on a step: rendering costs ~15 ms a frame, which at
    30 fps would take half a core from the app it is meant to demonstrate.
    """

    def __init__(self, *, fps: float = 30.0, size: int = 96, drain_seconds: float = 20.0,
                 gap_seconds: float = 2.0, seed: int = 0, split: str = "test", frames: int | None = None,
                 live: bool | None = None) -> None:
        from edgeloop.models.data import bottles  # the renderer lives with the data generators

        if drain_seconds <= 0 or gap_seconds < 0:
            raise InputError("drain_seconds must be > 0 and gap_seconds >= 0")
        if frames is not None and frames <= 0:
            raise InputError(f"frames must be > 0, got {frames}")
        super().__init__(fps=fps, name=f"synthetic bottles (seed {seed})")
        self._bottles = bottles
        self.live = fps > 0 if live is None else live
        self.size = size
        self.drain_seconds = drain_seconds
        self.gap_seconds = gap_seconds
        self.split = split
        self.frames = frames
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._scene_no = -1
        self._scene = None
        self._empty_scene = None
        self._frames: dict[float | None, np.ndarray] = {}  # rendered frames of the current scene, by fill step
        self._clock_fps = fps or 30.0  # animation time base, also when rendering flat out
        bottles.sample_scene(self._rng, split, size=size)  # validates split and size now, not mid-stream

    def _scene_for(self, number: int):
        if number != self._scene_no:
            rng = np.random.default_rng([self.seed, number])
            # No hands in front of the demo bottle: the audience should see the level fall.
            self._scene = replace(self._bottles.sample_scene(rng, self.split, size=self.size), occluder="none")
            self._empty_scene = replace(self._scene, container="none")
            self._scene_no = number
            self._frames.clear()
        return self._scene, self._empty_scene

    def fill_at(self, t: float) -> tuple[int, float | None]:
        """(scene number, fill level or None for no bottle) at animation time `t` seconds."""
        cycle = self.drain_seconds + self.gap_seconds
        number, phase = divmod(t + 1e-9, cycle)  # the epsilon keeps frame-exact cycle boundaries exact
        if phase >= self.drain_seconds:
            return int(number), None
        return int(number), 1.0 - phase / self.drain_seconds

    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        if self.frames is not None and self._index >= self.frames:
            return END
        number, fill = self.fill_at(self._index / self._clock_fps)
        scene, empty = self._scene_for(number)
        if fill is not None:
            fill = round(fill * FILL_STEPS) / FILL_STEPS
        image = self._frames.get(fill)
        if image is None:
            image = self._frames[fill] = self._bottles.render_bottle(fill, scene if fill is not None else empty,
                                                                     self._rng)
        return self._image(image.copy(), {"fill": fill, "label": self._bottles.fill_class(fill), "scene": number})
