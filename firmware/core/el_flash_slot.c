/* el_flash_slot.c - reset-safe flash slot; see el_flash_slot.h. */
#include "el_flash_slot.h"

#include <string.h>

#include "el_crc32.h"
#include "el_sha256.h"
#include "el_container.h" /* EL_WHY_BYTES */

#define MARKER_MAGIC 0x43464C45u /* "ELFC" */
#define RECORD_AT 32u
#define RECORD_BYTES 64u

static bool el_why(char *why, const char *text)
{
    if (why) {
        size_t n = strlen(text);
        n = n < EL_WHY_BYTES - 1u ? n : EL_WHY_BYTES - 1u;
        memcpy(why, text, n);
        why[n] = '\0';
    }
    return false;
}

static void wr32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t el_flash_slot_capacity(const el_flash_t *f)
{
    uint64_t total = (uint64_t)f->sectors * f->sector_bytes;
    return total > EL_FLASH_DATA_AT ? (uint32_t)(total - EL_FLASH_DATA_AT) : 0u;
}

bool el_flash_slot_begin(const el_flash_t *f, uint32_t size, char *why)
{
    if (size == 0 || size > el_flash_slot_capacity(f)) {
        return el_why(why, "the model does not fit the flash slot");
    }
    return el_flash_slot_erase(f, why);
}

bool el_flash_slot_erase(const el_flash_t *f, char *why)
{
    for (uint32_t s = 0; s < f->sectors; s++) { /* the marker's sector first: the old model is gone at once */
        if (!f->erase_sector(f->ctx, f->base + s * f->sector_bytes)) {
            return el_why(why, "flash sector erase failed");
        }
    }
    return true;
}

bool el_flash_slot_write(const el_flash_t *f, uint32_t size, uint32_t off, const uint8_t *data, uint32_t len,
                         char *why)
{
    if (off % EL_FLASH_WORD || (uint64_t)off + len > size || (len % EL_FLASH_WORD && off + len != size)) {
        return el_why(why, "flash chunks must start at a multiple of 32 bytes and hold whole flash words");
    }
    for (uint32_t at = 0; at < len; at += EL_FLASH_WORD) {
        uint8_t word[EL_FLASH_WORD];
        uint32_t n = len - at < EL_FLASH_WORD ? len - at : EL_FLASH_WORD;
        memset(word, 0xFF, sizeof word); /* the last word is padded with erased bytes */
        memcpy(word, data + at, n);
        if (!f->program_word(f->ctx, f->base + EL_FLASH_DATA_AT + off + at, word)) {
            return el_why(why, "flash programming failed (a word written twice since the erase?)");
        }
    }
    return true;
}

/* SHA-256 of the data read back through the ECC-checked path; false on an ECC error. */
static bool el_flash_digest(const el_flash_t *f, uint32_t size, uint8_t digest[32])
{
    el_sha256_t h;
    uint8_t buf[64];
    el_sha256_init(&h);
    for (uint32_t at = 0; at < size; at += sizeof buf) {
        uint32_t n = size - at < sizeof buf ? size - at : (uint32_t)sizeof buf;
        if (!f->read(f->ctx, f->base + EL_FLASH_DATA_AT + at, buf, n)) {
            return false;
        }
        el_sha256_update(&h, buf, n);
    }
    el_sha256_final(&h, digest);
    return true;
}

bool el_flash_slot_commit(const el_flash_t *f, uint32_t size, const uint8_t sha[32], char *why)
{
    uint8_t digest[32];
    if (!el_flash_digest(f, size, digest) || memcmp(digest, sha, 32) != 0) {
        return el_why(why, "sha256 of the flash slot differs from UPLOAD_BEGIN's: upload again");
    }
    uint8_t record[RECORD_BYTES];
    memset(record, 0, sizeof record);
    wr32(record, size);
    memcpy(record + 32, sha, 32);
    for (uint32_t w = 0; w < RECORD_BYTES; w += EL_FLASH_WORD) {
        if (!f->program_word(f->ctx, f->base + RECORD_AT + w, record + w)) {
            return el_why(why, "flash programming of the slot record failed");
        }
    }
    uint8_t marker[EL_FLASH_WORD];
    memset(marker, 0, sizeof marker);
    wr32(marker, MARKER_MAGIC);
    wr32(marker + 4, size);
    wr32(marker + 8, el_crc32(0, record, sizeof record));
    if (!f->program_word(f->ctx, f->base, marker)) { /* last: the slot is committed from here on */
        return el_why(why, "flash programming of the commit marker failed");
    }
    return true;
}

int el_flash_slot_boot(const el_flash_t *f, uint32_t *size, char *why)
{
    uint8_t marker[EL_FLASH_WORD], record[RECORD_BYTES], digest[32];
    static const uint8_t erased[EL_FLASH_WORD] = {
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    *size = 0;
    if (!f->read(f->ctx, f->base, marker, sizeof marker)) {
        el_why(why, "flash slot marker has an ECC error (reset while committing): erase the slot");
        return EL_FLASH_CORRUPT;
    }
    if (memcmp(marker, erased, sizeof erased) == 0) {
        el_why(why, "flash slot holds no committed model");
        return EL_FLASH_EMPTY;
    }
    uint32_t n = rd32(marker + 4);
    if (rd32(marker) != MARKER_MAGIC || n == 0 || n > el_flash_slot_capacity(f) ||
        !f->read(f->ctx, f->base + RECORD_AT, record, sizeof record) ||
        rd32(marker + 8) != el_crc32(0, record, sizeof record) || rd32(record) != n) {
        el_why(why, "flash slot marker or record is invalid: erase the slot");
        return EL_FLASH_CORRUPT;
    }
    if (!el_flash_digest(f, n, digest) || memcmp(digest, record + 32, 32) != 0) {
        el_why(why, "flash slot data do not match their sha256: erase the slot");
        return EL_FLASH_CORRUPT;
    }
    *size = n;
    return EL_FLASH_LOADED;
}
