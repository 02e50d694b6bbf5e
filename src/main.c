/*
 * main.c — `agentmem <command> [options]`: dispatch only; each command lives
 * in src/cli/. Two things hold for every command and so live here: options
 * may be written `--name=value` as well as `--name value`, and output that
 * could not be written to stdout (a full disk, `> /dev/full`) is a failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/commands.h"
#include "compute/matmul.h"

#ifndef AM_VERSION
#define AM_VERSION "0.0.0"
#endif
#ifndef AM_COMMIT
#define AM_COMMIT "unknown"
#endif

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"run", am_cmd_run, "generate a continuation of token ids, text or a chat"},
    {"logits", am_cmd_logits, "write every position's logits for token ids (float32 [pos][vocab])"},
    {"perplexity", am_cmd_perplexity, "perplexity of a model over a text or id file"},
    {"bench", am_cmd_bench, "prompt processing and generation speed (pp512, tg128)"},
    {"mkmodel", am_cmd_mkmodel, "write a random-weight GGUF model of a real shape"},
    {"convert", am_cmd_convert, "convert a Hugging Face folder to a GGUF file (f16, bf16, q8_0, q4_0, q4_k)"},
    {"model", am_cmd_model, "inspect a model file or folder (model info PATH)"},
    {"tokenize", am_cmd_tokenize, "text to token ids"},
    {"detokenize", am_cmd_detokenize, "token ids to text"},
    {"template", am_cmd_template, "render a chat template exactly"},
    {"serve", am_cmd_serve, "HTTP server: OpenAI and Anthropic APIs with per-agent KV caches"},
    {"cache", am_cmd_cache, "list, show, verify or remove per-agent KV cache files"},
};

static void usage(FILE *out) {
    fprintf(out,
            "agentmem — an LLM server with a persistent per-agent KV cache\n\n"
            "usage: agentmem <command> [options]   (agentmem <command> --help for details)\n"
            "       agentmem --version\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

static void version(void) {
    printf("agentmem %s (commit %s)\n", AM_VERSION, AM_COMMIT);
#ifdef __VERSION__
    printf("compiler: %s %s\n",
#ifdef __clang__
           "clang",
#else
           "gcc",
#endif
           __VERSION__);
#endif
    printf("isa: %s\n", am_compute_isa());
}

/* argv with every `--name=value` before a lone `--` split in two: v
 * borrows argv's strings except the names, which it owns (names[0..n_names)). */
typedef struct split_args {
    char **v, **names;
    int argc, n_names;
} split_args;

static void split_eq(int argc, char **argv, split_args *s) {
    s->v = am_xmalloc(((size_t)argc * 2 + 1) * sizeof *s->v);
    s->names = am_xmalloc(((size_t)argc + 1) * sizeof *s->names);
    s->argc = s->n_names = 0;
    bool opts = true;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        if (opts && !strcmp(a, "--")) opts = false;
        if (opts && i > 0 && a[0] == '-' && a[1] == '-' && a[2] && eq && eq > a + 2) {
            char *name = am_xmalloc((size_t)(eq - a) + 1);
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            s->names[s->n_names++] = name;
            s->v[s->argc++] = name;
            s->v[s->argc++] = (char *)eq + 1;
        } else {
            s->v[s->argc++] = argv[i];
        }
    }
    s->v[s->argc] = NULL;
}

static void split_free(split_args *s) {
    for (int i = 0; i < s->n_names; i++) free(s->names[i]);
    free(s->names);
    free(s->v);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    int rc = -1;
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        rc = 0;
    } else if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        version();
        rc = 0;
    }
    for (size_t i = 0; rc < 0 && i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) {
            split_args sa;
            split_eq(argc - 1, argv + 1, &sa);
            rc = COMMANDS[i].fn(sa.argc, sa.v);
            split_free(&sa);
        }
    if (rc < 0) {
        fprintf(stderr, "agentmem: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    /* Output lost is never success: stdio keeps the error until here (a
     * command that failed has said why already). */
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
        fprintf(stderr, "agentmem %s: writing the output: %s\n", argv[1], errno ? strerror(errno) : "write error");
        return 1;
    }
    return rc;
}
