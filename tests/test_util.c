/* test_util.c — fixture paths and file reading for test binaries. */
#include "test_util.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "base/file.h"

int am_test_failures = 0;

char *am_test_fixture(const char *rel) {
    const char *root = getenv("AM_FIXTURES");
    return am_path_join(root && *root ? root : "tests/fixtures", rel);
}

void *am_test_read_file(const char *path, size_t *size) {
    am_err err;
    size_t n = 0;
    char *p = am_file_read_all(path, (size_t)1 << 31, &n, &err);
    if (!p) {
        fprintf(stderr, "test: cannot read %s: %s\n", path, err.msg);
        exit(1);
    }
    if (size) *size = n;
    return p;
}

static uint64_t test_rng = 0x9E3779B97F4A7C15ull;

void am_test_rng_seed(unsigned long long seed) { test_rng = seed ? seed : 0x9E3779B97F4A7C15ull; }

unsigned am_test_rand_u32(void) {
    test_rng ^= test_rng << 13;
    test_rng ^= test_rng >> 7;
    test_rng ^= test_rng << 17;
    return (unsigned)(test_rng >> 32);
}

float am_test_gauss(void) {
    float u1 = (am_test_rand_u32() + 1.0f) / 4294967297.0f, u2 = am_test_rand_u32() / 4294967296.0f;
    return sqrtf(-2 * logf(u1)) * cosf(6.2831853f * u2);
}
