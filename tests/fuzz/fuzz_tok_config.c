/*
 * fuzz_tok_config.c — a hostile tokenizer_config.json next to a real
 * tokenizer: what it changes (bos/eos/pad ids, add_bos/add_eos) must leave a
 * tokenizer that encodes, decodes and streams cleanly (tok_common.h); and
 * the chat-template lookup in it (am_template_text_from_config, the
 * bos/eos texts) must return text or an error, the text then parsing or
 * failing with a message.
 *
 * Input: byte 0 picks the tokenizer (llama3-tiny tokenizer.json,
 * gemma3-tiny tokenizer.model), the rest is the config. The loaders take
 * the config as a path, so it goes through one temporary file per process.
 */
#include <jansson.h>
#include <unistd.h>

#include "fuzz/tok_common.h"
#include "text/template.h"

static char g_cfg_path[64];

static void remove_cfg(void) { unlink(g_cfg_path); }

static const char *write_cfg(const uint8_t *p, size_t n) {
    if (!g_cfg_path[0]) {
        snprintf(g_cfg_path, sizeof g_cfg_path, "/tmp/agentmem-fuzz-tokcfg-%ld.json", (long)getpid());
        atexit(remove_cfg);
    }
    FILE *f = fopen(g_cfg_path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(p, 1, n, f) == n || n == 0);
    FUZZ_CHECK(fclose(f) == 0);
    return g_cfg_path;
}

AM_FUZZ_TARGET(tok_config) {
    if (size < 1) return 0;
    const char *cfg = write_cfg(data + 1, size - 1);
    am_err err = {0};
    am_tokenizer *t = data[0] & 1
        ? am_tokenizer_load_spm("tests/fixtures/models/gemma3-tiny/tokenizer.model", cfg, &err)
        : am_tokenizer_load_json("tests/fixtures/models/llama3-tiny/tokenizer.json", cfg, &err);
    if (t) {
        fuzz_tok_exercise(t);
        am_tokenizer_free(t);
    } else {
        FUZZ_CHECK(err.msg[0] != 0);
    }

    json_t *root = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    if (!root) return 0;
    char *text = am_template_text_from_config(root, (data[0] & 2) ? "tool_use" : NULL, data[0] & 4, &err);
    if (text) {
        am_template *tpl = am_template_parse(text, strlen(text), NULL, &err);
        if (!tpl) FUZZ_CHECK(err.msg[0] != 0);
        am_template_free(tpl);
        free(text);
    } else {
        FUZZ_CHECK(err.msg[0] != 0);
    }
    char *bos = am_template_config_token(root, "bos_token"), *eos = am_template_config_token(root, "eos_token");
    if (bos) am_fuzz_sink ^= am_fuzz_touch(bos, strlen(bos));
    if (eos) am_fuzz_sink ^= am_fuzz_touch(eos, strlen(eos));
    free(bos);
    free(eos);
    json_decref(root);
    return 0;
}
