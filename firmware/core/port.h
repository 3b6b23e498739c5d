/*
 * port.h - the one contract between the portable firmware core and a board.
 *
 * It lives in core/ because it is the core's contract: the core states what
 * it needs, and every board port (ports/host, ports/qemu-mps2-an500,
 * ports/nucleo-h743zi2) implements exactly these functions; firmware/core calls nothing else that
 * is board specific. All functions are called from the main loop only,
 * except where a port documents its own interrupt handlers.
 *
 * Example main loop (what core/el_main.c does):
 *
 *     port_init();
 *     for (;;) {
 *         uint8_t buf[64];
 *         size_t n = port_link_read(buf, sizeof buf);   // never blocks
 *         if (n == 0) { port_idle(); continue; }
 *         ... feed the decoder, dispatch, port_link_write(reply) ...
 *         port_watchdog_kick();
 *     }
 */
#ifndef EL_PORT_H
#define EL_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Timing sources, numbered as the protocol's INFO.timing_source (SPEC.md 5.2). */
#define PORT_TIMING_HOST_CLOCK 0u  /* ticks are host nanoseconds: a virtual board */
#define PORT_TIMING_QEMU_ICOUNT 1u /* ticks are SysTick counts under qemu -icount: emulated */
#define PORT_TIMING_DWT_CYCLES 2u  /* ticks are DWT CYCCNT CPU cycles: measured */
#define PORT_TIMING_SYSTICK 3u     /* ticks are SysTick counts on real silicon: measured */

/* Bring up clocks, caches, the link, the tick counter and the LED. Returns false on failure. */
bool port_init(void);

/* Copy up to cap received link bytes into buf; returns how many (0 when none). Never blocks. */
size_t port_link_read(uint8_t *buf, size_t cap);

/* Queue up to len bytes for sending; returns how many were accepted (may be < len). Never blocks. */
size_t port_link_write(const uint8_t *buf, size_t len);

/* Free-running tick counter at port_tick_hz(); wraps modulo 2^32, so subtract as uint32_t. */
uint32_t port_ticks(void);

/* Rate of port_ticks() in Hz. */
uint32_t port_tick_hz(void);

/* Core clock in Hz, or 0 when it has no meaning (a host process). */
uint32_t port_cpu_hz(void);

/* For PORT_TIMING_QEMU_ICOUNT: emulated instructions one tick counts, measured by the port (INFO
 * instr_per_tick, SPEC.md 9.2); 0 when a tick is not an instruction count. */
uint16_t port_instr_per_tick(void);

/* One of PORT_TIMING_*: what a tick is, so the host can label timings honestly. */
uint8_t port_timing_source(void);

/* Board name for INFO, e.g. "nucleo-h743zi2". */
const char *port_board_name(void);

/* Bytes lost so far because the receive buffer was full (reported in STATS.overflows). */
uint32_t port_rx_overflows(void);

/* Milliseconds since port_init(), wrapping. */
uint32_t port_millis(void);

/* Switch the user LED; the core blinks it as a heartbeat and on errors. */
void port_led(bool on);

/* Refresh the watchdog, if the board has one armed; a no-op otherwise. */
void port_watchdog_kick(void);

/* Nothing to do: sleep until the next interrupt or for a short while. */
void port_idle(void);

#endif /* EL_PORT_H */
