/*
 * model_common.h — what a loaded am_model must be, whatever the source
 * (checked by fuzz_model.c and fuzz_hf.c): sizes in range, every required
 * weight present with exactly the shape the hparams give and every byte of
 * it readable, every float vector the length the hparams say (read in full,
 * so ASan checks the copies), rope divisors positive.
 */
#ifndef AM_FUZZ_MODEL_COMMON_H
#define AM_FUZZ_MODEL_COMMON_H

#include <math.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "model/model.h"

/* When g_data is set (a GGUF image), weights must also lie inside it. */
static const uint8_t *g_data;
static size_t g_size;

static inline void fuzz_model_matrix(const am_tensor *t, int64_t ne0, int64_t ne1) {
    FUZZ_CHECK(t != NULL);
    FUZZ_CHECK(t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1);
    FUZZ_CHECK(t->nbytes == am_type_row_bytes(t->type, ne0) * (size_t)ne1);
    if (g_data) FUZZ_CHECK(am_fuzz_inside(g_data, g_size, t->data, t->nbytes));
    am_fuzz_sink ^= am_fuzz_touch(t->data, t->nbytes);
}

static inline void fuzz_model_vec(const float *v, int64_t n, bool required) {
    if (!v) {
        FUZZ_CHECK(!required);
        return;
    }
    am_fuzz_sink ^= am_fuzz_touch(v, (size_t)n * sizeof(float));
}

static inline void fuzz_check_model(const am_model *m) {
    const am_hparams *hp = &m->hp;
    FUZZ_CHECK(hp->n_layer >= 1 && hp->n_layer <= AM_MAX_LAYERS);
    FUZZ_CHECK(hp->n_embd >= 1 && hp->n_ff >= 1 && hp->n_vocab >= 1);
    FUZZ_CHECK(hp->n_head >= 1 && hp->n_head_kv >= 1 && hp->n_head % hp->n_head_kv == 0);
    FUZZ_CHECK(hp->head_dim >= 2 && hp->head_dim % 2 == 0);
    FUZZ_CHECK(isfinite(hp->rope_base) && hp->rope_base > 0 && isfinite(hp->rope_scale) && hp->rope_scale > 0);
    FUZZ_CHECK(hp->sliding_window >= 0);
    const int64_t E = hp->n_embd, hd = hp->head_dim, q = (int64_t)hp->n_head * hd,
                  kv = (int64_t)hp->n_head_kv * hd, F = hp->n_ff;
    fuzz_model_matrix(m->tok_embd, E, hp->n_vocab);
    fuzz_model_matrix(m->output, E, hp->n_vocab);
    FUZZ_CHECK(hp->tied_embeddings == (m->output == m->tok_embd));
    fuzz_model_vec(m->output_norm, E, true);
    if (hp->rope_freq_factors)
        for (int i = 0; i < hd / 2; i++)
            FUZZ_CHECK(hp->rope_freq_factors[i] > 0 && isfinite(hp->rope_freq_factors[i]));
    const bool gemma = hp->arch == AM_ARCH_GEMMA3, qkn = gemma || hp->arch == AM_ARCH_QWEN3;
    for (int il = 0; il < hp->n_layer; il++) {
        const am_layer *l = &m->layers[il];
        fuzz_model_vec(l->attn_norm, E, true);
        fuzz_model_matrix(l->wq, E, q);
        fuzz_model_matrix(l->wk, E, kv);
        fuzz_model_matrix(l->wv, E, kv);
        fuzz_model_matrix(l->wo, q, E);
        fuzz_model_vec(l->bq, q, hp->arch == AM_ARCH_QWEN2);
        fuzz_model_vec(l->bk, kv, hp->arch == AM_ARCH_QWEN2);
        fuzz_model_vec(l->bv, kv, hp->arch == AM_ARCH_QWEN2);
        fuzz_model_vec(l->q_norm, hd, qkn);
        fuzz_model_vec(l->k_norm, hd, qkn);
        fuzz_model_vec(l->post_attn_norm, E, gemma);
        fuzz_model_vec(l->ffn_norm, E, true);
        fuzz_model_matrix(l->ffn_gate, E, F);
        fuzz_model_matrix(l->ffn_up, E, F);
        fuzz_model_matrix(l->ffn_down, F, E);
        fuzz_model_vec(l->post_ffn_norm, E, gemma);
        if (hp->layer_swa[il]) FUZZ_CHECK(hp->sliding_window > 0);
    }
    if (m->chat_template) am_fuzz_sink ^= am_fuzz_touch(m->chat_template, strlen(m->chat_template));
}

#endif
