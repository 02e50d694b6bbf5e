/*
 * gguf.c — GGUF v2/v3 reader over a read-only mmap.
 *
 * Owns: the mapping, the key/value index, tensor views (names copied and
 * NUL-terminated; data pointing into the mapping).
 * Must never: read a byte before checking it lies inside the file, multiply
 * or add a file-controlled size without an overflow check, or allocate in
 * proportion to a count before that count is bounded by the bytes left.
 *
 * Layout: magic "GGUF", u32 version, u64 n_tensors, u64 n_kv, n_kv × {str key,
 * u32 type, value}, n_tensors × {str name, u32 n_dims, u64 ne[n_dims], u32 type,
 * u64 offset}, padding to general.alignment, tensor data (offsets relative to
 * the data start). A string is u64 length + bytes (no terminator).
 */
#define _GNU_SOURCE
#include "model/gguf.h"

#include <sys/mman.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

#define GGUF_MAX_ARRAY_DEPTH 4     /* arrays of arrays are legal; nesting is bounded */
#define GGUF_MAX_NAME 256          /* tensor names (ggml itself caps them at 63) */
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf_kv {
    am_str key;
    uint32_t type;
    union {
        uint64_t u;  /* unsigned ints and bool */
        int64_t i;   /* signed ints */
        double f;    /* f32/f64 */
        am_str s;
    } v;
    /* arrays */
    uint32_t arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data; /* first element in the mapping */
    am_str *arr_strs;        /* string arrays: [arr_n] views, owned */
} gguf_kv;

struct am_gguf {
    am_mapped_file map;
    bool borrowed;            /* map is the caller's buffer (am_gguf_open_memory): never unmapped */
    uint32_t version;
    uint64_t alignment;
    int64_t n_kv;
    gguf_kv *kv;
    gguf_kv **kv_sorted;      /* by key, for lookup */
    int64_t n_tensors;
    am_tensor *tensors;
    am_tensor **t_sorted;     /* by name */
    char *names;              /* all tensor names, NUL-separated */
    uint64_t data_start;
};

typedef struct cursor {
    const uint8_t *p;
    uint64_t size, pos;
    am_err *err;
} cursor;

static uint64_t left(const cursor *c) { return c->size - c->pos; }

static int need(cursor *c, uint64_t n, const char *what) {
    if (n > left(c))
        return am_err_set(c->err, "truncated at byte %llu: %s needs %llu bytes, %llu left",
                          (unsigned long long)c->pos, what, (unsigned long long)n,
                          (unsigned long long)left(c));
    return 0;
}

static int rd_u32(cursor *c, uint32_t *out, const char *what) {
    if (need(c, 4, what)) return -1;
    memcpy(out, c->p + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *out, const char *what) {
    if (need(c, 8, what)) return -1;
    memcpy(out, c->p + c->pos, 8);
    c->pos += 8;
    return 0;
}

/* A string: its length is checked against the bytes left before anything
 * else (no len+1 arithmetic is ever done on it). */
static int rd_str(cursor *c, am_str *out, const char *what) {
    uint64_t n;
    if (rd_u64(c, &n, what)) return -1;
    if (n > left(c))
        return am_err_set(c->err, "%s: string length %llu exceeds the %llu bytes left at byte %llu",
                          what, (unsigned long long)n, (unsigned long long)left(c),
                          (unsigned long long)c->pos);
    out->p = (const char *)c->p + c->pos;
    out->n = n;
    c->pos += n;
    return 0;
}

size_t am_gguf_vtype_size(uint32_t t) {
    switch (t) {
    case AM_GGUF_U8: case AM_GGUF_I8: case AM_GGUF_BOOL: return 1;
    case AM_GGUF_U16: case AM_GGUF_I16: return 2;
    case AM_GGUF_U32: case AM_GGUF_I32: case AM_GGUF_F32: return 4;
    case AM_GGUF_U64: case AM_GGUF_I64: case AM_GGUF_F64: return 8;
    default: return 0;
    }
}

static const char *vtype_name(uint32_t t) {
    static const char *n[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                              "string", "array", "u64", "i64", "f64"};
    return t < AM_ARRAY_LEN(n) ? n[t] : "invalid";
}

/* Reads one scalar into kv->v. */
static void read_scalar(const uint8_t *p, uint32_t t, gguf_kv *kv) {
    switch (t) {
    case AM_GGUF_U8: kv->v.u = p[0]; break;
    case AM_GGUF_BOOL: kv->v.u = p[0] != 0; break;
    case AM_GGUF_I8: { int8_t x; memcpy(&x, p, 1); kv->v.i = x; break; }
    case AM_GGUF_U16: { uint16_t x; memcpy(&x, p, 2); kv->v.u = x; break; }
    case AM_GGUF_I16: { int16_t x; memcpy(&x, p, 2); kv->v.i = x; break; }
    case AM_GGUF_U32: { uint32_t x; memcpy(&x, p, 4); kv->v.u = x; break; }
    case AM_GGUF_I32: { int32_t x; memcpy(&x, p, 4); kv->v.i = x; break; }
    case AM_GGUF_U64: { uint64_t x; memcpy(&x, p, 8); kv->v.u = x; break; }
    case AM_GGUF_I64: { int64_t x; memcpy(&x, p, 8); kv->v.i = x; break; }
    case AM_GGUF_F32: { float x; memcpy(&x, p, 4); kv->v.f = x; break; }
    case AM_GGUF_F64: { double x; memcpy(&x, p, 8); kv->v.f = x; break; }
    default: break;
    }
}

/* Skips (validating) an array body of n elements of type t; used for the
 * elements of nested arrays, which are checked but not indexed. */
static int skip_array(cursor *c, uint32_t t, uint64_t n, int depth, const char *key) {
    if (depth > GGUF_MAX_ARRAY_DEPTH)
        return am_err_set(c->err, "key %s: arrays nested deeper than %d", key, GGUF_MAX_ARRAY_DEPTH);
    size_t es = am_gguf_vtype_size(t);
    if (es) {
        uint64_t bytes;
        if (!am_mul_ok(n, es, &bytes) || bytes > left(c))
            return am_err_set(c->err, "key %s: array of %llu %s exceeds the file", key,
                              (unsigned long long)n, vtype_name(t));
        c->pos += bytes;
        return 0;
    }
    if (t == AM_GGUF_STRING) {
        if (n > left(c) / 8)
            return am_err_set(c->err, "key %s: %llu strings cannot fit in %llu bytes", key,
                              (unsigned long long)n, (unsigned long long)left(c));
        for (uint64_t i = 0; i < n; i++) {
            am_str s;
            if (rd_str(c, &s, key)) return -1;
        }
        return 0;
    }
    if (t == AM_GGUF_ARRAY) {
        if (n > left(c) / 12)
            return am_err_set(c->err, "key %s: %llu nested arrays cannot fit in %llu bytes", key,
                              (unsigned long long)n, (unsigned long long)left(c));
        for (uint64_t i = 0; i < n; i++) {
            uint32_t et;
            uint64_t en;
            if (rd_u32(c, &et, key) || rd_u64(c, &en, key)) return -1;
            if (skip_array(c, et, en, depth + 1, key)) return -1;
        }
        return 0;
    }
    return am_err_set(c->err, "key %s: invalid array element type %u", key, t);
}

static int read_kv(cursor *c, gguf_kv *kv, int64_t idx) {
    char what[48];
    snprintf(what, sizeof what, "key #%lld", (long long)idx);
    if (rd_str(c, &kv->key, what)) return -1;
    char key[96];
    snprintf(key, sizeof key, "%.*s", (int)AM_MIN(kv->key.n, 80), kv->key.p);
    if (rd_u32(c, &kv->type, key)) return -1;
    size_t es = am_gguf_vtype_size(kv->type);
    if (es) {
        if (need(c, es, key)) return -1;
        read_scalar(c->p + c->pos, kv->type, kv);
        c->pos += es;
        return 0;
    }
    if (kv->type == AM_GGUF_STRING) return rd_str(c, &kv->v.s, key);
    if (kv->type != AM_GGUF_ARRAY)
        return am_err_set(c->err, "key %s: invalid value type %u", key, kv->type);
    if (rd_u32(c, &kv->arr_type, key) || rd_u64(c, &kv->arr_n, key)) return -1;
    kv->arr_data = c->p + c->pos;
    if (kv->arr_type == AM_GGUF_STRING) {
        /* Bound the count by the bytes left (each string needs >= 8) before allocating. */
        if (kv->arr_n > left(c) / 8)
            return am_err_set(c->err, "key %s: %llu strings cannot fit in %llu bytes", key,
                              (unsigned long long)kv->arr_n, (unsigned long long)left(c));
        kv->arr_strs = am_xmalloc((size_t)AM_MAX(kv->arr_n, 1) * sizeof(am_str));
        for (uint64_t i = 0; i < kv->arr_n; i++)
            if (rd_str(c, &kv->arr_strs[i], key)) return -1;
        return 0;
    }
    return skip_array(c, kv->arr_type, kv->arr_n, 1, key);
}

static int strview_cmp(am_str a, am_str b) {
    int r = memcmp(a.p, b.p, AM_MIN(a.n, b.n));
    if (r) return r;
    return a.n < b.n ? -1 : a.n > b.n;
}

static int kv_ptr_cmp(const void *a, const void *b) {
    return strview_cmp((*(gguf_kv *const *)a)->key, (*(gguf_kv *const *)b)->key);
}

static int t_ptr_cmp(const void *a, const void *b) {
    return strcmp((*(am_tensor *const *)a)->name, (*(am_tensor *const *)b)->name);
}

static gguf_kv *find_kv(const am_gguf *g, const char *key) {
    am_str k = {key, strlen(key)};
    int64_t lo = 0, hi = g->n_kv - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int r = strview_cmp(g->kv_sorted[mid]->key, k);
        if (!r) return g->kv_sorted[mid];
        if (r < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static int read_tensor_info(cursor *c, am_gguf *g, int64_t idx, char **name_out, uint64_t *offset) {
    char what[48];
    snprintf(what, sizeof what, "tensor #%lld name", (long long)idx);
    am_str name;
    if (rd_str(c, &name, what)) return -1;
    if (name.n == 0 || name.n >= GGUF_MAX_NAME)
        return am_err_set(c->err, "tensor #%lld: name length %llu (must be 1..%d)", (long long)idx,
                          (unsigned long long)name.n, GGUF_MAX_NAME - 1);
    if (memchr(name.p, 0, name.n))
        return am_err_set(c->err, "tensor #%lld: name contains a NUL byte", (long long)idx);
    memcpy(*name_out, name.p, name.n);
    (*name_out)[name.n] = 0;
    const char *nm = *name_out;
    am_tensor *t = &g->tensors[idx];
    t->name = nm;
    *name_out += name.n + 1;

    uint32_t n_dims, type;
    if (rd_u32(c, &n_dims, nm)) return -1;
    if (n_dims < 1 || n_dims > 4)
        return am_err_set(c->err, "tensor %s: %u dimensions (must be 1..4)", nm, n_dims);
    t->n_dims = (int)n_dims;
    uint64_t nel = 1;
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne;
        if (rd_u64(c, &ne, nm)) return -1;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return am_err_set(c->err, "tensor %s: dimension %u is %llu", nm, d, (unsigned long long)ne);
        if (!am_mul_ok(nel, ne, &nel) || nel > (uint64_t)INT64_MAX)
            return am_err_set(c->err, "tensor %s: element count overflows", nm);
        t->ne[d] = (int64_t)ne;
    }
    if (rd_u32(c, &type, nm)) return -1;
    if (!am_type_valid(type))
        return am_err_set(c->err, "tensor %s: type %s is not supported (supported: f32, f16, bf16, "
                          "q8_0, q4_0, q4_k, q5_k, q6_k)", nm, am_ggml_type_name(type));
    t->type = (am_type)type;
    size_t row = am_type_row_bytes(t->type, t->ne[0]);
    if (row == 0)
        return am_err_set(c->err, "tensor %s: row of %lld elements is not a whole number of %s blocks (%d) "
                          "or too large", nm, (long long)t->ne[0], am_type_name(t->type),
                          am_type_block_elems(t->type));
    uint64_t nbytes;
    if (!am_mul_ok(row, nel / (uint64_t)t->ne[0], &nbytes) || nbytes > SIZE_MAX)
        return am_err_set(c->err, "tensor %s: byte size overflows", nm);
    t->nbytes = (size_t)nbytes;
    if (rd_u64(c, offset, nm)) return -1;
    return 0;
}

/* Parses g->map (the file's bytes); on failure prefixes err with name and
 * closes g. */
static am_gguf *gguf_parse(am_gguf *g, const char *path, am_err *err) {
    cursor c = {g->map.data, g->map.size, 0, err};
    uint64_t *offsets = NULL;
    uint64_t n_tensors, n_kv;
    if (g->map.size < 4 || memcmp(g->map.data, "GGUF", 4)) {
        am_err_set(err, "not a GGUF file (bad magic)");
        goto fail;
    }
    c.pos = 4;
    if (rd_u32(&c, &g->version, "version")) goto fail;
    if (g->version != 2 && g->version != 3) {
        if (g->version == 0x02000000u || g->version == 0x03000000u)
            am_err_set(err, "big-endian GGUF files are not supported");
        else
            am_err_set(err, "GGUF version %u is not supported (2 and 3 are)", g->version);
        goto fail;
    }
    if (rd_u64(&c, &n_tensors, "tensor count") || rd_u64(&c, &n_kv, "key count")) goto fail;
    /* A key needs at least 8 (length) + 4 (type) + 1 bytes; a tensor info 8+4+8+4+8. */
    if (n_kv > left(&c) / 13) {
        am_err_set(err, "key count %llu cannot fit in a %zu-byte file", (unsigned long long)n_kv, g->map.size);
        goto fail;
    }
    if (n_tensors > left(&c) / 32) {
        am_err_set(err, "tensor count %llu cannot fit in a %zu-byte file", (unsigned long long)n_tensors,
                   g->map.size);
        goto fail;
    }
    g->n_kv = (int64_t)n_kv;
    g->kv = am_xcalloc((size_t)AM_MAX(n_kv, 1), sizeof *g->kv);
    for (int64_t i = 0; i < g->n_kv; i++)
        if (read_kv(&c, &g->kv[i], i)) goto fail;

    g->kv_sorted = am_xmalloc((size_t)AM_MAX(n_kv, 1) * sizeof *g->kv_sorted);
    for (int64_t i = 0; i < g->n_kv; i++) g->kv_sorted[i] = &g->kv[i];
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, kv_ptr_cmp);
    for (int64_t i = 1; i < g->n_kv; i++)
        if (!strview_cmp(g->kv_sorted[i - 1]->key, g->kv_sorted[i]->key)) {
            am_err_set(err, "duplicate key %.*s", (int)AM_MIN(g->kv_sorted[i]->key.n, 80),
                       g->kv_sorted[i]->key.p);
            goto fail;
        }

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    gguf_kv *al = find_kv(g, "general.alignment");
    if (al) {
        if (al->type != AM_GGUF_U32 || al->v.u == 0 || (al->v.u & (al->v.u - 1))) {
            am_err_set(err, "general.alignment must be a power-of-two u32");
            goto fail;
        }
        g->alignment = al->v.u;
    }

    /* Tensor infos: names are copied (at most the bytes left in the file). */
    g->n_tensors = (int64_t)n_tensors;
    g->tensors = am_xcalloc((size_t)AM_MAX(n_tensors, 1), sizeof *g->tensors);
    offsets = am_xcalloc((size_t)AM_MAX(n_tensors, 1), sizeof *offsets);
    /* Each name is < GGUF_MAX_NAME bytes plus its NUL, and all names lie in the bytes left. */
    g->names = am_xmalloc((size_t)AM_MIN(left(&c) + n_tensors, n_tensors * GGUF_MAX_NAME) + 1);
    char *np = g->names;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (read_tensor_info(&c, g, i, &np, &offsets[i])) goto fail;

    uint64_t data_start = c.pos;
    uint64_t rem = data_start % g->alignment;
    if (rem && !am_add_ok(data_start, g->alignment - rem, &data_start)) goto overflow;
    g->data_start = data_start;
    if (g->n_tensors > 0 && data_start > g->map.size) {
        am_err_set(err, "tensor data would start at byte %llu, past the end of the %zu-byte file",
                   (unsigned long long)data_start, g->map.size);
        goto fail;
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        am_tensor *t = &g->tensors[i];
        uint64_t end;
        if (offsets[i] % g->alignment) {
            am_err_set(err, "tensor %s: offset %llu is not a multiple of the alignment %llu", t->name,
                       (unsigned long long)offsets[i], (unsigned long long)g->alignment);
            goto fail;
        }
        if (!am_add_ok(data_start, offsets[i], &end) || !am_add_ok(end, t->nbytes, &end) ||
            end > g->map.size) {
            am_err_set(err, "tensor %s: data (offset %llu, %zu bytes) lies past the end of the file", t->name,
                       (unsigned long long)offsets[i], t->nbytes);
            goto fail;
        }
        t->data = g->map.data + data_start + offsets[i];
    }
    g->t_sorted = am_xmalloc((size_t)AM_MAX(n_tensors, 1) * sizeof *g->t_sorted);
    for (int64_t i = 0; i < g->n_tensors; i++) g->t_sorted[i] = &g->tensors[i];
    qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, t_ptr_cmp);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (!strcmp(g->t_sorted[i - 1]->name, g->t_sorted[i]->name)) {
            am_err_set(err, "duplicate tensor %s", g->t_sorted[i]->name);
            goto fail;
        }
    free(offsets);
    return g;

overflow:
    am_err_set(err, "size overflow");
fail:
    free(offsets);
    am_err_prefix(err, "%s", path);
    am_gguf_close(g);
    return NULL;
}

am_gguf *am_gguf_open(const char *path, am_err *err) {
    am_gguf *g = am_xcalloc(1, sizeof *g);
    if (am_file_map(path, &g->map, err)) {
        free(g);
        return NULL;
    }
    return gguf_parse(g, path, err);
}

am_gguf *am_gguf_open_memory(const void *data, size_t size, const char *name, am_err *err) {
    am_gguf *g = am_xcalloc(1, sizeof *g);
    g->map.data = size ? data : NULL;
    g->map.size = size;
    g->borrowed = true;
    return gguf_parse(g, name ? name : "(memory)", err);
}

void am_gguf_close(am_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].arr_strs);
    free(g->kv);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->t_sorted);
    free(g->names);
    if (!g->borrowed) am_file_unmap(&g->map);
    free(g);
}

uint32_t am_gguf_version(const am_gguf *g) { return g->version; }
int64_t am_gguf_n_kv(const am_gguf *g) { return g->n_kv; }
size_t am_gguf_file_size(const am_gguf *g) { return g->map.size; }
int64_t am_gguf_n_tensors(const am_gguf *g) { return g->n_tensors; }

int64_t am_gguf_find_key(const am_gguf *g, const char *key) {
    gguf_kv *kv = find_kv(g, key);
    return kv ? kv - g->kv : -1;
}

am_str am_gguf_key(const am_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_kv) return (am_str){"", 0};
    return g->kv[i].key;
}

am_gguf_vtype am_gguf_kv_type(const am_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_kv) return (am_gguf_vtype)-1;
    return (am_gguf_vtype)g->kv[i].type;
}

static bool is_unsigned(uint32_t t) {
    return t == AM_GGUF_U8 || t == AM_GGUF_U16 || t == AM_GGUF_U32 || t == AM_GGUF_U64;
}
static bool is_signed(uint32_t t) {
    return t == AM_GGUF_I8 || t == AM_GGUF_I16 || t == AM_GGUF_I32 || t == AM_GGUF_I64;
}

bool am_gguf_get_i64(const am_gguf *g, const char *key, int64_t *out) {
    gguf_kv *kv = find_kv(g, key);
    if (!kv) return false;
    if (is_signed(kv->type)) {
        *out = kv->v.i;
        return true;
    }
    if (is_unsigned(kv->type) && kv->v.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kv->v.u;
        return true;
    }
    return false;
}

bool am_gguf_get_u32(const am_gguf *g, const char *key, uint32_t *out) {
    gguf_kv *kv = find_kv(g, key);
    if (!kv) return false;
    if (is_unsigned(kv->type) && kv->v.u <= UINT32_MAX) {
        *out = (uint32_t)kv->v.u;
        return true;
    }
    if (is_signed(kv->type) && kv->v.i >= 0 && kv->v.i <= (int64_t)UINT32_MAX) {
        *out = (uint32_t)kv->v.i;
        return true;
    }
    return false;
}

bool am_gguf_get_f32(const am_gguf *g, const char *key, float *out) {
    gguf_kv *kv = find_kv(g, key);
    if (!kv || (kv->type != AM_GGUF_F32 && kv->type != AM_GGUF_F64)) return false;
    *out = (float)kv->v.f;
    return true;
}

bool am_gguf_get_bool(const am_gguf *g, const char *key, bool *out) {
    gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != AM_GGUF_BOOL) return false;
    *out = kv->v.u != 0;
    return true;
}

bool am_gguf_get_str(const am_gguf *g, const char *key, am_str *out) {
    gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != AM_GGUF_STRING) return false;
    *out = kv->v.s;
    return true;
}

bool am_gguf_get_arr(const am_gguf *g, const char *key, am_gguf_vtype *elem_type, uint64_t *n) {
    gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != AM_GGUF_ARRAY) return false;
    if (elem_type) *elem_type = (am_gguf_vtype)kv->arr_type;
    if (n) *n = kv->arr_n;
    return true;
}

const void *am_gguf_arr_data(const am_gguf *g, const char *key) {
    gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != AM_GGUF_ARRAY || kv->arr_type == AM_GGUF_STRING) return NULL;
    return kv->arr_data;
}

am_str am_gguf_arr_str(const am_gguf *g, const char *key, uint64_t i) {
    gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != AM_GGUF_ARRAY || kv->arr_type != AM_GGUF_STRING || i >= kv->arr_n)
        return (am_str){"", 0};
    return kv->arr_strs[i];
}

const am_tensor *am_gguf_tensor(const am_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_tensors) return NULL;
    return &g->tensors[i];
}

const am_tensor *am_gguf_find_tensor(const am_gguf *g, const char *name) {
    int64_t lo = 0, hi = g->n_tensors - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int r = strcmp(g->t_sorted[mid]->name, name);
        if (!r) return g->t_sorted[mid];
        if (r < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

void am_gguf_drop_pages(const am_gguf *g, const void *p, size_t n) {
    if (!g || g->borrowed || !g->map.data || !p) return;
    uintptr_t lo = (uintptr_t)p, hi, base = (uintptr_t)g->map.data;
    if (lo < base || n > g->map.size || lo - base > g->map.size - n) return;
    hi = lo + n;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (lo + pg - 1) / pg * pg, b = hi / pg * pg;
    /* a private read-only file mapping: dropped pages refault from the file */
    if (a < b) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}
