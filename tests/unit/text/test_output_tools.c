/*
 * test_output_tools.c — tool-call detection and parsing of
 * src/text/output_tools.c: each format from sample outputs, every split of
 * the stream, malformed calls kept as content, and format detection on the
 * real chat templates in chat_templates/golden.json.
 */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "text/output.h"

#define DS_CB "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CE "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_B "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_E "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_S "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>"

typedef struct {
    am_tool_format fmt;
    const char *in;
    const char *content;  /* expected content */
    int n;                /* expected calls */
    const char *name[2];
    const char *args[2];  /* expected arguments, as JSON (compared as objects) */
} tcase;

static const tcase CASES[] = {
    {AM_TOOLS_HERMES, "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}\n</tool_call>",
     "Let me check.\n", 1, {"get_weather"}, {"{\"city\":\"Paris\",\"days\":3}"}},
    {AM_TOOLS_HERMES, "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": [1, {\"y\": null}]}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>",
     "", 2, {"a", "b"}, {"{\"x\":[1,{\"y\":null}]}", "{}"}},
    {AM_TOOLS_HERMES, "a < b and <tool no call", "a < b and <tool no call", 0, {0}, {0}},
    {AM_TOOLS_HERMES, "x<tool_call>\n{\"name\": \"a\", \"arguments\": {\"q\": 1}\n</tool_call>", /* malformed: missing } */
     "x<tool_call>\n{\"name\": \"a\", \"arguments\": {\"q\": 1}\n</tool_call>", 0, {0}, {0}},
    {AM_TOOLS_HERMES, "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}", /* unterminated */
     "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}", 0, {0}, {0}},
    {AM_TOOLS_LLAMA3, "{\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}",
     "", 1, {"get_time"}, {"{\"tz\":\"UTC\"}"}},
    {AM_TOOLS_LLAMA3, "<|python_tag|>{\"name\": \"f\", \"arguments\": {\"s\": \"a;b\"}}; {\"name\": \"g\", \"parameters\": {}}",
     "", 2, {"f", "g"}, {"{\"s\":\"a;b\"}", "{}"}},
    {AM_TOOLS_LLAMA3, "The answer is {\"name\": \"x\"}", "The answer is {\"name\": \"x\"}", 0, {0}, {0}},
    {AM_TOOLS_LLAMA3, "  {\"name\": \"f\", \"parameters\": {\"a\": 1}} trailing", "  {\"name\": \"f\", \"parameters\": {\"a\": 1}} trailing", 0, {0}, {0}},
    {AM_TOOLS_MISTRAL, "[TOOL_CALLS] [{\"name\": \"search\", \"arguments\": {\"q\": \"caf\xc3\xa9\"}}, {\"name\": \"open\", \"arguments\": {\"id\": 7}}]",
     "", 2, {"search", "open"}, {"{\"q\":\"caf\xc3\xa9\"}", "{\"id\":7}"}},
    {AM_TOOLS_MISTRAL, "Sure.[TOOL_CALLS]search[ARGS]{\"q\": \"x\"}[TOOL_CALLS]open[ARGS]{\"id\": 1}",
     "Sure.", 2, {"search", "open"}, {"{\"q\":\"x\"}", "{\"id\":1}"}},
    {AM_TOOLS_MISTRAL, "[TOOL_CALLS] [{\"name\": \"s\", \"arguments\": {\"q\": }]", "[TOOL_CALLS] [{\"name\": \"s\", \"arguments\": {\"q\": }]", 0, {0}, {0}},
    {AM_TOOLS_DEEPSEEK, "I will look it up." DS_CB DS_B "function" DS_S "get_weather\n```json\n{\"city\": \"Tokyo\"}\n```" DS_E "\n" DS_B "function" DS_S "get_time\n```json\n{}\n```" DS_E DS_CE,
     "I will look it up.", 2, {"get_weather", "get_time"}, {"{\"city\":\"Tokyo\"}", "{}"}},
    {AM_TOOLS_DEEPSEEK, DS_CB DS_B "function" DS_S "f\n```json\n{\"a\": 1}\n```" DS_E, /* no calls_end */
     DS_CB DS_B "function" DS_S "f\n```json\n{\"a\": 1}\n```" DS_E, 0, {0}, {0}},
};

typedef struct { char c[4096]; size_t cn; json_t *calls; } tout;

static void run(const tcase *k, const size_t *cuts, int nc, tout *o) {
    am_textout_params p = {.tools = k->fmt};
    am_textout *t = am_textout_create(&p);
    am_textout_delta d;
    size_t n = strlen(k->in), prev = 0;
    o->cn = 0;
    for (int i = 0; i <= nc; i++) {
        size_t end = i < nc ? cuts[i] : n;
        am_textout_push(t, k->in + prev, end - prev, &d);
        memcpy(o->c + o->cn, d.content, d.content_len); o->cn += d.content_len;
        prev = end;
    }
    am_textout_flush(t, &d);
    memcpy(o->c + o->cn, d.content, d.content_len); o->cn += d.content_len;
    o->calls = am_textout_tool_calls(t);
    am_textout_free(t);
}

/* Checks content and calls against the case; arguments must be JSON text
 * that parses back to the expected object. */
static bool check(const tcase *k, const tout *o, size_t cut) {
    bool ok = o->cn == strlen(k->content) && memcmp(o->c, k->content, o->cn) == 0;
    CHECKF(ok, "'%s' cut %zu: content '%.*s'", k->in, cut, (int)o->cn, o->c);
    bool cok = json_is_array(o->calls) && (int)json_array_size(o->calls) == k->n;
    for (int i = 0; cok && i < k->n; i++) {
        json_t *c = json_array_get(o->calls, (size_t)i), *fn = json_object_get(c, "function");
        const char *id = json_string_value(json_object_get(c, "id"));
        cok = id && strlen(id) == 29 && strncmp(id, "call_", 5) == 0 && strspn(id + 5, "0123456789abcdef") == 24;
        cok = cok && json_is_string(json_object_get(c, "type")) && strcmp(json_string_value(json_object_get(c, "type")), "function") == 0;
        cok = cok && json_is_string(json_object_get(fn, "name")) && strcmp(json_string_value(json_object_get(fn, "name")), k->name[i]) == 0;
        const char *at = json_string_value(json_object_get(fn, "arguments"));
        json_t *got = at ? json_loads(at, 0, NULL) : NULL, *want = json_loads(k->args[i], 0, NULL);
        cok = cok && got && json_equal(got, want);
        json_decref(got); json_decref(want);
    }
    if (cok && k->n == 2) {
        const char *a = json_string_value(json_object_get(json_array_get(o->calls, 0), "id"));
        const char *b = json_string_value(json_object_get(json_array_get(o->calls, 1), "id"));
        cok = strcmp(a, b) != 0;
    }
    char *dump = json_dumps(o->calls, JSON_COMPACT);
    CHECKF(cok, "'%s' cut %zu: calls %s", k->in, cut, dump);
    free(dump);
    return ok && cok;
}

/* Each format parsed in one chunk. Catches wrong marker handling, text
 * before a Hermes/Mistral/DeepSeek call lost, arguments not serialized as
 * JSON text, malformed or unterminated blocks dropped instead of kept as
 * content, Llama 3 JSON in the middle of prose taken for a call, duplicate ids. */
static void test_formats_whole(void) {
    for (size_t i = 0; i < AM_ARRAY_LEN(CASES); i++) {
        tout o; run(&CASES[i], NULL, 0, &o);
        check(&CASES[i], &o, 0);
        json_decref(o.calls);
    }
}

/* Every single split point and the byte-by-byte stream give the same result.
 * Catches a marker split across chunks leaking to content (not held back),
 * content before the marker emitted twice, and the Llama 3 leading-brace
 * decision made on an incomplete <|python_tag|>. */
static void test_formats_splits(void) {
    for (size_t i = 0; i < AM_ARRAY_LEN(CASES); i++) {
        const tcase *k = &CASES[i];
        size_t n = strlen(k->in);
        int bad = 0;
        for (size_t cut = 0; cut <= n && bad < 3; cut++) {
            size_t cuts[1] = {cut};
            tout o; run(k, cuts, 1, &o);
            if (!check(k, &o, cut)) bad++;
            json_decref(o.calls);
        }
        size_t *cuts = malloc(n * sizeof *cuts); int nc = 0;
        for (size_t c = 1; c < n; c++) cuts[nc++] = c;
        tout o; run(k, cuts, nc, &o);
        check(k, &o, (size_t)-1);
        json_decref(o.calls);
        free(cuts);
    }
}

/* Streaming: content before the marker is released before the flush, and
 * the call text never is. Catches holding everything (no streaming) and
 * releasing the call before it is parsed. */
static void test_stream_release(void) {
    am_textout_params p = {.tools = AM_TOOLS_HERMES};
    am_textout *t = am_textout_create(&p);
    am_textout_delta d;
    am_textout_push(t, "Hello <", 7, &d);
    CHECK(d.content_len == 6 && memcmp(d.content, "Hello ", 6) == 0);
    am_textout_push(t, "tool_call>\n{\"name\":\"f\",", 23, &d);
    CHECK(d.content_len == 0);
    am_textout_push(t, "\"arguments\":{}}\n</tool_call>", 28, &d);
    CHECK(d.content_len == 0);
    am_textout_flush(t, &d);
    CHECK(d.content_len == 0);
    json_t *c = am_textout_tool_calls(t);
    CHECK(json_array_size(c) == 1);
    json_decref(c);
    am_textout_free(t);
    /* Llama 3: prose is streamed at once. */
    p.tools = AM_TOOLS_LLAMA3;
    t = am_textout_create(&p);
    am_textout_push(t, "Hi {", 4, &d);
    CHECK(d.content_len == 4);
    am_textout_free(t);
}

/* Detection on the real templates. Catches a format guessed wrongly from
 * a template (e.g. Hermes-on-Llama templates detected as Llama 3) and
 * templates without tool syntax given a format. */
static void test_detect_golden(void) {
    static const struct { const char *name; am_tool_format f; } WANT[] = {
        {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", AM_TOOLS_HERMES},
        {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", AM_TOOLS_HERMES},
        {"Qwen-Qwen2.5-7B-Instruct", AM_TOOLS_HERMES},
        {"Qwen-Qwen3-0.6B", AM_TOOLS_HERMES},
        {"Qwen-QwQ-32B", AM_TOOLS_HERMES},
        {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", AM_TOOLS_DEEPSEEK},
        {"deepseek_v3_tokcfg", AM_TOOLS_DEEPSEEK},
        {"meta-llama-Llama-3.1-8B-Instruct", AM_TOOLS_LLAMA3},
        {"meta-llama-Llama-3.3-70B-Instruct", AM_TOOLS_LLAMA3},
        {"mistralai-Mistral-Nemo-Instruct-2407", AM_TOOLS_MISTRAL},
        {"google-gemma-2-2b-it", AM_TOOLS_NONE},
        {"microsoft-Phi-3.5-mini-instruct", AM_TOOLS_NONE},
    };
    char *path = am_test_fixture("chat_templates/golden.json");
    size_t n;
    char *text = am_test_read_file(path, &n);
    json_t *g = json_loadb(text, n, 0, NULL);
    free(text); free(path);
    CHECK(g != NULL);
    json_t *ts = json_object_get(g, "templates");
    for (size_t i = 0; i < AM_ARRAY_LEN(WANT); i++) {
        const char *src = json_string_value(json_object_get(json_object_get(ts, WANT[i].name), "template"));
        CHECKF(src != NULL, "%s missing", WANT[i].name);
        if (!src) continue;
        am_tool_format f = am_tool_format_detect(src);
        CHECKF(f == WANT[i].f, "%s: %s, want %s", WANT[i].name, am_tool_format_name(f), am_tool_format_name(WANT[i].f));
    }
    json_decref(g);
    CHECK(am_tool_format_detect(NULL) == AM_TOOLS_NONE);
}

int main(void) {
    AM_TEST_RUN(test_formats_whole);
    AM_TEST_RUN(test_formats_splits);
    AM_TEST_RUN(test_stream_release);
    AM_TEST_RUN(test_detect_golden);
    AM_TEST_EXIT();
}
