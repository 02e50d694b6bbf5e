/*
 * jinja_lex.c — template text to tokens, with Jinja2's whitespace rules:
 * newlines normalized to "\n" and one trailing newline dropped (as Jinja's
 * keep_trailing_newline=False), `{%-`/`-%}` stripping, trim_blocks (drop the
 * first newline after a block or comment tag) and lstrip_blocks (drop the
 * indentation before a block or comment tag), `{%+`/`+%}` opting out, and
 * `{% raw %}`. String literals are decoded like Python's unicode-escape.
 *
 * Input is hostile: invalid UTF-8, unterminated tags and strings, unbalanced
 * brackets are errors naming the line; nothing reads past the end.
 */
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"

typedef struct lx {
    jarena *a;
    jfail *f;
    const char *s;
    size_t n, pos;
    int line;
    jtoken *t;
    size_t nt, cap;
    const jlex_opts *o;
    bool line_starting;
} lx;

static jtoken *emit(lx *L, int kind, int line) {
    if (L->nt == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 256;
        L->t = jrealloc(L->a, L->t, L->cap * sizeof(jtoken), nc * sizeof(jtoken));
        L->cap = nc;
    }
    jtoken *t = &L->t[L->nt++];
    memset(t, 0, sizeof *t);
    t->kind = (uint8_t)kind;
    t->line = line;
    return t;
}

/* Moves pos forward to p, counting lines. */
static void advance(lx *L, size_t p) {
    for (size_t i = L->pos; i < p; i++)
        if (L->s[i] == '\n') L->line++;
    L->pos = p;
}

/* Whitespace as Python's \s / str.isspace: returns the byte length of the
 * whitespace code point at i, or 0. */
static size_t ws_at(const char *s, size_t n, size_t i) {
    size_t j = i;
    uint32_t cp = jstr_next_cp(s, n, &j);
    return jstr_isspace_cp(cp) ? j - i : 0;
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
    size_t k;
    while (i < n && (k = ws_at(s, n, i)) > 0) i += k;
    return i;
}

/* Length of text with trailing whitespace removed (Python rstrip()). */
static size_t rstrip_len(const char *s, size_t n) {
    while (n > 0) {
        size_t st = n - 1;
        while (st > 0 && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
        if (ws_at(s, n, st) != n - st) break;
        n = st;
    }
    return n;
}

static void emit_text(lx *L, const char *p, size_t n, int line) {
    if (!n) return;
    jtoken *t = emit(L, TK_TEXT, line);
    t->s = p;
    t->n = n;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_utf8(jsb *b, uint32_t cp) {
    char u[4];
    size_t k;
    if (cp < 0x80) { u[0] = (char)cp; k = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); k = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)); k = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); k = 4;
    }
    jsb_put(b, u, k);
}

/* Decodes the body of a string literal s[0..n) (between the quotes). */
static void decode_string(lx *L, jtoken *t, const char *s, size_t n, int line) {
    jsb b;
    jsb_init(&b, L->a, 0);
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c != '\\' || i + 1 >= n) {
            jsb_putc(&b, c);
            i++;
            continue;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case '\n': break;
        case '\\': jsb_putc(&b, '\\'); break;
        case '\'': jsb_putc(&b, '\''); break;
        case '"': jsb_putc(&b, '"'); break;
        case 'a': jsb_putc(&b, '\a'); break;
        case 'b': jsb_putc(&b, '\b'); break;
        case 'f': jsb_putc(&b, '\f'); break;
        case 'n': jsb_putc(&b, '\n'); break;
        case 'r': jsb_putc(&b, '\r'); break;
        case 't': jsb_putc(&b, '\t'); break;
        case 'v': jsb_putc(&b, '\v'); break;
        case 'x': case 'u': case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 0; k < digits; k++) {
                int h = i < n ? hexval(s[i]) : -1;
                if (h < 0) jfail_at(L->f, line, "template syntax error: truncated \\%c escape in a string", e);
                cp = cp * 16 + (uint32_t)h;
                i++;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                jfail_at(L->f, line, "template syntax error: escape \\%c gives an invalid code point", e);
            put_utf8(&b, cp);
            break;
        }
        case 'N': jfail_at(L->f, line, "unsupported template construct: \\N{...} escape in a string");
        default:
            if (e >= '0' && e <= '7') {
                uint32_t cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++) cp = cp * 8 + (uint32_t)(s[i++] - '0');
                put_utf8(&b, cp);
            } else { /* unknown escapes stay as written */
                jsb_putc(&b, '\\');
                i--;
            }
        }
    }
    t->s = b.p ? b.p : "";
    t->n = b.n;
}

static const char *const OPS2[] = {"//", "**", "==", "!=", ">=", "<="};
static const char OPS1[] = "+-*/%~<>=()[]{}.,:|;";

/* Lexes the inside of a {{ }} or {% %} tag; returns with pos after the end. */
static void lex_tag(lx *L, bool block, int open_line) {
    char stack[128];
    size_t depth = 0;
    for (;;) {
        size_t p = skip_ws(L->s, L->n, L->pos);
        advance(L, p);
        const char *s = L->s;
        size_t n = L->n;
        if (p >= n)
            jfail_at(L->f, open_line, "template syntax error: unexpected end of template, expected '%s'",
                     block ? "%}" : "}}");
        if (depth == 0) {
            const char *end = block ? "%}" : "}}";
            size_t endlen = 0;
            char mod = 0;
            if ((s[p] == '-' || s[p] == '+') && p + 3 <= n &&
                memcmp(s + p + 1, end, 2) == 0) {
                mod = s[p];
                endlen = 3;
            } else if (p + 2 <= n && memcmp(s + p, end, 2) == 0) {
                endlen = 2;
            }
            if (endlen) {
                emit(L, block ? TK_BLOCK_END : TK_VAR_END, L->line);
                size_t q = p + endlen;
                if (mod == '-') q = skip_ws(s, n, q);
                else if (block && mod != '+' && L->o->trim_blocks && q < n && s[q] == '\n') q++;
                L->line_starting = q > 0 && s[q - 1] == '\n';
                advance(L, q);
                return;
            }
        }
        char c = s[p];
        int line = L->line;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            size_t q = p;
            while (q < n && ((s[q] >= 'a' && s[q] <= 'z') || (s[q] >= 'A' && s[q] <= 'Z') || s[q] == '_' ||
                             (s[q] >= '0' && s[q] <= '9')))
                q++;
            jtoken *t = emit(L, TK_NAME, line);
            t->s = s + p;
            t->n = q - p;
            advance(L, q);
        } else if (c >= '0' && c <= '9') {
            size_t q = p;
            while (q < n && ((s[q] >= '0' && s[q] <= '9') || (s[q] == '_' && q + 1 < n && s[q + 1] >= '0' && s[q + 1] <= '9'))) q++;
            bool isf = false;
            if (q + 1 < n && s[q] == '.' && s[q + 1] >= '0' && s[q + 1] <= '9') {
                isf = true;
                q++;
                while (q < n && ((s[q] >= '0' && s[q] <= '9') || s[q] == '_')) q++;
            }
            if (q < n && (s[q] == 'e' || s[q] == 'E')) {
                size_t r = q + 1;
                if (r < n && (s[r] == '+' || s[r] == '-')) r++;
                if (r < n && s[r] >= '0' && s[r] <= '9') {
                    while (r < n && s[r] >= '0' && s[r] <= '9') r++;
                    q = r;
                    isf = true;
                }
            }
            char buf[64];
            size_t k = 0;
            for (size_t i = p; i < q; i++)
                if (s[i] != '_') {
                    if (k + 1 >= sizeof buf) jfail_at(L->f, line, "template syntax error: number literal too long");
                    buf[k++] = s[i];
                }
            buf[k] = 0;
            jtoken *t = emit(L, isf ? TK_FLOAT : TK_INT, line);
            if (isf) {
                t->f = strtod(buf, NULL);
            } else {
                uint64_t v = 0;
                for (size_t i = 0; i < k; i++) {
                    uint64_t d = (uint64_t)(buf[i] - '0');
                    if (v > ((uint64_t)INT64_MAX - d) / 10) jfail_at(L->f, line, "template: integer literal too large");
                    v = v * 10 + d;
                }
                t->i = (int64_t)v;
            }
            advance(L, q);
        } else if (c == '\'' || c == '"') {
            size_t q = p + 1;
            while (q < n && s[q] != c) q += (s[q] == '\\' && q + 1 < n) ? 2 : 1;
            if (q >= n) jfail_at(L->f, line, "template syntax error: unterminated string");
            jtoken *t = emit(L, TK_STRING, line);
            decode_string(L, t, s + p + 1, q - p - 1, line);
            advance(L, q + 1);
        } else {
            size_t len = 0;
            for (size_t i = 0; i < AM_ARRAY_LEN(OPS2); i++)
                if (p + 2 <= n && memcmp(s + p, OPS2[i], 2) == 0) len = 2;
            if (!len && c && strchr(OPS1, c)) len = 1;
            if (!len) jfail_at(L->f, line, "template syntax error: unexpected character '%c'", c);
            if (len == 1 && (c == '(' || c == '[' || c == '{')) {
                if (depth >= sizeof stack) jfail_at(L->f, line, "template: brackets nested too deeply");
                stack[depth++] = c;
            } else if (len == 1 && (c == ')' || c == ']' || c == '}')) {
                char want = c == ')' ? '(' : c == ']' ? '[' : '{';
                if (!depth || stack[depth - 1] != want)
                    jfail_at(L->f, line, "template syntax error: unexpected '%c'", c);
                depth--;
            }
            jtoken *t = emit(L, TK_OP, line);
            t->s = s + p;
            t->n = len;
            advance(L, p + len);
        }
    }
}

/* Matches `{%[-+]? *raw *[-]?%}` at p; returns its length or 0. */
static size_t match_raw(const char *s, size_t n, size_t p, const char *word, char *end_mod) {
    size_t q = p + 2;
    if (q < n && (s[q] == '-' || s[q] == '+')) q++;
    q = skip_ws(s, n, q);
    size_t wl = strlen(word);
    if (q + wl > n || memcmp(s + q, word, wl) != 0) return 0;
    q = skip_ws(s, n, q + wl);
    *end_mod = 0;
    if (q < n && (s[q] == '-' || s[q] == '+')) *end_mod = s[q++];
    if (q + 2 > n || s[q] != '%' || s[q + 1] != '}') return 0;
    return q + 2 - p;
}

jtoken *jlex(jarena *a, jfail *f, const char *src, size_t len, const jlex_opts *o, size_t *ntok) {
    if (!jstr_valid_utf8(src, len)) jfail_at(f, 0, "template: text is not valid UTF-8");
    /* Normalize \r\n and \r to \n; drop one trailing newline. */
    char *s = jalloc(a, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n && s[n - 1] == '\n') n--;
    s[n] = 0;

    lx L = {.a = a, .f = f, .s = s, .n = n, .line = 1, .o = o, .line_starting = true};
    while (L.pos < n) {
        size_t q = L.pos;
        while (q + 1 < n && !(s[q] == '{' && (s[q + 1] == '{' || s[q + 1] == '%' || s[q + 1] == '#'))) q++;
        if (q + 1 >= n) {
            emit_text(&L, s + L.pos, n - L.pos, L.line);
            advance(&L, n);
            break;
        }
        char kind = s[q + 1];
        char mod = q + 2 < n ? s[q + 2] : 0;
        const char *text = s + L.pos;
        size_t tn = q - L.pos;
        int text_line = L.line;
        if (mod == '-') {
            tn = rstrip_len(text, tn);
        } else if (kind != '{' && mod != '+' && o->lstrip_blocks) {
            size_t l_pos = 0;
            for (size_t i = tn; i > 0; i--)
                if (text[i - 1] == '\n') { l_pos = i; break; }
            if ((l_pos > 0 || L.line_starting) && skip_ws(text, tn, l_pos) == tn) tn = l_pos;
        }
        emit_text(&L, text, tn, text_line);
        advance(&L, q);
        int open_line = L.line;
        char raw_mod;
        size_t rl;
        if (kind == '#') {
            size_t e = q + 2;
            while (e + 1 < n && !(s[e] == '#' && s[e + 1] == '}')) e++;
            if (e + 1 >= n) jfail_at(f, open_line, "template syntax error: unterminated comment");
            size_t after = e + 2;
            char m = e > q + 2 ? s[e - 1] : 0;
            if (m == '-') after = skip_ws(s, n, after);
            else if (m != '+' && o->trim_blocks && after < n && s[after] == '\n') after++;
            L.line_starting = s[after - 1] == '\n';
            advance(&L, after);
        } else if (kind == '%' && (rl = match_raw(s, n, q, "raw", &raw_mod)) > 0) {
            size_t body = q + rl;
            if (raw_mod == '-') body = skip_ws(s, n, body);
            size_t e = body;
            char em = 0;
            size_t el = 0;
            for (; e + 1 < n; e++)
                if (s[e] == '{' && s[e + 1] == '%' && (el = match_raw(s, n, e, "endraw", &em)) > 0) break;
            if (e + 1 >= n) jfail_at(f, open_line, "template syntax error: missing {%% endraw %%}");
            size_t bn = e - body;
            if (e + 2 < n && s[e + 2] == '-') bn = rstrip_len(s + body, bn);
            emit_text(&L, s + body, bn, open_line);
            size_t after = e + el;
            if (em == '-') after = skip_ws(s, n, after);
            else if (em != '+' && o->trim_blocks && after < n && s[after] == '\n') after++;
            L.line_starting = s[after - 1] == '\n';
            advance(&L, after);
        } else {
            emit(&L, kind == '{' ? TK_VAR_BEGIN : TK_BLOCK_BEGIN, open_line);
            advance(&L, q + 2 + ((mod == '-' || mod == '+') ? 1 : 0));
            lex_tag(&L, kind == '%', open_line);
        }
    }
    emit(&L, TK_EOF, L.line);
    *ntok = L.nt;
    return L.t;
}
