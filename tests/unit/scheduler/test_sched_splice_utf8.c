/*
 * test_sched_splice_utf8.c — cached ids whose bytes are not UTF-8 (byte
 * tokens a model may emit) left the server as U+FFFD, and the client sends
 * U+FFFD back. The splice must take the cached ids for exactly the text the
 * server would have sent (sched_splice.c), and for nothing else.
 *
 * The reference for "what the server would have sent" is lossy() below, a
 * brute-force reading of the Unicode rule (one U+FFFD per maximal subpart of
 * an ill-formed sequence), not the detokenizer the splice uses. The cache's
 * ids come from a first turn's prompt (the splice cannot tell them from
 * generated ones), built from the fixture tokenizer's byte tokens.
 */
#include "sched_test_util.h"

#define UNUSED_DIR (void)g_dir

enum { LEN = 40, GEN = 8, MAXT = 256 };

/* ---- the reference: UTF-8 by the definition ------------------------------ */

/* Is s[0..n) exactly one well-formed character? (Table 3-7 by arithmetic:
 * bit patterns, no overlong form, no surrogate, at most U+10FFFF.) */
static bool one_char(const unsigned char *s, int n) {
    static const unsigned lead_mask[5] = {0, 0x80, 0xE0, 0xF0, 0xF8}, lead_bits[5] = {0, 0x00, 0xC0, 0xE0, 0xF0};
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (n < 1 || n > 4 || (s[0] & lead_mask[n]) != lead_bits[n]) return false;
    unsigned cp = n == 1 ? s[0] : s[0] & (0x7Fu >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return false;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    return cp >= min_cp[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

/* Can s[0..k) be completed to a well-formed character? (Tries every tail.) */
static bool char_prefix(const unsigned char *s, int k) {
    for (int n = k; n <= 4; n++) {
        unsigned char c[4];
        memcpy(c, s, (size_t)k);
        long combos = 1;
        for (int i = k; i < n; i++) combos *= 64;
        for (long x = 0; x < combos; x++) {
            long y = x;
            for (int i = k; i < n; i++, y /= 64) c[i] = (unsigned char)(0x80 + y % 64);
            if (one_char(c, n)) return true;
        }
    }
    return false;
}

/* s as valid UTF-8: each maximal subpart of an ill-formed sequence (the
 * longest prefix of a character, at least one byte) becomes U+FFFD. */
static size_t lossy(const unsigned char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int l = 0;
        for (int k = 1; k <= 4 && i + (size_t)k <= n; k++)
            if (one_char(s + i, k)) l = k;
        if (l && s[i] == 0) l = 0; /* the server's rule beyond Unicode's: NUL is sent as U+FFFD too */
        if (l) {
            memcpy(out + o, s + i, (size_t)l);
            o += (size_t)l, i += (size_t)l;
            continue;
        }
        int k = 1;
        while (s[i] && k < 3 && i + (size_t)k < n && char_prefix(s + i, k + 1)) k++;
        memcpy(out + o, "\xEF\xBF\xBD", 3);
        o += 3, i += (size_t)k;
    }
    return o;
}

/* ---- fixture ids ---------------------------------------------------------- */

/* The id that decodes to exactly byte b (every byte-level vocabulary has one). */
static int32_t byte_id(unsigned b) {
    am_tok_decode_params dp = am_tok_decode_default_params();
    dp.strip_leading = false;
    for (int32_t id = 0; id < g_b->model->hp.n_vocab; id++) {
        size_t n = 0;
        char *s = am_tokenizer_decode(g_b->tok, &id, 1, &dp, &n, NULL);
        bool hit = s && n == 1 && (unsigned char)s[0] == b && !am_tokenizer_is_special(g_b->tok, id);
        free(s);
        if (hit) return id;
    }
    return -1;
}

/* Appends one byte token per byte of s (a split the tokenizer never makes). */
static int bytes_ids(const char *s, size_t n, int32_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = byte_id((unsigned char)s[i]);
    return (int)n;
}

static int tokenize(const char *text, size_t len, int32_t *out, int cap) {
    am_tokens t = {0};
    am_err err = {0};
    if (am_bundle_tokenize(g_b, text, len, false, &t, &err) < 0 || (int)t.n > cap) return -1;
    memcpy(out, t.ids, t.n * sizeof(int32_t));
    int k = (int)t.n;
    am_tokens_free(&t);
    return k;
}

static char *decode(const int32_t *ids, int n, size_t *len) {
    am_tok_decode_params dp = am_tok_decode_default_params();
    dp.strip_leading = false;
    return am_tokenizer_decode(g_b->tok, ids, (size_t)n, &dp, len, NULL);
}

/* Turn 1 puts p + x + eot + tail1 in agent's cache; turn 2 sends p, then the
 * text `sent` (nsent bytes) tokenized, then eot + tail2. Returns turn 2's
 * result; *n2 its prompt's length and q2 its ids. */
static result two_turns(const char *agent, const int32_t *p, const int32_t *x, int nx, const char *sent, size_t nsent,
                        int32_t *q2, int *n2) {
    int32_t eot = am_tokenizer_token_id(g_b->tok, "<|eot_id|>", 10);
    static int32_t q1[MAXT];
    int n1 = 0;
    memcpy(q1, p, LEN * sizeof *p), n1 = LEN;
    memcpy(q1 + n1, x, (size_t)nx * sizeof *x), n1 += nx;
    q1[n1++] = eot;
    for (int i = 0; i < 4; i++) q1[n1++] = 30 + i; /* "?@AB" */
    am_sched *s = make_sched(2, 0, NULL);
    result r = {0};
    am_req *q = submit(s, agent, q1, n1, GEN);
    collect(q, &r);
    am_req_release(q);
    memcpy(q2, p, LEN * sizeof *p);
    int k = tokenize(sent, nsent, q2 + LEN, MAXT - LEN - 8);
    CHECK(k > 0);
    *n2 = LEN + (k > 0 ? k : 0);
    q2[(*n2)++] = eot;
    for (int i = 0; i < 4; i++) q2[(*n2)++] = 40 + i; /* "IJKL": differs from the first byte on */
    r = (result){0};
    q = submit(s, agent, q2, *n2, GEN);
    collect(q, &r);
    am_req_release(q);
    CHECK_SCHED(s);
    am_sched_free(s, 1000);
    return r;
}

/* Bug: the splice compares the prompt with the cache's raw bytes (so every
 * U+FFFD the server sent ends the reuse), switches ids inside a replaced
 * sequence, or does not replace the bytes a text run ends with before a
 * special token — the text the server would have sent for x (by lossy())
 * must take x's ids back through the end of turn: the reuse covers x and
 * eot, the prompt is p + x + eot + the new tail, and the answer is the
 * engine's for exactly that prompt. */
typedef struct {
    const char *s;
    size_t n; /* 0: strlen(s) */
} part;

/* Odd parts are spelled with byte tokens, even ones tokenized. */
static void replaced_bytes_come_back(const char *agent, const part *parts, size_t n_parts) {
    int32_t p[LEN], x[64];
    make_prompt(p, LEN, 5);
    int nx = 0;
    char raw[128];
    size_t nraw = 0;
    for (size_t i = 0; i < n_parts; i++) {
        size_t n = parts[i].n ? parts[i].n : strlen(parts[i].s);
        if (i % 2) {
            nx += bytes_ids(parts[i].s, n, x + nx);
        } else {
            int k = tokenize(parts[i].s, n, x + nx, 64 - nx);
            CHECK(k > 0);
            nx += k;
        }
        memcpy(raw + nraw, parts[i].s, n), nraw += n;
    }
    for (int i = 0; i < nx; i++) CHECK(x[i] >= 0);
    size_t ndec = 0;
    char *dec = decode(x, nx, &ndec);
    CHECK(dec && ndec == nraw && !memcmp(dec, raw, nraw)); /* x spells raw */
    free(dec);
    char sent[512];
    size_t ns = lossy((const unsigned char *)raw, nraw, sent);
    static int32_t q2[MAXT], want[MAXT];
    int n2 = 0;
    result r = two_turns(agent, p, x, nx, sent, ns, q2, &n2);
    int nw = 0;
    memcpy(want, p, sizeof p), nw = LEN;
    memcpy(want + nw, x, (size_t)nx * sizeof *x), nw += nx;
    memcpy(want + nw, q2 + n2 - 5, 5 * sizeof *q2), nw += 5; /* eot + the new tail */
    CHECKF(r.done.n_cached == LEN + nx + 1, "cached %d, want %d", r.done.n_cached, LEN + nx + 1);
    CHECKF(r.done.n_prompt == nw, "spliced prompt %d tokens, want %d", r.done.n_prompt, nw);
    int32_t ref[GEN];
    int nr = ref_generate(want, nw, GEN, ref);
    CHECK(nr >= 0 && same(&r, ref, nr));
}

static void test_replaced_bytes_come_back(void) {
    /* a lone continuation byte, a truncated 3-byte sequence split over two
     * tokens before a letter, a valid character split over byte tokens, an
     * impossible byte, a real U+FFFD in bytes, and a truncated 4-byte
     * sequence at the end of the text (before the end of turn) */
    static const part parts[] = {{"ab", 0}, {"\x84", 0}, {"cd", 0}, {"\xE2\x82", 0}, {"A the", 0}, {"\xE2\x82\xAC", 0},
                                 {" of", 0}, {"\xFF", 0}, {"x", 0}, {"\xEF\xBF\xBD", 0}, {"yz", 0}, {"\xF0\x9F", 0}};
    replaced_bytes_come_back("u8-pos", parts, AM_ARRAY_LEN(parts));
}

/* Bug: the server sends a NUL byte the model emitted as U+0000, which the
 * client's JSON then carries back as \u0000 — a request the server's own
 * parser refuses, so the conversation cannot go on; or it sends U+FFFD but
 * the splice compares against the raw NUL and re-prefills the answer. A NUL
 * alone, one before an incomplete sequence, and one at the end of the text. */
static void test_nul_comes_back(void) {
    static const part parts[] = {{"ab", 0}, {"\0", 1}, {"cd the", 0}, {"\0\xE2\x82", 3}, {"A", 0}, {"\0", 1}};
    replaced_bytes_come_back("u8-nul", parts, AM_ARRAY_LEN(parts));
}

/* Bug: any U+FFFD matches any invalid bytes, or a held byte is taken as
 * matched without comparing it — text that is not what the server sent for
 * the cache's bytes must splice only the ids whose text it is: keep ids
 * (spelling `kept` as sent), then the prompt's own ids from where the text
 * differs; the answer is the engine's for exactly that prompt. */
static void test_other_text_splices_only_its_part(void) {
    static const struct {
        const char *cached, *sent, *kept;
        int keep;
    } cases[] = {
        {"\xE2\x82" "A the", "\xEF\xBF\xBD\xEF\xBF\xBD" "A the", "", 0}, /* one maximal subpart, two U+FFFD sent */
        {"\xE2\x82\xAC the", "\xEF\xBF\xBD the", "", 0},                   /* a valid character, U+FFFD typed */
        {"\x84 the", "\xE2\x82\xAC the", "", 0},                             /* an invalid byte, a character typed */
        {"\x84\x84 the", "\xEF\xBF\xBD the", "\xEF\xBF\xBD", 1},            /* two lone bytes, one U+FFFD sent */
        {"\xFF\xF0\x9F the", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD the", "\xEF\xBF\xBD", 1}, /* FF, then F0 9F as one */
    };
    int32_t p[LEN];
    make_prompt(p, LEN, 6);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int32_t x[64];
        const char *cs = cases[c].cached;
        size_t lead = strcspn(cs, " A"); /* the bytes before the text: byte tokens */
        int nx = bytes_ids(cs, lead, x);
        int k = tokenize(cs + lead, strlen(cs + lead), x + nx, 64 - nx);
        CHECK(k > 0);
        nx += k;
        char agent[16];
        snprintf(agent, sizeof agent, "u8-neg-%zu", c);
        static int32_t q2[MAXT], want[MAXT];
        int n2 = 0;
        result r = two_turns(agent, p, x, nx, cases[c].sent, strlen(cases[c].sent), q2, &n2);
        CHECKF(q2[LEN] != x[0], "case %zu: the prompt starts with the cached id: nothing to test", c);
        int32_t kt[8];
        int nk = cases[c].keep ? tokenize(cases[c].kept, strlen(cases[c].kept), kt, 8) : 0;
        CHECKF(nk >= 0 && !memcmp(kt, q2 + LEN, (size_t)nk * sizeof *kt), "case %zu: kept text is not the prompt's first ids", c);
        int nw = 0;
        memcpy(want, p, sizeof p), nw = LEN;
        memcpy(want + nw, x, (size_t)cases[c].keep * sizeof *x), nw += cases[c].keep;
        memcpy(want + nw, q2 + LEN + nk, (size_t)(n2 - LEN - nk) * sizeof *q2), nw += n2 - LEN - nk;
        CHECKF(r.done.n_cached == LEN + cases[c].keep, "case %zu: cached %d, want %d", c, r.done.n_cached, LEN + cases[c].keep);
        CHECKF(r.done.n_prompt == nw, "case %zu: prompt %d tokens, want %d", c, r.done.n_prompt, nw);
        int32_t ref[GEN];
        int nr = ref_generate(want, nw, GEN, ref);
        CHECK(nr >= 0 && same(&r, ref, nr));
    }
}

/* Bug: the reference itself (the tests above would then agree with a wrong
 * rule) — lossy() on the Unicode standard's own examples (chapter 3, U+FFFD
 * substitution of maximal subparts). */
static void test_reference_rule(void) {
    static const struct {
        const char *in, *out;
    } ex[] = {
        {"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
         "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d"},
        {"\xC0\xAF\xE0\x80\xBF\xF0\x81\x82\x41",
         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "A"},
        {"\xED\xA0\x80\xED\xBF\xBF\xED\xAF\x41",
         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "A"},
        {"\xF4\x91\x92\x93\xFF\x41\x80\xBF\x42",
         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "A\xEF\xBF\xBD\xEF\xBF\xBD" "B"},
        {"\xE1\x80\xE2\xF0\x91\x92\xF1\xBF\x41", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "A"},
    };
    for (size_t i = 0; i < sizeof ex / sizeof *ex; i++) {
        char out[128];
        size_t n = lossy((const unsigned char *)ex[i].in, strlen(ex[i].in), out);
        CHECKF(n == strlen(ex[i].out) && !memcmp(out, ex[i].out, n), "example %zu", i);
    }
}

int main(void) {
    UNUSED_DIR;
    if (load("models/llama3-tiny/llama3-tiny-q8_0.gguf") < 0) return 1;
    AM_TEST_RUN(test_reference_rule);
    AM_TEST_RUN(test_replaced_bytes_come_back);
    AM_TEST_RUN(test_nul_comes_back);
    AM_TEST_RUN(test_other_text_splices_only_its_part);
    am_bundle_unref(g_b);
    AM_TEST_EXIT();
}
