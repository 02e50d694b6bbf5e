/*
 * tok_spm_model.c — SentencePiece tokenizer.model loader: the ModelProto
 * protobuf is read directly (no libprotobuf): pieces (piece, score, type),
 * trainer_spec (model_type, byte_fallback, unk/bos/eos/pad ids,
 * treat_whitespace_as_suffix) and normalizer_spec (name, precompiled_charsmap,
 * add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces).
 *
 * Only BPE models are supported (Unigram is an error); a precompiled
 * normalization charsmap is an error too. Every varint is at most 10 bytes,
 * every length checked against the bytes left, piece count bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "text/tok_internal.h"

#define MAX_MODEL_BYTES ((size_t)1 << 30)

typedef struct pb {
    const uint8_t *p;
    size_t n, i;
} pb;

static int pb_varint(pb *b, uint64_t *out) {
    uint64_t v = 0;
    for (int k = 0; k < 10; k++) {
        if (b->i >= b->n) return -1;
        uint8_t c = b->p[b->i++];
        v |= (uint64_t)(c & 0x7F) << (7 * k);
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* One field: its number, wire type, and either a varint/fixed value or a
 * length-delimited view. */
typedef struct pb_field {
    uint32_t num;
    int wire;
    uint64_t v;
    const uint8_t *data;
    size_t len;
} pb_field;

static int pb_next(pb *b, pb_field *f, am_err *err) {
    uint64_t key;
    if (pb_varint(b, &key)) return am_err_set(err, "bad protobuf varint at byte %zu", b->i);
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    if (key >> 32 || f->num == 0) return am_err_set(err, "bad protobuf field number at byte %zu", b->i);
    switch (f->wire) {
    case 0:
        if (pb_varint(b, &f->v)) return am_err_set(err, "bad protobuf varint at byte %zu", b->i);
        return 0;
    case 1:
        if (b->n - b->i < 8) return am_err_set(err, "truncated protobuf");
        memcpy(&f->v, b->p + b->i, 8);
        b->i += 8;
        return 0;
    case 5: {
        if (b->n - b->i < 4) return am_err_set(err, "truncated protobuf");
        uint32_t x;
        memcpy(&x, b->p + b->i, 4);
        f->v = x;
        b->i += 4;
        return 0;
    }
    case 2: {
        uint64_t l;
        if (pb_varint(b, &l)) return am_err_set(err, "bad protobuf length at byte %zu", b->i);
        if (l > b->n - b->i) return am_err_set(err, "protobuf length %llu runs past the end", (unsigned long long)l);
        f->data = b->p + b->i;
        f->len = (size_t)l;
        b->i += (size_t)l;
        return 0;
    }
    default: return am_err_set(err, "unsupported protobuf wire type %d", f->wire);
    }
}

typedef struct spm_piece {
    const uint8_t *s;
    size_t n;
    float score;
    int type;
} spm_piece;

typedef struct spm_spec {
    int model_type;       /* 1 unigram (default), 2 bpe, 3 word, 4 char */
    bool byte_fallback;
    int64_t unk_id, bos_id, eos_id, pad_id;
    bool ws_suffix;
    bool add_dummy_prefix, remove_extra_ws, escape_ws;
    size_t charsmap_len;
} spm_spec;

static int parse_piece(const uint8_t *p, size_t n, spm_piece *out, am_err *err) {
    pb b = {p, n, 0};
    out->s = (const uint8_t *)"";
    out->n = 0;
    out->score = 0;
    out->type = TK_NORMAL;
    while (b.i < b.n) {
        pb_field f;
        if (pb_next(&b, &f, err)) return -1;
        if (f.num == 1 && f.wire == 2) {
            out->s = f.data;
            out->n = f.len;
        } else if (f.num == 2 && f.wire == 5) {
            uint32_t x = (uint32_t)f.v;
            memcpy(&out->score, &x, 4);
        } else if (f.num == 3 && f.wire == 0) {
            if (f.v < 1 || f.v > 6) return am_err_set(err, "piece type %llu unknown", (unsigned long long)f.v);
            out->type = (int)f.v;
        }
    }
    return 0;
}

static int parse_trainer(const uint8_t *p, size_t n, spm_spec *s, am_err *err) {
    pb b = {p, n, 0};
    while (b.i < b.n) {
        pb_field f;
        if (pb_next(&b, &f, err)) return -1;
        if (f.wire != 0) continue;
        int64_t v = (int64_t)f.v; /* int32 fields: negatives come as 10-byte varints */
        switch (f.num) {
        case 3: s->model_type = (int)v; break;
        case 24: s->ws_suffix = v != 0; break;
        case 35: s->byte_fallback = v != 0; break;
        case 40: s->unk_id = (int32_t)v; break;
        case 41: s->bos_id = (int32_t)v; break;
        case 42: s->eos_id = (int32_t)v; break;
        case 43: s->pad_id = (int32_t)v; break;
        default: break;
        }
    }
    return 0;
}

static int parse_normalizer(const uint8_t *p, size_t n, spm_spec *s, am_err *err) {
    pb b = {p, n, 0};
    while (b.i < b.n) {
        pb_field f;
        if (pb_next(&b, &f, err)) return -1;
        if (f.num == 2 && f.wire == 2) s->charsmap_len = f.len;
        else if (f.num == 3 && f.wire == 0) s->add_dummy_prefix = f.v != 0;
        else if (f.num == 4 && f.wire == 0) s->remove_extra_ws = f.v != 0;
        else if (f.num == 5 && f.wire == 0) s->escape_ws = f.v != 0;
    }
    return 0;
}

static void add_norm_step(am_tokenizer *t, int type, const char *a, const char *b) {
    tok_norm_step *s = &t->norm[t->n_norm++];
    memset(s, 0, sizeof *s);
    s->type = type;
    if (a) {
        s->a = am_xstrdup(a);
        s->alen = strlen(a);
    }
    if (b) {
        s->b = am_xstrdup(b);
        s->blen = strlen(b);
    }
}

/* Shared by tokenizer.model and GGUF "llama": the SentencePiece rules. */
void tok_spm_setup_norm(am_tokenizer *t, bool remove_extra_ws, bool add_dummy_prefix, bool escape_ws);
void tok_spm_setup_norm(am_tokenizer *t, bool remove_extra_ws, bool add_dummy_prefix, bool escape_ws) {
    t->n_norm = 0;
    if (remove_extra_ws) add_norm_step(t, NORM_SPM_COLLAPSE, NULL, NULL);
    if (add_dummy_prefix) add_norm_step(t, NORM_PREPEND, escape_ws ? "\xe2\x96\x81" : " ", NULL);
    if (escape_ws) add_norm_step(t, NORM_REPLACE, " ", "\xe2\x96\x81");
    t->strip_leading = add_dummy_prefix ? 1 : 0;
}

/* Decoded bytes of a SentencePiece piece. */
void tok_spm_set_dec(am_tokenizer *t, int32_t id);
void tok_spm_set_dec(am_tokenizer *t, int32_t id) {
    const char *s = tok_str(&t->v, id);
    size_t n = t->v.str_len[id];
    int kind = t->v.kind[id];
    if (kind == TK_BYTE) {
        int b = tok_parse_byte_piece(s, n);
        if (b >= 0) {
            char c = (char)b;
            t->v.dec_off[id] = tok_arena_add(&t->v, &c, 1);
            t->v.dec_len[id] = 1;
            return;
        }
    }
    if (kind == TK_CONTROL || kind == TK_UNKNOWN) {
        t->v.dec_off[id] = t->v.str_off[id];
        t->v.dec_len[id] = (uint32_t)n;
        return;
    }
    tok_buf b = {0};
    size_t i = 0;
    while (i < n) {
        if (n - i >= 3 && !memcmp(s + i, "\xe2\x96\x81", 3)) {
            tok_buf_add(&b, " ", 1);
            i += 3;
        } else {
            tok_buf_add(&b, s + i, 1);
            i++;
        }
    }
    t->v.dec_off[id] = tok_arena_add(&t->v, b.p ? b.p : "", b.n);
    t->v.dec_len[id] = (uint32_t)b.n;
    tok_buf_free(&b);
}

static am_tokenizer *from_spm(const uint8_t *data, size_t len, const char *config_path, am_err *err) {
    spm_spec spec = {.model_type = 1, .unk_id = 0, .bos_id = 1, .eos_id = 2, .pad_id = -1,
                     .add_dummy_prefix = true, .remove_extra_ws = true, .escape_ws = true};
    spm_piece *pieces = NULL;
    size_t np = 0, capp = 0;
    am_tokenizer *t = NULL;
    pb b = {data, len, 0};
    while (b.i < b.n) {
        pb_field f;
        if (pb_next(&b, &f, err)) goto fail;
        if (f.wire != 2) continue;
        if (f.num == 1) {
            if (np >= TOK_MAX_VOCAB) {
                am_err_set(err, "more than %d pieces", TOK_MAX_VOCAB);
                goto fail;
            }
            if (np == capp) {
                capp = capp ? capp * 2 : 1024;
                pieces = am_xrealloc(pieces, capp * sizeof *pieces);
            }
            if (parse_piece(f.data, f.len, &pieces[np], err)) goto fail;
            np++;
        } else if (f.num == 2) {
            if (parse_trainer(f.data, f.len, &spec, err)) goto fail;
        } else if (f.num == 3) {
            if (parse_normalizer(f.data, f.len, &spec, err)) goto fail;
        }
    }
    if (!np) {
        am_err_set(err, "no pieces (not a SentencePiece model?)");
        goto fail;
    }
    if (spec.model_type != 2) {
        am_err_set(err, "SentencePiece model type %d is not supported (only BPE)", spec.model_type);
        goto fail;
    }
    if (spec.ws_suffix) {
        am_err_set(err, "treat_whitespace_as_suffix is not supported");
        goto fail;
    }
    if (spec.charsmap_len) {
        am_err_set(err, "precompiled normalization charsmaps are not supported");
        goto fail;
    }
    t = tok_alloc();
    t->model = MODEL_SPM;
    t->byte_fallback = spec.byte_fallback;
    tok_vocab_init(&t->v, (int32_t)np);
    t->v.score = am_xcalloc(np, sizeof(float));
    for (size_t i = 0; i < np; i++) {
        const spm_piece *p = &pieces[i];
        if (p->n > ((size_t)1 << 20)) {
            am_err_set(err, "piece %zu is too long", i);
            goto fail;
        }
        int32_t id = (int32_t)i;
        t->v.str_off[id] = tok_arena_add(&t->v, (const char *)p->s, p->n);
        t->v.str_len[id] = (uint32_t)p->n;
        t->v.key[id].off = t->v.str_off[id];
        t->v.key[id].len = (uint32_t)p->n;
        t->v.kind[id] = (uint8_t)p->type;
        t->v.flags[id] = TKF_INDEXED;
        t->v.score[id] = p->score;
        if (p->type == TK_CONTROL || p->type == TK_UNKNOWN) t->v.flags[id] |= TKF_SPECIAL;
        if (p->type == TK_CONTROL || p->type == TK_UNKNOWN || p->type == TK_USER)
            tok_add_added(t, id, (const char *)p->s, p->n, p->type != TK_USER, false, false, false, false);
        tok_spm_set_dec(t, id);
    }
    int32_t n = (int32_t)np;
    t->unk_id = spec.unk_id >= 0 && spec.unk_id < n ? (int32_t)spec.unk_id : -1;
    t->bos_id = spec.bos_id >= 0 && spec.bos_id < n ? (int32_t)spec.bos_id : -1;
    t->eos_id = spec.eos_id >= 0 && spec.eos_id < n ? (int32_t)spec.eos_id : -1;
    t->pad_id = spec.pad_id >= 0 && spec.pad_id < n ? (int32_t)spec.pad_id : -1;
    tok_spm_setup_norm(t, spec.remove_extra_ws, spec.add_dummy_prefix, spec.escape_ws);
    /* SentencePiece's own default: BOS on, EOS off (tokenizer_config may say otherwise) */
    if (t->bos_id >= 0) t->prefix[t->n_prefix++] = t->bos_id;
    t->add_bos = t->n_prefix > 0;
    tok_vocab_build_index(&t->v);
    if (config_path && tok_apply_config(t, config_path, err)) goto fail;
    if (tok_finish(t, err)) goto fail;
    free(pieces);
    return t;
fail:
    free(pieces);
    am_tokenizer_free(t);
    return NULL;
}

am_tokenizer *am_tokenizer_from_spm_mem(const uint8_t *data, size_t len, am_err *err) {
    am_tokenizer *t = from_spm(data, len, NULL, err);
    if (!t) am_err_prefix(err, "tokenizer.model");
    return t;
}

am_tokenizer *am_tokenizer_load_spm(const char *model_path, const char *config_path, am_err *err) {
    size_t n = 0;
    char *data = am_file_read_all(model_path, MAX_MODEL_BYTES, &n, err);
    if (!data) return NULL;
    am_tokenizer *t = from_spm((const uint8_t *)data, n, config_path, err);
    free(data);
    if (!t) am_err_prefix(err, "%s", model_path);
    return t;
}
