/*
 * quant.h — block formats (bit-exact with GGUF/ggml), row dequantization and
 * quantization. The scalar code here is the reference every SIMD kernel is
 * tested against.
 */
#ifndef AM_QUANT_H
#define AM_QUANT_H

#include "compute/types.h"

/* dst[0..n) = value of row src (n elements of type t). n must be a multiple
 * of the block size. Thread-safe, no allocation. */
void am_dequant_row(am_type t, const void *src, float *dst, int64_t n);

/* Quantizes n floats into dst (am_type_row_bytes(t, n) bytes). Supported:
 * F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K (round-to-nearest, the
 * reference quantizers). */
void am_quantize_row(am_type t, const float *src, void *dst, int64_t n);

#endif
