/*
 * nn_opt.c - int8 kernels for Cortex-M cores with the DSP extension.
 *
 * Same contract and bit-exact results as the reference kernels (nn_ref.c);
 * compiled only when NN_OPTIMIZED (see nn_kernels.h). The multiply-accumulate
 * loops use SMLAD (two 16x16 MACs per instruction) on operands widened with
 * SXTB16; on a host the instructions run through nn_dsp.h's portable model.
 *
 * Requantization: scratch holds a per-channel table (bias, multiplier, rounding
 * constants) built once per call. When every exponent is a right shift of 2..31
 * (almost every real layer) the double rounding is done by one SMLAL and two
 * single-cycle instructions (rq_fast); otherwise the general form is used. The
 * depthwise bodies are instantiated for both forms; convolution and fully connected
 * loops are compiled once and branch per output (the general form is a call).
 *
 * Convolution: the input offset is folded into the biases (bias + offset * sum of
 * the weights), so im2col only widens: two output pixels into int16 columns,
 * padded taps set to the input zero point, each group of 4 taps stored in the
 * order (0, 2, 1, 3) so that a word-load pairs with SXTB16 of 4 weights (two
 * interior pixels at once when in_c is a multiple of 4); then a 2 output channels
 * x 2 pixels block per pass (8 SMLAD per 4 taps, two groups per loop pass). With the
 * fast form, no clamp narrower than int8 and K a multiple of 4 (inner layers), the
 * block's requantize-and-store joins the MAC loop in one assembly block; when the
 * parameters also ask for wide weights (wide_weights, set by the compiler where the
 * arena has room), the weights are widened to int16 once per call and one assembly
 * loop runs every channel pair of a pixel pair at 12 instructions per 16 MACs.
 *
 * First layers (in_c not a multiple of 4, at most SMALL_K_MAX taps): the weights
 * are widened into int16 pairs in scratch once per call; a column of up to 10 taps
 * (3x3 grayscale) stays in registers and each output channel is one per-channel record
 * (5 SMLAD, SMLAL, ASR, SSAT); a 3x3 grayscale layer runs a row of windows per assembly
 * block, each column built inside it straight from the input rows (windows that reach
 * into the padding: from a strip of the 3 rows with the padding filled in); longer
 * columns (RGB) go two pixels per pass.
 *
 * Max pool: 4 channels per word with SSUB8 + SEL, the 2x2 window unrolled; 2x2 stride 2
 * windows that all lie inside (VALID) run without per-pixel bounds, a row per assembly
 * loop when there is no clamp.
 *
 * Depthwise: 4 channels per pass in registers (SMLABB/SMLATT); interior pixels
 * use biases with the offset folded in and a fully unrolled 3x3; a depth
 * multiplier > 1 shares each input value between the channels it feeds.
 */
#include "nn_kernels.h"

#if NN_OPTIMIZED

#include <string.h>

#include "nn_dsp.h"
#include "nn_fixedpoint.h"

/* Depthwise bodies are instantiated once per requantization form: force the inlining
 * so that `fast` is a constant in each copy. */
#if defined(__GNUC__)
#define NN_INLINE static inline __attribute__((always_inline))
#else
#define NN_INLINE static inline
#endif

static inline int32_t align4(int32_t n) { return (n + 3) & ~3; }

/* Per output channel requantization entry in scratch: bias, multiplier, then
 * (rounding addend, shift) for the fast form or (exponent, 0) for the general one. */
#define RQ_WORDS 4

/* First layers (in_c not a multiple of 4) with at most this many taps (k_h * k_w * in_c)
 * take the small-K path: weights widened once per call, see conv_small_k. */
#define SMALL_K_MAX 32

static inline int32_t small_k(const nn_conv_params_t *p) {
    return (p->in_c & 3) != 0 && p->k_h * p->k_w * p->in_c <= SMALL_K_MAX;
}
static inline int32_t small_k_words(int32_t k_len);

/* Wide weights (p->wide_weights): an inner layer whose requantization takes the fused
 * form widens its weights once per call into one record per output channel pair (see
 * conv_wide_records) of WIDE_REC_WORDS(groups) words. */
#define WIDE_REC_WORDS(groups) (2 + 4 * (groups) + 6)
static int conv_wide_ok(const nn_conv_params_t *p);

/* 3x3 grayscale first layers (in_c 1, no dilation) run a row of windows at a time; a row
 * whose windows reach into the padding runs on a strip of its 3 input rows with the padding
 * filled in: 3 x gray3_span bytes of scratch. */
static inline int gray3(const nn_conv_params_t *p) {
    return p->in_c == 1 && p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1;
}
static inline int32_t gray3_span(const nn_conv_params_t *p) { return (p->out_w - 1) * p->stride_w + 3; }
static inline int32_t gray3_strip_bytes(const nn_conv_params_t *p) { return gray3(p) ? align4(3 * gray3_span(p)) : 0; }

size_t nn_opt_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) {
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    int32_t wide = small_k(p) ? 4 * small_k_words(k_len) * p->out_c + gray3_strip_bytes(p) : 0;
    if (conv_wide_ok(p)) wide = 4 * WIDE_REC_WORDS(k_len >> 2) * (p->out_c >> 1);
    return (size_t)(2 * 2 * align4(k_len) + 4 * RQ_WORDS * p->out_c + wide);
}

size_t nn_opt_depthwise_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) {
    return (size_t)(4 * (RQ_WORDS + 1) * p->out_c);
}

/* A fully connected layer with at most this many outputs widens its input on the fly
 * instead of into scratch: a widened copy pays for itself only when many rows reuse it,
 * and a classifier head (e.g. 1728 -> 5) would otherwise need more scratch than the
 * whole TFLite Micro arena of that layer. */
#define FC_DIRECT_MAX_ROWS 8

size_t nn_opt_fc_s8_scratch_bytes(const nn_fc_params_t *p) {
    return p->out_features <= FC_DIRECT_MAX_ROWS ? 0u : (size_t)(2 * align4(p->in_features));
}

size_t nn_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) { return nn_opt_conv2d_s8_scratch_bytes(p); }
size_t nn_depthwise_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) {
    return nn_opt_depthwise_conv2d_s8_scratch_bytes(p);
}
size_t nn_fc_s8_scratch_bytes(const nn_fc_params_t *p) { return nn_opt_fc_s8_scratch_bytes(p); }

/* nn_fx_requantize_nonneg(acc, mult, -r) for 2 <= r <= 31 with both roundings in one
 * 64-bit multiply-accumulate (SMLAL) and two single-cycle instructions.
 * With T = acc*mult + 2^30, SRDHM is h = floor(T / 2^31), and the rounding shift is
 * floor((h + 2^(r-1) - [h < 0]) / 2^r). Nested floors with integer addends merge:
 * = floor((T + 2^(30+r) - [h < 0] * 2^31) / 2^(31+r)) = (hi32(T - [h<0]*2^31) + 2^(r-2)) >> (r-1).
 * [h < 0] may be replaced by [acc < 0]: they differ only when h = 0, where the
 * result is floor((2^(r-1) - 1) / 2^r) = 0 either way. rnd = 2^(r-2), rr = r - 1. */
NN_INLINE int32_t rq_fast(int32_t acc, int32_t mult, int32_t rnd, int32_t rr) {
    /* the 64-bit addend 2^30 - [acc < 0] * 2^31: high word acc >> 31, low word 0x40000000 or 0xC0000000 */
    const int32_t s = acc >> 31;
    const uint64_t addend = ((uint64_t)(uint32_t)s << 32) | (((uint32_t)s << 31) | 0x40000000u);
    const int64_t t = (int64_t)(addend + (uint64_t)((int64_t)acc * mult));
    return ((int32_t)(t >> 32) + rnd) >> rr;
}

/* Whether every exponent allows rq_fast (right shift 2..31). */
static int rq_fast_ok(const int32_t *shift, int32_t count) {
    for (int32_t i = 0; i < count; ++i) {
        if (shift[i] > -2 || shift[i] < -31) return 0;
    }
    return 1;
}

/* Fill `n` entries of `tab` (RQ_WORDS each); returns 1 when they are in the fast form. */
static int rq_prepare(const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t per_channel,
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

/* Requantize an accumulator (bias included) with entry e; `fast` is a constant after inlining. */
NN_INLINE int32_t rq_apply(const int32_t *e, int32_t acc, const int fast) {
    return fast ? rq_fast(acc, e[1], e[2], e[3]) : nn_fx_requantize_nonneg(acc, e[1], e[2]);
}

/* The general requantization form, out of line: loops compiled once for both forms call it. */
static __attribute__((noinline)) int32_t rq_general(const int32_t *e, int32_t acc) {
    return nn_fx_requantize_nonneg(acc, e[1], e[2]);
}

/* Requantize with entry e in the form chosen at run time (a predictable branch per output). */
NN_INLINE int32_t rq_any(const int32_t *e, int32_t acc, int fast) {
    return fast ? rq_fast(acc, e[1], e[2], e[3]) : rq_general(e, acc);
}

NN_INLINE int32_t clamp_s8(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Add the output zero point and clamp to the fused activation. */
NN_INLINE int8_t sat_out(int32_t v, int32_t zo, int32_t lo, int32_t hi) {
    v += zo;
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Requantize in the form chosen at run time, add the zero point, saturate and clamp. */
NN_INLINE int8_t rq_out(const int32_t *e, int32_t acc, int32_t zo, int clamp, int32_t lo, int32_t hi,
                        int fast) {
    int32_t v = nn_ssat8(rq_any(e, acc, fast) + zo);
    if (clamp) v = clamp_s8(v, lo, hi);
    return (int8_t)v;
}

/* Column layout: the two output pixels of a pass are interleaved per group of
 * 4 taps, 8 int16 per group: (p0: t0 t2 t1 t3)(p1: t0 t2 t1 t3). A word load
 * then pairs with SXTB16 of 4 weights (bytes 0,2 and, rotated, 1,3), and one
 * pointer walks both columns. */
static inline int32_t col_slot(int32_t k, int32_t lane) {
    static const uint8_t perm[4] = {0, 2, 1, 3};
    return 2 * (k & ~3) + 4 * lane + perm[k & 3];
}

/* Kernel taps [*k0, *k1) of a window starting at `origin` (step `dil`, `k` taps) that land in [0, extent). */
static inline void nn_valid_taps(int32_t origin, int32_t dil, int32_t k, int32_t extent, int32_t *k0, int32_t *k1) {
    int32_t lo = 0, hi = k;
    while (lo < hi && origin + lo * dil < 0) ++lo;
    while (hi > lo && origin + (hi - 1) * dil >= extent) --hi;
    *k0 = lo;
    *k1 = hi;
}

/* One lane of the column pair (border pixels, in_c a multiple of 4): `n` groups of 4 taps
 * from x widened into the lane's 2 words of each group (returns the next group's slot) ... */
static uint32_t *im2col_lane_run(const int8_t *x, int32_t n, uint32_t *dst) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
    uint32_t v, t;
    __asm__ volatile(
        "1:\n\t"
        "ldr    %[v], [%[x]], #4\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "strd   %[t], %[v], [%[d]], #16\n\t"
        "subs   %[n], %[n], #1\n\t"
        "bne    1b\n\t"
        : [x] "+r"(x), [n] "+r"(n), [d] "+r"(dst), [v] "=&r"(v), [t] "=&r"(t)
        :
        : "cc", "memory");
#else
    for (int32_t g = 0; g < n; ++g, dst += 4, x += 4) {
        const uint32_t v = nn_read32(x);
        dst[0] = nn_sxtb16(v);
        dst[1] = nn_sxtb16_ror8(v);
    }
#endif
    return dst;
}

/* ... and `n` >= 0 groups of padding: the input zero point in both halves of both words. */
static uint32_t *im2col_lane_fill(uint32_t zp2, int32_t n, uint32_t *dst) {
    for (int32_t g = 0; g < n; ++g, dst += 4) {
        dst[0] = zp2;
        dst[1] = zp2;
    }
    return dst;
}

/* Fill lane `lane` of the column pair for output pixel (b, oy, ox). The input
 * offset is folded into the bias (see conv_fold), so valid taps hold the raw input
 * and padded taps the input zero point (x + offset = 0 there, as in the reference);
 * taps from k_len up to k4 hold 0. With in_c a multiple of 4 and no column dilation
 * the valid part of a kernel row is one contiguous run of bytes, widened 4 at a time
 * with SXTB16; otherwise values are placed one by one with a running slot (first
 * layers: in_c of 1 or 3). */
static void im2col(const nn_conv_params_t *p, const int8_t *in, int32_t b, int32_t oy, int32_t ox,
                   int16_t *col, int32_t k4, int32_t lane) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w;
    const int32_t dil_h = p->dil_h, dil_w = p->dil_w;
    const int16_t zp = (int16_t)(-p->in_offset);
    const int8_t *img = in + b * in_h * in_w * ic;
    /* valid kernel columns kx0 .. kx1-1 (the same for every kernel row) */
    int32_t kx0, kx1;
    nn_valid_taps(ix0, dil_w, k_w, in_w, &kx0, &kx1);
    if ((ic & 3) == 0 && dil_w == 1) {
        const uint32_t zp2 = nn_dup16(zp);
        uint32_t *dst = (uint32_t *)(void *)(col + 4 * lane);
        const int32_t pre = kx0 * ic / 4, run = (kx1 - kx0) * ic / 4, post = (k_w - kx1) * ic / 4;
        for (int32_t ky = 0; ky < k_h; ++ky) {
            const int32_t iy = iy0 + ky * dil_h;
            if (iy < 0 || iy >= in_h || run == 0) {
                dst = im2col_lane_fill(zp2, pre + run + post, dst);
                continue;
            }
            dst = im2col_lane_fill(zp2, pre, dst);
            dst = im2col_lane_run(img + (iy * in_w + ix0 + kx0) * ic, run, dst);
            dst = im2col_lane_fill(zp2, post, dst);
        }
        return;
    }
    /* slot of tap k: g[(j & 1) * 2 + (j >> 1)] with g the group's lane and j = k & 3 */
    int16_t *g = col + 4 * lane;
    int32_t j = 0, k = 0;
    for (int32_t ky = 0; ky < k_h; ++ky) {
        const int32_t iy = iy0 + ky * dil_h;
        const int row_in = iy >= 0 && iy < in_h;
        for (int32_t kx = 0; kx < k_w; ++kx) {
            const int inside = row_in && kx >= kx0 && kx < kx1;
            const int8_t *x = inside ? img + (iy * in_w + ix0 + kx * dil_w) * ic : img;
            for (int32_t c = 0; c < ic; ++c, ++k) {
                g[((j & 1) << 1) | (j >> 1)] = inside ? (int16_t)x[c] : zp;
                if (++j == 4) {
                    j = 0;
                    g += 8;
                }
            }
        }
    }
    for (; k < k4; ++k) {
        g[((j & 1) << 1) | (j >> 1)] = 0;
        ++j;
    }
}

/* The output rows (or columns) [*lo, *hi) whose kernel window lies inside the input along
 * one axis: origin = o * stride - pad >= 0 and origin + (k - 1) * dil < extent. */
static void interior_range(int32_t pad, int32_t stride, int32_t dil, int32_t k, int32_t extent, int32_t out,
                           int32_t *lo, int32_t *hi) {
    const int32_t last = extent - 1 - (k - 1) * dil + pad;   /* largest o * stride allowed */
    int32_t a = (pad + stride - 1) / stride, z = last >= 0 ? last / stride + 1 : 0;
    if (z > out) z = out;
    if (a > z) a = z;
    *lo = a;
    *hi = z;
}

/* One kernel row of both lanes of the column pair (interior pixels, see below): `run`
 * groups of 4 taps from xa and xb, widened into 8 int16 per group at dst; returns the
 * next group's slot. 10 instructions per group on Cortex-M. */
static inline uint32_t *im2col_pair_row(const int8_t *xa, const int8_t *xb, int32_t run, uint32_t *dst) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
    uint32_t va, vb, t0, t1;
    __asm__ volatile(
        "1:\n\t"
        "ldr    %[va], [%[xa]], #4\n\t"
        "ldr    %[vb], [%[xb]], #4\n\t"
        "sxtb16 %[t0], %[va]\n\t"
        "sxtb16 %[va], %[va], ror #8\n\t"
        "sxtb16 %[t1], %[vb]\n\t"
        "sxtb16 %[vb], %[vb], ror #8\n\t"
        "strd   %[t0], %[va], [%[d]], #8\n\t"
        "strd   %[t1], %[vb], [%[d]], #8\n\t"
        "subs   %[n], %[n], #1\n\t"
        "bne    1b\n\t"
        : [xa] "+r"(xa), [xb] "+r"(xb), [n] "+r"(run), [d] "+r"(dst), [va] "=&r"(va), [vb] "=&r"(vb),
          [t0] "=&r"(t0), [t1] "=&r"(t1)
        :
        : "cc", "memory");
#else
    for (int32_t g = 0; g < run; ++g, dst += 4) {
        const uint32_t va = nn_read32(xa + 4 * g), vb = nn_read32(xb + 4 * g);
        dst[0] = nn_sxtb16(va);
        dst[1] = nn_sxtb16_ror8(va);
        dst[2] = nn_sxtb16(vb);
        dst[3] = nn_sxtb16_ror8(vb);
    }
#endif
    return dst;
}

/* Both lanes of the column pair at once for two interior pixels, in_c a multiple of 4
 * and no column dilation (the usual inner layer): every kernel row is one run of
 * k_w * in_c bytes per pixel, and each group of 4 taps takes one word of each pixel,
 * widened into the group's 8 int16 (see col_slot). */
static void im2col_pair_interior(const nn_conv_params_t *p, const int8_t *in, int32_t b, int32_t oy0,
                                 int32_t ox0, int32_t oy1, int32_t ox1, int16_t *col) {
    const int32_t ic = p->in_c, in_w = p->in_w;
    const int8_t *img = in + b * p->in_h * in_w * ic;
    const int8_t *xa = img + ((oy0 * p->stride_h - p->pad_top) * in_w + ox0 * p->stride_w - p->pad_left) * ic;
    const int8_t *xb = img + ((oy1 * p->stride_h - p->pad_top) * in_w + ox1 * p->stride_w - p->pad_left) * ic;
    const int32_t run = p->k_w * ic / 4, row_step = p->dil_h * in_w * ic;
    uint32_t *dst = (uint32_t *)(void *)col;
    for (int32_t ky = 0; ky < p->k_h; ++ky, xa += row_step, xb += row_step) dst = im2col_pair_row(xa, xb, run, dst);
}

/* Fold the input offset into the table's biases: bias + in_offset * (sum of the row's
 * weights), wrapping like the reference's int32 accumulation. */
static void conv_fold(const int8_t *weights, int32_t k_len, int32_t out_c, int32_t in_offset, int32_t *tab) {
    for (int32_t oc = 0; oc < out_c; ++oc, tab += RQ_WORDS) {
        const int8_t *w = weights + oc * k_len;
        uint32_t sum = 0;
        for (int32_t k = 0; k < k_len; ++k) sum += (uint32_t)(int32_t)w[k];
        tab[0] = (int32_t)((uint32_t)tab[0] + sum * (uint32_t)in_offset);
    }
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
/* One group of 4 taps for the 2x2 block: 16 instructions, 16 MACs. */
#define NN_DOT_GROUP                                  \
    "ldrd   %[x02], %[x13], [%[pc]], #8\n\t"          \
    "ldr    %[wa], [%[pa]], #4\n\t"                   \
    "sxtb16 %[t], %[wa]\n\t"                          \
    "smlad  %[a00], %[t], %[x02], %[a00]\n\t"         \
    "sxtb16 %[wa], %[wa], ror #8\n\t"                 \
    "smlad  %[a00], %[wa], %[x13], %[a00]\n\t"        \
    "ldr    %[wb], [%[pb]], #4\n\t"                   \
    "sxtb16 %[u], %[wb]\n\t"                          \
    "smlad  %[a10], %[u], %[x02], %[a10]\n\t"         \
    "sxtb16 %[wb], %[wb], ror #8\n\t"                 \
    "smlad  %[a10], %[wb], %[x13], %[a10]\n\t"        \
    "ldrd   %[x02], %[x13], [%[pc]], #8\n\t"          \
    "smlad  %[a01], %[t], %[x02], %[a01]\n\t"         \
    "smlad  %[a01], %[wa], %[x13], %[a01]\n\t"        \
    "smlad  %[a11], %[u], %[x02], %[a11]\n\t"         \
    "smlad  %[a11], %[wb], %[x13], %[a11]\n\t"
/* n >= 1 groups, two per loop pass (17 instructions per 16 MACs), an odd one first. */
#define NN_DOT_LOOP                               \
    "tst    %[n], #1\n\t"                         \
    "beq    2f\n\t"                               \
    NN_DOT_GROUP                                  \
    "subs   %[n], %[n], #1\n\t"                   \
    "beq    3f\n"                                 \
    "2:\n\t"                                      \
    NN_DOT_GROUP                                  \
    NN_DOT_GROUP                                  \
    "subs   %[n], %[n], #2\n\t"                   \
    "bne    2b\n"                                 \
    "3:\n\t"
#endif

/* acc[0..3] += rows w0, w1 (int8, k_len long) times the column pair:
 * (w0.p0, w0.p1, w1.p0, w1.p1). 16 MACs per group of 4 taps. k_len may be rounded
 * up to k4 when bytes after row w1 exist (the next rows): the column is 0 there. */
NN_INLINE void dot_2x2(const int8_t *w0, const int8_t *w1, const int16_t *col, int32_t k_len,
                           int32_t *acc) {
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int32_t groups = k_len >> 2;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
    /* Two groups per loop pass (17 instructions per 16 MACs); the compiler spills
     * registers on the C form. LDRD needs a word-aligned column: the arena places
     * scratch 4-byte aligned. */
    if (groups > 0) {
        const int8_t *pa = w0, *pb = w1;
        const int16_t *pc = col;
        int32_t n = groups;
        uint32_t x02, x13, wa, wb, t, u;
        __asm__ volatile(
            NN_DOT_LOOP
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

/* One weight row times both lanes of the column pair: (w.p0, w.p1). */
NN_INLINE void dot_1x2(const int8_t *w, const int16_t *col, int32_t k_len, int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1];
    int32_t k = 0;
    const int16_t *c = col;
    for (; k + 4 <= k_len; k += 4, c += 8) {
        const uint32_t wv = nn_read32(w + k);
        const uint32_t w02 = nn_sxtb16(wv), w13 = nn_sxtb16_ror8(wv);
        a0 = nn_smlad(w13, nn_read32(c + 2), nn_smlad(w02, nn_read32(c), a0));
        a1 = nn_smlad(w13, nn_read32(c + 6), nn_smlad(w02, nn_read32(c + 4), a1));
    }
    for (; k < k_len; ++k) {
        a0 += w[k] * col[col_slot(k, 0)];
        a1 += w[k] * col[col_slot(k, 1)];
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* Fold the output zero point into the fast form's rounding addends (rnd + (zo << rr):
 * the zero point then rides along in the rounding shift) when every right shift is at most
 * 22, so that the sum cannot overflow; returns whether it did. */
static int rq_fold_zo(int32_t *tab, int32_t n, int32_t zo) {
    for (int32_t c = 0; c < n; ++c) {
        if (tab[c * RQ_WORDS + 3] > 22) return 0;
    }
    for (int32_t c = 0; c < n; ++c, tab += RQ_WORDS) tab[2] = (int32_t)((uint32_t)tab[2] + ((uint32_t)zo << tab[3]));
    return 1;
}

/* One 2 output channels x 2 pixels block of the fused form (fast requantization with the
 * zero point folded in, no clamp narrower than int8, k_len a multiple of 4): rows pa, pb
 * times the column pair, requantized and stored to o0[0], o1[0] (row pa) and o0[1], o1[1]. */
typedef struct {
    const int8_t *pa, *pb;   /* weight rows of the two channels */
    const int16_t *pc;       /* the column pair */
    int32_t groups;          /* k_len / 4, at least 1 */
    const int32_t *e;        /* the two channels' requantization entries */
    int8_t *o0, *o1;         /* outputs of the two pixels */
} conv_block_t;

/* requantize accumulator A (mult x02, addend high word x13, shift wb) and store it at [pa/pb, #off] */
#define NN_RQ_STORE(A, DST, OFF)                          \
    "and    %[u], %[" A "], #0x80000000\n\t"              \
    "orr    %[u], %[u], #0x40000000\n\t"                  \
    "add    %[t], %[x13], %[" A "], asr #31\n\t"          \
    "smlal  %[u], %[t], %[" A "], %[x02]\n\t"             \
    "asr    %[t], %[t], %[wb]\n\t"                        \
    "ssat   %[t], #8, %[t]\n\t"                           \
    "strb   %[t], [%[" DST "], #" OFF "]\n\t"

NN_INLINE void conv_block_fused(conv_block_t *blk) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
    /* Everything in one assembly block (the C form spills around the MAC loop): the
     * block descriptor's address waits on the stack during the loop. */
    uint32_t a00, a01, a10, a11, pa, pb, pc, n, x02, x13, wa, wb, u;
    uint32_t t = (uint32_t)(uintptr_t)blk;
    __asm__ volatile(
        "ldrd   %[pa], %[pb], [%[t]]\n\t"
        "ldrd   %[pc], %[n], [%[t], #8]\n\t"
        "ldr    %[wa], [%[t], #16]\n\t"
        "ldr    %[a00], [%[wa]]\n\t"
        "ldr    %[a10], [%[wa], #16]\n\t"
        "mov    %[a01], %[a00]\n\t"
        "mov    %[a11], %[a10]\n\t"
        "str    %[t], [sp, #-8]!\n\t"
        NN_DOT_LOOP
        "ldr    %[t], [sp], #8\n\t"
        "ldr    %[wa], [%[t], #16]\n\t"
        "ldrd   %[pa], %[pb], [%[t], #20]\n\t"
        "ldrd   %[x02], %[x13], [%[wa], #4]\n\t"
        "ldr    %[wb], [%[wa], #12]\n\t"
        NN_RQ_STORE("a00", "pa", "0")
        NN_RQ_STORE("a01", "pb", "0")
        "ldrd   %[x02], %[x13], [%[wa], #20]\n\t"
        "ldr    %[wb], [%[wa], #28]\n\t"
        NN_RQ_STORE("a10", "pa", "1")
        NN_RQ_STORE("a11", "pb", "1")
        : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11), [pa] "=&r"(pa),
          [pb] "=&r"(pb), [pc] "=&r"(pc), [n] "=&r"(n), [x02] "=&r"(x02), [x13] "=&r"(x13),
          [wa] "=&r"(wa), [wb] "=&r"(wb), [u] "=&r"(u), [t] "+&r"(t)
        :
        : "cc", "memory");
#else
    const int32_t *e = blk->e;
    int32_t acc[4] = {e[0], e[0], e[RQ_WORDS], e[RQ_WORDS]};
    dot_2x2(blk->pa, blk->pb, blk->pc, 4 * blk->groups, acc);
    blk->o0[0] = (int8_t)nn_ssat8(rq_fast(acc[0], e[1], e[2], e[3]));
    blk->o1[0] = (int8_t)nn_ssat8(rq_fast(acc[1], e[1], e[2], e[3]));
    blk->o0[1] = (int8_t)nn_ssat8(rq_fast(acc[2], e[RQ_WORDS + 1], e[RQ_WORDS + 2], e[RQ_WORDS + 3]));
    blk->o1[1] = (int8_t)nn_ssat8(rq_fast(acc[3], e[RQ_WORDS + 1], e[RQ_WORDS + 2], e[RQ_WORDS + 3]));
#endif
}

/* Whether the wide-weights path applies: asked for, an inner layer (not small-K, k_len a
 * multiple of 4) of at least 2 output channels, no clamp narrower than int8 and every
 * exponent a right shift of 2..23 (the fast form with the zero point folded in, rq_fold_zo). */
static int conv_wide_ok(const nn_conv_params_t *p) {
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    if (!p->wide_weights || small_k(p) || (k_len & 3) != 0 || p->out_c < 2) return 0;
    if (p->act_min > -128 || p->act_max < 127) return 0;
    const int32_t n = p->per_channel ? p->out_c : 1;
    for (int32_t i = 0; i < n; ++i) {
        if (p->shift[i] > -2 || p->shift[i] < -23) return 0;
    }
    return 1;
}

/* The wide records, one per output channel pair (a, b), from the table in the fused form:
 * the two biases (input offset folded in); per group of 4 taps the rows' words widened as
 * the column stores them, (SXTB16, SXTB16 ror 8) of row a then of row b; then for a and
 * for b the multiplier, the addend's high word (rounding + zero point) and the right shift. */
static void conv_wide_records(const int8_t *w, int32_t k_len, int32_t out_c, const int32_t *tab, uint32_t *rec) {
    for (int32_t oc = 0; oc + 2 <= out_c; oc += 2, tab += 2 * RQ_WORDS, w += 2 * k_len) {
        *rec++ = (uint32_t)tab[0];
        *rec++ = (uint32_t)tab[RQ_WORDS];
        for (int32_t k = 0; k < k_len; k += 4) {
            const uint32_t wa = nn_read32(w + k), wb = nn_read32(w + k_len + k);
            *rec++ = nn_sxtb16(wa);
            *rec++ = nn_sxtb16_ror8(wa);
            *rec++ = nn_sxtb16(wb);
            *rec++ = nn_sxtb16_ror8(wb);
        }
        for (int32_t j = 0; j < 2; ++j) {
            *rec++ = (uint32_t)tab[j * RQ_WORDS + 1];
            *rec++ = (uint32_t)tab[j * RQ_WORDS + 2];
            *rec++ = (uint32_t)tab[j * RQ_WORDS + 3];
        }
    }
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
/* One group of 4 taps of a wide record times the column pair: 12 instructions, 16 MACs. */
#define NN_WIDE_GROUP                                 \
    "ldrd   %[w0], %[w1], [%[pw]], #8\n\t"            \
    "ldrd   %[x0], %[x1], [%[pc]], #8\n\t"            \
    "smlad  %[a00], %[w0], %[x0], %[a00]\n\t"         \
    "smlad  %[a00], %[w1], %[x1], %[a00]\n\t"         \
    "ldrd   %[y0], %[y1], [%[pc]], #8\n\t"            \
    "smlad  %[a01], %[w0], %[y0], %[a01]\n\t"         \
    "smlad  %[a01], %[w1], %[y1], %[a01]\n\t"         \
    "ldrd   %[w0], %[w1], [%[pw]], #8\n\t"            \
    "smlad  %[a10], %[w0], %[x0], %[a10]\n\t"         \
    "smlad  %[a10], %[w1], %[x1], %[a10]\n\t"         \
    "smlad  %[a11], %[w0], %[y0], %[a11]\n\t"         \
    "smlad  %[a11], %[w1], %[y1], %[a11]\n\t"
/* Requantize accumulator A with (multiplier x0, addend high word x1, shift y0) into w1. */
#define NN_WIDE_RQ(A)                                 \
    "and    %[w0], %[" A "], #0x80000000\n\t"         \
    "orr    %[w0], %[w0], #0x40000000\n\t"            \
    "add    %[w1], %[x1], %[" A "], asr #31\n\t"      \
    "smlal  %[w0], %[w1], %[" A "], %[x0]\n\t"        \
    "asr    %[w1], %[w1], %[y0]\n\t"                  \
    "ssat   %[w1], #8, %[w1]\n\t"
#endif

/* Every channel pair of one pixel pair through the wide records: outputs o[2j], o[2j + 1]
 * of the first pixel and o[delta + 2j], o[delta + 2j + 1] of the second. */
static void wide_pairs(const uint32_t *rec, const int16_t *col, int32_t groups, int32_t pairs, int8_t *o,
                       int32_t delta) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
    /* One assembly block for all pairs; the column, group count, pair count and delta wait
     * on the stack (14 registers are in use). */
    uint32_t a00, a01, a10, a11, pc, n, w0, w1;
    uint32_t x0 = (uint32_t)(uintptr_t)col, x1 = (uint32_t)groups, y0 = (uint32_t)pairs, y1 = (uint32_t)delta;
    __asm__ volatile(
        "strd   %[x0], %[x1], [sp, #-16]!\n\t"
        "strd   %[y0], %[y1], [sp, #8]\n"
        "1:\n\t"
        "ldrd   %[pc], %[n], [sp]\n\t"
        "ldrd   %[a00], %[a10], [%[pw]], #8\n\t"
        "mov    %[a01], %[a00]\n\t"
        "mov    %[a11], %[a10]\n\t"
        "tst    %[n], #1\n\t"
        "beq    2f\n\t"
        NN_WIDE_GROUP
        "subs   %[n], %[n], #1\n\t"
        "beq    3f\n"
        "2:\n\t"
        NN_WIDE_GROUP
        NN_WIDE_GROUP
        "subs   %[n], %[n], #2\n\t"
        "bne    2b\n"
        "3:\n\t"
        "ldr    %[y1], [sp, #12]\n\t"
        "ldrd   %[x0], %[x1], [%[pw]], #8\n\t"
        "ldr    %[y0], [%[pw]], #4\n\t"
        NN_WIDE_RQ("a01")
        "strb   %[w1], [%[o], %[y1]]\n\t"
        NN_WIDE_RQ("a00")
        "strb   %[w1], [%[o]], #1\n\t"
        "ldrd   %[x0], %[x1], [%[pw]], #8\n\t"
        "ldr    %[y0], [%[pw]], #4\n\t"
        NN_WIDE_RQ("a11")
        "strb   %[w1], [%[o], %[y1]]\n\t"
        NN_WIDE_RQ("a10")
        "strb   %[w1], [%[o]], #1\n\t"
        "ldr    %[n], [sp, #8]\n\t"
        "subs   %[n], %[n], #1\n\t"
        "str    %[n], [sp, #8]\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #16\n\t"
        : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11), [pc] "=&r"(pc),
          [n] "=&r"(n), [w0] "=&r"(w0), [w1] "=&r"(w1), [x0] "+&r"(x0), [x1] "+&r"(x1), [y0] "+&r"(y0),
          [y1] "+&r"(y1), [pw] "+&r"(rec), [o] "+&r"(o)
        :
        : "cc", "memory");
#else
    for (int32_t j = 0; j < pairs; ++j, o += 2) {
        int32_t a00 = (int32_t)rec[0], a10 = (int32_t)rec[1], a01 = a00, a11 = a10;
        rec += 2;
        const int16_t *c = col;
        for (int32_t g = 0; g < groups; ++g, rec += 4, c += 8) {
            const uint32_t x0 = nn_read32(c), x1 = nn_read32(c + 2), y0 = nn_read32(c + 4), y1 = nn_read32(c + 6);
            a00 = nn_smlad(rec[1], x1, nn_smlad(rec[0], x0, a00));
            a01 = nn_smlad(rec[1], y1, nn_smlad(rec[0], y0, a01));
            a10 = nn_smlad(rec[3], x1, nn_smlad(rec[2], x0, a10));
            a11 = nn_smlad(rec[3], y1, nn_smlad(rec[2], y0, a11));
        }
        o[0] = (int8_t)nn_ssat8(rq_fast(a00, (int32_t)rec[0], (int32_t)rec[1], (int32_t)rec[2]));
        o[delta] = (int8_t)nn_ssat8(rq_fast(a01, (int32_t)rec[0], (int32_t)rec[1], (int32_t)rec[2]));
        o[1] = (int8_t)nn_ssat8(rq_fast(a10, (int32_t)rec[3], (int32_t)rec[4], (int32_t)rec[5]));
        o[delta + 1] = (int8_t)nn_ssat8(rq_fast(a11, (int32_t)rec[3], (int32_t)rec[4], (int32_t)rec[5]));
        rec += 6;
    }
#endif
}

/* The convolution; one copy serves both requantization forms (code size).
 * Pixels go in pairs (an odd last pixel fills both lanes and stores one). With the fast
 * form, no clamp narrower than int8 and k_len a multiple of 4 (inner layers), channel
 * pairs go through conv_block_fused (the zero point folded into tab's addends). */
static void conv_body(const nn_conv_params_t *p, const int8_t *in, int8_t *out, int16_t *col,
                      int32_t *tab, int fast, uint32_t *wide) {
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    const int32_t k4 = align4(k_len);
    const int32_t pixels = p->out_h * p->out_w, out_w = p->out_w;
    const int32_t oc_n = p->out_c;
    const int8_t *const weights = p->weights;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int clamp = lo > -128 || hi < 127;
    const int pair_ok = (p->in_c & 3) == 0 && p->dil_w == 1;
    const int fused = fast && !clamp && (k_len & 3) == 0 && rq_fold_zo(tab, oc_n, p->out_offset);
    const int32_t zo = fused ? 0 : p->out_offset;   /* fused: already in the addends */
    if (wide) conv_wide_records(weights, k_len, oc_n, tab, wide);   /* conv_wide_ok: fused holds */
    int32_t ry0, ry1, rx0, rx1;   /* interior output rows and columns */
    interior_range(p->pad_top, p->stride_h, p->dil_h, p->k_h, p->in_h, p->out_h, &ry0, &ry1);
    interior_range(p->pad_left, p->stride_w, p->dil_w, p->k_w, p->in_w, out_w, &rx0, &rx1);
    for (int32_t b = 0; b < p->batches; ++b) {
        int8_t *ob = out + b * pixels * oc_n;
        int32_t oy0 = 0, ox0 = 0;   /* the pass's first pixel; (oy1, ox1) the next one, or the same */
        for (int32_t px = 0; px < pixels; px += 2) {
            const int32_t px1 = px + 1 < pixels ? px + 1 : px;
            int32_t oy1 = oy0, ox1 = ox0;
            if (px1 != px && ++ox1 == out_w) {
                ox1 = 0;
                ++oy1;
            }
            const int in0 = oy0 >= ry0 && oy0 < ry1 && ox0 >= rx0 && ox0 < rx1;
            const int in1 = oy1 >= ry0 && oy1 < ry1 && ox1 >= rx0 && ox1 < rx1;
            if (pair_ok && in0 && in1) {
                im2col_pair_interior(p, in, b, oy0, ox0, oy1, ox1, col);
            } else {
                im2col(p, in, b, oy0, ox0, col, k4, 0);
                im2col(p, in, b, oy1, ox1, col, k4, 1);
            }
            int8_t *o0 = ob + px * oc_n;
            int8_t *o1 = ob + px1 * oc_n;  /* the same pixel twice: written twice, same values */
            const int32_t *e = tab;
            const int8_t *w = weights;
            int32_t oc = 0;
            if (wide) {
                wide_pairs(wide, col, k_len >> 2, oc_n >> 1, o0, (int32_t)(o1 - o0));
                oc = oc_n & ~1;
                e += oc * RQ_WORDS;
                w += oc * k_len;
            } else if (fused) {
                conv_block_t blk = {w, w + k_len, col, k_len >> 2, e, o0, o1};
                for (; oc + 2 <= oc_n; oc += 2) {
                    conv_block_fused(&blk);
                    blk.pa += 2 * k_len;
                    blk.pb += 2 * k_len;
                    blk.e += 2 * RQ_WORDS;
                    blk.o0 += 2;
                    blk.o1 += 2;
                }
                e = blk.e;
                w = blk.pa;
            }
            for (; oc + 2 <= oc_n; oc += 2, e += 2 * RQ_WORDS, w += 2 * k_len) {
                int32_t acc[4] = {e[0], e[0], e[RQ_WORDS], e[RQ_WORDS]};
                dot_2x2(w, w + k_len, col, oc + 2 < oc_n ? k4 : k_len, acc);
                int32_t v0 = nn_ssat8(rq_any(e, acc[0], fast) + zo);
                int32_t v1 = nn_ssat8(rq_any(e, acc[1], fast) + zo);
                int32_t v2 = nn_ssat8(rq_any(e + RQ_WORDS, acc[2], fast) + zo);
                int32_t v3 = nn_ssat8(rq_any(e + RQ_WORDS, acc[3], fast) + zo);
                if (clamp) {   /* a fused activation narrower than int8 (ReLU with zero point > -128) */
                    v0 = clamp_s8(v0, lo, hi);
                    v1 = clamp_s8(v1, lo, hi);
                    v2 = clamp_s8(v2, lo, hi);
                    v3 = clamp_s8(v3, lo, hi);
                }
                o0[oc] = (int8_t)v0;
                o1[oc] = (int8_t)v1;
                o0[oc + 1] = (int8_t)v2;
                o1[oc + 1] = (int8_t)v3;
            }
            if (oc < oc_n) {
                int32_t acc[2] = {e[0], e[0]};
                dot_1x2(w, col, k_len, acc);
                o0[oc] = sat_out(rq_any(e, acc[0], fast), zo, lo, hi);
                o1[oc] = sat_out(rq_any(e, acc[1], fast), zo, lo, hi);
            }
            oy0 = oy1;
            ox0 = ox1 + 1;
            if (ox0 == out_w) {
                ox0 = 0;
                ++oy0;
            }
        }
    }
}

/* Small-K path (first layers: in_c not a multiple of 4, k_len <= SMALL_K_MAX): the
 * weights are widened once per call into int16 pairs (w[2j], w[2j+1]) in scratch,
 * zero-padded to small_k_words(k_len) words per channel. A pixel's column is a linear
 * int16 run (padded taps: the input zero point; the pad tap after an odd k_len: 0).
 * Up to SMALL_K_REG_WORDS words (k_len <= 10, e.g. 3x3 grayscale) the column stays in
 * registers and each output channel costs 5 SMLAD and its requantization; an interior
 * pixel of a 3x3 grayscale kernel builds it straight from the 3 input rows. Longer
 * columns (3x3 RGB) go two pixels at a time, every weight word feeding both. One copy
 * of the path serves both requantization forms (the general one through a call). */
#define SMALL_K_REG_WORDS 5
/* Per output channel record of the register path (SK_REC words): bias (offset folded),
 * the 5 weight pairs, the 64-bit addend of the fast form as (low word 2^30, high word
 * rnd + (zo << rr)), multiplier, right shift rr: the zero point rides along in the
 * rounding shift, so the loop ends with SMLAL, ASR, SSAT. */
#define SK_REC 10
static inline int small_k_reg(int32_t k_len) { return (k_len + 1) / 2 <= SMALL_K_REG_WORDS; }
static inline int32_t small_k_words(int32_t k_len) { return small_k_reg(k_len) ? SK_REC : (k_len + 1) / 2; }

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

/* Fill the rest of the register path's records from the requantization table; returns
 * whether the records hold the fast form (every right shift 2..23, so that zo << rr
 * cannot overflow the high word). */
static int small_k_records(const int32_t *tab, int32_t out_c, int32_t zo, int fast, uint32_t *rec) {
    int ok = fast;
    for (int32_t oc = 0; oc < out_c; ++oc, tab += RQ_WORDS, rec += SK_REC) {
        ok = ok && tab[3] <= 22;
        rec[0] = (uint32_t)tab[0];
        rec[6] = 0x40000000u;
        rec[7] = (uint32_t)tab[2] + ((uint32_t)zo << (tab[3] & 31));
        rec[8] = (uint32_t)tab[1];
        rec[9] = (uint32_t)tab[3];
    }
    return ok;
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
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
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

static void conv_small_k(const nn_conv_params_t *p, const int8_t *in, int8_t *out, int16_t *col,
                         const int32_t *tab, uint32_t *wide, int fast) {
    const int32_t k_len = p->k_h * p->k_w * p->in_c, words = small_k_words(k_len);
    const int32_t pixels = p->out_h * p->out_w, out_w = p->out_w, oc_n = p->out_c;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int clamp = lo > -128 || hi < 127;
    uint32_t *const c32 = (uint32_t *)(void *)col;
    if (small_k_reg(k_len)) {
        /* records in the fast form and no clamp narrower than int8: the loop above; otherwise C */
        const int rec_ok = small_k_records(tab, oc_n, zo, fast, wide) && !clamp;
        const int sign = zo > -128;
        const int32_t in_w = p->in_w, in_h = p->in_h;
        const int g3 = gray3(p);
        if (g3 && rec_ok) {
            conv_gray3(p, in, out, wide, (int8_t *)(wide + SK_REC * oc_n), sign);
            return;
        }
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

void nn_opt_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    int16_t *col = (int16_t *)scratch;   /* 2 * k4 int16, the requantization table, the small-K weights */
    int32_t *tab = (int32_t *)(void *)(col + 2 * align4(k_len));
    const int fast = rq_prepare(p->bias, p->mult, p->shift, p->per_channel, p->out_c, tab);
    conv_fold(p->weights, k_len, p->out_c, p->in_offset, tab);
    if (small_k(p)) {
        uint32_t *wide = (uint32_t *)(void *)(tab + RQ_WORDS * p->out_c);
        small_k_widen(p->weights, k_len, p->out_c, wide);
        conv_small_k(p, in, out, col, tab, wide, fast);
    } else {
        uint32_t *wide = conv_wide_ok(p) ? (uint32_t *)(void *)(tab + RQ_WORDS * p->out_c) : NULL;
        conv_body(p, in, out, col, tab, fast, wide);
    }
}

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

/* Depthwise with depth multiplier 1 for one requantization form: four channels per
 * pass with the accumulators in registers; the valid tap window is computed once per
 * output pixel. Interior pixels start from the folded bias (bias + in_offset * sum of
 * the channel's weights) and skip the offset; a 3x3 interior is fully unrolled. */
NN_INLINE void dw_body(const nn_conv_params_t *p, const int8_t *in, int8_t *out, const int32_t *tab,
                           const int32_t *fold, const int fast) {
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
                    if (interior) {
                        a0 = fold[c];
                        a1 = fold[c + 1];
                        a2 = fold[c + 2];
                        a3 = fold[c + 3];
                        if (k33) {
                            for (int32_t ky = 0; ky < 3; ++ky, xr += row_step, wr += wrow_step) {
                                dw_tap4(xr, wr, off2, 0, &a0, &a1, &a2, &a3);
                                dw_tap4(xr + col_step, wr + ch, off2, 0, &a0, &a1, &a2, &a3);
                                dw_tap4(xr + 2 * col_step, wr + 2 * ch, off2, 0, &a0, &a1, &a2, &a3);
                            }
                        } else {
                            for (int32_t ky = 0; ky < k_h; ++ky, xr += row_step, wr += wrow_step) {
                                for (int32_t kx = 0; kx < k_w; ++kx) {
                                    dw_tap4(xr + kx * col_step, wr + kx * ch, off2, 0, &a0, &a1, &a2, &a3);
                                }
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

void nn_opt_depthwise_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const int32_t oc_n = p->out_c, taps = p->k_h * p->k_w;
    int32_t *tab = (int32_t *)scratch;          /* RQ_WORDS per channel, then the folded biases */
    int32_t *fold = tab + RQ_WORDS * oc_n;
    const int fast = rq_prepare(p->bias, p->mult, p->shift, p->per_channel, oc_n, tab);
    for (int32_t oc = 0; oc < oc_n; ++oc) {
        uint32_t sum = 0;
        for (int32_t t = 0; t < taps; ++t) sum += (uint32_t)(int32_t)p->weights[t * oc_n + oc];
        fold[oc] = (int32_t)((uint32_t)tab[oc * RQ_WORDS] + sum * (uint32_t)p->in_offset);
    }
    if (p->depth_mult == 1) {
        if (fast) {
            dw_body(p, in, out, tab, fold, 1);
        } else {
            dw_body(p, in, out, tab, fold, 0);
        }
    } else if (fast) {
        dw_mult_body(p, in, out, tab, fold, 1);
    } else {
        dw_mult_body(p, in, out, tab, fold, 0);
    }
}

/* Requantize with (mult, shift) read directly, in the form chosen once per layer. */
NN_INLINE int32_t rq_direct(int32_t acc, int32_t mult, int32_t shift, int fast) {
    const int32_t e[3] = {0, mult, shift};
    return fast ? rq_fast(acc, mult, (int32_t)1 << (-shift - 2), -shift - 1) : rq_general(e, acc);
}

/* The fully connected layer; one copy serves both requantization forms (code size). */
/* Two output rows' dot products over the input: from the widened vector `col` when
 * there is one (each group of 4 inputs stored as the pairs (0, 2), (1, 3); the tail
 * past the last full group is read from `x`), else widening each input word in registers (rows w0 and w1 may be the
 * same row for an odd last output). */
static void fc_pair(const int8_t *x, const int16_t *col, int32_t k_len, int32_t in_offset,
                    const int8_t *w0, const int8_t *w1, int32_t *a0, int32_t *a1) {
    int32_t s0 = *a0, s1 = *a1;
    int32_t i = 0;
    if (col) {
        for (const int16_t *c = col; i + 4 <= k_len; i += 4, c += 4) {
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

static void fc_body(const nn_fc_params_t *p, const int8_t *in, int8_t *out, int16_t *col, int fast) {
    const int32_t k_len = p->in_features, n_out = p->out_features;
    const int32_t in_offset = p->in_offset, zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t qstep = p->per_channel ? 1 : 0;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    if (n_out <= FC_DIRECT_MAX_ROWS) col = NULL;
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
        for (int32_t n = 0; n < n_out; n += 2) {
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

/* The maximum of 4 channels over a 2x2 window whose top-left word is at xr. */
NN_INLINE uint32_t max_2x2_s8x4(const int8_t *xr, int32_t ch, int32_t row_step) {
    return nn_max_s8x4(nn_max_s8x4(nn_read32(xr), nn_read32(xr + ch)),
                       nn_max_s8x4(nn_read32(xr + row_step), nn_read32(xr + row_step + ch)));
}

/* One output row of a 2x2 stride-2 VALID max pool without clamp, 4 channels per word (ch a
 * multiple of 4): input rows x and x + row_step; returns the next output. On Cortex-M one
 * assembly loop: 14 instructions per output word. */
static int8_t *max_pool_2x2_row(const int8_t *x, int8_t *o, int32_t ch, int32_t row_step, int32_t out_w) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
    uint32_t a, b, c, d, t, n;
    const uint32_t cw = (uint32_t)ch >> 2, row_ch = (uint32_t)(row_step + ch);
    __asm__ volatile(
        "1:\n\t"
        "mov    %[n], %[cw]\n"
        "2:\n\t"
        "ldr    %[a], [%[x]]\n\t"
        "ldr    %[b], [%[x], %[ch]]\n\t"
        "ldr    %[c], [%[x], %[row]]\n\t"
        "ldr    %[d], [%[x], %[rc]]\n\t"
        "ssub8  %[t], %[a], %[b]\n\t"
        "sel    %[a], %[a], %[b]\n\t"
        "ssub8  %[t], %[c], %[d]\n\t"
        "sel    %[c], %[c], %[d]\n\t"
        "ssub8  %[t], %[a], %[c]\n\t"
        "sel    %[a], %[a], %[c]\n\t"
        "str    %[a], [%[o]], #4\n\t"
        "add    %[x], %[x], #4\n\t"
        "subs   %[n], %[n], #1\n\t"
        "bne    2b\n\t"
        "add    %[x], %[x], %[ch]\n\t"
        "subs   %[w], %[w], #1\n\t"
        "bne    1b\n\t"
        : [x] "+r"(x), [o] "+r"(o), [w] "+r"(out_w), [n] "=&r"(n), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c),
          [d] "=&r"(d), [t] "=&r"(t)
        : [cw] "r"(cw), [ch] "r"(ch), [row] "r"(row_step), [rc] "r"(row_ch)
        : "cc", "memory");
    return o;
#else
    for (int32_t ox = 0; ox < out_w; ++ox, x += 2 * ch) {
        for (int32_t c = 0; c < ch; c += 4, o += 4) nn_write32(o, max_2x2_s8x4(x + c, ch, row_step));
    }
    return o;
#endif
}

/* MAX_POOL_2D: 4 channels per word with a byte-wise SIMD maximum (SSUB8 + SEL); the
 * window starts from its first valid tap (the reference starts from -128, the same
 * maximum when a tap exists), and the fused clamp is skipped when it is the full range. */
void nn_opt_max_pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out) {
    const int32_t ch = p->channels, in_h = p->in_h, in_w = p->in_w;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int clamp = lo > -128 || hi < 127;
    const uint32_t lo4 = nn_dup8(lo), hi4 = nn_dup8(hi);
    const int32_t row_step = in_w * ch;
    if (p->k_h == 2 && p->k_w == 2 && p->stride_h == 2 && p->stride_w == 2 && p->pad_top == 0 &&
        p->pad_left == 0 && (ch & 3) == 0 && 2 * p->out_h <= in_h && 2 * p->out_w <= in_w) {
        /* 2x2 stride 2 with every window inside (VALID, 4 channels per word): no per-pixel
         * window bounds; rows of output words straight through */
        int8_t *o = out;
        for (int32_t b = 0; b < p->batches; ++b) {
            for (int32_t oy = 0; oy < p->out_h; ++oy) {
                const int8_t *x = in + (b * in_h + 2 * oy) * row_step;
                if (!clamp && p->out_w > 0) {
                    o = max_pool_2x2_row(x, o, ch, row_step, p->out_w);
                    continue;
                }
                for (int32_t ox = 0; ox < p->out_w; ++ox, x += 2 * ch) {
                    for (int32_t c = 0; c < ch; c += 4, o += 4) {
                        uint32_t m = max_2x2_s8x4(x + c, ch, row_step);
                        if (clamp) m = nn_min_s8x4(nn_max_s8x4(m, lo4), hi4);
                        nn_write32(o, m);
                    }
                }
            }
        }
        return;
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * in_h * row_step;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            nn_valid_taps(iy0, 1, p->k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                nn_valid_taps(ix0, 1, p->k_w, in_w, &kx0, &kx1);
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                if (ky0 >= ky1 || kx0 >= kx1) {   /* no input under the window: the reference's -128 */
                    for (int32_t c = 0; c < ch; ++c) o[c] = (int8_t)(lo > -128 ? lo : -128);
                    continue;
                }
                const int8_t *x0 = img + (iy0 + ky0) * row_step + (ix0 + kx0) * ch;
                const int32_t rows = ky1 - ky0, cols = kx1 - kx0;
                int32_t c = 0;
                if (rows == 2 && cols == 2) {   /* the usual 2x2 window, unrolled */
                    for (; c + 4 <= ch; c += 4) {
                        uint32_t m = max_2x2_s8x4(x0 + c, ch, row_step);
                        if (clamp) m = nn_min_s8x4(nn_max_s8x4(m, lo4), hi4);
                        nn_write32(o + c, m);
                    }
                }
                for (; c + 4 <= ch; c += 4) {
                    const int8_t *xr = x0 + c;
                    uint32_t m = nn_read32(xr);
                    for (int32_t ky = 0; ky < rows; ++ky, xr += row_step) {
                        for (int32_t kx = ky == 0; kx < cols; ++kx) m = nn_max_s8x4(m, nn_read32(xr + kx * ch));
                    }
                    if (clamp) m = nn_min_s8x4(nn_max_s8x4(m, lo4), hi4);
                    nn_write32(o + c, m);
                }
                for (; c < ch; ++c) {
                    const int8_t *xr = x0 + c;
                    int32_t m = xr[0];
                    for (int32_t ky = 0; ky < rows; ++ky, xr += row_step) {
                        for (int32_t kx = 0; kx < cols; ++kx) m = xr[kx * ch] > m ? xr[kx * ch] : m;
                    }
                    o[c] = (int8_t)(m < lo ? lo : (m > hi ? hi : m));
                }
            }
        }
    }
}

#else

/* Keep the translation unit non-empty (ISO C) when only the reference kernels are built. */
typedef int nn_opt_unused_t;

#endif /* NN_OPTIMIZED */
