/*
 * fuzz_hfconfig.c — config.json (am_hf_config_parse) and
 * tokenizer_config.json (am_hf_chat_template_parse) on arbitrary bytes.
 *
 * On success every size lies in the range the loader relies on (the engine
 * sizes buffers from them), llama3 frequency divisors exist exactly when
 * announced and are positive, and rope parameters are finite and positive.
 */
#include <math.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "model/hfconfig.h"

AM_FUZZ_TARGET(hfconfig) {
    am_err err = {0};
    am_hf_config c;
    if (am_hf_config_parse((const char *)data, size, &c, &err) == 0) {
        const am_hparams *hp = &c.hp;
        FUZZ_CHECK(hp->n_layer >= 1 && hp->n_layer <= AM_MAX_LAYERS);
        FUZZ_CHECK(hp->n_embd >= 1 && hp->n_head >= 1 && hp->n_ff >= 1 && hp->n_vocab >= 1);
        FUZZ_CHECK(hp->n_head_kv >= 1 && hp->n_head % hp->n_head_kv == 0);
        FUZZ_CHECK(hp->head_dim >= 2 && hp->head_dim % 2 == 0);
        FUZZ_CHECK(hp->n_ctx_train >= 1);
        FUZZ_CHECK(isfinite(hp->norm_eps) && hp->norm_eps >= 0);
        FUZZ_CHECK(isfinite(hp->rope_base) && hp->rope_base > 0);
        FUZZ_CHECK(isfinite(hp->rope_base_local) && hp->rope_base_local > 0);
        FUZZ_CHECK(isfinite(hp->rope_scale) && hp->rope_scale > 0);
        FUZZ_CHECK(hp->sliding_window >= 0);
        FUZZ_CHECK((hp->rope_freq_factors != NULL) == (c.freq_factors != NULL));
        if (c.freq_factors) {
            FUZZ_CHECK(hp->rope_freq_factors == c.freq_factors);
            for (int i = 0; i < hp->head_dim / 2; i++)
                FUZZ_CHECK(isfinite(c.freq_factors[i]) && c.freq_factors[i] > 0); /* divisors */
        }
        FUZZ_CHECK(memchr(c.architecture, 0, sizeof c.architecture) != NULL);
        am_hf_config_free(&c);
    } else {
        FUZZ_CHECK(err.msg[0] != 0);
        FUZZ_CHECK(c.freq_factors == NULL && c.chat_template == NULL);
    }
    char *tpl = am_hf_chat_template_parse((const char *)data, size);
    if (tpl) am_fuzz_sink ^= am_fuzz_touch(tpl, strlen(tpl));
    free(tpl);
    return 0;
}
