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
    splice_walk w = {l, l, l, l, "bytes differ"};
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

int64_t sched_splice_generated(am_sched *s, const sched_agent *a, am_req *q, int64_t l) {
    const am_tokenizer *t = s->b->tok;
    const int32_t *at = a->tokens, *qt = q->prompt;
    const int64_t na = a->n_tokens, nq = q->r.n_prompt;
    if (l >= na || l >= nq) return l;
    /* A prompt from text (every HTTP one) is valid UTF-8 and matches the
     * cache as sent; one given as ids may spell the cache's raw bytes. */
    splice_walk w = walk(t, at, na, qt, nq, l, true);
    splice_walk raw = walk(t, at, na, qt, nq, l, false);
    if (raw.best_a > w.best_a) w = raw;
    am_log_debug("agent %s: splice from id %lld took %lld cached ids for %lld prompt ids; the walk stopped at cached "
                 "id %lld, prompt id %lld: %s",
                 a->id, (long long)l, (long long)(w.best_a - l), (long long)(w.best_q - l), (long long)w.stop_a,
                 (long long)w.stop_q, w.why);
    if (w.best_a == l) return l;
    int64_t n2 = nq - (w.best_q - l) + (w.best_a - l);
    if (n2 + q->r.max_tokens > s->p.n_ctx || n2 > INT32_MAX) return l;
    int32_t *np = am_xmalloc((size_t)n2 * sizeof *np);
    memcpy(np, qt, (size_t)l * sizeof *np);
    memcpy(np + l, at + l, (size_t)(w.best_a - l) * sizeof *np);
    memcpy(np + w.best_a, qt + w.best_q, (size_t)(nq - w.best_q) * sizeof *np);
    free(q->prompt);
    q->prompt = np;
    q->r.prompt = np;
    q->r.n_prompt = (int)n2;
    return w.best_a;
}
