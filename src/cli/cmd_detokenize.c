/*
 * cmd_detokenize.c — `agentmem detokenize`: token ids back to the exact bytes
 * of the text (nothing added, no newline), for debugging and tests.
 * Ids may be separate arguments or one argument with spaces or commas.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/commands.h"
#include "text/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentmem detokenize --tokenizer PATH [--skip-special] [--keep-prefix-space] IDS...\n\n"
            "Prints the exact text that token ids stand for (no newline added).\n\n"
            "  --tokenizer PATH      a GGUF file, a Hugging Face folder, a tokenizer.json\n"
            "                        or a SentencePiece tokenizer.model\n"
            "  --skip-special        leave out special tokens (BOS, <|im_end|>...)\n"
            "  --keep-prefix-space   keep the SentencePiece dummy-prefix space at the start\n"
            "  IDS                   \"1 2 3\", 1,2,3 or 1 2 3\n");
}

/* Parses ids from s (separated by spaces/commas) into out; -1 on a bad one. */
static int parse_ids(const char *s, am_tokens *out) {
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX || (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n'))
            return -1;
        am_tokens_push(out, (int32_t)v);
        s = end;
    }
    return 0;
}

int am_cmd_detokenize(int argc, char **argv) {
    const char *tok_path = NULL;
    am_tok_decode_params p = am_tok_decode_default_params();
    am_tokens ids = {0};
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            am_tokens_free(&ids);
            return 0;
        } else if (!strcmp(a, "--tokenizer") && i + 1 < argc) {
            tok_path = argv[++i];
        } else if (!strcmp(a, "--skip-special")) {
            p.skip_special = true;
        } else if (!strcmp(a, "--keep-prefix-space")) {
            p.strip_leading = false;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "agentmem detokenize: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            am_tokens_free(&ids);
            return 2;
        } else if (parse_ids(a, &ids)) {
            fprintf(stderr, "agentmem detokenize: bad token id in '%s'\n", a);
            am_tokens_free(&ids);
            return 2;
        }
    }
    if (!tok_path) {
        usage(stderr);
        am_tokens_free(&ids);
        return 2;
    }
    am_err err;
    am_tokenizer *t = am_tokenizer_load(tok_path, &err);
    if (!t) {
        fprintf(stderr, "agentmem detokenize: %s\n", err.msg);
        am_tokens_free(&ids);
        return 1;
    }
    size_t n = 0;
    char *text = am_tokenizer_decode(t, ids.ids, ids.n, &p, &n, &err);
    if (!text) {
        fprintf(stderr, "agentmem detokenize: %s\n", err.msg);
        rc = 1;
    } else {
        fwrite(text, 1, n, stdout); /* a failed write is reported by main() */
    }
    free(text);
    am_tokenizer_free(t);
    am_tokens_free(&ids);
    return rc;
}
