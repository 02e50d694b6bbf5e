/*
 * fuzz.h — one fuzz target, two builds.
 *
 * Each tests/fuzz/fuzz_<name>.c defines its target with AM_FUZZ_TARGET(name)
 * and checks the parser's promises with FUZZ_CHECK. Built by `make fuzz`
 * with -DAM_FUZZ_LIBFUZZER, the target becomes LLVMFuzzerTestOneInput of a
 * libFuzzer binary; built without it (tests/unit/fuzz/test_fuzz_regress.c
 * includes every target), it is a plain function the regression test feeds
 * every file of tests/fuzz/corpus/<name>/.
 *
 * A target must: accept any bytes; never leak, crash or trip a sanitizer;
 * touch every byte of every view the parser hands out (so ASan sees a view
 * that lies outside the input: the input is an exact-size heap buffer); and
 * FUZZ_CHECK every invariant a caller relies on.
 */
#ifndef AM_FUZZ_H
#define AM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The input being run (set by the regression driver), for failure messages. */
extern const char *am_fuzz_input;

#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s (input %s)\n", __FILE__,      \
                    __LINE__, #cond, am_fuzz_input ? am_fuzz_input : "from the fuzzer");    \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* Reads every byte of [p, p+n) so that ASan checks the whole range; returns a
 * value the caller folds into am_fuzz_sink so nothing is optimized away. */
static inline uint8_t am_fuzz_touch(const void *p, size_t n) {
    const volatile uint8_t *b = (const volatile uint8_t *)p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++) x ^= b[i];
    return x;
}
extern volatile uint8_t am_fuzz_sink;

/* True if [p, p+n) lies inside [base, base+size). */
static inline int am_fuzz_inside(const void *base, size_t size, const void *p, uint64_t n) {
    uintptr_t b = (uintptr_t)base, q = (uintptr_t)p;
    return q >= b && q - b <= size && n <= size - (q - b);
}

#ifdef AM_FUZZ_LIBFUZZER
#define AM_FUZZ_TARGET(name)                                                  \
    int am_fuzz_##name(const uint8_t *data, size_t size);                    \
    const char *am_fuzz_input;                                                \
    volatile uint8_t am_fuzz_sink;                                            \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);            \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {           \
        return am_fuzz_##name(data, size);                                    \
    }                                                                         \
    int am_fuzz_##name(const uint8_t *data, size_t size)
#else
#define AM_FUZZ_TARGET(name) int am_fuzz_##name(const uint8_t *data, size_t size)
#endif

#endif
