/* cm_semihost.c - ARM semihosting calls (contract in cm_semihost.h). */
#include "cm_semihost.h"

#define SYS_WRITE0 0x04u
#define SYS_EXIT 0x18u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uintptr_t semihost_call(uint32_t op, uintptr_t arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register uintptr_t r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void port_cm_semihost_write0(const char *text)
{
    (void)semihost_call(SYS_WRITE0, (uintptr_t)text);
}

void port_cm_semihost_exit(int status)
{
    /* The AArch32 SYS_EXIT cannot carry a status; SYS_EXIT_EXTENDED takes {reason, status}. */
    static volatile uint32_t block[2];
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = (uint32_t)status;
    (void)semihost_call(SYS_EXIT_EXTENDED, (uintptr_t)block);
    /* A host without SYS_EXIT_EXTENDED: plain exit (status 0 or 1 only). */
    (void)semihost_call(SYS_EXIT, status == 0 ? ADP_STOPPED_APPLICATION_EXIT : 0x20024u);
    for (;;) {
    }
}
