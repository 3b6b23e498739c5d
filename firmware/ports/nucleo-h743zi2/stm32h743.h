/*
 * stm32h743.h - the STM32H743 registers the NUCLEO-H743ZI2 port touches.
 *
 * Written from the RM0433 reference manual (register maps of RCC, PWR,
 * FLASH, GPIO, USART, IWDG, DBGMCU) and the STM32H743 datasheet (memory map,
 * interrupt numbers). Only what the port needs is defined; every field is
 * named as in RM0433 so that it can be checked against the manual.
 *
 * Contract: included by port_nucleo.c only.
 *
 * Example:
 *
 *     RCC_AHB4ENR |= RCC_AHB4ENR_GPIOBEN;
 *     GPIO_BSRR(GPIOB_BASE) = 1u << 0;      // LD1 on
 */
#ifndef PORT_STM32H743_H
#define PORT_STM32H743_H

#include "../cortex-m/cm7.h"

/* ---- RCC (reset and clock control), RM0433 section 8 ---- */
#define RCC_BASE 0x58024400u
#define RCC_CR CM7_REG(RCC_BASE + 0x000u)
#define RCC_CFGR CM7_REG(RCC_BASE + 0x010u)
#define RCC_D1CFGR CM7_REG(RCC_BASE + 0x018u)
#define RCC_D2CFGR CM7_REG(RCC_BASE + 0x01Cu)
#define RCC_D3CFGR CM7_REG(RCC_BASE + 0x020u)
#define RCC_PLLCKSELR CM7_REG(RCC_BASE + 0x028u)
#define RCC_PLLCFGR CM7_REG(RCC_BASE + 0x02Cu)
#define RCC_PLL1DIVR CM7_REG(RCC_BASE + 0x030u)
#define RCC_PLL1FRACR CM7_REG(RCC_BASE + 0x034u)
#define RCC_D2CCIP2R CM7_REG(RCC_BASE + 0x054u)
#define RCC_RSR CM7_REG(RCC_BASE + 0x0D0u)
#define RCC_AHB4ENR CM7_REG(RCC_BASE + 0x0E0u)
#define RCC_APB1LENR CM7_REG(RCC_BASE + 0x0E8u)
#define RCC_APB4ENR CM7_REG(RCC_BASE + 0x0F4u)

#define RCC_CR_HSION (1u << 0)
#define RCC_CR_HSIRDY (1u << 2)
#define RCC_CR_HSIDIV_SHIFT 3u /* HSI divider: 64 MHz >> HSIDIV */
#define RCC_CR_HSIDIV_MASK (0x3u << RCC_CR_HSIDIV_SHIFT)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLL1ON (1u << 24)
#define RCC_CR_PLL1RDY (1u << 25)

#define RCC_CFGR_SW_MASK 0x7u
#define RCC_CFGR_SW_PLL1 0x3u
#define RCC_CFGR_SWS_SHIFT 3u
#define RCC_CFGR_SWS_MASK (0x7u << RCC_CFGR_SWS_SHIFT)

#define RCC_D1CFGR_HPRE_DIV2 (0x8u << 0)    /* AHB (rcc_hclk3) = sys_d1cpre_ck / 2 */
#define RCC_D1CFGR_D1PPRE_DIV2 (0x4u << 4)  /* APB3 = hclk / 2 */
#define RCC_D1CFGR_D1CPRE_DIV1 (0x0u << 8)  /* CPU = sys_ck / 1 */
#define RCC_D2CFGR_D2PPRE1_DIV2 (0x4u << 4) /* APB1 = hclk / 2 */
#define RCC_D2CFGR_D2PPRE2_DIV2 (0x4u << 8) /* APB2 = hclk / 2 */
#define RCC_D3CFGR_D3PPRE_DIV2 (0x4u << 4)  /* APB4 = hclk / 2 */

#define RCC_PLLCKSELR_PLLSRC_HSI 0x0u
#define RCC_PLLCKSELR_PLLSRC_HSE 0x2u
#define RCC_PLLCKSELR_PLLSRC_MASK 0x3u
#define RCC_PLLCKSELR_DIVM1_SHIFT 4u
#define RCC_PLLCKSELR_DIVM1_MASK (0x3Fu << RCC_PLLCKSELR_DIVM1_SHIFT)

#define RCC_PLLCFGR_PLL1FRACEN (1u << 0)
#define RCC_PLLCFGR_PLL1VCOSEL_MEDIUM (1u << 1) /* 0: wide VCO range (192..836 MHz) */
#define RCC_PLLCFGR_PLL1RGE_SHIFT 2u
#define RCC_PLLCFGR_PLL1RGE_8_16MHZ (0x3u << RCC_PLLCFGR_PLL1RGE_SHIFT)
#define RCC_PLLCFGR_PLL1RGE_MASK (0x3u << RCC_PLLCFGR_PLL1RGE_SHIFT)
#define RCC_PLLCFGR_DIVP1EN (1u << 16)
#define RCC_PLLCFGR_DIVQ1EN (1u << 17)
#define RCC_PLLCFGR_DIVR1EN (1u << 18)

/* PLL1DIVR fields hold (value - 1). */
#define RCC_PLL1DIVR_VALUE(n, p, q, r) \
    ((((n) - 1u) << 0) | (((p) - 1u) << 9) | (((q) - 1u) << 16) | (((r) - 1u) << 24))

#define RCC_D2CCIP2R_USART234578SEL_MASK (0x7u << 0) /* 0: rcc_pclk1 */

#define RCC_RSR_IWDG1RSTF (1u << 26)
#define RCC_RSR_RMVF (1u << 16)

#define RCC_AHB4ENR_GPIOBEN (1u << 1)
#define RCC_AHB4ENR_GPIODEN (1u << 3)
#define RCC_AHB4ENR_GPIOEEN (1u << 4)
#define RCC_APB1LENR_USART3EN (1u << 18)

/* ---- PWR (power control), RM0433 section 6 ---- */
#define PWR_BASE 0x58024800u
#define PWR_CSR1 CM7_REG(PWR_BASE + 0x04u)
#define PWR_CR3 CM7_REG(PWR_BASE + 0x0Cu)
#define PWR_D3CR CM7_REG(PWR_BASE + 0x18u)

#define PWR_CSR1_ACTVOSRDY (1u << 13)
#define PWR_CR3_BYPASS (1u << 0)
#define PWR_CR3_LDOEN (1u << 1)
#define PWR_CR3_SCUEN (1u << 2) /* supply configuration update enable (read: not yet locked) */
#define PWR_D3CR_VOS_SHIFT 14u
#define PWR_D3CR_VOS_MASK (0x3u << PWR_D3CR_VOS_SHIFT)
#define PWR_D3CR_VOS_SCALE1 (0x3u << PWR_D3CR_VOS_SHIFT)
#define PWR_D3CR_VOSRDY (1u << 13)

/* ---- Embedded flash interface, RM0433 section 4 ---- */
#define FLASH_ACR CM7_REG(0x52002000u)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_WRHIGHFREQ_SHIFT 4u

/* ---- GPIO, RM0433 section 11 ---- */
#define GPIOB_BASE 0x58020400u
#define GPIOD_BASE 0x58020C00u
#define GPIOE_BASE 0x58021000u
#define GPIO_MODER(base) CM7_REG((base) + 0x00u)
#define GPIO_OTYPER(base) CM7_REG((base) + 0x04u)
#define GPIO_OSPEEDR(base) CM7_REG((base) + 0x08u)
#define GPIO_PUPDR(base) CM7_REG((base) + 0x0Cu)
#define GPIO_ODR(base) CM7_REG((base) + 0x14u)
#define GPIO_BSRR(base) CM7_REG((base) + 0x18u)
#define GPIO_AFRL(base) CM7_REG((base) + 0x20u)
#define GPIO_AFRH(base) CM7_REG((base) + 0x24u)
#define GPIO_MODE_OUTPUT 0x1u
#define GPIO_MODE_AF 0x2u

/* ---- USART3, RM0433 section 48 (FIFO-capable USART) ---- */
#define USART3_BASE 0x40004800u
#define USART3_CR1 CM7_REG(USART3_BASE + 0x00u)
#define USART3_CR2 CM7_REG(USART3_BASE + 0x04u)
#define USART3_CR3 CM7_REG(USART3_BASE + 0x08u)
#define USART3_BRR CM7_REG(USART3_BASE + 0x0Cu)
#define USART3_ISR CM7_REG(USART3_BASE + 0x1Cu)
#define USART3_ICR CM7_REG(USART3_BASE + 0x20u)
#define USART3_RDR CM7_REG(USART3_BASE + 0x24u)
#define USART3_TDR CM7_REG(USART3_BASE + 0x28u)
#define USART3_PRESC CM7_REG(USART3_BASE + 0x2Cu)

#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXFNEIE (1u << 5) /* RXNEIE when the FIFO is off */
#define USART_CR1_TXFNFIE (1u << 7) /* TXEIE when the FIFO is off */
#define USART_CR1_OVER8 (1u << 15)
#define USART_CR1_FIFOEN (1u << 29)
#define USART_CR3_EIE (1u << 0) /* interrupt on framing, noise and overrun errors */

#define USART_ISR_PE (1u << 0)
#define USART_ISR_FE (1u << 1)
#define USART_ISR_NE (1u << 2)
#define USART_ISR_ORE (1u << 3)
#define USART_ISR_RXFNE (1u << 5)
#define USART_ISR_TXFNF (1u << 7)
#define USART_ISR_TEACK (1u << 21)
#define USART_ISR_REACK (1u << 22)
#define USART_ICR_PECF (1u << 0)
#define USART_ICR_FECF (1u << 1)
#define USART_ICR_NECF (1u << 2)
#define USART_ICR_ORECF (1u << 3)

#define USART3_IRQN 39u

/* ---- IWDG1 (independent watchdog, LSI ~32 kHz), RM0433 section 45 ---- */
#define IWDG1_BASE 0x58004800u
#define IWDG1_KR CM7_REG(IWDG1_BASE + 0x00u)
#define IWDG1_PR CM7_REG(IWDG1_BASE + 0x04u)
#define IWDG1_RLR CM7_REG(IWDG1_BASE + 0x08u)
#define IWDG1_SR CM7_REG(IWDG1_BASE + 0x0Cu)
#define IWDG_KEY_START 0xCCCCu
#define IWDG_KEY_RELOAD 0xAAAAu
#define IWDG_KEY_UNLOCK 0x5555u
#define IWDG_LSI_HZ 32000u

/* ---- DBGMCU: silicon revision; stop the watchdog while a debugger halts the core ---- */
#define DBGMCU_IDC CM7_REG(0x5C001000u)
#define DBGMCU_IDC_REV_ID_SHIFT 16u /* REV_ID 0x1003: revision Y, 0x2003: revision V */
#define DBGMCU_REV_ID_Y 0x1003u
#define DBGMCU_APB4FZ1 CM7_REG(0x5C001054u)
#define DBGMCU_APB4FZ1_IWDG1 (1u << 18)

/* ---- AXI interconnect (GPV): ES0392 2.2.9, AXI SRAM read corruption on revision Y ---- */
#define AXI_TARG7_FN_MOD CM7_REG(0x51008108u) /* target 7 = AXI SRAM */
#define AXI_TARG7_FN_MOD_READ_ISS_OVERRIDE (1u << 0) /* read issuing capability 1 */

#endif /* PORT_STM32H743_H */
