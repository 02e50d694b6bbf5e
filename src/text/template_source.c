/*
 * template_source.c — finding a model's chat template text and its BOS/EOS
 * token texts: tokenizer_config.json (string or named list), a Hugging Face
 * folder (chat_template.jinja, tokenizer_config.json, chat_template.json),
 * or GGUF metadata (tokenizer.chat_template[.<name>], tokenizer.ggml.*).
 *
 * Only reads; every file is size-limited; absent pieces are NULL, not errors,
 * except the template text itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "model/gguf.h"
#include "text/template.h"

#define MAX_CONFIG_BYTES (64u << 20)

static char *dup_json_str(const json_t *s) {
    return am_xstrndup(json_string_value(s), json_string_length(s));
}

char *am_template_text_from_config(const json_t *config, const char *name, bool has_tools, am_err *err) {
    const json_t *ct = json_object_get(config, "chat_template");
    if (!ct || json_is_null(ct)) {
        am_err_set(err, "no chat_template in the tokenizer configuration");
        return NULL;
    }
    if (json_is_string(ct)) return dup_json_str(ct);
    if (!json_is_array(ct)) {
        am_err_set(err, "chat_template must be a string or a list of {name, template}");
        return NULL;
    }
    const char *want[3] = {name, has_tools ? "tool_use" : NULL, name ? NULL : "default"};
    for (int w = 0; w < 3; w++) {
        if (!want[w]) continue;
        size_t i;
        json_t *e;
        json_array_foreach(ct, i, e) {
            const json_t *n = json_object_get(e, "name"), *t = json_object_get(e, "template");
            if (json_is_string(n) && json_is_string(t) && !strcmp(json_string_value(n), want[w])) return dup_json_str(t);
        }
        if (w == 0) break; /* an explicit name must exist */
    }
    am_err_set(err, "chat_template list has no template named '%s'", name ? name : "default");
    return NULL;
}

char *am_template_config_token(const json_t *config, const char *key) {
    const json_t *v = json_object_get(config, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? dup_json_str(v) : NULL;
}

static json_t *load_json(const char *path, am_err *err) {
    size_t n;
    char *text = am_file_read_all(path, MAX_CONFIG_BYTES, &n, err);
    if (!text) return NULL;
    json_error_t je;
    json_t *j = json_loadb(text, n, JSON_DECODE_INT_AS_REAL, &je);
    free(text);
    if (!j) am_err_set(err, "%s: invalid JSON at line %d: %s", path, je.line, je.text);
    return j;
}

char *am_template_text_from_hf_dir(const char *dir, const char *name, bool has_tools, char **bos, char **eos,
                                   am_err *err) {
    if (bos) *bos = NULL;
    if (eos) *eos = NULL;
    char *cfg_path = am_path_join(dir, "tokenizer_config.json");
    json_t *cfg = am_file_exists(cfg_path) ? load_json(cfg_path, err) : NULL;
    bool cfg_bad = am_file_exists(cfg_path) && !cfg;
    free(cfg_path);
    if (cfg_bad) return NULL;
    if (cfg) {
        if (bos) *bos = am_template_config_token(cfg, "bos_token");
        if (eos) *eos = am_template_config_token(cfg, "eos_token");
    }
    char *text = NULL;
    char *jinja_path = am_path_join(dir, "chat_template.jinja");
    if (!name && am_file_exists(jinja_path)) {
        size_t n;
        text = am_file_read_all(jinja_path, MAX_CONFIG_BYTES, &n, err);
    } else if (cfg && json_object_get(cfg, "chat_template")) {
        text = am_template_text_from_config(cfg, name, has_tools, err);
    } else {
        char *ct_path = am_path_join(dir, "chat_template.json");
        json_t *ct = am_file_exists(ct_path) ? load_json(ct_path, err) : NULL;
        if (ct) text = am_template_text_from_config(ct, name, has_tools, err);
        else if (!am_file_exists(ct_path)) am_err_set(err, "%s: no chat template (chat_template.jinja, tokenizer_config.json or chat_template.json)", dir);
        json_decref(ct);
        free(ct_path);
    }
    free(jinja_path);
    json_decref(cfg);
    if (!text) {
        if (bos) { free(*bos); *bos = NULL; }
        if (eos) { free(*eos); *eos = NULL; }
    }
    return text;
}

static char *gguf_token_text(const am_gguf *g, const char *id_key) {
    uint32_t id;
    am_gguf_vtype et;
    uint64_t n;
    if (!am_gguf_get_u32(g, id_key, &id)) return NULL;
    if (!am_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) || et != AM_GGUF_STRING || id >= n) return NULL;
    am_str s = am_gguf_arr_str(g, "tokenizer.ggml.tokens", id);
    return am_xstrndup(s.p, (size_t)s.n);
}

char *am_template_text_from_gguf(const char *path, const char *name, bool has_tools, char **bos, char **eos,
                                 am_err *err) {
    if (bos) *bos = NULL;
    if (eos) *eos = NULL;
    am_gguf *g = am_gguf_open(path, err);
    if (!g) return NULL;
    char key[256];
    am_str s = {0};
    bool found = false;
    if (name) {
        snprintf(key, sizeof key, "tokenizer.chat_template.%s", name);
        found = am_gguf_get_str(g, key, &s);
    } else {
        if (has_tools) found = am_gguf_get_str(g, "tokenizer.chat_template.tool_use", &s);
        if (!found) found = am_gguf_get_str(g, "tokenizer.chat_template", &s);
    }
    char *text = NULL;
    if (!found) {
        am_err_set(err, "%s: no chat template (%s)", path, name ? key : "tokenizer.chat_template");
    } else {
        text = am_xstrndup(s.p, (size_t)s.n);
        if (bos) *bos = gguf_token_text(g, "tokenizer.ggml.bos_token_id");
        if (eos) *eos = gguf_token_text(g, "tokenizer.ggml.eos_token_id");
    }
    am_gguf_close(g);
    return text;
}
