/*
 * test_kv.c — the paged KV pool: block accounting, reserve/commit/unreserve,
 * truncation (prefix reuse), sliding-window recycling, whole-block copies,
 * running out of blocks.
 */
#include <stdlib.h>
#include <string.h>

#define AM_KV_ENGINE_PRIVATE /* the pool's own tests append K/V directly */
#include "kvcache/kv_engine.h"
#include "test_util.h"

static am_kv *make(int n_layer, const int *window, int64_t max_blocks) {
    am_kv_params p = {
        .n_layer = n_layer, .n_head_kv = 2, .head_dim = 8, .block_tokens = 4,
        .max_blocks = max_blocks, .type = AM_TYPE_F16, .window = window,
    };
    am_err err = {0};
    am_kv *kv = am_kv_create(&p, &err);
    CHECKF(kv, "%s", err.msg);
    return kv;
}

static void append(am_kv *kv, int seq, int64_t pos, int64_t n) {
    am_err err = {0};
    CHECKF(am_kv_seq_reserve(kv, seq, pos, n, &err) == 0, "%s", err.msg);
    am_kv_seq_commit(kv, seq, n);
}

static void test_params(void) {
    am_kv_params p = {.n_layer = 1, .n_head_kv = 1, .head_dim = 8, .block_tokens = 4, .max_blocks = 0,
                      .type = AM_TYPE_F16};
    am_err err = {0};
    CHECK(!am_kv_create(&p, &err));
    p.max_blocks = 4;
    p.type = AM_TYPE_Q4_K;
    CHECK(!am_kv_create(&p, &err));
    p.type = AM_TYPE_F32;
    am_kv *kv = am_kv_create(&p, &err);
    CHECK(kv && am_kv_row_bytes(kv) == 32 && am_kv_block_bytes(kv) == 2 * 4 * 32);
    am_kv_free(kv);
}

static void test_blocks_and_truncate(void) {
    am_kv *kv = make(2, NULL, 16);
    CHECK(am_kv_block_bytes(kv) == 2 * 2 * 4 * 8 * 2);
    int s = am_kv_seq_create(kv);
    CHECK(am_kv_seq_next_pos(kv, s) == -1);
    CHECK(am_kv_seq_blocks_needed(kv, s, 5) == 4); /* 2 blocks x 2 layers */
    append(kv, s, 10, 5);
    CHECK(am_kv_seq_len(kv, s) == 5 && am_kv_seq_pos0(kv, s) == 10 && am_kv_seq_next_pos(kv, s) == 15);
    CHECK(am_kv_n_blocks_used(kv) == 4);
    CHECK(am_kv_seq_blocks_needed(kv, s, 3) == 0 && am_kv_seq_blocks_needed(kv, s, 4) == 2);

    /* rows land where the layout says */
    uint16_t *k = am_kv_k_row(kv, s, 1, 4, 1);
    int32_t id = am_kv_seq_block(kv, s, 1, 4);
    CHECK(id >= 0 && am_kv_block_layer(kv, id) == 1 && am_kv_block_n_filled(kv, id) == 1);
    CHECK(am_kv_block_type(kv, id) == AM_TYPE_F16);
    CHECK((char *)k == (char *)am_kv_block_data(kv, id) + (1 * 4 + 0) * 16);
    uint16_t *v = am_kv_v_row(kv, s, 1, 4, 1);
    CHECK((char *)v == (char *)k + am_kv_block_bytes(kv) / 2);

    /* whole-block round trip */
    unsigned char *buf = malloc(am_kv_block_bytes(kv)), *buf2 = malloc(am_kv_block_bytes(kv));
    for (size_t i = 0; i < am_kv_block_bytes(kv); i++) buf[i] = (unsigned char)(i * 7);
    am_kv_block_write(kv, id, buf);
    am_kv_block_read(kv, id, buf2);
    CHECK(!memcmp(buf, buf2, am_kv_block_bytes(kv)));
    free(buf);
    free(buf2);

    /* truncate to a prefix frees whole blocks past it */
    am_err err = {0};
    CHECK(am_kv_seq_truncate(kv, s, 4, &err) == 0);
    CHECK(am_kv_seq_len(kv, s) == 4 && am_kv_n_blocks_used(kv) == 2 && am_kv_seq_next_pos(kv, s) == 14);
    CHECK(am_kv_seq_truncate(kv, s, 9, &err) < 0); /* longer than the sequence */
    CHECK(am_kv_seq_truncate(kv, s, 0, &err) == 0 && am_kv_n_blocks_used(kv) == 0);
    CHECK(am_kv_seq_next_pos(kv, s) == -1);

    /* running out: all or nothing */
    int s2 = am_kv_seq_create(kv);
    CHECK(s2 != s);
    append(kv, s2, 0, 28); /* 7 blocks x 2 layers = 14 */
    CHECK(am_kv_n_blocks_free(kv) == 2);
    CHECK(am_kv_seq_reserve(kv, s, 0, 5, &err) < 0 && am_kv_n_blocks_free(kv) == 2);
    CHECK(am_kv_seq_reserve(kv, s, 0, 4, &err) == 0 && am_kv_n_blocks_free(kv) == 0);
    am_kv_seq_unreserve(kv, s);
    CHECK(am_kv_n_blocks_free(kv) == 2 && am_kv_seq_len(kv, s) == 0);

    /* removal recycles; the slot is reused under a new handle */
    am_kv_seq_remove(kv, s2);
    CHECK(!am_kv_seq_valid(kv, s2) && am_kv_n_blocks_free(kv) == 16);
    int s3 = am_kv_seq_create(kv);
    CHECK(s3 != s2 && am_kv_seq_index(kv, s3) == (s2 & ((1 << AM_KV_SEQ_IDX_BITS) - 1)));
    am_kv_seq_remove(kv, 12345); /* ignored */
    am_kv_free(kv);
}

/* Bug: slab slots of blocks overlap (a stride of fewer bytes than a block),
 * or a block is not 64-byte aligned (a block size that is no multiple of 64
 * packed back to back), or a block converted to bigger types keeps writing
 * into its slot and over its neighbour — every block of a pool spanning
 * several slabs gets its own bytes, all read back intact, converted ones
 * included. */
static void test_slab_slots(void) {
    /* q4_0, 8 tokens x 1 head x 32: 2 x 8 x 18 = 288 bytes, no multiple of 64;
     * 8000 blocks need two 2 MiB slabs of 320-byte slots */
    am_kv_params p = {.n_layer = 1, .n_head_kv = 1, .head_dim = 32, .block_tokens = 8,
                      .max_blocks = 8000, .type = AM_TYPE_Q4_0};
    am_err err = {0};
    am_kv *kv = am_kv_create(&p, &err);
    CHECKF(kv, "%s", err.msg);
    if (!kv) return;
    const size_t bb = am_kv_block_bytes(kv);
    CHECK(bb == 288);
    int s = am_kv_seq_create(kv);
    append(kv, s, 0, 8 * 8000);
    CHECK(am_kv_n_blocks_free(kv) == 0);
    unsigned char *buf = malloc(2 * bb + 64), *got = malloc(2 * bb + 64);
    for (int64_t b = 0; b < 8000; b++) {
        int32_t id = am_kv_seq_block(kv, s, 0, b * 8);
        CHECK(((uintptr_t)am_kv_block_data(kv, id) & 63) == 0);
        for (size_t i = 0; i < bb; i++) buf[i] = (unsigned char)(b * 131 + i * 7);
        am_kv_block_write(kv, id, buf);
    }
    /* two blocks become f16 | f16 (bigger): they leave their slots */
    int32_t c1 = am_kv_seq_block(kv, s, 0, 8 * 10), c2 = am_kv_seq_block(kv, s, 0, 8 * 7000);
    CHECK(am_kv_block_convert(kv, c1, AM_TYPE_F16, AM_TYPE_F16, &err) == 0);
    CHECK(am_kv_block_convert(kv, c2, AM_TYPE_F16, AM_TYPE_F16, &err) == 0);
    size_t big = am_kv_block_bytes_of(kv, c1);
    CHECK(big == 2 * 8 * 64 && ((uintptr_t)am_kv_block_data(kv, c1) & 63) == 0);
    memset(am_kv_block_data(kv, c1), 0xAB, big);
    memset(am_kv_block_data(kv, c2), 0xCD, big);
    int bad = 0;
    for (int64_t b = 0; b < 8000; b++) {
        int32_t id = am_kv_seq_block(kv, s, 0, b * 8);
        if (id == c1 || id == c2) continue;
        for (size_t i = 0; i < bb; i++) buf[i] = (unsigned char)(b * 131 + i * 7);
        am_kv_block_read(kv, id, got);
        bad += memcmp(buf, got, bb) != 0;
    }
    CHECKF(bad == 0, "%d blocks changed under their neighbours' writes", bad);
    CHECK(am_kvc_check(kv, &err) == 0);
    free(buf);
    free(got);
    am_kv_free(kv);
}

/* Bug: a handle kept after its sequence was removed reaches the sequence
 * that reuses the slot (reads its length, writes its blocks, frees it) —
 * every use of the stale handle must fail with AM_E_INVALID or answer "no
 * sequence", and the new sequence must stay as it was. */
static void test_stale_handles(void) {
    am_kv_params p = {.n_layer = 2, .n_head_kv = 1, .head_dim = 4, .block_tokens = 4, .max_blocks = 16,
                      .type = AM_TYPE_F32};
    am_err err = {0};
    am_kv *kv = am_kv_create(&p, &err);
    int old = am_kv_seq_create(kv);
    CHECK(am_kv_seq_reserve(kv, old, 0, 6, &err) == 0);
    am_kv_seq_commit(kv, old, 6);
    am_kv_seq_remove(kv, old);
    int now = am_kv_seq_create(kv); /* same slot, other generation */
    CHECK(am_kv_seq_index(kv, now) == (old & ((1 << AM_KV_SEQ_IDX_BITS) - 1)) && now != old);
    CHECK(am_kv_seq_reserve(kv, now, 100, 9, &err) == 0);
    am_kv_seq_commit(kv, now, 9);
    int64_t used = am_kv_n_blocks_used(kv);

    CHECK(!am_kv_seq_valid(kv, old) && am_kv_seq_index(kv, old) == -1);
    err.code = AM_OK;
    CHECK(am_kv_seq_check(kv, old, &err) < 0 && err.code == AM_E_INVALID && strstr(err.msg, "stale"));
    CHECK(am_kv_seq_len(kv, old) == -1 && am_kv_seq_next_pos(kv, old) == -1);
    CHECK(am_kv_seq_block(kv, old, 0, 0) < 0 && am_kv_seq_blocks_needed(kv, old, 1) <= 0);
    err.code = AM_OK;
    CHECK(am_kv_seq_reserve(kv, old, 109, 1, &err) < 0 && err.code == AM_E_INVALID);
    err.code = AM_OK;
    CHECK(am_kv_seq_truncate(kv, old, 4, &err) < 0 && err.code == AM_E_INVALID);
    err.code = AM_OK;
    CHECK(am_kv_seq_own_block(kv, old, 0, 0, &err) < 0 && err.code == AM_E_INVALID);
    int other = am_kv_seq_create(kv);
    err.code = AM_OK;
    CHECK(am_kv_seq_share_prefix(kv, other, old, 4, &err) < 0 && err.code == AM_E_INVALID);
    err.code = AM_OK;
    CHECK(am_kv_seq_share_prefix(kv, old, now, 4, &err) < 0 && err.code == AM_E_INVALID);
    uint8_t present[2] = {1, 1};
    err.code = AM_OK;
    CHECK(am_kv_seq_import(kv, old, 0, 4, present, &err) < 0 && err.code == AM_E_INVALID);
    am_kv_seq_unreserve(kv, old);
    am_kv_seq_remove(kv, old); /* must not free `now` */
    CHECK(am_kv_seq_valid(kv, now) && am_kv_seq_len(kv, now) == 9 && am_kv_seq_pos0(kv, now) == 100);
    CHECK(am_kv_n_blocks_used(kv) == used);
    CHECK(am_kvc_check(kv, &err) == 0);
    /* Not a handle at all: a bare slot index. */
    err.code = AM_OK;
    CHECK(am_kv_seq_check(kv, 0, &err) < 0 && err.code == AM_E_INVALID && !am_kv_seq_valid(kv, 0));
    am_kv_free(kv);
}

static void test_sliding_window(void) {
    int window[2] = {6, 0}; /* layer 0 sliding (6 tokens), layer 1 full */
    am_kv *kv = make(2, window, 64);
    int s = am_kv_seq_create(kv);
    append(kv, s, 0, 13); /* next token at slot 13 sees 8..13 on layer 0 */
    /* layer 0: blocks 0 (0-3) and 1 (4-7) are invisible -> dropped */
    CHECK(am_kv_seq_block(kv, s, 0, 0) < 0 && am_kv_seq_block(kv, s, 0, 4) < 0);
    CHECK(am_kv_seq_block(kv, s, 0, 8) >= 0 && am_kv_seq_first_live(kv, s, 0) == 8);
    CHECK(am_kv_seq_block(kv, s, 1, 0) >= 0 && am_kv_seq_first_live(kv, s, 1) == 0);
    CHECK(am_kv_n_blocks_used(kv) == 2 + 4);
    /* a prefix whose window was dropped cannot be reused */
    CHECK(am_kv_seq_can_truncate(kv, s, 13));
    CHECK(!am_kv_seq_can_truncate(kv, s, 12)); /* its next token would need slot 7 */
    am_err err = {0};
    CHECK(am_kv_seq_truncate(kv, s, 11, &err) < 0 && am_kv_seq_len(kv, s) == 13);
    CHECK(am_kv_seq_can_truncate(kv, s, 0));
    /* it keeps growing in a bounded number of blocks */
    for (int i = 0; i < 100; i++) append(kv, s, 13 + i, 1);
    CHECK(am_kv_n_blocks_used(kv) <= 3 + (113 + 3) / 4);
    am_kv_seq_remove(kv, s);
    CHECK(am_kv_n_blocks_used(kv) == 0);
    am_kv_free(kv);
}

int main(void) {
    AM_TEST_RUN(test_params);
    AM_TEST_RUN(test_blocks_and_truncate);
    AM_TEST_RUN(test_slab_slots);
    AM_TEST_RUN(test_stale_handles);
    AM_TEST_RUN(test_sliding_window);
    AM_TEST_EXIT();
}
