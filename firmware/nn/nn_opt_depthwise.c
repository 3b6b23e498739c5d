/*
 * nn_opt_depthwise.c - DEPTHWISE_CONV_2D for Cortex-M with the DSP extension. Contract:
 * nn_kernels.h (nn_depthwise_conv2d_s8); the reference twin is nn_ref_depthwise_conv2d_s8
 * (nn_ref.c), matched bit for bit. Path: nn_depthwise_conv2d_s8_path (nn_paths.c).
 *
 * Path ROWS3 (3x3, multiplier 1, wide rows): a channel at a time; its input rows are gathered
 * once into a ring of 3 int16 rows with the input offset added and the padding 0, its weights sit
 * in registers as tap pairs, and two outputs per pass take 3 word loads, 2 SMLAD and 2 SMLABB/T
 * per kernel row. Path CHANNELS (depth multiplier 1): 4 channels per pass in registers (SMLABB/SMLATT);
 * interior pixels use biases with the offset folded in and a fully unrolled 3x3. Path
 * MULTIPLIER: each input value is shared by the output channels it feeds. Bodies are
 * instantiated once per requantization form.
 */
#include "nn_kernels.h"

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
    "ldrd   %[w02], %[w13], [%[wp]], #8\n\t"          \
    "sxtb16 %[xt], %[xv]\n\t"                         \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                 \
    "smlabb %[a0], %[w02], %[xt], %[a0]\n\t"          \
    "smlatt %[a2], %[w02], %[xt], %[a2]\n\t"          \
    "smlabb %[a1], %[w13], %[xv], %[a1]\n\t"          \
    "smlatt %[a3], %[w13], %[xv], %[a3]\n\t"
/* ... a kernel row: taps at xp, xp + cs, xp + 2 cs; then xp moves to the next row (rs2 = row
 * step - 2 cs). */
#define NN_DW33_ROW                                   \
    NN_DW33_TAP("ldr    %[xv], [%[xp]]\n\t")          \
    NN_DW33_TAP("ldr    %[xv], [%[xp], %[cs]]\n\t")   \
    "add    %[xp], %[xp], %[cs], lsl #1\n\t"          \
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

/* Path ROWS3: input row iy of channel c as int16 (x + in_offset) at row[j] for column
 * j - pad_left, 0 outside the image (padded taps contribute nothing, as in the reference). */
static void dw3_gather(const nn_conv_params_t *p, const int8_t *img, int32_t iy, int32_t c, int16_t *row,
                       int32_t len) {
    const int32_t ch = p->in_c, pad = p->pad_left, off = p->in_offset;
    int32_t j = 0;
    if (iy >= 0 && iy < p->in_h) {
        const int32_t end = pad + p->in_w < len ? pad + p->in_w : len;
        for (; j < pad && j < len; ++j) row[j] = 0;
        const int8_t *x = img + iy * p->in_w * ch + c;
        for (; j < end; ++j, x += ch) row[j] = (int16_t)(*x + off);
    }
    for (; j < len; ++j) row[j] = 0;
}

/* Path ROWS3 for one requantization form (`fused`: the fast form with the output zero point in
 * the rounding addend, no clamp; otherwise per output in the form `fast` says) and column stride (`s2`: 2, else 1). A channel at a time: its 3x3
 * weights as pairs (w0, w1) and w2 per kernel row in registers, its input rows gathered once into
 * a ring of 3 int16 rows, then two outputs per pass: per kernel row 3 word loads, 2 SMLAD (taps 0
 * and 1 of both outputs) and 2 SMLABB/SMLABT (tap 2). */
NN_INLINE void dw3_body(const nn_conv_params_t *p, const int8_t *in, int8_t *out, const int32_t *tab,
                        int16_t *ring, int fast, const int fused, const int s2) {
    const int32_t ch = p->in_c, len = dw_rows3_len(p), out_w = p->out_w, out_h = p->out_h;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * p->in_h * p->in_w * ch;
        int8_t *ob = out + b * out_h * out_w * ch;
        for (int32_t c = 0; c < ch; ++c) {
            const int32_t *e = tab + c * RQ_WORDS;
            const int8_t *w = p->weights + c;
            const uint32_t wa0 = (uint32_t)(uint16_t)w[0] | ((uint32_t)(uint16_t)w[ch] << 16);
            const uint32_t wa1 = (uint32_t)(uint16_t)w[3 * ch] | ((uint32_t)(uint16_t)w[4 * ch] << 16);
            const uint32_t wa2 = (uint32_t)(uint16_t)w[6 * ch] | ((uint32_t)(uint16_t)w[7 * ch] << 16);
            const uint32_t wb0 = (uint32_t)(uint16_t)w[2 * ch], wb1 = (uint32_t)(uint16_t)w[5 * ch];
            const uint32_t wb2 = (uint32_t)(uint16_t)w[8 * ch];
            const int32_t bias = e[0], mult = e[1], rr = e[3];
            const int32_t rnd = fused ? (int32_t)((uint32_t)e[2] + ((uint32_t)zo << rr)) : e[2];
            /* the ring holds input rows first .. first + 2 in r0, r1, r2 */
            int16_t *r0 = ring, *r1 = ring + len, *r2 = ring + 2 * len;
            int32_t first = INT32_MIN / 2;
            for (int32_t oy = 0; oy < out_h; ++oy) {
                const int32_t iy0 = oy * p->stride_h - p->pad_top;
                int32_t keep = first + 3 - iy0;   /* rows already held, at the window's start */
                if (keep < 0 || keep > 3) keep = 0;
                for (int32_t k = 0; k < 3 - keep; ++k) {   /* rotate the ring: the oldest row goes */
                    int16_t *t = r0;
                    r0 = r1;
                    r1 = r2;
                    r2 = t;
                }
                /* gather rows iy0 + keep .. iy0 + 2 into slots keep .. 2 */
                if (keep < 1) dw3_gather(p, img, iy0, c, r0, len);
                if (keep < 2) dw3_gather(p, img, iy0 + 1, c, r1, len);
                if (keep < 3) dw3_gather(p, img, iy0 + 2, c, r2, len);
                first = iy0;
                int8_t *o = ob + oy * out_w * ch + c;
                const int16_t *q0 = r0, *q1 = r1, *q2 = r2;
                int32_t ox = 0;
                for (; ox + 2 <= out_w; ox += 2, o += 2 * ch, q0 += 2 << s2, q1 += 2 << s2, q2 += 2 << s2) {
                    int32_t a0 = bias, a1 = bias;
#define NN_DW3_ROW(Q, WA, WB)                                                               \
    do {                                                                                    \
        const uint32_t x01 = nn_read32(Q), x23 = nn_read32((Q) + 2);                        \
        a0 = nn_smlabb(WB, x23, nn_smlad(WA, x01, a0));                                     \
        if (s2) {                                                                           \
            a1 = nn_smlabb(WB, (uint32_t)(uint16_t)(Q)[4], nn_smlad(WA, x23, a1));          \
        } else {                                                                            \
            a1 = nn_smlabt(WB, x23, nn_smlad(WA, nn_read32((Q) + 1), a1));                  \
        }                                                                                   \
    } while (0)
                    NN_DW3_ROW(q0, wa0, wb0);
                    NN_DW3_ROW(q1, wa1, wb1);
                    NN_DW3_ROW(q2, wa2, wb2);
#undef NN_DW3_ROW
                    if (fused) {
                        o[0] = (int8_t)nn_ssat8(rq_fast(a0, mult, rnd, rr));
                        o[ch] = (int8_t)nn_ssat8(rq_fast(a1, mult, rnd, rr));
                    } else {
                        o[0] = rq_out(e, a0, zo, 1, lo, hi, fast);
                        o[ch] = rq_out(e, a1, zo, 1, lo, hi, fast);
                    }
                }
                if (ox < out_w) {
                    int32_t a0 = bias;
                    a0 = nn_smlabb(wb0, (uint32_t)(uint16_t)q0[2], nn_smlad(wa0, nn_read32(q0), a0));
                    a0 = nn_smlabb(wb1, (uint32_t)(uint16_t)q1[2], nn_smlad(wa1, nn_read32(q1), a0));
                    a0 = nn_smlabb(wb2, (uint32_t)(uint16_t)q2[2], nn_smlad(wa2, nn_read32(q2), a0));
                    o[0] = fused ? (int8_t)nn_ssat8(rq_fast(a0, mult, rnd, rr)) : rq_out(e, a0, zo, 1, lo, hi, fast);
                }
            }
        }
    }
}

void nn_opt_depthwise_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const int32_t oc_n = p->out_c, taps = p->k_h * p->k_w;
    int32_t *tab = (int32_t *)scratch;          /* RQ_WORDS per channel, then the folded biases */
    int32_t *fold = tab + RQ_WORDS * oc_n;
    const int fast = nn_opt_rq_prepare(p->bias, p->mult, p->shift, p->per_channel, oc_n, tab);
    const nn_dw_path_t path = nn_depthwise_conv2d_s8_path(p);
    if (path == NN_DW_PATH_ROWS3) {
        int16_t *ring = (int16_t *)(void *)fold;   /* 3 rows after the table */
        const int clamp = p->act_min > -128 || p->act_max < 127;
        const int fused = fast && !clamp && nn_opt_right_shifts_within(p->shift, p->per_channel ? oc_n : 1, 2, 23);
        if (!fused) {   /* the general form, per output in C (rare: clamps, unusual scales) */
            if (p->stride_w == 2) {
                dw3_body(p, in, out, tab, ring, fast, 0, 1);
            } else {
                dw3_body(p, in, out, tab, ring, fast, 0, 0);
            }
        } else if (p->stride_w == 2) {
            dw3_body(p, in, out, tab, ring, fast, 1, 1);
        } else {
            dw3_body(p, in, out, tab, ring, fast, 1, 0);
        }
        return;
    }
    fold_offset(p->weights, oc_n, 1, taps, oc_n, p->in_offset, fold, 1, tab);
    if (path == NN_DW_PATH_CHANNELS) {
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

#else
typedef int nn_opt_depthwise_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
