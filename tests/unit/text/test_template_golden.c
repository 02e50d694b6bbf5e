/*
 * test_template_golden.c — every render in chat_templates/golden.json
 * (transformers 5.17 apply_chat_template over 22 real templates) reproduced
 * byte for byte; renders the reference refused are refused, with the
 * reference's message.
 *
 * The reference rendered with bos_token/eos_token of the family's
 * tokenizer_config.json (left out when null), tools=None when absent, and a
 * clock reading 2026-11-27 (strftime_now in Llama 3.2).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "test_util.h"
#include "text/template.h"

#define GOLDEN_NOW 1795737600 /* 2026-11-27T00:00:00Z */

static json_t *load(const char *rel) {
    char *path = am_test_fixture(rel);
    size_t n;
    char *text = am_test_read_file(path, &n);
    json_error_t je;
    json_t *j = json_loadb(text, n, JSON_DECODE_INT_AS_REAL, &je);
    if (!j) fprintf(stderr, "%s: %s\n", path, je.text);
    free(text);
    free(path);
    return j;
}

static void family_tokens(const char *family, char **bos, char **eos) {
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer_config.json", family);
    json_t *cfg = load(rel);
    *bos = cfg ? am_template_config_token(cfg, "bos_token") : NULL;
    *eos = cfg ? am_template_config_token(cfg, "eos_token") : NULL;
    json_decref(cfg);
}

static void show_diff(const char *got, size_t glen, const char *want, size_t wlen) {
    size_t i = 0;
    while (i < glen && i < wlen && got[i] == want[i]) i++;
    size_t from = i > 60 ? i - 60 : 0;
    fprintf(stderr, "    first difference at byte %zu (got %zu bytes, want %zu)\n", i, glen, wlen);
    fprintf(stderr, "    got:  ...%.*s|%.*s\n", (int)(i - from), got + from, (int)AM_MIN(glen - i, 80), got + i);
    fprintf(stderr, "    want: ...%.*s|%.*s\n", (int)(i - from), want + from, (int)AM_MIN(wlen - i, 80), want + i);
}

static void test_golden(void) {
    json_t *g = load("chat_templates/golden.json");
    CHECK(g != NULL);
    if (!g) return;
    json_t *templates = json_object_get(g, "templates");
    CHECK(json_object_size(templates) >= 22);
    am_render_params rp = am_template_default_render_params();
    rp.now_fixed = true;
    rp.now = GOLDEN_NOW;
    int n_text = 0, n_err = 0;
    const char *name;
    json_t *tv;
    json_object_foreach(templates, name, tv) {
        const char *src = json_string_value(json_object_get(tv, "template"));
        am_err err = {0};
        am_template *t = am_template_parse(src, strlen(src), NULL, &err);
        CHECKF(t != NULL, "%s: %s", name, err.msg);
        if (!t) continue;
        char *bos, *eos;
        family_tokens(json_string_value(json_object_get(tv, "family")), &bos, &eos);
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(tv, "renders"), i, r) {
            am_chat_inputs in = {
                .messages = json_object_get(r, "messages"),
                .tools = json_object_get(r, "tools"),
                .add_generation_prompt = json_is_true(json_object_get(r, "add_generation_prompt")),
                .bos_token = bos,
                .eos_token = eos,
            };
            const char *conv = json_string_value(json_object_get(r, "conv"));
            size_t len = 0;
            char *out = am_template_render_chat(t, &in, &rp, &len, &err);
            json_t *want = json_object_get(r, "text");
            if (want) {
                n_text++;
                const char *w = json_string_value(want);
                size_t wl = json_string_length(want);
                bool ok = out && len == wl && memcmp(out, w, wl) == 0;
                CHECKF(ok, "%s / %s (agp=%d): %s", name, conv, in.add_generation_prompt, out ? "text differs" : err.msg);
                if (!ok && out) show_diff(out, len, w, wl);
            } else {
                n_err++;
                const char *w = json_string_value(json_object_get(r, "error"));
                CHECKF(!out, "%s / %s: the reference refused (%s) but we rendered", name, conv, w);
                if (!out)
                    CHECKF(!strncmp(err.msg, w, strlen(w)), "%s / %s: error '%s', reference '%s'", name, conv, err.msg, w);
            }
            free(out);
        }
        free(bos);
        free(eos);
        am_template_free(t);
    }
    fprintf(stderr, "  %d renders compared, %d refusals checked\n", n_text, n_err);
    CHECK(n_text >= 120 && n_err >= 30);
    json_decref(g);
}

int main(void) {
    AM_TEST_RUN(test_golden);
    AM_TEST_EXIT();
}
