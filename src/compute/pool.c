/*
 * pool.c — fixed pthread pool with low-latency dispatch.
 *
 * A job is published by bumping `gen`; workers spin on it for a short while
 * (decode steps issue jobs back to back, microseconds apart) and then sleep
 * on a futex so an idle server burns no CPU. The caller runs share 0 itself
 * and then waits for `pending` to reach zero, spinning first, then sleeping.
 * Never called re-entrantly; one owner thread issues jobs.
 */
#define _GNU_SOURCE
#include "compute/pool.h"

#include <assert.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/base.h"
#include "compute/pool_priv.h"

/* Waiting: PAUSE_SPINS pause instructions (~20 ns each here, ~10 us), then
 * sched_yield() until SPIN_BUDGET seconds have passed (lets an oversubscribed
 * or shared core run the thread we wait for), then a futex sleep. */
#define PAUSE_SPINS 512
#define SPIN_BUDGET 200e-6

typedef struct worker {
    am_pool *pool;
    int ith;
    pthread_t th;
} worker;

struct am_pool {
    int n;
    worker *w;
    _Atomic uint32_t gen;     /* job generation, futex word for workers */
    _Atomic uint32_t pending; /* workers still running the current job, futex word for the caller */
    _Atomic int n_sleeping;   /* workers blocked (or about to block) on gen */
    _Atomic int caller_sleeping;
    _Atomic int stop;
    am_pool_fn fn;
    void *ctx;
    void *scratch;
    size_t scratch_size;
};

static void futex_wait(_Atomic uint32_t *addr, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* One step of a wait loop: returns true when the caller should sleep now. */
static bool spin_step(int *spins, double *t0) {
    int i = (*spins)++;
    if (i < PAUSE_SPINS) {
        cpu_relax();
        return false;
    }
    if (i == PAUSE_SPINS) *t0 = am_time_now();
    else if (am_time_now() - *t0 > SPIN_BUDGET) return true;
    sched_yield();
    return false;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    am_pool *p = w->pool;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        double t0 = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
            if (!spin_step(&spins, &t0)) continue;
            /* Announce the sleep before re-checking gen inside the futex (seq_cst pairs with
             * the caller's gen increment then n_sleeping load: one of us sees the other). */
            atomic_fetch_add(&p->n_sleeping, 1);
            futex_wait(&p->gen, seen);
            atomic_fetch_sub(&p->n_sleeping, 1);
            spins = 0;
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        p->fn(p->ctx, w->ith, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1 &&
            atomic_load(&p->caller_sleeping))
            futex_wake(&p->pending, 1);
    }
}

am_pool *am_pool_create(int n_threads) {
    if (n_threads <= 0) n_threads = am_n_cores();
    am_pool *p = am_xcalloc(1, sizeof *p);
    p->n = n_threads;
    p->w = am_xcalloc((size_t)n_threads, sizeof *p->w);
    for (int i = 1; i < n_threads; i++) {
        p->w[i].pool = p;
        p->w[i].ith = i;
        if (pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i]) != 0) {
            /* Fewer threads than asked still computes correctly. */
            am_log_warn("pool: could not start thread %d, running with %d", i, i);
            p->n = i;
            break;
        }
    }
    return p;
}

void am_pool_free(am_pool *pool) {
    if (!pool) return;
    atomic_store(&pool->stop, 1);
    atomic_fetch_add(&pool->gen, 1);
    futex_wake(&pool->gen, INT_MAX);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->w[i].th, NULL);
    am_aligned_free(pool->scratch);
    free(pool->w);
    free(pool);
}

int am_pool_n_threads(const am_pool *pool) { return pool ? pool->n : 1; }

void am_pool_run(am_pool *pool, am_pool_fn fn, void *ctx) {
    if (!pool || pool->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->pending, (uint32_t)(pool->n - 1), memory_order_relaxed);
    atomic_fetch_add(&pool->gen, 1); /* seq_cst: publishes fn/ctx/pending */
    if (atomic_load(&pool->n_sleeping) > 0) futex_wake(&pool->gen, INT_MAX);
    fn(ctx, 0, pool->n);
    int spins = 0;
    double t0 = 0;
    uint32_t left;
    while ((left = atomic_load_explicit(&pool->pending, memory_order_acquire)) != 0) {
        if (!spin_step(&spins, &t0)) continue;
        atomic_store(&pool->caller_sleeping, 1);
        futex_wait(&pool->pending, left);
        atomic_store(&pool->caller_sleeping, 0);
        spins = 0;
    }
}

void *am_pool_scratch(am_pool *pool, size_t bytes) {
    static _Thread_local void *tl_buf;
    static _Thread_local size_t tl_size;
    void **buf = pool ? &pool->scratch : &tl_buf;
    size_t *size = pool ? &pool->scratch_size : &tl_size;
    if (*size < bytes) {
        am_aligned_free(*buf);
        size_t n = bytes + bytes / 4 + 4096;
        *buf = am_xmalloc_aligned(n);
        *size = n;
    }
    return *buf;
}
