/*
 * kern_qk_gemm_avx512.c — Q4_K / Q5_K / Q6_K prefill (many tokens) with AVX-512 VNNI.
 * Compiled with the AVX-512 flags; reached only from kern_qk_avx512.c.
 *
 * The layout of kern_q80_gemm_avx512.c applied to 256-element super-blocks:
 * one int32 lane per row; a 16-row tile of one super-block is transposed into
 * 64 zmm, w[8*sb + g] lane i = row i's levels 4g..4g+3 of sub-block sb (0..15,
 * Q5_K 0..31), unsigned. 8 vpdpbusd against a token's broadcast activation
 * bytes give each row's exact dot for a 32-element sub-block; vpmulld by the
 * row's 6-bit sub-block scale and an add accumulate the super-block in int32.
 * The mins term, sum_sb m_sb * (sum of the sub-block's activations), is 8
 * vpdpwssd of (m, m) word pairs against the activation's 16-element sums.
 * Then per super-block: acc += d*dx * isum - dmin*dx * msum in f32, the
 * scalar kernel's order of float steps. Integer sums cannot overflow:
 * |isum| <= 256 * 31 * 63 * 127.
 * Q6_K: 16 sub-blocks of 16 (4 vpdpbusd each) with signed 8-bit scales, levels
 * 0..63; the -32 offset, -32 * sum_sb sc_sb * (sub-block activation sum), is
 * 8 vpdpwssd of (-32 sc, -32 sc') word pairs into the same int32 sum (same
 * scale d): |isum| <= 256 * 63 * 128 * 127 + 256 * 32 * 128 * 127 < 2^31.
 */
#include "compute/kern_avx512.h"

#define GR 2   /* 16-row tiles per register tile */
#define GT 4   /* tokens per register tile */
#define GKB 1   /* super-blocks per k-block: buffer GKB*GR*5.8 KiB (2 measured no faster) */
#define GTG 128 /* tokens per accumulator group (a multiple of GT): 32 tiles, 16 KiB */

enum { GK_Q4_K, GK_Q5_K, GK_Q6_K };

typedef struct {
    __m512i w[64];  /* w[G] lane i: row i, levels 4G..4G+3 (sub-block G/8, Q6_K G/4) */
    __m512i sc[16]; /* lane i: row i's scale of sub-block sb (int32); Q4_K/Q5_K: 8 */
    __m512i mn[8];  /* Q4_K/Q5_K: row i's min of sub-block p in both words;
                     * Q6_K: -32 * (scale 2p, scale 2p+1) as words */
    __m512 d, dmin;
} kgpk;

/* Q6_K: elements 4G.. with G = 32h + 8q + g: nibbles of ql dword 16h + g (q = 0, 2: low,
 * high) or 16h + 8 + g (q = 1, 3), high bits 2q, 2q+1 of qh dword 8h + g's bytes. */
AM_INLINE void pack16_q6(const uint8_t *const *p, kgpk *k) {
    uint16_t d[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) memcpy(&d[i], p[i] + offsetof(am_block_q6_k, d), 2);
    k->d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d));
    k->dmin = _mm512_setzero_ps();
    __m512i t[4];
    load16x16(p, offsetof(am_block_q6_k, scales), t); /* t[c] lane i: row i's scales 4c..4c+3 */
    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
        _Pragma("GCC unroll 4") for (int b = 0; b < 4; b++)
            k->sc[4 * c + b] = _mm512_srai_epi32(_mm512_slli_epi32(t[c], 24 - 8 * b), 24);
    const __m512i m32 = _mm512_set1_epi32(-32), lo16 = _mm512_set1_epi32(0xFFFF);
    _Pragma("GCC unroll 8") for (int q = 0; q < 8; q++)
        k->mn[q] = _mm512_or_si512(_mm512_and_si512(_mm512_mullo_epi32(k->sc[2 * q], m32), lo16),
                                   _mm512_slli_epi32(_mm512_mullo_epi32(k->sc[2 * q + 1], m32), 16));
    const __m512i lo = _mm512_set1_epi8(0x0F), three = _mm512_set1_epi8(0x03);
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++)
        _Pragma("GCC unroll 2") for (int g4 = 0; g4 < 8; g4 += 4) {
            __m512i ta[4], tb[4], th[4];
            load16x16(p, offsetof(am_block_q6_k, ql) + 64 * h + 4 * g4, ta);
            load16x16(p, offsetof(am_block_q6_k, ql) + 64 * h + 32 + 4 * g4, tb);
            load16x16(p, offsetof(am_block_q6_k, qh) + 32 * h + 4 * g4, th);
            _Pragma("GCC unroll 4") for (int gg = 0; gg < 4; gg++) {
                __m512i a = ta[gg], b = tb[gg];
                __m512i nib[4] = {_mm512_and_si512(a, lo), _mm512_and_si512(b, lo), _mm512_and_si512(_mm512_srli_epi32(a, 4), lo),
                                  _mm512_and_si512(_mm512_srli_epi32(b, 4), lo)};
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
                    __m512i hb = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(th[gg], 2 * q), three), 4);
                    k->w[32 * h + 8 * q + g4 + gg] = _mm512_or_si512(nib[q], hb);
                }
            }
        }
}

/* Super-block b of the 16 rows at byte offsets o from w0 (transposed by load16x16). */
AM_INLINE void pack16(int kind, const uint8_t *w0, const int32_t *o, int64_t b, size_t bs, kgpk *k) {
    const uint8_t *p[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) p[i] = w0 + o[i] + b * bs;
    if (kind == GK_Q6_K) {
        pack16_q6(p, k);
        return;
    }
    const int q5 = kind == GK_Q5_K;
    uint32_t dd[16]; /* f16 d | f16 dmin << 16 */
    uint8_t sc[8][16], mn[8][16];
    for (int i = 0; i < 16; i++) {
        memcpy(&dd[i], p[i], 4);
        uint8_t s, m;
        for (int sb = 0; sb < 8; sb++) {
            am_q4k_scale_min(sb, p[i] + 4, &s, &m);
            sc[sb][i] = s;
            mn[sb][i] = m;
        }
    }
    __m512i ddv = _mm512_loadu_si512(dd);
    k->d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(ddv));
    k->dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(ddv, 16)));
    _Pragma("GCC unroll 8") for (int sb = 0; sb < 8; sb++) {
        k->sc[sb] = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)sc[sb]));
        __m512i m = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)mn[sb]));
        k->mn[sb] = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));
    }
    const size_t qs_off = q5 ? offsetof(am_block_q5_k, qs) : offsetof(am_block_q4_k, qs);
    const __m512i lo = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(0x01);
    _Pragma("GCC unroll 2") for (int g4 = 0; g4 < 8; g4 += 4) {
        /* qh bytes 4g..4g+3: bit sb of each byte is bit 4 of sub-block sb's level */
        __m512i th[4];
        if (q5) load16x16(p, offsetof(am_block_q5_k, qh) + 4 * g4, th);
        _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
            /* qs chunk c, bytes 4g..: low nibbles sub-block 2c, high nibbles 2c+1 */
            __m512i t[4];
            load16x16(p, qs_off + 32 * c + 4 * g4, t);
            _Pragma("GCC unroll 4") for (int gg = 0; gg < 4; gg++) {
                __m512i l = _mm512_and_si512(t[gg], lo), h = _mm512_and_si512(_mm512_srli_epi32(t[gg], 4), lo);
                if (q5) {
                    l = _mm512_or_si512(l, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(th[gg], 2 * c), one), 4));
                    h = _mm512_or_si512(h, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(th[gg], 2 * c + 1), one), 4));
                }
                k->w[8 * (2 * c) + g4 + gg] = l;
                k->w[8 * (2 * c + 1) + g4 + gg] = h;
            }
        }
    }
}

/* acc[GR][T] (in memory) += packed super-blocks [0, nk) against tokens x[0..T) at b0. */
AM_INLINE void gemm_tile(int q6, const kgpk *buf, int nk, const am_q8k *const *x, int64_t b0, __m512 *accmem, int T) {
    const int nsb = q6 ? 16 : 8, gps = q6 ? 4 : 8; /* sub-blocks, 4-element groups per sub-block */
    __m512 acc[GR][GT];
    _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++)
        _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) acc[r][j] = accmem[r * GT + j];
    for (int b = 0; b < nk; b++) {
        const kgpk *k = &buf[b * GR];
        __m512i is[GR][GT];
        _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++)
            _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) is[r][j] = _mm512_setzero_si512();
        for (int sb = 0; sb < nsb; sb++) {
            __m512i s[GR][GT];
            _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++)
                _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) s[r][j] = _mm512_setzero_si512();
            _Pragma("GCC unroll 8") for (int g = 0; g < gps; g++)
                _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++) {
                    const int G = gps * sb + g;
                    __m512i wv = _mm512_load_si512(&k[r].w[G]);
                    _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) {
                        int32_t xq;
                        memcpy(&xq, x[j][b0 + b].qs + 4 * G, 4);
                        s[r][j] = _mm512_dpbusd_epi32(s[r][j], wv, _mm512_set1_epi32(xq));
                    }
                }
            _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++) {
                __m512i scv = _mm512_load_si512(&k[r].sc[sb]);
                _Pragma("GCC unroll 8") for (int j = 0; j < T; j++)
                    is[r][j] = _mm512_add_epi32(is[r][j], _mm512_mullo_epi32(s[r][j], scv));
            }
        }
        _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++)
            _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) {
                const am_q8k *xb = x[j] + b0 + b;
                /* word pairs of mn against bsums pairs: Q4_K/Q5_K p = sub-block (both words its
                 * min, the pair its two 16-sums); Q6_K p = sub-blocks 2p, 2p+1 */
                __m512i ms = q6 ? is[r][j] : _mm512_setzero_si512();
                _Pragma("GCC unroll 8") for (int p = 0; p < 8; p++) {
                    int32_t bp;
                    memcpy(&bp, &xb->bsums[2 * p], 4);
                    ms = _mm512_dpwssd_epi32(ms, k[r].mn[p], _mm512_set1_epi32(bp));
                }
                __m512 dx = _mm512_set1_ps(xb->d);
                if (q6) {
                    acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(k[r].d, dx), acc[r][j]);
                } else {
                    __m512 f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[r][j]), _mm512_mul_ps(k[r].d, dx), acc[r][j]);
                    acc[r][j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(k[r].dmin, dx), f);
                }
            }
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++)
        _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) accmem[r * GT + j] = acc[r][j];
}

typedef void (*tile_fn)(const kgpk *, int, const am_q8k *const *, int64_t, __m512 *);

#define TILES(q6)                                                                                                   \
    static void tile##q6##_1(const kgpk *b, int n, const am_q8k *const *x, int64_t k, __m512 *m) { gemm_tile(q6, b, n, x, k, m, 1); } \
    static void tile##q6##_2(const kgpk *b, int n, const am_q8k *const *x, int64_t k, __m512 *m) { gemm_tile(q6, b, n, x, k, m, 2); } \
    static void tile##q6##_3(const kgpk *b, int n, const am_q8k *const *x, int64_t k, __m512 *m) { gemm_tile(q6, b, n, x, k, m, 3); } \
    static void tile##q6##_4(const kgpk *b, int n, const am_q8k *const *x, int64_t k, __m512 *m) { gemm_tile(q6, b, n, x, k, m, 4); }
TILES(0)
TILES(1)
_Static_assert(GT == 4, "one tile function per token count 1..GT");
static const tile_fn TILE_FNS[2][GT + 1] = {{NULL, tile0_1, tile0_2, tile0_3, tile0_4}, {NULL, tile1_1, tile1_2, tile1_3, tile1_4}};

int am_avx512_qk_gemm_ok(const am_mm_args *a) {
    return (int64_t)a->w_stride * (16 * GR) <= INT32_MAX; /* row offsets are int32 */
}

void am_avx512_qk_gemm(int kind, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    const size_t bs = kind == GK_Q6_K ? sizeof(am_block_q6_k) : kind == GK_Q5_K ? sizeof(am_block_q5_k) : sizeof(am_block_q4_k);
    const tile_fn *fns = TILE_FNS[kind == GK_Q6_K];
    const int64_t nb = a->n_in / AM_QKK;
    kgpk buf[GKB * GR] __attribute__((aligned(64)));
    __m512 accs[GTG / GT][GR * GT] __attribute__((aligned(64)));
    for (int64_t r = r0; r < r1; r += 16 * GR) {
        const uint8_t *w0 = a->w + r * a->w_stride;
        int32_t o[GR][16];
        __mmask16 keep[GR];
        for (int rt = 0; rt < GR; rt++) {
            keep[rt] = 0;
            for (int i = 0; i < 16; i++) {
                int64_t row = r + 16 * rt + i;
                if (row < r1) keep[rt] |= (__mmask16)(1u << i);
                o[rt][i] = (int32_t)(((row < r1 ? row : r1 - 1) - r) * (int64_t)a->w_stride); /* tail rows repeat the last */
            }
        }
        for (int tg = t0; tg < t1; tg += GTG) {
            int nt = t1 - tg < GTG ? t1 - tg : GTG, ntiles = (nt + GT - 1) / GT;
            const am_q8k *x[GTG];
            for (int j = 0; j < nt; j++) x[j] = (const am_q8k *)(a->x + (size_t)(tg + j) * a->x_stride);
            for (int i = 0; i < ntiles; i++)
                for (int k = 0; k < GR * GT; k++) accs[i][k] = _mm512_setzero_ps();
            for (int64_t kb = 0; kb < nb; kb += GKB) {
                int nk = nb - kb < GKB ? (int)(nb - kb) : GKB;
                for (int b = 0; b < nk; b++)
                    for (int rt = 0; rt < GR; rt++) pack16(kind, w0, o[rt], kb + b, bs, &buf[b * GR + rt]);
                for (int i = 0; i < ntiles; i++) {
                    int T = nt - i * GT < GT ? nt - i * GT : GT;
                    fns[T](buf, nk, x + i * GT, kb, accs[i]);
                }
            }
            for (int i = 0; i < ntiles; i++)
                for (int j = 0; j < GT && i * GT + j < nt; j++) {
                    float *yr = a->y + (int64_t)(tg + i * GT + j) * a->ldy + r;
                    for (int rt = 0; rt < GR; rt++)
                        if (keep[rt]) _mm512_mask_storeu_ps(yr + 16 * rt, keep[rt], accs[i][rt * GT + j]);
                }
        }
    }
}
