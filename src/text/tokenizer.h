/*
 * tokenizer.h — text to token ids and back, matching Hugging Face tokenizers
 * (and llama.cpp for GGUF vocabularies) id for id.
 *
 * Two model kinds are supported:
 *   - BPE with merges by rank (tokenizer.json "BPE" and GGUF "gpt2"): byte-level
 *     vocabularies (Llama 3, Qwen, gpt-oss, DeepSeek V3, GPT-2) and
 *     SentencePiece-style ones with byte fallback written as tokenizer.json
 *     (Llama 2 / Mistral, Gemma 3);
 *   - SentencePiece BPE by piece score (tokenizer.model and GGUF "llama").
 *
 * Ownership: an am_tokenizer is immutable after loading; every function that
 * takes a const am_tokenizer* may be called from any number of threads at
 * once. A streaming detokenizer (am_detok) belongs to one thread at a time and
 * must not outlive its tokenizer.
 *
 * Failure behaviour: loaders treat every file as hostile and return NULL with a
 * message for anything malformed or unsupported (an unsupported normalizer or
 * pre-tokenizer is an error naming it, never a silently different tokenizer).
 * Encoding never fails on text content: invalid UTF-8 bytes are kept and
 * encoded as bytes (byte-level mapping, or <0xXX> byte tokens, or the unknown
 * token when the vocabulary has neither); NUL bytes are ordinary bytes.
 */
#ifndef AM_TOKENIZER_H
#define AM_TOKENIZER_H

#include "base/base.h"

typedef struct am_tokenizer am_tokenizer;
typedef struct am_gguf am_gguf;

/* A growable list of token ids owned by the caller (zero-initialise, then
 * free with am_tokens_free). Encoding appends to it. */
typedef struct am_tokens {
    int32_t *ids;
    size_t n, cap;
} am_tokens;

void am_tokens_push(am_tokens *t, int32_t id);
void am_tokens_free(am_tokens *t);

/* ---- loading ---------------------------------------------------------- */

/* Loads a tokenizer from path, which may be:
 *   - a GGUF file (tokenizer.ggml.* metadata),
 *   - a tokenizer.json (Hugging Face tokenizers semantics exactly: special
 *     tokens added only by its post_processor),
 *   - a SentencePiece tokenizer.model,
 *   - a Hugging Face folder: tokenizer.json, else tokenizer.model; its
 *     tokenizer_config.json, when present, decides add_bos/add_eos and the
 *     bos/eos tokens the way transformers does.
 * Returns NULL with err set on any failure. */
am_tokenizer *am_tokenizer_load(const char *path, am_err *err);

/* Builds a tokenizer from an open GGUF file's metadata. The result does not
 * reference g: g may be closed afterwards. */
am_tokenizer *am_tokenizer_from_gguf(const am_gguf *g, am_err *err);

/* Individual sources (what am_tokenizer_load dispatches to). config_path may be
 * NULL. */
am_tokenizer *am_tokenizer_load_json(const char *json_path, const char *config_path, am_err *err);
am_tokenizer *am_tokenizer_load_spm(const char *model_path, const char *config_path, am_err *err);
/* From memory (data need not be NUL-terminated; it is not kept). */
am_tokenizer *am_tokenizer_from_json_mem(const char *data, size_t len, am_err *err);
am_tokenizer *am_tokenizer_from_spm_mem(const uint8_t *data, size_t len, am_err *err);

void am_tokenizer_free(am_tokenizer *t);

/* ---- encoding --------------------------------------------------------- */

typedef struct am_tok_encode_params {
    /* Add the BOS/EOS (or other) tokens the model's configuration asks for. */
    bool add_special;
    /* Recognise special tokens (control tokens, e.g. "<|im_start|>") written
     * in the text. Non-special added tokens are always recognised, as in HF.
     * Pass false for untrusted user content inside a chat template. */
    bool parse_special;
} am_tok_encode_params;

/* add_special=false, parse_special=true (HF's encode(add_special_tokens=False)). */
am_tok_encode_params am_tok_encode_default_params(void);

/* Encodes len bytes of text (any bytes; need not be NUL-terminated) and
 * appends the ids to out. p may be NULL for the defaults. Returns 0, or -1
 * with err set only for texts over AM_TOK_MAX_INPUT bytes or a regex engine
 * failure (out then holds what was appended before the failure). */
#define AM_TOK_MAX_INPUT ((size_t)1 << 30)
int am_tokenizer_encode(const am_tokenizer *t, const char *text, size_t len,
                        const am_tok_encode_params *p, am_tokens *out, am_err *err);

/* ---- decoding --------------------------------------------------------- */

typedef struct am_tok_decode_params {
    bool skip_special;     /* drop special (control) tokens */
    /* drop the SentencePiece dummy-prefix space at the start, as the model's
     * decoder does (default true). Turn it off when decoding a continuation
     * (tokens generated after a prompt), whose first space is real. */
    bool strip_leading;
    /* the streaming detokenizer (am_detok) sends a NUL byte as U+FFFD, as it
     * does bytes that are not UTF-8: a server's text must come back in the
     * next request, and U+0000 is what JSON parsers (jansson, without an
     * opt-in) and C strings refuse. Whole-sequence decoding ignores it. */
    bool nul_as_replacement;
} am_tok_decode_params;

am_tok_decode_params am_tok_decode_default_params(void);
/* What a server sends as a generation's text: special tokens skipped, the
 * first space kept (a continuation), NUL as U+FFFD. The scheduler's answer splice compares
 * a prompt against the cache through the same detokenizer with these. */
am_tok_decode_params am_tok_output_params(void);

/* Decodes ids to the exact bytes they stand for (byte-level inverse mapping,
 * "▁" to space, <0xXX> byte tokens to bytes). The result is heap-allocated,
 * NUL-terminated (it may also contain NULs: use *len_out) and owned by the
 * caller. It may be invalid UTF-8 if the ids are (e.g. a lone byte token).
 * Returns NULL with err set for an id outside the vocabulary. */
char *am_tokenizer_decode(const am_tokenizer *t, const int32_t *ids, size_t n,
                          const am_tok_decode_params *p, size_t *len_out, am_err *err);

/* Streaming detokenizer: feed ids one at a time; each call hands back only
 * complete UTF-8 characters, holding back the bytes of a character whose
 * remaining bytes may come with the next ids. Bytes that can never become
 * valid UTF-8 are emitted as U+FFFD, so every chunk is valid UTF-8. For valid
 * output the concatenation of all chunks equals am_tokenizer_decode. */
typedef struct am_detok am_detok;

am_detok *am_detok_create(const am_tokenizer *t, const am_tok_decode_params *p);
void am_detok_free(am_detok *d);
/* Feeds one id. chunk and n get the bytes ready to emit (possibly none); they
 * stay valid until the next call on d. Returns 0, or -1 with err set for an
 * id outside the vocabulary (the state is unchanged). */
int am_detok_push(am_detok *d, int32_t id, const char **chunk, size_t *n, am_err *err);
/* End of stream: emits what is held back (incomplete characters as U+FFFD). */
void am_detok_flush(am_detok *d, const char **chunk, size_t *n);
/* Forgets everything fed so far (start of a new stream). */
void am_detok_reset(am_detok *d);
/* The bytes held back (0..3: an incomplete character that the next ids may
 * still complete); *bytes points into d, valid until the next call on d. */
size_t am_detok_held(const am_detok *d, const char **bytes);

/* ---- vocabulary ------------------------------------------------------- */

/* One past the largest token id. */
int32_t am_tokenizer_n_vocab(const am_tokenizer *t);
/* The token's string as the vocabulary writes it (e.g. "Ġworld", "▁the",
 * "<0x0A>"); NULL for an id outside the vocabulary or a hole in it. */
const char *am_tokenizer_piece(const am_tokenizer *t, int32_t id, size_t *len);
/* Id of a token by its vocabulary string (added tokens first); -1 if none. */
int32_t am_tokenizer_token_id(const am_tokenizer *t, const char *s, size_t len);
/* Special/control token (skipped by skip_special; never produced from text
 * unless parse_special). */
bool am_tokenizer_is_special(const am_tokenizer *t, int32_t id);
/* End of generation: EOS, EOT/EOM and the end-of-turn control tokens of the
 * known chat formats (<|eot_id|>, <|im_end|>, <end_of_turn>, <|return|>...). */
bool am_tokenizer_is_eog(const am_tokenizer *t, int32_t id);

int32_t am_tokenizer_bos(const am_tokenizer *t); /* -1 if none */
int32_t am_tokenizer_eos(const am_tokenizer *t); /* -1 if none */
bool am_tokenizer_add_bos(const am_tokenizer *t);
bool am_tokenizer_add_eos(const am_tokenizer *t);

/* A 64-bit fingerprint of everything that decides encoding and decoding
 * (pieces, ids, merges, scores, rules); equal fingerprints mean equal ids.
 * It is stable across runs for the same file, but a model's GGUF and its
 * tokenizer.json give different fingerprints (their metadata differ), so a
 * changed fingerprint means "re-check", never "the ids differ". */
uint64_t am_tokenizer_fingerprint(const am_tokenizer *t);

/* A one-line description for logs, e.g. "bpe byte-level, 128256 tokens, 280147 merges". */
const char *am_tokenizer_describe(const am_tokenizer *t);

#endif
