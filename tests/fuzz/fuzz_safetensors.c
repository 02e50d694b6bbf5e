/*
 * fuzz_safetensors.c — am_st_open_memory on arbitrary bytes.
 *
 * On success: one shard, tensors sorted by name and found by name, each
 * tensor's shape × dtype size equal to its nbytes (recomputed here with
 * overflow checks), its data inside the input's data section, and every byte
 * of it readable (ASan checks the exact-size input).
 */
#include <string.h>

#include "fuzz/fuzz.h"
#include "model/safetensors.h"

static unsigned dtype_size(const char *d) {
    static const struct { const char *n; unsigned s; } T[] = {
        {"BF16", 2}, {"F16", 2}, {"F32", 4}, {"F64", 8}, {"I64", 8}, {"U64", 8}, {"I32", 4}, {"U32", 4},
        {"I16", 2}, {"U16", 2}, {"I8", 1}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
        {"F8_E8M0", 1},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(T[i].n, d)) return T[i].s;
    return 0;
}

AM_FUZZ_TARGET(safetensors) {
    am_err err = {0};
    am_st *st = am_st_open_memory(data, size, "fuzz.safetensors", &err);
    if (!st) {
        FUZZ_CHECK(err.msg[0] != 0);
        return 0;
    }
    FUZZ_CHECK(am_st_n_files(st) == 1 && am_st_total_bytes(st) == size);
    FUZZ_CHECK(size >= 8);
    uint64_t hlen;
    memcpy(&hlen, data, 8);
    FUZZ_CHECK(hlen <= size - 8);
    const uint8_t *body = data + 8 + hlen;
    size_t body_size = size - 8 - (size_t)hlen;
    int64_t n = am_st_n_tensors(st);
    FUZZ_CHECK(n >= 0);
    for (int64_t i = 0; i < n; i++) {
        const am_st_tensor *t = am_st_tensor_at(st, i);
        FUZZ_CHECK(t && t->name && t->dtype);
        FUZZ_CHECK(am_st_find(st, t->name) == t);
        if (i > 0) FUZZ_CHECK(strcmp(am_st_tensor_at(st, i - 1)->name, t->name) < 0);
        unsigned es = dtype_size(t->dtype);
        FUZZ_CHECK(es != 0);
        FUZZ_CHECK(t->supported == (!strcmp(t->dtype, "BF16") || !strcmp(t->dtype, "F16") ||
                                    !strcmp(t->dtype, "F32")));
        if (t->supported) FUZZ_CHECK(am_type_block_bytes(t->type) == es);
        FUZZ_CHECK(t->n_dims >= 0 && t->n_dims <= AM_ST_MAX_DIMS);
        FUZZ_CHECK(t->file == 0);
        uint64_t nel = 1;
        for (int d = 0; d < t->n_dims; d++) {
            FUZZ_CHECK(t->shape[d] >= 0);
            FUZZ_CHECK(!__builtin_mul_overflow(nel, (uint64_t)t->shape[d], &nel));
        }
        uint64_t nbytes;
        FUZZ_CHECK(!__builtin_mul_overflow(nel, es, &nbytes) && nbytes == t->nbytes);
        FUZZ_CHECK(am_fuzz_inside(body, body_size, t->data, t->nbytes));
        am_fuzz_sink ^= am_fuzz_touch(t->data, t->nbytes);
    }
    FUZZ_CHECK(am_st_tensor_at(st, n) == NULL);
    am_st_close(st);
    return 0;
}
