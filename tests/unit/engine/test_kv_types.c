/*
 * test_kv_types.c — KV blocks of different element types in one sequence:
 * blocks converted in place (am_kv_block_convert) to other K / V types must
 * give the logits of an all-f16 cache (exactly where the conversion is
 * lossless, within the quantization error otherwise), and the quantized KV
 * types' logit error against f16 KV on every fixture model stays within the
 * bounds stated (and recorded in docs/INTERNALS.md "KV quantization").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/forward.h"
#define AM_KV_ENGINE_PRIVATE /* writes V rows the way the engine does */
#include "kvcache/kv_engine.h"
#include "test_util.h"

static am_model *load_f16(const char *model) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s/%s-f16.gguf", model, model);
    char *path = am_test_fixture(rel);
    am_err err = {0};
    am_model *m = am_model_load(path, &err);
    CHECKF(m, "load %s: %s", path, err.msg);
    free(path);
    return m;
}

static am_engine *make_engine(const am_model *m, am_type tk, am_type tv) {
    am_engine_params p = am_engine_default_params();
    p.n_threads = 2;
    p.kv_tokens = 1024;
    p.kv_type_k = tk;
    p.kv_type_v = tv;
    am_err err = {0};
    am_engine *e = am_engine_create(m, &p, &err);
    CHECKF(e, "engine: %s", err.msg);
    return e;
}

static void random_ids(int *ids, int n, int n_vocab, unsigned seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        ids[i] = (int)((seed >> 8) % (unsigned)n_vocab);
    }
}

/* Feeds ids[from..to) to seq in chunks of `chunk`, logits of every token
 * into out[(i - from) * n_vocab]. */
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

typedef struct {
    double max_abs, mean_abs;
    int top1_same, n;
} err_stats;

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static err_stats compare(const float *a, const float *ref, int n_pos, int nv) {
    err_stats s = {0, 0, 0, n_pos};
    for (int p = 0; p < n_pos; p++) {
        for (int i = 0; i < nv; i++) {
            double d = fabs((double)a[(size_t)p * nv + i] - ref[(size_t)p * nv + i]);
            if (d > s.max_abs || isnan(d)) s.max_abs = isnan(d) ? INFINITY : d;
            s.mean_abs += d;
        }
        s.top1_same += argmax(a + (size_t)p * nv, nv) == argmax(ref + (size_t)p * nv, nv);
    }
    s.mean_abs /= (double)n_pos * nv;
    return s;
}

/* The types blocks are converted to, cycled over (layer, block). */
typedef struct {
    am_type k, v;
} type_pair;

/* Prefills n0 tokens into a f16 pool, converts every block to a type pair of
 * `pairs` (cycled over layer and full block), then runs the remaining tokens
 * (decode steps and a chunk, which get f16 blocks again) and compares their
 * logits with an all-f16 run. */
static err_stats mixed_run(const char *model, const type_pair *pairs, int n_pairs, bool verbose) {
    am_model *m = load_f16(model);
    if (!m) return (err_stats){INFINITY, INFINITY, 0, 1};
    const int n = 150, n0 = 100, nv = m->hp.n_vocab;
    int ids[150];
    random_ids(ids, n, nv, 7);
    float *ref = malloc((size_t)(n - n0) * nv * sizeof(float)), *out = malloc((size_t)(n - n0) * nv * sizeof(float));
    float *scratch = malloc((size_t)n0 * nv * sizeof(float));

    am_engine *e = make_engine(m, AM_TYPE_F16, AM_TYPE_F16);
    int s = am_engine_seq_create(e);
    feed(e, s, ids, 0, n0, 37, scratch);
    feed(e, s, ids, n0, n0 + 5, 1, ref);
    feed(e, s, ids, n0 + 5, n, 16, ref + (size_t)5 * nv);
    am_engine_free(e);

    e = make_engine(m, AM_TYPE_F16, AM_TYPE_F16);
    s = am_engine_seq_create(e);
    feed(e, s, ids, 0, n0, 37, scratch);
    am_kv *kv = am_engine_kv(e);
    int bt = am_kv_get_params(kv)->block_tokens, k = 0, n_conv = 0;
    am_err err = {0};
    for (int l = 0; l < m->hp.n_layer; l++)
        for (int64_t slot = 0; slot + bt <= n0; slot += bt) { /* full blocks: new tokens go to f16 ones */
            int32_t id = am_kv_seq_block(kv, s, l, slot);
            if (id < 0) continue; /* dropped by a sliding layer */
            const type_pair *tp = &pairs[k++ % n_pairs];
            CHECKF(am_kv_block_convert(kv, id, tp->k, tp->v, &err) == 0, "convert: %s", err.msg);
            CHECK(am_kv_block_type_k(kv, id) == tp->k && am_kv_block_type_v(kv, id) == tp->v);
            /* read/write go by the block's own size */
            size_t nb = am_kv_block_bytes_of(kv, id);
            unsigned char *buf = malloc(nb);
            am_kv_block_read(kv, id, buf);
            am_kv_block_write(kv, id, buf);
            CHECK(!memcmp(buf, am_kv_block_data_const(kv, id), nb));
            free(buf);
            n_conv++;
        }
    CHECK(n_conv > m->hp.n_layer);
    feed(e, s, ids, n0, n0 + 5, 1, out);
    feed(e, s, ids, n0 + 5, n, 16, out + (size_t)5 * nv);
    am_engine_free(e);

    err_stats st = compare(out, ref, n - n0, nv);
    if (verbose)
        fprintf(stderr, "  %-12s %d block type pairs: max abs %.3e mean abs %.3e top1 %d/%d\n", model, n_pairs,
                st.max_abs, st.mean_abs, st.top1_same, st.n);
    free(ref);
    free(out);
    free(scratch);
    am_model_free(m);
    return st;
}

static const char *MODELS[] = {"llama3-tiny", "qwen2-tiny", "qwen3-tiny", "gemma3-tiny"};

/* F16 -> F32 is exact, and F32 -> F16 of a value that was f16 is exact, so
 * a mix of f16 and f32 blocks (K and V apart) gives the f16 logits up to
 * summation order. */
static void test_mixed_float_blocks(void) {
    static const type_pair pairs[] = {{AM_TYPE_F32, AM_TYPE_F32},
                                      {AM_TYPE_F16, AM_TYPE_F32},
                                      {AM_TYPE_F32, AM_TYPE_F16},
                                      {AM_TYPE_F16, AM_TYPE_F16}};
    for (size_t i = 0; i < AM_ARRAY_LEN(MODELS); i++) {
        err_stats st = mixed_run(MODELS[i], pairs, 4, true);
        CHECKF(st.max_abs < 1e-4 && st.top1_same == st.n, "%s mixed float blocks: max abs %g", MODELS[i],
               st.max_abs);
    }
}

/* Bad conversions fail and leave the block alone. */
static void test_convert_errors(void) {
    am_kv_params p = {.n_layer = 1, .n_head_kv = 1, .head_dim = 40, .block_tokens = 4, .max_blocks = 2,
                      .type = AM_TYPE_F16};
    am_err err = {0};
    am_kv *kv = am_kv_create(&p, &err);
    CHECK(kv);
    int s = am_kv_seq_create(kv);
    CHECK(am_kv_seq_reserve(kv, s, 0, 3, &err) == 0);
    int32_t id = am_kv_seq_block(kv, s, 0, 0);
    CHECK(am_kv_block_convert(kv, id, AM_TYPE_Q4_K, AM_TYPE_F16, &err) < 0 && err.code == AM_E_INVALID);
    CHECK(am_kv_block_convert(kv, 1, AM_TYPE_F32, AM_TYPE_F32, &err) < 0); /* not live */
    CHECK(am_kv_block_type_k(kv, id) == AM_TYPE_F16 && am_kv_block_bytes_of(kv, id) == 2 * 4 * 40 * 2);
    CHECK(am_kv_block_convert(kv, id, AM_TYPE_F32, AM_TYPE_F16, &err) == 0);
    CHECK(am_kv_block_bytes_of(kv, id) == 4 * 40 * 4 + 4 * 40 * 2 && am_kv_block_v_offset(kv, id) == 4 * 40 * 4);
    CHECK((char *)am_kv_v_row(kv, s, 0, 1, 0) == (char *)am_kv_block_data(kv, id) + 4 * 40 * 4 + 40 * 2);
    am_kv_free(kv);
}

/* Quantized KV needs head_dim % 32 == 0: a clear AM_E_INVALID otherwise. */
static void test_quant_head_dim(void) {
    am_err err = {0};
    am_kv_params p = {.n_layer = 1, .n_head_kv = 1, .head_dim = 40, .block_tokens = 4, .max_blocks = 2,
                      .type = AM_TYPE_Q8_0};
    CHECK(!am_kv_create(&p, &err) && err.code == AM_E_INVALID && strstr(err.msg, "multiple of 32"));
    p.type = AM_TYPE_F16;
    p.type_k = AM_TYPE_F16; /* type_k unset with type_v set would mean F32 */
    p.type_v = AM_TYPE_Q4_0;
    err = (am_err){0};
    CHECK(!am_kv_create(&p, &err) && err.code == AM_E_INVALID);
    p.head_dim = 64;
    am_kv *kv = am_kv_create(&p, &err);
    CHECKF(kv, "%s", err.msg);
    if (!kv) return;
    CHECK(am_kv_get_params(kv)->type_k == AM_TYPE_F16 && am_kv_get_params(kv)->type_v == AM_TYPE_Q4_0);
    CHECK(am_kv_block_bytes(kv) == 4 * 64 * 2 + 4 * 2 * 18);
    am_kv_free(kv);
}

/* Quantized KV against f16 KV on every fixture model: same tokens, prefill
 * chunks then decode steps and a chunk; logits of the last 50 positions.
 * The fixtures' logit scales differ by 50x (|logit| up to 4 for llama3-tiny,
 * 200-280 for the others), so the bounds are on the error divided by the
 * largest |logit| of the f16 run, about 2x the worst measured (see
 * INTERNALS.md "KV quantization"). */
typedef struct {
    am_type k, v;
    double max_rel, mean_rel; /* bounds on max / mean abs error over max |logit| */
    int min_top1;             /* of 50 */
} quant_case;

static double max_abs_logit(const float *x, size_t n) {
    double m = 0;
    for (size_t j = 0; j < n; j++) m = fabs(x[j]) > m ? fabs(x[j]) : m;
    return m;
}

static void kv_type_run(am_model *m, am_type tk, am_type tv, float *out) {
    const int n = 150, n0 = 100, nv = m->hp.n_vocab;
    int ids[150];
    random_ids(ids, n, nv, 11);
    float *scratch = malloc((size_t)n0 * nv * sizeof(float));
    am_engine *e = make_engine(m, tk, tv);
    int s = am_engine_seq_create(e);
    feed(e, s, ids, 0, n0, 37, scratch);
    feed(e, s, ids, n0, n0 + 5, 1, out);
    feed(e, s, ids, n0 + 5, n, 16, out + (size_t)5 * nv);
    am_engine_free(e);
    free(scratch);
}

static void test_quant_kv_error(void) {
    static const quant_case cases[] = {
        {AM_TYPE_Q8_0, AM_TYPE_Q8_0, 5e-3, 1e-3, 48},
        {AM_TYPE_Q4_0, AM_TYPE_Q4_0, 8e-2, 1.5e-2, 40},
        {AM_TYPE_Q8_0, AM_TYPE_Q4_0, 8e-2, 1.5e-2, 40},
    };
    for (size_t i = 0; i < AM_ARRAY_LEN(MODELS); i++) {
        am_model *m = load_f16(MODELS[i]);
        if (!m) continue;
        int nv = m->hp.n_vocab;
        float *ref = malloc((size_t)50 * nv * sizeof(float)), *out = malloc((size_t)50 * nv * sizeof(float));
        kv_type_run(m, AM_TYPE_F16, AM_TYPE_F16, ref);
        double lmax = max_abs_logit(ref, (size_t)50 * nv);
        for (size_t c = 0; c < AM_ARRAY_LEN(cases); c++) {
            const quant_case *q = &cases[c];
            kv_type_run(m, q->k, q->v, out);
            err_stats st = compare(out, ref, 50, nv);
            double rmax = st.max_abs / lmax, rmean = st.mean_abs / lmax;
            fprintf(stderr,
                    "  %-12s K %-4s V %-4s vs f16 KV: max abs %.3e mean abs %.3e (|logit| <= %5.1f: %.1e %.1e)"
                    " top1 %d/%d  [bounds %.1e %.1e %d]\n",
                    MODELS[i], am_type_name(q->k), am_type_name(q->v), st.max_abs, st.mean_abs, lmax, rmax, rmean,
                    st.top1_same, st.n, q->max_rel, q->mean_rel, q->min_top1);
            CHECKF(rmax <= q->max_rel && rmean <= q->mean_rel && st.top1_same >= q->min_top1,
                   "%s %s/%s KV error over bounds", MODELS[i], am_type_name(q->k), am_type_name(q->v));
        }
        free(ref);
        free(out);
        am_model_free(m);
    }
}

/* f16 blocks turned into q8_0 / q4_0 in place mixed with f16 ones. */
static void test_mixed_quant_blocks(void) {
    static const type_pair pairs[] = {{AM_TYPE_Q8_0, AM_TYPE_Q8_0},
                                      {AM_TYPE_F16, AM_TYPE_F16},
                                      {AM_TYPE_Q4_0, AM_TYPE_Q8_0},
                                      {AM_TYPE_F32, AM_TYPE_Q4_0}};
    for (size_t i = 0; i < AM_ARRAY_LEN(MODELS); i++) {
        err_stats st = mixed_run(MODELS[i], pairs, 4, true);
        /* about q4_0's bound: |logit| <= 4.4 (llama3-tiny) .. 280 */
        double lim = strstr(MODELS[i], "llama") ? 8e-2 * 4.4 : 8e-2 * 200;
        CHECKF(st.max_abs < lim && st.top1_same >= 40, "%s mixed quant blocks: max abs %g", MODELS[i],
               st.max_abs);
    }
}

int main(void) {
    AM_TEST_RUN(test_convert_errors);
    AM_TEST_RUN(test_quant_head_dim);
    AM_TEST_RUN(test_quant_kv_error);
    AM_TEST_RUN(test_mixed_quant_blocks);
    AM_TEST_RUN(test_mixed_float_blocks);
    AM_TEST_EXIT();
}
