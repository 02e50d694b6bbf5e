/*
 * kern_avx2.c — AVX2 + FMA + F16C level, for x86 CPUs without AVX-512:
 * activation quantizers (byte-identical to quant.c's) and kernels for every
 * weight type. Compiled with those flags; reached only through dispatch.c
 * after a CPUID check.
 *
 * Same shapes as the AVX-512 level at half width: float weights in 4-row x
 * up-to-4-token tiles of f32 FMA; quantized weights one 32-element block of
 * one row per ymm against up to 4 tokens. No VNNI here: vpmaddubsw (unsigned
 * weights x signed activations -> 16-bit pair sums; Q8_0 takes |w| and moves
 * w's sign onto the activation) then vpmaddwd against ones or the 16-bit
 * sub-block scales.
 */
#include <immintrin.h>
#include <string.h>

#include "compute/kernels.h"

#define AM_INLINE static inline __attribute__((always_inline))

AM_INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AM_INLINE int hsum8i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

AM_INLINE float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- activation quantizers ------------------------------------------------------- */

/* 32 int32 (4 vectors, element order) -> 32 int8 in order. */
AM_INLINE __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d); /* lane-interleaved */
    __m256i v = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static void quant_q8a(const float *x, am_q8a *dst, int64_t n) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / AM_QK; i++, x += AM_QK) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(x + 8 * j);
            m = _mm256_max_ps(m, _mm256_and_ps(v[j], absmask));
        }
        float amax = hmax8(m);
        __m256 id = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
        __m256i q[4];
        for (int j = 0; j < 4; j++) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
        _mm256_storeu_si256((__m256i *)dst[i].qs, pack32(q[0], q[1], q[2], q[3]));
        dst[i].s = hsum8i(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        dst[i].d = amax / 127.0f;
    }
}

static void quant_q8k(const float *x, am_q8k *dst, int64_t n) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / AM_QKK; i++, x += AM_QKK) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < 32; j++) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 8 * j), absmask));
        float amax = hmax8(m);
        __m256 id = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
        for (int g = 0; g < 8; g++) {
            __m256i q[4];
            for (int j = 0; j < 4; j++) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * g + 8 * j), id));
            _mm256_storeu_si256((__m256i *)(dst[i].qs + 32 * g), pack32(q[0], q[1], q[2], q[3]));
            dst[i].bsums[2 * g] = (int16_t)hsum8i(_mm256_add_epi32(q[0], q[1]));
            dst[i].bsums[2 * g + 1] = (int16_t)hsum8i(_mm256_add_epi32(q[2], q[3]));
        }
        dst[i].d = amax / 127.0f;
        memset(dst[i].pad_, 0, sizeof dst[i].pad_);
    }
}

/* ---- float weights ----------------------------------------------------------------- */

enum { FK_F32, FK_F16, FK_BF16 };

AM_INLINE __m256 load_w(int kind, const uint8_t *p, int64_t i) {
    if (kind == FK_F32) return _mm256_loadu_ps((const float *)p + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
    if (kind == FK_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AM_INLINE float w_scalar(int kind, const uint8_t *p, int64_t i) {
    if (kind == FK_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return kind == FK_F16 ? am_f16_to_f32(h) : am_bf16_to_f32(h);
}

#define FR 4
#define FT 4

AM_INLINE void f_tile(int kind, const am_mm_args *a, int64_t r, int64_t r_end, int t, int T) {
    const uint8_t *w[FR];
    _Pragma("GCC unroll 4") for (int i = 0; i < FR; i++) w[i] = a->w + (r + i < r_end ? r + i : r_end - 1) * a->w_stride;
    const float *x[FT];
    _Pragma("GCC unroll 4") for (int j = 0; j < T; j++) x[j] = (const float *)(a->x + (t + j) * a->x_stride);
    __m256 acc[FR][FT];
    _Pragma("GCC unroll 4") for (int i = 0; i < FR; i++)
        _Pragma("GCC unroll 4") for (int j = 0; j < T; j++) acc[i][j] = _mm256_setzero_ps();
    int64_t n = a->n_in, k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 wv[FR];
        _Pragma("GCC unroll 4") for (int i = 0; i < FR; i++) wv[i] = load_w(kind, w[i], k);
        _Pragma("GCC unroll 4") for (int j = 0; j < T; j++) {
            __m256 xv = _mm256_loadu_ps(x[j] + k);
            _Pragma("GCC unroll 4") for (int i = 0; i < FR; i++) acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
        }
    }
    for (int j = 0; j < T; j++)
        for (int i = 0; i < FR; i++) {
            float s = hsum8(acc[i][j]);
            for (int64_t kk = k; kk < n; kk++) s += w_scalar(kind, w[i], kk) * x[j][kk];
            if (r + i < r_end) a->y[(t + j) * a->ldy + r + i] = s;
        }
}

#define F_TILES(name, kind)                                                                               \
    static void name##_t1(const am_mm_args *a, int64_t r, int64_t e, int t) { f_tile(kind, a, r, e, t, 1); } \
    static void name##_t2(const am_mm_args *a, int64_t r, int64_t e, int t) { f_tile(kind, a, r, e, t, 2); } \
    static void name##_t3(const am_mm_args *a, int64_t r, int64_t e, int t) { f_tile(kind, a, r, e, t, 3); } \
    static void name##_t4(const am_mm_args *a, int64_t r, int64_t e, int t) { f_tile(kind, a, r, e, t, 4); } \
    static void name(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {                          \
        static void (*const tiles[FT + 1])(const am_mm_args *, int64_t, int64_t, int) = {                    \
            NULL, name##_t1, name##_t2, name##_t3, name##_t4};                                                \
        for (int64_t r = r0; r < r1; r += FR)                                                                  \
            for (int t = t0; t < t1; t += FT) tiles[t1 - t < FT ? t1 - t : FT](a, r, r1, t);                  \
    }

F_TILES(mm_f32, FK_F32)
F_TILES(mm_f16, FK_F16)
F_TILES(mm_bf16, FK_BF16)

/* ---- Q4_0 / Q8_0 ----------------------------------------------------------------- */

enum { QK_Q4_0, QK_Q8_0 };
#define QR 2 /* rows per tile */
#define QT 4

AM_INLINE void q80_tile(int kind, const am_mm_args *a, int64_t r, int64_t r_end, int t, int T) {
    const size_t bs = kind == QK_Q4_0 ? sizeof(am_block_q4_0) : sizeof(am_block_q8_0);
    const uint8_t *w[QR];
    _Pragma("GCC unroll 2") for (int i = 0; i < QR; i++) w[i] = a->w + (r + i < r_end ? r + i : r_end - 1) * a->w_stride;
    const am_q8a *x[QT];
    _Pragma("GCC unroll 4") for (int j = 0; j < T; j++) x[j] = (const am_q8a *)(a->x + (t + j) * a->x_stride);
    __m256 acc[QR][QT];
    _Pragma("GCC unroll 2") for (int i = 0; i < QR; i++)
        _Pragma("GCC unroll 4") for (int j = 0; j < T; j++) acc[i][j] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(0x0F);
    const int64_t nb = a->n_in / AM_QK;
    for (int64_t b = 0; b < nb; b++) {
        _Pragma("GCC unroll 2") for (int i = 0; i < QR; i++) {
            const uint8_t *blk = w[i] + b * bs;
            uint16_t dh;
            memcpy(&dh, blk, 2);
            __m256 dw = _mm256_set1_ps(_cvtsh_ss(dh));
            __m256i wv;
            if (kind == QK_Q4_0) {
                __m128i q = _mm_loadu_si128((const __m128i *)(blk + 2));
                wv = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4); /* nibbles 0..15 */
            } else {
                wv = _mm256_loadu_si256((const __m256i *)(blk + 2));
            }
            _Pragma("GCC unroll 4") for (int j = 0; j < T; j++) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)x[j][b].qs);
                __m256i p16 = kind == QK_Q4_0 ? _mm256_maddubs_epi16(wv, xv)
                                              : _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
                __m256i p32 = _mm256_madd_epi16(p16, ones);
                if (kind == QK_Q4_0) p32 = _mm256_sub_epi32(p32, _mm256_set1_epi32(x[j][b].s)); /* -8*s over 8 lanes */
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_mul_ps(dw, _mm256_set1_ps(x[j][b].d)), acc[i][j]);
            }
        }
    }
    for (int j = 0; j < T; j++)
        for (int i = 0; i < QR; i++)
            if (r + i < r_end) a->y[(t + j) * a->ldy + r + i] = hsum8(acc[i][j]);
}

#define Q_TILES(name, kind)                                                                                 \
    static void name##_t1(const am_mm_args *a, int64_t r, int64_t e, int t) { q80_tile(kind, a, r, e, t, 1); } \
    static void name##_t2(const am_mm_args *a, int64_t r, int64_t e, int t) { q80_tile(kind, a, r, e, t, 2); } \
    static void name##_t3(const am_mm_args *a, int64_t r, int64_t e, int t) { q80_tile(kind, a, r, e, t, 3); } \
    static void name##_t4(const am_mm_args *a, int64_t r, int64_t e, int t) { q80_tile(kind, a, r, e, t, 4); } \
    static void name(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {                            \
        static void (*const tiles[QT + 1])(const am_mm_args *, int64_t, int64_t, int) = {                      \
            NULL, name##_t1, name##_t2, name##_t3, name##_t4};                                                  \
        for (int64_t r = r0; r < r1; r += QR)                                                                    \
            for (int t = t0; t < t1; t += QT) tiles[t1 - t < QT ? t1 - t : QT](a, r, r1, t);                    \
    }

Q_TILES(mm_q4_0, QK_Q4_0)
Q_TILES(mm_q8_0, QK_Q8_0)

/* ---- K-quants ---------------------------------------------------------------------- */

enum { KQ_Q4_K, KQ_Q5_K, KQ_Q6_K };
#define KT 4

/* One row's super-block, unpacked: levels of elements 32i..32i+32, the 16-bit scale of
 * each 16-bit pair-sum lane, and the mins (each twice) or Q6_K's -32*scales. */
typedef struct {
    __m256i w[8], sc[8], mn;
    float d, dmin;
} kpk;

AM_INLINE void unpack_k(int kind, const uint8_t *p, kpk *o) {
    if (kind == KQ_Q6_K) {
        const am_block_q6_k *b = (const am_block_q6_k *)p;
        for (int i = 0; i < 8; i++)
            o->sc[i] = _mm256_set_m128i(_mm_set1_epi16(b->scales[2 * i + 1]), _mm_set1_epi16(b->scales[2 * i]));
        o->mn = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales)), _mm256_set1_epi16(-32));
        uint16_t dh;
        memcpy(&dh, &b->d, 2);
        o->d = _cvtsh_ss(dh);
        o->dmin = 0;
        const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
            o->w[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
            o->w[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            o->w[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
            o->w[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
        }
        return;
    }
    const am_block_q4_k *b4 = (const am_block_q4_k *)p;
    const am_block_q5_k *b5 = (const am_block_q5_k *)p;
    const uint8_t *scales = kind == KQ_Q4_K ? b4->scales : b5->scales;
    const uint8_t *qs = kind == KQ_Q4_K ? b4->qs : b5->qs;
    int16_t mn[16];
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        am_q4k_scale_min(j, scales, &sc, &m);
        o->sc[j] = _mm256_set1_epi16(sc);
        mn[2 * j] = mn[2 * j + 1] = m;
    }
    o->mn = _mm256_loadu_si256((const __m256i *)mn);
    uint16_t dh[2];
    memcpy(dh, p, 4);
    o->d = _cvtsh_ss(dh[0]);
    o->dmin = _cvtsh_ss(dh[1]);
    const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    __m256i qh = kind == KQ_Q5_K ? _mm256_loadu_si256((const __m256i *)b5->qh) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (kind == KQ_Q5_K) {
            __m256i hb = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c)); /* bits 2c, 2c+1 -> 0, 1 */
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), bit4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), bit4));
        }
        o->w[2 * c] = lo;
        o->w[2 * c + 1] = hi;
    }
}

AM_INLINE void kq_rows(int kind, const am_mm_args *a, int64_t r, int t, int T) {
    const size_t bs = kind == KQ_Q4_K ? sizeof(am_block_q4_k) : kind == KQ_Q5_K ? sizeof(am_block_q5_k) : sizeof(am_block_q6_k);
    const uint8_t *w = a->w + r * a->w_stride;
    const am_q8k *x[KT];
    _Pragma("GCC unroll 4") for (int j = 0; j < T; j++) x[j] = (const am_q8k *)(a->x + (t + j) * a->x_stride);
    __m256 acc[KT];
    _Pragma("GCC unroll 4") for (int j = 0; j < T; j++) acc[j] = _mm256_setzero_ps();
    kpk k;
    const int64_t nb = a->n_in / AM_QKK;
    for (int64_t b = 0; b < nb; b++) {
        unpack_k(kind, w + b * bs, &k);
        _Pragma("GCC unroll 4") for (int j = 0; j < T; j++) {
            const am_q8k *xb = x[j] + b;
            __m256i bsv = _mm256_loadu_si256((const __m256i *)xb->bsums);
            __m256i ai = kind == KQ_Q6_K ? _mm256_madd_epi16(k.mn, bsv) : _mm256_setzero_si256();
            for (int i = 0; i < 8; i++) {
                __m256i xv = _mm256_load_si256((const __m256i *)(xb->qs + 32 * i));
                ai = _mm256_add_epi32(ai, _mm256_madd_epi16(_mm256_maddubs_epi16(k.w[i], xv), k.sc[i]));
            }
            __m256 f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(k.d * xb->d), acc[j]);
            if (kind != KQ_Q6_K)
                f = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(k.mn, bsv)), _mm256_set1_ps(k.dmin * xb->d), f);
            acc[j] = f;
        }
    }
    for (int j = 0; j < T; j++) a->y[(t + j) * a->ldy + r] = hsum8(acc[j]);
}

#define K_TILES(name, kind)                                                                              \
    static void name##_t1(const am_mm_args *a, int64_t r, int t) { kq_rows(kind, a, r, t, 1); }           \
    static void name##_t2(const am_mm_args *a, int64_t r, int t) { kq_rows(kind, a, r, t, 2); }           \
    static void name##_t3(const am_mm_args *a, int64_t r, int t) { kq_rows(kind, a, r, t, 3); }           \
    static void name##_t4(const am_mm_args *a, int64_t r, int t) { kq_rows(kind, a, r, t, 4); }           \
    static void name(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {                         \
        static void (*const tiles[KT + 1])(const am_mm_args *, int64_t, int) = {                            \
            NULL, name##_t1, name##_t2, name##_t3, name##_t4};                                               \
        for (int64_t r = r0; r < r1; r++)                                                                     \
            for (int t = t0; t < t1; t += KT) tiles[t1 - t < KT ? t1 - t : KT](a, r, t);                     \
    }

K_TILES(mm_q4_k, KQ_Q4_K)
K_TILES(mm_q5_k, KQ_Q5_K)
K_TILES(mm_q6_k, KQ_Q6_K)

void am_kernels_init_avx2(am_kernels *k) {
    k->name = "avx2";
    k->quant_q8a = quant_q8a;
    k->quant_q8k = quant_q8k;
    k->mm[AM_KT_F32] = mm_f32;
    k->mm[AM_KT_F16] = mm_f16;
    k->mm[AM_KT_BF16] = mm_bf16;
    k->mm[AM_KT_Q4_0] = mm_q4_0;
    k->mm[AM_KT_Q8_0] = mm_q8_0;
    k->mm[AM_KT_Q4_K] = mm_q4_k;
    k->mm[AM_KT_Q5_K] = mm_q5_k;
    k->mm[AM_KT_Q6_K] = mm_q6_k;
}
