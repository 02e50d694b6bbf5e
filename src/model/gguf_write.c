/*
 * gguf_write.c — GGUF v3 serialization: metadata and tensor infos from
 * memory, tensor data streamed by the caller. Owns copies of every key and
 * value; never holds tensor data beyond its output buffer; never leaves a
 * partial file (am_atomic_file).
 *
 * Layout written (all little-endian, as GGUF requires):
 *   "GGUF" u32 version=3 u64 n_tensors u64 n_kv
 *   n_kv × { str key, u32 type, value }         str = u64 len + bytes
 *   n_tensors × { str name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   zero padding to the alignment
 *   tensor data, each tensor at its offset (relative to the data start),
 *   each padded with zeros to the alignment
 */
#include "model/gguf_write.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic_file.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf_write.c writes host-order integers: little-endian hosts only"
#endif

#define OBUF_SIZE ((size_t)1 << 20)
#define MAX_NAME 63

typedef struct kv {
    char *key;
    am_gguf_vtype type;
    am_gguf_vtype elem;   /* arrays */
    uint64_t n;           /* arrays: element count; strings: byte length */
    uint8_t scalar[8];
    uint8_t *data;        /* string bytes, numeric array elements, or string-array blob */
    uint64_t *offs;       /* string arrays: [n+1] offsets into data */
} kv;

typedef struct tinfo {
    char *name;
    am_type type;
    int n_dims;
    int64_t ne[4];
    uint64_t nbytes;
    uint64_t offset;      /* from the start of the data section */
} tinfo;

struct am_gguf_writer {
    kv *kvs;
    int64_t n_kv, cap_kv;
    tinfo *ts;
    int64_t n_t, cap_t;
    uint64_t data_size;   /* padded */

    bool begun, failed;
    am_atomic_file file;
    uint8_t *obuf;
    size_t obuf_n;
    int64_t cur;          /* tensor being written */
    uint64_t cur_done;    /* bytes of it written */
};

static uint64_t align_up(uint64_t x) {
    return (x + AM_GGUF_WRITE_ALIGNMENT - 1) / AM_GGUF_WRITE_ALIGNMENT * AM_GGUF_WRITE_ALIGNMENT;
}

am_gguf_writer *am_gguf_writer_create(void) {
    am_gguf_writer *w = am_xcalloc(1, sizeof *w);
    w->file.fd = -1;
    am_gguf_writer_set_u32(w, "general.alignment", AM_GGUF_WRITE_ALIGNMENT);
    return w;
}

static void kv_clear(kv *e) {
    free(e->data);
    free(e->offs);
    e->data = NULL;
    e->offs = NULL;
}

void am_gguf_writer_free(am_gguf_writer *w) {
    if (!w) return;
    am_atomic_file_abort(&w->file);
    for (int64_t i = 0; i < w->n_kv; i++) {
        kv_clear(&w->kvs[i]);
        free(w->kvs[i].key);
    }
    for (int64_t i = 0; i < w->n_t; i++) free(w->ts[i].name);
    free(w->kvs);
    free(w->ts);
    free(w->obuf);
    free(w);
}

/* The entry for key, cleared for a new value (created at the end if new). */
static kv *slot(am_gguf_writer *w, const char *key, am_gguf_vtype type) {
    assert(key && !w->begun);
    assert(strcmp(key, "general.alignment") || w->n_kv == 0); /* the writer owns it */
    for (int64_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kvs[i].key, key)) {
            kv *e = &w->kvs[i];
            kv_clear(e);
            e->type = type;
            return e;
        }
    }
    if (w->n_kv == w->cap_kv) {
        w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 32;
        w->kvs = am_xrealloc(w->kvs, (size_t)w->cap_kv * sizeof *w->kvs);
    }
    kv *e = &w->kvs[w->n_kv++];
    memset(e, 0, sizeof *e);
    e->key = am_xstrdup(key);
    e->type = type;
    return e;
}

static void set_scalar(am_gguf_writer *w, const char *key, am_gguf_vtype t, const void *v) {
    kv *e = slot(w, key, t);
    memcpy(e->scalar, v, am_gguf_vtype_size(t));
}

#define SETTER(suffix, ctype, vt) \
    void am_gguf_writer_set_##suffix(am_gguf_writer *w, const char *key, ctype v) { set_scalar(w, key, vt, &v); }
SETTER(u8, uint8_t, AM_GGUF_U8)
SETTER(i8, int8_t, AM_GGUF_I8)
SETTER(u16, uint16_t, AM_GGUF_U16)
SETTER(i16, int16_t, AM_GGUF_I16)
SETTER(u32, uint32_t, AM_GGUF_U32)
SETTER(i32, int32_t, AM_GGUF_I32)
SETTER(u64, uint64_t, AM_GGUF_U64)
SETTER(i64, int64_t, AM_GGUF_I64)
SETTER(f32, float, AM_GGUF_F32)
SETTER(f64, double, AM_GGUF_F64)
#undef SETTER

void am_gguf_writer_set_bool(am_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    set_scalar(w, key, AM_GGUF_BOOL, &b);
}

void am_gguf_writer_set_strn(am_gguf_writer *w, const char *key, const char *s, size_t n) {
    assert(s || n == 0);
    kv *e = slot(w, key, AM_GGUF_STRING);
    e->data = am_xmalloc(n);
    if (n) memcpy(e->data, s, n);
    e->n = n;
}

void am_gguf_writer_set_str(am_gguf_writer *w, const char *key, const char *s) {
    am_gguf_writer_set_strn(w, key, s, strlen(s));
}

void am_gguf_writer_set_arr(am_gguf_writer *w, const char *key, am_gguf_vtype elem,
                            const void *data, uint64_t n) {
    size_t es = am_gguf_vtype_size(elem);
    assert(es > 0 && (data || n == 0));
    uint64_t bytes;
    if (!am_mul_ok(n, es, &bytes) || bytes > SIZE_MAX) {
        fprintf(stderr, "agentmem: array %s too large\n", key);
        abort();
    }
    kv *e = slot(w, key, AM_GGUF_ARRAY);
    e->elem = elem;
    e->n = n;
    e->data = am_xmalloc((size_t)bytes);
    if (bytes) memcpy(e->data, data, (size_t)bytes);
}

void am_gguf_writer_set_arr_str(am_gguf_writer *w, const char *key, const char *const *strs,
                                const size_t *lens, uint64_t n) {
    assert(strs || n == 0);
    kv *e = slot(w, key, AM_GGUF_ARRAY);
    e->elem = AM_GGUF_STRING;
    e->n = n;
    e->offs = am_xmalloc((size_t)(n + 1) * sizeof *e->offs);
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        e->offs[i] = total;
        total += lens ? lens[i] : strlen(strs[i]);
    }
    e->offs[n] = total;
    e->data = am_xmalloc((size_t)total);
    for (uint64_t i = 0; i < n; i++)
        memcpy(e->data + e->offs[i], strs[i], (size_t)(e->offs[i + 1] - e->offs[i]));
}

int am_gguf_writer_add_tensor(am_gguf_writer *w, const char *name, am_type type, int n_dims,
                              const int64_t *ne, am_err *err) {
    assert(!w->begun && name && ne);
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME) return am_err_set(err, "tensor name '%s': length must be 1..%d", name, MAX_NAME);
    if (!am_type_valid((uint32_t)type)) return am_err_set(err, "tensor %s: unsupported type %u", name, (unsigned)type);
    if (n_dims < 1 || n_dims > 4) return am_err_set(err, "tensor %s: %d dims (1..4 allowed)", name, n_dims);
    for (int64_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->ts[i].name, name)) return am_err_set(err, "tensor %s: added twice", name);
    uint64_t rows = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1) return am_err_set(err, "tensor %s: dim %d is %lld", name, d, (long long)ne[d]);
        if (d > 0 && !am_mul_ok(rows, (uint64_t)ne[d], &rows)) return am_err_set(err, "tensor %s: too large", name);
    }
    size_t row = am_type_row_bytes(type, ne[0]);
    if (row == 0)
        return am_err_set(err, "tensor %s: row of %lld is not a multiple of %s's block of %d", name,
                          (long long)ne[0], am_type_name(type), am_type_block_elems(type));
    uint64_t bytes, end;
    if (!am_mul_ok(rows, row, &bytes) || !am_add_ok(w->data_size, align_up(bytes), &end) || bytes > INT64_MAX)
        return am_err_set(err, "tensor %s: too large", name);
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 64;
        w->ts = am_xrealloc(w->ts, (size_t)w->cap_t * sizeof *w->ts);
    }
    tinfo *t = &w->ts[w->n_t++];
    t->name = am_xstrdup(name);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->nbytes = bytes;
    t->offset = w->data_size;
    w->data_size = end;
    return 0;
}

int64_t am_gguf_writer_n_tensors(const am_gguf_writer *w) { return w->n_t; }

int64_t am_gguf_writer_tensor_bytes(const am_gguf_writer *w, int64_t i) {
    return i >= 0 && i < w->n_t ? (int64_t)w->ts[i].nbytes : -1;
}

/* Bytes of everything before the data section (without its padding). */
static uint64_t header_bytes(const am_gguf_writer *w) {
    uint64_t n = 4 + 4 + 8 + 8;
    for (int64_t i = 0; i < w->n_kv; i++) {
        const kv *e = &w->kvs[i];
        n += 8 + strlen(e->key) + 4;
        if (e->type == AM_GGUF_STRING) n += 8 + e->n;
        else if (e->type == AM_GGUF_ARRAY) {
            n += 4 + 8;
            n += e->elem == AM_GGUF_STRING ? 8 * e->n + e->offs[e->n] : e->n * am_gguf_vtype_size(e->elem);
        } else n += am_gguf_vtype_size(e->type);
    }
    for (int64_t i = 0; i < w->n_t; i++) n += 8 + strlen(w->ts[i].name) + 4 + 8 * (uint64_t)w->ts[i].n_dims + 4 + 8;
    return n;
}

uint64_t am_gguf_writer_file_size(const am_gguf_writer *w) { return align_up(header_bytes(w)) + w->data_size; }

/* ---- output ---- */

static int flush(am_gguf_writer *w, am_err *err) {
    if (w->obuf_n == 0) return 0;
    size_t n = w->obuf_n;
    w->obuf_n = 0;
    if (am_atomic_file_write(&w->file, w->obuf, n, err) != 0) {
        w->failed = true;
        return -1;
    }
    return 0;
}

static int put(am_gguf_writer *w, const void *p, size_t n, am_err *err) {
    const uint8_t *s = p;
    if (w->failed) return am_err_set(err, "writer already failed");
    if (n >= OBUF_SIZE) {
        if (flush(w, err) != 0) return -1;
        if (am_atomic_file_write(&w->file, s, n, err) != 0) {
            w->failed = true;
            return -1;
        }
        return 0;
    }
    if (w->obuf_n + n > OBUF_SIZE && flush(w, err) != 0) return -1;
    memcpy(w->obuf + w->obuf_n, s, n);
    w->obuf_n += n;
    return 0;
}

static int put_u32(am_gguf_writer *w, uint32_t v, am_err *err) { return put(w, &v, 4, err); }
static int put_u64(am_gguf_writer *w, uint64_t v, am_err *err) { return put(w, &v, 8, err); }
static int put_str(am_gguf_writer *w, const void *s, uint64_t n, am_err *err) {
    return put_u64(w, n, err) || put(w, s, (size_t)n, err) ? -1 : 0;
}
static int put_zeros(am_gguf_writer *w, uint64_t n, am_err *err) {
    static const uint8_t zeros[AM_GGUF_WRITE_ALIGNMENT];
    return put(w, zeros, (size_t)n, err);
}

static int put_kv(am_gguf_writer *w, const kv *e, am_err *err) {
    if (put_str(w, e->key, strlen(e->key), err) || put_u32(w, (uint32_t)e->type, err)) return -1;
    if (e->type == AM_GGUF_STRING) return put_str(w, e->data, e->n, err);
    if (e->type != AM_GGUF_ARRAY) return put(w, e->scalar, am_gguf_vtype_size(e->type), err);
    if (put_u32(w, (uint32_t)e->elem, err) || put_u64(w, e->n, err)) return -1;
    if (e->elem != AM_GGUF_STRING) return put(w, e->data, (size_t)(e->n * am_gguf_vtype_size(e->elem)), err);
    for (uint64_t i = 0; i < e->n; i++)
        if (put_str(w, e->data + e->offs[i], e->offs[i + 1] - e->offs[i], err)) return -1;
    return 0;
}

int am_gguf_writer_begin(am_gguf_writer *w, const char *path, am_err *err) {
    assert(!w->begun);
    if (am_atomic_file_open(&w->file, path, err) != 0) return -1;
    w->begun = true;
    w->obuf = am_xmalloc(OBUF_SIZE);
    int rc = -1;
    if (put(w, "GGUF", 4, err) || put_u32(w, 3, err) || put_u64(w, (uint64_t)w->n_t, err) ||
        put_u64(w, (uint64_t)w->n_kv, err))
        goto out;
    for (int64_t i = 0; i < w->n_kv; i++)
        if (put_kv(w, &w->kvs[i], err)) goto out;
    for (int64_t i = 0; i < w->n_t; i++) {
        const tinfo *t = &w->ts[i];
        if (put_str(w, t->name, strlen(t->name), err) || put_u32(w, (uint32_t)t->n_dims, err)) goto out;
        for (int d = 0; d < t->n_dims; d++)
            if (put_u64(w, (uint64_t)t->ne[d], err)) goto out;
        if (put_u32(w, (uint32_t)t->type, err) || put_u64(w, t->offset, err)) goto out;
    }
    uint64_t h = header_bytes(w);
    if (put_zeros(w, align_up(h) - h, err)) goto out;
    w->cur = 0;
    w->cur_done = 0;
    rc = 0;
out:
    if (rc != 0) {
        w->failed = true;
        am_atomic_file_abort(&w->file);
    }
    return rc;
}

int am_gguf_writer_write(am_gguf_writer *w, const void *data, size_t n, am_err *err) {
    const uint8_t *p = data;
    if (!w->begun || w->failed) return am_err_set(err, "gguf writer: write without a successful begin");
    while (n > 0) {
        if (w->cur >= w->n_t) {
            w->failed = true;
            am_atomic_file_abort(&w->file);
            return am_err_set(err, "gguf writer: %zu bytes more than the tensors hold", n);
        }
        tinfo *t = &w->ts[w->cur];
        uint64_t take = AM_MIN((uint64_t)n, t->nbytes - w->cur_done);
        if (put(w, p, (size_t)take, err)) return -1;
        p += take;
        n -= (size_t)take;
        w->cur_done += take;
        if (w->cur_done == t->nbytes) {
            if (put_zeros(w, align_up(t->nbytes) - t->nbytes, err)) return -1;
            w->cur++;
            w->cur_done = 0;
        }
    }
    return 0;
}

int am_gguf_writer_finish(am_gguf_writer *w, am_err *err) {
    if (!w->begun || w->failed) return am_err_set(err, "gguf writer: finish without a successful begin");
    if (w->cur < w->n_t) {
        am_err_set(err, "gguf writer: tensor %s: %llu of %llu bytes written", w->ts[w->cur].name,
                   (unsigned long long)w->cur_done, (unsigned long long)w->ts[w->cur].nbytes);
        w->failed = true;
        am_atomic_file_abort(&w->file);
        return -1;
    }
    if (flush(w, err)) return -1;
    w->failed = true; /* nothing more may be written, whatever commit says */
    return am_atomic_file_commit(&w->file, err);
}
