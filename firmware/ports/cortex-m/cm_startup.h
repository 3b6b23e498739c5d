/*
 * cm_startup.h - reset, vector table and fault plumbing shared by the Cortex-M ports.
 *
 * Purpose: one reset handler (FPU on, .data copied, .bss and .bulk zeroed,
 * main() called) and one set of core exception entries, so that a board
 * only lists its own device interrupts.
 *
 * Contract:
 *   - The linker script (cortex-m/cm_sections.ld) provides the symbols used
 *     by port_cm_reset_isr() and places `.isr_vector` first in ROM.
 *   - Each board defines its vector table in section ".isr_vector", starting
 *     with PORT_CM_CORE_VECTORS, and implements port_cm_fault() (what to do
 *     on a fault or an unexpected interrupt) and port_cm_main_returned()
 *     (what to do if main() returns: exit under an emulator, reset on silicon).
 *   - The SysTick entry calls port_cm_clock_isr() (cortex-m/cm_clock.h).
 *
 * Example (a board with two device interrupts):
 *
 *     __attribute__((section(".isr_vector"), used))
 *     const port_cm_vector_t port_vectors[16 + 2] = {
 *         PORT_CM_CORE_VECTORS,
 *         uart_rx_isr,   // IRQ 0
 *         uart_tx_isr,   // IRQ 1
 *     };
 */
#ifndef PORT_CM_STARTUP_H
#define PORT_CM_STARTUP_H

#include <stdint.h>

typedef void (*port_cm_vector_t)(void);

/* Linker-provided: the initial stack pointer (end of the stack region). */
extern uint32_t __stack_top[];

void port_cm_reset_isr(void);
void port_cm_fault_isr(void);
void port_cm_clock_isr(void);

/* The 16 core exception entries: initial SP, reset, NMI .. SysTick. */
#define PORT_CM_CORE_VECTORS                                                              \
    (port_cm_vector_t)(uintptr_t)__stack_top, port_cm_reset_isr, port_cm_fault_isr,      \
        port_cm_fault_isr, port_cm_fault_isr, port_cm_fault_isr, port_cm_fault_isr, 0, 0, \
        0, 0, port_cm_fault_isr, port_cm_fault_isr, 0, port_cm_fault_isr, port_cm_clock_isr

/* Four entries for device interrupts a board never enables. */
#define PORT_CM_UNUSED_X4 port_cm_fault_isr, port_cm_fault_isr, port_cm_fault_isr, port_cm_fault_isr

/*
 * Board hook: a fault or an unexpected interrupt happened. exception is the
 * IPSR exception number (3 = HardFault, 16 + n = device IRQ n). Must not return.
 */
void port_cm_fault(uint32_t exception) __attribute__((noreturn));

/* Board hook: main() returned status. Must not return. */
void port_cm_main_returned(int status) __attribute__((noreturn));

#endif /* PORT_CM_STARTUP_H */
