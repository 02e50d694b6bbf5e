/*
 * bench.h — the pieces of `agentmem bench` (cmd_bench.c parses and prints):
 *   bench_run.c  the timed runs over one engine: a prefill (pp), decode steps
 *                of one sequence (tg), both on top of an untimed prefill of
 *                D tokens (depth), and S sequences decoding together, one
 *                S-row forward per step (batched);
 *   bench_model.c what the rows report about the model: its type, its
 *                parameters, the bytes a decode step reads;
 *   bench_report.c the rows: their bounds, the table, the JSON;
 *   bench_hw.c   the machine's bounds: read bandwidth streamed by the compute
 *                threads, the core clock, the int8 dot-product peak.
 * Private to src/cli/. Times are seconds; -1 (with err) on an engine error.
 */
#ifndef AM_CLI_BENCH_H
#define AM_CLI_BENCH_H

#include "compute/pool.h"
#include "engine/forward.h"
#include "model/synth_rng.h"

/* What every run needs: the engine, one reusable batch (room for max_batch
 * tokens), a logits buffer ([max_rows][n_vocab]) and the token generator. */
typedef struct bench_ctx {
    am_engine *e;
    am_batch b;
    float *logits;
    int max_rows; /* logits rows the buffer holds */
    am_rng rng;
} bench_ctx;

/* Appends n random tokens to seq (which holds am_engine_seq_len tokens) in
 * chunks of the engine's max_batch, logits for the last token only. Not
 * timed: this is how the depth and batched runs fill their context. */
int bench_prefill(bench_ctx *c, int seq, int n, am_err *err);
/* One timed prefill of n tokens appended to seq (one forward when n <=
 * max_batch, as pp512 is), logits for the last one. */
double bench_pp(bench_ctx *c, int seq, int n, am_err *err);
/* n timed decode steps appended to seq, each one token with its logits. */
double bench_tg(bench_ctx *c, int seq, int n, am_err *err);
/* g timed decode steps of the s sequences seqs[0..s), each step one forward
 * of s rows (one token of every sequence, all with logits); s <= max_rows. */
double bench_batched(bench_ctx *c, const int *seqs, int s, int g, am_err *err);

/* Read bandwidth in bytes/s: the best of `passes` passes over a buffer of
 * `bytes`, each pass split evenly over the pool's threads, read with the
 * widest vector loads the CPU has (AVX-512, AVX2, else 64-bit). *isa gets
 * the load width's name. Returns -1 with err if the buffer cannot be had. */
double bench_read_bandwidth(am_pool *pool, size_t bytes, int passes, const char **isa, am_err *err);

/* The core clock in MHz: a timed chain of dependent adds (one per cycle) on
 * x86-64, *source "timing loop"; else /proc/cpuinfo's "cpu MHz" ("cpuinfo");
 * 0 if neither. */
double bench_clock_mhz(const char **source);

/* The int8 dot-product peak in ops/s (multiply and add count two) of the
 * pool's threads, measured: vpdpbusd loops of each width the CPU has run on
 * every thread at once, the best rate wins (a width's promise is not what a
 * core issues: zmm at one per cycle on some Zen 5 parts). *how (how_cap
 * bytes) says which width and its instructions per cycle at mhz. Without
 * VNNI: an estimate from mhz, and *how says so. */
double bench_int8_peak(am_pool *pool, double mhz, char *how, size_t how_cap);

/* ---- rows (bench_report.c) ---- */

typedef struct bench_result {
    double mean, sd; /* tokens per second */
} bench_result;

bench_result bench_stats(const double *tps, int n);

#define BENCH_MAX_ROWS 48 /* 16 depths x (pp + tg) + 16 sequence counts */

/* One measured line: what it is, its speed, and its bound. */
typedef struct bench_row {
    char test[48];     /* "pp512", "tg128 @ d4096", "4x tg128 @ d1024" */
    char kind[4];      /* "pp" or "tg" */
    int n, depth, seqs;
    int64_t cached;    /* tokens the engine held in the row's sequences before a run */
    int64_t tokens;    /* tokens a run added, summed over its sequences */
    int advanced;      /* sequences that grew by exactly n in a run */
    bool batched;      /* a --seqs row (named "Sx tgN @ dC" even for S = 1) */
    bench_result r;
    double gops;       /* pp: matmul GOP/s */
    double wbytes;     /* tg: weight bytes read per second */
    double vs_short;   /* tg @ depth: its speed / the depth-0 tg's (0: none) */
} bench_row;

/* What rows need to derive their bounds and print themselves. */
typedef struct bench_report {
    const char *name, *type, *kv;
    char size[32], nparams[32];
    int threads;
    uint64_t layer_params, out_params, decode_bytes;
    double bandwidth, peak; /* bytes/s, int8 ops/s; 0: not measured */
    bool json;
    const char *path, *loads, *clock_src, *peak_how; /* for the JSON */
    double mhz;
    int reps, memory_mib;
    bench_row rows[BENCH_MAX_ROWS];
    int n_rows;
} bench_report;

/* The table's header line. */
void bench_report_header(void);
/* Derives the row's bounds (GOP/s, weight bytes/s, share of the depth-0
 * tg), keeps it, and prints it unless rp->json. */
void bench_report_add(bench_report *rp, bench_row w);
/* The JSON object of every kept row and the machine's and model's numbers
 * (m NULL: --memory alone). */
void bench_report_json(const bench_report *rp, const am_model *m);

/* "Q4_0", "F16"...: the file type a GGUF declares, else the type of the
 * first layer's attention query matrix, upper-cased as llama.cpp spells it
 * (a static buffer: one model at a time). */
const char *bench_weights_type(const am_model *m);
/* Parameters: every tensor of a GGUF file; for a Hugging Face folder, the
 * weights the model holds (matrices, biases and norms). */
uint64_t bench_n_params(const am_model *m);
/* Elements of the matrices every token multiplies (q k v o gate up down of
 * all layers), and of the output matrix (for the tokens that want logits):
 * 2 x these = the matmul ops of a forward. */
uint64_t bench_layer_matmul_params(const am_model *m);
uint64_t bench_output_params(const am_model *m);
/* Bytes one decode step reads from the weights: those matrices and the
 * output matrix (the token embedding table only through a tied output; one
 * embedding row and the norms are left out). */
uint64_t bench_decode_bytes(const am_model *m);
/* KV bytes one cached token takes over all layers with element type t (K
 * and V; sliding windows ignored: an upper bound). */
uint64_t bench_kv_bytes_per_token(const am_model *m, am_type t);

#endif
