/*
 * output_tools.c — tool-call formats: detection from chat templates,
 * holding the text that may be a call, and parsing it at flush.
 */
#include <stdlib.h>
#include <string.h>

#include "text/output_priv.h"

am_tool_format am_tool_format_detect(const char *src) {
    if (!src) return AM_TOOLS_NONE;
    if (strstr(src, "tool\xe2\x96\x81" "calls\xe2\x96\x81" "begin")) return AM_TOOLS_DEEPSEEK;
    if (strstr(src, "[TOOL_CALLS]")) return AM_TOOLS_MISTRAL;
    if (strstr(src, "<tool_call>")) return AM_TOOLS_HERMES;
    if (strstr(src, "<|python_tag|>") || (strstr(src, "ipython") && strstr(src, "parameters")))
        return AM_TOOLS_LLAMA3;
    return AM_TOOLS_NONE;
}

const char *am_tool_format_name(am_tool_format f) {
    switch (f) {
    case AM_TOOLS_NONE: return "none";
    case AM_TOOLS_HERMES: return "hermes";
    case AM_TOOLS_LLAMA3: return "llama3";
    case AM_TOOLS_MISTRAL: return "mistral";
    case AM_TOOLS_DEEPSEEK: return "deepseek";
    }
    return "?";
}

struct am_toolstage {
    am_tool_format fmt;
    uint64_t seed, counter;
    am_obuf held;
};

am_toolstage *am_toolstage_create(am_tool_format f, uint64_t id_seed) {
    am_toolstage *ts = am_xcalloc(1, sizeof *ts);
    ts->fmt = f;
    ts->seed = id_seed;
    return ts;
}

void am_toolstage_free(am_toolstage *ts) {
    am_obuf_free(&ts->held);
    free(ts);
}

void am_toolstage_push(am_toolstage *ts, const char *s, size_t n, am_obuf *content) {
    am_obuf_put(content, s, n);
}

void am_toolstage_flush(am_toolstage *ts, am_obuf *content, json_t *calls) {
    am_obuf_put(content, ts->held.p, ts->held.n);
    ts->held.n = 0;
}
