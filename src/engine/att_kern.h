/*
 * att_kern.h — private to src/engine/: the inner loops of attention, of the
 * K/V stores and of the gated activations, one table per ISA level (scalar in attention.c, AVX2 in
 * att_avx2.c, AVX-512 in att_avx512.c). The level follows the compute
 * module's choice (am_compute_isa: CPUID, lowered by AGENTMEM_ISA), so SIMD
 * code is reached only after its CPUID check. Levels differ only in float
 * summation order and in exp() being a polynomial (|rel err| < 2e-7),
 * except qk_rows_q8, which scores an int8 copy of the query (eng_att_qq):
 * |score - exact| <= sum over 32-blocks b of (d_b / 2) * sum_b |k| (the
 * query's rounding error met by the key; bound tested in test_att_kern).
 */
#ifndef AM_ATT_KERN_H
#define AM_ATT_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "compute/types.h"

/* A decode unit's query rows quantized for integer K.Q over Q8_0 / Q4_0
 * keys (eng_att_quant_q), nr rows of hd dims (hd % 32 == 0), nb = hd/32:
 * for row r and 32-block b, d[r*nb + b] = amax/127 (float, not rounded to
 * f16), qs[r*hd + c] = round-half-even(q / d) in [-127, 127] (0 where d is
 * 0), sum[r*nb + b] = the sum of the block's 32 qs. qs4 holds the same
 * values in the order two Q4_0 blocks' nibbles unpack, per 64 dims (blocks
 * b, b+1): dims 0-15 of b, 0-15 of b+1, 16-31 of b, 16-31 of b+1 (filled
 * only where hd % 64 == 0). */
typedef struct eng_att_qq {
    int8_t *qs, *qs4;
    float *d;
    int32_t *sum;
} eng_att_qq;

typedef struct eng_att_kern {
    /* dst[i] = f16 src[i] as float */
    void (*f16_to_f32)(const uint16_t *src, float *dst, int64_t n);
    /* dst[i] = f16(src[i]), round to nearest even */
    void (*f32_to_f16)(const float *src, uint16_t *dst, int64_t n);
    /* dst[0..nb*32) = value of nb GGUF Q8_0 / Q4_0 blocks at src (bit-exact
     * with am_dequant_row: d * q, with d the f16 scale as float) */
    void (*q8_0_to_f32)(const void *src, float *dst, int64_t nb);
    void (*q4_0_to_f32)(const void *src, float *dst, int64_t nb);
    /* The three steps of one K/V block of a unit, query rows in lanes. A
     * unit's R query rows (its tokens x the query heads of one kv head) are
     * padded to rp = R rounded up to 16 (pad rows are zero and never
     * visible). Shapes: qt [hd][rp] (query rows transposed, pre-scaled),
     * k and v [cnt][hd] (float rows of the block), st [cnt][rp].
     *
     * st[i*rp + r] = dot(qt[.][r], k[i*hd..]) for i < cnt, r < rp */
    void (*qk_t)(const float *qt, int rp, int hd, const float *k, int cnt, float *st);
    /* The same scores for few rows (a decode step), q row-major [nr][hd]:
     * st[i*rp + r] = dot(q[r*hd..], k[i*hd..]) for i < cnt, r < nr; rows
     * nr..rp of st are left as they are. */
    void (*qk_rows)(const float *q, int nr, int hd, const float *k, int cnt, float *st, int rp);
    /* One online-softmax step for rows r < rp over keys i < cnt: key i is
     * visible to row r iff lo[r] <= i <= hi[r]. With x = st[i*rp+r] where
     * visible, -inf elsewhere: m' = max(mx[r], max_i x), u = m' (0 while
     * m' = -inf), corr[r] = exp(mx[r] - u), st[i*rp+r] = exp(x - u),
     * sum[r] = sum[r]*corr[r] + sum_i st[i*rp+r], mx[r] = m'. */
    void (*softmax_t)(float *st, int rp, int cnt, const int32_t *lo, const int32_t *hi, float *mx, float *sum,
                      float *corr);
    /* acc[r*hd + c] = acc[r*hd + c]*corr[r] + sum_i st[i*rp + r] * v[i*hd + c]
     * for r < nr, c < hd */
    void (*pv_t)(float *acc, int nr, int hd, const float *st, int rp, const float *corr, const float *v, int cnt);
    /* The decode step straight from the cache: qk_rows and pv_t with the K
     * / V rows read in their stored type (F32, F16, Q8_0, Q4_0 only; see
     * eng_att_direct_type), `row_bytes` apart, and turned into floats in
     * registers, so no float copy of a block is written. Quant rows are
     * whole blocks (hd a multiple of 32); float rows any hd.
     * qk_rows_x: st[i*rp + r] = dot(q[r*hd..], K row i) for i < cnt, r < nr
     * (rows nr..rp of st left as they are). pv_x: as pv_t with V row i. */
    void (*qk_rows_x)(const float *q, int nr, int hd, const void *k, size_t row_bytes, am_type ty, int cnt,
                      float *st, int rp);
    void (*pv_x)(float *acc, int nr, int hd, const float *st, int rp, const float *corr, const void *v,
                 size_t row_bytes, am_type ty, int cnt);
    /* softmax_t for a decode unit of exactly 4 rows that share one visible
     * key range [l, u]: st dense [cnt][4] (rp = 4), mx, sum, corr [4]; 4
     * keys per 16-lane vector instead of 16 rows of which 4 are real. */
    void (*softmax_r4)(float *st, int cnt, int l, int u, float *mx, float *sum, float *corr);
    /* qk_rows_x for Q8_0 / Q4_0 K rows on integer units: st[i*rp + r] =
     * sum over blocks b (in order) of fma(dot_b, dk_b * d[r][b], .) from 0,
     * dot_b the exact int32 dot of the key's quants (Q4_0: nibble - 8)
     * with qq's qs over block b, dk_b the key block's f16 scale. The SIMD
     * version is bit-exact with the scalar one. Rows nr..rp of st are left
     * as they are. Used by attention.c where qk_int8 is set and hd % 64 == 0
     * (the AVX-512 kernel takes 64 dims = two blocks at a time). */
    void (*qk_rows_q8)(const eng_att_qq *qq, int nr, int hd, const void *k, size_t row_bytes, am_type ty, int cnt,
                       float *st, int rp);
    /* whether decode scores Q8_0 / Q4_0 keys with qk_rows_q8 (the level
     * has its own; AGENTMEM_ATT_INT8=0 clears it in eng_att_kern_get) */
    int qk_int8;
    /* whether attention.c should use qk_rows_x / pv_x (the level has its
     * own; the scalar ones are a reference for tests, slower than decoding
     * a block once) */
    int direct;
    /* gated activations: g[i] = act(g[i]) * u[i], act = SiLU or GeLU-tanh */
    void (*silu_mul)(float *g, const float *u, int64_t n);
    void (*gelu_mul)(float *g, const float *u, int64_t n);
} eng_att_kern;

/* Whether qk_rows_x / pv_x read rows of type ty. */
static inline int eng_att_direct_type(am_type ty) {
    return ty == AM_TYPE_F32 || ty == AM_TYPE_F16 || ty == AM_TYPE_Q8_0 || ty == AM_TYPE_Q4_0;
}

/* Fills qq (eng_att_qq) from nr rows of hd floats at q; plain C, once per
 * decode unit, shared by every level. */
void eng_att_quant_q(const float *q, int nr, int hd, const eng_att_qq *qq);

void eng_att_kern_scalar(eng_att_kern *k);
void eng_att_kern_avx2(eng_att_kern *k);
void eng_att_kern_avx512(eng_att_kern *k);
/* The table for the compute module's ISA level. */
const eng_att_kern *eng_att_kern_get(void);

#endif
