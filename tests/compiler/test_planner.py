"""The arena planner: no live buffers overlap, in-place reuse happens, and the arena beats TFLite Micro's."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from conftest import FIXTURES

from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.host import kernel_objects
from edgeloop.models.compiler.planner import ARENA
from edgeloop.models.compiler.scratch import conv_scratch_bytes, depthwise_scratch_bytes, fc_scratch_bytes
from edgeloop.models.reference import tflm_arena_bytes

CORPUS = sorted(FIXTURES.glob("random_*.tflite"))


def _check_no_overlap(result) -> None:
    groups = [g for g in result.plan.groups if g.kind == ARENA]
    for i, a in enumerate(groups):
        assert a.offset % 4 == 0 and a.offset + a.size <= result.arena_bytes
        for b in groups[i + 1:]:
            live_together = a.start <= b.end and b.start <= a.end
            disjoint = a.offset + a.size <= b.offset or b.offset + b.size <= a.offset
            assert not live_together or disjoint, (a, b)


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_plan_is_sound_and_not_larger_than_tflm(path) -> None:
    data = path.read_bytes()
    result = compile_bytes(data, name="m")
    _check_no_overlap(result)
    assert result.plan.lower_bound <= result.arena_bytes
    assert result.arena_bytes <= tflm_arena_bytes(data)
    assert result.const_bytes <= len(data)


def test_elementwise_ops_run_in_place_and_reshape_shares_storage() -> None:
    from edgeloop.models.compiler.tflite_writer import ModelBuilder

    b = ModelBuilder()
    x = b.tensor((1, 64), scale=0.1, zero_point=0)
    w = b.tensor((64, 64), scale=[0.01], data=np.ones((64, 64), np.int8))
    h = b.tensor((1, 64), scale=0.5, zero_point=0)
    b.op("FULLY_CONNECTED", [x, w, -1], [h], "FullyConnectedOptions")
    shape = b.tensor((2,), "int32", data=np.array([1, 64], np.int32))
    r = b.tensor((1, 64), scale=0.5, zero_point=0)
    b.op("RESHAPE", [h, shape], [r])
    s = b.tensor((1, 64), scale=1 / 256, zero_point=-128)
    b.op("LOGISTIC", [r], [s])
    y = b.tensor((1, 64), scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", [s], [y], "SoftmaxOptions", beta=1.0)
    result = compile_bytes(b.build([x], [y]), name="inplace")
    plan = result.plan
    assert plan.location(h) == plan.location(r) == plan.location(s)   # one buffer for three tensors
    assert plan.location(y)[0] == "output"
    assert "(shares storage)" in result.c_source
    # the FC output buffer plus the FC scratch (128 B) is all the arena needs
    assert result.arena_bytes == 64 + 128


def test_scratch_formulas_match_the_c_kernels() -> None:
    lib_path = kernel_objects(True)[0].parent / "libscratch.so"
    import subprocess

    subprocess.run(["cc", "-shared", "-o", str(lib_path), *map(str, kernel_objects(True)), "-lm"], check=True)
    lib = ctypes.CDLL(str(lib_path))

    class Conv(ctypes.Structure):
        _fields_ = [(n, ctypes.c_int32) for n in (
            "batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h",
            "stride_w", "dil_h", "dil_w", "pad_top", "pad_left", "depth_mult", "in_offset", "out_offset",
            "act_min", "act_max")] + [(n, ctypes.c_void_p) for n in ("weights", "bias", "mult", "shift")] + [
            ("per_channel", ctypes.c_int32)]

    class FC(ctypes.Structure):
        _fields_ = [(n, ctypes.c_int32) for n in (
            "batches", "in_features", "out_features", "in_offset", "out_offset", "act_min", "act_max")] + [
            (n, ctypes.c_void_p) for n in ("weights", "bias", "mult", "shift")] + [("per_channel", ctypes.c_int32)]

    lib.nn_conv2d_s8_scratch_bytes.restype = ctypes.c_size_t
    lib.nn_fc_s8_scratch_bytes.restype = ctypes.c_size_t
    lib.nn_depthwise_conv2d_s8_scratch_bytes.restype = ctypes.c_size_t
    rng = np.random.default_rng(5)
    for _ in range(50):
        p = {"k_h": int(rng.integers(1, 8)), "k_w": int(rng.integers(1, 8)), "in_c": int(rng.integers(1, 300)),
             "out_c": int(rng.integers(1, 300))}
        c = Conv(**p)
        assert lib.nn_conv2d_s8_scratch_bytes(ctypes.byref(c)) == conv_scratch_bytes(p)
        assert lib.nn_depthwise_conv2d_s8_scratch_bytes(ctypes.byref(c)) == depthwise_scratch_bytes(p)
        f = {"in_features": int(rng.integers(1, 5000)), "out_features": int(rng.integers(1, 20))}
        assert lib.nn_fc_s8_scratch_bytes(ctypes.byref(FC(**f))) == fc_scratch_bytes(f)
    # first layers on both sides of the small-K limits (column in registers, two pixels, none)
    for k, in_c in ((3, 1), (2, 3), (3, 3), (5, 1), (4, 2), (5, 3), (3, 4), (1, 5)):
        p = {"k_h": k, "k_w": k, "in_c": in_c, "out_c": 7}
        assert lib.nn_conv2d_s8_scratch_bytes(ctypes.byref(Conv(**p))) == conv_scratch_bytes(p), p


@pytest.mark.skipif(__import__("shutil").which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("stem", ["random_04", "random_16", "random_20", "random_03"])
def test_code_size_estimate_tracks_the_linked_cortex_m7_image(stem: str) -> None:
    """flash_bytes in the descriptor = constants (exact) + a code estimate within 35% of the real code."""
    from edgeloop.models.compiler.analyze import arm_sizes

    result = compile_bytes((FIXTURES / f"{stem}.tflite").read_bytes(), name="m")
    arm = arm_sizes(result)
    real_code = arm["flash"] - result.const_bytes - result.label_bytes
    assert real_code > 0
    assert abs(result.code_bytes - real_code) <= 0.35 * real_code, (result.code_bytes, real_code)
