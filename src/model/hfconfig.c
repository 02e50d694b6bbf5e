/*
 * hfconfig.c — Hugging Face config.json → am_hparams.
 *
 * Owns: the parsed hparams, the llama3 frequency divisors and the chat
 * template copy in am_hf_config.
 * Must never: accept a size it has not range-checked (every count here later
 * sizes allocations and tensor shape checks), or guess an architecture it
 * does not implement: unknown architectures and rope types are errors.
 * Defaults are those of the transformers config classes for each model type.
 */
#include "base/json.h"
#include "model/hfconfig.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

#define HF_MAX_JSON ((size_t)64 << 20)

/* ---- small JSON helpers ---- */

static bool num(json_t *o, const char *key, double *out) {
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) return false;
    *out = json_number_value(v);
    return true;
}

/* Integer key (an integral real like 64.0 is accepted). 0 = absent, 1 = ok, -1 = wrong type. */
static int int_key(json_t *o, const char *key, int64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 9e15) {
            *out = (int64_t)d;
            return 1;
        }
    }
    return -1;
}

static const char *str(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Reads a required/optional integer in [lo, hi]. */
static int get_int(json_t *o, const char *key, int64_t def, bool required, int64_t lo, int64_t hi, int *out,
                   am_err *err) {
    int64_t v = def;
    int r = int_key(o, key, &v);
    if (r < 0) return am_err_set(err, "config.json: %s must be an integer", key);
    if (r == 0 && required) return am_err_set(err, "config.json: %s is missing", key);
    if (v < lo || v > hi)
        return am_err_set(err, "config.json: %s = %lld is out of range [%lld, %lld]", key, (long long)v,
                          (long long)lo, (long long)hi);
    *out = (int)v;
    return 0;
}

/* A token id: integer, list of integers (the first is taken), or null. */
static int32_t token_id(json_t *o, const char *key, int32_t def) {
    json_t *v = json_object_get(o, key);
    if (!v) return def;
    if (json_is_array(v)) v = json_array_get(v, 0);
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= INT32_MAX)
        return (int32_t)json_integer_value(v);
    return -1;
}

/* ---- rope ---- */

void am_rope_llama3_factors(float *out, int head_dim, double base, double factor, double low_freq_factor,
                            double high_freq_factor, double original_max_pos) {
    const double low_wavelen = original_max_pos / low_freq_factor;
    const double high_wavelen = original_max_pos / high_freq_factor;
    for (int i = 0; i < head_dim / 2; i++) {
        double inv_freq = 1.0 / pow(base, (double)(2 * i) / head_dim);
        double wavelen = 2.0 * M_PI / inv_freq;
        double f;
        if (wavelen < high_wavelen) {
            f = 1.0;
        } else if (wavelen > low_wavelen) {
            f = factor;
        } else {
            double smooth = (original_max_pos / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
            f = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        out[i] = (float)f;
    }
}

/* Applies one rope parameter object (rope_scaling or rope_parameters, or a
 * per-layer-type entry) for full-attention layers. */
static int apply_rope_full(json_t *rp, am_hf_config *c, am_err *err) {
    am_hparams *hp = &c->hp;
    double d;
    if (num(rp, "rope_theta", &d)) hp->rope_base = (float)d;
    const char *type = str(rp, "rope_type");
    if (!type) type = str(rp, "type");
    if (!type || !strcmp(type, "default")) return 0;
    if (!strcmp(type, "linear")) {
        /* In float range: 1e300 would become an infinite scale, 1e-300 a zero one. */
        if (!num(rp, "factor", &d) || !(d >= FLT_MIN && d <= FLT_MAX))
            return am_err_set(err, "config.json: linear rope scaling needs a positive factor");
        hp->rope_scale = (float)d;
        return 0;
    }
    if (!strcmp(type, "llama3")) {
        double factor, lo, hi, orig;
        if (!num(rp, "factor", &factor) || !num(rp, "low_freq_factor", &lo) || !num(rp, "high_freq_factor", &hi) ||
            !num(rp, "original_max_position_embeddings", &orig))
            return am_err_set(err, "config.json: llama3 rope scaling needs factor, low_freq_factor, "
                                   "high_freq_factor, original_max_position_embeddings");
        /* Every divisor lies between 1 and factor, so a factor in float range
         * keeps them finite and positive (1e-300 made them 0, 1e300 infinite). */
        if (!(factor >= FLT_MIN && factor <= FLT_MAX) || !(lo > 0) || !(hi > lo) || !(orig > 0) || !isfinite(hi) ||
            !isfinite(orig))
            return am_err_set(err, "config.json: llama3 rope scaling parameters out of range");
        free(c->freq_factors);
        c->freq_factors = am_xmalloc((size_t)(hp->head_dim / 2) * sizeof(float));
        am_rope_llama3_factors(c->freq_factors, hp->head_dim, hp->rope_base, factor, lo, hi, orig);
        hp->rope_freq_factors = c->freq_factors;
        return 0;
    }
    return am_err_set(err, "config.json: rope type \"%.40s\" is not supported (default, linear, llama3 are)", type);
}

/* ---- architectures ---- */

typedef struct {
    const char *cls, *model_type;
    am_arch arch;
} arch_entry;

static const arch_entry ARCHS[] = {
    {"LlamaForCausalLM", "llama", AM_ARCH_LLAMA},
    {"MistralForCausalLM", "mistral", AM_ARCH_LLAMA},
    {"Qwen2ForCausalLM", "qwen2", AM_ARCH_QWEN2},
    {"Qwen3ForCausalLM", "qwen3", AM_ARCH_QWEN3},
    {"Gemma3ForCausalLM", "gemma3_text", AM_ARCH_GEMMA3},
    {"Gemma3ForConditionalGeneration", "gemma3", AM_ARCH_GEMMA3},
};

int am_hf_config_parse(const char *text, size_t n, am_hf_config *c, am_err *err) {
    memset(c, 0, sizeof *c);
    json_error_t je;
    json_t *root = am_json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!root) return am_err_set(err, "config.json: %s (line %d)", je.text, je.line);
    int rc = -1;
    am_hparams *hp = &c->hp;
    json_t *cfg = root;
    if (!json_is_object(root)) {
        am_err_set(err, "config.json: not a JSON object");
        goto done;
    }

    /* Architecture: architectures[0], else model_type. */
    const char *cls = NULL;
    json_t *archs = json_object_get(root, "architectures");
    if (json_is_array(archs) && json_is_string(json_array_get(archs, 0)))
        cls = json_string_value(json_array_get(archs, 0));
    const char *mtype = str(root, "model_type");
    const arch_entry *ae = NULL;
    for (size_t i = 0; i < AM_ARRAY_LEN(ARCHS) && !ae; i++)
        if (cls ? !strcmp(cls, ARCHS[i].cls) : (mtype && !strcmp(mtype, ARCHS[i].model_type))) ae = &ARCHS[i];
    if (!ae) {
        am_err_set(err, "config.json: architecture %.60s is not supported (llama, mistral, qwen2, qwen3, gemma3 are)",
                   cls ? cls : mtype ? mtype : "(none given)");
        goto done;
    }
    snprintf(c->architecture, sizeof c->architecture, "%s", ae->cls);
    hp->arch = ae->arch;
    if (!strcmp(ae->model_type, "gemma3")) {
        cfg = json_object_get(root, "text_config");
        if (!json_is_object(cfg)) {
            am_err_set(err, "config.json: Gemma3ForConditionalGeneration without text_config");
            goto done;
        }
        c->multimodal_wrapper = true;
    }
    const bool gemma = hp->arch == AM_ARCH_GEMMA3;

    /* Sizes (gemma3 text configs often rely on Gemma3TextConfig's defaults). */
    if (get_int(cfg, "hidden_size", 2304, !gemma, 1, 1 << 20, &hp->n_embd, err) ||
        get_int(cfg, "num_hidden_layers", 26, !gemma, 1, AM_MAX_LAYERS, &hp->n_layer, err) ||
        get_int(cfg, "num_attention_heads", 8, !gemma, 1, 4096, &hp->n_head, err) ||
        get_int(cfg, "intermediate_size", 9216, !gemma, 1, 1 << 22, &hp->n_ff, err) ||
        get_int(cfg, "vocab_size", 262208, !gemma, 1, 1 << 26, &hp->n_vocab, err))
        goto done;
    if (get_int(cfg, "num_key_value_heads", gemma ? 4 : hp->n_head, false, 1, hp->n_head, &hp->n_head_kv, err))
        goto done;
    if (hp->n_head % hp->n_head_kv) {
        am_err_set(err, "config.json: %d attention heads are not a multiple of %d KV heads", hp->n_head,
                   hp->n_head_kv);
        goto done;
    }
    int def_hd = gemma ? 256 : hp->n_embd / hp->n_head;
    if (get_int(cfg, "head_dim", def_hd, false, 2, 4096, &hp->head_dim, err)) goto done;
    if (hp->head_dim % 2) {
        am_err_set(err, "config.json: head_dim %d is odd", hp->head_dim);
        goto done;
    }
    int def_ctx = gemma ? 131072 : hp->arch == AM_ARCH_LLAMA ? 2048 : 32768;
    if (get_int(cfg, "max_position_embeddings", def_ctx, false, 1, INT32_MAX, &hp->n_ctx_train, err)) goto done;
    double d;
    hp->norm_eps = num(cfg, "rms_norm_eps", &d) ? (float)d : 1e-6f;
    if (!(hp->norm_eps >= 0) || !isfinite(hp->norm_eps)) {
        am_err_set(err, "config.json: bad rms_norm_eps");
        goto done;
    }

    /* Activation. */
    const char *act = str(cfg, gemma ? "hidden_activation" : "hidden_act");
    if (!act && gemma) act = str(cfg, "hidden_act");
    if (gemma) {
        if (act && strcmp(act, "gelu_pytorch_tanh") && strcmp(act, "gelu_new") && strcmp(act, "gelu_tanh")) {
            am_err_set(err, "config.json: activation %.40s is not supported for gemma3 (gelu_pytorch_tanh is)", act);
            goto done;
        }
        hp->act = AM_ACT_GELU_TANH;
    } else {
        if (act && strcmp(act, "silu") && strcmp(act, "swish")) {
            am_err_set(err, "config.json: activation %.40s is not supported (silu is)", act);
            goto done;
        }
        hp->act = AM_ACT_SILU;
    }

    /* Rope. Base first (transformers 4: top-level rope_theta), then the
     * scaling object in either style. */
    hp->rope_style = AM_ROPE_NEOX;
    hp->rope_scale = 1.0f;
    hp->rope_base = gemma ? 1e6f : 10000.0f;
    if (num(cfg, "rope_theta", &d)) hp->rope_base = (float)d;
    hp->rope_base_local = gemma ? 10000.0f : hp->rope_base;
    if (gemma && num(cfg, "rope_local_base_freq", &d)) hp->rope_base_local = (float)d;
    json_t *rp = json_object_get(cfg, "rope_parameters");
    json_t *rs = json_object_get(cfg, "rope_scaling");
    json_t *full = NULL, *sliding = NULL;
    if (json_is_object(rp)) {
        json_t *f = json_object_get(rp, "full_attention"), *s = json_object_get(rp, "sliding_attention");
        if (json_is_object(f) || json_is_object(s)) {
            full = json_is_object(f) ? f : NULL;
            sliding = json_is_object(s) ? s : NULL;
        } else {
            full = rp;
        }
    } else if (json_is_object(rs)) {
        full = rs;
    } else if ((rp && !json_is_null(rp)) || (rs && !json_is_null(rs))) {
        am_err_set(err, "config.json: rope_parameters / rope_scaling must be an object or null");
        goto done;
    }
    if (full && apply_rope_full(full, c, err)) goto done;
    if (!gemma) hp->rope_base_local = hp->rope_base;
    if (sliding) {
        if (num(sliding, "rope_theta", &d)) hp->rope_base_local = (float)d;
        const char *t = str(sliding, "rope_type");
        if (t && strcmp(t, "default")) {
            am_err_set(err, "config.json: rope type %.40s on sliding layers is not supported", t);
            goto done;
        }
    }
    if (!(hp->rope_base > 0) || !isfinite(hp->rope_base) || !(hp->rope_base_local > 0) ||
        !isfinite(hp->rope_base_local)) {
        am_err_set(err, "config.json: rope theta must be positive");
        goto done;
    }

    /* Which layers use a sliding window. */
    json_t *lt = json_object_get(cfg, "layer_types");
    bool any_swa = false;
    if (json_is_array(lt)) {
        if ((int)json_array_size(lt) != hp->n_layer) {
            am_err_set(err, "config.json: layer_types has %zu entries for %d layers", json_array_size(lt),
                       hp->n_layer);
            goto done;
        }
        for (int i = 0; i < hp->n_layer; i++) {
            const char *s = json_string_value(json_array_get(lt, (size_t)i));
            if (s && !strcmp(s, "sliding_attention")) hp->layer_swa[i] = true;
            else if (!s || strcmp(s, "full_attention")) {
                am_err_set(err, "config.json: layer_types[%d] is not full_attention or sliding_attention", i);
                goto done;
            }
        }
    } else if (gemma) {
        int pat = 6;
        if (get_int(cfg, "sliding_window_pattern", 6, false, 1, 1 << 16, &pat, err)) goto done;
        for (int i = 0; i < hp->n_layer; i++) hp->layer_swa[i] = (i + 1) % pat != 0;
    } else if (!strcmp(ae->model_type, "mistral")) {
        int64_t w;
        if (int_key(cfg, "sliding_window", &w) == 1)
            for (int i = 0; i < hp->n_layer; i++) hp->layer_swa[i] = true;
    } else if (hp->arch == AM_ARCH_QWEN2 || hp->arch == AM_ARCH_QWEN3) {
        json_t *u = json_object_get(cfg, "use_sliding_window");
        int mwl = 0;
        if (json_is_true(u)) {
            if (get_int(cfg, "max_window_layers", 0, false, 0, AM_MAX_LAYERS, &mwl, err)) goto done;
            for (int i = mwl; i < hp->n_layer; i++) hp->layer_swa[i] = true;
        }
    }
    for (int i = 0; i < hp->n_layer; i++) any_swa |= hp->layer_swa[i];
    if (any_swa) {
        if (get_int(cfg, "sliding_window", gemma ? 4096 : 0, !gemma, 1, INT32_MAX, &hp->sliding_window, err))
            goto done;
    }

    /* Attention scale, embeddings, soft-capping. */
    if (gemma) {
        double q = 256;
        if (num(cfg, "query_pre_attn_scalar", &d)) q = d;
        if (!(q > 0) || !isfinite(q)) {
            am_err_set(err, "config.json: query_pre_attn_scalar must be positive");
            goto done;
        }
        hp->query_scale = (float)(1.0 / sqrt(q));
        hp->embd_scale = sqrtf((float)hp->n_embd);
    } else {
        hp->query_scale = (float)(1.0 / sqrt((double)hp->head_dim));
        hp->embd_scale = 1.0f;
    }
    hp->final_logit_softcap = num(cfg, "final_logit_softcapping", &d) && d > 0 ? (float)d : 0.0f;
    hp->attn_logit_softcap = num(cfg, "attn_logit_softcapping", &d) && d > 0 ? (float)d : 0.0f;

    json_t *tie = json_object_get(cfg, "tie_word_embeddings");
    if (!tie && cfg != root) tie = json_object_get(root, "tie_word_embeddings");
    hp->tied_embeddings = json_is_boolean(tie) ? json_is_true(tie) : gemma;

    hp->bos_id = token_id(cfg, "bos_token_id", cfg != root ? token_id(root, "bos_token_id", gemma ? 2 : -1)
                                                          : (gemma ? 2 : -1));
    hp->eos_id = token_id(cfg, "eos_token_id", cfg != root ? token_id(root, "eos_token_id", gemma ? 1 : -1)
                                                          : (gemma ? 1 : -1));
    rc = 0;
done:
    json_decref(root);
    if (rc) am_hf_config_free(c);
    return rc;
}

char *am_hf_chat_template_parse(const char *text, size_t n) {
    json_t *root = am_json_loadb(text, n, 0, NULL);
    if (!root) return NULL;
    char *out = NULL;
    json_t *t = json_object_get(root, "chat_template");
    if (json_is_string(t)) {
        out = am_xstrndup(json_string_value(t), json_string_length(t));
    } else if (json_is_array(t)) {
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) {
            const char *name = str(e, "name");
            json_t *tpl = json_object_get(e, "template");
            if (name && !strcmp(name, "default") && json_is_string(tpl)) {
                out = am_xstrndup(json_string_value(tpl), json_string_length(tpl));
                break;
            }
        }
    }
    json_decref(root);
    return out;
}

int am_hf_config_read(const char *dir, am_hf_config *out, am_err *err) {
    char *path = am_path_join(dir, "config.json");
    size_t n;
    char *text = am_file_read_all(path, HF_MAX_JSON, &n, err);
    free(path);
    if (!text) return -1;
    int rc = am_hf_config_parse(text, n, out, err);
    free(text);
    if (rc) return -1;
    /* Newer checkpoints keep the template in chat_template.jinja; older ones
     * in tokenizer_config.json. */
    path = am_path_join(dir, "chat_template.jinja");
    if (am_file_exists(path)) out->chat_template = am_file_read_all(path, HF_MAX_JSON, NULL, NULL);
    free(path);
    if (!out->chat_template) {
        path = am_path_join(dir, "tokenizer_config.json");
        if (am_file_exists(path)) {
            text = am_file_read_all(path, HF_MAX_JSON, &n, NULL);
            if (text) out->chat_template = am_hf_chat_template_parse(text, n);
            free(text);
        }
        free(path);
    }
    return 0;
}

void am_hf_config_free(am_hf_config *c) {
    free(c->freq_factors);
    free(c->chat_template);
    c->freq_factors = NULL;
    c->chat_template = NULL;
    c->hp.rope_freq_factors = NULL;
}
