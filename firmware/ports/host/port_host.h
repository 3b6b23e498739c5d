/*
 * port_host.h - the host virtual board: port.h on Linux, serving the link on
 * a TCP socket and/or a pseudo-terminal.
 *
 * Purpose: run the real firmware core in a Linux process so every host tool
 * works without hardware (pyserial URL socket://127.0.0.1:PORT, or the pty
 * path as a serial device).
 *
 * Contract:
 *   - port_host_configure() before port_init(); port_init() opens the link
 *     and starts one I/O thread. That thread moves bytes between the link and
 *     two rings: RX (EL_PORT_RX_RING_BYTES unless configured, like a UART's
 *     interrupt-fed ring: bytes that find it full are dropped and counted in
 *     port_rx_overflows()) and TX. Everything else runs on the main thread.
 *   - With baud > 0 both directions are paced to baud / 10 bytes per second
 *     (8N1), so the link behaves like a UART of that rate.
 *   - One TCP client at a time; when it disconnects the next is accepted.
 *     port_host_link_changed() tells the main loop (once) that a new client
 *     arrived, so it can drop the previous client's requests; until it has
 *     been asked, port_link_read() holds the new client's bytes back and
 *     port_link_write() discards replies meant for the old client.
 *   - Ticks are CLOCK_MONOTONIC nanoseconds (tick_hz 1e9, timing source
 *     host-clock): host clock, never MCU cycles.
 *
 * Example (main_host.c):
 *
 *     port_host_config_t cfg = PORT_HOST_DEFAULTS;
 *     cfg.baud = 921600;
 *     if (!port_host_configure(&cfg) || !port_init()) return 1;
 *     printf("url=%s\n", port_host_url());
 *     while (running) { if (port_host_link_changed()) el_core_link_reset(); el_core_poll(); }
 *     port_host_shutdown();
 */
#ifndef PORT_HOST_H
#define PORT_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "port.h"

typedef struct {
    const char *bind_addr; /* TCP address to listen on */
    int tcp_port;          /* 0: any free port; -1: no TCP */
    bool pty;              /* also serve a pseudo-terminal */
    uint32_t baud;         /* 0: unthrottled */
    uint32_t rx_ring;      /* RX ring bytes; 0: EL_PORT_RX_RING_BYTES */
    uint32_t infer_us;     /* stretch every inference to at least this many µs (0: off) */
} port_host_config_t;

#define PORT_HOST_DEFAULTS {"127.0.0.1", 0, false, 0u, 0u, 0u}

/* Set the link configuration; returns false (with a message on stderr) when it is invalid. */
bool port_host_configure(const port_host_config_t *cfg);

/* "socket://ADDR:PORT" of the TCP link, or "" without TCP. Valid after port_init(). */
const char *port_host_url(void);

/* Path of the pty slave (e.g. /dev/pts/3), or "" without a pty. Valid after port_init(). */
const char *port_host_pty_path(void);

/* True once after each new client connection. */
bool port_host_link_changed(void);

/* EL_AFTER_INVOKE hook: wait until infer_us have passed since t0, emulating an
 * MCU's compute time on the PC (the reported ticks stay host clock). */
void port_host_stretch(uint32_t t0);

/* Stop the I/O thread and close the link. */
void port_host_shutdown(void);

#endif /* PORT_HOST_H */
