/*
 * bundle.c — loads one served model whole (weights, tokenizer, chat
 * template, end-of-generation set, fingerprint) and shares it by reference
 * count. Everything is built before the bundle is returned and never changes
 * after; the last am_bundle_unref frees it.
 */
#define _GNU_SOURCE
#include "bundle/bundle.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static char *base_id(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/') s--;
    size_t len = n - s;
    if (len > 5 && !strncmp(path + n - 5, ".gguf", 5)) len -= 5;
    return am_xstrndup(path + s, len ? len : 1);
}

static void hash_tensor(XXH3_state_t *st, const am_tensor *t) {
    if (!t) return;
    int32_t hdr[6] = {(int32_t)t->type, t->n_dims, (int32_t)t->ne[0], (int32_t)t->ne[1], (int32_t)t->ne[2],
                      (int32_t)t->ne[3]};
    XXH3_128bits_update(st, hdr, sizeof hdr);
    if (t->data && t->nbytes) XXH3_128bits_update(st, t->data, t->nbytes);
}

static void hash_floats(XXH3_state_t *st, const float *v, int n) {
    uint8_t tag = v != NULL;
    XXH3_128bits_update(st, &tag, 1);
    if (v && n > 0) XXH3_128bits_update(st, v, (size_t)n * sizeof(float));
}

/* Weights, K/V-shaping hyperparameters and the tokenizer, in a fixed order. */
static void fingerprint(const am_model *m, const am_tokenizer *tok, uint8_t out[16]) {
    const am_hparams *hp = &m->hp;
    XXH3_state_t *st = XXH3_createState();
    XXH3_128bits_reset(st);
    int32_t ints[] = {(int32_t)hp->arch, hp->n_vocab,        hp->n_embd,           hp->n_layer,   hp->n_head,
                      hp->n_head_kv,     hp->head_dim,       hp->n_ff,             hp->rope_style, hp->sliding_window,
                      (int32_t)hp->act,  hp->tied_embeddings};
    float fl[] = {hp->norm_eps,    hp->rope_base,  hp->rope_base_local,     hp->rope_scale,
                  hp->query_scale, hp->embd_scale, hp->final_logit_softcap, hp->attn_logit_softcap};
    XXH3_128bits_update(st, ints, sizeof ints);
    XXH3_128bits_update(st, fl, sizeof fl);
    for (int l = 0; l < hp->n_layer; l++) {
        uint8_t swa = hp->layer_swa[l];
        XXH3_128bits_update(st, &swa, 1);
    }
    hash_floats(st, hp->rope_freq_factors, hp->head_dim / 2);
    hash_tensor(st, m->tok_embd);
    hash_floats(st, m->output_norm, hp->n_embd);
    if (m->output != m->tok_embd) hash_tensor(st, m->output);
    for (int l = 0; l < hp->n_layer; l++) {
        const am_layer *L = &m->layers[l];
        const am_tensor *ts[] = {L->wq, L->wk, L->wv, L->wo, L->ffn_gate, L->ffn_up, L->ffn_down};
        for (size_t i = 0; i < AM_ARRAY_LEN(ts); i++) hash_tensor(st, ts[i]);
        int qd = hp->n_head * hp->head_dim, kvd = hp->n_head_kv * hp->head_dim;
        hash_floats(st, L->attn_norm, hp->n_embd);
        hash_floats(st, L->bq, qd);
        hash_floats(st, L->bk, kvd);
        hash_floats(st, L->bv, kvd);
        hash_floats(st, L->q_norm, hp->head_dim);
        hash_floats(st, L->k_norm, hp->head_dim);
        hash_floats(st, L->post_attn_norm, hp->n_embd);
        hash_floats(st, L->ffn_norm, hp->n_embd);
        hash_floats(st, L->post_ffn_norm, hp->n_embd);
    }
    uint64_t tf = tok ? am_tokenizer_fingerprint(tok) : 0;
    XXH3_128bits_update(st, &tf, sizeof tf);
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    memcpy(out, &h.low64, 8);
    memcpy(out + 8, &h.high64, 8);
}

static void build_eog(am_bundle *b) {
    const am_hparams *hp = &b->model->hp;
    int cap = 8, n = 0;
    int32_t *v = am_xmalloc((size_t)cap * sizeof(int32_t));
    int32_t nv = b->tok ? am_tokenizer_n_vocab(b->tok) : 0;
    for (int32_t i = 0; i < nv; i++)
        if (am_tokenizer_is_eog(b->tok, i)) {
            if (n == cap) v = am_xrealloc(v, (size_t)(cap *= 2) * sizeof(int32_t));
            v[n++] = i;
        }
    if (hp->eos_id >= 0 && hp->eos_id < hp->n_vocab) {
        if (n == cap) v = am_xrealloc(v, (size_t)(cap *= 2) * sizeof(int32_t));
        v[n++] = hp->eos_id;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_i32);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (!u || v[u - 1] != v[i]) v[u++] = v[i];
    b->eog = v;
    b->n_eog = u;
}

am_bundle *am_bundle_load(const char *path, am_err *err) {
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        am_err_setc(err, AM_E_NOT_FOUND, "%s: %s", path ? path : "(null)", strerror(errno));
        return NULL;
    }
    am_bundle *b = am_xcalloc(1, sizeof *b);
    atomic_init(&b->refs, 1);
    b->model = am_model_load(path, err);
    if (!b->model) {
        if (err && err->code == AM_E_INVALID) err->code = AM_E_BAD_FILE;
        goto fail;
    }
    b->tok = b->model->gguf ? am_tokenizer_from_gguf(b->model->gguf, err) : am_tokenizer_load(path, err);
    if (!b->tok) {
        if (err && err->code == AM_E_INVALID) err->code = AM_E_BAD_FILE;
        am_err_prefix(err, "tokenizer");
        goto fail;
    }
    am_err terr = {0};
    b->tmpl_text = b->model->is_gguf ? am_template_text_from_gguf(path, NULL, false, &b->bos_text, &b->eos_text, &terr)
                                     : am_template_text_from_hf_dir(path, NULL, false, &b->bos_text, &b->eos_text,
                                                                    &terr);
    if (b->tmpl_text) {
        b->tmpl = am_template_parse(b->tmpl_text, strlen(b->tmpl_text), NULL, &terr);
        if (!b->tmpl) am_log_warn("%s: chat template not usable: %s", path, terr.msg);
    }
    build_eog(b);
    b->id = base_id(path);
    fingerprint(b->model, b->tok, b->fingerprint);
    return b;
fail:
    am_bundle_unref(b);
    return NULL;
}

am_bundle *am_bundle_ref(am_bundle *b) {
    if (b) atomic_fetch_add(&b->refs, 1);
    return b;
}

void am_bundle_unref(am_bundle *b) {
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1) return;
    am_template_free(b->tmpl);
    am_tokenizer_free(b->tok);
    am_model_free(b->model);
    free(b->tmpl_text);
    free(b->bos_text);
    free(b->eos_text);
    free(b->eog);
    free(b->id);
    free(b);
}

bool am_bundle_is_eog(const am_bundle *b, int32_t id) {
    return bsearch(&id, b->eog, (size_t)b->n_eog, sizeof(int32_t), cmp_i32) != NULL;
}

char *am_bundle_render_chat(const am_bundle *b, const json_t *messages, const json_t *tools, const json_t *extra,
                            size_t *len, am_err *err) {
    if (!b->tmpl) {
        am_err_set(err, "model %s has no usable chat template", b->id);
        return NULL;
    }
    am_chat_inputs in = {.messages = messages,
                         .tools = tools,
                         .add_generation_prompt = true,
                         .bos_token = b->bos_text,
                         .eos_token = b->eos_text,
                         .extra = extra};
    char *s = am_template_render_chat(b->tmpl, &in, NULL, len, err);
    if (!s && err) err->code = AM_E_INVALID;
    return s;
}

int am_bundle_tokenize(const am_bundle *b, const char *text, size_t len, bool add_special, am_tokens *out,
                       am_err *err) {
    am_tok_encode_params ep = am_tok_encode_default_params();
    ep.add_special = add_special;
    return am_tokenizer_encode(b->tok, text, len, &ep, out, err);
}

void am_bundle_fingerprint_hex(const am_bundle *b, char out[33]) {
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", b->fingerprint[i]);
}
