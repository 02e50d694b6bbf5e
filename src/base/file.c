/* file.c — mmap and whole-file reads, with sizes checked before allocating. */
#define _GNU_SOURCE
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int am_file_map(const char *path, am_mapped_file *out, am_err *err) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return am_err_setc(err, errno == ENOENT ? AM_E_NOT_FOUND : AM_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return am_err_set(err, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return am_err_setc(err, AM_E_IO, "%s: mmap: %s", path, strerror(e));
        }
        out->data = p;
        out->size = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

void am_file_unmap(am_mapped_file *f) {
    if (f->data) munmap((void *)f->data, f->size);
    f->data = NULL;
    f->size = 0;
}

char *am_file_read_all(const char *path, size_t max_bytes, size_t *size_out, am_err *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        am_err_setc(err, errno == ENOENT ? AM_E_NOT_FOUND : AM_E_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        am_err_set(err, "%s: not a regular file", path);
        return NULL;
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(fp);
        am_err_set(err, "%s: file too large (%lld bytes, limit %zu)", path, (long long)st.st_size, max_bytes);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = am_xmalloc(n + 1);
    if (n && fread(buf, 1, n, fp) != n) {
        fclose(fp);
        free(buf);
        am_err_setc(err, AM_E_IO, "%s: short read", path);
        return NULL;
    }
    fclose(fp);
    buf[n] = 0;
    if (size_out) *size_out = n;
    return buf;
}

bool am_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool am_dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *am_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/') a--;
    char *p = am_xmalloc(a + 1 + b + 1);
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}
