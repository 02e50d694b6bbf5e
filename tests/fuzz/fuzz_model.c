/*
 * fuzz_model.c — am_model_load_gguf_memory on arbitrary bytes: the GGUF
 * reader plus everything the loader derives from it (architecture, hparams,
 * weight lookup, shape and type checks, float copies of norms and biases).
 *
 * On success the model must be what the engine assumes without checking
 * (model_common.h), with every weight inside the input.
 */
#include "fuzz/model_common.h"

AM_FUZZ_TARGET(model) {
    am_err err = {0};
    g_data = data;
    g_size = size;
    am_model *m = am_model_load_gguf_memory(data, size, "fuzz.gguf", &err);
    if (!m) {
        FUZZ_CHECK(err.msg[0] != 0);
        return 0;
    }
    FUZZ_CHECK(m->is_gguf && m->gguf);
    fuzz_check_model(m);
    am_model_free(m);
    return 0;
}
