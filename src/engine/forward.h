/*
 * forward.h — the inference engine: per-sequence state over a loaded model,
 * and one forward pass over a packed batch of tokens.
 *
 * The weights (am_model) are immutable and may be shared by several engines;
 * an am_engine owns everything mutable: the paged KV pool with its sequences,
 * the thread pool, and scratch buffers (grown once to the largest batch, never
 * per step).
 *
 * A packed batch is a list of tokens, each with its token id, position,
 * sequence id and a flag asking for its logits. It may mix the decode steps of
 * several sequences with a chunk of another sequence's prefill:
 *     seq 0: pos 17          (decode)
 *     seq 2: pos 5           (decode)
 *     seq 1: pos 0..63       (prefill chunk, logits for the last one only)
 * Rules: a sequence's tokens appear in increasing, consecutive positions that
 * continue the sequence (the first token of an empty sequence may have any
 * position); tokens of different sequences may interleave freely.
 * Every token sees its own sequence's cached positions <= its own (causal),
 * limited to the last `sliding_window` positions on sliding-window layers.
 *
 * Threads: an engine belongs to one owner thread; no call may run
 * concurrently with another on the same engine. The engine's own workers run
 * only inside am_engine_forward.
 *
 * Failure: am_engine_forward validates the whole batch and reserves every KV
 * block before computing anything; on error it returns -1 with a message and
 * the engine's state is unchanged.
 */
#ifndef AM_FORWARD_H
#define AM_FORWARD_H

#include "base/base.h"
#include "compute/pool.h"
#include "kvcache/kv.h"
#include "model/model.h"

typedef struct am_engine_params {
    int n_threads;       /* <= 0: one per core */
    int max_batch;       /* tokens per forward call (default 512) */
    int kv_block_tokens; /* slots per KV block (default 32) */
    int64_t kv_tokens;   /* KV capacity in token slots summed over sequences
                            (default min(n_ctx_train, 8192)); blocks are
                            allocated on use, so this is a cap. Ignored when
                            kv_bytes or kv is set */
    int64_t kv_bytes;    /* KV budget in bytes of block storage (> 0: the pool
                            holds kv_bytes / block bytes blocks) */
    am_kv *kv;           /* a pool made by the caller (am_engine_kv_params
                            gives its geometry); borrowed: it must outlive the
                            engine, and the engine never frees it. NULL: the
                            engine creates and owns one */
    am_type kv_type;     /* KV element type: AM_TYPE_F16 (default), F32, Q8_0
                            or Q4_0 (these need head_dim % 32 == 0); sets both
                            K and V unless kv_type_k / kv_type_v are set */
    am_type kv_type_k;   /* K and V types of new blocks; both 0 (= F32) means */
    am_type kv_type_v;   /* "take kv_type" (see am_kv_params) */
    bool hf_bf16_buffers; /* round the RoPE inverse frequencies and gemma's
                             embedding scale to bfloat16, as Hugging Face
                             transformers does for bf16 checkpoints (its buffers
                             take the model dtype; Gemma's reference code casts
                             the scale too). Default true: HF is the reference;
                             false keeps float32 like llama.cpp */
} am_engine_params;

am_engine_params am_engine_default_params(void);

/* One token of a packed batch. */
typedef struct am_batch_token {
    int32_t token;
    int32_t pos;
    int32_t seq;        /* sequence handle (kv.h): a stale one fails the batch, AM_E_INVALID */
    bool want_logits;
} am_batch_token;

typedef struct am_batch {
    am_batch_token *tok; /* [n] */
    int n;
    int cap;             /* allocated entries (owned when created by am_batch_init) */
} am_batch;

/* A growable batch: am_batch_init allocates cap entries, am_batch_add
 * appends (growing as needed), am_batch_clear empties, am_batch_free frees. */
void am_batch_init(am_batch *b, int cap);
void am_batch_add(am_batch *b, int32_t token, int32_t pos, int32_t seq, bool want_logits);
void am_batch_clear(am_batch *b);
void am_batch_free(am_batch *b);

typedef struct am_engine am_engine;

/* Creates an engine for model m (which must outlive it). NULL + err on bad
 * parameters. */
am_engine *am_engine_create(const am_model *m, const am_engine_params *p, am_err *err);
void am_engine_free(am_engine *e);

/* The KV pool parameters an engine for model m with params p uses (window
 * points into *window_buf, [AM_MAX_LAYERS]). Returns -1 on bad params. */
int am_engine_kv_params(const am_model *m, const am_engine_params *p, am_kv_params *out, int *window_buf,
                        am_err *err);

const am_model *am_engine_model(const am_engine *e);
am_kv *am_engine_kv(am_engine *e);
am_pool *am_engine_pool(am_engine *e);
int am_engine_max_batch(const am_engine *e);

/* Sequences (thin wrappers over the KV pool): handles, generation-checked
 * (kv.h); am_engine_seq_len is -1 for a stale handle. */
int am_engine_seq_create(am_engine *e);
void am_engine_seq_remove(am_engine *e, int seq);
int am_engine_seq_truncate(am_engine *e, int seq, int64_t n_tokens, am_err *err);
int64_t am_engine_seq_len(const am_engine *e, int seq);

/* Runs the batch. logits receives, for each token with want_logits in batch
 * order, n_vocab floats: [n_logits][n_vocab] (may be NULL if none wants
 * logits). Returns the number of logit rows written, or -1 with err. */
int am_engine_forward(am_engine *e, const am_batch *b, float *logits, am_err *err);

#endif
