/*
 * hfconfig.h — reads a Hugging Face model folder's config.json (and the chat
 * template of tokenizer_config.json) into am_hparams.
 *
 * Both config styles real checkpoints use are accepted:
 *   - transformers 4: rope_theta, rope_scaling {rope_type|type: linear|llama3|default, ...},
 *     gemma3 rope_local_base_freq;
 *   - transformers 5: rope_parameters {rope_theta, rope_type, ...}, or for
 *     Gemma 3 one such object per layer type ({"full_attention": {...},
 *     "sliding_attention": {...}}).
 * Architectures: LlamaForCausalLM, MistralForCausalLM (llama), Qwen2ForCausalLM,
 * Qwen3ForCausalLM, Gemma3ForCausalLM (and Gemma3ForConditionalGeneration's
 * text_config).
 *
 * llama3 rope scaling becomes rope_freq_factors[head_dim/2]: the divisor of
 * each inverse frequency, inv_freq[i] / llama3_inv_freq[i], computed as HF's
 * _compute_llama3_parameters does, so that theta_i = pos * base^(-2i/d) / f[i]
 * (the GGUF rope_freqs.weight convention).
 *
 * bos_id/eos_id are config.json's (the first of a list), as HF generate uses
 * them; they may differ from the tokenizer's special tokens (the llama3-tiny
 * fixture: config 1/2, tokenizer 600/604), and the greedy goldens follow config.
 *
 * Fields of hp that depend on tensors (n_vocab is taken from config but
 * checked against the embedding by the loader; tied_embeddings may be forced
 * on when lm_head is absent) are settled by model.c. rope_style is NEOX.
 */
#ifndef AM_HFCONFIG_H
#define AM_HFCONFIG_H

#include "base/base.h"
#include "model/model.h"

typedef struct am_hf_config {
    am_hparams hp;            /* hp.rope_freq_factors points at freq_factors */
    float *freq_factors;      /* owned, [head_dim/2], or NULL */
    char *chat_template;      /* owned, from tokenizer_config.json, or NULL */
    char architecture[64];    /* architectures[0] as written */
    bool multimodal_wrapper;  /* Gemma3ForConditionalGeneration: weights under a language_model prefix */
} am_hf_config;

/* Parses config.json text (n bytes). Returns 0, or -1 with err set. */
int am_hf_config_parse(const char *json, size_t n, am_hf_config *out, am_err *err);
/* Reads dir/config.json and, if present, dir/tokenizer_config.json's chat_template. */
int am_hf_config_read(const char *dir, am_hf_config *out, am_err *err);
/* Extracts the chat template from tokenizer_config.json text: a string, or a
 * list of {name, template} (the one named "default"). Returns an owned copy or
 * NULL (absent or malformed). */
char *am_hf_chat_template_parse(const char *json, size_t n);
void am_hf_config_free(am_hf_config *c);

/* HF's llama3 rope frequency divisors for head_dim (even), filled into out[head_dim/2]. */
void am_rope_llama3_factors(float *out, int head_dim, double base, double factor, double low_freq_factor,
                            double high_freq_factor, double original_max_pos);

#endif
