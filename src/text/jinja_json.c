/*
 * jinja_json.c — JSON in and out of template values.
 *
 * Out: Python's json.dumps as transformers' tojson calls it — separators
 * ", " / ": " (or "," with indent), ensure_ascii off by default, keys in
 * insertion order, floats as repr, NaN/Infinity spelled as Python does.
 * Anything json.dumps refuses (generators, undefined, namespaces) is an error
 * with Python's message.
 *
 * In: jansson values to template values (objects keep their order); strings
 * are checked to be UTF-8, depth is limited.
 */
#include <jansson.h>
#include <string.h>

#include "text/jinja.h"

static void json_str(jsb *b, const char *s, size_t n, bool ascii) {
    jsb_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t st = i;
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\') {
            size_t k = i;
            while (k < n && (unsigned char)s[k] >= 0x20 && (unsigned char)s[k] < 0x80 && s[k] != '"' && s[k] != '\\') k++;
            jsb_put(b, s + i, k - i);
            i = k;
            continue;
        }
        uint32_t cp = jstr_next_cp(s, n, &i);
        switch (cp) {
        case '"': jsb_put(b, "\\\"", 2); break;
        case '\\': jsb_put(b, "\\\\", 2); break;
        case '\n': jsb_put(b, "\\n", 2); break;
        case '\r': jsb_put(b, "\\r", 2); break;
        case '\t': jsb_put(b, "\\t", 2); break;
        case '\b': jsb_put(b, "\\b", 2); break;
        case '\f': jsb_put(b, "\\f", 2); break;
        default:
            if (cp < 0x20) jsb_printf(b, "\\u%04x", cp);
            else if (!ascii || cp < 0x80) jsb_put(b, s + st, i - st);
            else if (cp < 0x10000) jsb_printf(b, "\\u%04x", cp);
            else {
                uint32_t v = cp - 0x10000;
                jsb_printf(b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            }
        }
    }
    jsb_putc(b, '"');
}

static void newline_indent(jsb *b, const jjson_opts *o, int level) {
    jsb_putc(b, '\n');
    for (int i = 0; i < level; i++) {
        if (o->indent_str) jsb_put(b, o->indent_str, strlen(o->indent_str));
        else for (int k = 0; k < o->indent; k++) jsb_putc(b, ' ');
    }
}

static void key_str(jctx *c, jsb *b, jval k, const jjson_opts *o) {
    switch (k.t) {
    case JV_STR: json_str(b, k.s.p, k.s.n, o->ensure_ascii); return;
    case JV_BOOL: jsb_put(b, k.b ? "\"true\"" : "\"false\"", k.b ? 6 : 7); return;
    case JV_NONE: jsb_put(b, "\"null\"", 6); return;
    case JV_INT: jsb_printf(b, "\"%lld\"", (long long)k.i); return;
    case JV_FLOAT: jsb_putc(b, '"'); jfmt_float(b, k.f, true); jsb_putc(b, '"'); return;
    default: jerr(c, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
    }
}

static void dump(jctx *c, jsb *b, jval v, const jjson_opts *o, int level) {
    if (++c->depth > c->max_depth) jerr(c, "template: value nested too deeply for tojson");
    bool pretty = o->indent >= 0;
    switch (v.t) {
    case JV_NONE: jsb_put(b, "null", 4); break;
    case JV_BOOL: jsb_put(b, v.b ? "true" : "false", v.b ? 4 : 5); break;
    case JV_INT: jsb_printf(b, "%lld", (long long)v.i); break;
    case JV_FLOAT: jfmt_float(b, v.f, true); break;
    case JV_STR: json_str(b, v.s.p, v.s.n, o->ensure_ascii); break;
    case JV_LIST:
        if (v.l->kind != JL_LIST && v.l->kind != JL_TUPLE)
            jerr(c, "Object of type %s is not JSON serializable", jv_type_name(v));
        if (!v.l->n) { jsb_put(b, "[]", 2); break; }
        jsb_putc(b, '[');
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) jsb_put(b, o->item_sep, strlen(o->item_sep));
            if (pretty) newline_indent(b, o, level + 1);
            dump(c, b, v.l->v[i], o, level + 1);
        }
        if (pretty) newline_indent(b, o, level);
        jsb_putc(b, ']');
        break;
    case JV_DICT: {
        if (!v.d->n) { jsb_put(b, "{}", 2); break; }
        size_t n = v.d->n;
        size_t *order = jalloc(c->ar, n * sizeof(size_t));
        for (size_t i = 0; i < n; i++) order[i] = i;
        if (o->sort_keys) { /* insertion sort by key: dicts in templates are small */
            for (size_t i = 0; i < n; i++) {
                if (v.d->k[i].t != JV_STR) jerr(c, "'<' not supported between instances of '%s' and 'str'", jv_type_name(v.d->k[i]));
            }
            jstep(c, n * n / 4 + 1);
            for (size_t i = 1; i < n; i++) {
                size_t x = order[i], j = i;
                while (j > 0 && jcompare(c, v.d->k[order[j - 1]], v.d->k[x]) > 0) { order[j] = order[j - 1]; j--; }
                order[j] = x;
            }
        }
        jsb_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i) jsb_put(b, o->item_sep, strlen(o->item_sep));
            if (pretty) newline_indent(b, o, level + 1);
            key_str(c, b, v.d->k[order[i]], o);
            jsb_put(b, o->key_sep, strlen(o->key_sep));
            dump(c, b, v.d->v[order[i]], o, level + 1);
        }
        if (pretty) newline_indent(b, o, level);
        jsb_putc(b, '}');
        break;
    }
    default: jerr(c, "Object of type %s is not JSON serializable", jv_type_name(v));
    }
    c->depth--;
}

void jv_tojson(jctx *c, jsb *b, jval v, const jjson_opts *o) { dump(c, b, v, o, 0); }

jval jv_from_json(jctx *c, const json_t *j, int depth) {
    if (depth > 512) jerr(c, "template: JSON input nested too deeply");
    switch (json_typeof(j)) {
    case JSON_NULL: return jv_none();
    case JSON_TRUE: return jv_bool(true);
    case JSON_FALSE: return jv_bool(false);
    case JSON_INTEGER: return jv_int((int64_t)json_integer_value(j));
    case JSON_REAL: return jv_float(json_real_value(j));
    case JSON_STRING: {
        const char *s = json_string_value(j);
        size_t n = json_string_length(j);
        if (!jstr_valid_utf8(s, n)) jerr(c, "template: input string is not valid UTF-8");
        return jv_str(s, n);
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        jval l = jv_list_new(c->ar, n, JL_LIST);
        for (size_t i = 0; i < n; i++) l.l->v[l.l->n++] = jv_from_json(c, json_array_get(j, i), depth + 1);
        return l;
    }
    case JSON_OBJECT: {
        jval d = jv_dict_new(c->ar, json_object_size(j));
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)j, k, x) {
            size_t kn = strlen(k);
            if (!jstr_valid_utf8(k, kn)) jerr(c, "template: input key is not valid UTF-8");
            /* keys are unique in a jansson object: append without lookup */
            if (d.d->n == d.d->cap) jv_dict_set(c->ar, d.d, jv_str(k, kn), jv_from_json(c, x, depth + 1));
            else {
                d.d->k[d.d->n] = jv_str(k, kn);
                d.d->v[d.d->n] = jv_from_json(c, x, depth + 1);
                d.d->n++;
            }
        }
        return d;
    }
    }
    return jv_none();
}
