/*
 * cmd_run.c — `agentmem run`: generate a continuation of token ids, of a text
 * prompt, or of a one-message chat rendered with the model's chat template.
 * Ids in, ids out (one line); text in, text out (streamed as it decodes).
 * Speeds go to stderr. Stops at end-of-generation tokens unless --ignore-eos.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/engine_opts.h"
#include "engine/sample.h"
#include "text/template.h"
#include "text/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentmem run --model PATH (--ids \"ID ...\" | -p TEXT | --chat TEXT [--system TEXT])\n"
            "                    [-n N] [sampling options] [--ignore-eos] [--threads N]\n\n"
            "Generates a continuation: of token ids (prints the new ids on one line), of a text\n"
            "prompt (-p, prints the new text), or of a chat turn (--chat: the user message is\n"
            "rendered with the model's chat template, as apply_chat_template does).\n"
            "Greedy unless --temp > 0.\n\n"
            "  --ids \"...\"              prompt token ids (spaces or commas)\n"
            "  -p, --prompt TEXT        prompt text (the tokenizer adds BOS if the model does)\n"
            "  --chat TEXT              a user message; --system TEXT adds a system message\n"
            "  -n N                     tokens to generate (default 32)\n"
            "  --temp T                 temperature; <= 0 is greedy (default 0)\n"
            "  --top-k K                keep the K most likely tokens (0 = off)\n"
            "  --top-p P                nucleus: smallest set with probability >= P (1 = off)\n"
            "  --min-p M                drop tokens below M x the top probability (0 = off)\n"
            "  --repeat-penalty R       llama.cpp repetition penalty (1 = off)\n"
            "  --repeat-last-n N        tokens the penalties look back on (default 64)\n"
            "  --presence-penalty P     subtract P from every seen token's logit\n"
            "  --frequency-penalty F    subtract F x its count\n"
            "  --seed S                 random seed (default 0); same seed, same output\n"
            "  --ignore-eos             do not stop at end-of-generation tokens\n"
            "%s",
            AM_RUN_OPTS_USAGE);
}

typedef struct run_args {
    am_run_opts o;
    am_ids ids;
    bool have_ids;
    const char *prompt, *chat, *system;
    long n_gen;
    bool ignore_eos;
    am_sampler_params sp;
} run_args;

/* Parses sampling and generation options; 1 consumed, 0 not ours, -1 bad. */
static int parse_gen(run_args *r, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (*i + 1 >= argc) return 0;
    const char *v = argv[*i + 1];
    long l;
    float f;
    bool ok = true;
    if (!strcmp(a, "-n") || !strcmp(a, "--n-predict"))
        ok = am_opt_int(v, 0, 1 << 24, &r->n_gen);
    else if (!strcmp(a, "--temp"))
        ok = am_opt_float(v, &r->sp.temp);
    else if (!strcmp(a, "--top-k"))
        ok = am_opt_int(v, 0, INT32_MAX, &l) && (r->sp.top_k = (int)l, true);
    else if (!strcmp(a, "--top-p"))
        ok = am_opt_float(v, &f) && f >= 0 && f <= 1 && (r->sp.top_p = f, true);
    else if (!strcmp(a, "--min-p"))
        ok = am_opt_float(v, &f) && f >= 0 && f <= 1 && (r->sp.min_p = f, true);
    else if (!strcmp(a, "--repeat-penalty"))
        ok = am_opt_float(v, &f) && f > 0 && (r->sp.repeat_penalty = f, true);
    else if (!strcmp(a, "--repeat-last-n"))
        ok = am_opt_int(v, 0, 1 << 20, &l) && (r->sp.penalty_last_n = (int)l, true);
    else if (!strcmp(a, "--presence-penalty"))
        ok = am_opt_float(v, &r->sp.presence_penalty);
    else if (!strcmp(a, "--frequency-penalty"))
        ok = am_opt_float(v, &r->sp.frequency_penalty);
    else if (!strcmp(a, "--seed")) {
        char *end;
        unsigned long long s = strtoull(v, &end, 10);
        ok = *v && !*end && *v != '-';
        r->sp.seed = s;
    } else
        return 0;
    if (!ok) {
        fprintf(stderr, "agentmem run: bad value '%s' for %s\n", v, a);
        return -1;
    }
    ++*i;
    return 1;
}

/* The prompt as token ids: given ids, or text / chat through the tokenizer. */
static int build_prompt(run_args *r, const am_model *m, am_tokenizer **tok_out) {
    if (r->have_ids) return 0;
    am_err err = {0};
    am_tokenizer *tok = am_tokenizer_load(r->o.model, &err);
    if (!tok) {
        fprintf(stderr, "agentmem run: tokenizer: %s\n", err.msg);
        return -1;
    }
    *tok_out = tok;
    am_tok_encode_params ep = am_tok_encode_default_params();
    am_tokens t = {0};
    int rc = -1;
    char *text = NULL, *tmpl = NULL, *bos = NULL, *eos = NULL;
    size_t len;
    if (r->prompt) {
        ep.add_special = true;
        text = am_xstrdup(r->prompt);
        len = strlen(text);
    } else {
        tmpl = m->is_gguf ? am_template_text_from_gguf(r->o.model, NULL, false, &bos, &eos, &err)
                          : am_template_text_from_hf_dir(r->o.model, NULL, false, &bos, &eos, &err);
        if (!tmpl) {
            fprintf(stderr, "agentmem run: chat template: %s\n", err.msg);
            goto done;
        }
        am_template *tp = am_template_parse(tmpl, strlen(tmpl), NULL, &err);
        if (!tp) {
            fprintf(stderr, "agentmem run: chat template: %s\n", err.msg);
            goto done;
        }
        json_t *msgs = json_array();
        if (r->system)
            json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", r->system));
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", r->chat));
        am_chat_inputs in = {.messages = msgs, .add_generation_prompt = true, .bos_token = bos, .eos_token = eos};
        text = am_template_render_chat(tp, &in, NULL, &len, &err);
        json_decref(msgs);
        am_template_free(tp);
        if (!text) {
            fprintf(stderr, "agentmem run: chat template: %s\n", err.msg);
            goto done;
        }
    }
    if (am_tokenizer_encode(tok, text, len, &ep, &t, &err) < 0) {
        fprintf(stderr, "agentmem run: %s\n", err.msg);
        goto done;
    }
    for (size_t i = 0; i < t.n; i++) am_ids_push(&r->ids, t.ids[i]);
    rc = 0;
done:
    am_tokens_free(&t);
    free(text);
    free(tmpl);
    free(bos);
    free(eos);
    return rc;
}

static bool is_eog(const am_model *m, const am_tokenizer *tok, int32_t id) {
    if (tok) return am_tokenizer_is_eog(tok, id);
    return m->hp.eos_id >= 0 && id == m->hp.eos_id;
}

static int generate(run_args *r, am_engine *e, const am_model *m, am_tokenizer *tok) {
    int nv = m->hp.n_vocab, max_batch = am_engine_max_batch(e), rc = 1;
    am_err err = {0};
    float *logits = am_xmalloc((size_t)nv * sizeof(float));
    am_sampler *smp = am_sampler_create(&r->sp, nv);
    am_tok_decode_params dp = am_tok_decode_default_params();
    dp.strip_leading = false; /* a continuation keeps its leading space */
    am_detok *dt = tok ? am_detok_create(tok, &dp) : NULL;
    am_batch b;
    am_batch_init(&b, max_batch);
    int seq = am_engine_seq_create(e);

    double t0 = am_time_now();
    for (int i = 0; i < r->ids.n; i += max_batch) {
        am_batch_clear(&b);
        for (int j = i; j < r->ids.n && j < i + max_batch; j++)
            am_batch_add(&b, r->ids.v[j], j, seq, j == r->ids.n - 1);
        if (am_engine_forward(e, &b, logits, &err) < 0) goto fail;
    }
    for (int i = 0; i < r->ids.n; i++) am_sampler_accept(smp, r->ids.v[i]);
    double t1 = am_time_now();
    int n_out = 0;
    for (; n_out < r->n_gen; n_out++) {
        int32_t id = am_sampler_sample(smp, logits);
        if (!r->ignore_eos && is_eog(m, tok, id)) break;
        am_sampler_accept(smp, id);
        if (dt) {
            const char *chunk;
            size_t n;
            if (am_detok_push(dt, id, &chunk, &n, &err) < 0) goto fail;
            fwrite(chunk, 1, n, stdout);
        } else {
            printf(n_out ? " %d" : "%d", id);
        }
        fflush(stdout);
        if (n_out + 1 == r->n_gen) {
            n_out++;
            break;
        }
        am_batch_clear(&b);
        am_batch_add(&b, id, r->ids.n + n_out, seq, true);
        if (am_engine_forward(e, &b, logits, &err) < 0) goto fail;
    }
    if (dt) {
        const char *chunk;
        size_t n;
        am_detok_flush(dt, &chunk, &n);
        fwrite(chunk, 1, n, stdout);
    }
    printf("\n");
    double t2 = am_time_now();
    fprintf(stderr, "agentmem run: prompt %d tokens in %.3f s (%.1f tok/s), generated %d tokens in %.3f s (%.1f tok/s)\n",
            r->ids.n, t1 - t0, r->ids.n / (t1 - t0 > 0 ? t1 - t0 : 1e-9), n_out, t2 - t1,
            n_out / (t2 - t1 > 0 ? t2 - t1 : 1e-9));
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "agentmem run: %s\n", err.msg);
done:
    am_batch_free(&b);
    am_detok_free(dt);
    am_sampler_free(smp);
    free(logits);
    return rc;
}

int am_cmd_run(int argc, char **argv) {
    run_args r = {0};
    am_run_opts_init(&r.o);
    r.n_gen = 32;
    r.sp = am_sampler_default_params();
    am_err err = {0};
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k = am_run_opts_parse(&r.o, argv[0], argc, argv, &i);
        if (k == 0) k = parse_gen(&r, argc, argv, &i);
        if (k < 0) goto out;
        if (k > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--ids") && i + 1 < argc) {
            if (am_ids_parse(&r.ids, argv[++i], &err) < 0) {
                fprintf(stderr, "agentmem run: %s\n", err.msg);
                goto out;
            }
            r.have_ids = true;
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && i + 1 < argc) {
            r.prompt = argv[++i];
        } else if (!strcmp(a, "--chat") && i + 1 < argc) {
            r.chat = argv[++i];
        } else if (!strcmp(a, "--system") && i + 1 < argc) {
            r.system = argv[++i];
        } else if (!strcmp(a, "--ignore-eos")) {
            r.ignore_eos = true;
        } else {
            fprintf(stderr, "agentmem run: unknown or incomplete option '%s'\n", a);
            goto out;
        }
    }
    if (!r.o.model || (r.have_ids + !!r.prompt + !!r.chat) != 1) {
        fprintf(stderr, "agentmem run: --model and exactly one of --ids, -p, --chat are required\n");
        goto out;
    }
    if (r.system && !r.chat) {
        fprintf(stderr, "agentmem run: --system goes with --chat\n");
        goto out;
    }

    rc = 1;
    am_tokenizer *tok = NULL;
    am_engine *e = NULL;
    am_model *m = am_run_load(&r.o, argv[0]);
    if (m && build_prompt(&r, m, &tok) == 0) {
        if (r.ids.n == 0)
            fprintf(stderr, "agentmem run: the prompt is empty\n");
        else if ((int64_t)r.ids.n + r.n_gen > INT32_MAX / 2)
            fprintf(stderr, "agentmem run: prompt and generation too long\n");
        else if ((e = am_run_engine(&r.o, argv[0], m, 512, (int64_t)r.ids.n + r.n_gen)))
            rc = generate(&r, e, m, tok);
    }
    am_tokenizer_free(tok);
    am_engine_free(e);
    am_model_free(m);
out:
    am_ids_free(&r.ids);
    return rc;
}
