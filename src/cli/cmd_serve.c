/*
 * cmd_serve.c — `agentmem serve`: options, the bundle and scheduler, the
 * HTTP server, the ready line, and an orderly shutdown on SIGTERM/SIGINT
 * (readiness 503, drain, wait for in-flight requests, free, exit 0).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "cli/commands.h"
#include "cli/engine_opts.h"
#include "scheduler/scheduler.h"
#include "server/server.h"
#include "server/server_impl.h"
#include "registry/registry.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentmem serve [--model PATH | --model NAME=PATH]... [--models-dir DIR] [--default NAME]\n"
            "       [--models-max N] [--weights-budget SIZE] [--pin NAME]...\n"
            "       [--host 127.0.0.1] [--port 8080] [--cache-dir DIR]\n"
            "       [--kv-budget SIZE] [--kv-type f16|q8_0|q4_0] [--ctx N] [--parallel N] [--threads N]\n"
            "       [--step-tokens N] [--api-key-file F] [--admin-key-file F] [--cors-origin O]... [--rate-limit N]\n"
            "       [--max-body SIZE] [--cache-disk-budget SIZE] [--conn-timeout SECONDS] [--sse-keepalive S]\n"
            "       [--log-format text|json]\n"
            "Serves OpenAI (/v1/chat/completions, /v1/completions) and Anthropic (/v1/messages) APIs.\n"
            "Models: each --model (named by its file name without .gguf, or NAME=) and every GGUF\n"
            "file and Hugging Face folder in --models-dir; nothing else can be loaded. The default\n"
            "model (--default, else the first --model, else the first name) loads at start; others\n"
            "load when a request names them. --models-max (default 1) models stay loaded at once,\n"
            "within --weights-budget; the least recently used idle one is unloaded first (--pin: never).\n"
            "Keys also from AGENTMEM_API_KEY / AGENTMEM_ADMIN_KEY. --port 0 picks a free port.\n"
            "SIZE: 512M, 4G, 1024K or bytes. Default model models/default.gguf (beside the binary's\n"
            "project, or PREFIX/share/agentmem when installed); cache\n"
            "$XDG_CACHE_HOME/agentmem or ~/.cache/agentmem; KV budget half of the memory left\n"
            "after the weights (divided among --models-max); KV type q8_0 (f16 for a model whose\n"
            "head_dim is no multiple of 32); --cache-disk-budget deletes the least\n"
            "recently used cache files of a model beyond SIZE (default: no limit); --conn-timeout\n"
            "closes a connection that sends or takes nothing for that long (default 60); a stream\n"
            "silent for --sse-keepalive seconds (default 15) gets a keep-alive comment (Anthropic: ping).\n"
            "--step-tokens: tokens of one forward step, every decoding sequence's next token plus\n"
            "chunks of pending prompts (default 256, at least --parallel): smaller keeps streams\n"
            "smoother while a long prompt is read, larger reads long prompts faster.\n");
}

/* Half of the memory left after the weights (MemAvailable counts the page
 * cache the mapped weights will occupy as free), at least 64 MiB. */
static int64_t default_kv_budget(const am_bundle *b) {
    FILE *f = fopen("/proc/meminfo", "r");
    long long kb = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
    if (f) fclose(f);
    int64_t left = kb * 1024 - (int64_t)b->model->weight_bytes;
    int64_t half = left / 2;
    return half > (64 << 20) ? half : (64 << 20);
}

/* First line of a file, trimmed (malloc'd) or NULL. */
static char *read_key(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char buf[1024];
    char *r = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!r) return NULL;
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
    return n ? am_xstrdup(buf) : NULL;
}

static void fmt_size(int64_t b, char *out, size_t cap) {
    if (b >= (1ll << 30) && b % (1ll << 20) == 0) snprintf(out, cap, "%.1fG", (double)b / (1 << 30));
    else if (b >= (1ll << 20)) snprintf(out, cap, "%.1fM", (double)b / (1 << 20));
    else snprintf(out, cap, "%lldB", (long long)b);
}

/* --model NAME=PATH (NAME has no '/') or --model PATH. */
static am_reg_model_arg model_arg(char *v) {
    char *eq = strchr(v, '=');
    char *slash = strchr(v, '/');
    if (eq && eq != v && (!slash || slash > eq)) {
        *eq = 0;
        return (am_reg_model_arg){v, eq + 1};
    }
    return (am_reg_model_arg){NULL, v};
}

int am_cmd_serve(int argc, char **argv) {
    const char *host = "127.0.0.1", *cache_dir = NULL, *models_dir = NULL, *default_name = NULL;
    am_reg_model_arg models[64];
    int n_models = 0, n_pins = 0;
    char *pins[64];
    long models_max = 0;
    int64_t weights_budget = 0;
    const char *api_key_file = NULL, *admin_key_file = NULL, *log_format = "text";
    long port = 8080, ctx = 0, parallel = 0, threads = 0, step_tokens = 0, conn_timeout = 0, keepalive = 0;
    int64_t kv_budget = 0, max_body = 0, disk_budget = 0;
    float rate = 0;
    /* q8_0 by default: on the default model it costs no measurable perplexity (+0.00-0.04 %,
     * docs/BENCHMARKS.md "Quality") and halves the KV bytes of f16 (twice the agents in a
     * budget, faster warm restores and long-context decode); q4_0 costs +0.3-1.2 %. */
    am_type kv_type = AM_TYPE_Q8_0;
    bool kv_type_given = false;
    char *cors[32];
    int n_cors = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "agentmem serve: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "--model")) {
            ok = n_models < 64;
            if (ok) models[n_models++] = model_arg((char *)v);
        } else if (!strcmp(a, "--models-dir")) models_dir = v;
        else if (!strcmp(a, "--default")) default_name = v;
        else if (!strcmp(a, "--pin")) {
            ok = n_pins < 64;
            if (ok) pins[n_pins++] = (char *)v;
        } else if (!strcmp(a, "--models-max")) ok = am_opt_int(v, 1, 64, &models_max);
        else if (!strcmp(a, "--weights-budget")) ok = (weights_budget = am_parse_size(v)) > 0;
        else if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) ok = am_opt_int(v, 0, 65535, &port);
        else if (!strcmp(a, "--cache-dir")) cache_dir = v;
        else if (!strcmp(a, "--kv-budget")) ok = (kv_budget = am_parse_size(v)) > 0;
        else if (!strcmp(a, "--max-body")) ok = (max_body = am_parse_size(v)) > 0;
        else if (!strcmp(a, "--cache-disk-budget")) ok = (disk_budget = am_parse_size(v)) > 0;
        else if (!strcmp(a, "--kv-type")) {
            kv_type_given = true;
            if (!strcmp(v, "f16")) kv_type = AM_TYPE_F16;
            else if (!strcmp(v, "q8_0")) kv_type = AM_TYPE_Q8_0;
            else if (!strcmp(v, "q4_0")) kv_type = AM_TYPE_Q4_0;
            else ok = false;
        } else if (!strcmp(a, "--ctx")) ok = am_opt_int(v, 16, 1 << 22, &ctx);
        else if (!strcmp(a, "--parallel")) ok = am_opt_int(v, 1, 256, &parallel);
        else if (!strcmp(a, "--threads")) ok = am_opt_int(v, 0, 1024, &threads);
        else if (!strcmp(a, "--step-tokens")) ok = am_opt_int(v, 1, 16384, &step_tokens);
        else if (!strcmp(a, "--conn-timeout")) ok = am_opt_int(v, 1, 86400, &conn_timeout);
        else if (!strcmp(a, "--sse-keepalive")) ok = am_opt_int(v, 1, 3600, &keepalive);
        else if (!strcmp(a, "--api-key-file")) api_key_file = v;
        else if (!strcmp(a, "--admin-key-file")) admin_key_file = v;
        else if (!strcmp(a, "--cors-origin")) {
            if (n_cors < 32) cors[n_cors++] = (char *)v;
        } else if (!strcmp(a, "--rate-limit")) ok = am_opt_float(v, &rate) && rate >= 0;
        else if (!strcmp(a, "--log-format")) {
            log_format = v;
            ok = !strcmp(v, "text") || !strcmp(v, "json");
        } else {
            fprintf(stderr, "agentmem serve: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "agentmem serve: bad value for %s: %s\n", a, v);
            return 2;
        }
    }
    char *keys[2] = {0};
    int n_keys = 0;
    char *admin = NULL;
    if (api_key_file) {
        keys[0] = read_key(api_key_file);
        if (!keys[0]) {
            fprintf(stderr, "agentmem serve: cannot read a key from %s\n", api_key_file);
            return 1;
        }
        n_keys = 1;
    } else if (getenv("AGENTMEM_API_KEY") && *getenv("AGENTMEM_API_KEY")) {
        keys[0] = am_xstrdup(getenv("AGENTMEM_API_KEY"));
        n_keys = 1;
    }
    if (admin_key_file) {
        admin = read_key(admin_key_file);
        if (!admin) {
            fprintf(stderr, "agentmem serve: cannot read a key from %s\n", admin_key_file);
            return 1;
        }
    } else if (getenv("AGENTMEM_ADMIN_KEY") && *getenv("AGENTMEM_ADMIN_KEY")) {
        admin = am_xstrdup(getenv("AGENTMEM_ADMIN_KEY"));
    }
    char cache_buf[4096];
    if (!cache_dir) {
        am_default_cache_dir(cache_buf, sizeof cache_buf);
        cache_dir = cache_buf;
    }

    /* the cache folder and its parents */
    {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", cache_dir);
        for (char *q = tmp + 1; *q; q++) {
            if (*q != '/') continue;
            *q = 0;
            mkdir(tmp, 0700);
            *q = '/';
        }
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
            fprintf(stderr, "agentmem serve: cannot create cache dir %s: %s\n", cache_dir, strerror(errno));
            return 1;
        }
    }

    /* signals go to the main thread only */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char *default_model = NULL; /* found from the binary's location, not the current directory */
    if (!n_models && !models_dir) {
        default_model = am_default_path("models/default.gguf");
        models[n_models++] = (am_reg_model_arg){NULL, default_model};
    }
    am_err err = {0};
    am_registry_params rp = {0};
    rp.models_dir = models_dir;
    rp.models = models;
    rp.n_models = n_models;
    rp.default_name = default_name;
    rp.pins = pins;
    rp.n_pins = n_pins;
    rp.models_max = (int)models_max;
    rp.weights_budget = weights_budget;
    rp.sp = am_sched_default_params();
    if (threads) rp.sp.n_threads = (int)threads;
    if (parallel) rp.sp.parallel = (int)parallel;
    if (step_tokens) rp.sp.step_tokens = (int)step_tokens;
    if (ctx) rp.sp.n_ctx = (int)ctx;
    rp.sp.kv_budget = kv_budget;
    rp.kv_budget_fn = default_kv_budget;
    rp.sp.disk_budget = disk_budget;
    rp.sp.kv_type = kv_type;
    rp.sp.kv_type_fallback = !kv_type_given;
    rp.sp.cache_dir = cache_dir;
    am_registry *reg = am_reg_create(&rp, &err);
    free(default_model); /* the registry keeps its own real path */
    if (!reg) {
        fprintf(stderr, "agentmem serve: %s\n", err.msg);
        return 1;
    }
    am_server_config cfg = {0};
    cfg.host = host;
    cfg.port = (int)port;
    cfg.api_keys = keys;
    cfg.n_api_keys = n_keys;
    cfg.admin_key = admin;
    cfg.cors_origins = cors;
    cfg.n_cors = n_cors;
    cfg.log_json = !strcmp(log_format, "json");
    cfg.rate_limit = rate;
    cfg.max_body = (size_t)max_body;
    cfg.cache_dir = cache_dir;
    cfg.conn_timeout_s = (int)conn_timeout;
    cfg.keepalive_s = (int)keepalive;
    /* listen first, so /health/ready says "loading" while the default model loads */
    am_server *srv = am_server_start(reg, &cfg, &err);
    if (!srv) {
        fprintf(stderr, "agentmem serve: %s\n", err.msg);
        am_reg_free(reg, 0);
        return 1;
    }
    if (am_reg_start(reg, &err) < 0) {
        fprintf(stderr, "agentmem serve: %s\n", err.msg);
        am_server_stop(srv);
        am_reg_free(reg, 0);
        return 1;
    }
    am_served *m = am_reg_acquire(reg, NULL, NULL, &err);
    am_sched_stats st;
    am_sched_stats_get(m->s, &st);
    char budget[32];
    fmt_size(st.kv_bytes_budget, budget, sizeof budget);
    am_reg_stats rs;
    am_reg_stats_get(reg, &rs);
    bool v6 = strchr(host, ':') && host[0] != '[';
    fprintf(stderr, "agentmem: listening on http://%s%s%s:%d model=%s kv=%s budget=%s cache=%s models=%d\n",
            v6 ? "[" : "", host, v6 ? "]" : "", am_server_port(srv), m->name, am_type_name(kv_type), budget,
            cache_dir, rs.models_registered);
    fflush(stderr);
    am_reg_release(reg, m);

    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "agentmem: %s: draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    am_server_drain(srv);
    am_reg_drain(reg);
    double t0 = am_time_now();
    while (am_server_in_flight(srv) > 0 && am_time_now() - t0 < 10) usleep(20000);
    am_server_stop(srv);
    am_reg_free(reg, 2000);
    free(keys[0]);
    free(admin);
    fprintf(stderr, "agentmem: stopped\n");
    return 0;
}
