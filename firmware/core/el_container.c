/* el_container.c - container validation and execution; see el_container.h and docs/container.md. */
#include "el_container.h"

#include <string.h>

#include "el_text.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "containers are little-endian and their words are read in place: a little-endian core is required"
#endif

/* Layout constants (docs/container.md). */
#define HEADER_BYTES 56u
#define DESC_BYTES 124u
#define TENSOR_AT_IN 60u
#define TENSOR_AT_OUT 84u
#define REF_KIND(r) ((r) >> 28)
#define REF_OFF(r) ((r) & 0x0FFFFFFFu)
#define REF_NULL 0xFFFFFFFFu
enum { KIND_ARENA = 0, KIND_INPUT = 1, KIND_OUTPUT = 2, KIND_CONST = 3 };
enum {
    OP_CONV = 1, OP_DWCONV, OP_FC, OP_MAXPOOL, OP_AVGPOOL, OP_MEAN, OP_ADD, OP_MUL, OP_SOFTMAX,
    OP_LOGISTIC, OP_PAD, OP_CONCAT, OP_QUANTIZE, OP_DEQUANTIZE, OP_REQUANT, OP_COPY,
    OP_ALIAS, /* a RESHAPE sharing its input's storage: no kernel runs, step observers see its output */
    OP_LAST = OP_ALIAS
};

/* Every element count a step may imply: keeps int32 index arithmetic and 8-bit sums in range. */
#define MAX_ELEMS (1u << 22)

static const char *const op_names[OP_LAST + 1] = {
    "?", "conv", "depthwise conv", "fully connected", "max pool", "average pool", "mean", "add", "mul",
    "softmax", "logistic", "pad", "concatenation", "quantize", "dequantize", "requantize", "copy", "reshape"};

/* Parameter words per op (models/compiler/container.py OPS). */
static const uint16_t op_param_words[OP_LAST + 1] = {0, 26, 26, 12, 14, 14, 7, 26, 26, 5, 5, 14, 18, 3, 3, 7, 1, 1};

/* ---- validation context and error text --------------------------------- */

typedef struct {
    const uint8_t *data;
    uint32_t size;
    uint32_t consts_off, consts_end;
    uint32_t arena_bytes;         /* the container's planned arena */
    uint32_t in_bytes, out_bytes;
    char *why;
    int step;                     /* step being checked, -1 outside steps */
    uint32_t result_ref, result_bytes; /* the checked step's output region (ACC_RESULT) */
    uint8_t op;
    bool failed;
} el_ctx_t;

/* Record the first failure: "container: [step N (op): ]what[ N][ more]". Always returns false. */
static bool el_fail3(el_ctx_t *c, const char *what, bool with_value, uint32_t value, const char *more)
{
    if (c->failed) {
        return false;
    }
    c->failed = true;
    if (!c->why) {
        return false;
    }
    char *p = c->why, *end = c->why + EL_WHY_BYTES - 1u;
    p = el_fmt_str(p, end, "invalid container: ");
    if (c->step >= 0) {
        p = el_fmt_str(p, end, "step ");
        p = el_fmt_u32(p, end, (uint32_t)c->step);
        p = el_fmt_str(p, end, " (");
        p = el_fmt_str(p, end, op_names[c->op <= OP_LAST ? c->op : 0]);
        p = el_fmt_str(p, end, "): ");
    }
    p = el_fmt_str(p, end, what);
    if (with_value) {
        p = el_fmt_u32(p, end, value);
    }
    if (more) {
        p = el_fmt_str(p, end, more);
    }
    *p = '\0';
    return false;
}

static bool el_fail(el_ctx_t *c, const char *what)
{
    return el_fail3(c, what, false, 0, NULL);
}

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool in_range(int32_t v, int32_t lo, int32_t hi)
{
    return v >= lo && v <= hi;
}

/* Product of counts, saturated above MAX_ELEMS so it can never overflow. */
static uint32_t el_prod(const int32_t *v, int n)
{
    uint64_t r = 1;
    for (int i = 0; i < n; i++) {
        r *= v[i] > 0 ? (uint64_t)v[i] : 0u;
        if (r > MAX_ELEMS) {
            return MAX_ELEMS + 1u;
        }
    }
    return (uint32_t)r;
}

/* Every count in [1, 65535] and their product within MAX_ELEMS. */
static bool el_counts(el_ctx_t *c, const int32_t *v, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        if (!in_range(v[i], 1, 65535)) {
            return el_fail3(c, what, false, 0, " must be 1..65535");
        }
    }
    if (el_prod(v, n) > MAX_ELEMS) {
        return el_fail3(c, what, false, 0, " imply more than 4M elements");
    }
    return true;
}

/* Region access a reference may name. */
enum { ACC_READ = 1, ACC_WRITE = 2, ACC_CONST_OK = 4, ACC_NULL_OK = 8, ACC_RESULT = 16 /* the step's output */ };

/* Check that `ref` names `bytes` bytes, 4-byte aligned, inside the buffer its kind allows. */
static bool el_check_ref(el_ctx_t *c, uint32_t ref, uint64_t bytes, unsigned access, const char *what)
{
    if (ref == REF_NULL) {
        return (access & ACC_NULL_OK) || bytes == 0 ? true : el_fail3(c, what, false, 0, " is missing");
    }
    uint32_t off = REF_OFF(ref);
    uint64_t limit;
    switch (REF_KIND(ref)) {
    case KIND_ARENA: limit = c->arena_bytes; break;
    case KIND_INPUT:
        if (access & ACC_WRITE) {
            return el_fail3(c, what, false, 0, " writes the model input, which is read-only");
        }
        limit = c->in_bytes;
        break;
    case KIND_OUTPUT: limit = c->out_bytes; break;
    case KIND_CONST:
        if (!(access & ACC_CONST_OK)) {
            return el_fail3(c, what, false, 0, " may not be a constant");
        }
        if (off < c->consts_off) {
            return el_fail3(c, what, true, off, " lies before the constants section");
        }
        limit = c->consts_end;
        break;
    default: return el_fail3(c, what, true, REF_KIND(ref), " has an unknown reference kind");
    }
    if (off % 4u != 0u) {
        return el_fail3(c, what, true, off, " is not 4-byte aligned");
    }
    if ((uint64_t)off + bytes > limit) {
        return el_fail3(c, what, true, (uint32_t)((uint64_t)off + bytes),
                        REF_KIND(ref) == KIND_ARENA ? " bytes needed: beyond the planned arena"
                                                    : " bytes needed: beyond its buffer");
    }
    if (access & ACC_RESULT) {
        c->result_ref = ref;
        c->result_bytes = (uint32_t)bytes;
    }
    return true;
}

static const void *el_const_ptr(const el_ctx_t *c, uint32_t ref)
{
    return ref == REF_NULL ? NULL : (const void *)(c->data + REF_OFF(ref));
}

/* Whether two checked regions share a byte (only regions of one buffer kind can). */
static bool el_overlap(uint32_t a, uint64_t a_bytes, uint32_t b, uint64_t b_bytes)
{
    if (a == REF_NULL || b == REF_NULL || REF_KIND(a) != REF_KIND(b) || a_bytes == 0 || b_bytes == 0) {
        return false;
    }
    return REF_OFF(a) < REF_OFF(b) + b_bytes && REF_OFF(b) < REF_OFF(a) + a_bytes;
}

/* Kernels keep working state in scratch (requantization tables, widened weights): it must
 * not overlap the step's input or output, or the kernel would read state its output overwrote. */
static bool el_check_scratch(el_ctx_t *c, const uint32_t *ops, uint64_t in_bytes, uint64_t out_bytes, size_t scratch)
{
    if (!el_check_ref(c, ops[2], scratch, ACC_WRITE, "scratch")) {
        return false;
    }
    if (el_overlap(ops[2], scratch, ops[0], in_bytes) || el_overlap(ops[2], scratch, ops[1], out_bytes)) {
        return el_fail(c, "scratch overlaps the step's input or output");
    }
    return true;
}

/* ---- per-op parameter checks ------------------------------------------ */

static bool el_check_act(el_ctx_t *c, int32_t lo, int32_t hi)
{
    return in_range(lo, -128, 127) && in_range(hi, lo, 127) ? true
                                                            : el_fail(c, "activation bounds outside -128..127");
}

static bool el_check_shift(el_ctx_t *c, int32_t s, const char *what)
{
    return in_range(s, -31, 31) ? true : el_fail3(c, what, false, 0, " shift outside -31..31");
}

/* Requantization tables of conv/FC: multipliers 0 or in [2^30, 2^31) (nn_fx_requantize_nonneg), shifts in range. */
static bool el_check_rq(el_ctx_t *c, uint32_t mult_ref, uint32_t shift_ref, int32_t channels, int32_t per_channel)
{
    if (!in_range(per_channel, 0, 1)) {
        return el_fail(c, "per_channel must be 0 or 1");
    }
    uint32_t n = per_channel ? (uint32_t)channels : 1u;
    if (!el_check_ref(c, mult_ref, 4u * n, ACC_READ | ACC_CONST_OK, "multipliers") ||
        !el_check_ref(c, shift_ref, 4u * n, ACC_READ | ACC_CONST_OK, "shifts")) {
        return false;
    }
    if (REF_KIND(mult_ref) != KIND_CONST || REF_KIND(shift_ref) != KIND_CONST) {
        return el_fail(c, "multipliers and shifts must be constants");
    }
    const uint8_t *m = c->data + REF_OFF(mult_ref), *s = c->data + REF_OFF(shift_ref);
    for (uint32_t i = 0; i < n; i++) {
        int32_t mv = (int32_t)rd32(m + 4u * i);
        if (mv != 0 && mv < (1 << 30)) {
            return el_fail3(c, "multiplier ", true, i, " is neither 0 nor in [2^30, 2^31)");
        }
        if (!el_check_shift(c, (int32_t)rd32(s + 4u * i), "a requantization")) {
            return false;
        }
    }
    return true;
}

/* Accumulators stay inside int32 (kernels add in int32, as TFLM does): |bias| <= 2^30 and
 * taps * 128 * 255 < 2^30, i.e. at most 32768 taps per output. */
#define MAX_TAPS 32768
#define MAX_BIAS (1 << 30)

static bool el_check_bias(el_ctx_t *c, uint32_t bref, int32_t channels, uint64_t taps)
{
    if (taps > MAX_TAPS) {
        return el_fail3(c, "taps per output ", true, (uint32_t)taps, " above 32768 could overflow the accumulator");
    }
    if (!el_check_ref(c, bref, 4u * (uint32_t)channels, ACC_READ | ACC_CONST_OK | ACC_NULL_OK, "bias")) {
        return false;
    }
    if (bref == REF_NULL) {
        return true;
    }
    if (REF_KIND(bref) != KIND_CONST) {
        return el_fail(c, "bias must be a constant");
    }
    for (int32_t i = 0; i < channels; i++) {
        int32_t b = (int32_t)rd32(c->data + REF_OFF(bref) + 4u * (uint32_t)i);
        if (b > MAX_BIAS || b < -MAX_BIAS) {
            return el_fail3(c, "bias ", true, (uint32_t)i, " beyond +-2^30 could overflow the accumulator");
        }
    }
    return true;
}

static bool el_check_window(el_ctx_t *c, int32_t in, int32_t out, int32_t k, int32_t stride, int32_t dil, int32_t pad)
{
    if (!in_range(stride, 1, 255) || !in_range(dil, 1, 255)) {
        return el_fail(c, "stride and dilation must be 1..255");
    }
    /* Every window starts inside the padded input and covers at least one real row/column. */
    int64_t last_start = (int64_t)(out - 1) * stride - pad;
    if (!in_range(pad, 0, (k - 1) * dil) || last_start > in - 1) {
        return el_fail(c, "padding or output size inconsistent with the input, kernel and stride");
    }
    return true;
}

static bool el_build_conv(el_ctx_t *c, const int32_t *w, const uint32_t *ops, nn_conv_params_t *p, bool depthwise)
{
    memset(p, 0, sizeof *p);
    p->batches = w[0]; p->in_h = w[1]; p->in_w = w[2]; p->in_c = w[3];
    p->out_h = w[4]; p->out_w = w[5]; p->out_c = w[6]; p->k_h = w[7]; p->k_w = w[8];
    p->stride_h = w[9]; p->stride_w = w[10]; p->dil_h = w[11]; p->dil_w = w[12];
    p->pad_top = w[13]; p->pad_left = w[14]; p->depth_mult = w[15];
    p->in_offset = w[16]; p->out_offset = w[17]; p->act_min = w[18]; p->act_max = w[19];
    p->per_channel = w[24]; p->wide_weights = w[25];
    const int32_t in_dims[4] = {p->batches, p->in_h, p->in_w, p->in_c};
    const int32_t out_dims[4] = {p->batches, p->out_h, p->out_w, p->out_c};
    const int32_t k_dims[4] = {p->out_c, p->k_h, p->k_w, depthwise ? 1 : p->in_c};
    if (!el_counts(c, in_dims, 4, "input dimensions") || !el_counts(c, out_dims, 4, "output dimensions") ||
        !el_counts(c, k_dims, 4, "filter dimensions") ||
        !el_check_window(c, p->in_h, p->out_h, p->k_h, p->stride_h, p->dil_h, p->pad_top) ||
        !el_check_window(c, p->in_w, p->out_w, p->k_w, p->stride_w, p->dil_w, p->pad_left) ||
        !el_check_act(c, p->act_min, p->act_max)) {
        return false;
    }
    if (depthwise ? (p->depth_mult < 1 || (int64_t)p->in_c * p->depth_mult != p->out_c) : p->depth_mult != 1) {
        return el_fail(c, "depth multiplier does not match the channels");
    }
    if (!in_range(p->in_offset, -127, 128) || !in_range(p->out_offset, -128, 127) || !in_range(p->wide_weights, 0, p->out_c)) {
        return el_fail(c, "zero point or wide_weights out of range");
    }
    const uint32_t wref = (uint32_t)w[20], bref = (uint32_t)w[21];
    if (!el_check_ref(c, wref, el_prod(k_dims, 4), ACC_READ | ACC_CONST_OK, "weights") ||
        REF_KIND(wref) != KIND_CONST ||
        !el_check_bias(c, bref, p->out_c, (uint64_t)p->k_h * (uint64_t)p->k_w * (depthwise ? 1u : (uint64_t)p->in_c)) ||
        !el_check_rq(c, (uint32_t)w[22], (uint32_t)w[23], p->out_c, p->per_channel)) {
        return el_fail(c, "weights must be a constant");
    }
    p->weights = (const int8_t *)el_const_ptr(c, wref);
    p->bias = (const int32_t *)el_const_ptr(c, bref);
    p->mult = (const int32_t *)el_const_ptr(c, (uint32_t)w[22]);
    p->shift = (const int32_t *)el_const_ptr(c, (uint32_t)w[23]);
    size_t scratch = depthwise ? nn_depthwise_conv2d_s8_scratch_bytes(p) : nn_conv2d_s8_scratch_bytes(p);
    return el_check_ref(c, ops[0], el_prod(in_dims, 4), ACC_READ, "input") &&
           el_check_ref(c, ops[1], el_prod(out_dims, 4), ACC_WRITE | ACC_RESULT, "output") &&
           el_check_scratch(c, ops, el_prod(in_dims, 4), el_prod(out_dims, 4), scratch);
}

static bool el_build_fc(el_ctx_t *c, const int32_t *w, const uint32_t *ops, nn_fc_params_t *p)
{
    memset(p, 0, sizeof *p);
    p->batches = w[0]; p->in_features = w[1]; p->out_features = w[2];
    p->in_offset = w[3]; p->out_offset = w[4]; p->act_min = w[5]; p->act_max = w[6];
    p->per_channel = w[11];
    const int32_t in_dims[2] = {p->batches, p->in_features}, out_dims[2] = {p->batches, p->out_features};
    const int32_t k_dims[2] = {p->out_features, p->in_features};
    if (!el_counts(c, in_dims, 2, "input dimensions") || !el_counts(c, out_dims, 2, "output dimensions") ||
        !el_counts(c, k_dims, 2, "weight dimensions") || !el_check_act(c, p->act_min, p->act_max)) {
        return false;
    }
    if (!in_range(p->in_offset, -127, 128) || !in_range(p->out_offset, -128, 127)) {
        return el_fail(c, "zero point out of range");
    }
    const uint32_t wref = (uint32_t)w[7], bref = (uint32_t)w[8];
    if (!el_check_ref(c, wref, el_prod(k_dims, 2), ACC_READ | ACC_CONST_OK, "weights") ||
        REF_KIND(wref) != KIND_CONST ||
        !el_check_bias(c, bref, p->out_features, (uint64_t)p->in_features) ||
        !el_check_rq(c, (uint32_t)w[9], (uint32_t)w[10], p->out_features, p->per_channel)) {
        return el_fail(c, "weights must be a constant");
    }
    p->weights = (const int8_t *)el_const_ptr(c, wref);
    p->bias = (const int32_t *)el_const_ptr(c, bref);
    p->mult = (const int32_t *)el_const_ptr(c, (uint32_t)w[9]);
    p->shift = (const int32_t *)el_const_ptr(c, (uint32_t)w[10]);
    return el_check_ref(c, ops[0], el_prod(in_dims, 2), ACC_READ, "input") &&
           el_check_ref(c, ops[1], el_prod(out_dims, 2), ACC_WRITE | ACC_RESULT, "output") &&
           el_check_scratch(c, ops, el_prod(in_dims, 2), el_prod(out_dims, 2), nn_fc_s8_scratch_bytes(p));
}

static bool el_build_pool(el_ctx_t *c, const int32_t *w, const uint32_t *ops, nn_pool_params_t *p)
{
    p->batches = w[0]; p->in_h = w[1]; p->in_w = w[2]; p->channels = w[3]; p->out_h = w[4]; p->out_w = w[5];
    p->k_h = w[6]; p->k_w = w[7]; p->stride_h = w[8]; p->stride_w = w[9]; p->pad_top = w[10];
    p->pad_left = w[11]; p->act_min = w[12]; p->act_max = w[13];
    const int32_t in_dims[4] = {p->batches, p->in_h, p->in_w, p->channels};
    const int32_t out_dims[4] = {p->batches, p->out_h, p->out_w, p->channels};
    const int32_t k_dims[2] = {p->k_h, p->k_w};
    return el_counts(c, in_dims, 4, "input dimensions") && el_counts(c, out_dims, 4, "output dimensions") &&
           el_counts(c, k_dims, 2, "window") &&
           el_check_window(c, p->in_h, p->out_h, p->k_h, p->stride_h, 1, p->pad_top) &&
           el_check_window(c, p->in_w, p->out_w, p->k_w, p->stride_w, 1, p->pad_left) &&
           el_check_act(c, p->act_min, p->act_max) &&
           el_check_ref(c, ops[0], el_prod(in_dims, 4), ACC_READ, "input") &&
           el_check_ref(c, ops[1], el_prod(out_dims, 4), ACC_WRITE | ACC_RESULT, "output");
}

static bool el_build_mean(el_ctx_t *c, const int32_t *w, const uint32_t *ops, nn_mean_params_t *p)
{
    p->outer = w[0]; p->reduce = w[1]; p->inner = w[2]; p->zp_times_count = w[3];
    p->mult = w[4]; p->shift = w[5]; p->out_offset = w[6];
    const int32_t dims[3] = {p->outer, p->reduce, p->inner}, out_dims[2] = {p->outer, p->inner};
    if (!el_counts(c, dims, 3, "dimensions") || !el_check_shift(c, p->shift, "the") ||
        !in_range(p->out_offset, -128, 127)) {
        return c->failed ? false : el_fail(c, "zero point out of range");
    }
    return el_check_ref(c, ops[0], el_prod(dims, 3), ACC_READ, "input") &&
           el_check_ref(c, ops[1], el_prod(out_dims, 2), ACC_WRITE | ACC_RESULT, "output");
}

/* Bytes a broadcast operand spans: 1 + sum((dim - 1) * stride). */
static uint64_t el_span(const int32_t *dims, const int32_t *strides)
{
    uint64_t last = 0;
    for (int i = 0; i < 4; i++) {
        last += (uint64_t)(dims[i] - 1) * (uint64_t)strides[i];
    }
    return last + 1u;
}

/* One ADD input's rescale table: absent, or 256 constant int32 equal to what
 * nn_add_s8_rescale_table() computes from the step's own parameters. The optimized ADD reads
 * the table instead of rescaling, so a table that disagreed would give another result than
 * the reference kernel (and than TFLite Micro). */
static bool el_check_add_table(el_ctx_t *c, uint32_t ref, int32_t offset, int32_t mult, int32_t shift,
                               const char *what)
{
    if (ref == REF_NULL) {
        return true;
    }
    if (REF_KIND(ref) != KIND_CONST) {
        return el_fail3(c, what, false, 0, " must be a constant");
    }
    if (!el_check_ref(c, ref, 256u * 4u, ACC_READ | ACC_CONST_OK, what)) {
        return false;
    }
    int32_t want[256];
    nn_add_s8_rescale_table(offset, 20, mult, shift, want);
    for (uint32_t i = 0; i < 256u; i++) {
        if ((int32_t)rd32(c->data + REF_OFF(ref) + 4u * i) != want[i]) {
            return el_fail3(c, what, false, 0, " differs from the rescaling its parameters define");
        }
    }
    return true;
}

/* ADD's optional rescale tables (both or neither, left_shift 20 as the compiler emits);
 * MUL has none. Sets p->in1_table / in2_table. */
static bool el_check_add_tables(el_ctx_t *c, uint32_t ref1, uint32_t ref2, nn_binary_params_t *p)
{
    p->in1_table = p->in2_table = NULL;
    if (ref1 == REF_NULL && ref2 == REF_NULL) {
        return true;
    }
    if (c->op != OP_ADD || ref1 == REF_NULL || ref2 == REF_NULL || p->left_shift != 20) {
        return el_fail(c, "rescale tables need an ADD with left_shift 20 and come in pairs");
    }
    if (!el_check_add_table(c, ref1, p->in1_offset, p->in1_mult, p->in1_shift, "input 1 table") ||
        !el_check_add_table(c, ref2, p->in2_offset, p->in2_mult, p->in2_shift, "input 2 table")) {
        return false;
    }
    p->in1_table = (const int32_t *)el_const_ptr(c, ref1);
    p->in2_table = (const int32_t *)el_const_ptr(c, ref2);
    return true;
}

static bool el_build_binary(el_ctx_t *c, const int32_t *w, const uint32_t *ops, nn_binary_params_t *p)
{
    memcpy(p->out_dims, w, 4 * sizeof(int32_t));
    memcpy(p->in1_strides, w + 4, 4 * sizeof(int32_t));
    memcpy(p->in2_strides, w + 8, 4 * sizeof(int32_t));
    p->in1_offset = w[12]; p->in2_offset = w[13]; p->out_offset = w[14]; p->left_shift = w[15];
    p->in1_mult = w[16]; p->in1_shift = w[17]; p->in2_mult = w[18]; p->in2_shift = w[19];
    p->out_mult = w[20]; p->out_shift = w[21]; p->act_min = w[22]; p->act_max = w[23];
    if (!el_counts(c, p->out_dims, 4, "output dimensions")) {
        return false;
    }
    for (int i = 0; i < 4; i++) {
        if (!in_range(p->in1_strides[i], 0, (int32_t)MAX_ELEMS) || !in_range(p->in2_strides[i], 0, (int32_t)MAX_ELEMS)) {
            return el_fail(c, "broadcast strides out of range");
        }
    }
    if (!in_range(p->in1_offset, -127, 128) || !in_range(p->in2_offset, -127, 128) ||
        !in_range(p->out_offset, -128, 127) || !in_range(p->left_shift, 0, 20)) {
        return el_fail(c, "zero points or left_shift out of range");
    }
    uint64_t s1 = el_span(p->out_dims, p->in1_strides), s2 = el_span(p->out_dims, p->in2_strides);
    return el_check_shift(c, p->in1_shift, "input 1") && el_check_shift(c, p->in2_shift, "input 2") &&
           el_check_shift(c, p->out_shift, "the output") && el_check_act(c, p->act_min, p->act_max) &&
           el_check_ref(c, ops[0], s1, ACC_READ | ACC_CONST_OK, "input 1") &&
           el_check_ref(c, ops[1], s2, ACC_READ | ACC_CONST_OK, "input 2") &&
           el_check_ref(c, ops[2], el_prod(p->out_dims, 4), ACC_WRITE | ACC_RESULT, "output") &&
           el_check_add_tables(c, (uint32_t)w[24], (uint32_t)w[25], p);
}

static bool el_build_softmax(el_ctx_t *c, const int32_t *w, const uint32_t *ops, nn_softmax_params_t *p)
{
    p->outer = w[0]; p->depth = w[1]; p->input_mult = w[2]; p->input_left_shift = w[3]; p->diff_min = w[4];
    const int32_t dims[2] = {p->outer, p->depth};
    if (!el_counts(c, dims, 2, "dimensions")) {
        return false;
    }
    if (!in_range(p->input_left_shift, 0, 31) || p->diff_min > 0) {
        return el_fail(c, "input_left_shift outside 0..31 or diff_min above 0");
    }
    return el_check_ref(c, ops[0], el_prod(dims, 2), ACC_READ, "input") &&
           el_check_ref(c, ops[1], el_prod(dims, 2), ACC_WRITE | ACC_RESULT, "output");
}

static bool el_build_logistic(el_ctx_t *c, const int32_t *w, const uint32_t *ops, nn_logistic_params_t *p)
{
    p->size = w[0]; p->in_zp = w[1]; p->radius = w[2]; p->mult = w[3]; p->left_shift = w[4];
    if (!el_counts(c, &p->size, 1, "size")) {
        return false;
    }
    if (!in_range(p->in_zp, -128, 127) || p->radius < 0) {
        return el_fail(c, "zero point or radius out of range");
    }
    return el_check_shift(c, p->left_shift, "the input") &&
           el_check_ref(c, ops[0], (uint32_t)p->size, ACC_READ, "input") &&
           el_check_ref(c, ops[1], (uint32_t)p->size, ACC_WRITE | ACC_RESULT, "output");
}

static bool el_build_pad(el_ctx_t *c, const int32_t *w, const uint32_t *ops, nn_pad_params_t *p)
{
    memcpy(p->in_dims, w, 4 * sizeof(int32_t));
    memcpy(p->out_dims, w + 4, 4 * sizeof(int32_t));
    memcpy(p->before, w + 8, 4 * sizeof(int32_t));
    p->pad_value = w[12];
    p->elem_bytes = w[13];
    if (!el_counts(c, p->in_dims, 4, "input dimensions") || !el_counts(c, p->out_dims, 4, "output dimensions")) {
        return false;
    }
    for (int i = 0; i < 4; i++) {
        if (p->before[i] < 0 || (int64_t)p->before[i] + p->in_dims[i] > p->out_dims[i]) {
            return el_fail(c, "padding places the input outside the output");
        }
    }
    if (!in_range(p->pad_value, -128, 127) || !(p->elem_bytes == 1 || p->elem_bytes == 4)) {
        return el_fail(c, "pad value or element size out of range");
    }
    uint32_t eb = (uint32_t)p->elem_bytes;
    return el_check_ref(c, ops[0], (uint64_t)el_prod(p->in_dims, 4) * eb, ACC_READ, "input") &&
           el_check_ref(c, ops[1], (uint64_t)el_prod(p->out_dims, 4) * eb, ACC_WRITE | ACC_RESULT, "output");
}

static bool el_build_concat(el_ctx_t *c, const int32_t *w, const uint32_t *ops, uint8_t n_ops, nn_concat_params_t *p)
{
    p->outer = w[0];
    p->count = w[1];
    memcpy(p->part_bytes, w + 2, sizeof p->part_bytes);
    if (!in_range(p->count, 1, NN_CONCAT_MAX_INPUTS) || n_ops != p->count + 1) {
        return el_fail(c, "input count does not match its operands (1..16 inputs)");
    }
    uint64_t total = 0;
    for (int32_t i = 0; i < p->count; i++) {
        const int32_t part[2] = {p->outer, p->part_bytes[i]};
        if (!el_counts(c, part, 2, "a part") ||
            !el_check_ref(c, ops[i], el_prod(part, 2), ACC_READ | ACC_CONST_OK, "an input")) {
            return false;
        }
        total += (uint64_t)p->part_bytes[i];
    }
    return el_check_ref(c, ops[p->count], total * (uint64_t)p->outer, ACC_WRITE | ACC_RESULT, "output");
}

static bool el_build_affine(el_ctx_t *c, const int32_t *w, const uint32_t *ops, nn_affine_params_t *p, bool quantize)
{
    p->size = w[0];
    memcpy(&p->scale, &w[1], sizeof p->scale);
    p->zero_point = w[2];
    if (!el_counts(c, &p->size, 1, "size")) {
        return false;
    }
    /* Real int8 scales lie far inside [1e-6, 1e6]; a zero, NaN, infinite or tiny scale would
     * make QUANTIZE's float-to-int conversion overflow on ordinary inputs. */
    if (!(p->scale >= 1e-6f && p->scale <= 1e6f) || !in_range(p->zero_point, -128, 127)) {
        return el_fail(c, "scale outside 1e-6..1e6 or zero point out of range");
    }
    uint64_t n = (uint32_t)p->size;
    return el_check_ref(c, ops[0], quantize ? 4u * n : n, ACC_READ, "input") &&
           el_check_ref(c, ops[1], quantize ? n : 4u * n, ACC_WRITE | ACC_RESULT, "output");
}

static bool el_build_requant(el_ctx_t *c, const int32_t *w, const uint32_t *ops, nn_requant_params_t *p)
{
    p->size = w[0]; p->in_zp = w[1]; p->out_zp = w[2]; p->mult = w[3]; p->shift = w[4];
    p->act_min = w[5]; p->act_max = w[6];
    if (!el_counts(c, &p->size, 1, "size")) {
        return false;
    }
    if (!in_range(p->in_zp, -128, 127) || !in_range(p->out_zp, -128, 127)) {
        return el_fail(c, "zero point out of range");
    }
    return el_check_shift(c, p->shift, "the") && el_check_act(c, p->act_min, p->act_max) &&
           el_check_ref(c, ops[0], (uint32_t)p->size, ACC_READ, "input") &&
           el_check_ref(c, ops[1], (uint32_t)p->size, ACC_WRITE | ACC_RESULT, "output");
}

static bool el_build_copy(el_ctx_t *c, const int32_t *w, const uint32_t *ops, int32_t *bytes)
{
    *bytes = w[0];
    return el_counts(c, bytes, 1, "size") && el_check_ref(c, ops[0], (uint32_t)*bytes, ACC_READ, "input") &&
           el_check_ref(c, ops[1], (uint32_t)*bytes, ACC_WRITE | ACC_RESULT, "output");
}

/* A RESHAPE sharing its input's storage: the same region names input and output, which no kernel
 * touches; only step observers (PROFILE, DUMP_TENSOR) see it, so step numbers match the compiled C's. */
static bool el_build_alias(el_ctx_t *c, const int32_t *w, const uint32_t *ops, int32_t *bytes)
{
    *bytes = w[0];
    if (ops[0] != ops[1]) {
        return el_fail(c, "a shared-storage reshape must name one region as input and output");
    }
    return el_counts(c, bytes, 1, "size") && el_check_ref(c, ops[0], (uint32_t)*bytes, ACC_READ | ACC_RESULT, "input");
}

/* Size of each op's parameter struct in the pool. */
static size_t el_param_size(uint8_t op)
{
    switch (op) {
    case OP_CONV:
    case OP_DWCONV: return sizeof(nn_conv_params_t);
    case OP_FC: return sizeof(nn_fc_params_t);
    case OP_MAXPOOL:
    case OP_AVGPOOL: return sizeof(nn_pool_params_t);
    case OP_MEAN: return sizeof(nn_mean_params_t);
    case OP_ADD:
    case OP_MUL: return sizeof(nn_binary_params_t);
    case OP_SOFTMAX: return sizeof(nn_softmax_params_t);
    case OP_LOGISTIC: return sizeof(nn_logistic_params_t);
    case OP_PAD: return sizeof(nn_pad_params_t);
    case OP_CONCAT: return sizeof(nn_concat_params_t);
    case OP_QUANTIZE:
    case OP_DEQUANTIZE: return sizeof(nn_affine_params_t);
    case OP_REQUANT: return sizeof(nn_requant_params_t);
    default: return sizeof(int32_t);
    }
}

static uint8_t el_operand_count(uint8_t op)
{
    switch (op) {
    case OP_CONV:
    case OP_DWCONV:
    case OP_FC:
    case OP_ADD:
    case OP_MUL: return 3;
    default: return 2;
    }
}

static bool el_build_step(el_ctx_t *c, uint8_t op, const uint32_t *ops, uint8_t n_ops, const int32_t *w, void *p)
{
    switch (op) {
    case OP_CONV: return el_build_conv(c, w, ops, p, false);
    case OP_DWCONV: return el_build_conv(c, w, ops, p, true);
    case OP_FC: return el_build_fc(c, w, ops, p);
    case OP_MAXPOOL:
    case OP_AVGPOOL: return el_build_pool(c, w, ops, p);
    case OP_MEAN: return el_build_mean(c, w, ops, p);
    case OP_ADD:
    case OP_MUL: return el_build_binary(c, w, ops, p);
    case OP_SOFTMAX: return el_build_softmax(c, w, ops, p);
    case OP_LOGISTIC: return el_build_logistic(c, w, ops, p);
    case OP_PAD: return el_build_pad(c, w, ops, p);
    case OP_CONCAT: return el_build_concat(c, w, ops, n_ops, p);
    case OP_QUANTIZE: return el_build_affine(c, w, ops, p, true);
    case OP_DEQUANTIZE: return el_build_affine(c, w, ops, p, false);
    case OP_REQUANT: return el_build_requant(c, w, ops, p);
    case OP_ALIAS: return el_build_alias(c, w, ops, p);
    default: return el_build_copy(c, w, ops, p);
    }
}

/* ---- descriptor --------------------------------------------------------- */

/* A string: u8 length, bytes without NUL, NUL; inside [lo, hi). Returns its text or NULL (failure recorded). */
static const char *el_string(el_ctx_t *c, uint32_t at, uint32_t lo, uint32_t hi, uint32_t *next, const char *what)
{
    if (at < lo || at >= hi) {
        el_fail3(c, what, false, 0, " lies outside the strings section");
        return NULL;
    }
    uint32_t n = c->data[at];
    if ((uint64_t)at + n + 2u > hi || c->data[at + 1u + n] != 0 || memchr(c->data + at + 1, 0, n) != NULL) {
        el_fail3(c, what, false, 0, " is not a NUL-terminated string of its length");
        return NULL;
    }
    *next = at + n + 2u;
    return (const char *)(c->data + at + 1);
}

static bool el_tensor(el_ctx_t *c, const uint8_t *t, nn_tensor_desc_t *d, const char *what)
{
    static const uint8_t elem_size[] = {1, 1, 2, 4, 4};
    memset(d, 0, sizeof *d);
    d->dtype = t[0];
    d->rank = t[1];
    if (!(d->dtype == NN_DTYPE_INT8 || d->dtype == NN_DTYPE_FLOAT32) || d->rank < 1 || d->rank > 4) {
        return el_fail3(c, what, false, 0, " tensor: dtype must be int8 or float32 and rank 1..4");
    }
    uint64_t n = elem_size[d->dtype];
    for (uint8_t i = 0; i < d->rank; i++) {
        d->dims[i] = (uint16_t)rd16(t + 4 + 2 * i);
        n *= d->dims[i];
    }
    memcpy(&d->scale, t + 12, sizeof d->scale);
    d->zero_point = (int32_t)rd32(t + 16);
    d->bytes = rd32(t + 20);
    if (n == 0 || n != d->bytes || n > 4u * MAX_ELEMS) {
        return el_fail3(c, what, false, 0, " tensor: bytes do not match its shape");
    }
    return true;
}

static bool el_descriptor(el_ctx_t *c, el_program_t *prog, uint32_t desc, uint32_t strings_off, uint32_t strings_end)
{
    const uint8_t *d = c->data + desc;
    nn_model_t *m = &prog->model;
    uint32_t next;
    m->name = el_string(c, rd32(d), strings_off, strings_end, &next, "the model name");
    if (!m->name) {
        return false;
    }
    memcpy(m->hash, d + 4, 32);
    m->macc = rd32(d + 36);
    m->flash_bytes = rd32(d + 40);
    m->ram_bytes = rd32(d + 44);
    m->input_kind = d[48];
    m->label_count = d[49];
    m->input_norm_count = (uint16_t)rd16(d + 50);
    m->sample_rate_hz = (uint16_t)rd16(d + 52);
    m->window = (uint16_t)rd16(d + 54);
    m->hop = (uint16_t)rd16(d + 56);
    if (!el_tensor(c, d + TENSOR_AT_IN, &m->input, "input") || !el_tensor(c, d + TENSOR_AT_OUT, &m->output, "output")) {
        return false;
    }
#if EL_EXEC_MAX_LABELS < 255u
    if (m->label_count > EL_EXEC_MAX_LABELS) {
        return el_fail3(c, "more labels than this firmware holds: at most ", true, EL_EXEC_MAX_LABELS,
                        " (EL_EXEC_MAX_LABELS)");
    }
#endif
    uint32_t at = rd32(d + 108);
    for (uint8_t i = 0; i < m->label_count; i++) {
        prog->labels[i] = el_string(c, at, strings_off, strings_end, &at, "a label");
        if (!prog->labels[i]) {
            return false;
        }
    }
    m->labels = prog->labels;
    if (m->input_norm_count) {
        uint32_t norm = rd32(d + 112);
        if (norm > 0x0FFFFFFFu) {
            return el_fail(c, "input_norm lies beyond the container");
        }
        if (!el_check_ref(c, (uint32_t)KIND_CONST << 28 | norm, 8u * m->input_norm_count, ACC_READ | ACC_CONST_OK,
                          "input_norm")) {
            return false;
        }
        m->input_norm = (const float *)(const void *)(c->data + norm);
    }
    return true;
}

/* ---- kernels behind one signature (each compiles to a tail call) ---------- */

static void k_conv(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { nn_conv2d_s8(p, (const int8_t *)a, (int8_t *)b, c); }
static void k_dwconv(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { nn_depthwise_conv2d_s8(p, (const int8_t *)a, (int8_t *)b, c); }
static void k_fc(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { nn_fc_s8(p, (const int8_t *)a, (int8_t *)b, c); }
static void k_maxpool(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)c; nn_max_pool_s8(p, (const int8_t *)a, (int8_t *)b); }
static void k_avgpool(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)c; nn_avg_pool_s8(p, (const int8_t *)a, (int8_t *)b); }
static void k_mean(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)c; nn_mean_s8(p, (const int8_t *)a, (int8_t *)b); }
static void k_add(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { nn_add_s8(p, (const int8_t *)a, (const int8_t *)b, (int8_t *)c); }
static void k_mul(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { nn_mul_s8(p, (const int8_t *)a, (const int8_t *)b, (int8_t *)c); }
static void k_softmax(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)c; nn_softmax_s8(p, (const int8_t *)a, (int8_t *)b); }
static void k_logistic(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)c; nn_logistic_s8(p, (const int8_t *)a, (int8_t *)b); }
static void k_pad(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)c; nn_pad(p, a, b); }
static void k_quantize(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)c; nn_quantize_f32_s8(p, (const float *)(const void *)a, (int8_t *)b); }
static void k_dequantize(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)c; nn_dequantize_s8_f32(p, (const int8_t *)a, (float *)(void *)b); }
static void k_requant(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)c; nn_requantize_s8(p, (const int8_t *)a, (int8_t *)b); }
static void k_copy(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)c; nn_copy(a, b, (size_t)*(const int32_t *)p); }
static void k_alias(const void *p, uint8_t *a, uint8_t *b, uint8_t *c) { (void)p; (void)a; (void)b; (void)c; }

static const el_exec_fn_t el_kernels[OP_LAST + 1] = {
    NULL, k_conv, k_dwconv, k_fc, k_maxpool, k_avgpool, k_mean, k_add, k_mul, k_softmax, k_logistic, k_pad,
    NULL /* concat */, k_quantize, k_dequantize, k_requant, k_copy, k_alias};

/* Resolve a validated step's operands 0..2: arena and constants to addresses now, the
 * model input and output to offsets that el_program_run() adds to the run's buffers. */
static void el_resolve(el_exec_step_t *s, uint8_t *arena, const uint8_t *data)
{
    s->fn = el_kernels[s->op];
    for (uint8_t k = 0; k < s->operand_count && k < 3u; k++) {
        uint32_t ref = s->operands[k], kind = REF_KIND(ref);
        if (ref == REF_NULL) {
            s->ptr[k] = NULL;
        } else if (kind == KIND_ARENA || kind == KIND_CONST) {
            s->ptr[k] = (kind == KIND_ARENA ? arena : (uint8_t *)(uintptr_t)data) + REF_OFF(ref);
        } else {
            s->ptr[k] = (uint8_t *)(uintptr_t)REF_OFF(ref);
            s->io |= (uint8_t)((kind == KIND_INPUT ? 1u : 2u) << (2u * k));
        }
    }
}

/* ---- loading and running ------------------------------------------------ */

bool el_container_load(el_program_t *prog, const uint8_t *data, uint32_t size, uint32_t capacity, uint8_t *arena,
                       uint32_t arena_bytes, char *why)
{
    el_ctx_t ctx = {.data = data, .size = size, .why = why, .step = -1};
    el_ctx_t *c = &ctx;
    memset(prog, 0, sizeof *prog);
    if (why) {
        why[0] = '\0';
    }
    if (!data || ((uintptr_t)data & 3u) || !arena || ((uintptr_t)arena & 15u)) {
        return el_fail(c, "slot or arena misaligned (firmware fault)");
    }
    if (size > capacity) {
        return el_fail3(c, "the model's ", true, size, " bytes do not fit the slot");
    }
    if (size < HEADER_BYTES + DESC_BYTES || memcmp(data, "ELMC", 4) != 0) {
        return el_fail(c, "not an edgeloop model container (magic ELMC missing)");
    }
    if (rd16(data + 4) != EL_CONTAINER_FORMAT) {
        return el_fail3(c, "format version ", true, rd16(data + 4), "; this firmware reads version "
                        EL_CONTAINER_FORMAT_TEXT ": recompile the model with this edgeloop");
    }
    if (rd32(data + 8) != EL_CONTAINER_KERNEL_ABI) {
        return el_fail3(c, "kernel ABI ", true, rd32(data + 8), " does not match this firmware's: recompile the model "
                        "with the edgeloop of this firmware");
    }
    if (rd16(data + 6) != HEADER_BYTES || rd32(data + 12) != size) {
        return el_fail(c, "header size or total size does not match the bytes received");
    }
    uint32_t planned_arena = rd32(data + 16), n_steps = rd16(data + 20);
    uint32_t sec[4][2];
    uint32_t prev_end = HEADER_BYTES;
    for (int i = 0; i < 4; i++) {
        sec[i][0] = rd32(data + 24 + 8 * i);
        sec[i][1] = rd32(data + 28 + 8 * i);
        if (sec[i][0] % 4u || sec[i][0] < prev_end || (uint64_t)sec[i][0] + sec[i][1] > size ||
            sec[i][0] > 0x0FFFFFFFu) {
            return el_fail3(c, "section ", true, (uint32_t)i, " out of order or beyond the container");
        }
        prev_end = sec[i][0] + sec[i][1];
    }
    if (sec[0][1] < DESC_BYTES) {
        return el_fail(c, "descriptor too short");
    }
    if (planned_arena > arena_bytes) {
        return el_fail3(c, "the model needs an arena of ", true, planned_arena,
                        " bytes, more than this slot's executor arena");
    }
    if (n_steps == 0 || n_steps > EL_EXEC_MAX_STEPS) {
        return el_fail3(c, "step count ", true, n_steps, " is 0 or above EL_EXEC_MAX_STEPS");
    }
    c->consts_off = sec[2][0];
    c->consts_end = sec[2][0] + sec[2][1];
    c->arena_bytes = planned_arena;
    if (!el_descriptor(c, prog, sec[0][0], sec[3][0], sec[3][0] + sec[3][1])) {
        return false;
    }
    c->in_bytes = prog->model.input.bytes;
    c->out_bytes = prog->model.output.bytes;

    uint32_t at = sec[1][0], end = sec[1][0] + sec[1][1];
    size_t pool = 0;
    for (uint32_t i = 0; i < n_steps; i++) {
        c->step = (int)i;
        c->op = 0;
        if ((uint64_t)at + 4u > end) {
            return el_fail(c, "record starts past the steps section");
        }
        uint32_t head = rd32(data + at);
        uint8_t op = (uint8_t)head, n_ops = (uint8_t)(head >> 8);
        uint32_t n_params = head >> 16;
        if (op < OP_CONV || op > OP_LAST) {
            return el_fail3(c, "unknown op code ", true, op, NULL);
        }
        c->op = op;
        if (n_params != op_param_words[op] || (op != OP_CONCAT && n_ops != el_operand_count(op))) {
            return el_fail(c, "parameter or operand count does not match the op");
        }
        if ((uint64_t)at + 4u * (1u + n_ops + n_params) > end) {
            return el_fail(c, "record runs past the steps section");
        }
        size_t psize = (el_param_size(op) + 7u) & ~(size_t)7u;
        if (pool + psize > EL_EXEC_PARAM_BYTES) {
            return el_fail(c, "parameters exceed EL_EXEC_PARAM_BYTES of this firmware");
        }
        el_exec_step_t *s = &prog->steps[i];
        s->op = op;
        s->operand_count = n_ops;
        s->operands = (const uint32_t *)(const void *)(data + at + 4);
        s->params = prog->param_pool + pool;
        const int32_t *words = (const int32_t *)(const void *)(data + at + 4u + 4u * n_ops);
        c->result_ref = REF_NULL;
        if (!el_build_step(c, op, s->operands, n_ops, words, prog->param_pool + pool)) {
            return el_fail(c, "parameters rejected");
        }
        if (c->result_ref == REF_NULL) {
            return el_fail(c, "has no output (firmware fault)"); /* every op's check names one */
        }
        s->result_ref = c->result_ref;
        s->result_bytes = c->result_bytes;
        el_resolve(s, arena, data);
        pool += psize;
        at += 4u * (1u + n_ops + n_params);
    }
    c->step = -1;
    if (at != end) {
        return el_fail(c, "bytes left after the last step");
    }
    prog->step_count = (uint16_t)n_steps;
    prog->container = data;
    prog->container_bytes = size;
    prog->arena = arena;
    prog->arena_bytes = arena_bytes;
    prog->model.arena_bytes = planned_arena;
    prog->loaded = true;
    return true;
}

nn_status_t el_program_run(const el_program_t *prog, const void *input, void *output)
{
    return el_program_run_steps(prog, input, output, NULL, NULL);
}

nn_status_t el_program_run_steps(const el_program_t *prog, const void *input, void *output, el_step_hook_t hook,
                                 void *ctx)
{
    if (!prog || !prog->loaded || !input || !output || ((uintptr_t)input & 3u) || ((uintptr_t)output & 3u)) {
        return NN_ERR_ARGUMENT;
    }
    uint8_t *const in = (uint8_t *)(uintptr_t)input, *const out = (uint8_t *)output;
    uint8_t *const base[4] = {prog->arena, in, out, (uint8_t *)(uintptr_t)prog->container}; /* by KIND_* */
    const el_exec_step_t *s = prog->steps, *const end = prog->steps + prog->step_count;
    for (; s < end; s++) {
        uint8_t *o0 = s->ptr[0], *o1 = s->ptr[1], *o2 = s->ptr[2];
        if (s->io) { /* only the steps that read the model input or write its output */
            o0 = (s->io & 3u) == 0 ? o0 : ((s->io & 3u) == 1u ? in : out) + (uintptr_t)o0;
            o1 = (s->io & 12u) == 0 ? o1 : ((s->io & 12u) == 4u ? in : out) + (uintptr_t)o1;
            o2 = (s->io & 48u) == 0 ? o2 : ((s->io & 48u) == 16u ? in : out) + (uintptr_t)o2;
        }
        if (s->fn) {
            s->fn(s->params, o0, o1, o2);
        } else { /* CONCATENATION: its inputs and output from the references */
            const nn_concat_params_t *p = s->params;
            const void *parts[NN_CONCAT_MAX_INPUTS];
            for (int32_t k = 0; k < p->count; k++) {
                parts[k] = base[REF_KIND(s->operands[k])] + REF_OFF(s->operands[k]);
            }
            nn_concat(p, parts, base[REF_KIND(s->operands[p->count])] + REF_OFF(s->operands[p->count]));
        }
        if (hook && !hook(ctx, (uint16_t)(s - prog->steps), base[REF_KIND(s->result_ref)] + REF_OFF(s->result_ref),
                          s->result_bytes)) {
            return NN_OK; /* the observer has what it wanted: stop here */
        }
    }
    return NN_OK;
}
