/*
 * cm_semihost.h - ARM semihosting calls (BKPT 0xAB) used under QEMU.
 *
 * Purpose: let an image running on `qemu-system-arm -semihosting-config
 * enable=on,target=native` end QEMU with an exit status and print
 * diagnostics to QEMU's own stdout, apart from the UART.
 *
 * Contract: only valid when a semihosting host is attached (QEMU with
 * semihosting enabled, or a debugger); on bare silicon without a debugger
 * BKPT escalates to a HardFault. Never call these from the Nucleo port.
 *
 * Example:
 *
 *     port_cm_semihost_write0("kernel tests passed\n");
 *     port_cm_semihost_exit(0);   // qemu-system-arm exits with status 0
 */
#ifndef PORT_CM_SEMIHOST_H
#define PORT_CM_SEMIHOST_H

#include <stdint.h>

/* Write a NUL-terminated string to the semihosting console (QEMU's stdout). */
void port_cm_semihost_write0(const char *text);

/* End the emulation with exit status `status` (SYS_EXIT_EXTENDED, application exit). */
void port_cm_semihost_exit(int status) __attribute__((noreturn));

#endif /* PORT_CM_SEMIHOST_H */
