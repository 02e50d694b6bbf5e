/*
 * convert.h — a Hugging Face folder (config.json + safetensors + tokenizer)
 * to one GGUF v3 file, as llama.cpp's convert_hf_to_gguf.py followed by
 * llama-quantize would make it: the same metadata keys, tensor names,
 * shapes and type mix (gguf_arch.c), llama Q/K rows permuted for
 * interleaved rope, gemma3 norms with their +1, llama3 rope scaling as
 * rope_freqs.weight, tied embeddings kept tied, the tokenizer and the chat
 * template — so that the file alone tokenizes, templates and ends
 * generation as the folder does.
 *
 * The folder is read through the same loaders as `--model DIR`
 * (am_model_load, am_tokenizer_load), so it is treated as hostile input the
 * same way. Before anything is written the converter refuses hyperparameters
 * that GGUF readers would infer differently (gemma3's layer pattern, local
 * rope base and query scale; sliding windows elsewhere; soft-capping), and
 * checks that the GGUF's tokenizer, built from the keys it will write,
 * encodes a set of probe strings as the folder's does and has the same
 * end-of-generation set.
 *
 * Weights are converted row by row on n_threads threads (am_quantize_row)
 * and streamed: memory holds the vocabulary and one chunk of rows (tens of
 * MB), whatever the model size. OUT appears atomically: on any failure it
 * is left as it was.
 */
#ifndef AM_CONVERT_H
#define AM_CONVERT_H

#include "base/base.h"
#include "model/synth.h"

typedef struct am_convert_params {
    am_synth_ftype ftype; /* f16, bf16, q8_0, q4_0, q4_k (Q4_K_M's mix) */
    int n_threads;        /* <= 0: one per core */
    bool progress;        /* progress lines on stderr */
    size_t chunk_bytes;   /* output rows converted at once (0: 32 MiB); tests make it small to cross chunk seams */
} am_convert_params;

am_convert_params am_convert_default_params(void);

/* Converts hf_dir into out_path. Returns 0, or -1 with err set: AM_E_NOT_FOUND
 * (no such folder or file in it), AM_E_BAD_FILE (malformed or unsupported
 * model, tokenizer that GGUF cannot express), AM_E_IO (unwritable output,
 * disk full). */
int am_convert(const char *hf_dir, const char *out_path, const am_convert_params *p, am_err *err);

#endif
