"""Quantization arithmetic done at compile time, exactly as TFLite Micro's Prepare() does it."""

from __future__ import annotations

import math

import numpy as np

from edgeloop.models.compiler.errors import UnsupportedError
from edgeloop.models.quantization import round_half_away_int

INT8_MIN, INT8_MAX = -128, 127


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real = m * 2^(shift - 31) with m a Q31 int32 (round half away)."""
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real):
        raise UnsupportedError(f"multiplier {real!r} is not a finite number (extreme quantization scales)")
    q, shift = math.frexp(real)
    m = int(math.floor(abs(q) * (1 << 31) + 0.5))  # exact: q * 2^31 has spare mantissa bits
    m = m if q >= 0 else -m
    if m == (1 << 31):
        m //= 2
        shift += 1
    if shift < -31:
        m, shift = 0, 0
    if not -(1 << 31) <= m < (1 << 31):
        raise UnsupportedError(f"multiplier {real!r} does not fit a Q31 integer")
    return m, shift


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLM CalculateActivationRangeQuantized for int8 (float32 division, as TFLM does)."""
    s = np.float32(scale)

    def q(x: float) -> int:
        return int(zero_point) + round_half_away_int(float(np.float32(x) / s))

    if activation == 0:  # NONE
        return INT8_MIN, INT8_MAX
    if activation == 1:  # RELU
        return max(INT8_MIN, q(0.0)), INT8_MAX
    if activation == 2:  # RELU_N1_TO_1
        return max(INT8_MIN, q(-1.0)), min(INT8_MAX, q(1.0))
    if activation == 3:  # RELU6
        return max(INT8_MIN, q(0.0)), min(INT8_MAX, q(6.0))
    raise UnsupportedError(f"fused activation {activation}")


def input_radius(integer_bits: int, left_shift: int, total_bits: int = 31) -> int:
    """TFLM CalculateInputRadius."""
    max_rescaled = math.ldexp(((1 << integer_bits) - 1) * (1 << (total_bits - integer_bits)), -left_shift)
    return int(math.floor(max_rescaled))


def wrap_int32(x: int) -> int:
    """Two's complement wrap of a Python int to int32."""
    return ((int(x) + (1 << 31)) % (1 << 32)) - (1 << 31)
