"""The arena planner: no live buffers overlap, in-place reuse happens, and the arena beats TFLite Micro's."""

from __future__ import annotations

import ctypes
from pathlib import Path

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
            ("per_channel", ctypes.c_int32), ("wide_weights", ctypes.c_int32)]

    class FC(ctypes.Structure):
        _fields_ = [(n, ctypes.c_int32) for n in (
            "batches", "in_features", "out_features", "in_offset", "out_offset", "act_min", "act_max")] + [
            (n, ctypes.c_void_p) for n in ("weights", "bias", "mult", "shift")] + [("per_channel", ctypes.c_int32)]

    lib.nn_conv2d_s8_scratch_bytes.restype = ctypes.c_size_t
    lib.nn_fc_s8_scratch_bytes.restype = ctypes.c_size_t
    lib.nn_depthwise_conv2d_s8_scratch_bytes.restype = ctypes.c_size_t

    def conv_bytes(p: dict, shifts: list[int]) -> tuple[int, int]:
        """(C, Python) scratch of conv params p with per-channel exponents `shifts`."""
        arr = (ctypes.c_int32 * len(shifts))(*shifts)
        c = Conv(**p, shift=ctypes.cast(arr, ctypes.c_void_p), per_channel=int(len(shifts) > 1))
        return lib.nn_conv2d_s8_scratch_bytes(ctypes.byref(c)), conv_scratch_bytes(p, shifts)

    rng = np.random.default_rng(5)
    for _ in range(200):
        out_c = int(rng.integers(1, 300))
        p = {"k_h": int(rng.integers(1, 8)), "k_w": int(rng.integers(1, 8)), "in_c": int(rng.integers(1, 300)),
             "out_c": out_c, "out_w": int(rng.integers(1, 50)), "stride_w": int(rng.integers(1, 3)),
             "dil_h": int(rng.integers(1, 3)), "dil_w": int(rng.integers(1, 3)),
             "act_min": int(rng.choice([-128, 0, -20])), "act_max": int(rng.choice([127, 90])),
             "wide_weights": int(rng.integers(0, 2))}
        shifts = [int(v) for v in rng.integers(-25, 2, out_c if rng.random() < 0.5 else 1)]
        if rng.random() < 0.5:
            shifts = [int(v) for v in rng.integers(-23, -1, len(shifts))]   # the wide path's range
        got, want = conv_bytes(p, shifts)
        assert got == want, (p, shifts)
        c = Conv(**p)
        assert lib.nn_depthwise_conv2d_s8_scratch_bytes(ctypes.byref(c)) == depthwise_scratch_bytes(p)
        f = {"in_features": int(rng.integers(1, 5000)), "out_features": int(rng.integers(1, 20))}
        assert lib.nn_fc_s8_scratch_bytes(ctypes.byref(FC(**f))) == fc_scratch_bytes(f)
    # first layers on both sides of the small-K limits (column in registers, two pixels, none),
    # 3x3 grayscale with its strip, and inner layers with and without wide weights
    for k, in_c, dil in ((3, 1, 1), (3, 1, 2), (2, 3, 1), (3, 3, 1), (5, 1, 1), (4, 2, 1), (5, 3, 1), (3, 4, 1),
                         (1, 5, 1), (3, 8, 1), (1, 16, 1)):
        for wide in (0, 1):
            p = {"k_h": k, "k_w": k, "in_c": in_c, "out_c": 7, "out_w": 33, "stride_w": 2, "dil_h": dil,
                 "dil_w": dil, "act_min": -128, "act_max": 127, "wide_weights": wide}
            got, want = conv_bytes(p, [-9] * 7)
            assert got == want, p
    wide_p = {"k_h": 3, "k_w": 3, "in_c": 8, "out_c": 12, "out_w": 16, "stride_w": 1, "dil_h": 1, "dil_w": 1,
              "act_min": -128, "act_max": 127, "wide_weights": 1}
    assert conv_bytes(wide_p, [-9] * 12)[1] == conv_bytes({**wide_p, "wide_weights": 0}, [-9] * 12)[1] + 1920


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


ZOO = Path(__file__).resolve().parents[2] / "models" / "zoo"


@pytest.mark.parametrize("model", [ZOO / "bottles_tiny" / "bottles_tiny.tflite", ZOO / "bottles_demo" / "bottles_demo.tflite",
                                   FIXTURES / "random_20.tflite", FIXTURES / "random_04.tflite"])
def test_wide_weights_policies(model: Path) -> None:
    """"free" widens only where the arena stays as small as with "none"; "all" widens every layer that can."""
    from edgeloop.models.compiler.scratch import conv_wide_applies

    data = model.read_bytes()
    by_policy = {p: compile_bytes(data, name="m", wide_weights=p) for p in ("none", "free", "all")}

    def wide(r):
        return [s.index for s in r.graph.steps if s.params.get("wide_weights")]

    eligible = [s.index for s in by_policy["none"].graph.steps if s.kernel == "nn_conv2d_s8"
                and conv_wide_applies(s.params, s.consts["shift"].tolist())]
    assert wide(by_policy["none"]) == []
    assert by_policy["free"].arena_bytes == by_policy["none"].arena_bytes
    assert set(wide(by_policy["free"])) <= set(eligible)
    assert wide(by_policy["all"]) == eligible
    assert by_policy["all"].arena_bytes >= by_policy["free"].arena_bytes
    for r in by_policy.values():   # the flag reaches the generated parameters
        assert r.c_source.count(".wide_weights = 1") == len(wide(r))


def test_free_wide_weights_cover_the_tiny_bottle_model_inner_layers() -> None:
    r = compile_bytes((ZOO / "bottles_tiny" / "bottles_tiny.tflite").read_bytes(), name="m")
    assert [s.params["wide_weights"] for s in r.graph.steps if s.kernel == "nn_conv2d_s8"] == [0, 1, 1, 1]


def test_unknown_wide_weights_policy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="wide_weights must be one of free, all, none"):
        compile_bytes((FIXTURES / "random_04.tflite").read_bytes(), name="m", wide_weights="some")
