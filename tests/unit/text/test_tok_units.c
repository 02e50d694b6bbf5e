/* test_tok_units.c — the tokenizer's parts on small, hand-made tokenizers:
 * HF's five split behaviours (the examples of HF's own documentation),
 * Digits, Metaspace, added-token lstrip/rstrip/single_word, BPE tie-breaking,
 * the byte-level mapping, and the chunked Unicode normalization against
 * utf8proc on whole strings. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/base.h"
#include "test_util.h"
#include "text/tok_internal.h"
#include "text/tokenizer.h"

/* A non-byte-level BPE whose vocabulary holds the words we expect, with
 * ignore_merges so that each whole word comes back as one id: the ids then
 * show where the pre-tokenizer cut. */
static am_tokenizer *make(const char *vocab, const char *merges, const char *extra) {
    char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":{%s},\"merges\":[%s]}%s%s}", vocab,
             merges, extra[0] ? "," : "", extra);
    am_err err;
    am_tokenizer *t = am_tokenizer_from_json_mem(buf, strlen(buf), &err);
    CHECKF(t != NULL, "%s", err.msg);
    return t;
}

/* Encodes s and compares with the expected ids (-1 terminated). */
static void expect(const am_tokenizer *t, const char *s, const int32_t *want, const char *what) {
    am_tokens ids = {0};
    am_err err;
    CHECK(am_tokenizer_encode(t, s, strlen(s), NULL, &ids, &err) == 0);
    size_t n = 0;
    while (want[n] >= 0) n++;
    bool same = ids.n == n && (!n || !memcmp(ids.ids, want, n * sizeof(int32_t)));
    if (!same) {
        fprintf(stderr, "%s: got", what);
        for (size_t i = 0; i < ids.n; i++) fprintf(stderr, " %d", ids.ids[i]);
        fprintf(stderr, "\n");
    }
    CHECKF(same, "%s", what);
    am_tokens_free(&ids);
}

#define WORDS                                                                                                 \
    "\"t\":0,\"h\":1,\"e\":2,\"-\":3,\"f\":4,\"i\":5,\"n\":6,\"a\":7,\"l\":8,\"c\":9,\"o\":10,\"u\":11,"      \
    "\"d\":12,\"w\":13,\"the\":20,\"final\":21,\"countdown\":22,\"--\":23,\"the-\":24,\"final-\":25,"          \
    "\"-final\":26,\"-countdown\":27"

static void test_split_behaviors(void) {
    static const struct {
        const char *behavior;
        bool invert;
        int32_t ids[8];
    } cases[] = {
        {"Removed", false, {20, 21, 22, -1}},
        {"Isolated", false, {20, 3, 21, 3, 3, 22, -1}},
        {"MergedWithPrevious", false, {24, 25, 3, 22, -1}},
        {"MergedWithNext", false, {20, 26, 3, 27, -1}},
        {"Contiguous", false, {20, 3, 21, 23, 22, -1}},
        {"Removed", true, {3, 3, 3, -1}}, /* inverted: the words are the delimiters */
    };
    for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
        char extra[256];
        snprintf(extra, sizeof extra,
                 "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"%s\","
                 "\"invert\":%s}",
                 cases[i].behavior, cases[i].invert ? "true" : "false");
        am_tokenizer *t = make(WORDS, "", extra);
        if (t) expect(t, "the-final--countdown", cases[i].ids, cases[i].behavior);
        /* the same through a regex pattern */
        snprintf(extra, sizeof extra,
                 "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"-\"},\"behavior\":\"%s\","
                 "\"invert\":%s}",
                 cases[i].behavior, cases[i].invert ? "true" : "false");
        am_tokenizer *r = make(WORDS, "", extra);
        if (r) expect(r, "the-final--countdown", cases[i].ids, cases[i].behavior);
        am_tokenizer_free(t);
        am_tokenizer_free(r);
    }
}

static void test_digits_metaspace(void) {
    const char *v = "\"1\":0,\"2\":1,\"3\":2,\"123\":3,\"a\":4,\"a1\":5,\"\xe2\x96\x81\":6,\"\xe2\x96\x81" "a\":7,"
                    "\"\xe2\x96\x81\xe2\x96\x81\":8,\"b\":9,\"\xe2\x96\x81" "b\":10,\"ab\":11";
    am_tokenizer *t = make(v, "", "\"pre_tokenizer\":{\"type\":\"Digits\",\"individual_digits\":true}");
    if (t) expect(t, "a123", (int32_t[]){4, 0, 1, 2, -1}, "Digits individual");
    am_tokenizer_free(t);
    t = make(v, "", "\"pre_tokenizer\":{\"type\":\"Digits\",\"individual_digits\":false}");
    if (t) expect(t, "a123", (int32_t[]){4, 3, -1}, "Digits contiguous");
    am_tokenizer_free(t);
    t = make(v, "",
             "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\","
             "\"split\":true}");
    if (t) expect(t, "a b", (int32_t[]){7, 10, -1}, "Metaspace always, split");
    if (t) expect(t, " a", (int32_t[]){7, -1}, "Metaspace: no second prefix");
    am_tokenizer_free(t);
    t = make(v, "",
             "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"never\","
             "\"split\":false}");
    if (t) expect(t, "ab", (int32_t[]){11, -1}, "Metaspace never");
    am_tokenizer_free(t);
}

static void test_added_tokens(void) {
    const char *v = "\"a\":0,\"b\":1,\" \":2,\"x\":3,\"<\":7,\"s\":8,\">\":9";
    const char *extra =
        "\"added_tokens\":[{\"id\":4,\"content\":\"<m>\",\"lstrip\":true,\"rstrip\":false,\"special\":true,"
        "\"normalized\":false,\"single_word\":false},"
        "{\"id\":5,\"content\":\"<n>\",\"lstrip\":false,\"rstrip\":true,\"special\":false,\"normalized\":false,"
        "\"single_word\":false},"
        "{\"id\":3,\"content\":\"x\",\"single_word\":true,\"special\":false,\"normalized\":false},"
        "{\"id\":6,\"content\":\"<s>\",\"special\":true,\"normalized\":false}]";
    am_tokenizer *t = make(v, "", extra);
    if (!t) return;
    expect(t, "a  <m>b", (int32_t[]){0, 4, 1, -1}, "lstrip swallows the spaces before");
    expect(t, "a<n>  b", (int32_t[]){0, 5, 1, -1}, "rstrip swallows the spaces after");
    expect(t, "a x b", (int32_t[]){0, 2, 3, 2, 1, -1}, "single_word between spaces");
    expect(t, "axb", (int32_t[]){0, 3, 1, -1}, "x is also in the vocab: not as an added token");
    /* parse_special=false: special tokens are text, non-special still match */
    am_tokens ids = {0};
    am_tok_encode_params p = {.add_special = false, .parse_special = false};
    am_err err;
    CHECK(am_tokenizer_encode(t, "<s><n>", 6, &p, &ids, &err) == 0);
    CHECK(ids.n == 4 && ids.ids[0] == 7 && ids.ids[1] == 8 && ids.ids[2] == 9 && ids.ids[3] == 5);
    am_tokens_free(&ids);
    CHECK(am_tokenizer_is_special(t, 4) && !am_tokenizer_is_special(t, 5));
    CHECK(am_tokenizer_token_id(t, "<n>", 3) == 5 && am_tokenizer_token_id(t, "zz", 2) == -1);
    size_t pl;
    const char *piece = am_tokenizer_piece(t, 4, &pl);
    CHECK(piece && pl == 3 && !memcmp(piece, "<m>", 3));
    CHECK(am_tokenizer_piece(t, 99, NULL) == NULL);
    /* decode: skip_special drops special ones only */
    int32_t dec_ids[] = {0, 4, 5, 1};
    am_tok_decode_params dp = {.skip_special = true, .strip_leading = true};
    size_t dl;
    char *d = am_tokenizer_decode(t, dec_ids, 4, &dp, &dl, &err);
    CHECK(d && dl == 5 && !memcmp(d, "a<n>b", 5));
    free(d);
    am_tokenizer_free(t);
}

static void test_bpe_order(void) {
    /* equal ranks never happen; the lower rank merges first, and among equal
     * pairs the leftmost */
    am_tokenizer *t =
        make("\"a\":0,\"b\":1,\"aa\":2,\"ab\":3,\"aab\":4", "\"a a\",\"a b\",\"aa b\"",
             "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Removed\"}");
    if (!t) return;
    t->ignore_merges = false; /* a test of the merge loop itself */
    expect(t, "aaa", (int32_t[]){2, 0, -1}, "aaa -> aa a");
    expect(t, "aab", (int32_t[]){4, -1}, "aab: a a first, then aa b");
    expect(t, "aaab", (int32_t[]){2, 3, -1}, "aaab -> aa ab");
    /* long words go through the heap: same answer as the scan */
    char w[401];
    memset(w, 'a', 400);
    w[400] = 0;
    int32_t want[201];
    for (int i = 0; i < 200; i++) want[i] = 2;
    want[200] = -1;
    expect(t, w, want, "400 a -> 200 aa (heap)");
    w[399] = 'b';
    want[199] = 3;
    expect(t, w, want, "399 a + b (heap)");
    am_tokenizer_free(t);
}

static void test_bytelevel_map(void) {
    bool seen[512] = {0};
    for (int b = 0; b < 256; b++) {
        uint32_t cp = tok_bytelevel_cp((uint8_t)b);
        CHECK(cp < 512 && !seen[cp]);
        if (cp < 512) seen[cp] = true;
        char enc[8], dec[8];
        char c = (char)b;
        size_t el = tok_bytelevel_encode(&c, 1, enc);
        CHECK(tok_bytelevel_decode(enc, el, dec) == 1 && dec[0] == c);
    }
    CHECK(tok_bytelevel_cp(' ') == 0x120 && tok_bytelevel_cp('\n') == 0x10A && tok_bytelevel_cp('A') == 'A');
    char out[8];
    CHECK(tok_bytelevel_decode("\xe4\xb8\xad", 3, out) == -1); /* outside the mapping */
}

static void test_normalize_chunks(void) {
    /* pieces that exercise composition, reordering, compatibility, Hangul */
    static const char *pool[] = {"e", "a", "A", " ", "\xcc\x81", "\xcc\xa3", "\xcc\x88", "\xc3\xa9", "\xe1\xb9\xa9",
                                 "\xef\xac\x81", "\xe1\x84\x80", "\xe1\x85\xa1", "\xe1\x86\xa8", "\xea\xb0\x80",
                                 "\xe2\x84\xab", "\xe4\xb8\xad", "1", "\xe2\x91\xa0", "\xcd\x85", "o"};
    static const int forms[] = {NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD};
    static const int opts[] = {UTF8PROC_STABLE | UTF8PROC_COMPOSE, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE,
                               UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
                               UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT};
    uint64_t st = 12345;
    int bad = 0;
    for (int iter = 0; iter < 2000; iter++) {
        char s[256];
        size_t n = 0;
        int len = 1 + iter % 12;
        for (int k = 0; k < len; k++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            const char *p = pool[(st >> 33) % AM_ARRAY_LEN(pool)];
            memcpy(s + n, p, strlen(p));
            n += strlen(p);
        }
        for (int f = 0; f < 4; f++) {
            tok_norm_step step = {.type = forms[f]};
            tok_buf out = {0};
            CHECK(tok_normalize(NULL, &step, 1, s, n, &out, NULL) == 0);
            utf8proc_uint8_t *ref = NULL;
            utf8proc_ssize_t rl = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &ref, opts[f]);
            if (rl < 0 || out.n != (size_t)rl || memcmp(out.p, ref, out.n)) bad++;
            free(ref);
            tok_buf_free(&out);
        }
    }
    CHECKF(bad == 0, "%d chunked normalizations differ from utf8proc", bad);
}

/* A pattern whose JIT matching needs far more than PCRE2's default stack on
 * a long input: the stack grows on demand instead of failing. */
static void test_regex_stack(void) {
    am_tokenizer *t = make("\"a\":0", "", "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a|b)+\"},"
                                          "\"behavior\":\"Isolated\"}");
    if (!t) return;
    size_t n = 200000;
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    s[n] = 0;
    am_tokens ids = {0};
    am_err err;
    CHECKF(am_tokenizer_encode(t, s, n, NULL, &ids, &err) == 0, "%s", err.msg);
    CHECK(ids.n == n);
    am_tokens_free(&ids);
    free(s);
    am_tokenizer_free(t);
}

/* One tokenizer, several threads encoding at once: same ids as alone. */
typedef struct {
    const am_tokenizer *t;
    const char *s;
    size_t n;
    am_tokens ids;
} job;

static void *run_job(void *p) {
    job *j = p;
    am_err err;
    for (int r = 0; r < 20; r++) {
        j->ids.n = 0;
        am_tokenizer_encode(j->t, j->s, j->n, NULL, &j->ids, &err);
    }
    return NULL;
}

static void test_threads(void) {
    char *path = am_test_fixture("models/qwen3-tiny/tokenizer.json");
    am_err err;
    am_tokenizer *t = am_tokenizer_load(path, &err);
    free(path);
    CHECK(t != NULL);
    if (!t) return;
    char text[8192];
    size_t n = 0;
    while (n + 40 < sizeof text) n += (size_t)snprintf(text + n, sizeof text - n, "Caf\xc3\xa9 %zu <|im_start|>e\xcc\x81 ok. ", n);
    am_tokens ref = {0};
    CHECK(am_tokenizer_encode(t, text, n, NULL, &ref, &err) == 0);
    job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){t, text, n, {0}};
        pthread_create(&th[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].ids.n == ref.n && !memcmp(jobs[i].ids.ids, ref.ids, ref.n * sizeof(int32_t)));
        am_tokens_free(&jobs[i].ids);
    }
    am_tokens_free(&ref);
    am_tokenizer_free(t);
}

int main(void) {
    AM_TEST_RUN(test_split_behaviors);
    AM_TEST_RUN(test_digits_metaspace);
    AM_TEST_RUN(test_added_tokens);
    AM_TEST_RUN(test_bpe_order);
    AM_TEST_RUN(test_bytelevel_map);
    AM_TEST_RUN(test_normalize_chunks);
    AM_TEST_RUN(test_regex_stack);
    AM_TEST_RUN(test_threads);
    AM_TEST_EXIT();
}
