/*
 * tokenizer.c — the encode pipeline and the tokenizer's public accessors.
 *
 * encode = [prefix ids] + for each piece of the input:
 *     added tokens (non-normalized) matched on the raw text, leftmost-longest
 *     -> the text between them is normalized
 *     -> added tokens (normalized) matched on the normalized text
 *     -> pre-tokenizer -> model (pretok.c, bpe.c)
 *   + [suffix ids]
 * which is the order of HF tokenizers' AddedVocabulary::extract_and_normalize.
 *
 * Also: loading dispatch by path, finishing a loaded tokenizer (index, byte
 * ids, tries, fingerprint). Never modifies a tokenizer after tok_finish.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

#include "base/file.h"
#include "text/tok_internal.h"

bool tok_is_whitespace(uint32_t cp);

void am_tokens_push(am_tokens *t, int32_t id) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->ids = am_xrealloc(t->ids, t->cap * sizeof *t->ids);
    }
    t->ids[t->n++] = id;
}

void am_tokens_free(am_tokens *t) {
    free(t->ids);
    memset(t, 0, sizeof *t);
}

am_tok_encode_params am_tok_encode_default_params(void) { return (am_tok_encode_params){false, true}; }
am_tok_decode_params am_tok_decode_default_params(void) {
    return (am_tok_decode_params){.skip_special = false, .strip_leading = true};
}
am_tok_decode_params am_tok_output_params(void) {
    return (am_tok_decode_params){.skip_special = true, .strip_leading = false, .nul_as_replacement = true};
}

/* ---- added-token matching ---- */

/* Longest allowed token starting at s[0..n); returns its index or -1. */
static int32_t trie_longest(const am_tokenizer *t, const tok_trie *tr, const unsigned char *s, size_t n,
                            bool parse_special, size_t *len) {
    uint32_t cur = tr->root_child[s[0]];
    int32_t best = -1;
    size_t i = 1;
    while (cur) {
        int32_t tk = tr->nodes[cur].tok;
        if (tk >= 0 && (parse_special || !t->added[tk].special)) {
            best = tk;
            *len = i;
        }
        if (i >= n) break;
        uint32_t c = tr->nodes[cur].child;
        while (c && tr->nodes[c].byte != s[i]) c = tr->nodes[c].sibling;
        cur = c;
        i++;
    }
    return best;
}

static bool is_word_char(uint32_t cp) {
    if (cp == '_') return true;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_ND) || c == UTF8PROC_CATEGORY_NL ||
           c == UTF8PROC_CATEGORY_NO || c == UTF8PROC_CATEGORY_PC;
}

/* Code point of the last character of s[0..n) (0 if none or invalid). */
static uint32_t last_cp(const unsigned char *s, size_t n, size_t *start) {
    if (!n) return 0;
    size_t k = n - 1;
    while (k > 0 && (s[k] & 0xC0) == 0x80 && n - k < 4) k--;
    int l = tok_utf8_len(s + k, n - k);
    if (start) *start = k;
    if (!l || (size_t)l != n - k) {
        if (start) *start = n - 1;
        return 0;
    }
    return tok_utf8_cp(s + k, l);
}

typedef int (*segment_fn)(tok_ctx *c, const char *s, size_t n, bool at_start, am_tokens *out, am_err *err);

/* Splits s on added tokens of trie tr: text between matches goes to fn, the
 * matches' ids to out. lstrip/rstrip swallow whitespace around a match;
 * single_word tokens only match between non-word characters (HF semantics). */
static int split_added(tok_ctx *c, const tok_trie *tr, const char *s, size_t n, bool at_start, bool parse_special,
                       segment_fn fn, am_tokens *out, am_err *err) {
    const am_tokenizer *t = c->t;
    const unsigned char *u = (const unsigned char *)s;
    size_t pos = 0, i = 0;
    if (!tr->any) return fn(c, s, n, at_start, out, err);
    while (i < n) {
        if (!tr->root_child[u[i]]) {
            i++;
            continue;
        }
        size_t len = 0;
        int32_t tk = trie_longest(t, tr, u + i, n - i, parse_special, &len);
        if (tk < 0) {
            i++;
            continue;
        }
        const tok_added *a = &t->added[tk];
        size_t start = i, stop = i + len;
        if (a->single_word) {
            bool ok_left = start == 0 || !is_word_char(last_cp(u, start, NULL));
            bool ok_right = true;
            if (stop < n) {
                int l = tok_utf8_len(u + stop, n - stop);
                ok_right = !l || !is_word_char(tok_utf8_cp(u + stop, l));
            }
            if (!ok_left || !ok_right) {
                i = stop; /* the matcher moves past a discarded match */
                continue;
            }
        }
        if (a->lstrip) {
            size_t k = start;
            while (k > pos) {
                size_t cs;
                uint32_t cp = last_cp(u, k, &cs);
                if (cs < pos || !tok_is_whitespace(cp)) break;
                k = cs;
            }
            start = k;
        }
        if (a->rstrip) {
            while (stop < n) {
                int l = tok_utf8_len(u + stop, n - stop);
                if (!l || !tok_is_whitespace(tok_utf8_cp(u + stop, l))) break;
                stop += (size_t)l;
            }
        }
        if (start > pos && fn(c, s + pos, start - pos, at_start && pos == 0, out, err)) return -1;
        am_tokens_push(out, a->id);
        pos = i = stop;
    }
    if (pos < n && fn(c, s + pos, n - pos, at_start && pos == 0, out, err)) return -1;
    return 0;
}

/* Normalized text -> normalized added tokens -> pre-tokenizer + model. */
static int segment_normalized(tok_ctx *c, const char *s, size_t n, bool at_start, am_tokens *out, am_err *err) {
    return tok_pretok_run(c, s, n, at_start, out, err);
}

static int segment_raw(tok_ctx *c, const char *s, size_t n, bool at_start, am_tokens *out, am_err *err);

int am_tokenizer_encode(const am_tokenizer *t, const char *text, size_t len, const am_tok_encode_params *p,
                        am_tokens *out, am_err *err) {
    am_tok_encode_params dp = am_tok_encode_default_params();
    if (!p) p = &dp;
    if (len > AM_TOK_MAX_INPUT) return am_err_set(err, "text of %zu bytes is over the %zu-byte limit", len, AM_TOK_MAX_INPUT);
    if (p->add_special)
        for (int i = 0; i < t->n_prefix; i++) am_tokens_push(out, t->prefix[i]);
    tok_ctx *c = tok_ctx_create(t, len);
    c->parse_special = p->parse_special;
    int rc = split_added(c, &t->trie_raw, text, len, true, p->parse_special, segment_raw, out, err);
    tok_ctx_free(c);
    if (rc) return -1;
    if (p->add_special)
        for (int i = 0; i < t->n_suffix; i++) am_tokens_push(out, t->suffix[i]);
    return 0;
}

static int segment_raw(tok_ctx *c, const char *s, size_t n, bool at_start, am_tokens *out, am_err *err) {
    const am_tokenizer *t = c->t;
    if (t->n_norm) {
        tok_buf nb = {0}; /* own buffer: a segment's normalized text lives while it is split */
        if (tok_normalize(t, t->norm, t->n_norm, s, n, &nb, err)) {
            tok_buf_free(&nb);
            return -1;
        }
        int rc = split_added(c, &t->trie_norm, nb.p ? nb.p : "", nb.n, at_start, c->parse_special, segment_normalized,
                             out, err);
        tok_buf_free(&nb);
        return rc;
    }
    return split_added(c, &t->trie_norm, s, n, at_start, c->parse_special, segment_normalized, out, err);
}

/* ---- building ---- */

am_tokenizer *tok_alloc(void) {
    am_tokenizer *t = am_xcalloc(1, sizeof *t);
    t->unk_id = t->bos_id = t->eos_id = t->pad_id = t->eot_id = t->eom_id = -1;
    for (int i = 0; i < 256; i++) t->byte_ids[i] = -1;
    return t;
}

void tok_add_added(am_tokenizer *t, int32_t id, const char *s, size_t n, bool special, bool lstrip, bool rstrip,
                   bool normalized, bool single_word) {
    if (t->n_added == t->added_cap) {
        t->added_cap = t->added_cap ? t->added_cap * 2 : 64;
        t->added = am_xrealloc(t->added, t->added_cap * sizeof *t->added);
    }
    tok_added *a = &t->added[t->n_added++];
    a->id = id;
    a->off = tok_arena_add(&t->v, s, n);
    a->len = (uint32_t)n;
    a->special = special;
    a->lstrip = lstrip;
    a->rstrip = rstrip;
    a->normalized = normalized;
    a->single_word = single_word;
}

static void free_steps(am_tokenizer *t) {
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
        if (t->norm[i].re) pcre2_code_free(t->norm[i].re);
    }
    for (int i = 0; i < t->n_pre; i++) {
        free(t->pre[i].lit);
        if (t->pre[i].re) pcre2_code_free(t->pre[i].re);
    }
}

void am_tokenizer_free(am_tokenizer *t) {
    if (!t) return;
    tok_vocab_free(&t->v);
    tok_merges_free(&t->merges);
    free(t->added);
    tok_trie_free(&t->trie_raw);
    tok_trie_free(&t->trie_norm);
    free_steps(t);
    free(t);
}

static const char *const EOG_NAMES[] = {
    "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|return|>",
    "<|call|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>", "<|EOT|>", "<eos>", "</s>",
};

static void add_eog(am_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->v.n || t->n_eog >= (int)AM_ARRAY_LEN(t->eog)) return;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return;
    t->eog[t->n_eog++] = id;
}

static void hash_u32(XXH3_state_t *h, uint32_t v) { XXH3_64bits_update(h, &v, 4); }

static uint64_t compute_fingerprint(const am_tokenizer *t) {
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    uint32_t hdr[] = {1, (uint32_t)t->model, t->byte_level, t->byte_fallback, t->ignore_merges, t->fuse_unk,
                      (uint32_t)t->unk_id, (uint32_t)t->v.n, (uint32_t)t->strip_leading};
    XXH3_64bits_update(h, hdr, sizeof hdr);
    for (int32_t i = 0; i < t->v.n; i++) {
        uint32_t sl = t->v.str_len[i];
        hash_u32(h, sl);
        if (sl == TOK_NONE) continue;
        XXH3_64bits_update(h, tok_str(&t->v, i), sl);
        hash_u32(h, t->v.dec_len[i]);
        XXH3_64bits_update(h, tok_dec(&t->v, i), t->v.dec_len[i]);
        hash_u32(h, t->v.kind[i] | (uint32_t)t->v.flags[i] << 8);
        if (t->v.score) XXH3_64bits_update(h, &t->v.score[i], 4);
    }
    /* merges: order-independent sum of per-entry hashes */
    uint64_t msum = 0;
    for (uint32_t i = 0; t->merges.slots && i <= t->merges.mask; i++) {
        const tok_merge_slot *s = &t->merges.slots[i];
        if (!s->key) continue;
        uint64_t e[2] = {s->key, ((uint64_t)s->rank << 32) | (uint32_t)s->val};
        msum += XXH3_64bits(e, sizeof e);
    }
    XXH3_64bits_update(h, &msum, 8);
    for (size_t i = 0; i < t->n_added; i++) {
        const tok_added *a = &t->added[i];
        uint32_t f[] = {(uint32_t)a->id, a->len, a->special, a->lstrip, a->rstrip, a->normalized, a->single_word};
        XXH3_64bits_update(h, f, sizeof f);
        XXH3_64bits_update(h, t->v.arena + a->off, a->len);
    }
    for (int i = 0; i < t->n_norm; i++) {
        const tok_norm_step *s = &t->norm[i];
        uint32_t f[] = {(uint32_t)s->type, (uint32_t)s->alen, (uint32_t)s->blen, s->left, s->right, s->re != NULL};
        XXH3_64bits_update(h, f, sizeof f);
        if (s->a) XXH3_64bits_update(h, s->a, s->alen);
        if (s->b) XXH3_64bits_update(h, s->b, s->blen);
    }
    for (int i = 0; i < t->n_pre; i++) {
        const tok_pre_step *s = &t->pre[i];
        uint32_t f[] = {(uint32_t)s->type, (uint32_t)s->pat, (uint32_t)s->behavior, s->invert,
                        (uint32_t)s->prepend, s->split, (uint32_t)s->litlen};
        XXH3_64bits_update(h, f, sizeof f);
        if (s->lit) XXH3_64bits_update(h, s->lit, s->litlen);
        XXH3_64bits_update(h, s->rep, s->replen);
    }
    hash_u32(h, (uint32_t)t->n_prefix);
    XXH3_64bits_update(h, t->prefix, sizeof(int32_t) * (size_t)t->n_prefix);
    hash_u32(h, (uint32_t)t->n_suffix);
    XXH3_64bits_update(h, t->suffix, sizeof(int32_t) * (size_t)t->n_suffix);
    uint64_t r = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return r;
}

int tok_finish(am_tokenizer *t, am_err *err) {
    if (!t->v.slots) tok_vocab_build_index(&t->v);
    /* byte ids: the byte itself for byte-level vocabularies, <0xXX> otherwise */
    for (int b = 0; b < 256; b++) {
        if (t->byte_level) {
            char c = (char)b;
            t->byte_ids[b] = tok_vocab_find(&t->v, &c, 1);
        } else {
            char piece[8];
            snprintf(piece, sizeof piece, "<0x%02X>", b);
            t->byte_ids[b] = tok_vocab_find(&t->v, piece, 6);
        }
    }
    /* where words of a SentencePiece-style vocabulary may be cut */
    t->ws_split = !t->byte_level;
    t->n_ws_block = 0;
    for (int32_t id = 0; id < t->v.n && t->ws_split; id++) {
        if (t->v.str_len[id] == TOK_NONE) continue;
        const unsigned char *u = (const unsigned char *)tok_str(&t->v, id);
        size_t n = t->v.str_len[id], i = 0;
        uint32_t prev = 0;
        while (i < n) {
            int l = tok_utf8_len(u + i, n - i);
            uint32_t cp = l ? tok_utf8_cp(u + i, l) : 0xFFFFFFFFu - u[i];
            if (cp == 0x2581 && i > 0 && prev != 0x2581) {
                bool known = false;
                for (int k = 0; k < t->n_ws_block; k++) known = known || t->ws_block[k] == prev;
                if (!known) {
                    if (t->n_ws_block == (int)AM_ARRAY_LEN(t->ws_block)) {
                        t->ws_split = false; /* too many: never cut */
                        break;
                    }
                    t->ws_block[t->n_ws_block++] = prev;
                }
            }
            prev = cp;
            i += l ? (size_t)l : 1;
        }
    }
    /* added-token tries */
    tok_trie_free(&t->trie_raw);
    tok_trie_free(&t->trie_norm);
    for (size_t i = 0; i < t->n_added; i++) {
        const tok_added *a = &t->added[i];
        if (a->id < 0 || a->id >= t->v.n) return am_err_set(err, "added token id %d out of range", a->id);
        const char *s = t->v.arena + a->off;
        if (!a->normalized || !t->n_norm) {
            tok_trie_add(a->normalized ? &t->trie_norm : &t->trie_raw, s, a->len, (int32_t)i);
            continue;
        }
        tok_buf nb = {0};
        if (tok_normalize(t, t->norm, t->n_norm, s, a->len, &nb, err)) {
            tok_buf_free(&nb);
            return -1;
        }
        tok_trie_add(&t->trie_norm, nb.p ? nb.p : "", nb.n, (int32_t)i);
        tok_buf_free(&nb);
    }
    /* end of generation */
    add_eog(t, t->eos_id);
    add_eog(t, t->eot_id);
    add_eog(t, t->eom_id);
    for (size_t i = 0; i < AM_ARRAY_LEN(EOG_NAMES); i++) {
        int32_t id = am_tokenizer_token_id(t, EOG_NAMES[i], strlen(EOG_NAMES[i]));
        if (id >= 0 && (t->v.flags[id] & TKF_SPECIAL)) add_eog(t, id);
    }
    t->fingerprint = compute_fingerprint(t);
    size_t n_merges = t->merges.n;
    snprintf(t->desc, sizeof t->desc, "%s%s, %d tokens, %zu merges, %zu added tokens%s%s",
             t->model == MODEL_BPE ? "bpe" : "sentencepiece bpe", t->byte_level ? " byte-level" : "", t->v.n,
             n_merges, t->n_added, t->byte_fallback ? ", byte fallback" : "", t->ignore_merges ? ", ignore_merges" : "");
    return 0;
}

/* ---- accessors ---- */

int32_t am_tokenizer_n_vocab(const am_tokenizer *t) { return t->v.n; }

const char *am_tokenizer_piece(const am_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->v.n || t->v.str_len[id] == TOK_NONE) return NULL;
    if (len) *len = t->v.str_len[id];
    return tok_str(&t->v, id);
}

int32_t am_tokenizer_token_id(const am_tokenizer *t, const char *s, size_t n) {
    for (size_t i = t->n_added; i-- > 0;)
        if (t->added[i].len == n && !memcmp(t->v.arena + t->added[i].off, s, n)) return t->added[i].id;
    if (!t->byte_level) {
        int32_t id = tok_vocab_find(&t->v, s, n);
        if (id >= 0 && t->v.str_len[id] == n && !memcmp(tok_str(&t->v, id), s, n)) return id;
    } else if (n <= 1024) {
        char raw[1024];
        long r = tok_bytelevel_decode(s, n, raw);
        int32_t id = r >= 0 ? tok_vocab_find(&t->v, raw, (size_t)r) : -1;
        if (id >= 0 && t->v.str_len[id] == n && !memcmp(tok_str(&t->v, id), s, n)) return id;
    }
    /* pieces outside the index (few): a plain scan */
    for (int32_t i = 0; i < t->v.n; i++)
        if (!(t->v.flags[i] & TKF_INDEXED) && t->v.str_len[i] == n && !memcmp(tok_str(&t->v, i), s, n)) return i;
    return -1;
}

bool am_tokenizer_is_special(const am_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->v.n && (t->v.flags[id] & TKF_SPECIAL);
}

bool am_tokenizer_is_eog(const am_tokenizer *t, int32_t id) {
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    return false;
}

int32_t am_tokenizer_bos(const am_tokenizer *t) { return t->bos_id; }
int32_t am_tokenizer_eos(const am_tokenizer *t) { return t->eos_id; }
bool am_tokenizer_add_bos(const am_tokenizer *t) { return t->add_bos; }
bool am_tokenizer_add_eos(const am_tokenizer *t) { return t->add_eos; }
uint64_t am_tokenizer_fingerprint(const am_tokenizer *t) { return t->fingerprint; }
const char *am_tokenizer_describe(const am_tokenizer *t) { return t->desc; }

/* ---- loading by path ---- */

am_tokenizer *am_tokenizer_load_gguf_path(const char *path, am_err *err);

am_tokenizer *am_tokenizer_load(const char *path, am_err *err) {
    if (am_dir_exists(path)) {
        char *json = am_path_join(path, "tokenizer.json");
        char *model = am_path_join(path, "tokenizer.model");
        char *cfg = am_path_join(path, "tokenizer_config.json");
        const char *cfgp = am_file_exists(cfg) ? cfg : NULL;
        am_tokenizer *t = NULL;
        if (am_file_exists(json))
            t = am_tokenizer_load_json(json, cfgp, err);
        else if (am_file_exists(model))
            t = am_tokenizer_load_spm(model, cfgp, err);
        else
            am_err_set(err, "%s: no tokenizer.json or tokenizer.model in this folder", path);
        free(json);
        free(model);
        free(cfg);
        return t;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        am_err_setc(err, errno == ENOENT ? AM_E_NOT_FOUND : AM_E_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char head[64];
    size_t hn = fread(head, 1, sizeof head, f);
    fclose(f);
    if (hn >= 4 && !memcmp(head, "GGUF", 4)) return am_tokenizer_load_gguf_path(path, err);
    size_t k = 0;
    while (k < hn && (head[k] == ' ' || head[k] == '\n' || head[k] == '\r' || head[k] == '\t')) k++;
    if (k < hn && head[k] == '{') return am_tokenizer_load_json(path, NULL, err);
    /* a .json name is a tokenizer.json whatever it holds: say so, rather
     * than what a SentencePiece protobuf reader makes of it */
    size_t pl = strlen(path);
    if (hn == 0 || (pl >= 5 && !strcmp(path + pl - 5, ".json"))) {
        am_err_setc(err, AM_E_BAD_FILE, "%s: %s", path,
                    hn == 0 ? "empty file, not a tokenizer" : "not JSON, so not a tokenizer.json");
        return NULL;
    }
    return am_tokenizer_load_spm(path, NULL, err);
}
