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

/* An error message filled in by the function that failed. Callers may pass
 * NULL when they do not care about the text. */
typedef struct am_err {
    char msg[512];
} am_err;

/* Formats into err (if non-NULL) and returns -1, so `return am_err_set(...)`
 * is the idiom for failing. */
int am_err_set(am_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "prefix: " to an existing message. Returns -1. */
int am_err_prefix(am_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that aborts with a message on out-of-memory. */
void *am_xmalloc(size_t n);
void *am_xcalloc(size_t count, size_t size);
void *am_xrealloc(void *p, size_t n);
char *am_xstrdup(const char *s);
char *am_xstrndup(const char *s, size_t n);
/* 64-byte aligned allocation for SIMD buffers; free with am_aligned_free. */
void *am_xmalloc_aligned(size_t n);
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
