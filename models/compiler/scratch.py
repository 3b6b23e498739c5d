"""Scratch sizes of the optimized kernels, mirroring nn_opt.c's *_scratch_bytes() functions.

A compiled model always reserves the optimized kernels' scratch in its arena,
so the same generated C runs with either kernel build. A test checks these
formulas against the C functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def _align4(n: int) -> int:
    return (n + 3) & ~3


RQ_ENTRY_BYTES = 16  # per output channel: bias, multiplier, rounding addend, shift (int32 each)


SMALL_K_MAX = 32       # first layers (in_c % 4 != 0) with at most this many taps widen their weights
SMALL_K_REG_WORDS = 5  # ... up to this many int16 pairs: a record of SMALL_K_RECORD words per channel
SMALL_K_RECORD = 10


WIDE_SHIFTS = range(-23, -1)  # exponents the wide-weights path accepts (fast form, zero point folded in)


def _is_small_k(p: Mapping[str, object]) -> bool:
    in_c = int(p["in_c"])  # type: ignore[arg-type]
    return in_c % 4 != 0 and int(p["k_h"]) * int(p["k_w"]) * in_c <= SMALL_K_MAX  # type: ignore[arg-type]


def conv_wide_applies(p: Mapping[str, object], shifts: Sequence[int]) -> bool:
    """Whether a convolution can take the wide-weights path (nn_opt.c's conv_wide_ok without
    the wide_weights flag): an inner layer (not small-K, k_h*k_w*in_c a multiple of 4) of at
    least 2 output channels, no clamp narrower than int8, every exponent in WIDE_SHIFTS."""
    taps = int(p["k_h"]) * int(p["k_w"]) * int(p["in_c"])  # type: ignore[arg-type]
    return (not _is_small_k(p) and taps % 4 == 0 and int(p["out_c"]) >= 2  # type: ignore[arg-type]
            and int(p["act_min"]) <= -128 and int(p["act_max"]) >= 127  # type: ignore[arg-type]
            and all(int(s) in WIDE_SHIFTS for s in shifts))


def conv_wide_bytes(p: Mapping[str, object]) -> int:
    """The wide records: per output channel pair 2 biases, the two rows widened to int16
    (4 words per group of 4 taps) and 2 x (multiplier, addend, shift)."""
    groups = int(p["k_h"]) * int(p["k_w"]) * int(p["in_c"]) // 4  # type: ignore[arg-type]
    return 4 * (2 + 4 * groups + 6) * (int(p["out_c"]) // 2)  # type: ignore[arg-type]


def conv_scratch_bytes(p: Mapping[str, object], shifts: Sequence[int] = ()) -> int:
    """Two int16 im2col columns of k_h*k_w*in_c taps, padded to a multiple of 4, the
    per-channel requantization table and, for a first layer (in_c not a multiple of 4)
    of at most SMALL_K_MAX taps, its weights widened to int16 pairs (with the bias and
    requantization constants in a record per channel when the column fits in registers;
    3x3 grayscale layers also get a strip of 3 input rows with the padding filled in);
    with p["wide_weights"] set on a layer the wide path accepts (its exponents `shifts`),
    the wide records instead."""
    in_c = int(p["in_c"])  # type: ignore[arg-type]
    taps = int(p["k_h"]) * int(p["k_w"]) * in_c  # type: ignore[arg-type]
    out_c = int(p["out_c"])  # type: ignore[arg-type]
    pairs = (taps + 1) // 2
    wide = 4 * (SMALL_K_RECORD if pairs <= SMALL_K_REG_WORDS else pairs) * out_c if _is_small_k(p) else 0
    if _is_small_k(p) and in_c == 1 and (p["k_h"], p["k_w"], p["dil_h"], p["dil_w"]) == (3, 3, 1, 1):
        # 3x3 grayscale: a strip of the 3 input rows a row of windows covers, padding filled in
        wide += _align4(3 * ((int(p["out_w"]) - 1) * int(p["stride_w"]) + 3))  # type: ignore[arg-type]
    if p.get("wide_weights") and conv_wide_applies(p, shifts):
        wide = conv_wide_bytes(p)
    return 2 * 2 * _align4(taps) + RQ_ENTRY_BYTES * out_c + wide


def depthwise_scratch_bytes(p: Mapping[str, object]) -> int:
    """The per-channel requantization table and the biases with the input offset folded in."""
    return (RQ_ENTRY_BYTES + 4) * int(p["out_c"])  # type: ignore[arg-type]


FC_DIRECT_MAX_ROWS = 8
"""Fully connected layers with at most this many outputs widen their input in registers, without scratch."""


def fc_scratch_bytes(p: Mapping[str, object]) -> int:
    """The input vector widened to int16 with its offset added; none for a layer of few outputs."""
    if int(p["out_features"]) <= FC_DIRECT_MAX_ROWS:  # type: ignore[call-overload]
        return 0
    return 2 * _align4(int(p["in_features"]))  # type: ignore[arg-type]
