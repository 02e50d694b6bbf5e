/* base.c — errors, checked allocation, logging, clock. */
#define _GNU_SOURCE
#include "base/base.h"

#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *am_status_name(am_status s) {
    static const char *names[] = {"ok",        "invalid", "no_kv", "bad_file",  "io",
                                  "not_found", "busy",    "too_long", "cancelled", "internal", "conflict",
                                  "no_room"};
    return (unsigned)s < AM_ARRAY_LEN(names) ? names[s] : "unknown";
}

int am_err_set(am_err *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = AM_E_INVALID;
    }
    return -1;
}

int am_err_setc(am_err *err, am_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return -1;
}

int am_err_prefix(am_err *err, const char *fmt, ...) {
    if (err) {
        char prefix[256];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        size_t plen = n < 0 ? 0 : AM_MIN((size_t)n, sizeof prefix - 1);
        size_t cap = sizeof err->msg;
        if (plen + 2 < cap) {
            /* shift the old message right (truncating its tail), then write "prefix: " */
            size_t keep = AM_MIN(strlen(err->msg), cap - 1 - plen - 2);
            memmove(err->msg + plen + 2, err->msg, keep);
            err->msg[plen + 2 + keep] = 0;
            memcpy(err->msg, prefix, plen);
            err->msg[plen] = ':';
            err->msg[plen + 1] = ' ';
        }
    }
    return -1;
}

static void oom(size_t n) {
    fprintf(stderr, "agentmem: out of memory allocating %zu bytes\n", n);
    abort();
}

void *am_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *am_xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *am_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *am_xstrdup(const char *s) { return am_xstrndup(s, strlen(s)); }

char *am_xstrndup(const char *s, size_t n) {
    char *p = am_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void *am_xmalloc_aligned(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? (n + 63) & ~(size_t)63 : 64) != 0) oom(n);
    return p;
}

/* AGENTMEM_HUGEPAGES=0 turns the advice off (a comparison, or a kernel that
 * stalls on compaction). */
static bool huge_on(void) {
    static int on = -1;
    if (on < 0) {
        const char *s = getenv("AGENTMEM_HUGEPAGES");
        on = !(s && !strcmp(s, "0"));
    }
    return on;
}

void *am_malloc_huge(size_t n) {
    const size_t huge = (size_t)2 << 20;
    size_t align = 64, m = n ? (n + 63) & ~(size_t)63 : 64;
    if (n >= huge / 2 && huge_on()) align = huge, m = (n + huge - 1) & ~(huge - 1);
    void *p = NULL;
    if (posix_memalign(&p, align, m) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (align == huge) (void)madvise(p, m, MADV_HUGEPAGE);
#endif
    return p;
}

void *am_xmalloc_huge(size_t n) {
    void *p = am_malloc_huge(n);
    if (!p) oom(n);
    return p;
}

void am_aligned_free(void *p) { free(p); }

static int log_level(void) {
    static int lvl = -1;
    if (lvl < 0) {
        const char *s = getenv("AGENTMEM_LOG");
        lvl = AM_LOG_INFO;
        if (s) {
            if (!strcasecmp(s, "error")) lvl = AM_LOG_ERROR;
            else if (!strcasecmp(s, "warn")) lvl = AM_LOG_WARN;
            else if (!strcasecmp(s, "debug")) lvl = AM_LOG_DEBUG;
        }
    }
    return lvl;
}

void am_log(am_log_level lvl, const char *fmt, ...) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    if ((int)lvl > log_level()) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "agentmem %s: %s\n", names[lvl], line);
}

double am_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int am_n_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
