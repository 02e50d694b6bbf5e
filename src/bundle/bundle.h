/*
 * bundle.h — everything one served model is: weights, tokenizer, chat
 * template, the end-of-generation set and a fingerprint, loaded together by
 * one call and shared immutably by the CLI, the scheduler and HTTP threads.
 *
 * A bundle is reference-counted: am_bundle_load returns it with one
 * reference; every holder that may outlive the loader takes its own with
 * am_bundle_ref and drops it with am_bundle_unref; the last unref frees the
 * model and everything else. Nothing in a bundle changes after load, so any
 * thread may read any field and call the const functions at once.
 *
 * Failure: am_bundle_load returns NULL with err (code AM_E_NOT_FOUND for a
 * missing path, AM_E_BAD_FILE for a malformed model or tokenizer); a model
 * without a chat template loads (chat requests then fail with AM_E_INVALID).
 */
#ifndef AM_BUNDLE_H
#define AM_BUNDLE_H

#include <jansson.h>

#include "base/base.h"
#include "model/model.h"
#include "text/template.h"
#include "text/tokenizer.h"

typedef struct am_bundle {
    am_model *model;
    am_tokenizer *tok;
    am_template *tmpl;     /* parsed chat template, or NULL when the model has none */
    char *tmpl_text;       /* its source, or NULL */
    char *bos_text, *eos_text; /* what the template sees as bos_token / eos_token, or NULL */
    int32_t *eog;          /* [n_eog] end-of-generation token ids (sorted, unique) */
    int n_eog;
    char *id;              /* the name clients use as "model": the file or folder's base name
                              without .gguf */
    uint8_t fingerprint[16]; /* xxh3-128 over the weights' bytes, the hyperparameters
                                (architecture, shapes, RoPE, windows, scales) and the
                                tokenizer fingerprint: equal fingerprints mean equal K/V bytes
                                for equal tokens, given the same engine settings */
    _Atomic int refs;
} am_bundle;

/* Loads a GGUF file or a Hugging Face folder. */
am_bundle *am_bundle_load(const char *path, am_err *err);
am_bundle *am_bundle_ref(am_bundle *b);
void am_bundle_unref(am_bundle *b);

bool am_bundle_is_eog(const am_bundle *b, int32_t id);

/* Renders a chat (messages: array of {role, content, ...}; tools: array or
 * NULL; extra: object of extra template variables such as enable_thinking,
 * or NULL) with add_generation_prompt, as apply_chat_template does. Returns
 * a malloc'd string (*len its length) or NULL with err (AM_E_INVALID: no
 * template, or the template raised). */
char *am_bundle_render_chat(const am_bundle *b, const json_t *messages, const json_t *tools, const json_t *extra,
                            size_t *len, am_err *err);

/* Tokenizes rendered chat text (no BOS added: templates write it) or a raw
 * prompt (add_special: BOS as the tokenizer's config says). Appends to out. */
int am_bundle_tokenize(const am_bundle *b, const char *text, size_t len, bool add_special, am_tokens *out,
                       am_err *err);

/* Hex of the fingerprint (33 bytes with the NUL). */
void am_bundle_fingerprint_hex(const am_bundle *b, char out[33]);

#endif
