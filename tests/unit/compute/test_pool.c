/* test_pool.c — every thread runs every job exactly once with the right (ith, nth),
 * through both the spinning and the sleeping wake-up paths. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "compute/pool.h"
#include "test_util.h"

typedef struct {
    int nth_seen_bad;
    _Atomic int calls[8];
    int expect_nth;
} job;

static void count(void *ctx, int ith, int nth) {
    job *j = ctx;
    if (nth != j->expect_nth || ith < 0 || ith >= nth) j->nth_seen_bad = 1;
    else atomic_fetch_add(&j->calls[ith], 1);
}

static void run_many(int n_threads, int runs, int sleep_every) {
    am_pool *p = am_pool_create(n_threads);
    int n = am_pool_n_threads(p);
    CHECK(n == n_threads);
    job j;
    memset(&j, 0, sizeof j);
    j.expect_nth = n;
    for (int r = 0; r < runs; r++) {
        am_pool_run(p, count, &j);
        /* After a run returns, every thread has finished its share. */
        for (int i = 0; i < n; i++)
            if (atomic_load(&j.calls[i]) != r + 1) {
                CHECKF(0, "threads %d run %d: thread %d called %d times", n, r, i, atomic_load(&j.calls[i]));
                am_pool_free(p);
                return;
            }
        if (sleep_every && r % sleep_every == sleep_every - 1) {
            struct timespec ts = {0, 30 * 1000 * 1000}; /* long enough for workers to sleep */
            nanosleep(&ts, NULL);
        }
    }
    CHECK(!j.nth_seen_bad);
    am_pool_free(p);
}

static void test_spinning(void) {
    for (int n = 1; n <= 4; n++) run_many(n, n <= 2 ? 20000 : 2000, 0);
}

static void test_sleeping(void) {
    for (int n = 2; n <= 3; n++) run_many(n, 12, 1);
}

static void test_default_size(void) {
    am_pool *p = am_pool_create(0);
    CHECK(am_pool_n_threads(p) >= 1);
    am_pool_free(p);
    am_pool_free(NULL);
}

/* Jobs that write disjoint slices must see all writes when run returns. */
typedef struct {
    int *buf;
    int n;
    int round;
} fill_job;

static void fill(void *ctx, int ith, int nth) {
    fill_job *f = ctx;
    for (int i = ith; i < f->n; i += nth) f->buf[i] = f->round;
}

static void test_visibility(void) {
    am_pool *p = am_pool_create(2);
    int buf[1000];
    fill_job f = {buf, 1000, 0};
    int bad = 0;
    for (int r = 1; r <= 2000 && !bad; r++) {
        f.round = r;
        am_pool_run(p, fill, &f);
        for (int i = 0; i < 1000; i++)
            if (buf[i] != r) bad = 1;
    }
    CHECK(!bad);
    am_pool_free(p);
}

int main(void) {
    AM_TEST_RUN(test_spinning);
    AM_TEST_RUN(test_sleeping);
    AM_TEST_RUN(test_default_size);
    AM_TEST_RUN(test_visibility);
    AM_TEST_EXIT();
}
