/*
 * file.h — read-only file mappings and whole-file reads.
 *
 * A mapping owns its pages until am_file_unmap. Sizes are checked before
 * reading: am_file_read_all refuses files larger than max_bytes.
 */
#ifndef AM_FILE_H
#define AM_FILE_H

#include "base/base.h"

typedef struct am_mapped_file {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
} am_mapped_file;

/* Maps path read-only. Returns 0, or -1 with err set (missing file, not a regular file). */
int am_file_map(const char *path, am_mapped_file *out, am_err *err);
void am_file_unmap(am_mapped_file *f);

/* Reads the whole file into a NUL-terminated heap buffer (caller frees).
 * Fails if the file is larger than max_bytes. *size_out gets the length
 * without the terminator. */
char *am_file_read_all(const char *path, size_t max_bytes, size_t *size_out, am_err *err);

bool am_file_exists(const char *path);
bool am_dir_exists(const char *path);

/* Joins dir and name with one '/'; caller frees. */
char *am_path_join(const char *dir, const char *name);

#endif
