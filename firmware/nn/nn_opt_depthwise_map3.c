/*
 * nn_opt_depthwise_map3.c - DEPTHWISE_CONV_2D path MAP3 for Cortex-M with the DSP extension: a 3x3 kernel,
 * depth multiplier 1, no dilation, stride 1, SAME on a 3x3 map (3x3 in, 3x3 out, padding 1 on each side;
 * MobileNetV1's last depthwise layer, 3x3x256), out_c a multiple of 4 (nn_kernels.h NN_DW_PATH_MAP3, chosen by
 * nn_depthwise_conv2d_s8_path, nn_paths.c). Contract: nn_kernels.h (nn_depthwise_conv2d_s8); the reference
 * twin is nn_ref_depthwise_conv2d_s8 (nn_ref.c), matched bit for bit.
 *
 * Groups whose channels all take the fused requantization (rq_dbl on doubled accumulators, the output zero
 * point in the rounding addend: right shifts of 2..23, |bias| < DW3_BIAS_MAX) in a layer without a clamp run
 * in assembly; any other group (a clamp, unusual scales, large biases) is computed from the same block in C
 * with the reference requantization (map3_group_general), so the path takes every layer of its shape.
 *
 * Per group of 4 channels: its block (MAP3_WORDS words, nn_opt_internal.h): each channel's doubled weight
 * pairs A_k = (w_k0, w_k1), B_k = (w_k1, w_k2) of kernel row k and input pairs P_r = (x_r0, x_r1),
 * Q_r = (x_r1, x_r2) of input row r with the input offset added, built for the 4 channels at once from two
 * words of 4 channels (PKHBT / PKHTB, then SXTB16 or SXTAB16, plain and ROR #8) and stored by one STM per row
 * (map3_group_pairs_asm: 26 instructions per kernel row, 18 per input row), then in C its doubled bias and
 * rq_dbl's words. One straight-line assembly function (map3_group_asm) computes the 4 channels: per output
 * row i and each kernel row k over the input (r = i + k - 1 in 0..2; the padded taps are never computed)
 *   out(i, 0) += SMLAD(B_k, P_r);  out(i, 1) += SMLAD(A_k, P_r) + SMLATT(B_k, Q_r);  out(i, 2) += SMLAD(A_k, Q_r)
 * (the bias as the first accumulate's addend), 28 multiply instructions for a channel's 49 real taps, then
 * rq_dbl and a byte store per output into the group's output block (4 channels per pixel), copied to the
 * output as 9 words at the end (about 92 instructions per channel, 14 per group). The group's input is read
 * whole into its block before any output is written, so the layer may run in place
 * (nn_depthwise_conv2d_s8_in_place).
 *
 * The C twins (map3_group_block's #else branch, map3_group_c) are the specification of the assembly; hosts and
 * -DNN_NO_ASM=1 run them.
 */
#include "nn_kernels.h"

#include <stddef.h>

#if NN_OPTIMIZED

#include "nn_opt_internal.h"

/* Word offsets in a group's block (MAP3_WORDS words): channel j's A_k and B_k, P_r and Q_r adjacent (one LDRD),
 * the 4 channels of a kernel row or input row contiguous (one STM of 8 words); channel j's bias, R2,
 * multiplier and rs. */
#define MAP3_A(k, j) (8 * (k) + 2 * (j))        /* A_k, then B_k */
#define MAP3_P(r, j) (24 + 8 * (r) + 2 * (j))   /* P_r, then Q_r */
#define MAP3_BIAS(j) (48 + 4 * (j))             /* then R2, multiplier, rs (dw3p_rq_words) */

/* MAP3's bound on biases for rq_dbl: |bias| <= 2^29, so that with 9 taps (each |w (x + in_offset)| <= 128 * 255)
 * the doubled accumulator stays below 2^31. */
#define MAP3_BIAS_BITS 30

#if !NN_ASM
/* Per channel of the group starting at c0: its doubled bias and rq_dbl's words (dw3p_rq_words). Returns non-zero
 * when a channel cannot take rq_dbl (a right shift outside 2..23, or a bias outside [-2^29, 2^29)), the words
 * of such a channel being placeholders. The portable twin of map3_channel_words_asm. */
static uint32_t map3_channel_words(const nn_conv_params_t *p, int32_t c0, uint32_t *blk) {
    const int32_t step = p->per_channel ? 1 : 0, q0 = p->per_channel ? c0 : 0;
    const int32_t *mult = p->mult + q0, *shift = p->shift + q0, *bias = p->bias;
    const uint32_t zo = (uint32_t)p->out_offset;
    uint32_t other = 0;
    for (int32_t j = 0; j < 4; ++j, mult += step, shift += step) {
        const uint32_t b = bias ? (uint32_t)bias[c0 + j] : 0u, rs2 = (uint32_t)(-*shift - 2);
        const uint32_t no = (rs2 > 21u) | (b + (1u << (MAP3_BIAS_BITS - 1)) >= (1u << MAP3_BIAS_BITS));
        other |= no;
        blk[MAP3_BIAS(j)] = b << 1;
        dw3p_rq_words(no ? -2 : *shift, *mult, zo, blk + MAP3_BIAS(j) + 1);
    }
    return other;
}
#else
/* map3_channel_words_asm(d, bias, shift, mult, step, z): map3_channel_words' contract, for the group's 4
 * biases at bias (a zero array when the layer has none), its exponents and multipliers at shift and mult
 * (step bytes apart: 4 per channel, 0 per tensor), z = 2 zo + 1, d = blk + MAP3_BIAS(0): per channel the
 * doubled bias, R2 = (z << rs) >> 1 (= 2^(rs - 1) + zo 2^rs), the multiplier and rs by one STM; the range
 * checks OR-ed into r6 (SSAT #30 changes a bias outside [-2^29, 2^29); rs - 2 unsigned above 21). 17
 * instructions per channel. */
#define MAP3_WORDS1                                                  \
    "ldr    r7, [r1], #4\n\t"                                        \
    "ssat   r11, #30, r7\n\t"   /* MAP3_BIAS_BITS */                \
    "eor    r11, r11, r7\n\t"                                       \
    "orr    r6, r6, r11\n\t"                                        \
    "lsl    r7, r7, #1\n\t"                                         \
    "ldr    r12, [r2]\n\t"                                          \
    "add    r2, r2, r4\n\t"                                         \
    "ldr    r9, [r3]\n\t"                                           \
    "add    r3, r3, r4\n\t"                                         \
    "rsb    r10, r12, #0\n\t"                                       \
    "sub    r11, r10, #2\n\t"                                       \
    "cmp    r11, #21\n\t"                                           \
    "it     hi\n\t"                                                 \
    "orrhi  r6, r6, #1\n\t"                                         \
    "lsl    r8, r5, r10\n\t"                                        \
    "asr    r8, r8, #1\n\t"                                         \
    "stm    r0!, {r7-r10}\n\t"
__attribute__((naked, noinline)) static uint32_t map3_channel_words_asm(uint32_t *d, const int32_t *bias,
                                                                        const int32_t *shift, const int32_t *mult,
                                                                        int32_t step, int32_t z) {
    (void)d, (void)bias, (void)shift, (void)mult, (void)step, (void)z;
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldrd   r4, r5, [sp, #36]\n\t"   /* step, z: the fifth and sixth arguments */
        "movs   r6, #0\n\t"
        MAP3_WORDS1 MAP3_WORDS1 MAP3_WORDS1 MAP3_WORDS1
        "mov    r0, r6\n\t"
        "pop    {r4-r11, pc}\n\t");
}
static const int32_t map3_no_bias[4];
#endif

#if NN_ASM
/* map3_group_pairs_asm(x, ch, blk, w, off2): the weight pairs of the 4 channels from w (the group's first
 * weight byte, tap step ch), then their input pairs from x (the group's first input byte, pixel step ch),
 * into blk (MAP3_A, MAP3_P). A row of 3 words a, b, c (4 channels each): PKHBT(a, b, LSL #16) holds channels 0
 * and 1's bytes of a and b, PKHTB(b, a, ASR #16) channels 2 and 3's; SXTB16 (weights, doubled by SADD16) or
 * SXTAB16 with off2 (inputs), plain or ROR #8, gives each channel's pair; the same with b, c. Registers: r0 x,
 * r1 ch, r2 blk (advanced by the STMs), r3 w, then off2; r4..r11 a row's 8 words, r12 and lr the loaded words. */
#define MAP3_ROW_WORDS(SX, OFF)                                      \
    "pkhbt  r5, r12, lr, lsl #16\n\t"                               \
    SX "r4, " OFF "r5\n\t"                                          \
    SX "r6, " OFF "r5, ror #8\n\t"                                  \
    "pkhtb  r12, lr, r12, asr #16\n\t"                              \
    SX "r8, " OFF "r12\n\t"                                         \
    SX "r10, " OFF "r12, ror #8\n\t"
#define MAP3_ROW_NEXT(SX, OFF, P)                                    \
    "ldr    r12, [" P ", r1, lsl #1]\n\t"                           \
    "pkhbt  r5, lr, r12, lsl #16\n\t"                               \
    SX "r7, " OFF "r5, ror #8\n\t"                                  \
    SX "r5, " OFF "r5\n\t"                                          \
    "pkhtb  lr, r12, lr, asr #16\n\t"                               \
    SX "r9, " OFF "lr\n\t"                                          \
    SX "r11, " OFF "lr, ror #8\n\t"
#define MAP3_ROW(SX, OFF, P)                                         \
    "ldr    r12, [" P "]\n\t"                                       \
    "ldr    lr, [" P ", r1]\n\t"                                    \
    MAP3_ROW_WORDS(SX, OFF) MAP3_ROW_NEXT(SX, OFF, P)
#define MAP3_DOUBLE                                                  \
    "sadd16 r4, r4, r4\n\t" "sadd16 r5, r5, r5\n\t" "sadd16 r6, r6, r6\n\t" "sadd16 r7, r7, r7\n\t" \
    "sadd16 r8, r8, r8\n\t" "sadd16 r9, r9, r9\n\t" "sadd16 r10, r10, r10\n\t" "sadd16 r11, r11, r11\n\t"
#define MAP3_WROW MAP3_ROW("sxtb16 ", "", "r3") MAP3_DOUBLE "stm    r2!, {r4-r11}\n\t"
#define MAP3_XROW MAP3_ROW("sxtab16 ", "r3, ", "r0") "stm    r2!, {r4-r11}\n\t"
#define MAP3_STEP(P) "add    " P ", " P ", r1\n\t" "add    " P ", " P ", r1, lsl #1\n\t"
__attribute__((naked, noinline)) static void map3_group_pairs_asm(const int8_t *x, int32_t ch, uint32_t *blk,
                                                                  const int8_t *w, uint32_t off2) {
    (void)x, (void)ch, (void)blk, (void)w, (void)off2;
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        MAP3_WROW MAP3_STEP("r3") MAP3_WROW MAP3_STEP("r3") MAP3_WROW
        "ldr    r3, [sp, #36]\n\t"   /* off2, the fifth argument */
        MAP3_XROW MAP3_STEP("r0") MAP3_XROW MAP3_STEP("r0") MAP3_XROW
        "pop    {r4-r11, pc}\n\t");
}
#endif

/* The group's pairs (map3_group_pairs_asm's contract) and the channels' words; returns map3_channel_words'
 * flag. */
static uint32_t map3_group_block(const nn_conv_params_t *p, const int8_t *x, int32_t c0, uint32_t off2,
                             uint32_t *blk) {
    const int32_t ch = p->in_c;
#if NN_ASM
    map3_group_pairs_asm(x, ch, blk, p->weights + c0, off2);
    const int32_t q0 = p->per_channel ? c0 : 0;
    return map3_channel_words_asm(blk + MAP3_BIAS(0), p->bias ? p->bias + c0 : map3_no_bias, p->shift + q0,
                                  p->mult + q0, p->per_channel ? 4 : 0, 2 * p->out_offset + 1);
#else
    const int8_t *w = p->weights + c0;
    for (int32_t r = 0; r < 3; ++r, x += 3 * ch, w += 3 * ch) {
        const uint32_t x0 = nn_read32(x), x1 = nn_read32(x + ch), x2 = nn_read32(x + 2 * ch);
        const uint32_t w0 = nn_read32(w), w1 = nn_read32(w + ch), w2 = nn_read32(w + 2 * ch);
        for (int32_t half = 0; half < 2; ++half) {   /* the first word pair (A, P), then the second (B, Q) */
            const uint32_t wa = half ? w1 : w0, wb = half ? w2 : w1, xa = half ? x1 : x0, xb = half ? x2 : x1;
            const uint32_t wlo = (wa & 0xffffu) | (wb << 16), whi = (wa >> 16) | (wb & 0xffff0000u);
            const uint32_t xlo = (xa & 0xffffu) | (xb << 16), xhi = (xa >> 16) | (xb & 0xffff0000u);
            const uint32_t we[4] = {nn_sxtb16(wlo), nn_sxtb16_ror8(wlo), nn_sxtb16(whi), nn_sxtb16_ror8(whi)};
            const uint32_t xe[4] = {nn_sxtab16(off2, xlo), nn_sxtab16_ror8(off2, xlo), nn_sxtab16(off2, xhi),
                                    nn_sxtab16_ror8(off2, xhi)};
            for (int32_t j = 0; j < 4; ++j) {
                blk[MAP3_A(r, j) + half] = nn_sadd16(we[j], we[j]);
                blk[MAP3_P(r, j) + half] = xe[j];
            }
        }
    }
    return map3_channel_words(p, c0, blk);
#endif
}

/* The doubled tap sums of channel j's output row i from the group's block, added to a[0..2]. */
NN_INLINE void map3_taps(const uint32_t *blk, int32_t j, int32_t i, int32_t *a) {
    for (int32_t k = 0; k < 3; ++k) {
        const int32_t r = i + k - 1;
        if (r < 0 || r > 2) continue;   /* the kernel row lies on padding */
        const uint32_t A = blk[MAP3_A(k, j)], B = blk[MAP3_A(k, j) + 1];
        const uint32_t P = blk[MAP3_P(r, j)], Q = blk[MAP3_P(r, j) + 1];
        a[0] = nn_smlad(B, P, a[0]);
        a[1] = nn_smlatt(B, Q, nn_smlad(A, P, a[1]));
        a[2] = nn_smlad(A, Q, a[2]);
    }
}

/* A group some channel of which cannot take rq_dbl, or any group of a layer with a clamp: the taps from the
 * block (halved: the weights are doubled), the layer's bias and the reference requantization (any exponent),
 * zero point and clamp, stored straight to o (the group's first output byte; the input is in the block). */
NN_NOINLINE static void map3_group_general(const nn_conv_params_t *p, const uint32_t *blk, int32_t c0, int8_t *o) {
    const int32_t ch = p->in_c, step = p->per_channel ? 1 : 0;
    for (int32_t j = 0; j < 4; ++j) {
        const int32_t c = c0 + j, q = c * step;
        const uint32_t b = p->bias ? (uint32_t)p->bias[c] : 0u;
        for (int32_t i = 0; i < 3; ++i) {
            int32_t a[3] = {0, 0, 0};
            map3_taps(blk, j, i, a);
            for (int32_t x = 0; x < 3; ++x) {
                const int32_t acc = (int32_t)(b + (uint32_t)(a[x] / 2));   /* (wraps like the reference) */
                const int32_t v = nn_fx_requantize(acc, p->mult[q], p->shift[q]) + p->out_offset;
                o[(3 * i + x) * ch + j] = (int8_t)nn_fx_clamp(v, p->act_min, p->act_max);
            }
        }
    }
}

#if !NN_ASM
/* The 4 channels of a group from its block, outputs to o (the group's first output byte, pixel step ch
 * bytes). The portable twin of map3_group_asm; the output block after the group's words is used alike. */
static void map3_group_c(uint32_t *blk, int8_t *o, int32_t ch) {
    int8_t *ob = (int8_t *)(void *)(blk + MAP3_WORDS);   /* pixel-major, 4 channels per pixel */
    for (int32_t j = 0; j < 4; ++j) {
        const uint32_t *rq = blk + MAP3_BIAS(j) + 1;
        for (int32_t i = 0; i < 3; ++i) {
            int32_t a[3] = {(int32_t)blk[MAP3_BIAS(j)], (int32_t)blk[MAP3_BIAS(j)], (int32_t)blk[MAP3_BIAS(j)]};
            map3_taps(blk, j, i, a);
            for (int32_t x = 0; x < 3; ++x) {
                const int32_t v = rq_dbl(a[x], (int32_t)rq[1], (int32_t)rq[0], (int32_t)rq[2]);
                ob[4 * (3 * i + x) + j] = (int8_t)nn_ssat8(v);
            }
        }
    }
    for (int32_t px = 0; px < 9; ++px) nn_write32(o + px * ch, nn_read32(ob + 4 * px));
}
#else
/* The assembly of map3_group_asm on fixed registers: r0 the group's block, r1..r6 a channel's A0, B0, A1,
 * B1, A2, B2 (kernel row k's A, B in r(2k + 1), r(2k + 2)), r7/r8 the pairs P_r, Q_r (then R2 and the
 * multiplier), r9..r11 an output row's accumulators, r12 the bias (then rs), lr rq_dbl's addend. J: the
 * channel (0..3), as text; the assembler folds the offsets (bytes: 4 times MAP3_A, MAP3_P, MAP3_BIAS). */
#define MAP3_OFF_A(J, K) "(32*" #K "+8*" J ")"
#define MAP3_OFF_P(J, R) "(96+32*" #R "+8*" J ")"
#define MAP3_OFF_BIAS(J, W) "(192+16*" J "+4*" #W ")"
/* One kernel row (weights A, B) over input row R of an output row: 5 instructions per 7 taps; RA0..RA2 the
 * accumulators' addends (the bias on the output row's first kernel row). */
#define MAP3_USE(J, R, A, B, RA0, RA1, RA2)                         \
    "ldrd   r7, r8, [r0, #" MAP3_OFF_P(J, R) "]\n\t"                \
    "smlad  r9, " B ", r7, " RA0 "\n\t"                             \
    "smlad  r10, " A ", r7, " RA1 "\n\t"                            \
    "smlatt r10, " B ", r8, r10\n\t"                                \
    "smlad  r11, " A ", r8, " RA2 "\n\t"
#define MAP3_FIRST(J, R, A, B) MAP3_USE(J, R, A, B, "r12", "r12", "r12")
#define MAP3_NEXT(J, R, A, B) MAP3_USE(J, R, A, B, "r9", "r10", "r11")
/* rq_dbl of accumulator ACC (R2 r7, multiplier r8, rs r12), saturated and stored as pixel PX's byte J of the
 * output block (256 bytes after the group's words). */
#define MAP3_RQ1(J, ACC, PX)                                        \
    "add    lr, r7, " ACC ", asr #31\n\t"                           \
    "smmlar " ACC ", " ACC ", r8, lr\n\t"                           \
    "asr    " ACC ", " ACC ", r12\n\t"                              \
    "ssat   " ACC ", #8, " ACC "\n\t"                               \
    "strb   " ACC ", [r0, #(256+4*" #PX "+" J ")]\n\t"
/* An output row's requantization (its first pixel PX). */
#define MAP3_RQ3(J, PX)                                             \
    "ldrd   r7, r8, [r0, #" MAP3_OFF_BIAS(J, 1) "]\n\t"             \
    "ldr    r12, [r0, #" MAP3_OFF_BIAS(J, 3) "]\n\t"                \
    MAP3_RQ1(J, "r9", PX) MAP3_RQ1(J, "r10", (PX+1)) MAP3_RQ1(J, "r11", (PX+2))
#define MAP3_BIAS_R12(J) "ldr    r12, [r0, #" MAP3_OFF_BIAS(J, 0) "]\n\t"
/* Channel J: output row 0 from kernel rows 1, 2 over input rows 0, 1; row 1 from kernel rows 0..2 over 0..2;
 * row 2 from kernel rows 0, 1 over input rows 1, 2. */
#define MAP3_CHANNEL(J)                                             \
    "ldrd   r1, r2, [r0, #" MAP3_OFF_A(J, 0) "]\n\t"                \
    "ldrd   r3, r4, [r0, #" MAP3_OFF_A(J, 1) "]\n\t"                \
    "ldrd   r5, r6, [r0, #" MAP3_OFF_A(J, 2) "]\n\t"                \
    MAP3_BIAS_R12(J)                                                \
    MAP3_FIRST(J, 0, "r3", "r4") MAP3_NEXT(J, 1, "r5", "r6")        \
    MAP3_RQ3(J, 0) MAP3_BIAS_R12(J)                                 \
    MAP3_FIRST(J, 0, "r1", "r2") MAP3_NEXT(J, 1, "r3", "r4") MAP3_NEXT(J, 2, "r5", "r6") \
    MAP3_RQ3(J, 3) MAP3_BIAS_R12(J)                                 \
    MAP3_FIRST(J, 1, "r1", "r2") MAP3_NEXT(J, 2, "r3", "r4")        \
    MAP3_RQ3(J, 6)

/* map3_group_asm(blk, o, ch): the 4 channels of a group (map3_group_c's contract), then the output block's 9
 * words stored at o, o + ch, ... o + 8 ch. */
__attribute__((naked, noinline)) static void map3_group_asm(uint32_t *blk, int8_t *o, int32_t ch) {
    (void)blk, (void)o, (void)ch;
    __asm__ volatile(
        "push   {r1, r2, r4-r11, lr}\n\t"
        MAP3_CHANNEL("0") MAP3_CHANNEL("1") MAP3_CHANNEL("2") MAP3_CHANNEL("3")
        "add    r12, r0, #256\n\t"
        "ldm    r12, {r3-r11}\n\t"
        "ldrd   r1, r2, [sp], #8\n\t"
        DW3_ASM_STORE_MAP3X3
        "pop    {r4-r11, pc}\n\t");
}
#endif

/* Path MAP3's entry (nn_kernels.h). Scratch: a group's words and its output block. */
void nn_opt_depthwise_conv2d_s8_map3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    const int32_t ch = p->in_c;
    const uint32_t off2 = 0x00010001u * (uint16_t)(int16_t)p->in_offset;
    const uint32_t clamp = p->act_min > -128 || p->act_max < 127;
    uint32_t *blk = (uint32_t *)scratch;   /* a group's words, then its output block */
    for (int32_t b = 0; b < p->batches; ++b, in += 9 * ch, out += 9 * ch) {
        for (int32_t c0 = 0; c0 < ch; c0 += 4) {
            if (map3_group_block(p, in + c0, c0, off2, blk) | clamp) {
                map3_group_general(p, blk, c0, out + c0);
                continue;
            }
#if NN_ASM
            map3_group_asm(blk, out + c0, ch);
#else
            map3_group_c(blk, out + c0, ch);
#endif
        }
    }
}

#else
typedef int nn_opt_depthwise_map3_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
