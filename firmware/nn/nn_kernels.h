/*
 * nn_kernels.h - int8 neural-network kernels with TFLite Micro semantics.
 *
 * Purpose: the operations a compiled model (see nn_model.h) is made of. The
 * model compiler (`edgeloop compile`) turns every layer of a .tflite file into
 * one call of a kernel below with a const parameter struct it precomputed:
 * requantization multipliers and shifts, activation bounds, padding, strides.
 * No kernel allocates, uses floating point (except QUANTIZE/DEQUANTIZE of a
 * float tensor) or keeps state.
 *
 * Contract:
 *   - Tensors are dense and row-major (NHWC for 4-D), int8 unless stated.
 *   - Results are bit-exact with the TFLite Micro reference kernels, including
 *     their double rounding: requantization is
 *         nn_requantize(acc, mult, shift)
 *       = rounding_shift_right(SRDHM(acc << max(shift,0), mult), max(-shift,0)).
 *   - Two implementations share this contract: the reference kernels
 *     (nn_ref.c, plain loops: the specification) and the optimized kernels
 *     (nn_opt_*.c, one file per kernel family, for Cortex-M cores with the DSP
 *     extension, two MACs per instruction; nn_paths.c chooses their paths). NN_OPTIMIZED selects them at compile time: it defaults to
 *     1 when the compiler defines __ARM_FEATURE_DSP and to 0 otherwise;
 *     pass -DNN_OPTIMIZED=1 on any host to run the optimized code through a
 *     portable C model of the DSP intrinsics (nn_dsp.h).
 *   - `scratch` is caller-provided working memory of at least the size the
 *     matching *_scratch_bytes() function returns (4-byte aligned); it may be
 *     NULL when that size is 0. The compiler plans scratch in the model arena.
 *   - In place: nn_add_s8 and nn_mul_s8 may write over an input whose shape
 *     equals the output's; nn_softmax_s8, nn_logistic_s8, nn_requantize_s8 and
 *     nn_copy may write over their input; nn_depthwise_conv2d_s8 may when
 *     nn_depthwise_conv2d_s8_in_place() says so. Other kernels need disjoint buffers.
 *
 * Example (a 1x1 convolution, 8 -> 4 channels, on a 2x2 image):
 *
 *     static const int8_t w[4 * 8] = {...};           // OHWI
 *     static const int32_t b[4] = {...}, m[4] = {...}, s[4] = {...};
 *     static const nn_conv_params_t p = {
 *         .batches = 1, .in_h = 2, .in_w = 2, .in_c = 8,
 *         .out_h = 2, .out_w = 2, .out_c = 4, .k_h = 1, .k_w = 1,
 *         .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1,
 *         .in_offset = 128, .out_offset = -5, .act_min = -128, .act_max = 127,
 *         .weights = w, .bias = b, .mult = m, .shift = s, .per_channel = 1};
 *     int8_t x[2 * 2 * 8], y[2 * 2 * 4];
 *     static int32_t scratch[64];   // >= nn_conv2d_s8_scratch_bytes(&p)
 *     nn_conv2d_s8(&p, x, y, scratch);
 */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifndef NN_OPTIMIZED
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define NN_OPTIMIZED 1
#else
#define NN_OPTIMIZED 0
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* CONV_2D and DEPTHWISE_CONV_2D. Weights: conv OHWI [out_c, k_h, k_w, in_c];
 * depthwise [1, k_h, k_w, out_c] with out_c = in_c * depth_mult and output
 * channel m + ic * depth_mult reading input channel ic. */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;   /* padding before the first row/column */
    int32_t depth_mult;          /* depthwise only, else 1 */
    int32_t in_offset;           /* -(input zero point) */
    int32_t out_offset;          /* output zero point */
    int32_t act_min, act_max;    /* fused activation bounds, quantized */
    const int8_t *weights;
    const int32_t *bias;         /* out_c entries, or NULL */
    const int32_t *mult;         /* Q31 multipliers, out_c entries or 1 */
    const int32_t *shift;        /* exponents (>0: left), as many as mult */
    int32_t per_channel;         /* 1: mult/shift indexed by channel, 0: entry 0 */
    int32_t wide_weights;        /* n >= 1: the optimized conv may widen its weights to int16 in
                                  * scratch (faster, more scratch: see *_scratch_bytes()), its
                                  * output channel pairs in n blocks of ceil(pairs / n), one block
                                  * at a time (n > 1: 1/n of the scratch, the input re-read per
                                  * block); 0 (the default): not. Results are the same either way. */
} nn_conv_params_t;

/* FULLY_CONNECTED: out[b][o] = requant(sum_i w[o][i] * (x[b][i] + in_offset) + bias[o]). */
typedef struct {
    int32_t batches, in_features, out_features;
    int32_t in_offset, out_offset, act_min, act_max;
    const int8_t *weights;       /* [out_features, in_features] */
    const int32_t *bias;         /* out_features entries, or NULL */
    const int32_t *mult;
    const int32_t *shift;
    int32_t per_channel;
} nn_fc_params_t;

/* MAX_POOL_2D and AVERAGE_POOL_2D (input and output share quantization). */
typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int32_t act_min, act_max;
} nn_pool_params_t;

/* MEAN over `reduce` contiguous elements: input viewed as [outer, reduce, inner].
 * Always requantizes (as TFLM does, even when input and output share scales). */
typedef struct {
    int32_t outer, reduce, inner;
    int32_t zp_times_count;      /* (int32)(input zero point * reduce) */
    int32_t mult, shift;         /* already divided by `reduce` (TFLM's rescaling) */
    int32_t out_offset;
} nn_mean_params_t;

/* ADD and MUL with 4-D broadcasting: element (n,h,w,c) of the output reads
 * in1[n*s1[0] + h*s1[1] + w*s1[2] + c*s1[3]] (stride 0 on a broadcast axis). */
typedef struct {
    int32_t out_dims[4];
    int32_t in1_strides[4], in2_strides[4];
    int32_t in1_offset, in2_offset, out_offset;  /* -zp1, -zp2, zp_out */
    int32_t left_shift;                          /* ADD: 20 */
    int32_t in1_mult, in1_shift, in2_mult, in2_shift;  /* ADD only */
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
    /* ADD, optional (NULL: not used): per input, 256 entries indexed by x + 128, entry = 2 x the
     * input rescaled to the common scale, requant((x + offset) << left_shift, mult, shift), as
     * nn_add_s8_rescale_table() fills it. The optimized ADD then reads each input's rescaling
     * instead of computing it; the reference kernel ignores the tables. */
    const int32_t *in1_table, *in2_table;
} nn_binary_params_t;

/* SOFTMAX over the last axis (int8 in, int8 out with scale 1/256, zp -128). */
typedef struct {
    int32_t outer, depth;
    int32_t input_mult, input_left_shift, diff_min;
} nn_softmax_params_t;

/* LOGISTIC (int8 in, int8 out with scale 1/256, zp -128). */
typedef struct {
    int32_t size, in_zp, radius, mult, left_shift;
} nn_logistic_params_t;

/* PAD of a 4-D tensor with a constant (the output zero point). */
typedef struct {
    int32_t in_dims[4], out_dims[4], before[4];
    int32_t pad_value;
    int32_t elem_bytes;
} nn_pad_params_t;

/* CONCATENATION: input i is [outer, part_bytes[i]] bytes, output [outer, sum]. */
#define NN_CONCAT_MAX_INPUTS 16
typedef struct {
    int32_t outer, count;
    int32_t part_bytes[NN_CONCAT_MAX_INPUTS];
} nn_concat_params_t;

/* QUANTIZE float32 -> int8 and DEQUANTIZE int8 -> float32. */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} nn_affine_params_t;

/* QUANTIZE int8 -> int8, RELU and RELU6: clamp(requant(x - in_zp) + out_zp, act_min, act_max). */
typedef struct {
    int32_t size, in_zp, out_zp, mult, shift, act_min, act_max;
} nn_requant_params_t;

/* Kernel ABI version: the layout of the parameter structs above, the kernels' entry points,
 * their semantics and their scratch sizes (*_scratch_bytes below). Generated models assert it
 * at compile time; a model container made for another version must be refused. Bump it on any
 * change of those. nn_kernel_abi_version() returns the version the kernels were built with. */
#define NN_KERNEL_ABI_VERSION 8u
uint32_t nn_kernel_abi_version(void);

/* Paths of the optimized kernels. Each kernel chooses its path with one function below
 * (nn_paths.c: pure functions of the parameters, compiled in every build, so a host tool
 * can ask which path and how much scratch a layer takes). The reference build ignores them. */
typedef enum {
    NN_CONV_PATH_IM2COL = 0,       /* inner layer: int16 column pair, 2 channel x 2 pixel blocks, C requantization */
    NN_CONV_PATH_FUSED = 1,        /* ... the block requantizes and stores in its assembly (fast form, no clamp) */
    NN_CONV_PATH_WIDE = 2,         /* ... weights widened to int16 in scratch once per call (wide_weights set) */
    NN_CONV_PATH_SMALL_K = 3,      /* first layer (in_c % 4 != 0, <= 32 taps): linear column, two pixels per pass */
    NN_CONV_PATH_SMALL_K_REG = 4,  /* first layer of <= 10 taps: column in registers, C requantization */
    NN_CONV_PATH_SMALL_K_REC = 5,  /* ... per-channel records with the fused requantization */
    NN_CONV_PATH_GRAY3 = 6,        /* 3x3 grayscale first layer: a row of windows per assembly block */
    NN_CONV_PATH_SMALL_K_WIDE = 7  /* first layer of 11..32 taps (e.g. 3x3 RGB), fused form, even out_c: the
                                    * taps padded to a multiple of 4 through the WIDE records and loop */
} nn_conv_path_t;

typedef enum {
    NN_DW_PATH_CHANNELS = 0,       /* depth multiplier 1: four channels per pass, interior 3x3 unrolled */
    NN_DW_PATH_MULTIPLIER = 1,     /* depth multiplier > 1: each input value feeds its output channels */
    NN_DW_PATH_ROWS3 = 2,          /* 3x3, multiplier 1, no dilation, lines (rows, or columns of a taller than
                                    * wide output) of >= 4 outputs at stride 1 or 2 along them: groups of 4
                                    * channels gathered into a ring of 3 int16 lines, SMLAD on tap pairs */
    NN_DW_PATH_PLANE3 = 3,         /* 3x3, multiplier 1, no dilation, stride 1 or 2, small maps (<= DW_PLANE3_MAX
                                    * outputs along each side): a group of 4 channels copied into a padded
                                    * plane, every window then interior (9 taps unrolled, 4 channels a pass) */
    NN_DW_PATH_MAP3 = 4,           /* PLANE3's layers that are SAME at stride 1 on a 3x3 map, out_c % 4 == 0: a
                                    * straight-line assembly function per group of 4 channels on int16 pairs */
    NN_DW_PATH_S2PAIRS = 5         /* 3x3, multiplier 1, no dilation, stride 2, no padding above or left, rows of
                                    * 3, 6 or 12 outputs (in_w = 2 out_w), <= 12 rows, out_c % 4 == 0, fused
                                    * requantization: same-channel int16 pairs (x_2m, x_2m+1), SMLAD + SMLABT
                                    * per kernel row */
} nn_dw_path_t;

typedef enum {
    NN_FC_PATH_DIRECT = 0,         /* <= 8 outputs: the input widened in registers, no scratch */
    NN_FC_PATH_WIDENED = 1,        /* the input widened once into scratch, two rows per pass */
    NN_FC_PATH_FUSED = 2           /* WIDENED with input length a multiple of 8 and right shifts of 2..31:
                                    * four rows per pass, requantized in assembly */
} nn_fc_path_t;

typedef enum {
    NN_ADD_PATH_BROADCAST = 0,     /* broadcasting or no tables: the reference loop */
    NN_ADD_PATH_TABLES = 1,        /* same shapes, tables: requantization of the sum in C */
    NN_ADD_PATH_FUSED = 2          /* ... output right shift 1..23, no clamp: SMMLAR, ADD, ASR, SSAT */
} nn_add_path_t;

typedef enum {
    NN_MAX_POOL_PATH_WINDOWS = 0,  /* any window: bounds per pixel, 4 channels per word */
    NN_MAX_POOL_PATH_2X2 = 1,      /* 2x2 stride 2, every window inside, 4 channels per word */
    NN_MAX_POOL_PATH_2X2_ROWS = 2  /* ... without a clamp: a row of output words per assembly loop */
} nn_max_pool_path_t;

nn_conv_path_t nn_conv2d_s8_path(const nn_conv_params_t *p);
nn_dw_path_t nn_depthwise_conv2d_s8_path(const nn_conv_params_t *p);
nn_fc_path_t nn_fc_s8_path(const nn_fc_params_t *p);
nn_max_pool_path_t nn_max_pool_s8_path(const nn_pool_params_t *p);
nn_add_path_t nn_add_s8_path(const nn_binary_params_t *p);

/* Whether nn_depthwise_conv2d_s8 may write over its input (out == in): 3x3 layers on path ROWS3, PLANE3 or MAP3
 * at stride 1 whose output has the input's shape. Either build then needs the scratch *_scratch_bytes() states (the
 * reference kernel copies one input channel at a time into it). */
int nn_depthwise_conv2d_s8_in_place(const nn_conv_params_t *p);

/* Fill table[256] for one ADD input (see nn_binary_params_t.in1_table): the compiler calls it
 * on the host to emit the tables as constants. */
void nn_add_s8_rescale_table(int32_t in_offset, int32_t left_shift, int32_t mult, int32_t shift, int32_t *table);

/* The building blocks every kernel shares (TFLM's MultiplyByQuantizedMultiplier). */
int32_t nn_srdhm(int32_t a, int32_t b);
int32_t nn_rounding_shift_right(int32_t x, int exponent);
int32_t nn_requantize(int32_t acc, int32_t mult, int32_t shift);

/* Scratch each kernel needs in its current build (0 for reference kernels); the nn_opt_*
 * forms (always compiled) give the optimized build's need, which the compiler plans in every
 * model's arena so that the same generated C runs with either build. */
size_t nn_conv2d_s8_scratch_bytes(const nn_conv_params_t *p);
size_t nn_depthwise_conv2d_s8_scratch_bytes(const nn_conv_params_t *p);
size_t nn_fc_s8_scratch_bytes(const nn_fc_params_t *p);

/* Reference kernels: plain loops, the specification. */
void nn_ref_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_ref_depthwise_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_ref_fc_s8(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_ref_max_pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out);
void nn_ref_avg_pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out);

/* Optimized kernels (nn_opt_*.c), same contract; compiled only when NN_OPTIMIZED. */
void nn_opt_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_opt_depthwise_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_opt_fc_s8(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch);
/* (the scratch sizes are compiled in every build: nn_paths.c) */
size_t nn_opt_conv2d_s8_scratch_bytes(const nn_conv_params_t *p);
size_t nn_opt_depthwise_conv2d_s8_scratch_bytes(const nn_conv_params_t *p);
size_t nn_opt_fc_s8_scratch_bytes(const nn_fc_params_t *p);
void nn_opt_max_pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out);
void nn_opt_avg_pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out);
void nn_ref_add_s8(const nn_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void nn_opt_add_s8(const nn_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* CONV_2D by group of paths (same contract as nn_opt_conv2d_s8, for a layer whose nn_conv2d_s8_path() is
 * in the group): generated C calls the entry of its layer's path, so only the paths a model uses are
 * linked. small_k: SMALL_K, SMALL_K_REG, SMALL_K_REC; gray3: GRAY3; wide: WIDE, SMALL_K_WIDE;
 * im2col: IM2COL, FUSED. Another path's layer through an entry is a programming error (generated C
 * checks it when built with NN_CHECK_SCRATCH=1). */
void nn_opt_conv2d_s8_small_k(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_opt_conv2d_s8_gray3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_opt_conv2d_s8_wide(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_opt_conv2d_s8_im2col(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
/* DEPTHWISE_CONV_2D likewise: plane3: PLANE3; map3: MAP3; rows3: ROWS3; channels: CHANNELS, MULTIPLIER;
 * s2pairs: S2PAIRS. */
void nn_opt_depthwise_conv2d_s8_plane3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_opt_depthwise_conv2d_s8_map3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_opt_depthwise_conv2d_s8_rows3(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_opt_depthwise_conv2d_s8_channels(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_opt_depthwise_conv2d_s8_s2pairs(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
/* FULLY_CONNECTED likewise: rows: paths DIRECT, WIDENED; fused: FUSED. */
void nn_opt_fc_s8_rows(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void nn_opt_fc_s8_fused(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch);
/* MAX_POOL_2D likewise: 2x2: paths 2X2, 2X2_ROWS; windows: WINDOWS. */
void nn_opt_max_pool_s8_2x2(const nn_pool_params_t *p, const int8_t *in, int8_t *out);
void nn_opt_max_pool_s8_windows(const nn_pool_params_t *p, const int8_t *in, int8_t *out);

/* Entry points used by generated models: the build's implementation. */
#if NN_OPTIMIZED
#define nn_conv2d_s8 nn_opt_conv2d_s8
#define nn_conv2d_s8_small_k nn_opt_conv2d_s8_small_k
#define nn_conv2d_s8_gray3 nn_opt_conv2d_s8_gray3
#define nn_conv2d_s8_wide nn_opt_conv2d_s8_wide
#define nn_conv2d_s8_im2col nn_opt_conv2d_s8_im2col
#define nn_depthwise_conv2d_s8 nn_opt_depthwise_conv2d_s8
#define nn_depthwise_conv2d_s8_plane3 nn_opt_depthwise_conv2d_s8_plane3
#define nn_depthwise_conv2d_s8_map3 nn_opt_depthwise_conv2d_s8_map3
#define nn_depthwise_conv2d_s8_rows3 nn_opt_depthwise_conv2d_s8_rows3
#define nn_depthwise_conv2d_s8_channels nn_opt_depthwise_conv2d_s8_channels
#define nn_depthwise_conv2d_s8_s2pairs nn_opt_depthwise_conv2d_s8_s2pairs
#define nn_fc_s8 nn_opt_fc_s8
#define nn_fc_s8_rows nn_opt_fc_s8_rows
#define nn_fc_s8_fused nn_opt_fc_s8_fused
#define nn_max_pool_s8 nn_opt_max_pool_s8
#define nn_max_pool_s8_2x2 nn_opt_max_pool_s8_2x2
#define nn_max_pool_s8_windows nn_opt_max_pool_s8_windows
#define nn_add_s8 nn_opt_add_s8
#define nn_avg_pool_s8 nn_opt_avg_pool_s8
#else
#define nn_conv2d_s8 nn_ref_conv2d_s8
#define nn_conv2d_s8_small_k nn_ref_conv2d_s8
#define nn_conv2d_s8_gray3 nn_ref_conv2d_s8
#define nn_conv2d_s8_wide nn_ref_conv2d_s8
#define nn_conv2d_s8_im2col nn_ref_conv2d_s8
#define nn_depthwise_conv2d_s8 nn_ref_depthwise_conv2d_s8
#define nn_depthwise_conv2d_s8_plane3 nn_ref_depthwise_conv2d_s8
#define nn_depthwise_conv2d_s8_map3 nn_ref_depthwise_conv2d_s8
#define nn_depthwise_conv2d_s8_rows3 nn_ref_depthwise_conv2d_s8
#define nn_depthwise_conv2d_s8_channels nn_ref_depthwise_conv2d_s8
#define nn_depthwise_conv2d_s8_s2pairs nn_ref_depthwise_conv2d_s8
#define nn_fc_s8 nn_ref_fc_s8
#define nn_fc_s8_rows nn_ref_fc_s8
#define nn_fc_s8_fused nn_ref_fc_s8
#define nn_max_pool_s8 nn_ref_max_pool_s8
#define nn_max_pool_s8_2x2 nn_ref_max_pool_s8
#define nn_max_pool_s8_windows nn_ref_max_pool_s8
#define nn_add_s8 nn_ref_add_s8
#define nn_avg_pool_s8 nn_ref_avg_pool_s8
#endif

#ifdef NN_TEST_BROKEN_MAX_POOL
/* Test only: a max pool that gets its first element wrong, so that the per-layer comparison against
 * TFLite Micro (SPEC.md 9.7, `edgeloop validate --per-layer`) must name this layer. Never set it in a build
 * that runs models for real. */
static inline void nn_test_broken_max_pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out)
{
    nn_max_pool_s8(p, in, out); /* the real kernel: the macro is redefined only below */
    out[0] = (int8_t)(out[0] ^ 1);
}
#undef nn_max_pool_s8
#define nn_max_pool_s8 nn_test_broken_max_pool_s8
#undef nn_max_pool_s8_2x2
#define nn_max_pool_s8_2x2 nn_test_broken_max_pool_s8
#undef nn_max_pool_s8_windows
#define nn_max_pool_s8_windows nn_test_broken_max_pool_s8
#endif

void nn_mean_s8(const nn_mean_params_t *p, const int8_t *in, int8_t *out);
void nn_mul_s8(const nn_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void nn_softmax_s8(const nn_softmax_params_t *p, const int8_t *in, int8_t *out);
void nn_logistic_s8(const nn_logistic_params_t *p, const int8_t *in, int8_t *out);
void nn_pad(const nn_pad_params_t *p, const void *in, void *out);
void nn_concat(const nn_concat_params_t *p, const void *const *in, void *out);
void nn_quantize_f32_s8(const nn_affine_params_t *p, const float *in, int8_t *out);
void nn_dequantize_s8_f32(const nn_affine_params_t *p, const int8_t *in, float *out);
void nn_requantize_s8(const nn_requant_params_t *p, const int8_t *in, int8_t *out);
/* RESHAPE when source and destination differ (memmove: in place is fine). */
void nn_copy(const void *in, void *out, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* NN_KERNELS_H */
