/*
 * tok_gguf.c — tokenizer from GGUF metadata (tokenizer.ggml.*), as llama.cpp's
 * converter writes it:
 *   model "gpt2":  byte-level BPE; tokens, token_type, merges ("a b"), and
 *                  .pre naming the pre-tokenizer, mapped here to its regexes;
 *   model "llama": SentencePiece BPE by score; tokens, scores, token_type,
 *                  add_space_prefix, remove_extra_whitespaces.
 * Special ids, add_bos_token/add_eos_token with llama.cpp's defaults.
 *
 * Where llama.cpp and Hugging Face disagree, Hugging Face (the reference of
 * the tests) wins: Qwen2 vocabularies get HF's NFC normalizer; pieces the
 * converter demoted from user-defined to NORMAL are matched literally again
 * (see spm_user_defined). An unknown .pre is an error, never a guess.
 * Every array count is checked against the vocabulary size; strings are
 * arbitrary bytes (copied, the GGUF may be closed afterwards).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "text/tok_internal.h"

am_tokenizer *am_tokenizer_load_gguf_path(const char *path, am_err *err);
void tok_spm_setup_norm(am_tokenizer *t, bool remove_extra_ws, bool add_dummy_prefix, bool escape_ws);
void tok_spm_set_dec(am_tokenizer *t, int32_t id);

#define RE_LLAMA3 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_O200K                                                                                                      \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN                                                                                                      \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"                        \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"                        \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

#define RE_GPT2_NUM_SPLIT "\\p{N}"
#define RE_BLOOM " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"
#define RE_CJK_LLM "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+"

/* Known .pre names -> a sequence of Isolated regex splits: llama.cpp's
 * llama-vocab.cpp gives the same names the same regexes and flags. */
typedef struct pre_def {
    const char *names[12];
    const char *regex[6];
    bool ignore_merges;
    bool add_bos;  /* llama.cpp's default when the GGUF has no add_bos_token */
    bool nfc;      /* HF's tokenizer.json of these models normalizes NFC */
    bool no_bos;   /* no BOS id unless the GGUF names one */
} pre_def;

static const pre_def PRE_DEFS[] = {
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"}, {RE_LLAMA3},
     true, true, false, false},
    {{"dbrx", "smaug-bpe"}, {RE_LLAMA3}, false, false, false, false},
    {{"glm4", "chatglm-bpe"}, {RE_LLAMA3}, false, false, false, true},
    {{"qwen2", "deepseek-r1-qwen"}, {RE_QWEN2}, false, false, true, false},
    {{"stablelm2", "megrez", "kormo"}, {RE_QWEN2}, false, false, false, false},
    {{"deepseek-v3"},
     {"\\p{N}{1,3}", "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
      "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
     false, false, false, false},
    {{"deepseek-coder"}, {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK_LLM, "\\p{N}"}, false, false, false, false},
    {{"gpt-4o", "llama4"}, {RE_O200K}, true, false, false, false},
    {{"tekken"}, {RE_TEKKEN}, true, true, false, false},
    {{"gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "gigachat",
      "exaone4"},
     {RE_GPT2},
     false, false, false, false},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
     {RE_GPT2_NUM_SPLIT, RE_GPT2},
     false, false, false, false},
    {{"falcon"},
     {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"},
     false, false, false, false},
    {{"poro-chat", "bloom", "gpt3-finnish"}, {RE_BLOOM}, false, false, false, false},
    {{"viking"}, {RE_BLOOM, RE_GPT2_NUM_SPLIT}, false, false, false, false},
    /* llama.cpp's choice for BPE vocabularies without a .pre */
    {{"default"},
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"},
     false, false, false, false},
};

static const pre_def *find_pre(const char *name) {
    for (size_t i = 0; i < AM_ARRAY_LEN(PRE_DEFS); i++)
        for (int k = 0; k < 12 && PRE_DEFS[i].names[k]; k++)
            if (!strcmp(PRE_DEFS[i].names[k], name)) return &PRE_DEFS[i];
    return NULL;
}

static int setup_pre(am_tokenizer *t, const pre_def *p, am_err *err) {
    for (int k = 0; k < 6 && p->regex[k]; k++) {
        tok_pre_step *s = &t->pre[t->n_pre++];
        memset(s, 0, sizeof *s);
        s->type = PRE_SPLIT;
        s->pat = SPLIT_PAT_REGEX;
        s->behavior = SPLIT_ISOLATED;
        s->litlen = strlen(p->regex[k]);
        s->lit = am_xstrndup(p->regex[k], s->litlen);
        s->re = tok_regex_compile(s->lit, s->litlen, err);
        if (!s->re) return -1;
    }
    if (p->nfc) {
        tok_norm_step *n = &t->norm[t->n_norm++];
        memset(n, 0, sizeof *n);
        n->type = NORM_NFC;
    }
    t->ignore_merges = p->ignore_merges;
    return 0;
}

static int32_t get_id(const am_gguf *g, const char *key, int32_t n) {
    uint32_t v;
    if (!am_gguf_get_u32(g, key, &v) || v >= (uint32_t)n) return -1;
    return (int32_t)v;
}

static bool get_flag(const am_gguf *g, const char *key, bool dflt) {
    bool v;
    return am_gguf_get_bool(g, key, &v) ? v : dflt;
}

/* A NORMAL piece with score 0 that no two pieces can be merged into: only a
 * user-defined symbol looks like that (SentencePiece's BPE trainer makes
 * every normal multi-character piece from two others and gives it a
 * negative score). llama.cpp's converter writes user-defined symbols of a
 * tokenizer.model as NORMAL when tokenizer_config.json does not list them;
 * sentencepiece and HF match them literally in the text, so we do too. */
static bool spm_user_defined(const am_tokenizer *t, int32_t id) {
    if (t->v.kind[id] != TK_NORMAL || !t->v.score || t->v.score[id] != 0.0f) return false;
    const unsigned char *s = (const unsigned char *)tok_str(&t->v, id);
    size_t n = t->v.str_len[id];
    int first = tok_utf8_len(s, n);
    if (!first || (size_t)first >= n) return false; /* single characters are base symbols */
    for (size_t cut = 1; cut < n; cut++) {
        if ((s[cut] & 0xC0) == 0x80) continue;
        int32_t a = tok_vocab_find(&t->v, (const char *)s, cut), b = tok_vocab_find(&t->v, (const char *)s + cut, n - cut);
        if (a >= 0 && b >= 0 && a != id && b != id) return false;
    }
    return true;
}

static am_tokenizer *from_gguf(const am_gguf *g, am_err *err) {
    am_str model, pre = {"default", 7};
    if (!am_gguf_get_str(g, "tokenizer.ggml.model", &model)) {
        am_err_set(err, "no tokenizer.ggml.model in this GGUF");
        return NULL;
    }
    bool gpt2 = model.n == 4 && !memcmp(model.p, "gpt2", 4);
    bool llama = model.n == 5 && !memcmp(model.p, "llama", 5);
    if (!gpt2 && !llama) {
        am_err_set(err, "GGUF tokenizer model \"%.*s\" is not supported (gpt2 and llama are)", (int)AM_MIN(model.n, 64),
                   model.p);
        return NULL;
    }
    am_gguf_vtype et;
    uint64_t n;
    if (!am_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) || et != AM_GGUF_STRING || n == 0 || n > TOK_MAX_VOCAB) {
        am_err_set(err, "tokenizer.ggml.tokens missing, not strings, or of a bad size");
        return NULL;
    }
    int32_t nv = (int32_t)n;
    const int32_t *types = NULL;
    const float *scores = NULL;
    uint64_t cnt;
    if (am_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &cnt)) {
        if (et != AM_GGUF_I32 || cnt != n) {
            am_err_set(err, "tokenizer.ggml.token_type must be %llu int32", (unsigned long long)n);
            return NULL;
        }
        types = am_gguf_arr_data(g, "tokenizer.ggml.token_type");
    }
    if (am_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &cnt)) {
        if (et != AM_GGUF_F32 || cnt != n) {
            am_err_set(err, "tokenizer.ggml.scores must be %llu float32", (unsigned long long)n);
            return NULL;
        }
        scores = am_gguf_arr_data(g, "tokenizer.ggml.scores");
    }
    am_tokenizer *t = tok_alloc();
    const pre_def *pdef = NULL;
    t->model = gpt2 ? MODEL_BPE : MODEL_SPM;
    t->byte_level = gpt2;
    tok_vocab_init(&t->v, nv);
    if (llama) t->v.score = am_xcalloc((size_t)nv, sizeof(float));
    tok_buf raw = {0};
    for (int32_t i = 0; i < nv; i++) {
        am_str s = am_gguf_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)i);
        if (s.n > ((uint64_t)1 << 20)) {
            am_err_set(err, "token %d is too long", i);
            goto fail;
        }
        int kind = TK_NORMAL;
        if (types) {
            int32_t ty;
            memcpy(&ty, (const char *)types + 4 * (size_t)i, 4); /* may be unaligned */
            kind = (ty >= 1 && ty <= 6) ? ty : TK_NORMAL;
        }
        /* Only SentencePiece vocabularies use scores (and have the array);
         * a gpt2 file may carry them anyway: they are ignored. */
        if (scores && llama) memcpy(&t->v.score[i], (const char *)scores + 4 * (size_t)i, 4);
        t->v.str_off[i] = tok_arena_add(&t->v, s.p, (size_t)s.n);
        t->v.str_len[i] = (uint32_t)s.n;
        t->v.kind[i] = (uint8_t)kind;
        if (kind == TK_CONTROL || kind == TK_UNKNOWN) t->v.flags[i] |= TKF_SPECIAL;
        if (llama) {
            t->v.key[i] = (tok_span){t->v.str_off[i], (uint32_t)s.n};
            t->v.flags[i] |= TKF_INDEXED;
            continue;
        }
        /* byte-level: user-defined and control tokens are raw text (llama.cpp) */
        bool rawtext = kind == TK_CONTROL || kind == TK_USER;
        raw.n = 0;
        tok_buf_add(&raw, NULL, 0);
        if (raw.cap < s.n + 1) {
            raw.p = am_xrealloc(raw.p, (size_t)s.n + 1);
            raw.cap = (size_t)s.n + 1;
        }
        long r = rawtext ? -1 : tok_bytelevel_decode(s.p, (size_t)s.n, raw.p);
        if (r >= 0) {
            uint32_t off = tok_arena_add(&t->v, raw.p, (size_t)r);
            t->v.key[i] = (tok_span){off, (uint32_t)r};
            t->v.dec_off[i] = off;
            t->v.dec_len[i] = (uint32_t)r;
            t->v.flags[i] |= TKF_INDEXED;
        } else {
            t->v.dec_off[i] = t->v.str_off[i];
            t->v.dec_len[i] = (uint32_t)s.n;
        }
    }
    tok_vocab_build_index(&t->v);

    if (llama) {
        for (int32_t i = 0; i < nv; i++) {
            if (spm_user_defined(t, i)) t->v.kind[i] = TK_USER;
            tok_spm_set_dec(t, i);
            int k = t->v.kind[i];
            if (k == TK_CONTROL || k == TK_UNKNOWN || k == TK_USER)
                tok_add_added(t, i, tok_str(&t->v, i), t->v.str_len[i], k != TK_USER, false, false, false, false);
            if (k == TK_BYTE) t->byte_fallback = true;
        }
        tok_spm_setup_norm(t, get_flag(g, "tokenizer.ggml.remove_extra_whitespaces", false),
                           get_flag(g, "tokenizer.ggml.add_space_prefix", true), true);
    } else {
        for (int32_t i = 0; i < nv; i++) {
            int k = t->v.kind[i];
            if (k == TK_CONTROL || k == TK_USER)
                tok_add_added(t, i, tok_str(&t->v, i), t->v.str_len[i], k == TK_CONTROL, false, false, false, false);
        }
        am_gguf_get_str(g, "tokenizer.ggml.pre", &pre); /* absent: "default" */
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)AM_MIN(pre.n, 63), pre.p);
        const pre_def *pd = find_pre(name);
        if (!pd) {
            am_err_set(err, "GGUF pre-tokenizer \"%s\" is not supported", name);
            goto fail;
        }
        if (setup_pre(t, pd, err)) goto fail;
        pdef = pd;
        /* merges "a b": the first space after the first byte separates them */
        if (!am_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &cnt) || et != AM_GGUF_STRING) {
            am_err_set(err, "tokenizer.ggml.merges missing or not strings");
            goto fail;
        }
        tok_merges_init(&t->merges, (size_t)AM_MIN(cnt, (uint64_t)TOK_MAX_VOCAB * 4));
        uint64_t skipped = 0;
        for (uint64_t m = 0; m < cnt; m++) {
            am_str s = am_gguf_arr_str(g, "tokenizer.ggml.merges", m);
            const char *sp = s.n > 1 ? memchr(s.p + 1, ' ', (size_t)s.n - 1) : NULL;
            if (!sp || s.n > 4096) {
                skipped++;
                continue;
            }
            size_t la = (size_t)(sp - s.p), lb = (size_t)s.n - la - 1;
            char key[4096];
            long ka = tok_bytelevel_decode(s.p, la, key);
            long kb = ka < 0 ? -1 : tok_bytelevel_decode(sp + 1, lb, key + ka);
            int32_t ia = ka < 0 ? -1 : tok_vocab_find(&t->v, key, (size_t)ka);
            int32_t ib = kb < 0 ? -1 : tok_vocab_find(&t->v, key + ka, (size_t)kb);
            int32_t im = (ia < 0 || ib < 0) ? -1 : tok_vocab_find(&t->v, key, (size_t)(ka + kb));
            if (im < 0) {
                skipped++;
                continue;
            }
            tok_merges_add(&t->merges, ia, ib, (uint32_t)m, im, false); /* llama.cpp: first rank wins */
        }
        if (skipped) am_log_debug("GGUF tokenizer: %llu merges use pieces not in the vocabulary", (unsigned long long)skipped);
    }
    tok_buf_free(&raw);

    t->unk_id = get_id(g, "tokenizer.ggml.unknown_token_id", nv);
    if (t->unk_id < 0 && llama)
        for (int32_t i = 0; i < nv && t->unk_id < 0; i++)
            if (t->v.kind[i] == TK_UNKNOWN) t->unk_id = i;
    t->bos_id = get_id(g, "tokenizer.ggml.bos_token_id", nv);
    t->eos_id = get_id(g, "tokenizer.ggml.eos_token_id", nv);
    t->pad_id = get_id(g, "tokenizer.ggml.padding_token_id", nv);
    t->eot_id = get_id(g, "tokenizer.ggml.eot_token_id", nv);
    t->eom_id = get_id(g, "tokenizer.ggml.eom_token_id", nv);
    /* llama.cpp's defaults: SentencePiece and the Llama 3 family add BOS */
    if (pdef && pdef->no_bos && !am_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &(uint32_t){0})) t->bos_id = -1;
    bool dflt_bos = llama || (pdef && pdef->add_bos);
    t->add_bos = get_flag(g, "tokenizer.ggml.add_bos_token", dflt_bos) && t->bos_id >= 0;
    t->add_eos = get_flag(g, "tokenizer.ggml.add_eos_token", false) && t->eos_id >= 0;
    if (t->add_bos) t->prefix[t->n_prefix++] = t->bos_id;
    if (t->add_eos) t->suffix[t->n_suffix++] = t->eos_id;
    if (tok_finish(t, err)) goto fail;
    return t;
fail:
    tok_buf_free(&raw);
    am_tokenizer_free(t);
    return NULL;
}

am_tokenizer *am_tokenizer_from_gguf(const am_gguf *g, am_err *err) {
    am_tokenizer *t = from_gguf(g, err);
    if (!t) am_err_prefix(err, "GGUF tokenizer");
    return t;
}

am_tokenizer *am_tokenizer_load_gguf_path(const char *path, am_err *err) {
    am_gguf *g = am_gguf_open(path, err);
    if (!g) return NULL;
    am_tokenizer *t = from_gguf(g, err);
    am_gguf_close(g);
    if (!t) am_err_prefix(err, "%s", path);
    return t;
}
