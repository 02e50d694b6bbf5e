/*
 * bench_att.c — decode attention alone (eng_attention of one token over all
 * layers) at long context, on a model's attention shape, without the
 * matmuls around it.
 *
 *   build/bench/bench_att MODEL.gguf [--threads N] [--kv f16|q8_0|q4_0|f32] [--depth N[,N...]]
 *                         [--steps N] [--reps N]
 *
 * For each depth: one sequence of `depth` slots of random K/V in every layer
 * (written through eng_kv_store, so rows sit in the cache in its type), then
 * `steps` decode steps, each eng_attention over all layers for one token
 * with random queries (K/V of the new slot stored first, as forward does).
 * Prints per step, all layers: wall ms and process CPU ms (both threads;
 * on a shared machine CPU time is what the work cost when it had a core),
 * best and median of `reps` repetitions. Reads engine internals
 * (engine_impl.h), as the attention tests do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "engine/engine_impl.h"

static unsigned seed = 12345u;
static float frand(void) {
    seed = seed * 1103515245u + 12345u;
    return ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static double now(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [--threads N] [--kv TYPE] [--depth LIST] [--steps N] [--reps N]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1], *depths = "4096", *kvs = "q8_0";
    int nth = 2, steps = 16, reps = 5;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) nth = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--kv")) kvs = argv[i + 1];
        else if (!strcmp(argv[i], "--depth")) depths = argv[i + 1];
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    am_type kt = !strcmp(kvs, "f16") ? AM_TYPE_F16 : !strcmp(kvs, "q4_0") ? AM_TYPE_Q4_0
                 : !strcmp(kvs, "f32") ? AM_TYPE_F32 : AM_TYPE_Q8_0;
    am_err err = {0};
    am_model *m = am_model_load(path, &err);
    if (!m) {
        fprintf(stderr, "load %s: %s\n", path, err.msg);
        return 1;
    }
    int64_t dmax = 0;
    for (const char *p = depths; *p;) {
        int64_t d = strtoll(p, (char **)&p, 10);
        dmax = d > dmax ? d : dmax;
        if (*p == ',') p++;
    }
    am_engine_params ep = am_engine_default_params();
    ep.n_threads = nth;
    ep.max_batch = 64;
    ep.kv_tokens = dmax + steps + 64;
    ep.kv_type = kt;
    am_engine *e = am_engine_create(m, &ep, &err);
    if (!e) {
        fprintf(stderr, "engine: %s\n", err.msg);
        return 1;
    }
    const am_hparams *hp = &m->hp;
    const int kvd = hp->n_head_kv * hp->head_dim, qd = hp->n_head * hp->head_dim;
    printf("%s: %d layers, %d q heads, %d kv heads, head dim %d, kv %s, %d threads\n", path, hp->n_layer, hp->n_head,
           hp->n_head_kv, hp->head_dim, kvs, nth);
    printf("| depth | wall ms best | wall ms median | cpu ms best | cpu ms median |\n| ---: | ---: | ---: | ---: | ---: |\n");
    for (const char *p = depths; *p;) {
        int64_t depth = strtoll(p, (char **)&p, 10);
        if (*p == ',') p++;
        int seq = am_engine_seq_create(e);
        if (am_kv_seq_reserve(e->kv, seq, 0, depth + steps, &err) != 0) {
            fprintf(stderr, "reserve: %s\n", err.msg);
            return 1;
        }
        for (int64_t t0 = 0; t0 < depth + steps; t0 += ep.max_batch) {
            int cnt = (int)(depth + steps - t0 < ep.max_batch ? depth + steps - t0 : ep.max_batch);
            for (int i = 0; i < cnt; i++) e->tok[i] = (eng_tok){.seq = seq, .slot = t0 + i, .pos = t0 + i};
            for (int l = 0; l < hp->n_layer; l++) {
                for (int i = 0; i < cnt * kvd; i++) {
                    e->k[i] = frand() * 2;
                    e->v[i] = frand() * 2;
                }
                eng_kv_store(e, l, cnt);
            }
        }
        double *wall = malloc(sizeof(double) * reps), *cpu = malloc(sizeof(double) * reps);
        for (int r = 0; r < reps; r++) {
            double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
            for (int s = 0; s < steps; s++) {
                e->tok[0] = (eng_tok){.seq = seq, .slot = depth + s, .pos = depth + s};
                for (int l = 0; l < hp->n_layer; l++) {
                    for (int i = 0; i < qd; i++) e->q[i] = frand() * 3;
                    eng_attention(e, l, 1);
                }
            }
            wall[r] = (now(CLOCK_MONOTONIC) - w0) * 1e3 / steps;
            cpu[r] = (now(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3 / steps;
        }
        qsort(wall, reps, sizeof(double), cmp_d);
        qsort(cpu, reps, sizeof(double), cmp_d);
        printf("| %lld | %.2f | %.2f | %.2f | %.2f |\n", (long long)depth, wall[0], wall[reps / 2], cpu[0],
               cpu[reps / 2]);
        fflush(stdout);
        free(wall);
        free(cpu);
        am_engine_seq_remove(e, seq);
    }
    am_engine_free(e);
    am_model_free(m);
    return 0;
}
