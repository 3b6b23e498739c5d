/*
 * nn_opt_depthwise_map3.c - DEPTHWISE_CONV_2D path MAP3 for Cortex-M with the DSP extension: a 3x3 kernel,
 * depth multiplier 1, no dilation, stride 1, SAME on a 3x3 map (3x3 in, 3x3 out, padding 1 on each side;
 * MobileNetV1's last depthwise layer, 3x3x256), out_c a multiple of 4 (nn_kernels.h NN_DW_PATH_MAP3, chosen by
 * nn_depthwise_conv2d_s8_path, nn_paths.c). Contract: nn_kernels.h (nn_depthwise_conv2d_s8); the reference
 * twin is nn_ref_depthwise_conv2d_s8 (nn_ref.c), matched bit for bit.
 *
 * Only the fused requantization (nn_opt_dw3_fused: rq_dbl on doubled accumulators, the output zero point in
 * the rounding addend, no clamp); any other layer of this shape runs PLANE3 (nn_opt_depthwise_conv2d_s8_plane3),
 * whose scratch nn_opt_depthwise_conv2d_s8_scratch_bytes states for both paths.
 *
 * Per group of 4 channels, in C (map3_group_records, both builds): each channel's record (MAP3_REC words,
 * nn_opt_internal.h) with its doubled weight pairs A_k = (w_k0, w_k1), B_k = (w_k1, w_k2) of kernel row k,
 * its input pairs P_r = (x_r0, x_r1), Q_r = (x_r1, x_r2) of input row r with the input offset added (built for
 * the 4 channels at once: PKHBT / PKHTB of two pixel words, then SXTAB16 and SXTAB16 ror 8), its doubled bias
 * and rq_dbl's words. Then one straight-line assembly function (map3_group_asm) computes the 4 channels: per
 * output row i and each kernel row k over the input (r = i + k - 1 in 0..2; the padded taps are never computed)
 *   out(i, 0) += SMLAD(B_k, P_r);  out(i, 1) += SMLAD(A_k, P_r) + SMLATT(B_k, Q_r);  out(i, 2) += SMLAD(A_k, Q_r)
 * (the bias as the first accumulate's addend), 28 multiply instructions for a channel's 49 real taps, then
 * rq_dbl and a byte store per output into the group's output block (4 channels per pixel), copied to the
 * output as 9 words at the end. The group's input is read whole into its records before any output is
 * written, so the layer may run in place (nn_depthwise_conv2d_s8_in_place).
 *
 * The C twin (map3_group_c) is the specification of the assembly; hosts and -DNN_NO_ASM=1 run it.
 */
#include "nn_kernels.h"

#include <stddef.h>

#if NN_OPTIMIZED

#include "nn_opt_internal.h"

/* Record word offsets of a channel (MAP3_REC words; channel j's record at rec + j * MAP3_REC). */
#define MAP3_A(k) (2 * (k))       /* A_k, then B_k at MAP3_A(k) + 1 */
#define MAP3_P(r) (6 + 2 * (r))   /* P_r, then Q_r at MAP3_P(r) + 1 */
#define MAP3_BIAS 12
#define MAP3_RQ 13                /* R2, multiplier, rs (dw3p_rq_words) */

/* Four channels' int16 pairs of two words a, b (channels c0..c3 in their bytes), each lane plus off2's:
 * (a_j, b_j) for channel j, at d[j * MAP3_REC]. */
NN_INLINE void map3_pairs4(uint32_t a, uint32_t b, uint32_t off2, uint32_t *d) {
    const uint32_t lo = (a & 0xffffu) | (b << 16), hi = (a >> 16) | (b & 0xffff0000u);
    d[0] = nn_sxtab16(off2, lo);
    d[MAP3_REC] = nn_sxtab16_ror8(off2, lo);
    d[2 * MAP3_REC] = nn_sxtab16(off2, hi);
    d[3 * MAP3_REC] = nn_sxtab16_ror8(off2, hi);
}

/* ... the same for weights, doubled (the fused form's accumulators are doubled). */
NN_INLINE void map3_wpairs4(uint32_t a, uint32_t b, uint32_t *d) {
    const uint32_t lo = (a & 0xffffu) | (b << 16), hi = (a >> 16) | (b & 0xffff0000u);
    const uint32_t e0 = nn_sxtb16(lo), e1 = nn_sxtb16_ror8(lo), e2 = nn_sxtb16(hi), e3 = nn_sxtb16_ror8(hi);
    d[0] = nn_sadd16(e0, e0);
    d[MAP3_REC] = nn_sadd16(e1, e1);
    d[2 * MAP3_REC] = nn_sadd16(e2, e2);
    d[3 * MAP3_REC] = nn_sadd16(e3, e3);
}

/* The records of channels c0..c0 + 3 (x: the group's first input byte, img + c0; off2: the input offset in
 * both halves). */
static void map3_group_records(const nn_conv_params_t *p, const int8_t *x, int32_t c0, uint32_t off2,
                               uint32_t *rec) {
    const int32_t ch = p->in_c;
    const int8_t *w = p->weights + c0;
#pragma GCC unroll 3
    for (int32_t r = 0; r < 3; ++r, x += 3 * ch, w += 3 * ch) {
        const uint32_t x0 = nn_read32(x), x1 = nn_read32(x + ch), x2 = nn_read32(x + 2 * ch);
        map3_pairs4(x0, x1, off2, rec + MAP3_P(r));
        map3_pairs4(x1, x2, off2, rec + MAP3_P(r) + 1);
        const uint32_t w0 = nn_read32(w), w1 = nn_read32(w + ch), w2 = nn_read32(w + 2 * ch);
        map3_wpairs4(w0, w1, rec + MAP3_A(r));
        map3_wpairs4(w1, w2, rec + MAP3_A(r) + 1);
    }
    const int32_t step = p->per_channel ? 1 : 0, q0 = p->per_channel ? c0 : 0;
    const int32_t *mult = p->mult + q0, *shift = p->shift + q0, *bias = p->bias;
    const uint32_t zo = (uint32_t)p->out_offset;
#pragma GCC unroll 4
    for (int32_t j = 0; j < 4; ++j, rec += MAP3_REC, mult += step, shift += step) {
        rec[MAP3_BIAS] = bias ? (uint32_t)bias[c0 + j] << 1 : 0u;
        dw3p_rq_words(*shift, *mult, zo, rec + MAP3_RQ);
    }
}

#if !NN_ASM
/* The 4 channels of a group from their records (rec), outputs to o (the group's first output byte, pixel
 * step ch bytes). The portable twin of map3_group_asm; the output block after the records is used alike. */
static void map3_group_c(uint32_t *rec, int8_t *o, int32_t ch) {
    int8_t *blk = (int8_t *)(void *)(rec + 4 * MAP3_REC);   /* pixel-major, 4 channels per pixel */
    for (int32_t j = 0; j < 4; ++j) {
        const uint32_t *rc = rec + j * MAP3_REC;
        for (int32_t i = 0; i < 3; ++i) {
            int32_t a0 = (int32_t)rc[MAP3_BIAS], a1 = a0, a2 = a0;
            for (int32_t k = 0; k < 3; ++k) {
                const int32_t r = i + k - 1;
                if (r < 0 || r > 2) continue;   /* the kernel row lies on padding */
                const uint32_t A = rc[MAP3_A(k)], B = rc[MAP3_A(k) + 1], P = rc[MAP3_P(r)], Q = rc[MAP3_P(r) + 1];
                a0 = nn_smlad(B, P, a0);
                a1 = nn_smlatt(B, Q, nn_smlad(A, P, a1));
                a2 = nn_smlad(A, Q, a2);
            }
            const int32_t acc[3] = {a0, a1, a2};
            for (int32_t c = 0; c < 3; ++c) {
                const int32_t v = rq_dbl(acc[c], (int32_t)rc[MAP3_RQ + 1], (int32_t)rc[MAP3_RQ], (int32_t)rc[MAP3_RQ + 2]);
                blk[4 * (3 * i + c) + j] = (int8_t)nn_ssat8(v);
            }
        }
    }
    for (int32_t px = 0; px < 9; ++px) nn_write32(o + px * ch, nn_read32(blk + 4 * px));
}
#else
/* The assembly of map3_group_asm on fixed registers: r0 the group's records, r1..r6 a channel's A0, B0, A1,
 * B1, A2, B2, r7/r8 the pairs P_r, Q_r (then R2 and the multiplier), r9..r11 an output row's accumulators,
 * r12 the bias (then rs), lr rq_dbl's addend; kernel row k's A, B in r(2k + 1), r(2k + 2). J: the channel (0..3), as text; the assembler folds the
 * offsets. */
#define MAP3_OFF(J, W) "(64*" J "+4*" #W ")"
/* One kernel row (weights A, B) over input row R of an output row: 5 instructions per 7 taps; RA0..RA2 the
 * accumulators' addends (the bias on the output row's first kernel row). */
#define MAP3_USE(J, R, A, B, RA0, RA1, RA2)                         \
    "ldrd   r7, r8, [r0, #" MAP3_OFF(J, (6 + 2 * R)) "]\n\t"        \
    "smlad  r9, " B ", r7, " RA0 "\n\t"                             \
    "smlad  r10, " A ", r7, " RA1 "\n\t"                            \
    "smlatt r10, " B ", r8, r10\n\t"                                \
    "smlad  r11, " A ", r8, " RA2 "\n\t"
#define MAP3_FIRST(J, R, A, B) MAP3_USE(J, R, A, B, "r12", "r12", "r12")
#define MAP3_NEXT(J, R, A, B) MAP3_USE(J, R, A, B, "r9", "r10", "r11")
/* rq_dbl of accumulator ACC (R2 r7, multiplier r8, rs r12), saturated and stored as pixel PX's byte J of the
 * output block (256 bytes after the records). */
#define MAP3_RQ1(J, ACC, PX)                                        \
    "add    lr, r7, " ACC ", asr #31\n\t"                           \
    "smmlar " ACC ", " ACC ", r8, lr\n\t"                           \
    "asr    " ACC ", " ACC ", r12\n\t"                              \
    "ssat   " ACC ", #8, " ACC "\n\t"                               \
    "strb   " ACC ", [r0, #(256+4*" #PX "+" J ")]\n\t"
/* An output row's requantization (its first pixel PX); BIAS reloads r12 with the bias for the next row. */
#define MAP3_RQ3(J, PX)                                             \
    "ldrd   r7, r8, [r0, #" MAP3_OFF(J, 13) "]\n\t"                 \
    "ldr    r12, [r0, #" MAP3_OFF(J, 15) "]\n\t"                    \
    MAP3_RQ1(J, "r9", PX) MAP3_RQ1(J, "r10", (PX+1)) MAP3_RQ1(J, "r11", (PX+2))
#define MAP3_BIAS_R12(J) "ldr    r12, [r0, #" MAP3_OFF(J, 12) "]\n\t"
/* Channel J: output row 0 from kernel rows 1, 2 over input rows 0, 1; row 1 from kernel rows 0..2 over 0..2;
 * row 2 from kernel rows 0, 1 over input rows 1, 2. */
#define MAP3_CHANNEL(J)                                             \
    "ldrd   r1, r2, [r0, #" MAP3_OFF(J, 0) "]\n\t"                  \
    "ldrd   r3, r4, [r0, #" MAP3_OFF(J, 2) "]\n\t"                  \
    "ldrd   r5, r6, [r0, #" MAP3_OFF(J, 4) "]\n\t"                  \
    MAP3_BIAS_R12(J)                                                \
    MAP3_FIRST(J, 0, "r3", "r4") MAP3_NEXT(J, 1, "r5", "r6")              \
    MAP3_RQ3(J, 0) MAP3_BIAS_R12(J)                                 \
    MAP3_FIRST(J, 0, "r1", "r2") MAP3_NEXT(J, 1, "r3", "r4") MAP3_NEXT(J, 2, "r5", "r6") \
    MAP3_RQ3(J, 3) MAP3_BIAS_R12(J)                                 \
    MAP3_FIRST(J, 1, "r1", "r2") MAP3_NEXT(J, 2, "r3", "r4")              \
    MAP3_RQ3(J, 6)

/* map3_group_asm(rec, o, ch): the 4 channels of a group (map3_group_c's contract), then the output block's 9
 * words stored at o, o + ch, ... o + 8 ch. */
__attribute__((naked, noinline)) static void map3_group_asm(uint32_t *rec, int8_t *o, int32_t ch) {
    (void)rec;
    (void)o;
    (void)ch;
    __asm__ volatile(
        "push   {r1, r2, r4-r11, lr}\n\t"
        MAP3_CHANNEL("0") MAP3_CHANNEL("1") MAP3_CHANNEL("2") MAP3_CHANNEL("3")
        "add    r12, r0, #256\n\t"
        "ldm    r12, {r3-r11}\n\t"
        "ldrd   r1, r2, [sp], #8\n\t"
        "str    r3, [r1]\n\t"
        "str    r4, [r1, r2]\n\t"
        "add    r1, r1, r2, lsl #1\n\t"
        "str    r5, [r1]\n\t"
        "str    r6, [r1, r2]\n\t"
        "add    r1, r1, r2, lsl #1\n\t"
        "str    r7, [r1]\n\t"
        "str    r8, [r1, r2]\n\t"
        "add    r1, r1, r2, lsl #1\n\t"
        "str    r9, [r1]\n\t"
        "str    r10, [r1, r2]\n\t"
        "add    r1, r1, r2, lsl #1\n\t"
        "str    r11, [r1]\n\t"
        "pop    {r4-r11, pc}\n\t");
}
#endif

/* Path MAP3's entry (nn_kernels.h). Scratch: the 4 records of a group and its output block (the larger PLANE3
 * scratch is planned: the fallback's). */
void nn_opt_depthwise_conv2d_s8_map3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    if (!nn_opt_dw3_fused(p, 1)) {   /* clamps, unusual scales or large biases: PLANE3's general form */
        nn_opt_depthwise_conv2d_s8_plane3(p, in, out, scratch);
        return;
    }
    const int32_t ch = p->in_c;
    const uint32_t off2 = 0x00010001u * (uint16_t)(int16_t)p->in_offset;
    uint32_t *rec = (uint32_t *)scratch;
    for (int32_t b = 0; b < p->batches; ++b, in += 9 * ch, out += 9 * ch) {
        for (int32_t c0 = 0; c0 < ch; c0 += 4) {
            map3_group_records(p, in + c0, c0, off2, rec);
#if NN_ASM
            map3_group_asm(rec, out + c0, ch);
#else
            map3_group_c(rec, out + c0, ch);
#endif
        }
    }
}

#else
typedef int nn_opt_depthwise_map3_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
