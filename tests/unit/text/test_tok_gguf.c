/* test_tok_gguf.c — the GGUF vocabulary of each tiny model encodes and
 * decodes the golden texts exactly as its tokenizer.json (tokenizer.model for
 * gemma3-tiny) does, and loading from an open am_gguf works the same. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/gguf.h"
#include "test_util.h"
#include "text/tokenizer.h"

static json_t *g_texts; /* array of strings */

static void add_texts(const char *rel) {
    char *p = am_test_fixture(rel);
    json_error_t je;
    json_t *g = json_load_file(p, 0, &je);
    free(p);
    if (!g) return;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(g, "cases"), i, c) json_array_append(g_texts, json_object_get(c, "text"));
    json_array_foreach(json_object_get(g, "with_special_tokens"), i, c)
        json_array_append(g_texts, json_object_get(c, "text"));
    json_decref(g);
}

static void compare(const char *model) {
    char rel[256], dir[256];
    snprintf(rel, sizeof rel, "models/%s/%s-f16.gguf", model, model);
    snprintf(dir, sizeof dir, "models/%s", model);
    char *gp = am_test_fixture(rel), *dp = am_test_fixture(dir);
    am_err err = {0};
    am_tokenizer *a = am_tokenizer_load(gp, &err);
    CHECKF(a != NULL, "%s: %s", gp, err.msg);
    am_tokenizer *b = am_tokenizer_load(dp, &err);
    CHECKF(b != NULL, "%s: %s", dp, err.msg);
    am_gguf *g = am_gguf_open(gp, &err);
    am_tokenizer *c = g ? am_tokenizer_from_gguf(g, &err) : NULL;
    CHECKF(c != NULL, "%s: from_gguf: %s", gp, err.msg);
    am_gguf_close(g); /* the tokenizer must not need it any more */
    if (a && b && c) {
        CHECK(am_tokenizer_fingerprint(a) == am_tokenizer_fingerprint(c));
        int bad = 0;
        size_t i;
        json_t *tx;
        json_array_foreach(g_texts, i, tx) {
            const char *s = json_string_value(tx);
            size_t n = json_string_length(tx);
            for (int split = 0; split < 2; split++) {
                am_tok_encode_params p = {.add_special = false, .parse_special = !split};
                am_tokens ta = {0}, tb = {0}, tc = {0};
                CHECK(am_tokenizer_encode(a, s, n, &p, &ta, &err) == 0);
                CHECK(am_tokenizer_encode(b, s, n, &p, &tb, &err) == 0);
                CHECK(am_tokenizer_encode(c, s, n, &p, &tc, &err) == 0);
                bool same = ta.n == tb.n && ta.n == tc.n &&
                            (!ta.n || (!memcmp(ta.ids, tb.ids, ta.n * sizeof(int32_t)) &&
                                       !memcmp(ta.ids, tc.ids, ta.n * sizeof(int32_t))));
                if (!same) {
                    if (bad++ < 5) {
                        fprintf(stderr, "%s: GGUF and source differ (parse_special=%d) for \"%.50s\"\n  gguf:", model,
                                !split, s);
                        for (size_t k = 0; k < ta.n && k < 16; k++) fprintf(stderr, " %d", ta.ids[k]);
                        fprintf(stderr, "\n  src: ");
                        for (size_t k = 0; k < tb.n && k < 16; k++) fprintf(stderr, " %d", tb.ids[k]);
                        fprintf(stderr, "\n");
                    }
                } else {
                    size_t la = 0, lb = 0;
                    char *da = am_tokenizer_decode(a, ta.ids, ta.n, NULL, &la, &err);
                    char *db = am_tokenizer_decode(b, tb.ids, tb.n, NULL, &lb, &err);
                    CHECKF(da && db && la == lb && !memcmp(da, db, la), "%s: decodes differ for \"%.40s\"", model, s);
                    free(da);
                    free(db);
                }
                am_tokens_free(&ta);
                am_tokens_free(&tb);
                am_tokens_free(&tc);
            }
        }
        CHECKF(bad == 0, "%s: %d texts differ", model, bad);
        fprintf(stderr, "%s: %zu texts x 2; gguf: %s\n", model, json_array_size(g_texts), am_tokenizer_describe(a));
    }
    am_tokenizer_free(a);
    am_tokenizer_free(b);
    am_tokenizer_free(c);
    free(gp);
    free(dp);
}

/* The GGUF's own rules: ids and add_bos as llama.cpp's converter wrote them. */
static void test_gguf_specials(void) {
    char *gp = am_test_fixture("models/gemma3-tiny/gemma3-tiny-f16.gguf");
    am_err err;
    am_tokenizer *t = am_tokenizer_load(gp, &err);
    CHECK(t != NULL);
    if (t) {
        CHECK(am_tokenizer_bos(t) == 2 && am_tokenizer_eos(t) == 1 && am_tokenizer_add_bos(t));
        am_tokens ids = {0};
        am_tok_encode_params p = {.add_special = true, .parse_special = true};
        CHECK(am_tokenizer_encode(t, "<start_of_turn>user", 19, &p, &ids, &err) == 0);
        CHECK(ids.n >= 2 && ids.ids[0] == 2 && ids.ids[1] == 4);
        CHECK(am_tokenizer_is_eog(t, 1));
        am_tokens_free(&ids);
    }
    am_tokenizer_free(t);
    free(gp);
    gp = am_test_fixture("models/llama3-tiny/llama3-tiny-f16.gguf");
    t = am_tokenizer_load(gp, &err);
    CHECK(t != NULL);
    if (t) {
        CHECK(am_tokenizer_bos(t) == 600 && am_tokenizer_add_bos(t)); /* llama-bpe: BOS by default */
        CHECK(am_tokenizer_is_eog(t, 604));
    }
    am_tokenizer_free(t);
    free(gp);
}

static void test_llama3_tiny(void) { compare("llama3-tiny"); }
static void test_qwen2_tiny(void) { compare("qwen2-tiny"); }
static void test_qwen3_tiny(void) { compare("qwen3-tiny"); }
static void test_gemma3_tiny(void) { compare("gemma3-tiny"); }

int main(void) {
    g_texts = json_array();
    add_texts("tokenizers/llama3/golden.json");
    json_array_append_new(g_texts, json_string("<start_of_turn>user\nhi<end_of_turn>\n<s>x</s><|im_end|></think>"));
    json_array_append_new(g_texts, json_string("  leading and trailing spaces  "));
    AM_TEST_RUN(test_llama3_tiny);
    AM_TEST_RUN(test_qwen2_tiny);
    AM_TEST_RUN(test_qwen3_tiny);
    AM_TEST_RUN(test_gemma3_tiny);
    AM_TEST_RUN(test_gguf_specials);
    json_decref(g_texts);
    AM_TEST_EXIT();
}
