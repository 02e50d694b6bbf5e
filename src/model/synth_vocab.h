/*
 * synth_vocab.h — vocabularies for synthetic models: generated ones of a
 * real family's kind and size, or a real one read from a Hugging Face
 * tokenizer.json, written as the tokenizer.* keys llama.cpp's converter uses.
 *
 * Generated vocabularies depend only on (style, size), never on the weight
 * seed: every synthetic model of one shape shares one tokenizer.
 *   LLAMA3: byte-level BPE ("gpt2", pre "llama-bpe"): 256 byte tokens in
 *           GPT-2 order, merges building word-like pieces (and "Ġ"-prefixed
 *           ones), 1–3 digit numbers, then Llama 3's special tokens
 *           (<|begin_of_text|>, <|end_of_text|>, <|start_header_id|>,
 *           <|end_header_id|>, <|eom_id|>, <|eot_id|>, reserved ones).
 *   QWEN2:  the same kind ("gpt2", pre "qwen2"), single digits, Qwen's
 *           <|endoftext|>, <|im_start|>, <|im_end|>... and [PADn] filler up
 *           to the embedding size as Qwen's own files have.
 *   GEMMA:  SentencePiece BPE ("llama", pre "default") with scores and byte
 *           fallback: <pad> <eos> <bos> <unk>, <start_of_turn>,
 *           <end_of_turn>, <0x00>..<0xFF>, "▁"-prefixed pieces.
 * Every merge "a b" joins two earlier tokens into a later one, so the merges
 * and tokens are consistent.
 */
#ifndef AM_SYNTH_VOCAB_H
#define AM_SYNTH_VOCAB_H

#include "base/base.h"
#include "model/gguf_write.h"

typedef enum am_synth_vocab_style {
    AM_SYNTH_VOCAB_LLAMA3 = 0,
    AM_SYNTH_VOCAB_QWEN2,
    AM_SYNTH_VOCAB_GEMMA,
} am_synth_vocab_style;

/* llama.cpp's token types. */
enum { AM_TOK_NORMAL = 1, AM_TOK_UNKNOWN = 2, AM_TOK_CONTROL = 3, AM_TOK_USER_DEFINED = 4,
       AM_TOK_UNUSED = 5, AM_TOK_BYTE = 6 };

typedef struct am_synth_vocab {
    int64_t n;           /* tokens */
    char **tok;          /* [n] NUL-terminated UTF-8, owned */
    int32_t *type;       /* [n] AM_TOK_* */
    float *score;        /* [n] for "llama" (SentencePiece) vocabularies, else NULL */
    int64_t n_merges;
    char **merges;       /* [n_merges] "a b", owned; NULL for SentencePiece */
    const char *model;   /* "gpt2" or "llama" (static) */
    const char *pre;     /* "llama-bpe", "qwen2", "default" (static) */
    int32_t bos, eos, eot, unk, pad; /* -1 = absent */
    int add_bos, add_eos, add_space_prefix; /* -1 = absent, else 0/1 */
} am_synth_vocab;

/* A generated vocabulary of exactly n_vocab tokens (n_vocab >= 1024). */
am_synth_vocab *am_synth_vocab_generate(am_synth_vocab_style style, int64_t n_vocab);

/* Reads a tokenizer.json (model type BPE: byte-level, or SentencePiece-like
 * with byte_fallback). Ids missing from the file, and ids up to min_vocab,
 * are filled with "[PADn]" unused tokens. Special token ids (bos/eos...) are
 * found by the names the style's family uses. NULL with err set on a file
 * that is missing, not JSON, of another model type, or inconsistent. */
am_synth_vocab *am_synth_vocab_load(const char *path, am_synth_vocab_style style, int64_t min_vocab,
                                    am_err *err);

/* Writes the tokenizer.ggml.* keys (not the chat template). */
void am_synth_vocab_write(const am_synth_vocab *v, am_gguf_writer *w);

/* Id of the token spelled s, or -1. Linear scan: for tests and set-up only. */
int64_t am_synth_vocab_find(const am_synth_vocab *v, const char *s);

void am_synth_vocab_free(am_synth_vocab *v);

#endif
