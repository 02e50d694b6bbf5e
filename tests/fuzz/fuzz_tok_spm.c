/*
 * fuzz_tok_spm.c — am_tokenizer_from_spm_mem on arbitrary bytes (a hostile
 * SentencePiece tokenizer.model protobuf); a tokenizer that loads must then
 * encode, decode and stream fixed texts cleanly (tok_common.h).
 */
#include "fuzz/tok_common.h"

AM_FUZZ_TARGET(tok_spm) {
    am_err err = {0};
    am_tokenizer *t = am_tokenizer_from_spm_mem(data, size, &err);
    if (!t) {
        FUZZ_CHECK(err.msg[0] != 0);
        return 0;
    }
    fuzz_tok_exercise(t);
    am_tokenizer_free(t);
    return 0;
}
