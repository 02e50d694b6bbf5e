/*
 * openai.c — the OpenAI-compatible routes: /v1/chat/completions and
 * /v1/completions (whole responses and SSE streams), /v1/models, /tokenize,
 * /detokenize, and /metrics.
 */
#define AM_SERVER_INTERNALS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle.h"
#include "server/server_impl.h"

static json_t *usage_json(const am_gen_run *r) {
    int np = r->done.n_prompt ? r->done.n_prompt : r->n_prompt;
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", np, "completion_tokens", r->done.n_generated,
                     "total_tokens", np + r->done.n_generated, "prompt_tokens_details", "cached_tokens",
                     r->done.n_cached);
}

/* llama.cpp's `timings` extension, from the scheduler's clock: prompt_ms from
 * admission to the first token (the prefill of prompt_n computed tokens and
 * the first sample; cache_n were reused), predicted_ms from the first token
 * to the last (predicted_n - 1 decode steps). */
static json_t *timings_json(const am_gen_run *r) {
    const am_gen_event *d = &r->done;
    int np = d->n_prompt ? d->n_prompt : r->n_prompt, ng = d->n_generated, pn = np - d->n_cached;
    double pm = d->t_first > d->t_queue ? (d->t_first - d->t_queue) * 1e3 : 0;
    double gm = ng > 0 && d->t_total > d->t_first ? (d->t_total - d->t_first) * 1e3 : 0;
    int steps = ng > 1 ? ng - 1 : 0;
    json_t *t = json_pack("{s:i, s:i, s:f, s:i, s:f}", "cache_n", d->n_cached, "prompt_n", pn, "prompt_ms", pm,
                          "predicted_n", ng, "predicted_ms", gm);
    if (pn > 0 && pm > 0) {
        json_object_set_new(t, "prompt_per_token_ms", json_real(pm / pn));
        json_object_set_new(t, "prompt_per_second", json_real(pn * 1e3 / pm));
    }
    if (steps && gm > 0) {
        json_object_set_new(t, "predicted_per_token_ms", json_real(gm / steps));
        json_object_set_new(t, "predicted_per_second", json_real(steps * 1e3 / gm));
    }
    return t;
}

/* Common gate of generation routes: draining, model name, agent id. */
static int gen_prepare(am_conn *c, struct MHD_Connection *mc, am_gen_parsed *p, char agent[129], am_http_err *e) {
    if (c->srv->draining) return am_http_errf(e, 503, "", "server is shutting down");
    return am_conn_agent(mc, p, agent, e); /* the model is looked up by am_gen_start */
}

static json_t *chat_message(am_gen_run *r) {
    json_t *m = json_pack("{s:s}", "role", "assistant");
    bool tools = r->tool_calls && json_array_size(r->tool_calls);
    json_object_set_new(m, "content", r->content.n || !tools ? json_stringn(r->content.p, r->content.n) : json_null());
    if (r->reasoning.n) json_object_set_new(m, "reasoning_content", json_stringn(r->reasoning.p, r->reasoning.n));
    if (tools) json_object_set(m, "tool_calls", r->tool_calls);
    return m;
}

static json_t *gen_error(am_gen_run *r, am_http_err *e) {
    int st = am_status_http(r->srv, r->done.code);
    am_http_errf(e, st, "", "%s", r->done.msg[0] ? r->done.msg : "generation failed");
    return NULL;
}


static void chunk_base(am_gen_run *r, json_t **o, const char *object) {
    *o = json_pack("{s:s, s:s, s:I, s:s}", "id", r->id, "object", object, "created", (json_int_t)r->created, "model",
                   r->m->name);
}

static void chat_chunk(stream_st *s, json_t *delta, const char *finish, json_t *logprobs) {
    json_t *o;
    chunk_base(&s->r, &o, "chat.completion.chunk");
    json_t *ch = json_pack("{s:i, s:o, s:o}", "index", 0, "delta", delta, "finish_reason",
                           finish ? json_string(finish) : json_null());
    json_object_set_new(ch, "logprobs", logprobs ? json_pack("{s:o}", "content", logprobs) : json_null());
    json_object_set_new(o, "choices", json_pack("[o]", ch));
    am_sse_data(&s->out, o);
    json_decref(o);
}

static void completion_chunk(stream_st *s, const char *text, size_t n, const char *finish) {
    json_t *o;
    chunk_base(&s->r, &o, "text_completion");
    json_object_set_new(o, "choices", json_pack("[{s:s%, s:i, s:n, s:o}]", "text", text, n, "index", 0, "logprobs",
                                                "finish_reason", finish ? json_string(finish) : json_null()));
    am_sse_data(&s->out, o);
    json_decref(o);
}

static void error_event(stream_st *s) {
    am_http_err e;
    gen_error(&s->r, &e);
    json_t *j = am_openai_error_json(&e);
    am_sse_data(&s->out, j);
    json_decref(j);
}

static void openai_produce(stream_st *s) {
    am_gen_run *r = &s->r;
    bool chat = r->p.api == AM_API_OPENAI_CHAT;
    if (s->phase == 0) {
        if (chat) chat_chunk(s, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, NULL);
        s->phase = 1;
        return;
    }
    am_buf dc = {0}, dr = {0};
    size_t lp0 = r->logprobs ? json_array_size(r->logprobs) : 0;
    int fin = am_gen_step(r, &dc, &dr);
    json_t *lp = NULL;
    if (r->logprobs && json_array_size(r->logprobs) > lp0) {
        lp = json_array();
        for (size_t i = lp0; i < json_array_size(r->logprobs); i++) json_array_append(lp, json_array_get(r->logprobs, i));
    }
    if (chat) {
        if (dr.n) chat_chunk(s, json_pack("{s:s%}", "reasoning_content", dr.p, dr.n), NULL, NULL);
        if (dc.n || lp) chat_chunk(s, json_pack("{s:s%}", "content", dc.p ? dc.p : "", dc.n), NULL, lp);
        else json_decref(lp);
    } else {
        json_decref(lp);
        if (dc.n) completion_chunk(s, dc.p, dc.n, NULL);
    }
    am_buf_free(&dc);
    am_buf_free(&dr);
    if (!fin) return;
    if (r->error) {
        error_event(s);
    } else if (chat) {
        json_t *delta = json_object();
        if (!strcmp(r->finish, "tool_calls")) {
            json_t *tc = json_deep_copy(r->tool_calls);
            size_t i;
            json_t *x;
            json_array_foreach(tc, i, x) json_object_set_new(x, "index", json_integer((json_int_t)i));
            json_object_set_new(delta, "tool_calls", tc);
        }
        chat_chunk(s, delta, r->finish, NULL);
    } else {
        completion_chunk(s, "", 0, r->finish);
    }
    if (r->p.include_usage && !r->error) {
        json_t *o;
        chunk_base(r, &o, chat ? "chat.completion.chunk" : "text_completion");
        json_object_set_new(o, "choices", json_array());
        json_object_set_new(o, "usage", usage_json(r));
        json_object_set_new(o, "timings", timings_json(r));
        am_sse_data(&s->out, o);
        json_decref(o);
    }
    am_sse_done(&s->out);
    s->phase = 2;
}


static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max) {
    stream_st *s = cls;
    while (s->off == s->out.n) {
        if (s->phase == 2) return MHD_CONTENT_READER_END_OF_STREAM;
        s->out.n = 0;
        s->off = 0;
        /* Producing blocks until the scheduler has the next event: as long
         * as the request waits in the queue or its prefill runs. MHD counts
         * that time as the client's silence and would cut the stream once it
         * passes the connection timeout, so the timeout is off while we wait
         * and re-armed (which restarts MHD's timer) when there is something
         * to send: only a client that stops reading is timed out. */
        MHD_set_connection_option(s->mc, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
        /* A long prefill sends nothing for minutes; clients and proxies cut
         * a silent stream (Node's fetch after 300 s), so every
         * --sse-keepalive seconds of silence (15) get a keep-alive: an SSE
         * comment, or Anthropic's ping event. */
        s->r.wait_ms = (s->r.srv->cfg.keepalive_s > 0 ? s->r.srv->cfg.keepalive_s : 15) * 1000;
        if (s->r.p.api == AM_API_ANTHROPIC) am_anthropic_produce(s);
        else openai_produce(s);
        if (s->out.n == 0 && s->r.idle && s->phase == 1) {
            if (s->r.p.api == AM_API_ANTHROPIC) {
                json_t *ping = json_pack("{s:s}", "type", "ping");
                am_sse_event(&s->out, "ping", ping);
                json_decref(ping);
            } else {
                am_buf_puts(&s->out, ": keep-alive\n\n");
            }
        }
        MHD_set_connection_option(s->mc, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)s->r.srv->cfg.conn_timeout_s);
    }
    size_t n = AM_MIN(max, s->out.n - s->off);
    memcpy(buf, s->out.p + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    stream_st *s = cls;
    am_server *srv = s->r.srv;
    am_gen_free(&s->r);
    am_buf_free(&s->out);
    free(s);
    srv->in_flight--;
}

/* Runs a parsed generation request: a stream or one whole response. */
enum MHD_Result am_run_generation(am_conn *c, struct MHD_Connection *mc, am_gen_parsed *p,
                                  json_t *(*whole)(am_gen_run *r)) {
    am_http_err e;
    char agent[129];
    am_api_kind api = p->api;
    if (gen_prepare(c, mc, p, agent, &e) < 0) {
        am_gen_parsed_free(p);
        return am_reply_error(c, mc, api, &e);
    }
    am_server *srv = c->srv;
    srv->in_flight++;
    if (p->stream) {
        stream_st *s = am_xcalloc(1, sizeof *s);
        s->mc = mc;
        if (am_gen_start(srv, c, p, agent, &s->r, &e) < 0) {
            free(s);
            srv->in_flight--;
            return am_reply_error(c, mc, api, &e);
        }
        return am_reply_stream(c, mc, reader, s, stream_free);
    }
    am_gen_run r;
    if (am_gen_start(srv, c, p, agent, &r, &e) < 0) {
        srv->in_flight--;
        return am_reply_error(c, mc, api, &e);
    }
    r.wait_ms = 100; /* look at the socket between events: a client that left cancels */
    bool gone = false;
    while (!am_gen_step(&r, NULL, NULL))
        if (!gone && (gone = am_conn_gone(mc))) am_req_cancel(r.req); /* ends within a step */
    enum MHD_Result res;
    if (r.error) {
        gen_error(&r, &e);
        res = am_reply_error(c, mc, api, &e);
    } else {
        res = am_reply_json(c, mc, 200, whole(&r));
    }
    am_gen_free(&r);
    srv->in_flight--;
    return res;
}

static json_t *chat_whole(am_gen_run *r) {
    json_t *ch = json_pack("{s:i, s:o, s:s}", "index", 0, "message", chat_message(r), "finish_reason", r->finish);
    json_object_set_new(ch, "logprobs", r->logprobs ? json_pack("{s:O}", "content", r->logprobs) : json_null());
    return json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o, s:o}", "id", r->id, "object", "chat.completion", "created",
                     (json_int_t)r->created, "model", r->m->name, "choices", ch, "usage", usage_json(r), "timings",
                     timings_json(r));
}

static json_t *completion_whole(am_gen_run *r) {
    am_buf t = {0};
    if (r->p.echo) am_buf_puts(&t, r->p.prompt);
    am_buf_put(&t, r->content.p, r->content.n);
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:[{s:s%, s:i, s:n, s:s}], s:o, s:o}", "id", r->id, "object",
                          "text_completion", "created", (json_int_t)r->created, "model", r->m->name, "choices",
                          "text", t.p ? t.p : "", t.n, "index", 0, "logprobs", "finish_reason", r->finish, "usage",
                          usage_json(r), "timings", timings_json(r));
    am_buf_free(&t);
    return o;
}

enum MHD_Result am_route_chat(am_conn *c, struct MHD_Connection *mc, json_t *body) {
    am_gen_parsed p;
    am_http_err e;
    if (am_parse_openai_chat(body, &p, &e) < 0) return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    return am_run_generation(c, mc, &p, chat_whole);
}

enum MHD_Result am_route_completions(am_conn *c, struct MHD_Connection *mc, json_t *body) {
    am_gen_parsed p;
    am_http_err e;
    if (am_parse_openai_completion(body, &p, &e) < 0) return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    return am_run_generation(c, mc, &p, completion_whole);
}

enum MHD_Result am_route_models(am_conn *c, struct MHD_Connection *mc) {
    return am_reply_json(c, mc, 200,
                         json_pack("{s:s, s:o}", "object", "list", "data", am_reg_models_json(c->srv->reg, c->admin)));
}

/* The optional "model" of a tokenize/detokenize body, leased. */
static am_served *body_model(am_conn *c, json_t *body, am_http_err *e) {
    json_t *m = json_object_get(body, "model");
    if (m && !json_is_string(m)) {
        am_http_errf(e, 400, "model", "'model' must be a string");
        return NULL;
    }
    return am_srv_model(c->srv, m ? json_string_value(m) : NULL, e);
}

enum MHD_Result am_route_tokenize(am_conn *c, struct MHD_Connection *mc, json_t *body) {
    am_http_err e;
    json_t *t = json_object_get(body, "content");
    const char *field = "content";
    if (!t) {
        t = json_object_get(body, "prompt");
        field = "prompt";
    }
    if (!json_is_string(t)) {
        am_http_errf(&e, 400, field, "'content' (or 'prompt') is required and must be a string");
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    json_t *as = json_object_get(body, "add_special");
    if (as && !json_is_boolean(as)) {
        am_http_errf(&e, 400, "add_special", "'add_special' must be a boolean");
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    am_served *m = body_model(c, body, &e);
    if (!m) return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    am_tokens toks = {0};
    am_err err = {0};
    int rc = am_bundle_tokenize(m->b, json_string_value(t), json_string_length(t), as ? json_is_true(as) : true,
                                &toks, &err);
    am_reg_release(c->srv->reg, m);
    if (rc < 0) {
        am_tokens_free(&toks);
        am_http_errf(&e, am_status_http(c->srv, err.code), field, "%s", err.msg);
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < toks.n; i++) json_array_append_new(arr, json_integer(toks.ids[i]));
    am_tokens_free(&toks);
    return am_reply_json(c, mc, 200, json_pack("{s:o}", "tokens", arr));
}

enum MHD_Result am_route_detokenize(am_conn *c, struct MHD_Connection *mc, json_t *body) {
    am_http_err e;
    json_t *t = json_object_get(body, "tokens");
    if (!json_is_array(t)) {
        am_http_errf(&e, 400, "tokens", "'tokens' is required and must be an array of integers");
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    size_t n = json_array_size(t);
    int32_t *ids = am_xmalloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(t, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX) {
            free(ids);
            am_http_errf(&e, 400, "tokens", "'tokens[%zu]' must be a token id", i);
            return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
        }
        ids[i] = (int32_t)json_integer_value(x);
    }
    am_served *m = body_model(c, body, &e);
    if (!m) {
        free(ids);
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    am_tok_decode_params dp = am_tok_decode_default_params();
    am_err err = {0};
    size_t len = 0;
    char *s = am_tokenizer_decode(m->b->tok, ids, n, &dp, &len, &err);
    am_reg_release(c->srv->reg, m);
    free(ids);
    if (!s) {
        am_http_errf(&e, 400, "tokens", "%s", err.msg);
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    json_t *j = am_json_str_lossy(s, len);
    free(s);
    return am_reply_json(c, mc, 200, json_pack("{s:o}", "content", j));
}

enum MHD_Result am_route_metrics(am_conn *c, struct MHD_Connection *mc) {
    am_sched_stats st;
    am_reg_sched_stats(c->srv->reg, &st);
    am_reg_stats rs;
    am_reg_stats_get(c->srv->reg, &rs);
    am_metrics_sched ms = {
        .queued = st.queued, .running = st.running, .kv_bytes_used = st.kv_bytes_used,
        .kv_bytes_budget = st.kv_bytes_budget, .agents_hot = st.agents_hot, .agents_warm = st.agents_warm,
        .disk_bytes = st.disk_bytes, .prompt_tokens_computed = st.prompt_tokens_computed,
        .prompt_tokens_cached = st.prompt_tokens_cached, .generated_tokens = st.generated_tokens,
        .shared_prefix_tokens = st.shared_prefix_tokens,
        .cache_saves = st.cache_saves, .cache_save_bytes = st.cache_save_bytes,
        .cache_save_failures = st.cache_save_failures, .cache_restores = st.cache_restores,
        .cache_restore_bytes = st.cache_restore_bytes, .cache_restore_failures = st.cache_restore_failures,
        .evictions = st.evictions, .steps = st.steps, .ready = rs.ready && !c->srv->draining,
        .persist_queue_bytes = st.persist_queue_bytes, .persist_queue_max = st.persist_queue_max,
        .persist_waits = st.persist_waits,
        .models_registered = rs.models_registered, .models_loaded = rs.models_loaded,
        .weights_bytes_loaded = rs.weights_bytes_loaded, .model_loads = rs.loads,
        .model_load_failures = rs.load_failures, .model_unloads = rs.unloads, .model_swaps = rs.swaps,
        .model_swap_failures = rs.swap_failures, .caches_lost = rs.caches_lost, .degraded = rs.degraded,
    };
    am_buf b = {0};
    am_metrics_render(&c->srv->metrics, &ms, &b);
    enum MHD_Result r = am_reply_text(c, mc, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.n);
    am_buf_free(&b);
    return r;
}
