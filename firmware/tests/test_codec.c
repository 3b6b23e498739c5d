/*
 * test_codec.c - unit and torture tests of the C link codec (el_crc32,
 * el_cobs, el_frame), including every golden vector of protocol/vectors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "el_cobs.h"
#include "el_crc32.h"
#include "el_frame.h"
#include "el_golden_vectors.h"
#include "el_test.h"

#define MAX_PAYLOAD 1024u
#define LIMIT (MAX_PAYLOAD + EL_FRAME_OVERHEAD)

/* Independent textbook COBS encoder (pointer to the pending code byte) used as the oracle. */
static size_t ref_cobs_encode(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            if (++code == 0xFF && i + 1 < n) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return o;
}

typedef struct {
    el_rx_event_t ev;
    size_t len;
    uint8_t head[EL_HEADER_SIZE];
} rx_event_t;

/* Feed bytes, store up to cap events; returns the number of events. */
static size_t feed(el_rx_t *rx, const uint8_t *wire, size_t n, rx_event_t *evs, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        el_rx_event_t ev = el_rx_feed(rx, wire[i]);
        if (ev != EL_RX_NONE && k < cap) {
            evs[k].ev = ev;
            evs[k].len = rx->len;
            memcpy(evs[k].head, rx->head, EL_HEADER_SIZE);
            k++;
        }
    }
    return k;
}

static uint32_t dropped(const el_rx_t *rx)
{
    return rx->crc_errors + rx->framing_errors + rx->overflows;
}

static void test_crc32(void)
{
    static const char check[] = "123456789";
    EL_CHECK(el_crc32(0, check, 9) == 0xCBF43926u, "CRC-32 check value, got %08x",
             (unsigned)el_crc32(0, check, 9));
    EL_CHECK(el_crc32(el_crc32(0, check, 4), check + 4, 5) == 0xCBF43926u, "CRC-32 continued");
    uint8_t buf[64];
    for (int trial = 0; trial < 200; trial++) {
        size_t n = el_test_rand() % 60u;
        for (size_t i = 0; i < n; i++) {
            buf[i] = (uint8_t)el_test_rand();
        }
        uint32_t crc = el_crc32(0, buf, n);
        for (int b = 0; b < 4; b++) {
            buf[n + (size_t)b] = (uint8_t)(crc >> (8 * b));
        }
        uint32_t reg = EL_CRC32_INIT;
        for (size_t i = 0; i < n + 4; i++) {
            reg = el_crc32_step(reg, buf[i]);
        }
        EL_CHECK(reg == EL_CRC32_RESIDUE, "residue after %zu bytes + CRC: %08x", n, (unsigned)reg);
    }
}

static void check_cobs_case(const uint8_t *in, size_t n)
{
    static uint8_t ref[4096], got[4096], split[4096], dec[4096];
    size_t ref_n = ref_cobs_encode(in, n, ref);
    size_t got_n = el_cobs_encode(in, n, got, sizeof got);
    EL_CHECK(got_n == ref_n && memcmp(ref, got, ref_n) == 0, "COBS of %zu bytes differs from reference", n);
    EL_CHECK(got_n <= EL_COBS_MAX_ENCODED(n), "COBS of %zu bytes over the bound", n);
    for (size_t i = 0; i < got_n; i++) {
        EL_CHECK(got[i] != 0, "COBS output has a zero at %zu", i);
    }
    /* The same bytes put in random pieces encode identically. */
    el_buf_sink_t b = {split, sizeof split, 0};
    el_cobs_enc_t enc;
    el_cobs_enc_begin(&enc, el_buf_sink, &b);
    for (size_t i = 0; i < n;) {
        size_t piece = 1u + el_test_rand() % 300u;
        piece = piece > n - i ? n - i : piece;
        el_cobs_enc_put(&enc, in + i, piece);
        i += piece;
    }
    EL_CHECK(el_cobs_enc_end(&enc) && b.len == ref_n && memcmp(split, ref, ref_n) == 0,
             "split COBS of %zu bytes differs", n);
    /* Decoding gives the input back. */
    el_cobs_dec_t d;
    el_cobs_dec_reset(&d);
    size_t m = 0;
    for (size_t i = 0; i < got_n; i++) {
        uint8_t out;
        if (el_cobs_dec_byte(&d, got[i], &out)) {
            dec[m++] = out;
        }
    }
    EL_CHECK(el_cobs_dec_complete(&d) && m == n && memcmp(dec, in, n) == 0, "COBS round trip of %zu bytes", n);
    /* A too-small output buffer is refused, never overrun. */
    if (got_n > 0) {
        EL_CHECK(el_cobs_encode(in, n, got, got_n - 1) == 0, "COBS into a short buffer must fail");
    }
}

static void test_cobs(void)
{
    static uint8_t in[2048];
    static const size_t sizes[] = {0, 1, 2, 253, 254, 255, 256, 507, 508, 509, 1024, 2048};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        memset(in, 0x11, n);
        check_cobs_case(in, n); /* no zeros */
        memset(in, 0, n);
        check_cobs_case(in, n); /* all zeros */
        for (size_t i = 0; i < n; i++) {
            in[i] = (uint8_t)(el_test_rand() % 4u == 0 ? 0 : el_test_rand());
        }
        check_cobs_case(in, n);
        if (n > 0) {
            memset(in, 0x22, n);
            in[n - 1] = 0;
            check_cobs_case(in, n); /* ends in a zero */
        }
    }
    uint8_t ff254[255];
    memset(ff254, 0x33, 254);
    uint8_t wire[300];
    EL_CHECK(el_cobs_encode(ff254, 254, wire, sizeof wire) == 255 && wire[0] == 0xFF,
             "254 non-zero bytes encode as one 255 block without a trailing 0x01");
    uint8_t empty_wire[2];
    EL_CHECK(el_cobs_encode(NULL, 0, empty_wire, 2) == 1 && empty_wire[0] == 1, "empty input encodes as 0x01");
}

static const char *kind_of(el_rx_event_t ev)
{
    switch (ev) {
    case EL_RX_FRAME: return "frame";
    case EL_RX_CRC_ERROR: return "crc";
    case EL_RX_FRAMING_ERROR: return "framing";
    case EL_RX_TOO_LARGE: return "overflow";
    default: return "none";
    }
}

static void test_golden_vectors(void)
{
    static _Alignas(8) uint8_t buf[65535u + EL_FRAME_OVERHEAD];
    static uint8_t wire[70000];
    for (size_t v = 0; v < el_golden_vector_count; v++) {
        const el_golden_vector_t *g = &el_golden_vectors[v];
        el_rx_t rx;
        el_rx_init(&rx, buf, g->max_payload + EL_FRAME_OVERHEAD);
        size_t k = 0;
        for (size_t i = 0; i < g->wire_len; i++) {
            el_rx_event_t ev = el_rx_feed(&rx, g->wire[i]);
            if (ev == EL_RX_NONE) {
                continue;
            }
            EL_CHECK(k < g->event_count, "%s: extra event %s", g->name, kind_of(ev));
            if (k >= g->event_count) {
                break;
            }
            const el_golden_event_t *want = &g->events[k++];
            EL_CHECK(strcmp(kind_of(ev), want->kind) == 0, "%s: event %zu is %s, want %s", g->name, k - 1,
                     kind_of(ev), want->kind);
            el_header_t h = el_header_parse(rx.head);
            if (want->has_seq) {
                EL_CHECK(h.seq == want->seq, "%s: seq %u, want %u", g->name, h.seq, want->seq);
            }
            if (ev == EL_RX_FRAME) {
                size_t plen = rx.len - EL_FRAME_OVERHEAD;
                EL_CHECK(h.version == want->version && h.type == want->type, "%s: header %u/%u", g->name,
                         h.version, h.type);
                EL_CHECK(plen == want->payload_len && memcmp(buf + EL_HEADER_SIZE, want->payload, plen) == 0,
                         "%s: payload differs (%zu vs %zu bytes)", g->name, plen, want->payload_len);
            }
        }
        EL_CHECK(k == g->event_count, "%s: %zu events, want %zu", g->name, k, g->event_count);
        /* Every single valid v1 frame re-encodes to exactly its golden bytes. */
        if (g->event_count == 1 && strcmp(g->events[0].kind, "frame") == 0 && g->events[0].version == 1) {
            const el_golden_event_t *e = &g->events[0];
            size_t n = el_frame_encode(e->type, e->seq, e->payload, e->payload_len, wire, sizeof wire);
            EL_CHECK(n == g->wire_len && memcmp(wire, g->wire, n) == 0, "%s: encoder output differs", g->name);
        }
    }
    EL_CHECK(el_golden_vector_count >= 20, "only %zu golden vectors", el_golden_vector_count);
}

/* A random valid frame: returns its wire length; payload of plen bytes (some zeros). */
static size_t make_frame(uint8_t type, uint16_t seq, size_t plen, uint8_t *wire, size_t cap)
{
    static uint8_t payload[4 * MAX_PAYLOAD];
    for (size_t i = 0; i < plen; i++) {
        payload[i] = (uint8_t)(el_test_rand() % 7u == 0 ? 0 : el_test_rand());
    }
    return el_frame_encode(type, seq, payload, plen, wire, cap);
}

static bool is_good_frame(const rx_event_t *e, uint16_t seq, size_t plen)
{
    return e->ev == EL_RX_FRAME && el_header_parse(e->head).seq == seq && e->len == plen + EL_FRAME_OVERHEAD;
}

static void test_cut_at_every_offset(void)
{
    static _Alignas(8) uint8_t buf[LIMIT];
    static uint8_t cut[EL_WIRE_MAX(300)], good1[EL_WIRE_MAX(40)], good2[EL_WIRE_MAX(40)],
        stream[3 * EL_WIRE_MAX(300)];
    size_t cn = make_frame(4, 100, 300, cut, sizeof cut);
    size_t g1 = make_frame(6, 101, 40, good1, sizeof good1);
    size_t g2 = make_frame(6, 102, 40, good2, sizeof good2);
    for (size_t i = 1; i < cn; i++) {
        /* The cut frame runs into good1 (no delimiter between): one frame lost, counted; good2 arrives. */
        el_rx_t rx;
        el_rx_init(&rx, buf, LIMIT);
        memcpy(stream, cut, i);
        memcpy(stream + i, good1, g1);
        memcpy(stream + i + g1, good2, g2);
        rx_event_t evs[4];
        size_t k = feed(&rx, stream, i + g1 + g2, evs, 4);
        EL_CHECK(k == 2 && evs[0].ev != EL_RX_FRAME && is_good_frame(&evs[1], 102, 40),
                 "cut at %zu then two frames: %zu events", i, k);
        EL_CHECK(dropped(&rx) == 1 && rx.frames_ok == 1, "cut at %zu: dropped %u ok %u", i,
                 (unsigned)dropped(&rx), (unsigned)rx.frames_ok);
        /* A flush 0x00 after the cut saves the very next frame (at cn - 1 nothing was cut). */
        if (i == cn - 1) {
            continue;
        }
        el_rx_init(&rx, buf, LIMIT);
        stream[i] = 0;
        memcpy(stream + i + 1, good1, g1);
        k = feed(&rx, stream, i + 1 + g1, evs, 4);
        EL_CHECK(k == 2 && evs[0].ev != EL_RX_FRAME && is_good_frame(&evs[1], 101, 40), "cut at %zu + flush", i);
        EL_CHECK(dropped(&rx) == 1 && rx.frames_ok == 1, "cut at %zu + flush: counted", i);
    }
}

static void test_bit_flips(void)
{
    static _Alignas(8) uint8_t buf[LIMIT];
    static uint8_t frame[EL_WIRE_MAX(120)], good[EL_WIRE_MAX(16)], stream[2 * EL_WIRE_MAX(120)];
    size_t fn = make_frame(4, 7, 120, frame, sizeof frame);
    size_t gn = make_frame(6, 8, 16, good, sizeof good);
    for (size_t bit = 0; bit < fn * 8; bit++) {
        memcpy(stream, frame, fn);
        stream[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        stream[fn] = 0; /* flush, as a host does after a timeout */
        memcpy(stream + fn + 1, good, gn);
        el_rx_t rx;
        el_rx_init(&rx, buf, LIMIT);
        rx_event_t evs[8];
        size_t k = feed(&rx, stream, fn + 1 + gn, evs, 8);
        bool corrupted_accepted = false;
        for (size_t i = 0; i + 1 < k; i++) {
            corrupted_accepted |= evs[i].ev == EL_RX_FRAME;
        }
        EL_CHECK(!corrupted_accepted, "bit %zu flipped: corrupted frame accepted", bit);
        EL_CHECK(k >= 2 && is_good_frame(&evs[k - 1], 8, 16), "bit %zu flipped: next frame lost", bit);
        EL_CHECK(dropped(&rx) >= 1 && dropped(&rx) == k - 1 && rx.frames_ok == 1,
                 "bit %zu flipped: %u dropped for %zu events", bit, (unsigned)dropped(&rx), k);
    }
}

static void test_garbage_between_frames(void)
{
    static _Alignas(8) uint8_t buf[LIMIT];
    static uint8_t stream[64 * 1024];
    el_rx_t rx;
    el_rx_init(&rx, buf, LIMIT);
    size_t n = 0, good = 0;
    uint16_t seqs[200];
    size_t lens[200];
    for (int round = 0; round < 200; round++) {
        size_t glen = el_test_rand() % 40u;
        for (size_t i = 0; i < glen; i++) {
            stream[n++] = (uint8_t)(el_test_rand() % 5u == 0 ? 0 : el_test_rand());
        }
        stream[n++] = 0;
        seqs[good] = (uint16_t)(round + 1);
        lens[good] = el_test_rand() % 200u;
        n += make_frame(7, seqs[good], lens[good], stream + n, sizeof stream - n);
        good++;
    }
    static rx_event_t evs[2000];
    size_t k = feed(&rx, stream, n, evs, 2000);
    size_t seen = 0;
    for (size_t i = 0; i < k; i++) {
        if (evs[i].ev == EL_RX_FRAME) {
            EL_CHECK(seen < good && is_good_frame(&evs[i], seqs[seen], lens[seen]), "frame %zu after garbage", seen);
            seen++;
        }
    }
    EL_CHECK(seen == good, "%zu of %zu frames survived the garbage", seen, good);
    EL_CHECK(dropped(&rx) == k - seen, "every garbage frame counted: %u vs %zu", (unsigned)dropped(&rx), k - seen);
}

static void test_oversize(void)
{
    static _Alignas(8) uint8_t buf[LIMIT];
    static uint8_t big[EL_WIRE_MAX(3 * MAX_PAYLOAD)], good[EL_WIRE_MAX(MAX_PAYLOAD)];
    static const size_t sizes[] = {MAX_PAYLOAD + 1, MAX_PAYLOAD + 100, 3 * MAX_PAYLOAD};
    for (size_t s = 0; s < 3; s++) {
        el_rx_t rx;
        el_rx_init(&rx, buf, LIMIT);
        size_t bn = make_frame(4, 0x1234, sizes[s], big, sizeof big);
        size_t gn = make_frame(4, 0x1235, MAX_PAYLOAD, good, sizeof good); /* exactly at the limit */
        rx_event_t evs[4];
        size_t k = feed(&rx, big, bn, evs, 4);
        k += feed(&rx, good, gn, evs + k, 4 - k);
        EL_CHECK(k == 2 && evs[0].ev == EL_RX_TOO_LARGE && el_header_parse(evs[0].head).seq == 0x1234,
                 "oversize %zu: reported with its seq", sizes[s]);
        EL_CHECK(k == 2 && is_good_frame(&evs[1], 0x1235, MAX_PAYLOAD), "frame at the limit after oversize %zu",
                 sizes[s]);
        EL_CHECK(rx.overflows == 1 && rx.frames_ok == 1, "oversize counted once");
    }
}

static void test_header_only_mode(void)
{
    static uint8_t wire[EL_WIRE_MAX(500)];
    el_rx_t rx;
    el_rx_init(&rx, NULL, LIMIT);
    size_t n = make_frame(5, 0xBEEF, 500, wire, sizeof wire);
    rx_event_t evs[2];
    size_t k = feed(&rx, wire, n, evs, 2);
    EL_CHECK(k == 1 && is_good_frame(&evs[0], 0xBEEF, 500) && evs[0].head[1] == 5, "header-only frame verified");
    wire[10] ^= 0x40;
    k = feed(&rx, wire, n, evs, 2);
    EL_CHECK(k == 1 && evs[0].ev != EL_RX_FRAME && dropped(&rx) == 1, "header-only mode still checks the CRC");
}

static void test_tx_pieces(void)
{
    static uint8_t payload[700], whole[EL_WIRE_MAX(700)], pieces[EL_WIRE_MAX(700)];
    for (size_t i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)(i % 9u == 0 ? 0 : i);
    }
    size_t wn = el_frame_encode(0x84, 77, payload, sizeof payload, whole, sizeof whole);
    el_buf_sink_t b = {pieces, sizeof pieces, 0};
    el_tx_t tx;
    el_tx_begin(&tx, el_buf_sink, &b, 0x84, 77);
    el_tx_put(&tx, payload, 3);
    el_tx_put(&tx, payload + 3, 500);
    el_tx_put(&tx, payload + 503, 197);
    EL_CHECK(el_tx_end(&tx) && b.len == wn && memcmp(whole, pieces, wn) == 0, "streamed frame equals one-shot");
    EL_CHECK(wn <= EL_WIRE_MAX(700) && whole[wn - 1] == 0, "frame ends with the delimiter");
    EL_CHECK(el_frame_encode(0x84, 77, payload, sizeof payload, whole, wn - 1) == 0, "short buffer refused");
}

int main(void)
{
    test_crc32();
    test_cobs();
    test_golden_vectors();
    test_cut_at_every_offset();
    test_bit_flips();
    test_garbage_between_frames();
    test_oversize();
    test_header_only_mode();
    test_tx_pieces();
    return el_test_exit("codec");
}
