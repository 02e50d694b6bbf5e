/* cmd_bench.c — `agentmem bench`: the speed of one engine, as llama-bench
 * and llama-batched-bench measure it (random token ids, no sampling, the
 * mean and standard deviation of tokens/s over --reps runs after one
 * warm-up):
 *   pp<P> [@ d<D>]  one P-token prefill on top of D cached tokens;
 *   tg<N> [@ d<D>]  N single-token decode steps after D cached tokens;
 *   <S>x tg<G> @ d<C>  S sequences of C cached tokens each, G steps of one
 *                   S-row forward (aggregate tokens/s = S*G / time);
 * and, with --memory, the machine's read bandwidth, against which the tg
 * rows report the weight bytes they read per second; pp rows report GOP/s
 * against the int8 peak. The runs are in bench_run.c, the machine's bounds
 * in bench_hw.c, the model's sizes in bench_model.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/bench.h"
#include "cli/commands.h"
#include "cli/engine_opts.h"
#include "compute/matmul.h"

#define DEFAULT_MODEL "models/default.gguf"
#define MAX_LIST 16    /* values of --depth / --seqs */
_Static_assert(BENCH_MAX_ROWS >= 3 * MAX_LIST, "a row for every depth (pp, tg) and every sequence count");
#define MAX_SEQS 64
#define MAX_DEPTH (1 << 20)
#define MEM_PASSES 10 /* the best pass counts: a neighbour's burst spoils one, not all */

static void usage(FILE *out) {
    fprintf(out,
            "usage: agentmem bench [-m PATH] [-t N] [-p N] [-n N] [-r N] [-d LIST] [--kv TYPE]\n"
            "                      [--seqs LIST [--seq-prompt N] [--seq-gen N]]\n"
            "                      [--memory [--memory-mib N]] [-o md|json]\n\n"
            "Measures prompt processing (one N-token prefill, tokens/s) and generation (N\n"
            "decode steps of one sequence, tokens/s), as llama-bench's pp512 and tg128, at\n"
            "each context depth; aggregate decode of several sequences at once, as\n"
            "llama-batched-bench; and the machine's read bandwidth. Each table row is\n"
            "printed as soon as it is measured.\n\n"
            "  -m, --model PATH   GGUF file or Hugging Face folder (default %s next\n"
            "                     to the binary's project, or PREFIX/share/agentmem when installed)\n"
            "  -t, --threads N    compute threads, 0..1024 (default 0: one per core)\n"
            "  -p, --pp N         prompt tokens (default 512; 0 skips the test)\n"
            "  -n, --tg N         generated tokens (default 128; 0 skips the test)\n"
            "  -r, --reps N       measured repetitions of each test (default 3)\n"
            "  -d, --depth LIST   context depths, comma-separated (default 0): pp and tg run on\n"
            "                     top of that many cached tokens (prefilled once, not timed;\n"
            "                     each repetition is truncated back to the depth)\n"
            "  --kv TYPE          KV cache element type: f16 (default), f32, q8_0 or q4_0\n"
            "  --seqs LIST        sequence counts, comma-separated (default none): each S\n"
            "                     sequences decoding together, one S-row forward per step\n"
            "  --seq-prompt N     cached tokens of each of those sequences (default 1024)\n"
            "  --seq-gen N        decode steps of each (default 128)\n"
            "  --memory           measure the read bandwidth of the compute threads first;\n"
            "                     tg rows then report their weight bytes/s as a share of it.\n"
            "                     Without --model and test options: the bandwidth only\n"
            "  --memory-mib N     buffer streamed, 64..65536 MiB (default 1024)\n"
            "  --f32-buffers      float32 RoPE frequencies (as llama.cpp)\n"
            "  -o md|json         output format (default md, the table)\n"
            "  --json             -o json: one JSON object {\"pp512\": t/s, \"tg128\": t/s,\n"
            "                     \"tests\": [every row], ...}\n",
            DEFAULT_MODEL);
}

typedef struct opts {
    am_run_opts run; /* model, threads, kv type, f32 buffers */
    int pp, tg, reps;
    int depth[MAX_LIST], n_depth;
    int seqs[MAX_LIST], n_seqs;
    int seq_prompt, seq_gen;
    bool memory, tests_given, json;
    int memory_mib;
} opts;

static bool parse_int(const char *s, int lo, int hi, int *out) {
    long v;
    if (!am_opt_int(s, lo, hi, &v)) return false;
    *out = (int)v;
    return true;
}

/* "0,4096,16384" -> sorted distinct values in [lo, hi]; false on junk. */
static bool parse_list(const char *s, int lo, int hi, int *v, int *n) {
    *n = 0;
    char buf[256];
    if (!s || strlen(s) >= sizeof buf) return false;
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int x;
        if (*n == MAX_LIST || !parse_int(tok, lo, hi, &x)) return false;
        int i = *n;
        while (i > 0 && v[i - 1] > x) v[i] = v[i - 1], i--;
        if (i > 0 && v[i - 1] == x) {
            memmove(&v[i], &v[i + 1], (size_t)(*n - i) * sizeof *v);
            continue;
        }
        v[i] = x, (*n)++;
    }
    return *n > 0;
}

/* Returns 0 to run, else the exit status (help: 0 printed as -1). */
static int parse(opts *o, int argc, char **argv) {
    am_run_opts_init(&o->run);
    o->pp = 512, o->tg = 128, o->reps = 3, o->seq_prompt = 1024, o->seq_gen = 128, o->memory_mib = 1024;
    o->depth[0] = 0, o->n_depth = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char *range = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--memory")) {
            o->memory = true;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && v) {
            if (strcmp(v, "json") && strcmp(v, "md")) {
                fprintf(stderr, "agentmem bench: %s wants md or json, not '%s'\n", a, v);
                return 2;
            }
            o->json = !strcmp(v, "json"), i++;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            range = "not a bench option (the context is sized from the tests)";
        } else if ((!strcmp(a, "--pp") || !strcmp(a, "-p") || !strcmp(a, "--n-prompt")) && v) {
            if (!parse_int(v, 0, 1 << 16, &o->pp)) range = "0..65536";
            o->tests_given = true, i++;
        } else if ((!strcmp(a, "--tg") || !strcmp(a, "-n") || !strcmp(a, "--n-gen")) && v) {
            if (!parse_int(v, 0, 1 << 16, &o->tg)) range = "0..65536";
            o->tests_given = true, i++;
        } else if ((!strcmp(a, "--reps") || !strcmp(a, "-r") || !strcmp(a, "--repetitions")) && v) {
            if (!parse_int(v, 1, 1000, &o->reps)) range = "1..1000";
            i++;
        } else if ((!strcmp(a, "--depth") || !strcmp(a, "-d") || !strcmp(a, "--n-depth")) && v) {
            if (!parse_list(v, 0, MAX_DEPTH, o->depth, &o->n_depth)) range = "a list of 0..1048576, at most 16";
            o->tests_given = true, i++;
        } else if (!strcmp(a, "--seqs") && v) {
            if (!parse_list(v, 1, MAX_SEQS, o->seqs, &o->n_seqs)) range = "a list of 1..64, at most 16";
            o->tests_given = true, i++;
        } else if (!strcmp(a, "--seq-prompt") && v) {
            if (!parse_int(v, 0, MAX_DEPTH, &o->seq_prompt)) range = "0..1048576";
            i++;
        } else if (!strcmp(a, "--seq-gen") && v) {
            if (!parse_int(v, 1, 1 << 16, &o->seq_gen)) range = "1..65536";
            i++;
        } else if (!strcmp(a, "--memory-mib") && v) {
            if (!parse_int(v, 64, 65536, &o->memory_mib)) range = "64..65536";
            o->memory = true, i++;
        } else {
            int r = am_run_opts_parse(&o->run, "bench", argc, argv, &i);
            if (r < 0) return 2;
            if (r == 0) {
                fprintf(stderr, "agentmem bench: unknown option or missing value: %s\n\n", a);
                usage(stderr);
                return 2;
            }
            if (!strcmp(a, "--model") || !strcmp(a, "-m")) o->tests_given = true;
            continue;
        }
        if (range) {
            fprintf(stderr, "agentmem bench: bad value for %s: %s (%s)\n", a, v ? v : "", range);
            return 2;
        }
    }
    if (o->memory && !o->tests_given) return 0; /* the bandwidth only */
    if (o->pp == 0 && o->tg == 0 && o->n_seqs == 0) {
        fprintf(stderr, "agentmem bench: nothing to measure (--pp 0 and --tg 0, no --seqs)\n");
        return 2;
    }
    return 0;
}

/* --reps timed runs of one test over the s sequences seqs (fn returns its
 * seconds), each truncated back to `depth` tokens afterwards, kept as one
 * row named like llama-bench's ("pp512", "tg128 @ d4096") or, batched,
 * "4x tg128 @ d1024". */
typedef double (*run_fn)(bench_ctx *c, const int *seqs, int s, int n, am_err *err);
static double run_pp1(bench_ctx *c, const int *seqs, int s, int n, am_err *err) { return bench_pp(c, seqs[0], n, err); }
static double run_tg1(bench_ctx *c, const int *seqs, int s, int n, am_err *err) { return bench_tg(c, seqs[0], n, err); }
static double run_tgs(bench_ctx *c, const int *seqs, int s, int n, am_err *err) {
    return bench_batched(c, seqs, s, n, err);
}

static int measure(bench_ctx *c, bench_report *rp, const opts *o, run_fn fn, const char *kind, const int *seqs, int s,
                   int n, int depth, bool batched, am_err *err) {
    double tps[1000];
    bench_row w = {.n = n, .depth = depth, .seqs = s, .batched = batched};
    for (int r = 0; r < o->reps; r++) {
        /* what the engine holds before and after, not what was asked: the
         * row reports the context it really ran on and the tokens it added */
        int64_t before[MAX_SEQS], tokens = 0;
        for (int j = 0; j < s; j++) before[j] = am_engine_seq_len(c->e, seqs[j]);
        double t = fn(c, seqs, s, n, err);
        if (t < 0) return -1;
        w.cached = w.tokens = w.advanced = 0;
        for (int j = 0; j < s; j++) {
            int64_t grew = am_engine_seq_len(c->e, seqs[j]) - before[j];
            w.cached += before[j], tokens += grew, w.advanced += grew == n;
            if (am_engine_seq_truncate(c->e, seqs[j], depth, err) < 0) return -1;
        }
        w.tokens = tokens;
        tps[r] = (double)tokens / t;
    }
    w.r = bench_stats(tps, o->reps);
    snprintf(w.kind, sizeof w.kind, "%s", kind);
    char at[24] = "";
    if (depth > 0 || batched) snprintf(at, sizeof at, " @ d%d", depth);
    if (batched) snprintf(w.test, sizeof w.test, "%dx %s%d%s", s, kind, n, at);
    else snprintf(w.test, sizeof w.test, "%s%d%s", kind, n, at);
    bench_report_add(rp, w);
    return 0;
}

/* pp and tg at every depth on one sequence, deepened between depths. */
static int run_depths(bench_ctx *c, bench_report *rp, const opts *o, am_err *err) {
    if (o->pp == 0 && o->tg == 0) return 0;
    int seq = am_engine_seq_create(c->e);
    if (seq < 0) return am_err_setc(err, AM_E_NO_KV, "bench: no sequence");
    int rc = 0;
    for (int k = 0; k < o->n_depth && rc == 0; k++) {
        int d = o->depth[k];
        rc = bench_prefill(c, seq, d - (int)am_engine_seq_len(c->e, seq), err);
        if (rc == 0 && o->pp) rc = measure(c, rp, o, run_pp1, "pp", &seq, 1, o->pp, d, false, err);
        if (rc == 0 && o->tg) rc = measure(c, rp, o, run_tg1, "tg", &seq, 1, o->tg, d, false, err);
    }
    am_engine_seq_remove(c->e, seq);
    return rc;
}

/* The largest --seqs count of sequences, each prefilled with seq_prompt
 * tokens; every count decodes the first S of them. */
static int run_batched(bench_ctx *c, bench_report *rp, const opts *o, am_err *err) {
    if (o->n_seqs == 0) return 0;
    int smax = o->seqs[o->n_seqs - 1], seqs[MAX_SEQS], n = 0, rc = 0;
    while (n < smax && rc == 0) {
        if ((seqs[n] = am_engine_seq_create(c->e)) < 0) rc = am_err_setc(err, AM_E_NO_KV, "bench: no sequence");
        else rc = bench_prefill(c, seqs[n++], o->seq_prompt, err);
    }
    for (int k = 0; k < o->n_seqs && rc == 0; k++)
        rc = measure(c, rp, o, run_tgs, "tg", seqs, o->seqs[k], o->seq_gen, o->seq_prompt, true, err);
    for (int j = 0; j < n; j++) am_engine_seq_remove(c->e, seqs[j]);
    return rc;
}

/* --memory alone: the bandwidth and the machine's peak, no model. */
static int memory_only(const opts *o) {
    am_pool *pool = am_pool_create(o->run.threads);
    am_err err = {0};
    const char *loads = "", *src = "";
    char how[96] = "";
    bench_report rp = {.threads = am_pool_n_threads(pool), .json = o->json, .reps = o->reps,
                       .memory_mib = o->memory_mib};
    rp.bandwidth = bench_read_bandwidth(pool, (size_t)o->memory_mib << 20, MEM_PASSES, &loads, &err);
    if (rp.bandwidth < 0) {
        am_pool_free(pool);
        fprintf(stderr, "agentmem bench: %s\n", err.msg);
        return 1;
    }
    double mhz = bench_clock_mhz(&src);
    rp.peak = bench_int8_peak(pool, mhz, how, sizeof how);
    am_pool_free(pool);
    if (o->json) {
        rp.loads = loads, rp.mhz = mhz, rp.clock_src = src, rp.peak_how = how;
        bench_report_json(&rp, NULL);
    }
    else
        printf("read bandwidth: %.1f GB/s (%d threads, %s loads, %d MiB, best of %d passes)\n"
               "clock: %.0f MHz (%s); int8 peak: %.0f GOP/s (%s)\n",
               rp.bandwidth / 1e9, rp.threads, loads, o->memory_mib, MEM_PASSES, mhz, src, rp.peak / 1e9, how);
    return 0;
}

int am_cmd_bench(int argc, char **argv) {
    opts o = {0};
    int prc = parse(&o, argc, argv);
    if (prc) return prc < 0 ? 0 : prc;
    if (o.memory && !o.tests_given) return memory_only(&o);

    char *default_model = NULL;
    if (!o.run.model) o.run.model = default_model = am_default_path(DEFAULT_MODEL);
    am_err err = {0};
    am_model *m = am_model_load(o.run.model, &err);
    if (!m) {
        /* the loader's message names the path already */
        fprintf(stderr, "agentmem bench: %s%s\n", err.msg,
                default_model ? " (the default model: `make` generates it, or give --model PATH)" : "");
        free(default_model);
        return 1;
    }
    int dmax = o.depth[o.n_depth - 1], smax = o.n_seqs ? o.seqs[o.n_seqs - 1] : 0;
    bool prefills = dmax > 0 || smax > 0;
    am_engine_params ep = am_engine_default_params();
    ep.n_threads = o.run.threads;
    ep.kv_type = o.run.kv_type;
    ep.hf_bf16_buffers = !o.run.f32_buffers;
    ep.max_batch = AM_MAX(AM_MAX(o.pp, smax), prefills ? 512 : 1);
    /* the deepest single sequence, or all batched ones, plus a partly
     * filled block per sequence */
    int64_t single = (int64_t)dmax + AM_MAX(o.pp, o.tg), many = (int64_t)smax * (o.seq_prompt + o.seq_gen);
    ep.kv_tokens = AM_MAX(single, many) + 64 * (int64_t)(smax + 1);
    /* before any allocation: the blocks are allocated as the prefills fill
     * them, and an overcommitted machine kills a process that overruns */
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double kv_mib = (double)ep.kv_tokens * (double)bench_kv_bytes_per_token(m, o.run.kv_type) / (1 << 20);
    if (pages > 0 && page > 0 && kv_mib > (double)pages * (double)page / 2 / (1 << 20)) {
        fprintf(stderr,
                "agentmem bench: the KV cache of these tests (%lld tokens, --kv %s) needs %.0f MiB, over half of "
                "this machine's %.0f MiB (lower --depth, --seqs or --seq-prompt)\n",
                (long long)ep.kv_tokens, am_type_name(o.run.kv_type), kv_mib, (double)pages * (double)page / (1 << 20));
        am_model_free(m);
        free(default_model);
        return 1;
    }
    am_engine *e = am_engine_create(m, &ep, &err);
    int rc = 1;
    bench_ctx c = {.e = e, .max_rows = AM_MAX(smax, 1)};
    am_batch_init(&c.b, ep.max_batch);
    c.logits = am_xmalloc((size_t)c.max_rows * (size_t)m->hp.n_vocab * sizeof(float));
    am_rng_seed(&c.rng, 42);
    bench_report rp = {.name = strrchr(o.run.model, '/') ? strrchr(o.run.model, '/') + 1 : o.run.model,
                 .type = bench_weights_type(m), .kv = am_type_name(o.run.kv_type), .json = o.json,
                 .layer_params = bench_layer_matmul_params(m), .out_params = bench_output_params(m),
                 .decode_bytes = bench_decode_bytes(m), .path = o.run.model, .reps = o.reps,
                 .memory_mib = o.memory_mib};
    const char *loads = "", *src = "";
    char how[96] = "";
    if (!e) {
        fprintf(stderr, "agentmem bench: %s\n", err.msg);
        goto out;
    }
    rp.threads = am_pool_n_threads(am_engine_pool(e));
    if (o.memory &&
        (rp.bandwidth = bench_read_bandwidth(am_engine_pool(e), (size_t)o.memory_mib << 20, MEM_PASSES, &loads, &err)) < 0) {
        fprintf(stderr, "agentmem bench: %s\n", err.msg);
        goto out;
    }
    double mhz = bench_clock_mhz(&src);
    rp.peak = bench_int8_peak(am_engine_pool(e), mhz, how, sizeof how);
    am_log_debug("bench: %d threads, isa %s, pp%d tg%d x %d reps", rp.threads, am_compute_isa(), o.pp, o.tg, o.reps);

    /* warm-up: page the weights in, size the scratch buffers */
    int wseq = am_engine_seq_create(e);
    if (wseq < 0 || bench_pp(&c, wseq, AM_MIN(AM_MAX(o.pp, 2), 32), &err) < 0 || bench_tg(&c, wseq, 2, &err) < 0) {
        fprintf(stderr, "agentmem bench: warm-up: %s\n", wseq < 0 ? "no sequence" : err.msg);
        goto out;
    }
    am_engine_seq_remove(e, wseq);
    uint64_t params = bench_n_params(m);
    if (m->weight_bytes >= (1ull << 30))
        snprintf(rp.size, sizeof rp.size, "%.2f GiB", (double)m->weight_bytes / (1ull << 30));
    else snprintf(rp.size, sizeof rp.size, "%.2f MiB", (double)m->weight_bytes / (1ull << 20));
    if (params >= 1000000000ull) snprintf(rp.nparams, sizeof rp.nparams, "%.2fB", (double)params / 1e9);
    else snprintf(rp.nparams, sizeof rp.nparams, "%.2fM", (double)params / 1e6);
    if (!o.json) {
        if (o.memory)
            printf("read bandwidth: %.1f GB/s (%d threads, %s loads, %d MiB); decode reads %.1f MiB of weights\n",
                   rp.bandwidth / 1e9, rp.threads, loads, o.memory_mib, (double)rp.decode_bytes / (1 << 20));
        printf("clock: %.0f MHz (%s); int8 peak: %.0f GOP/s (%s)\n\n", mhz, src, rp.peak / 1e9, how);
        bench_report_header();
    }
    if (run_depths(&c, &rp, &o, &err) < 0 || run_batched(&c, &rp, &o, &err) < 0) {
        fprintf(stderr, "agentmem bench: %s\n", err.msg);
        goto out;
    }
    if (o.json) {
        rp.loads = loads, rp.mhz = mhz, rp.clock_src = src, rp.peak_how = how;
        bench_report_json(&rp, m);
    }
    rc = 0;
out:
    free(c.logits);
    am_batch_free(&c.b);
    am_engine_free(e);
    am_model_free(m);
    free(default_model);
    return rc;
}
