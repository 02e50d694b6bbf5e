/*
 * test_kv_import.c — restoring a sequence into another engine's pool with
 * am_kv_seq_import (presence map + block bytes, as a cache file would carry
 * them) continues exactly like the original: same logits, bit for bit, on
 * the sliding-window gemma3-tiny fixture, with f16 and q8_0 KV.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/forward.h"
#include "test_util.h"

static am_engine *make_engine(const am_model *m, am_type t) {
    am_engine_params p = am_engine_default_params();
    p.n_threads = 2;
    p.kv_tokens = 1024;
    p.kv_type = t;
    am_err err = {0};
    am_engine *e = am_engine_create(m, &p, &err);
    CHECKF(e, "engine: %s", err.msg);
    return e;
}

static void feed(am_engine *e, int seq, const int *ids, int from, int to, int chunk, float *out) {
    int nv = am_engine_model(e)->hp.n_vocab;
    am_batch b;
    am_batch_init(&b, chunk);
    am_err err = {0};
    for (int i = from; i < to; i += chunk) {
        am_batch_clear(&b);
        for (int j = i; j < to && j < i + chunk; j++) am_batch_add(&b, ids[j], 5 + j, seq, true);
        int r = am_engine_forward(e, &b, out + (size_t)(i - from) * nv, &err);
        CHECKF(r == b.n, "forward: %s", err.msg);
    }
    am_batch_free(&b);
}

static void restore(const am_model *m, am_type t) {
    const int n0 = 45, n = 60, nv = m->hp.n_vocab, nl = m->hp.n_layer;
    int ids[60];
    for (int i = 0; i < n; i++) ids[i] = (i * 37 + 11) % nv;
    float *scratch = malloc((size_t)n0 * nv * sizeof(float));
    float *la = malloc((size_t)(n - n0) * nv * sizeof(float)), *lb = malloc((size_t)(n - n0) * nv * sizeof(float));
    am_engine *a = make_engine(m, t), *b = make_engine(m, t);
    int sa = am_engine_seq_create(a);
    feed(a, sa, ids, 0, n0, 16, scratch);

    am_kv *ka = am_engine_kv(a), *kb = am_engine_kv(b);
    int bt = am_kv_get_params(ka)->block_tokens, nb = (n0 + bt - 1) / bt, n_present = 0;
    uint8_t *present = calloc((size_t)nl * nb, 1);
    for (int l = 0; l < nl; l++)
        for (int k = 0; k < nb; k++) n_present += present[l * nb + k] = am_kv_seq_block(ka, sa, l, (int64_t)k * bt) >= 0;
    CHECK(n_present < nl * nb); /* the sliding layers dropped blocks */
    int sb = am_engine_seq_create(b);
    am_err err = {0};
    CHECKF(am_kv_seq_import(kb, sb, am_kv_seq_pos0(ka, sa), n0, present, &err) == 0, "import: %s", err.msg);
    CHECK(am_kv_n_blocks_used(kb) == n_present);
    for (int l = 0; l < nl; l++)
        for (int k = 0; k < nb; k++) {
            int32_t ia = am_kv_seq_block(ka, sa, l, (int64_t)k * bt), ib = am_kv_seq_block(kb, sb, l, (int64_t)k * bt);
            if (ia < 0) continue;
            CHECK(am_kv_block_bytes_of(ka, ia) == am_kv_block_bytes_of(kb, ib));
            am_kv_block_write(kb, ib, am_kv_block_data_const(ka, ia));
        }
    CHECKF(am_kvc_check(kb, &err) == 0, "%s", err.msg);
    feed(a, sa, ids, n0, n, 1, la);
    feed(b, sb, ids, n0, n, 1, lb);
    CHECKF(!memcmp(la, lb, (size_t)(n - n0) * nv * sizeof(float)), "%s KV: restored logits differ", am_type_name(t));
    CHECK(am_kv_n_blocks_used(ka) == am_kv_n_blocks_used(kb));
    am_engine_free(a);
    am_engine_free(b);
    free(present);
    free(scratch);
    free(la);
    free(lb);
}

static void test_restore(void) {
    char *path = am_test_fixture("models/gemma3-tiny/gemma3-tiny-f16.gguf");
    am_err err = {0};
    am_model *m = am_model_load(path, &err);
    CHECKF(m, "load %s: %s", path, err.msg);
    free(path);
    if (!m) return;
    restore(m, AM_TYPE_F16);
    restore(m, AM_TYPE_Q8_0);
    am_model_free(m);
}

int main(void) {
    AM_TEST_RUN(test_restore);
    AM_TEST_EXIT();
}
