/*
 * test_sched_kv_default.c — the server's default KV type (q8_0) and its
 * fallback. Quantized KV blocks need head_dim % 32 == 0; a KV type the user
 * did not ask for must not make such a model unservable, and one the user
 * did ask for must not be silently replaced.
 * Bugs it is for: the fallback missing (a head_dim-48 model fails to serve
 * with the default settings), applied although the type was asked for
 * (--kv-type q8_0 quietly serves f16), or applied to every model (the
 * default model gets f16). Which KV type a scheduler really uses is read from
 * its cache directory, named by the K/V fingerprint (bundle + KV types +
 * block size), against schedulers made with the type given explicitly.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "model/synth.h"
#include "scheduler/scheduler.h"
#include "test_util.h"

static char g_root[] = "/tmp/am-kvdef-XXXXXX";

/* The scheduler's model directory (under g_root) for these settings, or "" when it
 * cannot be created (then *code says why). */
static void dir_of(am_bundle *b, am_type kv, bool fallback, char *out, size_t n, am_status *code) {
    am_sched_params sp = am_sched_default_params();
    sp.parallel = 1;
    sp.n_threads = 1;
    sp.n_ctx = 128;
    sp.kv_type = kv;
    sp.kv_type_fallback = fallback;
    sp.cache_dir = g_root;
    am_err err = {0};
    am_sched *s = am_sched_create(b, &sp, &err);
    *code = s ? AM_OK : err.code;
    snprintf(out, n, "%s", s ? am_sched_model_dir(s) : "");
    if (s) am_sched_free(s, 1000);
}

static am_bundle *synth_head48(void) {
    am_synth_shape sh = *am_synth_find_shape("tiny");
    sh.n_embd = 96;
    sh.n_head = 2;
    sh.n_head_kv = 1;
    sh.head_dim = 48;
    sh.n_ff = 128;
    sh.n_layer = 2;
    am_synth_params p = am_synth_default_params();
    p.custom_shape = &sh;
    p.ftype = AM_SYNTH_F16;
    p.n_threads = 1;
    char path[300];
    snprintf(path, sizeof path, "%s/head48.gguf", g_root);
    am_err err = {0};
    if (am_synth_write(&p, path, &err) < 0) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return NULL;
    }
    am_bundle *b = am_bundle_load(path, &err);
    if (!b) fprintf(stderr, "bundle: %s\n", err.msg);
    unlink(path);
    return b;
}

static void test_head48_falls_back_only_when_not_asked(void) {
    am_bundle *b = synth_head48();
    CHECK(b != NULL);
    if (!b) return;
    CHECK(b->model->hp.head_dim == 48);
    char f16[600], dflt[600], asked[600];
    am_status c1, c2, c3;
    dir_of(b, AM_TYPE_F16, false, f16, sizeof f16, &c1);
    dir_of(b, AM_TYPE_Q8_0, true, dflt, sizeof dflt, &c2);
    dir_of(b, AM_TYPE_Q8_0, false, asked, sizeof asked, &c3);
    CHECKF(c1 == AM_OK && c2 == AM_OK, "f16 %d, default q8_0 %d", c1, c2);
    CHECKF(strcmp(f16, dflt) == 0, "the default fell back to %s, f16 is %s", dflt, f16);
    CHECKF(c3 == AM_E_INVALID, "q8_0 asked for on head_dim 48: %d", c3);
    am_bundle_unref(b);
}

static void test_head64_keeps_the_default(void) {
    char *path = am_test_fixture("models/llama3-tiny/llama3-tiny-q8_0.gguf");
    am_err err = {0};
    am_bundle *b = am_bundle_load(path, &err);
    free(path);
    CHECKF(b != NULL, "%s", err.msg);
    if (!b) return;
    char q8[600], dflt[600], f16[600];
    am_status c1, c2, c3;
    dir_of(b, AM_TYPE_Q8_0, false, q8, sizeof q8, &c1);
    dir_of(b, AM_TYPE_Q8_0, true, dflt, sizeof dflt, &c2);
    dir_of(b, AM_TYPE_F16, false, f16, sizeof f16, &c3);
    CHECK(c1 == AM_OK && c2 == AM_OK && c3 == AM_OK);
    CHECKF(strcmp(q8, dflt) == 0, "default %s vs q8_0 %s", dflt, q8);
    CHECK(strcmp(q8, f16) != 0); /* the directory does tell the KV types apart */
    am_bundle_unref(b);
}

int main(void) {
    if (!mkdtemp(g_root)) return 1;
    AM_TEST_RUN(test_head48_falls_back_only_when_not_asked);
    AM_TEST_RUN(test_head64_keeps_the_default);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_root);
    if (system(cmd) != 0) return 1;
    AM_TEST_EXIT();
}
