/*
 * nn_dsp.h - the Armv7E-M DSP (SIMD32) instructions the optimized kernels use.
 *
 * Purpose: one spelling for the packed 16-bit instructions, mapped to the ACLE
 * intrinsics of <arm_acle.h> when the target has them (__ARM_FEATURE_DSP), and
 * otherwise to portable C that computes the same bits, so that the optimized
 * kernels can be tested on any host.
 *
 * Contract: operands are 32-bit words holding two 16-bit lanes (low = lane 0).
 *   nn_sxtb16(x)        lanes = sign-extended bytes 0 and 2 of x
 *   nn_sxtb16_ror8(x)   lanes = sign-extended bytes 1 and 3 of x
 *   nn_sadd16(a, b)     lane-wise a + b, wrapping
 *   nn_smlad(a, b, acc) acc + a.lo*b.lo + a.hi*b.hi (wrapping; the Q flag is ignored)
 *   nn_smlabb/nn_smlatt acc + a.lo*b.lo / acc + a.hi*b.hi
 *   nn_smlabt           acc + a.lo*b.hi
 *   nn_sxtab16(a, x)    lane-wise a + nn_sxtb16(x), wrapping (nn_sxtab16_ror8: + nn_sxtb16_ror8(x))
 *   nn_max_s8x4(a, b)   byte-wise signed maximum of 4 int8 lanes (SSUB8 + SEL)
 *   nn_min_s8x4(a, b)   byte-wise signed minimum of 4 int8 lanes
 *   nn_ssat8(x)         x saturated to [-128, 127] (SSAT)
 *
 * Example:
 *     uint32_t w = nn_read32(weights);                // 4 int8 weights
 *     acc = nn_smlad(nn_sxtb16(w), col02, acc);       // w0*c0 + w2*c2
 *     acc = nn_smlad(nn_sxtb16_ror8(w), col13, acc);  // w1*c1 + w3*c3
 */
#ifndef NN_DSP_H
#define NN_DSP_H

#include <stdint.h>
#include <string.h>

/* Unaligned-safe 32-bit load (one LDR on Cortex-M7). */
static inline uint32_t nn_read32(const void *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Unaligned-safe 32-bit store. */
static inline void nn_write32(void *p, uint32_t v) { memcpy(p, &v, sizeof v); }

/* Two 16-bit lanes holding the same value. */
static inline uint32_t nn_dup16(int32_t v) { return (uint32_t)(uint16_t)v * 0x00010001u; }

/* Four 8-bit lanes holding the same value. */
static inline uint32_t nn_dup8(int32_t v) { return (uint32_t)(uint8_t)v * 0x01010101u; }

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>

static inline uint32_t nn_sxtb16(uint32_t x) { return __sxtb16(x); }
/* GCC does not fold a rotate into SXTB16's own rotate operand: say it directly. */
static inline uint32_t nn_sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t nn_sadd16(uint32_t a, uint32_t b) { return __sadd16(a, b); }
static inline int32_t nn_smlad(uint32_t a, uint32_t b, int32_t acc) { return __smlad(a, b, acc); }
static inline int32_t nn_smlabb(uint32_t a, uint32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t nn_smlatt(uint32_t a, uint32_t b, int32_t acc) { return __smlatt(a, b, acc); }
static inline int32_t nn_smlabt(uint32_t a, uint32_t b, int32_t acc) { return __smlabt(a, b, acc); }
static inline uint32_t nn_sxtab16(uint32_t a, uint32_t x) { return __sxtab16(a, x); }
static inline uint32_t nn_sxtab16_ror8(uint32_t a, uint32_t x) {
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
/* SEL reads the GE flags SSUB8 sets: one asm statement keeps the pair together. */
static inline uint32_t nn_max_s8x4(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
static inline uint32_t nn_min_s8x4(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
static inline int32_t nn_ssat8(int32_t x) { return __ssat(x, 8); }
/* Each 16-bit lane of a plus h (from h2) where the lane is >= 0 and minus h (from nh2) where it is
 * negative, wrapping: SSUB16 against 0 sets the GE flags of the lanes >= 0, SEL picks by them. */
static inline uint32_t nn_add_away16(uint32_t a, uint32_t h2, uint32_t nh2) {
    uint32_t r;
    __asm__("ssub16 %0, %1, %4\n\tsel %0, %2, %3\n\tsadd16 %0, %1, %0"
            : "=&r"(r) : "r"(a), "r"(h2), "r"(nh2), "r"(0u) : "cc");
    return r;
}

#else /* portable model of the same instructions */

static inline uint32_t nn_pack16(int32_t lo, int32_t hi) {
    return (uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16);
}
static inline int32_t nn_lo16(uint32_t x) { return (int16_t)(x & 0xFFFFu); }
static inline int32_t nn_hi16(uint32_t x) { return (int16_t)(x >> 16); }

static inline uint32_t nn_sxtb16(uint32_t x) {
    return nn_pack16((int8_t)(x & 0xFFu), (int8_t)((x >> 16) & 0xFFu));
}
static inline uint32_t nn_sxtb16_ror8(uint32_t x) { return nn_sxtb16((x >> 8) | (x << 24)); }
static inline uint32_t nn_sadd16(uint32_t a, uint32_t b) {
    return nn_pack16(nn_lo16(a) + nn_lo16(b), nn_hi16(a) + nn_hi16(b));
}
static inline int32_t nn_smlad(uint32_t a, uint32_t b, int32_t acc) {
    uint32_t r = (uint32_t)acc + (uint32_t)(nn_lo16(a) * nn_lo16(b)) + (uint32_t)(nn_hi16(a) * nn_hi16(b));
    return (int32_t)r;
}
static inline int32_t nn_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(nn_lo16(a) * nn_lo16(b)));
}
static inline int32_t nn_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(nn_hi16(a) * nn_hi16(b)));
}
static inline int32_t nn_smlabt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(nn_lo16(a) * nn_hi16(b)));
}
static inline uint32_t nn_sxtab16(uint32_t a, uint32_t x) { return nn_sadd16(a, nn_sxtb16(x)); }
static inline uint32_t nn_sxtab16_ror8(uint32_t a, uint32_t x) { return nn_sadd16(a, nn_sxtb16_ror8(x)); }
static inline uint32_t nn_max_s8x4(uint32_t a, uint32_t b) {
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        const int8_t x = (int8_t)(a >> i), y = (int8_t)(b >> i);
        r |= (uint32_t)(uint8_t)(x > y ? x : y) << i;
    }
    return r;
}
static inline uint32_t nn_min_s8x4(uint32_t a, uint32_t b) {
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        const int8_t x = (int8_t)(a >> i), y = (int8_t)(b >> i);
        r |= (uint32_t)(uint8_t)(x < y ? x : y) << i;
    }
    return r;
}
static inline int32_t nn_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
static inline uint32_t nn_add_away16(uint32_t a, uint32_t h2, uint32_t nh2) {
    return nn_pack16(nn_lo16(a) + (nn_lo16(a) >= 0 ? nn_lo16(h2) : nn_lo16(nh2)),
                     nn_hi16(a) + (nn_hi16(a) >= 0 ? nn_hi16(h2) : nn_hi16(nh2)));
}
#endif

#endif /* NN_DSP_H */
