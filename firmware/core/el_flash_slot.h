/*
 * el_flash_slot.h - an upload slot in flash that survives a reset (STM32H7 second bank).
 *
 * Purpose: the layout and write order that make a flash slot safe against a
 * reset at any instant, over a small flash driver (el_flash_t) that a port
 * implements with registers and the host tests implement with a simulated
 * flash that enforces erase and program rules.
 *
 * Layout of the region (sector-aligned, `sectors` x `sector_bytes`):
 *
 *     [0, 32)     commit marker: one flash word, programmed LAST
 *     [32, 96)    record: size u32, 28 bytes 0, sha256 of the data (two flash words)
 *     [128, ...)  the container, padded with 0xFF to whole flash words
 *
 * Contract:
 *   - The flash programs whole 32-byte words (STM32H7: 256 bits + ECC), each
 *     word once after its sector's erase. A reset while a word is programmed
 *     may leave it with an ECC error: reading it fails (`read` returns false).
 *   - Write order: erase every sector (el_flash_slot_begin), program the data
 *     (el_flash_slot_write, any order, each word once), then at commit read
 *     the data back and check its SHA-256, program the record, and only then
 *     the marker. So a marker that reads back valid (magic, size, CRC-32 of
 *     the record) means every earlier word was complete; anything else — an
 *     erased marker, a torn marker with an ECC error, a torn record — means
 *     "no model" (el_flash_slot_boot returns EL_FLASH_EMPTY or
 *     EL_FLASH_CORRUPT, never a half model).
 *   - The data are also checked at boot (SHA-256 against the record) before the
 *     caller validates the container in place (el_container_load on map()).
 *
 * Example:
 *
 *     if (el_flash_slot_boot(&f, &size, why) == EL_FLASH_LOADED)
 *         el_container_load(&prog, f.map(f.ctx, f.base + EL_FLASH_DATA_AT), size, ...);
 */
#ifndef EL_FLASH_SLOT_H
#define EL_FLASH_SLOT_H

#include <stdbool.h>
#include <stdint.h>

#define EL_FLASH_WORD 32u
#define EL_FLASH_DATA_AT 128u

typedef struct {
    uint32_t base;          /* region start: sector aligned */
    uint32_t sectors;
    uint32_t sector_bytes;
    bool (*erase_sector)(void *ctx, uint32_t addr);                       /* false: the flash refused */
    bool (*program_word)(void *ctx, uint32_t addr, const uint8_t word[EL_FLASH_WORD]);
    bool (*read)(void *ctx, uint32_t addr, uint8_t *out, uint32_t len); /* false: an ECC error */
    const uint8_t *(*map)(void *ctx, uint32_t addr);                     /* memory-mapped view */
    void *ctx;
} el_flash_t;

enum { EL_FLASH_EMPTY = 0, EL_FLASH_LOADED = 1, EL_FLASH_CORRUPT = 2 };

/* The board's flash slot driver: provided by a port built with EL_FLASH_SLOT=1 (el_upload.h). */
const el_flash_t *el_flash_slot_driver(void);

/* Bytes of container the region holds. */
uint32_t el_flash_slot_capacity(const el_flash_t *f);

/* Erase the whole region for a container of `size` bytes. */
bool el_flash_slot_begin(const el_flash_t *f, uint32_t size, char *why);

/* Program container bytes [off, off + len): off a multiple of 32, len too unless the data end at `size`. */
bool el_flash_slot_write(const el_flash_t *f, uint32_t size, uint32_t off, const uint8_t *data, uint32_t len,
                         char *why);

/* Erase the whole region (SLOT_ERASE): the slot then boots empty. */
bool el_flash_slot_erase(const el_flash_t *f, char *why);

/* Check the data's SHA-256, then program the record and, last, the marker. */
bool el_flash_slot_commit(const el_flash_t *f, uint32_t size, const uint8_t sha[32], char *why);

/* At boot: EL_FLASH_LOADED with *size when a committed container is intact, else EMPTY or CORRUPT. */
int el_flash_slot_boot(const el_flash_t *f, uint32_t *size, char *why);

#endif /* EL_FLASH_SLOT_H */
