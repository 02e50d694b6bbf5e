/*
 * jinja_eval.c — walks the syntax tree: statements write to the current
 * output builder, expressions produce values. Scoping is Jinja2's: a for-loop
 * iteration and a macro call get their own scope, `if` does not, and
 * assignments inside a loop do not outlive its iteration (hence namespaces).
 *
 * Every loop iteration, statement and call counts against the step budget and
 * every nested evaluation against the depth budget, so a hostile template
 * ends with an error, never a hang or a stack overflow.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "text/jinja.h"

enum { FLOW_NEXT = 0, FLOW_BREAK, FLOW_CONTINUE };
enum { MF_CALLER = 1, MF_VARARGS = 2, MF_KWARGS = 4 };

void jerr(jctx *c, const char *fmt, ...) {
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jfail_at(c->fail, c->fail->line, "%s", msg);
}

void jerr_undef(jctx *c, jval v) {
    jundef *u = v.t == JV_UNDEF ? v.u : NULL;
    if (!u) jerr(c, "None is undefined");
    if (u->hint) jerr(c, "%s", u->hint);
    if (!u->objtype) jerr(c, "'%s' is undefined", u->name);
    if (!u->name) jerr(c, "%s has no element %lld", u->objtype, (long long)u->index);
    jerr(c, "'%s' has no attribute '%s'", u->objtype, u->name);
}

static const char *objtype_repr(jval obj) {
    switch (obj.t) {
    case JV_NONE: return "None";
    case JV_NS: return "jinja2.utils.Namespace object";
    case JV_LOOP: return "jinja2.runtime.LoopContext object";
    case JV_FUNC: return obj.fn->kind == JF_MACRO ? "jinja2.runtime.Macro object" : "builtin_function_or_method object";
    case JV_BOOL: return "bool object";
    case JV_INT: return "int object";
    case JV_FLOAT: return "float object";
    case JV_STR: return "str object";
    case JV_DICT: return "dict object";
    case JV_LIST:
        switch (obj.l->kind) {
        case JL_TUPLE: return "tuple object";
        case JL_GEN: return "generator object";
        case JL_ITER: return "list_reverseiterator object";
        case JL_KEYS: return "dict_keys object";
        case JL_VALUES: return "dict_values object";
        case JL_ITEMS: return "dict_items object";
        case JL_RANGE: return "range object";
        default: return "list object";
        }
    default: return "object";
    }
}

jval jundef_attr(jctx *c, jval obj, const char *name, size_t n) {
    jval v = jv_undef();
    v.u = jalloc(c->ar, sizeof *v.u);
    v.u->name = jstrndup(c->ar, name, n);
    v.u->objtype = objtype_repr(obj);
    return v;
}

static jval undef_index(jctx *c, jval obj, int64_t i) {
    jval v = jv_undef();
    v.u = jalloc(c->ar, sizeof *v.u);
    v.u->index = i;
    v.u->objtype = objtype_repr(obj);
    return v;
}

static jval undef_name(jctx *c, const char *name) {
    jval v = jv_undef();
    v.u = jalloc(c->ar, sizeof *v.u);
    v.u->name = name;
    return v;
}

/* ---- scopes ---- */

static jscope *scope_new(jctx *c, jscope *parent) {
    jscope *s = jalloc(c->ar, sizeof *s);
    s->parent = parent;
    return s;
}

static jval *scope_find(jscope *s, const char *name) {
    for (; s; s = s->parent)
        for (size_t i = s->n; i-- > 0;)
            if (s->names[i] == name) return &s->vals[i];
    return NULL;
}

void jscope_set(jctx *c, jscope *s, const char *name, jval v) {
    for (size_t i = 0; i < s->n; i++)
        if (s->names[i] == name) {
            s->vals[i] = v;
            return;
        }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        s->names = jrealloc(c->ar, s->names, s->cap * sizeof(char *), nc * sizeof(char *));
        s->vals = jrealloc(c->ar, s->vals, s->cap * sizeof(jval), nc * sizeof(jval));
        s->cap = nc;
    }
    s->names[s->n] = name;
    s->vals[s->n] = v;
    s->n++;
}

void jstep(jctx *c, uint64_t n) {
    c->steps += n;
    if (c->steps > c->max_steps) jerr(c, "template: more than %llu evaluation steps", (unsigned long long)c->max_steps);
}
static void step(jctx *c) { jstep(c, 1); }

/* ---- iteration and containers ---- */

jval *jiter(jctx *c, jval v, size_t *n) {
    switch (v.t) {
    case JV_UNDEF: *n = 0; return NULL;
    case JV_LIST:
        if (v.l->kind == JL_GEN || v.l->kind == JL_ITER) {
            if (v.l->consumed) { *n = 0; return NULL; }
            v.l->consumed = true;
        }
        *n = v.l->n;
        return v.l->v;
    case JV_DICT: *n = v.d->n; return v.d->k;
    case JV_STR: {
        size_t cnt = jstr_cp_len(v.s.p, v.s.n);
        jval *out = cnt ? jalloc(c->ar, cnt * sizeof(jval)) : NULL;
        size_t i = 0, k = 0;
        while (i < v.s.n) {
            size_t st = i;
            jstr_next_cp(v.s.p, v.s.n, &i);
            out[k++] = jv_str(v.s.p + st, i - st);
        }
        *n = k;
        return out;
    }
    default: jerr(c, "'%s' object is not iterable", jv_type_name(v));
    }
}

bool jcontains(jctx *c, jval container, jval item) {
    switch (container.t) {
    case JV_UNDEF: return false;
    case JV_STR:
        if (item.t != JV_STR) jerr(c, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        if (!item.s.n) return true;
        return item.s.n <= container.s.n && memmem(container.s.p, container.s.n, item.s.p, item.s.n) != NULL;
    case JV_DICT: return jv_dict_get(container.d, item) != NULL;
    case JV_LIST: {
        size_t n;
        jval *v = jiter(c, container, &n);
        for (size_t i = 0; i < n; i++)
            if (jv_equal(v[i], item)) return true;
        return false;
    }
    default: jerr(c, "argument of type '%s' is not iterable", jv_type_name(container));
    }
}

static bool is_num(jval v) { return v.t == JV_INT || v.t == JV_BOOL || v.t == JV_FLOAT; }
static double as_f(jval v) { return v.t == JV_FLOAT ? v.f : v.t == JV_INT ? (double)v.i : (double)v.b; }
static int64_t as_i(jval v) { return v.t == JV_INT ? v.i : v.t == JV_BOOL ? (int64_t)v.b : 0; }

int jcompare(jctx *c, jval a, jval b) {
    if (a.t == JV_UNDEF) jerr_undef(c, a);
    if (b.t == JV_UNDEF) jerr_undef(c, b);
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) return as_i(a) < as_i(b) ? -1 : as_i(a) > as_i(b);
        double x = as_f(a), y = as_f(b);
        return x < y ? -1 : x > y;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t m = AM_MIN(a.s.n, b.s.n);
        int r = m ? memcmp(a.s.p, b.s.p, m) : 0;
        if (r) return r < 0 ? -1 : 1;
        return a.s.n < b.s.n ? -1 : a.s.n > b.s.n;
    }
    if (a.t == JV_LIST && b.t == JV_LIST && (a.l->kind == JL_LIST || a.l->kind == JL_TUPLE) && a.l->kind == b.l->kind) {
        size_t m = AM_MIN(a.l->n, b.l->n);
        for (size_t i = 0; i < m; i++)
            if (!jv_equal(a.l->v[i], b.l->v[i])) return jcompare(c, a.l->v[i], b.l->v[i]);
        return a.l->n < b.l->n ? -1 : a.l->n > b.l->n;
    }
    jerr(c, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a), jv_type_name(b));
}

static jval concat_str(jctx *c, jval a, jval b) {
    size_t n;
    if (__builtin_add_overflow(a.s.n, b.s.n, &n) || (c->max_output && n > c->max_output))
        jerr(c, "template: string larger than the output limit");
    if (b.s.n && jarena_str_extend(c->ar, a.s.p, a.s.n, b.s.n)) {
        char *p = (char *)a.s.p;
        memcpy(p + a.s.n, b.s.p, b.s.n);
        p[n] = 0;
        return jv_str(p, n);
    }
    char *p = jalloc_raw(c->ar, n + 1);
    if (a.s.n) memcpy(p, a.s.p, a.s.n);
    if (b.s.n) memcpy(p + a.s.n, b.s.p, b.s.n);
    p[n] = 0;
    c->ar->last_str_n = n;
    return jv_str(p, n);
}

static jval repeat(jctx *c, jval seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq.t == JV_STR) {
        uint64_t total;
        if (!am_mul_ok(seq.s.n, (uint64_t)times, &total) || (c->max_output && total > c->max_output))
            jerr(c, "template: string larger than the output limit");
        char *p = jalloc(c->ar, (size_t)total + 1);
        for (int64_t i = 0; i < times && seq.s.n; i++) memcpy(p + (size_t)i * seq.s.n, seq.s.p, seq.s.n);
        return jv_str(p, (size_t)total);
    }
    uint64_t total;
    if (!am_mul_ok(seq.l->n, (uint64_t)times, &total) || total > (1u << 24))
        jerr(c, "template: list repetition too large");
    jval out = jv_list_new(c->ar, (size_t)total, seq.l->kind == JL_TUPLE ? JL_TUPLE : JL_LIST);
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < seq.l->n; k++) out.l->v[out.l->n++] = seq.l->v[k];
    return out;
}

static const char *opname(int op) {
    static const char *const names[] = {"+", "-", "*", "/", "//", "%", "**", "~"};
    return op < (int)AM_ARRAY_LEN(names) ? names[op] : "?";
}

jval jbinop(jctx *c, int op, jval a, jval b) {
    if (op == OP_CONCAT) return concat_str(c, jv_stringify(c, a), jv_stringify(c, b));
    if (a.t == JV_UNDEF) jerr_undef(c, a);
    if (b.t == JV_UNDEF) jerr_undef(c, b);
    if (is_num(a) && is_num(b)) {
        bool fl = a.t == JV_FLOAT || b.t == JV_FLOAT;
        int64_t x = as_i(a), y = as_i(b), r;
        double fx = as_f(a), fy = as_f(b);
        switch (op) {
        case OP_ADD:
            if (fl) return jv_float(fx + fy);
            if (__builtin_add_overflow(x, y, &r)) jerr(c, "template: integer overflow");
            return jv_int(r);
        case OP_SUB:
            if (fl) return jv_float(fx - fy);
            if (__builtin_sub_overflow(x, y, &r)) jerr(c, "template: integer overflow");
            return jv_int(r);
        case OP_MUL:
            if (fl) return jv_float(fx * fy);
            if (__builtin_mul_overflow(x, y, &r)) jerr(c, "template: integer overflow");
            return jv_int(r);
        case OP_DIV:
            if (fy == 0) jerr(c, "division by zero");
            return jv_float(fx / fy);
        case OP_FLOORDIV:
            if (fl) {
                if (fy == 0) jerr(c, "float floor division by zero");
                return jv_float(floor(fx / fy));
            }
            if (y == 0) jerr(c, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) jerr(c, "template: integer overflow");
            r = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) r--;
            return jv_int(r);
        case OP_MOD:
            if (fl) {
                if (fy == 0) jerr(c, "float modulo");
                double m = fmod(fx, fy);
                if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
                return jv_float(m);
            }
            if (y == 0) jerr(c, "integer division or modulo by zero");
            if (y == -1) return jv_int(0);
            r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) r += y;
            return jv_int(r);
        case OP_POW:
            if (fl || y < 0) {
                if (fx == 0 && fy < 0) jerr(c, "0.0 cannot be raised to a negative power");
                return jv_float(pow(fx, fy));
            }
            r = 1;
            for (int64_t base = x, e = y; e > 0; e >>= 1) {
                if ((e & 1) && __builtin_mul_overflow(r, base, &r)) jerr(c, "template: integer overflow");
                if (e > 1 && __builtin_mul_overflow(base, base, &base)) jerr(c, "template: integer overflow");
            }
            return jv_int(r);
        }
    }
    if (op == OP_ADD && a.t == JV_STR && b.t == JV_STR) {
        if (!a.markup && !b.markup) return concat_str(c, a, b);
        /* markupsafe: Markup + str escapes the plain side; the result is Markup. */
        jval r = concat_str(c, jhtml_escape(c, a), jhtml_escape(c, b));
        r.markup = true;
        return r;
    }
    if (op == OP_ADD && a.t == JV_LIST && b.t == JV_LIST &&
        (a.l->kind == JL_LIST || a.l->kind == JL_TUPLE) && a.l->kind == b.l->kind) {
        if (a.l->n + b.l->n > (1u << 24)) jerr(c, "template: list too large");
        jval out = jv_list_new(c->ar, a.l->n + b.l->n, a.l->kind);
        if (a.l->n) memcpy(out.l->v, a.l->v, a.l->n * sizeof(jval));
        if (b.l->n) memcpy(out.l->v + a.l->n, b.l->v, b.l->n * sizeof(jval));
        out.l->n = a.l->n + b.l->n;
        return out;
    }
    if (op == OP_MUL) {
        bool seq_a = a.t == JV_STR || (a.t == JV_LIST && (a.l->kind == JL_LIST || a.l->kind == JL_TUPLE));
        bool seq_b = b.t == JV_STR || (b.t == JV_LIST && (b.l->kind == JL_LIST || b.l->kind == JL_TUPLE));
        if (seq_a && (b.t == JV_INT || b.t == JV_BOOL)) return repeat(c, a, as_i(b));
        if (seq_b && (a.t == JV_INT || a.t == JV_BOOL)) return repeat(c, b, as_i(a));
    }
    if (op == OP_ADD && a.t == JV_STR) jerr(c, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
    if (op == OP_ADD && a.t == JV_LIST && (a.l->kind == JL_LIST || a.l->kind == JL_TUPLE))
        jerr(c, "can only concatenate %s (not \"%s\") to %s", jv_type_name(a), jv_type_name(b), jv_type_name(a));
    if (op == OP_MOD && a.t == JV_STR) {
        if (b.t == JV_LIST && b.l->kind == JL_TUPLE) return jstr_percent(c, a, b.l->v, b.l->n);
        if (b.t == JV_DICT) jerr(c, "unsupported template construct: %%(name)s formatting");
        return jstr_percent(c, a, &b, 1);
    }
    jerr(c, "unsupported operand type(s) for %s: '%s' and '%s'", opname(op), jv_type_name(a), jv_type_name(b));
}

/* ---- attribute and item access ---- */

static jval loop_attr(jctx *c, jval obj, const char *name, size_t n) {
    jloop *L = obj.loop;
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    if (IS("index")) return jv_int((int64_t)L->index0 + 1);
    if (IS("index0")) return jv_int((int64_t)L->index0);
    if (IS("revindex")) return jv_int((int64_t)(L->length - L->index0));
    if (IS("revindex0")) return jv_int((int64_t)(L->length - L->index0 - 1));
    if (IS("first")) return jv_bool(L->index0 == 0);
    if (IS("last")) return jv_bool(L->index0 + 1 == L->length);
    if (IS("length")) return jv_int((int64_t)L->length);
    if (IS("depth")) return jv_int(L->depth0 + 1);
    if (IS("depth0")) return jv_int(L->depth0);
    if (IS("previtem")) {
        if (L->index0 == 0) { jval u = undef_name(c, "there is no previous item"); u.u->hint = u.u->name; return u; }
        return L->items[L->index0 - 1];
    }
    if (IS("nextitem")) {
        if (L->index0 + 1 >= L->length) { jval u = undef_name(c, "there is no next item"); u.u->hint = u.u->name; return u; }
        return L->items[L->index0 + 1];
    }
#undef IS
    bool found;
    jval m = jmethod(c, obj, name, n, &found);
    if (found) return m;
    return jundef_attr(c, obj, name, n);
}

jval jgetattr(jctx *c, jval obj, const char *name, size_t n) {
    bool found;
    switch (obj.t) {
    case JV_UNDEF: jerr_undef(c, obj);
    case JV_LOOP: return loop_attr(c, obj, name, n);
    case JV_NS: {
        jval *v = jv_dict_get_str(obj.d, name, n);
        return v ? *v : jundef_attr(c, obj, name, n);
    }
    case JV_DICT: {
        jval m = jmethod(c, obj, name, n, &found);
        if (found) return m;
        jval *v = jv_dict_get_str(obj.d, name, n);
        return v ? *v : jundef_attr(c, obj, name, n);
    }
    default: {
        jval m = jmethod(c, obj, name, n, &found);
        if (found) return m;
        return jundef_attr(c, obj, name, n);
    }
    }
}

static bool seq_index(jctx *c, jval obj, jval key, size_t len, size_t *out) {
    (void)c;
    if (key.t != JV_INT && key.t != JV_BOOL) return false;
    int64_t i = as_i(key);
    if (i < 0) i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len) return false;
    *out = (size_t)i;
    (void)obj;
    return true;
}

jval jgetitem(jctx *c, jval obj, jval key) {
    if (obj.t == JV_UNDEF) jerr_undef(c, obj);
    if (key.t == JV_UNDEF && obj.t != JV_DICT) jerr_undef(c, key);
    switch (obj.t) {
    case JV_DICT: {
        jval *v = jv_dict_get(obj.d, key);
        if (v) return *v;
        break;
    }
    case JV_LIST: {
        size_t i;
        if (obj.l->kind == JL_LIST || obj.l->kind == JL_TUPLE || obj.l->kind == JL_RANGE) {
            if (seq_index(c, obj, key, obj.l->n, &i)) return obj.l->v[i];
        }
        if (key.t == JV_INT || key.t == JV_BOOL) return undef_index(c, obj, as_i(key));
        break;
    }
    case JV_STR: {
        if (key.t == JV_INT || key.t == JV_BOOL) {
            size_t len = jstr_cp_len(obj.s.p, obj.s.n), i;
            if (!seq_index(c, obj, key, len, &i)) return undef_index(c, obj, as_i(key));
            size_t off = jstr_cp_offset(obj.s.p, obj.s.n, i), end = off;
            jstr_next_cp(obj.s.p, obj.s.n, &end);
            return jv_str(obj.s.p + off, end - off);
        }
        break;
    }
    default: break;
    }
    if (key.t == JV_STR) {
        if (obj.t == JV_DICT) { /* attribute fallback: dict methods */
            bool found;
            jval m = jmethod(c, obj, key.s.p, key.s.n, &found);
            if (found) return m;
            return jundef_attr(c, obj, key.s.p, key.s.n);
        }
        return jgetattr(c, obj, key.s.p, key.s.n);
    }
    if (key.t == JV_INT || key.t == JV_BOOL) return undef_index(c, obj, as_i(key));
    jval u = jv_undef();
    u.u = jalloc(c->ar, sizeof *u.u);
    u.u->hint = "template: unsupported subscript";
    return u;
}

/* Python slice of a list or string; step 0 is an error. */
static jval slice(jctx *c, jval obj, jval vs, jval ve, jval vst) {
    if (obj.t == JV_UNDEF) jerr_undef(c, obj);
    for (int k = 0; k < 3; k++) {
        jval x = k == 0 ? vs : k == 1 ? ve : vst;
        if (x.t != JV_NONE && x.t != JV_INT && x.t != JV_BOOL)
            jerr(c, "slice indices must be integers or None, not %s", jv_type_name(x));
    }
    int64_t st = vst.t == JV_NONE ? 1 : as_i(vst);
    if (st == 0) jerr(c, "slice step cannot be zero");
    bool is_str = obj.t == JV_STR;
    if (!is_str && !(obj.t == JV_LIST && (obj.l->kind == JL_LIST || obj.l->kind == JL_TUPLE || obj.l->kind == JL_RANGE)))
        jerr(c, "'%s' object is not subscriptable", jv_type_name(obj));
    int64_t len = is_str ? (int64_t)jstr_cp_len(obj.s.p, obj.s.n) : (int64_t)obj.l->n;
    int64_t lo, hi;
    if (st > 0) {
        lo = vs.t == JV_NONE ? 0 : as_i(vs);
        hi = ve.t == JV_NONE ? len : as_i(ve);
        if (lo < 0) lo = lo + len < 0 ? 0 : lo + len;
        if (hi < 0) hi = hi + len < 0 ? 0 : hi + len;
        if (lo > len) lo = len;
        if (hi > len) hi = len;
    } else {
        lo = vs.t == JV_NONE ? len - 1 : as_i(vs);
        hi = ve.t == JV_NONE ? -1 : as_i(ve);
        if (vs.t != JV_NONE) { if (lo < 0) lo = lo + len < 0 ? -1 : lo + len; if (lo >= len) lo = len - 1; }
        if (ve.t != JV_NONE) { if (hi < 0) hi = hi + len < 0 ? -1 : hi + len; if (hi >= len) hi = len - 1; }
    }
    if (is_str) {
        bool ascii = jstr_cp_len(obj.s.p, obj.s.n) == obj.s.n;
        if (st == 1) {
            if (hi <= lo) return jv_str("", 0);
            size_t a = ascii ? (size_t)lo : jstr_cp_offset(obj.s.p, obj.s.n, (size_t)lo);
            size_t b = ascii ? (size_t)hi : jstr_cp_offset(obj.s.p, obj.s.n, (size_t)hi);
            return jv_str(obj.s.p + a, b - a);
        }
        size_t n;
        jval *cps = jiter(c, obj, &n);
        jsb b;
        jsb_init(&b, c->ar, 0);
        for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) jsb_put(&b, cps[i].s.p, cps[i].s.n);
        return jv_str(b.p ? b.p : "", b.n);
    }
    jval out = jv_list_new(c->ar, 0, obj.l->kind == JL_TUPLE ? JL_TUPLE : JL_LIST);
    for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) jv_list_push(c->ar, out.l, obj.l->v[i]);
    return out;
}

/* ---- calls ---- */

jval *jarg(jargs *a, size_t i, const char *name) {
    if (i < a->npos) return &a->pos[i];
    if (name)
        for (size_t k = 0; k < a->nkw; k++)
            if (!strcmp(a->kwn[k], name)) return &a->kwv[k];
    return NULL;
}

void jargs_check(jctx *c, jargs *a, const char *fn, size_t maxpos, const char *const *allowed) {
    if (a->npos > maxpos) jerr(c, "%s() takes at most %zu positional argument(s) (%zu given)", fn, maxpos, a->npos);
    for (size_t k = 0; k < a->nkw; k++) {
        bool ok = false;
        for (size_t i = 0; allowed && allowed[i]; i++)
            if (!strcmp(allowed[i], a->kwn[k])) ok = true;
        if (!ok) jerr(c, "%s() got an unexpected keyword argument '%s'", fn, a->kwn[k]);
    }
}

static void exec_body(jctx *c, jscope *s, jnode *body, int *flow);

static jval call_macro(jctx *c, jfunc *fn, jargs *a) {
    jnode *m = fn->macro;
    if (++c->macro_depth > c->max_macro_depth)
        jerr(c, "template: macro calls nested deeper than %d (runaway recursion?)", c->max_macro_depth);
    step(c);
    jscope *s = scope_new(c, fn->closure);
    size_t np = m->nnames;
    bool *bound = np ? jalloc(c->ar, np) : NULL;
    jval varargs = jv_list_new(c->ar, 0, JL_TUPLE), kwargs = jv_dict_new(c->ar, 0);
    for (size_t i = 0; i < a->npos; i++) {
        if (i < np) {
            jscope_set(c, s, m->names[i], a->pos[i]);
            bound[i] = true;
        } else if (m->op & MF_VARARGS) {
            jv_list_push(c->ar, varargs.l, a->pos[i]);
        } else {
            jerr(c, "macro '%s' takes not more than %zu argument(s)", fn->name, np);
        }
    }
    jval caller = jv_undef();
    bool has_caller = false;
    for (size_t k = 0; k < a->nkw; k++) {
        size_t i = 0;
        while (i < np && strcmp(m->names[i], a->kwn[k])) i++;
        if (i < np) {
            if (bound[i]) jerr(c, "macro '%s' got multiple values for argument '%s'", fn->name, a->kwn[k]);
            jscope_set(c, s, m->names[i], a->kwv[k]);
            bound[i] = true;
        } else if (!strcmp(a->kwn[k], "caller")) {
            caller = a->kwv[k];
            has_caller = true;
        } else if (m->op & MF_KWARGS) {
            jv_dict_set(c->ar, kwargs.d, jv_cstr(a->kwn[k]), a->kwv[k]);
        } else {
            jerr(c, "macro '%s' takes no keyword argument '%s'", fn->name, a->kwn[k]);
        }
    }
    for (size_t i = 0; i < np; i++) {
        if (bound[i]) continue;
        jnode *def = m->kids2[i];
        if (def) {
            jscope_set(c, s, m->names[i], jeval(c, s, def));
        } else {
            jscope_set(c, s, m->names[i], undef_name(c, m->names[i]));
        }
    }
    jscope_set(c, s, c->tpl->n_varargs, varargs);
    jscope_set(c, s, c->tpl->n_kwargs, kwargs);
    if (has_caller) jscope_set(c, s, c->tpl->n_caller, caller);
    jsb *saved = c->out, buf;
    jsb_init(&buf, c->ar, c->max_output);
    c->out = &buf;
    int flow = FLOW_NEXT;
    exec_body(c, s, m->b, &flow);
    c->out = saved;
    c->macro_depth--;
    return jv_str(buf.p ? buf.p : "", buf.n);
}

jval jcall(jctx *c, jval fn, jargs *a) {
    if (fn.t == JV_UNDEF) jerr_undef(c, fn);
    if (fn.t != JV_FUNC) jerr(c, "'%s' object is not callable", jv_type_name(fn));
    if (fn.fn->kind == JF_MACRO) return call_macro(c, fn.fn, a);
    step(c);
    return fn.fn->fn(c, fn.fn->self, a);
}

/* ---- expressions ---- */

static void eval_args(jctx *c, jscope *s, jnode *n, jargs *a, size_t extra_kw) {
    memset(a, 0, sizeof *a);
    a->npos = n->nkids;
    a->pos = n->nkids ? jalloc(c->ar, n->nkids * sizeof(jval)) : NULL;
    for (size_t i = 0; i < n->nkids; i++) a->pos[i] = jeval(c, s, n->kids[i]);
    a->nkw = n->nnames;
    if (n->nnames + extra_kw) {
        a->kwn = jalloc(c->ar, (n->nnames + extra_kw) * sizeof(char *));
        a->kwv = jalloc(c->ar, (n->nnames + extra_kw) * sizeof(jval));
    }
    for (size_t i = 0; i < n->nnames; i++) {
        a->kwn[i] = n->names[i];
        a->kwv[i] = jeval(c, s, n->kwv[i]);
    }
}

static bool cmp_op(jctx *c, int op, jval l, jval r) {
    switch (op) {
    case OP_EQ: return jv_equal(l, r);
    case OP_NE: return !jv_equal(l, r);
    case OP_LT: return jcompare(c, l, r) < 0;
    case OP_LE: return jcompare(c, l, r) <= 0;
    case OP_GT: return jcompare(c, l, r) > 0;
    case OP_GE: return jcompare(c, l, r) >= 0;
    case OP_IN: return jcontains(c, r, l);
    case OP_NOTIN: return !jcontains(c, r, l);
    default: return false;
    }
}

jval jeval(jctx *c, jscope *s, jnode *n) {
    if (++c->depth > c->max_depth) jerr(c, "template: evaluation nested deeper than %d", c->max_depth);
    c->fail->line = n->line;
    jval r;
    switch (n->kind) {
    case N_LIT: r = n->lit; break;
    case N_NAME: {
        jval *v = scope_find(s, n->name);
        r = v ? *v : undef_name(c, n->name);
        break;
    }
    case N_ATTR: r = jgetattr(c, jeval(c, s, n->a), n->name, strlen(n->name)); break;
    case N_ITEM: {
        jval obj = jeval(c, s, n->a);
        r = jgetitem(c, obj, jeval(c, s, n->b));
        break;
    }
    case N_SLICE: {
        jval obj = jeval(c, s, n->a);
        jval a = n->b ? jeval(c, s, n->b) : jv_none();
        jval b = n->c ? jeval(c, s, n->c) : jv_none();
        jval st = n->d ? jeval(c, s, n->d) : jv_none();
        r = slice(c, obj, a, b, st);
        break;
    }
    case N_CALL: {
        jval fn = jeval(c, s, n->a);
        jargs a;
        eval_args(c, s, n, &a, 0);
        c->fail->line = n->line;
        r = jcall(c, fn, &a);
        break;
    }
    case N_FILTER: {
        jval in = jeval(c, s, n->a);
        jargs a;
        eval_args(c, s, n, &a, 0);
        c->fail->line = n->line;
        step(c);
        r = n->filter(c, in, &a);
        break;
    }
    case N_TEST: {
        jval in = jeval(c, s, n->a);
        jargs a;
        eval_args(c, s, n, &a, 0);
        c->fail->line = n->line;
        bool b = n->test(c, in, &a);
        r = jv_bool(n->op ? !b : b);
        break;
    }
    case N_NEG: case N_POS: {
        jval v = jeval(c, s, n->a);
        if (v.t == JV_UNDEF) jerr_undef(c, v);
        if (v.t == JV_FLOAT) r = jv_float(n->kind == N_NEG ? -v.f : v.f);
        else if (v.t == JV_INT || v.t == JV_BOOL) {
            int64_t i = as_i(v);
            if (n->kind == N_NEG && i == INT64_MIN) jerr(c, "template: integer overflow");
            r = jv_int(n->kind == N_NEG ? -i : i);
        } else jerr(c, "bad operand type for unary %s: '%s'", n->kind == N_NEG ? "-" : "+", jv_type_name(v));
        break;
    }
    case N_NOT: r = jv_bool(!jv_truthy(jeval(c, s, n->a))); break;
    case N_AND: r = jeval(c, s, n->a); if (jv_truthy(r)) r = jeval(c, s, n->b); break;
    case N_OR: r = jeval(c, s, n->a); if (!jv_truthy(r)) r = jeval(c, s, n->b); break;
    case N_BIN: {
        jval a = jeval(c, s, n->a);
        jval b = jeval(c, s, n->b);
        c->fail->line = n->line;
        r = jbinop(c, n->op, a, b);
        break;
    }
    case N_CMP: {
        jval l = jeval(c, s, n->kids[0]);
        r = jv_bool(true);
        for (size_t i = 1; i < n->nkids; i++) {
            jval rv = jeval(c, s, n->kids[i]);
            c->fail->line = n->line;
            if (!cmp_op(c, n->ops[i - 1], l, rv)) { r = jv_bool(false); break; }
            l = rv;
        }
        break;
    }
    case N_COND:
        if (jv_truthy(jeval(c, s, n->b))) r = jeval(c, s, n->a);
        else r = n->c ? jeval(c, s, n->c) : jv_undef();
        break;
    case N_LIST: case N_TUPLE:
        r = jv_list_new(c->ar, n->nkids, n->kind == N_LIST ? JL_LIST : JL_TUPLE);
        for (size_t i = 0; i < n->nkids; i++) r.l->v[r.l->n++] = jeval(c, s, n->kids[i]);
        break;
    case N_DICT:
        r = jv_dict_new(c->ar, n->nkids);
        for (size_t i = 0; i < n->nkids; i++) {
            jval k = jeval(c, s, n->kids[i]);
            if (k.t == JV_LIST || k.t == JV_DICT || k.t == JV_NS || k.t == JV_UNDEF)
                jerr(c, "unhashable type: '%s'", jv_type_name(k));
            jv_dict_set(c->ar, r.d, k, jeval(c, s, n->kids2[i]));
        }
        break;
    default: jerr(c, "template: internal error: bad expression node %d", n->kind);
    }
    c->depth--;
    return r;
}

/* ---- statements ---- */

static void unpack(jctx *c, jscope *s, const char **names, size_t nn, jval v) {
    if (nn == 1) {
        jscope_set(c, s, names[0], v);
        return;
    }
    if (v.t != JV_LIST && v.t != JV_STR && v.t != JV_DICT)
        jerr(c, "cannot unpack non-iterable %s object", jv_type_name(v));
    size_t n;
    jval *items = jiter(c, v, &n);
    if (n > nn) jerr(c, "too many values to unpack (expected %zu)", nn);
    if (n < nn) jerr(c, "not enough values to unpack (expected %zu, got %zu)", nn, n);
    for (size_t i = 0; i < nn; i++) jscope_set(c, s, names[i], items[i]);
}

static jval capture(jctx *c, jscope *s, jnode *body) {
    jsb *saved = c->out, buf;
    jsb_init(&buf, c->ar, c->max_output);
    c->out = &buf;
    int flow = FLOW_NEXT;
    exec_body(c, s, body, &flow);
    c->out = saved;
    return jv_str(buf.p ? buf.p : "", buf.n);
}

static jval apply_filters(jctx *c, jscope *s, jnode **filters, size_t n, jval v) {
    for (size_t i = 0; i < n; i++) {
        jargs a;
        eval_args(c, s, filters[i], &a, 0);
        c->fail->line = filters[i]->line;
        v = filters[i]->filter(c, v, &a);
    }
    return v;
}

static void exec_for(jctx *c, jscope *s, jnode *n) {
    jval it = jeval(c, s, n->a);
    size_t cnt;
    jval *items = jiter(c, it, &cnt);
    if (n->d) { /* `for x in xs if cond`: filter first; loop.length counts what passes */
        jval *kept = cnt ? jalloc(c->ar, cnt * sizeof(jval)) : NULL;
        size_t k = 0;
        for (size_t i = 0; i < cnt; i++) {
            step(c);
            jscope *fs = scope_new(c, s);
            unpack(c, fs, n->names, n->nnames, items[i]);
            if (jv_truthy(jeval(c, fs, n->d))) kept[k++] = items[i];
        }
        items = kept;
        cnt = k;
    }
    jloop *L = jalloc(c->ar, sizeof *L);
    L->items = items;
    L->length = cnt;
    jval lv = {0};
    lv.t = JV_LOOP;
    lv.loop = L;
    const char *loop_name = c->tpl->n_loop;
    for (size_t i = 0; i < cnt; i++) {
        step(c);
        L->index0 = i;
        jscope *is = scope_new(c, s);
        unpack(c, is, n->names, n->nnames, items[i]);
        jscope_set(c, is, loop_name, lv);
        int flow = FLOW_NEXT;
        exec_body(c, is, n->b, &flow);
        if (flow == FLOW_BREAK) break;
    }
    if (!cnt && n->c) {
        int flow = FLOW_NEXT;
        exec_body(c, scope_new(c, s), n->c, &flow);
    }
}

static void exec_stmt(jctx *c, jscope *s, jnode *n, int *flow) {
    if (++c->depth > c->max_depth) jerr(c, "template: evaluation nested deeper than %d", c->max_depth);
    c->fail->line = n->line;
    step(c);
    switch (n->kind) {
    case S_TEXT: jsb_put(c->out, n->lit.s.p, n->lit.s.n); break;
    case S_OUTPUT: {
        jval v = jeval(c, s, n->a);
        c->fail->line = n->line;
        jv_to_str(c, c->out, v);
        break;
    }
    case S_BODY: exec_body(c, s, n, flow); break;
    case S_IF:
        if (jv_truthy(jeval(c, s, n->a))) exec_body(c, s, n->b, flow);
        else if (n->c) exec_stmt(c, s, n->c, flow);
        break;
    case S_FOR: exec_for(c, s, n); break;
    case S_SET: unpack(c, s, n->names, n->nnames, jeval(c, s, n->a)); break;
    case S_SET_ATTR: {
        jval *t = scope_find(s, n->name);
        jval v = jeval(c, s, n->a);
        c->fail->line = n->line;
        if (!t || t->t != JV_NS) jerr(c, "cannot assign attribute on non-namespace object");
        jv_dict_set(c->ar, t->d, jv_cstr(n->names[0]), v);
        break;
    }
    case S_SET_BLOCK: {
        jval v = capture(c, s, n->b);
        jscope_set(c, s, n->names[0], apply_filters(c, s, n->kids, n->nkids, v));
        break;
    }
    case S_FILTER_BLOCK: {
        jval v = apply_filters(c, s, n->kids, n->nkids, capture(c, s, n->b));
        jv_to_str(c, c->out, v);
        break;
    }
    case S_MACRO: {
        jval f = {0};
        f.t = JV_FUNC;
        f.fn = jalloc(c->ar, sizeof *f.fn);
        f.fn->kind = JF_MACRO;
        f.fn->name = n->name;
        f.fn->macro = n;
        f.fn->closure = s;
        jscope_set(c, s, n->name, f);
        break;
    }
    case S_CALL_BLOCK: {
        jval caller = {0};
        caller.t = JV_FUNC;
        caller.fn = jalloc(c->ar, sizeof *caller.fn);
        caller.fn->kind = JF_MACRO;
        caller.fn->name = "caller";
        caller.fn->macro = n;
        caller.fn->closure = s;
        jnode *call = n->a;
        jval fn = jeval(c, s, call->a);
        jargs a;
        eval_args(c, s, call, &a, 1);
        a.kwn[a.nkw] = "caller";
        a.kwv[a.nkw] = caller;
        a.nkw++;
        c->fail->line = n->line;
        jv_to_str(c, c->out, jcall(c, fn, &a));
        break;
    }
    case S_BREAK: *flow = FLOW_BREAK; break;
    case S_CONTINUE: *flow = FLOW_CONTINUE; break;
    default: jerr(c, "template: internal error: bad statement node %d", n->kind);
    }
    c->depth--;
}

static void exec_body(jctx *c, jscope *s, jnode *body, int *flow) {
    for (size_t i = 0; i < body->nkids && *flow == FLOW_NEXT; i++) exec_stmt(c, s, body->kids[i], flow);
}

void jrender(jctx *c, const jtemplate *t, jscope *globals) {
    c->tpl = t;
    c->globals = globals;
    jscope *root = scope_new(c, globals);
    int flow = FLOW_NEXT;
    exec_body(c, root, t->root, &flow);
}
