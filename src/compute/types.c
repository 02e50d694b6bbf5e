/* types.c — type traits (block sizes, names) and scalar fp16/bf16 conversion. */
#include "compute/types.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    am_type type;
    const char *name;
    int block_elems;
    size_t block_bytes;
} type_traits;

/* Block layouts (bytes): Q4_0 = f16 d + 16 nibble bytes; Q8_0 = f16 d + 32 int8;
 * Q4_K = 2 f16 + 12 scale bytes + 128 nibbles; Q5_K = Q4_K + 32 high-bit bytes;
 * Q6_K = 128 low nibbles + 64 high bits + 16 int8 scales + f16 d. */
static const type_traits TRAITS[] = {
    {AM_TYPE_F32, "f32", 1, 4},
    {AM_TYPE_F16, "f16", 1, 2},
    {AM_TYPE_BF16, "bf16", 1, 2},
    {AM_TYPE_Q4_0, "q4_0", 32, 18},
    {AM_TYPE_Q8_0, "q8_0", 32, 34},
    {AM_TYPE_Q4_K, "q4_k", 256, 144},
    {AM_TYPE_Q5_K, "q5_k", 256, 176},
    {AM_TYPE_Q6_K, "q6_k", 256, 210},
};

static const type_traits *traits(uint32_t t) {
    for (size_t i = 0; i < sizeof TRAITS / sizeof TRAITS[0]; i++)
        if ((uint32_t)TRAITS[i].type == t) return &TRAITS[i];
    return NULL;
}

bool am_type_valid(uint32_t t) { return traits(t) != NULL; }

const char *am_type_name(am_type t) {
    const type_traits *tr = traits(t);
    return tr ? tr->name : "invalid";
}

const char *am_ggml_type_name(uint32_t t) {
    static const char *ggml_names[] = {
        "f32", "f16", "q4_0", "q4_1", "q4_2", "q4_3", "q5_0", "q5_1", "q8_0", "q8_1",
        "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q8_k", "iq2_xxs", "iq2_xs", "iq3_xxs",
        "iq1_s", "iq4_nl", "iq3_s", "iq2_s", "iq4_xs", "i8", "i16", "i32", "i64", "f64",
        "iq1_m", "bf16", "q4_0_4_4", "q4_0_4_8", "q4_0_8_8", "tq1_0", "tq2_0",
        "iq4_nl_4_4", "iq4_nl_4_8", "iq4_nl_8_8", "mxfp4"};
    if (t < sizeof ggml_names / sizeof ggml_names[0]) return ggml_names[t];
    static _Thread_local char buf[32];
    snprintf(buf, sizeof buf, "type %u", t);
    return buf;
}

int am_type_block_elems(am_type t) {
    const type_traits *tr = traits(t);
    return tr ? tr->block_elems : 0;
}

size_t am_type_block_bytes(am_type t) {
    const type_traits *tr = traits(t);
    return tr ? tr->block_bytes : 0;
}

size_t am_type_row_bytes(am_type t, int64_t n) {
    const type_traits *tr = traits(t);
    if (!tr || n < 0 || n % tr->block_elems) return 0;
    /* A row length read from a file can be up to INT64_MAX: a byte count that
     * wraps would pass every later check with the wrong size. */
    if ((uint64_t)(n / tr->block_elems) > SIZE_MAX / tr->block_bytes) return 0;
    return (size_t)(n / tr->block_elems) * tr->block_bytes;
}

float am_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalize */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t am_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (absx < 0x38800000u) {                                  /* below smallest normal */
        if (absx < 0x33000000u) return (uint16_t)sign;         /* rounds to zero */
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7fffff) | 0x800000;
        /* value = m * 2^(e-150); in units of 2^-24 that is m >> (126 - e) */
        uint32_t shift = 126 - e;
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t e = (absx >> 23) - 127 + 15;
    uint32_t m = absx & 0x7fffff;
    uint32_t h = (e << 10) | (m >> 13);
    uint32_t rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* may carry into exponent: correct */
    return (uint16_t)(sign | h);
}

float am_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

