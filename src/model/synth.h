/*
 * synth.h — synthetic models: GGUF files with random weights in the exact
 * shapes (and metadata keys, tensor names, tensor type mix, vocabulary size
 * and chat template) of real models, for benchmarks and tests of any size
 * without downloads. Their text is noise; their cost is real.
 *
 * Weights are deterministic in (shape, type, seed) whatever the thread
 * count: every row draws from its own generator seeded by (seed, tensor
 * name, row). Matrices are ~N(0, 1/n_in) (biases N(0, 0.02²)), norm weights 1.0 (for
 * gemma3 that is the +1-offset value the files store), and llama3 rope
 * scaling arrives as rope_freqs.weight, as the converter writes it.
 * Quantized matrices are assembled from a per-file pool of up to 4M weights
 * quantized by am_quantize_row (each row a random sequence of pool blocks):
 * the reference K-quantizers are too slow to quantize a billion weights in
 * seconds, and block-level reuse changes nothing a benchmark or a shape test
 * can see.
 */
#ifndef AM_SYNTH_H
#define AM_SYNTH_H

#include "base/base.h"
#include "compute/types.h"

typedef struct am_synth_shape {
    const char *name;         /* "llama-1b", ... */
    const char *arch;         /* GGUF general.architecture */
    const char *model_name;   /* general.name */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx;
    float norm_eps, rope_base;
    float rope_llama3_factor; /* llama3 rope scaling factor (0 = none); low 1, high 4, original 8192 */
    bool tied;                /* no output.weight: token_embd is the output matrix */
    bool qkv_bias;            /* qwen2 */
    bool qk_norm, post_norms; /* gemma3 */
    int sliding_window;       /* gemma3 (0 = none) */
    int vocab_style;          /* am_synth_vocab_style */
} am_synth_shape;

/* The known shapes (NULL-terminated list of names) and a lookup by name. */
extern const char *const am_synth_shape_names[];
const am_synth_shape *am_synth_find_shape(const char *name);

/* Weight types: "f16", "q8_0", "q4_0", "q4_k", "bf16". */
typedef enum am_synth_ftype {
    AM_SYNTH_F16 = 0,
    AM_SYNTH_Q8_0,
    AM_SYNTH_Q4_0,
    AM_SYNTH_Q4_K,
    AM_SYNTH_BF16, /* every matrix BF16 (llama.cpp's MOSTLY_BF16) */
} am_synth_ftype;
bool am_synth_parse_ftype(const char *s, am_synth_ftype *out);

/* The type mix, as llama.cpp's quantizer chooses it: norms, biases and
 * rope_freqs F32; matrices of the file type, except that in q4_0 and q4_k
 * files the output matrix (token_embd when tied) is Q6_K, and in q4_k files
 * attn_v and ffn_down of some layers (first and last eighth, every third
 * between) are Q6_K too (= Q4_K_M). Rows that are no multiple of 256 cannot
 * be K-quantized: Q6_K falls back to Q8_0 and Q4_K to Q4_0 (llama.cpp would
 * use Q5_0, which agentmem does not compute). role: "token_embd", "output",
 * "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up",
 * "ffn_down". */
am_type am_synth_tensor_type(const am_synth_shape *s, am_synth_ftype f, const char *role, int layer,
                             int64_t row_len);

typedef struct am_synth_params {
    const char *shape;      /* a name from am_synth_shape_names */
    am_synth_ftype ftype;
    uint64_t seed;
    const char *vocab_path; /* a tokenizer.json to copy, or NULL for a generated vocabulary */
    int n_threads;          /* <= 0: one per core */
    bool progress;          /* progress lines on stderr */
    const am_synth_shape *custom_shape; /* if set, used instead of shape (tests: scaled-down families) */
} am_synth_params;

am_synth_params am_synth_default_params(void);

/* Writes the model to path atomically (nothing is left at path on failure).
 * Returns 0, or -1 with err set (unknown shape, unreadable vocabulary,
 * unwritable path, disk full). Memory use is bounded by the vocabulary and
 * a few tens of MB of buffers, whatever the model size. */
int am_synth_write(const am_synth_params *p, const char *path, am_err *err);

/* Chat templates (synth_templates.c). */
extern const char am_synth_template_llama3[];
extern const char am_synth_template_qwen2[];
extern const char am_synth_template_gemma3[];

#endif
