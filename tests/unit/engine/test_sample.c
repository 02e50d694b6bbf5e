/*
 * test_sample.c — each sampling filter's effect, penalties, the draw's
 * distribution for fixed seeds, and reproducibility.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sample.h"
#include "test_util.h"

#define NV 5
/* probabilities .5 .3 .15 .05 0 (the last is -inf) */
static void base_logits(float *l) {
    const double p[NV - 1] = {0.5, 0.3, 0.15, 0.05};
    for (int i = 0; i < NV - 1; i++) l[i] = (float)log(p[i]) + 3.0f;
    l[NV - 1] = -INFINITY;
}

/* Histogram of n draws. */
static void draw(const am_sampler_params *p, const float *l, int n, double *freq) {
    am_sampler *s = am_sampler_create(p, NV);
    memset(freq, 0, NV * sizeof *freq);
    for (int i = 0; i < n; i++) freq[am_sampler_sample(s, l)] += 1.0 / n;
    am_sampler_free(s);
}

static void test_rng(void) {
    am_rng a, b;
    am_rng_seed(&a, 42);
    am_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) CHECK(am_rng_next(&a) == am_rng_next(&b));
    am_rng_seed(&b, 43);
    CHECK(am_rng_next(&a) != am_rng_next(&b));
    double mean = 0;
    for (int i = 0; i < 100000; i++) {
        double u = am_rng_uniform(&a);
        CHECK(u >= 0 && u < 1);
        mean += u / 100000;
    }
    CHECKF(fabs(mean - 0.5) < 0.005, "mean %f", mean);
}

static void test_greedy(void) {
    float l[NV];
    base_logits(l);
    am_sampler_params p = am_sampler_default_params();
    am_sampler *s = am_sampler_create(&p, NV);
    CHECK(am_sampler_sample(s, l) == 0);
    l[3] = l[0]; /* tie: lowest id */
    CHECK(am_sampler_sample(s, l) == 0);
    am_sampler_free(s);
}

static void test_distribution(void) {
    float l[NV];
    base_logits(l);
    am_sampler_params p = am_sampler_default_params();
    p.temp = 1;
    p.seed = 7;
    double f[NV];
    draw(&p, l, 40000, f);
    const double want[NV] = {0.5, 0.3, 0.15, 0.05, 0};
    for (int i = 0; i < NV; i++) CHECKF(fabs(f[i] - want[i]) < 0.01, "token %d: %f", i, f[i]);
    /* temperature 0.5 squares the probabilities */
    p.temp = 0.5f;
    draw(&p, l, 40000, f);
    double z = 0.25 + 0.09 + 0.0225 + 0.0025;
    const double want2[NV] = {0.25 / z, 0.09 / z, 0.0225 / z, 0.0025 / z, 0};
    for (int i = 0; i < NV; i++) CHECKF(fabs(f[i] - want2[i]) < 0.01, "t0.5 token %d: %f", i, f[i]);
    /* same seed, same tokens; other seed, other tokens */
    am_sampler *a = am_sampler_create(&p, NV), *b = am_sampler_create(&p, NV);
    p.seed = 8;
    am_sampler *c = am_sampler_create(&p, NV);
    int diff = 0;
    for (int i = 0; i < 200; i++) {
        int ta = am_sampler_sample(a, l), tb = am_sampler_sample(b, l), tc = am_sampler_sample(c, l);
        CHECK(ta == tb);
        diff += ta != tc;
    }
    CHECK(diff > 0);
    am_sampler_reset(a);
    am_sampler_reset(b);
    am_sampler_sample(b, l);
    am_sampler_reset(b);
    for (int i = 0; i < 50; i++) CHECK(am_sampler_sample(a, l) == am_sampler_sample(b, l));
    am_sampler_free(a);
    am_sampler_free(b);
    am_sampler_free(c);
}

static void test_filters(void) {
    float l[NV];
    base_logits(l);
    am_sampler_params p = am_sampler_default_params();
    p.temp = 1;
    p.seed = 3;
    double f[NV];

    p.top_k = 2; /* renormalized over {0, 1}: .625 .375 */
    draw(&p, l, 20000, f);
    CHECKF(fabs(f[0] - 0.625) < 0.015 && f[2] == 0 && f[3] == 0, "top_k %f %f", f[0], f[2]);
    p.top_k = 1;
    draw(&p, l, 1000, f);
    CHECK(f[0] > 0.999 && f[1] == 0);
    p.top_k = 0;

    p.top_p = 0.6f; /* .5 < .6 <= .8: keeps {0, 1} */
    draw(&p, l, 20000, f);
    CHECKF(fabs(f[0] - 0.625) < 0.015 && f[2] == 0, "top_p %f %f", f[0], f[2]);
    p.top_p = 0.5f; /* the first alone reaches it */
    draw(&p, l, 1000, f);
    CHECK(f[0] > 0.999 && f[1] == 0);
    p.top_p = 0.9f; /* .95 needed: {0,1,2} */
    draw(&p, l, 20000, f);
    CHECKF(f[2] > 0.1 && f[3] == 0, "top_p .9 %f %f", f[2], f[3]);
    p.top_p = 1;

    p.min_p = 0.5f; /* keeps p >= .25: {0, 1} */
    draw(&p, l, 20000, f);
    CHECKF(fabs(f[0] - 0.625) < 0.015 && f[2] == 0, "min_p %f", f[0]);
    p.min_p = 0.2f; /* p >= .1: {0,1,2} */
    draw(&p, l, 20000, f);
    CHECK(f[2] > 0.1 && f[3] == 0);
    p.min_p = 0;

    /* combined: top_k 3 then top_p .8 -> {0, 1} */
    p.top_k = 3;
    p.top_p = 0.8f;
    draw(&p, l, 5000, f);
    CHECK(f[2] == 0 && f[0] > 0.5);
}

/* A large vocabulary exercises the heap top-k and the partial top-p sort. */
static void test_large_vocab(void) {
    int nv = 50000;
    float *l = malloc((size_t)nv * sizeof *l);
    am_rng r;
    am_rng_seed(&r, 1);
    for (int i = 0; i < nv; i++) l[i] = (float)(am_rng_uniform(&r) * 4);
    int best = 0;
    for (int i = 1; i < nv; i++)
        if (l[i] > l[best]) best = i;
    am_sampler_params p = am_sampler_default_params();
    p.temp = 1;
    p.top_k = 1;
    am_sampler *s = am_sampler_create(&p, nv);
    CHECK(am_sampler_sample(s, l) == best);
    am_sampler_free(s);
    p.top_k = 0;
    p.top_p = 0.999f; /* needs nearly everything: falls back to a full sort */
    s = am_sampler_create(&p, nv);
    int t = am_sampler_sample(s, l);
    CHECK(t >= 0 && t < nv);
    am_sampler_free(s);
    p.top_p = 1e-6f;
    s = am_sampler_create(&p, nv);
    CHECK(am_sampler_sample(s, l) == best);
    am_sampler_free(s);
    free(l);
}

static void test_penalties(void) {
    float l[NV] = {2.0f, 1.9f, -1.0f, -1.1f, -5.0f};
    am_sampler_params p = am_sampler_default_params();
    p.repeat_penalty = 1.1f; /* 2.0 -> 1.818 < 1.9 */
    am_sampler *s = am_sampler_create(&p, NV);
    CHECK(am_sampler_sample(s, l) == 0);
    am_sampler_accept(s, 0);
    CHECK(am_sampler_sample(s, l) == 1);
    am_sampler_free(s);

    /* negative logits are multiplied: -1.0 * 1.2 = -1.2 < -1.1 */
    float l2[NV] = {-1.0f, -1.1f, -3, -3, -3};
    p.repeat_penalty = 1.2f;
    s = am_sampler_create(&p, NV);
    am_sampler_accept(s, 0);
    CHECK(am_sampler_sample(s, l2) == 1);
    am_sampler_free(s);

    /* frequency counts repeats, presence does not */
    p.repeat_penalty = 1;
    p.frequency_penalty = 0.06f;
    s = am_sampler_create(&p, NV);
    am_sampler_accept(s, 0);
    CHECK(am_sampler_sample(s, l) == 0); /* 2.0 - .06 > 1.9 */
    am_sampler_accept(s, 0);
    CHECK(am_sampler_sample(s, l) == 1); /* 2.0 - .12 < 1.9 */
    am_sampler_free(s);
    p.frequency_penalty = 0;
    p.presence_penalty = 0.11f;
    s = am_sampler_create(&p, NV);
    am_sampler_accept(s, 1);
    am_sampler_accept(s, 1);
    am_sampler_accept(s, 0);
    CHECK(am_sampler_sample(s, l) == 0); /* both lose .11 */
    am_sampler_free(s);

    /* the window forgets old tokens */
    p.presence_penalty = 0;
    p.repeat_penalty = 1.1f;
    p.penalty_last_n = 2;
    s = am_sampler_create(&p, NV);
    am_sampler_accept(s, 0);
    CHECK(am_sampler_sample(s, l) == 1);
    am_sampler_accept(s, 3);
    am_sampler_accept(s, 3);
    CHECK(am_sampler_sample(s, l) == 0);
    am_sampler_free(s);
    p.penalty_last_n = 0;
    s = am_sampler_create(&p, NV);
    am_sampler_accept(s, 0);
    CHECK(am_sampler_sample(s, l) == 0);
    am_sampler_free(s);
}

/* ---- naive reference ------------------------------------------------- */

/* The whole pipeline written the plain way: penalties from a token count
 * over the last penalty_last_n tokens, a full insertion sort by logit
 * (ties: lower id first), top-k, top-p, min-p, temperature, one draw with
 * the same generator. *margin: how close the top-p cut or the draw came to
 * a boundary (a difference there may be float rounding, not a bug). */
static int32_t ref_sample(const am_sampler_params *p, const float *logits, int nv,
                          const int32_t *hist, int nh, double *margin) {
    float *l = malloc((size_t)nv * sizeof *l);
    int *cnt = calloc((size_t)nv, sizeof *cnt), *ord = malloc((size_t)nv * sizeof *ord);
    double *pr = malloc((size_t)nv * sizeof *pr);
    for (int i = 0; i < nv; i++) l[i] = logits[i];
    int from = nh > p->penalty_last_n ? nh - p->penalty_last_n : 0;
    for (int h = from; h < nh; h++) cnt[hist[h]]++;
    for (int t = 0; t < nv; t++) {
        if (!cnt[t]) continue;
        if (p->repeat_penalty != 1) l[t] = l[t] <= 0 ? l[t] * p->repeat_penalty : l[t] / p->repeat_penalty;
        l[t] -= (float)cnt[t] * p->frequency_penalty + p->presence_penalty;
    }
    *margin = INFINITY;
    int32_t out;
    if (p->temp <= 0) {
        out = 0;
        for (int i = 1; i < nv; i++) if (l[i] > l[out]) out = i;
        goto done;
    }
    for (int i = 0; i < nv; i++) {
        int j = i;
        while (j > 0 && (l[ord[j - 1]] < l[i] || (l[ord[j - 1]] == l[i] && ord[j - 1] > i))) { ord[j] = ord[j - 1]; j--; }
        ord[j] = i;
    }
    int n = nv;
    if (p->top_k > 0 && p->top_k < n) n = p->top_k;
    if (p->top_p < 1.0f) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += exp((double)l[ord[i]] - l[ord[0]]);
        double cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += exp((double)l[ord[i]] - l[ord[0]]) / sum;
            double d = fabs(cum - p->top_p);
            if (d < *margin) *margin = d;
            if (cum >= p->top_p) { keep = i + 1; break; }
        }
        n = keep;
    }
    if (n == nv && p->top_p >= 1.0f) /* nothing cut: the draw walks the tokens in id order */
        for (int i = 0; i < nv; i++) ord[i] = i;
    if (p->min_p > 0) {
        float mx = -INFINITY;
        for (int i = 0; i < n; i++) mx = l[ord[i]] > mx ? l[ord[i]] : mx;
        float thr = mx + logf(p->min_p);
        int k = 0;
        for (int i = 0; i < n; i++) if (l[ord[i]] >= thr) ord[k++] = ord[i];
        n = k;
    }
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (pr[i] = exp(((double)l[ord[i]] - l[ord[0]]) / p->temp));
    am_rng r;
    am_rng_seed(&r, p->seed);
    double u = am_rng_uniform(&r), cum = 0;
    out = ord[n - 1];
    for (int i = 0; i < n; i++) {
        cum += pr[i] / sum;
        if (fabs(u - cum) < *margin) *margin = fabs(u - cum);
        if (u < cum) { out = ord[i]; break; }
    }
done:
    free(l); free(cnt); free(ord); free(pr);
    return out;
}

/* The sampler against the reference on random logits, random histories
 * (drawn mostly from the most likely tokens, so penalties change the
 * outcome) and random parameters, greedy and sampled, with vocabularies
 * below and above the 1024-candidate top-p shortcut. Catches presence or
 * frequency penalty dropped or mis-weighted, the window miscounted, the
 * top-p sort removed or ordered wrongly (the cut then keeps the wrong
 * tokens), and the top-p fallback to a full sort missing. */
static void test_vs_reference(void) {
    static const int NVS[] = {7, 60, 900, 2500};
    am_test_rng_seed(777);
    int bad = 0, near = 0, trials = 0;
    for (int it = 0; it < 1200 && bad < 5; it++) {
        int nv = NVS[it % 4];
        float *lg = malloc((size_t)nv * sizeof *lg);
        float scale = 0.5f + (float)(am_test_rand_u32() % 40) / 10.0f;
        for (int i = 0; i < nv; i++) lg[i] = (float)am_test_gauss() * scale;
        int top[10];
        for (int k = 0; k < 10; k++) { /* the 10 largest logits */
            int b = -1;
            for (int i = 0; i < nv; i++) {
                bool used = false;
                for (int j = 0; j < k; j++) used |= top[j] == i;
                if (!used && (b < 0 || lg[i] > lg[b])) b = i;
            }
            top[k] = b;
        }
        am_sampler_params p = am_sampler_default_params();
        p.seed = am_test_rand_u32();
        p.temp = it % 5 == 0 ? 0 : 0.3f + (float)(am_test_rand_u32() % 15) / 10.0f;
        p.top_k = am_test_rand_u32() % 3 == 0 ? (int)(am_test_rand_u32() % (unsigned)nv) + 1 : 0;
        p.top_p = am_test_rand_u32() % 3 ? 0.3f + (float)(am_test_rand_u32() % 70) / 100.0f : 1.0f;
        p.min_p = am_test_rand_u32() % 4 == 0 ? (float)(am_test_rand_u32() % 20) / 100.0f : 0;
        p.repeat_penalty = am_test_rand_u32() % 3 == 0 ? 1.0f + (float)(am_test_rand_u32() % 50) / 100.0f : 1.0f;
        p.frequency_penalty = am_test_rand_u32() % 2 ? (float)(am_test_rand_u32() % 100) / 100.0f : 0;
        p.presence_penalty = am_test_rand_u32() % 2 ? (float)(am_test_rand_u32() % 200) / 100.0f : 0;
        static const int WIN[] = {0, 3, 16, 64};
        p.penalty_last_n = WIN[am_test_rand_u32() % 4];
        int nh = (int)(am_test_rand_u32() % 80);
        int32_t hist[80];
        for (int h = 0; h < nh; h++)
            hist[h] = am_test_rand_u32() % 4 ? top[am_test_rand_u32() % (nv < 10 ? (unsigned)nv : 10u)] : (int32_t)(am_test_rand_u32() % (unsigned)nv);
        am_sampler *s = am_sampler_create(&p, nv);
        for (int h = 0; h < nh; h++) am_sampler_accept(s, hist[h]);
        int32_t got = am_sampler_sample(s, lg);
        am_sampler_free(s);
        double margin;
        int32_t want = ref_sample(&p, lg, nv, hist, nh, &margin);
        trials++;
        if (got != want) {
            if (margin < 1e-4) { near++; }
            else {
                bad++;
                CHECKF(got == want, "it %d nv %d: got %d want %d (temp %g k %d p %g min_p %g rep %g freq %g pres %g win %d hist %d)",
                       it, nv, got, want, p.temp, p.top_k, p.top_p, p.min_p, p.repeat_penalty,
                       p.frequency_penalty, p.presence_penalty, p.penalty_last_n, nh);
            }
        }
        free(lg);
    }
    CHECKF(near <= trials / 100, "%d of %d draws differ near a boundary", near, trials);
}

int main(void) {
    AM_TEST_RUN(test_rng);
    AM_TEST_RUN(test_greedy);
    AM_TEST_RUN(test_distribution);
    AM_TEST_RUN(test_filters);
    AM_TEST_RUN(test_large_vocab);
    AM_TEST_RUN(test_penalties);
    AM_TEST_RUN(test_vs_reference);
    AM_TEST_EXIT();
}
