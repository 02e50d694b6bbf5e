/*
 * kern_scalar.c — the scalar matmul kernels: the reference the SIMD levels
 * are tested against, and the fallback on CPUs without AVX2. One dot product
 * per (row, token); integer sums are exact, so SIMD kernels may only differ
 * in the order of the float additions. Holds no state.
 */
#include <math.h>
#include <string.h>

#include "compute/kernels.h"
#include "compute/quant.h"

static float dot_f32(const uint8_t *w, const uint8_t *x, int64_t n) {
    const float *a = (const float *)w, *b = (const float *)x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

static float dot_f16(const uint8_t *w, const uint8_t *x, int64_t n) {
    const uint16_t *a = (const uint16_t *)w;
    const float *b = (const float *)x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)am_f16_to_f32(a[i]) * b[i];
    return (float)s;
}

static float dot_bf16(const uint8_t *w, const uint8_t *x, int64_t n) {
    const uint16_t *a = (const uint16_t *)w;
    const float *b = (const float *)x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)am_bf16_to_f32(a[i]) * b[i];
    return (float)s;
}

static float dot_q4_0(const uint8_t *w, const uint8_t *x, int64_t n) {
    const am_block_q4_0 *a = (const am_block_q4_0 *)w;
    const am_q8a *b = (const am_q8a *)x;
    float s = 0;
    for (int64_t i = 0; i < n / AM_QK; i++) {
        int isum = 0;
        for (int j = 0; j < AM_QK / 2; j++)
            isum += ((a[i].qs[j] & 0xF) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        s += (float)isum * (am_f16_to_f32(a[i].d) * b[i].d);
    }
    return s;
}

static float dot_q8_0(const uint8_t *w, const uint8_t *x, int64_t n) {
    const am_block_q8_0 *a = (const am_block_q8_0 *)w;
    const am_q8a *b = (const am_q8a *)x;
    float s = 0;
    for (int64_t i = 0; i < n / AM_QK; i++) {
        int isum = 0;
        for (int j = 0; j < AM_QK; j++) isum += a[i].qs[j] * b[i].qs[j];
        s += (float)isum * (am_f16_to_f32(a[i].d) * b[i].d);
    }
    return s;
}

/* Q4_K / Q5_K: sum_j sc_j * <q_j, x_j> scaled by d*dx, minus dmin*dx * sum_j m_j * sum(x_j). */
static float dot_q4_k(const uint8_t *w, const uint8_t *x, int64_t n) {
    const am_block_q4_k *a = (const am_block_q4_k *)w;
    const am_q8k *b = (const am_q8k *)x;
    float s = 0;
    for (int64_t i = 0; i < n / AM_QKK; i++) {
        int isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            am_q4k_scale_min(j, a[i].scales, &sc, &m);
            const uint8_t *q = a[i].qs + 32 * (j / 2);
            const int8_t *xq = b[i].qs + 32 * j;
            int dot = 0;
            for (int l = 0; l < 32; l++) dot += (j & 1 ? q[l] >> 4 : q[l] & 0xF) * xq[l];
            isum += sc * dot;
            msum += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        s += b[i].d * (am_f16_to_f32(a[i].d) * (float)isum - am_f16_to_f32(a[i].dmin) * (float)msum);
    }
    return s;
}

static float dot_q5_k(const uint8_t *w, const uint8_t *x, int64_t n) {
    const am_block_q5_k *a = (const am_block_q5_k *)w;
    const am_q8k *b = (const am_q8k *)x;
    float s = 0;
    for (int64_t i = 0; i < n / AM_QKK; i++) {
        int isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            am_q4k_scale_min(j, a[i].scales, &sc, &m);
            const uint8_t *q = a[i].qs + 32 * (j / 2);
            const int8_t *xq = b[i].qs + 32 * j;
            int dot = 0;
            for (int l = 0; l < 32; l++) {
                int v = (j & 1 ? q[l] >> 4 : q[l] & 0xF) | (((a[i].qh[l] >> j) & 1) << 4);
                dot += v * xq[l];
            }
            isum += sc * dot;
            msum += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        s += b[i].d * (am_f16_to_f32(a[i].d) * (float)isum - am_f16_to_f32(a[i].dmin) * (float)msum);
    }
    return s;
}

static float dot_q6_k(const uint8_t *w, const uint8_t *x, int64_t n) {
    const am_block_q6_k *a = (const am_block_q6_k *)w;
    const am_q8k *b = (const am_q8k *)x;
    float s = 0;
    for (int64_t i = 0; i < n / AM_QKK; i++) {
        int8_t q[AM_QKK];
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = a[i].ql + 64 * h, *qh = a[i].qh + 32 * h;
            int8_t *qq = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                qq[l + 0] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                qq[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                qq[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                qq[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int dot = 0;
            for (int l = 16 * j; l < 16 * j + 16; l++) dot += q[l] * b[i].qs[l];
            isum += a[i].scales[j] * dot;
        }
        s += b[i].d * am_f16_to_f32(a[i].d) * (float)isum;
    }
    return s;
}

/* AM_LAYOUT_TILE16 (blocks.h), the reference for the packed layout: the float steps of the
 * AVX-512 kernels, acc = fma(float(int32 block dot), d_w * d_x, acc) blocks in order, so
 * every level gives the AVX-512 bits on a packed tensor. */
static void mm_tile16(int q8, const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    const int64_t nb = a->n_in / AM_QK;
    const size_t qb = am_tile16_qbytes(q8);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *tile = a->w + (size_t)(r / AM_TILE_ROWS) * a->w_stride;
        const uint16_t *sc = (const uint16_t *)(tile + (size_t)nb * qb);
        const int i = (int)(r % AM_TILE_ROWS);
        for (int t = t0; t < t1; t++) {
            const am_q8a *x = (const am_q8a *)(a->x + (size_t)t * a->x_stride);
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *q = tile + (size_t)b * qb;
                int isum = 0;
                for (int e = 0; e < AM_QK; e++) {
                    int w;
                    if (q8) {
                        w = q[(e / 4) * 64 + 4 * i + e % 4] - 128;
                    } else { /* element e < 16: low nibble of qs[e]; e >= 16: high nibble of qs[e-16] */
                        int k = e % 16;
                        uint8_t v = q[(k / 4) * 64 + 4 * i + k % 4];
                        w = (e < 16 ? v & 0xF : v >> 4) - 8;
                    }
                    isum += w * x[b].qs[e];
                }
                acc = fmaf((float)isum, am_f16_to_f32(sc[b * AM_TILE_ROWS + i]) * x[b].d, acc);
            }
            a->y[t * a->ldy + r] = acc;
        }
    }
}

/* Q6_K in AM_LAYOUT_TILE16 (blocks.h), the reference for that layout: per super-block the
 * exact integer sum_j scale_j * <q_j - 32, x_j>, then acc = fma(float(isum), d_w * d_x, acc),
 * the float steps of the AVX-512 Q6_K kernels on either layout. */
static void mm_q6_kp(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) {
    const int64_t nb = a->n_in / AM_QKK;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *tile = a->w + (size_t)(r / AM_TILE_ROWS) * a->w_stride;
        const uint16_t *dd = (const uint16_t *)(tile + (size_t)nb * AM_Q6P_SB_BYTES);
        const int i = (int)(r % AM_TILE_ROWS);
        for (int t = t0; t < t1; t++) {
            const am_q8k *x = (const am_q8k *)(a->x + (size_t)t * a->x_stride);
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *sb = tile + (size_t)b * AM_Q6P_SB_BYTES, *sc = sb + 48 * 64;
                int isum = 0;
                for (int j = 0; j < 16; j++) {
                    int dot = 0;
                    for (int e = 16 * j; e < 16 * j + 16; e++) {
                        int q;
                        if (e < 192) {
                            q = sb[(e / 4) * 64 + 4 * i + e % 4] & 0x3F;
                        } else { /* bits 4-5, 2-3, 0-1 in the top bits of groups 3m, 3m+1, 3m+2 */
                            const int m = (e - 192) / 4, c = e % 4;
                            q = 0;
                            for (int g = 0; g < 3; g++) q |= (sb[(3 * m + g) * 64 + 4 * i + c] >> 6) << (4 - 2 * g);
                        }
                        dot += (q - 32) * x[b].qs[e];
                    }
                    isum += (int8_t)sc[(j / 2) * 32 + 2 * i + j % 2] * dot;
                }
                acc = fmaf((float)isum, am_f16_to_f32(dd[b * AM_TILE_ROWS + i]) * x[b].d, acc);
            }
            a->y[t * a->ldy + r] = acc;
        }
    }
}

static void mm_q4_0p(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) { mm_tile16(0, a, r0, r1, t0, t1); }
static void mm_q8_0p(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) { mm_tile16(1, a, r0, r1, t0, t1); }

typedef float (*dot_fn)(const uint8_t *w, const uint8_t *x, int64_t n);

static inline void mm_generic(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1, dot_fn dot) {
    for (int t = t0; t < t1; t++)
        for (int64_t r = r0; r < r1; r++)
            a->y[t * a->ldy + r] = dot(a->w + r * a->w_stride, a->x + t * a->x_stride, a->n_in);
}

#define MM_SCALAR(T) \
    static void mm_##T(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1) { mm_generic(a, r0, r1, t0, t1, dot_##T); }
MM_SCALAR(f32)
MM_SCALAR(f16)
MM_SCALAR(bf16)
MM_SCALAR(q4_0)
MM_SCALAR(q8_0)
MM_SCALAR(q4_k)
MM_SCALAR(q5_k)
MM_SCALAR(q6_k)

void am_kernels_init_scalar(am_kernels *k) {
    memset(k, 0, sizeof *k);
    k->name = "scalar";
    k->mm[AM_KT_F32] = mm_f32;
    k->mm[AM_KT_F16] = mm_f16;
    k->mm[AM_KT_BF16] = mm_bf16;
    k->mm[AM_KT_Q4_0] = mm_q4_0;
    k->mm[AM_KT_Q8_0] = mm_q8_0;
    k->mm[AM_KT_Q4_K] = mm_q4_k;
    k->mm[AM_KT_Q5_K] = mm_q5_k;
    k->mm[AM_KT_Q6_K] = mm_q6_k;
    k->mm[AM_KT_Q4_0P] = mm_q4_0p;
    k->mm[AM_KT_Q8_0P] = mm_q8_0p;
    k->mm[AM_KT_Q6_KP] = mm_q6_kp;
    k->quant_q8a = am_quantize_q8a;
    k->quant_q8k = am_quantize_q8k;
}
