/*
 * convert_vocab.c — an HF folder's tokenizer as GGUF tokenizer.* data:
 * tokenizer.json through am_synth_vocab_load, or a SentencePiece
 * tokenizer.model read here (the ModelProto fields llama.cpp's converter
 * uses: pieces with score and type, normalizer_spec.add_dummy_prefix), plus
 * tokenizer_config.json's added tokens and pad/unk names. Every length of
 * the protobuf is checked against the bytes left before it is used.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "model/convert_impl.h"

#define MAX_SPM_MODEL ((size_t)64 << 20)
#define MAX_TOKENIZER_CONFIG ((size_t)64 << 20)
#define MAX_VOCAB ((int64_t)1 << 24)

/* ---- a minimal protobuf reader ---- */

typedef struct pb {
    const uint8_t *p, *end;
} pb;

static bool pb_varint(pb *b, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return false;
        uint8_t c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Next field: number, wire type, and for length-delimited fields the bytes.
 * Varints land in *v, fixed32 in *f32. Skips fixed64. */
static bool pb_next(pb *b, uint32_t *field, uint32_t *wire, uint64_t *v, float *f32, pb *sub) {
    uint64_t key;
    if (!pb_varint(b, &key)) return false;
    *field = (uint32_t)(key >> 3);
    *wire = (uint32_t)(key & 7);
    switch (*wire) {
    case 0: return pb_varint(b, v);
    case 1:
        if (b->end - b->p < 8) return false;
        b->p += 8;
        return true;
    case 2: {
        uint64_t n;
        if (!pb_varint(b, &n) || n > (uint64_t)(b->end - b->p)) return false;
        sub->p = b->p;
        sub->end = b->p + n;
        b->p += n;
        return true;
    }
    case 5:
        if (b->end - b->p < 4) return false;
        memcpy(f32, b->p, 4);
        b->p += 4;
        return true;
    default: return false;
    }
}

static am_synth_vocab *spm_load(const char *path, int64_t n_vocab, am_err *err) {
    size_t size = 0;
    uint8_t *data = (uint8_t *)am_file_read_all(path, MAX_SPM_MODEL, &size, err);
    if (!data) return NULL;
    am_synth_vocab *v = am_xcalloc(1, sizeof *v);
    int64_t cap = 0;
    bool dummy_prefix = true; /* SentencePiece's default */
    pb b = {data, data + size};
    while (b.p < b.end) {
        uint32_t field, wire;
        uint64_t iv = 0;
        float fv = 0;
        pb sub = {0};
        if (!pb_next(&b, &field, &wire, &iv, &fv, &sub)) goto bad;
        if (field == 1 && wire == 2) { /* SentencePiece { piece = 1; score = 2; type = 3 } */
            const char *piece = NULL;
            size_t plen = 0;
            float score = 0;
            uint64_t type = AM_TOK_NORMAL;
            while (sub.p < sub.end) {
                uint32_t f2, w2;
                uint64_t iv2 = 0;
                float fv2 = 0;
                pb s2 = {0};
                if (!pb_next(&sub, &f2, &w2, &iv2, &fv2, &s2)) goto bad;
                if (f2 == 1 && w2 == 2) piece = (const char *)s2.p, plen = (size_t)(s2.end - s2.p);
                else if (f2 == 2 && w2 == 5) score = fv2;
                else if (f2 == 3 && w2 == 0) type = iv2;
            }
            if (!piece || memchr(piece, 0, plen) || type < 1 || type > 6) goto bad;
            if (v->n == MAX_VOCAB) goto bad;
            if (v->n == cap) {
                cap = cap ? 2 * cap : 1024;
                v->tok = am_xrealloc(v->tok, (size_t)cap * sizeof *v->tok);
                v->type = am_xrealloc(v->type, (size_t)cap * sizeof *v->type);
                v->score = am_xrealloc(v->score, (size_t)cap * sizeof *v->score);
            }
            v->tok[v->n] = am_xstrndup(piece, plen);
            v->type[v->n] = (int32_t)type;
            v->score[v->n] = score;
            v->n++;
        } else if (field == 3 && wire == 2) { /* NormalizerSpec { add_dummy_prefix = 3 } */
            while (sub.p < sub.end) {
                uint32_t f2, w2;
                uint64_t iv2 = 0;
                float fv2 = 0;
                pb s2 = {0};
                if (!pb_next(&sub, &f2, &w2, &iv2, &fv2, &s2)) goto bad;
                if (f2 == 3 && w2 == 0) dummy_prefix = iv2 != 0;
            }
        }
    }
    if (v->n == 0 || v->n > n_vocab) {
        am_err_setc(err, AM_E_BAD_FILE, "%s: %lld pieces for an embedding of %lld rows", path, (long long)v->n,
                    (long long)n_vocab);
        goto fail;
    }
    int64_t n0 = v->n;
    v->tok = am_xrealloc(v->tok, (size_t)n_vocab * sizeof *v->tok);
    v->type = am_xrealloc(v->type, (size_t)n_vocab * sizeof *v->type);
    v->score = am_xrealloc(v->score, (size_t)n_vocab * sizeof *v->score);
    for (int64_t i = n0; i < n_vocab; i++) {
        char name[32];
        snprintf(name, sizeof name, "[PAD%lld]", (long long)i);
        v->tok[i] = am_xstrdup(name);
        v->type[i] = AM_TOK_UNUSED;
        v->score[i] = -1000.0f;
    }
    v->n = n_vocab;
    v->model = "llama";
    v->pre = "default";
    v->add_space_prefix = dummy_prefix;
    v->bos = v->eos = v->eot = v->unk = v->pad = -1;
    for (int64_t i = 0; i < v->n && v->unk < 0; i++)
        if (v->type[i] == AM_TOK_UNKNOWN) v->unk = (int32_t)i;
    free(data);
    return v;
bad:
    am_err_setc(err, AM_E_BAD_FILE, "%s: malformed SentencePiece model (offset %zu)", path,
                (size_t)(b.p - data));
fail:
    am_synth_vocab_free(v);
    free(data);
    return NULL;
}

/* tokenizer_config.json's added_tokens_decoder: {"id": {"content", "special"}}
 * renames and retypes ids of a SentencePiece vocabulary, as llama.cpp does. */
static int apply_added(am_synth_vocab *v, json_t *tc, const char *path, am_err *err) {
    json_t *dec = json_object_get(tc, "added_tokens_decoder");
    const char *key;
    json_t *val;
    json_object_foreach(dec, key, val) {
        char *end;
        long long id = strtoll(key, &end, 10);
        const char *content = json_string_value(json_object_get(val, "content"));
        if (*end || id < 0 || !content)
            return am_err_setc(err, AM_E_BAD_FILE, "%s: added token '%.40s' is malformed", path, key);
        if (id >= v->n) continue; /* beyond the embedding: llama.cpp drops them too */
        if (strcmp(v->tok[id], content)) {
            free(v->tok[id]);
            v->tok[id] = am_xstrdup(content);
        }
        v->type[id] = json_is_true(json_object_get(val, "special")) ? AM_TOK_CONTROL : AM_TOK_USER_DEFINED;
        if (v->score) v->score[id] = 0.0f;
    }
    return 0;
}

/* A token named by tokenizer_config.json ("pad_token": "<pad>" or {"content": ...}). */
static int32_t config_token(const am_synth_vocab *v, json_t *tc, const char *name) {
    json_t *t = json_object_get(tc, name);
    const char *s = json_is_string(t) ? json_string_value(t) : json_string_value(json_object_get(t, "content"));
    return s ? (int32_t)am_synth_vocab_find(v, s) : -1;
}

am_synth_vocab *am_convert_vocab(const char *dir, am_arch arch, int64_t n_vocab, const am_tokenizer *hf_tok,
                                 int32_t config_eos, am_err *err) {
    char *json_path = am_path_join(dir, "tokenizer.json");
    char *spm_path = am_path_join(dir, "tokenizer.model");
    char *tc_path = am_path_join(dir, "tokenizer_config.json");
    json_t *tc = NULL;
    am_synth_vocab *v = NULL;
    if (am_file_exists(tc_path)) {
        size_t n = 0;
        char *text = am_file_read_all(tc_path, MAX_TOKENIZER_CONFIG, &n, err);
        if (!text) goto out;
        json_error_t je;
        tc = am_json_loadb(text, n, 0, &je);
        free(text);
        if (!json_is_object(tc)) {
            am_err_setc(err, AM_E_BAD_FILE, "%s: line %d: %s", tc_path, je.line, tc ? "not an object" : je.text);
            goto out;
        }
    }
    if (am_file_exists(json_path)) {
        am_synth_vocab_style style = arch == AM_ARCH_GEMMA3   ? AM_SYNTH_VOCAB_GEMMA
                                     : arch == AM_ARCH_LLAMA ? AM_SYNTH_VOCAB_LLAMA3
                                                             : AM_SYNTH_VOCAB_QWEN2;
        v = am_synth_vocab_load(json_path, style, n_vocab, err);
        if (!v) {
            if (err) err->code = AM_E_BAD_FILE;
            goto out;
        }
        if (v->n != n_vocab) {
            am_err_setc(err, AM_E_BAD_FILE, "%s: %lld tokens for an embedding of %lld rows", json_path,
                        (long long)v->n, (long long)n_vocab);
            am_synth_vocab_free(v);
            v = NULL;
            goto out;
        }
        v->unk = v->score ? v->unk : -1; /* byte-level BPE files carry no unknown token */
    } else if (am_file_exists(spm_path)) {
        v = spm_load(spm_path, n_vocab, err);
        if (!v || (tc && apply_added(v, tc, tc_path, err))) {
            am_synth_vocab_free(v);
            v = NULL;
            goto out;
        }
    } else {
        am_err_setc(err, AM_E_NOT_FOUND, "%s: neither tokenizer.json nor tokenizer.model", dir);
        goto out;
    }
    v->bos = am_tokenizer_bos(hf_tok);
    v->eos = am_tokenizer_eos(hf_tok);
    v->add_bos = am_tokenizer_add_bos(hf_tok);
    v->add_eos = am_tokenizer_add_eos(hf_tok);
    v->pad = tc ? config_token(v, tc, "pad_token") : -1;
    if (tc && config_token(v, tc, "unk_token") >= 0) v->unk = config_token(v, tc, "unk_token");
    v->eot = -1;
    if (config_eos >= 0 && config_eos < v->n && config_eos != v->eos && !am_tokenizer_is_eog(hf_tok, config_eos))
        v->eot = config_eos;
out:
    json_decref(tc);
    free(json_path);
    free(spm_path);
    free(tc_path);
    return v;
}
