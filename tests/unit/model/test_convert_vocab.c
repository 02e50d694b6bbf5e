/* test_convert_vocab.c — the converter's SentencePiece reader
 * (convert_vocab.c) against an independent reference, llama.cpp's own GGUF
 * of the gemma3-tiny fixture (its tokens, scores and types, read by the GGUF
 * reader), and against hostile tokenizer.model files: every truncation and
 * a sample of byte flips must give NULL with a message or a whole
 * vocabulary, never a crash or a sanitizer report. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/file.h"
#include "model/convert_impl.h"
#include "model/gguf.h"
#include "test_util.h"

static char tmpdir[256];

/* Bugs: piece types or scores read from the wrong field, the score read as
 * a varint, padding at the wrong ids, add_dummy_prefix ignored. */
static void test_spm_matches_llamacpp(void) {
    char *dir = am_test_fixture("models/gemma3-tiny");
    char *gpath = am_test_fixture("models/gemma3-tiny/gemma3-tiny-f16.gguf");
    am_err err = {0};
    am_tokenizer *hf = am_tokenizer_load(dir, &err);
    am_gguf *g = am_gguf_open(gpath, &err);
    CHECKF(hf && g, "%s", err.msg);
    if (!hf || !g) goto out;
    am_synth_vocab *v = am_convert_vocab(dir, AM_ARCH_GEMMA3, 700, hf, 1, &err);
    CHECKF(v != NULL, "%s", err.msg);
    if (!v) goto out;
    am_gguf_vtype et;
    uint64_t n = 0;
    CHECK(am_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) && n == (uint64_t)v->n);
    const uint8_t *scores = am_gguf_arr_data(g, "tokenizer.ggml.scores");
    const uint8_t *types = am_gguf_arr_data(g, "tokenizer.ggml.token_type");
    int bad_tok = 0, bad_score = 0, bad_type = 0, user = 0;
    for (uint64_t i = 0; i < n && scores && types; i++) {
        am_str s = am_gguf_arr_str(g, "tokenizer.ggml.tokens", i);
        bad_tok += (size_t)s.n != strlen(v->tok[i]) || memcmp(s.p, v->tok[i], (size_t)s.n);
        float sc;
        int32_t ty;
        memcpy(&sc, scores + 4 * i, 4);
        memcpy(&ty, types + 4 * i, 4);
        bad_score += sc != v->score[i];
        /* llama.cpp demotes user-defined pieces to normal; the converter keeps them */
        if (ty == AM_TOK_NORMAL && v->type[i] == AM_TOK_USER_DEFINED) user++;
        else bad_type += ty != v->type[i];
    }
    CHECKF(bad_tok == 0 && bad_score == 0 && bad_type == 0, "tokens %d, scores %d, types %d differ", bad_tok,
           bad_score, bad_type);
    CHECKF(user <= 8, "%d user-defined pieces", user);
    bool asp = true;
    CHECK(am_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &asp) && asp == (v->add_space_prefix == 1));
    uint32_t id;
    CHECK(am_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &id) && (int32_t)id == v->bos);
    CHECK(am_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &id) && (int32_t)id == v->eos);
    CHECK(am_gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &id) && (int32_t)id == v->unk);
    CHECK(am_gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &id) && (int32_t)id == v->pad);
    am_synth_vocab_free(v);
out:
    am_gguf_close(g);
    am_tokenizer_free(hf);
    free(dir);
    free(gpath);
}

/* Bugs: a length or varint read past the buffer, a piece count unbounded,
 * an unterminated string kept. (The folder tokenizer is the intact one: this
 * reaches the converter's reader even where am_tokenizer_load would refuse.) */
static void test_spm_hostile(void) {
    char *dir = am_test_fixture("models/gemma3-tiny");
    char *model = am_path_join(dir, "tokenizer.model");
    size_t size = 0;
    uint8_t *data = am_test_read_file(model, &size);
    am_err err = {0};
    am_tokenizer *hf = am_tokenizer_load(dir, &err);
    CHECKF(hf != NULL, "%s", err.msg);
    char *path = am_path_join(tmpdir, "tokenizer.model");
    int refused = 0, whole = 0, bad = 0;
    am_test_rng_seed(7);
    /* every cut in the first 64 bytes, every 37th after; then 300 byte flips */
    for (size_t cut = 0, trial = 0; hf && trial < 300; cut += cut < 64 ? 1 : 37) {
        bool flip = cut > size;
        trial += flip;
        uint8_t *d = am_xmalloc(size);
        memcpy(d, data, size);
        size_t n = flip ? size : cut;
        if (flip) d[am_test_rand_u32() % size] ^= (uint8_t)(1u << (am_test_rand_u32() % 8));
        FILE *f = fopen(path, "wb");
        fwrite(d, 1, n, f);
        fclose(f);
        free(d);
        am_err e2 = {0};
        am_synth_vocab *v = am_convert_vocab(tmpdir, AM_ARCH_GEMMA3, 700, hf, 1, &e2);
        if (!v) {
            refused++;
            bad += e2.msg[0] == 0;
        } else {
            whole++;
            bad += v->n != 700;
            for (int64_t i = 0; i < v->n; i++) bad += v->tok[i] == NULL;
        }
        am_synth_vocab_free(v);
    }
    CHECKF(bad == 0 && refused > 0, "%d bad results (%d refused, %d whole)", bad, refused, whole);
    unlink(path);
    free(path);
    am_tokenizer_free(hf);
    free(data);
    free(model);
    free(dir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/am_convert_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    AM_TEST_RUN(test_spm_matches_llamacpp);
    AM_TEST_RUN(test_spm_hostile);
    rmdir(tmpdir);
    AM_TEST_EXIT();
}
