/*
 * jinja_parse.c — tokens to a syntax tree, following Jinja2's grammar and
 * operator precedence (filters and tests bind tighter than arithmetic; `**`
 * is left-associative as in Jinja).
 *
 * Everything the interpreter cannot run is refused here, at load time, with
 * the construct and line: unknown filters and tests, template inheritance and
 * includes, recursive loops, `*args` calls. Nesting depth is limited so a
 * hostile template cannot exhaust the C stack.
 */
#include <stdio.h>
#include <string.h>

#include "text/jinja.h"

typedef struct ps {
    jtemplate *t;
    jfail *f;
    jtoken *tk;
    size_t i, n;
    int depth, max_depth;
    int loop_depth;
    uint16_t *macro_flags; /* innermost macro being parsed */
} ps;

enum { MF_CALLER = 1, MF_VARARGS = 2, MF_KWARGS = 4 };

static uint64_t hash_name(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

const char *jintern(jtemplate *t, const char *s, size_t n) {
    if (t->ninterned * 2 >= t->intern_cap) {
        size_t nc = t->intern_cap ? t->intern_cap * 2 : 64;
        const char **slots = jalloc(&t->ar, nc * sizeof *slots);
        for (size_t i = 0; i < t->intern_cap; i++) {
            const char *e = t->interned[i];
            if (!e) continue;
            size_t h = hash_name(e, strlen(e)) & (nc - 1);
            while (slots[h]) h = (h + 1) & (nc - 1);
            slots[h] = e;
        }
        t->interned = slots;
        t->intern_cap = nc;
    }
    size_t h = hash_name(s, n) & (t->intern_cap - 1);
    while (t->interned[h]) {
        const char *e = t->interned[h];
        if (strlen(e) == n && memcmp(e, s, n) == 0) return e;
        h = (h + 1) & (t->intern_cap - 1);
    }
    const char *e = jstrndup(&t->ar, s, n);
    t->interned[h] = e;
    t->ninterned++;
    return e;
}

const char *jintern_find(const jtemplate *t, const char *s, size_t n) {
    if (!t->intern_cap) return NULL;
    size_t h = hash_name(s, n) & (t->intern_cap - 1);
    while (t->interned[h]) {
        const char *e = t->interned[h];
        if (strlen(e) == n && memcmp(e, s, n) == 0) return e;
        h = (h + 1) & (t->intern_cap - 1);
    }
    return NULL;
}

static jtoken *cur(ps *P) { return &P->tk[P->i < P->n ? P->i : P->n - 1]; }
static jtoken *peek(ps *P, size_t k) { return &P->tk[P->i + k < P->n ? P->i + k : P->n - 1]; }
static void next(ps *P) { if (P->i < P->n - 1) P->i++; }

static bool is_op(jtoken *t, const char *op) {
    return t->kind == TK_OP && t->n == strlen(op) && memcmp(t->s, op, t->n) == 0;
}
static bool is_name(jtoken *t, const char *w) {
    return t->kind == TK_NAME && t->n == strlen(w) && memcmp(t->s, w, t->n) == 0;
}
static bool accept_op(ps *P, const char *op) {
    if (!is_op(cur(P), op)) return false;
    next(P);
    return true;
}
static bool accept_name(ps *P, const char *w) {
    if (!is_name(cur(P), w)) return false;
    next(P);
    return true;
}

static const char *tok_desc(jtoken *t, char *buf, size_t cap) {
    switch (t->kind) {
    case TK_EOF: return "end of template";
    case TK_VAR_END: return "'}}'";
    case TK_BLOCK_END: return "'%}'";
    case TK_VAR_BEGIN: return "'{{'";
    case TK_BLOCK_BEGIN: return "'{%'";
    case TK_TEXT: return "text";
    case TK_STRING: return "a string";
    case TK_INT: case TK_FLOAT: return "a number";
    default:
        snprintf(buf, cap, "'%.*s'", (int)AM_MIN(t->n, 40), t->s);
        return buf;
    }
}

_Noreturn static void unexpected(ps *P, const char *what) {
    char buf[64];
    jfail_at(P->f, cur(P)->line, "template syntax error: expected %s, got %s", what, tok_desc(cur(P), buf, sizeof buf));
}

static void expect_op(ps *P, const char *op) {
    if (!accept_op(P, op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        unexpected(P, w);
    }
}
static void expect_kind(ps *P, int kind, const char *what) {
    if (cur(P)->kind != kind) unexpected(P, what);
    next(P);
}
static const char *expect_name(ps *P) {
    jtoken *t = cur(P);
    if (t->kind != TK_NAME) unexpected(P, "a name");
    next(P);
    return jintern(P->t, t->s, t->n);
}

static jnode *node(ps *P, int kind, int line) {
    jnode *n = jalloc(&P->t->ar, sizeof *n);
    n->kind = (uint16_t)kind;
    n->line = line;
    return n;
}

/* Growable node-pointer vector in the arena. */
typedef struct nvec {
    jnode **v;
    size_t n, cap;
} nvec;
static void nv_push(ps *P, nvec *v, jnode *x) {
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 4;
        v->v = jrealloc(&P->t->ar, v->v, v->cap * sizeof(jnode *), nc * sizeof(jnode *));
        v->cap = nc;
    }
    v->v[v->n++] = x;
}
typedef struct svec {
    const char **v;
    size_t n, cap;
} svec;
static void sv_push(ps *P, svec *v, const char *x) {
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 4;
        v->v = jrealloc(&P->t->ar, v->v, v->cap * sizeof(char *), nc * sizeof(char *));
        v->cap = nc;
    }
    v->v[v->n++] = x;
}

static void enter(ps *P) {
    if (++P->depth > P->max_depth)
        jfail_at(P->f, cur(P)->line, "template: nesting deeper than %d levels", P->max_depth);
}
static void leave(ps *P) { P->depth--; }

static jnode *parse_expr(ps *P);
static jnode *parse_or(ps *P);
static jnode *parse_unary(ps *P, bool with_filter);
static jnode *parse_primary(ps *P);
static jnode *parse_postfix(ps *P, jnode *n);

/* ( args ) after '(' was seen: positional and keyword arguments. */
static void parse_call_args(ps *P, jnode *n) {
    nvec pos = {0}, kwv = {0};
    svec kwn = {0};
    while (!is_op(cur(P), ")")) {
        if (pos.n + kwv.n && !accept_op(P, ",")) unexpected(P, "',' or ')'");
        if (is_op(cur(P), ")")) break;
        if (is_op(cur(P), "*") || is_op(cur(P), "**"))
            jfail_at(P->f, cur(P)->line, "unsupported template construct: *args/**kwargs in a call");
        if (cur(P)->kind == TK_NAME && is_op(peek(P, 1), "=")) {
            sv_push(P, &kwn, expect_name(P));
            next(P);
            nv_push(P, &kwv, parse_expr(P));
        } else {
            nv_push(P, &pos, parse_expr(P));
        }
    }
    expect_op(P, ")");
    n->kids = pos.v;
    n->nkids = pos.n;
    n->names = kwn.v;
    n->nnames = kwn.n;
    n->kwv = kwv.v;
}

static const char *dotted_name(ps *P, char *buf, size_t cap) {
    jtoken *t = cur(P);
    if (t->kind != TK_NAME) unexpected(P, "a name");
    size_t k = 0;
    for (;;) {
        t = cur(P);
        if (t->kind != TK_NAME) unexpected(P, "a name");
        if (k + t->n + 2 >= cap) jfail_at(P->f, t->line, "template: name too long");
        memcpy(buf + k, t->s, t->n);
        k += t->n;
        next(P);
        if (!is_op(cur(P), ".")) break;
        buf[k++] = '.';
        next(P);
    }
    buf[k] = 0;
    return buf;
}

static jnode *parse_filter(ps *P, jnode *input) {
    int line = cur(P)->line;
    char buf[128];
    const char *name = dotted_name(P, buf, sizeof buf);
    jnode *n = node(P, N_FILTER, line);
    n->a = input;
    n->name = jintern(P->t, name, strlen(name));
    n->filter = jfilter_find(name);
    if (!n->filter) jfail_at(P->f, line, "unsupported template construct: no filter named '%s'", name);
    if (accept_op(P, "(")) parse_call_args(P, n);
    return n;
}

static jnode *parse_test(ps *P, jnode *input) {
    int line = cur(P)->line;
    jnode *n = node(P, N_TEST, line);
    n->a = input;
    if (accept_name(P, "not")) n->op = 1;
    char buf[128];
    const char *name = dotted_name(P, buf, sizeof buf);
    n->name = jintern(P->t, name, strlen(name));
    n->test = jtest_find(name);
    if (!n->test) jfail_at(P->f, line, "unsupported template construct: no test named '%s'", name);
    jtoken *t = cur(P);
    if (accept_op(P, "(")) {
        parse_call_args(P, n);
    } else if ((t->kind == TK_NAME || t->kind == TK_STRING || t->kind == TK_INT || t->kind == TK_FLOAT ||
                is_op(t, "[") || is_op(t, "{")) &&
               !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
        if (is_name(t, "is")) jfail_at(P->f, t->line, "template syntax error: cannot chain tests with 'is'");
        jnode *arg = parse_postfix(P, parse_primary(P));
        n->kids = jalloc(&P->t->ar, sizeof(jnode *));
        n->kids[0] = arg;
        n->nkids = 1;
    }
    return n;
}

static jnode *parse_filter_expr(ps *P, jnode *n) {
    for (;;) {
        if (accept_op(P, "|")) n = parse_filter(P, n);
        else if (is_name(cur(P), "is")) { next(P); n = parse_test(P, n); }
        else if (is_op(cur(P), "(")) {
            jnode *c = node(P, N_CALL, cur(P)->line);
            next(P);
            c->a = n;
            parse_call_args(P, c);
            n = c;
        } else break;
    }
    return n;
}

static jnode *parse_subscript(ps *P, jnode *obj, int line) {
    jnode *start = NULL;
    if (!is_op(cur(P), ":")) {
        start = parse_expr(P);
        if (accept_op(P, "]")) {
            jnode *n = node(P, N_ITEM, line);
            n->a = obj;
            n->b = start;
            return n;
        }
    }
    jnode *n = node(P, N_SLICE, line);
    n->a = obj;
    n->b = start;
    expect_op(P, ":");
    if (!is_op(cur(P), "]") && !is_op(cur(P), ":")) n->c = parse_expr(P);
    if (accept_op(P, ":") && !is_op(cur(P), "]")) n->d = parse_expr(P);
    expect_op(P, "]");
    return n;
}

static jnode *parse_postfix(ps *P, jnode *n) {
    for (;;) {
        jtoken *t = cur(P);
        if (is_op(t, ".")) {
            next(P);
            jtoken *a = cur(P);
            if (a->kind == TK_NAME) {
                jnode *x = node(P, N_ATTR, a->line);
                x->a = n;
                x->name = jintern(P->t, a->s, a->n);
                next(P);
                n = x;
            } else if (a->kind == TK_INT) {
                jnode *x = node(P, N_ITEM, a->line);
                x->a = n;
                x->b = node(P, N_LIT, a->line);
                x->b->lit = jv_int(a->i);
                next(P);
                n = x;
            } else {
                unexpected(P, "an attribute name");
            }
        } else if (is_op(t, "[")) {
            next(P);
            n = parse_subscript(P, n, t->line);
        } else if (is_op(t, "(")) {
            next(P);
            jnode *c = node(P, N_CALL, t->line);
            c->a = n;
            parse_call_args(P, c);
            n = c;
        } else {
            return n;
        }
    }
}

static jnode *parse_primary(ps *P) {
    enter(P);
    jtoken *t = cur(P);
    jnode *n;
    if (t->kind == TK_NAME) {
        next(P);
        n = node(P, N_LIT, t->line);
        if (is_name(t, "true") || is_name(t, "True")) n->lit = jv_bool(true);
        else if (is_name(t, "false") || is_name(t, "False")) n->lit = jv_bool(false);
        else if (is_name(t, "none") || is_name(t, "None")) n->lit = jv_none();
        else {
            n->kind = N_NAME;
            n->name = jintern(P->t, t->s, t->n);
            if (P->macro_flags) {
                if (!strcmp(n->name, "caller")) *P->macro_flags |= MF_CALLER;
                if (!strcmp(n->name, "varargs")) *P->macro_flags |= MF_VARARGS;
                if (!strcmp(n->name, "kwargs")) *P->macro_flags |= MF_KWARGS;
            }
        }
    } else if (t->kind == TK_STRING) {
        n = node(P, N_LIT, t->line);
        next(P);
        if (cur(P)->kind != TK_STRING) {
            n->lit = jv_str(t->s, t->n);
        } else { /* adjacent literals concatenate */
            jsb b;
            jsb_init(&b, &P->t->ar, 0);
            jsb_put(&b, t->s, t->n);
            while (cur(P)->kind == TK_STRING) {
                jsb_put(&b, cur(P)->s, cur(P)->n);
                next(P);
            }
            n->lit = jv_str(b.p ? b.p : "", b.n);
        }
    } else if (t->kind == TK_INT || t->kind == TK_FLOAT) {
        n = node(P, N_LIT, t->line);
        n->lit = t->kind == TK_INT ? jv_int(t->i) : jv_float(t->f);
        next(P);
    } else if (is_op(t, "(")) {
        next(P);
        if (accept_op(P, ")")) {
            n = node(P, N_TUPLE, t->line);
        } else {
            n = parse_expr(P);
            if (is_op(cur(P), ",")) {
                nvec items = {0};
                nv_push(P, &items, n);
                while (accept_op(P, ",")) {
                    if (is_op(cur(P), ")")) break;
                    nv_push(P, &items, parse_expr(P));
                }
                n = node(P, N_TUPLE, t->line);
                n->kids = items.v;
                n->nkids = items.n;
            }
            expect_op(P, ")");
        }
    } else if (is_op(t, "[")) {
        next(P);
        nvec items = {0};
        while (!is_op(cur(P), "]")) {
            if (items.n && !accept_op(P, ",")) unexpected(P, "',' or ']'");
            if (is_op(cur(P), "]")) break;
            nv_push(P, &items, parse_expr(P));
        }
        expect_op(P, "]");
        n = node(P, N_LIST, t->line);
        n->kids = items.v;
        n->nkids = items.n;
    } else if (is_op(t, "{")) {
        next(P);
        nvec keys = {0}, vals = {0};
        while (!is_op(cur(P), "}")) {
            if (keys.n && !accept_op(P, ",")) unexpected(P, "',' or '}'");
            if (is_op(cur(P), "}")) break;
            nv_push(P, &keys, parse_expr(P));
            expect_op(P, ":");
            nv_push(P, &vals, parse_expr(P));
        }
        expect_op(P, "}");
        n = node(P, N_DICT, t->line);
        n->kids = keys.v;
        n->nkids = keys.n;
        n->kids2 = vals.v;
        n->nkids2 = vals.n;
    } else {
        unexpected(P, "an expression");
    }
    leave(P);
    return n;
}

static jnode *parse_unary(ps *P, bool with_filter) {
    enter(P);
    jtoken *t = cur(P);
    jnode *n;
    if (is_op(t, "-") || is_op(t, "+")) {
        next(P);
        n = node(P, is_op(t, "-") ? N_NEG : N_POS, t->line);
        n->a = parse_unary(P, false);
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) n = parse_filter_expr(P, n);
    leave(P);
    return n;
}

static jnode *bin(ps *P, int op, jnode *l, jnode *r, int line) {
    jnode *n = node(P, N_BIN, line);
    n->op = (uint16_t)op;
    n->a = l;
    n->b = r;
    return n;
}

static jnode *parse_pow(ps *P) {
    jnode *l = parse_unary(P, true);
    while (is_op(cur(P), "**")) {
        int line = cur(P)->line;
        next(P);
        l = bin(P, OP_POW, l, parse_unary(P, true), line);
    }
    return l;
}

static jnode *parse_math2(ps *P) {
    jnode *l = parse_pow(P);
    for (;;) {
        jtoken *t = cur(P);
        int op = is_op(t, "*") ? OP_MUL : is_op(t, "/") ? OP_DIV : is_op(t, "//") ? OP_FLOORDIV
               : is_op(t, "%") ? OP_MOD : -1;
        if (op < 0) return l;
        next(P);
        l = bin(P, op, l, parse_pow(P), t->line);
    }
}

static jnode *parse_concat(ps *P) {
    jnode *l = parse_math2(P);
    while (is_op(cur(P), "~")) {
        int line = cur(P)->line;
        next(P);
        l = bin(P, OP_CONCAT, l, parse_math2(P), line);
    }
    return l;
}

static jnode *parse_math1(ps *P) {
    jnode *l = parse_concat(P);
    for (;;) {
        jtoken *t = cur(P);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : -1;
        if (op < 0) return l;
        next(P);
        l = bin(P, op, l, parse_concat(P), t->line);
    }
}

static jnode *parse_compare(ps *P) {
    int line = cur(P)->line;
    jnode *first = parse_math1(P);
    nvec operands = {0};
    uint16_t ops[64];
    size_t nops = 0;
    for (;;) {
        jtoken *t = cur(P);
        int op = is_op(t, "==") ? OP_EQ : is_op(t, "!=") ? OP_NE : is_op(t, "<") ? OP_LT : is_op(t, "<=") ? OP_LE
               : is_op(t, ">") ? OP_GT : is_op(t, ">=") ? OP_GE : is_name(t, "in") ? OP_IN : -1;
        if (op < 0 && is_name(t, "not") && is_name(peek(P, 1), "in")) {
            next(P);
            op = OP_NOTIN;
        }
        if (op < 0) break;
        next(P);
        if (nops == AM_ARRAY_LEN(ops)) jfail_at(P->f, t->line, "template: comparison chain too long");
        if (!operands.n) nv_push(P, &operands, first);
        ops[nops++] = (uint16_t)op;
        nv_push(P, &operands, parse_math1(P));
    }
    if (!nops) return first;
    jnode *n = node(P, N_CMP, line);
    n->kids = operands.v;
    n->nkids = operands.n;
    n->ops = jalloc(&P->t->ar, nops * sizeof(uint16_t));
    memcpy(n->ops, ops, nops * sizeof(uint16_t));
    return n;
}

static jnode *parse_not(ps *P) {
    if (is_name(cur(P), "not")) {
        enter(P);
        jnode *n = node(P, N_NOT, cur(P)->line);
        next(P);
        n->a = parse_not(P);
        leave(P);
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(ps *P) {
    jnode *l = parse_not(P);
    while (is_name(cur(P), "and")) {
        jnode *n = node(P, N_AND, cur(P)->line);
        next(P);
        n->a = l;
        n->b = parse_not(P);
        l = n;
    }
    return l;
}

static jnode *parse_or(ps *P) {
    jnode *l = parse_and(P);
    while (is_name(cur(P), "or")) {
        jnode *n = node(P, N_OR, cur(P)->line);
        next(P);
        n->a = l;
        n->b = parse_and(P);
        l = n;
    }
    return l;
}

static jnode *parse_expr(ps *P) {
    enter(P);
    jnode *n = parse_or(P);
    while (is_name(cur(P), "if")) {
        jnode *c = node(P, N_COND, cur(P)->line);
        next(P);
        c->a = n;
        c->b = parse_or(P);
        if (accept_name(P, "else")) c->c = parse_expr(P);
        n = c;
    }
    leave(P);
    return n;
}

/* An expression that may be an unparenthesized tuple: `a, b`. */
static jnode *parse_tuple_expr(ps *P, bool condexpr) {
    int line = cur(P)->line;
    jnode *first = condexpr ? parse_expr(P) : parse_or(P);
    if (!is_op(cur(P), ",")) return first;
    nvec items = {0};
    nv_push(P, &items, first);
    while (accept_op(P, ",")) {
        jtoken *t = cur(P);
        if (t->kind == TK_BLOCK_END || t->kind == TK_VAR_END || is_name(t, "if") || is_op(t, ")")) break;
        nv_push(P, &items, condexpr ? parse_expr(P) : parse_or(P));
    }
    jnode *n = node(P, N_TUPLE, line);
    n->kids = items.v;
    n->nkids = items.n;
    return n;
}

/* ---- statements ---- */

static jnode *parse_body(ps *P, const char *const *ends, const char **which);

static void expect_block_end(ps *P) { expect_kind(P, TK_BLOCK_END, "'%}'"); }

static void parse_targets(ps *P, jnode *n) {
    svec names = {0};
    bool paren = accept_op(P, "(");
    do {
        if (paren && is_op(cur(P), ")")) break;
        sv_push(P, &names, expect_name(P));
    } while (accept_op(P, ","));
    if (paren) expect_op(P, ")");
    n->names = names.v;
    n->nnames = names.n;
}

static jnode *parse_if(ps *P, int line) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    static const char *const endif[] = {"endif", NULL};
    jnode *n = node(P, S_IF, line);
    n->a = parse_tuple_expr(P, true);
    expect_block_end(P);
    const char *which;
    n->b = parse_body(P, ends, &which);
    if (!strcmp(which, "elif")) {
        n->c = parse_if(P, cur(P)->line);
        return n; /* the nested if consumed endif */
    }
    if (!strcmp(which, "else")) {
        expect_block_end(P);
        n->c = parse_body(P, endif, &which);
    }
    expect_block_end(P);
    return n;
}

static jnode *parse_for(ps *P, int line) {
    static const char *const ends[] = {"else", "endfor", NULL};
    static const char *const endfor[] = {"endfor", NULL};
    jnode *n = node(P, S_FOR, line);
    parse_targets(P, n);
    if (!accept_name(P, "in")) unexpected(P, "'in'");
    n->a = parse_tuple_expr(P, false);
    if (accept_name(P, "if")) n->d = parse_expr(P);
    if (is_name(cur(P), "recursive"))
        jfail_at(P->f, cur(P)->line, "unsupported template construct: recursive for loop");
    expect_block_end(P);
    const char *which;
    P->loop_depth++;
    n->b = parse_body(P, ends, &which);
    P->loop_depth--;
    if (!strcmp(which, "else")) {
        expect_block_end(P);
        n->c = parse_body(P, endfor, &which);
    }
    expect_block_end(P);
    return n;
}

static jnode *parse_set(ps *P, int line) {
    static const char *const endset[] = {"endset", NULL};
    jtoken *t = cur(P);
    if (t->kind == TK_NAME && is_op(peek(P, 1), ".")) {
        jnode *n = node(P, S_SET_ATTR, line);
        n->name = expect_name(P);
        next(P);
        n->names = jalloc(&P->t->ar, sizeof(char *));
        n->names[0] = expect_name(P);
        n->nnames = 1;
        expect_op(P, "=");
        n->a = parse_tuple_expr(P, true);
        expect_block_end(P);
        return n;
    }
    jnode *n = node(P, S_SET, line);
    parse_targets(P, n);
    if (accept_op(P, "=")) {
        n->a = parse_tuple_expr(P, true);
        expect_block_end(P);
        return n;
    }
    if (n->nnames != 1) unexpected(P, "'='");
    n->kind = S_SET_BLOCK;
    nvec filters = {0};
    while (accept_op(P, "|")) nv_push(P, &filters, parse_filter(P, NULL));
    n->kids = filters.v;
    n->nkids = filters.n;
    expect_block_end(P);
    const char *which;
    n->b = parse_body(P, endset, &which);
    expect_block_end(P);
    return n;
}

/* ( name [= default], ... ) for macros and call blocks. */
static void parse_params(ps *P, jnode *n) {
    svec names = {0};
    nvec defs = {0};
    expect_op(P, "(");
    while (!is_op(cur(P), ")")) {
        if (names.n && !accept_op(P, ",")) unexpected(P, "',' or ')'");
        if (is_op(cur(P), ")")) break;
        sv_push(P, &names, expect_name(P));
        nv_push(P, &defs, accept_op(P, "=") ? parse_expr(P) : NULL);
    }
    expect_op(P, ")");
    n->names = names.v;
    n->nnames = names.n;
    n->kids2 = defs.v;
    n->nkids2 = defs.n;
}

static jnode *parse_macro_like(ps *P, jnode *n, const char *end) {
    const char *const ends[] = {end, NULL};
    uint16_t *saved = P->macro_flags;
    int saved_loop = P->loop_depth;
    P->macro_flags = &n->op;
    P->loop_depth = 0;
    const char *which;
    n->b = parse_body(P, ends, &which);
    P->macro_flags = saved;
    P->loop_depth = saved_loop;
    if (cur(P)->kind == TK_NAME) next(P); /* {% endmacro name %} */
    expect_block_end(P);
    return n;
}

static jnode *parse_stmt(ps *P) {
    jtoken *kw = cur(P);
    int line = kw->line;
    if (kw->kind != TK_NAME) unexpected(P, "a statement name");
    next(P);
    if (is_name(kw, "if")) return parse_if(P, line);
    if (is_name(kw, "for")) return parse_for(P, line);
    if (is_name(kw, "set")) return parse_set(P, line);
    if (is_name(kw, "macro")) {
        jnode *n = node(P, S_MACRO, line);
        n->name = expect_name(P);
        parse_params(P, n);
        expect_block_end(P);
        return parse_macro_like(P, n, "endmacro");
    }
    if (is_name(kw, "call")) {
        jnode *n = node(P, S_CALL_BLOCK, line);
        if (is_op(cur(P), "(")) parse_params(P, n);
        n->a = parse_expr(P);
        if (n->a->kind != N_CALL) jfail_at(P->f, line, "template syntax error: {%% call %%} needs a macro call");
        expect_block_end(P);
        return parse_macro_like(P, n, "endcall");
    }
    if (is_name(kw, "filter")) {
        static const char *const ends[] = {"endfilter", NULL};
        jnode *n = node(P, S_FILTER_BLOCK, line);
        nvec filters = {0};
        do nv_push(P, &filters, parse_filter(P, NULL));
        while (accept_op(P, "|"));
        n->kids = filters.v;
        n->nkids = filters.n;
        expect_block_end(P);
        const char *which;
        n->b = parse_body(P, ends, &which);
        expect_block_end(P);
        return n;
    }
    if (is_name(kw, "generation")) { /* transformers' assistant-mask extension: render the body */
        static const char *const ends[] = {"endgeneration", NULL};
        expect_block_end(P);
        const char *which;
        jnode *n = parse_body(P, ends, &which);
        expect_block_end(P);
        return n;
    }
    if (is_name(kw, "break") || is_name(kw, "continue")) {
        if (!P->loop_depth)
            jfail_at(P->f, line, "template syntax error: '%.*s' outside a for loop", (int)kw->n, kw->s);
        expect_block_end(P);
        return node(P, is_name(kw, "break") ? S_BREAK : S_CONTINUE, line);
    }
    jfail_at(P->f, line, "unsupported template construct: {%% %.*s %%}", (int)AM_MIN(kw->n, 40), kw->s);
}

static bool is_end_word(jtoken *t) {
    static const char *const words[] = {"elif", "else", "endif", "endfor", "endset", "endmacro", "endcall",
                                        "endfilter", "endgeneration", "endraw", NULL};
    for (size_t i = 0; words[i]; i++)
        if (is_name(t, words[i])) return true;
    return false;
}

static jnode *parse_body(ps *P, const char *const *ends, const char **which) {
    enter(P);
    jnode *body = node(P, S_BODY, cur(P)->line);
    nvec kids = {0};
    for (;;) {
        jtoken *t = cur(P);
        if (t->kind == TK_EOF) {
            if (ends) jfail_at(P->f, t->line, "template syntax error: unexpected end of template, expected '{%% %s %%}'", ends[0]);
            break;
        }
        if (t->kind == TK_TEXT) {
            jnode *n = node(P, S_TEXT, t->line);
            n->lit = jv_str(t->s, t->n);
            nv_push(P, &kids, n);
            next(P);
        } else if (t->kind == TK_VAR_BEGIN) {
            next(P);
            jnode *n = node(P, S_OUTPUT, t->line);
            n->a = parse_tuple_expr(P, true);
            expect_kind(P, TK_VAR_END, "'}}'");
            nv_push(P, &kids, n);
        } else if (t->kind == TK_BLOCK_BEGIN) {
            jtoken *kw = peek(P, 1);
            if (ends && kw->kind == TK_NAME) {
                for (size_t i = 0; ends[i]; i++)
                    if (is_name(kw, ends[i])) {
                        *which = ends[i];
                        P->i += 2;
                        body->kids = kids.v;
                        body->nkids = kids.n;
                        leave(P);
                        return body;
                    }
            }
            if (is_end_word(kw))
                jfail_at(P->f, kw->line, "template syntax error: unexpected '{%% %.*s %%}'", (int)kw->n, kw->s);
            next(P);
            nv_push(P, &kids, parse_stmt(P));
        } else {
            char buf[64];
            jfail_at(P->f, t->line, "template syntax error: unexpected %s", tok_desc(t, buf, sizeof buf));
        }
    }
    body->kids = kids.v;
    body->nkids = kids.n;
    leave(P);
    return body;
}

void jparse(jtemplate *t, jfail *f, jtoken *toks, size_t ntok, int max_depth) {
    ps P = {.t = t, .f = f, .tk = toks, .n = ntok, .max_depth = max_depth};
    t->n_loop = jintern(t, "loop", 4);
    t->n_varargs = jintern(t, "varargs", 7);
    t->n_kwargs = jintern(t, "kwargs", 6);
    t->n_caller = jintern(t, "caller", 6);
    t->root = parse_body(&P, NULL, NULL);
}
