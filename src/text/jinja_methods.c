/*
 * jinja_methods.c — the Python methods templates call on values
 * (str.strip/split/startswith/format..., dict.get/items..., list.index,
 * loop.cycle) and the global functions (range, namespace, dict,
 * raise_exception, strftime_now).
 *
 * As in transformers' ImmutableSandboxedEnvironment, methods that mutate a
 * list or dict (append, pop, update...) are refused: they resolve to an
 * undefined value whose use fails with the sandbox's message.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "text/jinja.h"

/* ---- string primitives shared with the filters ---- */

static bool in_chars(jval chars, uint32_t cp) {
    size_t i = 0;
    while (i < chars.s.n)
        if (jstr_next_cp(chars.s.p, chars.s.n, &i) == cp) return true;
    return false;
}

jval jstr_strip(jctx *c, jval s, jval chars, bool left, bool right) {
    if (chars.t != JV_NONE && chars.t != JV_STR) jerr(c, "strip arg must be None or str");
    bool ws = chars.t == JV_NONE;
    size_t a = 0, b = s.s.n;
    if (left)
        while (a < b) {
            size_t i = a;
            uint32_t cp = jstr_next_cp(s.s.p, b, &i);
            if (ws ? !jstr_isspace_cp(cp) : !in_chars(chars, cp)) break;
            a = i;
        }
    if (right)
        while (b > a) {
            size_t st = b - 1;
            while (st > a && ((unsigned char)s.s.p[st] & 0xC0) == 0x80) st--;
            size_t i = st;
            uint32_t cp = jstr_next_cp(s.s.p, b, &i);
            if (ws ? !jstr_isspace_cp(cp) : !in_chars(chars, cp)) break;
            b = st;
        }
    jval r = jv_str(s.s.p + a, b - a);
    r.markup = s.markup;
    return r;
}

static void put_cp(jsb *b, utf8proc_int32_t cp) {
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, u);
    jsb_put(b, (const char *)u, (size_t)k);
}

/* mode 0 lower, 1 upper, 2 capitalize, 3 Python str.title, 4 swapcase */
jval jstr_case(jctx *c, jval s, int mode) {
    jsb b;
    jsb_init(&b, c->ar, 0);
    bool prev_cased = false;
    size_t k = 0;
    for (size_t i = 0; i < s.s.n; k++) {
        utf8proc_int32_t cp = (utf8proc_int32_t)jstr_next_cp(s.s.p, s.s.n, &i), m;
        bool up = utf8proc_tolower(cp) != cp, low = utf8proc_toupper(cp) != cp;
        switch (mode) {
        case 0: m = utf8proc_tolower(cp); break;
        case 1: m = utf8proc_toupper(cp); break;
        case 2: m = k == 0 ? utf8proc_toupper(cp) : utf8proc_tolower(cp); break;
        case 3: m = prev_cased ? utf8proc_tolower(cp) : utf8proc_toupper(cp); break;
        default: m = up ? utf8proc_tolower(cp) : low ? utf8proc_toupper(cp) : cp; break;
        }
        utf8proc_category_t cat = utf8proc_category(cp);
        prev_cased = up || low || cat == UTF8PROC_CATEGORY_LT;
        put_cp(&b, m);
    }
    jval r = jv_str(b.p ? b.p : "", b.n);
    r.markup = s.markup;
    return r;
}

jval jstr_replace(jctx *c, jval s, jval old, jval nw, int64_t count) {
    jsb b;
    jsb_init(&b, c->ar, c->max_output);
    int64_t done = 0;
    if (old.s.n == 0) { /* Python inserts `new` around every code point */
        size_t i = 0;
        while (true) {
            if (count < 0 || done < count) { jsb_put(&b, nw.s.p, nw.s.n); done++; }
            if (i >= s.s.n) break;
            size_t st = i;
            jstr_next_cp(s.s.p, s.s.n, &i);
            jsb_put(&b, s.s.p + st, i - st);
        }
    } else {
        size_t i = 0;
        while (i < s.s.n) {
            const char *hit = (count < 0 || done < count) ? memmem(s.s.p + i, s.s.n - i, old.s.p, old.s.n) : NULL;
            if (!hit) break;
            size_t pos = (size_t)(hit - s.s.p);
            jsb_put(&b, s.s.p + i, pos - i);
            jsb_put(&b, nw.s.p, nw.s.n);
            i = pos + old.s.n;
            done++;
        }
        jsb_put(&b, s.s.p + i, s.s.n - i);
    }
    jval r = jv_str(b.p ? b.p : "", b.n);
    r.markup = s.markup;
    return r;
}

/* str.splitlines(): \n \r \r\n \v \f \x1c-\x1e \x85 \u2028 \u2029. */
void jstr_splitlines(jctx *c, jval s, jval *out) {
    *out = jv_list_new(c->ar, 0, JL_LIST);
    size_t start = 0, i = 0;
    while (i < s.s.n) {
        size_t st = i;
        uint32_t cp = jstr_next_cp(s.s.p, s.s.n, &i);
        bool brk = cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' || (cp >= 0x1c && cp <= 0x1e) ||
                   cp == 0x85 || cp == 0x2028 || cp == 0x2029;
        if (!brk) continue;
        jv_list_push(c->ar, out->l, jv_str(s.s.p + start, st - start));
        if (cp == '\r' && i < s.s.n && s.s.p[i] == '\n') i++;
        start = i;
    }
    if (start < s.s.n) jv_list_push(c->ar, out->l, jv_str(s.s.p + start, s.s.n - start));
}

/* ---- str methods ---- */

static jval str_arg(jctx *c, jargs *a, size_t i, const char *name, const char *fn) {
    jval *v = jarg(a, i, name);
    if (!v) jerr(c, "%s() missing argument '%s'", fn, name);
    if (v->t != JV_STR) jerr(c, "%s() argument must be str, not %s", fn, jv_type_name(*v));
    return *v;
}

static jval opt_chars(jctx *c, jargs *a, const char *fn) {
    static const char *const kw[] = {"chars", NULL};
    jargs_check(c, a, fn, 1, kw);
    jval *ch = jarg(a, 0, "chars");
    return ch ? *ch : jv_none();
}
static jval m_strip(jctx *c, jval s, jargs *a) { return jstr_strip(c, s, opt_chars(c, a, "strip"), true, true); }
static jval m_lstrip(jctx *c, jval s, jargs *a) { return jstr_strip(c, s, opt_chars(c, a, "lstrip"), true, false); }
static jval m_rstrip(jctx *c, jval s, jargs *a) { return jstr_strip(c, s, opt_chars(c, a, "rstrip"), false, true); }
static jval m_lower(jctx *c, jval s, jargs *a) { jargs_check(c, a, "lower", 0, NULL); return jstr_case(c, s, 0); }
static jval m_upper(jctx *c, jval s, jargs *a) { jargs_check(c, a, "upper", 0, NULL); return jstr_case(c, s, 1); }
static jval m_capitalize(jctx *c, jval s, jargs *a) { jargs_check(c, a, "capitalize", 0, NULL); return jstr_case(c, s, 2); }
static jval m_title(jctx *c, jval s, jargs *a) { jargs_check(c, a, "title", 0, NULL); return jstr_case(c, s, 3); }
static jval m_swapcase(jctx *c, jval s, jargs *a) { jargs_check(c, a, "swapcase", 0, NULL); return jstr_case(c, s, 4); }

static jval split_impl(jctx *c, jval s, jargs *a, bool right) {
    static const char *const kw[] = {"sep", "maxsplit", NULL};
    const char *fn = right ? "rsplit" : "split";
    jargs_check(c, a, fn, 2, kw);
    jval *sep = jarg(a, 0, "sep"), *ms = jarg(a, 1, "maxsplit");
    int64_t maxsplit = -1;
    if (ms) {
        if (ms->t != JV_INT) jerr(c, "%s(): maxsplit must be an integer", fn);
        maxsplit = ms->i;
    }
    jval out = jv_list_new(c->ar, 0, JL_LIST);
    const char *p = s.s.p;
    size_t n = s.s.n;
    if (!sep || sep->t == JV_NONE) { /* runs of whitespace, ends trimmed */
        /* collect all fields, then merge for maxsplit (rare; do it simply) */
        jval fields = jv_list_new(c->ar, 0, JL_LIST);
        jval starts = jv_list_new(c->ar, 0, JL_LIST);
        size_t i = 0;
        while (i < n) {
            size_t st = i;
            uint32_t cp = jstr_next_cp(p, n, &i);
            if (jstr_isspace_cp(cp)) continue;
            size_t ws = st, e = i;
            while (e < n) {
                size_t q = e;
                if (jstr_isspace_cp(jstr_next_cp(p, n, &q))) break;
                e = q;
            }
            jv_list_push(c->ar, fields.l, jv_str(p + ws, e - ws));
            jv_list_push(c->ar, starts.l, jv_int((int64_t)ws));
            i = e;
        }
        size_t nf = fields.l->n;
        if (maxsplit < 0 || (uint64_t)maxsplit + 1 >= nf) return fields;
        if (!right) {
            for (int64_t k = 0; k < maxsplit; k++) jv_list_push(c->ar, out.l, fields.l->v[k]);
            jval rest = jstr_strip(c, jv_str(p + starts.l->v[maxsplit].i, n - (size_t)starts.l->v[maxsplit].i), jv_none(), false, true);
            jv_list_push(c->ar, out.l, rest);
        } else {
            size_t first = nf - (size_t)maxsplit;
            jval last = fields.l->v[first - 1];
            jv_list_push(c->ar, out.l, jv_str(p, (size_t)(last.s.p + last.s.n - p)));
            jval lead = jstr_strip(c, out.l->v[0], jv_none(), true, false);
            out.l->v[0] = lead;
            for (size_t k = first; k < nf; k++) jv_list_push(c->ar, out.l, fields.l->v[k]);
        }
        return out;
    }
    if (sep->t != JV_STR) jerr(c, "%s(): separator must be str or None", fn);
    if (!sep->s.n) jerr(c, "empty separator");
    if (!right) {
        size_t i = 0;
        int64_t done = 0;
        for (;;) {
            const char *hit = (maxsplit < 0 || done < maxsplit) ? memmem(p + i, n - i, sep->s.p, sep->s.n) : NULL;
            if (!hit) break;
            jstep(c, 1);
            jv_list_push(c->ar, out.l, jv_str(p + i, (size_t)(hit - (p + i))));
            i = (size_t)(hit - p) + sep->s.n;
            done++;
        }
        jv_list_push(c->ar, out.l, jv_str(p + i, n - i));
        return out;
    }
    /* rsplit: scan from the right, then reverse. */
    jval rev = jv_list_new(c->ar, 0, JL_LIST);
    size_t end = n;
    int64_t done = 0;
    while (maxsplit < 0 || done < maxsplit) {
        size_t found = SIZE_MAX;
        if (end >= sep->s.n)
            for (size_t k = end - sep->s.n + 1; k-- > 0;)
                if (memcmp(p + k, sep->s.p, sep->s.n) == 0) { found = k; break; }
        if (found == SIZE_MAX) break;
        jv_list_push(c->ar, rev.l, jv_str(p + found + sep->s.n, end - found - sep->s.n));
        end = found;
        done++;
    }
    jv_list_push(c->ar, out.l, jv_str(p, end));
    for (size_t k = rev.l->n; k-- > 0;) jv_list_push(c->ar, out.l, rev.l->v[k]);
    return out;
}
static jval m_split(jctx *c, jval s, jargs *a) { return split_impl(c, s, a, false); }
static jval m_rsplit(jctx *c, jval s, jargs *a) { return split_impl(c, s, a, true); }

static jval m_splitlines(jctx *c, jval s, jargs *a) {
    jargs_check(c, a, "splitlines", 0, NULL);
    jval out;
    jstr_splitlines(c, s, &out);
    return out;
}

/* Code-point range [start, end) of s as byte offsets, Python slice rules. */
static void cp_range(jctx *c, jval s, jargs *a, size_t i0, size_t *bs, size_t *be) {
    size_t len = jstr_cp_len(s.s.p, s.s.n);
    int64_t st = 0, en = (int64_t)len;
    jval *vs = jarg(a, i0, "start"), *ve = jarg(a, i0 + 1, "end");
    if (vs && vs->t == JV_INT) st = vs->i;
    if (ve && ve->t == JV_INT) en = ve->i;
    if ((vs && vs->t != JV_INT && vs->t != JV_NONE) || (ve && ve->t != JV_INT && ve->t != JV_NONE))
        jerr(c, "slice indices must be integers or None");
    if (st < 0) st = st + (int64_t)len < 0 ? 0 : st + (int64_t)len;
    if (en < 0) en = en + (int64_t)len < 0 ? 0 : en + (int64_t)len;
    if (st > (int64_t)len) st = (int64_t)len;
    if (en > (int64_t)len) en = (int64_t)len;
    if (en < st) en = st;
    *bs = jstr_cp_offset(s.s.p, s.s.n, (size_t)st);
    *be = jstr_cp_offset(s.s.p, s.s.n, (size_t)en);
}

static jval affix(jctx *c, jval s, jargs *a, bool ends) {
    const char *fn = ends ? "endswith" : "startswith";
    if (a->nkw || a->npos < 1 || a->npos > 3) jerr(c, "%s() takes 1 to 3 positional arguments", fn);
    size_t bs, be;
    cp_range(c, s, a, 1, &bs, &be);
    jval pre = a->pos[0];
    jval *cands = &pre;
    size_t nc = 1;
    if (pre.t == JV_LIST && pre.l->kind == JL_TUPLE) { cands = pre.l->v; nc = pre.l->n; }
    for (size_t i = 0; i < nc; i++) {
        if (cands[i].t != JV_STR) jerr(c, "%s first arg must be str or a tuple of str, not %s", fn, jv_type_name(cands[i]));
        size_t k = cands[i].s.n;
        if (k > be - bs) continue;
        if (memcmp(s.s.p + (ends ? be - k : bs), cands[i].s.p, k) == 0) return jv_bool(true);
    }
    return jv_bool(false);
}
static jval m_startswith(jctx *c, jval s, jargs *a) { return affix(c, s, a, false); }
static jval m_endswith(jctx *c, jval s, jargs *a) { return affix(c, s, a, true); }

static jval find_impl(jctx *c, jval s, jargs *a, bool right, bool raise, const char *fn) {
    if (a->nkw || a->npos < 1 || a->npos > 3) jerr(c, "%s() takes 1 to 3 positional arguments", fn);
    jval sub = str_arg(c, a, 0, "sub", fn);
    size_t bs, be;
    cp_range(c, s, a, 1, &bs, &be);
    size_t found = SIZE_MAX;
    if (sub.s.n <= be - bs) {
        if (!right) {
            const char *h = sub.s.n ? memmem(s.s.p + bs, be - bs, sub.s.p, sub.s.n) : s.s.p + bs;
            if (h) found = (size_t)(h - s.s.p);
        } else {
            for (size_t k = be - sub.s.n + 1; k-- > bs;)
                if (memcmp(s.s.p + k, sub.s.p, sub.s.n) == 0) { found = k; break; }
        }
    }
    if (found == SIZE_MAX) {
        if (raise) jerr(c, "substring not found");
        return jv_int(-1);
    }
    return jv_int((int64_t)jstr_cp_len(s.s.p, found));
}
static jval m_find(jctx *c, jval s, jargs *a) { return find_impl(c, s, a, false, false, "find"); }
static jval m_rfind(jctx *c, jval s, jargs *a) { return find_impl(c, s, a, true, false, "rfind"); }
static jval m_index(jctx *c, jval s, jargs *a) { return find_impl(c, s, a, false, true, "index"); }
static jval m_rindex(jctx *c, jval s, jargs *a) { return find_impl(c, s, a, true, true, "rindex"); }

static jval m_count(jctx *c, jval s, jargs *a) {
    if (a->nkw || a->npos < 1 || a->npos > 3) jerr(c, "count() takes 1 to 3 positional arguments");
    jval sub = str_arg(c, a, 0, "sub", "count");
    size_t bs, be;
    cp_range(c, s, a, 1, &bs, &be);
    if (!sub.s.n) return jv_int((int64_t)jstr_cp_len(s.s.p + bs, be - bs) + 1);
    int64_t k = 0;
    for (size_t i = bs; i + sub.s.n <= be;) {
        const char *h = memmem(s.s.p + i, be - i, sub.s.p, sub.s.n);
        if (!h) break;
        k++;
        i = (size_t)(h - s.s.p) + sub.s.n;
    }
    return jv_int(k);
}

static jval m_replace(jctx *c, jval s, jargs *a) {
    static const char *const kw[] = {"old", "new", "count", NULL};
    jargs_check(c, a, "replace", 3, kw);
    jval old = str_arg(c, a, 0, "old", "replace"), nw = str_arg(c, a, 1, "new", "replace");
    jval *cnt = jarg(a, 2, "count");
    return jstr_replace(c, s, old, nw, cnt && cnt->t == JV_INT ? cnt->i : -1);
}

static jval m_join(jctx *c, jval s, jargs *a) {
    jargs_check(c, a, "join", 1, NULL);
    if (!a->npos) jerr(c, "join() takes exactly one argument");
    size_t n;
    jval *v = jiter(c, a->pos[0], &n);
    jsb b;
    jsb_init(&b, c->ar, c->max_output);
    for (size_t i = 0; i < n; i++) {
        if (v[i].t != JV_STR) jerr(c, "sequence item %zu: expected str instance, %s found", i, jv_type_name(v[i]));
        if (i) jsb_put(&b, s.s.p, s.s.n);
        jsb_put(&b, v[i].s.p, v[i].s.n);
    }
    return jv_str(b.p ? b.p : "", b.n);
}

static jval m_removeaffix(jctx *c, jval s, jargs *a, bool suffix) {
    jargs_check(c, a, suffix ? "removesuffix" : "removeprefix", 1, NULL);
    jval x = str_arg(c, a, 0, "affix", suffix ? "removesuffix" : "removeprefix");
    if (x.s.n > s.s.n) return s;
    if (!suffix && memcmp(s.s.p, x.s.p, x.s.n) == 0) return jv_str(s.s.p + x.s.n, s.s.n - x.s.n);
    if (suffix && memcmp(s.s.p + s.s.n - x.s.n, x.s.p, x.s.n) == 0) return jv_str(s.s.p, s.s.n - x.s.n);
    return s;
}
static jval m_removeprefix(jctx *c, jval s, jargs *a) { return m_removeaffix(c, s, a, false); }
static jval m_removesuffix(jctx *c, jval s, jargs *a) { return m_removeaffix(c, s, a, true); }

static jval char_class(jctx *c, jval s, jargs *a, int cls) {
    jargs_check(c, a, "is...", 0, NULL);
    if (!s.s.n) return jv_bool(false);
    for (size_t i = 0; i < s.s.n;) {
        uint32_t cp = jstr_next_cp(s.s.p, s.s.n, &i);
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        bool alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        bool digit = cat == UTF8PROC_CATEGORY_ND;
        bool ok = cls == 0 ? digit : cls == 1 ? alpha : cls == 2 ? (alpha || digit || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO)
                                                     : jstr_isspace_cp(cp);
        if (!ok) return jv_bool(false);
    }
    return jv_bool(true);
}
static jval m_isdigit(jctx *c, jval s, jargs *a) { return char_class(c, s, a, 0); }
static jval m_isalpha(jctx *c, jval s, jargs *a) { return char_class(c, s, a, 1); }
static jval m_isalnum(jctx *c, jval s, jargs *a) { return char_class(c, s, a, 2); }
static jval m_isspace(jctx *c, jval s, jargs *a) { return char_class(c, s, a, 3); }

/* str.format with {} {0} {name} {0[key]} {x.attr}, !r/!s; no format specs. */
static jval m_format(jctx *c, jval s, jargs *a) {
    jsb b;
    jsb_init(&b, c->ar, c->max_output);
    size_t auto_idx = 0;
    const char *p = s.s.p, *e = p + s.s.n;
    while (p < e) {
        if (*p == '{' && p + 1 < e && p[1] == '{') { jsb_putc(&b, '{'); p += 2; continue; }
        if (*p == '}' && p + 1 < e && p[1] == '}') { jsb_putc(&b, '}'); p += 2; continue; }
        if (*p == '}') jerr(c, "Single '}' encountered in format string");
        if (*p != '{') { jsb_putc(&b, *p++); continue; }
        const char *q = ++p;
        while (q < e && *q != '}') q++;
        if (q >= e) jerr(c, "Single '{' encountered in format string");
        const char *fe = q;
        char conv = 0;
        for (const char *k = p; k < q; k++) {
            if (*k == ':') jerr(c, "unsupported template construct: format spec in str.format");
            if (*k == '!') { fe = k; conv = k + 1 < q ? k[1] : 0; break; }
        }
        /* field: first part up to . or [ */
        const char *k = p;
        while (k < fe && *k != '.' && *k != '[') k++;
        jval v;
        if (k == p) {
            if (auto_idx >= a->npos) jerr(c, "Replacement index %zu out of range for positional args tuple", auto_idx);
            v = a->pos[auto_idx++];
        } else if (*p >= '0' && *p <= '9') {
            size_t idx = 0;
            for (const char *d = p; d < k; d++) idx = idx * 10 + (size_t)(*d - '0');
            if (idx >= a->npos) jerr(c, "Replacement index %zu out of range for positional args tuple", idx);
            v = a->pos[idx];
        } else {
            jval *kv = NULL;
            for (size_t i = 0; i < a->nkw; i++)
                if (strlen(a->kwn[i]) == (size_t)(k - p) && !memcmp(a->kwn[i], p, (size_t)(k - p))) kv = &a->kwv[i];
            if (!kv) jerr(c, "format: missing keyword argument '%.*s'", (int)(k - p), p);
            v = *kv;
        }
        while (k < fe) {
            if (*k == '.') {
                const char *n0 = ++k;
                while (k < fe && *k != '.' && *k != '[') k++;
                v = jgetattr(c, v, n0, (size_t)(k - n0));
            } else {
                const char *n0 = ++k;
                while (k < fe && *k != ']') k++;
                if (k >= fe) jerr(c, "format: missing ']'");
                bool digits = k > n0;
                int64_t idx = 0;
                for (const char *d = n0; d < k; d++) {
                    if (*d < '0' || *d > '9' || idx > INT64_MAX / 10 - 10) { digits = false; break; }
                    idx = idx * 10 + (*d - '0');
                }
                v = jgetitem(c, v, digits ? jv_int(idx) : jv_str(n0, (size_t)(k - n0)));
                k++;
            }
        }
        if (v.t == JV_UNDEF) jerr_undef(c, v);
        if (conv == 'r') jv_repr(c, &b, v);
        else jv_to_str(c, &b, v);
        p = q + 1;
    }
    return jv_str(b.p ? b.p : "", b.n);
}

/* ---- dict, list, loop methods ---- */

static jval view(jctx *c, jval d, jlkind kind) {
    jval out = jv_list_new(c->ar, d.d->n, kind);
    for (size_t i = 0; i < d.d->n; i++) {
        if (kind == JL_KEYS) out.l->v[i] = d.d->k[i];
        else if (kind == JL_VALUES) out.l->v[i] = d.d->v[i];
        else {
            jval t = jv_list_new(c->ar, 2, JL_TUPLE);
            t.l->v[0] = d.d->k[i];
            t.l->v[1] = d.d->v[i];
            t.l->n = 2;
            out.l->v[i] = t;
        }
    }
    out.l->n = d.d->n;
    return out;
}
static jval m_items(jctx *c, jval d, jargs *a) { jargs_check(c, a, "items", 0, NULL); return view(c, d, JL_ITEMS); }
static jval m_keys(jctx *c, jval d, jargs *a) { jargs_check(c, a, "keys", 0, NULL); return view(c, d, JL_KEYS); }
static jval m_values(jctx *c, jval d, jargs *a) { jargs_check(c, a, "values", 0, NULL); return view(c, d, JL_VALUES); }
static jval m_get(jctx *c, jval d, jargs *a) {
    if (a->nkw || a->npos < 1 || a->npos > 2) jerr(c, "get expected 1 or 2 arguments");
    jval *v = jv_dict_get(d.d, a->pos[0]);
    return v ? *v : a->npos > 1 ? a->pos[1] : jv_none();
}
static jval m_copy(jctx *c, jval d, jargs *a) {
    jargs_check(c, a, "copy", 0, NULL);
    jval out = jv_dict_new(c->ar, d.d->n);
    for (size_t i = 0; i < d.d->n; i++) jv_dict_set(c->ar, out.d, d.d->k[i], d.d->v[i]);
    return out;
}

static jval m_list_index(jctx *c, jval l, jargs *a) {
    if (a->nkw || a->npos != 1) jerr(c, "index() takes exactly one argument");
    for (size_t i = 0; i < l.l->n; i++)
        if (jv_equal(l.l->v[i], a->pos[0])) return jv_int((int64_t)i);
    jerr(c, "value is not in list");
}
static jval m_list_count(jctx *c, jval l, jargs *a) {
    if (a->nkw || a->npos != 1) jerr(c, "count() takes exactly one argument");
    int64_t k = 0;
    for (size_t i = 0; i < l.l->n; i++) k += jv_equal(l.l->v[i], a->pos[0]);
    return jv_int(k);
}

static jval m_cycle(jctx *c, jval lp, jargs *a) {
    if (!a->npos) jerr(c, "no items for cycling given");
    return a->pos[lp.loop->index0 % a->npos];
}
static jval m_changed(jctx *c, jval lp, jargs *a) {
    jval cur = jv_list_new(c->ar, a->npos, JL_TUPLE);
    if (a->npos) memcpy(cur.l->v, a->pos, a->npos * sizeof(jval));
    cur.l->n = a->npos;
    if (lp.loop->changed_set && jv_equal(lp.loop->last_changed, cur)) return jv_bool(false);
    lp.loop->last_changed = cur;
    lp.loop->changed_set = true;
    return jv_bool(true);
}

typedef struct {
    uint8_t type; /* jvtype the method belongs to */
    const char *name;
    jbuiltin_fn fn; /* NULL: unsafe (mutating) in the sandbox */
} method_entry;

static const method_entry METHODS[] = {
    {JV_STR, "strip", m_strip}, {JV_STR, "lstrip", m_lstrip}, {JV_STR, "rstrip", m_rstrip},
    {JV_STR, "split", m_split}, {JV_STR, "rsplit", m_rsplit}, {JV_STR, "splitlines", m_splitlines},
    {JV_STR, "startswith", m_startswith}, {JV_STR, "endswith", m_endswith}, {JV_STR, "lower", m_lower},
    {JV_STR, "upper", m_upper}, {JV_STR, "capitalize", m_capitalize}, {JV_STR, "title", m_title},
    {JV_STR, "swapcase", m_swapcase}, {JV_STR, "replace", m_replace}, {JV_STR, "find", m_find},
    {JV_STR, "rfind", m_rfind}, {JV_STR, "index", m_index}, {JV_STR, "rindex", m_rindex},
    {JV_STR, "count", m_count}, {JV_STR, "join", m_join}, {JV_STR, "format", m_format},
    {JV_STR, "removeprefix", m_removeprefix}, {JV_STR, "removesuffix", m_removesuffix},
    {JV_STR, "isdigit", m_isdigit}, {JV_STR, "isalpha", m_isalpha}, {JV_STR, "isalnum", m_isalnum},
    {JV_STR, "isspace", m_isspace},
    {JV_DICT, "items", m_items}, {JV_DICT, "keys", m_keys}, {JV_DICT, "values", m_values},
    {JV_DICT, "get", m_get}, {JV_DICT, "copy", m_copy}, {JV_DICT, "pop", NULL}, {JV_DICT, "popitem", NULL},
    {JV_DICT, "setdefault", NULL}, {JV_DICT, "update", NULL}, {JV_DICT, "clear", NULL},
    {JV_LIST, "index", m_list_index}, {JV_LIST, "count", m_list_count}, {JV_LIST, "append", NULL},
    {JV_LIST, "extend", NULL}, {JV_LIST, "insert", NULL}, {JV_LIST, "pop", NULL}, {JV_LIST, "remove", NULL},
    {JV_LIST, "reverse", NULL}, {JV_LIST, "sort", NULL}, {JV_LIST, "clear", NULL},
    {JV_LOOP, "cycle", m_cycle}, {JV_LOOP, "changed", m_changed},
};

jval jmethod(jctx *c, jval self, const char *name, size_t n, bool *found) {
    *found = false;
    uint8_t t = self.t;
    if (t == JV_LIST && self.l->kind != JL_LIST && self.l->kind != JL_TUPLE) return jv_undef();
    for (size_t i = 0; i < AM_ARRAY_LEN(METHODS); i++) {
        const method_entry *m = &METHODS[i];
        if (m->type != t || strlen(m->name) != n || memcmp(m->name, name, n) != 0) continue;
        if (t == JV_LIST && self.l->kind == JL_TUPLE && !m->fn) continue; /* tuples have no mutators */
        *found = true;
        if (!m->fn) {
            jval u = jv_undef();
            u.u = jalloc(c->ar, sizeof *u.u);
            char *msg = jalloc(c->ar, 128);
            snprintf(msg, 128, "access to attribute '%s' of '%s' object is unsafe.", m->name, jv_type_name(self));
            u.u->hint = msg;
            return u;
        }
        jval f = {0};
        f.t = JV_FUNC;
        f.fn = jalloc(c->ar, sizeof *f.fn);
        f.fn->kind = JF_BUILTIN;
        f.fn->name = m->name;
        f.fn->fn = m->fn;
        f.fn->self = self;
        return f;
    }
    return jv_undef();
}

/* ---- globals ---- */

#define MAX_RANGE 100000

static jval g_range(jctx *c, jval self, jargs *a) {
    (void)self;
    if (a->nkw || a->npos < 1 || a->npos > 3) jerr(c, "range expected 1 to 3 arguments");
    for (size_t i = 0; i < a->npos; i++)
        if (a->pos[i].t != JV_INT && a->pos[i].t != JV_BOOL)
            jerr(c, "'%s' object cannot be interpreted as an integer", jv_type_name(a->pos[i]));
#define I(k) (a->pos[k].t == JV_INT ? a->pos[k].i : (int64_t)a->pos[k].b)
    int64_t start = a->npos > 1 ? I(0) : 0, stop = a->npos > 1 ? I(1) : I(0), step = a->npos > 2 ? I(2) : 1;
#undef I
    if (step == 0) jerr(c, "range() arg 3 must not be zero");
    double count = step > 0 ? ((double)stop - (double)start) / (double)step : ((double)start - (double)stop) / (double)-step;
    if (count > MAX_RANGE) jerr(c, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", MAX_RANGE);
    jval out = jv_list_new(c->ar, 0, JL_RANGE);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) jv_list_push(c->ar, out.l, jv_int(i));
    return out;
}

static jval dict_from_args(jctx *c, jargs *a, const char *fn) {
    jval d = jv_dict_new(c->ar, 0);
    if (a->npos > 1) jerr(c, "%s expected at most 1 positional argument", fn);
    if (a->npos) {
        jval src = a->pos[0];
        if (src.t == JV_DICT || src.t == JV_NS) {
            for (size_t i = 0; i < src.d->n; i++) jv_dict_set(c->ar, d.d, src.d->k[i], src.d->v[i]);
        } else {
            size_t n;
            jval *v = jiter(c, src, &n);
            for (size_t i = 0; i < n; i++) {
                size_t k;
                jval *kv = jiter(c, v[i], &k);
                if (k != 2) jerr(c, "dictionary update sequence element #%zu has length %zu; 2 is required", i, k);
                jv_dict_set(c->ar, d.d, kv[0], kv[1]);
            }
        }
    }
    for (size_t i = 0; i < a->nkw; i++) jv_dict_set(c->ar, d.d, jv_cstr(a->kwn[i]), a->kwv[i]);
    return d;
}

static jval g_namespace(jctx *c, jval self, jargs *a) {
    (void)self;
    jval d = dict_from_args(c, a, "namespace");
    d.t = JV_NS;
    return d;
}

static jval g_dict(jctx *c, jval self, jargs *a) {
    (void)self;
    return dict_from_args(c, a, "dict");
}

static jval g_raise_exception(jctx *c, jval self, jargs *a) {
    (void)self;
    jval *m = jarg(a, 0, "message");
    jsb b;
    jsb_init(&b, c->ar, 4096);
    if (m) jv_to_str(c, &b, *m);
    jerr(c, "%s", b.p ? b.p : "");
}

static jval g_strftime_now(jctx *c, jval self, jargs *a) {
    (void)self;
    jval *f = jarg(a, 0, "format");
    if (!f || f->t != JV_STR) jerr(c, "strftime_now() needs a format string");
    if (f->s.n > 256) jerr(c, "strftime_now(): format too long");
    char *fmt = jstrndup(c->ar, f->s.p, f->s.n);
    struct tm tm;
    if (c->now_fixed) {
        time_t t = (time_t)c->now;
        gmtime_r(&t, &tm);
    } else {
        time_t t = time(NULL);
        localtime_r(&t, &tm);
    }
    char buf[4096];
    if (!f->s.n) return jv_str("", 0);
    size_t n = strftime(buf, sizeof buf, fmt, &tm);
    if (!n) jerr(c, "strftime_now(): result empty or too long");
    return jv_str(jstrndup(c->ar, buf, n), n);
}

void jglobals_install(jctx *c, jscope *s) {
    static const struct {
        const char *name;
        jbuiltin_fn fn;
    } G[] = {{"range", g_range}, {"namespace", g_namespace}, {"dict", g_dict},
             {"raise_exception", g_raise_exception}, {"strftime_now", g_strftime_now}};
    for (size_t i = 0; i < AM_ARRAY_LEN(G); i++) {
        const char *name = jintern_find(c->tpl, G[i].name, strlen(G[i].name));
        if (!name) continue; /* the template never mentions it */
        jval f = {0};
        f.t = JV_FUNC;
        f.fn = jalloc(c->ar, sizeof *f.fn);
        f.fn->kind = JF_BUILTIN;
        f.fn->name = G[i].name;
        f.fn->fn = G[i].fn;
        jscope_set(c, s, name, f);
    }
}
