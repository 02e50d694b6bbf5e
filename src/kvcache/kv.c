/*
 * kv.c — the paged KV pool and per-sequence block tables (see kv.h).
 *
 * Owns block storage (allocated lazily, recycled through a free stack) and
 * the sequence tables. Never touches the model or computes attention; never
 * lets a block id appear in two tables.
 */
#include "kvcache/kv.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct kv_seq {
    bool used;
    int64_t pos0;
    int64_t len;       /* committed slots */
    int64_t reserved;  /* slots reserved past len */
    int64_t cap;       /* block indices per layer in tab */
    int32_t *tab;      /* [n_layer][cap] block ids or -1 */
} kv_seq;

struct am_kv {
    am_kv_params p;
    int *window;          /* [n_layer] */
    size_t row_bytes;     /* one head_dim row */
    size_t block_bytes;
    void **data;          /* [max_blocks] lazily allocated storage */
    int32_t *free_stack;  /* ids of free blocks */
    int64_t n_free;       /* entries in free_stack */
    int32_t *owner_seq;   /* [max_blocks] -1 when free */
    int32_t *owner_layer; /* [max_blocks] */
    int64_t *owner_bidx;  /* [max_blocks] block index in the sequence */
    uint8_t *block_type;  /* [max_blocks] am_type of the block's elements */
    kv_seq *seqs;
    int n_seqs;           /* slots in seqs */
};

am_kv *am_kv_create(const am_kv_params *p, am_err *err) {
    if (p->n_layer <= 0 || p->n_head_kv <= 0 || p->head_dim <= 0 || p->block_tokens <= 0 ||
        p->max_blocks <= 0 || p->max_blocks > INT32_MAX) {
        am_err_set(err, "kv: bad parameters (layers %d, kv heads %d, head_dim %d, block %d, blocks %lld)",
                   p->n_layer, p->n_head_kv, p->head_dim, p->block_tokens, (long long)p->max_blocks);
        return NULL;
    }
    if (p->type != AM_TYPE_F16 && p->type != AM_TYPE_F32) {
        am_err_set(err, "kv: element type %s not supported", am_type_name(p->type));
        return NULL;
    }
    size_t row = am_type_row_bytes(p->type, p->head_dim);
    uint64_t bb;
    if (!row || !am_mul_ok(row, (uint64_t)p->block_tokens * (uint64_t)p->n_head_kv * 2u, &bb) ||
        bb > ((uint64_t)1 << 32)) {
        am_err_set(err, "kv: block size overflows");
        return NULL;
    }
    am_kv *kv = am_xcalloc(1, sizeof *kv);
    kv->p = *p;
    kv->window = am_xcalloc((size_t)p->n_layer, sizeof(int));
    if (p->window)
        for (int l = 0; l < p->n_layer; l++) kv->window[l] = p->window[l] > 0 ? p->window[l] : 0;
    kv->p.window = kv->window;
    kv->row_bytes = row;
    kv->block_bytes = (size_t)bb;
    size_t nb = (size_t)p->max_blocks;
    kv->data = am_xcalloc(nb, sizeof(void *));
    kv->free_stack = am_xmalloc(nb * sizeof(int32_t));
    kv->owner_seq = am_xmalloc(nb * sizeof(int32_t));
    kv->owner_layer = am_xmalloc(nb * sizeof(int32_t));
    kv->owner_bidx = am_xmalloc(nb * sizeof(int64_t));
    kv->block_type = am_xmalloc(nb);
    for (size_t i = 0; i < nb; i++) {
        kv->free_stack[i] = (int32_t)(nb - 1 - i); /* pop gives low ids first */
        kv->owner_seq[i] = -1;
    }
    kv->n_free = (int64_t)nb;
    return kv;
}

void am_kv_free(am_kv *kv) {
    if (!kv) return;
    for (int64_t i = 0; i < kv->p.max_blocks; i++) am_aligned_free(kv->data[i]);
    for (int s = 0; s < kv->n_seqs; s++) free(kv->seqs[s].tab);
    free(kv->seqs);
    free(kv->data);
    free(kv->free_stack);
    free(kv->owner_seq);
    free(kv->owner_layer);
    free(kv->owner_bidx);
    free(kv->block_type);
    free(kv->window);
    free(kv);
}

const am_kv_params *am_kv_get_params(const am_kv *kv) { return &kv->p; }
size_t am_kv_block_bytes(const am_kv *kv) { return kv->block_bytes; }
size_t am_kv_row_bytes(const am_kv *kv) { return kv->row_bytes; }
am_type am_kv_type(const am_kv *kv) { return kv->p.type; }
int64_t am_kv_n_blocks_used(const am_kv *kv) { return kv->p.max_blocks - kv->n_free; }
int64_t am_kv_n_blocks_free(const am_kv *kv) { return kv->n_free; }

static void check_live(const am_kv *kv, int32_t id) {
    assert(id >= 0 && id < kv->p.max_blocks && kv->owner_seq[id] >= 0);
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

void am_kv_block_read(const am_kv *kv, int32_t id, void *dst) {
    check_live(kv, id);
    memcpy(dst, kv->data[id], kv->block_bytes);
}

void am_kv_block_write(am_kv *kv, int32_t id, const void *src) {
    check_live(kv, id);
    memcpy(kv->data[id], src, kv->block_bytes);
}

am_type am_kv_block_type(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    return (am_type)kv->block_type[id];
}

int am_kv_block_layer(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    return kv->owner_layer[id];
}

int am_kv_block_n_filled(const am_kv *kv, int32_t id) {
    check_live(kv, id);
    const kv_seq *s = &kv->seqs[kv->owner_seq[id]];
    int64_t n = s->len - kv->owner_bidx[id] * kv->p.block_tokens;
    return (int)(n < 0 ? 0 : n > kv->p.block_tokens ? kv->p.block_tokens : n);
}

static int32_t block_alloc(am_kv *kv, int seq, int layer, int64_t bidx) {
    assert(kv->n_free > 0);
    int32_t id = kv->free_stack[--kv->n_free];
    if (!kv->data[id]) kv->data[id] = am_xmalloc_aligned(kv->block_bytes);
    kv->owner_seq[id] = seq;
    kv->owner_layer[id] = layer;
    kv->owner_bidx[id] = bidx;
    kv->block_type[id] = (uint8_t)kv->p.type;
    return id;
}

static void block_release(am_kv *kv, int32_t id) {
    check_live(kv, id);
    kv->owner_seq[id] = -1;
    kv->free_stack[kv->n_free++] = id;
}

/* ---- sequences --------------------------------------------------------- */

static kv_seq *get_seq(const am_kv *kv, int seq) {
    if (seq < 0 || seq >= kv->n_seqs || !kv->seqs[seq].used) return NULL;
    return &kv->seqs[seq];
}

int am_kv_seq_create(am_kv *kv) {
    int id = 0;
    while (id < kv->n_seqs && kv->seqs[id].used) id++;
    if (id == kv->n_seqs) {
        int n = kv->n_seqs ? kv->n_seqs * 2 : 8;
        kv->seqs = am_xrealloc(kv->seqs, (size_t)n * sizeof *kv->seqs);
        memset(kv->seqs + kv->n_seqs, 0, (size_t)(n - kv->n_seqs) * sizeof *kv->seqs);
        kv->n_seqs = n;
    }
    kv_seq *s = &kv->seqs[id];
    memset(s, 0, sizeof *s);
    s->used = true;
    return id;
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
    memset(s, 0, sizeof *s);
}

bool am_kv_seq_valid(const am_kv *kv, int seq) { return get_seq(kv, seq) != NULL; }

int64_t am_kv_seq_len(const am_kv *kv, int seq) {
    const kv_seq *s = get_seq(kv, seq);
    return s ? s->len : 0;
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
    if (!s) return am_err_set(err, "kv: no sequence %d", seq);
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

int64_t am_kv_seq_blocks_needed(const am_kv *kv, int seq, int64_t n_new) {
    const kv_seq *s = get_seq(kv, seq);
    if (!s) return 0;
    int64_t bt = kv->p.block_tokens;
    int64_t have = ceil_div(s->len + s->reserved, bt);
    int64_t want = ceil_div(s->len + s->reserved + n_new, bt);
    return (want - have) * kv->p.n_layer;
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
    if (!s) return am_err_set(err, "kv: no sequence %d", seq);
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
    for (int l = 0; l < kv->p.n_layer; l++)
        for (int64_t b = from; b < to; b++)
            s->tab[(size_t)l * (size_t)s->cap + (size_t)b] = block_alloc(kv, seq, l, b);
    s->reserved += n_new;
    return 0;
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
    size_t off = ((size_t)head * (size_t)bt + (size_t)(slot % bt)) * kv->row_bytes;
    if (v) off += kv->block_bytes / 2;
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
