/* test_hfconfig.c — config.json in transformers 4 and 5 styles, rope scaling
 * (llama3 divisors, linear), Gemma 3 layer patterns and defaults, the
 * multimodal Gemma 3 wrapper, chat templates, and configs that must be refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/hfconfig.h"
#include "test_util.h"

static int parse(const char *json, am_hf_config *c, am_err *err) { return am_hf_config_parse(json, strlen(json), c, err); }

#define LLAMA_BASE                                                                                         \
    "\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 2048, \"num_hidden_layers\": 16, "        \
    "\"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"intermediate_size\": 8192, "               \
    "\"vocab_size\": 128256, \"rms_norm_eps\": 1e-5, \"max_position_embeddings\": 131072, "                \
    "\"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009], \"tie_word_embeddings\": true"

static void test_llama3_rope_both_styles(void) {
    /* Llama 3.2 1B: transformers 4 style ... */
    const char *t4 = "{" LLAMA_BASE ", \"rope_theta\": 500000.0, \"rope_scaling\": {\"factor\": 32.0, "
                     "\"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192, "
                     "\"rope_type\": \"llama3\"}}";
    /* ... and transformers 5 style. */
    const char *t5 = "{" LLAMA_BASE ", \"rope_parameters\": {\"rope_theta\": 500000.0, \"factor\": 32.0, "
                     "\"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192, "
                     "\"rope_type\": \"llama3\"}}";
    am_hf_config a, b;
    am_err err;
    CHECKF(!parse(t4, &a, &err), "%s", err.msg);
    CHECKF(!parse(t5, &b, &err), "%s", err.msg);
    CHECK(a.hp.arch == AM_ARCH_LLAMA && a.hp.head_dim == 64 && a.hp.n_head_kv == 8);
    CHECK(a.hp.rope_base == 500000.0f && b.hp.rope_base == 500000.0f);
    CHECK(a.hp.rope_freq_factors && b.hp.rope_freq_factors);
    CHECK(a.hp.bos_id == 128000 && a.hp.eos_id == 128001 && a.hp.tied_embeddings);
    CHECK(a.hp.rope_style == AM_ROPE_NEOX && a.hp.rope_scale == 1.0f);
    if (a.hp.rope_freq_factors && b.hp.rope_freq_factors) {
        CHECK(!memcmp(a.hp.rope_freq_factors, b.hp.rope_freq_factors, 32 * sizeof(float)));
        /* Independent recomputation of HF's _compute_llama3_parameters for a few i:
         * high-frequency dims keep factor 1, low-frequency ones get 32, the band between is smoothed. */
        for (int i = 0; i < 32; i++) {
            double inv = pow(500000.0, -2.0 * i / 64), wl = 2 * M_PI / inv;
            double expect = wl < 8192 / 4.0 ? 1 : wl > 8192 / 1.0 ? 32 : NAN;
            if (!isnan(expect)) CHECKF(a.hp.rope_freq_factors[i] == (float)expect, "factor %d = %g", i, a.hp.rope_freq_factors[i]);
            else {
                double s = (8192 / wl - 1) / (4 - 1);
                double llama_inv = (1 - s) * inv / 32 + s * inv;
                CHECKF(fabs(a.hp.rope_freq_factors[i] - inv / llama_inv) < 1e-5 * (inv / llama_inv),
                       "factor %d = %g vs %g", i, a.hp.rope_freq_factors[i], inv / llama_inv);
                CHECK(a.hp.rope_freq_factors[i] > 1 && a.hp.rope_freq_factors[i] < 32);
            }
        }
    }
    am_hf_config_free(&a);
    am_hf_config_free(&b);

    const char *lin = "{" LLAMA_BASE ", \"rope_theta\": 10000, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4}}";
    CHECKF(!parse(lin, &a, &err), "%s", err.msg);
    CHECK(a.hp.rope_scale == 4.0f && !a.hp.rope_freq_factors && a.hp.rope_base == 10000.0f);
    am_hf_config_free(&a);
}

static void test_gemma3_styles(void) {
    am_hf_config c;
    am_err err;
    /* transformers 5: rope per layer type, with linear scaling on full attention (Gemma 3 4B). */
    const char *t5 =
        "{\"architectures\": [\"Gemma3ForCausalLM\"], \"model_type\": \"gemma3_text\", \"hidden_size\": 2560, "
        "\"intermediate_size\": 10240, \"num_hidden_layers\": 34, \"num_attention_heads\": 8, \"num_key_value_heads\": 4, "
        "\"head_dim\": 256, \"vocab_size\": 262208, \"query_pre_attn_scalar\": 256, \"sliding_window\": 1024, "
        "\"final_logit_softcapping\": null, \"attn_logit_softcapping\": null, "
        "\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"linear\", \"factor\": 8.0, \"rope_theta\": 1000000.0}, "
        "\"sliding_attention\": {\"rope_type\": \"default\", \"rope_theta\": 10000.0}}}";
    CHECKF(!parse(t5, &c, &err), "%s", err.msg);
    CHECK(c.hp.arch == AM_ARCH_GEMMA3 && c.hp.act == AM_ACT_GELU_TANH);
    CHECK(c.hp.rope_base == 1e6f && c.hp.rope_base_local == 10000.0f && c.hp.rope_scale == 8.0f);
    CHECK(c.hp.sliding_window == 1024 && c.hp.tied_embeddings);
    for (int i = 0; i < 34; i++) CHECKF(c.hp.layer_swa[i] == (i % 6 != 5), "layer %d", i);
    CHECK(c.hp.query_scale == 1.0f / 16 && c.hp.embd_scale == sqrtf(2560.0f));
    CHECK(c.hp.final_logit_softcap == 0 && c.hp.attn_logit_softcap == 0);
    CHECK(c.hp.bos_id == 2 && c.hp.eos_id == 1);
    am_hf_config_free(&c);

    /* transformers 4 multimodal wrapper relying on Gemma3TextConfig defaults, pattern from sliding_window_pattern. */
    const char *mm =
        "{\"architectures\": [\"Gemma3ForConditionalGeneration\"], \"model_type\": \"gemma3\", "
        "\"eos_token_id\": [1, 106], \"text_config\": {\"hidden_size\": 5376, \"intermediate_size\": 21504, "
        "\"model_type\": \"gemma3_text\", \"num_attention_heads\": 32, \"num_hidden_layers\": 62, "
        "\"num_key_value_heads\": 16, \"head_dim\": 128, \"query_pre_attn_scalar\": 168, "
        "\"rope_scaling\": {\"factor\": 8.0, \"rope_type\": \"linear\"}, \"sliding_window\": 1024, "
        "\"sliding_window_pattern\": 6}, \"vision_config\": {}}";
    CHECKF(!parse(mm, &c, &err), "%s", err.msg);
    CHECK(c.multimodal_wrapper && c.hp.n_layer == 62 && c.hp.n_vocab == 262208 && c.hp.head_dim == 128);
    CHECK(fabsf(c.hp.query_scale - 1.0f / sqrtf(168.0f)) < 1e-7f);
    CHECK(c.hp.rope_scale == 8.0f && c.hp.rope_base == 1e6f && c.hp.rope_base_local == 10000.0f);
    CHECK(c.hp.eos_id == 1 && c.hp.bos_id == 2 && c.hp.n_ctx_train == 131072);
    CHECK(c.hp.layer_swa[0] && !c.hp.layer_swa[5] && !c.hp.layer_swa[59] && c.hp.layer_swa[61]);
    am_hf_config_free(&c);
}

static void test_sliding_variants(void) {
    am_hf_config c;
    am_err err;
    const char *mistral =
        "{\"architectures\": [\"MistralForCausalLM\"], \"hidden_size\": 4096, \"num_hidden_layers\": 32, "
        "\"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"intermediate_size\": 14336, \"vocab_size\": 32000, "
        "\"sliding_window\": 4096, \"rope_theta\": 10000.0}";
    CHECKF(!parse(mistral, &c, &err), "%s", err.msg);
    CHECK(c.hp.arch == AM_ARCH_LLAMA && c.hp.sliding_window == 4096 && c.hp.layer_swa[0] && c.hp.layer_swa[31]);
    CHECK(!c.hp.tied_embeddings && c.hp.bos_id == -1);
    am_hf_config_free(&c);
    const char *qwen =
        "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 896, \"num_hidden_layers\": 24, "
        "\"num_attention_heads\": 14, \"num_key_value_heads\": 2, \"intermediate_size\": 4864, \"vocab_size\": 151936, "
        "\"use_sliding_window\": true, \"sliding_window\": 32768, \"max_window_layers\": 21, \"rope_theta\": 1000000.0}";
    CHECKF(!parse(qwen, &c, &err), "%s", err.msg);
    CHECK(c.hp.head_dim == 64 && !c.hp.layer_swa[20] && c.hp.layer_swa[21] && c.hp.sliding_window == 32768);
    am_hf_config_free(&c);
}

static void test_refused(void) {
    const char *bad[] = {
        "",
        "[]",
        "{\"architectures\": [\"GPT2LMHeadModel\"]}",
        "{\"architectures\": []}",
        "{\"architectures\": [\"LlamaForCausalLM\"]}",
        "{" LLAMA_BASE ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}",
        "{" LLAMA_BASE ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}}",
        "{" LLAMA_BASE ", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": -1}}",
        "{" LLAMA_BASE ", \"rope_scaling\": 3}",
        "{" LLAMA_BASE ", \"rope_theta\": -5}",
        "{" LLAMA_BASE ", \"hidden_act\": \"relu\"}",
        "{" LLAMA_BASE ", \"head_dim\": 63}",
        "{" LLAMA_BASE ", \"layer_types\": [\"full_attention\"]}",
        "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 2048, \"num_hidden_layers\": 100000, "
        "\"num_attention_heads\": 32, \"intermediate_size\": 8192, \"vocab_size\": 128256}",
        "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 2048, \"num_hidden_layers\": 16, "
        "\"num_attention_heads\": 32, \"num_key_value_heads\": 5, \"intermediate_size\": 8192, \"vocab_size\": 128256}",
        "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 2048, \"num_hidden_layers\": 16, "
        "\"num_attention_heads\": 0, \"intermediate_size\": 8192, \"vocab_size\": 128256}",
        "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": \"2048\", \"num_hidden_layers\": 16, "
        "\"num_attention_heads\": 32, \"intermediate_size\": 8192, \"vocab_size\": 128256}",
        "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 1e300, \"num_hidden_layers\": 16, "
        "\"num_attention_heads\": 32, \"intermediate_size\": 8192, \"vocab_size\": 128256}",
        "{\"architectures\": [\"Gemma3ForConditionalGeneration\"]}",
        "{\"architectures\": [\"Gemma3ForCausalLM\"], \"query_pre_attn_scalar\": 0}",
        "{\"architectures\": [\"Gemma3ForCausalLM\"], \"hidden_activation\": \"relu\"}",
        "{\"architectures\": [\"Gemma3ForCausalLM\"], \"rope_parameters\": {\"sliding_attention\": {\"rope_type\": \"yarn\"}}}",
        "{\"architectures\": [\"Gemma3ForCausalLM\"], \"sliding_window\": 0}",
    };
    for (size_t i = 0; i < AM_ARRAY_LEN(bad); i++) {
        am_hf_config c;
        am_err err = {0};
        int rc = parse(bad[i], &c, &err);
        CHECKF(rc == -1 && err.msg[0], "accepted: %s", bad[i]);
        if (rc == 0) am_hf_config_free(&c);
    }
}

static void test_chat_template(void) {
    const char *one = "{\"chat_template\": \"{{ x }}\"}";
    char *t = am_hf_chat_template_parse(one, strlen(one));
    CHECK(t && !strcmp(t, "{{ x }}"));
    free(t);
    const char *list = "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": \"default\", \"template\": \"D\"}]}";
    t = am_hf_chat_template_parse(list, strlen(list));
    CHECK(t && !strcmp(t, "D"));
    free(t);
    const char *none[] = {"{}", "{\"chat_template\": 5}", "{\"chat_template\": [{\"name\": \"x\", \"template\": \"T\"}]}",
                          "{\"chat_template\": [3, {\"name\": 1}]}", "not json"};
    for (size_t i = 0; i < AM_ARRAY_LEN(none); i++) CHECK(am_hf_chat_template_parse(none[i], strlen(none[i])) == NULL);

    char *dir = am_test_fixture("models/qwen3-tiny");
    am_hf_config c;
    am_err err;
    CHECKF(!am_hf_config_read(dir, &c, &err), "%s", err.msg);
    CHECK(c.chat_template && strstr(c.chat_template, "<|im_start|>"));
    CHECK(c.hp.arch == AM_ARCH_QWEN3 && c.hp.rope_base == 1e6f);
    am_hf_config_free(&c);
    free(dir);
}

int main(void) {
    AM_TEST_RUN(test_llama3_rope_both_styles);
    AM_TEST_RUN(test_gemma3_styles);
    AM_TEST_RUN(test_sliding_variants);
    AM_TEST_RUN(test_refused);
    AM_TEST_RUN(test_chat_template);
    AM_TEST_EXIT();
}
