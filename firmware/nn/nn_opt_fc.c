/*
 * nn_opt_fc.c - FULLY_CONNECTED for Cortex-M with the DSP extension. Contract: nn_kernels.h
 * (nn_fc_s8); the reference twin is nn_ref_fc_s8 (nn_ref.c), matched bit for bit. Path:
 * nn_fc_s8_path (nn_paths.c): DIRECT widens the input in registers (few outputs, no
 * scratch), two output rows per pass; WIDENED widens it once into scratch, two rows per pass,
 * SMLAD; FUSED (input length a multiple of 8, right shifts of 2..31) widens it the same way, runs
 * four output rows per pass and requantizes each output in seven instructions (rq_fast_zp, nn_opt_internal.h), the
 * four results packed into one word for the clamp and the store (the last rows two per pass).
 */
#include <stddef.h>

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

/* Path FUSED, portable form of the four-row pass: rows w, w + k_len, w + 2 k_len, w + 3 k_len dotted
 * with the widened input `col` (k_len a multiple of 4), added to acc[0..3]. On Arm, fc_quads_asm. */
NN_INLINE void fc_quad(const int16_t *col, int32_t k_len, const int8_t *w, int32_t *acc) {
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
    for (int32_t i = 0; i < k_len; i += 4) {
        const uint32_t x02 = nn_read32(col + i), x13 = nn_read32(col + i + 2);
        const uint32_t w0 = nn_read32(w + i), w1 = nn_read32(w + k_len + i);
        const uint32_t w2 = nn_read32(w + 2 * k_len + i), w3 = nn_read32(w + 3 * k_len + i);
        s0 = nn_smlad(nn_sxtb16_ror8(w0), x13, nn_smlad(nn_sxtb16(w0), x02, s0));
        s1 = nn_smlad(nn_sxtb16_ror8(w1), x13, nn_smlad(nn_sxtb16(w1), x02, s1));
        s2 = nn_smlad(nn_sxtb16_ror8(w2), x13, nn_smlad(nn_sxtb16(w2), x02, s2));
        s3 = nn_smlad(nn_sxtb16_ror8(w3), x13, nn_smlad(nn_sxtb16(w3), x02, s3));
    }
    acc[0] = s0;
    acc[1] = s1;
    acc[2] = s2;
    acc[3] = s3;
}

/* The input vector x[0..k_len) plus in_offset, widened to int16 into col: each group of 4 inputs
 * stored as the pairs (0, 2), (1, 3), the SXTB16 order the weights unpack to (a tail past the last
 * full group is read from x by the loops). */
static void fc_widen(const int8_t *x, int32_t k_len, int32_t in_offset, int16_t *col) {
    const uint32_t off2 = nn_dup16(in_offset);
    int32_t k = 0;
    for (; k + 8 <= k_len; k += 8) {   /* two groups per step (path FUSED: all of them) */
        const uint32_t v = nn_read32(x + k), v2 = nn_read32(x + k + 4);
        nn_write32(col + k, nn_sadd16(nn_sxtb16(v), off2));
        nn_write32(col + k + 2, nn_sadd16(nn_sxtb16_ror8(v), off2));
        nn_write32(col + k + 4, nn_sadd16(nn_sxtb16(v2), off2));
        nn_write32(col + k + 6, nn_sadd16(nn_sxtb16_ror8(v2), off2));
    }
    if (k + 4 <= k_len) {
        const uint32_t v = nn_read32(x + k);
        nn_write32(col + k, nn_sadd16(nn_sxtb16(v), off2));
        nn_write32(col + k + 2, nn_sadd16(nn_sxtb16_ror8(v), off2));
    }
}

/* Paths DIRECT and WIDENED, and path FUSED's last n_out % 4 rows: rows first.. two per pass, requantized
 * in C in the form chosen once per call. */
static void fc_body(const nn_fc_params_t *p, const int8_t *in, int8_t *out, int16_t *col, int fast, int32_t first) {
    const int32_t k_len = p->in_features, n_out = p->out_features;
    const int32_t in_offset = p->in_offset, zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t qstep = p->per_channel ? 1 : 0;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    if (nn_fc_s8_path(p) == NN_FC_PATH_DIRECT) col = NULL;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * k_len;
        if (col) fc_widen(x, k_len, in_offset, col);
        int8_t *o = out + b * n_out;
        for (int32_t n = first; n < n_out; n += 2) {
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

#if NN_ASM
/* Path FUSED's state for fc_quads_asm: one batch's passes of four rows, in the order its LDMs read it;
 * the pointers are advanced by it. Per-tensor layers point mult and shift at four copies (q_step 0). */
typedef struct {
    const int8_t *w;         /*  0: the pass's first row, advanced by 4 k_len */
    const int16_t *col;      /*  4: the widened input */
    int32_t k_len;           /*  8: a multiple of 8 */
    const int32_t *bias;     /* 12: advanced by bias_step */
    int32_t bias_step;       /* 16: 16, or 0 without a bias (bias then points at four zeros) */
    int32_t iters;           /* 20: (k_len + 8) / 16, iterations of the four-group loop */
    const int32_t *mult;     /* 24: advanced by q_step */
    const int32_t *shift;    /* 28: advanced by q_step */
    int32_t zo2p1;           /* 32: 2 zo + 1 */
    int32_t two30;           /* 36: 2^30 (rq_fast_zp's K) */
    int32_t minus2;          /* 40: -2 (rq_fast_zp's M2) */
    int32_t q_step;          /* 44: 16 per channel, else 0 */
    int8_t *out;             /* 48: advanced by 4 */
    int8_t *out_end;         /* 52: out + 4 * passes (at least one) */
    int32_t clamp;           /* 56: nonzero when [act_min, act_max] is narrower than int8 */
    uint32_t lo4, hi4;       /* 60, 64: act_min, act_max in each byte */
} fc_quads_t;
_Static_assert(offsetof(fc_quads_t, bias) == 12 && offsetof(fc_quads_t, mult) == 24 &&
               offsetof(fc_quads_t, minus2) == 40 && offsetof(fc_quads_t, out) == 48 &&
               offsetof(fc_quads_t, lo4) == 60, "fc_quads_asm reads fc_quads_t at these offsets");

/* One row's next weight word times the widened pair (r9 = x02, r10 = x13) into S: 5 instructions per
 * 4 MACs (r11, r12 scratch). */
#define FC_ROW(S, LOAD) LOAD "\n\t"                                              \
    "sxtb16 r12, r11\n\tsmlad  " S ", r12, r9, " S "\n\t"                        \
    "sxtb16 r11, r11, ror #8\n\tsmlad  " S ", r11, r10, " S "\n\t"
/* A group of 4 inputs for the four rows (r0..r3; rows 1 and 3 at [row 0 or 2 + k_len]): 21
 * instructions per 16 MACs. */
#define FC_GROUP "ldrd   r9, r10, [r6], #8\n\t"                                  \
    FC_ROW("r1", "ldr    r11, [r4, r7]") FC_ROW("r0", "ldr    r11, [r4], #4")   \
    FC_ROW("r3", "ldr    r11, [r5, r7]") FC_ROW("r2", "ldr    r11, [r5], #4")
/* Requantize accumulator A with multiplier M and exponent E into A (rq_fast_zp's text; r4, r5 scratch,
 * r6 = 2 zo + 1, r7 = 2^30, r8 = -2). */
#define FC_RQ(A, M, E) RQ_FAST_ZP_TEXT(A, "r4", "r5", M, E, "r7", "r8", "r6", A)
/* All passes of four rows of one batch (fc_quads_t *q in r0), whole in assembly so that all 14
 * registers serve: the bias loaded into the accumulators, the dot-product loop (four groups of 4
 * inputs per iteration, 86 instructions per 64 MACs, entered halfway when k_len % 16 == 8), the four requantizations, the packing,
 * the clamp of the four bytes (SSUB8 + SEL, skipped without a clamp narrower than int8) and one word store: about 65 instructions per pass
 * besides the loop, against about 170 for the same in C. */
__attribute__((naked, noinline)) static void fc_quads_asm(fc_quads_t *q) {
    (void)q;
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "mov    lr, r0\n"
        "1:\n\t"
        "ldm    lr, {r4, r6, r7, r8, r9}\n\t"   /* w, col, k_len, bias, bias_step */
        "ldm    r8, {r0-r3}\n\t"
        "add    r8, r8, r9\n\t"
        "str    r8, [lr, #12]\n\t"
        "add    r5, r4, r7, lsl #1\n\t"
        "ldr    r8, [lr, #20]\n\t"
        "tst    r7, #8\n\t"                 /* k_len % 16 == 8: the first iteration runs two groups */
        "bne    3f\n"
        "2:\n\t"
        FC_GROUP
        FC_GROUP
        "3:\n\t"
        FC_GROUP
        FC_GROUP
        "subs   r8, r8, #1\n\t"
        "bne    2b\n\t"
        "add    r4, r5, r7\n\t"             /* row 2 + k_len + k_len: the next pass's row 0 */
        "str    r4, [lr]\n\t"
        "add    r9, lr, #24\n\t"
        "ldm    r9, {r4-r8}\n\t"            /* mult, shift, 2 zo + 1, 2^30, -2 */
        "ldrd   r9, r10, [r4]\n\t"
        "ldrd   r11, r12, [r5]\n\t"
        FC_RQ("r0", "r9", "r11")
        FC_RQ("r1", "r10", "r12")
        "ldrd   r4, r5, [lr, #24]\n\t"
        "ldrd   r9, r10, [r4, #8]\n\t"
        "ldrd   r11, r12, [r5, #8]\n\t"
        FC_RQ("r2", "r9", "r11")
        FC_RQ("r3", "r10", "r12")
        "bfi    r0, r1, #8, #8\n\t"
        "bfi    r0, r2, #16, #8\n\t"
        "bfi    r0, r3, #24, #8\n\t"
        "ldr    r4, [lr, #56]\n\t"
        "cbz    r4, 4f\n\t"
        "ldrd   r9, r10, [lr, #60]\n\t"
        "ssub8  r11, r0, r9\n\t"
        "sel    r0, r0, r9\n\t"
        "ssub8  r11, r0, r10\n\t"
        "sel    r0, r10, r0\n"
        "4:\n\t"
        "ldrd   r4, r5, [lr, #24]\n\t"
        "ldr    r9, [lr, #44]\n\t"
        "add    r4, r4, r9\n\t"
        "add    r5, r5, r9\n\t"
        "strd   r4, r5, [lr, #24]\n\t"
        "ldrd   r11, r12, [lr, #48]\n\t"    /* out, out_end */
        "str    r0, [r11], #4\n\t"
        "str    r11, [lr, #48]\n\t"
        "cmp    r11, r12\n\t"
        "bne    1b\n\t"
        "pop    {r4-r11, pc}\n\t");
}
#endif

/* Path FUSED: passes of four rows, each pass's four outputs requantized by rq_fast_zp, packed into
 * one word, clamped four at a time and stored as one word (on Arm all in fc_quads_asm). The last
 * n_out % 4 rows are left to fc_body. */
static NN_NOINLINE void fc_fused(const nn_fc_params_t *p, const int8_t *in, int8_t *out, int16_t *col) {
    const int32_t k_len = p->in_features, n_out = p->out_features;
    const int32_t zo2p1 = 2 * p->out_offset + 1, qstep = p->per_channel ? 1 : 0;
    const uint32_t lo4 = nn_dup8(p->act_min), hi4 = nn_dup8(p->act_max);
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
#if NN_ASM
    const int32_t m4[4] = {mult[0], mult[0], mult[0], mult[0]}, e4[4] = {shift[0], shift[0], shift[0], shift[0]};
    static const int32_t zeros[4];
#endif
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * k_len;
        fc_widen(x, k_len, p->in_offset, col);
        int8_t *o = out + b * n_out;
        const int32_t n = n_out & ~3;   /* n_out > FC_DIRECT_MAX_ROWS: at least one pass */
#if NN_ASM
        {
            fc_quads_t q = {p->weights, col, k_len, bias ? bias : zeros, bias ? 16 : 0, (k_len + 8) >> 4, qstep ? mult : m4, qstep ? shift : e4,
                            zo2p1, 0x40000000, -2, 16 * qstep, o, o + n, p->act_min > -128 || p->act_max < 127,
                            lo4, hi4};
            fc_quads_asm(&q);
        }
#else
        for (int32_t r = 0; r < n; r += 4) {
            int32_t acc[4];
            for (int32_t j = 0; j < 4; ++j) acc[j] = bias ? bias[r + j] : 0;
            fc_quad(col, k_len, p->weights + r * k_len, acc);
            uint32_t packed = 0;
            for (int32_t j = 0; j < 4; ++j) {
                const int32_t q = (r + j) * qstep;
                packed |= (uint32_t)(uint8_t)rq_fast_zp(acc[j], mult[q], shift[q], zo2p1) << (8 * j);
            }
            nn_write32(o + r, nn_min_s8x4(nn_max_s8x4(packed, lo4), hi4));
        }
#endif
    }
}

/* One entry per group of paths (nn_kernels.h): generated C calls its layer's, so a model without a FUSED
 * layer does not link fc_fused; nn_opt_fc_s8 dispatches (containers, hand-written calls). */
void nn_opt_fc_s8_rows(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    /* paths DIRECT and WIDENED */
    fc_body(p, in, out, (int16_t *)scratch, rq_fast_ok(p->shift, p->per_channel ? p->out_features : 1), 0);
}

void nn_opt_fc_s8_fused(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const int32_t n_out = p->out_features, first = n_out & ~3;
    fc_fused(p, in, out, (int16_t *)scratch);
    if (first == n_out) return;
    fc_body(p, in, out, (int16_t *)scratch, rq_fast_ok(p->shift, p->per_channel ? n_out : 1), first);
}

void nn_opt_fc_s8(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    if (nn_fc_s8_path(p) == NN_FC_PATH_FUSED) {
        nn_opt_fc_s8_fused(p, in, out, scratch);
    } else {
        nn_opt_fc_s8_rows(p, in, out, scratch);
    }
}

#else
typedef int nn_opt_fc_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
