"""Scratch sizes of the optimized kernels, mirroring nn_opt.c's *_scratch_bytes() functions.

A compiled model always reserves the optimized kernels' scratch in its arena,
so the same generated C runs with either kernel build. A test checks these
formulas against the C functions.
"""

from __future__ import annotations

from collections.abc import Mapping


def _align4(n: int) -> int:
    return (n + 3) & ~3


RQ_ENTRY_BYTES = 16  # per output channel: bias, multiplier, rounding addend, shift (int32 each)


SMALL_K_MAX = 32       # first layers (in_c % 4 != 0) with at most this many taps widen their weights
SMALL_K_REG_WORDS = 5  # ... up to this many int16 pairs: a record of SMALL_K_RECORD words per channel
SMALL_K_RECORD = 10


def conv_scratch_bytes(p: Mapping[str, object]) -> int:
    """Two int16 im2col columns of k_h*k_w*in_c taps, padded to a multiple of 4, the
    per-channel requantization table and, for a first layer (in_c not a multiple of 4)
    of at most SMALL_K_MAX taps, its weights widened to int16 pairs (with the bias and
    requantization constants in a record per channel when the column fits in registers)."""
    in_c = int(p["in_c"])  # type: ignore[arg-type]
    taps = int(p["k_h"]) * int(p["k_w"]) * in_c  # type: ignore[arg-type]
    out_c = int(p["out_c"])  # type: ignore[arg-type]
    small_k = in_c % 4 != 0 and taps <= SMALL_K_MAX
    pairs = (taps + 1) // 2
    wide = 4 * (SMALL_K_RECORD if pairs <= SMALL_K_REG_WORDS else pairs) * out_c if small_k else 0
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
