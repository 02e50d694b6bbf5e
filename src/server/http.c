/*
 * http.c — the libmicrohttpd daemon (a thread per connection, so handlers
 * may block on the scheduler), request bodies with a size limit, request
 * ids, access logs, Host/CORS/auth/rate-limit checks, routing, and the
 * response helpers every route uses.
 */
#define _GNU_SOURCE
#define AM_SERVER_INTERNALS
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <xxhash.h>

#include "server/server_impl.h"

#define DEFAULT_MAX_BODY (8u << 20)
#define DEFAULT_CONN_TIMEOUT_S 60

static void log_line(am_conn *c, int status) {
    double ms = (am_time_now() - c->t0) * 1000;
    if (c->srv->cfg.log_json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:f}", "msg", "request", "request_id", c->req_id, "method",
                              c->method ? c->method : "", "route", c->route, "status", status, "ms", ms);
        char *s = json_dumps(j, JSON_COMPACT);
        fprintf(stderr, "%s\n", s ? s : "{}");
        free(s);
        json_decref(j);
    } else {
        fprintf(stderr, "agentmem: %s %s %d %.1fms id=%s\n", c->method ? c->method : "", c->route, status, ms,
                c->req_id);
    }
}

void am_add_headers(am_conn *c, struct MHD_Response *r) {
    MHD_add_response_header(r, "X-Request-Id", c->req_id);
    if (c->origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", c->origin);
        MHD_add_response_header(r, "Vary", "Origin");
    }
}

enum MHD_Result am_reply_text(am_conn *c, struct MHD_Connection *mc, int status, const char *ctype, const char *s,
                              size_t n) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)s, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    am_add_headers(c, r);
    if (status == 429 || status == 503) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", c->retry_after > 0 ? c->retry_after : 1);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    enum MHD_Result ok = MHD_queue_response(mc, (unsigned)status, r);
    MHD_destroy_response(r);
    am_metrics_request(&c->srv->metrics, c->route, status);
    log_line(c, status);
    return ok;
}

enum MHD_Result am_reply_json(am_conn *c, struct MHD_Connection *mc, int status, json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(j);
    if (!s) s = am_xstrdup("{}");
    enum MHD_Result r = am_reply_text(c, mc, status, "application/json", s, strlen(s));
    free(s);
    return r;
}

enum MHD_Result am_reply_error(am_conn *c, struct MHD_Connection *mc, am_api_kind api, const am_http_err *e) {
    c->retry_after = e->retry_after;
    return am_reply_json(c, mc, e->status, api == AM_API_ANTHROPIC ? am_anthropic_error_json(e) : am_openai_error_json(e));
}

enum MHD_Result am_reply_stream(am_conn *c, struct MHD_Connection *mc, MHD_ContentReaderCallback rd, void *st,
                                MHD_ContentReaderFreeCallback free_fn) {
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, rd, st, free_fn);
    if (!r) {
        free_fn(st);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    am_add_headers(c, r);
    enum MHD_Result ok = MHD_queue_response(mc, 200, r);
    MHD_destroy_response(r);
    am_metrics_request(&c->srv->metrics, c->route, 200);
    c->streamed = true; /* logged when the stream ends, with its whole time */
    return ok;
}

bool am_conn_gone(struct MHD_Connection *mc) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd pf = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&pf, 1, 0) <= 0) return false;
    if (pf.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0; /* EOF; > 0 is a pipelined request, < 0 nothing yet */
}

int am_conn_agent(struct MHD_Connection *mc, const am_gen_parsed *p, char out[129], am_http_err *e) {
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Agent-Id");
    const char *hn = "X-Agent-Id";
    if (!h) {
        h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Session-Id");
        hn = "X-Session-Id";
    }
    if (h) {
        if (!am_srv_agent_id_ok(h)) return am_http_errf(e, 400, hn, "header %s must match [A-Za-z0-9._-]{1,128}", hn);
        snprintf(out, 129, "%s", h);
        return 0;
    }
    snprintf(out, 129, "%s", p && p->has_agent ? p->agent : "");
    return 0;
}

static const char *route_name(const char *url) {
    static const char *known[] = {"/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/messages/count_tokens",
                                  "/v1/messages", "/tokenize", "/detokenize", "/health/live", "/health/ready",
                                  "/health", "/metrics", "/v1/agents"};
    for (size_t i = 0; i < AM_ARRAY_LEN(known); i++)
        if (!strcmp(url, known[i])) return known[i];
    if (!strncmp(url, "/v1/agents/", 11)) return "/v1/agents/{id}";
    if (!strncmp(url, "/admin/cache/", 13)) return "/admin/cache/{model}";
    static const char *admin[] = {"/admin/models/swap", "/admin/models/load", "/admin/models/unload", "/admin/models"};
    for (size_t i = 0; i < AM_ARRAY_LEN(admin); i++)
        if (!strcmp(url, admin[i])) return admin[i];
    return "other";
}

static am_api_kind api_of(const char *url) {
    return !strncmp(url, "/v1/messages", 12) ? AM_API_ANTHROPIC : AM_API_OPENAI_CHAT;
}

static const char *bearer(struct MHD_Connection *mc) {
    const char *a = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    if (a && !strncasecmp(a, "Bearer ", 7)) return a + 7;
    return MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "x-api-key");
}

/* 0 ok; else the status to answer (c->owner/admin set). The admin key
 * (X-Admin-Key, or as the bearer/x-api-key) opens the admin routes and
 * /v1/agents?owner=; it is not an API key, and an API key is not it. */
static int authorize(am_server *srv, am_conn *c, struct MHD_Connection *mc, const char *url) {
    const char *k = bearer(mc);
    const char *ak = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Admin-Key");
    if (srv->cfg.admin_key) {
        if (ak && am_ct_streq(ak, srv->cfg.admin_key)) {
            c->admin = true;
        } else if (k && am_ct_streq(k, srv->cfg.admin_key)) {
            c->admin = true;
            k = NULL;
        }
    }
    bool admin_route = !strncmp(url, "/admin/", 7) || !strncmp(url, "/v1/agents", 10);
    if (admin_route && c->admin && !k) return 0;
    if (srv->cfg.n_api_keys == 0) return 0;
    if (!k) return 401;
    bool ok = false;
    for (int i = 0; i < srv->cfg.n_api_keys; i++) ok |= am_ct_streq(k, srv->cfg.api_keys[i]);
    if (!ok) return 401;
    c->owner = XXH3_64bits(k, strlen(k));
    return 0;
}

static enum MHD_Result health(am_conn *c, struct MHD_Connection *mc, bool ready) {
    am_server *srv = c->srv;
    if (ready && srv->draining)
        return am_reply_json(c, mc, 503, json_pack("{s:s, s:s}", "status", "draining", "reason", "shutting down"));
    am_reg_stats rs;
    am_reg_stats_get(srv->reg, &rs);
    if (ready && !rs.ready)
        return am_reply_json(c, mc, 503, json_pack("{s:s, s:s}", "status", "loading", "reason", rs.reason));
    if (ready && rs.degraded)
        return am_reply_json(c, mc, 503, json_pack("{s:s, s:s}", "status", "degraded", "reason", rs.reason));
    json_t *j = json_pack("{s:s, s:i}", "status", rs.degraded ? "degraded" : "ok", "models_loaded", rs.models_loaded);
    if (rs.degraded) json_object_set_new(j, "reason", json_string(rs.reason));
    return am_reply_json(c, mc, 200, j);
}

static enum MHD_Result dispatch(am_conn *c, struct MHD_Connection *mc, const char *url, const char *method) {
    am_server *srv = c->srv;
    am_http_err e;
    am_api_kind api = api_of(url);
    const char *host = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Host");
    if (srv->loopback && !am_host_is_loopback(host)) {
        am_http_errf(&e, 403, "", "Host header not allowed for a loopback server");
        return am_reply_error(c, mc, api, &e);
    }
    if (!strcmp(method, "OPTIONS")) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        am_add_headers(c, r);
        if (c->origin) {
            MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
            MHD_add_response_header(r, "Access-Control-Allow-Headers",
                                    "Authorization, Content-Type, X-Api-Key, X-Admin-Key, X-Agent-Id, X-Session-Id, "
                                    "X-Request-Id, "
                                    "anthropic-version, anthropic-beta");
            MHD_add_response_header(r, "Access-Control-Max-Age", "600");
        }
        enum MHD_Result ok = MHD_queue_response(mc, 204, r);
        MHD_destroy_response(r);
        am_metrics_request(&srv->metrics, c->route, 204);
        log_line(c, 204);
        return ok;
    }
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST"), del = !strcmp(method, "DELETE");
    if (get && !strcmp(url, "/health")) return health(c, mc, false);
    if (get && !strcmp(url, "/health/live")) return health(c, mc, false);
    if (get && !strcmp(url, "/health/ready")) return health(c, mc, true);
    int st = authorize(srv, c, mc, url);
    if (st) {
        am_http_errf(&e, st, "", "invalid or missing API key");
        return am_reply_error(c, mc, api, &e);
    }
    int wait = am_ratelimit_take(&srv->rl, c->owner, am_time_now());
    if (wait) {
        am_http_errf(&e, 429, "", "rate limit exceeded: retry in %d s", wait);
        char ra[16];
        snprintf(ra, sizeof ra, "%d", wait);
        json_t *j = api == AM_API_ANTHROPIC ? am_anthropic_error_json(&e) : am_openai_error_json(&e);
        char *s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "Retry-After", ra);
        am_add_headers(c, r);
        enum MHD_Result ok = MHD_queue_response(mc, 429, r);
        MHD_destroy_response(r);
        am_metrics_request(&srv->metrics, c->route, 429);
        log_line(c, 429);
        return ok;
    }
    if (get && !strcmp(url, "/metrics")) return am_route_metrics(c, mc);
    if (!strncmp(url, "/admin/", 7)) {
        if (!srv->cfg.admin_key) {
            am_http_errf(&e, 403, "", "admin routes are disabled (no admin key configured)");
            return am_reply_error(c, mc, api, &e);
        }
        if (!c->admin) {
            am_http_errf(&e, 401, "", "admin routes need the admin key");
            return am_reply_error(c, mc, api, &e);
        }
        if (c->too_big) {
            am_http_errf(&e, 413, "", "request body over %zu bytes", srv->cfg.max_body);
            return am_reply_error(c, mc, api, &e);
        }
        json_t *body = NULL;
        if (post && c->body.n) {
            body = am_json_parse_body(c->body.p, c->body.n, &e);
            if (!body) return am_reply_error(c, mc, api, &e);
        }
        enum MHD_Result r = am_route_admin(c, mc, method, url, body);
        json_decref(body);
        return r;
    }
    if (get && !strcmp(url, "/v1/models")) return am_route_models(c, mc);
    if (!strcmp(url, "/v1/agents") && get) return am_route_agents(c, mc, method, NULL);
    if (!strncmp(url, "/v1/agents/", 11) && (get || del)) return am_route_agents(c, mc, method, url + 11);
    bool gen_route = !strcmp(url, "/v1/chat/completions") || !strcmp(url, "/v1/completions") ||
                     !strcmp(url, "/v1/messages") || !strcmp(url, "/v1/messages/count_tokens") ||
                     !strcmp(url, "/tokenize") || !strcmp(url, "/detokenize");
    if (!gen_route) {
        am_http_errf(&e, 404, "", "no route %s %s", method, url);
        return am_reply_error(c, mc, api, &e);
    }
    if (!post) {
        am_http_errf(&e, 405, "", "%s takes POST", url);
        return am_reply_error(c, mc, api, &e);
    }
    if (c->too_big) {
        am_http_errf(&e, 413, "", "request body over %zu bytes", srv->cfg.max_body);
        return am_reply_error(c, mc, api, &e);
    }
    json_t *body = am_json_parse_body(c->body.p, c->body.n, &e);
    if (!body) return am_reply_error(c, mc, api, &e);
    enum MHD_Result r;
    if (!strcmp(url, "/v1/chat/completions")) r = am_route_chat(c, mc, body);
    else if (!strcmp(url, "/v1/completions")) r = am_route_completions(c, mc, body);
    else if (!strcmp(url, "/v1/messages")) r = am_route_messages(c, mc, body);
    else if (!strcmp(url, "/v1/messages/count_tokens")) r = am_route_count_tokens(c, mc, body);
    else if (!strcmp(url, "/tokenize")) r = am_route_tokenize(c, mc, body);
    else r = am_route_detokenize(c, mc, body);
    json_decref(body);
    return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    am_server *srv = cls;
    am_conn *c = *con_cls;
    if (!c) {
        c = am_xcalloc(1, sizeof *c);
        c->srv = srv;
        c->t0 = am_time_now();
        c->method = method;
        snprintf(c->route, sizeof c->route, "%s", route_name(url));
        const char *rid = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Request-Id");
        bool ok = rid && *rid && strlen(rid) < 64;
        for (const char *p = rid; ok && *p; p++) ok = *p > ' ' && *p < 127;
        if (ok) snprintf(c->req_id, sizeof c->req_id, "%s", rid);
        else am_make_id(c->req_id, sizeof c->req_id, "req_");
        const char *origin = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin");
        for (int i = 0; origin && i < srv->cfg.n_cors; i++)
            if (!strcmp(srv->cfg.cors_origins[i], "*") || !strcmp(srv->cfg.cors_origins[i], origin))
                c->origin = !strcmp(srv->cfg.cors_origins[i], "*") ? "*" : srv->cfg.cors_origins[i];
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body) c->too_big = true;
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!c->too_big) {
            if (c->body.n + *upload_size > srv->cfg.max_body) {
                c->too_big = true;
                am_buf_free(&c->body);
            } else {
                am_buf_put(&c->body, upload, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(c, mc, url, method);
}

static void completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe) {
    am_conn *c = *con_cls;
    if (!c) return;
    if (c->streamed) log_line(c, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? 200 : 499);
    am_buf_free(&c->body);
    free(c);
    *con_cls = NULL;
}

am_server *am_server_start(am_registry *reg, const am_server_config *cfg, am_err *err) {
    am_server *srv = am_xcalloc(1, sizeof *srv);
    srv->reg = reg;
    srv->cfg = *cfg;
    if (!srv->cfg.host) srv->cfg.host = "127.0.0.1";
    if (!srv->cfg.max_body) srv->cfg.max_body = DEFAULT_MAX_BODY;
    if (srv->cfg.conn_timeout_s <= 0) srv->cfg.conn_timeout_s = DEFAULT_CONN_TIMEOUT_S;
    am_metrics_init(&srv->metrics);
    am_ratelimit_init(&srv->rl, cfg->rate_limit);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    const char *h = srv->cfg.host;
    if (!strcmp(h, "localhost")) h = "127.0.0.1";
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    char h6[64];
    snprintf(h6, sizeof h6, "%s", h);
    if (h6[0] == '[') {
        memmove(h6, h6 + 1, strlen(h6));
        char *e = strchr(h6, ']');
        if (e) *e = 0;
    }
    if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)cfg->port);
        srv->loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, h6, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
        srv->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    } else {
        free(srv);
        am_err_set(err, "--host %s: not an IPv4 or IPv6 address", cfg->host);
        return NULL;
    }
    srv->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, handler, srv, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->cfg.conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)512, MHD_OPTION_END);
    if (!srv->d) {
        free(srv);
        am_err_setc(err, AM_E_IO, "cannot listen on %s:%d (in use or not permitted)", cfg->host, cfg->port);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    return srv;
}

int am_server_port(const am_server *srv) { return srv->port; }
void am_server_drain(am_server *srv) { srv->draining = true; }
int am_server_in_flight(const am_server *srv) { return srv->in_flight; }

void am_server_stop(am_server *srv) {
    if (!srv) return;
    MHD_stop_daemon(srv->d);
    free(srv);
}
