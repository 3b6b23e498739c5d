/*
 * el_crc32.h - CRC-32 of the link protocol (SPEC.md section 2).
 *
 * Purpose: the integrity check over `header || payload` of every frame. It is
 * the zlib/Ethernet CRC-32: reflected polynomial 0xEDB88320, initial value
 * 0xFFFFFFFF, final XOR 0xFFFFFFFF, table driven (1 KiB of const table).
 *
 * Contract:
 *   - el_crc32() has zlib's crc32() semantics: start with 0, feed the
 *     previous return value to continue over more data.
 *   - el_crc32_step() works on the raw (not inverted) register: start with
 *     EL_CRC32_INIT, the CRC of the data is ~register. Feeding a frame's
 *     data followed by its 4 CRC bytes (little-endian) always leaves the
 *     register at EL_CRC32_RESIDUE, which lets a byte-at-a-time receiver
 *     check a frame without knowing where its CRC starts.
 *   - No state, no allocation; safe in interrupt handlers.
 *
 * Example:
 *
 *     uint32_t crc = el_crc32(0, header, 6);
 *     crc = el_crc32(crc, payload, payload_len);   // same as one call over both
 */
#ifndef EL_CRC32_H
#define EL_CRC32_H

#include <stddef.h>
#include <stdint.h>

#define EL_CRC32_INIT 0xFFFFFFFFu
/* Raw register after data || crc32(data) as 4 bytes LE (the CRC-32 residue). */
#define EL_CRC32_RESIDUE 0xDEBB20E3u

extern const uint32_t el_crc32_table[256];

/* One byte into the raw register (see the contract). */
static inline uint32_t el_crc32_step(uint32_t reg, uint8_t byte)
{
    return el_crc32_table[(reg ^ byte) & 0xFFu] ^ (reg >> 8);
}

/* zlib-compatible CRC-32 of len bytes, continuing from crc (0 to start). */
uint32_t el_crc32(uint32_t crc, const void *data, size_t len);

#endif /* EL_CRC32_H */
