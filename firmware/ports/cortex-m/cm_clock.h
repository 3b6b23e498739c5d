/*
 * cm_clock.h - a millisecond clock and a 32-bit SysTick count from the 24-bit SysTick.
 *
 * Purpose: SysTick interrupts once per millisecond; the interrupt counts
 * milliseconds, and port_cm_clock_counts() combines that count with the
 * current down-counter value into a free-running 32-bit count of SysTick
 * input clocks (CPU clocks), so timings longer than the 24-bit range work.
 *
 * Contract:
 *   - port_cm_clock_start(cpu_hz) once, with interrupts enabled afterwards;
 *     cpu_hz must be a multiple of 1000 and cpu_hz / 1000 <= 2^24.
 *   - port_cm_clock_counts() is monotonic modulo 2^32 (subtract as uint32_t),
 *     also when called with interrupts masked for less than 1 ms.
 *   - The SysTick vector entry must be port_cm_clock_isr (PORT_CM_CORE_VECTORS does it).
 *
 * Example:
 *
 *     port_cm_clock_start(25000000u);
 *     uint32_t t0 = port_cm_clock_counts();
 *     work();
 *     uint32_t clocks = port_cm_clock_counts() - t0;
 */
#ifndef PORT_CM_CLOCK_H
#define PORT_CM_CLOCK_H

#include <stdint.h>

/* Start SysTick at 1 kHz from the CPU clock. */
void port_cm_clock_start(uint32_t cpu_hz);

/* Milliseconds since port_cm_clock_start(), wrapping. */
uint32_t port_cm_clock_millis(void);

/* CPU clocks since port_cm_clock_start(), wrapping modulo 2^32. */
uint32_t port_cm_clock_counts(void);

/* Execute exactly 2 * n instructions (n >= 1): a known load for calibrating what a count is. */
void port_cm_spin(uint32_t n);

/*
 * Instructions per count, measured: the slope between a short and a long
 * port_cm_spin() (the slope cancels the cost of reading the counter), rounded.
 * Meaningful where time is an instruction count (QEMU -icount); on silicon a
 * count is a cycle, not an instruction. Takes about 440,000 instructions.
 */
uint32_t port_cm_clock_instr_per_count(void);

#endif /* PORT_CM_CLOCK_H */
