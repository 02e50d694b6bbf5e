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

/* Each row's int32 sum in all 8 lanes of its half (exact): the K-quant decode (row-pair) kernels
 * reduce a block's partial dots before scaling them, so a row gets the same float steps
 * as in the one-row-per-lane prefill kernels — decode and prefill give bit-identical
 * outputs (a greedy answer then does not depend on how its tokens were batched). */
AM_INLINE __m512i hsum8_epi32(__m512i v) {
    v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, (_MM_PERM_ENUM)0x4E));
    v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, (_MM_PERM_ENUM)0xB1));
    return _mm512_add_epi32(v, _mm512_shuffle_i64x2(v, v, 0xB1));
}

/* Lanes 0 and 8 (rows a, b of a row pair whose lanes hold equal values). */
AM_INLINE void lanes_0_8(__m512 v, float *lo, float *hi) {
    *lo = _mm512_cvtss_f32(v);
    *hi = _mm_cvtss_f32(_mm512_extractf32x4_ps(v, 2));
}

void am_avx512_init_q80(am_kernels *k);

/* Q4_0 (q8 = 0) / Q8_0 (q8 = 1) rows [r0, r1) x tokens [t0, t1), for many tokens
 * (kern_q80_gemm_avx512.c). Usable when am_avx512_q80_gemm_ok(a): 32 rows of W
 * are within int32 byte offsets. */
int am_avx512_q80_gemm_ok(const am_mm_args *a);
void am_avx512_q80_gemm(int q8, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1);
/* The same on AM_LAYOUT_TILE16 tensors (kernels.h: w_stride is a tile's bytes, r0 % 16 == 0). */
void am_avx512_q80p_gemm(int q8, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1);
void am_avx512_init_qk(am_kernels *k);
/* Q6_K in AM_LAYOUT_TILE16, every token count (kern_q6p_avx512.c). */
void am_avx512_init_q6p(am_kernels *k);

/* BF16 weights x AM_ACT_BF16XT activations, vdpbf16ps (kern_bf16_avx512.c): sets mm_bf16xt. */
void am_avx512_init_bf16(am_kernels *k);

/* Q4_K (kind 0) / Q5_K (1) / Q6_K (2), the same for many tokens
 * (kern_qk_gemm_avx512.c), under the same condition am_avx512_qk_gemm_ok(a). */
int am_avx512_qk_gemm_ok(const am_mm_args *a);
void am_avx512_qk_gemm(int kind, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1);

#endif
