/*
 * nn_opt_pool.c - MAX_POOL_2D and AVERAGE_POOL_2D for Cortex-M with the DSP extension. Contract:
 * nn_kernels.h (nn_max_pool_s8, nn_avg_pool_s8); the reference twins are nn_ref_max_pool_s8 and
 * nn_ref_avg_pool_s8 (nn_ref.c), matched bit for bit.
 * Path: nn_max_pool_s8_path (nn_paths.c). 4 channels per word with SSUB8 + SEL, the 2x2
 * window unrolled; 2x2 stride 2 windows that all lie inside (VALID) run without per-pixel
 * bounds, a row per assembly loop when there is no clamp. Average: 16-bit lane sums (SXTAB16), the
 * rounding two lanes at a time (SSUB16 + SEL), a division per channel.
 */
#include "nn_kernels.h"

#if NN_OPTIMIZED

#include "nn_opt_internal.h"

/* The maximum of 4 channels over a 2x2 window whose top-left word is at xr. */
NN_INLINE uint32_t max_2x2_s8x4(const int8_t *xr, int32_t ch, int32_t row_step) {
    return nn_max_s8x4(nn_max_s8x4(nn_read32(xr), nn_read32(xr + ch)),
                       nn_max_s8x4(nn_read32(xr + row_step), nn_read32(xr + row_step + ch)));
}

/* One output row of a 2x2 stride-2 VALID max pool without clamp, 4 channels per word (ch a
 * multiple of 4): input rows x and x + row_step; returns the next output. On Cortex-M one
 * assembly loop: 14 instructions per output word. */
static int8_t *max_pool_2x2_row(const int8_t *x, int8_t *o, int32_t ch, int32_t row_step, int32_t out_w) {
#if NN_ASM
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

/* The window of output pixel (b, oy, ox): its first input pixel inside the image and how many
 * rows and columns of taps lie inside (rows * cols = 0: none). */
typedef struct {
    const int8_t *x0;
    int32_t rows, cols;
} pool_window_t;

static pool_window_t pool_window(const nn_pool_params_t *p, const int8_t *in, int32_t b, int32_t oy, int32_t ox) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    int32_t ky0, ky1, kx0, kx1;
    nn_valid_taps(iy0, 1, p->k_h, p->in_h, &ky0, &ky1);
    nn_valid_taps(ix0, 1, p->k_w, p->in_w, &kx0, &kx1);
    const int inside = ky1 > ky0 && kx1 > kx0;
    const pool_window_t w = {inside ? in + ((b * p->in_h + iy0 + ky0) * p->in_w + ix0 + kx0) * p->channels : in,
                             inside ? ky1 - ky0 : 0, inside ? kx1 - kx0 : 0};
    return w;
}

/* MAX_POOL_2D: 4 channels per word with a byte-wise SIMD maximum (SSUB8 + SEL); the
 * window starts from its first valid tap (the reference starts from -128, the same
 * maximum when a tap exists), and the fused clamp is skipped when it is the full range. */
/* Paths 2X2 and 2X2_ROWS: 2x2 stride 2 with every window inside (VALID, 4 channels per word): no
 * per-pixel window bounds; rows of output words straight through. */
void nn_opt_max_pool_s8_2x2(const nn_pool_params_t *p, const int8_t *in, int8_t *out) {
    const int32_t ch = p->channels, in_h = p->in_h, in_w = p->in_w;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int clamp = lo > -128 || hi < 127;
    const uint32_t lo4 = nn_dup8(lo), hi4 = nn_dup8(hi);
    const int32_t row_step = in_w * ch;
    const nn_max_pool_path_t path = nn_max_pool_s8_path(p);
    {
        int8_t *o = out;
        for (int32_t b = 0; b < p->batches; ++b) {
            for (int32_t oy = 0; oy < p->out_h; ++oy) {
                const int8_t *x = in + (b * in_h + 2 * oy) * row_step;
                if (path == NN_MAX_POOL_PATH_2X2_ROWS) {
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
    }
}

/* Path WINDOWS: any window, its bounds per output pixel. */
void nn_opt_max_pool_s8_windows(const nn_pool_params_t *p, const int8_t *in, int8_t *out) {
    const int32_t ch = p->channels, in_w = p->in_w;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int clamp = lo > -128 || hi < 127;
    const uint32_t lo4 = nn_dup8(lo), hi4 = nn_dup8(hi);
    const int32_t row_step = in_w * ch;
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const pool_window_t win = pool_window(p, in, b, oy, ox);
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                if (win.rows == 0) {   /* no input under the window: the reference's -128 */
                    for (int32_t c = 0; c < ch; ++c) o[c] = (int8_t)(lo > -128 ? lo : -128);
                    continue;
                }
                const int8_t *x0 = win.x0;
                const int32_t rows = win.rows, cols = win.cols;
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

/* One entry per group of paths (nn_kernels.h): generated C calls its layer's, so a model links only
 * the paths it uses; this dispatcher serves containers and hand-written calls. */
void nn_opt_max_pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out) {
    if (nn_max_pool_s8_path(p) == NN_MAX_POOL_PATH_WINDOWS) {
        nn_opt_max_pool_s8_windows(p, in, out);
    } else {
        nn_opt_max_pool_s8_2x2(p, in, out);
    }
}

/* TFLM's average: the window sum divided by the number of taps inside, rounded half away from
 * zero, then the fused clamp. */
NN_INLINE int8_t avg_out(int32_t sum, int32_t count, int32_t lo, int32_t hi) {
    const int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)clamp_s8(v, lo, hi);
}

/* One average with the half count added with the sum's sign without a branch (a zero sum rounds to 0
 * either way: the half count is below the count); the clamp only when one is narrower than int8
 * (the average of int8 values is an int8). */
NN_INLINE int8_t avg_one(int32_t sum, int32_t count, int32_t half, int clamp, int32_t lo, int32_t hi) {
    const int32_t sign = sum >> 31;
    const int32_t v = (sum + ((half ^ sign) - sign)) / count;
    return (int8_t)(clamp ? clamp_s8(v, lo, hi) : v);
}

/* The four averages of the 16-bit lane sums a02 (channels 0, 2) and a13 (1, 3) into o[0..3]. */
static NN_NOINLINE void avg_out4(uint32_t a02, uint32_t a13, int32_t count, int clamp, int32_t lo, int32_t hi, int8_t *o) {
    const int32_t half = count >> 1;
    o[0] = avg_one((int16_t)a02, count, half, clamp, lo, hi);
    o[1] = avg_one((int16_t)a13, count, half, clamp, lo, hi);
    o[2] = avg_one((int16_t)(a02 >> 16), count, half, clamp, lo, hi);
    o[3] = avg_one((int16_t)(a13 >> 16), count, half, clamp, lo, hi);
}

/* The four averages of 16-bit lane sums a02, a13 of count < 256 taps with no clamp narrower than int8
 * (every lane + or - the half count stays within int16): the half count added with each lane's sign two
 * lanes at a time, then one division per lane. h2, nh2: the half count and its negation in both lanes. */
static inline void avg_div4(uint32_t a02, uint32_t a13, int32_t count, uint32_t h2, uint32_t nh2, int8_t *o) {
    a02 = nn_add_away16(a02, h2, nh2);
    a13 = nn_add_away16(a13, h2, nh2);
    o[0] = (int8_t)((int16_t)a02 / count);
    o[1] = (int8_t)((int16_t)a13 / count);
    o[2] = (int8_t)((int16_t)(a02 >> 16) / count);
    o[3] = (int8_t)((int16_t)(a13 >> 16) / count);
}

#if NN_ASM
/* One pixel's 8 channels into the lane sums: 7 instructions. */
#define NN_AVG8_PIXEL                                 \
    "ldr     %[v], [%[x]]\n\t"                        \
    "ldr     %[u], [%[x], #4]\n\t"                    \
    "add     %[x], %[x], %[ch]\n\t"                   \
    "sxtab16 %[a02], %[a02], %[v]\n\t"                \
    "sxtab16 %[a13], %[a13], %[v], ror #8\n\t"        \
    "sxtab16 %[b02], %[b02], %[u]\n\t"                \
    "sxtab16 %[b13], %[b13], %[u], ror #8\n\t"
/* ... the first one starts them. */
#define NN_AVG8_FIRST                                 \
    "ldr     %[v], [%[x]]\n\t"                        \
    "ldr     %[u], [%[x], #4]\n\t"                    \
    "add     %[x], %[x], %[ch]\n\t"                   \
    "sxtb16  %[a02], %[v]\n\t"                        \
    "sxtb16  %[a13], %[v], ror #8\n\t"                \
    "sxtb16  %[b02], %[u]\n\t"                        \
    "sxtb16  %[b13], %[u], ror #8\n\t"
/* Lane sums S rounded away from zero by the half count (GE flags of S - 0 pick +half or -half). */
#define NN_AVG8_ROUND(S)                              \
    "ssub16  %[v], %[" S "], %[n]\n\t"                \
    "sel     %[v], %[x], %[u]\n\t"                    \
    "sadd16  %[" S "], %[" S "], %[v]\n\t"
#endif

/* 8 channels of a window that is one run of n >= 1 pixels ch bytes apart from x (count = n < 256 taps, no
 * clamp narrower than int8): their averages into o[0..7]. On Cortex-M one assembly block: the first pixel
 * starts the lane sums, then two pixels per loop pass (16 instructions per 16 input elements) after an odd
 * one, then the rounding of avg_div4 (3 instructions per 2 lanes) and a division and a store per channel. */
NN_INLINE void avg8_run(const int8_t *x, int32_t n, int32_t ch, int8_t *o) {
#if NN_ASM
    uint32_t a02, a13, b02, b13, v, u;   /* 10 registers: the count waits on the stack, the half is built */
    __asm__ volatile(
        "str     %[n], [sp, #-8]!\n\t"   /* the count waits on the stack */
        NN_AVG8_FIRST
        "subs    %[n], %[n], #1\n\t"
        "beq     3f\n\t"
        "tst     %[n], #1\n\t"
        "beq     2f\n\t"
        NN_AVG8_PIXEL
        "subs    %[n], %[n], #1\n\t"
        "beq     3f\n"
        "2:\n\t"
        NN_AVG8_PIXEL
        NN_AVG8_PIXEL
        "subs    %[n], %[n], #2\n\t"
        "bne     2b\n"
        "3:\n\t"   /* n is 0 from here on; ch the count, x its half in both lanes, u the negation */
        "ldr     %[ch], [sp], #8\n\t"
        "asr     %[x], %[ch], #1\n\t"
        "pkhbt   %[x], %[x], %[x], lsl #16\n\t"
        "ssub16  %[u], %[n], %[x]\n\t"
        NN_AVG8_ROUND("a02")
        NN_AVG8_ROUND("a13")
        NN_AVG8_ROUND("b02")
        NN_AVG8_ROUND("b13")
        "sxth    %[v], %[a02]\n\t"
        "sdiv    %[v], %[v], %[ch]\n\t"
        "strb    %[v], [%[o]]\n\t"
        "sxth    %[v], %[a13]\n\t"
        "sdiv    %[v], %[v], %[ch]\n\t"
        "strb    %[v], [%[o], #1]\n\t"
        "asr     %[v], %[a02], #16\n\t"
        "sdiv    %[v], %[v], %[ch]\n\t"
        "strb    %[v], [%[o], #2]\n\t"
        "asr     %[v], %[a13], #16\n\t"
        "sdiv    %[v], %[v], %[ch]\n\t"
        "strb    %[v], [%[o], #3]\n\t"
        "sxth    %[v], %[b02]\n\t"
        "sdiv    %[v], %[v], %[ch]\n\t"
        "strb    %[v], [%[o], #4]\n\t"
        "sxth    %[v], %[b13]\n\t"
        "sdiv    %[v], %[v], %[ch]\n\t"
        "strb    %[v], [%[o], #5]\n\t"
        "asr     %[v], %[b02], #16\n\t"
        "sdiv    %[v], %[v], %[ch]\n\t"
        "strb    %[v], [%[o], #6]\n\t"
        "asr     %[v], %[b13], #16\n\t"
        "sdiv    %[v], %[v], %[ch]\n\t"
        "strb    %[v], [%[o], #7]\n\t"
        : [a02] "=&r"(a02), [a13] "=&r"(a13), [b02] "=&r"(b02), [b13] "=&r"(b13), [v] "=&r"(v), [u] "=&r"(u),
          [x] "+&r"(x), [n] "+&r"(n), [ch] "+&r"(ch)
        : [o] "r"(o)
        : "cc", "memory");
#else
    uint32_t a02 = 0, a13 = 0, b02 = 0, b13 = 0;
    const int32_t count = n;
    const uint32_t h2 = nn_dup16(count >> 1), nh2 = nn_dup16(-(count >> 1));
    for (; n > 0; --n, x += ch) {
        const uint32_t v = nn_read32(x), u = nn_read32(x + 4);
        a02 = nn_sxtab16(a02, v);
        a13 = nn_sxtab16_ror8(a13, v);
        b02 = nn_sxtab16(b02, u);
        b13 = nn_sxtab16_ror8(b13, u);
    }
    avg_div4(a02, a13, count, h2, nh2, o);
    avg_div4(b02, b13, count, h2, nh2, o + 4);
#endif
}

/* AVERAGE_POOL_2D: per output pixel, 4 channels per word summed in two registers of 16-bit lanes
 * (SXTAB16 of bytes 0, 2 and, rotated, 1, 3: 3 instructions and a pointer step per 4 input
 * elements), two words (8 channels) per pass where there are 8. A lane holds 256 int8 values without
 * overflow; longer windows are summed in chunks of 256 taps into int32. A window of whole input rows (one
 * run of pixels: global pools) of fewer than 256 taps with no clamp narrower than int8 runs each 8-channel
 * pass in one assembly block (avg8_run): MobileNet's 3x3x256 global pool at 1.8 instructions per input
 * element instead of 2.7. */
void nn_opt_avg_pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out) {
    const int32_t ch = p->channels, in_w = p->in_w, row_step = in_w * ch;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int clamp = lo > -128 || hi < 127;
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const pool_window_t win = pool_window(p, in, b, oy, ox);
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                const int32_t rows = win.rows, cols = win.cols, count = rows * cols;
                if (count == 0) {   /* no input under the window: the reference's 0, clamped */
                    for (int32_t c = 0; c < ch; ++c) o[c] = (int8_t)clamp_s8(0, lo, hi);
                    continue;
                }
                const int8_t *x0 = win.x0;
                /* a window spanning whole rows (a global pool) is one run of count pixels */
                const int32_t runs = cols == in_w ? 1 : rows, run = cols == in_w ? count : cols;
                int32_t c = 0;
                if (runs == 1 && !clamp && count < 256) {   /* a global pool: each 8-channel pass in avg8_run */
                    for (; c + 8 <= ch; c += 8) avg8_run(x0 + c, count, ch, o + c);
                }
                for (; c + 8 <= ch && count <= 256; c += 8) {   /* no lane can overflow; 8 channels a pass */
                    uint32_t a02 = 0, a13 = 0, b02 = 0, b13 = 0;
                    for (int32_t r = 0; r < runs; ++r) {   /* two pixels per step, an odd one first */
                        const int8_t *xr = x0 + r * row_step + c, *const end = xr + run * ch;
                        if (run & 1) {
                            const uint32_t v = nn_read32(xr), u = nn_read32(xr + 4);
                            a02 = nn_sxtab16(a02, v);
                            a13 = nn_sxtab16_ror8(a13, v);
                            b02 = nn_sxtab16(b02, u);
                            b13 = nn_sxtab16_ror8(b13, u);
                            xr += ch;
                        }
                        for (; xr != end; xr += 2 * ch) {
                            const uint32_t v = nn_read32(xr), u = nn_read32(xr + 4);
                            const uint32_t v2 = nn_read32(xr + ch), u2 = nn_read32(xr + ch + 4);
                            a02 = nn_sxtab16(nn_sxtab16(a02, v), v2);
                            a13 = nn_sxtab16_ror8(nn_sxtab16_ror8(a13, v), v2);
                            b02 = nn_sxtab16(nn_sxtab16(b02, u), u2);
                            b13 = nn_sxtab16_ror8(nn_sxtab16_ror8(b13, u), u2);
                        }
                    }
                    avg_out4(a02, a13, count, clamp, lo, hi, o + c);
                    avg_out4(b02, b13, count, clamp, lo, hi, o + c + 4);
                }
                for (; c + 4 <= ch && count <= 256; c += 4) {   /* no lane can overflow */
                    uint32_t a02 = 0, a13 = 0;
                    for (int32_t r = 0; r < runs; ++r) {
                        const int8_t *xr = x0 + r * row_step + c;
                        int32_t k = 0;
                        for (; k + 2 <= run; k += 2, xr += 2 * ch) {
                            const uint32_t v = nn_read32(xr), u = nn_read32(xr + ch);
                            a02 = nn_sxtab16(nn_sxtab16(a02, v), u);
                            a13 = nn_sxtab16_ror8(nn_sxtab16_ror8(a13, v), u);
                        }
                        if (k < run) {
                            const uint32_t v = nn_read32(xr);
                            a02 = nn_sxtab16(a02, v);
                            a13 = nn_sxtab16_ror8(a13, v);
                        }
                    }
                    avg_out4(a02, a13, count, clamp, lo, hi, o + c);
                }
                for (; c + 4 <= ch; c += 4) {   /* more than 256 taps: chunks of 256 into int32 */
                    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                    int32_t left = 0;   /* taps in the current 16-bit chunk */
                    uint32_t a02 = 0, a13 = 0;
                    for (int32_t ky = 0; ky < rows; ++ky) {
                        const int8_t *xr = x0 + ky * row_step + c;
                        for (int32_t kx = 0; kx < cols; ++kx, xr += ch) {
                            const uint32_t v = nn_read32(xr);
                            a02 = nn_sxtab16(a02, v);
                            a13 = nn_sxtab16_ror8(a13, v);
                            if (++left == 256) {   /* flush the lanes before they can overflow */
                                s0 += (int16_t)a02;
                                s2 += (int16_t)(a02 >> 16);
                                s1 += (int16_t)a13;
                                s3 += (int16_t)(a13 >> 16);
                                a02 = a13 = 0;
                                left = 0;
                            }
                        }
                    }
                    s0 += (int16_t)a02;
                    s2 += (int16_t)(a02 >> 16);
                    s1 += (int16_t)a13;
                    s3 += (int16_t)(a13 >> 16);
                    o[c] = avg_out(s0, count, lo, hi);
                    o[c + 1] = avg_out(s1, count, lo, hi);
                    o[c + 2] = avg_out(s2, count, lo, hi);
                    o[c + 3] = avg_out(s3, count, lo, hi);
                }
                for (; c < ch; ++c) {
                    int32_t sum = 0;
                    for (int32_t ky = 0; ky < rows; ++ky) {
                        for (int32_t kx = 0; kx < cols; ++kx) sum += x0[ky * row_step + kx * ch + c];
                    }
                    o[c] = avg_out(sum, count, lo, hi);
                }
            }
        }
    }
}

#else
typedef int nn_opt_pool_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
