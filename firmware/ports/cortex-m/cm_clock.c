/* cm_clock.c - SysTick millisecond clock (contract in cm_clock.h). */
#include "cm_clock.h"

#include "cm7.h"
#include "cm_startup.h"

#define ICSR_PENDSTSET (1u << 26)

static volatile uint32_t clock_ms;
static uint32_t clock_period; /* SysTick clocks per millisecond */

void port_cm_clock_start(uint32_t cpu_hz)
{
    clock_period = cpu_hz / 1000u;
    clock_ms = 0u;
    port_cm_systick_start(clock_period - 1u);
}

void port_cm_clock_isr(void)
{
    clock_ms = clock_ms + 1u;
}

uint32_t port_cm_clock_millis(void)
{
    return clock_ms;
}

uint32_t port_cm_clock_counts(void)
{
    /*
     * SysTick pends its interrupt on the 1 -> 0 transition, so a millisecond
     * starts at down == 0 and runs through reload .. 1. A pending, not yet
     * serviced SysTick (interrupts masked, or the handler not yet entered)
     * means that millisecond has begun although clock_ms does not show it:
     * PENDSTSET is read on both sides of the counter so that it certainly
     * describes the counter value read.
     */
    uint32_t ms, again, down, pend, pend_again;
    do {
        ms = clock_ms;
        pend = CM7_SCB_ICSR & ICSR_PENDSTSET;
        down = CM7_SYST_CVR;
        pend_again = CM7_SCB_ICSR & ICSR_PENDSTSET;
        again = clock_ms;
    } while (ms != again || pend != pend_again);
    if (pend != 0u) {
        ms += 1u;
    }
    uint32_t phase = down == 0u ? 0u : clock_period - down;
    return ms * clock_period + phase;
}

void port_cm_spin(uint32_t n)
{
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n)::"cc"); /* subs + bne per iteration */
}

uint32_t port_cm_clock_instr_per_count(void)
{
    enum { SHORT = 20000u, LONG = 220000u };
    uint32_t t0 = port_cm_clock_counts();
    port_cm_spin(SHORT);
    uint32_t t1 = port_cm_clock_counts();
    port_cm_spin(LONG);
    uint32_t t2 = port_cm_clock_counts();
    uint32_t extra = (t2 - t1) - (t1 - t0); /* counts of 2 * (LONG - SHORT) instructions */
    if (extra == 0u) {
        return 0u;
    }
    return (2u * (LONG - SHORT) + extra / 2u) / extra;
}
