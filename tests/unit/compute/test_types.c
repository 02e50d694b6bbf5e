/* test_types.c — fp16/bf16 conversions against the hardware (F16C) and known values. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "compute/types.h"
#include "test_util.h"

__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}
__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

static void test_f16_all_halves(void) {
    for (uint32_t h = 0; h < 65536; h++) {
        float a = am_f16_to_f32((uint16_t)h), b = hw_f16_to_f32((uint16_t)h);
        if (isnan(b)) {
            CHECK(isnan(a));
            continue;
        }
        if (memcmp(&a, &b, 4) != 0) {
            CHECKF(0, "half %04x: %g vs %g", h, a, b);
            break;
        }
    }
}

static void test_f16_rounding(void) {
    uint32_t seed = 12345;
    int bad = 0;
    for (int i = 0; i < 2000000 && bad < 5; i++) {
        seed = seed * 1664525u + 1013904223u;
        uint32_t bits = seed;
        float f;
        memcpy(&f, &bits, 4);
        if (isnan(f)) continue;
        uint16_t a = am_f32_to_f16(f), b = hw_f32_to_f16(f);
        if (a != b) {
            CHECKF(0, "f32 %08x (%g): %04x vs hw %04x", bits, f, a, b);
            bad++;
        }
    }
}

static void test_bf16(void) {
    CHECK(am_bf16_to_f32(am_f32_to_bf16(1.0f)) == 1.0f);
    CHECK(am_f32_to_bf16(1.00390625f) == 0x3f80); /* tie rounds to even */
    CHECK(am_type_row_bytes(AM_TYPE_Q4_K, 512) == 288);
    CHECK(am_type_row_bytes(AM_TYPE_Q4_0, 33) == 0);
}

int main(void) {
    AM_TEST_RUN(test_f16_all_halves);
    AM_TEST_RUN(test_f16_rounding);
    AM_TEST_RUN(test_bf16);
    AM_TEST_EXIT();
}
