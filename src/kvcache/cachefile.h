/*
 * cachefile.h — one agent's KV cache on disk (format: docs/CACHE_FORMAT.md).
 *
 * A file holds what is needed to put a sequence back into the pool exactly:
 * the fingerprint of the model that produced it, the KV geometry, the token
 * ids it covers, logits rows (where each recent generation began, and at
 * the last cached position), and per (layer, block index) the
 * block's bytes — absent for blocks a sliding-window layer dropped.
 *
 * Layout is append-friendly: a file is a header followed by segments; each
 * segment carries a token range, the blocks it (re)writes, the logits, and a
 * checksummed footer that names the total token count. A reader trusts a
 * segment only when its footer is complete and every checksum matches; a later
 * segment's block supersedes an earlier one with the same (layer, index).
 * Saving a turn therefore appends only the blocks that changed (the new full
 * blocks and the partial tail), in time proportional to the new tokens. When
 * the token history diverges before the on-disk part, or the file carries more
 * superseded bytes than live ones, the writer rewrites the file whole
 * (temp file, fsync, rename, fsync directory).
 *
 * Threads: every function here is self-contained (no globals); the
 * persistence thread writes, the scheduler thread loads, CLI commands read.
 * Two threads must not write the same path at once (the caller serializes
 * per agent).
 *
 * Failure: every field is checked against the file size and the expected
 * geometry before anything is allocated. Errors carry codes: AM_E_BAD_FILE
 * (corrupt, truncated, other model or geometry — the caller deletes the file
 * and recomputes), AM_E_NOT_FOUND, AM_E_IO (the OS refused: disk full...).
 * A failed save leaves the previous committed content readable.
 */
#ifndef AM_CACHEFILE_H
#define AM_CACHEFILE_H

#include "base/base.h"
#include "compute/types.h"

#define AM_KVF_AGENT_MAX 128 /* agent ids: [A-Za-z0-9._-]{1,128} */

/* What K/V bytes look like: must match exactly for a file to be loaded. */
typedef struct am_kvf_geom {
    uint32_t n_layer, n_head_kv, head_dim, block_tokens;
    uint32_t type_k, type_v; /* am_type of K rows and of V rows */
    uint32_t n_vocab;        /* floats per stored logits row */
    uint64_t block_bytes;    /* bytes of one block (K part then V part) */
} am_kvf_geom;

typedef struct am_kvf_header {
    uint8_t fingerprint[16];  /* model + tokenizer + engine settings that shape K/V */
    am_kvf_geom g;
    char agent[AM_KVF_AGENT_MAX + 1];
    char model_id[128];       /* informational (cache ls) */
    uint64_t owner;           /* hash of the API key that owns the agent (0: none) */
} am_kvf_header;

/* The state of the sequence after a turn, with the blocks that changed since
 * the file last held it. blocks[l * (n_blocks - first_block) + (b - first_block)]
 * points to block b of layer l (block_bytes bytes) or is NULL when that
 * block was dropped (sliding window). Blocks before first_block are those
 * already in the file and unchanged (first_block == 0: write everything). */
typedef struct am_kvf_update {
    int64_t n_tokens;
    const int32_t *tokens;     /* [n_tokens] all of them */
    int64_t pos0;              /* position of slot 0 */
    int64_t gen_start;         /* tokens of the prompt the last generation continued
                                  (0 when none); logits_gen are the logits after
                                  token gen_start-1 */
    const float *logits_gen;   /* [n_vocab] or NULL */
    const float *logits_last;  /* [n_vocab] logits after token n_tokens-1, or NULL */
    int64_t first_block;
    int64_t n_blocks;          /* ceil(n_tokens / block_tokens) */
    const void *const *blocks;
} am_kvf_update;

/* Saves an update to path. Appends when the file exists with the same header
 * and its tokens[0 .. first_block*block_tokens) equal the update's; writes the
 * whole file atomically when first_block == 0. Fails with AM_E_BAD_FILE when
 * first_block > 0 but the file cannot be appended to (missing, corrupt, other
 * header, diverged tokens): the caller then saves again with first_block 0.
 * *bytes_written (may be NULL) gets the bytes this call wrote. */
int am_kvf_save(const char *path, const am_kvf_header *h, const am_kvf_update *u, uint64_t *bytes_written,
                am_err *err);

/* Where load puts block (layer, index): returns a buffer of block_bytes
 * bytes, or NULL to fail the load (e.g. the pool is full: AM_E_NO_KV in err). */
typedef void *(*am_kvf_block_dst)(void *ctx, int layer, int64_t index, am_err *err);

typedef struct am_kvf_loaded {
    am_kvf_header h;
    int64_t n_tokens, pos0, gen_start;
    int32_t *tokens;           /* [n_tokens] malloc'd */
    float *logits_gen;         /* [n_vocab] malloc'd or NULL */
    float *logits_last;        /* [n_vocab] malloc'd or NULL */
    int64_t n_blocks;
    uint8_t *present;          /* [n_layer][n_blocks] 1 if the block was loaded */
    uint64_t file_bytes;
} am_kvf_loaded;

/* Loads path, checking it against the expected fingerprint and geometry
 * (and that every token id is < max_token) before calling dst for each present
 * block, whose bytes are read straight into the returned buffer and verified.
 * On failure nothing in out needs freeing, and buffers handed out by dst
 * hold garbage (the caller frees them). */
int am_kvf_load(const char *path, const uint8_t fingerprint[16], const am_kvf_geom *expect, int32_t max_token,
                am_kvf_block_dst dst, void *ctx, am_kvf_loaded *out, am_err *err);
/* The same, first telling begin (may be NULL) what the file holds —
 * n_tokens, n_blocks and present[n_layer][n_blocks] (1 for each block the
 * load will hand to dst) — once everything but the block bytes is checked,
 * so the caller can allocate exactly those blocks. begin returns -1 (with
 * err) to stop the load. */
typedef int (*am_kvf_begin)(void *ctx, int64_t n_tokens, int64_t n_blocks, const uint8_t *present, am_err *err);
int am_kvf_load_ex(const char *path, const uint8_t fingerprint[16], const am_kvf_geom *expect, int32_t max_token,
                   am_kvf_begin begin, am_kvf_block_dst dst, void *ctx, am_kvf_loaded *out, am_err *err);
void am_kvf_loaded_free(am_kvf_loaded *l);

/* The file keeps the logits of the last AM_KVF_GENS generation starts whose
 * prefix later turns left unchanged (each appended segment carries its own;
 * a whole rewrite keeps only the newest). Reads the row of the generation
 * that began at pos into out[n_vocab] when the file's tokens[0..pos) equal
 * tokens[0..pos): 0, or -1 with AM_E_NOT_FOUND (no such start: the caller
 * recomputes), AM_E_BAD_FILE, AM_E_IO. A request that repeats the prompt of
 * an earlier turn then needs no forward pass. */
#define AM_KVF_GENS 8
int am_kvf_read_gen(const char *path, const uint8_t fingerprint[16], const am_kvf_geom *expect, int64_t pos,
                    const int32_t *tokens, float *out, am_err *err);

/* Reads the header and the latest valid footer only (no payload): what
 * start-up indexing and `cache ls` need. */
typedef struct am_kvf_info {
    am_kvf_header h;
    int64_t n_tokens;
    uint64_t file_bytes;
    uint64_t torn_bytes;       /* bytes past the last valid segment (a crash mid-append), else 0 */
    int64_t mtime;             /* seconds since the epoch */
} am_kvf_info;
int am_kvf_peek(const char *path, am_kvf_info *out, am_err *err);

/* Cuts a torn append's tail off (ftruncate to file_bytes - torn_bytes of a
 * fresh peek, then fsync), so that the file is one `am_kvf_verify` accepts.
 * Only for a file no writer has open (start-up indexing, before the writer
 * thread starts). Returns 0 (nothing to cut included) or -1 with err set
 * (AM_E_IO; the file is left as it was or cut, both load the same state). */
int am_kvf_cut_torn_tail(const char *path, am_err *err);

/* Reads everything and checks every checksum (without a model to compare
 * with). 0 if the file is sound. */
int am_kvf_verify(const char *path, am_err *err);

/* "<dir>/<agent>.amkv" for owner 0, "<dir>/<owner hex16>-<agent>.amkv"
 * otherwise (dir is a model directory, below). Returns -1 when it does not
 * fit in cap. */
int am_kvf_path(const char *dir, uint64_t owner, const char *agent, char *out, size_t cap);

/* A cache directory holds one subdirectory per K/V fingerprint, so the
 * files of every model an agent has used live side by side:
 * "<cache_dir>/<32 lowercase hex of fp>". Returns -1 when it does not fit. */
int am_kvf_model_dir(const char *cache_dir, const uint8_t fp[16], char *out, size_t cap);
/* True if name is a model directory's name (32 lowercase hex digits); then
 * fp (may be NULL) gets the fingerprint it names. */
bool am_kvf_model_dir_name(const char *name, uint8_t fp[16]);

/* Removes files named like a temporary of this module ("*.amkv.tmp.*") left
 * in dir by a crash. Returns the count removed. */
int am_kvf_sweep_temps(const char *dir);

/* True if s is a valid agent id. */
bool am_agent_id_valid(const char *s, size_t len);

#endif
