/*
 * quant.c — scalar reference for every block format: row dequantization,
 * round-to-nearest weight quantizers, and the activation quantizers the
 * matmul kernels use. Everything here is plain C on purpose: it is what the
 * SIMD kernels are tested against. No allocation, no global state.
 */
#include "compute/quant.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "compute/blocks.h"

/* ---- dequantization ---------------------------------------------------------------- */

static void dequant_q4_0(const am_block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += AM_QK) {
        float d = am_f16_to_f32(b[i].d);
        for (int j = 0; j < AM_QK / 2; j++) {
            y[j] = (float)((b[i].qs[j] & 0xF) - 8) * d;
            y[j + AM_QK / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q8_0(const am_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += AM_QK) {
        float d = am_f16_to_f32(b[i].d);
        for (int j = 0; j < AM_QK; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

static void dequant_q4_k(const am_block_q4_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = am_f16_to_f32(b[i].d), dmin = am_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, m;
            am_q4k_scale_min(2 * c, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            am_q4k_scale_min(2 * c + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void dequant_q5_k(const am_block_q5_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = am_f16_to_f32(b[i].d), dmin = am_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs, *qh = b[i].qh;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, m;
            am_q4k_scale_min(2 * c, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            am_q4k_scale_min(2 * c + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            int u1 = 1 << (2 * c), u2 = 2 << (2 * c);
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((q[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((q[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

static void dequant_q6_k(const am_block_q6_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = am_f16_to_f32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int h = 0; h < 2; h++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * (float)q1;
                y[l + 32] = d * sc[is + 2] * (float)q2;
                y[l + 64] = d * sc[is + 4] * (float)q3;
                y[l + 96] = d * sc[is + 6] * (float)q4;
            }
        }
    }
}

void am_dequant_row(am_type t, const void *src, float *dst, int64_t n) {
    int be = am_type_block_elems(t);
    assert(be > 0 && n % be == 0);
    int64_t nb = n / be;
    switch (t) {
    case AM_TYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case AM_TYPE_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = am_f16_to_f32(s[i]);
        break;
    }
    case AM_TYPE_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = am_bf16_to_f32(s[i]);
        break;
    }
    case AM_TYPE_Q4_0: dequant_q4_0(src, dst, nb); break;
    case AM_TYPE_Q8_0: dequant_q8_0(src, dst, nb); break;
    case AM_TYPE_Q4_K: dequant_q4_k(src, dst, nb); break;
    case AM_TYPE_Q5_K: dequant_q5_k(src, dst, nb); break;
    case AM_TYPE_Q6_K: dequant_q6_k(src, dst, nb); break;
    }
}

/* ---- weight quantizers ------------------------------------------------------------- */

static int round_int(float f) { return (int)nearbyintf(f); }
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static void quant_q4_0(const float *x, am_block_q4_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += AM_QK) {
        /* The element of largest magnitude maps to -8 exactly (its sign chooses d's sign),
         * so the asymmetric range -8..7 loses nothing at the extreme. */
        float amax = 0, vmax = 0;
        for (int j = 0; j < AM_QK; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), vmax = x[j];
        float d = vmax / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = am_f32_to_f16(d);
        for (int j = 0; j < AM_QK / 2; j++) {
            int q0 = clampi(round_int(x[j] * id) + 8, 0, 15);
            int q1 = clampi(round_int(x[j + AM_QK / 2] * id) + 8, 0, 15);
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void quant_q8_0(const float *x, am_block_q8_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += AM_QK) {
        float amax = 0;
        for (int j = 0; j < AM_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = am_f32_to_f16(d);
        for (int j = 0; j < AM_QK; j++) b[i].qs[j] = (int8_t)clampi(round_int(x[j] * id), -127, 127);
    }
}

/* Fits x[i] ~ scale * L[i] - m with L in 0..nmax, m >= 0 (the K-quant affine model):
 * a small grid of inverse scales, each followed by the least-squares (scale, m) for
 * the levels it picked; keeps the best. */
static void fit_affine(const float *x, int n, int nmax, float *scale, float *m) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
    if (lo > 0) lo = 0;
    if (hi <= lo) {
        *scale = 0;
        *m = -lo;
        return;
    }
    float best_err = INFINITY, best_s = (hi - lo) / nmax, best_m = -lo;
    for (int k = -10; k <= 10; k++) {
        float is = (nmax + 0.1f * k) / (hi - lo);
        double sl = 0, sl2 = 0, sx = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_int(is * (x[i] - lo)), 0, nmax);
            sl += l, sl2 += (double)l * l, sx += x[i], sxl += (double)x[i] * l;
        }
        double det = n * sl2 - sl * sl;
        if (det <= 0) continue;
        double s = (n * sxl - sl * sx) / det, off = (sl2 * sx - sl * sxl) / det;
        if (off > 0) off = 0, s = sl2 > 0 ? sxl / sl2 : 0; /* offsets are stored as mins >= 0 */
        if (s <= 0) continue;
        double err = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_int((float)((x[i] - off) / s)), 0, nmax);
            double e = s * l + off - x[i];
            err += e * e;
        }
        if (err < best_err) best_err = (float)err, best_s = (float)s, best_m = (float)-off;
    }
    *scale = best_s;
    *m = best_m;
}

/* Fits x[i] ~ scale * L[i] with L in -nmax..nmax-1 (Q6_K's symmetric model). */
static float fit_symmetric(const float *x, int n, int nmax) {
    float amax = 0, vmax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), vmax = x[i];
    if (amax == 0) return 0;
    float best_err = INFINITY, best_s = vmax / -nmax;
    for (int k = -9; k <= 9; k++) {
        float is = -(nmax + 0.1f * k) / vmax;
        double sxl = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_int(is * x[i]), -nmax, nmax - 1);
            sxl += (double)x[i] * l, sl2 += (double)l * l;
        }
        if (sl2 == 0) continue;
        double s = sxl / sl2, err = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_int((float)(x[i] / s)), -nmax, nmax - 1);
            double e = s * l - x[i];
            err += e * e;
        }
        if (err < best_err) best_err = (float)err, best_s = (float)s;
    }
    return best_s;
}

/* Shared by Q4_K and Q5_K: fits the 8 sub-blocks, packs 6-bit scales/mins and returns the
 * levels L[256] (0..nmax) computed with the scales as they will be decoded. */
static void quant_k_affine(const float *x, int nmax, uint16_t *d_out, uint16_t *dmin_out,
                           uint8_t scales[12], uint8_t L[AM_QKK]) {
    float sc[8], mn[8], max_sc = 0, max_mn = 0;
    for (int j = 0; j < 8; j++) {
        fit_affine(x + 32 * j, 32, nmax, &sc[j], &mn[j]);
        max_sc = fmaxf(max_sc, sc[j]);
        max_mn = fmaxf(max_mn, mn[j]);
    }
    float d = max_sc / 63.0f, dmin = max_mn / 63.0f;
    float id = d > 0 ? 1.0f / d : 0.0f, idmin = dmin > 0 ? 1.0f / dmin : 0.0f;
    memset(scales, 0, 12);
    for (int j = 0; j < 8; j++) {
        int ls = clampi(round_int(sc[j] * id), 0, 63), lm = clampi(round_int(mn[j] * idmin), 0, 63);
        if (j < 4) {
            scales[j] = (uint8_t)ls;
            scales[j + 4] = (uint8_t)lm;
        } else {
            scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = am_f32_to_f16(d);
    *dmin_out = am_f32_to_f16(dmin);
    float dd = am_f16_to_f32(*d_out), ddmin = am_f16_to_f32(*dmin_out);
    for (int j = 0; j < 8; j++) {
        uint8_t ls, lm;
        am_q4k_scale_min(j, scales, &ls, &lm);
        float de = dd * ls, me = ddmin * lm;
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = de > 0 ? (uint8_t)clampi(round_int((x[32 * j + i] + me) / de), 0, nmax) : 0;
    }
}

static void quant_q4_k(const float *x, am_block_q4_k *b, int64_t nb) {
    uint8_t L[AM_QKK];
    for (int64_t i = 0; i < nb; i++, x += AM_QKK) {
        quant_k_affine(x, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

static void quant_q5_k(const float *x, am_block_q5_k *b, int64_t nb) {
    uint8_t L[AM_QKK];
    for (int64_t i = 0; i < nb; i++, x += AM_QKK) {
        quant_k_affine(x, 31, &b[i].d, &b[i].dmin, b[i].scales, L);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
                b[i].qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
    }
}

static void quant_q6_k(const float *x, am_block_q6_k *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += AM_QKK) {
        float sc[16], amax = 0;
        for (int j = 0; j < 16; j++) {
            sc[j] = fit_symmetric(x + 16 * j, 16, 32);
            amax = fmaxf(amax, fabsf(sc[j]));
        }
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        b[i].d = am_f32_to_f16(d);
        float dd = am_f16_to_f32(b[i].d);
        uint8_t L[AM_QKK];
        for (int j = 0; j < 16; j++) {
            b[i].scales[j] = (int8_t)clampi(round_int(sc[j] * id), -127, 127);
            float de = dd * b[i].scales[j];
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)(de != 0 ? clampi(round_int(x[16 * j + l] / de), -32, 31) + 32 : 32);
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const uint8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

void am_quantize_row(am_type t, const float *src, void *dst, int64_t n) {
    int be = am_type_block_elems(t);
    assert(be > 0 && n % be == 0);
    int64_t nb = n / be;
    switch (t) {
    case AM_TYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case AM_TYPE_F16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = am_f32_to_f16(src[i]);
        break;
    }
    case AM_TYPE_BF16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = am_f32_to_bf16(src[i]);
        break;
    }
    case AM_TYPE_Q4_0: quant_q4_0(src, dst, nb); break;
    case AM_TYPE_Q8_0: quant_q8_0(src, dst, nb); break;
    case AM_TYPE_Q4_K: quant_q4_k(src, dst, nb); break;
    case AM_TYPE_Q5_K: quant_q5_k(src, dst, nb); break;
    case AM_TYPE_Q6_K: quant_q6_k(src, dst, nb); break;
    }
}

/* ---- activation quantizers (blocks.h) ---------------------------------------------- */

void am_quantize_q8a(const float *x, am_q8a *dst, int64_t n) {
    for (int64_t i = 0; i < n / AM_QK; i++, x += AM_QK) {
        float amax = 0;
        for (int j = 0; j < AM_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float id = amax > 0 ? 127.0f / amax : 0.0f;
        int s = 0;
        for (int j = 0; j < AM_QK; j++) {
            int q = (int)nearbyintf(x[j] * id);
            dst[i].qs[j] = (int8_t)q;
            s += q;
        }
        dst[i].d = amax / 127.0f;
        dst[i].s = s;
    }
}

void am_quantize_q8k(const float *x, am_q8k *dst, int64_t n) {
    for (int64_t i = 0; i < n / AM_QKK; i++, x += AM_QKK) {
        float amax = 0;
        for (int j = 0; j < AM_QKK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float id = amax > 0 ? 127.0f / amax : 0.0f;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 16 * g; j < 16 * g + 16; j++) {
                int q = (int)nearbyintf(x[j] * id);
                dst[i].qs[j] = (int8_t)q;
                s += q;
            }
            dst[i].bsums[g] = (int16_t)s;
        }
        dst[i].d = amax / 127.0f;
        memset(dst[i].pad_, 0, sizeof dst[i].pad_);
    }
}
