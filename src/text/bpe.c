/*
 * bpe.c — the model step: one pre-token ("word") to token ids.
 *
 * Two merge rules share one engine:
 *   rank  (MODEL_BPE): adjacent ids (a,b) merge into the pair's result, the
 *         pair with the lowest merge rank first, ties to the leftmost — what
 *         HF tokenizers' BPE does, for byte-level and byte-fallback vocabularies;
 *   score (MODEL_SPM): adjacent symbols merge when their concatenation is a
 *         piece, the highest-scoring piece first, ties to the leftmost — what
 *         SentencePiece's BPE (and llama.cpp's SPM tokenizer) does; merged
 *         pieces of type UNUSED are split back into their parts at the end.
 * Small words use an O(n^2) scan (no allocation in the loop); long ones a
 * binary heap whose stale entries are recognised by symbol epochs, so the
 * whole word is O(n log n).
 *
 * Words of up to 64 bytes are cached per encode call. Nothing here can fail:
 * unknown input becomes byte tokens, the unknown token, or is dropped when
 * the vocabulary has neither (as HF does).
 */
#include <stdlib.h>
#include <string.h>

#include "text/tok_internal.h"

#define NAIVE_MAX 48
#define CACHE_MAX_WORD 64

static void ensure_syms(tok_ctx *c, size_t n) {
    if (n > c->syms_cap) {
        size_t cap = c->syms_cap ? c->syms_cap : 64;
        while (cap < n) cap *= 2;
        c->syms = am_xrealloc(c->syms, cap * sizeof *c->syms);
        c->syms_cap = cap;
    }
}

static int32_t add_sym(tok_ctx *c, size_t *ns, int32_t id, size_t start, size_t len) {
    ensure_syms(c, *ns + 1);
    tok_sym *s = &c->syms[*ns];
    s->id = id;
    s->prev = (int32_t)*ns - 1;
    s->next = -1;
    s->start = (uint32_t)start;
    s->len = (uint32_t)len;
    s->epoch = 0;
    s->node = -1;
    if (*ns) c->syms[*ns - 1].next = (int32_t)*ns;
    return (int32_t)(*ns)++;
}

/* Float score -> unsigned key ordered so that a higher score is smaller. */
static inline uint32_t score_prio(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~u;
}

/* Can symbols l and r (adjacent) merge? Gives the merge's priority and id. */
static inline bool pair_of(const am_tokenizer *t, const char *w, const tok_sym *l, const tok_sym *r, uint32_t *prio,
                           int32_t *id) {
    if (t->model == MODEL_BPE) {
        if (l->id < 0 || r->id < 0) return false;
        return tok_merges_get(&t->merges, l->id, r->id, prio, id);
    }
    int32_t m = tok_vocab_find(&t->v, w + l->start, (size_t)l->len + r->len);
    if (m < 0) return false;
    int k = t->v.kind[m];
    if (k != TK_NORMAL && k != TK_USER && k != TK_UNUSED) return false;
    *prio = score_prio(t->v.score ? t->v.score[m] : 0.0f);
    *id = m;
    return true;
}

static int32_t new_node(tok_ctx *c, int32_t left, int32_t right, int32_t id, uint32_t start, uint32_t len) {
    if (c->nodes_n == c->nodes_cap) {
        c->nodes_cap = c->nodes_cap ? c->nodes_cap * 2 : 64;
        c->nodes = am_xrealloc(c->nodes, c->nodes_cap * sizeof *c->nodes);
    }
    c->nodes[c->nodes_n] = (tok_node){left, right, id, start, len};
    return (int32_t)c->nodes_n++;
}

/* Merges symbol r into symbol l (its next). */
static void do_merge(tok_ctx *c, int32_t li, int32_t id) {
    tok_sym *l = &c->syms[li];
    int32_t ri = l->next;
    tok_sym *r = &c->syms[ri];
    if (c->t->model == MODEL_SPM) l->node = new_node(c, l->node, r->node, id, l->start, l->len + r->len);
    l->id = id;
    l->len += r->len;
    l->epoch++;
    r->len = 0;
    l->next = r->next;
    if (r->next >= 0) c->syms[r->next].prev = li;
}

static void merge_naive(tok_ctx *c, const char *w, size_t ns) {
    const am_tokenizer *t = c->t;
    uint32_t prio[NAIVE_MAX];
    int32_t pid[NAIVE_MAX];
    bool ok[NAIVE_MAX];
    for (size_t i = 0; i < ns; i++) {
        ok[i] = c->syms[i].next >= 0 && pair_of(t, w, &c->syms[i], &c->syms[c->syms[i].next], &prio[i], &pid[i]);
    }
    for (;;) {
        int32_t best = -1;
        for (int32_t i = 0; i >= 0; i = c->syms[i].next)
            if (ok[i] && (best < 0 || prio[i] < prio[best])) best = i;
        if (best < 0) break;
        do_merge(c, best, pid[best]);
        tok_sym *b = &c->syms[best];
        ok[best] = b->next >= 0 && pair_of(t, w, b, &c->syms[b->next], &prio[best], &pid[best]);
        if (b->prev >= 0) ok[b->prev] = pair_of(t, w, &c->syms[b->prev], b, &prio[b->prev], &pid[b->prev]);
    }
}

static inline bool cand_less(const tok_cand *a, const tok_cand *b) {
    return a->prio < b->prio || (a->prio == b->prio && a->pos < b->pos);
}

static void heap_push(tok_ctx *c, tok_cand x) {
    if (c->heap_n == c->heap_cap) {
        c->heap_cap = c->heap_cap ? c->heap_cap * 2 : 256;
        c->heap = am_xrealloc(c->heap, c->heap_cap * sizeof *c->heap);
    }
    size_t i = c->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&x, &c->heap[p])) break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = x;
}

static tok_cand heap_pop(tok_ctx *c) {
    tok_cand top = c->heap[0];
    tok_cand x = c->heap[--c->heap_n];
    size_t i = 0, n = c->heap_n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t m = (l + 1 < n && cand_less(&c->heap[l + 1], &c->heap[l])) ? l + 1 : l;
        if (!cand_less(&c->heap[m], &x)) break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n) c->heap[i] = x;
    return top;
}

static void push_pair(tok_ctx *c, const char *w, int32_t li) {
    tok_sym *l = &c->syms[li];
    if (l->next < 0) return;
    tok_sym *r = &c->syms[l->next];
    tok_cand x;
    if (!pair_of(c->t, w, l, r, &x.prio, &x.id)) return;
    x.pos = (uint32_t)li;
    x.right = (uint32_t)l->next;
    x.epoch_l = l->epoch;
    x.epoch_r = r->epoch;
    heap_push(c, x);
}

static void merge_heap(tok_ctx *c, const char *w, size_t ns) {
    c->heap_n = 0;
    for (size_t i = 0; i < ns; i++) push_pair(c, w, (int32_t)i);
    while (c->heap_n) {
        tok_cand x = heap_pop(c);
        tok_sym *l = &c->syms[x.pos];
        if (!l->len || l->next != (int32_t)x.right || l->epoch != x.epoch_l || c->syms[x.right].epoch != x.epoch_r)
            continue; /* stale: one side changed since this pair was queued */
        do_merge(c, (int32_t)x.pos, x.id);
        if (l->prev >= 0) push_pair(c, w, l->prev);
        push_pair(c, w, (int32_t)x.pos);
    }
}

/* ---- initial symbols ---- */

/* Rank mode: one symbol per byte (byte-level) or per character with byte
 * fallback / unknown token (HF BPE's merge_word). */
static size_t initial_rank(tok_ctx *c, const char *w, size_t n) {
    const am_tokenizer *t = c->t;
    size_t ns = 0;
    if (t->byte_level) {
        ensure_syms(c, n);
        for (size_t i = 0; i < n; i++) {
            int32_t id = t->byte_ids[(uint8_t)w[i]];
            if (id < 0) id = t->unk_id;
            if (id < 0) continue; /* HF drops a character it cannot represent */
            if (t->fuse_unk && id == t->unk_id && ns && c->syms[ns - 1].id == id) {
                c->syms[ns - 1].len++;
                continue;
            }
            add_sym(c, &ns, id, i, 1);
        }
        return ns;
    }
    const unsigned char *u = (const unsigned char *)w;
    size_t i = 0;
    while (i < n) {
        int l = tok_utf8_len(u + i, n - i);
        size_t cl = l ? (size_t)l : 1;
        int32_t id = l ? tok_vocab_find(&t->v, w + i, cl) : -1;
        if (id >= 0) {
            add_sym(c, &ns, id, i, cl);
        } else {
            bool done = false;
            if (t->byte_fallback) {
                bool all = true;
                for (size_t k = 0; k < cl; k++) all = all && t->byte_ids[u[i + k]] >= 0;
                if (all) {
                    for (size_t k = 0; k < cl; k++) add_sym(c, &ns, t->byte_ids[u[i + k]], i + k, 1);
                    done = true;
                }
            }
            if (!done && t->unk_id >= 0) {
                if (t->fuse_unk && ns && c->syms[ns - 1].id == t->unk_id &&
                    c->syms[ns - 1].start + c->syms[ns - 1].len == i)
                    c->syms[ns - 1].len += (uint32_t)cl;
                else
                    add_sym(c, &ns, t->unk_id, i, cl);
            }
        }
        i += cl;
    }
    return ns;
}

/* Score mode: one symbol per character (an invalid byte is a character). */
static size_t initial_score(tok_ctx *c, const char *w, size_t n) {
    const am_tokenizer *t = c->t;
    const unsigned char *u = (const unsigned char *)w;
    size_t ns = 0, i = 0;
    ensure_syms(c, n);
    while (i < n) {
        int l = tok_utf8_len(u + i, n - i);
        size_t cl = l ? (size_t)l : 1;
        int32_t id = l ? tok_vocab_find(&t->v, w + i, cl) : -1;
        if (id >= 0) {
            int k = t->v.kind[id];
            if (k != TK_NORMAL && k != TK_USER && k != TK_UNUSED) id = -1;
        }
        int32_t si = add_sym(c, &ns, id, i, cl);
        c->syms[si].node = new_node(c, -1, -1, id, (uint32_t)i, (uint32_t)cl);
        i += cl;
    }
    return ns;
}

/* Output of a score-mode merge-tree node: its piece, unless it is UNUSED
 * (then its two halves, as SentencePiece resegments), or bytes / the unknown
 * token for a character that is no piece. Iterative: a hostile vocabulary of
 * UNUSED pieces must not recurse once per character. */
static void emit_spm(tok_ctx *c, const char *w, int32_t root, am_tokens *out) {
    const am_tokenizer *t = c->t;
    am_tokens *st = &c->emit_stack;
    st->n = 0;
    am_tokens_push(st, root);
    while (st->n) {
        const tok_node *nd = &c->nodes[st->ids[--st->n]];
        if (nd->left >= 0) {
            if (t->v.kind[nd->id] == TK_UNUSED) {
                am_tokens_push(st, nd->right);
                am_tokens_push(st, nd->left);
            } else {
                am_tokens_push(out, nd->id);
            }
            continue;
        }
        if (nd->id >= 0) {
            am_tokens_push(out, nd->id);
            continue;
        }
        const unsigned char *u = (const unsigned char *)w + nd->start;
        bool all = t->byte_fallback;
        for (uint32_t k = 0; all && k < nd->len; k++) all = t->byte_ids[u[k]] >= 0;
        if (all)
            for (uint32_t k = 0; k < nd->len; k++) am_tokens_push(out, t->byte_ids[u[k]]);
        else if (t->unk_id >= 0)
            am_tokens_push(out, t->unk_id);
    }
}

static void encode_word(tok_ctx *c, const char *w, size_t n, am_tokens *out) {
    const am_tokenizer *t = c->t;
    if (t->ignore_merges) {
        int32_t id = tok_vocab_find(&t->v, w, n);
        if (id >= 0) {
            am_tokens_push(out, id);
            return;
        }
    }
    size_t ns;
    if (t->model == MODEL_BPE) {
        ns = initial_rank(c, w, n);
    } else {
        c->nodes_n = 0;
        ns = initial_score(c, w, n);
    }
    if (ns == 0) return;
    c->syms[ns - 1].next = -1;
    if (ns <= NAIVE_MAX)
        merge_naive(c, w, ns);
    else
        merge_heap(c, w, ns);
    for (int32_t i = 0; i >= 0; i = c->syms[i].next) {
        if (t->model == MODEL_BPE)
            am_tokens_push(out, c->syms[i].id);
        else
            emit_spm(c, w, c->syms[i].node, out);
    }
}

/* ---- per-call word cache ---- */

static void cached_word(tok_ctx *c, const char *w, size_t n, am_tokens *out);

/* Cuts a SentencePiece-style word before each "▁" that no piece can merge
 * across (see ws_split) and encodes the parts: same ids, O(n) instead of one
 * heap over the whole text. */
static void split_word(tok_ctx *c, const char *w, size_t n, am_tokens *out) {
    const am_tokenizer *t = c->t;
    const unsigned char *u = (const unsigned char *)w;
    size_t start = 0, i = 0;
    uint32_t prev = 0x2581;
    while (i < n) {
        int l = tok_utf8_len(u + i, n - i);
        uint32_t cp = l ? tok_utf8_cp(u + i, l) : 0xFFFFFFFFu - u[i];
        if (cp == 0x2581 && prev != 0x2581 && i > start) {
            bool blocked = false;
            for (int k = 0; k < t->n_ws_block; k++) blocked = blocked || t->ws_block[k] == prev;
            if (!blocked) {
                cached_word(c, w + start, i - start, out);
                start = i;
            }
        }
        prev = cp;
        i += l ? (size_t)l : 1;
    }
    cached_word(c, w + start, n - start, out);
}

void tok_model_word(tok_ctx *c, const char *w, size_t n, am_tokens *out) {
    if (!n) return;
    if (c->t->ws_split && n > 3) {
        split_word(c, w, n, out);
        return;
    }
    cached_word(c, w, n, out);
}

static void cached_word(tok_ctx *c, const char *w, size_t n, am_tokens *out) {
    if (!n) return;
    if (!c->cache || n > CACHE_MAX_WORD) {
        encode_word(c, w, n, out);
        return;
    }
    uint64_t h = tok_hash(w, n);
    uint32_t i = (uint32_t)h & c->cache_mask;
    for (;;) {
        tok_cache_slot *s = &c->cache[i];
        if (!s->key_len) break;
        if (s->hash == h && s->key_len == n && !memcmp(c->cache_keys.p + s->key_off, w, n)) {
            for (uint32_t k = 0; k < s->ids_len; k++) am_tokens_push(out, c->cache_ids.ids[s->ids_off + k]);
            return;
        }
        i = (i + 1) & c->cache_mask;
    }
    size_t before = out->n;
    encode_word(c, w, n, out);
    if (c->cache_n >= c->cache_max) return; /* full: stop remembering */
    tok_cache_slot *s = &c->cache[i];
    s->hash = h;
    s->key_off = (uint32_t)c->cache_keys.n;
    s->key_len = (uint32_t)n;
    tok_buf_add(&c->cache_keys, w, n);
    s->ids_off = (uint32_t)c->cache_ids.n;
    s->ids_len = (uint32_t)(out->n - before);
    for (size_t k = before; k < out->n; k++) am_tokens_push(&c->cache_ids, out->ids[k]);
    c->cache_n++;
}
