/*
 * output.h — turning generated text into what the APIs return: stop strings
 * cut exactly (also across token boundaries and in streams), <think>
 * reasoning split from the answer, and tool calls parsed from the formats
 * chat templates define.
 *
 * All of it is incremental: the caller pushes each decoded text chunk as it
 * arrives and gets back the part that is safe to send now; text that might
 * still become a stop string, a reasoning tag or a tool call is held back
 * until it is decided. Concatenating everything emitted (plus the final
 * flush) equals what a one-shot pass over the whole text gives.
 *
 * Threads: an am_textout belongs to one request's thread. No globals.
 */
#ifndef AM_OUTPUT_H
#define AM_OUTPUT_H

#include <jansson.h>

#include "base/base.h"

typedef enum am_tool_format {
    AM_TOOLS_NONE = 0,
    AM_TOOLS_HERMES,   /* Qwen 2.5/3, Hermes: <tool_call>{"name":..,"arguments":{..}}</tool_call> */
    AM_TOOLS_LLAMA3,   /* Llama 3.1-3.3: {"name": .., "parameters": {..}} (optionally after <|python_tag|>) */
    AM_TOOLS_MISTRAL,  /* [TOOL_CALLS] [{"name":..,"arguments":{..}}, ...] */
    AM_TOOLS_DEEPSEEK, /* <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{..}\n```<｜tool▁call▁end｜>... */
} am_tool_format;

/* Guesses the tool-call format from a chat template's source (NULL: none). */
am_tool_format am_tool_format_detect(const char *template_src);
const char *am_tool_format_name(am_tool_format f);

typedef struct am_textout_params {
    const char *const *stop;  /* [n_stop] stop strings (non-empty), copied */
    int n_stop;
    bool reasoning;           /* split <think>...</think> into reasoning */
    bool reasoning_open;      /* the prompt already opened <think> (template ended with it) */
    am_tool_format tools;     /* parse tool calls (AM_TOOLS_NONE: plain text) */
} am_textout_params;

typedef struct am_textout am_textout;

am_textout *am_textout_create(const am_textout_params *p);
void am_textout_free(am_textout *t);

/* What one push (or the flush) releases. Pointers are valid until the next
 * call on t. */
typedef struct am_textout_delta {
    const char *content;   size_t content_len;   /* answer text safe to send */
    const char *reasoning; size_t reasoning_len; /* reasoning text safe to send */
    bool stopped;          /* a stop string matched: generation must end; nothing after it is ever emitted */
} am_textout_delta;

/* Pushes a decoded chunk. After stopped, further pushes emit nothing. */
void am_textout_push(am_textout *t, const char *chunk, size_t n, am_textout_delta *d);
/* End of generation: releases everything held back (a partial stop-string
 * prefix is text after all). */
void am_textout_flush(am_textout *t, am_textout_delta *d);

/* After flush: the tool calls found, as a JSON array of OpenAI tool calls
 * [{"id":"call_..","type":"function","function":{"name":..,"arguments":"<json text>"}}]
 * (new reference; empty array when none). Text that was a tool call is not
 * in the content. */
json_t *am_textout_tool_calls(am_textout *t);

#endif
