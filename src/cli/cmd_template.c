/*
 * cmd_template.c — `agentmem template`: renders a model's chat template for
 * a conversation and prints exactly the prompt text, nothing added, so it can
 * be compared byte for byte with transformers' apply_chat_template.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "base/file.h"
#include "cli/commands.h"
#include "text/template.h"

#define MAX_INPUT_BYTES (256u << 20)

static void usage(FILE *out) {
    fprintf(out,
            "usage: agentmem template (--model PATH | --tokenizer-config FILE | --template FILE)\n"
            "                         --messages FILE.json [--tools FILE.json] [--add-generation-prompt]\n"
            "                         [--bos TEXT] [--eos TEXT] [--var NAME=JSON]... [--name TEMPLATE_NAME]\n"
            "                         [--now YYYY-MM-DD[THH:MM:SS] | --now EPOCH_SECONDS]\n\n"
            "Renders the chat template as Hugging Face transformers' apply_chat_template does and\n"
            "prints exactly the prompt text.\n\n"
            "  --model PATH            a GGUF file (tokenizer.chat_template) or a Hugging Face folder;\n"
            "                          BOS/EOS texts come from the model's tokenizer metadata\n"
            "  --tokenizer-config FILE tokenizer_config.json (chat_template, bos_token, eos_token)\n"
            "  --template FILE         the template text itself\n"
            "  --messages FILE         JSON array of messages (or an object with \"messages\")\n"
            "  --tools FILE            JSON array of tool schemas (else tools is None)\n"
            "  --add-generation-prompt end with the assistant turn's header\n"
            "  --bos/--eos TEXT        bos_token / eos_token (override the model's)\n"
            "  --var NAME=JSON         another template variable, e.g. enable_thinking=false\n"
            "  --name NAME             a named template (e.g. tool_use) from a template list\n"
            "  --now DATE              the clock strftime_now reads (UTC), for reproducible output\n");
}

static json_t *load_json_file(const char *path) {
    am_err err;
    size_t n;
    char *text = am_file_read_all(path, MAX_INPUT_BYTES, &n, &err);
    if (!text) {
        fprintf(stderr, "agentmem template: %s\n", err.msg);
        return NULL;
    }
    json_error_t je;
    json_t *j = am_json_loadb(text, n, JSON_ALLOW_NUL, &je);
    free(text);
    if (!j) fprintf(stderr, "agentmem template: %s: invalid JSON at line %d: %s\n", path, je.line, je.text);
    return j;
}

static bool parse_now(const char *s, int64_t *out) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end) {
        *out = v;
        return true;
    }
    struct tm tm = {0};
    const char *r = strptime(s, "%Y-%m-%d", &tm);
    if (!r) return false;
    if (*r == 'T' || *r == ' ') r = strptime(r + 1, "%H:%M:%S", &tm);
    if (!r || *r) return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

int am_cmd_template(int argc, char **argv) {
    const char *model = NULL, *tokcfg = NULL, *tplfile = NULL, *msgfile = NULL, *toolfile = NULL, *name = NULL;
    const char *bos_arg = NULL, *eos_arg = NULL;
    bool add_gen = false;
    am_render_params rp = am_template_default_render_params();
    json_t *extra = json_object();
    int rc = 2;
    char *text = NULL, *bos = NULL, *eos = NULL, *out = NULL;
    json_t *messages = NULL, *tools = NULL;
    am_template *t = NULL;
    am_err err = {0};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
#define VAL(dst)                                                               \
    do {                                                                       \
        if (!has_val) {                                                        \
            fprintf(stderr, "agentmem template: %s needs a value\n", a);       \
            goto done;                                                         \
        }                                                                      \
        dst = argv[++i];                                                       \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--model")) VAL(model);
        else if (!strcmp(a, "--tokenizer-config")) VAL(tokcfg);
        else if (!strcmp(a, "--template")) VAL(tplfile);
        else if (!strcmp(a, "--messages")) VAL(msgfile);
        else if (!strcmp(a, "--tools")) VAL(toolfile);
        else if (!strcmp(a, "--name")) VAL(name);
        else if (!strcmp(a, "--bos")) VAL(bos_arg);
        else if (!strcmp(a, "--eos")) VAL(eos_arg);
        else if (!strcmp(a, "--add-generation-prompt")) add_gen = true;
        else if (!strcmp(a, "--now")) {
            const char *v;
            VAL(v);
            if (!parse_now(v, &rp.now)) {
                fprintf(stderr, "agentmem template: --now wants YYYY-MM-DD[THH:MM:SS] or epoch seconds\n");
                goto done;
            }
            rp.now_fixed = true;
        } else if (!strcmp(a, "--var")) {
            const char *v;
            VAL(v);
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) {
                fprintf(stderr, "agentmem template: --var wants NAME=JSON\n");
                goto done;
            }
            json_error_t je;
            json_t *j = json_loads(eq + 1, JSON_DECODE_ANY, &je);
            if (!j) {
                fprintf(stderr, "agentmem template: --var %.*s: value is not JSON: %s\n", (int)(eq - v), v, je.text);
                goto done;
            }
            char *key = am_xstrndup(v, (size_t)(eq - v));
            json_object_set_new(extra, key, j);
            free(key);
        } else {
            fprintf(stderr, "agentmem template: unknown option '%s'\n\n", a);
            usage(stderr);
            goto done;
        }
#undef VAL
    }
    if ((!!model + !!tokcfg + !!tplfile) != 1 || !msgfile) {
        fprintf(stderr, "agentmem template: give one of --model, --tokenizer-config, --template, and --messages\n\n");
        usage(stderr);
        goto done;
    }

    rc = 1;
    messages = load_json_file(msgfile);
    if (!messages) goto done;
    if (json_is_object(messages)) {
        json_t *m = json_incref(json_object_get(messages, "messages"));
        json_decref(messages);
        messages = m;
    }
    if (!json_is_array(messages)) {
        fprintf(stderr, "agentmem template: %s: expected a JSON array of messages\n", msgfile);
        goto done;
    }
    if (toolfile && !(tools = load_json_file(toolfile))) goto done;

    if (tplfile) {
        size_t n;
        text = am_file_read_all(tplfile, MAX_INPUT_BYTES, &n, &err);
    } else if (tokcfg) {
        json_t *cfg = load_json_file(tokcfg);
        if (!cfg) goto done;
        text = am_template_text_from_config(cfg, name, tools != NULL, &err);
        bos = am_template_config_token(cfg, "bos_token");
        eos = am_template_config_token(cfg, "eos_token");
        json_decref(cfg);
    } else if (am_dir_exists(model)) {
        text = am_template_text_from_hf_dir(model, name, tools != NULL, &bos, &eos, &err);
    } else {
        text = am_template_text_from_gguf(model, name, tools != NULL, &bos, &eos, &err);
    }
    if (!text) {
        fprintf(stderr, "agentmem template: %s\n", err.msg);
        goto done;
    }
    t = am_template_parse(text, strlen(text), NULL, &err);
    if (!t) {
        fprintf(stderr, "agentmem template: %s\n", err.msg);
        goto done;
    }
    am_chat_inputs in = {.messages = messages,
                         .tools = tools,
                         .add_generation_prompt = add_gen,
                         .bos_token = bos_arg ? bos_arg : bos,
                         .eos_token = eos_arg ? eos_arg : eos,
                         .extra = extra};
    size_t len;
    out = am_template_render_chat(t, &in, &rp, &len, &err);
    if (!out) {
        fprintf(stderr, "agentmem template: %s\n", err.msg);
        goto done;
    }
    if (fwrite(out, 1, len, stdout) != len || fflush(stdout) != 0) {
        fprintf(stderr, "agentmem template: writing the output: %s\n", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(out);
    am_template_free(t);
    free(text);
    free(bos);
    free(eos);
    json_decref(messages);
    json_decref(tools);
    json_decref(extra);
    return rc;
}
