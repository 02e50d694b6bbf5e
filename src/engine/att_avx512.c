/*
 * att_avx512.c — AVX-512 attention loops (see att_kern.h): 16 lanes, masked
 * tails. Compiled with the AVX-512 flags; reached only through
 * eng_att_kern_get after CPUID.
 */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>

#include "compute/blocks.h"
#include "engine/att_kern.h"

static inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1); }

static void f16_to_f32(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
    }
}

static void f32_to_f16(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(dst + i, m, h);
    }
}

/* d * q as float, as am_dequant_row computes it: 16 values per vector */
static void q8_0_to_f32(const void *src, float *dst, int64_t nb) {
    const am_block_q8_0 *b = src;
    for (int64_t i = 0; i < nb; i++, dst += AM_QK) {
        __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
        __m128i q0 = _mm_loadu_si128((const __m128i *)b[i].qs), q1 = _mm_loadu_si128((const __m128i *)(b[i].qs + 16));
        _mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), d));
        _mm512_storeu_ps(dst + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), d));
    }
}

/* values 0..15 of the low nibbles, then 16..31 of the high ones, minus 8 */
static void q4_0_to_f32(const void *src, float *dst, int64_t nb) {
    const am_block_q4_0 *b = src;
    const __m512i lo4 = _mm512_set1_epi32(0xF), eight = _mm512_set1_epi32(8);
    for (int64_t i = 0; i < nb; i++, dst += AM_QK) {
        __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
        __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b[i].qs));
        __m512i lo = _mm512_sub_epi32(_mm512_and_si512(q, lo4), eight);
        __m512i hi = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
        _mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d));
        _mm512_storeu_ps(dst + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d));
    }
}

/* exp(x) for x <= ~88: Cephes' polynomial on x - n ln2, times 2^n (scalef);
 * 0 below -87.3 (where the result would leave the normal range). */
static inline __m512 exp16(__m512 x) {
    __mmask16 ok = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f)), _mm512_set1_ps(-87.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_mov_ps(ok, _mm512_scalef_ps(y, n));
}

/* Scores of up to 4 keys x ng groups of 16 rows, register-blocked: each
 * qt vector is loaded once per dimension for all keys, each key value is
 * one broadcast for all groups. */
static inline __attribute__((always_inline)) void qk_tile(const float *qt, int rp, int hd, const float *k, int nk,
                                                         int ng, float *st) {
    __m512 a[4][4];
    #pragma GCC unroll 4
    for (int i = 0; i < nk; i++)
        #pragma GCC unroll 4
        for (int g = 0; g < ng; g++) a[i][g] = _mm512_setzero_ps();
    for (int c = 0; c < hd; c++) {
        __m512 q[4];
        #pragma GCC unroll 4
        for (int g = 0; g < ng; g++) q[g] = _mm512_loadu_ps(qt + (int64_t)c * rp + 16 * g);
        #pragma GCC unroll 4
        for (int i = 0; i < nk; i++) {
            __m512 kb = _mm512_set1_ps(k[(int64_t)i * hd + c]);
            #pragma GCC unroll 4
            for (int g = 0; g < ng; g++) a[i][g] = _mm512_fmadd_ps(kb, q[g], a[i][g]);
        }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < nk; i++)
        #pragma GCC unroll 4
        for (int g = 0; g < ng; g++) _mm512_storeu_ps(st + (int64_t)i * rp + 16 * g, a[i][g]);
}

#define QK_NG(NG)                                                                                                    \
    static void qk_ng##NG(const float *qt, int rp, int hd, const float *k, int cnt, float *st) {                    \
        int i = 0;                                                                                                   \
        for (; i + 4 <= cnt; i += 4) qk_tile(qt, rp, hd, k + (int64_t)i * hd, 4, NG, st + (int64_t)i * rp);         \
        for (; i < cnt; i++) qk_tile(qt, rp, hd, k + (int64_t)i * hd, 1, NG, st + (int64_t)i * rp);                 \
    }
QK_NG(1)
QK_NG(2)
QK_NG(3)
QK_NG(4)

static void qk_t(const float *qt, int rp, int hd, const float *k, int cnt, float *st) {
    static void (*const fn[4])(const float *, int, int, const float *, int, float *) = {qk_ng1, qk_ng2, qk_ng3,
                                                                                        qk_ng4};
    /* groups of rows in runs of up to 4 (rp is a multiple of 16) */
    for (int g0 = 0; g0 < rp / 16; g0 += 4) {
        int ng = rp / 16 - g0 < 4 ? rp / 16 - g0 : 4;
        fn[ng - 1](qt + 16 * g0, rp, hd, k, cnt, st + 16 * g0);
    }
}

/* Sum of each of 16 vectors: out lane k = sum of v[k]'s lanes. Pairs are
 * folded level by level (unpack ps, unpack pd, two 128-bit lane shuffles):
 * 45 ops instead of 16 separate reductions. */
static inline __m512 hsum16(const __m512 v[16]) {
    __m512 t[8], u[4], w[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) /* lane quad: v2i, v2i+1 interleaved */
        t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* quad L = 4 sums of v4i..v4i+3 over quad L */
        __m512d a = _mm512_castps_pd(t[2 * i]), b = _mm512_castps_pd(t[2 * i + 1]);
        u[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], 0x88), _mm512_shuffle_f32x4(w[0], w[1], 0xdd));
}

static inline float dot(const float *a, const float *b, int n) {
    __m512 x = _mm512_setzero_ps();
    for (int c = 0; c < n; c += 16) {
        __mmask16 m = tail_mask(n - c);
        x = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + c), _mm512_maskz_loadu_ps(m, b + c), x);
    }
    return _mm512_reduce_add_ps(x);
}

/* 16 keys at a time: per row one partial vector per key (K rows read from
 * L1 once per row), folded by hsum16 and scattered into st's column r; the
 * last keys past a multiple of 16 one dot product each. */
static void qk_rows(const float *q, int nr, int hd, const float *k, int cnt, float *st, int rp) {
    const __m512i idx = _mm512_mullo_epi32(_mm512_set1_epi32(rp), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                                                                      10, 11, 12, 13, 14, 15));
    int i0 = 0;
    for (; i0 + 16 <= cnt; i0 += 16)
        for (int r = 0; r < nr; r++) {
            const float *qr = q + (int64_t)r * hd, *kb = k + (int64_t)i0 * hd;
            __m512 v[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) v[i] = _mm512_setzero_ps();
            for (int c = 0; c < hd; c += 16) {
                __mmask16 m = tail_mask(hd - c);
                __m512 qv = _mm512_maskz_loadu_ps(m, qr + c);
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++)
                    v[i] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, kb + (int64_t)i * hd + c), v[i]);
            }
            _mm512_i32scatter_ps(st + (int64_t)i0 * rp + r, idx, hsum16(v), 4);
        }
    for (; i0 < cnt; i0++)
        for (int r = 0; r < nr; r++) st[(int64_t)i0 * rp + r] = dot(q + (int64_t)r * hd, k + (int64_t)i0 * hd, hd);
}

static void softmax_t(float *st, int rp, int cnt, const int32_t *lo, const int32_t *hi, float *mx, float *sum,
                      float *corr) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int g = 0; g < rp; g += 16) {
        __m512i l = _mm512_loadu_si512(lo + g), u = _mm512_loadu_si512(hi + g);
        __m512 m0 = _mm512_loadu_ps(mx + g), m = m0;
        /* every row sees every key (a block behind all the rows' diagonals):
         * the max pass only reads, nothing is masked or stored */
        const bool all = _mm512_cmpgt_epi32_mask(l, _mm512_setzero_si512()) == 0 &&
                         _mm512_cmplt_epi32_mask(u, _mm512_set1_epi32(cnt - 1)) == 0;
        for (int i = 0; i < cnt; i++) {
            __m512 x = _mm512_loadu_ps(st + (int64_t)i * rp + g);
            if (!all) {
                __m512i vi = _mm512_set1_epi32(i);
                __mmask16 vis = _mm512_cmple_epi32_mask(l, vi) & _mm512_cmple_epi32_mask(vi, u);
                x = _mm512_mask_blend_ps(vis, ninf, x);
                _mm512_storeu_ps(st + (int64_t)i * rp + g, x);
            }
            m = _mm512_max_ps(m, x);
        }
        __m512 uu = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(m, ninf, _CMP_EQ_OQ), m, _mm512_setzero_ps());
        __m512 s = _mm512_setzero_ps();
        for (int i = 0; i < cnt; i++) {
            __m512 p = exp16(_mm512_sub_ps(_mm512_loadu_ps(st + (int64_t)i * rp + g), uu));
            _mm512_storeu_ps(st + (int64_t)i * rp + g, p);
            s = _mm512_add_ps(s, p);
        }
        __m512 cr = exp16(_mm512_sub_ps(m0, uu));
        _mm512_storeu_ps(corr + g, cr);
        _mm512_storeu_ps(sum + g, _mm512_fmadd_ps(_mm512_loadu_ps(sum + g), cr, s));
        _mm512_storeu_ps(mx + g, m);
    }
}

/* 4 keys x 4 rows per vector (lane 4i + r: key i, row r); the per-row max
 * and sum fold the 4 key groups by two 128-bit lane shuffles. */
static void softmax_r4(float *st, int cnt, int l, int u, float *mx, float *sum, float *corr) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    const __m512i lane_key = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m512i vl = _mm512_set1_epi32(l), vu = _mm512_set1_epi32(u);
    const __m512 m0 = _mm512_broadcast_f32x4(_mm_loadu_ps(mx));
    const int n = cnt * 4;
    __m512 m = m0;
    for (int i = 0; i < n; i += 16) {
        const __mmask16 t = tail_mask(n - i);
        __m512i key = _mm512_add_epi32(_mm512_set1_epi32(i / 4), lane_key);
        __mmask16 vis = t & _mm512_cmple_epi32_mask(vl, key) & _mm512_cmple_epi32_mask(key, vu);
        __m512 x = _mm512_mask_blend_ps(vis, ninf, _mm512_maskz_loadu_ps(t, st + i));
        _mm512_mask_storeu_ps(st + i, t, x);
        m = _mm512_max_ps(m, x);
    }
    m = _mm512_max_ps(m, _mm512_shuffle_f32x4(m, m, 0x4E));
    m = _mm512_max_ps(m, _mm512_shuffle_f32x4(m, m, 0xB1));
    __m512 uu = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(m, ninf, _CMP_EQ_OQ), m, _mm512_setzero_ps());
    __m512 s = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __mmask16 t = tail_mask(n - i);
        __m512 p = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(t, st + i), uu));
        _mm512_mask_storeu_ps(st + i, t, p);
        s = _mm512_mask_add_ps(s, t, s, p);
    }
    s = _mm512_add_ps(s, _mm512_shuffle_f32x4(s, s, 0x4E));
    s = _mm512_add_ps(s, _mm512_shuffle_f32x4(s, s, 0xB1));
    __m128 cr = _mm512_castps512_ps128(exp16(_mm512_sub_ps(m0, uu)));
    _mm_storeu_ps(corr, cr);
    _mm_storeu_ps(sum, _mm_fmadd_ps(_mm_loadu_ps(sum), cr, _mm512_castps512_ps128(s)));
    _mm_storeu_ps(mx, _mm512_castps512_ps128(m));
}

/* ---- decode straight from the cache (qk_rows_x, pv_x) ------------------- */

/* Values 16j..16j+15 of a row of type TY at p as floats (lanes outside m
 * zero for float rows; quant rows are whole blocks): f16 by vcvtph2ps,
 * Q8_0 / Q4_0 as d * q (bit-exact with am_dequant_row). */
static inline __attribute__((always_inline)) __m512 row_chunk(const char *p, am_type ty, int j, __mmask16 m) {
    switch (ty) {
    case AM_TYPE_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + 16 * j));
    case AM_TYPE_Q8_0: {
        const am_block_q8_0 *b = (const am_block_q8_0 *)p + j / 2;
        __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 16 * (j & 1))));
        return _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(_cvtsh_ss(b->d)));
    }
    case AM_TYPE_Q4_0: {
        const am_block_q4_0 *b = (const am_block_q4_0 *)p + j / 2;
        __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->qs));
        q = j & 1 ? _mm512_srli_epi32(q, 4) : _mm512_and_si512(q, _mm512_set1_epi32(0xF));
        q = _mm512_sub_epi32(q, _mm512_set1_epi32(8));
        return _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(_cvtsh_ss(b->d)));
    }
    default: return _mm512_maskz_loadu_ps(m, (const float *)p + 16 * j);
    }
}

/* Scores of 4 keys x 4 rows at a time: per 16 dimensions, each key's chunk
 * is decoded once into a register and meets the 4 rows' query chunks (L1
 * loads); the 16 partial vectors (lane group key*4 + row) are folded by
 * hsum16 and each key's 4 scores stored into its st row. Past the last key
 * or row, the last one is repeated and its result not stored. */
static inline __attribute__((always_inline)) void qkx(const float *q, int nr, int hd, const char *k, size_t rb,
                                                     am_type ty, int cnt, float *st, int rp) {
    for (int r0 = 0; r0 < nr; r0 += 4) {
        const float *qr[4];
        for (int r = 0; r < 4; r++) qr[r] = q + (int64_t)(r0 + r < nr ? r0 + r : nr - 1) * hd;
        const __mmask8 rm = nr - r0 >= 4 ? 0xf : (__mmask8)((1u << (nr - r0)) - 1);
        for (int i0 = 0; i0 < cnt; i0 += 4) {
            const char *kr[4];
            for (int i = 0; i < 4; i++) kr[i] = k + (size_t)(i0 + i < cnt ? i0 + i : cnt - 1) * rb;
            __m512 v[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) v[i] = _mm512_setzero_ps();
            for (int c = 0, j = 0; c < hd; c += 16, j++) {
                const __mmask16 m = tail_mask(hd - c);
                __m512 kv[4];
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) kv[i] = row_chunk(kr[i], ty, j, m);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    __m512 qv = _mm512_maskz_loadu_ps(m, qr[r] + c);
#pragma GCC unroll 4
                    for (int i = 0; i < 4; i++) v[4 * i + r] = _mm512_fmadd_ps(qv, kv[i], v[4 * i + r]);
                }
            }
            float s[16] __attribute__((aligned(64)));
            _mm512_store_ps(s, hsum16(v));
            const int nk = cnt - i0 < 4 ? cnt - i0 : 4;
            for (int i = 0; i < nk; i++)
                _mm_mask_storeu_ps(st + (int64_t)(i0 + i) * rp + r0, rm, _mm_load_ps(s + 4 * i));
        }
    }
}

#define QKX(NAME, TY)                                                                                                \
    static void NAME(const float *q, int nr, int hd, const char *k, size_t rb, int cnt, float *st, int rp) {        \
        qkx(q, nr, hd, k, rb, TY, cnt, st, rp);                                                                      \
    }
QKX(qkx_f32, AM_TYPE_F32)
QKX(qkx_f16, AM_TYPE_F16)
QKX(qkx_q8_0, AM_TYPE_Q8_0)
QKX(qkx_q4_0, AM_TYPE_Q4_0)

static void qk_rows_x(const float *q, int nr, int hd, const void *k, size_t rb, am_type ty, int cnt, float *st,
                      int rp) {
    switch (ty) {
    case AM_TYPE_F16: qkx_f16(q, nr, hd, k, rb, cnt, st, rp); break;
    case AM_TYPE_Q8_0: qkx_q8_0(q, nr, hd, k, rb, cnt, st, rp); break;
    case AM_TYPE_Q4_0: qkx_q4_0(q, nr, hd, k, rb, cnt, st, rp); break;
    default: qkx_f32(q, nr, hd, k, rb, cnt, st, rp); break;
    }
}

/* ---- decode scores on integer units (qk_rows_q8) ------------------------ */

/* 16 rows of 16 dwords transposed: r[p] becomes dword p of rows 0..15 (lane
 * i = row i). Unpacks within 128-bit lanes, then a 4x4 transpose of the
 * lanes: 64 shuffles. */
static inline __attribute__((always_inline)) void tr16(__m512i r[16]) {
    __m512i t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    /* u[4g + j] lane L: rows 4g..4g+3, dword 4L + j */
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44), v1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
        __m512i v2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44), v3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
        r[j] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[4 + j] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
        r[8 + j] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[12 + j] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
    }
}

/* 64 dims (blocks 2pc, 2pc+1) of a K row as 64 unsigned bytes for vpdpbusd:
 * Q8_0 q + 128 (so dot = udot - 128 * sum(query block)); Q4_0 the nibbles
 * 0..15 (dot = udot - 8 * sum), low nibbles of both blocks then high ones
 * (the qs4 order). */
static inline __attribute__((always_inline)) __m512i krow_u8(const char *p, am_type ty, int pc) {
    if (ty == AM_TYPE_Q8_0) {
        const am_block_q8_0 *b = (const am_block_q8_0 *)p + 2 * pc;
        __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].qs)),
                                       _mm256_loadu_si256((const __m256i *)b[1].qs), 1);
        return _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80));
    }
    const am_block_q4_0 *b = (const am_block_q4_0 *)p + 2 * pc;
    __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[0].qs)),
                                        _mm_loadu_si128((const __m128i *)b[1].qs), 1);
    const __m256i lo4 = _mm256_set1_epi8(0xF);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(x, lo4)),
                              _mm256_and_si256(_mm256_srli_epi16(x, 4), lo4), 1);
}

/* Stores 16 keys' scores of nr rows (s[r] lane i: key i) into st rows
 * i < nk: rp == 4 and nr == 4 (the dense decode layout) by a 4 x 16
 * transpose, otherwise one by one. */
static inline void store_keys(float *st, int rp, int nr, int nk, const __m512 *s) {
    if (rp == 4 && nr == 4) {
        __m512 a = _mm512_unpacklo_ps(s[0], s[1]), b = _mm512_unpackhi_ps(s[0], s[1]);
        __m512 c = _mm512_unpacklo_ps(s[2], s[3]), d = _mm512_unpackhi_ps(s[2], s[3]);
        /* x[j] lane L: key 4L + j, rows 0..3 */
        __m512 x0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(c)));
        __m512 x1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(c)));
        __m512 x2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(b), _mm512_castps_pd(d)));
        __m512 x3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(b), _mm512_castps_pd(d)));
        __m512 v0 = _mm512_shuffle_f32x4(x0, x1, 0x44), v1 = _mm512_shuffle_f32x4(x0, x1, 0xEE);
        __m512 v2 = _mm512_shuffle_f32x4(x2, x3, 0x44), v3 = _mm512_shuffle_f32x4(x2, x3, 0xEE);
        __m512 y[4] = {_mm512_shuffle_f32x4(v0, v2, 0x88), _mm512_shuffle_f32x4(v0, v2, 0xDD),
                       _mm512_shuffle_f32x4(v1, v3, 0x88), _mm512_shuffle_f32x4(v1, v3, 0xDD)};
        for (int g = 0; g < 4 && 4 * g < nk; g++) {
            int left = nk - 4 * g;
            __mmask16 m = left >= 4 ? 0xffff : (__mmask16)((1u << (4 * left)) - 1);
            _mm512_mask_storeu_ps(st + 16 * g, m, y[g]);
        }
        return;
    }
    float t[16] __attribute__((aligned(64)));
    for (int r = 0; r < nr; r++) {
        _mm512_store_ps(t, s[r]);
        for (int i = 0; i < nk; i++) st[(int64_t)i * rp + r] = t[i];
    }
}

/* 16 keys at a time: each 64-dim piece of the 16 K rows is loaded as bytes
 * and transposed once (lane = key, dword p = dims 4p..4p+3), then every
 * row's query dwords are broadcast into vpdpbusd, one int32 accumulator per
 * block; the block's dot is corrected for the unsigned offset, turned into
 * float (exact: |dot| < 2^24) and fma'd with dk * dq in block order, as
 * the scalar reference does. Keys past cnt repeat the last one (not
 * stored). hd % 64 == 0, nr <= 8. */
static inline __attribute__((always_inline)) void qkq(const eng_att_qq *qq, int nr, int hd, const char *k,
                                                     size_t rb, am_type ty, int cnt, float *st, int rp) {
    const int nb = hd / AM_QK;
    const int8_t *qs = ty == AM_TYPE_Q8_0 ? qq->qs : qq->qs4;
    const int off = ty == AM_TYPE_Q8_0 ? 128 : 8;
    const size_t bb = ty == AM_TYPE_Q8_0 ? sizeof(am_block_q8_0) : sizeof(am_block_q4_0);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int i0 = 0; i0 < cnt; i0 += 16) {
        const int nk = cnt - i0 < 16 ? cnt - i0 : 16;
        const char *kb = k + (size_t)i0 * rb;
        /* byte offsets of the 16 rows (the last one repeated past nk) */
        const __m512i idx = _mm512_mullo_epi32(_mm512_min_epi32(lane, _mm512_set1_epi32(nk - 1)),
                                               _mm512_set1_epi32((int)rb));
        __m512 s[8];
        for (int r = 0; r < nr; r++) s[r] = _mm512_setzero_ps();
        for (int pc = 0; pc < hd / 64; pc++) {
            __m512i t[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) t[i] = krow_u8(kb + (size_t)(i < nk ? i : nk - 1) * rb, ty, pc);
            tr16(t);
            /* the two blocks' f16 scales of the 16 keys (low half of the
             * dword at each block's start) */
            __m512 dk0 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(idx, kb + bb * (2 * pc), 1)));
            __m512 dk1 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(idx, kb + bb * (2 * pc + 1), 1)));
            for (int r = 0; r < nr; r++) {
                const int32_t *qd = (const int32_t *)(qs + (int64_t)r * hd + 64 * pc);
                __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
                if (ty == AM_TYPE_Q8_0) {
#pragma GCC unroll 8
                    for (int p = 0; p < 8; p++) {
                        a0 = _mm512_dpbusd_epi32(a0, t[p], _mm512_set1_epi32(qd[p]));
                        a1 = _mm512_dpbusd_epi32(a1, t[8 + p], _mm512_set1_epi32(qd[8 + p]));
                    }
                } else { /* dwords 0-3, 8-11 block 2pc; 4-7, 12-15 block 2pc+1 */
#pragma GCC unroll 4
                    for (int p = 0; p < 4; p++) {
                        a0 = _mm512_dpbusd_epi32(a0, t[p], _mm512_set1_epi32(qd[p]));
                        a1 = _mm512_dpbusd_epi32(a1, t[4 + p], _mm512_set1_epi32(qd[4 + p]));
                        a0 = _mm512_dpbusd_epi32(a0, t[8 + p], _mm512_set1_epi32(qd[8 + p]));
                        a1 = _mm512_dpbusd_epi32(a1, t[12 + p], _mm512_set1_epi32(qd[12 + p]));
                    }
                }
                const int b = r * nb + 2 * pc;
                a0 = _mm512_sub_epi32(a0, _mm512_set1_epi32(off * qq->sum[b]));
                a1 = _mm512_sub_epi32(a1, _mm512_set1_epi32(off * qq->sum[b + 1]));
                s[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0), _mm512_mul_ps(dk0, _mm512_set1_ps(qq->d[b])), s[r]);
                s[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1), _mm512_mul_ps(dk1, _mm512_set1_ps(qq->d[b + 1])), s[r]);
            }
        }
        store_keys(st + (int64_t)i0 * rp, rp, nr, nk, s);
    }
}

static void qkq_q8_0(const eng_att_qq *qq, int nr, int hd, const char *k, size_t rb, int cnt, float *st, int rp) {
    qkq(qq, nr, hd, k, rb, AM_TYPE_Q8_0, cnt, st, rp);
}

static void qkq_q4_0(const eng_att_qq *qq, int nr, int hd, const char *k, size_t rb, int cnt, float *st, int rp) {
    qkq(qq, nr, hd, k, rb, AM_TYPE_Q4_0, cnt, st, rp);
}

static void qk_rows_q8(const eng_att_qq *qq, int nr, int hd, const void *k, size_t rb, am_type ty, int cnt,
                       float *st, int rp) {
    if (ty == AM_TYPE_Q8_0) qkq_q8_0(qq, nr, hd, k, rb, cnt, st, rp);
    else qkq_q4_0(qq, nr, hd, k, rb, cnt, st, rp);
}

/* P.V for up to 4 rows x 4 chunks of 16 columns, register-blocked, V rows
 * decoded in registers: per key, its NC column chunks once for up to 4
 * rows' 4 x NC accumulators (float rows: plain loads). */
static inline __attribute__((always_inline)) void pvx_tile(float *acc, int hd, const float *st, int rp,
                                                          const float *corr, const char *v, size_t rb, am_type ty,
                                                          int cnt, int nr, int c0, int nc) {
    __m512 a[4][4];
    __mmask16 mk[4];
    #pragma GCC unroll 4
    for (int j = 0; j < nc; j++) mk[j] = tail_mask(hd - c0 - 16 * j);
    #pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        __m512 cr = _mm512_set1_ps(corr[r]);
        #pragma GCC unroll 4
        for (int j = 0; j < nc; j++)
            a[r][j] = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk[j], acc + (int64_t)r * hd + c0 + 16 * j), cr);
    }
    for (int i = 0; i < cnt; i++) {
        __m512 vv[4];
        #pragma GCC unroll 4
        for (int j = 0; j < nc; j++) vv[j] = row_chunk(v + (size_t)i * rb, ty, c0 / 16 + j, mk[j]);
        #pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            __m512 p = _mm512_set1_ps(st[(int64_t)i * rp + r]);
            #pragma GCC unroll 4
            for (int j = 0; j < nc; j++) a[r][j] = _mm512_fmadd_ps(p, vv[j], a[r][j]);
        }
    }
    #pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
        #pragma GCC unroll 4
        for (int j = 0; j < nc; j++) _mm512_mask_storeu_ps(acc + (int64_t)r * hd + c0 + 16 * j, mk[j], a[r][j]);
}

/* rows in runs of 4 (then 1), columns [c0, c0 + 16*NC), type TY */
#define PVX_NC(NAME, TY, NC)                                                                                         \
    static void NAME(float *acc, int nr, int hd, const float *st, int rp, const float *corr, const char *v,         \
                     size_t rb, int cnt, int c0) {                                                                   \
        int r = 0;                                                                                                   \
        for (; r + 4 <= nr; r += 4)                                                                                  \
            pvx_tile(acc + (int64_t)r * hd, hd, st + r, rp, corr + r, v, rb, TY, cnt, 4, c0, NC);                   \
        for (; r < nr; r++) pvx_tile(acc + (int64_t)r * hd, hd, st + r, rp, corr + r, v, rb, TY, cnt, 1, c0, NC);  \
    }
#define PVX(SFX, TY) PVX_NC(pvx_##SFX##1, TY, 1) PVX_NC(pvx_##SFX##2, TY, 2) PVX_NC(pvx_##SFX##3, TY, 3) \
    PVX_NC(pvx_##SFX##4, TY, 4)
PVX(f32_, AM_TYPE_F32)
PVX(f16_, AM_TYPE_F16)
PVX(q8_0_, AM_TYPE_Q8_0)
PVX(q4_0_, AM_TYPE_Q4_0)

typedef void (*pvx_fn)(float *, int, int, const float *, int, const float *, const char *, size_t, int, int);

static void pv_x(float *acc, int nr, int hd, const float *st, int rp, const float *corr, const void *v, size_t rb,
                 am_type ty, int cnt) {
    static const pvx_fn fn[4][4] = {{pvx_f32_1, pvx_f32_2, pvx_f32_3, pvx_f32_4},
                                    {pvx_f16_1, pvx_f16_2, pvx_f16_3, pvx_f16_4},
                                    {pvx_q8_0_1, pvx_q8_0_2, pvx_q8_0_3, pvx_q8_0_4},
                                    {pvx_q4_0_1, pvx_q4_0_2, pvx_q4_0_3, pvx_q4_0_4}};
    const int t = ty == AM_TYPE_F16 ? 1 : ty == AM_TYPE_Q8_0 ? 2 : ty == AM_TYPE_Q4_0 ? 3 : 0;
    for (int c0 = 0; c0 < hd; c0 += 64) {
        int nc = (hd - c0 + 15) / 16;
        fn[t][(nc < 4 ? nc : 4) - 1](acc, nr, hd, st, rp, corr, v, rb, cnt, c0);
    }
}

/* V as float rows of hd (prefill tiles, after load_rows): pv_x on F32 rows. */
static void pv_t(float *acc, int nr, int hd, const float *st, int rp, const float *corr, const float *v, int cnt) {
    pv_x(acc, nr, hd, st, rp, corr, v, (size_t)hd * sizeof(float), AM_TYPE_F32, cnt);
}

static void silu_mul(float *g, const float *u, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        __m512 y = _mm512_div_ps(x, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(y, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

/* 0.5 x (1 + tanh(k (x + 0.044715 x^3))), tanh(z) = 1 - 2 / (1 + e^2z) */
static void gelu_mul(float *g, const float *u, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f), half = _mm512_set1_ps(0.5f);
    const __m512 k = _mm512_set1_ps(0.7978845608028654f), c = _mm512_set1_ps(0.044715f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        __m512 z = _mm512_mul_ps(k, _mm512_fmadd_ps(_mm512_mul_ps(c, x), _mm512_mul_ps(x, x), x));
        __m512 t = _mm512_sub_ps(one, _mm512_div_ps(two, _mm512_add_ps(one, exp16(_mm512_add_ps(z, z)))));
        __m512 y = _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, t));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(y, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

void eng_att_kern_avx512(eng_att_kern *k) {
    k->silu_mul = silu_mul;
    k->gelu_mul = gelu_mul;
    k->f16_to_f32 = f16_to_f32;
    k->f32_to_f16 = f32_to_f16;
    k->q8_0_to_f32 = q8_0_to_f32;
    k->q4_0_to_f32 = q4_0_to_f32;
    k->qk_t = qk_t;
    k->qk_rows = qk_rows;
    k->softmax_t = softmax_t;
    k->pv_t = pv_t;
    k->qk_rows_x = qk_rows_x;
    k->pv_x = pv_x;
    k->softmax_r4 = softmax_r4;
    k->qk_rows_q8 = qk_rows_q8;
    k->qk_int8 = 1;
    k->direct = 1;
}
