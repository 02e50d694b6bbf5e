/* cmd_mkmodel.c — `agentmem mkmodel`: argument parsing only; the model is
 * made by am_synth_write (src/model/synth.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/engine_opts.h"
#include "model/synth.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: agentmem mkmodel --shape SHAPE --type TYPE [--seed N] [--vocab tokenizer.json]\n"
            "                        [--threads N] [--quiet] OUT.gguf\n\n"
            "Writes a GGUF model with random weights in the exact shape of a real one, for\n"
            "benchmarks and tests without downloads. Its text is noise.\n\n"
            "  --shape SHAPE     tiny       llama-shaped, 256 wide, 4 layers, 2048 tokens (the default model)\n"
            "                    llama-1b   Llama-3.2-1B:  2048 wide, 16 layers, 32/8 heads, 128256 tokens, tied\n"
            "                    llama-8b   Llama-3.1-8B:  4096 wide, 32 layers, 32/8 heads, 128256 tokens\n"
            "                    qwen-0.5b  Qwen2.5-0.5B:  896 wide, 24 layers, 14/2 heads, q/k/v biases, tied\n"
            "                    gemma3-1b  Gemma-3-1B:    1152 wide, 26 layers, 4/1 heads of 256, window 512, tied\n"
            "  --type TYPE       f16 | bf16 | q8_0 | q4_0 | q4_k  (q4_0/q4_k: the output matrix is Q6_K as\n"
            "                    llama.cpp makes it; q4_k is llama.cpp's Q4_K_M mix; norms are always F32)\n"
            "  --seed N          weight seed (default 1); same seed, same file\n"
            "  --vocab FILE      copy a real tokenizer.json instead of generating a vocabulary\n"
            "  --threads N       threads for generating and quantizing, 0..1024 (default 0: one per core)\n"
            "  --quiet           no progress lines\n");
}

static bool parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) return false;
    *out = v;
    return true;
}

int am_cmd_mkmodel(int argc, char **argv) {
    am_synth_params p = am_synth_default_params();
    p.progress = true;
    const char *shape = NULL, *type = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--shape") && v) {
            shape = v;
            i++;
        } else if (!strcmp(a, "--type") && v) {
            type = v;
            i++;
        } else if (!strcmp(a, "--seed") && v) {
            if (!parse_u64(v, &p.seed)) goto bad_value;
            i++;
        } else if (!strcmp(a, "--vocab") && v) {
            p.vocab_path = v;
            i++;
        } else if (!strcmp(a, "--threads") && v) {
            if (!am_opt_threads("mkmodel", v, &p.n_threads)) return 2;
            i++;
        } else if (!strcmp(a, "--quiet")) {
            p.progress = false;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "agentmem mkmodel: unknown option or missing value: %s\n\n", a);
            usage(stderr);
            return 2;
        } else if (!out) {
            out = a;
        } else {
            fprintf(stderr, "agentmem mkmodel: more than one output path\n");
            return 2;
        }
        continue;
    bad_value:
        fprintf(stderr, "agentmem mkmodel: bad value for %s: %s\n", a, v);
        return 2;
    }
    if (!shape || !type || !out) {
        fprintf(stderr, "agentmem mkmodel: --shape, --type and an output path are required\n\n");
        usage(stderr);
        return 2;
    }
    if (!am_synth_find_shape(shape)) {
        fprintf(stderr, "agentmem mkmodel: unknown shape '%s' (tiny, llama-1b, llama-8b, qwen-0.5b, gemma3-1b)\n",
                shape);
        return 2;
    }
    if (!am_synth_parse_ftype(type, &p.ftype)) {
        fprintf(stderr, "agentmem mkmodel: unknown type '%s' (f16, bf16, q8_0, q4_0, q4_k)\n", type);
        return 2;
    }
    p.shape = shape;
    am_err err = {0};
    if (am_synth_write(&p, out, &err) != 0) {
        fprintf(stderr, "agentmem mkmodel: %s\n", err.msg);
        return 1;
    }
    return 0;
}
