/*
 * nn_paths.c - which path each optimized kernel takes, the scratch it needs and the kernel
 * ABI version. Contract: nn_kernels.h ("Kernel ABI version", "Paths of the optimized
 * kernels", "*_scratch_bytes").
 *
 * These are pure functions of a kernel's parameters, compiled in every build (reference or
 * optimized, any target): the kernels call them to choose their path, the model compiler
 * queries them through a host-built library (models/compiler/kernel_facts.py) to plan the
 * scratch, and a model container can check a layer's scratch before it runs. They are the
 * one source of these facts.
 */
#include "nn_kernels.h"
#include "nn_opt_internal.h"

uint32_t nn_kernel_abi_version(void) { return NN_KERNEL_ABI_VERSION; }

/* -shift within [lo, hi] exactly when both -lo - shift and shift + hi (their sum is hi - lo >= 0) are
 * non-negative: one is negative otherwise. Their sign bits are OR-ed over the array without branches
 * (the kernels ask once per call, over every output channel). */
int nn_opt_right_shifts_within(const int32_t *shift, int32_t count, int32_t lo, int32_t hi) {
    uint32_t signs = 0;
    int32_t i = 0;
    for (; i + 4 <= count; i += 4) {   /* four per step: the loop's own instructions amortized */
        const int32_t a = shift[i], b = shift[i + 1], c = shift[i + 2], d = shift[i + 3];
        signs |= (uint32_t)(-lo - a) | (uint32_t)(a + hi) | (uint32_t)(-lo - b) | (uint32_t)(b + hi) |
                 (uint32_t)(-lo - c) | (uint32_t)(c + hi) | (uint32_t)(-lo - d) | (uint32_t)(d + hi);
    }
    for (; i < count; ++i) signs |= (uint32_t)(-lo - shift[i]) | (uint32_t)(shift[i] + hi);
    return (signs >> 31) == 0;
}

/* Exponents of a convolution (one, or one per output channel) all right shifts of lo..hi. */
static int conv_shifts_within(const nn_conv_params_t *p, int32_t lo, int32_t hi) {
    return nn_opt_right_shifts_within(p->shift, p->per_channel ? p->out_c : 1, lo, hi);
}

/* Whether a convolution's accumulators stay within the wide records' doubled form (nn_opt_internal.h:
 * WIDE_BIAS_MAX, WIDE_K_MAX); no bias counts as 0. */
static int conv_wide_acc_ok(const nn_conv_params_t *p) {
    if (p->k_h * p->k_w * p->in_c > WIDE_K_MAX) return 0;
    if (!p->bias) return 1;
    uint32_t big = 0;
    for (int32_t c = 0; c < p->out_c; ++c) {   /* |bias| >= 2^28 exactly when bits 28..31 are not all equal */
        const uint32_t b = (uint32_t)p->bias[c];
        big |= (b + (uint32_t)WIDE_BIAS_MAX) & ~(uint32_t)(2 * WIDE_BIAS_MAX - 1);
    }
    return big == 0;
}

/* Convolution. First layers (in_c not a multiple of 4, at most SMALL_K_MAX taps) widen their
 * weights once per call: up to 10 taps the column stays in registers, in per-channel records
 * with the fused requantization when every exponent is a right shift of 2..23 (the zero
 * point rides in the 64-bit addend) and no clamp is narrower than int8, and then a 3x3
 * grayscale layer runs a row of windows per assembly block; longer columns (RGB) in that
 * fused form with an even channel count take the wide records (SMALL_K_WIDE). Inner layers: with k_len a
 * multiple of 4, the same exponent range and no clamp, the 2x2 block requantizes in its
 * assembly (FUSED), and with wide_weights set and at least 2 output channels the weights
 * are widened to int16 once per call (WIDE); otherwise the block requantizes in C. Both wide
 * paths also need every |bias| below 2^28 and at most 8192 taps (conv_wide_acc_ok: their doubled
 * accumulators). */
nn_conv_path_t nn_conv2d_s8_path(const nn_conv_params_t *p) {
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    const int clamp = p->act_min > -128 || p->act_max < 127;
    const int fused_rq = !clamp && conv_shifts_within(p, 2, 23);
    if (small_k(p)) {
        if (!small_k_reg(k_len)) {
            return fused_rq && (p->out_c & 1) == 0 && conv_wide_acc_ok(p) ? NN_CONV_PATH_SMALL_K_WIDE
                                                                           : NN_CONV_PATH_SMALL_K;
        }
        if (!fused_rq) return NN_CONV_PATH_SMALL_K_REG;
        return gray3(p) ? NN_CONV_PATH_GRAY3 : NN_CONV_PATH_SMALL_K_REC;
    }
    if (!fused_rq || (k_len & 3) != 0) return NN_CONV_PATH_IM2COL;
    return p->wide_weights && p->out_c >= 2 && conv_wide_acc_ok(p) ? NN_CONV_PATH_WIDE : NN_CONV_PATH_FUSED;
}

/* The path by shape alone: every rule of nn_depthwise_conv2d_s8_path below but S2PAIRS, whose fused form also
 * depends on the biases and exponents. Stride 2 is never in place, so this alone decides
 * nn_depthwise_conv2d_s8_in_place, and a reference build, which asks only that, links no requantization scan. */
static nn_dw_path_t dw_shape_path(const nn_conv_params_t *p) {
    if (p->depth_mult != 1) return NN_DW_PATH_MULTIPLIER;
    if (p->k_h != 3 || p->k_w != 3 || p->dil_h != 1 || p->dil_w != 1) return NN_DW_PATH_CHANNELS;
    const int s12 = (p->stride_h == 1 || p->stride_h == 2) && (p->stride_w == 1 || p->stride_w == 2);
    if (s12 && p->out_h <= DW_PLANE3_MAX && p->out_w <= DW_PLANE3_MAX) {
        return dw_map3(p) ? NN_DW_PATH_MAP3 : NN_DW_PATH_PLANE3;
    }
    const int tr = dw_rows3_transposed(p);
    const int32_t along = tr ? p->stride_h : p->stride_w, n_out = tr ? p->out_h : p->out_w;
    return (along == 1 || along == 2) && n_out >= 4 ? NN_DW_PATH_ROWS3 : NN_DW_PATH_CHANNELS;
}

/* Depthwise. 3x3 without dilation at multiplier 1: on small maps (at most DW_PLANE3_MAX outputs along
 * each side, stride 1 or 2 on both axes) PLANE3: a padded plane per
 * group of 4 channels makes every window interior (on 6x6 maps ROWS3's per-line work over 6 outputs, on
 * 3x3 maps CHANNELS' border pixels cost more: measured under QEMU on MobileNetV1's 6x6x128 and 3x3x256
 * layers). Otherwise ROWS3 (lines of int16 pairs for SMLAD, four outputs per assembly pass) when its
 * lines hold at least 4 outputs (one pass; the lines are the rows, or the columns of a taller than wide
 * output) at stride 1 or 2 along them; else CHANNELS. PLANE3's SAME stride-1 layers on 3x3 maps with whole
 * groups of 4 channels take MAP3 (straight-line groups of 4 channels). Before PLANE3 and ROWS3, stride 2 without
 * padding above or left on rows of 3, 6 or 12 outputs, SAME on an even row, at most 12 rows (dw_s2pairs_ok)
 * takes S2PAIRS: same-channel pairs, no padded plane (measured under QEMU on MobileNetV1's 12->6, 6->3 and
 * 24->12 layers). */
nn_dw_path_t nn_depthwise_conv2d_s8_path(const nn_conv_params_t *p) {
    const nn_dw_path_t shape = dw_shape_path(p);
    return (shape == NN_DW_PATH_PLANE3 || shape == NN_DW_PATH_ROWS3) && dw_s2pairs_ok(p) ? NN_DW_PATH_S2PAIRS : shape;
}

/* In place: on ROWS3 the optimized kernel keeps every input line a later output line still reads in its
 * ring (at stride 1, output line l overwrites input line l after input lines l - 1 .. l + 1 were gathered,
 * and the next line gathers only input line l + 2); on PLANE3 a group's 4 channels are copied whole into
 * the plane before its outputs overwrite them, on MAP3 into its block. The reference kernel copies an input
 * channel into scratch. */
int nn_depthwise_conv2d_s8_in_place(const nn_conv_params_t *p) {
    const nn_dw_path_t path = dw_shape_path(p);
    if (path == NN_DW_PATH_MAP3) return 1;   /* (stride 1, 3x3 in and out) */
    return (path == NN_DW_PATH_ROWS3 || path == NN_DW_PATH_PLANE3) && p->stride_h == 1 && p->stride_w == 1 &&
           p->out_h == p->in_h && p->out_w == p->in_w;
}

/* The reference kernel's scratch in place: one input channel (in_h x in_w bytes). */
static size_t dw_plane_bytes(const nn_conv_params_t *p) {
    return nn_depthwise_conv2d_s8_in_place(p) ? (size_t)align4(p->in_h * p->in_w) : 0u;
}

/* Fully connected. At most FC_DIRECT_MAX_ROWS outputs: the input is widened in registers (no
 * scratch). Else it is widened once into scratch; when its length is a multiple of 8 (the
 * four-row loop's step) and every exponent is a right shift of 2..31 (rq_fast's range: rq_fast_zp
 * in assembly), path FUSED. */
nn_fc_path_t nn_fc_s8_path(const nn_fc_params_t *p) {
    if (p->out_features <= FC_DIRECT_MAX_ROWS) return NN_FC_PATH_DIRECT;
    const int fused = (p->in_features & 7) == 0 && rq_fast_ok(p->shift, p->per_channel ? p->out_features : 1);
    return fused ? NN_FC_PATH_FUSED : NN_FC_PATH_WIDENED;
}

nn_max_pool_path_t nn_max_pool_s8_path(const nn_pool_params_t *p) {
    const int two = p->k_h == 2 && p->k_w == 2 && p->stride_h == 2 && p->stride_w == 2 && p->pad_top == 0 &&
                    p->pad_left == 0 && (p->channels & 3) == 0 && 2 * p->out_h <= p->in_h &&
                    2 * p->out_w <= p->in_w;
    if (!two) return NN_MAX_POOL_PATH_WINDOWS;
    const int clamp = p->act_min > -128 || p->act_max < 127;
    return clamp || p->out_w <= 0 ? NN_MAX_POOL_PATH_2X2 : NN_MAX_POOL_PATH_2X2_ROWS;
}

/* ADD: the tables make the rescaling of each input a load; with an output right shift of 1..23
 * (zero point folded into the rounding addend) and no clamp narrower than int8 (a ReLU at output
 * zero point -128 clamps nothing more), the sum is requantized with SMMLAR, ADD, ASR and SSAT. */
nn_add_path_t nn_add_s8_path(const nn_binary_params_t *p) {
    int32_t dense = 1;
    for (int d = 3; d >= 0; --d) {
        if (p->in1_strides[d] != dense || p->in2_strides[d] != dense) {
            if (p->out_dims[d] != 1) return NN_ADD_PATH_BROADCAST;
        }
        dense *= p->out_dims[d];
    }
    if (p->in1_table == NULL || p->in2_table == NULL) return NN_ADD_PATH_BROADCAST;
    const int no_clamp = p->act_min <= -128 && p->act_max >= 127;   /* also a ReLU at output zero point -128 */
    if (p->out_shift <= -1 && p->out_shift >= -23 && no_clamp) return NN_ADD_PATH_FUSED;
    return NN_ADD_PATH_TABLES;
}

void nn_add_s8_rescale_table(int32_t in_offset, int32_t left_shift, int32_t mult, int32_t shift, int32_t *table) {
    for (int32_t x = -128; x < 128; ++x) {
        const int32_t a = nn_fx_shl(in_offset + x, left_shift);
        table[x + 128] = (int32_t)((uint32_t)nn_fx_requantize(a, mult, shift) * 2u);
    }
}

/* Two int16 im2col columns of k_len taps (padded to a multiple of 4), the requantization
 * table, and per path: the small-K weights (records, or int16 pairs) plus a 3x3 grayscale
 * layer's strip; or one block of wide records (all of them and two byte patches for
 * SMALL_K_WIDE). */
size_t nn_opt_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) {
    const int32_t k_len = p->k_h * p->k_w * p->in_c;
    int32_t extra = 0;
    switch (nn_conv2d_s8_path(p)) {
    case NN_CONV_PATH_SMALL_K:
    case NN_CONV_PATH_SMALL_K_REG:
    case NN_CONV_PATH_SMALL_K_REC:
    case NN_CONV_PATH_GRAY3:
        extra = 4 * small_k_words(k_len) * p->out_c + gray3_strip_bytes(p);
        break;
    case NN_CONV_PATH_SMALL_K_WIDE:   /* every pair's records, then two byte patches of the padded taps */
        extra = 4 * WIDE_REC_WORDS(align4(k_len) >> 2) * (p->out_c >> 1) + 2 * align4(k_len);
        break;
    case NN_CONV_PATH_WIDE:
        extra = 4 * WIDE_REC_WORDS(k_len >> 2) * wide_block_pairs(p);
        break;
    case NN_CONV_PATH_IM2COL:
    case NN_CONV_PATH_FUSED:
        break;
    }
    return (size_t)(2 * 2 * align4(k_len) + 4 * RQ_WORDS * p->out_c + extra);
}

/* On path ROWS3 the records of a group of (at most) 4 channels and a ring of 3 slots of 4 int16 lines
 * (dw_rows3_len each); otherwise the requantization table, then the biases with the input offset folded in,
 * on path CHANNELS with a 3x3 kernel the widened weights of each group of 4 channels; on path PLANE3
 * the record of a group of 4 channels and its widened padded plane, or where it takes the pairs
 * (dw3q_pairs_ok) 4 channel records and 4 planes of pairs if they need more; on path MAP3 a group's words and
 * its output block; on path S2PAIRS 4 channel records and the group's plane of pairs (no table). At least one
 * input channel when it may run in place (either build runs in it). */
size_t nn_opt_depthwise_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) {
    const nn_dw_path_t path = nn_depthwise_conv2d_s8_path(p);
    size_t bytes;
    if (path == NN_DW_PATH_ROWS3) {
        bytes = (size_t)(4 * DW3_REC * dw_rows3_group(p) + 3 * 4 * 2 * dw_rows3_len(p));
    } else if (path == NN_DW_PATH_MAP3) {
        bytes = (size_t)(4 * MAP3_WORDS + MAP3_OUT);
    } else if (path == NN_DW_PATH_S2PAIRS) {   /* 4 channel records, the group's plane of pairs */
        bytes = (size_t)(4 * 4 * DW3Q_CH + 4 * 4 * S2P_ROWW * s2p_rows(p));
    } else if (path == NN_DW_PATH_PLANE3) {
        const size_t plane = (size_t)(4 * DW3P_REC + 8 * dw_plane3_h(p) * dw_plane3_w(p));
        const size_t pairs = dw3q_pairs_ok(p) ? (size_t)(4 * 4 * DW3Q_CH + 4 * 4 * dw_plane3_words(p)) : 0u;
        bytes = 4 * RQ_WORDS * (size_t)p->out_c + (pairs > plane ? pairs : plane);
    } else {
        bytes = (size_t)(4 * (RQ_WORDS + 1) * p->out_c + (path == NN_DW_PATH_CHANNELS ? dw_k33_bytes(p) : 0));
    }
    return bytes > dw_plane_bytes(p) ? bytes : dw_plane_bytes(p);
}

/* The input vector widened to int16 with its offset added, on the widened path. */
size_t nn_opt_fc_s8_scratch_bytes(const nn_fc_params_t *p) {
    return nn_fc_s8_path(p) == NN_FC_PATH_DIRECT ? 0u : (size_t)(2 * align4(p->in_features));
}

#if NN_OPTIMIZED
size_t nn_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) { return nn_opt_conv2d_s8_scratch_bytes(p); }
size_t nn_depthwise_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) {
    return nn_opt_depthwise_conv2d_s8_scratch_bytes(p);
}
size_t nn_fc_s8_scratch_bytes(const nn_fc_params_t *p) { return nn_opt_fc_s8_scratch_bytes(p); }
#else
size_t nn_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) { (void)p; return 0; }
size_t nn_depthwise_conv2d_s8_scratch_bytes(const nn_conv_params_t *p) { return dw_plane_bytes(p); }
size_t nn_fc_s8_scratch_bytes(const nn_fc_params_t *p) { (void)p; return 0; }
#endif
