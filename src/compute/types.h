/*
 * types.h — tensor element types and the tensor view every module shares.
 *
 * Type numbers are GGUF's (ggml_type), so a GGUF tensor's type field maps
 * straight onto am_type after a validity check (am_type_valid).
 * Quantized types are stored in blocks along the row (ne[0]); a row of n
 * elements needs n % am_type_block_elems(t) == 0.
 */
#ifndef AM_TYPES_H
#define AM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum am_type {
    AM_TYPE_F32 = 0,
    AM_TYPE_F16 = 1,
    AM_TYPE_Q4_0 = 2,
    AM_TYPE_Q8_0 = 8,
    AM_TYPE_Q4_K = 12,
    AM_TYPE_Q5_K = 13,
    AM_TYPE_Q6_K = 14,
    AM_TYPE_BF16 = 30,
} am_type;

/* True for the types agentmem can compute with. */
bool am_type_valid(uint32_t t);
/* "f32", "q4_k", ...; "unknown(N)" style names are not returned: use
 * am_ggml_type_name for any GGUF type number (for error messages). */
const char *am_type_name(am_type t);
const char *am_ggml_type_name(uint32_t t); /* any ggml type number, "type 42" if unknown */
/* Elements per block (1 for float types, 32 for Q4_0/Q8_0, 256 for K-quants). */
int am_type_block_elems(am_type t);
/* Bytes per block. */
size_t am_type_block_bytes(am_type t);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size
 * or the byte count does not fit in size_t. */
size_t am_type_row_bytes(am_type t, int64_t n);

/* How a tensor's bytes are laid out. AM_LAYOUT_ROWS is GGUF's (row after row
 * of blocks); AM_LAYOUT_TILE16 is the matmul-only repacked form of Q4_0 / Q8_0 / Q6_K
 * made by am_pack_tensor (compute/pack.h; layout in compute/blocks.h). */
typedef enum am_layout { AM_LAYOUT_ROWS = 0, AM_LAYOUT_TILE16 = 1 } am_layout;

/* A read-only view of a weight tensor: ne[0] is the contiguous (row)
 * dimension, as in GGUF. data points into a mapping or owned memory of the
 * model (or, for a packed copy, of whoever called am_pack_tensor); the view
 * never owns it. A zeroed layout is AM_LAYOUT_ROWS. */
typedef struct am_tensor {
    const char *name;
    am_type type;
    int n_dims;
    int64_t ne[4];   /* unused dims are 1 */
    const void *data;
    size_t nbytes;
    am_layout layout;
} am_tensor;

static inline int64_t am_tensor_nrows(const am_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

/* fp16 / bf16 scalar conversions (exact, round-to-nearest-even on narrowing). */
float am_f16_to_f32(uint16_t h);
uint16_t am_f32_to_f16(float f);
float am_bf16_to_f32(uint16_t h);
/* Inline: the bf16 prefill path (matmul.c am_prep_bf16xt) runs it once per activation.
 * NaN stays a quiet NaN. */
static inline uint16_t am_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

#endif
