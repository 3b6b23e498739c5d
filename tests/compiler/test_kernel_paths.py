"""Every path of the optimized int8 kernels (nn_opt.c), bit-exact with TFLite Micro.

Shapes are chosen to hit each fast path and its tail cases: 2x2 (channel x pixel)
blocks with an odd last pixel and an odd last channel, K not a multiple of 4 (the
weight over-read of all but the last block), first layers with in_c 1, 2 and 3 (the
small-K path: column in registers up to 12 taps, two pixels per pass above, odd and
even tap counts, stride 2, dilation) and beyond it (5x5 RGB), borders
of the padded im2col, dilated columns, depthwise 3x3 interiors (unrolled) and other
kernel sizes, channel counts not a multiple of 4, depth multipliers 2 and 3, MAX_POOL_2D
(the unrolled 2x2 window, other windows, padded borders, channel tails, fused clamps), and both
requantization forms: the fused one (right shift >= 2) and the general one (scales
that need a right shift of 0 or 1, or a left shift), with the fused forms of the inner
layers' 2x2 block and of the grayscale register path (and a layer whose right shifts
exceed 22, which leaves the block's fused form). The host runs the optimized
code through the portable DSP model; test_qemu.py runs a model with these layers on
the Cortex-M7 instructions.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from edgeloop.models.compiler.tflite_writer import ModelBuilder

# (name, in (h, w, c), out_c or depth multiplier, k, stride, dilation, padding, depthwise)
CONV_CASES = [
    ("c4_same_odd_pixels", (5, 7, 8), 6, 3, 1, 1, "SAME", False),
    ("c4_odd_out_c", (6, 6, 4), 5, 3, 1, 1, "SAME", False),
    ("c4_one_out_c", (4, 5, 12), 1, 3, 2, 1, "SAME", False),
    ("c4_pointwise", (6, 5, 16), 10, 1, 1, 1, "VALID", False),
    ("c4_dilated_cols", (9, 9, 8), 4, 3, 1, 2, "SAME", False),
    ("c4_kernel_wider_than_image", (3, 2, 4), 4, 5, 1, 1, "SAME", False),
    ("c1_first_layer", (9, 11, 1), 8, 3, 1, 1, "SAME", False),
    ("c1_first_layer_stride2", (12, 11, 1), 5, 3, 2, 1, "SAME", False),
    ("c1_stride2_valid_odd", (11, 10, 1), 3, 3, 2, 1, "VALID", False),
    ("c2_k2x2_even_taps", (7, 7, 2), 5, 2, 1, 1, "SAME", False),
    ("c1_k5_two_pixel_odd_taps", (8, 7, 1), 6, 5, 1, 1, "SAME", False),
    ("c3_first_layer_stride2", (10, 9, 3), 7, 3, 2, 1, "SAME", False),
    ("c3_dilated_small_k", (9, 9, 3), 4, 3, 1, 2, "SAME", False),
    ("c3_k5_beyond_small_k", (7, 6, 3), 4, 5, 2, 1, "SAME", False),
    ("c2_k_tail", (6, 6, 2), 4, 3, 1, 1, "VALID", False),
    ("c5_k_tail_odd", (5, 5, 5), 3, 2, 1, 1, "SAME", False),
    ("dw3x3_interior", (8, 9, 8), 1, 3, 1, 1, "SAME", True),
    ("dw3x3_tail_channels", (7, 6, 6), 1, 3, 1, 1, "SAME", True),
    ("dw3x3_stride2_valid", (9, 9, 4), 1, 3, 2, 1, "VALID", True),
    ("dw3x3_rows_stride1_odd_w", (6, 13, 5), 1, 3, 1, 1, "SAME", True),
    ("dw3x3_rows_stride2_same", (7, 34, 3), 1, 3, 2, 1, "SAME", True),
    ("dw3x3_rows_stride2_valid", (8, 37, 2), 1, 3, 2, 1, "VALID", True),
    ("dw5x5", (8, 8, 8), 1, 5, 1, 1, "SAME", True),
    ("dw_dilated", (9, 9, 4), 1, 3, 1, 2, "SAME", True),
    ("dw_mult2", (6, 6, 3), 2, 3, 1, 1, "SAME", True),
    ("dw_mult3", (5, 6, 2), 3, 3, 2, 1, "SAME", True),
]

# requantization forms: scale factor of the output relative to s_in * s_w (M = 1 / factor)
REQUANT = {"fused": None, "general": 0.4}   # None: the usual M << 0.25; 0.4: M = 2.5 (left shift)


def _out(n: int, k: int, s: int, d: int, padding: str) -> int:
    eff = (k - 1) * d + 1
    return (n + s - 1) // s if padding == "SAME" else (n + s - eff) // s


def conv_layer(case: tuple, requant: str, seed: int, per_channel: bool = True, act: str | None = None,
               zo: int | None = None, m_factor: float | None = None) -> bytes:
    """One CONV_2D or DEPTHWISE_CONV_2D layer with random weights and quantization; act and zo
    fix the activation and output zero point (else drawn), m_factor sets s_out = s_in * s_w * m_factor.
    The kernel size k is square, or (k_h, k_w)."""
    _, (h, w, c), oc_or_mult, k, s, d, padding, depthwise = case
    kh, kw = (k, k) if isinstance(k, int) else k
    rng = np.random.default_rng(seed)
    oc = c * oc_or_mult if depthwise else oc_or_mult
    k_len = kh * kw * (1 if depthwise else c)
    s_in, zp_in = 0.04, int(rng.integers(-100, 100))
    n_scales = oc if per_channel else 1
    ws = rng.uniform(0.002, 0.02, n_scales)
    if m_factor is not None:
        s_out = s_in * float(ws.mean()) * m_factor
    elif REQUANT[requant] is None:
        s_out = s_in * float(ws.mean()) * np.sqrt(k_len) * 30
    else:  # some channels with a multiplier >= 0.25 (general form); a mix when per channel
        s_out = s_in * float(ws.min()) * REQUANT[requant]
    b = ModelBuilder()
    x = b.tensor((1, h, w, c), scale=s_in, zero_point=zp_in)
    shape = (1, kh, kw, oc) if depthwise else (oc, kh, kw, c)
    wv = rng.integers(-127, 128, shape).astype(np.int8)
    wt = b.tensor(shape, scale=list(ws), zero_point=[0] * n_scales, axis=3 if depthwise else 0, data=wv)
    bt = b.tensor((oc,), "int32", scale=[s_in * v for v in ws], zero_point=[0] * n_scales,
                  data=rng.integers(-3000, 3000, oc).astype(np.int32))
    oh, ow = _out(h, kh, s, d, padding), _out(w, kw, s, d, padding)
    zo_drawn, act_drawn = int(rng.integers(-20, 20)), str(rng.choice(["NONE", "RELU", "RELU6"]))
    y = b.tensor((1, oh, ow, oc), scale=float(s_out), zero_point=zo_drawn if zo is None else zo)
    opts = dict(padding=padding, stride_w=s, stride_h=s, dilation_w=d, dilation_h=d,
                activation=act_drawn if act is None else act)
    if depthwise:
        b.op("DEPTHWISE_CONV_2D", [x, wt, bt], [y], "DepthwiseConv2DOptions", depth_multiplier=oc_or_mult, **opts)
    else:
        b.op("CONV_2D", [x, wt, bt], [y], "Conv2DOptions", **opts)
    return b.build([x], [y])


def fc_layer(n_in: int, n_out: int, requant: str, seed: int, batches: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    s_in = 0.05
    ws = rng.uniform(0.002, 0.02, n_out)
    s_out = (s_in * float(ws.mean()) * np.sqrt(n_in) * 30 if REQUANT[requant] is None
             else s_in * float(ws.min()) * REQUANT[requant])
    b = ModelBuilder()
    x = b.tensor((batches, n_in), scale=s_in, zero_point=int(rng.integers(-50, 50)))
    wv = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    wt = b.tensor(wv.shape, scale=list(ws), zero_point=[0] * n_out, data=wv)
    bt = b.tensor((n_out,), "int32", scale=[s_in * v for v in ws], zero_point=[0] * n_out,
                  data=rng.integers(-3000, 3000, n_out).astype(np.int32))
    y = b.tensor((batches, n_out), scale=float(s_out), zero_point=int(rng.integers(-20, 20)))
    b.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions", activation="NONE")
    return b.build([x], [y])


@pytest.mark.parametrize("requant", sorted(REQUANT))
@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_path_is_bit_exact(case: tuple, requant: str, bit_exact) -> None:
    report = bit_exact(conv_layer(case, requant, seed=len(case[0])), count=3, seed=1)
    assert report["ref"] == 0 and report["opt"] == 0


# Layers that take the fused paths (fast requantization, no clamp narrower than int8): the
# 2 channel x 2 pixel block with requantize-and-store in one assembly block (in_c 8 and 12,
# out_c 12, 10 and odd, stride 1 and 2, borders, odd widths and pixel counts) and the
# grayscale 3x3 column built inside the register path's loop; an output zero point above
# -128 with no activation needs the sign correction, ReLU at -128 does not.
# (case as CONV_CASES, activation, output zero point)
FUSED_CASES = [
    (("f_c8_to12_odd_w", (7, 9, 8), 12, 3, 1, 1, "SAME", False), "NONE", 5),
    (("f_c12_to12", (6, 5, 12), 12, 3, 1, 1, "SAME", False), "NONE", -3),
    (("f_c12_to10_valid", (8, 7, 12), 10, 3, 1, 1, "VALID", False), "RELU", -128),
    (("f_c8_to7_stride2", (9, 7, 8), 7, 3, 2, 1, "SAME", False), "NONE", 20),
    (("f_c4_to3_odd_tail", (5, 5, 4), 3, 3, 1, 1, "SAME", False), "RELU", -128),
    (("g_c1_to8_stride2", (13, 11, 1), 8, 3, 2, 1, "SAME", False), "NONE", 7),
    (("g_c1_to5_relu", (9, 10, 1), 5, 3, 1, 1, "SAME", False), "RELU", -128),
    (("g_c1_to3_valid_odd", (11, 8, 1), 3, 3, 2, 1, "VALID", False), "NONE", -60),
    (("s_c2_k2_linear_column", (7, 7, 2), 5, 2, 1, 1, "SAME", False), "NONE", 3),
    (("s_c3_k1x3_linear_column", (6, 5, 3), 4, 1, 1, 1, "SAME", False), "NONE", -9),
]


@pytest.mark.parametrize("case,act,zo", FUSED_CASES, ids=[c[0][0] for c in FUSED_CASES])
def test_fused_paths_are_bit_exact(case: tuple, act: str, zo: int, bit_exact) -> None:
    report = bit_exact(conv_layer(case, "fused", seed=len(case[0]), act=act, zo=zo), count=3, seed=8)
    assert report["ref"] == 0 and report["opt"] == 0


# Layers compiled with every convolution widening its weights (wide_weights="all"): the wide
# records' loop over channel pairs (odd and even group counts, an odd last channel, odd widths and
# pixel counts, stride 2, borders, 1x1), with and without the sign correction; and layers that ask
# for wide weights but cannot take them (a ReLU clamp above -128, an exponent outside -23..-2).
WIDE_CASES = [
    (("w_c8_to12_odd_w", (7, 9, 8), 12, 3, 1, 1, "SAME", False), "NONE", 5),
    (("w_c12_to10_valid", (8, 7, 12), 10, 3, 1, 1, "VALID", False), "RELU", -128),
    (("w_c8_to7_stride2", (9, 7, 8), 7, 3, 2, 1, "SAME", False), "NONE", 20),
    (("w_c4_to3_odd_groups", (5, 5, 4), 3, 3, 1, 1, "SAME", False), "RELU", -128),
    (("w_c16_to10_pointwise", (5, 3, 16), 10, 1, 1, 1, "VALID", False), "NONE", -3),
    (("w_c4_to2_one_pixel", (1, 1, 4), 2, 3, 1, 1, "SAME", False), "NONE", 0),
    (("w_relu_clamped", (6, 5, 8), 6, 3, 1, 1, "SAME", False), "RELU", -20),
    # 1x1 without padding (pointwise_few with 8 inputs, pointwise_body with 12 and 4): odd pixel count and odd
    # channel tail, stride 2 over odd rows
    (("w_pw_c8_to7_odd_pixels", (5, 3, 8), 7, 1, 1, 1, "SAME", False), "NONE", 9),
    (("w_pw_c12_to6_stride2", (5, 9, 12), 6, 1, 2, 1, "SAME", False), "RELU", -128),
    (("w_pw_c4_to3_one_pair", (3, 5, 4), 3, 1, 1, 1, "VALID", False), "NONE", -2),
    # 8 or 16 input channels (pointwise_few): a run per output row at stride 2 with 10 or 6 channels (the first
    # pass entered at channel 2 of 4); one pair of channels over 3 pixels
    (("w_pw_c8_to10_stride2", (7, 9, 8), 10, 1, 2, 1, "SAME", False), "NONE", -5),
    (("w_pw_c16_to6_stride2", (7, 9, 16), 6, 1, 2, 1, "SAME", False), "NONE", 12),
    (("w_pw_c8_to2_three_pixels", (1, 3, 8), 2, 1, 1, 1, "VALID", False), "RELU", -128),
]


@pytest.mark.parametrize("case,act,zo", WIDE_CASES, ids=[c[0][0] for c in WIDE_CASES])
def test_wide_weight_paths_are_bit_exact(case: tuple, act: str, zo: int, bit_exact) -> None:
    report = bit_exact(conv_layer(case, "fused", seed=len(case[0]), act=act, zo=zo), count=3, seed=9,
                       wide_weights="all")
    assert report["ref"] == 0 and report["opt"] == 0
    widened = report["result"].graph.steps[0].params["wide_weights"]
    assert widened == (act != "RELU" or zo == -128)


@pytest.mark.parametrize("blocks", [2, 3])
@pytest.mark.parametrize("case,act,zo", [WIDE_CASES[i] for i in (0, 2, 4, 7)],
                         ids=[WIDE_CASES[i][0][0] for i in (0, 2, 4, 7)])
def test_wide_weights_in_blocks_are_bit_exact(case: tuple, act: str, zo: int, blocks: int, bit_exact) -> None:
    """The wide records built and run a block of channel pairs at a time (wide_weights = blocks): even and
    uneven blocks (6 pairs in 2 or 3, 3 pairs plus an odd channel, 5 pairs in 3 blocks of 2, 2, 1; a 1x1
    layer of 3 pairs plus an odd channel)."""
    report = bit_exact(conv_layer(case, "fused", seed=len(case[0]), act=act, zo=zo), count=3, seed=9,
                       wide_weights="all", wide_blocks=blocks)
    assert report["ref"] == 0 and report["opt"] == 0


# First layers beyond the small-K path whose kernel rows are whole groups of 4 taps though in_c is not a
# multiple of 4 (DS-CNN's 10x4 stem on one channel; 9x2 on 2, 3x4 on 3): an interior pixel pair's column is
# one run of bytes per kernel row, and a row partly in the padding is assembled byte by byte. Both
# requantization forms, on the wide records and on the 2x2 blocks; borders on every side, stride 2.
STEM_ROW_CASES = [
    ("r_c1_k10x4_stride2", (15, 10, 1), 6, (10, 4), 2, 1, "SAME", False),
    ("r_c1_k8x8_valid", (10, 11, 1), 5, (8, 8), 1, 1, "VALID", False),
    ("r_c2_k9x2", (11, 7, 2), 4, (9, 2), 1, 1, "SAME", False),
    ("r_c3_k3x4_stride2", (9, 10, 3), 7, (3, 4), 2, 1, "SAME", False),
]


@pytest.mark.parametrize("requant,wide", [("fused", "none"), ("fused", "all"), ("general", "none")])
@pytest.mark.parametrize("case", STEM_ROW_CASES, ids=[c[0] for c in STEM_ROW_CASES])
def test_stems_with_rows_of_whole_groups_are_bit_exact(case: tuple, requant: str, wide: str, bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(conv_layer(case, requant, seed=len(case[0]), act="NONE", zo=9), count=3, seed=4,
                       wide_weights=wide)
    assert report["ref"] == 0 and report["opt"] == 0
    step = report["result"].graph.steps[0]
    path = conv_facts(step.params, step.consts["shift"].tolist(), bias=step.consts["bias"])[0]
    assert path == ("im2col" if requant == "general" else "wide" if wide == "all" else "fused")


def wide_bias_layer(bias: list[int], in_c: int = 8, k: int = 1, seed: int = 31) -> bytes:
    """A SAME convolution on a 5x7 map whose biases are given (the wide paths' limit is |bias| < 2^28) and whose
    output scale is 2^21 times the accumulator's (exponent -20), so that accumulators near +-2^28 land around
    the int8 range: the doubled accumulator and its requantization at their largest."""
    rng = np.random.default_rng(seed)
    oc = len(bias)
    b = ModelBuilder()
    s_in, ws = 0.04, rng.uniform(0.002, 0.02, oc)
    x = b.tensor((1, 5, 7, in_c), scale=s_in, zero_point=-100)
    wt = b.tensor((oc, k, k, in_c), scale=list(ws), zero_point=[0] * oc, axis=0,
                  data=rng.integers(-128, 128, (oc, k, k, in_c)).astype(np.int8))
    bt = b.tensor((oc,), "int32", scale=[s_in * v for v in ws], zero_point=[0] * oc, data=np.array(bias, np.int32))
    y = b.tensor((1, 5, 7, oc), scale=[s_in * float(ws.mean()) * 2**21], zero_point=-3)
    b.op("CONV_2D", [x, wt, bt], [y], "Conv2DOptions", padding="SAME", stride_w=1, stride_h=1, dilation_w=1,
         dilation_h=1, activation="NONE")
    return b.build([x], [y])


NEAR = 2**28 - 1
WIDE_BIAS_CASES = [   # (name, biases, in_c, k, the path they take with wide weights)
    ("bias_limits_pointwise", [NEAR, -(2**28), NEAR - 2**22, -NEAR + 2**22, 7, -7], 8, 1, "wide"),
    ("bias_limits_3x3", [NEAR, -NEAR, NEAR - 3 * 2**21, -(2**28) + 3 * 2**21], 12, 3, "wide"),
    ("bias_over_the_limit", [2**28, -5, NEAR, 0], 8, 1, "fused"),
]


@pytest.mark.parametrize("name,bias,in_c,k,path", WIDE_BIAS_CASES, ids=[c[0] for c in WIDE_BIAS_CASES])
def test_wide_paths_at_the_bias_limit_are_bit_exact(name: str, bias: list[int], in_c: int, k: int, path: str,
                                                    bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(wide_bias_layer(bias, in_c, k), count=3, seed=12, wide_weights="all")
    assert report["ref"] == 0 and report["opt"] == 0
    step = report["result"].graph.steps[0]
    assert conv_facts(step.params, step.consts["shift"].tolist(), bias=step.consts["bias"])[0] == path
    assert (step.params["wide_weights"] > 0) == (path == "wide")


def pointwise8_bias_limit_model() -> bytes:
    """bias_limits_pointwise (a 1x1 layer of 8 inputs, biases at +-2^28) for the Cortex-M7 run (pw8_run_asm)."""
    return wide_bias_layer(WIDE_BIAS_CASES[0][1], 8, 1)


def pointwise16_bias_limit_model() -> bytes:
    """The same biases on a 1x1 layer of 16 inputs (pw16_run_asm)."""
    return wide_bias_layer(WIDE_BIAS_CASES[0][1], 16, 1)


@pytest.mark.parametrize("in_c", [8, 16])
def test_pointwise_few_per_tensor_is_bit_exact(in_c: int, bit_exact) -> None:
    """pointwise_few with one requantization for every channel (per-tensor: every record repeats it)."""
    case = (f"w_pw_c{in_c}_to6_per_tensor", (5, 7, in_c), 6, 1, 1, 1, "SAME", False)
    report = bit_exact(conv_layer(case, "fused", seed=in_c, per_channel=False, act="NONE", zo=3), count=3, seed=5,
                       wide_weights="all")
    assert report["ref"] == 0 and report["opt"] == 0
    assert report["result"].graph.steps[0].params["wide_weights"] > 0


def test_pointwise_few_of_16_inputs_at_the_bias_limit_is_bit_exact(bit_exact) -> None:
    """pw16's doubled accumulators near +-2^29 (bias_limits_pointwise's biases on 16 inputs)."""
    report = bit_exact(pointwise16_bias_limit_model(), count=3, seed=12, wide_weights="all")
    assert report["ref"] == 0 and report["opt"] == 0
    assert report["result"].graph.steps[0].params["wide_weights"] > 0


# First layers of 11..32 taps in the fused form with an even channel count (3x3 RGB stems): their taps padded
# to a multiple of 4 through the wide records (path SMALL_K_WIDE): odd pixel counts, stride 2, VALID, dilation,
# 18 and 20 taps, borders, with and without the sign correction; and the same layers where the path must not
# be taken (an odd channel count, a ReLU clamp above -128).
SMALL_K_WIDE_CASES = [
    (("k_rgb_same_odd_pixels", (7, 9, 3), 8, 3, 1, 1, "SAME", False), "RELU", -128, "small_k_wide"),
    (("k_rgb_stride2", (10, 11, 3), 6, 3, 2, 1, "SAME", False), "NONE", 7, "small_k_wide"),
    (("k_rgb_valid", (6, 7, 3), 4, 3, 1, 1, "VALID", False), "NONE", -5, "small_k_wide"),
    (("k_rgb_dilated", (9, 9, 3), 4, 3, 1, 2, "SAME", False), "NONE", 0, "small_k_wide"),
    (("k_c2_18_taps", (6, 6, 2), 10, 3, 1, 1, "SAME", False), "RELU", -128, "small_k_wide"),
    (("k_c5_2x2_20_taps", (5, 6, 5), 2, 2, 1, 1, "SAME", False), "NONE", 3, "small_k_wide"),
    (("k_c6_2x2_rows_of_12", (5, 7, 6), 4, 2, 1, 1, "VALID", False), "NONE", -9, "small_k_wide"),
    (("k_rgb_odd_out_c", (6, 7, 3), 5, 3, 1, 1, "SAME", False), "NONE", 2, "small_k"),
    (("k_rgb_relu_clamped", (6, 7, 3), 4, 3, 1, 1, "SAME", False), "RELU", -20, "small_k"),
]


@pytest.mark.parametrize("case,act,zo,path", SMALL_K_WIDE_CASES, ids=[c[0][0] for c in SMALL_K_WIDE_CASES])
def test_small_k_wide_path_is_bit_exact(case: tuple, act: str, zo: int, path: str, bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(conv_layer(case, "fused", seed=len(case[0]), act=act, zo=zo), count=3, seed=12)
    assert report["ref"] == 0 and report["opt"] == 0
    step = report["result"].graph.steps[0]
    assert conv_facts(step.params, step.consts["shift"].tolist())[0] == path


def rgb_stem_model(seed: int = 15) -> bytes:
    """An RGB 3x3 stride-2 stem on the SMALL_K_WIDE path (odd input sizes, borders), then a 6 -> 8
    convolution of 54 taps (im2col): test_qemu runs it on the Cortex-M7 instructions."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, s_in, zp = 13, 11, 0.04, 9
    x0 = x = b.tensor((1, h, w, 3), scale=s_in, zero_point=zp)
    c = 3
    for n, s, act, zo in ((6, 2, "RELU", -128), (8, 1, "NONE", 3)):
        h, w = _out(h, 3, s, 1, "SAME"), _out(w, 3, s, 1, "SAME")
        x, s_in, zp = _chain_conv(b, rng, x, c, s_in, (h, w), n, 3, s, "SAME", act, zo)
        c = n
    return b.build([x0], [x])


def stem_rows_model(seed: int = 16) -> bytes:
    """DS-CNN's stem shape, 10x4 stride 2 on one channel, then a 3x2 convolution on 6 channels (36
    taps in rows of 12): kernel rows of whole groups of 4 taps with in_c not a multiple of 4, borders
    on every side. test_qemu runs it on the Cortex-M7 instructions (with wide weights)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, s_in, zp = 15, 10, 0.04, -7
    x0 = x = b.tensor((1, h, w, 1), scale=s_in, zero_point=zp)
    c = 1
    for n, k, s, zo in ((6, (10, 4), 2, 5), (8, (3, 2), 1, None)):
        h, w = _out(h, k[0], s, 1, "SAME"), _out(w, k[1], s, 1, "SAME")
        x, s_in, zp = _chain_conv(b, rng, x, c, s_in, (h, w), n, k, s, "SAME", "NONE", zo)
        c = n
    return b.build([x0], [x])


def test_stem_rows_model_takes_the_wide_path_bit_exact_on_the_host(bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(stem_rows_model(), count=3, seed=5, wide_weights="all")
    steps = report["result"].graph.steps
    assert [conv_facts(st.params, st.consts["shift"].tolist())[0] for st in steps] == ["wide", "wide"]


def test_wide_weights_outside_the_fast_exponents_are_not_taken(bit_exact) -> None:
    tflite = conv_layer(FUSED_CASES[0][0], "fused", seed=2, act="NONE", zo=11, m_factor=2.0 ** 25)
    report = bit_exact(tflite, count=2, seed=3, wide_weights="all")
    assert report["result"].graph.steps[0].params["wide_weights"] == 0


def large_shift_layer() -> bytes:
    """A layer whose multipliers are below 2^-23 (right shift > 22): the zero point cannot ride in
    the rounding addend, so the fused block is left for the C requantization after the MAC loop."""
    return conv_layer(FUSED_CASES[0][0], "fused", seed=2, act="NONE", zo=11, m_factor=2.0 ** 25)


def test_large_shift_layer_is_bit_exact(bit_exact) -> None:
    from edgeloop.models.compiler import compile_bytes

    tflite = large_shift_layer()
    shifts = compile_bytes(tflite, name="s").graph.steps[0].consts["shift"]
    assert int(shifts.max()) < -23   # every right shift rr = -shift - 1 > 22
    report = bit_exact(tflite, count=3, seed=9)
    assert report["ref"] == 0 and report["opt"] == 0


# (name, in (h, w, c), k, stride, padding, activation, output zero point)
POOL_CASES = [
    ("p2x2_c8", (8, 10, 8), 2, 2, "VALID", "NONE", -3),
    ("p2x2_c6_odd_size", (7, 9, 6), 2, 2, "VALID", "NONE", 5),
    ("p2x2_same_edges", (7, 7, 5), 2, 2, "SAME", "RELU", 10),
    ("p3x3_s2_same", (9, 8, 12), 3, 2, "SAME", "RELU6", -100),
    ("p3x3_s1_relu_c3", (5, 6, 3), 3, 1, "SAME", "RELU", -128),
    ("p2x2_c12_relu_odd_size", (9, 7, 12), 2, 2, "VALID", "RELU", 10),
    ("p2x2_c4_clamp_relu6", (6, 8, 4), 2, 2, "VALID", "RELU6", -20),
]


def max_pool_layer(case: tuple, seed: int, op: str = "MAX_POOL_2D") -> bytes:
    """One MAX_POOL_2D (or AVERAGE_POOL_2D) layer; a zero point above -128 makes a fused ReLU clamp.
    k may be (k_h, k_w)."""
    _, (h, w, c), k, s, padding, act, zp = case
    kh, kw = k if isinstance(k, tuple) else (k, k)
    b = ModelBuilder()
    scale = 0.02 + 0.01 * (seed % 3)
    x = b.tensor((1, h, w, c), scale=scale, zero_point=zp)
    y = b.tensor((1, _out(h, kh, s, 1, padding), _out(w, kw, s, 1, padding), c), scale=scale, zero_point=zp)
    b.op(op, [x], [y], "Pool2DOptions", padding=padding, stride_w=s, stride_h=s, filter_w=kw,
         filter_h=kh, activation=act)
    return b.build([x], [y])


@pytest.mark.parametrize("case", POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_max_pool_path_is_bit_exact(case: tuple, bit_exact) -> None:
    bit_exact(max_pool_layer(case, seed=len(case[0])), count=3, seed=5)


# AVERAGE_POOL_2D (nn_opt_pool.c): global pools as the reference networks end (64, 125 and 9 taps),
# a window of more than 256 taps (the 16-bit lanes are flushed) and one of exactly 256, padded windows
# with fewer taps at the borders, channel tails and clamps.
AVG_POOL_CASES = [
    ("avg_global_8x8x64", (8, 8, 64), 8, 8, "VALID", "NONE", -5),
    ("avg_global_25x5x12", (25, 5, 12), (25, 5), 1, "VALID", "NONE", 17),
    ("avg_global_17x17x6_flush", (17, 17, 6), 17, 1, "VALID", "RELU", -128),
    ("avg_3x3_same_tail_relu", (7, 6, 7), 3, 2, "SAME", "RELU", 12),
    ("avg_2x2_relu6_c5", (6, 9, 5), 2, 2, "VALID", "RELU6", -40),
    # 8 channels a pass (two words per pixel, two pixels per step after an odd one), then 4, then 1
    ("avg_global_3x3x21_odd_run", (3, 3, 21), 3, 1, "VALID", "NONE", -7),
    ("avg_3x3_s1_same_c16_relu6", (6, 5, 16), 3, 1, "SAME", "RELU6", 3),
    ("avg_global_16x16x8_256_taps", (16, 16, 8), 16, 1, "VALID", "RELU", -128),
    # one run of whole rows per window, no clamp: the assembly pass (MobileNet's 3x3x256 global pool)
    ("avg_global_3x3x24_one_run", (3, 3, 24), 3, 1, "VALID", "NONE", 9),
    ("avg_global_15x17x16_255_taps", (15, 17, 16), (15, 17), 1, "VALID", "NONE", -100),
]


@pytest.mark.parametrize("case", AVG_POOL_CASES, ids=[c[0] for c in AVG_POOL_CASES])
def test_avg_pool_path_is_bit_exact(case: tuple, bit_exact) -> None:
    report = bit_exact(max_pool_layer(case, seed=len(case[0]), op="AVERAGE_POOL_2D"), count=4, seed=5)
    assert report["ref"] == 0 and report["opt"] == 0


def avg_pool_model() -> bytes:
    """For the Cortex-M7 run: a 3x3 stride-1 SAME average pool with a RELU6 clamp over 21 channels (border
    windows of 4 and 6 taps, 8 + 8 + 4 + 1 channels), then a global one of 30 taps (an even run)."""
    b = ModelBuilder()
    x = b.tensor((1, 6, 5, 21), scale=0.03, zero_point=4)
    y = b.tensor((1, 6, 5, 21), scale=0.03, zero_point=4)
    b.op("AVERAGE_POOL_2D", [x], [y], "Pool2DOptions", padding="SAME", stride_w=1, stride_h=1, filter_w=3,
         filter_h=3, activation="RELU6")
    z = b.tensor((1, 1, 1, 21), scale=0.03, zero_point=4)
    b.op("AVERAGE_POOL_2D", [y], [z], "Pool2DOptions", padding="VALID", stride_w=1, stride_h=1, filter_w=5,
         filter_h=6, activation="NONE")
    return b.build([x], [z])


def test_avg_pool_model_is_bit_exact_on_the_host(bit_exact) -> None:
    bit_exact(avg_pool_model(), count=3, seed=16)


def avg_run_model() -> bytes:
    """For the Cortex-M7 run: average pools whose windows are one run of pixels (whole rows) with no clamp,
    the single assembly pass per 8 channels: 15 taps (an odd run, 3x5 windows of a 6x5 map, stride 3), then
    a global one of 2 taps; 21 channels (8 + 8 + 4 + 1), output zero points that round ties both ways."""
    b = ModelBuilder()
    x = b.tensor((1, 6, 5, 21), scale=0.03, zero_point=-3)
    y = b.tensor((1, 2, 1, 21), scale=0.03, zero_point=-3)
    b.op("AVERAGE_POOL_2D", [x], [y], "Pool2DOptions", padding="VALID", stride_w=1, stride_h=3, filter_w=5,
         filter_h=3, activation="NONE")
    z = b.tensor((1, 1, 1, 21), scale=0.03, zero_point=-3)
    b.op("AVERAGE_POOL_2D", [y], [z], "Pool2DOptions", padding="VALID", stride_w=1, stride_h=1, filter_w=1,
         filter_h=2, activation="NONE")
    return b.build([x], [z])


def test_avg_run_model_is_bit_exact_on_the_host(bit_exact) -> None:
    bit_exact(avg_run_model(), count=6, seed=17)


@pytest.mark.parametrize("requant", sorted(REQUANT))
def test_per_tensor_quantization_paths_are_bit_exact(requant: str, bit_exact) -> None:
    for case in (CONV_CASES[0], CONV_CASES[6], CONV_CASES[10], CONV_CASES[15]):
        bit_exact(conv_layer(case, requant, seed=3, per_channel=False), count=2, seed=2, name=f"pt_{case[0]}")


@pytest.mark.parametrize("requant", sorted(REQUANT))
@pytest.mark.parametrize("n_in,n_out,batches", [(64, 16, 1), (45, 9, 2), (37, 5, 2), (3, 1, 1), (256, 7, 1), (1728, 5, 1),
                                               (130, 14, 2), (8, 12, 1)])
def test_fc_path_is_bit_exact(n_in: int, n_out: int, batches: int, requant: str, bit_exact) -> None:
    bit_exact(fc_layer(n_in, n_out, requant, seed=n_in, batches=batches), count=3, seed=3)


def test_general_requant_cases_really_use_the_general_form() -> None:
    """The 'general' layers must have an exponent > -2 (else both cases test the fused form)."""
    from edgeloop.models.compiler import compile_bytes

    for case in CONV_CASES[:3]:
        shifts = compile_bytes(conv_layer(case, "general", seed=1), name="g").graph.steps[0].consts["shift"]
        assert int(shifts.max()) > -2
        shifts = compile_bytes(conv_layer(case, "fused", seed=1), name="f").graph.steps[0].consts["shift"]
        assert int(shifts.max()) <= -2


# The fast requantization forms (nn_opt_internal.h) against the reference double rounding on edge and
# random accumulators, ITERS per (right shift, multiplier, zero point): with -DZP=1 rq_fast_zp
# (plus the zero point, saturated to int8), else rq_fast and rq_dbl. The host runs the C twins,
# test_qemu.py rq_fast_zp's assembly.
REQUANT_CHECK = r"""
#include <stdio.h>
#include "nn_opt_internal.h"
#ifndef ITERS
#define ITERS 20000
#endif
int main(void) {
    static const int32_t accs[] = {0, 1, -1, 2, -2, 3, -3, 127, -128, 1 << 20, -(1 << 20), INT32_MAX, INT32_MIN,
                                   INT32_MAX - 1, INT32_MIN + 1, 1 << 30, -(1 << 30), 12345678, -12345678};
    static const int32_t mults[] = {0, 1 << 30, (1 << 30) + 1, INT32_MAX, 1518500250, 1717986918};
#if ZP
    static const int32_t zos[] = {-128, -1, 0, 5, 127};
#else
    static const int32_t zos[] = {0};
#endif
    uint32_t s = 2463534242u;
    long bad = 0, n = 0, n_dbl = 0;
    for (int r = 2; r <= 31; ++r) {
        for (unsigned m = 0; m < sizeof mults / sizeof mults[0]; ++m) {
            for (unsigned z = 0; z < sizeof zos / sizeof zos[0]; ++z) {
                for (int i = 0; i < ITERS; ++i) {
                    int32_t acc;
                    if (i < (int)(sizeof accs / sizeof accs[0])) {
                        acc = accs[i];
                    } else {
                        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
                        /* multiples of powers of two land on exact halves of both roundings */
                        acc = (i & 1) ? (int32_t)s : (int32_t)((int32_t)(s & 0xFFFF) - 0x8000) * (1 << (s >> 28));
                    }
#if ZP
                    const int32_t want = nn_ssat8(nn_fx_requantize(acc, mults[m], -r) + zos[z]);
                    const int32_t got = rq_fast_zp(acc, mults[m], -r, 2 * zos[z] + 1);
#else
                    const int32_t want = nn_fx_requantize(acc, mults[m], -r);
                    const int32_t got = rq_fast(acc, mults[m], (int32_t)1 << (r - 2), r - 1);
                    /* the depthwise ROWS3 form on the doubled accumulator, for |acc| < 2^30 */
                    if (acc > -(1 << 30) && acc < (1 << 30) && r <= 30) {
                        const int32_t dbl = rq_dbl(2 * acc, mults[m], (int32_t)1 << (r - 1), r);
                        if (want != dbl && bad++ < 5)
                            printf("doubled acc=%ld mult=%ld shift=%d: %ld != %ld\n", (long)acc, (long)mults[m], -r,
                                   (long)dbl, (long)want);
                        ++n_dbl;
                    }
#endif
                    if (want != got && bad++ < 5) {
                        printf("acc=%ld mult=%ld shift=%d zo=%ld: %ld != %ld\n", (long)acc, (long)mults[m], -r,
                               (long)zos[z], (long)got, (long)want);
                    }
                    ++n;
                }
            }
        }
    }
    printf("checked %ld, doubled %ld, %ld differ\n", n, n_dbl, bad);
    return bad != 0;
}
"""


@pytest.mark.parametrize("flags,checked", [([], 3600000), (["-DZP=1", "-DITERS=2000"], 1800000)],
                         ids=["rq_fast", "rq_fast_zp"])
def test_fused_requantization_equals_the_double_rounding(flags: list, checked: int, tmp_path) -> None:
    from edgeloop.models.compiler.host import CFLAGS, NN_DIR

    src = tmp_path / "rq_check.c"
    src.write_text(REQUANT_CHECK)
    exe = tmp_path / "rq_check"
    cflags = [f for f in CFLAGS if f != "-fPIC"]
    subprocess.run(["cc", *cflags, *flags, "-Wno-unused-function", "-DNN_OPTIMIZED=1", "-I", str(NN_DIR), str(src),
                    "-o", str(exe)], check=True, timeout=120)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout
    assert f"checked {checked}, doubled " in run.stdout and ", 0 differ" in run.stdout, run.stdout
    if not flags:   # rq_dbl (depthwise ROWS3) on the accumulators below 2^30
        assert int(run.stdout.split("doubled ")[1].split(",")[0]) > 2_000_000


# A chain over the same paths, for the Cortex-M7 run under QEMU (test_qemu.py):
# (kind, out_c or depth multiplier, k, stride, dilation, padding, requant form)
QEMU_CHAIN = [
    ("conv", 8, 3, 1, 1, "SAME", "fused"),        # in_c 1: first-layer im2col, K tail
    ("dw", 1, 3, 1, 1, "SAME", "general"),        # 3x3 interior + borders, general requant
    ("conv", 7, 3, 2, 1, "SAME", "fused"),        # in_c 8: run im2col, odd out_c, stride 2
    ("dw", 2, 3, 1, 1, "SAME", "fused"),          # depth multiplier 2, 7 channels (tail)
    ("conv", 12, 1, 1, 1, "VALID", "general"),    # pointwise, in_c 14 (slot im2col)
    ("dw", 1, 3, 1, 2, "SAME", "fused"),          # dilated, 12 channels
    ("conv", 5, 3, 1, 2, "SAME", "general"),      # dilated columns
]


def qemu_chain_model(seed: int = 11, hw: tuple[int, int] = (11, 9)) -> bytes:
    """QEMU_CHAIN on a 1-channel hw image, then a fully connected layer."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, c = hw[0], hw[1], 1
    s_in, zp = 0.04, -7
    x0 = x = b.tensor((1, h, w, c), scale=s_in, zero_point=zp)
    for kind, n, k, s, d, padding, requant in QEMU_CHAIN:
        dw = kind == "dw"
        oc = c * n if dw else n
        k_len = k * k * (1 if dw else c)
        ws = rng.uniform(0.002, 0.02, oc)
        s_out = (s_in * float(ws.mean()) * np.sqrt(k_len) * 30 if REQUANT[requant] is None
                 else s_in * float(ws.min()) * REQUANT[requant])
        shape = (1, k, k, oc) if dw else (oc, k, k, c)
        wt = b.tensor(shape, scale=list(ws), zero_point=[0] * oc, axis=3 if dw else 0,
                      data=rng.integers(-127, 128, shape).astype(np.int8))
        bt = b.tensor((oc,), "int32", scale=[s_in * v for v in ws], zero_point=[0] * oc,
                      data=rng.integers(-3000, 3000, oc).astype(np.int32))
        h, w, c = _out(h, k, s, d, padding), _out(w, k, s, d, padding), oc
        zp = int(rng.integers(-20, 20))
        y = b.tensor((1, h, w, c), scale=float(s_out), zero_point=zp)
        opts = dict(padding=padding, stride_w=s, stride_h=s, dilation_w=d, dilation_h=d, activation="NONE")
        if dw:
            b.op("DEPTHWISE_CONV_2D", [x, wt, bt], [y], "DepthwiseConv2DOptions", depth_multiplier=n, **opts)
        else:
            b.op("CONV_2D", [x, wt, bt], [y], "Conv2DOptions", **opts)
        x, s_in = y, float(s_out)
    flat = b.tensor((1, h * w * c), scale=s_in, zero_point=zp)
    b.op("RESHAPE", [x, b.tensor((2,), "int32", data=np.array([1, h * w * c], np.int32))], [flat])
    ws = rng.uniform(0.002, 0.02, 5)
    wt = b.tensor((5, h * w * c), scale=list(ws), zero_point=[0] * 5,
                  data=rng.integers(-127, 128, (5, h * w * c)).astype(np.int8))
    y = b.tensor((1, 5), scale=float(s_in * ws.mean() * np.sqrt(h * w * c) * 30), zero_point=3)
    b.op("FULLY_CONNECTED", [flat, wt, -1], [y], "FullyConnectedOptions", activation="NONE")
    return b.build([x0], [y])


def test_qemu_chain_is_bit_exact_on_the_host(bit_exact) -> None:
    bit_exact(qemu_chain_model(), count=3, seed=4)


def _chain_conv(b: ModelBuilder, rng: np.random.Generator, x: int, c: int, s_in: float, hw: tuple[int, int],
                n: int, k: int | tuple[int, int], s: int, padding: str, act: str,
                zo: int | None) -> tuple[int, float, int]:
    """Append a CONV_2D (random weights, per-channel scales, kernel k x k or k = (k_h, k_w)) to x of c
    channels and output size hw; zo None draws the output zero point. Returns the output tensor, its
    scale and zero point."""
    kh, kw = (k, k) if isinstance(k, int) else k
    ws = rng.uniform(0.002, 0.02, n)
    s_out = s_in * float(ws.mean()) * np.sqrt(kh * kw * c) * 30
    wt = b.tensor((n, kh, kw, c), scale=list(ws), zero_point=[0] * n,
                  data=rng.integers(-127, 128, (n, kh, kw, c)).astype(np.int8))
    bt = b.tensor((n,), "int32", scale=[s_in * v for v in ws], zero_point=[0] * n,
                  data=rng.integers(-3000, 3000, n).astype(np.int32))
    zo = int(rng.integers(-20, 20)) if zo is None else zo
    y = b.tensor((1, *hw, n), scale=float(s_out), zero_point=zo)
    b.op("CONV_2D", [x, wt, bt], [y], "Conv2DOptions", padding=padding, stride_w=s, stride_h=s,
         dilation_w=1, dilation_h=1, activation=act)
    return y, float(s_out), zo


def plain_paths_model(seed: int = 12) -> bytes:
    """An RGB first layer (small-K, two pixels per pass) with fused ReLU, a 2x2 max pool with a
    channel tail, a 3x3 convolution and a padded 3x3 max pool with a ReLU clamp, then FC."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, c, s_in, zp = 13, 11, 3, 0.04, 5
    x0 = x = b.tensor((1, h, w, c), scale=s_in, zero_point=zp)
    for kind, n, k, s, padding in (("conv", 6, 3, 2, "SAME"), ("pool", 0, 2, 2, "VALID"),
                                   ("conv", 8, 3, 1, "SAME"), ("pool", 0, 3, 2, "SAME")):
        h, w = _out(h, k, s, 1, padding), _out(w, k, s, 1, padding)
        if kind == "pool":
            y = b.tensor((1, h, w, c), scale=s_in, zero_point=zp)
            b.op("MAX_POOL_2D", [x], [y], "Pool2DOptions", padding=padding, stride_w=s, stride_h=s,
                 filter_w=k, filter_h=k, activation="RELU" if padding == "SAME" else "NONE")
            x = y
            continue
        x, s_in, zp = _chain_conv(b, rng, x, c, s_in, (h, w), n, k, s, padding, "RELU", None)
        c = n
    flat = b.tensor((1, h * w * c), scale=s_in, zero_point=zp)
    b.op("RESHAPE", [x, b.tensor((2,), "int32", data=np.array([1, h * w * c], np.int32))], [flat])
    ws = rng.uniform(0.002, 0.02, 3)
    wt = b.tensor((3, h * w * c), scale=list(ws), zero_point=[0] * 3,
                  data=rng.integers(-127, 128, (3, h * w * c)).astype(np.int8))
    y = b.tensor((1, 3), scale=float(s_in * ws.mean() * np.sqrt(h * w * c) * 30), zero_point=-2)
    b.op("FULLY_CONNECTED", [flat, wt, -1], [y], "FullyConnectedOptions", activation="NONE")
    return b.build([x0], [y])


def test_plain_paths_model_is_bit_exact_on_the_host(bit_exact) -> None:
    bit_exact(plain_paths_model(), count=3, seed=6)


def gray_stem_model(seed: int = 13, hw: tuple[int, int] = (13, 10)) -> bytes:
    """Grayscale 3x3 first layers on the register path: stride 2 SAME with ReLU and output zero
    point -128 (no sign correction), a 1x1 conv down to one channel, then stride 1 VALID with no
    activation and a zero point above -128 (sign correction); odd sizes put border pixels on
    every side."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w = hw
    c, s_in, zp = 1, 0.04, -7
    x0 = x = b.tensor((1, h, w, c), scale=s_in, zero_point=zp)
    for n, k, s, padding, act, zo in ((6, 3, 2, "SAME", "RELU", -128), (1, 1, 1, "VALID", "NONE", 3),
                                      (5, 3, 1, "VALID", "NONE", 9)):
        h, w = _out(h, k, s, 1, padding), _out(w, k, s, 1, padding)
        x, s_in, _ = _chain_conv(b, rng, x, c, s_in, (h, w), n, k, s, padding, act, zo)
        c = n
    return b.build([x0], [x])


def test_gray_stem_model_is_bit_exact_on_the_host(bit_exact) -> None:
    bit_exact(gray_stem_model(), count=3, seed=7)


def fused_paths_model(seed: int = 14) -> bytes:
    """The fused paths chained as in the bottle CNNs, with their tails: a grayscale stride-2 stem
    (column built in the loop, sign correction), 8 -> 12 and 12 -> 12 3x3 convolutions (fused
    block, with and without the sign correction), 2x2 max pools on the no-bounds path (odd input
    width, with and without a ReLU clamp), then 12 -> 7 stride 2 (odd channel tail, one pixel)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, c, s_in, zp = 19, 17, 1, 0.04, -7
    x0 = x = b.tensor((1, h, w, c), scale=s_in, zero_point=zp)
    for kind, n, s, padding, act, zo in (("conv", 8, 2, "SAME", "NONE", 6), ("conv", 12, 1, "SAME", "NONE", 5),
                                         ("pool", 0, 2, "VALID", "RELU", 0),
                                         ("conv", 12, 1, "SAME", "RELU", -128),
                                         ("pool", 0, 2, "VALID", "NONE", 0), ("conv", 7, 2, "SAME", "NONE", -4)):
        if kind == "pool":
            h, w = _out(h, 2, 2, 1, padding), _out(w, 2, 2, 1, padding)
            y = b.tensor((1, h, w, c), scale=s_in, zero_point=zp)
            b.op("MAX_POOL_2D", [x], [y], "Pool2DOptions", padding=padding, stride_w=2, stride_h=2,
                 filter_w=2, filter_h=2, activation=act)
            x = y
            continue
        h, w = _out(h, 3, s, 1, padding), _out(w, 3, s, 1, padding)
        x, s_in, zp = _chain_conv(b, rng, x, c, s_in, (h, w), n, 3, s, padding, act, zo)
        c = n
    return b.build([x0], [x])


def pointwise_paths_model(seed: int = 24) -> bytes:
    """1x1 convolutions through the wide records' pointwise loops, for the Cortex-M7 run with wide_weights="all":
    8 -> 8 at stride 2 from 9x13 to 5x7 (pointwise_few, 8 inputs: a run per output row; first, so that its
    subsampling hides no other layer's pixels), 8 -> 16 on 5x7 (one run of 35 pixels, whole passes of 4
    channels), a 3x3 16 -> 16 (conv_body), 16 -> 12 (16 inputs, one run), 12 -> 16 at stride 2 (3x4 of 5x7:
    pointwise_body, 3 groups, the generic pass), 16 -> 6 with a ReLU at -128 (16 inputs, the first pass entered
    at channel 2 of 4), 6 -> 8 (a small-K layer), then 8 -> 7 (8 inputs, 6 channels in the records, entered at
    channel 2, the odd last channel in C); output zero points above -128 take the sign correction."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x0 = x = b.tensor((1, 9, 13, 8), scale=0.04, zero_point=-11)
    c, s_in = 8, 0.04
    for n, k, s, act, zo, hw in ((8, 1, 2, "NONE", 5, (5, 7)), (16, 1, 1, "NONE", 7, (5, 7)),
                                 (16, 3, 1, "NONE", None, (5, 7)), (12, 1, 1, "NONE", 4, (5, 7)),
                                 (16, 1, 2, "NONE", -2, (3, 4)), (6, 1, 1, "RELU", -128, (3, 4)),
                                 (8, 1, 1, "NONE", 3, (3, 4)), (7, 1, 1, "NONE", -3, (3, 4))):
        x, s_in, _ = _chain_conv(b, rng, x, c, s_in, hw, n, k, s, "SAME", act, zo)
        c = n
    return b.build([x0], [x])


def test_pointwise_paths_model_with_wide_weights_is_bit_exact_on_the_host(bit_exact) -> None:
    report = bit_exact(pointwise_paths_model(), count=3, seed=11, wide_weights="all")
    assert report["ref"] == 0 and report["opt"] == 0
    assert [s.params.get("wide_weights", 0) > 0 for s in report["result"].graph.steps] == [True] * 6 + [False, True]


def test_fused_paths_model_is_bit_exact_on_the_host(bit_exact) -> None:
    report = bit_exact(fused_paths_model(), count=3, seed=10)
    assert report["ref"] == 0 and report["opt"] == 0


def test_fused_paths_model_with_wide_weights_is_bit_exact_on_the_host(bit_exact) -> None:
    report = bit_exact(fused_paths_model(), count=3, seed=10, wide_weights="all")
    assert report["ref"] == 0 and report["opt"] == 0
    assert sum(s.params.get("wide_weights", 0) for s in report["result"].graph.steps) == 3   # the inner convs


# ADD paths (nn_opt_add.c): (name, shape, s1, s2, s_out as multiples of a base scale, output zero point,
# activation, second input broadcast); power-of-two scale ratios put many sums on exact rounding halves.
ADD_CASES = [
    ("add_fused_odd_count", (1, 5, 7, 3), 1.0, 0.37, 1.9, 4, "NONE", False),
    ("add_fused_relu_zp_min", (1, 8, 8, 16), 0.8, 1.3, 1.7, -128, "RELU", False),
    ("add_fused_pow2_ties", (1, 4, 9, 8), 1.0, 2.0, 2.0, -3, "NONE", False),   # sums of odd halves
    ("add_fused_equal_scales", (1, 6, 6, 4), 1.0, 1.0, 2.0, 10, "NONE", False),
    ("add_tables_relu_clamp", (1, 7, 5, 6), 0.9, 1.4, 1.1, -20, "RELU", False),
    ("add_tables_relu6", (1, 3, 11, 5), 1.2, 0.6, 0.5, 7, "RELU6", False),
    ("add_tables_no_right_shift", (1, 4, 4, 4), 1.0, 0.9, 2.0 ** -18, 0, "NONE", False),
    ("add_broadcast_channels", (1, 4, 5, 6), 1.0, 0.7, 1.5, 2, "NONE", True),
    ("add_one_element", (1, 1, 1, 1), 0.6, 1.0, 1.2, -5, "NONE", False),
]


def add_layer(case: tuple, seed: int) -> bytes:
    """ADD of the model input and either its requantized copy (QUANTIZE int8 -> int8: two activations
    of the same shape, the second dying at the ADD so that it is written in place) or a constant
    broadcast over the channels."""
    _, shape, f1, f2, fo, zo, act, broadcast = case
    rng = np.random.default_rng(seed)
    base = 0.03
    b = ModelBuilder()
    x = b.tensor(shape, scale=base * f1, zero_point=int(rng.integers(-100, 100)))
    x2_shape = (1, 1, 1, shape[3]) if broadcast else shape
    x2 = b.tensor(x2_shape, scale=base * f2, zero_point=int(rng.integers(-100, 100)),
                  data=rng.integers(-128, 128, x2_shape).astype(np.int8) if broadcast else None)
    if not broadcast:
        b.op("QUANTIZE", [x], [x2])
    y = b.tensor(shape, scale=base * fo, zero_point=zo)
    b.op("ADD", [x, x2], [y], "AddOptions", activation=act)
    return b.build([x], [y])


@pytest.mark.parametrize("case", ADD_CASES, ids=[c[0] for c in ADD_CASES])
def test_add_path_is_bit_exact(case: tuple, bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import add_path

    tflite = add_layer(case, seed=len(case[0]))
    report = bit_exact(tflite, count=4, seed=11)
    step = next(s for s in report["result"].graph.steps if s.op == "ADD")
    want = "broadcast" if case[7] else ("fused" if case[0].startswith("add_fused") or case[0] == "add_one_element"
                                        else "tables")
    assert add_path(step.params) == want


def add_paths_model(seed: int = 15) -> bytes:
    """ADD paths chained for the Cortex-M7 run, each one's errors visible in the output: a broadcast
    constant, the tables with a ReLU clamp, then the fused path twice (odd element count, zero point
    folded); the last ADD's power-of-two scales put half of its sums on exact rounding ties, of
    both signs. Each ADD's second input is the model input requantized (same shape, both signs)."""
    rng = np.random.default_rng(seed)
    shape = (1, 5, 7, 3)
    b = ModelBuilder()
    s = 0.03
    x0 = b.tensor(shape, scale=s, zero_point=-7)
    c = b.tensor((1, 1, 1, 3), scale=s * 0.7, zero_point=5, data=rng.integers(-128, 128, (1, 1, 1, 3)).astype(np.int8))
    x = b.tensor(shape, scale=s * 1.3, zero_point=-1)
    b.op("ADD", [x0, c], [x], "AddOptions", activation="NONE")
    s *= 1.3
    for f2, fo, zo, act in ((1.4, 1.1, -20, "RELU"), (0.37, 1.9, 4, "NONE"), (2.0, 2.0, -3, "NONE")):
        x2 = b.tensor(shape, scale=s * f2, zero_point=int(rng.integers(-60, 60)))
        b.op("QUANTIZE", [x0], [x2])
        y = b.tensor(shape, scale=s * fo, zero_point=zo)
        b.op("ADD", [x, x2], [y], "AddOptions", activation=act)
        x, s = y, s * fo
    return b.build([x0], [x])


def test_add_paths_model_is_bit_exact_on_the_host(bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import add_path

    report = bit_exact(add_paths_model(), count=3, seed=12)
    paths = [add_path(s.params) for s in report["result"].graph.steps if s.op == "ADD"]
    assert paths == ["broadcast", "tables", "fused", "fused"]


def _dw3_layer(b: ModelBuilder, rng: np.random.Generator, x: int, hw: tuple[int, int], c: int, s_in: float,
               stride: int, padding: str, act: str, zo: int, big_bias: int = 0) -> tuple[int, float, tuple[int, int]]:
    """A DEPTHWISE_CONV_2D 3x3 of random weights after x (channel c // 2's bias set to big_bias when given);
    returns (output tensor, its scale, its (h, w))."""
    ws = rng.uniform(0.002, 0.02, c)
    s_out = s_in * float(ws.mean()) * 3 * 30
    wt = b.tensor((1, 3, 3, c), scale=list(ws), zero_point=[0] * c, axis=3,
                  data=rng.integers(-127, 128, (1, 3, 3, c)).astype(np.int8))
    bias = rng.integers(-3000, 3000, c).astype(np.int32)
    if big_bias:
        bias[c // 2] = big_bias
    bt = b.tensor((c,), "int32", scale=[s_in * v for v in ws], zero_point=[0] * c, data=bias)
    h, w = _out(hw[0], 3, stride, 1, padding), _out(hw[1], 3, stride, 1, padding)
    y = b.tensor((1, h, w, c), scale=float(s_out), zero_point=zo)
    b.op("DEPTHWISE_CONV_2D", [x, wt, bt], [y], "DepthwiseConv2DOptions", depth_multiplier=1, padding=padding,
         stride_w=stride, stride_h=stride, dilation_w=1, dilation_h=1, activation=act)
    return y, float(s_out), (h, w)


def dw_rows_model(seed: int = 16) -> bytes:
    """Depthwise 3x3 layers on the ROWS3 path for the Cortex-M7 run: stride 1 SAME with a ReLU clamp
    (general requantization per output), stride 2 SAME (odd row count, fused form), stride 1 VALID
    with an odd row of 17 outputs; 5 channels, zero points on both sides; then a global average pool."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, c, s_in, zp = 9, 37, 5, 0.04, -7
    x0 = x = b.tensor((1, h, w, c), scale=s_in, zero_point=zp)
    for stride, padding, act, zo in ((1, "SAME", "RELU", -30), (2, "SAME", "NONE", 6), (1, "VALID", "NONE", -2)):
        x, s_in, (h, w) = _dw3_layer(b, rng, x, (h, w), c, s_in, stride, padding, act, zo)
    pooled = b.tensor((1, 1, 1, c), scale=s_in, zero_point=-2)   # then a global average pool (SXTAB16)
    b.op("AVERAGE_POOL_2D", [x], [pooled], "Pool2DOptions", padding="VALID", stride_w=1, stride_h=1, filter_w=w,
         filter_h=h, activation="NONE")
    return b.build([x0], [pooled])


def test_dw_rows_model_is_bit_exact_on_the_host(bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(dw_rows_model(), count=3, seed=13)
    paths = [conv_facts(s.params, s.consts["shift"].tolist(), depthwise=True)[0] for s in report["result"].graph.steps
             if s.op == "DEPTHWISE_CONV_2D"]
    assert paths == ["rows3", "rows3", "rows3"]


def dw_lines_model(seed: int = 18) -> bytes:
    """Depthwise 3x3 layers on ROWS3's lines for the Cortex-M7 run, 11 channels (two groups of 4 and a
    tail of 3), zero points on both sides: a 27x6 map (taller than wide: 6 column lines of 27 outputs, six
    4-output passes and 3 single outputs), stride 2 SAME down the columns (14x3: 14 outputs per line, a
    padding line at the end), a channel's bias beyond the fused form's bound (the general form), then
    stride 1 VALID on a wide row (12x1 -> 10 outputs per row after a transposition back), and a ReLU6."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, c, s_in, zp = 27, 6, 11, 0.04, 9
    x0 = x = b.tensor((1, h, w, c), scale=s_in, zero_point=zp)
    layers = ((1, "SAME", "NONE", -5, 0), (2, "SAME", "NONE", 12, 0), (1, "SAME", "NONE", 3, 1 << 29),
              (1, "VALID", "RELU6", -128, 0))
    for stride, padding, act, zo, big_bias in layers:
        x, s_in, (h, w) = _dw3_layer(b, rng, x, (h, w), c, s_in, stride, padding, act, zo, big_bias)
    return b.build([x0], [x])


def test_dw_lines_model_is_bit_exact_on_the_host(bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(dw_lines_model(), count=3, seed=14)
    steps = [s for s in report["result"].graph.steps if s.op == "DEPTHWISE_CONV_2D"]
    assert [conv_facts(s.params, s.consts["shift"].tolist(), depthwise=True)[0] for s in steps] == ["rows3"] * 4
    assert [tuple(s.out_shape[1:3]) for s in steps] == [(27, 6), (14, 3), (14, 3), (12, 1)]


def test_dw_rows_stride_3_across_is_bit_exact_on_the_host(bit_exact) -> None:
    """ROWS3 lines 3 apart (stride 3 across the rows, 1 or 2 along them): the ring holds no line of the
    previous output line, all 3 are gathered; 9 channels (a 1-channel tail group), SAME and VALID."""
    from edgeloop.models.compiler.kernel_facts import conv_facts

    rng = np.random.default_rng(21)
    b = ModelBuilder()
    h, w, c, s_in = 14, 19, 9, 0.04
    x0 = x = b.tensor((1, h, w, c), scale=s_in, zero_point=-11)
    for stride_w, padding, zo in ((1, "SAME", 5), (2, "VALID", -3)):
        ws = rng.uniform(0.002, 0.02, c)
        s_out = s_in * float(ws.mean()) * 90
        wt = b.tensor((1, 3, 3, c), scale=list(ws), zero_point=[0] * c, axis=3,
                      data=rng.integers(-127, 128, (1, 3, 3, c)).astype(np.int8))
        bt = b.tensor((c,), "int32", scale=[s_in * v for v in ws], zero_point=[0] * c,
                      data=rng.integers(-3000, 3000, c).astype(np.int32))
        h, w = _out(h, 3, 3, 1, padding), _out(w, 3, stride_w, 1, padding)
        y = b.tensor((1, h, w, c), scale=float(s_out), zero_point=zo)
        b.op("DEPTHWISE_CONV_2D", [x, wt, bt], [y], "DepthwiseConv2DOptions", depth_multiplier=1, padding=padding,
             stride_w=stride_w, stride_h=3, dilation_w=1, dilation_h=1, activation="NONE")
        x, s_in = y, float(s_out)
    report = bit_exact(b.build([x0], [x]), count=3, seed=15)
    steps = [s for s in report["result"].graph.steps if s.op == "DEPTHWISE_CONV_2D"]
    assert [conv_facts(s.params, s.consts["shift"].tolist(), depthwise=True)[0] for s in steps] == ["rows3"] * 2
    assert [tuple(s.out_shape[1:3]) for s in steps] == [(5, 19), (1, 9)]


def dw_s2_lines_model(seed: int = 22) -> bytes:
    """Stride-2 depthwise layers on ROWS3 whose output lines gather their two new input lines in one call
    (dw3_gather4_lines2: whole 4-pixel passes of full groups, both lines inside the image) for the Cortex-M7 run:
    9 channels (two full groups and a 1-channel tail that takes the general gather), zero points on both sides,
    SAME on 21x40 (rows of 40 inputs, 10 passes; 11x20 outputs, the first output line reads a padding line above,
    the last one below), then VALID on 11x20 (rows of 20 inputs, 5 passes; 5x9 outputs, every line inside)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, c, s_in = 21, 40, 9, 0.04
    x0 = x = b.tensor((1, h, w, c), scale=s_in, zero_point=-6)
    for padding, zo in (("SAME", 7), ("VALID", -4)):
        x, s_in, (h, w) = _dw3_layer(b, rng, x, (h, w), c, s_in, 2, padding, "NONE", zo)
    return b.build([x0], [x])


def test_dw_s2_lines_model_is_bit_exact_on_the_host(bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(dw_s2_lines_model(), count=3, seed=16)
    steps = [s for s in report["result"].graph.steps if s.op == "DEPTHWISE_CONV_2D"]
    assert [conv_facts(s.params, s.consts["shift"].tolist(), depthwise=True)[0] for s in steps] == ["rows3"] * 2
    assert [tuple(s.out_shape[1:3]) for s in steps] == [(11, 20), (5, 9)]


def dw_in_place_model(seed: int = 19) -> bytes:
    """Depthwise layers that run in place (nn_depthwise_conv2d_s8_in_place: ROWS3, stride 1, equal shapes)
    between pointwise convolutions, on a 20x6 map (column lines) with 10 channels (a 2-channel tail group):
    the fused form, then a ReLU6 (the general form), then a stride-2 layer that may not."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, c, s_in = 20, 6, 10, 0.04
    x0 = x = b.tensor((1, h, w, 6), scale=s_in, zero_point=-3)
    x, s_in = _pointwise(b, rng, x, (h, w), 6, c, s_in)
    for stride, act, zo in ((1, "NONE", 4), (1, "RELU6", -128), (2, "NONE", -9)):
        x, s_in, (h, w) = _dw3_layer(b, rng, x, (h, w), c, s_in, stride, "SAME", act, zo)
    x, _ = _pointwise(b, rng, x, (h, w), c, 4, s_in)
    return b.build([x0], [x])


def _pointwise(b: ModelBuilder, rng: np.random.Generator, x: int, hw: tuple[int, int], c_in: int, c_out: int,
               s_in: float) -> tuple[int, float]:
    """A 1x1 CONV_2D of random weights after x; returns (output tensor, its scale)."""
    ws = rng.uniform(0.002, 0.02, c_out)
    s_out = s_in * float(ws.mean()) * np.sqrt(c_in) * 30
    wt = b.tensor((c_out, 1, 1, c_in), scale=list(ws), zero_point=[0] * c_out, axis=0,
                  data=rng.integers(-127, 128, (c_out, 1, 1, c_in)).astype(np.int8))
    bt = b.tensor((c_out,), "int32", scale=[s_in * v for v in ws], zero_point=[0] * c_out,
                  data=rng.integers(-3000, 3000, c_out).astype(np.int32))
    y = b.tensor((1, *hw, c_out), scale=float(s_out), zero_point=int(rng.integers(-20, 20)))
    b.op("CONV_2D", [x, wt, bt], [y], "Conv2DOptions", padding="VALID", stride_w=1, stride_h=1, dilation_w=1,
         dilation_h=1, activation="NONE")
    return y, float(s_out)


def test_depthwise_in_place_is_bit_exact_on_the_host(bit_exact) -> None:
    """The planner gives the two stride-1 depthwise layers their input's storage (not the stride-2 one), and
    the reference and optimized kernels both stay bit-exact there."""
    report = bit_exact(dw_in_place_model(), count=3, seed=15)
    result = report["result"]
    shared = [result.plan.tensor_group[s.output] == result.plan.tensor_group[s.inputs[0]]
              for s in result.graph.steps if s.op == "DEPTHWISE_CONV_2D"]
    assert shared == [True, True, False]


def dw_plane_model(seed: int = 20) -> bytes:
    """Depthwise 3x3 layers on path PLANE3 (maps of at most 8 x 8 outputs) for the Cortex-M7 run, 10 channels
    (two groups of 4 and a partial group of 2), zero points on both sides, after a pointwise convolution: a
    6x7 map at stride 1 in place (fused form), again with a ReLU6 (the general form), stride 2 SAME (6x7 ->
    3x4), stride 1 SAME on it, then VALID (3x4 -> 1x2) and stride 1 SAME on 1x2 (both windows lie over padding
    above, below and on one side). SAME maps give every kind of edge window: kernel rows or columns dropped."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, c, s_in = 6, 7, 10, 0.04
    x0 = x = b.tensor((1, h, w, 5), scale=s_in, zero_point=11)
    x, s_in = _pointwise(b, rng, x, (h, w), 5, c, s_in)
    for stride, padding, act, zo in ((1, "SAME", "NONE", -6), (1, "SAME", "RELU6", -128), (2, "SAME", "NONE", 7),
                                     (1, "SAME", "NONE", -1), (1, "VALID", "NONE", 3), (1, "SAME", "NONE", 5)):
        x, s_in, (h, w) = _dw3_layer(b, rng, x, (h, w), c, s_in, stride, padding, act, zo)
    return b.build([x0], [x])


def test_dw_plane_model_is_bit_exact_on_the_host(bit_exact) -> None:
    """Every layer takes PLANE3; the two stride-1 layers on the 6x7 map run in place."""
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(dw_plane_model(), count=3, seed=16)
    result = report["result"]
    steps = [s for s in result.graph.steps if s.op == "DEPTHWISE_CONV_2D"]
    assert [conv_facts(s.params, s.consts["shift"].tolist(), depthwise=True)[0] for s in steps] == ["plane3"] * 6
    assert [tuple(s.out_shape[1:3]) for s in steps] == [(6, 7), (6, 7), (3, 4), (3, 4), (1, 2), (1, 2)]
    shared = [result.plan.tensor_group[s.output] == result.plan.tensor_group[s.inputs[0]] for s in steps]
    assert shared[:3] == [True, True, False]


def dw_pairs_model(h: int = 5, seed: int = 21) -> bytes:
    """Depthwise 3x3 layers on PLANE3's pairs (fused form, stride 1, SAME on rows of 6 outputs) for the
    Cortex-M7 run, 10 channels (two groups of 4 and a partial group of 2), zero points on both sides, after a
    pointwise convolution on an h x 8 map: VALID (-> (h - 2) x 6, on the widened plane), then SAME twice on
    that map (pairs), the first in place (on 3x6 the first row over padding above, the last below; the first
    and last output of a row over padding left and right; on 1x6 padding above and below)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x0 = x = b.tensor((1, h, 8, 5), scale=0.04, zero_point=11)
    x, s_in = _pointwise(b, rng, x, (h, 8), 5, 10, 0.04)
    hw = (h, 8)
    for padding, zo in (("VALID", -6), ("SAME", 9), ("SAME", -1)):
        x, s_in, hw = _dw3_layer(b, rng, x, hw, 10, s_in, 1, padding, "NONE", zo)
    return b.build([x0], [x])


def dw_pairs_thin_model() -> bytes:
    """dw_pairs_model on a 3x8 map: the SAME layers on a single row of 6 outputs."""
    return dw_pairs_model(h=3, seed=22)


@pytest.mark.parametrize("h", [5, 3])
def test_dw_pairs_model_is_bit_exact_on_the_host(h: int, bit_exact) -> None:
    """Every depthwise layer takes PLANE3 (its pairs: stride 1, 6 outputs a row); the first SAME layer runs in
    place (the second writes the model's output)."""
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(dw_pairs_model(h=h), count=3, seed=17)
    result = report["result"]
    steps = [s for s in result.graph.steps if s.op == "DEPTHWISE_CONV_2D"]
    assert [conv_facts(s.params, s.consts["shift"].tolist(), depthwise=True)[0] for s in steps] == ["plane3"] * 3
    assert [tuple(s.out_shape[1:3]) for s in steps] == [(h - 2, 6)] * 3
    shared = [result.plan.tensor_group[s.output] == result.plan.tensor_group[s.inputs[0]] for s in steps]
    assert shared[:2] == [False, True]


def _random_pairs_case(seed: int) -> tuple:
    """A random 3x3 stride-1 depthwise layer with rows of 6 outputs: SAME on 6 columns (PLANE3's pairs) or
    VALID on 8 (its widened plane), 1..8 output rows, 1..13 channels (partial groups of 1..3)."""
    rng = np.random.default_rng(seed)
    padding = str(rng.choice(["SAME", "VALID"]))
    rows = int(rng.integers(1, 9))
    h, w = (rows, 6) if padding == "SAME" else (rows + 2, 8)
    return (f"dw3_pairs_{seed}", (h, w, int(rng.integers(1, 14))), 1, 3, 1, 1, padding, True)


@pytest.mark.parametrize("seed", range(8))
def test_random_depthwise_pairs_is_bit_exact(seed: int, bit_exact) -> None:
    """PLANE3's pairs (the fused form: no clamp) on random heights, channels, paddings and zero points,
    against the reference kernels and TFLite Micro."""
    report = bit_exact(conv_layer(_random_pairs_case(seed), "fused", seed=300 + seed, act="NONE"), count=2, seed=seed)
    assert report["ref"] == 0 and report["opt"] == 0


def dw_map3_model(seed: int = 24) -> bytes:
    """Depthwise 3x3 SAME stride-1 layers on 3x3 maps (path MAP3) for the Cortex-M7 run, 12 channels (3 groups
    of 4), zero points on both sides, after a pointwise convolution: fused in place, with a ReLU6 (every group
    in C with the reference requantization), with one bias of 2^30 (beyond rq_dbl's bound: its doubled
    accumulator would wrap; that channel's group in C, the others in assembly), then fused into the model's
    output."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x0 = x = b.tensor((1, 3, 3, 5), scale=0.04, zero_point=11)
    x, s_in = _pointwise(b, rng, x, (3, 3), 5, 12, 0.04)
    hw = (3, 3)
    for act, zo, big in (("NONE", -6, 0), ("RELU6", -128, 0), ("NONE", 9, 1 << 30), ("NONE", -1, 0)):
        x, s_in, hw = _dw3_layer(b, rng, x, hw, 12, s_in, 1, "SAME", act, zo, big_bias=big)
    return b.build([x0], [x])


def test_dw_map3_model_is_bit_exact_on_the_host(bit_exact) -> None:
    """Every depthwise layer takes MAP3; the first three run in place (the last writes the model's output)."""
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(dw_map3_model(), count=4, seed=18)
    result = report["result"]
    steps = [s for s in result.graph.steps if s.op == "DEPTHWISE_CONV_2D"]
    assert [conv_facts(s.params, s.consts["shift"].tolist(), depthwise=True)[0] for s in steps] == ["map3"] * 4
    shared = [result.plan.tensor_group[s.output] == result.plan.tensor_group[s.inputs[0]] for s in steps]
    assert shared == [True, True, True, False]


def _map3_case(seed: int, c: int) -> tuple:
    return (f"dw3_map3_{seed}", (3, 3, c), 1, 3, 1, 1, "SAME", True)


# (seed, channels, output zero point, m_factor, activation, requantization): 4..64 channels, zero points at
# both ends, multipliers from the usual to right shifts of 2..5 (m_factor 8: outputs near zero land on exact
# rounding halves often), then the groups computed in C: clamps (ReLU, ReLU6), multipliers >= 1 (left shifts)
# and right shifts of 1; per-tensor quantization (one exponent and multiplier for every channel).
MAP3_CASES = [(0, 4, None, None, "NONE", "fused"), (1, 8, -128, None, "NONE", "fused"),
              (2, 16, 127, None, "NONE", "fused"), (3, 12, 0, 8.0, "NONE", "fused"),
              (4, 64, None, 8.0, "NONE", "fused"), (5, 20, -3, 2.0 ** 20, "NONE", "fused"),
              (6, 8, None, None, "RELU", "fused"), (7, 12, -128, None, "RELU6", "fused"),
              (8, 16, None, None, "NONE", "general"), (9, 8, 5, 8.0, "RELU6", "general"),
              (10, 12, None, None, "NONE", "per-tensor"), (11, 8, -100, None, "RELU", "per-tensor")]


@pytest.mark.parametrize("case", MAP3_CASES, ids=[f"map3_s{c[0]}c{c[1]}{c[4].lower()}" for c in MAP3_CASES])
def test_random_depthwise_map3_is_bit_exact(case: tuple, bit_exact) -> None:
    """MAP3 on random weights, biases, input and output zero points, multipliers and activations, against the
    reference kernels and TFLite Micro."""
    from edgeloop.models.compiler.kernel_facts import conv_facts

    seed, c, zo, m_factor, act, requant = case
    per_channel = requant != "per-tensor"
    tflite = conv_layer(_map3_case(seed, c), "fused" if requant == "per-tensor" else requant, seed=400 + seed,
                        per_channel=per_channel, act=act, zo=zo, m_factor=m_factor)
    report = bit_exact(tflite, count=3, seed=seed)
    assert report["ref"] == 0 and report["opt"] == 0
    step = report["result"].graph.steps[0]
    assert conv_facts(step.params, step.consts["shift"].tolist(), depthwise=True)[0] == "map3"
    if m_factor == 8.0 and requant == "fused":
        assert int(step.consts["shift"].max()) <= -2 and int(step.consts["shift"].min()) >= -6
    if requant == "general":
        assert int(step.consts["shift"].max()) >= -1   # some channel outside rq_dbl's right shifts of 2..23
    assert step.consts["shift"].size == (c if per_channel else 1)


def dw_map3_per_tensor_model() -> bytes:
    """One MAP3 layer of 12 channels with per-tensor quantization for the Cortex-M7 run (the channel words'
    assembly with exponent and multiplier steps of 0)."""
    return conv_layer(_map3_case(10, 12), "fused", seed=410, per_channel=False, act="NONE", zo=-3)


@pytest.mark.parametrize("side, stride, path, seed", [(3, 1, "map3", 31), (6, 2, "s2pairs", 32)])
def test_depthwise_3x3_output_groups_on_two_batches_are_bit_exact(bit_exact, side, stride, path, seed) -> None:
    """The straight-line 3x3-output groups over a batch of two images (each group loop runs per image), against
    TFLite Micro: MAP3 on 3x3x8 at stride 1, S2PAIRS' s2p_map33 on 6x6x8 at stride 2."""
    from edgeloop.models.compiler.kernel_facts import conv_facts

    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.tensor((2, side, side, 8), scale=0.04, zero_point=-7)
    ws = rng.uniform(0.002, 0.02, 8)
    wt = b.tensor((1, 3, 3, 8), scale=list(ws), zero_point=[0] * 8, axis=3,
                  data=rng.integers(-127, 128, (1, 3, 3, 8)).astype(np.int8))
    bt = b.tensor((8,), "int32", scale=[0.04 * v for v in ws], zero_point=[0] * 8,
                  data=rng.integers(-3000, 3000, 8).astype(np.int32))
    y = b.tensor((2, 3, 3, 8), scale=0.04 * float(ws.mean()) * 90, zero_point=4)
    b.op("DEPTHWISE_CONV_2D", [x, wt, bt], [y], "DepthwiseConv2DOptions", depth_multiplier=1, padding="SAME",
         stride_w=stride, stride_h=stride, dilation_w=1, dilation_h=1, activation="NONE")
    report = bit_exact(b.build([x], [y]), count=3, seed=seed)
    assert report["ref"] == 0 and report["opt"] == 0
    step = report["result"].graph.steps[0]
    assert step.params["batches"] == 2
    assert conv_facts(step.params, step.consts["shift"].tolist(), depthwise=True)[0] == path


def test_depthwise_map3_needs_whole_groups_and_3x3_same() -> None:
    """Path MAP3 only for SAME stride 1 on 3x3 maps with out_c a multiple of 4; its neighbours keep PLANE3."""
    from edgeloop.models.compiler import compile_bytes
    from edgeloop.models.compiler.kernel_facts import conv_facts

    def facts(case: tuple) -> tuple:
        step = compile_bytes(conv_layer(case, "fused", seed=5, act="NONE"), name="m").graph.steps[0]
        return conv_facts(step.params, step.consts["shift"].tolist(), depthwise=True)

    assert facts(_map3_case(0, 8)) == ("map3", 4 * 64 + 36)                       # a group's words and outputs
    assert facts(_map3_case(0, 10))[0] == "plane3"                                # a partial group
    assert facts(("dw3_4x4", (4, 4, 8), 1, 3, 1, 1, "SAME", True))[0] == "plane3"  # a 4x4 map
    assert facts(("dw3_s2", (3, 3, 8), 1, 3, 2, 1, "SAME", True))[0] == "plane3"   # stride 2


def dw_s2pairs_model(hw: tuple[int, int] = (12, 12), seed: int = 23) -> bytes:
    """Depthwise 3x3 stride-2 SAME layers on path S2PAIRS for the Cortex-M7 run, 8 channels (two groups of 4), zero
    points on both sides, after a pointwise convolution: on 12x12, 12x12 -> 6x6 (rows of 6 outputs) -> 3x3 (rows of
    3), MobileNetV1's two layers; on 8x12, 8x12 -> 4x6 -> 2x3; on 24x24 -> 12x12 -> 6x6. Every last output row and
    column reads padding."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x0 = x = b.tensor((1, *hw, 5), scale=0.04, zero_point=-9)
    x, s_in = _pointwise(b, rng, x, hw, 5, 8, 0.04)
    for zo in (5, -3):
        x, s_in, hw = _dw3_layer(b, rng, x, hw, 8, s_in, 2, "SAME", "NONE", zo)
    return b.build([x0], [x])


def dw_s2pairs_tall_model() -> bytes:
    """dw_s2pairs_model from an 8x12 map."""
    return dw_s2pairs_model(hw=(8, 12), seed=24)


def dw_s2pairs_wide_model() -> bytes:
    """dw_s2pairs_model from a 24x24 map: 24x24 -> 12x12 (rows of 12: a chunk with its last output's third tap,
    then the row's last chunk), MobileNetV1's 24->12 layer, -> 6x6."""
    return dw_s2pairs_model(hw=(24, 24), seed=25)


def dw_s2pairs_per_tensor_model() -> bytes:
    """One 12x12x8 -> 6x6 stride-2 SAME layer on S2PAIRS with per-tensor weights: the records' one multiplier and
    shift for every channel, and no bias clamp (test_qemu's Cortex-M7 run)."""
    return conv_layer(("dw_s2pairs_per_tensor", (12, 12, 8), 1, 3, 2, 1, "SAME", True), "fused", seed=26,
                      per_channel=False, act="NONE")


def test_dw_s2pairs_per_tensor_model_is_bit_exact_on_the_host(bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(dw_s2pairs_per_tensor_model(), count=3, seed=19)
    assert report["ref"] == 0 and report["opt"] == 0
    (step,) = [s for s in report["result"].graph.steps if s.op == "DEPTHWISE_CONV_2D"]
    assert not step.params["per_channel"]
    assert conv_facts(step.params, step.consts["shift"].reshape(-1).tolist(), depthwise=True)[0] == "s2pairs"


@pytest.mark.parametrize("hw", [(12, 12), (8, 12), (24, 24)])
def test_dw_s2pairs_model_is_bit_exact_on_the_host(hw: tuple[int, int], bit_exact) -> None:
    """Both stride-2 layers take S2PAIRS."""
    from edgeloop.models.compiler.kernel_facts import conv_facts

    report = bit_exact(dw_s2pairs_model(hw=hw), count=3, seed=18)
    steps = [s for s in report["result"].graph.steps if s.op == "DEPTHWISE_CONV_2D"]
    assert [conv_facts(s.params, s.consts["shift"].tolist(), depthwise=True)[0] for s in steps] == ["s2pairs"] * 2
    h, w = hw
    assert [tuple(s.out_shape[1:3]) for s in steps] == [(h // 2, w // 2), (h // 4, w // 4)]


# MobileNetV1's 6->3 layer shape (6x6 SAME at stride 2 to a 3x3 map: S2PAIRS' straight-line group function
# s2p_map33_asm, its twin s2p_map33_c on the host): (seed, channels, output zero point, m_factor, per channel);
# zero points at both ends, right shifts of 2..6 (m_factor 8: outputs near zero land on exact rounding halves),
# per-tensor quantization.
S2P33_CASES = [(0, 4, None, None, True), (1, 8, -128, None, True), (2, 16, 127, None, True),
               (3, 12, 0, 8.0, True), (4, 64, None, 8.0, True), (5, 8, None, None, False), (6, 12, -100, 8.0, False)]


def s2p33_layer(seed: int, c: int, zo: int | None = None, m_factor: float | None = None,
                per_channel: bool = True) -> bytes:
    """One 6x6xc -> 3x3xc depthwise 3x3 stride-2 SAME layer without a clamp (path S2PAIRS, s2p_map33)."""
    return conv_layer((f"dw3_s2p33_{seed}", (6, 6, c), 1, 3, 2, 1, "SAME", True), "fused", seed=500 + seed,
                      per_channel=per_channel, act="NONE", zo=zo, m_factor=m_factor)


def dw_s2p33_ties_model() -> bytes:
    """A 6x6x64 -> 3x3 S2PAIRS layer with right shifts of 2..6 (rounding ties: the sign term of rq_dbl matters)
    for test_qemu's Cortex-M7 run of s2p_map33_asm."""
    return s2p33_layer(4, 64, None, 8.0)


@pytest.mark.parametrize("case", S2P33_CASES, ids=[f"s2p33_s{c[0]}c{c[1]}" for c in S2P33_CASES])
def test_random_depthwise_s2pairs_6x6_to_3x3_is_bit_exact(case: tuple, bit_exact) -> None:
    """The 6x6 -> 3x3 group function on random weights, biases, zero points and multipliers, against the
    reference kernels and TFLite Micro."""
    from edgeloop.models.compiler.kernel_facts import conv_facts

    seed, c, zo, m_factor, per_channel = case
    report = bit_exact(s2p33_layer(seed, c, zo, m_factor, per_channel), count=3, seed=seed)
    assert report["ref"] == 0 and report["opt"] == 0
    step = report["result"].graph.steps[0]
    assert tuple(step.out_shape[1:3]) == (3, 3)
    assert conv_facts(step.params, step.consts["shift"].reshape(-1).tolist(), depthwise=True)[0] == "s2pairs"
    if m_factor == 8.0:
        assert int(step.consts["shift"].max()) <= -2 and int(step.consts["shift"].min()) >= -6
    assert step.consts["shift"].size == (c if per_channel else 1)


def _random_s2pairs_case(seed: int) -> tuple:
    """A random 3x3 stride-2 depthwise layer: SAME or VALID, even or odd sides, 1..12 outputs a side (rows of
    3, 6 or 12 outputs drawn more often: S2PAIRS' rows), 4..16 channels or a partial group (6)."""
    rng = np.random.default_rng(seed)
    padding = str(rng.choice(["SAME", "VALID"]))
    oh = int(rng.integers(1, 13))
    ow = int(rng.choice([3, 6, 12, int(rng.integers(1, 13))]))
    odd_h, odd_w = int(rng.integers(0, 2)), int(rng.integers(0, 2))
    h, w = (2 * oh - odd_h, 2 * ow - odd_w) if padding == "SAME" else (2 * oh + 1 + odd_h, 2 * ow + 1 + odd_w)
    c = 6 if seed % 5 == 4 else 4 * int(rng.integers(1, 5))
    return (f"dw3_s2pairs_{seed}", (h, w, c), 1, 3, 2, 1, padding, True)


@pytest.mark.parametrize("seed", range(14))
def test_random_depthwise_s2pairs_is_bit_exact(seed: int, bit_exact) -> None:
    """Stride-2 layers on random sides, channels, paddings and zero points (the fused form: no clamp), against
    the reference kernels and TFLite Micro; S2PAIRS takes exactly the SAME layers on even sides with rows of 3, 6
    or 12 outputs, at most 12 rows and whole groups of 4 channels (the others: PLANE3 or ROWS3)."""
    from edgeloop.models.compiler.kernel_facts import conv_facts

    case = _random_s2pairs_case(seed)
    report = bit_exact(conv_layer(case, "fused", seed=400 + seed, act="NONE"), count=2, seed=seed)
    assert report["ref"] == 0 and report["opt"] == 0
    (step,) = [s for s in report["result"].graph.steps if s.op == "DEPTHWISE_CONV_2D"]
    (h, w, c), padding = case[1], case[6]
    oh, ow = step.out_shape[1:3]
    expected = padding == "SAME" and h == 2 * oh and w == 2 * ow and ow in (3, 6, 12) and oh <= 12 and c % 4 == 0
    assert (conv_facts(step.params, step.consts["shift"].tolist(), depthwise=True)[0] == "s2pairs") == expected


def _random_dw3_case(seed: int) -> tuple:
    """A random 3x3 depthwise layer: taller or wider than wide, 1..13 channels, stride 1 or 2, SAME or VALID;
    seeds from 100 on small maps (sides of 3..10 inputs: path PLANE3 up to 8 outputs a side), from 106 on tiny
    ones, SAME (sides of 1..4: PLANE3 windows that lie over padding on both sides of an axis)."""
    rng = np.random.default_rng(seed)
    if seed >= 106:
        long, short = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    else:
        long, short = int(rng.integers(3, 30 if seed < 100 else 11)), int(rng.integers(3, 9))
    h, w = (long, short) if seed % 2 == 0 else (short, long)
    c, stride = int(rng.integers(1, 14)), int(rng.choice([1, 2]))
    padding = str(rng.choice(["SAME", "VALID"])) if seed < 106 else "SAME"   # (VALID needs sides of 3)
    return (f"dw3_random_{seed}", (h, w, c), 1, 3, stride, 1, padding, True)


@pytest.mark.parametrize("requant", sorted(REQUANT))
@pytest.mark.parametrize("seed", [*range(10), *range(100, 109)])
def test_random_depthwise_3x3_is_bit_exact(seed: int, requant: str, bit_exact) -> None:
    """ROWS3 on rows and columns, PLANE3 on small maps (CHANNELS at other strides), random shapes, zero
    points and activations, against the reference kernels and TFLite Micro."""
    report = bit_exact(conv_layer(_random_dw3_case(seed), requant, seed=100 + seed), count=2, seed=seed)
    assert report["ref"] == 0 and report["opt"] == 0


def fc_paths_model(seed: int = 17) -> bytes:
    """Fully connected layers on the widened path for the Cortex-M7 run: 48 -> 9 (two four-row passes and
    an odd row), 9 -> 14 (two-row passes: one pair of groups and a 1-input tail), 14 -> 16 (a pair and a
    2-input tail), then 16 -> 5 (the direct path)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    n, s_in, zp = 48, 0.05, 3
    x0 = x = b.tensor((1, n), scale=s_in, zero_point=zp)
    for n_out in (9, 14, 16, 5):
        ws = rng.uniform(0.002, 0.02, n_out)
        wt = b.tensor((n_out, n), scale=list(ws), zero_point=[0] * n_out,
                      data=rng.integers(-127, 128, (n_out, n)).astype(np.int8))
        bt = b.tensor((n_out,), "int32", scale=[s_in * v for v in ws], zero_point=[0] * n_out,
                      data=rng.integers(-3000, 3000, n_out).astype(np.int32))
        s_out = s_in * float(ws.mean()) * np.sqrt(n) * 10
        zp = int(rng.integers(-20, 20))
        y = b.tensor((1, n_out), scale=s_out, zero_point=zp)
        b.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions", activation="NONE")
        x, n, s_in = y, n_out, s_out
    return b.build([x0], [x])


def fc_pair_model() -> bytes:
    """One 45 -> 10 fully connected layer (45 inputs: the two-row pass, its assembly loop over 5 pairs of
    groups) straight into the model's output (test_qemu's mutation check)."""
    return fc_layer(45, 10, "fused", seed=45)


def test_fc_paths_model_is_bit_exact_on_the_host(bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import fc_facts

    report = bit_exact(fc_paths_model(), count=3, seed=14)
    paths = [fc_facts(s.params, s.consts["shift"].tolist())[0] for s in report["result"].graph.steps]
    assert paths == ["fused", "widened", "widened", "direct"]


def _fc_fused_op(b: ModelBuilder, rng: np.random.Generator, x: int, batches: int, n_in: int, n_out: int,
                 s_in: float, per_channel: bool, act: str, zo: int, bias: bool, small_shift: bool) -> tuple[int, float]:
    """Append one FULLY_CONNECTED for path FUSED; returns (output tensor, its scale). small_shift puts
    the multipliers just below 1/4 (right shifts of 2 and 3: the smallest the path takes)."""
    ws = rng.uniform(0.002, 0.02, n_out if per_channel else 1)
    s_out = s_in * float(ws.max()) * 4.2 if small_shift else s_in * float(ws.mean()) * np.sqrt(n_in) * 12
    n_s = len(ws)
    wt = b.tensor((n_out, n_in), scale=list(ws), zero_point=[0] * n_s,
                  data=rng.integers(-127, 128, (n_out, n_in)).astype(np.int8))
    bt = (b.tensor((n_out,), "int32", scale=[s_in * v for v in ws], zero_point=[0] * n_s,
                   data=rng.integers(-4000, 4000, n_out).astype(np.int32)) if bias else -1)
    y = b.tensor((batches, n_out), scale=float(s_out), zero_point=zo)
    b.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions", activation=act)
    return y, float(s_out)


# (n_in, n_out, batches, per_channel, activation, output zero point, bias, small shifts): inputs of
# 8, 16 and 24 + 16 k (the loop entered halfway when k % 16 == 8), 1..3 tail rows (left to the two-row
# pass), clamps at both ends, extreme zero points, no bias, right shifts down to 2 (requantization
# ties: small shifts land on exact halves often).
FC_FUSED_CASES = [
    (8, 12, 1, True, "RELU", -128, True, False),
    (16, 9, 2, False, "NONE", 0, True, False),
    (24, 13, 1, True, "RELU6", -5, True, False),
    (48, 10, 2, False, "RELU", 7, False, False),
    (40, 11, 2, True, "NONE", 127, True, True),
    (128, 16, 1, True, "RELU6", -128, True, True),
    (64, 20, 3, False, "NONE", -128, False, True),
]


@pytest.mark.parametrize("case", FC_FUSED_CASES, ids=[f"fc{c[0]}x{c[1]}b{c[2]}" for c in FC_FUSED_CASES])
def test_fc_fused_path_is_bit_exact(case: tuple, bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import fc_facts

    n_in, n_out, batches, per_channel, act, zo, bias, small = case
    rng = np.random.default_rng(n_in * 31 + n_out)
    b = ModelBuilder()
    x = b.tensor((batches, n_in), scale=0.05, zero_point=int(rng.integers(-60, 60)))
    y, _ = _fc_fused_op(b, rng, x, batches, n_in, n_out, 0.05, per_channel, act, zo, bias, small)
    report = bit_exact(b.build([x], [y]), count=4, seed=n_in)
    step = report["result"].graph.steps[0]
    assert fc_facts(step.params, step.consts["shift"].tolist())[0] == "fused"
    if small:
        assert int(step.consts["shift"].max()) == -2   # the smallest right shift the path takes


def fc_fused_model(seed: int = 23) -> bytes:
    """Three fully connected layers on path FUSED for the Cortex-M7 run (two batches): 40 -> 24
    per-tensor with RELU6 (the loop entered halfway), 24 -> 16 per-channel without bias at right
    shifts down to 2, 16 -> 11 per-channel with RELU (three tail rows)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x0 = x = b.tensor((2, 40), scale=0.05, zero_point=-9)
    s_in, n = 0.05, 40
    for n_out, per_channel, act, zo, bias, small in ((24, False, "RELU6", -20, True, False),
                                                    (16, True, "NONE", 3, False, True),
                                                    (11, True, "RELU", -128, True, False)):
        x, s_in = _fc_fused_op(b, rng, x, 2, n, n_out, s_in, per_channel, act, zo, bias, small)
        n = n_out
    return b.build([x0], [x])


def test_fc_fused_model_is_bit_exact_on_the_host(bit_exact) -> None:
    from edgeloop.models.compiler.kernel_facts import fc_facts

    report = bit_exact(fc_fused_model(), count=3, seed=15)
    paths = [fc_facts(s.params, s.consts["shift"].tolist())[0] for s in report["result"].graph.steps]
    assert paths == ["fused", "fused", "fused"]
