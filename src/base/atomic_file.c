/*
 * atomic_file.c — temp file + fsync + rename + fsync(dir). Owns only the
 * temporary file; it never touches the target until the rename, and never
 * leaves the temporary behind on any failure path.
 */
#define _GNU_SOURCE
#include "base/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void release(am_atomic_file *f) {
    free(f->path);
    free(f->tmp_path);
    f->path = f->tmp_path = NULL;
    f->fd = -1;
}

int am_atomic_file_open(am_atomic_file *f, const char *path, am_err *err) {
    static atomic_uint counter;
    f->fd = -1;
    f->written = 0;
    f->path = NULL;
    f->tmp_path = NULL;
    if (!path || !*path) return am_err_set(err, "empty output path");
    size_t n = strlen(path) + 64;
    char *tmp = am_xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return am_err_setc(err, AM_E_IO, "%s: cannot create: %s", path, strerror(e));
    }
    f->fd = fd;
    f->path = am_xstrdup(path);
    f->tmp_path = tmp;
    return 0;
}

int am_atomic_file_write(am_atomic_file *f, const void *buf, size_t n, am_err *err) {
    const uint8_t *p = buf;
    if (f->fd < 0) return am_err_set(err, "write to a closed file");
    while (n > 0) {
        ssize_t w = write(f->fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            am_err_setc(err, AM_E_IO, "%s: write: %s", f->path, strerror(e));
            am_atomic_file_abort(f);
            return -1;
        }
        p += w;
        n -= (size_t)w;
        f->written += (uint64_t)w;
    }
    return 0;
}

/* The directory that holds path ("." when it has no slash); caller frees. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return am_xstrdup(".");
    if (slash == path) return am_xstrdup("/");
    return am_xstrndup(path, (size_t)(slash - path));
}

int am_atomic_file_commit(am_atomic_file *f, am_err *err) {
    if (f->fd < 0) return am_err_set(err, "commit of a closed file");
    if (fsync(f->fd) != 0) {
        am_err_setc(err, AM_E_IO, "%s: fsync: %s", f->path, strerror(errno));
        am_atomic_file_abort(f);
        return -1;
    }
    if (close(f->fd) != 0) {
        f->fd = -1;
        am_err_setc(err, AM_E_IO, "%s: close: %s", f->path, strerror(errno));
        unlink(f->tmp_path);
        release(f);
        return -1;
    }
    f->fd = -1;
    if (rename(f->tmp_path, f->path) != 0) {
        am_err_setc(err, AM_E_IO, "%s: rename: %s", f->path, strerror(errno));
        unlink(f->tmp_path);
        release(f);
        return -1;
    }
    /* Make the rename itself durable. A failure here leaves a complete file
     * in place; report it anyway, since the caller asked for durability. */
    char *dir = dir_of(f->path);
    int rc = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) rc = am_err_setc(err, AM_E_IO, "%s: fsync of directory: %s", dir, strerror(errno));
    if (dfd >= 0) close(dfd);
    free(dir);
    release(f);
    return rc;
}

void am_atomic_file_abort(am_atomic_file *f) {
    if (f->fd >= 0) close(f->fd);
    if (f->tmp_path) unlink(f->tmp_path);
    release(f);
}
