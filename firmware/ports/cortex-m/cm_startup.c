/* cm_startup.c - Cortex-M reset handler and default fault entry (contract in cm_startup.h). */
#include "cm_startup.h"

#include <string.h>

#include "cm7.h"

/* Section boundaries from cm_sections.ld. */
extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __bulk_start[], __bulk_end[];
/* Code a board's linker script runs from RAM (the Nucleo's ITCM with TCM=1); without it the weak
 * symbols are 0 and nothing is copied. */
extern uint32_t __ramcode_load[] __attribute__((weak));
extern uint32_t __ramcode_start[] __attribute__((weak));
extern uint32_t __ramcode_end[] __attribute__((weak));

int main(void);

void port_cm_reset_isr(void)
{
    /* The FPU must be enabled before any compiled code may touch an FP register. */
    CM7_SCB_CPACR |= CM7_CPACR_CP10_CP11_FULL;
    port_cm_dsb();
    port_cm_isb();

    memcpy(__data_start, __data_load, (size_t)((uintptr_t)__data_end - (uintptr_t)__data_start));
    memset(__bss_start, 0, (size_t)((uintptr_t)__bss_end - (uintptr_t)__bss_start));
    memset(__bulk_start, 0, (size_t)((uintptr_t)__bulk_end - (uintptr_t)__bulk_start));
    if ((uintptr_t)__ramcode_end != (uintptr_t)__ramcode_start) {
        memcpy(__ramcode_start, __ramcode_load, (size_t)((uintptr_t)__ramcode_end - (uintptr_t)__ramcode_start));
        port_cm_dsb();
        port_cm_isb();   /* the copied code is fetched only after the copy completes */
    }

    /* Trap divide by zero instead of silently returning 0; unaligned access stays allowed. */
    CM7_SCB_CCR |= 1u << 4;
    port_cm_main_returned(main());
}

void port_cm_fault_isr(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    port_cm_fault(ipsr & 0x1FFu);
}
