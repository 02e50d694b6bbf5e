/*
 * kern_q6p_avx512.c — Q6_K in AM_LAYOUT_TILE16 (compute/blocks.h) against am_q8k
 * activations with AVX-512 VNNI, for every token count. Compiled with the AVX-512
 * flags; reached only through dispatch.c after a CPUID check.
 *
 * One int32 lane per output row, as for packed Q4_0 (kern_q80_avx512.c): per 16-row
 * tile and super-block, 48 aligned 64-byte loads give the 64 level vectors w[G]
 * (lane i = row i's levels of elements 4G..4G+3, 0..63): groups 0..47 after an and
 * with 0x3F, groups 48..63 gathered from the top two bits of three groups each (six
 * shifts and logic ops). A sub-block's four w[G] and its scales stay in registers
 * while every token of the pass uses them: per token and sub-block four vpdpbusd
 * (the token's activation dword broadcast), one vpmulld by the rows' int32 scales and
 * an add; per sub-block pair one vpdpwssd of (-32 sc, -32 sc') word pairs against the
 * activation's 16-element sums folds in the -32 offset. So each lane ends a
 * super-block with its row's exact integer sum, the one the row-pair kernel
 * (kern_qk_avx512.c) reduces across lanes and the prefill kernel
 * (kern_qk_gemm_avx512.c) computes per lane, and the one float step is theirs:
 * acc = fma(float(isum), d_w * d_x, acc), super-blocks in order. Outputs are
 * bit-identical to those kernels on the row layout (and to the scalar reference of
 * the layout, kern_scalar.c), whatever the token count or batching.
 * Integer range as there: |isum| <= 256 * 63 * 128 * 127 + 256 * 32 * 128 * 127 < 2^31.
 *
 * Without horizontal sums or shuffles, a token costs ~108 vector ops per tile and
 * super-block (the row-pair kernel: ~210), and the unpack (~150) is shared by the
 * QP_T tokens of a pass.
 */
#include "compute/kern_avx512.h"

/* Tokens per pass over a tile: their integer sums and float accumulators stay in registers
 * (16 spilled: 2 passes of 8 over a tile, the second from L1/L2, measured faster). */
#define QP_T 8
/* Prefetch distance, in 16-row tiles: the tile PF_TILES ahead is fetched into L2 evenly
 * over this tile's super-blocks, as for packed Q4_0. */
#define PF_TILES 2

AM_INLINE __m512i bcast32(const void *p) { return _mm512_broadcastd_epi32(_mm_loadu_si32(p)); }

/* Level vector G (48..63) of a super-block: bits 4-5, 2-3, 0-1 from the top bits of
 * groups 3m, 3m+1, 3m+2 (m = G - 48). Masked before each 16-bit shift, so no bits
 * cross from the neighbouring byte. */
AM_INLINE __m512i q6p_high(const __m512i *q, int m, __m512i mc0) {
    __m512i v = _mm512_srli_epi16(_mm512_and_si512(_mm512_load_si512(q + 3 * m + 2), mc0), 2);
    v = _mm512_srli_epi16(_mm512_ternarylogic_epi32(v, _mm512_load_si512(q + 3 * m + 1), mc0, 0xF8), 2); /* v | (B & C) */
    return _mm512_srli_epi16(_mm512_ternarylogic_epi32(v, _mm512_load_si512(q + 3 * m), mc0, 0xF8), 2);
}

/* Rows [r, min(r+16, r_end)) x tokens [t, t+T); r is a multiple of 16. pf: fetch the tile
 * PF_TILES ahead (the first pass over a tile). */
AM_INLINE void q6p_tile(const am_mm_args *a, int64_t r, int64_t r_end, int t, int T, int pf_on) {
    const int64_t nb = a->n_in / AM_QKK;
    const uint8_t *tile = a->w + (size_t)(r / AM_TILE_ROWS) * a->w_stride;
    const uint16_t *dd = (const uint16_t *)(tile + (size_t)nb * AM_Q6P_SB_BYTES);
    const am_q8k *x[QP_T];
    _Pragma("GCC unroll 16") for (int j = 0; j < T; j++) x[j] = (const am_q8k *)(a->x + (size_t)(t + j) * a->x_stride);
    __m512 acc[QP_T];
    _Pragma("GCC unroll 16") for (int j = 0; j < T; j++) acc[j] = _mm512_setzero_ps();
    const int do_pf = pf_on && r + 16 * PF_TILES < r_end;
    const uint8_t *pf = tile + PF_TILES * a->w_stride;
    const size_t pf_step = (AM_Q6P_SB_BYTES + 32 + 63) / 64 * 64;
    const __m512i m3f = _mm512_set1_epi8(0x3F), mc0 = _mm512_set1_epi8((char)0xC0), m32 = _mm512_set1_epi16(-32);
    for (int64_t b = 0; b < nb; b++) {
        if (do_pf)
            for (size_t o = 0; o < pf_step; o += 64) _mm_prefetch((const char *)pf + b * pf_step + o, _MM_HINT_T1);
        const __m512i *q = (const __m512i *)(tile + (size_t)b * AM_Q6P_SB_BYTES);
        const int8_t *sc = (const int8_t *)(q + 48);
        __m512i is[QP_T];
        _Pragma("GCC unroll 16") for (int j = 0; j < T; j++) is[j] = _mm512_setzero_si512();
        _Pragma("GCC unroll 8") for (int p = 0; p < 8; p++) {
            /* lane i: words scales[2p], scales[2p+1] of row i */
            const __m512i v = _mm512_cvtepi8_epi16(_mm256_load_si256((const __m256i *)(sc + 32 * p)));
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
                const int s = 2 * p + h;
                const __m512i scv = h ? _mm512_srai_epi32(v, 16) : _mm512_srai_epi32(_mm512_slli_epi32(v, 16), 16);
                __m512i w[4];
                _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
                    const int G = 4 * s + g;
                    w[g] = G < 48 ? _mm512_and_si512(_mm512_load_si512(q + G), m3f) : q6p_high(q, G - 48, mc0);
                }
                _Pragma("GCC unroll 16") for (int j = 0; j < T; j++) {
                    const int8_t *xq = x[j][b].qs + 16 * s;
                    __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[0], bcast32(xq));
                    d = _mm512_dpbusd_epi32(d, w[1], bcast32(xq + 4));
                    d = _mm512_dpbusd_epi32(d, w[2], bcast32(xq + 8));
                    d = _mm512_dpbusd_epi32(d, w[3], bcast32(xq + 12));
                    is[j] = _mm512_add_epi32(is[j], _mm512_mullo_epi32(d, scv));
                }
            }
            const __m512i mn = _mm512_mullo_epi16(v, m32); /* |scale| <= 128: fits */
            _Pragma("GCC unroll 16") for (int j = 0; j < T; j++)
                is[j] = _mm512_dpwssd_epi32(is[j], mn, bcast32(&x[j][b].bsums[2 * p]));
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(dd + b * AM_TILE_ROWS)));
        _Pragma("GCC unroll 16") for (int j = 0; j < T; j++)
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[j]), _mm512_mul_ps(dw, _mm512_set1_ps(x[j][b].d)), acc[j]);
    }
    const int64_t n = r_end - r < 16 ? r_end - r : 16;
    const __mmask16 keep = (__mmask16)((1u << n) - 1);
    _Pragma("GCC unroll 16") for (int j = 0; j < T; j++) _mm512_mask_storeu_ps(a->y + (int64_t)(t + j) * a->ldy + r, keep, acc[j]);
}

typedef void (*tile_fn)(const am_mm_args *, int64_t, int64_t, int, int);
#define QT(T) \
    static void q6p_##T(const am_mm_args *a, int64_t r, int64_t e, int t, int pf) { q6p_tile(a, r, e, t, T, pf); }
QT(1) QT(2) QT(3) QT(4) QT(5) QT(6) QT(7) QT(8)
#undef QT
_Static_assert(QP_T == 8, "one tile function per token count 1..QP_T");
static const tile_fn FNS[QP_T + 1] = {NULL, q6p_1, q6p_2, q6p_3, q6p_4, q6p_5, q6p_6, q6p_7, q6p_8};

/* Tiles in order (the prefetch assumes it); per tile, the tokens in passes of at most QP_T,
 * as even as possible (12 tokens: 6 + 6), all while the tile is in cache. */
static void mm_q6_kp(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    const int n = t1 - t0, passes = (n + QP_T - 1) / QP_T;
    for (int64_t r = r0; r < r1; r += AM_TILE_ROWS)
        for (int k = 0, t = t0; k < passes; k++) {
            const int T = (n - (t - t0) + (passes - k) - 1) / (passes - k);
            FNS[T](a, r, r1, t, k == 0);
            t += T;
        }
}

void am_avx512_init_q6p(am_kernels *k) { k->mm[AM_KT_Q6_KP] = mm_q6_kp; }
