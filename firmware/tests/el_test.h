/*
 * el_test.h - a minimal assertion harness for the firmware unit tests.
 *
 * Contract: EL_CHECK(cond, fmt, ...) records a failure (file, line and a
 * printf message) and carries on, so one run lists every broken case;
 * el_test_exit() prints the tally and returns the process exit status.
 *
 * Example:
 *
 *     EL_CHECK(n == 4, "expected 4 bytes, got %zu", n);
 *     return el_test_exit("codec");
 */
#ifndef EL_TEST_H
#define EL_TEST_H

#include <stdio.h>

extern unsigned el_test_checks;
extern unsigned el_test_failures;

#define EL_CHECK(cond, ...)                                                   \
    do {                                                                      \
        el_test_checks++;                                                     \
        if (!(cond)) {                                                        \
            el_test_failures++;                                               \
            if (el_test_failures <= 50) {                                     \
                fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
                fprintf(stderr, __VA_ARGS__);                                 \
                fputc('\n', stderr);                                          \
            }                                                                 \
        }                                                                     \
    } while (0)

/* Print "<suite>: N checks, M failures" and return 0 when all passed. */
int el_test_exit(const char *suite);

/* Deterministic pseudo-random numbers (xorshift32) so failures reproduce. */
unsigned el_test_rand(void);

#endif /* EL_TEST_H */
