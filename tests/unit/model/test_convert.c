/* test_convert.c — am_convert's row streaming: the file is the same whatever
 * the chunk size (down to a few rows, so every tensor crosses chunk seams
 * with odd counts of rows per thread) and thread count; and, against a
 * naive reference written here (llama.cpp's permute as index arithmetic over
 * the safetensors bytes), every llama Q/K row of a bf16 conversion is its
 * source row bit for bit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/file.h"
#include "model/convert.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "test_util.h"

static char tmpdir[256];

static bool same_file(const char *a, const char *b) {
    size_t na, nb;
    void *x = am_test_read_file(a, &na), *y = am_test_read_file(b, &nb);
    bool same = na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* Bugs: a chunk's rows read from the tensor's start (row0 ignored), rows of
 * the last partial chunk dropped, a thread's stride skipping rows. */
static void test_chunks_and_threads(void) {
    const char *models[] = {"models/llama3-tiny", "models/gemma3-tiny"};
    for (size_t k = 0; k < AM_ARRAY_LEN(models); k++) {
        char *dir = am_test_fixture(models[k]);
        char *a = am_path_join(tmpdir, "a.gguf"), *b = am_path_join(tmpdir, "b.gguf");
        am_convert_params p = am_convert_default_params();
        p.ftype = AM_SYNTH_Q8_0;
        p.n_threads = 1;
        am_err err = {0};
        CHECKF(am_convert(dir, a, &p, &err) == 0, "%s", err.msg);
        p.n_threads = 3;
        p.chunk_bytes = 5 * 272 + 7; /* 5 rows of 256 q8_0 weights, or fewer of longer rows */
        CHECKF(am_convert(dir, b, &p, &err) == 0, "%s", err.msg);
        CHECKF(same_file(a, b), "%s: chunked, 3-thread file differs", models[k]);
        unlink(a);
        unlink(b);
        free(a);
        free(b);
        free(dir);
    }
}

/* Bugs: Q/K not permuted, permuted with n_head for K (GQA), or the halves
 * interleaved the other way. */
static void test_llama_permutation(void) {
    char *dir = am_test_fixture("models/llama3-tiny");
    char *out = am_path_join(tmpdir, "p.gguf");
    am_convert_params p = am_convert_default_params();
    p.ftype = AM_SYNTH_BF16;
    p.chunk_bytes = 3000;
    am_err err = {0};
    CHECKF(am_convert(dir, out, &p, &err) == 0, "%s", err.msg);
    am_st *st = am_st_open_dir(dir, &err);
    am_gguf *g = am_gguf_open(out, &err);
    CHECKF(st && g, "%s", err.msg);
    const int hd = 64, E = 256;
    for (int layer = 0; st && g && layer < 3; layer++)
        for (int qk = 0; qk < 2; qk++) {
            char hn[96], gn[96];
            snprintf(hn, sizeof hn, "model.layers.%d.self_attn.%s_proj.weight", layer, qk ? "k" : "q");
            snprintf(gn, sizeof gn, "blk.%d.attn_%s.weight", layer, qk ? "k" : "q");
            const am_st_tensor *s = am_st_find(st, hn);
            const am_tensor *t = am_gguf_find_tensor(g, gn);
            CHECK(s && t && t->type == AM_TYPE_BF16);
            if (!s || !t) continue;
            int rows = (int)s->shape[0], n_head = rows / hd, bad = 0;
            /* torch: w.reshape(n_head, 2, hd/2, E).swapaxes(1, 2).reshape(rows, E) */
            for (int h = 0; h < n_head; h++)
                for (int i = 0; i < hd / 2; i++)
                    for (int j = 0; j < 2; j++) {
                        int dst = h * hd + i * 2 + j, src = h * hd + j * (hd / 2) + i;
                        bad += memcmp((const uint8_t *)t->data + (size_t)dst * E * 2,
                                      (const uint8_t *)s->data + (size_t)src * E * 2, (size_t)E * 2) != 0;
                    }
            CHECKF(bad == 0, "%s: %d rows not where permute() puts them", gn, bad);
        }
    am_gguf_close(g);
    am_st_close(st);
    unlink(out);
    free(out);
    free(dir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/am_convert_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    AM_TEST_RUN(test_chunks_and_threads);
    AM_TEST_RUN(test_llama_permutation);
    rmdir(tmpdir);
    AM_TEST_EXIT();
}
