"""IMU sources played from recordings: a recorded edgeloop IMU CSV, or synthetic subjects generated live.

Both hand out the recording in 50 ms chunks paced at the recording's rate
times `speed` (0 = as fast as possible), with the label of the chunk's last
sample as ground truth in `meta["label"]`. Files are read with the models'
reader (`edgeloop.models.data.imu_csv`); synthetic subjects come from the
models' generators (`edgeloop.models.data.imu`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgeloop import InputError
from edgeloop.app.live.sources.base import END, Capture, Source, SourceError, _End

CHUNK_SECONDS = 0.05


class _RecordingSource(Source):
    """Plays `ImuRecording`s from an iterator, chunk by chunk."""

    kind = "imu"

    def __init__(self, recordings: Iterator, rate_hz: float, *, speed: float, name: str) -> None:
        if speed < 0:
            raise InputError(f"speed must be >= 0 (0 = as fast as possible), got {speed}")
        self.chunk = max(1, round(rate_hz * CHUNK_SECONDS))
        super().__init__(fps=speed * rate_hz / self.chunk, name=name)
        self.rate_hz = float(rate_hz)
        self._recordings = recordings
        self._current = None
        self._pos = 0

    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        if self._current is None or self._pos >= len(self._current):
            self._current = next(self._recordings, None)
            self._pos = 0
            if self._current is None:
                return END
            if abs(self._current.rate_hz - self.rate_hz) > 1e-6:
                raise SourceError(f"{self.name}: recordings change rate ({self.rate_hz:g} → "
                                  f"{self._current.rate_hz:g} Hz) within one source")
        rec, start = self._current, self._pos
        stop = min(start + self.chunk, len(rec))
        self._pos = stop
        label = str(rec.labels[stop - 1]) if len(rec.labels) else ""
        return self._imu(rec.data[start:stop], self.rate_hz, meta={"label": label, "t_file": float(rec.t[start])},
                         channels=rec.channels)


class ImuReplaySource(_RecordingSource):
    """Replays an `edgeloop-imu-csv v1` file at its own rate × `speed`, optionally looping."""

    def __init__(self, path: str | Path, *, speed: float = 1.0, loop: bool = False) -> None:
        from edgeloop.models.data.imu_csv import ImuCsvError, read_imu_csv

        path = Path(path)
        if not path.is_file():
            raise SourceError(f"IMU recording not found: {path}")
        try:
            recording = read_imu_csv(path)
        except (ImuCsvError, UnicodeDecodeError) as exc:
            raise SourceError(f"cannot replay {path}: {exc}") from exc
        if not len(recording):
            raise SourceError(f"IMU recording {path} holds no samples")

        def recordings() -> Iterator:
            yield recording
            while loop:
                yield recording

        super().__init__(recordings(), recording.rate_hz, speed=speed, name=f"imu replay {path.name}")
        self.recording = recording


class SyntheticImuSource(_RecordingSource):
    """Synthetic subjects one after another: `task` "activity" (100 Hz) or "fall" (200 Hz)."""

    def __init__(self, *, task: str = "activity", seed: int = 0, speed: float = 1.0,
                 subjects: int | None = None) -> None:
        from edgeloop.models.data import imu

        if task not in imu.RATES:
            raise InputError(f"synthetic IMU task {task!r} is not one of {', '.join(imu.RATES)}")

        def recordings() -> Iterator:
            number = 0
            while subjects is None or number < subjects:
                subject = imu.make_subject(number, seed)
                rng = np.random.default_rng([seed, number])
                if task == "activity":
                    yield imu.activity_recording(subject, rng, seconds_per_activity=(8, 12))
                else:
                    yield imu.fall_recording(subject, rng, falls=3, adl_each=1)
                number += 1

        super().__init__(recordings(), imu.RATES[task], speed=speed, name=f"synthetic imu {task} (seed {seed})")
        self.task = task
