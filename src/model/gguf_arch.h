/*
 * gguf_arch.h — the GGUF names of a model: which tensors a llama / qwen2 /
 * qwen3 / gemma3 file holds (names, shapes, types, in one order) and the
 * hyperparameter keys, as llama.cpp's convert_hf_to_gguf.py + llama-quantize
 * write them. One table for every GGUF this project writes: random models
 * (synth.c) and converted Hugging Face folders (convert.c).
 *
 * The description is an am_synth_shape (an architecture's shape, whatever
 * the weights' origin); the type mix is am_synth_tensor_type's.
 */
#ifndef AM_GGUF_ARCH_H
#define AM_GGUF_ARCH_H

#include "model/gguf_write.h"
#include "model/synth.h"

typedef enum am_tkind {
    AM_TK_MATRIX = 0, /* a weight matrix of the file type (or the mix's exception) */
    AM_TK_BIAS,       /* F32 vector (qwen2 q/k/v biases) */
    AM_TK_NORM,       /* F32 vector (norm weights; gemma3: the +1-offset value) */
    AM_TK_ROPE_FREQS, /* F32 [head_dim/2]: llama3 rope divisors */
} am_tkind;

typedef struct am_tplan {
    char name[64];     /* GGUF name, "blk.3.attn_q.weight" */
    const char *role;  /* "token_embd", "attn_q", "attn_norm", ... (static) */
    int layer;         /* block index, 0 for non-block tensors */
    am_type type;
    int n_dims;
    int64_t ne[2];     /* ne[0] = row length; ne[1] = rows (1 for vectors) */
    am_tkind kind;
} am_tplan;

typedef struct am_gguf_plan {
    am_tplan *t;       /* [n], owned */
    int n, cap;
    uint64_t n_params;
} am_gguf_plan;

/* Every tensor of shape s with file type f and n_vocab embedding rows, in
 * file order: rope_freqs.weight (when rope_freqs), token_embd, per block
 * attn_norm, attn_q(+bias), attn_k(+bias), attn_v(+bias), attn_output,
 * attn_q_norm/attn_k_norm (qk_norm), post_attention_norm (post_norms),
 * ffn_norm, ffn_gate, ffn_up, ffn_down, post_ffw_norm (post_norms); then
 * output_norm and output (unless tied). Free with am_gguf_plan_free. */
void am_gguf_plan_make(am_gguf_plan *p, const am_synth_shape *s, am_synth_ftype f, int64_t n_vocab,
                       bool rope_freqs);
void am_gguf_plan_free(am_gguf_plan *p);

/* llama.cpp's general.file_type (LLAMA_FTYPE_MOSTLY_*) of a file type. */
uint32_t am_gguf_llama_ftype(am_synth_ftype f);

/* Writes general.{architecture,type,name,size_label,file_type,
 * quantization_version} and the <arch>.* hyperparameter keys of s (n_vocab:
 * the vocabulary size llama files record). rope_scale_linear > 1 adds
 * rope.scaling.type "linear" and rope.scaling.factor. Not the tokenizer. */
void am_gguf_write_hparams(am_gguf_writer *w, const am_synth_shape *s, am_synth_ftype f, int64_t n_vocab,
                           uint64_t n_params, float rope_scale_linear);

#endif
