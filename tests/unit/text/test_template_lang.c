/*
 * test_template_lang.c — the Jinja language feature by feature, against what
 * Jinja2 itself renders (tests/unit/text/jinja_cases.json, made by
 * gen_jinja_cases.py in transformers' environment), plus what the reference
 * cannot tell us: load-time refusals naming the construct and line, hostile
 * templates stopped by limits, invalid input.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "test_util.h"
#include "text/template.h"

static char *render_vars(const char *src, const json_t *vars, const am_render_params *rp, am_err *err) {
    am_template *t = am_template_parse(src, strlen(src), NULL, err);
    if (!t) return NULL;
    size_t len;
    char *out = am_template_render(t, vars, rp, &len, err);
    am_template_free(t);
    return out;
}

static char *render(const char *src, am_err *err) { return render_vars(src, NULL, NULL, err); }

static void test_reference_cases(void) {
    size_t n;
    char *text = am_test_read_file("tests/unit/text/jinja_cases.json", &n);
    json_error_t je;
    json_t *doc = json_loadb(text, n, 0, &je);
    free(text);
    CHECKF(doc != NULL, "jinja_cases.json: %s", je.text);
    if (!doc) return;
    json_t *vars = json_object_get(doc, "vars");
    size_t i;
    json_t *c;
    int count = 0;
    json_array_foreach(json_object_get(doc, "cases"), i, c) {
        const char *src = json_string_value(json_object_get(c, "src"));
        json_t *want = json_object_get(c, "text");
        am_err err = {0};
        am_template *t = am_template_parse(src, strlen(src), NULL, &err);
        CHECKF(t != NULL, "case %zu: parse: %s\n  %s", i, err.msg, src);
        if (!t) continue;
        size_t len = 0;
        char *out = am_template_render(t, vars, NULL, &len, &err);
        if (want) {
            const char *w = json_string_value(want);
            CHECKF(out && len == json_string_length(want) && !memcmp(out, w, len),
                   "case %zu:\n  src:  %s\n  got:  %s\n  want: %s", i, src, out ? out : err.msg, w);
        } else {
            const char *w = json_string_value(json_object_get(c, "error"));
            CHECKF(!out, "case %zu: the reference fails (%s), we rendered '%s'", i, w, out);
            if (!out) CHECKF(!strncmp(err.msg, w, strlen(w)), "case %zu: error '%s', reference '%s'", i, err.msg, w);
        }
        free(out);
        am_template_free(t);
        count++;
    }
    CHECK(count >= 50);
    json_decref(doc);
}

/* Constructs we do not implement fail at load time, naming construct and line. */
static void test_load_time_refusals(void) {
    static const struct {
        const char *src, *want;
    } cases[] = {
        {"ok\n{{ x|frobnicate }}", "no filter named 'frobnicate' (template line 2)"},
        {"{% if x is frobbed %}{% endif %}", "no test named 'frobbed'"},
        {"a\n\n{% include 'other.jinja' %}", "{% include %} (template line 3)"},
        {"{% extends 'base' %}", "{% extends %}"},
        {"{% import 'm' as m %}", "{% import %}"},
        {"{% for x in xs recursive %}{% endfor %}", "recursive for loop"},
        {"{{ f(*args) }}", "*args"},
        {"{% if x %}", "expected '{% elif %}'"},
        {"{% for x in y %}{% endif %}", "unexpected '{% endif %}'"},
        {"{{ x ", "unexpected end of template"},
        {"{{ 'abc }}", "unterminated string"},
        {"{# never closed", "unterminated comment"},
        {"{{ (1 }}", "unexpected '}'"},
        {"{% break %}", "'break' outside a for loop"},
        {"{{ 1 2 }}", "expected '}}'"},
        {"{{ x.1a }}", "expected '}}'"},
        {"{{ '\\N{DASH}' }}", "\\N{...} escape"},
    };
    for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
        am_err err = {0};
        am_template *t = am_template_parse(cases[i].src, strlen(cases[i].src), NULL, &err);
        CHECKF(!t, "'%s' parsed", cases[i].src);
        if (!t) CHECKF(strstr(err.msg, cases[i].want) != NULL, "'%s': got '%s', want '%s'", cases[i].src, err.msg, cases[i].want);
        am_template_free(t);
    }
}

static void expect_fail(const char *src, const am_render_params *rp, const char *want) {
    am_err err = {0};
    char *out = render_vars(src, NULL, rp, &err);
    CHECKF(!out, "'%.60s' rendered", src);
    if (!out) CHECKF(strstr(err.msg, want) != NULL, "'%.60s': got '%s', want '%s'", src, err.msg, want);
    free(out);
}

static void test_hostile_templates(void) {
    am_render_params rp = am_template_default_render_params();
    /* runaway recursion */
    expect_fail("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, "macro calls nested deeper");
    /* exponential output */
    expect_fail("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                NULL, "larger than");
    expect_fail("{{ 'x' * 1000000000000 }}", NULL, "larger than the output limit");
    expect_fail("{{ [1] * 1000000000 }}", NULL, "too large");
    /* runaway loops */
    rp.max_steps = 100000;
    expect_fail("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", &rp,
                "evaluation steps");
    /* output limit */
    rp = am_template_default_render_params();
    rp.max_output = 1000;
    expect_fail("{% for i in range(10000) %}xxxxxxxx{% endfor %}", &rp, "output larger than the limit");
    /* memory limit */
    rp = am_template_default_render_params();
    rp.max_memory = 1u << 20;
    expect_fail("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
                &rp, "memory limit");
    /* integer overflow is an error, not wraparound */
    expect_fail("{{ 9223372036854775807 + 1 }}", NULL, "integer overflow");
    expect_fail("{{ 2 ** 64 }}", NULL, "integer overflow");

    /* parse-depth limit: deep nesting fails cleanly at load time */
    size_t depth = 5000;
    char *deep = malloc(depth * 2 + 16);
    char *p = deep;
    p += sprintf(p, "{{ ");
    for (size_t i = 0; i < depth; i++) *p++ = '(';
    *p++ = '1';
    for (size_t i = 0; i < depth; i++) *p++ = ')';
    sprintf(p, " }}");
    am_err err = {0};
    am_template *t = am_template_parse(deep, strlen(deep), NULL, &err);
    CHECK(!t);
    CHECK(strstr(err.msg, "nested too deeply") || strstr(err.msg, "nesting deeper"));
    free(deep);
    char *deep_if = malloc(depth * 22 + 16);
    p = deep_if;
    for (size_t i = 0; i < depth; i++) p += sprintf(p, "{%% if 1 %%}");
    for (size_t i = 0; i < depth; i++) p += sprintf(p, "{%% endif %%}");
    t = am_template_parse(deep_if, strlen(deep_if), NULL, &err);
    CHECK(!t);
    CHECK(strstr(err.msg, "nesting deeper") != NULL);
    free(deep_if);
    /* a 100-deep nest is fine */
    char ok[4096];
    p = ok;
    for (int i = 0; i < 100; i++) p += sprintf(p, "{%% if 1 %%}");
    p += sprintf(p, "y");
    for (int i = 0; i < 100; i++) p += sprintf(p, "{%% endif %%}");
    char *out = render(ok, &err);
    CHECK(out && !strcmp(out, "y"));
    free(out);
}

static void test_invalid_input(void) {
    am_err err = {0};
    /* invalid UTF-8 template */
    am_template *t = am_template_parse("ab\xff{{ x }}", 9, NULL, &err);
    CHECK(!t && strstr(err.msg, "UTF-8"));
    /* NUL bytes are ordinary text */
    t = am_template_parse("a\0b{{ x }}", 10, NULL, &err);
    CHECK(t != NULL);
    json_t *vars = json_pack("{s:s#}", "x", "c\0d", (size_t)3);
    size_t len = 0;
    char *out = am_template_render(t, vars, NULL, &len, &err);
    CHECK(out && len == 6 && !memcmp(out, "a\0bc\0d", 6));
    free(out);
    json_decref(vars);
    /* variables must be an object */
    json_t *arr = json_array();
    out = am_template_render(t, arr, NULL, &len, &err);
    CHECK(!out);
    json_decref(arr);
    am_template_free(t);
    /* every truncation of a real template either parses or fails cleanly */
    const char *src = "{%- for m in messages %}{{ '<|' + m['role'] + '|>' }}{% if m.content is string %}"
                      "{{ m.content | trim }}{% else %}{{ m.content | tojson(indent=2) }}{% endif %}{% endfor %}";
    for (size_t n = 0; n <= strlen(src); n++) {
        t = am_template_parse(src, n, NULL, &err);
        am_template_free(t);
    }
    /* empty template */
    t = am_template_parse("", 0, NULL, &err);
    CHECK(t != NULL);
    out = am_template_render(t, NULL, NULL, &len, &err);
    CHECK(out && len == 0);
    free(out);
    am_template_free(t);
}

static void test_chat_inputs(void) {
    am_err err = {0};
    const char *src = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
                      "{% if tools is none %}[no tools]{% endif %}{% if add_generation_prompt %}<assistant>{% endif %}"
                      "{% if enable_thinking is defined and enable_thinking is false %}/nothink{% endif %}"
                      "{{ eos_token is defined }}{{ strftime_now('%d %b %Y') }}";
    am_template *t = am_template_parse(src, strlen(src), NULL, &err);
    CHECK(t != NULL);
    json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "hi");
    json_t *extra = json_pack("{s:b}", "enable_thinking", 0);
    am_chat_inputs in = {.messages = msgs, .add_generation_prompt = true, .bos_token = "<s>", .extra = extra};
    am_render_params rp = am_template_default_render_params();
    rp.now_fixed = true;
    rp.now = 1721952000; /* 2024-07-26 */
    size_t len;
    char *out = am_template_render_chat(t, &in, &rp, &len, &err);
    CHECKF(out && !strcmp(out, "<s><user>hi[no tools]<assistant>/nothinkFalse26 Jul 2024"), "got '%s'", out ? out : err.msg);
    free(out);
    json_decref(msgs);
    json_decref(extra);
    am_template_free(t);
}

static void test_config_sources(void) {
    am_err err = {0};
    json_t *cfg = json_pack("{s:[{s:s,s:s},{s:s,s:s}],s:{s:s},s:s}", "chat_template", "name", "default", "template",
                            "D", "name", "tool_use", "template", "T", "bos_token", "content", "<b>", "eos_token", "</e>");
    char *s = am_template_text_from_config(cfg, NULL, false, &err);
    CHECK(s && !strcmp(s, "D"));
    free(s);
    s = am_template_text_from_config(cfg, NULL, true, &err);
    CHECK(s && !strcmp(s, "T"));
    free(s);
    s = am_template_text_from_config(cfg, "nope", false, &err);
    CHECK(!s && strstr(err.msg, "nope"));
    s = am_template_config_token(cfg, "bos_token");
    CHECK(s && !strcmp(s, "<b>"));
    free(s);
    s = am_template_config_token(cfg, "eos_token");
    CHECK(s && !strcmp(s, "</e>"));
    free(s);
    CHECK(am_template_config_token(cfg, "pad_token") == NULL);
    json_decref(cfg);
}

int main(void) {
    AM_TEST_RUN(test_reference_cases);
    AM_TEST_RUN(test_load_time_refusals);
    AM_TEST_RUN(test_hostile_templates);
    AM_TEST_RUN(test_invalid_input);
    AM_TEST_RUN(test_chat_inputs);
    AM_TEST_RUN(test_config_sources);
    AM_TEST_EXIT();
}
