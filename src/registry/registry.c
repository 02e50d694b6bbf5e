/*
 * registry.c — the allowlist (--models-dir, --model NAME=PATH), leases on
 * loaded models, loads on a thread of their own (with room made under
 * --models-max / --weights-budget by unloading the least recently used idle
 * model) and unloads. The swap lives in reg_swap.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "registry/reg_impl.h"

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* [A-Za-z0-9._-]{1,128}, not "." or "..": a name never reads as a path. */
static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > AM_REG_NAME_MAX || !strcmp(s, ".") || !strcmp(s, "..")) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* The name a path serves under: its base name without a trailing / or .gguf. */
static void name_of_path(const char *path, char *out, size_t cap) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = 0;
    const char *base = strrchr(tmp, '/');
    base = base ? base + 1 : tmp;
    snprintf(out, cap, "%s", base);
    size_t m = strlen(out);
    if (m > 5 && !strcmp(out + m - 5, ".gguf")) out[m - 5] = 0;
}

/* Bytes of a model on disk: the file, or the regular files of a folder. */
static int64_t model_size(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return 0;
    if (!S_ISDIR(st.st_mode)) return (int64_t)st.st_size;
    DIR *d = opendir(path);
    int64_t sum = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char p[PATH_MAX];
        if (de->d_name[0] == '.' || snprintf(p, sizeof p, "%s/%s", path, de->d_name) >= (int)sizeof p) continue;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) sum += (int64_t)st.st_size;
    }
    if (d) closedir(d);
    return sum;
}

static reg_entry *find_any(am_registry *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->e[i]->name, name)) return r->e[i];
    return NULL;
}

reg_entry *reg_find(am_registry *r, const char *name) {
    reg_entry *e = find_any(r, name);
    return e && !e->gone ? e : NULL;
}

static reg_entry *add_entry(am_registry *r, const char *name, const char *path, bool from_dir) {
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->e = am_xrealloc(r->e, (size_t)r->cap * sizeof *r->e);
    }
    reg_entry *e = am_xcalloc(1, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->path, sizeof e->path, "%s", path);
    e->from_dir = from_dir;
    e->size = model_size(path);
    for (int i = 0; i < r->p.n_pins; i++) e->pinned |= !strcmp(r->p.pins[i], name);
    r->e[r->n++] = e;
    return e;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp((*(reg_entry *const *)a)->name, (*(reg_entry *const *)b)->name);
}

/* Adds the models of --models-dir not yet known; drops directory entries
 * that are gone (when unloaded and unused). An entry whose real path is
 * outside the directory (a symlink out of it) is skipped. mu held. */
static void scan_dir(am_registry *r, bool verbose) {
    if (!r->models_dir) return;
    DIR *d = opendir(r->models_dir);
    if (!d) return;
    size_t dl = strlen(r->models_dir);
    for (int i = 0; i < r->n; i++)
        if (r->e[i]->from_dir) r->e[i]->gone = true; /* until seen again */
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char full[PATH_MAX], real[PATH_MAX], name[AM_REG_NAME_MAX + 8];
        if (snprintf(full, sizeof full, "%s/%s", r->models_dir, de->d_name) >= (int)sizeof full) continue;
        if (!realpath(full, real)) continue;
        if (strncmp(real, r->models_dir, dl) || real[dl] != '/') {
            if (verbose) am_log_warn("registry: %s resolves outside %s: not served", full, r->models_dir);
            continue;
        }
        struct stat st;
        if (stat(real, &st) < 0) continue;
        size_t nl = strlen(de->d_name);
        if (S_ISREG(st.st_mode) && nl > 5 && !strcmp(de->d_name + nl - 5, ".gguf")) {
            snprintf(name, sizeof name, "%.*s", (int)(nl - 5), de->d_name);
        } else if (S_ISDIR(st.st_mode)) {
            char cfg[PATH_MAX];
            if (snprintf(cfg, sizeof cfg, "%s/config.json", real) >= (int)sizeof cfg || access(cfg, R_OK) != 0)
                continue;
            snprintf(name, sizeof name, "%s", de->d_name);
        } else {
            continue;
        }
        if (!name_ok(name)) {
            if (verbose) am_log_warn("registry: %s: the name must match [A-Za-z0-9._-]{1,128}: not served", full);
            continue;
        }
        reg_entry *e = find_any(r, name);
        if (e && !e->from_dir) continue; /* --model NAME=PATH wins */
        if (e) {
            e->gone = false;
            if (e->state == REG_UNLOADED) snprintf(e->path, sizeof e->path, "%s", real);
            continue;
        }
        add_entry(r, name, real, true);
    }
    closedir(d);
    /* a loaded or default model stays listed until unloaded */
    for (int i = 0; i < r->n; i++)
        if (r->e[i]->gone && (r->e[i]->state != REG_UNLOADED || r->e[i] == r->cur)) r->e[i]->gone = false;
    qsort(r->e, (size_t)r->n, sizeof *r->e, cmp_entry);
}

/* Finds a name, rescanning the directory once when it is not known. */
static reg_entry *find_or_scan(am_registry *r, const char *name) {
    reg_entry *e = reg_find(r, name);
    if (e || !r->models_dir || !name_ok(name)) return e;
    scan_dir(r, false);
    return reg_find(r, name);
}

bool reg_check(am_registry *r, char *why, size_t cap) {
    int resident = 0;
    for (int i = 0; i < r->n; i++) {
        reg_entry *e = r->e[i];
        bool has_m = e->state == REG_LOADED || e->state == REG_UNLOADING;
        if (has_m != (e->m != NULL)) return snprintf(why, cap, "%s: model %s state", e->name, e->m ? "with" : "without"), false;
        if (e->leases < 0 || (e->leases > 0 && e->state != REG_LOADED))
            return snprintf(why, cap, "%s: %d leases in state %d", e->name, e->leases, e->state), false;
        resident += e->state != REG_UNLOADED;
    }
    if (!r->cur) return snprintf(why, cap, "no default model"), false;
    if (r->hold && r->hold->state != REG_LOADED)
        return snprintf(why, cap, "hold on an entry that is not loaded"), false;
    int max = r->p.models_max + 1 + r->loads_running; /* a load may be making room */
    if (resident > max) return snprintf(why, cap, "%d models resident, at most %d", resident, max), false;
    return true;
}

/* ---- loading ------------------------------------------------------------- */

/* One short forward pass so the first request does not pay for page faults
 * and first-touch allocations. */
static int warm_up(am_sched *s, const am_bundle *b, am_err *err) {
    int32_t tok = b->model->hp.bos_id >= 0 ? b->model->hp.bos_id : 0;
    am_gen_request g = {0};
    g.prompt = &tok;
    g.n_prompt = 1;
    g.max_tokens = 1;
    g.no_cache = true;
    g.ignore_eos = true;
    g.sp = am_sampler_default_params();
    am_req *q = am_sched_submit(s, &g, err);
    if (!q) return -1;
    am_gen_event ev = {0};
    int rc = -1;
    double t0 = am_time_now();
    while (am_time_now() - t0 < 120) {
        if (!am_req_next(q, &ev, 1000)) continue;
        if (ev.kind != AM_EV_DONE) continue;
        if (ev.finish == AM_FINISH_ERROR) am_err_setc(err, ev.code ? ev.code : AM_E_INTERNAL, "warm-up: %s", ev.msg);
        else rc = 0;
        break;
    }
    if (rc < 0 && !err->msg[0]) am_err_setc(err, AM_E_INTERNAL, "warm-up did not finish");
    am_req_release(q);
    return rc;
}

static am_served *load_served(am_registry *r, reg_entry *e, am_err *err) {
    am_bundle *b = am_bundle_load(e->path, err);
    if (!b) return NULL;
    am_sched_params sp = r->p.sp;
    sp.gate = r->gate;
    int64_t total = sp.kv_budget > 0 ? sp.kv_budget : r->p.kv_budget_fn ? r->p.kv_budget_fn(b) : 0;
    if (total > 0) sp.kv_budget = total / AM_MAX(r->p.models_max, 1);
    am_sched *s = am_sched_create(b, &sp, err);
    if (!s) {
        am_bundle_unref(b);
        return NULL;
    }
    if (warm_up(s, b, err) < 0) {
        am_sched_free(s, 0);
        am_bundle_unref(b);
        return NULL;
    }
    am_served *m = am_xcalloc(1, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", e->name);
    m->b = b;
    m->s = s;
    m->tool_fmt = am_tool_format_detect(b->tmpl_text);
    m->reasoning = b->tmpl_text && strstr(b->tmpl_text, "<think>");
    return m;
}

int reg_unload_served(am_registry *r, am_served *m, double deadline_s, json_t *lost) {
    am_sched_drain(m->s);
    json_t *l = NULL;
    am_err err = {0};
    int written = am_sched_flush(m->s, &l, &err);
    if (written < 0) written = 0;
    if (lost && l) json_array_extend(lost, l);
    json_decref(l);
    /* running requests end by the deadline; their tails are written by free */
    double t_end = am_time_now() + deadline_s;
    while (am_sched_active(m->s) > 0 && am_time_now() < t_end) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    am_sched_stats st;
    am_sched_stats_get(m->s, &st);
    am_sched_free(m->s, 0);
    pthread_mutex_lock(&r->mu);
    reg_add_counters(&r->retired, &st);
    pthread_mutex_unlock(&r->mu);
    am_bundle_unref(m->b);
    free(m);
    return written;
}

void reg_add_counters(am_sched_stats *o, const am_sched_stats *st) {
    o->prompt_tokens_computed += st->prompt_tokens_computed;
    o->prompt_tokens_cached += st->prompt_tokens_cached;
    o->generated_tokens += st->generated_tokens;
    o->cache_saves += st->cache_saves;
    o->cache_save_bytes += st->cache_save_bytes;
    o->cache_save_failures += st->cache_save_failures;
    o->cache_restores += st->cache_restores;
    o->cache_restore_bytes += st->cache_restore_bytes;
    o->cache_restore_failures += st->cache_restore_failures;
    o->evictions += st->evictions;
    o->steps += st->steps;
    o->shared_prefix_tokens += st->shared_prefix_tokens;
}

static int resident_count(am_registry *r, const reg_entry *skip, int64_t *bytes) {
    int n = 0;
    *bytes = 0;
    for (int i = 0; i < r->n; i++) {
        reg_entry *x = r->e[i];
        if (x == skip || x->state == REG_UNLOADED) continue;
        n++;
        *bytes += x->size;
    }
    return n;
}

/* Unloads least recently used idle models until e fits. mu held (released
 * while unloading). */
static int make_room(am_registry *r, reg_entry *e, am_err *err) {
    int64_t budget = r->p.weights_budget;
    if (budget > 0 && e->size > budget)
        return am_err_setc(err, AM_E_NO_ROOM, "model %s is %lld bytes, over --weights-budget %lld", e->name,
                           (long long)e->size, (long long)budget);
    double deadline = am_time_now() + r->p.load_wait_ms / 1000.0;
    for (;;) {
        int64_t bytes;
        int n = resident_count(r, e, &bytes);
        reg_entry *swap_src = r->swapping ? r->cur : NULL;
        bool src_resident = swap_src && swap_src != e && swap_src->state != REG_UNLOADED;
        int max = r->p.models_max + (src_resident ? 1 : 0);
        int64_t room = budget + (src_resident ? swap_src->size : 0);
        if (n + 1 <= max && (budget <= 0 || bytes + e->size <= room)) return 0;
        reg_entry *victim = NULL;
        bool transient = false; /* something may become a victim: in use now, or on its way out */
        for (int i = 0; i < r->n; i++) {
            reg_entry *x = r->e[i];
            if (x == e || x->state == REG_UNLOADED || x->pinned) continue;
            if (x->state != REG_LOADED || x->leases || x == r->hold || x == swap_src) {
                transient = true;
                continue;
            }
            if (!victim || x->lru < victim->lru) victim = x;
        }
        if (!victim && !transient)
            return am_err_setc(err, AM_E_NO_ROOM, "no room for %s: the loaded models are pinned (--models-max %d)",
                               e->name, r->p.models_max);
        if (victim) {
            victim->state = REG_UNLOADING;
            am_served *m = victim->m;
            pthread_mutex_unlock(&r->mu);
            am_log_info("registry: unloading %s to make room for %s", victim->name, e->name);
            reg_unload_served(r, m, 0, NULL);
            pthread_mutex_lock(&r->mu);
            victim->m = NULL;
            victim->state = REG_UNLOADED;
            r->st_unloads++;
            pthread_cond_broadcast(&r->cv);
            continue;
        }
        double left = deadline - am_time_now();
        if (left <= 0 || r->stopping)
            return am_err_setc(err, AM_E_BUSY, "%d models loaded and in use (--models-max %d): %s cannot load now",
                               n, r->p.models_max, e->name);
        reg_wait(r, deadline, 0.25);
    }
}

typedef struct load_arg {
    am_registry *r;
    reg_entry *e;
} load_arg;

static void *load_main(void *arg) {
    load_arg *la = arg;
    am_registry *r = la->r;
    reg_entry *e = la->e;
    free(la);
    am_err err = {0};
    am_served *m = NULL;
    double t0 = am_time_now();
    pthread_mutex_lock(&r->mu);
    int rc = make_room(r, e, &err);
    pthread_mutex_unlock(&r->mu);
    if (rc == 0) m = load_served(r, e, &err);
    double dt = am_time_now() - t0;
    if (m) am_log_info("registry: loaded %s in %.2f s", e->name, dt);
    else am_log_error("registry: loading %s failed: %s", e->name, err.msg);
    pthread_mutex_lock(&r->mu);
    e->m = m;
    e->state = m ? REG_LOADED : REG_UNLOADED;
    e->load_gen++;
    e->last_code = m ? AM_OK : (err.code ? err.code : AM_E_INTERNAL);
    snprintf(e->last_error, sizeof e->last_error, "%s", m ? "" : err.msg);
    if (m) {
        e->load_s = dt;
        e->loaded_at = wall_now();
        e->lru = ++r->lru_clock;
        r->st_loads++;
    } else {
        r->st_load_fail++;
    }
    r->loads_running--;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

void reg_wait(am_registry *r, double deadline, double max_step) {
    double left = deadline - am_time_now();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t = ts.tv_sec + ts.tv_nsec * 1e-9 + AM_MAX(AM_MIN(left, max_step), 0.001);
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

int reg_wait_loaded(am_registry *r, reg_entry *e, int wait_ms, am_err *err) {
    double deadline = wait_ms < 0 ? INFINITY : am_time_now() + wait_ms / 1000.0;
    bool mine = false;
    uint64_t gen = e->load_gen;
    for (;;) {
        if (e->state == REG_LOADED) return 0;
        if (r->stopping) return am_err_setc(err, AM_E_BUSY, "the server is shutting down");
        if (e->state == REG_UNLOADED) {
            if (mine && e->load_gen != gen)
                return am_err_setc(err, e->last_code, "loading model %s failed: %s", e->name, e->last_error);
            e->state = REG_LOADING;
            r->loads_running++;
            load_arg *la = am_xmalloc(sizeof *la);
            *la = (load_arg){r, e};
            pthread_t t;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            pthread_attr_setstacksize(&attr, 8u << 20);
            if (pthread_create(&t, &attr, load_main, la) != 0) {
                free(la);
                e->state = REG_UNLOADED;
                r->loads_running--;
                pthread_attr_destroy(&attr);
                return am_err_setc(err, AM_E_INTERNAL, "cannot start a load thread");
            }
            pthread_attr_destroy(&attr);
        }
        if (e->state == REG_LOADING && !mine) {
            mine = true; /* this load's outcome is ours to report */
            gen = e->load_gen;
        }
        if (am_time_now() >= deadline)
            return am_err_setc(err, AM_E_BUSY, "model %s is %s; retry shortly", e->name,
                               e->state == REG_LOADING ? "still loading" : "being unloaded");
        reg_wait(r, deadline, 1.0);
    }
}

/* ---- public -------------------------------------------------------------- */

am_registry *am_reg_create(const am_registry_params *p, am_err *err) {
    am_registry *r = am_xcalloc(1, sizeof *r);
    r->p = *p;
    if (r->p.models_max <= 0) r->p.models_max = 1;
    if (r->p.load_wait_ms <= 0) r->p.load_wait_ms = 60000;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->gate = am_step_gate_create();
    reg_entry *first_model = NULL;
    if (p->models_dir) {
        char real[PATH_MAX];
        struct stat st;
        if (!realpath(p->models_dir, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
            am_err_setc(err, AM_E_NOT_FOUND, "--models-dir %s: %s", p->models_dir,
                        errno ? strerror(errno) : "not a directory");
            goto fail;
        }
        r->models_dir = am_xstrdup(real);
    }
    for (int i = 0; i < p->n_models; i++) {
        char name[AM_REG_NAME_MAX + 8], real[PATH_MAX];
        if (p->models[i].name) snprintf(name, sizeof name, "%s", p->models[i].name);
        else name_of_path(p->models[i].path, name, sizeof name);
        if (!name_ok(name)) {
            am_err_setc(err, AM_E_INVALID, "model name '%s' must match [A-Za-z0-9._-]{1,128}", name);
            goto fail;
        }
        if (!realpath(p->models[i].path, real)) {
            am_err_setc(err, errno == ENOENT ? AM_E_NOT_FOUND : AM_E_IO, "%s: %s", p->models[i].path, strerror(errno));
            goto fail;
        }
        if (reg_find(r, name)) {
            am_err_setc(err, AM_E_INVALID, "two models are named %s", name);
            goto fail;
        }
        reg_entry *e = add_entry(r, name, real, false);
        if (i == 0) first_model = e;
    }
    scan_dir(r, true); /* sorts */
    if (r->n == 0) {
        am_err_setc(err, AM_E_NOT_FOUND, "no models to serve: give --model PATH or a --models-dir with GGUF files");
        goto fail;
    }
    /* default: --default, else the first --model, else the first name in sort order */
    r->cur = p->default_name ? reg_find(r, p->default_name) : p->n_models ? first_model : r->e[0];
    if (!r->cur) {
        am_err_setc(err, AM_E_NOT_FOUND, "--default %s: no such model", p->default_name);
        goto fail;
    }
    for (int i = 0; i < p->n_pins; i++)
        if (!reg_find(r, p->pins[i])) {
            am_err_setc(err, AM_E_NOT_FOUND, "--pin %s: no such model", p->pins[i]);
            goto fail;
        }
    return r;
fail:
    am_reg_free(r, 0);
    return NULL;
}

int am_reg_start(am_registry *r, am_err *err) {
    pthread_mutex_lock(&r->mu);
    int rc = reg_wait_loaded(r, r->cur, -1, err);
    if (rc == 0) r->started = true;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void am_reg_drain(am_registry *r) {
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    for (int i = 0; i < r->n; i++)
        if (r->e[i]->state == REG_LOADED) am_sched_drain(r->e[i]->m->s);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void am_reg_free(am_registry *r, int deadline_ms) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    while (r->loads_running > 0) pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->n; i++) {
        reg_entry *e = r->e[i];
        if (e->m) reg_unload_served(r, e->m, deadline_ms / 1000.0, NULL);
        free(e);
    }
    free(r->e);
    free(r->models_dir);
    am_step_gate_free(r->gate);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

am_served *am_reg_acquire(am_registry *r, const char *name, int *retry_s, am_err *err) {
    bool want_default = !name || !*name;
    bool redirect = false; /* held by a swap: goes to the new default */
    double deadline = am_time_now() + r->p.load_wait_ms / 1000.0;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        reg_entry *e = want_default || redirect ? r->cur : find_or_scan(r, name);
        if (!e) {
            pthread_mutex_unlock(&r->mu);
            am_err_setc(err, AM_E_NOT_FOUND, "model '%s' is not served here (GET /v1/models lists the models)", name);
            return NULL;
        }
        if (e == r->hold) {
            if (am_time_now() >= deadline) {
                pthread_mutex_unlock(&r->mu);
                if (retry_s) *retry_s = 2;
                am_err_setc(err, AM_E_BUSY, "a model swap is running; retry shortly");
                return NULL;
            }
            redirect = true;
            reg_wait(r, deadline, 1.0);
            continue;
        }
        int wait_ms = (int)AM_MAX((deadline - am_time_now()) * 1000, 0);
        if (reg_wait_loaded(r, e, wait_ms, err) < 0) {
            pthread_mutex_unlock(&r->mu);
            if (retry_s) *retry_s = err->code == AM_E_BUSY ? 5 : 0;
            return NULL;
        }
        if (e == r->hold) continue; /* a swap began while we waited */
        e->leases++;
        e->lru = ++r->lru_clock;
        e->last_used = wall_now();
        am_served *m = e->m;
        pthread_mutex_unlock(&r->mu);
        return m;
    }
}

void am_reg_release(am_registry *r, am_served *m) {
    if (!m) return;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (r->e[i]->m == m) {
            r->e[i]->leases--;
            break;
        }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

bool am_reg_is_default(am_registry *r, const char *name) {
    if (!name || !*name) return true;
    pthread_mutex_lock(&r->mu);
    bool yes = !strcmp(r->cur->name, name);
    pthread_mutex_unlock(&r->mu);
    return yes;
}

int am_reg_load(am_registry *r, const char *name, am_err *err) {
    pthread_mutex_lock(&r->mu);
    reg_entry *e = name ? find_or_scan(r, name) : NULL;
    int rc = e ? reg_wait_loaded(r, e, -1, err)
               : am_err_setc(err, AM_E_NOT_FOUND, "model '%s' is not served here", name ? name : "");
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int am_reg_unload(am_registry *r, const char *name, am_err *err) {
    pthread_mutex_lock(&r->mu);
    reg_entry *e = name ? reg_find(r, name) : NULL;
    if (!e) {
        pthread_mutex_unlock(&r->mu);
        return am_err_setc(err, AM_E_NOT_FOUND, "model '%s' is not served here", name ? name : "");
    }
    while (e->state == REG_LOADING || e->state == REG_UNLOADING) pthread_cond_wait(&r->cv, &r->mu);
    if (e->state != REG_LOADED) {
        pthread_mutex_unlock(&r->mu);
        return 0;
    }
    if (e->leases || e == r->hold || (r->swapping && e == r->cur)) {
        pthread_mutex_unlock(&r->mu);
        return am_err_setc(err, AM_E_BUSY, "model %s is in use; retry when its requests are done", name);
    }
    e->state = REG_UNLOADING;
    am_served *m = e->m;
    pthread_mutex_unlock(&r->mu);
    reg_unload_served(r, m, 0, NULL);
    pthread_mutex_lock(&r->mu);
    e->m = NULL;
    e->state = REG_UNLOADED;
    r->st_unloads++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

void am_reg_each(am_registry *r, void (*fn)(am_served *m, void *ctx), void *ctx) {
    pthread_mutex_lock(&r->mu);
    int n = 0;
    am_served **ms = am_xcalloc((size_t)r->n + 1, sizeof *ms);
    for (int i = 0; i < r->n; i++)
        if (r->e[i]->state == REG_LOADED) {
            r->e[i]->leases++;
            ms[n++] = r->e[i]->m;
        }
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < n; i++) {
        fn(ms[i], ctx);
        am_reg_release(r, ms[i]);
    }
    free(ms);
}

int am_reg_file_model_id(am_registry *r, const char *name, char *out, size_t cap) {
    pthread_mutex_lock(&r->mu);
    reg_entry *e = name ? reg_find(r, name) : NULL;
    if (e) name_of_path(e->path, out, cap);
    pthread_mutex_unlock(&r->mu);
    return e ? 0 : -1;
}

bool am_reg_check(am_registry *r, char *why, size_t cap) {
    pthread_mutex_lock(&r->mu);
    bool ok = reg_check(r, why, cap);
    pthread_mutex_unlock(&r->mu);
    return ok;
}
