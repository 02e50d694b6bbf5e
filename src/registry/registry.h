/*
 * registry.h — the models a server may serve (the allowlist), which of them
 * are loaded, loading on demand, unloading under --models-max and
 * --weights-budget, and the hot swap of the default model.
 *
 * A model is a name: the file name without .gguf of every GGUF file in
 * --models-dir, the name of every Hugging Face folder there (a folder with a
 * config.json), and each `--model NAME=PATH`. Nothing else can be loaded:
 * requests carry names, never paths; an entry of the directory that is a
 * symlink resolving outside it is skipped. The directory is rescanned when a
 * name is not found, so a file dropped in becomes loadable.
 *
 * A loaded model (am_served) is a bundle and its scheduler: each has its own
 * KV pool (the --kv-budget divided by --models-max) and its own cache
 * subdirectory (caches are tagged by fingerprint), so loaded models share
 * nothing mutable. Their scheduler threads take turns through one step gate,
 * so two busy models alternate forward passes instead of fighting over the
 * cores.
 *
 * Leases: every user of a loaded model holds a lease (am_reg_acquire ..
 * am_reg_release); a model is unloaded only with no lease out. A request
 * that names a model being loaded waits for it (up to load_wait_ms, then
 * AM_E_BUSY with a retry time); a request for the default model while a swap
 * drains it is held and then goes to the new model.
 *
 * Swap (am_reg_swap): load the new model while the old one serves; hold new
 * requests for the old model; let the old model's running requests finish
 * (cancelled at the drain deadline: they end with finish "length"); write
 * every dirty cache; switch; unload the old model. One swap at a time
 * (AM_E_CONFLICT). A failed load leaves the old model serving and the
 * registry degraded (am_reg_ready says why) until a good swap.
 *
 * Threads: every function may be called from any thread, concurrently,
 * except am_reg_create / am_reg_free (main thread, once each). Loads run on
 * a thread of their own; swaps and unloads run on the caller's thread.
 */
#ifndef AM_REGISTRY_H
#define AM_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>

#include "base/base.h"
#include "bundle/bundle.h"
#include "scheduler/scheduler.h"
#include "text/output.h"

#define AM_REG_NAME_MAX 128

/* A loaded model, immutable while a lease is held. */
typedef struct am_served {
    char name[AM_REG_NAME_MAX + 1];
    am_bundle *b;
    am_sched *s;
    am_tool_format tool_fmt;  /* how the template writes tool calls */
    bool reasoning;           /* the template opens <think> blocks */
} am_served;

typedef struct am_reg_model_arg {
    const char *name;         /* NULL: the path's base name without .gguf */
    const char *path;
} am_reg_model_arg;

typedef struct am_registry_params {
    const char *models_dir;        /* NULL: none */
    const am_reg_model_arg *models; /* [n_models] --model NAME=PATH (or PATH) */
    int n_models;
    const char *default_name;      /* NULL: the first --model, else the first name in sort order */
    char **pins;                   /* [n_pins] names never unloaded */
    int n_pins;
    int models_max;                /* loaded at once (default 1; a swap briefly holds one more) */
    int64_t weights_budget;        /* bytes of weights loaded at once (<= 0: no limit) */
    int load_wait_ms;              /* a request waits this long for a load (default 60000) */
    am_sched_params sp;            /* for each model's scheduler; sp.kv_budget is the total */
    /* sp.kv_budget <= 0: each model gets kv_budget_fn(bundle) (NULL: the scheduler's default) */
    int64_t (*kv_budget_fn)(const am_bundle *b);
} am_registry_params;

typedef struct am_registry am_registry;

/* Builds the allowlist (loads nothing). Fails (AM_E_INVALID / AM_E_NOT_FOUND)
 * on a bad directory, a bad name, two models of one name, no models at all,
 * or a default or pin that names none. */
am_registry *am_reg_create(const am_registry_params *p, am_err *err);
/* Loads the default model (with its warm-up) on the caller's thread. */
int am_reg_start(am_registry *r, am_err *err);
/* Stops: every loaded model is drained (running requests cancelled after
 * deadline_ms), its caches written and its weights freed. No lease may be
 * out. */
void am_reg_free(am_registry *r, int deadline_ms);
/* Drain for shutdown: every loaded scheduler refuses new requests. */
void am_reg_drain(am_registry *r);

/* A lease on a loaded model: name NULL or "" means the default model.
 * Loads the model if it is registered but not loaded. Fails with
 * AM_E_NOT_FOUND (no such model), AM_E_BUSY (the load or a swap runs past
 * the wait; *retry_s set when retry_s is non-NULL), or the load's own error. */
am_served *am_reg_acquire(am_registry *r, const char *name, int *retry_s, am_err *err);
void am_reg_release(am_registry *r, am_served *m);
/* Whether name is the default model (NULL/"": yes). */
bool am_reg_is_default(am_registry *r, const char *name);

/* The name a model's files carry as their model id (its file or folder
 * base name without .gguf); -1 when name is not registered. */
int am_reg_file_model_id(am_registry *r, const char *name, char *out, size_t cap);

/* Admin operations. swap: see above; *report (caller decrefs) says what
 * happened: {"model", "previous", "load_s", "drain_s", "swap_s",
 * "cancelled", "caches_written", "caches_lost": [{"agent", "owner"}...]}. */
int am_reg_swap(am_registry *r, const char *name, double drain_timeout_s, json_t **report, am_err *err);
int am_reg_load(am_registry *r, const char *name, am_err *err);
/* Unloads an idle model (AM_E_BUSY while it has leases or is the target of
 * a swap; the default model cannot be unloaded while it is the default). */
int am_reg_unload(am_registry *r, const char *name, am_err *err);
/* Writes every dirty cache of every loaded model now. Returns the count of
 * caches written; *lost (caller decrefs) lists the agents whose write failed. */
int am_reg_flush(am_registry *r, json_t **lost, am_err *err);

/* [{id, object:"model", owned_by, state, ...}] for /v1/models (admin adds
 * path, size, load time, agents with caches). */
json_t *am_reg_models_json(am_registry *r, bool admin);
/* Calls fn for every loaded model (each under a lease). */
void am_reg_each(am_registry *r, void (*fn)(am_served *m, void *ctx), void *ctx);

typedef struct am_reg_stats {
    int models_registered, models_loaded;
    int64_t weights_bytes_loaded;
    uint64_t loads, load_failures, unloads, swaps, swap_failures, caches_lost;
    bool ready;               /* the default model is loaded (or loadable and once was) */
    bool degraded;            /* the last swap failed */
    char reason[768];         /* why not ready or degraded */
} am_reg_stats;
void am_reg_stats_get(am_registry *r, am_reg_stats *out);
/* The schedulers' numbers summed over loaded models; counters include the
 * models unloaded since start, so they never go back. */
void am_reg_sched_stats(am_registry *r, am_sched_stats *out);

/* The invariants of reg_impl.h; false with why when one does not hold
 * (tests call it after every operation). */
bool am_reg_check(am_registry *r, char *why, size_t cap);

#endif
