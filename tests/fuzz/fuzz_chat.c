/*
 * fuzz_chat.c — real chat templates rendering hostile requests: the
 * messages/tools JSON a client sends goes through the templates real models
 * ship (tests/fixtures/chat_templates/golden.json, loaded once).
 *
 * Input: byte 0 picks the template and add_generation_prompt; the rest is
 * JSON: an object with "messages" (anything) and optional "tools", or any
 * other JSON value passed as messages. Rendering must succeed or fail with a
 * message, within the limits.
 */
#include <jansson.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "text/template.h"

#define MAX_TEMPLATES 64
static am_template *g_tpl[MAX_TEMPLATES];
static int g_n;

static void load_templates(void) {
    json_error_t je;
    json_t *root = json_load_file("tests/fixtures/chat_templates/golden.json", 0, &je);
    json_t *all = json_object_get(root, "templates");
    if (!json_is_object(all)) {
        fprintf(stderr, "fuzz_chat: golden.json: %s (run from the repository root)\n", je.text);
        abort();
    }
    const char *name;
    json_t *v;
    json_object_foreach(all, name, v) {
        json_t *text = json_object_get(v, "template");
        am_err err;
        if (g_n == MAX_TEMPLATES || !json_is_string(text)) continue;
        g_tpl[g_n] = am_template_parse(json_string_value(text), json_string_length(text), NULL, &err);
        if (!g_tpl[g_n]) {
            fprintf(stderr, "fuzz_chat: template %s: %s\n", name, err.msg);
            abort();
        }
        g_n++;
    }
    json_decref(root);
}

AM_FUZZ_TARGET(chat) {
    if (!g_n) load_templates();
    if (size < 1) return 0;
    json_t *req = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!req) return 0;
    am_chat_inputs in = {.add_generation_prompt = data[0] & 0x80, .bos_token = "<s>", .eos_token = "</s>"};
    if (json_is_object(req) && json_object_get(req, "messages")) {
        in.messages = json_object_get(req, "messages");
        in.tools = json_object_get(req, "tools");
        in.extra = json_object_get(req, "extra");
        if (in.extra && !json_is_object(in.extra)) in.extra = NULL;
    } else {
        in.messages = req;
    }
    am_render_params rp = am_template_default_render_params();
    rp.max_output = 1 << 20;
    rp.max_memory = 64u << 20;
    rp.max_steps = 200000;
    rp.now_fixed = true;
    rp.now = 1700000000;
    am_err err = {0};
    size_t len = 0;
    char *out = am_template_render_chat(g_tpl[(data[0] & 0x7f) % g_n], &in, &rp, &len, &err);
    if (out) {
        FUZZ_CHECK(len <= rp.max_output && out[len] == 0);
        am_fuzz_sink ^= am_fuzz_touch(out, len);
        free(out);
    } else {
        FUZZ_CHECK(err.msg[0] != 0);
    }
    json_decref(req);
    return 0;
}
