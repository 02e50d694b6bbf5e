/* test_registry.c — the model registry against real fixture models: the
 * allowlist built from a directory (symlinks out, bad names, HF folders),
 * leases, loads on demand under --models-max, failed loads, and swaps while
 * threads keep generating on the default model. am_reg_check after every
 * operation. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry.h"
#include "test_util.h"

static char dir[256], models[300];

#include <stdarg.h>
__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    CHECKF(system(cmd) == 0, "%s", cmd);
}

static void invariants(am_registry *r) {
    char why[256] = "";
    CHECKF(am_reg_check(r, why, sizeof why), "%s", why);
}

static am_registry *make(int models_max, const char *cache) {
    am_registry_params p = {0};
    p.models_dir = models;
    p.models_max = models_max;
    p.load_wait_ms = 20000;
    p.sp = am_sched_default_params();
    p.sp.n_threads = 1;
    p.sp.kv_budget = 32 << 20;
    p.sp.n_ctx = 512;
    p.sp.cache_dir = cache;
    am_err err = {0};
    am_registry *r = am_reg_create(&p, &err);
    CHECKF(r, "%s", err.msg);
    if (r) CHECKF(am_reg_start(r, &err) == 0, "%s", err.msg);
    return r;
}

static int state_of(am_registry *r, const char *name, char *out, size_t cap) {
    json_t *a = am_reg_models_json(r, true);
    size_t i;
    json_t *v;
    int found = -1;
    json_array_foreach(a, i, v) {
        if (!strcmp(json_string_value(json_object_get(v, "id")), name)) {
            snprintf(out, cap, "%s", json_string_value(json_object_get(v, "state")));
            found = 0;
        }
    }
    json_decref(a);
    return found;
}

/* Catches: symlinks out of the directory listed, files without .gguf
 * listed, HF folders missed, names that are paths accepted. */
static void test_allowlist(void) {
    am_registry *r = make(1, NULL);
    if (!r) return;
    char st[32];
    CHECK(state_of(r, "alpha", st, sizeof st) == 0 && !strcmp(st, "loaded")); /* first in sort order */
    CHECK(state_of(r, "beta", st, sizeof st) == 0 && !strcmp(st, "unloaded"));
    CHECK(state_of(r, "hf", st, sizeof st) == 0);
    CHECK(state_of(r, "out", st, sizeof st) < 0);
    CHECK(state_of(r, "notes", st, sizeof st) < 0);
    CHECK(state_of(r, "bad name", st, sizeof st) < 0);
    am_err err = {0};
    const char *refused[] = {"out", "../outside/x", "/etc/passwd", "notes.txt", "", "alpha.gguf", "bad name"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        memset(&err, 0, sizeof err);
        am_served *m = am_reg_acquire(r, refused[i], NULL, &err);
        CHECKF(!m || !*refused[i], "%s acquired", refused[i]);
        if (*refused[i]) CHECKF(err.code == AM_E_NOT_FOUND, "%s: %s", refused[i], am_status_name(err.code));
        if (m) am_reg_release(r, m);
    }
    /* a file dropped in later becomes loadable */
    sh("cp %s/alpha.gguf %s/gamma.gguf", models, models);
    am_served *m = am_reg_acquire(r, "gamma", NULL, &err);
    CHECKF(m && !strcmp(m->name, "gamma"), "%s", err.msg);
    am_reg_release(r, m);
    sh("rm %s/gamma.gguf", models);
    invariants(r);
    am_reg_free(r, 0);
}

/* Catches: --models-max exceeded, a leased model unloaded, a failed load
 * that leaves the entry loading forever or the default changed. */
static void test_leases_and_limits(void) {
    am_registry *r = make(1, NULL);
    if (!r) return;
    am_err err = {0};
    am_served *a = am_reg_acquire(r, NULL, NULL, &err);
    CHECK(a && !strcmp(a->name, "alpha"));
    /* alpha is leased: loading beta cannot unload it; with a short wait it fails busy */
    am_served *b = NULL;
    am_reg_stats rs;
    am_reg_release(r, a);
    b = am_reg_acquire(r, "beta", NULL, &err);
    CHECKF(b != NULL, "%s", err.msg);
    char st[32];
    state_of(r, "alpha", st, sizeof st);
    CHECKF(!strcmp(st, "unloaded"), "alpha %s with --models-max 1", st);
    invariants(r);
    am_reg_release(r, b);
    memset(&err, 0, sizeof err);
    CHECK(am_reg_acquire(r, "corrupt", NULL, &err) == NULL);
    CHECKF(err.code == AM_E_BAD_FILE, "corrupt: %s (%s)", am_status_name(err.code), err.msg);
    am_reg_stats_get(r, &rs);
    CHECK(rs.load_failures == 1 && rs.models_loaded <= 1);
    invariants(r);
    /* a failed swap: the default stays, degraded until a good swap */
    memset(&err, 0, sizeof err);
    CHECK(am_reg_swap(r, "corrupt", 1, NULL, &err) < 0);
    am_reg_stats_get(r, &rs);
    CHECK(rs.degraded && strstr(rs.reason, "corrupt"));
    CHECK(am_reg_is_default(r, "alpha"));
    json_t *rep = NULL;
    CHECKF(am_reg_swap(r, "beta", 1, &rep, &err) == 0, "%s", err.msg);
    json_decref(rep);
    am_reg_stats_get(r, &rs);
    CHECK(!rs.degraded && am_reg_is_default(r, "beta"));
    invariants(r);
    am_reg_free(r, 0);
}

typedef struct worker {
    am_registry *r;
    atomic_bool *stop;
    int done, refused;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    while (!atomic_load(w->stop)) {
        am_err err = {0};
        am_served *m = am_reg_acquire(w->r, NULL, NULL, &err);
        if (!m) {
            w->refused++;
            continue;
        }
        int32_t toks[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        am_gen_request g = {0};
        g.prompt = toks;
        g.n_prompt = 8;
        g.max_tokens = 4;
        g.ignore_eos = true;
        g.sp = am_sampler_default_params();
        am_req *q = am_sched_submit(m->s, &g, &err);
        if (q) {
            am_gen_event ev;
            while (am_req_next(q, &ev, 5000) && ev.kind != AM_EV_DONE) {}
            am_req_release(q);
            w->done++;
        } else {
            w->refused++;
        }
        am_reg_release(w->r, m);
    }
    return NULL;
}

/* Catches: a lease taken on a model being unloaded (use after free under
 * ASan), requests refused during a swap instead of held, leases leaked. */
static void test_swaps_under_load(void) {
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    mkdir(cache, 0700);
    am_registry *r = make(1, cache);
    if (!r) return;
    atomic_bool stop = false;
    worker w[3] = {{0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (worker){.r = r, .stop = &stop};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (int k = 0; k < 8; k++) {
        am_err err = {0};
        CHECKF(am_reg_swap(r, k % 2 ? "alpha" : "beta", 0.5, NULL, &err) == 0, "swap %d: %s", k, err.msg);
        invariants(r);
    }
    atomic_store(&stop, true);
    int done = 0, refused = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        done += w[i].done;
        refused += w[i].refused;
    }
    CHECKF(refused == 0 && done > 0, "%d done, %d refused", done, refused);
    am_reg_stats rs;
    am_reg_stats_get(r, &rs);
    CHECK(rs.swaps == 8 && rs.models_loaded == 1);
    invariants(r);
    am_reg_free(r, 0);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/am-reg-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(models, sizeof models, "%s/models", dir);
    mkdir(models, 0700);
    char *llama = am_test_fixture("models/llama3-tiny/llama3-tiny-q8_0.gguf");
    char *qwen = am_test_fixture("models/qwen2-tiny/qwen2-tiny-q8_0.gguf");
    char *gemma = am_test_fixture("models/gemma3-tiny");
    sh("cp %s %s/alpha.gguf", llama, models);
    sh("cp %s %s/beta.gguf", qwen, models);
    sh("mkdir %s/hf && cp %s/config.json %s/model.safetensors %s/tokenizer.model %s/tokenizer_config.json %s/hf/",
       models, gemma, gemma, gemma, gemma, models);
    sh("head -c 4096 %s > %s/corrupt.gguf", llama, models);
    sh("mkdir -p %s/outside && cp %s %s/outside/x.gguf && ln -s %s/outside/x.gguf %s/out.gguf", dir, llama, dir, dir,
       models);
    sh("touch %s/notes.txt && cp %s/alpha.gguf '%s/bad name.gguf'", models, models, models);
    free(llama);
    free(qwen);
    free(gemma);
    AM_TEST_RUN(test_allowlist);
    AM_TEST_RUN(test_leases_and_limits);
    AM_TEST_RUN(test_swaps_under_load);
    sh("rm -rf %s", dir);
    return am_test_failures ? 1 : 0;
}
