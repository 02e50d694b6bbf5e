/* main.c — `agentmem <command> [options]`: dispatch only; each command lives in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

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
            "usage: agentmem <command> [options]   (agentmem <command> --help for details)\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "agentmem: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
