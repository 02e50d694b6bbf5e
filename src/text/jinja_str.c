/*
 * jinja_str.c — UTF-8 helpers and Python's str()/repr() of template values,
 * so that `{{ x }}` prints what the reference (Jinja2 on CPython) prints:
 * "True", "None", "1.0", "1e+20", "['a', 'b']", "{'k': 1}", "(1,)".
 *
 * Strings reaching here are valid UTF-8 (templates and JSON are validated on
 * the way in). Printing an object whose Python text would include a memory
 * address (generators, namespaces) is an error rather than a guess.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/jinja.h"

bool jstr_isspace_cp(uint32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

uint32_t jstr_next_cp(const char *s, size_t n, size_t *i) {
    const unsigned char *u = (const unsigned char *)s;
    size_t k = *i;
    if (k >= n) return 0;
    uint32_t c = u[k];
    size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (k + len > n) len = n - k;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t j = 1; j < len; j++) cp = (cp << 6) | (u[k + j] & 0x3F);
    *i = k + len;
    return cp;
}

size_t jstr_cp_len(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

size_t jstr_cp_offset(const char *s, size_t n, size_t cp) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (c == cp) return i;
            c++;
        }
    }
    return n;
}

bool jstr_valid_utf8(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (i + len > n) return false;
        for (size_t j = 1; j < len; j++) {
            if ((u[i + j] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (u[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

void jfmt_float(jsb *b, double f, bool json) {
    if (isnan(f)) { jsb_put(b, json ? "NaN" : "nan", 3); return; }
    if (isinf(f)) {
        if (json) jsb_put(b, f < 0 ? "-Infinity" : "Infinity", f < 0 ? 9 : 8);
        else jsb_put(b, f < 0 ? "-inf" : "inf", f < 0 ? 4 : 3);
        return;
    }
    char buf[48];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf: [-]d[.ddd]e[+-]XX → digits and decimal exponent. */
    const char *p = buf;
    bool neg = *p == '-';
    if (neg) p++;
    char digits[24];
    int nd = 0;
    while (*p && *p != 'e') {
        if (*p != '.' && nd < 20) digits[nd++] = *p;
        p++;
    }
    int e10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = e10 + 1;
    if (neg) jsb_putc(b, '-');
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            jsb_put(b, "0.", 2);
            for (int i = 0; i < -decpt; i++) jsb_putc(b, '0');
            jsb_put(b, digits, (size_t)nd);
        } else if (decpt >= nd) {
            jsb_put(b, digits, (size_t)nd);
            for (int i = nd; i < decpt; i++) jsb_putc(b, '0');
            jsb_put(b, ".0", 2);
        } else {
            jsb_put(b, digits, (size_t)decpt);
            jsb_putc(b, '.');
            jsb_put(b, digits + decpt, (size_t)(nd - decpt));
        }
    } else {
        jsb_putc(b, digits[0]);
        if (nd > 1) {
            jsb_putc(b, '.');
            jsb_put(b, digits + 1, (size_t)(nd - 1));
        }
        jsb_printf(b, "e%c%02d", e10 < 0 ? '-' : '+', e10 < 0 ? -e10 : e10);
    }
}

static bool py_printable(uint32_t cp) {
    if (cp == ' ') return true;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
        return false;
    default:
        return true;
    }
}

static void repr_str(jsb *b, const char *s, size_t n) {
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    jsb_putc(b, q);
    for (size_t i = 0; i < n;) {
        size_t st = i;
        uint32_t cp = jstr_next_cp(s, n, &i);
        if (cp == (uint32_t)q || cp == '\\') { jsb_putc(b, '\\'); jsb_putc(b, (char)cp); }
        else if (cp == '\t') jsb_put(b, "\\t", 2);
        else if (cp == '\n') jsb_put(b, "\\n", 2);
        else if (cp == '\r') jsb_put(b, "\\r", 2);
        else if (cp < 0x20 || cp == 0x7F) jsb_printf(b, "\\x%02x", cp);
        else if (cp < 0x7F) jsb_putc(b, (char)cp);
        else if (py_printable(cp)) jsb_put(b, s + st, i - st);
        else if (cp <= 0xFF) jsb_printf(b, "\\x%02x", cp);
        else if (cp <= 0xFFFF) jsb_printf(b, "\\u%04x", cp);
        else jsb_printf(b, "\\U%08x", cp);
    }
    jsb_putc(b, q);
}

static void repr_items(jctx *c, jsb *b, jval *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i) jsb_put(b, ", ", 2);
        jv_repr(c, b, v[i]);
    }
}

void jv_repr(jctx *c, jsb *b, jval v) {
    if (c->depth++ > c->max_depth) jerr(c, "template: value nested too deeply to print");
    switch (v.t) {
    case JV_STR: repr_str(b, v.s.p, v.s.n); break;
    case JV_UNDEF: jsb_put(b, "Undefined", 9); break;
    case JV_LIST:
        switch (v.l->kind) {
        case JL_LIST: jsb_putc(b, '['); repr_items(c, b, v.l->v, v.l->n); jsb_putc(b, ']'); break;
        case JL_TUPLE:
            jsb_putc(b, '(');
            repr_items(c, b, v.l->v, v.l->n);
            if (v.l->n == 1) jsb_putc(b, ',');
            jsb_putc(b, ')');
            break;
        case JL_KEYS: case JL_VALUES: case JL_ITEMS:
            jsb_printf(b, "%s([", jv_type_name(v));
            repr_items(c, b, v.l->v, v.l->n);
            jsb_put(b, "])", 2);
            break;
        default: jerr(c, "template: cannot print a %s object (its text would hold a memory address)", jv_type_name(v));
        }
        break;
    case JV_DICT:
        jsb_putc(b, '{');
        for (size_t i = 0; i < v.d->n; i++) {
            if (i) jsb_put(b, ", ", 2);
            jv_repr(c, b, v.d->k[i]);
            jsb_put(b, ": ", 2);
            jv_repr(c, b, v.d->v[i]);
        }
        jsb_putc(b, '}');
        break;
    default: jv_to_str(c, b, v);
    }
    c->depth--;
}

void jv_to_str(jctx *c, jsb *b, jval v) {
    switch (v.t) {
    case JV_UNDEF: break;
    case JV_NONE: jsb_put(b, "None", 4); break;
    case JV_BOOL: jsb_put(b, v.b ? "True" : "False", v.b ? 4 : 5); break;
    case JV_INT: jsb_printf(b, "%lld", (long long)v.i); break;
    case JV_FLOAT: jfmt_float(b, v.f, false); break;
    case JV_STR: jsb_put(b, v.s.p, v.s.n); break;
    case JV_LIST: case JV_DICT: jv_repr(c, b, v); break;
    case JV_FUNC:
        if (v.fn->kind == JF_MACRO) jsb_printf(b, "<Macro '%s'>", v.fn->name);
        else jsb_printf(b, "<built-in method %s>", v.fn->name);
        break;
    case JV_LOOP: jsb_printf(b, "<LoopContext %zu/%zu>", v.loop->index0 + 1, v.loop->length); break;
    default: jerr(c, "template: cannot print a %s object (its text would hold a memory address)", jv_type_name(v));
    }
}

jval jv_stringify(jctx *c, jval v) {
    if (v.t == JV_STR) return v;
    jsb b;
    jsb_init(&b, c->ar, c->max_output);
    jv_to_str(c, &b, v);
    return jv_str(b.p ? b.p : "", b.n);
}
