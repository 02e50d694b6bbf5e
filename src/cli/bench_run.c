/* bench_run.c — the timed runs of `agentmem bench` (bench.h): each appends
 * to sequences the caller owns, so that a depth or batched run can fill its
 * context once (untimed) and time only what follows. */
#include "cli/bench.h"

static int32_t rand_token(bench_ctx *c) {
    return (int32_t)am_rng_below(&c->rng, (uint64_t)am_engine_model(c->e)->hp.n_vocab);
}

/* n tokens appended to seq in forwards of at most max_batch tokens. */
static int append(bench_ctx *c, int seq, int n, am_err *err) {
    int64_t pos = am_engine_seq_len(c->e, seq);
    if (pos < 0) return am_err_setc(err, AM_E_NOT_FOUND, "bench: stale sequence %d", seq);
    int chunk = am_engine_max_batch(c->e);
    for (int done = 0; done < n;) {
        int k = n - done < chunk ? n - done : chunk;
        am_batch_clear(&c->b);
        for (int i = 0; i < k; i++) am_batch_add(&c->b, rand_token(c), (int32_t)(pos + done + i), seq, i == k - 1);
        if (am_engine_forward(c->e, &c->b, c->logits, err) < 0) return -1;
        done += k;
    }
    return 0;
}

int bench_prefill(bench_ctx *c, int seq, int n, am_err *err) { return append(c, seq, n, err); }

double bench_pp(bench_ctx *c, int seq, int n, am_err *err) {
    double t0 = am_time_now();
    if (append(c, seq, n, err) < 0) return -1;
    return am_time_now() - t0;
}

double bench_tg(bench_ctx *c, int seq, int n, am_err *err) {
    int64_t pos = am_engine_seq_len(c->e, seq);
    if (pos < 0) return am_err_setc(err, AM_E_NOT_FOUND, "bench: stale sequence %d", seq);
    double t0 = am_time_now();
    for (int i = 0; i < n; i++) {
        am_batch_clear(&c->b);
        am_batch_add(&c->b, rand_token(c), (int32_t)(pos + i), seq, true);
        if (am_engine_forward(c->e, &c->b, c->logits, err) < 0) return -1;
    }
    return am_time_now() - t0;
}

double bench_batched(bench_ctx *c, const int *seqs, int s, int g, am_err *err) {
    if (s < 1 || s > c->max_rows || s > am_engine_max_batch(c->e))
        return am_err_setc(err, AM_E_INVALID, "bench: %d sequences, room for %d", s, c->max_rows);
    int64_t pos[s];
    for (int j = 0; j < s; j++)
        if ((pos[j] = am_engine_seq_len(c->e, seqs[j])) < 0)
            return am_err_setc(err, AM_E_NOT_FOUND, "bench: stale sequence %d", seqs[j]);
    double t0 = am_time_now();
    for (int i = 0; i < g; i++) {
        am_batch_clear(&c->b);
        for (int j = 0; j < s; j++) am_batch_add(&c->b, rand_token(c), (int32_t)(pos[j] + i), seqs[j], true);
        if (am_engine_forward(c->e, &c->b, c->logits, err) < 0) return -1;
    }
    return am_time_now() - t0;
}
