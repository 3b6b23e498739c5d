/*
 * nn_opt_requant.c - the optimized kernels' out-of-line requantization helpers (the inline
 * forms are in nn_opt_internal.h). Contract of the arithmetic: nn_fx_requantize in
 * nn_fixedpoint.h, TFLite Micro's MultiplyByQuantizedMultiplier, bit for bit.
 */
#include "nn_kernels.h"

#if NN_OPTIMIZED

#include "nn_opt_internal.h"

int nn_opt_rq_prepare(const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t per_channel,
                      int32_t n, int32_t *tab) {
    const int fast = rq_fast_ok(shift, per_channel ? n : 1);
    for (int32_t c = 0; c < n; ++c, tab += RQ_WORDS) {
        const int32_t q = per_channel ? c : 0;
        tab[0] = bias ? bias[c] : 0;
        tab[1] = mult[q];
        tab[2] = fast ? (int32_t)1 << (-shift[q] - 2) : shift[q];
        tab[3] = fast ? -shift[q] - 1 : 0;
    }
    return fast;
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
int32_t nn_opt_rq_general(const int32_t *e, int32_t acc) {
    return nn_fx_requantize_nonneg(acc, e[1], e[2]);
}

#else
typedef int nn_opt_requant_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
