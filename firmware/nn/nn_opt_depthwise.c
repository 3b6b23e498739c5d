/*
 * nn_opt_depthwise.c - DEPTHWISE_CONV_2D for Cortex-M with the DSP extension. Contract:
 * nn_kernels.h (nn_depthwise_conv2d_s8); the reference twin is nn_ref_depthwise_conv2d_s8
 * (nn_ref.c), matched bit for bit. Path: nn_depthwise_conv2d_s8_path (nn_paths.c).
 *
 * Path ROWS3 (3x3, multiplier 1, lines of at least 4 outputs; a line is a row, or a column when the
 * output is taller than wide): channels in groups of 4, whose input lines are gathered once into a
 * ring of 3 slots of int16 lines (SXTB16 on 4 channels at a time; the input offset folded into the
 * bias, the padding -in_offset), then per line one naked assembly function for the group's channels, four
 * outputs per pass: the 3x3 taps as SMLAD on tap pairs (33 instructions per 36 MACs at stride 1, 36 at
 * stride 2) and the requantization in the same pass (doubled accumulators: one SMMLAR per output,
 * rq_dbl; 60 instructions per pass at stride 1, 63 at stride 2); at stride 2 across the lines a full
 * group gathers an output line's two new input lines with one call (dw3_group_s2_across); it may run in place
 * (nn_depthwise_conv2d_s8_in_place). Path PLANE3 (3x3, multiplier 1, maps of at most DW_PLANE3_MAX
 * outputs a side): per group of 4 channels the input is widened once (SXTAB16, the input offset added)
 * into a plane with a zero border, so any window can be computed whole; an assembly function per output
 * row runs its windows, 9 taps of 4 channels (54 instructions per 36 MACs) and the fused requantization
 * (rq_dbl) per window, and skips the taps that lie on padding: the first/last output row drops its
 * padded kernel row, the first/last window of a row its padded kernel column (a 6x6 SAME map computes
 * 256 of its 324 taps, a 3x3 one 49 of 81); it may run in place too. On SAME rows of 6 outputs at stride 1
 * (MobileNet's 6x6 maps) PLANE3's fused form takes same-channel int16 pairs instead (dw3q_body): SMLAD on
 * (u_i, u_i+1) with the weight pairs (w0, w1) and (w1, w2), two instructions per 3 MACs.
 * Path CHANNELS (depth multiplier 1): 4 channels per pass in
 * registers (SMLABB/SMLATT); interior pixels use biases with the offset folded in and a fully
 * unrolled 3x3. Path MULTIPLIER: each input value is shared by the output channels it feeds.
 * Bodies are instantiated once per requantization form.
 */
#include "nn_kernels.h"

#include <stddef.h>

#if NN_OPTIMIZED

#include "nn_opt_internal.h"

/* Four channels of one depthwise tap: SMLABB/SMLATT on SXTB16-widened lanes
 * (a0..a3 = channels c..c+3). With add_off the input offset is added to the
 * input lanes; without it, it is folded into the bias (interior pixels). */
NN_INLINE void dw_tap4(const int8_t *xp, const int8_t *wp, uint32_t off2, const int add_off,
                           int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3) {
    const uint32_t xv = nn_read32(xp), wv = nn_read32(wp);
    uint32_t x02 = nn_sxtb16(xv), x13 = nn_sxtb16_ror8(xv);
    if (add_off) {
        x02 = nn_sadd16(x02, off2);
        x13 = nn_sadd16(x13, off2);
    }
    const uint32_t w02 = nn_sxtb16(wv), w13 = nn_sxtb16_ror8(wv);
    *a0 = nn_smlabb(w02, x02, *a0);
    *a2 = nn_smlatt(w02, x02, *a2);
    *a1 = nn_smlabb(w13, x13, *a1);
    *a3 = nn_smlatt(w13, x13, *a3);
}

#if NN_ASM
/* One tap of the 4 channels: the input word (loaded by LOAD) widened, times the tap's widened
 * weight pair: 8 instructions per 4 MACs. */
#define NN_DW33_TAP(LOAD)                             \
    LOAD                                              \
    "ldrd   %[w02], %[w13], [%[wp]], #8\n\t"                  \
    "sxtb16 %[xt], %[xv]\n\t"                                 \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                         \
    "smlabb %[a0], %[w02], %[xt], %[a0]\n\t"                  \
    "smlatt %[a2], %[w02], %[xt], %[a2]\n\t"                  \
    "smlabb %[a1], %[w13], %[xv], %[a1]\n\t"                  \
    "smlatt %[a3], %[w13], %[xv], %[a3]\n\t"
/* ... a kernel row: taps at xp, xp + cs, xp + 2 cs; then xp moves to the next row (rs2 = row
 * step - 2 cs). */
#define NN_DW33_ROW                                   \
    NN_DW33_TAP("ldr    %[xv], [%[xp]]\n\t")          \
    NN_DW33_TAP("ldr    %[xv], [%[xp], %[cs]]\n\t")   \
    "add    %[xp], %[xp], %[cs], lsl #1\n\t"                  \
    NN_DW33_TAP("ldr    %[xv], [%[xp]]\n\t")          \
    "add    %[xp], %[xp], %[rs2]\n\t"
#endif

/* The 9 taps of an interior 3x3 window for 4 channels, added to acc[0..3]: input rows at xp +
 * ky * row_step, columns col_step apart (raw input: the offset is in the folded biases), weights
 * the group's widened pairs `wp` (tap order ky, kx). 78 instructions per 36 MACs on Cortex-M. */
NN_INLINE void dw33_taps(const int8_t *xp, int32_t col_step, int32_t row_step, const uint32_t *wp, int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if NN_ASM
    uint32_t xv, xt, w02, w13;
    const int32_t rs2 = row_step - 2 * col_step;
    __asm__ volatile(
        NN_DW33_ROW
        NN_DW33_ROW
        NN_DW33_ROW
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(xp), [wp] "+r"(wp),
          [xv] "=&r"(xv), [xt] "=&r"(xt), [w02] "=&r"(w02), [w13] "=&r"(w13)
        : [cs] "r"(col_step), [rs2] "r"(rs2)
        : "cc", "memory");
#else
    for (int32_t ky = 0; ky < 3; ++ky, xp += row_step) {
        for (int32_t kx = 0; kx < 3; ++kx, wp += 2) {
            const uint32_t xv = nn_read32(xp + kx * col_step);
            const uint32_t x02 = nn_sxtb16(xv), x13 = nn_sxtb16_ror8(xv);
            a0 = nn_smlabb(wp[0], x02, a0);
            a2 = nn_smlatt(wp[0], x02, a2);
            a1 = nn_smlabb(wp[1], x13, a1);
            a3 = nn_smlatt(wp[1], x13, a3);
        }
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Path CHANNELS, 3x3: the widened weights of every group of 4 channels (see dw_k33_bytes). */
static void dw33_widen(const int8_t *w, int32_t ch, uint32_t *wide) {
    for (int32_t c = 0; c + 4 <= ch; c += 4) {
        for (int32_t t = 0; t < 9; ++t) {
            const uint32_t v = nn_read32(w + t * ch + c);
            *wide++ = nn_sxtb16(v);
            *wide++ = nn_sxtb16_ror8(v);
        }
    }
}

/* Depthwise with depth multiplier 1 for one requantization form: four channels per
 * pass with the accumulators in registers; the valid tap window is computed once per
 * output pixel. Interior pixels start from the folded bias (bias + in_offset * sum of
 * the channel's weights) and skip the offset; a 3x3 interior is fully unrolled. */
NN_INLINE void dw_body(const nn_conv_params_t *p, const int8_t *in, int8_t *out, const int32_t *tab,
                           const int32_t *fold, const uint32_t *wide33, const int fast) {
    const int32_t ch = p->in_c;
    const uint32_t off2 = nn_dup16(p->in_offset);
    const int32_t in_offset = p->in_offset;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t in_h = p->in_h, in_w = p->in_w;
    const int32_t row_step = dil_h * in_w * ch;     /* input bytes between kernel rows */
    const int32_t col_step = dil_w * ch;            /* input bytes between kernel columns */
    const int32_t wrow_step = k_w * ch;
    const int k33 = k_h == 3 && k_w == 3;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * in_h * in_w * ch;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            /* first and one-past-last kernel rows that land inside the image */
            int32_t ky0, ky1;
            nn_valid_taps(iy0, dil_h, k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                nn_valid_taps(ix0, dil_w, k_w, in_w, &kx0, &kx1);
                const int interior = ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                const int8_t *x_base = img + ((iy0 + ky0 * dil_h) * in_w + ix0 + kx0 * dil_w) * ch;
                const int8_t *w_base = p->weights + (ky0 * k_w + kx0) * ch;
                int32_t c = 0;
                for (; c + 4 <= ch; c += 4) {
                    const int32_t *e = tab + c * RQ_WORDS;
                    const int8_t *xr = x_base + c;
                    const int8_t *wr = w_base + c;
                    int32_t a0, a1, a2, a3;
                    if (interior && k33) {   /* the widened weights, 9 taps in one assembly block */
                        int32_t acc[4] = {fold[c], fold[c + 1], fold[c + 2], fold[c + 3]};
                        dw33_taps(xr, col_step, row_step, wide33 + 18 * (c >> 2), acc);
                        a0 = acc[0];
                        a1 = acc[1];
                        a2 = acc[2];
                        a3 = acc[3];
                    } else if (interior) {
                        a0 = fold[c];
                        a1 = fold[c + 1];
                        a2 = fold[c + 2];
                        a3 = fold[c + 3];
                        for (int32_t ky = 0; ky < k_h; ++ky, xr += row_step, wr += wrow_step) {
                            for (int32_t kx = 0; kx < k_w; ++kx) {
                                dw_tap4(xr + kx * col_step, wr + kx * ch, off2, 0, &a0, &a1, &a2, &a3);
                            }
                        }
                    } else {
                        a0 = e[0];
                        a1 = e[RQ_WORDS];
                        a2 = e[2 * RQ_WORDS];
                        a3 = e[3 * RQ_WORDS];
                        for (int32_t ky = ky0; ky < ky1; ++ky, xr += row_step, wr += wrow_step) {
                            for (int32_t kx = 0; kx < kx1 - kx0; ++kx) {
                                dw_tap4(xr + kx * col_step, wr + kx * ch, off2, 1, &a0, &a1, &a2, &a3);
                            }
                        }
                    }
                    o[c] = sat_out(rq_apply(e, a0, fast), zo, lo, hi);
                    o[c + 1] = sat_out(rq_apply(e + RQ_WORDS, a1, fast), zo, lo, hi);
                    o[c + 2] = sat_out(rq_apply(e + 2 * RQ_WORDS, a2, fast), zo, lo, hi);
                    o[c + 3] = sat_out(rq_apply(e + 3 * RQ_WORDS, a3, fast), zo, lo, hi);
                }
                for (; c < ch; ++c) {
                    const int32_t *e = tab + c * RQ_WORDS;
                    int32_t acc = e[0];
                    const int8_t *xr = x_base + c;
                    const int8_t *wr = w_base + c;
                    for (int32_t ky = ky0; ky < ky1; ++ky, xr += row_step, wr += wrow_step) {
                        for (int32_t kx = 0; kx < kx1 - kx0; ++kx) {
                            acc += wr[kx * ch] * (xr[kx * col_step] + in_offset);
                        }
                    }
                    o[c] = sat_out(rq_apply(e, acc, fast), zo, lo, hi);
                }
            }
        }
    }
}

/* Path PLANE3 on same-channel pairs (dw3q_pairs_ok: the fused form, stride 1, SAME on rows of 6). Per
 * group of 4 channels the input rows are built once into a plane of int16 pairs per channel (dw3q_pairs),
 * with the input offset added and zeros on the padding: ph = out_h + 2 rows of DW3Q_ROWW words (one spare
 * word before the plane), pair i of a row being (u_i, u_i+1) (u_m: padded input column m). With a kernel
 * row's weight pairs A = (w0, w1) and B = (w1, w2), output i takes per kernel row
 *   SMLAD(A, Q[i]) + SMLATT(B, Q[i + 1])   (w0 u_i + w1 u_i+1 + w2 u_i+2)
 * two instructions per 3 MACs; the kernel rows over padding are skipped (first output row: kernel row 0,
 * last: row 2), and so are the padded taps of a row's first and last output (SMLAD(B, Q[1]) alone,
 * SMLAD(A, Q[5]) alone).
 *
 * The record of a channel (DW3Q_CH words, dw3q_record): A and B of its 3 kernel rows, the bias, rq_dbl's
 * R2, multiplier and rs (the fused form doubles weights and bias), then the words the assembly reads: the
 * output step, the channel's plane (row 0) and output addresses, the count of output rows between the
 * first and the last (out_h - 2) and whether it is the group's last channel. */
/* (the record's word indices DW3Q_*: nn_opt_internal.h) */

/* The 4 weight bytes of channels c0 .. c0 + k - 1 at w (zeros for the missing ones of a partial group). */
NN_INLINE uint32_t dw3p_word(const int8_t *w, int32_t k) {
    if (k == 4) return nn_read32(w);
    int8_t bytes[4] = {0, 0, 0, 0};
    for (int32_t j = 0; j < k; ++j) bytes[j] = w[j];
    return nn_read32(bytes);
}

/* The records of channels c0 .. c0 + k - 1 (k <= 4, a partial group) at rec, DW3Q_CH words each (the words
 * from DW3Q_OSTEP on are the caller's). */
static void dw3q_record(const nn_conv_params_t *p, int32_t c0, int32_t k, uint32_t *rec) {
    const int32_t ch = p->in_c, m = 2, step = p->per_channel ? 1 : 0;
    const uint32_t zo = (uint32_t)p->out_offset;
    for (int32_t j = 0; j < k; ++j, rec += DW3Q_CH) {
        const int32_t c = c0 + j;
        const int8_t *w = p->weights + c;
        for (int32_t ky = 0; ky < 3; ++ky, w += 3 * ch) {
            const uint32_t w0 = (uint16_t)(m * w[0]), w1 = (uint16_t)(m * w[ch]), w2 = (uint16_t)(m * w[2 * ch]);
            rec[2 * ky] = w0 | w1 << 16;
            rec[2 * ky + 1] = w1 | w2 << 16;
        }
        rec[DW3Q_BIAS] = p->bias ? (uint32_t)p->bias[c] * (uint32_t)m : 0u;
        dw3p_rq_words(p->shift[c * step], p->mult[c * step], zo, rec + DW3Q_RQ);
    }
}

#if NN_ASM
/* A kernel row KY of the 4 channels: its 3 weight words v0 v1 v2 (kernel columns), side by side per channel
 * pair by PKHBT (bytes of channels 0, 1) and PKHTB (2, 3), then per channel A = (w0, w1) and B = (w1, w2) by
 * SXTB16 (ROR 8 for channels 1 and 3), doubled by SADD16, stored by STRD: 29 instructions. */
#define NN_DWPQ_WROW(KY)                                      \
    "ldr    %[v0], [%[w]]\n\t"                                \
    "ldr    %[v1], [%[w], %[ch]]\n\t"                         \
    "add    %[w], %[w], %[ch], lsl #1\n\t"                    \
    "ldr    %[v2], [%[w]]\n\t"                                \
    "add    %[w], %[w], %[ch]\n\t"                            \
    "pkhbt  %[t0], %[v0], %[v1], lsl #16\n\t"                 \
    "pkhtb  %[v0], %[v1], %[v0], asr #16\n\t"                 \
    "pkhbt  %[t1], %[v1], %[v2], lsl #16\n\t"                 \
    "pkhtb  %[v1], %[v2], %[v1], asr #16\n\t"                 \
    NN_DWPQ_WPAIR(KY, "t0", "t1", "", "0")                    \
    NN_DWPQ_WPAIR(KY, "t0", "t1", ", ror #8", "60")           \
    NN_DWPQ_WPAIR(KY, "v0", "v1", "", "120")                  \
    NN_DWPQ_WPAIR(KY, "v0", "v1", ", ror #8", "180")
#define NN_DWPQ_WPAIR(KY, TA, TB, ROR, REC)                   \
    "sxtb16 %[a], %[" TA "]" ROR "\n\t"                       \
    "sadd16 %[a], %[a], %[a]\n\t"                             \
    "sxtb16 %[b], %[" TB "]" ROR "\n\t"                       \
    "sadd16 %[b], %[b], %[b]\n\t"                             \
    "strd   %[a], %[b], [%[rec], #" REC "+8*" #KY "]\n\t"
_Static_assert(DW3Q_CH == 15 && DW3Q_BIAS == 6 && DW3Q_RQ == 7,
               "NN_DWPQ_WROW and NN_DWPQ_RQW store the channels' records 60 B apart, bias at 24, R2 mult rs at 28..36");
#endif

/* A and B of the 3 kernel rows of 4 channels (weights w, row step 3 ch), doubled, into their records; the C
 * loop is the portable twin of NN_DWPQ_WROW. */
NN_INLINE void dw3q_weights4(const int8_t *w, int32_t ch, uint32_t *rec) {
#if NN_ASM
    uint32_t v0, v1, v2, t0, t1, a, b;
    __asm__ volatile(NN_DWPQ_WROW(0) NN_DWPQ_WROW(1) NN_DWPQ_WROW(2)
                     : [w] "+r"(w), [v0] "=&r"(v0), [v1] "=&r"(v1), [v2] "=&r"(v2), [t0] "=&r"(t0), [t1] "=&r"(t1),
                       [a] "=&r"(a), [b] "=&r"(b)
                     : [ch] "r"(ch), [rec] "r"(rec)
                     : "memory");
    return;
#endif
    for (int32_t ky = 0; ky < 3; ++ky, w += 3 * ch) {
        /* per kernel column the doubled weights of channels (0, 2) and (1, 3) */
        const uint32_t v0 = nn_read32(w), v1 = nn_read32(w + ch), v2 = nn_read32(w + 2 * ch);
        uint32_t e0 = nn_sxtb16(v0), e1 = nn_sxtb16(v1), e2 = nn_sxtb16(v2);
        uint32_t o0 = nn_sxtb16_ror8(v0), o1 = nn_sxtb16_ror8(v1), o2 = nn_sxtb16_ror8(v2);
        e0 = nn_sadd16(e0, e0);
        e1 = nn_sadd16(e1, e1);
        e2 = nn_sadd16(e2, e2);
        o0 = nn_sadd16(o0, o0);
        o1 = nn_sadd16(o1, o1);
        o2 = nn_sadd16(o2, o2);
        uint32_t *r = rec + 2 * ky;
        r[0] = (e0 & 0xffffu) | e1 << 16;
        r[1] = (e1 & 0xffffu) | e2 << 16;
        r[DW3Q_CH] = (o0 & 0xffffu) | o1 << 16;
        r[DW3Q_CH + 1] = (o1 & 0xffffu) | o2 << 16;
        r[2 * DW3Q_CH] = e0 >> 16 | (e1 & 0xffff0000u);
        r[2 * DW3Q_CH + 1] = e1 >> 16 | (e2 & 0xffff0000u);
        r[3 * DW3Q_CH] = o0 >> 16 | (o1 & 0xffff0000u);
        r[3 * DW3Q_CH + 1] = o1 >> 16 | (o2 & 0xffff0000u);
    }
}

/* The fused records of a full group (the common case, paid per group): the 4 channels' weights from 9
 * words by SXTB16, doubled by SADD16, paired (dw3q_weights4); the same words as dw3q_record. */
void dw3q_record4(const nn_conv_params_t *p, int32_t c0, uint32_t *rec) {
    const int32_t ch = p->in_c, step = p->per_channel ? 1 : 0;
    const uint32_t zo = (uint32_t)p->out_offset;
    dw3q_weights4(p->weights + c0, ch, rec);
#if NN_ASM
    {   /* per channel the doubled bias, R2 = (2 zo + 1) << (rs - 1) (~shift = rs - 1), multiplier and rs */
        static const int32_t no_bias[4] = {0, 0, 0, 0};
        const int32_t *bias = p->bias ? p->bias + c0 : no_bias, k0 = step * 4 * c0, kstep = 4 * step;
        const uint32_t zo21 = 2 * zo + 1;
        uint32_t bb, s, m, t;
#define NN_DWPQ_RQW(REC)                                      \
    "ldr    %[bb], [%[bias]], #4\n\t"                         \
    "ldr    %[s], [%[shift], %[k]]\n\t"                       \
    "ldr    %[m], [%[mult], %[k]]\n\t"                        \
    "add    %[k], %[k], %[kstep]\n\t"                         \
    "lsl    %[bb], %[bb], #1\n\t"                             \
    "mvn    %[t], %[s]\n\t"                                   \
    "rsb    %[s], %[s], #0\n\t"                               \
    "lsl    %[t], %[zo21], %[t]\n\t"                          \
    "strd   %[bb], %[t], [%[rec], #24+" REC "]\n\t"           \
    "strd   %[m], %[s], [%[rec], #32+" REC "]\n\t"
        int32_t k = k0;
        __asm__ volatile(NN_DWPQ_RQW("0") NN_DWPQ_RQW("60") NN_DWPQ_RQW("120") NN_DWPQ_RQW("180")
                         : [bias] "+r"(bias), [k] "+r"(k), [bb] "=&r"(bb), [s] "=&r"(s), [m] "=&r"(m), [t] "=&r"(t)
                         : [shift] "r"(p->shift), [mult] "r"(p->mult), [kstep] "r"(kstep), [zo21] "r"(zo21),
                           [rec] "r"(rec)
                         : "memory");
        return;
    }
#endif
#pragma GCC unroll 4
    for (int32_t j = 0; j < 4; ++j, rec += DW3Q_CH) {
        const int32_t c = c0 + j;
        rec[DW3Q_BIAS] = p->bias ? (uint32_t)p->bias[c] << 1 : 0u;
        dw3p_rq_words(p->shift[c * step], p->mult[c * step], zo, rec + DW3Q_RQ);
    }
}

/* The pairs of a group: rows rows of n input pixels from x (row step in_row bytes, pixel step ch) into the
 * planes from q (channel 0's word of pair x0 in its first row; channel j's plane plane_ch words further;
 * padded column m is input column m - x0), k of 4 channels. Positions outside stay as they are (zero: the
 * plane is cleared once per call). Pixel m is the low half of pair m and the high half of pair m - 1,
 * adjacent halfwords: the assembly stores (u_m, u_m) as one unaligned word 2 bytes before pair m (the
 * spare words take the halves outside the pairs read); 12 instructions per pixel of 4 channels. */
NN_INLINE void dw3q_pairs(const int8_t *x, int32_t ch, int32_t in_row, int32_t k, uint32_t *q, int32_t plane_ch,
                          int32_t x0, int32_t n, int32_t rows, uint32_t off2) {
#if NN_ASM
#define NN_DWPQ_PIXEL                                 \
    "ldr    %[v], [%[x]]\n\t"                         \
    "add    %[x], %[x], %[ch]\n\t"                    \
    "sxtab16 %[y], %[off2], %[v]\n\t"                 \
    "sxtab16 %[v], %[off2], %[v], ror #8\n\t"         \
    "pkhbt  %[t], %[v], %[v], lsl #16\n\t"            \
    "str    %[t], [%[da], %[pcr]]\n\t"                \
    "pkhbt  %[t], %[y], %[y], lsl #16\n\t"            \
    "str    %[t], [%[da]], #4\n\t"                    \
    "pkhtb  %[t], %[v], %[v], asr #16\n\t"            \
    "str    %[t], [%[db], %[pcr]]\n\t"                \
    "pkhtb  %[t], %[y], %[y], asr #16\n\t"            \
    "str    %[t], [%[db]], #4\n\t"
    if (k == 4 && n == 6) {   /* (dw3q_pairs_ok: rows of 6 pixels) a row in one pass, 12 per pixel */
        const int32_t pcr = 4 * plane_ch, xgap = in_row - n * ch;
        uint8_t *da = (uint8_t *)q - 2, *db = da + 2 * pcr;
        uint32_t v, y, t;
        __asm__ volatile(
            "1:\n\t"
            NN_DWPQ_PIXEL NN_DWPQ_PIXEL NN_DWPQ_PIXEL NN_DWPQ_PIXEL NN_DWPQ_PIXEL NN_DWPQ_PIXEL
            "ldr    %[v], %[xgap]\n\t"
            "add    %[da], %[da], #16\n\t"   /* 4 DW3Q_ROWW - 24: to the next plane row */
            "add    %[db], %[db], #16\n\t"
            "add    %[x], %[x], %[v]\n\t"
            "subs   %[rows], %[rows], #1\n\t"
            "bne    1b\n\t"
            : [x] "+r"(x), [da] "+r"(da), [db] "+r"(db), [rows] "+r"(rows), [v] "=&r"(v), [y] "=&r"(y),
              [t] "=&r"(t)
            : [ch] "r"(ch), [off2] "r"(off2), [pcr] "r"(pcr), [xgap] "m"(xgap)
            : "cc", "memory");
        return;
    }
#endif
    int16_t *h = (int16_t *)(void *)q - 2 * x0;   /* pair 0's low half in the first row */
    for (int32_t r = 0; r < rows; ++r, x += in_row, h += 2 * DW3Q_ROWW) {
        const int8_t *xc = x;
        for (int32_t i = x0; i < x0 + n; ++i, xc += ch) {
            const uint32_t v = dw3p_word(xc, k);
            const uint32_t y02 = nn_sxtab16(off2, v), y13 = nn_sxtab16_ror8(off2, v);
            const int16_t u[4] = {(int16_t)(y02 & 0xffffu), (int16_t)(y13 & 0xffffu), (int16_t)(y02 >> 16),
                                  (int16_t)(y13 >> 16)};
            for (int32_t j = 0; j < 4; ++j) {
                int16_t *hc = h + 2 * j * plane_ch;
                hc[2 * i] = u[j];       /* low half of pair i (pair ow + 1: the spare word) */
                hc[2 * i - 1] = u[j];   /* high half of pair i - 1 (pair -1: the spare word before) */
            }
        }
    }
}

#if NN_ASM
/* One kernel row KY (plane row offset 40 KY bytes) of a row's first 3 outputs (output 0 without kernel
 * column 0: SMLAD(B, Q1)) or its last 3 (output 5 without column 2: SMLAD(A, Q5)): the row's A and B, the
 * pairs by LDRD and LDR, 7 multiply-accumulates; A0 and A1 name the accumulators the first two outputs
 * start from (a2, holding the bias, on a chunk's first kernel row): 8 instructions per 7 taps. */
#define NN_DWPQ_KROW_L(KY, A0, A1)                            \
    "ldrd   %[a], %[b], [%[rc], #8*" #KY "]\n\t"              \
    "ldrd   %[q0], %[q1], [%[x], #40*" #KY "+4]\n\t"          \
    "smlad  %[a0], %[b], %[q0], %[" A0 "]\n\t"                \
    "smlad  %[a1], %[a], %[q0], %[" A1 "]\n\t"                \
    "smlatt %[a1], %[b], %[q1], %[a1]\n\t"                    \
    "smlad  %[a2], %[a], %[q1], %[a2]\n\t"                    \
    "ldr    %[q0], [%[x], #40*" #KY "+12]\n\t"                \
    "smlatt %[a2], %[b], %[q0], %[a2]\n\t"
#define NN_DWPQ_KROW_R(KY, A0, A1)                            \
    "ldrd   %[a], %[b], [%[rc], #8*" #KY "]\n\t"              \
    "ldrd   %[q0], %[q1], [%[x], #40*" #KY "+12]\n\t"         \
    "smlad  %[a0], %[a], %[q0], %[" A0 "]\n\t"                \
    "smlatt %[a0], %[b], %[q1], %[a0]\n\t"                    \
    "smlad  %[a1], %[a], %[q1], %[" A1 "]\n\t"                \
    "ldr    %[q0], [%[x], #40*" #KY "+20]\n\t"                \
    "smlatt %[a1], %[b], %[q0], %[a1]\n\t"                    \
    "smlad  %[a2], %[a], %[q0], %[a2]\n\t"
#define NN_DWPQ_BIAS "ldr    %[a2], [%[rc], #24]\n\t"
#define NN_DWPQ_ROWS_ALL(K) NN_DWPQ_BIAS K(0, "a2", "a2") K(1, "a0", "a1") K(2, "a0", "a1")
#define NN_DWPQ_ROWS_TOP(K) NN_DWPQ_BIAS K(1, "a2", "a2") K(2, "a0", "a1")
#define NN_DWPQ_ROWS_BOTTOM(K) NN_DWPQ_BIAS K(0, "a2", "a2") K(1, "a0", "a1")
/* 3 outputs of kernel rows ROWS by K, requantized and stored (output step from the record). */
#define NN_DWPQ_CHUNK(ROWS, K) ROWS(K) DW3Q_ASM_STORE3
/* An output row: its first and last 3 outputs; x moves to the next plane row. */
#define NN_DWPQ_ROW(ROWS) NN_DWPQ_CHUNK(ROWS, NN_DWPQ_KROW_L) NN_DWPQ_CHUNK(ROWS, NN_DWPQ_KROW_R) \
    "add    %[x], %[x], #40\n\t"

/* Path PLANE3 on pairs, every output row of a group's channels, from the first channel's record rc (each
 * record: the channel's plane from row 0, its outputs, the count of middle rows out_h - 2 and the
 * last-channel flag): the first row without kernel row 0, the middle rows, the last row without kernel
 * row 2 (a single row: kernel rows 1 and 2, the plane's row 2 being zero). */
static void dw3q_group(const uint32_t *rc) {
    int32_t a0, a1, a2, cnt;
    uint32_t a, b, q0, q1, x, o;
    __asm__ volatile(
        "0:\n\t"
        "ldr    %[x], [%[rc], #44]\n\t"
        "ldr    %[o], [%[rc], #48]\n\t"
        "ldr    %[cnt], [%[rc], #52]\n\t"
        NN_DWPQ_ROW(NN_DWPQ_ROWS_TOP)
        "cmp    %[cnt], #0\n\t"
        "blt    9f\n\t"
        "beq    3f\n\t"
        "2:\n\t"
        NN_DWPQ_ROW(NN_DWPQ_ROWS_ALL)
        "subs   %[cnt], %[cnt], #1\n\t"
        "bne    2b\n\t"
        "3:\n\t"
        NN_DWPQ_ROW(NN_DWPQ_ROWS_BOTTOM)
        "9:\n\t"
        "ldr    %[q0], [%[rc], #56]\n\t"
        "add    %[rc], %[rc], #60\n\t"
        "cmp    %[q0], #0\n\t"
        "beq    0b\n\t"
        : [rc] "+r"(rc), [x] "=&r"(x), [o] "=&r"(o), [cnt] "=&r"(cnt), [a0] "=&r"(a0), [a1] "=&r"(a1),
          [a2] "=&r"(a2), [a] "=&r"(a), [b] "=&r"(b), [q0] "=&r"(q0), [q1] "=&r"(q1)
        :
        : "cc", "memory");
}
#endif

/* One output row of one channel (record rc) from its plane rows at q (DW3Q_ROWW words apart, kernel rows
 * [ky0, ky1) computed), n outputs ostep bytes apart, requantized by rq_dbl; `left`, `right`: the first /
 * last output's padded tap is skipped. The portable twin of dw3q_group. */
NN_INLINE void dw3q_row_c(const uint32_t *rc, const uint32_t *q, int32_t ky0, int32_t ky1, int32_t n, int left,
                          int right, int8_t *o, int32_t ostep) {
    for (int32_t i = 0; i < n; ++i, o += ostep) {
        int32_t acc = (int32_t)rc[DW3Q_BIAS];
        const int l = i == 0 && left, r = i == n - 1 && right;
        for (int32_t ky = ky0; ky < ky1; ++ky) {
            const uint32_t *x = q + ky * DW3Q_ROWW + i, a = rc[2 * ky], b = rc[2 * ky + 1];
            if (l) {
                acc = nn_smlad(b, x[1], acc);
            } else {
                acc = nn_smlad(a, x[0], acc);
                if (!r) acc = nn_smlatt(b, x[1], acc);
            }
        }
        const uint32_t *rq = rc + DW3Q_RQ;
        *o = (int8_t)nn_ssat8(rq_dbl(acc, (int32_t)rq[1], (int32_t)rq[0], (int32_t)rq[2]));
    }
}

/* Path PLANE3 on pairs (dw3q_pairs_ok), fused form (doubled accumulators requantized by rq_dbl, the output
 * zero point in the rounding addend, no clamp). Per group of 4 channels (k of them in a last partial
 * group): the records, the pairs plane, then per channel its output rows. A group is copied whole before
 * its outputs are written, so the layer may run in place. */
static void dw3q_body(const nn_conv_params_t *p, const int8_t *in, int8_t *out, uint32_t *rec, uint32_t *plane) {
    const int32_t ch = p->in_c, ph = dw_plane3_h(p), pw = dw_plane3_w(p), oh = p->out_h, ow = p->out_w;
    const int32_t plane_ch = dw_plane3_words(p);
    /* plane row r is input row r - pad_top, padded column m input column m - pad_left */
    const int32_t y0 = p->pad_top, x0 = p->pad_left;
    const int32_t y1 = p->in_h + y0 < ph ? p->in_h + y0 : ph, x1 = p->in_w + x0 < pw ? p->in_w + x0 : pw;
    const int left = x0 > 0, right = pw - 1 - x0 >= p->in_w;
    const uint32_t off2 = 0x00010001u * (uint16_t)(int16_t)p->in_offset;
    int8_t ky0s[DW_PLANE3_MAX], ky1s[DW_PLANE3_MAX];   /* per output row its kernel rows (C twin) */
    for (int32_t oy = 0; oy < oh; ++oy) {
        const int32_t iy0 = oy - y0;
        ky0s[oy] = (int8_t)(iy0 < 0 ? -iy0 : 0);
        ky1s[oy] = (int8_t)(p->in_h - iy0 < 3 ? p->in_h - iy0 : 3);
    }
    for (int32_t i = 0; i < 4 * plane_ch; ++i) plane[i] = 0;
    for (int32_t j = 0; j < 4; ++j) {   /* the words every group shares */
        rec[j * DW3Q_CH + DW3Q_OSTEP] = (uint32_t)ch;
        rec[j * DW3Q_CH + DW3Q_MID] = (uint32_t)(oh - 2);
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * p->in_h * p->in_w * ch;
        int8_t *ob = out + b * oh * ow * ch;
        for (int32_t c0 = 0; c0 < ch; c0 += 4) {
            const int32_t k = ch - c0 < 4 ? ch - c0 : 4;
            if (k == 4) {
                dw3q_record4(p, c0, rec);
            } else {
                dw3q_record(p, c0, k, rec);
            }
            if (x0 < x1 && y0 < y1) {   /* (always for SAME and VALID) */
                uint32_t *q = plane + 1 + y0 * DW3Q_ROWW + x0;
                dw3q_pairs(img + c0, ch, p->in_w * ch, k, q, plane_ch, x0, x1 - x0, y1 - y0, off2);
            }
#if NN_ASM
            {
                for (int32_t j = 0; j < k; ++j) {
                    uint32_t *rc = rec + j * DW3Q_CH;
                    rc[DW3Q_X] = (uint32_t)(uintptr_t)(plane + 1 + j * plane_ch);
                    rc[DW3Q_O] = (uint32_t)(uintptr_t)(ob + c0 + j);
                    rc[DW3Q_LAST] = j == k - 1;
                }
                dw3q_group(rec);
                continue;
            }
#endif
            for (int32_t j = 0; j < k; ++j) {
                const uint32_t *rc = rec + j * DW3Q_CH, *qc = plane + 1 + j * plane_ch;
                for (int32_t oy = 0; oy < oh; ++oy) {
                    dw3q_row_c(rc, qc + oy * DW3Q_ROWW, ky0s[oy], ky1s[oy], ow, left, right,
                               ob + oy * ow * ch + c0 + j, ch);
                }
            }
        }
    }
}

/* Path PLANE3, the record of a group of 4 channels (DW3P_REC words, dw3p_record): per tap (ky, kx) the
 * widened weight words of lanes (c0, c2) and (c1, c3), the 4 biases, per channel R2, multiplier and rr + 1
 * (rq_dbl), then the plane's row step (bytes, low half; the high half holds the edge flags DW3P_LEFT and
 * DW3P_RIGHT of dw3p_edges), the step from a window's last row to the next window, the output step and the
 * plane address where the current output row's full-width windows end. The fused form doubles weights and
 * bias. */

NN_INLINE void dw3p_record_form(const nn_conv_params_t *p, int32_t c0, int32_t k, const int fused, uint32_t *wr) {
    const int32_t ch = p->in_c;
    const int8_t *w = p->weights + c0;
    uint32_t v[9];   /* the plane holds x + in_offset: the bias needs no weight sums */
    if (k == 4) {
        for (int32_t t = 0; t < 9; ++t, w += ch) v[t] = nn_read32(w);
    } else {
        for (int32_t t = 0; t < 9; ++t, w += ch) v[t] = dw3p_word(w, k);
    }
    for (int32_t t = 0; t < 9; ++t) {
        const uint32_t w02 = nn_sxtb16(v[t]), w13 = nn_sxtb16_ror8(v[t]);
        wr[2 * t] = fused ? nn_sadd16(w02, w02) : w02;
        wr[2 * t + 1] = fused ? nn_sadd16(w13, w13) : w13;
    }
    const int32_t *bias = p->bias ? p->bias + c0 : 0;
    const int32_t step = p->per_channel ? 1 : 0, q0 = p->per_channel ? c0 : 0;
    const int32_t *mult = p->mult + q0, *shift = p->shift + q0;
    const uint32_t zo = (uint32_t)p->out_offset;
    uint32_t *r = wr + DW3P_RQ;
    for (int32_t j = 0; j < 4; ++j, r += 3, mult += step, shift += step) {
        if (j >= k) {   /* a partial group's missing channel: zero weights, bias and requantization */
            wr[DW3P_BIAS + j] = r[0] = r[1] = r[2] = 0;
            continue;
        }
        const uint32_t b = bias ? (uint32_t)bias[j] : 0u;
        wr[DW3P_BIAS + j] = fused ? b << 1 : b;
        if (fused) dw3p_rq_words(*shift, *mult, zo, r);
    }
}

/* The fused form's record of a full group, straight-line (the common case: 4 channels, its cost is paid
 * per group): the same words as dw3p_record_form, which builds partial groups and the general form. */
static void dw3p_record_fused4(const nn_conv_params_t *p, int32_t c0, uint32_t *wr) {
    const int32_t ch = p->in_c;
    const int8_t *w = p->weights + c0;
#pragma GCC unroll 9
    for (int32_t t = 0; t < 9; ++t, w += ch, wr += 2) {
        const uint32_t v = nn_read32(w), w02 = nn_sxtb16(v), w13 = nn_sxtb16_ror8(v);
        wr[0] = nn_sadd16(w02, w02);
        wr[1] = nn_sadd16(w13, w13);
    }
    /* wr is now the record's DW3P_BIAS word, followed by the DW3P_RQ words */
    const int32_t step = p->per_channel ? 1 : 0, q0 = p->per_channel ? c0 : 0;
    const int32_t *mult = p->mult + q0, *shift = p->shift + q0, *bias = p->bias;
    const uint32_t zo = (uint32_t)p->out_offset;
    uint32_t *r = wr + (DW3P_RQ - DW3P_BIAS);
#pragma GCC unroll 4
    for (int32_t j = 0; j < 4; ++j, r += 3, mult += step, shift += step) {
        wr[j] = bias ? (uint32_t)bias[c0 + j] << 1 : 0u;
        dw3p_rq_words(*shift, *mult, zo, r);
    }
}

static void dw3p_record(const nn_conv_params_t *p, int32_t c0, int32_t k, const int fused, uint32_t *wr) {
    if (fused && k == 4) {
        dw3p_record_fused4(p, c0, wr);
    } else if (fused) {
        dw3p_record_form(p, c0, k, 1, wr);
    } else {
        dw3p_record_form(p, c0, k, 0, wr);
    }
}

/* Which kernel rows of the windows of output row oy are computed: all (DW3P_ALL), all but the first
 * (DW3P_TOP: it lies above the input) or all but the last (DW3P_BOTTOM: below). The plane's border is
 * zero (it holds x + in_offset), so a padded tap that is computed adds nothing: dropping is only a saving. */
enum { DW3P_ALL, DW3P_TOP, DW3P_BOTTOM };
NN_INLINE int dw3p_rows(const nn_conv_params_t *p, int32_t oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    return iy0 < 0 ? DW3P_TOP : iy0 + 2 >= p->in_h ? DW3P_BOTTOM : DW3P_ALL;
}

/* The record's plane row step with the edge flags of the output rows (the same in every row and group):
 * DW3P_LEFT when a row's first window drops kernel column 0 (left of the input), DW3P_RIGHT when its last
 * window drops column 2 (right of it; never the same window). Returns the plane bytes from a row's first
 * window to the end of its full-width windows (the row's DW3P_MIDEND is its plane address plus this). */
#define DW3P_LEFT 0x10000u
#define DW3P_RIGHT 0x20000u
NN_INLINE uint32_t dw3p_edges(const nn_conv_params_t *p, int32_t pw, uint32_t *wr) {
    const int32_t n = p->out_w, left = p->pad_left > 0;
    const int32_t right = n > left && (n - 1) * p->stride_w - p->pad_left + 2 >= p->in_w;
    wr[DW3P_ROW] = (uint32_t)(8 * pw) | (left ? DW3P_LEFT : 0u) | (right ? DW3P_RIGHT : 0u);
    return (uint32_t)(8 * p->stride_w * (n - right));
}

#if NN_ASM
/* One tap (R, C) of the 4 channels: the plane's widened input pair at column C of the window's current
 * kernel row (xp), the tap's weight pair in the record: 6 instructions per 4 MACs. */
#define NN_DW3P_TAP(R, C)                                     \
    "ldrd   %[x02], %[x13], [%[xp], #8*" #C "]\n\t"           \
    "ldrd   %[w02], %[w13], [%[wr], #8*(3*" #R "+" #C ")]\n\t" \
    "smlabb %[a0], %[w02], %[x02], %[a0]\n\t"                 \
    "smlatt %[a2], %[w02], %[x02], %[a2]\n\t"                 \
    "smlabb %[a1], %[w13], %[x13], %[a1]\n\t"                 \
    "smlatt %[a3], %[w13], %[x13], %[a3]\n\t"
/* The kernel columns of kernel row R a window computes: all, all but the first, all but the last. */
#define NN_DW3P_COLS_ALL(R) NN_DW3P_TAP(R, 0) NN_DW3P_TAP(R, 1) NN_DW3P_TAP(R, 2)
#define NN_DW3P_COLS_LEFT(R) NN_DW3P_TAP(R, 1) NN_DW3P_TAP(R, 2)
#define NN_DW3P_COLS_RIGHT(R) NN_DW3P_TAP(R, 0) NN_DW3P_TAP(R, 1)
/* The kernel rows (DW3P_ALL, DW3P_TOP, DW3P_BOTTOM) of columns COLS; xp steps down a row twice (t: the
 * record's row word, whose low half is the step). */
#define NN_DW3P_NEXT_ROW "uxtah  %[xp], %[xp], %[t]\n\t"
#define NN_DW3P_ROWS_ALL(COLS) COLS(0) NN_DW3P_NEXT_ROW COLS(1) NN_DW3P_NEXT_ROW COLS(2)
#define NN_DW3P_ROWS_TOP(COLS) NN_DW3P_NEXT_ROW COLS(1) NN_DW3P_NEXT_ROW COLS(2)
#define NN_DW3P_ROWS_BOTTOM(COLS) COLS(0) NN_DW3P_NEXT_ROW COLS(1) NN_DW3P_NEXT_ROW
/* The fused requantization of channel J's doubled accumulator A (rq_dbl), the int8 result left in A. */
#define NN_DW3P_RQ(A, RO, MO)                                 \
    "ldrd   %[x02], %[x13], [%[wr], #" RO "]\n\t"             \
    "ldr    %[w02], [%[wr], #" MO "]\n\t"                     \
    "add    %[t], %[x02], %[" A "], asr #31\n\t"              \
    "smmlar %[" A "], %[" A "], %[x13], %[t]\n\t"             \
    "asr    %[" A "], %[" A "], %[w02]\n\t"                   \
    "ssat   %[" A "], #8, %[" A "]\n\t"
/* One window: the biases, the taps TAPS, the 4 requantizations and stores; xp and o move to the next. */
#define NN_DW3P_WINDOW(TAPS)                                  \
    "ldrd   %[a0], %[a1], [%[wr], #72]\n\t"                   \
    "ldrd   %[a2], %[a3], [%[wr], #80]\n\t"                   \
    "ldr    %[t], [%[wr], #136]\n\t"                          \
    TAPS                                                      \
    NN_DW3P_RQ("a0", "88", "96")                              \
    NN_DW3P_RQ("a1", "100", "108")                            \
    NN_DW3P_RQ("a2", "112", "120")                            \
    NN_DW3P_RQ("a3", "124", "132")                            \
    "ldr    %[t], [%[wr], #140]\n\t"                          \
    "strb   %[a0], [%[o]]\n\t"                                \
    "add    %[xp], %[xp], %[t]\n\t"                           \
    "ldr    %[t], [%[wr], #144]\n\t"                          \
    "strb   %[a1], [%[o], #1]\n\t"                            \
    "strb   %[a2], [%[o], #2]\n\t"                            \
    "strb   %[a3], [%[o], #3]\n\t"                            \
    "add    %[o], %[o], %[t]\n\t"

/* Path PLANE3, a row of outputs of a group in the fused form (record wr with the row's DW3P_MIDEND): the
 * first window without kernel column 0 when it is left of the input (DW3P_LEFT), the windows up to plane
 * address DW3P_MIDEND with all columns, the last one without column 2 when it is right of the input
 * (DW3P_RIGHT); kernel
 * rows as ROWS says. Per full window 9 taps of 4 channels from the widened plane at xp (54 instructions
 * per 36 MACs), the 4 requantizations and stores. */
#define NN_DW3P_ROW_FN(NAME, ROWS)                                                                        \
    static void NAME(const uint32_t *wr, const uint32_t *xp, int8_t *o) {                                 \
        int32_t a0, a1, a2, a3;                                                                           \
        uint32_t x02, x13, w02, w13, t;                                                                   \
        __asm__ volatile(                                                                                 \
            "ldr    %[t], [%[wr], #136]\n\t"                                                              \
            "tst    %[t], #0x10000\n\t"                                                                   \
            "beq    2f\n\t"                                                                               \
            NN_DW3P_WINDOW(ROWS(NN_DW3P_COLS_LEFT))                                                       \
            "2:\n\t"                                                                                      \
            "ldr    %[t], [%[wr], #148]\n\t"                                                              \
            "cmp    %[xp], %[t]\n\t"                                                                      \
            "beq    3f\n\t"                                                                               \
            "1:\n\t"                                                                                      \
            NN_DW3P_WINDOW(ROWS(NN_DW3P_COLS_ALL))                                                        \
            "ldr    %[t], [%[wr], #148]\n\t"                                                              \
            "cmp    %[xp], %[t]\n\t"                                                                      \
            "bne    1b\n\t"                                                                               \
            "3:\n\t"                                                                                      \
            "ldr    %[t], [%[wr], #136]\n\t"                                                              \
            "tst    %[t], #0x20000\n\t"                                                                   \
            "beq    4f\n\t"                                                                               \
            NN_DW3P_WINDOW(ROWS(NN_DW3P_COLS_RIGHT))                                                      \
            "4:\n\t"                                                                                      \
            : [xp] "+r"(xp), [o] "+r"(o), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), \
              [x02] "=&r"(x02), [x13] "=&r"(x13), [w02] "=&r"(w02), [w13] "=&r"(w13), [t] "=&r"(t)        \
            : [wr] "r"(wr)                                                                                \
            : "cc", "memory");                                                                            \
    }
NN_DW3P_ROW_FN(dw3p_row_all, NN_DW3P_ROWS_ALL)
NN_DW3P_ROW_FN(dw3p_row_top, NN_DW3P_ROWS_TOP)
NN_DW3P_ROW_FN(dw3p_row_bottom, NN_DW3P_ROWS_BOTTOM)
#endif

/* Path PLANE3, the portable twin of the dw3p_row_* functions and the general form: a row of n outputs of a
 * group from the widened plane at xp, its kernel rows as `rows` says and its edge windows' columns as the
 * record's DW3P_LEFT and DW3P_RIGHT say, fused (rq_dbl from the record) or requantized per output in the form `fast` says
 * (entries e, clamped to [lo, hi]); k of the 4 channels stored. */
NN_INLINE void dw3p_row_c(const uint32_t *wr, const uint32_t *xp, int8_t *o, int32_t n, int rows, const int32_t *e,
                          int32_t k, int32_t zo, int32_t lo, int32_t hi, int fast, const int fused) {
    const int32_t row = (int32_t)(wr[DW3P_ROW] & 0xffffu) / 4, next = (int32_t)wr[DW3P_NEXT] / 4;
    const int32_t ostep = (int32_t)wr[DW3P_OSTEP];
    const int32_t ky0 = rows == DW3P_TOP, ky1 = rows == DW3P_BOTTOM ? 2 : 3;
    for (int32_t i = 0; i < n; ++i, o += ostep, xp += 2 * row + next) {
        const int32_t kx0 = i == 0 && (wr[DW3P_ROW] & DW3P_LEFT) ? 1 : 0;
        const int32_t kx1 = i == n - 1 && (wr[DW3P_ROW] & DW3P_RIGHT) ? 2 : 3;
        int32_t acc[4];
        for (int32_t j = 0; j < 4; ++j) acc[j] = (int32_t)wr[DW3P_BIAS + j];
        for (int32_t ky = ky0; ky < ky1; ++ky) {
            for (int32_t kx = kx0; kx < kx1; ++kx) {
                const uint32_t *x = xp + ky * row + 2 * kx, w02 = wr[2 * (3 * ky + kx)], w13 = wr[2 * (3 * ky + kx) + 1];
                acc[0] = nn_smlabb(w02, x[0], acc[0]);
                acc[2] = nn_smlatt(w02, x[0], acc[2]);
                acc[1] = nn_smlabb(w13, x[1], acc[1]);
                acc[3] = nn_smlatt(w13, x[1], acc[3]);
            }
        }
        for (int32_t j = 0; j < k; ++j) {
            const uint32_t *r = wr + DW3P_RQ + 3 * j;
            o[j] = fused ? (int8_t)nn_ssat8(rq_dbl(acc[j], (int32_t)r[1], (int32_t)r[0], (int32_t)r[2]))
                         : rq_out(e + j * RQ_WORDS, acc[j], zo, 1, lo, hi, fast);
        }
    }
}

/* Path PLANE3, rows x n pixels of 4 channels (the first at x, pixel step ch bytes, row step in_row bytes)
 * widened into the plane at d (row step d_row words) with the input offset added: per pixel the words
 * (c0, c2) and (c1, c3) of SXTAB16 (off2 = the offset in both halves). The assembly does two pixels per pass
 * (5.5 instructions per pixel) and all rows in one call. */
NN_INLINE void dw3p_widen(const int8_t *x, int32_t ch, int32_t in_row, uint32_t *d, int32_t d_row, int32_t n,
                          int32_t rows, uint32_t off2) {
#if NN_ASM
    /* the steps from a row's end to the next row's start, read from the stack (no register left) */
    const int32_t gap[3] = {n, in_row - n * ch, 4 * (d_row - 2 * n)};
    uint32_t v0, v1, y0, y1;
    int32_t cnt;
    __asm__ volatile(
        "1:\n\t"
        "ldr    %[cnt], %[n]\n\t"
        "subs   %[cnt], %[cnt], #2\n\t"
        "blt    3f\n\t"
        "2:\n\t"
        "ldr    %[v0], [%[x]]\n\t"
        "ldr    %[v1], [%[x], %[ch]]\n\t"
        "add    %[x], %[x], %[ch], lsl #1\n\t"
        "sxtab16 %[y0], %[off2], %[v0]\n\t"
        "sxtab16 %[y1], %[off2], %[v0], ror #8\n\t"
        "strd   %[y0], %[y1], [%[d]], #16\n\t"
        "sxtab16 %[y0], %[off2], %[v1]\n\t"
        "sxtab16 %[y1], %[off2], %[v1], ror #8\n\t"
        "strd   %[y0], %[y1], [%[d], #-8]\n\t"
        "subs   %[cnt], %[cnt], #2\n\t"
        "bge    2b\n\t"
        "3:\n\t"
        "adds   %[cnt], %[cnt], #2\n\t"
        "beq    4f\n\t"
        "ldr    %[v0], [%[x]]\n\t"
        "add    %[x], %[x], %[ch]\n\t"
        "sxtab16 %[y0], %[off2], %[v0]\n\t"
        "sxtab16 %[y1], %[off2], %[v0], ror #8\n\t"
        "strd   %[y0], %[y1], [%[d]], #8\n\t"
        "4:\n\t"
        "ldr    %[v0], %[xgap]\n\t"
        "ldr    %[v1], %[dgap]\n\t"
        "add    %[x], %[x], %[v0]\n\t"
        "add    %[d], %[d], %[v1]\n\t"
        "subs   %[rows], %[rows], #1\n\t"
        "bne    1b\n\t"
        : [x] "+r"(x), [d] "+r"(d), [rows] "+r"(rows), [cnt] "=&r"(cnt), [v0] "=&r"(v0), [v1] "=&r"(v1),
          [y0] "=&r"(y0), [y1] "=&r"(y1)
        : [ch] "r"(ch), [off2] "r"(off2), [n] "m"(gap[0]), [xgap] "m"(gap[1]), [dgap] "m"(gap[2])
        : "cc", "memory");
#else
    for (int32_t r = 0; r < rows; ++r, x += in_row, d += d_row) {
        const int8_t *xc = x;
        for (int32_t px = 0; px < n; ++px, xc += ch) {
            const uint32_t v = nn_read32(xc);
            d[2 * px] = nn_sxtab16(off2, v);
            d[2 * px + 1] = nn_sxtab16_ror8(off2, v);
        }
    }
#endif
}

/* Path PLANE3 for one requantization form (`fused`: doubled accumulators requantized by rq_dbl, the
 * output zero point in the rounding addend, no clamp; otherwise per output in the form `fast` says).
 * Per group of 4 channels (k of them in a last partial group): its record, then the input pixels the
 * windows reach widened into the plane with the input offset added (per pixel the words (c0, c2) and
 * (c1, c3) of SXTAB16; ph x pw pixels, the border zeroed once per call, so a padded tap adds nothing as in
 * the reference), then each output row: the windows' kernel taps that lie on padding are skipped
 * (dw3p_rows, dw3p_edges). A group is copied whole before its outputs are written, so the layer may
 * run in place. A partial group's outputs go through a 4-byte-per-pixel row buffer. */
NN_INLINE void dw3p_body(const nn_conv_params_t *p, const int8_t *in, int8_t *out, const int32_t *tab,
                         uint32_t *wr, uint32_t *plane, int fast, const int fused) {
    const int32_t ch = p->in_c, ph = dw_plane3_h(p), pw = dw_plane3_w(p), oh = p->out_h, ow = p->out_w;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    /* plane pixel (py, px) is input (py - pad_top, px - pad_left) */
    const int32_t y0 = p->pad_top, x0 = p->pad_left;
    const int32_t y1 = p->in_h + y0 < ph ? p->in_h + y0 : ph, x1 = p->in_w + x0 < pw ? p->in_w + x0 : pw;
    const uint32_t off2 = 0x00010001u * (uint16_t)(int16_t)p->in_offset;
    for (int32_t i = 0; i < 2 * ph * pw; ++i) plane[i] = 0;
    int8_t part[4 * DW_PLANE3_MAX];
    int8_t rows[DW_PLANE3_MAX];   /* per output row its kernel rows (dw3p_rows), the same in every group */
    for (int32_t oy = 0; oy < oh; ++oy) rows[oy] = (int8_t)dw3p_rows(p, oy);
    /* the record's words that every group shares (dw3p_record writes the others) */
    const uint32_t span = dw3p_edges(p, pw, wr);
    wr[DW3P_NEXT] = (uint32_t)(8 * p->stride_w - 16 * pw);
    const int32_t prow = 2 * p->stride_h * pw;   /* plane words from an output row's windows to the next's */
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * p->in_h * p->in_w * ch;
        int8_t *ob = out + b * oh * ow * ch;
        for (int32_t c0 = 0; c0 < ch; c0 += 4) {
            const int32_t k = ch - c0 < 4 ? ch - c0 : 4;
            dw3p_record(p, c0, k, fused, wr);
            wr[DW3P_OSTEP] = (uint32_t)(k == 4 ? ch : 4);
            if (x0 < x1 && y0 < y1 && k == 4) {   /* (x0 < x1 and y0 < y1 always for SAME and VALID) */
                dw3p_widen(img + c0, ch, p->in_w * ch, plane + 2 * (y0 * pw + x0), 2 * pw, x1 - x0, y1 - y0, off2);
            } else if (x0 < x1) {   /* a partial group: k channels, zeros in the others' lanes */
                const int8_t *x = img + c0;
                uint32_t *d = plane + 2 * (y0 * pw + x0);
                for (int32_t py = y0; py < y1; ++py, x += p->in_w * ch, d += 2 * pw) {
                    const int8_t *xc = x;
                    for (int32_t px = 0; px < x1 - x0; ++px, xc += ch) {
                        const uint32_t v = dw3p_word(xc, k);
                        d[2 * px] = nn_sxtab16(off2, v);
                        d[2 * px + 1] = nn_sxtab16_ror8(off2, v);
                    }
                }
            }
            const uint32_t *xp = plane;
            int8_t *orow = ob + c0;
            for (int32_t oy = 0; oy < oh; ++oy, xp += prow, orow += ow * ch) {
                int8_t *o = k == 4 ? orow : part;
                wr[DW3P_MIDEND] = (uint32_t)(uintptr_t)xp + span;   /* (read by the assembly only) */
#if NN_ASM
                if (!fused) {
                    dw3p_row_c(wr, xp, o, ow, rows[oy], tab + c0 * RQ_WORDS, k, zo, lo, hi, fast, 0);
                } else if (rows[oy] == DW3P_ALL) {
                    dw3p_row_all(wr, xp, o);
                } else if (rows[oy] == DW3P_TOP) {
                    dw3p_row_top(wr, xp, o);
                } else {
                    dw3p_row_bottom(wr, xp, o);
                }
#else
                dw3p_row_c(wr, xp, o, ow, rows[oy], tab + c0 * RQ_WORDS, k, zo, lo, hi, fast, fused);
#endif
                if (k < 4) {
                    int8_t *dst = orow;
                    for (int32_t ox = 0; ox < ow; ++ox, dst += ch) {
                        for (int32_t j = 0; j < k; ++j) dst[j] = part[4 * ox + j];
                    }
                }
            }
        }
    }
}

/* Depthwise with depth multiplier > 1, for one requantization form: output channels
 * ic * dm .. ic * dm + dm - 1 share input channel ic, so each input value is loaded
 * once per tap for all of them (interior pixels again start from the folded bias). */
NN_INLINE void dw_mult_body(const nn_conv_params_t *p, const int8_t *in, int8_t *out,
                                const int32_t *tab, const int32_t *fold, const int fast) {
    const int32_t ic_n = p->in_c, oc_n = p->out_c, dm = p->depth_mult;
    const int32_t in_offset = p->in_offset;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t in_h = p->in_h, in_w = p->in_w;
    const int32_t row_step = dil_h * in_w * ic_n, col_step = dil_w * ic_n, wrow_step = k_w * oc_n;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * in_h * in_w * ic_n;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            nn_valid_taps(iy0, dil_h, k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                nn_valid_taps(ix0, dil_w, k_w, in_w, &kx0, &kx1);
                const int interior = ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
                const int32_t off = interior ? 0 : in_offset;
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * oc_n;
                const int8_t *x_base = img + ((iy0 + ky0 * dil_h) * in_w + ix0 + kx0 * dil_w) * ic_n;
                const int8_t *w_base = p->weights + (ky0 * k_w + kx0) * oc_n;
                for (int32_t ic = 0; ic < ic_n; ++ic) {
                    const int32_t oc0 = ic * dm;
                    for (int32_t m = 0; m < dm; m += 2) {
                        const int32_t oc = oc0 + m;
                        const int two = m + 1 < dm;
                        int32_t a0 = interior ? fold[oc] : tab[oc * RQ_WORDS];
                        int32_t a1 = two ? (interior ? fold[oc + 1] : tab[(oc + 1) * RQ_WORDS]) : 0;
                        const int8_t *xr = x_base + ic;
                        const int8_t *wr = w_base + oc;
                        for (int32_t ky = ky0; ky < ky1; ++ky, xr += row_step, wr += wrow_step) {
                            for (int32_t kx = 0; kx < kx1 - kx0; ++kx) {
                                const int32_t x = xr[kx * col_step] + off;
                                a0 += wr[kx * oc_n] * x;
                                if (two) a1 += wr[kx * oc_n + 1] * x;
                            }
                        }
                        o[oc] = sat_out(rq_apply(tab + oc * RQ_WORDS, a0, fast), zo, lo, hi);
                        if (two) o[oc + 1] = sat_out(rq_apply(tab + (oc + 1) * RQ_WORDS, a1, fast), zo, lo, hi);
                    }
                }
            }
        }
    }
}

/* Path ROWS3 works on lines: the image's rows, or its columns when dw_rows3_transposed (a tall,
 * narrow image such as DS-CNN's 25x5: longer lines, fewer of them). A line's geometry in bytes and
 * pixels, from the layer's parameters (dw3_geometry). */
typedef struct {
    int32_t n_lines, n_out;       /* output lines, outputs per line */
    int32_t stride_across, pad_across, in_across;   /* across the lines (the ring's direction) */
    int32_t pad_along, in_along, s2;                /* along a line; s2: stride 2 (else 1) */
    int32_t in_step, in_line;     /* input bytes between pixels of a line, between lines */
    int32_t out_step, out_line;   /* output bytes between outputs of a line, between lines */
    int32_t len;                  /* int16 elements per gathered line (dw_rows3_len) */
    int32_t n_in;                 /* input pixels gathered per line: those the windows reach */
    int32_t unaligned;            /* gather by word stores from an odd position (dw3_gather) */
    /* dw3_gather's plan for 4 channels, once per call: the pixel at an odd first position alone (head), then
     * `quads` 4-pixel passes from position jq (input byte xq from the line's first pixel), the last pixels
     * one at a time from position jt (input byte xt) */
    int32_t head, jq, xq, quads, jt, xt;
} dw3_geom_t;

static void dw3_geometry(const nn_conv_params_t *p, dw3_geom_t *g) {
    const int32_t ch = p->in_c;
    if (dw_rows3_transposed(p)) {
        *g = (dw3_geom_t){p->out_w, p->out_h, p->stride_w, p->pad_left, p->in_w, p->pad_top, p->in_h,
                          p->stride_h == 2, p->in_w * ch, ch, p->out_w * ch, ch, dw_rows3_len(p),
                          0, 0, 0, 0, 0, 0, 0, 0};
    } else {
        *g = (dw3_geom_t){p->out_h, p->out_w, p->stride_h, p->pad_top, p->in_h, p->pad_left, p->in_w,
                          p->stride_w == 2, ch, p->in_w * ch, ch, p->out_w * ch, dw_rows3_len(p),
                          0, 0, 0, 0, 0, 0, 0, 0};
    }
    g->n_in = g->len - g->pad_along < g->in_along ? g->len - g->pad_along : g->in_along;
    /* a line starting at an odd position: its first pixel alone (about 14 instructions), 4-pixel passes of
     * STRD (24) and the 0..3 last pixels alone (12 each), or passes of STR (28) and 0..3 last pixels */
    const int32_t n = g->n_in, head = 14 + 24 * ((n - 1) >> 2) + 12 * ((n - 1) & 3);
    g->unaligned = (g->pad_along & 1) && 28 * (n >> 2) + 12 * (n & 3) < head;
    g->head = !g->unaligned && (g->pad_along & 1);
    g->jq = g->pad_along + g->head;
    g->xq = g->head * g->in_step;
    g->quads = (g->pad_along + n - g->jq) >> 2;
    g->jt = g->jq + 4 * g->quads;
    g->xt = (g->jt - g->pad_along) * g->in_step;
}

/* Path ROWS3's gather, 4 pixels of 4 channels (`step` bytes apart from x) into the 4 int16 lines at
 * r0..r3, n times: per pixel pair PKHBT/PKHTB first put channels (0, 1) and (2, 3) of both pixels into one
 * word each, so that one SXTB16 (or SXTB16 ror 8) makes a channel's pair; per 4 pixels 4 loads, 4 PKH,
 * 8 SXTB16 and 4 STRD (24 instructions per 16 elements; lines word-aligned), or 8 STR where the lines
 * start at an odd position (dw3_gather4_quads_u, 28: a line of SAME padding without a first pixel alone). */
#if NN_ASM
/* The pass runs in naked functions on fixed registers (NN_DW3G_FIXED: x r0, step r1, the 4 channel lines
 * r2, r4, r5, r6, the count r3, pixels r7..r10, packed pairs r11 and r12, 3 step in lr); the text names them
 * through R. STORE(R, L) stores channel pairs v1 (pixels 0, 1) and v3 (pixels 2, 3) at line pointer L and moves
 * it. 23 instructions per 16 elements (the 4 loads off x by step, 2 step and 3 step: one pointer step). */
#define NN_DW3G_FIXED(n) NN_DW3G_FIXED_##n
#define NN_DW3G_FIXED_x "r0"
#define NN_DW3G_FIXED_step "r1"
#define NN_DW3G_FIXED_r0 "r2"
#define NN_DW3G_FIXED_n "r3"
#define NN_DW3G_FIXED_r1 "r4"
#define NN_DW3G_FIXED_r2 "r5"
#define NN_DW3G_FIXED_r3 "r6"
#define NN_DW3G_FIXED_v0 "r7"
#define NN_DW3G_FIXED_v1 "r8"
#define NN_DW3G_FIXED_v2 "r9"
#define NN_DW3G_FIXED_v3 "r10"
#define NN_DW3G_FIXED_t0 "r11"
#define NN_DW3G_FIXED_t1 "r12"
#define NN_DW3G_FIXED_s3 "lr"
#define NN_DW3G_STRD(R, L) "strd   " R(v1) ", " R(v3) ", [" R(L) "], #8\n\t"
#define NN_DW3G_STR(R, L) "str    " R(v1) ", [" R(L) "], #4\n\t" "str    " R(v3) ", [" R(L) "], #4\n\t"
#define NN_DW3G_QUADS(R, STORE)                               \
    "1:\n\t"                                                  \
    "ldr    " R(v0) ", [" R(x) "]\n\t"                        \
    "ldr    " R(v1) ", [" R(x) ", " R(step) "]\n\t"           \
    "ldr    " R(v2) ", [" R(x) ", " R(step) ", lsl #1]\n\t"   \
    "ldr    " R(v3) ", [" R(x) ", " R(s3) "]\n\t"             \
    "add    " R(x) ", " R(x) ", " R(step) ", lsl #2\n\t"      \
    "pkhbt  " R(t0) ", " R(v0) ", " R(v1) ", lsl #16\n\t"     \
    "pkhbt  " R(t1) ", " R(v2) ", " R(v3) ", lsl #16\n\t"     \
    "pkhtb  " R(v0) ", " R(v1) ", " R(v0) ", asr #16\n\t"     \
    "pkhtb  " R(v2) ", " R(v3) ", " R(v2) ", asr #16\n\t"     \
    "sxtb16 " R(v1) ", " R(t0) "\n\t"                         \
    "sxtb16 " R(v3) ", " R(t1) "\n\t"                         \
    STORE(R, r0)                                              \
    "sxtb16 " R(v1) ", " R(t0) ", ror #8\n\t"                 \
    "sxtb16 " R(v3) ", " R(t1) ", ror #8\n\t"                 \
    STORE(R, r1)                                              \
    "sxtb16 " R(v1) ", " R(v0) "\n\t"                         \
    "sxtb16 " R(v3) ", " R(v2) "\n\t"                         \
    STORE(R, r2)                                              \
    "sxtb16 " R(v1) ", " R(v0) ", ror #8\n\t"                 \
    "sxtb16 " R(v3) ", " R(v2) ", ror #8\n\t"                 \
    STORE(R, r3)                                              \
    "subs   " R(n) ", " R(n) ", #1\n\t"                       \
    "bne    1b\n\t"
/* dw3_gather4_quads(x, step, r0, len, n): the channel lines len int16 apart, n (the fifth argument) on the
 * stack above the 9 saved registers. */
#define NN_DW3G_ONE(STORE)                                    \
    "push   {r4-r11, lr}\n\t"                                 \
    "lsl    r3, r3, #1\n\t"                                   \
    "add    r4, r2, r3\n\t"                                   \
    "add    r5, r4, r3\n\t"                                   \
    "add    r6, r5, r3\n\t"                                   \
    "ldr    r3, [sp, #36]\n\t"                                \
    "add    lr, r1, r1, lsl #1\n\t"                           \
    NN_DW3G_QUADS(NN_DW3G_FIXED, STORE)                       \
    "pop    {r4-r11, pc}\n\t"
__attribute__((naked, noinline)) static void dw3_gather4_quads(const int8_t *x, int32_t step, int16_t *r0,
                                                               int32_t len, int32_t n) {
    (void)x, (void)step, (void)r0, (void)len, (void)n;
    __asm__ volatile(NN_DW3G_ONE(NN_DW3G_STRD));
}
__attribute__((naked, noinline)) static void dw3_gather4_quads_u(const int8_t *x, int32_t step, int16_t *r0,
                                                                 int32_t len, int32_t n) {
    (void)x, (void)step, (void)r0, (void)len, (void)n;
    __asm__ volatile(NN_DW3G_ONE(NN_DW3G_STR));
}
#else
static void dw3_gather4_quads(const int8_t *x, int32_t step, int16_t *r0, int32_t len, int32_t n) {
    int16_t *r1 = r0 + len, *r2 = r1 + len, *r3 = r2 + len;
    for (int32_t j = 0; j < 4 * n; j += 2, x += 2 * step) {
        const uint32_t v0 = nn_read32(x), v1 = nn_read32(x + step);
        const uint32_t lo = (v0 & 0xFFFFu) | (v1 << 16), hi = (v1 & 0xFFFF0000u) | (v0 >> 16);   /* PKHBT, PKHTB */
        nn_write32(r0 + j, nn_sxtb16(lo));
        nn_write32(r1 + j, nn_sxtb16_ror8(lo));
        nn_write32(r2 + j, nn_sxtb16(hi));
        nn_write32(r3 + j, nn_sxtb16_ror8(hi));
    }
}
#define dw3_gather4_quads_u dw3_gather4_quads   /* (the portable twin stores by memcpy either way) */
#endif

/* Path ROWS3 at stride 2 across the lines: an output line needs two new input lines, gathered by one call
 * when both lie in the image and the plan is whole 4-pixel passes of 4 channels (dw3_group_s2_across): the state of
 * dw3_gather4_lines2, in the order its assembly reads it. */
typedef struct {
    const int8_t *x;   /*  0: line A's first pixel (channel c0) */
    int32_t step;      /*  4: input bytes between pixels */
    int32_t quads;     /*  8: 4-pixel passes per line (>= 1) */
    int32_t len2;      /* 12: bytes between a slot's channel lines (2 len) */
    int16_t *ra;       /* 16: line A's slot, channel 0's line at the first position gathered */
    int16_t *rb;       /* 20: line B's */
    const int8_t *xb;  /* 24: line B's first pixel */
} dw3_lines2_t;

#if NN_ASM
_Static_assert(offsetof(dw3_lines2_t, len2) == 12 && offsetof(dw3_lines2_t, xb) == 24,
               "dw3_gather4_lines2 reads dw3_lines2_t at these offsets");
/* One line of dw3_gather4_lines2 (the state at r12, saved at sp): its first pixel from state offset X, its
 * slot from offset R (the channel lines len2 bytes apart), then dw3_gather4_quads' passes. */
#define NN_DW3G2_LINE(X, R)                                   \
    "ldr    r0, [r12, #" X "]\n\t"                            \
    "ldrd   r1, r3, [r12, #4]\n\t"                            \
    "ldr    lr, [r12, #12]\n\t"                               \
    "ldr    r2, [r12, #" R "]\n\t"                            \
    "add    r4, r2, lr\n\t"                                   \
    "add    r5, r4, lr\n\t"                                   \
    "add    r6, r5, lr\n\t"                                   \
    "add    lr, r1, r1, lsl #1\n\t"                           \
    NN_DW3G_QUADS(NN_DW3G_FIXED, NN_DW3G_STRD)                \
    "ldr    r12, [sp]\n\t"
/* ... both lines (line A from offsets 0 and 16, line B from 24 and 20) */
#define NN_DW3G2_LINES NN_DW3G2_LINE("0", "16") NN_DW3G2_LINE("24", "20")
__attribute__((naked, noinline)) static void dw3_gather4_lines2(const dw3_lines2_t *s) {
    (void)s;
    __asm__ volatile(
        "push   {r0, r4-r11, lr}\n\t"
        "mov    r12, r0\n\t"
        NN_DW3G2_LINES
        "pop    {r0, r4-r11, pc}\n\t");
}
#else
static void dw3_gather4_lines2(const dw3_lines2_t *s) {
    dw3_gather4_quads(s->x, s->step, s->ra, s->len2 / 2, s->quads);
    dw3_gather4_quads(s->xb, s->step, s->rb, s->len2 / 2, s->quads);
}
#endif

/* Path ROWS3: n words (a multiple of 4, n >= 4) of v from w: a padding line's 4 int16 lines of the fill. */
#if NN_ASM
/* 8 words per STM (4 first when n % 8 == 4): 3 instructions per 8 words, where the C loop took 8 per 4 */
__attribute__((naked, noinline)) static void dw3_fill(uint32_t *w, int32_t n, uint32_t v) {
    (void)w, (void)n, (void)v;
    __asm__ volatile(
        "push   {r4-r8, lr}\n\t"
        "mov    r3, r2\n\t"
        "mov    r4, r2\n\t"
        "mov    r5, r2\n\t"
        "mov    r6, r2\n\t"
        "mov    r7, r2\n\t"
        "mov    r8, r2\n\t"
        "mov    r12, r2\n\t"
        "tst    r1, #4\n\t"
        "beq    1f\n\t"
        "stmia  r0!, {r2-r5}\n\t"
        "subs   r1, r1, #4\n\t"
        "beq    2f\n"
        "1:\n\t"
        "stmia  r0!, {r2-r8, r12}\n\t"
        "subs   r1, r1, #8\n\t"
        "bne    1b\n"
        "2:\n\t"
        "pop    {r4-r8, pc}\n\t");
}
#else
static void dw3_fill(uint32_t *w, int32_t n, uint32_t v) {
    for (int32_t i = 0; i < n; i += 4) w[i] = w[i + 1] = w[i + 2] = w[i + 3] = v;
}
#endif

/* Path ROWS3's gather, one pixel of 4 channels at x into position j of the lines at r. */
NN_INLINE void dw3_gather4_one(const int8_t *x, int16_t *r, int32_t len, int32_t j) {
    const uint32_t v = nn_read32(x), a = nn_sxtb16(v), b = nn_sxtb16_ror8(v);
    r[j] = (int16_t)a;
    r[len + j] = (int16_t)b;
    r[2 * len + j] = (int16_t)(a >> 16);
    r[3 * len + j] = (int16_t)(b >> 16);
}

/* Path ROWS3: an input line of channels c0 .. c0 + k - 1 (k <= 4; x: its pixel of position 0 at channel
 * c0, or NULL for a line outside the image) as int16 raw input values at rows[i * len + j] for position
 * j - pad_along, j in [pad_along, pad_along + n_in). The input offset is in the folded biases, so the
 * positions outside the image (filled once per call, dw3_body) and whole lines outside it hold
 * `fill` = -in_offset: a padded tap then adds w * (-in_offset), which cancels its share of the fold, as a
 * padded tap adds nothing in the reference. With 4 channels a pixel at an odd position first, then 4
 * pixels at a time (dw3_gather4_quads: the lines' words stay aligned), the last 0..3 one at a time. */
static void dw3_gather(const dw3_geom_t *g, const int8_t *x, int32_t k, uint32_t fill2, int16_t *rows) {
    const int32_t pad = g->pad_along, len = g->len, n = g->n_in;
    if (!x) {   /* a padding line: all fill (the 4 lines are one block of 2 len words, len even) */
        dw3_fill((uint32_t *)(void *)rows, 2 * len, fill2);
        return;
    }
    const int32_t step = g->in_step;
    if (k == 4) {   /* the plan of dw3_geometry */
        if (g->head) dw3_gather4_one(x, rows, len, pad);
        if (g->quads > 0) {
            (g->unaligned ? dw3_gather4_quads_u : dw3_gather4_quads)(x + g->xq, step, rows + g->jq, len, g->quads);
        }
        x += g->xt;
        for (int32_t j = g->jt; j < pad + n; ++j, x += step) dw3_gather4_one(x, rows, len, j);
    } else {
        for (int32_t i = 0; i < k; ++i) {
            int16_t *r = rows + i * len + pad;
            for (int32_t j = 0; j < n; ++j) r[j] = (int16_t)x[j * step + i];
        }
    }
}

/* Path ROWS3's fused requantization of a doubled accumulator with the record's constants (rq_dbl). */
NN_INLINE int32_t dw3_rq(int32_t acc2, const uint32_t *wr) {
    return rq_dbl(acc2, (int32_t)wr[DW3_MULT], (int32_t)wr[DW3_RND], (int32_t)wr[DW3_RR]);
}

/* Path ROWS3, four adjacent outputs of one channel in the fused form: the 3x3 taps from its gathered
 * input lines at q[0..2] (advanced past the 4 windows: 4 << s2 columns), the channel's record wr
 * (dw3_record: per kernel row the doubled weight pairs (w0, w1) and (w1, w2), the doubled bias), the
 * outputs at *o, *o + step, .. (advanced by 4 steps). Per kernel row 1 LDRD of weights, 2 LDRD + 1 LDR
 * of input at stride 2 (1 LDRD + 1 LDR at stride 1: output 1 is w0 x1 + (w1, w2).(x2, x3), output 3
 * alike) and 8 multiplies (SMLAD, SMLABT/SMLATB), then per output 5 instructions of requantization
 * (rq_dbl) and store. */
/* An output line of a group's channels (dw3_lines): in the order the assembly's LDM reads it. */
typedef struct {
    int16_t *q0, *q1, *q2;         /* channel 0's gathered input lines (the ring's slots) */
    int8_t *o;                     /* its first output */
    const uint32_t *wr;            /* its record's DW3_MULT word */
} dw3_lines_t;
#if NN_ASM
/* The passes run in naked functions (dw3_lines_s1_asm, dw3_lines_s2_asm) on fixed registers: the accumulators
 * a0..a3 in r0..r3 and the requantization constants wb (mult), wa (R2), x (rr + 1) in r4..r6, so that one LDMDB
 * fills the accumulators with the 4 biases and one LDM loads the constants; t r7, the line pointers q0..q2
 * r8..r10, the output o r11, the record pointer wr r12 (at the record's DW3_MULT word: the weights at negative
 * offsets), and lr counts the passes. */
#define NN_DW3L_a0 "r0"
#define NN_DW3L_a1 "r1"
#define NN_DW3L_a2 "r2"
#define NN_DW3L_a3 "r3"
#define NN_DW3L_wb "r4"
#define NN_DW3L_wa "r5"
#define NN_DW3L_x "r6"
#define NN_DW3L_t "r7"
#define NN_DW3L_q0 "r8"
#define NN_DW3L_q1 "r9"
#define NN_DW3L_q2 "r10"
#define NN_DW3L_o "r11"
#define NN_DW3L_wr "r12"
/* One kernel row at stride 1: words x01 x23 (LDRD, post-incremented by 8) and x45 (offset 8 = 0
 * after it); weights wa = (w0, w1), wb = (w1, w2). 11 instructions per 12 MACs. */
#define NN_DW3Q_ROW_S1(Q, W)                                  \
    "ldrd   r5, r4, [r12, #" W "]\n\t"                        \
    "ldrd   r6, r7, [" Q "], #8\n\t"                          \
    "smlad  r0, r5, r6, r0\n\t"                               \
    "smlabt r1, r5, r6, r1\n\t"                               \
    "ldr    r6, [" Q "]\n\t"                                  \
    "smlatb r0, r4, r7, r0\n\t"                               \
    "smlad  r1, r4, r7, r1\n\t"                               \
    "smlad  r2, r5, r7, r2\n\t"                               \
    "smlabt r3, r5, r7, r3\n\t"                               \
    "smlatb r2, r4, r6, r2\n\t"                               \
    "smlad  r3, r4, r6, r3\n\t"
/* ... at stride 2: words x01 x23, x45 x67 (two LDRD, post-increment 16) and x89. 12 instructions. */
#define NN_DW3Q_ROW_S2(Q, W)                                  \
    "ldrd   r5, r4, [r12, #" W "]\n\t"                        \
    "ldrd   r6, r7, [" Q "], #16\n\t"                         \
    "smlad  r0, r5, r6, r0\n\t"                               \
    "smlatb r0, r4, r7, r0\n\t"                               \
    "smlad  r1, r5, r7, r1\n\t"                               \
    "ldrd   r6, r7, [" Q ", #-8]\n\t"                         \
    "smlatb r1, r4, r6, r1\n\t"                               \
    "smlad  r2, r5, r6, r2\n\t"                               \
    "smlatb r2, r4, r7, r2\n\t"                               \
    "smlad  r3, r5, r7, r3\n\t"                               \
    "ldr    r6, [" Q "]\n\t"                                  \
    "smlatb r3, r4, r6, r3\n\t"
/* The fused requantization of a doubled accumulator A (rq_dbl; wa = R2, wb = mult, x = rr + 1),
 * the int8 result left in A for STORE. */
#define NN_DW3Q_RQ(A, STORE)                                  \
    "add    r7, r5, " A ", asr #31\n\t"                       \
    "smmlar " A ", " A ", r4, r7\n\t"                         \
    "asr    " A ", " A ", r6\n\t"                             \
    "ssat   " A ", #8, " A "\n\t"                             \
    STORE
/* (record byte offsets from wr, the DW3_MULT word: weights -40..-20, the 4 biases -16..-4, MULT 0, RND 4, RR 8,
 * CH 12, QREW 16, OREW 20, QUADS 24, SINGLES 28; nn_opt_internal.h) */
#define NN_DW3Q_BODY(ROW)                                     \
    "ldmdb  r12, {r0-r3}\n\t"                                 \
    ROW("r8", "-40") ROW("r9", "-32") ROW("r10", "-24")       \
    "ldm    r12, {r4-r6}\n\t"                                 \
    NN_DW3Q_RQ("r0", "strb   r0, [r11]\n\t")                  \
    "ldr    r0, [r12, #12]\n\t"                               \
    NN_DW3Q_RQ("r1", "strb   r1, [r11, r0]\n\t")              \
    "add    r11, r11, r0, lsl #1\n\t"                         \
    NN_DW3Q_RQ("r2", "strb   r2, [r11]\n\t")                  \
    NN_DW3Q_RQ("r3", "strb   r3, [r11, r0]\n\t")              \
    "add    r11, r11, r0, lsl #1\n\t"

/* One output (the last n_out % 4 of a line): per kernel row 1 LDRD, 2 loads, SMLAD and SMLATB; the
 * lines move by INC bytes (1 << s2 columns) on the first load, tap 2 then at byte offset X2. */
#define NN_DW3S_ROW(Q, W, INC, X2)                            \
    "ldrd   r5, r4, [r12, #" W "]\n\t"                        \
    "ldr    r6, [" Q "], #" INC "\n\t"                        \
    "smlad  r0, r5, r6, r0\n\t"                               \
    "ldr    r6, [" Q ", #" X2 "]\n\t"                         \
    "smlatb r0, r4, r6, r0\n\t"
#define NN_DW3S_BODY(INC, X2)                                 \
    "ldr    r0, [r12, #-16]\n\t"                              \
    NN_DW3S_ROW("r8", "-40", INC, X2) NN_DW3S_ROW("r9", "-32", INC, X2) NN_DW3S_ROW("r10", "-24", INC, X2) \
    "ldm    r12, {r4-r6}\n\t"                                 \
    NN_DW3Q_RQ("r0", "ldr    r6, [r12, #12]\n\t")             \
    "strb   r0, [r11]\n\t"                                    \
    "add    r11, r11, r6\n\t"
/* The lines of a group's channels (the state dw3_lines_t: q0..q2, o, wr into r8..r12): per channel QUADS
 * 4-output passes (at least one: ROWS3 lines hold 4 outputs or more), then SINGLES single outputs; then the line
 * pointers move by QREW to the next channel's lines, the output by OREW, the record by DW3_REC words; QREW's
 * bit 0 marks the last. */
/* A channel's QUADS 4-output passes, and the step to the next channel: its lines QREW bytes on, its first output
 * OREW bytes on, its record DW3_REC words on. */
#define NN_DW3_PASSES(ROW)                                    \
    "ldr    lr, [r12, #24]\n"                                 \
    "1:\n\t"                                                  \
    NN_DW3Q_BODY(ROW)                                         \
    "subs   lr, lr, #1\n\t"                                   \
    "bne    1b\n\t"
#define NN_DW3_NEXT_CHANNEL                                   \
    "ldrd   r7, r6, [r12, #16]\n\t"                           \
    "add    r10, r10, r7\n\t"                                 \
    "add    r9, r9, r7\n\t"                                   \
    "add    r8, r8, r7\n\t"                                   \
    "add    r11, r11, r6\n\t"                                 \
    "add    r12, r12, #72\n\t"
#define NN_DW3_LINES(ROW, INC, X2)                            \
    "push   {r4-r11, lr}\n\t"                                 \
    "ldm    r0, {r8-r12}\n"                                   \
    "0:\n\t"                                                  \
    NN_DW3_PASSES(ROW)                                        \
    "ldr    r7, [r12, #28]\n\t"                               \
    "cbz    r7, 4f\n\t"                                       \
    "mov    lr, r7\n"                                         \
    "3:\n\t"                                                  \
    NN_DW3S_BODY(INC, X2)                                     \
    "subs   lr, lr, #1\n\t"                                   \
    "bne    3b\n"                                             \
    "4:\n\t"                                                  \
    NN_DW3_NEXT_CHANNEL                                       \
    "tst    r7, #1\n\t"                                       \
    "beq    0b\n\t"                                           \
    "pop    {r4-r11, pc}\n\t"
_Static_assert(offsetof(dw3_lines_t, wr) == 16, "dw3_lines_s1_asm and dw3_lines_s2_asm read dw3_lines_t so");
__attribute__((naked, noinline)) static void dw3_lines_s1_asm(const dw3_lines_t *s) {
    (void)s;
    __asm__ volatile(NN_DW3_LINES(NN_DW3Q_ROW_S1, "2", "2"));
}
/* (a single output at stride 2 moves the lines 2 columns; its tap 2 is the low half 4 bytes on) */
__attribute__((naked, noinline)) static void dw3_lines_s2_asm(const dw3_lines_t *s) {
    (void)s;
    __asm__ volatile(NN_DW3_LINES(NN_DW3Q_ROW_S2, "4", "0"));
}
#define NN_DW3_PASSES_X4                                                       \
    NN_DW3_PASSES(NN_DW3Q_ROW_S2) NN_DW3_NEXT_CHANNEL   /* channel 0 */        \
    NN_DW3_PASSES(NN_DW3Q_ROW_S2) NN_DW3_NEXT_CHANNEL   /* channel 1 */        \
    NN_DW3_PASSES(NN_DW3Q_ROW_S2) NN_DW3_NEXT_CHANNEL   /* channel 2 */        \
    NN_DW3_PASSES(NN_DW3Q_ROW_S2)                       /* channel 3 */
/* A run of `count` output lines of dw3_group_s2_across in one call: per line its two new input lines gathered
 * (dw3_gather4_lines2), then its passes with the channel loop unrolled (no single-output and last-channel tests;
 * about 1 KB of code), then the state moves to the next line in place (18 instructions, where a C loop around a
 * call per line took about 32): both input lines 2 in_line bytes on, the ring's outer slots traded (line B's slot
 * rb at the new q2 + jq bytes), the output out_line bytes on. On return the state is that of the line after the
 * run. */
typedef struct {
    dw3_lines2_t gather;   /*  0: dw3_gather4_lines2's state */
    dw3_lines_t passes;    /* 28: the passes' */
    int32_t in_line;       /* 48: input bytes between lines */
    int32_t out_line;      /* 52: output bytes between lines */
    int32_t jq2;           /* 56: bytes from a slot to its first position gathered (2 jq) */
    int32_t count;         /* 60: lines to run (>= 1) */
} dw3_line_s2_t;
_Static_assert(offsetof(dw3_line_s2_t, passes) == 28 && offsetof(dw3_line_s2_t, in_line) == 48 &&
               offsetof(dw3_line_s2_t, count) == 60, "dw3_line_s2x4_asm reads dw3_line_s2_t so");
__attribute__((naked, noinline)) static void dw3_line_s2x4_asm(dw3_line_s2_t *s) {
    (void)s;
    __asm__ volatile(
        "push   {r0, r4-r11, lr}\n\t"
        "mov    r12, r0\n"
        "5:\n\t"
        NN_DW3G2_LINES
        "add    r0, r12, #28\n\t"
        "ldm    r0, {r8-r12}\n\t"
        NN_DW3_PASSES_X4
        "ldr    r12, [sp]\n\t"
        "ldrd   r0, r1, [r12, #48]\n\t"    /* in_line, out_line */
        "ldrd   r2, r3, [r12, #56]\n\t"    /* jq2, count */
        "ldr    r4, [r12]\n\t"             /* line A: 2 lines on; line B the next */
        "add    r4, r4, r0, lsl #1\n\t"
        "add    r5, r4, r0\n\t"
        "str    r4, [r12]\n\t"
        "str    r5, [r12, #24]\n\t"
        "ldr    r6, [r12, #28]\n\t"        /* q0 <-> q2, o on */
        "ldrd   r7, r8, [r12, #36]\n\t"
        "add    r8, r8, r1\n\t"
        "str    r7, [r12, #28]\n\t"
        "strd   r6, r8, [r12, #36]\n\t"
        "add    r6, r6, r2\n\t"            /* rb: the new q2's first position gathered */
        "str    r6, [r12, #20]\n\t"
        "subs   r3, r3, #1\n\t"
        "str    r3, [r12, #60]\n\t"
        "bne    5b\n\t"
        "pop    {r0, r4-r11, pc}\n\t");
}
#else
/* The portable twins of the passes: four outputs (dw3_quad_c) and one (dw3_single_c). */
static void dw3_quad_c(const uint32_t *wr, const int16_t **q, int8_t **o, const int s2) {
    const int32_t bias = (int32_t)wr[DW3_BIAS], step = (int32_t)wr[DW3_CH];
    int32_t acc[4] = {bias, bias, bias, bias};
    for (int32_t ky = 0; ky < 3; ++ky) {
        const int16_t *r = q[ky];
        const uint32_t wa = wr[2 * ky], wb = wr[2 * ky + 1];   /* (w0, w1), (w1, w2) */
        if (s2) {
            const uint32_t x01 = nn_read32(r), x23 = nn_read32(r + 2), x45 = nn_read32(r + 4);
            const uint32_t x67 = nn_read32(r + 6), x89 = nn_read32(r + 8);
            acc[0] = nn_smlabt(x23, wb, nn_smlad(wa, x01, acc[0]));   /* SMLATB(wb, x) = SMLABT(x, wb) */
            acc[1] = nn_smlabt(x45, wb, nn_smlad(wa, x23, acc[1]));
            acc[2] = nn_smlabt(x67, wb, nn_smlad(wa, x45, acc[2]));
            acc[3] = nn_smlabt(x89, wb, nn_smlad(wa, x67, acc[3]));
        } else {
            const uint32_t x01 = nn_read32(r), x23 = nn_read32(r + 2), x45 = nn_read32(r + 4);
            acc[0] = nn_smlabt(x23, wb, nn_smlad(wa, x01, acc[0]));
            acc[1] = nn_smlad(wb, x23, nn_smlabt(wa, x01, acc[1]));
            acc[2] = nn_smlabt(x45, wb, nn_smlad(wa, x23, acc[2]));
            acc[3] = nn_smlad(wb, x45, nn_smlabt(wa, x23, acc[3]));
        }
        q[ky] += 4 << s2;
    }
    for (int32_t k = 0; k < 4; ++k) (*o)[k * step] = (int8_t)nn_ssat8(dw3_rq(acc[k], wr));
    *o += 4 * step;
}

static void dw3_single_c(const uint32_t *wr, const int16_t **q, int8_t **o, const int s2) {
    int32_t a = (int32_t)wr[DW3_BIAS];
    for (int32_t r = 0; r < 3; ++r) {
        a = nn_smlabt(nn_read32(q[r] + 2), wr[2 * r + 1], nn_smlad(wr[2 * r], nn_read32(q[r]), a));
        q[r] += 1 << s2;
    }
    **o = (int8_t)nn_ssat8(dw3_rq(a, wr));
    *o += (int32_t)wr[DW3_CH];
}
#endif

/* Path ROWS3 in the fused form, an output line of each channel of a group from its gathered input lines
 * (channel 0's at st->q0..q2, the next channel's QREW bytes after a line's end) and records (st->wr, DW3_REC
 * words apart): four outputs per pass, then one at a time. */
NN_INLINE void dw3_lines(const dw3_lines_t *st, int32_t n_out, const int s2) {
#if NN_ASM
    (void)n_out;
    if (s2) {
        dw3_lines_s2_asm(st);
    } else {
        dw3_lines_s1_asm(st);
    }
#else
    const int16_t *q0 = st->q0, *q1 = st->q1, *q2 = st->q2;
    int8_t *o = st->o;
    const uint32_t *wr = st->wr - DW3_MULT;
    for (;;) {
        const int16_t *q[3] = {q0, q1, q2};
        int32_t ox = 0;
        for (; ox + 4 <= n_out; ox += 4) dw3_quad_c(wr, q, &o, s2);
        for (; ox < n_out; ++ox) dw3_single_c(wr, q, &o, s2);
        const uint32_t rew = wr[DW3_QREW];
        q0 = (const int16_t *)(const void *)((const char *)q[0] + (rew & ~1u));
        q1 = (const int16_t *)(const void *)((const char *)q[1] + (rew & ~1u));
        q2 = (const int16_t *)(const void *)((const char *)q[2] + (rew & ~1u));
        o += (int32_t)wr[DW3_OREW];
        wr += DW3_REC;
        if (rew & 1u) break;
    }
#endif
}

/* The input line i of the group whose channel c0 is at img_c0, or NULL outside the image. */
NN_INLINE const int8_t *dw3_line_at(const dw3_geom_t *g, const int8_t *img_c0, int32_t i) {
    return (uint32_t)i < (uint32_t)g->in_across ? img_c0 + i * g->in_line : (const int8_t *)0;
}

/* The input line i of the group at img_c0 gathered into the slot q by the plan dw3_group_s2_across runs on (whole
 * 4-pixel passes from position jq), or all fill outside the image: dw3_gather without its plan tests. */
NN_INLINE void dw3_gather_s2_line(const dw3_geom_t *g, const int8_t *img_c0, int32_t i, uint32_t fill2, int16_t *q) {
    if ((uint32_t)i < (uint32_t)g->in_across) {
        dw3_gather4_quads(img_c0 + i * g->in_line, g->in_step, q + g->jq, g->len, g->quads);
    } else {
        dw3_fill((uint32_t *)(void *)q, 2 * g->len, fill2);
    }
}

/* Path ROWS3 in the fused form, stride 2 across the lines, the lines of a full group of 4 channels (records
 * at recs) whose gather plan is whole 4-pixel passes (dw3_body's lines2): the ring's middle slot always takes
 * input line 2 l + 1 and the first and last trade places, so each output line gathers its two new input lines
 * with one dw3_gather4_lines2 call (a run of such lines in one dw3_line_s2x4_asm call where its passes are whole;
 * lines outside the image by dw3_gather_s2_line); o: the group's first output. */
static void dw3_group_s2_across(const dw3_geom_t *g, const int8_t *img_c0, const uint32_t *recs, int16_t *ring,
                                int8_t *o, const dw3_lines2_t *l2, uint32_t fill2, const int s2) {
    const int32_t len = g->len, jq = g->jq, in_line = g->in_line, n_lines = g->n_lines;
    const uint32_t inner = (uint32_t)(g->in_across - 1);
    struct {   /* (dw3_line_s2_t on Arm) */
        dw3_lines2_t gather;
        dw3_lines_t passes;
        int32_t in_line, out_line, jq2, count;
    } s = {*l2, {ring, ring + 4 * len, ring + 8 * len, o, recs + DW3_MULT}, in_line, g->out_line, 2 * jq, 0};
    const int whole = s2 && (g->n_out & 3) == 0;   /* whole 4-output passes: dw3_line_s2x4_asm */
    (void)whole;
    int32_t il = -g->pad_across;
    s.gather.ra = s.passes.q1 + jq;
    dw3_gather_s2_line(g, img_c0, il, fill2, s.passes.q0);
    for (int32_t ol = 0;;) {
        const int inside = (uint32_t)(il + 1) < inner;   /* lines il + 1 and il + 2 in the image */
        if (inside) {
            s.gather.x = img_c0 + (il + 1) * in_line;
            s.gather.xb = s.gather.x + in_line;
            s.gather.rb = s.passes.q2 + jq;
        } else {
            dw3_gather_s2_line(g, img_c0, il + 1, fill2, s.passes.q1);
            dw3_gather_s2_line(g, img_c0, il + 2, fill2, s.passes.q2);
        }
#if NN_ASM
        if (whole && inside) {   /* the run of lines from here whose two new input lines lie in the image */
            int32_t run = ((g->in_across - 3 - il) >> 1) + 1;
            if (run > n_lines - ol) run = n_lines - ol;
            s.count = run;
            dw3_line_s2x4_asm((dw3_line_s2_t *)(void *)&s);   /* (it leaves s at the line after the run) */
            ol += run;
            if (ol == n_lines) break;
            il += 2 * run;
            continue;
        } else {
            if (inside) dw3_gather4_lines2(&s.gather);
            dw3_lines(&s.passes, g->n_out, s2);
        }
#else
        if (inside) dw3_gather4_lines2(&s.gather);
        dw3_lines(&s.passes, g->n_out, s2);
#endif
        if (++ol == n_lines) break;
        s.passes.o += g->out_line;
        il += 2;
        int16_t *t = s.passes.q0;   /* the last slot's line (il + 2 before) is the next output line's first */
        s.passes.q0 = s.passes.q2;
        s.passes.q2 = t;
    }
}

/* Path ROWS3 in the general form, one output line of one channel from its 3 gathered input lines
 * q0..q2 and its record wr: two outputs per pass (per kernel row 3 word loads, 2 SMLAD and 2
 * SMLABT/SMLATB), requantized per output in the form `fast` says (the record's entry e), clamped. */
NN_INLINE void dw3_row(const uint32_t *wr, const int16_t *q0, const int16_t *q1, const int16_t *q2, int8_t *o,
                       int32_t step, int32_t n_out, int32_t zo, int32_t lo, int32_t hi, const int s2) {
    const int32_t *e = (const int32_t *)(const void *)(wr + DW3_GEN);   /* e[1..3]: mult, rounding, shift */
    const int fast = (int)wr[DW3_FAST];
    const uint32_t wa0 = wr[0], wb0 = wr[1], wa1 = wr[2], wb1 = wr[3], wa2 = wr[4], wb2 = wr[5];
    const int32_t bias = (int32_t)wr[DW3_BIAS];
    int32_t ox = 0;
    for (; ox + 2 <= n_out; ox += 2, o += 2 * step, q0 += 2 << s2, q1 += 2 << s2, q2 += 2 << s2) {
        int32_t a0 = bias, a1 = bias;
#define NN_DW3_ROW(Q, WA, WB)                                                               \
    do {                                                                                    \
        const uint32_t x01 = nn_read32(Q), x23 = nn_read32((Q) + 2);                        \
        a0 = nn_smlabt(x23, WB, nn_smlad(WA, x01, a0));                                     \
        if (s2) {                                                                           \
            a1 = nn_smlabt(nn_read32((Q) + 4), WB, nn_smlad(WA, x23, a1));                  \
        } else {                                                                            \
            a1 = nn_smlad(WB, x23, nn_smlabt(WA, x01, a1));                                 \
        }                                                                                   \
    } while (0)
        NN_DW3_ROW(q0, wa0, wb0);
        NN_DW3_ROW(q1, wa1, wb1);
        NN_DW3_ROW(q2, wa2, wb2);
#undef NN_DW3_ROW
        o[0] = rq_out(e, a0, zo, 1, lo, hi, fast);
        o[step] = rq_out(e, a1, zo, 1, lo, hi, fast);
    }
    if (ox < n_out) {
        int32_t a0 = bias;
        a0 = nn_smlabt(nn_read32(q0 + 2), wb0, nn_smlad(wa0, nn_read32(q0), a0));
        a0 = nn_smlabt(nn_read32(q1 + 2), wb1, nn_smlad(wa1, nn_read32(q1), a0));
        a0 = nn_smlabt(nn_read32(q2 + 2), wb2, nn_smlad(wa2, nn_read32(q2), a0));
        o[0] = rq_out(e, a0, zo, 1, lo, hi, fast);
    }
}

/* Path ROWS3, the record of channel c (DW3_REC words, nn_opt_internal.h) straight from the layer's
 * weights, bias, multiplier and shift: per kernel row (across the lines) the weight pairs (w0, w1) and
 * (w1, w2) of its taps along the line (dw3_weights1, or dw3_weights4 for a group of 4), the folded bias
 * (4 times in the fused form: one LDMDB fills the 4 accumulators), the output step along a line; in the fused
 * form (doubled weights and bias, see rq_dbl) the multiplier, R2 and rr + 1, otherwise the requantization entry
 * (RQ_WORDS from DW3_GEN: e[1..3]) and its form. */

/* The input bytes from kernel tap (ky, kx) = (r, t) along the lines, or (t, r) on columns. */
NN_INLINE int32_t dw3_tap(const nn_conv_params_t *p, int32_t r, int32_t t) {
    return (dw_rows3_transposed(p) ? t * 3 + r : r * 3 + t) * p->in_c;
}

/* Channel c's weight pairs (times m: 2 in the fused form) into wr; returns the sum of its 9 weights * m. */
static int32_t dw3_weights1(const nn_conv_params_t *p, int32_t c, int32_t m, uint32_t *wr) {
    const int8_t *w = p->weights + c;
    int32_t sum = 0;
    for (int32_t r = 0; r < 3; ++r) {
        const int32_t w0 = w[dw3_tap(p, r, 0)] * m, w1 = w[dw3_tap(p, r, 1)] * m, w2 = w[dw3_tap(p, r, 2)] * m;
        sum += w0 + w1 + w2;
        wr[2 * r] = (uint32_t)(uint16_t)w0 | ((uint32_t)w1 << 16);
        wr[2 * r + 1] = (uint32_t)(uint16_t)w1 | ((uint32_t)w2 << 16);
    }
    return sum;
}

/* ... of channels c0 .. c0 + 3 at once: per tap one word of 4 weights; PKHBT/PKHTB put channels (0, 1)
 * and (2, 3) of two taps into one word, so that SXTB16 (ror 8) makes a channel's pair (as the gather
 * does); the sums by SADD16 on the SXTB16 lanes (c0, c2) and (c1, c3) (|sum| <= 2304). */
NN_INLINE void dw3_weights4(const nn_conv_params_t *p, int32_t c0, const int fused, uint32_t *recs, int32_t *sums) {
    const int8_t *w = p->weights + c0;
    const int32_t t1 = dw3_tap(p, 0, 1), t2 = dw3_tap(p, 0, 2), r1 = dw3_tap(p, 1, 0);   /* tap and row steps */
    uint32_t s02 = 0, s13 = 0;
    for (int32_t r = 0; r < 3; ++r, w += r1, recs += 2) {
        const uint32_t w0 = nn_read32(w), w1 = nn_read32(w + t1), w2 = nn_read32(w + t2);
        s02 = nn_sadd16(s02, nn_sadd16(nn_sxtb16(w0), nn_sadd16(nn_sxtb16(w1), nn_sxtb16(w2))));
        s13 = nn_sadd16(s13, nn_sadd16(nn_sxtb16_ror8(w0), nn_sadd16(nn_sxtb16_ror8(w1), nn_sxtb16_ror8(w2))));
        const uint32_t lo01 = (w0 & 0xFFFFu) | (w1 << 16), hi01 = (w1 & 0xFFFF0000u) | (w0 >> 16);
        const uint32_t lo12 = (w1 & 0xFFFFu) | (w2 << 16), hi12 = (w2 & 0xFFFF0000u) | (w1 >> 16);
#define NN_DW3_PAIR(I, V) recs[I] = fused ? nn_sadd16(V, V) : (V)
        NN_DW3_PAIR(0, nn_sxtb16(lo01));
        NN_DW3_PAIR(1, nn_sxtb16(lo12));
        NN_DW3_PAIR(DW3_REC, nn_sxtb16_ror8(lo01));
        NN_DW3_PAIR(DW3_REC + 1, nn_sxtb16_ror8(lo12));
        NN_DW3_PAIR(2 * DW3_REC, nn_sxtb16(hi01));
        NN_DW3_PAIR(2 * DW3_REC + 1, nn_sxtb16(hi12));
        NN_DW3_PAIR(3 * DW3_REC, nn_sxtb16_ror8(hi01));
        NN_DW3_PAIR(3 * DW3_REC + 1, nn_sxtb16_ror8(hi12));
#undef NN_DW3_PAIR
    }
    sums[0] = (int16_t)s02 * (1 + fused);
    sums[1] = (int16_t)s13 * (1 + fused);
    sums[2] = (int16_t)(s02 >> 16) * (1 + fused);
    sums[3] = (int16_t)(s13 >> 16) * (1 + fused);
}

/* The rest of channel c's record, its weights' sum (times 2 in the fused form) given. */
NN_INLINE void dw3_record(const nn_conv_params_t *p, int32_t c, const int fused, int32_t out_step, int32_t sum,
                       uint32_t *wr) {
    const int32_t q = p->per_channel ? c : 0;
    /* bias + in_offset * (sum of the weights), wrapping like the reference's int32 sums (doubled: fused) */
    const uint32_t bias = ((uint32_t)(p->bias ? p->bias[c] : 0) << fused) + (uint32_t)sum * (uint32_t)p->in_offset;
    wr[DW3_BIAS] = bias;
    if (fused) {   /* right shift rs = -shift of 2..23: rq_fast's rnd = 2^(rs - 2), rr = rs - 1 (rq_dbl) */
        const int32_t rs = -p->shift[q];
        wr[DW3_BIAS + 1] = wr[DW3_BIAS + 2] = wr[DW3_BIAS + 3] = bias;
        wr[DW3_MULT] = (uint32_t)p->mult[q];
        wr[DW3_RND] = (((uint32_t)1 << (rs - 2)) + ((uint32_t)p->out_offset << (rs - 1))) << 1;
        wr[DW3_RR] = (uint32_t)rs;
    } else {
        wr[DW3_FAST] = (uint32_t)nn_opt_rq_prepare(p->bias ? p->bias + c : 0, p->mult + q, p->shift + q, 0, 1,
                                                   (int32_t *)(void *)(wr + DW3_GEN));
    }
    wr[DW3_CH] = (uint32_t)out_step;
}

/* Path ROWS3 for one requantization form (`fused`: doubled accumulators requantized by rq_dbl, the
 * output zero point in the rounding addend, no clamp; otherwise per output in the form its record
 * says) and stride along the lines (`s2`: 2, else 1). Channels in groups of 4: the group's records,
 * then per output line the input lines it needs that the ring does not hold are gathered into the ring
 * of 3 slots (4 int16 lines each), then each channel's output line runs over its lines (fused: one
 * assembly block for the group's channels). */
NN_INLINE void dw3_body(const nn_conv_params_t *p, const dw3_geom_t *g, const int8_t *in, int8_t *out,
                        uint32_t *recs, int16_t *ring, const int fused, const int s2) {
    const int32_t ch = p->in_c, len = g->len, n_out = g->n_out, step = g->out_step;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const uint32_t fill2 = nn_dup16(-p->in_offset);
    /* the line pointers' move from a line's end to the next channel's lines, the outputs' to its first */
    const uint32_t qrew = (uint32_t)(2 * len - (n_out >> 2) * (8 << s2) - (n_out & 3) * (2 << s2));
    /* the padding positions of the ring's 12 lines, which no gather of an input line writes, hold the fill */
    for (int16_t *r = ring; r < ring + 12 * len; r += len) {
        for (int32_t j = 0; j < g->pad_along; ++j) r[j] = (int16_t)fill2;
        for (int32_t j = g->pad_along + g->n_in; j < len; ++j) r[j] = (int16_t)fill2;
    }
    /* stride 2 across in the fused form: a full group's two new input lines per output line by one call where the
     * plan is whole 4-pixel passes (dw3_group_s2_across) */
    const int lines2 = g->stride_across == 2 && g->quads > 0 && !g->head && !g->unaligned &&
                       g->jt == g->pad_along + g->n_in;
    dw3_lines2_t l2 = {0, g->in_step, g->quads, 2 * len, 0, 0, 0};
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * p->in_h * p->in_w * ch;
        int8_t *ob = out + b * p->out_h * p->out_w * ch;
        for (int32_t c0 = 0; c0 < ch; c0 += 4) {
            const int32_t k_n = ch - c0 < 4 ? ch - c0 : 4;
            int32_t sums[4];
            if (k_n == 4) {
                dw3_weights4(p, c0, fused, recs, sums);
            } else {
                for (int32_t k = 0; k < k_n; ++k) sums[k] = dw3_weights1(p, c0 + k, 1 + fused, recs + k * DW3_REC);
            }
            for (int32_t k = 0; k < k_n; ++k) {
                uint32_t *wr = recs + k * DW3_REC;
                dw3_record(p, c0 + k, fused, step, sums[k], wr);
                wr[DW3_QREW] = qrew | (k == k_n - 1);
                wr[DW3_OREW] = (uint32_t)(1 - n_out * step);
                wr[DW3_QUADS] = (uint32_t)(n_out >> 2);
                wr[DW3_SINGLES] = (uint32_t)(n_out & 3);
            }
            const int8_t *img_c0 = img + c0;
            if (fused && lines2 && k_n == 4) {
                dw3_group_s2_across(g, img_c0, recs, ring, ob + c0, &l2, fill2, s2);
                continue;
            }
            /* the ring's slots hold input lines il .. il + 2 (s0 the first); a line outside the image is NULL */
            int16_t *s0 = ring, *s1 = ring + 4 * len, *s2r = ring + 8 * len;
            int32_t il = -g->pad_across;
#define NN_DW3_LINE_AT(I) dw3_line_at(g, img_c0, I)
            dw3_gather(g, NN_DW3_LINE_AT(il), k_n, fill2, s0);
            dw3_gather(g, NN_DW3_LINE_AT(il + 1), k_n, fill2, s1);
            dw3_gather(g, NN_DW3_LINE_AT(il + 2), k_n, fill2, s2r);
            int8_t *o = ob + c0;
            for (int32_t ol = 0;;) {
                if (fused) {
                    const dw3_lines_t st = {s0, s1, s2r, o, recs + DW3_MULT};
                    dw3_lines(&st, n_out, s2);
                } else {
                    for (int32_t k = 0; k < k_n; ++k) {
                        dw3_row(recs + k * DW3_REC, s0 + k * len, s1 + k * len, s2r + k * len, o + k, step, n_out,
                                zo, lo, hi, s2);
                    }
                }
                if (++ol == g->n_lines) break;
                o += g->out_line;
                il += g->stride_across;
                if (g->stride_across == 1) {   /* rotate the ring: the oldest lines go */
                    int16_t *t = s0;
                    s0 = s1;
                    s1 = s2r;
                    s2r = t;
                    dw3_gather(g, NN_DW3_LINE_AT(il + 2), k_n, fill2, s2r);
                } else {
                    if (g->stride_across == 2) {
                        int16_t *t = s0;
                        s0 = s2r;
                        s2r = t;
                    } else {
                        dw3_gather(g, NN_DW3_LINE_AT(il), k_n, fill2, s0);
                    }
                    dw3_gather(g, NN_DW3_LINE_AT(il + 1), k_n, fill2, s1);
                    dw3_gather(g, NN_DW3_LINE_AT(il + 2), k_n, fill2, s2r);
                }
            }
#undef NN_DW3_LINE_AT
        }
    }
}

/* One entry point per group of paths (nn_kernels.h): generated C calls the one its layer takes, so a model
 * links only the depthwise paths it uses; nn_opt_depthwise_conv2d_s8 (containers, hand-written calls)
 * dispatches. Scratch: the requantization table (RQ_WORDS per channel), then the path's data. */
void nn_opt_depthwise_conv2d_s8_plane3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    int32_t *tab = (int32_t *)scratch;
    uint32_t *wr = (uint32_t *)(void *)(tab + RQ_WORDS * p->out_c);   /* then the record(s) and plane */
    if (!dw3_fused(p, 1)) {   /* (shifts of 2..23 are the fast form) */
        dw3p_body(p, in, out, tab, wr, wr + DW3P_REC,
                  nn_opt_rq_prepare(p->bias, p->mult, p->shift, p->per_channel, p->out_c, tab), 0);
    } else if (dw3q_pairs_ok(p)) {   /* the records need no table */
        dw3q_body(p, in, out, wr, wr + 4 * DW3Q_CH);
    } else {
        dw3p_body(p, in, out, tab, wr, wr + DW3P_REC, 1, 1);
    }
}

void nn_opt_depthwise_conv2d_s8_rows3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    uint32_t *recs = (uint32_t *)scratch;   /* the records of a group's channels (they fold the offset) */
    int16_t *ring = (int16_t *)(void *)(recs + DW3_REC * dw_rows3_group(p));   /* then 3 slots of 4 lines */
    dw3_geom_t g;
    dw3_geometry(p, &g);
    if (!dw3_fused(p, 1)) {   /* the general form, per output in C (rare: clamps, unusual scales; s2 at run time) */
        dw3_body(p, &g, in, out, recs, ring, 0, g.s2);
    } else if (g.s2) {   /* (shifts of 2..23 are the fast form) */
        dw3_body(p, &g, in, out, recs, ring, 1, 1);
    } else {
        dw3_body(p, &g, in, out, recs, ring, 1, 0);
    }
}

void nn_opt_depthwise_conv2d_s8_channels(const nn_conv_params_t *p, const int8_t *in, int8_t *out,
                                         void *scratch) {
    const int32_t oc_n = p->out_c;
    int32_t *tab = (int32_t *)scratch, *fold = tab + RQ_WORDS * oc_n;   /* then the folded biases */
    const int fast = nn_opt_rq_prepare(p->bias, p->mult, p->shift, p->per_channel, oc_n, tab);
    fold_offset(p->weights, oc_n, 1, p->k_h * p->k_w, oc_n, p->in_offset, fold, 1, tab);
    if (nn_depthwise_conv2d_s8_path(p) == NN_DW_PATH_CHANNELS) {
        uint32_t *wide33 = (uint32_t *)(void *)(fold + oc_n);   /* 3x3: after the folded biases */
        if (dw_k33(p)) dw33_widen(p->weights, oc_n, wide33);
        if (fast) {
            dw_body(p, in, out, tab, fold, wide33, 1);
        } else {
            dw_body(p, in, out, tab, fold, wide33, 0);
        }
    } else if (fast) {
        dw_mult_body(p, in, out, tab, fold, 1);
    } else {
        dw_mult_body(p, in, out, tab, fold, 0);
    }
}

void nn_opt_depthwise_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    switch (nn_depthwise_conv2d_s8_path(p)) {
    case NN_DW_PATH_PLANE3:
        nn_opt_depthwise_conv2d_s8_plane3(p, in, out, scratch);
        break;
    case NN_DW_PATH_MAP3:
        nn_opt_depthwise_conv2d_s8_map3(p, in, out, scratch);
        break;
    case NN_DW_PATH_ROWS3:
        nn_opt_depthwise_conv2d_s8_rows3(p, in, out, scratch);
        break;
    case NN_DW_PATH_S2PAIRS:
        nn_opt_depthwise_conv2d_s8_s2pairs(p, in, out, scratch);
        break;
    case NN_DW_PATH_CHANNELS:
    case NN_DW_PATH_MULTIPLIER:
        nn_opt_depthwise_conv2d_s8_channels(p, in, out, scratch);
        break;
    }
}

#else
typedef int nn_opt_depthwise_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
