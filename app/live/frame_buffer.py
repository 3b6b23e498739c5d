"""A video frame kept in one persistent 32-bit BGRX buffer: no allocation per frame (no Qt).

The GUI wraps the buffer in an image object of its toolkit once per
reallocation, so painting is a single blit of a format the screen takes
natively.
"""

from __future__ import annotations

import numpy as np

from edgeloop import require

cv2 = require("cv2", needed_for="the video view")

_TO_BGRA = {2: cv2.COLOR_GRAY2BGRA, 3: cv2.COLOR_RGB2BGRA, 4: cv2.COLOR_RGBA2BGRA}


class FrameBuffer:
    """Converts (and, for small frames, upscales) each capture straight into one H×W×4 BGRX buffer.

    The buffer is reallocated only when the displayed size changes, and
    `set_image()` says when that happened so that wrappers can re-wrap it.
    """

    def __init__(self) -> None:
        self._buffer: np.ndarray | None = None  # H×W×4, B G R X byte order
        self._small: np.ndarray | None = None  # the capture in BGRX before upscaling

    @property
    def image(self) -> np.ndarray | None:
        """The displayed pixels (H×W×4, BGRX), None before the first frame."""
        return self._buffer

    def set_image(self, image: np.ndarray, scale: int = 1) -> bool:
        """Hold an H×W (gray) or H×W×3/4 (RGB/RGBA) uint8 image, upscaled `scale` times.

        Returns True when the buffer was (re)allocated for a new displayed size.
        """
        height, width = image.shape[0] * scale, image.shape[1] * scale
        reallocated = self._buffer is None or self._buffer.shape[:2] != (height, width)
        if reallocated:
            self._buffer = np.full((height, width, 4), 255, np.uint8)
        code = _TO_BGRA[image.ndim if image.ndim == 2 else image.shape[2]]
        if scale == 1:
            cv2.cvtColor(image, code, dst=self._buffer)
        else:  # convert the small image, then upscale straight into the displayed buffer
            small_shape = (image.shape[0], image.shape[1], 4)
            if self._small is None or self._small.shape != small_shape:
                self._small = np.empty(small_shape, np.uint8)
            cv2.cvtColor(image, code, dst=self._small)
            cv2.resize(self._small, (width, height), dst=self._buffer, interpolation=cv2.INTER_CUBIC)
        if code == cv2.COLOR_RGBA2BGRA:
            self._buffer[:, :, 3] = 255  # the padding byte stays opaque
        return reallocated
