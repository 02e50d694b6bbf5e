/*
 * detok.c — ids back to text: whole-sequence decoding (exact bytes) and the
 * streaming detokenizer (valid UTF-8 chunks, never a split character).
 *
 * Every id's bytes were computed at load time (the model's decoder applied to
 * the piece: byte-level inverse mapping, "▁" -> space, <0xXX> -> byte), so
 * decoding is concatenation plus the decoder's leading-space strip.
 * The streamer holds back the bytes of an incomplete character; a sequence
 * that can no longer become valid is replaced by U+FFFD, one per maximal
 * invalid subsequence (the rule of Rust's from_utf8_lossy, which HF uses),
 * and so is a NUL byte when the params ask (am_tok_output_params do).
 */
#include <stdlib.h>
#include <string.h>

#include "text/tok_internal.h"

static bool valid_id(const am_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->v.n && t->v.str_len[id] != TOK_NONE;
}

char *am_tokenizer_decode(const am_tokenizer *t, const int32_t *ids, size_t n, const am_tok_decode_params *p,
                          size_t *len_out, am_err *err) {
    am_tok_decode_params dp = am_tok_decode_default_params();
    if (!p) p = &dp;
    tok_buf b = {0};
    tok_buf_add(&b, "", 0);
    int strip = p->strip_leading ? t->strip_leading : 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (!valid_id(t, id)) {
            tok_buf_free(&b);
            am_err_set(err, "token id %d is not in the vocabulary (0..%d)", id, t->v.n - 1);
            return NULL;
        }
        if (p->skip_special && (t->v.flags[id] & TKF_SPECIAL)) continue;
        const char *d = tok_dec(&t->v, id);
        size_t dl = t->v.dec_len[id];
        while (strip > 0 && dl > 0 && b.n == 0) {
            if (d[0] != ' ') {
                strip = 0;
                break;
            }
            d++;
            dl--;
            strip--;
        }
        if (dl) strip = 0;
        tok_buf_add(&b, d, dl);
    }
    if (len_out) *len_out = b.n;
    return b.p;
}

struct am_detok {
    const am_tokenizer *t;
    am_tok_decode_params p;
    int strip;      /* leading spaces still to strip */
    bool started;   /* some byte was produced */
    unsigned char held[4];
    int n_held;
    tok_buf out;
};

am_detok *am_detok_create(const am_tokenizer *t, const am_tok_decode_params *p) {
    am_detok *d = am_xcalloc(1, sizeof *d);
    d->t = t;
    d->p = p ? *p : am_tok_decode_default_params();
    am_detok_reset(d);
    return d;
}

void am_detok_free(am_detok *d) {
    if (!d) return;
    tok_buf_free(&d->out);
    free(d);
}

void am_detok_reset(am_detok *d) {
    d->strip = d->p.strip_leading ? d->t->strip_leading : 0;
    d->started = false;
    d->n_held = 0;
    d->out.n = 0;
}

static const char REPL[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Expected length of a sequence from its lead byte (0: not a lead byte). */
static int seq_len(unsigned c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c < 0xE0) return 2;
    if (c >= 0xE0 && c < 0xF0) return 3;
    if (c >= 0xF0 && c < 0xF5) return 4;
    return 0;
}

/* Is s[k] an acceptable continuation at position k of a sequence led by s[0]? */
static bool cont_ok(const unsigned char *s, int k) {
    unsigned c = s[k];
    if ((c & 0xC0) != 0x80) return false;
    if (k == 1) {
        if (s[0] == 0xE0 && c < 0xA0) return false;
        if (s[0] == 0xED && c >= 0xA0) return false;
        if (s[0] == 0xF0 && c < 0x90) return false;
        if (s[0] == 0xF4 && c >= 0x90) return false;
    }
    return true;
}

/* Appends the complete characters of s to out, U+FFFD for invalid
 * subsequences (and for NUL bytes when nul is set), and returns how many
 * trailing bytes form an incomplete (still possibly valid) character; those
 * are not consumed. With final set, an incomplete tail is replaced too. */
static size_t emit_valid(const unsigned char *s, size_t n, bool final, bool nul, tok_buf *out) {
    size_t i = 0, run = 0;
    while (i < n) {
        int l = nul && s[i] == 0 ? 0 : seq_len(s[i]);
        if (l == 1) {
            i++;
            continue;
        }
        int k = 1;
        while (l && k < l && i + (size_t)k < n && cont_ok(s + i, k)) k++;
        if (l && k == l) {
            i += (size_t)l;
            continue;
        }
        if (l && i + (size_t)k == n && !final) { /* incomplete at the end: hold */
            tok_buf_add(out, s + run, i - run);
            return n - i;
        }
        tok_buf_add(out, s + run, i - run);
        tok_buf_add(out, REPL, 3);
        i += (size_t)(l ? k : 1);
        run = i;
    }
    tok_buf_add(out, s + run, n - run);
    return 0;
}

int am_detok_push(am_detok *d, int32_t id, const char **chunk, size_t *n, am_err *err) {
    const am_tokenizer *t = d->t;
    d->out.n = 0;
    tok_buf_add(&d->out, "", 0);
    *chunk = d->out.p;
    *n = 0;
    if (!valid_id(t, id)) return am_err_set(err, "token id %d is not in the vocabulary (0..%d)", id, t->v.n - 1);
    if (d->p.skip_special && (t->v.flags[id] & TKF_SPECIAL)) return 0;
    const char *s = tok_dec(&t->v, id);
    size_t sl = t->v.dec_len[id];
    while (d->strip > 0 && !d->started && sl > 0) {
        if (s[0] != ' ') {
            d->strip = 0;
            break;
        }
        s++;
        sl--;
        d->strip--;
    }
    if (!sl) return 0;
    d->started = true;
    /* held bytes + this piece; the held part is at most 3 bytes */
    tok_buf tmp = {0};
    const unsigned char *src = (const unsigned char *)s;
    size_t srcn = sl;
    if (d->n_held) {
        tok_buf_add(&tmp, d->held, (size_t)d->n_held);
        tok_buf_add(&tmp, s, sl);
        src = (const unsigned char *)tmp.p;
        srcn = tmp.n;
    }
    size_t keep = emit_valid(src, srcn, false, d->p.nul_as_replacement, &d->out);
    memcpy(d->held, src + srcn - keep, keep);
    d->n_held = (int)keep;
    tok_buf_free(&tmp);
    *chunk = d->out.p;
    *n = d->out.n;
    return 0;
}

size_t am_detok_held(const am_detok *d, const char **bytes) {
    *bytes = (const char *)d->held;
    return (size_t)d->n_held;
}

void am_detok_flush(am_detok *d, const char **chunk, size_t *n) {
    d->out.n = 0;
    tok_buf_add(&d->out, "", 0);
    emit_valid(d->held, (size_t)d->n_held, true, d->p.nul_as_replacement, &d->out);
    d->n_held = 0;
    *chunk = d->out.p;
    *n = d->out.n;
}
