/* test_safetensors.c — the safetensors reader and HF folder loading:
 * a sharded copy of a fixture (index + two shards) loads like the single
 * file; hostile files (truncated at every header offset and a spread of the
 * data, bad header lengths, bad JSON, offsets past EOF or disagreeing with
 * shape × dtype, unknown or unusable dtypes, wrong shapes, hostile indexes)
 * give an error and, under `make asan`, no report. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "base/file.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model_test_util.h"
#include "test_util.h"

static char *g_dir;

typedef struct st_file {
    uint8_t *p;
    size_t n;
    uint64_t hlen;
    json_t *header;
} st_file;

static st_file load_st(const char *model) {
    st_file f;
    char rel[128];
    snprintf(rel, sizeof rel, "models/%s-tiny/model.safetensors", model);
    char *path = am_test_fixture(rel);
    f.p = am_test_read_file(path, &f.n);
    free(path);
    f.hlen = rd64(f.p, 0);
    f.header = json_loadb((const char *)f.p + 8, f.hlen, 0, NULL);
    if (!f.header) {
        fprintf(stderr, "fixture header does not parse\n");
        exit(1);
    }
    return f;
}

static void free_st(st_file *f) {
    free(f->p);
    json_decref(f->header);
}

/* A folder with the fixture's config.json and tokenizer_config.json. */
static char *make_hf_dir(const char *model, const char *name) {
    char *dir = am_path_join(g_dir, name);
    if (mkdir(dir, 0755) && !am_dir_exists(dir)) {
        perror(dir);
        exit(1);
    }
    const char *files[] = {"config.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s-tiny/%s", model, files[i]);
        char *src = am_test_fixture(rel);
        size_t n;
        void *data = am_test_read_file(src, &n);
        char *dst = am_path_join(dir, files[i]);
        write_file(dst, data, n);
        free(dst);
        free(data);
        free(src);
    }
    return dir;
}

/* Writes header JSON + data bytes as a safetensors file. */
static void write_st(const char *path, json_t *header, const uint8_t *data, size_t data_n) {
    char *h = json_dumps(header, JSON_COMPACT);
    tbuf b = {0};
    size_t hl = strlen(h);
    size_t padded = (hl + 7) / 8 * 8;
    tb_u64(&b, padded);
    tb_put(&b, h, hl);
    while (b.n < 8 + padded) tb_put(&b, " ", 1);
    tb_put(&b, data, data_n);
    write_file(path, b.p, b.n);
    free(b.p);
    free(h);
}

/* ---- sharded checkpoints ---- */

static void test_sharded(void) {
    st_file f = load_st("qwen2");
    char *dir = make_hf_dir("qwen2", "sharded");
    const uint8_t *data = f.p + 8 + f.hlen;
    /* Shard 1: tensors whose names sort before "model.layers.1", shard 2: the rest;
     * each shard repacks its tensors' bytes. */
    json_t *h[2] = {json_object(), json_object()};
    tbuf d[2] = {{0}, {0}};
    json_t *wm = json_object();
    const char *names[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    const char *key;
    json_t *val;
    json_object_foreach(f.header, key, val) {
        if (!strcmp(key, "__metadata__")) continue;
        int s = strcmp(key, "model.layers.1") < 0 ? 0 : 1;
        json_t *offs = json_object_get(val, "data_offsets");
        uint64_t b = (uint64_t)json_integer_value(json_array_get(offs, 0));
        uint64_t e = (uint64_t)json_integer_value(json_array_get(offs, 1));
        json_t *nv = json_deep_copy(val);
        json_object_set_new(nv, "data_offsets", json_pack("[I, I]", (json_int_t)d[s].n, (json_int_t)(d[s].n + e - b)));
        json_object_set_new(h[s], key, nv);
        tb_put(&d[s], data + b, e - b);
        json_object_set_new(wm, key, json_string(names[s]));
    }
    for (int s = 0; s < 2; s++) {
        json_object_set_new(h[s], "__metadata__", json_pack("{s:s}", "format", "pt"));
        char *p = am_path_join(dir, names[s]);
        write_st(p, h[s], d[s].p, d[s].n);
        free(p);
    }
    json_t *index = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)(f.n - 8 - f.hlen),
                              "weight_map", wm);
    char *ipath = am_path_join(dir, "model.safetensors.index.json");
    json_dump_file(index, ipath, JSON_INDENT(1));

    am_err err;
    am_st *st = am_st_open_dir(dir, &err);
    CHECKF(st, "%s", err.msg);
    if (st) {
        CHECK(am_st_n_files(st) == 2);
        CHECK(am_st_n_tensors(st) == (int64_t)json_object_size(f.header) - 1);
        am_st_close(st);
    }
    char *single_dir = am_test_fixture("models/qwen2-tiny");
    am_model *a = am_model_load(dir, &err);
    CHECKF(a, "%s", err.msg);
    am_model *b = am_model_load(single_dir, &err);
    CHECKF(b, "%s", err.msg);
    if (a && b) {
        CHECK(!memcmp(&a->hp, &b->hp, sizeof a->hp));
        CHECK(a->weight_bytes == b->weight_bytes);
        for (int il = 0; il < a->hp.n_layer; il++) {
            CHECK(!memcmp(a->layers[il].wq->data, b->layers[il].wq->data, a->layers[il].wq->nbytes));
            CHECK(!memcmp(a->layers[il].ffn_down->data, b->layers[il].ffn_down->data, a->layers[il].ffn_down->nbytes));
            CHECK(!memcmp(a->layers[il].bk, b->layers[il].bk, 128 * sizeof(float)));
        }
        CHECK(!memcmp(a->tok_embd->data, b->tok_embd->data, a->tok_embd->nbytes));
    }
    am_model_free(a);
    am_model_free(b);

    /* Hostile indexes. */
    const char *bad_names[] = {"../model.safetensors", "/etc/passwd", ".hidden", "", "missing.safetensors"};
    for (size_t i = 0; i < AM_ARRAY_LEN(bad_names); i++) {
        json_t *bad = json_deep_copy(index);
        json_object_set_new(json_object_get(bad, "weight_map"), "model.norm.weight", json_string(bad_names[i]));
        json_dump_file(bad, ipath, 0);
        json_decref(bad);
        st = am_st_open_dir(dir, &err);
        CHECKF(!st, "index naming shard \"%s\" opened", bad_names[i]);
        am_st_close(st);
    }
    json_t *bad = json_deep_copy(index);
    json_object_set_new(json_object_get(bad, "weight_map"), "model.norm.weight", json_string(names[0]));
    json_dump_file(bad, ipath, 0);
    json_decref(bad);
    st = am_st_open_dir(dir, &err);
    CHECKF(!st && strstr(err.msg, "model.norm.weight is not in shard"), "tensor in the wrong shard: %s", err.msg);
    am_st_close(st);
    const char *bad_docs[] = {"{}", "[]", "{\"weight_map\": []}", "{\"weight_map\": {}}",
                              "{\"weight_map\": {\"a\": 3}}", "{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}",
                              "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\"}", "\xff\xfe"};
    for (size_t i = 0; i < AM_ARRAY_LEN(bad_docs); i++) {
        write_file(ipath, bad_docs[i], strlen(bad_docs[i]));
        st = am_st_open_dir(dir, &err);
        CHECKF(!st, "index %s opened", bad_docs[i]);
        am_st_close(st);
        am_model *m = am_model_load(dir, &err);
        CHECKF(!m, "index %s loaded", bad_docs[i]);
        am_model_free(m);
    }
    /* A tensor listed in the index but absent from every shard. */
    bad = json_deep_copy(index);
    json_object_set_new(json_object_get(bad, "weight_map"), "model.extra.weight", json_string(names[1]));
    json_dump_file(bad, ipath, 0);
    json_decref(bad);
    st = am_st_open_dir(dir, &err);
    CHECKF(!st && strstr(err.msg, "model.extra.weight"), "phantom tensor: %s", st ? "opened" : err.msg);
    am_st_close(st);

    free(ipath);
    json_decref(index);
    for (int s = 0; s < 2; s++) {
        json_decref(h[s]);
        free(d[s].p);
    }
    free(single_dir);
    free(dir);
    free_st(&f);
}

/* ---- hostile single files ---- */

static void test_truncation(void) {
    st_file f = load_st("gemma3");
    char *path = am_path_join(g_dir, "trunc.safetensors");
    write_file(path, f.p, f.n);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    size_t header_end = 8 + f.hlen, tried = 0;
    size_t step = (f.n - header_end) / 300;
    am_err err;
    for (size_t len = f.n - 1;;) {
        if (ftruncate(fd, (off_t)len)) break;
        am_st *st = am_st_open_file(path, &err);
        tried++;
        CHECKF(!st, "truncated to %zu bytes opened", len);
        am_st_close(st);
        if (len == 0) break;
        if (len > header_end) len = len > header_end + step ? len - step : header_end;
        else len--;
    }
    close(fd);
    CHECKF(tried > header_end, "tried %zu, header ends at %zu", tried, header_end);
    free(path);
    free_st(&f);
}

/* Rewrites the file with header h (data unchanged) and expects open to fail
 * (level 0) or the model load of a folder with it to fail (level 1). */
static void expect_bad(const st_file *f, json_t *h, const char *why, int level, const char *must_contain) {
    char *dir = am_path_join(g_dir, "hostile");
    char *path = am_path_join(dir, "model.safetensors");
    write_st(path, h, f->p + 8 + f->hlen, f->n - 8 - f->hlen);
    am_err err = {0};
    if (level == 0) {
        am_st *st = am_st_open_file(path, &err);
        CHECKF(!st, "%s: opened", why);
        am_st_close(st);
    }
    am_model *m = am_model_load(dir, &err);
    CHECKF(!m, "%s: model loaded", why);
    am_model_free(m);
    CHECKF(err.msg[0], "%s: no message", why);
    if (must_contain) CHECKF(strstr(err.msg, must_contain), "%s: \"%s\" lacks \"%s\"", why, err.msg, must_contain);
    free(path);
    free(dir);
}

static json_t *entry(json_t *h, const char *name) { return json_object_get(h, name); }

static void test_mutations(void) {
    st_file f = load_st("gemma3");
    char *dir = make_hf_dir("gemma3", "hostile");
    const char *E = "model.embed_tokens.weight";      /* BF16 [700, 256] at [0, 358400] */
    const char *Q = "model.layers.0.self_attn.q_proj.weight"; /* BF16 [256, 256] */
    const char *N = "model.layers.0.input_layernorm.weight";  /* BF16 [256] */

    /* The unmodified rewrite loads. */
    json_t *h = json_deep_copy(f.header);
    char *path = am_path_join(dir, "model.safetensors");
    write_st(path, h, f.p + 8 + f.hlen, f.n - 8 - f.hlen);
    am_err err;
    am_model *m = am_model_load(dir, &err);
    CHECKF(m, "%s", err.msg);
    am_model_free(m);
    json_decref(h);

#define MUTATE(stmt, why, level, contains)       \
    do {                                         \
        h = json_deep_copy(f.header);            \
        stmt;                                    \
        expect_bad(&f, h, why, level, contains); \
        json_decref(h);                          \
    } while (0)

    MUTATE(json_object_set_new(entry(h, E), "data_offsets", json_pack("[I,I]", (json_int_t)0, (json_int_t)99999999)),
           "end past EOF", 0, "past the end");
    MUTATE(json_object_set_new(entry(h, E), "data_offsets", json_pack("[I,I]", (json_int_t)358400, (json_int_t)0)),
           "begin > end", 0, E);
    MUTATE(json_object_set_new(entry(h, E), "data_offsets", json_pack("[I,I]", (json_int_t)-2, (json_int_t)358398)),
           "negative offset", 0, E);
    MUTATE(json_object_set_new(entry(h, E), "data_offsets", json_pack("[I,I]", (json_int_t)INT64_MAX - 5, (json_int_t)INT64_MAX)),
           "huge offsets", 0, E);
    MUTATE(json_object_set_new(entry(h, E), "data_offsets", json_pack("[I]", (json_int_t)0)), "one offset", 0, E);
    MUTATE(json_object_set_new(entry(h, E), "data_offsets", json_pack("[f,f]", 0.0, 358400.0)), "real offsets", 0, E);
    MUTATE(json_object_set_new(entry(h, E), "shape", json_pack("[i,i]", 700, 255)), "shape != bytes", 0, "need");
    MUTATE(json_object_set_new(entry(h, E), "shape", json_pack("[I,I]", (json_int_t)1 << 62, (json_int_t)1 << 62)),
           "shape overflow", 0, "overflow");
    MUTATE(json_object_set_new(entry(h, E), "shape", json_pack("[I,I,I]", (json_int_t)1 << 31, (json_int_t)1 << 31, (json_int_t)4)),
           "shape × dtype overflow", 0, E);
    MUTATE(json_object_set_new(entry(h, E), "shape", json_pack("[i,i]", -700, -256)), "negative shape", 0, E);
    MUTATE(json_object_set_new(entry(h, E), "shape", json_pack("[i,i,i,i,i,i,i,i,i]", 1, 1, 1, 1, 1, 1, 1, 700, 256)),
           "9 dims", 0, "dimensions");
    MUTATE(json_object_set_new(entry(h, E), "shape", json_string("[700, 256]")), "shape string", 0, E);
    MUTATE(json_object_set_new(entry(h, E), "dtype", json_string("Q4")), "unknown dtype", 0, "unknown dtype Q4");
    MUTATE(json_object_del(entry(h, E), "dtype"), "no dtype", 0, E);
    MUTATE(json_object_set_new(h, E, json_string("x")), "entry not an object", 0, E);
    /* Size-consistent but unusable dtypes: the reader lists them, the loader refuses by name. */
    MUTATE((json_object_set_new(entry(h, E), "dtype", json_string("I64")),
            json_object_set_new(entry(h, E), "shape", json_pack("[i,i]", 700, 64))),
           "I64 embedding", 1, "model.embed_tokens.weight: dtype I64 is not supported");
    MUTATE((json_object_set_new(entry(h, Q), "dtype", json_string("F8_E4M3")),
            json_object_set_new(entry(h, Q), "shape", json_pack("[i,i]", 512, 256))),
           "F8 q_proj", 1, "dtype F8_E4M3");
    /* Wrong shapes with the right byte counts: refused by the loader naming the tensor. */
    MUTATE(json_object_set_new(entry(h, Q), "shape", json_pack("[i,i]", 128, 512)), "q_proj [128, 512]", 1,
           "blk.0.attn_q.weight has shape");
    MUTATE(json_object_set_new(entry(h, Q), "shape", json_pack("[i,i,i]", 2, 128, 256)), "q_proj 3 dims", 1,
           "blk.0.attn_q.weight has shape");
    MUTATE(json_object_set_new(entry(h, N), "shape", json_pack("[i,i]", 2, 128)), "norm 2 dims", 1,
           "blk.0.attn_norm.weight has shape");
    MUTATE(json_object_set_new(entry(h, E), "shape", json_pack("[i,i]", 350, 512)), "embedding [350, 512]", 1,
           "token_embd.weight");
    MUTATE(json_object_del(h, Q), "missing q_proj", 1, "missing tensor blk.0.attn_q.weight");
#undef MUTATE

    /* Header length field and JSON text. */
    const uint8_t *data = f.p + 8 + f.hlen;
    const uint64_t hlens[] = {0, 1, 7, f.hlen - 3, f.n - 8, f.n - 7, f.n, UINT64_MAX, UINT64_MAX - 7,
                              (uint64_t)1 << 63, AM_ST_MAX_HEADER + 8};
    uint8_t *c = am_xmalloc(f.n);
    for (size_t i = 0; i < AM_ARRAY_LEN(hlens); i++) {
        memcpy(c, f.p, f.n);
        wr_u64(c, 0, hlens[i]);
        write_file(path, c, f.n);
        am_st *st = am_st_open_file(path, &err);
        CHECKF(!st, "header length %llu opened", (unsigned long long)hlens[i]);
        am_st_close(st);
    }
    const char *docs[] = {"[]", "1", "\"s\"", "null", "{\"a\": 1}", "{\"a\": {}}", "{\"x\": 1, \"x\": 2}",
                          "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}",
                          "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}\x01",
                          "{\"a\": {\"dtype\": null, \"shape\": [1], \"data_offsets\": [0, 4]}}",
                          "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}",
                          "{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}",
                          "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 18446744073709551615]}}",
                          "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"a\": {}}"};
    for (size_t i = 0; i < AM_ARRAY_LEN(docs); i++) {
        tbuf b = {0};
        tb_u64(&b, strlen(docs[i]));
        tb_put(&b, docs[i], strlen(docs[i]));
        tb_put(&b, data, 64);
        write_file(path, b.p, b.n);
        free(b.p);
        am_st *st = am_st_open_file(path, &err);
        CHECKF(!st, "header %s opened", docs[i]);
        am_st_close(st);
    }
    /* Deep nesting in __metadata__ must not blow the stack. */
    tbuf b = {0};
    tb_u64(&b, 0);
    tb_put(&b, "{\"__metadata__\":", 16);
    for (int i = 0; i < 100000; i++) tb_put(&b, "[", 1);
    for (int i = 0; i < 100000; i++) tb_put(&b, "]", 1);
    tb_put(&b, "}", 1);
    wr_u64(b.p, 0, b.n - 8);
    write_file(path, b.p, b.n);
    free(b.p);
    am_st *st = am_st_open_file(path, &err);
    CHECK(!st);
    am_st_close(st);
    free(c);
    free(path);
    free(dir);
    free_st(&f);
}

/* A header padded to an odd length leaves BF16 data misaligned; the loader
 * must still give the same weights (copied to aligned memory). */
static void test_misaligned(void) {
    st_file f = load_st("qwen3");
    char *dir = make_hf_dir("qwen3", "misaligned");
    char *path = am_path_join(dir, "model.safetensors");
    char *h = json_dumps(f.header, JSON_COMPACT);
    tbuf b = {0};
    size_t hl = strlen(h) + 1; /* one trailing space: odd total if strlen is even */
    if (hl % 2 == 0) hl++;
    tb_u64(&b, hl);
    tb_put(&b, h, strlen(h));
    while (b.n < 8 + hl) tb_put(&b, " ", 1);
    tb_put(&b, f.p + 8 + f.hlen, f.n - 8 - f.hlen);
    write_file(path, b.p, b.n);
    am_err err;
    am_model *m = am_model_load(dir, &err);
    CHECKF(m, "%s", err.msg);
    char *orig_dir = am_test_fixture("models/qwen3-tiny");
    am_model *o = am_model_load(orig_dir, &err);
    CHECKF(o, "%s", err.msg);
    if (m && o) {
        CHECK((uintptr_t)m->layers[0].wq->data % 2 == 0);
        CHECK(!memcmp(m->layers[0].wq->data, o->layers[0].wq->data, o->layers[0].wq->nbytes));
        CHECK(!memcmp(m->layers[2].q_norm, o->layers[2].q_norm, 64 * sizeof(float)));
    }
    am_model_free(m);
    am_model_free(o);
    free(orig_dir);
    free(b.p);
    free(h);
    free(path);
    free(dir);
    free_st(&f);
}

int main(void) {
    g_dir = tmp_dir_make();
    AM_TEST_RUN(test_sharded);
    AM_TEST_RUN(test_truncation);
    AM_TEST_RUN(test_mutations);
    AM_TEST_RUN(test_misaligned);
    tmp_dir_remove(g_dir);
    AM_TEST_EXIT();
}
