/*
 * metrics.c — the server's own request counters and latency histograms, and
 * the /metrics page in Prometheus text format 0.0.4 (with the scheduler's
 * numbers handed in as a plain struct).
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "server/server_impl.h"

const double am_hist_bounds[AM_HIST_N] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

void am_hist_observe(am_hist *h, double v) {
    for (int i = 0; i < AM_HIST_N; i++)
        if (v <= am_hist_bounds[i]) {
            h->bucket[i]++;
            break;
        }
    h->count++;
    h->sum += v;
}

void am_metrics_init(am_srv_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void am_metrics_request(am_srv_metrics *m, const char *route, int status) {
    pthread_mutex_lock(&m->mu);
    int i;
    for (i = 0; i < m->n_req; i++)
        if (m->req[i].status == status && !strcmp(m->req[i].route, route)) break;
    if (i == m->n_req && m->n_req < (int)AM_ARRAY_LEN(m->req)) {
        snprintf(m->req[i].route, sizeof m->req[i].route, "%s", route);
        m->req[i].status = status;
        m->n_req++;
    }
    if (i < m->n_req) m->req[i].n++;
    pthread_mutex_unlock(&m->mu);
}

#define OBS(name, field)                                \
    void am_metrics_##name(am_srv_metrics *m, double s) { \
        pthread_mutex_lock(&m->mu);                     \
        am_hist_observe(&m->field, s);                  \
        pthread_mutex_unlock(&m->mu);                   \
    }
OBS(ttft, ttft)
OBS(itl, itl)
OBS(e2e, e2e)

static void head(am_buf *o, const char *name, const char *type, const char *help) {
    am_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist(am_buf *o, const char *name, const char *help, const am_hist *h) {
    head(o, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < AM_HIST_N; i++) {
        cum += h->bucket[i];
        am_buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, am_hist_bounds[i], (unsigned long long)cum);
    }
    am_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
    am_buf_printf(o, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

static void one(am_buf *o, const char *name, const char *type, const char *help, double v) {
    head(o, name, type, help);
    am_buf_printf(o, "%s %.17g\n", name, v);
}

void am_metrics_render(am_srv_metrics *m, const am_metrics_sched *s, am_buf *o) {
    pthread_mutex_lock(&m->mu);
    head(o, "agentmem_requests_total", "counter", "HTTP requests by route and status.");
    for (int i = 0; i < m->n_req; i++)
        am_buf_printf(o, "agentmem_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m->req[i].route,
                      m->req[i].status, (unsigned long long)m->req[i].n);
    hist(o, "agentmem_time_to_first_token_seconds", "Time from request to the first generated token.", &m->ttft);
    hist(o, "agentmem_inter_token_latency_seconds", "Time between generated tokens of a stream.", &m->itl);
    hist(o, "agentmem_request_duration_seconds", "Time from request to the last token.", &m->e2e);
    pthread_mutex_unlock(&m->mu);
    one(o, "agentmem_prompt_tokens_computed_total", "counter", "Prompt tokens run through the model.",
        (double)s->prompt_tokens_computed);
    one(o, "agentmem_prompt_tokens_cached_total", "counter", "Prompt tokens reused from an agent's cache.",
        (double)s->prompt_tokens_cached);
    one(o, "agentmem_prompt_tokens_shared_total", "counter",
        "Prompt tokens reused from another agent's blocks (shared prefixes).", (double)s->shared_prefix_tokens);
    one(o, "agentmem_generated_tokens_total", "counter", "Tokens generated.", (double)s->generated_tokens);
    one(o, "agentmem_queue_depth", "gauge", "Requests waiting to start.", (double)s->queued);
    one(o, "agentmem_running_sequences", "gauge", "Sequences being processed.", (double)s->running);
    one(o, "agentmem_kv_bytes_used", "gauge", "KV block bytes in use.", (double)s->kv_bytes_used);
    one(o, "agentmem_kv_bytes_budget", "gauge", "KV block bytes available in all.", (double)s->kv_bytes_budget);
    head(o, "agentmem_agents", "gauge", "Agents by cache tier.");
    am_buf_printf(o, "agentmem_agents{tier=\"hot\"} %lld\nagentmem_agents{tier=\"warm\"} %lld\n",
                  (long long)s->agents_hot, (long long)s->agents_warm);
    one(o, "agentmem_cache_saves_total", "counter", "Agent caches written to disk.", (double)s->cache_saves);
    one(o, "agentmem_cache_save_bytes_total", "counter", "Bytes of agent caches written.", (double)s->cache_save_bytes);
    one(o, "agentmem_cache_save_failures_total", "counter", "Failed cache writes.", (double)s->cache_save_failures);
    one(o, "agentmem_cache_restores_total", "counter", "Agent caches read back from disk.", (double)s->cache_restores);
    one(o, "agentmem_cache_restore_bytes_total", "counter", "Bytes of agent caches read.",
        (double)s->cache_restore_bytes);
    one(o, "agentmem_cache_restore_failures_total", "counter", "Failed cache reads.",
        (double)s->cache_restore_failures);
    one(o, "agentmem_cache_evictions_total", "counter", "Agent caches dropped from memory.", (double)s->evictions);
    one(o, "agentmem_scheduler_steps_total", "counter", "Forward steps run.", (double)s->steps);
    one(o, "agentmem_disk_cache_bytes", "gauge", "Bytes of cache files on disk.", (double)s->disk_bytes);
    one(o, "agentmem_cache_write_queue_bytes", "gauge", "Bytes of cache snapshots waiting to be written.",
        (double)s->persist_queue_bytes);
    one(o, "agentmem_cache_write_queue_max_bytes", "gauge", "Cap on those bytes.", (double)s->persist_queue_max);
    one(o, "agentmem_cache_write_waits_total", "counter", "Turn ends that waited for the write queue.",
        (double)s->persist_waits);
    one(o, "agentmem_ready", "gauge", "1 when the server accepts requests.", s->ready ? 1 : 0);
    one(o, "agentmem_models_registered", "gauge", "Models the server may load (the allowlist).",
        (double)s->models_registered);
    one(o, "agentmem_models_loaded", "gauge", "Models loaded now.", (double)s->models_loaded);
    one(o, "agentmem_weights_bytes_loaded", "gauge", "Bytes of model weights loaded.", (double)s->weights_bytes_loaded);
    one(o, "agentmem_model_loads_total", "counter", "Model loads that succeeded.", (double)s->model_loads);
    one(o, "agentmem_model_load_failures_total", "counter", "Model loads that failed.", (double)s->model_load_failures);
    one(o, "agentmem_model_unloads_total", "counter", "Models unloaded.", (double)s->model_unloads);
    one(o, "agentmem_model_swaps_total", "counter", "Swaps of the default model that completed.",
        (double)s->model_swaps);
    one(o, "agentmem_model_swap_failures_total", "counter", "Swaps that failed (the old model kept serving).",
        (double)s->model_swap_failures);
    one(o, "agentmem_cache_lost_total", "counter", "Agent caches that could not be written before a swap or flush.",
        (double)s->caches_lost);
    one(o, "agentmem_degraded", "gauge", "1 after a failed swap, until a good one.", s->degraded ? 1 : 0);
}

void am_ratelimit_init(am_ratelimit *r, double rate) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->rate = rate;
}

int am_ratelimit_take(am_ratelimit *r, uint64_t key, double now) {
    if (r->rate <= 0) return 0;
    char k[20];
    snprintf(k, sizeof k, "%016llx", (unsigned long long)key);
    pthread_mutex_lock(&r->mu);
    int i;
    for (i = 0; i < r->n; i++)
        if (!strcmp(r->b[i].key, k)) break;
    if (i == r->n) {
        if (r->n < (int)AM_ARRAY_LEN(r->b)) r->n++;
        else i = (int)(key % AM_ARRAY_LEN(r->b));
        snprintf(r->b[i].key, sizeof r->b[i].key, "%s", k);
        r->b[i].tokens = r->rate;
        r->b[i].last = now;
    }
    am_bucket *b = &r->b[i];
    b->tokens += (now - b->last) * r->rate;
    if (b->tokens > r->rate) b->tokens = r->rate;
    b->last = now;
    int wait = 0;
    if (b->tokens >= 1) b->tokens -= 1;
    else wait = (int)((1 - b->tokens) / r->rate) + 1;
    pthread_mutex_unlock(&r->mu);
    return wait;
}
