/*
 * port_qemu.c - port.h for the MPS2 AN500 (Cortex-M7) under qemu-system-arm.
 *
 * Link: CMSDK APB UART0 at 0x40004000, which QEMU connects to -serial.
 * Received bytes are moved by the UART0 RX interrupt into a ring buffer, so
 * the next request keeps arriving while the current one is inferred; sent
 * bytes go through a ring drained by the main loop and the TX interrupt.
 *
 * Time: SysTick runs from the 25 MHz system clock QEMU models for the AN500
 * and is extended to 32 bits by its 1 kHz interrupt. Under `-icount shift=0`
 * every instruction advances virtual time by 1 ns, so one tick is 40
 * emulated instructions: timings are deterministic instruction counts
 * (PORT_TIMING_QEMU_ICOUNT), never CPU cycles. port_init() measures the
 * instructions per tick with a known loop rather than assuming 40 (another
 * -icount shift gives another figure), and INFO reports it (instr_per_tick). The DWT cycle counter reads 0
 * under QEMU and is not used.
 */
#include <stdint.h>
#include <stdlib.h>

#include "../cortex-m/cm7.h"
#include "../cortex-m/cm_clock.h"
#include "../cortex-m/cm_semihost.h"
#include "../cortex-m/cm_startup.h"
#include "../cortex-m/port_ring.h"
#include "port.h"
#include "el_config.h"
#include "qemu_mps2.h"

/*
 * The RX ring holds EL_PORT_RX_RING_BYTES (rx_credit maximum-size frames on
 * the wire, el_config.h), so the credit the core advertises is honoured
 * while it computes; one more byte because a ring holds size - 1.
 */
#ifndef PORT_TX_RING_BYTES
#define PORT_TX_RING_BYTES 8192u
#endif

static uint8_t port_rx_mem[EL_PORT_RX_RING_BYTES + 1u];
static uint8_t port_tx_mem[PORT_TX_RING_BYTES];
static port_ring_t rx_ring = PORT_RING_INIT(port_rx_mem);
static port_ring_t tx_ring = PORT_RING_INIT(port_tx_mem);
static volatile uint32_t rx_overflows;
static volatile bool rx_lost; /* bytes were lost: a 0x00 is owed to the ring (port_ring_push_rx) */
static uint16_t instr_per_tick; /* measured in port_init() */

static void uart_rx_isr(void);
static void uart_tx_isr(void);

__attribute__((section(".isr_vector"), used)) const port_cm_vector_t port_vectors[16 + 2] = {
    PORT_CM_CORE_VECTORS,
    uart_rx_isr, /* IRQ 0: UART0 RX */
    uart_tx_isr, /* IRQ 1: UART0 TX */
};

static void uart_rx_isr(void)
{
    /* Clear first: a byte landing during the drain re-raises the interrupt instead of being missed. */
    MPS2_UART0_INTCLEAR = MPS2_UART_INT_RX;
    while (MPS2_UART0_STATE & MPS2_UART_STATE_RXFULL) {
        uint8_t byte = (uint8_t)MPS2_UART0_DATA;
        if (!port_ring_push_rx(&rx_ring, byte, &rx_lost)) {
            rx_overflows = rx_overflows + 1u;
        }
    }
    if (MPS2_UART0_STATE & MPS2_UART_STATE_RXOVERRUN) {
        MPS2_UART0_STATE = MPS2_UART_STATE_RXOVERRUN; /* write 1 to clear */
        rx_overflows = rx_overflows + 1u;
        rx_lost = true;
    }
}

/*
 * Move bytes from the TX ring into the UART while it takes them. The TX
 * ring has two poppers, this function in port_link_write() and the TX
 * interrupt; port_link_write() masks interrupts around it, so they never
 * run at the same time and the ring still sees one consumer at a time.
 */
static void uart_tx_pump(void)
{
    uint8_t byte;
    while (!(MPS2_UART0_STATE & MPS2_UART_STATE_TXFULL) && port_ring_pop(&tx_ring, &byte)) {
        MPS2_UART0_DATA = byte;
    }
}

static void uart_tx_isr(void)
{
    MPS2_UART0_INTCLEAR = MPS2_UART_INT_TX;
    uart_tx_pump();
}

bool port_init(void)
{
    MPS2_UART0_CTRL = 0u;
    MPS2_UART0_BAUDDIV = MPS2_SYSCLK_HZ / 115200u; /* ignored by QEMU, right for the FPGA */
    MPS2_UART0_INTCLEAR = MPS2_UART_INT_RX | MPS2_UART_INT_TX;
    MPS2_UART0_CTRL = MPS2_UART_CTRL_TX_EN | MPS2_UART_CTRL_RX_EN | MPS2_UART_CTRL_TX_INTEN |
                      MPS2_UART_CTRL_RX_INTEN;
    /* Link interrupts above SysTick (0xF0), RX first so that input is never held up by output. */
    port_cm_nvic_enable(MPS2_IRQ_UART0_RX, 0x40u);
    port_cm_nvic_enable(MPS2_IRQ_UART0_TX, 0x80u);
    port_cm_clock_start(MPS2_SYSCLK_HZ);
    __asm__ volatile("cpsie i" ::: "memory");
    uint32_t per_tick = port_cm_clock_instr_per_count();
    instr_per_tick = (uint16_t)(per_tick > 0xFFFFu ? 0xFFFFu : per_tick);
    return true;
}

size_t port_link_read(uint8_t *buf, size_t cap)
{
    return port_ring_pop_into(&rx_ring, buf, cap);
}

size_t port_link_write(const uint8_t *buf, size_t len)
{
    size_t n = port_ring_push_from(&tx_ring, buf, len);
    uint32_t primask = port_cm_irq_save();
    uart_tx_pump();
    port_cm_irq_restore(primask);
    return n;
}

uint32_t port_ticks(void)
{
    return port_cm_clock_counts();
}

uint32_t port_tick_hz(void)
{
    return MPS2_SYSCLK_HZ;
}

uint32_t port_cpu_hz(void)
{
    return MPS2_SYSCLK_HZ;
}

uint16_t port_instr_per_tick(void)
{
    return instr_per_tick;
}

uint8_t port_timing_source(void)
{
    return PORT_TIMING_QEMU_ICOUNT;
}

const char *port_board_name(void)
{
    return "qemu-mps2-an500";
}

uint32_t port_rx_overflows(void)
{
    return rx_overflows;
}

uint32_t port_millis(void)
{
    return port_cm_clock_millis();
}

void port_led(bool on)
{
    if (on) {
        MPS2_FPGAIO_LED0 |= 1u;
    } else {
        MPS2_FPGAIO_LED0 &= ~1u;
    }
}

void port_watchdog_kick(void)
{
    /* No watchdog is armed under QEMU: a hung image is ended by the host's timeout. */
}

void port_idle(void)
{
    /* Sleep only if nothing arrived; WFI still wakes on an interrupt masked by PRIMASK. */
    uint32_t primask = port_cm_irq_save();
    if (port_ring_used(&rx_ring) == 0u) {
        port_cm_wfi();
    }
    port_cm_irq_restore(primask);
}

void port_cm_fault(uint32_t exception)
{
    static const char hex[] = "0123456789abcdef";
    char text[] = "edgeloop: fault, exception 0x000, CFSR 0x00000000\n";
    uint32_t cfsr = CM7_SCB_CFSR;
    for (int i = 0; i < 3; ++i) {
        text[29 + i] = hex[(exception >> (8 - 4 * i)) & 0xFu];
    }
    for (int i = 0; i < 8; ++i) {
        text[41 + i] = hex[(cfsr >> (28 - 4 * i)) & 0xFu];
    }
    port_cm_semihost_write0(text);
    port_cm_semihost_exit((int)(0x80u | (exception & 0x7Fu)));
}

void port_cm_main_returned(int status)
{
    exit(status); /* flushes stdio of test images, then _exit() */
}

/* newlib's exit() ends here: QEMU exits with the status through semihosting. */
void _exit(int status)
{
    port_cm_semihost_exit(status);
}
