/*
 * server_impl.h — what the files of src/server/ share: the parsed form of a
 * generation request (both APIs), the HTTP error value, the pure wire
 * helpers (SSE framing, error bodies, ids) and the request counters.
 *
 * The parsing and formatting declared here are pure (jansson and libc
 * only), so unit tests link them without a scheduler.
 */
#ifndef AM_SERVER_IMPL_H
#define AM_SERVER_IMPL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/sample.h"

/* A request failure with the status and the field at fault. */
typedef struct am_http_err {
    int status;        /* HTTP status */
    char type[48];     /* OpenAI error type / Anthropic error type */
    char param[96];    /* offending field ("" none) */
    char code[48];     /* OpenAI code ("" -> null) */
    char msg[512];
} am_http_err;

int am_http_errf(am_http_err *e, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef enum { AM_API_OPENAI_CHAT = 1, AM_API_OPENAI_COMPLETION, AM_API_ANTHROPIC } am_api_kind;

#define AM_SRV_MAX_STOP 4
#define AM_SRV_MAX_MESSAGES 4096
#define AM_SRV_MAX_JSON_DEPTH 64

/* A generation request as parsed from either API's body. */
typedef struct am_gen_parsed {
    am_api_kind api;
    json_t *messages;        /* chat: normalized [{role, content:string, ...}] (owned) */
    json_t *tools;           /* OpenAI-style tools or NULL (owned) */
    json_t *tool_choice;     /* or NULL (owned) */
    char *prompt;            /* completions: the prompt (owned) */
    char model[256];         /* "" when absent */
    char agent[129];         /* from the body ("" when absent) */
    bool has_agent;
    bool stream, include_usage;
    int max_tokens;          /* 0: not given */
    am_sampler_params sp;
    bool ignore_eos;
    int n_logprobs;          /* 0 none, -1 chosen only, else top */
    char *stop[AM_SRV_MAX_STOP];
    int n_stop;
    bool echo;
} am_gen_parsed;

/* Parse bodies; 0 or -1 with e (status 400 naming the field). */
int am_parse_openai_chat(const json_t *body, am_gen_parsed *out, am_http_err *e);
int am_parse_openai_completion(const json_t *body, am_gen_parsed *out, am_http_err *e);
int am_parse_anthropic(const json_t *body, am_gen_parsed *out, am_http_err *e);
void am_gen_parsed_free(am_gen_parsed *p);

/* Parses a body with the depth limit; NULL with e (400) otherwise. */
json_t *am_json_parse_body(const char *data, size_t len, am_http_err *e);
/* Maximum nesting depth of a JSON text (counting [ and { outside strings). */
int am_json_text_depth(const char *s, size_t n);

/* [A-Za-z0-9._-]{1,128} */
bool am_agent_id_valid(const char *s);
/* "512M", "4G", "1024K", "123": bytes; -1 when malformed. */
int64_t am_parse_size(const char *s);

/* Growable byte buffer. */
typedef struct am_buf {
    char *p;
    size_t n, cap;
} am_buf;
void am_buf_put(am_buf *b, const void *s, size_t n);
void am_buf_puts(am_buf *b, const char *s);
void am_buf_printf(am_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void am_buf_free(am_buf *b);

/* SSE framing: "data: <json>\n\n" / "event: NAME\ndata: <json>\n\n"
 * (NULL name: none). Appends to b; j is not consumed. */
void am_sse_data(am_buf *b, const json_t *j);
void am_sse_event(am_buf *b, const char *name, const json_t *j);
void am_sse_done(am_buf *b);

/* Error bodies (new reference). */
json_t *am_openai_error_json(const am_http_err *e);
json_t *am_anthropic_error_json(const am_http_err *e);
/* Type names for a status in each API. */
const char *am_openai_error_type(int status);
const char *am_anthropic_error_type(int status);

/* Random-ish hex id with a prefix ("chatcmpl-", "msg_"); out >= 40 bytes. */
void am_make_id(char *out, size_t cap, const char *prefix);

/* ---- request counters and histograms ---------------------------------- */

#define AM_HIST_N 14
typedef struct am_hist {
    uint64_t bucket[AM_HIST_N]; /* cumulative at render; here per-bucket counts */
    uint64_t count;
    double sum;
} am_hist;
extern const double am_hist_bounds[AM_HIST_N];
void am_hist_observe(am_hist *h, double v);

#define AM_METRIC_ROUTES 16
typedef struct am_srv_metrics {
    pthread_mutex_t mu;
    struct {
        char route[48];
        int status;
        uint64_t n;
    } req[128];
    int n_req;
    am_hist ttft, itl, e2e;
    uint64_t in_flight;
} am_srv_metrics;

void am_metrics_init(am_srv_metrics *m);
void am_metrics_request(am_srv_metrics *m, const char *route, int status);
void am_metrics_ttft(am_srv_metrics *m, double s);
void am_metrics_itl(am_srv_metrics *m, double s);
void am_metrics_e2e(am_srv_metrics *m, double s);

/* The scheduler numbers /metrics shows (a copy of am_sched_stats' fields,
 * so this file needs no scheduler). */
typedef struct am_metrics_sched {
    int64_t queued, running, kv_bytes_used, kv_bytes_budget, agents_hot, agents_warm, disk_bytes;
    uint64_t prompt_tokens_computed, prompt_tokens_cached, generated_tokens;
    uint64_t cache_saves, cache_save_bytes, cache_save_failures;
    uint64_t cache_restores, cache_restore_bytes, cache_restore_failures;
    uint64_t evictions, steps;
    bool ready;
} am_metrics_sched;

/* Prometheus text format 0.0.4. */
void am_metrics_render(am_srv_metrics *m, const am_metrics_sched *s, am_buf *out);

/* Constant-time equality of two NUL-terminated strings (length leaks). */
bool am_ct_streq(const char *a, const char *b);
/* Host header allowed for a loopback bind: localhost, 127.0.0.1, [::1], any port. */
bool am_host_is_loopback(const char *host);

/* Token bucket (rate per second, burst = rate). */
typedef struct am_bucket {
    char key[20];
    double tokens, last;
} am_bucket;
typedef struct am_ratelimit {
    pthread_mutex_t mu;
    double rate;
    am_bucket b[256];
    int n;
} am_ratelimit;
void am_ratelimit_init(am_ratelimit *r, double rate);
/* 0 allowed; else seconds to wait (>= 1). */
int am_ratelimit_take(am_ratelimit *r, uint64_t key, double now);

#endif
