/* test_base.c — error formatting, overflow checks, path joins. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/file.h"
#include "test_util.h"

static void test_err(void) {
    am_err e;
    CHECK(am_err_set(&e, "bad %d", 7) == -1);
    CHECK(!strcmp(e.msg, "bad 7"));
    am_err_prefix(&e, "file %s", "x");
    CHECK(!strcmp(e.msg, "file x: bad 7"));
    CHECK(am_err_set(NULL, "ignored") == -1);
}

static void test_overflow(void) {
    uint64_t r;
    CHECK(am_mul_ok(3, 4, &r) && r == 12);
    CHECK(!am_mul_ok(UINT64_MAX / 2, 3, &r));
    CHECK(!am_add_ok(UINT64_MAX, 1, &r));
}

static void test_files(void) {
    char *p = am_path_join("a/", "b");
    CHECK(!strcmp(p, "a/b"));
    free(p);
    am_err e;
    am_mapped_file f;
    CHECK(am_file_map("/nonexistent/x", &f, &e) == -1);
}

int main(void) {
    AM_TEST_RUN(test_err);
    AM_TEST_RUN(test_overflow);
    AM_TEST_RUN(test_files);
    AM_TEST_EXIT();
}
