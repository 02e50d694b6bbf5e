/* bench_model.c — what `agentmem bench` reports about the model it runs
 * (bench.h): its type as llama.cpp names it, its parameter count, and the
 * matmul work and weight bytes of one forward, from which the rows derive
 * GOP/s and weight bytes/s. */
#include <ctype.h>
#include <stdio.h>

#include "cli/bench.h"
#include "model/gguf.h"

const char *bench_weights_type(const am_model *m) {
    uint32_t ft;
    if (m->gguf && am_gguf_get_u32(m->gguf, "general.file_type", &ft)) {
        switch (ft) {
        case 0: return "F32";
        case 1: return "F16";
        case 2: return "Q4_0";
        case 7: return "Q8_0";
        case 14: return "Q4_K_S";
        case 15: return "Q4_K_M";
        case 17: return "Q5_K_M";
        case 18: return "Q6_K";
        case 32: return "BF16";
        default: break;
        }
    }
    /* a Hugging Face folder: its dtype, spelled as llama.cpp's types are */
    static char up[16];
    snprintf(up, sizeof up, "%s", am_type_name(m->layers[0].wq->type));
    for (char *c = up; *c; c++) *c = (char)toupper((unsigned char)*c);
    return up;
}

static uint64_t n_elems(const am_tensor *t) { return t ? (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]) : 0; }

uint64_t bench_n_params(const am_model *m) {
    uint64_t n = 0;
    if (m->gguf) {
        for (int64_t i = 0; i < am_gguf_n_tensors(m->gguf); i++) n += n_elems(am_gguf_tensor(m->gguf, i));
        return n;
    }
    const am_hparams *hp = &m->hp;
    uint64_t e = (uint64_t)hp->n_embd, q = (uint64_t)hp->n_head * hp->head_dim,
             kv = (uint64_t)hp->n_head_kv * hp->head_dim, hd = (uint64_t)hp->head_dim;
    n = n_elems(m->tok_embd) + (m->output != m->tok_embd ? n_elems(m->output) : 0) + e;
    for (int i = 0; i < hp->n_layer; i++) {
        const am_layer *l = &m->layers[i];
        n += n_elems(l->wq) + n_elems(l->wk) + n_elems(l->wv) + n_elems(l->wo);
        n += n_elems(l->ffn_gate) + n_elems(l->ffn_up) + n_elems(l->ffn_down);
        n += (l->bq ? q : 0) + (l->bk ? kv : 0) + (l->bv ? kv : 0);
        n += (l->q_norm ? hd : 0) + (l->k_norm ? hd : 0);
        n += (l->attn_norm ? e : 0) + (l->ffn_norm ? e : 0) + (l->post_attn_norm ? e : 0) +
             (l->post_ffn_norm ? e : 0);
    }
    return n;
}

/* The seven matrices of layer i. */
static void layer_mats(const am_layer *l, const am_tensor *out[7]) {
    out[0] = l->wq, out[1] = l->wk, out[2] = l->wv, out[3] = l->wo;
    out[4] = l->ffn_gate, out[5] = l->ffn_up, out[6] = l->ffn_down;
}

uint64_t bench_layer_matmul_params(const am_model *m) {
    uint64_t n = 0;
    for (int i = 0; i < m->hp.n_layer; i++) {
        const am_tensor *t[7];
        layer_mats(&m->layers[i], t);
        for (int k = 0; k < 7; k++) n += n_elems(t[k]);
    }
    return n;
}

uint64_t bench_output_params(const am_model *m) { return n_elems(m->output); }

uint64_t bench_kv_bytes_per_token(const am_model *m, am_type t) {
    return 2 * (uint64_t)m->hp.n_layer * am_type_row_bytes(t, (int64_t)m->hp.n_head_kv * m->hp.head_dim);
}

uint64_t bench_decode_bytes(const am_model *m) {
    uint64_t n = m->output ? m->output->nbytes : 0;
    for (int i = 0; i < m->hp.n_layer; i++) {
        const am_tensor *t[7];
        layer_mats(&m->layers[i], t);
        for (int k = 0; k < 7; k++) n += t[k] ? t[k]->nbytes : 0;
    }
    return n;
}
