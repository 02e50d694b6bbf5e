/*
 * attention.c — attention of each batch token over its own sequence's paged
 * KV, and storing the batch's K/V into the blocks.
 *
 * Work is split into units (token, kv head): the n_head/n_head_kv query heads
 * that share a kv head are done together so each K/V block row is converted
 * to float once per unit. Softmax is computed online block by block (running
 * max and sum, rescaled accumulator) in float; this equals the two-pass
 * max-subtracted softmax up to rounding and needs no buffer as long as the
 * context. Units are handed out through an atomic counter because causal
 * prefill makes their costs unequal.
 * Reads the KV tables, never changes them; writes only e->att (attention)
 * or the reserved slots of the batch (store).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "compute/blocks.h"
#include "compute/matmul.h"
#include "compute/quant.h"
#include "engine/att_kern.h"
#include "engine/engine_impl.h"

/* ---- scalar reference loops (att_kern.h) -------------------------------- */

static float f16_table[65536];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;

static void f16_init(void) {
    for (uint32_t i = 0; i < 65536; i++) f16_table[i] = am_f16_to_f32((uint16_t)i);
}

static void sc_f16_to_f32(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = f16_table[src[i]];
}

static void sc_f32_to_f16(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = am_f32_to_f16(src[i]);
}

static void sc_q8_0_to_f32(const void *src, float *dst, int64_t nb) {
    am_dequant_row(AM_TYPE_Q8_0, src, dst, nb * AM_QK);
}

static void sc_q4_0_to_f32(const void *src, float *dst, int64_t nb) {
    am_dequant_row(AM_TYPE_Q4_0, src, dst, nb * AM_QK);
}

static void sc_scores(const float *q, int nrep, int hd, const float *k, int cnt, float scale, float *s, int ld) {
    for (int r = 0; r < nrep; r++)
        for (int i = 0; i < cnt; i++) {
            float d = 0;
            for (int c = 0; c < hd; c++) d += q[(int64_t)r * hd + c] * k[(int64_t)i * hd + c];
            s[(int64_t)r * ld + i] = d * scale;
        }
}

static float sc_exp_sum(float *s, int n, float m) {
    float sum = 0;
    for (int i = 0; i < n; i++) sum += (s[i] = expf(s[i] - m));
    return sum;
}

static void sc_accum(float *acc, const float *corr, int nrep, int hd, const float *p, int ld, const float *v,
                     int cnt) {
    for (int r = 0; r < nrep; r++) {
        float *a = acc + (int64_t)r * hd;
        for (int c = 0; c < hd; c++) a[c] *= corr[r];
        for (int i = 0; i < cnt; i++) {
            float pi = p[(int64_t)r * ld + i];
            for (int c = 0; c < hd; c++) a[c] += pi * v[(int64_t)i * hd + c];
        }
    }
}

static void sc_silu_mul(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void sc_gelu_mul(float *g, const float *u, int64_t n) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float x = g[i];
        g[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * u[i];
    }
}

void eng_att_kern_scalar(eng_att_kern *k) {
    pthread_once(&f16_once, f16_init);
    k->silu_mul = sc_silu_mul;
    k->gelu_mul = sc_gelu_mul;
    k->f16_to_f32 = sc_f16_to_f32;
    k->f32_to_f16 = sc_f32_to_f16;
    k->q8_0_to_f32 = sc_q8_0_to_f32;
    k->q4_0_to_f32 = sc_q4_0_to_f32;
    k->scores = sc_scores;
    k->exp_sum = sc_exp_sum;
    k->accum = sc_accum;
}

static eng_att_kern g_kern;
static pthread_once_t g_kern_once = PTHREAD_ONCE_INIT;

static void kern_init(void) {
    eng_att_kern_scalar(&g_kern);
    const char *isa = am_compute_isa();
    if (!strcmp(isa, "avx2")) eng_att_kern_avx2(&g_kern);
    if (!strcmp(isa, "avx512")) {
        eng_att_kern_avx2(&g_kern); /* the loops AVX-512 has no own version of */
        eng_att_kern_avx512(&g_kern);
    }
}

const eng_att_kern *eng_att_kern_get(void) {
    pthread_once(&g_kern_once, kern_init);
    return &g_kern;
}

/* dst[r][0..hd) = rows [r0, r0+cnt) of the row array at base (element type
 * ty, row_bytes per row): only these rows are decoded. */
static void load_rows(const eng_att_kern *kk, float *dst, const char *base, size_t row_bytes, int r0, int cnt,
                      int hd, am_type ty) {
    const char *src = base + (size_t)r0 * row_bytes;
    switch (ty) {
    case AM_TYPE_F32: memcpy(dst, src, (size_t)cnt * hd * sizeof(float)); break;
    case AM_TYPE_F16: kk->f16_to_f32((const uint16_t *)src, dst, (int64_t)cnt * hd); break;
    /* rows are whole quant blocks back to back, so cnt rows are one run */
    case AM_TYPE_Q8_0: kk->q8_0_to_f32(src, dst, (int64_t)cnt * hd / AM_QK); break;
    case AM_TYPE_Q4_0: kk->q4_0_to_f32(src, dst, (int64_t)cnt * hd / AM_QK); break;
    default: am_dequant_row(ty, src, dst, (int64_t)cnt * hd); break;
    }
}

/* ---- attention ------------------------------------------------------------ */

typedef struct {
    am_engine *e;
    int layer;
    int n_tiles;
    int n_units;
    atomic_int next;
} att_job;

/* One unit: kv head h for the tile of up to ENG_ATT_TILE consecutive tokens
 * of one sequence starting at batch index t0. Each K/V block row is converted
 * to float once for the whole tile; every token keeps its own online-softmax
 * state and sees only its own slots [lo, hi] of the block. */
static void att_unit(att_job *j, float *scratch, int t0, int nt, int h) {
    am_engine *e = j->e;
    const am_hparams *hp = &e->m->hp;
    const int hd = hp->head_dim, nrep = hp->n_head / hp->n_head_kv;
    const int bt = e->p.kv_block_tokens;
    const am_kv *kv = e->kv;
    const int window = hp->layer_swa[j->layer] ? hp->sliding_window : 0;
    const float scale = hp->query_scale, cap = hp->attn_logit_softcap;
    const eng_att_kern *kk = eng_att_kern_get();

    float *kbuf = scratch;                        /* [bt][hd] */
    float *vbuf = kbuf + (size_t)bt * hd;         /* [bt][hd] */
    float *sc = vbuf + (size_t)bt * hd;           /* [nrep][bt] scores, then probabilities */
    float *acc = sc + (size_t)nrep * bt;          /* [nt][nrep][hd] */
    float *mx = acc + (size_t)ENG_ATT_TILE * nrep * hd; /* [nt][nrep] running max */
    float *sum = mx + (size_t)ENG_ATT_TILE * nrep;      /* [nt][nrep] running sum */
    float *corr = sum + (size_t)ENG_ATT_TILE * nrep;    /* [nrep] rescale for this block */

    const int32_t seq = e->tok[t0].seq;
    int64_t lo_all = INT64_MAX, hi_all = 0;
    for (int k = 0; k < nt; k++) {
        int64_t hi = e->tok[t0 + k].slot, lo = window > 0 && hi - window + 1 > 0 ? hi - window + 1 : 0;
        lo_all = lo < lo_all ? lo : lo_all;
        hi_all = hi > hi_all ? hi : hi_all;
    }
    for (int i = 0; i < nt * nrep; i++) {
        mx[i] = -INFINITY;
        sum[i] = 0;
    }
    memset(acc, 0, (size_t)nt * nrep * hd * sizeof(float));

    for (int64_t b = lo_all / bt; b <= hi_all / bt; b++) {
        int64_t b0 = b * bt; /* slot of row 0 */
        int32_t id = am_kv_seq_block(kv, seq, j->layer, b0);
        const char *blk = am_kv_block_data_const(kv, id);
        const am_type tk = am_kv_block_type_k(kv, id), tv = am_kv_block_type_v(kv, id);
        const size_t rk = am_type_row_bytes(tk, hd), rv = am_type_row_bytes(tv, hd);
        const char *vblk = blk + am_kv_block_v_offset(kv, id);
        int r0 = (int)(lo_all > b0 ? lo_all - b0 : 0);
        int r1 = (int)(hi_all < b0 + bt - 1 ? hi_all - b0 : bt - 1);
        load_rows(kk, kbuf + (size_t)r0 * hd, blk + (size_t)h * bt * rk, rk, r0, r1 - r0 + 1, hd, tk);
        load_rows(kk, vbuf + (size_t)r0 * hd, vblk + (size_t)h * bt * rv, rv, r0, r1 - r0 + 1, hd, tv);
        for (int k = 0; k < nt; k++) {
            int64_t hi = e->tok[t0 + k].slot, lo = window > 0 && hi - window + 1 > 0 ? hi - window + 1 : 0;
            if (hi < b0 || lo > b0 + bt - 1) continue;
            int a0 = (int)(lo > b0 ? lo - b0 : 0), a1 = (int)(hi < b0 + bt - 1 ? hi - b0 : bt - 1);
            int cnt = a1 - a0 + 1;
            const float *q = e->q + ((size_t)(t0 + k) * hp->n_head + (size_t)h * nrep) * hd;
            float *m_k = mx + (size_t)k * nrep, *s_k = sum + (size_t)k * nrep;
            kk->scores(q, nrep, hd, kbuf + (size_t)a0 * hd, cnt, scale, sc, bt);
            for (int r = 0; r < nrep; r++) {
                float *s = sc + (size_t)r * bt;
                if (cap > 0)
                    for (int i = 0; i < cnt; i++) s[i] = cap * tanhf(s[i] / cap);
                float m = m_k[r];
                for (int i = 0; i < cnt; i++) m = s[i] > m ? s[i] : m;
                corr[r] = expf(m_k[r] - m); /* 0 on the first block (max = -inf) */
                s_k[r] = s_k[r] * corr[r] + kk->exp_sum(s, cnt, m);
                m_k[r] = m;
            }
            kk->accum(acc + (size_t)k * nrep * hd, corr, nrep, hd, sc, bt, vbuf + (size_t)a0 * hd, cnt);
        }
    }
    for (int k = 0; k < nt; k++) {
        float *out = e->att + ((size_t)(t0 + k) * hp->n_head + (size_t)h * nrep) * hd;
        const float *a = acc + (size_t)k * nrep * hd;
        for (int r = 0; r < nrep; r++) {
            float inv = 1.0f / sum[(size_t)k * nrep + r];
            for (int c = 0; c < hd; c++) out[(size_t)r * hd + c] = a[(size_t)r * hd + c] * inv;
        }
    }
}

static void att_worker(void *ctx, int ith, int nth) {
    (void)nth;
    att_job *j = ctx;
    am_engine *e = j->e;
    const int nkv = e->m->hp.n_head_kv;
    float *scratch = e->att_scratch + (size_t)ith * e->att_scratch_floats;
    for (;;) {
        int u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= j->n_units) break;
        int tile = u / nkv, h = u % nkv;
        int t0 = e->tile_start[tile];
        att_unit(j, scratch, t0, e->tile_start[tile + 1] - t0, h);
    }
}

/* Cuts the batch into tiles of consecutive tokens of one sequence with
 * consecutive slots (a prefill chunk; a decode step is a tile of one). */
static int make_tiles(am_engine *e, int n) {
    int nt = 0;
    for (int t = 0; t < n; t++) {
        bool cont = t > 0 && e->tok[t].seq == e->tok[t - 1].seq && e->tok[t].slot == e->tok[t - 1].slot + 1 &&
                    t - e->tile_start[nt - 1] < ENG_ATT_TILE;
        if (!cont) e->tile_start[nt++] = t;
    }
    e->tile_start[nt] = n;
    return nt;
}

void eng_attention(am_engine *e, int layer, int n) {
    att_job j = {.e = e, .layer = layer};
    j.n_tiles = make_tiles(e, n);
    j.n_units = j.n_tiles * e->m->hp.n_head_kv;
    atomic_init(&j.next, 0);
    am_pool_run(e->pool, att_worker, &j);
}

/* Writes one row of hd floats as type ty. */
static void store_row(const eng_att_kern *kk, void *dst, const float *src, int hd, am_type ty) {
    switch (ty) {
    case AM_TYPE_F32: memcpy(dst, src, (size_t)hd * sizeof(float)); break;
    case AM_TYPE_F16: kk->f32_to_f16(src, dst, hd); break;
    default: am_quantize_row(ty, src, dst, hd); break;
    }
}

void eng_kv_store(am_engine *e, int layer, int n) {
    const am_hparams *hp = &e->m->hp;
    const int hd = hp->head_dim;
    const eng_att_kern *kk = eng_att_kern_get();
    for (int t = 0; t < n; t++) {
        const eng_tok *tk = &e->tok[t];
        int32_t id = am_kv_seq_block(e->kv, tk->seq, layer, tk->slot);
        const am_type ty_k = am_kv_block_type_k(e->kv, id), ty_v = am_kv_block_type_v(e->kv, id);
        for (int h = 0; h < hp->n_head_kv; h++) {
            const float *ks = e->k + ((size_t)t * hp->n_head_kv + h) * hd;
            const float *vs = e->v + ((size_t)t * hp->n_head_kv + h) * hd;
            store_row(kk, am_kv_k_row(e->kv, tk->seq, layer, tk->slot, h), ks, hd, ty_k);
            store_row(kk, am_kv_v_row(e->kv, tk->seq, layer, tk->slot, h), vs, hd, ty_v);
        }
    }
}
