/* cmd_bench.c — `agentmem bench`: prompt processing (one N-token prefill)
 * and generation (M single-token decode steps of one sequence) speed, as
 * llama-bench measures them: random token ids, no sampling, the mean and
 * standard deviation of tokens/s over --reps runs after one warm-up. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctype.h>

#include "cli/commands.h"
#include "cli/engine_opts.h"
#include "compute/matmul.h"
#include "engine/forward.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/synth_rng.h"

#define DEFAULT_MODEL "models/default.gguf"

static void usage(FILE *out) {
    fprintf(out,
            "usage: agentmem bench [-m PATH] [-t N] [-p N] [-n N] [-r N] [-o md|json]\n\n"
            "Measures prompt processing (one N-token prefill, tokens/s) and generation (N\n"
            "decode steps of one sequence, tokens/s), as llama-bench's pp512 and tg128.\n"
            "Each table row is printed as soon as it is measured.\n\n"
            "  -m, --model PATH   GGUF file or Hugging Face folder (default %s next\n"
            "                     to the binary's project, or PREFIX/share/agentmem when installed)\n"
            "  -t, --threads N    compute threads, 0..1024 (default 0: one per core)\n"
            "  -p, --pp N         prompt tokens (default 512; 0 skips the test)\n"
            "  -n, --tg N         generated tokens (default 128; 0 skips the test)\n"
            "  -r, --reps N       measured repetitions of each test (default 3)\n"
            "  -o md|json         output format (default md, the table)\n"
            "  --json             -o json: one JSON object {\"pp512\": t/s, \"tg128\": t/s, ...}\n",
            DEFAULT_MODEL);
}

static bool parse_int(const char *s, int lo, int hi, int *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

typedef struct result {
    double mean, sd; /* tokens per second */
} result;

static result stats(const double *tps, int n) {
    result r = {0, 0};
    for (int i = 0; i < n; i++) r.mean += tps[i];
    r.mean /= n;
    for (int i = 0; i < n; i++) r.sd += (tps[i] - r.mean) * (tps[i] - r.mean);
    r.sd = n > 1 ? sqrt(r.sd / (n - 1)) : 0;
    return r;
}

/* One prefill of n random tokens in a fresh sequence (logits for the last
 * only, as a server needs). Returns seconds, or -1. */
static double run_pp(am_engine *e, am_batch *b, am_rng *rng, int n, float *logits, am_err *err) {
    int n_vocab = am_engine_model(e)->hp.n_vocab;
    int seq = am_engine_seq_create(e);
    am_batch_clear(b);
    for (int i = 0; i < n; i++) am_batch_add(b, (int32_t)am_rng_below(rng, (uint64_t)n_vocab), i, seq, i == n - 1);
    double t0 = am_time_now();
    int rc = am_engine_forward(e, b, logits, err);
    double t = am_time_now() - t0;
    am_engine_seq_remove(e, seq);
    return rc < 0 ? -1 : t;
}

/* n decode steps of one sequence from an empty context, each one token with
 * its logits. Returns seconds, or -1. */
static double run_tg(am_engine *e, am_batch *b, am_rng *rng, int n, float *logits, am_err *err) {
    int n_vocab = am_engine_model(e)->hp.n_vocab;
    int seq = am_engine_seq_create(e);
    double t0 = am_time_now();
    int rc = 0;
    for (int i = 0; i < n && rc >= 0; i++) {
        am_batch_clear(b);
        am_batch_add(b, (int32_t)am_rng_below(rng, (uint64_t)n_vocab), i, seq, true);
        rc = am_engine_forward(e, b, logits, err);
    }
    double t = am_time_now() - t0;
    am_engine_seq_remove(e, seq);
    return rc < 0 ? -1 : t;
}

/* "Q4_0", "F16"...: the file type a GGUF declares, else the type of the
 * first layer's attention query matrix. */
static const char *weights_type(const am_model *m) {
    uint32_t ft;
    if (m->gguf && am_gguf_get_u32(m->gguf, "general.file_type", &ft)) {
        switch (ft) {
        case 0: return "F32";
        case 1: return "F16";
        case 2: return "Q4_0";
        case 7: return "Q8_0";
        case 14: return "Q4_K_S";
        case 15: return "Q4_K_M";
        case 17: return "Q5_K_M";
        case 18: return "Q6_K";
        case 32: return "BF16";
        default: break;
        }
    }
    /* a Hugging Face folder: its dtype, spelled as llama.cpp's types are */
    static char up[16];
    snprintf(up, sizeof up, "%s", am_type_name(m->layers[0].wq->type));
    for (char *c = up; *c; c++) *c = (char)toupper((unsigned char)*c);
    return up;
}

static uint64_t n_elems(const am_tensor *t) { return t ? (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]) : 0; }

/* Parameters: every tensor of a GGUF file; for a Hugging Face folder, the
 * weights the model holds (matrices, biases and norms). */
static uint64_t n_params(const am_model *m) {
    uint64_t n = 0;
    if (m->gguf) {
        for (int64_t i = 0; i < am_gguf_n_tensors(m->gguf); i++) n += n_elems(am_gguf_tensor(m->gguf, i));
        return n;
    }
    const am_hparams *hp = &m->hp;
    uint64_t e = (uint64_t)hp->n_embd, q = (uint64_t)hp->n_head * hp->head_dim,
             kv = (uint64_t)hp->n_head_kv * hp->head_dim, hd = (uint64_t)hp->head_dim;
    n = n_elems(m->tok_embd) + (m->output != m->tok_embd ? n_elems(m->output) : 0) + e;
    for (int i = 0; i < hp->n_layer; i++) {
        const am_layer *l = &m->layers[i];
        n += n_elems(l->wq) + n_elems(l->wk) + n_elems(l->wv) + n_elems(l->wo);
        n += n_elems(l->ffn_gate) + n_elems(l->ffn_up) + n_elems(l->ffn_down);
        n += (l->bq ? q : 0) + (l->bk ? kv : 0) + (l->bv ? kv : 0);
        n += (l->q_norm ? hd : 0) + (l->k_norm ? hd : 0);
        n += (l->attn_norm ? e : 0) + (l->ffn_norm ? e : 0) + (l->post_attn_norm ? e : 0) +
             (l->post_ffn_norm ? e : 0);
    }
    return n;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

/* Prints one table row (as soon as it is measured). */
static void print_row(const char *name, const char *size, const char *nparams, const char *type, int threads,
                      const char *test, result r) {
    char tsec[48];
    snprintf(tsec, sizeof tsec, "%.2f ± %.2f", r.mean, r.sd);
    /* "±" is two bytes: one more byte of width keeps the column */
    printf("| %-28.28s | %10s | %7s | %-7s | %7d | %-6s | %7s | %17s |\n", name, size, nparams, type, threads,
           am_compute_isa(), test, tsec);
    fflush(stdout);
}

int am_cmd_bench(int argc, char **argv) {
    char *default_model = NULL;
    const char *model_path = NULL;
    int threads = 0, pp = 512, tg = 128, reps = 3;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && v) {
            if (!strcmp(v, "json")) json = true;
            else if (!strcmp(v, "md")) json = false;
            else {
                fprintf(stderr, "agentmem bench: %s wants md or json, not '%s'\n", a, v);
                return 2;
            }
            i++;
        } else if ((!strcmp(a, "--model") || !strcmp(a, "-m")) && v) {
            model_path = v, i++;
        } else if ((!strcmp(a, "--threads") || !strcmp(a, "-t")) && v) {
            if (!am_opt_threads("bench", v, &threads)) return 2;
            i++;
        } else if ((!strcmp(a, "--pp") || !strcmp(a, "-p") || !strcmp(a, "--n-prompt")) && v) {
            if (!parse_int(v, 0, 1 << 16, &pp)) goto bad;
            i++;
        } else if ((!strcmp(a, "--tg") || !strcmp(a, "-n") || !strcmp(a, "--n-gen")) && v) {
            if (!parse_int(v, 0, 1 << 16, &tg)) goto bad;
            i++;
        } else if ((!strcmp(a, "--reps") || !strcmp(a, "-r") || !strcmp(a, "--repetitions")) && v) {
            if (!parse_int(v, 1, 1000, &reps)) goto bad;
            i++;
        } else {
            fprintf(stderr, "agentmem bench: unknown option or missing value: %s\n\n", a);
            usage(stderr);
            return 2;
        }
        continue;
    bad:
        fprintf(stderr, "agentmem bench: bad value for %s: %s (%s)\n", a, v,
                a[1] == 'r' || !strcmp(a, "--repetitions") ? "1..1000" : "0..65536");
        return 2;
    }
    if (pp == 0 && tg == 0) {
        fprintf(stderr, "agentmem bench: nothing to measure (--pp 0 and --tg 0)\n");
        return 2;
    }

    if (!model_path) model_path = default_model = am_default_path(DEFAULT_MODEL);
    am_err err = {0};
    am_model *m = am_model_load(model_path, &err);
    if (!m) {
        /* the loader's message names the path already */
        fprintf(stderr, "agentmem bench: %s%s\n", err.msg,
                default_model ? " (the default model: `make` generates it, or give --model PATH)" : "");
        free(default_model);
        return 1;
    }
    am_log_debug("bench: %s: %s, %d layers, %d wide, vocabulary %d", model_path, am_arch_name(m->hp.arch),
                 m->hp.n_layer, m->hp.n_embd, m->hp.n_vocab);
    am_engine_params ep = am_engine_default_params();
    ep.n_threads = threads;
    ep.max_batch = AM_MAX(pp, 1);
    ep.kv_tokens = (int64_t)AM_MAX(pp, tg) + 64;
    am_engine *e = am_engine_create(m, &ep, &err);
    int rc = 1;
    am_batch b;
    am_batch_init(&b, AM_MAX(pp, 1));
    float *logits = am_xmalloc((size_t)m->hp.n_vocab * sizeof(float));
    double *tps = am_xmalloc((size_t)reps * sizeof(double));
    result rpp = {0, 0}, rtg = {0, 0};
    am_rng rng;
    am_rng_seed(&rng, 42);
    if (!e) {
        fprintf(stderr, "agentmem bench: %s\n", err.msg);
        goto out;
    }
    threads = am_pool_n_threads(am_engine_pool(e));
    am_log_debug("bench: %d threads, isa %s, pp%d tg%d x %d reps", threads, am_compute_isa(), pp, tg, reps);

    /* warm-up: page the weights in, size the scratch buffers */
    if ((pp && run_pp(e, &b, &rng, AM_MIN(pp, 32), logits, &err) < 0) ||
        (tg && run_tg(e, &b, &rng, 2, logits, &err) < 0)) {
        fprintf(stderr, "agentmem bench: %s\n", err.msg);
        goto out;
    }
    const char *type = weights_type(m);
    uint64_t params = n_params(m);
    char size[32], nparams[32];
    if (m->weight_bytes >= (1ull << 30)) snprintf(size, sizeof size, "%.2f GiB", (double)m->weight_bytes / (1ull << 30));
    else snprintf(size, sizeof size, "%.2f MiB", (double)m->weight_bytes / (1ull << 20));
    if (params >= 1000000000ull) snprintf(nparams, sizeof nparams, "%.2fB", (double)params / 1e9);
    else snprintf(nparams, sizeof nparams, "%.2fM", (double)params / 1e6);
    const char *name = strrchr(model_path, '/') ? strrchr(model_path, '/') + 1 : model_path;
    if (!json) {
        printf("| %-28s | %10s | %7s | %-7s | %7s | %-6s | %7s | %16s |\n", "model", "size", "params", "type",
               "threads", "isa", "test", "t/s");
        printf("| %.28s | ---------: | ------: | ------- | ------: | ------ | ------: | ---------------: |\n",
               "-----------------------------");
        fflush(stdout);
    }
    for (int k = 0; k < 2; k++) {
        int n = k == 0 ? pp : tg;
        if (!n) continue;
        for (int r = 0; r < reps; r++) {
            double t = k == 0 ? run_pp(e, &b, &rng, pp, logits, &err) : run_tg(e, &b, &rng, tg, logits, &err);
            if (t < 0) {
                fprintf(stderr, "agentmem bench: %s%d: %s\n", k == 0 ? "pp" : "tg", n, err.msg);
                goto out;
            }
            tps[r] = n / t;
        }
        result res = stats(tps, reps);
        if (k == 0) rpp = res;
        else rtg = res;
        char test[16];
        snprintf(test, sizeof test, "%s%d", k == 0 ? "pp" : "tg", n);
        if (!json) print_row(name, size, nparams, type, threads, test, res);
    }
    if (json) {
        printf("{");
        if (pp) printf("\"pp%d\": %.2f, \"pp%d_sd\": %.2f, ", pp, rpp.mean, pp, rpp.sd);
        if (tg) printf("\"tg%d\": %.2f, \"tg%d_sd\": %.2f, ", tg, rtg.mean, tg, rtg.sd);
        printf("\"model\": ");
        json_str(stdout, model_path);
        printf(", \"arch\": \"%s\", \"type\": \"%s\", \"size\": %llu, \"params\": %llu, \"threads\": %d, "
               "\"isa\": \"%s\", \"reps\": %d}\n",
               am_arch_name(m->hp.arch), type, (unsigned long long)m->weight_bytes, (unsigned long long)params,
               threads, am_compute_isa(), reps);
    }
    rc = 0;
out:
    free(tps);
    free(logits);
    am_batch_free(&b);
    am_engine_free(e);
    am_model_free(m);
    free(default_model);
    return rc;
}
