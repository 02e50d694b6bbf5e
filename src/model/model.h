/*
 * model.h — a loaded model: hyperparameters, weights, and where they came from.
 *
 * am_model_load accepts a GGUF file or a Hugging Face folder (config.json +
 * safetensors). Both are normalized to one description so the engine never
 * cares about the source:
 *   - tensor views use GGUF names and GGUF layout (ne[0] = row length),
 *   - norm weights are owned float32 copies with any (1+w) offset applied,
 *   - biases and q/k norms likewise float32,
 *   - rope_style says how Q/K pairs are rotated (GGUF llama files carry Q/K
 *     permuted for interleaved rope; HF llama and all qwen/gemma use NeoX),
 *   - llama3-style rope scaling arrives as rope_freq_factors from either the
 *     rope_freqs.weight tensor or from config.json.
 * The model is immutable after load and may be read by many threads.
 */
#ifndef AM_MODEL_H
#define AM_MODEL_H

#include "base/base.h"
#include "compute/types.h"

typedef enum am_arch {
    AM_ARCH_LLAMA = 0,
    AM_ARCH_QWEN2,
    AM_ARCH_QWEN3,
    AM_ARCH_GEMMA3,
} am_arch;

typedef enum am_rope_style {
    AM_ROPE_NORM = 0, /* rotate pairs (2i, 2i+1) — GGUF llama */
    AM_ROPE_NEOX = 1, /* rotate pairs (i, i + head_dim/2) */
} am_rope_style;

typedef enum am_act {
    AM_ACT_SILU = 0,     /* SwiGLU: silu(gate) * up */
    AM_ACT_GELU_TANH = 1 /* GeGLU with tanh-approximated GeLU */
} am_act;

#define AM_MAX_LAYERS 512

typedef struct am_hparams {
    am_arch arch;
    int n_vocab;
    int n_embd;        /* hidden size */
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;
    int n_ff;          /* intermediate size */
    int n_ctx_train;   /* max_position_embeddings / context_length */
    float norm_eps;
    am_rope_style rope_style;
    float rope_base;        /* theta for full-attention layers */
    float rope_base_local;  /* theta for sliding-window layers (gemma3: 10000) */
    float rope_scale;       /* linear position scaling on full-attention layers: pos / rope_scale (1 = none) */
    const float *rope_freq_factors; /* [head_dim/2] divisors of each frequency, or NULL */
    int sliding_window;     /* tokens a sliding layer sees (0 = none) */
    bool layer_swa[AM_MAX_LAYERS]; /* true for sliding-window layers */
    float query_scale;      /* multiplier of q·k: 1/sqrt(head_dim) or query_pre_attn_scalar^-0.5 */
    float embd_scale;       /* multiplier of token embeddings (gemma3: sqrt(n_embd)), else 1 */
    am_act act;
    float final_logit_softcap; /* 0 = none */
    float attn_logit_softcap;  /* 0 = none */
    bool tied_embeddings;
    int32_t bos_id, eos_id; /* -1 when unknown */
} am_hparams;

typedef struct am_layer {
    const float *attn_norm;      /* [n_embd] */
    const am_tensor *wq;         /* [n_head*head_dim rows][n_embd] */
    const am_tensor *wk;         /* [n_head_kv*head_dim][n_embd] */
    const am_tensor *wv;         /* [n_head_kv*head_dim][n_embd] */
    const am_tensor *wo;         /* [n_embd][n_head*head_dim] */
    const float *bq, *bk, *bv;   /* qwen2 biases or NULL */
    const float *q_norm, *k_norm;/* [head_dim] per-head RMSNorm (qwen3, gemma3) or NULL */
    const float *post_attn_norm; /* gemma3 or NULL */
    const float *ffn_norm;       /* [n_embd] */
    const am_tensor *ffn_gate;   /* [n_ff][n_embd] */
    const am_tensor *ffn_up;     /* [n_ff][n_embd] */
    const am_tensor *ffn_down;   /* [n_embd][n_ff] */
    const float *post_ffn_norm;  /* gemma3 or NULL */
} am_layer;

typedef struct am_model am_model;

struct am_model {
    am_hparams hp;
    const am_tensor *tok_embd;   /* [n_vocab][n_embd] */
    const float *output_norm;    /* [n_embd] */
    const am_tensor *output;     /* [n_vocab][n_embd]; == tok_embd when tied */
    am_layer *layers;            /* [n_layer] */

    char *path;                  /* what was loaded (file or folder) */
    bool is_gguf;
    struct am_gguf *gguf;        /* GGUF source (metadata for the tokenizer), or NULL */
    char *hf_dir;                /* Hugging Face folder, or NULL */
    char *chat_template;         /* from GGUF or tokenizer_config.json, or NULL */
    uint64_t weight_bytes;       /* bytes of all weight tensors */
    void *priv;                  /* loader-owned storage (mappings, converted arrays) */
};

/* Loads a GGUF file or a Hugging Face folder. Returns NULL with err set for
 * any problem (missing/unsupported architecture, tensor, type or shape). */
am_model *am_model_load(const char *path, am_err *err);
/* Loads a GGUF image held in memory. The buffer is borrowed: it must stay
 * unchanged until am_model_free (weights point into it). name labels error
 * messages and becomes m->path (NULL: "(memory)"). */
am_model *am_model_load_gguf_memory(const void *data, size_t size, const char *name, am_err *err);
void am_model_free(am_model *m);

/* Lets the OS drop the file-backed pages of weight t (one of m's tensors) from
 * memory: for a caller that holds the weights in another form (the engine's
 * packed copies) so they are resident once. Reading t afterwards still works
 * (the pages come back from the file); a no-op for memory-loaded models and
 * Hugging Face folders. */
void am_model_drop_pages(const am_model *m, const am_tensor *t);

const char *am_arch_name(am_arch a);

#endif
