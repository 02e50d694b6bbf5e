/*
 * fuzz_tok_encode.c — real tokenizers fed arbitrary bytes: the text a
 * client sends (invalid UTF-8, NULs, special-token spellings, long runs).
 *
 * Input: byte 0 picks the tokenizer (llama3-tiny byte-level BPE, qwen3-tiny
 * byte-level BPE with NFC, gemma3-tiny SentencePiece tokenizer.model) and
 * the encode flags; the rest is the text. Beyond tok_common.h's checks:
 * byte-level BPE without a normalizer must give back exactly the input bytes.
 * The tokenizers are loaded once from tests/fixtures (fuzzers and tests run
 * from the repository root).
 */
#include "fuzz/tok_common.h"

static am_tokenizer *g_tok[3];

static void load_all(void) {
    static const char *const paths[3] = {
        "tests/fixtures/models/llama3-tiny/tokenizer.json",
        "tests/fixtures/models/qwen3-tiny/tokenizer.json",
        "tests/fixtures/models/gemma3-tiny/tokenizer.model",
    };
    for (int i = 0; i < 3; i++) {
        am_err err;
        g_tok[i] = am_tokenizer_load(paths[i], &err);
        if (!g_tok[i]) {
            fprintf(stderr, "fuzz_tok_encode: %s (run from the repository root)\n", err.msg);
            abort();
        }
    }
}

AM_FUZZ_TARGET(tok_encode) {
    if (!g_tok[0]) load_all();
    if (size < 1) return 0;
    const am_tokenizer *t = g_tok[data[0] % 3];
    am_tok_encode_params p = am_tok_encode_default_params();
    p.add_special = data[0] & 0x10;
    p.parse_special = data[0] & 0x20;
    /* The text alone, in an exact-size copy: no terminator to hide an overread. */
    size_t n = size - 1;
    char *text = am_xmalloc(n);
    memcpy(text, data + 1, n);
    size_t dn;
    char *dec = fuzz_tok_roundtrip(t, text, n, &p, &dn);
    if (data[0] % 3 == 0 && !p.add_special) FUZZ_CHECK(dn == n && !memcmp(dec, text, n));
    free(dec);
    free(text);
    return 0;
}
