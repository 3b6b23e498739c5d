/*
 * nn_opt_depthwise_s2pairs.c - DEPTHWISE_CONV_2D path S2PAIRS for Cortex-M with the DSP extension. Contract:
 * nn_kernels.h (nn_depthwise_conv2d_s8, entry nn_opt_depthwise_conv2d_s8_s2pairs); the reference twin is
 * nn_ref_depthwise_conv2d_s8 (nn_ref.c), matched bit for bit. Path: nn_depthwise_conv2d_s8_path (nn_paths.c),
 * where dw_s2pairs_ok (nn_opt_internal.h) holds: 3x3, multiplier 1, no dilation, stride 2 on both axes, no
 * padding above or left, rows of 3, 6 or 12 outputs SAME on an even input row, at most 12 rows, out_c a
 * multiple of 4, the fused requantization (dw3_fused: doubled accumulators, rq_dbl). Scratch
 * (nn_opt_depthwise_conv2d_s8_scratch_bytes): 4 channel records of DW3Q_CH words, then the group's plane of
 * pairs, 4 S2P_ROWW s2p_rows(p) words. Never in place (stride 2).
 *
 * At stride 2 output (i, j) reads input rows 2i .. 2i + 2 and columns 2j .. 2j + 2, so the natural pairs of a
 * channel's input row, E_m = (x_2m, x_2m+1) (int16, input offset added), are each read by one output as its
 * first two taps and by the previous one as its third: with a kernel row's A = (w0, w1) and B = (w1, w2),
 *   acc += SMLAD(A, E_j) + SMLABT(E_j+1, B)          (w0 x_2j + w1 x_2j+1 + w2 x_2j+2)
 * two multiplies per 3 MACs, and every input pixel is built once (no duplication): per 2 pixels of 4 channels
 * 2 loads, PKHBT/PKHTB (the two pixels' channel pairs side by side) and 4 SXTAB16. The taps that lie on
 * padding are skipped: the last output row's kernel row 2 when it lies below the input, the last output of a
 * row's third column when it lies right of it. Per group of 4 channels: the records (dw3q_record4, shared
 * with PLANE3's pairs), the plane (a row of 3, 6 or 12 pairs unrolled), then one assembly function runs the
 * group's channels: rows of 6 and 12 outputs in chunks of 6 with all accumulators in registers (s2p_group6,
 * s2p_group12: 15 instructions per 18 MACs a kernel row), other rows of 3 in chunks of 3 (s2p_group3). A 6x6
 * input to a 3x3 map (MobileNetV1's 6->3 layer) takes one straight-line function per group instead, plane
 * and outputs together on a block of its own (s2p_map33_asm, twin s2p_map33_c). The portable twins (s2p_build,
 * s2p_channel_c) are the host's; they also take VALID and other row lengths, which the path leaves to PLANE3
 * and ROWS3 (measured faster there than this C).
 */
#include "nn_kernels.h"

#include <stddef.h>

#if NN_OPTIMIZED

#include "nn_opt_internal.h"

/* A plane row: the 4 channels' rows of S2P_ROWW words (channel j's at word j S2P_ROWW). */
#define S2P_PROW (4 * S2P_ROWW)
_Static_assert(S2P_ROWW == 12 && DW3Q_BIAS == 6 && DW3Q_RQ == 7 && DW3Q_OSTEP == 10 && DW3Q_X == 11 &&
                   DW3Q_LAST == 14 && DW3Q_CH == 15,
               "the assembly's immediate offsets: a channel row 48 B, a plane row 192 B, the record's words");

#if NN_ASM
/* Two pairs of 4 channels (pixels x .. x + 3 ch) into the plane row at d, pair word offset OFF bytes: 2 pixel
 * words side by side by PKHBT (bytes a0 a1 b0 b1: channels 0, 1) and PKHTB (a2 a3 b2 b3: channels 2, 3), each
 * channel's pair by SXTAB16 with the input offset; 22 instructions per 8 words. */
#define S2P_BUILD2(OFF)                                               \
    "ldr    %[wa], [%[x]]\n\t"                                        \
    "ldr    %[wb], [%[x], %[ch]]\n\t"                                 \
    "add    %[x], %[x], %[ch], lsl #1\n\t"                            \
    "ldr    %[wc], [%[x]]\n\t"                                        \
    "ldr    %[wd], [%[x], %[ch]]\n\t"                                 \
    "add    %[x], %[x], %[ch], lsl #1\n\t"                            \
    "pkhbt  %[t], %[wa], %[wb], lsl #16\n\t"                          \
    "pkhtb  %[wa], %[wb], %[wa], asr #16\n\t"                         \
    "pkhbt  %[wb], %[wc], %[wd], lsl #16\n\t"                         \
    "pkhtb  %[wc], %[wd], %[wc], asr #16\n\t"                         \
    "sxtab16 %[e], %[off2], %[t]\n\t"                                 \
    "sxtab16 %[wd], %[off2], %[wb]\n\t"                               \
    "strd   %[e], %[wd], [%[d], #" #OFF "]\n\t"                       \
    "sxtab16 %[e], %[off2], %[t], ror #8\n\t"                         \
    "sxtab16 %[wd], %[off2], %[wb], ror #8\n\t"                       \
    "strd   %[e], %[wd], [%[d], #48+" #OFF "]\n\t"                    \
    "sxtab16 %[e], %[off2], %[wa]\n\t"                                \
    "sxtab16 %[wd], %[off2], %[wc]\n\t"                               \
    "strd   %[e], %[wd], [%[d], #96+" #OFF "]\n\t"                    \
    "sxtab16 %[e], %[off2], %[wa], ror #8\n\t"                        \
    "sxtab16 %[wd], %[off2], %[wc], ror #8\n\t"                       \
    "strd   %[e], %[wd], [%[d], #144+" #OFF "]\n\t"
/* ... one pair (pixels x, x + ch): 13 instructions per 4 words. */
#define S2P_BUILD1(OFF)                                               \
    "ldr    %[wa], [%[x]]\n\t"                                        \
    "ldr    %[wb], [%[x], %[ch]]\n\t"                                 \
    "add    %[x], %[x], %[ch], lsl #1\n\t"                            \
    "pkhbt  %[t], %[wa], %[wb], lsl #16\n\t"                          \
    "pkhtb  %[wa], %[wb], %[wa], asr #16\n\t"                         \
    "sxtab16 %[e], %[off2], %[t]\n\t"                                 \
    "str    %[e], [%[d], #" #OFF "]\n\t"                              \
    "sxtab16 %[e], %[off2], %[t], ror #8\n\t"                         \
    "str    %[e], [%[d], #48+" #OFF "]\n\t"                           \
    "sxtab16 %[e], %[off2], %[wa]\n\t"                                \
    "str    %[e], [%[d], #96+" #OFF "]\n\t"                           \
    "sxtab16 %[e], %[off2], %[wa], ror #8\n\t"                        \
    "str    %[e], [%[d], #144+" #OFF "]\n\t"
/* The plane of a group from rows of 12, 6 or 3 pairs that are the whole input row (in_w = 2 pairs: the next row
 * follows in memory), a row unrolled: plane rows PAIRS by ROW, 3 instructions per row besides. */
#define S2P_BUILD_FN(NAME, ROW)                                                                           \
    static void NAME(const int8_t *x, int32_t ch, uint32_t *plane, int32_t rows, uint32_t off2) {        \
        uint32_t wa, wb, wc, wd, t, e;                                                                    \
        uint8_t *d = (uint8_t *)plane;                                                                    \
        __asm__ volatile(                                                                                 \
            "1:\n\t"                                                                                      \
            ROW                                                                                           \
            "add    %[d], %[d], #192\n\t"                                                                \
            "subs   %[rows], %[rows], #1\n\t"                                                            \
            "bne    1b\n\t"                                                                              \
            : [x] "+r"(x), [d] "+r"(d), [rows] "+r"(rows), [wa] "=&r"(wa), [wb] "=&r"(wb), [wc] "=&r"(wc), \
              [wd] "=&r"(wd), [t] "=&r"(t), [e] "=&r"(e)                                                  \
            : [ch] "r"(ch), [off2] "r"(off2)                                                              \
            : "cc", "memory");                                                                            \
    }
S2P_BUILD_FN(s2p_build6, S2P_BUILD2(0) S2P_BUILD2(8) S2P_BUILD2(16))
S2P_BUILD_FN(s2p_build12, S2P_BUILD2(0) S2P_BUILD2(8) S2P_BUILD2(16) S2P_BUILD2(24) S2P_BUILD2(32) S2P_BUILD2(40))
S2P_BUILD_FN(s2p_build3, S2P_BUILD2(0) S2P_BUILD1(8))
#endif

/* The plane of a group: rows input rows of `pairs` pairs from x (row step in_row bytes, pixel step ch bytes,
 * in_w pixels a row) into plane (words: channel j's pair m of row r at (r S2P_PROW + j S2P_ROWW + m)), the
 * input offset added (off2: in both halves). A pair whose second pixel lies outside the row (odd in_w) repeats
 * the first: only its low half is read (the third tap of the previous output). The portable twin of
 * s2p_build6 and s2p_build3. */
static void s2p_build(const int8_t *x, int32_t ch, int32_t in_row, int32_t in_w, uint32_t *plane, int32_t rows,
                      int32_t pairs, uint32_t off2) {
    for (int32_t r = 0; r < rows; ++r, x += in_row, plane += S2P_PROW) {
        for (int32_t m = 0; m < pairs; ++m) {
            const int8_t *xa = x + 2 * m * ch;
            const uint32_t wa = nn_read32(xa), wb = 2 * m + 1 < in_w ? nn_read32(xa + ch) : wa;
            const uint32_t t01 = (wa & 0xffffu) | wb << 16, t23 = wa >> 16 | (wb & 0xffff0000u);   /* PKHBT, PKHTB */
            plane[m] = nn_sxtab16(off2, t01);
            plane[S2P_ROWW + m] = nn_sxtab16_ror8(off2, t01);
            plane[2 * S2P_ROWW + m] = nn_sxtab16(off2, t23);
            plane[3 * S2P_ROWW + m] = nn_sxtab16_ror8(off2, t23);
        }
    }
}

/* One channel (record rc, DW3Q_CH words) from its plane rows at q (S2P_PROW words apart): oh x ow outputs
 * from o, ostep bytes apart, requantized by rq_dbl; kernel row 2 of an output row is skipped when it lies at
 * or below in_h, the third tap of a row's last output when `right` (column 2 ow lies on padding). The portable
 * twin of s2p_group. */
static void s2p_channel_c(const uint32_t *rc, const uint32_t *q, int32_t oh, int32_t ow, int32_t in_h, int right,
                          int8_t *o, int32_t ostep) {
    for (int32_t i = 0; i < oh; ++i) {
        const int32_t kyn = 2 * i + 2 < in_h ? 3 : 2;
        for (int32_t j = 0; j < ow; ++j, o += ostep) {
            int32_t acc = (int32_t)rc[DW3Q_BIAS];
            for (int32_t ky = 0; ky < kyn; ++ky) {
                const uint32_t *e = q + (2 * i + ky) * S2P_PROW + j;
                acc = nn_smlad(rc[2 * ky], e[0], acc);
                if (!(right && j == ow - 1)) acc = nn_smlabt(e[1], rc[2 * ky + 1], acc);
            }
            const uint32_t *rq = rc + DW3Q_RQ;
            *o = (int8_t)nn_ssat8(rq_dbl(acc, (int32_t)rq[1], (int32_t)rq[0], (int32_t)rq[2]));
        }
    }
}

#if NN_ASM
/* One kernel row KY (plane row offset 4 S2P_PROW KY bytes) of a chunk of 3 outputs from pair COL: A and B by
 * LDRD, the pairs E_COL .. E_COL+2 by LDRD and LDR; A0 and A1 name the accumulators the first two outputs
 * start from (a2, holding the bias, on the chunk's first kernel row). TAIL: the third output's taps, the last
 * two (S2P_TAIL_EDGE: its third column on padding). 8 instructions per 9 MACs. */
#define S2P_KROW(KY, COL, A0, A1, TAIL)                               \
    "ldrd   %[a], %[b], [%[rc], #8*" #KY "]\n\t"                      \
    "ldrd   %[q0], %[q1], [%[x], #192*" #KY "+4*" #COL "]\n\t"        \
    "smlad  %[a0], %[a], %[q0], %[" A0 "]\n\t"                        \
    "smlabt %[a0], %[q1], %[b], %[a0]\n\t"                            \
    "smlad  %[a1], %[a], %[q1], %[" A1 "]\n\t"                        \
    TAIL(KY, COL)
#define S2P_TAIL_EDGE(KY, COL)                                        \
    "ldr    %[q0], [%[x], #192*" #KY "+4*" #COL "+8]\n\t"             \
    "smlabt %[a1], %[q0], %[b], %[a1]\n\t"                            \
    "smlad  %[a2], %[a], %[q0], %[a2]\n\t"
#define S2P_BIAS "ldr    %[a2], [%[rc], #24]\n\t"
#define S2P_ROWS_ALL(COL, TAIL) S2P_BIAS S2P_KROW(0, COL, "a2", "a2", TAIL) \
    S2P_KROW(1, COL, "a0", "a1", TAIL) S2P_KROW(2, COL, "a0", "a1", TAIL)
#define S2P_ROWS_BOTTOM(COL, TAIL) S2P_BIAS S2P_KROW(0, COL, "a2", "a2", TAIL) S2P_KROW(1, COL, "a0", "a1", TAIL)
/* A chunk: 3 outputs of kernel rows ROWS, requantized and stored (output step from the record). */
#define S2P_CHUNK(ROWS, COL, TAIL) ROWS(COL, TAIL) DW3Q_ASM_STORE3
/* An output row of 3 outputs (the last on padding right); x moves 2 plane rows down. */
#define S2P_ROW3(ROWS) S2P_CHUNK(ROWS, 0, S2P_TAIL_EDGE) "add    %[x], %[x], #384\n\t"
/* Every output row of a group's 4 channels from the first channel's record rc (DW3Q_X: the channel's plane
 * row 0, DW3Q_O: its first output, DW3Q_MID: the output rows with all 3 kernel rows, DW3Q_LAST: bit 0 the last
 * channel, bit 1 a last output row without kernel row 2). */
#define S2P_GROUP_FN(NAME, ROW)                                                                           \
    static void NAME(const uint32_t *rc) {                                                                \
        int32_t a0, a1, a2, cnt;                                                                          \
        uint32_t a, b, q0, q1, x, o;                                                                      \
        __asm__ volatile(                                                                                 \
            "0:\n\t"                                                                                      \
            "ldr    %[x], [%[rc], #44]\n\t"                                                               \
            "ldr    %[o], [%[rc], #48]\n\t"                                                               \
            "ldr    %[cnt], [%[rc], #52]\n\t"                                                             \
            "cmp    %[cnt], #0\n\t"                                                                       \
            "beq    3f\n"                                                                                 \
            "2:\n\t"                                                                                      \
            ROW(S2P_ROWS_ALL)                                                                             \
            "subs   %[cnt], %[cnt], #1\n\t"                                                               \
            "bne    2b\n"                                                                                 \
            "3:\n\t"                                                                                      \
            "ldr    %[q0], [%[rc], #56]\n\t"                                                              \
            "tst    %[q0], #2\n\t"                                                                        \
            "beq    9f\n\t"                                                                               \
            ROW(S2P_ROWS_BOTTOM)                                                                          \
            "9:\n\t"                                                                                      \
            "ldr    %[q0], [%[rc], #56]\n\t"                                                              \
            "add    %[rc], %[rc], #60\n\t"                                                                \
            "tst    %[q0], #1\n\t"                                                                        \
            "beq    0b\n\t"                                                                               \
            : [rc] "+r"(rc), [x] "=&r"(x), [o] "=&r"(o), [cnt] "=&r"(cnt), [a0] "=&r"(a0), [a1] "=&r"(a1), \
              [a2] "=&r"(a2), [a] "=&r"(a), [b] "=&r"(b), [q0] "=&r"(q0), [q1] "=&r"(q1)                  \
            :                                                                                             \
            : "cc", "memory");                                                                            \
    }
S2P_GROUP_FN(s2p_group3, S2P_ROW3)

#endif

/* A 6x6 SAME input to a 3x3 map (MobileNetV1's 6->3 layer): one straight-line naked function per group,
 * s2p_map33_asm(rec, x, ch, off2, o), on a block in the scratch after the 4 records (rec, DW3Q_CH words each:
 * A, B of the kernel rows, bias, R2, multiplier, rs): S2P33_PLANE bytes on, per input row r (48 bytes) the
 * channels' pair triplets E_0, E_1, E_2 (channel j's at 12 j), then S2P33_OUT, the 9 output pixels of 4 channels.
 * Build, per input row of 6 pixels of 4 channels (6 loads, 3 pointer steps): PKHTB (channels 2, 3) and PKHBT
 * (channels 0, 1) of pixels 2m, 2m + 1, SXTAB16 plain and ROR #8, channels 0 and 1's six words by one STM,
 * channels 2 and 3's by another: 29 instructions per row of 4 channels (r1 x, r2 ch, r3 off2, lr the block).
 * Compute, per channel on fixed registers: r0 rec, r1..r6 A0, B0, A1, B1, A2, B2 (one LDM), r7 r8 the pairs,
 * r9..r11 an output row's accumulators, r12 the bias (then rs), lr R2 (bias and R2 by one LDRD, multiplier and
 * rs by another); per output row i and kernel row k with 2 i + k <= 5 (row 6 is padding) one LDRD and one LDR
 * of the triplet and 5 multiplies (the third output's third tap lies on padding), 7 instructions per 8 taps;
 * rq_dbl and a STRB per output into the block, copied out as 9 words at the end. */
#define S2P33_PLANE (4 * 4 * DW3Q_CH)
#define S2P33_OUT (S2P33_PLANE + 6 * 48)
_Static_assert(S2P33_PLANE == 240 && S2P33_OUT == 528, "s2p_map33_asm's immediate offsets");
#if NN_ASM
#define S2P33_BROW                                                    \
    "ldr    r4, [r1]\n\t"                                             \
    "ldr    r7, [r1, r2]\n\t"                                         \
    "add    r1, r1, r2, lsl #1\n\t"                                   \
    "ldr    r5, [r1]\n\t"                                             \
    "ldr    r8, [r1, r2]\n\t"                                         \
    "add    r1, r1, r2, lsl #1\n\t"                                   \
    "ldr    r6, [r1]\n\t"                                             \
    "ldr    r9, [r1, r2]\n\t"                                         \
    "add    r1, r1, r2, lsl #1\n\t"                                   \
    "pkhtb  r10, r7, r4, asr #16\n\t"                                 \
    "pkhbt  r4, r4, r7, lsl #16\n\t"                                  \
    "pkhtb  r11, r8, r5, asr #16\n\t"                                 \
    "pkhbt  r5, r5, r8, lsl #16\n\t"                                  \
    "pkhtb  r12, r9, r6, asr #16\n\t"                                 \
    "pkhbt  r6, r6, r9, lsl #16\n\t"                                  \
    "sxtab16 r7, r3, r4, ror #8\n\t"                                  \
    "sxtab16 r8, r3, r5, ror #8\n\t"                                  \
    "sxtab16 r9, r3, r6, ror #8\n\t"                                  \
    "sxtab16 r4, r3, r4\n\t"                                          \
    "sxtab16 r5, r3, r5\n\t"                                          \
    "sxtab16 r6, r3, r6\n\t"                                          \
    "stm    lr!, {r4-r9}\n\t"                                         \
    "sxtab16 r4, r3, r10\n\t"                                         \
    "sxtab16 r5, r3, r11\n\t"                                         \
    "sxtab16 r6, r3, r12\n\t"                                         \
    "sxtab16 r7, r3, r10, ror #8\n\t"                                 \
    "sxtab16 r8, r3, r11, ror #8\n\t"                                 \
    "sxtab16 r9, r3, r12, ror #8\n\t"                                 \
    "stm    lr!, {r4-r9}\n\t"
/* Kernel row (A, B) over input row R of channel J's output row: RA0..RA2 the accumulators' addends (the bias
 * on the row's first kernel row). */
#define S2P33_KR(J, R, A, B, RA0, RA1, RA2)                           \
    "ldrd   r7, r8, [r0, #(240+48*" #R "+12*" #J ")]\n\t"             \
    "smlad  r9, " A ", r7, " RA0 "\n\t"                               \
    "smlabt r9, r8, " B ", r9\n\t"                                    \
    "smlad  r10, " A ", r8, " RA1 "\n\t"                              \
    "ldr    r7, [r0, #(248+48*" #R "+12*" #J ")]\n\t"                 \
    "smlabt r10, r7, " B ", r10\n\t"                                  \
    "smlad  r11, " A ", r7, " RA2 "\n\t"
#define S2P33_FIRST(J, R, A, B) S2P33_KR(J, R, A, B, "r12", "r12", "r12")
#define S2P33_NEXT(J, R, A, B) S2P33_KR(J, R, A, B, "r9", "r10", "r11")
#define S2P33_BIAS(J) "ldrd   r12, lr, [r0, #(60*" #J "+24)]\n\t"
/* rq_dbl of ACC (R2 lr, multiplier r8, rs r12), stored as byte J of output pixel PX in the block. */
#define S2P33_RQ1(J, ACC, PX)                                         \
    "add    r7, lr, " ACC ", asr #31\n\t"                             \
    "smmlar " ACC ", " ACC ", r8, r7\n\t"                             \
    "asr    " ACC ", " ACC ", r12\n\t"                                \
    "ssat   " ACC ", #8, " ACC "\n\t"                                 \
    "strb   " ACC ", [r0, #(528+4*(" #PX ")+" #J ")]\n\t"
#define S2P33_RQ3(J, PX)                                              \
    "ldrd   r8, r12, [r0, #(60*" #J "+32)]\n\t"                       \
    S2P33_RQ1(J, "r9", PX) S2P33_RQ1(J, "r10", PX + 1) S2P33_RQ1(J, "r11", PX + 2)
#define S2P33_CHANNEL(J, WEIGHTS)                                     \
    WEIGHTS                                                           \
    S2P33_BIAS(J) S2P33_FIRST(J, 0, "r1", "r2") S2P33_NEXT(J, 1, "r3", "r4") S2P33_NEXT(J, 2, "r5", "r6") \
    S2P33_RQ3(J, 0)                                                   \
    S2P33_BIAS(J) S2P33_FIRST(J, 2, "r1", "r2") S2P33_NEXT(J, 3, "r3", "r4") S2P33_NEXT(J, 4, "r5", "r6") \
    S2P33_RQ3(J, 3)                                                   \
    S2P33_BIAS(J) S2P33_FIRST(J, 4, "r1", "r2") S2P33_NEXT(J, 5, "r3", "r4") \
    S2P33_RQ3(J, 6)
#define S2P33_WEIGHTS(J) "add    r7, r0, #(60*" #J ")\n\t" "ldm    r7, {r1-r6}\n\t"
/* s2p_map33_asm(rec, x, ch, off2, o): the group's block from its input at x (pixel step ch), then its 4
 * channels' outputs at o, o + ch, ... o + 8 ch (s2p_map33_c's contract). */
__attribute__((naked, noinline)) static void s2p_map33_asm(uint32_t *rec, const int8_t *x, int32_t ch,
                                                           uint32_t off2, int8_t *o) {
    (void)rec, (void)x, (void)ch, (void)off2, (void)o;
    __asm__ volatile(
        "push   {r2, r4-r11, lr}\n\t"
        "add    lr, r0, #240\n\t"
        S2P33_BROW S2P33_BROW S2P33_BROW S2P33_BROW S2P33_BROW S2P33_BROW
        S2P33_CHANNEL(0, "ldm    r0, {r1-r6}\n\t")
        S2P33_CHANNEL(1, S2P33_WEIGHTS(1))
        S2P33_CHANNEL(2, S2P33_WEIGHTS(2))
        S2P33_CHANNEL(3, S2P33_WEIGHTS(3))
        "add    r12, r0, #528\n\t"
        "ldm    r12, {r3-r11}\n\t"
        "ldr    r1, [sp, #40]\n\t"   /* o, the fifth argument */
        "ldr    r2, [sp], #4\n\t"    /* ch */
        DW3_ASM_STORE_MAP3X3
        "pop    {r4-r11, pc}\n\t");
}
#else
/* The portable twin of s2p_map33_asm: the same block (the triplets, then the output pixels), the same
 * multiply-accumulates and requantization. */
static void s2p_map33_c(uint32_t *rec, const int8_t *x, int32_t ch, uint32_t off2, int8_t *o) {
    uint32_t *e = rec + S2P33_PLANE / 4;
    int8_t *ob = (int8_t *)(void *)(rec + S2P33_OUT / 4);
    for (int32_t r = 0; r < 6; ++r) {
        for (int32_t m = 0; m < 3; ++m, x += 2 * ch) {
            const uint32_t wa = nn_read32(x), wb = nn_read32(x + ch);
            const uint32_t t01 = (wa & 0xffffu) | wb << 16, t23 = wa >> 16 | (wb & 0xffff0000u);   /* PKHBT, PKHTB */
            e[12 * r + m] = nn_sxtab16(off2, t01);
            e[12 * r + 3 + m] = nn_sxtab16_ror8(off2, t01);
            e[12 * r + 6 + m] = nn_sxtab16(off2, t23);
            e[12 * r + 9 + m] = nn_sxtab16_ror8(off2, t23);
        }
    }
    for (int32_t j = 0; j < 4; ++j) {
        const uint32_t *rc = rec + j * DW3Q_CH, *rq = rc + DW3Q_RQ;
        for (int32_t i = 0; i < 3; ++i) {
            int32_t a[3] = {(int32_t)rc[DW3Q_BIAS], (int32_t)rc[DW3Q_BIAS], (int32_t)rc[DW3Q_BIAS]};
            for (int32_t k = 0; k < 3 && 2 * i + k < 6; ++k) {   /* input row 6 lies on padding */
                const uint32_t A = rc[2 * k], B = rc[2 * k + 1], *t = e + 12 * (2 * i + k) + 3 * j;
                a[0] = nn_smlabt(t[1], B, nn_smlad(A, t[0], a[0]));
                a[1] = nn_smlabt(t[2], B, nn_smlad(A, t[1], a[1]));
                a[2] = nn_smlad(A, t[2], a[2]);   /* its third tap lies on padding */
            }
            for (int32_t c = 0; c < 3; ++c) {
                ob[4 * (3 * i + c) + j] = (int8_t)nn_ssat8(rq_dbl(a[c], (int32_t)rq[1], (int32_t)rq[0], (int32_t)rq[2]));
            }
        }
    }
    for (int32_t px = 0; px < 9; ++px) nn_write32(o + px * ch, nn_read32(ob + 4 * px));
}
#endif

#if NN_ASM
/* Rows of 6 outputs keep all 6 accumulators in registers (a naked function on fixed registers: the
 * accumulators r0..r5, A r6, B r7, the pairs r8 r9, the output r10, the plane x r11, the record r12, lr counts
 * the rows), so a kernel row's A and B and the requantization words are loaded once per 6 outputs. One kernel
 * row KY: 3 LDRD of pairs E0 .. E5 (E6 lies on padding), 11 multiply-accumulates; R0 .. R4 name the
 * accumulators outputs 0 .. 4 start from (r5, holding the bias, on the first kernel row). 15 instructions per
 * 18 MACs. */
#define S2P6_KROW(KY, R0, R1, R2, R3, R4, E6)                             \
    "ldrd   r6, r7, [r12, #8*" #KY "]\n\t"                            \
    "ldrd   r8, r9, [r11, #192*" #KY "]\n\t"                          \
    "smlad  r0, r6, r8, " R0 "\n\t"                                   \
    "smlabt r0, r9, r7, r0\n\t"                                       \
    "smlad  r1, r6, r9, " R1 "\n\t"                                   \
    "ldrd   r8, r9, [r11, #192*" #KY "+8]\n\t"                        \
    "smlabt r1, r8, r7, r1\n\t"                                       \
    "smlad  r2, r6, r8, " R2 "\n\t"                                   \
    "smlabt r2, r9, r7, r2\n\t"                                       \
    "smlad  r3, r6, r9, " R3 "\n\t"                                   \
    "ldrd   r8, r9, [r11, #192*" #KY "+16]\n\t"                       \
    "smlabt r3, r8, r7, r3\n\t"                                       \
    "smlad  r4, r6, r8, " R4 "\n\t"                                   \
    "smlabt r4, r9, r7, r4\n\t"                                       \
    "smlad  r5, r6, r9, r5\n\t"                                       \
    E6(KY)
/* E6 of a chunk that is not a row's last: output 5's third tap (2 instructions); none on the last. */
#define S2P6_E6(KY)                                                   \
    "ldr    r8, [r11, #192*" #KY "+24]\n\t"                           \
    "smlabt r5, r8, r7, r5\n\t"
#define S2P6_EDGE(KY)
#define S2P6_FIRST(KY, E6) "ldr    r5, [r12, #24]\n\t" S2P6_KROW(KY, "r5", "r5", "r5", "r5", "r5", E6)
#define S2P6_NEXT(KY, E6) S2P6_KROW(KY, "r0", "r1", "r2", "r3", "r4", E6)
/* rq_dbl of accumulator A (R2 r6, multiplier r7, rr + 1 r9) */
#define S2P6_RQ(A)                                                    \
    "add    r8, r6, " A ", asr #31\n\t"                               \
    "smmlar " A ", " A ", r7, r8\n\t"                                 \
    "asr    " A ", " A ", r9\n\t"                                     \
    "ssat   " A ", #8, " A "\n\t"
/* The 6 outputs requantized and stored (output step r8). */
#define S2P6_STORE                                                    \
    "ldrd   r6, r7, [r12, #28]\n\t"                                   \
    "ldr    r9, [r12, #36]\n\t"                                       \
    S2P6_RQ("r0") S2P6_RQ("r1") S2P6_RQ("r2") S2P6_RQ("r3") S2P6_RQ("r4") S2P6_RQ("r5") \
    "ldr    r8, [r12, #40]\n\t"                                       \
    "strb   r0, [r10]\n\t"                                            \
    "strb   r1, [r10, r8]\n\t"                                        \
    "add    r10, r10, r8, lsl #1\n\t"                                 \
    "strb   r2, [r10]\n\t"                                            \
    "strb   r3, [r10, r8]\n\t"                                        \
    "add    r10, r10, r8, lsl #1\n\t"                                 \
    "strb   r4, [r10]\n\t"                                            \
    "strb   r5, [r10, r8]\n\t"                                        \
    "add    r10, r10, r8, lsl #1\n\t"
/* Output rows of 6 (one chunk, its output 5's third tap on padding) and of 12 outputs (a chunk with E6, x 24
 * bytes on, the last chunk); x then moves 2 plane rows down from the row's start. */
#define S2P6_ALL(E6) S2P6_FIRST(0, E6) S2P6_NEXT(1, E6) S2P6_NEXT(2, E6) S2P6_STORE
#define S2P6_BOTTOM(E6) S2P6_FIRST(0, E6) S2P6_NEXT(1, E6) S2P6_STORE
#define S2P_ROW6(R) R(S2P6_EDGE) "add    r11, r11, #384\n\t"
#define S2P_ROW12(R) R(S2P6_E6) "add    r11, r11, #24\n\t" R(S2P6_EDGE) "add    r11, r11, #360\n\t"
/* The group's 4 channels (records as s2p_group3 reads them). */
#define S2P_GROUP6_FN(NAME, ROW)                                                                          \
    __attribute__((naked, noinline)) static void NAME(const uint32_t *rc) {                               \
        (void)rc;                                                                                         \
        __asm__ volatile(                                                                                 \
            "push   {r4-r11, lr}\n\t"                                                                    \
            "mov    r12, r0\n"                                                                            \
            "0:\n\t"                                                                                     \
            "ldr    r11, [r12, #44]\n\t"                                                                 \
            "ldr    r10, [r12, #48]\n\t"                                                                 \
            "ldr    lr, [r12, #52]\n\t"                                                                  \
            "cmp    lr, #0\n\t"                                                                          \
            "beq    3f\n"                                                                                 \
            "2:\n\t"                                                                                     \
            ROW(S2P6_ALL)                                                                                 \
            "subs   lr, lr, #1\n\t"                                                                      \
            "bne    2b\n"                                                                                 \
            "3:\n\t"                                                                                     \
            "ldr    r8, [r12, #56]\n\t"                                                                  \
            "tst    r8, #2\n\t"                                                                          \
            "beq    9f\n\t"                                                                              \
            ROW(S2P6_BOTTOM)                                                                              \
            "9:\n\t"                                                                                     \
            "ldr    r8, [r12, #56]\n\t"                                                                  \
            "add    r12, r12, #60\n\t"                                                                   \
            "tst    r8, #1\n\t"                                                                          \
            "beq    0b\n\t"                                                                              \
            "pop    {r4-r11, pc}\n\t");                                                                  \
    }
S2P_GROUP6_FN(s2p_group6, S2P_ROW6)
S2P_GROUP6_FN(s2p_group12, S2P_ROW12)
#endif

/* A 6x6 input to a 3x3 map: per group of 4 channels its records, then s2p_map33_asm (a loop of its own: the
 * per-group C work is a visible share of the 81 MACs per channel). */
static void s2p_map33(const nn_conv_params_t *p, const int8_t *in, int8_t *out, uint32_t *rec) {
    const int32_t ch = p->in_c;
    const uint32_t off2 = nn_dup16(p->in_offset);
    for (int32_t b = 0; b < p->batches; ++b, in += 36 * ch, out += 9 * ch) {
        for (int32_t c0 = 0; c0 < ch; c0 += 4) {
            dw3q_record4(p, c0, rec);
#if NN_ASM
            s2p_map33_asm(rec, in + c0, ch, off2, out + c0);
#else
            s2p_map33_c(rec, in + c0, ch, off2, out + c0);
#endif
        }
    }
}

/* Path S2PAIRS, the fused form. Per group of 4 channels: the records, the plane of pairs, the outputs. */
static void s2p_body(const nn_conv_params_t *p, const int8_t *in, int8_t *out, uint32_t *rec, uint32_t *plane) {
    const int32_t ch = p->in_c, oh = p->out_h, ow = p->out_w, rows = s2p_rows(p), pairs = s2p_pairs(p);
    const int bottom = 2 * oh >= p->in_h, right = 2 * ow >= p->in_w;
    const uint32_t off2 = nn_dup16(p->in_offset);
    for (int32_t j = 0; j < 4; ++j) {   /* the words every group shares */
        uint32_t *rc = rec + j * DW3Q_CH;
        rc[DW3Q_OSTEP] = (uint32_t)ch;
        rc[DW3Q_MID] = (uint32_t)(oh - bottom);
        rc[DW3Q_LAST] = (uint32_t)(j == 3) | (uint32_t)bottom << 1;
        rc[DW3Q_X] = (uint32_t)(uintptr_t)(plane + j * S2P_ROWW);   /* (every group's plane is the same) */
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * p->in_h * p->in_w * ch;
        int8_t *ob = out + b * oh * ow * ch;
        for (int32_t c0 = 0; c0 < ch; c0 += 4) {
            dw3q_record4(p, c0, rec);
#if NN_ASM
            if (p->in_w == 2 * ow && (ow == 3 || ow == 6 || ow == 12)) {   /* (always: dw_s2pairs_ok) */
                if (ow == 3) {
                    s2p_build3(img + c0, ch, plane, rows, off2);
                } else if (ow == 6) {
                    s2p_build6(img + c0, ch, plane, rows, off2);
                } else {
                    s2p_build12(img + c0, ch, plane, rows, off2);
                }
                for (int32_t j = 0; j < 4; ++j) rec[j * DW3Q_CH + DW3Q_O] = (uint32_t)(uintptr_t)(ob + c0 + j);
                if (ow == 3) {
                    s2p_group3(rec);
                } else if (ow == 6) {
                    s2p_group6(rec);
                } else {
                    s2p_group12(rec);
                }
                continue;
            }
#endif
            s2p_build(img + c0, ch, p->in_w * ch, p->in_w, plane, rows, pairs, off2);
            for (int32_t j = 0; j < 4; ++j) {
                s2p_channel_c(rec + j * DW3Q_CH, plane + j * S2P_ROWW, oh, ow, p->in_h, right, ob + c0 + j, ch);
            }
        }
    }
}

/* The entry of path S2PAIRS (nn_kernels.h); scratch: the 4 records, then the plane. */
void nn_opt_depthwise_conv2d_s8_s2pairs(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    uint32_t *rec = (uint32_t *)scratch;
    if (p->in_h == 6 && p->in_w == 6 && p->out_h == 3 && p->out_w == 3) {   /* (s2p_map33_asm's block) */
        s2p_map33(p, in, out, rec);
        return;
    }
    s2p_body(p, in, out, rec, rec + 4 * DW3Q_CH);
}

#else
typedef int nn_opt_depthwise_s2pairs_unused_t;   /* ISO C: no empty translation unit */
#endif /* NN_OPTIMIZED */
