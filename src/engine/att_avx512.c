/*
 * att_avx512.c — AVX-512 attention loops (see att_kern.h): 16 lanes, masked
 * tails. Compiled with the AVX-512 flags; reached only through
 * eng_att_kern_get after CPUID.
 */
#include <immintrin.h>

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

static void scores(const float *q, int nrep, int hd, const float *k, int cnt, float scale, float *s, int ld) {
    for (int i = 0; i < cnt; i++) {
        const float *kr = k + (int64_t)i * hd;
        for (int r = 0; r < nrep; r++) {
            const float *qr = q + (int64_t)r * hd;
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
            int c = 0;
            for (; c + 32 <= hd; c += 32) {
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(qr + c), _mm512_loadu_ps(kr + c), a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(qr + c + 16), _mm512_loadu_ps(kr + c + 16), a1);
            }
            for (; c < hd; c += 16) {
                __mmask16 m = tail_mask(hd - c);
                a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qr + c), _mm512_maskz_loadu_ps(m, kr + c), a0);
            }
            s[(int64_t)r * ld + i] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * scale;
        }
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

static float exp_sum(float *s, int n, float m) {
    __m512 vm = _mm512_set1_ps(m), acc = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 v = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + i), vm));
        _mm512_mask_storeu_ps(s + i, k, v);
        acc = _mm512_mask_add_ps(acc, k, acc, v);
    }
    return _mm512_reduce_add_ps(acc);
}

static void accum(float *acc, const float *corr, int nrep, int hd, const float *p, int ld, const float *v, int cnt) {
    for (int r = 0; r < nrep; r++) {
        float *a = acc + (int64_t)r * hd;
        const float *pr = p + (int64_t)r * ld;
        __m512 cr = _mm512_set1_ps(corr[r]);
        for (int c = 0; c < hd; c += 16) {
            __mmask16 m = tail_mask(hd - c);
            __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + c), cr);
            for (int i = 0; i < cnt; i++)
                x = _mm512_fmadd_ps(_mm512_set1_ps(pr[i]), _mm512_maskz_loadu_ps(m, v + (int64_t)i * hd + c), x);
            _mm512_mask_storeu_ps(a + c, m, x);
        }
    }
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
    k->scores = scores;
    k->exp_sum = exp_sum;
    k->accum = accum;
}
