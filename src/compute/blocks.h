/*
 * blocks.h — in-memory block layouts (internal to src/compute).
 *
 * Weight blocks are byte-for-byte GGUF/ggml layouts (little-endian, packed,
 * no padding: sizes are checked below against types.c). Activation blocks
 * (am_q8a, am_q8k) are agentmem's own: they exist only inside one am_matmul
 * call and never reach a file.
 */
#ifndef AM_BLOCKS_H
#define AM_BLOCKS_H

#include <stdint.h>

#define AM_QK 32   /* elements per Q4_0 / Q8_0 block */
#define AM_QKK 256 /* elements per K-quant super-block */

/* value[j] = d * (nibble - 8); qs[j] low nibble = element j, high nibble = element j+16. */
typedef struct {
    uint16_t d; /* f16 */
    uint8_t qs[AM_QK / 2];
} am_block_q4_0;

/* value[j] = d * qs[j] */
typedef struct {
    uint16_t d; /* f16 */
    int8_t qs[AM_QK];
} am_block_q8_0;

/* 8 sub-blocks of 32: value = d*sc[j]*q - dmin*m[j], q in 0..15, sc/m 6-bit packed in
 * scales[12] (see am_q4k_scale_min). qs holds 4 chunks of 32 bytes: chunk c has sub-block 2c
 * in the low nibbles and sub-block 2c+1 in the high nibbles. */
typedef struct {
    uint16_t d;    /* f16, super-block scale of the scales */
    uint16_t dmin; /* f16, super-block scale of the mins */
    uint8_t scales[12];
    uint8_t qs[AM_QKK / 2];
} am_block_q4_k;

/* As Q4_K with a fifth bit: element l of chunk c gets bit 2c (low half) or 2c+1 (high half)
 * of qh[l], worth 16. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[AM_QKK / 8];
    uint8_t qs[AM_QKK / 2];
} am_block_q5_k;

/* 16 sub-blocks of 16: value = d * scales[j] * (q - 32), q in 0..63. Two halves of 128
 * elements; in half h, for l in 0..31: ql[64h+l] low/high nibbles give elements l and l+64,
 * ql[64h+l+32] low/high give l+32 and l+96; qh[32h+l] bits 0-1, 2-3, 4-5, 6-7 are the high
 * two bits of elements l, l+32, l+64, l+96. */
typedef struct {
    uint8_t ql[AM_QKK / 2];
    uint8_t qh[AM_QKK / 4];
    int8_t scales[AM_QKK / 16];
    uint16_t d; /* f16 */
} am_block_q6_k;

_Static_assert(sizeof(am_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(am_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(am_block_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(am_block_q5_k) == 176, "q5_k layout");
_Static_assert(sizeof(am_block_q6_k) == 210, "q6_k layout");

/* AM_LAYOUT_TILE16 (Q4_0 / Q8_0 repacked for the one-lane-per-row kernels, compute/pack.h).
 * Rows are grouped in tiles of 16 (the last tile zero padded); tile k holds rows 16k..16k+15
 * in am_tile16_bytes(t, nb) bytes (a multiple of 64) at k * that, nb = n_in / 32 blocks:
 *   quants [nb][Q] bytes: block b's Q = 256 (Q4_0) or 512 (Q8_0) bytes are Q/64 zmm-sized
 *     groups g; group g, bytes 4i..4i+3 = row i's qs[4g..4g+3] (Q4_0: the raw nibble bytes;
 *     Q8_0: qs xor 0x80, i.e. q + 128 as unsigned), so one aligned 64-byte load is what the
 *     register transpose of 16 rows gave;
 *   scales [nb][16] f16: block b's 16 row scales, d of row i at [b][i].
 * Padding rows have zero quants and zero scales. Same bytes per block as the row layout
 * (16 x 18 = 32 + 256, 16 x 34 = 32 + 512), plus the tile's round-up to 64. */
#define AM_TILE_ROWS 16
static inline size_t am_tile16_qbytes(int q8) { return q8 ? 512 : 256; }
static inline size_t am_tile16_bytes(int q8, int64_t nb) {
    return ((size_t)nb * (am_tile16_qbytes(q8) + 32) + 63) / 64 * 64;
}

/* AM_LAYOUT_TILE16 for Q6_K (compute/pack.h), for the one-lane-per-row kernel
 * (kern_q6p_avx512.c). Tiles of 16 rows as above, nb = n_in / 256 super-blocks; tile k at
 * k * am_tile16_q6k_bytes(nb):
 *   super-blocks [nb][AM_Q6P_SB_BYTES]: super-block b is
 *     levels [48][64]: group g (0..47), bytes 4i..4i+3 = row i's levels (q, 0..63) of
 *       elements 4g..4g+3 in bits 0-5, and in bits 6-7 two bits of the level of element
 *       4(48 + g/3) + c (the same byte position c): g % 3 = 0 its bits 4-5, 1 bits 2-3,
 *       2 bits 0-1. So groups 0..47 are levels after one and with 0x3F, and the last 64
 *       elements (sub-blocks 12..15) are gathered from the top bits of three groups each;
 *     scales [8][16][2] int8: sub-block pair p, row i: scales[2p], scales[2p+1] of row i;
 *   d [nb][16] f16 at nb * AM_Q6P_SB_BYTES: super-block b's 16 row scales.
 * Padding rows have zero levels, scales and d. 16 x 210 = 3328 + 32 bytes per super-block,
 * the row layout's, plus the tile's round-up to 64. */
#define AM_Q6P_SB_BYTES 3328 /* 48 * 64 levels + 256 scales */
static inline size_t am_tile16_q6k_bytes(int64_t nb) { return ((size_t)nb * (AM_Q6P_SB_BYTES + 32) + 63) / 64 * 64; }

/* Activations quantized for Q4_0 / Q8_0 weights: x[j] ~ d * qs[j], qs in -127..127,
 * s = sum of qs (lets kernels fold the weights' +8 / +128 offsets into one add). */
typedef struct {
    int8_t qs[AM_QK];
    float d;
    int32_t s;
} am_q8a;

/* Activations quantized for K-quant weights: one scale per 256, qs in -127..127,
 * bsums[j] = sum of qs[16j..16j+16). Padded to 320 bytes so qs stays 64-byte aligned. */
typedef struct {
    int8_t qs[AM_QKK];
    int16_t bsums[AM_QKK / 16];
    float d;
    uint8_t pad_[28];
} am_q8k;

_Static_assert(sizeof(am_q8a) == 40, "q8a layout");
_Static_assert(sizeof(am_q8k) == 320, "q8k layout");

/* Q4_K / Q5_K sub-block j (0..7) scale and min from the 12 packed bytes: sub-blocks 0-3 keep
 * their 6 bits in the low bits of bytes j (scale) and j+4 (min); sub-blocks 4-7 keep their low
 * 4 bits in byte j+4 (scale low nibble, min high nibble) and their top 2 bits in the top 2 bits
 * of bytes j-4 (scale) and j (min). */
static inline void am_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Activation quantizers (scalar reference; SIMD versions must give identical bytes).
 * n is a multiple of 32 / 256. Rounding is to nearest, ties to even. */
void am_quantize_q8a(const float *x, am_q8a *dst, int64_t n);
void am_quantize_q8k(const float *x, am_q8k *dst, int64_t n);

#endif
