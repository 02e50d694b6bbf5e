/*
 * gguf_arch.c — the tensor plan and hyperparameter keys of GGUF files as
 * llama.cpp writes them (see gguf_arch.h). Pure tables: no file access.
 */
#include "model/gguf_arch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void plan_add(am_gguf_plan *p, am_tkind kind, am_type type, int64_t ne0, int64_t ne1, const char *role,
                     const char *fmt, int layer) {
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->t = am_xrealloc(p->t, (size_t)p->cap * sizeof *p->t);
    }
    am_tplan *t = &p->t[p->n++];
    snprintf(t->name, sizeof t->name, fmt, layer);
    t->role = role;
    t->layer = layer;
    t->type = type;
    t->kind = kind;
    t->n_dims = ne1 > 0 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1 > 0 ? ne1 : 1;
    p->n_params += (uint64_t)ne0 * (uint64_t)t->ne[1];
}

static void plan_matrix(am_gguf_plan *p, const am_synth_shape *s, am_synth_ftype f, const char *role, int layer,
                        int64_t n_in, int64_t n_out, const char *fmt) {
    plan_add(p, AM_TK_MATRIX, am_synth_tensor_type(s, f, role, layer, n_in), n_in, n_out, role, fmt, layer);
}

#define VEC(kind, n, role, fmt, l) plan_add(p, kind, AM_TYPE_F32, n, 0, role, fmt, l)

void am_gguf_plan_make(am_gguf_plan *p, const am_synth_shape *s, am_synth_ftype f, int64_t n_vocab,
                       bool rope_freqs) {
    const int64_t E = s->n_embd, Q = (int64_t)s->n_head * s->head_dim, KV = (int64_t)s->n_head_kv * s->head_dim;
    if (rope_freqs) VEC(AM_TK_ROPE_FREQS, s->head_dim / 2, "rope_freqs", "rope_freqs.weight", 0);
    plan_matrix(p, s, f, "token_embd", 0, E, n_vocab, "token_embd.weight");
    for (int l = 0; l < s->n_layer; l++) {
        VEC(AM_TK_NORM, E, "attn_norm", "blk.%d.attn_norm.weight", l);
        plan_matrix(p, s, f, "attn_q", l, E, Q, "blk.%d.attn_q.weight");
        if (s->qkv_bias) VEC(AM_TK_BIAS, Q, "attn_q_bias", "blk.%d.attn_q.bias", l);
        plan_matrix(p, s, f, "attn_k", l, E, KV, "blk.%d.attn_k.weight");
        if (s->qkv_bias) VEC(AM_TK_BIAS, KV, "attn_k_bias", "blk.%d.attn_k.bias", l);
        plan_matrix(p, s, f, "attn_v", l, E, KV, "blk.%d.attn_v.weight");
        if (s->qkv_bias) VEC(AM_TK_BIAS, KV, "attn_v_bias", "blk.%d.attn_v.bias", l);
        plan_matrix(p, s, f, "attn_output", l, Q, E, "blk.%d.attn_output.weight");
        if (s->qk_norm) {
            VEC(AM_TK_NORM, s->head_dim, "attn_q_norm", "blk.%d.attn_q_norm.weight", l);
            VEC(AM_TK_NORM, s->head_dim, "attn_k_norm", "blk.%d.attn_k_norm.weight", l);
        }
        if (s->post_norms) VEC(AM_TK_NORM, E, "post_attention_norm", "blk.%d.post_attention_norm.weight", l);
        VEC(AM_TK_NORM, E, "ffn_norm", "blk.%d.ffn_norm.weight", l);
        plan_matrix(p, s, f, "ffn_gate", l, E, s->n_ff, "blk.%d.ffn_gate.weight");
        plan_matrix(p, s, f, "ffn_up", l, E, s->n_ff, "blk.%d.ffn_up.weight");
        plan_matrix(p, s, f, "ffn_down", l, s->n_ff, E, "blk.%d.ffn_down.weight");
        if (s->post_norms) VEC(AM_TK_NORM, E, "post_ffw_norm", "blk.%d.post_ffw_norm.weight", l);
    }
    VEC(AM_TK_NORM, E, "output_norm", "output_norm.weight", 0);
    if (!s->tied) plan_matrix(p, s, f, "output", 0, E, n_vocab, "output.weight");
}

void am_gguf_plan_free(am_gguf_plan *p) {
    free(p->t);
    *p = (am_gguf_plan){0};
}

uint32_t am_gguf_llama_ftype(am_synth_ftype f) {
    switch (f) {
    case AM_SYNTH_F16: return 1;   /* LLAMA_FTYPE_MOSTLY_F16 */
    case AM_SYNTH_Q8_0: return 7;  /* MOSTLY_Q8_0 */
    case AM_SYNTH_Q4_0: return 2;  /* MOSTLY_Q4_0 */
    case AM_SYNTH_BF16: return 32; /* MOSTLY_BF16 */
    default: return 15;            /* MOSTLY_Q4_K_M */
    }
}

static void set_arch_u32(am_gguf_writer *w, const char *arch, const char *key, uint32_t v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    am_gguf_writer_set_u32(w, k, v);
}

static void set_arch_f32(am_gguf_writer *w, const char *arch, const char *key, float v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    am_gguf_writer_set_f32(w, k, v);
}

/* gguf-py's model_weight_count_rounded_notation: at least two significant
 * digits, "2.1M", "494M", "1.2B". */
static void size_label(uint64_t n, char *buf, size_t bufsz) {
    double x = (double)n;
    const char *suffix = "K";
    double scaled = x * 1e-3;
    if (x > 1e12) scaled = x * 1e-12, suffix = "T";
    else if (x > 1e9) scaled = x * 1e-9, suffix = "B";
    else if (x > 1e6) scaled = x * 1e-6, suffix = "M";
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", round(scaled));
    const char *d = digits;
    while (*d == '0') d++;
    int fix = 2 - (int)strlen(d);
    if (fix < 0) fix = 0;
    snprintf(buf, bufsz, "%.*f%s", fix, scaled, suffix);
}

void am_gguf_write_hparams(am_gguf_writer *w, const am_synth_shape *s, am_synth_ftype f, int64_t n_vocab,
                           uint64_t n_params, float rope_scale_linear) {
    const char *a = s->arch;
    char label[32];
    size_label(n_params, label, sizeof label);
    am_gguf_writer_set_str(w, "general.architecture", a);
    am_gguf_writer_set_str(w, "general.type", "model");
    am_gguf_writer_set_str(w, "general.name", s->model_name);
    am_gguf_writer_set_str(w, "general.size_label", label);
    set_arch_u32(w, a, "block_count", (uint32_t)s->n_layer);
    set_arch_u32(w, a, "context_length", (uint32_t)s->n_ctx);
    set_arch_u32(w, a, "embedding_length", (uint32_t)s->n_embd);
    set_arch_u32(w, a, "feed_forward_length", (uint32_t)s->n_ff);
    set_arch_u32(w, a, "attention.head_count", (uint32_t)s->n_head);
    set_arch_u32(w, a, "attention.head_count_kv", (uint32_t)s->n_head_kv);
    set_arch_f32(w, a, "attention.layer_norm_rms_epsilon", s->norm_eps);
    set_arch_u32(w, a, "attention.key_length", (uint32_t)s->head_dim);
    set_arch_u32(w, a, "attention.value_length", (uint32_t)s->head_dim);
    if (!strcmp(a, "llama")) {
        set_arch_u32(w, a, "vocab_size", (uint32_t)n_vocab);
        set_arch_u32(w, a, "rope.dimension_count", (uint32_t)s->head_dim);
    }
    if (s->sliding_window) set_arch_u32(w, a, "attention.sliding_window", (uint32_t)s->sliding_window);
    set_arch_f32(w, a, "rope.freq_base", s->rope_base);
    if (rope_scale_linear > 1.0f) {
        char k[128];
        snprintf(k, sizeof k, "%s.rope.scaling.type", a);
        am_gguf_writer_set_str(w, k, "linear");
        set_arch_f32(w, a, "rope.scaling.factor", rope_scale_linear);
    }
    am_gguf_writer_set_u32(w, "general.file_type", am_gguf_llama_ftype(f));
    am_gguf_writer_set_u32(w, "general.quantization_version", 2);
}
