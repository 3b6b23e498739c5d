/*
 * el_test_dense.h - plain-loop int8 dense layer with TFLite Micro requantization,
 * for the hand-written test models (firmware/tests/models). Header-only so a
 * model file is self-contained for MODELS="...".
 *
 * Contract: el_test_dense() computes, per output channel c,
 *   acc = bias[c] + sum_i w[c*n_in + i] * (x[i] - x_zp)
 *   y   = MultiplyByQuantizedMultiplier(acc, mult[c], shift[c]) + y_zp
 *   out = clamp(y, act_min, 127)
 * with TFLite's double rounding (SaturatingRoundingDoublingHighMul, then a
 * rounding right shift), exactly as DESIGN.md section 4 states.
 *
 * Example: el_test_dense(x, 16, -128, w, b, m, s, y, 16, -128, -128);  // dense + ReLU
 */
#ifndef EL_TEST_DENSE_H
#define EL_TEST_DENSE_H

#include <stdint.h>

static inline int32_t el_test_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1ll << 30) : (1 - (1ll << 30));
    return (int32_t)((ab + nudge) / (1ll << 31)); /* C division truncates toward zero */
}

static inline int32_t el_test_rounding_shift(int32_t x, int exponent)
{
    int32_t mask = (int32_t)((1u << exponent) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t el_test_requantize(int32_t acc, int32_t mult, int32_t shift)
{
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    return el_test_rounding_shift(el_test_srdhm((int32_t)((uint32_t)acc << left), mult), right);
}

static inline void el_test_dense(const int8_t *x, int n_in, int32_t x_zp, const int8_t *w, const int32_t *bias,
                                 const int32_t *mult, const int32_t *shift, int8_t *y, int n_out, int32_t y_zp,
                                 int32_t act_min)
{
    for (int c = 0; c < n_out; c++) {
        int32_t acc = bias[c];
        for (int i = 0; i < n_in; i++) {
            acc += (int32_t)w[c * n_in + i] * ((int32_t)x[i] - x_zp);
        }
        int32_t v = el_test_requantize(acc, mult[c], shift[c]) + y_zp;
        v = v < act_min ? act_min : v;
        y[c] = (int8_t)(v > 127 ? 127 : v);
    }
}

#endif /* EL_TEST_DENSE_H */
