/*
 * synth_vocab.c — generated and imported vocabularies for mkmodel. Owns the
 * token strings it builds; never reads a tokenizer.json beyond the limits
 * checked here (size, id range), and never trusts its ids to be dense.
 */
#include "base/json.h"
#include "model/synth_vocab.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/file.h"
#include "model/synth_rng.h"

#define MAX_PIECE_BYTES 12
#define MAX_TOKENIZER_JSON ((size_t)512 << 20)
#define MAX_VOCAB ((int64_t)1 << 24)

/* ---- a string → id map (open addressing; the strings are borrowed) ---- */

typedef struct strmap {
    const char **key;
    int64_t *val;
    uint64_t cap; /* power of two */
    uint64_t n;
} strmap;

static void map_init(strmap *m, uint64_t expect) {
    m->cap = 64;
    while (m->cap < 2 * expect) m->cap *= 2;
    m->key = am_xcalloc(m->cap, sizeof *m->key);
    m->val = am_xcalloc(m->cap, sizeof *m->val);
    m->n = 0;
}

static void map_free(strmap *m) {
    free(m->key);
    free(m->val);
}

static uint64_t map_slot(const strmap *m, const char *s) {
    uint64_t i = XXH3_64bits(s, strlen(s)) & (m->cap - 1);
    while (m->key[i] && strcmp(m->key[i], s)) i = (i + 1) & (m->cap - 1);
    return i;
}

static int64_t map_get(const strmap *m, const char *s) {
    uint64_t i = map_slot(m, s);
    return m->key[i] ? m->val[i] : -1;
}

static void map_put(strmap *m, const char *s, int64_t v) {
    if (2 * (m->n + 1) > m->cap) {
        strmap big;
        map_init(&big, m->cap);
        for (uint64_t i = 0; i < m->cap; i++)
            if (m->key[i]) map_put(&big, m->key[i], m->val[i]);
        map_free(m);
        *m = big;
    }
    uint64_t i = map_slot(m, s);
    if (!m->key[i]) m->n++;
    m->key[i] = s;
    m->val[i] = v;
}

/* ---- building a vocabulary ---- */

typedef struct builder {
    char **tok;
    int32_t *type;
    int64_t n, cap;
    char **merges;
    int64_t nm, capm;
    strmap ids;
} builder;

static void b_init(builder *b, int64_t expect) {
    memset(b, 0, sizeof *b);
    map_init(&b->ids, (uint64_t)expect);
}

/* Appends a token (copied) unless it exists; returns its id, or -1 if it
 * existed already. */
static int64_t b_add(builder *b, const char *s, int32_t type) {
    if (map_get(&b->ids, s) >= 0) return -1;
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 1024;
        b->tok = am_xrealloc(b->tok, (size_t)b->cap * sizeof *b->tok);
        b->type = am_xrealloc(b->type, (size_t)b->cap * sizeof *b->type);
    }
    b->tok[b->n] = am_xstrdup(s);
    b->type[b->n] = type;
    map_put(&b->ids, b->tok[b->n], b->n);
    return b->n++;
}

static void b_add_merge(builder *b, const char *l, const char *r) {
    if (b->nm == b->capm) {
        b->capm = b->capm ? 2 * b->capm : 1024;
        b->merges = am_xrealloc(b->merges, (size_t)b->capm * sizeof *b->merges);
    }
    size_t nl = strlen(l), nr = strlen(r);
    char *m = am_xmalloc(nl + nr + 2);
    memcpy(m, l, nl);
    m[nl] = ' ';
    memcpy(m + nl + 1, r, nr + 1);
    b->merges[b->nm++] = m;
}

/* Joins tokens l and r into a new token; with merges, records "l r".
 * Returns the new id or -1 if the join exists already or is too long. */
static int64_t b_join(builder *b, int64_t l, int64_t r, bool merges) {
    char buf[2 * MAX_PIECE_BYTES + 8];
    size_t nl = strlen(b->tok[l]), nr = strlen(b->tok[r]);
    if (nl + nr > MAX_PIECE_BYTES) return -1;
    memcpy(buf, b->tok[l], nl);
    memcpy(buf + nl, b->tok[r], nr + 1);
    int64_t id = b_add(b, buf, AM_TOK_NORMAL);
    if (id >= 0 && merges) b_add_merge(b, b->tok[l], b->tok[r]);
    return id;
}

static am_synth_vocab *b_finish(builder *b) {
    am_synth_vocab *v = am_xcalloc(1, sizeof *v);
    v->n = b->n;
    v->tok = b->tok;
    v->type = b->type;
    v->n_merges = b->nm;
    v->merges = b->merges;
    v->bos = v->eos = v->eot = v->unk = v->pad = -1;
    v->add_bos = v->add_eos = v->add_space_prefix = -1;
    map_free(&b->ids);
    return v;
}

static size_t utf8_put(char *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* GPT-2's byte → printable code point map, in GPT-2's token order:
 * order[k] is the byte of token k, cp[byte] its code point. */
static void gpt2_bytes(uint8_t order[256], uint32_t cp[256]) {
    int k = 0, extra = 0;
    bool printable[256] = {false};
    for (int c = 33; c <= 126; c++) printable[c] = true;
    for (int c = 161; c <= 172; c++) printable[c] = true;
    for (int c = 174; c <= 255; c++) printable[c] = true;
    for (int c = 0; c < 256; c++)
        if (printable[c]) { order[k++] = (uint8_t)c; cp[c] = (uint32_t)c; }
    for (int c = 0; c < 256; c++)
        if (!printable[c]) { order[k++] = (uint8_t)c; cp[c] = 256u + (uint32_t)extra++; }
}

/* Word-like pieces: letters by English frequency, then random joins biased
 * to early (common) pieces, as a trained BPE's merges roughly look. Uppercase
 * only ever starts a piece; space-prefixed pieces only ever start a join. */
typedef struct wordgen {
    int64_t *low, *cap, *sp; /* ids of pieces starting lowercase, uppercase, with the space mark */
    int64_t nlow, ncap, nsp, max;
} wordgen;

static int64_t pick(am_rng *r, const int64_t *list, int64_t n) {
    double u = am_rng_uniform(r);
    return list[(int64_t)(u * u * u * (double)n)];
}

static void wg_push(wordgen *g, int64_t **list, int64_t *n, int64_t id) {
    (void)g;
    (*list)[(*n)++] = id;
}

/* Adds joins until the builder holds `target` tokens. */
static void gen_words(builder *b, int64_t target, int64_t space_id, bool merges, uint64_t seed) {
    static const char freq[] = "etaoinshrdlcumwfgypbvkjxqz";
    wordgen g = {0};
    g.max = target + 64;
    g.low = am_xmalloc((size_t)g.max * sizeof(int64_t));
    g.cap = am_xmalloc((size_t)g.max * sizeof(int64_t));
    g.sp = am_xmalloc((size_t)g.max * sizeof(int64_t));
    char s[2] = {0};
    for (int i = 0; i < 26; i++) {
        s[0] = freq[i];
        g.low[g.nlow++] = map_get(&b->ids, s);
        s[0] = (char)(freq[i] - 'a' + 'A');
        g.cap[g.ncap++] = map_get(&b->ids, s);
    }
    /* space + every letter first, as every English-trained BPE has */
    for (int i = 0; i < 26 && b->n < target; i++) {
        int64_t id = b_join(b, space_id, g.low[i], merges);
        if (id >= 0) wg_push(&g, &g.sp, &g.nsp, id);
    }
    for (int i = 0; i < 26 && b->n < target; i++) {
        int64_t id = b_join(b, space_id, g.cap[i], merges);
        if (id >= 0) wg_push(&g, &g.sp, &g.nsp, id);
    }
    am_rng r;
    am_rng_seed(&r, seed);
    while (b->n < target) {
        double u = am_rng_uniform(&r);
        int64_t l, rt = pick(&r, g.low, g.nlow);
        int which;
        if (u < 0.45) { l = pick(&r, g.sp, g.nsp); which = 2; }
        else if (u < 0.55) { l = pick(&r, g.cap, g.ncap); which = 1; }
        else { l = pick(&r, g.low, g.nlow); which = 0; }
        int64_t id = b_join(b, l, rt, merges);
        if (id < 0) continue;
        if (which == 2) wg_push(&g, &g.sp, &g.nsp, id);
        else if (which == 1) wg_push(&g, &g.cap, &g.ncap, id);
        else wg_push(&g, &g.low, &g.nlow, id);
    }
    free(g.low);
    free(g.cap);
    free(g.sp);
}

/* Joins of whitespace marks and (llama3) 1–3 digit numbers. */
static void gen_extras(builder *b, const char *space, const char *newline, bool numbers, int64_t target,
                       bool merges) {
    int64_t sp = map_get(&b->ids, space), nl = map_get(&b->ids, newline);
    int64_t sp2 = b->n < target ? b_join(b, sp, sp, merges) : -1;
    if (sp2 >= 0 && b->n < target) b_join(b, sp2, sp2, merges);
    if (nl >= 0 && b->n < target) b_join(b, nl, nl, merges);
    if (!numbers) return;
    char s[4] = {0};
    int64_t digit[10], two[100];
    for (int d = 0; d < 10; d++) {
        s[0] = (char)('0' + d);
        digit[d] = map_get(&b->ids, s);
    }
    for (int i = 0; i < 100 && b->n < target; i++) two[i] = b_join(b, digit[i / 10], digit[i % 10], merges);
    for (int i = 0; i < 1000 && b->n < target; i++) b_join(b, two[i / 10], digit[i % 10], merges);
}

static const char *const LLAMA3_SPECIAL[] = {
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
};

static const char *const QWEN2_SPECIAL[] = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
};
#define QWEN2_N_CONTROL 14 /* the rest are plain added (user-defined) tokens */

static int64_t find_or_die(const builder *b, const char *s) {
    int64_t id = map_get(&b->ids, s);
    return id;
}

static am_synth_vocab *gen_bpe(am_synth_vocab_style style, int64_t n_vocab) {
    builder b;
    b_init(&b, n_vocab);
    uint8_t order[256];
    uint32_t cp[256];
    gpt2_bytes(order, cp);
    char s[8];
    for (int k = 0; k < 256; k++) {
        s[utf8_put(s, cp[order[k]])] = 0;
        b_add(&b, s, AM_TOK_NORMAL);
    }
    char space[8], newline[8];
    space[utf8_put(space, cp[' '])] = 0;
    newline[utf8_put(newline, cp['\n'])] = 0;

    int64_t n_special, n_pad = 0;
    if (style == AM_SYNTH_VOCAB_LLAMA3) {
        n_special = n_vocab >= 100000 ? 256 : 16;
    } else {
        n_special = (int64_t)AM_ARRAY_LEN(QWEN2_SPECIAL);
        /* Qwen2.5's embedding has 151936 rows for 151665 tokens */
        n_pad = n_vocab >= 151936 ? n_vocab - 151665 : 0;
    }
    int64_t n_regular = n_vocab - n_special - n_pad;
    gen_extras(&b, space, newline, style == AM_SYNTH_VOCAB_LLAMA3 && n_regular >= 20000, n_regular, true);
    gen_words(&b, n_regular, map_get(&b.ids, space), true, style == AM_SYNTH_VOCAB_LLAMA3 ? 0x11a3a : 0x0e2);

    if (style == AM_SYNTH_VOCAB_LLAMA3) {
        int reserved = 3;
        for (int64_t i = 0; i < n_special; i++) {
            char name[64];
            if (i < (int64_t)AM_ARRAY_LEN(LLAMA3_SPECIAL)) snprintf(name, sizeof name, "%s", LLAMA3_SPECIAL[i]);
            else snprintf(name, sizeof name, "<|reserved_special_token_%d|>", reserved++);
            b_add(&b, name, AM_TOK_CONTROL);
        }
    } else {
        for (int64_t i = 0; i < n_special; i++)
            b_add(&b, QWEN2_SPECIAL[i], i < QWEN2_N_CONTROL ? AM_TOK_CONTROL : AM_TOK_USER_DEFINED);
        for (int64_t i = 0; i < n_pad; i++) {
            char name[32];
            snprintf(name, sizeof name, "[PAD%lld]", (long long)b.n);
            b_add(&b, name, AM_TOK_UNUSED);
        }
    }
    am_synth_vocab *v;
    if (style == AM_SYNTH_VOCAB_LLAMA3) {
        int64_t bos = find_or_die(&b, "<|begin_of_text|>"), eot = find_or_die(&b, "<|eot_id|>");
        v = b_finish(&b);
        v->model = "gpt2";
        v->pre = "llama-bpe";
        v->bos = (int32_t)bos;
        v->eos = v->eot = (int32_t)eot;
    } else {
        int64_t eot = find_or_die(&b, "<|im_end|>"), eod = find_or_die(&b, "<|endoftext|>");
        v = b_finish(&b);
        v->model = "gpt2";
        v->pre = "qwen2";
        v->bos = v->pad = (int32_t)eod;
        v->eos = (int32_t)eot;
        v->add_bos = 0;
    }
    return v;
}

/* SentencePiece-style (Gemma): specials, byte fallback, pieces by score,
 * single characters last (lowest scores). */
static am_synth_vocab *gen_spm(int64_t n_vocab) {
    static const char *const head[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "[multimodal]"};
    enum { N_UNUSED = 99 };
    const int64_t n_head = (int64_t)AM_ARRAY_LEN(head) + N_UNUSED + 2;

    /* pieces first, in a scratch builder whose ids we renumber below */
    builder p;
    b_init(&p, n_vocab);
    const char *mark = "\xE2\x96\x81"; /* ▁ */
    b_add(&p, mark, AM_TOK_NORMAL);
    char s[2] = {0};
    for (int c = 33; c <= 126; c++) {
        s[0] = (char)c;
        b_add(&p, s, AM_TOK_NORMAL);
    }
    b_add(&p, "\n", AM_TOK_NORMAL);
    int64_t n_single = p.n;
    int64_t n_pieces = n_vocab - n_head - 256;
    gen_extras(&p, mark, "\n", false, n_pieces, false);
    gen_words(&p, n_pieces, 0, false, 0x6e3);

    builder b;
    b_init(&b, n_vocab);
    for (size_t i = 0; i < AM_ARRAY_LEN(head); i++)
        b_add(&b, head[i], i == 3 ? AM_TOK_UNKNOWN : AM_TOK_CONTROL);
    for (int i = 0; i < N_UNUSED; i++) {
        char name[32];
        snprintf(name, sizeof name, "<unused%d>", i);
        b_add(&b, name, AM_TOK_CONTROL);
    }
    int64_t sot = b_add(&b, "<start_of_turn>", AM_TOK_USER_DEFINED);
    int64_t eot = b_add(&b, "<end_of_turn>", AM_TOK_USER_DEFINED);
    for (int c = 0; c < 256; c++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", c);
        b_add(&b, name, AM_TOK_BYTE);
    }
    (void)sot;
    int64_t first_piece = b.n;
    for (int64_t i = n_single; i < p.n; i++) b_add(&b, p.tok[i], AM_TOK_NORMAL);
    for (int64_t i = 0; i < n_single; i++) b_add(&b, p.tok[i], AM_TOK_NORMAL);
    for (int64_t i = 0; i < p.n; i++) free(p.tok[i]);
    free(p.tok);
    free(p.type);
    map_free(&p.ids);

    am_synth_vocab *v = b_finish(&b);
    v->score = am_xcalloc((size_t)v->n, sizeof *v->score);
    for (int64_t i = first_piece; i < v->n; i++) v->score[i] = -(float)(i - first_piece);
    v->model = "llama";
    v->pre = "default";
    v->pad = 0;
    v->eos = 1;
    v->bos = 2;
    v->unk = 3;
    v->eot = (int32_t)eot;
    v->add_bos = 1;
    v->add_eos = 0;
    v->add_space_prefix = 0;
    return v;
}

am_synth_vocab *am_synth_vocab_generate(am_synth_vocab_style style, int64_t n_vocab) {
    if (n_vocab < 1024) n_vocab = 1024;
    return style == AM_SYNTH_VOCAB_GEMMA ? gen_spm(n_vocab) : gen_bpe(style, n_vocab);
}

/* ---- tokenizer.json ---- */

static const char *const *special_names(am_synth_vocab_style style, int which) {
    /* which: 0 bos, 1 eos, 2 eot, 3 unk, 4 pad; NULL-terminated preference lists */
    static const char *const l[5][4] = {
        {"<|begin_of_text|>", "<s>", "<bos>", NULL},
        {"<|eot_id|>", "<|end_of_text|>", "</s>", NULL},
        {"<|eot_id|>", NULL},
        {"<unk>", NULL},
        {"<|finetune_right_pad_id|>", "<pad>", NULL},
    };
    static const char *const q[5][4] = {
        {"<|endoftext|>", NULL}, {"<|im_end|>", "<|endoftext|>", NULL}, {NULL}, {NULL}, {"<|endoftext|>", NULL},
    };
    static const char *const g[5][4] = {
        {"<bos>", "<s>", NULL}, {"<eos>", "</s>", NULL}, {"<end_of_turn>", NULL}, {"<unk>", NULL}, {"<pad>", NULL},
    };
    return style == AM_SYNTH_VOCAB_QWEN2 ? q[which] : style == AM_SYNTH_VOCAB_GEMMA ? g[which] : l[which];
}

static int32_t find_special_style(const strmap *m, am_synth_vocab_style style, int which);

/* The shape's own names first, then the other families': a Llama 3
 * vocabulary under a Gemma shape keeps <|begin_of_text|> as its BOS. */
static int32_t find_special(const strmap *m, am_synth_vocab_style style, int which) {
    int32_t id = find_special_style(m, style, which);
    static const am_synth_vocab_style all[] = {AM_SYNTH_VOCAB_LLAMA3, AM_SYNTH_VOCAB_QWEN2, AM_SYNTH_VOCAB_GEMMA};
    for (size_t i = 0; id < 0 && i < sizeof all / sizeof all[0]; i++)
        if (all[i] != style) id = find_special_style(m, all[i], which);
    return id;
}

static int32_t find_special_style(const strmap *m, am_synth_vocab_style style, int which) {
    for (const char *const *n = special_names(style, which); *n; n++) {
        int64_t id = map_get(m, *n);
        if (id >= 0) return (int32_t)id;
    }
    return -1;
}

static bool is_byte_token(const char *s) {
    return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>';
}

am_synth_vocab *am_synth_vocab_load(const char *path, am_synth_vocab_style style, int64_t min_vocab,
                                    am_err *err) {
    size_t size = 0;
    char *text = am_file_read_all(path, MAX_TOKENIZER_JSON, &size, err);
    if (!text) return NULL;
    json_error_t je;
    json_t *root = am_json_loadb(text, size, 0, &je);
    free(text);
    am_synth_vocab *v = NULL;
    char **tok = NULL;
    int32_t *type = NULL;
    int64_t n = 0;
    strmap ids = {0};
    if (!root) {
        am_err_set(err, "%s: line %d: %s", path, je.line, je.text);
        return NULL;
    }
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!model || !mtype || strcmp(mtype, "BPE") || !json_is_object(vocab)) {
        am_err_set(err, "%s: not a BPE tokenizer.json (model.type %s)", path, mtype ? mtype : "missing");
        goto out;
    }
    if (merges && !json_is_array(merges)) {
        am_err_set(err, "%s: model.merges is not an array", path);
        goto out;
    }
    bool spm = json_is_true(json_object_get(model, "byte_fallback"));

    /* size: the largest id, from the vocabulary and the added tokens */
    int64_t max_id = -1;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        if (id < 0 || id >= MAX_VOCAB) {
            am_err_set(err, "%s: token '%.40s' has a bad id", path, key);
            goto out;
        }
        max_id = AM_MAX(max_id, (int64_t)id);
    }
    size_t ai;
    json_array_foreach(added, ai, val) {
        json_t *jid = json_object_get(val, "id");
        json_int_t id = json_is_integer(jid) ? json_integer_value(jid) : -1;
        if (id < 0 || id >= MAX_VOCAB || !json_is_string(json_object_get(val, "content"))) {
            am_err_set(err, "%s: added token %zu is malformed", path, ai);
            goto out;
        }
        max_id = AM_MAX(max_id, (int64_t)id);
    }
    n = AM_MAX(max_id + 1, min_vocab);
    if (n <= 0 || n > MAX_VOCAB) {
        am_err_set(err, "%s: vocabulary of %lld tokens", path, (long long)n);
        goto out;
    }
    tok = am_xcalloc((size_t)n, sizeof *tok);
    type = am_xcalloc((size_t)n, sizeof *type);
    json_object_foreach(vocab, key, val) {
        int64_t id = (int64_t)json_integer_value(val);
        if (tok[id]) {
            am_err_set(err, "%s: id %lld used twice", path, (long long)id);
            goto out;
        }
        tok[id] = am_xstrdup(key);
        type[id] = spm && is_byte_token(key) ? AM_TOK_BYTE : AM_TOK_NORMAL;
    }
    json_array_foreach(added, ai, val) {
        int64_t id = (int64_t)json_integer_value(json_object_get(val, "id"));
        const char *content = json_string_value(json_object_get(val, "content"));
        bool special = json_is_true(json_object_get(val, "special"));
        if (tok[id] && strcmp(tok[id], content)) {
            am_err_set(err, "%s: id %lld is both '%.40s' and '%.40s'", path, (long long)id, tok[id], content);
            goto out;
        }
        if (!tok[id]) tok[id] = am_xstrdup(content);
        type[id] = special ? AM_TOK_CONTROL : AM_TOK_USER_DEFINED;
    }
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    for (int64_t i = 0; i < n; i++) {
        if (!tok[i]) {
            char name[32];
            snprintf(name, sizeof name, "[PAD%lld]", (long long)i);
            tok[i] = am_xstrdup(name);
            type[i] = AM_TOK_UNUSED;
        } else if (unk && !strcmp(tok[i], unk)) {
            type[i] = AM_TOK_UNKNOWN;
        }
    }
    map_init(&ids, (uint64_t)n);
    for (int64_t i = 0; i < n; i++)
        if (map_get(&ids, tok[i]) < 0) map_put(&ids, tok[i], i);

    v = am_xcalloc(1, sizeof *v);
    v->n = n;
    v->tok = tok;
    v->type = type;
    tok = NULL;
    type = NULL;
    v->bos = find_special(&ids, style, 0);
    v->eos = find_special(&ids, style, 1);
    v->eot = find_special(&ids, style, 2);
    v->unk = find_special(&ids, style, 3);
    v->pad = find_special(&ids, style, 4);
    v->add_bos = v->add_eos = v->add_space_prefix = -1;

    size_t nm = merges ? json_array_size(merges) : 0;
    if (spm) {
        /* SentencePiece scores: earlier merges = higher scores. Pieces made by
         * no merge (single characters) rank below every merge. */
        v->model = "llama";
        v->pre = "default";
        v->score = am_xmalloc((size_t)n * sizeof *v->score);
        for (int64_t i = 0; i < n; i++) v->score[i] = -(float)(nm + (size_t)i);
        v->add_bos = 1;
        v->add_space_prefix = 0;
    } else {
        v->model = "gpt2";
        v->pre = style == AM_SYNTH_VOCAB_QWEN2 ? "qwen2" : "llama-bpe";
        v->merges = am_xcalloc(nm ? nm : 1, sizeof *v->merges);
    }
    for (size_t i = 0; i < nm; i++) {
        json_t *m = json_array_get(merges, i);
        const char *l = NULL, *r = NULL;
        char *owned = NULL;
        if (json_is_string(m)) {
            const char *s = json_string_value(m);
            const char *spc = strchr(s + (s[0] == ' '), ' ');
            if (spc) {
                owned = am_xstrdup(s);
                owned[spc - s] = 0;
                l = owned;
                r = owned + (spc - s) + 1;
            }
        } else if (json_is_array(m) && json_array_size(m) == 2) {
            l = json_string_value(json_array_get(m, 0));
            r = json_string_value(json_array_get(m, 1));
        }
        if (!l || !r) {
            free(owned);
            am_err_set(err, "%s: merge %zu is malformed", path, i);
            am_synth_vocab_free(v);
            v = NULL;
            goto out;
        }
        size_t nl = strlen(l), nr = strlen(r);
        char *joined = am_xmalloc(nl + nr + 2);
        memcpy(joined, l, nl);
        if (spm) {
            memcpy(joined + nl, r, nr + 1);
            int64_t id = map_get(&ids, joined);
            if (id >= 0 && v->score[id] < -(float)i) v->score[id] = -(float)i;
            free(joined);
        } else {
            joined[nl] = ' ';
            memcpy(joined + nl + 1, r, nr + 1);
            v->merges[v->n_merges++] = joined;
        }
        free(owned);
    }
    if (spm)
        for (int64_t i = 0; i < n; i++)
            if (v->type[i] != AM_TOK_NORMAL) v->score[i] = 0.0f;

out:
    if (tok) {
        for (int64_t i = 0; i < n; i++) free(tok[i]);
        free(tok);
    }
    free(type);
    if (ids.key) map_free(&ids);
    json_decref(root);
    return v;
}

void am_synth_vocab_write(const am_synth_vocab *v, am_gguf_writer *w) {
    am_gguf_writer_set_str(w, "tokenizer.ggml.model", v->model);
    am_gguf_writer_set_str(w, "tokenizer.ggml.pre", v->pre);
    am_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tok, NULL, (uint64_t)v->n);
    if (v->score) am_gguf_writer_set_arr(w, "tokenizer.ggml.scores", AM_GGUF_F32, v->score, (uint64_t)v->n);
    am_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", AM_GGUF_I32, v->type, (uint64_t)v->n);
    if (v->merges)
        am_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, NULL,
                                   (uint64_t)v->n_merges);
    if (v->bos >= 0) am_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (v->eos >= 0) am_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    if (v->eot >= 0) am_gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)v->eot);
    if (v->unk >= 0) am_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)v->unk);
    if (v->pad >= 0) am_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)v->pad);
    if (v->add_bos >= 0) am_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
    if (v->add_eos >= 0) am_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos);
    if (v->add_space_prefix >= 0) am_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix);
}

int64_t am_synth_vocab_find(const am_synth_vocab *v, const char *s) {
    for (int64_t i = 0; i < v->n; i++)
        if (!strcmp(v->tok[i], s)) return i;
    return -1;
}

void am_synth_vocab_free(am_synth_vocab *v) {
    if (!v) return;
    for (int64_t i = 0; i < v->n; i++) free(v->tok[i]);
    for (int64_t i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tok);
    free(v->type);
    free(v->score);
    free(v->merges);
    free(v);
}
