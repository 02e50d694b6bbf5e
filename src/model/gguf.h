/*
 * gguf.h — a GGUF (v2, v3) reader over a read-only mmap.
 *
 * Every count, length and offset is validated against the file size and for
 * overflow before use; a malformed file gives -1/NULL and a message, never a
 * crash. Strings in GGUF are not NUL-terminated: they come back as am_str
 * views into the mapping, valid until am_gguf_close.
 */
#ifndef AM_GGUF_H
#define AM_GGUF_H

#include "base/base.h"
#include "compute/types.h"

typedef enum am_gguf_vtype {
    AM_GGUF_U8 = 0, AM_GGUF_I8 = 1, AM_GGUF_U16 = 2, AM_GGUF_I16 = 3,
    AM_GGUF_U32 = 4, AM_GGUF_I32 = 5, AM_GGUF_F32 = 6, AM_GGUF_BOOL = 7,
    AM_GGUF_STRING = 8, AM_GGUF_ARRAY = 9, AM_GGUF_U64 = 10, AM_GGUF_I64 = 11,
    AM_GGUF_F64 = 12,
} am_gguf_vtype;

typedef struct am_str {
    const char *p;
    uint64_t n;
} am_str;

typedef struct am_gguf am_gguf;

/* Opens and validates path (header, all metadata, tensor infos, tensor data
 * bounds and alignment). Tensors of types agentmem cannot compute are an
 * error naming the tensor and type. */
am_gguf *am_gguf_open(const char *path, am_err *err);
/* The same over size bytes the caller owns (a file read into memory, a
 * network buffer, a fuzzer's input). The buffer is borrowed, not copied: it
 * must stay unchanged until am_gguf_close, and every view points into it.
 * name only labels error messages (NULL: "(memory)"). */
am_gguf *am_gguf_open_memory(const void *data, size_t size, const char *name, am_err *err);
void am_gguf_close(am_gguf *g);

uint32_t am_gguf_version(const am_gguf *g);

/* Metadata. Keys are looked up by exact name; index -1 means absent. */
int64_t am_gguf_n_kv(const am_gguf *g);
int64_t am_gguf_find_key(const am_gguf *g, const char *key);
am_str am_gguf_key(const am_gguf *g, int64_t i);
am_gguf_vtype am_gguf_kv_type(const am_gguf *g, int64_t i);

/* Typed scalar getters by key: return false if the key is absent or of an
 * incompatible type (integers of any width convert when in range; f32/f64
 * convert to each other). */
bool am_gguf_get_u32(const am_gguf *g, const char *key, uint32_t *out);
bool am_gguf_get_i64(const am_gguf *g, const char *key, int64_t *out);
bool am_gguf_get_f32(const am_gguf *g, const char *key, float *out);
bool am_gguf_get_bool(const am_gguf *g, const char *key, bool *out);
bool am_gguf_get_str(const am_gguf *g, const char *key, am_str *out);

/* Arrays by key: element type and count; false if absent or not an array. */
bool am_gguf_get_arr(const am_gguf *g, const char *key, am_gguf_vtype *elem_type, uint64_t *n);
/* Pointer to the packed elements of a numeric array (little-endian, may be
 * unaligned: read with memcpy). NULL for string arrays. */
const void *am_gguf_arr_data(const am_gguf *g, const char *key);
/* The i-th string of a string array (validated at open). */
am_str am_gguf_arr_str(const am_gguf *g, const char *key, uint64_t i);

/* Tensors. */
int64_t am_gguf_n_tensors(const am_gguf *g);
const am_tensor *am_gguf_tensor(const am_gguf *g, int64_t i);
const am_tensor *am_gguf_find_tensor(const am_gguf *g, const char *name);

/* Bytes of one scalar of a metadata value type; 0 for STRING, ARRAY and
 * unknown types. */
size_t am_gguf_vtype_size(uint32_t t);

/* Size of the mapped file in bytes. */
size_t am_gguf_file_size(const am_gguf *g);

/* Lets the OS drop the pages wholly inside [p, p + n) of the file mapping (a
 * later read faults them back in from the file, so this never changes what is
 * read). Does nothing for a borrowed buffer (am_gguf_open_memory) or a range
 * outside the mapping. For weights a caller holds in another form. */
void am_gguf_drop_pages(const am_gguf *g, const void *p, size_t n);

#endif
