/*
 * sample.h — choosing the next token from logits, with llama.cpp's semantics
 * and order: penalties -> top-k -> top-p -> min-p -> temperature -> draw.
 *
 *   repeat_penalty   for each distinct token among the last penalty_last_n
 *                    accepted: logit /= penalty if logit > 0, else *= penalty
 *   frequency_penalty logit -= count * frequency_penalty
 *   presence_penalty  logit -= presence_penalty (if count > 0)
 *   top_k            keep the k largest logits (<= 0: off)
 *   top_p            keep the smallest set of most likely tokens whose
 *                    probability sums to >= top_p (>= 1: off)
 *   min_p            keep tokens with probability >= min_p * max probability
 *                    (<= 0: off)
 *   temp             <= 0: greedy (argmax after penalties, lowest id on ties);
 *                    else logits / temp, softmax, one draw
 * The random stream is xoshiro256** seeded from `seed` through splitmix64:
 * the same seed, logits and accepted tokens give the same tokens.
 *
 * A sampler belongs to one sequence and one thread; it allocates n_vocab
 * candidates at creation and nothing per call.
 */
#ifndef AM_SAMPLE_H
#define AM_SAMPLE_H

#include <stdint.h>

typedef struct am_sampler_params {
    float temp;
    int top_k;
    float top_p;
    float min_p;
    float repeat_penalty;    /* 1 = off */
    float frequency_penalty; /* 0 = off */
    float presence_penalty;  /* 0 = off */
    int penalty_last_n;      /* history the penalties see (0 = none) */
    uint64_t seed;
} am_sampler_params;

/* Greedy, every filter and penalty off, penalty_last_n 64, seed 0. */
am_sampler_params am_sampler_default_params(void);

typedef struct am_sampler am_sampler;

am_sampler *am_sampler_create(const am_sampler_params *p, int n_vocab);
void am_sampler_free(am_sampler *s);

/* Records a token of the sequence (prompt or generated) for the penalties. */
void am_sampler_accept(am_sampler *s, int32_t token);
/* Picks a token from logits[n_vocab] (not modified). Does not accept it. */
int32_t am_sampler_sample(am_sampler *s, const float *logits);
/* Forgets the history and restarts the random stream from the seed. */
void am_sampler_reset(am_sampler *s);

/* The generator alone (exposed for tests and for callers needing draws). */
typedef struct am_rng {
    uint64_t s[4];
} am_rng;
void am_rng_seed(am_rng *r, uint64_t seed);
uint64_t am_rng_next(am_rng *r);
double am_rng_uniform(am_rng *r); /* [0, 1) with 53 random bits */

#endif
