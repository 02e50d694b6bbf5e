/* test_tok_js.c — differential test against a second implementation: random
 * strings (mixed scripts, whitespace runs, digits, combining marks, emoji,
 * special-token text) encoded by the transformers.js port in
 * tests/npm/node_modules/@lenml/tokenizers (run with node) and by us, for the
 * six real vocabularies. The goldens (HF tokenizers) remain the reference;
 * this widens the inputs. Skipped when node or the npm packages are absent. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "test_util.h"
#include "text/tokenizer.h"

static const char *POOL[] = {"a", "b", "Hello", " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", "1", "23", "456", "7890",
                             "\xc3\xa9", "e\xcc\x81", "\xc3\x9f", "\xc4\xb0", "\xe4\xb8\xad", "\xe6\x96\x87",
                             "\xe6\x97\xa5\xe6\x9c\xac", "\xe3\x81\xae", "\xf0\x9f\x98\x80", "\xf0\x9f\xa6\x99",
                             "\xe2\x80\x8b", "\xc2\xa0", "\xe3\x80\x80", "'s", "'ll", "'T", ".", ",", "!", "?", "(",
                             ")", "<|im_start|>", "<|eot_id|>", "<s>", "</s>", "<start_of_turn>", "-", "_", "://",
                             "\xef\xbd\xb1", "\xef\xbc\xa1", "\xd8\xb9", "\xe0\xa4\xb9", "\xe0\xa4\xbf",
                             "\xef\xac\x81", "\xe2\x84\xa2", "x", "The", " the", "ing", "   \n", "0x1F", "$", "\xe2\x96\x81"};

static void run(const char *fam, const char *texts_path, json_t *texts) {
    char tpath[512], cmd[1024];
    snprintf(tpath, sizeof tpath, "tests/npm/node_modules/@lenml/tokenizer-%s/models/tokenizer.json", fam);
    snprintf(cmd, sizeof cmd, "node tests/npm/tok_ref.js %s %s", fam, texts_path);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    json_error_t je;
    json_t *ref = json_loadf(p, 0, &je);
    int st = pclose(p);
    CHECKF(ref && st == 0, "%s: node failed (%s)", fam, ref ? "exit status" : je.text);
    am_err err;
    am_tokenizer *t = am_tokenizer_load(tpath, &err);
    CHECKF(t != NULL, "%s: %s", fam, err.msg);
    if (ref && t) {
        int bad = 0;
        size_t i;
        json_t *s;
        json_array_foreach(texts, i, s) {
            am_tokens ids = {0};
            CHECK(am_tokenizer_encode(t, json_string_value(s), json_string_length(s), NULL, &ids, &err) == 0);
            json_t *r = json_array_get(ref, i);
            size_t n = json_array_size(r);
            bool same = n == ids.n;
            for (size_t k = 0; same && k < n; k++) same = json_integer_value(json_array_get(r, k)) == ids.ids[k];
            if (!same && bad++ < 3) {
                char *q = json_dumps(s, JSON_ENCODE_ANY);
                fprintf(stderr, "%s: differs from transformers.js for %s\n", fam, q);
                free(q);
            }
            am_tokens_free(&ids);
        }
        CHECKF(bad == 0, "%s: %d of %zu texts differ", fam, bad, json_array_size(texts));
        fprintf(stderr, "%s: %zu random texts agree\n", fam, json_array_size(texts) - (size_t)bad);
    }
    am_tokenizer_free(t);
    json_decref(ref);
}

int main(void) {
    if (system("node --version > /dev/null 2>&1") != 0 ||
        access("tests/npm/node_modules/@lenml/tokenizers/package.json", R_OK) != 0) {
        fprintf(stderr, "skipped: node or tests/npm/node_modules missing\n");
        return 0;
    }
    json_t *texts = json_array();
    uint64_t st = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 1500; i++) {
        char buf[512];
        size_t n = 0;
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        int parts = 1 + (int)((st >> 33) % 14);
        for (int k = 0; k < parts; k++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            const char *piece = POOL[(st >> 33) % AM_ARRAY_LEN(POOL)];
            size_t l = strlen(piece);
            memcpy(buf + n, piece, l);
            n += l;
        }
        json_array_append_new(texts, json_stringn(buf, n));
    }
    char path[] = "/tmp/am_tok_js_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return 1;
    close(fd);
    CHECK(json_dump_file(texts, path, 0) == 0);
    static const char *fams[] = {"llama3", "qwen3", "gemma3", "llama2", "gptoss", "deepseek_v3"};
    for (size_t i = 0; i < AM_ARRAY_LEN(fams); i++) run(fams[i], path, texts);
    unlink(path);
    json_decref(texts);
    AM_TEST_EXIT();
}
