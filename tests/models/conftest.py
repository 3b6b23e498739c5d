"""Shared fixtures of the models tests: the C feature library and small generated data sets."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

import edgeloop


@pytest.fixture(scope="session")
def features_lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """firmware/nn/nn_features.c compiled as a shared library (C11, warnings as errors)."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.fail("no C compiler found; install gcc (make system-packages)")
    out = tmp_path_factory.mktemp("nnfeat") / "libnn_features.so"
    src = edgeloop.FIRMWARE_DIR / "nn" / "nn_features.c"
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-shared", "-fPIC",
                    str(src), "-o", str(out), "-lm"], check=True, timeout=120)
    lib = ctypes.CDLL(str(out))
    f32p = ctypes.POINTER(ctypes.c_float)
    lib.nn_features_window.argtypes = [f32p, ctypes.c_uint32, ctypes.c_uint32, f32p]
    lib.nn_features_window.restype = ctypes.c_bool
    lib.nn_features_window_count.argtypes = [ctypes.c_uint32] * 3
    lib.nn_features_window_count.restype = ctypes.c_uint32
    lib.nn_features_sliding.argtypes = [f32p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32,
                                        f32p, ctypes.c_uint32]
    lib.nn_features_sliding.restype = ctypes.c_bool
    lib.nn_features_quantize.argtypes = [f32p, f32p, f32p, ctypes.c_uint32, ctypes.c_float, ctypes.c_int32,
                                         ctypes.POINTER(ctypes.c_int8)]
    lib.nn_features_quantize.restype = ctypes.c_bool
    return lib


@pytest.fixture(scope="session")
def tiny_bottles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 75-image 32×32 synthetic bottle set (seed 3)."""
    from edgeloop.models.data.bottles import generate_bottle_set

    root = tmp_path_factory.mktemp("bottles") / "set"
    generate_bottle_set(root, 75, seed=3, size=32, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_activity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic activity recordings of 4 subjects (seed 5)."""
    from edgeloop.models.data.imu import generate_imu_set

    root = tmp_path_factory.mktemp("imu") / "activity"
    generate_imu_set(root, "activity", subjects=4, seed=5, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_falls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic fall-task recordings of 3 subjects (seed 6)."""
    from edgeloop.models.data.imu import generate_imu_set

    root = tmp_path_factory.mktemp("imu") / "fall"
    generate_imu_set(root, "fall", subjects=3, seed=6, progress=False)
    return root
