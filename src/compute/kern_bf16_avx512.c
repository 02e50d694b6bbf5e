/*
 * kern_bf16_avx512.c — BF16 weights x bf16 activations (AM_ACT_BF16XT, kernels.h) with
 * AVX512_BF16 vdpbf16ps: the prefill kernel of BF16 models (>= 16 tokens, knob
 * am_compute_bf16_act). Compiled with the AVX-512 flags (-mavx512bf16 among them);
 * reached only through the avx512 table, whose level requires the AVX512_BF16 CPUID bit.
 *
 * Shapes: W [n_out][n_in] bf16 rows, as stored (w_stride bytes apart); activations
 * [n_tok/16][ceil(n_in/2)][16] dwords, each dword the bf16 pair (2p, 2p+1) of one token;
 * y[t * ldy + r] f32.
 *
 * vdpbf16ps acc, x, w: per lane acc += x.lo * w.lo + x.hi * w.hi, products of bf16 exact
 * in f32. A zmm of activations is one input pair of 16 tokens and the weight operand is
 * one row's pair (2p, 2p+1) broadcast (a 4-byte load of the row: the pair's order in
 * memory is the lanes' order), so the lanes are 16 tokens of one row and no horizontal
 * sums are needed. Register tile: 8 rows x 32 tokens (two groups) = 16 accumulators, per
 * pair 2 activation loads + 8 broadcasts for 16 vdpbf16ps.
 *
 * Invariants: every lane (token) goes through the same operations in the same order
 * whatever its position in the batch, and padding tokens and rows are computed but never
 * stored, so a token's outputs depend only on its own activations (test_matmul). An odd
 * n_in's last pair reads only the row's last weight (the activation's pad is zero; the
 * 2 bytes after a row may be another row's or past the tensor).
 */
#include "compute/kern_avx512.h"

#define BR 8     /* rows per register tile */
#define BKP 512  /* input pairs per k-block: 2 groups x 512 pairs = 64 KiB of activations (L2) */
#define BMAXR 64 /* rows per sweep (matmul.c's prefill chunks are 64) */

AM_INLINE __m512bh wpair(const uint8_t *row, int64_t p) {
    uint32_t v;
    memcpy(&v, row + 4 * p, 4);
    return (__m512bh)_mm512_set1_epi32((int)v);
}

/* accmem[2i + g] += rows w[0..BR) . tokens of group x0 (g = 0) and x1 (g = 1, if TT == 2),
 * pairs [p0, p1). The accumulators continue across k-blocks, so the sum is the same one
 * chain over all pairs as without blocking. */
AM_INLINE void bx_block(const uint8_t *const *w, int64_t p0, int64_t p1, int64_t n_in, const uint32_t *x0,
                        const uint32_t *x1, __m512 *accmem, int TT) {
    __m512 acc[BR][2];
    _Pragma("GCC unroll 8") for (int i = 0; i < BR; i++)
        _Pragma("GCC unroll 2") for (int g = 0; g < TT; g++) acc[i][g] = accmem[2 * i + g];
    const int64_t pfull = n_in / 2, pe = p1 < pfull ? p1 : pfull;
    for (int64_t p = p0; p < pe; p++) {
        __m512bh xv0 = (__m512bh)_mm512_load_si512(x0 + p * AM_XT_GROUP);
        __m512bh xv1 = TT > 1 ? (__m512bh)_mm512_load_si512(x1 + p * AM_XT_GROUP) : xv0;
        _Pragma("GCC unroll 8") for (int i = 0; i < BR; i++) {
            __m512bh wb = wpair(w[i], p);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], xv0, wb);
            if (TT > 1) acc[i][1] = _mm512_dpbf16_ps(acc[i][1], xv1, wb);
        }
    }
    if (p1 > pfull) { /* odd n_in: the pair (w[n_in - 1], 0) */
        __m512bh xv0 = (__m512bh)_mm512_load_si512(x0 + pfull * AM_XT_GROUP);
        __m512bh xv1 = TT > 1 ? (__m512bh)_mm512_load_si512(x1 + pfull * AM_XT_GROUP) : xv0;
        _Pragma("GCC unroll 8") for (int i = 0; i < BR; i++) {
            uint16_t h;
            memcpy(&h, w[i] + 2 * (n_in - 1), 2);
            __m512bh wb = (__m512bh)_mm512_set1_epi32(h);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], xv0, wb);
            if (TT > 1) acc[i][1] = _mm512_dpbf16_ps(acc[i][1], xv1, wb);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < BR; i++)
        _Pragma("GCC unroll 2") for (int g = 0; g < TT; g++) accmem[2 * i + g] = acc[i][g];
}

/* a[i] lane j = y of row i, token j (8 rows x 16 tokens) -> y[(t + j) * ldy + r + i] for
 * i < nr, j < nt. An 8x16 transpose in registers: unpacks leave lane L of u[j] (u[4 + j])
 * with token 4L + j's rows 0..3 (4..7), then one two-source permute per 2 x 2 lanes puts
 * a token's 8 rows into one 256-bit half. */
AM_INLINE void store8x16(const __m512 *a, int step, float *y, int64_t ldy, int nr, int nt) {
    __m512 t[8], u[8];
    _Pragma("GCC unroll 4") for (int h = 0; h < 4; h++) {
        t[2 * h] = _mm512_unpacklo_ps(a[2 * h * step], a[(2 * h + 1) * step]);
        t[2 * h + 1] = _mm512_unpackhi_ps(a[2 * h * step], a[(2 * h + 1) * step]);
    }
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) { /* rows 4h..4h+3 */
        __m512d t0 = _mm512_castps_pd(t[4 * h]), t1 = _mm512_castps_pd(t[4 * h + 1]);
        __m512d t2 = _mm512_castps_pd(t[4 * h + 2]), t3 = _mm512_castps_pd(t[4 * h + 3]);
        u[4 * h + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[4 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[4 * h + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[4 * h + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i hi = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    const __mmask8 m = (__mmask8)((1u << nr) - 1);
    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
        __m512 v0 = _mm512_permutex2var_ps(u[j], lo, u[4 + j]); /* tokens j, 4 + j */
        __m512 v1 = _mm512_permutex2var_ps(u[j], hi, u[4 + j]); /* tokens 8 + j, 12 + j */
        const __m256 s[4] = {_mm512_castps512_ps256(v0), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v0), 1)),
                             _mm512_castps512_ps256(v1), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v1), 1))};
        _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
            int tok = j + 4 * q;
            if (tok < nt) _mm256_mask_storeu_ps(y + tok * ldy, m, s[q]);
        }
    }
}

/* Rows [r0, r1) (at most BMAXR) x tokens [t, t + 16 TT) clipped to t_end: for each
 * k-block the activations of the TT groups stay in cache while every row tile passes. */
AM_INLINE void bx_sweep(const am_mm_args *a, int64_t r0, int64_t r1, int t, int t_end, int TT) {
    __m512 accs[BMAXR / BR][2 * BR] __attribute__((aligned(64)));
    const int nrt = (int)((r1 - r0 + BR - 1) / BR);
    for (int rt = 0; rt < nrt; rt++)
        for (int k = 0; k < 2 * BR; k++) accs[rt][k] = _mm512_setzero_ps();
    const uint32_t *xg0 = (const uint32_t *)(a->x + (size_t)(t / AM_XT_GROUP) * a->x_stride);
    const uint32_t *xg1 = TT > 1 ? (const uint32_t *)(a->x + (size_t)(t / AM_XT_GROUP + 1) * a->x_stride) : xg0;
    const int64_t n = a->n_in, np = (n + 1) / 2;
    for (int64_t p0 = 0; p0 < np; p0 += BKP) {
        int64_t p1 = np - p0 < BKP ? np : p0 + BKP;
        for (int rt = 0; rt < nrt; rt++) {
            const uint8_t *w[BR];
            int64_t r = r0 + rt * BR;
            for (int i = 0; i < BR; i++) w[i] = a->w + (r + i < r1 ? r + i : r1 - 1) * a->w_stride;
            bx_block(w, p0, p1, n, xg0, xg1, accs[rt], TT);
        }
    }
    for (int rt = 0; rt < nrt; rt++) {
        int64_t r = r0 + rt * BR;
        int nr = r1 - r < BR ? (int)(r1 - r) : BR;
        for (int g = 0; g < TT; g++) {
            int tb = t + AM_XT_GROUP * g, nt = t_end - tb < AM_XT_GROUP ? t_end - tb : AM_XT_GROUP;
            if (nt > 0) store8x16(&accs[rt][g], 2, a->y + (int64_t)tb * a->ldy + r, a->ldy, nr, nt);
        }
    }
}

static void bx_g1(const am_mm_args *a, int64_t r0, int64_t r1, int t, int te) { bx_sweep(a, r0, r1, t, te, 1); }
static void bx_g2(const am_mm_args *a, int64_t r0, int64_t r1, int t, int te) { bx_sweep(a, r0, r1, t, te, 2); }

static void mm_bf16xt(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    for (int64_t r = r0; r < r1; r += BMAXR) {
        int64_t re = r1 - r < BMAXR ? r1 : r + BMAXR;
        for (int t = t0; t < t1; t += 2 * AM_XT_GROUP) {
            if (t1 - t > AM_XT_GROUP)
                bx_g2(a, r, re, t, t1);
            else
                bx_g1(a, r, re, t, t1);
        }
    }
}

void am_avx512_init_bf16(am_kernels *k) { k->mm_bf16xt = mm_bf16xt; }
