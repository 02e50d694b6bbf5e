/*
 * forward.c — engine lifetime, packed-batch validation and the transformer
 * forward pass shared by llama, qwen2, qwen3 and gemma3 (the architectures
 * differ only in which optional weights the loader filled in: biases, q/k
 * norms, post norms, activation, scales — see INTERNALS.md "Engine").
 *
 * Owns the engine's scratch and KV pool; reads the model, never changes it.
 * A forward call either fails before touching any state, or completes.
 */
#include "engine/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compute/matmul.h"
#include "engine/engine_impl.h"

am_engine_params am_engine_default_params(void) {
    am_engine_params p = {
        .n_threads = 0,
        .max_batch = 512,
        .kv_block_tokens = 32,
        .kv_tokens = 0,
        .kv_type = AM_TYPE_F16,
        .hf_bf16_buffers = true,
    };
    return p;
}

/* ---- batches ------------------------------------------------------------ */

void am_batch_init(am_batch *b, int cap) {
    b->n = 0;
    b->cap = cap > 0 ? cap : 16;
    b->tok = am_xmalloc((size_t)b->cap * sizeof *b->tok);
}

void am_batch_add(am_batch *b, int32_t token, int32_t pos, int32_t seq, bool want_logits) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->tok = am_xrealloc(b->tok, (size_t)b->cap * sizeof *b->tok);
    }
    b->tok[b->n++] = (am_batch_token){token, pos, seq, want_logits};
}

void am_batch_clear(am_batch *b) { b->n = 0; }

void am_batch_free(am_batch *b) {
    free(b->tok);
    memset(b, 0, sizeof *b);
}

/* ---- engine ------------------------------------------------------------- */

static float *falloc(size_t n) { return am_xmalloc_aligned((n ? n : 1) * sizeof(float)); }

static void fill_defaults(const am_hparams *hp, am_engine_params *p) {
    if (p->max_batch <= 0) p->max_batch = 512;
    if (p->kv_block_tokens <= 0) p->kv_block_tokens = 32;
    if (p->kv_tokens <= 0) p->kv_tokens = hp->n_ctx_train > 0 && hp->n_ctx_train < 8192 ? hp->n_ctx_train : 8192;
}

int am_engine_kv_params(const am_model *m, const am_engine_params *pp, am_kv_params *kp, int *window,
                        am_err *err) {
    am_engine_params p = pp ? *pp : am_engine_default_params();
    const am_hparams *hp = &m->hp;
    fill_defaults(hp, &p);
    am_type tk, tv;
    am_kv_resolve_types(p.kv_type, p.kv_type_k, p.kv_type_v, &tk, &tv);
    if (!am_kv_type_supported(tk) || !am_kv_type_supported(tv))
        return am_err_set(err, "engine: KV type %s/%s not supported (f16, f32, q8_0, q4_0)", am_type_name(tk),
                          am_type_name(tv));
    if (hp->head_dim > 0 && (hp->head_dim % am_type_block_elems(tk) || hp->head_dim % am_type_block_elems(tv)))
        return am_err_set(err, "engine: KV type %s/%s needs head_dim a multiple of 32, the model has %d",
                          am_type_name(tk), am_type_name(tv), hp->head_dim);
    if (hp->n_layer <= 0 || hp->n_layer > AM_MAX_LAYERS || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_head % hp->n_head_kv || hp->head_dim <= 0 || hp->head_dim % 2 || hp->n_embd <= 0 ||
        hp->n_ff <= 0 || hp->n_vocab <= 0)
        return am_err_set(err, "engine: model hyperparameters out of range");
    for (int l = 0; l < hp->n_layer; l++)
        if (hp->layer_swa[l] && hp->sliding_window <= 0)
            return am_err_set(err, "engine: layer %d is sliding-window but the window is %d", l,
                              hp->sliding_window);
    for (int l = 0; l < hp->n_layer; l++) window[l] = hp->layer_swa[l] ? hp->sliding_window : 0;
    int64_t per_layer = (p.kv_tokens + p.kv_block_tokens - 1) / p.kv_block_tokens;
    /* Each sequence may hold one partly filled block per layer beyond its
     * share, so allow some slack for several sequences. */
    *kp = (am_kv_params){
        .n_layer = hp->n_layer,
        .n_head_kv = hp->n_head_kv,
        .head_dim = hp->head_dim,
        .block_tokens = p.kv_block_tokens,
        .max_blocks = (per_layer + 16) * hp->n_layer,
        .type = tk,
        .type_k = tk,
        .type_v = tv,
        .window = window,
    };
    if (p.kv_bytes > 0) {
        uint64_t bb = ((uint64_t)am_type_row_bytes(tk, hp->head_dim) + am_type_row_bytes(tv, hp->head_dim)) *
                      (uint64_t)p.kv_block_tokens * (uint64_t)hp->n_head_kv;
        int64_t n = bb ? (int64_t)((uint64_t)p.kv_bytes / bb) : 0;
        if (n < hp->n_layer)
            return am_err_set(err, "engine: KV budget %lld bytes holds less than one block per layer (%llu bytes each)",
                              (long long)p.kv_bytes, (unsigned long long)bb);
        kp->max_blocks = n;
    }
    return 0;
}

am_engine *am_engine_create(const am_model *m, const am_engine_params *pp, am_err *err) {
    am_engine_params p = pp ? *pp : am_engine_default_params();
    const am_hparams *hp = &m->hp;
    fill_defaults(hp, &p);
    int window[AM_MAX_LAYERS];
    am_kv_params kp;
    if (am_engine_kv_params(m, &p, &kp, window, err) < 0) return NULL;
    am_kv *kv = p.kv;
    if (kv) {
        const am_kv_params *q = am_kv_get_params(kv);
        bool same = q->n_layer == kp.n_layer && q->n_head_kv == kp.n_head_kv && q->head_dim == kp.head_dim &&
                    q->block_tokens == kp.block_tokens && q->type_k == kp.type_k &&
                    q->type_v == kp.type_v;
        for (int l = 0; same && l < kp.n_layer; l++) same = q->window[l] == window[l];
        if (!same) {
            am_err_set(err, "engine: the KV pool given does not match the model's geometry");
            return NULL;
        }
    } else {
        kv = am_kv_create(&kp, err);
        if (!kv) return NULL;
    }

    am_engine *e = am_xcalloc(1, sizeof *e);
    e->m = m;
    e->p = p;
    e->kv = kv;
    e->pool = am_pool_create(p.n_threads);
    e->nth = am_pool_n_threads(e->pool);

    int half = hp->head_dim / 2;
    e->inv_freq_global = falloc((size_t)half);
    e->inv_freq_local = falloc((size_t)half);
    eng_rope_inv_freq(hp, false, p.hf_bf16_buffers, e->inv_freq_global);
    eng_rope_inv_freq(hp, true, p.hf_bf16_buffers, e->inv_freq_local);
    e->embd_scale = hp->embd_scale != 0 ? hp->embd_scale : 1.0f;
    if (p.hf_bf16_buffers) e->embd_scale = am_bf16_to_f32(am_f32_to_bf16(e->embd_scale));

    size_t nb = (size_t)p.max_batch;
    size_t qd = (size_t)hp->n_head * hp->head_dim, kvd = (size_t)hp->n_head_kv * hp->head_dim;
    e->tok = am_xmalloc(nb * sizeof *e->tok);
    e->x = falloc(nb * hp->n_embd);
    e->xn = falloc(nb * hp->n_embd);
    e->q = falloc(nb * qd);
    e->k = falloc(nb * kvd);
    e->v = falloc(nb * kvd);
    e->att = falloc(nb * qd);
    e->gate = falloc(nb * hp->n_ff);
    e->up = falloc(nb * hp->n_ff);
    e->cs_global = falloc(nb * hp->head_dim);
    e->cs_local = falloc(nb * hp->head_dim);
    int nrep = hp->n_head / hp->n_head_kv, bt = p.kv_block_tokens;
    e->att_scratch_floats = (eng_att_scratch_floats(hp->head_dim, nrep, bt) + 15) & ~(size_t)15; /* 64-byte rows */
    e->att_scratch = falloc(e->att_scratch_floats * (size_t)e->nth);
    e->tile_start = am_xmalloc((nb + 1) * sizeof(int));
    if (eng_weights_init(e, err)) {
        am_engine_free(e);
        return NULL;
    }
    return e;
}

void am_engine_free(am_engine *e) {
    if (!e) return;
    eng_weights_free(e);
    if (!e->p.kv) am_kv_free(e->kv);
    am_pool_free(e->pool);
    am_aligned_free(e->inv_freq_global);
    am_aligned_free(e->inv_freq_local);
    free(e->tok);
    am_aligned_free(e->x);
    am_aligned_free(e->xn);
    am_aligned_free(e->q);
    am_aligned_free(e->k);
    am_aligned_free(e->v);
    am_aligned_free(e->att);
    am_aligned_free(e->gate);
    am_aligned_free(e->up);
    am_aligned_free(e->cs_global);
    am_aligned_free(e->cs_local);
    am_aligned_free(e->att_scratch);
    free(e->tile_start);
    free(e->seq_next);
    free(e->seq_count);
    free(e->seq_state);
    free(e);
}

const am_model *am_engine_model(const am_engine *e) { return e->m; }
am_kv *am_engine_kv(am_engine *e) { return e->kv; }
am_pool *am_engine_pool(am_engine *e) { return e->pool; }
int am_engine_max_batch(const am_engine *e) { return e->p.max_batch; }

int am_engine_seq_create(am_engine *e) { return am_kv_seq_create(e->kv); }
void am_engine_seq_remove(am_engine *e, int seq) { am_kv_seq_remove(e->kv, seq); }
int am_engine_seq_truncate(am_engine *e, int seq, int64_t n_tokens, am_err *err) {
    return am_kv_seq_truncate(e->kv, seq, n_tokens, err);
}
int64_t am_engine_seq_len(const am_engine *e, int seq) { return am_kv_seq_len(e->kv, seq); }

/* ---- validation and KV reservation -------------------------------------- */

static void seq_scratch(am_engine *e, int max_seq) {
    if (max_seq < e->n_seq_scratch) return;
    int n = AM_MAX(max_seq + 1, e->n_seq_scratch * 2);
    e->seq_next = am_xrealloc(e->seq_next, (size_t)n * sizeof(int64_t));
    e->seq_count = am_xrealloc(e->seq_count, (size_t)n * sizeof(int64_t));
    e->seq_state = am_xrealloc(e->seq_state, (size_t)n);
    e->n_seq_scratch = n;
}

/* Where a sequence of the batch is in prepare(). */
enum { SEQ_UNSEEN, SEQ_SEEN, SEQ_RESERVED };

/* Checks the batch, fills e->tok and reserves KV slots; on success
 * e->seq_count[x] holds the tokens of each batch sequence of slot index x
 * (am_kv_seq_index; for commit). On
 * failure nothing stays reserved. Returns the number of logit rows, or -1. */
static int prepare(am_engine *e, const am_batch *b, am_err *err) {
    const am_hparams *hp = &e->m->hp;
    int n = b->n, n_logits = 0, max_seq = 0;
    if (n > e->p.max_batch)
        return am_err_set(err, "batch of %d tokens exceeds the engine's max_batch %d", n, e->p.max_batch);
    for (int i = 0; i < n; i++) {
        const am_batch_token *t = &b->tok[i];
        if (t->token < 0 || t->token >= hp->n_vocab)
            return am_err_set(err, "batch token %d: id %d outside the vocabulary (%d)", i, t->token,
                              hp->n_vocab);
        if (am_kv_seq_check(e->kv, t->seq, err) < 0) return -1;
        if (t->pos < 0) return am_err_set(err, "batch token %d: negative position %d", i, t->pos);
        max_seq = AM_MAX(max_seq, am_kv_seq_index(e->kv, t->seq));
        n_logits += t->want_logits;
    }
    seq_scratch(e, max_seq);
    /* Scratch is indexed by the handles' slot indices (dense, small). */
    for (int i = 0; i < n; i++) {
        int x = am_kv_seq_index(e->kv, b->tok[i].seq);
        e->seq_state[x] = SEQ_UNSEEN;
        e->seq_count[x] = 0;
    }
    /* Positions continue each sequence; slots follow its length. */
    int64_t need = 0;
    for (int i = 0; i < n; i++) {
        const am_batch_token *t = &b->tok[i];
        int s = t->seq, x = am_kv_seq_index(e->kv, s);
        if (e->seq_state[x] == SEQ_UNSEEN) {
            e->seq_state[x] = SEQ_SEEN;
            e->seq_next[x] = am_kv_seq_next_pos(e->kv, s); /* -1: empty, any start */
        }
        if (e->seq_next[x] >= 0 && t->pos != e->seq_next[x])
            return am_err_set(err, "batch token %d: sequence %d continues at position %lld, not %d", i, x,
                              (long long)e->seq_next[x], t->pos);
        e->tok[i] = (eng_tok){.seq = s, .pos = t->pos, .slot = am_kv_seq_len(e->kv, s) + e->seq_count[x]};
        e->seq_count[x]++;
        e->seq_next[x] = (int64_t)t->pos + 1;
    }
    /* Reserve all or nothing: count first, then take. */
    for (int i = 0; i < n; i++) {
        int s = b->tok[i].seq, x = am_kv_seq_index(e->kv, s);
        if (e->seq_state[x] == SEQ_SEEN) {
            need += am_kv_seq_blocks_needed(e->kv, s, e->seq_count[x]);
            e->seq_state[x] = SEQ_UNSEEN; /* counted once */
        }
    }
    if (need > am_kv_n_blocks_free(e->kv))
        return am_err_set(err, "KV cache full: the batch needs %lld more blocks, %lld free", (long long)need,
                          (long long)am_kv_n_blocks_free(e->kv));
    for (int i = 0; i < n; i++) {
        int s = b->tok[i].seq, x = am_kv_seq_index(e->kv, s);
        if (e->seq_state[x] == SEQ_RESERVED) continue;
        /* the first token of s in the batch carries its first position */
        if (am_kv_seq_reserve(e->kv, s, b->tok[i].pos, e->seq_count[x], err) < 0) {
            for (int k = 0; k < i; k++) am_kv_seq_unreserve(e->kv, b->tok[k].seq);
            return -1;
        }
        e->seq_state[x] = SEQ_RESERVED;
    }
    return n_logits;
}

/* ---- the forward pass ---------------------------------------------------- */

static void add_bias(float *y, const float *bias, int n, int dim) {
    if (!bias) return;
    for (int t = 0; t < n; t++)
        for (int i = 0; i < dim; i++) y[(size_t)t * dim + i] += bias[i];
}

static void add_rows(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

static void layer_forward(am_engine *e, int il, int n) {
    const am_hparams *hp = &e->m->hp;
    const am_layer *L = &e->m->layers[il];
    const eng_lw *W = &e->lw[il];
    const int hd = hp->head_dim, ne = hp->n_embd;
    const int qd = hp->n_head * hd, kvd = hp->n_head_kv * hd;

    /* attention block */
    eng_rmsnorm_rows(e, e->xn, e->x, L->attn_norm, n, ne, ne);
    /* one activation quantization and one pool dispatch for all three */
    const am_tensor *const qkv_w[3] = {W->wq, W->wk, W->wv};
    float *const qkv_y[3] = {e->q, e->k, e->v};
    am_matmul_multi(e->pool, 3, qkv_w, e->xn, n, qkv_y);
    add_bias(e->q, L->bq, n, qd);
    add_bias(e->k, L->bk, n, kvd);
    add_bias(e->v, L->bv, n, kvd);
    if (L->q_norm) eng_rmsnorm_rows(e, e->q, e->q, L->q_norm, n * hp->n_head, hd, hd);
    if (L->k_norm) eng_rmsnorm_rows(e, e->k, e->k, L->k_norm, n * hp->n_head_kv, hd, hd);
    const float *cs = hp->layer_swa[il] ? e->cs_local : e->cs_global;
    for (int t = 0; t < n; t++) {
        eng_rope_apply(e->q + (size_t)t * qd, hp->n_head, hd, cs + (size_t)t * hd, hp->rope_style);
        eng_rope_apply(e->k + (size_t)t * kvd, hp->n_head_kv, hd, cs + (size_t)t * hd, hp->rope_style);
    }
    eng_kv_store(e, il, n);
    eng_attention(e, il, n);
    am_matmul(e->pool, W->wo, e->att, n, e->xn);
    if (L->post_attn_norm) eng_rmsnorm_rows(e, e->xn, e->xn, L->post_attn_norm, n, ne, ne);
    add_rows(e->x, e->xn, (size_t)n * ne);

    /* feed-forward block */
    eng_rmsnorm_rows(e, e->xn, e->x, L->ffn_norm, n, ne, ne);
    const am_tensor *const gate_up_w[2] = {W->gate, W->up};
    float *const gate_up_y[2] = {e->gate, e->up};
    am_matmul_multi(e->pool, 2, gate_up_w, e->xn, n, gate_up_y);
    eng_glu(e, e->gate, e->up, (int64_t)n * hp->n_ff);
    am_matmul(e->pool, W->down, e->gate, n, e->xn);
    if (L->post_ffn_norm) eng_rmsnorm_rows(e, e->xn, e->xn, L->post_ffn_norm, n, ne, ne);
    add_rows(e->x, e->xn, (size_t)n * ne);
}

int am_engine_forward(am_engine *e, const am_batch *b, float *logits, am_err *err) {
    const am_hparams *hp = &e->m->hp;
    if (b->n == 0) return 0;
    int n_logits = prepare(e, b, err);
    if (n_logits < 0) return -1;
    if (n_logits > 0 && !logits) {
        for (int i = 0; i < b->n; i++) am_kv_seq_unreserve(e->kv, b->tok[i].seq);
        return am_err_set(err, "batch wants logits but no output buffer was given");
    }
    const int n = b->n, ne = hp->n_embd;

    for (int t = 0; t < n; t++) {
        float *row = e->x + (size_t)t * ne;
        am_tensor_get_row(e->m->tok_embd, b->tok[t].token, row);
        if (e->embd_scale != 1.0f)
            for (int i = 0; i < ne; i++) row[i] *= e->embd_scale;
    }
    eng_rope_tables(e, n);
    for (int il = 0; il < hp->n_layer; il++) layer_forward(e, il, n);

    /* Final norm and output projection, only for rows that want logits. */
    int r = 0;
    for (int t = 0; t < n; t++)
        if (b->tok[t].want_logits)
            memcpy(e->xn + (size_t)r++ * ne, e->x + (size_t)t * ne, (size_t)ne * sizeof(float));
    if (n_logits > 0) {
        eng_rmsnorm_rows(e, e->xn, e->xn, e->m->output_norm, n_logits, ne, ne);
        am_matmul(e->pool, e->output, e->xn, n_logits, logits);
        float cap = hp->final_logit_softcap;
        if (cap > 0)
            for (size_t i = 0, nl = (size_t)n_logits * hp->n_vocab; i < nl; i++)
                logits[i] = cap * tanhf(logits[i] / cap);
    }

    for (int i = 0; i < n; i++) {
        int s = b->tok[i].seq, x = am_kv_seq_index(e->kv, s);
        if (e->seq_count[x] > 0) {
            am_kv_seq_commit(e->kv, s, e->seq_count[x]);
            e->seq_count[x] = 0;
        }
    }
    return n_logits;
}
