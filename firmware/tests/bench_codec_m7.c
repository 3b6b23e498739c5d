/*
 * bench_codec_m7.c - instructions per byte of the C link codec on Cortex-M7 under QEMU.
 *
 * A bare-metal image (see firmware/ports/qemu-mps2-an500/README.md) that
 * encodes one INFER-sized frame and decodes it byte by byte, as the firmware's
 * receive path does, for 4 KB and 27 KB payloads. Under `qemu -icount shift=0`
 * the counts are deterministic emulated instruction counts, not cycles.
 *
 * Prints one line per size:
 *   payload=4096 encode_instr_per_byte=... decode_instr_per_byte=...
 */
#include <stdint.h>
#include <stdio.h>

#include "bm_runtime.h"
#include "el_frame.h"
#include "port.h"

#define BENCH_MAX 27648u

static uint8_t payload[BENCH_MAX];
static uint8_t wire[EL_WIRE_MAX(BENCH_MAX)];
static _Alignas(8) uint8_t decoded[BENCH_MAX + EL_FRAME_OVERHEAD];

int main(void)
{
    static const uint32_t sizes[] = {4096u, BENCH_MAX};
    port_init();
    for (uint32_t i = 0; i < BENCH_MAX; i++) {
        payload[i] = (uint8_t)((i * 131u + 7u) % 251u); /* a zero every 251 bytes, as on the host bench */
    }
    for (unsigned s = 0; s < 2; s++) {
        uint32_t n = sizes[s];
        uint32_t t0 = port_ticks();
        size_t wn = el_frame_encode(0x04, 1, payload, n, wire, sizeof wire);
        uint32_t t1 = port_ticks();
        el_rx_t rx;
        el_rx_init(&rx, decoded, sizeof decoded);
        int frames = 0;
        for (size_t k = 0; k < wn; k++) {
            frames += el_rx_feed(&rx, wire[k]) == EL_RX_FRAME;
        }
        uint32_t t2 = port_ticks();
        if (wn == 0 || frames != 1) {
            printf("codec failed: wire=%lu frames=%d\n", (unsigned long)wn, frames);
            return 1;
        }
        printf("payload=%lu encode_instr_per_byte=%.2f decode_instr_per_byte=%.2f\n", (unsigned long)n,
               (double)bm_instructions(t1 - t0) / n, (double)bm_instructions(t2 - t1) / n);
    }
    return 0;
}
