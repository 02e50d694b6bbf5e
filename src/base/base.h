/*
 * base.h — the few things every module uses: error reporting, checked
 * allocation, overflow-checked size arithmetic, logging.
 *
 * Rules: programmer mistakes assert; out-of-memory aborts with a message
 * (am_xmalloc and friends); anything input, files or the network can cause
 * returns -1 (or NULL) with a message in an am_err. Nothing here calls exit().
 */
#ifndef AM_BASE_H
#define AM_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What kind of failure an error is, so a caller can act on it without
 * reading the text: the scheduler evicts and retries on AM_E_NO_KV, rejects
 * the request on AM_E_INVALID, removes a cache file on AM_E_BAD_FILE. */
typedef enum am_status {
    AM_OK = 0,
    AM_E_INVALID,   /* bad input: arguments, request fields, option values */
    AM_E_NO_KV,     /* the KV pool has no free blocks for this (transient) */
    AM_E_BAD_FILE,  /* a file's content is malformed, corrupt or of another model */
    AM_E_IO,        /* the OS refused: open/read/write/fsync/rename, disk full */
    AM_E_NOT_FOUND, /* no such agent, file, model or sequence */
    AM_E_BUSY,      /* queue full or shutting down: retry later */
    AM_E_TOO_LONG,  /* does not fit: prompt + max_tokens over the context */
    AM_E_CANCELLED, /* the caller cancelled */
    AM_E_INTERNAL,  /* a bug: an invariant did not hold */
    AM_E_CONFLICT,  /* another operation of the kind is running (one swap at a time) */
    AM_E_NO_ROOM,   /* does not fit a budget at all (a model over --weights-budget) */
} am_status;

/* Short stable name of a status ("invalid", "no_kv", ...). */
const char *am_status_name(am_status s);

/* An error filled in by the function that failed: a code and a message.
 * Callers may pass NULL when they do not care. Initialize with {0}. */
typedef struct am_err {
    char msg[512];
    am_status code;
} am_err;

/* Formats into err (if non-NULL), sets code AM_E_INVALID and returns -1, so
 * `return am_err_set(...)` is the idiom for failing on bad input. */
int am_err_set(am_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with an explicit code. */
int am_err_setc(am_err *err, am_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to an existing message; keeps the code. Returns -1. */
int am_err_prefix(am_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that aborts with a message on out-of-memory. */
void *am_xmalloc(size_t n);
void *am_xcalloc(size_t count, size_t size);
void *am_xrealloc(void *p, size_t n);
char *am_xstrdup(const char *s);
char *am_xstrndup(const char *s, size_t n);
/* 64-byte aligned allocation for SIMD buffers; free with am_aligned_free. */
void *am_xmalloc_aligned(size_t n);
/* The same for large buffers (repacked weights, tokenizer tables): from 1 MiB
 * on, 2 MiB aligned, rounded up to 2 MiB and advised for transparent huge
 * pages (a hint; the kernel may say no; AGENTMEM_HUGEPAGES=0 asks for none),
 * so a pass over them takes a TLB miss per 2 MiB, not per 4 KiB. Free with
 * am_aligned_free. am_malloc_huge returns NULL where am_xmalloc_huge aborts. */
void *am_xmalloc_huge(size_t n);
void *am_malloc_huge(size_t n);
void am_aligned_free(void *p);

/* Overflow-checked arithmetic: return false (and leave *out untouched) on overflow. */
static inline bool am_mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool am_add_ok(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* Logging to stderr. Level from AGENTMEM_LOG (error|warn|info|debug), default info. */
typedef enum { AM_LOG_ERROR = 0, AM_LOG_WARN, AM_LOG_INFO, AM_LOG_DEBUG } am_log_level;
void am_log(am_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define am_log_error(...) am_log(AM_LOG_ERROR, __VA_ARGS__)
#define am_log_warn(...)  am_log(AM_LOG_WARN, __VA_ARGS__)
#define am_log_info(...)  am_log(AM_LOG_INFO, __VA_ARGS__)
#define am_log_debug(...) am_log(AM_LOG_DEBUG, __VA_ARGS__)

/* Monotonic clock in seconds. */
double am_time_now(void);

/* Number of online CPU cores (>= 1). */
int am_n_cores(void);

#define AM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define AM_MAX(a, b) ((a) > (b) ? (a) : (b))
#define AM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
