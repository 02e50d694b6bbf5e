/*
 * anthropic.c — the Anthropic Messages routes: /v1/messages (a whole
 * message or the named SSE events) and /v1/messages/count_tokens.
 */
#define AM_SERVER_INTERNALS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle.h"
#include "server/server_impl.h"

static const char *stop_reason(const am_gen_run *r) {
    if (!strcmp(r->finish, "tool_calls")) return "tool_use";
    if (!strcmp(r->finish, "length")) return "max_tokens";
    if (r->stop_hit) return "stop_sequence";
    return "end_turn";
}

static json_t *usage(const am_gen_run *r, bool final) {
    int np = r->done.n_prompt ? r->done.n_prompt : r->n_prompt;
    int cached = final ? r->done.n_cached : 0;
    /* Anthropic counts input as input_tokens + cache_creation + cache_read;
     * every prompt here is cached implicitly (no cache_control breakpoints),
     * so what was not read from the cache is plain input, and nothing is
     * reported as a separate cache write. */
    return json_pack("{s:i, s:i, s:i, s:i}", "input_tokens", np - cached, "output_tokens",
                     final ? r->done.n_generated : 0, "cache_read_input_tokens", cached,
                     "cache_creation_input_tokens", 0);
}

/* tool call (OpenAI shape) -> tool_use block */
static json_t *tool_use_block(json_t *call, bool empty_input) {
    json_t *fn = json_object_get(call, "function");
    const char *args = json_string_value(json_object_get(fn, "arguments"));
    json_t *in = args ? json_loads(args, 0, NULL) : NULL;
    if (!in || empty_input) {
        json_decref(in);
        in = json_object();
    }
    const char *id = json_string_value(json_object_get(call, "id"));
    char tid[64];
    snprintf(tid, sizeof tid, "toolu_%s", id ? id : "0");
    const char *name = json_string_value(json_object_get(fn, "name"));
    return json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id", tid, "name", name ? name : "", "input", in);
}

static json_t *whole(am_gen_run *r) {
    json_t *content = json_array();
    if (r->content.n) json_array_append_new(content, json_pack("{s:s, s:s%}", "type", "text", "text", r->content.p, r->content.n));
    size_t i;
    json_t *x;
    if (!strcmp(r->finish, "tool_calls")) json_array_foreach(r->tool_calls, i, x) json_array_append_new(content, tool_use_block(x, false));
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o}", "id", r->id, "type", "message", "role", "assistant",
                     "model", r->m->name, "content", content, "stop_reason", stop_reason(r), "stop_sequence",
                     r->stop_hit ? json_string(r->stop_hit) : json_null(), "usage", usage(r, true));
}

static void ev(stream_st *s, const char *name, json_t *j) {
    am_sse_event(&s->out, name, j);
    json_decref(j);
}

void am_anthropic_produce(stream_st *s) {
    am_gen_run *r = &s->r;
    if (s->phase == 0) {
        ev(s, "message_start",
           json_pack("{s:s, s:{s:s, s:s, s:s, s:[], s:s, s:n, s:n, s:o}}", "type", "message_start", "message", "id",
                     r->id, "type", "message", "role", "assistant", "content", "model", r->m->name,
                     "stop_reason", "stop_sequence", "usage", usage(r, false)));
        ev(s, "content_block_start",
           json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_start", "index", 0, "content_block", "type",
                     "text", "text", ""));
        ev(s, "ping", json_pack("{s:s}", "type", "ping"));
        s->text_open = true;
        s->n_block = 1;
        s->phase = 1;
        return;
    }
    am_buf dc = {0};
    int fin = am_gen_step(r, &dc, NULL);
    if (dc.n)
        ev(s, "content_block_delta",
           json_pack("{s:s, s:i, s:{s:s, s:s%}}", "type", "content_block_delta", "index", 0, "delta", "type",
                     "text_delta", "text", dc.p, dc.n));
    am_buf_free(&dc);
    if (!fin) return;
    if (r->error) {
        am_http_err e;
        am_http_errf(&e, am_status_http(r->srv, r->done.code), "", "%s", r->done.msg[0] ? r->done.msg : "generation failed");
        ev(s, "error", am_anthropic_error_json(&e));
        s->phase = 2;
        return;
    }
    ev(s, "content_block_stop", json_pack("{s:s, s:i}", "type", "content_block_stop", "index", 0));
    if (!strcmp(r->finish, "tool_calls")) {
        size_t i;
        json_t *x;
        json_array_foreach(r->tool_calls, i, x) {
            int idx = s->n_block++;
            ev(s, "content_block_start",
               json_pack("{s:s, s:i, s:o}", "type", "content_block_start", "index", idx, "content_block",
                         tool_use_block(x, true)));
            const char *args = json_string_value(json_object_get(json_object_get(x, "function"), "arguments"));
            ev(s, "content_block_delta",
               json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_delta", "index", idx, "delta", "type",
                         "input_json_delta", "partial_json", args ? args : "{}"));
            ev(s, "content_block_stop", json_pack("{s:s, s:i}", "type", "content_block_stop", "index", idx));
        }
    }
    json_t *u = usage(r, true);
    json_object_set_new(u, "output_tokens", json_integer(r->done.n_generated));
    ev(s, "message_delta",
       json_pack("{s:s, s:{s:s, s:o}, s:o}", "type", "message_delta", "delta", "stop_reason", stop_reason(r),
                 "stop_sequence", r->stop_hit ? json_string(r->stop_hit) : json_null(), "usage", u));
    ev(s, "message_stop", json_pack("{s:s}", "type", "message_stop"));
    s->phase = 2;
}

enum MHD_Result am_route_messages(am_conn *c, struct MHD_Connection *mc, json_t *body) {
    am_gen_parsed p;
    am_http_err e;
    if (am_parse_anthropic(body, &p, &e) < 0) return am_reply_error(c, mc, AM_API_ANTHROPIC, &e);
    return am_run_generation(c, mc, &p, whole);
}

enum MHD_Result am_route_count_tokens(am_conn *c, struct MHD_Connection *mc, json_t *body) {
    am_http_err e;
    json_t *b2 = json_copy(body);
    if (!json_object_get(b2, "max_tokens")) json_object_set_new(b2, "max_tokens", json_integer(1));
    am_gen_parsed p;
    int rc = am_parse_anthropic(b2, &p, &e);
    json_decref(b2);
    if (rc < 0) return am_reply_error(c, mc, AM_API_ANTHROPIC, &e);
    am_served *m = am_srv_model(c->srv, p.model, &e);
    if (!m) {
        am_gen_parsed_free(&p);
        return am_reply_error(c, mc, AM_API_ANTHROPIC, &e);
    }
    am_err err = {0};
    size_t len = 0;
    char *text = am_bundle_render_chat(m->b, p.messages, p.tools, NULL, &len, &err);
    am_gen_parsed_free(&p);
    if (!text) {
        am_reg_release(c->srv->reg, m);
        am_http_errf(&e, am_status_http(c->srv, err.code), "", "%s", err.msg);
        return am_reply_error(c, mc, AM_API_ANTHROPIC, &e);
    }
    am_tokens t = {0};
    rc = am_bundle_tokenize(m->b, text, len, false, &t, &err);
    am_reg_release(c->srv->reg, m);
    free(text);
    size_t n = t.n;
    am_tokens_free(&t);
    if (rc < 0) {
        am_http_errf(&e, 400, "", "%s", err.msg);
        return am_reply_error(c, mc, AM_API_ANTHROPIC, &e);
    }
    return am_reply_json(c, mc, 200, json_pack("{s:I}", "input_tokens", (json_int_t)n));
}
