"""The one place where real values become int8 (or other integer) tensor values: TFLite's rounding.

TFLite's QUANTIZE kernel (reference_ops::AffineQuantize), TFLite Micro and our
firmware (nn_ref.c, `roundf`) compute ``q = round(real / scale) + zero_point``
in float32 and round halves *away from zero* (C's round()), then saturate.
numpy's ``np.round`` rounds halves to even, so a host that used it sent a
different byte than the board would compute whenever ``real / scale`` fell
exactly on a half (e.g. 2.5 -> 2 instead of 3). Every host-side quantization
(live preprocessing, validation, training reports, the compiler's constants)
goes through this module instead.
"""

from __future__ import annotations

import math

import numpy as np


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """Round to the nearest integer, halves away from zero (C's round()/roundf()), for any float input.

    Exact for every float: the fractional part ``x - trunc(x)`` is computed without
    rounding, so 0.49999999999999994 stays 0 (``floor(x + 0.5)`` would give 1).
    """
    x = np.asarray(x)
    whole = np.trunc(x)
    return np.where(np.abs(x - whole) >= 0.5, whole + np.sign(x), whole)


def round_half_away_int(x: float) -> int:
    """:func:`round_half_away` of one Python float, as an int (compile-time arithmetic)."""
    whole = math.trunc(x)
    return whole + (1 if x > 0 else -1) if abs(x - whole) >= 0.5 else whole


def quantize(real: np.ndarray | float, scale: float, zero_point: int, dtype: np.dtype | str = np.int8) -> np.ndarray:
    """Real values -> `dtype` as TFLite's QUANTIZE does: ``clamp(round_half_away(f32(real) / f32(scale)) + zp)``.

    The division is done in float32, like the kernel on the board, so that the host
    and the board agree bit for bit, ties included.
    """
    if not scale > 0:
        raise ValueError(f"quantization scale must be > 0, got {scale}")
    dtype = np.dtype(dtype)
    info = np.iinfo(dtype)
    ratio = np.asarray(real, np.float32) / np.float32(scale)
    q = round_half_away(ratio.astype(np.float64)) + int(zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor values -> float32 real values as TFLite's DEQUANTIZE: ``f32(scale * (q - zero_point))``."""
    exact = float(np.float32(scale)) * (np.asarray(q, np.float64) - int(zero_point))  # exact in float64
    return exact.astype(np.float32)
