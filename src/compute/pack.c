/*
 * pack.c — am_pack_tensor: Q4_0 / Q8_0 rows into AM_LAYOUT_TILE16 (blocks.h),
 * tiles split over the pool's threads; and the way back for one row.
 * Owns nothing: the packed buffer goes to the caller.
 */
#include "compute/pack.h"

#include <string.h>

#include "compute/blocks.h"
#include "compute/kernels.h"
#include "compute/matmul.h"

bool am_pack_supported(const am_tensor *w) {
    return w->layout == AM_LAYOUT_ROWS && (w->type == AM_TYPE_Q4_0 || w->type == AM_TYPE_Q8_0) && w->ne[0] > 0 &&
           w->ne[0] % AM_QK == 0 && am_tensor_nrows(w) > 0;
}

bool am_pack_preferred(void) { return strcmp(am_compute_isa(), "avx512") == 0; }

size_t am_pack_bytes(const am_tensor *src) {
    if (!am_pack_supported(src)) return 0;
    int q8 = src->type == AM_TYPE_Q8_0;
    uint64_t nb = (uint64_t)(src->ne[0] / AM_QK), tiles = ((uint64_t)am_tensor_nrows(src) + AM_TILE_ROWS - 1) / AM_TILE_ROWS;
    uint64_t tile, total;
    if (!am_mul_ok(nb, am_tile16_qbytes(q8) + 32, &tile) || tile > SIZE_MAX - 63) return 0;
    if (!am_mul_ok((tile + 63) / 64 * 64, tiles, &total) || total > SIZE_MAX) return 0;
    return (size_t)total;
}

typedef struct {
    const am_tensor *src;
    uint8_t *dst;
    int q8;
    int64_t nb, n_rows, n_tiles;
    size_t row_bytes, tile_bytes;
} pack_job;

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
    for (int64_t k = ith; k < j->n_tiles; k += nth) pack_tile(j, k);
}

int am_pack_tensor(am_pool *pool, const am_tensor *src, am_tensor *dst, am_err *err) {
    if (!am_pack_supported(src))
        return am_err_setc(err, AM_E_INVALID, "%s: %s tensor cannot be packed", src->name ? src->name : "tensor",
                           am_type_name(src->type));
    size_t total = am_pack_bytes(src);
    if (!total) return am_err_setc(err, AM_E_INVALID, "%s: packed size overflows", src->name ? src->name : "tensor");
    pack_job j = {.src = src, .q8 = src->type == AM_TYPE_Q8_0, .nb = src->ne[0] / AM_QK, .n_rows = am_tensor_nrows(src)};
    j.n_tiles = (j.n_rows + AM_TILE_ROWS - 1) / AM_TILE_ROWS;
    j.row_bytes = am_type_row_bytes(src->type, src->ne[0]);
    j.tile_bytes = am_tile16_bytes(j.q8, j.nb);
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

void am_pack_read_row(const am_tensor *w, int64_t row, uint8_t *dst) {
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
