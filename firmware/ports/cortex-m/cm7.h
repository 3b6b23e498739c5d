/*
 * cm7.h - Cortex-M7 core registers and helpers shared by the ARM board ports.
 *
 * Purpose: the few System Control Space registers the ports touch (SCB,
 * SysTick, NVIC, DWT, the cache maintenance block, the FPU access register),
 * written from the ARMv7-M Architecture Reference Manual and the Cortex-M7
 * Technical Reference Manual. No vendor CMSIS header is used.
 *
 * Contract: only ports include this header (firmware/core and firmware/nn stay
 * board-neutral). Everything here is a macro or a static inline, so including
 * it costs nothing. port_cm_irq_save()/port_cm_irq_restore() nest.
 *
 * Example:
 *
 *     uint32_t primask = port_cm_irq_save();
 *     ring_head = next;                       // shared with an ISR
 *     port_cm_irq_restore(primask);
 *     CM7_NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
 */
#ifndef PORT_CM7_H
#define PORT_CM7_H

#include <stdbool.h>
#include <stdint.h>

#define CM7_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define CM7_REG8(addr) (*(volatile uint8_t *)(uintptr_t)(addr))

/* System control block. */
#define CM7_SCB_CPUID CM7_REG(0xE000ED00u)
#define CM7_SCB_ICSR CM7_REG(0xE000ED04u)
#define CM7_SCB_VTOR CM7_REG(0xE000ED08u)
#define CM7_SCB_AIRCR CM7_REG(0xE000ED0Cu)
#define CM7_SCB_SCR CM7_REG(0xE000ED10u)
#define CM7_SCB_CCR CM7_REG(0xE000ED14u)
#define CM7_SCB_SHPR3 CM7_REG(0xE000ED20u) /* priorities of PendSV [23:16], SysTick [31:24] */
#define CM7_SCB_SHCSR CM7_REG(0xE000ED24u)
#define CM7_SCB_CFSR CM7_REG(0xE000ED28u)
#define CM7_SCB_HFSR CM7_REG(0xE000ED2Cu)
#define CM7_SCB_MMFAR CM7_REG(0xE000ED34u)
#define CM7_SCB_BFAR CM7_REG(0xE000ED38u)
#define CM7_SCB_CCSIDR CM7_REG(0xE000ED80u)
#define CM7_SCB_CSSELR CM7_REG(0xE000ED84u)
#define CM7_SCB_CPACR CM7_REG(0xE000ED88u)

#define CM7_AIRCR_VECTKEY (0x05FAu << 16)
#define CM7_AIRCR_SYSRESETREQ (1u << 2)
#define CM7_CCR_DC (1u << 16) /* data cache enable */
#define CM7_CCR_IC (1u << 17) /* instruction cache enable */
#define CM7_CPACR_CP10_CP11_FULL (0xFu << 20)

/* Cache maintenance operations (write-only). */
#define CM7_ICIALLU CM7_REG(0xE000EF50u)
#define CM7_DCISW CM7_REG(0xE000EF60u)

/* SysTick: a 24-bit down counter. */
#define CM7_SYST_CSR CM7_REG(0xE000E010u)
#define CM7_SYST_RVR CM7_REG(0xE000E014u)
#define CM7_SYST_CVR CM7_REG(0xE000E018u)
#define CM7_SYST_CALIB CM7_REG(0xE000E01Cu)
#define CM7_SYST_CSR_ENABLE (1u << 0)
#define CM7_SYST_CSR_TICKINT (1u << 1)
#define CM7_SYST_CSR_CLKSOURCE_CPU (1u << 2)
#define CM7_SYST_CSR_COUNTFLAG (1u << 16)
#define CM7_SYST_MAX_RELOAD 0x00FFFFFFu

/* NVIC: n is the 32-interrupt bank, irq % 32 the bit. */
#define CM7_NVIC_ISER(n) CM7_REG(0xE000E100u + 4u * (n))
#define CM7_NVIC_ICER(n) CM7_REG(0xE000E180u + 4u * (n))
#define CM7_NVIC_ICPR(n) CM7_REG(0xE000E280u + 4u * (n))
#define CM7_NVIC_IPR8(irq) CM7_REG8(0xE000E400u + (irq))

/* Debug: DEMCR.TRCENA gates the DWT; the M7 DWT needs its lock access register unlocked. */
#define CM7_DEMCR CM7_REG(0xE000EDFCu)
#define CM7_DEMCR_TRCENA (1u << 24)
#define CM7_DWT_CTRL CM7_REG(0xE0001000u)
#define CM7_DWT_CYCCNT CM7_REG(0xE0001004u)
#define CM7_DWT_LAR CM7_REG(0xE0001FB0u)
#define CM7_DWT_LAR_KEY 0xC5ACCE55u
#define CM7_DWT_CTRL_CYCCNTENA (1u << 0)

static inline void port_cm_dsb(void) { __asm__ volatile("dsb 0xF" ::: "memory"); }
static inline void port_cm_isb(void) { __asm__ volatile("isb 0xF" ::: "memory"); }
static inline void port_cm_wfi(void) { __asm__ volatile("wfi" ::: "memory"); }

/* Mask interrupts and return the previous PRIMASK, for port_cm_irq_restore(). */
static inline uint32_t port_cm_irq_save(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}

/* Restore the PRIMASK returned by port_cm_irq_save(). */
static inline void port_cm_irq_restore(uint32_t primask)
{
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}

/* Enable device interrupt irq (0-based, as numbered after the 16 core exceptions) at priority prio. */
static inline void port_cm_nvic_enable(uint32_t irq, uint8_t prio)
{
    CM7_NVIC_IPR8(irq) = prio;
    CM7_NVIC_ICPR(irq / 32u) = 1u << (irq % 32u);
    CM7_NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
}

/*
 * Start a SysTick interrupt every `reload + 1` counts of the CPU clock, at
 * the lowest priority so that link interrupts preempt it.
 */
static inline void port_cm_systick_start(uint32_t reload)
{
    CM7_SYST_CSR = 0u;
    CM7_SYST_RVR = reload & CM7_SYST_MAX_RELOAD;
    CM7_SYST_CVR = 0u;
    CM7_SCB_SHPR3 = (CM7_SCB_SHPR3 & 0x00FFFFFFu) | (0xF0u << 24);
    CM7_SYST_CSR = CM7_SYST_CSR_CLKSOURCE_CPU | CM7_SYST_CSR_TICKINT | CM7_SYST_CSR_ENABLE;
}

/* Request a system reset through the AIRCR; does not return. */
__attribute__((noreturn)) static inline void port_cm_system_reset(void)
{
    port_cm_dsb();
    CM7_SCB_AIRCR = CM7_AIRCR_VECTKEY | CM7_AIRCR_SYSRESETREQ;
    port_cm_dsb();
    for (;;) {
    }
}

/* Invalidate then enable the L1 instruction and data caches (Cortex-M7 TRM, 4.x, cache maintenance). */
void port_cm_caches_enable(void);

/* Enable the DWT cycle counter; returns false when CYCCNT does not count (e.g. an emulator). */
bool port_cm_cyccnt_enable(void);

#endif /* PORT_CM7_H */
