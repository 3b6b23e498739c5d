/*
 * main_host.c - the host virtual board executable: parse the command line,
 * open the link, print the ready line, serve until SIGTERM/SIGINT.
 *
 *   edgeloop-board [--tcp PORT | --no-tcp] [--host ADDR] [--pty] [--baud N] [--rx-ring BYTES]
 *
 * Ready line on stdout (one line, then stdout is flushed):
 *   edgeloop-board ready url=socket://127.0.0.1:PORT pty=/dev/pts/N baud=N credit=C max_payload=M
 * (url= and pty= are empty when that link is off).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "el_core.h"
#include "port_host.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: edgeloop-board [--tcp PORT | --no-tcp] [--host ADDR] [--pty] [--baud N] [--infer-us N]\n"
            "                      [--rx-ring BYTES]\n"
            "  Serve the edgeloop link protocol with the firmware core on this machine.\n"
            "  --tcp PORT      listen on TCP PORT (default 0: a free port; see the ready line)\n"
            "  --no-tcp        no TCP link (needs --pty)\n"
            "  --host ADDR     IPv4 address to listen on (default 127.0.0.1)\n"
            "  --pty           also serve a pseudo-terminal (its path is on the ready line)\n"
            "  --baud N        pace both directions to N/10 bytes/s like a UART (default 0: unpaced)\n"
            "  --infer-us N    stretch every inference to at least N µs (max 1 s) to emulate an MCU's\n"
            "                  compute time; timings stay host clock (default 0: off)\n"
            "  --rx-ring BYTES receive ring size (default %u: rx_credit maximum-size frames)\n",
            (unsigned)EL_PORT_RX_RING_BYTES);
}

/* Parse a non-negative decimal option value; exits with a message when it is not one. */
static unsigned long parse_number(const char *opt, const char *text, unsigned long max)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = text ? strtoul(text, &end, 10) : 0;
    if (!text || *text == '\0' || *end != '\0' || errno != 0 || v > max || text[0] == '-') {
        fprintf(stderr, "edgeloop-board: %s needs a number in 0..%lu, got '%s'\n", opt, max, text ? text : "");
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    port_host_config_t cfg = PORT_HOST_DEFAULTS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--tcp") == 0) {
            cfg.tcp_port = (int)parse_number(a, v, 65535);
            i++;
        } else if (strcmp(a, "--no-tcp") == 0) {
            cfg.tcp_port = -1;
        } else if (strcmp(a, "--host") == 0 && v) {
            cfg.bind_addr = v;
            i++;
        } else if (strcmp(a, "--pty") == 0) {
            cfg.pty = true;
        } else if (strcmp(a, "--baud") == 0) {
            cfg.baud = (uint32_t)parse_number(a, v, 100000000ul);
            i++;
        } else if (strcmp(a, "--infer-us") == 0) {
            cfg.infer_us = (uint32_t)parse_number(a, v, 1000000ul);
            i++;
        } else if (strcmp(a, "--rx-ring") == 0) {
            cfg.rx_ring = (uint32_t)parse_number(a, v, 1ul << 30);
            i++;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "edgeloop-board: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that vanishes mid-reply must not kill the board */

    if (!port_host_configure(&cfg) || !port_init()) {
        port_host_shutdown();
        return 1;
    }
    const char *why = NULL;
    if (!el_core_init(&why)) {
        fprintf(stderr, "edgeloop-board: %s\n", why);
        port_host_shutdown();
        return 1;
    }
    printf("edgeloop-board ready url=%s pty=%s baud=%u credit=%u max_payload=%u\n", port_host_url(),
           port_host_pty_path(), (unsigned)cfg.baud, (unsigned)EL_RX_CREDIT, (unsigned)EL_MAX_PAYLOAD);
    fflush(stdout);
    while (!stop_requested) {
        if (port_host_link_changed()) {
            el_core_link_reset();
        }
        el_core_poll();
    }
    port_host_shutdown();
    return 0;
}
