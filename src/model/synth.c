/*
 * synth.c — mkmodel's core: the shape table and the weights, generated and
 * quantized on worker threads chunk by chunk and streamed into the GGUF
 * writer (tensor names and metadata keys: gguf_arch.c). Holds at most one
 * chunk of tensor data (CHUNK_BYTES) at a time; never writes the target path
 * except through the writer's atomic commit.
 */
#include "model/synth.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "compute/quant.h"
#include "model/gguf_arch.h"
#include "model/gguf_write.h"
#include "model/synth_rng.h"
#include "model/synth_vocab.h"

#define CHUNK_BYTES ((size_t)32 << 20)
#define BIAS_STD 0.02f
/* Matrices: N(0, 1/n_in), which keeps every projection's output at the scale
 * of its input (0.022 for a 2048-wide input, close to the 0.02 of real
 * initializations; 0.0625 for the tiny model). With a flat 0.02, narrow models
 * attend almost uniformly and greedy generation falls into 2-token cycles. */
static float matrix_std(int64_t n_in) { return (float)(1.0 / sqrt((double)n_in)); }

/* Real shapes: Llama-3.2-1B, Llama-3.1-8B, Qwen2.5-0.5B, Gemma-3-1B (their
 * config.json), and a tiny llama for the default model and fast tests. */
static const am_synth_shape SHAPES[] = {
    {.name = "tiny", .arch = "llama", .model_name = "Tiny Llama (synthetic)", .n_vocab = 2048, .n_embd = 256,
     .n_layer = 4, .n_head = 4, .n_head_kv = 2, .head_dim = 64, .n_ff = 768, .n_ctx = 8192, .norm_eps = 1e-5f,
     .rope_base = 500000.0f, .rope_llama3_factor = 32.0f, .vocab_style = AM_SYNTH_VOCAB_LLAMA3},
    {.name = "llama-1b", .arch = "llama", .model_name = "Llama 3.2 1B (synthetic)", .n_vocab = 128256,
     .n_embd = 2048, .n_layer = 16, .n_head = 32, .n_head_kv = 8, .head_dim = 64, .n_ff = 8192, .n_ctx = 131072,
     .norm_eps = 1e-5f, .rope_base = 500000.0f, .rope_llama3_factor = 32.0f, .tied = true,
     .vocab_style = AM_SYNTH_VOCAB_LLAMA3},
    {.name = "llama-8b", .arch = "llama", .model_name = "Llama 3.1 8B (synthetic)", .n_vocab = 128256,
     .n_embd = 4096, .n_layer = 32, .n_head = 32, .n_head_kv = 8, .head_dim = 128, .n_ff = 14336, .n_ctx = 131072,
     .norm_eps = 1e-5f, .rope_base = 500000.0f, .rope_llama3_factor = 8.0f, .vocab_style = AM_SYNTH_VOCAB_LLAMA3},
    {.name = "qwen-0.5b", .arch = "qwen2", .model_name = "Qwen2.5 0.5B (synthetic)", .n_vocab = 151936,
     .n_embd = 896, .n_layer = 24, .n_head = 14, .n_head_kv = 2, .head_dim = 64, .n_ff = 4864, .n_ctx = 32768,
     .norm_eps = 1e-6f, .rope_base = 1000000.0f, .tied = true, .qkv_bias = true,
     .vocab_style = AM_SYNTH_VOCAB_QWEN2},
    {.name = "gemma3-1b", .arch = "gemma3", .model_name = "Gemma 3 1B (synthetic)", .n_vocab = 262144,
     .n_embd = 1152, .n_layer = 26, .n_head = 4, .n_head_kv = 1, .head_dim = 256, .n_ff = 6912, .n_ctx = 32768,
     .norm_eps = 1e-6f, .rope_base = 1000000.0f, .tied = true, .qk_norm = true, .post_norms = true,
     .sliding_window = 512, .vocab_style = AM_SYNTH_VOCAB_GEMMA},
};

const char *const am_synth_shape_names[] = {"tiny", "llama-1b", "llama-8b", "qwen-0.5b", "gemma3-1b", NULL};

const am_synth_shape *am_synth_find_shape(const char *name) {
    for (size_t i = 0; i < AM_ARRAY_LEN(SHAPES); i++)
        if (name && !strcmp(SHAPES[i].name, name)) return &SHAPES[i];
    return NULL;
}

bool am_synth_parse_ftype(const char *s, am_synth_ftype *out) {
    static const char *const names[] = {"f16", "q8_0", "q4_0", "q4_k", "bf16"};
    for (int i = 0; i < (int)AM_ARRAY_LEN(names); i++)
        if (s && !strcmp(s, names[i])) {
            *out = (am_synth_ftype)i;
            return true;
        }
    return false;
}

am_synth_params am_synth_default_params(void) {
    return (am_synth_params){.shape = "tiny", .ftype = AM_SYNTH_Q8_0, .seed = 1, .n_threads = 0};
}

/* llama.cpp's use_more_bits: the layers Q4_K_M gives more bits. */
static bool more_bits(int layer, int n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

am_type am_synth_tensor_type(const am_synth_shape *s, am_synth_ftype f, const char *role, int layer,
                             int64_t row_len) {
    bool is_output = !strcmp(role, "output") || (s->tied && !strcmp(role, "token_embd"));
    am_type t;
    switch (f) {
    case AM_SYNTH_F16: t = AM_TYPE_F16; break;
    case AM_SYNTH_BF16: t = AM_TYPE_BF16; break;
    case AM_SYNTH_Q8_0: t = AM_TYPE_Q8_0; break;
    case AM_SYNTH_Q4_0: t = is_output ? AM_TYPE_Q6_K : AM_TYPE_Q4_0; break;
    default:
        t = AM_TYPE_Q4_K;
        if (is_output || ((!strcmp(role, "attn_v") || !strcmp(role, "ffn_down")) && more_bits(layer, s->n_layer)))
            t = AM_TYPE_Q6_K;
        break;
    }
    if (row_len % am_type_block_elems(t) != 0) t = t == AM_TYPE_Q6_K ? AM_TYPE_Q8_0 : AM_TYPE_Q4_0;
    if (row_len % am_type_block_elems(t) != 0) t = AM_TYPE_F16;
    return t;
}

/* ---- metadata ---- */

static void write_metadata(am_gguf_writer *w, const am_synth_shape *s, const am_synth_params *p,
                           const am_synth_vocab *v, uint64_t n_params) {
    am_gguf_write_hparams(w, s, p->ftype, v->n, n_params, 1.0f);
    am_synth_vocab_write(v, w);
    const char *tmpl = s->vocab_style == AM_SYNTH_VOCAB_QWEN2   ? am_synth_template_qwen2
                       : s->vocab_style == AM_SYNTH_VOCAB_GEMMA ? am_synth_template_gemma3
                                                                : am_synth_template_llama3;
    am_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl);
    /* where this file came from, so that no one mistakes it for a trained model */
    am_gguf_writer_set_str(w, "agentmem.synthetic.shape", s->name);
    am_gguf_writer_set_u64(w, "agentmem.synthetic.seed", p->seed);
}

/* ---- weights ---- */

/* llama3 rope scaling as the converter computes rope_freqs.weight. */
static void rope_freqs(const am_synth_shape *s, float *out) {
    const double factor = s->rope_llama3_factor, low = 1.0, high = 4.0, old_ctx = 8192.0;
    const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
    int n = s->head_dim / 2;
    for (int i = 0; i < n; i++) {
        double freq = 1.0 / pow(s->rope_base, (2.0 * i) / s->head_dim);
        double wavelen = 2.0 * M_PI / freq;
        if (wavelen < high_wavelen) out[i] = 1.0f;
        else if (wavelen > low_wavelen) out[i] = (float)factor;
        else {
            double smooth = (old_ctx / wavelen - low) / (high - low);
            out[i] = (float)(1.0 / ((1.0 - smooth) / factor + smooth));
        }
    }
}

/* Quantized tensors are assembled from a pool of quantized blocks: the
 * reference K-quantizers cost ~100 ns a weight, which would make a 1B model
 * take minutes. Each pool holds n_params/16 random weights (64K..4M)
 * quantized once by
 * am_quantize_row; every row of a tensor is a random sequence of pool blocks
 * (a fresh choice per block), so rows are distinct and their statistics are
 * those of quantized N(0, 1/n_in) data, while the cost per weight is a
 * memcpy. One pool per (type, row length). F16/BF16 pools hold runs of 32 weights (the conversion alone
 * would cost more than the rest); F32 tensors (biases) are generated weight
 * by weight. */
#define POOL_MAX ((int64_t)1 << 22)
#define POOL_MIN ((int64_t)1 << 16)
#define POOL_ROW 4096

#define MAX_POOLS 32

typedef struct block_pool {
    am_type type;
    int64_t n_in;
    const uint8_t *blocks;
    int64_t n_blocks;
    size_t block_bytes;
} block_pool;

typedef struct fill_job {
    am_type type;
    int64_t ne0;             /* row length */
    const block_pool *pool;  /* NULL: generate and quantize each weight */
    float std;               /* of the generated weights */
    uint64_t tseed;
    int64_t row0, nrows;
    size_t row_bytes;
    uint8_t *out;
    int nth;
    int ith;
} fill_job;

static void fill_rows(const fill_job *j, int ith) {
    float *row = j->pool ? NULL : am_xmalloc_aligned((size_t)j->ne0 * sizeof(float));
    for (int64_t r = ith; r < j->nrows; r += j->nth) {
        am_rng rng;
        am_rng_seed(&rng, j->tseed + (uint64_t)(j->row0 + r));
        uint8_t *dst = j->out + (size_t)r * j->row_bytes;
        if (j->pool) {
            const block_pool *p = j->pool;
            for (size_t off = 0; off < j->row_bytes; off += p->block_bytes)
                memcpy(dst + off, p->blocks + am_rng_below(&rng, (uint64_t)p->n_blocks) * p->block_bytes, p->block_bytes);
        } else {
            for (int64_t i = 0; i < j->ne0; i++) row[i] = j->std * am_rng_normalish(&rng);
            am_quantize_row(j->type, row, dst, j->ne0);
        }
    }
    am_aligned_free(row);
}

static void *fill_thread(void *arg) {
    fill_job *j = arg;
    fill_rows(j, j->ith);
    return NULL;
}

/* Fills rows [row0, row0+nrows) on n threads; the result does not depend
 * on n (each row has its own generator). */
static void fill_parallel(fill_job *j, int n_threads) {
    int nth = (int)AM_MIN((int64_t)AM_MIN(n_threads, 64), j->nrows);
    if (nth < 1) nth = 1;
    j->nth = nth;
    pthread_t tid[64];
    fill_job jobs[64];
    int started = 0;
    for (int i = 1; i < nth; i++) {
        jobs[i] = *j;
        jobs[i].ith = i;
        if (pthread_create(&tid[i], NULL, fill_thread, &jobs[i]) != 0) break;
        started = i;
    }
    for (int i = started + 1; i < nth; i++) fill_rows(j, i); /* threads that did not start */
    fill_rows(j, 0);
    for (int i = 1; i <= started; i++) pthread_join(tid[i], NULL);
}

/* Weights per pool unit: a quantization block, or 32 for F16/BF16. */
static int pool_unit(am_type t) { return t == AM_TYPE_F16 || t == AM_TYPE_BF16 ? 32 : am_type_block_elems(t); }

/* The pool for type t and rows of n_in, made on first use (pools owns it);
 * NULL when all MAX_POOLS are taken (then weights are made one by one). */
static const block_pool *get_pool(block_pool *pools, am_type t, int64_t n_in, uint64_t n_params, uint64_t seed,
                                  int n_threads) {
    block_pool *p = NULL;
    for (int i = 0; i < MAX_POOLS && !p; i++) {
        if (pools[i].blocks && pools[i].type == t && pools[i].n_in == n_in) return &pools[i];
        if (!pools[i].blocks) p = &pools[i];
    }
    if (!p) return NULL;
    int64_t elems = AM_MAX(POOL_MIN, AM_MIN(POOL_MAX, (int64_t)(n_params / 16))) / POOL_ROW * POOL_ROW;
    size_t row_bytes = am_type_row_bytes(t, POOL_ROW);
    uint8_t *buf = am_xmalloc_aligned(row_bytes * (size_t)(elems / POOL_ROW));
    uint64_t pseed = seed ^ (0x5bd1e995ull * (uint64_t)(t + 1)) ^ ((uint64_t)n_in << 32);
    fill_job j = {.type = t, .ne0 = POOL_ROW, .std = matrix_std(n_in), .tseed = pseed, .row0 = 0,
                  .nrows = elems / POOL_ROW, .row_bytes = row_bytes, .out = buf};
    fill_parallel(&j, n_threads);
    p->type = t;
    p->n_in = n_in;
    p->blocks = buf;
    p->block_bytes = am_type_row_bytes(t, pool_unit(t));
    p->n_blocks = elems / pool_unit(t);
    return p;
}

static int write_tensor(am_gguf_writer *w, const am_tplan *t, const am_synth_shape *s, uint64_t seed, int n_threads,
                        block_pool *pools, uint64_t n_params, uint8_t *buf, am_err *err) {
    size_t row_bytes = am_type_row_bytes(t->type, t->ne[0]);
    if (t->kind == AM_TK_NORM || t->kind == AM_TK_ROPE_FREQS) {
        float *v = am_xmalloc((size_t)t->ne[0] * sizeof(float));
        if (t->kind == AM_TK_NORM)
            for (int64_t i = 0; i < t->ne[0]; i++) v[i] = 1.0f;
        else rope_freqs(s, v);
        int rc = am_gguf_writer_write(w, v, (size_t)t->ne[0] * sizeof(float), err);
        free(v);
        return rc;
    }
    bool pooled = t->type != AM_TYPE_F32 && t->ne[0] % pool_unit(t->type) == 0;
    const block_pool *pool = pooled ? get_pool(pools, t->type, t->ne[0], n_params, seed, n_threads) : NULL;
    uint64_t tseed = XXH3_64bits_withSeed(t->name, strlen(t->name), seed);
    int64_t rows_per_chunk = (int64_t)AM_MAX((size_t)1, CHUNK_BYTES / row_bytes);
    for (int64_t r0 = 0; r0 < t->ne[1]; r0 += rows_per_chunk) {
        fill_job j = {.type = t->type, .ne0 = t->ne[0], .pool = pool,
                      .std = t->kind == AM_TK_BIAS ? BIAS_STD : matrix_std(t->ne[0]), .tseed = tseed, .row0 = r0,
                      .nrows = AM_MIN(rows_per_chunk, t->ne[1] - r0), .row_bytes = row_bytes, .out = buf};
        fill_parallel(&j, n_threads);
        if (am_gguf_writer_write(w, buf, (size_t)j.nrows * row_bytes, err)) return -1;
    }
    return 0;
}

int am_synth_write(const am_synth_params *p, const char *path, am_err *err) {
    const am_synth_shape *s = p->custom_shape ? p->custom_shape : am_synth_find_shape(p->shape);
    if (!s) return am_err_set(err, "unknown shape '%s'", p->shape ? p->shape : "(null)");
    double t0 = am_time_now();
    am_synth_vocab *v = p->vocab_path
                            ? am_synth_vocab_load(p->vocab_path, (am_synth_vocab_style)s->vocab_style, s->n_vocab, err)
                            : am_synth_vocab_generate((am_synth_vocab_style)s->vocab_style, s->n_vocab);
    if (!v) return -1;
    if (v->n != s->n_vocab)
        am_log_warn("%s has %lld tokens; the model gets that many embedding rows instead of %d", p->vocab_path,
                    (long long)v->n, s->n_vocab);

    am_gguf_plan pl = {0};
    am_gguf_plan_make(&pl, s, p->ftype, v->n, s->rope_llama3_factor > 0);
    am_gguf_writer *w = am_gguf_writer_create();
    write_metadata(w, s, p, v, pl.n_params);
    am_synth_vocab_free(v);
    uint8_t *buf = NULL;
    block_pool pools[MAX_POOLS] = {{0}};
    int rc = -1;
    for (int i = 0; i < pl.n; i++)
        if (am_gguf_writer_add_tensor(w, pl.t[i].name, pl.t[i].type, pl.t[i].n_dims, pl.t[i].ne, err)) goto out;
    uint64_t total = am_gguf_writer_file_size(w);
    if (p->progress)
        am_log_info("mkmodel: %s, %llu parameters, %.1f MiB -> %s", s->name, (unsigned long long)pl.n_params,
                    (double)total / (1 << 20), path);
    if (am_gguf_writer_begin(w, path, err)) goto out;
    int n_threads = p->n_threads > 0 ? p->n_threads : am_n_cores();
    size_t max_row = 0;
    for (int i = 0; i < pl.n; i++) max_row = AM_MAX(max_row, am_type_row_bytes(pl.t[i].type, pl.t[i].ne[0]));
    buf = am_xmalloc_aligned(AM_MAX(CHUNK_BYTES, max_row));
    double last = t0;
    for (int i = 0; i < pl.n; i++) {
        if (write_tensor(w, &pl.t[i], s, p->seed, n_threads, pools, pl.n_params, buf, err)) {
            am_err_prefix(err, "%s", pl.t[i].name);
            goto out;
        }
        if (p->progress && am_time_now() - last > 5.0) {
            last = am_time_now();
            am_log_info("mkmodel: %d/%d tensors, %.0f s", i + 1, pl.n, last - t0);
        }
    }
    if (am_gguf_writer_finish(w, err)) goto out;
    if (p->progress) am_log_info("mkmodel: wrote %s in %.1f s", path, am_time_now() - t0);
    rc = 0;
out:
    for (size_t i = 0; i < AM_ARRAY_LEN(pools); i++) am_aligned_free((void *)pools[i].blocks);
    am_aligned_free(buf);
    am_gguf_writer_free(w);
    am_gguf_plan_free(&pl);
    return rc;
}
