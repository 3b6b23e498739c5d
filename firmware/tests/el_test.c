/* el_test.c - tally and PRNG for the firmware unit tests; see el_test.h. */
#include "el_test.h"

unsigned el_test_checks;
unsigned el_test_failures;

int el_test_exit(const char *suite)
{
    printf("%s: %u checks, %u failures\n", suite, el_test_checks, el_test_failures);
    return el_test_failures == 0 ? 0 : 1;
}

unsigned el_test_rand(void)
{
    static unsigned state = 0x2545F491u;
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}
