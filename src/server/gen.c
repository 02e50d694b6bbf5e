/*
 * gen.c — one generation for either API: the chat rendered (tools and
 * reasoning as the template supports), tokenized and submitted; then each
 * event's token detokenized and pushed through the stop-string, reasoning
 * and tool-call splitter, cancelling the request when a stop string ends it.
 */
#define AM_SERVER_INTERNALS
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundle/bundle.h"
#include "server/server_impl.h"

int am_status_http(am_server *srv, am_status code) {
    switch (code) {
    case AM_E_INVALID: case AM_E_TOO_LONG: return 400;
    case AM_E_NOT_FOUND: return 404;
    case AM_E_BUSY: return srv && srv->draining ? 503 : 429;
    case AM_E_NO_KV: case AM_E_NO_ROOM: return 503;
    case AM_E_CONFLICT: return 409;
    default: return 500;
    }
}

am_served *am_srv_model(am_server *srv, const char *name, am_http_err *e) {
    am_err err = {0};
    int retry = 0;
    am_served *m = am_reg_acquire(srv->reg, name, &retry, &err);
    if (m) return m;
    if (err.code == AM_E_NOT_FOUND) {
        am_http_errf(e, 404, "model", "%s", err.msg);
        snprintf(e->code, sizeof e->code, "%s", "model_not_found");
    } else if (err.code == AM_E_BUSY) {
        am_http_errf(e, 503, "model", "%s", err.msg);
        e->retry_after = retry > 0 ? retry : 1;
    } else {
        /* the model is registered but did not load (bad file, too big) */
        am_http_errf(e, err.code == AM_E_NO_ROOM ? 503 : 500, "model", "%s", err.msg);
    }
    return NULL;
}

static bool ends_with_think(const char *s, size_t n) {
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r')) n--;
    return n >= 7 && !memcmp(s + n - 7, "<think>", 7);
}

int am_gen_start(am_server *srv, am_conn *c, am_gen_parsed *p, const char *agent, am_gen_run *r, am_http_err *e) {
    memset(r, 0, sizeof *r);
    r->srv = srv;
    r->conn = c;
    r->p = *p;
    memset(p, 0, sizeof *p);
    r->t_start = am_time_now();
    r->created = (long)time(NULL);
    r->m = am_srv_model(srv, r->p.model, e);
    if (!r->m) {
        am_gen_parsed_free(&r->p);
        return -1;
    }
    const am_served *m = r->m;
    const am_bundle *b = m->b;
    am_err err = {0};
    am_tokens toks = {0};
    bool reasoning_open = false;
    if (r->p.api == AM_API_OPENAI_COMPLETION) {
        if (am_bundle_tokenize(b, r->p.prompt, strlen(r->p.prompt), true, &toks, &err) < 0) goto fail_err;
    } else {
        json_t *extra = json_object();
        if (m->reasoning) json_object_set_new(extra, "enable_thinking", json_true());
        if (r->p.tool_choice) json_object_set(extra, "tool_choice", r->p.tool_choice);
        size_t len = 0;
        char *text = am_bundle_render_chat(b, r->p.messages, r->p.tools, extra, &len, &err);
        json_decref(extra);
        if (!text) goto fail_err;
        reasoning_open = m->reasoning && ends_with_think(text, len);
        int rc = am_bundle_tokenize(b, text, len, false, &toks, &err);
        free(text);
        if (rc < 0) goto fail_err;
    }
    r->n_prompt = (int)toks.n;
    am_gen_request gr = {0};
    gr.prompt = toks.ids;
    gr.n_prompt = (int)toks.n;
    snprintf(gr.agent, sizeof gr.agent, "%s", agent ? agent : "");
    gr.owner = c->owner;
    gr.sp = r->p.sp;
    gr.max_tokens = r->p.max_tokens;
    gr.ignore_eos = r->p.ignore_eos;
    gr.n_logprobs = r->p.n_logprobs;
    if (gr.max_tokens <= 0) /* not given: what the context leaves */
        gr.max_tokens = am_sched_n_ctx(m->s) > gr.n_prompt ? am_sched_n_ctx(m->s) - gr.n_prompt : 1;
    r->req = am_sched_submit(m->s, &gr, &err);
    am_tokens_free(&toks);
    if (!r->req) goto fail_err2;
    am_tok_decode_params dp = am_tok_output_params(); /* the splice assumes these (sched_splice.c) */
    r->dt = am_detok_create(b->tok, &dp);
    am_textout_params tp = {0};
    tp.stop = (const char *const *)r->p.stop;
    tp.n_stop = r->p.n_stop;
    tp.reasoning = m->reasoning && r->p.api == AM_API_OPENAI_CHAT;
    tp.reasoning_open = tp.reasoning && reasoning_open;
    tp.tools = r->p.tools && r->p.api != AM_API_OPENAI_COMPLETION ? m->tool_fmt : AM_TOOLS_NONE;
    r->to = am_textout_create(&tp);
    if (r->p.n_logprobs) r->logprobs = json_array();
    am_make_id(r->id, sizeof r->id,
               r->p.api == AM_API_ANTHROPIC ? "msg_" : r->p.api == AM_API_OPENAI_CHAT ? "chatcmpl-" : "cmpl-");
    am_buf_puts(&r->content, "");
    am_buf_puts(&r->reasoning, "");
    am_buf_puts(&r->raw, "");
    return 0;
fail_err:
    am_tokens_free(&toks);
fail_err2:
    am_http_errf(e, am_status_http(srv, err.code), "", "%s", err.msg[0] ? err.msg : am_status_name(err.code));
    if (err.code == AM_E_TOO_LONG) snprintf(e->param, sizeof e->param, "%s", "max_tokens");
    if (err.code == AM_E_BUSY && e->status == 429) snprintf(e->code, sizeof e->code, "%s", "rate_limit_exceeded");
    am_gen_parsed_free(&r->p);
    am_reg_release(srv->reg, r->m);
    r->m = NULL;
    return -1;
}

static void take(am_gen_run *r, const am_textout_delta *d, am_buf *dc, am_buf *dr) {
    if (d->content_len) {
        am_buf_put(&r->content, d->content, d->content_len);
        if (dc) am_buf_put(dc, d->content, d->content_len);
    }
    if (d->reasoning_len) {
        am_buf_put(&r->reasoning, d->reasoning, d->reasoning_len);
        if (dr) am_buf_put(dr, d->reasoning, d->reasoning_len);
    }
    if (d->stopped && !r->stopped) {
        r->stopped = true;
        am_req_cancel(r->req);
    }
}

static json_t *token_entry(const am_bundle *b, int32_t id, float lp) {
    am_tok_decode_params dp = am_tok_decode_default_params();
    dp.strip_leading = false;
    size_t n = 0;
    char *s = am_tokenizer_decode(b->tok, &id, 1, &dp, &n, NULL);
    json_t *bytes = json_array();
    for (size_t i = 0; s && i < n; i++) json_array_append_new(bytes, json_integer((unsigned char)s[i]));
    json_t *tok = am_json_str_lossy(s ? s : "", s ? n : 0);
    free(s);
    if (!isfinite(lp)) lp = -9999.0f;
    return json_pack("{s:o, s:f, s:o}", "token", tok, "logprob", (double)lp, "bytes", bytes);
}

int am_gen_step(am_gen_run *r, am_buf *dc, am_buf *dr) {
    if (r->finished) return 1;
    am_gen_event ev;
    r->idle = false;
    if (!am_req_next(r->req, &ev, r->wait_ms > 0 ? r->wait_ms : -1)) {
        r->idle = true; /* nothing for wait_ms */
        return 0;
    }
    am_textout_delta d;
    const char *chunk;
    size_t n;
    if (ev.kind == AM_EV_TOKEN) {
        /* latencies by when the scheduler made the token, not when this
         * thread got to it (a busy reader would see bursts) */
        double now = ev.t_emit > 0 ? ev.t_emit : am_time_now();
        if (!r->got_first) {
            r->got_first = true;
            am_metrics_ttft(&r->srv->metrics, now - r->t_start);
        } else {
            am_metrics_itl(&r->srv->metrics, now - r->t_last);
        }
        r->t_last = now;
        if (r->stopped) return 0;
        if (am_bundle_is_eog(r->m->b, ev.token) && !r->p.ignore_eos) return 0;
        if (r->logprobs) {
            json_t *en = token_entry(r->m->b, ev.token, ev.logprob);
            json_t *top = json_array();
            for (int i = 0; i < ev.n_top; i++)
                json_array_append_new(top, token_entry(r->m->b, ev.top_id[i], ev.top_logprob[i]));
            json_object_set_new(en, "top_logprobs", top);
            json_array_append_new(r->logprobs, en);
        }
        if (am_detok_push(r->dt, ev.token, &chunk, &n, NULL) == 0 && n) {
            am_buf_put(&r->raw, chunk, n);
            am_textout_push(r->to, chunk, n, &d);
            take(r, &d, dc, dr);
        }
        return 0;
    }
    /* done */
    r->done = ev;
    am_detok_flush(r->dt, &chunk, &n);
    if (n && !r->stopped) {
        am_buf_put(&r->raw, chunk, n);
        am_textout_push(r->to, chunk, n, &d);
        take(r, &d, dc, dr);
    }
    am_textout_flush(r->to, &d);
    take(r, &d, dc, dr);
    r->tool_calls = am_textout_tool_calls(r->to);
    r->finished = true;
    am_metrics_e2e(&r->srv->metrics, am_time_now() - r->t_start);
    if (r->stopped) {
        r->finish = "stop";
        size_t best = (size_t)-1;
        for (int i = 0; i < r->p.n_stop; i++) {
            char *at = strstr(r->raw.p, r->p.stop[i]);
            if (at && (size_t)(at - r->raw.p) < best) {
                best = (size_t)(at - r->raw.p);
                r->stop_hit = r->p.stop[i];
            }
        }
    } else if (ev.finish == AM_FINISH_LENGTH) {
        r->finish = "length";
    } else if (ev.finish == AM_FINISH_ERROR) {
        r->error = true;
        r->finish = "error";
    } else {
        r->finish = "stop";
    }
    if (!r->error && r->tool_calls && json_array_size(r->tool_calls)) r->finish = "tool_calls";
    return 1;
}

void am_gen_free(am_gen_run *r) {
    if (r->req) am_req_release(r->req); /* before the lease: the request belongs to the model's scheduler */
    if (r->m) am_reg_release(r->srv->reg, r->m);
    if (r->dt) am_detok_free(r->dt);
    if (r->to) am_textout_free(r->to);
    am_buf_free(&r->raw);
    am_buf_free(&r->content);
    am_buf_free(&r->reasoning);
    json_decref(r->tool_calls);
    json_decref(r->logprobs);
    am_gen_parsed_free(&r->p);
    memset(r, 0, sizeof *r);
}
