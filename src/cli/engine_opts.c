/*
 * engine_opts.c — shared option parsing and model opening for logits, run and
 * perplexity (see engine_opts.h). Never exits; prints its own messages.
 */
#include "cli/engine_opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


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
    FILE *f = fopen(path, "rb");
    if (!f) return am_err_set(err, "%s: cannot open", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = am_xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            if (cap > ((size_t)1 << 32)) {
                fclose(f);
                free(buf);
                return am_err_set(err, "%s: too large", path);
            }
            cap *= 2;
            buf = am_xrealloc(buf, cap);
        }
    }
    bool bad = ferror(f);
    fclose(f);
    buf[n] = 0;
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
    if (end == s || *end || errno || v != v) return false;
    *out = v;
    return true;
}

void am_run_opts_init(am_run_opts *o) {
    memset(o, 0, sizeof *o);
    o->kv_type = AM_TYPE_F16;
}

const char AM_RUN_OPTS_USAGE[] =
    "  --model PATH        GGUF file or Hugging Face folder (config.json + safetensors)\n"
    "  --threads N         worker threads (default: one per core)\n"
    "  --kv f16|f32|q8_0|q4_0  KV cache element type (default f16; q8_0 and q4_0\n"
    "                      need head_dim % 32 == 0, see INTERNALS.md)\n"
    "  --f32-buffers       float32 RoPE frequencies and embedding scale as llama.cpp\n"
    "                      computes them (default: rounded to bf16 as Hugging Face\n"
    "                      transformers does for bf16 checkpoints)\n";

int am_run_opts_parse(am_run_opts *o, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    bool has_val = *i + 1 < argc;
    if (!strcmp(a, "--model") || !strcmp(a, "-m")) {
        if (!has_val) goto missing;
        o->model = argv[++*i];
        return 1;
    }
    if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
        long v;
        if (!has_val) goto missing;
        if (!am_opt_int(argv[++*i], 0, 1024, &v)) {
            fprintf(stderr, "agentmem %s: --threads wants 0..1024, not '%s'\n", cmd, argv[*i]);
            return -1;
        }
        o->threads = (int)v;
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

am_model *am_run_load(const am_run_opts *o, const char *cmd) {
    am_err err = {0};
    am_model *m = am_model_load(o->model, &err);
    if (!m) fprintf(stderr, "agentmem %s: %s\n", cmd, err.msg);
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
