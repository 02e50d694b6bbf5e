/*
 * gguf_write.h — a streaming GGUF v3 writer.
 *
 * Use: create; set metadata (any order; setting a key again replaces its
 * value in place); add every tensor's info (name, type, shape); begin(path)
 * writes the header, metadata and tensor infos with every data offset already
 * computed from the shapes; then write the tensors' bytes in the order they
 * were added, in chunks of any size (the writer inserts the alignment
 * padding between tensors); finish commits the file.
 *
 * Nothing but metadata is held in memory, so a 16 GB model streams through a
 * small buffer. The file appears atomically (temporary file, fsync, rename,
 * fsync dir): until finish succeeds the target path is untouched, and any
 * failure, or freeing the writer before finish, removes the temporary file.
 *
 * The writer owns general.alignment (always written, value 32): setting that
 * key is a programmer error. Nested arrays are not supported (no GGUF file
 * in the wild uses them). Setter misuse (NULL key, bad element type) asserts;
 * file and size problems return -1 with err set. One thread at a time.
 */
#ifndef AM_GGUF_WRITE_H
#define AM_GGUF_WRITE_H

#include "base/base.h"
#include "compute/types.h"
#include "model/gguf.h"

#define AM_GGUF_WRITE_ALIGNMENT 32

typedef struct am_gguf_writer am_gguf_writer;

am_gguf_writer *am_gguf_writer_create(void);
/* Frees everything; an unfinished file is aborted (temporary removed). */
void am_gguf_writer_free(am_gguf_writer *w);

/* Scalars. Keys are copied. */
void am_gguf_writer_set_u8(am_gguf_writer *w, const char *key, uint8_t v);
void am_gguf_writer_set_i8(am_gguf_writer *w, const char *key, int8_t v);
void am_gguf_writer_set_u16(am_gguf_writer *w, const char *key, uint16_t v);
void am_gguf_writer_set_i16(am_gguf_writer *w, const char *key, int16_t v);
void am_gguf_writer_set_u32(am_gguf_writer *w, const char *key, uint32_t v);
void am_gguf_writer_set_i32(am_gguf_writer *w, const char *key, int32_t v);
void am_gguf_writer_set_u64(am_gguf_writer *w, const char *key, uint64_t v);
void am_gguf_writer_set_i64(am_gguf_writer *w, const char *key, int64_t v);
void am_gguf_writer_set_f32(am_gguf_writer *w, const char *key, float v);
void am_gguf_writer_set_f64(am_gguf_writer *w, const char *key, double v);
void am_gguf_writer_set_bool(am_gguf_writer *w, const char *key, bool v);
/* Strings: NUL-terminated, or n bytes (may hold any bytes). Copied. */
void am_gguf_writer_set_str(am_gguf_writer *w, const char *key, const char *s);
void am_gguf_writer_set_strn(am_gguf_writer *w, const char *key, const char *s, size_t n);

/* Numeric array of n elements of elem (any scalar type but STRING/ARRAY),
 * packed little-endian in data (bool: one byte each). Copied. */
void am_gguf_writer_set_arr(am_gguf_writer *w, const char *key, am_gguf_vtype elem,
                            const void *data, uint64_t n);
/* String array: strs[i] with lengths lens[i], or NUL-terminated when lens is
 * NULL. Copied. */
void am_gguf_writer_set_arr_str(am_gguf_writer *w, const char *key, const char *const *strs,
                                const size_t *lens, uint64_t n);

/* Declares the next tensor: 1..4 dims, ne[0] the row length (a multiple of
 * the type's block size), every dim >= 1, name unique and < 64 bytes (GGUF's
 * limit in llama.cpp). Returns -1 with err set otherwise. */
int am_gguf_writer_add_tensor(am_gguf_writer *w, const char *name, am_type type, int n_dims,
                              const int64_t *ne, am_err *err);

/* Bytes of tensor i's data (without padding), -1 if no such tensor. */
int64_t am_gguf_writer_tensor_bytes(const am_gguf_writer *w, int64_t i);
int64_t am_gguf_writer_n_tensors(const am_gguf_writer *w);
/* The size the finished file will have (valid once all tensors are added). */
uint64_t am_gguf_writer_file_size(const am_gguf_writer *w);

/* Opens the temporary file for path and writes everything up to the tensor
 * data. No metadata or tensor may be added afterwards. */
int am_gguf_writer_begin(am_gguf_writer *w, const char *path, am_err *err);
/* Appends n bytes of tensor data (tensors in the order added; chunks may
 * span tensors). Writing more bytes than the tensors hold is an error. */
int am_gguf_writer_write(am_gguf_writer *w, const void *data, size_t n, am_err *err);
/* Checks that every tensor byte was written, then commits the file. */
int am_gguf_writer_finish(am_gguf_writer *w, am_err *err);

#endif
