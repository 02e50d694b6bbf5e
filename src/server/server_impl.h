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
    int retry_after;   /* seconds for Retry-After on 429/503 (0: 1) */
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

/* A JSON string of bytes that may be invalid UTF-8 (bad bytes -> U+FFFD). */
json_t *am_json_str_lossy(const char *s, size_t n);

/* [A-Za-z0-9._-]{1,128} */
bool am_srv_agent_id_ok(const char *s);
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
    uint64_t prompt_tokens_computed, prompt_tokens_cached, generated_tokens, shared_prefix_tokens;
    uint64_t cache_saves, cache_save_bytes, cache_save_failures;
    uint64_t cache_restores, cache_restore_bytes, cache_restore_failures;
    uint64_t evictions, steps;
    int64_t persist_queue_bytes, persist_queue_max;
    uint64_t persist_waits;
    bool ready;
    /* the model registry */
    int models_registered, models_loaded;
    int64_t weights_bytes_loaded;
    uint64_t model_loads, model_load_failures, model_unloads, model_swaps, model_swap_failures, caches_lost;
    bool degraded;
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

/* ---- the running server (not used by the pure files) ------------------ */
#ifdef AM_SERVER_INTERNALS
#include <microhttpd.h>

#include "registry/registry.h"
#include "scheduler/scheduler.h"
#include "server/server.h"
#include "text/output.h"

struct am_server {
    am_registry *reg;
    am_server_config cfg;
    struct MHD_Daemon *d;
    int port;
    bool loopback;
    _Atomic bool draining;
    _Atomic int in_flight;
    am_srv_metrics metrics;
    am_ratelimit rl;
};

/* One HTTP request's state. */
typedef struct am_conn {
    am_server *srv;
    am_buf body;
    bool too_big;
    char req_id[80];
    char route[48];
    const char *method;
    double t0;
    uint64_t owner;
    bool admin;
    const char *origin; /* allowed CORS origin or NULL */
    int retry_after;    /* Retry-After seconds of the error being answered (0: 1) */
    bool streamed;      /* a stream was queued: the log line is written when it ends */
} am_conn;

/* A generation in progress, shared by both APIs' handlers. */
typedef struct am_gen_run {
    am_server *srv;
    am_conn *conn;
    am_served *m;            /* the model, leased until am_gen_free */
    int wait_ms;             /* am_gen_step waits this long for an event (<= 0: until one comes) */
    bool idle;               /* the last am_gen_step waited wait_ms and got nothing */
    am_gen_parsed p;
    am_req *req;
    am_detok *dt;
    am_textout *to;
    am_buf raw;              /* every decoded byte, for finding the stop string */
    am_buf content, reasoning;
    json_t *tool_calls;      /* after the end */
    json_t *logprobs;        /* array of OpenAI logprob entries, or NULL */
    am_gen_event done;
    int n_prompt;
    bool finished, stopped, error;
    const char *finish;      /* stop | length | tool_calls */
    const char *stop_hit;    /* the stop string that matched, or NULL */
    double t_start, t_last;
    bool got_first;
    char id[64];
    long created;
} am_gen_run;

typedef struct stream_st {
    am_gen_run r;
    struct MHD_Connection *mc; /* valid while MHD calls the reader */
    am_buf out;
    size_t off;
    int phase; /* 0 start, 1 running, 2 done */
    int n_block; /* anthropic: index of the next block */
    bool text_open;
} stream_st;
/* Anthropic's stream events for one step. */
void am_anthropic_produce(stream_st *s);
/* Runs a parsed generation (p moved): a stream or whole(r) as the answer. */
enum MHD_Result am_run_generation(am_conn *c, struct MHD_Connection *mc, am_gen_parsed *p,
                                  json_t *(*whole)(am_gen_run *r));

/* Renders/tokenizes p (moved into r), submits. 0 or -1 with e. */
int am_gen_start(am_server *srv, am_conn *c, am_gen_parsed *p, const char *agent, am_gen_run *r, am_http_err *e);
/* Waits for the next event; appends new content/reasoning to *dc / *dr
 * (either may be NULL: then to r->content / r->reasoning only). Returns 1
 * when the generation is over (r->finish set), 0 otherwise. */
int am_gen_step(am_gen_run *r, am_buf *dc, am_buf *dr);
void am_gen_free(am_gen_run *r);
/* HTTP status for a scheduler/bundle/registry error code. */
int am_status_http(am_server *srv, am_status code);
/* A lease on the model a request names ("" or NULL: the default), or NULL
 * with e (404 unknown model, 503 + Retry-After while loading or swapping). */
am_served *am_srv_model(am_server *srv, const char *name, am_http_err *e);

/* Response helpers (http.c). */
enum MHD_Result am_reply_json(am_conn *c, struct MHD_Connection *mc, int status, json_t *j);
enum MHD_Result am_reply_text(am_conn *c, struct MHD_Connection *mc, int status, const char *ctype, const char *s,
                              size_t n);
enum MHD_Result am_reply_error(am_conn *c, struct MHD_Connection *mc, am_api_kind api, const am_http_err *e);
void am_add_headers(am_conn *c, struct MHD_Response *r);
/* Streams from a reader: st is freed by free_fn when the response ends. */
enum MHD_Result am_reply_stream(am_conn *c, struct MHD_Connection *mc, MHD_ContentReaderCallback rd, void *st,
                                MHD_ContentReaderFreeCallback free_fn);
/* Whether the client closed its connection (EOF or an error on the socket):
 * for whole answers, which block in the handler and write nothing until the
 * end, so a disconnect is seen only by looking. */
bool am_conn_gone(struct MHD_Connection *mc);
/* The agent id from headers (X-Agent-Id / X-Session-Id) or the body. */
int am_conn_agent(struct MHD_Connection *mc, const am_gen_parsed *p, char out[129], am_http_err *e);

/* Cache files of models that are not loaded (cold_cache.c). Removes the
 * agent's files under every model directory of no loaded model; returns the
 * count removed. */
int am_srv_delete_cold(am_server *srv, uint64_t owner, const char *id);
/* Removes every cache file of the registered, unloaded model name (found by
 * the model id in each file's header); -1 when name is not registered. */
int am_srv_drop_model_files(am_server *srv, const char *name);

/* Route handlers. */
enum MHD_Result am_route_chat(am_conn *c, struct MHD_Connection *mc, json_t *body);
enum MHD_Result am_route_completions(am_conn *c, struct MHD_Connection *mc, json_t *body);
enum MHD_Result am_route_messages(am_conn *c, struct MHD_Connection *mc, json_t *body);
enum MHD_Result am_route_count_tokens(am_conn *c, struct MHD_Connection *mc, json_t *body);
enum MHD_Result am_route_tokenize(am_conn *c, struct MHD_Connection *mc, json_t *body);
enum MHD_Result am_route_detokenize(am_conn *c, struct MHD_Connection *mc, json_t *body);
enum MHD_Result am_route_models(am_conn *c, struct MHD_Connection *mc);
enum MHD_Result am_route_agents(am_conn *c, struct MHD_Connection *mc, const char *method, const char *id);
enum MHD_Result am_route_metrics(am_conn *c, struct MHD_Connection *mc);
/* /admin/...: admin key checked by the caller. */
enum MHD_Result am_route_admin(am_conn *c, struct MHD_Connection *mc, const char *method, const char *url, json_t *body);
#endif

#endif
