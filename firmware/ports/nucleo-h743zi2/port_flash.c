/*
 * port_flash.c - the NUCLEO-H743ZI2's flash slot: the last EL_FLASH_SLOT_SECTORS 128 KB sectors of
 * bank 2 (default 1; `edgeloop firmware build --flash-slot-kb`), programmed through the bank-2 flash
 * registers (RM0433 section 4), for el_flash_slot.h.
 *
 * Contract (el_flash_t): erase one 128 KB sector, program one 256-bit flash word (8 x 32-bit
 * writes, then wait for the write queue), and read with the ECC checked: a double ECC error,
 * which a reset in the middle of programming a word leaves behind, makes the AXI read fail with
 * a bus error; the read runs with FAULTMASK set and CCR.BFHFNMIGN, so that bus error is ignored,
 * and DBECCERR in FLASH_SR2 reports it instead (the read returns false). The firmware runs from
 * bank 1, so programming bank 2 never stalls instruction fetch. After an erase or a program the
 * D-cache lines of the region are invalidated, so the executor reads the new bytes.
 * Untested on hardware in this repository (no board here): the slot logic above it is tested
 * on the host against a simulated flash (tests/firmware/flash_sim.c).
 */
#include <string.h>

#include "../cortex-m/cm7.h"
#include "el_flash_slot.h"

#define FLASH_R 0x52002000u
#define FLASH_KEYR2 CM7_REG(FLASH_R + 0x104u)
#define FLASH_CR2 CM7_REG(FLASH_R + 0x10Cu)
#define FLASH_SR2 CM7_REG(FLASH_R + 0x110u)
#define FLASH_CCR2 CM7_REG(FLASH_R + 0x114u)
#define FLASH_KEY1 0x45670123u
#define FLASH_KEY2 0xCDEF89ABu
#define CR_LOCK (1u << 0)
#define CR_PG (1u << 1)
#define CR_SER (1u << 2)
#define CR_PSIZE_X64 (3u << 4)
#define CR_START (1u << 7)
#define CR_SNB(n) ((uint32_t)(n) << 8)
#define SR_BSY (1u << 0)
#define SR_WBNE (1u << 1)
#define SR_QW (1u << 2)
#define SR_ERRORS (0x07EE0000u) /* WRPERR PGSERR STRBERR INCERR OPERR RDPERR RDSERR SNECCERR DBECCERR */
#define SR_DBECCERR (1u << 26)
#define CCR_CLEAR_ALL (0x0FEF0000u)

#define BANK2_BASE 0x08100000u
#define SECTOR_BYTES (128u * 1024u)
#define BANK_SECTORS 8u
/* Sectors of the flash slot, at the end of bank 2 (the image runs from bank 1). */
#ifndef EL_FLASH_SLOT_SECTORS
#define EL_FLASH_SLOT_SECTORS 1u
#endif
#if EL_FLASH_SLOT_SECTORS < 1 || EL_FLASH_SLOT_SECTORS > 8
#error "EL_FLASH_SLOT_SECTORS must be 1..8 (128 KB sectors of bank 2)"
#endif
#define SLOT_SECTOR (BANK_SECTORS - EL_FLASH_SLOT_SECTORS) /* the slot's first sector */
#define CM7_DCIMVAC CM7_REG(0xE000EF5Cu)
#define CM7_CCR_BFHFNMIGN (1u << 8)

static void dsb(void)
{
    __asm volatile("dsb 0xF" ::: "memory");
}

static void isb(void)
{
    __asm volatile("isb 0xF" ::: "memory");
}

static void invalidate_dcache(uint32_t addr, uint32_t len)
{
    dsb();
    for (uint32_t a = addr & ~31u; a < addr + len; a += 32u) {
        CM7_DCIMVAC = a;
    }
    dsb();
    isb();
}

static bool unlock(void)
{
    if (FLASH_CR2 & CR_LOCK) {
        FLASH_KEYR2 = FLASH_KEY1;
        FLASH_KEYR2 = FLASH_KEY2;
    }
    return (FLASH_CR2 & CR_LOCK) == 0;
}

static bool wait_idle(void)
{
    while (FLASH_SR2 & (SR_BSY | SR_QW | SR_WBNE)) {
    }
    bool ok = (FLASH_SR2 & SR_ERRORS) == 0;
    FLASH_CCR2 = CCR_CLEAR_ALL;
    return ok;
}

static bool erase_sector(void *ctx, uint32_t addr)
{
    (void)ctx;
    if (addr < BANK2_BASE || (addr - BANK2_BASE) % SECTOR_BYTES || !unlock() || !wait_idle()) {
        return false;
    }
    uint32_t sector = (addr - BANK2_BASE) / SECTOR_BYTES;
    FLASH_CR2 = CR_PSIZE_X64 | CR_SER | CR_SNB(sector);
    FLASH_CR2 |= CR_START;
    bool ok = wait_idle();
    FLASH_CR2 = CR_LOCK;
    invalidate_dcache(addr, SECTOR_BYTES);
    return ok;
}

static bool program_word(void *ctx, uint32_t addr, const uint8_t word[EL_FLASH_WORD])
{
    (void)ctx;
    if (addr % EL_FLASH_WORD || !unlock() || !wait_idle()) {
        return false;
    }
    FLASH_CR2 = CR_PSIZE_X64 | CR_PG;
    dsb();
    volatile uint32_t *dst = (volatile uint32_t *)(uintptr_t)addr;
    for (unsigned i = 0; i < 8u; i++) {
        uint32_t w;
        memcpy(&w, word + 4u * i, sizeof w);
        dst[i] = w; /* the eighth write fills the 256-bit word and starts programming */
    }
    dsb();
    bool ok = wait_idle();
    FLASH_CR2 = CR_LOCK;
    invalidate_dcache(addr, EL_FLASH_WORD);
    return ok;
}

static bool read_checked(void *ctx, uint32_t addr, uint8_t *out, uint32_t len)
{
    (void)ctx;
    FLASH_CCR2 = CCR_CLEAR_ALL;
    __asm volatile("cpsid f" ::: "memory"); /* FAULTMASK: with BFHFNMIGN, a bus error is ignored */
    CM7_SCB_CCR |= CM7_CCR_BFHFNMIGN;
    dsb();
    isb();
    memcpy(out, (const void *)(uintptr_t)addr, len);
    dsb();
    CM7_SCB_CCR &= ~CM7_CCR_BFHFNMIGN;
    dsb();
    isb();
    __asm volatile("cpsie f" ::: "memory");
    bool ok = (FLASH_SR2 & SR_DBECCERR) == 0;
    FLASH_CCR2 = CCR_CLEAR_ALL;
    return ok;
}

static const uint8_t *map(void *ctx, uint32_t addr)
{
    (void)ctx;
    return (const uint8_t *)(uintptr_t)addr;
}

/* The build's size check (tests/firmware/test_nucleo_build.py) reads base, sectors and sector_bytes
 * from this struct in the ELF: the image must end before the slot, or erasing it would erase code. */
static const el_flash_t port_flash = {
    .base = BANK2_BASE + SLOT_SECTOR * SECTOR_BYTES,
    .sectors = EL_FLASH_SLOT_SECTORS,
    .sector_bytes = SECTOR_BYTES,
    .erase_sector = erase_sector,
    .program_word = program_word,
    .read = read_checked,
    .map = map,
    .ctx = NULL,
};

const el_flash_t *el_flash_slot_driver(void)
{
    return &port_flash;
}
