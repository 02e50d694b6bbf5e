/*
 * kern_q80_avx512.c — Q4_0 and Q8_0 weights against am_q8a activations with
 * AVX-512 VNNI. Compiled with the AVX-512 flags; reached only through
 * dispatch.c after a CPUID check.
 *
 * A zmm holds one 32-element block of two rows (a row pair): bytes 0-31 row
 * r, 32-63 row r+1, as unsigned bytes (Q4_0 nibbles as stored, 0..15; Q8_0
 * bytes xor 0x80, i.e. w+128). The token's 32 activation bytes are broadcast
 * to both halves, vpdpbusd sums 4 products per int32 lane, and the weights'
 * offset (8 or 128 times the activation sum) is cancelled by starting the
 * lanes at -s or -16*s (8 lanes per row). The 4 row pairs' lanes are then
 * reduced to one exact int32 per row (reduce8), scaled by d_w * d_x in f32
 * and accumulated.
 * Tile: up to 4 row pairs x 4 tokens, so each unpacked weight block serves 4
 * tokens and each activation block 8 rows. This is the decode path (and the
 * fallback for rows too far apart for int32 gather offsets); 8 tokens or more
 * go to kern_q80_gemm_avx512.c, whose one-row-per-lane layout needs no
 * horizontal sums and does 8 vpdpbusd per block conversion.
 */
#include "compute/kern_avx512.h"

enum { QK_Q4_0, QK_Q8_0 };

#define QP 4 /* row pairs per tile */
#define QT 4 /* tokens per tile */
#ifndef PF_TILES
#define PF_TILES 1 /* prefetch distance in tiles */
#endif

AM_INLINE __m512i unpack_pair(int kind, const uint8_t *ra, const uint8_t *rb) {
    if (kind == QK_Q4_0) {
        /* 128-bit lanes: [qs_a, qs_a >> 4, qs_b, qs_b >> 4] & 0xF = elements 0-15, 16-31 of
         * each row, matching the activation block broadcast to both 256-bit halves. */
        const am_block_q4_0 *a = (const am_block_q4_0 *)ra, *b = (const am_block_q4_0 *)rb;
        __m512i z = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)a->qs));
        z = _mm512_mask_broadcast_i32x4(z, 0xFF00, _mm_loadu_si128((const __m128i *)b->qs));
        z = _mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
        return _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
    }
    const am_block_q8_0 *a = (const am_block_q8_0 *)ra, *b = (const am_block_q8_0 *)rb;
    __m512i z = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a->qs));
    z = _mm512_inserti64x4(z, _mm256_loadu_si256((const __m256i *)b->qs), 1);
    return _mm512_xor_si512(z, _mm512_set1_epi8((char)0x80));
}

/* The 8 rows' block dots, reduced from 4 row pairs (d[p]: lanes 0-7 partials of row 2p,
 * 8-15 of row 2p+1) by a transpose-and-add: result lanes 0-3 and 4-7 = rows 0, 2, 4, 6,
 * lanes 8-11 and 12-15 = rows 1, 3, 5, 7. Exact; 8 ops for 8 rows where reducing each
 * pair alone took 6 per pair. */
AM_INLINE __m512i reduce8(const __m512i d[4]) {
    __m512i e01 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[0], d[1]), _mm512_unpackhi_epi32(d[0], d[1]));
    __m512i e23 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[2], d[3]), _mm512_unpackhi_epi32(d[2], d[3]));
    __m512i f = _mm512_add_epi32(_mm512_unpacklo_epi64(e01, e23), _mm512_unpackhi_epi64(e01, e23));
    return _mm512_add_epi32(f, _mm512_shuffle_i64x2(f, f, 0xB1));
}

/* Lane order of reduce8, as rows of the tile. */
static const int ROW_OF_LANE[16] = {0, 2, 4, 6, 0, 2, 4, 6, 1, 3, 5, 7, 1, 3, 5, 7};

/* Row pairs x T tokens of 8 rows. Each row's block dot is reduced to one int32 before it is
 * scaled (reduce8), so every row gets exactly the float steps of the prefill kernel
 * (kern_q80_gemm_avx512.c): acc = fma(dot_b, d_w * d_x, acc) block by block; decode and
 * prefill therefore give bit-identical outputs, and a greedy answer does not depend on
 * how its tokens were batched. */
AM_INLINE void q80_tile(int kind, const am_mm_args *a, int64_t r, int64_t r_end, int P, int t, int T) {
    const size_t bs = kind == QK_Q4_0 ? sizeof(am_block_q4_0) : sizeof(am_block_q8_0);
    const uint8_t *w[2 * QP];
    _Pragma("GCC unroll 16")
    for (int i = 0; i < 2 * QP; i++) w[i] = a->w + (r + i < r_end ? r + i : r_end - 1) * a->w_stride;
    const am_q8a *x[QT];
    _Pragma("GCC unroll 16")
    for (int j = 0; j < T; j++) x[j] = (const am_q8a *)(a->x + (t + j) * a->x_stride);
    __m512 acc[QT];
    _Pragma("GCC unroll 16")
    for (int j = 0; j < T; j++) acc[j] = _mm512_setzero_ps();
    const int64_t nb = a->n_in / AM_QK;
    /* Decode streams weights from DRAM; the hardware prefetcher does not run far enough
     * ahead of 8 interleaved rows, so fetch the next tile's rows (a contiguous region of
     * 2P rows) evenly over this tile's iterations. */
    const size_t pf_step = 2 * (size_t)QP * bs;
    const uint8_t *pf = a->w + (r + PF_TILES * 2 * QP) * a->w_stride;
    const int do_pf = T <= 2 && r + PF_TILES * 2 * QP < r_end;
    (void)P;
    const __m512i lane_rows = _mm512_loadu_si512(ROW_OF_LANE);
    for (int64_t b = 0; b < nb; b++) {
        if (do_pf)
            for (size_t o = 0; o < pf_step; o += 64) _mm_prefetch((const char *)pf + b * pf_step + o, _MM_HINT_T0);
        __m512i wv[QP];
        uint16_t dh[8];
        _Pragma("GCC unroll 16")
        for (int p = 0; p < QP; p++) wv[p] = unpack_pair(kind, w[2 * p] + b * bs, w[2 * p + 1] + b * bs);
        _Pragma("GCC unroll 16")
        for (int i = 0; i < 8; i++) memcpy(&dh[i], w[i] + b * bs, 2); /* d leads both formats */
        __m512 dw = _mm512_permutexvar_ps(lane_rows, _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh))));
        _Pragma("GCC unroll 16")
        for (int j = 0; j < T; j++) {
            __m512i xv = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x[j][b].qs));
            int s = x[j][b].s;
            __m512i init = _mm512_set1_epi32(kind == QK_Q4_0 ? -s : -16 * s);
            __m512i d[QP];
            _Pragma("GCC unroll 16")
            for (int p = 0; p < QP; p++) d[p] = _mm512_dpbusd_epi32(init, wv[p], xv);
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(reduce8(d)), _mm512_mul_ps(dw, _mm512_set1_ps(x[j][b].d)), acc[j]);
        }
    }
    _Pragma("GCC unroll 16")
    for (int j = 0; j < T; j++) {
        float v[16];
        _mm512_storeu_ps(v, acc[j]);
        float *yr = a->y + (t + j) * a->ldy + r;
        _Pragma("GCC unroll 16")
        for (int l = 0; l < 8; l++) {
            int row = ROW_OF_LANE[l < 4 ? l : l + 4];
            if (r + row < r_end) yr[row] = v[l < 4 ? l : l + 4];
        }
    }
}

#define Q_TILES(name, kind)                                                                                         \
    static void name##_t1(const am_mm_args *a, int64_t r, int64_t e, int t) { q80_tile(kind, a, r, e, QP, t, 1); } \
    static void name##_t2(const am_mm_args *a, int64_t r, int64_t e, int t) { q80_tile(kind, a, r, e, QP, t, 2); } \
    static void name##_t3(const am_mm_args *a, int64_t r, int64_t e, int t) { q80_tile(kind, a, r, e, QP, t, 3); } \
    static void name##_t4(const am_mm_args *a, int64_t r, int64_t e, int t) { q80_tile(kind, a, r, e, QP, t, 4); } \
    static void name(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {                                    \
        static void (*const tiles[QT + 1])(const am_mm_args *, int64_t, int64_t, int) = {                              \
            NULL, name##_t1, name##_t2, name##_t3, name##_t4};                                                          \
        if (t1 - t0 >= 2 * QT && am_avx512_q80_gemm_ok(a)) {                                                            \
            am_avx512_q80_gemm(kind == QK_Q8_0, a, r0, r1, t0, t1);                                                      \
            return;                                                                                                      \
        }                                                                                                                \
        for (int64_t r = r0; r < r1; r += 2 * QP)                                                                        \
            for (int t = t0; t < t1; t += QT) tiles[t1 - t < QT ? t1 - t : QT](a, r, r1, t);                            \
    }

Q_TILES(mm_q4_0, QK_Q4_0)
Q_TILES(mm_q8_0, QK_Q8_0)

void am_avx512_init_q80(am_kernels *k) {
    k->mm[AM_KT_Q4_0] = mm_q4_0;
    k->mm[AM_KT_Q8_0] = mm_q8_0;
}
