/*
 * jinja_value.c — the template interpreter's memory arena, value containers
 * (list, dict), string builder, and Python truthiness/equality.
 *
 * Owns no global state. Allocation beyond the arena budget unwinds through
 * the arena's jfail; it never returns NULL and never aborts on hostile input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"

struct jchunk {
    jchunk *next;
    size_t size, used;
    _Alignas(16) char data[];
};

void jfail_at(jfail *f, int line, const char *fmt, ...) {
    if (f->err) {
        char msg[sizeof f->err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        char full[sizeof msg + 40];
        if (line > 0)
            snprintf(full, sizeof full, "%s (template line %d)", msg, line);
        else
            snprintf(full, sizeof full, "%s", msg);
        memcpy(f->err->msg, full, sizeof f->err->msg - 1);
        f->err->msg[sizeof f->err->msg - 1] = 0;
    }
    longjmp(f->jb, 1);
}

void jarena_init(jarena *a, size_t budget, jfail *fail) {
    memset(a, 0, sizeof *a);
    a->budget = budget;
    a->fail = fail;
}

void jarena_free(jarena *a) {
    jchunk *c = a->head;
    while (c) {
        jchunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
    a->last = NULL;
}

void *jalloc(jarena *a, size_t n) {
    void *p = jalloc_raw(a, n);
    memset(p, 0, n);
    return p;
}

bool jarena_str_extend(jarena *a, const char *p, size_t n, size_t add) {
    jchunk *c = a->head;
    if (!c || p != a->last || n != a->last_str_n) return false;
    size_t start = (size_t)(p - c->data);
    size_t want = n + add + 1;
    if (want < n) return false;
    size_t need = (want + 15) & ~(size_t)15;
    if (need < want || c->size - start < need) return false;
    if (a->budget && c->used < start + need && a->total > a->budget) return false;
    c->used = start + need;
    a->last_n = need;
    a->last_str_n = n + add;
    return true;
}

void *jalloc_raw(jarena *a, size_t n) {
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) jfail_at(a->fail, 0, "template: allocation size overflow");
    jchunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t sz = need > (64u << 10) ? need : (64u << 10);
        if (c && c->size * 2 > sz && c->size < (4u << 20)) sz = c->size * 2;
        if (a->budget && (a->total + sz > a->budget || sz > a->budget))
            jfail_at(a->fail, a->fail->line, "template: memory limit of %zu bytes exceeded", a->budget);
        c = malloc(sizeof *c + sz);
        if (!c) jfail_at(a->fail, a->fail->line, "template: out of memory");
        c->size = sz;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->total += sz;
    }
    char *p = c->data + c->used;
    c->used += need;
    a->last = p;
    a->last_n = need;
    a->last_str_n = SIZE_MAX;
    return p;
}

void *jrealloc(jarena *a, void *p, size_t old_n, size_t new_n) {
    if (!p) return jalloc(a, new_n);
    if (new_n <= old_n) return p;
    jchunk *c = a->head;
    /* Grow in place when p is the chunk's most recent allocation. */
    if (c && p == a->last && (char *)p + a->last_n == c->data + c->used) {
        size_t need = (new_n + 15) & ~(size_t)15;
        size_t start = (size_t)((char *)p - c->data);
        if (need >= new_n && c->size - start >= need) {
            memset((char *)p + old_n, 0, new_n - old_n);
            c->used = start + need;
            a->last_n = need;
            return p;
        }
    }
    void *q = jalloc(a, new_n);
    memcpy(q, p, old_n);
    return q;
}

char *jstrndup(jarena *a, const char *s, size_t n) {
    if (n + 1 == 0) jfail_at(a->fail, 0, "template: size overflow");
    char *p = jalloc(a, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* ---- values ---- */

jval jv_cstr(const char *s) { return jv_str(s, strlen(s)); }

jval jv_list_new(jarena *a, size_t cap, jlkind kind) {
    jval v = {0};
    v.t = JV_LIST;
    v.l = jalloc(a, sizeof *v.l);
    v.l->kind = (uint8_t)kind;
    if (cap) {
        if (cap > SIZE_MAX / sizeof(jval)) jfail_at(a->fail, 0, "template: list too large");
        v.l->v = jalloc(a, cap * sizeof(jval));
        v.l->cap = cap;
    }
    return v;
}

void jv_list_push(jarena *a, jlist *l, jval x) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        if (nc > SIZE_MAX / sizeof(jval)) jfail_at(a->fail, 0, "template: list too large");
        l->v = jrealloc(a, l->v, l->cap * sizeof(jval), nc * sizeof(jval));
        l->cap = nc;
    }
    l->v[l->n++] = x;
}

jval jv_dict_new(jarena *a, size_t cap) {
    jval v = {0};
    v.t = JV_DICT;
    v.d = jalloc(a, sizeof *v.d);
    if (cap) {
        if (cap > SIZE_MAX / sizeof(jval)) jfail_at(a->fail, 0, "template: dict too large");
        v.d->k = jalloc(a, cap * sizeof(jval));
        v.d->v = jalloc(a, cap * sizeof(jval));
        v.d->cap = cap;
    }
    return v;
}

jval *jv_dict_get_str(jdict *d, const char *key, size_t n) {
    for (size_t i = 0; i < d->n; i++) {
        jval *k = &d->k[i];
        if (k->t == JV_STR && k->s.n == n && (n == 0 || memcmp(k->s.p, key, n) == 0)) return &d->v[i];
    }
    return NULL;
}

jval *jv_dict_get(jdict *d, jval key) {
    if (key.t == JV_STR) return jv_dict_get_str(d, key.s.p, key.s.n);
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->k[i], key)) return &d->v[i];
    return NULL;
}

void jv_dict_set(jarena *a, jdict *d, jval key, jval val) {
    jval *slot = jv_dict_get(d, key);
    if (slot) {
        *slot = val;
        return;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 4;
        if (nc > SIZE_MAX / sizeof(jval)) jfail_at(a->fail, 0, "template: dict too large");
        d->k = jrealloc(a, d->k, d->cap * sizeof(jval), nc * sizeof(jval));
        d->v = jrealloc(a, d->v, d->cap * sizeof(jval), nc * sizeof(jval));
        d->cap = nc;
    }
    d->k[d->n] = key;
    d->v[d->n] = val;
    d->n++;
}

bool jv_truthy(jval v) {
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: return false;
    case JV_BOOL: return v.b;
    case JV_INT: return v.i != 0;
    case JV_FLOAT: return v.f != 0.0;
    case JV_STR: return v.s.n != 0;
    case JV_LIST:
        /* A generator or iterator object is always true in Python. */
        if (v.l->kind == JL_GEN || v.l->kind == JL_ITER) return true;
        return v.l->n != 0;
    case JV_DICT: return v.d->n != 0;
    default: return true;
    }
}

static bool is_number(jval v) { return v.t == JV_BOOL || v.t == JV_INT || v.t == JV_FLOAT; }
static double num_f(jval v) { return v.t == JV_FLOAT ? v.f : v.t == JV_INT ? (double)v.i : (double)v.b; }
static int64_t num_i(jval v) { return v.t == JV_INT ? v.i : (int64_t)v.b; }

bool jv_equal(jval a, jval b) {
    if (is_number(a) && is_number(b)) {
        if (a.t == JV_FLOAT || b.t == JV_FLOAT) return num_f(a) == num_f(b);
        return num_i(a) == num_i(b);
    }
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR: return a.s.n == b.s.n && (a.s.n == 0 || memcmp(a.s.p, b.s.p, a.s.n) == 0);
    case JV_LIST: {
        if (a.l == b.l) return true;
        bool at = a.l->kind == JL_TUPLE, bt = b.l->kind == JL_TUPLE;
        bool aseq = a.l->kind == JL_LIST || at, bseq = b.l->kind == JL_LIST || bt;
        if (!aseq || !bseq || at != bt) return false; /* generators compare by identity */
        if (a.l->n != b.l->n) return false;
        for (size_t i = 0; i < a.l->n; i++)
            if (!jv_equal(a.l->v[i], b.l->v[i])) return false;
        return true;
    }
    case JV_DICT: {
        if (a.d == b.d) return true;
        if (a.d->n != b.d->n) return false;
        for (size_t i = 0; i < a.d->n; i++) {
            jval *o = jv_dict_get(b.d, a.d->k[i]);
            if (!o || !jv_equal(a.d->v[i], *o)) return false;
        }
        return true;
    }
    case JV_NS: return a.d == b.d;
    case JV_FUNC: return a.fn == b.fn;
    case JV_LOOP: return a.loop == b.loop;
    default: return false;
    }
}

bool jv_is_str(jval v, const char *s) {
    size_t n = strlen(s);
    return v.t == JV_STR && v.s.n == n && memcmp(v.s.p, s, n) == 0;
}

const char *jv_type_name(jval v) {
    switch (v.t) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST:
        switch (v.l->kind) {
        case JL_TUPLE: return "tuple";
        case JL_GEN: return "generator";
        case JL_ITER: return "list_reverseiterator";
        case JL_KEYS: return "dict_keys";
        case JL_VALUES: return "dict_values";
        case JL_ITEMS: return "dict_items";
        case JL_RANGE: return "range";
        default: return "list";
        }
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_FUNC: return v.fn->kind == JF_MACRO ? "Macro" : "builtin_function_or_method";
    case JV_LOOP: return "LoopContext";
    default: return "object";
    }
}

/* ---- string builder ---- */

void jsb_init(jsb *b, jarena *a, size_t limit) {
    memset(b, 0, sizeof *b);
    b->ar = a;
    b->limit = limit;
}

void jsb_put(jsb *b, const char *s, size_t n) {
    if (!n) return;
    if (b->limit && (n > b->limit || b->n > b->limit - n))
        jfail_at(b->ar->fail, b->ar->fail->line, "template: output larger than the limit of %zu bytes", b->limit);
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->n + n + 1) {
            if (nc > SIZE_MAX / 2) jfail_at(b->ar->fail, 0, "template: string too large");
            nc *= 2;
        }
        if (b->heap) {
            if (b->ar->budget && nc > b->ar->budget)
                jfail_at(b->ar->fail, b->ar->fail->line, "template: memory limit of %zu bytes exceeded", b->ar->budget);
            char *q = realloc(b->p, nc);
            if (!q) jfail_at(b->ar->fail, b->ar->fail->line, "template: out of memory");
            b->p = q;
        } else {
            b->p = jrealloc(b->ar, b->p, b->cap, nc);
        }
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void jsb_putc(jsb *b, char ch) { jsb_put(b, &ch, 1); }

void jsb_printf(jsb *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        jsb_put(b, tmp, (size_t)n);
        return;
    }
    char *big = jalloc(b->ar, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    jsb_put(b, big, (size_t)n);
}
