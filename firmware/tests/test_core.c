/*
 * test_core.c - the firmware core against a scripted port (port.h): reads
 * that return one byte at a time, requests beyond the credit, a link that
 * stops taking replies, and INFER through the registry.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <string.h>

#include "el_core.h"
#include "el_frame.h"
#include "el_registry.h"
#include "el_test.h"
#include "port.h"
#include "sine.h"

/* ---- scripted port ---- */
static uint8_t rx_script[16384];
static size_t rx_len, rx_pos, rx_chunk = 1;
static uint8_t tx_log[65536];
static size_t tx_len;
static bool tx_blocked;
static uint32_t fake_ms, fake_ticks;

bool port_init(void) { return true; }
size_t port_link_read(uint8_t *buf, size_t cap)
{
    size_t n = rx_len - rx_pos;
    n = n < rx_chunk ? n : rx_chunk;
    n = n < cap ? n : cap;
    memcpy(buf, rx_script + rx_pos, n);
    rx_pos += n;
    return n;
}
size_t port_link_write(const uint8_t *buf, size_t len)
{
    if (tx_blocked) {
        return 0;
    }
    len = len < sizeof tx_log - tx_len ? len : sizeof tx_log - tx_len;
    memcpy(tx_log + tx_len, buf, len);
    tx_len += len;
    return len;
}
uint32_t port_ticks(void) { return fake_ticks += 3; }
uint32_t port_tick_hz(void) { return 1000000u; }
uint32_t port_cpu_hz(void) { return 0; }
uint8_t port_timing_source(void) { return PORT_TIMING_HOST_CLOCK; }
uint16_t port_instr_per_tick(void) { return 0; }
const char *port_board_name(void) { return "scripted"; }
uint32_t port_rx_overflows(void) { return 0; }
uint32_t port_millis(void) { return fake_ms; }
void port_led(bool on) { (void)on; }
void port_watchdog_kick(void) {}
void port_idle(void) { fake_ms += 10; }

/* ---- helpers ---- */
static void script(uint8_t type, uint16_t seq, const void *payload, size_t n)
{
    rx_len += el_frame_encode(type, seq, payload, n, rx_script + rx_len, sizeof rx_script - rx_len);
}

static void run_until_drained(void)
{
    for (int i = 0; i < 100000 && (rx_pos < rx_len || i < 20); i++) {
        el_core_poll();
    }
    for (int i = 0; i < 20; i++) {
        el_core_poll();
    }
}

typedef struct {
    uint8_t type;
    uint16_t seq;
    size_t len;
    uint8_t payload[1024];
} reply_t;

/* Decode everything the core sent; returns the number of replies. */
static size_t replies(reply_t *out, size_t cap)
{
    static uint8_t buf[70000];
    el_rx_t rx;
    el_rx_init(&rx, buf, sizeof buf);
    size_t k = 0;
    for (size_t i = 0; i < tx_len; i++) {
        if (el_rx_feed(&rx, tx_log[i]) == EL_RX_FRAME && k < cap) {
            el_header_t h = el_header_parse(buf);
            out[k].type = h.type;
            out[k].seq = h.seq;
            out[k].len = rx.len - EL_FRAME_OVERHEAD;
            memcpy(out[k].payload, buf + EL_HEADER_SIZE, out[k].len < 1024 ? out[k].len : 1024);
            k++;
        }
    }
    EL_CHECK(rx.crc_errors + rx.framing_errors + rx.overflows == 0, "the core sent a corrupt frame");
    return k;
}

static void reset(void)
{
    rx_len = rx_pos = tx_len = 0;
    tx_blocked = false;
    const char *why = "unset";
    EL_CHECK(el_core_init(&why) && why == NULL, "core init: %s", why ? why : "(null)");
}

static void test_hello_one_byte_reads(void)
{
    reset();
    rx_chunk = 1;
    script(EL_MSG_HELLO, 1, "\x01", 1);
    run_until_drained();
    reply_t r[4];
    size_t n = replies(r, 4);
    EL_CHECK(n == 1 && r[0].type == (EL_MSG_HELLO | EL_MSG_REPLY) && r[0].seq == 1, "INFO after 1-byte reads");
    EL_CHECK(n == 1 && r[0].payload[0] == 1 && r[0].payload[2] == EL_RX_CREDIT, "INFO version and credit");
    EL_CHECK(n == 1 && memmem(r[0].payload, r[0].len, "scripted", 8) && memmem(r[0].payload, r[0].len, "mean64", 6),
             "INFO names the board and the models");
}

static void test_busy_beyond_credit(void)
{
    reset();
    rx_chunk = 4096; /* everything arrives before the core serves anything */
    for (uint16_t s = 1; s <= EL_RX_CREDIT + 1u; s++) {
        script(EL_MSG_PING, s, &s, sizeof s);
    }
    run_until_drained();
    reply_t r[8];
    size_t n = replies(r, 8);
    EL_CHECK(n == EL_RX_CREDIT + 1u, "%zu replies", n);
    EL_CHECK(n > 0 && r[0].type == EL_MSG_ERROR && r[0].seq == EL_RX_CREDIT + 1u && r[0].payload[0] == EL_ERR_BUSY,
             "the request beyond the credit is answered BUSY at once");
    for (size_t i = 1; i < n; i++) {
        EL_CHECK(r[i].type == (EL_MSG_PING | EL_MSG_REPLY) && r[i].seq == i, "PONG %zu in order", i);
    }
}

static void test_blocked_link_does_not_hang(void)
{
    reset();
    rx_chunk = 64;
    tx_blocked = true;
    script(EL_MSG_PING, 5, "stuck", 5);
    uint32_t start = fake_ms;
    run_until_drained();
    EL_CHECK(fake_ms - start >= EL_TX_TIMEOUT_MS && fake_ms - start < 10u * EL_TX_TIMEOUT_MS,
             "gave up after the TX timeout (%u ms)", (unsigned)(fake_ms - start));
    tx_blocked = false;
    script(EL_MSG_PING, 6, "free", 4);
    run_until_drained();
    reply_t r[4];
    size_t n = replies(r, 4);
    EL_CHECK(n == 1 && r[0].seq == 6 && r[0].len == 4, "serves again once the link drains");
}

static void test_infer_through_the_registry(void)
{
    reset();
    rx_chunk = 7;
    static _Alignas(16) uint8_t arena[SINE_ARENA_BYTES];
    for (int x = -128; x < 128; x += 37) {
        uint8_t req[3] = {0xFF, 0, (uint8_t)x};
        int8_t in = (int8_t)x, want;
        nn_model_sine.invoke(&in, &want, arena);
        tx_len = 0;
        script(EL_MSG_INFER, (uint16_t)(x + 200), req, 3);
        run_until_drained();
        reply_t r[2];
        size_t n = replies(r, 2);
        EL_CHECK(n == 1 && r[0].type == (EL_MSG_INFER | EL_MSG_REPLY) && r[0].len == 23, "RESULT for %d", x);
        EL_CHECK(n == 1 && (int8_t)r[0].payload[22] == want, "sine(%d) through the core", x);
        EL_CHECK(n == 1 && r[0].payload[0] == 0 && r[0].payload[2] == (1000000u & 0xFF), "model 0, tick_hz");
    }
    uint32_t stats[EL_STAT_COUNT];
    el_core_stats(stats);
    EL_CHECK(stats[EL_STAT_INFERENCES] == 7 && stats[EL_STAT_FRAMES_OK] == 7, "counters %u %u",
             (unsigned)stats[EL_STAT_INFERENCES], (unsigned)stats[EL_STAT_FRAMES_OK]);
    EL_CHECK(el_arena_bytes >= SINE_ARENA_BYTES && el_model_count == 2, "registry sizes");
}

static void test_link_reset_drops_queued_requests(void)
{
    reset();
    rx_chunk = 4096;
    script(EL_MSG_PING, 1, "a", 1);
    size_t first = rx_len;
    script(EL_MSG_PING, 2, "b", 1);
    rx_len = first + 5; /* the second frame is cut off mid-way */
    el_core_poll();     /* takes both, serves the first */
    el_core_link_reset();
    rx_len = rx_pos = 0;
    script(EL_MSG_PING, 3, "c", 1);
    run_until_drained();
    reply_t r[4];
    size_t n = replies(r, 4);
    EL_CHECK(n == 2 && r[0].seq == 1 && r[1].seq == 3, "after a link reset the partial frame is gone (%zu)", n);
}

int main(void)
{
    test_hello_one_byte_reads();
    test_busy_beyond_credit();
    test_blocked_link_does_not_hang();
    test_infer_through_the_registry();
    test_link_reset_drops_queued_requests();
    return el_test_exit("core");
}
