"""The source contract: one `_read_internal()` per backend; timeouts, pacing and close live here once.

A source produces *captures*: timestamped numpy data. Image sources yield
`ImageFrame` (H×W×C uint8, RGB channel order, or H×W×1 for gray); IMU sources
yield `ImuSamples` (N×6 float32: ax, ay, az in g, gx, gy, gz in dps, plus the
sample rate). Backends implement `_read_internal(timeout)` and return one of:

- a `Capture` ready to hand out,
- `None` when nothing arrived within `timeout` (the base class loops until the
  caller's deadline),
- `END` when a finite source is exhausted.

Example::

    with open_source("synthetic:bottles?fps=30") as src:
        for cap in src:                       # stops at END or close()
            print(cap.index, cap.timestamp, cap.data.shape)
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Final

import numpy as np

from edgeloop import EdgeloopError, InputError

IMU_CHANNELS: Final = ("ax", "ay", "az", "gx", "gy", "gz")
"""Channel order of every IMU array in edgeloop (accelerometer in g, gyroscope in dps)."""


class SourceError(EdgeloopError, OSError):
    """A source cannot be opened or read (missing camera, bad file, busy port)."""


class _End:
    """Marker type of `END`."""

    def __repr__(self) -> str:
        return "END"


END: Final = _End()
"""Returned by `_read_internal` when a finite source has nothing more to give."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, eq=False)
class Capture:
    """One item from a source; `timestamp` is `time.monotonic()` seconds at capture."""

    data: np.ndarray
    timestamp: float
    index: int
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, eq=False)
class ImageFrame(Capture):
    """An H×W×C uint8 image (RGB order when C == 3). `meta` may carry ground truth, e.g. `fill`."""

    @property
    def image(self) -> np.ndarray:
        """The image array (alias of `data`)."""
        return self.data


@dataclass(frozen=True, eq=False)
class ImuSamples(Capture):
    """N×C float32 time-series samples; `timestamp` is that of the first sample. `channels` names the C
    columns: by default the six IMU channels (ax, ay, az g; gx, gy, gz dps), else 1..64 named channels."""

    rate_hz: float = 0.0
    channels: tuple[str, ...] = IMU_CHANNELS

    @property
    def samples(self) -> np.ndarray:
        """The N×C sample array (alias of `data`)."""
        return self.data


class Source(ABC):
    """Base of every source: iteration, `read(timeout)`, pacing and close handled once.

    Subclasses set `kind` ("image" or "imu"), implement `_read_internal`, and
    may override `_close_internal` to release their device. `live` says whether
    captures arrive on their own clock (camera, serial, UDP): a consumer that is
    slower than a live source drops captures rather than falling behind.
    `fps` > 0 paces a non-live source to that many captures per second.
    """

    kind: ClassVar[str] = "image"
    live: bool = False

    def __init__(self, *, fps: float = 0.0, name: str = "") -> None:
        if fps < 0:
            raise InputError(f"fps must be >= 0 (0 = as fast as possible), got {fps}")
        self.name = name or type(self).__name__
        self.fps = float(fps)
        self._period = 1.0 / fps if fps > 0 else 0.0
        self._next_due: float | None = None
        self._index = 0
        self._closed = threading.Event()
        self._finished = False
        # Held around every backend call, so close() never releases a device mid-read.
        self._io_lock = threading.Lock()
        self._released = False

    # -- backend contract ---------------------------------------------------------------
    @abstractmethod
    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        """Return a capture, None if nothing came within `timeout` seconds, or END."""

    def _close_internal(self) -> None:
        """Release the device or file; called exactly once."""

    # -- helpers for backends -----------------------------------------------------------
    def _next_index(self) -> int:
        index = self._index
        self._index += 1
        return index

    def _image(self, image: np.ndarray, meta: Mapping[str, Any] | None = None) -> ImageFrame:
        """Wrap an image array as the next `ImageFrame`, stamped now."""
        if image.ndim == 2:
            image = image[:, :, None]
        if image.dtype != np.uint8 or image.ndim != 3:
            raise SourceError(f"{self.name}: expected an H×W×C uint8 image, got {image.dtype} {image.shape}")
        return ImageFrame(image, time.monotonic(), self._next_index(), MappingProxyType(dict(meta or {})))

    def _imu(self, samples: np.ndarray, rate_hz: float, timestamp: float | None = None,
             meta: Mapping[str, Any] | None = None, channels: tuple[str, ...] = IMU_CHANNELS) -> ImuSamples:
        """Wrap an N×C array (C = len(channels), the six IMU channels by default) as the next `ImuSamples`."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1, len(channels))
        return ImuSamples(samples, time.monotonic() if timestamp is None else timestamp, self._next_index(),
                          MappingProxyType(dict(meta or {})), rate_hz=float(rate_hz), channels=tuple(channels))

    # -- public API -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed.is_set()

    @property
    def finished(self) -> bool:
        """True once a finite source returned its last capture (or the source was closed)."""
        return self._finished or self.closed

    def read(self, timeout: float | None = None) -> Capture | None:
        """Return the next capture, or None on timeout, at the end of a finite source, or after close().

        `timeout` None waits as long as it takes. Pacing (`fps`) counts
        against the timeout, so a paced source never blocks past it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._period and self._next_due is not None:
            wait = self._next_due - time.monotonic()
            if deadline is not None and time.monotonic() + wait > deadline:
                self._closed.wait(max(0.0, deadline - time.monotonic()))
                return None
            if wait > 0 and self._closed.wait(wait):
                return None
        while not self.finished:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            # Backends get bounded slices so that close() from another thread is seen promptly.
            with self._io_lock:
                if self.closed:
                    return None
                item = self._read_internal(0.1 if left is None else min(left, 0.1))
            if isinstance(item, _End):
                self._finished = True
                return None
            if item is not None:
                if self._period:
                    now = time.monotonic()
                    due = (self._next_due or now) + self._period
                    # After a long stall, restart the clock instead of bursting to catch up.
                    self._next_due = due if due > now - self._period else now + self._period
                return item
            if deadline is not None and time.monotonic() >= deadline:
                return None
        return None

    def __iter__(self) -> Iterator[Capture]:
        while True:
            item = self.read(timeout=None)
            if item is None:
                return
            yield item

    def close(self) -> None:
        """Stop the source and release it; safe to call more than once and from any thread."""
        self._closed.set()
        with self._io_lock:
            if self._released:
                return
            self._released = True
            self._close_internal()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
