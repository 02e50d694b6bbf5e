/*
 * safetensors.h — a reader for Hugging Face safetensors checkpoints: one
 * `model.safetensors`, or shards listed by `model.safetensors.index.json`.
 *
 * Files are mmap'ed read-only; tensor data pointers point into the mappings
 * and stay valid until am_st_close. Every header length, offset and shape is
 * checked against the file before use: a malformed file is -1/NULL with a
 * message, never a crash. __metadata__ is ignored.
 *
 * dtypes: BF16, F16 and F32 come back as am_type. Other dtypes agentmem knows
 * the size of (F64, I64, I32, I16, I8, U8, BOOL, F8_*...) are size-checked
 * and listed with supported == false, so a checkpoint carrying an unused
 * integer buffer still opens; the model loader refuses them by name if it
 * needs them. An unknown dtype string is an error at open.
 *
 * Thread rules: immutable after open; any number of readers.
 */
#ifndef AM_SAFETENSORS_H
#define AM_SAFETENSORS_H

#include "base/base.h"
#include "compute/types.h"

#define AM_ST_MAX_DIMS 8

typedef struct am_st_tensor {
    const char *name;
    const char *dtype;      /* as written in the header: "BF16", "I64", ... */
    bool supported;         /* dtype is BF16, F16 or F32 */
    am_type type;           /* valid when supported */
    int n_dims;
    int64_t shape[AM_ST_MAX_DIMS]; /* safetensors order: outermost first */
    const void *data;       /* into the mapping; may be unaligned */
    size_t nbytes;
    int file;               /* index of the shard it lives in */
} am_st_tensor;

typedef struct am_st am_st;

/* Opens one .safetensors file. */
am_st *am_st_open_file(const char *path, am_err *err);
/* The same over size bytes the caller owns. The buffer is borrowed, not
 * copied: it must stay unchanged until am_st_close (tensor data points into
 * it). name only labels error messages (NULL: "(memory)"). */
am_st *am_st_open_memory(const void *data, size_t size, const char *name, am_err *err);
/* Opens a Hugging Face folder: model.safetensors.index.json (shards named by
 * its weight_map; every mapped tensor must be in the shard named) if present,
 * else model.safetensors. */
am_st *am_st_open_dir(const char *dir, am_err *err);
void am_st_close(am_st *st);

int64_t am_st_n_tensors(const am_st *st);
const am_st_tensor *am_st_tensor_at(const am_st *st, int64_t i); /* sorted by name */
const am_st_tensor *am_st_find(const am_st *st, const char *name);
int am_st_n_files(const am_st *st);
/* Sum of all shard file sizes. */
uint64_t am_st_total_bytes(const am_st *st);

/* Largest JSON header accepted (the reference implementation's limit). */
#define AM_ST_MAX_HEADER ((uint64_t)100 << 20)

#endif
