/*
 * tok_gguf.c — tokenizer from GGUF metadata. Interim: the GGUF reader
 * (src/model/gguf.c) is not in the tree yet, so loading a GGUF tokenizer is
 * an error that says so.
 */
#include "text/tok_internal.h"

am_tokenizer *am_tokenizer_load_gguf_path(const char *path, am_err *err);

am_tokenizer *am_tokenizer_from_gguf(const am_gguf *g, am_err *err) {
    (void)g;
    am_err_set(err, "GGUF tokenizers need the GGUF reader, which this build does not have yet");
    return NULL;
}

am_tokenizer *am_tokenizer_load_gguf_path(const char *path, am_err *err) {
    am_err_set(err, "%s: GGUF tokenizers need the GGUF reader, which this build does not have yet", path);
    return NULL;
}
