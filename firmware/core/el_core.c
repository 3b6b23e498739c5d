/* el_core.c - protocol endpoint, dispatcher, model runner and stats; see el_core.h. */
#include "el_core.h"

#include <string.h>

#include "el_frame.h"
#include "el_registry.h"
#include "port.h"

#define EL_NO_SLOT 0xFFu
#define EL_ACTIVE_MODEL 0xFFu

typedef struct {
    uint32_t len;  /* decoded bytes, CRC included */
    uint32_t t_rx; /* ticks from first byte to verified frame */
} el_slot_info_t;

static _Alignas(16) uint8_t el_slots[EL_RX_CREDIT][EL_FRAME_SLOT_BYTES];
static _Alignas(16) uint8_t el_io_pool[EL_IO_POOL_BYTES];

static struct {
    el_rx_t rx;
    uint8_t rx_slot;                    /* slot the decoder fills, or EL_NO_SLOT (header-only) */
    uint32_t t_first;                   /* tick of the current frame's first byte */
    el_slot_info_t info[EL_RX_CREDIT];
    uint8_t queue[EL_RX_CREDIT];        /* slot indices in arrival order */
    uint8_t q_head, q_count;
    uint32_t busy_mask;                 /* bit i: slot i holds a request */
    uint8_t active_model;
    uint32_t input_off[EL_MAX_MODELS];  /* last input of model i in el_io_pool */
    uint8_t has_input[EL_MAX_MODELS];
    uint32_t output_off;                /* shared output buffer in el_io_pool */
    uint32_t errors_sent, inferences, rx_bytes, tx_bytes, tx_abandoned, bench_runs, unexpected_frames;
    uint8_t abridged[(EL_MAX_MODELS + 7u) / 8u]; /* bit i: INFO/MODEL_LIST carry model i abridged */
    const char *fault;                  /* non-NULL when el_core_init() failed */
    bool led;
} el;

/* ---- sending ---------------------------------------------------------- */

/* el_sink_fn onto the port: retries partial writes, gives up after EL_TX_TIMEOUT_MS without progress. */
static bool el_port_sink(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    uint32_t since = port_millis();
    while (len > 0) {
        size_t n = port_link_write(data, len);
        if (n > 0) {
            data += n;
            len -= n;
            el.tx_bytes += (uint32_t)n;
            since = port_millis();
        } else if ((uint32_t)(port_millis() - since) > EL_TX_TIMEOUT_MS) {
            return false;
        } else {
            port_idle();
        }
    }
    return true;
}

/*
 * Where payload bytes go. One writer serves three passes over the same field
 * writes, so a length can never disagree with the bytes it describes:
 * counting (tx NULL), sending everything, and sending one page [from, to) of
 * a longer structure (DESCRIBE_MODEL). `pos` counts every byte put.
 */
typedef struct {
    el_tx_t *tx;
    size_t pos;
    size_t from, to; /* bytes outside [from, to) are counted, not sent */
} el_out_t;

#define EL_OUT_ALL(tx) {(tx), 0u, 0u, SIZE_MAX}
#define EL_OUT_COUNT {NULL, 0u, 0u, 0u}

static void el_out_put(el_out_t *o, const void *data, size_t len)
{
    const uint8_t *b = data;
    size_t lo = o->pos > o->from ? o->pos : o->from;
    size_t hi = o->pos + len < o->to ? o->pos + len : o->to;
    if (o->tx != NULL && lo < hi) {
        el_tx_put(o->tx, b + (lo - o->pos), hi - lo);
    }
    o->pos += len;
}

static void el_put_u8(el_out_t *o, uint8_t v)
{
    el_out_put(o, &v, 1);
}

static void el_put_u16(el_out_t *o, uint16_t v)
{
    const uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    el_out_put(o, b, 2);
}

static void el_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static void el_put_u32(el_out_t *o, uint32_t v)
{
    uint8_t b[4];
    el_le32(b, v);
    el_out_put(o, b, 4);
}

static void el_put_f32(el_out_t *o, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    el_put_u32(o, bits);
}

static void el_put_str8(el_out_t *o, const char *s)
{
    size_t n = s ? strlen(s) : 0u;
    n = n > 255u ? 255u : n;
    el_put_u8(o, (uint8_t)n);
    el_out_put(o, s, n);
}

/* Start a frame, preceded by a lone 0x00 (SPEC 2): a lost delimiter then costs only the frame it closed. */
static void el_begin(el_tx_t *tx, uint8_t type, uint16_t seq)
{
    static const uint8_t delimiter = 0;
    el_port_sink(NULL, &delimiter, 1);
    el_tx_begin(tx, el_port_sink, NULL, type, seq);
}

/* End a reply; a reply the link did not take is counted as abandoned (STATS tx_abandoned). */
static bool el_finish(el_tx_t *tx)
{
    if (el_tx_end(tx)) {
        return true;
    }
    el.tx_abandoned++;
    return false;
}

static bool el_send(uint8_t type, uint16_t seq, const void *payload, size_t len)
{
    el_tx_t tx;
    el_begin(&tx, type, seq);
    el_tx_put(&tx, payload, len);
    return el_finish(&tx);
}

static void el_send_error(uint16_t seq, uint16_t code, const char *text)
{
    el_tx_t tx;
    size_t n = strlen(text);
    const uint8_t head[2] = {(uint8_t)code, (uint8_t)(code >> 8)};
    el_begin(&tx, EL_MSG_ERROR, seq);
    el_tx_put(&tx, head, 2);
    el_tx_put(&tx, text, n > 120u ? 120u : n);
    el_finish(&tx);
    el.errors_sent++;
}

/* Small formatting for error texts without printf (not on every libc-less port). */
static char *el_fmt_str(char *p, char *end, const char *s)
{
    while (*s && p < end) {
        *p++ = *s++;
    }
    return p;
}

static char *el_fmt_u32(char *p, char *end, uint32_t v)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n > 0 && p < end) {
        *p++ = digits[--n];
    }
    return p;
}

/*
 * Error text "a<u1>b<u2>c", truncated to the protocol's 120 bytes. A number
 * is written only together with the text after it: b NULL ends the text after
 * u1, and c NULL ends it after b (u2 unused); pass c = "" to end on u2.
 */
static void el_send_error_fmt(uint16_t seq, uint16_t code, const char *a, uint32_t u1, const char *b,
                              uint32_t u2, const char *c)
{
    char text[121];
    char *p = text, *end = text + 120;
    p = el_fmt_str(p, end, a);
    p = el_fmt_u32(p, end, u1);
    if (b) {
        p = el_fmt_str(p, end, b);
        if (c) {
            p = el_fmt_u32(p, end, u2);
            p = el_fmt_str(p, end, c);
        }
    }
    *p = '\0';
    el_send_error(seq, code, text);
}

bool el_core_log(uint8_t level, const char *text)
{
    el_tx_t tx;
    size_t n = strlen(text);
    el_begin(&tx, EL_MSG_LOG, 0);
    el_tx_put(&tx, &level, 1);
    el_tx_put(&tx, text, n);
    return el_finish(&tx);
}

/* ---- descriptors (SPEC 5.3, 5.4, 9.3) --------------------------------- */

static void el_put_tensor(el_out_t *o, const nn_tensor_desc_t *t)
{
    el_put_u8(o, t->dtype);
    el_put_u8(o, t->rank);
    for (uint8_t i = 0; i < t->rank; i++) {
        el_put_u16(o, t->dims[i]);
    }
    el_put_f32(o, t->scale);
    el_put_u32(o, (uint32_t)t->zero_point);
}

#define EL_FLAG_ABRIDGED 0x02u /* model_flags bit 1 (SPEC 9.3) */

/*
 * The descriptor body after its u16 length: 1.0 fields, then the 1.1 fields
 * of SPEC 9.3. An abridged copy (SPEC 5.3) leaves out labels and norms.
 */
static void el_put_model_body(el_out_t *o, const nn_model_t *m, uint8_t model_id, bool abridged)
{
    el_put_str8(o, m->name);
    el_out_put(o, m->hash, 32);
    el_put_u32(o, m->macc);
    el_put_u32(o, m->flash_bytes);
    el_put_u32(o, m->ram_bytes);
    el_put_u8(o, m->input_kind);
    el_put_u16(o, m->sample_rate_hz);
    el_put_u16(o, m->window);
    el_put_u16(o, m->hop);
    el_put_tensor(o, &m->input);
    el_put_tensor(o, &m->output);
    uint8_t labels = abridged ? 0u : m->label_count;
    uint16_t norms = abridged ? 0u : m->input_norm_count;
    el_put_u8(o, labels);
    for (uint8_t i = 0; i < labels; i++) {
        el_put_str8(o, m->labels[i]);
    }
    el_put_u16(o, norms);
    for (uint32_t i = 0; i < 2u * (uint32_t)norms; i++) {
        el_put_f32(o, m->input_norm[i]);
    }
    /* 1.1: a model compiled before these fields existed leaves them 0; 1.0 meaning fills them in. */
    uint8_t feature_set = m->feature_set;
    if (feature_set == EL_FEATURE_SET_NONE && m->input_kind == NN_INPUT_IMU_FEATURES) {
        feature_set = EL_FEATURE_SET_STATS9;
    }
    el_put_u8(o, model_id);
    el_put_u8(o, abridged ? EL_FLAG_ABRIDGED : 0u); /* compiled in: bit 0 clear */
    el_put_u8(o, feature_set);
    el_put_u32(o, m->sample_rate_mhz ? m->sample_rate_mhz : 1000u * (uint32_t)m->sample_rate_hz);
    el_put_u8(o, m->norm_mode);
}

/* Bytes of a descriptor body, from a counting pass over the very writes that send it. */
static size_t el_model_body_size(uint8_t i, bool abridged)
{
    el_out_t count = EL_OUT_COUNT;
    el_put_model_body(&count, el_models[i], i, abridged);
    return count.pos;
}

static bool el_is_abridged(uint8_t i)
{
    return (el.abridged[i / 8u] >> (i % 8u)) & 1u;
}

/* A model list entry: u16 length + body (compiled-in models: stable index = position, SPEC 9.4). */
static void el_put_model(el_out_t *o, uint8_t i)
{
    bool abridged = el_is_abridged(i);
    el_put_u16(o, (uint16_t)el_model_body_size(i, abridged));
    el_put_model_body(o, el_models[i], i, abridged);
}

static void el_put_models(el_out_t *o)
{
    el_put_u8(o, el_model_count);
    for (uint8_t i = 0; i < el_model_count; i++) {
        el_put_model(o, i);
    }
}

static void el_put_info(el_out_t *o)
{
    el_put_u8(o, EL_PROTO_VERSION);
    el_put_u8(o, EL_PROTO_MINOR);
    el_put_u8(o, EL_RX_CREDIT);
    el_put_u8(o, port_timing_source());
    el_put_u32(o, port_cpu_hz());
    el_put_u32(o, port_tick_hz());
    el_put_u32(o, EL_MAX_PAYLOAD);
    el_put_u8(o, el.active_model);
    el_put_str8(o, EL_FIRMWARE_VERSION);
    el_put_str8(o, port_board_name());
    el_put_models(o);
    el_put_u32(o, EL_CAPABILITIES);
    el_put_u16(o, port_instr_per_tick());
}

/*
 * Decide which descriptors INFO and MODEL_LIST carry abridged (SPEC 5.3):
 * those whose body exceeds the u16 length, then the largest others until
 * INFO (the longer of the two replies) fits in 65535 bytes.
 */
static void el_plan_abridged(void)
{
    memset(el.abridged, 0, sizeof el.abridged);
    for (uint8_t i = 0; i < el_model_count; i++) {
        if (el_model_body_size(i, false) > 0xFFFFu) {
            el.abridged[i / 8u] |= (uint8_t)(1u << (i % 8u));
        }
    }
    for (;;) {
        el_out_t count = EL_OUT_COUNT;
        el_put_info(&count);
        if (count.pos <= 0xFFFFu) {
            return;
        }
        size_t largest = 0;
        uint8_t pick = 0;
        for (uint8_t i = 0; i < el_model_count; i++) {
            size_t saved = el_model_body_size(i, false) - el_model_body_size(i, true);
            if (!el_is_abridged(i) && saved > largest) {
                largest = saved;
                pick = i;
            }
        }
        if (largest == 0) {
            return; /* nothing left to shorten; cannot happen with <= 254 models of 255-byte names */
        }
        el.abridged[pick / 8u] |= (uint8_t)(1u << (pick % 8u));
    }
}

/* ---- requests --------------------------------------------------------- */

static void el_on_hello(uint16_t seq, const uint8_t *p, size_t n)
{
    if (n >= 1 && p[0] == 0) {
        el_send_error(seq, EL_ERR_BAD_PAYLOAD, "HELLO host_version 0 is invalid: protocol versions start at 1");
        return;
    }
    el_tx_t tx;
    el_out_t o = EL_OUT_ALL(&tx);
    el_begin(&tx, EL_MSG_HELLO | EL_MSG_REPLY, seq);
    el_put_info(&o);
    el_finish(&tx);
}

static void el_on_list_models(uint16_t seq)
{
    el_tx_t tx;
    el_out_t o = EL_OUT_ALL(&tx);
    el_begin(&tx, EL_MSG_LIST_MODELS | EL_MSG_REPLY, seq);
    el_put_u8(&o, el.active_model);
    el_put_models(&o);
    el_finish(&tx);
}

/* Resolve a request's model byte; sends UNKNOWN_MODEL and returns false when out of range. */
static bool el_model_index(uint16_t seq, uint8_t requested, uint8_t *index)
{
    uint8_t i = requested == EL_ACTIVE_MODEL ? el.active_model : requested;
    if (i >= el_model_count) {
        el_send_error_fmt(seq, EL_ERR_UNKNOWN_MODEL, "model ", requested, " is not loaded: valid indices are 0..",
                          (uint32_t)el_model_count - 1u, " (or 255 for the active model)");
        return false;
    }
    *index = i;
    return true;
}

static void el_on_select_model(uint16_t seq, const uint8_t *p, size_t n)
{
    uint8_t i;
    if (n < 1) {
        el_send_error(seq, EL_ERR_BAD_PAYLOAD, "SELECT_MODEL needs a 1-byte model index");
    } else if (p[0] == EL_ACTIVE_MODEL) {
        el_send_error(seq, EL_ERR_UNKNOWN_MODEL, "SELECT_MODEL needs a model index, not 255");
    } else if (el_model_index(seq, p[0], &i)) {
        el.active_model = i;
        el_send(EL_MSG_SELECT_MODEL | EL_MSG_REPLY, seq, &i, 1);
    }
}

static void el_on_infer(uint16_t seq, const uint8_t *p, size_t n, uint32_t t_rx)
{
    uint8_t i;
    if (n < 2) {
        el_send_error(seq, EL_ERR_BAD_PAYLOAD, "INFER needs model, reserved and the input tensor");
        return;
    }
    if (!el_model_index(seq, p[0], &i)) {
        return;
    }
    const nn_model_t *m = el_models[i];
    if (n - 2u != m->input.bytes) {
        el_send_error_fmt(seq, EL_ERR_BAD_INPUT_SIZE, "input is ", (uint32_t)(n - 2u), " bytes; model takes ",
                          m->input.bytes, " bytes");
        return;
    }
    uint8_t *output = el_io_pool + el.output_off;
    uint32_t t0 = port_ticks();
    nn_status_t status = m->invoke(p + 2, output, el_arena); /* p + 2 is 8-byte aligned (SPEC 5.7) */
    EL_AFTER_INVOKE(t0);
    uint32_t t_infer = port_ticks() - t0;
    if (status != NN_OK) {
        el_send_error_fmt(seq, EL_ERR_INTERNAL, "model invoke failed with status ", (uint32_t)status, NULL, 0,
                          NULL);
        return;
    }
    el.inferences++;
    memcpy(el_io_pool + el.input_off[i], p + 2, m->input.bytes); /* kept for BENCH (SPEC 5.8) */
    el.has_input[i] = 1;

    uint32_t t1 = port_ticks();
    uint8_t head[22];
    head[0] = i;
    head[1] = 0;
    el_le32(head + 2, port_tick_hz());
    el_le32(head + 6, t_rx);
    el_le32(head + 10, 0); /* t_pre: this firmware does no on-device preprocessing */
    el_le32(head + 14, t_infer);
    el_le32(head + 18, port_ticks() - t1);
    el_tx_t tx;
    el_begin(&tx, EL_MSG_INFER | EL_MSG_REPLY, seq);
    el_tx_put(&tx, head, sizeof head);
    el_tx_put(&tx, output, m->output.bytes);
    el_finish(&tx);
}

static uint32_t el_rd32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* DESCRIBE_MODEL (SPEC 9.5): one page of a model's full descriptor body. */
static void el_on_describe_model(uint16_t seq, const uint8_t *p, size_t n)
{
    if (n < 7) {
        el_send_error(seq, EL_ERR_BAD_PAYLOAD, "DESCRIBE_MODEL needs model_id (u8), offset (u32), max_bytes (u16)");
        return;
    }
    uint8_t i = p[0];
    uint32_t offset = el_rd32(p + 1);
    uint32_t want = (uint32_t)p[5] | (uint32_t)p[6] << 8;
    if (i >= el_model_count) {
        el_send_error_fmt(seq, EL_ERR_UNKNOWN_MODEL, "model ", i, " is not loaded: valid ids are 0..",
                          (uint32_t)el_model_count - 1u, "");
        return;
    }
    uint32_t total = (uint32_t)el_model_body_size(i, false);
    if (offset > total) {
        el_send_error_fmt(seq, EL_ERR_BAD_PAYLOAD, "DESCRIBE_MODEL offset ", offset, " is past the descriptor's ",
                          total, " bytes");
        return;
    }
    uint32_t page = want == 0u || want > EL_DESCRIBE_PAGE_BYTES ? EL_DESCRIBE_PAGE_BYTES : want;
    uint32_t len = total - offset < page ? total - offset : page;
    uint8_t head[9];
    head[0] = i;
    el_le32(head + 1, total);
    el_le32(head + 5, offset);
    el_tx_t tx;
    el_out_t o = {&tx, 0u, offset, (size_t)offset + len};
    el_begin(&tx, EL_MSG_DESCRIBE_MODEL | EL_MSG_REPLY, seq);
    el_tx_put(&tx, head, sizeof head);
    el_put_model_body(&o, el_models[i], i, false);
    el_finish(&tx);
}

/* Fill a tensor with its zero point (the BENCH input when none was received). */
static void el_fill_zero_point(uint8_t *dst, const nn_tensor_desc_t *t)
{
    static const uint8_t elem_size[] = {1, 1, 2, 4, 4};
    uint32_t size = t->dtype < 5 ? elem_size[t->dtype] : 1u;
    uint32_t zp = t->dtype == NN_DTYPE_FLOAT32 ? 0u : (uint32_t)t->zero_point;
    for (uint32_t at = 0; at + size <= t->bytes; at += size) {
        for (uint32_t b = 0; b < size; b++) {
            dst[at + b] = (uint8_t)(zp >> (8u * b));
        }
    }
}

static void el_on_bench(uint16_t seq, const uint8_t *p, size_t n)
{
    uint8_t i;
    if (n < 5) {
        el_send_error(seq, EL_ERR_BAD_PAYLOAD, "BENCH needs model (u8) and runs (u32)");
        return;
    }
    uint32_t runs = el_rd32(p + 1);
    if (runs < 1 || runs > EL_BENCH_MAX_RUNS) {
        el_send_error_fmt(seq, EL_ERR_BAD_PAYLOAD, "BENCH runs ", runs, " out of range 1..", EL_BENCH_MAX_RUNS,
                          "");
        return;
    }
    if (!el_model_index(seq, p[0], &i)) {
        return;
    }
    const nn_model_t *m = el_models[i];
    uint8_t *input = el_io_pool + el.input_off[i];
    if (!el.has_input[i]) {
        el_fill_zero_point(input, &m->input);
    }
    uint8_t *output = el_io_pool + el.output_off;
    uint32_t lo = UINT32_MAX, hi = 0;
    uint64_t total = 0;
    for (uint32_t r = 0; r < runs; r++) {
        uint32_t t0 = port_ticks();
        nn_status_t status = m->invoke(input, output, el_arena);
        EL_AFTER_INVOKE(t0);
        uint32_t dt = port_ticks() - t0;
        if (status != NN_OK) {
            el_send_error_fmt(seq, EL_ERR_INTERNAL, "model invoke failed with status ", (uint32_t)status,
                              " in BENCH run ", r, "");
            return;
        }
        lo = dt < lo ? dt : lo;
        hi = dt > hi ? dt : hi;
        total += dt;
        el.bench_runs++;
        port_watchdog_kick();
    }
    uint8_t b[29];
    b[0] = i;
    el_le32(b + 1, runs);
    el_le32(b + 5, port_tick_hz());
    el_le32(b + 9, lo);
    el_le32(b + 13, hi);
    el_le32(b + 17, (uint32_t)total);
    el_le32(b + 21, (uint32_t)(total >> 32));
    el_send(EL_MSG_BENCH | EL_MSG_REPLY, seq, b, 25);
}

void el_core_stats(uint32_t out[EL_STAT_COUNT])
{
    out[EL_STAT_FRAMES_OK] = el.rx.frames_ok;
    out[EL_STAT_CRC_ERRORS] = el.rx.crc_errors;
    out[EL_STAT_FRAMING_ERRORS] = el.rx.framing_errors;
    out[EL_STAT_OVERFLOWS] = el.rx.overflows;
    out[EL_STAT_ERRORS_SENT] = el.errors_sent;
    out[EL_STAT_INFERENCES] = el.inferences;
    out[EL_STAT_RX_BYTES] = el.rx_bytes;
    out[EL_STAT_TX_BYTES] = el.tx_bytes;
    out[EL_STAT_UPTIME_MS] = port_millis();
    out[EL_STAT_RX_DROPPED_BYTES] = port_rx_overflows();
    out[EL_STAT_TX_ABANDONED] = el.tx_abandoned;
    out[EL_STAT_BENCH_RUNS] = el.bench_runs;
    out[EL_STAT_UNEXPECTED_FRAMES] = el.unexpected_frames;
}

static void el_on_stats(uint16_t seq)
{
    uint32_t c[EL_STAT_COUNT];
    uint8_t b[1 + 4 * EL_STAT_COUNT];
    el_core_stats(c);
    b[0] = EL_STAT_COUNT;
    for (unsigned k = 0; k < EL_STAT_COUNT; k++) {
        el_le32(b + 1 + 4 * k, c[k]);
    }
    el_send(EL_MSG_STATS | EL_MSG_REPLY, seq, b, sizeof b);
}

static void el_serve(const uint8_t *frame, uint32_t len, uint32_t t_rx)
{
    el_header_t h = el_header_parse(frame);
    const uint8_t *p = frame + EL_HEADER_SIZE;
    size_t n = len - EL_FRAME_OVERHEAD;
    if (h.version != EL_PROTO_VERSION) {
        el_send_error_fmt(h.seq, EL_ERR_UNSUPPORTED_VERSION, "protocol version ", h.version,
                          " is not supported: this device speaks version ", EL_PROTO_VERSION, " only");
        return;
    }
    if (h.type & EL_MSG_REPLY) {
        el.unexpected_frames++; /* a reply or device message: answering it could loop forever (SPEC 5) */
        return;
    }
    if (h.seq == 0) {
        el_send_error(0, EL_ERR_BAD_PAYLOAD, "request seq 0 is reserved for device messages: number requests 1..65535");
        return;
    }
    if (el.fault) {
        el_send_error(h.seq, EL_ERR_INTERNAL, el.fault);
        return;
    }
    switch (h.type) {
    case EL_MSG_HELLO: el_on_hello(h.seq, p, n); break;
    case EL_MSG_LIST_MODELS: el_on_list_models(h.seq); break;
    case EL_MSG_SELECT_MODEL: el_on_select_model(h.seq, p, n); break;
    case EL_MSG_INFER: el_on_infer(h.seq, p, n, t_rx); break;
    case EL_MSG_BENCH: el_on_bench(h.seq, p, n); break;
    case EL_MSG_PING: el_send(EL_MSG_PING | EL_MSG_REPLY, h.seq, p, n); break;
    case EL_MSG_STATS: el_on_stats(h.seq); break;
    case EL_MSG_DESCRIBE_MODEL: el_on_describe_model(h.seq, p, n); break;
    default:
        el_send_error_fmt(h.seq, EL_ERR_UNKNOWN_TYPE, "message type ", h.type,
                          " is not a request this device serves (protocol 1.1)", 0, NULL);
        break;
    }
}

/* ---- receiving -------------------------------------------------------- */

/* Point the decoder at a free slot if it is in header-only mode and between frames. */
static void el_claim_slot(void)
{
    if (el.rx_slot != EL_NO_SLOT || !el_rx_idle(&el.rx)) {
        return;
    }
    for (uint8_t s = 0; s < EL_RX_CREDIT; s++) {
        if (!(el.busy_mask & (1u << s))) {
            el.rx_slot = s;
            el_rx_set_buffer(&el.rx, el_slots[s]);
            return;
        }
    }
    el_rx_set_buffer(&el.rx, NULL);
}

static void el_on_rx_event(el_rx_event_t ev, uint32_t now)
{
    el_header_t h = el_header_parse(el.rx.head);
    if (ev == EL_RX_FRAME && el.rx_slot != EL_NO_SLOT) {
        uint8_t s = el.rx_slot;
        el.info[s].len = (uint32_t)el.rx.len;
        el.info[s].t_rx = now - el.t_first;
        el.queue[(el.q_head + el.q_count) % EL_RX_CREDIT] = s;
        el.q_count++;
        el.busy_mask |= 1u << s;
        el.rx_slot = EL_NO_SLOT;
    } else if (ev == EL_RX_FRAME && (h.type & EL_MSG_REPLY)) {
        el.unexpected_frames++; /* never answered, not even BUSY */
    } else if (ev == EL_RX_FRAME) {
        el_send_error_fmt(h.seq, EL_ERR_BUSY, "more than ", EL_RX_CREDIT,
                          " requests in flight: wait for replies (INFO rx_credit)", 0, NULL);
    } else if (ev == EL_RX_TOO_LARGE) {
        /* seq 0: an unverified header may be noise or another request's (SPEC 6); quoted for humans only. */
        el_send_error_fmt(0, EL_ERR_FRAME_TOO_LARGE, "frame exceeds max_payload ", EL_MAX_PAYLOAD,
                          " bytes (claimed seq ", h.seq, ", unverified): send smaller requests");
    }
    el_claim_slot();
}

/* Take up to EL_RX_BURST_BYTES from the port; returns how many. */
static uint32_t el_drain(void)
{
    uint8_t chunk[64];
    uint32_t total = 0;
    while (total < EL_RX_BURST_BYTES) {
        size_t n = port_link_read(chunk, sizeof chunk);
        if (n == 0) {
            break;
        }
        uint32_t now = port_ticks();
        total += (uint32_t)n;
        for (size_t k = 0; k < n; k++) {
            if (el_rx_idle(&el.rx) && chunk[k] != 0) {
                el.t_first = now;
            }
            el_rx_event_t ev = el_rx_feed(&el.rx, chunk[k]);
            if (ev != EL_RX_NONE) {
                el_on_rx_event(ev, port_ticks());
            }
        }
    }
    el.rx_bytes += total;
    return total;
}

void el_core_poll(void)
{
    uint32_t got = el_drain();
    if (el.q_count > 0) {
        uint8_t s = el.queue[el.q_head];
        el.q_head = (uint8_t)((el.q_head + 1u) % EL_RX_CREDIT);
        el.q_count--;
        el.led = !el.led;
        port_led(el.led);
        el_serve(el_slots[s], el.info[s].len, el.info[s].t_rx);
        el.busy_mask &= ~(1u << s);
        el_claim_slot();
    } else if (got == 0) {
        port_idle();
    }
    port_watchdog_kick();
}

void el_core_link_reset(void)
{
    uint32_t ok = el.rx.frames_ok, crc = el.rx.crc_errors, fr = el.rx.framing_errors, ov = el.rx.overflows;
    el.q_head = el.q_count = 0;
    el.busy_mask = 0;
    el.rx_slot = 0;
    el_rx_init(&el.rx, el_slots[0], EL_MAX_PAYLOAD + EL_FRAME_OVERHEAD);
    el.rx.frames_ok = ok;
    el.rx.crc_errors = crc;
    el.rx.framing_errors = fr;
    el.rx.overflows = ov;
}

/* ---- start-up --------------------------------------------------------- */

static uint32_t el_align16(uint32_t v)
{
    return (v + 15u) & ~15u;
}

bool el_core_init(const char **why)
{
    memset(&el, 0, sizeof el);
    el_core_link_reset();
    uint32_t at = 0, out_max = 0;
    for (uint8_t i = 0; i < el_model_count && !el.fault; i++) {
        const nn_model_t *m = el_models[i];
        if (m->invoke == NULL) {
            el.fault = "a registered model has no invoke function: rebuild the model";
        } else if (m->input.bytes + 2u > EL_MAX_PAYLOAD) {
            el.fault = "a model's input does not fit in one INFER: rebuild with a larger EL_MAX_PAYLOAD";
        } else if (m->arena_bytes > el_arena_bytes) {
            el.fault = "a model needs more arena than its NAME_ARENA_BYTES says: regenerate the model";
        } else {
            el.input_off[i] = at;
            at += el_align16(m->input.bytes);
            out_max = m->output.bytes > out_max ? m->output.bytes : out_max;
        }
    }
    if (!el.fault && el_model_count == 0) {
        el.fault = "no model is linked into this firmware: build with MODELS=\"...\"";
    }
    if (!el.fault && (uint64_t)at + out_max > EL_IO_POOL_BYTES) {
        el.fault = "model inputs and outputs exceed EL_IO_POOL_BYTES: rebuild with a larger EL_IO_POOL_BYTES";
    }
    el.output_off = at;
    el_plan_abridged();
    if (why) {
        *why = el.fault;
    }
    return el.fault == NULL;
}
