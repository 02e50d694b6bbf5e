/*
 * kernels.h — the per-ISA kernel table behind am_matmul (internal to src/compute).
 *
 * A kernel computes a rectangle of the output: rows [r0, r1) of W against
 * tokens [t0, t1) of the prepared activations. Activations are prepared once
 * per am_matmul call in the format the weight type wants (am_act_of): float32
 * for F32/F16/BF16, am_q8a blocks for Q4_0/Q8_0, am_q8k blocks for K-quants.
 * That format is the same at every ISA level, and SIMD activation quantizers
 * must produce the same bytes as the scalar ones, so ISA levels differ only
 * in float summation order. The one exception is AM_ACT_BF16XT (BF16 weights,
 * prefill, AVX-512 only, AGENTMEM_BF16_ACT): activations rounded to bf16,
 * which changes results by ~1e-3 relative (docs/INTERNALS.md "Compute kernels").
 */
#ifndef AM_KERNELS_H
#define AM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "compute/blocks.h"
#include "compute/types.h"

typedef enum {
    AM_KT_F32,
    AM_KT_F16,
    AM_KT_BF16,
    AM_KT_Q4_0,
    AM_KT_Q8_0,
    AM_KT_Q4_K,
    AM_KT_Q5_K,
    AM_KT_Q6_K,
    AM_KT_Q4_0P, /* Q4_0 / Q8_0 in AM_LAYOUT_TILE16 (blocks.h): am_mm_args.w_stride is then */
    AM_KT_Q8_0P, /* the bytes of one 16-row tile and r0 is a multiple of 16 */
    AM_KT_Q6_KP, /* Q6_K in AM_LAYOUT_TILE16, likewise */
    AM_KT_COUNT
} am_ktype;

/* AM_ACT_XT (float weights, prefill, when the level has mm_xt): float32 activations
 * transposed in groups of AM_XT_GROUP tokens, [n_tok/16][n_in][16], the last group zero
 * padded; x_stride is the bytes of one group.
 * AM_ACT_BF16XT (BF16 weights, prefill, when the level has mm_bf16xt and
 * am_compute_bf16_act()): activations rounded to bf16 (round to nearest even, NaN stays
 * NaN: am_f32_to_bf16's bits) in groups of 16 tokens with consecutive input pairs
 * interleaved, uint16 [ceil(n_tok/16)][ceil(n_in/2)][16][2]: element [g][p][i][h] is input
 * 2p+h of token 16g+i, so one 64-byte row [g][p] is a vdpbf16ps operand (16 lanes = 16
 * tokens, each a pair of inputs). The last group's missing tokens and, for odd n_in, input
 * n_in of every token are zero. x_stride is the bytes of one group, ceil(n_in/2) * 64. */
typedef enum { AM_ACT_F32, AM_ACT_Q8A, AM_ACT_Q8K, AM_ACT_XT, AM_ACT_BF16XT } am_act_kind;
#define AM_ACT_KINDS 5

#define AM_XT_GROUP 16
#define AM_XT_MIN_TOK 16

static inline int am_ktype_of(am_type t) {
    switch (t) {
    case AM_TYPE_F32: return AM_KT_F32;
    case AM_TYPE_F16: return AM_KT_F16;
    case AM_TYPE_BF16: return AM_KT_BF16;
    case AM_TYPE_Q4_0: return AM_KT_Q4_0;
    case AM_TYPE_Q8_0: return AM_KT_Q8_0;
    case AM_TYPE_Q4_K: return AM_KT_Q4_K;
    case AM_TYPE_Q5_K: return AM_KT_Q5_K;
    case AM_TYPE_Q6_K: return AM_KT_Q6_K;
    }
    return -1;
}

/* The kernel type of a tensor view: its element type and layout (-1: none). */
static inline int am_ktype_of_tensor(const am_tensor *w) {
    if (w->layout == AM_LAYOUT_TILE16)
        return w->type == AM_TYPE_Q4_0   ? AM_KT_Q4_0P
               : w->type == AM_TYPE_Q8_0 ? AM_KT_Q8_0P
               : w->type == AM_TYPE_Q6_K ? AM_KT_Q6_KP
                                         : -1;
    return w->layout == AM_LAYOUT_ROWS ? am_ktype_of(w->type) : -1;
}

static inline am_act_kind am_act_of(int kt) {
    if (kt == AM_KT_Q4_0P || kt == AM_KT_Q8_0P) return AM_ACT_Q8A;
    if (kt == AM_KT_Q6_KP) return AM_ACT_Q8K;
    return kt <= AM_KT_BF16 ? AM_ACT_F32 : kt <= AM_KT_Q8_0 ? AM_ACT_Q8A : AM_ACT_Q8K;
}

/* Bytes of one 16-row tile of a packed (AM_LAYOUT_TILE16) tensor of type t, n_in per row. */
static inline size_t am_tile16_stride(am_type t, int64_t n_in) {
    return t == AM_TYPE_Q6_K ? am_tile16_q6k_bytes(n_in / AM_QKK) : am_tile16_bytes(t == AM_TYPE_Q8_0, n_in / AM_QK);
}

/* Bytes of one token's prepared activations for n_in inputs. */
static inline size_t am_act_row_bytes(am_act_kind k, int64_t n_in) {
    switch (k) {
    case AM_ACT_F32: return (size_t)n_in * sizeof(float);
    case AM_ACT_Q8A: return (size_t)(n_in / AM_QK) * sizeof(am_q8a);
    case AM_ACT_Q8K: return (size_t)(n_in / AM_QKK) * sizeof(am_q8k);
    case AM_ACT_XT: return (size_t)n_in * sizeof(float); /* per token; a group is 16 of these */
    case AM_ACT_BF16XT: return (size_t)(n_in + 1) / 2 * 2 * sizeof(uint16_t); /* likewise; odd n_in padded */
    }
    return 0;
}

/* Bytes of n_tok tokens' prepared activations (whole 16-token groups for the XT kinds):
 * what the driver allocates and the preparation writes. */
size_t am_act_bytes(am_act_kind k, int64_t n_in, int n_tok);

/* Tokens [t0, t1) of x [n_tok][n_in] (t0 a multiple of AM_XT_GROUP, t1 = n_tok or a
 * multiple of it) into AM_ACT_BF16XT at dst (group 0's start), padding included: every
 * byte of those groups is written. Portable C (matmul.c). */
void am_prep_bf16xt(const float *x, int64_t n_in, int n_tok, int t0, int t1, uint8_t *dst);

typedef struct am_mm_args {
    const uint8_t *w; /* row 0 of W */
    size_t w_stride;  /* bytes per row of W */
    int64_t n_in;     /* elements per row */
    const uint8_t *x; /* token 0's prepared activations */
    size_t x_stride;  /* bytes per token */
    float *y;         /* y[t * ldy + r] */
    int64_t ldy;
} am_mm_args;

typedef void (*am_mm_fn)(const am_mm_args *a, int64_t r0, int64_t r1, int t0, int t1);

typedef struct am_kernels {
    const char *name;
    am_mm_fn mm[AM_KT_COUNT];
    /* Optional, float types only: the same product against AM_ACT_XT activations, used when
     * n_tok >= AM_XT_MIN_TOK; t0 is then a multiple of AM_XT_GROUP. */
    am_mm_fn mm_xt[AM_KT_COUNT];
    /* Optional: BF16 weights against AM_ACT_BF16XT activations (bf16 products, f32 sums),
     * used instead of mm_xt[AM_KT_BF16] when n_tok >= AM_XT_MIN_TOK and
     * am_compute_bf16_act(); t0 is a multiple of AM_XT_GROUP. Only levels whose CPU has
     * AVX512_BF16 set it (the avx512 level requires that CPUID bit, dispatch.c). */
    am_mm_fn mm_bf16xt;
    void (*quant_q8a)(const float *x, am_q8a *dst, int64_t n);
    void (*quant_q8k)(const float *x, am_q8k *dst, int64_t n);
} am_kernels;

/* Each fills in what it implements; the scalar level implements everything and
 * the others start from a copy of the level below. */
void am_kernels_init_scalar(am_kernels *k);
void am_kernels_init_avx2(am_kernels *k);
void am_kernels_init_avx512(am_kernels *k);

/* The table in use (chosen on first call: CPUID, then AGENTMEM_ISA). */
const am_kernels *am_kernels_get(void);

#endif
