"""Image sources through OpenCV: a webcam (index or stream URL), a video file, a folder of images."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgeloop import require
from edgeloop.app.live.sources.base import END, Capture, Source, SourceError, _End

cv2 = require("cv2", needed_for="cameras, video files and image folders")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """OpenCV decodes BGR(A) or gray; edgeloop hands out RGB or H×W×1 gray."""
    if image.ndim == 2:
        return image[:, :, None]
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:  # 16-bit PNG/TIFF: keep the top byte
        return (image >> 8).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8)


class CameraSource(Source):
    """A live camera through OpenCV: `device` is an index (0 = /dev/video0) or a stream URL (rtsp://, http://)."""

    live = True

    def __init__(self, device: int | str = 0, *, width: int = 0, height: int = 0, name: str = "") -> None:
        super().__init__(name=name or f"camera {device}")
        self.device = device
        self._cap = cv2.VideoCapture(device)
        if not self._cap.isOpened():
            self._cap.release()
            hint = ("check that a camera is plugged in (ls /dev/video*) and that you may use it "
                    "(join the `video` group), or use --source synthetic:bottles"
                    if isinstance(device, int) else "check the URL and that the stream is reachable")
            raise SourceError(f"cannot open camera {device!r}: {hint}")
        if width:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._failures = 0

    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        ok, image = self._cap.read()
        if not ok or image is None:
            self._failures += 1
            if self._failures >= 50:  # about 1-2 s of failed grabs: the camera went away
                raise SourceError(f"camera {self.device!r} stopped delivering frames (unplugged?)")
            time.sleep(min(0.02, timeout or 0.02))
            return None
        self._failures = 0
        return self._image(_to_rgb(_to_uint8(image)))

    def _close_internal(self) -> None:
        self._cap.release()


class VideoFileSource(Source):
    """Frames of a video file, paced at the file's frame rate (or `fps`), optionally looping."""

    def __init__(self, path: str | Path, *, fps: float | None = None, loop: bool = False,
                 realtime: bool = True, name: str = "") -> None:
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"video file not found: {path}")
        cap = cv2.VideoCapture(str(path))
        ok, first = cap.read() if cap.isOpened() else (False, None)
        if not ok or first is None:
            cap.release()
            raise SourceError(f"{path} is not a video OpenCV can decode (try converting it to .mp4 or .avi)")
        file_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        rate = fps if fps is not None else (file_fps if 0 < file_fps <= 240 else 30.0)
        super().__init__(fps=rate if realtime else 0.0, name=name or path.name)
        self.path = path
        self.loop = loop
        self._cap = cap
        self._pending: np.ndarray | None = first
        self._frame_no = 0

    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        image = self._pending
        self._pending = None
        if image is None:
            ok, image = self._cap.read()
            if not ok or image is None:
                if not self.loop or self._frame_no == 0:
                    return END
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                self._frame_no = 0
                ok, image = self._cap.read()
                if not ok or image is None:
                    return END
        self._frame_no += 1
        return self._image(_to_rgb(_to_uint8(image)), {"file_frame": self._frame_no - 1})

    def _close_internal(self) -> None:
        self._cap.release()


class ImageFolderSource(Source):
    """Images from a folder (searched recursively, sorted by path), paced at `fps`, optionally looping.

    In a folder-per-class data set the parent folder name is reported as the
    ground-truth label in `meta["label"]`, so the result stream can be scored.
    """

    def __init__(self, path: str | Path, *, fps: float = 10.0, loop: bool = False, name: str = "") -> None:
        path = Path(path)
        if not path.is_dir():
            raise SourceError(f"image folder not found: {path}")
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise SourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        super().__init__(fps=fps, name=name or path.name)
        self.root = path
        self.files = files
        self.loop = loop
        self._pos = 0

    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        if self._pos >= len(self.files):
            if not self.loop:
                return END
            self._pos = 0
        file = self.files[self._pos]
        self._pos += 1
        image = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SourceError(f"cannot decode image {file} (corrupt or not an image); remove it from {self.root}")
        meta = {"file": str(file)}
        if file.parent != self.root:
            meta["label"] = file.parent.name
        return self._image(_to_rgb(_to_uint8(image)), meta)

