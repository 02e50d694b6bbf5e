/*
 * fuzz_model.c — am_model_load_gguf_memory on arbitrary bytes: the GGUF
 * reader plus everything the loader derives from it (architecture, hparams,
 * weight lookup, shape and type checks, float copies of norms and biases).
 *
 * On success the model must be what the engine assumes without checking:
 * sizes in range, every required weight present with exactly the shape the
 * hparams give, its bytes inside the input, and every float vector the
 * length the hparams say (read in full, so ASan checks the copies).
 */
#include <math.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "model/model.h"

static const uint8_t *g_data;
static size_t g_size;

static void matrix(const am_tensor *t, int64_t ne0, int64_t ne1) {
    FUZZ_CHECK(t != NULL);
    FUZZ_CHECK(t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1);
    FUZZ_CHECK(t->nbytes == am_type_row_bytes(t->type, ne0) * (size_t)ne1);
    FUZZ_CHECK(am_fuzz_inside(g_data, g_size, t->data, t->nbytes));
    am_fuzz_sink ^= am_fuzz_touch(t->data, t->nbytes);
}

static void vec(const float *v, int64_t n, bool required) {
    if (!v) {
        FUZZ_CHECK(!required);
        return;
    }
    am_fuzz_sink ^= am_fuzz_touch(v, (size_t)n * sizeof(float));
}

AM_FUZZ_TARGET(model) {
    am_err err = {{0}};
    g_data = data;
    g_size = size;
    am_model *m = am_model_load_gguf_memory(data, size, "fuzz.gguf", &err);
    if (!m) {
        FUZZ_CHECK(err.msg[0] != 0);
        return 0;
    }
    const am_hparams *hp = &m->hp;
    FUZZ_CHECK(m->is_gguf && m->gguf);
    FUZZ_CHECK(hp->n_layer >= 1 && hp->n_layer <= AM_MAX_LAYERS);
    FUZZ_CHECK(hp->n_embd >= 1 && hp->n_ff >= 1 && hp->n_vocab >= 1);
    FUZZ_CHECK(hp->n_head >= 1 && hp->n_head_kv >= 1 && hp->n_head % hp->n_head_kv == 0);
    FUZZ_CHECK(hp->head_dim >= 2 && hp->head_dim % 2 == 0);
    FUZZ_CHECK(isfinite(hp->rope_base) && hp->rope_base > 0 && isfinite(hp->rope_scale) && hp->rope_scale > 0);
    FUZZ_CHECK(hp->sliding_window >= 0);
    const int64_t E = hp->n_embd, hd = hp->head_dim, q = (int64_t)hp->n_head * hd,
                  kv = (int64_t)hp->n_head_kv * hd, F = hp->n_ff;
    matrix(m->tok_embd, E, hp->n_vocab);
    matrix(m->output, E, hp->n_vocab);
    FUZZ_CHECK(hp->tied_embeddings == (m->output == m->tok_embd));
    vec(m->output_norm, E, true);
    if (hp->rope_freq_factors)
        for (int i = 0; i < hd / 2; i++) FUZZ_CHECK(hp->rope_freq_factors[i] > 0);
    const bool gemma = hp->arch == AM_ARCH_GEMMA3, qkn = gemma || hp->arch == AM_ARCH_QWEN3;
    for (int il = 0; il < hp->n_layer; il++) {
        const am_layer *l = &m->layers[il];
        vec(l->attn_norm, E, true);
        matrix(l->wq, E, q);
        matrix(l->wk, E, kv);
        matrix(l->wv, E, kv);
        matrix(l->wo, q, E);
        vec(l->bq, q, hp->arch == AM_ARCH_QWEN2);
        vec(l->bk, kv, hp->arch == AM_ARCH_QWEN2);
        vec(l->bv, kv, hp->arch == AM_ARCH_QWEN2);
        vec(l->q_norm, hd, qkn);
        vec(l->k_norm, hd, qkn);
        vec(l->post_attn_norm, E, gemma);
        vec(l->ffn_norm, E, true);
        matrix(l->ffn_gate, E, F);
        matrix(l->ffn_up, E, F);
        matrix(l->ffn_down, F, E);
        vec(l->post_ffn_norm, E, gemma);
        if (hp->layer_swa[il]) FUZZ_CHECK(hp->sliding_window > 0);
    }
    if (m->chat_template) am_fuzz_sink ^= am_fuzz_touch(m->chat_template, strlen(m->chat_template));
    am_model_free(m);
    return 0;
}
