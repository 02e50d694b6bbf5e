/*
 * tok_jscan.c — one-pass JSON scanner into a flat node tape (see tok_jscan.h).
 * Iterative (explicit stack, bounded depth), every index bounds-checked; it
 * never allocates per value and never reads past src + n.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tok_jscan.h"

static void *big_alloc(size_t n) {
    /* Large tapes: ask for transparent huge pages, which cuts page faults
     * (expensive in VMs) by 512x. */
    return n >= ((size_t)4 << 20) ? am_xmalloc_huge(n) : am_xmalloc(n);
}

static int add_node(jt_doc *d, int type, size_t a, size_t b, uint32_t *out) {
    if (d->count == d->cap) {
        if (d->cap >= UINT32_MAX / 2) return -1;
        uint32_t cap = d->cap * 2;
        jt_node *nn = big_alloc((size_t)cap * sizeof *nn);
        memcpy(nn, d->nodes, (size_t)d->count * sizeof *nn);
        free(d->nodes);
        d->nodes = nn;
        d->cap = cap;
    }
    if (b > JT_LEN_MASK) return -1;
    jt_node *nd = &d->nodes[d->count];
    nd->a = (uint32_t)a;
    nd->b = (uint32_t)b | ((uint32_t)type << 28);
    *out = d->count++;
    return 0;
}

static inline size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
    return i;
}

static int hex4(const char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        int h = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (h < 0) return -1;
        v = v * 16 + (uint32_t)h;
    }
    *out = v;
    return 0;
}

/* Scans a string starting after its opening quote; returns the index of the
 * closing quote or (size_t)-1 with err set. */
static size_t scan_string(const char *s, size_t n, size_t i, bool *esc, am_err *err) {
    const unsigned char *u = (const unsigned char *)s;
    while (i < n) {
        unsigned c = u[i];
        if (c == '"') return i;
        if (c == '\\') {
            *esc = true;
            if (i + 1 >= n) break;
            char e = s[i + 1];
            if (e == 'u') {
                uint32_t cp;
                if (i + 6 > n || hex4(s + i + 2, &cp)) {
                    am_err_set(err, "bad \\u escape at byte %zu", i);
                    return (size_t)-1;
                }
                i += 6;
                if (cp >= 0xD800 && cp < 0xDC00) {
                    uint32_t lo;
                    if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' || hex4(s + i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                        am_err_set(err, "lone surrogate in \\u escape at byte %zu", i);
                        return (size_t)-1;
                    }
                    i += 6;
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    am_err_set(err, "lone surrogate in \\u escape at byte %zu", i);
                    return (size_t)-1;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || !e) {
                am_err_set(err, "bad escape at byte %zu", i);
                return (size_t)-1;
            }
            i += 2;
            continue;
        }
        if (c < 0x20) {
            am_err_set(err, "control character in string at byte %zu", i);
            return (size_t)-1;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        int l = tok_utf8_len(u + i, n - i);
        if (!l) {
            am_err_set(err, "invalid UTF-8 in string at byte %zu", i);
            return (size_t)-1;
        }
        i += (size_t)l;
    }
    am_err_set(err, "unterminated string");
    return (size_t)-1;
}

static size_t scan_number(const char *s, size_t n, size_t i) {
    size_t st = i;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return st;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else return st;
    if (i < n && s[i] == '.') {
        i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return st;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return st;
    }
    return i;
}

int jt_parse(jt_doc *d, const char *s, size_t n, am_err *err) {
    memset(d, 0, sizeof *d);
    d->src = s;
    d->n = n;
    if (n >= UINT32_MAX) return am_err_set(err, "JSON too large (%zu bytes)", n);
    /* tokenizer files have about one value per 16 bytes: size the tape once */
    d->cap = (uint32_t)AM_MIN((size_t)n / 12 + 1024, (size_t)UINT32_MAX / 4);
    d->nodes = big_alloc((size_t)d->cap * sizeof *d->nodes);
    uint32_t stack[JT_MAX_DEPTH];
    uint32_t counts[JT_MAX_DEPTH];
    int depth = 0;
    size_t i = skip_ws(s, n, 0);

    for (;;) {
        /* ---- a value starts at i ---- */
        if (i >= n) goto eof;
        char c = s[i];
        if (c == '{' || c == '[') {
            if (depth >= JT_MAX_DEPTH) return am_err_set(err, "JSON nested deeper than %d at byte %zu", JT_MAX_DEPTH, i);
            uint32_t nd;
            if (add_node(d, c == '{' ? JT_OBJ : JT_ARR, 0, 0, &nd)) goto too_big;
            stack[depth] = nd;
            counts[depth] = 0;
            depth++;
            i = skip_ws(s, n, i + 1);
            if (i >= n) goto eof;
            if ((c == '{' && s[i] == '}') || (c == '[' && s[i] == ']')) {
                i++;
                depth--;
                d->nodes[nd].a = d->count;
                goto after_value;
            }
            if (c == '{') goto object_key;
            continue;
        } else if (c == '"') {
            bool esc = false;
            size_t e = scan_string(s, n, i + 1, &esc, err);
            if (e == (size_t)-1) return -1;
            uint32_t nd;
            if (add_node(d, JT_STR, i + 1, e - i - 1, &nd)) goto too_big;
            if (esc) d->nodes[nd].b |= JT_ESC_BIT;
            i = e + 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t e = scan_number(s, n, i);
            if (e == i) return am_err_set(err, "bad number at byte %zu", i);
            uint32_t nd;
            if (add_node(d, JT_NUM, i, e - i, &nd)) goto too_big;
            i = e;
        } else if (n - i >= 4 && !memcmp(s + i, "true", 4)) {
            uint32_t nd;
            if (add_node(d, JT_TRUE, i, 0, &nd)) goto too_big;
            i += 4;
        } else if (n - i >= 5 && !memcmp(s + i, "false", 5)) {
            uint32_t nd;
            if (add_node(d, JT_FALSE, i, 0, &nd)) goto too_big;
            i += 5;
        } else if (n - i >= 4 && !memcmp(s + i, "null", 4)) {
            uint32_t nd;
            if (add_node(d, JT_NULL, i, 0, &nd)) goto too_big;
            i += 4;
        } else {
            return am_err_set(err, "unexpected character at byte %zu", i);
        }

    after_value:
        /* ---- a value ended; continue the enclosing container ---- */
        for (;;) {
            i = skip_ws(s, n, i);
            if (depth == 0) {
                if (i != n) return am_err_set(err, "trailing data at byte %zu", i);
                return 0;
            }
            if (i >= n) goto eof;
            uint32_t top = stack[depth - 1];
            int tt = jt_node_type(&d->nodes[top]);
            counts[depth - 1]++;
            if (s[i] == ',') {
                i = skip_ws(s, n, i + 1);
                if (tt == JT_OBJ) goto object_key;
                break; /* next array element */
            }
            if ((tt == JT_ARR && s[i] == ']') || (tt == JT_OBJ && s[i] == '}')) {
                if (counts[depth - 1] > JT_LEN_MASK) goto too_big;
                d->nodes[top].b |= counts[depth - 1];
                d->nodes[top].a = d->count;
                depth--;
                i++;
                continue;
            }
            return am_err_set(err, "expected ',' or end of container at byte %zu", i);
        }
        continue;

    object_key:
        if (i >= n) goto eof;
        if (s[i] != '"') return am_err_set(err, "expected object key at byte %zu", i);
        {
            bool esc = false;
            size_t e = scan_string(s, n, i + 1, &esc, err);
            if (e == (size_t)-1) return -1;
            uint32_t nd;
            if (add_node(d, JT_STR, i + 1, e - i - 1, &nd)) goto too_big;
            if (esc) d->nodes[nd].b |= JT_ESC_BIT;
            i = skip_ws(s, n, e + 1);
            if (i >= n) goto eof;
            if (s[i] != ':') return am_err_set(err, "expected ':' at byte %zu", i);
            i = skip_ws(s, n, i + 1);
        }
    }
eof:
    return am_err_set(err, "unexpected end of JSON (truncated file?)");
too_big:
    return am_err_set(err, "JSON value too large at byte %zu", i);
}

void jt_free(jt_doc *d) {
    free(d->nodes);
    memset(d, 0, sizeof *d);
}

uint32_t jt_first(const jt_doc *d, uint32_t c) {
    if (c == JT_NONE) return JT_NONE;
    int ty = jt_node_type(&d->nodes[c]);
    if ((ty != JT_ARR && ty != JT_OBJ) || jt_len(d, c) == 0) return JT_NONE;
    return c + 1;
}

uint32_t jt_next(const jt_doc *d, uint32_t c, uint32_t cur) {
    uint32_t nx = jt_after(d, cur);
    if (jt_node_type(&d->nodes[c]) == JT_OBJ) nx = jt_after(d, nx); /* skip the value */
    return nx >= d->nodes[c].a ? JT_NONE : nx;
}

/* Appends the UTF-8 of an escaped or plain string body. */
bool jt_str_append(const jt_doc *d, uint32_t i, tok_buf *b) {
    if (jt_type(d, i) != JT_STR) return false;
    const char *s = d->src + d->nodes[i].a;
    size_t n = jt_len(d, i);
    if (!jt_esc(d, i)) {
        tok_buf_add(b, s, n);
        return true;
    }
    size_t k = 0;
    while (k < n) {
        size_t run = k;
        while (run < n && s[run] != '\\') run++;
        tok_buf_add(b, s + k, run - k);
        k = run;
        if (k >= n) break;
        char e = s[k + 1], ch;
        if (e == 'u') {
            uint32_t cp, lo;
            hex4(s + k + 2, &cp); /* validated by the scanner */
            k += 6;
            if (cp >= 0xD800 && cp < 0xDC00) {
                hex4(s + k + 2, &lo);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                k += 6;
            }
            char u8[4];
            tok_buf_add(b, u8, (size_t)tok_utf8_put(cp, u8));
            continue;
        }
        switch (e) {
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        default: ch = e; break; /* " \ / */
        }
        tok_buf_add(b, &ch, 1);
        k += 2;
    }
    return true;
}

const char *jt_str_raw(const jt_doc *d, uint32_t i, size_t *len) {
    if (jt_type(d, i) != JT_STR || jt_esc(d, i)) return NULL;
    *len = jt_len(d, i);
    return d->src + d->nodes[i].a;
}

bool jt_str_eq(const jt_doc *d, uint32_t i, const char *s) {
    if (jt_type(d, i) != JT_STR) return false;
    size_t sl = strlen(s);
    if (!jt_esc(d, i)) return jt_len(d, i) == sl && !memcmp(d->src + d->nodes[i].a, s, sl);
    tok_buf b = {0};
    jt_str_append(d, i, &b);
    bool eq = b.n == sl && !memcmp(b.p, s, sl);
    tok_buf_free(&b);
    return eq;
}

char *jt_str_dup(const jt_doc *d, uint32_t i, size_t *len) {
    tok_buf b = {0};
    if (!jt_str_append(d, i, &b)) return NULL;
    if (!b.p) tok_buf_add(&b, "", 0);
    if (len) *len = b.n;
    return b.p;
}

uint32_t jt_get(const jt_doc *d, uint32_t obj, const char *key) {
    if (jt_type(d, obj) != JT_OBJ) return JT_NONE;
    uint32_t found = JT_NONE;
    for (uint32_t k = jt_first(d, obj); k != JT_NONE; k = jt_next(d, obj, k))
        if (jt_str_eq(d, k, key)) found = jt_val(k);
    return found;
}

bool jt_int(const jt_doc *d, uint32_t i, int64_t *out) {
    if (jt_type(d, i) != JT_NUM) return false;
    const char *s = d->src + d->nodes[i].a;
    size_t n = jt_len(d, i), k = 0;
    bool neg = false;
    if (s[0] == '-') {
        neg = true;
        k = 1;
    }
    uint64_t v = 0;
    for (; k < n; k++) {
        if (s[k] < '0' || s[k] > '9') return false; /* fraction or exponent */
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(s[k] - '0');
    }
    if (v > (uint64_t)INT64_MAX) return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

bool jt_bool(const jt_doc *d, uint32_t i, bool *out) {
    if (i == JT_NONE) return false;
    if (jt_type(d, i) == JT_TRUE) *out = true;
    else if (jt_type(d, i) == JT_FALSE) *out = false;
    else return false;
    return true;
}

bool jt_get_bool(const jt_doc *d, uint32_t obj, const char *key, bool dflt) {
    bool v;
    return jt_bool(d, jt_get(d, obj, key), &v) ? v : dflt;
}
