/*
 * jinja_filters.c — Jinja2's string and number filters (trim, upper, replace,
 * indent, tojson, default, int, round...) and the filter table that the
 * parser consults, so an unknown filter fails at load time. Sequence filters
 * (map, select, sort, join...) are in jinja_seq.c.
 *
 * `tojson` is transformers' override: json.dumps(x, ensure_ascii=False,
 * indent=None, separators=None, sort_keys=False), not Jinja's HTML-safe one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/jinja.h"

/* from jinja_seq.c */
jval jf_length(jctx *c, jval in, jargs *a);
jval jf_join(jctx *c, jval in, jargs *a);
jval jf_first(jctx *c, jval in, jargs *a);
jval jf_last(jctx *c, jval in, jargs *a);
jval jf_list(jctx *c, jval in, jargs *a);
jval jf_items(jctx *c, jval in, jargs *a);
jval jf_map(jctx *c, jval in, jargs *a);
jval jf_select(jctx *c, jval in, jargs *a);
jval jf_reject(jctx *c, jval in, jargs *a);
jval jf_selectattr(jctx *c, jval in, jargs *a);
jval jf_rejectattr(jctx *c, jval in, jargs *a);
jval jf_unique(jctx *c, jval in, jargs *a);
jval jf_sort(jctx *c, jval in, jargs *a);
jval jf_reverse(jctx *c, jval in, jargs *a);
jval jf_dictsort(jctx *c, jval in, jargs *a);
jval jf_sum(jctx *c, jval in, jargs *a);
jval jf_min(jctx *c, jval in, jargs *a);
jval jf_max(jctx *c, jval in, jargs *a);
jval jf_batch(jctx *c, jval in, jargs *a);
/* from jinja_methods.c */
jval jstr_strip(jctx *c, jval s, jval chars, bool left, bool right);
jval jstr_case(jctx *c, jval s, int mode); /* 0 lower, 1 upper, 2 capitalize */
jval jstr_replace(jctx *c, jval s, jval old, jval new_, int64_t count);
void jstr_splitlines(jctx *c, jval s, jval *out_list);

static jval str_of(jctx *c, jval v) { return jv_stringify(c, v); }

static jval f_trim(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"chars", NULL};
    jargs_check(c, a, "trim", 1, kw);
    jval *chars = jarg(a, 0, "chars");
    jval s = str_of(c, in);
    jval r = jstr_strip(c, s, chars ? *chars : jv_none(), true, true);
    return r;
}

static jval f_upper(jctx *c, jval in, jargs *a) { jargs_check(c, a, "upper", 0, NULL); return jstr_case(c, str_of(c, in), 1); }
static jval f_lower(jctx *c, jval in, jargs *a) { jargs_check(c, a, "lower", 0, NULL); return jstr_case(c, str_of(c, in), 0); }
static jval f_capitalize(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "capitalize", 0, NULL);
    return jstr_case(c, str_of(c, in), 2);
}

/* Jinja's title: split before runs of [-\s({[<], capitalize each piece. */
static jval f_title(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "title", 0, NULL);
    jval s = str_of(c, in);
    jsb b;
    jsb_init(&b, c->ar, 0);
    bool at_start = true;
    for (size_t i = 0; i < s.s.n;) {
        size_t st = i;
        uint32_t cp = jstr_next_cp(s.s.p, s.s.n, &i);
        bool sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || jstr_isspace_cp(cp);
        if (sep) {
            jsb_put(&b, s.s.p + st, i - st);
            at_start = true;
            continue;
        }
        uint32_t m = at_start ? (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp) : (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
        utf8proc_uint8_t u[4];
        utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)m, u);
        jsb_put(&b, (const char *)u, (size_t)k);
        at_start = false;
    }
    return jv_str(b.p ? b.p : "", b.n);
}

static jval f_replace(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"old", "new", "count", NULL};
    jargs_check(c, a, "replace", 3, kw);
    jval *old = jarg(a, 0, "old"), *nw = jarg(a, 1, "new"), *cnt = jarg(a, 2, "count");
    if (!old || !nw) jerr(c, "replace() missing required arguments");
    int64_t count = -1;
    if (cnt && cnt->t != JV_NONE) {
        if (cnt->t != JV_INT) jerr(c, "replace() count must be an integer");
        count = cnt->i;
    }
    return jstr_replace(c, str_of(c, in), str_of(c, *old), str_of(c, *nw), count);
}

static jval f_string(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "string", 0, NULL);
    jval r = str_of(c, in);
    r.markup = in.t == JV_STR && in.markup;
    return r;
}

static jval f_safe(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "safe", 0, NULL);
    jval r = str_of(c, in);
    r.markup = true;
    return r;
}

jval jhtml_escape(jctx *c, jval s) {
    if (s.t == JV_STR && s.markup) return s;
    s = str_of(c, s);
    jsb b;
    jsb_init(&b, c->ar, 0);
    for (size_t i = 0; i < s.s.n; i++) {
        char ch = s.s.p[i];
        switch (ch) {
        case '&': jsb_put(&b, "&amp;", 5); break;
        case '<': jsb_put(&b, "&lt;", 4); break;
        case '>': jsb_put(&b, "&gt;", 4); break;
        case '"': jsb_put(&b, "&#34;", 5); break;
        case '\'': jsb_put(&b, "&#39;", 5); break;
        default: jsb_putc(&b, ch);
        }
    }
    jval r = jv_str(b.p ? b.p : "", b.n);
    r.markup = true;
    return r;
}

static jval f_escape(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "escape", 0, NULL);
    return jhtml_escape(c, in);
}

static jval f_default(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"default_value", "boolean", NULL};
    jargs_check(c, a, "default", 2, kw);
    jval *dv = jarg(a, 0, "default_value"), *boolean = jarg(a, 1, "boolean");
    bool use = in.t == JV_UNDEF || (boolean && jv_truthy(*boolean) && !jv_truthy(in));
    if (!use) return in;
    return dv ? *dv : jv_str("", 0);
}

/* Python int(str): optional sign, digits with single underscores, spaces around. */
static bool parse_int(jval s, int64_t *out) {
    const char *p = s.s.p, *e = s.s.p + s.s.n;
    while (p < e && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) p++;
    while (e > p && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r'))) e--;
    bool neg = false;
    if (p < e && (*p == '+' || *p == '-')) neg = *p++ == '-';
    if (p >= e) return false;
    uint64_t v = 0;
    bool last_us = true;
    for (; p < e; p++) {
        if (*p == '_' && !last_us) { last_us = true; continue; }
        if (*p < '0' || *p > '9') return false;
        if (v > (uint64_t)INT64_MAX / 10) return false;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > (uint64_t)INT64_MAX) return false;
        last_us = false;
    }
    if (last_us) return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

static bool parse_float(jctx *c, jval s, double *out) {
    char *z = jstrndup(c->ar, s.s.p, s.s.n), *end;
    while (*z == ' ' || (*z >= '\t' && *z <= '\r')) z++;
    if (!*z) return false;
    for (char *q = z; *q; q++)
        if (*q == 'x' || *q == 'X' || *q == 'p' || *q == 'P') return false; /* no C hex floats */
    double d = strtod(z, &end);
    while (*end == ' ' || (*end >= '\t' && *end <= '\r')) end++;
    if (*end) return false;
    *out = d;
    return true;
}

static jval f_int(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"default", "base", NULL};
    jargs_check(c, a, "int", 2, kw);
    jval *def = jarg(a, 0, "default"), *base = jarg(a, 1, "base");
    if (base && !(base->t == JV_INT && base->i == 10)) jerr(c, "unsupported template construct: int filter with base other than 10");
    jval d = def ? *def : jv_int(0);
    int64_t i;
    double f;
    switch (in.t) {
    case JV_INT: return in;
    case JV_BOOL: return jv_int(in.b);
    case JV_FLOAT:
        if (!isfinite(in.f) || fabs(in.f) >= 9.2e18) return d;
        return jv_int((int64_t)in.f);
    case JV_STR:
        if (parse_int(in, &i)) return jv_int(i);
        if (parse_float(c, in, &f) && isfinite(f) && fabs(f) < 9.2e18) return jv_int((int64_t)f);
        return d;
    default: return d;
    }
}

static jval f_float(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"default", NULL};
    jargs_check(c, a, "float", 1, kw);
    jval *def = jarg(a, 0, "default");
    jval d = def ? *def : jv_float(0.0);
    double f;
    switch (in.t) {
    case JV_INT: return jv_float((double)in.i);
    case JV_BOOL: return jv_float(in.b);
    case JV_FLOAT: return in;
    case JV_STR: return parse_float(c, in, &f) ? jv_float(f) : d;
    default: return d;
    }
}

static jval f_abs(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "abs", 0, NULL);
    if (in.t == JV_INT) {
        if (in.i == INT64_MIN) jerr(c, "template: integer overflow");
        return jv_int(in.i < 0 ? -in.i : in.i);
    }
    if (in.t == JV_BOOL) return jv_int(in.b);
    if (in.t == JV_FLOAT) return jv_float(fabs(in.f));
    if (in.t == JV_UNDEF) jerr_undef(c, in);
    jerr(c, "bad operand type for abs(): '%s'", jv_type_name(in));
}

static jval f_round(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"precision", "method", NULL};
    jargs_check(c, a, "round", 2, kw);
    jval *pr = jarg(a, 0, "precision"), *me = jarg(a, 1, "method");
    int64_t prec = pr ? (pr->t == JV_INT ? pr->i : 0) : 0;
    if (prec < -300 || prec > 300) jerr(c, "round(): precision out of range");
    if (in.t == JV_UNDEF) jerr_undef(c, in);
    if (in.t != JV_INT && in.t != JV_FLOAT && in.t != JV_BOOL) jerr(c, "round(): not a number");
    double x = in.t == JV_FLOAT ? in.f : in.t == JV_INT ? (double)in.i : in.b;
    double m = pow(10.0, (double)prec);
    if (me && jv_is_str(*me, "ceil")) return jv_float(ceil(x * m) / m);
    if (me && jv_is_str(*me, "floor")) return jv_float(floor(x * m) / m);
    if (me && !jv_is_str(*me, "common")) jerr(c, "method must be common, ceil or floor");
    /* Python's round() (half to even) on a value Jinja scaled the same way. */
    if (in.t != JV_FLOAT) return jv_float(x);
    double y = x * m, r = nearbyint(y);
    return jv_float(r / m);
}

static jval f_indent(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"width", "first", "blank", NULL};
    jargs_check(c, a, "indent", 3, kw);
    jval *w = jarg(a, 0, "width"), *first = jarg(a, 1, "first"), *blank = jarg(a, 2, "blank");
    jval ind;
    if (!w) ind = jv_str("    ", 4);
    else if (w->t == JV_STR) ind = *w;
    else if (w->t == JV_INT) {
        if (w->i > 1000000) jerr(c, "indent(): width too large");
        char *sp = jalloc(c->ar, (size_t)(w->i > 0 ? w->i : 0) + 1);
        memset(sp, ' ', (size_t)(w->i > 0 ? w->i : 0));
        ind = jv_str(sp, (size_t)(w->i > 0 ? w->i : 0));
    } else jerr(c, "indent(): width must be an integer or a string");
    jval s = str_of(c, in);
    jval withnl = jbinop(c, OP_ADD, s, jv_str("\n", 1));
    jval lines;
    jstr_splitlines(c, withnl, &lines);
    jsb b;
    jsb_init(&b, c->ar, c->max_output);
    if (first && jv_truthy(*first)) jsb_put(&b, ind.s.p, ind.s.n);
    for (size_t i = 0; i < lines.l->n; i++) {
        jval ln = lines.l->v[i];
        if (i) {
            jsb_putc(&b, '\n');
            if (ln.s.n || (blank && jv_truthy(*blank))) jsb_put(&b, ind.s.p, ind.s.n);
        }
        jsb_put(&b, ln.s.p, ln.s.n);
    }
    return jv_str(b.p ? b.p : "", b.n);
}

static jval f_center(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"width", NULL};
    jargs_check(c, a, "center", 1, kw);
    jval *w = jarg(a, 0, "width");
    int64_t width = w && w->t == JV_INT ? w->i : 80;
    jval s = str_of(c, in);
    int64_t len = (int64_t)jstr_cp_len(s.s.p, s.s.n);
    if (width <= len) return s;
    if (width > 1000000) jerr(c, "center(): width too large");
    int64_t pad = width - len, left = pad / 2 + (pad & width & 1);
    jsb b;
    jsb_init(&b, c->ar, 0);
    for (int64_t i = 0; i < left; i++) jsb_putc(&b, ' ');
    jsb_put(&b, s.s.p, s.s.n);
    for (int64_t i = 0; i < pad - left; i++) jsb_putc(&b, ' ');
    return jv_str(b.p, b.n);
}

static jval f_wordcount(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "wordcount", 0, NULL);
    jval s = str_of(c, in);
    int64_t words = 0;
    bool inword = false;
    for (size_t i = 0; i < s.s.n;) {
        uint32_t cp = jstr_next_cp(s.s.p, s.s.n, &i);
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        bool w = cp == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                 (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
        if (w && !inword) words++;
        inword = w;
    }
    return jv_int(words);
}

static jval f_tojson(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
    jargs_check(c, a, "tojson", 4, kw);
    jjson_opts o = {.indent = -1, .item_sep = ", ", .key_sep = ": "};
    jval *ea = jarg(a, 0, "ensure_ascii"), *ind = jarg(a, 1, "indent"), *sep = jarg(a, 2, "separators"),
         *sk = jarg(a, 3, "sort_keys");
    o.ensure_ascii = ea && jv_truthy(*ea);
    o.sort_keys = sk && jv_truthy(*sk);
    if (ind && ind->t != JV_NONE) {
        if (ind->t == JV_INT || ind->t == JV_BOOL) {
            int64_t k = ind->t == JV_INT ? ind->i : ind->b;
            if (k > 1000) jerr(c, "tojson(): indent too large");
            o.indent = k < 0 ? 0 : (int)k;
        } else if (ind->t == JV_STR) {
            o.indent = 0;
            o.indent_str = jstrndup(c->ar, ind->s.p, ind->s.n);
        } else {
            jerr(c, "tojson(): indent must be an integer or a string");
        }
        o.item_sep = ",";
    }
    if (sep && sep->t != JV_NONE) {
        if (sep->t != JV_LIST || sep->l->n != 2 || sep->l->v[0].t != JV_STR || sep->l->v[1].t != JV_STR)
            jerr(c, "tojson(): separators must be a pair of strings");
        o.item_sep = jstrndup(c->ar, sep->l->v[0].s.p, sep->l->v[0].s.n);
        o.key_sep = jstrndup(c->ar, sep->l->v[1].s.p, sep->l->v[1].s.n);
    }
    jsb b;
    jsb_init(&b, c->ar, c->max_output);
    jv_tojson(c, &b, in, &o);
    return jv_str(b.p ? b.p : "", b.n);
}

/* Python printf-style formatting: %s %r %d %i %%, with `fmt % args`
 * and `fmt|format(args)`; anything fancier is refused by name. */
jval jstr_percent(jctx *c, jval in, jval *args, size_t nargs) {
    jsb b;
    jsb_init(&b, c->ar, c->max_output);
    size_t k = 0;
    for (size_t i = 0; i < in.s.n; i++) {
        char ch = in.s.p[i];
        if (ch != '%') { jsb_putc(&b, ch); continue; }
        if (++i >= in.s.n) jerr(c, "incomplete format");
        ch = in.s.p[i];
        if (ch == '%') { jsb_putc(&b, '%'); continue; }
        if (ch != 's' && ch != 'r' && ch != 'd' && ch != 'i')
            jerr(c, "unsupported template construct: format conversion '%%%c'", ch);
        if (k >= nargs) jerr(c, "not enough arguments for format string");
        jval v = args[k++];
        if (ch == 's') jv_to_str(c, &b, v);
        else if (ch == 'r') jv_repr(c, &b, v);
        else {
            if (v.t == JV_FLOAT) v = jv_int((int64_t)v.f);
            if (v.t != JV_INT && v.t != JV_BOOL) jerr(c, "%%d format: a real number is required, not %s", jv_type_name(v));
            jv_to_str(c, &b, v.t == JV_BOOL ? jv_int(v.b) : v);
        }
    }
    if (k < nargs) jerr(c, "not all arguments converted during string formatting");
    return jv_str(b.p ? b.p : "", b.n);
}

static jval f_format(jctx *c, jval in, jargs *a) {
    if (in.t != JV_STR) jerr(c, "format filter needs a string");
    if (a->nkw) jerr(c, "unsupported template construct: format filter with keyword arguments");
    return jstr_percent(c, in, a->pos, a->npos);
}

static jval f_attr(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "attr", 1, NULL);
    jval *name = jarg(a, 0, NULL);
    if (!name || name->t != JV_STR) jerr(c, "attr(): name must be a string");
    if (in.t == JV_DICT || in.t == JV_NS) {
        bool found;
        jval m = jmethod(c, in, name->s.p, name->s.n, &found);
        if (found) return m;
        return jundef_attr(c, in, name->s.p, name->s.n);
    }
    return jgetattr(c, in, name->s.p, name->s.n);
}

typedef struct {
    const char *name;
    jfilter_fn fn;
} filter_entry;

static const filter_entry FILTERS[] = {
    {"abs", f_abs}, {"attr", f_attr}, {"batch", jf_batch}, {"capitalize", f_capitalize},
    {"center", f_center}, {"count", jf_length}, {"d", f_default}, {"default", f_default},
    {"dictsort", jf_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"first", jf_first},
    {"float", f_float}, {"forceescape", f_escape}, {"format", f_format}, {"indent", f_indent},
    {"int", f_int}, {"items", jf_items}, {"join", jf_join}, {"last", jf_last}, {"length", jf_length},
    {"list", jf_list}, {"lower", f_lower}, {"map", jf_map}, {"max", jf_max}, {"min", jf_min},
    {"reject", jf_reject}, {"rejectattr", jf_rejectattr}, {"replace", f_replace}, {"reverse", jf_reverse},
    {"round", f_round}, {"safe", f_safe}, {"select", jf_select}, {"selectattr", jf_selectattr},
    {"sort", jf_sort}, {"string", f_string}, {"sum", jf_sum}, {"title", f_title}, {"tojson", f_tojson},
    {"trim", f_trim}, {"unique", jf_unique}, {"upper", f_upper}, {"wordcount", f_wordcount},
};

jfilter_fn jfilter_find(const char *name) {
    for (size_t i = 0; i < AM_ARRAY_LEN(FILTERS); i++)
        if (!strcmp(FILTERS[i].name, name)) return FILTERS[i].fn;
    return NULL;
}
