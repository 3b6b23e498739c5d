"""The kernels state their own paths and scratch (nn_paths.c); the compiler asks them and the generated
code checks them: the ABI version and struct sizes at compile time, the scratch at run time (debug builds)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import FIXTURES

import edgeloop
from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.host import HostBuildError, HostModel
from edgeloop.models.compiler.kernel_facts import abi_version, conv_facts, depthwise_in_place, fc_facts, max_pool_path

NONE = {"act_min": -128, "act_max": 127}


def _conv(k: int, in_c: int, out_c: int, out_w: int = 16, stride: int = 1, **kw) -> dict:
    return {"k_h": k, "k_w": k, "in_c": in_c, "out_c": out_c, "out_w": out_w, "stride_w": stride, **NONE, **kw}


# (layer, exponents, expected path, expected scratch bytes by the formulas of firmware/nn/README.md)
CONV_EXPECTATIONS = [
    # 3x3 grayscale stem, 96 -> 48 wide: columns 4*12, table 16*12, records 40*12, strip align4(3*97)
    (_conv(3, 1, 12, out_w=48, stride=2), [-9] * 12, "gray3", 48 + 192 + 480 + 292),
    (_conv(3, 1, 12, out_w=48, stride=2, act_min=-100), [-9] * 12, "small_k_reg", 48 + 192 + 480 + 292),
    (_conv(3, 1, 12, out_w=48, stride=2), [-25] * 12, "small_k_reg", 48 + 192 + 480 + 292),
    (_conv(2, 2, 5), [-9] * 5, "small_k_rec", 32 + 80 + 200),
    # RGB 3x3: 27 taps padded to 28 through the wide records (4 pairs of 2 + 4 * 7 + 6 words) and two
    # 28-byte patches; with an odd channel count two pixels per pass, 14 int16 pairs per channel
    (_conv(3, 3, 8), [-9] * 8, "small_k_wide", 112 + 128 + 4 * (2 + 4 * 7 + 6) * 4 + 2 * 28),
    (_conv(3, 3, 7), [-9] * 7, "small_k", 112 + 112 + 4 * 14 * 7),
    (_conv(3, 8, 12), [-9] * 12, "fused", 288 + 192),
    (_conv(3, 8, 12, wide_weights=1), [-9] * 12, "wide", 288 + 192 + 4 * (2 + 4 * 18 + 6) * 6),
    (_conv(3, 8, 12, wide_weights=1), [-24] * 12, "im2col", 288 + 192),
    (_conv(3, 8, 12, wide_weights=1, act_max=100), [-9] * 12, "im2col", 288 + 192),
    (_conv(3, 8, 1, wide_weights=1), [-9], "fused", 288 + 16),
    (_conv(3, 5, 4), [-9] * 4, "im2col", 4 * 48 + 64),   # 45 taps: beyond small-K, not a multiple of 4
    (_conv(1, 16, 10), [-1] * 10, "im2col", 64 + 160),
]


@pytest.mark.parametrize("layer,shifts,path,scratch", CONV_EXPECTATIONS)
def test_conv_paths_and_scratch(layer: dict, shifts: list[int], path: str, scratch: int) -> None:
    assert conv_facts(layer, shifts) == (path, scratch)


# The wide paths accumulate doubled: every |bias| below 2^28 (-2^28 itself allowed) and at most 8192 taps.
WIDE_BIAS_LIMITS = [
    (_conv(3, 8, 4, wide_weights=1), [5, 2**28 - 1, -(2**28), 0], "wide"),
    (_conv(3, 8, 4, wide_weights=1), [5, 2**28, 0, 0], "fused"),
    (_conv(3, 8, 4, wide_weights=1), [0, 0, 0, -(2**28) - 1], "fused"),
    (_conv(3, 8, 4, wide_weights=1), [-(2**31), 0, 0, 0], "fused"),
    (_conv(3, 8, 4, wide_weights=1), None, "wide"),
    (_conv(1, 8192, 4, wide_weights=1), None, "wide"),
    (_conv(1, 8196, 4, wide_weights=1), None, "fused"),
    (_conv(3, 3, 8), [2**28 - 1] * 8, "small_k_wide"),
    (_conv(3, 3, 8), [0] * 7 + [2**28], "small_k"),
]


@pytest.mark.parametrize("layer,bias,path", WIDE_BIAS_LIMITS)
def test_wide_paths_need_biases_below_2_pow_28(layer: dict, bias: list[int] | None, path: str) -> None:
    assert conv_facts(layer, [-9] * layer["out_c"], bias=bias)[0] == path


def test_depthwise_fc_and_pool_facts() -> None:
    # 3x3 (ROWS3): a record of 72 B per channel of a group (at most 4; no requantization table) and 3 slots
    # of 4 int16 lines of (out_w - 1) * stride + 3 elements rounded up to even (16 wide: 18; 17 wide at
    # stride 2: 36); lines are columns when the output is taller than wide; below 4 outputs per line path
    # CHANNELS: table, folded biases and 72 bytes of widened weights per group of 4 channels
    assert conv_facts(_conv(3, 32, 32, out_h=9), [-9] * 32, depthwise=True) == ("rows3", 288 + 24 * 18)
    assert conv_facts(_conv(3, 8, 8, out_w=17, stride=2), [-9] * 8, depthwise=True) == ("rows3", 288 + 24 * 36)
    assert conv_facts(_conv(3, 8, 8, out_w=5, out_h=25), [-9] * 8, depthwise=True) == ("rows3", 288 + 24 * 28)
    assert conv_facts(_conv(3, 3, 3, out_w=5, out_h=25), [-9] * 3, depthwise=True) == ("rows3", 216 + 24 * 28)
    rows_of_4 = _conv(3, 10, 10, out_w=4, out_h=2, stride_h=3)   # stride 3 across the lines: not PLANE3
    assert conv_facts(rows_of_4, [-9] * 10, depthwise=True) == ("rows3", 288 + 24 * 6)
    assert conv_facts(_conv(3, 10, 10, out_w=3, out_h=2, stride=3), [-9] * 10, depthwise=True) == ("channels",
                                                                                                  20 * 10 + 144)
    # maps of at most 8 x 8 outputs at strides 1 and 2 (PLANE3): the table, a group's record of 152 B and its
    # plane of ((out - 1) * stride + 3)^2 pixels of 8 bytes
    assert conv_facts(_conv(3, 10, 10, out_w=3, out_h=3), [-9] * 10, depthwise=True) == ("plane3",
                                                                                       160 + 152 + 8 * 25)
    s2 = _conv(3, 8, 8, out_w=3, out_h=3, stride=2, stride_h=2, in_h=7, in_w=7, pad_top=1, pad_left=1)
    assert conv_facts(s2, [-9] * 8, depthwise=True) == ("plane3", 128 + 152 + 8 * 49)
    # stride 2 without padding above or left on rows of 3, 6 or 12 outputs with in_w = 2 out_w (S2PAIRS), at
    # most 12 rows, whole groups of 4, fused form: 4 channel records of 60 B, then the group's plane of the input
    # rows read (at most 2 out_h + 1), 192 B each
    s2p = _conv(3, 8, 8, out_w=3, out_h=3, stride=2, stride_h=2, in_h=6, in_w=6)
    assert conv_facts(s2p, [-9] * 8, depthwise=True) == ("s2pairs", 240 + 192 * 6)
    assert conv_facts({**s2p, "in_h": 8}, [-9] * 8, depthwise=True) == ("s2pairs", 240 + 192 * 7)
    s2p12 = _conv(3, 32, 32, out_w=12, out_h=12, stride=2, stride_h=2, in_h=24, in_w=24)
    assert conv_facts(s2p12, [-9] * 32, depthwise=True) == ("s2pairs", 240 + 192 * 24)
    assert conv_facts({**s2p12, "out_w": 11, "in_w": 22}, [-9] * 32, depthwise=True)[0] == "rows3"
    assert conv_facts({**s2p12, "out_h": 13, "in_h": 26}, [-9] * 32, depthwise=True)[0] == "rows3"
    assert conv_facts({**s2p, "in_w": 7}, [-9] * 8, depthwise=True)[0] == "plane3"   # VALID on 7 columns
    assert conv_facts(s2p, [-9] * 8, depthwise=True, bias=[2**29] * 8)[0] == "plane3"   # not the fused form
    assert conv_facts({**s2p, "act_min": 0}, [-9] * 8, depthwise=True)[0] == "plane3"
    assert conv_facts(_conv(3, 6, 6, out_w=3, out_h=3, stride=2, stride_h=2, in_h=6, in_w=6), [-9] * 6,
                      depthwise=True)[0] == "plane3"   # a partial group
    assert conv_facts(_conv(3, 8, 8, out_w=8, out_h=9), [-9] * 8, depthwise=True)[0] == "rows3"
    # in place (stride 1, equal shapes, ROWS3 or PLANE3): at least one input channel of scratch for the
    # reference kernel
    square = {"in_h": 40, "in_w": 40, "out_h": 40}
    assert depthwise_in_place(_conv(3, 4, 4, out_w=40, **square), [-9] * 4)
    assert conv_facts(_conv(3, 4, 4, out_w=40, **square), [-9] * 4, depthwise=True) == ("rows3", 1600)
    assert not depthwise_in_place(_conv(3, 4, 4, out_w=20, stride=2, **square), [-9] * 4)
    small = _conv(3, 10, 10, out_w=6, in_w=6, in_h=6, out_h=6)
    assert depthwise_in_place(small, [-9] * 10)
    assert conv_facts(small, [-9] * 10, depthwise=True) == ("plane3", 160 + 152 + 8 * 64)
    # SAME on rows of 6 at stride 1 (PLANE3's pairs): the table, then the larger of the widened plane's needs and
    # 4 channel records of 60 B with 4 planes of pairs of 4 (1 + 10 (out_h + 2)) B
    same6 = {**small, "pad_top": 1, "pad_left": 1}
    assert conv_facts(same6, [-9] * 10, depthwise=True) == ("plane3", 160 + 4 * 60 + 4 * 4 * (1 + 10 * 8))
    assert not depthwise_in_place(s2, [-9] * 8)
    assert not depthwise_in_place(_conv(5, 4, 4, out_w=40, **square), [-9] * 4)
    assert conv_facts(_conv(5, 32, 32), [-9] * 32, depthwise=True) == ("channels", 20 * 32)
    assert conv_facts({**_conv(3, 3, 6), "depth_mult": 2}, [-9] * 6, depthwise=True) == ("multiplier", 120)
    assert fc_facts({"in_features": 1728, "out_features": 5}, [-9]) == ("direct", 0)
    assert fc_facts({"in_features": 45, "out_features": 9}, [-9]) == ("widened", 96)
    pool = {"in_h": 8, "in_w": 10, "channels": 8, "out_h": 4, "out_w": 5, "k_h": 2, "k_w": 2, "stride_h": 2,
            "stride_w": 2, **NONE}
    assert max_pool_path(pool) == "2x2_rows"
    assert max_pool_path({**pool, "act_min": -20}) == "2x2"
    assert max_pool_path({**pool, "channels": 6}) == "windows"


def test_abi_version_is_the_headers() -> None:
    header = (edgeloop.FIRMWARE_DIR / "nn" / "nn_kernels.h").read_text()
    assert abi_version() == int(re.search(r"#define NN_KERNEL_ABI_VERSION (\d+)u", header).group(1))


def test_debug_build_catches_a_scratch_buffer_smaller_than_the_kernel_needs(tmp_path) -> None:
    """Mutation check of NN_CHECK_SCRATCH: shrink one planned scratch by 4 bytes and invoke() must fail."""
    tflite = (FIXTURES / "random_20.tflite").read_bytes()
    result = compile_bytes(tflite, name="m")
    checks = re.findall(r"NN_SCRATCH_FITS\((\w+)\(&(op\d+)_params\), (\d+)u\)", result.c_source)
    assert checks, "no layer checks its scratch"
    fn, op, planned = checks[0]
    x = np.zeros(result.graph.model.tensors[result.graph.input].shape, np.int8)
    out_t = result.graph.model.tensors[result.graph.output]
    for name, source in (("ok", result.c_source),
                         ("short", result.c_source.replace(f"NN_SCRATCH_FITS({fn}(&{op}_params), {planned}u)",
                                                           f"NN_SCRATCH_FITS({fn}(&{op}_params), {int(planned) - 4}u)"))):
        d = tmp_path / name
        d.mkdir()
        (d / "m.c").write_text(source)
        (d / "m.h").write_text(result.h_source)
        host = HostModel(d, "m", optimized=True, build_dir=d / "build")
        if name == "ok":
            host(x, out_t.np_dtype, out_t.size)
        else:
            with pytest.raises(HostBuildError, match="returned 2"):
                host(x, out_t.np_dtype, out_t.size)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
def test_generated_code_asserts_struct_sizes_and_abi_on_a_32_bit_target(tmp_path) -> None:
    result = compile_bytes((FIXTURES / "random_04.tflite").read_bytes(), name="m")
    nn = edgeloop.FIRMWARE_DIR / "nn"
    assert "_Static_assert(sizeof(void *) != 4 || sizeof(nn_conv_params_t) == 104u" in result.c_source
    for name, source in (("ok", result.c_source),
                         ("struct", result.c_source.replace("sizeof(nn_conv_params_t) == 104u",
                                                            "sizeof(nn_conv_params_t) == 100u")),
                         ("abi", result.c_source.replace(f"NN_KERNEL_ABI_VERSION == {abi_version()}u",
                                                         f"NN_KERNEL_ABI_VERSION == {abi_version() + 1}u"))):
        (tmp_path / "m.c").write_text(source)
        (tmp_path / "m.h").write_text(result.h_source)
        proc = subprocess.run(["arm-none-eabi-gcc", "-std=c11", "-mcpu=cortex-m7", "-mthumb", "-c", "-I", str(nn),
                               "-I", str(tmp_path), str(tmp_path / "m.c"), "-o", str(tmp_path / f"{name}.o")],
                              capture_output=True, text=True, timeout=120)
        assert (proc.returncode == 0) == (name == "ok"), proc.stderr
        if name != "ok":
            assert "static assertion failed" in proc.stderr
