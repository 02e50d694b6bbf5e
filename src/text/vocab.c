/*
 * vocab.c — the vocabulary store (one string arena, per-id arrays), its
 * key -> id index, and the merge table (pair of ids -> rank and result).
 * Owns only memory; knows nothing of file formats. Capacities are checked
 * by the loaders (ids below TOK_MAX_VOCAB, arena below 4 GiB) before use.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "text/tok_internal.h"

uint64_t tok_hash(const char *s, size_t n) { return XXH3_64bits(s, n); }

void tok_vocab_init(tok_vocab *v, int32_t n) {
    memset(v, 0, sizeof *v);
    v->n = n;
    size_t sz = (size_t)(n > 0 ? n : 1);
    v->str_off = am_xcalloc(sz, sizeof(uint32_t));
    v->str_len = am_xmalloc(sz * sizeof(uint32_t));
    v->dec_off = am_xcalloc(sz, sizeof(uint32_t));
    v->dec_len = am_xcalloc(sz, sizeof(uint32_t));
    v->key = am_xcalloc(sz, sizeof(tok_span));
    v->kind = am_xcalloc(sz, 1);
    v->flags = am_xcalloc(sz, 1);
    for (size_t i = 0; i < sz; i++) v->str_len[i] = TOK_NONE;
}

void tok_vocab_free(tok_vocab *v) {
    free(v->arena);
    free(v->str_off);
    free(v->str_len);
    free(v->dec_off);
    free(v->dec_len);
    free(v->key);
    free(v->kind);
    free(v->flags);
    free(v->score);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

uint32_t tok_arena_add(tok_vocab *v, const char *s, size_t n) {
    if (v->arena_n + n + 1 > UINT32_MAX) {
        /* Loaders bound file sizes well below this; reaching it is a bug. */
        am_log_error("tokenizer: string arena over 4 GiB");
        abort();
    }
    if (v->arena_n + n + 1 > v->arena_cap) {
        size_t cap = v->arena_cap ? v->arena_cap : 4096;
        while (cap < v->arena_n + n + 1) cap *= 2;
        if (cap > UINT32_MAX) cap = UINT32_MAX;
        /* s may be a string already in the arena (an added token re-adding
         * its own piece): find it again after the move. */
        bool inside = v->arena && (uintptr_t)s - (uintptr_t)v->arena < v->arena_n;
        size_t s_off = inside ? (size_t)(s - v->arena) : 0;
        v->arena = am_xrealloc(v->arena, cap);
        v->arena_cap = cap;
        if (inside) s = v->arena + s_off;
    }
    uint32_t off = (uint32_t)v->arena_n;
    if (n) memcpy(v->arena + off, s, n);
    v->arena[off + n] = 0; /* keeps every string NUL-terminated for printing */
    v->arena_n += n + 1;
    return off;
}

void tok_vocab_build_index(tok_vocab *v) {
    free(v->slots);
    uint32_t cnt = 0;
    for (int32_t i = 0; i < v->n; i++)
        if (v->flags[i] & TKF_INDEXED) cnt++;
    uint32_t cap = 16;
    while (cap < cnt + cnt / 2 + 16) cap *= 2; /* load factor <= 2/3 */
    v->slots = tok_big_calloc((size_t)cap * sizeof *v->slots);
    v->mask = cap - 1;
    v->n_indexed = 0;
    for (int32_t id = 0; id < v->n; id++) {
        if (!(v->flags[id] & TKF_INDEXED)) continue;
        const char *k = tok_key(v, id);
        uint32_t kl = v->key[id].len;
        uint64_t h = tok_hash(k, kl);
        uint32_t i = (uint32_t)h & v->mask, h32 = (uint32_t)(h >> 32);
        for (;;) {
            tok_slot *s = &v->slots[i];
            if (!s->id1) {
                s->id1 = (uint32_t)id + 1;
                s->hash = h32;
                s->key = v->key[id];
                v->n_indexed++;
                break;
            }
            int32_t o = (int32_t)s->id1 - 1;
            if (s->hash == h32 && s->key.len == kl && !memcmp(v->arena + s->key.off, k, kl)) {
                /* Same key twice: the later id wins (a JSON object's last
                 * duplicate wins); the earlier stays decodable. */
                v->flags[o] &= (uint8_t)~TKF_INDEXED;
                s->id1 = (uint32_t)id + 1;
                s->key = v->key[id];
                break;
            }
            i = (i + 1) & v->mask;
        }
    }
}

int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t n) { return tok_vocab_find_h(v, s, n, tok_hash(s, n)); }

int32_t tok_vocab_find_h(const tok_vocab *v, const char *s, size_t n, uint64_t h) {
    if (!v->slots) return -1;
    uint32_t i = (uint32_t)h & v->mask, h32 = (uint32_t)(h >> 32);
    for (;;) {
        const tok_slot *sl = &v->slots[i];
        if (!sl->id1) return -1;
        if (sl->hash == h32 && sl->key.len == n && !memcmp(v->arena + sl->key.off, s, n)) return (int32_t)sl->id1 - 1;
        i = (i + 1) & v->mask;
    }
}

void tok_merges_init(tok_merges *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < expected + expected / 2 + 16) cap *= 2; /* load factor <= 2/3 */
    m->slots = tok_big_calloc(cap * sizeof *m->slots);
    m->mask = (uint32_t)(cap - 1);
}

void tok_merges_free(tok_merges *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static void merges_grow(tok_merges *m) {
    tok_merges bigger;
    tok_merges_init(&bigger, (size_t)(m->mask + 1));
    for (uint32_t i = 0; i <= m->mask; i++) {
        const tok_merge_slot *s = &m->slots[i];
        if (s->key) tok_merges_add(&bigger, (int32_t)(s->key >> 32) - 1, (int32_t)(uint32_t)s->key - 1, s->rank, s->val, false);
    }
    tok_merges_free(m);
    *m = bigger;
}

void tok_merges_add(tok_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t id, bool overwrite) {
    if ((uint64_t)(m->n + 1) * 3 > ((uint64_t)m->mask + 1) * 2) merges_grow(m);
    uint64_t k = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    uint64_t h = k * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & m->mask;
    for (;;) {
        tok_merge_slot *s = &m->slots[i];
        if (s->key == k) {
            if (overwrite) {
                s->rank = rank;
                s->val = id;
            }
            return;
        }
        if (!s->key) {
            s->key = k;
            s->rank = rank;
            s->val = id;
            m->n++;
            return;
        }
        i = (i + 1) & m->mask;
    }
}
