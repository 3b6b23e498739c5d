/*
 * nn_opt.c - int8 kernels for Cortex-M cores with the DSP extension.
 *
 * Same contract and bit-exact results as the reference kernels (nn_ref.c);
 * compiled only when NN_OPTIMIZED (see nn_kernels.h). The multiply-accumulate
 * loops use SMLAD (two 16x16 MACs per instruction) on operands widened with
 * SXTB16; on a host the instructions run through nn_dsp.h's portable model.
 *
 * Convolution: im2col of two output pixels into int16 columns with the input
 * offset added and padded taps set to 0, each group of 4 taps stored in the
 * order (0, 2, 1, 3) so that a word-load pairs with SXTB16 of 4 weights; then
 * a 2 output channels x 2 pixels block per pass (8 SMLAD per 4 taps).
 */
#include "nn_kernels.h"

#if NN_OPTIMIZED

#include "nn_dsp.h"
#include "nn_fixedpoint.h"

static inline int32_t align4(int32_t n) { return (n + 3) & ~3; }

size_t nn_opt_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) {
    return (size_t)(2 * 2 * align4(p->k_h * p->k_w * p->in_c));
}

size_t nn_opt_fc_s8_scratch_bytes(const nn_fc_params_t *p) { return (size_t)(2 * align4(p->in_features)); }

size_t nn_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) { return nn_opt_conv2d_s8_scratch_bytes(p); }
size_t nn_depthwise_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) { (void)p; return 0; }
size_t nn_fc_s8_scratch_bytes(const nn_fc_params_t *p) { return nn_opt_fc_s8_scratch_bytes(p); }

/* Column slot of tap k: groups of 4 are stored as (0, 2, 1, 3). */
static inline int32_t col_slot(int32_t k) {
    static const uint8_t perm[4] = {0, 2, 1, 3};
    return (k & ~3) | perm[k & 3];
}

static inline int8_t finish(int32_t acc, const int32_t *bias, int32_t oc, const int32_t *mult,
                            const int32_t *shift, int32_t q, int32_t out_offset, int32_t lo, int32_t hi) {
    if (bias) acc += bias[oc];
    acc = nn_fx_requantize(acc, mult[q], shift[q]) + out_offset;
    return (int8_t)nn_fx_clamp(acc, lo, hi);
}

/* Fill one int16 column for output pixel (b, oy, ox). */
static void im2col(const nn_conv_params_t *p, const int8_t *in, int32_t b, int32_t oy, int32_t ox,
                   int16_t *col, int32_t k4) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->in_c;
    int32_t k = 0;
    for (int32_t ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        for (int32_t kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                for (int32_t c = 0; c < ic; ++c, ++k) col[col_slot(k)] = 0;
            } else {
                const int8_t *x = in + ((b * p->in_h + iy) * p->in_w + ix) * ic;
                for (int32_t c = 0; c < ic; ++c, ++k) col[col_slot(k)] = (int16_t)(x[c] + p->in_offset);
            }
        }
    }
    for (; k < k4; ++k) col[col_slot(k)] = 0;
}

/* Dot products of weight rows (int8, K long) with reordered int16 columns. */
static inline void dot_2x2(const int8_t *w0, const int8_t *w1, const int16_t *c0, const int16_t *c1,
                           int32_t k_len, int32_t *acc) {
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    int32_t k = 0;
    for (; k + 4 <= k_len; k += 4) {
        const uint32_t wa = nn_read32(w0 + k), wb = nn_read32(w1 + k);
        const uint32_t wa02 = nn_sxtb16(wa), wa13 = nn_sxtb16_ror8(wa);
        const uint32_t wb02 = nn_sxtb16(wb), wb13 = nn_sxtb16_ror8(wb);
        const uint32_t x02 = nn_read32(c0 + k), x13 = nn_read32(c0 + k + 2);
        const uint32_t y02 = nn_read32(c1 + k), y13 = nn_read32(c1 + k + 2);
        a00 = nn_smlad(wa02, x02, a00);
        a00 = nn_smlad(wa13, x13, a00);
        a01 = nn_smlad(wa02, y02, a01);
        a01 = nn_smlad(wa13, y13, a01);
        a10 = nn_smlad(wb02, x02, a10);
        a10 = nn_smlad(wb13, x13, a10);
        a11 = nn_smlad(wb02, y02, a11);
        a11 = nn_smlad(wb13, y13, a11);
    }
    for (; k < k_len; ++k) {
        const int32_t s = col_slot(k);
        a00 += w0[k] * c0[s];
        a01 += w0[k] * c1[s];
        a10 += w1[k] * c0[s];
        a11 += w1[k] * c1[s];
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

static inline int32_t dot_1x1(const int8_t *w, const int16_t *c, int32_t k_len) {
    int32_t a = 0;
    int32_t k = 0;
    for (; k + 4 <= k_len; k += 4) {
        const uint32_t wv = nn_read32(w + k);
        a = nn_smlad(nn_sxtb16(wv), nn_read32(c + k), a);
        a = nn_smlad(nn_sxtb16_ror8(wv), nn_read32(c + k + 2), a);
    }
    for (; k < k_len; ++k) a += w[k] * c[col_slot(k)];
    return a;
}

void nn_opt_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    const int32_t k4 = align4(k_len);
    int16_t *col0 = (int16_t *)scratch;
    int16_t *col1 = col0 + k4;
    const int32_t pixels = p->out_h * p->out_w;
    const int32_t oc_n = p->out_c;
    for (int32_t b = 0; b < p->batches; ++b) {
        int8_t *ob = out + b * pixels * oc_n;
        int32_t px = 0;
        for (; px + 2 <= pixels; px += 2) {
            im2col(p, in, b, px / p->out_w, px % p->out_w, col0, k4);
            im2col(p, in, b, (px + 1) / p->out_w, (px + 1) % p->out_w, col1, k4);
            int8_t *o0 = ob + px * oc_n;
            int8_t *o1 = o0 + oc_n;
            int32_t oc = 0;
            for (; oc + 2 <= oc_n; oc += 2) {
                int32_t acc[4];
                const int8_t *w0 = p->weights + oc * k_len;
                dot_2x2(w0, w0 + k_len, col0, col1, k_len, acc);
                const int32_t q0 = p->per_channel ? oc : 0, q1 = p->per_channel ? oc + 1 : 0;
                o0[oc] = finish(acc[0], p->bias, oc, p->mult, p->shift, q0, p->out_offset, p->act_min, p->act_max);
                o1[oc] = finish(acc[1], p->bias, oc, p->mult, p->shift, q0, p->out_offset, p->act_min, p->act_max);
                o0[oc + 1] = finish(acc[2], p->bias, oc + 1, p->mult, p->shift, q1, p->out_offset, p->act_min, p->act_max);
                o1[oc + 1] = finish(acc[3], p->bias, oc + 1, p->mult, p->shift, q1, p->out_offset, p->act_min, p->act_max);
            }
            if (oc < oc_n) {
                const int8_t *w = p->weights + oc * k_len;
                const int32_t q = p->per_channel ? oc : 0;
                o0[oc] = finish(dot_1x1(w, col0, k_len), p->bias, oc, p->mult, p->shift, q, p->out_offset, p->act_min, p->act_max);
                o1[oc] = finish(dot_1x1(w, col1, k_len), p->bias, oc, p->mult, p->shift, q, p->out_offset, p->act_min, p->act_max);
            }
        }
        if (px < pixels) {
            im2col(p, in, b, px / p->out_w, px % p->out_w, col0, k4);
            int8_t *o0 = ob + px * oc_n;
            for (int32_t oc = 0; oc < oc_n; ++oc) {
                const int32_t q = p->per_channel ? oc : 0;
                o0[oc] = finish(dot_1x1(p->weights + oc * k_len, col0, k_len), p->bias, oc, p->mult,
                                p->shift, q, p->out_offset, p->act_min, p->act_max);
            }
        }
    }
}

/* Depthwise, depth multiplier 1: four channels per pass, taps innermost, the
 * four accumulators in registers; SMLABB/SMLATT on SXTB16-widened lanes. */
void nn_opt_depthwise_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    if (p->depth_mult != 1) {
        nn_ref_depthwise_conv2d_s8(p, in, out, scratch);
        return;
    }
    const int32_t ch = p->in_c;
    const uint32_t off2 = (uint32_t)(uint16_t)p->in_offset | ((uint32_t)(uint16_t)p->in_offset << 16);
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                int32_t c = 0;
                for (; c + 4 <= ch; c += 4) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        const int8_t *xrow = in + ((b * p->in_h + iy) * p->in_w) * ch + c;
                        const int8_t *wrow = p->weights + ky * p->k_w * ch + c;
                        for (int32_t kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            const uint32_t xv = nn_read32(xrow + ix * ch);
                            const uint32_t wv = nn_read32(wrow + kx * ch);
                            const uint32_t x02 = nn_sadd16(nn_sxtb16(xv), off2);
                            const uint32_t x13 = nn_sadd16(nn_sxtb16_ror8(xv), off2);
                            const uint32_t w02 = nn_sxtb16(wv), w13 = nn_sxtb16_ror8(wv);
                            a0 = nn_smlabb(w02, x02, a0);
                            a2 = nn_smlatt(w02, x02, a2);
                            a1 = nn_smlabb(w13, x13, a1);
                            a3 = nn_smlatt(w13, x13, a3);
                        }
                    }
                    const int32_t acc[4] = {a0, a1, a2, a3};
                    for (int32_t j = 0; j < 4; ++j) {
                        const int32_t q = p->per_channel ? c + j : 0;
                        o[c + j] = finish(acc[j], p->bias, c + j, p->mult, p->shift, q, p->out_offset,
                                          p->act_min, p->act_max);
                    }
                }
                for (; c < ch; ++c) {
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int32_t kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            acc += p->weights[(ky * p->k_w + kx) * ch + c] *
                                   (in[((b * p->in_h + iy) * p->in_w + ix) * ch + c] + p->in_offset);
                        }
                    }
                    const int32_t q = p->per_channel ? c : 0;
                    o[c] = finish(acc, p->bias, c, p->mult, p->shift, q, p->out_offset, p->act_min, p->act_max);
                }
            }
        }
    }
}

void nn_opt_fc_s8(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const int32_t k_len = p->in_features;
    const int32_t k4 = align4(k_len);
    int16_t *col = (int16_t *)scratch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * k_len;
        int32_t k = 0;
        for (; k < k_len; ++k) col[col_slot(k)] = (int16_t)(x[k] + p->in_offset);
        for (; k < k4; ++k) col[col_slot(k)] = 0;
        int8_t *o = out + b * p->out_features;
        int32_t n = 0;
        for (; n + 2 <= p->out_features; n += 2) {
            const int8_t *w0 = p->weights + n * k_len;
            const int8_t *w1 = w0 + k_len;
            int32_t a0 = 0, a1 = 0;
            int32_t i = 0;
            for (; i + 4 <= k_len; i += 4) {
                const uint32_t wa = nn_read32(w0 + i), wb = nn_read32(w1 + i);
                const uint32_t x02 = nn_read32(col + i), x13 = nn_read32(col + i + 2);
                a0 = nn_smlad(nn_sxtb16(wa), x02, a0);
                a0 = nn_smlad(nn_sxtb16_ror8(wa), x13, a0);
                a1 = nn_smlad(nn_sxtb16(wb), x02, a1);
                a1 = nn_smlad(nn_sxtb16_ror8(wb), x13, a1);
            }
            for (; i < k_len; ++i) {
                a0 += w0[i] * col[col_slot(i)];
                a1 += w1[i] * col[col_slot(i)];
            }
            const int32_t q0 = p->per_channel ? n : 0, q1 = p->per_channel ? n + 1 : 0;
            o[n] = finish(a0, p->bias, n, p->mult, p->shift, q0, p->out_offset, p->act_min, p->act_max);
            o[n + 1] = finish(a1, p->bias, n + 1, p->mult, p->shift, q1, p->out_offset, p->act_min, p->act_max);
        }
        if (n < p->out_features) {
            const int32_t q = p->per_channel ? n : 0;
            o[n] = finish(dot_1x1(p->weights + n * k_len, col, k_len), p->bias, n, p->mult, p->shift, q,
                          p->out_offset, p->act_min, p->act_max);
        }
    }
}

#else

/* Keep the translation unit non-empty (ISO C) when only the reference kernels are built. */
typedef int nn_opt_unused_t;

#endif /* NN_OPTIMIZED */
