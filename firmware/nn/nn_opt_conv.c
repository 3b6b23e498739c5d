/*
 * nn_opt_conv.c - CONV_2D for Cortex-M with the DSP extension: the inner-layer paths and the
 * kernel's entry point. Contract: nn_kernels.h (nn_conv2d_s8); the reference twin is
 * nn_ref_conv2d_s8 (nn_ref.c), matched bit for bit. The path is chosen by
 * nn_conv2d_s8_path (nn_paths.c); first layers go to nn_opt_conv_small_k.c.
 *
 * The input offset is folded into the biases (bias + offset * sum of the weights), so im2col
 * only widens: two output pixels into int16 columns, padded taps set to the input zero point,
 * each group of 4 taps stored in the order (0, 2, 1, 3) so that a word-load pairs with SXTB16
 * of 4 weights (two interior pixels at once when in_c is a multiple of 4); then a 2 output
 * channels x 2 pixels block per pass (8 SMLAD per 4 taps, two groups per loop pass).
 * Path FUSED: the block's requantize-and-store joins the MAC loop in one assembly block.
 * Path WIDE: the weights are widened to int16 once per call and one assembly loop runs every
 * channel pair of a pixel pair at 12 instructions per 16 MACs; a 1x1 layer of 8 or 16 input channels runs
 * one pixel against every output channel instead (pointwise_few). Path IM2COL: the same blocks,
 * requantized in C (either requantization form, clamps). Each assembly block has its C twin.
 */
#include <stddef.h>

#include "nn_kernels.h"

#if NN_OPTIMIZED

#include "nn_opt_internal.h"

/* Column layout: the two output pixels of a pass are interleaved per group of
 * 4 taps, 8 int16 per group: (p0: t0 t2 t1 t3)(p1: t0 t2 t1 t3). A word load
 * then pairs with SXTB16 of 4 weights (bytes 0,2 and, rotated, 1,3), and one
 * pointer walks both columns. */
static inline int32_t col_slot(int32_t k, int32_t lane) {
    static const uint8_t perm[4] = {0, 2, 1, 3};
    return 2 * (k & ~3) + 4 * lane + perm[k & 3];
}

/* One lane of the column pair (border pixels, in_c a multiple of 4): `n` groups of 4 taps
 * from x widened into the lane's 2 words of each group (returns the next group's slot) ... */
static uint32_t *im2col_lane_run(const int8_t *x, int32_t n, uint32_t *dst) {
#if NN_ASM
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

/* ... and `n` groups of a kernel row that reaches into the padding: its taps lo .. hi - 1 from x
 * on, the input zero point elsewhere (in_c not a multiple of 4). */
static uint32_t *im2col_lane_bytes(const int8_t *x, int32_t lo, int32_t hi, int8_t zp, int32_t n, uint32_t *dst) {
    for (int32_t t = 0; t < 4 * n; t += 4, dst += 4) {
        uint32_t v = 0;
        for (int32_t i = 0; i < 4; ++i) v |= (uint32_t)(uint8_t)(t + i >= lo && t + i < hi ? x[t + i - lo] : zp) << (8 * i);
        dst[0] = nn_sxtb16(v);
        dst[1] = nn_sxtb16_ror8(v);
    }
    return dst;
}

/* Fill lane `lane` of the column pair for output pixel (b, oy, ox). The input
 * offset is folded into the bias (see conv_fold), so valid taps hold the raw input
 * and padded taps the input zero point (x + offset = 0 there, as in the reference);
 * taps from k_len up to k4 hold 0. With in_c a multiple of 4 and no column dilation
 * the valid part of a kernel row is one contiguous run of bytes, widened 4 at a time
 * with SXTB16; so is a whole row inside the input when the rows are whole groups of 4
 * taps for another in_c (rows_of_groups: a stem like DS-CNN's 10x4 on one channel; a
 * row partly in the padding is assembled byte by byte); otherwise values are placed one
 * by one with a running slot (first layers: in_c of 1 or 3). */
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
    if (rows_of_groups(p)) {   /* in_c not a multiple of 4: a row's groups straddle input pixels */
        uint32_t *dst = (uint32_t *)(void *)(col + 4 * lane);
        const int32_t row_groups = k_w * ic / 4;
        for (int32_t ky = 0; ky < k_h; ++ky) {
            const int32_t iy = iy0 + ky * dil_h;
            if (iy < 0 || iy >= in_h || kx0 == kx1) {
                dst = im2col_lane_fill(nn_dup16(zp), row_groups, dst);
                continue;
            }
            const int8_t *x = img + (iy * in_w + ix0 + kx0) * ic;
            dst = kx0 == 0 && kx1 == k_w ? im2col_lane_run(x, row_groups, dst)
                                         : im2col_lane_bytes(x, kx0 * ic, kx1 * ic, (int8_t)zp, row_groups, dst);
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


/* One kernel row of both lanes of the column pair (interior pixels, see below): `run`
 * groups of 4 taps from xa and xb, widened into 8 int16 per group at dst; returns the
 * next group's slot. 10 instructions per group on Cortex-M. */
static inline uint32_t *im2col_pair_row(const int8_t *xa, const int8_t *xb, int32_t run, uint32_t *dst) {
#if NN_ASM
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

#if NN_ASM
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
#if NN_ASM
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
 * the zero point then rides along in the rounding shift). Paths FUSED and WIDE guarantee
 * every right shift rr is at most 22, so that the sum cannot overflow. */
static void rq_fold_zo(int32_t *tab, int32_t n, int32_t zo) {
    for (int32_t c = 0; c < n; ++c, tab += RQ_WORDS) tab[2] = (int32_t)((uint32_t)tab[2] + ((uint32_t)zo << tab[3]));
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
#if NN_ASM
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

/* Taps k .. k + 3 of a weight row of k_len taps as a word, the taps past k_len 0. */
static uint32_t taps4(const int8_t *w, int32_t k, int32_t k_len) {
    if (k + 4 <= k_len) return nn_read32(w + k);
    uint32_t v = 0;
    for (int32_t i = 0; k + i < k_len; ++i) v |= (uint32_t)(uint8_t)w[k + i] << (8 * i);
    return v;
}

/* The wide records, one per output channel pair (a, b), from the table in the fused form, everything
 * doubled for the assembly loop's rq_dbl (nn_opt_internal.h, WIDE_REC_WORDS): the two biases with the
 * input offset folded in, times 2 (2 bias + in_offset * the doubled row's sum, as fold_offset; the sum
 * taken from the widened halves by SMLAD against (1, 1), so that the weights are read once per call:
 * this set-up costs ~2 instructions per weight instead of ~7, which matters on small maps); per group
 * of 4 taps (the last one padded with 0 weights when k_len is not a multiple of 4) the rows' words
 * widened as the column stores them and doubled, (SXTB16, SXTB16 ror 8) x 2 of row a then of row b;
 * then for a and for b the multiplier, the doubled addend (2 (rounding + zero point << rr)) and the
 * right shift plus one. */
NN_NOINLINE
static void conv_wide_records(const int8_t *w, int32_t k_len, int32_t out_c, const int32_t *tab, int32_t in_offset,
                              uint32_t *rec) {
    const uint32_t ones = 0x00010001u;
    const int32_t full = k_len >> 2;
    for (int32_t oc = 0; oc + 2 <= out_c; oc += 2, tab += 2 * RQ_WORDS, w += 2 * k_len) {
        uint32_t *const head = rec;
        const int8_t *wa = w, *wb = w + k_len;
        int32_t sa = 0, sb = 0;
        rec += 2;
        for (int32_t g = 0; g < full; ++g, rec += 4, wa += 4, wb += 4) {
            const uint32_t va = nn_read32(wa), vb = nn_read32(wb);
            uint32_t a02 = nn_sxtb16(va), a13 = nn_sxtb16_ror8(va), b02 = nn_sxtb16(vb), b13 = nn_sxtb16_ror8(vb);
            a02 = nn_sadd16(a02, a02);
            a13 = nn_sadd16(a13, a13);
            b02 = nn_sadd16(b02, b02);
            b13 = nn_sadd16(b13, b13);
            rec[0] = a02;
            rec[1] = a13;
            rec[2] = b02;
            rec[3] = b13;
            sa = nn_smlad(a13, ones, nn_smlad(a02, ones, sa));
            sb = nn_smlad(b13, ones, nn_smlad(b02, ones, sb));
        }
        if (k_len & 3) {   /* the padded last group */
            const uint32_t va = taps4(w, 4 * full, k_len), vb = taps4(w + k_len, 4 * full, k_len);
            rec[0] = nn_sadd16(nn_sxtb16(va), nn_sxtb16(va));
            rec[1] = nn_sadd16(nn_sxtb16_ror8(va), nn_sxtb16_ror8(va));
            rec[2] = nn_sadd16(nn_sxtb16(vb), nn_sxtb16(vb));
            rec[3] = nn_sadd16(nn_sxtb16_ror8(vb), nn_sxtb16_ror8(vb));
            sa = nn_smlad(rec[1], ones, nn_smlad(rec[0], ones, sa));
            sb = nn_smlad(rec[3], ones, nn_smlad(rec[2], ones, sb));
            rec += 4;
        }
        head[0] = 2u * (uint32_t)tab[0] + (uint32_t)sa * (uint32_t)in_offset;   /* sa: the doubled row's sum */
        head[1] = 2u * (uint32_t)tab[RQ_WORDS] + (uint32_t)sb * (uint32_t)in_offset;
        for (int32_t j = 0; j < 2; ++j) {
            *rec++ = (uint32_t)tab[j * RQ_WORDS + 1];
            *rec++ = 2u * (uint32_t)tab[j * RQ_WORDS + 2];
            *rec++ = (uint32_t)tab[j * RQ_WORDS + 3] + 1u;
        }
    }
}

#if NN_ASM
/* One group of 4 taps of a wide record times the column pair: 12 instructions, 16 MACs; XLOAD and YLOAD
 * load the group's column words of the two pixels into (x0, x1) and (y0, y1). */
#define NN_WIDE_GROUP_WITH(XLOAD, YLOAD)              \
    "ldrd   %[w0], %[w1], [%[pw]], #8\n\t"            \
    XLOAD                                             \
    "smlad  %[a00], %[w0], %[x0], %[a00]\n\t"         \
    "smlad  %[a00], %[w1], %[x1], %[a00]\n\t"         \
    YLOAD                                             \
    "smlad  %[a01], %[w0], %[y0], %[a01]\n\t"         \
    "smlad  %[a01], %[w1], %[y1], %[a01]\n\t"         \
    "ldrd   %[w0], %[w1], [%[pw]], #8\n\t"            \
    "smlad  %[a10], %[w0], %[x0], %[a10]\n\t"         \
    "smlad  %[a10], %[w1], %[x1], %[a10]\n\t"         \
    "smlad  %[a11], %[w0], %[y0], %[a11]\n\t"         \
    "smlad  %[a11], %[w1], %[y1], %[a11]\n\t"
/* ... the column pointer walking the groups */
#define NN_WIDE_GROUP \
    NN_WIDE_GROUP_WITH("ldrd   %[x0], %[x1], [%[pc]], #8\n\t", "ldrd   %[y0], %[y1], [%[pc]], #8\n\t")
/* Requantize the doubled accumulator A with (multiplier x0, doubled addend x1, shift y0) into w1: rq_dbl
 * (nn_opt_internal.h), the sign correction in SMMLAR's accumulate operand, then the int8 saturation. */
#define NN_WIDE_RQ(A)                                 \
    "add    %[w1], %[x1], %[" A "], asr #31\n\t"      \
    "smmlar %[w1], %[" A "], %[x0], %[w1]\n\t"        \
    "asr    %[w1], %[w1], %[y0]\n\t"                  \
    "ssat   %[w1], #8, %[w1]\n\t"
#endif

/* Every channel pair of one pixel pair through the wide records: outputs o[2j], o[2j + 1]
 * of the first pixel and o[delta + 2j], o[delta + 2j + 1] of the second. */
static void wide_pairs(const uint32_t *rec, const int16_t *col, int32_t groups, int32_t pairs, int8_t *o,
                       int32_t delta) {
#if NN_ASM
    /* One assembly block for all pairs; the column, the passes of the 4-group loop, the pair count, the delta
     * and the loop's entry wait on the stack (14 registers are in use). The first pass enters the loop at group
     * (4 - groups % 4) % 4: every instruction of NN_WIDE_GROUP is a 32-bit one, so a group is 48 bytes and the
     * entry is computed once per call (Duff's device); a pass costs 2 loop instructions per 4 groups. */
    uint32_t a00, a01, a10, a11, pc, n, w0, w1;
    uint32_t x0 = (uint32_t)(uintptr_t)col, x1 = (uint32_t)groups, y0 = (uint32_t)pairs, y1 = (uint32_t)delta;
    __asm__ volatile(
        "and    %[a00], %[x1], #3\n\t"
        "rsb    %[a00], %[a00], #4\n\t"
        "and    %[a00], %[a00], #3\n\t"
        "mov    %[a01], #48\n\t"
        "adr.w  %[a10], 2f\n\t"
        "mla    %[a00], %[a00], %[a01], %[a10]\n\t"
        "orr    %[a00], %[a00], #1\n\t"
        "add    %[x1], %[x1], #3\n\t"
        "lsr    %[x1], %[x1], #2\n\t"
        "strd   %[x0], %[x1], [sp, #-24]!\n\t"
        "strd   %[y0], %[y1], [sp, #8]\n\t"
        "str    %[a00], [sp, #16]\n"
        "1:\n\t"
        "ldrd   %[pc], %[n], [sp]\n\t"
        "ldrd   %[a00], %[a10], [%[pw]], #8\n\t"
        "mov    %[a01], %[a00]\n\t"
        "mov    %[a11], %[a10]\n\t"
        "ldr    %[x0], [sp, #16]\n\t"
        "bx     %[x0]\n"
        "2:\n\t"
        NN_WIDE_GROUP
        NN_WIDE_GROUP
        NN_WIDE_GROUP
        NN_WIDE_GROUP
        "subs   %[n], %[n], #1\n\t"
        "bne    2b\n\t"
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
        "add    sp, sp, #24\n\t"
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
        o[0] = (int8_t)nn_ssat8(rq_dbl(a00, (int32_t)rec[0], (int32_t)rec[1], (int32_t)rec[2]));
        o[delta] = (int8_t)nn_ssat8(rq_dbl(a01, (int32_t)rec[0], (int32_t)rec[1], (int32_t)rec[2]));
        o[1] = (int8_t)nn_ssat8(rq_dbl(a10, (int32_t)rec[3], (int32_t)rec[4], (int32_t)rec[5]));
        o[delta + 1] = (int8_t)nn_ssat8(rq_dbl(a11, (int32_t)rec[3], (int32_t)rec[4], (int32_t)rec[5]));
        rec += 6;
    }
#endif
}

/* 1x1 layers of 8 or 16 input channels (path WIDE, no padding) run one pixel against every output channel of
 * the block: the pixel's inputs widened into 4 or 8 registers, and one record of PW_REC words per output channel,
 * read by LDMs into the registers that the channel's SMLADs and its requantization use: the doubled bias (input
 * offset folded in, as conv_wide_records), the doubled weight words (paired as the column pairs the inputs:
 * (w0, w2), (w1, w3), (w4, w6), ...), the multiplier, the doubled addend and the right shift plus one, whose bit
 * PW_MORE marks every channel but the block's last (ASR reads the low byte). Per channel and pixel: 10
 * instructions for 8 MACs, 17 for 16; the loop's test and branch once per 4 channels. The records take the
 * place of the block's pair records (WIDE_REC_WORDS(groups) words per channel pair: the same scratch). */
#define PW_REC(groups) (2 * (groups) + 4)
#define PW_MORE 0x100u
_Static_assert(2 * PW_REC(2) == WIDE_REC_WORDS(2) && 2 * PW_REC(4) == WIDE_REC_WORDS(4),
               "the per-channel records fill the scratch of the pair records");

/* A word of 4 int8 weights as the wide records store it: widened as the column stores its inputs and
 * doubled, (SXTB16, SXTB16 ror 8) x 2 at dst; returns sum plus their doubled sum (by SMLAD against (1, 1)). */
static inline int32_t widen_doubled(uint32_t v, uint32_t *dst, int32_t sum) {
    const uint32_t ones = 0x00010001u;
    const uint32_t w02 = nn_sxtb16(v), w13 = nn_sxtb16_ror8(v);
    const uint32_t d02 = nn_sadd16(w02, w02), d13 = nn_sadd16(w13, w13);
    dst[0] = d02;
    dst[1] = d13;
    return nn_smlad(d13, ones, nn_smlad(d02, ones, sum));
}

/* The records of `channels` (even) output channels of 4 * groups taps from weights w and their table entries. */
NN_NOINLINE
static void pw_records(const int8_t *w, int32_t groups, int32_t channels, const int32_t *tab, int32_t in_offset,
                       uint32_t *rec) {
    for (int32_t c = 0; c < channels; ++c, tab += RQ_WORDS) {
        int32_t sum = 0;
        for (int32_t g = 0; g < groups; ++g, w += 4) sum = widen_doubled(nn_read32(w), rec + 1 + 2 * g, sum);
        rec[0] = 2u * (uint32_t)tab[0] + (uint32_t)sum * (uint32_t)in_offset;
        rec[2 * groups + 1] = (uint32_t)tab[1];
        rec[2 * groups + 2] = 2u * (uint32_t)tab[2];
        rec[2 * groups + 3] = (uint32_t)tab[3] + 1u + (c + 1 < channels ? PW_MORE : 0u);
        rec += PW_REC(groups);
    }
}

#if NN_ASM
/* The state of pw8_run_asm and pw16_run_asm, in the order their LDMs read it. */
typedef struct {
    const int8_t *x;       /*  0: the first pixel's inputs */
    int32_t x_step;        /*  4: bytes from one pixel's inputs to the next's */
    const int8_t *x_end;   /*  8: x after the last pixel */
    int32_t skip;          /* 12: outputs after each pixel's block of channels (the other blocks', an odd last) */
    uint32_t entry;        /* 16: bytes into the 4-channel pass where a pixel's first pass starts */
    const uint32_t *rec;   /* 20: the records */
    int8_t *out;           /* 24: the first pixel's first output */
} pw_run_t;
_Static_assert(offsetof(pw_run_t, entry) == 16 && offsetof(pw_run_t, out) == 24,
               "pw8_run_asm and pw16_run_asm read pw_run_t at these offsets");

/* The prologue of both: the state into a frame of x, x_step, x_end, skip, the first pass's address (with the
 * Thumb bit: a pixel enters it by LDR PC) and rec; lr walks the outputs. */
#define PW_PROLOGUE                                   \
    "push    {r4-r11, lr}\n\t"                        \
    "ldm     r0, {r1-r7}\n\t"                         \
    "mov     lr, r7\n\t"                              \
    "adr.w   r7, 2f\n\t"                              \
    "add     r5, r5, r7\n\t"                          \
    "orr     r5, r5, #1\n\t"                          \
    "push    {r1-r6}\n\t"                             \
    "ldm     sp, {r0-r4, r12}\n"
/* ... and the end of a pixel: skip the other outputs, the next pixel unless x reached x_end (r0 = x, r1 =
 * x_step, r12 = rec for the next one) */
#define PW_PIXEL_END                                  \
    "ldm     sp, {r0-r4, r12}\n\t"                    \
    "add     lr, lr, r3\n\t"                          \
    "cmp     r0, r2\n\t"                              \
    "bne     0b\n\t"                                  \
    "add     sp, sp, #24\n\t"                         \
    "pop     {r4-r11, pc}\n\t"

/* ... and, after a pixel's inputs, its passes: into the first by LDR PC, then passes of 4 CHANNELs until a record
 * whose shift word RR lacks PW_MORE ends one (all 32-bit instructions: the entry arithmetic) */
#define PW_PASSES(CHANNEL, RR)                        \
    "ldr     pc, [sp, #16]\n\t"                      \
    ".p2align 2\n"                                    \
    "2:\n\t"                                         \
    CHANNEL                                           \
    CHANNEL                                           \
    CHANNEL                                           \
    CHANNEL                                           \
    "tst     " RR ", #0x100\n\t"                     \
    "bne     2b\n\t"                                 \
    PW_PIXEL_END

/* One output channel of a pixel of 8 inputs (widened in r8..r11): the record into r0..r7 (r12 walks the records),
 * 4 SMLADs, rq_dbl (the sign correction in SMMLAR's accumulate operand), the int8 saturation, the store (lr walks
 * the outputs). Every instruction a 32-bit one: 40 bytes (the pass's entry arithmetic). */
#define PW8_CHANNEL                                   \
    "ldmia.w r12!, {r0-r7}\n\t"                       \
    "smlad   r0, r1, r8, r0\n\t"                      \
    "smlad   r0, r2, r9, r0\n\t"                      \
    "smlad   r0, r3, r10, r0\n\t"                     \
    "smlad   r0, r4, r11, r0\n\t"                     \
    "add.w   r6, r6, r0, asr #31\n\t"                 \
    "smmlar  r0, r0, r5, r6\n\t"                      \
    "asr.w   r0, r0, r7\n\t"                          \
    "ssat    r0, #8, r0\n\t"                          \
    "strb.w  r0, [lr], #1\n\t"
/* Every pixel of the run, whole in assembly so that all 14 registers serve: per pixel its inputs widened, then
 * passes of 4 channels until a record without PW_MORE ends one, the first pass entered at channel
 * (4 - channels % 4) % 4, then `skip` outputs on. About 10.5 instructions per channel and 12 per pixel. */
__attribute__((naked, noinline)) static void pw8_run_asm(const pw_run_t *s) {
    (void)s;
    __asm__ volatile(
        PW_PROLOGUE
        "0:\n\t"
        "ldrd    r2, r3, [r0]\n\t"
        "add     r0, r0, r1\n\t"
        "str     r0, [sp]\n\t"
        "sxtb16  r8, r2\n\t"
        "sxtb16  r9, r2, ror #8\n\t"
        "sxtb16  r10, r3\n\t"
        "sxtb16  r11, r3, ror #8\n\t"
        PW_PASSES(PW8_CHANNEL, "r7"));
}

/* One output channel of a pixel of 16 inputs (widened in r4..r11): the record through r0..r3 in 4 LDMs (bias and
 * 3 weight words, 3, then 2 and the multiplier, then the addend and the shift), 8 SMLADs, rq_dbl, the
 * saturation, the store. 17 instructions, 68 bytes. */
#define PW16_CHANNEL                                  \
    "ldmia.w r12!, {r0-r3}\n\t"                       \
    "smlad   r0, r1, r4, r0\n\t"                      \
    "smlad   r0, r2, r5, r0\n\t"                      \
    "smlad   r0, r3, r6, r0\n\t"                      \
    "ldmia.w r12!, {r1-r3}\n\t"                       \
    "smlad   r0, r1, r7, r0\n\t"                      \
    "smlad   r0, r2, r8, r0\n\t"                      \
    "smlad   r0, r3, r9, r0\n\t"                      \
    "ldmia.w r12!, {r1-r3}\n\t"                       \
    "smlad   r0, r1, r10, r0\n\t"                     \
    "smlad   r0, r2, r11, r0\n\t"                     \
    "ldmia.w r12!, {r1, r2}\n\t"                      \
    "add.w   r1, r1, r0, asr #31\n\t"                 \
    "smmlar  r0, r0, r3, r1\n\t"                      \
    "asr.w   r0, r0, r2\n\t"                          \
    "ssat    r0, #8, r0\n\t"                          \
    "strb.w  r0, [lr], #1\n\t"
/* pw8_run_asm for 16 inputs: about 17.5 instructions per channel and 13 per pixel. */
__attribute__((naked, noinline)) static void pw16_run_asm(const pw_run_t *s) {
    (void)s;
    __asm__ volatile(
        PW_PROLOGUE
        "0:\n\t"
        "add     r2, r0, r1\n\t"
        "str     r2, [sp]\n\t"
        "ldm     r0, {r0-r3}\n\t"
        "sxtb16  r4, r0\n\t"
        "sxtb16  r5, r0, ror #8\n\t"
        "sxtb16  r6, r1\n\t"
        "sxtb16  r7, r1, ror #8\n\t"
        "sxtb16  r8, r2\n\t"
        "sxtb16  r9, r2, ror #8\n\t"
        "sxtb16  r10, r3\n\t"
        "sxtb16  r11, r3, ror #8\n\t"
        PW_PASSES(PW16_CHANNEL, "r2"));
}
#endif

/* `pixels` (>= 1) pixels of 4 groups inputs each through the records of `channels` (even, >= 2) output
 * channels: the inputs at x, x + x_step, ..., each pixel's outputs from o on, then `skip` outputs on to the next
 * pixel's (groups 2 or 4). */
static void pw_run(const uint32_t *rec, int32_t groups, int32_t channels, const int8_t *x, int32_t x_step,
                   int32_t pixels, int8_t *o, int32_t skip) {
#if NN_ASM
    const uint32_t pass_entry = (uint32_t)((4 - (channels & 3)) & 3) * (groups == 2 ? 40u : 68u);
    const pw_run_t s = {x, x_step, x + pixels * x_step, skip, pass_entry, rec, o};
    if (groups == 2) {
        pw8_run_asm(&s);
    } else {
        pw16_run_asm(&s);
    }
#else
    (void)channels;
    for (int32_t px = 0; px < pixels; ++px, x += x_step, o += skip) {
        uint32_t xw[8];
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t v = nn_read32(x + 4 * g);
            xw[2 * g] = nn_sxtb16(v);
            xw[2 * g + 1] = nn_sxtb16_ror8(v);
        }
        const uint32_t *r = rec;
        do {
            int32_t acc = (int32_t)*r++;
            for (int32_t j = 0; j < 2 * groups; ++j) acc = nn_smlad(*r++, xw[j], acc);
            *o++ = (int8_t)nn_ssat8(rq_dbl(acc, (int32_t)r[0], (int32_t)r[1], (int32_t)(r[2] & 0xffu)));
            r += 3;
        } while (r[-1] & PW_MORE);
    }
#endif
}

/* Path WIDE on a 1x1 layer of 8 or 16 input channels without padding: the records of channel pairs pair0 ..
 * pair0 + n_pairs - 1 (pw_records) over every pixel, a stride-1 map as one run of pixels, else a run per output
 * row; then, in the block that ends the pairs, an odd last channel from the table (fused form: the input offset
 * in its bias, the zero point in its addend), in C. */
NN_NOINLINE
static void pointwise_few(const nn_conv_params_t *p, const int8_t *in, int8_t *out, const int32_t *tab,
                          const uint32_t *rec, int32_t pair0, int32_t n_pairs) {
    const int32_t ic = p->in_c, oc_n = p->out_c, out_w = p->out_w, pixels = p->out_h * out_w;
    const int32_t channels = 2 * n_pairs, step = ic * p->stride_w, line_step = ic * p->stride_h * p->in_w;
    const int whole = p->stride_h == 1 && p->stride_w == 1;   /* 1x1, no padding: in_w == out_w */
    const int32_t runs = whole ? 1 : p->out_h, run_len = whole ? pixels : out_w;
    const int odd_tail = (oc_n & 1) && pair0 + n_pairs == oc_n >> 1;
    const int32_t *const e = tab + (oc_n - 1) * RQ_WORDS;
    const int8_t *const w = p->weights + (oc_n - 1) * ic;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *const img = in + b * p->in_h * p->in_w * ic;
        int8_t *const ob = out + b * pixels * oc_n;
        for (int32_t r = 0; r < runs; ++r) {
            pw_run(rec, ic >> 2, channels, img + r * line_step, step, run_len, ob + r * run_len * oc_n + 2 * pair0,
                   oc_n - channels);
        }
        if (!odd_tail) continue;
        for (int32_t px = 0; px < pixels; ++px) {
            const int8_t *x = img + (px / out_w) * line_step + (px % out_w) * step;
            int32_t acc = e[0];
            for (int32_t k = 0; k < ic; ++k) acc += w[k] * x[k];
            ob[px * oc_n + oc_n - 1] = (int8_t)nn_ssat8(rq_fast(acc, e[1], e[2], e[3]));
        }
    }
}

/* Path WIDE on a 1x1 kernel without padding (pointwise layers) of other input channel counts than 8 and 16:
 * every pixel is interior and its taps are its in_c input bytes, so the pixel loop walks two input pointers
 * instead of conv_body's window arithmetic. Pixels go in pairs (an odd last pixel fills both lanes and is
 * written twice); channel pairs pair0 .. pair0 + n_pairs - 1 through the wide records, then, in the block that
 * ends the pairs, an odd last channel from the table (fused form: the zero point is in its addend). */
NN_NOINLINE
static void pointwise_body(const nn_conv_params_t *p, const int8_t *in, int8_t *out, int16_t *col, const int32_t *tab,
                           const uint32_t *wide, int32_t pair0, int32_t n_pairs) {
    const int32_t ic = p->in_c, oc_n = p->out_c, groups = ic >> 2, out_w = p->out_w;
    const int32_t pixels = p->out_h * out_w;
    const int32_t step = p->stride_w * ic, line_step = p->stride_h * p->in_w * ic;
    const int odd_tail = (oc_n & 1) && pair0 + n_pairs == oc_n >> 1;
    const int32_t *const e = tab + (oc_n - 1) * RQ_WORDS;
    const int8_t *const w = p->weights + (oc_n - 1) * ic;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *line = in + b * p->in_h * p->in_w * ic, *xa = line;
        int8_t *const ob = out + b * pixels * oc_n;
        int32_t ox = 0;   /* column of pixel xa */
        for (int32_t px = 0; px < pixels; px += 2) {
            const int32_t px1 = px + 1 < pixels ? px + 1 : px;
            const int8_t *xb = xa;
            if (px1 != px) {
                if (++ox == out_w) {
                    ox = 0;
                    line += line_step;
                    xb = line;
                } else {
                    xb = xa + step;
                }
            }
            int8_t *const o0 = ob + px * oc_n, *const o1 = ob + px1 * oc_n;
            im2col_pair_row(xa, xb, groups, (uint32_t *)(void *)col);
            wide_pairs(wide, col, groups, n_pairs, o0 + 2 * pair0, (int32_t)(o1 - o0));
            if (odd_tail) {
                int32_t acc[2] = {e[0], e[0]};
                dot_1x2(w, col, ic, acc);
                o0[oc_n - 1] = (int8_t)nn_ssat8(rq_fast(acc[0], e[1], e[2], e[3]));
                o1[oc_n - 1] = (int8_t)nn_ssat8(rq_fast(acc[1], e[1], e[2], e[3]));
            }
            if (px1 + 1 >= pixels) break;
            if (++ox == out_w) {   /* the next pair's first pixel */
                ox = 0;
                line += line_step;
                xa = line;
            } else {
                xa = xb + step;
            }
        }
    }
}

/* Path SMALL_K_WIDE, an interior window of output pixel (oy, ox) without column dilation: its
 * k4 = align4(k_len) taps as bytes in filter order at dst (each kernel row one run of k_w * in_c
 * input bytes, copied a word at a time: unaligned accesses are fine on Cortex-M7), taps k_len ..
 * k4 - 1 zero (their weights are 0). */
static void small_k_patch(const nn_conv_params_t *p, const int8_t *img, int32_t oy, int32_t ox, int8_t *dst) {
    const int32_t run = p->k_w * p->in_c, row_step = p->dil_h * p->in_w * p->in_c;
    const int8_t *row = img + ((oy * p->stride_h - p->pad_top) * p->in_w + ox * p->stride_w - p->pad_left) * p->in_c;
    for (int32_t ky = 0; ky < p->k_h; ++ky, dst += run, row += row_step) {
        if (run >= 4 && run <= 12) {   /* (3x3 RGB: 9) words at 0, 4 and run - 4: the last overlaps, no byte loop */
            nn_write32(dst, nn_read32(row));
            if (run > 8) nn_write32(dst + 4, nn_read32(row + 4));
            nn_write32(dst + run - 4, nn_read32(row + run - 4));
            continue;
        }
        int32_t i = 0;
        for (; i + 4 <= run; i += 4) nn_write32(dst + i, nn_read32(row + i));
        for (; i < run; ++i) dst[i] = row[i];
    }
    for (int32_t k = p->k_h * run; k & 3; ++k) *dst++ = 0;
}

/* ... both interior windows of a pixel pair: their patches at patch and patch + k4, widened into the
 * column pair as one run of k4 / 4 groups (rows of 9 bytes, 3x3 RGB: nn_opt_stem9_pair_col instead). */
NN_NOINLINE
static void small_k_pair_col(const nn_conv_params_t *p, const int8_t *img, int32_t oy0, int32_t ox0, int32_t oy1,
                             int32_t ox1, int8_t *patch, int32_t k4, int16_t *col) {
    small_k_patch(p, img, oy0, ox0, patch);
    small_k_patch(p, img, oy1, ox1, patch + k4);
    im2col_pair_row(patch, patch + k4, k4 >> 2, (uint32_t *)(void *)col);
}

/* The convolution; one copy serves both requantization forms (code size).
 * Pixels go in pairs (an odd last pixel fills both lanes and stores one). With the fast
 * form, no clamp narrower than int8 and k_len a multiple of 4 (inner layers), channel
 * pairs go through conv_block_fused (the zero point folded into tab's addends by the
 * caller). Path WIDE: `wide` holds the records of channel pairs pair0 .. pair0 + n_pairs - 1,
 * and the block that ends the pairs also takes an odd last channel. Path SMALL_K_WIDE runs as
 * WIDE on k4 taps (the records' and the columns' padded taps are 0), its interior pixel pairs'
 * columns widened from two byte patches after the records. */
static void conv_body(const nn_conv_params_t *p, const int8_t *in, int8_t *out, int16_t *col,
                      int32_t *tab, int fast, const uint32_t *wide, nn_conv_path_t path, int32_t pair0,
                      int32_t n_pairs) {
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    const int32_t k4 = align4(k_len);
    const int32_t pixels = p->out_h * p->out_w, out_w = p->out_w;
    const int32_t oc_n = p->out_c;
    const int8_t *const weights = p->weights;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int clamp = lo > -128 || hi < 127;
    const int pair_ok = rows_of_groups(p);
    const int fused = path == NN_CONV_PATH_FUSED || path == NN_CONV_PATH_WIDE || path == NN_CONV_PATH_SMALL_K_WIDE;
    const int patched = path == NN_CONV_PATH_SMALL_K_WIDE && p->dil_w == 1;
    int8_t *const patch = patched ? (int8_t *)(void *)(wide + WIDE_REC_WORDS(k4 >> 2) * (oc_n >> 1)) : NULL;
    const int stem9_cols = patched && stem9(p);
    const int32_t zo = fused ? 0 : p->out_offset;   /* fused: already in the addends */
    const int32_t wide_end = pair0 + n_pairs < oc_n >> 1 ? oc_n : oc_n & ~1;   /* channels done after WIDE */
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
            } else if (stem9_cols) {   /* 3x3 RGB: widened straight from the input, border windows too */
                nn_opt_stem9_pair_col(p, in + b * p->in_h * p->in_w * p->in_c, oy0, ox0, in0, oy1, ox1, in1, patch, col);
            } else if (patched && in0 && in1) {
                small_k_pair_col(p, in + b * p->in_h * p->in_w * p->in_c, oy0, ox0, oy1, ox1, patch, k4, col);
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
                wide_pairs(wide, col, k4 >> 2, n_pairs, o0 + 2 * pair0, (int32_t)(o1 - o0));
                oc = wide_end;
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

/* Scratch of every path: 2 * k4 int16 of columns, the requantization table, then the path's weights. */
typedef struct {
    int16_t *col;
    int32_t *tab;
    uint32_t *wide;
    int fast;
    nn_conv_path_t path;
} conv_setup_t;

/* What every path does first: the requantization table with the input offset folded in (the wide paths fold
 * it into their records instead; and, on the fused
 * paths, which guarantee right shifts of 2..23, the output zero point). */
static conv_setup_t conv_setup(const nn_conv_params_t *p, void *scratch) {
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    conv_setup_t s;
    s.path = nn_conv2d_s8_path(p);
    s.col = (int16_t *)scratch;
    s.tab = (int32_t *)(void *)(s.col + 2 * align4(k_len));
    s.wide = (uint32_t *)(void *)(s.tab + RQ_WORDS * p->out_c);
    s.fast = nn_opt_rq_prepare(p->bias, p->mult, p->shift, p->per_channel, p->out_c, s.tab);
    /* the wide paths fold the input offset into their records (conv_wide_records), all but an odd last channel */
    const int wide = s.path == NN_CONV_PATH_WIDE || s.path == NN_CONV_PATH_SMALL_K_WIDE;
    const int32_t folded = wide ? p->out_c & 1 : p->out_c, first = p->out_c - folded;
    fold_offset(p->weights + first * k_len, folded, k_len, k_len, 1, p->in_offset, s.tab + first * RQ_WORDS, RQ_WORDS,
                s.tab + first * RQ_WORDS);
    if (s.path == NN_CONV_PATH_FUSED || s.path == NN_CONV_PATH_WIDE || s.path == NN_CONV_PATH_SMALL_K_WIDE) {
        rq_fold_zo(s.tab, p->out_c, p->out_offset);
    }
    return s;
}

/* One entry point per group of paths (nn_kernels.h): generated C calls the one its layer takes, so a
 * model links only the paths it uses; nn_opt_conv2d_s8 (containers, hand-written calls) dispatches. */
void nn_opt_conv2d_s8_small_k(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const conv_setup_t s = conv_setup(p, scratch);
    nn_opt_conv_small_k(p, in, out, s.col, s.tab, s.wide, s.fast, s.path);
}

void nn_opt_conv2d_s8_gray3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const conv_setup_t s = conv_setup(p, scratch);
    nn_opt_conv_gray3(p, in, out, s.tab, s.wide);
}

void nn_opt_conv2d_s8_wide(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    /* fused holds; the records a block of channel pairs at a time (SMALL_K_WIDE: one block, wide_weights 0) */
    const conv_setup_t s = conv_setup(p, scratch);
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    const int32_t pairs = p->out_c >> 1, block = wide_block_pairs(p);
    const int pointwise =
        s.path == NN_CONV_PATH_WIDE && p->k_h == 1 && p->k_w == 1 && p->pad_top == 0 && p->pad_left == 0;
    /* pointwise_few's assembly reads a pixel's inputs by LDRD / LDM, which fault on an unaligned address (the
     * planner aligns every buffer to 4; a hand-written call might not) */
    const int few_aligned = ((uintptr_t)in & 3) == 0;
    for (int32_t pair0 = 0; pair0 < pairs; pair0 += block) {
        const int32_t n = pairs - pair0 < block ? pairs - pair0 : block;
        if (pointwise && (p->in_c == 8 || p->in_c == 16) && few_aligned) {
            pw_records(p->weights + 2 * pair0 * k_len, k_len >> 2, 2 * n, s.tab + 2 * pair0 * RQ_WORDS, p->in_offset,
                       s.wide);
            pointwise_few(p, in, out, s.tab, s.wide, pair0, n);
            continue;
        }
        conv_wide_records(p->weights + 2 * pair0 * k_len, k_len, 2 * n, s.tab + 2 * pair0 * RQ_WORDS, p->in_offset,
                          s.wide);
        if (pointwise) {
            pointwise_body(p, in, out, s.col, s.tab, s.wide, pair0, n);
        } else {
            conv_body(p, in, out, s.col, s.tab, s.fast, s.wide, s.path, pair0, n);
        }
    }
}

void nn_opt_conv2d_s8_im2col(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const conv_setup_t s = conv_setup(p, scratch);   /* paths FUSED and IM2COL */
    conv_body(p, in, out, s.col, s.tab, s.fast, NULL, s.path, 0, 0);
}

void nn_opt_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    switch (nn_conv2d_s8_path(p)) {
    case NN_CONV_PATH_SMALL_K:
    case NN_CONV_PATH_SMALL_K_REG:
    case NN_CONV_PATH_SMALL_K_REC:
        nn_opt_conv2d_s8_small_k(p, in, out, scratch);
        break;
    case NN_CONV_PATH_GRAY3:
        nn_opt_conv2d_s8_gray3(p, in, out, scratch);
        break;
    case NN_CONV_PATH_WIDE:
    case NN_CONV_PATH_SMALL_K_WIDE:
        nn_opt_conv2d_s8_wide(p, in, out, scratch);
        break;
    case NN_CONV_PATH_FUSED:
    case NN_CONV_PATH_IM2COL:
        nn_opt_conv2d_s8_im2col(p, in, out, scratch);
        break;
    }
}

#else
typedef int nn_opt_conv_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
