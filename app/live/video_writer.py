"""Record what the window shows as a video file, through OpenCV, in a writer thread of its own.

The installed OpenCV wheel writes MPEG-4 Part 2 video in an .mp4 file (fourcc
``mp4v``: VLC, QuickTime, browsers' players and presentation tools open it)
and Motion-JPEG in an .avi file (``MJPG``, the fallback: larger, but every
player opens it). It has no H.264 encoder. `VideoRecorder` picks mp4v for a
``.mp4`` path and falls back to MJPEG ``.avi`` when that cannot be opened.

Frames arrive with their capture time at whatever rate the window paints
them; the file has a constant frame rate, so the writer repeats or skips
pictures to keep the video's clock equal to the wall clock (a 10 s demo plays
for 10 s). `put()` never blocks the caller: a full queue drops the picture
and counts it.

Example::

    rec = VideoRecorder(Path("demo.mp4"), fps=30)
    rec.put(rgb_image, time.monotonic())     # H×W×3 uint8, any thread
    summary = rec.close()                    # path, frames written, codec
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeloop import InputError, ResourceError, require

CODECS = {".mp4": ("mp4v", "MPEG-4 video in MP4"), ".avi": ("MJPG", "Motion-JPEG in AVI")}
QUEUE_FRAMES = 64


@dataclass(frozen=True)
class VideoSummary:
    """What a recording wrote."""

    path: Path
    frames: int
    dropped: int
    codec: str
    seconds: float


class VideoRecorder:
    """Writes timed RGB pictures to a constant-rate video file; `close()` finishes it."""

    def __init__(self, path: Path, fps: float = 30.0) -> None:
        self.cv2 = require("cv2", needed_for="recording the demo as a video")
        if path.suffix.lower() not in CODECS:
            raise InputError(f"video files are .mp4 or .avi, not {path.suffix!r}: name the file NAME.mp4")
        self.path = path
        self.fps = fps
        self.codec = ""
        self.frames = 0
        self.dropped = 0
        self.error: str = ""
        self._queue: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(QUEUE_FRAMES)
        self._writer = None
        self._size: tuple[int, int] | None = None
        self._t0: float | None = None
        self._last: np.ndarray | None = None
        self._pending = False  # the current picture has not been written yet
        self._thread = threading.Thread(target=self._main, name="edgeloop-video", daemon=True)
        self._thread.start()

    def put(self, image: np.ndarray, t: float) -> None:
        """Queue a picture shown at monotonic time `t` (never blocks; a full queue drops it)."""
        try:
            self._queue.put_nowait((image, t))
        except queue.Full:
            self.dropped += 1

    def close(self) -> VideoSummary:
        """Write what is queued, finish the file and return what was written."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self._writer is not None:
            self._writer.release()
        seconds = self.frames / self.fps
        if self.error:
            raise ResourceError(f"the video {self.path} could not be written: {self.error}")
        return VideoSummary(self.path, self.frames, self.dropped, self.codec, seconds)

    def _open(self, width: int, height: int) -> None:
        cv2 = self.cv2
        for path in (self.path, self.path.with_suffix(".avi")):
            fourcc, name = CODECS[path.suffix.lower()]
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), self.fps, (width, height))
            if writer.isOpened():
                self._writer, self.path, self.codec = writer, path, name
                return
        raise OSError(f"OpenCV can write neither {self.path.name} (mp4v) nor an MJPEG .avi here")

    def _main(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                image, t = item
                self._write_until(t, image)
            if self._pending:  # the last picture shows for one frame
                self._writer.write(self._last)
                self.frames += 1
        except (OSError, ValueError) as exc:
            self.error = str(exc)
            while self._queue.get() is not None:  # drain, so close() does not wait on a full queue
                pass

    def _write_until(self, t: float, image: np.ndarray) -> None:
        """Write the previous picture for every frame slot before `t`, then keep `image` as the current one."""
        cv2 = self.cv2
        if self._size is None:
            height, width = image.shape[:2]
            self._size = (width - width % 2, height - height % 2)  # encoders want even sizes
            self._open(*self._size)
            self._t0 = t
        due = round((t - self._t0) * self.fps)  # frame slots that have begun by t
        while self._last is not None and self.frames < due:
            self._writer.write(self._last)
            self.frames += 1
            self._pending = False
        bgr = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2BGR)
        if (bgr.shape[1], bgr.shape[0]) != self._size:
            bgr = cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA)  # the window was resized
        self._last, self._pending = bgr, True
        if self.frames == 0:
            self._writer.write(bgr)
            self.frames, self._pending = 1, False
