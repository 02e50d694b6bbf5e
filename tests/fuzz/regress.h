/*
 * regress.h — the regression half of a fuzz target: runs it over every file
 * of tests/fuzz/corpus/<name>/ (seeds, and the reproducers of bugs the
 * fuzzers found), each in an exact-size heap copy so that under `make asan`
 * an overread of one byte is caught. Included by
 * tests/unit/fuzz/test_fuzz_<name>.c after the target itself; runs from the
 * repository root like every test ($AM_FUZZ_CORPUS overrides the folder).
 */
#ifndef AM_FUZZ_REGRESS_H
#define AM_FUZZ_REGRESS_H

#include <dirent.h>
#include <string.h>

#include "base/base.h"
#include "base/file.h"
#include "fuzz/fuzz.h"

const char *am_fuzz_input;
volatile uint8_t am_fuzz_sink;

static int am_fuzz_name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the process exit status: 0 when every input ran (a failed
 * invariant or a sanitizer report aborts the binary instead). */
static int am_fuzz_regress(const char *target, int (*fn)(const uint8_t *, size_t)) {
    const char *root = getenv("AM_FUZZ_CORPUS");
    char *dir = am_path_join(root ? root : "tests/fuzz/corpus", target);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: no corpus folder\n", dir);
        free(dir);
        return 1;
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        names = am_xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = am_path_join(dir, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, am_fuzz_name_cmp);
    size_t ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (!am_file_exists(names[i])) continue;
        am_err err;
        size_t size;
        char *text = am_file_read_all(names[i], (size_t)64 << 20, &size, &err);
        if (!text) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        uint8_t *buf = am_xmalloc(size); /* exact size: no terminator to hide an overread */
        memcpy(buf, text, size);
        free(text);
        am_fuzz_input = names[i];
        fn(buf, size);
        free(buf);
        ran++;
    }
    am_fuzz_input = NULL;
    fprintf(stderr, "fuzz target %s: %zu inputs from %s ran clean\n", target, ran, dir);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(dir);
    return ran ? 0 : 1;
}

#endif
