"""Fixtures for the workflow tests: synthetic IMU and image sources, a compiled sine model, virtual boards."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import edgeloop
from edgeloop.app.live.sources.base import END, Capture, Source, _End

SINE_TFLITE = edgeloop.PACKAGE_ROOT / "models" / "zoo" / "sine" / "sine.tflite"
"""The bundled regression model; its compiled descriptor carries this file's SHA-256."""


class FakeImuSource(Source):
    """`chunks` chunks of `size` deterministic IMU samples at `rate` Hz; meta carries a label per chunk."""

    kind = "imu"

    def __init__(self, chunks: int = 10, size: int = 25, rate: float = 50.0, labels: tuple[str, ...] = ()) -> None:
        super().__init__(name="fake imu")
        self.chunks, self.size, self.rate, self.labels = chunks, size, rate, labels
        self.sent = 0

    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        if self.sent >= self.chunks:
            return END
        n = np.arange(self.sent * self.size, (self.sent + 1) * self.size)
        data = np.stack([np.sin(n / 7.0 + k) * (k + 1) for k in range(6)], axis=1).astype(np.float32)
        meta = {"label": self.labels[self.sent % len(self.labels)]} if self.labels else {}
        self.sent += 1
        return self._imu(data, self.rate, meta=meta)


class FakeImageSource(Source):
    """`frames` small RGB images whose pixels encode their index; meta label alternates over `labels`."""

    def __init__(self, frames: int = 6, labels: tuple[str, ...] = ("a", "b"), size: int = 16) -> None:
        super().__init__(name="fake images")
        self.frames, self.labels, self.size = frames, labels, size

    def _read_internal(self, timeout: float | None) -> Capture | None | _End:
        if self._index >= self.frames:
            return END
        i = self._index
        image = np.full((self.size, self.size, 3), (i * 10) % 256, np.uint8)
        image[0, 0] = (255, 0, i)  # channel order must survive the PNG round trip
        return self._image(image, {"label": self.labels[i % len(self.labels)], "n": i})


@pytest.fixture
def fake_imu() -> type[FakeImuSource]:
    return FakeImuSource


@pytest.fixture
def fake_images() -> type[FakeImageSource]:
    return FakeImageSource


@pytest.fixture(scope="session")
def compiled_sine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zoo sine model compiled to C (its descriptor hash is the SHA-256 of sine.tflite)."""
    out = tmp_path_factory.mktemp("sine_c")
    subprocess.run([sys.executable, "-m", "edgeloop", "compile", str(SINE_TFLITE), "--out", str(out)],
                   check=True, capture_output=True, timeout=120)
    return out / "sine.c"


@pytest.fixture(scope="session")
def sine_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 sine inputs over [0, 2π] with their sin(x) targets, as validate's .npz format."""
    path = tmp_path_factory.mktemp("sine_data") / "sine.npz"
    x = np.linspace(0.0, 2 * math.pi, 60, dtype=np.float32)[:, None]
    np.savez(path, x=x, y=np.sin(x))
    return path


@pytest.fixture
def host_board(compiled_sine: Path) -> Iterator[object]:
    """A host virtual board serving the compiled sine model and the mean64 test model."""
    from edgeloop.app.link.boards import start_board

    board = start_board("host", models=[str(compiled_sine), "mean64"])
    try:
        yield board
    finally:
        board.stop()
