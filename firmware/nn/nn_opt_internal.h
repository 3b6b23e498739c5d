/*
 * nn_opt_internal.h - what the optimized kernels (nn_opt_*.c) share: the requantization
 * forms, the scratch layout constants and the window arithmetic. Not part of the public
 * contract (that is nn_kernels.h); included by nn_paths.c and every nn_opt_*.c file.
 *
 * Requantization: scratch holds a per-channel table (bias, multiplier, rounding constants,
 * RQ_WORDS words per channel) built once per call by nn_opt_rq_prepare. When every exponent
 * is a right shift of 2..31 (almost every real layer) the double rounding is one SMLAL and
 * two single-cycle instructions (rq_fast); otherwise the general form (nn_opt_rq_general,
 * out of line) is used. Both are bit-exact with nn_fx_requantize (nn_fixedpoint.h).
 *
 * Every inline-assembly block of the optimized kernels sits under NN_ASM and keeps its
 * portable C twin in the #else branch; hosts (and -DNN_NO_ASM=1 or -O0 on Arm) run the twin.
 */
#ifndef NN_OPT_INTERNAL_H
#define NN_OPT_INTERNAL_H

#include <stdint.h>

#include "nn_dsp.h"
#include "nn_fixedpoint.h"
#include "nn_kernels.h"

/* The assembly forms: Thumb-2 with the DSP extension, unless NN_NO_ASM asks for the C twins. An unoptimized
 * build (-O0, no __OPTIMIZE__) keeps the frame pointer in r7, which leaves too few registers for the larger
 * blocks ("impossible constraints"), so a debug build runs the C twins: same results, slower. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__) && defined(__OPTIMIZE__) && \
    !(defined(NN_NO_ASM) && NN_NO_ASM)
#define NN_ASM 1
#else
#define NN_ASM 0
#endif

/* Bodies instantiated once per requantization form: force the inlining so that `fast` is a
 * constant in each copy. */
#if defined(__GNUC__)
#define NN_INLINE static inline __attribute__((always_inline))
#else
#define NN_INLINE static inline
#endif
/* Kept out of line where inlining only grows the code (a per-call set-up next to a hot loop). */
#if defined(__GNUC__)
#define NN_NOINLINE __attribute__((noinline))
#else
#define NN_NOINLINE
#endif

static inline int32_t align4(int32_t n) { return (n + 3) & ~3; }

/* Per output channel requantization entry in scratch: bias, multiplier, then
 * (rounding addend, shift) for the fast form or (exponent, 0) for the general one. */
#define RQ_WORDS 4

/* First layers (in_c not a multiple of 4) with at most this many taps (k_h * k_w * in_c)
 * take the small-K path: weights widened once per call (nn_opt_conv_small_k.c). */
#define SMALL_K_MAX 32
/* Up to this many int16 pairs (k_len <= 10: 3x3 grayscale) the column stays in registers ... */
#define SMALL_K_REG_WORDS 5
/* ... and each output channel has a record of SK_REC words: bias (offset folded), the 5
 * weight pairs, the 64-bit addend of the fast form as (low word 2^30, high word
 * rnd + (zo << rr)), multiplier, right shift rr. */
#define SK_REC 10
static inline int small_k(const nn_conv_params_t *p) {
    return (p->in_c & 3) != 0 && p->k_h * p->k_w * p->in_c <= SMALL_K_MAX;
}
static inline int small_k_reg(int32_t k_len) { return (k_len + 1) / 2 <= SMALL_K_REG_WORDS; }
static inline int32_t small_k_words(int32_t k_len) { return small_k_reg(k_len) ? SK_REC : (k_len + 1) / 2; }

/* 3x3 grayscale first layers (in_c 1, no dilation) run a row of windows at a time; a row
 * whose windows reach into the padding runs on a strip of its 3 input rows with the padding
 * filled in: 3 x gray3_span bytes of scratch. */
static inline int gray3(const nn_conv_params_t *p) {
    return p->in_c == 1 && p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1;
}
static inline int32_t gray3_span(const nn_conv_params_t *p) { return (p->out_w - 1) * p->stride_w + 3; }
static inline int32_t gray3_strip_bytes(const nn_conv_params_t *p) { return gray3(p) ? align4(3 * gray3_span(p)) : 0; }

/* Wide weights: one record per output channel pair of WIDE_REC_WORDS(groups) words
 * (nn_opt_conv.c, conv_wide_records). The records hold doubled weights and biases, so that the
 * assembly loop accumulates 2 acc and requantizes it with rq_dbl (SMMLAR, 4 instructions with the
 * saturation) instead of the 64-bit rq_fast (6): exact while |acc| < 2^29 (2 acc and the zero point's
 * addend, up to 2^30 + 2^22, stay within int32). The wide paths therefore need every bias below
 * WIDE_BIAS_MAX in magnitude and at most WIDE_K_MAX taps: |acc| <= |bias| + k_len * 255 * 128 < 2^29. */
#define WIDE_BIAS_MAX (1 << 28)
#define WIDE_K_MAX 8192
#define WIDE_REC_WORDS(groups) (2 + 4 * (groups) + 6)
/* Output channel pairs per block of wide records: wide_weights blocks (at least 1, at most one
 * per pair), ceil(pairs / blocks) pairs each. */
static inline int32_t wide_block_pairs(const nn_conv_params_t *p) {
    const int32_t pairs = p->out_c >> 1;
    const int32_t blocks = p->wide_weights < 1 ? 1 : p->wide_weights > pairs ? pairs : p->wide_weights;
    return (pairs + blocks - 1) / blocks;
}

/* Depthwise path CHANNELS with a 3x3 kernel: each group of 4 channels' 9 taps widened once per call
 * into (SXTB16, SXTB16 ror 8) word pairs after the table and the folded biases, 72 bytes per group. */
static inline int dw_k33(const nn_conv_params_t *p) { return p->k_h == 3 && p->k_w == 3; }
static inline int32_t dw_k33_bytes(const nn_conv_params_t *p) { return dw_k33(p) ? 72 * (p->out_c >> 2) : 0; }

/* Depthwise path ROWS3: int16 elements per row, (out_w - 1) * stride_w + 3 rounded up to even
 * (so that rows stay word-aligned); a record of DW3_REC words per channel of a group (nn_opt_depthwise.c,
 * dw3_record; the assembly reads its words at these offsets * 4): the 6 weight words, then */
#define DW3_REC 18
#define DW3_BIAS 6    /* the folded bias (fused form: 4 times, one LDMDB fills the 4 accumulators) */
#define DW3_FAST 7    /* general form: its requantization form (rq_out's fast) */
#define DW3_GEN 9     /* general form: its requantization entry e = record + DW3_GEN (e[1..3]) */
#define DW3_MULT 10   /* fused form: the multiplier, R2 and rr + 1 (one LDM; the assembly's record pointer) */
#define DW3_RND 11
#define DW3_RR 12
#define DW3_CH 13     /* the output step along a line */
#define DW3_QREW 14   /* bytes from a line's end to the next channel's line; bit 0: the group's last channel */
#define DW3_OREW 15   /* bytes from a line's end to the next channel's first output */
#define DW3_QUADS 16  /* fused form: 4-output passes per line (at least one) */
#define DW3_SINGLES 17   /* ... then single outputs */
/* The records of a group: as many as the layer's channels, at most 4. */
static inline int32_t dw_rows3_group(const nn_conv_params_t *p) { return p->out_c < 4 ? p->out_c : 4; }
/* The fused form's bias bound (rq_dbl's doubled accumulators stay below 2^30). */
#define DW3_BIAS_MAX ((1 << 29) - (1 << 18))
/* Path ROWS3 runs along columns instead of rows when the output is taller than wide (a 25x5
 * keyword-spotting map: 5 lines of 25 outputs, not 25 of 5). */
static inline int dw_rows3_transposed(const nn_conv_params_t *p) { return p->out_h > p->out_w; }
static inline int32_t dw_rows3_len(const nn_conv_params_t *p) {
    return dw_rows3_transposed(p) ? ((p->out_h - 1) * p->stride_h + 3 + 1) & ~1
                                  : ((p->out_w - 1) * p->stride_w + 3 + 1) & ~1;
}

/* Depthwise path PLANE3: maps of at most DW_PLANE3_MAX outputs along each side (measured under QEMU: from
 * MobileNetV1's 6x6 maps down, a padded plane with every window interior beats ROWS3's per-line work, and
 * CHANNELS' border pixels on 3x3 maps; on its 12x12 maps ROWS3 stays better, 2.93 against 3.08 instructions
 * per MAC at stride 1, 3.78 against 3.98 at stride 2); the plane of a group of 4 channels, 8 bytes per pixel (the
 * SXTB16 words of lanes (c0, c2) and (c1, c3)), covers the windows of all outputs: ((out - 1) * stride + 3)
 * pixels along each side. */
#define DW_PLANE3_MAX 8
static inline int32_t dw_plane3_h(const nn_conv_params_t *p) { return (p->out_h - 1) * p->stride_h + 3; }
static inline int32_t dw_plane3_w(const nn_conv_params_t *p) { return (p->out_w - 1) * p->stride_w + 3; }
/* ... a group's record (nn_opt_depthwise.c, dw3p_record): its words after the 18 weight words */
#define DW3P_BIAS 18
#define DW3P_RQ 22
#define DW3P_ROW 34
#define DW3P_NEXT 35
#define DW3P_OSTEP 36
#define DW3P_MIDEND 37
#define DW3P_REC 38
/* PLANE3 on same-channel int16 pairs (nn_opt_depthwise.c, dw3q_body) in the fused form where it measured
 * better than the widened plane under QEMU: stride 1, SAME, rows of 6 outputs (MobileNetV1's 6x6 maps; on
 * 3x3 maps and at stride 2 the pairs' build and the per-chunk requantization cost more than the widened
 * plane's taps: bench/RESULTS.md, "Depthwise round 5"). A channel's plane: a spare word, then per plane
 * row DW3Q_ROWW words (7 pairs and spare words: a fixed row step, an immediate offset in the assembly); a
 * channel's record DW3Q_CH words (dw3q_record). A group is 4 planes and 4 records. */
#define DW3Q_ROWW 10
#define DW3Q_CH 15
/* ... its words (dw3q_record4): A, B of the 3 kernel rows at 0..5, then these */
#define DW3Q_BIAS 6
#define DW3Q_RQ 7
#define DW3Q_OSTEP 10
#define DW3Q_X 11
#define DW3Q_O 12
#define DW3Q_MID 13
#define DW3Q_LAST 14
static inline int dw3q_pairs_ok(const nn_conv_params_t *p) {
    return p->stride_h == 1 && p->stride_w == 1 && p->in_w == 6 && p->out_w == 6 && p->pad_left == 1 &&
           p->in_h == p->out_h && p->pad_top == 1;
}
static inline int32_t dw_plane3_words(const nn_conv_params_t *p) { return 1 + DW3Q_ROWW * dw_plane3_h(p); }
/* The fused records of a full group of 4 channels from c0 (DW3Q_CH words each: A = (w0, w1) and B = (w1, w2) of
 * the 3 kernel rows, the bias and rq_dbl's words, weights and bias doubled; nn_opt_depthwise.c), shared by PLANE3's
 * pairs and S2PAIRS (nn_opt_depthwise_s2pairs.c). */
void dw3q_record4(const nn_conv_params_t *p, int32_t c0, uint32_t *rec);
/* Assembly text over such a record, shared by PLANE3's pairs and S2PAIRS' rows (operands named as in their asm
 * blocks): rq_dbl of accumulator A with a = R2, b = multiplier, q1 = rs, saturated to int8; DW3Q_ASM_STORE3
 * requantizes a0..a2 with the record rc's words (DW3Q_RQ) and stores them one output step (DW3Q_OSTEP) apart
 * from o, leaving o past the third. */
#define DW3Q_ASM_RQ(A)                                        \
    "add    %[q0], %[a], %[" A "], asr #31\n\t"               \
    "smmlar %[" A "], %[" A "], %[b], %[q0]\n\t"              \
    "asr    %[" A "], %[" A "], %[q1]\n\t"                    \
    "ssat   %[" A "], #8, %[" A "]\n\t"
#define DW3Q_ASM_STORE3                                       \
    "ldrd   %[a], %[b], [%[rc], #28]\n\t"                     \
    "ldr    %[q1], [%[rc], #36]\n\t"                          \
    DW3Q_ASM_RQ("a0") DW3Q_ASM_RQ("a1") DW3Q_ASM_RQ("a2")     \
    "ldr    %[q0], [%[rc], #40]\n\t"                          \
    "strb   %[a0], [%[o]]\n\t"                                \
    "strb   %[a1], [%[o], %[q0]]\n\t"                         \
    "add    %[o], %[o], %[q0], lsl #1\n\t"                    \
    "strb   %[a2], [%[o]]\n\t"                                \
    "add    %[o], %[o], %[q0]\n\t"

/* Depthwise path MAP3 (nn_opt_depthwise_map3.c): 3x3 SAME at stride 1 on a 3x3 map (MobileNetV1's last
 * depthwise layer), channels in groups of 4. A group's block of MAP3_WORDS words: per kernel row k the 4
 * channels' doubled weight pairs A_k = (w_k0, w_k1), B_k = (w_k1, w_k2), per input row r their input pairs
 * P_r = (x_r0, x_r1), Q_r = (x_r1, x_r2) (input offset added), per channel its doubled bias and rq_dbl's R2,
 * multiplier and rs; then MAP3_OUT bytes of outputs (4 channels per pixel): the path's scratch. */
#define MAP3_WORDS 64
#define MAP3_OUT 36
/* Assembly text: a group's 3x3 output map, 9 words of 4 channels in r3..r11, stored at r1, r1 + r2, ...,
 * r1 + 8 r2 (r2: the channel count, one pixel's step); shared by MAP3's group function and S2PAIRS' 6x6 -> 3x3
 * group function, which both end with it. */
#define DW3_ASM_STORE_MAP3X3         \
    "str    r3, [r1]\n\t"            \
    "str    r4, [r1, r2]\n\t"        \
    "add    r1, r1, r2, lsl #1\n\t"  \
    "str    r5, [r1]\n\t"            \
    "str    r6, [r1, r2]\n\t"        \
    "add    r1, r1, r2, lsl #1\n\t"  \
    "str    r7, [r1]\n\t"            \
    "str    r8, [r1, r2]\n\t"        \
    "add    r1, r1, r2, lsl #1\n\t"  \
    "str    r9, [r1]\n\t"            \
    "str    r10, [r1, r2]\n\t"       \
    "add    r1, r1, r2, lsl #1\n\t"  \
    "str    r11, [r1]\n\t"
static inline int dw_map3(const nn_conv_params_t *p) {
    return p->stride_h == 1 && p->stride_w == 1 && p->in_h == 3 && p->in_w == 3 && p->out_h == 3 && p->out_w == 3 &&
           p->pad_top == 1 && p->pad_left == 1 && (p->out_c & 3) == 0;
}

/* A fully connected layer with at most this many outputs widens its input on the fly
 * instead of into scratch: a widened copy pays for itself only when many rows reuse it,
 * and a classifier head (e.g. 1728 -> 5) would otherwise need more scratch than the
 * whole TFLite Micro arena of that layer. */
#define FC_DIRECT_MAX_ROWS 8

/* Whether exponents shift[0..count) are all right shifts of lo..hi (lo, hi > 0). */
int nn_opt_right_shifts_within(const int32_t *shift, int32_t count, int32_t lo, int32_t hi);

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

/* rq_fast with the output zero point added and the result saturated to int8, in seven
 * instructions: for exponent shift = -r, r = 2..31, and zo2p1 = 2 zo + 1,
 * rq_fast_zp(acc, mult, shift, zo2p1) = ssat8(rq_fast(acc, mult, 2^(r-2), r-1) + zo).
 * The addend 2^30 - [acc < 0] 2^31 comes from the sign word s = acc >> 31 (high word s, low word
 * 2^30 + (s << 31)); with h the high word after the SMLAL, floor((floor(h / 2^(r-2)) + 2 zo + 1) / 2)
 * = floor((h + 2^(r-2)) / 2^(r-1)) + zo (nested floors with integer addends merge), SSAT's shifted
 * operand doing the last halving. The exponent is used as it is stored (r - 2 = -2 - shift), so
 * per-channel layers need no table. RQ_FAST_ZP_TEXT is the assembly with its registers as
 * strings (inline operands or fixed registers): ACC, scratch H and L, M the multiplier, E the
 * exponent, K = 2^30, M2 = -2, Z = 2 zo + 1, OUT the result (may be ACC). */
#define RQ_FAST_ZP_TEXT(ACC, H, L, M, E, K, M2, Z, OUT)                                      \
    "asr    " H ", " ACC ", #31\n\t"                                                         \
    "add    " L ", " K ", " H ", lsl #31\n\t"                                                \
    "smlal  " L ", " H ", " ACC ", " M "\n\t"                                                \
    "sub    " L ", " M2 ", " E "\n\t"                                                        \
    "asr    " H ", " H ", " L "\n\t"                                                         \
    "add    " H ", " H ", " Z "\n\t"                                                         \
    "ssat   " OUT ", #8, " H ", asr #1\n\t"
NN_INLINE int32_t rq_fast_zp(int32_t acc, int32_t mult, int32_t shift, int32_t zo2p1) {
#if NN_ASM
    int32_t h, l, out;
    __asm__(RQ_FAST_ZP_TEXT("%[acc]", "%[h]", "%[l]", "%[m]", "%[sh]", "%[k]", "%[m2]", "%[z]", "%[out]")
            : [h] "=&r"(h), [l] "=&r"(l), [out] "=r"(out)
            : [acc] "r"(acc), [m] "r"(mult), [sh] "r"(shift), [z] "r"(zo2p1), [k] "r"(0x40000000), [m2] "r"(-2));
    return out;
#else
    const int64_t t = (int64_t)acc * mult + (acc < 0 ? -1073741824LL : 1073741824LL);
    const int32_t h = (int32_t)(t >> 32);
    return nn_ssat8(((h >> (-shift - 2)) + zo2p1) >> 1);
#endif
}

/* rq_fast(acc, mult, rnd, rr) of a doubled accumulator acc2 = 2 acc (|acc| < 2^30) with r2 = 2 rnd
 * and rr1 = rr + 1: rq_fast is floor((acc mult +- 2^30 + rnd 2^32) / 2^(32 + rr)), the sign that of
 * acc; doubled, floor((acc2 mult + (r2 - [acc < 0]) 2^32 + 2^31) / 2^(33 + rr)), which is one SMMLAR
 * (the rounding high multiply-accumulate) with the addend r2 - [acc2 < 0] and a shift by rr1.
 * The depthwise kernel's assembly computes it in 3 instructions (nn_opt_depthwise.c). */
NN_INLINE int32_t rq_dbl(int32_t acc2, int32_t mult, int32_t r2, int32_t rr1) {
    const int32_t ra = r2 + (acc2 >> 31);
    const int64_t t = (int64_t)acc2 * mult + (int64_t)((uint64_t)(int64_t)ra << 32) + 0x80000000LL;
    return (int32_t)(t >> 32) >> rr1;
}

/* A channel's fused requantization words at r (rq_dbl): right shift rs = -shift of 2..23, rq_fast's
 * rounding 2^(rs - 2) and the output zero point zo, both doubled: R2 = 2^(rs - 1) + zo 2^rs; the multiplier;
 * rs (rr + 1 of the doubled accumulator). */
NN_INLINE void dw3p_rq_words(int32_t shift, int32_t mult, uint32_t zo, uint32_t *r) {
    const int32_t rs = -shift;
    r[0] = ((uint32_t)1 << (rs - 1)) + (zo << rs);
    r[1] = (uint32_t)mult;
    r[2] = (uint32_t)rs;
}

/* Whether every exponent allows rq_fast (right shift 2..31). */
static inline int rq_fast_ok(const int32_t *shift, int32_t count) {
    return nn_opt_right_shifts_within(shift, count, 2, 31);
}

/* Whether a 3x3 layer (paths ROWS3, PLANE3, S2PAIRS) takes the fused requantization (rq_dbl): the fast form, no
 * clamp, right shifts of 2..23, and doubled accumulators that cannot wrap: with |bias| < 2^29 - 2^18 the
 * folded bias and 9 taps (each |w (x + in_offset)| <= 128 * 255) stay below 2^30. */
static inline int dw3_fused(const nn_conv_params_t *p, int fast) {
    const int clamp = p->act_min > -128 || p->act_max < 127;
    int fused = fast && !clamp && nn_opt_right_shifts_within(p->shift, p->per_channel ? p->out_c : 1, 2, 23);
    for (int32_t c = 0; c < p->out_c && fused && p->bias; ++c) {
        fused = p->bias[c] > -DW3_BIAS_MAX && p->bias[c] < DW3_BIAS_MAX;
    }
    return fused;
}

/* Depthwise path S2PAIRS (nn_opt_depthwise_s2pairs.c): 3x3, stride 2 on both axes, no padding above or left,
 * whole groups of 4 channels, the fused form (dw3_fused), rows of 3, 6 or 12 outputs SAME on an even input row
 * (in_w = 2 out_w: its assembly's rows), at most 12 output rows: where it measured better than PLANE3 and ROWS3
 * under QEMU (MobileNetV1's 12->6, 6->3 and 24->12 layers: bench/RESULTS.md, "Depthwise round 7"). Its portable
 * code also takes VALID and other row lengths. Per group its plane holds the input rows the outputs read
 * (s2p_rows), each as 4 channel rows of S2P_ROWW words (row r of channel j at word (4 r + j) S2P_ROWW: fixed
 * steps, immediate offsets in the assembly), word m being the channel's int16 pair (x_2m, x_2m+1) with the
 * input offset added (s2p_pairs of them). */
#define S2P_ROWW 12
static inline int32_t s2p_rows(const nn_conv_params_t *p) {
    return 2 * p->out_h + 1 < p->in_h ? 2 * p->out_h + 1 : p->in_h;
}
static inline int32_t s2p_pairs(const nn_conv_params_t *p) {
    const int32_t all = (p->in_w + 1) >> 1, need = p->out_w + (2 * p->out_w < p->in_w);
    return need < all ? need : all;
}
static inline int dw_s2pairs_ok(const nn_conv_params_t *p) {
    const int rows = p->out_w == 3 || p->out_w == 6 || p->out_w == 12;
    return p->stride_h == 2 && p->stride_w == 2 && p->pad_top == 0 && p->pad_left == 0 && (p->out_c & 3) == 0 &&
           rows && p->in_w == 2 * p->out_w && p->out_h <= 12 && dw3_fused(p, 1);
}

/* Fill `n` entries of `tab` (RQ_WORDS each); returns 1 when they are in the fast form. */
int nn_opt_rq_prepare(const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t per_channel,
                      int32_t n, int32_t *tab);

/* The general requantization form, out of line: loops compiled once for both forms call it. */
int32_t nn_opt_rq_general(const int32_t *e, int32_t acc);

/* Requantize an accumulator (bias included) with entry e; `fast` is a constant after inlining. */
NN_INLINE int32_t rq_apply(const int32_t *e, int32_t acc, const int fast) {
    return fast ? rq_fast(acc, e[1], e[2], e[3]) : nn_fx_requantize_nonneg(acc, e[1], e[2]);
}

/* Requantize with entry e in the form chosen at run time (a predictable branch per output). */
NN_INLINE int32_t rq_any(const int32_t *e, int32_t acc, int fast) {
    return fast ? rq_fast(acc, e[1], e[2], e[3]) : nn_opt_rq_general(e, acc);
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

/* Kernel taps [*k0, *k1) of a window starting at `origin` (step `dil`, `k` taps) that land in [0, extent). */
static inline void nn_valid_taps(int32_t origin, int32_t dil, int32_t k, int32_t extent, int32_t *k0, int32_t *k1) {
    int32_t lo = 0, hi = k;
    while (lo < hi && origin + lo * dil < 0) ++lo;
    while (hi > lo && origin + (hi - 1) * dil >= extent) --hi;
    *k0 = lo;
    *k1 = hi;
}

/* The output rows (or columns) [*lo, *hi) whose kernel window lies inside the input along
 * one axis: origin = o * stride - pad >= 0 and origin + (k - 1) * dil < extent. */
static inline void interior_range(int32_t pad, int32_t stride, int32_t dil, int32_t k, int32_t extent, int32_t out,
                                  int32_t *lo, int32_t *hi) {
    const int32_t last = extent - 1 - (k - 1) * dil + pad;   /* largest o * stride allowed */
    int32_t a = (pad + stride - 1) / stride, z = last >= 0 ? last / stride + 1 : 0;
    if (z > out) z = out;
    if (a > z) a = z;
    *lo = a;
    *hi = z;
}

/* Fold the input offset into biases: bias + in_offset * (sum of the channel's weights),
 * wrapping like the reference's int32 accumulation. Channel c's weights are
 * w[c * c_step + t * t_step] for t < taps; its bias is tab[c * tab_step]. */
static inline void fold_offset(const int8_t *w, int32_t channels, int32_t c_step, int32_t taps, int32_t t_step,
                               int32_t in_offset, int32_t *tab, int32_t tab_step, const int32_t *bias_from) {
    for (int32_t c = 0; c < channels; ++c) {
        uint32_t sum = 0;
        for (int32_t t = 0; t < taps; ++t) sum += (uint32_t)(int32_t)w[c * c_step + t * t_step];
        tab[c * tab_step] = (int32_t)((uint32_t)bias_from[c * RQ_WORDS] + sum * (uint32_t)in_offset);
    }
}

/* The small-K convolution (nn_opt_conv_small_k.c), called by nn_opt_conv2d_s8 on path
 * NN_CONV_PATH_SMALL_K*, NN_CONV_PATH_GRAY3. */
void nn_opt_conv_small_k(const nn_conv_params_t *p, const int8_t *in, int8_t *out, int16_t *col,
                         const int32_t *tab, uint32_t *wide, int fast, nn_conv_path_t path);
/* ... path NN_CONV_PATH_GRAY3 alone (nn_opt_conv_small_k calls it for that path). */
void nn_opt_conv_gray3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, const int32_t *tab,
                       uint32_t *wide);

/* Kernel rows that are whole groups of 4 taps without column dilation (in_c a multiple of 4, or a stem
 * such as DS-CNN's 10x4 on one channel): an interior window's column is one run of bytes per kernel row
 * (nn_opt_conv.c, im2col_pair_interior). */
static inline int rows_of_groups(const nn_conv_params_t *p) { return ((p->k_w * p->in_c) & 3) == 0 && p->dil_w == 1; }

/* Path SMALL_K_WIDE with kernel rows of 9 bytes (3x3 RGB stems; nn_opt_conv_small_k.c): both lanes of
 * the column pair (nn_opt_conv.c's layout, 7 groups of 4 taps) of the windows of output pixels (oy0, ox0)
 * and (oy1, ox1) of image img, in0 / in1 saying whether each lies inside the input (else it is first
 * copied into a patch of 27 bytes with the padding filled in, at patch and patch + 28). */
static inline int stem9(const nn_conv_params_t *p) {
    return p->k_h == 3 && p->k_w * p->in_c == 9 && p->dil_h == 1 && p->dil_w == 1;
}
void nn_opt_stem9_pair_col(const nn_conv_params_t *p, const int8_t *img, int32_t oy0, int32_t ox0, int in0,
                           int32_t oy1, int32_t ox1, int in1, int8_t *patch, int16_t *col);

#endif /* NN_OPT_INTERNAL_H */
