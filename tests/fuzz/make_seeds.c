/*
 * make_seeds.c — writes the small seed inputs of tests/fuzz/corpus/ that are
 * binary (GGUF files for the gguf and model targets, safetensors files).
 * `make fuzz-seeds` runs it; its output is committed, so this only needs to
 * run again when the seeds should change. Every seed is a few KB: the
 * fuzzers mutate small inputs far faster than the MB-sized fixtures.
 *
 * Usage: make_seeds CORPUS_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/file.h"
#include "model/gguf.h"
#include "model/gguf_write.h"

static const char *g_root;

static void die(const char *what, const am_err *err) {
    fprintf(stderr, "make_seeds: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static char *seed_path(const char *target, const char *name) {
    char *dir = am_path_join(g_root, target);
    char *p = am_path_join(dir, name);
    free(dir);
    return p;
}

/* Writes every tensor's data: f32 1.0, f16/bf16 1.0, quantized blocks with a
 * small scale (block bytes are otherwise zero). */
static void write_data(am_gguf_writer *w, const am_type *types, int n) {
    am_err err;
    for (int i = 0; i < n; i++) {
        int64_t nb = am_gguf_writer_tensor_bytes(w, i);
        uint8_t *b = calloc(1, (size_t)nb);
        if (types[i] == AM_TYPE_F32) {
            for (int64_t j = 0; j < nb / 4; j++) ((float *)b)[j] = 1.0f;
        } else if (types[i] == AM_TYPE_F16 || types[i] == AM_TYPE_BF16) {
            uint16_t one = types[i] == AM_TYPE_F16 ? 0x3c00 : 0x3f80;
            for (int64_t j = 0; j < nb / 2; j++) memcpy(b + 2 * j, &one, 2);
        } else {
            for (int64_t j = 0; j < nb; j += 7) b[j] = (uint8_t)(j * 31 + 1);
        }
        if (am_gguf_writer_write(w, b, (size_t)nb, &err)) die("write", &err);
        free(b);
    }
}

static void add(am_gguf_writer *w, const char *name, am_type t, int nd, int64_t a, int64_t b, am_type *types, int *n) {
    am_err err;
    int64_t ne[2] = {a, b};
    if (am_gguf_writer_add_tensor(w, name, t, nd, ne, &err)) die(name, &err);
    types[(*n)++] = t;
}

static void finish(am_gguf_writer *w, const char *target, const char *name, const am_type *types, int n) {
    am_err err;
    char *p = seed_path(target, name);
    if (am_gguf_writer_begin(w, p, &err)) die(p, &err);
    write_data(w, types, n);
    if (am_gguf_writer_finish(w, &err)) die(p, &err);
    am_gguf_writer_free(w);
    free(p);
}

/* gguf: every metadata type and one small tensor of every supported type. */
static void gguf_all_types(void) {
    am_gguf_writer *w = am_gguf_writer_create();
    am_gguf_writer_set_u8(w, "k.u8", 200);
    am_gguf_writer_set_i8(w, "k.i8", -5);
    am_gguf_writer_set_u16(w, "k.u16", 60000);
    am_gguf_writer_set_i16(w, "k.i16", -300);
    am_gguf_writer_set_u32(w, "k.u32", 4000000000u);
    am_gguf_writer_set_i32(w, "k.i32", -7);
    am_gguf_writer_set_u64(w, "k.u64", UINT64_MAX);
    am_gguf_writer_set_i64(w, "k.i64", INT64_MIN);
    am_gguf_writer_set_f32(w, "k.f32", 1.5f);
    am_gguf_writer_set_f64(w, "k.f64", 2.25);
    am_gguf_writer_set_bool(w, "k.bool", true);
    am_gguf_writer_set_str(w, "general.architecture", "llama");
    int32_t i32[3] = {1, -2, 3};
    am_gguf_writer_set_arr(w, "k.arr_i32", AM_GGUF_I32, i32, 3);
    float f32[2] = {0.5f, -1.0f};
    am_gguf_writer_set_arr(w, "k.arr_f32", AM_GGUF_F32, f32, 2);
    uint8_t u8[2] = {1, 0};
    am_gguf_writer_set_arr(w, "k.arr_bool", AM_GGUF_BOOL, u8, 2);
    am_gguf_writer_set_arr(w, "k.arr_empty", AM_GGUF_U64, NULL, 0);
    const char *strs[3] = {"a", "", "ccc"};
    am_gguf_writer_set_arr_str(w, "k.arr_str", strs, NULL, 3);
    am_type types[16];
    int n = 0;
    add(w, "t.f32", AM_TYPE_F32, 1, 4, 1, types, &n);
    add(w, "t.f16", AM_TYPE_F16, 2, 4, 2, types, &n);
    add(w, "t.bf16", AM_TYPE_BF16, 1, 4, 1, types, &n);
    add(w, "t.q8_0", AM_TYPE_Q8_0, 2, 32, 2, types, &n);
    add(w, "t.q4_0", AM_TYPE_Q4_0, 1, 32, 1, types, &n);
    add(w, "t.q4_k", AM_TYPE_Q4_K, 1, 256, 1, types, &n);
    add(w, "t.q5_k", AM_TYPE_Q5_K, 1, 256, 1, types, &n);
    add(w, "t.q6_k", AM_TYPE_Q6_K, 1, 256, 1, types, &n);
    finish(w, "gguf", "seed-all-types.gguf", types, n);
}

/* Copies a seed to another target's corpus, as GGUF version `version` (v2
 * and v3 share the layout) when version is nonzero. */
static void gguf_copy(const char *from_target, const char *from, const char *to_target, const char *to,
                      uint32_t version) {
    char *src = seed_path(from_target, from), *dst = seed_path(to_target, to);
    size_t n;
    am_err err;
    char *b = am_file_read_all(src, 1 << 20, &n, &err);
    if (!b) die(src, &err);
    if (version) memcpy(b + 4, &version, 4);
    FILE *f = fopen(dst, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f)) die(dst, NULL);
    free(b);
    free(src);
    free(dst);
}

/* model: a one-layer model of each architecture, E=32 (so q8_0/q4_0 rows
 * work), 2 heads of 16, 1 KV head, n_ff 32, 8 tokens. */
typedef struct {
    const char *arch, *file;
    am_type mat, embd;
    bool bias, qk_norm, gemma, tied, rope_freqs;
} model_seed;

static void gguf_model(const model_seed *s) {
    enum { E = 32, H = 2, HKV = 1, HD = 16, F = 32, V = 8 };
    am_gguf_writer *w = am_gguf_writer_create();
    char k[96];
#define KEY(x) (snprintf(k, sizeof k, "%s.%s", s->arch, x), k)
    am_gguf_writer_set_str(w, "general.architecture", s->arch);
    am_gguf_writer_set_str(w, "general.name", "fuzz seed");
    am_gguf_writer_set_u32(w, KEY("block_count"), 1);
    am_gguf_writer_set_u32(w, KEY("context_length"), 128);
    am_gguf_writer_set_u32(w, KEY("embedding_length"), E);
    am_gguf_writer_set_u32(w, KEY("feed_forward_length"), F);
    am_gguf_writer_set_u32(w, KEY("attention.head_count"), H);
    am_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), HKV);
    am_gguf_writer_set_u32(w, KEY("attention.key_length"), HD);
    am_gguf_writer_set_u32(w, KEY("attention.value_length"), HD);
    am_gguf_writer_set_u32(w, KEY("rope.dimension_count"), HD);
    am_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-6f);
    am_gguf_writer_set_f32(w, KEY("rope.freq_base"), 10000.0f);
    if (s->gemma) {
        am_gguf_writer_set_u32(w, KEY("attention.sliding_window"), 8);
        am_gguf_writer_set_str(w, KEY("rope.scaling.type"), "linear");
        am_gguf_writer_set_f32(w, KEY("rope.scaling.factor"), 8.0f);
        am_gguf_writer_set_f32(w, KEY("final_logit_softcapping"), 30.0f);
    }
    am_gguf_writer_set_str(w, "tokenizer.ggml.model", s->gemma ? "llama" : "gpt2");
    const char *toks[V] = {"<s>", "</s>", "a", "b", "\xc4\xa0" "a", "ab", "<0x0A>", "\xe2\x96\x81"};
    am_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, V);
    float scores[V] = {0, 0, -1, -2, -3, -4, -5, -6};
    am_gguf_writer_set_arr(w, "tokenizer.ggml.scores", AM_GGUF_F32, scores, V);
    int32_t tt[V] = {3, 3, 1, 1, 1, 1, 6, 1};
    am_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", AM_GGUF_I32, tt, V);
    if (!s->gemma) {
        const char *merges[2] = {"a b", "\xc4\xa0 a"};
        am_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 2);
    }
    am_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 0);
    am_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 1);
    am_gguf_writer_set_str(w, "tokenizer.chat_template",
                           "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}");
    am_type types[32];
    int n = 0;
    add(w, "token_embd.weight", s->embd, 2, E, V, types, &n);
    add(w, "output_norm.weight", AM_TYPE_F32, 1, E, 1, types, &n);
    if (!s->tied) add(w, "output.weight", s->mat, 2, E, V, types, &n);
    if (s->rope_freqs) add(w, "rope_freqs.weight", AM_TYPE_F32, 1, HD / 2, 1, types, &n);
    add(w, "blk.0.attn_norm.weight", AM_TYPE_F32, 1, E, 1, types, &n);
    add(w, "blk.0.attn_q.weight", s->mat, 2, E, H * HD, types, &n);
    add(w, "blk.0.attn_k.weight", s->mat, 2, E, HKV * HD, types, &n);
    add(w, "blk.0.attn_v.weight", s->mat, 2, E, HKV * HD, types, &n);
    add(w, "blk.0.attn_output.weight", s->mat, 2, H * HD, E, types, &n);
    if (s->bias) {
        add(w, "blk.0.attn_q.bias", AM_TYPE_F32, 1, H * HD, 1, types, &n);
        add(w, "blk.0.attn_k.bias", AM_TYPE_F32, 1, HKV * HD, 1, types, &n);
        add(w, "blk.0.attn_v.bias", AM_TYPE_F32, 1, HKV * HD, 1, types, &n);
    }
    if (s->qk_norm) {
        add(w, "blk.0.attn_q_norm.weight", AM_TYPE_F32, 1, HD, 1, types, &n);
        add(w, "blk.0.attn_k_norm.weight", AM_TYPE_F32, 1, HD, 1, types, &n);
    }
    if (s->gemma) {
        add(w, "blk.0.post_attention_norm.weight", AM_TYPE_F32, 1, E, 1, types, &n);
        add(w, "blk.0.post_ffw_norm.weight", AM_TYPE_F32, 1, E, 1, types, &n);
    }
    add(w, "blk.0.ffn_norm.weight", AM_TYPE_F32, 1, E, 1, types, &n);
    add(w, "blk.0.ffn_gate.weight", s->mat, 2, E, F, types, &n);
    add(w, "blk.0.ffn_up.weight", s->mat, 2, E, F, types, &n);
    add(w, "blk.0.ffn_down.weight", s->mat, 2, F, E, types, &n);
#undef KEY
    finish(w, "model", s->file, types, n);
}

/* tok_gguf: a fixture's metadata (its real vocabulary, merges, scores,
 * special ids and template) without its tensors. */
static void gguf_metadata_only(const char *fixture, const char *name) {
    am_err err;
    am_gguf *g = am_gguf_open(fixture, &err);
    if (!g) die(fixture, &err);
    am_gguf_writer *w = am_gguf_writer_create();
    for (int64_t i = 0; i < am_gguf_n_kv(g); i++) {
        am_str ks = am_gguf_key(g, i);
        char *k = am_xstrndup(ks.p, (size_t)ks.n);
        am_gguf_vtype t = am_gguf_kv_type(g, i), et;
        int64_t iv;
        float fv;
        bool bv;
        am_str sv;
        uint64_t n;
        if (!strcmp(k, "general.alignment")) {
            /* the writer owns it */
        } else if (t == AM_GGUF_STRING && am_gguf_get_str(g, k, &sv)) {
            am_gguf_writer_set_strn(w, k, sv.p, (size_t)sv.n);
        } else if ((t == AM_GGUF_F32 || t == AM_GGUF_F64) && am_gguf_get_f32(g, k, &fv)) {
            am_gguf_writer_set_f32(w, k, fv);
        } else if (t == AM_GGUF_BOOL && am_gguf_get_bool(g, k, &bv)) {
            am_gguf_writer_set_bool(w, k, bv);
        } else if (t == AM_GGUF_ARRAY && am_gguf_get_arr(g, k, &et, &n)) {
            if (et == AM_GGUF_STRING) {
                const char **strs = am_xmalloc((size_t)AM_MAX(n, 1) * sizeof *strs);
                size_t *lens = am_xmalloc((size_t)AM_MAX(n, 1) * sizeof *lens);
                for (uint64_t j = 0; j < n; j++) {
                    am_str e = am_gguf_arr_str(g, k, j);
                    strs[j] = e.p;
                    lens[j] = (size_t)e.n;
                }
                am_gguf_writer_set_arr_str(w, k, strs, lens, n);
                free(strs);
                free(lens);
            } else if (et != AM_GGUF_ARRAY) {
                am_gguf_writer_set_arr(w, k, et, am_gguf_arr_data(g, k), n);
            }
        } else if (am_gguf_get_i64(g, k, &iv)) {
            if (t == AM_GGUF_U32) am_gguf_writer_set_u32(w, k, (uint32_t)iv);
            else if (t == AM_GGUF_I32) am_gguf_writer_set_i32(w, k, (int32_t)iv);
            else am_gguf_writer_set_i64(w, k, iv);
        }
        free(k);
    }
    char *p = seed_path("tok_gguf", name);
    if (am_gguf_writer_begin(w, p, &err) || am_gguf_writer_finish(w, &err)) die(p, &err);
    am_gguf_writer_free(w);
    am_gguf_close(g);
    free(p);
}

static void put(FILE *f, const void *p, size_t n) {
    if (fwrite(p, 1, n, f) != n) die("fwrite", NULL);
}

/* safetensors: u64 header length, JSON header padded with spaces to 8, data. */
static void safetensors_seed(const char *name, const char *json, size_t data_bytes) {
    char *p = seed_path("safetensors", name);
    FILE *f = fopen(p, "wb");
    if (!f) die(p, NULL);
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    uint64_t hlen = padded;
    put(f, &hlen, 8);
    put(f, json, n);
    for (size_t i = n; i < padded; i++) put(f, " ", 1);
    for (size_t i = 0; i < data_bytes; i++) put(f, &(uint8_t){(uint8_t)(i * 37)}, 1);
    if (fclose(f)) die(p, NULL);
    free(p);
}

/* hf: u16 config length, config.json, model.safetensors of a one-layer
 * model with E=8, 2 heads of 4, 1 KV head, n_ff 8, 4 tokens. */
typedef struct {
    const char *name, *dtype;
    int64_t d0, d1; /* d1 = 0: a vector */
} st_tensor;

static void hf_seed(const char *file, const char *config, const char *prefix, const st_tensor *ts, int n,
                    bool pad_header) {
    char header[8192];
    size_t hn = 0;
    uint64_t off = 0;
    hn += (size_t)snprintf(header + hn, sizeof header - hn, "{");
    for (int i = 0; i < n; i++) {
        uint64_t es = !strcmp(ts[i].dtype, "F32") ? 4 : 2;
        uint64_t nb = (uint64_t)ts[i].d0 * (uint64_t)(ts[i].d1 ? ts[i].d1 : 1) * es;
        char shape[48];
        if (ts[i].d1) snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)ts[i].d0, (long long)ts[i].d1);
        else snprintf(shape, sizeof shape, "[%lld]", (long long)ts[i].d0);
        hn += (size_t)snprintf(header + hn, sizeof header - hn,
                               "%s\"%s%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%llu,%llu]}",
                               i ? "," : "", ts[i].name[0] == '!' ? "" : prefix,
                               ts[i].name + (ts[i].name[0] == '!'), ts[i].dtype, shape, (unsigned long long)off,
                               (unsigned long long)(off + nb));
        off += nb;
    }
    hn += (size_t)snprintf(header + hn, sizeof header - hn, "}");
    while (pad_header && hn % 8) header[hn++] = ' ';
    char *p = seed_path("hf", file);
    FILE *f = fopen(p, "wb");
    if (!f) die(p, NULL);
    uint16_t cl = (uint16_t)strlen(config);
    put(f, &cl, 2);
    put(f, config, cl);
    uint64_t hlen = hn;
    put(f, &hlen, 8);
    put(f, header, hn);
    for (int i = 0; i < n; i++) {
        uint64_t cnt = (uint64_t)ts[i].d0 * (uint64_t)(ts[i].d1 ? ts[i].d1 : 1);
        for (uint64_t j = 0; j < cnt; j++) {
            if (!strcmp(ts[i].dtype, "F32")) put(f, &(float){1.0f}, 4);
            else put(f, !strcmp(ts[i].dtype, "BF16") ? &(uint16_t){0x3f80} : &(uint16_t){0x3c00}, 2);
        }
    }
    if (fclose(f)) die(p, NULL);
    free(p);
}

static void hf_seeds(void) {
    const char *dt = "BF16";
#define L0 "layers.0."
    st_tensor llama[] = {
        {"embed_tokens.weight", dt, 4, 8}, {"norm.weight", dt, 8, 0},
        {L0 "input_layernorm.weight", dt, 8, 0}, {L0 "self_attn.q_proj.weight", dt, 8, 8},
        {L0 "self_attn.k_proj.weight", dt, 4, 8}, {L0 "self_attn.v_proj.weight", dt, 4, 8},
        {L0 "self_attn.o_proj.weight", dt, 8, 8}, {L0 "post_attention_layernorm.weight", dt, 8, 0},
        {L0 "mlp.gate_proj.weight", dt, 8, 8}, {L0 "mlp.up_proj.weight", dt, 8, 8},
        {L0 "mlp.down_proj.weight", dt, 8, 8},
    };
    const int nl = (int)AM_ARRAY_LEN(llama);
    st_tensor t[32];
    memcpy(t, llama, sizeof llama);
    /* llama: untied lm_head, llama3 rope scaling */
    t[nl] = (st_tensor){"!lm_head.weight", dt, 4, 8}; /* '!': no prefix */
    hf_seed("seed-llama.bin",
            "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":8,\"num_hidden_layers\":1,"
            "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"head_dim\":4,\"intermediate_size\":8,"
            "\"vocab_size\":4,\"tie_word_embeddings\":false,\"rope_theta\":500000.0,\"rope_scaling\":{\"factor\":32.0,"
            "\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,\"original_max_position_embeddings\":8192,"
            "\"rope_type\":\"llama3\"}}",
            "model.", t, nl + 1, true);
    /* qwen2: f32 biases, f16 weights, tied, header unpadded (unaligned data) */
    for (int i = 0; i < nl; i++) t[i].dtype = "F16";
    t[nl] = (st_tensor){L0 "self_attn.q_proj.bias", "F32", 8, 0};
    t[nl + 1] = (st_tensor){L0 "self_attn.k_proj.bias", "F32", 4, 0};
    t[nl + 2] = (st_tensor){L0 "self_attn.v_proj.bias", "F32", 4, 0};
    hf_seed("seed-qwen2-unaligned.bin",
            "{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":8,\"num_hidden_layers\":1,"
            "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"intermediate_size\":8,\"vocab_size\":4,"
            "\"tie_word_embeddings\":true,\"rope_theta\":1000000.0,\"use_sliding_window\":false}",
            "model.", t, nl + 3, false);
    /* qwen3: q/k norms, transformers-5 rope_parameters */
    memcpy(t, llama, sizeof llama);
    t[nl] = (st_tensor){L0 "self_attn.q_norm.weight", dt, 4, 0};
    t[nl + 1] = (st_tensor){L0 "self_attn.k_norm.weight", dt, 4, 0};
    hf_seed("seed-qwen3.bin",
            "{\"architectures\":[\"Qwen3ForCausalLM\"],\"hidden_size\":8,\"num_hidden_layers\":1,"
            "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"head_dim\":4,\"intermediate_size\":8,"
            "\"vocab_size\":4,\"tie_word_embeddings\":true,\"rope_parameters\":{\"rope_theta\":1000000.0,"
            "\"rope_type\":\"default\"}}",
            "model.", t, nl + 2, true);
    /* gemma3 wrapped (transformers-4 layout: language_model.model.*), pre/post norms */
    t[nl + 2] = (st_tensor){L0 "pre_feedforward_layernorm.weight", dt, 8, 0};
    t[nl + 3] = (st_tensor){L0 "post_feedforward_layernorm.weight", dt, 8, 0};
    hf_seed("seed-gemma3-wrapper.bin",
            "{\"architectures\":[\"Gemma3ForConditionalGeneration\"],\"text_config\":{\"model_type\":"
            "\"gemma3_text\",\"hidden_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
            "\"num_key_value_heads\":1,\"head_dim\":4,\"intermediate_size\":8,\"vocab_size\":4,"
            "\"sliding_window\":4,\"query_pre_attn_scalar\":4}}",
            "language_model.model.", t, nl + 4, true);
#undef L0
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    g_root = argv[1];
    gguf_all_types();
    gguf_copy("gguf", "seed-all-types.gguf", "gguf", "seed-all-types-v2.gguf", 2);
    static const model_seed models[] = {
        {"llama", "seed-llama-f16.gguf", AM_TYPE_F16, AM_TYPE_F16, false, false, false, false, true},
        {"qwen2", "seed-qwen2-q8_0.gguf", AM_TYPE_Q8_0, AM_TYPE_Q8_0, true, false, false, true, false},
        {"qwen3", "seed-qwen3-q4_0.gguf", AM_TYPE_Q4_0, AM_TYPE_Q8_0, false, true, false, true, false},
        {"gemma3", "seed-gemma3-bf16.gguf", AM_TYPE_BF16, AM_TYPE_F32, false, true, true, true, false},
    };
    for (size_t i = 0; i < AM_ARRAY_LEN(models); i++) gguf_model(&models[i]);
    gguf_copy("model", "seed-llama-f16.gguf", "model", "seed-llama-f16-v2.gguf", 2);
    gguf_copy("model", "seed-qwen3-q4_0.gguf", "gguf", "seed-qwen3-q4_0.gguf", 0);
    gguf_metadata_only("tests/fixtures/models/llama3-tiny/llama3-tiny-q4_0.gguf", "seed-llama3-tiny-vocab.gguf");
    gguf_metadata_only("tests/fixtures/models/gemma3-tiny/gemma3-tiny-q4_0.gguf", "seed-gemma3-tiny-vocab.gguf");
    gguf_copy("model", "seed-qwen2-q8_0.gguf", "tok_gguf", "seed-qwen2-tiny-model.gguf", 0);
    hf_seeds();
    safetensors_seed("seed-types.safetensors",
                     "{\"__metadata__\":{\"format\":\"pt\"},"
                     "\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                     "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]},"
                     "\"c\":{\"dtype\":\"F16\",\"shape\":[1,1,1],\"data_offsets\":[22,24]},"
                     "\"d\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[24,32]},"
                     "\"e\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[32,32]},"
                     "\"f\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,1],\"data_offsets\":[32,34]}}",
                     34);
    safetensors_seed("seed-hf-names.safetensors",
                     "{\"model.embed_tokens.weight\":{\"dtype\":\"BF16\",\"shape\":[4,2],\"data_offsets\":[0,16]},"
                     "\"model.layers.0.self_attn.q_proj.weight\":{\"dtype\":\"F16\",\"shape\":[2,2],"
                     "\"data_offsets\":[16,24]},"
                     "\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[24,56]}}",
                     56);
    safetensors_seed("seed-empty.safetensors", "{}", 0);
    return 0;
}
