/*
 * port_ring.h - a single-producer single-consumer byte ring for UART interrupts.
 *
 * Purpose: the receive path (ISR produces, main loop consumes) and the
 * transmit path (main loop produces, ISR consumes) of the ARM ports.
 *
 * Contract:
 *   - The ring holds at most size - 1 bytes (any size >= 2).
 *   - Exactly one context calls the push functions and exactly one other
 *     calls the pop functions; then no locking is needed: each index is
 *     written by one side only, and a data memory barrier orders the byte
 *     stores before the index store that publishes them.
 *
 * Example:
 *
 *     static uint8_t rx_mem[4097];
 *     static port_ring_t rx = PORT_RING_INIT(rx_mem);
 *     // ISR:        if (!port_ring_push(&rx, byte)) overflows++;
 *     // main loop:  n = port_ring_pop_into(&rx, buf, cap);
 */
#ifndef PORT_RING_H
#define PORT_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *mem;
    uint32_t size;
    volatile uint32_t head; /* next write, advanced by the producer only */
    volatile uint32_t tail; /* next read, advanced by the consumer only */
} port_ring_t;

#define PORT_RING_INIT(array) {(array), (uint32_t)sizeof(array), 0u, 0u}

static inline void port_ring_barrier(void) { __asm__ volatile("dmb 0xF" ::: "memory"); }

/* Bytes waiting to be popped. */
static inline uint32_t port_ring_used(const port_ring_t *r)
{
    uint32_t head = r->head, tail = r->tail;
    return head >= tail ? head - tail : r->size - tail + head;
}

/* Producer: append one byte; false (byte dropped) when full. */
static inline bool port_ring_push(port_ring_t *r, uint8_t byte)
{
    uint32_t head = r->head;
    uint32_t next = head + 1u == r->size ? 0u : head + 1u;
    if (next == r->tail) {
        return false;
    }
    r->mem[head] = byte;
    port_ring_barrier();
    r->head = next;
    return true;
}

/* Consumer: remove one byte into *byte; false when empty. */
static inline bool port_ring_pop(port_ring_t *r, uint8_t *byte)
{
    uint32_t tail = r->tail;
    if (tail == r->head) {
        return false;
    }
    port_ring_barrier();
    *byte = r->mem[tail];
    port_ring_barrier();
    r->tail = tail + 1u == r->size ? 0u : tail + 1u;
    return true;
}

/* Producer: append up to len bytes; returns how many fitted. */
static inline size_t port_ring_push_from(port_ring_t *r, const uint8_t *src, size_t len)
{
    uint32_t head = r->head;
    uint32_t room = r->size - 1u - port_ring_used(r);
    size_t n = len < room ? len : room;
    for (size_t i = 0; i < n; ++i) {
        r->mem[head] = src[i];
        head = head + 1u == r->size ? 0u : head + 1u;
    }
    port_ring_barrier();
    r->head = head;
    return n;
}

/* Consumer: remove up to cap bytes into dst; returns how many. */
static inline size_t port_ring_pop_into(port_ring_t *r, uint8_t *dst, size_t cap)
{
    uint32_t tail = r->tail;
    uint32_t avail = port_ring_used(r);
    size_t n = cap < avail ? cap : avail;
    port_ring_barrier();
    for (size_t i = 0; i < n; ++i) {
        dst[i] = r->mem[tail];
        tail = tail + 1u == r->size ? 0u : tail + 1u;
    }
    port_ring_barrier();
    r->tail = tail;
    return n;
}

/*
 * Receive one link byte from an ISR, keeping the stream resynchronisable
 * (SPEC.md 2): after bytes were lost (full ring, or *lost set by a UART
 * overrun), a 0x00 is queued before the next byte kept, so the frame that
 * lost bytes ends at the loss instead of swallowing the next frame's start.
 * *lost is the caller's "a break is owed" flag. Returns false when the byte
 * itself was lost (count it in port_rx_overflows()).
 */
static inline bool port_ring_push_rx(port_ring_t *r, uint8_t byte, volatile bool *lost)
{
    if (*lost) {
        if (!port_ring_push(r, 0u)) {
            return false;
        }
        *lost = false;
    }
    if (!port_ring_push(r, byte)) {
        *lost = true;
        return false;
    }
    return true;
}

#endif /* PORT_RING_H */
