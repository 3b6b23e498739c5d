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


def conv_scratch_bytes(p: Mapping[str, object]) -> int:
    """Two int16 im2col columns of k_h*k_w*in_c taps, padded to a multiple of 4, and the
    per-channel requantization table."""
    taps = int(p["k_h"]) * int(p["k_w"]) * int(p["in_c"])  # type: ignore[arg-type]
    return 2 * 2 * _align4(taps) + RQ_ENTRY_BYTES * int(p["out_c"])  # type: ignore[arg-type]


def depthwise_scratch_bytes(p: Mapping[str, object]) -> int:
    """The per-channel requantization table and the biases with the input offset folded in."""
    return (RQ_ENTRY_BYTES + 4) * int(p["out_c"])  # type: ignore[arg-type]


def fc_scratch_bytes(p: Mapping[str, object]) -> int:
    """The input vector widened to int16 with its offset added."""
    return 2 * _align4(int(p["in_features"]))  # type: ignore[arg-type]
