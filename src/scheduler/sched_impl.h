/*
 * sched_impl.h — private to src/scheduler/: the scheduler's state, shared by
 * scheduler.c (thread, admission, steps), sched_agents.c (agent table, LRU,
 * tiers) and sched_persist.c (the persistence thread).
 *
 * Ownership: everything under "scheduler thread only" is touched by the
 * scheduler thread alone. `mu` guards the submit queue and commands; `amu`
 * guards the agent table's metadata for readers on HTTP threads (the
 * scheduler takes it while mutating an entry); `pmu` guards the persistence
 * queue and its results. Lock order: mu, then amu, then pmu; never call out
 * (forward pass, file I/O) while holding any of them.
 */
#ifndef AM_SCHED_IMPL_H
#define AM_SCHED_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/forward.h"
#include "kvcache/cachefile.h"
#include "kvcache/kv.h"
#include "scheduler/scheduler.h"

/* One agent's cache. Tiers:
 *
 *     (new) --turn ends--> HOT --evict (LRU, idle)--> WARM --admit--> HOT
 *                           |  \                       |
 *                           |   `--delete--> (gone) <--'
 *                           `-- running while a request owns it (never evicted)
 *
 * HOT: seq >= 0, tokens/logits in memory. WARM: seq < 0, on_disk; tokens
 * unknown until the file is loaded (n_tokens is the file's count). */
typedef struct sched_agent {
    bool used;
    char id[AM_KVF_AGENT_MAX + 1];
    uint64_t owner;
    uint64_t gen;             /* unique per (re)creation: an id deleted and made
                                 again is another agent to results in flight */
    int seq;                  /* KV sequence, -1 when not in the pool */
    int32_t *tokens;          /* [n_tokens] the ids whose K/V seq holds (hot only) */
    int64_t n_tokens, cap;
    int64_t gen_start;        /* prompt length of the last turn (logits_gen belong to it) */
    float *logits_gen;        /* [n_vocab] after token gen_start-1, or NULL */
    float *logits_last;       /* [n_vocab] after token n_tokens-1, or NULL */
    int64_t clean_tokens;     /* leading tokens the file holds exactly as memory does */
    bool on_disk;
    uint64_t disk_bytes;
    double last_used;         /* wall clock seconds */
    uint64_t lru;             /* larger = used more recently */
    uint64_t hits;
    int64_t mem_bytes;        /* pool bytes held (kept current by the scheduler) */
    bool running;
    bool ephemeral;           /* never persisted, dropped at turn end */
    int64_t prefix_blocks;    /* leading full blocks in the prefix index (0: not indexed) */
} sched_agent;

/* The shared-prefix index (sched_prefix.c): chained hash table of
 * (hash of owner + tokens[0, nblk*block_tokens)) -> (agent index, gen, nblk). */
typedef struct prefix_ent {
    uint64_t h;
    uint64_t gen;             /* the agent's generation when indexed */
    int32_t agent;            /* index in am_sched.agents, -1 when the entry is free */
    int32_t nblk;
    int32_t next;             /* chain (or free list) link, -1 */
} prefix_ent;

typedef struct sched_prefix {
    int32_t *heads;           /* [mask + 1] first entry of each chain, -1 */
    uint32_t mask;
    prefix_ent *e;            /* [cap_e] */
    int32_t n_e, cap_e;
    int32_t free1;            /* 1 + first free entry (0: none; zeroed state is empty) */
    int64_t n_live;
} sched_prefix;

typedef struct sched_run {
    am_req *q;
    sched_agent *a;
    int seq;
    int32_t *toks;            /* prompt then generated tokens fed */
    int n_toks, cap_toks;
    int n_prompt;
    int n_done;               /* tokens whose K/V is in seq */
    int n_cached;
    int n_gen;
    bool decoding;            /* prompt done: feed toks[n_done] next */
    int32_t pending;          /* sampled token to feed next (decoding) */
    am_sampler *smp;
    float *logits;            /* [n_vocab] the row the last sample came from */
    float *logits_gen;        /* [n_vocab] logits at the end of the prompt */
    double t_admit, t_first, t_kv_wait;
    int batch_row;            /* logits row in this step, -1 */
    bool held_back;           /* its prefill chunk was left out of the last step (see step) */
} sched_run;

struct am_req {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    am_gen_event *ev;         /* queued events */
    int ev_head, ev_n, ev_cap;
    bool done_read;
    atomic_bool cancel;
    atomic_int refs;          /* caller + scheduler */
    am_gen_request r;
    int32_t *prompt;
    double t_submit;
    struct am_req *next;      /* submit queue link */
};

typedef enum { CMD_DELETE = 1, CMD_EVICT, CMD_FLUSH, CMD_CHECK } sched_cmd_kind;

/* A flush waiting for the persistence thread. It is registered (in
 * am_sched.barriers) before the flush collects results and snapshots, so no
 * write that finishes meanwhile escapes it, and it sits in the queue as a
 * marker job: when the persistence thread reaches the marker, every write
 * queued before has finished. Owned by the flushing thread; fields under pmu. */
typedef struct persist_barrier {
    struct persist_barrier *next; /* registered ones */
    bool done;
    int n_written;            /* cache writes that succeeded while it was queued */
    json_t *lost;             /* [{id, owner}]: agents whose last write before
                                 the marker failed */
} persist_barrier;

typedef struct sched_cmd {
    sched_cmd_kind kind;
    persist_barrier *barrier; /* CMD_FLUSH */
    uint64_t owner;
    char id[AM_KVF_AGENT_MAX + 1];
    int rc;
    am_err err;
    bool done;
    struct sched_cmd *next;
} sched_cmd;

/* A write or delete for the persistence thread: owns all its memory. */
typedef struct persist_job {
    bool is_delete;
    persist_barrier *barrier; /* a flush's marker: no file work */
    char path[4096];
    char agent[AM_KVF_AGENT_MAX + 1];
    uint64_t owner;
    uint64_t agent_gen;       /* sched_agent.gen of the agent it was made for */
    am_kvf_header h;
    am_kvf_update u;
    int32_t *tokens;
    float *logits_gen, *logits_last;
    void **blocks;            /* [n_layer * (n_blocks - first_block)] copies or NULL */
    uint64_t copy_bytes;
    /* result */
    int rc;
    am_status code;
    uint64_t written;
    struct persist_job *next;
} persist_job;

struct am_sched {
    am_sched_params p;
    am_bundle *b;
    am_engine *e;
    am_kv *kv;
    int n_vocab;
    uint8_t fp[16];           /* K/V fingerprint: bundle + engine settings */
    char *mdir;               /* cache_dir/<hex fp>: this model's files (NULL: no persistence) */
    am_kvf_geom geom;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* work arrived (submit, cancel, command) */
    am_req *q_head, *q_tail;  /* submitted, not admitted */
    int n_queued;
    sched_cmd *cmds;
    bool draining, stopping;
    atomic_bool cut;          /* am_sched_cut: end everything at the next step */
    bool persist_done;        /* a file job finished: collect it (set by the persistence thread) */
    pthread_cond_t cmd_cv;    /* a command completed */

    pthread_mutex_t amu;
    sched_agent *agents;      /* [n_agents] */
    int n_agents, cap_agents;
    uint64_t lru_clock;
    uint64_t agent_gen;       /* last sched_agent.gen handed out */

    /* scheduler thread only */
    sched_prefix prefix;
    sched_run *runs;          /* [parallel] active */
    int n_runs;
    am_batch batch;
    float *logits;            /* [step_tokens][n_vocab] */
    uint64_t anon_counter;

    /* persistence */
    pthread_t pthread;
    pthread_mutex_t pmu;
    pthread_cond_t pcv;
    persist_job *pq_head, *pq_tail;   /* to do */
    persist_job *pdone;               /* finished, for the scheduler to account */
    bool pstop;
    char pbusy[4096];                 /* path being written, "" when idle */
    int64_t pq_bytes;                 /* copies held by queued and running jobs */
    int64_t pq_max, pq_peak;          /* the cap (persist_queue_max) and the most seen */
    persist_barrier *barriers;        /* flushes waiting (see persist_barrier) */

    /* stats (atomics: read by HTTP threads) */
    _Atomic uint64_t st_prompt_computed, st_prompt_cached, st_generated, st_steps;
    _Atomic uint64_t st_saves, st_save_bytes, st_save_fail, st_restores, st_restore_bytes, st_restore_fail;
    _Atomic uint64_t st_evictions, st_shared_tokens, st_persist_waits;
    _Atomic int64_t st_running, st_disk_bytes, st_kv_used;
    _Atomic bool ready;
};

/* sched_agents.c (agent table; callers hold amu where noted) */
sched_agent *sched_agent_find(am_sched *s, uint64_t owner, const char *id);
/* The agent a persistence job was made for, or NULL when it is gone —
 * deleted, or deleted and created again under the same id (generation). */
sched_agent *sched_job_agent(am_sched *s, const persist_job *j);
sched_agent *sched_agent_add(am_sched *s, uint64_t owner, const char *id); /* amu held */
void sched_agent_forget(am_sched *s, sched_agent *a);                      /* amu held; frees memory */
void sched_agent_touch(am_sched *s, sched_agent *a);                        /* amu held */
/* Frees the pool blocks of the least recently used idle hot agent. Returns
 * false when none can be evicted. Scheduler thread. */
bool sched_evict_one(am_sched *s);
/* Drops a from the pool (snapshotting first if the file is behind). */
void sched_agent_evict(am_sched *s, sched_agent *a);
/* Loads a warm agent's file into a new sequence. 0 on success; on failure the
 * file is deleted when it is bad and the agent becomes empty. */
int sched_agent_restore(am_sched *s, sched_agent *a, am_err *err);
/* Queues the blocks of a changed since its file was written. */
void sched_agent_snapshot(am_sched *s, sched_agent *a);
/* Snapshots every idle hot agent whose file is behind memory; returns how
 * many. Scheduler thread (or the main thread once it has stopped). */
int sched_snapshot_dirty(am_sched *s);
void sched_index_dir(am_sched *s);
int64_t sched_agent_mem_bytes(const am_sched *s, const sched_agent *a);

/* sched_prefix.c (scheduler thread) */
/* Indexes a's full blocks (an idle hot agent: after its turn). */
void sched_prefix_add(am_sched *s, sched_agent *a);
/* Drops a's entries (before its tokens or blocks change or it goes). */
void sched_prefix_remove(am_sched *s, sched_agent *a);
/* Longest prefix of prompt, in whole blocks and shorter than n_prompt, that
 * an indexed agent of a's owner other than a holds (verified by tokens, and
 * shareable under sliding windows); *donor gets that agent. 0: none. */
int64_t sched_prefix_find(am_sched *s, const sched_agent *a, const int32_t *prompt, int64_t n_prompt,
                          sched_agent **donor);
void sched_prefix_free(sched_prefix *p);
/* Checks the index against the agents (am_sched_check). 0 or -1 with err. */
int sched_prefix_check(am_sched *s, am_err *err);

/* sched_persist.c */
void sched_persist_start(am_sched *s);
void sched_persist_stop(am_sched *s);     /* finishes the queue first */
/* Queues j; a job with copies waits first while the queue holds more than
 * pq_max with it (backpressure on the scheduler thread: memory stays bounded
 * when the disk is slow). Call with no lock held. */
void sched_persist_push(am_sched *s, persist_job *j);
/* Registers a flush's barrier (results count from now on). */
void sched_persist_register(am_sched *s, persist_barrier *b);
/* Accounts finished jobs (scheduler thread). */
void sched_persist_collect(am_sched *s);
/* Waits until no queued or running job writes path. */
void sched_persist_wait_path(am_sched *s, const char *path);

/* sched_splice.c: when the prompt from token l on spells what agent a's
 * cache holds from l on (answers it generated) but in other ids, rewrites
 * q's prompt to use the cached ids there. "Spells" is byte for byte against
 * the cache's text as the server sends it (invalid UTF-8 as U+FFFD, by the
 * server's own detokenizer) or against its raw bytes. l is the longest
 * common prefix of a's tokens and q's prompt; returns the new one (l when
 * nothing changed: past it the walk stopped at differing bytes or ids). */
int64_t sched_splice_generated(am_sched *s, const sched_agent *a, am_req *q, int64_t l);

#endif
