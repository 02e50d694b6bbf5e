/*
 * cmd_model.c — `agentmem model info PATH [--json]`: what a GGUF file or a
 * Hugging Face folder holds, as agentmem loads it (architecture, every
 * hyperparameter, tensor count and types, size, tokenizer and chat template).
 * Loads through am_model_load, so a file it describes is one the engine can run;
 * a file it refuses gets the loader's message and exit status 1.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/file.h"
#include "cli/commands.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "text/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: agentmem model info PATH [--json]\n\n"
            "Describes a model: PATH is a GGUF file or a Hugging Face folder (config.json +\n"
            "model.safetensors or sharded model-0000x-of-0000y.safetensors). Prints the\n"
            "architecture, hyperparameters as agentmem uses them, tensor count and types,\n"
            "size, and whether tokenizer data and a chat template are present.\n\n"
            "options:\n"
            "  --json     print one JSON object instead of text\n"
            "  --help     this text\n");
}

/* Counts tensors per type name into a JSON object {type: count}. */
static void hist_add(json_t *hist, const char *type) {
    json_t *v = json_object_get(hist, type);
    json_object_set_new(hist, type, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static json_t *describe(const am_model *m, am_err *err) {
    const am_hparams *hp = &m->hp;
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(m->path));
    json_object_set_new(o, "format", json_string(m->is_gguf ? "gguf" : "hf"));
    json_object_set_new(o, "architecture", json_string(am_arch_name(hp->arch)));

    json_t *h = json_object();
    json_object_set_new(h, "n_vocab", json_integer(hp->n_vocab));
    json_object_set_new(h, "n_embd", json_integer(hp->n_embd));
    json_object_set_new(h, "n_layer", json_integer(hp->n_layer));
    json_object_set_new(h, "n_head", json_integer(hp->n_head));
    json_object_set_new(h, "n_head_kv", json_integer(hp->n_head_kv));
    json_object_set_new(h, "head_dim", json_integer(hp->head_dim));
    json_object_set_new(h, "n_ff", json_integer(hp->n_ff));
    json_object_set_new(h, "n_ctx_train", json_integer(hp->n_ctx_train));
    json_object_set_new(h, "norm_eps", json_real(hp->norm_eps));
    json_object_set_new(h, "rope_style", json_string(hp->rope_style == AM_ROPE_NORM ? "norm" : "neox"));
    json_object_set_new(h, "rope_base", json_real(hp->rope_base));
    json_object_set_new(h, "rope_base_local", json_real(hp->rope_base_local));
    json_object_set_new(h, "rope_scale", json_real(hp->rope_scale));
    json_object_set_new(h, "rope_freq_factors", json_boolean(hp->rope_freq_factors != NULL));
    json_object_set_new(h, "sliding_window", json_integer(hp->sliding_window));
    int n_swa = 0;
    for (int i = 0; i < hp->n_layer; i++) n_swa += hp->layer_swa[i];
    json_object_set_new(h, "n_sliding_layers", json_integer(n_swa));
    json_object_set_new(h, "query_scale", json_real(hp->query_scale));
    json_object_set_new(h, "embd_scale", json_real(hp->embd_scale));
    json_object_set_new(h, "activation", json_string(hp->act == AM_ACT_SILU ? "silu" : "gelu_tanh"));
    json_object_set_new(h, "final_logit_softcap", json_real(hp->final_logit_softcap));
    json_object_set_new(h, "attn_logit_softcap", json_real(hp->attn_logit_softcap));
    json_object_set_new(h, "tied_embeddings", json_boolean(hp->tied_embeddings));
    json_object_set_new(h, "bos_id", json_integer(hp->bos_id));
    json_object_set_new(h, "eos_id", json_integer(hp->eos_id));
    json_object_set_new(o, "hparams", h);

    json_t *hist = json_object();
    int64_t n_tensors = 0;
    uint64_t file_bytes = 0;
    bool tokenizer = false;
    int64_t n_tokens = -1;
    if (m->is_gguf) {
        n_tensors = am_gguf_n_tensors(m->gguf);
        for (int64_t i = 0; i < n_tensors; i++) hist_add(hist, am_type_name(am_gguf_tensor(m->gguf, i)->type));
        file_bytes = am_gguf_file_size(m->gguf);
        am_gguf_vtype et;
        uint64_t n;
        tokenizer = am_gguf_find_key(m->gguf, "tokenizer.ggml.model") >= 0;
        if (am_gguf_get_arr(m->gguf, "tokenizer.ggml.tokens", &et, &n) && et == AM_GGUF_STRING) n_tokens = (int64_t)n;
        json_object_set_new(o, "gguf_version", json_integer(am_gguf_version(m->gguf)));
        json_object_set_new(o, "n_metadata_keys", json_integer(am_gguf_n_kv(m->gguf)));
    } else {
        am_st *st = am_st_open_dir(m->hf_dir, err);
        if (!st) {
            json_decref(hist);
            json_decref(o);
            return NULL;
        }
        n_tensors = am_st_n_tensors(st);
        for (int64_t i = 0; i < n_tensors; i++) hist_add(hist, am_st_tensor_at(st, i)->dtype);
        file_bytes = am_st_total_bytes(st);
        json_object_set_new(o, "n_files", json_integer(am_st_n_files(st)));
        am_st_close(st);
        const char *tk[] = {"tokenizer.json", "tokenizer.model"};
        json_t *tf = json_array();
        for (size_t i = 0; i < 2; i++) {
            char *p = am_path_join(m->hf_dir, tk[i]);
            if (am_file_exists(p)) json_array_append_new(tf, json_string(tk[i]));
            free(p);
        }
        json_object_set_new(o, "tokenizer_files", tf);
        /* "yes" only for a tokenizer that loads (a truncated tokenizer.json
         * is present but useless): the reason goes in tokenizer_error */
        if (json_array_size(tf)) {
            am_err terr = {0};
            am_tokenizer *tok = am_tokenizer_load(m->hf_dir, &terr);
            tokenizer = tok != NULL;
            if (tok) n_tokens = am_tokenizer_n_vocab(tok);
            else json_object_set_new(o, "tokenizer_error", json_string(terr.msg));
            am_tokenizer_free(tok);
        }
    }
    json_object_set_new(o, "n_tensors", json_integer(n_tensors));
    json_object_set_new(o, "tensor_types", hist);
    json_object_set_new(o, "file_bytes", json_integer((json_int_t)file_bytes));
    json_object_set_new(o, "weight_bytes", json_integer((json_int_t)m->weight_bytes));
    json_object_set_new(o, "tokenizer", json_boolean(tokenizer));
    if (n_tokens >= 0) json_object_set_new(o, "tokenizer_tokens", json_integer(n_tokens));
    json_object_set_new(o, "chat_template", json_boolean(m->chat_template != NULL));
    if (m->chat_template) json_object_set_new(o, "chat_template_chars", json_integer((json_int_t)strlen(m->chat_template)));
    return o;
}

static void print_value(json_t *v) {
    if (json_is_string(v)) printf("%s", json_string_value(v));
    else if (json_is_integer(v)) printf("%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) printf("%g", json_real_value(v));
    else if (json_is_boolean(v)) printf("%s", json_is_true(v) ? "yes" : "no");
}

static void print_text(json_t *o) {
    const char *k;
    json_t *v;
    printf("%-22s %s\n", "path", json_string_value(json_object_get(o, "path")));
    printf("%-22s %s", "format", json_string_value(json_object_get(o, "format")));
    if (json_object_get(o, "gguf_version"))
        printf(" v%lld, %lld metadata keys", (long long)json_integer_value(json_object_get(o, "gguf_version")),
               (long long)json_integer_value(json_object_get(o, "n_metadata_keys")));
    if (json_object_get(o, "n_files"))
        printf(", %lld safetensors file(s)", (long long)json_integer_value(json_object_get(o, "n_files")));
    printf("\n%-22s %s\n", "architecture", json_string_value(json_object_get(o, "architecture")));
    json_object_foreach(json_object_get(o, "hparams"), k, v) {
        printf("  %-20s ", k);
        print_value(v);
        printf("\n");
    }
    printf("%-22s %lld:", "tensors", (long long)json_integer_value(json_object_get(o, "n_tensors")));
    json_object_foreach(json_object_get(o, "tensor_types"), k, v) printf(" %s×%lld", k, (long long)json_integer_value(v));
    uint64_t fb = (uint64_t)json_integer_value(json_object_get(o, "file_bytes"));
    uint64_t wb = (uint64_t)json_integer_value(json_object_get(o, "weight_bytes"));
    printf("\n%-22s %llu bytes (%.2f MiB)\n", "file size", (unsigned long long)fb, fb / 1048576.0);
    printf("%-22s %llu bytes (%.2f MiB)\n", "weights used", (unsigned long long)wb, wb / 1048576.0);
    printf("%-22s %s", "tokenizer", json_is_true(json_object_get(o, "tokenizer")) ? "yes" : "no");
    if (json_object_get(o, "tokenizer_tokens"))
        printf(" (%lld tokens)", (long long)json_integer_value(json_object_get(o, "tokenizer_tokens")));
    if (json_array_size(json_object_get(o, "tokenizer_files"))) {
        size_t i;
        printf(" (");
        json_array_foreach(json_object_get(o, "tokenizer_files"), i, v) printf("%s%s", i ? ", " : "", json_string_value(v));
        printf(")");
    }
    if (json_object_get(o, "tokenizer_error"))
        printf(": %s", json_string_value(json_object_get(o, "tokenizer_error")));
    printf("\n%-22s %s", "chat template", json_is_true(json_object_get(o, "chat_template")) ? "yes" : "no");
    if (json_object_get(o, "chat_template_chars"))
        printf(" (%lld chars)", (long long)json_integer_value(json_object_get(o, "chat_template_chars")));
    printf("\n");
}

static int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "agentmem model info: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "agentmem model info: one PATH only\n");
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    am_err err = {0};
    am_model *m = am_model_load(path, &err);
    if (!m) {
        fprintf(stderr, "agentmem model info: %s\n", err.msg);
        return 1;
    }
    json_t *o = describe(m, &err);
    am_model_free(m);
    if (!o) {
        fprintf(stderr, "agentmem model info: %s\n", err.msg);
        return 1;
    }
    if (as_json) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
        puts(s);
        free(s);
    } else {
        print_text(o);
    }
    json_decref(o);
    return 0;
}

int am_cmd_model(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
    fprintf(stderr, "agentmem model: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
