/* convert_impl.h — shared by convert.c and convert_vocab.c only. */
#ifndef AM_CONVERT_IMPL_H
#define AM_CONVERT_IMPL_H

#include "model/model.h"
#include "model/synth_vocab.h"
#include "text/tokenizer.h"

/* The vocabulary of an HF folder as llama.cpp's converter writes it: from
 * tokenizer.json (BPE) or tokenizer.model (SentencePiece), padded with
 * "[PADn]" unused tokens to n_vocab (the embedding's rows). Special ids and
 * add_bos/add_eos are those of hf_tok (the folder's own tokenizer, which
 * applies tokenizer_config.json as transformers does); config_eos (config.json's
 * eos, what HF generate stops on) becomes eot_token_id when it is none of
 * the tokenizer's end-of-generation tokens. pre is left to the caller. */
am_synth_vocab *am_convert_vocab(const char *dir, am_arch arch, int64_t n_vocab, const am_tokenizer *hf_tok,
                                 int32_t config_eos, am_err *err);

#endif
