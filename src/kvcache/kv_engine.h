/*
 * kv_engine.h — the KV pool's write path, private to the engine: appending
 * slots to a sequence (reserve, write the K/V rows, commit) and undoing a
 * reservation. Only src/engine/ (which owns the forward pass) and the pool's
 * own tests include it — they define AM_KV_ENGINE_PRIVATE first; anywhere
 * else the include is a compile error, so the scheduler and the server can
 * only read, import, share, truncate and remove (kvcache/kv.h).
 *
 * Same rules as kv.h: owner thread only, handles checked.
 */
#ifndef AM_KV_ENGINE_H
#define AM_KV_ENGINE_H

#ifndef AM_KV_ENGINE_PRIVATE
#error "kvcache/kv_engine.h is the engine's: include kvcache/kv.h"
#endif

#include "kvcache/kv.h"

/* Makes room for slots [len, len+n_new): allocates the blocks (all layers)
 * and sets pos0 if the sequence is empty. The new slots are written by the
 * caller and become part of the sequence with am_kv_seq_commit. Fails (-1)
 * with nothing allocated if the pool lacks blocks (AM_E_NO_KV) or the handle
 * is stale (AM_E_INVALID). If the first new slot falls in a shared block,
 * that block is copied first and the sequence's table points to the copy. */
int am_kv_seq_reserve(am_kv *kv, int seq, int64_t pos_first, int64_t n_new, am_err *err);
/* Extends the sequence by n_new reserved slots and recycles sliding-window
 * blocks that no future token can see. seq must be live, n_new <= reserved. */
void am_kv_seq_commit(am_kv *kv, int seq, int64_t n_new);
/* Drops reserved-but-uncommitted blocks (after a failed step). */
void am_kv_seq_unreserve(am_kv *kv, int seq);

/* Pointers to the K and V rows of (layer, slot, kv head) — slot must be in a
 * live block. */
void *am_kv_k_row(am_kv *kv, int seq, int layer, int64_t slot, int head);
void *am_kv_v_row(am_kv *kv, int seq, int layer, int64_t slot, int head);

#endif
