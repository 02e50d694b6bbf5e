/*
 * kern_avx512.h — helpers shared by the *_avx512.c kernel files (internal;
 * include only from files compiled with the AVX-512 flags).
 */
#ifndef AM_KERN_AVX512_H
#define AM_KERN_AVX512_H

#include <immintrin.h>
#include <string.h>

#include "compute/kernels.h"

#define AM_INLINE static inline __attribute__((always_inline))

/* Sum of lanes 0-7 and of lanes 8-15 (the two rows of a row pair). */
AM_INLINE void hsum_halves(__m512 v, float *lo, float *hi) {
    __m256 a = _mm512_castps512_ps256(v), b = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 s = _mm256_hadd_ps(a, b);             /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    s = _mm256_hadd_ps(s, s);                    /* a0123 b0123 .. | a4567 b4567 .. */
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    *lo = _mm_cvtss_f32(r);
    *hi = _mm_cvtss_f32(_mm_shuffle_ps(r, r, 1));
}

/* 16 bytes at p[i] + off for rows i = 0..15 -> t[g] lane i = dword g of row i: zmm k holds
 * rows k, k+4, k+8, k+12 in its 128-bit lanes, and a 4x4 dword transpose within lanes puts
 * dword g of rows 4l..4l+3 into lane l of t[g]. (Loads and shuffles: 16-lane gathers were
 * a quarter of the prefill time.) */
AM_INLINE void load16x16(const uint8_t *const *p, size_t off, __m512i t[4]) {
    __m512i z[4];
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[k] + off)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[k + 4] + off)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[k + 8] + off)), 2);
        z[k] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[k + 12] + off)), 3);
    }
    __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    t[0] = _mm512_unpacklo_epi64(t0, t2);
    t[1] = _mm512_unpackhi_epi64(t0, t2);
    t[2] = _mm512_unpacklo_epi64(t1, t3);
    t[3] = _mm512_unpackhi_epi64(t1, t3);
}

void am_avx512_init_q80(am_kernels *k);

/* Q4_0 (q8 = 0) / Q8_0 (q8 = 1) rows [r0, r1) x tokens [t0, t1), for many tokens
 * (kern_q80_gemm_avx512.c). Usable when am_avx512_q80_gemm_ok(a): 32 rows of W
 * are within int32 byte offsets. */
int am_avx512_q80_gemm_ok(const am_mm_args *a);
void am_avx512_q80_gemm(int q8, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1);
void am_avx512_init_qk(am_kernels *k);

/* Q4_K (kind 0) / Q5_K (1) / Q6_K (2), the same for many tokens
 * (kern_qk_gemm_avx512.c), under the same condition am_avx512_qk_gemm_ok(a). */
int am_avx512_qk_gemm_ok(const am_mm_args *a);
void am_avx512_qk_gemm(int kind, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1);

#endif
