/*
 * scheduler.h — the thread that owns the engine and the KV pool, and every
 * agent's cache: admission, continuous batching, streaming, cancellation,
 * eviction to disk and restore.
 *
 * Data path: an HTTP thread builds an am_gen_request (token ids, sampling,
 * agent) and calls am_sched_submit; it gets an am_req handle and reads
 * events from it (am_req_next) until AM_EV_DONE. The scheduler thread, each
 * step, packs the next token of every decoding sequence plus chunks of
 * pending prefill (under step_tokens) into one forward pass, so requests that
 * arrive join at the next step. Text, stop strings and wire formats are the
 * caller's: the scheduler deals in token ids only; a caller that saw a stop
 * string calls am_req_cancel.
 *
 * Agents: a request names an agent (or none: the scheduler keys an anonymous
 * cache by the prompt's first tokens). Its cache is reused for the longest
 * common prefix of cached and new token ids; after each turn the new blocks
 * are snapshotted and written to the cache directory by the persistence
 * thread (write-behind). When the pool lacks blocks, the least recently used
 * idle agent is dropped from memory (its file stays: warm tier). Agents of
 * one owner (API key hash) are invisible to another.
 *
 * Threads — which calls are safe from where:
 *   am_sched_create / am_sched_free: the main thread, once each.
 *   am_sched_submit, am_req_next, am_req_cancel, am_req_release,
 *   am_sched_agents_json, am_sched_agent_delete, am_sched_stats,
 *   am_sched_drain, am_sched_flush: any thread (HTTP threads),
 *   concurrently — but never the scheduler's own thread.
 *   One am_req belongs to the thread that submitted it (next/release), but
 *   cancel may come from any thread.
 *
 * Failure: submit fails with a code — AM_E_BUSY (queue full or draining:
 * retry later), AM_E_TOO_LONG (prompt + max_tokens over the context),
 * AM_E_INVALID (bad request). A request that cannot get KV blocks within
 * kv_wait_ms ends with AM_EV_DONE and finish AM_FINISH_ERROR, code AM_E_NO_KV.
 * Nothing a request does can stop the scheduler thread.
 */
#ifndef AM_SCHEDULER_H
#define AM_SCHEDULER_H

#include <jansson.h>

#include "base/base.h"
#include "bundle/bundle.h"
#include "engine/sample.h"

typedef struct am_sched_params {
    int n_threads;          /* engine threads (<= 0: one per core) */
    int parallel;           /* sequences running at once (default 4) */
    int queue_max;          /* requests waiting beyond those (default 64) */
    int step_tokens;        /* tokens per forward step: decodes + prefill chunk (default 256) */
    int n_ctx;              /* max tokens of one sequence (default min(n_ctx_train, 8192)) */
    int64_t kv_budget;      /* bytes of KV block storage (<= 0: default, see serve) */
    am_type kv_type;        /* AM_TYPE_F16 default; Q8_0 / Q4_0 quantize K and V */
    am_type kv_type_k, kv_type_v; /* both 0: kv_type for both (see am_kv_params) */
    bool kv_type_fallback;  /* kv_type is a default, not asked for: a model whose head_dim is no
                             * multiple of 32 (quantized KV needs that) gets f16 instead of an error */
    int kv_block_tokens;    /* default 32 */
    const char *cache_dir;  /* NULL: no persistence */
    int64_t disk_budget;    /* bytes of cache files kept (<= 0: unlimited) */
    int kv_wait_ms;         /* how long a request may wait for KV blocks (default 10000) */
    bool hf_bf16_buffers;   /* engine option (default true) */
    struct am_step_gate *gate; /* shared by the schedulers of several models, or NULL */
    int64_t persist_queue_max; /* bytes of snapshot copies (blocks, tokens, logits) waiting
                                  for the disk, the write in progress included; beyond it a
                                  new snapshot waits (<= 0: KV budget / 8, at least 64 MiB;
                                  one snapshot larger than the cap still goes, alone) */
} am_sched_params;

/* A fair lock that the schedulers of several loaded models take around each
 * forward pass, so their steps alternate (first come, first served) instead
 * of oversubscribing the cores. Any thread; create/free once. */
typedef struct am_step_gate am_step_gate;
am_step_gate *am_step_gate_create(void);
void am_step_gate_free(am_step_gate *g);
void am_step_gate_enter(am_step_gate *g);
void am_step_gate_leave(am_step_gate *g);
/* Tickets drawn and not yet given back: the holder and those waiting (tests). */
int am_step_gate_queued(am_step_gate *g);

am_sched_params am_sched_default_params(void);

typedef struct am_sched am_sched;

/* Creates the scheduler over bundle b (takes a reference), starts its thread
 * and the persistence thread, sweeps temp files and indexes cache_dir. */
am_sched *am_sched_create(am_bundle *b, const am_sched_params *p, am_err *err);
/* Stops accepting, lets running requests finish (they are cancelled after
 * deadline_ms), writes every dirty cache (again those whose last write
 * failed: each gets one more try; failures are logged and counted, nothing
 * is reported), joins the threads, frees all. */
void am_sched_free(am_sched *s, int deadline_ms);
/* Starts draining: new submits fail with AM_E_BUSY. */
void am_sched_drain(am_sched *s);
/* Ends every running and queued request at the next step with finish
 * AM_FINISH_LENGTH (a drain deadline passed); their completed tokens stay
 * cached. Requests submitted later are not affected. Any thread. */
void am_sched_cut(am_sched *s);
/* Requests submitted and not yet done (queued + running). */
int am_sched_active(am_sched *s);

const am_bundle *am_sched_bundle(const am_sched *s);
/* Where this scheduler's cache files live: cache_dir/<32 hex digits of the
 * K/V fingerprint> (bundle fingerprint + KV types + block size + engine
 * settings), one directory per model, so that an agent keeps a cache per
 * model it has used. NULL without a cache_dir. Valid until am_sched_free. */
const char *am_sched_model_dir(const am_sched *s);
/* Tokens one sequence may hold (prompt + generated): a request needs
 * n_prompt + max_tokens <= this. */
int am_sched_n_ctx(const am_sched *s);

typedef struct am_gen_request {
    const int32_t *prompt;   /* [n_prompt] token ids, copied by submit */
    int n_prompt;
    char agent[129];         /* "" = anonymous */
    uint64_t owner;          /* API key hash (0: no keys configured) */
    am_sampler_params sp;
    int max_tokens;          /* > 0 */
    bool ignore_eos;
    bool no_cache;           /* run on a throw-away sequence: nothing cached or saved (warm-up) */
    int n_logprobs;          /* 0: none; else top alternatives per token (<= 20), -1: only the chosen */
} am_gen_request;

typedef enum am_finish {
    AM_FINISH_NONE = 0,
    AM_FINISH_STOP,      /* end-of-generation token */
    AM_FINISH_LENGTH,    /* max_tokens or the context */
    AM_FINISH_CANCELLED, /* am_req_cancel */
    AM_FINISH_ERROR,
} am_finish;

#define AM_MAX_TOP_LOGPROBS 20

typedef struct am_gen_event {
    enum { AM_EV_TOKEN = 1, AM_EV_DONE = 2 } kind;
    /* AM_EV_TOKEN */
    int32_t token;
    float logprob;                      /* of the chosen token (log-softmax of raw logits) */
    int n_top;
    int32_t top_id[AM_MAX_TOP_LOGPROBS];
    float top_logprob[AM_MAX_TOP_LOGPROBS];
    /* AM_EV_DONE */
    am_finish finish;
    am_status code;                     /* for AM_FINISH_ERROR */
    char msg[256];
    int n_prompt, n_cached, n_generated; /* n_cached: prompt tokens reused, not computed */
    double t_queue, t_first, t_total;   /* seconds: waiting, to first token, in all */
    double t_emit;                      /* am_time_now() when the scheduler posted the event */
} am_gen_event;

typedef struct am_req am_req;

/* Queues a request. Returns the handle or NULL with err. */
am_req *am_sched_submit(am_sched *s, const am_gen_request *r, am_err *err);
/* Waits up to timeout_ms (-1: forever) for the next event. Returns 1 with an
 * event, 0 on timeout. After AM_EV_DONE, returns no more events. */
int am_req_next(am_req *q, am_gen_event *ev, int timeout_ms);
/* Asks the scheduler to stop the request at its next step (its tokens so far
 * stay in the agent's cache). Idempotent; safe after DONE. */
void am_req_cancel(am_req *q);
/* Drops the caller's handle (cancels first if still running). */
void am_req_release(am_req *q);

/* Agents of owner (all of them when all_owners) as a JSON array of
 * {id, tier: "hot"|"warm", tokens, bytes_memory, bytes_disk, last_used,
 *  hits, running}. Caller decrefs. NULL id: all; else the one agent or NULL
 * (not found). */
json_t *am_sched_agents_json(am_sched *s, uint64_t owner, const char *id);
/* Deletes an agent's cache from memory and disk (evict_only: writes it to
 * disk and frees its blocks). Waits for the scheduler to do it. Fails with
 * AM_E_NOT_FOUND, or AM_E_BUSY when the agent is running. */
int am_sched_agent_delete(am_sched *s, uint64_t owner, const char *id, bool evict_only, am_err *err);

/* Deletes every agent's cache (memory and disk) but those running (counted
 * in *busy). Returns how many were deleted. Any thread. */
int am_sched_drop_all(am_sched *s, int *busy, am_err *err);

/* Writes every dirty cache now — each idle hot agent whose file is behind
 * memory (never written, or its last write failed) — and waits until the
 * persistence thread has finished it and every write queued before (turn
 * ends). For a model swap or an admin "save everything": after it returns,
 * every idle agent not in *lost has a file that matches memory. Agents with
 * a request running are written when their turn ends (drain first to cover
 * them). *lost (may be NULL to ignore) gets a JSON array, possibly empty, of
 * {"id": agent id, "owner": 16 lowercase hex digits of the owner hash} for
 * each agent whose last write before the flush completed failed (disk full,
 * directory gone); the caller decrefs. Returns the number of cache writes
 * that succeeded while it waited (its own and those queued before it), or
 * -1 with err (AM_E_BUSY: the scheduler is stopping; *lost is then NULL).
 * Without a cache_dir it returns 0. */
int am_sched_flush(am_sched *s, json_t **lost, am_err *err);

/* For tests and debugging: verifies, on the scheduler thread (the call
 * waits), the pool's invariants (am_kvc_check) and the scheduler's own:
 * every idle hot agent's sequence holds exactly its token count, and the
 * prefix index holds exactly the full blocks of the idle hot agents. Returns
 * 0, or -1 with the first violation in err (AM_E_INTERNAL; AM_E_BUSY while
 * stopping). Any thread but the scheduler's. */
int am_sched_check(am_sched *s, am_err *err);

/* Counters and gauges for /metrics (a consistent snapshot). */
typedef struct am_sched_stats {
    int64_t queued, running;
    int64_t kv_bytes_used, kv_bytes_budget;
    int64_t agents_hot, agents_warm;
    uint64_t prompt_tokens_computed, prompt_tokens_cached, generated_tokens;
    uint64_t cache_saves, cache_save_bytes, cache_save_failures;
    uint64_t cache_restores, cache_restore_bytes, cache_restore_failures;
    uint64_t evictions, steps;
    uint64_t shared_prefix_tokens; /* prompt tokens reused from another agent's blocks */
    int64_t disk_bytes;
    bool ready;
    int64_t persist_queue_bytes, persist_queue_peak, persist_queue_max; /* snapshot copies queued */
    uint64_t persist_waits;        /* snapshots that waited for the queue to drain */
} am_sched_stats;
void am_sched_stats_get(am_sched *s, am_sched_stats *out);

#endif
