/*
 * synth_rng.h — the small deterministic generator behind synthetic models:
 * splitmix64 for seeding, xoshiro256** for streams. Pure functions of their
 * state; no globals, so any thread may use its own state.
 */
#ifndef AM_SYNTH_RNG_H
#define AM_SYNTH_RNG_H

#include <stdint.h>

typedef struct am_rng {
    uint64_t s[4];
} am_rng;

static inline uint64_t am_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void am_rng_seed(am_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = am_splitmix64(&seed);
}

static inline uint64_t am_rng_next(am_rng *r) {
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, 1). */
static inline double am_rng_uniform(am_rng *r) { return (double)(am_rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [0, n), n > 0 (tiny modulo bias is irrelevant here). */
static inline uint64_t am_rng_below(am_rng *r, uint64_t n) { return am_rng_next(r) % n; }

/* Approximately standard normal: the sum of four 16-bit uniforms (Irwin–Hall,
 * mean 0, variance 1, tails cut at ±3.46). One generator call per value:
 * cheap enough to fill billions of weights. */
static inline float am_rng_normalish(am_rng *r) {
    uint64_t x = am_rng_next(r);
    uint32_t sum = (uint32_t)(x & 0xffff) + (uint32_t)((x >> 16) & 0xffff) + (uint32_t)((x >> 32) & 0xffff) +
                   (uint32_t)(x >> 48);
    /* sum/65536 ~ IrwinHall(4): mean 2, variance 1/3. */
    return ((float)sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

#endif
