/*
 * kv.c — the paged KV pool and per-sequence block tables (see kv.h).
 *
 * Owns block storage (allocated lazily, recycled through a free stack) and
 * the sequence tables. Never touches the model or computes attention. A
 * block may sit in several tables (a shared prompt prefix, at the same layer
 * and block index in each); refs[id] counts those entries and the block is
 * freed when it drops to 0. Writes go only to blocks with one reference:
 * am_kv_seq_reserve copies a shared block before slots in it are handed out.
 *
 * Storage of default-type blocks comes from slabs: block id lives at a fixed
 * 64-byte-aligned place in slab id / per_slab, a ~2 MiB buffer allocated when
 * its first block is (one allocation per 32 f16 blocks of llama-1b, not one
 * each). Not on transparent huge pages, unlike the weights: a restore writes
 * into fresh slabs on the request path, and faulting in fresh huge pages there
 * (the kernel zeroing them, in a VM slowly) took a restart's TTFT at 4K f16
 * from ~95 to ~330 ms. A block converted to bigger types moves to its own
 * heap buffer (heap[id]).
 */
#define AM_KV_ENGINE_PRIVATE
#include "kvcache/kv_engine.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compute/quant.h"

typedef struct kv_seq {
    bool used;
    uint16_t gen;      /* generation of this slot's current (or next) handle, 1.. */
    int64_t pos0;
    int64_t len;       /* committed slots */
    int64_t reserved;  /* slots reserved past len */
    int64_t cap;       /* block indices per layer in tab */
    int32_t *tab;      /* [n_layer][cap] block ids or -1 */
} kv_seq;

struct am_kv {
    am_kv_params p;
    int *window;          /* [n_layer] */
    size_t row_bytes;     /* one head_dim row in type_k (the default) */
    size_t block_bytes;   /* a block of the default types */
    size_t *data_bytes;   /* [max_blocks] bytes allocated at data[id] */
    void **data;          /* [max_blocks] lazily allocated storage */
    int32_t *free_stack;  /* ids of free blocks */
    int64_t n_free;       /* entries in free_stack */
    int32_t *refs;        /* [max_blocks] table entries holding the block; 0 when free */
    int32_t *owner_layer; /* [max_blocks] layer of every entry holding it */
    int64_t *owner_bidx;  /* [max_blocks] block index of every entry holding it */
    uint8_t *type_k;      /* [max_blocks] am_type of the block's K rows */
    uint8_t *type_v;      /* [max_blocks] am_type of the block's V rows */
    uint8_t *heap;        /* [max_blocks] data[id] is its own heap buffer, not a slab slot */
    void **slabs;         /* [n_slabs] lazily allocated, per_slab slots of slot_bytes each */
    int64_t per_slab, n_slabs;
    size_t slot_bytes;    /* block_bytes rounded up to 64 (every block stays 64-byte aligned) */
    kv_seq *seqs;
    int n_seqs;           /* slots in seqs */
};

bool am_kv_type_supported(am_type t) {
    return t == AM_TYPE_F16 || t == AM_TYPE_F32 || t == AM_TYPE_Q8_0 || t == AM_TYPE_Q4_0;
}

void am_kv_resolve_types(am_type type, am_type type_k, am_type type_v, am_type *k, am_type *v) {
    bool unset = type_k == AM_TYPE_F32 && type_v == AM_TYPE_F32;
    *k = unset ? type : type_k;
    *v = unset ? type : type_v;
}

/* Bytes of a block with K rows of type tk and V rows of type tv; 0 on a bad
 * type, head_dim or overflow. */
static uint64_t block_size(const am_kv_params *p, am_type tk, am_type tv) {
    size_t rk = am_type_row_bytes(tk, p->head_dim), rv = am_type_row_bytes(tv, p->head_dim);
    uint64_t n = (uint64_t)p->block_tokens * (uint64_t)p->n_head_kv, bk, bv;
    if (!rk || !rv || !am_mul_ok(rk, n, &bk) || !am_mul_ok(rv, n, &bv) || bk + bv > ((uint64_t)1 << 32))
        return 0;
    return bk + bv;
}

static int check_type(const am_kv_params *p, am_type t, const char *what, am_err *err) {
    if (!am_kv_type_supported(t))
        return am_err_set(err, "kv: %s type %s not supported (f16, f32, q8_0, q4_0)", what, am_type_name(t));
    if (p->head_dim % am_type_block_elems(t))
        return am_err_set(err, "kv: %s type %s needs head_dim a multiple of %d, not %d", what, am_type_name(t),
                          am_type_block_elems(t), p->head_dim);
    return 0;
}

am_kv *am_kv_create(const am_kv_params *p, am_err *err) {
    if (p->n_layer <= 0 || p->n_head_kv <= 0 || p->head_dim <= 0 || p->block_tokens <= 0 ||
        p->max_blocks <= 0 || p->max_blocks > INT32_MAX) {
        am_err_set(err, "kv: bad parameters (layers %d, kv heads %d, head_dim %d, block %d, blocks %lld)",
                   p->n_layer, p->n_head_kv, p->head_dim, p->block_tokens, (long long)p->max_blocks);
        return NULL;
    }
    am_type tk, tv;
    am_kv_resolve_types(p->type, p->type_k, p->type_v, &tk, &tv);
    if (check_type(p, tk, "K", err) < 0 || check_type(p, tv, "V", err) < 0) return NULL;
    uint64_t bb = block_size(p, tk, tv);
    if (!bb) {
        am_err_set(err, "kv: block size overflows");
        return NULL;
    }
    am_kv *kv = am_xcalloc(1, sizeof *kv);
    kv->p = *p;
    kv->p.type_k = tk;
    kv->p.type_v = tv;
    kv->window = am_xcalloc((size_t)p->n_layer, sizeof(int));
    if (p->window)
        for (int l = 0; l < p->n_layer; l++) kv->window[l] = p->window[l] > 0 ? p->window[l] : 0;
    kv->p.window = kv->window;
    kv->row_bytes = am_type_row_bytes(tk, p->head_dim);
    kv->block_bytes = (size_t)bb;
    size_t nb = (size_t)p->max_blocks;
    kv->data = am_xcalloc(nb, sizeof(void *));
    kv->data_bytes = am_xcalloc(nb, sizeof(size_t));
    kv->free_stack = am_xmalloc(nb * sizeof(int32_t));
    kv->refs = am_xcalloc(nb, sizeof(int32_t));
    kv->owner_layer = am_xmalloc(nb * sizeof(int32_t));
    kv->owner_bidx = am_xmalloc(nb * sizeof(int64_t));
    kv->type_k = am_xmalloc(nb);
    kv->type_v = am_xmalloc(nb);
    kv->heap = am_xcalloc(nb, 1);
    kv->slot_bytes = (kv->block_bytes + 63) & ~(size_t)63;
    kv->per_slab = ((int64_t)2 << 20) / (int64_t)kv->slot_bytes;
    if (kv->per_slab < 1) kv->per_slab = 1;
    kv->n_slabs = ((int64_t)nb + kv->per_slab - 1) / kv->per_slab;
    kv->slabs = am_xcalloc((size_t)kv->n_slabs, sizeof(void *));
    for (size_t i = 0; i < nb; i++) {
        kv->free_stack[i] = (int32_t)(nb - 1 - i); /* pop gives low ids first */
    }
    kv->n_free = (int64_t)nb;
    return kv;
}

void am_kv_free(am_kv *kv) {
    if (!kv) return;
    for (int64_t i = 0; i < kv->p.max_blocks; i++)
        if (kv->heap[i]) am_aligned_free(kv->data[i]);
    for (int64_t i = 0; i < kv->n_slabs; i++) am_aligned_free(kv->slabs[i]);
    free(kv->slabs);
    free(kv->heap);
    for (int s = 0; s < kv->n_seqs; s++) free(kv->seqs[s].tab);
    free(kv->seqs);
    free(kv->data);
    free(kv->free_stack);
    free(kv->refs);
    free(kv->owner_layer);
    free(kv->owner_bidx);
    free(kv->type_k);
    free(kv->type_v);
    free(kv->data_bytes);
    free(kv->window);
    free(kv);
}

const am_kv_params *am_kv_get_params(const am_kv *kv) { return &kv->p; }
size_t am_kv_block_bytes(const am_kv *kv) { return kv->block_bytes; }
size_t am_kv_row_bytes(const am_kv *kv) { return kv->row_bytes; }
am_type am_kv_type(const am_kv *kv) { return kv->p.type_k; }
int64_t am_kv_n_blocks_used(const am_kv *kv) { return kv->p.max_blocks - kv->n_free; }
int64_t am_kv_n_blocks_free(const am_kv *kv) { return kv->n_free; }

static void check_live(const am_kv *kv, int32_t id) {
    assert(id >= 0 && id < kv->p.max_blocks && kv->refs[id] > 0);
    (void)kv;
    (void)id;
}

void *am_kv_block_data(am_kv *kv, int32_t id) {
    check_live(kv, id);
    return kv->data[id];
}

const void *am_kv_block_data_const(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    return kv->data[id];
}

size_t am_kv_block_bytes_of(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    return (size_t)block_size(&kv->p, (am_type)kv->type_k[id], (am_type)kv->type_v[id]);
}

size_t am_kv_block_v_offset(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    return am_type_row_bytes((am_type)kv->type_k[id], kv->p.head_dim) * (size_t)kv->p.block_tokens *
           (size_t)kv->p.n_head_kv;
}

void am_kv_block_read(const am_kv *kv, int32_t id, void *dst) {
    memcpy(dst, kv->data[id], am_kv_block_bytes_of(kv, id));
}

int am_kv_block_refs(const am_kv *kv, int32_t id) {
    if (id < 0 || id >= kv->p.max_blocks) return 0;
    return kv->refs[id];
}

void am_kv_block_write(am_kv *kv, int32_t id, const void *src) {
    assert(kv->refs[id] == 1); /* a shared block: am_kv_seq_own_block first */
    memcpy(kv->data[id], src, am_kv_block_bytes_of(kv, id));
}

am_type am_kv_block_type(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    return (am_type)kv->type_k[id];
}

am_type am_kv_block_type_k(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    return (am_type)kv->type_k[id];
}

am_type am_kv_block_type_v(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    return (am_type)kv->type_v[id];
}

/* Makes data[id] hold at least n bytes (contents kept): its slab slot when
 * it has none yet and n is a default block, else a heap buffer of its own. */
static void block_storage(am_kv *kv, int32_t id, size_t n) {
    if (kv->data_bytes[id] >= n) return;
    if (!kv->data[id] && n == kv->block_bytes) {
        int64_t si = id / kv->per_slab;
        if (!kv->slabs[si]) kv->slabs[si] = am_xmalloc_aligned((size_t)kv->per_slab * kv->slot_bytes);
        kv->data[id] = (char *)kv->slabs[si] + (size_t)(id % kv->per_slab) * kv->slot_bytes;
        kv->data_bytes[id] = n;
        return;
    }
    void *d = am_xmalloc_aligned(n);
    if (kv->data[id]) memcpy(d, kv->data[id], kv->data_bytes[id]);
    if (kv->heap[id]) am_aligned_free(kv->data[id]);
    kv->data[id] = d;
    kv->data_bytes[id] = n;
    kv->heap[id] = 1;
}

/* Re-encodes n_rows rows of head_dim elements from type `from` at src into
 * type `to` at dst (src and dst do not overlap). Non-finite values (the
 * garbage of never-written rows) become 0 so the quantizers see numbers. */
static void convert_rows(const am_kv *kv, am_type from, const char *src, am_type to, char *dst, int64_t n_rows,
                         float *tmp) {
    const int hd = kv->p.head_dim;
    size_t rf = am_type_row_bytes(from, hd), rt = am_type_row_bytes(to, hd);
    for (int64_t r = 0; r < n_rows; r++) {
        am_dequant_row(from, src + (size_t)r * rf, tmp, hd);
        for (int c = 0; c < hd; c++)
            if (!isfinite(tmp[c])) tmp[c] = 0;
        am_quantize_row(to, tmp, dst + (size_t)r * rt, hd);
    }
}

int am_kv_block_convert(am_kv *kv, int32_t id, am_type type_k, am_type type_v, am_err *err) {
    if (id < 0 || id >= kv->p.max_blocks || kv->refs[id] <= 0)
        return am_err_set(err, "kv: block %d is not live", (int)id);
    if (kv->refs[id] > 1)
        return am_err_setc(err, AM_E_INVALID, "kv: block %d is shared by %d sequences (am_kv_seq_own_block first)",
                           (int)id, (int)kv->refs[id]);
    if (check_type(&kv->p, type_k, "K", err) < 0 || check_type(&kv->p, type_v, "V", err) < 0) return -1;
    am_type ok = (am_type)kv->type_k[id], ov = (am_type)kv->type_v[id];
    if (ok == type_k && ov == type_v) return 0;
    size_t nb = (size_t)block_size(&kv->p, type_k, type_v);
    if (!nb) return am_err_set(err, "kv: block size overflows");
    int64_t rows = (int64_t)kv->p.block_tokens * kv->p.n_head_kv;
    size_t old_v = am_kv_block_v_offset(kv, id);
    size_t new_v = am_type_row_bytes(type_k, kv->p.head_dim) * (size_t)rows;
    char *d = am_xmalloc_aligned(nb > kv->data_bytes[id] ? nb : kv->data_bytes[id]);
    float *tmp = am_xmalloc((size_t)kv->p.head_dim * sizeof(float));
    const char *src = kv->data[id];
    convert_rows(kv, ok, src, type_k, d, rows, tmp);
    convert_rows(kv, ov, src + old_v, type_v, d + new_v, rows, tmp);
    free(tmp);
    if (nb > kv->data_bytes[id]) kv->data_bytes[id] = nb;
    if (kv->heap[id]) am_aligned_free(kv->data[id]);
    kv->data[id] = d;
    kv->heap[id] = 1;
    kv->type_k[id] = (uint8_t)type_k;
    kv->type_v[id] = (uint8_t)type_v;
    return 0;
}

int am_kv_block_layer(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    return kv->owner_layer[id];
}

int am_kv_block_n_filled(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    /* The most any holder has filled (holders of a shared block differ after
     * one of them truncates into it). */
    int64_t best = 0, l = kv->owner_layer[id], b = kv->owner_bidx[id];
    for (int q = 0; q < kv->n_seqs; q++) {
        const kv_seq *s = &kv->seqs[q];
        if (!s->used || b >= s->cap || s->tab[(size_t)l * (size_t)s->cap + (size_t)b] != id) continue;
        int64_t n = s->len - b * kv->p.block_tokens;
        if (n > best) best = n;
    }
    return (int)(best > kv->p.block_tokens ? kv->p.block_tokens : best);
}

static int32_t block_alloc(am_kv *kv, int layer, int64_t bidx) {
    assert(kv->n_free > 0);
    int32_t id = kv->free_stack[--kv->n_free];
    block_storage(kv, id, kv->block_bytes);
    kv->refs[id] = 1;
    kv->owner_layer[id] = layer;
    kv->owner_bidx[id] = bidx;
    kv->type_k[id] = (uint8_t)kv->p.type_k;
    kv->type_v[id] = (uint8_t)kv->p.type_v;
    return id;
}

static void block_release(am_kv *kv, int32_t id) {
    check_live(kv, id);
    if (--kv->refs[id] == 0) kv->free_stack[kv->n_free++] = id;
}

/* A private copy of block id (same layer, index, types and bytes) with one
 * reference; drops one reference to id. The pool must have a free block. */
static int32_t block_unshare(am_kv *kv, int32_t id) {
    size_t n = am_kv_block_bytes_of(kv, id);
    int32_t c = block_alloc(kv, kv->owner_layer[id], kv->owner_bidx[id]);
    block_storage(kv, c, n);
    memcpy(kv->data[c], kv->data[id], n);
    kv->type_k[c] = kv->type_k[id];
    kv->type_v[c] = kv->type_v[id];
    block_release(kv, id);
    return c;
}

/* ---- sequences --------------------------------------------------------- */

/* A handle is (generation << AM_KV_SEQ_IDX_BITS) | slot index, so a handle
 * kept after am_kv_seq_remove (its slot reused by a later create) no longer
 * matches: generations start at 1 and advance on every remove. */
#define SEQ_IDX_MASK ((1 << AM_KV_SEQ_IDX_BITS) - 1)
#define SEQ_GEN_MAX (INT32_MAX >> AM_KV_SEQ_IDX_BITS)

static kv_seq *get_seq(const am_kv *kv, int seq) {
    if (seq < 0) return NULL;
    int idx = seq & SEQ_IDX_MASK, gen = seq >> AM_KV_SEQ_IDX_BITS;
    if (idx >= kv->n_seqs || !kv->seqs[idx].used || kv->seqs[idx].gen != gen) return NULL;
    return &kv->seqs[idx];
}

int am_kv_seq_check(const am_kv *kv, int seq, am_err *err) {
    if (get_seq(kv, seq)) return 0;
    int idx = seq & SEQ_IDX_MASK;
    if (seq >= 0 && seq >> AM_KV_SEQ_IDX_BITS != 0 && idx < kv->n_seqs)
        return am_err_setc(err, AM_E_INVALID, "kv: stale sequence handle %#x (the sequence was removed)", seq);
    return am_err_setc(err, AM_E_INVALID, "kv: %d is not a sequence handle", seq);
}

int am_kv_seq_index(const am_kv *kv, int seq) { return get_seq(kv, seq) ? (seq & SEQ_IDX_MASK) : -1; }

int am_kv_seq_create(am_kv *kv) {
    int id = 0;
    while (id < kv->n_seqs && kv->seqs[id].used) id++;
    if (id > SEQ_IDX_MASK) return -1;
    if (id == kv->n_seqs) {
        int n = kv->n_seqs ? kv->n_seqs * 2 : 8;
        if (n > SEQ_IDX_MASK + 1) n = SEQ_IDX_MASK + 1;
        kv->seqs = am_xrealloc(kv->seqs, (size_t)n * sizeof *kv->seqs);
        memset(kv->seqs + kv->n_seqs, 0, (size_t)(n - kv->n_seqs) * sizeof *kv->seqs);
        kv->n_seqs = n;
    }
    kv_seq *s = &kv->seqs[id];
    uint16_t gen = s->gen ? s->gen : 1;
    memset(s, 0, sizeof *s);
    s->used = true;
    s->gen = gen;
    return (int)gen << AM_KV_SEQ_IDX_BITS | id;
}

/* Frees every block at index >= from_b in every layer. */
static void free_blocks_from(am_kv *kv, kv_seq *s, int64_t from_b) {
    for (int l = 0; l < kv->p.n_layer; l++)
        for (int64_t b = from_b; b < s->cap; b++) {
            int32_t *e = &s->tab[(size_t)l * (size_t)s->cap + (size_t)b];
            if (*e >= 0) block_release(kv, *e);
            *e = -1;
        }
}

void am_kv_seq_remove(am_kv *kv, int seq) {
    kv_seq *s = get_seq(kv, seq);
    if (!s) return;
    free_blocks_from(kv, s, 0);
    free(s->tab);
    uint16_t gen = s->gen == SEQ_GEN_MAX ? 1 : s->gen + 1;
    memset(s, 0, sizeof *s);
    s->gen = gen;
}

bool am_kv_seq_valid(const am_kv *kv, int seq) { return get_seq(kv, seq) != NULL; }

int64_t am_kv_seq_len(const am_kv *kv, int seq) {
    const kv_seq *s = get_seq(kv, seq);
    return s ? s->len : -1;
}

int64_t am_kv_seq_pos0(const am_kv *kv, int seq) {
    const kv_seq *s = get_seq(kv, seq);
    return s && s->len ? s->pos0 : 0;
}

int64_t am_kv_seq_next_pos(const am_kv *kv, int seq) {
    const kv_seq *s = get_seq(kv, seq);
    if (!s || s->len == 0) return -1;
    return s->pos0 + s->len;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* First slot a layer must keep so that a token at slot `next` sees its window. */
static int64_t keep_from(const am_kv *kv, int layer, int64_t next) {
    int w = kv->window[layer];
    if (w <= 0) return 0;
    int64_t k = next - w + 1;
    return k > 0 ? k : 0;
}

bool am_kv_seq_can_truncate(const am_kv *kv, int seq, int64_t n_tokens) {
    const kv_seq *s = get_seq(kv, seq);
    if (!s || n_tokens < 0 || n_tokens > s->len) return false;
    if (n_tokens == 0) return true;
    int64_t bt = kv->p.block_tokens;
    for (int l = 0; l < kv->p.n_layer; l++) {
        int64_t need = keep_from(kv, l, n_tokens);
        for (int64_t b = need / bt; b < ceil_div(n_tokens, bt); b++)
            if (s->tab[(size_t)l * (size_t)s->cap + (size_t)b] < 0) return false;
    }
    return true;
}

int am_kv_seq_truncate(am_kv *kv, int seq, int64_t n_tokens, am_err *err) {
    kv_seq *s = get_seq(kv, seq);
    if (!s) return am_kv_seq_check(kv, seq, err);
    if (!am_kv_seq_can_truncate(kv, seq, n_tokens))
        return am_err_set(err, "kv: sequence %d (%lld tokens) cannot be cut to %lld tokens%s", seq,
                          (long long)s->len, (long long)n_tokens,
                          n_tokens <= s->len ? ": a sliding-window layer dropped what it needs" : "");
    free_blocks_from(kv, s, ceil_div(n_tokens, kv->p.block_tokens));
    s->len = n_tokens;
    s->reserved = 0;
    if (n_tokens == 0) s->pos0 = 0;
    return 0;
}

/* Layers whose block holding slot len+reserved (the next slot to be
 * reserved, inside an already allocated block) is shared: reserving there
 * copies it first. */
static int64_t shared_tail(const am_kv *kv, const kv_seq *s) {
    int64_t bt = kv->p.block_tokens, next = s->len + s->reserved, n = 0;
    if (next % bt == 0) return 0;
    for (int l = 0; l < kv->p.n_layer; l++) {
        int32_t id = s->tab[(size_t)l * (size_t)s->cap + (size_t)(next / bt)];
        n += id >= 0 && kv->refs[id] > 1;
    }
    return n;
}

int64_t am_kv_seq_blocks_needed(const am_kv *kv, int seq, int64_t n_new) {
    const kv_seq *s = get_seq(kv, seq);
    if (!s) return 0;
    int64_t bt = kv->p.block_tokens;
    int64_t have = ceil_div(s->len + s->reserved, bt);
    int64_t want = ceil_div(s->len + s->reserved + n_new, bt);
    return (want - have) * kv->p.n_layer + (n_new > 0 ? shared_tail(kv, s) : 0);
}

static void grow_table(kv_seq *s, int n_layer, int64_t need) {
    if (need <= s->cap) return;
    int64_t cap = s->cap ? s->cap : 4;
    while (cap < need) cap *= 2;
    int32_t *tab = am_xmalloc((size_t)n_layer * (size_t)cap * sizeof(int32_t));
    for (int l = 0; l < n_layer; l++)
        for (int64_t b = 0; b < cap; b++)
            tab[(size_t)l * (size_t)cap + (size_t)b] =
                b < s->cap ? s->tab[(size_t)l * (size_t)s->cap + (size_t)b] : -1;
    free(s->tab);
    s->tab = tab;
    s->cap = cap;
}

int am_kv_seq_reserve(am_kv *kv, int seq, int64_t pos_first, int64_t n_new, am_err *err) {
    kv_seq *s = get_seq(kv, seq);
    if (!s) return am_kv_seq_check(kv, seq, err);
    if (n_new <= 0) return 0;
    int64_t need = am_kv_seq_blocks_needed(kv, seq, n_new);
    if (need > kv->n_free)
        return am_err_setc(err, AM_E_NO_KV, "kv: out of blocks (sequence %d needs %lld more, %lld free)", seq,
                          (long long)need, (long long)kv->n_free);
    if (s->len == 0 && s->reserved == 0) s->pos0 = pos_first;
    int64_t bt = kv->p.block_tokens;
    int64_t from = ceil_div(s->len + s->reserved, bt);
    int64_t to = ceil_div(s->len + s->reserved + n_new, bt);
    grow_table(s, kv->p.n_layer, to);
    if ((s->len + s->reserved) % bt)
        for (int l = 0; l < kv->p.n_layer; l++) {
            int32_t *e = &s->tab[(size_t)l * (size_t)s->cap + (size_t)(from - 1)];
            if (*e >= 0 && kv->refs[*e] > 1) *e = block_unshare(kv, *e);
        }
    for (int l = 0; l < kv->p.n_layer; l++)
        for (int64_t b = from; b < to; b++)
            s->tab[(size_t)l * (size_t)s->cap + (size_t)b] = block_alloc(kv, l, b);
    s->reserved += n_new;
    return 0;
}

int am_kv_seq_import(am_kv *kv, int seq, int64_t pos0, int64_t n_tokens, const uint8_t *present, am_err *err) {
    kv_seq *s = get_seq(kv, seq);
    if (!s) return am_kv_seq_check(kv, seq, err);
    if (s->len || s->reserved)
        return am_err_set(err, "kv: import into sequence %d, which is not empty", seq);
    if (n_tokens < 0 || pos0 < 0) return am_err_set(err, "kv: import of %lld tokens at %lld", (long long)n_tokens,
                                                    (long long)pos0);
    if (n_tokens == 0) return 0;
    int64_t bt = kv->p.block_tokens, nb = ceil_div(n_tokens, bt), count = 0;
    for (int l = 0; l < kv->p.n_layer; l++) {
        int64_t first = keep_from(kv, l, n_tokens) / bt; /* blocks below are wholly outside the window */
        for (int64_t b = 0; b < nb; b++) {
            bool p = present[(size_t)l * (size_t)nb + (size_t)b] != 0;
            if (b >= first && !p)
                return am_err_set(err, "kv: import: layer %d lacks block %lld, which the next token sees", l,
                                  (long long)b);
            if (b < first && p)
                return am_err_set(err, "kv: import: layer %d block %lld lies outside its %d-token window", l,
                                  (long long)b, kv->window[l]);
            count += p;
        }
    }
    if (count > kv->n_free)
        return am_err_setc(err, AM_E_NO_KV, "kv: out of blocks (import into sequence %d needs %lld, %lld free)", seq,
                           (long long)count, (long long)kv->n_free);
    grow_table(s, kv->p.n_layer, nb);
    for (int l = 0; l < kv->p.n_layer; l++)
        for (int64_t b = 0; b < nb; b++)
            if (present[(size_t)l * (size_t)nb + (size_t)b])
                s->tab[(size_t)l * (size_t)s->cap + (size_t)b] = block_alloc(kv, l, b);
    s->pos0 = pos0;
    s->len = n_tokens;
    return 0;
}

int am_kv_seq_share_prefix(am_kv *kv, int dst, int src, int64_t n_tokens, am_err *err) {
    kv_seq *d = get_seq(kv, dst), *s = get_seq(kv, src);
    if (!d || !s) return am_kv_seq_check(kv, d ? src : dst, err);
    if (dst == src || d->len || d->reserved)
        return am_err_setc(err, AM_E_INVALID, "kv: share into sequence %d, which is %s", dst,
                           dst == src ? "the source" : "not empty");
    int64_t bt = kv->p.block_tokens;
    if (n_tokens < 0 || n_tokens % bt || n_tokens > s->len)
        return am_err_setc(err, AM_E_INVALID, "kv: share of %lld tokens of sequence %d (%lld tokens, blocks of %lld)",
                           (long long)n_tokens, src, (long long)s->len, (long long)bt);
    if (n_tokens == 0) return 0;
    if (!am_kv_seq_can_truncate(kv, src, n_tokens))
        return am_err_setc(err, AM_E_INVALID,
                           "kv: share of %lld tokens of sequence %d: a sliding-window layer dropped what it needs",
                           (long long)n_tokens, src);
    int64_t nb = n_tokens / bt;
    grow_table(d, kv->p.n_layer, nb);
    for (int l = 0; l < kv->p.n_layer; l++)
        for (int64_t b = keep_from(kv, l, n_tokens) / bt; b < nb; b++) {
            int32_t id = s->tab[(size_t)l * (size_t)s->cap + (size_t)b];
            assert(id >= 0);
            kv->refs[id]++;
            d->tab[(size_t)l * (size_t)d->cap + (size_t)b] = id;
        }
    d->pos0 = s->pos0;
    d->len = n_tokens;
    return 0;
}

int32_t am_kv_seq_own_block(am_kv *kv, int seq, int layer, int64_t slot, am_err *err) {
    if (!get_seq(kv, seq)) return am_kv_seq_check(kv, seq, err);
    int32_t id = am_kv_seq_block(kv, seq, layer, slot);
    if (id < 0) return am_err_setc(err, AM_E_NOT_FOUND, "kv: sequence %d holds no block at layer %d slot %lld", seq,
                                   layer, (long long)slot);
    if (kv->refs[id] == 1) return id;
    if (kv->n_free == 0) return am_err_setc(err, AM_E_NO_KV, "kv: out of blocks (copy of a shared block)");
    const kv_seq *s = get_seq(kv, seq);
    int32_t *e = &s->tab[(size_t)layer * (size_t)s->cap + (size_t)(slot / kv->p.block_tokens)];
    *e = block_unshare(kv, id);
    return *e;
}

void am_kv_seq_unreserve(am_kv *kv, int seq) {
    kv_seq *s = get_seq(kv, seq);
    if (!s || !s->reserved) return;
    free_blocks_from(kv, s, ceil_div(s->len, kv->p.block_tokens));
    s->reserved = 0;
    if (s->len == 0) s->pos0 = 0;
}

void am_kv_seq_commit(am_kv *kv, int seq, int64_t n_new) {
    kv_seq *s = get_seq(kv, seq);
    assert(s && n_new <= s->reserved);
    s->len += n_new;
    s->reserved -= n_new;
    int64_t bt = kv->p.block_tokens;
    for (int l = 0; l < kv->p.n_layer; l++) {
        if (kv->window[l] <= 0) continue;
        /* The next token (slot len) sees slots >= keep; a block whose last
         * slot is below keep is invisible to every future token. */
        int64_t keep = keep_from(kv, l, s->len);
        for (int64_t b = 0; (b + 1) * bt <= keep; b++) {
            int32_t *e = &s->tab[(size_t)l * (size_t)s->cap + (size_t)b];
            if (*e >= 0) {
                block_release(kv, *e);
                *e = -1;
            }
        }
    }
}

int32_t am_kv_seq_block(const am_kv *kv, int seq, int layer, int64_t slot) {
    const kv_seq *s = get_seq(kv, seq);
    if (!s || layer < 0 || layer >= kv->p.n_layer || slot < 0) return -1;
    int64_t b = slot / kv->p.block_tokens;
    if (b >= s->cap) return -1;
    return s->tab[(size_t)layer * (size_t)s->cap + (size_t)b];
}

static void *row_ptr(am_kv *kv, int seq, int layer, int64_t slot, int head, bool v) {
    int32_t id = am_kv_seq_block(kv, seq, layer, slot);
    assert(id >= 0 && head >= 0 && head < kv->p.n_head_kv);
    int64_t bt = kv->p.block_tokens;
    am_type ty = (am_type)(v ? kv->type_v[id] : kv->type_k[id]);
    size_t off = ((size_t)head * (size_t)bt + (size_t)(slot % bt)) * am_type_row_bytes(ty, kv->p.head_dim);
    if (v) off += am_kv_block_v_offset(kv, id);
    return (char *)kv->data[id] + off;
}

void *am_kv_k_row(am_kv *kv, int seq, int layer, int64_t slot, int head) {
    return row_ptr(kv, seq, layer, slot, head, false);
}

void *am_kv_v_row(am_kv *kv, int seq, int layer, int64_t slot, int head) {
    return row_ptr(kv, seq, layer, slot, head, true);
}

int64_t am_kv_seq_first_live(const am_kv *kv, int seq, int layer) {
    const kv_seq *s = get_seq(kv, seq);
    if (!s || kv->window[layer] <= 0) return 0;
    int64_t b = 0;
    while (b < s->cap && s->tab[(size_t)layer * (size_t)s->cap + (size_t)b] < 0) b++;
    return b * kv->p.block_tokens;
}

/* ---- consistency check --------------------------------------------------- */

#define KVC_FAIL(...) return am_err_setc(err, AM_E_INVALID, "kv check: " __VA_ARGS__)

int am_kvc_check(const am_kv *kv, am_err *err) {
    const int64_t nb = kv->p.max_blocks, bt = kv->p.block_tokens;
    int64_t n_live = 0;
    for (int64_t i = 0; i < nb; i++) {
        if (kv->refs[i] < 0) KVC_FAIL("block %lld has %d references", (long long)i, (int)kv->refs[i]);
        if (kv->refs[i] == 0) continue;
        n_live++;
        if (!am_kv_type_supported((am_type)kv->type_k[i]) || !am_kv_type_supported((am_type)kv->type_v[i]))
            KVC_FAIL("block %lld has an unsupported type", (long long)i);
        if (!kv->data[i] || kv->data_bytes[i] < block_size(&kv->p, (am_type)kv->type_k[i], (am_type)kv->type_v[i]))
            KVC_FAIL("block %lld has too little storage", (long long)i);
    }
    if (kv->n_free < 0 || n_live + kv->n_free != nb)
        KVC_FAIL("%lld live + %lld free blocks != %lld", (long long)n_live, (long long)kv->n_free, (long long)nb);
    int32_t *seen = am_xcalloc((size_t)nb, sizeof(int32_t));
    for (int64_t k = 0; k < kv->n_free; k++) {
        int32_t id = kv->free_stack[k];
        if (id < 0 || id >= nb || seen[id] || kv->refs[id] != 0) {
            free(seen);
            KVC_FAIL("free stack entry %lld (block %d) is out of range, repeated or live", (long long)k, (int)id);
        }
        seen[id] = 1;
    }
    memset(seen, 0, (size_t)nb * sizeof(int32_t));
    /* Every table entry: a live block whose owner fields (layer, index) name
     * the entry's; a block sits in exactly refs table entries (counted in
     * seen); entries past the reserved range empty; full layers hold every
     * block of the range, sliding layers exactly those a future token can
     * see. */
#define KVC_FAIL_FREE(...) \
    do {                   \
        free(seen);        \
        KVC_FAIL(__VA_ARGS__); \
    } while (0)
    for (int s = 0; s < kv->n_seqs; s++) {
        const kv_seq *q = &kv->seqs[s];
        if (!q->used) continue;
        if (q->len < 0 || q->reserved < 0)
            KVC_FAIL_FREE("sequence %d: length %lld, reserved %lld", s, (long long)q->len, (long long)q->reserved);
        int64_t n_b = ceil_div(q->len + q->reserved, bt);
        if (n_b > q->cap)
            KVC_FAIL_FREE("sequence %d: %lld blocks in a table of %lld", s, (long long)n_b, (long long)q->cap);
        for (int l = 0; l < kv->p.n_layer; l++) {
            int64_t first = kv->window[l] > 0 ? keep_from(kv, l, q->len) / bt : 0;
            for (int64_t b = 0; b < q->cap; b++) {
                int32_t id = q->tab[(size_t)l * (size_t)q->cap + (size_t)b];
                bool want = b >= first && b < n_b;
                if (id < 0) {
                    if (want) KVC_FAIL_FREE("sequence %d layer %d: block %lld missing", s, l, (long long)b);
                    continue;
                }
                if (!want)
                    KVC_FAIL_FREE("sequence %d layer %d: block %lld (id %d) held outside the %s", s, l, (long long)b,
                                  (int)id, b >= n_b ? "reserved range" : "window");
                if (id >= nb) KVC_FAIL_FREE("sequence %d layer %d: block id %d past the budget", s, l, (int)id);
                if (kv->refs[id] <= 0)
                    KVC_FAIL_FREE("sequence %d layer %d index %lld: block %d is free", s, l, (long long)b, (int)id);
                if (kv->owner_layer[id] != l || kv->owner_bidx[id] != b)
                    KVC_FAIL_FREE("sequence %d layer %d index %lld: block %d belongs to (layer %d, index %lld)", s, l,
                                  (long long)b, (int)id, kv->owner_layer[id], (long long)kv->owner_bidx[id]);
                seen[id]++;
                /* A shared block is written by nobody: no holder may have
                 * reserved slots in it. */
                if (kv->refs[id] > 1 && q->reserved > 0 && q->len < (b + 1) * bt && q->len + q->reserved > b * bt)
                    KVC_FAIL_FREE("sequence %d layer %d: reserved slots in block %d, shared by %d", s, l, (int)id,
                                  (int)kv->refs[id]);
            }
        }
    }
    for (int64_t i = 0; i < nb; i++) {
        int n_in = seen[i]; /* read before KVC_FAIL_FREE frees seen */
        if (n_in != kv->refs[i])
            KVC_FAIL_FREE("block %lld is in %d table entries but has %d references", (long long)i, n_in,
                          (int)kv->refs[i]);
    }
#undef KVC_FAIL_FREE
    free(seen);
    return 0;
}
