/*
 * el_sha256.h - SHA-256 (FIPS 180-4), incremental, for checking uploaded models.
 *
 * Contract: no allocation; el_sha256_update() takes any number of bytes in any
 * number of calls; el_sha256_final() writes the 32-byte digest and leaves the
 * context unusable until the next el_sha256_init().
 *
 * Example:
 *
 *     el_sha256_t h;
 *     uint8_t digest[32];
 *     el_sha256_init(&h);
 *     el_sha256_update(&h, data, len);
 *     el_sha256_final(&h, digest);
 */
#ifndef EL_SHA256_H
#define EL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t bytes;     /* message length so far */
    uint8_t block[64];  /* pending partial block */
} el_sha256_t;

void el_sha256_init(el_sha256_t *h);
void el_sha256_update(el_sha256_t *h, const void *data, size_t len);
void el_sha256_final(el_sha256_t *h, uint8_t digest[32]);

#endif /* EL_SHA256_H */
