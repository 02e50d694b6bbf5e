/*
 * pool_priv.h — compute-internal pool services (not for other modules).
 */
#ifndef AM_POOL_PRIV_H
#define AM_POOL_PRIV_H

#include <stddef.h>

#include "compute/pool.h"

/* A 64-byte aligned buffer of at least `bytes`, owned by the pool (or by the
 * calling thread when pool is NULL) and reused by the next call: am_matmul
 * keeps its quantized activations here. Owner thread only. */
void *am_pool_scratch(am_pool *pool, size_t bytes);

#endif
