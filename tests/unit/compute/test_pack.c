/* test_pack.c — AM_LAYOUT_TILE16 (compute/pack.h): packed Q4_0 / Q8_0 / Q6_K tensors against an
 * independent reference written here from the GGUF block format, at every ISA level.
 * The promise is bit equality: every level on a packed tensor, and AVX-512 on the row
 * layout, give acc = fma(float(int32 block dot), d_w * d_x, acc), blocks in order. The
 * reference computes exactly those float steps from the unpacked rows, so any layout slip
 * (a tile tail, a row's scale, a block) changes bits. Shapes are ragged: rows not a
 * multiple of 16 (1, 15, 17, 37, 130), 1..9 and 130 tokens (decode and prefill paths). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "compute/blocks.h"
#include "compute/matmul.h"
#include "compute/pack.h"
#include "compute/quant.h"
#include "test_util.h"

#define AM_ARRAY_LEN_(a) (sizeof(a) / sizeof((a)[0]))
static const char *ISAS[] = {"scalar", "avx2", "avx512"};

/* Row r of W against token activations xq (quantized as the kernels do), from the row
 * layout: Q4_0 qs[j] low nibble = element j, high = element j+16, value nibble - 8;
 * Q8_0 value = qs[j]. */
static float ref_dot(am_type t, const uint8_t *row, const am_q8a *xq, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        uint16_t d;
        int isum = 0;
        if (t == AM_TYPE_Q4_0) {
            const uint8_t *blk = row + b * 18;
            memcpy(&d, blk, 2);
            for (int j = 0; j < 16; j++)
                isum += ((blk[2 + j] & 0xF) - 8) * xq[b].qs[j] + ((blk[2 + j] >> 4) - 8) * xq[b].qs[j + 16];
        } else {
            const uint8_t *blk = row + b * 34;
            memcpy(&d, blk, 2);
            for (int j = 0; j < 32; j++) isum += (int8_t)blk[2 + j] * xq[b].qs[j];
        }
        acc = fmaf((float)isum, am_f16_to_f32(d) * xq[b].d, acc);
    }
    return acc;
}

typedef struct {
    am_type type;
    int64_t n_in, n_out;
    uint8_t *wq;
    am_tensor rows, packed;
} wcase;

static void make_case(wcase *c, am_pool *pool, am_type t, int64_t n_in, int64_t n_out) {
    c->type = t, c->n_in = n_in, c->n_out = n_out;
    size_t rb = am_type_row_bytes(t, n_in);
    c->wq = malloc(rb * n_out);
    float *row = malloc(sizeof(float) * n_in);
    for (int64_t r = 0; r < n_out; r++) {
        /* row scales differ widely, so a row given another row's scale shows */
        float s = 0.01f * (float)(1 + r % 7);
        for (int64_t k = 0; k < n_in; k++) row[k] = am_test_gauss() * s;
        am_quantize_row(t, row, c->wq + r * rb, n_in);
    }
    free(row);
    c->rows = (am_tensor){.name = "w", .type = t, .n_dims = 2, .ne = {n_in, n_out, 1, 1}, .data = c->wq, .nbytes = rb * n_out};
    am_err err = {0};
    CHECK(am_pack_supported(&c->rows));
    CHECK(am_pack_tensor(pool, &c->rows, &c->packed, &err) == 0);
    CHECK(c->packed.layout == AM_LAYOUT_TILE16 && c->packed.nbytes == am_pack_bytes(&c->rows));
}

static void free_case(wcase *c) {
    am_aligned_free((void *)c->packed.data);
    free(c->wq);
}

/* bug: a packed tensor computed at any level differs from the row layout's AVX-512 bits
 * (wrong tail tile, scale of the wrong row, a block skipped or out of order) */
static void test_packed_matches_reference(void) {
    static const am_type types[] = {AM_TYPE_Q4_0, AM_TYPE_Q8_0};
    static const int64_t n_ins[] = {32, 96, 512};
    static const int64_t n_outs[] = {1, 15, 16, 17, 37, 130};
    static const int toks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 130};
    am_pool *pool = am_pool_create(2);
    for (size_t ti = 0; ti < AM_ARRAY_LEN_(types); ti++)
        for (size_t ii = 0; ii < AM_ARRAY_LEN_(n_ins); ii++)
            for (size_t oi = 0; oi < AM_ARRAY_LEN_(n_outs); oi++) {
                wcase c;
                make_case(&c, pool, types[ti], n_ins[ii], n_outs[oi]);
                const int64_t n_in = c.n_in, n_out = c.n_out, nb = n_in / 32;
                size_t rb = am_type_row_bytes(c.type, n_in);
                for (size_t ki = 0; ki < AM_ARRAY_LEN_(toks); ki++) {
                    int n_tok = toks[ki];
                    float *x = malloc(sizeof(float) * n_in * n_tok), *y = malloc(sizeof(float) * n_out * n_tok);
                    float *ref = malloc(sizeof(float) * n_out * n_tok);
                    am_q8a *xq = malloc(sizeof(am_q8a) * nb);
                    for (int64_t k = 0; k < n_in * n_tok; k++) x[k] = am_test_gauss();
                    for (int t = 0; t < n_tok; t++) {
                        am_quantize_q8a(x + t * n_in, xq, n_in);
                        for (int64_t r = 0; r < n_out; r++) ref[t * n_out + r] = ref_dot(c.type, c.wq + r * rb, xq, nb);
                    }
                    for (int l = 0; l < 3; l++) {
                        if (am_compute_set_isa(ISAS[l]) != 0) continue;
                        for (int pk = 0; pk < 2; pk++) {
                            if (!pk && l != 2) continue; /* the row layout is promised these bits at AVX-512 only */
                            for (int np = 0; np < 2; np++) {
                                memset(y, 0xFF, sizeof(float) * n_out * n_tok);
                                am_matmul(np ? pool : NULL, pk ? &c.packed : &c.rows, x, n_tok, y);
                                CHECKF(memcmp(y, ref, sizeof(float) * n_out * n_tok) == 0,
                                       "%s %s %s n_in %lld n_out %lld n_tok %d pool %d", ISAS[l], am_type_name(c.type),
                                       pk ? "packed" : "rows", (long long)n_in, (long long)n_out, n_tok, np);
                            }
                        }
                    }
                    free(x), free(y), free(ref), free(xq);
                }
                free_case(&c);
            }
    am_pool_free(pool);
}

/* bug: am_tensor_get_row on a packed tensor (a tied embedding, a test) returns another
 * row or garbled bytes; am_pack_read_row must give back the row layout exactly */
static void test_read_row(void) {
    static const am_type types[] = {AM_TYPE_Q4_0, AM_TYPE_Q8_0, AM_TYPE_Q6_K};
    for (size_t ti = 0; ti < AM_ARRAY_LEN_(types); ti++) {
        wcase c;
        make_case(&c, NULL, types[ti], types[ti] == AM_TYPE_Q6_K ? 512 : 96, 37);
        size_t rb = am_type_row_bytes(c.type, c.n_in);
        uint8_t *back = malloc(rb);
        float *a = malloc(sizeof(float) * c.n_in), *b = malloc(sizeof(float) * c.n_in);
        for (int64_t r = 0; r < c.n_out; r++) {
            am_pack_read_row(&c.packed, r, back);
            CHECKF(memcmp(back, c.wq + r * rb, rb) == 0, "%s row %lld bytes", am_type_name(c.type), (long long)r);
            am_tensor_get_row(&c.packed, r, a);
            am_tensor_get_row(&c.rows, r, b);
            CHECKF(memcmp(a, b, sizeof(float) * c.n_in) == 0, "%s row %lld floats", am_type_name(c.type), (long long)r);
        }
        free(back), free(a), free(b);
        free_case(&c);
    }
}

/* Q6_K row r against token activations xq, from the GGUF block format: per super-block the
 * exact sum_j scales[j] * <q - 32, x_j> (16 sub-blocks of 16), then the kernels' float step
 * acc = fma(float(isum), d_w * d_x, acc). */
static float ref_dot_q6k(const uint8_t *row, const am_q8k *xq, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const am_block_q6_k *blk = (const am_block_q6_k *)row + b;
        int isum = 0;
        for (int e = 0; e < 256; e++) {
            const int h = e / 128, l = e % 32, k = (e % 128) / 32;
            const uint8_t ql = blk->ql[64 * h + l + (k & 1) * 32], qh = blk->qh[32 * h + l];
            const int q = (k < 2 ? ql & 0xF : ql >> 4) | (((qh >> (2 * k)) & 3) << 4);
            isum += blk->scales[e / 16] * (q - 32) * xq[b].qs[e];
        }
        uint16_t d;
        memcpy(&d, &blk->d, 2);
        acc = fmaf((float)isum, am_f16_to_f32(d) * xq[b].d, acc);
    }
    return acc;
}

/* bug: packed Q6_K differs in any bit from the row layout's AVX-512 kernels (the row-pair
 * decode kernel below 12 tokens, the prefill kernel from there) or from the layout's scalar
 * reference: a row's scale or d in another lane, the -32 offset of a sub-block lost, the top
 * two bits of the last 64 elements gathered wrong, a tail tile, a token pass boundary (16).
 * Every token count 1..64, rows not a multiple of 16, with and without the pool. Scales
 * and levels span their full ranges (-128..127, 0..63) so a dropped bit shows. */
static void test_q6k_packed_bits(void) {
    static const int64_t n_ins[] = {256, 768};
    static const int64_t n_outs[] = {1, 15, 16, 17, 37, 130};
    enum { MAXT = 64 };
    am_pool *pool = am_pool_create(2);
    for (size_t ii = 0; ii < AM_ARRAY_LEN_(n_ins); ii++)
        for (size_t oi = 0; oi < AM_ARRAY_LEN_(n_outs); oi++) {
            const int64_t n_in = n_ins[ii], n_out = n_outs[oi], nb = n_in / 256;
            wcase c;
            make_case(&c, pool, AM_TYPE_Q6_K, n_in, n_out);
            /* random bytes make every level and scale value appear (d kept small and finite) */
            const size_t rb = am_type_row_bytes(AM_TYPE_Q6_K, n_in);
            for (int64_t r = 0; r < n_out; r++)
                for (int64_t b = 0; b < nb; b++) {
                    am_block_q6_k *blk = (am_block_q6_k *)(c.wq + r * rb) + b;
                    if ((r + b) % 3 == 0) continue; /* keep some quantizer-made blocks */
                    for (int k = 0; k < 128; k++) blk->ql[k] = (uint8_t)am_test_rand_u32();
                    for (int k = 0; k < 64; k++) blk->qh[k] = (uint8_t)am_test_rand_u32();
                    for (int k = 0; k < 16; k++) blk->scales[k] = (int8_t)am_test_rand_u32();
                    blk->d = am_f32_to_f16(1e-4f * (float)(1 + (r * 7 + b) % 13));
                }
            am_aligned_free((void *)c.packed.data);
            am_err err = {0};
            CHECK(am_pack_tensor(pool, &c.rows, &c.packed, &err) == 0);
            float *x = malloc(sizeof(float) * n_in * MAXT), *y = malloc(sizeof(float) * n_out * MAXT);
            float *ref = malloc(sizeof(float) * n_out * MAXT);
            am_q8k *xq = malloc(sizeof(am_q8k) * nb);
            for (int64_t k = 0; k < n_in * MAXT; k++) x[k] = am_test_gauss();
            for (int t = 0; t < MAXT; t++) {
                am_quantize_q8k(x + t * n_in, xq, n_in);
                for (int64_t r = 0; r < n_out; r++) ref[t * n_out + r] = ref_dot_q6k(c.wq + r * rb, xq, nb);
            }
            for (int n_tok = 1; n_tok <= MAXT; n_tok++)
                for (int l = 0; l < 3; l++) {
                    if (am_compute_set_isa(ISAS[l]) != 0) continue;
                    for (int pk = 0; pk < 2; pk++) {
                        if (!pk && l != 2) continue; /* the row layout is promised these bits at AVX-512 only */
                        for (int np = 0; np < 2; np++) {
                            if (l < 2 && (np || (n_tok > 4 && n_tok % 16 != 1))) continue; /* slow levels: a few counts */
                            memset(y, 0xFF, sizeof(float) * n_out * n_tok);
                            am_matmul(np ? pool : NULL, pk ? &c.packed : &c.rows, x, n_tok, y);
                            CHECKF(memcmp(y, ref, sizeof(float) * n_out * n_tok) == 0, "%s q6_k %s n_in %lld n_out %lld n_tok %d pool %d",
                                   ISAS[l], pk ? "packed" : "rows", (long long)n_in, (long long)n_out, n_tok, np);
                        }
                    }
                }
            free(x), free(y), free(ref), free(xq);
            free_case(&c);
        }
    am_compute_set_isa("avx512");
    am_pool_free(pool);
}

/* bug: packing accepted a tensor it cannot lay out (K-quant, float, packed twice) */
static void test_supported(void) {
    uint8_t q[210 * 2] = {0};
    am_tensor k = {.name = "k", .type = AM_TYPE_Q4_K, .n_dims = 2, .ne = {256, 2, 1, 1}, .data = q, .nbytes = 288};
    am_tensor out;
    am_err err = {0};
    CHECK(!am_pack_supported(&k) && am_pack_bytes(&k) == 0);
    CHECK(am_pack_tensor(NULL, &k, &out, &err) == -1 && err.code == AM_E_INVALID);
    am_tensor p = {.name = "p", .type = AM_TYPE_Q8_0, .n_dims = 2, .ne = {32, 2, 1, 1}, .data = q, .nbytes = 68, .layout = AM_LAYOUT_TILE16};
    CHECK(!am_pack_supported(&p));
    /* one 16-row tile: 32 bytes of scales + 512 of quants, rounded to 576 */
    am_tensor r = p;
    r.layout = AM_LAYOUT_ROWS;
    CHECK(am_pack_bytes(&r) == 576);
    /* Q6_K: n_in a multiple of 256; one tile of one super-block is 16 x 210 = 3360 -> 3392 */
    am_tensor k6 = {.name = "k6", .type = AM_TYPE_Q6_K, .n_dims = 2, .ne = {256, 2, 1, 1}, .data = q, .nbytes = sizeof q};
    CHECK(am_pack_supported(&k6) && am_pack_bytes(&k6) == 3392);
    k6.ne[0] = 128;
    CHECK(!am_pack_supported(&k6));
}

int main(void) {
    am_test_rng_seed(0x5EED5EED12345678ull);
    AM_TEST_RUN(test_supported);
    AM_TEST_RUN(test_read_row);
    AM_TEST_RUN(test_packed_matches_reference);
    AM_TEST_RUN(test_q6k_packed_bits);
    AM_TEST_EXIT();
}
