/*
 * test_kv_share_engine.c — a prompt prefix shared between two sequences
 * (am_kv_seq_share_prefix) computes exactly what an unshared one does.
 *
 * Sequence A prefills 96 tokens; B shares A's first 64 and prefills its own
 * tokens 64..95, then decodes. B's logits must equal, bit for bit (f16 KV),
 * those of a sequence in another engine that prefilled B's whole prompt
 * itself, and A's later logits must equal A's alone; the pool holds 64/32
 * blocks per layer fewer than two unshared sequences. Catches: a shared
 * table pointing at the wrong blocks or with the wrong pos0 (B's logits
 * differ), B's writes landing in A's blocks (A's logits differ), and a
 * removal of A freeing blocks B still reads (B's decode after A is gone
 * differs, or the pool check fails).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/forward.h"
#include "test_util.h"

enum { N = 96, SHARED = 64, N_DEC = 4, CHUNK = 32 };

static am_engine *make_engine(const am_model *m) {
    am_engine_params p = am_engine_default_params();
    p.n_threads = 2;
    p.kv_tokens = 1024;
    p.kv_type = AM_TYPE_F16;
    am_err err = {0};
    am_engine *e = am_engine_create(m, &p, &err);
    CHECKF(e, "engine: %s", err.msg);
    return e;
}

/* Feeds ids[from..to) at positions from.. in chunks; logits of every token to out. */
static void feed(am_engine *e, int seq, const int *ids, int from, int to, int chunk, float *out) {
    int nv = am_engine_model(e)->hp.n_vocab;
    am_batch b;
    am_batch_init(&b, chunk);
    am_err err = {0};
    for (int i = from; i < to; i += chunk) {
        am_batch_clear(&b);
        for (int j = i; j < to && j < i + chunk; j++) am_batch_add(&b, ids[j], j, seq, true);
        int r = am_engine_forward(e, &b, out + (size_t)(i - from) * nv, &err);
        CHECKF(r == b.n, "forward: %s", err.msg);
    }
    am_batch_free(&b);
}

static void test_share(void) {
    char *path = am_test_fixture("models/llama3-tiny/llama3-tiny-f16.gguf");
    am_err err = {0};
    am_model *m = am_model_load(path, &err);
    CHECKF(m, "load %s: %s", path, err.msg);
    free(path);
    if (!m) return;
    const int nv = m->hp.n_vocab, nl = m->hp.n_layer, T = N + N_DEC;
    int ida[N + N_DEC], idb[N + N_DEC];
    for (int i = 0; i < T; i++) {
        ida[i] = (i * 37 + 11) % nv;
        idb[i] = i < SHARED ? ida[i] : (i * 53 + 5) % nv;
    }
    size_t row = (size_t)nv * sizeof(float);
    float *la = malloc((size_t)T * row), *lb = malloc((size_t)T * row);
    float *ra = malloc((size_t)T * row), *rb = malloc((size_t)T * row);

    /* reference: each prompt prefilled by its own sequence (same chunking) */
    am_engine *ref = make_engine(m);
    int qa = am_engine_seq_create(ref), qb = am_engine_seq_create(ref);
    feed(ref, qa, ida, 0, N, CHUNK, ra);
    feed(ref, qb, idb, 0, N, CHUNK, rb);
    int64_t unshared = am_kv_n_blocks_used(am_engine_kv(ref));
    feed(ref, qa, ida, N, T, 1, ra + (size_t)N * nv);
    feed(ref, qb, idb, N, T, 1, rb + (size_t)N * nv);

    am_engine *e = make_engine(m);
    am_kv *kv = am_engine_kv(e);
    int bt = am_kv_get_params(kv)->block_tokens;
    int sa = am_engine_seq_create(e), sb = am_engine_seq_create(e);
    feed(e, sa, ida, 0, N, CHUNK, la);
    CHECKF(am_kv_seq_share_prefix(kv, sb, sa, SHARED, &err) == 0, "share: %s", err.msg);
    CHECKF(am_kvc_check(kv, &err) == 0, "%s", err.msg);
    feed(e, sb, idb, SHARED, N, CHUNK, lb + (size_t)SHARED * nv);
    CHECK(am_kv_n_blocks_used(kv) == unshared - (int64_t)(SHARED / bt) * nl);
    CHECKF(am_kvc_check(kv, &err) == 0, "%s", err.msg);
    CHECKF(!memcmp(la, ra, (size_t)N * row), "A's prefill differs");
    CHECKF(!memcmp(lb + (size_t)SHARED * nv, rb + (size_t)SHARED * nv, (size_t)(N - SHARED) * row),
           "B's prefill on the shared prefix differs");
    feed(e, sa, ida, N, T, 1, la + (size_t)N * nv);
    CHECKF(!memcmp(la + (size_t)N * nv, ra + (size_t)N * nv, (size_t)N_DEC * row), "A's decode differs");
    am_engine_seq_remove(e, sa); /* B still holds the shared blocks */
    CHECKF(am_kvc_check(kv, &err) == 0, "%s", err.msg);
    feed(e, sb, idb, N, T, 1, lb + (size_t)N * nv);
    CHECKF(!memcmp(lb + (size_t)N * nv, rb + (size_t)N * nv, (size_t)N_DEC * row), "B's decode differs");

    am_engine_free(e);
    am_engine_free(ref);
    am_model_free(m);
    free(la);
    free(lb);
    free(ra);
    free(rb);
}

int main(void) {
    AM_TEST_RUN(test_share);
    AM_TEST_EXIT();
}
