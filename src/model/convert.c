/*
 * convert.c — `agentmem convert`'s core (see convert.h). Order of work:
 * load the folder (am_model_load: hparams, tensor views over the safetensors
 * mappings, norms as float32 with gemma3's +1), refuse what a GGUF reader
 * would read differently, build the vocabulary and prove it with the GGUF
 * tokenizer on probe strings, then plan the tensors (gguf_arch.c) and
 * stream them: each chunk of rows is converted to float32, llama Q/K rows
 * permuted, quantized by am_quantize_row on worker threads, and written.
 * Never writes out_path except through the writer's atomic commit.
 */
#include "model/convert.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "compute/quant.h"
#include "model/convert_impl.h"
#include "model/gguf.h"
#include "model/gguf_arch.h"
#include "model/gguf_write.h"

#define CHUNK_BYTES ((size_t)32 << 20)
#define MAX_THREADS 64

am_convert_params am_convert_default_params(void) {
    return (am_convert_params){.ftype = AM_SYNTH_F16, .n_threads = 0, .progress = false};
}

/* ---- what a GGUF can say ---- */

/* GGUF readers (llama.cpp, model.c) infer parts of gemma3 instead of reading
 * keys: every 6th layer global, local rope base 10000, query scale
 * 1/sqrt(head_dim) (62 layers: 1/sqrt(n_embd/n_head)). A folder that differs
 * would convert into a different model: refuse it. */
static int check_expressible(const am_model *m, am_err *err) {
    const am_hparams *hp = &m->hp;
    if (hp->arch == AM_ARCH_GEMMA3) {
        for (int il = 0; il < hp->n_layer; il++)
            if (hp->layer_swa[il] != (hp->sliding_window > 0 && il % 6 < 5))
                return am_err_setc(err, AM_E_BAD_FILE,
                                   "layer %d's attention type is not gemma3's 5 sliding : 1 global pattern, which "
                                   "GGUF cannot express",
                                   il);
        if (hp->rope_base_local != 10000.0f)
            return am_err_setc(err, AM_E_BAD_FILE, "local rope base %g: GGUF gemma3 files imply 10000",
                               (double)hp->rope_base_local);
        double want = hp->n_layer == 62 ? 1.0 / sqrt((double)hp->n_embd / hp->n_head) : 1.0 / sqrt((double)hp->head_dim);
        if (fabs(hp->query_scale - want) > 1e-6 * want)
            return am_err_setc(err, AM_E_BAD_FILE, "query scale %g: GGUF gemma3 files imply %g",
                               (double)hp->query_scale, want);
    } else {
        if (hp->sliding_window > 0)
            return am_err_setc(err, AM_E_BAD_FILE, "sliding-window attention on %s: GGUF cannot express it",
                               am_arch_name(hp->arch));
        if (fabs(hp->query_scale - 1.0 / sqrt((double)hp->head_dim)) > 1e-6)
            return am_err_setc(err, AM_E_BAD_FILE, "query scale %g is not 1/sqrt(head_dim)", (double)hp->query_scale);
    }
    if (hp->final_logit_softcap != 0 || hp->attn_logit_softcap != 0)
        return am_err_setc(err, AM_E_BAD_FILE, "logit soft-capping is not supported by the converter");
    return 0;
}

/* "llama3-tiny/" -> "Llama3 Tiny", as the converter names a model by its folder. */
static char *model_name(const char *dir_in) {
    char *real = realpath(dir_in, NULL); /* "." and "models/x/.." name their folder */
    const char *dir = real ? real : dir_in;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    char *s = am_xstrndup(dir + b, n - b);
    bool start = true;
    for (char *c = s; *c; c++) {
        if (*c == '-' || *c == '_') *c = ' ';
        if (start && islower((unsigned char)*c)) *c = (char)toupper((unsigned char)*c);
        start = *c == ' ';
    }
    free(real);
    return s;
}

static am_synth_shape shape_of(const am_model *m, const char *name) {
    const am_hparams *hp = &m->hp;
    return (am_synth_shape){
        .name = name, .arch = am_arch_name(hp->arch), .model_name = name, .n_vocab = hp->n_vocab,
        .n_embd = hp->n_embd, .n_layer = hp->n_layer, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
        .head_dim = hp->head_dim, .n_ff = hp->n_ff, .n_ctx = hp->n_ctx_train, .norm_eps = hp->norm_eps,
        .rope_base = hp->rope_base, .tied = hp->tied_embeddings, .qkv_bias = m->layers[0].bq != NULL,
        .qk_norm = m->layers[0].q_norm != NULL, .post_norms = hp->arch == AM_ARCH_GEMMA3,
        .sliding_window = hp->sliding_window};
}

/* ---- the tokenizer, proved on probe strings ---- */

/* llama.cpp's pre-tokenizer probe text (convert_hf_to_gguf.py chktxt), and a few more. */
static const char *const PROBES[] = {
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n\xf0\x9f\x9a\x80 (normal) \xf0\x9f\x98\xb6\xe2\x80\x8d\xf0\x9f\x8c"
    "\xab\xef\xb8\x8f (multiple emojis concatenated) \xe2\x9c\x85 \xf0\x9f\xa6\x99\xf0\x9f\xa6\x99 3 33 333 3333 33333 "
    "333333 3333333 33333333 3.3 3..3 3...3 \xe1\x9e\x80\xe1\x9e\xb6\xe1\x9e\x93\xe1\x9f\x8b\xe1\x9e\x8f\xe1\x9f\x82 "
    "?\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8" "apple\xe5\xb7\xa5\xe4\xbd\x9c" "1314151\xe5\xa4\xa9\xef\xbd\x9e ------======= "
    "\xd0\xbd\xd0\xb5\xd1\x89\xd0\xbe ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you "
    "sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    "Hello world",
    " Hello  world!\n\nIt's 2024-12-03, 12345 tokens.",
    "def f(x):\n\treturn x**2  # square\n",
    "  leading spaces and trailing  ",
};

static bool same_ids(const am_tokens *a, const am_tokens *b) {
    return a->n == b->n && (a->n == 0 || !memcmp(a->ids, b->ids, a->n * sizeof *a->ids));
}

/* 1 when the GGUF tokenizer built from v differs from hf (err says where), 0
 * when equal, -1 on a failure to build it. The keys go through a real GGUF
 * file (a temporary one) so that exactly the reader's path is proved. */
static int probe_tokenizer(const am_synth_vocab *v, const am_tokenizer *hf, int32_t hf_eos, am_err *err) {
    const char *tmpdir = getenv("TMPDIR");
    char *path = am_path_join(tmpdir && *tmpdir ? tmpdir : "/tmp", "agentmem-convert-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        am_err_setc(err, AM_E_IO, "%s: cannot create a temporary file", path);
        free(path);
        return -1;
    }
    close(fd);
    int rc = -1;
    am_gguf *g = NULL;
    am_tokenizer *t = NULL;
    am_gguf_writer *w = am_gguf_writer_create();
    am_synth_vocab_write(v, w);
    if (am_gguf_writer_begin(w, path, err) || am_gguf_writer_finish(w, err)) goto out;
    if (!(g = am_gguf_open(path, err)) || !(t = am_tokenizer_from_gguf(g, err))) goto out;
    rc = 1;
    for (int32_t id = 0; id < am_tokenizer_n_vocab(t); id++) {
        bool a = id < am_tokenizer_n_vocab(hf) && (am_tokenizer_is_eog(hf, id) || id == hf_eos);
        bool b = am_tokenizer_is_eog(t, id) || id == am_tokenizer_eos(t);
        if (a != b) {
            am_err_setc(err, AM_E_BAD_FILE, "token %d ends generation in %s but not in %s", id, a ? "the folder" : "GGUF",
                        a ? "GGUF" : "the folder");
            goto out;
        }
    }
    for (size_t i = 0; i < AM_ARRAY_LEN(PROBES); i++)
        for (int mode = 0; mode < 2; mode++) {
            am_tok_encode_params ep = {.add_special = mode == 0, .parse_special = mode == 0};
            am_tokens x = {0}, y = {0};
            int e1 = am_tokenizer_encode(hf, PROBES[i], strlen(PROBES[i]), &ep, &x, err);
            int e2 = e1 ? 0 : am_tokenizer_encode(t, PROBES[i], strlen(PROBES[i]), &ep, &y, err);
            bool same = !e1 && !e2 && same_ids(&x, &y);
            am_tokens_free(&x);
            am_tokens_free(&y);
            if (e1 || e2) {
                rc = -1;
                goto out;
            }
            if (!same) {
                am_err_setc(err, AM_E_BAD_FILE, "probe %zu encodes differently", i);
                goto out;
            }
        }
    rc = 0;
out:
    am_tokenizer_free(t);
    am_gguf_close(g);
    am_gguf_writer_free(w);
    unlink(path);
    free(path);
    return rc;
}

/* Settles v->pre: the family's own, else the first known pre-tokenizer whose
 * GGUF tokenizer encodes every probe as the folder does (llama.cpp tells them
 * apart by a hash of the probe's ids; equal ids are the same test). */
static int choose_pre(am_synth_vocab *v, const am_tokenizer *hf, int32_t hf_eos, am_err *err) {
    static const char *const CANDIDATES[] = {"llama-bpe", "qwen2", "smollm", "gpt-2", "deepseek-llm", "default"};
    const char *first = v->pre;
    am_err why = {0};
    int rc = probe_tokenizer(v, hf, hf_eos, &why);
    for (size_t i = 0; rc > 0 && !v->score && i < AM_ARRAY_LEN(CANDIDATES); i++) {
        if (!strcmp(CANDIDATES[i], first)) continue;
        v->pre = CANDIDATES[i];
        am_err e2 = {0};
        rc = probe_tokenizer(v, hf, hf_eos, &e2);
    }
    if (rc < 0) return am_err_setc(err, why.code ? why.code : AM_E_BAD_FILE, "tokenizer: %s", why.msg);
    if (rc > 0)
        return am_err_setc(err, AM_E_BAD_FILE,
                           "tokenizer: no GGUF pre-tokenizer reproduces the folder's (with \"%s\": %s)", first, why.msg);
    return 0;
}

/* ---- weights ---- */

typedef struct conv_job {
    const am_tensor *src;
    am_type dst_type;
    int64_t row0, nrows;
    size_t dst_row_bytes;
    uint8_t *out;
    int perm_head_dim; /* > 0: llama Q/K row permutation within heads of this size */
    int nth, ith;
} conv_job;

/* llama.cpp's permute(): within each head, rows [2][hd/2] become [hd/2][2],
 * so that interleaved (NORM) rope on the GGUF rows equals NeoX rope on the
 * HF rows. Destination row r takes source row h*hd + (r%2)*(hd/2) + (r%hd)/2. */
static int64_t src_row(const conv_job *j, int64_t r) {
    int64_t hd = j->perm_head_dim;
    if (hd <= 0) return r;
    int64_t h = r / hd, rem = r % hd;
    return h * hd + (rem % 2) * (hd / 2) + rem / 2;
}

static void conv_rows(const conv_job *j) {
    const am_tensor *s = j->src;
    int64_t ne0 = s->ne[0];
    size_t src_row_bytes = am_type_row_bytes(s->type, ne0);
    float *row = s->type == j->dst_type ? NULL : am_xmalloc_aligned((size_t)ne0 * sizeof(float));
    for (int64_t r = j->ith; r < j->nrows; r += j->nth) {
        const uint8_t *src = (const uint8_t *)s->data + (size_t)src_row(j, j->row0 + r) * src_row_bytes;
        uint8_t *dst = j->out + (size_t)r * j->dst_row_bytes;
        if (!row) {
            memcpy(dst, src, src_row_bytes); /* same type: exact */
        } else {
            am_dequant_row(s->type, src, row, ne0);
            am_quantize_row(j->dst_type, row, dst, ne0);
        }
    }
    am_aligned_free(row);
}

static void *conv_thread(void *arg) {
    conv_rows(arg);
    return NULL;
}

static void conv_parallel(const conv_job *j0, int n_threads) {
    int nth = (int)AM_MIN((int64_t)AM_MIN(n_threads, MAX_THREADS), j0->nrows);
    if (nth < 1) nth = 1;
    conv_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    bool started[MAX_THREADS] = {0};
    for (int i = 0; i < nth; i++) {
        jobs[i] = *j0;
        jobs[i].nth = nth;
        jobs[i].ith = i;
    }
    for (int i = 1; i < nth; i++) started[i] = pthread_create(&tid[i], NULL, conv_thread, &jobs[i]) == 0;
    conv_rows(&jobs[0]);
    for (int i = 1; i < nth; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        else conv_rows(&jobs[i]); /* a thread that did not start */
    }
}

/* The loaded weight a planned tensor comes from: a matrix (*mat) or a
 * float32 vector (*vec). */
static void source_of(const am_model *m, const am_tplan *t, const am_tensor **mat, const float **vec) {
    const am_layer *l = &m->layers[t->layer];
    const char *r = t->role;
    *mat = NULL;
    *vec = NULL;
    if (!strcmp(r, "token_embd")) *mat = m->tok_embd;
    else if (!strcmp(r, "output")) *mat = m->output;
    else if (!strcmp(r, "output_norm")) *vec = m->output_norm;
    else if (!strcmp(r, "rope_freqs")) *vec = m->hp.rope_freq_factors;
    else if (!strcmp(r, "attn_q")) *mat = l->wq;
    else if (!strcmp(r, "attn_k")) *mat = l->wk;
    else if (!strcmp(r, "attn_v")) *mat = l->wv;
    else if (!strcmp(r, "attn_output")) *mat = l->wo;
    else if (!strcmp(r, "ffn_gate")) *mat = l->ffn_gate;
    else if (!strcmp(r, "ffn_up")) *mat = l->ffn_up;
    else if (!strcmp(r, "ffn_down")) *mat = l->ffn_down;
    else if (!strcmp(r, "attn_norm")) *vec = l->attn_norm;
    else if (!strcmp(r, "ffn_norm")) *vec = l->ffn_norm;
    else if (!strcmp(r, "attn_q_bias")) *vec = l->bq;
    else if (!strcmp(r, "attn_k_bias")) *vec = l->bk;
    else if (!strcmp(r, "attn_v_bias")) *vec = l->bv;
    else if (!strcmp(r, "attn_q_norm")) *vec = l->q_norm;
    else if (!strcmp(r, "attn_k_norm")) *vec = l->k_norm;
    else if (!strcmp(r, "post_attention_norm")) *vec = l->post_attn_norm;
    else if (!strcmp(r, "post_ffw_norm")) *vec = l->post_ffn_norm;
}

static int write_vector(am_gguf_writer *w, const am_model *m, const am_tplan *t, const float *vec, am_err *err) {
    bool llama_qk = m->hp.arch == AM_ARCH_LLAMA && (!strcmp(t->role, "attn_q_bias") || !strcmp(t->role, "attn_k_bias"));
    if (!llama_qk) return am_gguf_writer_write(w, vec, (size_t)t->ne[0] * sizeof(float), err);
    /* a llama bias is permuted like its matrix's rows */
    float *p = am_xmalloc((size_t)t->ne[0] * sizeof(float));
    conv_job j = {.perm_head_dim = m->hp.head_dim};
    for (int64_t r = 0; r < t->ne[0]; r++) p[r] = vec[src_row(&j, r)];
    int rc = am_gguf_writer_write(w, p, (size_t)t->ne[0] * sizeof(float), err);
    free(p);
    return rc;
}

static int write_matrix(am_gguf_writer *w, const am_model *m, const am_tplan *t, const am_tensor *src, int n_threads,
                        size_t chunk_bytes, uint8_t *buf, am_err *err) {
    if (src->ne[0] != t->ne[0] || am_tensor_nrows(src) != t->ne[1] || !src->data)
        return am_err_setc(err, AM_E_INTERNAL, "source shape differs from the plan");
    size_t row_bytes = am_type_row_bytes(t->type, t->ne[0]);
    bool perm = m->hp.arch == AM_ARCH_LLAMA && (!strcmp(t->role, "attn_q") || !strcmp(t->role, "attn_k"));
    int64_t rows_per_chunk = (int64_t)AM_MAX((size_t)1, chunk_bytes / row_bytes);
    for (int64_t r0 = 0; r0 < t->ne[1]; r0 += rows_per_chunk) {
        conv_job j = {.src = src, .dst_type = t->type, .row0 = r0, .nrows = AM_MIN(rows_per_chunk, t->ne[1] - r0),
                      .dst_row_bytes = row_bytes, .out = buf, .perm_head_dim = perm ? m->hp.head_dim : 0};
        conv_parallel(&j, n_threads);
        if (am_gguf_writer_write(w, buf, (size_t)j.nrows * row_bytes, err)) return -1;
    }
    return 0;
}

/* ---- the whole file ---- */

int am_convert(const char *hf_dir, const char *out_path, const am_convert_params *p, am_err *err) {
    if (!am_dir_exists(hf_dir))
        return am_err_setc(err, AM_E_NOT_FOUND, "%s: not a folder (a Hugging Face model folder is expected)", hf_dir);
    double t0 = am_time_now();
    int rc = -1;
    am_tokenizer *tok = NULL;
    am_synth_vocab *v = NULL;
    am_gguf_writer *w = NULL;
    am_gguf_plan pl = {0};
    uint8_t *buf = NULL;
    char *name = NULL;
    am_model *m = am_model_load(hf_dir, err);
    if (!m) {
        if (err && err->code == AM_E_INVALID) err->code = AM_E_BAD_FILE;
        return -1;
    }
    if (m->is_gguf || !m->hf_dir) {
        am_err_setc(err, AM_E_BAD_FILE, "%s is already a GGUF model", hf_dir);
        goto out;
    }
    if (check_expressible(m, err)) goto out;
    if (!(tok = am_tokenizer_load(hf_dir, err))) {
        if (err && err->code == AM_E_INVALID) err->code = AM_E_BAD_FILE;
        am_err_prefix(err, "tokenizer");
        goto out;
    }
    if (!(v = am_convert_vocab(hf_dir, m->hp.arch, m->hp.n_vocab, tok, m->hp.eos_id, err))) goto out;
    if (choose_pre(v, tok, m->hp.eos_id, err)) goto out;

    name = model_name(hf_dir);
    am_synth_shape s = shape_of(m, name);
    am_gguf_plan_make(&pl, &s, p->ftype, m->hp.n_vocab, m->hp.rope_freq_factors != NULL);
    w = am_gguf_writer_create();
    am_gguf_write_hparams(w, &s, p->ftype, m->hp.n_vocab, pl.n_params, m->hp.rope_scale);
    am_synth_vocab_write(v, w);
    if (m->chat_template) am_gguf_writer_set_str(w, "tokenizer.chat_template", m->chat_template);
    for (int i = 0; i < pl.n; i++)
        if (am_gguf_writer_add_tensor(w, pl.t[i].name, pl.t[i].type, pl.t[i].n_dims, pl.t[i].ne, err)) goto out;
    if (p->progress)
        am_log_info("convert: %s (%s), %llu parameters, %.1f MiB -> %s", hf_dir, s.arch,
                    (unsigned long long)pl.n_params, (double)am_gguf_writer_file_size(w) / (1 << 20), out_path);
    if (am_gguf_writer_begin(w, out_path, err)) goto out;
    int n_threads = p->n_threads > 0 ? p->n_threads : am_n_cores();
    size_t max_row = 0;
    for (int i = 0; i < pl.n; i++) max_row = AM_MAX(max_row, am_type_row_bytes(pl.t[i].type, pl.t[i].ne[0]));
    size_t chunk = p->chunk_bytes > 0 ? p->chunk_bytes : CHUNK_BYTES;
    buf = am_xmalloc_aligned(AM_MAX(chunk, max_row));
    double last = t0;
    for (int i = 0; i < pl.n; i++) {
        const am_tplan *t = &pl.t[i];
        const am_tensor *mat;
        const float *vec;
        source_of(m, t, &mat, &vec);
        int r = mat ? write_matrix(w, m, t, mat, n_threads, chunk, buf, err)
                : vec ? write_vector(w, m, t, vec, err)
                      : am_err_setc(err, AM_E_INTERNAL, "no source tensor");
        if (r) {
            am_err_prefix(err, "%s", t->name);
            goto out;
        }
        if (p->progress && am_time_now() - last > 5.0) {
            last = am_time_now();
            am_log_info("convert: %d/%d tensors, %.0f s", i + 1, pl.n, last - t0);
        }
    }
    if (am_gguf_writer_finish(w, err)) goto out;
    if (p->progress) am_log_info("convert: wrote %s in %.1f s", out_path, am_time_now() - t0);
    rc = 0;
out:
    am_aligned_free(buf);
    am_gguf_writer_free(w);
    am_gguf_plan_free(&pl);
    am_synth_vocab_free(v);
    am_tokenizer_free(tok);
    am_model_free(m);
    free(name);
    return rc;
}
