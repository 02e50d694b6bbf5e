/*
 * tok_util.c — small shared pieces of the tokenizer: the GPT-2 byte<->unicode
 * mapping, strict UTF-8 stepping, <0xXX> pieces, regex compilation, a byte
 * buffer and the added-token trie. Pure functions and owned memory only.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tok_internal.h"

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the
 * other 68 bytes to U+0100.. in byte order: 0..32 -> 256..288,
 * 127..160 -> 289..322, 173 -> 323. */
uint32_t tok_bytelevel_cp(uint8_t b) {
    if (b <= 32) return 256u + b;
    if (b >= 127 && b <= 160) return 289u + (b - 127u);
    if (b == 173) return 323;
    return b;
}

static int bytelevel_byte(uint32_t cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(cp - 289 + 127);
    if (cp == 323) return 173;
    return -1;
}

long tok_bytelevel_decode(const char *s, size_t n, char *out) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        int l = tok_utf8_len(u + i, n - i);
        if (!l) return -1;
        int b = bytelevel_byte(tok_utf8_cp(u + i, l));
        if (b < 0) return -1;
        out[o++] = (char)b;
        i += (size_t)l;
    }
    return (long)o;
}

size_t tok_bytelevel_encode(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += (size_t)tok_utf8_put(tok_bytelevel_cp((uint8_t)s[i]), out + o);
    return o;
}

int tok_utf8_len(const unsigned char *s, size_t n) {
    if (!n) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

uint32_t tok_utf8_cp(const unsigned char *s, int len) {
    switch (len) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
               (s[3] & 0x3F);
    }
}

int tok_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int tok_parse_byte_piece(const char *s, size_t n) {
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return -1;
    int h = hexval(s[3]), l = hexval(s[4]);
    if (h < 0 || l < 0) return -1;
    return h * 16 + l;
}

pcre2_code *tok_regex_compile(const char *pat, size_t n, am_err *err) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, n, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        am_err_set(err, "bad regex at offset %zu: %s", (size_t)eo, (const char *)msg);
        return NULL;
    }
    /* JIT is an optimisation: without it pcre2_match interprets. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

void tok_buf_add(tok_buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        b->p = am_xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void tok_buf_reserve(tok_buf *b, size_t n) {
    if (n + 1 > b->cap) {
        size_t cap = b->cap * 2; /* geometric: callers reserve step by step */
        if (cap < n + 1) cap = n + 1;
        b->p = am_xrealloc(b->p, cap);
        b->cap = cap;
    }
}

void tok_buf_free(tok_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void tok_trie_free(tok_trie *t) {
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

static uint32_t trie_new_node(tok_trie *t, uint8_t byte) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->nodes = am_xrealloc(t->nodes, (size_t)t->cap * sizeof *t->nodes);
    }
    tok_trie_node *nd = &t->nodes[t->n];
    nd->child = nd->sibling = 0;
    nd->tok = -1;
    nd->byte = byte;
    return t->n++;
}

void tok_trie_add(tok_trie *t, const char *s, size_t n, int32_t tok) {
    if (!n) return; /* an empty token can never be matched */
    if (!t->n) trie_new_node(t, 0); /* root */
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cur = t->root_child[u[0]];
    if (!cur) {
        cur = trie_new_node(t, u[0]);
        t->root_child[u[0]] = cur;
    }
    for (size_t i = 1; i < n; i++) {
        uint32_t c = t->nodes[cur].child;
        while (c && t->nodes[c].byte != u[i]) c = t->nodes[c].sibling;
        if (!c) {
            c = trie_new_node(t, u[i]);
            t->nodes[c].sibling = t->nodes[cur].child;
            t->nodes[cur].child = c;
        }
        cur = c;
    }
    /* Same content twice: the later token wins, as a later map insert would. */
    t->nodes[cur].tok = tok;
    t->any = true;
}

void *tok_big_calloc(size_t n) {
    /* Big tables are filled at random: transparent huge pages save most of
     * the page faults (costly in VMs). */
    if (n >= ((size_t)4 << 20)) return memset(am_xmalloc_huge(n), 0, n);
    return am_xcalloc(1, n);
}
