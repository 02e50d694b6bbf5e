/*
 * normalize.c — the normalizer steps the supported tokenizers use, applied to
 * one text segment (the text between two added tokens, as HF does):
 * NFC/NFD/NFKC/NFKD and Lowercase (utf8proc), Prepend, Replace (string or
 * regex), Strip, StripAccents, and SentencePiece's extra-whitespace removal.
 *
 * Invalid UTF-8 is never an error: Unicode steps work on the valid runs and
 * pass invalid bytes through unchanged. Never writes outside its buffers.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/tok_internal.h"

bool tok_is_whitespace(uint32_t cp);

/* Rust's char::is_whitespace (the White_Space property). */
bool tok_is_whitespace(uint32_t cp) {
    if (cp == ' ' || (cp >= 9 && cp <= 13)) return true;
    if (cp < 0x85) return false;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* One piece of text: its valid runs through utf8proc, invalid bytes kept. */
static void norm_piece(const unsigned char *u, size_t n, int opts, tok_buf *dst) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n) {
            int l = tok_utf8_len(u + j, n - j);
            if (!l) break;
            j += (size_t)l;
        }
        if (j > i) {
            utf8proc_uint8_t *o = NULL;
            utf8proc_ssize_t r = utf8proc_map(u + i, (utf8proc_ssize_t)(j - i), &o, (utf8proc_option_t)opts);
            if (r >= 0)
                tok_buf_add(dst, o, (size_t)r);
            else
                tok_buf_add(dst, u + i, j - i);
            free(o);
        }
        if (j < n) tok_buf_add(dst, u + j, 1); /* an invalid byte, kept */
        i = j < n ? j + 1 : j;
    }
}

/* Unicode normalization. ASCII is stable under every form, is a starter,
 * and is never the second half of a composition, so text may be cut before
 * any ASCII byte: only the stretches around non-ASCII characters (with the
 * ASCII character before them, which a combining mark may join) go through
 * utf8proc. */
static void norm_unicode(const char *s, size_t n, int opts, tok_buf *dst) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && u[j] < 0x80) j++;
        if (j == n) {
            tok_buf_add(dst, u + i, n - i);
            break;
        }
        size_t a = j > i ? j - 1 : j; /* the ASCII character before may compose */
        tok_buf_add(dst, u + i, a - i);
        size_t k = j;
        while (k < n && u[k] >= 0x80) k++;
        norm_piece(u + a, k - a, opts, dst);
        i = k;
    }
}

static void norm_lower(const char *s, size_t n, tok_buf *dst) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int l = tok_utf8_len(u + i, n - i);
        if (!l) {
            tok_buf_add(dst, s + i, 1);
            i++;
            continue;
        }
        char o[4];
        uint32_t cp = (uint32_t)utf8proc_tolower((utf8proc_int32_t)tok_utf8_cp(u + i, l));
        tok_buf_add(dst, o, (size_t)tok_utf8_put(cp, o));
        i += (size_t)l;
    }
}

static void norm_strip_accents(const char *s, size_t n, tok_buf *dst) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int l = tok_utf8_len(u + i, n - i);
        size_t cl = l ? (size_t)l : 1;
        if (!l || utf8proc_category((utf8proc_int32_t)tok_utf8_cp(u + i, l)) != UTF8PROC_CATEGORY_MN)
            tok_buf_add(dst, s + i, cl);
        i += cl;
    }
}

static void norm_strip(const char *s, size_t n, bool left, bool right, tok_buf *dst) {
    const unsigned char *u = (const unsigned char *)s;
    size_t a = 0, b = n;
    if (left)
        while (a < b) {
            int l = tok_utf8_len(u + a, b - a);
            if (!l || !tok_is_whitespace(tok_utf8_cp(u + a, l))) break;
            a += (size_t)l;
        }
    if (right)
        while (b > a) {
            /* step back to the start of the last character */
            size_t k = b - 1;
            while (k > a && (u[k] & 0xC0) == 0x80 && b - k < 4) k--;
            int l = tok_utf8_len(u + k, b - k);
            if (!l || (size_t)l != b - k || !tok_is_whitespace(tok_utf8_cp(u + k, l))) break;
            b = k;
        }
    tok_buf_add(dst, s + a, b - a);
}

static void norm_replace_str(const char *s, size_t n, const char *pat, size_t pl, const char *rep, size_t rl,
                             tok_buf *dst) {
    size_t i = 0;
    if (!pl) {
        tok_buf_add(dst, s, n);
        return;
    }
    while (i < n) {
        const char *m = memmem(s + i, n - i, pat, pl);
        if (!m) break;
        size_t at = (size_t)(m - s);
        tok_buf_add(dst, s + i, at - i);
        tok_buf_add(dst, rep, rl);
        i = at + pl;
    }
    tok_buf_add(dst, s + i, n - i);
}

static int norm_replace_re(const char *s, size_t n, pcre2_code *re, const char *rep, size_t rl, tok_buf *dst,
                           am_err *err) {
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    size_t i = 0;
    int rc = 0;
    while (i <= n) {
        int r = pcre2_match(re, (PCRE2_SPTR)s, n, i, 0, md, NULL);
        if (r == PCRE2_ERROR_NOMATCH) break;
        if (r < 0) {
            rc = am_err_set(err, "normalizer regex failed (pcre2 error %d)", r);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        tok_buf_add(dst, s + i, ms - i);
        tok_buf_add(dst, rep, rl);
        if (me == ms) { /* empty match: copy one character and move on */
            if (ms >= n) {
                i = n + 1;
                break;
            }
            int l = tok_utf8_len((const unsigned char *)s + ms, n - ms);
            size_t cl = l ? (size_t)l : 1;
            tok_buf_add(dst, s + ms, cl);
            i = ms + cl;
        } else {
            i = me;
        }
    }
    if (i < n) tok_buf_add(dst, s + i, n - i);
    pcre2_match_data_free(md);
    return rc;
}

/* SentencePiece remove_extra_whitespaces: no leading or trailing spaces, one
 * space between words. */
static void norm_spm_collapse(const char *s, size_t n, tok_buf *dst) {
    size_t i = 0;
    while (i < n && s[i] == ' ') i++;
    bool space = false;
    for (; i < n; i++) {
        if (s[i] == ' ') {
            space = true;
            continue;
        }
        if (space) tok_buf_add(dst, " ", 1);
        space = false;
        tok_buf_add(dst, s + i, 1);
    }
}

int tok_normalize(const am_tokenizer *t, const tok_norm_step *steps, int n_steps, const char *s, size_t n,
                  tok_buf *out, am_err *err) {
    (void)t;
    tok_buf bufs[2] = {{0}, {0}};
    const char *cur = s;
    size_t cn = n;
    int which = 0, rc = 0;
    for (int k = 0; k < n_steps; k++) {
        const tok_norm_step *st = &steps[k];
        tok_buf *dst = &bufs[which];
        dst->n = 0;
        /* most steps keep the size; Replace "▁" for " " triples it at worst */
        tok_buf_reserve(dst, cn + cn / 2 + st->alen + 64);
        tok_buf_add(dst, "", 0);
        switch (st->type) {
        case NORM_NFC: norm_unicode(cur, cn, UTF8PROC_STABLE | UTF8PROC_COMPOSE, dst); break;
        case NORM_NFD: norm_unicode(cur, cn, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, dst); break;
        case NORM_NFKC: norm_unicode(cur, cn, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT, dst); break;
        case NORM_NFKD: norm_unicode(cur, cn, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, dst); break;
        case NORM_LOWER: norm_lower(cur, cn, dst); break;
        case NORM_STRIP_ACCENTS: norm_strip_accents(cur, cn, dst); break;
        case NORM_STRIP: norm_strip(cur, cn, st->left, st->right, dst); break;
        case NORM_SPM_COLLAPSE: norm_spm_collapse(cur, cn, dst); break;
        case NORM_PREPEND:
            if (cn) tok_buf_add(dst, st->a, st->alen); /* HF prepends to non-empty text only */
            tok_buf_add(dst, cur, cn);
            break;
        case NORM_REPLACE:
            if (st->re)
                rc = norm_replace_re(cur, cn, st->re, st->b, st->blen, dst, err);
            else
                norm_replace_str(cur, cn, st->a, st->alen, st->b, st->blen, dst);
            break;
        }
        if (rc) break;
        cur = dst->p;
        cn = dst->n;
        which ^= 1;
    }
    out->n = 0;
    tok_buf_add(out, cur, cn);
    tok_buf_free(&bufs[0]);
    tok_buf_free(&bufs[1]);
    return rc;
}
