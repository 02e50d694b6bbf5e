/*
 * sched_prefix.c — the shared-prefix index: for every full block boundary k
 * of every idle hot agent, the hash of (owner, token ids [0, k*block_tokens))
 * maps to (agent, k). A new prompt finds the agent holding its longest
 * full-block prefix in one lookup per prompt block, instead of comparing
 * token lists with every agent.
 *
 * Hashes only find candidates: a match is verified by comparing token ids
 * (and the owner), so a collision never shares another prompt's blocks, and
 * owners never meet. Entries name agents by table index + generation; an
 * entry whose agent is gone, running or re-created is skipped.
 *
 * Who is indexed: idle, hot, non-ephemeral agents (added when a turn ends,
 * removed when a turn starts, on eviction and when forgotten), so a donor's
 * token list and blocks never change under an entry. Scheduler thread only.
 */
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "scheduler/sched_impl.h"

/* h[k-1] = hash of owner + tokens[0 .. k*bt) for k = 1..nblk (caller frees). */
static uint64_t *block_hashes(uint64_t owner, const int32_t *tokens, int64_t nblk, int64_t bt) {
    uint64_t *h = am_xmalloc((size_t)(nblk > 0 ? nblk : 1) * sizeof *h);
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset_withSeed(&st, owner);
    for (int64_t k = 0; k < nblk; k++) {
        XXH3_64bits_update(&st, tokens + k * bt, (size_t)bt * sizeof(int32_t));
        h[k] = XXH3_64bits_digest(&st);
    }
    return h;
}

static void rehash(sched_prefix *p, uint32_t n_heads) {
    free(p->heads);
    p->heads = am_xmalloc((size_t)n_heads * sizeof *p->heads);
    for (uint32_t i = 0; i < n_heads; i++) p->heads[i] = -1;
    p->mask = n_heads - 1;
    for (int32_t i = 0; i < p->n_e; i++) {
        prefix_ent *e = &p->e[i];
        if (e->agent < 0) continue;
        uint32_t b = (uint32_t)e->h & p->mask;
        e->next = p->heads[b];
        p->heads[b] = i;
    }
}

static void insert(sched_prefix *p, uint64_t h, int32_t agent, uint64_t gen, int32_t nblk) {
    if (!p->heads || p->n_live + 1 > (int64_t)p->mask + 1) rehash(p, p->heads ? (p->mask + 1) * 2 : 256);
    int32_t i = p->free1 - 1;
    if (i >= 0) {
        p->free1 = p->e[i].next + 1;
    } else {
        if (p->n_e == p->cap_e) {
            p->cap_e = p->cap_e ? p->cap_e * 2 : 256;
            p->e = am_xrealloc(p->e, (size_t)p->cap_e * sizeof *p->e);
        }
        i = p->n_e++;
    }
    uint32_t b = (uint32_t)h & p->mask;
    p->e[i] = (prefix_ent){.h = h, .gen = gen, .agent = agent, .nblk = nblk, .next = p->heads[b]};
    p->heads[b] = i;
    p->n_live++;
}

static void erase(sched_prefix *p, uint64_t h, int32_t agent, uint64_t gen) {
    if (!p->heads) return;
    for (int32_t *pi = &p->heads[(uint32_t)h & p->mask]; *pi >= 0; pi = &p->e[*pi].next) {
        prefix_ent *e = &p->e[*pi];
        if (e->h != h || e->agent != agent || e->gen != gen) continue;
        int32_t i = *pi;
        *pi = e->next;
        e->agent = -1;
        e->next = p->free1 - 1;
        p->free1 = i + 1;
        p->n_live--;
        return;
    }
}

void sched_prefix_add(am_sched *s, sched_agent *a) {
    sched_prefix_remove(s, a);
    if (a->ephemeral || a->running || a->seq < 0) return;
    int64_t bt = s->geom.block_tokens, nblk = a->n_tokens / bt;
    if (nblk <= 0) return;
    uint64_t *h = block_hashes(a->owner, a->tokens, nblk, bt);
    for (int64_t k = 0; k < nblk; k++) insert(&s->prefix, h[k], (int32_t)(a - s->agents), a->gen, (int32_t)k + 1);
    free(h);
    a->prefix_blocks = nblk;
}

void sched_prefix_remove(am_sched *s, sched_agent *a) {
    if (a->prefix_blocks <= 0) return;
    uint64_t *h = block_hashes(a->owner, a->tokens, a->prefix_blocks, s->geom.block_tokens);
    for (int64_t k = 0; k < a->prefix_blocks; k++) erase(&s->prefix, h[k], (int32_t)(a - s->agents), a->gen);
    free(h);
    a->prefix_blocks = 0;
}

/* The entry's agent if it is still the indexed donor it was. */
static sched_agent *entry_agent(am_sched *s, const prefix_ent *e) {
    if (e->agent < 0 || e->agent >= s->n_agents) return NULL;
    sched_agent *d = &s->agents[e->agent];
    if (!d->used || d->gen != e->gen || d->running || d->seq < 0 || d->prefix_blocks < e->nblk) return NULL;
    return d;
}

int64_t sched_prefix_find(am_sched *s, const sched_agent *a, const int32_t *prompt, int64_t n_prompt,
                          sched_agent **donor) {
    *donor = NULL;
    int64_t bt = s->geom.block_tokens, max_blk = (n_prompt - 1) / bt; /* the last token is always computed */
    if (max_blk <= 0 || !s->prefix.heads) return 0;
    uint64_t *h = block_hashes(a->owner, prompt, max_blk, bt);
    sched_agent *cur = NULL; /* holds prompt[0, k*bt) exactly, verified */
    int64_t k = 0;
    for (; k < max_blk; k++) {
        int64_t to = (k + 1) * bt;
        sched_agent *next = NULL;
        /* The donor so far, if it holds this block too: one block's compare. */
        if (cur && cur->prefix_blocks > k && !memcmp(cur->tokens + k * bt, prompt + k * bt, (size_t)bt * sizeof(int32_t)))
            next = cur;
        for (int32_t i = s->prefix.heads[(uint32_t)h[k] & s->prefix.mask]; i >= 0 && !next; i = s->prefix.e[i].next) {
            const prefix_ent *e = &s->prefix.e[i];
            sched_agent *d;
            if (e->h != h[k] || e->nblk != k + 1 || !(d = entry_agent(s, e)) || d == a || d->owner != a->owner)
                continue;
            /* Verify by tokens: a hash collision never shares. */
            if (d != cur && d->n_tokens >= to && !memcmp(d->tokens, prompt, (size_t)to * sizeof(int32_t))) next = d;
        }
        if (!next) break;
        cur = next;
    }
    free(h);
    /* Sliding layers may have dropped what a shorter prefix needs. */
    while (k > 0 && !am_kv_seq_can_truncate(s->kv, cur->seq, k * bt)) k--;
    if (k == 0) return 0;
    *donor = cur;
    return k * bt;
}

int sched_prefix_check(am_sched *s, am_err *err) {
    const sched_prefix *p = &s->prefix;
    int64_t want = 0, live = 0;
    int64_t bt = s->geom.block_tokens;
    for (int i = 0; i < s->n_agents; i++) {
        const sched_agent *a = &s->agents[i];
        if (!a->used) continue;
        bool donor = !a->ephemeral && !a->running && a->seq >= 0;
        int64_t expect = donor ? a->n_tokens / bt : 0;
        if (a->prefix_blocks != expect)
            return am_err_setc(err, AM_E_INTERNAL, "prefix index: agent %s has %lld blocks indexed, %lld expected",
                               a->id, (long long)a->prefix_blocks, (long long)expect);
        want += expect;
    }
    for (int32_t i = 0; i < p->n_e; i++) {
        const prefix_ent *e = &p->e[i];
        if (e->agent < 0) continue;
        live++;
        const sched_agent *d = e->agent < s->n_agents ? &s->agents[e->agent] : NULL;
        if (!d || !d->used || d->gen != e->gen || e->nblk < 1 || e->nblk > d->prefix_blocks)
            return am_err_setc(err, AM_E_INTERNAL, "prefix index: entry %d names no indexed agent block", (int)i);
        uint64_t *h = block_hashes(d->owner, d->tokens, e->nblk, bt);
        bool ok = h[e->nblk - 1] == e->h;
        free(h);
        if (!ok) return am_err_setc(err, AM_E_INTERNAL, "prefix index: entry %d has a stale hash", (int)i);
    }
    if (live != want || live != p->n_live)
        return am_err_setc(err, AM_E_INTERNAL, "prefix index: %lld entries (%lld counted), %lld expected",
                           (long long)live, (long long)p->n_live, (long long)want);
    return 0;
}

void sched_prefix_free(sched_prefix *p) {
    free(p->heads);
    free(p->e);
    memset(p, 0, sizeof *p);
}
