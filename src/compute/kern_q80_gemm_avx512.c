/*
 * kern_q80_gemm_avx512.c — Q4_0 / Q8_0 prefill (many tokens) with AVX-512 VNNI.
 * Compiled with the AVX-512 flags; reached only from kern_q80_avx512.c.
 *
 * Layout: one int32 lane per row. A 16-row tile of one 32-element block is
 * repacked (transposed) into 8 zmm, w[g] lane i = row i's elements 4g..4g+3 as
 * unsigned bytes (Q4_0 nibbles 0..15, Q8_0 bytes xor 0x80), plus the 16 row
 * scales as f32. A token's 4 activation bytes of group g are broadcast to all
 * lanes, so 8 vpdpbusd leave each lane with the exact int32 block dot of its
 * row (the weights' +8 / +128 offset cancelled by starting at -8s / -128s);
 * then one convert and one FMA with d_w * d_x per block, and the 16 lanes are
 * already the 16 outputs (no horizontal sums). That is 8 integer ops to 3
 * float ops per block (the decode kernel of kern_q80_avx512.c shares the layout but
 * transposes in registers per block, with all tokens in registers: no L1 buffer).
 *
 * Loop order per call: 32-row register tiles (GR x 16 rows); for each k-block
 * of GKB blocks the tile is repacked into an L1 buffer (GKB*GR*576 bytes) and
 * swept by GT-token register tiles of up to GTG tokens, whose f32 accumulators
 * live in memory between k-blocks. Packed tensors (AM_LAYOUT_TILE16) fill the same buffer
 * by aligned loads (unpack16) instead of the transposes; the buffer stays because a
 * block is then split once (Q4_0 nibbles) for all the call's tokens. Float summation order equals the scalar
 * kernel's (block by block, in order), so results match it closely.
 */
#include "compute/kern_avx512.h"

#define GR 2    /* 16-row tiles per register tile */
#define GT 6    /* tokens per register tile */
#define GKB 8   /* 32-blocks per k-block: buffer GKB*GR*576 = 9 KiB */
#define GTG 132 /* tokens per accumulator group (a multiple of GT): 22 tiles, 16.5 KiB */

typedef struct {
    __m512i w[8]; /* w[g] lane i: row i, elements 4g..4g+3 */
    __m512 d;     /* lane i: row i's block scale */
} gpk;

/* Block b of the 16 rows at byte offsets o from w0. */
AM_INLINE void pack16(int q8, const uint8_t *w0, const int32_t *o, int64_t b, size_t bs, gpk *k) {
    const uint8_t *p[16];
    uint16_t d[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) {
        p[i] = w0 + o[i] + b * bs;
        memcpy(&d[i], p[i], 2);
    }
    k->d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d));
    __m512i t[4];
    load16x16(p, 2, t);
    if (q8) {
        const __m512i flip = _mm512_set1_epi32((int)0x80808080u);
        _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) k->w[g] = _mm512_xor_si512(t[g], flip);
        load16x16(p, 18, t);
        _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) k->w[g + 4] = _mm512_xor_si512(t[g], flip);
    } else {
        /* qs dword g: low nibbles are elements 4g.., high nibbles elements 16+4g.. */
        const __m512i lo = _mm512_set1_epi8(0x0F);
        _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
            k->w[g] = _mm512_and_si512(t[g], lo);
            k->w[g + 4] = _mm512_and_si512(_mm512_srli_epi32(t[g], 4), lo);
        }
    }
}

/* Block b of the packed 16-row tile at tile (AM_LAYOUT_TILE16): aligned loads of what
 * pack16 builds by transposing. */
AM_INLINE void unpack16(int q8, const uint8_t *tile, int64_t nb, int64_t b, gpk *k) {
    const size_t qb = am_tile16_qbytes(q8);
    const __m512i *q = (const __m512i *)(tile + (size_t)b * qb);
    k->d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(tile + (size_t)nb * qb + (size_t)b * 32)));
    if (q8) {
        _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) k->w[g] = _mm512_load_si512(q + g);
    } else {
        const __m512i lo = _mm512_set1_epi8(0x0F);
        _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
            __m512i v = _mm512_load_si512(q + g);
            k->w[g] = _mm512_and_si512(v, lo);
            k->w[g + 4] = _mm512_and_si512(_mm512_srli_epi32(v, 4), lo);
        }
    }
}

/* acc[GR][T] (in memory) += packed blocks [0, nk) against tokens x[0..T) at block b0. */
AM_INLINE void gemm_tile(int q8, const gpk *buf, int nk, const am_q8a *const *x, int64_t b0, __m512 *accmem, int T) {
    __m512 acc[GR][GT];
    _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++)
        _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) acc[r][j] = accmem[r * GT + j];
    for (int b = 0; b < nk; b++) {
        __m512i s[GR][GT];
        _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) {
            __m512i init = _mm512_set1_epi32((q8 ? -128 : -8) * x[j][b0 + b].s);
            _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++) s[r][j] = init;
        }
        _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++)
            _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++) {
                __m512i wv = _mm512_load_si512(&buf[b * GR + r].w[g]);
                _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) {
                    int32_t xq;
                    memcpy(&xq, x[j][b0 + b].qs + 4 * g, 4);
                    s[r][j] = _mm512_dpbusd_epi32(s[r][j], wv, _mm512_set1_epi32(xq));
                }
            }
        _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++) {
            __m512 dw = buf[b * GR + r].d;
            _Pragma("GCC unroll 8") for (int j = 0; j < T; j++)
                acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r][j]), _mm512_mul_ps(dw, _mm512_set1_ps(x[j][b0 + b].d)), acc[r][j]);
        }
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < GR; r++)
        _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) accmem[r * GT + j] = acc[r][j];
}

typedef void (*tile_fn)(const gpk *, int, const am_q8a *const *, int64_t, __m512 *);

#define TILES(q8)                                                                                                   \
    static void tile##q8##_1(const gpk *b, int n, const am_q8a *const *x, int64_t k, __m512 *m) { gemm_tile(q8, b, n, x, k, m, 1); } \
    static void tile##q8##_2(const gpk *b, int n, const am_q8a *const *x, int64_t k, __m512 *m) { gemm_tile(q8, b, n, x, k, m, 2); } \
    static void tile##q8##_3(const gpk *b, int n, const am_q8a *const *x, int64_t k, __m512 *m) { gemm_tile(q8, b, n, x, k, m, 3); } \
    static void tile##q8##_4(const gpk *b, int n, const am_q8a *const *x, int64_t k, __m512 *m) { gemm_tile(q8, b, n, x, k, m, 4); } \
    static void tile##q8##_5(const gpk *b, int n, const am_q8a *const *x, int64_t k, __m512 *m) { gemm_tile(q8, b, n, x, k, m, 5); } \
    static void tile##q8##_6(const gpk *b, int n, const am_q8a *const *x, int64_t k, __m512 *m) { gemm_tile(q8, b, n, x, k, m, 6); }
TILES(0)
TILES(1)
_Static_assert(GT == 6, "one tile function per token count 1..GT");
static const tile_fn TILE_FNS[2][GT + 1] = {
    {NULL, tile0_1, tile0_2, tile0_3, tile0_4, tile0_5, tile0_6},
    {NULL, tile1_1, tile1_2, tile1_3, tile1_4, tile1_5, tile1_6},
};

int am_avx512_q80_gemm_ok(const am_mm_args *a) {
    return (int64_t)a->w_stride * (16 * GR) <= INT32_MAX; /* row offsets are int32 */
}

/* packed: a->w is AM_LAYOUT_TILE16 (w_stride = a tile's bytes), else the row layout. */
AM_INLINE void q80_gemm(int q8, int packed, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    const size_t bs = q8 ? sizeof(am_block_q8_0) : sizeof(am_block_q4_0);
    const int64_t nb = a->n_in / AM_QK;
    const tile_fn *fns = TILE_FNS[q8];
    gpk buf[GKB * GR] __attribute__((aligned(64)));
    __m512 accs[GTG / GT][GR * GT] __attribute__((aligned(64)));
    for (int64_t r = r0; r < r1; r += 16 * GR) {
        const uint8_t *w0 = packed ? a->w + (size_t)(r / 16) * a->w_stride : a->w + r * a->w_stride;
        int32_t o[GR][16];
        __mmask16 keep[GR];
        for (int rt = 0; rt < GR; rt++) {
            keep[rt] = 0;
            for (int i = 0; i < 16; i++) {
                int64_t row = r + 16 * rt + i;
                if (row < r1) keep[rt] |= (__mmask16)(1u << i);
                if (!packed) o[rt][i] = (int32_t)(((row < r1 ? row : r1 - 1) - r) * (int64_t)a->w_stride); /* tail rows repeat the last */
            }
        }
        for (int tg = t0; tg < t1; tg += GTG) {
            int nt = t1 - tg < GTG ? t1 - tg : GTG, ntiles = (nt + GT - 1) / GT;
            const am_q8a *x[GTG];
            for (int j = 0; j < nt; j++) x[j] = (const am_q8a *)(a->x + (size_t)(tg + j) * a->x_stride);
            for (int i = 0; i < ntiles; i++)
                for (int k = 0; k < GR * GT; k++) accs[i][k] = _mm512_setzero_ps();
            for (int64_t kb = 0; kb < nb; kb += GKB) {
                int nk = nb - kb < GKB ? (int)(nb - kb) : GKB;
                for (int b = 0; b < nk; b++)
                    for (int rt = 0; rt < GR; rt++) {
                        if (!packed) pack16(q8, w0, o[rt], kb + b, bs, &buf[b * GR + rt]);
                        else if (keep[rt]) unpack16(q8, w0 + rt * a->w_stride, nb, kb + b, &buf[b * GR + rt]);
                        else memset(&buf[b * GR + rt], 0, sizeof buf[0]); /* past r1: maybe past the tensor */
                    }
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

void am_avx512_q80_gemm(int q8, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    q80_gemm(q8, 0, a, r0, r1, t0, t1);
}

void am_avx512_q80p_gemm(int q8, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    q80_gemm(q8, 1, a, r0, r1, t0, t1);
}
