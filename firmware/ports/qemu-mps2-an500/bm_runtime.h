/*
 * bm_runtime.h - the C runtime of bare-metal test images run under QEMU.
 *
 * Purpose: a test image (kernel tests, instruction-count benchmarks) is a
 * plain C program with main(): stdout (printf, puts) goes out of UART0,
 * which edgeloop.app.qemu.run_bare_metal() captures, and the value main()
 * returns, or the status given to exit(), becomes qemu-system-arm's exit
 * status through semihosting. A fault ends the run with status
 * 0x80 | exception number and a line on the semihosting console.
 *
 * Contract: linked only into images built by baremetal.mk; stdout is
 * unbuffered-by-line (each '\n' reaches the UART); there is a heap (the
 * rest of SSRAM2/3) for test code that wants one. port_init() is optional:
 * call it to get port_ticks() (SysTick counts, 40 instructions each under
 * -icount shift=0). bm_instructions() converts ticks to instructions.
 *
 * Example:
 *
 *     #include "bm_runtime.h"
 *     #include "port.h"
 *     int main(void) {
 *         port_init();
 *         uint32_t t0 = port_ticks();
 *         run_kernel();
 *         printf("instructions %lu\n", (unsigned long)bm_instructions(port_ticks() - t0));
 *         return failures != 0;
 *     }
 */
#ifndef PORT_BM_RUNTIME_H
#define PORT_BM_RUNTIME_H

#include <stdint.h>
#include <stdio.h>

/* Emulated instructions per SysTick count under -icount shift=0 (1 ns per instruction, 25 MHz SysTick). */
#define BM_INSTRUCTIONS_PER_TICK 40u

/* Instructions executed in `ticks` SysTick counts (resolution: BM_INSTRUCTIONS_PER_TICK). */
static inline uint64_t bm_instructions(uint32_t ticks)
{
    return (uint64_t)ticks * BM_INSTRUCTIONS_PER_TICK;
}

#endif /* PORT_BM_RUNTIME_H */
