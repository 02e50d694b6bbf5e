/* test_gguf_write.c — the GGUF writer round-trips through the reader: every
 * metadata type, string and numeric arrays, tensors of several types written
 * in odd-sized chunks; failures (unwritable path, too many or too few bytes,
 * abandoned writes) leave no file behind and the old target untouched. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/file.h"
#include "model/gguf.h"
#include "model/gguf_write.h"
#include "test_util.h"

static char tmpdir[256];

static char *tmp_path(const char *name) { return am_path_join(tmpdir, name); }

/* Number of entries in tmpdir (temporary files included). */
static int dir_entries(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static bool str_eq(am_str s, const char *c, size_t n) { return s.n == n && !memcmp(s.p, c, n); }

typedef struct tdef {
    const char *name;
    am_type type;
    int n_dims;
    int64_t ne[4];
} tdef;

static const tdef TENSORS[] = {
    {"a.f32", AM_TYPE_F32, 1, {7}},
    {"b.f16", AM_TYPE_F16, 2, {64, 3}},
    {"c.q8_0", AM_TYPE_Q8_0, 2, {96, 5}},
    {"d.q4_0", AM_TYPE_Q4_0, 2, {32, 1}},
    {"e.q6_k", AM_TYPE_Q6_K, 2, {256, 2}},
    {"f.bf16.4d", AM_TYPE_BF16, 4, {2, 3, 4, 5}},
};

static void test_round_trip(void) {
    am_err err;
    char *path = tmp_path("rt.gguf");
    am_gguf_writer *w = am_gguf_writer_create();
    am_gguf_writer_set_u8(w, "t.u8", 200);
    am_gguf_writer_set_i8(w, "t.i8", -100);
    am_gguf_writer_set_u16(w, "t.u16", 60000);
    am_gguf_writer_set_i16(w, "t.i16", -30000);
    am_gguf_writer_set_u32(w, "t.u32", 4000000000u);
    am_gguf_writer_set_i32(w, "t.i32", -2000000000);
    am_gguf_writer_set_u64(w, "t.u64", 1ull << 40);
    am_gguf_writer_set_i64(w, "t.i64", -(1ll << 50));
    am_gguf_writer_set_f32(w, "t.f32", 1.5f);
    am_gguf_writer_set_f64(w, "t.f64", 0.125);
    am_gguf_writer_set_bool(w, "t.bool", true);
    am_gguf_writer_set_str(w, "t.str", "héllo");
    am_gguf_writer_set_strn(w, "t.strn", "a\0b", 3);
    am_gguf_writer_set_str(w, "t.empty", "");
    am_gguf_writer_set_str(w, "t.replaced", "first");
    am_gguf_writer_set_u32(w, "t.replaced", 7); /* replaces, other type */
    const int32_t i32s[] = {1, -2, 3};
    const float f32s[] = {0.5f, -1.0f};
    const uint8_t bools[] = {1, 0, 1, 1};
    const uint64_t u64s[] = {1, 1ull << 63};
    const double f64s[] = {1.0, -2.5};
    const int16_t i16s[] = {-1, 2};
    am_gguf_writer_set_arr(w, "a.i32", AM_GGUF_I32, i32s, 3);
    am_gguf_writer_set_arr(w, "a.f32", AM_GGUF_F32, f32s, 2);
    am_gguf_writer_set_arr(w, "a.bool", AM_GGUF_BOOL, bools, 4);
    am_gguf_writer_set_arr(w, "a.u64", AM_GGUF_U64, u64s, 2);
    am_gguf_writer_set_arr(w, "a.f64", AM_GGUF_F64, f64s, 2);
    am_gguf_writer_set_arr(w, "a.i16", AM_GGUF_I16, i16s, 2);
    am_gguf_writer_set_arr(w, "a.empty", AM_GGUF_U8, NULL, 0);
    const char *strs[] = {"x", "", "Ġthe", "<|eot_id|>"};
    am_gguf_writer_set_arr_str(w, "a.str", strs, NULL, 4);
    const char *bin[] = {"a\0b", "cd"};
    const size_t bin_len[] = {3, 2};
    am_gguf_writer_set_arr_str(w, "a.strn", bin, bin_len, 2);

    /* tensor data: a deterministic byte pattern per tensor */
    size_t total = 0;
    for (size_t i = 0; i < AM_ARRAY_LEN(TENSORS); i++) {
        const tdef *t = &TENSORS[i];
        CHECK(am_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, &err) == 0);
        total += (size_t)am_gguf_writer_tensor_bytes(w, (int64_t)i);
    }
    uint8_t *data = am_xmalloc(total);
    for (size_t i = 0; i < total; i++) data[i] = (uint8_t)(i * 131 + 7);
    /* F16/BF16/F32 bytes are arbitrary here except that they must round-trip. */
    uint64_t expect_size = am_gguf_writer_file_size(w);
    CHECK(am_gguf_writer_begin(w, path, &err) == 0);
    CHECK(!am_file_exists(path)); /* nothing at the target before finish */
    for (size_t off = 0; off < total;) {
        size_t n = AM_MIN((size_t)37, total - off); /* chunks spanning tensor borders */
        CHECK(am_gguf_writer_write(w, data + off, n, &err) == 0);
        off += n;
    }
    CHECKF(am_gguf_writer_finish(w, &err) == 0, "%s", err.msg);
    am_gguf_writer_free(w);
    CHECK(dir_entries() == 1);

    am_gguf *g = am_gguf_open(path, &err);
    CHECKF(g, "%s", err.msg);
    if (!g) goto done;
    CHECK(am_gguf_version(g) == 3);
    CHECK(am_gguf_file_size(g) == expect_size);
    uint32_t u32;
    int64_t i64;
    float f;
    bool b;
    am_str s;
    CHECK(am_gguf_get_u32(g, "general.alignment", &u32) && u32 == 32);
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.u8")) == AM_GGUF_U8 && am_gguf_get_i64(g, "t.u8", &i64) && i64 == 200);
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.i8")) == AM_GGUF_I8 && am_gguf_get_i64(g, "t.i8", &i64) && i64 == -100);
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.u16")) == AM_GGUF_U16 && am_gguf_get_i64(g, "t.u16", &i64) && i64 == 60000);
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.i16")) == AM_GGUF_I16 && am_gguf_get_i64(g, "t.i16", &i64) && i64 == -30000);
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.u32")) == AM_GGUF_U32 && am_gguf_get_u32(g, "t.u32", &u32) && u32 == 4000000000u);
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.i32")) == AM_GGUF_I32 && am_gguf_get_i64(g, "t.i32", &i64) && i64 == -2000000000);
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.u64")) == AM_GGUF_U64 && am_gguf_get_i64(g, "t.u64", &i64) && i64 == 1ll << 40);
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.i64")) == AM_GGUF_I64 && am_gguf_get_i64(g, "t.i64", &i64) && i64 == -(1ll << 50));
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.f32")) == AM_GGUF_F32 && am_gguf_get_f32(g, "t.f32", &f) && f == 1.5f);
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.f64")) == AM_GGUF_F64 && am_gguf_get_f32(g, "t.f64", &f) && f == 0.125f);
    CHECK(am_gguf_kv_type(g, am_gguf_find_key(g, "t.bool")) == AM_GGUF_BOOL && am_gguf_get_bool(g, "t.bool", &b) && b);
    CHECK(am_gguf_get_str(g, "t.str", &s) && str_eq(s, "héllo", strlen("héllo")));
    CHECK(am_gguf_get_str(g, "t.strn", &s) && str_eq(s, "a\0b", 3));
    CHECK(am_gguf_get_str(g, "t.empty", &s) && s.n == 0);
    CHECK(am_gguf_get_u32(g, "t.replaced", &u32) && u32 == 7);
    /* 15 scalars (the replaced key once) + 9 arrays + alignment */
    CHECKF(am_gguf_n_kv(g) == 25, "n_kv %lld", (long long)am_gguf_n_kv(g));

    am_gguf_vtype et;
    uint64_t n;
    CHECK(am_gguf_get_arr(g, "a.i32", &et, &n) && et == AM_GGUF_I32 && n == 3 &&
          !memcmp(am_gguf_arr_data(g, "a.i32"), i32s, sizeof i32s));
    CHECK(am_gguf_get_arr(g, "a.f32", &et, &n) && et == AM_GGUF_F32 && n == 2 &&
          !memcmp(am_gguf_arr_data(g, "a.f32"), f32s, sizeof f32s));
    CHECK(am_gguf_get_arr(g, "a.bool", &et, &n) && et == AM_GGUF_BOOL && n == 4 &&
          !memcmp(am_gguf_arr_data(g, "a.bool"), bools, sizeof bools));
    CHECK(am_gguf_get_arr(g, "a.u64", &et, &n) && et == AM_GGUF_U64 && n == 2 &&
          !memcmp(am_gguf_arr_data(g, "a.u64"), u64s, sizeof u64s));
    CHECK(am_gguf_get_arr(g, "a.f64", &et, &n) && et == AM_GGUF_F64 && n == 2 &&
          !memcmp(am_gguf_arr_data(g, "a.f64"), f64s, sizeof f64s));
    CHECK(am_gguf_get_arr(g, "a.i16", &et, &n) && et == AM_GGUF_I16 && n == 2 &&
          !memcmp(am_gguf_arr_data(g, "a.i16"), i16s, sizeof i16s));
    CHECK(am_gguf_get_arr(g, "a.empty", &et, &n) && et == AM_GGUF_U8 && n == 0);
    CHECK(am_gguf_get_arr(g, "a.str", &et, &n) && et == AM_GGUF_STRING && n == 4);
    for (uint64_t i = 0; i < 4; i++) CHECK(str_eq(am_gguf_arr_str(g, "a.str", i), strs[i], strlen(strs[i])));
    CHECK(am_gguf_get_arr(g, "a.strn", &et, &n) && et == AM_GGUF_STRING && n == 2);
    CHECK(str_eq(am_gguf_arr_str(g, "a.strn", 0), "a\0b", 3) && str_eq(am_gguf_arr_str(g, "a.strn", 1), "cd", 2));

    CHECK(am_gguf_n_tensors(g) == (int64_t)AM_ARRAY_LEN(TENSORS));
    size_t off = 0;
    for (size_t i = 0; i < AM_ARRAY_LEN(TENSORS); i++) {
        const tdef *d = &TENSORS[i];
        const am_tensor *t = am_gguf_find_tensor(g, d->name);
        CHECKF(t, "%s", d->name);
        if (!t) continue;
        CHECK(t->type == d->type && t->n_dims == d->n_dims);
        for (int k = 0; k < 4; k++) CHECK(t->ne[k] == (k < d->n_dims ? d->ne[k] : 1));
        CHECK(((uintptr_t)t->data & 31) == 0); /* the mapping is page-aligned: offsets honour 32 */
        CHECKF(t->nbytes > 0 && !memcmp(t->data, data + off, t->nbytes), "%s data", d->name);
        off += t->nbytes;
    }
    am_gguf_close(g);
done:
    free(data);
    unlink(path);
    free(path);
}

static void test_bad_tensors(void) {
    am_err err;
    am_gguf_writer *w = am_gguf_writer_create();
    int64_t ne[2] = {33, 2};
    CHECK(am_gguf_writer_add_tensor(w, "x", AM_TYPE_Q8_0, 2, ne, &err) == -1 && strstr(err.msg, "multiple"));
    ne[0] = 32;
    CHECK(am_gguf_writer_add_tensor(w, "x", AM_TYPE_Q8_0, 2, ne, &err) == 0);
    CHECK(am_gguf_writer_add_tensor(w, "x", AM_TYPE_Q8_0, 2, ne, &err) == -1 && strstr(err.msg, "twice"));
    CHECK(am_gguf_writer_add_tensor(w, "y", AM_TYPE_F32, 0, ne, &err) == -1);
    CHECK(am_gguf_writer_add_tensor(w, "y", AM_TYPE_F32, 5, ne, &err) == -1);
    CHECK(am_gguf_writer_add_tensor(w, "y", (am_type)3, 1, ne, &err) == -1);
    char longname[80];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK(am_gguf_writer_add_tensor(w, longname, AM_TYPE_F32, 1, ne, &err) == -1);
    int64_t huge[2] = {INT64_MAX / 2, 1 << 30};
    CHECK(am_gguf_writer_add_tensor(w, "huge", AM_TYPE_F32, 2, huge, &err) == -1);
    int64_t zero[2] = {32, 0};
    CHECK(am_gguf_writer_add_tensor(w, "zero", AM_TYPE_F32, 2, zero, &err) == -1);
    CHECK(am_gguf_writer_n_tensors(w) == 1);
    am_gguf_writer_free(w);
}

static am_gguf_writer *small_writer(void) {
    am_err err;
    am_gguf_writer *w = am_gguf_writer_create();
    am_gguf_writer_set_str(w, "general.architecture", "llama");
    int64_t ne[1] = {8};
    CHECK(am_gguf_writer_add_tensor(w, "t", AM_TYPE_F32, 1, ne, &err) == 0);
    return w;
}

static void test_failures(void) {
    am_err err;
    float v[9] = {0};
    int before = dir_entries();

    /* unwritable: the directory does not exist */
    am_gguf_writer *w = small_writer();
    CHECK(am_gguf_writer_begin(w, "/nonexistent-dir/x.gguf", &err) == -1 && strstr(err.msg, "x.gguf"));
    CHECK(!am_file_exists("/nonexistent-dir/x.gguf"));
    CHECK(am_gguf_writer_write(w, v, 4, &err) == -1);
    CHECK(am_gguf_writer_finish(w, &err) == -1);
    am_gguf_writer_free(w);

    /* an existing target survives every failed write */
    char *path = tmp_path("keep.gguf");
    FILE *fp = fopen(path, "w");
    fputs("old", fp);
    fclose(fp);
    before = dir_entries();

    w = small_writer(); /* too many bytes */
    CHECK(am_gguf_writer_begin(w, path, &err) == 0);
    CHECK(dir_entries() == before + 1); /* the temporary file */
    CHECK(am_gguf_writer_write(w, v, sizeof v, &err) == -1 && strstr(err.msg, "more than"));
    CHECK(dir_entries() == before);
    CHECK(am_gguf_writer_finish(w, &err) == -1);
    am_gguf_writer_free(w);

    w = small_writer(); /* too few bytes */
    CHECK(am_gguf_writer_begin(w, path, &err) == 0);
    CHECK(am_gguf_writer_write(w, v, 7 * sizeof(float), &err) == 0);
    CHECK(am_gguf_writer_finish(w, &err) == -1 && strstr(err.msg, "28 of 32"));
    CHECK(dir_entries() == before);
    am_gguf_writer_free(w);

    w = small_writer(); /* abandoned after begin */
    CHECK(am_gguf_writer_begin(w, path, &err) == 0);
    CHECK(am_gguf_writer_write(w, v, 8 * sizeof(float), &err) == 0);
    am_gguf_writer_free(w);
    CHECK(dir_entries() == before);

    size_t n = 0;
    char *text = am_file_read_all(path, 100, &n, &err);
    CHECK(text && n == 3 && !memcmp(text, "old", 3));
    free(text);

    w = small_writer(); /* and a good write replaces it */
    CHECK(am_gguf_writer_begin(w, path, &err) == 0);
    CHECK(am_gguf_writer_write(w, v, 8 * sizeof(float), &err) == 0);
    CHECK(am_gguf_writer_finish(w, &err) == 0);
    am_gguf_writer_free(w);
    CHECK(dir_entries() == before);
    am_gguf *g = am_gguf_open(path, &err);
    CHECKF(g && am_gguf_n_tensors(g) == 1, "%s", err.msg);
    am_gguf_close(g);
    unlink(path);
    free(path);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/am_gguf_write_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    AM_TEST_RUN(test_round_trip);
    AM_TEST_RUN(test_bad_tensors);
    AM_TEST_RUN(test_failures);
    rmdir(tmpdir);
    AM_TEST_EXIT();
}
