/*
 * fuzz_gguf.c — am_gguf_open_memory on arbitrary bytes.
 *
 * On success every view the reader hands out must lie inside the input and
 * agree with what it describes: keys are unique and found by name, strings and
 * numeric arrays fit, every tensor's nbytes is exactly its shape's size in its
 * type (computed here with overflow checks) and its data lies inside the input
 * at the declared alignment. Every byte of every view is read, so ASan flags
 * a view that reaches past the (exact-size) input.
 */
#include <string.h>

#include "fuzz/fuzz.h"
#include "model/gguf.h"

static void check_kv(const am_gguf *g, const uint8_t *data, size_t size, int64_t i) {
    am_str k = am_gguf_key(g, i);
    FUZZ_CHECK(am_fuzz_inside(data, size, k.p, k.n));
    am_fuzz_sink ^= am_fuzz_touch(k.p, k.n);
    char key[256];
    if (k.n >= sizeof key || memchr(k.p, 0, k.n)) return; /* not reachable by a C-string lookup */
    memcpy(key, k.p, k.n);
    key[k.n] = 0;
    FUZZ_CHECK(am_gguf_find_key(g, key) == i);

    uint32_t u32;
    int64_t i64;
    float f;
    bool b;
    am_str s;
    am_gguf_vtype et;
    uint64_t n;
    am_fuzz_sink ^= (uint8_t)(am_gguf_get_u32(g, key, &u32) + am_gguf_get_i64(g, key, &i64) +
                              am_gguf_get_f32(g, key, &f) + am_gguf_get_bool(g, key, &b));
    if (am_gguf_get_str(g, key, &s)) {
        FUZZ_CHECK(am_gguf_kv_type(g, i) == AM_GGUF_STRING);
        FUZZ_CHECK(am_fuzz_inside(data, size, s.p, s.n));
        am_fuzz_sink ^= am_fuzz_touch(s.p, s.n);
    }
    if (!am_gguf_get_arr(g, key, &et, &n)) return;
    FUZZ_CHECK(am_gguf_kv_type(g, i) == AM_GGUF_ARRAY);
    static const uint8_t es[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (et == AM_GGUF_STRING) {
        FUZZ_CHECK(am_gguf_arr_data(g, key) == NULL);
        FUZZ_CHECK(n <= size / 8);
        for (uint64_t j = 0; j < n; j++) {
            am_str e = am_gguf_arr_str(g, key, j);
            FUZZ_CHECK(am_fuzz_inside(data, size, e.p, e.n));
            am_fuzz_sink ^= am_fuzz_touch(e.p, e.n);
        }
        FUZZ_CHECK(am_gguf_arr_str(g, key, n).n == 0);
    } else if ((unsigned)et < sizeof es && es[et]) {
        const void *p = am_gguf_arr_data(g, key);
        FUZZ_CHECK(p != NULL);
        FUZZ_CHECK(n <= size / es[et] && am_fuzz_inside(data, size, p, n * es[et]));
        am_fuzz_sink ^= am_fuzz_touch(p, n * es[et]);
    } else {
        FUZZ_CHECK(et == AM_GGUF_ARRAY); /* nested: validated, not indexed */
    }
}

static void check_tensor(const am_gguf *g, const uint8_t *data, size_t size, int64_t i) {
    const am_tensor *t = am_gguf_tensor(g, i);
    FUZZ_CHECK(t && t->name && t->name[0]);
    FUZZ_CHECK(am_gguf_find_tensor(g, t->name) == t);
    FUZZ_CHECK(t->n_dims >= 1 && t->n_dims <= 4);
    FUZZ_CHECK(am_type_valid(t->type));
    uint64_t nel = 1;
    for (int d = 0; d < 4; d++) {
        FUZZ_CHECK(t->ne[d] >= 1);
        FUZZ_CHECK(d < t->n_dims || t->ne[d] == 1);
        FUZZ_CHECK(!__builtin_mul_overflow(nel, (uint64_t)t->ne[d], &nel));
    }
    /* The size a caller computes from the shape must be the size the reader checked. */
    uint64_t be = (uint64_t)am_type_block_elems(t->type), bb = am_type_block_bytes(t->type);
    FUZZ_CHECK(t->ne[0] % (int64_t)be == 0);
    uint64_t row, total;
    FUZZ_CHECK(!__builtin_mul_overflow((uint64_t)t->ne[0] / be, bb, &row));
    FUZZ_CHECK(!__builtin_mul_overflow(row, nel / (uint64_t)t->ne[0], &total));
    FUZZ_CHECK(total == t->nbytes);
    FUZZ_CHECK(am_fuzz_inside(data, size, t->data, t->nbytes));
    am_fuzz_sink ^= am_fuzz_touch(t->data, t->nbytes);
    uint32_t al = 32;
    am_gguf_get_u32(g, "general.alignment", &al);
    FUZZ_CHECK(al && ((uintptr_t)t->data - (uintptr_t)data) % al == 0);
}

AM_FUZZ_TARGET(gguf) {
    am_err err = {0};
    am_gguf *g = am_gguf_open_memory(data, size, "fuzz.gguf", &err);
    if (!g) {
        FUZZ_CHECK(err.msg[0] != 0); /* a failure always says why */
        return 0;
    }
    FUZZ_CHECK(am_gguf_version(g) == 2 || am_gguf_version(g) == 3);
    FUZZ_CHECK(am_gguf_file_size(g) == size);
    FUZZ_CHECK(am_gguf_n_kv(g) >= 0 && am_gguf_n_tensors(g) >= 0);
    for (int64_t i = 0; i < am_gguf_n_kv(g); i++) check_kv(g, data, size, i);
    for (int64_t i = 0; i < am_gguf_n_tensors(g); i++) check_tensor(g, data, size, i);
    FUZZ_CHECK(am_gguf_tensor(g, am_gguf_n_tensors(g)) == NULL);
    FUZZ_CHECK(am_gguf_find_key(g, "no such key \x01") == -1);
    am_gguf_close(g);
    return 0;
}
