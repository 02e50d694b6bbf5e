/* test_model_load.c — the four fixture models load in every form (HF folder,
 * each GGUF) with hparams equal to config.json and weights of the expected
 * shapes and types; HF and GGUF f16 forms agree on the weights. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/file.h"
#include "model/model.h"
#include "test_util.h"

typedef struct expect {
    const char *name;
    am_arch arch;
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx;
    float eps, rope_base;
    bool tied, biases, qk_norm;
    int32_t hf_bos, hf_eos;
} expect;

static const expect MODELS[] = {
    {"llama3", AM_ARCH_LLAMA, 608, 256, 3, 4, 2, 64, 512, 131072, 1e-5f, 500000.0f, false, false, false, 1, 2},
    {"qwen2", AM_ARCH_QWEN2, 609, 256, 3, 4, 2, 64, 512, 8192, 1e-6f, 1e6f, true, true, false, -1, -1},
    {"qwen3", AM_ARCH_QWEN3, 609, 256, 3, 4, 2, 64, 512, 8192, 1e-6f, 1e6f, true, false, true, -1, -1},
    {"gemma3", AM_ARCH_GEMMA3, 700, 256, 6, 4, 1, 64, 256, 32768, 1e-6f, 1e6f, true, false, true, 2, 1},
};

static bool is_mat(const am_tensor *t, int64_t ne0, int64_t ne1) {
    return t && t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1 &&
           t->nbytes == am_type_row_bytes(t->type, ne0) * (size_t)ne1 && t->data;
}

static void check_model(const am_model *m, const expect *e, bool gguf, const char *what) {
    const am_hparams *hp = &m->hp;
    CHECKF(hp->arch == e->arch, "%s", what);
    CHECKF(hp->n_vocab == e->n_vocab && hp->n_embd == e->n_embd && hp->n_layer == e->n_layer, "%s", what);
    CHECKF(hp->n_head == e->n_head && hp->n_head_kv == e->n_head_kv && hp->head_dim == e->head_dim, "%s", what);
    CHECKF(hp->n_ff == e->n_ff && hp->n_ctx_train == e->n_ctx, "%s: n_ff %d ctx %d", what, hp->n_ff, hp->n_ctx_train);
    CHECKF(fabsf(hp->norm_eps - e->eps) < 1e-9f, "%s: eps %g", what, hp->norm_eps);
    CHECKF(hp->rope_base == e->rope_base, "%s: rope_base %g", what, hp->rope_base);
    CHECKF(hp->tied_embeddings == e->tied, "%s", what);
    CHECKF(hp->tied_embeddings ? m->output == m->tok_embd : m->output != m->tok_embd, "%s", what);
    CHECKF(hp->rope_style == (gguf && e->arch == AM_ARCH_LLAMA ? AM_ROPE_NORM : AM_ROPE_NEOX), "%s", what);
    CHECKF(hp->rope_scale == 1.0f, "%s", what);
    CHECKF(fabsf(hp->query_scale - 0.125f) < 1e-7f, "%s: query_scale %g", what, hp->query_scale);
    CHECKF(m->chat_template && strlen(m->chat_template) > 100, "%s", what);
    CHECKF(m->weight_bytes > 0, "%s", what);
    if (!gguf) CHECKF(hp->bos_id == e->hf_bos && hp->eos_id == e->hf_eos, "%s: bos %d eos %d", what, hp->bos_id, hp->eos_id);
    if (e->arch == AM_ARCH_LLAMA) {
        CHECKF(hp->rope_freq_factors != NULL, "%s", what);
        if (hp->rope_freq_factors) {
            CHECK(hp->rope_freq_factors[0] == 1.0f);
            CHECK(fabsf(hp->rope_freq_factors[31] - 32.0f) < 1e-4f);
        }
    } else {
        CHECKF(hp->rope_freq_factors == NULL, "%s", what);
    }
    if (e->arch == AM_ARCH_GEMMA3) {
        CHECKF(hp->act == AM_ACT_GELU_TANH && hp->embd_scale == 16.0f && hp->sliding_window == 8, "%s", what);
        CHECKF(hp->rope_base_local == 10000.0f, "%s", what);
        for (int i = 0; i < 6; i++) CHECKF(hp->layer_swa[i] == (i != 5), "%s layer %d", what, i);
    } else {
        CHECKF(hp->act == AM_ACT_SILU && hp->embd_scale == 1.0f && hp->sliding_window == 0, "%s", what);
        CHECKF(hp->rope_base_local == hp->rope_base, "%s", what);
        for (int i = 0; i < hp->n_layer; i++) CHECK(!hp->layer_swa[i]);
    }
    const int64_t E = e->n_embd, Q = e->n_head * e->head_dim, KV = e->n_head_kv * e->head_dim;
    CHECKF(is_mat(m->tok_embd, E, e->n_vocab), "%s", what);
    CHECKF(is_mat(m->output, E, e->n_vocab), "%s", what);
    CHECK(m->output_norm != NULL);
    for (int il = 0; il < hp->n_layer; il++) {
        const am_layer *l = &m->layers[il];
        CHECKF(is_mat(l->wq, E, Q) && is_mat(l->wk, E, KV) && is_mat(l->wv, E, KV) && is_mat(l->wo, Q, E),
               "%s layer %d", what, il);
        CHECKF(is_mat(l->ffn_gate, E, e->n_ff) && is_mat(l->ffn_up, E, e->n_ff) && is_mat(l->ffn_down, e->n_ff, E),
               "%s layer %d", what, il);
        CHECK(l->attn_norm && l->ffn_norm);
        CHECKF(e->biases == (l->bq && l->bk && l->bv), "%s layer %d", what, il);
        CHECKF(e->qk_norm == (l->q_norm && l->k_norm), "%s layer %d", what, il);
        bool g = e->arch == AM_ARCH_GEMMA3;
        CHECKF(g == (l->post_attn_norm != NULL) && g == (l->post_ffn_norm != NULL), "%s layer %d", what, il);
        if (!gguf) CHECK(l->wq->type == AM_TYPE_BF16 && l->ffn_down->type == AM_TYPE_BF16);
    }
}

static float bf16_at(const am_tensor *t, int64_t i) {
    uint16_t h;
    memcpy(&h, (const uint8_t *)t->data + 2 * i, 2);
    return t->type == AM_TYPE_BF16 ? am_bf16_to_f32(h) : am_f16_to_f32(h);
}

/* The f16 GGUF and the bf16 safetensors hold the same weights (bf16 → f16
 * rounding aside); norms must agree including gemma3's +1. */
static void compare_forms(const am_model *hf, const am_model *gg, const expect *e) {
    int64_t n = hf->tok_embd->ne[0] * hf->tok_embd->ne[1];
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = bf16_at(hf->tok_embd, i), b = bf16_at(gg->tok_embd, i);
        num += (a - b) * (a - b);
        den += a * a;
    }
    CHECKF(sqrt(num / den) < 2e-3, "%s token_embd differs: %g", e->name, sqrt(num / den));
    for (int il = 0; il < hf->hp.n_layer; il++) {
        for (int i = 0; i < e->n_embd; i++) {
            CHECKF(fabsf(hf->layers[il].attn_norm[i] - gg->layers[il].attn_norm[i]) < 1e-2f * fabsf(hf->layers[il].attn_norm[i]) + 1e-3f,
                   "%s layer %d attn_norm[%d] %g vs %g", e->name, il, i, hf->layers[il].attn_norm[i], gg->layers[il].attn_norm[i]);
            CHECKF(fabsf(hf->layers[il].ffn_norm[i] - gg->layers[il].ffn_norm[i]) < 1e-2f * fabsf(hf->layers[il].ffn_norm[i]) + 1e-3f,
                   "%s layer %d ffn_norm[%d]", e->name, il, i);
            if (hf->layers[il].post_attn_norm)
                CHECKF(fabsf(hf->layers[il].post_attn_norm[i] - gg->layers[il].post_attn_norm[i]) < 1e-2f,
                       "%s layer %d post_attn_norm[%d]", e->name, il, i);
            if (i > 0) break;
        }
        if (hf->layers[il].q_norm)
            CHECKF(fabsf(hf->layers[il].q_norm[3] - gg->layers[il].q_norm[3]) < 1e-2f, "%s q_norm", e->name);
        if (hf->layers[il].bq) CHECKF(fabsf(hf->layers[il].bq[5] - gg->layers[il].bq[5]) < 1e-2f, "%s bq", e->name);
    }
    if (hf->hp.rope_freq_factors && gg->hp.rope_freq_factors)
        for (int i = 0; i < hf->hp.head_dim / 2; i++)
            CHECKF(fabsf(hf->hp.rope_freq_factors[i] - gg->hp.rope_freq_factors[i]) < 1e-4f * gg->hp.rope_freq_factors[i],
                   "%s rope factor %d: %g vs %g", e->name, i, hf->hp.rope_freq_factors[i], gg->hp.rope_freq_factors[i]);
}

static void test_all_forms(void) {
    for (size_t k = 0; k < AM_ARRAY_LEN(MODELS); k++) {
        const expect *e = &MODELS[k];
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s-tiny", e->name);
        char *dir = am_test_fixture(rel);
        am_err err;
        am_model *hf = am_model_load(dir, &err);
        CHECKF(hf, "%s: %s", dir, err.msg);
        if (hf) {
            CHECK(!hf->is_gguf && hf->hf_dir && !hf->gguf);
            check_model(hf, e, false, dir);
        }
        DIR *d = opendir(dir);
        CHECK(d);
        struct dirent *de;
        int n_gguf = 0;
        while (d && (de = readdir(d))) {
            size_t nl = strlen(de->d_name);
            if (nl < 5 || strcmp(de->d_name + nl - 5, ".gguf")) continue;
            char *path = am_path_join(dir, de->d_name);
            am_model *m = am_model_load(path, &err);
            CHECKF(m, "%s: %s", path, err.msg);
            if (m) {
                n_gguf++;
                CHECK(m->is_gguf && m->gguf);
                check_model(m, e, true, path);
                if (hf && strstr(de->d_name, "-f16.gguf")) compare_forms(hf, m, e);
                am_model_free(m);
            }
            free(path);
        }
        if (d) closedir(d);
        CHECKF(n_gguf == 6, "%s: %d GGUF files", dir, n_gguf);
        am_model_free(hf);
        free(dir);
    }
}

int main(void) {
    AM_TEST_RUN(test_all_forms);
    AM_TEST_EXIT();
}
