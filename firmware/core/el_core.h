/*
 * el_core.h - the portable device side of the edgeloop link protocol.
 *
 * Purpose: a protocol endpoint (el_frame), a dispatcher for every request of
 * SPEC.md section 5, the runner of the registered models (el_registry.h),
 * BENCH, the STATS counters and an ERROR reply for every bad request
 * (SPEC.md section 6). It talks to the board only through core/port.h (the board contract).
 *
 * Contract:
 *   - Single-threaded: call el_core_init() once after port_init(), then
 *     el_core_poll() forever from the main loop. Nothing here allocates or
 *     blocks beyond one request's compute and reply; a reply the link cannot
 *     take within EL_TX_TIMEOUT_MS is abandoned, so the core never hangs.
 *   - Reception: the core pulls bytes with port_link_read(), which may return
 *     any number of bytes (1 byte from a UART ISR ring, a DMA half buffer, a
 *     TCP segment). It owns EL_RX_CREDIT frame slots: while requests wait in
 *     slots, the next frame decodes into a free slot; with all slots full a
 *     further frame is checked but not stored and answered ERROR BUSY. While
 *     the core computes, the port must buffer what arrives
 *     (EL_PORT_RX_RING_BYTES holds EL_RX_CREDIT maximum-size frames), and
 *     count in port_rx_overflows() what it had to drop.
 *   - t_rx of a RESULT runs from the poll that took the frame's first byte
 *     from the port to the verified frame. A frame that arrived while the
 *     core was busy was held by the port meanwhile, so its t_rx covers only
 *     the part received and decoded after the core got back to it.
 *   - Requests are served in arrival order; ERROR FRAME_TOO_LARGE and BUSY
 *     are sent as soon as the offending frame ends (FRAME_TOO_LARGE with seq
 *     0: its header was never verified). The host matches by seq, and may
 *     take a reply to a later request as proof that an earlier one was lost.
 *   - Every frame the core sends is preceded by a 0x00, so a reply whose
 *     closing delimiter is lost on the line cannot take the next one with it.
 *   - Frames of a reply type (bit 7 set) are counted and never answered;
 *     a request with seq 0 gets ERROR BAD_PAYLOAD with seq 0 (SPEC.md 3, 5).
 *
 * Example (what el_main.c does):
 *
 *     if (!port_init()) for (;;) {}
 *     const char *why;
 *     if (!el_core_init(&why)) { ... every request now gets ERROR INTERNAL why ... }
 *     for (;;) el_core_poll();
 */
#ifndef EL_CORE_H
#define EL_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "el_config.h"

/* Message types (SPEC.md section 5). */
enum {
    EL_MSG_HELLO = 0x01,
    EL_MSG_LIST_MODELS = 0x02,
    EL_MSG_SELECT_MODEL = 0x03,
    EL_MSG_INFER = 0x04,
    EL_MSG_BENCH = 0x05,
    EL_MSG_PING = 0x06,
    EL_MSG_STATS = 0x07,
    EL_MSG_DESCRIBE_MODEL = 0x08, /* 1.1, SPEC.md section 9.5 */
    EL_MSG_REPLY = 0x80, /* a reply's type is the request's type | 0x80 */
    EL_MSG_LOG = 0xFE,
    EL_MSG_ERROR = 0xFF
};

/* ERROR codes (SPEC.md section 5.12). */
enum {
    EL_ERR_BAD_PAYLOAD = 1,
    EL_ERR_UNKNOWN_TYPE = 2,
    EL_ERR_UNSUPPORTED_VERSION = 3,
    EL_ERR_UNKNOWN_MODEL = 4,
    EL_ERR_BAD_INPUT_SIZE = 5,
    EL_ERR_FRAME_TOO_LARGE = 6,
    EL_ERR_BUSY = 7,
    EL_ERR_INTERNAL = 8
};

/* Descriptor feature_set values (SPEC.md section 9.3). */
enum { EL_FEATURE_SET_NONE = 0, EL_FEATURE_SET_STATS9 = 1 };

/* LOG levels (SPEC.md section 5.11). */
enum { EL_LOG_DEBUG = 0, EL_LOG_INFO = 1, EL_LOG_WARNING = 2, EL_LOG_ERROR = 3 };

/* STATS counters in protocol order (SPEC.md section 5.10). */
enum {
    EL_STAT_FRAMES_OK,
    EL_STAT_CRC_ERRORS,
    EL_STAT_FRAMING_ERRORS,
    EL_STAT_OVERFLOWS,
    EL_STAT_ERRORS_SENT,
    EL_STAT_INFERENCES,
    EL_STAT_RX_BYTES,
    EL_STAT_TX_BYTES,
    EL_STAT_UPTIME_MS,
    EL_STAT_RX_DROPPED_BYTES, /* 1.1 */
    EL_STAT_TX_ABANDONED,     /* 1.1 */
    EL_STAT_BENCH_RUNS,       /* 1.1 */
    EL_STAT_UNEXPECTED_FRAMES, /* 1.1 */
    EL_STAT_COUNT
};

#define EL_BENCH_MAX_RUNS 100000u

/*
 * Reset all state and check the registry against the limits (max payload,
 * arena, EL_IO_POOL_BYTES). Returns true when the firmware can serve. On
 * false, *why (if why is not NULL) names the problem and the fix, and the
 * core answers every request with ERROR INTERNAL carrying that text.
 */
bool el_core_init(const char **why);

/* One main-loop step: take what the link has, serve at most one request, idle when there is nothing to do. */
void el_core_poll(void);

/* Forget partial and queued requests, e.g. when a port accepts a new client. Counters are kept. */
void el_core_link_reset(void);

/* Send an unsolicited LOG (seq 0). Returns false if the link did not take it in time. */
bool el_core_log(uint8_t level, const char *text);

/* Copy the STATS counters (EL_STAT_COUNT values) into out. */
void el_core_stats(uint32_t out[EL_STAT_COUNT]);

#endif /* EL_CORE_H */
