/*
 * cmd_perplexity.c — `agentmem perplexity`: perplexity of the model over a
 * text (tokenized with the model's tokenizer) or a file of token ids, computed
 * the way llama.cpp's perplexity tool does, so quantizations can be compared
 * with numbers users know: the tokens are cut into chunks of --ctx; each chunk
 * is evaluated from an empty cache (its first token replaced by BOS when the
 * tokenizer adds one) and only its second half is scored, so every scored
 * token has at least ctx/2 tokens of context.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/commands.h"
#include "cli/engine_opts.h"
#include "text/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentmem perplexity --model PATH (--text-file F | --ids-file F) [--ctx N]\n"
            "                           [--chunks N] [--batch N] [--threads N]\n\n"
            "Perplexity over the file, llama.cpp style: chunks of N tokens, each scored on its\n"
            "second half. Prints the running estimate per chunk and the final value.\n\n"
            "  --text-file F       UTF-8 text, tokenized with the model's tokenizer ('-': stdin)\n"
            "  --ids-file F        token ids (spaces, commas or newlines; '-': stdin)\n"
            "  -c, --ctx N         tokens per chunk, 3..1048576 (default 512)\n"
            "  --chunks N          stop after N chunks (default: all)\n"
            "  --batch N           tokens per forward pass (default 512)\n"
            "%s",
            AM_RUN_OPTS_USAGE);
}

/* -log softmax(logits)[target], in double. */
static double nll(const float *logits, int nv, int target) {
    float mx = logits[0];
    for (int i = 1; i < nv; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < nv; i++) sum += exp((double)logits[i] - mx);
    return log(sum) - ((double)logits[target] - mx);
}

static int load_text(const char *model, const char *path, am_ids *ids, bool *add_bos, int32_t *bos) {
    am_err err = {0};
    am_tokenizer *tok = am_tokenizer_load(model, &err);
    if (!tok) {
        fprintf(stderr, "agentmem perplexity: tokenizer: %s\n", err.msg);
        return -1;
    }
    size_t len;
    char *text = am_read_input(path, (size_t)1 << 30, &len, &err);
    if (!text) {
        fprintf(stderr, "agentmem perplexity: %s\n", err.msg);
        am_tokenizer_free(tok);
        return -1;
    }
    am_tok_encode_params ep = am_tok_encode_default_params();
    ep.add_special = true;
    ep.parse_special = false;
    am_tokens t = {0};
    int rc = am_tokenizer_encode(tok, text, len, &ep, &t, &err);
    if (rc < 0) fprintf(stderr, "agentmem perplexity: %s\n", err.msg);
    for (size_t i = 0; i < t.n; i++) am_ids_push(ids, t.ids[i]);
    *add_bos = am_tokenizer_add_bos(tok);
    *bos = am_tokenizer_bos(tok);
    am_tokens_free(&t);
    free(text);
    am_tokenizer_free(tok);
    return rc;
}

int am_cmd_perplexity(int argc, char **argv) {
    am_run_opts o;
    am_run_opts_init(&o);
    const char *text_file = NULL, *ids_file = NULL;
    long ctx = 512, max_chunks = 0, batch = 512;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k = am_run_opts_parse(&o, argv[0], argc, argv, &i);
        if (k < 0) return 2;
        if (k > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--text-file") && i + 1 < argc) {
            text_file = argv[++i];
        } else if (!strcmp(a, "--ids-file") && i + 1 < argc) {
            ids_file = argv[++i];
        } else if (!strcmp(a, "--chunks") && i + 1 < argc) {
            if (!am_opt_int(argv[++i], 0, INT32_MAX, &max_chunks)) goto bad;
        } else if (!strcmp(a, "--batch") && i + 1 < argc) {
            if (!am_opt_int(argv[++i], 1, 65536, &batch)) goto bad;
        } else {
            fprintf(stderr, "agentmem perplexity: unknown or incomplete option '%s'\n", a);
            return 2;
        }
        continue;
    bad:
        fprintf(stderr, "agentmem perplexity: bad value '%s' for %s\n", argv[i], a);
        return 2;
    }
    /* -c/--ctx (parsed with the shared options) is the chunk size here, as in
     * llama.cpp: a chunk of N scores tokens N/2 .. N-2, none when N < 3 */
    if (o.n_ctx) ctx = o.n_ctx;
    if (ctx < 3 || ctx > (1 << 20)) {
        fprintf(stderr,
                "agentmem perplexity: --ctx %ld scores no token: it wants 3..%d (each chunk of N tokens is "
                "scored on its second half)\n",
                ctx, 1 << 20);
        return 2;
    }
    if (!o.model || !text_file == !ids_file) {
        fprintf(stderr, "agentmem perplexity: --model and one of --text-file, --ids-file are required\n");
        return 2;
    }

    am_ids ids = {0};
    bool add_bos = false;
    int32_t bos = -1;
    int rc = 1;
    am_err err = {0};
    am_model *m = NULL;
    am_engine *e = NULL;
    float *logits = NULL;
    am_batch b = {0};
    if (ids_file) {
        if (am_ids_read_file(&ids, ids_file, &err) < 0) {
            fprintf(stderr, "agentmem perplexity: %s\n", err.msg);
            goto done;
        }
    } else if (load_text(o.model, text_file, &ids, &add_bos, &bos) < 0) {
        goto done;
    }
    int n_chunks = (int)(ids.n / ctx);
    if (max_chunks > 0 && n_chunks > max_chunks) n_chunks = (int)max_chunks;
    if (n_chunks == 0) {
        fprintf(stderr, "agentmem perplexity: %d tokens, need at least --ctx %ld\n", ids.n, ctx);
        goto done;
    }
    if (batch > ctx) batch = ctx;
    if (!(m = am_run_load(&o, argv[0]))) goto done;
    int64_t no_gen = 0;
    o.n_ctx = ctx;
    if (am_run_fit_ctx(&o, argv[0], m, ctx, &no_gen) < 0) goto done;
    int nv = m->hp.n_vocab;
    for (int i = 0; i < ids.n; i++)
        if (ids.v[i] >= nv) {
            fprintf(stderr, "agentmem perplexity: %s: token id %d (number %d) is outside the model's vocabulary (0..%d)\n",
                    ids_file ? ids_file : text_file, ids.v[i], i + 1, nv - 1);
            goto done;
        }
    if (!(e = am_run_engine(&o, argv[0], m, (int)batch, ctx))) goto done;
    logits = am_xmalloc((size_t)batch * nv * sizeof(float));
    am_batch_init(&b, (int)batch);
    fprintf(stderr, "agentmem perplexity: %d tokens, %d chunks of %ld, scoring the second half of each\n", ids.n,
            n_chunks, ctx);

    double sum = 0, sum2 = 0;
    long count = 0;
    int first = (int)(ctx / 2);
    double t0 = am_time_now();
    for (int c = 0; c < n_chunks; c++) {
        const int32_t *tok = ids.v + (size_t)c * ctx;
        int seq = am_engine_seq_create(e);
        for (int i = 0; i < ctx; i += (int)batch) {
            am_batch_clear(&b);
            for (int j = i; j < ctx && j < i + batch; j++) {
                int32_t id = (j == 0 && add_bos && bos >= 0) ? bos : tok[j];
                am_batch_add(&b, id, j, seq, j >= first && j < ctx - 1);
            }
            int n = am_engine_forward(e, &b, logits, &err);
            if (n < 0) {
                fprintf(stderr, "agentmem perplexity: %s\n", err.msg);
                am_engine_seq_remove(e, seq);
                goto done;
            }
            int r = 0;
            for (int j = i; j < ctx && j < i + batch; j++)
                if (j >= first && j < ctx - 1) {
                    double v = nll(logits + (size_t)r++ * nv, nv, tok[j + 1]);
                    sum += v;
                    sum2 += v * v;
                    count++;
                }
        }
        am_engine_seq_remove(e, seq);
        double ppl = exp(sum / count);
        printf(ppl < 1e6 ? "[%d]%.4f%s" : "[%d]%.4e%s", c + 1, ppl, c + 1 < n_chunks ? "," : "\n");
        fflush(stdout);
    }
    double mean = sum / count, var = sum2 / count - mean * mean;
    double unc = count > 1 && var > 0 ? sqrt(var / (count - 1)) : 0;
    double ppl = exp(mean);
    printf(ppl < 1e6 ? "Final estimate: PPL = %.4f +/- %.5f\n" : "Final estimate: PPL = %.4e +/- %.4e\n", ppl,
           ppl * unc);
    fprintf(stderr, "agentmem perplexity: %ld tokens scored in %.2f s\n", count, am_time_now() - t0);
    rc = 0;
done:
    am_batch_free(&b);
    free(logits);
    am_engine_free(e);
    am_model_free(m);
    am_ids_free(&ids);
    return rc;
}
