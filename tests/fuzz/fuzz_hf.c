/*
 * fuzz_hf.c — am_model_load on a Hugging Face folder made of two fuzzed
 * files: config.json and model.safetensors (hfconfig.c, safetensors.c and
 * model.c's HF path: name mapping, layout transposition, unaligned-data
 * copies, (1+w) norms, tied embeddings, the multimodal prefix).
 *
 * Input: u16 little-endian length L, then L bytes of config.json, then the
 * safetensors file. Both go to one temporary folder per process (removed
 * at exit). A model that loads must pass model_common.h's checks.
 */
#include <stdlib.h>
#include <unistd.h>

#include "base/file.h"
#include "fuzz/model_common.h"

static char g_dir[64];

static void put_file(const char *name, const uint8_t *p, size_t n) {
    char *path = am_path_join(g_dir, name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(n == 0 || fwrite(p, 1, n, f) == n);
    FUZZ_CHECK(fclose(f) == 0);
    free(path);
}

static void remove_dir(void) {
    const char *names[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *p = am_path_join(g_dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(g_dir);
}

AM_FUZZ_TARGET(hf) {
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/agentmem-fuzz-hf-XXXXXX");
        FUZZ_CHECK(mkdtemp(g_dir) != NULL);
        atexit(remove_dir);
    }
    if (size < 2) return 0;
    size_t L = (size_t)data[0] | (size_t)data[1] << 8;
    if (L > size - 2) L = size - 2;
    put_file("config.json", data + 2, L);
    put_file("model.safetensors", data + 2 + L, size - 2 - L);
    am_err err = {0};
    am_model *m = am_model_load(g_dir, &err);
    if (!m) {
        FUZZ_CHECK(err.msg[0] != 0);
        return 0;
    }
    FUZZ_CHECK(!m->is_gguf && m->hf_dir);
    fuzz_check_model(m);
    am_model_free(m);
    return 0;
}
