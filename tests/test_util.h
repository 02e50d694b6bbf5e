/*
 * test_util.h — minimal test harness. A test binary's main calls its cases
 * through AM_TEST_RUN; CHECK records a failure and continues; the binary
 * exits 1 if anything failed. Fixture paths are relative to the repository
 * root (tests run from there), or to $AM_FIXTURES when set.
 */
#ifndef AM_TEST_UTIL_H
#define AM_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

extern int am_test_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            am_test_failures++;                                                      \
        }                                                                            \
    } while (0)

#define CHECKF(cond, ...)                                                            \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            am_test_failures++;                                                      \
        }                                                                            \
    } while (0)

#define AM_TEST_RUN(fn)                          \
    do {                                         \
        int before_ = am_test_failures;          \
        fn();                                    \
        fprintf(stderr, "%s %s\n",               \
                am_test_failures == before_ ? "ok  " : "FAIL", #fn); \
    } while (0)

#define AM_TEST_EXIT() return am_test_failures ? 1 : 0

/* Path of a fixture file: "<fixtures>/<rel>" (caller frees). */
char *am_test_fixture(const char *rel);
/* Reads a whole binary file; aborts the test binary if missing. Caller frees. */
void *am_test_read_file(const char *path, size_t *size);

/* Deterministic xorshift random numbers for tests: am_test_rng_seed sets the
 * state (non-zero); am_test_rand_u32 and am_test_gauss (standard normal, Box-Muller) draw. */
void am_test_rng_seed(unsigned long long seed);
unsigned am_test_rand_u32(void);
float am_test_gauss(void);

#endif
