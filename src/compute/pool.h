/*
 * pool.h — a fixed pthread pool for data-parallel kernels.
 *
 * am_pool_run(pool, fn, ctx) calls fn(ctx, ith, nth) for ith in [0, nth) on
 * nth threads (the caller's thread is thread 0) and returns when all are done.
 * A pool is used by one thread at a time (the engine's owner thread).
 */
#ifndef AM_POOL_H
#define AM_POOL_H

typedef struct am_pool am_pool;
typedef void (*am_pool_fn)(void *ctx, int ith, int nth);

/* n_threads <= 0 means one per core. */
am_pool *am_pool_create(int n_threads);
void am_pool_free(am_pool *pool);
int am_pool_n_threads(const am_pool *pool);
void am_pool_run(am_pool *pool, am_pool_fn fn, void *ctx);

#endif
