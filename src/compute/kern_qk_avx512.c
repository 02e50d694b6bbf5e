/*
 * kern_qk_avx512.c — Q4_K, Q5_K, Q6_K weights against am_q8k activations with
 * AVX-512 (BW + VNNI). Compiled with the AVX-512 flags; reached only through
 * dispatch.c after a CPUID check.
 *
 * As for Q4_0, a zmm holds 32 elements of two rows (a row pair): bytes 0-31
 * row a, 32-63 row b; a token's 32 activation bytes are broadcast to both
 * halves. Weights are unsigned levels (0..15, 0..31, 0..63), so vpmaddubsw
 * gives 16-bit sums of two products (at most 63*127*2, no saturation) and
 * vpdpwssd multiplies them by the 16-bit sub-block scales and accumulates in
 * int32: one super-block's integer dot per lane, exact, summed per row
 * (hsum8_epi32, so the f32 steps are the prefill kernel's). Then one f32 step per
 * super-block: * d*dx, and for Q4_K/Q5_K minus dmin*dx * sum(min_j * bsum_j)
 * (vpdpwssd of the mins against the activation's 16-element sums); Q6_K's
 * -32 offset is folded into the integer sum the same way.
 * Per row pair and super-block the weights are unpacked once (levels,
 * per-sub-block scale vectors) and used by every token of the tile. This is
 * the decode path (and the fallback for rows too far apart for int32 gather
 * offsets); QK_GEMM_MIN tokens or more go to kern_qk_gemm_avx512.c (one row per lane,
 * no horizontal sums).
 */
#include "compute/kern_avx512.h"

enum { KQ_Q4_K, KQ_Q5_K, KQ_Q6_K }; /* as am_avx512_qk_gemm numbers them */

#define KP 2 /* row pairs per tile */
#define KT 4 /* tokens per tile */
/* From this many tokens the one-row-per-lane kernel wins (bench_matmul on the 128256x2048
 * Q6_K output matrix, AMD Zen 5, 2 threads: 8 tokens 26 ms here vs 29 there, 16 tokens 42 vs 36). */
#define QK_GEMM_MIN 12

typedef struct {
    __m512i w[8];  /* levels of elements 32i..32i+32, rows a | b */
    __m512i sc[8]; /* 16-bit scales matching w[i]'s vpmaddubsw lanes */
    __m512i mn;    /* Q4_K/Q5_K: mins, each twice, against bsums; Q6_K: -32 * scales */
    __m512 d, dmin;
} kpk;

/* The 12 packed bytes -> scales (bytes 0-7 of *sc) and mins (bytes 0-7 of *mn), sub-blocks
 * 0-3 from the low 6 bits of bytes 0-3 / 4-7, 4-7 from the nibbles of bytes 8-11 and the top
 * two bits of bytes 0-3 / 4-7 (see am_q4k_scale_min). */
AM_INLINE void k4_scales(const uint8_t *s12, uint64_t *sc, uint64_t *mn) {
    uint32_t a0, a1, a2;
    memcpy(&a0, s12, 4);
    memcpy(&a1, s12 + 4, 4);
    memcpy(&a2, s12 + 8, 4);
    uint32_t sc_lo = a0 & 0x3F3F3F3Fu, mn_lo = a1 & 0x3F3F3F3Fu;
    uint32_t sc_hi = (a2 & 0x0F0F0F0Fu) | (((a0 >> 6) & 0x03030303u) << 4);
    uint32_t mn_hi = ((a2 >> 4) & 0x0F0F0F0Fu) | (((a1 >> 6) & 0x03030303u) << 4);
    *sc = sc_lo | (uint64_t)sc_hi << 32;
    *mn = mn_lo | (uint64_t)mn_hi << 32;
}

AM_INLINE __m512i load_pair256(const uint8_t *pa, const uint8_t *pb) {
    __m512i z = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)pa));
    return _mm512_inserti64x4(z, _mm256_loadu_si256((const __m256i *)pb), 1);
}

/* f16 pairs (d, dmin) of two rows -> [d_a x8 | d_b x8], [dmin_a x8 | dmin_b x8]. */
AM_INLINE void dd_pair(const void *pa, const void *pb, __m512 *d, __m512 *dmin) {
    uint32_t ua, ub;
    memcpy(&ua, pa, 4);
    memcpy(&ub, pb, 4);
    __m128 f = _mm_cvtph_ps(_mm_set_epi32(0, 0, (int)ub, (int)ua)); /* d_a dmin_a d_b dmin_b */
    __m512 z = _mm512_castps128_ps512(f);
    *d = _mm512_permutexvar_ps(_mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0), z);
    *dmin = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), z);
}

/* Word indices: element i of each 256-bit half takes word (base + i / per) of the source's
 * matching half (source words 0-15 row a, 16-31 row b). */
static const uint16_t IDX_K4[8][32] __attribute__((aligned(64))) = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    {R16(0), R16(8)}, {R16(1), R16(9)}, {R16(2), R16(10)}, {R16(3), R16(11)},
    {R16(4), R16(12)}, {R16(5), R16(13)}, {R16(6), R16(14)}, {R16(7), R16(15)},
#undef R16
};
static const uint16_t IDX_MN[32] __attribute__((aligned(64))) = {
    0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15};
static const uint16_t IDX_K6[8][32] __attribute__((aligned(64))) = {
#define R8(v) v, v, v, v, v, v, v, v
    {R8(0), R8(1), R8(16), R8(17)},   {R8(2), R8(3), R8(18), R8(19)},   {R8(4), R8(5), R8(20), R8(21)},
    {R8(6), R8(7), R8(22), R8(23)},   {R8(8), R8(9), R8(24), R8(25)},   {R8(10), R8(11), R8(26), R8(27)},
    {R8(12), R8(13), R8(28), R8(29)}, {R8(14), R8(15), R8(30), R8(31)},
#undef R8
};

AM_INLINE __m512i idx(const uint16_t *p) { return _mm512_load_si512((const void *)p); }

AM_INLINE void unpack_k45(int kind, const uint8_t *pa, const uint8_t *pb, kpk *o) {
    const am_block_q4_k *a4 = (const am_block_q4_k *)pa, *b4 = (const am_block_q4_k *)pb;
    const am_block_q5_k *a5 = (const am_block_q5_k *)pa, *b5 = (const am_block_q5_k *)pb;
    const uint8_t *sa = kind == KQ_Q4_K ? a4->scales : a5->scales, *sb = kind == KQ_Q4_K ? b4->scales : b5->scales;
    const uint8_t *qa = kind == KQ_Q4_K ? a4->qs : a5->qs, *qb = kind == KQ_Q4_K ? b4->qs : b5->qs;
    uint64_t sca, mna, scb, mnb;
    k4_scales(sa, &sca, &mna);
    k4_scales(sb, &scb, &mnb);
    __m512i s16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_set_epi64x((long long)scb, (long long)sca)));
    __m512i m16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_set_epi64x((long long)mnb, (long long)mna)));
    /* s16 words: 0-7 scales a, 8-15 scales b */
    _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) o->sc[j] = _mm512_permutexvar_epi16(idx(IDX_K4[j]), s16);
    o->mn = _mm512_permutexvar_epi16(idx(IDX_MN), m16); /* [m_a0 m_a0 m_a1 m_a1 ... | m_b ...] */
    dd_pair(pa, pb, &o->d, &o->dmin);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i qh = kind == KQ_Q5_K ? load_pair256(a5->qh, b5->qh) : _mm512_setzero_si512();
    const __m512i bit4 = _mm512_set1_epi8(0x10);
    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
        __m512i q = load_pair256(qa + 32 * c, qb + 32 * c);
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        if (kind == KQ_Q5_K) {
            /* bit 2c of qh -> bit 4 of the low level, bit 2c+1 -> bit 4 of the high one
             * (16-bit shifts by <= 4 keep each byte's bits within the byte at bit 4) */
            __m512i hl = c == 0 ? _mm512_slli_epi16(qh, 4) : c == 1 ? _mm512_slli_epi16(qh, 2) : c == 2 ? qh : _mm512_srli_epi16(qh, 2);
            __m512i hh = c == 0 ? _mm512_slli_epi16(qh, 3) : c == 1 ? _mm512_slli_epi16(qh, 1) : c == 2 ? _mm512_srli_epi16(qh, 1) : _mm512_srli_epi16(qh, 3);
            lo = _mm512_ternarylogic_epi32(lo, hl, bit4, 0xF8); /* lo | (hl & bit4) */
            hi = _mm512_ternarylogic_epi32(hi, hh, bit4, 0xF8);
        }
        o->w[2 * c] = lo;
        o->w[2 * c + 1] = hi;
    }
}

AM_INLINE void unpack_k6(const uint8_t *pa, const uint8_t *pb, kpk *o) {
    const am_block_q6_k *a = (const am_block_q6_k *)pa, *b = (const am_block_q6_k *)pb;
    __m512i s16 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a->scales))),
                                     _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales)), 1);
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) o->sc[i] = _mm512_permutexvar_epi16(idx(IDX_K6[i]), s16);
    o->mn = _mm512_mullo_epi16(s16, _mm512_set1_epi16(-32)); /* |scale| <= 128: fits */
    uint16_t da, db;
    memcpy(&da, &a->d, 2);
    memcpy(&db, &b->d, 2);
    o->d = _mm512_cvtph_ps(_mm256_mask_set1_epi16(_mm256_set1_epi16((short)da), 0xFF00, (short)db));
    o->dmin = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
        __m512i ql0 = load_pair256(a->ql + 64 * h, b->ql + 64 * h);
        __m512i ql1 = load_pair256(a->ql + 64 * h + 32, b->ql + 64 * h + 32);
        __m512i qh = load_pair256(a->qh + 32 * h, b->qh + 32 * h);
        /* (A & m4) | (B & m30) = ternlog(A, B, m4 selects) */
        o->w[4 * h + 0] = _mm512_or_si512(_mm512_and_si512(ql0, m4), _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30));
        o->w[4 * h + 1] = _mm512_or_si512(_mm512_and_si512(ql1, m4), _mm512_and_si512(_mm512_slli_epi16(qh, 2), m30));
        o->w[4 * h + 2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql0, 4), m4), _mm512_and_si512(qh, m30));
        o->w[4 * h + 3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql1, 4), m4), _mm512_and_si512(_mm512_srli_epi16(qh, 2), m30));
    }
}

/* acc[p][j] += the P unpacked row pairs in buf against one token's super-block xb. */
AM_INLINE void kq_token(int kind, const kpk *buf, int P, const am_q8k *xb, __m512 acc[][KT], int j) {
    __m512i xv[8];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) xv[i] = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(xb->qs + 32 * i)));
    __m512i bsv = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)xb->bsums));
    __m512 dx = _mm512_set1_ps(xb->d);
    _Pragma("GCC unroll 8") for (int p = 0; p < P; p++) {
        const kpk *k = &buf[p];
        /* two accumulation chains: 8 dependent vpdpwssd would be latency-bound */
        __m512i ai = kind == KQ_Q6_K ? _mm512_dpwssd_epi32(_mm512_setzero_si512(), k->mn, bsv) : _mm512_setzero_si512();
        __m512i ai2 = _mm512_setzero_si512();
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i += 2) {
            ai = _mm512_dpwssd_epi32(ai, _mm512_maddubs_epi16(k->w[i], xv[i]), k->sc[i]);
            ai2 = _mm512_dpwssd_epi32(ai2, _mm512_maddubs_epi16(k->w[i + 1], xv[i + 1]), k->sc[i + 1]);
        }
        ai = hsum8_epi32(_mm512_add_epi32(ai, ai2)); /* per row, as kern_qk_gemm_avx512.c has it */
        __m512 f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai), _mm512_mul_ps(k->d, dx), acc[p][j]);
        if (kind != KQ_Q6_K) {
            __m512i mi = hsum8_epi32(_mm512_dpwssd_epi32(_mm512_setzero_si512(), k->mn, bsv));
            f = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mi), _mm512_mul_ps(k->dmin, dx), f);
        }
        acc[p][j] = f;
    }
}

AM_INLINE void kq_tile(int kind, const am_mm_args *a, int64_t r, int64_t r_end, int P, int t, int T) {
    const size_t bs = kind == KQ_Q4_K ? sizeof(am_block_q4_k) : kind == KQ_Q5_K ? sizeof(am_block_q5_k) : sizeof(am_block_q6_k);
    const uint8_t *w[2 * KP];
    _Pragma("GCC unroll 8") for (int i = 0; i < 2 * P; i++) w[i] = a->w + (r + i < r_end ? r + i : r_end - 1) * a->w_stride;
    const am_q8k *x[KT];
    _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) x[j] = (const am_q8k *)(a->x + (t + j) * a->x_stride);
    __m512 acc[KP][KT];
    _Pragma("GCC unroll 8") for (int p = 0; p < P; p++)
        _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) acc[p][j] = _mm512_setzero_ps();
    kpk buf[KP] __attribute__((aligned(64)));
    const int64_t nb = a->n_in / AM_QKK;
    /* fetch the next tile's rows over this tile's iterations: the hardware prefetcher does not
     * run far enough ahead of four interleaved rows of 8 super-blocks each. For every tile
     * width: with 4 tokens and no prefetch the 128256x2048 Q6_K matrix took 28 ms, with it 10. */
    const size_t pf_step = 2 * (size_t)P * bs;
    const uint8_t *pf = a->w + (r + 2 * P) * a->w_stride;
    const int do_pf = r + 2 * P < r_end;
    for (int64_t b = 0; b < nb; b++) {
        if (do_pf)
            for (size_t o = 0; o < pf_step; o += 64) _mm_prefetch((const char *)pf + b * pf_step + o, _MM_HINT_T0);
        _Pragma("GCC unroll 8") for (int p = 0; p < P; p++) {
            if (kind == KQ_Q6_K) unpack_k6(w[2 * p] + b * bs, w[2 * p + 1] + b * bs, &buf[p]);
            else unpack_k45(kind, w[2 * p] + b * bs, w[2 * p + 1] + b * bs, &buf[p]);
        }
        _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) kq_token(kind, buf, P, x[j] + b, acc, j);
    }
    _Pragma("GCC unroll 8") for (int j = 0; j < T; j++)
        _Pragma("GCC unroll 8") for (int p = 0; p < P; p++) {
            float lo, hi;
            lanes_0_8(acc[p][j], &lo, &hi);
            float *yr = a->y + (t + j) * a->ldy + r + 2 * p;
            if (r + 2 * p < r_end) yr[0] = lo;
            if (r + 2 * p + 1 < r_end) yr[1] = hi;
        }
}

#define K_TILES(name, kind)                                                                                         \
    static void name##_t1(const am_mm_args *a, int64_t r, int64_t e, int t) { kq_tile(kind, a, r, e, KP, t, 1); } \
    static void name##_t2(const am_mm_args *a, int64_t r, int64_t e, int t) { kq_tile(kind, a, r, e, KP, t, 2); } \
    static void name##_t3(const am_mm_args *a, int64_t r, int64_t e, int t) { kq_tile(kind, a, r, e, KP, t, 3); } \
    static void name##_t4(const am_mm_args *a, int64_t r, int64_t e, int t) { kq_tile(kind, a, r, e, KP, t, 4); } \
    static void name(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {                                    \
        static void (*const tiles[KT + 1])(const am_mm_args *, int64_t, int64_t, int) = {                              \
            NULL, name##_t1, name##_t2, name##_t3, name##_t4};                                                          \
        if (t1 - t0 >= QK_GEMM_MIN && am_avx512_qk_gemm_ok(a)) {                                         \
            am_avx512_qk_gemm(kind, a, r0, r1, t0, t1);                                                       \
            return;                                                                                                      \
        }                                                                                                                \
        for (int64_t r = r0; r < r1; r += 2 * KP)                                                                        \
            for (int t = t0; t < t1; t += KT) tiles[t1 - t < KT ? t1 - t : KT](a, r, r1, t);                            \
    }

K_TILES(mm_q4_k, KQ_Q4_K)
K_TILES(mm_q5_k, KQ_Q5_K)
K_TILES(mm_q6_k, KQ_Q6_K)

void am_avx512_init_qk(am_kernels *k) {
    k->mm[AM_KT_Q4_K] = mm_q4_k;
    k->mm[AM_KT_Q5_K] = mm_q5_k;
    k->mm[AM_KT_Q6_K] = mm_q6_k;
}
