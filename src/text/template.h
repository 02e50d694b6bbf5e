/*
 * template.h — chat templates: a Jinja2 interpreter large enough for the
 * chat templates real models ship (Llama 3.x, Qwen 2.5/3, Gemma, DeepSeek,
 * Mistral, Phi, Hermes, Functionary, Command R...), rendering exactly what
 * Hugging Face transformers' apply_chat_template renders.
 *
 * Semantics are transformers': trim_blocks and lstrip_blocks on, the
 * loopcontrols extension ({% break %}, {% continue %}), the {% generation %}
 * block, tojson as json.dumps(ensure_ascii=False), raise_exception(msg),
 * strftime_now(fmt), and the ImmutableSandboxedEnvironment (no mutating
 * list/dict methods).
 *
 * Failure: a template using something the interpreter does not implement
 * (an unknown filter or test, {% include %}, {% extends %}, recursive loops...)
 * fails in am_template_parse with a message naming the construct and line —
 * never a silently different prompt. Rendering fails with the reference's
 * message (raise_exception text, "'x' is undefined", ...) followed by
 * " (template line N)". Hostile templates stop on the limits below.
 *
 * Threads: a parsed am_template is immutable; any number of threads may
 * render it at once. Each render allocates privately and frees on return.
 * Parsing and rendering recurse (bounded by max_nesting / max_depth): give
 * threads that call them at least 1 MiB of stack.
 */
#ifndef AM_TEMPLATE_H
#define AM_TEMPLATE_H

#include <jansson.h>

#include "base/base.h"

typedef struct am_template am_template;

typedef struct am_template_params {
    bool trim_blocks;   /* transformers: true */
    bool lstrip_blocks; /* transformers: true */
    size_t max_source;  /* template text bytes (default 4 MiB) */
    int max_nesting;    /* syntax nesting depth (default 200) */
} am_template_params;

am_template_params am_template_default_params(void);

/* Parses template text (UTF-8; need not be NUL-terminated). params may be
 * NULL for the defaults. Returns NULL with err set on any error. */
am_template *am_template_parse(const char *src, size_t len, const am_template_params *params, am_err *err);
void am_template_free(am_template *t);

typedef struct am_render_params {
    size_t max_output;     /* bytes of rendered text (default 16 MiB) */
    size_t max_memory;     /* bytes of working memory (default 256 MiB) */
    uint64_t max_steps;    /* statements + loop iterations + calls (default 20M) */
    int max_depth;         /* nested evaluation depth (default 1000) */
    int max_macro_depth;   /* nested macro calls (default 100) */
    bool now_fixed;        /* strftime_now uses `now` (UTC) instead of the local clock */
    int64_t now;           /* seconds since the epoch */
} am_render_params;

am_render_params am_template_default_render_params(void);

/* Renders with the variables of the JSON object vars (may be NULL). Returns
 * a malloc'd NUL-terminated string (caller frees; *len gets its length, which
 * excludes the terminator and may be less than strlen if the text contains
 * NUL), or NULL with err set. params may be NULL for the defaults. */
char *am_template_render(const am_template *t, const json_t *vars, const am_render_params *params, size_t *len,
                         am_err *err);

/* What apply_chat_template passes: messages, tools (None when absent),
 * documents (None), add_generation_prompt, bos_token/eos_token (left
 * undefined when NULL), then every key of extra (e.g. enable_thinking),
 * which overrides the others. */
typedef struct am_chat_inputs {
    const json_t *messages; /* array of {role, content, ...} */
    const json_t *tools;    /* array or NULL */
    bool add_generation_prompt;
    const char *bos_token, *eos_token;
    const json_t *extra;    /* object or NULL */
} am_chat_inputs;

char *am_template_render_chat(const am_template *t, const am_chat_inputs *in, const am_render_params *params,
                              size_t *len, am_err *err);

/* ---- where template text comes from (template_source.c) ---- */

/* From a parsed tokenizer_config.json: `chat_template` as a string, or as a
 * list of {name, template}: `name` if given, else "tool_use" when has_tools
 * and present, else "default" (transformers' choice). Returns a malloc'd
 * copy, or NULL with err set when there is none. */
char *am_template_text_from_config(const json_t *config, const char *name, bool has_tools, am_err *err);

/* Special-token text of a tokenizer_config.json key ("bos_token"), which may
 * be a string or {"content": ...}. Malloc'd, or NULL when absent/null. */
char *am_template_config_token(const json_t *config, const char *key);

/* From a Hugging Face model folder: chat_template.jinja, else
 * tokenizer_config.json's chat_template, else chat_template.json. bos/eos
 * (may be NULL) receive the special-token texts from tokenizer_config.json
 * (NULL when absent). Returns malloc'd text or NULL with err set. */
char *am_template_text_from_hf_dir(const char *dir, const char *name, bool has_tools, char **bos, char **eos,
                                   am_err *err);

/* From a GGUF file: tokenizer.chat_template (or .<name>, or .tool_use when
 * has_tools and present); bos/eos from tokenizer.ggml.tokens at the
 * bos/eos token ids (NULL when absent). */
char *am_template_text_from_gguf(const char *path, const char *name, bool has_tools, char **bos, char **eos,
                                 am_err *err);

#endif
