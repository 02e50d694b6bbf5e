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
} sched_agent;

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

typedef enum { CMD_DELETE = 1, CMD_EVICT } sched_cmd_kind;

typedef struct sched_cmd {
    sched_cmd_kind kind;
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
    char path[4096];
    char agent[AM_KVF_AGENT_MAX + 1];
    uint64_t owner;
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
    am_kvf_geom geom;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* work arrived (submit, cancel, command) */
    am_req *q_head, *q_tail;  /* submitted, not admitted */
    int n_queued;
    sched_cmd *cmds;
    bool draining, stopping;
    bool persist_done;        /* a file job finished: collect it (set by the persistence thread) */
    pthread_cond_t cmd_cv;    /* a command completed */

    pthread_mutex_t amu;
    sched_agent *agents;      /* [n_agents] */
    int n_agents, cap_agents;
    uint64_t lru_clock;

    /* scheduler thread only */
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
    int64_t pq_bytes;

    /* stats (atomics: read by HTTP threads) */
    _Atomic uint64_t st_prompt_computed, st_prompt_cached, st_generated, st_steps;
    _Atomic uint64_t st_saves, st_save_bytes, st_save_fail, st_restores, st_restore_bytes, st_restore_fail;
    _Atomic uint64_t st_evictions, st_shared_tokens;
    _Atomic int64_t st_running, st_disk_bytes, st_kv_used;
    _Atomic bool ready;
};

/* sched_agents.c (agent table; callers hold amu where noted) */
sched_agent *sched_agent_find(am_sched *s, uint64_t owner, const char *id);
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
void sched_index_dir(am_sched *s);
int64_t sched_agent_mem_bytes(const am_sched *s, const sched_agent *a);

/* sched_persist.c */
void sched_persist_start(am_sched *s);
void sched_persist_stop(am_sched *s);     /* finishes the queue first */
void sched_persist_push(am_sched *s, persist_job *j);
/* Accounts finished jobs (scheduler thread). */
void sched_persist_collect(am_sched *s);
/* Waits until no queued or running job writes path. */
void sched_persist_wait_path(am_sched *s, const char *path);

#endif
