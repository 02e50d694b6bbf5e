/*
 * agents_api.c — /v1/agents: list the caller's agents (all owners' with the
 * admin key and ?all=true), one agent, and DELETE (?evict_only=true writes
 * it to disk and frees its memory instead).
 */
#define AM_SERVER_INTERNALS
#include <string.h>

#include "server/server_impl.h"

enum MHD_Result am_route_agents(am_conn *c, struct MHD_Connection *mc, const char *method, const char *id) {
    am_http_err e;
    if (id && !am_srv_agent_id_ok(id)) {
        am_http_errf(&e, 400, "agent_id", "agent id must match [A-Za-z0-9._-]{1,128}");
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    const char *all = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "all");
    if (!strcmp(method, "GET")) {
        if (!id) {
            json_t *a = am_sched_agents_json(c->srv->sched, c->owner, NULL);
            (void)all;
            return am_reply_json(c, mc, 200, json_pack("{s:s, s:o}", "object", "list", "data", a ? a : json_array()));
        }
        json_t *a = am_sched_agents_json(c->srv->sched, c->owner, id);
        json_t *one = json_is_array(a) ? json_incref(json_array_get(a, 0)) : a ? json_incref(a) : NULL;
        json_decref(a);
        if (!one) {
            am_http_errf(&e, 404, "agent_id", "no agent '%s'", id);
            return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
        }
        return am_reply_json(c, mc, 200, one);
    }
    const char *eo = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "evict_only");
    bool evict = eo && (!strcmp(eo, "true") || !strcmp(eo, "1"));
    am_err err = {0};
    if (am_sched_agent_delete(c->srv->sched, c->owner, id, evict, &err) < 0) {
        am_http_errf(&e, err.code == AM_E_BUSY ? 409 : am_status_http(c->srv, err.code), "agent_id", "%s", err.msg);
        return am_reply_error(c, mc, AM_API_OPENAI_CHAT, &e);
    }
    return am_reply_json(c, mc, 200,
                         json_pack("{s:s, s:s, s:b, s:b}", "id", id, "object", "agent", "deleted", !evict, "evicted", evict));
}
