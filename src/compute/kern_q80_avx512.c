/*
 * kern_q80_avx512.c — Q4_0 and Q8_0 weights against am_q8a activations with
 * AVX-512 VNNI: the table entries, and the decode kernel (1 to 8 tokens per
 * pass over W). Compiled with the AVX-512 flags; reached only through
 * dispatch.c after a CPUID check. 9 tokens or more go to
 * kern_q80_gemm_avx512.c (weight tiles repacked into an L1 buffer and swept
 * by many tokens).
 *
 * Decode streams W from memory once per step, so what counts is the cost per
 * weight block, for all tokens of the step together. Layout: one int32 lane
 * per row. Per 16-row tile and 32-element block the 16 rows are transposed in
 * registers (load16x16) into 8 zmm, w[g] lane i = row i's elements 4g..4g+3
 * as unsigned bytes (Q4_0 nibbles 0..15, Q8_0 bytes xor 0x80), plus the 16
 * row scales as f32; each token then costs 8 vpdpbusd (its activation dword
 * g broadcast to all lanes, the weights' +8 / +128 offset cancelled by
 * starting at -8s / -128s), one convert and one FMA, and the 16 lanes are the
 * 16 outputs: no horizontal sums. All tokens' accumulators stay in registers,
 * so a block is read and unpacked once for up to 8 sequences. (The row-pair
 * layout this replaced — two rows' blocks per zmm, reduced across lanes per
 * block — spent 2-3x the instructions per block and token: 8 tokens cost
 * like 8 separate passes once compute bound.)
 *
 * Weights repacked at engine creation (AM_LAYOUT_TILE16, compute/pack.h) skip the
 * transposes: a tile's blocks are already those 8 zmm (Q4_0: 4 zmm of nibble bytes,
 * split by and/shift) and 16 f16 scales, one sequential region read with aligned
 * loads (decp_tile). The row-layout path stays for unpacked tensors.
 *
 * Float steps per row and block are those of the prefill kernel:
 * acc = fma(float(exact int32 dot), d_w * d_x, acc), blocks in order, so
 * decode and prefill outputs are bit-identical and a greedy answer does not
 * depend on how its tokens were batched.
 */
#include "compute/kern_avx512.h"

#define AM_Q80_DEC_MAX_TOK 8 /* tokens per pass over W (accumulators in registers) */

/* Prefetch distance, in 16-row tiles: the rows of the tile PF_TILES ahead (one
 * contiguous region of 16 rows) are fetched into L2 evenly over this tile's blocks
 * (measured: into L1, or 1 tile ahead, slower; none at all, half speed). */
#define PF_TILES 2

/* f16 scales of 16 rows (at p[i] + off) packed in general registers: sixteen 2-byte
 * stores read back by one 32-byte load cannot be store-forwarded. */
AM_INLINE __m512 scales16(const uint8_t *const *p, size_t off) {
    uint64_t q[4] = {0, 0, 0, 0};
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) {
        uint16_t h;
        memcpy(&h, p[i] + off, 2);
        q[i >> 2] |= (uint64_t)h << (16 * (i & 3));
    }
    return _mm512_cvtph_ps(_mm256_set_epi64x((long long)q[3], (long long)q[2], (long long)q[1], (long long)q[0]));
}

/* Dwords broadcast from memory ({1to16} operands): a 32-byte copy into general
 * registers cost a register-to-vector broadcast each. */
AM_INLINE __m512i bcast32(const int8_t *p) { return _mm512_broadcastd_epi32(_mm_loadu_si32(p)); }

/* One 32-element block of a 16-row tile (w: 8 zmm in the lane layout, dw: the
 * rows' scales) against T tokens' block b: acc[j] += float(int32 dot) * d_w * d_x.
 * off cancels the weights' unsigned offset (-8 Q4_0, -128 Q8_0). Two chains per
 * token: one token's 8 dependent vpdpbusd would bind on latency. */
AM_INLINE void block_tokens(const __m512i *w, __m512 dw, const am_q8a *const *x, int64_t b, int off, __m512 *acc,
                            int T) {
    _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) {
        const am_q8a *xb = &x[j][b];
        __m512i s0 = _mm512_set1_epi32(off * xb->s), s1 = _mm512_setzero_si512();
        _Pragma("GCC unroll 8") for (int g = 0; g < 8; g += 2) {
            s0 = _mm512_dpbusd_epi32(s0, w[g], bcast32(xb->qs + 4 * g));
            s1 = _mm512_dpbusd_epi32(s1, w[g + 1], bcast32(xb->qs + 4 * g + 4));
        }
        __m512i s = _mm512_add_epi32(s0, s1);
        acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(xb->d)), acc[j]);
    }
}

/* The tile's real rows (of r..r+16, those before r_end) of T tokens' outputs. */
AM_INLINE void store_tile(const am_mm_args *a, int64_t r, int64_t r_end, int t, int T, const __m512 *acc) {
    const int64_t n = r_end - r < 16 ? r_end - r : 16;
    const __mmask16 keep = (__mmask16)((1u << n) - 1);
    _Pragma("GCC unroll 8") for (int j = 0; j < T; j++)
        _mm512_mask_storeu_ps(a->y + (int64_t)(t + j) * a->ldy + r, keep, acc[j]);
}

/* Rows [r, min(r+16, r_end)) x tokens [t, t+T): the tile's rows are loaded as 16 (tail
 * rows repeat the last one) and only real rows are stored. */
AM_INLINE void dec_tile(int q8, const am_mm_args *a, int64_t r, int64_t r_end, int t, int T) {
    const size_t bs = q8 ? sizeof(am_block_q8_0) : sizeof(am_block_q4_0);
    const uint8_t *p[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) p[i] = a->w + (r + i < r_end ? r + i : r_end - 1) * a->w_stride;
    const am_q8a *x[AM_Q80_DEC_MAX_TOK];
    _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) x[j] = (const am_q8a *)(a->x + (size_t)(t + j) * a->x_stride);
    __m512 acc[AM_Q80_DEC_MAX_TOK];
    _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) acc[j] = _mm512_setzero_ps();
    const int64_t nb = a->n_in / AM_QK;
    const size_t pf_step = 16 * bs; /* bytes of the tile ahead fetched per block */
    const uint8_t *pf = a->w + (r + 16 * PF_TILES) * a->w_stride;
    const int do_pf = r + 16 * PF_TILES < r_end;
    const __m512i lo4 = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi32((int)0x80808080u);
    const int off = q8 ? -128 : -8; /* the weights' unsigned offset, cancelled per token */
    for (int64_t b = 0; b < nb; b++) {
        if (do_pf)
            for (size_t o = 0; o < pf_step; o += 64) _mm_prefetch((const char *)pf + b * pf_step + o, _MM_HINT_T1);
        const size_t ob = (size_t)b * bs;
        __m512i w[8], tq[4];
        load16x16(p, ob + 2, tq);
        if (q8) {
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) w[g] = _mm512_xor_si512(tq[g], flip);
            load16x16(p, ob + 18, tq);
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) w[g + 4] = _mm512_xor_si512(tq[g], flip);
        } else {
            /* qs dword g: low nibbles are elements 4g.., high nibbles elements 16+4g.. */
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
                w[g] = _mm512_and_si512(tq[g], lo4);
                w[g + 4] = _mm512_and_si512(_mm512_srli_epi32(tq[g], 4), lo4);
            }
        }
        block_tokens(w, scales16(p, ob), x, b, off, acc, T);
    }
    store_tile(a, r, r_end, t, T, acc);
}

/* name##q8##_T: tile(q8, ..., T) for T = 1..8, one function per token count. */
#define TILE_FNS(name, tile, q8)                                                                              \
    static void name##q8##_1(const am_mm_args *a, int64_t r, int64_t e, int t) { tile(q8, a, r, e, t, 1); } \
    static void name##q8##_2(const am_mm_args *a, int64_t r, int64_t e, int t) { tile(q8, a, r, e, t, 2); } \
    static void name##q8##_3(const am_mm_args *a, int64_t r, int64_t e, int t) { tile(q8, a, r, e, t, 3); } \
    static void name##q8##_4(const am_mm_args *a, int64_t r, int64_t e, int t) { tile(q8, a, r, e, t, 4); } \
    static void name##q8##_5(const am_mm_args *a, int64_t r, int64_t e, int t) { tile(q8, a, r, e, t, 5); } \
    static void name##q8##_6(const am_mm_args *a, int64_t r, int64_t e, int t) { tile(q8, a, r, e, t, 6); } \
    static void name##q8##_7(const am_mm_args *a, int64_t r, int64_t e, int t) { tile(q8, a, r, e, t, 7); } \
    static void name##q8##_8(const am_mm_args *a, int64_t r, int64_t e, int t) { tile(q8, a, r, e, t, 8); }
TILE_FNS(dec, dec_tile, 0)
TILE_FNS(dec, dec_tile, 1)
_Static_assert(AM_Q80_DEC_MAX_TOK == 8, "one tile function per token count 1..8");

typedef void (*dec_fn)(const am_mm_args *, int64_t, int64_t, int);
static const dec_fn DEC_FNS[2][AM_Q80_DEC_MAX_TOK + 1] = {
    {NULL, dec0_1, dec0_2, dec0_3, dec0_4, dec0_5, dec0_6, dec0_7, dec0_8},
    {NULL, dec1_1, dec1_2, dec1_3, dec1_4, dec1_5, dec1_6, dec1_7, dec1_8},
};

/* Tokens in passes of AM_Q80_DEC_MAX_TOK; within a pass, 16-row tiles in order (the
 * prefetch of a tile's successors assumes that order). */
static void q80_dec(int q8, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    for (int t = t0; t < t1; t += AM_Q80_DEC_MAX_TOK) {
        int T = t1 - t < AM_Q80_DEC_MAX_TOK ? t1 - t : AM_Q80_DEC_MAX_TOK;
        for (int64_t r = r0; r < r1; r += 16) DEC_FNS[q8][T](a, r, r1, t);
    }
}

/* ---- AM_LAYOUT_TILE16 (blocks.h): the same tile product without the transposes ----
 * A tile is one sequential region (quants, then scales), read with aligned loads; the
 * registers hold exactly what load16x16 (and the Q8_0 xor) gave, so the float steps and
 * the outputs are the row layout's. */
/* The dword at p in all 16 lanes, loaded by the broadcast itself. */

AM_INLINE void decp_tile(int q8, const am_mm_args *a, int64_t r, int64_t r_end, int t, int T) {
    const int64_t nb = a->n_in / AM_QK;
    const size_t qb = am_tile16_qbytes(q8);
    const uint8_t *tile = a->w + (size_t)(r / AM_TILE_ROWS) * a->w_stride;
    const uint16_t *sc = (const uint16_t *)(tile + (size_t)nb * qb);
    const am_q8a *x[AM_Q80_DEC_MAX_TOK];
    _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) x[j] = (const am_q8a *)(a->x + (size_t)(t + j) * a->x_stride);
    __m512 acc[AM_Q80_DEC_MAX_TOK];
    _Pragma("GCC unroll 8") for (int j = 0; j < T; j++) acc[j] = _mm512_setzero_ps();
    /* the tile PF_TILES ahead, fetched into L2 evenly over this tile's blocks */
    const int do_pf = r + 16 * PF_TILES < r_end;
    const uint8_t *pf = tile + PF_TILES * a->w_stride;
    const size_t pf_step = a->w_stride / (size_t)nb / 64 * 64 + 64;
    const __m512i lo4 = _mm512_set1_epi8(0x0F);
    const int off = q8 ? -128 : -8;
    for (int64_t b = 0; b < nb; b++) {
        if (do_pf)
            for (size_t o = 0; o < pf_step; o += 64) _mm_prefetch((const char *)pf + b * pf_step + o, _MM_HINT_T1);
        const __m512i *q = (const __m512i *)(tile + (size_t)b * qb);
        __m512i w[8];
        if (q8) {
            _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) w[g] = _mm512_load_si512(q + g);
        } else {
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
                __m512i v = _mm512_load_si512(q + g);
                w[g] = _mm512_and_si512(v, lo4);
                w[g + 4] = _mm512_and_si512(_mm512_srli_epi32(v, 4), lo4);
            }
        }
        block_tokens(w, _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(sc + b * AM_TILE_ROWS))), x, b, off, acc, T);
    }
    store_tile(a, r, r_end, t, T, acc);
}

TILE_FNS(decp, decp_tile, 0)
TILE_FNS(decp, decp_tile, 1)

static const dec_fn DECP_FNS[2][AM_Q80_DEC_MAX_TOK + 1] = {
    {NULL, decp0_1, decp0_2, decp0_3, decp0_4, decp0_5, decp0_6, decp0_7, decp0_8},
    {NULL, decp1_1, decp1_2, decp1_3, decp1_4, decp1_5, decp1_6, decp1_7, decp1_8},
};

static void mm_packed(int q8, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    if (t1 - t0 > AM_Q80_DEC_MAX_TOK) {
        am_avx512_q80p_gemm(q8, a, r0, r1, t0, t1);
        return;
    }
    for (int t = t0; t < t1; t += AM_Q80_DEC_MAX_TOK) {
        int T = t1 - t < AM_Q80_DEC_MAX_TOK ? t1 - t : AM_Q80_DEC_MAX_TOK;
        for (int64_t r = r0; r < r1; r += 16) DECP_FNS[q8][T](a, r, r1, t);
    }
}

static void mm_q4_0p(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) { mm_packed(0, a, r0, r1, t0, t1); }
static void mm_q8_0p(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) { mm_packed(1, a, r0, r1, t0, t1); }

/* Decode for up to AM_Q80_DEC_MAX_TOK tokens; more go to the prefill kernel, unless 32
 * rows of W span more than int32 byte offsets (it gathers by those), when passes of the
 * decode kernel do them. */
static void mm_q4_0(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    if (t1 - t0 > AM_Q80_DEC_MAX_TOK && am_avx512_q80_gemm_ok(a)) am_avx512_q80_gemm(0, a, r0, r1, t0, t1);
    else q80_dec(0, a, r0, r1, t0, t1);
}

static void mm_q8_0(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    if (t1 - t0 > AM_Q80_DEC_MAX_TOK && am_avx512_q80_gemm_ok(a)) am_avx512_q80_gemm(1, a, r0, r1, t0, t1);
    else q80_dec(1, a, r0, r1, t0, t1);
}

void am_avx512_init_q80(am_kernels *k) {
    k->mm[AM_KT_Q4_0] = mm_q4_0;
    k->mm[AM_KT_Q8_0] = mm_q8_0;
    k->mm[AM_KT_Q4_0P] = mm_q4_0p;
    k->mm[AM_KT_Q8_0P] = mm_q8_0p;
}
