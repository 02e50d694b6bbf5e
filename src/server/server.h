/*
 * server.h — the HTTP server of `agentmem serve`: OpenAI and Anthropic
 * compatible generation routes, agents, health, metrics and the admin
 * routes over the model registry (one scheduler per loaded model). Runs its own threads (one per connection); the caller keeps
 * the main thread for signals.
 */
#ifndef AM_SERVER_H
#define AM_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"
#include "registry/registry.h"

typedef struct am_server_config {
    const char *host;          /* default 127.0.0.1 */
    int port;                  /* 0: any free port */
    char **api_keys;           /* [n_api_keys]; none: no auth */
    int n_api_keys;
    const char *admin_key;     /* NULL: admin routes disabled */
    char **cors_origins;       /* [n_cors] */
    int n_cors;
    bool log_json;
    double rate_limit;         /* requests per second per key (<= 0: off) */
    size_t max_body;           /* bytes (0: 8 MiB) */
    const char *cache_dir;     /* for DELETE of agents' files of unloaded models, or NULL */
    int keepalive_s;           /* a silent stream gets a keep-alive after this long (0: 15) */
    int conn_timeout_s;        /* a client silent this long is cut (0: 60); waiting on the scheduler does not count */
} am_server_config;

typedef struct am_server am_server;

/* Starts listening. The registry stays the caller's. */
am_server *am_server_start(am_registry *reg, const am_server_config *c, am_err *err);
int am_server_port(const am_server *srv);
/* Readiness turns 503 and generation routes answer 503. */
void am_server_drain(am_server *srv);
/* Generation requests in progress. */
int am_server_in_flight(const am_server *srv);
/* Stops listening and frees the server. */
void am_server_stop(am_server *srv);

#endif
