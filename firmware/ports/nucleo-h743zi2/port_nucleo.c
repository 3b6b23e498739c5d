/*
 * port_nucleo.c - port.h for the NUCLEO-H743ZI2 (STM32H743ZI, Cortex-M7).
 *
 * Clocks: 400 MHz CPU from PLL1 at voltage scale 1. 480 MHz would need VOS0
 * (the overdrive), which only revision V silicon supports; 400 MHz at VOS1 is
 * within the limits of every revision, so one image runs on any board. The
 * PLL input is the 8 MHz MCO of the ST-LINK (HSE in bypass mode); if that
 * clock is missing (solder bridges changed) the 64 MHz HSI divided by 8
 * feeds the PLL instead, so the core still runs at 400 MHz.
 *   HSE 8 MHz / M1=1 -> 8 MHz -> x N1=100 -> VCO 800 MHz -> / P1=2 -> 400 MHz
 *   AHB/AXI 200 MHz (flash: 2 wait states, WRHIGHFREQ 2), APB1..4 100 MHz.
 *
 * Link: USART3 on PD8 (TX) / PD9 (RX), AF7, wired to the ST-LINK virtual COM
 * port; 8N1 at PORT_NUCLEO_BAUD (default 921600). RX and TX use the USART
 * FIFOs and one interrupt that moves bytes between them and two rings, so a
 * whole request arrives while the previous one is being inferred.
 *
 * Time: DWT CYCCNT counts CPU cycles (PORT_TIMING_DWT_CYCLES, tick_hz = CPU
 * clock). port_idle() deliberately does not WFI: the cycle counter stops
 * while the core sleeps, which would shorten the measured receive times.
 * SysTick gives port_millis().
 *
 * LEDs (UM2407): LD1 green PB0 = port_led() (the core's heartbeat); LD2
 * yellow PE1 = lit once a received byte was lost; LD3 red PB14 = fault blink.
 * Watchdog: IWDG1 with a PORT_NUCLEO_WATCHDOG_MS timeout, kicked by
 * port_watchdog_kick() and frozen while a debugger halts the core.
 *
 * Clock failure: if the PLL (or the switch to it) fails, the core stays on
 * the clock RCC_CFGR.SWS reports (the 64 MHz HSI after reset) and
 * port_cpu_hz(), port_tick_hz() and the SysTick report that clock, so the
 * timings stay right; the link is not started.
 *
 * Silicon: on revision Y (DBGMCU_IDC.REV_ID 0x1003) reads from the AXI SRAM
 * may return corrupted data (ES0392, 2.2.9); all large buffers live there
 * with the D-cache on, so the AXI SRAM's read issuing capability is set to 1
 * (AXI_TARG7_FN_MOD.READ_ISS_OVERRIDE) before anything else runs.
 */
#include <stdint.h>

#include "../cortex-m/cm7.h"
#include "../cortex-m/cm_clock.h"
#include "../cortex-m/cm_startup.h"
#include "../cortex-m/port_ring.h"
#include "port.h"
#include "el_config.h"
#include "stm32h743.h"

#ifndef PORT_NUCLEO_BAUD
#define PORT_NUCLEO_BAUD 921600u
#endif
#ifndef PORT_NUCLEO_WATCHDOG_MS
#define PORT_NUCLEO_WATCHDOG_MS 4000u
#endif
#ifndef PORT_TX_RING_BYTES
#define PORT_TX_RING_BYTES 8192u
#endif

#define CPU_HZ 400000000u
#define PCLK1_HZ (CPU_HZ / 4u) /* AHB /2, APB1 /2: the USART3 kernel clock */

/* USART3 (RM0433 USART_BRR): BRR = kernel clock / baud with 16x oversampling, 2 x kernel clock / baud
 * with 8x; BRR must be at least 16 and fit 16 bits, so the rate is 1,526 .. 12,500,000 baud. */
_Static_assert(PORT_NUCLEO_BAUD >= PCLK1_HZ / 0xFFFFu + 1u, "BAUD is too low for USART3 (BRR > 0xFFFF): at least 1526");
_Static_assert((2u * PCLK1_HZ + PORT_NUCLEO_BAUD / 2u) / PORT_NUCLEO_BAUD >= 16u,
               "BAUD is too high for USART3 (BRR < 16 even at 8x oversampling): at most 12500000");
/* IWDG1 at 32 kHz / 128 = 250 Hz: reload = WATCHDOG_MS / 4 must be 1 .. 4095 ticks. */
_Static_assert(PORT_NUCLEO_WATCHDOG_MS >= 4u && PORT_NUCLEO_WATCHDOG_MS <= 16380u,
               "WATCHDOG_MS must be 4 .. 16380 (IWDG1: 4 ms ticks, reload at most 4095)");
#define HSE_HZ 8000000u
#define HSI_HZ 64000000u
#define STARTUP_TIMEOUT 1000000u /* polling iterations, several ms at the 64 MHz reset clock */

#define LD1_PIN 0u  /* PB0, green */
#define LD2_PIN 1u  /* PE1, yellow */
#define LD3_PIN 14u /* PB14, red */

/* RX: EL_PORT_RX_RING_BYTES holds rx_credit maximum-size frames (el_config.h); +1 since a ring holds size - 1. */
static uint8_t port_rx_mem[EL_PORT_RX_RING_BYTES + 1u];
static uint8_t port_tx_mem[PORT_TX_RING_BYTES];
static port_ring_t rx_ring = PORT_RING_INIT(port_rx_mem);
static port_ring_t tx_ring = PORT_RING_INIT(port_tx_mem);
static volatile uint32_t rx_overflows;
static volatile bool rx_lost; /* bytes were lost: a 0x00 is owed to the ring (port_ring_push_rx) */
static bool cyccnt_ok;
static uint32_t cpu_hz = HSI_HZ; /* the clock the core runs on, set by port_init() */
static bool watchdog_armed;

static void usart3_isr(void);

__attribute__((section(".isr_vector"), used)) const port_cm_vector_t port_vectors[16 + USART3_IRQN + 1u] = {
    PORT_CM_CORE_VECTORS,
    PORT_CM_UNUSED_X4, PORT_CM_UNUSED_X4, PORT_CM_UNUSED_X4, PORT_CM_UNUSED_X4, /* IRQ 0..15 */
    PORT_CM_UNUSED_X4, PORT_CM_UNUSED_X4, PORT_CM_UNUSED_X4, PORT_CM_UNUSED_X4, /* IRQ 16..31 */
    PORT_CM_UNUSED_X4,                                                          /* IRQ 32..35 */
    port_cm_fault_isr, port_cm_fault_isr, port_cm_fault_isr,                   /* IRQ 36..38 */
    usart3_isr,                                                                 /* IRQ 39: USART3 */
};

static bool wait_set(volatile uint32_t *reg, uint32_t mask, uint32_t value)
{
    for (uint32_t i = 0; i < STARTUP_TIMEOUT; ++i) {
        if ((*reg & mask) == value) {
            return true;
        }
    }
    return false;
}

/* Voltage scale 1 on the LDO, the PLL at 400 MHz, flash wait states, then the switch. */
static bool clocks_init(void)
{
    /* The supply configuration is written once after reset (LDO on, no bypass), then locked. */
    if (PWR_CR3 & PWR_CR3_SCUEN) {
        PWR_CR3 = (PWR_CR3 & ~PWR_CR3_BYPASS) | PWR_CR3_LDOEN;
    }
    if (!wait_set(&PWR_CSR1, PWR_CSR1_ACTVOSRDY, PWR_CSR1_ACTVOSRDY)) {
        return false;
    }
    PWR_D3CR = (PWR_D3CR & ~PWR_D3CR_VOS_MASK) | PWR_D3CR_VOS_SCALE1;
    if (!wait_set(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY)) {
        return false;
    }

    /* PLL input: the ST-LINK's 8 MHz MCO (HSE bypass), else HSI 64 MHz / 8. */
    RCC_CR |= RCC_CR_HSEBYP;
    RCC_CR |= RCC_CR_HSEON;
    uint32_t source = RCC_PLLCKSELR_PLLSRC_HSE, divm = 1u;
    if (!wait_set(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) {
        RCC_CR &= ~(RCC_CR_HSEON | RCC_CR_HSEBYP);
        source = RCC_PLLCKSELR_PLLSRC_HSI;
        divm = HSI_HZ / HSE_HZ;
    }
    RCC_CR &= ~RCC_CR_PLL1ON; /* PLL1 is off after reset; the configuration needs it off */
    if (!wait_set(&RCC_CR, RCC_CR_PLL1RDY, 0u)) {
        return false;
    }
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~(RCC_PLLCKSELR_PLLSRC_MASK | RCC_PLLCKSELR_DIVM1_MASK)) | source |
                    (divm << RCC_PLLCKSELR_DIVM1_SHIFT);
    RCC_PLL1DIVR = RCC_PLL1DIVR_VALUE(100u, 2u, 8u, 8u); /* VCO 800 MHz: P 400 MHz, Q 100 MHz, R 100 MHz */
    RCC_PLL1FRACR = 0u;
    RCC_PLLCFGR = (RCC_PLLCFGR & ~(RCC_PLLCFGR_PLL1FRACEN | RCC_PLLCFGR_PLL1VCOSEL_MEDIUM |
                                   RCC_PLLCFGR_PLL1RGE_MASK)) |
                  RCC_PLLCFGR_PLL1RGE_8_16MHZ | RCC_PLLCFGR_DIVP1EN | RCC_PLLCFGR_DIVQ1EN |
                  RCC_PLLCFGR_DIVR1EN;
    RCC_CR |= RCC_CR_PLL1ON;
    if (!wait_set(&RCC_CR, RCC_CR_PLL1RDY, RCC_CR_PLL1RDY)) {
        return false;
    }

    /* Flash first: 2 wait states for a 200 MHz AXI clock at VOS1 (RM0433 table 17). */
    uint32_t acr = (FLASH_ACR & ~(FLASH_ACR_LATENCY_MASK | (0x3u << FLASH_ACR_WRHIGHFREQ_SHIFT))) | 2u |
                   (2u << FLASH_ACR_WRHIGHFREQ_SHIFT);
    FLASH_ACR = acr;
    if (!wait_set(&FLASH_ACR, 0x3Fu, acr & 0x3Fu)) {
        return false;
    }

    /* Bus dividers before the switch, so no bus ever runs above its limit. */
    RCC_D1CFGR = RCC_D1CFGR_D1CPRE_DIV1 | RCC_D1CFGR_HPRE_DIV2 | RCC_D1CFGR_D1PPRE_DIV2;
    RCC_D2CFGR = RCC_D2CFGR_D2PPRE1_DIV2 | RCC_D2CFGR_D2PPRE2_DIV2;
    RCC_D3CFGR = RCC_D3CFGR_D3PPRE_DIV2;

    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL1;
    return wait_set(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SW_PLL1 << RCC_CFGR_SWS_SHIFT);
}

static void gpio_output(uint32_t base, uint32_t pin)
{
    GPIO_BSRR(base) = 1u << (pin + 16u); /* low (off) before it becomes an output */
    GPIO_MODER(base) = (GPIO_MODER(base) & ~(0x3u << (2u * pin))) | (GPIO_MODE_OUTPUT << (2u * pin));
}

static void gpio_set(uint32_t base, uint32_t pin, bool on)
{
    GPIO_BSRR(base) = on ? 1u << pin : 1u << (pin + 16u);
}

static void leds_init(void)
{
    RCC_AHB4ENR |= RCC_AHB4ENR_GPIOBEN | RCC_AHB4ENR_GPIOEEN;
    (void)RCC_AHB4ENR; /* read back: the clock is on before the first GPIO access */
    gpio_output(GPIOB_BASE, LD1_PIN);
    gpio_output(GPIOE_BASE, LD2_PIN);
    gpio_output(GPIOB_BASE, LD3_PIN);
}

/*
 * BRR for `baud` from the kernel clock: 16x oversampling when its rounding
 * error is under 1 %, else 8x, whose divider is twice as fine.
 */
static void usart3_set_baud(uint32_t kernel_hz, uint32_t baud)
{
    uint32_t div16 = (kernel_hz + baud / 2u) / baud;
    uint32_t actual = kernel_hz / div16;
    uint32_t error = actual > baud ? actual - baud : baud - actual;
    if (error * 100u < baud && div16 >= 16u) {
        USART3_CR1 &= ~USART_CR1_OVER8;
        USART3_BRR = div16;
    } else {
        uint32_t div8 = (2u * kernel_hz + baud / 2u) / baud;
        USART3_CR1 |= USART_CR1_OVER8;
        USART3_BRR = (div8 & 0xFFF0u) | ((div8 & 0xFu) >> 1);
    }
}

static void usart3_init(void)
{
    RCC_AHB4ENR |= RCC_AHB4ENR_GPIODEN;
    RCC_APB1LENR |= RCC_APB1LENR_USART3EN;
    RCC_D2CCIP2R &= ~RCC_D2CCIP2R_USART234578SEL_MASK; /* kernel clock = APB1 clock */
    (void)RCC_APB1LENR;

    /* PD8 = USART3_TX, PD9 = USART3_RX: alternate function 7, pull-up on RX, high speed. */
    GPIO_AFRH(GPIOD_BASE) = (GPIO_AFRH(GPIOD_BASE) & ~0xFFu) | (7u << 0) | (7u << 4);
    GPIO_OSPEEDR(GPIOD_BASE) |= (0x2u << 16) | (0x2u << 18);
    GPIO_PUPDR(GPIOD_BASE) = (GPIO_PUPDR(GPIOD_BASE) & ~(0x3u << 18)) | (0x1u << 18);
    GPIO_MODER(GPIOD_BASE) = (GPIO_MODER(GPIOD_BASE) & ~(0xFu << 16)) | (GPIO_MODE_AF << 16) |
                             (GPIO_MODE_AF << 18);

    USART3_CR1 = 0u; /* disabled: 8 data bits, no parity */
    USART3_CR2 = 0u; /* 1 stop bit */
    USART3_CR3 = USART_CR3_EIE;
    USART3_PRESC = 0u;
    usart3_set_baud(PCLK1_HZ, PORT_NUCLEO_BAUD);
    USART3_CR1 |= USART_CR1_FIFOEN; /* FIFOEN and OVER8 are writable only while UE = 0 */
    USART3_CR1 |= USART_CR1_TE | USART_CR1_RE | USART_CR1_RXFNEIE;
    USART3_CR1 |= USART_CR1_UE;
    (void)wait_set(&USART3_ISR, USART_ISR_TEACK | USART_ISR_REACK, USART_ISR_TEACK | USART_ISR_REACK);
    port_cm_nvic_enable(USART3_IRQN, 0x40u); /* above SysTick (0xF0) */
}

static void usart3_isr(void)
{
    uint32_t isr = USART3_ISR;
    /* Errors: a lost byte (overrun) counts as an overflow; framing and noise corrupt a frame, which its CRC rejects. */
    if (isr & (USART_ISR_ORE | USART_ISR_FE | USART_ISR_NE | USART_ISR_PE)) {
        if (isr & USART_ISR_ORE) {
            rx_overflows = rx_overflows + 1u;
            rx_lost = true;
            gpio_set(GPIOE_BASE, LD2_PIN, true);
        }
        USART3_ICR = USART_ICR_ORECF | USART_ICR_FECF | USART_ICR_NECF | USART_ICR_PECF;
    }
    while (USART3_ISR & USART_ISR_RXFNE) {
        if (!port_ring_push_rx(&rx_ring, (uint8_t)USART3_RDR, &rx_lost)) {
            rx_overflows = rx_overflows + 1u;
            gpio_set(GPIOE_BASE, LD2_PIN, true);
        }
    }
    if (USART3_CR1 & USART_CR1_TXFNFIE) {
        uint8_t byte;
        while ((USART3_ISR & USART_ISR_TXFNF) && port_ring_pop(&tx_ring, &byte)) {
            USART3_TDR = byte;
        }
        if (port_ring_used(&tx_ring) == 0u) {
            USART3_CR1 &= ~USART_CR1_TXFNFIE; /* nothing left: stop the TX-FIFO-not-full interrupt */
        }
    }
}

static void watchdog_init(void)
{
    /* Prescaler /128 -> 250 Hz from the 32 kHz LSI; reload 1 .. 4095 ticks (checked above). */
    const uint32_t reload = PORT_NUCLEO_WATCHDOG_MS / 4u;
    DBGMCU_APB4FZ1 |= DBGMCU_APB4FZ1_IWDG1;
    IWDG1_KR = IWDG_KEY_START; /* starts the LSI and the watchdog */
    IWDG1_KR = IWDG_KEY_UNLOCK;
    IWDG1_PR = 5u; /* /128 */
    IWDG1_RLR = reload;
    (void)wait_set(&IWDG1_SR, 0x7u, 0u);
    IWDG1_KR = IWDG_KEY_RELOAD;
    watchdog_armed = true;
}

/* The clock the core runs on, from RCC_CFGR.SWS (D1CPRE is /1): the PLL, or after a failure the
 * HSI (64 MHz >> HSIDIV), the HSE (8 MHz) or the CSI (4 MHz). */
static uint32_t sysclk_hz(void)
{
    switch ((RCC_CFGR & RCC_CFGR_SWS_MASK) >> RCC_CFGR_SWS_SHIFT) {
    case 3u:
        return CPU_HZ;
    case 2u:
        return HSE_HZ;
    case 1u:
        return 4000000u;
    default:
        return HSI_HZ >> ((RCC_CR & RCC_CR_HSIDIV_MASK) >> RCC_CR_HSIDIV_SHIFT);
    }
}

/* ES0392 2.2.9 (revision Y only): AXI SRAM read issuing capability 1. */
static void axi_sram_erratum(void)
{
    if ((DBGMCU_IDC >> DBGMCU_IDC_REV_ID_SHIFT) == DBGMCU_REV_ID_Y) {
        AXI_TARG7_FN_MOD |= AXI_TARG7_FN_MOD_READ_ISS_OVERRIDE;
    }
}

bool port_init(void)
{
    CM7_SCB_VTOR = (uint32_t)(uintptr_t)port_vectors;
    axi_sram_erratum();
    leds_init();
    bool clocks_ok = clocks_init();
    cpu_hz = sysclk_hz();
    clocks_ok = clocks_ok && cpu_hz == CPU_HZ;
    port_cm_caches_enable();
    cyccnt_ok = port_cm_cyccnt_enable();
    port_cm_clock_start(cpu_hz);
    if (clocks_ok) {
        usart3_init();
    }
    watchdog_init();
    __asm__ volatile("cpsie i" ::: "memory");
    return clocks_ok;
}

size_t port_link_read(uint8_t *buf, size_t cap)
{
    return port_ring_pop_into(&rx_ring, buf, cap);
}

size_t port_link_write(const uint8_t *buf, size_t len)
{
    size_t n = port_ring_push_from(&tx_ring, buf, len);
    if (n > 0u) {
        /* CR1 is also written by the ISR: update it with interrupts masked. */
        uint32_t primask = port_cm_irq_save();
        USART3_CR1 |= USART_CR1_TXFNFIE;
        port_cm_irq_restore(primask);
    }
    return n;
}

uint32_t port_ticks(void)
{
    return cyccnt_ok ? CM7_DWT_CYCCNT : port_cm_clock_counts();
}

uint32_t port_tick_hz(void)
{
    return cpu_hz; /* DWT CYCCNT and the SysTick fallback both count CPU clocks */
}

uint32_t port_cpu_hz(void)
{
    return cpu_hz;
}

uint16_t port_instr_per_tick(void)
{
    return 0; /* DWT ticks are measured CPU cycles, not instruction counts */
}

uint8_t port_timing_source(void)
{
    return cyccnt_ok ? PORT_TIMING_DWT_CYCLES : PORT_TIMING_SYSTICK;
}

const char *port_board_name(void)
{
    return "nucleo-h743zi2";
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
    gpio_set(GPIOB_BASE, LD1_PIN, on);
}

void port_watchdog_kick(void)
{
    if (watchdog_armed) {
        IWDG1_KR = IWDG_KEY_RELOAD;
    }
}

void port_idle(void)
{
    /* No WFI: DWT CYCCNT stops while the core sleeps (see the file comment). */
    port_watchdog_kick();
}

/* Busy-wait about `ms` milliseconds without interrupts or SysTick (used from fault context). */
static void spin_ms(uint32_t ms)
{
    for (uint32_t i = 0; i < ms; ++i) {
        for (volatile uint32_t n = 0; n < CPU_HZ / 4000u; ++n) {
        }
    }
}

void port_cm_fault(uint32_t exception)
{
    /* Red LED: the exception number in long blinks, then a reset; the watchdog is kept quiet meanwhile. */
    __asm__ volatile("cpsid i" ::: "memory");
    gpio_set(GPIOB_BASE, LD1_PIN, false);
    for (int round = 0; round < 3; ++round) {
        for (uint32_t i = 0; i < (exception > 15u ? 16u : exception); ++i) {
            gpio_set(GPIOB_BASE, LD3_PIN, true);
            spin_ms(150u);
            gpio_set(GPIOB_BASE, LD3_PIN, false);
            spin_ms(150u);
            port_watchdog_kick();
        }
        spin_ms(800u);
        port_watchdog_kick();
    }
    port_cm_system_reset();
    for (;;) {
    }
}

void port_cm_main_returned(int status)
{
    (void)status; /* the firmware's main() never returns; if it did, start over */
    port_cm_system_reset();
}
