/*
 * fuzz_rx.c - libFuzzer target of the frame receiver (el_frame.h).
 *
 * Feeds the input as wire bytes into a receiver with a small limit, in both
 * storing and header-only mode, and checks its invariants on every event:
 * the decoded length never exceeds the limit, every byte and event is
 * accounted for in the counters, and an accepted frame re-encodes to a frame
 * that decodes to the same bytes. Built by `make -C firmware fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "el_frame.h"

#define LIMIT (256u + EL_FRAME_OVERHEAD)

static void check(int ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[LIMIT], again[LIMIT], wire[EL_WIRE_MAX(LIMIT)];
    el_rx_t rx, head_only;
    el_rx_init(&rx, buf, LIMIT);
    el_rx_init(&head_only, NULL, LIMIT);
    uint32_t events = 0;
    for (size_t i = 0; i < size; i++) {
        el_rx_event_t ev = el_rx_feed(&rx, data[i]);
        el_rx_event_t ev2 = el_rx_feed(&head_only, data[i]);
        check(ev == ev2); /* storing the payload never changes the verdict */
        check(rx.len <= LIMIT);
        if (ev == EL_RX_NONE) {
            continue;
        }
        events++;
        if (ev == EL_RX_FRAME) {
            check(rx.len >= EL_FRAME_OVERHEAD && memcmp(rx.head, buf, EL_HEADER_SIZE) == 0);
            el_header_t h = el_header_parse(buf);
            size_t plen = rx.len - EL_FRAME_OVERHEAD;
            size_t n = el_frame_encode(h.type, h.seq, buf + EL_HEADER_SIZE, plen, wire, sizeof wire);
            check(n > 0 && wire[n - 1] == 0);
            el_rx_t back;
            el_rx_init(&back, again, LIMIT);
            el_rx_event_t last = EL_RX_NONE;
            for (size_t k = 0; k < n; k++) {
                last = el_rx_feed(&back, wire[k]);
            }
            check(last == EL_RX_FRAME && back.len == rx.len);
            check(memcmp(again + EL_HEADER_SIZE, buf + EL_HEADER_SIZE, plen) == 0);
        }
    }
    check(rx.frames_ok + rx.crc_errors + rx.framing_errors + rx.overflows == events);
    return 0;
}
