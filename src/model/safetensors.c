/*
 * safetensors.c — safetensors files and sharded checkpoints over mmap.
 *
 * Owns: the shard mappings, the tensor table (names copied), nothing else.
 * Must never: trust the 8-byte header length, a data offset or a shape before
 * checking it against the file size and for overflow; open a shard whose
 * name in the index is a path (only plain file names in the same folder).
 *
 * File layout: u64 little-endian N, N bytes of JSON {name: {dtype, shape,
 * data_offsets: [begin, end]}, "__metadata__": {...}}, then the data; offsets
 * are relative to the first byte after the JSON.
 */
#define _GNU_SOURCE
#include "model/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

#define ST_MAX_INDEX_BYTES ((size_t)64 << 20)
#define ST_MAX_SHARDS 4096

struct am_st {
    am_mapped_file *files;
    bool borrowed;          /* files[0] is the caller's buffer (am_st_open_memory): never unmapped */
    char **file_names;
    int n_files;
    am_st_tensor *t;
    int64_t n, cap;
};

typedef struct {
    const char *name;
    size_t size;
    int am; /* am_type or -1 */
} dtype_info;

static const dtype_info DTYPES[] = {
    {"BF16", 2, AM_TYPE_BF16}, {"F16", 2, AM_TYPE_F16}, {"F32", 4, AM_TYPE_F32},
    {"F64", 8, -1}, {"I64", 8, -1}, {"U64", 8, -1}, {"I32", 4, -1}, {"U32", 4, -1},
    {"I16", 2, -1}, {"U16", 2, -1}, {"I8", 1, -1}, {"U8", 1, -1}, {"BOOL", 1, -1},
    {"F8_E4M3", 1, -1}, {"F8_E5M2", 1, -1}, {"F8_E8M0", 1, -1},
};

static const dtype_info *find_dtype(const char *s) {
    for (size_t i = 0; i < AM_ARRAY_LEN(DTYPES); i++)
        if (!strcmp(DTYPES[i].name, s)) return &DTYPES[i];
    return NULL;
}

static bool get_u64(json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static int parse_entry(am_st *st, int file, const char *name, json_t *e, const uint8_t *data,
                       uint64_t data_size, am_err *err) {
    if (!json_is_object(e)) return am_err_set(err, "tensor %s: entry is not an object", name);
    json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
           *jo = json_object_get(e, "data_offsets");
    if (!json_is_string(jd)) return am_err_set(err, "tensor %s: missing dtype", name);
    const dtype_info *dt = find_dtype(json_string_value(jd));
    if (!dt) return am_err_set(err, "tensor %s: unknown dtype %.32s", name, json_string_value(jd));
    if (!json_is_array(js)) return am_err_set(err, "tensor %s: missing shape", name);
    size_t nd = json_array_size(js);
    if (nd > AM_ST_MAX_DIMS) return am_err_set(err, "tensor %s: %zu dimensions (max %d)", name, nd, AM_ST_MAX_DIMS);
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return am_err_set(err, "tensor %s: data_offsets must be [begin, end]", name);
    uint64_t begin, end, nel = 1, nbytes;
    if (!get_u64(json_array_get(jo, 0), &begin) || !get_u64(json_array_get(jo, 1), &end) || begin > end)
        return am_err_set(err, "tensor %s: bad data_offsets", name);
    if (end > data_size)
        return am_err_set(err, "tensor %s: data_offsets [%llu, %llu] lie past the end of the file (%llu data bytes)",
                          name, (unsigned long long)begin, (unsigned long long)end,
                          (unsigned long long)data_size);
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 256;
        st->t = am_xrealloc(st->t, (size_t)st->cap * sizeof *st->t);
    }
    am_st_tensor *t = &st->t[st->n];
    memset(t, 0, sizeof *t);
    for (size_t d = 0; d < nd; d++) {
        uint64_t v;
        if (!get_u64(json_array_get(js, d), &v) || v > (uint64_t)INT64_MAX)
            return am_err_set(err, "tensor %s: bad shape", name);
        if (!am_mul_ok(nel, v, &nel)) return am_err_set(err, "tensor %s: element count overflows", name);
        t->shape[d] = (int64_t)v;
    }
    if (!am_mul_ok(nel, dt->size, &nbytes) || nbytes != end - begin)
        return am_err_set(err, "tensor %s: shape and dtype %s need %llu bytes but data_offsets give %llu", name,
                          dt->name, (unsigned long long)nbytes, (unsigned long long)(end - begin));
    t->name = am_xstrdup(name);
    t->dtype = dt->name;
    t->supported = dt->am >= 0;
    t->type = t->supported ? (am_type)dt->am : AM_TYPE_F32;
    t->n_dims = (int)nd;
    t->data = data + begin;
    t->nbytes = (size_t)nbytes;
    t->file = file;
    st->n++;
    return 0;
}

/* Parses shard number `file` (already in st->files) and appends its tensors. */
static int parse_file(am_st *st, int file, const char *path, am_err *err) {
    const am_mapped_file *f = &st->files[file];
    uint64_t hlen;
    if (f->size < 8) return am_err_set(err, "%s: too short for a safetensors file", path);
    memcpy(&hlen, f->data, 8);
    if (hlen < 2 || hlen > AM_ST_MAX_HEADER || hlen > f->size - 8)
        return am_err_set(err, "%s: header length %llu is invalid for a %zu-byte file (limit %llu)", path,
                          (unsigned long long)hlen, f->size, (unsigned long long)AM_ST_MAX_HEADER);
    json_error_t je;
    json_t *root = json_loadb((const char *)f->data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) return am_err_set(err, "%s: header JSON: %s (line %d)", path, je.text, je.line);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = am_err_set(err, "%s: header is not a JSON object", path);
    } else {
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val) {
            if (!strcmp(key, "__metadata__")) continue;
            if (parse_entry(st, file, key, val, f->data + 8 + hlen, f->size - 8 - hlen, err)) {
                am_err_prefix(err, "%s", path);
                rc = -1;
                break;
            }
        }
    }
    json_decref(root);
    return rc;
}

/* Appends a slot for shard `path` (file index returned through *file). */
static am_mapped_file *new_file(am_st *st, const char *path, int *file) {
    *file = st->n_files;
    st->files = am_xrealloc(st->files, (size_t)(*file + 1) * sizeof *st->files);
    st->file_names = am_xrealloc(st->file_names, (size_t)(*file + 1) * sizeof *st->file_names);
    st->file_names[*file] = am_xstrdup(path);
    am_mapped_file *f = &st->files[*file];
    f->data = NULL;
    f->size = 0;
    st->n_files++;
    return f;
}

/* Maps path as the next shard and appends its tensors. */
static int add_file(am_st *st, const char *path, am_err *err) {
    int file;
    am_mapped_file *f = new_file(st, path, &file);
    if (am_file_map(path, f, err)) return -1;
    return parse_file(st, file, path, err);
}

static int t_cmp(const void *a, const void *b) {
    return strcmp(((const am_st_tensor *)a)->name, ((const am_st_tensor *)b)->name);
}

static int finish(am_st *st, am_err *err) {
    if (st->n > 1) qsort(st->t, (size_t)st->n, sizeof *st->t, t_cmp); /* st->t is NULL for "{}" */
    for (int64_t i = 1; i < st->n; i++)
        if (!strcmp(st->t[i - 1].name, st->t[i].name))
            return am_err_set(err, "tensor %s appears twice", st->t[i].name);
    return 0;
}

am_st *am_st_open_file(const char *path, am_err *err) {
    am_st *st = am_xcalloc(1, sizeof *st);
    if (add_file(st, path, err) || finish(st, err)) {
        am_st_close(st);
        return NULL;
    }
    return st;
}

am_st *am_st_open_memory(const void *data, size_t size, const char *name, am_err *err) {
    am_st *st = am_xcalloc(1, sizeof *st);
    int file;
    am_mapped_file *f = new_file(st, name ? name : "(memory)", &file);
    f->data = size ? data : NULL;
    f->size = size;
    st->borrowed = true;
    if (parse_file(st, file, st->file_names[file], err) || finish(st, err)) {
        am_st_close(st);
        return NULL;
    }
    return st;
}

static bool plain_name(const char *s) {
    return *s && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\') && strlen(s) < 256;
}

static am_st *open_index(const char *dir, const char *index_path, am_err *err) {
    size_t n;
    char *text = am_file_read_all(index_path, ST_MAX_INDEX_BYTES, &n, err);
    if (!text) return NULL;
    json_error_t je;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root) {
        am_err_set(err, "%s: %s (line %d)", index_path, je.text, je.line);
        return NULL;
    }
    am_st *st = am_xcalloc(1, sizeof *st);
    json_t *wm = json_object_get(root, "weight_map");
    const char *key;
    json_t *val;
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        am_err_set(err, "%s: no weight_map", index_path);
        goto fail;
    }
    /* Open each distinct shard once, in order of first mention. */
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val) || !plain_name(json_string_value(val))) {
            am_err_set(err, "%s: weight_map[%s] is not a plain file name", index_path, key);
            goto fail;
        }
        const char *fn = json_string_value(val);
        bool seen = false;
        for (int i = 0; i < st->n_files && !seen; i++) {
            const char *base = strrchr(st->file_names[i], '/');
            seen = !strcmp(base ? base + 1 : st->file_names[i], fn);
        }
        if (seen) continue;
        if (st->n_files >= ST_MAX_SHARDS) {
            am_err_set(err, "%s: more than %d shards", index_path, ST_MAX_SHARDS);
            goto fail;
        }
        char *p = am_path_join(dir, fn);
        int rc = add_file(st, p, err);
        free(p);
        if (rc) goto fail;
    }
    if (finish(st, err)) goto fail;
    json_object_foreach(wm, key, val) {
        const am_st_tensor *t = am_st_find(st, key);
        const char *fn = json_string_value(val);
        const char *base = t ? strrchr(st->file_names[t->file], '/') : NULL;
        if (!t || strcmp(base ? base + 1 : st->file_names[t->file], fn)) {
            am_err_set(err, "%s: tensor %s is not in shard %s", index_path, key, fn);
            goto fail;
        }
    }
    json_decref(root);
    return st;
fail:
    json_decref(root);
    am_st_close(st);
    return NULL;
}

am_st *am_st_open_dir(const char *dir, am_err *err) {
    char *index = am_path_join(dir, "model.safetensors.index.json");
    am_st *st;
    if (am_file_exists(index)) {
        st = open_index(dir, index, err);
    } else {
        char *single = am_path_join(dir, "model.safetensors");
        if (am_file_exists(single)) {
            st = am_st_open_file(single, err);
        } else {
            am_err_set(err, "%s: no model.safetensors or model.safetensors.index.json", dir);
            st = NULL;
        }
        free(single);
    }
    free(index);
    return st;
}

void am_st_close(am_st *st) {
    if (!st) return;
    for (int64_t i = 0; i < st->n; i++) free((char *)st->t[i].name);
    free(st->t);
    for (int i = 0; i < st->n_files; i++) {
        if (!st->borrowed) am_file_unmap(&st->files[i]);
        free(st->file_names[i]);
    }
    free(st->files);
    free(st->file_names);
    free(st);
}

int64_t am_st_n_tensors(const am_st *st) { return st->n; }
int am_st_n_files(const am_st *st) { return st->n_files; }

const am_st_tensor *am_st_tensor_at(const am_st *st, int64_t i) {
    return i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const am_st_tensor *am_st_find(const am_st *st, const char *name) {
    am_st_tensor key = {.name = name};
    if (st->n == 0) return NULL;
    return bsearch(&key, st->t, (size_t)st->n, sizeof *st->t, t_cmp);
}

uint64_t am_st_total_bytes(const am_st *st) {
    uint64_t s = 0;
    for (int i = 0; i < st->n_files; i++) s += st->files[i].size;
    return s;
}
