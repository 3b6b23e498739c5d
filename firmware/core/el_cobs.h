/*
 * el_cobs.h - Consistent Overhead Byte Stuffing, streaming both ways.
 *
 * Purpose: the framing layer of the link (SPEC.md section 2). COBS removes
 * every 0x00 from a frame so that 0x00 delimits frames; it costs 1 byte per
 * 254 (rounded up) plus 1. The encoding is the standard one: code 255 means
 * "254 data bytes, no zero follows", code n < 255 means "n-1 data bytes,
 * then a zero unless this is the last block"; the empty input is 0x01.
 *
 * Contract:
 *   - The encoder streams: it holds at most one 254-byte block and hands each
 *     finished block (code byte + data, at most 255 bytes) to a sink. Output
 *     is byte-identical to the reference encoding for any split of the input
 *     across put() calls. It writes no delimiter (el_frame does).
 *   - The decoder is a two-field state machine fed one byte at a time, O(1),
 *     no buffer of its own, safe in an interrupt handler. It never sees the
 *     0x00 delimiter: the caller handles it and asks el_cobs_dec_complete().
 *   - A sink returning false makes the encoder sticky-failed: later calls do
 *     nothing and el_cobs_enc_end() returns false.
 *   - No allocation, no global state.
 *
 * Example (one-shot into a buffer):
 *
 *     uint8_t wire[EL_COBS_MAX_ENCODED(sizeof data)];
 *     size_t n = el_cobs_encode(data, sizeof data, wire, sizeof wire);
 *     if (n == 0) { ... wire too small ... }
 */
#ifndef EL_COBS_H
#define EL_COBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Worst-case encoded size of n input bytes (no delimiter). */
#define EL_COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)

/* Receives encoded bytes; returns false to abort the encoding. */
typedef bool (*el_sink_fn)(void *ctx, const uint8_t *data, size_t len);

typedef struct {
    el_sink_fn sink;
    void *ctx;
    uint8_t block[255]; /* block[0] is the code byte, filled when flushed */
    uint8_t n;          /* data bytes held in block[1..] */
    bool last_full;     /* the previous flushed block had code 255 */
    bool started;       /* at least one block flushed */
    bool ok;            /* false once the sink has refused bytes */
} el_cobs_enc_t;

/* Start encoding into sink(ctx, ...). */
void el_cobs_enc_begin(el_cobs_enc_t *enc, el_sink_fn sink, void *ctx);

/* Encode len more input bytes. Returns false if the sink has failed. */
bool el_cobs_enc_put(el_cobs_enc_t *enc, const void *data, size_t len);

/* Flush the last block. Returns true if every byte reached the sink. */
bool el_cobs_enc_end(el_cobs_enc_t *enc);

/* A sink that appends to a caller buffer: {out, cap, len = 0}; refuses what does not fit. */
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t len;
} el_buf_sink_t;

/* el_sink_fn for an el_buf_sink_t context. */
bool el_buf_sink(void *ctx, const uint8_t *data, size_t len);

/* Encode n bytes into out (cap bytes). Returns the encoded length, or 0 if it does not fit. */
size_t el_cobs_encode(const void *in, size_t n, uint8_t *out, size_t cap);

typedef struct {
    uint8_t left;       /* data bytes still due in the current block; 0 = a code byte is next */
    bool zero_pending;  /* the current block ends with an implicit zero (code < 255) */
    bool started;       /* a code byte has been seen */
} el_cobs_dec_t;

/* Reset for a new frame. */
static inline void el_cobs_dec_reset(el_cobs_dec_t *dec)
{
    dec->left = 0;
    dec->zero_pending = false;
    dec->started = false;
}

/*
 * Feed one non-zero wire byte. Returns true and sets *out when the byte
 * yields a decoded byte (a data byte, or the implicit zero that a new code
 * byte releases); returns false when it yields nothing.
 */
static inline bool el_cobs_dec_byte(el_cobs_dec_t *dec, uint8_t byte, uint8_t *out)
{
    if (dec->left == 0) { /* a code byte */
        bool emit_zero = dec->started && dec->zero_pending;
        dec->started = true;
        dec->left = (uint8_t)(byte - 1u);
        dec->zero_pending = byte != 0xFFu;
        if (emit_zero) {
            *out = 0;
        }
        return emit_zero;
    }
    dec->left--;
    *out = byte;
    return true;
}

/* At a delimiter: true if the bytes fed so far are a complete, valid COBS encoding. */
static inline bool el_cobs_dec_complete(const el_cobs_dec_t *dec)
{
    return dec->started && dec->left == 0;
}

#endif /* EL_COBS_H */
