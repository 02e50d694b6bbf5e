/*
 * agents_api.c — /v1/agents: list the caller's agents, one agent, and DELETE
 * (?evict_only=true writes it to disk and frees its memory instead). With
 * the admin key, ?owner=HEX (the XXH3-64 of another key, as agent listings
 * of that key show nowhere else) acts on that key's agents; without an admin
 * key configured, ?owner is refused. Agents outlive models: listings cover
 * every loaded model (each entry says which; ?model=NAME narrows it), and
 * DELETE removes the agent's cache of every model, on disk too.
 */
#define AM_SERVER_INTERNALS
#include <stdlib.h>
#include <string.h>

#include "server/server_impl.h"

/* What one pass over the loaded models collects or does. */
typedef struct agents_ctx {
    uint64_t owner;
    const char *id, *model; /* id NULL: all agents; model NULL: every model */
    bool evict;
    json_t *out;
    int found;
    bool busy;
    am_err err;
} agents_ctx;

static void list_one(am_served *m, void *ctx) {
    agents_ctx *ax = ctx;
    if (ax->model && strcmp(ax->model, m->name)) return;
    json_t *a = am_sched_agents_json(m->s, ax->owner, ax->id);
    json_t *arr = json_is_array(a) ? a : NULL;
    if (!arr && a) arr = json_pack("[O]", a);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        json_object_set_new(v, "model", json_string(m->name));
        json_array_append(ax->out, v);
    }
    if (arr != a) json_decref(arr);
    json_decref(a);
}

static void delete_one(am_served *m, void *ctx) {
    agents_ctx *ax = ctx;
    if (ax->model && strcmp(ax->model, m->name)) return;
    am_err err = {0};
    if (am_sched_agent_delete(m->s, ax->owner, ax->id, ax->evict, &err) == 0) ax->found++;
    else if (err.code == AM_E_BUSY) {
        ax->busy = true;
        ax->err = err;
    }
}

enum MHD_Result am_route_agents(am_conn *c, struct MHD_Connection *mc, const char *method, const char *id) {
    am_http_err e;
    if (id && !am_srv_agent_id_ok(id)) {
        am_http_errf(&e, 400, "agent_id", "agent id must match [A-Za-z0-9._-]{1,128}");
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    uint64_t owner = c->owner;
    const char *ow = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "owner");
    if (ow) {
        if (!c->srv->cfg.admin_key || !c->admin) {
            am_http_errf(&e, 403, "owner", c->srv->cfg.admin_key ? "?owner needs the admin key"
                                                                 : "admin routes are disabled (no admin key configured)");
            return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
        }
        char *end;
        owner = strtoull(ow, &end, 16);
        if (!*ow || *end) {
            am_http_errf(&e, 400, "owner", "?owner must be a hexadecimal key hash");
            return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
        }
    }
    const char *model = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "model");
    if (!strcmp(method, "GET")) {
        agents_ctx ax = {.owner = owner, .id = id, .model = model, .out = json_array()};
        am_reg_each(c->srv->reg, list_one, &ax);
        if (!id) return am_reply_json(c, mc, 200, json_pack("{s:s, s:o}", "object", "list", "data", ax.out));
        /* one agent: its entry under the default model when it has one, else the first */
        json_t *one = NULL;
        size_t i;
        json_t *v;
        json_array_foreach(ax.out, i, v) {
            if (!one || am_reg_is_default(c->srv->reg, json_string_value(json_object_get(v, "model")))) one = v;
        }
        json_incref(one);
        json_decref(ax.out);
        if (!one) {
            am_http_errf(&e, 404, "agent_id", "no agent '%s'", id);
            return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
        }
        return am_reply_json(c, mc, 200, one);
    }
    const char *eo = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "evict_only");
    bool evict = eo && (!strcmp(eo, "true") || !strcmp(eo, "1"));
    agents_ctx ax = {.owner = owner, .id = id, .model = model, .evict = evict};
    am_reg_each(c->srv->reg, delete_one, &ax);
    if (!evict && !model) ax.found += am_srv_delete_cold(c->srv, owner, id); /* files of unloaded models */
    if (ax.busy) {
        am_http_errf(&e, 409, "agent_id", "%s", ax.err.msg);
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    if (!ax.found) {
        am_http_errf(&e, 404, "agent_id", "no agent '%s'", id);
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    return am_reply_json(c, mc, 200,
                         json_pack("{s:s, s:s, s:b, s:b}", "id", id, "object", "agent", "deleted", !evict, "evicted", evict));
}
