/*
 * matmul.h — the engine's linear algebra entry points.
 *
 * Weights are am_tensor views [n_out rows][n_in] of any am_type, in the row
 * layout or (Q4_0/Q8_0) repacked by am_pack_tensor (compute/pack.h); activations
 * are float32. Kernels are chosen once at run time by CPUID (scalar
 * reference, AVX2, AVX-512 VNNI/BF16); AGENTMEM_ISA=scalar|avx2|avx512 forces
 * a level for testing.
 */
#ifndef AM_MATMUL_H
#define AM_MATMUL_H

#include "compute/pool.h"
#include "compute/types.h"

/* y[t][0..n_out) = W · x[t] for t in [0, n_tok).
 * x: [n_tok][n_in] float32, y: [n_tok][n_out] float32, n_in = W->ne[0],
 * n_out = W->ne[1]. Runs on the pool; x and y must not alias. */
void am_matmul(am_pool *pool, const am_tensor *w, const float *x, int n_tok, float *y);

/* Several products of the same input, e.g. Q/K/V or gate/up: y[i] = W[i] · x
 * for i in [0, n_w), n_w <= AM_MATMUL_MAX_MULTI. All W[i] have the same n_in;
 * types may differ. Cheaper than n_w calls: the activations are prepared
 * (quantized) once per format and all outputs share one pool dispatch. */
#define AM_MATMUL_MAX_MULTI 4
void am_matmul_multi(am_pool *pool, int n_w, const am_tensor *const w[], const float *x, int n_tok, float *const y[]);

/* Copies row `row` of W, dequantized, into dst[W->ne[0]] (embedding lookup). */
void am_tensor_get_row(const am_tensor *w, int64_t row, float *dst);

/* The ISA level in use: "scalar", "avx2" or "avx512". */
const char *am_compute_isa(void);

/* Forces a level (tests, benchmarks). Returns -1 (and changes nothing) for an
 * unknown name or a level this CPU lacks. Must not race with running matmuls. */
int am_compute_set_isa(const char *name);

/* BF16 weights' prefill (>= 16 tokens) with bf16-rounded activations and vdpbf16ps
 * (on by default where the CPU has AVX512_BF16; AGENTMEM_BF16_ACT=0 turns it off at
 * start). ~2x faster than f32 activations, results ~1e-3 relative apart (the f32 path
 * is exact up to summation order); decode always uses f32 activations. 0 turns it off,
 * nonzero on. Like am_compute_set_isa: must not race with running matmuls (tests,
 * benchmarks, or once before an engine exists). */
void am_compute_set_bf16_act(int on);
int am_compute_bf16_act(void);

#endif
