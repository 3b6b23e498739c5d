/*
 * el_main.c - main() of the microcontroller ports: bring the board up, then
 * serve the link forever. Ports with their own main() (the host board, which
 * parses a command line) build with -DEL_NO_MAIN and call the el_core API.
 */
#include "el_core.h"
#include "port.h"

#ifndef EL_NO_MAIN
int main(void)
{
    if (!port_init()) {
        for (;;) { /* no clock or link: nothing can be reported; a watchdog, if armed, resets */
        }
    }
    const char *why = NULL;
    if (!el_core_init(&why)) {
        port_led(true); /* steady LED: misconfigured image; every request gets ERROR INTERNAL why */
    }
    for (;;) {
        el_core_poll();
    }
}
#endif
