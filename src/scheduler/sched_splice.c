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
 * model sees what it produced, the text is the client's, and the cache
 * covers every earlier answer.
 *
 * "What the cache holds" is its text as the server sent it: bytes that are
 * not UTF-8 (a model may emit byte tokens that never form a character) left
 * the server as U+FFFD, and the client sends U+FFFD back. So the cached side
 * goes through the server's own streaming detokenizer (am_detok with
 * am_tok_output_params: one rule, in text/detok.c) and the prompt's raw bytes
 * are compared with its output. A cached token boundary counts only where the
 * detokenizer holds nothing back, or holds bytes the prompt spells raw (a
 * character split across tokens); inside a replaced sequence there is none.
 * A run of cached text ends at a special token or at the cache's end, where
 * the held bytes are replaced as at the end of a stream. So a prompt matches
 * exactly when it is the text the server would have sent: one U+FFFD per
 * invalid sequence, never for valid bytes, and a U+FFFD typed by a user
 * matches only where the cache has one or an invalid sequence that gave it.
 *
 * Scheduler thread only (it rewrites the request's private prompt copy).
 */
#include <string.h>

#include "scheduler/sched_impl.h"

typedef struct {
    char *p;
    size_t n, cap;
} splice_buf;

static void buf_put(splice_buf *b, const char *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = am_xrealloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* The raw bytes token id stands for, appended to b. */
static bool put_piece(const am_tokenizer *t, int32_t id, splice_buf *b) {
    am_tok_decode_params dp = am_tok_decode_default_params();
    dp.strip_leading = false;
    dp.skip_special = false;
    size_t n = 0;
    am_err err = {0};
    char *p = am_tokenizer_decode(t, &id, 1, &dp, &n, &err);
    if (!p) return false;
    buf_put(b, p, n);
    free(p);
    return true;
}

/* The common prefix may end inside a character: feeds the detokenizer the
 * last few ids before l (up to a special token) so that it holds that
 * character's first bytes, and gives the prompt's side the same bytes (the
 * ids before l are equal on both sides). */
static void seed(const am_tokenizer *t, am_detok *d, const int32_t *ids, int64_t l, splice_buf *bq) {
    int64_t k = l;
    while (k > 0 && l - k < 8 && !am_tokenizer_is_special(t, ids[k - 1])) k--;
    const char *c;
    size_t n;
    for (; k < l; k++) am_detok_push(d, ids[k], &c, &n, NULL);
    n = am_detok_held(d, &c);
    buf_put(bq, c, n);
}

/* Where a walk from l ended: the last switch point (cache and prompt token
 * indices) and, for the log, where and why it stopped. */
typedef struct {
    int64_t best_a, best_q, stop_a, stop_q;
    const char *why;
    /* The cache ended inside the prompt's token stop_q - 1 (its last answer
     * token was sampled, never fed, and the prompt's token spans it and the
     * text before): that token's bytes past the cache, which can follow
     * every cached id once tokenized alone. NULL when not so. */
    char *tail;
    size_t n_tail;
} splice_walk;

/* Walks both from l: each side takes its next token while it is behind;
 * they must agree on every byte both have, and the last offset where both
 * end a token is where the prompt can switch ids. Special tokens only match
 * themselves, where neither side is inside a character. as_sent: the cached
 * side's bytes go through the server's detokenizer; else raw. */
static splice_walk walk(const am_tokenizer *t, const int32_t *at, int64_t na, const int32_t *qt, int64_t nq, int64_t l,
                        bool as_sent) {
    am_tok_decode_params op = am_tok_output_params();
    am_detok *d = as_sent ? am_detok_create(t, &op) : NULL;
    splice_buf ba = {0}, bq = {0}; /* the cache's bytes (as sent); the prompt's */
    if (d) seed(t, d, at, l, &bq);
    size_t same = 0; /* ba.p[0..same) == bq.p[0..same) */
    int64_t ia = l, iq = l;
    splice_walk w = {l, l, l, l, "bytes differ", NULL, 0};
    const char *c = "";
    size_t n;
    for (;;) {
        size_t ha = d ? am_detok_held(d, &c) : 0;
        if (ia > l && ba.n + ha == bq.n && same == ba.n && (!ha || !memcmp(c, bq.p + ba.n, ha))) {
            w.best_a = ia;
            w.best_q = iq;
        }
        if (ba.n == bq.n && ha == 0 && ia < na && iq < nq &&
            (am_tokenizer_is_special(t, at[ia]) || am_tokenizer_is_special(t, qt[iq]))) {
            if (at[ia] != qt[iq]) {
                w.why = "special tokens differ";
                break;
            }
            ia++, iq++;
            continue;
        }
        if (ba.n + ha <= bq.n) { /* the cache's side is behind */
            if (ia < na && !am_tokenizer_is_special(t, at[ia])) {
                if (d) {
                    if (am_detok_push(d, at[ia], &c, &n, NULL) < 0) break;
                    buf_put(&ba, c, n);
                } else if (!put_piece(t, at[ia], &ba)) {
                    break;
                }
                ia++;
            } else if (ha) { /* its text ends here: held bytes become U+FFFD */
                am_detok_flush(d, &c, &n);
                buf_put(&ba, c, n);
            } else {
                w.why = ia < na ? "special token in the cache" : "end of the cache";
                if (ia == na && ba.n < bq.n && same == ba.n) {
                    w.n_tail = bq.n - ba.n;
                    w.tail = am_xmalloc(w.n_tail);
                    memcpy(w.tail, bq.p + ba.n, w.n_tail);
                }
                break;
            }
        } else {
            if (iq >= nq || am_tokenizer_is_special(t, qt[iq])) {
                w.why = iq < nq ? "special token in the prompt" : "end of the prompt";
                break;
            }
            if (!put_piece(t, qt[iq], &bq)) break;
            iq++;
        }
        size_t common = ba.n < bq.n ? ba.n : bq.n;
        if (common > same && memcmp(ba.p + same, bq.p + same, common - same)) break;
        same = common;
    }
    w.stop_a = ia;
    w.stop_q = iq;
    if (d) am_detok_free(d);
    free(ba.p);
    free(bq.p);
    return w;
}

/* How far into the cache walk w lets the prompt switch to cached ids: to
 * the cache's end when it found a tail whose ids (in *tail) spell exactly
 * its bytes — a tokenizer that adds a prefix space to a text's start does
 * not — else to its last switch point. Frees w's tail bytes. */
static int64_t reach(const am_tokenizer *t, splice_walk *w, int64_t na, am_tokens *tail) {
    bool ok = false;
    if (w->tail) {
        am_tok_encode_params ep = {.add_special = false, .parse_special = false};
        am_err err = {0};
        if (am_tokenizer_encode(t, w->tail, w->n_tail, &ep, tail, &err) == 0 && tail->n > 0) {
            am_tok_decode_params dp = am_tok_decode_default_params();
            dp.strip_leading = false;
            size_t n = 0;
            char *back = am_tokenizer_decode(t, tail->ids, tail->n, &dp, &n, &err);
            ok = back && n == w->n_tail && !memcmp(back, w->tail, n);
            free(back);
        }
        free(w->tail);
        w->tail = NULL;
    }
    if (!ok) am_tokens_free(tail);
    return ok ? na : w->best_a;
}

int64_t sched_splice_generated(am_sched *s, const sched_agent *a, am_req *q, int64_t l) {
    const am_tokenizer *t = s->b->tok;
    const int32_t *at = a->tokens, *qt = q->prompt;
    const int64_t na = a->n_tokens, nq = q->r.n_prompt;
    if (l >= na || l >= nq) return l;
    /* A prompt from text (every HTTP one) is valid UTF-8 and matches the
     * cache as sent; one given as ids may spell the cache's raw bytes. The
     * walk that reaches further into the cache wins. */
    splice_walk w = walk(t, at, na, qt, nq, l, true), raw = walk(t, at, na, qt, nq, l, false);
    am_tokens tail = {0}, raw_tail = {0};
    int64_t take = reach(t, &w, na, &tail), take_raw = reach(t, &raw, na, &raw_tail);
    if (take_raw > take) {
        w = raw;
        take = take_raw;
        am_tokens_free(&tail);
        tail = raw_tail;
    } else {
        am_tokens_free(&raw_tail);
    }
    /* Take cached ids [l, take) for prompt ids [l, from); with a tail, every
     * cached id, then the tail's ids for the rest of the prompt's token. */
    bool has_tail = tail.n > 0;
    int64_t from = has_tail ? w.stop_q : w.best_q;
    am_log_debug("agent %s: splice from id %lld took %lld cached ids%s for %lld prompt ids; the walk stopped at cached "
                 "id %lld, prompt id %lld: %s",
                 a->id, (long long)l, (long long)(take - l), has_tail ? " and the end of a prompt token" : "",
                 (long long)(from - l), (long long)w.stop_a, (long long)w.stop_q, w.why);
    int64_t n2 = l + (take - l) + (int64_t)tail.n + (nq - from);
    if (take == l || n2 + q->r.max_tokens > s->p.n_ctx || n2 > INT32_MAX) {
        am_tokens_free(&tail);
        return l;
    }
    int32_t *np = am_xmalloc((size_t)n2 * sizeof *np);
    memcpy(np, qt, (size_t)l * sizeof *np);
    memcpy(np + l, at + l, (size_t)(take - l) * sizeof *np);
    if (tail.n) memcpy(np + take, tail.ids, tail.n * sizeof *np);
    memcpy(np + take + (int64_t)tail.n, qt + from, (size_t)(nq - from) * sizeof *np);
    am_tokens_free(&tail);
    free(q->prompt);
    q->prompt = np;
    q->r.prompt = np;
    q->r.n_prompt = (int)n2;
    return take;
}
