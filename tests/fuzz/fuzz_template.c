/*
 * fuzz_template.c — the Jinja chat-template interpreter on arbitrary
 * template text: am_template_parse, then (when it parses) a chat render of a
 * fixed conversation with a system prompt, tool calls, a tool reply and
 * tools, under tight limits so runaway templates stop quickly.
 *
 * A parse or render either succeeds with NUL-terminated output of the
 * reported length within max_output, or fails with a message.
 */
#include <jansson.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "text/template.h"

static const char CONV[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be terse.\"},"
    "{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
    "{\"role\":\"assistant\",\"content\":\"\",\"reasoning_content\":\"look it up\",\"tool_calls\":[{\"id\":\"c1\","
    "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]},"
    "{\"role\":\"tool\",\"name\":\"get_weather\",\"tool_call_id\":\"c1\",\"content\":\"{\\\"temp_c\\\": 18}\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Thanks \\u00e9\\u4e16\"}]}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
    "\"required\":[\"city\"]}}}]}";

static json_t *g_conv;

/* Limits small enough that any input finishes in milliseconds. */
static am_render_params fuzz_render_params(void) {
    am_render_params rp = am_template_default_render_params();
    rp.max_output = 1 << 20;
    rp.max_memory = 64u << 20;
    rp.max_steps = 200000;
    rp.now_fixed = true;
    rp.now = 1700000000;
    return rp;
}

AM_FUZZ_TARGET(template) {
    if (!g_conv) g_conv = json_loads(CONV, 0, NULL);
    FUZZ_CHECK(g_conv != NULL);
    am_err err = {0};
    am_template *t = am_template_parse((const char *)data, size, NULL, &err);
    if (!t) {
        FUZZ_CHECK(err.msg[0] != 0);
        return 0;
    }
    am_render_params rp = fuzz_render_params();
    am_chat_inputs in = {.messages = json_object_get(g_conv, "messages"),
                         .tools = json_object_get(g_conv, "tools"),
                         .add_generation_prompt = size & 1,
                         .bos_token = "<s>",
                         .eos_token = "</s>"};
    size_t len = 0;
    char *out = am_template_render_chat(t, &in, &rp, &len, &err);
    if (out) {
        FUZZ_CHECK(len <= rp.max_output);
        FUZZ_CHECK(out[len] == 0);
        am_fuzz_sink ^= am_fuzz_touch(out, len);
        free(out);
    } else {
        FUZZ_CHECK(err.msg[0] != 0);
    }
    am_template_free(t);
    return 0;
}
