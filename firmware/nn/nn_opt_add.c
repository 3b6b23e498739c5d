/*
 * nn_opt_add.c - ADD for Cortex-M with the DSP extension. Contract: nn_kernels.h (nn_add_s8);
 * the reference twin is nn_ref_add_s8 (nn_ref.c), matched bit for bit. Path: nn_add_s8_path
 * (nn_paths.c).
 *
 * TFLM's ADD rescales both inputs to a common scale (left shift 20, then a requantization each)
 * and requantizes their sum: three requantizations per element. An input's rescaling depends on
 * its int8 value alone, so the compiler emits it as a 256-entry table per input
 * (nn_add_s8_rescale_table, 2x the value) and each rescaling becomes a load. The sum s is then
 * requantized in the SMMLAR form: SRDHM(s, m) = floor((2s * m + 2^31) / 2^32) is SMMLAR of 2s
 * (the tables hold it doubled) with the rounding addend 2^(r-1) + (zo << r) riding in its
 * accumulate operand, and the rounding right shift is (h - [s < 0]) >> r: [s < 0] stands for
 * [h < 0], which differs only where h = 0 and both give zo. Per element on Cortex-M:
 * 2 LDRSB, 2 LDR, ADD, SMMLAR, ADD, ASR, SSAT, STRB, and half a loop branch.
 */
#include "nn_kernels.h"

#if NN_OPTIMIZED

#include "nn_opt_internal.h"

/* acc + round(a * b / 2^32), SMMLAR. */
static inline int32_t smmlar(int32_t a, int32_t b, int32_t acc) {
    const uint64_t t = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * b) + 0x80000000u;
    return (int32_t)(t >> 32);
}

/* n >= 1 elements of the fused path: tables t1, t2 biased by 128 entries (indexed by the int8
 * value), output multiplier mo, addend rnd (rounding and zero point), right shift r. */
static void add_fused(const int8_t *x1, const int8_t *x2, int8_t *o, int32_t n, const int32_t *t1,
                      const int32_t *t2, int32_t mo, int32_t rnd, int32_t r) {
#if NN_ASM
    int32_t a, b, c, d;
    if (n & 1) {
        __asm__ volatile(
            "ldrsb  %[a], [%[x1]], #1\n\t"
            "ldrsb  %[b], [%[x2]], #1\n\t"
            "ldr    %[a], [%[t1], %[a], lsl #2]\n\t"
            "ldr    %[b], [%[t2], %[b], lsl #2]\n\t"
            "add    %[a], %[a], %[b]\n\t"
            "smmlar %[b], %[a], %[mo], %[rnd]\n\t"
            "add    %[b], %[b], %[a], asr #31\n\t"
            "asr    %[b], %[b], %[r]\n\t"
            "ssat   %[b], #8, %[b]\n\t"
            "strb   %[b], [%[o]], #1\n\t"
            : [x1] "+r"(x1), [x2] "+r"(x2), [o] "+r"(o), [a] "=&r"(a), [b] "=&r"(b)
            : [t1] "r"(t1), [t2] "r"(t2), [mo] "r"(mo), [rnd] "r"(rnd), [r] "r"(r)
            : "memory");
    }
    n >>= 1;
    if (n > 0) {
        __asm__ volatile(
            "1:\n\t"
            "ldrsb  %[a], [%[x1]], #1\n\t"
            "ldrsb  %[b], [%[x2]], #1\n\t"
            "ldrsb  %[c], [%[x1]], #1\n\t"
            "ldrsb  %[d], [%[x2]], #1\n\t"
            "ldr    %[a], [%[t1], %[a], lsl #2]\n\t"
            "ldr    %[b], [%[t2], %[b], lsl #2]\n\t"
            "ldr    %[c], [%[t1], %[c], lsl #2]\n\t"
            "ldr    %[d], [%[t2], %[d], lsl #2]\n\t"
            "add    %[a], %[a], %[b]\n\t"
            "add    %[c], %[c], %[d]\n\t"
            "smmlar %[b], %[a], %[mo], %[rnd]\n\t"
            "smmlar %[d], %[c], %[mo], %[rnd]\n\t"
            "add    %[b], %[b], %[a], asr #31\n\t"
            "add    %[d], %[d], %[c], asr #31\n\t"
            "asr    %[b], %[b], %[r]\n\t"
            "asr    %[d], %[d], %[r]\n\t"
            "ssat   %[b], #8, %[b]\n\t"
            "ssat   %[d], #8, %[d]\n\t"
            "strb   %[b], [%[o]], #1\n\t"
            "strb   %[d], [%[o]], #1\n\t"
            "subs   %[n], %[n], #1\n\t"
            "bne    1b\n\t"
            : [x1] "+r"(x1), [x2] "+r"(x2), [o] "+r"(o), [n] "+r"(n), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c),
              [d] "=&r"(d)
            : [t1] "r"(t1), [t2] "r"(t2), [mo] "r"(mo), [rnd] "r"(rnd), [r] "r"(r)
            : "cc", "memory");
    }
#else
    for (int32_t i = 0; i < n; ++i) {
        const int32_t s2 = t1[x1[i]] + t2[x2[i]];
        const int32_t h = smmlar(s2, mo, rnd) + (s2 >> 31);
        o[i] = (int8_t)nn_ssat8(h >> r);
    }
#endif
}

void nn_opt_add_s8(const nn_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
    const nn_add_path_t path = nn_add_s8_path(p);
    if (path == NN_ADD_PATH_BROADCAST) {
        nn_ref_add_s8(p, in1, in2, out);
        return;
    }
    const int32_t n = p->out_dims[0] * p->out_dims[1] * p->out_dims[2] * p->out_dims[3];
    const int32_t *t1 = p->in1_table + 128, *t2 = p->in2_table + 128;
    if (path == NN_ADD_PATH_FUSED) {
        const int32_t r = -p->out_shift;
        const int32_t rnd = (int32_t)(((uint32_t)1 << (r - 1)) + ((uint32_t)p->out_offset << r));
        if (n > 0) add_fused(in1, in2, out, n, t1, t2, p->out_mult, rnd, r);
        return;
    }
    for (int32_t i = 0; i < n; ++i) {   /* the tables' values are even: halving is exact */
        const int32_t s = (t1[in1[i]] + t2[in2[i]]) / 2;
        const int32_t v = nn_fx_requantize(s, p->out_mult, p->out_shift) + p->out_offset;
        out[i] = (int8_t)nn_fx_clamp(v, p->act_min, p->act_max);
    }
}

#else
typedef int nn_opt_add_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
