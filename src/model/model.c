/*
 * model.c — am_model_load: a GGUF file or a Hugging Face folder, normalized
 * to one description (GGUF tensor names and layout, float32 norms).
 *
 * Owns: everything in am_model and its priv (GGUF handle or safetensors
 * mappings, tensor views for HF weights, float32 norm/bias copies, the rope
 * frequency divisors, the chat template).
 * Must never: hand the engine a tensor whose type or shape it has not checked
 * against the hyperparameters (every weight is validated here, so the engine
 * can index without checks), or keep going after a missing required weight.
 *
 * Source conventions handled here, so the engine sees one convention:
 *   - GGUF llama Q/K are permuted for interleaved rope (AM_ROPE_NORM); HF
 *     llama and every qwen/gemma source use NeoX rope.
 *   - GGUF gemma3 norms already carry the +1 of Gemma's (1+w) RMSNorm; HF
 *     gemma3 norms get +1 here. GGUF gemma3 files store no window pattern
 *     (every 6th layer is global) and no local rope base (10000).
 *   - HF gemma3's post_attention_layernorm is the post-attention norm and
 *     pre_feedforward_layernorm the FFN input norm; for llama/qwen,
 *     post_attention_layernorm is the FFN input norm.
 */
#define _GNU_SOURCE
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "model/gguf.h"
#include "model/hfconfig.h"
#include "model/safetensors.h"

typedef struct model_priv {
    am_st *st;                /* HF source, or NULL */
    const char *hf_prefix;    /* "model." or a multimodal wrapper's prefix */
    const char *hf_lm_head;
    am_tensor **views;        /* HF tensor views (owned, with owned names) */
    int64_t n_views, cap_views;
    void **allocs;            /* float copies, aligned copies (am_aligned_free) */
    int64_t n_allocs, cap_allocs;
} model_priv;

typedef struct loader {
    am_model *m;
    model_priv *p;
    am_err *err;
} loader;

const char *am_arch_name(am_arch a) {
    switch (a) {
    case AM_ARCH_LLAMA: return "llama";
    case AM_ARCH_QWEN2: return "qwen2";
    case AM_ARCH_QWEN3: return "qwen3";
    case AM_ARCH_GEMMA3: return "gemma3";
    }
    return "unknown";
}

static void *own(model_priv *p, void *mem) {
    if (p->n_allocs == p->cap_allocs) {
        p->cap_allocs = p->cap_allocs ? p->cap_allocs * 2 : 64;
        p->allocs = am_xrealloc(p->allocs, (size_t)p->cap_allocs * sizeof *p->allocs);
    }
    p->allocs[p->n_allocs++] = mem;
    return mem;
}

/* ---- HF names ---- */

typedef struct {
    const char *gguf, *hf;
} name_pair;

static const name_pair LAYER_NAMES[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q_norm.weight", "self_attn.q_norm.weight"},
    {"attn_k_norm.weight", "self_attn.k_norm.weight"},
    {"post_attention_norm.weight", "post_attention_layernorm.weight"}, /* gemma3 */
    {"post_ffw_norm.weight", "post_feedforward_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};

/* GGUF name → HF name in buf; false if there is no HF counterpart. */
static bool hf_name(const loader *L, const char *gname, char *buf, size_t bufsz) {
    const model_priv *p = L->p;
    const bool gemma = L->m->hp.arch == AM_ARCH_GEMMA3;
    if (!strcmp(gname, "token_embd.weight")) {
        snprintf(buf, bufsz, "%sembed_tokens.weight", p->hf_prefix);
        return true;
    }
    if (!strcmp(gname, "output_norm.weight")) {
        snprintf(buf, bufsz, "%snorm.weight", p->hf_prefix);
        return true;
    }
    if (!strcmp(gname, "output.weight")) {
        snprintf(buf, bufsz, "%s", p->hf_lm_head);
        return true;
    }
    int il, off = 0;
    if (sscanf(gname, "blk.%d.%n", &il, &off) != 1 || off == 0) return false;
    const char *suffix = gname + off;
    const char *hf = NULL;
    if (!strcmp(suffix, "ffn_norm.weight"))
        hf = gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight";
    else if (!strcmp(suffix, "post_attention_norm.weight") && !gemma)
        return false;
    for (size_t i = 0; i < AM_ARRAY_LEN(LAYER_NAMES) && !hf; i++)
        if (!strcmp(suffix, LAYER_NAMES[i].gguf)) hf = LAYER_NAMES[i].hf;
    if (!hf) return false;
    snprintf(buf, bufsz, "%slayers.%d.%s", p->hf_prefix, il, hf);
    return true;
}

/* An HF tensor as a GGUF-layout view: shape [out][in] becomes ne[0]=in, ne[1]=out. */
static int hf_view(loader *L, const char *gname, const am_st_tensor *st, const am_tensor **out) {
    if (!st->supported)
        return am_err_set(L->err, "tensor %s: dtype %s is not supported (BF16, F16, F32 are)", st->name, st->dtype);
    if (st->n_dims < 1 || st->n_dims > 4)
        return am_err_set(L->err, "tensor %s: %d dimensions (1..4 expected)", st->name, st->n_dims);
    am_tensor *t = am_xcalloc(1, sizeof *t);
    model_priv *p = L->p;
    if (p->n_views == p->cap_views) {
        p->cap_views = p->cap_views ? p->cap_views * 2 : 64;
        p->views = am_xrealloc(p->views, (size_t)p->cap_views * sizeof *p->views);
    }
    p->views[p->n_views++] = t;
    t->name = am_xstrdup(gname);
    t->type = st->type;
    t->n_dims = st->n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    for (int d = 0; d < st->n_dims; d++) t->ne[d] = st->shape[st->n_dims - 1 - d];
    t->nbytes = st->nbytes;
    size_t es = st->type == AM_TYPE_F32 ? 4 : 2;
    if ((uintptr_t)st->data % es) {
        /* safetensors does not promise alignment: copy rather than let the
         * engine read misaligned elements. */
        void *copy = own(p, am_xmalloc_aligned(AM_MAX(st->nbytes, 1)));
        memcpy(copy, st->data, st->nbytes);
        t->data = copy;
    } else {
        t->data = st->data;
    }
    *out = t;
    return 0;
}

/* Finds a weight by GGUF name in either source. 0 with *out NULL when absent. */
static int get_tensor(loader *L, const char *gname, const am_tensor **out) {
    *out = NULL;
    if (L->m->gguf) {
        *out = am_gguf_find_tensor(L->m->gguf, gname);
        return 0;
    }
    char hname[320];
    if (!hf_name(L, gname, hname, sizeof hname)) return 0;
    const am_st_tensor *st = am_st_find(L->p->st, hname);
    if (!st) return 0;
    return hf_view(L, gname, st, out);
}

static int check_shape(loader *L, const am_tensor *t, int64_t ne0, int64_t ne1) {
    bool ok = t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1;
    if (!ok)
        return am_err_set(L->err, "tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld] (ne0 = row length)",
                          t->name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                          (long long)t->ne[3], (long long)ne0, (long long)ne1);
    return 0;
}

static int get_matrix(loader *L, const char *name, int64_t ne0, int64_t ne1, bool required, const am_tensor **out) {
    if (get_tensor(L, name, out)) return -1;
    if (!*out) return required ? am_err_set(L->err, "missing tensor %s", name) : 0;
    if (check_shape(L, *out, ne0, ne1)) return -1;
    L->m->weight_bytes += (*out)->nbytes;
    return 0;
}

/* A norm or bias vector of n elements as an owned float32 array (+1 when add_one). */
static int get_vector(loader *L, const char *name, int64_t n, bool required, bool add_one, const float **out) {
    *out = NULL;
    const am_tensor *t;
    if (get_tensor(L, name, &t)) return -1;
    if (!t) return required ? am_err_set(L->err, "missing tensor %s", name) : 0;
    if (check_shape(L, t, n, 1)) return -1;
    if (t->type != AM_TYPE_F32 && t->type != AM_TYPE_F16 && t->type != AM_TYPE_BF16)
        return am_err_set(L->err, "tensor %s: type %s for a vector (f32, f16, bf16 expected)", name, am_type_name(t->type));
    float *v = own(L->p, am_xmalloc_aligned((size_t)n * sizeof(float)));
    const uint8_t *src = t->data;
    for (int64_t i = 0; i < n; i++) {
        if (t->type == AM_TYPE_F32) {
            memcpy(&v[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            v[i] = t->type == AM_TYPE_F16 ? am_f16_to_f32(h) : am_bf16_to_f32(h);
        }
        if (add_one) v[i] += 1.0f;
    }
    L->m->weight_bytes += t->nbytes;
    *out = v;
    return 0;
}

/* Validates hparams shared by both sources and loads every weight. */
static int load_weights(loader *L, bool hf_gemma_offset) {
    am_model *m = L->m;
    am_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, hd = hp->head_dim, q_dim = (int64_t)hp->n_head * hd,
                  kv_dim = (int64_t)hp->n_head_kv * hd, F = hp->n_ff;
    const am_arch a = hp->arch;
    const bool gemma = a == AM_ARCH_GEMMA3;
    const bool off = hf_gemma_offset;

    if (get_tensor(L, "token_embd.weight", &m->tok_embd)) return -1;
    if (!m->tok_embd) return am_err_set(L->err, "missing tensor token_embd.weight");
    if (check_shape(L, m->tok_embd, E, m->tok_embd->ne[1])) return -1;
    if (m->tok_embd->ne[1] > (1 << 26)) return am_err_set(L->err, "vocabulary of %lld tokens is too large", (long long)m->tok_embd->ne[1]);
    if (hp->n_vocab > 0 && m->tok_embd->ne[1] != hp->n_vocab)
        return am_err_set(L->err, "token_embd.weight has %lld rows but the vocabulary has %d tokens",
                          (long long)m->tok_embd->ne[1], hp->n_vocab);
    hp->n_vocab = (int)m->tok_embd->ne[1];
    m->weight_bytes += m->tok_embd->nbytes;

    if (get_vector(L, "output_norm.weight", E, true, off, &m->output_norm)) return -1;
    if (hp->tied_embeddings && !m->gguf) {
        m->output = m->tok_embd; /* HF ties lm_head to the embedding whatever the file holds */
    } else {
        if (get_matrix(L, "output.weight", E, hp->n_vocab, false, &m->output)) return -1;
        if (!m->output) {
            hp->tied_embeddings = true;
            m->output = m->tok_embd;
        } else {
            hp->tied_embeddings = false;
        }
    }

    m->layers = am_xcalloc((size_t)hp->n_layer, sizeof *m->layers);
    for (int il = 0; il < hp->n_layer; il++) {
        am_layer *l = &m->layers[il];
        char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%d." s, il), n)
        if (get_vector(L, NAME("attn_norm.weight"), E, true, off, &l->attn_norm) ||
            get_matrix(L, NAME("attn_q.weight"), E, q_dim, true, &l->wq) ||
            get_matrix(L, NAME("attn_k.weight"), E, kv_dim, true, &l->wk) ||
            get_matrix(L, NAME("attn_v.weight"), E, kv_dim, true, &l->wv) ||
            get_matrix(L, NAME("attn_output.weight"), q_dim, E, true, &l->wo) ||
            get_vector(L, NAME("attn_q.bias"), q_dim, a == AM_ARCH_QWEN2, false, &l->bq) ||
            get_vector(L, NAME("attn_k.bias"), kv_dim, a == AM_ARCH_QWEN2, false, &l->bk) ||
            get_vector(L, NAME("attn_v.bias"), kv_dim, a == AM_ARCH_QWEN2, false, &l->bv) ||
            get_vector(L, NAME("ffn_norm.weight"), E, true, off, &l->ffn_norm) ||
            get_matrix(L, NAME("ffn_gate.weight"), E, F, true, &l->ffn_gate) ||
            get_matrix(L, NAME("ffn_up.weight"), E, F, true, &l->ffn_up) ||
            get_matrix(L, NAME("ffn_down.weight"), F, E, true, &l->ffn_down))
            return -1;
        if (a == AM_ARCH_QWEN3 || gemma) {
            if (get_vector(L, NAME("attn_q_norm.weight"), hd, true, off, &l->q_norm) ||
                get_vector(L, NAME("attn_k_norm.weight"), hd, true, off, &l->k_norm))
                return -1;
        }
        if (gemma) {
            if (get_vector(L, NAME("post_attention_norm.weight"), E, true, off, &l->post_attn_norm) ||
                get_vector(L, NAME("post_ffw_norm.weight"), E, true, off, &l->post_ffn_norm))
                return -1;
        }
#undef NAME
    }
    return 0;
}

static int check_hparams(loader *L) {
    am_hparams *hp = &L->m->hp;
    if (hp->n_layer < 1 || hp->n_layer > AM_MAX_LAYERS)
        return am_err_set(L->err, "%d layers (1..%d supported)", hp->n_layer, AM_MAX_LAYERS);
    if (hp->n_embd < 1 || hp->n_embd > (1 << 20) || hp->n_ff < 1 || hp->n_ff > (1 << 22))
        return am_err_set(L->err, "implausible sizes: n_embd %d, n_ff %d", hp->n_embd, hp->n_ff);
    if (hp->n_head < 1 || hp->n_head > 4096 || hp->n_head_kv < 1 || hp->n_head_kv > hp->n_head ||
        hp->n_head % hp->n_head_kv)
        return am_err_set(L->err, "%d heads with %d KV heads is not supported", hp->n_head, hp->n_head_kv);
    if (hp->head_dim < 2 || hp->head_dim > 4096 || hp->head_dim % 2)
        return am_err_set(L->err, "head dimension %d is not supported", hp->head_dim);
    if (!(hp->norm_eps >= 0) || !isfinite(hp->norm_eps)) return am_err_set(L->err, "bad norm epsilon");
    if (!(hp->rope_base > 0) || !isfinite(hp->rope_base) || !(hp->rope_base_local > 0) ||
        !(hp->rope_scale > 0) || !isfinite(hp->rope_scale))
        return am_err_set(L->err, "bad rope parameters");
    return 0;
}

/* ---- GGUF ---- */

static int gguf_u32(loader *L, const char *arch, const char *key, bool required, uint32_t def, uint32_t *out) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (am_gguf_get_u32(L->m->gguf, k, out)) return 0;
    if (required || am_gguf_find_key(L->m->gguf, k) >= 0)
        return am_err_set(L->err, "key %s is %s", k, required && am_gguf_find_key(L->m->gguf, k) < 0 ? "missing" : "not an unsigned integer");
    *out = def;
    return 0;
}

static int gguf_f32(loader *L, const char *arch, const char *key, bool required, float def, float *out) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (am_gguf_get_f32(L->m->gguf, k, out)) return 0;
    if (required || am_gguf_find_key(L->m->gguf, k) >= 0)
        return am_err_set(L->err, "key %s is %s", k, am_gguf_find_key(L->m->gguf, k) < 0 ? "missing" : "not a float");
    *out = def;
    return 0;
}

/* Reads hparams and weights from the opened m->gguf. */
static int load_gguf(loader *L) {
    am_model *m = L->m;
    am_hparams *hp = &m->hp;
    m->is_gguf = true;
    am_gguf *g = m->gguf;
    am_str as;
    if (!am_gguf_get_str(g, "general.architecture", &as)) return am_err_set(L->err, "general.architecture is missing");
    char arch[32];
    if (as.n >= sizeof arch) return am_err_set(L->err, "architecture name too long");
    memcpy(arch, as.p, as.n);
    arch[as.n] = 0;
    if (!strcmp(arch, "llama")) hp->arch = AM_ARCH_LLAMA;
    else if (!strcmp(arch, "qwen2")) hp->arch = AM_ARCH_QWEN2;
    else if (!strcmp(arch, "qwen3")) hp->arch = AM_ARCH_QWEN3;
    else if (!strcmp(arch, "gemma3")) hp->arch = AM_ARCH_GEMMA3;
    else return am_err_set(L->err, "architecture %.31s is not supported (llama, qwen2, qwen3, gemma3 are)", arch);
    const bool gemma = hp->arch == AM_ARCH_GEMMA3;

    uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv, key_len, val_len, ctx, swa = 0;
    if (gguf_u32(L, arch, "block_count", true, 0, &n_layer) ||
        gguf_u32(L, arch, "embedding_length", true, 0, &n_embd) ||
        gguf_u32(L, arch, "feed_forward_length", true, 0, &n_ff) ||
        gguf_u32(L, arch, "attention.head_count", true, 0, &n_head))
        return -1;
    if (n_layer < 1 || n_layer > AM_MAX_LAYERS) return am_err_set(L->err, "%u layers (1..%d supported)", n_layer, AM_MAX_LAYERS);
    if (n_head < 1 || n_head > 4096 || n_embd < 1 || n_embd > (1u << 20))
        return am_err_set(L->err, "implausible sizes: %u heads, embedding %u", n_head, n_embd);
    if (gguf_u32(L, arch, "attention.head_count_kv", false, n_head, &n_head_kv) ||
        gguf_u32(L, arch, "attention.key_length", false, n_embd / n_head, &key_len) ||
        gguf_u32(L, arch, "attention.value_length", false, key_len, &val_len) ||
        gguf_u32(L, arch, "context_length", false, 4096, &ctx) ||
        gguf_u32(L, arch, "attention.sliding_window", false, 0, &swa))
        return -1;
    if (val_len != key_len) return am_err_set(L->err, "key length %u != value length %u is not supported", key_len, val_len);
    if (ctx > INT32_MAX || swa > INT32_MAX) return am_err_set(L->err, "context length out of range");
    hp->n_layer = (int)n_layer;
    hp->n_embd = (int)n_embd;
    hp->n_ff = n_ff > (1u << 22) ? -1 : (int)n_ff;
    hp->n_head = (int)n_head;
    hp->n_head_kv = n_head_kv > 4096 ? -1 : (int)n_head_kv;
    hp->head_dim = key_len > 4096 ? -1 : (int)key_len;
    hp->n_ctx_train = (int)ctx;
    uint32_t rope_dims;
    if (gguf_u32(L, arch, "rope.dimension_count", false, key_len, &rope_dims)) return -1;
    if (rope_dims != key_len) return am_err_set(L->err, "partial rotary embeddings (%u of %u dims) are not supported", rope_dims, key_len);
    if (gguf_f32(L, arch, "attention.layer_norm_rms_epsilon", true, 0, &hp->norm_eps) ||
        gguf_f32(L, arch, "rope.freq_base", false, 10000.0f, &hp->rope_base) ||
        gguf_f32(L, arch, "final_logit_softcapping", false, 0, &hp->final_logit_softcap) ||
        gguf_f32(L, arch, "attn_logit_softcapping", false, 0, &hp->attn_logit_softcap))
        return -1;
    hp->rope_style = hp->arch == AM_ARCH_LLAMA ? AM_ROPE_NORM : AM_ROPE_NEOX;
    hp->rope_base_local = gemma ? 10000.0f : hp->rope_base;
    hp->rope_scale = 1.0f;

    /* Rope scaling: linear (gemma3 4B+: global layers only) or llama3 via rope_freqs.weight. */
    char k[128];
    am_str st;
    snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
    if (am_gguf_get_str(g, k, &st) && !(st.n == 4 && !memcmp(st.p, "none", 4))) {
        if (!(st.n == 6 && !memcmp(st.p, "linear", 6)))
            return am_err_set(L->err, "rope scaling type %.*s is not supported (linear is)", (int)AM_MIN(st.n, 32), st.p);
        if (gguf_f32(L, arch, "rope.scaling.factor", true, 1, &hp->rope_scale)) return -1;
    } else if (gguf_f32(L, arch, "rope.scale_linear", false, 1, &hp->rope_scale)) {
        return -1;
    }
    if (hp->rope_scale == 0) hp->rope_scale = 1.0f; /* llama.cpp writes 0 for "no scaling" in some files */
    if (check_hparams(L)) return -1;

    const am_tensor *rf = am_gguf_find_tensor(g, "rope_freqs.weight");
    if (rf && hp->arch == AM_ARCH_LLAMA) {
        if (check_shape(L, rf, hp->head_dim / 2, 1)) return -1;
        if (rf->type != AM_TYPE_F32) return am_err_set(L->err, "rope_freqs.weight must be f32");
        float *f = own(L->p, am_xmalloc_aligned((size_t)(hp->head_dim / 2) * sizeof(float)));
        memcpy(f, rf->data, (size_t)(hp->head_dim / 2) * sizeof(float));
        for (int i = 0; i < hp->head_dim / 2; i++)
            if (!(f[i] > 0) || !isfinite(f[i])) return am_err_set(L->err, "rope_freqs.weight[%d] is not a positive number", i);
        hp->rope_freq_factors = f;
    }

    /* Sliding window layers: gemma3 files carry only the window (as in
     * llama.cpp, a missing or zero window means no sliding layers). */
    if (gemma && swa > 0) {
        hp->sliding_window = (int)swa;
        for (int il = 0; il < hp->n_layer; il++) hp->layer_swa[il] = il % 6 < 5;
    }

    /* Gemma 3: llama.cpp (after gemma_pytorch) scales queries by
     * 1/sqrt(n_embd/n_head) for the 27B shape (62 layers) and by
     * 1/sqrt(head_dim) otherwise, matching query_pre_attn_scalar of the
     * released checkpoints. */
    if (gemma && hp->n_layer == 62)
        hp->query_scale = (float)(1.0 / sqrt((double)hp->n_embd / hp->n_head));
    else
        hp->query_scale = (float)(1.0 / sqrt((double)hp->head_dim));
    hp->embd_scale = gemma ? sqrtf((float)hp->n_embd) : 1.0f;
    hp->act = gemma ? AM_ACT_GELU_TANH : AM_ACT_SILU;

    uint32_t id;
    hp->bos_id = am_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &id) && id <= INT32_MAX ? (int32_t)id : -1;
    hp->eos_id = am_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &id) && id <= INT32_MAX ? (int32_t)id : -1;
    if (am_gguf_get_str(g, "tokenizer.chat_template", &st)) m->chat_template = am_xstrndup(st.p, (size_t)st.n);
    hp->tied_embeddings = false;
    return load_weights(L, false);
}

/* ---- Hugging Face folder ---- */

static int load_hf(loader *L, const char *dir) {
    am_model *m = L->m;
    am_hf_config cfg;
    if (am_hf_config_read(dir, &cfg, L->err)) return -1;
    m->hp = cfg.hp;
    if (cfg.freq_factors) {
        size_t nb = (size_t)(m->hp.head_dim / 2) * sizeof(float);
        float *f = own(L->p, am_xmalloc_aligned(nb));
        memcpy(f, cfg.freq_factors, nb);
        m->hp.rope_freq_factors = f;
    }
    m->chat_template = cfg.chat_template;
    cfg.chat_template = NULL;
    am_hf_config_free(&cfg);
    m->hf_dir = am_xstrdup(dir);
    if (check_hparams(L)) return -1;
    L->p->st = am_st_open_dir(dir, L->err);
    if (!L->p->st) return -1;
    L->p->hf_prefix = "model.";
    L->p->hf_lm_head = "lm_head.weight";
    if (cfg.multimodal_wrapper) {
        /* Two layouts exist: transformers 4 (language_model.model.*) and 5 (model.language_model.*). */
        if (am_st_find(L->p->st, "language_model.model.embed_tokens.weight")) {
            L->p->hf_prefix = "language_model.model.";
            L->p->hf_lm_head = "language_model.lm_head.weight";
        } else {
            L->p->hf_prefix = "model.language_model.";
        }
    }
    /* Config says how many tokens; the embedding must agree (checked in load_weights). */
    return load_weights(L, m->hp.arch == AM_ARCH_GEMMA3);
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static am_model *model_new(const char *path) {
    am_model *m = am_xcalloc(1, sizeof *m);
    m->priv = am_xcalloc(1, sizeof(model_priv));
    m->path = am_xstrdup(path);
    return m;
}

am_model *am_model_load(const char *path, am_err *err) {
    am_model *m = model_new(path);
    loader L = {m, m->priv, err};
    int rc;
    bool already_prefixed = false;
    if (am_dir_exists(path)) {
        rc = load_hf(&L, path);
    } else if (ends_with(path, ".safetensors") || ends_with(path, "config.json")) {
        /* A file inside a Hugging Face folder: load the folder. */
        char *dir = am_xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else strcpy(dir, ".");
        rc = load_hf(&L, dir);
        free(dir);
    } else {
        m->gguf = am_gguf_open(path, err);
        rc = m->gguf ? load_gguf(&L) : -1;
        already_prefixed = !m->gguf; /* am_gguf_open names the file itself */
    }
    if (rc) {
        if (!already_prefixed) am_err_prefix(err, "%s", path);
        am_model_free(m);
        return NULL;
    }
    return m;
}

am_model *am_model_load_gguf_memory(const void *data, size_t size, const char *name, am_err *err) {
    if (!name) name = "(memory)";
    am_model *m = model_new(name);
    loader L = {m, m->priv, err};
    m->gguf = am_gguf_open_memory(data, size, name, err);
    if (!m->gguf || load_gguf(&L)) {
        if (m->gguf) am_err_prefix(err, "%s", name);
        am_model_free(m);
        return NULL;
    }
    return m;
}

void am_model_drop_pages(const am_model *m, const am_tensor *t) {
    if (m && t && m->gguf) am_gguf_drop_pages(m->gguf, t->data, t->nbytes);
}

void am_model_free(am_model *m) {
    if (!m) return;
    model_priv *p = m->priv;
    if (p) {
        for (int64_t i = 0; i < p->n_views; i++) {
            free((char *)p->views[i]->name);
            free(p->views[i]);
        }
        free(p->views);
        for (int64_t i = 0; i < p->n_allocs; i++) am_aligned_free(p->allocs[i]);
        free(p->allocs);
        am_st_close(p->st);
        free(p);
    }
    am_gguf_close(m->gguf);
    free(m->layers);
    free(m->path);
    free(m->hf_dir);
    free(m->chat_template);
    free(m);
}
