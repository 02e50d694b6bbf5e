/*
 * test_template_fuzz.c — deterministic mutations of the 22 real templates
 * (bytes replaced by Jinja-significant characters, spans deleted or
 * duplicated, truncations), each parsed and, when it parses, rendered with a
 * tool conversation under tight limits. Nothing may crash, hang, leak or
 * trip a sanitizer (this binary runs under `make asan` too); every failure
 * must come back as a message.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "test_util.h"
#include "text/template.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static const char SPECIAL[] = "{}%#-+()[]'\"|.,=~*/:\n ax0";

static size_t mutate(const char *src, size_t n, char *out) {
    memcpy(out, src, n);
    int edits = 1 + (int)(next_u32() % 4);
    for (int e = 0; e < edits && n > 2; e++) {
        size_t pos = next_u32() % n;
        switch (next_u32() % 4) {
        case 0: out[pos] = SPECIAL[next_u32() % (sizeof SPECIAL - 1)]; break;
        case 1: { /* delete a span */
            size_t len = 1 + next_u32() % 16;
            if (pos + len > n) len = n - pos;
            memmove(out + pos, out + pos + len, n - pos - len);
            n -= len;
            break;
        }
        case 2: { /* duplicate a span (output buffer has room for 64 more per edit) */
            size_t len = 1 + next_u32() % 48;
            if (pos + len > n) len = n - pos;
            memmove(out + pos + len, out + pos, n - pos);
            n += len;
            break;
        }
        default: n = pos + 1; /* truncate */
        }
    }
    return n;
}

static void test_mutations(void) {
    char *path = am_test_fixture("chat_templates/golden.json");
    size_t fn;
    char *text = am_test_read_file(path, &fn);
    free(path);
    json_t *g = json_loadb(text, fn, 0, NULL);
    free(text);
    CHECK(g != NULL);
    if (!g) return;
    json_t *templates = json_object_get(g, "templates");
    am_render_params rp = am_template_default_render_params();
    rp.max_output = 1 << 20;
    rp.max_memory = 32u << 20;
    rp.max_steps = 200000;
    rp.now_fixed = true;
    int parsed = 0, rendered = 0, total = 0;
    const char *name;
    json_t *tv;
    json_object_foreach(templates, name, tv) {
        const char *src = json_string_value(json_object_get(tv, "template"));
        size_t n = strlen(src);
        json_t *renders = json_object_get(tv, "renders");
        json_t *conv = json_array_get(renders, json_array_size(renders) - 1); /* the tools conversation */
        am_chat_inputs in = {.messages = json_object_get(conv, "messages"),
                             .tools = json_object_get(conv, "tools"),
                             .add_generation_prompt = true,
                             .bos_token = "<s>",
                             .eos_token = "</s>"};
        char *buf = malloc(n + 64 * 4 + 1);
        for (int k = 0; k < 120; k++) {
            size_t m = mutate(src, n, buf);
            am_err err = {0};
            am_template *t = am_template_parse(buf, m, NULL, &err);
            total++;
            if (!t) {
                CHECK(err.msg[0] != 0);
                continue;
            }
            parsed++;
            size_t len;
            char *out = am_template_render_chat(t, &in, &rp, &len, &err);
            if (out) rendered++;
            else CHECK(err.msg[0] != 0);
            free(out);
            am_template_free(t);
        }
        free(buf);
    }
    fprintf(stderr, "  %d mutants: %d parsed, %d rendered\n", total, parsed, rendered);
    CHECK(total > 2000 && parsed > 100);
    json_decref(g);
}

int main(void) {
    AM_TEST_RUN(test_mutations);
    AM_TEST_EXIT();
}
