/*
 * att_avx2.c — AVX2+FMA+F16C attention loops (see att_kern.h). Compiled with
 * the AVX2 flags; reached only through eng_att_kern_get after CPUID.
 */
#include <immintrin.h>
#include <math.h>

#include "compute/blocks.h"
#include "engine/att_kern.h"

static void f16_to_f32(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = _cvtsh_ss(src[i]);
}

static void f32_to_f16(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

static void q8_0_to_f32(const void *src, float *dst, int64_t nb) {
    const am_block_q8_0 *b = src;
    for (int64_t i = 0; i < nb; i++, dst += AM_QK) {
        __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        for (int j = 0; j < AM_QK; j += 8) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(b[i].qs + j));
            _mm256_storeu_ps(dst + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
        }
    }
}

static void q4_0_to_f32(const void *src, float *dst, int64_t nb) {
    const am_block_q4_0 *b = src;
    const __m128i lo4 = _mm_set1_epi8(0xF), eight = _mm_set1_epi8(8);
    for (int64_t i = 0; i < nb; i++, dst += AM_QK) {
        __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, lo4), eight);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), lo4), eight);
        _mm256_storeu_ps(dst + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
        _mm256_storeu_ps(dst + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
        _mm256_storeu_ps(dst + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
        _mm256_storeu_ps(dst + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
    }
}

/* exp(x) for x <= ~88: Cephes' polynomial on x - n ln2, scaled by 2^n;
 * 0 below -87.3 (where the result would leave the normal range). */
static inline __m256 exp8(__m256 x) {
    __m256 tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f)), _mm256_set1_ps(-87.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(tiny, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

/* Scores of 16 rows (two vectors) x up to 4 keys: each qt vector is loaded
 * once per dimension for all keys, each key value broadcast once. */
static inline __attribute__((always_inline)) void qk_tile(const float *qt, int rp, int hd, const float *k, int nk,
                                                         float *st) {
    __m256 a[4][2];
    #pragma GCC unroll 4
    for (int i = 0; i < nk; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
    for (int c = 0; c < hd; c++) {
        __m256 q0 = _mm256_loadu_ps(qt + (int64_t)c * rp), q1 = _mm256_loadu_ps(qt + (int64_t)c * rp + 8);
        #pragma GCC unroll 4
        for (int i = 0; i < nk; i++) {
            __m256 kb = _mm256_broadcast_ss(k + (int64_t)i * hd + c);
            a[i][0] = _mm256_fmadd_ps(kb, q0, a[i][0]);
            a[i][1] = _mm256_fmadd_ps(kb, q1, a[i][1]);
        }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < nk; i++) {
        _mm256_storeu_ps(st + (int64_t)i * rp, a[i][0]);
        _mm256_storeu_ps(st + (int64_t)i * rp + 8, a[i][1]);
    }
}

static void qk_t(const float *qt, int rp, int hd, const float *k, int cnt, float *st) {
    for (int g = 0; g < rp; g += 16) {
        int i = 0;
        for (; i + 4 <= cnt; i += 4) qk_tile(qt + g, rp, hd, k + (int64_t)i * hd, 4, st + (int64_t)i * rp + g);
        for (; i < cnt; i++) qk_tile(qt + g, rp, hd, k + (int64_t)i * hd, 1, st + (int64_t)i * rp + g);
    }
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* one dot product per (key, row), two accumulators each */
static void qk_rows(const float *q, int nr, int hd, const float *k, int cnt, float *st, int rp) {
    int hd16 = hd & ~15, hd8 = hd & ~7;
    for (int i = 0; i < cnt; i++) {
        const float *kr = k + (int64_t)i * hd;
        for (int r = 0; r < nr; r++) {
            const float *qr = q + (int64_t)r * hd;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            int c = 0;
            for (; c < hd16; c += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qr + c), _mm256_loadu_ps(kr + c), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qr + c + 8), _mm256_loadu_ps(kr + c + 8), a1);
            }
            for (; c < hd8; c += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qr + c), _mm256_loadu_ps(kr + c), a0);
            float d = hsum(_mm256_add_ps(a0, a1));
            for (; c < hd; c++) d += qr[c] * kr[c];
            st[(int64_t)i * rp + r] = d;
        }
    }
}

static void softmax_t(float *st, int rp, int cnt, const int32_t *lo, const int32_t *hi, float *mx, float *sum,
                      float *corr) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int g = 0; g < rp; g += 8) {
        __m256i l = _mm256_loadu_si256((const __m256i *)(lo + g)), u = _mm256_loadu_si256((const __m256i *)(hi + g));
        __m256 m0 = _mm256_loadu_ps(mx + g), m = m0;
        for (int i = 0; i < cnt; i++) {
            __m256i vi = _mm256_set1_epi32(i);
            /* hidden: i < lo or i > hi */
            __m256 hid = _mm256_castsi256_ps(_mm256_or_si256(_mm256_cmpgt_epi32(l, vi), _mm256_cmpgt_epi32(vi, u)));
            __m256 x = _mm256_blendv_ps(_mm256_loadu_ps(st + (int64_t)i * rp + g), ninf, hid);
            _mm256_storeu_ps(st + (int64_t)i * rp + g, x);
            m = _mm256_max_ps(m, x);
        }
        __m256 uu = _mm256_blendv_ps(m, _mm256_setzero_ps(), _mm256_cmp_ps(m, ninf, _CMP_EQ_OQ));
        __m256 s = _mm256_setzero_ps();
        for (int i = 0; i < cnt; i++) {
            __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(st + (int64_t)i * rp + g), uu));
            _mm256_storeu_ps(st + (int64_t)i * rp + g, p);
            s = _mm256_add_ps(s, p);
        }
        __m256 cr = exp8(_mm256_sub_ps(m0, uu));
        _mm256_storeu_ps(corr + g, cr);
        _mm256_storeu_ps(sum + g, _mm256_fmadd_ps(_mm256_loadu_ps(sum + g), cr, s));
        _mm256_storeu_ps(mx + g, m);
    }
}

/* P.V for up to 2 rows x 4 chunks of 8 columns: each V vector is loaded
 * once per key for both rows. */
static inline __attribute__((always_inline)) void pv_tile(float *acc, int hd, const float *st, int rp,
                                                         const float *corr, const float *v, int cnt, int nr,
                                                         int c0, int nc) {
    __m256 a[2][4];
    #pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        __m256 cr = _mm256_set1_ps(corr[r]);
        #pragma GCC unroll 4
        for (int j = 0; j < nc; j++) a[r][j] = _mm256_mul_ps(_mm256_loadu_ps(acc + (int64_t)r * hd + c0 + 8 * j), cr);
    }
    for (int i = 0; i < cnt; i++) {
        __m256 vv[4];
        #pragma GCC unroll 4
        for (int j = 0; j < nc; j++) vv[j] = _mm256_loadu_ps(v + (int64_t)i * hd + c0 + 8 * j);
        #pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            __m256 p = _mm256_broadcast_ss(st + (int64_t)i * rp + r);
            #pragma GCC unroll 4
            for (int j = 0; j < nc; j++) a[r][j] = _mm256_fmadd_ps(p, vv[j], a[r][j]);
        }
    }
    #pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
        #pragma GCC unroll 4
        for (int j = 0; j < nc; j++) _mm256_storeu_ps(acc + (int64_t)r * hd + c0 + 8 * j, a[r][j]);
}

/* rows of acc in pairs (then 1), columns [c0, c0 + 8*NC) */
#define PV_NC(NC)                                                                                                    \
    static void pv_nc##NC(float *acc, int nr, int hd, const float *st, int rp, const float *corr, const float *v,   \
                          int cnt, int c0) {                                                                         \
        int r = 0;                                                                                                   \
        for (; r + 2 <= nr; r += 2) pv_tile(acc + (int64_t)r * hd, hd, st + r, rp, corr + r, v, cnt, 2, c0, NC);   \
        for (; r < nr; r++) pv_tile(acc + (int64_t)r * hd, hd, st + r, rp, corr + r, v, cnt, 1, c0, NC);           \
    }
PV_NC(1)
PV_NC(2)
PV_NC(3)
PV_NC(4)

static void pv_t(float *acc, int nr, int hd, const float *st, int rp, const float *corr, const float *v, int cnt) {
    static void (*const fn[4])(float *, int, int, const float *, int, const float *, const float *, int, int) = {
        pv_nc1, pv_nc2, pv_nc3, pv_nc4};
    int hd8 = hd & ~7;
    for (int c0 = 0; c0 < hd8; c0 += 32) {
        int nc = (hd8 - c0) / 8;
        fn[(nc < 4 ? nc : 4) - 1](acc, nr, hd, st, rp, corr, v, cnt, c0);
    }
    for (int r = 0; r < nr; r++) /* columns past the last multiple of 8 */
        for (int c = hd8; c < hd; c++) {
            float x = acc[(int64_t)r * hd + c] * corr[r];
            for (int i = 0; i < cnt; i++) x += st[(int64_t)i * rp + r] * v[(int64_t)i * hd + c];
            acc[(int64_t)r * hd + c] = x;
        }
}

static void silu_mul(float *g, const float *u, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 y = _mm256_div_ps(x, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(y, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* 0.5 x (1 + tanh(k (x + 0.044715 x^3))), tanh(z) = 1 - 2 / (1 + e^2z) */
static void gelu_mul(float *g, const float *u, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), half = _mm256_set1_ps(0.5f);
    const __m256 k = _mm256_set1_ps(0.7978845608028654f), c = _mm256_set1_ps(0.044715f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 z = _mm256_mul_ps(k, _mm256_fmadd_ps(_mm256_mul_ps(c, x), _mm256_mul_ps(x, x), x));
        __m256 t = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(one, exp8(_mm256_add_ps(z, z)))));
        __m256 y = _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, t));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(y, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) {
        float x = g[i];
        g[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))) * u[i];
    }
}

void eng_att_kern_avx2(eng_att_kern *k) {
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
}
