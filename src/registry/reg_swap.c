/*
 * reg_swap.c — the hot swap of the default model, cache flushes across
 * models, and what the registry reports (/v1/models, /admin/models, stats).
 *
 * Swap order, and why: load the new model first (the old one serves, so a
 * failed load costs nobody anything); hold new requests for the old model
 * (they wait rather than fail, and go to the new one); let the old model's
 * leases drain, cutting what is still running at the deadline; write every
 * dirty cache (so no agent loses its memory of the old model); switch the
 * default and release the held requests; only then free the old weights.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reg_impl.h"

int am_reg_swap(am_registry *r, const char *name, double drain_timeout_s, json_t **report, am_err *err) {
    if (report) *report = NULL;
    double t0 = am_time_now();
    if (drain_timeout_s < 0) drain_timeout_s = 0;
    pthread_mutex_lock(&r->mu);
    if (r->swapping) {
        pthread_mutex_unlock(&r->mu);
        return am_err_setc(err, AM_E_CONFLICT, "a model swap is already running");
    }
    reg_entry *e = name ? reg_find(r, name) : NULL;
    if (!e && name && r->models_dir) { /* a file dropped into the directory */
        pthread_mutex_unlock(&r->mu);
        am_err tmp = {0};
        am_reg_load(r, name, &tmp); /* rescans; the swap below reports any failure */
        pthread_mutex_lock(&r->mu);
        e = reg_find(r, name);
    }
    if (!e) {
        pthread_mutex_unlock(&r->mu);
        return am_err_setc(err, AM_E_NOT_FOUND, "model '%s' is not served here", name ? name : "");
    }
    if (r->swapping) {
        pthread_mutex_unlock(&r->mu);
        return am_err_setc(err, AM_E_CONFLICT, "a model swap is already running");
    }
    reg_entry *old = r->cur;
    r->swapping = true;
    if (reg_wait_loaded(r, e, -1, err) < 0) {
        r->degraded = true;
        snprintf(r->reason, sizeof r->reason, "swap to %s failed: %s", e->name, err->msg);
        r->st_swap_fail++;
        r->swapping = false;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    double t_load = am_time_now() - t0;
    e->leases++; /* keeps the new model loaded until it is the default */
    am_served *om = old != e && old->state == REG_LOADED ? old->m : NULL;
    if (om) r->hold = old;
    pthread_cond_broadcast(&r->cv);

    int cancelled = 0, written = 0;
    json_t *lost = json_array();
    double t_drain0 = am_time_now();
    if (om) {
        double deadline = t_drain0 + drain_timeout_s;
        while (old->leases > 0 && am_time_now() < deadline) reg_wait(r, deadline, 0.2);
        if (old->leases > 0) {
            pthread_mutex_unlock(&r->mu);
            cancelled = am_sched_active(om->s);
            am_sched_cut(om->s);
            pthread_mutex_lock(&r->mu);
            double hard = am_time_now() + 30; /* a cut request ends within a step */
            while (old->leases > 0 && am_time_now() < hard) reg_wait(r, hard, 0.2);
        }
        pthread_mutex_unlock(&r->mu);
        am_err ferr = {0};
        json_t *l = NULL;
        written = am_sched_flush(om->s, &l, &ferr);
        if (written < 0) written = 0;
        if (l) json_array_extend(lost, l);
        json_decref(l);
        pthread_mutex_lock(&r->mu);
    }
    double t_drain = am_time_now() - t_drain0;
    r->cur = e;
    r->hold = NULL;
    e->leases--;
    bool old_idle = om && old->leases == 0;
    if (old_idle) old->state = REG_UNLOADING;
    pthread_cond_broadcast(&r->cv); /* held requests go to the new default */
    pthread_mutex_unlock(&r->mu);

    if (old_idle) reg_unload_served(r, om, 0, NULL); /* flushed above: only cut tails are left */
    pthread_mutex_lock(&r->mu);
    if (old_idle) {
        old->m = NULL;
        old->state = REG_UNLOADED;
        r->st_unloads++;
    }
    r->degraded = false;
    r->reason[0] = 0;
    r->st_swaps++;
    r->st_lost += json_array_size(lost);
    r->swapping = false;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (json_array_size(lost))
        am_log_warn("registry: swap %s -> %s: %zu agents' caches could not be written", old->name, e->name,
                    json_array_size(lost));
    am_log_info("registry: swapped %s -> %s in %.2f s (load %.2f s, drain %.2f s)", old->name, e->name,
                am_time_now() - t0, t_load, t_drain);
    if (report)
        *report = json_pack("{s:s, s:s, s:f, s:f, s:f, s:i, s:i, s:o, s:b}", "model", e->name, "previous", old->name,
                            "load_s", t_load, "drain_s", t_drain, "swap_s", am_time_now() - t0, "cancelled",
                            cancelled, "caches_written", written, "caches_lost", lost, "old_unloaded", old_idle);
    else
        json_decref(lost);
    return 0;
}

typedef struct flush_ctx {
    int written;
    json_t *lost;
} flush_ctx;

static void flush_one(am_served *m, void *ctx) {
    flush_ctx *f = ctx;
    am_err err = {0};
    json_t *l = NULL;
    int n = am_sched_flush(m->s, &l, &err);
    if (n > 0) f->written += n;
    if (l) json_array_extend(f->lost, l);
    json_decref(l);
}

int am_reg_flush(am_registry *r, json_t **lost, am_err *err) {
    flush_ctx f = {0, json_array()};
    am_reg_each(r, flush_one, &f);
    pthread_mutex_lock(&r->mu);
    r->st_lost += json_array_size(f.lost);
    pthread_mutex_unlock(&r->mu);
    if (lost) *lost = f.lost;
    else json_decref(f.lost);
    return f.written;
}

static const char *state_name(reg_state s) {
    switch (s) {
    case REG_LOADING: return "loading";
    case REG_LOADED: return "loaded";
    case REG_UNLOADING: return "unloading";
    default: return "unloaded";
    }
}

json_t *am_reg_models_json(am_registry *r, bool admin) {
    json_t *a = json_array();
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++) {
        reg_entry *e = r->e[i];
        if (e->gone) continue;
        json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:b}", "id", e->name, "object", "model", "created",
                              (json_int_t)e->loaded_at, "owned_by", "agentmem", "state", state_name(e->state),
                              "default", e == r->cur);
        if (admin) {
            json_object_set_new(j, "size_bytes", json_integer(e->size));
            json_object_set_new(j, "pinned", json_boolean(e->pinned));
            json_object_set_new(j, "in_use", json_integer(e->leases));
            json_object_set_new(j, "load_s", e->load_gen ? json_real(e->load_s) : json_null());
            json_object_set_new(j, "last_used", json_real(e->last_used));
            json_object_set_new(j, "last_error", e->last_error[0] ? json_string(e->last_error) : json_null());
            if (e->state == REG_LOADED) {
                am_sched_stats st;
                am_sched_stats_get(e->m->s, &st);
                json_object_set_new(j, "agents_hot", json_integer(st.agents_hot));
                json_object_set_new(j, "agents_warm", json_integer(st.agents_warm));
                json_object_set_new(j, "kv_bytes_budget", json_integer(st.kv_bytes_budget));
            }
        }
        json_array_append_new(a, j);
    }
    pthread_mutex_unlock(&r->mu);
    return a;
}

void am_reg_stats_get(am_registry *r, am_reg_stats *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++) {
        if (r->e[i]->gone) continue;
        o->models_registered++;
        if (r->e[i]->state == REG_LOADED) {
            o->models_loaded++;
            o->weights_bytes_loaded += r->e[i]->size;
        }
    }
    o->loads = r->st_loads;
    o->load_failures = r->st_load_fail;
    o->unloads = r->st_unloads;
    o->swaps = r->st_swaps;
    o->swap_failures = r->st_swap_fail;
    o->caches_lost = r->st_lost;
    o->degraded = r->degraded;
    o->ready = r->started && !r->stopping;
    if (r->degraded) snprintf(o->reason, sizeof o->reason, "%s", r->reason);
    else if (!r->started) snprintf(o->reason, sizeof o->reason, "loading %s", r->cur->name);
    else if (r->stopping) snprintf(o->reason, sizeof o->reason, "shutting down");
    pthread_mutex_unlock(&r->mu);
}

static void add_stats(am_served *m, void *ctx) {
    am_sched_stats *o = ctx, st;
    am_sched_stats_get(m->s, &st);
    o->queued += st.queued;
    o->running += st.running;
    o->kv_bytes_used += st.kv_bytes_used;
    o->kv_bytes_budget += st.kv_bytes_budget;
    o->agents_hot += st.agents_hot;
    o->agents_warm += st.agents_warm;
    reg_add_counters(o, &st);
    o->disk_bytes += st.disk_bytes;
    o->persist_queue_bytes += st.persist_queue_bytes;
    o->persist_queue_max += st.persist_queue_max;
    o->persist_waits += st.persist_waits;
}

void am_reg_sched_stats(am_registry *r, am_sched_stats *out) {
    pthread_mutex_lock(&r->mu);
    *out = r->retired;
    pthread_mutex_unlock(&r->mu);
    out->ready = true;
    am_reg_each(r, add_stats, out);
}
