/*
 * pack.h — weights repacked once for the matmul kernels (AM_LAYOUT_TILE16).
 *
 * The AVX-512 Q4_0 / Q8_0 kernels keep one int32 lane per output row; in GGUF's
 * row layout each 16-row tile has to be transposed in registers for every block
 * and every call. Q6_K's row-layout kernel instead pairs rows and sums across
 * lanes per super-block; its packed form feeds a one-lane-per-row kernel
 * (kern_q6p_avx512.c). am_pack_tensor writes that transposed form once (layout in
 * compute/blocks.h): a matmul then streams one sequential region per tile with
 * aligned loads. The packed bytes equal the row bytes (plus a 64-byte round-up per
 * tile and a padded tail tile), so a caller that repacks should drop the source
 * pages (the model's am_model_drop_pages) to hold the weights once.
 *
 * Every ISA level computes a packed tensor (the scalar level is the reference),
 * bit-identically to the AVX-512 kernels on the row layout. Packed tensors are for
 * matmuls; am_tensor_get_row still works on them (a slow per-row gather).
 */
#ifndef AM_PACK_H
#define AM_PACK_H

#include "base/base.h"
#include "compute/pool.h"
#include "compute/types.h"

/* True when w is a Q4_0 / Q8_0 tensor in the row layout, n_in a multiple of 32, or a
 * Q6_K one, n_in a multiple of 256. */
bool am_pack_supported(const am_tensor *w);

/* True when packing pays at the ISA level in use (AVX-512: its kernels are the
 * ones the layout is for; other levels compute it but gain nothing). */
bool am_pack_preferred(void);

/* Bytes of src packed, or 0 when unsupported or too large for size_t. */
size_t am_pack_bytes(const am_tensor *src);

/* dst = src repacked: the same view (name, type, shape) with layout
 * AM_LAYOUT_TILE16 and data in a new 64-byte aligned buffer that the caller
 * owns (am_aligned_free of dst->data) and must keep while dst is used.
 * Runs on the pool (NULL: the calling thread). Returns 0, or -1 with err set
 * (AM_E_INVALID: unsupported tensor, or its packed size overflows). */
int am_pack_tensor(am_pool *pool, const am_tensor *src, am_tensor *dst, am_err *err);

/* Row `row` of a packed tensor back in the row layout (row_bytes of its type). */
void am_pack_read_row(const am_tensor *w, int64_t row, uint8_t *dst);

#endif
