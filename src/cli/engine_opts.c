/*
 * engine_opts.c — shared option parsing and model opening for logits, run and
 * perplexity (see engine_opts.h). Never exits; prints its own messages.
 */
#include "cli/engine_opts.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "compute/matmul.h"


void am_ids_push(am_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 64;
        ids->v = am_xrealloc(ids->v, (size_t)ids->cap * sizeof *ids->v);
    }
    ids->v[ids->n++] = id;
}

void am_ids_free(am_ids *ids) {
    free(ids->v);
    memset(ids, 0, sizeof *ids);
}

static bool is_sep(char c) { return c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '\r'; }

int am_ids_parse(am_ids *ids, const char *s, am_err *err) {
    while (*s) {
        while (is_sep(*s)) s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX || (*end && !is_sep(*end))) {
            int n = 0;
            while (s[n] && !is_sep(s[n]) && n < 32) n++;
            return am_err_set(err, "bad token id '%.*s'", n, s);
        }
        if (ids->n >= INT32_MAX / 2) return am_err_set(err, "too many token ids");
        am_ids_push(ids, (int32_t)v);
        s = end;
    }
    return 0;
}

int am_ids_read_file(am_ids *ids, const char *path, am_err *err) {
    bool in = !strcmp(path, "-");
    FILE *f = in ? stdin : fopen(path, "rb");
    if (!f) return am_err_setc(err, errno == ENOENT ? AM_E_NOT_FOUND : AM_E_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = am_xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            if (cap > ((size_t)1 << 32)) {
                if (!in) fclose(f);
                free(buf);
                return am_err_set(err, "%s: too large", path);
            }
            cap *= 2;
            buf = am_xrealloc(buf, cap);
        }
    }
    bool bad = ferror(f);
    int rerr = errno;
    if (!in) fclose(f);
    buf[n] = 0;
    if (bad) {
        free(buf);
        return am_err_setc(err, AM_E_IO, "%s: %s", path, strerror(rerr));
    }
    if (bad || memchr(buf, 0, n)) {
        free(buf);
        return am_err_set(err, "%s: %s", path, bad ? "read error" : "not a text file of ids");
    }
    int rc = am_ids_parse(ids, buf, err);
    free(buf);
    if (rc < 0) am_err_prefix(err, "%s", path);
    return rc;
}

bool am_opt_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool am_opt_float(const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (end == s || *end || errno || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool am_opt_float_in(const char *s, float lo, float hi, float *out) {
    float v;
    if (!am_opt_float(s, &v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool am_opt_threads(const char *cmd, const char *s, int *out) {
    long v;
    if (!am_opt_int(s, 0, AM_MAX_THREADS, &v)) {
        fprintf(stderr, "agentmem %s: --threads wants 0..%d (0: one per core), not '%s'\n", cmd, AM_MAX_THREADS, s);
        return false;
    }
    *out = (int)v;
    return true;
}

char *am_default_path(const char *rel) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return am_xstrdup(rel);
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    /* build/agentmem -> the project; bin/agentmem -> ../share/agentmem */
    const char *up[] = {"", "/..", "/../share/agentmem"};
    char *first = NULL;
    for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
        char dir[PATH_MAX + 32], real[PATH_MAX];
        snprintf(dir, sizeof dir, "%s%s", exe, up[i]);
        if (!realpath(dir, real)) continue;
        char *p = am_path_join(real, rel);
        if (am_file_exists(p)) {
            free(first);
            return p;
        }
        if (i == 1 && !first) first = p;
        else free(p);
    }
    return first ? first : am_xstrdup(rel);
}

char *am_read_input(const char *path, size_t max_bytes, size_t *len, am_err *err) {
    if (strcmp(path, "-")) return am_file_read_all(path, max_bytes, len, err);
    size_t cap = 1 << 16, n = 0, r;
    char *buf = am_xmalloc(cap);
    while ((r = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (n > max_bytes) {
            free(buf);
            am_err_set(err, "stdin: more than %zu bytes", max_bytes);
            return NULL;
        }
        if (n + 1 == cap) buf = am_xrealloc(buf, cap *= 2);
    }
    if (ferror(stdin)) {
        free(buf);
        am_err_setc(err, AM_E_IO, "stdin: %s", strerror(errno));
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

void am_run_opts_init(am_run_opts *o) {
    memset(o, 0, sizeof *o);
    o->kv_type = AM_TYPE_F16;
}

const char AM_RUN_OPTS_USAGE[] =
    "  --model PATH        GGUF file or Hugging Face folder (config.json + safetensors)\n"
    "  --threads N         worker threads, 0..1024 (default 0: one per core)\n"

    "  --kv TYPE           KV cache element type: f16 (default), f32, q8_0 or q4_0\n"
    "                      (q8_0 and q4_0 need head_dim % 32 == 0, see INTERNALS.md)\n"
    "  --f32-buffers       float32 RoPE frequencies and embedding scale as llama.cpp\n"
    "                      computes them (default: rounded to bf16 as Hugging Face\n"
    "                      transformers does for bf16 checkpoints)\n";

const char AM_RUN_CTX_USAGE[] =
    "  -c, --ctx N         context in tokens: prompt plus generated tokens must fit\n"
    "                      (default: the model's trained context, capped by memory)\n";

int am_run_opts_parse(am_run_opts *o, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    bool has_val = *i + 1 < argc;
    if (!strcmp(a, "--model") || !strcmp(a, "-m")) {
        if (!has_val) goto missing;
        o->model = argv[++*i];
        return 1;
    }
    if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
        if (!has_val) goto missing;
        return am_opt_threads(cmd, argv[++*i], &o->threads) ? 1 : -1;
    }
    if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) {
        if (!has_val) goto missing;
        if (!am_opt_int(argv[++*i], 1, 1 << 24, &o->n_ctx)) {
            fprintf(stderr, "agentmem %s: %s wants 1..%d tokens, not '%s'\n", cmd, a, 1 << 24, argv[*i]);
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--kv")) {
        if (!has_val) goto missing;
        const char *v = argv[++*i];
        if (!strcmp(v, "f16"))
            o->kv_type = AM_TYPE_F16;
        else if (!strcmp(v, "f32"))
            o->kv_type = AM_TYPE_F32;
        else if (!strcmp(v, "q8_0"))
            o->kv_type = AM_TYPE_Q8_0;
        else if (!strcmp(v, "q4_0"))
            o->kv_type = AM_TYPE_Q4_0;
        else {
            fprintf(stderr, "agentmem %s: --kv wants f16, f32, q8_0 or q4_0, not '%s'\n", cmd, v);
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--f32-buffers")) {
        o->f32_buffers = true;
        return 1;
    }
    return 0;
missing:
    fprintf(stderr, "agentmem %s: %s needs a value\n", cmd, a);
    return -1;
}

/* KV bytes one token takes over all layers (sliding windows ignored: an
 * upper bound). */
static double kv_bytes_per_token(const am_model *m, am_type t) {
    double el = t == AM_TYPE_F32 ? 4 : t == AM_TYPE_F16 ? 2 : t == AM_TYPE_Q8_0 ? 34.0 / 32 : 18.0 / 32;
    return 2.0 * m->hp.n_layer * m->hp.n_head_kv * m->hp.head_dim * el;
}

int64_t am_run_fit_ctx(const am_run_opts *o, const char *cmd, const am_model *m, int64_t n_prompt,
                       int64_t *n_gen) {
    int64_t ctx = o->n_ctx;
    if (ctx == 0) {
        ctx = m->hp.n_ctx_train > 0 ? m->hp.n_ctx_train : 4096;
        /* half the memory available now, so the default never swaps */
        long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        double per = kv_bytes_per_token(m, o->kv_type);
        if (pages > 0 && psz > 0 && per > 0) {
            double cap = (double)pages * (double)psz / 2 / per;
            if (cap < (double)ctx) ctx = AM_MAX((int64_t)cap, 16);
        }
        am_log_debug("%s: context %lld tokens (trained %d, %.0f KV bytes per token)", cmd, (long long)ctx,
                     m->hp.n_ctx_train, per);
    } else if (m->hp.n_ctx_train > 0 && ctx > m->hp.n_ctx_train) {
        am_log_warn("%s: --ctx %lld is over the %d tokens the model was trained for", cmd, (long long)ctx,
                    m->hp.n_ctx_train);
    }
    if (*n_gen < 0) *n_gen = ctx > n_prompt ? ctx - n_prompt : 0;
    if (n_prompt + *n_gen > ctx) {
        if (*n_gen)
            fprintf(stderr,
                    "agentmem %s: the prompt (%lld tokens) plus -n %lld is %lld tokens, over the context of %lld "
                    "(-c/--ctx; the model was trained for %d)\n",
                    cmd, (long long)n_prompt, (long long)*n_gen, (long long)(n_prompt + *n_gen), (long long)ctx,
                    m->hp.n_ctx_train);
        else
            fprintf(stderr,
                    "agentmem %s: %lld tokens are over the context of %lld (-c/--ctx; the model was trained "
                    "for %d)\n",
                    cmd, (long long)n_prompt, (long long)ctx, m->hp.n_ctx_train);
        return -1;
    }
    return ctx;
}

am_model *am_run_load(const am_run_opts *o, const char *cmd) {
    am_err err = {0};
    am_log_debug("%s: loading %s", cmd, o->model);
    am_model *m = am_model_load(o->model, &err);
    if (!m) fprintf(stderr, "agentmem %s: %s\n", cmd, err.msg);
    else
        am_log_debug("%s: %s, %d layers, %d wide, vocabulary %d, trained context %d, isa %s", cmd,
                     am_arch_name(m->hp.arch), m->hp.n_layer, m->hp.n_embd, m->hp.n_vocab, m->hp.n_ctx_train,
                     am_compute_isa());
    return m;
}

am_engine *am_run_engine(const am_run_opts *o, const char *cmd, const am_model *m, int max_batch,
                         int64_t kv_tokens) {
    am_err err = {0};
    am_engine_params p = am_engine_default_params();
    p.n_threads = o->threads;
    p.max_batch = max_batch > 0 ? max_batch : 512;
    p.kv_tokens = kv_tokens;
    p.kv_type = o->kv_type;
    p.hf_bf16_buffers = !o->f32_buffers;
    am_log_debug("%s: engine: %d threads requested, batch %d, %lld KV slots, kv %s", cmd, p.n_threads,
                 p.max_batch, (long long)kv_tokens, am_type_name(p.kv_type));
    am_engine *e = am_engine_create(m, &p, &err);
    if (!e) fprintf(stderr, "agentmem %s: %s\n", cmd, err.msg);
    return e;
}

void am_default_cache_dir(char *out, size_t cap) {
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (x && *x)
        snprintf(out, cap, "%s/agentmem", x);
    else
        snprintf(out, cap, "%s/.cache/agentmem", home && *home ? home : ".");
}
