/*
 * test_output.c — stop strings, reasoning split and UTF-8 hold-back of
 * src/text/output.c, against a naive whole-text reference.
 */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "text/output.h"

/* Naive reference: walk end positions; the first position where some stop
 * string ends is where a streaming generator stops; cut at the start of the
 * longest stop ending there. Returns the kept length; *stopped set. */
static size_t naive_stop(const char *s, size_t n, const char **stops, int ns, bool *stopped) {
    for (size_t e = 1; e <= n; e++) {
        size_t best = 0;
        for (int i = 0; i < ns; i++) {
            size_t l = strlen(stops[i]);
            if (l <= e && memcmp(s + e - l, stops[i], l) == 0 && l > best) best = l;
        }
        if (best) { *stopped = true; return e - best; }
    }
    *stopped = false;
    return n;
}

static bool utf8_whole(const char *s, size_t n) {
    /* true when s does not end inside a multi-byte sequence and does not start with a continuation */
    if (n && ((unsigned char)s[0] & 0xC0) == 0x80) return false;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + l > n) return false;
        i += l;
    }
    return true;
}

/* Runs text through a textout in the given chunks; collects content/reasoning. */
typedef struct { char c[4096]; size_t cn; char r[4096]; size_t rn; bool stopped; bool split_utf8; bool after_stop; } run_out;

static void run_chunks(const am_textout_params *p, const char *s, size_t n, const size_t *cuts, int ncut, run_out *o) {
    memset(o, 0, sizeof *o);
    am_textout *t = am_textout_create(p);
    am_textout_delta d;
    size_t prev = 0;
    for (int k = 0; k <= ncut; k++) {
        size_t end = k < ncut ? cuts[k] : n;
        bool was = o->stopped;
        am_textout_push(t, s + prev, end - prev, &d);
        if (was && (d.content_len || d.reasoning_len)) o->after_stop = true;
        if (!utf8_whole(d.content, d.content_len)) o->split_utf8 = true;
        memcpy(o->c + o->cn, d.content, d.content_len); o->cn += d.content_len;
        memcpy(o->r + o->rn, d.reasoning, d.reasoning_len); o->rn += d.reasoning_len;
        o->stopped = d.stopped;
        prev = end;
    }
    am_textout_flush(t, &d);
    memcpy(o->c + o->cn, d.content, d.content_len); o->cn += d.content_len;
    memcpy(o->r + o->rn, d.reasoning, d.reasoning_len); o->rn += d.reasoning_len;
    if (o->stopped && d.content_len) o->after_stop = true;
    o->stopped = d.stopped;
    am_textout_free(t);
}

static const char *ALPHA[] = {"a", "b", "c", "\n", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};

/* Random texts over a small alphabet (so stops occur often), random stop
 * sets drawn from overlapping prefixes, random chunk cuts (also inside
 * multi-byte characters). Catches: holding too little (a stop spanning
 * chunks is missed), emitting past the stop in the same chunk, picking the
 * earliest-starting instead of the first-completing stop, releasing a
 * partial prefix wrongly at flush, splitting UTF-8 in emitted content. */
static void test_stop_random(void) {
    static const char *POOL[] = {"abab", "aba", "ab", "b\n", "ca", "\xc3\xa9" "a", "\xe2\x82\xac\xe2\x82\xac", "cc", "bcab", "a\xf0\x9f\x98\x80"};
    am_test_rng_seed(12345);
    int bad = 0;
    for (int it = 0; it < 20000 && bad < 5; it++) {
        char s[512]; size_t n = 0;
        int len = (int)(am_test_rand_u32() % 40);
        for (int i = 0; i < len; i++) {
            const char *a = ALPHA[am_test_rand_u32() % (it % 3 ? 4 : AM_ARRAY_LEN(ALPHA))];
            memcpy(s + n, a, strlen(a)); n += strlen(a);
        }
        const char *stops[4]; int ns = (int)(am_test_rand_u32() % 4);
        for (int i = 0; i < ns; i++) stops[i] = POOL[am_test_rand_u32() % AM_ARRAY_LEN(POOL)];
        size_t cuts[64]; int nc = 0;
        for (size_t i = 1; i < n; i++) if (am_test_rand_u32() % 3 == 0) cuts[nc++] = i;
        bool nst; size_t keep = naive_stop(s, n, stops, ns, &nst);
        am_textout_params p = {.stop = stops, .n_stop = ns};
        run_out o; run_chunks(&p, s, n, cuts, nc, &o);
        bool ok = o.cn == keep && memcmp(o.c, s, keep) == 0 && o.stopped == nst && !o.split_utf8 && !o.after_stop;
        if (!ok) {
            bad++;
            CHECKF(ok, "it %d: text '%.*s' ns %d got %zu/'%.*s' stopped %d want %zu stopped %d split %d",
                   it, (int)n, s, ns, o.cn, (int)o.cn, o.c, o.stopped, keep, nst, o.split_utf8);
        }
    }
}

/* A multi-byte character split byte by byte must come out whole. Catches a
 * missing UTF-8 hold-back (a stream would send invalid UTF-8). */
static void test_utf8_bytewise(void) {
    const char *s = "x\xe2\x82\xac\xf0\x9f\x98\x80y\xc3\xa9";
    size_t n = strlen(s), cuts[32]; int nc = 0;
    for (size_t i = 1; i < n; i++) cuts[nc++] = i;
    am_textout_params p = {0};
    run_out o; run_chunks(&p, s, n, cuts, nc, &o);
    CHECK(!o.split_utf8);
    CHECK(o.cn == n && memcmp(o.c, s, n) == 0);
}

/* Nothing after the stop string, even within the same chunk, and later
 * pushes emit nothing. Catches emitting the rest of the chunk. */
static void test_stop_same_chunk(void) {
    const char *stops[] = {"END"};
    am_textout_params p = {.stop = stops, .n_stop = 1};
    am_textout *t = am_textout_create(&p);
    am_textout_delta d;
    am_textout_push(t, "hello ENDworld", 14, &d);
    CHECK(d.stopped && d.content_len == 6 && memcmp(d.content, "hello ", 6) == 0);
    am_textout_push(t, "more", 4, &d);
    CHECK(d.stopped && d.content_len == 0);
    am_textout_flush(t, &d);
    CHECK(d.content_len == 0);
    am_textout_free(t);
}

/* Reasoning: every split into two chunks (and byte-by-byte) gives the same
 * reasoning/content; stop strings apply to content only. Catches tags split
 * across chunks leaking into output, and stops firing inside reasoning. */
static void test_reasoning_splits(void) {
    const char *stops[] = {"STOP"};
    struct { const char *in; bool open; const char *r, *c; bool st; } cases[] = {
        {"<think>plan STOP here</think>answer STOP tail", false, "plan STOP here", "answer ", true},
        {"plan \xe2\x82\xac</think>ans<thi", true, "plan \xe2\x82\xac", "ans<thi", false},
        {"no tags at all </thin", false, "", "no tags at all </thin", false},
        {"<think>open forever", false, "open forever", "", false},
    };
    for (size_t k = 0; k < AM_ARRAY_LEN(cases); k++) {
        am_textout_params p = {.stop = stops, .n_stop = 1, .reasoning = true, .reasoning_open = cases[k].open};
        const char *s = cases[k].in; size_t n = strlen(s);
        for (size_t cut = 0; cut <= n; cut++) {
            size_t cuts[1] = {cut};
            run_out o; run_chunks(&p, s, n, cuts, 1, &o);
            CHECKF(o.rn == strlen(cases[k].r) && memcmp(o.r, cases[k].r, o.rn) == 0, "case %zu cut %zu reasoning '%.*s'", k, cut, (int)o.rn, o.r);
            CHECKF(o.cn == strlen(cases[k].c) && memcmp(o.c, cases[k].c, o.cn) == 0, "case %zu cut %zu content '%.*s'", k, cut, (int)o.cn, o.c);
            CHECK(o.stopped == cases[k].st);
        }
        size_t cuts[128]; int nc = 0;
        for (size_t i = 1; i < n; i++) cuts[nc++] = i;
        run_out o; run_chunks(&p, s, n, cuts, nc, &o);
        CHECK(o.rn == strlen(cases[k].r) && memcmp(o.r, cases[k].r, o.rn) == 0);
        CHECK(o.cn == strlen(cases[k].c) && memcmp(o.c, cases[k].c, o.cn) == 0);
        CHECK(!o.split_utf8);
    }
}

int main(void) {
    AM_TEST_RUN(test_stop_random);
    AM_TEST_RUN(test_utf8_bytewise);
    AM_TEST_RUN(test_stop_same_chunk);
    AM_TEST_RUN(test_reasoning_splits);
    AM_TEST_EXIT();
}
