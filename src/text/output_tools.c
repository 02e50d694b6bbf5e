/*
 * output_tools.c — tool-call formats: detection from chat templates,
 * holding the text that may be a call, and parsing it at flush.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/output_priv.h"

am_tool_format am_tool_format_detect(const char *src) {
    if (!src) return AM_TOOLS_NONE;
    if (strstr(src, "tool\xe2\x96\x81" "calls\xe2\x96\x81" "begin")) return AM_TOOLS_DEEPSEEK;
    if (strstr(src, "[TOOL_CALLS]")) return AM_TOOLS_MISTRAL;
    if (strstr(src, "<tool_call>")) return AM_TOOLS_HERMES;
    if (strstr(src, "<|python_tag|>") || (strstr(src, "ipython") && strstr(src, "parameters")))
        return AM_TOOLS_LLAMA3;
    return AM_TOOLS_NONE;
}

const char *am_tool_format_name(am_tool_format f) {
    switch (f) {
    case AM_TOOLS_NONE: return "none";
    case AM_TOOLS_HERMES: return "hermes";
    case AM_TOOLS_LLAMA3: return "llama3";
    case AM_TOOLS_MISTRAL: return "mistral";
    case AM_TOOLS_DEEPSEEK: return "deepseek";
    }
    return "?";
}

/* ---- holding ---------------------------------------------------------- */

#define DS_CALLS_BEGIN "<\xef\xbd\x9c" "tool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALLS_END   "<\xef\xbd\x9c" "tool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN  "<\xef\xbd\x9c" "tool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALL_END    "<\xef\xbd\x9c" "tool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_SEP         "<\xef\xbd\x9c" "tool\xe2\x96\x81" "sep\xef\xbd\x9c>"
#define PY_TAG         "<|python_tag|>"

enum { TS_SCAN = 0, TS_HOLD = 1, TS_PASS = 2 };

struct am_toolstage {
    am_tool_format fmt;
    uint64_t seed, counter;
    int state;
    am_obuf held; /* not yet emitted: a partial marker (SCAN) or the calls (HOLD) */
};

static const char *marker(am_tool_format f) {
    switch (f) {
    case AM_TOOLS_HERMES: return "<tool_call>";
    case AM_TOOLS_MISTRAL: return "[TOOL_CALLS]";
    case AM_TOOLS_DEEPSEEK: return DS_CALLS_BEGIN;
    default: return NULL;
    }
}

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

am_toolstage *am_toolstage_create(am_tool_format f, uint64_t id_seed) {
    am_toolstage *ts = am_xcalloc(1, sizeof *ts);
    ts->fmt = f;
    ts->seed = id_seed;
    return ts;
}

void am_toolstage_free(am_toolstage *ts) {
    am_obuf_free(&ts->held);
    free(ts);
}

/* Llama 3: a call only when the output starts (after whitespace) with '{'
 * or <|python_tag|>; decided on the first non-blank byte(s). */
static void llama_scan(am_toolstage *ts, am_obuf *content) {
    size_t i = 0;
    while (i < ts->held.n && is_ws(ts->held.p[i])) i++;
    if (i == ts->held.n) return; /* only blanks so far: undecided */
    size_t rest = ts->held.n - i, tl = strlen(PY_TAG);
    if (ts->held.p[i] == '{') { ts->state = TS_HOLD; return; }
    if (rest >= tl && memcmp(ts->held.p + i, PY_TAG, tl) == 0) { ts->state = TS_HOLD; return; }
    if (rest < tl && memcmp(ts->held.p + i, PY_TAG, rest) == 0) return; /* may still become the tag */
    ts->state = TS_PASS;
    am_obuf_put(content, ts->held.p, ts->held.n);
    ts->held.n = 0;
}

void am_toolstage_push(am_toolstage *ts, const char *s, size_t n, am_obuf *content) {
    if (ts->state == TS_PASS) { am_obuf_put(content, s, n); return; }
    am_obuf_put(&ts->held, s, n);
    if (ts->state == TS_HOLD) return;
    if (ts->fmt == AM_TOOLS_LLAMA3) { llama_scan(ts, content); return; }
    const char *m = marker(ts->fmt);
    size_t ml = strlen(m);
    long at = am_find(ts->held.p, ts->held.n, m, ml);
    if (at >= 0) {
        am_obuf_put(content, ts->held.p, (size_t)at);
        am_obuf_consume(&ts->held, (size_t)at);
        ts->state = TS_HOLD;
        return;
    }
    size_t keep = am_suffix_prefix(ts->held.p, ts->held.n, m, ml);
    am_obuf_put(content, ts->held.p, ts->held.n - keep);
    am_obuf_consume(&ts->held, ts->held.n - keep);
}

/* ---- parsing ---------------------------------------------------------- */

typedef struct { const char *p, *e; } span;

static void skip_ws(span *s) { while (s->p < s->e && is_ws(*s->p)) s->p++; }

static bool eat(span *s, const char *lit) {
    size_t l = strlen(lit);
    if ((size_t)(s->e - s->p) < l || memcmp(s->p, lit, l) != 0) return false;
    s->p += l;
    return true;
}

/* Parses one JSON value at s->p (must be an object or array, per want). */
static json_t *eat_json(span *s, json_type want) {
    json_error_t err;
    json_t *v = json_loadb(s->p, (size_t)(s->e - s->p), JSON_DISABLE_EOF_CHECK, &err);
    if (!v) return NULL;
    if (json_typeof(v) != want) { json_decref(v); return NULL; }
    s->p += err.position;
    return v;
}

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Appends one call; args: an object, or a string holding JSON object text
 * (NULL: {}). False when the parts are not a call. */
static bool add_call(am_toolstage *ts, json_t *calls, const char *name, size_t name_len, json_t *args) {
    while (name_len && is_ws(name[name_len - 1])) name_len--;
    while (name_len && is_ws(*name)) { name++; name_len--; }
    if (!name_len) return false;
    json_t *obj = NULL;
    if (!args) obj = json_object();
    else if (json_is_object(args)) obj = json_incref(args);
    else if (json_is_string(args)) {
        obj = json_loads(json_string_value(args), 0, NULL);
        if (obj && !json_is_object(obj)) { json_decref(obj); obj = NULL; }
    }
    if (!obj) return false;
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!text) return false;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < name_len; i++) h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
    ts->counter++;
    uint64_t a = mix64(ts->seed ^ mix64(ts->counter)), b = mix64(a ^ h);
    char id[5 + 24 + 1];
    snprintf(id, sizeof id, "call_%016llx%08llx", (unsigned long long)a, (unsigned long long)(b & 0xffffffffULL));
    json_t *fn = json_object();
    json_object_set_new(fn, "name", json_stringn(name, name_len));
    json_object_set_new(fn, "arguments", json_string(text));
    free(text);
    json_t *c = json_object();
    json_object_set_new(c, "id", json_string(id));
    json_object_set_new(c, "type", json_string("function"));
    json_object_set_new(c, "function", fn);
    json_array_append_new(calls, c);
    return true;
}

/* {"name": .., "arguments"|"parameters": {..}} */
static bool add_obj_call(am_toolstage *ts, json_t *calls, json_t *o) {
    json_t *name = json_object_get(o, "name");
    if (!json_is_string(name)) return false;
    json_t *args = json_object_get(o, "arguments");
    if (!args) args = json_object_get(o, "parameters");
    return add_call(ts, calls, json_string_value(name), json_string_length(name), args);
}

/* Each parser reads the held text into calls; on success sets *rest to the
 * first byte not consumed (left as content). */
static bool parse_hermes(am_toolstage *ts, span s, json_t *calls, const char **rest) {
    int n = 0;
    for (;;) {
        span t = s;
        skip_ws(&t);
        if (!eat(&t, "<tool_call>")) break;
        long end = am_find(t.p, (size_t)(t.e - t.p), "</tool_call>", 12);
        if (end < 0) return false;
        span in = {t.p, t.p + end};
        skip_ws(&in);
        json_t *o = eat_json(&in, JSON_OBJECT);
        if (!o) return false;
        skip_ws(&in);
        bool ok = in.p == in.e && add_obj_call(ts, calls, o);
        json_decref(o);
        if (!ok) return false;
        s.p = t.p + end + 12;
        n++;
    }
    *rest = s.p;
    return n > 0;
}

static bool parse_llama3(am_toolstage *ts, span s, json_t *calls, const char **rest) {
    skip_ws(&s);
    eat(&s, PY_TAG);
    for (;;) {
        skip_ws(&s);
        json_t *o = eat_json(&s, JSON_OBJECT);
        if (!o) return false;
        bool ok = add_obj_call(ts, calls, o);
        json_decref(o);
        if (!ok) return false;
        skip_ws(&s);
        if (s.p == s.e) break;
        if (!eat(&s, ";")) return false;
        skip_ws(&s);
        if (s.p == s.e) break;
    }
    *rest = s.p;
    return true;
}

static bool parse_mistral(am_toolstage *ts, span s, json_t *calls, const char **rest) {
    int n = 0;
    for (;;) {
        span t = s;
        skip_ws(&t);
        if (!eat(&t, "[TOOL_CALLS]")) { if (n) break; return false; }
        skip_ws(&t);
        if (t.p < t.e && *t.p == '[') {
            json_t *a = eat_json(&t, JSON_ARRAY);
            if (!a || !json_array_size(a)) { json_decref(a); return false; }
            size_t i; json_t *o; bool ok = true;
            json_array_foreach(a, i, o) ok = ok && json_is_object(o) && add_obj_call(ts, calls, o);
            json_decref(a);
            if (!ok) return false;
        } else {
            long at = am_find(t.p, (size_t)(t.e - t.p), "[ARGS]", 6);
            if (at < 0) return false;
            const char *name = t.p;
            t.p += at + 6;
            skip_ws(&t);
            json_t *o = eat_json(&t, JSON_OBJECT);
            if (!o) return false;
            bool ok = add_call(ts, calls, name, (size_t)at, o);
            json_decref(o);
            if (!ok) return false;
        }
        s.p = t.p;
        n++;
    }
    *rest = s.p;
    return true;
}

static bool parse_deepseek(am_toolstage *ts, span s, json_t *calls, const char **rest) {
    skip_ws(&s);
    if (!eat(&s, DS_CALLS_BEGIN)) return false;
    int n = 0;
    for (;;) {
        skip_ws(&s);
        if (eat(&s, DS_CALLS_END)) break;
        if (!eat(&s, DS_CALL_BEGIN)) return false;
        long sep = am_find(s.p, (size_t)(s.e - s.p), DS_SEP, strlen(DS_SEP));
        if (sep < 0) return false;
        const char *a = s.p; size_t al = (size_t)sep;
        s.p += sep + strlen(DS_SEP);
        const char *name; size_t nl;
        span t = s;
        skip_ws(&t);
        bool fenced;
        if (t.p < t.e && *t.p == '{') { name = a; nl = al; fenced = false; s = t; } /* NAME<sep>{..} */
        else {
            const char *nlp = memchr(s.p, '\n', (size_t)(s.e - s.p));
            if (!nlp) return false;
            name = s.p; nl = (size_t)(nlp - s.p);
            s.p = nlp + 1;
            skip_ws(&s);
            if (!eat(&s, "```json") && !eat(&s, "```")) return false;
            skip_ws(&s);
            fenced = true;
        }
        json_t *o = eat_json(&s, JSON_OBJECT);
        if (!o) return false;
        bool ok = add_call(ts, calls, name, nl, o);
        json_decref(o);
        if (!ok) return false;
        skip_ws(&s);
        if (fenced && !eat(&s, "```")) return false;
        skip_ws(&s);
        if (!eat(&s, DS_CALL_END)) return false;
        n++;
    }
    if (!n) return false;
    *rest = s.p;
    return true;
}

void am_toolstage_flush(am_toolstage *ts, am_obuf *content, json_t *calls) {
    if (ts->state == TS_HOLD && ts->held.n) {
        span s = {ts->held.p, ts->held.p + ts->held.n};
        json_t *found = json_array();
        const char *rest = NULL;
        bool ok = false;
        uint64_t counter0 = ts->counter;
        switch (ts->fmt) {
        case AM_TOOLS_HERMES: ok = parse_hermes(ts, s, found, &rest); break;
        case AM_TOOLS_LLAMA3: ok = parse_llama3(ts, s, found, &rest); break;
        case AM_TOOLS_MISTRAL: ok = parse_mistral(ts, s, found, &rest); break;
        case AM_TOOLS_DEEPSEEK: ok = parse_deepseek(ts, s, found, &rest); break;
        default: break;
        }
        if (ok) {
            span r = {rest, s.e};
            skip_ws(&r);
            if (r.p < r.e) am_obuf_put(content, rest, (size_t)(s.e - rest));
            json_array_extend(calls, found);
        } else {
            ts->counter = counter0;
            am_obuf_put(content, ts->held.p, ts->held.n);
        }
        json_decref(found);
    } else {
        am_obuf_put(content, ts->held.p, ts->held.n);
    }
    ts->held.n = 0;
    ts->state = TS_PASS;
}
