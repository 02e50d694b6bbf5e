/*
 * pretok.c — pre-tokenization: cutting a normalized segment into words, then
 * handing each word to the model (bpe.c), depth first.
 *
 * Every step (a Split by regex / string / character class with HF's five
 * delimiter behaviours, ByteLevel's prefix space, Metaspace) turns one piece
 * into sub-pieces that go straight to the next step, so memory stays
 * O(longest piece) however long the input: nothing builds a list of all words.
 * Pieces are views into the segment or into a per-step scratch buffer that
 * lives until that step's call returns.
 *
 * Regex matching uses PCRE2 with PCRE2_MATCH_INVALID_UTF: invalid bytes never
 * match and so fall into the gaps between matches, where they become pieces of
 * their own (and then bytes to the model).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/tok_internal.h"

bool tok_is_whitespace(uint32_t cp);

tok_ctx *tok_ctx_create(const am_tokenizer *t, size_t input_len) {
    tok_ctx *c = am_xcalloc(1, sizeof *c);
    c->t = t;
    c->md = pcre2_match_data_create(1, NULL);
    /* JIT matching starts on PCRE2's 32 KiB default stack; a bigger one is
     * made only if a match runs out (see regex_match), so short encodes do
     * not pay for mapping one. */
    if (input_len >= 2048) {
        uint32_t cap = 1u << 15;
        c->cache = am_xcalloc(cap, sizeof *c->cache);
        c->cache_mask = cap - 1;
        c->cache_max = cap / 2;
    }
    return c;
}

void tok_ctx_free(tok_ctx *c) {
    if (!c) return;
    pcre2_match_data_free(c->md);
    if (c->mctx) pcre2_match_context_free(c->mctx);
    if (c->jit) pcre2_jit_stack_free(c->jit);
    for (int i = 0; i <= TOK_MAX_STEPS; i++) tok_buf_free(&c->scratch[i]);
    tok_buf_free(&c->norm_buf);
    free(c->syms);
    free(c->heap);
    free(c->nodes);
    am_tokens_free(&c->emit_stack);
    free(c->cache);
    tok_buf_free(&c->cache_keys);
    am_tokens_free(&c->cache_ids);
    free(c);
}

/* ---- split behaviours over a stream of (start, end, is_match) events ---- */

typedef struct split_state {
    tok_ctx *c;
    int next_step;
    const char *s;
    bool at_start;        /* the segment starts the input */
    am_tokens *out;
    am_err *err;
    int behavior;
    bool invert;
    bool prev_match;
    bool have_pending;
    size_t p_start, p_end; /* pending piece */
    int rc;
} split_state;

static int run_step(tok_ctx *c, int k, const char *s, size_t n, bool at_start, am_tokens *out, am_err *err);

static void emit_piece(split_state *st, size_t a, size_t b) {
    if (st->rc || b <= a) return; /* HF drops empty pieces */
    st->rc = run_step(st->c, st->next_step, st->s + a, b - a, st->at_start && a == 0, st->out, st->err);
}

static void flush_pending(split_state *st) {
    if (st->have_pending) emit_piece(st, st->p_start, st->p_end);
    st->have_pending = false;
}

static void set_pending(split_state *st, size_t a, size_t b) {
    st->have_pending = true;
    st->p_start = a;
    st->p_end = b;
}

static void on_event(split_state *st, size_t a, size_t b, bool m) {
    if (st->invert) m = !m;
    switch (st->behavior) {
    case SPLIT_ISOLATED: emit_piece(st, a, b); break;
    case SPLIT_REMOVED:
        if (!m) emit_piece(st, a, b);
        break;
    case SPLIT_MERGED_PREV:
        if (m && !st->prev_match && st->have_pending) {
            st->p_end = b;
        } else {
            flush_pending(st);
            set_pending(st, a, b);
        }
        break;
    case SPLIT_MERGED_NEXT:
        /* a match joins the piece right after it, unless that is a match too */
        if (m) {
            flush_pending(st);
            set_pending(st, a, b);
        } else if (st->have_pending && st->prev_match) {
            st->have_pending = false;
            emit_piece(st, st->p_start, b);
        } else {
            flush_pending(st);
            emit_piece(st, a, b);
        }
        break;
    case SPLIT_CONTIGUOUS:
        if (m == st->prev_match && st->have_pending) {
            st->p_end = b;
        } else {
            flush_pending(st);
            set_pending(st, a, b);
        }
        break;
    }
    st->prev_match = m;
}

/* Character classes of the char-pattern splits. */
static bool char_matches(int pat, const unsigned char *u, int l) {
    if (!l) return false;
    uint32_t cp = tok_utf8_cp(u, l);
    switch (pat) {
    case SPLIT_PAT_DIGITS: {
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
    }
    case SPLIT_PAT_CHAR_WS: return tok_is_whitespace(cp);
    case SPLIT_PAT_PUNCT: {
        if (cp < 0x80) return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
    }
    }
    return false;
}

/* pcre2_match with a JIT stack that grows on demand (up to 64 MiB). */
static int regex_match(tok_ctx *c, const pcre2_code *re, const char *s, size_t n, size_t from) {
    for (;;) {
        int r = pcre2_match(re, (PCRE2_SPTR)s, n, from, 0, c->md, c->mctx);
        if (r != PCRE2_ERROR_JIT_STACKLIMIT) return r;
        size_t have = c->jit_size ? c->jit_size : 32 * 1024;
        if (have >= ((size_t)64 << 20)) return r;
        if (!c->mctx) c->mctx = pcre2_match_context_create(NULL);
        if (c->jit) pcre2_jit_stack_free(c->jit);
        c->jit_size = have * 16;
        c->jit = pcre2_jit_stack_create(32 * 1024, c->jit_size, NULL);
        if (!c->mctx || !c->jit) return r;
        pcre2_jit_stack_assign(c->mctx, NULL, c->jit);
    }
}

static int split_piece(tok_ctx *c, const tok_pre_step *p, int k, const char *s, size_t n, bool at_start,
                       am_tokens *out, am_err *err) {
    split_state st = {c, k + 1, s, at_start, out, err, p->behavior, p->invert, false, false, 0, 0, 0};
    size_t pos = 0;
    if (p->pat == SPLIT_PAT_REGEX) {
        size_t from = 0;
        while (from < n && !st.rc) {
            int r = regex_match(c, p->re, s, n, from);
            if (r == PCRE2_ERROR_NOMATCH) break;
            if (r < 0) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(r, msg, sizeof msg);
                return am_err_set(err, "pre-tokenizer regex failed: %s", (const char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
            size_t ms = ov[0], me = ov[1];
            if (me == ms) { /* empty match: move on by one character */
                int l = tok_utf8_len((const unsigned char *)s + ms, n - ms);
                from = ms + (l ? (size_t)l : 1);
                continue;
            }
            if (ms > pos) on_event(&st, pos, ms, false);
            on_event(&st, ms, me, true);
            pos = from = me;
        }
    } else if (p->pat == SPLIT_PAT_STRING) {
        while (p->litlen && pos < n && !st.rc) {
            const char *m = memmem(s + pos, n - pos, p->lit, p->litlen);
            if (!m) break;
            size_t ms = (size_t)(m - s);
            if (ms > pos) on_event(&st, pos, ms, false);
            on_event(&st, ms, ms + p->litlen, true);
            pos = ms + p->litlen;
        }
    } else {
        const unsigned char *u = (const unsigned char *)s;
        size_t i = 0;
        while (i < n && !st.rc) {
            int l = tok_utf8_len(u + i, n - i);
            size_t cl = l ? (size_t)l : 1;
            if (char_matches(p->pat, u + i, l)) {
                if (i > pos) on_event(&st, pos, i, false);
                on_event(&st, i, i + cl, true);
                pos = i + cl;
            }
            i += cl;
        }
    }
    if (!st.rc && pos < n) on_event(&st, pos, n, false);
    if (!st.rc) flush_pending(&st);
    return st.rc;
}

static bool starts_with(const char *s, size_t n, const char *p, size_t pn) { return n >= pn && !memcmp(s, p, pn); }

static int run_step(tok_ctx *c, int k, const char *s, size_t n, bool at_start, am_tokens *out, am_err *err) {
    const am_tokenizer *t = c->t;
    if (!n) return 0;
    if (k >= t->n_pre) {
        tok_model_word(c, s, n, out);
        return 0;
    }
    const tok_pre_step *p = &t->pre[k];
    tok_buf *b = &c->scratch[k];
    switch (p->type) {
    case PRE_SPLIT: return split_piece(c, p, k, s, n, at_start, out, err);
    case PRE_PREFIX_SPACE:
        if (s[0] == ' ') return run_step(c, k + 1, s, n, at_start, out, err);
        b->n = 0;
        tok_buf_add(b, " ", 1);
        tok_buf_add(b, s, n);
        return run_step(c, k + 1, b->p, b->n, at_start, out, err);
    case PRE_METASPACE: {
        b->n = 0;
        bool prepend = p->prepend == PREPEND_ALWAYS || (p->prepend == PREPEND_FIRST && at_start);
        /* the prefix goes on unless the text already starts with the replacement
         * (after spaces became replacements) */
        if (prepend && !(s[0] == ' ' || starts_with(s, n, p->rep, p->replen))) tok_buf_add(b, p->rep, p->replen);
        for (size_t i = 0; i < n; i++) {
            if (s[i] == ' ')
                tok_buf_add(b, p->rep, p->replen);
            else
                tok_buf_add(b, s + i, 1);
        }
        if (!p->split) return run_step(c, k + 1, b->p, b->n, at_start, out, err);
        tok_pre_step sp = {0};
        sp.type = PRE_SPLIT;
        sp.pat = SPLIT_PAT_STRING;
        sp.lit = (char *)p->rep;
        sp.litlen = p->replen;
        sp.behavior = SPLIT_MERGED_NEXT;
        return split_piece(c, &sp, k, b->p, b->n, at_start, out, err);
    }
    }
    return 0;
}

int tok_pretok_run(tok_ctx *c, const char *s, size_t n, bool at_start, am_tokens *out, am_err *err) {
    return run_step(c, 0, s, n, at_start, out, err);
}
