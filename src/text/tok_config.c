/*
 * tok_config.c — what a Hugging Face folder's tokenizer_config.json changes:
 * the bos/eos/pad tokens and, for tokenizer classes that build their own
 * post-processor from add_bos_token/add_eos_token (LlamaTokenizer[Fast],
 * GemmaTokenizer[Fast], Qwen2Tokenizer, ...), which ids add_special adds.
 * PreTrainedTokenizerFast uses tokenizer.json's post_processor as written,
 * so for it only the token ids are taken. Called before tok_finish.
 */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "text/tok_internal.h"
#include "text/tok_jscan.h"

#define MAX_CONFIG_BYTES ((size_t)64 << 20)

/* "bos_token": "<s>" or {"content": "<s>", ...} or null -> id or -1. */
static int32_t config_token(am_tokenizer *t, const jt_doc *d, uint32_t root, const char *key) {
    uint32_t v = jt_get(d, root, key);
    if (jt_type(d, v) == JT_OBJ) v = jt_get(d, v, "content");
    if (jt_type(d, v) != JT_STR) return -1;
    tok_buf b = {0};
    jt_str_append(d, v, &b);
    int32_t id = am_tokenizer_token_id(t, b.p ? b.p : "", b.n);
    tok_buf_free(&b);
    return id;
}

int tok_apply_config(am_tokenizer *t, const char *path, am_err *err) {
    size_t n = 0;
    char *data = am_file_read_all(path, MAX_CONFIG_BYTES, &n, err);
    if (!data) return -1;
    jt_doc d;
    int rc = 0;
    if (jt_parse(&d, data, n, err)) {
        rc = am_err_prefix(err, "%s", path);
        goto done;
    }
    if (jt_type(&d, 0) != JT_OBJ) {
        rc = am_err_set(err, "%s: not a JSON object", path);
        goto done;
    }
    int32_t bos = config_token(t, &d, 0, "bos_token");
    int32_t eos = config_token(t, &d, 0, "eos_token");
    int32_t pad = config_token(t, &d, 0, "pad_token");
    int32_t unk = config_token(t, &d, 0, "unk_token");
    if (bos >= 0) t->bos_id = bos;
    if (eos >= 0) t->eos_id = eos;
    if (pad >= 0) t->pad_id = pad;
    if (unk >= 0 && t->unk_id < 0 && t->model == MODEL_SPM) t->unk_id = unk;
    bool ab, ae;
    bool has_ab = jt_bool(&d, jt_get(&d, 0, "add_bos_token"), &ab);
    bool has_ae = jt_bool(&d, jt_get(&d, 0, "add_eos_token"), &ae);
    bool fast_generic = jt_str_eq(&d, jt_get(&d, 0, "tokenizer_class"), "PreTrainedTokenizerFast");
    if ((has_ab || has_ae) && !fast_generic) {
        t->n_prefix = t->n_suffix = 0;
        if (has_ab && ab && t->bos_id >= 0) t->prefix[t->n_prefix++] = t->bos_id;
        if (has_ae && ae && t->eos_id >= 0) t->suffix[t->n_suffix++] = t->eos_id;
        t->add_bos = t->n_prefix > 0;
        t->add_eos = t->n_suffix > 0;
    }
done:
    jt_free(&d);
    free(data);
    return rc;
}
