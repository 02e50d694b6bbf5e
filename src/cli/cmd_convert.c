/* cmd_convert.c — `agentmem convert`: argument parsing only; the conversion
 * is am_convert (src/model/convert.c). */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/engine_opts.h"
#include "model/convert.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: agentmem convert HF_DIR OUT.gguf [--type f16|bf16|q8_0|q4_0|q4_k] [--threads N] [--quiet]\n\n"
            "Converts a Hugging Face model folder (config.json, model.safetensors or shards,\n"
            "tokenizer.json or tokenizer.model, tokenizer_config.json) of Llama, Qwen2, Qwen3 or\n"
            "Gemma3 into one GGUF file as llama.cpp's converter and quantizer make it: the same\n"
            "metadata keys, tensor names and type mix, the tokenizer and the chat template.\n"
            "The tokenizer is checked on probe strings before any weight is written; OUT.gguf\n"
            "appears only when the whole file is written (on failure it is left as it was).\n\n"
            "  --type TYPE   f16 (default) | bf16 | q8_0 | q4_0 | q4_k; norms and biases stay F32;\n"
            "                q4_0/q4_k: the output matrix is Q6_K; q4_k is llama.cpp's Q4_K_M mix\n"
            "                (rows that are no multiple of 256 fall back to Q4_0 / Q8_0)\n"
            "  --threads N   quantizing threads, 0..1024 (default 0: one per core)\n"
            "  --quiet       no progress lines\n");
}

int am_cmd_convert(int argc, char **argv) {
    am_convert_params p = am_convert_default_params();
    p.progress = true;
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--type") && v) {
            if (!am_synth_parse_ftype(v, &p.ftype)) {
                fprintf(stderr, "agentmem convert: unknown type '%s' (f16, bf16, q8_0, q4_0, q4_k)\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--threads") && v) {
            if (!am_opt_threads("convert", v, &p.n_threads)) return 2;
            i++;
        } else if (!strcmp(a, "--quiet")) {
            p.progress = false;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "agentmem convert: unknown option or missing value: %s\n\n", a);
            usage(stderr);
            return 2;
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            fprintf(stderr, "agentmem convert: more than two paths\n");
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "agentmem convert: HF_DIR and OUT.gguf are required\n\n");
        usage(stderr);
        return 2;
    }
    am_err err = {0};
    if (am_convert(in, out, &p, &err) != 0) {
        fprintf(stderr, "agentmem convert: %s\n", err.msg);
        return 1;
    }
    return 0;
}
