/*
 * engine_impl.h — private to src/engine/: the engine's state and the pieces
 * forward.c assembles (row ops in ops.c, attention in attention.c).
 * Nothing outside src/engine/ includes this file.
 */
#ifndef AM_ENGINE_IMPL_H
#define AM_ENGINE_IMPL_H

#include "engine/forward.h"
#define AM_KV_ENGINE_PRIVATE /* the engine appends K/V: kvcache/kv_engine.h */
#include "kvcache/kv_engine.h"

/* Most query tokens of one sequence that attention handles together (they
 * share each K/V block conversion); attention.c cuts tiles of
 * ENG_ATT_TILE_NEAR tokens near the start of a sequence, where most blocks
 * are on the causal diagonal. */
#define ENG_ATT_TILE 48

/* Per-token data of the batch being computed. */
typedef struct eng_tok {
    int32_t seq;
    int64_t slot; /* cache slot in its sequence */
    int64_t pos;
} eng_tok;

/* The matmul weights of one layer (weights.c): the model's views or the engine's
 * packed (or, for F16/BF16, huge-page) copies. */
typedef struct eng_lw {
    const am_tensor *wq, *wk, *wv, *wo, *gate, *up, *down;
} eng_lw;

struct am_engine {
    const am_model *m;
    eng_lw *lw;             /* [n_layer] what the matmuls read */
    const am_tensor *output; /* the output matrix as the matmul reads it */
    am_tensor *packed;      /* [n_packed] packed or copied weights; their data is owned */
    int n_packed;
    size_t packed_bytes;
    double pack_seconds;
    am_engine_params p;
    am_pool *pool;
    am_kv *kv;
    int nth;

    /* RoPE inverse frequencies [head_dim/2], float as HF computes them:
     * global (full-attention) layers and local (sliding) layers. */
    float *inv_freq_global, *inv_freq_local;
    float embd_scale;       /* hp.embd_scale, bf16-rounded with hf_bf16_buffers */

    /* Scratch for max_batch tokens. */
    eng_tok *tok;           /* [max_batch] */
    float *x;               /* [max_batch][n_embd] residual stream */
    float *xn;              /* [max_batch][n_embd] normed input / sublayer output */
    float *q;               /* [max_batch][n_head*head_dim] */
    float *k, *v;           /* [max_batch][n_head_kv*head_dim] */
    float *att;             /* [max_batch][n_head*head_dim] attention output */
    float *gate, *up;       /* [max_batch][n_ff] */
    float *cs_global;       /* [max_batch][head_dim/2][2] cos, sin */
    float *cs_local;        /* same, sliding layers */
    float *att_scratch;     /* [nth][att_scratch_floats] */
    int *tile_start;        /* [max_batch + 1] attention tiles of the batch */
    size_t att_scratch_floats;

    /* Per-sequence bookkeeping during validation, indexed by seq id. */
    int64_t *seq_next;      /* next expected position (-1 = any: empty sequence) */
    int64_t *seq_count;     /* tokens of this seq in the batch */
    uint8_t *seq_state;     /* prepare()'s progress per sequence */
    int n_seq_scratch;
};

/* weights.c: e->lw / e->output (packing what the kernels in use prefer); 0 or -1 with err. */
int eng_weights_init(am_engine *e, am_err *err);
void eng_weights_free(am_engine *e);

/* ops.c */
void eng_rmsnorm_rows(am_engine *e, float *dst, const float *src, const float *w, int n_rows,
                      int dim, int stride);
void eng_rope_tables(am_engine *e, int n);
void eng_rope_apply(float *x, int n_heads, int head_dim, const float *cs, am_rope_style style);
void eng_glu(am_engine *e, float *gate, const float *up, int64_t n);
void eng_rope_inv_freq(const am_hparams *hp, bool local, bool bf16, float *out);

/* attention.c: e->att[t] = softmax(q k^T) v over each token's visible slots
 * of layer `layer`. */
void eng_attention(am_engine *e, int layer, int n);
/* Floats of attention scratch one thread needs (e->att_scratch_floats). */
size_t eng_att_scratch_floats(int head_dim, int nrep, int block_tokens);
/* Stores e->k / e->v of every batch token into its sequence's blocks. */
void eng_kv_store(am_engine *e, int layer, int n);

#endif
