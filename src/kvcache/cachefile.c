/*
 * cachefile.c — one agent's KV cache file: encoding, scanning, append and
 * whole rewrite (format: docs/CACHE_FORMAT.md).
 *
 * Owns: the on-disk layout. Everything is little-endian, fixed width. A file
 * is a 512-byte header followed by segments; each segment is
 *   segment header (80) | tokens | logits rows | records (32 + block_bytes)* | footer (48)
 * and the footer, being the last 48 bytes of a complete file, is found by
 * seeking from the end (peek).
 *
 * Invariants:
 *  - A reader applies segments in file order and trusts one only when its
 *    header checksum, its metadata checksum (header, tokens, logits, record
 *    headers, footer fields) and its footer checksum match and it lies wholly
 *    inside the file. Block bytes carry their own xxh3, checked when read.
 *  - The first invalid segment ends the scan. It is accepted as a torn
 *    append only when it is the tail: when the file's last 48 bytes are a
 *    valid footer naming a later segment, something in the middle is
 *    corrupt and the file is rejected.
 *  - Every count and size is checked, overflow-checked, against the file
 *    size before anything is allocated.
 *  - Writers never open the final path with O_TRUNC: a whole rewrite goes
 *    through am_atomic_file; an append only adds bytes after the last valid
 *    segment and truncates back to it on failure.
 *
 * Writer state machine (am_kvf_save):
 *
 *      +-------+  first_block == 0        +-----------+  commit ok  +------+
 *      | START |------------------------->|  REWRITE  |------------>| DONE |
 *      +-------+                          | (tmp file)|             +------+
 *          | first_block > 0              +-----------+                ^
 *          v                                 ^    | any failure:       |
 *      +--------+ bad header/tail/tokens      |    v tmp removed,       |
 *      |  SCAN  |--> AM_E_BAD_FILE            |  old file untouched     |
 *      +--------+                             |                         |
 *          | ok: superseded > live after      |                         |
 *          |     the append? ---------yes-----+ (old blocks copied,     |
 *          | no                                  checksums verified)    |
 *          v                                                            |
 *      +--------+ write+fsync ok                                        |
 *      | APPEND |-------------------------------------------------------+
 *      +--------+
 *          | failure: ftruncate(old valid end), fsync -> AM_E_IO
 *
 * Threads: no globals; the caller serializes writers per path.
 */
#define _GNU_SOURCE
#include "kvcache/cachefile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/atomic_file.h"

#define KVF_MAGIC "AMKVCACH"
#define KVF_SEG_MAGIC "AMKVSEG1"
#define KVF_END_MAGIC "AMKVEND1"
#define KVF_VERSION 1u
#define KVF_HDR_SIZE 512u
#define KVF_SEG_SIZE 80u
#define KVF_REC_SIZE 32u
#define KVF_FOOT_SIZE 48u
#define KVF_AGENT_FIELD 144u
#define KVF_MODEL_FIELD 128u
#define KVF_F_LOGITS_GEN 1u
#define KVF_F_LOGITS_LAST 2u
#define KVF_MAX_LAYER 4096u
#define KVF_MAX_VOCAB (1u << 24)
#define KVF_MAX_MAP ((uint64_t)1 << 24) /* n_layer * n_blocks entries */

/* ---- little-endian helpers ---- */

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* tokens and logits are stored little-endian; on a big-endian host they
 * would need swapping, which this build does not support. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "cache file I/O assumes a little-endian host");

/* ---- header ---- */

static void encode_header(const am_kvf_header *h, uint8_t out[KVF_HDR_SIZE]) {
    memset(out, 0, KVF_HDR_SIZE);
    memcpy(out, KVF_MAGIC, 8);
    put32(out + 8, KVF_VERSION);
    put32(out + 12, KVF_HDR_SIZE);
    memcpy(out + 16, h->fingerprint, 16);
    const am_kvf_geom *g = &h->g;
    uint32_t f[7] = {g->n_layer, g->n_head_kv, g->head_dim, g->block_tokens, g->type_k, g->type_v, g->n_vocab};
    for (int i = 0; i < 7; i++) put32(out + 32 + 4 * i, f[i]);
    put64(out + 64, g->block_bytes);
    put64(out + 72, h->owner);
    memcpy(out + 80, h->agent, strnlen(h->agent, AM_KVF_AGENT_MAX));
    memcpy(out + 224, h->model_id, strnlen(h->model_id, KVF_MODEL_FIELD - 1));
    put64(out + 504, XXH3_64bits(out, 504));
}

static bool valid_type(uint32_t t) {
    return t == AM_TYPE_F32 || t == AM_TYPE_F16 || t == AM_TYPE_BF16 || t == AM_TYPE_Q8_0 || t == AM_TYPE_Q4_0;
}

static int check_geom(const am_kvf_geom *g, am_err *err) {
    if (g->n_layer == 0 || g->n_layer > KVF_MAX_LAYER || g->n_head_kv == 0 || g->head_dim == 0 ||
        g->block_tokens == 0 || g->block_tokens > (1u << 20) || g->n_vocab > KVF_MAX_VOCAB || g->block_bytes == 0 ||
        g->block_bytes > ((uint64_t)1 << 40) || !valid_type(g->type_k) || !valid_type(g->type_v))
        return am_err_setc(err, AM_E_BAD_FILE, "cache file: bad geometry");
    return 0;
}

static int decode_header(const uint8_t in[KVF_HDR_SIZE], am_kvf_header *h, am_err *err) {
    if (memcmp(in, KVF_MAGIC, 8)) return am_err_setc(err, AM_E_BAD_FILE, "cache file: bad magic");
    if (get32(in + 8) != KVF_VERSION) return am_err_setc(err, AM_E_BAD_FILE, "cache file: version %u", get32(in + 8));
    if (get32(in + 12) != KVF_HDR_SIZE) return am_err_setc(err, AM_E_BAD_FILE, "cache file: bad header size");
    if (get64(in + 504) != XXH3_64bits(in, 504)) return am_err_setc(err, AM_E_BAD_FILE, "cache file: header checksum");
    memset(h, 0, sizeof *h);
    memcpy(h->fingerprint, in + 16, 16);
    am_kvf_geom *g = &h->g;
    uint32_t *f[7] = {&g->n_layer, &g->n_head_kv, &g->head_dim, &g->block_tokens, &g->type_k, &g->type_v, &g->n_vocab};
    for (int i = 0; i < 7; i++) *f[i] = get32(in + 32 + 4 * i);
    g->block_bytes = get64(in + 64);
    h->owner = get64(in + 72);
    if (get32(in + 60)) return am_err_setc(err, AM_E_BAD_FILE, "cache file: reserved header field set");
    const char *agent = (const char *)in + 80, *model = (const char *)in + 224;
    size_t al = strnlen(agent, KVF_AGENT_FIELD), ml = strnlen(model, KVF_MODEL_FIELD);
    if (al > AM_KVF_AGENT_MAX || ml >= KVF_MODEL_FIELD || !am_agent_id_valid(agent, al))
        return am_err_setc(err, AM_E_BAD_FILE, "cache file: bad agent or model id");
    memcpy(h->agent, agent, al);
    memcpy(h->model_id, model, ml);
    return check_geom(g, err);
}

static bool header_equal(const am_kvf_header *a, const am_kvf_header *b) {
    uint8_t ea[KVF_HDR_SIZE], eb[KVF_HDR_SIZE];
    encode_header(a, ea);
    encode_header(b, eb);
    return !memcmp(ea, eb, KVF_HDR_SIZE);
}

static bool geom_equal(const am_kvf_geom *a, const am_kvf_geom *b) {
    return a->n_layer == b->n_layer && a->n_head_kv == b->n_head_kv && a->head_dim == b->head_dim &&
           a->block_tokens == b->block_tokens && a->type_k == b->type_k && a->type_v == b->type_v &&
           a->n_vocab == b->n_vocab && a->block_bytes == b->block_bytes;
}

/* ---- reading ---- */

static int pread_full(int fd, void *buf, uint64_t n, uint64_t off, am_err *err) {
    uint8_t *p = buf;
    while (n) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)n;
        ssize_t r = pread(fd, p, chunk, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return am_err_setc(err, AM_E_IO, "cache file: read: %s", strerror(errno));
        }
        if (r == 0) return am_err_setc(err, AM_E_BAD_FILE, "cache file: unexpected end of file");
        p += r;
        n -= (uint64_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* The state after the valid segments. map[l * n_blocks + b] is the file
 * offset of the latest record of block (l, b), 0 when absent. */
typedef struct kvf_state {
    am_kvf_header h;
    uint64_t file_size, valid_end;
    int n_segments;
    int64_t n_tokens, pos0, gen_start, n_blocks;
    int32_t *tokens;
    uint64_t logits_gen_off, logits_last_off; /* 0 if absent */
    /* generation starts still valid for tokens[], newest first: the
     * logits_gen rows of earlier segments at positions up to which every
     * later segment's tokens agree with the state before it */
    int n_gens;
    struct { int64_t pos; uint64_t off; } gens[AM_KVF_GENS];
    uint64_t *map;
    uint64_t last_seg_start;
} kvf_state;

static void state_free(kvf_state *s) {
    free(s->tokens);
    free(s->map);
    s->tokens = NULL;
    s->map = NULL;
}

typedef struct seg_hdr {
    uint64_t n_tokens, tok_from, first_block, n_blocks;
    int64_t pos0, gen_start;
    uint32_t n_records, flags;
    uint64_t start;
} seg_hdr;

static void encode_seg(const seg_hdr *s, uint8_t out[KVF_SEG_SIZE]) {
    memset(out, 0, KVF_SEG_SIZE);
    memcpy(out, KVF_SEG_MAGIC, 8);
    put64(out + 8, s->n_tokens);
    put64(out + 16, s->tok_from);
    put64(out + 24, (uint64_t)s->pos0);
    put64(out + 32, (uint64_t)s->gen_start);
    put64(out + 40, s->first_block);
    put64(out + 48, s->n_blocks);
    put32(out + 56, s->n_records);
    put32(out + 60, s->flags);
    put64(out + 64, s->start);
    put64(out + 72, XXH3_64bits(out, 72));
}

static void encode_foot(uint64_t n_tokens, uint64_t start, uint64_t len, uint64_t seg_hash, uint8_t out[KVF_FOOT_SIZE]) {
    memcpy(out, KVF_END_MAGIC, 8);
    put64(out + 8, n_tokens);
    put64(out + 16, start);
    put64(out + 24, len);
    put64(out + 32, seg_hash);
    put64(out + 40, XXH3_64bits(out, 40));
}

static bool foot_ok(const uint8_t f[KVF_FOOT_SIZE]) {
    return !memcmp(f, KVF_END_MAGIC, 8) && get64(f + 40) == XXH3_64bits(f, 40);
}

/* Bytes of a segment from its header; false on overflow. */
static bool seg_len(const seg_hdr *s, const am_kvf_geom *g, uint64_t *out) {
    uint64_t ntok = s->n_tokens - s->tok_from, tokb, logb = 0, recb, len;
    int nl = !!(s->flags & KVF_F_LOGITS_GEN) + !!(s->flags & KVF_F_LOGITS_LAST);
    if (!am_mul_ok(ntok, 4, &tokb)) return false;
    if (!am_mul_ok((uint64_t)g->n_vocab * 4, (uint64_t)nl, &logb)) return false;
    if (!am_mul_ok(s->n_records, KVF_REC_SIZE + g->block_bytes, &recb)) return false;
    if (!am_add_ok(KVF_SEG_SIZE + KVF_FOOT_SIZE, tokb, &len) || !am_add_ok(len, logb, &len) ||
        !am_add_ok(len, recb, &len))
        return false;
    *out = len;
    return true;
}

/* Hashes n bytes of the file at off into st. */
static int hash_range(int fd, XXH3_state_t *st, uint64_t off, uint64_t n, uint8_t *buf, size_t cap, am_err *err) {
    while (n) {
        size_t c = n > cap ? cap : (size_t)n;
        if (pread_full(fd, buf, c, off, err)) return -1;
        XXH3_64bits_update(st, buf, c);
        off += c;
        n -= c;
    }
    return 0;
}

/* Checks the segment at off against s (the state so far) and applies it.
 * Returns 1 when applied, 0 when the segment is invalid or incomplete
 * (*why says what), -1 on an I/O error. */
static int apply_segment(int fd, kvf_state *s, uint64_t off, const char **why, am_err *err) {
    const am_kvf_geom *g = &s->h.g;
    uint8_t sh[KVF_SEG_SIZE];
    *why = "incomplete segment header";
    if (s->file_size - off < KVF_SEG_SIZE) return 0;
    if (pread_full(fd, sh, KVF_SEG_SIZE, off, err)) return -1;
    *why = "bad segment header";
    if (memcmp(sh, KVF_SEG_MAGIC, 8) || get64(sh + 72) != XXH3_64bits(sh, 72)) return 0;
    seg_hdr h = {
        .n_tokens = get64(sh + 8), .tok_from = get64(sh + 16), .pos0 = (int64_t)get64(sh + 24),
        .gen_start = (int64_t)get64(sh + 32), .first_block = get64(sh + 40), .n_blocks = get64(sh + 48),
        .n_records = get32(sh + 56), .flags = get32(sh + 60), .start = get64(sh + 64),
    };
    uint64_t bt = g->block_tokens, len;
    *why = "segment fields out of range";
    if (h.start != off || (h.flags & ~(uint64_t)3) || h.n_tokens > s->file_size / 4 + (uint64_t)s->n_tokens ||
        h.tok_from > h.n_tokens || h.n_blocks != (h.n_tokens + bt - 1) / bt || h.first_block > h.n_blocks ||
        h.tok_from != h.first_block * bt || h.gen_start < 0 || (uint64_t)h.gen_start > h.n_tokens ||
        h.pos0 < 0 || h.pos0 > ((int64_t)1 << 48))
        return 0;
    /* continuity: the kept part must exist in the previous state */
    if (s->n_segments == 0 ? h.first_block != 0 : (h.tok_from > (uint64_t)s->n_tokens ||
                                                   h.first_block > (uint64_t)s->n_blocks))
        return 0;
    uint64_t span = h.n_blocks - h.first_block, maxrec;
    if (!am_mul_ok(span, g->n_layer, &maxrec) || h.n_records > maxrec) return 0;
    uint64_t mapn;
    if (!am_mul_ok(h.n_blocks, g->n_layer, &mapn) || mapn > KVF_MAX_MAP) return 0;
    *why = "segment runs past the end of the file";
    if (!seg_len(&h, g, &len) || len > s->file_size - off) return 0;

    /* metadata checksum: header, tokens, logits, record headers, footer fields */
    XXH3_state_t *st = XXH3_createState();
    if (!st) return am_err_setc(err, AM_E_INTERNAL, "out of memory");
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, sh, KVF_SEG_SIZE);
    uint8_t buf[65536];
    uint64_t ntok = h.n_tokens - h.tok_from, p = off + KVF_SEG_SIZE;
    int nl = !!(h.flags & KVF_F_LOGITS_GEN) + !!(h.flags & KVF_F_LOGITS_LAST);
    uint64_t meta_len = ntok * 4 + (uint64_t)nl * g->n_vocab * 4;
    int rc = 0;
    uint64_t *recs = NULL;
    int32_t *toks = NULL;
    if (hash_range(fd, st, p, meta_len, buf, sizeof buf, err)) goto io_fail;
    p += meta_len;
    recs = malloc(((size_t)h.n_records + 1) * sizeof *recs);
    if (!recs) goto oom;
    uint64_t prev_key = 0;
    *why = "bad record";
    for (uint32_t i = 0; i < h.n_records; i++) {
        uint8_t rh[KVF_REC_SIZE];
        if (pread_full(fd, rh, KVF_REC_SIZE, p, err)) goto io_fail;
        XXH3_64bits_update(st, rh, KVF_REC_SIZE);
        uint32_t layer = get32(rh), rflags = get32(rh + 4);
        uint64_t idx = get64(rh + 8), nb = get64(rh + 16);
        uint64_t key = (uint64_t)layer * h.n_blocks + idx;
        if (layer >= g->n_layer || rflags || idx < h.first_block || idx >= h.n_blocks || nb != g->block_bytes ||
            (i > 0 && key <= prev_key))
            goto invalid;
        prev_key = key;
        recs[i] = p;
        p += KVF_REC_SIZE + g->block_bytes;
    }
    uint8_t ft[KVF_FOOT_SIZE];
    if (pread_full(fd, ft, KVF_FOOT_SIZE, p, err)) goto io_fail;
    *why = "bad segment footer";
    if (!foot_ok(ft)) goto invalid;
    XXH3_64bits_update(st, ft, 32);
    if (get64(ft + 8) != h.n_tokens || get64(ft + 16) != off || get64(ft + 24) != len ||
        get64(ft + 32) != XXH3_64bits_digest(st))
        goto invalid;

    /* apply */
    toks = malloc((size_t)(h.n_tokens ? h.n_tokens : 1) * sizeof *toks);
    uint64_t *map = calloc((size_t)(mapn ? mapn : 1), sizeof *map);
    if (!toks || !map) {
        free(map);
        goto oom;
    }
    if (h.tok_from) memcpy(toks, s->tokens, h.tok_from * sizeof *toks);
    if (ntok && pread_full(fd, toks + h.tok_from, ntok * 4, off + KVF_SEG_SIZE, err)) {
        free(map);
        goto io_fail;
    }
    for (uint64_t l = 0; l < g->n_layer; l++)
        for (uint64_t b = 0; b < h.first_block; b++) map[l * h.n_blocks + b] = s->map[l * s->n_blocks + b];
    for (uint32_t i = 0; i < h.n_records; i++) {
        uint8_t rh[16];
        if (pread_full(fd, rh, 16, recs[i], err)) {
            free(map);
            goto io_fail;
        }
        map[(uint64_t)get32(rh) * h.n_blocks + get64(rh + 8)] = recs[i];
    }
    /* generation starts stay valid up to where the tokens still agree (the
     * segment rewrites whole blocks from tok_from; most of its first block
     * repeats what the file held) */
    uint64_t same = h.tok_from, old_n = (uint64_t)s->n_tokens;
    while (same < old_n && same < h.n_tokens && toks[same] == s->tokens[same]) same++;
    free(s->tokens);
    free(s->map);
    s->tokens = toks;
    toks = NULL;
    s->map = map;
    s->n_tokens = (int64_t)h.n_tokens;
    s->n_blocks = (int64_t)h.n_blocks;
    s->pos0 = h.pos0;
    s->gen_start = h.gen_start;
    uint64_t lo = off + KVF_SEG_SIZE + ntok * 4;
    s->logits_gen_off = (h.flags & KVF_F_LOGITS_GEN) ? lo : 0;
    if (h.flags & KVF_F_LOGITS_GEN) lo += (uint64_t)g->n_vocab * 4;
    s->logits_last_off = (h.flags & KVF_F_LOGITS_LAST) ? lo : 0;
    int kept = 0;
    for (int i = 0; i < s->n_gens; i++)
        if ((uint64_t)s->gens[i].pos <= same && !(s->logits_gen_off && s->gens[i].pos == h.gen_start))
            s->gens[kept++] = s->gens[i];
    s->n_gens = kept;
    if (s->logits_gen_off) {
        if (s->n_gens == AM_KVF_GENS) s->n_gens--;
        memmove(s->gens + 1, s->gens, (size_t)s->n_gens * sizeof s->gens[0]);
        s->gens[0].pos = h.gen_start;
        s->gens[0].off = s->logits_gen_off;
        s->n_gens++;
    }
    s->n_segments++;
    s->last_seg_start = off;
    s->valid_end = off + len;
    rc = 1;
    goto out;
invalid:
    rc = 0;
    goto out;
oom:
    rc = am_err_setc(err, AM_E_INTERNAL, "cache file: out of memory");
    goto out;
io_fail:
    rc = -1;
out:
    free(toks);
    free(recs);
    XXH3_freeState(st);
    return rc;
}

/* Opens and scans path: header, then every valid segment. */
static int scan_file(const char *path, kvf_state *s, int *fd_out, am_err *err) {
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return am_err_setc(err, AM_E_NOT_FOUND, "cache file %s: not found", path);
        return am_err_setc(err, AM_E_IO, "cache file %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return am_err_setc(err, AM_E_BAD_FILE, "cache file %s: not a regular file", path);
    }
    s->file_size = (uint64_t)st.st_size;
    uint8_t hb[KVF_HDR_SIZE];
    if (s->file_size < KVF_HDR_SIZE) {
        close(fd);
        return am_err_setc(err, AM_E_BAD_FILE, "cache file %s: truncated header", path);
    }
    if (pread_full(fd, hb, KVF_HDR_SIZE, 0, err) || decode_header(hb, &s->h, err)) goto fail;
    uint64_t off = KVF_HDR_SIZE;
    const char *why = "no segment";
    for (;;) {
        if (off == s->file_size) break;
        int r = apply_segment(fd, s, off, &why, err);
        if (r < 0) goto fail;
        if (r == 0) break;
        off = s->valid_end;
    }
    if (s->n_segments == 0) {
        am_err_setc(err, AM_E_BAD_FILE, "cache file %s: %s", path, why);
        goto fail;
    }
    if (off != s->file_size && s->file_size - off >= KVF_FOOT_SIZE) {
        /* an invalid segment: a torn append only if nothing valid follows */
        uint8_t ft[KVF_FOOT_SIZE];
        if (pread_full(fd, ft, KVF_FOOT_SIZE, s->file_size - KVF_FOOT_SIZE, err)) goto fail;
        if (foot_ok(ft) && get64(ft + 16) > off && get64(ft + 16) + get64(ft + 24) == s->file_size) {
            am_err_setc(err, AM_E_BAD_FILE, "cache file %s: corrupt segment at %llu (%s)", path,
                        (unsigned long long)off, why);
            goto fail;
        }
    }
    *fd_out = fd;
    return 0;
fail:
    if (err && err->code == AM_E_INVALID) err->code = AM_E_BAD_FILE;
    state_free(s);
    close(fd);
    return -1;
}

/* Reads one block record's bytes into dst and checks its xxh3. */
static int read_block(int fd, const kvf_state *s, uint64_t rec_off, void *dst, am_err *err) {
    uint8_t rh[KVF_REC_SIZE];
    if (pread_full(fd, rh, KVF_REC_SIZE, rec_off, err) ||
        pread_full(fd, dst, s->h.g.block_bytes, rec_off + KVF_REC_SIZE, err))
        return -1;
    if (XXH3_64bits(dst, s->h.g.block_bytes) != get64(rh + 24))
        return am_err_setc(err, AM_E_BAD_FILE, "cache file: block checksum mismatch at %llu",
                           (unsigned long long)rec_off);
    return 0;
}

int am_kvf_load(const char *path, const uint8_t fingerprint[16], const am_kvf_geom *expect, int32_t max_token,
                am_kvf_block_dst dst, void *ctx, am_kvf_loaded *out, am_err *err) {
    return am_kvf_load_ex(path, fingerprint, expect, max_token, NULL, dst, ctx, out, err);
}

int am_kvf_load_ex(const char *path, const uint8_t fingerprint[16], const am_kvf_geom *expect, int32_t max_token,
                   am_kvf_begin begin, am_kvf_block_dst dst, void *ctx, am_kvf_loaded *out, am_err *err) {
    memset(out, 0, sizeof *out);
    kvf_state s;
    int fd = -1;
    if (scan_file(path, &s, &fd, err)) return -1;
    const am_kvf_geom *g = &s.h.g;
    float *lg = NULL, *ll = NULL;
    uint8_t *present = NULL;
    if (memcmp(s.h.fingerprint, fingerprint, 16)) {
        am_err_setc(err, AM_E_BAD_FILE, "cache file %s: made by another model", path);
        goto fail;
    }
    if (!geom_equal(g, expect)) {
        am_err_setc(err, AM_E_BAD_FILE, "cache file %s: other KV geometry", path);
        goto fail;
    }
    for (int64_t i = 0; i < s.n_tokens; i++)
        if (s.tokens[i] < 0 || s.tokens[i] >= max_token) {
            am_err_setc(err, AM_E_BAD_FILE, "cache file %s: token id %d out of range", path, s.tokens[i]);
            goto fail;
        }
    size_t lb = (size_t)g->n_vocab * 4;
    if (s.logits_gen_off) {
        lg = am_xmalloc(lb ? lb : 1);
        if (pread_full(fd, lg, lb, s.logits_gen_off, err)) goto fail;
    }
    if (s.logits_last_off) {
        ll = am_xmalloc(lb ? lb : 1);
        if (pread_full(fd, ll, lb, s.logits_last_off, err)) goto fail;
    }
    present = am_xcalloc((size_t)g->n_layer * (size_t)s.n_blocks + 1, 1);
    if (begin) {
        for (uint64_t i = 0; i < (uint64_t)g->n_layer * (uint64_t)s.n_blocks; i++) present[i] = s.map[i] != 0;
        if (begin(ctx, s.n_tokens, s.n_blocks, present, err) < 0) goto fail;
        memset(present, 0, (size_t)g->n_layer * (size_t)s.n_blocks);
    }
    for (uint32_t l = 0; l < g->n_layer; l++)
        for (int64_t b = 0; b < s.n_blocks; b++) {
            uint64_t ro = s.map[(uint64_t)l * s.n_blocks + b];
            if (!ro) continue;
            void *buf = dst(ctx, (int)l, b, err);
            if (!buf) {
                if (err && !err->msg[0]) am_err_setc(err, AM_E_NO_KV, "cache file: no buffer for a block");
                goto fail;
            }
            if (read_block(fd, &s, ro, buf, err)) goto fail;
            present[(uint64_t)l * s.n_blocks + b] = 1;
        }
    out->h = s.h;
    out->n_tokens = s.n_tokens;
    out->pos0 = s.pos0;
    out->gen_start = s.gen_start;
    out->tokens = s.tokens;
    s.tokens = NULL;
    if (!out->tokens) out->tokens = am_xcalloc(1, sizeof(int32_t));
    out->logits_gen = lg;
    out->logits_last = ll;
    out->n_blocks = s.n_blocks;
    out->present = present;
    out->file_bytes = s.file_size;
    state_free(&s);
    close(fd);
    return 0;
fail:
    free(lg);
    free(ll);
    free(present);
    state_free(&s);
    close(fd);
    return -1;
}

int am_kvf_read_gen(const char *path, const uint8_t fingerprint[16], const am_kvf_geom *expect, int64_t pos,
                    const int32_t *tokens, float *out, am_err *err) {
    kvf_state s;
    int fd = -1;
    if (scan_file(path, &s, &fd, err)) return -1;
    int rc = -1;
    if (memcmp(s.h.fingerprint, fingerprint, 16) || !geom_equal(&s.h.g, expect)) {
        am_err_setc(err, AM_E_BAD_FILE, "cache file %s: made by another model or geometry", path);
        goto out;
    }
    for (int i = 0; i < s.n_gens; i++) {
        if (s.gens[i].pos != pos) continue;
        /* gens[] positions are <= n_tokens (checked as segments apply) */
        if (memcmp(s.tokens, tokens, (size_t)pos * sizeof *tokens)) break;
        rc = pread_full(fd, out, (size_t)s.h.g.n_vocab * 4, s.gens[i].off, err);
        goto out;
    }
    am_err_setc(err, AM_E_NOT_FOUND, "cache file %s: no generation start at %lld", path, (long long)pos);
out:
    state_free(&s);
    close(fd);
    return rc;
}

void am_kvf_loaded_free(am_kvf_loaded *l) {
    if (!l) return;
    free(l->tokens);
    free(l->logits_gen);
    free(l->logits_last);
    free(l->present);
    memset(l, 0, sizeof *l);
}

int am_kvf_peek(const char *path, am_kvf_info *out, am_err *err) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return am_err_setc(err, AM_E_NOT_FOUND, "cache file %s: not found", path);
        return am_err_setc(err, AM_E_IO, "cache file %s: %s", path, strerror(errno));
    }
    struct stat st;
    uint8_t hb[KVF_HDR_SIZE], ft[KVF_FOOT_SIZE];
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < KVF_HDR_SIZE + KVF_SEG_SIZE + KVF_FOOT_SIZE) {
        close(fd);
        return am_err_setc(err, AM_E_BAD_FILE, "cache file %s: too short", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (pread_full(fd, hb, KVF_HDR_SIZE, 0, err) || decode_header(hb, &out->h, err) ||
        pread_full(fd, ft, KVF_FOOT_SIZE, size - KVF_FOOT_SIZE, err))
        goto fail;
    if (foot_ok(ft) && get64(ft + 16) >= KVF_HDR_SIZE && get64(ft + 24) >= KVF_SEG_SIZE + KVF_FOOT_SIZE &&
        get64(ft + 16) + get64(ft + 24) == size && get64(ft + 8) <= size / 4) {
        out->n_tokens = (int64_t)get64(ft + 8);
    } else {
        /* torn tail: find the last valid segment by scanning */
        close(fd);
        kvf_state s;
        if (scan_file(path, &s, &fd, err)) return -1;
        out->n_tokens = s.n_tokens;
        out->torn_bytes = s.file_size - s.valid_end;
        state_free(&s);
    }
    out->file_bytes = size;
    out->mtime = (int64_t)st.st_mtime;
    close(fd);
    return 0;
fail:
    if (err && err->code == AM_E_INVALID) err->code = AM_E_BAD_FILE;
    close(fd);
    return -1;
}

int am_kvf_cut_torn_tail(const char *path, am_err *err) {
    am_kvf_info info;
    if (am_kvf_peek(path, &info, err)) return -1;
    if (!info.torn_bytes) return 0;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)(info.file_bytes - info.torn_bytes)) || fsync(fd)) {
        int e = errno;
        if (fd >= 0) close(fd);
        return am_err_setc(err, AM_E_IO, "cache file %s: cutting its torn tail: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

int am_kvf_verify(const char *path, am_err *err) {
    kvf_state s;
    int fd = -1;
    if (scan_file(path, &s, &fd, err)) return -1;
    int rc = 0;
    if (s.valid_end != s.file_size) {
        rc = am_err_setc(err, AM_E_BAD_FILE, "cache file %s: %llu trailing bytes after the last valid segment", path,
                         (unsigned long long)(s.file_size - s.valid_end));
        goto out;
    }
    /* every block record of every segment, superseded ones included */
    void *buf = am_xmalloc((size_t)s.h.g.block_bytes);
    uint64_t off = KVF_HDR_SIZE;
    while (off < s.file_size && !rc) {
        uint8_t sh[KVF_SEG_SIZE];
        if (pread_full(fd, sh, KVF_SEG_SIZE, off, err)) {
            rc = -1;
            break;
        }
        uint64_t ntok = get64(sh + 8) - get64(sh + 16);
        uint32_t nrec = get32(sh + 56), flags = get32(sh + 60);
        int nl = !!(flags & KVF_F_LOGITS_GEN) + !!(flags & KVF_F_LOGITS_LAST);
        uint64_t p = off + KVF_SEG_SIZE + ntok * 4 + (uint64_t)nl * s.h.g.n_vocab * 4;
        for (uint32_t i = 0; i < nrec && !rc; i++) {
            if (read_block(fd, &s, p, buf, err)) rc = -1;
            p += KVF_REC_SIZE + s.h.g.block_bytes;
        }
        off = p + KVF_FOOT_SIZE;
    }
    free(buf);
out:
    state_free(&s);
    close(fd);
    return rc;
}

/* ---- writing ---- */

/* Where segment bytes go: an atomic temp file or an O_APPEND descriptor,
 * through a small buffer. */
typedef struct sink {
    am_atomic_file *af;
    int fd;
    uint8_t *buf;
    size_t len, cap;
    uint64_t written;
} sink;

static int sink_flush(sink *k, am_err *err) {
    if (!k->len) return 0;
    if (k->af) {
        if (am_atomic_file_write(k->af, k->buf, k->len, err)) return -1;
    } else {
        size_t done = 0;
        while (done < k->len) {
            ssize_t w = write(k->fd, k->buf + done, k->len - done);
            if (w < 0) {
                if (errno == EINTR) continue;
                return am_err_setc(err, AM_E_IO, "cache file: write: %s", strerror(errno));
            }
            done += (size_t)w;
        }
    }
    k->written += k->len;
    k->len = 0;
    return 0;
}

static int sink_put(sink *k, const void *p, uint64_t n, am_err *err) {
    const uint8_t *b = p;
    while (n) {
        size_t c = k->cap - k->len;
        if (c > n) c = (size_t)n;
        memcpy(k->buf + k->len, b, c);
        k->len += c;
        b += c;
        n -= c;
        if (k->len == k->cap && sink_flush(k, err)) return -1;
    }
    return 0;
}

/* One block to write: from memory or copied from the old file. */
typedef struct blk_src {
    uint32_t layer;
    uint64_t index;
    const void *mem;
    uint64_t old_off; /* record offset in the old file when mem is NULL */
} blk_src;

/* Writes one segment starting at file offset start. */
static int write_segment(sink *k, const am_kvf_header *h, const am_kvf_update *u, uint64_t first_block,
                         const blk_src *blks, uint32_t n_blk, int old_fd, const kvf_state *old, uint64_t start,
                         am_err *err) {
    const am_kvf_geom *g = &h->g;
    seg_hdr s = {
        .n_tokens = (uint64_t)u->n_tokens, .tok_from = first_block * g->block_tokens, .first_block = first_block,
        .n_blocks = (uint64_t)u->n_blocks, .pos0 = u->pos0, .gen_start = u->gen_start, .n_records = n_blk,
        .flags = (u->logits_gen ? KVF_F_LOGITS_GEN : 0) | (u->logits_last ? KVF_F_LOGITS_LAST : 0), .start = start,
    };
    uint64_t len;
    if (!seg_len(&s, g, &len)) return am_err_set(err, "cache file: segment too large");
    XXH3_state_t *st = XXH3_createState();
    if (!st) return am_err_setc(err, AM_E_INTERNAL, "out of memory");
    XXH3_64bits_reset(st);
    uint8_t sh[KVF_SEG_SIZE];
    encode_seg(&s, sh);
    XXH3_64bits_update(st, sh, sizeof sh);
    int rc = -1;
    void *tmp = NULL;
    if (sink_put(k, sh, sizeof sh, err)) goto out;
    uint64_t ntok = s.n_tokens - s.tok_from;
    if (ntok) {
        XXH3_64bits_update(st, u->tokens + s.tok_from, ntok * 4);
        if (sink_put(k, u->tokens + s.tok_from, ntok * 4, err)) goto out;
    }
    const float *lrows[2] = {u->logits_gen, u->logits_last};
    for (int i = 0; i < 2; i++)
        if (lrows[i]) {
            XXH3_64bits_update(st, lrows[i], (size_t)g->n_vocab * 4);
            if (sink_put(k, lrows[i], (uint64_t)g->n_vocab * 4, err)) goto out;
        }
    for (uint32_t i = 0; i < n_blk; i++) {
        const void *bytes = blks[i].mem;
        if (!bytes) {
            if (!tmp) tmp = am_xmalloc((size_t)g->block_bytes);
            if (read_block(old_fd, old, blks[i].old_off, tmp, err)) goto out;
            bytes = tmp;
        }
        uint8_t rh[KVF_REC_SIZE];
        put32(rh, blks[i].layer);
        put32(rh + 4, 0);
        put64(rh + 8, blks[i].index);
        put64(rh + 16, g->block_bytes);
        put64(rh + 24, XXH3_64bits(bytes, (size_t)g->block_bytes));
        XXH3_64bits_update(st, rh, sizeof rh);
        if (sink_put(k, rh, sizeof rh, err) || sink_put(k, bytes, g->block_bytes, err)) goto out;
    }
    uint8_t ft[KVF_FOOT_SIZE];
    encode_foot(s.n_tokens, start, len, 0, ft);
    XXH3_64bits_update(st, ft, 32);
    encode_foot(s.n_tokens, start, len, XXH3_64bits_digest(st), ft);
    if (sink_put(k, ft, sizeof ft, err) || sink_flush(k, err)) goto out;
    rc = 0;
out:
    free(tmp);
    XXH3_freeState(st);
    return rc;
}

static int check_update(const am_kvf_header *h, const am_kvf_update *u, am_err *err) {
    am_err e2 = {0};
    if (check_geom(&h->g, &e2)) return am_err_set(err, "cache save: bad geometry");
    if (!am_agent_id_valid(h->agent, strlen(h->agent))) return am_err_set(err, "cache save: bad agent id");
    if (strnlen(h->model_id, sizeof h->model_id) >= KVF_MODEL_FIELD) return am_err_set(err, "cache save: model id");
    uint64_t bt = h->g.block_tokens;
    if (u->n_tokens < 0 || u->n_tokens > ((int64_t)1 << 40) || (u->n_tokens && !u->tokens) ||
        u->n_blocks != (int64_t)(((uint64_t)u->n_tokens + bt - 1) / bt) || u->first_block < 0 ||
        u->first_block > u->n_blocks || u->gen_start < 0 || u->gen_start > u->n_tokens || u->pos0 < 0 ||
        (u->n_blocks > u->first_block && !u->blocks))
        return am_err_set(err, "cache save: inconsistent update");
    uint64_t mapn;
    if (!am_mul_ok((uint64_t)u->n_blocks, h->g.n_layer, &mapn) || mapn > KVF_MAX_MAP)
        return am_err_set(err, "cache save: too many blocks");
    return 0;
}

/* Collects the update's present blocks (layer-major, ascending). */
static uint32_t collect_update(const am_kvf_header *h, const am_kvf_update *u, blk_src *out, uint32_t n) {
    int64_t span = u->n_blocks - u->first_block;
    for (uint32_t l = 0; l < h->g.n_layer; l++)
        for (int64_t b = u->first_block; b < u->n_blocks; b++) {
            const void *p = u->blocks[(int64_t)l * span + (b - u->first_block)];
            if (p) out[n++] = (blk_src){.layer = l, .index = (uint64_t)b, .mem = p};
        }
    return n;
}

/* Writes the whole file through a temporary. When old is non-NULL, blocks
 * before u->first_block come from the old file. */
static int rewrite_whole(const char *path, const am_kvf_header *h, const am_kvf_update *u, int old_fd,
                         const kvf_state *old, uint64_t *bytes_written, am_err *err) {
    size_t nmax = (size_t)h->g.n_layer * (size_t)u->n_blocks + 1;
    blk_src *blks = am_xmalloc(nmax * sizeof *blks);
    uint32_t n = 0;
    int64_t span = u->n_blocks - u->first_block;
    for (uint32_t l = 0; l < h->g.n_layer; l++)
        for (int64_t b = 0; b < u->n_blocks; b++) {
            if (b < u->first_block) {
                uint64_t ro = old->map[(uint64_t)l * old->n_blocks + b];
                if (ro) blks[n++] = (blk_src){.layer = l, .index = (uint64_t)b, .old_off = ro};
            } else {
                const void *p = u->blocks[(int64_t)l * span + (b - u->first_block)];
                if (p) blks[n++] = (blk_src){.layer = l, .index = (uint64_t)b, .mem = p};
            }
        }
    am_atomic_file af;
    if (am_atomic_file_open(&af, path, err)) {
        free(blks);
        if (err) err->code = AM_E_IO;
        return -1;
    }
    uint8_t hb[KVF_HDR_SIZE];
    encode_header(h, hb);
    uint8_t *buf = am_xmalloc(1 << 16);
    sink k = {.af = &af, .fd = -1, .buf = buf, .cap = 1 << 16};
    am_kvf_update whole = *u;
    whole.first_block = 0;
    int rc = -1;
    if (sink_put(&k, hb, sizeof hb, err) ||
        write_segment(&k, h, &whole, 0, blks, n, old_fd, old, KVF_HDR_SIZE, err)) {
        am_atomic_file_abort(&af);
        goto out;
    }
    if (am_atomic_file_commit(&af, err)) {
        if (err && err->code == AM_E_INVALID) err->code = AM_E_IO;
        goto out;
    }
    if (bytes_written) *bytes_written = k.written;
    rc = 0;
out:
    if (rc && err && err->code == AM_E_INVALID) err->code = AM_E_IO;
    free(buf);
    free(blks);
    return rc;
}

int am_kvf_save(const char *path, const am_kvf_header *h, const am_kvf_update *u, uint64_t *bytes_written,
                am_err *err) {
    if (bytes_written) *bytes_written = 0;
    if (check_update(h, u, err)) return -1;
    if (u->first_block == 0) return rewrite_whole(path, h, u, -1, NULL, bytes_written, err);

    /* SCAN */
    kvf_state s;
    int rfd = -1;
    if (scan_file(path, &s, &rfd, err)) {
        if (err) err->code = AM_E_BAD_FILE;
        return -1;
    }
    int rc = -1, wfd = -1;
    uint8_t *buf = NULL;
    blk_src *blks = NULL;
    uint64_t kept = (uint64_t)u->first_block * h->g.block_tokens;
    if (!header_equal(&s.h, h)) {
        am_err_setc(err, AM_E_BAD_FILE, "cache save %s: header differs", path);
        goto out;
    }
    if (u->first_block > s.n_blocks || kept > (uint64_t)s.n_tokens ||
        (kept && memcmp(s.tokens, u->tokens, kept * sizeof(int32_t)))) {
        am_err_setc(err, AM_E_BAD_FILE, "cache save %s: token history diverged", path);
        goto out;
    }
    /* live bytes after the append vs the file size */
    uint64_t live = KVF_HDR_SIZE, seglen, n_old = 0;
    for (uint32_t l = 0; l < h->g.n_layer; l++)
        for (int64_t b = 0; b < u->first_block; b++)
            if (s.map[(uint64_t)l * s.n_blocks + b]) n_old++;
    size_t nmax = (size_t)h->g.n_layer * (size_t)(u->n_blocks - u->first_block) + 1;
    blks = am_xmalloc(nmax * sizeof *blks);
    uint32_t n = collect_update(h, u, blks, 0);
    seg_hdr sh = {.n_tokens = (uint64_t)u->n_tokens, .tok_from = kept, .n_records = n,
                  .flags = (u->logits_gen ? 1u : 0) | (u->logits_last ? 2u : 0)};
    if (!seg_len(&sh, &h->g, &seglen)) {
        am_err_set(err, "cache save: segment too large");
        goto out;
    }
    live += seglen + kept * 4 + n_old * (KVF_REC_SIZE + h->g.block_bytes);
    uint64_t new_size = s.valid_end + seglen;
    if (new_size - live > live) {
        rc = rewrite_whole(path, h, u, rfd, &s, bytes_written, err);
        goto out;
    }

    /* APPEND */
    wfd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (wfd < 0) {
        am_err_setc(err, AM_E_IO, "cache save %s: %s", path, strerror(errno));
        goto out;
    }
    if (s.valid_end != s.file_size && ftruncate(wfd, (off_t)s.valid_end)) {
        am_err_setc(err, AM_E_IO, "cache save %s: truncate torn tail: %s", path, strerror(errno));
        goto out;
    }
    buf = am_xmalloc(1 << 16);
    sink k = {.fd = wfd, .buf = buf, .cap = 1 << 16};
    if (write_segment(&k, h, u, (uint64_t)u->first_block, blks, n, rfd, &s, s.valid_end, err) || fsync(wfd)) {
        if (err && (err->code == AM_E_INVALID || !err->msg[0]))
            am_err_setc(err, AM_E_IO, "cache save %s: append: %s", path, strerror(errno));
        if (ftruncate(wfd, (off_t)s.valid_end) == 0) (void)fsync(wfd);
        goto out;
    }
    if (bytes_written) *bytes_written = k.written;
    rc = 0;
out:
    if (wfd >= 0) close(wfd);
    free(buf);
    free(blks);
    state_free(&s);
    close(rfd);
    return rc;
}

/* ---- names ---- */

bool am_agent_id_valid(const char *s, size_t len) {
    if (!s || len == 0 || len > AM_KVF_AGENT_MAX) return false;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

int am_kvf_path(const char *dir, uint64_t owner, const char *agent, char *out, size_t cap) {
    if (!dir || !agent || !am_agent_id_valid(agent, strlen(agent))) return -1;
    int n = owner ? snprintf(out, cap, "%s/%016llx-%s.amkv", dir, (unsigned long long)owner, agent)
                  : snprintf(out, cap, "%s/%s.amkv", dir, agent);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int am_kvf_model_dir(const char *cache_dir, const uint8_t fp[16], char *out, size_t cap) {
    if (!cache_dir) return -1;
    char hex[33];
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", fp[i]);
    int n = snprintf(out, cap, "%s/%s", cache_dir, hex);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

bool am_kvf_model_dir_name(const char *name, uint8_t fp[16]) {
    if (strlen(name) != 32 || strspn(name, "0123456789abcdef") != 32) return false;
    for (int i = 0; fp && i < 16; i++) {
        unsigned v;
        sscanf(name + 2 * i, "%2x", &v);
        fp[i] = (uint8_t)v;
    }
    return true;
}

int am_kvf_sweep_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".amkv.tmp.")) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0) n++;
    }
    closedir(d);
    return n;
}
