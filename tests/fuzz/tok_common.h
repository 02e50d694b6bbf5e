/*
 * tok_common.h — what every tokenizer fuzz target checks once a tokenizer
 * exists (loaded from fuzzed bytes, or a real one fed fuzzed text):
 * encoding any bytes succeeds with ids inside the vocabulary; each id has a
 * piece; decoding those ids succeeds; the streaming detokenizer accepts them,
 * hands out only valid UTF-8, and its chunks concatenate to the decoded text
 * whenever that text is valid UTF-8. Included by fuzz_tok_*.c.
 */
#ifndef AM_FUZZ_TOK_COMMON_H
#define AM_FUZZ_TOK_COMMON_H

#include <string.h>

#include "fuzz/fuzz.h"
#include "text/tokenizer.h"

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static inline bool fuzz_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += len;
    }
    return true;
}

/* Encodes text with p, checks ids, decodes them both ways. Returns the
 * decoded bytes (caller frees; *dec_n its length) or NULL if the text could
 * not be encoded (only allowed for an over-limit text, which fuzz inputs
 * never are). */
static inline char *fuzz_tok_roundtrip(const am_tokenizer *t, const char *text, size_t n, const am_tok_encode_params *p,
                                size_t *dec_n) {
    am_err err = {0};
    am_tokens ids = {0};
    int rc = am_tokenizer_encode(t, text, n, p, &ids, &err);
    FUZZ_CHECK(rc == 0); /* encoding never fails on content */
    int32_t nv = am_tokenizer_n_vocab(t);
    for (size_t i = 0; i < ids.n; i++) {
        FUZZ_CHECK(ids.ids[i] >= 0 && ids.ids[i] < nv);
        size_t pl = 0;
        const char *piece = am_tokenizer_piece(t, ids.ids[i], &pl);
        FUZZ_CHECK(piece != NULL);
        am_fuzz_sink ^= am_fuzz_touch(piece, pl);
        am_fuzz_sink ^= (uint8_t)(am_tokenizer_is_special(t, ids.ids[i]) + am_tokenizer_is_eog(t, ids.ids[i]));
    }
    am_tok_decode_params dp = am_tok_decode_default_params();
    size_t dn = 0;
    char *dec = am_tokenizer_decode(t, ids.ids, ids.n, &dp, &dn, &err);
    FUZZ_CHECK(dec != NULL); /* every id encode produced decodes */
    am_fuzz_sink ^= am_fuzz_touch(dec, dn + 1);
    FUZZ_CHECK(dec[dn] == 0);

    /* The stream gives the same text in valid-UTF-8 chunks. */
    am_detok *d = am_detok_create(t, &dp);
    char *cat = am_xmalloc(1);
    size_t cat_n = 0;
    for (size_t i = 0; i <= ids.n; i++) {
        const char *chunk;
        size_t cn;
        if (i < ids.n) FUZZ_CHECK(am_detok_push(d, ids.ids[i], &chunk, &cn, &err) == 0);
        else am_detok_flush(d, &chunk, &cn);
        FUZZ_CHECK(cn == 0 || chunk != NULL);
        if (!cn) continue;
        FUZZ_CHECK(fuzz_utf8_valid((const uint8_t *)chunk, cn));
        cat = am_xrealloc(cat, cat_n + cn);
        memcpy(cat + cat_n, chunk, cn);
        cat_n += cn;
    }
    if (fuzz_utf8_valid((const uint8_t *)dec, dn)) FUZZ_CHECK(cat_n == dn && !memcmp(cat, dec, dn));
    /* An id outside the vocabulary is an error, not a read past the table. */
    const char *chunk;
    size_t cn;
    FUZZ_CHECK(am_detok_push(d, nv, &chunk, &cn, &err) == -1);
    FUZZ_CHECK(am_detok_push(d, -1, &chunk, &cn, &err) == -1);
    am_detok_free(d);
    free(cat);
    int32_t bad[2] = {nv, -5};
    char *x = am_tokenizer_decode(t, bad, 2, &dp, &dn, &err);
    FUZZ_CHECK(x == NULL);
    am_tokens_free(&ids);
    *dec_n = dn;
    return dec;
}

/* Fixed texts that reach the usual paths: words, digits, whitespace runs,
 * invalid UTF-8, NUL, special-token spellings of the supported families. */
static const char *const FUZZ_TOK_TEXTS[] = {
    "Hello world! It's 2024: 12345 apples.\n\n  \tdone",
    "\xff\xfe\xc3\x28 caf\xc3\xa9 \xe2\x96\x81 \xf0\x9f\x98\x80 \xed\xa0\x80",
    "<|im_start|>user\nhi<|im_end|><s></s><|begin_of_text|><start_of_turn>",
};

/* Everything a loaded (fuzzed) tokenizer must survive. */
static inline void fuzz_tok_exercise(const am_tokenizer *t) {
    int32_t nv = am_tokenizer_n_vocab(t);
    FUZZ_CHECK(nv >= 0);
    FUZZ_CHECK(am_tokenizer_bos(t) >= -1 && am_tokenizer_bos(t) < nv);
    FUZZ_CHECK(am_tokenizer_eos(t) >= -1 && am_tokenizer_eos(t) < nv);
    const char *desc = am_tokenizer_describe(t);
    FUZZ_CHECK(desc != NULL);
    am_fuzz_sink ^= (uint8_t)am_tokenizer_fingerprint(t);
    for (int32_t id = 0; id < nv && id < 64; id++) {
        size_t pl = 0;
        const char *piece = am_tokenizer_piece(t, id, &pl);
        if (piece) {
            am_fuzz_sink ^= am_fuzz_touch(piece, pl);
            int32_t back = am_tokenizer_token_id(t, piece, pl);
            FUZZ_CHECK(back >= -1 && back < nv);
        }
    }
    FUZZ_CHECK(am_tokenizer_piece(t, nv, NULL) == NULL && am_tokenizer_piece(t, -1, NULL) == NULL);
    am_tok_encode_params ps[2] = {am_tok_encode_default_params(), am_tok_encode_default_params()};
    ps[1].add_special = true;
    ps[1].parse_special = false;
    for (size_t i = 0; i < sizeof FUZZ_TOK_TEXTS / sizeof FUZZ_TOK_TEXTS[0]; i++)
        for (int k = 0; k < 2; k++) {
            size_t dn;
            free(fuzz_tok_roundtrip(t, FUZZ_TOK_TEXTS[i], strlen(FUZZ_TOK_TEXTS[i]), &ps[k], &dn));
        }
}

#endif
