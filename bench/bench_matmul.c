/*
 * bench_matmul.c — am_matmul throughput on Llama-3.2-1B shapes, independent of the engine.
 *
 * For each weight type: matvec (decode) on 2048x2048, 8192x2048 and 2048x8192 (out x in),
 * and a 512-token matmul (prefill) on 2048x2048 and 8192x2048; prints ms per call, weight
 * GB/s and GFLOP/s. Matvec cycles through enough copies of the matrix (>= 512 MiB) that
 * weights come from DRAM, as in a real decode step. Then it sums the per-shape times into
 * a matmul-only estimate of llama-1b tg and pp512 (16 layers: q,o 2048x2048; k,v 512x2048;
 * gate,up 8192x2048; down 2048x8192; output head 128256x2048 once per step) — an upper
 * bound for the engine, which also does attention and norms.
 *
 *   build/bench/bench_matmul [--threads N] [--isa scalar|avx2|avx512] [--types q4_0,f16,...]
 *                            [--quick] [--cpu] [--only tg|pp] [--batch N[,N...]] [--pool] [--packed]
 *
 * --batch N runs the decode shapes with N tokens (N sequences decoding in one step, weights
 * still from DRAM); tg is then tokens/s of all N together. A list (--batch 1,2,4,8) runs
 * the decode shapes once per count; GB/s is weight bytes read per call over its time, so
 * a kernel that reads W once for all N tokens keeps it while tokens/s grows.
 * --packed repacks Q4_0/Q8_0/Q6_K weights as the engine does on AVX-512 (AM_LAYOUT_TILE16,
 * compute/pack.h) before timing; without it they stay in the file's row layout.
 * --pool prints the round trip of an empty am_pool_run (the per-op cost of a decode step
 * beyond its kernels) and exits.
 *
 * BENCH_HOT=1 in the environment uses one copy for matvec too (weights from cache: kernel
 * cost without DRAM).
 * --cpu (with --threads 1) times by the thread's CPU clock instead of the wall clock: on a
 * shared machine that measures what the kernel costs when it has the core, not how long
 * the scheduler kept it waiting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "compute/matmul.h"
#include "compute/pack.h"
#include "compute/quant.h"

typedef struct {
    int64_t n_out, n_in;
} shape;

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xFFFFFF) / 16777216.0f * 2 - 1;
}

/* n_copies distinct copies of one random matrix, so a sweep touches fresh memory. */
static uint8_t *make_weights(am_type t, shape s, int n_copies, size_t *bytes) {
    size_t rb = am_type_row_bytes(t, s.n_in), one = rb * (size_t)s.n_out;
    uint8_t *w = am_xmalloc_aligned(one * (size_t)n_copies);
    float *row = am_xmalloc(sizeof(float) * (size_t)s.n_in);
    for (int64_t r = 0; r < s.n_out; r++) {
        if (r < 64) /* quantizing is slow for K-quants: 64 distinct rows, repeated */
            for (int64_t i = 0; i < s.n_in; i++) row[i] = frand() * 0.05f;
        if (r < 64) am_quantize_row(t, row, w + rb * r, s.n_in);
        else memcpy(w + rb * r, w + rb * (r % 64), rb);
    }
    for (int c = 1; c < n_copies; c++) memcpy(w + one * c, w, one);
    free(row);
    *bytes = one;
    return w;
}

static int use_cpu_clock;
static int use_packed; /* --packed: Q4_0/Q8_0/Q6_K repacked as the engine does (compute/pack.h) */
static double clock_now(void) {
    if (!use_cpu_clock) return am_time_now();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds per call (best of a few repetitions of a timed loop). */
static double time_matmul(am_pool *pool, am_type t, shape s, int n_tok, int from_dram, double min_time) {
    size_t one;
    int copies = 1;
    if (from_dram && !getenv("BENCH_HOT")) {
        size_t rb = am_type_row_bytes(t, s.n_in) * (size_t)s.n_out;
        copies = (int)((512ull << 20) / rb) + 1;
    }
    uint8_t *w = make_weights(t, s, copies, &one);
    float *x = am_xmalloc(sizeof(float) * (size_t)(s.n_in * n_tok));
    float *y = am_xmalloc(sizeof(float) * (size_t)(s.n_out * n_tok));
    for (int64_t i = 0; i < s.n_in * n_tok; i++) x[i] = frand();
    am_tensor tw = {.name = "w", .type = t, .n_dims = 2, .ne = {s.n_in, s.n_out, 1, 1}, .nbytes = one};
    am_tensor *pk = NULL; /* [copies] packed views, when --packed applies */
    if (use_packed && am_pack_supported(&tw)) {
        pk = am_xcalloc((size_t)copies, sizeof *pk);
        for (int c = 0; c < copies; c++) {
            tw.data = w + one * c;
            am_err err = {0};
            if (am_pack_tensor(pool, &tw, &pk[c], &err)) {
                fprintf(stderr, "bench_matmul: %s\n", err.msg);
                exit(1);
            }
        }
    }
#define VIEW(c) (pk ? &pk[c] : (tw.data = w + one * (c), &tw))
    /* warm up: page in every copy */
    for (int c = 0; c < copies; c++) am_matmul(pool, VIEW(c), x, n_tok, y);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        int iters = 0;
        double t0 = clock_now(), el;
        do {
            am_matmul(pool, VIEW(iters % copies), x, n_tok, y);
            iters++;
            el = clock_now() - t0;
        } while (el < min_time || iters < 2);
        if (el / iters < best) best = el / iters;
    }
#undef VIEW
    if (pk)
        for (int c = 0; c < copies; c++) am_aligned_free((void *)pk[c].data);
    free(pk);
    am_aligned_free(w);
    free(x);
    free(y);
    return best;
}

static void empty_job(void *ctx, int ith, int nth) {
    (void)ctx, (void)ith, (void)nth;
}

/* Median over 9 rounds of the mean time of 20000 empty jobs. */
static void bench_pool(am_pool *pool) {
    double r[9];
    for (int k = 0; k < 9; k++) {
        double t0 = am_time_now();
        for (int i = 0; i < 20000; i++) am_pool_run(pool, empty_job, NULL);
        r[k] = (am_time_now() - t0) / 20000;
        for (int j = k; j > 0 && r[j] < r[j - 1]; j--) {
            double t = r[j];
            r[j] = r[j - 1], r[j - 1] = t;
        }
    }
    printf("empty am_pool_run, %d threads: median %.2f us (best %.2f, worst %.2f)\n", am_pool_n_threads(pool), r[4] * 1e6,
           r[0] * 1e6, r[8] * 1e6);
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_matmul [--threads N] [--isa scalar|avx2|avx512] [--types q4_0,q8_0,...] [--quick] [--cpu] [--only tg|pp] [--batch N[,N...]] [--pool] [--packed]\n");
}

int main(int argc, char **argv) {
    int threads = 2, n_batches = 1, do_pool = 0;
    int batches[16] = {1};
    double min_time = 0.3;
    const char *only = "";
    char types_arg[256] = "q4_0,q8_0,f16,q4_k";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            if (am_compute_set_isa(argv[++i]) != 0) {
                fprintf(stderr, "isa %s not available\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--types") && i + 1 < argc) snprintf(types_arg, sizeof types_arg, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--quick")) min_time = 0.1;
        else if (!strcmp(argv[i], "--cpu")) use_cpu_clock = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            char *list = argv[++i], *end = list;
            for (n_batches = 0; *end && n_batches < 16;) {
                long v = strtol(list, &end, 10);
                if (end == list || v < 1 || v > 64 || (*end && *end != ',')) {
                    fprintf(stderr, "--batch: counts 1..64, comma separated (at most 16)\n");
                    return 2;
                }
                batches[n_batches++] = (int)v;
                list = end + (*end == ',');
            }
        } else if (!strcmp(argv[i], "--pool")) do_pool = 1;
        else if (!strcmp(argv[i], "--packed")) use_packed = 1;
        else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (use_cpu_clock && threads != 1) {
        fprintf(stderr, "--cpu needs --threads 1\n");
        return 2;
    }
    am_pool *pool = am_pool_create(threads);
    if (do_pool) {
        bench_pool(pool);
        am_pool_free(pool);
        return 0;
    }
    printf("isa %s, %d threads, %s clock\n", am_compute_isa(), am_pool_n_threads(pool), use_cpu_clock ? "cpu" : "wall");
    printf("%-5s %-16s %5s %10s %8s %9s\n", "type", "shape (out x in)", "tok", "ms/call", "GB/s", "GFLOP/s");
    static const struct {
        const char *name;
        am_type t;
    } all[] = {{"f32", AM_TYPE_F32}, {"f16", AM_TYPE_F16}, {"bf16", AM_TYPE_BF16}, {"q8_0", AM_TYPE_Q8_0},
               {"q4_0", AM_TYPE_Q4_0}, {"q4_k", AM_TYPE_Q4_K}, {"q5_k", AM_TYPE_Q5_K}, {"q6_k", AM_TYPE_Q6_K}};
    const shape sq = {2048, 2048}, up = {8192, 2048}, down = {2048, 8192}, kv = {512, 2048}, head = {128256, 2048};
    char *save = NULL;
    for (char *tok = strtok_r(types_arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        am_type t = AM_TYPE_F32;
        int found = 0;
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
            if (!strcmp(all[k].name, tok)) t = all[k].t, found = 1;
        if (!found) {
            fprintf(stderr, "unknown type %s\n", tok);
            return 2;
        }
        for (int bi = 0; bi < n_batches; bi++) {
            const int batch = batches[bi];
            struct {
                shape s;
                int n_tok;
                double sec;
            } runs[] = {{sq, batch, 0}, {up, batch, 0}, {down, batch, 0}, {kv, batch, 0}, {head, batch, 0},
                        {sq, 512, 0}, {up, 512, 0}, {down, 512, 0}, {kv, 512, 0}};
            const int n_dec = 5; /* runs[0..n_dec) are the decode shapes */
            int n_runs = sizeof runs / sizeof runs[0];
            for (int r = 0; r < n_runs; r++) {
                /* prefill does not depend on the batch: measured with the first count only */
                if (((!strcmp(only, "tg") || bi > 0) && r >= n_dec) || (!strcmp(only, "pp") && r < n_dec)) {
                    runs[r].sec = 1e30;
                    continue;
                }
                runs[r].sec = time_matmul(pool, t, runs[r].s, runs[r].n_tok, r < n_dec, min_time);
                double bytes = (double)am_type_row_bytes(t, runs[r].s.n_in) * runs[r].s.n_out;
                double flop = 2.0 * runs[r].s.n_in * runs[r].s.n_out * runs[r].n_tok;
                char sh[32];
                snprintf(sh, sizeof sh, "%lldx%lld", (long long)runs[r].s.n_out, (long long)runs[r].s.n_in);
                printf("%-5s %-16s %5d %10.3f %8.1f %9.1f\n", tok, sh, runs[r].n_tok, runs[r].sec * 1e3,
                       bytes / runs[r].sec / 1e9, flop / runs[r].sec / 1e9);
                fflush(stdout);
            }
            /* per layer: q,o = sq; k,v = kv; gate,up = up; down */
            double tg = 16 * (2 * runs[0].sec + 2 * runs[3].sec + 2 * runs[1].sec + runs[2].sec) + runs[4].sec;
            double pp = 16 * (2 * runs[5].sec + 2 * runs[8].sec + 2 * runs[6].sec + runs[7].sec) + runs[4].sec;
            if (batch > 1)
                printf("%-5s llama-1b matmuls only: tg x%d %.1f tok/s, pp512 %.1f tok/s\n\n", tok, batch, batch / tg, 512 / pp);
            else
                printf("%-5s llama-1b matmuls only: tg %.1f tok/s, pp512 %.1f tok/s\n\n", tok, 1 / tg, 512 / pp);
        }
    }
    am_pool_free(pool);
    return 0;
}
