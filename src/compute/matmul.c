/*
 * matmul.c — the driver behind am_matmul / am_matmul_multi: prepares the
 * activations once per call in each format the weights need (quantized for
 * integer kernels, transposed for float prefill), cuts every weight's output
 * into chunks and lets the pool's threads claim them from one atomic counter
 * (dynamic, so a core slowed by a neighbour does not stall the step).
 * BF16 weights' prefill rounds activations to bf16 (AM_ACT_BF16XT) unless
 * am_compute_set_bf16_act(0) / AGENTMEM_BF16_ACT=0; decode never does.
 * Kernels come from kernels.h. Owns no memory across calls except the pool's
 * scratch buffer.
 */
#include "compute/matmul.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/base.h"
#include "compute/kernels.h"
#include "compute/pack.h"
#include "compute/pool_priv.h"
#include "compute/quant.h"

/* Row chunks are multiples of this (SIMD kernels tile rows by up to 16). */
#define ROW_ALIGN 16
/* Tokens per chunk in prefill: a chunk's rows of W (64 x n_in) stay in L2
 * while its tokens pass; the whole of W is read from memory once per token
 * chunk, so chunks are long (128: F16 2048x2048 x 512 tokens ran ~15% faster
 * than with 64). */
#define TOK_CHUNK 128
#define N_ACT AM_ACT_KINDS

typedef struct {
    am_mm_fn fn;
    am_mm_args a;
    int64_t n_out;
    int64_t rows_per_chunk, n_rchunks;
    int toks_per_chunk;
    int64_t first_chunk, n_chunks;
} mm_part;

typedef struct {
    const am_kernels *k;
    const float *x;
    int64_t n_in;
    int n_tok;
    uint8_t *act[N_ACT];     /* prepared activations per kind (NULL: not needed) */
    size_t act_stride[N_ACT]; /* bytes per token (per 16-token group for AM_ACT_XT/BF16XT) */
    mm_part part[AM_MATMUL_MAX_MULTI];
    int n_parts;
    int64_t n_chunks;
    _Atomic int64_t next;
} mm_job;

/* Tokens [t0, t1) into the transposed groups of AM_ACT_XT (t0 a multiple of the group
 * size); padding tokens of the last group are zero. */
static void prep_xt(const mm_job *j, int t0, int t1) {
    const int64_t n = j->n_in;
    for (int g0 = t0; g0 < t1; g0 += AM_XT_GROUP) {
        float *dst = (float *)(j->act[AM_ACT_XT] + (size_t)(g0 / AM_XT_GROUP) * j->act_stride[AM_ACT_XT]);
        int m = AM_MIN(AM_XT_GROUP, j->n_tok - g0);
        for (int64_t k0 = 0; k0 < n; k0 += 64) /* 64-wide strips keep both sides in cache */
            for (int i = 0; i < AM_XT_GROUP; i++) {
                const float *src = j->x + (int64_t)(g0 + i) * n;
                for (int64_t k = k0; k < AM_MIN(n, k0 + 64); k++) dst[k * AM_XT_GROUP + i] = i < m ? src[k] : 0.0f;
            }
    }
}

void am_prep_bf16xt(const float *x, int64_t n_in, int n_tok, int t0, int t1, uint8_t *dst) {
    const int64_t np = (n_in + 1) / 2; /* pairs per token; an odd n_in's last one is (x, 0) */
    const size_t gstride = am_act_row_bytes(AM_ACT_BF16XT, n_in) * AM_XT_GROUP;
    for (int g0 = t0; g0 < t1; g0 += AM_XT_GROUP) {
        uint32_t *d = (uint32_t *)(dst + (size_t)(g0 / AM_XT_GROUP) * gstride); /* [np][16] pairs */
        int m = AM_MIN(AM_XT_GROUP, n_tok - g0);
        for (int i = 0; i < AM_XT_GROUP; i++) {
            if (i >= m) {
                for (int64_t p = 0; p < np; p++) d[p * AM_XT_GROUP + i] = 0;
                continue;
            }
            const float *src = x + (int64_t)(g0 + i) * n_in;
            for (int64_t p = 0; p < n_in / 2; p++)
                d[p * AM_XT_GROUP + i] = am_f32_to_bf16(src[2 * p]) | (uint32_t)am_f32_to_bf16(src[2 * p + 1]) << 16;
            if (n_in & 1) d[(np - 1) * AM_XT_GROUP + i] = am_f32_to_bf16(src[n_in - 1]);
        }
    }
}

size_t am_act_bytes(am_act_kind k, int64_t n_in, int n_tok) {
    size_t row = am_act_row_bytes(k, n_in);
    if (k == AM_ACT_XT || k == AM_ACT_BF16XT) /* whole groups */
        return row * AM_XT_GROUP * (size_t)((n_tok + AM_XT_GROUP - 1) / AM_XT_GROUP);
    return row * (size_t)n_tok;
}

static void prep_tokens(const mm_job *j, int t0, int t1) {
    if (j->act[AM_ACT_XT]) prep_xt(j, t0, t1);
    if (j->act[AM_ACT_BF16XT]) am_prep_bf16xt(j->x, j->n_in, j->n_tok, t0, t1, j->act[AM_ACT_BF16XT]);
    for (int t = t0; t < t1; t++) {
        const float *xr = j->x + (int64_t)t * j->n_in;
        if (j->act[AM_ACT_Q8A]) j->k->quant_q8a(xr, (am_q8a *)(j->act[AM_ACT_Q8A] + (size_t)t * j->act_stride[AM_ACT_Q8A]), j->n_in);
        if (j->act[AM_ACT_Q8K]) j->k->quant_q8k(xr, (am_q8k *)(j->act[AM_ACT_Q8K] + (size_t)t * j->act_stride[AM_ACT_Q8K]), j->n_in);
    }
}

static void prep_worker(void *ctx, int ith, int nth) {
    const mm_job *j = ctx;
    int per = (j->n_tok + nth - 1) / nth;
    per = (per + AM_XT_GROUP - 1) / AM_XT_GROUP * AM_XT_GROUP; /* whole groups per thread */
    int t0 = ith * per, t1 = AM_MIN(j->n_tok, t0 + per);
    if (t0 < t1) prep_tokens(j, t0, t1);
}

static void mm_worker(void *ctx, int ith, int nth) {
    mm_job *j = ctx;
    (void)ith;
    (void)nth;
    int64_t c;
    while ((c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n_chunks) {
        const mm_part *p = &j->part[0];
        for (int i = 1; i < j->n_parts && c >= j->part[i].first_chunk; i++) p = &j->part[i];
        int64_t lc = c - p->first_chunk;
        int64_t tc = lc / p->n_rchunks, rc = lc % p->n_rchunks;
        int64_t r0 = rc * p->rows_per_chunk, r1 = AM_MIN(p->n_out, r0 + p->rows_per_chunk);
        int t0 = (int)(tc * p->toks_per_chunk), t1 = AM_MIN(j->n_tok, t0 + p->toks_per_chunk);
        p->fn(&p->a, r0, r1, t0, t1);
    }
}

void am_matmul_multi(am_pool *pool, int n_w, const am_tensor *const w[], const float *x, int n_tok, float *const y[]) {
    assert(n_w >= 1 && n_w <= AM_MATMUL_MAX_MULTI);
    if (n_tok <= 0) return;
    const am_kernels *k = am_kernels_get();
    const int nth = am_pool_n_threads(pool);
    mm_job j = {.k = k, .x = x, .n_in = w[0]->ne[0], .n_tok = n_tok, .n_parts = n_w};

    /* Which activation formats are needed, and where they go in the scratch buffer. */
    am_act_kind kinds[AM_MATMUL_MAX_MULTI];
    size_t act_bytes[N_ACT] = {0};
    for (int i = 0; i < n_w; i++) {
        int kt = am_ktype_of_tensor(w[i]);
        assert(kt >= 0 && w[i]->ne[0] == j.n_in);
        mm_part *p = &j.part[i];
        p->fn = k->mm[kt];
        kinds[i] = am_act_of(kt);
        if (kt == AM_KT_BF16 && n_tok >= AM_XT_MIN_TOK && k->mm_bf16xt && am_compute_bf16_act()) {
            kinds[i] = AM_ACT_BF16XT;
            p->fn = k->mm_bf16xt;
        } else if (kinds[i] == AM_ACT_F32 && n_tok >= AM_XT_MIN_TOK && k->mm_xt[kt]) {
            kinds[i] = AM_ACT_XT;
            p->fn = k->mm_xt[kt];
        }
        size_t stride = am_act_row_bytes(kinds[i], j.n_in);
        if (kinds[i] == AM_ACT_XT || kinds[i] == AM_ACT_BF16XT) stride *= AM_XT_GROUP; /* one group */
        if (kinds[i] != AM_ACT_F32) act_bytes[kinds[i]] = am_act_bytes(kinds[i], j.n_in, n_tok);
        j.act_stride[kinds[i]] = stride;
    }
    size_t total = 0, off[N_ACT];
    for (int a = 0; a < N_ACT; a++) {
        off[a] = total;
        total += (act_bytes[a] + 63) / 64 * 64;
    }
    if (total) {
        uint8_t *scratch = am_pool_scratch(pool, total);
        for (int a = 0; a < N_ACT; a++)
            if (act_bytes[a]) j.act[a] = scratch + off[a];
        if (n_tok >= 4 && nth > 1)
            am_pool_run(pool, prep_worker, &j);
        else
            prep_tokens(&j, 0, n_tok);
    }

    /* Decode: ~8 chunks per thread over all the weights balance two cores without much
     * claiming traffic. Prefill: token chunks of TOK_CHUNK against row chunks of 64. */
    int64_t rows_total = 0;
    for (int i = 0; i < n_w; i++) rows_total += am_tensor_nrows(w[i]);
    for (int i = 0; i < n_w; i++) {
        mm_part *p = &j.part[i];
        p->n_out = am_tensor_nrows(w[i]);
        p->a.w = w[i]->data;
        /* packed: one 16-row tile per "row" of the kernel's stride (kernels.h) */
        p->a.w_stride = w[i]->layout == AM_LAYOUT_TILE16 ? am_tile16_stride(w[i]->type, j.n_in)
                                                         : am_type_row_bytes(w[i]->type, j.n_in);
        assert(p->a.w_stride > 0);
        p->a.n_in = j.n_in;
        p->a.x = kinds[i] == AM_ACT_F32 ? (const uint8_t *)x : j.act[kinds[i]];
        p->a.x_stride = kinds[i] == AM_ACT_F32 ? (size_t)j.n_in * sizeof(float) : j.act_stride[kinds[i]];
        p->a.y = y[i];
        p->a.ldy = p->n_out;
        if (n_tok <= 8) {
            int64_t want = rows_total / (8 * nth);
            p->rows_per_chunk = AM_MAX(ROW_ALIGN, (want + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN);
            p->toks_per_chunk = n_tok;
        } else {
            p->rows_per_chunk = 64;
            p->toks_per_chunk = TOK_CHUNK;
        }
        p->n_rchunks = (p->n_out + p->rows_per_chunk - 1) / p->rows_per_chunk;
        p->n_chunks = p->n_rchunks * ((n_tok + p->toks_per_chunk - 1) / p->toks_per_chunk);
        p->first_chunk = j.n_chunks;
        j.n_chunks += p->n_chunks;
    }
    atomic_init(&j.next, 0);
    if (j.n_chunks == 1 || nth == 1)
        mm_worker(&j, 0, 1);
    else
        am_pool_run(pool, mm_worker, &j);
}

void am_matmul(am_pool *pool, const am_tensor *w, const float *x, int n_tok, float *y) {
    am_matmul_multi(pool, 1, &w, x, n_tok, &y);
}

void am_tensor_get_row(const am_tensor *w, int64_t row, float *dst) {
    size_t rb = am_type_row_bytes(w->type, w->ne[0]);
    assert(rb > 0 && row >= 0 && row < am_tensor_nrows(w));
    if (w->layout == AM_LAYOUT_TILE16) {
        uint8_t *tmp = am_xmalloc(rb); /* rare: the engine looks rows up in unpacked tensors */
        am_pack_read_row(w, row, tmp);
        am_dequant_row(w->type, tmp, dst, w->ne[0]);
        free(tmp);
        return;
    }
    am_dequant_row(w->type, (const uint8_t *)w->data + (size_t)row * rb, dst, w->ne[0]);
}
