/*
 * reg_impl.h — private to src/registry/: the registry's state, shared by
 * registry.c (allowlist, leases, loads, unloads) and reg_swap.c (swap,
 * flush, reports).
 *
 * Entry states:
 *
 *     UNLOADED --acquire/load--> LOADING --ok--> LOADED --unload--> UNLOADING --> UNLOADED
 *                                   `--fails--> UNLOADED (last_error set)
 *
 * Invariants (am_reg_check): m != NULL exactly when LOADED or UNLOADING;
 * leases > 0 only when LOADED; cur is an entry; hold is NULL or a LOADED entry;
 * the number of LOADED + LOADING + UNLOADING entries is at most
 * models_max + 1 (the extra one only during a swap).
 *
 * Locking: `mu` guards everything here; it is never held across a model
 * load, a scheduler drain or a cache flush (those can take seconds).
 */
#ifndef AM_REG_IMPL_H
#define AM_REG_IMPL_H

#include <limits.h>
#include <pthread.h>

#include "registry/registry.h"

typedef enum { REG_UNLOADED = 0, REG_LOADING, REG_LOADED, REG_UNLOADING } reg_state;

typedef struct reg_entry {
    char name[AM_REG_NAME_MAX + 1];
    char path[PATH_MAX];
    bool from_dir;            /* found in --models-dir */
    bool gone;                /* its file left the directory: not listed or found (entries
                                 are never freed before the registry, so pointers stay valid) */
    bool pinned;
    int64_t size;             /* bytes of weight files on disk */
    reg_state state;
    am_served *m;             /* LOADED / UNLOADING */
    int leases;
    uint64_t lru;             /* larger = used more recently */
    double last_used;         /* wall clock */
    double load_s;            /* seconds the last load took */
    double loaded_at;         /* wall clock of the last load */
    uint64_t load_gen;        /* bumped when a load ends (either way) */
    am_status last_code;      /* of the last failed load, AM_OK when it succeeded */
    char last_error[512];
} reg_entry;

struct am_registry {
    am_registry_params p;
    char *models_dir;         /* realpath, or NULL */
    am_step_gate *gate;
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* any state or lease change */
    reg_entry **e;            /* [n] */
    int n, cap;
    reg_entry *cur;           /* the default model */
    reg_entry *hold;          /* entry whose new leases wait (a swap drains it), or NULL */
    bool swapping, stopping;
    uint64_t lru_clock;
    int loads_running;        /* load threads alive */
    bool started;             /* the first default load succeeded */
    bool degraded;
    char reason[768];
    uint64_t st_loads, st_load_fail, st_unloads, st_swaps, st_swap_fail, st_lost;
    am_sched_stats retired;   /* counters of models since unloaded (so totals never go back) */
};

/* registry.c */
reg_entry *reg_find(am_registry *r, const char *name);              /* mu held */
/* Loads e unless loaded; waits up to wait_ms (-1: until done). mu held on
 * entry and exit. 0, or -1 with err (AM_E_BUSY on timeout). */
int reg_wait_loaded(am_registry *r, reg_entry *e, int wait_ms, am_err *err);
/* Drains, flushes and frees a served model (no lock held; no lease out).
 * Returns caches written; appends failed writes to lost when non-NULL. */
int reg_unload_served(am_registry *r, am_served *m, double deadline_s, json_t *lost);
bool reg_check(am_registry *r, char *why, size_t cap);              /* mu held */
/* Waits on cv until woken, deadline (am_time_now() seconds) or max_step
 * seconds pass, at least 1 ms. mu held. */
void reg_wait(am_registry *r, double deadline, double max_step);
/* o's counters += st's (gauges untouched). */
void reg_add_counters(am_sched_stats *o, const am_sched_stats *st);

#endif
