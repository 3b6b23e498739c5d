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

#include <string.h>

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

/* Column layout: the two output pixels of a pass are interleaved per group of
 * 4 taps, 8 int16 per group: (p0: t0 t2 t1 t3)(p1: t0 t2 t1 t3). A word load
 * then pairs with SXTB16 of 4 weights (bytes 0,2 and, rotated, 1,3), and one
 * pointer walks both columns. */
static inline int32_t col_slot(int32_t k, int32_t lane) {
    static const uint8_t perm[4] = {0, 2, 1, 3};
    return 2 * (k & ~3) + 4 * lane + perm[k & 3];
}


/* Requantize and clamp one accumulator (bias already added). */
static inline int8_t store_q(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset, int32_t lo,
                             int32_t hi) {
    return (int8_t)nn_fx_clamp(nn_fx_requantize_nonneg(acc, mult, shift) + out_offset, lo, hi);
}

/* Fill lane `lane` of the column pair for output pixel (b, oy, ox): input plus
 * offset, 0 for padded taps. With in_c a multiple of 4 every tap starts a group
 * and 4 int8 become two reordered words with SXTB16 + SADD16. */
static void im2col(const nn_conv_params_t *p, const int8_t *in, int32_t b, int32_t oy, int32_t ox,
                   int16_t *col, int32_t k4, int32_t lane) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->in_c;
    const int8_t *img = in + b * p->in_h * p->in_w * ic;
    int32_t k = 0;
    if ((ic & 3) == 0) {
        const uint32_t off2 = nn_dup16(p->in_offset);
        for (int32_t ky = 0; ky < p->k_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dil_h;
            for (int32_t kx = 0; kx < p->k_w; ++kx, k += ic) {
                const int32_t ix = ix0 + kx * p->dil_w;
                int16_t *dst = col + 2 * k + 4 * lane;
                if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                    for (int32_t c = 0; c < ic; c += 4, dst += 8) {
                        nn_write32(dst, 0);
                        nn_write32(dst + 2, 0);
                    }
                    continue;
                }
                const int8_t *x = img + (iy * p->in_w + ix) * ic;
                for (int32_t c = 0; c < ic; c += 4, dst += 8) {
                    const uint32_t v = nn_read32(x + c);
                    nn_write32(dst, nn_sadd16(nn_sxtb16(v), off2));
                    nn_write32(dst + 2, nn_sadd16(nn_sxtb16_ror8(v), off2));
                }
            }
        }
        return;
    }
    for (int32_t ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        for (int32_t kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                for (int32_t c = 0; c < ic; ++c, ++k) col[col_slot(k, lane)] = 0;
            } else {
                const int8_t *x = img + (iy * p->in_w + ix) * ic;
                for (int32_t c = 0; c < ic; ++c, ++k) col[col_slot(k, lane)] = (int16_t)(x[c] + p->in_offset);
            }
        }
    }
    for (; k < k4; ++k) col[col_slot(k, lane)] = 0;
}

/* acc[0..3] = bias + rows w0, w1 (int8, k_len long) times the column pair:
 * (w0.p0, w0.p1, w1.p0, w1.p1). 16 MACs per group of 4 taps. */
static inline void dot_2x2(const int8_t *w0, const int8_t *w1, const int16_t *col, int32_t k_len,
                           int32_t b0, int32_t b1, int32_t *acc) {
    int32_t a00 = b0, a01 = b0, a10 = b1, a11 = b1;
    const int32_t groups = k_len >> 2;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
    /* 18 instructions per 16 MACs; the compiler spills registers on the C form.
     * LDRD needs a word-aligned column: the arena places scratch 4-byte aligned. */
    if (groups > 0) {
        const int8_t *pa = w0, *pb = w1;
        const int16_t *pc = col;
        int32_t n = groups;
        uint32_t x02, x13, wa, wb, t, u;
        __asm__ volatile(
            "1:\n\t"
            "ldrd   %[x02], %[x13], [%[pc]], #8\n\t"
            "ldr    %[wa], [%[pa]], #4\n\t"
            "sxtb16 %[t], %[wa]\n\t"
            "smlad  %[a00], %[t], %[x02], %[a00]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[a00], %[wa], %[x13], %[a00]\n\t"
            "ldr    %[wb], [%[pb]], #4\n\t"
            "sxtb16 %[u], %[wb]\n\t"
            "smlad  %[a10], %[u], %[x02], %[a10]\n\t"
            "sxtb16 %[wb], %[wb], ror #8\n\t"
            "smlad  %[a10], %[wb], %[x13], %[a10]\n\t"
            "ldrd   %[x02], %[x13], [%[pc]], #8\n\t"
            "smlad  %[a01], %[t], %[x02], %[a01]\n\t"
            "smlad  %[a01], %[wa], %[x13], %[a01]\n\t"
            "smlad  %[a11], %[u], %[x02], %[a11]\n\t"
            "smlad  %[a11], %[wb], %[x13], %[a11]\n\t"
            "subs   %[n], %[n], #1\n\t"
            "bne    1b\n\t"
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [pa] "+r"(pa),
              [pb] "+r"(pb), [pc] "+r"(pc), [n] "+r"(n), [x02] "=&r"(x02), [x13] "=&r"(x13),
              [wa] "=&r"(wa), [wb] "=&r"(wb), [t] "=&r"(t), [u] "=&r"(u)
            :
            : "cc", "memory");
    }
#else
    for (int32_t g = 0; g < groups; ++g) {
        const int16_t *c = col + 8 * g;
        const uint32_t wa = nn_read32(w0 + 4 * g), wb = nn_read32(w1 + 4 * g);
        const uint32_t wa02 = nn_sxtb16(wa), wa13 = nn_sxtb16_ror8(wa);
        const uint32_t wb02 = nn_sxtb16(wb), wb13 = nn_sxtb16_ror8(wb);
        const uint32_t x02 = nn_read32(c), x13 = nn_read32(c + 2);
        const uint32_t y02 = nn_read32(c + 4), y13 = nn_read32(c + 6);
        a00 = nn_smlad(wa13, x13, nn_smlad(wa02, x02, a00));
        a01 = nn_smlad(wa13, y13, nn_smlad(wa02, y02, a01));
        a10 = nn_smlad(wb13, x13, nn_smlad(wb02, x02, a10));
        a11 = nn_smlad(wb13, y13, nn_smlad(wb02, y02, a11));
    }
#endif
    for (int32_t k = groups << 2; k < k_len; ++k) {
        a00 += w0[k] * col[col_slot(k, 0)];
        a01 += w0[k] * col[col_slot(k, 1)];
        a10 += w1[k] * col[col_slot(k, 0)];
        a11 += w1[k] * col[col_slot(k, 1)];
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* One weight row times lane `lane` of the column pair. */
static inline int32_t dot_1x1(const int8_t *w, const int16_t *col, int32_t k_len, int32_t lane) {
    int32_t a = 0;
    int32_t k = 0;
    const int16_t *c = col + 4 * lane;
    for (; k + 4 <= k_len; k += 4, c += 8) {
        const uint32_t wv = nn_read32(w + k);
        a = nn_smlad(nn_sxtb16(wv), nn_read32(c), a);
        a = nn_smlad(nn_sxtb16_ror8(wv), nn_read32(c + 2), a);
    }
    for (; k < k_len; ++k) a += w[k] * col[col_slot(k, lane)];
    return a;
}

void nn_opt_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    /* Parameters in locals: int8 stores may alias *p, which would force reloads. */
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    const int32_t k4 = align4(k_len);
    int16_t *col = (int16_t *)scratch;   /* 2 * k4 int16 */
    const int32_t pixels = p->out_h * p->out_w, out_w = p->out_w;
    const int32_t oc_n = p->out_c;
    const int8_t *const weights = p->weights;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    const int32_t qstep = p->per_channel ? 1 : 0;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    for (int32_t b = 0; b < p->batches; ++b) {
        int8_t *ob = out + b * pixels * oc_n;
        int32_t px = 0;
        for (; px + 2 <= pixels; px += 2) {
            im2col(p, in, b, px / out_w, px % out_w, col, k4, 0);
            im2col(p, in, b, (px + 1) / out_w, (px + 1) % out_w, col, k4, 1);
            int8_t *o0 = ob + px * oc_n;
            int8_t *o1 = o0 + oc_n;
            int32_t oc = 0;
            for (; oc + 2 <= oc_n; oc += 2) {
                int32_t acc[4];
                const int8_t *w0 = weights + oc * k_len;
                dot_2x2(w0, w0 + k_len, col, k_len, bias ? bias[oc] : 0, bias ? bias[oc + 1] : 0, acc);
                const int32_t q0 = oc * qstep, q1 = (oc + 1) * qstep;
                const int32_t m0 = mult[q0], s0 = shift[q0], m1 = mult[q1], s1 = shift[q1];
                o0[oc] = store_q(acc[0], m0, s0, zo, lo, hi);
                o1[oc] = store_q(acc[1], m0, s0, zo, lo, hi);
                o0[oc + 1] = store_q(acc[2], m1, s1, zo, lo, hi);
                o1[oc + 1] = store_q(acc[3], m1, s1, zo, lo, hi);
            }
            if (oc < oc_n) {
                const int8_t *w = weights + oc * k_len;
                const int32_t q = oc * qstep, bv = bias ? bias[oc] : 0;
                o0[oc] = store_q(bv + dot_1x1(w, col, k_len, 0), mult[q], shift[q], zo, lo, hi);
                o1[oc] = store_q(bv + dot_1x1(w, col, k_len, 1), mult[q], shift[q], zo, lo, hi);
            }
        }
        if (px < pixels) {
            im2col(p, in, b, px / out_w, px % out_w, col, k4, 0);
            int8_t *o0 = ob + px * oc_n;
            for (int32_t oc = 0; oc < oc_n; ++oc) {
                const int32_t q = oc * qstep, bv = bias ? bias[oc] : 0;
                o0[oc] = store_q(bv + dot_1x1(weights + oc * k_len, col, k_len, 0), mult[q], shift[q], zo, lo, hi);
            }
        }
    }
}

/* Depthwise, depth multiplier 1: four channels per pass with the four
 * accumulators in registers (SMLABB/SMLATT on SXTB16-widened lanes); the valid
 * tap window is computed once per output pixel, so the tap loops carry no
 * bounds checks. */
void nn_opt_depthwise_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    if (p->depth_mult != 1) {
        nn_ref_depthwise_conv2d_s8(p, in, out, scratch);
        return;
    }
    const int32_t ch = p->in_c;
    const uint32_t off2 = nn_dup16(p->in_offset);
    const int32_t in_offset = p->in_offset;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    const int32_t qstep = p->per_channel ? 1 : 0;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t in_h = p->in_h, in_w = p->in_w;
    const int32_t row_step = dil_h * in_w * ch;     /* input bytes between kernel rows */
    const int32_t col_step = dil_w * ch;               /* input bytes between kernel columns */
    const int32_t wrow_step = k_w * ch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * in_h * in_w * ch;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            /* first and one-past-last kernel rows that land inside the image */
            int32_t ky0 = 0, ky1 = k_h;
            while (ky0 < ky1 && iy0 + ky0 * dil_h < 0) ++ky0;
            while (ky1 > ky0 && iy0 + (ky1 - 1) * dil_h >= in_h) --ky1;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0 = 0, kx1 = k_w;
                while (kx0 < kx1 && ix0 + kx0 * dil_w < 0) ++kx0;
                while (kx1 > kx0 && ix0 + (kx1 - 1) * dil_w >= in_w) --kx1;
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                const int8_t *x_base = img + ((iy0 + ky0 * dil_h) * in_w + ix0 + kx0 * dil_w) * ch;
                const int8_t *w_base = p->weights + (ky0 * k_w + kx0) * ch;
                int32_t c = 0;
                for (; c + 4 <= ch; c += 4) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    if (bias) {
                        a0 = bias[c];
                        a1 = bias[c + 1];
                        a2 = bias[c + 2];
                        a3 = bias[c + 3];
                    }
                    const int8_t *xr = x_base + c;
                    const int8_t *wr = w_base + c;
                    for (int32_t ky = ky0; ky < ky1; ++ky, xr += row_step, wr += wrow_step) {
                        const int8_t *xp = xr;
                        const int8_t *wp = wr;
                        for (int32_t kx = kx0; kx < kx1; ++kx, xp += col_step, wp += ch) {
                            const uint32_t xv = nn_read32(xp);
                            const uint32_t wv = nn_read32(wp);
                            const uint32_t x02 = nn_sadd16(nn_sxtb16(xv), off2);
                            const uint32_t x13 = nn_sadd16(nn_sxtb16_ror8(xv), off2);
                            const uint32_t w02 = nn_sxtb16(wv), w13 = nn_sxtb16_ror8(wv);
                            a0 = nn_smlabb(w02, x02, a0);
                            a2 = nn_smlatt(w02, x02, a2);
                            a1 = nn_smlabb(w13, x13, a1);
                            a3 = nn_smlatt(w13, x13, a3);
                        }
                    }
                    const int32_t q = c * qstep;
                    o[c] = store_q(a0, mult[q], shift[q], zo, lo, hi);
                    o[c + 1] = store_q(a1, mult[q + qstep], shift[q + qstep], zo, lo, hi);
                    o[c + 2] = store_q(a2, mult[q + 2 * qstep], shift[q + 2 * qstep], zo, lo, hi);
                    o[c + 3] = store_q(a3, mult[q + 3 * qstep], shift[q + 3 * qstep], zo, lo, hi);
                }
                for (; c < ch; ++c) {
                    int32_t acc = bias ? bias[c] : 0;
                    const int8_t *xr = x_base + c;
                    const int8_t *wr = w_base + c;
                    for (int32_t ky = ky0; ky < ky1; ++ky, xr += row_step, wr += wrow_step) {
                        for (int32_t kx = 0; kx < kx1 - kx0; ++kx) {
                            acc += wr[kx * ch] * (xr[kx * col_step] + in_offset);
                        }
                    }
                    o[c] = store_q(acc, mult[c * qstep], shift[c * qstep], zo, lo, hi);
                }
            }
        }
    }
}

/* The fully connected layer's single widened input vector: groups of 4 stored (0, 2, 1, 3). */
static inline int32_t vec_slot(int32_t k) {
    static const uint8_t perm[4] = {0, 2, 1, 3};
    return (k & ~3) | perm[k & 3];
}

static inline int32_t dot_vec(const int8_t *w, const int16_t *col, int32_t k_len) {
    int32_t a = 0;
    int32_t k = 0;
    for (; k + 4 <= k_len; k += 4) {
        const uint32_t wv = nn_read32(w + k);
        a = nn_smlad(nn_sxtb16(wv), nn_read32(col + k), a);
        a = nn_smlad(nn_sxtb16_ror8(wv), nn_read32(col + k + 2), a);
    }
    for (; k < k_len; ++k) a += w[k] * col[vec_slot(k)];
    return a;
}

void nn_opt_fc_s8(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const int32_t k_len = p->in_features;
    const int32_t k4 = align4(k_len);
    int16_t *col = (int16_t *)scratch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * k_len;
        int32_t k = 0;
        for (; k < k_len; ++k) col[vec_slot(k)] = (int16_t)(x[k] + p->in_offset);
        for (; k < k4; ++k) col[vec_slot(k)] = 0;
        int8_t *o = out + b * p->out_features;
        int32_t n = 0;
        for (; n + 2 <= p->out_features; n += 2) {
            const int8_t *w0 = p->weights + n * k_len;
            const int8_t *w1 = w0 + k_len;
            int32_t a0 = p->bias ? p->bias[n] : 0, a1 = p->bias ? p->bias[n + 1] : 0;
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
                a0 += w0[i] * col[vec_slot(i)];
                a1 += w1[i] * col[vec_slot(i)];
            }
            const int32_t q0 = p->per_channel ? n : 0, q1 = p->per_channel ? n + 1 : 0;
            o[n] = store_q(a0, p->mult[q0], p->shift[q0], p->out_offset, p->act_min, p->act_max);
            o[n + 1] = store_q(a1, p->mult[q1], p->shift[q1], p->out_offset, p->act_min, p->act_max);
        }
        if (n < p->out_features) {
            const int32_t q = p->per_channel ? n : 0;
            const int32_t bv = p->bias ? p->bias[n] : 0;
            o[n] = store_q(bv + dot_vec(p->weights + n * k_len, col, k_len), p->mult[q], p->shift[q],
                           p->out_offset, p->act_min, p->act_max);
        }
    }
}

#else

/* Keep the translation unit non-empty (ISO C) when only the reference kernels are built. */
typedef int nn_opt_unused_t;

#endif /* NN_OPTIMIZED */
