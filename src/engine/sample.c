/*
 * sample.c — token sampling (see sample.h for the semantics). Owns its
 * candidate array and penalty history; never touches the engine.
 */
#include "engine/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

typedef struct cand {
    int32_t id;
    float logit;
    float p;
} cand;

struct am_sampler {
    am_sampler_params p;
    int n_vocab;
    cand *c;          /* [n_vocab] working candidates */
    int32_t *hist;    /* ring of the last penalty_last_n accepted tokens */
    int hist_n, hist_head;
    int32_t *count;   /* [n_vocab] occurrences in hist */
    am_rng rng;
};

/* ---- random numbers ------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void am_rng_seed(am_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t am_rng_next(am_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double am_rng_uniform(am_rng *r) { return (double)(am_rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- sampler ------------------------------------------------------------- */

am_sampler_params am_sampler_default_params(void) {
    am_sampler_params p = {
        .temp = 0, .top_k = 0, .top_p = 1, .min_p = 0, .repeat_penalty = 1,
        .frequency_penalty = 0, .presence_penalty = 0, .penalty_last_n = 64, .seed = 0,
    };
    return p;
}

am_sampler *am_sampler_create(const am_sampler_params *p, int n_vocab) {
    am_sampler *s = am_xcalloc(1, sizeof *s);
    s->p = *p;
    if (s->p.penalty_last_n < 0) s->p.penalty_last_n = 0;
    s->n_vocab = n_vocab;
    s->c = am_xmalloc((size_t)n_vocab * sizeof *s->c);
    s->count = am_xcalloc((size_t)n_vocab, sizeof *s->count);
    s->hist = am_xmalloc((size_t)(s->p.penalty_last_n ? s->p.penalty_last_n : 1) * sizeof *s->hist);
    am_rng_seed(&s->rng, p->seed);
    return s;
}

void am_sampler_free(am_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->count);
    free(s->hist);
    free(s);
}

void am_sampler_reset(am_sampler *s) {
    memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
    s->hist_n = s->hist_head = 0;
    am_rng_seed(&s->rng, s->p.seed);
}

void am_sampler_accept(am_sampler *s, int32_t token) {
    int cap = s->p.penalty_last_n;
    if (cap <= 0 || token < 0 || token >= s->n_vocab) return;
    if (s->hist_n == cap) { /* drop the oldest */
        int32_t old = s->hist[s->hist_head];
        s->count[old]--;
        s->hist[s->hist_head] = token;
        s->hist_head = (s->hist_head + 1) % cap;
    } else {
        s->hist[(s->hist_head + s->hist_n) % cap] = token;
        s->hist_n++;
    }
    s->count[token]++;
}

static int cmp_desc(const void *a, const void *b) {
    float x = ((const cand *)a)->logit, y = ((const cand *)b)->logit;
    if (x != y) return x > y ? -1 : 1;
    int32_t i = ((const cand *)a)->id, j = ((const cand *)b)->id;
    return (i > j) - (i < j);
}

/* Softmax of the first n candidates into .p (they need not be sorted). */
static void softmax(cand *c, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = c[i].logit > mx ? c[i].logit : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (c[i].p = expf(c[i].logit - mx));
    for (int i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

/* Moves the k best candidates to the front, sorted (k <= n): a min-heap of
 * the k best in c[0..k) while scanning, then a sort of those k. */
static void heap_down(cand *h, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i; /* w: the worst of the three */
        if (l < k && cmp_desc(&h[l], &h[w]) > 0) w = l;
        if (r < k && cmp_desc(&h[r], &h[w]) > 0) w = r;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void top_sorted(cand *c, int n, int k) {
    if (k < n) {
        for (int i = k / 2 - 1; i >= 0; i--) heap_down(c, k, i);
        for (int j = k; j < n; j++)
            if (cmp_desc(&c[j], &c[0]) < 0) {
                cand t = c[0];
                c[0] = c[j];
                c[j] = t;
                heap_down(c, k, 0);
            }
    }
    qsort(c, (size_t)k, sizeof *c, cmp_desc);
}

int32_t am_sampler_sample(am_sampler *s, const float *logits) {
    const am_sampler_params *p = &s->p;
    int n = s->n_vocab;
    cand *c = s->c;
    for (int i = 0; i < n; i++) c[i] = (cand){i, logits[i], 0};

    /* penalties over the distinct tokens of the history */
    if (s->hist_n && (p->repeat_penalty != 1 || p->frequency_penalty != 0 || p->presence_penalty != 0)) {
        for (int h = 0; h < s->hist_n; h++) {
            int32_t t = s->hist[h];
            int cnt = s->count[t];
            if (cnt <= 0 || c[t].p < 0) continue; /* p < 0 marks "done" */
            float l = c[t].logit;
            if (p->repeat_penalty != 1) l = l <= 0 ? l * p->repeat_penalty : l / p->repeat_penalty;
            l -= (float)cnt * p->frequency_penalty + (cnt > 0 ? p->presence_penalty : 0);
            c[t].logit = l;
            c[t].p = -1;
        }
    }

    if (p->temp <= 0) {
        int b = 0;
        for (int i = 1; i < n; i++)
            if (c[i].logit > c[b].logit) b = i;
        return c[b].id;
    }

    bool sorted = false;
    if (p->top_k > 0 && p->top_k < n) {
        top_sorted(c, n, p->top_k);
        n = p->top_k;
        sorted = true;
    }
    if (p->top_p < 1.0f) {
        softmax(c, n);
        /* Sorting a large vocabulary fully is slow and rarely needed: try
         * the best 1024 first, sort everything only if they fall short. */
        int keep = -1;
        for (int k = sorted ? n : AM_MIN(n, 1024); keep < 0; k = n) {
            if (!sorted) top_sorted(c, n, k);
            double cum = 0;
            for (int i = 0; i < k; i++) {
                cum += c[i].p;
                if (cum >= p->top_p) {
                    keep = i + 1;
                    break;
                }
            }
            if (k == n) {
                if (keep < 0) keep = n;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0) {
        float mx = -INFINITY;
        for (int i = 0; i < n; i++) mx = c[i].logit > mx ? c[i].logit : mx;
        float thr = mx + logf(p->min_p);
        int k = 0;
        for (int i = 0; i < n; i++)
            if (c[i].logit >= thr) c[k++] = c[i]; /* keeps order */
        n = k;
    }
    for (int i = 0; i < n; i++) c[i].logit /= p->temp;
    softmax(c, n);
    double u = am_rng_uniform(&s->rng), cum = 0;
    for (int i = 0; i < n; i++) {
        cum += c[i].p;
        if (u < cum) return c[i].id;
    }
    return c[n - 1].id;
}
