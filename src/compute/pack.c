/*
 * pack.c — am_pack_tensor: Q4_0 / Q8_0 / Q6_K rows into AM_LAYOUT_TILE16 (blocks.h),
 * tiles split over the pool's threads; and the way back for one row.
 * Owns nothing: the packed buffer goes to the caller.
 */
#include "compute/pack.h"

#include <string.h>

#include "compute/blocks.h"
#include "compute/kernels.h"
#include "compute/matmul.h"

bool am_pack_supported(const am_tensor *w) {
    if (w->layout != AM_LAYOUT_ROWS || w->ne[0] <= 0 || am_tensor_nrows(w) <= 0) return false;
    if (w->type == AM_TYPE_Q6_K) return w->ne[0] % AM_QKK == 0;
    return (w->type == AM_TYPE_Q4_0 || w->type == AM_TYPE_Q8_0) && w->ne[0] % AM_QK == 0;
}

bool am_pack_preferred(void) { return strcmp(am_compute_isa(), "avx512") == 0; }

size_t am_pack_bytes(const am_tensor *src) {
    if (!am_pack_supported(src)) return 0;
    const int q6 = src->type == AM_TYPE_Q6_K, q8 = src->type == AM_TYPE_Q8_0;
    uint64_t nb = (uint64_t)(src->ne[0] / (q6 ? AM_QKK : AM_QK)), tiles = ((uint64_t)am_tensor_nrows(src) + AM_TILE_ROWS - 1) / AM_TILE_ROWS;
    uint64_t tile, total;
    if (!am_mul_ok(nb, q6 ? AM_Q6P_SB_BYTES + 32 : am_tile16_qbytes(q8) + 32, &tile) || tile > SIZE_MAX - 63) return 0;
    if (!am_mul_ok((tile + 63) / 64 * 64, tiles, &total) || total > SIZE_MAX) return 0;
    return (size_t)total;
}

typedef struct {
    const am_tensor *src;
    uint8_t *dst;
    int q8, q6;
    int64_t nb, n_rows, n_tiles;
    size_t row_bytes, tile_bytes;
} pack_job;

/* Row-layout element e (0..255) of a Q6_K super-block: its level q (0..63). */
static inline int q6_level(const am_block_q6_k *blk, int e) {
    const int h = e / 128, l = e % 32, k = (e % 128) / 32; /* k: which of l, l+32, l+64, l+96 */
    const uint8_t ql = blk->ql[64 * h + l + (k & 1) * 32], qh = blk->qh[32 * h + l];
    return ((k < 2 ? ql & 0xF : ql >> 4) | (((qh >> (2 * k)) & 3) << 4));
}

/* Tile k of a Q6_K tensor (blocks.h): element e < 192 of row i goes to bits 0-5 of its byte
 * in group e/4, e >= 192 is spread over bits 6-7 of three groups. The buffer is zeroed
 * first, so padding rows stay zero. */
static void q6_pack_tile(const pack_job *j, int64_t k) {
    uint8_t *tile = j->dst + (size_t)k * j->tile_bytes;
    uint16_t *dd = (uint16_t *)(tile + (size_t)j->nb * AM_Q6P_SB_BYTES);
    memset(tile, 0, j->tile_bytes);
    for (int i = 0; i < AM_TILE_ROWS; i++) {
        int64_t r = k * AM_TILE_ROWS + i;
        if (r >= j->n_rows) break;
        const am_block_q6_k *row = (const am_block_q6_k *)((const uint8_t *)j->src->data + (size_t)r * j->row_bytes);
        for (int64_t b = 0; b < j->nb; b++) {
            const am_block_q6_k *blk = &row[b];
            uint8_t *sb = tile + (size_t)b * AM_Q6P_SB_BYTES, *sc = sb + 48 * 64;
            for (int e = 0; e < 192; e++) sb[(e / 4) * 64 + 4 * i + e % 4] |= (uint8_t)q6_level(blk, e);
            for (int e = 192; e < 256; e++) {
                const int m = (e - 192) / 4, c = e % 4, q = q6_level(blk, e);
                for (int g = 0; g < 3; g++) sb[(3 * m + g) * 64 + 4 * i + c] |= (uint8_t)(((q >> (4 - 2 * g)) & 3) << 6);
            }
            for (int s = 0; s < 16; s++) sc[(s / 2) * 32 + 2 * i + s % 2] = (uint8_t)blk->scales[s];
            memcpy(&dd[b * AM_TILE_ROWS + i], &blk->d, 2);
        }
    }
}

/* Tile k: for each real row i and block b, its scale to scales[b][i] and its qs dwords to
 * lane i of block b's groups. The buffer is zeroed first, so padding rows stay zero. */
static void pack_tile(const pack_job *j, int64_t k) {
    const size_t bs = j->q8 ? sizeof(am_block_q8_0) : sizeof(am_block_q4_0), qb = am_tile16_qbytes(j->q8);
    uint8_t *tile = j->dst + (size_t)k * j->tile_bytes, *scales = tile + (size_t)j->nb * qb;
    memset(tile, 0, j->tile_bytes);
    const uint8_t xr = j->q8 ? 0x80 : 0x00;
    for (int i = 0; i < AM_TILE_ROWS; i++) {
        int64_t r = k * AM_TILE_ROWS + i;
        if (r >= j->n_rows) break;
        const uint8_t *row = (const uint8_t *)j->src->data + (size_t)r * j->row_bytes;
        for (int64_t b = 0; b < j->nb; b++) {
            const uint8_t *blk = row + (size_t)b * bs; /* d (2 bytes), then qs */
            memcpy(scales + ((size_t)b * AM_TILE_ROWS + i) * 2, blk, 2);
            uint8_t *q = tile + (size_t)b * qb;
            for (size_t g = 0; g < qb / 64; g++)
                for (int c = 0; c < 4; c++) q[g * 64 + 4 * i + c] = blk[2 + 4 * g + c] ^ xr;
        }
    }
}

static void pack_worker(void *ctx, int ith, int nth) {
    const pack_job *j = ctx;
    for (int64_t k = ith; k < j->n_tiles; k += nth) {
        if (j->q6) q6_pack_tile(j, k);
        else pack_tile(j, k);
    }
}

int am_pack_tensor(am_pool *pool, const am_tensor *src, am_tensor *dst, am_err *err) {
    if (!am_pack_supported(src))
        return am_err_setc(err, AM_E_INVALID, "%s: %s tensor cannot be packed", src->name ? src->name : "tensor",
                           am_type_name(src->type));
    size_t total = am_pack_bytes(src);
    if (!total) return am_err_setc(err, AM_E_INVALID, "%s: packed size overflows", src->name ? src->name : "tensor");
    pack_job j = {.src = src, .q8 = src->type == AM_TYPE_Q8_0, .q6 = src->type == AM_TYPE_Q6_K, .n_rows = am_tensor_nrows(src)};
    j.nb = src->ne[0] / (j.q6 ? AM_QKK : AM_QK);
    j.n_tiles = (j.n_rows + AM_TILE_ROWS - 1) / AM_TILE_ROWS;
    j.row_bytes = am_type_row_bytes(src->type, src->ne[0]);
    j.tile_bytes = am_tile16_stride(src->type, src->ne[0]);
    j.dst = am_xmalloc_huge(total);
    if (pool && am_pool_n_threads(pool) > 1 && j.n_tiles > 1)
        am_pool_run(pool, pack_worker, &j);
    else
        pack_worker(&j, 0, 1);
    *dst = *src;
    dst->layout = AM_LAYOUT_TILE16;
    dst->data = j.dst;
    dst->nbytes = total;
    return 0;
}

/* Row i of a Q6_K tile back into GGUF blocks (the inverse of q6_pack_tile). */
static void q6_read_row(const am_tensor *w, int64_t row, uint8_t *dst) {
    const int64_t nb = w->ne[0] / AM_QKK;
    const uint8_t *tile = (const uint8_t *)w->data + (size_t)(row / AM_TILE_ROWS) * am_tile16_q6k_bytes(nb);
    const uint16_t *dd = (const uint16_t *)(tile + (size_t)nb * AM_Q6P_SB_BYTES);
    const int i = (int)(row % AM_TILE_ROWS);
    for (int64_t b = 0; b < nb; b++) {
        am_block_q6_k *blk = (am_block_q6_k *)dst + b;
        const uint8_t *sb = tile + (size_t)b * AM_Q6P_SB_BYTES, *sc = sb + 48 * 64;
        memset(blk, 0, sizeof *blk);
        for (int e = 0; e < 256; e++) {
            int q;
            if (e < 192) {
                q = sb[(e / 4) * 64 + 4 * i + e % 4] & 0x3F;
            } else {
                const int m = (e - 192) / 4, c = e % 4;
                q = 0;
                for (int g = 0; g < 3; g++) q |= (sb[(3 * m + g) * 64 + 4 * i + c] >> 6) << (4 - 2 * g);
            }
            const int h = e / 128, l = e % 32, k = (e % 128) / 32;
            blk->ql[64 * h + l + (k & 1) * 32] |= (uint8_t)(k < 2 ? q & 0xF : (q & 0xF) << 4);
            blk->qh[32 * h + l] |= (uint8_t)((q >> 4) << (2 * k));
        }
        for (int s = 0; s < 16; s++) blk->scales[s] = (int8_t)sc[(s / 2) * 32 + 2 * i + s % 2];
        memcpy(&blk->d, &dd[b * AM_TILE_ROWS + i], 2);
    }
}

void am_pack_read_row(const am_tensor *w, int64_t row, uint8_t *dst) {
    if (w->type == AM_TYPE_Q6_K) {
        q6_read_row(w, row, dst);
        return;
    }
    const int q8 = w->type == AM_TYPE_Q8_0;
    const size_t bs = q8 ? sizeof(am_block_q8_0) : sizeof(am_block_q4_0), qb = am_tile16_qbytes(q8);
    const int64_t nb = w->ne[0] / AM_QK;
    const uint8_t *tile = (const uint8_t *)w->data + (size_t)(row / AM_TILE_ROWS) * am_tile16_bytes(q8, nb);
    const int i = (int)(row % AM_TILE_ROWS);
    const uint8_t xr = q8 ? 0x80 : 0x00;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = dst + (size_t)b * bs;
        memcpy(blk, tile + (size_t)nb * qb + ((size_t)b * AM_TILE_ROWS + i) * 2, 2);
        const uint8_t *q = tile + (size_t)b * qb;
        for (size_t g = 0; g < qb / 64; g++)
            for (int c = 0; c < 4; c++) blk[2 + 4 * g + c] = q[g * 64 + 4 * i + c] ^ xr;
    }
}
