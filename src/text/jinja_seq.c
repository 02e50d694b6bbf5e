/*
 * jinja_seq.c — Jinja2's sequence filters: length, join, first, last, list,
 * items, map, select/reject(attr), unique, sort, reverse, dictsort, sum,
 * min, max, batch. Results have the Python type the reference gives
 * (map/select/unique are generators, reverse of a list is an iterator), since
 * that decides whether a later |tojson or |length succeeds.
 *
 * Work is charged to the step budget per element so that quadratic filters
 * on hostile input stop with an error.
 */
#include <string.h>

#include "text/jinja.h"

jval jstr_case(jctx *c, jval s, int mode);

static jval mklist(jctx *c, jlkind kind) { return jv_list_new(c->ar, 0, kind); }

jval jf_length(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "length", 0, NULL);
    switch (in.t) {
    case JV_UNDEF: return jv_int(0);
    case JV_STR: return jv_int((int64_t)jstr_cp_len(in.s.p, in.s.n));
    case JV_DICT: return jv_int((int64_t)in.d->n);
    case JV_LIST:
        if (in.l->kind == JL_GEN || in.l->kind == JL_ITER) break;
        return jv_int((int64_t)in.l->n);
    default: break;
    }
    jerr(c, "object of type '%s' has no len()", jv_type_name(in));
}

/* make_attrgetter: "a.b.0" looked up item-first at each part. */
static jval attr_get(jctx *c, jval item, jval attr, jval *def) {
    if (attr.t == JV_INT) {
        item = jgetitem(c, item, attr);
    } else if (attr.t == JV_STR) {
        const char *p = attr.s.p, *e = p + attr.s.n;
        while (p <= e) {
            const char *dot = memchr(p, '.', (size_t)(e - p));
            const char *q = dot ? dot : e;
            bool digits = q > p;
            int64_t idx = 0;
            for (const char *k = p; k < q; k++) {
                if (*k < '0' || *k > '9' || idx > INT64_MAX / 10 - 10) { digits = false; break; }
                idx = idx * 10 + (*k - '0');
            }
            item = jgetitem(c, item, digits ? jv_int(idx) : jv_str(p, (size_t)(q - p)));
            if (def && item.t == JV_UNDEF) item = *def;
            if (!dot) break;
            p = dot + 1;
        }
    } else if (attr.t != JV_NONE) {
        jerr(c, "attribute must be a string or an integer");
    }
    return item;
}

jval jf_join(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"d", "attribute", NULL};
    jargs_check(c, a, "join", 2, kw);
    jval *d = jarg(a, 0, "d"), *attr = jarg(a, 1, "attribute");
    jval sep = d ? jv_stringify(c, *d) : jv_str("", 0);
    size_t n;
    jval *v = jiter(c, in, &n);
    jsb b;
    jsb_init(&b, c->ar, c->max_output);
    for (size_t i = 0; i < n; i++) {
        jstep(c, 1);
        if (i) jsb_put(&b, sep.s.p, sep.s.n);
        jv_to_str(c, &b, attr ? attr_get(c, v[i], *attr, NULL) : v[i]);
    }
    return jv_str(b.p ? b.p : "", b.n);
}

static jval hint_undef(jctx *c, const char *msg) {
    jval u = jv_undef();
    u.u = jalloc(c->ar, sizeof *u.u);
    u.u->hint = msg;
    return u;
}

jval jf_first(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "first", 0, NULL);
    size_t n;
    jval *v = jiter(c, in, &n);
    return n ? v[0] : hint_undef(c, "No first item, sequence was empty.");
}

jval jf_last(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "last", 0, NULL);
    if (in.t == JV_LIST && (in.l->kind == JL_GEN || in.l->kind == JL_ITER))
        jerr(c, "'%s' object is not reversible", jv_type_name(in));
    if (in.t != JV_LIST && in.t != JV_STR && in.t != JV_DICT && in.t != JV_UNDEF)
        jerr(c, "'%s' object is not reversible", jv_type_name(in));
    size_t n;
    jval *v = jiter(c, in, &n);
    return n ? v[n - 1] : hint_undef(c, "No last item, sequence was empty.");
}

jval jf_list(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "list", 0, NULL);
    size_t n;
    jval *v = jiter(c, in, &n);
    jval out = jv_list_new(c->ar, n, JL_LIST);
    if (n) memcpy(out.l->v, v, n * sizeof(jval));
    out.l->n = n;
    return out;
}

jval jf_items(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "items", 0, NULL);
    jval out = mklist(c, JL_GEN);
    if (in.t == JV_UNDEF) return out;
    if (in.t != JV_DICT) jerr(c, "Can only get item pairs from a mapping.");
    for (size_t i = 0; i < in.d->n; i++) {
        jval t = jv_list_new(c->ar, 2, JL_TUPLE);
        t.l->v[0] = in.d->k[i];
        t.l->v[1] = in.d->v[i];
        t.l->n = 2;
        jv_list_push(c->ar, out.l, t);
    }
    return out;
}

jval jf_map(jctx *c, jval in, jargs *a) {
    jval out = mklist(c, JL_GEN);
    if (!jv_truthy(in)) return out;
    jval *attr = NULL, *def = NULL;
    jfilter_fn fn = NULL;
    jargs rest = {0};
    if (!a->npos) {
        for (size_t k = 0; k < a->nkw; k++) {
            if (!strcmp(a->kwn[k], "attribute")) attr = &a->kwv[k];
            else if (!strcmp(a->kwn[k], "default")) def = &a->kwv[k];
            else jerr(c, "Unexpected keyword argument '%s'", a->kwn[k]);
        }
        if (!attr) jerr(c, "map requires a filter argument");
        if (def && def->t == JV_NONE) def = NULL;
    } else {
        if (a->pos[0].t != JV_STR) jerr(c, "map: filter name must be a string");
        char *name = jstrndup(c->ar, a->pos[0].s.p, a->pos[0].s.n);
        fn = jfilter_find(name);
        if (!fn) jerr(c, "No filter named '%s'.", name);
        rest = *a;
        rest.pos++;
        rest.npos--;
    }
    size_t n;
    jval *v = jiter(c, in, &n);
    for (size_t i = 0; i < n; i++) {
        jstep(c, 1);
        jv_list_push(c->ar, out.l, fn ? fn(c, v[i], &rest) : attr_get(c, v[i], *attr, def));
    }
    return out;
}

static jval select_impl(jctx *c, jval in, jargs *a, bool lookup_attr, bool reject) {
    jval out = mklist(c, JL_GEN);
    if (!jv_truthy(in)) return out;
    jargs rest = *a;
    jval attr = jv_none();
    if (lookup_attr) {
        if (!rest.npos) jerr(c, "Missing parameter for attribute name");
        attr = rest.pos[0];
        rest.pos++;
        rest.npos--;
    }
    jtest_fn test = NULL;
    if (rest.npos) {
        if (rest.pos[0].t != JV_STR) jerr(c, "select: test name must be a string");
        char *name = jstrndup(c->ar, rest.pos[0].s.p, rest.pos[0].s.n);
        test = jtest_find(name);
        if (!test) jerr(c, "No test named '%s'.", name);
        rest.pos++;
        rest.npos--;
    }
    size_t n;
    jval *v = jiter(c, in, &n);
    for (size_t i = 0; i < n; i++) {
        jstep(c, 1);
        jval x = lookup_attr ? attr_get(c, v[i], attr, NULL) : v[i];
        bool ok = test ? test(c, x, &rest) : jv_truthy(x);
        if (ok != reject) jv_list_push(c->ar, out.l, v[i]);
    }
    return out;
}

jval jf_select(jctx *c, jval in, jargs *a) { return select_impl(c, in, a, false, false); }
jval jf_reject(jctx *c, jval in, jargs *a) { return select_impl(c, in, a, false, true); }
jval jf_selectattr(jctx *c, jval in, jargs *a) { return select_impl(c, in, a, true, false); }
jval jf_rejectattr(jctx *c, jval in, jargs *a) { return select_impl(c, in, a, true, true); }

static jval sort_key(jctx *c, jval x, jval *attr, bool case_sensitive) {
    if (attr) x = attr_get(c, x, *attr, NULL);
    if (!case_sensitive && x.t == JV_STR) x = jstr_case(c, x, 0);
    return x;
}

jval jf_unique(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"case_sensitive", "attribute", NULL};
    jargs_check(c, a, "unique", 2, kw);
    jval *cs = jarg(a, 0, "case_sensitive"), *attr = jarg(a, 1, "attribute");
    bool sens = cs && jv_truthy(*cs);
    size_t n;
    jval *v = jiter(c, in, &n);
    jval out = mklist(c, JL_GEN), seen = mklist(c, JL_LIST);
    for (size_t i = 0; i < n; i++) {
        jval k = sort_key(c, v[i], attr, sens);
        if (k.t == JV_LIST || k.t == JV_DICT) jerr(c, "unhashable type: '%s'", jv_type_name(k));
        jstep(c, seen.l->n + 1);
        bool dup = false;
        for (size_t j = 0; j < seen.l->n && !dup; j++) dup = jv_equal(seen.l->v[j], k);
        if (!dup) {
            jv_list_push(c->ar, seen.l, k);
            jv_list_push(c->ar, out.l, v[i]);
        }
    }
    return out;
}

/* Stable merge sort of items by keys (both permuted together). */
static void msort(jctx *c, jval *items, jval *keys, jval *ti, jval *tk, size_t n, bool rev) {
    if (n < 2) return;
    size_t h = n / 2;
    msort(c, items, keys, ti, tk, h, rev);
    msort(c, items + h, keys + h, ti, tk, n - h, rev);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int r = jcompare(c, keys[j], keys[i]);
        bool take_right = rev ? r > 0 : r < 0;
        if (take_right) { ti[k] = items[j]; tk[k++] = keys[j++]; }
        else { ti[k] = items[i]; tk[k++] = keys[i++]; }
    }
    while (i < h) { ti[k] = items[i]; tk[k++] = keys[i++]; }
    while (j < n) { ti[k] = items[j]; tk[k++] = keys[j++]; }
    memcpy(items, ti, n * sizeof(jval));
    memcpy(keys, tk, n * sizeof(jval));
}

static jval sorted(jctx *c, jval *v, size_t n, jval *keys, bool rev) {
    jval out = jv_list_new(c->ar, n, JL_LIST);
    if (n) memcpy(out.l->v, v, n * sizeof(jval));
    out.l->n = n;
    if (n < 2) return out;
    jstep(c, n * 20);
    jval *ti = jalloc(c->ar, n * sizeof(jval)), *tk = jalloc(c->ar, n * sizeof(jval));
    msort(c, out.l->v, keys, ti, tk, n, rev);
    return out;
}

jval jf_sort(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"reverse", "case_sensitive", "attribute", NULL};
    jargs_check(c, a, "sort", 3, kw);
    jval *rv = jarg(a, 0, "reverse"), *cs = jarg(a, 1, "case_sensitive"), *attr = jarg(a, 2, "attribute");
    size_t n;
    jval *v = jiter(c, in, &n);
    jval *keys = n ? jalloc(c->ar, n * sizeof(jval)) : NULL;
    for (size_t i = 0; i < n; i++) keys[i] = sort_key(c, v[i], attr, cs && jv_truthy(*cs));
    return sorted(c, v, n, keys, rv && jv_truthy(*rv));
}

jval jf_dictsort(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"case_sensitive", "by", "reverse", NULL};
    jargs_check(c, a, "dictsort", 3, kw);
    jval *cs = jarg(a, 0, "case_sensitive"), *by = jarg(a, 1, "by"), *rv = jarg(a, 2, "reverse");
    if (in.t != JV_DICT) jerr(c, "dictsort: value must be a dict");
    bool by_value = by && jv_is_str(*by, "value");
    if (by && !by_value && !jv_is_str(*by, "key")) jerr(c, "You can only sort by either \"key\" or \"value\"");
    size_t n = in.d->n;
    jval *items = n ? jalloc(c->ar, n * sizeof(jval)) : NULL, *keys = n ? jalloc(c->ar, n * sizeof(jval)) : NULL;
    for (size_t i = 0; i < n; i++) {
        jval t = jv_list_new(c->ar, 2, JL_TUPLE);
        t.l->v[0] = in.d->k[i];
        t.l->v[1] = in.d->v[i];
        t.l->n = 2;
        items[i] = t;
        keys[i] = sort_key(c, by_value ? in.d->v[i] : in.d->k[i], NULL, cs && jv_truthy(*cs));
    }
    return sorted(c, items, n, keys, rv && jv_truthy(*rv));
}

jval jf_reverse(jctx *c, jval in, jargs *a) {
    jargs_check(c, a, "reverse", 0, NULL);
    if (in.t == JV_STR) {
        size_t n;
        jval *cps = jiter(c, in, &n);
        jsb b;
        jsb_init(&b, c->ar, 0);
        for (size_t i = n; i-- > 0;) jsb_put(&b, cps[i].s.p, cps[i].s.n);
        return jv_str(b.p ? b.p : "", b.n);
    }
    bool reversible = (in.t == JV_LIST && in.l->kind != JL_GEN && in.l->kind != JL_ITER) || in.t == JV_DICT;
    size_t n;
    jval *v = jiter(c, in, &n);
    jval out = jv_list_new(c->ar, n, reversible ? JL_ITER : JL_LIST);
    for (size_t i = n; i-- > 0;) out.l->v[out.l->n++] = v[i];
    return out;
}

jval jf_sum(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"attribute", "start", NULL};
    jargs_check(c, a, "sum", 2, kw);
    jval *attr = jarg(a, 0, "attribute"), *start = jarg(a, 1, "start");
    jval acc = start ? *start : jv_int(0);
    size_t n;
    jval *v = jiter(c, in, &n);
    for (size_t i = 0; i < n; i++) {
        jstep(c, 1);
        acc = jbinop(c, OP_ADD, acc, attr ? attr_get(c, v[i], *attr, NULL) : v[i]);
    }
    return acc;
}

static jval minmax(jctx *c, jval in, jargs *a, bool want_max) {
    static const char *const kw[] = {"case_sensitive", "attribute", NULL};
    jargs_check(c, a, want_max ? "max" : "min", 2, kw);
    jval *cs = jarg(a, 0, "case_sensitive"), *attr = jarg(a, 1, "attribute");
    size_t n;
    jval *v = jiter(c, in, &n);
    if (!n) return hint_undef(c, "No aggregated item, sequence was empty.");
    size_t best = 0;
    jval bk = sort_key(c, v[0], attr, cs && jv_truthy(*cs));
    for (size_t i = 1; i < n; i++) {
        jstep(c, 1);
        jval k = sort_key(c, v[i], attr, cs && jv_truthy(*cs));
        int r = jcompare(c, k, bk);
        if (want_max ? r > 0 : r < 0) { best = i; bk = k; }
    }
    return v[best];
}

jval jf_min(jctx *c, jval in, jargs *a) { return minmax(c, in, a, false); }
jval jf_max(jctx *c, jval in, jargs *a) { return minmax(c, in, a, true); }

jval jf_batch(jctx *c, jval in, jargs *a) {
    static const char *const kw[] = {"linecount", "fill_with", NULL};
    jargs_check(c, a, "batch", 2, kw);
    jval *lc = jarg(a, 0, "linecount"), *fill = jarg(a, 1, "fill_with");
    if (!lc || lc->t != JV_INT || lc->i <= 0) jerr(c, "batch: linecount must be a positive integer");
    size_t n;
    jval *v = jiter(c, in, &n);
    jval out = mklist(c, JL_GEN), cur = mklist(c, JL_LIST);
    for (size_t i = 0; i < n; i++) {
        jv_list_push(c->ar, cur.l, v[i]);
        if ((int64_t)cur.l->n == lc->i) {
            jv_list_push(c->ar, out.l, cur);
            cur = mklist(c, JL_LIST);
        }
    }
    if (cur.l->n) {
        if (fill && fill->t != JV_NONE)
            while ((int64_t)cur.l->n < lc->i) jv_list_push(c->ar, cur.l, *fill);
        jv_list_push(c->ar, out.l, cur);
    }
    return out;
}
