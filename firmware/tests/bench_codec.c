/*
 * bench_codec.c - throughput of the C link codec: encode a frame (CRC + COBS)
 * and decode it byte by byte, for 4 KB and 27 KB payloads.
 *
 *   bench_codec [N]   (default N = 2000 frames per size)
 *
 * Prints one line per size:
 *   payload=4096 frames=2000 encode_MBps=... decode_MBps=... roundtrip_MBps=...
 * MB/s are payload bytes (1e6) per second of host CPU time (CLOCK_MONOTONIC).
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "el_frame.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    static uint8_t payload[27648], wire[EL_WIRE_MAX(27648)], decoded[27648 + EL_FRAME_OVERHEAD];
    long frames = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    const size_t sizes[] = {4096, 27648};
    for (size_t i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)((i * 131u + 7u) % 251u); /* zeros every 251 bytes */
    }
    for (size_t s = 0; s < 2; s++) {
        size_t n = sizes[s], wn = 0;
        double t0 = now_s();
        for (long f = 0; f < frames; f++) {
            wn = el_frame_encode(0x04, (uint16_t)f, payload, n, wire, sizeof wire);
        }
        double t1 = now_s();
        el_rx_t rx;
        el_rx_init(&rx, decoded, sizeof decoded);
        long ok = 0;
        for (long f = 0; f < frames; f++) {
            for (size_t k = 0; k < wn; k++) {
                ok += el_rx_feed(&rx, wire[k]) == EL_RX_FRAME;
            }
        }
        double t2 = now_s();
        if (ok != frames) {
            fprintf(stderr, "bench_codec: %ld of %ld frames decoded\n", ok, frames);
            return 1;
        }
        double mb = (double)n * (double)frames / 1e6;
        printf("payload=%zu frames=%ld encode_MBps=%.1f decode_MBps=%.1f roundtrip_MBps=%.1f\n", n, frames,
               mb / (t1 - t0), mb / (t2 - t1), mb / (t2 - t0));
    }
    return 0;
}
