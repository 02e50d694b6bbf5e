/* test_util.c — fixture paths and file reading for test binaries. */
#include "test_util.h"

#include <string.h>

#include "base/base.h"
#include "base/file.h"

int am_test_failures = 0;

char *am_test_fixture(const char *rel) {
    const char *root = getenv("AM_FIXTURES");
    return am_path_join(root && *root ? root : "tests/fixtures", rel);
}

void *am_test_read_file(const char *path, size_t *size) {
    am_err err;
    size_t n = 0;
    char *p = am_file_read_all(path, (size_t)1 << 31, &n, &err);
    if (!p) {
        fprintf(stderr, "test: cannot read %s: %s\n", path, err.msg);
        exit(1);
    }
    if (size) *size = n;
    return p;
}
