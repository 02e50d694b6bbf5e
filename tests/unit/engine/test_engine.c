/*
 * test_engine.c — the engine's state rules: rejected batches change nothing,
 * the KV cap is enforced all-or-nothing, truncation gives prefix reuse with
 * the same logits, sliding-window layers stay bounded and refuse truncation
 * past what they kept, removal returns every block.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/forward.h"
#include "test_util.h"

static am_model *load(const char *rel) {
    char *path = am_test_fixture(rel);
    am_err err = {0};
    am_model *m = am_model_load(path, &err);
    CHECKF(m, "%s: %s", path, err.msg);
    free(path);
    return m;
}

static am_engine *engine(const am_model *m, int64_t kv_tokens, int max_batch) {
    am_engine_params p = am_engine_default_params();
    p.n_threads = 2;
    p.kv_tokens = kv_tokens;
    p.max_batch = max_batch;
    am_err err = {0};
    am_engine *e = am_engine_create(m, &p, &err);
    CHECKF(e, "%s", err.msg);
    return e;
}

static double rel(const float *a, const float *b, int n) {
    double d = 0, s = 0;
    for (int i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return sqrt(d / s);
}

/* Runs ids[i0..i1) at positions i0.. on seq, logits of every token into out. */
static int run(am_engine *e, int seq, const int *ids, int i0, int i1, float *out, am_err *err) {
    am_batch b;
    am_batch_init(&b, i1 - i0);
    for (int i = i0; i < i1; i++) am_batch_add(&b, ids[i], i, seq, true);
    int r = am_engine_forward(e, &b, out, err);
    am_batch_free(&b);
    return r;
}

static void test_rejected_batches(void) {
    am_model *m = load("models/qwen3-tiny/qwen3-tiny-q8_0.gguf");
    if (!m) return;
    am_engine *e = engine(m, 256, 16);
    am_kv *kv = am_engine_kv(e);
    int nv = m->hp.n_vocab, s = am_engine_seq_create(e);
    float *lg = malloc((size_t)32 * nv * sizeof(float));
    int ids[32];
    for (int i = 0; i < 32; i++) ids[i] = (i * 37) % nv;
    am_err err = {0};
    CHECK(run(e, s, ids, 0, 8, lg, &err) == 8);
    int64_t used = am_kv_n_blocks_used(kv);

    am_batch b;
    am_batch_init(&b, 4);
    CHECK(am_engine_forward(e, &b, lg, &err) == 0); /* empty */
    am_batch_add(&b, nv, 8, s, true);               /* outside the vocabulary */
    CHECK(am_engine_forward(e, &b, lg, &err) < 0);
    am_batch_clear(&b);
    am_batch_add(&b, 1, 9, s, true); /* skips position 8 */
    CHECK(am_engine_forward(e, &b, lg, &err) < 0 && strstr(err.msg, "position 8"));
    am_batch_clear(&b);
    am_batch_add(&b, 1, 8, s, true);
    am_batch_add(&b, 1, 8, s, true); /* repeats a position */
    CHECK(am_engine_forward(e, &b, lg, &err) < 0);
    am_batch_clear(&b);
    am_batch_add(&b, 1, 8, s + 7, true); /* no such sequence */
    CHECK(am_engine_forward(e, &b, lg, &err) < 0);
    am_batch_clear(&b);
    {
        /* Bug: a stale handle (its sequence removed, the slot reused) is fed
         * as the new sequence — the batch must be refused as AM_E_INVALID. */
        int gone = am_engine_seq_create(e);
        am_engine_seq_remove(e, gone);
        int reuse = am_engine_seq_create(e);
        am_batch_add(&b, 1, 0, gone, true);
        err.code = AM_OK;
        CHECK(am_engine_forward(e, &b, lg, &err) < 0 && err.code == AM_E_INVALID && strstr(err.msg, "stale"));
        CHECK(am_engine_seq_len(e, reuse) == 0 && am_kv_n_blocks_used(kv) == used);
        am_engine_seq_remove(e, reuse);
        am_batch_clear(&b);
    }
    am_batch_add(&b, 1, 8, s, true); /* logits wanted, nowhere to put them */
    CHECK(am_engine_forward(e, &b, NULL, &err) < 0);
    CHECK(run(e, s, ids, 8, 25, lg, &err) < 0 && strstr(err.msg, "max_batch")); /* 17 > 16 */
    CHECK(am_engine_seq_len(e, s) == 8 && am_kv_n_blocks_used(kv) == used);

    /* the sequence is intact: continuing gives the same logits as before */
    float *ref = malloc((size_t)16 * nv * sizeof(float));
    int s2 = am_engine_seq_create(e);
    CHECK(run(e, s2, ids, 0, 16, ref, &err) == 16);
    CHECK(run(e, s, ids, 8, 16, lg, &err) == 8);
    CHECK(rel(lg, ref + (size_t)8 * nv, 8 * nv) < 1e-3);
    am_batch_free(&b);
    free(ref);
    free(lg);
    am_engine_free(e);
    am_model_free(m);
}

static void test_kv_cap(void) {
    am_model *m = load("models/llama3-tiny/llama3-tiny-q4_0.gguf");
    if (!m) return;
    am_engine *e = engine(m, 64, 64); /* 2 blocks per layer + slack */
    am_kv *kv = am_engine_kv(e);
    int nv = m->hp.n_vocab;
    float *lg = malloc((size_t)64 * nv * sizeof(float));
    int ids[64];
    for (int i = 0; i < 64; i++) ids[i] = (i * 13) % nv;
    am_err err = {0};
    int seqs[32], n_ok = 0;
    /* sequences of 64 tokens until the pool refuses one, all or nothing */
    for (int k = 0; k < 32; k++) {
        seqs[k] = am_engine_seq_create(e);
        int64_t before = am_kv_n_blocks_used(kv);
        if (run(e, seqs[k], ids, 0, 64, lg, &err) < 0) {
            CHECK(strstr(err.msg, "KV cache full") != NULL);
            CHECK(am_kv_n_blocks_used(kv) == before && am_engine_seq_len(e, seqs[k]) == 0);
            break;
        }
        n_ok++;
    }
    CHECK(n_ok >= 1 && n_ok < 32);
    for (int k = 0; k <= n_ok && k < 32; k++) am_engine_seq_remove(e, seqs[k]);
    CHECK(am_kv_n_blocks_used(kv) == 0);
    int s = am_engine_seq_create(e);
    CHECK(run(e, s, ids, 0, 64, lg, &err) == 64); /* room again */
    free(lg);
    am_engine_free(e);
    am_model_free(m);
}

/* Cutting a sequence back and recomputing the tail reproduces the logits. */
static void test_truncate_reuse(void) {
    static const char *models[] = {"models/llama3-tiny", "models/gemma3-tiny"};
    for (int mi = 0; mi < 2; mi++) {
        am_model *m = load(models[mi]);
        if (!m) continue;
        am_engine *e = engine(m, 512, 64);
        int nv = m->hp.n_vocab, s = am_engine_seq_create(e);
        int ids[60];
        for (int i = 0; i < 60; i++) ids[i] = (i * 29 + 3) % nv;
        float *a = malloc((size_t)60 * nv * sizeof(float)), *b = malloc((size_t)60 * nv * sizeof(float));
        am_err err = {0};
        CHECK(run(e, s, ids, 0, 60, a, &err) == 60);
        bool swa = m->hp.sliding_window > 0;
        if (swa) /* gemma3's window (8) let its sliding layers drop block 0 (slots 0..31) */
            CHECK(am_engine_seq_truncate(e, s, 20, &err) < 0 && am_engine_seq_len(e, s) == 60);
        int keep = swa ? 40 : 20; /* 40: its next token needs slots 33.., all kept */
        CHECK(am_engine_seq_truncate(e, s, keep, &err) == 0 && am_engine_seq_len(e, s) == keep);
        CHECK(run(e, s, ids, keep, 60, b, &err) == 60 - keep);
        double r = rel(b, a + (size_t)keep * nv, (60 - keep) * nv);
        fprintf(stderr, "  %s: truncate to %d and recompute: rel %.2e\n", models[mi], keep, r);
        CHECK(r < 1e-3);
        /* the sliding layers hold a bounded number of blocks however long it runs */
        if (swa) {
            am_kv *kv = am_engine_kv(e);
            int64_t used = am_kv_n_blocks_used(kv);
            int ids2[200];
            for (int i = 0; i < 200; i++) ids2[i] = (i * 7) % nv;
            float *lg = malloc((size_t)nv * sizeof(float));
            am_batch bb;
            am_batch_init(&bb, 1);
            for (int i = 0; i < 200; i++) {
                am_batch_clear(&bb);
                am_batch_add(&bb, ids2[i], 60 + i, s, true);
                CHECK(am_engine_forward(e, &bb, lg, &err) == 1);
            }
            /* the full layer holds all 260 slots (9 blocks); each sliding layer at
             * most the 2 blocks its 8-slot window can straddle */
            for (int l = 0; l < m->hp.n_layer; l++) {
                int live = 0;
                for (int64_t slot = 0; slot < 260; slot += 32) live += am_kv_seq_block(kv, s, l, slot) >= 0;
                CHECKF(live == (m->hp.layer_swa[l] ? 2 : 9), "layer %d holds %d blocks", l, live);
            }
            CHECK(am_kv_n_blocks_used(kv) == 9 + 5 * 2 && used < am_kv_n_blocks_used(kv));
            am_batch_free(&bb);
            free(lg);
        }
        am_engine_seq_remove(e, s);
        CHECK(am_kv_n_blocks_used(am_engine_kv(e)) == 0);
        free(a);
        free(b);
        am_engine_free(e);
        am_model_free(m);
    }
}

int main(void) {
    AM_TEST_RUN(test_rejected_batches);
    AM_TEST_RUN(test_kv_cap);
    AM_TEST_RUN(test_truncate_reuse);
    AM_TEST_EXIT();
}
