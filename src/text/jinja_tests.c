/*
 * jinja_tests.c — Jinja2's tests (`x is defined`, `is string`, `is
 * divisibleby 3`, `select("equalto", ...)`) with the Python type checks the
 * reference makes: a bool is a number but not an integer, a string is
 * iterable, an undefined value is iterable and a sequence.
 */
#include <string.h>
#include <utf8proc.h>

#include "text/jinja.h"

static jval arg1(jctx *c, jargs *a, const char *test) {
    if (a->npos + a->nkw != 1) jerr(c, "test '%s' takes exactly one argument", test);
    return a->npos ? a->pos[0] : a->kwv[0];
}
static void no_args(jctx *c, jargs *a, const char *test) {
    if (a->npos || a->nkw) jerr(c, "test '%s' takes no arguments", test);
}

#define SIMPLE(fname, cond)                                 \
    static bool fname(jctx *c, jval v, jargs *a) {          \
        no_args(c, a, #fname + 2);                          \
        return (cond);                                      \
    }

SIMPLE(t_defined, v.t != JV_UNDEF)
SIMPLE(t_undefined, v.t == JV_UNDEF)
SIMPLE(t_none, v.t == JV_NONE)
SIMPLE(t_boolean, v.t == JV_BOOL)
SIMPLE(t_false, v.t == JV_BOOL && !v.b)
SIMPLE(t_true, v.t == JV_BOOL && v.b)
SIMPLE(t_integer, v.t == JV_INT)
SIMPLE(t_float, v.t == JV_FLOAT)
SIMPLE(t_number, v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL)
SIMPLE(t_string, v.t == JV_STR)
SIMPLE(t_mapping, v.t == JV_DICT)
SIMPLE(t_iterable, v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF || v.t == JV_LOOP)
SIMPLE(t_sequence, v.t == JV_STR || v.t == JV_DICT || v.t == JV_UNDEF ||
                       (v.t == JV_LIST && (v.l->kind == JL_LIST || v.l->kind == JL_TUPLE || v.l->kind == JL_RANGE)))
SIMPLE(t_callable, v.t == JV_FUNC)
SIMPLE(t_escaped, v.t == JV_STR && v.markup)

static int64_t int_of(jctx *c, jval v, const char *test) {
    if (v.t == JV_UNDEF) jerr_undef(c, v);
    if (v.t == JV_INT) return v.i;
    if (v.t == JV_BOOL) return v.b;
    jerr(c, "test '%s' needs an integer, not %s", test, jv_type_name(v));
}

static bool t_odd(jctx *c, jval v, jargs *a) {
    no_args(c, a, "odd");
    if (v.t == JV_FLOAT) return jv_equal(jbinop(c, OP_MOD, v, jv_int(2)), jv_int(1));
    return (int_of(c, v, "odd") & 1) != 0;
}
static bool t_even(jctx *c, jval v, jargs *a) {
    no_args(c, a, "even");
    if (v.t == JV_FLOAT) return jv_equal(jbinop(c, OP_MOD, v, jv_int(2)), jv_int(0));
    return (int_of(c, v, "even") & 1) == 0;
}
static bool t_divisibleby(jctx *c, jval v, jargs *a) {
    jval d = arg1(c, a, "divisibleby");
    return jv_equal(jbinop(c, OP_MOD, v, d), jv_int(0));
}

static bool t_eq(jctx *c, jval v, jargs *a) { return jv_equal(v, arg1(c, a, "eq")); }
static bool t_ne(jctx *c, jval v, jargs *a) { return !jv_equal(v, arg1(c, a, "ne")); }
static bool t_lt(jctx *c, jval v, jargs *a) { return jcompare(c, v, arg1(c, a, "lt")) < 0; }
static bool t_le(jctx *c, jval v, jargs *a) { return jcompare(c, v, arg1(c, a, "le")) <= 0; }
static bool t_gt(jctx *c, jval v, jargs *a) { return jcompare(c, v, arg1(c, a, "gt")) > 0; }
static bool t_ge(jctx *c, jval v, jargs *a) { return jcompare(c, v, arg1(c, a, "ge")) >= 0; }
static bool t_in(jctx *c, jval v, jargs *a) { return jcontains(c, arg1(c, a, "in"), v); }

static bool t_sameas(jctx *c, jval v, jargs *a) {
    jval o = arg1(c, a, "sameas");
    if (v.t != o.t) return false;
    switch (v.t) {
    case JV_NONE: case JV_UNDEF: return v.t == JV_NONE;
    case JV_BOOL: return v.b == o.b;
    case JV_INT: return v.i == o.i;
    case JV_FLOAT: return v.f == o.f;
    case JV_STR: return v.s.p == o.s.p && v.s.n == o.s.n;
    case JV_LIST: return v.l == o.l;
    case JV_DICT: case JV_NS: return v.d == o.d;
    case JV_FUNC: return v.fn == o.fn;
    default: return false;
    }
}

/* str.islower / str.isupper: some cased character, and none of the other case. */
static bool case_test(jctx *c, jval v, bool upper) {
    jval s = jv_stringify(c, v);
    bool cased = false;
    for (size_t i = 0; i < s.s.n;) {
        utf8proc_int32_t cp = (utf8proc_int32_t)jstr_next_cp(s.s.p, s.s.n, &i);
        bool is_up = utf8proc_tolower(cp) != cp, is_low = utf8proc_toupper(cp) != cp;
        if (upper ? is_low : is_up) return false;
        if (upper ? is_up : is_low) cased = true;
    }
    return cased;
}
static bool t_lower(jctx *c, jval v, jargs *a) { no_args(c, a, "lower"); return case_test(c, v, false); }
static bool t_upper(jctx *c, jval v, jargs *a) { no_args(c, a, "upper"); return case_test(c, v, true); }

static bool t_filter(jctx *c, jval v, jargs *a) {
    no_args(c, a, "filter");
    return v.t == JV_STR && jfilter_find(jstrndup(c->ar, v.s.p, v.s.n)) != NULL;
}
static bool t_test(jctx *c, jval v, jargs *a) {
    no_args(c, a, "test");
    return v.t == JV_STR && jtest_find(jstrndup(c->ar, v.s.p, v.s.n)) != NULL;
}

typedef struct {
    const char *name;
    jtest_fn fn;
} test_entry;

static const test_entry TESTS[] = {
    {"!=", t_ne}, {"<", t_lt}, {"<=", t_le}, {"==", t_eq}, {">", t_gt}, {">=", t_ge},
    {"boolean", t_boolean}, {"callable", t_callable}, {"defined", t_defined}, {"divisibleby", t_divisibleby},
    {"eq", t_eq}, {"equalto", t_eq}, {"escaped", t_escaped}, {"even", t_even}, {"false", t_false},
    {"filter", t_filter}, {"float", t_float}, {"ge", t_ge}, {"greaterthan", t_gt}, {"gt", t_gt},
    {"in", t_in}, {"integer", t_integer}, {"iterable", t_iterable}, {"le", t_le}, {"lessthan", t_lt},
    {"lower", t_lower}, {"lt", t_lt}, {"mapping", t_mapping}, {"ne", t_ne}, {"none", t_none},
    {"number", t_number}, {"odd", t_odd}, {"sameas", t_sameas}, {"sequence", t_sequence},
    {"string", t_string}, {"test", t_test}, {"true", t_true}, {"undefined", t_undefined}, {"upper", t_upper},
};

jtest_fn jtest_find(const char *name) {
    for (size_t i = 0; i < AM_ARRAY_LEN(TESTS); i++)
        if (!strcmp(TESTS[i].name, name)) return TESTS[i].fn;
    return NULL;
}
