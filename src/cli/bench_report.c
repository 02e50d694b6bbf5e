/* bench_report.c — the rows of `agentmem bench` (bench.h): each row's
 * bounds derived from the model's counts and the machine's, the table
 * printed row by row as measured, and the JSON object of all rows. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/bench.h"
#include "compute/matmul.h"

bench_result bench_stats(const double *tps, int n) {
    bench_result r = {0, 0};
    for (int i = 0; i < n; i++) r.mean += tps[i];
    r.mean /= n;
    for (int i = 0; i < n; i++) r.sd += (tps[i] - r.mean) * (tps[i] - r.mean);
    r.sd = n > 1 ? sqrt(r.sd / (n - 1)) : 0;
    return r;
}

void bench_report_header(void) {
    printf("| %-24s | %10s | %7s | %-6s | %7s | %-6s | %-4s | %18s | %16s | %-34s |\n", "model", "size", "params",
           "type", "threads", "isa", "kv", "test", "t/s", "bound");
    printf("| ------------------------ | ---------: | ------: | ------ | ------: | ------ | ---- | -----------------: "
           "| ---------------: | ---------------------------------- |\n");
    fflush(stdout);
}

void bench_report_add(bench_report *rp, bench_row w) {
    if (!strcmp(w.kind, "pp")) {
        double ops = 2.0 * (double)rp->layer_params * w.n + 2.0 * (double)rp->out_params; /* logits: the last */
        w.gops = ops * (w.r.mean / w.n) / 1e9;
    } else {
        w.wbytes = (double)rp->decode_bytes * w.r.mean / w.seqs; /* one weight pass per step */
        for (int i = 0; i < rp->n_rows && w.depth > 0 && !w.batched; i++)
            if (!strcmp(rp->rows[i].kind, "tg") && rp->rows[i].depth == 0 && !rp->rows[i].batched &&
                rp->rows[i].n == w.n && rp->rows[i].r.mean > 0)
                w.vs_short = w.r.mean / rp->rows[i].r.mean;
    }
    rp->rows[rp->n_rows++] = w;
    if (rp->json) return;
    char tsec[48], bound[64];
    snprintf(tsec, sizeof tsec, "%.2f ± %.2f", w.r.mean, w.r.sd);
    if (w.gops > 0)
        snprintf(bound, sizeof bound, rp->peak > 0 ? "%.0f GOP/s, %.0f%% int8" : "%.0f GOP/s", w.gops,
                 100 * w.gops * 1e9 / rp->peak);
    else if (rp->bandwidth > 0)
        snprintf(bound, sizeof bound, "%.1f GB/s, %.0f%% of read", w.wbytes / 1e9, 100 * w.wbytes / rp->bandwidth);
    else snprintf(bound, sizeof bound, "%.1f GB/s weights", w.wbytes / 1e9);
    if (w.vs_short > 0) {
        size_t l = strlen(bound);
        snprintf(bound + l, sizeof bound - l, ", %.0f%% of d0", 100 * w.vs_short);
    }
    /* "±" is two bytes: one more byte of width keeps the column */
    printf("| %-24.24s | %10s | %7s | %-6s | %7d | %-6s | %-4s | %18s | %17s | %-34s |\n", rp->name, rp->size,
           rp->nparams, rp->type, rp->threads, am_compute_isa(), rp->kv, w.test, tsec, bound);
    fflush(stdout);
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

void bench_report_json(const bench_report *rp, const am_model *m) {
    printf("{");
    for (int i = 0; i < rp->n_rows; i++) {
        const bench_row *w = &rp->rows[i];
        if (w->depth == 0 && !w->batched)
            printf("\"%s%d\": %.2f, \"%s%d_sd\": %.2f, ", w->kind, w->n, w->r.mean, w->kind, w->n, w->r.sd);
    }
    printf("\"tests\": [");
    for (int i = 0; i < rp->n_rows; i++) {
        const bench_row *w = &rp->rows[i];
        printf("%s{\"test\": \"%s\", \"kind\": \"%s\", \"n\": %d, \"depth\": %d, \"seqs\": %d, "
               "\"batched\": %s, \"cached\": %lld, \"tokens\": %lld, \"seqs_advanced\": %d, \"tps\": %.3f, "
               "\"sd\": %.3f",
               i ? ", " : "", w->test, w->kind, w->n, w->depth, w->seqs, w->batched ? "true" : "false", (long long)w->cached,
               (long long)w->tokens, w->advanced, w->r.mean, w->r.sd);
        if (w->gops > 0) printf(", \"gops\": %.2f", w->gops);
        if (w->gops > 0 && rp->peak > 0) printf(", \"int8_peak_share\": %.4f", w->gops * 1e9 / rp->peak);
        if (w->wbytes > 0) printf(", \"weight_bytes_per_s\": %.0f", w->wbytes);
        if (w->wbytes > 0 && rp->bandwidth > 0) printf(", \"bandwidth_share\": %.6g", w->wbytes / rp->bandwidth);
        if (w->vs_short > 0) printf(", \"vs_depth0\": %.4f", w->vs_short);
        printf("}");
    }
    printf("], ");
    if (rp->bandwidth > 0)
        printf("\"memory\": {\"read_bytes_per_s\": %.0f, \"mib\": %d, \"loads\": \"%s\"}, ", rp->bandwidth,
               rp->memory_mib, rp->loads);
    printf("\"clock_mhz\": %.0f, \"clock_source\": \"%s\", \"int8_peak_ops\": %.0f, \"int8_peak\": \"%s\", ",
           rp->mhz, rp->clock_src, rp->peak, rp->peak_how);
    if (m) {
        printf("\"model\": ");
        json_str(stdout, rp->path);
        printf(", \"arch\": \"%s\", \"type\": \"%s\", \"size\": %llu, \"params\": %llu, \"decode_bytes\": %llu, "
               "\"kv\": \"%s\", ",
               am_arch_name(m->hp.arch), rp->type, (unsigned long long)m->weight_bytes,
               (unsigned long long)bench_n_params(m), (unsigned long long)rp->decode_bytes, rp->kv);
    }
    printf("\"threads\": %d, \"isa\": \"%s\", \"reps\": %d}\n", rp->threads, am_compute_isa(), rp->reps);
}

