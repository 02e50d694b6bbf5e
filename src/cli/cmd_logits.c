/*
 * cmd_logits.c — `agentmem logits`: runs token ids through the model at
 * positions N, N+1, ... and writes every position's logits as float32
 * little-endian [position][vocab], the layout of the reference fixtures, so
 * the engine can be compared with any other implementation. --compare does
 * that comparison itself (relative error per position and top-1 agreement).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"

#include "cli/commands.h"
#include "cli/engine_opts.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentmem logits --model PATH (--ids \"ID ID ...\" | --ids-file F)\n"
            "                       (--out FILE | --compare REF [--max-rel X]) [--start-pos N]\n"
            "                       [--chunk N] [-c N] [--threads N] [--kv f16|f32] [--f32-buffers]\n\n"
            "Runs the token ids through the model (one sequence, positions N, N+1, ...) and\n"
            "writes every position's logits to FILE as float32 little-endian [position][vocab].\n\n"
            "  --ids \"...\"         token ids separated by spaces or commas\n"
            "  --ids-file F        the same, read from a file\n"
            "  --out FILE          where the logits go ('-' for stdout)\n"
            "  --start-pos N       position of the first id (default 0)\n"
            "  --chunk N           tokens per forward pass (default 512)\n"
            "  --compare REF       compare with REF (same layout; if it has fewer rows, they are\n"
            "                      the last positions): prints the worst relative error\n"
            "                      |out-ref|/|ref| over positions and the top-1 agreement\n"
            "  --max-rel X         with --compare: exit 1 if the worst error exceeds X\n"
            "%s%s",
            AM_RUN_CTX_USAGE, AM_RUN_OPTS_USAGE);
}

/* Comparison against a reference file whose rows are the last positions. */
typedef struct {
    float *ref;
    int nv, rows, first; /* ref rows cover positions first .. first+rows-1 */
    double worst;
    int worst_pos, top1;
} compare_state;

static int compare_open(compare_state *c, const char *path, int nv, int n) {
    size_t size, row = (size_t)nv * sizeof(float);
    am_err err = {0};
    struct stat st;
    /* the size says what is wrong before anything is read */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        uint64_t sz = (uint64_t)st.st_size;
        if (sz == 0 || sz % row) {
            fprintf(stderr,
                    "agentmem logits: %s: %llu bytes is not a whole number of rows of %d float32 logits: a "
                    "reference of a model with another vocabulary?\n",
                    path, (unsigned long long)sz, nv);
            return -1;
        }
        if (sz / row > (uint64_t)n) {
            fprintf(stderr, "agentmem logits: %s: %llu rows of logits, more than the %d positions given\n", path,
                    (unsigned long long)(sz / row), n);
            return -1;
        }
    }
    c->ref = (float *)am_file_read_all(path, (size_t)n * row, &size, &err);
    if (!c->ref) {
        fprintf(stderr, "agentmem logits: %s\n", err.msg);
        return -1;
    }
    if (size == 0 || size % row || size / row > (size_t)n) {
        fprintf(stderr, "agentmem logits: %s: %zu bytes is not 1..%d rows of %d float32 logits\n", path, size,
                n, nv);
        return -1;
    }
    c->nv = nv;
    c->rows = (int)(size / row);
    c->first = n - c->rows;
    c->worst = -1; /* the first row sets it */
    return 0;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static void compare_row(compare_state *c, int pos, const float *out) {
    if (pos < c->first) return;
    const float *ref = c->ref + (size_t)(pos - c->first) * c->nv;
    double d = 0, s = 0;
    for (int i = 0; i < c->nv; i++) {
        d += ((double)out[i] - ref[i]) * ((double)out[i] - ref[i]);
        s += (double)ref[i] * ref[i];
    }
    double rel = sqrt(d / (s > 0 ? s : 1));
    if (!(rel <= c->worst)) {
        c->worst = rel;
        c->worst_pos = pos;
    }
    c->top1 += argmax(out, c->nv) == argmax(ref, c->nv);
}

int am_cmd_logits(int argc, char **argv) {
    am_run_opts o;
    am_run_opts_init(&o);
    am_ids ids = {0};
    const char *out_path = NULL, *ref_path = NULL, *ids_file = NULL;
    float max_rel = INFINITY;
    long start = 0, chunk = 512;
    bool have_ids = false;
    am_err err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = am_run_opts_parse(&o, argv[0], argc, argv, &i);
        if (r < 0) goto usage_err;
        if (r > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            am_ids_free(&ids);
            return 0;
        } else if ((!strcmp(a, "--ids") || !strcmp(a, "--ids-file")) && i + 1 < argc) {
            if (strcmp(a, "--ids")) ids_file = argv[i + 1];
            int rc = !strcmp(a, "--ids") ? am_ids_parse(&ids, argv[++i], &err)
                                         : am_ids_read_file(&ids, argv[++i], &err);
            if (rc < 0) {
                fprintf(stderr, "agentmem logits: %s\n", err.msg);
                /* a bad --ids is a usage error; a bad or missing file is not */
                if (!strcmp(a, "--ids")) goto usage_err;
                am_ids_free(&ids);
                return 1;
            }
            have_ids = true;
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            out_path = argv[++i];
        } else if (!strcmp(a, "--compare") && i + 1 < argc) {
            ref_path = argv[++i];
        } else if (!strcmp(a, "--max-rel") && i + 1 < argc) {
            if (!am_opt_float(argv[++i], &max_rel) || max_rel < 0) {
                fprintf(stderr, "agentmem logits: bad --max-rel '%s'\n", argv[i]);
                goto usage_err;
            }
        } else if (!strcmp(a, "--start-pos") && i + 1 < argc) {
            if (!am_opt_int(argv[++i], 0, INT32_MAX / 2, &start)) {
                fprintf(stderr, "agentmem logits: bad --start-pos '%s'\n", argv[i]);
                goto usage_err;
            }
        } else if (!strcmp(a, "--chunk") && i + 1 < argc) {
            if (!am_opt_int(argv[++i], 1, 65536, &chunk)) {
                fprintf(stderr, "agentmem logits: bad --chunk '%s' (1..65536)\n", argv[i]);
                goto usage_err;
            }
        } else {
            fprintf(stderr, "agentmem logits: unknown or incomplete option '%s'\n", a);
            goto usage_err;
        }
    }
    if (!o.model || !have_ids || (!out_path && !ref_path)) {
        fprintf(stderr, "agentmem logits: --model, --ids (or --ids-file) and --out or --compare are required\n");
        goto usage_err;
    }
    if (ids.n == 0) {
        fprintf(stderr, "agentmem logits: %s%s\n", ids_file ? ids_file : "no token ids given",
                ids_file ? ": no token ids in the file" : "");
        if (ids_file) {
            am_ids_free(&ids);
            return 1;
        }
        goto usage_err;
    }
    if (start + ids.n > INT32_MAX) {
        fprintf(stderr, "agentmem logits: positions past 2^31\n");
        goto usage_err;
    }

    int rc = 1;
    if (chunk > ids.n) chunk = ids.n;
    am_model *m = am_run_load(&o, argv[0]);
    int64_t no_gen = 0;
    bool fits = m && am_run_fit_ctx(&o, argv[0], m, start + ids.n, &no_gen) >= 0;
    bool in_vocab = true;
    for (int i = 0; fits && i < ids.n; i++)
        if (ids.v[i] >= m->hp.n_vocab) {
            fprintf(stderr, "agentmem logits: token id %d (number %d) is outside the model's vocabulary (0..%d)\n",
                    ids.v[i], i + 1, m->hp.n_vocab - 1);
            in_vocab = false;
            break;
        }
    am_engine *e = fits && in_vocab ? am_run_engine(&o, argv[0], m, (int)chunk, ids.n) : NULL;
    if (!e) {
        am_model_free(m);
        am_ids_free(&ids);
        return 1;
    }
    int nv = m->hp.n_vocab;
    FILE *out = NULL;
    float *logits = am_xmalloc((size_t)chunk * nv * sizeof(float));
    am_batch b;
    am_batch_init(&b, (int)chunk);
    compare_state cmp = {0};
    if (ref_path && compare_open(&cmp, ref_path, nv, ids.n) < 0) goto done;
    if (out_path) {
        out = strcmp(out_path, "-") ? fopen(out_path, "wb") : stdout;
        if (!out) {
            fprintf(stderr, "agentmem logits: %s: %s\n", out_path, strerror(errno));
            goto done;
        }
    }
    int seq = am_engine_seq_create(e);
    for (int i = 0; i < ids.n; i += (int)chunk) {
        am_batch_clear(&b);
        for (int j = i; j < ids.n && j < i + chunk; j++)
            am_batch_add(&b, ids.v[j], (int32_t)(start + j), seq, true);
        int n = am_engine_forward(e, &b, logits, &err);
        if (n < 0) {
            fprintf(stderr, "agentmem logits: %s\n", err.msg);
            goto done;
        }
        if (ref_path)
            for (int r = 0; r < n; r++) compare_row(&cmp, i + r, logits + (size_t)r * nv);
        /* float32 little-endian: the host order on every target we build for */
        if (out && fwrite(logits, sizeof(float) * (size_t)nv, (size_t)n, out) != (size_t)n) {
            fprintf(stderr, "agentmem logits: %s: %s\n", strcmp(out_path, "-") ? out_path : "stdout", strerror(errno));
            goto done;
        }
    }
    if (out && fflush(out) != 0) {
        fprintf(stderr, "agentmem logits: %s: %s\n", strcmp(out_path, "-") ? out_path : "stdout", strerror(errno));
        goto done;
    }
    rc = 0;
    if (ref_path) {
        printf("compared %d positions with %s: worst rel %.3e (position %d), top-1 %d/%d\n", cmp.rows,
               ref_path, cmp.worst, cmp.worst_pos, cmp.top1, cmp.rows);
        if (!(cmp.worst <= max_rel)) {
            fprintf(stderr, "agentmem logits: worst relative error %.3e exceeds %g\n", cmp.worst, max_rel);
            rc = 1;
        }
    }
done:
    if (out && out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "agentmem logits: %s: %s\n", strcmp(out_path, "-") ? out_path : "stdout", strerror(errno));
        rc = 1;
    }
    am_batch_free(&b);
    free(cmp.ref);
    free(logits);
    am_engine_free(e);
    am_model_free(m);
    am_ids_free(&ids);
    return rc;
usage_err:
    am_ids_free(&ids);
    return 2;
}
