/*
 * tok_internal.h — the tokenizer's insides, shared by the files of src/text/
 * that build it (tok_json.c, tok_spm_model.c, tok_gguf.c) and run it
 * (tokenizer.c, normalize.c, pretok.c, bpe.c, spm.c, added.c, detok.c).
 * Nothing outside src/text/ includes this.
 *
 * Shape of a loaded tokenizer:
 *   vocab   id -> piece as written (str), decoded bytes (dec), kind, flags;
 *           an index from the model's lookup key to id (the key is the raw
 *           bytes for byte-level vocabularies, the piece itself otherwise)
 *   merges  (left id, right id) -> (rank, merged id)          (BPE by rank)
 *   scores  per id                                           (SPM by score)
 *   added   tokens matched in the text before the model runs (two tries:
 *           on raw text, and on normalized text)
 *   norm    normalizer steps, pre pre-tokenizer steps
 *   prefix/suffix ids for add_special; decode rules.
 */
#ifndef AM_TOK_INTERNAL_H
#define AM_TOK_INTERNAL_H

#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "text/tokenizer.h"

/* Token kinds, numbered as GGUF's tokenizer.ggml.token_type and
 * SentencePiece's piece types. */
enum {
    TK_HOLE = 0,      /* no token with this id */
    TK_NORMAL = 1,
    TK_UNKNOWN = 2,
    TK_CONTROL = 3,
    TK_USER = 4,      /* user-defined: matched literally in text */
    TK_UNUSED = 5,
    TK_BYTE = 6,      /* <0xXX> byte-fallback token */
};

/* Per-id flags. */
enum {
    TKF_SPECIAL = 1,  /* skipped by skip_special; matched only with parse_special */
    TKF_INDEXED = 2,  /* reachable through the model index */
};

#define TOK_MAX_VOCAB (1 << 24) /* largest id + 1 we accept from any file */
#define TOK_NONE UINT32_MAX

/* ---- vocabulary ---- */
typedef struct tok_span {
    uint32_t off, len;
} tok_span;

typedef struct tok_slot {
    uint32_t hash; /* high half of the key's hash */
    uint32_t id1;  /* id + 1; 0 = empty */
    tok_span key;  /* copy of key[id]: one cache miss less per probe */
} tok_slot;

typedef struct tok_vocab {
    int32_t n;                 /* ids 0..n-1 */
    char *arena;               /* all strings, back to back */
    size_t arena_n, arena_cap;
    uint32_t *str_off, *str_len; /* [n] piece as written; str_len TOK_NONE = hole */
    uint32_t *dec_off, *dec_len; /* [n] bytes it decodes to */
    tok_span *key;             /* [n] model lookup key (TKF_INDEXED only) */
    uint8_t *kind;             /* [n] TK_* */
    uint8_t *flags;            /* [n] TKF_* */
    float *score;              /* [n] SentencePiece scores, or NULL */
    /* open-addressing index: key -> id (one cache line per probe) */
    tok_slot *slots;
    uint32_t mask;
    uint32_t n_indexed;
} tok_vocab;

void tok_vocab_init(tok_vocab *v, int32_t n);
void tok_vocab_free(tok_vocab *v);
/* Appends bytes to the arena and returns their offset (aborts on overflow
 * of the 4 GiB arena only through am_err in callers that check sizes first). */
uint32_t tok_arena_add(tok_vocab *v, const char *s, size_t n);
static inline const char *tok_str(const tok_vocab *v, int32_t id) { return v->arena + v->str_off[id]; }
static inline const char *tok_dec(const tok_vocab *v, int32_t id) { return v->arena + v->dec_off[id]; }
static inline const char *tok_key(const tok_vocab *v, int32_t id) { return v->arena + v->key[id].off; }
/* Builds the index over ids with TKF_INDEXED (later ids win on equal keys). */
void tok_vocab_build_index(tok_vocab *v);
/* Looks up a model key; -1 if absent. */
int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t n);
uint64_t tok_hash(const char *s, size_t n);
/* The same with the key's hash already computed (h = tok_hash(s, n)). */
int32_t tok_vocab_find_h(const tok_vocab *v, const char *s, size_t n, uint64_t h);
/* Prefetch hints for bulk lookups: the first slot of a hash, then the
 * arena bytes of the key sitting there. */
static inline void tok_vocab_prefetch_slot(const tok_vocab *v, uint64_t h) {
    __builtin_prefetch(&v->slots[(uint32_t)h & v->mask]);
}
static inline void tok_vocab_prefetch_key(const tok_vocab *v, uint64_t h) {
    const tok_slot *s = &v->slots[(uint32_t)h & v->mask];
    if (s->id1) __builtin_prefetch(v->arena + s->key.off);
}

/* ---- merges: (a,b) -> (rank, id) ---- */
typedef struct tok_merge_slot {
    uint64_t key;  /* ((a+1) << 32) | (b+1); 0 = empty */
    uint32_t rank;
    int32_t val;
} tok_merge_slot;

typedef struct tok_merges {
    tok_merge_slot *slots;
    uint32_t mask;
    uint32_t n;
} tok_merges;

void tok_merges_init(tok_merges *m, size_t expected);
void tok_merges_free(tok_merges *m);
/* Adds a merge. For a pair already there, overwrite decides whether the new
 * rank replaces the old (HF's map: the last duplicate wins) or not
 * (llama.cpp: the first wins). */
void tok_merges_add(tok_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t id, bool overwrite);
static inline void tok_merges_prefetch(const tok_merges *m, int32_t a, int32_t b) {
    uint64_t k = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    __builtin_prefetch(&m->slots[(uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & m->mask]);
}
static inline bool tok_merges_get(const tok_merges *m, int32_t a, int32_t b, uint32_t *rank, int32_t *id) {
    if (!m->slots) return false;
    uint64_t k = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    uint64_t h = k * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & m->mask;
    for (;;) {
        const tok_merge_slot *s = &m->slots[i];
        if (s->key == k) {
            *rank = s->rank;
            *id = s->val;
            return true;
        }
        if (!s->key) return false;
        i = (i + 1) & m->mask;
    }
}

/* ---- added tokens ---- */
typedef struct tok_added {
    int32_t id;
    uint32_t off, len;   /* content to match, in the vocab arena */
    bool special, lstrip, rstrip, normalized, single_word;
} tok_added;

/* A byte trie over added-token contents: leftmost-longest matching. */
typedef struct tok_trie_node {
    uint32_t child;   /* first child, 0 = none */
    uint32_t sibling; /* next sibling, 0 = none */
    int32_t tok;      /* index into added[] ending here, -1 = none */
    uint8_t byte;
} tok_trie_node;

typedef struct tok_trie {
    tok_trie_node *nodes; /* node 0 = root */
    uint32_t n, cap;
    uint32_t root_child[256]; /* direct children of the root by byte */
    bool any;
} tok_trie;

void tok_trie_free(tok_trie *t);
void tok_trie_add(tok_trie *t, const char *s, size_t n, int32_t tok);

/* ---- normalizer ---- */
enum {
    NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_LOWER, NORM_PREPEND,
    NORM_REPLACE, NORM_STRIP, NORM_STRIP_ACCENTS,
    /* SentencePiece: collapse runs of spaces, drop leading/trailing ones */
    NORM_SPM_COLLAPSE,
};

typedef struct tok_norm_step {
    int type;
    char *a; size_t alen;   /* Prepend text / Replace pattern (string or regex source) */
    char *b; size_t blen;   /* Replace content */
    pcre2_code *re;         /* Replace with a Regex pattern */
    bool left, right;       /* Strip */
} tok_norm_step;

/* ---- pre-tokenizer ---- */
enum { PRE_SPLIT, PRE_PREFIX_SPACE, PRE_METASPACE };
enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };
enum { SPLIT_PAT_REGEX, SPLIT_PAT_STRING, SPLIT_PAT_DIGITS, SPLIT_PAT_CHAR_WS, SPLIT_PAT_PUNCT };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct tok_pre_step {
    int type;
    /* PRE_SPLIT */
    int pat;               /* SPLIT_PAT_* */
    pcre2_code *re;
    char *lit; size_t litlen; /* the string pattern, or the regex's source */
    int behavior;          /* SPLIT_* */
    bool invert;
    /* PRE_METASPACE */
    char rep[8]; size_t replen; /* replacement character, UTF-8 */
    int prepend;           /* PREPEND_* */
    bool split;
} tok_pre_step;

#define TOK_MAX_STEPS 32

enum { MODEL_BPE, MODEL_SPM };

struct am_tokenizer {
    int model;             /* MODEL_BPE (merges by rank) or MODEL_SPM (scores) */
    bool byte_level;       /* input bytes are the model's symbols (GPT-2 mapping) */
    bool byte_fallback;    /* unknown characters become <0xXX> tokens */
    bool ignore_merges;    /* a word found whole in the vocab is one token */
    bool fuse_unk;
    int32_t unk_id, bos_id, eos_id, pad_id, eot_id, eom_id;
    bool add_bos, add_eos;
    int32_t byte_ids[256]; /* byte-level: id of each byte; else <0xXX> ids (-1 absent) */

    tok_vocab v;
    tok_merges merges;

    tok_added *added;
    size_t n_added, added_cap;
    tok_trie trie_raw;     /* added tokens with normalized=false */
    tok_trie trie_norm;    /* added tokens with normalized=true (normalized content) */

    tok_norm_step norm[TOK_MAX_STEPS];
    int n_norm;
    tok_pre_step pre[TOK_MAX_STEPS];
    int n_pre;

    int32_t prefix[8], suffix[8]; /* add_special ids */
    int n_prefix, n_suffix;

    int strip_leading;     /* decoder strips this many leading spaces */

    /* SentencePiece-style vocabularies: a word may be cut before a "▁" whose
     * preceding character never precedes a "▁" inside a piece (no merge can
     * cross such a cut, so the ids are the same; long texts get fast). */
    bool ws_split;
    uint32_t ws_block[16];
    int n_ws_block;

    int32_t eog[16];       /* end-of-generation ids */
    int n_eog;

    uint64_t fingerprint;
    char desc[160];
};

/* ---- shared helpers ---- */

/* GPT-2 byte <-> unicode mapping. */
void tok_bytelevel_init(void);
/* Unicode code point used for byte b. */
uint32_t tok_bytelevel_cp(uint8_t b);
/* Converts a byte-level string to raw bytes into out (capacity >= n).
 * Returns the length, or -1 if s has a character outside the mapping. */
long tok_bytelevel_decode(const char *s, size_t n, char *out);
/* Encodes raw bytes to the byte-level string (out capacity >= 2*n). */
size_t tok_bytelevel_encode(const char *s, size_t n, char *out);

/* Length of the valid UTF-8 character at s (1..4), or 0 if the bytes there
 * are not a valid character (then treat s[0] as one invalid byte). */
int tok_utf8_len(const unsigned char *s, size_t n);
/* Decodes the valid character at s (len from tok_utf8_len). */
uint32_t tok_utf8_cp(const unsigned char *s, int len);
int tok_utf8_put(uint32_t cp, char *out);

/* Parses "<0xXX>"; returns the byte or -1. */
int tok_parse_byte_piece(const char *s, size_t n);

/* Compiles a tokenizer regex (UTF, Unicode properties, invalid UTF-8
 * tolerated, JIT when available). NULL with err set on a bad pattern. */
pcre2_code *tok_regex_compile(const char *pat, size_t n, am_err *err);

/* Zeroed allocation for big tables (huge-page hinted); free with free(). */
void *tok_big_calloc(size_t n);

/* Growable byte buffer. */
typedef struct tok_buf {
    char *p;
    size_t n, cap;
} tok_buf;
void tok_buf_add(tok_buf *b, const void *s, size_t n);
/* Makes room for n bytes in total (plus the terminator). */
void tok_buf_reserve(tok_buf *b, size_t n);
void tok_buf_free(tok_buf *b);

/* Normalizes s into out (cleared first) with the tokenizer's steps.
 * at_start: the segment begins the input. Returns -1 on a regex failure. */
int tok_normalize(const am_tokenizer *t, const tok_norm_step *steps, int n_steps,
                  const char *s, size_t n, tok_buf *out, am_err *err);

/* Per-call encoding state: regex match data, scratch for the merge engine,
 * a cache of words already encoded in this call. One per encode call, so the
 * tokenizer itself stays immutable and shareable between threads. */
typedef struct tok_sym {
    int32_t id;           /* token id, -1 = not (yet) a token */
    int32_t prev, next;   /* neighbours, -1 = none */
    uint32_t start, len;  /* byte range in the word; len 0 = merged away */
    uint32_t epoch;       /* bumped whenever the symbol's content changes */
    int32_t node;         /* merge-tree node (score mode) */
} tok_sym;

typedef struct tok_cand {
    uint32_t prio;        /* lower merges first */
    uint32_t pos;         /* left symbol; ties go to the leftmost */
    uint32_t right;
    uint32_t epoch_l, epoch_r;
    int32_t id;
} tok_cand;

typedef struct tok_node {
    int32_t left, right;  /* children; -1 for a leaf (an initial character) */
    int32_t id;           /* -1: a character that is no piece */
    uint32_t start, len;  /* leaf: byte range in the word */
} tok_node;

typedef struct tok_cache_slot {
    uint64_t hash;
    uint32_t key_off, key_len;
    uint32_t ids_off, ids_len;
} tok_cache_slot;

typedef struct tok_ctx {
    const am_tokenizer *t;
    bool parse_special;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    size_t jit_size;
    tok_buf scratch[TOK_MAX_STEPS + 1];
    tok_buf norm_buf;
    tok_sym *syms;
    size_t syms_cap;
    tok_cand *heap;
    size_t heap_n, heap_cap;
    tok_node *nodes;
    size_t nodes_n, nodes_cap;
    am_tokens emit_stack;
    /* word cache */
    tok_cache_slot *cache;
    uint32_t cache_mask, cache_n, cache_max;
    tok_buf cache_keys;
    am_tokens cache_ids;
} tok_ctx;

tok_ctx *tok_ctx_create(const am_tokenizer *t, size_t input_len);
void tok_ctx_free(tok_ctx *c);

/* Pre-tokenizes one text segment and runs the model on each word, appending
 * ids to out. at_start: the segment starts at offset 0 of the input. */
int tok_pretok_run(tok_ctx *c, const char *s, size_t n, bool at_start, am_tokens *out, am_err *err);

/* The model on one word (pre-token): BPE by rank or by score, with the cache. */
void tok_model_word(tok_ctx *c, const char *w, size_t n, am_tokens *out);

/* Finishing a loaded tokenizer: builds the index, the byte ids, the added
 * token tries, the fingerprint and the description. Returns -1 on an
 * inconsistent tokenizer. */
int tok_finish(am_tokenizer *t, am_err *err);
am_tokenizer *tok_alloc(void);

/* Adds an added token (content copied). */
void tok_add_added(am_tokenizer *t, int32_t id, const char *s, size_t n, bool special,
                   bool lstrip, bool rstrip, bool normalized, bool single_word);

/* Applies a tokenizer_config.json (add_bos_token, add_eos_token, bos/eos
 * tokens) to t. Missing file is not an error when optional. */
int tok_apply_config(am_tokenizer *t, const char *config_path, am_err *err);

#endif
