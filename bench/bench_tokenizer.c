/*
 * bench_tokenizer.c — tokenizer load time and encoding speed on one core.
 *
 * Text: the Wikipedia paragraphs of tests/fixtures/tokenizers/llama3/golden.json
 * (the long cases), concatenated and repeated to --mb megabytes. For each
 * vocabulary (the npm tokenizer.json files): load time, then the best of
 * --reps encodings of the whole text, in MB/s and tokens/s. Times are given
 * by the wall clock and by the thread's CPU clock: on a shared machine the
 * CPU clock says what the work costs when it has the core.
 *
 *   build/bench/bench_tokenizer [--mb 4] [--reps 3] [--families llama3,gemma3,...]
 *                               [--dir tests/npm/node_modules/@lenml] [--json bench/out/tokenizer.json]
 * Run from the repository root. The targets: >= 10 MB/s encoding with
 * the Llama 3 vocabulary, and the 262K-entry Gemma 3 vocabulary loading in
 * well under a second.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "text/tokenizer.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *wiki_text(size_t want, size_t *n_out) {
    json_error_t je;
    json_t *g = json_load_file("tests/fixtures/tokenizers/llama3/golden.json", 0, &je);
    if (!g) {
        fprintf(stderr, "bench_tokenizer: golden.json: %s (run from the repository root)\n", je.text);
        return NULL;
    }
    size_t cap = 1 << 20, n = 0, i;
    char *base = malloc(cap);
    json_t *c;
    json_array_foreach(json_object_get(g, "cases"), i, c) {
        json_t *t = json_object_get(c, "text");
        size_t l = json_string_length(t);
        if (l < 2000) continue; /* the paragraphs, not the short test strings */
        if (n + l > cap) base = realloc(base, cap = (n + l) * 2);
        memcpy(base + n, json_string_value(t), l);
        n += l;
    }
    json_decref(g);
    if (!n) {
        free(base);
        return NULL;
    }
    char *big = malloc(want);
    for (size_t k = 0; k < want; k += n) memcpy(big + k, base, AM_MIN(n, want - k));
    free(base);
    *n_out = want;
    return big;
}

int main(int argc, char **argv) {
    double mb = 4;
    int reps = 3;
    const char *families = "llama3,qwen3,gemma3,llama2,gptoss,deepseek_v3";
    const char *json_out = "bench/out/tokenizer.json";
    const char *dir = "tests/npm/node_modules/@lenml";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--families") && i + 1 < argc) families = argv[++i];
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_out = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_tokenizer [--mb 4] [--reps 3] [--families a,b] [--dir DIR] [--json FILE]\n");
            return 2;
        }
    }
    if (mb <= 0 || mb > 1000 || reps < 1) return 2;
    size_t n = 0;
    char *text = wiki_text((size_t)(mb * 1e6), &n);
    if (!text) return 1;
    printf("text: %zu bytes of Wikipedia paragraphs; best of %d; one thread\n\n", n, reps);
    printf("| vocabulary  | tokens | load wall s | load cpu s | encode MB/s wall | encode MB/s cpu | tokens/s cpu |\n");
    printf("| ----------- | -----: | ----------: | ---------: | ---------------: | --------------: | -----------: |\n");
    json_t *res = json_array();
    char fam_list[512];
    snprintf(fam_list, sizeof fam_list, "%s", families);
    for (char *f = strtok(fam_list, ","); f; f = strtok(NULL, ",")) {
        char path[512];
        snprintf(path, sizeof path, "%s/tokenizer-%s/models/tokenizer.json", dir, f);
        am_err err;
        double w0 = am_time_now(), c0 = cpu_now();
        am_tokenizer *t = am_tokenizer_load(path, &err);
        double lw = am_time_now() - w0, lc = cpu_now() - c0;
        if (!t) {
            fprintf(stderr, "bench_tokenizer: %s: %s\n", f, err.msg);
            continue;
        }
        double bw = 1e30, bc = 1e30;
        size_t ntok = 0;
        for (int r = 0; r < reps; r++) {
            am_tokens ids = {0};
            double a = am_time_now(), b = cpu_now();
            if (am_tokenizer_encode(t, text, n, NULL, &ids, &err)) {
                fprintf(stderr, "bench_tokenizer: %s: %s\n", f, err.msg);
                break;
            }
            double dw = am_time_now() - a, dc = cpu_now() - b;
            if (dw < bw) bw = dw;
            if (dc < bc) bc = dc;
            ntok = ids.n;
            am_tokens_free(&ids);
        }
        printf("| %-11s | %6d | %11.3f | %10.3f | %16.2f | %15.2f | %12.0f |\n", f, am_tokenizer_n_vocab(t), lw, lc,
               (double)n / 1e6 / bw, (double)n / 1e6 / bc, (double)ntok / bc);
        json_array_append_new(res, json_pack("{s:s,s:i,s:f,s:f,s:f,s:f,s:I}", "vocabulary", f, "tokens",
                                             (int)am_tokenizer_n_vocab(t), "load_wall_s", lw, "load_cpu_s", lc,
                                             "encode_mb_s_wall", (double)n / 1e6 / bw, "encode_mb_s_cpu",
                                             (double)n / 1e6 / bc, "text_tokens", (json_int_t)ntok));
        am_tokenizer_free(t);
    }
    char load[64] = "";
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (!fgets(load, sizeof load, la)) load[0] = 0;
        fclose(la);
        load[strcspn(load, "\n")] = 0;
    }
    printf("\nload average: %s\n", load);
    json_t *doc = json_pack("{s:f,s:i,s:s,s:o}", "text_mb", (double)n / 1e6, "reps", reps, "loadavg", load, "results", res);
    if (json_out && json_dump_file(doc, json_out, JSON_INDENT(2)) == 0) printf("wrote %s\n", json_out);
    json_decref(doc);
    free(text);
    return 0;
}
