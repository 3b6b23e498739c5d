"""Fixtures of the importer tests: one folder with a model file of every source format (built once)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from source_models import build_sources  # noqa: E402


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> dict[str, Path]:
    """{format: path} of the source models, and 'calib' / 'calib_nchw' .npz files."""
    return build_sources(tmp_path_factory.mktemp("import-sources"))


# format -> (source key, calibration key): every source the importers read
SOURCES = {
    "keras": ("keras", "calib"), "h5": ("h5", "calib"), "savedmodel": ("savedmodel", "calib"),
    "tflite-float": ("tflite-float", "calib"), "onnx-float": ("onnx-float", "calib"),
    "onnx-nchw": ("onnx-nchw", "calib_nchw"), "onnx-qdq": ("onnx-qdq", "calib_nchw"),
}
