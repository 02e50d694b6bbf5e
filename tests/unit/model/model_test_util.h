/*
 * model_test_util.h — helpers shared by the model reader tests (header-only:
 * included by each test_*.c so every test binary stays self-contained):
 * a byte buffer for building files, a temp folder, and file writing.
 */
#ifndef AM_MODEL_TEST_UTIL_H
#define AM_MODEL_TEST_UTIL_H

#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

typedef struct tbuf {
    uint8_t *p;
    size_t n, cap;
} tbuf;

static inline void tb_put(tbuf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = am_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static inline void tb_u32(tbuf *b, uint32_t v) { tb_put(b, &v, 4); }
static inline void tb_u64(tbuf *b, uint64_t v) { tb_put(b, &v, 8); }
static inline void tb_str(tbuf *b, const char *s) {
    tb_u64(b, strlen(s));
    tb_put(b, s, strlen(s));
}
static inline void tb_pad(tbuf *b, size_t align) {
    static const uint8_t z[64] = {0};
    while (b->n % align) tb_put(b, z, 1);
}

/* A fresh folder under /tmp (removed by tmp_dir_remove). */
static inline char *tmp_dir_make(void) {
    char *t = am_xstrdup("/tmp/agentmem-model-test-XXXXXX");
    if (!mkdtemp(t)) {
        perror("mkdtemp");
        exit(1);
    }
    return t;
}

static inline void tmp_dir_remove(char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

static inline void write_file(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (n && write(fd, data, n) != (ssize_t)n)) {
        perror(path);
        exit(1);
    }
    close(fd);
}

static inline void wr_u32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static inline void wr_u64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }
static inline uint32_t rd32(const uint8_t *p, size_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static inline uint64_t rd64(const uint8_t *p, size_t off) { uint64_t v; memcpy(&v, p + off, 8); return v; }

#endif
