/*
 * att_kern.h — private to src/engine/: the inner loops of attention, of the
 * K/V stores and of the gated activations, one table per ISA level (scalar in attention.c, AVX2 in
 * att_avx2.c, AVX-512 in att_avx512.c). The level follows the compute
 * module's choice (am_compute_isa: CPUID, lowered by AGENTMEM_ISA), so SIMD
 * code is reached only after its CPUID check. Levels differ only in float
 * summation order and in exp() being a polynomial (|rel err| < 2e-7).
 */
#ifndef AM_ATT_KERN_H
#define AM_ATT_KERN_H

#include <stdint.h>

typedef struct eng_att_kern {
    /* dst[i] = f16 src[i] as float */
    void (*f16_to_f32)(const uint16_t *src, float *dst, int64_t n);
    /* dst[i] = f16(src[i]), round to nearest even */
    void (*f32_to_f16)(const float *src, uint16_t *dst, int64_t n);
    /* dst[0..nb*32) = value of nb GGUF Q8_0 / Q4_0 blocks at src (bit-exact
     * with am_dequant_row: d * q, with d the f16 scale as float) */
    void (*q8_0_to_f32)(const void *src, float *dst, int64_t nb);
    void (*q4_0_to_f32)(const void *src, float *dst, int64_t nb);
    /* s[r*ld + i] = scale * dot(q[r*hd..], k[i*hd..]) for r < nrep, i < cnt */
    void (*scores)(const float *q, int nrep, int hd, const float *k, int cnt, float scale, float *s, int ld);
    /* s[i] = exp(s[i] - m) for i < n; returns the sum */
    float (*exp_sum)(float *s, int n, float m);
    /* acc[r*hd + c] = acc[r*hd + c] * corr[r] + sum_i p[r*ld + i] * v[i*hd + c] */
    void (*accum)(float *acc, const float *corr, int nrep, int hd, const float *p, int ld, const float *v,
                  int cnt);
    /* gated activations: g[i] = act(g[i]) * u[i], act = SiLU or GeLU-tanh */
    void (*silu_mul)(float *g, const float *u, int64_t n);
    void (*gelu_mul)(float *g, const float *u, int64_t n);
} eng_att_kern;

void eng_att_kern_scalar(eng_att_kern *k);
void eng_att_kern_avx2(eng_att_kern *k);
void eng_att_kern_avx512(eng_att_kern *k);
/* The table for the compute module's ISA level. */
const eng_att_kern *eng_att_kern_get(void);

#endif
