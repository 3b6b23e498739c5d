/* el_cobs.c - streaming COBS encoder; see el_cobs.h. */
#include "el_cobs.h"

#include <string.h>

static void el_cobs_flush(el_cobs_enc_t *enc, uint8_t code)
{
    enc->block[0] = code;
    if (enc->ok && !enc->sink(enc->ctx, enc->block, (size_t)enc->n + 1u)) {
        enc->ok = false;
    }
    enc->n = 0;
    enc->started = true;
    enc->last_full = code == 0xFFu;
}

void el_cobs_enc_begin(el_cobs_enc_t *enc, el_sink_fn sink, void *ctx)
{
    enc->sink = sink;
    enc->ctx = ctx;
    enc->n = 0;
    enc->last_full = false;
    enc->started = false;
    enc->ok = true;
}

bool el_cobs_enc_put(el_cobs_enc_t *enc, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    for (size_t i = 0; i < len && enc->ok; i++) {
        if (p[i] == 0) {
            el_cobs_flush(enc, (uint8_t)(enc->n + 1u));
        } else {
            enc->block[1u + enc->n++] = p[i];
            if (enc->n == 254u) {
                el_cobs_flush(enc, 0xFFu);
            }
        }
    }
    return enc->ok;
}

bool el_cobs_enc_end(el_cobs_enc_t *enc)
{
    /* After a full block with nothing left, the data ended exactly there: no
     * trailing 0x01 (matches the reference encoding). The empty input is 0x01. */
    if (!(enc->n == 0 && enc->started && enc->last_full)) {
        el_cobs_flush(enc, (uint8_t)(enc->n + 1u));
    }
    return enc->ok;
}

bool el_buf_sink(void *ctx, const uint8_t *data, size_t len)
{
    el_buf_sink_t *b = (el_buf_sink_t *)ctx;
    if (len > b->cap - b->len) {
        return false;
    }
    memcpy(b->out + b->len, data, len);
    b->len += len;
    return true;
}

size_t el_cobs_encode(const void *in, size_t n, uint8_t *out, size_t cap)
{
    el_buf_sink_t b = {out, cap, 0};
    el_cobs_enc_t enc;
    el_cobs_enc_begin(&enc, el_buf_sink, &b);
    el_cobs_enc_put(&enc, in, n);
    return el_cobs_enc_end(&enc) ? b.len : 0u;
}
