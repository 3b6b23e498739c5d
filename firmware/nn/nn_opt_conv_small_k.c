/*
 * nn_opt_conv_small_k.c - CONV_2D first layers for Cortex-M with the DSP extension: in_c not
 * a multiple of 4 and at most SMALL_K_MAX taps (k_h * k_w * in_c), e.g. 3x3 grayscale or RGB
 * stems. Contract: nn_kernels.h (nn_conv2d_s8); the reference twin is nn_ref_conv2d_s8
 * (nn_ref.c), matched bit for bit. Called by nn_opt_conv2d_s8 (nn_opt_conv.c) on the paths
 * nn_conv2d_s8_path (nn_paths.c) names SMALL_K, SMALL_K_REG, SMALL_K_REC and GRAY3, with the
 * requantization table in scratch and the input offset already folded into its biases.
 *
 * The weights are widened into int16 pairs in scratch once per call; a column of up to 10 taps
 * (3x3 grayscale) stays in registers and each output channel is one per-channel record
 * (5 SMLAD, SMLAL, ASR, SSAT); a 3x3 grayscale layer runs a row of windows per assembly
 * block, each column built inside it straight from the input rows (windows that reach into
 * the padding: from a strip of the 3 rows with the padding filled in); longer columns (RGB)
 * go two pixels per pass. Each assembly block has its C twin. For path SMALL_K_WIDE (run by
 * nn_opt_conv.c) a 3x3 RGB window's column is widened here straight from its input rows.
 */
#include "nn_kernels.h"

#if NN_OPTIMIZED

#include <string.h>

#include "nn_opt_internal.h"

/* Small-K path (first layers: in_c not a multiple of 4, k_len <= SMALL_K_MAX): the
 * weights are widened once per call into int16 pairs (w[2j], w[2j+1]) in scratch,
 * zero-padded to small_k_words(k_len) words per channel. A pixel's column is a linear
 * int16 run (padded taps: the input zero point; the pad tap after an odd k_len: 0).
 * Up to SMALL_K_REG_WORDS words (k_len <= 10, e.g. 3x3 grayscale) the column stays in
 * registers and each output channel costs 5 SMLAD and its requantization; an interior
 * pixel of a 3x3 grayscale kernel builds it straight from the 3 input rows. Longer
 * columns (3x3 RGB) go two pixels at a time, every weight word feeding both. One copy
 * of the path serves both requantization forms (the general one through a call). */
static void small_k_widen(const int8_t *w, int32_t k_len, int32_t out_c, uint32_t *wide) {
    const int32_t words = small_k_words(k_len), first = small_k_reg(k_len);   /* a record starts with the bias */
    const int32_t pairs = first ? SMALL_K_REG_WORDS : words;
    for (int32_t oc = 0; oc < out_c; ++oc, w += k_len, wide += words) {
        for (int32_t j = 0; j < pairs; ++j) {
            const int32_t lo = 2 * j < k_len ? w[2 * j] : 0, hi = 2 * j + 1 < k_len ? w[2 * j + 1] : 0;
            wide[first + j] = (uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16);
        }
    }
}

/* Fill the rest of the register path's records from the requantization table (used in the
 * fast form only: paths SMALL_K_REC and GRAY3 guarantee right shifts of 2..23, so that
 * zo << rr cannot overflow the high word). */
static void small_k_records(const int32_t *tab, int32_t out_c, int32_t zo, uint32_t *rec) {
    for (int32_t oc = 0; oc < out_c; ++oc, tab += RQ_WORDS, rec += SK_REC) {
        rec[0] = (uint32_t)tab[0];
        rec[6] = 0x40000000u;
        rec[7] = (uint32_t)tab[2] + ((uint32_t)zo << (tab[3] & 31));
        rec[8] = (uint32_t)tab[1];
        rec[9] = (uint32_t)tab[3];
    }
}

/* One output channel of the register path: 5 SMLAD, then the fast form's SMLAL, ASR, SSAT
 * with the record's addend (sign-corrected when `sign`; t1 is free there). 14 instructions
 * per 9 MACs, 17 with the sign correction. */
#define NN_SK_CHANNEL                                 \
    "ldrd   %[a], %[t1], [%[p]], #8\n\t"              \
    "smlad  %[a], %[t1], %[x0], %[a]\n\t"             \
    "ldrd   %[t1], %[t2], [%[p]], #8\n\t"             \
    "smlad  %[a], %[t1], %[x1], %[a]\n\t"             \
    "smlad  %[a], %[t2], %[x2], %[a]\n\t"             \
    "ldrd   %[t1], %[t2], [%[p]], #8\n\t"             \
    "smlad  %[a], %[t1], %[x3], %[a]\n\t"             \
    "smlad  %[a], %[t2], %[x4], %[a]\n\t"             \
    "ldrd   %[lo], %[hi], [%[p]], #8\n\t"             \
    ".if %c[sign]\n\t"                                \
    "add    %[hi], %[hi], %[a], asr #31\n\t"          \
    "and    %[t1], %[a], #0x80000000\n\t"             \
    "orr    %[lo], %[lo], %[t1]\n\t"                  \
    ".endif\n\t"                                      \
    "ldrd   %[t1], %[t2], [%[p]], #8\n\t"             \
    "smlal  %[lo], %[hi], %[a], %[t1]\n\t"            \
    "asr    %[hi], %[hi], %[t2]\n\t"                  \
    "ssat   %[hi], #8, %[hi]\n\t"                     \
    "strb   %[hi], [%[o]], #1\n\t"
/* n >= 1 channels, one per pass (16 instructions per channel) ... */
#define NN_SK_CHANNEL_LOOP                            \
    "1:\n\t"                                          \
    NN_SK_CHANNEL                                     \
    "subs   %[n], %[n], #1\n\t"                       \
    "bne    1b\n\t"
/* ... or two per pass, an odd one first (15 per channel; label 3 is taken). */
#define NN_SK_CHANNEL_LOOP2                           \
    "tst    %[n], #1\n\t"                             \
    "beq    1f\n\t"                                   \
    NN_SK_CHANNEL                                     \
    "subs   %[n], %[n], #1\n\t"                       \
    "beq    2f\n"                                     \
    "1:\n\t"                                          \
    NN_SK_CHANNEL                                     \
    NN_SK_CHANNEL                                     \
    "subs   %[n], %[n], #2\n\t"                       \
    "bne    1b\n"                                     \
    "2:\n\t"

/* The portable form of the loop above. */
static inline void small_k_channels_c(const uint32_t *rec, int8_t *o, int32_t oc_n, const uint32_t *x,
                                      int sign) {
    for (int32_t oc = 0; oc < oc_n; ++oc, rec += SK_REC) {
        int32_t a = (int32_t)rec[0];
        for (int32_t j = 0; j < SMALL_K_REG_WORDS; ++j) a = nn_smlad(rec[1 + j], x[j], a);
        const int32_t s = sign ? a >> 31 : 0;
        const uint64_t addend = ((uint64_t)(rec[7] + (uint32_t)s) << 32) | (rec[6] | ((uint32_t)s << 31));
        const int64_t t = (int64_t)(addend + (uint64_t)((int64_t)a * (int32_t)rec[8]));
        o[oc] = (int8_t)nn_ssat8((int32_t)(t >> 32) >> rec[9]);
    }
}

/* The column x[0..4] of a 3x3 grayscale window whose rows start at r, r + step, r + 2 * step. */
static inline void gray3_col(const int8_t *r, int32_t step, uint32_t *x) {
    x[0] = (uint32_t)(uint16_t)r[0] | ((uint32_t)r[1] << 16);
    x[1] = (uint32_t)(uint16_t)r[2] | ((uint32_t)r[step] << 16);
    x[2] = (uint32_t)(uint16_t)r[step + 1] | ((uint32_t)r[step + 2] << 16);
    x[3] = (uint32_t)(uint16_t)r[2 * step] | ((uint32_t)r[2 * step + 1] << 16);
    x[4] = (uint32_t)(uint16_t)r[2 * step + 2];
}

/* The register path for `count` 3x3 grayscale windows side by side, the first with rows
 * r, r + step, r + 2 * step (see gray3_col) and each next one `stride` bytes to the right;
 * the outputs of consecutive windows follow each other (oc_n each). On Cortex-M one
 * assembly block runs the row: per window 9 LDRSB and 4 PKHBT build the column, then the
 * channel loop; the window pointer, step, count, records, oc_n and stride wait in a frame.
 * `sign` applies the fast form's sign correction; without it (output zero point -128, no
 * clamp) a negative accumulator still gives -128: its result is <= 0 either way. */
NN_INLINE void gray3_row(const uint32_t *rec, int8_t *o, int32_t oc_n, const int8_t *r, int32_t step,
                         int32_t stride, int32_t count, const int sign) {
#if NN_ASM
    uint32_t frame[6] = {(uint32_t)(uintptr_t)r, (uint32_t)step, (uint32_t)count, (uint32_t)(uintptr_t)rec,
                         (uint32_t)oc_n, (uint32_t)stride};
    uint32_t a, t1, t2, lo, hi, x0, x1, x2, x3, x4, pw;
    int32_t n;
    __asm__ volatile(
        "4:\n\t"
        "ldrd   %[lo], %[hi], [%[fr]]\n\t"
        "ldr    %[a], [%[fr], #20]\n\t"
        "add    %[a], %[lo], %[a]\n\t"
        "str    %[a], [%[fr]]\n\t"
        "ldrd   %[p], %[n], [%[fr], #12]\n\t"
        "ldrsb  %[x0], [%[lo]]\n\t"
        "ldrsb  %[a], [%[lo], #1]\n\t"
        "pkhbt  %[x0], %[x0], %[a], lsl #16\n\t"
        "ldrsb  %[x1], [%[lo], #2]\n\t"
        "add    %[lo], %[lo], %[hi]\n\t"
        "ldrsb  %[a], [%[lo]]\n\t"
        "pkhbt  %[x1], %[x1], %[a], lsl #16\n\t"
        "ldrsb  %[x2], [%[lo], #1]\n\t"
        "ldrsb  %[a], [%[lo], #2]\n\t"
        "pkhbt  %[x2], %[x2], %[a], lsl #16\n\t"
        "add    %[lo], %[lo], %[hi]\n\t"
        "ldrsb  %[x3], [%[lo]]\n\t"
        "ldrsb  %[a], [%[lo], #1]\n\t"
        "pkhbt  %[x3], %[x3], %[a], lsl #16\n\t"
        "ldrsb  %[x4], [%[lo], #2]\n\t"
        ".if %c[sign]\n\t"   /* code size: the unrolled loop only for the usual ReLU stem */
        NN_SK_CHANNEL_LOOP
        ".else\n\t"
        NN_SK_CHANNEL_LOOP2
        ".endif\n\t"
        "ldr    %[a], [%[fr], #8]\n\t"
        "subs   %[a], %[a], #1\n\t"
        "str    %[a], [%[fr], #8]\n\t"
        "bne    4b\n\t"
        : [p] "=&r"(pw), [o] "+&r"(o), [n] "=&r"(n), [a] "=&r"(a), [t1] "=&r"(t1), [t2] "=&r"(t2),
          [lo] "=&r"(lo), [hi] "=&r"(hi), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3),
          [x4] "=&r"(x4)
        : [fr] "r"(frame), [sign] "i"(sign)
        : "cc", "memory");
#else
    for (int32_t i = 0; i < count; ++i, r += stride, o += oc_n) {
        uint32_t x[SMALL_K_REG_WORDS];
        gray3_col(r, step, x);
        small_k_channels_c(rec, o, oc_n, x, sign);
    }
#endif
}

/* gray3_row with the sign correction chosen at run time (one copy of each form). */
static void gray3_row_any(const uint32_t *rec, int8_t *o, int32_t oc_n, const int8_t *r, int32_t step,
                          int32_t stride, int32_t count, int sign) {
    if (sign) {
        gray3_row(rec, o, oc_n, r, step, stride, count, 1);
    } else {
        gray3_row(rec, o, oc_n, r, step, stride, count, 0);
    }
}

/* The linear column of output pixel (b, oy, ox): k_len int16 (see above). */
static void small_k_col(const nn_conv_params_t *p, const int8_t *in, int32_t b, int32_t oy, int32_t ox,
                        int16_t *dst) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->in_c, in_h = p->in_h, in_w = p->in_w, k_w = p->k_w, dil_w = p->dil_w;
    const int16_t zp = (int16_t)(-p->in_offset);
    const int8_t *img = in + b * in_h * in_w * ic;
    int32_t kx0, kx1;
    nn_valid_taps(ix0, dil_w, k_w, in_w, &kx0, &kx1);
    for (int32_t ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int row_in = iy >= 0 && iy < in_h;
        const int8_t *row = img + (iy * in_w + ix0) * ic;
        for (int32_t kx = 0; kx < k_w; ++kx) {
            const int inside = row_in && kx >= kx0 && kx < kx1;
            const int8_t *x = row + kx * dil_w * ic;
            for (int32_t c = 0; c < ic; ++c) *dst++ = inside ? (int16_t)x[c] : zp;
        }
    }
    if ((p->k_h * k_w * ic) & 1) *dst = 0;   /* the pad tap of an odd k_len */
}

/* Windows ox0 .. ox0 + count - 1 of output row oy through a strip (gray3_strip_bytes): the
 * 3 input rows they cover, with the padding filled in with the input zero point. */
static void gray3_strip_run(const nn_conv_params_t *p, const int8_t *img, int32_t oy, int32_t ox0, int32_t count,
                            const uint32_t *rec, int8_t *o, int8_t *strip, int sign) {
    const int32_t sw = p->stride_w, span = (count - 1) * sw + 3;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox0 * sw - p->pad_left;
    const int8_t zp = (int8_t)(-p->in_offset);
    int8_t *dst = strip;
    for (int32_t ky = 0; ky < 3; ++ky) {
        const int32_t iy = iy0 + ky;
        const int row_in = iy >= 0 && iy < p->in_h;
        for (int32_t x = 0; x < span; ++x) {
            const int32_t ix = ix0 + x;
            *dst++ = row_in && ix >= 0 && ix < p->in_w ? img[iy * p->in_w + ix] : zp;
        }
    }
    gray3_row_any(rec, o, p->out_c, strip, span, sw, count, sign);
}

/* A 3x3 grayscale first layer with records in the fast form, a row of windows per call:
 * the windows that lie inside the input read its rows directly; the others (borders) go
 * through a strip. */
static void conv_gray3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, const uint32_t *rec,
                       int8_t *strip, int sign) {
    const int32_t in_h = p->in_h, in_w = p->in_w, out_w = p->out_w, oc_n = p->out_c, sw = p->stride_w;
    int32_t oy_lo, oy_hi, ox_lo, ox_hi;   /* windows inside the input: rows and columns */
    interior_range(p->pad_top, p->stride_h, 1, 3, in_h, p->out_h, &oy_lo, &oy_hi);
    interior_range(p->pad_left, sw, 1, 3, in_w, out_w, &ox_lo, &ox_hi);
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * in_h * in_w;
        int8_t *o = out + b * p->out_h * out_w * oc_n;
        for (int32_t oy = 0; oy < p->out_h; ++oy, o += out_w * oc_n) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            if (oy < oy_lo || oy >= oy_hi || ox_lo == ox_hi) {
                gray3_strip_run(p, img, oy, 0, out_w, rec, o, strip, sign);
                continue;
            }
            if (ox_lo > 0) gray3_strip_run(p, img, oy, 0, ox_lo, rec, o, strip, sign);
            gray3_row_any(rec, o + ox_lo * oc_n, oc_n, img + iy0 * in_w + ox_lo * sw - p->pad_left, in_w, sw,
                          ox_hi - ox_lo, sign);
            if (ox_hi < out_w) gray3_strip_run(p, img, oy, ox_hi, out_w - ox_hi, rec, o + ox_hi * oc_n, strip, sign);
        }
    }
}

void nn_opt_conv_gray3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, const int32_t *tab,
                       uint32_t *wide) {
    small_k_widen(p->weights, p->k_h * p->k_w * p->in_c, p->out_c, wide);
    small_k_records(tab, p->out_c, p->out_offset, wide);
    conv_gray3(p, in, out, wide, (int8_t *)(wide + SK_REC * p->out_c), p->out_offset > -128);
}

void nn_opt_conv_small_k(const nn_conv_params_t *p, const int8_t *in, int8_t *out, int16_t *col,
                         const int32_t *tab, uint32_t *wide, int fast, nn_conv_path_t path) {
    if (path == NN_CONV_PATH_GRAY3) {   /* its own entry, so that a model of gray stems links only it */
        nn_opt_conv_gray3(p, in, out, tab, wide);
        return;
    }
    const int32_t k_len = p->k_h * p->k_w * p->in_c, words = small_k_words(k_len);
    const int32_t pixels = p->out_h * p->out_w, out_w = p->out_w, oc_n = p->out_c;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int clamp = lo > -128 || hi < 127;
    uint32_t *const c32 = (uint32_t *)(void *)col;
    small_k_widen(p->weights, k_len, oc_n, wide);
    if (path != NN_CONV_PATH_SMALL_K) {
        /* records in the fast form and no clamp narrower than int8 (path SMALL_K_REC):
         * the loop above; otherwise (SMALL_K_REG) C */
        small_k_records(tab, oc_n, zo, wide);
        const int rec_ok = path != NN_CONV_PATH_SMALL_K_REG;
        const int sign = zo > -128;
        const int32_t in_w = p->in_w, in_h = p->in_h;
        const int g3 = gray3(p);
        const int8_t zp = (int8_t)(-p->in_offset);
        int8_t patch[9];
        memset(col, 0, 4 * SMALL_K_REG_WORDS);   /* taps past k_len stay 0 */
        for (int32_t b = 0; b < p->batches; ++b) {
            int8_t *o = out + b * pixels * oc_n;
            const int8_t *img = in + b * in_h * in_w;
            for (int32_t oy = 0; oy < p->out_h; ++oy) {
                const int32_t iy0 = oy * p->stride_h - p->pad_top;
                const int rows_in = g3 && iy0 >= 0 && iy0 + 3 <= in_h;
                for (int32_t ox = 0; ox < out_w; ++ox, o += oc_n) {
                    const int32_t ix0 = ox * p->stride_w - p->pad_left;
                    const int8_t *r = patch;   /* 3x3 grayscale: the window's rows r, r + step, r + 2 * step */
                    int32_t step = 3;
                    if (rows_in && ix0 >= 0 && ix0 + 3 <= in_w) {
                        r = img + iy0 * in_w + ix0;
                        step = in_w;
                    } else if (g3) {   /* border: the window with padded taps at the input zero point */
                        for (int32_t t = 0; t < 9; ++t) {
                            const int32_t iy = iy0 + t / 3, ix = ix0 + t % 3;
                            patch[t] = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w ? img[iy * in_w + ix] : zp;
                        }
                    }
                    uint32_t x[SMALL_K_REG_WORDS];
                    if (g3) {
                        gray3_col(r, step, x);
                    } else {
                        small_k_col(p, in, b, oy, ox, col);
                        memcpy(x, col, sizeof x);
                    }
                    if (!rec_ok) {
                        const uint32_t *w = wide;
                        const int32_t *e = tab;
                        for (int32_t oc = 0; oc < oc_n; ++oc, e += RQ_WORDS, w += SK_REC) {
                            int32_t a = e[0];
                            for (int32_t j = 0; j < SMALL_K_REG_WORDS; ++j) a = nn_smlad(w[1 + j], x[j], a);
                            o[oc] = rq_out(e, a, zo, clamp, lo, hi, fast);
                        }
                    } else {   /* other register-path layers (rare): the portable loop */
                        small_k_channels_c(wide, o, oc_n, x, sign);
                    }
                }
            }
        }
        return;
    }
    const uint32_t *const d32 = c32 + words;   /* the second pixel's column */
    for (int32_t b = 0; b < p->batches; ++b) {
        int8_t *ob = out + b * pixels * oc_n;
        for (int32_t px = 0; px < pixels; px += 2) {
            const int32_t px1 = px + 1 < pixels ? px + 1 : px;
            small_k_col(p, in, b, px / out_w, px % out_w, col);
            small_k_col(p, in, b, px1 / out_w, px1 % out_w, col + 2 * words);
            int8_t *o0 = ob + px * oc_n;
            int8_t *o1 = ob + px1 * oc_n;   /* the same pixel twice: written twice, same values */
            const uint32_t *w = wide;
            const int32_t *e = tab;
            for (int32_t oc = 0; oc < oc_n; ++oc, e += RQ_WORDS, w += words) {
                int32_t a0 = e[0], a1 = e[0];
                for (int32_t j = 0; j < words; ++j) {   /* words - k2 pad words are 0 */
                    a0 = nn_smlad(w[j], c32[j], a0);
                    a1 = nn_smlad(w[j], d32[j], a1);
                }
                o0[oc] = rq_out(e, a0, zo, clamp, lo, hi, fast);
                o1[oc] = rq_out(e, a1, zo, clamp, lo, hi, fast);
            }
        }
    }
}

/* Path SMALL_K_WIDE, one interior window whose 3 kernel rows are 9-byte runs (3x3 RGB, or 9x3
 * grayscale) starting at r, r + step, r + 2 * step: its 27 taps straight into one lane of the
 * column pair (layout: nn_opt_conv.c, col_slot: per group of 4 taps the words (t0, t2), (t1, t3)
 * at d[4g], d[4g + 1]), no byte patch. Groups 2 and 4 straddle two kernel rows; the last group's
 * tap 27 has weight 0, so it takes any value (the assembly reads byte 5 of the last row). 35
 * instructions on Cortex-M, only loads from inside the window. */
static inline void stem9_lane(const int8_t *r, int32_t step, uint32_t *d) {
#if NN_ASM
    uint32_t v, t, x0, x1;
    __asm__ volatile(
        "ldr    %[v], [%[r]]\n\t"
        "sxtb16 %[x0], %[v]\n\t"
        "sxtb16 %[x1], %[v], ror #8\n\t"
        "strd   %[x0], %[x1], [%[d]]\n\t"
        "ldr    %[v], [%[r], #4]\n\t"
        "sxtb16 %[x0], %[v]\n\t"
        "sxtb16 %[x1], %[v], ror #8\n\t"
        "strd   %[x0], %[x1], [%[d], #16]\n\t"
        "ldrsb  %[t], [%[r], #8]\n\t"
        "add    %[r], %[r], %[s]\n\t"
        "ldr    %[v], [%[r]]\n\t"
        "sxtb16 %[x1], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "pkhbt  %[x0], %[t], %[v], lsl #16\n\t"
        "strd   %[x0], %[x1], [%[d], #32]\n\t"
        "ldr    %[v], [%[r], #3]\n\t"
        "sxtb16 %[x0], %[v]\n\t"
        "sxtb16 %[x1], %[v], ror #8\n\t"
        "strd   %[x0], %[x1], [%[d], #48]\n\t"
        "ldrsb  %[x0], [%[r], #7]\n\t"
        "ldrsb  %[x1], [%[r], #8]\n\t"
        "add    %[r], %[r], %[s]\n\t"
        "ldrsb  %[t], [%[r]]\n\t"
        "pkhbt  %[x0], %[x0], %[t], lsl #16\n\t"
        "ldrsb  %[t], [%[r], #1]\n\t"
        "pkhbt  %[x1], %[x1], %[t], lsl #16\n\t"
        "strd   %[x0], %[x1], [%[d], #64]\n\t"
        "ldr    %[v], [%[r], #2]\n\t"
        "sxtb16 %[x0], %[v]\n\t"
        "sxtb16 %[x1], %[v], ror #8\n\t"
        "strd   %[x0], %[x1], [%[d], #80]\n\t"
        "ldr    %[v], [%[r], #5]\n\t"
        "sxtb16 %[x0], %[v], ror #8\n\t"
        "sxtb16 %[x1], %[v], ror #16\n\t"
        "strd   %[x0], %[x1], [%[d], #96]\n\t"
        : [r] "+&r"(r), [v] "=&r"(v), [t] "=&r"(t), [x0] "=&r"(x0), [x1] "=&r"(x1)
        : [s] "r"(step), [d] "r"(d)
        : "memory");
#else
    const int8_t *a = r, *b = r + step, *c = r + 2 * step;
    const int8_t taps[28] = {a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], b[0], b[1], b[2], b[3], b[4],
                             b[5], b[6], b[7], b[8], c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], 0};
    for (int32_t g = 0; g < 7; ++g, d += 4) {
        const uint32_t v = nn_read32(taps + 4 * g);
        d[0] = nn_sxtb16(v);
        d[1] = nn_sxtb16_ror8(v);
    }
#endif
}

/* The window of output pixel (oy, ox) that reaches into the padding as a 27-byte patch (rows of 9 bytes)
 * at `patch`, the taps in the padding set to the input zero point. */
NN_NOINLINE
static const int8_t *stem9_patch(const nn_conv_params_t *p, const int8_t *img, int32_t oy, int32_t ox, int8_t *patch) {
    const int32_t ic = p->in_c, in_w = p->in_w, iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int8_t zp = (int8_t)(-p->in_offset);
    int8_t *dst = patch;
    for (int32_t iy = iy0; iy < iy0 + 3; ++iy) {
        for (int32_t ix = ix0; ix < ix0 + p->k_w; ++ix) {
            const int in = iy >= 0 && iy < p->in_h && ix >= 0 && ix < in_w;
            for (int32_t c = 0; c < ic; ++c) *dst++ = in ? img[(iy * in_w + ix) * ic + c] : zp;
        }
    }
    return patch;
}

void nn_opt_stem9_pair_col(const nn_conv_params_t *p, const int8_t *img, int32_t oy0, int32_t ox0, int in0,
                           int32_t oy1, int32_t ox1, int in1, int8_t *patch, int16_t *col) {
    uint32_t *const d = (uint32_t *)(void *)col;
    const int32_t ic = p->in_c, in_w = p->in_w, sh = p->stride_h, sw = p->stride_w, pt = p->pad_top, pl = p->pad_left;
    const int32_t step = in_w * ic;
    if (in0) {
        stem9_lane(img + ((oy0 * sh - pt) * in_w + ox0 * sw - pl) * ic, step, d);
    } else {
        stem9_lane(stem9_patch(p, img, oy0, ox0, patch), 9, d);
    }
    if (in1) {
        stem9_lane(img + ((oy1 * sh - pt) * in_w + ox1 * sw - pl) * ic, step, d + 2);
    } else {
        stem9_lane(stem9_patch(p, img, oy1, ox1, patch + 28), 9, d + 2);
    }
}

#else
typedef int nn_opt_conv_small_k_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
