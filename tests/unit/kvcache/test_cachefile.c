/*
 * test_cachefile.c — the per-agent KV cache file: round trips, appends,
 * divergence, torn files (every truncation), bit flips, lying fields, other
 * models, a full disk.
 *
 * Helper modes (used by tests/cli/cache.sh and cache_strace.sh):
 *   test_cachefile --write PATH [AGENT]   writes a whole small file (3 turns)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "kvcache/cachefile.h"
#include "test_util.h"

#define NL 2
#define BT 4
#define BB 64
#define NV 8
#define MAXTOK 1000

static const uint8_t FP[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static am_kvf_header make_header(const char *agent) {
    am_kvf_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.fingerprint, FP, 16);
    h.g = (am_kvf_geom){.n_layer = NL, .n_head_kv = 2, .head_dim = 8, .block_tokens = BT, .type_k = AM_TYPE_F16,
                        .type_v = AM_TYPE_F16, .n_vocab = NV, .block_bytes = BB};
    snprintf(h.agent, sizeof h.agent, "%s", agent);
    snprintf(h.model_id, sizeof h.model_id, "test-model");
    return h;
}

/* The state a file should hold: tokens, blocks (NULL = dropped), logits. */
typedef struct model {
    int64_t n_tokens;
    int32_t tokens[512];
    uint8_t blk[NL][128][BB];
    bool has[NL][128];
    float lg[NV], ll[NV];
    int64_t gen_start;
} model;

/* Grows m to n tokens; blocks from first_block on are rewritten with random
 * bytes, and block 0 of layer 1 is dropped (sliding window) when drop. */
static void grow(model *m, int64_t n, int64_t first_block, bool drop) {
    for (int64_t i = m->n_tokens; i < n; i++) m->tokens[i] = (int32_t)(am_test_rand_u32() % MAXTOK);
    m->n_tokens = n;
    int64_t nb = (n + BT - 1) / BT;
    for (int l = 0; l < NL; l++)
        for (int64_t b = first_block; b < nb; b++) {
            for (int j = 0; j < BB; j++) m->blk[l][b][j] = (uint8_t)am_test_rand_u32();
            m->has[l][b] = !(drop && l == 1 && b == first_block);
        }
    for (int j = 0; j < NV; j++) {
        m->lg[j] = am_test_gauss();
        m->ll[j] = am_test_gauss();
    }
    m->gen_start = n > 2 ? n - 2 : 0;
}

static int save(const char *path, const model *m, int64_t first_block, uint64_t *bw, am_err *err) {
    am_kvf_header h = make_header("agent-1");
    int64_t nb = (m->n_tokens + BT - 1) / BT, span = nb - first_block;
    const void *ptrs[NL * 128];
    for (int l = 0; l < NL; l++)
        for (int64_t b = first_block; b < nb; b++)
            ptrs[l * span + (b - first_block)] = m->has[l][b] ? m->blk[l][b] : NULL;
    am_kvf_update u = {.n_tokens = m->n_tokens, .tokens = m->tokens, .pos0 = 0, .gen_start = m->gen_start,
                       .logits_gen = m->lg, .logits_last = m->ll, .first_block = first_block, .n_blocks = nb,
                       .blocks = ptrs};
    return am_kvf_save(path, &h, &u, bw, err);
}

typedef struct sink_ctx {
    uint8_t blk[NL][128][BB];
    int fail_after; /* -1: never */
} sink_ctx;

static void *dst_cb(void *ctx, int layer, int64_t index, am_err *err) {
    sink_ctx *c = ctx;
    if (layer < 0 || layer >= NL || index < 0 || index >= 128) return NULL;
    if (c->fail_after == 0) {
        am_err_setc(err, AM_E_NO_KV, "pool full");
        return NULL;
    }
    if (c->fail_after > 0) c->fail_after--;
    return c->blk[layer][index];
}

static sink_ctx g_sink;

static int load(const char *path, am_kvf_loaded *out, am_err *err) {
    am_kvf_header h = make_header("agent-1");
    memset(&g_sink, 0, sizeof g_sink);
    g_sink.fail_after = -1;
    return am_kvf_load(path, FP, &h.g, MAXTOK, dst_cb, &g_sink, out, err);
}

/* True if what was loaded equals m byte for byte. */
static bool equals(const am_kvf_loaded *l, const model *m) {
    if (l->n_tokens != m->n_tokens || l->gen_start != m->gen_start) return false;
    if (memcmp(l->tokens, m->tokens, (size_t)m->n_tokens * 4)) return false;
    if (!l->logits_gen || !l->logits_last || memcmp(l->logits_gen, m->lg, sizeof m->lg) ||
        memcmp(l->logits_last, m->ll, sizeof m->ll))
        return false;
    int64_t nb = (m->n_tokens + BT - 1) / BT;
    if (l->n_blocks != nb) return false;
    for (int la = 0; la < NL; la++)
        for (int64_t b = 0; b < nb; b++) {
            if (l->present[la * nb + b] != m->has[la][b]) return false;
            if (m->has[la][b] && memcmp(g_sink.blk[la][b], m->blk[la][b], BB)) return false;
        }
    return true;
}

static char g_dir[256];

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

static uint8_t *read_all(const char *p, size_t *n) { return am_test_read_file(p, n); }

static void write_all(const char *p, const void *d, size_t n) {
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    fclose(f);
}

/* Catches: fields encoded or decoded at the wrong offset, NULL (dropped)
 * blocks written or reported present, logits rows swapped. */
static void test_round_trip(void) {
    char p[512];
    path_in(p, sizeof p, "rt.amkv");
    model m = {0};
    grow(&m, 23, 0, true);
    am_err err = {0};
    uint64_t bw = 0;
    CHECKF(save(p, &m, 0, &bw, &err) == 0, "%s", err.msg);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (uint64_t)st.st_size == bw);
    am_kvf_loaded l;
    CHECKF(load(p, &l, &err) == 0, "%s", err.msg);
    CHECK(equals(&l, &m));
    CHECK(!strcmp(l.h.agent, "agent-1") && !strcmp(l.h.model_id, "test-model"));
    am_kvf_loaded_free(&l);
    am_kvf_info info;
    CHECKF(am_kvf_peek(p, &info, &err) == 0, "%s", err.msg);
    CHECK(info.n_tokens == 23 && info.file_bytes == bw);
    CHECKF(am_kvf_verify(p, &err) == 0, "%s", err.msg);
}

/* Catches: appends that rewrite everything (bytes not proportional to new
 * tokens), later blocks not superseding earlier ones, kept blocks lost. */
static void test_append(void) {
    char p[512];
    path_in(p, sizeof p, "ap.amkv");
    model m = {0};
    grow(&m, 40, 0, false);
    am_err err = {0};
    uint64_t bw0 = 0, bw;
    CHECKF(save(p, &m, 0, &bw0, &err) == 0, "%s", err.msg);
    for (int turn = 0; turn < 3; turn++) {
        int64_t fb = m.n_tokens / BT; /* the partial tail block changes too */
        grow(&m, m.n_tokens + 6, fb, false);
        bw = 0;
        CHECKF(save(p, &m, fb, &bw, &err) == 0, "turn %d: %s", turn, err.msg);
        /* 6 new tokens touch at most 3 blocks per layer */
        uint64_t bound = 80 + 48 + 6 * 4 + 2 * NV * 4 + 3 * NL * (32 + BB) + 4 * 4;
        CHECKF(bw > 0 && bw <= bound && bw < bw0 / 2, "turn %d wrote %llu (bound %llu)", turn,
               (unsigned long long)bw, (unsigned long long)bound);
        am_kvf_loaded l;
        CHECKF(load(p, &l, &err) == 0, "%s", err.msg);
        CHECK(equals(&l, &m));
        am_kvf_loaded_free(&l);
    }
    CHECKF(am_kvf_verify(p, &err) == 0, "%s", err.msg);
    /* many small appends: the file is rewritten whole before superseded bytes dominate */
    for (int turn = 0; turn < 30; turn++) {
        int64_t fb = (m.n_tokens - 1) / BT;
        grow(&m, m.n_tokens + 1, fb, false);
        CHECKF(save(p, &m, fb, NULL, &err) == 0, "%s", err.msg);
    }
    am_kvf_loaded l;
    CHECKF(load(p, &l, &err) == 0, "%s", err.msg);
    CHECK(equals(&l, &m));
    uint64_t live = 512 + 80 + 48 + (uint64_t)m.n_tokens * 4 + 2 * NV * 4 +
                    (uint64_t)NL * (uint64_t)l.n_blocks * (32 + BB);
    CHECKF(l.file_bytes <= 2 * live + 1024, "file %llu live %llu", (unsigned long long)l.file_bytes,
           (unsigned long long)live);
    am_kvf_loaded_free(&l);
}

/* Catches: logits of an earlier turn's generation start returned for the
 * wrong position, kept after a later segment rewrote the tokens before them,
 * or returned for a prompt whose tokens differ from the file's — a request
 * repeating an earlier turn's prompt would then sample from stale logits. */
static void test_gen_history(void) {
    char p[512];
    path_in(p, sizeof p, "gh.amkv");
    am_kvf_header h = make_header("agent-1");
    model m = {0};
    am_err err = {0};
    enum { TURNS = AM_KVF_GENS + 3 };
    int64_t pos[TURNS];
    float rows[TURNS][NV], got[NV];
    grow(&m, 40, 0, false);
    for (int t = 0; t < TURNS; t++) {
        if (t > 0) grow(&m, m.n_tokens + 6, m.n_tokens / BT, false);
        pos[t] = m.gen_start;
        memcpy(rows[t], m.lg, sizeof m.lg);
        /* odd turns rewrite one more (unchanged) block: the start inside it stays */
        CHECKF(save(p, &m, t ? (m.n_tokens - 6) / BT - t % 2 : 0, NULL, &err) == 0, "turn %d: %s", t, err.msg);
    }
    for (int t = 0; t < TURNS; t++) {
        err = (am_err){0};
        int rc = am_kvf_read_gen(p, FP, &h.g, pos[t], m.tokens, got, &err);
        if (t < TURNS - AM_KVF_GENS) { /* only the last AM_KVF_GENS are kept */
            CHECKF(rc == -1 && err.code == AM_E_NOT_FOUND, "turn %d: rc %d", t, rc);
        } else {
            CHECKF(rc == 0 && !memcmp(got, rows[t], sizeof got), "turn %d: rc %d %s", t, rc, err.msg);
        }
    }
    CHECK(am_kvf_read_gen(p, FP, &h.g, pos[TURNS - 1] + 1, m.tokens, got, &err) == -1 && err.code == AM_E_NOT_FOUND);
    int32_t other[512];
    memcpy(other, m.tokens, sizeof other);
    other[5] ^= 1;
    CHECK(am_kvf_read_gen(p, FP, &h.g, pos[TURNS - 1], other, got, &err) == -1 && err.code == AM_E_NOT_FOUND);
    uint8_t fp2[16] = {9};
    CHECK(am_kvf_read_gen(p, fp2, &h.g, pos[TURNS - 1], m.tokens, got, &err) == -1 && err.code == AM_E_BAD_FILE);
    /* a segment that changes token pos[TURNS-3]-1 drops the starts after it;
     * the tokens it rewrites unchanged (its first block) keep theirs */
    int64_t c = pos[TURNS - 3] - 1, fb = c / BT;
    m.tokens[c] = (m.tokens[c] + 1) % MAXTOK;
    grow(&m, m.n_tokens + 2, fb, false);
    CHECKF(save(p, &m, fb, NULL, &err) == 0, "%s", err.msg);
    CHECK(am_kvf_read_gen(p, FP, &h.g, pos[TURNS - 2], m.tokens, got, &err) == -1 && err.code == AM_E_NOT_FOUND);
    CHECK(am_kvf_read_gen(p, FP, &h.g, pos[TURNS - 4], m.tokens, got, &err) == 0 &&
          !memcmp(got, rows[TURNS - 4], sizeof got));
    CHECK(am_kvf_read_gen(p, FP, &h.g, m.gen_start, m.tokens, got, &err) == 0 && !memcmp(got, m.lg, sizeof got));
    /* a whole rewrite keeps only its own */
    CHECKF(save(p, &m, 0, NULL, &err) == 0, "%s", err.msg);
    CHECK(am_kvf_read_gen(p, FP, &h.g, pos[TURNS - 4], m.tokens, got, &err) == -1 && err.code == AM_E_NOT_FOUND);
    CHECK(am_kvf_read_gen(p, FP, &h.g, m.gen_start, m.tokens, got, &err) == 0);
}

/* Catches: appending onto a file whose token history differs (stale K/V
 * accepted as the prefix), appending to a missing file. */
static void test_diverged(void) {
    char p[512];
    path_in(p, sizeof p, "dv.amkv");
    model m = {0};
    am_err err = {0};
    grow(&m, 20, 0, false);
    CHECK(save(p, &m, 2, NULL, &err) == -1 && err.code == AM_E_BAD_FILE); /* missing */
    CHECKF(save(p, &m, 0, NULL, &err) == 0, "%s", err.msg);
    m.tokens[3] = (m.tokens[3] + 1) % MAXTOK;
    grow(&m, 26, 4, false);
    err = (am_err){0};
    CHECK(save(p, &m, 4, NULL, &err) == -1 && err.code == AM_E_BAD_FILE);
    am_kvf_loaded l;
    CHECK(load(p, &l, &err) == 0 && l.n_tokens == 20); /* the old state still there */
    am_kvf_loaded_free(&l);
    grow(&m, 26, 0, false);
    CHECKF(save(p, &m, 0, NULL, &err) == 0, "%s", err.msg);
    CHECKF(load(p, &l, &err) == 0, "%s", err.msg);
    CHECK(equals(&l, &m));
    am_kvf_loaded_free(&l);
    /* other header (agent) refuses the append */
    am_kvf_header h = make_header("agent-2");
    const void *none[1] = {0};
    am_kvf_update u = {.n_tokens = 26, .tokens = m.tokens, .first_block = 7, .n_blocks = 7, .blocks = none};
    err = (am_err){0};
    CHECK(am_kvf_save(p, &h, &u, NULL, &err) == -1 && err.code == AM_E_BAD_FILE);
}

/* Builds a 3-segment file; states[i] is the model after segment i, ends[i]
 * the file size after it. */
static void build_three(const char *p, model states[3], uint64_t ends[3]) {
    model m = {0};
    am_err err = {0};
    grow(&m, 9, 0, true);
    CHECKF(save(p, &m, 0, &ends[0], &err) == 0, "%s", err.msg);
    states[0] = m;
    for (int i = 1; i < 3; i++) {
        int64_t fb = m.n_tokens / BT;
        grow(&m, m.n_tokens + 5, fb, false);
        uint64_t bw;
        CHECKF(save(p, &m, fb, &bw, &err) == 0, "%s", err.msg);
        ends[i] = ends[i - 1] + bw;
        states[i] = m;
    }
}

/* Catches: reads past the end, trusting a segment without its footer,
 * crashes on short files; a cut after a complete segment must give exactly
 * that segment's state. */
static void test_truncation(void) {
    char p[512], q[512];
    path_in(p, sizeof p, "tr.amkv");
    path_in(q, sizeof q, "tr_cut.amkv");
    static model states[3];
    uint64_t ends[3];
    build_three(p, states, ends);
    size_t n;
    uint8_t *data = read_all(p, &n);
    CHECK(n == ends[2]);
    int bad = 0, ok = 0;
    for (size_t cut = 0; cut < n; cut++) {
        write_all(q, data, cut);
        am_kvf_loaded l;
        am_err err = {0};
        int want = -1;
        for (int i = 0; i < 3; i++)
            if (ends[i] <= cut) want = i;
        int rc = load(q, &l, &err);
        if (want < 0) {
            CHECKF(rc == -1 && err.code == AM_E_BAD_FILE, "cut %zu: rc %d code %d", cut, rc, err.code);
            bad++;
        } else {
            CHECKF(rc == 0 && equals(&l, &states[want]), "cut %zu: want state %d (%s)", cut, want, err.msg);
            if (rc == 0) am_kvf_loaded_free(&l);
            ok++;
        }
        am_kvf_info info;
        if (am_kvf_peek(q, &info, &err) == 0) CHECK(want >= 0 && info.n_tokens == states[want].n_tokens);
        /* verify rejects any cut that is not exactly a segment end */
        bool at_end = want >= 0 && ends[want] == cut;
        CHECKF((am_kvf_verify(q, &err) == 0) == at_end, "verify at cut %zu", cut);
        /* start-up repair (am_kvf_cut_torn_tail): a torn tail's size is reported and
         * cut; then the file verifies and still loads the same state. Bugs: a tail
         * size off by the footer, a cut into the last valid segment. */
        if (want >= 0) {
            CHECKF(am_kvf_peek(q, &info, &err) == 0 && info.torn_bytes == cut - ends[want], "cut %zu: torn %llu",
                   cut, (unsigned long long)info.torn_bytes);
            CHECKF(am_kvf_cut_torn_tail(q, &err) == 0 && am_kvf_verify(q, &err) == 0, "cut %zu: %s", cut, err.msg);
            int lr = load(q, &l, &err);
            CHECKF(lr == 0 && equals(&l, &states[want]), "cut %zu after the repair", cut);
            if (lr == 0) am_kvf_loaded_free(&l);
        }
    }
    CHECK(bad > 0 && ok > 0);
    /* appending after a torn tail: the tail is cut off first */
    write_all(q, data, ends[1] + 7);
    model m = states[1];
    int64_t fb = m.n_tokens / BT;
    grow(&m, m.n_tokens + 3, fb, false);
    am_err err = {0};
    CHECKF(save(q, &m, fb, NULL, &err) == 0, "%s", err.msg);
    am_kvf_loaded l;
    CHECKF(load(q, &l, &err) == 0 && equals(&l, &m), "%s", err.msg);
    if (!err.msg[0]) am_kvf_loaded_free(&l);
    free(data);
}

/* Catches: a checksum that does not cover some field, so a flipped bit is
 * loaded as content; corruption in the middle accepted as a torn tail. */
static void test_bit_flips(void) {
    char p[512], q[512];
    path_in(p, sizeof p, "bf.amkv");
    path_in(q, sizeof q, "bf_flip.amkv");
    static model states[3];
    uint64_t ends[3];
    build_three(p, states, ends);
    size_t n;
    uint8_t *data = read_all(p, &n);
    am_test_rng_seed(77);
    int errors = 0;
    for (int t = 0; t < 2000; t++) {
        size_t off = am_test_rand_u32() % n;
        int bit = am_test_rand_u32() % 8;
        data[off] ^= (uint8_t)(1 << bit);
        write_all(q, data, n);
        data[off] ^= (uint8_t)(1 << bit);
        am_kvf_loaded l;
        am_err err = {0};
        int rc = load(q, &l, &err);
        if (rc == 0) {
            /* only a flip in the trailing segment may fall back to the state before it */
            bool same = equals(&l, &states[2]);
            bool prev = off >= ends[1] && equals(&l, &states[1]);
            CHECKF(same || prev, "flip at %zu bit %d accepted with wrong content", off, bit);
            am_kvf_loaded_free(&l);
        } else {
            CHECKF(err.code == AM_E_BAD_FILE, "flip at %zu: code %d", off, err.code);
            errors++;
        }
        (void)am_kvf_verify(q, &err);
    }
    CHECK(errors > 1000);
    free(data);
}

static void rehash_header(uint8_t *d) {
    uint64_t h = XXH3_64bits(d, 504);
    memcpy(d + 504, &h, 8);
}
static void rehash_seg(uint8_t *d, size_t off) {
    uint64_t h = XXH3_64bits(d + off, 72);
    memcpy(d + off + 72, &h, 8);
}

/* Catches: fields trusted because their checksum matches: sizes and counts
 * that run past the file (huge allocations), wrong types or geometry, token
 * ids >= max_token, a different fingerprint. */
static void test_lying_fields(void) {
    char p[512], q[512];
    path_in(p, sizeof p, "lie.amkv");
    path_in(q, sizeof q, "lie_mod.amkv");
    model m = {0};
    grow(&m, 10, 0, false);
    am_err err = {0};
    CHECKF(save(p, &m, 0, NULL, &err) == 0, "%s", err.msg);
    size_t n;
    uint8_t *orig = read_all(p, &n);
    uint8_t *d = malloc(n);
    struct {
        size_t off;
        uint64_t val;
        int width;
        int seg; /* 1: segment header field */
        const char *what;
    } cases[] = {
        {32, 3, 4, 0, "n_layer"},           {44, 8, 4, 0, "block_tokens"},
        {48, 2, 4, 0, "type_k"},            {48, 99, 4, 0, "type_k unknown"},
        {56, 9, 4, 0, "n_vocab"},           {56, 0xffffffffu, 4, 0, "n_vocab huge"},
        {64, 1ull << 50, 8, 0, "block_bytes huge"}, {64, 65, 8, 0, "block_bytes"},
        {32, 0x7fffffff, 4, 0, "n_layer huge"},
        {8, 1ull << 40, 8, 1, "n_tokens huge"}, {8, 11, 8, 1, "n_tokens"},
        {48, 1ull << 40, 8, 1, "n_blocks huge"}, {56, 0xffffffffu, 4, 1, "n_records huge"},
        {56, 7, 4, 1, "n_records past file"}, {40, 1, 8, 1, "first_block on first segment"},
        {16, 4, 8, 1, "tok_from"},           {64, 0, 8, 1, "segment start"},
        {32, 1ull << 62, 8, 1, "gen_start"},
    };
    for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
        memcpy(d, orig, n);
        size_t off = cases[i].off + (cases[i].seg ? 512 : 0);
        if (cases[i].width == 4) {
            uint32_t v = (uint32_t)cases[i].val;
            memcpy(d + off, &v, 4);
        } else {
            memcpy(d + off, &cases[i].val, 8);
        }
        if (cases[i].seg) rehash_seg(d, 512);
        else rehash_header(d);
        write_all(q, d, n);
        am_kvf_loaded l;
        err = (am_err){0};
        int rc = load(q, &l, &err);
        CHECKF(rc == -1 && err.code == AM_E_BAD_FILE, "%s accepted (rc %d code %d)", cases[i].what, rc, err.code);
        if (rc == 0) am_kvf_loaded_free(&l);
    }
    /* token id >= max_token, with every checksum recomputed by a re-save */
    model m2 = m;
    m2.tokens[4] = MAXTOK + 5;
    CHECKF(save(q, &m2, 0, NULL, &err) == 0, "%s", err.msg);
    am_kvf_loaded l;
    err = (am_err){0};
    CHECK(load(q, &l, &err) == -1 && err.code == AM_E_BAD_FILE);
    m2.tokens[4] = -1;
    CHECKF(save(q, &m2, 0, NULL, &err) == 0, "%s", err.msg);
    CHECK(load(q, &l, &err) == -1 && err.code == AM_E_BAD_FILE);
    /* another fingerprint, another geometry */
    am_kvf_header h = make_header("agent-1");
    uint8_t fp2[16];
    memcpy(fp2, FP, 16);
    fp2[15] ^= 1;
    err = (am_err){0};
    CHECK(am_kvf_load(p, fp2, &h.g, MAXTOK, dst_cb, &g_sink, &l, &err) == -1 && err.code == AM_E_BAD_FILE);
    am_kvf_geom g2 = h.g;
    g2.type_v = AM_TYPE_F32;
    err = (am_err){0};
    CHECK(am_kvf_load(p, FP, &g2, MAXTOK, dst_cb, &g_sink, &l, &err) == -1 && err.code == AM_E_BAD_FILE);
    /* the pool runs out while loading: the dst error comes through */
    memset(&g_sink, 0, sizeof g_sink);
    g_sink.fail_after = 2;
    err = (am_err){0};
    CHECK(am_kvf_load(p, FP, &h.g, MAXTOK, dst_cb, &g_sink, &l, &err) == -1 && err.code == AM_E_NO_KV);
    /* missing file */
    err = (am_err){0};
    CHECK(load("/nonexistent/x.amkv", &l, &err) == -1 && err.code == AM_E_NOT_FOUND);
    free(d);
    free(orig);
}

/* Catches: a save that trusts an inconsistent update (block count not
 * matching the tokens, first_block past the end, missing pointers) and
 * writes a file that no reader accepts. */
static void test_bad_update(void) {
    char p[512];
    path_in(p, sizeof p, "bu.amkv");
    model m = {0};
    grow(&m, 10, 0, false);
    am_kvf_header h = make_header("agent-1");
    const void *ptrs[NL * 3] = {0};
    am_kvf_update u = {.n_tokens = 10, .tokens = m.tokens, .first_block = 0, .n_blocks = 2, .blocks = ptrs};
    am_err err = {0};
    CHECK(am_kvf_save(p, &h, &u, NULL, &err) == -1 && err.code == AM_E_INVALID);
    u.n_blocks = 3;
    u.first_block = 4;
    CHECK(am_kvf_save(p, &h, &u, NULL, &err) == -1 && err.code == AM_E_INVALID);
    u.first_block = 0;
    u.blocks = NULL;
    CHECK(am_kvf_save(p, &h, &u, NULL, &err) == -1 && err.code == AM_E_INVALID);
    u.blocks = ptrs;
    u.tokens = NULL;
    CHECK(am_kvf_save(p, &h, &u, NULL, &err) == -1 && err.code == AM_E_INVALID);
    u.tokens = m.tokens;
    u.gen_start = 11;
    CHECK(am_kvf_save(p, &h, &u, NULL, &err) == -1 && err.code == AM_E_INVALID);
    am_kvf_header h2 = make_header("../x");
    u.gen_start = 0;
    CHECK(am_kvf_save(p, &h2, &u, NULL, &err) == -1 && err.code == AM_E_INVALID);
    CHECK(access(p, F_OK) != 0);
    /* all blocks dropped, no logits: still a valid file */
    CHECKF(am_kvf_save(p, &h, &u, NULL, &err) == 0, "%s", err.msg);
    am_kvf_loaded l;
    err = (am_err){0};
    int rc = load(p, &l, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc == 0) {
        CHECK(l.n_tokens == 10 && !l.logits_gen && !l.logits_last && !l.present[0]);
        am_kvf_loaded_free(&l);
    }
}

/* Catches: bad agent ids accepted (path traversal), paths that overflow. */
static void test_names(void) {
    CHECK(am_agent_id_valid("a", 1) && am_agent_id_valid("A.b_c-9", 7));
    CHECK(!am_agent_id_valid(".", 1) && !am_agent_id_valid("..", 2) && !am_agent_id_valid("", 0));
    CHECK(!am_agent_id_valid("a/b", 3) && !am_agent_id_valid("a b", 3));
    char big[200];
    memset(big, 'x', sizeof big);
    CHECK(am_agent_id_valid(big, 128) && !am_agent_id_valid(big, 129));
    char out[64];
    CHECK(am_kvf_path("/d", 0, "ag", out, sizeof out) == 0 && !strcmp(out, "/d/ag.amkv"));
    CHECK(am_kvf_path("/d", 0xabcull, "ag", out, sizeof out) == 0 && !strcmp(out, "/d/0000000000000abc-ag.amkv"));
    CHECK(am_kvf_path("/d", 0, "ag", out, 8) == -1);
    CHECK(am_kvf_path("/d", 0, "../x", out, sizeof out) == -1);
    char p[512];
    path_in(p, sizeof p, "z.amkv.tmp.123.4");
    write_all(p, "x", 1);
    path_in(p, sizeof p, "keep.amkv");
    write_all(p, "x", 1);
    CHECK(am_kvf_sweep_temps(g_dir) == 1);
    CHECK(access(p, F_OK) == 0);
    unlink(p);
}

/* Catches: a failed append (ENOSPC) that leaves a half segment the reader
 * then trusts, or that loses the previous content; errors not AM_E_IO. */
static void test_full_disk(void) {
    char mnt[512];
    path_in(mnt, sizeof mnt, "tmpfs");
    mkdir(mnt, 0755);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0) {
        printf("SKIP full-disk: cannot mount tmpfs\n");
        rmdir(mnt);
        return;
    }
    char p[600];
    snprintf(p, sizeof p, "%s/fd.amkv", mnt);
    model m = {0};
    am_err err = {0};
    grow(&m, 8, 0, false);
    CHECKF(save(p, &m, 0, NULL, &err) == 0, "%s", err.msg);
    model last = m;
    int failed = 0;
    /* fill the disk, then give back 8 KiB: a few appends fit, then ENOSPC */
    char fill[600];
    snprintf(fill, sizeof fill, "%s/filler", mnt);
    int ffd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    static uint8_t chunk[4096];
    off_t filled = 0;
    while (ffd >= 0) {
        ssize_t w = write(ffd, chunk, sizeof chunk);
        if (w <= 0) break;
        filled += w;
    }
    if (ffd >= 0) {
        CHECK(ftruncate(ffd, filled > 8192 ? filled - 8192 : 0) == 0);
        close(ffd);
    }
    for (int i = 0; i < 400 && !failed; i++) {
        int64_t fb = m.n_tokens / BT;
        if (m.n_tokens + 4 > 500) break;
        model next = last;
        grow(&next, next.n_tokens + 4, fb, false);
        err = (am_err){0};
        if (save(p, &next, fb, NULL, &err) == 0) {
            last = next;
            m = next;
        } else {
            CHECKF(err.code == AM_E_IO, "code %d: %s", err.code, err.msg);
            failed = 1;
        }
    }
    /* whole rewrites until the disk refuses too */
    for (int i = 0; i < 20 && failed == 1; i++) {
        model big = last;
        grow(&big, 500, 0, false);
        err = (am_err){0};
        if (save(p, &big, 0, NULL, &err) == 0) last = big;
        else {
            CHECKF(err.code == AM_E_IO, "rewrite code %d: %s", err.code, err.msg);
            failed = 2;
        }
    }
    CHECK(failed > 0);
    am_kvf_loaded l;
    err = (am_err){0};
    CHECKF(load(p, &l, &err) == 0 && equals(&l, &last), "after ENOSPC: %s", err.msg);
    if (!err.msg[0]) am_kvf_loaded_free(&l);
    CHECK(am_kvf_sweep_temps(mnt) == 0); /* no temporary left behind */
    unlink(fill);
    umount(mnt);
    rmdir(mnt);
}

static void rm_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* --write PATH [AGENT]: one whole save, then two appends. */
static int write_mode(const char *path, const char *agent) {
    model m = {0};
    am_test_rng_seed(5);
    grow(&m, 30, 0, true);
    am_kvf_header h = make_header(agent);
    am_err err = {0};
    for (int turn = 0; turn < 3; turn++) {
        int64_t fb = turn ? m.n_tokens / BT : 0;
        if (turn) grow(&m, m.n_tokens + 5, fb, false);
        int64_t nb = (m.n_tokens + BT - 1) / BT, span = nb - fb;
        const void *ptrs[NL * 128];
        for (int l = 0; l < NL; l++)
            for (int64_t b = fb; b < nb; b++) ptrs[l * span + (b - fb)] = m.has[l][b] ? m.blk[l][b] : NULL;
        am_kvf_update u = {.n_tokens = m.n_tokens, .tokens = m.tokens, .gen_start = m.gen_start,
                           .logits_last = m.ll, .first_block = fb, .n_blocks = nb, .blocks = ptrs};
        if (am_kvf_save(path, &h, &u, NULL, &err)) {
            fprintf(stderr, "save: %s\n", err.msg);
            return 1;
        }
        if (getenv("AM_KVF_WHOLE_ONLY")) break;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "--write")) return write_mode(argv[2], argc >= 4 ? argv[3] : "agent-1");
    snprintf(g_dir, sizeof g_dir, "/tmp/am_kvf_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    am_test_rng_seed(1234);
    AM_TEST_RUN(test_round_trip);
    AM_TEST_RUN(test_append);
    AM_TEST_RUN(test_gen_history);
    AM_TEST_RUN(test_diverged);
    AM_TEST_RUN(test_truncation);
    AM_TEST_RUN(test_bit_flips);
    AM_TEST_RUN(test_lying_fields);
    AM_TEST_RUN(test_bad_update);
    AM_TEST_RUN(test_names);
    AM_TEST_RUN(test_full_disk);
    rm_dir(g_dir);
    AM_TEST_EXIT();
}
