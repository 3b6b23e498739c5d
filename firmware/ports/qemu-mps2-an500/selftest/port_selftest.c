/*
 * port_selftest.c - bare-metal self-test of the qemu-mps2-an500 port.
 *
 * Checks the interrupt-safe byte ring (cortex-m/port_ring.h), then prints
 * the SysTick count of known instruction loops (the calibration the
 * test suite checks for 40 instructions per tick and for determinism), then
 * checks the 32-bit tick extension across SysTick wraps with interrupts
 * masked, the millisecond clock, the LED register and the port identity.
 * Exit status: the number of failed checks. Run by
 * tests/firmware/test_qemu_port.py through edgeloop.app.qemu.run_bare_metal().
 */
#include <string.h>

#include "../../cortex-m/cm7.h"
#include "../../cortex-m/cm_clock.h"
#include "../../cortex-m/port_ring.h"
#include "bm_runtime.h"
#include "port.h"
#include "qemu_mps2.h"

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok" : "FAIL", what);
    failures += !ok;
}

static uint32_t timed_spin(uint32_t n)
{
    uint32_t t0 = port_ticks();
    port_cm_spin(n);
    return port_ticks() - t0;
}

/* The SPSC ring against a plain model: capacity, order, partial bulk transfers, wrap-around. */
static void ring_checks(void)
{
    static uint8_t mem[7];
    port_ring_t ring = PORT_RING_INIT(mem);
    int ok = 1;
    for (uint8_t i = 0; i < 6u; ++i) {
        ok &= port_ring_push(&ring, i);
    }
    ok &= !port_ring_push(&ring, 99u) && port_ring_used(&ring) == 6u;
    uint8_t b = 0;
    ok &= port_ring_pop(&ring, &b) && b == 0u;
    ok &= port_ring_push_from(&ring, (const uint8_t *)"ABC", 3u) == 1u; /* one free byte */
    uint8_t out[16];
    ok &= port_ring_pop_into(&ring, out, sizeof out) == 6u && memcmp(out, "\1\2\3\4\5A", 6u) == 0;
    ok &= port_ring_used(&ring) == 0u && !port_ring_pop(&ring, &b);
    check(ok, "ring capacity and order");

    /* Many uneven transfers: the bytes come out as the sequence that went in, across every wrap. */
    uint8_t next_in = 0u, next_out = 0u, chunk[5];
    uint32_t moved = 0u;
    ok = 1;
    for (uint32_t round = 0; round < 500u; ++round) {
        size_t want = 1u + round % 5u;
        for (size_t i = 0; i < want; ++i) {
            chunk[i] = (uint8_t)(next_in + i);
        }
        size_t pushed = port_ring_push_from(&ring, chunk, want);
        next_in = (uint8_t)(next_in + pushed);
        size_t got = port_ring_pop_into(&ring, out, 1u + (round * 7u) % 4u);
        for (size_t i = 0; i < got; ++i) {
            ok &= out[i] == next_out++;
        }
        moved += (uint32_t)got;
    }
    ok &= port_ring_used(&ring) == (uint8_t)(next_in - next_out) && moved > 1000u;
    check(ok, "ring wrap-around keeps the byte sequence");
}

int main(void)
{
    ring_checks();
    check(port_init(), "port_init");
    printf("board %s timing %u tick_hz %lu cpu_hz %lu\n", port_board_name(),
           (unsigned)port_timing_source(), (unsigned long)port_tick_hz(),
           (unsigned long)port_cpu_hz());
    printf("instr_per_tick %u\n", (unsigned)port_instr_per_tick());

    for (uint32_t n = 1000u; n <= 1000000u; n *= 10u) {
        printf("calib %lu %lu\n", (unsigned long)(2u * n), (unsigned long)timed_spin(n));
    }

    /* Masked interrupts across several SysTick reloads: the count must keep growing. */
    uint32_t primask = port_cm_irq_save();
    uint32_t before = port_ticks();
    port_cm_spin(600000u); /* 1.2 M instructions = 30000 ticks: past one 25000-tick reload */
    uint32_t after = port_ticks();
    port_cm_irq_restore(primask);
    uint32_t masked = after - before;
    printf("masked %lu\n", (unsigned long)masked);
    check(masked >= 29000u && masked <= 31000u, "ticks across a reload with interrupts masked");

    uint32_t last = port_ticks(), backwards = 0;
    for (int i = 0; i < 200000; ++i) {
        uint32_t now = port_ticks();
        backwards += (int32_t)(now - last) < 0;
        last = now;
    }
    check(backwards == 0u, "port_ticks never goes backwards");

    uint32_t ms0 = port_millis();
    port_cm_spin(5000000u); /* 10 M instructions = 10 ms of virtual time */
    uint32_t ms = port_millis() - ms0;
    printf("millis %lu\n", (unsigned long)ms);
    check(ms >= 9u && ms <= 11u, "port_millis follows virtual time");

    port_led(true);
    int lit = (MPS2_FPGAIO_LED0 & 1u) != 0u;
    port_led(false);
    check(lit && (MPS2_FPGAIO_LED0 & 1u) == 0u, "LED0 in the FPGA I/O block");

    check(strcmp(port_board_name(), "qemu-mps2-an500") == 0, "board name");
    check(port_timing_source() == PORT_TIMING_QEMU_ICOUNT, "timing source qemu-icount");

    volatile double d = 2.5;
    check(d * 3.0 == 7.5, "double-precision FPU");

    check(port_link_read((uint8_t[4]){0}, 4) == 0u, "no link input when nothing was sent");
    printf("done %d\n", failures);
    return failures;
}
