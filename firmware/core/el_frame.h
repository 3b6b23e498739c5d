/*
 * el_frame.h - link frames: header || payload || crc32, COBS-encoded, 0x00-delimited.
 *
 * Purpose: turn a byte stream into verified frames and back (SPEC.md
 * sections 2, 3 and 6), with bounded memory given by the caller.
 *
 * Receiving contract (el_rx_t):
 *   - el_rx_feed() takes ONE wire byte, does O(1) work, never blocks, and
 *     keeps no pointer to anything but the caller's buffer: it may run in an
 *     interrupt handler. COBS is decoded incrementally into the buffer and
 *     the CRC-32 is updated per decoded byte; at the 0x00 delimiter the frame
 *     is accepted when it decoded cleanly, is >= EL_FRAME_OVERHEAD bytes long
 *     and the CRC register equals the CRC-32 residue.
 *   - Decoded frames longer than `limit` bytes (max_payload + 10) are cut
 *     off: the rest up to the next 0x00 is discarded, and EL_RX_TOO_LARGE is
 *     reported with the first 6 decoded bytes (the header, unverified) kept
 *     in rx->head, so the device can answer FRAME_TOO_LARGE with its seq.
 *   - Every dropped frame is counted (crc_errors, framing_errors,
 *     overflows); empty frames (0x00 0x00) are ignored and not counted.
 *   - The buffer may be NULL ("header only" mode): the frame is then checked
 *     and its header kept in rx->head, but its payload is not stored. A
 *     device uses this to answer BUSY when all its frame slots are full.
 *   - After EL_RX_FRAME the buffer holds rx->len decoded bytes (CRC
 *     included) until the next byte is fed; el_rx_set_buffer() may switch to
 *     another buffer between frames.
 *
 * Sending contract (el_tx_t): stream a frame through a sink, piece by piece,
 * without holding the frame in memory: begin(type, seq), put(payload
 * pieces), end() appends the CRC, the last COBS block and the 0x00.
 *
 * Example (receive):
 *
 *     static _Alignas(8) uint8_t slot[EL_MAX_PAYLOAD + EL_FRAME_OVERHEAD];
 *     el_rx_t rx;
 *     el_rx_init(&rx, slot, sizeof slot);
 *     for each received byte b:
 *         if (el_rx_feed(&rx, b) == EL_RX_FRAME) {
 *             el_header_t h = el_header_parse(slot);
 *             handle(h, slot + EL_HEADER_SIZE, rx.len - EL_FRAME_OVERHEAD);
 *         }
 *
 * Example (send):
 *
 *     el_tx_t tx;
 *     el_tx_begin(&tx, uart_sink, NULL, EL_MSG_PONG, seq);
 *     el_tx_put(&tx, payload, n);
 *     if (!el_tx_end(&tx)) { ... the sink failed ... }
 */
#ifndef EL_FRAME_H
#define EL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "el_cobs.h"

#define EL_PROTO_VERSION 1u
#define EL_HEADER_SIZE 6u
#define EL_CRC_SIZE 4u
#define EL_FRAME_OVERHEAD (EL_HEADER_SIZE + EL_CRC_SIZE)
/* Wire bytes of a frame with n payload bytes, worst case, delimiter included. */
#define EL_WIRE_MAX(n) (EL_COBS_MAX_ENCODED((n) + EL_FRAME_OVERHEAD) + 1u)

typedef struct {
    uint8_t version;
    uint8_t type;
    uint8_t flags;
    uint16_t seq;
} el_header_t;

/* Read a header from 6 decoded bytes (little-endian seq). */
static inline el_header_t el_header_parse(const uint8_t *b)
{
    el_header_t h = {b[0], b[1], b[2], (uint16_t)(b[4] | (b[5] << 8))};
    return h;
}

typedef enum {
    EL_RX_NONE = 0,        /* byte consumed, no frame boundary */
    EL_RX_FRAME,           /* a verified frame is ready (rx->len bytes) */
    EL_RX_TOO_LARGE,       /* an oversize frame ended; rx->head has its header */
    EL_RX_CRC_ERROR,       /* a frame was dropped: CRC mismatch */
    EL_RX_FRAMING_ERROR    /* a frame was dropped: bad COBS or under 10 bytes */
} el_rx_event_t;

typedef struct {
    uint8_t *buf;        /* decoded bytes land here; NULL = header-only mode */
    size_t limit;        /* largest accepted decoded length (max_payload + 10) */
    size_t len;          /* decoded bytes of the current frame */
    uint32_t crc;        /* raw CRC register over the decoded bytes */
    el_cobs_dec_t cobs;
    bool active;         /* inside a frame (a non-zero byte was seen) */
    bool discarding;     /* the current frame overflowed; skipping to 0x00 */
    uint8_t head[EL_HEADER_SIZE]; /* first decoded bytes, kept in every mode */
    uint32_t frames_ok;
    uint32_t crc_errors;
    uint32_t framing_errors;
    uint32_t overflows;
} el_rx_t;

/* Start receiving into buf, which must hold limit bytes (limit >= 10), or be NULL. */
void el_rx_init(el_rx_t *rx, uint8_t *buf, size_t limit);

/* Switch the destination buffer; only between frames (el_rx_idle() is true). */
void el_rx_set_buffer(el_rx_t *rx, uint8_t *buf);

/* True when no frame is partially received. */
static inline bool el_rx_idle(const el_rx_t *rx)
{
    return !rx->active;
}

/* Feed one wire byte; see the contract above. */
el_rx_event_t el_rx_feed(el_rx_t *rx, uint8_t byte);

typedef struct {
    el_cobs_enc_t cobs;
    uint32_t crc;        /* raw CRC register over header and payload so far */
    size_t payload_len;  /* payload bytes put so far */
} el_tx_t;

/* Start a frame of the given type and seq (version 1, flags 0). */
void el_tx_begin(el_tx_t *tx, el_sink_fn sink, void *ctx, uint8_t type, uint16_t seq);

/* Append payload bytes. Returns false if the sink has failed. */
bool el_tx_put(el_tx_t *tx, const void *data, size_t len);

/* Append the CRC, flush COBS and write the 0x00 delimiter. True if the whole frame reached the sink. */
bool el_tx_end(el_tx_t *tx);

/*
 * One-shot: encode a whole frame into out (cap bytes, EL_WIRE_MAX(len)
 * always suffices). Returns the wire length including the delimiter, or 0 if
 * it does not fit.
 */
size_t el_frame_encode(uint8_t type, uint16_t seq, const void *payload, size_t len,
                       uint8_t *out, size_t cap);

#endif /* EL_FRAME_H */
