/*
 * admin.c — the admin routes (the admin key is checked in http.c):
 *
 *   GET    /admin/models                 every registered model, with size, state, load time
 *   POST   /admin/models/swap            {"model", "drain_timeout_s"}: hot swap of the default
 *   POST   /admin/models/load            {"model"}
 *   POST   /admin/models/unload          {"model"}
 *   POST   /admin/cache/flush            write every dirty cache now
 *   DELETE /admin/cache/{model}          drop that model's caches (memory and disk)
 *
 * Errors are in OpenAI's error shape: 400 bad body, 404 unknown model, 409
 * a swap already running or the model in use, 500/503 a load that failed.
 */
#define AM_SERVER_INTERNALS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_impl.h"

static int admin_status(am_status code) {
    switch (code) {
    case AM_E_NOT_FOUND: return 404;
    case AM_E_CONFLICT: case AM_E_BUSY: return 409;
    case AM_E_INVALID: return 400;
    case AM_E_NO_ROOM: return 507;
    case AM_E_BAD_FILE: return 422;
    default: return 500;
    }
}

static enum MHD_Result fail(am_conn *c, struct MHD_Connection *mc, const am_err *err) {
    am_http_err e;
    am_http_errf(&e, admin_status(err->code), "model", "%s", err->msg);
    snprintf(e.code, sizeof e.code, "%s", am_status_name(err->code));
    return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
}

/* The body's "model" (required string). */
static const char *body_name(json_t *body, am_http_err *e) {
    json_t *m = body ? json_object_get(body, "model") : NULL;
    if (!json_is_string(m) || !json_string_length(m)) {
        am_http_errf(e, 400, "model", "'model' is required and must be a model name");
        return NULL;
    }
    return json_string_value(m);
}

static enum MHD_Result swap(am_conn *c, struct MHD_Connection *mc, json_t *body) {
    am_http_err e;
    const char *name = body_name(body, &e);
    if (!name) return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    double drain = 30;
    json_t *d = json_object_get(body, "drain_timeout_s");
    if (d) {
        if (!json_is_number(d) || json_number_value(d) < 0 || json_number_value(d) > 3600) {
            am_http_errf(&e, 400, "drain_timeout_s", "'drain_timeout_s' must be a number of seconds in [0, 3600]");
            return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
        }
        drain = json_number_value(d);
    }
    am_err err = {0};
    json_t *report = NULL;
    if (am_reg_swap(c->srv->reg, name, drain, &report, &err) < 0) return fail(c, mc, &err);
    return am_reply_json(c, mc, 200, report);
}

static enum MHD_Result load_unload(am_conn *c, struct MHD_Connection *mc, json_t *body, bool load) {
    am_http_err e;
    const char *name = body_name(body, &e);
    if (!name) return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    am_err err = {0};
    double t0 = am_time_now();
    int rc = load ? am_reg_load(c->srv->reg, name, &err) : am_reg_unload(c->srv->reg, name, &err);
    if (rc < 0) return fail(c, mc, &err);
    return am_reply_json(c, mc, 200,
                         json_pack("{s:s, s:s, s:f}", "model", name, "state", load ? "loaded" : "unloaded", "seconds",
                                   am_time_now() - t0));
}

static enum MHD_Result flush(am_conn *c, struct MHD_Connection *mc) {
    am_err err = {0};
    json_t *lost = NULL;
    int n = am_reg_flush(c->srv->reg, &lost, &err);
    return am_reply_json(c, mc, 200, json_pack("{s:i, s:o}", "written", n, "caches_lost", lost ? lost : json_array()));
}

typedef struct drop_ctx {
    const char *name;
    int dropped, busy;
    bool found;
} drop_ctx;

static void drop_one(am_served *m, void *ctx) {
    drop_ctx *d = ctx;
    if (strcmp(m->name, d->name)) return;
    d->found = true;
    int busy = 0;
    am_err err = {0};
    d->dropped += am_sched_drop_all(m->s, &busy, &err);
    d->busy += busy;
}

static enum MHD_Result drop_cache(am_conn *c, struct MHD_Connection *mc, const char *name) {
    am_http_err e;
    drop_ctx d = {.name = name};
    am_reg_each(c->srv->reg, drop_one, &d);
    int cold = 0;
    if (!d.found) {
        cold = am_srv_drop_model_files(c->srv, name);
        if (cold < 0) {
            am_http_errf(&e, 404, "model", "model '%s' is not served here", name);
            snprintf(e.code, sizeof e.code, "%s", "model_not_found");
            return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
        }
    }
    return am_reply_json(c, mc, 200,
                         json_pack("{s:s, s:i, s:i}", "model", name, "dropped", d.dropped + cold, "running_kept", d.busy));
}

enum MHD_Result am_route_admin(am_conn *c, struct MHD_Connection *mc, const char *method, const char *url, json_t *body) {
    am_http_err e;
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST"), del = !strcmp(method, "DELETE");
    if (get && !strcmp(url, "/admin/models")) {
        am_reg_stats rs;
        am_reg_stats_get(c->srv->reg, &rs);
        json_t *j = json_pack("{s:s, s:o, s:b}", "object", "list", "data", am_reg_models_json(c->srv->reg, true),
                              "degraded", rs.degraded);
        if (rs.degraded) json_object_set_new(j, "reason", json_string(rs.reason));
        return am_reply_json(c, mc, 200, j);
    }
    if (post && !strcmp(url, "/admin/models/swap")) return swap(c, mc, body);
    if (post && !strcmp(url, "/admin/models/load")) return load_unload(c, mc, body, true);
    if (post && !strcmp(url, "/admin/models/unload")) return load_unload(c, mc, body, false);
    if (post && !strcmp(url, "/admin/cache/flush")) return flush(c, mc);
    if (del && !strncmp(url, "/admin/cache/", 13) && url[13]) return drop_cache(c, mc, url + 13);
    am_http_errf(&e, 404, "", "no route %s %s", method, url);
    return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
}
