/*
 * parse.c — request bodies of /v1/chat/completions, /v1/completions and
 * /v1/messages into one am_gen_parsed: every field's type and range checked,
 * failures naming the field; Anthropic messages and tools converted to the
 * OpenAI shapes chat templates expect.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "server/server_impl.h"

void am_gen_parsed_free(am_gen_parsed *p) {
    json_decref(p->messages);
    json_decref(p->tools);
    json_decref(p->tool_choice);
    free(p->prompt);
    for (int i = 0; i < p->n_stop; i++) free(p->stop[i]);
    memset(p, 0, sizeof *p);
}

static void init(am_gen_parsed *p, am_api_kind api) {
    memset(p, 0, sizeof *p);
    p->api = api;
    p->sp = am_sampler_default_params();
    p->sp.temp = 1.0f;
    p->sp.penalty_last_n = 64;
}

/* number field in [lo, hi]; absent or null: untouched. */
static int get_num(const json_t *o, const char *k, double lo, double hi, double *out, am_http_err *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return am_http_errf(e, 400, k, "'%s' must be a number", k);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi) return am_http_errf(e, 400, k, "'%s' must be between %g and %g", k, lo, hi);
    *out = d;
    return 1;
}

static int get_int(const json_t *o, const char *k, double lo, double hi, double *out, am_http_err *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) && !(json_is_real(v) && json_real_value(v) == floor(json_real_value(v))))
        return am_http_errf(e, 400, k, "'%s' must be an integer", k);
    return get_num(o, k, lo, hi, out, e);
}

static int get_bool(const json_t *o, const char *k, bool *out, am_http_err *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return am_http_errf(e, 400, k, "'%s' must be a boolean", k);
    *out = json_is_true(v);
    return 1;
}

static int get_str(const json_t *o, const char *k, const char **out, am_http_err *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return am_http_errf(e, 400, k, "'%s' must be a string", k);
    *out = json_string_value(v);
    return 1;
}

#define TRY(x)                       \
    do {                             \
        if ((x) < 0) goto fail;      \
    } while (0)

static int common_sampling(const json_t *b, am_gen_parsed *p, am_http_err *e, bool openai) {
    double d;
    int r;
    const char *s;
    if ((r = get_str(b, "model", &s, e)) < 0) return -1;
    if (r) snprintf(p->model, sizeof p->model, "%s", s);
    if ((r = get_num(b, "temperature", 0, 2, &d, e)) < 0) return -1;
    if (r) p->sp.temp = (float)d;
    if ((r = get_num(b, "top_p", 0, 1, &d, e)) < 0) return -1;
    if (r) p->sp.top_p = (float)d;
    if ((r = get_int(b, "top_k", 0, 1 << 20, &d, e)) < 0) return -1;
    if (r) p->sp.top_k = (int)d;
    if ((r = get_num(b, "min_p", 0, 1, &d, e)) < 0) return -1;
    if (r) p->sp.min_p = (float)d;
    if ((r = get_num(b, "repeat_penalty", 0, 10, &d, e)) < 0) return -1;
    if (r) p->sp.repeat_penalty = (float)d;
    if ((r = get_num(b, "presence_penalty", -2, 2, &d, e)) < 0) return -1;
    if (r) p->sp.presence_penalty = (float)d;
    if ((r = get_num(b, "frequency_penalty", -2, 2, &d, e)) < 0) return -1;
    if (r) p->sp.frequency_penalty = (float)d;
    if ((r = get_int(b, "seed", -9.2e18, 1.8e19, &d, e)) < 0) return -1;
    if (r) p->sp.seed = (uint64_t)(int64_t)json_integer_value(json_object_get(b, "seed"));
    if (get_bool(b, "stream", &p->stream, e) < 0) return -1;
    if (get_bool(b, "ignore_eos", &p->ignore_eos, e) < 0) return -1;
    const char *agent_keys[] = {"agent_id", "session_id", "prompt_cache_key"};
    for (int i = 0; i < 3; i++) {
        if ((r = get_str(b, agent_keys[i], &s, e)) < 0) return -1;
        if (r && !p->has_agent) {
            if (!am_srv_agent_id_ok(s))
                return am_http_errf(e, 400, agent_keys[i], "'%s' must match [A-Za-z0-9._-]{1,128}", agent_keys[i]);
            snprintf(p->agent, sizeof p->agent, "%s", s);
            p->has_agent = true;
        }
    }
    /* stop strings */
    const char *sk = openai ? "stop" : "stop_sequences";
    json_t *st = json_object_get(b, sk);
    if (st && !json_is_null(st)) {
        if (json_is_string(st) && openai) {
            if (json_string_length(st) > 0) p->stop[p->n_stop++] = am_xstrdup(json_string_value(st));
        } else if (json_is_array(st)) {
            if (json_array_size(st) > AM_SRV_MAX_STOP)
                return am_http_errf(e, 400, sk, "'%s' allows at most %d strings", sk, AM_SRV_MAX_STOP);
            size_t i;
            json_t *x;
            json_array_foreach(st, i, x) {
                if (!json_is_string(x)) return am_http_errf(e, 400, sk, "'%s[%zu]' must be a string", sk, i);
                if (json_string_length(x) > 0) p->stop[p->n_stop++] = am_xstrdup(json_string_value(x));
            }
        } else {
            return am_http_errf(e, 400, sk, openai ? "'stop' must be a string or an array of strings"
                                                   : "'stop_sequences' must be an array of strings");
        }
    }
    return 0;
}

static int openai_common(const json_t *b, am_gen_parsed *p, am_http_err *e) {
    double d;
    int r;
    if (common_sampling(b, p, e, true) < 0) return -1;
    if ((r = get_int(b, "max_tokens", 1, 1 << 30, &d, e)) < 0) return -1;
    if (r) p->max_tokens = (int)d;
    if ((r = get_int(b, "max_completion_tokens", 1, 1 << 30, &d, e)) < 0) return -1;
    if (r) p->max_tokens = (int)d;
    if ((r = get_int(b, "n", 1, 1, &d, e)) < 0) {
        snprintf(e->msg, sizeof e->msg, "'n' must be 1 (one choice per request)");
        return -1;
    }
    json_t *so = json_object_get(b, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return am_http_errf(e, 400, "stream_options", "'stream_options' must be an object");
        json_t *iu = json_object_get(so, "include_usage");
        if (iu && !json_is_boolean(iu))
            return am_http_errf(e, 400, "stream_options.include_usage", "'stream_options.include_usage' must be a boolean");
        p->include_usage = json_is_true(iu);
    }
    return 0;
}

/* Text of an OpenAI content value: string or array of {type:"text", text}. */
static int content_text(const json_t *c, const char *field, char **out, am_http_err *e) {
    if (json_is_string(c)) {
        *out = am_xstrdup(json_string_value(c));
        return 0;
    }
    if (json_is_null(c)) {
        *out = am_xstrdup("");
        return 0;
    }
    if (!json_is_array(c)) return am_http_errf(e, 400, field, "'%s' must be a string or an array of content parts", field);
    am_buf b = {0};
    am_buf_puts(&b, "");
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part) {
        const char *t = json_string_value(json_object_get(part, "type"));
        json_t *tx = json_object_get(part, "text");
        if (!json_is_object(part) || !t || strcmp(t, "text") || !json_is_string(tx)) {
            am_buf_free(&b);
            return am_http_errf(e, 400, field, "'%s[%zu]' must be {\"type\":\"text\",\"text\":string}", field, i);
        }
        am_buf_put(&b, json_string_value(tx), json_string_length(tx));
    }
    *out = b.p;
    return 0;
}

int am_parse_openai_chat(const json_t *b, am_gen_parsed *p, am_http_err *e) {
    init(p, AM_API_OPENAI_CHAT);
    char field[96];
    if (openai_common(b, p, e) < 0) goto fail;
    json_t *lp = json_object_get(b, "logprobs");
    if (lp && !json_is_null(lp)) {
        if (!json_is_boolean(lp)) {
            am_http_errf(e, 400, "logprobs", "'logprobs' must be a boolean");
            goto fail;
        }
        if (json_is_true(lp)) p->n_logprobs = -1;
    }
    double d;
    int r = get_int(b, "top_logprobs", 0, 20, &d, e);
    if (r < 0) goto fail;
    if (r && d > 0) {
        if (!p->n_logprobs) {
            am_http_errf(e, 400, "top_logprobs", "'top_logprobs' requires 'logprobs': true");
            goto fail;
        }
        p->n_logprobs = (int)d;
    }
    json_t *m = json_object_get(b, "messages");
    if (!m) {
        am_http_errf(e, 400, "messages", "'messages' is required");
        goto fail;
    }
    if (!json_is_array(m) || json_array_size(m) == 0) {
        am_http_errf(e, 400, "messages", "'messages' must be a non-empty array");
        goto fail;
    }
    if (json_array_size(m) > AM_SRV_MAX_MESSAGES) {
        am_http_errf(e, 400, "messages", "'messages' has more than %d entries", AM_SRV_MAX_MESSAGES);
        goto fail;
    }
    p->messages = json_array();
    size_t i;
    json_t *msg;
    json_array_foreach(m, i, msg) {
        if (!json_is_object(msg)) {
            snprintf(field, sizeof field, "messages[%zu]", i);
            am_http_errf(e, 400, field, "'%s' must be an object", field);
            goto fail;
        }
        snprintf(field, sizeof field, "messages[%zu].role", i);
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (!role) {
            am_http_errf(e, 400, field, "'%s' is required and must be a string", field);
            goto fail;
        }
        if (strcmp(role, "system") && strcmp(role, "developer") && strcmp(role, "user") && strcmp(role, "assistant") &&
            strcmp(role, "tool")) {
            am_http_errf(e, 400, field, "'%s': unknown role '%.40s'", field, role);
            goto fail;
        }
        json_t *nm = json_deep_copy(msg);
        if (!strcmp(role, "developer")) json_object_set_new(nm, "role", json_string("system"));
        snprintf(field, sizeof field, "messages[%zu].content", i);
        json_t *c = json_object_get(msg, "content");
        if (!c && strcmp(role, "assistant")) {
            json_decref(nm);
            am_http_errf(e, 400, field, "'%s' is required", field);
            goto fail;
        }
        char *text = NULL;
        if (content_text(c ? c : json_null(), field, &text, e) < 0) {
            json_decref(nm);
            goto fail;
        }
        json_object_set_new(nm, "content", json_string(text));
        free(text);
        json_t *tc = json_object_get(msg, "tool_calls");
        if (tc && !json_is_null(tc)) {
            if (!json_is_array(tc)) {
                json_decref(nm);
                snprintf(field, sizeof field, "messages[%zu].tool_calls", i);
                am_http_errf(e, 400, field, "'%s' must be an array", field);
                goto fail;
            }
            /* templates want arguments as objects; clients send JSON text */
            json_t *ntc = json_object_get(nm, "tool_calls");
            size_t k;
            json_t *call;
            json_array_foreach(ntc, k, call) {
                json_t *fn = json_object_get(call, "function");
                json_t *args = json_object_get(fn, "arguments");
                if (json_is_string(args)) {
                    json_t *parsed = json_loads(json_string_value(args), 0, NULL);
                    if (parsed) json_object_set_new(fn, "arguments", parsed);
                }
            }
        }
        json_array_append_new(p->messages, nm);
    }
    json_t *tools = json_object_get(b, "tools");
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools)) {
            am_http_errf(e, 400, "tools", "'tools' must be an array");
            goto fail;
        }
        json_array_foreach(tools, i, msg) {
            json_t *fn = json_object_get(msg, "function");
            if (!json_is_object(msg) || !json_is_object(fn) || !json_is_string(json_object_get(fn, "name"))) {
                snprintf(field, sizeof field, "tools[%zu]", i);
                am_http_errf(e, 400, field, "'%s' must be {\"type\":\"function\",\"function\":{\"name\":...}}", field);
                goto fail;
            }
        }
        if (json_array_size(tools)) p->tools = json_incref(tools);
    }
    json_t *tch = json_object_get(b, "tool_choice");
    if (tch && !json_is_null(tch)) {
        if (!json_is_string(tch) && !json_is_object(tch)) {
            am_http_errf(e, 400, "tool_choice", "'tool_choice' must be a string or an object");
            goto fail;
        }
        p->tool_choice = json_incref(tch);
    }
    return 0;
fail:
    am_gen_parsed_free(p);
    return -1;
}

int am_parse_openai_completion(const json_t *b, am_gen_parsed *p, am_http_err *e) {
    init(p, AM_API_OPENAI_COMPLETION);
    if (openai_common(b, p, e) < 0) goto fail;
    json_t *pr = json_object_get(b, "prompt");
    if (!pr) {
        am_http_errf(e, 400, "prompt", "'prompt' is required");
        goto fail;
    }
    if (json_is_array(pr) && json_array_size(pr) == 1 && json_is_string(json_array_get(pr, 0)))
        pr = json_array_get(pr, 0);
    if (!json_is_string(pr)) {
        am_http_errf(e, 400, "prompt", "'prompt' must be a string");
        goto fail;
    }
    p->prompt = am_xstrndup(json_string_value(pr), json_string_length(pr));
    if (get_bool(b, "echo", &p->echo, e) < 0) goto fail;
    json_t *lp = json_object_get(b, "logprobs");
    if (lp && !json_is_null(lp)) {
        double d;
        if (get_int(b, "logprobs", 0, 20, &d, e) < 0) goto fail;
        p->n_logprobs = d > 0 ? (int)d : -1;
    }
    return 0;
fail:
    am_gen_parsed_free(p);
    return -1;
}

/* ---- Anthropic ---------------------------------------------------------- */

static int blocks_text(const json_t *c, const char *field, am_buf *out, am_http_err *e) {
    if (json_is_string(c)) {
        am_buf_put(out, json_string_value(c), json_string_length(c));
        return 0;
    }
    if (!json_is_array(c)) return am_http_errf(e, 400, field, "'%s' must be a string or an array of blocks", field);
    size_t i;
    json_t *bl;
    json_array_foreach(c, i, bl) {
        const char *t = json_string_value(json_object_get(bl, "type"));
        json_t *tx = json_object_get(bl, "text");
        if (!t || strcmp(t, "text") || !json_is_string(tx))
            return am_http_errf(e, 400, field, "'%s[%zu]' must be a text block", field, i);
        am_buf_put(out, json_string_value(tx), json_string_length(tx));
    }
    return 0;
}

int am_parse_anthropic(const json_t *b, am_gen_parsed *p, am_http_err *e) {
    init(p, AM_API_ANTHROPIC);
    char field[96];
    am_buf tb = {0};
    if (common_sampling(b, p, e, false) < 0) goto fail;
    double d;
    int r = get_int(b, "max_tokens", 1, 1 << 30, &d, e);
    if (r < 0) goto fail;
    if (!r) {
        am_http_errf(e, 400, "max_tokens", "max_tokens: Field required");
        goto fail;
    }
    p->max_tokens = (int)d;
    p->messages = json_array();
    json_t *sys = json_object_get(b, "system");
    if (sys && !json_is_null(sys)) {
        am_buf_puts(&tb, "");
        if (blocks_text(sys, "system", &tb, e) < 0) goto fail;
        json_array_append_new(p->messages, json_pack("{s:s, s:s}", "role", "system", "content", tb.p));
        am_buf_free(&tb);
    }
    json_t *m = json_object_get(b, "messages");
    if (!m) {
        am_http_errf(e, 400, "messages", "messages: Field required");
        goto fail;
    }
    if (!json_is_array(m) || json_array_size(m) == 0 || json_array_size(m) > AM_SRV_MAX_MESSAGES) {
        am_http_errf(e, 400, "messages", "'messages' must be an array of 1 to %d messages", AM_SRV_MAX_MESSAGES);
        goto fail;
    }
    size_t i;
    json_t *msg;
    json_array_foreach(m, i, msg) {
        snprintf(field, sizeof field, "messages.%zu.role", i);
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (!role) {
            am_http_errf(e, 400, field, "%s: Field required (a string)", field);
            goto fail;
        }
        if (strcmp(role, "user") && strcmp(role, "assistant")) {
            am_http_errf(e, 400, field, "%s: unknown role '%.40s' (user or assistant)", field, role);
            goto fail;
        }
        snprintf(field, sizeof field, "messages.%zu.content", i);
        json_t *c = json_object_get(msg, "content");
        if (json_is_string(c)) {
            json_array_append_new(p->messages, json_pack("{s:s, s:O}", "role", role, "content", c));
            continue;
        }
        if (!json_is_array(c)) {
            am_http_errf(e, 400, field, "%s: must be a string or an array of blocks", field);
            goto fail;
        }
        am_buf_puts(&tb, "");
        json_t *calls = json_array();
        size_t k;
        json_t *bl;
        json_array_foreach(c, k, bl) {
            const char *t = json_string_value(json_object_get(bl, "type"));
            if (!t) {
                json_decref(calls);
                am_http_errf(e, 400, field, "%s.%zu.type: Field required", field, k);
                goto fail;
            }
            if (!strcmp(t, "text")) {
                json_t *tx = json_object_get(bl, "text");
                if (!json_is_string(tx)) {
                    json_decref(calls);
                    am_http_errf(e, 400, field, "%s.%zu.text: must be a string", field, k);
                    goto fail;
                }
                am_buf_put(&tb, json_string_value(tx), json_string_length(tx));
            } else if (!strcmp(t, "tool_use")) {
                json_t *in = json_object_get(bl, "input");
                const char *name = json_string_value(json_object_get(bl, "name"));
                const char *id = json_string_value(json_object_get(bl, "id"));
                if (!name) {
                    json_decref(calls);
                    am_http_errf(e, 400, field, "%s.%zu.name: Field required", field, k);
                    goto fail;
                }
                json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:O}}", "id", id ? id : "", "type",
                                                       "function", "function", "name", name, "arguments",
                                                       in ? in : json_object()));
            } else if (!strcmp(t, "tool_result")) {
                /* each result becomes a tool message */
                am_buf rb = {0};
                am_buf_puts(&rb, "");
                json_t *rc = json_object_get(bl, "content");
                if (rc && blocks_text(rc, field, &rb, e) < 0) {
                    am_buf_free(&rb);
                    json_decref(calls);
                    goto fail;
                }
                const char *id = json_string_value(json_object_get(bl, "tool_use_id"));
                json_array_append_new(p->messages, json_pack("{s:s, s:s, s:s}", "role", "tool", "content", rb.p,
                                                             "tool_call_id", id ? id : ""));
                am_buf_free(&rb);
            } else if (!strcmp(t, "thinking") || !strcmp(t, "redacted_thinking")) {
                /* dropped */
            } else {
                json_decref(calls);
                am_http_errf(e, 400, field, "%s.%zu.type: unsupported block type '%.40s'", field, k, t);
                goto fail;
            }
        }
        if (tb.n || json_array_size(calls)) {
            json_t *nm = json_pack("{s:s, s:s}", "role", role, "content", tb.p);
            if (json_array_size(calls)) json_object_set(nm, "tool_calls", calls);
            json_array_append_new(p->messages, nm);
        }
        json_decref(calls);
        am_buf_free(&tb);
    }
    json_t *tools = json_object_get(b, "tools");
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools)) {
            am_http_errf(e, 400, "tools", "tools: must be an array");
            goto fail;
        }
        json_t *out = json_array();
        json_array_foreach(tools, i, msg) {
            const char *name = json_string_value(json_object_get(msg, "name"));
            if (!name) {
                json_decref(out);
                snprintf(field, sizeof field, "tools.%zu.name", i);
                am_http_errf(e, 400, field, "%s: Field required", field);
                goto fail;
            }
            json_t *fn = json_pack("{s:s}", "name", name);
            json_t *desc = json_object_get(msg, "description");
            if (json_is_string(desc)) json_object_set(fn, "description", desc);
            json_t *schema = json_object_get(msg, "input_schema");
            json_object_set_new(fn, "parameters", schema ? json_incref(schema) : json_object());
            json_array_append_new(out, json_pack("{s:s, s:o}", "type", "function", "function", fn));
        }
        if (json_array_size(out)) p->tools = out;
        else json_decref(out);
    }
    return 0;
fail:
    am_buf_free(&tb);
    am_gen_parsed_free(p);
    return -1;
}
