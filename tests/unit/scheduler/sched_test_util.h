/*
 * sched_test_util.h — shared by the scheduler's test binaries (each includes
 * it once): the independent reference (a plain engine loop, one sequence,
 * greedy), prompts, and helpers to submit and collect requests.
 */
#ifndef AM_SCHED_TEST_UTIL_H
#define AM_SCHED_TEST_UTIL_H

#define _GNU_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "engine/forward.h"
#include "scheduler/scheduler.h"
#include "test_util.h"

static am_bundle *g_b;
static char g_dir[256];
static am_type g_kv = AM_TYPE_F16;

/* Reference: one sequence alone, prefill then greedy decode. */
static inline int ref_generate(const int32_t *prompt, int n, int n_gen, int32_t *out) {
    am_engine_params ep = am_engine_default_params();
    ep.n_threads = 1;
    ep.kv_tokens = 4096;
    ep.kv_type = g_kv;
    ep.max_batch = n > 512 ? n : 512; /* the whole prompt in one pass */
    am_err err = {0};
    am_engine *e = am_engine_create(g_b->model, &ep, &err);
    if (!e) return -1;
    int nv = g_b->model->hp.n_vocab, seq = am_engine_seq_create(e);
    float *lg = malloc((size_t)nv * sizeof(float));
    am_batch b;
    am_batch_init(&b, n);
    for (int i = 0; i < n; i++) am_batch_add(&b, prompt[i], i, seq, i == n - 1);
    if (am_engine_forward(e, &b, lg, &err) < 0) {
        fprintf(stderr, "reference: %s\n", err.msg);
        am_batch_free(&b);
        free(lg);
        am_engine_free(e);
        return -1;
    }
    int k = 0;
    for (; k < n_gen; k++) {
        int best = 0;
        for (int i = 1; i < nv; i++) best = lg[i] > lg[best] ? i : best;
        if (am_bundle_is_eog(g_b, best)) break;
        out[k] = best;
        am_batch_clear(&b);
        am_batch_add(&b, best, n + k, seq, true);
        am_engine_forward(e, &b, lg, &err);
    }
    am_batch_free(&b);
    free(lg);
    am_engine_free(e);
    return k;
}

static inline void make_prompt(int32_t *p, int n, unsigned seed) {
    am_test_rng_seed(seed);
    for (int i = 0; i < n; i++) p[i] = 1 + (int32_t)(am_test_rand_u32() % 500);
}

typedef struct {
    int32_t toks[256];
    int n;
    am_gen_event done;
} result;

static inline void collect(am_req *q, result *r) {
    am_gen_event ev;
    r->n = 0;
    while (am_req_next(q, &ev, 30000) == 1) {
        if (ev.kind == AM_EV_TOKEN && r->n < 256) r->toks[r->n++] = ev.token;
        if (ev.kind == AM_EV_DONE) {
            r->done = ev;
            break;
        }
    }
}

static inline am_req *submit(am_sched *s, const char *agent, const int32_t *p, int n, int max_tokens) {
    am_gen_request r = {.prompt = p, .n_prompt = n, .max_tokens = max_tokens};
    r.sp = am_sampler_default_params();
    snprintf(r.agent, sizeof r.agent, "%s", agent);
    am_err err = {0};
    am_req *q = am_sched_submit(s, &r, &err);
    CHECKF(q, "%s", err.msg);
    return q;
}

static inline am_sched *make_sched(int parallel, int64_t budget, const char *dir) {
    am_sched_params p = am_sched_default_params();
    p.parallel = parallel;
    p.n_threads = 2;
    p.kv_budget = budget;
    p.kv_type = g_kv;
    p.cache_dir = dir;
    p.step_tokens = 64; /* several chunks per prompt: prefill interleaves with decodes */
    am_err err = {0};
    am_sched *s = am_sched_create(g_b, &p, &err);
    CHECKF(s, "%s", err.msg);
    return s;
}

/* The pool's and the scheduler's invariants (am_kvc_check and the rest). */
#define CHECK_SCHED(s)                                                                            \
    do {                                                                                          \
        am_err e_ = {0};                                                                          \
        CHECKF(am_sched_check((s), &e_) == 0, "invariants: %s", e_.msg);                          \
    } while (0)

static inline bool same(const result *r, const int32_t *ref, int n_ref) {
    if (r->n != n_ref) return false;
    return !memcmp(r->toks, ref, (size_t)n_ref * sizeof(int32_t));
}

static inline int count_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name), sl = strlen(suffix);
        n += l > sl && !strcmp(de->d_name + l - sl, suffix);
    }
    if (d) closedir(d);
    return n;
}

static inline int load(const char *rel) {
    char *path = am_test_fixture(rel);
    am_err err = {0};
    am_bundle_unref(g_b);
    g_b = am_bundle_load(path, &err);
    free(path);
    if (!g_b) fprintf(stderr, "bundle: %s\n", err.msg);
    return g_b ? 0 : -1;
}

#endif
