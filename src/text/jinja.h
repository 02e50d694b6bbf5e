/*
 * jinja.h — internals of the chat-template interpreter (src/text/jinja_*.c).
 * Not a public header: src/text/template.h is the API.
 *
 * Memory: everything a parse or a render allocates comes from one jarena
 * (chunked bump allocator with a byte budget) and is freed at once. Values are
 * small structs passed by value; strings are immutable (pointer + length) and
 * shared freely; lists, dicts and namespaces are arena objects shared by
 * reference, as Python shares them.
 *
 * Errors: parsing and rendering unwind with longjmp to the entry point
 * (jfail); since every allocation is in the arena, nothing leaks. Nothing in
 * here calls exit() or touches global state.
 */
#ifndef AM_JINJA_H
#define AM_JINJA_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/base.h"

/* ---- failure and arena ---- */

typedef struct jfail {
    jmp_buf jb;
    am_err *err;
    int line; /* template line of the construct being evaluated (0: unknown) */
} jfail;

_Noreturn void jfail_at(jfail *f, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

typedef struct jchunk jchunk;
typedef struct jarena {
    jchunk *head;
    size_t total;  /* bytes held in chunks */
    size_t budget; /* 0: unlimited */
    jfail *fail;   /* where to unwind when the budget is exceeded */
    char *last;    /* most recent allocation, for in-place growth */
    size_t last_n;
    size_t last_str_n; /* length of the string filling `last` (SIZE_MAX: none) */
} jarena;

void jarena_init(jarena *a, size_t budget, jfail *fail);
void jarena_free(jarena *a);
void *jalloc(jarena *a, size_t n);                 /* zeroed, 16-byte aligned */
void *jrealloc(jarena *a, void *p, size_t old_n, size_t new_n);
char *jstrndup(jarena *a, const char *s, size_t n); /* NUL-terminated copy */
void *jalloc_raw(jarena *a, size_t n);             /* not zeroed */
/* Lets a string (p, n) that fills the most recent allocation grow by `add`
 * bytes in place (left-associated `a + b + c` chains then cost O(total)).
 * Other values sharing p keep their (p, shorter n) view unchanged. */
bool jarena_str_extend(jarena *a, const char *p, size_t n, size_t add);

/* ---- values ---- */

typedef enum {
    JV_UNDEF = 0, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR,
    JV_LIST, JV_DICT, JV_NS, JV_FUNC, JV_LOOP,
} jvtype;

/* What a JV_LIST really is in Python terms: decides tojson, len(), repr,
 * truthiness and subscripting exactly as the reference behaves. */
typedef enum {
    JL_LIST = 0, JL_TUPLE, JL_GEN /* generator: map, select, unique... */,
    JL_ITER /* list_reverseiterator */, JL_KEYS, JL_VALUES, JL_ITEMS, JL_RANGE,
} jlkind;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jfunc jfunc;
typedef struct jloop jloop;
typedef struct jundef jundef;

typedef struct jval {
    uint8_t t;   /* jvtype */
    bool markup; /* JV_STR marked safe (|safe, |escape): `+` escapes the other side */
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *p; size_t n; } s;
        jlist *l;
        jdict *d; /* JV_DICT and JV_NS */
        jfunc *fn;
        jloop *loop;
        jundef *u; /* may be NULL: plain undefined */
    };
} jval;

struct jlist {
    jval *v;
    size_t n, cap;
    uint8_t kind;  /* jlkind */
    bool consumed; /* generators and iterators iterate once */
};

struct jdict {
    jval *k, *v;
    size_t n, cap;
};

/* Why a value is undefined, to word the error when it is used. */
struct jundef {
    const char *name;    /* variable or attribute name (NULL when index) */
    int64_t index;       /* element index when name == NULL */
    const char *objtype; /* NULL: a missing variable; else e.g. "dict object" */
    const char *hint;    /* complete message overriding the above */
};

struct jctx;
typedef struct jargs {
    jval *pos;
    size_t npos;
    const char **kwn;
    jval *kwv;
    size_t nkw;
} jargs;
typedef jval (*jbuiltin_fn)(struct jctx *c, jval self, jargs *a);

struct jnode;
struct jscope;
typedef enum { JF_BUILTIN, JF_MACRO } jfkind;
struct jfunc {
    uint8_t kind;
    const char *name;
    jbuiltin_fn fn;        /* JF_BUILTIN */
    jval self;             /* bound receiver for methods */
    struct jnode *macro;   /* JF_MACRO */
    struct jscope *closure;
    struct jfunc *caller;  /* {% call %} body bound as `caller` */
};

struct jloop {
    jval *items;
    size_t index0, length;
    int depth0;
    jval last_changed; /* loop.changed() state */
    bool changed_set;
};

static inline jval jv_undef(void) { jval v = {0}; v.t = JV_UNDEF; return v; }
static inline jval jv_none(void) { jval v = {0}; v.t = JV_NONE; return v; }
static inline jval jv_bool(bool b) { jval v = {0}; v.t = JV_BOOL; v.b = b; return v; }
static inline jval jv_int(int64_t i) { jval v = {0}; v.t = JV_INT; v.i = i; return v; }
static inline jval jv_float(double f) { jval v = {0}; v.t = JV_FLOAT; v.f = f; return v; }
static inline jval jv_str(const char *p, size_t n) { jval v = {0}; v.t = JV_STR; v.s.p = p; v.s.n = n; return v; }

jval jv_cstr(const char *s);
jval jv_list_new(jarena *a, size_t cap, jlkind kind);
void jv_list_push(jarena *a, jlist *l, jval x);
jval jv_dict_new(jarena *a, size_t cap);
/* Lookup by key equality (Python ==): NULL when absent. */
jval *jv_dict_get(jdict *d, jval key);
jval *jv_dict_get_str(jdict *d, const char *key, size_t n);
void jv_dict_set(jarena *a, jdict *d, jval key, jval val);

bool jv_truthy(jval v);
bool jv_equal(jval a, jval b);
bool jv_is_str(jval v, const char *s);
const char *jv_type_name(jval v); /* Python type name: "str", "dict", "NoneType"... */

/* ---- string builder ---- */

typedef struct jsb {
    char *p;
    size_t n, cap;
    size_t limit; /* 0: unlimited */
    jarena *ar;   /* allocation from the arena, or the heap when heap is set */
    bool heap;    /* the render's final output: realloc'd, freed by its owner */
} jsb;

void jsb_init(jsb *b, jarena *a, size_t limit);
void jsb_put(jsb *b, const char *s, size_t n);
void jsb_putc(jsb *b, char ch);
void jsb_printf(jsb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- text helpers (jinja_str.c) ---- */

/* Python str.isspace for one code point. */
bool jstr_isspace_cp(uint32_t cp);
/* Decodes one UTF-8 code point at s[*i] (input already validated). */
uint32_t jstr_next_cp(const char *s, size_t n, size_t *i);
size_t jstr_cp_len(const char *s, size_t n);
/* Byte offset of code point index cp (cp <= length). */
size_t jstr_cp_offset(const char *s, size_t n, size_t cp);
bool jstr_valid_utf8(const char *s, size_t n);
/* Python repr of a float ("1.0", "1e+20", "inf"). */
void jfmt_float(jsb *b, double f, bool json);
/* str(v) and repr(v) as Python prints them. */
void jv_to_str(struct jctx *c, jsb *b, jval v);
void jv_repr(struct jctx *c, jsb *b, jval v);
jval jv_stringify(struct jctx *c, jval v); /* str(v) as a value */
jval jhtml_escape(struct jctx *c, jval s);   /* markupsafe.escape */
/* fmt % args with %s %r %d %i %% (jinja_filters.c). */
jval jstr_percent(struct jctx *c, jval fmt, jval *args, size_t nargs);

/* ---- JSON (jinja_json.c) ---- */

typedef struct jjson_opts {
    bool ensure_ascii;
    bool sort_keys;
    int indent;        /* < 0: none */
    const char *indent_str; /* non-NULL: a string indent */
    const char *item_sep, *key_sep;
} jjson_opts;
void jv_tojson(struct jctx *c, jsb *b, jval v, const jjson_opts *o);
struct json_t;
jval jv_from_json(struct jctx *c, const struct json_t *j, int depth);

/* ---- lexer and parser (jinja_lex.c, jinja_parse.c) ---- */

typedef enum {
    TK_EOF = 0, TK_TEXT, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
    TK_NAME, TK_STRING, TK_INT, TK_FLOAT, TK_OP,
} jtkind;

typedef struct jtoken {
    uint8_t kind;
    int line;
    const char *s; /* TEXT, NAME, STRING (decoded), OP */
    size_t n;
    int64_t i;
    double f;
} jtoken;

typedef struct jlex_opts {
    bool trim_blocks, lstrip_blocks;
} jlex_opts;

/* Tokenizes a whole template into an arena array. Fails through f. */
jtoken *jlex(jarena *a, jfail *f, const char *src, size_t len, const jlex_opts *o, size_t *ntok);

typedef enum {
    /* expressions */
    N_LIT, N_NAME, N_ATTR, N_ITEM, N_SLICE, N_CALL, N_FILTER, N_TEST,
    N_NEG, N_POS, N_NOT, N_AND, N_OR, N_BIN, N_CMP, N_COND, N_LIST, N_TUPLE, N_DICT,
    /* statements */
    S_TEXT, S_OUTPUT, S_IF, S_FOR, S_SET, S_SET_ATTR, S_SET_BLOCK, S_MACRO, S_CALL_BLOCK,
    S_FILTER_BLOCK, S_BREAK, S_CONTINUE, S_BODY,
} jnkind;

typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN,
} jop;

typedef struct jnode jnode;
typedef jval (*jfilter_fn)(struct jctx *c, jval in, jargs *a);
typedef bool (*jtest_fn)(struct jctx *c, jval in, jargs *a);

struct jnode {
    uint16_t kind;
    uint16_t op;     /* jop; N_TEST: negated */
    int line;
    jval lit;        /* N_LIT, S_TEXT */
    const char *name; /* interned: N_NAME, N_ATTR, filter/test name, set/macro target */
    jnode *a, *b, *c, *d;
    jnode **kids; size_t nkids;   /* args, items, body, dict keys, cmp operands */
    jnode **kids2; size_t nkids2; /* dict values, else body, macro defaults, cmp ops */
    const char **names; size_t nnames; /* for targets, macro params, kwarg names */
    jnode **kwv;     /* kwarg values (nnames) */
    jfilter_fn filter;
    jtest_fn test;
    bool flag;       /* S_FOR: has filter; S_MACRO: uses caller; N_DICT... */
    uint16_t *ops;   /* N_CMP operators (nkids - 1) */
};

typedef struct jtemplate {
    jarena ar;
    jnode *root; /* S_BODY */
    const char **interned; /* open-addressing hash set of names */
    size_t ninterned, intern_cap;
    const char *n_loop, *n_varargs, *n_kwargs, *n_caller; /* interned at parse */
} jtemplate;

/* Parses tokens into t->root; fails through f. Unknown filters, tests and
 * tags are errors here, naming the construct and line. */
void jparse(jtemplate *t, jfail *f, jtoken *toks, size_t ntok, int max_depth);
const char *jintern(jtemplate *t, const char *s, size_t n);
/* Read-only lookup (safe while rendering from several threads): NULL when
 * the template never mentions the name. */
const char *jintern_find(const jtemplate *t, const char *s, size_t n);

/* Builtin lookup (jinja_filters.c, jinja_tests.c). NULL when unknown. */
jfilter_fn jfilter_find(const char *name);
jtest_fn jtest_find(const char *name);

/* ---- evaluation (jinja_eval.c) ---- */

typedef struct jscope {
    struct jscope *parent;
    const char **names; /* interned */
    jval *vals;
    size_t n, cap;
} jscope;

typedef struct jctx {
    jarena *ar;
    jfail *fail;
    const jtemplate *tpl;
    jsb *out;
    size_t max_output;
    uint64_t steps, max_steps;
    int depth, max_depth;
    int macro_depth, max_macro_depth;
    jscope *globals;
    int64_t now;
    bool now_fixed;
} jctx;

/* Charges n units to the step budget; fails when it is spent. */
void jstep(jctx *c, uint64_t n);
_Noreturn void jerr(jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fails with the "is undefined" message of an undefined value. */
_Noreturn void jerr_undef(jctx *c, jval u);
void jscope_set(jctx *c, jscope *s, const char *name, jval v);
void jrender(jctx *c, const jtemplate *t, jscope *globals);
jval jeval(jctx *c, jscope *s, jnode *n);
jval jcall(jctx *c, jval fn, jargs *a);
/* Python-style attribute / item access with Jinja's fallbacks. */
jval jgetattr(jctx *c, jval obj, const char *name, size_t n);
jval jgetitem(jctx *c, jval obj, jval key);
/* Iteration: materializes v's items (consuming generators). */
jval *jiter(jctx *c, jval v, size_t *n);
jval jbinop(jctx *c, int op, jval a, jval b);
/* Python `item in container`. */
bool jcontains(jctx *c, jval container, jval item);
/* Python ordering for sort/min/max; fails on incomparable types. */
int jcompare(jctx *c, jval a, jval b);
jval jundef_attr(jctx *c, jval obj, const char *name, size_t n);

/* Keyword/positional argument helper: the i-th positional or the named one. */
jval *jarg(jargs *a, size_t i, const char *name);
void jargs_check(jctx *c, jargs *a, const char *fn, size_t maxpos, const char *const *allowed);

/* Methods of str, dict, list (jinja_methods.c): a bound builtin or undefined. */
jval jmethod(jctx *c, jval self, const char *name, size_t n, bool *found);
/* Global functions (range, namespace, dict, raise_exception, strftime_now). */
void jglobals_install(jctx *c, jscope *s);

#endif
