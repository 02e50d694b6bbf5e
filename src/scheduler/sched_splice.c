/*
 * sched_splice.c — a chat client sends the model's answer back as text in
 * the next request, and the chat template renders it again. Tokenizing that
 * text need not give the ids the model generated: BPE merges across the
 * edges of generated tokens, and a model may emit a split the tokenizer
 * would never make. The cache holds the generated ids, so reuse would stop
 * at the first differing id and the rest of the answer be prefilled again
 * (every token of it, at full context) — and, since the next turn sends
 * the whole history as text again, at the first earlier answer in every
 * turn after. When the prompt's bytes from the mismatch on spell exactly
 * what the cache holds, the prompt takes the cached ids for those bytes: the
 * model sees what it produced, the text is the client's byte for byte, and
 * the cache covers every earlier answer.
 *
 * Scheduler thread only (it rewrites the request's private prompt copy).
 */
#include <string.h>

#include "scheduler/sched_impl.h"

/* The bytes token id stands for, appended to *buf (grown as needed). */
static bool append_piece(const am_tokenizer *t, int32_t id, char **buf, size_t *len, size_t *cap) {
    am_tok_decode_params dp = am_tok_decode_default_params();
    dp.strip_leading = false;
    dp.skip_special = false;
    size_t n = 0;
    am_err err = {0};
    char *p = am_tokenizer_decode(t, &id, 1, &dp, &n, &err);
    if (!p) return false;
    if (*len + n > *cap) {
        *cap = (*len + n) * 2 + 64;
        *buf = am_xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    free(p);
    return true;
}

int64_t sched_splice_generated(am_sched *s, const sched_agent *a, am_req *q, int64_t l) {
    const am_tokenizer *t = s->b->tok;
    const int32_t *at = a->tokens, *qt = q->prompt;
    const int64_t na = a->n_tokens, nq = q->r.n_prompt;
    if (l >= na || l >= nq) return l;
    /* Walk both byte streams from l: each side takes its next token while it
     * is behind; they must agree on every byte both have, and the last
     * offset where both end a token is where the prompt can switch ids.
     * Special tokens only match themselves, at such an offset. */
    char *ba = NULL, *bq = NULL;
    size_t la = 0, lq = 0, ca = 0, cq = 0, same = 0; /* ba[0..same) == bq[0..same) */
    int64_t ia = l, iq = l, best_a = l, best_q = l;
    for (;;) {
        if (la == lq && ia > l) {
            best_a = ia;
            best_q = iq;
        }
        if (la == lq && ia < na && iq < nq && (am_tokenizer_is_special(t, at[ia]) || am_tokenizer_is_special(t, qt[iq]))) {
            if (at[ia] != qt[iq]) break;
            ia++, iq++;
            continue;
        }
        if (la <= lq) {
            if (ia >= na || am_tokenizer_is_special(t, at[ia]) || !append_piece(t, at[ia], &ba, &la, &ca)) break;
            ia++;
        } else {
            if (iq >= nq || am_tokenizer_is_special(t, qt[iq]) || !append_piece(t, qt[iq], &bq, &lq, &cq)) break;
            iq++;
        }
        size_t common = la < lq ? la : lq;
        if (common > same && memcmp(ba + same, bq + same, common - same)) break;
        same = common;
    }
    free(ba);
    free(bq);
    if (best_a == l) return l;
    int64_t n2 = nq - (best_q - l) + (best_a - l);
    if (n2 + q->r.max_tokens > s->p.n_ctx || n2 > INT32_MAX) return l;
    int32_t *np = am_xmalloc((size_t)n2 * sizeof *np);
    memcpy(np, qt, (size_t)l * sizeof *np);
    memcpy(np + l, at + l, (size_t)(best_a - l) * sizeof *np);
    memcpy(np + best_a, qt + best_q, (size_t)(nq - best_q) * sizeof *np);
    free(q->prompt);
    q->prompt = np;
    q->r.prompt = np;
    q->r.n_prompt = (int)n2;
    return best_a;
}
