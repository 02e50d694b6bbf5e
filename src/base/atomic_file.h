/*
 * atomic_file.h — write a file so that readers see either the old file or
 * the complete new one, never a part: data goes to a temporary file beside
 * the target ("<path>.tmp.<pid>.<n>"), and commit fsyncs it, renames it over
 * the target and fsyncs the directory.
 *
 * Ownership: an am_atomic_file owns its descriptor and temporary file until
 * commit or abort. Any failure (open, write, fsync, rename) removes the
 * temporary file, so nothing partial is ever left behind. One thread at a
 * time per am_atomic_file.
 */
#ifndef AM_ATOMIC_FILE_H
#define AM_ATOMIC_FILE_H

#include "base/base.h"

typedef struct am_atomic_file {
    int fd;            /* -1 when closed */
    char *path;        /* target */
    char *tmp_path;    /* temporary file, removed on abort */
    uint64_t written;  /* bytes written so far */
} am_atomic_file;

/* Creates the temporary file next to path (mode 0644, exclusive). Returns 0,
 * or -1 with err set (directory missing or not writable...); on failure f
 * holds nothing and needs no abort. */
int am_atomic_file_open(am_atomic_file *f, const char *path, am_err *err);

/* Appends n bytes (retrying short writes). On failure the file is aborted
 * (temporary removed) and -1 returned with err set. */
int am_atomic_file_write(am_atomic_file *f, const void *buf, size_t n, am_err *err);

/* fsync, close, rename over the target, fsync the directory. On failure the
 * temporary file is removed and the target is left as it was. f is closed
 * either way. */
int am_atomic_file_commit(am_atomic_file *f, am_err *err);

/* Closes and removes the temporary file. Safe to call on a closed, committed
 * or aborted file (then it does nothing). */
void am_atomic_file_abort(am_atomic_file *f);

#endif
