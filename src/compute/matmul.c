/*
 * matmul.c — am_matmul's driver: prepares the activations once per call
 * (quantized for integer kernels), cuts the output into chunks and lets the
 * pool's threads claim them from an atomic counter (dynamic, so a core slowed
 * by a neighbour does not stall the step). Kernels come from kernels.h.
 * Owns no memory across calls except the pool's scratch buffer.
 */
#include "compute/matmul.h"

#include <assert.h>
#include <stdatomic.h>

#include "base/base.h"

#include "compute/kernels.h"
#include "compute/pool_priv.h"
#include "compute/quant.h"

/* Row chunks are multiples of this (SIMD kernels tile rows by up to 16). */
#define ROW_ALIGN 16
/* Tokens per chunk in prefill: a chunk's rows of W (64 x n_in) stay in L2
 * while its tokens pass; the whole of W is read from memory once per token
 * chunk, so chunks are long (128: F16 2048x2048 x 512 tokens ran ~15% faster
 * than with 64). */
#define TOK_CHUNK 128

typedef struct {
    const am_kernels *k;
    am_mm_fn fn;
    am_mm_args a;
    int64_t n_out;
    int n_tok;
    /* activation preparation */
    am_act_kind act;
    const float *x;
    uint8_t *xq;
    /* chunking */
    int64_t rows_per_chunk, n_rchunks;
    int toks_per_chunk;
    int64_t n_chunks;
    _Atomic int64_t next;
} mm_job;

/* Tokens [t0, t1) into the transposed groups of AM_ACT_XT (t0, t1 multiples of the group
 * size except t1 == n_tok); padding tokens of the last group are zero. */
static void prep_xt(const mm_job *j, int t0, int t1) {
    const int64_t n = j->a.n_in;
    for (int g0 = t0; g0 < t1; g0 += AM_XT_GROUP) {
        float *dst = (float *)(j->xq + (size_t)(g0 / AM_XT_GROUP) * j->a.x_stride);
        int m = AM_MIN(AM_XT_GROUP, j->n_tok - g0);
        for (int64_t k0 = 0; k0 < n; k0 += 64) /* 64-wide strips keep both sides in cache */
            for (int i = 0; i < AM_XT_GROUP; i++) {
                const float *src = j->x + (int64_t)(g0 + i) * n;
                for (int64_t k = k0; k < AM_MIN(n, k0 + 64); k++) dst[k * AM_XT_GROUP + i] = i < m ? src[k] : 0.0f;
            }
    }
}

static void prep_tokens(const mm_job *j, int t0, int t1) {
    if (j->act == AM_ACT_XT) {
        prep_xt(j, t0, t1);
        return;
    }
    for (int t = t0; t < t1; t++) {
        const float *xr = j->x + (int64_t)t * j->a.n_in;
        uint8_t *dst = j->xq + (size_t)t * j->a.x_stride;
        if (j->act == AM_ACT_Q8A)
            j->k->quant_q8a(xr, (am_q8a *)dst, j->a.n_in);
        else
            j->k->quant_q8k(xr, (am_q8k *)dst, j->a.n_in);
    }
}

static void prep_worker(void *ctx, int ith, int nth) {
    const mm_job *j = ctx;
    int per = (j->n_tok + nth - 1) / nth;
    if (j->act == AM_ACT_XT) per = (per + AM_XT_GROUP - 1) / AM_XT_GROUP * AM_XT_GROUP;
    int t0 = ith * per, t1 = AM_MIN(j->n_tok, t0 + per);
    if (t0 < t1) prep_tokens(j, t0, t1);
}

static void mm_worker(void *ctx, int ith, int nth) {
    mm_job *j = ctx;
    (void)ith;
    (void)nth;
    int64_t c;
    while ((c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n_chunks) {
        int64_t tc = c / j->n_rchunks, rc = c % j->n_rchunks;
        int64_t r0 = rc * j->rows_per_chunk, r1 = AM_MIN(j->n_out, r0 + j->rows_per_chunk);
        int t0 = (int)(tc * j->toks_per_chunk), t1 = AM_MIN(j->n_tok, t0 + j->toks_per_chunk);
        j->fn(&j->a, r0, r1, t0, t1);
    }
}

void am_matmul(am_pool *pool, const am_tensor *w, const float *x, int n_tok, float *y) {
    int kt = am_ktype_of(w->type);
    assert(kt >= 0);
    if (n_tok <= 0) return;
    const am_kernels *k = am_kernels_get();
    int nth = am_pool_n_threads(pool);
    mm_job j = {.k = k, .fn = k->mm[kt], .n_out = am_tensor_nrows(w), .n_tok = n_tok, .x = x};
    j.a.w = w->data;
    j.a.n_in = w->ne[0];
    j.a.w_stride = am_type_row_bytes(w->type, w->ne[0]);
    j.a.y = y;
    j.a.ldy = j.n_out;
    assert(j.a.w_stride > 0);
    j.act = am_act_of(kt);
    j.a.x_stride = am_act_row_bytes(j.act, j.a.n_in);
    size_t x_bytes = j.a.x_stride * (size_t)n_tok;
    if (j.act == AM_ACT_F32 && n_tok >= AM_XT_MIN_TOK && k->mm_xt[kt]) {
        j.act = AM_ACT_XT;
        j.fn = k->mm_xt[kt];
        j.a.x_stride *= AM_XT_GROUP;
        x_bytes = j.a.x_stride * (size_t)((n_tok + AM_XT_GROUP - 1) / AM_XT_GROUP);
    }
    if (j.act == AM_ACT_F32) {
        j.a.x = (const uint8_t *)x;
    } else {
        j.xq = am_pool_scratch(pool, x_bytes);
        j.a.x = j.xq;
        if (n_tok >= 4 && nth > 1)
            am_pool_run(pool, prep_worker, &j);
        else
            prep_tokens(&j, 0, n_tok);
    }

    /* Decode: ~8 chunks per thread balance two cores without much claiming traffic.
     * Prefill: token chunks of TOK_CHUNK against row chunks of 64. */
    if (n_tok < 8) {
        int64_t want = j.n_out / (8 * nth);
        j.rows_per_chunk = AM_MAX(ROW_ALIGN, (want + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN);
        j.toks_per_chunk = n_tok;
    } else {
        j.rows_per_chunk = 64;
        j.toks_per_chunk = TOK_CHUNK;
    }
    j.n_rchunks = (j.n_out + j.rows_per_chunk - 1) / j.rows_per_chunk;
    int64_t n_tchunks = (n_tok + j.toks_per_chunk - 1) / j.toks_per_chunk;
    j.n_chunks = j.n_rchunks * n_tchunks;
    atomic_init(&j.next, 0);
    if (j.n_chunks == 1 || nth == 1)
        mm_worker(&j, 0, 1);
    else
        am_pool_run(pool, mm_worker, &j);
}

void am_tensor_get_row(const am_tensor *w, int64_t row, float *dst) {
    size_t rb = am_type_row_bytes(w->type, w->ne[0]);
    assert(rb > 0 && row >= 0 && row < am_tensor_nrows(w));
    am_dequant_row(w->type, (const uint8_t *)w->data + (size_t)row * rb, dst, w->ne[0]);
}
