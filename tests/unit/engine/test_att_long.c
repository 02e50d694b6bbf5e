/*
 * test_att_long.c — eng_attention at long context against a naive reference
 * that reads the same cache.
 *
 * K/V rows are random and written through eng_kv_store (so they sit in the
 * cache in its types); query rows are random. The reference decodes every
 * visible K/V row with am_dequant_row — not through the kernel table — and
 * computes softmax(q.k * scale [softcapped]) . v in double with plain loops,
 * per token and query head. Both sides read the same stored bits, so for
 * every KV type (F32, F16, Q8_0, Q4_0 and mixed K/V types) the only
 * difference is float summation order and the SIMD exp: the bound is
 * |out - ref| <= 2e-5 * (1 + max|v|) per element (measured worst: printed).
 * Decode tokens over Q8_0 / Q4_0 keys score an int8 copy of the query
 * (att_kern.h qk_rows_q8); for them the reference takes that copy's values
 * (eng_att_quant_q), so the same bound holds, and what the int8 query moved
 * the outputs by against the float query is printed (bugs it is for, each
 * planted once: the +128 correction dropped, the Q4_0 query order or a
 * transpose lane wrong).
 *
 * Shapes: a context of 1100 (not a multiple of the 32-slot block) plus a
 * ragged prefill chunk of 37 tokens (one tile: its first slot is past
 * ENG_ATT_FAR) of one sequence,
 * decode tokens of three other sequences (one at 1133 slots of context:
 * the decode path that reads K/V rows in place), side by side in one batch; a
 * full-attention layer and a sliding layer (window 300, cutting through
 * blocks and through the chunk), with and without a logit softcap.
 * Run with the fixture's 2 kv heads and with 1 (4 query rows per kv head).
 * Bugs it is for (each planted once and seen to fail here): a diagonal
 * block without its per-token upper mask (a token sees its successors), a
 * window / visible-range bound off by one, a score tile reading the wrong K
 * element, P.V reading a neighbour row's probabilities, softcap skipped.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compute/quant.h"
#include "engine/att_kern.h"
#include "engine/engine_impl.h"
#include "test_util.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

enum { CTX = 1100, CHUNK = 37, CTX_B = 70, CTX_C = 31, CTX_D = 1133 };

/* Writes n random K/V rows of every layer at slots [s0, s0+n) of seq. */
static void fill(am_engine *e, int seq, int64_t s0, int n, unsigned *seed) {
    const am_hparams *hp = &e->m->hp;
    const int kvd = hp->n_head_kv * hp->head_dim;
    for (int t0 = 0; t0 < n; t0 += e->p.max_batch) {
        int cnt = n - t0 < e->p.max_batch ? n - t0 : e->p.max_batch;
        for (int i = 0; i < cnt; i++) e->tok[i] = (eng_tok){.seq = seq, .slot = s0 + t0 + i, .pos = s0 + t0 + i};
        for (int l = 0; l < hp->n_layer; l++) {
            for (int i = 0; i < cnt * kvd; i++) {
                e->k[i] = frand(seed) * 2;
                e->v[i] = frand(seed) * 2;
            }
            eng_kv_store(e, l, cnt);
        }
    }
}

static void row(am_engine *e, bool is_k, int seq, int layer, int64_t slot, int h, float *dst) {
    int32_t id = am_kv_seq_block(e->kv, seq, layer, slot);
    am_type ty = is_k ? am_kv_block_type_k(e->kv, id) : am_kv_block_type_v(e->kv, id);
    const void *src = is_k ? am_kv_k_row(e->kv, seq, layer, slot, h) : am_kv_v_row(e->kv, seq, layer, slot, h);
    am_dequant_row(ty, src, dst, e->m->hp.head_dim);
}

static void run(am_model *m, am_type tk, am_type tv, float cap) {
    m->hp.attn_logit_softcap = cap;
    m->hp.sliding_window = 300;
    for (int l = 0; l < m->hp.n_layer; l++) m->hp.layer_swa[l] = l % 2 == 1;
    am_engine_params p = am_engine_default_params();
    p.n_threads = 2;
    p.max_batch = 64;
    p.kv_tokens = 4096;
    p.kv_type_k = tk;
    p.kv_type_v = tv;
    am_err err = {0};
    am_engine *e = am_engine_create(m, &p, &err);
    CHECKF(e, "engine: %s", err.msg);
    if (!e) return;
    const am_hparams *hp = &m->hp;
    const int hd = hp->head_dim, nrep = hp->n_head / hp->n_head_kv, qd = hp->n_head * hd;
    unsigned seed = 99u + (unsigned)tk * 7u + (unsigned)tv;
    int sa = am_engine_seq_create(e), sb = am_engine_seq_create(e), sc = am_engine_seq_create(e);
    int sd = am_engine_seq_create(e);
    const int seqs[4] = {sa, sb, sc, sd}, ctx[4] = {CTX, CTX_B, CTX_C, CTX_D}, add[4] = {CHUNK, 1, 1, 1};
    for (int s = 0; s < 4; s++) {
        CHECK(am_kv_seq_reserve(e->kv, seqs[s], 0, ctx[s] + add[s], &err) == 0);
        fill(e, seqs[s], 0, ctx[s], &seed);
    }
    /* the batch: decode of b, a's chunk, decode of c, decode of d */
    int n = 0;
    e->tok[n++] = (eng_tok){.seq = sb, .slot = CTX_B, .pos = CTX_B};
    for (int i = 0; i < CHUNK; i++) e->tok[n++] = (eng_tok){.seq = sa, .slot = CTX + i, .pos = CTX + i};
    e->tok[n++] = (eng_tok){.seq = sc, .slot = CTX_C, .pos = CTX_C};
    e->tok[n++] = (eng_tok){.seq = sd, .slot = CTX_D, .pos = CTX_D};
    const int kvd = hp->n_head_kv * hd;
    float *kr = malloc((size_t)hd * sizeof(float)), *vr = malloc((size_t)hd * sizeof(float));
    /* scores of the longest visible range (either context is enough) */
    double *sc_ = malloc((size_t)(CTX + CHUNK + CTX_D + 1) * sizeof(double)), *o = malloc((size_t)hd * sizeof(double));
    double worst = 0, worst8 = 0;
    const eng_att_kern *kk = eng_att_kern_get();
    float *qsc = malloc((size_t)hd * sizeof(float));
    double *scf = malloc((size_t)(CTX + CHUNK + CTX_D + 1) * sizeof(double)), *of = malloc((size_t)hd * sizeof(double));
    int8_t qqs[2 * 256];
    float qqd[8];
    int32_t qqsum[8];
    const eng_att_qq qq = {.qs = qqs, .qs4 = qqs + 256, .d = qqd, .sum = qqsum};
    for (int layer = 0; layer < 2 && layer < hp->n_layer; layer++) {
        for (int i = 0; i < n * kvd; i++) {
            e->k[i] = frand(&seed) * 2;
            e->v[i] = frand(&seed) * 2;
        }
        for (int i = 0; i < n * qd; i++) e->q[i] = frand(&seed) * 3;
        eng_kv_store(e, layer, n);
        eng_attention(e, layer, n);
        const int window = hp->layer_swa[layer] ? hp->sliding_window : 0;
        for (int t = 0; t < n; t++) {
            const eng_tok *tk_ = &e->tok[t];
            int64_t hi = tk_->slot, lo = window > 0 && hi - window + 1 > 0 ? hi - window + 1 : 0;
            for (int qh = 0; qh < hp->n_head; qh++) {
                int h = qh / nrep;
                const float *q = e->q + ((size_t)t * hp->n_head + qh) * hd;
                double mxs = -INFINITY, vmax = 0;
                /* decode tokens over Q8_0 / Q4_0 keys score an int8 copy of
                 * the scaled query (att_kern.h qk_rows_q8): the reference
                 * takes that copy's values d_b * qs too, so only float order
                 * is left between the two, and the float query's output is
                 * kept to report what the int8 query changed */
                const bool int8 = tk_->seq != sa && kk->qk_int8 && hd % 64 == 0 &&
                                  (am_kv_block_type_k(e->kv, am_kv_seq_block(e->kv, tk_->seq, layer, lo)) ==
                                       AM_TYPE_Q8_0 ||
                                   am_kv_block_type_k(e->kv, am_kv_seq_block(e->kv, tk_->seq, layer, lo)) ==
                                       AM_TYPE_Q4_0);
                if (int8) {
                    for (int c = 0; c < hd; c++) qsc[c] = q[c] * hp->query_scale;
                    eng_att_quant_q(qsc, 1, hd, &qq);
                    for (int c = 0; c < hd; c++) qsc[c] = (float)qq.qs[c] * qq.d[c / 32];
                }
                for (int64_t s = lo; s <= hi; s++) {
                    row(e, true, tk_->seq, layer, s, h, kr);
                    double d = 0, df = 0;
                    for (int c = 0; c < hd; c++) df += (double)q[c] * kr[c];
                    df *= hp->query_scale;
                    for (int c = 0; int8 && c < hd; c++) d += (double)qsc[c] * kr[c];
                    if (!int8) d = df;
                    if (cap > 0) df = cap * tanh(df / cap);
                    scf[s - lo] = df;
                    if (cap > 0) d = cap * tanh(d / cap);
                    sc_[s - lo] = d;
                    mxs = d > mxs ? d : mxs;
                }
                double z = 0, zf = 0;
                memset(o, 0, (size_t)hd * sizeof(double));
                memset(of, 0, (size_t)hd * sizeof(double));
                for (int64_t s = lo; s <= hi; s++) {
                    double w = exp(sc_[s - lo] - mxs), wf = exp(scf[s - lo] - mxs);
                    z += w;
                    zf += wf;
                    row(e, false, tk_->seq, layer, s, h, vr);
                    for (int c = 0; c < hd; c++) {
                        o[c] += w * vr[c];
                        of[c] += wf * vr[c];
                        vmax = fabs(vr[c]) > vmax ? fabs(vr[c]) : vmax;
                    }
                }
                const float *got = e->att + ((size_t)t * hp->n_head + qh) * hd;
                for (int c = 0; c < hd; c++) {
                    double d = fabs(got[c] - o[c] / z) / (1 + vmax);
                    worst = d > worst ? d : worst;
                    if (int8) {
                        double f = fabs(o[c] / z - of[c] / zf) / (1 + vmax);
                        worst8 = f > worst8 ? f : worst8;
                    }
                    CHECKF(d <= 2e-5, "%s/%s cap %g layer %d token %d (slot %lld) head %d [%d]: %g vs %g",
                           am_type_name(tk), am_type_name(tv), cap, layer, t, (long long)tk_->slot, qh, c, got[c],
                           o[c] / z);
                    if (d > 2e-5) goto done; /* one report per configuration */
                }
            }
        }
    }
done:
    fprintf(stderr, "  K %-5s V %-5s cap %-3g: worst |out-ref|/(1+max|v|) %.2e", am_type_name(tk), am_type_name(tv), cap,
            worst);
    if (worst8 > 0) fprintf(stderr, "; the int8 query moved decode outputs by <= %.2e", worst8);
    fprintf(stderr, "\n");
    free(kr);
    free(vr);
    free(qsc);
    free(scf);
    free(of);
    free(sc_);
    free(o);
    am_engine_free(e);
}

static void test_long(void) {
    char *path = am_test_fixture("models/llama3-tiny/llama3-tiny-f16.gguf");
    am_err err = {0};
    am_model *m = am_model_load(path, &err);
    CHECKF(m, "load %s: %s", path, err.msg);
    free(path);
    if (!m) return;
    static const am_type kv[][2] = {{AM_TYPE_F32, AM_TYPE_F32},   {AM_TYPE_F16, AM_TYPE_F16},
                                    {AM_TYPE_Q8_0, AM_TYPE_Q8_0}, {AM_TYPE_Q4_0, AM_TYPE_Q4_0},
                                    {AM_TYPE_Q8_0, AM_TYPE_F16},  {AM_TYPE_Q4_0, AM_TYPE_Q8_0}};
    /* the fixture's 2 kv heads (2 query rows per kv head), then 1 (4 rows:
     * the decode path with scores 4 keys x 4 rows per vector, softmax_r4) */
    const int nkv = m->hp.n_head_kv;
    for (int g = 0; g < 2; g++) {
        m->hp.n_head_kv = g ? 1 : nkv;
        fprintf(stderr, "  %d query rows per kv head\n", m->hp.n_head / m->hp.n_head_kv);
        for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) run(m, kv[i][0], kv[i][1], i % 2 ? 0.0f : 30.0f);
    }
    m->hp.n_head_kv = nkv;
    am_model_free(m);
}

int main(void) {
    AM_TEST_RUN(test_long);
    AM_TEST_EXIT();
}
