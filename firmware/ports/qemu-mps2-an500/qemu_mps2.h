/*
 * qemu_mps2.h - the MPS2 AN500 peripherals the QEMU port uses.
 *
 * Facts (checked against qemu-system-arm 7.2 -M mps2-an500, see
 * tests/firmware/test_qemu_port.py): the system clock is 25 MHz; CMSDK APB
 * UART0 is at 0x40004000 with its RX interrupt on IRQ 0 and TX on IRQ 1;
 * the FPGA I/O block (LEDs) is at 0x40028000.
 *
 * Contract: included by the QEMU port and its bare-metal runtime only.
 *
 * Example:
 *
 *     while (MPS2_UART0_STATE & MPS2_UART_STATE_TXFULL) {}
 *     MPS2_UART0_DATA = 'A';
 */
#ifndef PORT_QEMU_MPS2_H
#define PORT_QEMU_MPS2_H

#include "../cortex-m/cm7.h"

#define MPS2_SYSCLK_HZ 25000000u

#define MPS2_UART0_BASE 0x40004000u
#define MPS2_UART0_DATA CM7_REG(MPS2_UART0_BASE + 0x00u)
#define MPS2_UART0_STATE CM7_REG(MPS2_UART0_BASE + 0x04u)
#define MPS2_UART0_CTRL CM7_REG(MPS2_UART0_BASE + 0x08u)
#define MPS2_UART0_INTCLEAR CM7_REG(MPS2_UART0_BASE + 0x0Cu) /* reads INTSTATUS */
#define MPS2_UART0_BAUDDIV CM7_REG(MPS2_UART0_BASE + 0x10u)

#define MPS2_UART_STATE_TXFULL (1u << 0)
#define MPS2_UART_STATE_RXFULL (1u << 1)
#define MPS2_UART_STATE_RXOVERRUN (1u << 3)
#define MPS2_UART_CTRL_TX_EN (1u << 0)
#define MPS2_UART_CTRL_RX_EN (1u << 1)
#define MPS2_UART_CTRL_TX_INTEN (1u << 2)
#define MPS2_UART_CTRL_RX_INTEN (1u << 3)
#define MPS2_UART_INT_TX (1u << 0)
#define MPS2_UART_INT_RX (1u << 1)

#define MPS2_IRQ_UART0_RX 0u
#define MPS2_IRQ_UART0_TX 1u

#define MPS2_FPGAIO_LED0 CM7_REG(0x40028000u)

#endif /* PORT_QEMU_MPS2_H */
