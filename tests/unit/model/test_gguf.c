/* test_gguf.c — the GGUF reader: every metadata type (synthetic v2/v3 files),
 * getters' conversions, alignment; and hostile files made from a real fixture:
 * truncated at every offset of the header and a spread of the data, huge
 * counts and lengths, bad types, offsets past EOF or misaligned, wrong dims.
 * Every hostile file must give an error (and, under `make asan`, no report). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/file.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model_test_util.h"
#include "test_util.h"

static char *g_dir;

static char *tmp_path(const char *name) { return am_path_join(g_dir, name); }

/* ---- synthetic files ---- */

static void kv_hdr(tbuf *b, const char *key, uint32_t type) {
    tb_str(b, key);
    tb_u32(b, type);
}

/* A file with one key of every type (incl. nested arrays), alignment 64 and
 * two f32 tensors. */
static tbuf build_all_types(uint32_t version, uint32_t alignment, int nest_depth) {
    tbuf b = {0};
    tb_put(&b, "GGUF", 4);
    tb_u32(&b, version);
    tb_u64(&b, 2);  /* tensors */
    tb_u64(&b, 17); /* keys */
    kv_hdr(&b, "k.u8", AM_GGUF_U8); uint8_t u8 = 200; tb_put(&b, &u8, 1);
    kv_hdr(&b, "k.i8", AM_GGUF_I8); int8_t i8 = -5; tb_put(&b, &i8, 1);
    kv_hdr(&b, "k.u16", AM_GGUF_U16); uint16_t u16 = 60000; tb_put(&b, &u16, 2);
    kv_hdr(&b, "k.i16", AM_GGUF_I16); int16_t i16 = -300; tb_put(&b, &i16, 2);
    kv_hdr(&b, "k.u32", AM_GGUF_U32); tb_u32(&b, 4000000000u);
    kv_hdr(&b, "k.i32", AM_GGUF_I32); tb_u32(&b, (uint32_t)-7);
    kv_hdr(&b, "k.f32", AM_GGUF_F32); float f = 1.5f; tb_put(&b, &f, 4);
    kv_hdr(&b, "k.bool", AM_GGUF_BOOL); uint8_t t = 1; tb_put(&b, &t, 1);
    kv_hdr(&b, "k.str", AM_GGUF_STRING); tb_str(&b, "héllo");
    kv_hdr(&b, "k.u64", AM_GGUF_U64); tb_u64(&b, UINT64_MAX);
    kv_hdr(&b, "k.i64", AM_GGUF_I64); tb_u64(&b, (uint64_t)INT64_MIN);
    kv_hdr(&b, "k.f64", AM_GGUF_F64); double d = 2.25; tb_put(&b, &d, 8);
    kv_hdr(&b, "k.arr_i32", AM_GGUF_ARRAY); tb_u32(&b, AM_GGUF_I32); tb_u64(&b, 3);
    tb_u32(&b, 1); tb_u32(&b, 2); tb_u32(&b, 3);
    kv_hdr(&b, "k.arr_str", AM_GGUF_ARRAY); tb_u32(&b, AM_GGUF_STRING); tb_u64(&b, 3);
    tb_str(&b, "a"); tb_str(&b, ""); tb_str(&b, "ccc");
    kv_hdr(&b, "k.arr_empty", AM_GGUF_ARRAY); tb_u32(&b, AM_GGUF_F32); tb_u64(&b, 0);
    /* nested: depth levels of single-element arrays around [u8 7, u8 8] */
    kv_hdr(&b, "k.nested", AM_GGUF_ARRAY);
    for (int i = 0; i < nest_depth; i++) {
        tb_u32(&b, AM_GGUF_ARRAY);
        tb_u64(&b, 1);
    }
    tb_u32(&b, AM_GGUF_U8); tb_u64(&b, 2); uint8_t two[2] = {7, 8}; tb_put(&b, two, 2);
    kv_hdr(&b, "general.alignment", AM_GGUF_U32); tb_u32(&b, alignment);
    /* tensors: a [4] f32 vector at 0 and a [2,3] f32 matrix at `alignment` */
    tb_str(&b, "vec"); tb_u32(&b, 1); tb_u64(&b, 4); tb_u32(&b, AM_TYPE_F32); tb_u64(&b, 0);
    tb_str(&b, "mat"); tb_u32(&b, 2); tb_u64(&b, 2); tb_u64(&b, 3); tb_u32(&b, AM_TYPE_F32);
    tb_u64(&b, alignment > 16 ? alignment : 16);
    tb_pad(&b, alignment ? alignment : 32);
    size_t start = b.n;
    for (int i = 0; i < 4; i++) { float v = (float)i; tb_put(&b, &v, 4); }
    while (b.n < start + (alignment > 16 ? alignment : 16)) tb_put(&b, "\0", 1);
    for (int i = 0; i < 6; i++) { float v = 10.0f + i; tb_put(&b, &v, 4); }
    return b;
}

static am_gguf *open_buf(const tbuf *b, am_err *err) {
    char *p = tmp_path("synthetic.gguf");
    write_file(p, b->p, b->n);
    am_gguf *g = am_gguf_open(p, err);
    free(p);
    return g;
}

static void test_all_types(void) {
    for (uint32_t version = 2; version <= 3; version++) {
        tbuf b = build_all_types(version, 64, 2);
        am_err err;
        am_gguf *g = open_buf(&b, &err);
        CHECKF(g, "%s", err.msg);
        free(b.p);
        if (!g) continue;
        CHECK(am_gguf_version(g) == version);
        CHECK(am_gguf_n_kv(g) == 17);
        uint32_t u;
        int64_t i;
        float f;
        bool bo;
        am_str s;
        CHECK(am_gguf_get_u32(g, "k.u8", &u) && u == 200);
        CHECK(am_gguf_get_i64(g, "k.i8", &i) && i == -5);
        CHECK(!am_gguf_get_u32(g, "k.i8", &u)); /* negative does not fit */
        CHECK(am_gguf_get_u32(g, "k.u16", &u) && u == 60000);
        CHECK(am_gguf_get_i64(g, "k.i16", &i) && i == -300);
        CHECK(am_gguf_get_u32(g, "k.u32", &u) && u == 4000000000u);
        CHECK(am_gguf_get_i64(g, "k.i32", &i) && i == -7);
        CHECK(am_gguf_get_f32(g, "k.f32", &f) && f == 1.5f);
        CHECK(!am_gguf_get_u32(g, "k.f32", &u));
        CHECK(am_gguf_get_bool(g, "k.bool", &bo) && bo);
        CHECK(am_gguf_get_str(g, "k.str", &s) && s.n == 6 && !memcmp(s.p, "héllo", 6));
        CHECK(!am_gguf_get_u32(g, "k.u64", &u) && !am_gguf_get_i64(g, "k.u64", &i)); /* out of range */
        CHECK(am_gguf_get_i64(g, "k.i64", &i) && i == INT64_MIN);
        CHECK(am_gguf_get_f32(g, "k.f64", &f) && f == 2.25f);
        CHECK(!am_gguf_get_str(g, "k.missing", &s) && am_gguf_find_key(g, "k.missing") == -1);
        am_gguf_vtype et;
        uint64_t n;
        CHECK(am_gguf_get_arr(g, "k.arr_i32", &et, &n) && et == AM_GGUF_I32 && n == 3);
        const uint8_t *ad = am_gguf_arr_data(g, "k.arr_i32");
        CHECK(ad && rd32(ad, 8) == 3);
        CHECK(am_gguf_get_arr(g, "k.arr_str", &et, &n) && et == AM_GGUF_STRING && n == 3);
        CHECK(am_gguf_arr_data(g, "k.arr_str") == NULL);
        CHECK(am_gguf_arr_str(g, "k.arr_str", 2).n == 3 && !memcmp(am_gguf_arr_str(g, "k.arr_str", 2).p, "ccc", 3));
        CHECK(am_gguf_arr_str(g, "k.arr_str", 1).n == 0);
        CHECK(am_gguf_arr_str(g, "k.arr_str", 3).n == 0); /* out of range: empty */
        CHECK(am_gguf_get_arr(g, "k.arr_empty", &et, &n) && n == 0);
        CHECK(am_gguf_get_arr(g, "k.nested", &et, &n) && et == AM_GGUF_ARRAY && n == 1);
        int64_t ki = am_gguf_find_key(g, "k.nested");
        CHECK(ki >= 0 && am_gguf_kv_type(g, ki) == AM_GGUF_ARRAY && am_gguf_key(g, ki).n == 8);
        CHECK(am_gguf_n_tensors(g) == 2);
        const am_tensor *m = am_gguf_find_tensor(g, "mat");
        CHECK(m && m->n_dims == 2 && m->ne[0] == 2 && m->ne[1] == 3 && m->nbytes == 24);
        CHECK(m && (uintptr_t)m->data % 64 == 0);
        if (m) {
            float v;
            memcpy(&v, (const uint8_t *)m->data + 20, 4);
            CHECK(v == 15.0f);
        }
        CHECK(am_gguf_find_tensor(g, "vec") == am_gguf_tensor(g, 0));
        CHECK(!am_gguf_find_tensor(g, "nope"));
        am_gguf_close(g);
    }
}

static void expect_fail(const tbuf *b, const char *why, const char *must_contain) {
    am_err err = {0};
    am_gguf *g = open_buf(b, &err);
    CHECKF(!g, "%s: opened", why);
    am_gguf_close(g);
    CHECKF(err.msg[0], "%s: no message", why);
    if (must_contain) CHECKF(strstr(err.msg, must_contain), "%s: message \"%s\" lacks \"%s\"", why, err.msg, must_contain);
}

static void test_synthetic_bad(void) {
    /* nest_depth wrappers + the innermost u8 array: 3 → arrays 4 deep (the limit). */
    tbuf b = build_all_types(3, 32, 3);
    am_err err;
    am_gguf *g = open_buf(&b, &err);
    CHECKF(g, "depth 4 must open: %s", err.msg);
    am_gguf_close(g);
    free(b.p);
    b = build_all_types(3, 32, 4);
    expect_fail(&b, "nesting depth 5", "nested");
    free(b.p);
    b = build_all_types(3, 32, 1000);
    expect_fail(&b, "nesting depth 1000", "nested");
    free(b.p);
    b = build_all_types(3, 48, 1);
    expect_fail(&b, "alignment 48", "alignment");
    free(b.p);
    b = build_all_types(3, 0, 1);
    expect_fail(&b, "alignment 0", "alignment");
    free(b.p);
    b = build_all_types(1, 32, 1);
    expect_fail(&b, "version 1", "version");
    free(b.p);
    b = build_all_types(0x03000000u, 32, 1);
    expect_fail(&b, "big endian", "big-endian");
    free(b.p);
    b = build_all_types(3, 32, 1);
    memcpy(b.p, "GGUG", 4);
    expect_fail(&b, "magic", "magic");
    free(b.p);
    tbuf e = {0};
    expect_fail(&e, "empty file", NULL);
    tb_put(&e, "GGUF", 4);
    expect_fail(&e, "magic only", NULL);
    free(e.p);
}

/* ---- the layout of a real file, so fields can be patched ---- */

#define MAX_T 256
#define MAX_KV 64
typedef struct layout {
    size_t n_tensors_at, n_kv_at;
    int n_kv, n_t;
    struct { size_t key_at, type_at, val_at; uint32_t type; char key[96]; } kv[MAX_KV];
    struct { size_t name_at, ndims_at, dims_at, type_at, offset_at; char name[96]; } t[MAX_T];
    size_t data_start;
} layout;

static size_t skip_value(const uint8_t *p, size_t o, uint32_t type) {
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == AM_GGUF_STRING) return o + 8 + rd64(p, o);
    if (type == AM_GGUF_ARRAY) {
        uint32_t et = rd32(p, o);
        uint64_t n = rd64(p, o + 4);
        o += 12;
        if (et == AM_GGUF_STRING || et == AM_GGUF_ARRAY) {
            for (uint64_t i = 0; i < n; i++) o = skip_value(p, o, et);
            return o;
        }
        return o + n * sz[et];
    }
    return o + sz[type];
}

static void get_layout(const uint8_t *p, layout *L) {
    memset(L, 0, sizeof *L);
    L->n_tensors_at = 8;
    L->n_kv_at = 16;
    L->n_t = (int)rd64(p, 8);
    L->n_kv = (int)rd64(p, 16);
    size_t o = 24;
    for (int i = 0; i < L->n_kv; i++) {
        L->kv[i].key_at = o;
        uint64_t n = rd64(p, o);
        snprintf(L->kv[i].key, sizeof L->kv[i].key, "%.*s", (int)n, (const char *)p + o + 8);
        o += 8 + n;
        L->kv[i].type_at = o;
        L->kv[i].type = rd32(p, o);
        o += 4;
        L->kv[i].val_at = o;
        o = skip_value(p, o, L->kv[i].type);
    }
    for (int i = 0; i < L->n_t; i++) {
        L->t[i].name_at = o;
        uint64_t n = rd64(p, o);
        snprintf(L->t[i].name, sizeof L->t[i].name, "%.*s", (int)n, (const char *)p + o + 8);
        o += 8 + n;
        L->t[i].ndims_at = o;
        uint32_t nd = rd32(p, o);
        L->t[i].dims_at = o + 4;
        o += 4 + 8 * nd;
        L->t[i].type_at = o;
        L->t[i].offset_at = o + 4;
        o += 12;
    }
    L->data_start = (o + 31) / 32 * 32;
}

static int find_kv_idx(const layout *L, const char *key) {
    for (int i = 0; i < L->n_kv; i++)
        if (!strcmp(L->kv[i].key, key)) return i;
    fprintf(stderr, "fixture lacks key %s\n", key);
    exit(1);
}

static int find_t_idx(const layout *L, const char *name) {
    for (int i = 0; i < L->n_t; i++)
        if (!strcmp(L->t[i].name, name)) return i;
    fprintf(stderr, "fixture lacks tensor %s\n", name);
    exit(1);
}

typedef struct fixture {
    uint8_t *p;
    size_t n;
    layout L;
} fixture;

static fixture load_fixture(const char *rel) {
    fixture f;
    char *path = am_test_fixture(rel);
    f.p = am_test_read_file(path, &f.n);
    free(path);
    get_layout(f.p, &f.L);
    return f;
}

/* Writes a patched copy; `level` 0 = the GGUF reader must refuse it, 1 = the
 * reader may accept it but the model loader must refuse it. */
static void check_mutant(const fixture *f, uint8_t *copy, const char *why, int level, const char *must_contain) {
    char *path = tmp_path("mutant.gguf");
    write_file(path, copy, f->n);
    am_err err = {0};
    if (level == 0) {
        am_gguf *g = am_gguf_open(path, &err);
        CHECKF(!g, "%s: the reader accepted it", why);
        am_gguf_close(g);
    }
    am_model *m = am_model_load(path, &err);
    CHECKF(!m, "%s: the model loader accepted it", why);
    am_model_free(m);
    CHECKF(err.msg[0], "%s: no message", why);
    if (must_contain) CHECKF(strstr(err.msg, must_contain), "%s: \"%s\" lacks \"%s\"", why, err.msg, must_contain);
    memcpy(copy, f->p, f->n); /* restore for the next mutation */
    free(path);
}

static void test_truncation(const char *rel, int header_step, int data_points) {
    fixture f = load_fixture(rel);
    char *path = tmp_path("truncated.gguf");
    write_file(path, f.p, f.n);
    am_err err;
    am_gguf *g = am_gguf_open(path, &err);
    CHECKF(g, "%s: %s", rel, err.msg);
    if (!g) return;
    /* The end of the last tensor's data: any shorter file must be refused. */
    size_t data_end = 0;
    for (int i = 0; i < f.L.n_t; i++) {
        const am_tensor *t = am_gguf_find_tensor(g, f.L.t[i].name);
        size_t end = f.L.data_start + rd64(f.p, f.L.t[i].offset_at) + (t ? t->nbytes : 0);
        if (end > data_end) data_end = end;
    }
    am_gguf_close(g);
    /* Sizes to try, descending so one file is shrunk in place (no rewrites). */
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    size_t n_tried = 0, n_failed = 0;
    size_t step = data_end > f.L.data_start ? (data_end - f.L.data_start) / (size_t)data_points : 1;
    if (step == 0) step = 1;
    for (size_t len = f.n - 1;; ) {
        if (ftruncate(fd, (off_t)len) != 0) break;
        am_gguf *t = am_gguf_open(path, &err);
        n_tried++;
        if (len < data_end) {
            CHECKF(!t, "%s truncated to %zu bytes opened", rel, len);
            n_failed += !t;
        } else {
            CHECKF(t, "%s truncated to %zu bytes (after all data) failed: %s", rel, len, err.msg);
        }
        am_gguf_close(t);
        if (len == 0) break;
        size_t next;
        if (len > f.L.data_start) next = len > step ? len - step : 0;
        else next = len > (size_t)header_step ? len - (size_t)header_step : 0;
        if (next < f.L.data_start && len > f.L.data_start) next = f.L.data_start; /* header: every offset */
        len = next;
    }
    close(fd);
    CHECK(n_tried > f.L.data_start / (size_t)header_step);
    fprintf(stderr, "  %s: %zu truncations, %zu refused\n", rel, n_tried, n_failed);
    free(path);
    free(f.p);
}

static void test_truncation_every_header_offset(void) {
    test_truncation("models/gemma3-tiny/gemma3-tiny-q4_k_m.gguf", 1, 200);
    test_truncation("models/llama3-tiny/llama3-tiny-q4_0.gguf", 7, 50);
    test_truncation("models/qwen2-tiny/qwen2-tiny-q5_k_m.gguf", 13, 50);
}

static void test_mutations(void) {
    fixture f = load_fixture("models/gemma3-tiny/gemma3-tiny-q4_k_m.gguf");
    const layout *L = &f.L;
    uint8_t *c = am_xmalloc(f.n);
    memcpy(c, f.p, f.n);

    /* The unmodified copy loads. */
    char *path = tmp_path("copy.gguf");
    write_file(path, c, f.n);
    am_err err;
    am_model *m = am_model_load(path, &err);
    CHECKF(m, "%s", err.msg);
    am_model_free(m);
    free(path);

    /* Counts. */
    const uint64_t huge[] = {UINT64_MAX, UINT64_MAX / 2, (uint64_t)1 << 62, (uint64_t)1 << 40, (uint64_t)1 << 32, f.n};
    for (size_t i = 0; i < AM_ARRAY_LEN(huge); i++) {
        wr_u64(c, L->n_tensors_at, huge[i]);
        check_mutant(&f, c, "huge n_tensors", 0, NULL);
        wr_u64(c, L->n_kv_at, huge[i]);
        check_mutant(&f, c, "huge n_kv", 0, NULL);
    }
    /* String lengths: a key, a string value, a tensor name; incl. len+1 and len+8 overflows. */
    const uint64_t lens[] = {UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 7, (uint64_t)1 << 63, f.n, f.n - 30};
    int arch = find_kv_idx(L, "general.architecture");
    int tok = find_kv_idx(L, "tokenizer.ggml.tokens");
    int scores = find_kv_idx(L, "tokenizer.ggml.scores");
    int ttype = find_kv_idx(L, "tokenizer.ggml.token_type");
    for (size_t i = 0; i < AM_ARRAY_LEN(lens); i++) {
        wr_u64(c, L->kv[arch].key_at, lens[i]);
        check_mutant(&f, c, "key length", 0, NULL);
        wr_u64(c, L->kv[arch].val_at, lens[i]);
        check_mutant(&f, c, "string value length", 0, NULL);
        wr_u64(c, L->t[3].name_at, lens[i]);
        check_mutant(&f, c, "tensor name length", 0, NULL);
        wr_u64(c, L->kv[tok].val_at + 12, lens[i]); /* first token's length */
        check_mutant(&f, c, "string array element length", 0, NULL);
    }
    /* Array counts: count × size overflows (2^62+1 × 4 wraps to 4). */
    const uint64_t counts[] = {UINT64_MAX, ((uint64_t)1 << 62) + 1, ((uint64_t)1 << 61) + 1, (uint64_t)1 << 59, f.n / 4};
    for (size_t i = 0; i < AM_ARRAY_LEN(counts); i++) {
        wr_u64(c, L->kv[tok].val_at + 4, counts[i]);
        check_mutant(&f, c, "string array count", 0, NULL);
        wr_u64(c, L->kv[scores].val_at + 4, counts[i]);
        check_mutant(&f, c, "f32 array count", 0, NULL);
        wr_u64(c, L->kv[ttype].val_at + 4, counts[i]);
        check_mutant(&f, c, "i32 array count", 0, NULL);
    }
    /* Bad value and element types. */
    const uint32_t bad_types[] = {13, 99, UINT32_MAX};
    for (size_t i = 0; i < AM_ARRAY_LEN(bad_types); i++) {
        wr_u32(c, L->kv[arch].type_at, bad_types[i]);
        check_mutant(&f, c, "bad value type", 0, "type");
        wr_u32(c, L->kv[scores].val_at, bad_types[i]);
        check_mutant(&f, c, "bad array element type", 0, "type");
    }
    /* An i32 array re-typed as an array of arrays: garbage nested headers. */
    wr_u32(c, L->kv[ttype].val_at, AM_GGUF_ARRAY);
    check_mutant(&f, c, "array of arrays over i32 data", 0, NULL);

    /* Tensor infos. */
    int q = find_t_idx(L, "blk.0.attn_q.weight");     /* q4_k [256, 256] */
    int kn = find_t_idx(L, "blk.0.attn_k_norm.weight"); /* f32 [64] */
    const uint32_t ndims[] = {0, 5, 1000, UINT32_MAX};
    for (size_t i = 0; i < AM_ARRAY_LEN(ndims); i++) {
        wr_u32(c, L->t[q].ndims_at, ndims[i]);
        check_mutant(&f, c, "n_dims", 0, "dimension");
    }
    const uint64_t dims[] = {0, UINT64_MAX, (uint64_t)1 << 63, (uint64_t)1 << 40, 255, 257};
    for (size_t i = 0; i < AM_ARRAY_LEN(dims); i++) {
        wr_u64(c, L->t[q].dims_at, dims[i]);
        check_mutant(&f, c, "dim 0", 0, "blk.0.attn_q.weight");
    }
    wr_u64(c, L->t[q].dims_at, (uint64_t)1 << 32); /* ne0 * ne1 overflows together with ne1 below */
    wr_u64(c, L->t[q].dims_at + 8, (uint64_t)1 << 32);
    check_mutant(&f, c, "element count overflow", 0, "blk.0.attn_q.weight");
    wr_u64(c, L->t[q].dims_at + 8, 1000000);
    check_mutant(&f, c, "dim 1 past EOF", 0, "blk.0.attn_q.weight");
    /* Unsupported types name the tensor and the type. */
    wr_u32(c, L->t[q].type_at, 3);
    check_mutant(&f, c, "q4_1 tensor", 0, "blk.0.attn_q.weight: type q4_1");
    wr_u32(c, L->t[q].type_at, 20);
    check_mutant(&f, c, "iq4_nl tensor", 0, "iq4_nl");
    wr_u32(c, L->t[q].type_at, 1000);
    check_mutant(&f, c, "type 1000", 0, "type 1000");
    /* Offsets. */
    uint64_t off_q = rd64(c, L->t[q].offset_at);
    const uint64_t offs[] = {UINT64_MAX, UINT64_MAX - 31, f.n, f.n - L->data_start, (uint64_t)1 << 63,
                             (f.n - L->data_start - 36864 + 32) / 32 * 32};
    for (size_t i = 0; i < AM_ARRAY_LEN(offs); i++) {
        wr_u64(c, L->t[q].offset_at, offs[i]);
        check_mutant(&f, c, "offset past EOF", 0, "blk.0.attn_q.weight");
    }
    wr_u64(c, L->t[q].offset_at, off_q + 1);
    check_mutant(&f, c, "misaligned offset", 0, "alignment");
    wr_u64(c, L->t[q].offset_at, off_q + 16);
    check_mutant(&f, c, "misaligned offset 16", 0, "alignment");
    /* Duplicates. */
    c[L->t[find_t_idx(L, "blk.1.attn_q.weight")].name_at + 8 + 4] = '0';
    check_mutant(&f, c, "duplicate tensor", 0, "duplicate tensor blk.0.attn_q.weight");
    memcpy(c + L->kv[find_kv_idx(L, "general.name")].key_at + 8 + 8, "type", 4);
    check_mutant(&f, c, "duplicate key", 0, "duplicate key general.type");
    /* A tensor name with a NUL inside. */
    c[L->t[q].name_at + 8 + 3] = 0;
    check_mutant(&f, c, "NUL in name", 0, NULL);

    /* Accepted by the reader, refused by the model loader. */
    wr_u64(c, L->t[q].dims_at + 8, 128); /* attn_q [256, 128]: still inside the file */
    check_mutant(&f, c, "attn_q wrong rows", 1, "blk.0.attn_q.weight has shape");
    wr_u64(c, L->t[kn].dims_at, 32);
    check_mutant(&f, c, "k_norm wrong length", 1, "blk.0.attn_k_norm.weight has shape");
    wr_u32(c, L->t[kn].ndims_at, 2); /* [64] → [64, <the type field as ne1>...]: reader or loader refuses */
    check_mutant(&f, c, "k_norm 2 dims", 0, NULL);
    c[L->t[q].name_at + 8 + 7] = 'X'; /* blk.0.aXtn_q.weight: required tensor missing */
    check_mutant(&f, c, "missing tensor", 1, "missing tensor blk.0.attn_q.weight");
    c[L->kv[find_kv_idx(L, "gemma3.block_count")].key_at + 8 + 8] = 'X';
    check_mutant(&f, c, "missing block_count", 1, "block_count");
    wr_u32(c, L->kv[find_kv_idx(L, "gemma3.block_count")].val_at, 100000);
    check_mutant(&f, c, "block_count 100000", 1, "layers");
    wr_u32(c, L->kv[find_kv_idx(L, "gemma3.block_count")].val_at, 7);
    check_mutant(&f, c, "block_count 7", 1, "missing tensor blk.6");
    wr_u32(c, L->kv[find_kv_idx(L, "gemma3.attention.head_count")].val_at, 0);
    check_mutant(&f, c, "head_count 0", 1, NULL);
    wr_u32(c, L->kv[find_kv_idx(L, "gemma3.attention.head_count_kv")].val_at, 3);
    check_mutant(&f, c, "head_count_kv 3", 1, NULL);
    wr_u32(c, L->kv[find_kv_idx(L, "gemma3.attention.key_length")].val_at, 63);
    check_mutant(&f, c, "odd head dim", 1, NULL);
    wr_u32(c, L->kv[find_kv_idx(L, "gemma3.embedding_length")].val_at, 0);
    check_mutant(&f, c, "n_embd 0", 1, NULL);
    wr_u32(c, L->kv[find_kv_idx(L, "gemma3.embedding_length")].type_at, AM_GGUF_F32);
    check_mutant(&f, c, "n_embd as f32", 1, "embedding_length");
    memcpy(c + L->kv[arch].val_at + 8, "gemma4", 6);
    check_mutant(&f, c, "unknown architecture", 1, "gemma4");

    free(c);
    free(f.p);
}

/* Every single-byte corruption of a header region byte must be handled
 * (either accepted or refused with a message; never a crash). */
static void test_byte_flips(void) {
    fixture f = load_fixture("models/qwen3-tiny/qwen3-tiny-q4_0.gguf");
    char *path = tmp_path("flip.gguf");
    write_file(path, f.p, f.n);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    size_t refused = 0, tried = 0;
    uint32_t seed = 12345;
    for (size_t off = 0; off < f.L.data_start; off += 3) {
        seed = seed * 1103515245u + 12345u;
        uint8_t v = (uint8_t)(seed >> 16) | 0x80;
        if (pwrite(fd, &v, 1, (off_t)off) != 1) break;
        am_err err = {0};
        am_model *m = am_model_load(path, &err);
        tried++;
        if (!m) {
            refused++;
            CHECKF(err.msg[0], "flip at %zu: no message", off);
        }
        am_model_free(m);
        if (pwrite(fd, f.p + off, 1, (off_t)off) != 1) break;
    }
    close(fd);
    fprintf(stderr, "  byte flips: %zu tried, %zu refused\n", tried, refused);
    CHECK(refused > 0);
    free(path);
    free(f.p);
}

int main(void) {
    g_dir = tmp_dir_make();
    AM_TEST_RUN(test_all_types);
    AM_TEST_RUN(test_synthetic_bad);
    AM_TEST_RUN(test_truncation_every_header_offset);
    AM_TEST_RUN(test_mutations);
    AM_TEST_RUN(test_byte_flips);
    tmp_dir_remove(g_dir);
    AM_TEST_EXIT();
}
