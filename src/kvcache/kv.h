/*
 * kv.h — paged attention KV storage: a pool of fixed-size blocks and, per
 * sequence, a table of block ids per layer.
 *
 * A block holds K and V of ONE layer for `block_tokens` consecutive cache
 * slots of ONE sequence. Its bytes (am_kv_block_data) are laid out as
 *     K[n_head_kv][block_tokens][head_dim]  then  V[n_head_kv][block_tokens][head_dim]
 * in the pool's element type (F16 now; F32 for checks; quantized types later —
 * each row of head_dim elements is then one or more quant blocks), so a whole
 * block is one contiguous byte range that can be copied, quantized, written to
 * disk or read back on its own (am_kv_block_read / am_kv_block_write).
 * K is stored after RoPE.
 *
 * A sequence is a run of cache slots 0..n_tokens-1 holding positions
 * pos0..pos0+n_tokens-1 (positions are consecutive; pos0 is set by the first
 * token appended, so a sequence may start at any position). Slot s of layer l
 * lives in block table[l][s / block_tokens] at row s % block_tokens.
 *
 * Invariants:
 *   - a live block has a reference count: the number of table entries holding
 *     it. All of them are at the same (layer, block index), in different
 *     sequences; it is freed only when the count drops to 0. Blocks are
 *     shared by am_kv_seq_share_prefix (a common prompt prefix held once);
 *   - copy-on-write: nobody writes into a block with more than one
 *     reference. No shared block holds reserved slots: am_kv_seq_reserve
 *     first gives the sequence its own copy of a shared block it would
 *     reserve slots in (possible after truncating into a shared block), and
 *     counts that copy in am_kv_seq_blocks_needed; am_kv_block_write and
 *     am_kv_block_convert need an unshared block (am_kv_seq_own_block);
 *   - table[l][b] is -1 only for blocks dropped from a sliding-window layer
 *     (wholly outside the window) or never written;
 *   - a free block's content is garbage.
 * Sliding-window layers keep only what a future token can see: after
 * am_kv_seq_commit, blocks whose every slot is older than the last `window`
 * slots are returned to the pool.
 *
 * Memory: block storage is allocated on first use and recycled through a free
 * list, never beyond max_blocks; am_kv_free releases everything.
 *
 * Appending tokens (reserve, write K/V rows, commit) is the engine's alone:
 * those calls are in kvcache/kv_engine.h, which only src/engine/ (and the
 * pool's own tests) include. Everyone else sees the read view, import,
 * share, truncate and remove, and plans with am_kv_seq_blocks_needed.
 *
 * Threads: one owner thread mutates the pool and the tables (the engine's).
 * Block data may be read concurrently by worker threads during a forward pass
 * while the owner waits (am_pool_run), as long as no table changes meanwhile.
 */
#ifndef AM_KV_H
#define AM_KV_H

#include "base/base.h"
#include "compute/types.h"

typedef struct am_kv_params {
    int n_layer;
    int n_head_kv;
    int head_dim;
    int block_tokens;   /* slots per block (e.g. 32) */
    int64_t max_blocks; /* upper bound on blocks alive at once (all layers) */
    am_type type;       /* element type of K and V when type_k and type_v are
                           both unset (0): F16, F32, Q8_0 or Q4_0 */
    am_type type_k;     /* K / V element types of new blocks; both 0 (= F32) */
    am_type type_v;     /* means "use type" (am_kv_get_params shows the result).
                           Q8_0 / Q4_0 need head_dim % 32 == 0 */
    const int *window;  /* [n_layer] sliding window in tokens (0 = full), or NULL */
} am_kv_params;

typedef struct am_kv am_kv;

/* Creates an empty pool. Fails (NULL, err) on bad parameters. */
am_kv *am_kv_create(const am_kv_params *p, am_err *err);
void am_kv_free(am_kv *kv);

const am_kv_params *am_kv_get_params(const am_kv *kv); /* window is copied and owned */

/* ---- blocks ------------------------------------------------------------ */

/* True for the element types a pool can hold (F32, F16, Q8_0, Q4_0). */
bool am_kv_type_supported(am_type t);
/* The K and V types that params (type, type_k, type_v) select (see above). */
void am_kv_resolve_types(am_type type, am_type type_k, am_type type_v, am_type *k, am_type *v);

/* Bytes of one block of the pool's default types (K and V). */
size_t am_kv_block_bytes(const am_kv *kv);
/* Bytes of one head_dim row in the default K type. */
size_t am_kv_row_bytes(const am_kv *kv);
am_type am_kv_type(const am_kv *kv); /* default K type */
int64_t am_kv_n_blocks_used(const am_kv *kv);
int64_t am_kv_n_blocks_free(const am_kv *kv); /* max_blocks - used */

/* Block data: K rows of head h start at h*block_tokens*row_bytes(type_k), V
 * rows at v_offset + h*block_tokens*row_bytes(type_v). Valid until the block
 * is freed or converted. */
void *am_kv_block_data(am_kv *kv, int32_t id);
const void *am_kv_block_data_const(const am_kv *kv, int32_t id);
/* Bytes of a live block in its own types, and where its V half starts. */
size_t am_kv_block_bytes_of(const am_kv *kv, int32_t id);
size_t am_kv_block_v_offset(const am_kv *kv, int32_t id);
/* Whole-block copies of am_kv_block_bytes_of(id) bytes (for persistence). */
void am_kv_block_read(const am_kv *kv, int32_t id, void *dst);
void am_kv_block_write(am_kv *kv, int32_t id, const void *src);
/* Element types of a live block's K and V rows; am_kv_block_type is K's. */
am_type am_kv_block_type(const am_kv *kv, int32_t id);
am_type am_kv_block_type_k(const am_kv *kv, int32_t id);
am_type am_kv_block_type_v(const am_kv *kv, int32_t id);
/* Re-encodes a live block's rows into new K / V types (dequantize, then
 * quantize; lossy when narrowing). Its data pointer changes. Fails (-1, err,
 * block unchanged) on a type the pool cannot hold. Owner thread only, not
 * during a forward pass. */
int am_kv_block_convert(am_kv *kv, int32_t id, am_type type_k, am_type type_v, am_err *err);
/* Table entries holding block id (0 when free). */
int am_kv_block_refs(const am_kv *kv, int32_t id);
/* Which layer a live block belongs to, and how many of its slots are filled
 * (for a shared block, the most any holder has). */
int am_kv_block_layer(const am_kv *kv, int32_t id);
int am_kv_block_n_filled(const am_kv *kv, int32_t id);

/* ---- sequences --------------------------------------------------------- */

/* Sequence handles. `int seq` below is a handle, not an index: bits 0..15
 * are a slot index (slots of removed sequences are reused), bits 16..30 the
 * slot's generation, which advances on every remove. A handle kept after its
 * sequence was removed is stale: it never reaches the slot's next sequence —
 * functions that return a status fail with AM_E_INVALID, lookups answer as
 * for no sequence (-1, NULL, false). (A generation repeats after 32767
 * removes of one slot: a handle that old could match again.) */
#define AM_KV_SEQ_IDX_BITS 16

/* Creates an empty sequence; returns its handle (>= 0), or -1 when 65536
 * sequences exist. */
int am_kv_seq_create(am_kv *kv);
/* Frees the sequence and drops its block references (a block is freed when
 * no other sequence holds it). Stale or unknown handles are ignored. */
void am_kv_seq_remove(am_kv *kv, int seq);
bool am_kv_seq_valid(const am_kv *kv, int seq);
/* 0 if seq is a live sequence's handle; else -1 with AM_E_INVALID in err,
 * saying whether it is stale (its sequence was removed) or no handle at all. */
int am_kv_seq_check(const am_kv *kv, int seq, am_err *err);
/* The slot index of a live handle (0 .. sequences ever alive at once - 1:
 * dense, for arrays indexed per sequence), or -1. */
int am_kv_seq_index(const am_kv *kv, int seq);
int64_t am_kv_seq_len(const am_kv *kv, int seq);  /* filled slots; -1 for a stale or bad handle */
int64_t am_kv_seq_pos0(const am_kv *kv, int seq); /* position of slot 0 (0 when empty) */
/* Position the next appended token must have (pos0 + len), or -1 when the
 * sequence is empty (any position may start it). */
int64_t am_kv_seq_next_pos(const am_kv *kv, int seq);

/* Keeps the first n_tokens slots (a prefix) and frees blocks past them.
 * Fails (-1, err, nothing changed) if a sliding-window layer already dropped
 * slots that the next token after the prefix would need. */
int am_kv_seq_truncate(am_kv *kv, int seq, int64_t n_tokens, am_err *err);
/* True if truncating to n_tokens would succeed. */
bool am_kv_seq_can_truncate(const am_kv *kv, int seq, int64_t n_tokens);

/* Blocks that appending n_new slots to seq would allocate (all layers),
 * copies of shared blocks included (what the engine's reserve will take). */
int64_t am_kv_seq_blocks_needed(const am_kv *kv, int seq, int64_t n_new);
/* Restores a sequence's shape (e.g. from a cache file): the empty sequence
 * seq becomes n_tokens committed slots at positions pos0.., with block b of
 * layer l allocated (in the pool's default types) exactly where
 * present[l * n_blocks + b] != 0, n_blocks = ceil(n_tokens / block_tokens).
 * The block contents are garbage until the caller fills them (am_kv_seq_block
 * + am_kv_block_write, after am_kv_block_convert if the saved block had other
 * types). present must match what the pool itself would hold: every block the
 * next token sees present, and on sliding layers nothing wholly outside the
 * window (so a restore never allocates blocks the window would drop);
 * otherwise AM_E_INVALID. AM_E_NO_KV if the pool lacks blocks. On failure
 * nothing changes. */
int am_kv_seq_import(am_kv *kv, int seq, int64_t pos0, int64_t n_tokens, const uint8_t *present, am_err *err);
/* Makes the empty sequence dst hold src's first n_tokens slots (a multiple
 * of block_tokens, <= src's length) by sharing src's blocks (references +1),
 * with src's pos0. On sliding layers dst gets the blocks its next token sees;
 * AM_E_INVALID if src already dropped some of them (am_kv_seq_can_truncate(
 * src, n_tokens) false), if dst is not empty or is src, or n_tokens is bad.
 * Allocates nothing; on failure nothing changes. */
int am_kv_seq_share_prefix(am_kv *kv, int dst, int src, int64_t n_tokens, am_err *err);
/* Gives seq its own copy of the block holding (layer, slot) if it is shared
 * and returns the (possibly new) block id; -1 (AM_E_NOT_FOUND: no block
 * there; AM_E_NO_KV: no free block). */
int32_t am_kv_seq_own_block(am_kv *kv, int seq, int layer, int64_t slot, am_err *err);

/* Block id holding slot `slot` of layer `layer`, or -1 (dropped / not reserved). */
int32_t am_kv_seq_block(const am_kv *kv, int seq, int layer, int64_t slot);
/* First slot a sliding layer still holds (0 for full layers). */
int64_t am_kv_seq_first_live(const am_kv *kv, int seq, int layer);

/* ---- checking ------------------------------------------------------------ */

/* Verifies the pool's invariants (for tests and debug builds; O(max_blocks +
 * table sizes)): every live block is in exactly refcount table entries, all
 * at its owner fields' (layer, index), none with reserved slots in it if it is
 * shared; every table entry is a live
 * block id below max_blocks; live + free == max_blocks and the free stack
 * holds each free block once; each sequence holds exactly the blocks of its
 * committed and reserved slots — minus, on sliding layers, those wholly
 * outside the window of the next token. Returns 0, or -1 with the first
 * violation in err (AM_E_INVALID). */
int am_kvc_check(const am_kv *kv, am_err *err);

#endif
