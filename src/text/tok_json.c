/*
 * tok_json.c — Hugging Face tokenizer.json (+ tokenizer_config.json) loader.
 *
 * Reads model (BPE only: vocab, merges, unk_token, byte_fallback,
 * ignore_merges, fuse_unk), added_tokens, normalizer, pre_tokenizer,
 * post_processor and decoder, and turns them into an am_tokenizer. Anything
 * it does not implement exactly (WordPiece/Unigram models, Precompiled
 * normalizers, subword prefixes...) is an error that names it: a tokenizer
 * that loads encodes as HF does.
 *
 * Hostile input: sizes bounded (file 1 GiB, ids below TOK_MAX_VOCAB, nesting
 * by the JSON reader), every field type-checked.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "base/file.h"
#include "text/tok_internal.h"
#include "text/tok_jscan.h"

#define MAX_JSON_BYTES ((size_t)1 << 30)

/* GPT-2's pattern, used by ByteLevel with use_regex. */
static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct loader {
    jt_doc d;
    am_tokenizer *t;
    am_err *err;
    tok_buf tmp, tmp2;
    /* decoder */
    bool dec_bytelevel, dec_bytefallback;
    struct {
        char *pat, *rep;
        size_t pl, rl;
    } dec_repl[4];
    int n_dec_repl;
} loader;

static int fail(loader *L, const char *fmt, const char *what) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    return am_err_set(L->err, "tokenizer.json: %s", msg);
}

/* The type string of a component object; "" if missing. */
static const char *type_of(loader *L, uint32_t obj, char *buf, size_t cap) {
    buf[0] = 0;
    uint32_t ty = jt_get(&L->d, obj, "type");
    size_t n;
    const char *s = jt_str_raw(&L->d, ty, &n);
    if (s && n < cap) {
        memcpy(buf, s, n);
        buf[n] = 0;
    }
    return buf;
}

/* pattern: {"String": s} or {"Regex": r}; returns 0 and fills one of them. */
static int get_pattern(loader *L, uint32_t obj, char **str, size_t *sl, char **re, size_t *rl) {
    uint32_t p = jt_get(&L->d, obj, "pattern");
    uint32_t s = jt_get(&L->d, p, "String"), r = jt_get(&L->d, p, "Regex");
    *str = *re = NULL;
    if (jt_type(&L->d, s) == JT_STR) *str = jt_str_dup(&L->d, s, sl);
    else if (jt_type(&L->d, r) == JT_STR) *re = jt_str_dup(&L->d, r, rl);
    else return fail(L, "%s: pattern must be {\"String\": ...} or {\"Regex\": ...}", "pattern");
    return 0;
}

/* ---- normalizer ---- */

static int add_norm(loader *L, uint32_t obj, int depth) {
    am_tokenizer *t = L->t;
    if (jt_type(&L->d, obj) == JT_NULL || obj == JT_NONE) return 0;
    if (depth > 8) return fail(L, "%s nested too deeply", "normalizer");
    char ty[64];
    type_of(L, obj, ty, sizeof ty);
    if (!strcmp(ty, "Sequence")) {
        uint32_t arr = jt_get(&L->d, obj, "normalizers");
        for (uint32_t e = jt_first(&L->d, arr); e != JT_NONE; e = jt_next(&L->d, arr, e))
            if (add_norm(L, e, depth + 1)) return -1;
        return 0;
    }
    if (t->n_norm >= TOK_MAX_STEPS) return fail(L, "%s: too many steps", "normalizer");
    /* Counted at once (as pre-tokenizer steps are), so that a step failing
     * half-built is freed with the tokenizer. */
    tok_norm_step *s = &t->norm[t->n_norm++];
    memset(s, 0, sizeof *s);
    if (!strcmp(ty, "NFC")) s->type = NORM_NFC;
    else if (!strcmp(ty, "NFD")) s->type = NORM_NFD;
    else if (!strcmp(ty, "NFKC")) s->type = NORM_NFKC;
    else if (!strcmp(ty, "NFKD")) s->type = NORM_NFKD;
    else if (!strcmp(ty, "Lowercase")) s->type = NORM_LOWER;
    else if (!strcmp(ty, "StripAccents")) s->type = NORM_STRIP_ACCENTS;
    else if (!strcmp(ty, "Strip")) {
        s->type = NORM_STRIP;
        s->left = jt_get_bool(&L->d, obj, "strip_left", true);
        s->right = jt_get_bool(&L->d, obj, "strip_right", true);
    } else if (!strcmp(ty, "Prepend")) {
        s->type = NORM_PREPEND;
        s->a = jt_str_dup(&L->d, jt_get(&L->d, obj, "prepend"), &s->alen);
        if (!s->a) return fail(L, "%s: missing \"prepend\"", "Prepend normalizer");
    } else if (!strcmp(ty, "Replace")) {
        s->type = NORM_REPLACE;
        char *re = NULL;
        size_t rl = 0;
        if (get_pattern(L, obj, &s->a, &s->alen, &re, &rl)) return -1;
        s->b = jt_str_dup(&L->d, jt_get(&L->d, obj, "content"), &s->blen);
        if (!s->b) {
            free(re);
            return fail(L, "%s: missing \"content\"", "Replace normalizer");
        }
        if (re) {
            s->re = tok_regex_compile(re, rl, L->err);
            s->a = re;
            s->alen = rl;
            if (!s->re) return am_err_prefix(L->err, "tokenizer.json: Replace normalizer");
        }
    } else {
        return fail(L, "unsupported normalizer \"%s\"", ty[0] ? ty : "(no type)");
    }
    return 0;
}

/* ---- pre-tokenizer ---- */

static int behavior_of(loader *L, uint32_t obj, int dflt, int *out) {
    uint32_t b = jt_get(&L->d, obj, "behavior");
    if (b == JT_NONE) {
        *out = dflt;
        return 0;
    }
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (jt_str_eq(&L->d, b, names[i])) {
            *out = i;
            return 0;
        }
    return fail(L, "unknown split behavior in %s", "pre_tokenizer");
}

static tok_pre_step *new_pre(loader *L) {
    if (L->t->n_pre >= TOK_MAX_STEPS) {
        fail(L, "%s: too many steps", "pre_tokenizer");
        return NULL;
    }
    tok_pre_step *p = &L->t->pre[L->t->n_pre++];
    memset(p, 0, sizeof *p);
    return p;
}

static int add_regex_split(loader *L, const char *pat, size_t n, int behavior, bool invert) {
    tok_pre_step *p = new_pre(L);
    if (!p) return -1;
    p->type = PRE_SPLIT;
    p->pat = SPLIT_PAT_REGEX;
    p->lit = am_xstrndup(pat, n);
    p->litlen = n;
    p->behavior = behavior;
    p->invert = invert;
    p->re = tok_regex_compile(pat, n, L->err);
    if (!p->re) return am_err_prefix(L->err, "tokenizer.json: pre_tokenizer Split");
    return 0;
}

static int add_char_split(loader *L, int pat, int behavior) {
    tok_pre_step *p = new_pre(L);
    if (!p) return -1;
    p->type = PRE_SPLIT;
    p->pat = pat;
    p->behavior = behavior;
    return 0;
}

static int prepend_scheme(loader *L, uint32_t obj) {
    uint32_t ps = jt_get(&L->d, obj, "prepend_scheme");
    if (jt_str_eq(&L->d, ps, "always")) return PREPEND_ALWAYS;
    if (jt_str_eq(&L->d, ps, "first")) return PREPEND_FIRST;
    if (jt_str_eq(&L->d, ps, "never")) return PREPEND_NEVER;
    return jt_get_bool(&L->d, obj, "add_prefix_space", true) ? PREPEND_ALWAYS : PREPEND_NEVER;
}

static int add_pre(loader *L, uint32_t obj, int depth) {
    if (obj == JT_NONE || jt_type(&L->d, obj) == JT_NULL) return 0;
    if (depth > 8) return fail(L, "%s nested too deeply", "pre_tokenizer");
    char ty[64];
    type_of(L, obj, ty, sizeof ty);
    if (!strcmp(ty, "Sequence")) {
        uint32_t arr = jt_get(&L->d, obj, "pretokenizers");
        for (uint32_t e = jt_first(&L->d, arr); e != JT_NONE; e = jt_next(&L->d, arr, e))
            if (add_pre(L, e, depth + 1)) return -1;
        return 0;
    }
    if (!strcmp(ty, "Split")) {
        char *str, *re;
        size_t sl = 0, rl = 0;
        int beh;
        if (behavior_of(L, obj, SPLIT_ISOLATED, &beh) || get_pattern(L, obj, &str, &sl, &re, &rl)) return -1;
        bool invert = jt_get_bool(&L->d, obj, "invert", false);
        if (re) {
            int rc = add_regex_split(L, re, rl, beh, invert);
            free(re);
            return rc;
        }
        tok_pre_step *p = new_pre(L);
        if (!p) {
            free(str);
            return -1;
        }
        p->type = PRE_SPLIT;
        p->pat = SPLIT_PAT_STRING;
        p->lit = str;
        p->litlen = sl;
        p->behavior = beh;
        p->invert = invert;
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) {
        L->t->byte_level = true;
        if (jt_get_bool(&L->d, obj, "add_prefix_space", true)) {
            tok_pre_step *p = new_pre(L);
            if (!p) return -1;
            p->type = PRE_PREFIX_SPACE;
        }
        if (jt_get_bool(&L->d, obj, "use_regex", true))
            return add_regex_split(L, GPT2_PATTERN, sizeof GPT2_PATTERN - 1, SPLIT_ISOLATED, false);
        return 0;
    }
    if (!strcmp(ty, "Digits"))
        return add_char_split(L, SPLIT_PAT_DIGITS,
                              jt_get_bool(&L->d, obj, "individual_digits", false) ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS);
    if (!strcmp(ty, "WhitespaceSplit")) return add_char_split(L, SPLIT_PAT_CHAR_WS, SPLIT_REMOVED);
    if (!strcmp(ty, "Whitespace")) {
        static const char ws[] = "\\w+|[^\\w\\s]+";
        return add_regex_split(L, ws, sizeof ws - 1, SPLIT_REMOVED, true);
    }
    if (!strcmp(ty, "Punctuation")) {
        int beh;
        if (behavior_of(L, obj, SPLIT_ISOLATED, &beh)) return -1;
        return add_char_split(L, SPLIT_PAT_PUNCT, beh);
    }
    if (!strcmp(ty, "Metaspace")) {
        tok_pre_step *p = new_pre(L);
        if (!p) return -1;
        p->type = PRE_METASPACE;
        size_t rl = 0;
        char *rep = jt_str_dup(&L->d, jt_get(&L->d, obj, "replacement"), &rl);
        if (!rep || rl == 0 || rl >= sizeof p->rep) {
            free(rep);
            return fail(L, "%s: bad \"replacement\"", "Metaspace");
        }
        memcpy(p->rep, rep, rl);
        p->replen = rl;
        free(rep);
        p->prepend = prepend_scheme(L, obj);
        p->split = jt_get_bool(&L->d, obj, "split", true);
        return 0;
    }
    return fail(L, "unsupported pre_tokenizer \"%s\"", ty[0] ? ty : "(no type)");
}

/* ---- post-processor: which ids add_special puts around the text ---- */

static int32_t token_by_content(loader *L, const char *s, size_t n);

static int add_post(loader *L, uint32_t obj, int depth) {
    am_tokenizer *t = L->t;
    if (obj == JT_NONE || jt_type(&L->d, obj) == JT_NULL) return 0;
    if (depth > 8) return fail(L, "%s nested too deeply", "post_processor");
    char ty[64];
    type_of(L, obj, ty, sizeof ty);
    if (!strcmp(ty, "Sequence")) {
        uint32_t arr = jt_get(&L->d, obj, "processors");
        for (uint32_t e = jt_first(&L->d, arr); e != JT_NONE; e = jt_next(&L->d, arr, e))
            if (add_post(L, e, depth + 1)) return -1;
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) return 0; /* offsets only */
    if (!strcmp(ty, "TemplateProcessing")) {
        uint32_t single = jt_get(&L->d, obj, "single");
        uint32_t specials = jt_get(&L->d, obj, "special_tokens");
        bool seen_seq = false;
        t->n_prefix = t->n_suffix = 0;
        for (uint32_t e = jt_first(&L->d, single); e != JT_NONE; e = jt_next(&L->d, single, e)) {
            if (jt_get(&L->d, e, "Sequence") != JT_NONE) {
                seen_seq = true;
                continue;
            }
            uint32_t st = jt_get(&L->d, e, "SpecialToken");
            uint32_t name = jt_get(&L->d, st, "id");
            if (jt_type(&L->d, name) != JT_STR) return fail(L, "%s: bad item in \"single\"", "TemplateProcessing");
            tok_buf nb = {0};
            jt_str_append(&L->d, name, &nb);
            uint32_t spec = jt_get(&L->d, specials, nb.p);
            tok_buf_free(&nb);
            uint32_t ids = jt_get(&L->d, spec, "ids");
            if (jt_type(&L->d, ids) != JT_ARR) return fail(L, "%s: special token without ids", "TemplateProcessing");
            for (uint32_t k = jt_first(&L->d, ids); k != JT_NONE; k = jt_next(&L->d, ids, k)) {
                int64_t id;
                if (!jt_int(&L->d, k, &id) || id < 0 || id >= TOK_MAX_VOCAB)
                    return fail(L, "%s: bad special token id", "TemplateProcessing");
                int *cnt = seen_seq ? &t->n_suffix : &t->n_prefix;
                int32_t *arr = seen_seq ? t->suffix : t->prefix;
                if (*cnt >= 8) return fail(L, "%s: too many special tokens", "TemplateProcessing");
                arr[(*cnt)++] = (int32_t)id;
            }
        }
        return 0;
    }
    if (!strcmp(ty, "RobertaProcessing") || !strcmp(ty, "BertProcessing")) {
        uint32_t cls = jt_get(&L->d, obj, "cls"), sep = jt_get(&L->d, obj, "sep");
        int64_t ci, si;
        if (!jt_int(&L->d, jt_val(jt_first(&L->d, cls)) , &ci) || !jt_int(&L->d, jt_val(jt_first(&L->d, sep)), &si) ||
            ci < 0 || si < 0 || ci >= TOK_MAX_VOCAB || si >= TOK_MAX_VOCAB)
            return fail(L, "%s: bad cls/sep", ty);
        t->prefix[0] = (int32_t)ci;
        t->n_prefix = 1;
        t->suffix[0] = (int32_t)si;
        t->n_suffix = 1;
        return 0;
    }
    (void)token_by_content;
    return fail(L, "unsupported post_processor \"%s\"", ty[0] ? ty : "(no type)");
}

/* ---- decoder ---- */

static int add_dec(loader *L, uint32_t obj, int depth, bool *fused) {
    am_tokenizer *t = L->t;
    if (obj == JT_NONE || jt_type(&L->d, obj) == JT_NULL) return 0;
    if (depth > 8) return fail(L, "%s nested too deeply", "decoder");
    char ty[64];
    type_of(L, obj, ty, sizeof ty);
    if (!strcmp(ty, "Sequence")) {
        uint32_t arr = jt_get(&L->d, obj, "decoders");
        for (uint32_t e = jt_first(&L->d, arr); e != JT_NONE; e = jt_next(&L->d, arr, e))
            if (add_dec(L, e, depth + 1, fused)) return -1;
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) {
        L->dec_bytelevel = true;
        return 0;
    }
    if (!strcmp(ty, "ByteFallback")) {
        L->dec_bytefallback = true;
        return 0;
    }
    if (!strcmp(ty, "Fuse")) {
        *fused = true;
        return 0;
    }
    if (!strcmp(ty, "Replace")) {
        char *str, *re;
        size_t sl = 0, rl = 0;
        if (get_pattern(L, obj, &str, &sl, &re, &rl)) return -1;
        if (re) {
            free(re);
            return fail(L, "unsupported decoder \"%s\" with a regex", "Replace");
        }
        if (L->n_dec_repl >= 4) {
            free(str);
            return fail(L, "%s: too many", "Replace decoders");
        }
        int k = L->n_dec_repl++;
        L->dec_repl[k].pat = str;
        L->dec_repl[k].pl = sl;
        L->dec_repl[k].rep = jt_str_dup(&L->d, jt_get(&L->d, obj, "content"), &L->dec_repl[k].rl);
        if (!L->dec_repl[k].rep) return fail(L, "%s: missing \"content\"", "Replace decoder");
        return 0;
    }
    if (!strcmp(ty, "Strip")) {
        int64_t start = 0, stop = 0;
        jt_int(&L->d, jt_get(&L->d, obj, "start"), &start);
        jt_int(&L->d, jt_get(&L->d, obj, "stop"), &stop);
        if (!jt_str_eq(&L->d, jt_get(&L->d, obj, "content"), " ") || stop != 0 || start < 0 || start > 8)
            return fail(L, "unsupported decoder \"%s\" (only leading spaces)", "Strip");
        t->strip_leading = (int)start;
        return 0;
    }
    if (!strcmp(ty, "Metaspace")) {
        size_t rl = 0;
        char *rep = jt_str_dup(&L->d, jt_get(&L->d, obj, "replacement"), &rl);
        if (!rep || L->n_dec_repl >= 4) {
            free(rep);
            return fail(L, "%s: bad \"replacement\"", "Metaspace decoder");
        }
        int k = L->n_dec_repl++;
        L->dec_repl[k].pat = rep;
        L->dec_repl[k].pl = rl;
        L->dec_repl[k].rep = am_xstrdup(" ");
        L->dec_repl[k].rl = 1;
        if (prepend_scheme(L, obj) != PREPEND_NEVER) t->strip_leading = 1;
        return 0;
    }
    return fail(L, "unsupported decoder \"%s\"", ty[0] ? ty : "(no type)");
}

/* Bytes a piece decodes to, by the decoder's per-token rules. */
static void decode_piece(loader *L, const char *s, size_t n, tok_buf *out) {
    out->n = 0;
    tok_buf_add(out, "", 0);
    if (L->dec_bytelevel) {
        tok_buf_add(out, NULL, 0);
        if (out->cap < n + 1) {
            out->p = am_xrealloc(out->p, n + 1);
            out->cap = n + 1;
        }
        long r = tok_bytelevel_decode(s, n, out->p);
        if (r >= 0) {
            out->n = (size_t)r;
            return;
        }
        /* a character outside the mapping: HF keeps the piece's own bytes */
        out->n = 0;
    }
    tok_buf_add(out, s, n);
    for (int k = 0; k < L->n_dec_repl; k++) {
        if (!L->dec_repl[k].pl) continue;
        tok_buf *o2 = &L->tmp2;
        o2->n = 0;
        size_t i = 0;
        while (i < out->n) {
            const char *m = memmem(out->p + i, out->n - i, L->dec_repl[k].pat, L->dec_repl[k].pl);
            if (!m) break;
            size_t at = (size_t)(m - out->p);
            tok_buf_add(o2, out->p + i, at - i);
            tok_buf_add(o2, L->dec_repl[k].rep, L->dec_repl[k].rl);
            i = at + L->dec_repl[k].pl;
        }
        tok_buf_add(o2, out->p + i, out->n - i);
        out->n = 0;
        tok_buf_add(out, o2->p, o2->n);
    }
    if (L->dec_bytefallback) {
        int b = tok_parse_byte_piece(out->p, out->n);
        if (b >= 0) {
            out->n = 1;
            out->p[0] = (char)b;
        }
    }
}

/* ---- model ---- */

static int32_t token_by_content(loader *L, const char *s, size_t n) {
    return am_tokenizer_token_id(L->t, s, n);
}

/* Key bytes of a vocabulary string: raw bytes for byte-level (false if the
 * string has characters outside the mapping), the string itself otherwise. */
static bool model_key(loader *L, const char *s, size_t n, tok_buf *out) {
    out->n = 0;
    if (!L->t->byte_level) {
        tok_buf_add(out, s, n);
        return true;
    }
    tok_buf_add(out, NULL, 0);
    if (out->cap < n + 1) {
        out->p = am_xrealloc(out->p, n + 1);
        out->cap = n + 1;
    }
    long r = tok_bytelevel_decode(s, n, out->p);
    if (r < 0) return false;
    out->n = (size_t)r;
    return true;
}

static int load_vocab(loader *L, uint32_t vocab, uint32_t added) {
    am_tokenizer *t = L->t;
    jt_doc *d = &L->d;
    if (jt_type(d, vocab) != JT_OBJ) return fail(L, "%s must be an object", "model.vocab");
    int64_t max_id = -1;
    for (uint32_t k = jt_first(d, vocab); k != JT_NONE; k = jt_next(d, vocab, k)) {
        int64_t id;
        if (!jt_int(d, jt_val(k), &id) || id < 0 || id >= TOK_MAX_VOCAB)
            return fail(L, "%s: token id missing or out of range", "model.vocab");
        if (id > max_id) max_id = id;
    }
    for (uint32_t e = jt_first(d, added); e != JT_NONE; e = jt_next(d, added, e)) {
        int64_t id;
        if (!jt_int(d, jt_get(d, e, "id"), &id) || id < 0 || id >= TOK_MAX_VOCAB)
            return fail(L, "%s: token id missing or out of range", "added_tokens");
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) return fail(L, "%s", "empty vocabulary");
    tok_vocab_init(&t->v, (int32_t)max_id + 1);
    for (uint32_t k = jt_first(d, vocab); k != JT_NONE; k = jt_next(d, vocab, k)) {
        int64_t id;
        jt_int(d, jt_val(k), &id);
        size_t n;
        const char *s = jt_str_raw(d, k, &n);
        if (!s) {
            L->tmp.n = 0;
            jt_str_append(d, k, &L->tmp);
            s = L->tmp.p ? L->tmp.p : "";
            n = L->tmp.n;
        }
        t->v.str_off[id] = tok_arena_add(&t->v, s, n);
        t->v.str_len[id] = (uint32_t)n;
        t->v.kind[id] = TK_NORMAL;
        if (model_key(L, s, n, &L->tmp2)) {
            t->v.key[id].off = L->t->byte_level ? tok_arena_add(&t->v, L->tmp2.p, L->tmp2.n) : t->v.str_off[id];
            t->v.key[id].len = (uint32_t)L->tmp2.n;
            t->v.flags[id] |= TKF_INDEXED;
        } else {
            t->v.flags[id] &= (uint8_t)~TKF_INDEXED;
        }
        if (tok_parse_byte_piece(s, n) >= 0 && !t->byte_level) t->v.kind[id] = TK_BYTE;
    }
    return 0;
}

static int load_added(loader *L, uint32_t added) {
    am_tokenizer *t = L->t;
    jt_doc *d = &L->d;
    if (added == JT_NONE || jt_type(d, added) == JT_NULL) return 0;
    if (jt_type(d, added) != JT_ARR) return fail(L, "%s must be an array", "added_tokens");
    for (uint32_t e = jt_first(d, added); e != JT_NONE; e = jt_next(d, added, e)) {
        int64_t id;
        jt_int(d, jt_get(d, e, "id"), &id); /* range checked in load_vocab */
        uint32_t c = jt_get(d, e, "content");
        if (jt_type(d, c) != JT_STR) return fail(L, "%s: token without content", "added_tokens");
        L->tmp.n = 0;
        jt_str_append(d, c, &L->tmp);
        const char *s = L->tmp.p ? L->tmp.p : "";
        size_t n = L->tmp.n;
        bool special = jt_get_bool(d, e, "special", false);
        tok_add_added(t, (int32_t)id, s, n, special, jt_get_bool(d, e, "lstrip", false),
                      jt_get_bool(d, e, "rstrip", false), jt_get_bool(d, e, "normalized", !special),
                      jt_get_bool(d, e, "single_word", false));
        /* the added vocabulary decides how the id prints */
        t->v.str_off[id] = t->added[t->n_added - 1].off;
        t->v.str_len[id] = (uint32_t)n;
        if (special) {
            t->v.flags[id] |= TKF_SPECIAL;
            t->v.kind[id] = TK_CONTROL;
        } else if (t->v.kind[id] == TK_HOLE) {
            t->v.kind[id] = TK_USER;
        }
    }
    return 0;
}

/* A string node's bytes: a view into the source when it has no escapes,
 * else unescaped into b. */
static const char *str_view(loader *L, uint32_t i, tok_buf *b, size_t *n) {
    const char *s = jt_str_raw(&L->d, i, n);
    if (s) return s;
    b->n = 0;
    if (!jt_str_append(&L->d, i, b)) return NULL;
    *n = b->n;
    return b->p ? b->p : "";
}

/* Model key of piece s into out (which has room for n bytes). */
static long key_into(loader *L, const char *s, size_t n, char *out) {
    if (!L->t->byte_level) {
        memcpy(out, s, n);
        return (long)n;
    }
    return tok_bytelevel_decode(s, n, out);
}

/* One merge, keyed: its pieces' model keys back to back in a buffer. */
typedef struct merge_key {
    uint32_t off, la, lb;
} merge_key;

/* Lookups of a 500K-merge list are cache misses (slot, key bytes, merge
 * slot): they are software-pipelined, prefetching D merges ahead. */
#define MERGE_D 8

static int load_merges(loader *L, uint32_t merges) {
    am_tokenizer *t = L->t;
    jt_doc *d = &L->d;
    if (merges == JT_NONE || jt_type(d, merges) == JT_NULL) {
        tok_merges_init(&t->merges, 0);
        return 0;
    }
    if (jt_type(d, merges) != JT_ARR) return fail(L, "%s must be an array", "model.merges");
    uint32_t nm = jt_len(d, merges);
    tok_merges_init(&t->merges, nm);
    /* pass 1: keys */
    merge_key *mk = am_xmalloc(((size_t)nm + 1) * sizeof *mk);
    tok_buf ba = {0}, bb = {0}, keys = {0};
    int rc = 0;
    uint32_t cnt = 0;
    for (uint32_t e = jt_first(d, merges); e != JT_NONE; e = jt_next(d, merges, e), cnt++) {
        const char *pa = NULL, *pb = NULL;
        size_t la = 0, lb = 0;
        if (jt_type(d, e) == JT_STR) {
            size_t n;
            const char *s = str_view(L, e, &ba, &n);
            const char *sp = memchr(s, ' ', n);
            if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s))) {
                rc = fail(L, "%s: a merge must be two pieces separated by one space", "model.merges");
                break;
            }
            pa = s;
            la = (size_t)(sp - s);
            pb = sp + 1;
            lb = n - la - 1;
        } else if (jt_type(d, e) == JT_ARR && jt_len(d, e) == 2) {
            uint32_t x = jt_first(d, e), y = jt_next(d, e, x);
            pa = str_view(L, x, &ba, &la);
            pb = str_view(L, y, &bb, &lb);
        }
        if (!pa || !pb) {
            rc = fail(L, "%s: a merge must be \"a b\" or [\"a\", \"b\"]", "model.merges");
            break;
        }
        if (keys.n + la + lb >= UINT32_MAX / 2) {
            rc = fail(L, "%s: too large", "model.merges");
            break;
        }
        tok_buf_reserve(&keys, keys.n + la + lb);
        long ka = key_into(L, pa, la, keys.p + keys.n), kb = ka < 0 ? -1 : key_into(L, pb, lb, keys.p + keys.n + ka);
        if (ka < 0 || kb < 0) {
            rc = fail(L, "%s: merge piece outside the byte-level alphabet", "model.merges");
            break;
        }
        mk[cnt] = (merge_key){(uint32_t)keys.n, (uint32_t)ka, (uint32_t)kb};
        keys.n += (size_t)(ka + kb);
    }
    tok_buf_free(&ba);
    tok_buf_free(&bb);
    /* pass 2: lookups, pipelined: hash + slot prefetch at i, key bytes
     * prefetch at i - D, ids + merge-slot prefetch at i - 2D, insert at i - 3D */
    uint64_t hs[4 * MERGE_D][3];
    int32_t ids[4 * MERGE_D][3];
    const tok_vocab *v = &t->v;
    for (uint32_t i = 0; !rc && i < cnt + 3 * MERGE_D; i++) {
        if (i < cnt) {
            const char *k = keys.p + mk[i].off;
            uint64_t *h = hs[i % (4 * MERGE_D)];
            h[0] = tok_hash(k, mk[i].la);
            h[1] = tok_hash(k + mk[i].la, mk[i].lb);
            h[2] = tok_hash(k, (size_t)mk[i].la + mk[i].lb);
            for (int q = 0; q < 3; q++) tok_vocab_prefetch_slot(v, h[q]);
        }
        if (i >= MERGE_D && i - MERGE_D < cnt) {
            uint64_t *h = hs[(i - MERGE_D) % (4 * MERGE_D)];
            for (int q = 0; q < 3; q++) tok_vocab_prefetch_key(v, h[q]);
        }
        if (i >= 2 * MERGE_D && i - 2 * MERGE_D < cnt) {
            uint32_t j = i - 2 * MERGE_D;
            const char *k = keys.p + mk[j].off;
            uint64_t *h = hs[j % (4 * MERGE_D)];
            int32_t *id = ids[j % (4 * MERGE_D)];
            id[0] = tok_vocab_find_h(v, k, mk[j].la, h[0]);
            id[1] = tok_vocab_find_h(v, k + mk[j].la, mk[j].lb, h[1]);
            id[2] = tok_vocab_find_h(v, k, (size_t)mk[j].la + mk[j].lb, h[2]);
            if (id[0] < 0 || id[1] < 0 || id[2] < 0) {
                rc = am_err_set(L->err, "tokenizer.json: merge %u uses a piece not in the vocabulary", j);
                break;
            }
            tok_merges_prefetch(&t->merges, id[0], id[1]);
        }
        if (i >= 3 * MERGE_D) {
            uint32_t j = i - 3 * MERGE_D;
            const int32_t *id = ids[j % (4 * MERGE_D)];
            tok_merges_add(&t->merges, id[0], id[1], j, id[2], true);
        }
    }
    free(mk);
    tok_buf_free(&keys);
    return rc;
}

/* Load phases are logged at debug level in thread CPU time. */
static double thread_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static am_tokenizer *from_json(const char *data, size_t len, const char *config_path, am_err *err) {
    loader L;
    memset(&L, 0, sizeof L);
    L.err = err;
    L.t = tok_alloc();
    am_tokenizer *t = L.t;
    jt_doc *d = &L.d;
    bool fused = false;
    double t0 = thread_cpu_now(), t_parse = 0, t_vocab = 0, t_merges = 0;
    if (jt_parse(d, data, len, err)) {
        am_err_prefix(err, "tokenizer.json");
        goto fail;
    }
    t_parse = thread_cpu_now();
    uint32_t root = 0;
    if (jt_type(d, root) != JT_OBJ) {
        fail(&L, "%s", "not a JSON object");
        goto fail;
    }
    uint32_t model = jt_get(d, root, "model");
    char ty[64];
    type_of(&L, model, ty, sizeof ty);
    if (jt_type(d, model) != JT_OBJ || (ty[0] && strcmp(ty, "BPE")) || (!ty[0] && jt_get(d, model, "merges") == JT_NONE)) {
        fail(&L, "unsupported model type \"%s\" (only BPE tokenizers are supported)", ty[0] ? ty : "(none)");
        goto fail;
    }
    t->model = MODEL_BPE;
    uint32_t csp = jt_get(d, model, "continuing_subword_prefix"), eow = jt_get(d, model, "end_of_word_suffix");
    if ((jt_type(d, csp) == JT_STR && jt_len(d, csp)) || (jt_type(d, eow) == JT_STR && jt_len(d, eow))) {
        fail(&L, "unsupported BPE option %s", "continuing_subword_prefix/end_of_word_suffix");
        goto fail;
    }
    /* pre-tokenizer first: it decides whether the vocabulary is byte-level */
    if (add_norm(&L, jt_get(d, root, "normalizer"), 0) || add_pre(&L, jt_get(d, root, "pre_tokenizer"), 0) ||
        add_dec(&L, jt_get(d, root, "decoder"), 0, &fused))
        goto fail;
    uint32_t added = jt_get(d, root, "added_tokens");
    if (load_vocab(&L, jt_get(d, model, "vocab"), added) || load_added(&L, added)) goto fail;
    tok_vocab_build_index(&t->v);
    t->byte_fallback = jt_get_bool(d, model, "byte_fallback", false);
    t->ignore_merges = jt_get_bool(d, model, "ignore_merges", false);
    t->fuse_unk = jt_get_bool(d, model, "fuse_unk", false);
    uint32_t unk = jt_get(d, model, "unk_token");
    if (jt_type(d, unk) == JT_STR) {
        tok_buf ub = {0};
        jt_str_append(d, unk, &ub);
        t->unk_id = am_tokenizer_token_id(t, ub.p ? ub.p : "", ub.n);
        tok_buf_free(&ub);
    }
    t_vocab = thread_cpu_now();
    if (load_merges(&L, jt_get(d, model, "merges"))) goto fail;
    t_merges = thread_cpu_now();
    if (add_post(&L, jt_get(d, root, "post_processor"), 0)) goto fail;
    /* decoded bytes of every id */
    for (int32_t i = 0; i < t->v.n; i++) {
        if (t->v.str_len[i] == TOK_NONE) continue;
        decode_piece(&L, tok_str(&t->v, i), t->v.str_len[i], &L.tmp);
        t->v.dec_off[i] = tok_arena_add(&t->v, L.tmp.p, L.tmp.n);
        t->v.dec_len[i] = (uint32_t)L.tmp.n;
    }
    t->add_bos = t->n_prefix > 0;
    t->add_eos = t->n_suffix > 0;
    if (t->n_prefix == 1) t->bos_id = t->prefix[0];
    if (t->n_suffix == 1) t->eos_id = t->suffix[0];
    /* add_special emits these ids: each must be a token (not past the
     * vocabulary, not a hole in it), or decode would refuse what encode gave. */
    for (int i = 0; i < t->n_prefix; i++)
        if (t->prefix[i] >= t->v.n || t->v.str_len[t->prefix[i]] == TOK_NONE) {
            am_err_set(err, "tokenizer.json: post_processor: special token id %d out of range (not a token of the vocabulary)",
                       t->prefix[i]);
            goto fail;
        }
    for (int i = 0; i < t->n_suffix; i++)
        if (t->suffix[i] >= t->v.n || t->v.str_len[t->suffix[i]] == TOK_NONE) {
            am_err_set(err, "tokenizer.json: post_processor: special token id %d out of range (not a token of the vocabulary)",
                       t->suffix[i]);
            goto fail;
        }
    if (config_path && tok_apply_config(t, config_path, err)) goto fail;
    if (tok_finish(t, err)) goto fail;
    am_log_debug("tokenizer.json: parse %.3f s, vocab %.3f s, merges %.3f s, rest %.3f s", t_parse - t0,
                 t_vocab - t_parse, t_merges - t_vocab, thread_cpu_now() - t_merges);
    goto done;
fail:
    am_tokenizer_free(t);
    t = NULL;
done:
    for (int k = 0; k < L.n_dec_repl; k++) {
        free(L.dec_repl[k].pat);
        free(L.dec_repl[k].rep);
    }
    tok_buf_free(&L.tmp);
    tok_buf_free(&L.tmp2);
    jt_free(d);
    return t;
}

am_tokenizer *am_tokenizer_from_json_mem(const char *data, size_t len, am_err *err) {
    return from_json(data, len, NULL, err);
}

am_tokenizer *am_tokenizer_load_json(const char *json_path, const char *config_path, am_err *err) {
    am_mapped_file f;
    if (am_file_map(json_path, &f, err)) return NULL;
    if (f.size > MAX_JSON_BYTES) {
        am_file_unmap(&f);
        am_err_set(err, "%s: larger than %zu bytes", json_path, MAX_JSON_BYTES);
        return NULL;
    }
    if (f.data) madvise((void *)f.data, f.size, MADV_WILLNEED);
    am_tokenizer *t = from_json((const char *)f.data, f.size, config_path, err);
    am_file_unmap(&f);
    if (!t) am_err_prefix(err, "%s", json_path);
    return t;
}
