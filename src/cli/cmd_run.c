/*
 * cmd_run.c — `agentmem run`: generate a continuation of token ids, of a text
 * prompt, or of a one-message chat rendered with the model's chat template.
 * Ids in, ids out (one line); text in, text out (streamed as it decodes).
 * The model comes as a bundle (weights, tokenizer, template, end-of-generation
 * set), loaded as the server loads it. The generated text is the only thing
 * on stdout; why generation stopped and the speeds go to stderr.
 */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "cli/commands.h"
#include "cli/engine_opts.h"
#include "engine/sample.h"

#define MAX_PROMPT_BYTES ((size_t)256 << 20)

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentmem run --model PATH (--ids \"ID ...\" | -p TEXT | -f FILE | --chat TEXT [--system TEXT])\n"
            "                    [-n N] [-c N] [sampling options] [--ignore-eos] [--special] [--threads N]\n\n"
            "Generates a continuation: of token ids (prints the new ids on one line), of a text\n"
            "prompt (-p or -f, prints the new text), or of a chat turn (--chat: the user message\n"
            "is rendered with the model's chat template, as apply_chat_template does).\n"
            "Greedy unless --temp > 0. Stopping at an end-of-generation token prints\n"
            "[end of text] on stderr; the speed line goes to stderr, unless stderr is\n"
            "where stdout goes (2>&1 into a file or pipe): then only with --perf.\n\n"
            "  --ids \"...\"         prompt token ids (spaces or commas)\n"
            "  -p, --prompt TEXT   prompt text ('-': read it from stdin); the tokenizer adds\n"
            "                      BOS if the model does\n"
            "  -f, --file FILE     prompt text from FILE ('-': stdin); also --text-file\n"
            "  --chat TEXT         a user message; --system TEXT adds a system message\n"
            "  -n N                tokens to generate (default 32; -1: until the context is full)\n"
            "  --temp T            temperature, 0..100; 0 is greedy (default 0)\n"
            "  --top-k K           keep the K most likely tokens (0 = off)\n"
            "  --top-p P           nucleus, 0..1: smallest set with probability >= P (1 = off)\n"
            "  --min-p M           0..1: drop tokens below M x the top probability (0 = off)\n"
            "  --repeat-penalty R  llama.cpp repetition penalty, 0.01..100 (1 = off)\n"
            "  --repeat-last-n N   tokens the penalties look back on (default 64)\n"
            "  --presence-penalty P\n"
            "                      -2..2: subtract P from every seen token's logit\n"
            "  --frequency-penalty F\n"
            "                      -2..2: subtract F x its count\n"
            "  -s, --seed S        random seed (default 0); same seed, same output\n"
            "  --ignore-eos        do not stop at end-of-generation tokens\n"
            "  --special           print special tokens (e.g. <|eot_id|>) in the text\n"
            "  --perf              print the speed line even when stderr joins stdout\n"
            "%s%s",
            AM_RUN_CTX_USAGE, AM_RUN_OPTS_USAGE);
}

typedef struct run_args {
    am_run_opts o;
    am_ids ids;
    bool have_ids;
    const char *prompt, *prompt_file, *chat, *system;
    long n_gen;
    bool ignore_eos, special, perf;
    am_sampler_params sp;
} run_args;

/* A float option's range, said in the message when a value is refused. */
typedef struct {
    const char *name;
    float lo, hi;
    size_t off; /* offsetof in am_sampler_params */
} float_opt;

static const float_opt FLOAT_OPTS[] = {
    {"--temp", 0, 100, offsetof(am_sampler_params, temp)},
    {"--top-p", 0, 1, offsetof(am_sampler_params, top_p)},
    {"--min-p", 0, 1, offsetof(am_sampler_params, min_p)},
    {"--repeat-penalty", 0.01f, 100, offsetof(am_sampler_params, repeat_penalty)},
    {"--presence-penalty", -2, 2, offsetof(am_sampler_params, presence_penalty)},
    {"--frequency-penalty", -2, 2, offsetof(am_sampler_params, frequency_penalty)},
};

/* Parses sampling and generation options; 1 consumed, 0 not ours, -1 bad. */
static int parse_gen(run_args *r, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    for (size_t k = 0; k < sizeof FLOAT_OPTS / sizeof FLOAT_OPTS[0]; k++) {
        const float_opt *fo = &FLOAT_OPTS[k];
        if (strcmp(a, fo->name)) continue;
        if (*i + 1 >= argc) return 0;
        if (!am_opt_float_in(argv[*i + 1], fo->lo, fo->hi, (float *)((char *)&r->sp + fo->off))) {
            fprintf(stderr, "agentmem run: %s wants a number in %g..%g, not '%s'\n", a, fo->lo, fo->hi,
                    argv[*i + 1]);
            return -1;
        }
        ++*i;
        return 1;
    }
    if (*i + 1 >= argc) return 0;
    const char *v = argv[*i + 1];
    long l;
    const char *range = NULL;
    if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
        if (!am_opt_int(v, -1, 1 << 24, &r->n_gen)) range = "-1 (until the context is full) or 0..16777216";
    } else if (!strcmp(a, "--top-k")) {
        if (am_opt_int(v, 0, INT32_MAX, &l)) r->sp.top_k = (int)l;
        else range = "0..2147483647 (0 = off)";
    } else if (!strcmp(a, "--repeat-last-n")) {
        if (am_opt_int(v, 0, 1 << 20, &l)) r->sp.penalty_last_n = (int)l;
        else range = "0..1048576";
    } else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (*v && !*end && *v != '-' && !errno) r->sp.seed = s;
        else range = "0..18446744073709551615";
    } else {
        return 0;
    }
    if (range) {
        fprintf(stderr, "agentmem run: %s wants %s, not '%s'\n", a, range, v);
        return -1;
    }
    ++*i;
    return 1;
}

/* The prompt as token ids: given ids, or text / chat through the bundle. */
static int build_prompt(run_args *r, const am_bundle *b) {
    if (r->have_ids) return 0;
    am_err err = {0};
    am_tokens t = {0};
    int rc = -1;
    char *text = NULL;
    size_t len = 0;
    bool add_special = true;
    if (r->prompt_file) {
        if (!(text = am_read_input(r->prompt_file, MAX_PROMPT_BYTES, &len, &err))) goto fail;
    } else if (r->prompt) {
        text = am_xstrdup(r->prompt);
        len = strlen(text);
    } else {
        json_t *msgs = json_array();
        if (r->system)
            json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", r->system));
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", r->chat));
        text = am_bundle_render_chat(b, msgs, NULL, NULL, &len, &err);
        json_decref(msgs);
        if (!text) {
            am_err_prefix(&err, "chat template");
            goto fail;
        }
        add_special = false; /* the template writes BOS itself */
    }
    if (am_bundle_tokenize(b, text, len, add_special, &t, &err) < 0) goto fail;
    for (size_t i = 0; i < t.n; i++) am_ids_push(&r->ids, t.ids[i]);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "agentmem run: %s\n", err.msg);
done:
    am_tokens_free(&t);
    free(text);
    return rc;
}

/* stderr writes into the same file or pipe as stdout (2>&1 > out): the
 * speed line would end up in the output, so it is left out. */
static bool stderr_joins_stdout(void) {
    struct stat o, e;
    if (isatty(STDERR_FILENO) || fstat(STDOUT_FILENO, &o) != 0 || fstat(STDERR_FILENO, &e) != 0) return false;
    return o.st_dev == e.st_dev && o.st_ino == e.st_ino;
}

/* False (message printed) once stdout has refused output. */
static bool out_ok(void) {
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return true;
    fprintf(stderr, "agentmem run: writing the output: %s\n", errno ? strerror(errno) : "write error");
    return false;
}

static int generate(run_args *r, am_engine *e, const am_bundle *bd) {
    int nv = bd->model->hp.n_vocab, max_batch = am_engine_max_batch(e), rc = 1;
    am_err err = {0};
    float *logits = am_xmalloc((size_t)nv * sizeof(float));
    am_sampler *smp = am_sampler_create(&r->sp, nv);
    am_tok_decode_params dp = am_tok_decode_default_params();
    dp.strip_leading = false; /* a continuation keeps its leading space */
    dp.skip_special = !r->special;
    am_detok *dt = r->have_ids ? NULL : am_detok_create(bd->tok, &dp);
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
    bool eog = false;
    for (; n_out < r->n_gen; n_out++) {
        int32_t id = am_sampler_sample(smp, logits);
        if (!r->ignore_eos && am_bundle_is_eog(bd, id)) {
            eog = true;
            break;
        }
        am_sampler_accept(smp, id);
        if (dt) {
            const char *chunk;
            size_t n;
            if (am_detok_push(dt, id, &chunk, &n, &err) < 0) goto fail;
            fwrite(chunk, 1, n, stdout);
        } else {
            printf(n_out ? " %d" : "%d", id);
        }
        if (!out_ok()) goto done;
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
    if (!out_ok()) goto done;
    double t2 = am_time_now();
    if (eog) fprintf(stderr, "[end of text]\n");
    if (r->perf || !stderr_joins_stdout())
        fprintf(stderr,
                "agentmem run: prompt %d tokens in %.3f s (%.1f tok/s), generated %d tokens in %.3f s (%.1f tok/s)\n",
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

/* Runs the parsed job: load, prompt, fit the context, generate. */
static int run_job(run_args *r) {
    am_err err = {0};
    am_log_debug("run: loading %s", r->o.model);
    am_bundle *b = am_bundle_load(r->o.model, &err);
    if (!b) {
        fprintf(stderr, "agentmem run: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    am_engine *e = NULL;
    int nv = b->model->hp.n_vocab;
    int64_t n_gen = r->n_gen;
    if (build_prompt(r, b) < 0) goto out;
    if (r->ids.n == 0) {
        fprintf(stderr, "agentmem run: the prompt is empty\n");
        goto out;
    }
    for (int i = 0; i < r->ids.n; i++)
        if (r->ids.v[i] >= nv) {
            fprintf(stderr, "agentmem run: --ids: token id %d (number %d) is outside the model's vocabulary (0..%d)\n",
                    r->ids.v[i], i + 1, nv - 1);
            goto out;
        }
    if (am_run_fit_ctx(&r->o, "run", b->model, r->ids.n, &n_gen) < 0) goto out;
    r->n_gen = (long)n_gen;
    if ((e = am_run_engine(&r->o, "run", b->model, 512, (int64_t)r->ids.n + r->n_gen + 1)))
        rc = generate(r, e, b);
out:
    am_engine_free(e);
    am_bundle_unref(b);
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
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--ids") && has_val) {
            if (am_ids_parse(&r.ids, argv[++i], &err) < 0) {
                fprintf(stderr, "agentmem run: --ids: %s\n", err.msg);
                goto out;
            }
            r.have_ids = true;
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has_val) {
            if (!strcmp(argv[++i], "-")) r.prompt_file = "-";
            else r.prompt = argv[i];
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file") || !strcmp(a, "--text-file")) && has_val) {
            r.prompt_file = argv[++i];
        } else if (!strcmp(a, "--chat") && has_val) {
            r.chat = argv[++i];
        } else if (!strcmp(a, "--system") && has_val) {
            r.system = argv[++i];
        } else if (!strcmp(a, "--ignore-eos")) {
            r.ignore_eos = true;
        } else if (!strcmp(a, "--special")) {
            r.special = true;
        } else if (!strcmp(a, "--perf")) {
            r.perf = true;
        } else {
            fprintf(stderr, "agentmem run: unknown or incomplete option '%s'\n", a);
            goto out;
        }
    }
    if (!r.o.model || (r.have_ids + !!r.prompt + !!r.prompt_file + !!r.chat) != 1) {
        fprintf(stderr, "agentmem run: --model and exactly one of --ids, -p, -f, --chat are required\n");
        goto out;
    }
    if (r.system && !r.chat) {
        fprintf(stderr, "agentmem run: --system goes with --chat\n");
        goto out;
    }
    rc = run_job(&r);
out:
    am_ids_free(&r.ids);
    return rc;
}
