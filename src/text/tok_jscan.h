/*
 * tok_jscan.h — a fast, strict JSON reader for tokenizer files.
 *
 * Why not jansson: a 262K-entry tokenizer.json (33 MB, ~2M values) takes
 * jansson over a second to build; this reader makes one flat array of nodes
 * (a "tape") in one pass with no per-value allocation, and strings stay
 * views into the source until asked for. The source must outlive the doc.
 *
 * Strict: RFC 8259 grammar, UTF-8 validated inside strings, escapes checked
 * (lone surrogates rejected), nesting limited to JT_MAX_DEPTH, size limited to
 * 4 GiB. Malformed input gives -1 and a message with the byte offset.
 */
#ifndef AM_TOK_JSCAN_H
#define AM_TOK_JSCAN_H

#include "base/base.h"
#include "text/tok_internal.h"

enum { JT_NULL, JT_FALSE, JT_TRUE, JT_NUM, JT_STR, JT_ARR, JT_OBJ };

#define JT_NONE UINT32_MAX
#define JT_MAX_DEPTH 256

/* 8 bytes per value: a 33 MB tokenizer.json has ~2M of them.
 *   strings/numbers: a = first byte (after the quote for strings), b = length
 *   arrays/objects:  a = index of the node after the subtree, b = elements/pairs
 * The top 4 bits of b hold the type and the escape flag, so a single string
 * or container is limited to 2^27 bytes or elements (checked). */
typedef struct jt_node {
    uint32_t a, b;
} jt_node;

#define JT_LEN_BITS 27
#define JT_LEN_MASK ((1u << JT_LEN_BITS) - 1)
#define JT_ESC_BIT (1u << JT_LEN_BITS)

typedef struct jt_doc {
    const char *src;
    size_t n;
    jt_node *nodes; /* nodes[0] is the root value */
    uint32_t count, cap;
} jt_doc;

static inline int jt_node_type(const jt_node *nd) { return (int)(nd->b >> 28); }
static inline uint32_t jt_len(const jt_doc *d, uint32_t i) { return d->nodes[i].b & JT_LEN_MASK; }
static inline bool jt_esc(const jt_doc *d, uint32_t i) { return (d->nodes[i].b & JT_ESC_BIT) != 0; }
static inline uint32_t jt_after(const jt_doc *d, uint32_t i) {
    int ty = jt_node_type(&d->nodes[i]);
    return (ty == 5 || ty == 6) ? d->nodes[i].a : i + 1; /* JT_ARR, JT_OBJ */
}

int jt_parse(jt_doc *d, const char *src, size_t n, am_err *err);
void jt_free(jt_doc *d);

static inline int jt_type(const jt_doc *d, uint32_t i) { return i == JT_NONE ? -1 : jt_node_type(&d->nodes[i]); }

/* Value of key in object obj (the last one if repeated); JT_NONE if obj is not
 * an object or has no such key. */
uint32_t jt_get(const jt_doc *d, uint32_t obj, const char *key);

/* Iteration. Arrays: for (e = jt_first(d, a); e != JT_NONE; e = jt_next(d, a, e)).
 * Objects: same over keys; the value of key k is k + 1... use jt_val. */
uint32_t jt_first(const jt_doc *d, uint32_t container);
uint32_t jt_next(const jt_doc *d, uint32_t container, uint32_t cur);
static inline uint32_t jt_val(uint32_t key) { return key + 1; }

/* Appends the unescaped string to b (not cleared). Returns false if i is not
 * a string. */
bool jt_str_append(const jt_doc *d, uint32_t i, tok_buf *b);
/* The raw string when it has no escapes (not NUL-terminated); NULL otherwise
 * or if not a string. */
const char *jt_str_raw(const jt_doc *d, uint32_t i, size_t *len);
/* String equality with a C string (handles escapes). */
bool jt_str_eq(const jt_doc *d, uint32_t i, const char *s);
/* Heap copy of the unescaped string (NUL-terminated; *len may be NULL). */
char *jt_str_dup(const jt_doc *d, uint32_t i, size_t *len);

/* Numbers: integer without fraction/exponent within int64; false otherwise. */
bool jt_int(const jt_doc *d, uint32_t i, int64_t *out);
bool jt_bool(const jt_doc *d, uint32_t i, bool *out);

/* Convenience getters on an object member with a default. */
bool jt_get_bool(const jt_doc *d, uint32_t obj, const char *key, bool dflt);

#endif
