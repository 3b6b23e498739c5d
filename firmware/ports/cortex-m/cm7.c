/* cm7.c - Cortex-M7 cache and cycle-counter bring-up (contract in cm7.h). */
#include "cm7.h"

void port_cm_caches_enable(void)
{
    if (CM7_SCB_CCR & CM7_CCR_IC) {
        return; /* already on (a debugger or a previous boot stage did it) */
    }
    /* Instruction cache: invalidate all, then enable. */
    port_cm_dsb();
    port_cm_isb();
    CM7_ICIALLU = 0u;
    port_cm_dsb();
    port_cm_isb();
    CM7_SCB_CCR |= CM7_CCR_IC;
    port_cm_dsb();
    port_cm_isb();

    /* Data cache: select L1 D (CSSELR = 0), invalidate every set and way, then enable. */
    CM7_SCB_CSSELR = 0u;
    port_cm_dsb();
    uint32_t ccsidr = CM7_SCB_CCSIDR;
    uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    uint32_t line_shift = (ccsidr & 0x7u) + 4u; /* log2(line bytes) */
    uint32_t way_shift = (uint32_t)__builtin_clz(ways - 1u); /* ways field is left-aligned */
    for (uint32_t set = 0; set < sets; ++set) {
        for (uint32_t way = 0; way < ways; ++way) {
            uint32_t sw = (set << line_shift);
            if (ways > 1u) {
                sw |= way << way_shift;
            }
            CM7_DCISW = sw;
        }
    }
    port_cm_dsb();
    CM7_SCB_CCR |= CM7_CCR_DC;
    port_cm_dsb();
    port_cm_isb();
}

bool port_cm_cyccnt_enable(void)
{
    CM7_DEMCR |= CM7_DEMCR_TRCENA;
    CM7_DWT_LAR = CM7_DWT_LAR_KEY; /* the M7 DWT ignores writes until unlocked */
    CM7_DWT_CYCCNT = 0u;
    CM7_DWT_CTRL |= CM7_DWT_CTRL_CYCCNTENA;
    uint32_t before = CM7_DWT_CYCCNT;
    for (volatile int i = 0; i < 16; ++i) {
    }
    return CM7_DWT_CYCCNT != before;
}
