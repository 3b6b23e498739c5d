/*
 * exit_or_fault.c - a bare-metal image that ends in one of three ways, to
 * test edgeloop.app.qemu.run_bare_metal():
 *   -DEXIT_STATUS=n   prints a line and exits with status n
 *   -DDIVIDE_BY_ZERO  faults (HardFault via the divide-by-zero trap): status 0x83
 *   -DHANG            never exits (the runner's timeout must end it)
 */
#include <stdio.h>

static volatile int zero;

int main(void)
{
    printf("image says hello\n");
#if defined(DIVIDE_BY_ZERO)
    return 10 / zero;
#elif defined(HANG)
    for (;;) {
        zero = zero + 1;
    }
#else
    return EXIT_STATUS;
#endif
}
