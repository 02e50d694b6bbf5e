/*
 * output.c — incremental stop strings, <think> reasoning split, and the
 * glue to the tool-call stage (output_tools.c).
 *
 * Pipeline per pushed chunk:
 *   1. UTF-8 guard: an incomplete multi-byte sequence at the end of the
 *      input is held until its continuation bytes arrive, so no later stage
 *      ever emits half a character.
 *   2. Reasoning split (reasoning=true): text between <think> and </think>
 *      goes to reasoning, the rest to content. A tag may be split across
 *      chunks: the longest suffix that is a prefix of the awaited tag is
 *      held. Tags are recognized wherever they occur; the tags themselves
 *      are never emitted.
 *   3. Stop strings, on content only (as llama.cpp's and vLLM's reasoning
 *      parsers do: a stop string inside the reasoning does not end the
 *      answer). Generation stops at the first point in the text where some
 *      stop string is complete (what a streaming generator sees); the cut is
 *      at that occurrence's start (the longest stop when several end at
 *      the same byte). Only the longest suffix that is a proper prefix of
 *      some stop string is held back.
 *   4. Tool calls (tools != NONE): content that may be a tool call is held
 *      and parsed at flush.
 */
#include "text/output.h"

#include <stdlib.h>
#include <string.h>

#include "text/output_priv.h"

void am_obuf_put(am_obuf *b, const char *s, size_t n) {
    if (!n) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n + 1) c *= 2;
        b->p = am_xrealloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void am_obuf_consume(am_obuf *b, size_t n) {
    if (n >= b->n) {
        b->n = 0;
    } else {
        memmove(b->p, b->p + n, b->n - n);
        b->n -= n;
    }
    if (b->p) b->p[b->n] = 0;
}

void am_obuf_free(am_obuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

size_t am_suffix_prefix(const char *s, size_t n, const char *pat, size_t pn) {
    size_t k = pn ? pn - 1 : 0;
    if (k > n) k = n;
    for (; k > 0; k--)
        if (memcmp(s + n - k, pat, k) == 0) return k;
    return 0;
}

long am_find(const char *s, size_t n, const char *pat, size_t pn) {
    if (pn == 0 || pn > n) return -1;
    for (size_t i = 0; i + pn <= n; i++)
        if (s[i] == pat[0] && memcmp(s + i, pat, pn) == 0) return (long)i;
    return -1;
}

/* Bytes at the end of s[0..n) that begin a multi-byte sequence not yet
 * complete (0 when the text ends on a character boundary). */
static size_t utf8_incomplete_tail(const char *s, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte: look further back */
        size_t need = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (c >= 0xF8) need = 1; /* invalid lead byte: nothing to wait for */
        return need > back ? back : 0;
    }
    return 0;
}

static const char THINK_OPEN[] = "<think>";
static const char THINK_CLOSE[] = "</think>";

struct am_textout {
    char **stop;
    size_t *stop_len;
    int n_stop;
    bool reasoning;
    bool in_think;
    bool stopped;
    bool flushed;
    am_obuf in;     /* UTF-8 guard: incomplete trailing sequence */
    am_obuf rpend;  /* reasoning split: possible partial tag */
    am_obuf cpend;  /* stop matching: possible partial stop string */
    am_obuf out_c, out_r; /* what the current call releases */
    am_toolstage *tools;
    json_t *calls;
};

am_textout *am_textout_create(const am_textout_params *p) {
    am_textout *t = am_xcalloc(1, sizeof *t);
    if (p->n_stop > 0) {
        t->stop = am_xcalloc((size_t)p->n_stop, sizeof *t->stop);
        t->stop_len = am_xcalloc((size_t)p->n_stop, sizeof *t->stop_len);
        for (int i = 0; i < p->n_stop; i++) {
            if (!p->stop[i] || !p->stop[i][0]) continue; /* empty stops never match */
            t->stop[t->n_stop] = am_xstrdup(p->stop[i]);
            t->stop_len[t->n_stop] = strlen(p->stop[i]);
            t->n_stop++;
        }
    }
    t->reasoning = p->reasoning;
    t->in_think = p->reasoning && p->reasoning_open;
    if (p->tools != AM_TOOLS_NONE)
        t->tools = am_toolstage_create(p->tools, (uint64_t)(uintptr_t)t ^ (uint64_t)(am_time_now() * 1e9));
    t->calls = json_array();
    return t;
}

void am_textout_free(am_textout *t) {
    if (!t) return;
    for (int i = 0; i < t->n_stop; i++) free(t->stop[i]);
    free(t->stop);
    free(t->stop_len);
    am_obuf_free(&t->in);
    am_obuf_free(&t->rpend);
    am_obuf_free(&t->cpend);
    am_obuf_free(&t->out_c);
    am_obuf_free(&t->out_r);
    if (t->tools) am_toolstage_free(t->tools);
    json_decref(t->calls);
    free(t);
}

/* Content that passed the stop matcher. */
static void content_out(am_textout *t, const char *s, size_t n) {
    if (t->tools)
        am_toolstage_push(t->tools, s, n, &t->out_c);
    else
        am_obuf_put(&t->out_c, s, n);
}

/* Stop matching on content. final: no more text follows (flush). */
static void stop_feed(am_textout *t, const char *s, size_t n, bool final) {
    if (t->stopped) return;
    am_obuf *b = &t->cpend;
    am_obuf_put(b, s, n);
    if (t->n_stop == 0) {
        content_out(t, b->p, b->n);
        b->n = 0;
        return;
    }
    /* Earliest end of any occurrence; ties go to the longest (earliest start). */
    size_t best_end = SIZE_MAX, best_start = 0;
    for (int i = 0; i < t->n_stop; i++) {
        long at = am_find(b->p, b->n, t->stop[i], t->stop_len[i]);
        if (at < 0) continue;
        size_t end = (size_t)at + t->stop_len[i];
        if (end < best_end || (end == best_end && (size_t)at < best_start)) {
            best_end = end;
            best_start = (size_t)at;
        }
    }
    if (best_end != SIZE_MAX) {
        content_out(t, b->p, best_start);
        b->n = 0;
        t->stopped = true;
        return;
    }
    size_t hold = 0;
    if (!final)
        for (int i = 0; i < t->n_stop; i++) {
            size_t h = am_suffix_prefix(b->p, b->n, t->stop[i], t->stop_len[i]);
            if (h > hold) hold = h;
        }
    content_out(t, b->p, b->n - hold);
    am_obuf_consume(b, b->n - hold);
}

/* Reasoning split of text known to end on a character boundary (or final). */
static void think_feed(am_textout *t, const char *s, size_t n, bool final) {
    if (!t->reasoning) {
        stop_feed(t, s, n, final);
        return;
    }
    am_obuf *b = &t->rpend;
    am_obuf_put(b, s, n);
    size_t pos = 0;
    while (!t->stopped) {
        const char *tag = t->in_think ? THINK_CLOSE : THINK_OPEN;
        size_t tn = strlen(tag);
        long at = am_find(b->p + pos, b->n - pos, tag, tn);
        if (at >= 0) {
            if (t->in_think)
                am_obuf_put(&t->out_r, b->p + pos, (size_t)at);
            else
                stop_feed(t, b->p + pos, (size_t)at, false);
            pos += (size_t)at + tn;
            t->in_think = !t->in_think;
            continue;
        }
        size_t hold = final ? 0 : am_suffix_prefix(b->p + pos, b->n - pos, tag, tn);
        size_t give = b->n - pos - hold;
        if (t->in_think)
            am_obuf_put(&t->out_r, b->p + pos, give);
        else
            stop_feed(t, b->p + pos, give, final);
        pos += give;
        break;
    }
    if (t->stopped) pos = b->n;
    am_obuf_consume(b, pos);
}

static void delta_fill(am_textout *t, am_textout_delta *d) {
    d->content = t->out_c.p ? t->out_c.p : "";
    d->content_len = t->out_c.n;
    d->reasoning = t->out_r.p ? t->out_r.p : "";
    d->reasoning_len = t->out_r.n;
    d->stopped = t->stopped;
}

void am_textout_push(am_textout *t, const char *chunk, size_t n, am_textout_delta *d) {
    t->out_c.n = 0;
    t->out_r.n = 0;
    if (!t->stopped && !t->flushed && n) {
        am_obuf_put(&t->in, chunk, n);
        size_t keep = utf8_incomplete_tail(t->in.p, t->in.n);
        think_feed(t, t->in.p, t->in.n - keep, false);
        am_obuf_consume(&t->in, t->in.n - keep);
    }
    delta_fill(t, d);
}

void am_textout_flush(am_textout *t, am_textout_delta *d) {
    t->out_c.n = 0;
    t->out_r.n = 0;
    if (!t->flushed) {
        t->flushed = true;
        if (!t->stopped) {
            think_feed(t, t->in.p ? t->in.p : "", t->in.n, true);
            t->in.n = 0;
            stop_feed(t, "", 0, true);
        }
        if (t->tools) am_toolstage_flush(t->tools, &t->out_c, t->calls);
    }
    delta_fill(t, d);
}

json_t *am_textout_tool_calls(am_textout *t) {
    return json_incref(t->calls);
}
