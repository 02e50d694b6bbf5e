/*
 * cmd_tokenize.c — `agentmem tokenize`: text to token ids, for people
 * debugging prompts and for the tests. Prints ids separated by spaces (or
 * JSON with the pieces); --bench measures encoding speed instead.
 * Owns only its arguments' parsing and printing; tokenizing is src/text/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/file.h"
#include "cli/commands.h"
#include "cli/engine_opts.h"
#include "text/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentmem tokenize --tokenizer PATH [--json] [--special] [--split-special]\n"
            "                         (TEXT | --text-file FILE) [--bench MB]\n\n"
            "Encodes text into token ids exactly as the model's tokenizer does.\n\n"
            "  --tokenizer PATH   a GGUF file, a Hugging Face folder, a tokenizer.json\n"
            "                     or a SentencePiece tokenizer.model\n"
            "  --text-file FILE   read the text from FILE (raw bytes; - for stdin)\n"
            "  --json             print {\"ids\":[...],\"pieces\":[...]}\n"
            "  --special          add BOS/EOS as the model's configuration says\n"
            "  --split-special    treat special-token text (e.g. <|im_start|>) as plain text\n"
            "  --bench MB         encode the text repeated to MB megabytes on one core and\n"
            "                     print the load time and the encoding speed\n");
}

/* JSON string of arbitrary bytes: invalid UTF-8 becomes U+FFFD. */
static void put_json_str(FILE *f, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
            i++;
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            fputc((int)c, f);
            i++;
        } else {
            /* validate one sequence */
            int l = (c >= 0xC2 && c < 0xE0) ? 2 : (c >= 0xE0 && c < 0xF0) ? 3 : (c >= 0xF0 && c < 0xF5) ? 4 : 0;
            bool ok = l && i + (size_t)l <= n;
            for (int k = 1; ok && k < l; k++) ok = (u[i + (size_t)k] & 0xC0) == 0x80;
            if (ok && l == 3 && ((c == 0xE0 && u[i + 1] < 0xA0) || (c == 0xED && u[i + 1] >= 0xA0))) ok = false;
            if (ok && l == 4 && ((c == 0xF0 && u[i + 1] < 0x90) || (c == 0xF4 && u[i + 1] >= 0x90))) ok = false;
            if (ok) {
                fwrite(u + i, 1, (size_t)l, f);
                i += (size_t)l;
            } else {
                fputs("\xef\xbf\xbd", f);
                i++;
            }
        }
    }
    fputc('"', f);
}

static int bench(const am_tokenizer *t, double load_s, const char *text, size_t n, double mb) {
    if (!n) {
        fprintf(stderr, "agentmem tokenize: --bench needs a non-empty text\n");
        return 2;
    }
    size_t want = (size_t)(mb * 1e6);
    if (want < n) want = n;
    char *big = am_xmalloc(want + 1);
    size_t k = 0;
    while (k < want) {
        size_t c = AM_MIN(n, want - k);
        memcpy(big + k, text, c);
        k += c;
    }
    am_tokens ids = {0};
    am_err err;
    double t0 = am_time_now();
    int rc = am_tokenizer_encode(t, big, want, NULL, &ids, &err);
    double dt = am_time_now() - t0;
    if (rc) {
        fprintf(stderr, "agentmem tokenize: %s\n", err.msg);
        free(big);
        return 1;
    }
    printf("tokenizer: %s\n", am_tokenizer_describe(t));
    printf("load: %.3f s\n", load_s);
    printf("encode: %zu bytes -> %zu tokens in %.3f s = %.2f MB/s (%.0f tokens/s)\n", want, ids.n, dt,
           (double)want / 1e6 / dt, (double)ids.n / dt);
    am_tokens_free(&ids);
    free(big);
    return 0;
}

int am_cmd_tokenize(int argc, char **argv) {
    const char *tok_path = NULL, *text = NULL, *text_file = NULL;
    bool json = false, special = false, split_special = false;
    double bench_mb = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tokenizer") && i + 1 < argc) {
            tok_path = argv[++i];
        } else if (!strcmp(a, "--text-file") && i + 1 < argc) {
            text_file = argv[++i];
        } else if (!strcmp(a, "--bench") && i + 1 < argc) {
            bench_mb = atof(argv[++i]);
            if (bench_mb <= 0 || bench_mb > 1000) {
                fprintf(stderr, "agentmem tokenize: --bench takes megabytes in (0, 1000]\n");
                return 2;
            }
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--special")) {
            special = true;
        } else if (!strcmp(a, "--split-special")) {
            split_special = true;
        } else if (!strcmp(a, "--")) {
            if (i + 1 < argc && !text) text = argv[++i];
            if (i + 1 < argc) {
                usage(stderr);
                return 2;
            }
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "agentmem tokenize: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!text) {
            text = a;
        } else {
            fprintf(stderr, "agentmem tokenize: give one TEXT (quote it)\n");
            return 2;
        }
    }
    if (!tok_path || (!text == !text_file)) {
        usage(stderr);
        return 2;
    }
    am_err err;
    char *buf = NULL;
    size_t n = 0;
    if (text_file) {
        buf = am_read_input(text_file, AM_TOK_MAX_INPUT, &n, &err);
        if (!buf) {
            fprintf(stderr, "agentmem tokenize: %s\n", err.msg);
            return 1;
        }
        text = buf;
    } else {
        n = strlen(text);
    }
    double t0 = am_time_now();
    am_tokenizer *t = am_tokenizer_load(tok_path, &err);
    double load_s = am_time_now() - t0;
    if (!t) {
        fprintf(stderr, "agentmem tokenize: %s\n", err.msg);
        free(buf);
        return 1;
    }
    int rc = 0;
    if (bench_mb > 0) {
        rc = bench(t, load_s, text, n, bench_mb);
        goto done;
    }
    am_tok_encode_params p = {.add_special = special, .parse_special = !split_special};
    am_tokens ids = {0};
    if (am_tokenizer_encode(t, text, n, &p, &ids, &err)) {
        fprintf(stderr, "agentmem tokenize: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    if (json) {
        fputs("{\"ids\":[", stdout);
        for (size_t i = 0; i < ids.n; i++) printf("%s%d", i ? "," : "", ids.ids[i]);
        fputs("],\"pieces\":[", stdout);
        for (size_t i = 0; i < ids.n; i++) {
            size_t pl = 0;
            const char *piece = am_tokenizer_piece(t, ids.ids[i], &pl);
            if (i) fputc(',', stdout);
            put_json_str(stdout, piece ? piece : "", piece ? pl : 0);
        }
        fputs("]}\n", stdout);
    } else {
        for (size_t i = 0; i < ids.n; i++) printf("%s%d", i ? " " : "", ids.ids[i]);
        fputc('\n', stdout);
    }
    am_tokens_free(&ids);
done:
    am_tokenizer_free(t);
    free(buf);
    /* main() reports a failed write to stdout */
    return rc;
}
