/*
 * nn_opt_fc.c - FULLY_CONNECTED for Cortex-M with the DSP extension. Contract: nn_kernels.h
 * (nn_fc_s8); the reference twin is nn_ref_fc_s8 (nn_ref.c), matched bit for bit. Path:
 * nn_fc_s8_path (nn_paths.c): DIRECT widens the input in registers (few outputs, no
 * scratch), two output rows per pass; WIDENED widens it once into scratch, four output rows
 * per pass when the input length is a multiple of 8 (then the last two or one), SMLAD.
 */
#include "nn_kernels.h"

#if NN_OPTIMIZED

#include "nn_opt_internal.h"

/* Requantize with (mult, shift) read directly, in the form chosen once per layer. */
NN_INLINE int32_t rq_direct(int32_t acc, int32_t mult, int32_t shift, int fast) {
    if (fast) return rq_fast(acc, mult, (int32_t)1 << (-shift - 2), -shift - 1);
    const int32_t e[3] = {0, mult, shift};
    return nn_opt_rq_general(e, acc);
}

/* The fully connected layer; one copy serves both requantization forms (code size). */
/* Two output rows' dot products over the input: from the widened vector `col` when
 * there is one (each group of 4 inputs stored as the pairs (0, 2), (1, 3); the tail
 * past the last full group is read from `x`), else widening each input word in registers (rows w0 and w1 may be the
 * same row for an odd last output). */
NN_INLINE void fc_pair(const int8_t *x, const int16_t *col, int32_t k_len, int32_t in_offset,
                    const int8_t *w0, const int8_t *w1, int32_t *a0, int32_t *a1) {
    int32_t s0 = *a0, s1 = *a1;
    int32_t i = 0;
#if NN_ASM
    /* Two groups of 4 inputs per pass from the widened vector: 24 instructions per 16 MACs. */
    if (col && k_len >= 8) {
        const int8_t *pa = w0, *pb = w1;
        const int16_t *pc = col;
        int32_t n = k_len >> 3;
        uint32_t x02, x13, y02, y13, wa, wb, t;
        __asm__ volatile(
            "1:\n\t"
            "ldr    %[wa], [%[pa]], #4\n\t"
            "ldr    %[wb], [%[pb]], #4\n\t"
            "ldrd   %[x02], %[x13], [%[pc]], #8\n\t"
            "sxtb16 %[t], %[wa]\n\t"
            "smlad  %[s0], %[t], %[x02], %[s0]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[s0], %[wa], %[x13], %[s0]\n\t"
            "sxtb16 %[t], %[wb]\n\t"
            "smlad  %[s1], %[t], %[x02], %[s1]\n\t"
            "sxtb16 %[wb], %[wb], ror #8\n\t"
            "smlad  %[s1], %[wb], %[x13], %[s1]\n\t"
            "ldr    %[wa], [%[pa]], #4\n\t"
            "ldr    %[wb], [%[pb]], #4\n\t"
            "ldrd   %[y02], %[y13], [%[pc]], #8\n\t"
            "sxtb16 %[t], %[wa]\n\t"
            "smlad  %[s0], %[t], %[y02], %[s0]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[s0], %[wa], %[y13], %[s0]\n\t"
            "sxtb16 %[t], %[wb]\n\t"
            "smlad  %[s1], %[t], %[y02], %[s1]\n\t"
            "sxtb16 %[wb], %[wb], ror #8\n\t"
            "smlad  %[s1], %[wb], %[y13], %[s1]\n\t"
            "subs   %[n], %[n], #1\n\t"
            "bne    1b\n\t"
            : [s0] "+r"(s0), [s1] "+r"(s1), [pa] "+r"(pa), [pb] "+r"(pb), [pc] "+r"(pc), [n] "+r"(n),
              [x02] "=&r"(x02), [x13] "=&r"(x13), [y02] "=&r"(y02), [y13] "=&r"(y13), [wa] "=&r"(wa),
              [wb] "=&r"(wb), [t] "=&r"(t)
            :
            : "cc", "memory");
        i = k_len & ~7;
    }
#endif
    if (col) {
        for (const int16_t *c = col + i; i + 4 <= k_len; i += 4, c += 4) {
            const uint32_t wa = nn_read32(w0 + i), wb = nn_read32(w1 + i);
            const uint32_t x02 = nn_read32(c), x13 = nn_read32(c + 2);
            s0 = nn_smlad(nn_sxtb16(wa), x02, s0);
            s0 = nn_smlad(nn_sxtb16_ror8(wa), x13, s0);
            s1 = nn_smlad(nn_sxtb16(wb), x02, s1);
            s1 = nn_smlad(nn_sxtb16_ror8(wb), x13, s1);
        }
    } else {
        const uint32_t off2 = nn_dup16(in_offset);
        for (; i + 4 <= k_len; i += 4) {
            const uint32_t v = nn_read32(x + i), wa = nn_read32(w0 + i), wb = nn_read32(w1 + i);
            const uint32_t x02 = nn_sadd16(nn_sxtb16(v), off2), x13 = nn_sadd16(nn_sxtb16_ror8(v), off2);
            s0 = nn_smlad(nn_sxtb16(wa), x02, s0);
            s0 = nn_smlad(nn_sxtb16_ror8(wa), x13, s0);
            s1 = nn_smlad(nn_sxtb16(wb), x02, s1);
            s1 = nn_smlad(nn_sxtb16_ror8(wb), x13, s1);
        }
    }
    for (; i < k_len; ++i) {
        const int32_t xv = x[i] + in_offset;
        s0 += w0[i] * xv;
        s1 += w1[i] * xv;
    }
    *a0 = s0;
    *a1 = s1;
}

#if NN_ASM
/* One group of 4 inputs (the widened pairs x02, x13) times row ROW's next weight word, into S:
 * 5 instructions per 4 MACs. */
#define NN_FC_ROW(S, LOAD)                            \
    LOAD                                              \
    "sxtb16 %[t], %[v]\n\t"                           \
    "smlad  %[" S "], %[t], %[x02], %[" S "]\n\t"     \
    "sxtb16 %[v], %[v], ror #8\n\t"                   \
    "smlad  %[" S "], %[v], %[x13], %[" S "]\n\t"
/* ... all four rows: rows 1 and 3 at [row 0 or row 2 + k_len], then rows 0 and 2 post-incremented:
 * 21 instructions per 16 MACs. */
#define NN_FC_QUAD_GROUP                              \
    "ldrd   %[x02], %[x13], [%[px]], #8\n\t"          \
    NN_FC_ROW("s1", "ldr    %[v], [%[pa], %[k]]\n\t") \
    NN_FC_ROW("s0", "ldr    %[v], [%[pa]], #4\n\t")   \
    NN_FC_ROW("s3", "ldr    %[v], [%[pc], %[k]]\n\t") \
    NN_FC_ROW("s2", "ldr    %[v], [%[pc]], #4\n\t")
#endif

/* Four output rows' dot products (rows w, w + k_len, w + 2 k_len, w + 3 k_len) over the widened
 * input `col`, k_len a multiple of 8, added to acc[0..3]: each input pair loaded once for the four
 * rows (the assembly loop: two groups of 4 inputs per pass, 44 instructions per 32 MACs, against
 * 24 per 16 for two rows). */
NN_INLINE void fc_quad(const int16_t *col, int32_t k_len, const int8_t *w, int32_t *acc) {
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
#if NN_ASM
    const int8_t *pa = w, *pc = w + 2 * k_len;
    const int16_t *px = col;
    int32_t n = k_len >> 3;
    uint32_t x02, x13, v, t;
    __asm__ volatile(
        "1:\n\t"
        NN_FC_QUAD_GROUP
        NN_FC_QUAD_GROUP
        "subs   %[n], %[n], #1\n\t"
        "bne    1b\n\t"
        : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [pa] "+r"(pa), [pc] "+r"(pc),
          [px] "+r"(px), [n] "+r"(n), [x02] "=&r"(x02), [x13] "=&r"(x13), [v] "=&r"(v), [t] "=&r"(t)
        : [k] "r"(k_len)
        : "cc", "memory");
#else
    for (int32_t i = 0; i < k_len; i += 4) {
        const uint32_t x02 = nn_read32(col + i), x13 = nn_read32(col + i + 2);
        const uint32_t w0 = nn_read32(w + i), w1 = nn_read32(w + k_len + i);
        const uint32_t w2 = nn_read32(w + 2 * k_len + i), w3 = nn_read32(w + 3 * k_len + i);
        s0 = nn_smlad(nn_sxtb16_ror8(w0), x13, nn_smlad(nn_sxtb16(w0), x02, s0));
        s1 = nn_smlad(nn_sxtb16_ror8(w1), x13, nn_smlad(nn_sxtb16(w1), x02, s1));
        s2 = nn_smlad(nn_sxtb16_ror8(w2), x13, nn_smlad(nn_sxtb16(w2), x02, s2));
        s3 = nn_smlad(nn_sxtb16_ror8(w3), x13, nn_smlad(nn_sxtb16(w3), x02, s3));
    }
#endif
    acc[0] = s0;
    acc[1] = s1;
    acc[2] = s2;
    acc[3] = s3;
}

static void fc_body(const nn_fc_params_t *p, const int8_t *in, int8_t *out, int16_t *col, int fast) {
    const int32_t k_len = p->in_features, n_out = p->out_features;
    const int32_t in_offset = p->in_offset, zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t qstep = p->per_channel ? 1 : 0;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    if (nn_fc_s8_path(p) == NN_FC_PATH_DIRECT) col = NULL;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * k_len;
        if (col) {
            const uint32_t off2 = nn_dup16(in_offset);
            int32_t k = 0;
            for (; k + 4 <= k_len; k += 4) {
                const uint32_t v = nn_read32(x + k);
                nn_write32(col + k, nn_sadd16(nn_sxtb16(v), off2));
                nn_write32(col + k + 2, nn_sadd16(nn_sxtb16_ror8(v), off2));
            }
        }
        int8_t *o = out + b * n_out;
        int32_t n = 0;
        /* four rows per pass from the widened input when k_len is a multiple of 8 ... */
        for (; col && (k_len & 7) == 0 && n + 4 <= n_out; n += 4) {
            int32_t acc[4];
            for (int32_t j = 0; j < 4; ++j) acc[j] = bias ? bias[n + j] : 0;
            fc_quad(col, k_len, p->weights + n * k_len, acc);
            for (int32_t j = 0; j < 4; ++j) {
                const int32_t q = (n + j) * qstep;
                o[n + j] = sat_out(rq_direct(acc[j], mult[q], shift[q], fast), zo, lo, hi);
            }
        }
        for (; n < n_out; n += 2) {   /* ... else (and the last rows) two */
            const int two = n + 1 < n_out;
            const int8_t *w0 = p->weights + n * k_len;
            int32_t a0 = bias ? bias[n] : 0, a1 = (bias && two) ? bias[n + 1] : 0;
            fc_pair(x, col, k_len, in_offset, w0, two ? w0 + k_len : w0, &a0, &a1);
            const int32_t q0 = n * qstep;
            o[n] = sat_out(rq_direct(a0, mult[q0], shift[q0], fast), zo, lo, hi);
            if (two) {
                const int32_t q1 = (n + 1) * qstep;
                o[n + 1] = sat_out(rq_direct(a1, mult[q1], shift[q1], fast), zo, lo, hi);
            }
        }
    }
}

void nn_opt_fc_s8(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    fc_body(p, in, out, (int16_t *)scratch, rq_fast_ok(p->shift, p->per_channel ? p->out_features : 1));
}

#else
typedef int nn_opt_fc_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
