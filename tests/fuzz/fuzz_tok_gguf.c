/*
 * fuzz_tok_gguf.c — a tokenizer from the tokenizer.ggml.* metadata of an
 * arbitrary GGUF image (am_gguf_open_memory + am_tokenizer_from_gguf); one
 * that loads must encode, decode and stream fixed texts cleanly, after the
 * GGUF is closed (the tokenizer must not keep views into it).
 */
#include "fuzz/tok_common.h"
#include "model/gguf.h"

AM_FUZZ_TARGET(tok_gguf) {
    am_err err = {0};
    /* A private copy, freed before the tokenizer is used: ASan then reports
     * any view the tokenizer kept into the file. */
    uint8_t *copy = am_xmalloc(size);
    memcpy(copy, data, size);
    am_gguf *g = am_gguf_open_memory(copy, size, "fuzz.gguf", &err);
    am_tokenizer *t = g ? am_tokenizer_from_gguf(g, &err) : NULL;
    am_gguf_close(g);
    free(copy);
    if (!g) return 0;
    if (!t) {
        FUZZ_CHECK(err.msg[0] != 0);
        return 0;
    }
    fuzz_tok_exercise(t);
    am_tokenizer_free(t);
    return 0;
}
