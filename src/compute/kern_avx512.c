/*
 * kern_avx512.c — AVX-512 (F/BW/DQ/VL) + VNNI + BF16 level: the table entry
 * point, activation quantizers (byte-identical to quant.c's), and the float
 * weight kernels (F32, F16, BF16 weights against float32 activations).
 * Compiled with the AVX-512 flags; reached only through dispatch.c after a
 * CPUID check.
 *
 * Float kernels: a register tile of 4 rows x up to 6 tokens, 16 inputs per
 * step, weights widened to f32 once per step and used by every token of the
 * tile (F16 via vcvtph2ps, BF16 by a 16-bit shift), products accumulated in
 * f32 lanes with FMA and summed across lanes at the end. Activations stay
 * f32: exact against the scalar reference up to summation order. BF16
 * weights' prefill normally does not come here: with am_compute_bf16_act()
 * (the default) it rounds activations to bf16 and uses vdpbf16ps
 * (kern_bf16_avx512.c, ~2x faster, ~4e-3 relative logits); mmxt_bf16 below
 * is its f32 path (AGENTMEM_BF16_ACT=0), decode always uses mm_bf16.
 */
#include "compute/kern_avx512.h"

#include <math.h>

/* ---- activation quantizers ------------------------------------------------------- */

AM_INLINE __m512i quant16(__m512 v, __m512 id) { return _mm512_cvtps_epi32(_mm512_mul_ps(v, id)); }

static void quant_q8a(const float *x, am_q8a *dst, int64_t n) {
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / AM_QK; i++, x += AM_QK) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        __m512 m = _mm512_max_ps(_mm512_and_ps(v0, absmask), _mm512_and_ps(v1, absmask));
        float amax = _mm512_reduce_max_ps(m);
        float id = amax > 0 ? 127.0f / amax : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i q0 = quant16(v0, vid), q1 = quant16(v1, vid);
        _mm_storeu_si128((__m128i *)dst[i].qs, _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(dst[i].qs + 16), _mm512_cvtsepi32_epi8(q1));
        dst[i].s = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        dst[i].d = amax / 127.0f;
    }
}

static void quant_q8k(const float *x, am_q8k *dst, int64_t n) {
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / AM_QKK; i++, x += AM_QKK) {
        __m512 m = _mm512_setzero_ps();
        for (int j = 0; j < 16; j++) m = _mm512_max_ps(m, _mm512_and_ps(_mm512_loadu_ps(x + 16 * j), absmask));
        float amax = _mm512_reduce_max_ps(m);
        float id = amax > 0 ? 127.0f / amax : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        for (int j = 0; j < 16; j++) {
            __m512i q = quant16(_mm512_loadu_ps(x + 16 * j), vid);
            _mm_storeu_si128((__m128i *)(dst[i].qs + 16 * j), _mm512_cvtsepi32_epi8(q));
            dst[i].bsums[j] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        dst[i].d = amax / 127.0f;
        memset(dst[i].pad_, 0, sizeof dst[i].pad_);
    }
}

/* ---- float weights ----------------------------------------------------------------- */

enum { FK_F32, FK_F16, FK_BF16 };

AM_INLINE __m512 load_w(int kind, const uint8_t *p, int64_t i) {
    if (kind == FK_F32) return _mm512_loadu_ps((const float *)p + i);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i));
    if (kind == FK_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AM_INLINE __m512 load_w_tail(int kind, const uint8_t *p, int64_t i, __mmask16 m) {
    if (kind == FK_F32) return _mm512_maskz_loadu_ps(m, (const float *)p + i);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i);
    if (kind == FK_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

#define FR 4 /* rows per tile */

/* y[t][r] for FR rows starting at r (rows past r_end computed on a repeated row and not
 * stored) and T tokens starting at t. */
AM_INLINE void f_tile(int kind, const am_mm_args *a, int64_t r, int64_t r_end, int t, int T) {
    const uint8_t *w[FR];
    _Pragma("GCC unroll 16")
    for (int i = 0; i < FR; i++) w[i] = a->w + (r + i < r_end ? r + i : r_end - 1) * a->w_stride;
    const float *x[6];
    _Pragma("GCC unroll 16")
    for (int j = 0; j < T; j++) x[j] = (const float *)(a->x + (t + j) * a->x_stride);
    __m512 acc[FR][6];
    _Pragma("GCC unroll 16")
    for (int i = 0; i < FR; i++)
        _Pragma("GCC unroll 16")
        for (int j = 0; j < T; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t n = a->n_in, k = 0;
    /* Decode: fetch the next tile's rows (contiguous) evenly over this tile's steps; the
     * hardware prefetcher alone does not keep 4 interleaved row streams fed. */
    const size_t esz = kind == FK_F32 ? 4 : 2, pf_step = FR * 16 * esz;
    const uint8_t *pf = a->w + (r + FR) * a->w_stride;
    const int do_pf = T <= 2 && r + FR < r_end;
    for (; k + 16 <= n; k += 16) {
        if (do_pf)
            for (size_t o = 0; o < pf_step; o += 64) _mm_prefetch((const char *)pf + (k / 16) * pf_step + o, _MM_HINT_T0);
        __m512 wv[FR];
        _Pragma("GCC unroll 16")
        for (int i = 0; i < FR; i++) wv[i] = load_w(kind, w[i], k);
        _Pragma("GCC unroll 16")
        for (int j = 0; j < T; j++) {
            __m512 xv = _mm512_loadu_ps(x[j] + k);
            _Pragma("GCC unroll 16")
            for (int i = 0; i < FR; i++) acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
        }
    }
    if (k < n) {
        __mmask16 m = (__mmask16)((1u << (n - k)) - 1);
        __m512 wv[FR];
        _Pragma("GCC unroll 16")
        for (int i = 0; i < FR; i++) wv[i] = load_w_tail(kind, w[i], k, m);
        _Pragma("GCC unroll 16")
        for (int j = 0; j < T; j++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x[j] + k);
            _Pragma("GCC unroll 16")
            for (int i = 0; i < FR; i++) acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
        }
    }
    _Pragma("GCC unroll 16")
    for (int j = 0; j < T; j++)
        _Pragma("GCC unroll 16")
        for (int i = 0; i < FR; i++)
            if (r + i < r_end) a->y[(t + j) * a->ldy + r + i] = _mm512_reduce_add_ps(acc[i][j]);
}

#define F_TILES(name, kind)                                                                               \
    static void name##_t1(const am_mm_args *a, int64_t r, int64_t e, int t) { f_tile(kind, a, r, e, t, 1); } \
    static void name##_t2(const am_mm_args *a, int64_t r, int64_t e, int t) { f_tile(kind, a, r, e, t, 2); } \
    static void name##_t3(const am_mm_args *a, int64_t r, int64_t e, int t) { f_tile(kind, a, r, e, t, 3); } \
    static void name##_t4(const am_mm_args *a, int64_t r, int64_t e, int t) { f_tile(kind, a, r, e, t, 4); } \
    static void name##_t5(const am_mm_args *a, int64_t r, int64_t e, int t) { f_tile(kind, a, r, e, t, 5); } \
    static void name##_t6(const am_mm_args *a, int64_t r, int64_t e, int t) { f_tile(kind, a, r, e, t, 6); } \
    static void name(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {                          \
        static void (*const tiles[7])(const am_mm_args *, int64_t, int64_t, int) = {                         \
            NULL, name##_t1, name##_t2, name##_t3, name##_t4, name##_t5, name##_t6};                          \
        for (int64_t r = r0; r < r1; r += FR)                                                                  \
            for (int t = t0; t < t1; t += 6) tiles[t1 - t < 6 ? t1 - t : 6](a, r, r1, t);                     \
    }

F_TILES(mm_f32, FK_F32)
F_TILES(mm_f16, FK_F16)
F_TILES(mm_bf16, FK_BF16)

/* ---- float weights, prefill: outer products against transposed activations -------- */

/* With activations transposed in 16-token groups (AM_ACT_XT), one zmm holds one input of
 * 16 tokens; each weight becomes a broadcast operand of an FMA, and a tile of 8 rows x 32
 * tokens keeps 16 accumulators with 2 vector loads and 8 broadcasts per 16 FMAs. Weights
 * are widened to f32 into an L1 buffer per k-block. No horizontal sums: the accumulators
 * are the outputs, scattered to y[token][row]. */
#define XR 8     /* rows per tile */
#define XKC 128  /* inputs per k-block: 32 tokens x 128 inputs = 16 KiB of activations */
#define XMAXR 64 /* rows per call handled in one sweep (matmul.c's prefill chunks are 64) */

/* acc[XR][TT] (in memory) += rows w[0..XR) x tokens of groups x0/x1, inputs [k0, k0+kc). */
AM_INLINE void xt_block(int kind, const uint8_t *const *w, int64_t k0, int kc, const float *x0, const float *x1,
                        __m512 *accmem, int TT) {
    float wbuf[XR][XKC] __attribute__((aligned(64)));
    for (int i = 0; i < XR; i++) {
        int k = 0;
        for (; k + 16 <= kc; k += 16) _mm512_store_ps(&wbuf[i][k], load_w(kind, w[i], k0 + k));
        if (k < kc) _mm512_store_ps(&wbuf[i][k], load_w_tail(kind, w[i], k0 + k, (__mmask16)((1u << (kc - k)) - 1)));
    }
    /* each k-block sums from zero and is then added in: chains of XKC terms, not n_in */
    __m512 acc[XR][2];
    _Pragma("GCC unroll 8") for (int i = 0; i < XR; i++)
        _Pragma("GCC unroll 2") for (int g = 0; g < TT; g++) acc[i][g] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 xv0 = _mm512_load_ps(x0 + k * AM_XT_GROUP), xv1 = TT > 1 ? _mm512_load_ps(x1 + k * AM_XT_GROUP) : xv0;
        _Pragma("GCC unroll 8") for (int i = 0; i < XR; i++) {
            __m512 wb = _mm512_set1_ps(wbuf[i][k]);
            acc[i][0] = _mm512_fmadd_ps(wb, xv0, acc[i][0]);
            if (TT > 1) acc[i][1] = _mm512_fmadd_ps(wb, xv1, acc[i][1]);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < XR; i++)
        _Pragma("GCC unroll 2") for (int g = 0; g < TT; g++) accmem[2 * i + g] = _mm512_add_ps(accmem[2 * i + g], acc[i][g]);
}

/* Rows [r0, r1) (at most XMAXR) x tokens [t, t+16*TT) clipped to t_end: for each k-block the
 * activation tile stays in L1 while every row tile passes over it. */
AM_INLINE void xt_sweep(int kind, const am_mm_args *a, int64_t r0, int64_t r1, int t, int t_end, int TT) {
    __m512 accs[XMAXR / XR][2 * XR] __attribute__((aligned(64)));
    const int nrt = (int)((r1 - r0 + XR - 1) / XR);
    for (int rt = 0; rt < nrt; rt++)
        for (int k = 0; k < 2 * XR; k++) accs[rt][k] = _mm512_setzero_ps();
    const float *xg0 = (const float *)(a->x + (size_t)(t / AM_XT_GROUP) * a->x_stride);
    const float *xg1 = TT > 1 ? (const float *)(a->x + (size_t)(t / AM_XT_GROUP + 1) * a->x_stride) : xg0;
    const int64_t n = a->n_in;
    for (int64_t k0 = 0; k0 < n; k0 += XKC) {
        int kc = n - k0 < XKC ? (int)(n - k0) : XKC;
        for (int rt = 0; rt < nrt; rt++) {
            const uint8_t *w[XR];
            int64_t r = r0 + rt * XR;
            for (int i = 0; i < XR; i++) w[i] = a->w + (r + i < r1 ? r + i : r1 - 1) * a->w_stride;
            xt_block(kind, w, k0, kc, xg0 + k0 * AM_XT_GROUP, xg1 + k0 * AM_XT_GROUP, accs[rt], TT);
        }
    }
    const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)a->ldy));
    for (int g = 0; g < TT; g++) {
        int valid = t_end - (t + AM_XT_GROUP * g);
        __mmask16 m = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
        float *yb = a->y + (int64_t)(t + AM_XT_GROUP * g) * a->ldy;
        for (int64_t r = r0; r < r1; r++)
            _mm512_mask_i32scatter_ps(yb + r, m, lanes, accs[(r - r0) / XR][2 * ((r - r0) % XR) + g], 4);
    }
}

#define XT_KERNEL(name, kind)                                                                                      \
    static void name##_g1(const am_mm_args *a, int64_t r0, int64_t r1, int t, int te) { xt_sweep(kind, a, r0, r1, t, te, 1); } \
    static void name##_g2(const am_mm_args *a, int64_t r0, int64_t r1, int t, int te) { xt_sweep(kind, a, r0, r1, t, te, 2); } \
    static void name(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {                                   \
        for (int64_t r = r0; r < r1; r += XMAXR) {                                                                      \
            int64_t re = r1 - r < XMAXR ? r1 : r + XMAXR;                                                               \
            for (int t = t0; t < t1; t += 2 * AM_XT_GROUP) {                                                             \
                if (t1 - t > AM_XT_GROUP) name##_g2(a, r, re, t, t1);                                                   \
                else name##_g1(a, r, re, t, t1);                                                                        \
            }                                                                                                           \
        }                                                                                                               \
    }

XT_KERNEL(mmxt_f32, FK_F32)
XT_KERNEL(mmxt_f16, FK_F16)
XT_KERNEL(mmxt_bf16, FK_BF16)

void am_kernels_init_avx512(am_kernels *k) {
    k->mm_xt[AM_KT_F32] = mmxt_f32;
    k->mm_xt[AM_KT_F16] = mmxt_f16;
    k->mm_xt[AM_KT_BF16] = mmxt_bf16;
    k->name = "avx512";
    k->quant_q8a = quant_q8a;
    k->quant_q8k = quant_q8k;
    k->mm[AM_KT_F32] = mm_f32;
    k->mm[AM_KT_F16] = mm_f16;
    k->mm[AM_KT_BF16] = mm_bf16;
    am_avx512_init_q80(k);
    am_avx512_init_qk(k);
    am_avx512_init_q6p(k);
    am_avx512_init_bf16(k);
}
