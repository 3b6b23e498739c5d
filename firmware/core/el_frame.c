/* el_frame.c - frame receiver and transmitter; see el_frame.h. */
#include "el_frame.h"

#include <string.h>

#include "el_crc32.h"

static void el_rx_restart(el_rx_t *rx)
{
    rx->len = 0;
    rx->crc = EL_CRC32_INIT;
    rx->active = false;
    rx->discarding = false;
    el_cobs_dec_reset(&rx->cobs);
}

void el_rx_init(el_rx_t *rx, uint8_t *buf, size_t limit)
{
    memset(rx, 0, sizeof *rx);
    rx->buf = buf;
    rx->limit = limit < EL_FRAME_OVERHEAD ? EL_FRAME_OVERHEAD : limit;
    el_rx_restart(rx);
}

void el_rx_set_buffer(el_rx_t *rx, uint8_t *buf)
{
    rx->buf = buf;
}

/* The frame ended at a delimiter: classify it, count it, and get ready for the next. */
static el_rx_event_t el_rx_finish(el_rx_t *rx)
{
    el_rx_event_t ev;
    if (rx->discarding) {
        rx->overflows++;
        ev = EL_RX_TOO_LARGE;
    } else if (!el_cobs_dec_complete(&rx->cobs) || rx->len < EL_FRAME_OVERHEAD) {
        rx->framing_errors++;
        ev = EL_RX_FRAMING_ERROR;
    } else if (rx->crc != EL_CRC32_RESIDUE) {
        rx->crc_errors++;
        ev = EL_RX_CRC_ERROR;
    } else {
        rx->frames_ok++;
        ev = EL_RX_FRAME;
    }
    size_t len = rx->len;
    el_rx_restart(rx);
    rx->len = len; /* stays readable until the next byte */
    return ev;
}

el_rx_event_t el_rx_feed(el_rx_t *rx, uint8_t byte)
{
    if (byte == 0) {
        if (!rx->active) {
            rx->len = 0;
            return EL_RX_NONE; /* empty frame or idle line: ignored, not counted */
        }
        return el_rx_finish(rx);
    }
    if (!rx->active) {
        el_rx_restart(rx);
        rx->active = true;
    }
    if (rx->discarding) {
        return EL_RX_NONE;
    }
    uint8_t out;
    if (!el_cobs_dec_byte(&rx->cobs, byte, &out)) {
        return EL_RX_NONE;
    }
    if (rx->len >= rx->limit) {
        rx->discarding = true;
        return EL_RX_NONE;
    }
    if (rx->len < EL_HEADER_SIZE) {
        rx->head[rx->len] = out;
    }
    if (rx->buf != NULL) {
        rx->buf[rx->len] = out;
    }
    rx->len++;
    rx->crc = el_crc32_step(rx->crc, out);
    return EL_RX_NONE;
}

void el_tx_begin(el_tx_t *tx, el_sink_fn sink, void *ctx, uint8_t type, uint16_t seq)
{
    const uint8_t header[EL_HEADER_SIZE] = {EL_PROTO_VERSION, type, 0, 0, (uint8_t)(seq & 0xFFu),
                                            (uint8_t)(seq >> 8)};
    el_cobs_enc_begin(&tx->cobs, sink, ctx);
    tx->crc = el_crc32(0, header, sizeof header);
    tx->payload_len = 0;
    el_cobs_enc_put(&tx->cobs, header, sizeof header);
}

bool el_tx_put(el_tx_t *tx, const void *data, size_t len)
{
    tx->crc = el_crc32(tx->crc, data, len);
    tx->payload_len += len;
    return el_cobs_enc_put(&tx->cobs, data, len);
}

bool el_tx_end(el_tx_t *tx)
{
    const uint8_t crc[EL_CRC_SIZE] = {(uint8_t)tx->crc, (uint8_t)(tx->crc >> 8),
                                      (uint8_t)(tx->crc >> 16), (uint8_t)(tx->crc >> 24)};
    static const uint8_t delimiter = 0;
    el_cobs_enc_put(&tx->cobs, crc, sizeof crc);
    if (!el_cobs_enc_end(&tx->cobs)) {
        return false;
    }
    if (!tx->cobs.sink(tx->cobs.ctx, &delimiter, 1)) {
        tx->cobs.ok = false;
    }
    return tx->cobs.ok;
}

size_t el_frame_encode(uint8_t type, uint16_t seq, const void *payload, size_t len,
                       uint8_t *out, size_t cap)
{
    el_buf_sink_t b = {out, cap, 0};
    el_tx_t tx;
    el_tx_begin(&tx, el_buf_sink, &b, type, seq);
    el_tx_put(&tx, payload, len);
    return el_tx_end(&tx) ? b.len : 0u;
}
