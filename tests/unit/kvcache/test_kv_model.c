/*
 * test_kv_model.c — the KV pool against a trivial model of it.
 *
 * Thousands of random create / reserve / commit / unreserve / truncate /
 * share_prefix / remove operations on a small pool (full and sliding layers,
 * often out of blocks) are mirrored in plain arrays: per sequence its length,
 * reserved slots, pos0, per sliding layer how many leading blocks it dropped,
 * and per table entry the serial number of the block it holds (shared
 * entries hold the same serial). After every operation am_kvc_check must
 * pass, and lengths, positions, blocks in use (distinct serials), reference
 * counts, blocks needed, which blocks are present and whether a call fails
 * must match the model. Each block gets a stamp (layer, index, serial)
 * written into its data when reserved, and the block a reserve writes into
 * (the partly filled one) is restamped with a new serial, as the engine's
 * stores would change it: a block handed to two owners, recycled while still
 * in a table, or written while shared (no copy-on-write) shows up as a wrong
 * stamp in some holder.
 * Also am_kv_seq_import: a sequence rebuilt from its presence map and block
 * bytes equals the original.
 */
#include <stdlib.h>
#include <string.h>

#define AM_KV_ENGINE_PRIVATE /* the pool's own tests append K/V directly */
#include "kvcache/kv_engine.h"
#include "test_util.h"

#define N_LAYER 4
#define BT 4
#define MAX_SEQ 12
#define MAX_B 64 /* blocks per sequence the pools below allow */

static const int WINDOW[N_LAYER] = {0, 5, 0, 13};

typedef struct {
    bool used;
    int h;                    /* the pool's handle (stale once removed) */
    int64_t len, reserved, pos0;
    int64_t dropped[N_LAYER]; /* leading blocks a sliding layer gave back */
    uint32_t ser[N_LAYER][MAX_B]; /* serial of the block in each entry, 0 = none */
} model_seq;

static model_seq M[MAX_SEQ];
#define H(s) (M[s].h)
static uint32_t next_serial;

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int64_t keep_from(int l, int64_t next) {
    if (WINDOW[l] <= 0) return 0;
    int64_t k = next - WINDOW[l] + 1;
    return k > 0 ? k : 0;
}

/* Table entries holding the block of serial ser. */
static int model_refs(uint32_t ser) {
    int n = 0;
    for (int s = 0; s < MAX_SEQ; s++)
        if (M[s].used)
            for (int l = 0; l < N_LAYER; l++)
                for (int b = 0; b < MAX_B; b++) n += M[s].ser[l][b] == ser;
    return n;
}

/* Distinct blocks: each entry counts 1/refs. */
static int64_t model_used(void) {
    int64_t n = 0;
    for (int s = 0; s < MAX_SEQ; s++)
        if (M[s].used)
            for (int l = 0; l < N_LAYER; l++)
                for (int b = 0; b < MAX_B; b++) {
                    uint32_t x = M[s].ser[l][b];
                    if (!x) continue;
                    /* count it at its first entry only */
                    bool first = true;
                    for (int t = 0; t < s && first; t++)
                        if (M[t].used)
                            for (int k = 0; k < N_LAYER && first; k++) first = M[t].ser[k][b] != x;
                    for (int k = 0; k < l && first; k++) first = M[s].ser[k][b] != x;
                    n += first;
                }
    return n;
}

typedef struct {
    int32_t layer;
    uint32_t serial;
    int64_t bidx;
} stamp;

static void stamp_block(am_kv *kv, int s, int l, int64_t b) {
    int32_t id = am_kv_seq_block(kv, H(s), l, b * BT);
    stamp st = {l, ++next_serial, b};
    memcpy(am_kv_block_data(kv, id), &st, sizeof st);
    M[s].ser[l][b] = st.serial;
}

/* Drops the model's entries of s at block index >= from. */
static void model_clear_from(int s, int64_t from) {
    for (int l = 0; l < N_LAYER; l++)
        for (int64_t b = from; b < MAX_B; b++) M[s].ser[l][b] = 0;
}

static bool model_can_truncate(int s, int64_t n) {
    if (n == 0) return true;
    for (int l = 0; l < N_LAYER; l++)
        if (keep_from(l, n) / BT < M[s].dropped[l]) return false;
    return true;
}

/* Compares everything the API shows with the model. */
static bool compare(am_kv *kv, int op, const char *what) {
    am_err err = {0};
    bool ok = true;
    if (am_kvc_check(kv, &err) < 0) {
        fprintf(stderr, "op %d (%s): %s\n", op, what, err.msg);
        return false;
    }
    ok &= am_kv_n_blocks_used(kv) == model_used();
    for (int s = 0; s < MAX_SEQ && ok; s++) {
        ok &= am_kv_seq_valid(kv, H(s)) == M[s].used;
        if (!M[s].used) continue;
        ok &= am_kv_seq_len(kv, H(s)) == M[s].len;
        ok &= am_kv_seq_pos0(kv, H(s)) == (M[s].len ? M[s].pos0 : 0);
        ok &= am_kv_seq_next_pos(kv, H(s)) == (M[s].len ? M[s].pos0 + M[s].len : -1);
        int64_t nb = cdiv(M[s].len + M[s].reserved, BT);
        for (int l = 0; l < N_LAYER && ok; l++) {
            ok &= am_kv_seq_first_live(kv, H(s), l) == (WINDOW[l] > 0 ? M[s].dropped[l] * BT : 0) ||
                  nb == M[s].dropped[l];
            for (int64_t b = 0; b < nb + 2; b++) {
                int32_t id = am_kv_seq_block(kv, H(s), l, b * BT);
                bool want = b >= M[s].dropped[l] && b < nb;
                if ((id >= 0) != want) {
                    ok = false;
                    break;
                }
                if (id < 0) continue;
                stamp st;
                memcpy(&st, am_kv_block_data_const(kv, id), sizeof st);
                ok &= st.serial == M[s].ser[l][b] && st.layer == l && st.bidx == b && am_kv_block_layer(kv, id) == l;
                ok &= am_kv_block_refs(kv, id) == model_refs(M[s].ser[l][b]);
            }
        }
        for (int64_t n = 0; n <= M[s].len && ok; n++) ok &= am_kv_seq_can_truncate(kv, H(s), n) == model_can_truncate(s, n);
    }
    if (!ok) fprintf(stderr, "op %d (%s): pool and model disagree\n", op, what);
    return ok;
}

static void run(unsigned long long seed, int64_t max_blocks, int n_ops) {
    am_kv_params p = {.n_layer = N_LAYER, .n_head_kv = 1, .head_dim = 8, .block_tokens = BT,
                      .max_blocks = max_blocks, .type = AM_TYPE_F32, .window = WINDOW};
    am_err err = {0};
    am_kv *kv = am_kv_create(&p, &err);
    CHECKF(kv, "%s", err.msg);
    if (!kv) return;
    memset(M, 0, sizeof M);
    next_serial = 0;
    am_test_rng_seed(seed);
    int n_fail_nokv = 0, n_ok[7] = {0};
    for (int op = 0; op < n_ops; op++) {
        unsigned r = am_test_rand_u32() % 100;
        int s = (int)(am_test_rand_u32() % MAX_SEQ);
        const char *what = "";
        if (r < 8) {
            what = "create";
            int want = 0;
            while (want < MAX_SEQ && M[want].used) want++;
            if (want == MAX_SEQ) continue;
            int got = am_kv_seq_create(kv);
            CHECKF(am_kv_seq_index(kv, got) == want, "create gave slot %d, model %d", am_kv_seq_index(kv, got), want);
            /* Bug: a reused slot answers to the handle of its last sequence. */
            CHECK(M[want].h == 0 || (got != M[want].h && !am_kv_seq_valid(kv, M[want].h)));
            memset(&M[want], 0, sizeof M[want]);
            M[want].used = true;
            M[want].h = got;
            n_ok[0]++;
        } else if (!M[s].used) {
            continue;
        } else if (r < 42) {
            what = "reserve";
            int64_t n = 1 + am_test_rand_u32() % (am_test_rand_u32() % 4 ? 6 : 30);
            int64_t pos = M[s].len + M[s].reserved == 0 ? (int64_t)(am_test_rand_u32() % 50) : 0;
            int64_t have = cdiv(M[s].len + M[s].reserved, BT), want = cdiv(M[s].len + M[s].reserved + n, BT);
            int64_t need = (want - have) * N_LAYER;
            bool partial = (M[s].len + M[s].reserved) % BT != 0;
            if (partial) /* reserving into a shared block copies it */
                for (int l = 0; l < N_LAYER; l++)
                    need += M[s].ser[l][have - 1] && model_refs(M[s].ser[l][have - 1]) > 1;
            CHECK(am_kv_seq_blocks_needed(kv, H(s), n) == need);
            bool fits = need <= max_blocks - model_used();
            int rc = am_kv_seq_reserve(kv, H(s), pos, n, &err);
            CHECKF((rc == 0) == fits, "reserve %lld on seq %d: rc %d, model says %s", (long long)n, s, rc,
                   fits ? "fits" : "no room");
            if (rc < 0) {
                CHECK(err.code == AM_E_NO_KV);
                n_fail_nokv++;
                continue;
            }
            if (M[s].len + M[s].reserved == 0) M[s].pos0 = pos;
            M[s].reserved += n;
            for (int l = 0; l < N_LAYER; l++)
                for (int64_t b = partial ? have - 1 : have; b < want; b++) stamp_block(kv, s, l, b);
            n_ok[1]++;
        } else if (r < 70) {
            what = "commit";
            if (!M[s].reserved) continue;
            int64_t n = 1 + am_test_rand_u32() % M[s].reserved;
            am_kv_seq_commit(kv, H(s), n);
            M[s].len += n;
            M[s].reserved -= n;
            for (int l = 0; l < N_LAYER; l++) {
                int64_t d = keep_from(l, M[s].len) / BT;
                if (d > M[s].dropped[l]) M[s].dropped[l] = d;
                for (int64_t b = 0; b < M[s].dropped[l]; b++) M[s].ser[l][b] = 0;
            }
            n_ok[2]++;
        } else if (r < 77) {
            what = "unreserve";
            am_kv_seq_unreserve(kv, H(s));
            M[s].reserved = 0;
            model_clear_from(s, cdiv(M[s].len, BT));
            n_ok[3]++;
        } else if (r < 89) {
            what = "truncate";
            int64_t n = M[s].len ? (int64_t)(am_test_rand_u32() % (M[s].len + 2)) : 0;
            bool can = n <= M[s].len && model_can_truncate(s, n);
            int rc = am_kv_seq_truncate(kv, H(s), n, &err);
            CHECKF((rc == 0) == can, "truncate seq %d (%lld) to %lld: rc %d", s, (long long)M[s].len, (long long)n,
                   rc);
            if (rc < 0) continue;
            M[s].len = n;
            M[s].reserved = 0;
            for (int l = 0; l < N_LAYER; l++)
                if (M[s].dropped[l] > cdiv(n, BT)) M[s].dropped[l] = cdiv(n, BT);
            model_clear_from(s, cdiv(n, BT));
            n_ok[4]++;
        } else if (r < 95) {
            what = "share";
            int src = (int)(am_test_rand_u32() % MAX_SEQ);
            if (!M[src].used) continue;
            int64_t n = am_test_rand_u32() % 8 ? BT * (int64_t)(am_test_rand_u32() % (M[src].len / BT + 1))
                                               : (int64_t)(am_test_rand_u32() % (M[src].len + 3));
            bool can = src != s && M[s].len == 0 && M[s].reserved == 0 && n % BT == 0 && n <= M[src].len &&
                       model_can_truncate(src, n);
            int rc = am_kv_seq_share_prefix(kv, H(s), H(src), n, &err);
            CHECKF((rc == 0) == can, "share %lld of seq %d (%lld) into %d: rc %d", (long long)n, src,
                   (long long)M[src].len, s, rc);
            if (rc < 0) {
                CHECK(err.code == AM_E_INVALID);
                continue;
            }
            if (n) {
                M[s].len = n;
                M[s].pos0 = M[src].pos0;
                for (int l = 0; l < N_LAYER; l++) {
                    M[s].dropped[l] = keep_from(l, n) / BT;
                    for (int64_t b = M[s].dropped[l]; b < n / BT; b++) M[s].ser[l][b] = M[src].ser[l][b];
                }
            }
            n_ok[6]++;
        } else {
            what = "remove";
            am_kv_seq_remove(kv, H(s));
            int h = M[s].h;
            memset(&M[s], 0, sizeof M[s]);
            M[s].h = h; /* kept: compare() checks that it is stale */
            n_ok[5]++;
        }
        if (!compare(kv, op, what)) {
            CHECKF(false, "seed %llu: stopped at op %d", seed, op);
            break;
        }
    }
    fprintf(stderr, "  seed %llu, %lld blocks: create %d reserve %d (out of blocks %d) commit %d unreserve %d "
                    "truncate %d remove %d share %d\n",
            seed, (long long)max_blocks, n_ok[0], n_ok[1], n_fail_nokv, n_ok[2], n_ok[3], n_ok[4], n_ok[5], n_ok[6]);
    CHECK(n_fail_nokv > 0 && n_ok[4] > 0 && n_ok[6] > 0);
    am_kv_free(kv);
}

static void test_random_ops(void) {
    run(1, 60, 4000);
    run(2, 200, 4000);
    run(3, 24, 3000);
}

/* am_kv_seq_import: a sequence taken apart (presence map + block bytes) and
 * rebuilt in another pool is the same sequence, block for block. */
static void test_import(void) {
    am_kv_params p = {.n_layer = N_LAYER, .n_head_kv = 1, .head_dim = 8, .block_tokens = BT, .max_blocks = 64,
                      .type = AM_TYPE_F32, .window = WINDOW};
    am_err err = {0};
    am_kv *a = am_kv_create(&p, &err), *b = am_kv_create(&p, &err);
    CHECK(a && b);
    if (!a || !b) return;
    memset(M, 0, sizeof M);
    int sa = am_kv_seq_create(a);
    const int64_t n = 27, nb = cdiv(n, BT), pos0 = 9;
    for (int64_t i = 0; i < n; i += 5) {
        int64_t k = n - i < 5 ? n - i : 5;
        CHECK(am_kv_seq_reserve(a, sa, pos0 + i, k, &err) == 0);
        am_kv_seq_commit(a, sa, k);
    }
    uint8_t present[N_LAYER * 7];
    size_t bb = am_kv_block_bytes(a);
    unsigned char *saved = malloc((size_t)N_LAYER * nb * bb);
    int n_present = 0;
    for (int l = 0; l < N_LAYER; l++)
        for (int64_t k = 0; k < nb; k++) {
            int32_t id = am_kv_seq_block(a, sa, l, k * BT);
            present[l * nb + k] = id >= 0;
            n_present += id >= 0;
            if (id < 0) continue;
            unsigned char *d = am_kv_block_data(a, id);
            for (size_t i = 0; i < bb; i++) d[i] = (unsigned char)(l * 31 + k * 7 + i);
            am_kv_block_read(a, id, saved + ((size_t)l * nb + k) * bb);
        }
    CHECK(n_present < N_LAYER * nb); /* the sliding layers dropped some */

    int sb = am_kv_seq_create(b);
    uint8_t bad[N_LAYER * 7];
    /* a missing block the next token sees, and a block outside the window */
    memcpy(bad, present, sizeof bad);
    bad[0 * nb + 1] = 0;
    CHECK(am_kv_seq_import(b, sb, pos0, n, bad, &err) < 0 && err.code == AM_E_INVALID);
    memcpy(bad, present, sizeof bad);
    bad[1 * nb + 0] = 1;
    CHECK(am_kv_seq_import(b, sb, pos0, n, bad, &err) < 0 && err.code == AM_E_INVALID);
    CHECK(am_kv_n_blocks_used(b) == 0 && am_kv_seq_len(b, sb) == 0);
    /* not enough blocks: nothing allocated */
    int filler = am_kv_seq_create(b);
    CHECK(am_kv_seq_reserve(b, filler, 0, (64 - n_present + 1) / N_LAYER * BT + BT, &err) == 0);
    int64_t used = am_kv_n_blocks_used(b);
    CHECK(am_kv_seq_import(b, sb, pos0, n, present, &err) < 0 && err.code == AM_E_NO_KV);
    CHECK(am_kv_n_blocks_used(b) == used && am_kv_seq_len(b, sb) == 0);
    am_kv_seq_remove(b, filler);

    CHECKF(am_kv_seq_import(b, sb, pos0, n, present, &err) == 0, "%s", err.msg);
    CHECK(am_kv_n_blocks_used(b) == n_present && am_kv_seq_len(b, sb) == n && am_kv_seq_pos0(b, sb) == pos0);
    CHECKF(am_kvc_check(b, &err) == 0, "%s", err.msg);
    for (int l = 0; l < N_LAYER; l++)
        for (int64_t k = 0; k < nb; k++) {
            int32_t id = am_kv_seq_block(b, sb, l, k * BT);
            CHECK((id >= 0) == (present[l * nb + k] != 0));
            if (id >= 0) am_kv_block_write(b, id, saved + ((size_t)l * nb + k) * bb);
        }
    for (int l = 0; l < N_LAYER; l++)
        for (int64_t k = 0; k < nb; k++) {
            int32_t ia = am_kv_seq_block(a, sa, l, k * BT), ib = am_kv_seq_block(b, sb, l, k * BT);
            if (ia >= 0) CHECK(!memcmp(am_kv_block_data_const(a, ia), am_kv_block_data_const(b, ib), bb));
        }
    /* a non-empty sequence refuses; the restored one grows like the original */
    CHECK(am_kv_seq_import(b, sb, pos0, n, present, &err) < 0);
    for (am_kv *kv = a; kv; kv = kv == a ? b : NULL) {
        int s = kv == a ? sa : sb;
        CHECK(am_kv_seq_reserve(kv, s, pos0 + n, 9, &err) == 0);
        am_kv_seq_commit(kv, s, 9);
        CHECKF(am_kvc_check(kv, &err) == 0, "%s", err.msg);
    }
    CHECK(am_kv_n_blocks_used(a) == am_kv_n_blocks_used(b));
    for (int l = 0; l < N_LAYER; l++)
        for (int64_t k = 0; k < cdiv(n + 9, BT); k++)
            CHECK((am_kv_seq_block(a, sa, l, k * BT) >= 0) == (am_kv_seq_block(b, sb, l, k * BT) >= 0));
    free(saved);
    am_kv_free(a);
    am_kv_free(b);
}

int main(void) {
    AM_TEST_RUN(test_import);
    AM_TEST_RUN(test_random_ops);
    AM_TEST_EXIT();
}
