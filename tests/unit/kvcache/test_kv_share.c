/*
 * test_kv_share.c — blocks shared between sequences (am_kv_seq_share_prefix):
 * reference counts, freeing in any order, copy-on-write, sliding layers.
 */
#include <stdlib.h>
#include <string.h>

#define AM_KV_ENGINE_PRIVATE /* the pool's own tests append K/V directly */
#include "kvcache/kv_engine.h"
#include "test_util.h"

#define BT 4

static am_kv *make(int n_layer, const int *window, int64_t max_blocks) {
    am_kv_params p = {.n_layer = n_layer, .n_head_kv = 2, .head_dim = 8, .block_tokens = BT,
                      .max_blocks = max_blocks, .type = AM_TYPE_F32, .window = window};
    am_err err = {0};
    am_kv *kv = am_kv_create(&p, &err);
    CHECKF(kv, "%s", err.msg);
    return kv;
}

static void append(am_kv *kv, int s, int64_t n) {
    am_err err = {0};
    int64_t next = am_kv_seq_next_pos(kv, s);
    CHECKF(am_kv_seq_reserve(kv, s, next < 0 ? 0 : next, n, &err) == 0, "%s", err.msg);
    am_kv_seq_commit(kv, s, n);
}

static void fill(am_kv *kv, int32_t id, unsigned char v) {
    memset(am_kv_block_data(kv, id), v, am_kv_block_bytes_of(kv, id));
}

static bool all(const am_kv *kv, int32_t id, unsigned char v) {
    const unsigned char *d = am_kv_block_data_const(kv, id);
    for (size_t i = 0; i < am_kv_block_bytes_of(kv, id); i++)
        if (d[i] != v) return false;
    return true;
}

static void check_pool(const am_kv *kv) {
    am_err err = {0};
    CHECKF(am_kvc_check(kv, &err) == 0, "%s", err.msg);
}

/* Catches a release that frees a block while another sequence still holds
 * it: the block is recycled by the next reserve, restamped, and the holder's
 * stamp (or the checker's reference count) is wrong. Every removal order of
 * the source and three sharers is tried. */
static void test_free_any_order(void) {
    static const int perms[][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 0, 3, 2}, {2, 0, 3, 1}, {0, 3, 1, 2}, {3, 0, 2, 1}};
    for (size_t pi = 0; pi < sizeof perms / sizeof perms[0]; pi++) {
        am_kv *kv = make(2, NULL, 40);
        if (!kv) return;
        am_err err = {0};
        int s[4];
        s[0] = am_kv_seq_create(kv);
        append(kv, s[0], 10);
        for (int l = 0; l < 2; l++)
            for (int b = 0; b < 3; b++) fill(kv, am_kv_seq_block(kv, s[0], l, b * BT), (unsigned char)(10 + l * 3 + b));
        for (int k = 1; k < 4; k++) {
            s[k] = am_kv_seq_create(kv);
            CHECKF(am_kv_seq_share_prefix(kv, s[k], s[0], 8, &err) == 0, "%s", err.msg);
            CHECK(am_kv_seq_len(kv, s[k]) == 8 && am_kv_seq_pos0(kv, s[k]) == 0);
            check_pool(kv);
        }
        CHECK(am_kv_n_blocks_used(kv) == 6); /* 3 blocks x 2 layers, not 3 + 3*2 per layer */
        CHECK(am_kv_block_refs(kv, am_kv_seq_block(kv, s[2], 1, 4)) == 4);
        CHECK(am_kv_block_refs(kv, am_kv_seq_block(kv, s[0], 1, 8)) == 1);
        bool gone[4] = {0};
        for (int i = 0; i < 4; i++) {
            am_kv_seq_remove(kv, s[perms[pi][i]]);
            gone[perms[pi][i]] = true;
            check_pool(kv);
            /* grab every free block and scribble on it */
            int f = am_kv_seq_create(kv);
            int64_t nf = am_kv_n_blocks_free(kv) / 2 * BT;
            if (nf) CHECK(am_kv_seq_reserve(kv, f, 0, nf, &err) == 0);
            for (int64_t b = 0; b < nf / BT; b++)
                for (int l = 0; l < 2; l++) fill(kv, am_kv_seq_block(kv, f, l, b * BT), 0xee);
            for (int k = 0; k < 4; k++) {
                if (gone[k]) continue;
                for (int l = 0; l < 2; l++)
                    for (int b = 0; b < (k ? 2 : 3); b++)
                        CHECK(all(kv, am_kv_seq_block(kv, s[k], l, b * BT), (unsigned char)(10 + l * 3 + b)));
            }
            am_kv_seq_remove(kv, f);
            check_pool(kv);
        }
        CHECK(am_kv_n_blocks_used(kv) == 0);
        am_kv_free(kv);
    }
}

/* Catches a missing copy-on-write: B truncates into a block it shares with A
 * and appends; its writes must land in a copy (counted by blocks_needed),
 * leaving A's bytes as they were. Also truncate and window drops only drop
 * references. */
static void test_copy_on_write(void) {
    am_kv *kv = make(2, NULL, 40);
    if (!kv) return;
    am_err err = {0};
    int a = am_kv_seq_create(kv), b = am_kv_seq_create(kv);
    append(kv, a, 12);
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 3; k++) fill(kv, am_kv_seq_block(kv, a, l, k * BT), (unsigned char)(1 + l * 3 + k));
    CHECK(am_kv_seq_share_prefix(kv, b, a, 8, &err) == 0);
    CHECK(am_kv_n_blocks_used(kv) == 6);
    CHECK(am_kv_seq_truncate(kv, b, 6, &err) == 0);
    check_pool(kv);
    CHECK(am_kv_n_blocks_used(kv) == 6); /* truncating kept the shared block */
    int32_t shared = am_kv_seq_block(kv, a, 0, 4);
    CHECK(am_kv_seq_block(kv, b, 0, 4) == shared && am_kv_block_refs(kv, shared) == 2);
    CHECK(am_kv_block_n_filled(kv, shared) == BT);
    CHECK(am_kv_seq_blocks_needed(kv, b, 2) == 2);  /* one copy per layer */
    CHECK(am_kv_seq_blocks_needed(kv, b, 3) == 4);  /* plus a new block per layer */
    CHECK(am_kv_seq_reserve(kv, b, 6, 2, &err) == 0);
    check_pool(kv);
    CHECK(am_kv_n_blocks_used(kv) == 8);
    for (int l = 0; l < 2; l++) {
        int32_t mine = am_kv_seq_block(kv, b, l, 4), theirs = am_kv_seq_block(kv, a, l, 4);
        CHECK(mine != theirs && am_kv_block_refs(kv, mine) == 1 && am_kv_block_refs(kv, theirs) == 1);
        CHECK(all(kv, mine, (unsigned char)(1 + l * 3 + 1))); /* the copy carries the old rows */
        for (int h = 0; h < 2; h++)
            for (int64_t slot = 6; slot < 8; slot++) {
                memset(am_kv_k_row(kv, b, l, slot, h), 0x77, am_kv_row_bytes(kv));
                memset(am_kv_v_row(kv, b, l, slot, h), 0x77, am_kv_row_bytes(kv));
            }
        CHECK(all(kv, theirs, (unsigned char)(1 + l * 3 + 1)));
        CHECK(am_kv_seq_block(kv, b, l, 0) == am_kv_seq_block(kv, a, l, 0)); /* block 0 still shared */
    }
    am_kv_seq_commit(kv, b, 2);
    check_pool(kv);
    /* convert / block_write need their own copy */
    int32_t s0 = am_kv_seq_block(kv, b, 1, 0);
    CHECK(am_kv_block_convert(kv, s0, AM_TYPE_F16, AM_TYPE_F16, &err) < 0 && err.code == AM_E_INVALID);
    int32_t own = am_kv_seq_own_block(kv, b, 1, 0, &err);
    CHECK(own >= 0 && own != s0 && am_kv_block_refs(kv, s0) == 1 && am_kv_block_refs(kv, own) == 1);
    CHECK(all(kv, own, 4) && am_kv_block_convert(kv, own, AM_TYPE_F16, AM_TYPE_F16, &err) == 0);
    CHECK(all(kv, s0, 4));
    check_pool(kv);
    am_kv_seq_remove(kv, a);
    check_pool(kv);
    CHECK(am_kv_n_blocks_used(kv) == 4);
    am_kv_free(kv);
}

/* Sliding layers: the sharer gets only what its next token sees, and a
 * source that dropped such a block is refused (catches sharing a -1 entry or
 * handing out blocks the checker says lie outside the window). */
static void test_sliding(void) {
    static const int win[2] = {0, 5};
    am_kv *kv = make(2, win, 40);
    if (!kv) return;
    am_err err = {0};
    int a = am_kv_seq_create(kv), b = am_kv_seq_create(kv), c = am_kv_seq_create(kv);
    append(kv, a, 10); /* next slot 10 sees 6..: layer 1 dropped block 0 */
    CHECK(am_kv_seq_block(kv, a, 1, 0) < 0);
    CHECK(am_kv_seq_share_prefix(kv, b, a, 4, &err) < 0 && err.code == AM_E_INVALID); /* slot 4 needs block 0 */
    CHECK(am_kv_seq_share_prefix(kv, b, a, 6, &err) < 0 && err.code == AM_E_INVALID); /* not a block multiple */
    CHECK(am_kv_seq_share_prefix(kv, b, a, 12, &err) < 0);                            /* past its length */
    CHECK(am_kv_seq_share_prefix(kv, b, a, 8, &err) == 0);
    CHECK(am_kv_seq_block(kv, b, 1, 0) < 0 && am_kv_seq_block(kv, b, 1, 4) == am_kv_seq_block(kv, a, 1, 4));
    CHECK(am_kv_seq_share_prefix(kv, b, a, 8, &err) < 0); /* b not empty */
    check_pool(kv);
    append(kv, b, 4); /* b's window moves past block 1: drops its reference only */
    check_pool(kv);
    CHECK(am_kv_seq_block(kv, b, 1, 4) < 0 && am_kv_seq_block(kv, a, 1, 4) >= 0);
    CHECK(am_kv_seq_share_prefix(kv, c, b, 12, &err) == 0);
    check_pool(kv);
    am_kv_seq_remove(kv, b);
    am_kv_seq_remove(kv, a);
    check_pool(kv);
    am_kv_seq_remove(kv, c);
    CHECK(am_kv_n_blocks_used(kv) == 0);
    am_kv_free(kv);
}

int main(void) {
    AM_TEST_RUN(test_free_any_order);
    AM_TEST_RUN(test_copy_on_write);
    AM_TEST_RUN(test_sliding);
    AM_TEST_EXIT();
}
