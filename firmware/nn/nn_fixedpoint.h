/*
 * nn_fixedpoint.h - fixed-point arithmetic shared by the int8 kernels.
 *
 * Purpose: the integer primitives TFLite Micro's int8 kernels are defined
 * with, as static inline functions so that kernels can inline them: the
 * saturating rounding doubling high multiply (SRDHM), the rounding right
 * shift, requantization with double rounding, and the Q-format exp(x<0) and
 * 1/(1+x) used by softmax and logistic.
 *
 * Contract: every function is total (defined for all int32 inputs; overflow
 * wraps as two's complement, computed through uint32_t so C has no undefined
 * behaviour) and bit-exact with the TFLM/gemmlowp definition of the same name.
 *
 * Example:
 *     int32_t y = nn_fx_requantize(acc, 1518500250, -7) + out_zp;
 */
#ifndef NN_FIXEDPOINT_H
#define NN_FIXEDPOINT_H

#include <stdint.h>

static inline int32_t nn_fx_wrap_add(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t nn_fx_wrap_sub(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

static inline int32_t nn_fx_shl(int32_t a, int s) {
    return (int32_t)((uint32_t)a << s);
}

/* TFLM SaturatingRoundingDoublingHighMul: (a*b + nudge) / 2^31 truncated, with
 * nudge = 2^30 for a*b >= 0 and 1 - 2^30 otherwise. For a*b < 0, truncating
 * (a*b + 1 - 2^30) / 2^31 equals flooring (a*b + 2^30) / 2^31, so both signs are
 * one add and one arithmetic shift (SMULL, ADDS, ADC, 2 shifts on Cortex-M).
 * The single overflow case, INT32_MIN * INT32_MIN, saturates. */
static inline int32_t nn_fx_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    return (int32_t)((ab + (1LL << 30)) >> 31);  /* >> of a negative int64 is arithmetic on every target we build for */
}

/* Round-half-away-from-zero division by 2^exponent (0 <= exponent <= 31). */
static inline int32_t nn_fx_rdivpot(int32_t x, int exponent) {
    int32_t mask = (int32_t)((1LL << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLM MultiplyByQuantizedMultiplier: left shift, SRDHM, rounding right shift. */
static inline int32_t nn_fx_requantize(int32_t x, int32_t mult, int32_t shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return nn_fx_rdivpot(nn_fx_srdhm(nn_fx_shl(x, left), mult), right);
}

/* nn_fx_requantize for a non-negative multiplier (every conv/FC multiplier the
 * compiler emits is 0 or in [2^30, 2^31)): SRDHM cannot saturate then, and the
 * rounding shift is done without branches. Same results, about half the code. */
static inline int32_t nn_fx_requantize_nonneg(int32_t x, int32_t mult, int32_t shift) {
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    const int64_t ab = (int64_t)nn_fx_shl(x, left) * (int64_t)mult;
    const int32_t h = (int32_t)((ab + (1LL << 30)) >> 31);
    const int32_t mask = (int32_t)((1u << right) - 1u);
    const int32_t threshold = (mask >> 1) + (int32_t)((uint32_t)h >> 31);
    return (h >> right) + ((h & mask) > threshold);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent. */
static inline int32_t nn_fx_sat_shl(int32_t x, int exponent) {
    const int32_t threshold = (int32_t)((1LL << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return nn_fx_shl(x, exponent);
}

/* exp(x) for x in [-1/4, 0), Q0.31 in and out. */
static inline int32_t nn_fx_exp_quarter(int32_t a) {
    const int32_t constant_term = 1895147668;  /* exp(-1/8) */
    const int32_t one_third = 715827883;
    int32_t x = nn_fx_wrap_add(a, 1 << 28);    /* a + 1/8 */
    int32_t x2 = nn_fx_srdhm(x, x);
    int32_t x3 = nn_fx_srdhm(x2, x);
    int32_t x4 = nn_fx_srdhm(x2, x2);
    int32_t x4_over_4 = nn_fx_rdivpot(x4, 2);
    int32_t poly = nn_fx_rdivpot(
        nn_fx_wrap_add(nn_fx_srdhm(nn_fx_wrap_add(x4_over_4, x3), one_third), x2), 1);
    return nn_fx_wrap_add(constant_term, nn_fx_srdhm(constant_term, nn_fx_wrap_add(x, poly)));
}

/* exp(a) for a <= 0 given with `integer_bits` integer bits; result Q0.31. */
static inline int32_t nn_fx_exp_on_negative(int32_t a, int integer_bits) {
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                           39332535, 720401, 242};
    const int frac_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t mask = one_quarter - 1;
    int32_t a_mod_quarter_minus_quarter = nn_fx_wrap_sub(a & mask, one_quarter);
    int32_t result = nn_fx_exp_quarter(nn_fx_sat_shl(a_mod_quarter_minus_quarter, integer_bits));
    int32_t remainder = nn_fx_wrap_sub(a_mod_quarter_minus_quarter, a);
    for (int e = -2; e <= 4; ++e) {
        if (integer_bits > e && (remainder & (int32_t)(1u << (frac_bits + e)))) {
            result = nn_fx_srdhm(result, multipliers[e + 2]);
        }
    }
    if (integer_bits > 5) {
        const int32_t clamp = -((int32_t)1 << (36 - integer_bits));
        if (a < clamp) result = 0;
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson, 3 steps). */
static inline int32_t nn_fx_one_over_one_plus_x(int32_t a) {
    int64_t sum = (int64_t)a + INT32_MAX;
    int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t c48_17 = 1515870810, cneg32_17 = -1010580540;  /* Q2.29 */
    int32_t x = nn_fx_wrap_add(c48_17, nn_fx_srdhm(half_denominator, cneg32_17));
    for (int i = 0; i < 3; ++i) {
        int32_t hdx = nn_fx_srdhm(half_denominator, x);
        int32_t one_minus = nn_fx_wrap_sub((int32_t)1 << 29, hdx);
        x = nn_fx_wrap_add(x, nn_fx_sat_shl(nn_fx_srdhm(x, one_minus), 2));
    }
    return nn_fx_sat_shl(x, 1);
}

static inline int nn_fx_clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

static inline int32_t nn_fx_clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif /* NN_FIXEDPOINT_H */
