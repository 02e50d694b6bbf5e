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

#include "engine/engine_impl.h"

static float f16_table[65536];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;

static void f16_init(void) {
    for (uint32_t i = 0; i < 65536; i++) f16_table[i] = am_f16_to_f32((uint16_t)i);
}

/* dst[r][0..hd) = block rows [r0, r0+cnt) of head_base (element type ty). */
static void load_rows(float *dst, const char *base, size_t row_bytes, int r0, int cnt, int hd,
                      am_type ty) {
    if (ty == AM_TYPE_F32) {
        memcpy(dst, base + (size_t)r0 * row_bytes, (size_t)cnt * hd * sizeof(float));
        return;
    }
    const uint16_t *src = (const uint16_t *)(base + (size_t)r0 * row_bytes);
    for (int64_t i = 0, n = (int64_t)cnt * hd; i < n; i++) dst[i] = f16_table[src[i]];
}

typedef struct {
    am_engine *e;
    int layer;
    int n_units;
    atomic_int next;
} att_job;

static void att_worker(void *ctx, int ith, int nth) {
    (void)nth;
    att_job *j = ctx;
    am_engine *e = j->e;
    const am_hparams *hp = &e->m->hp;
    const int hd = hp->head_dim, nkv = hp->n_head_kv, nrep = hp->n_head / hp->n_head_kv;
    const int bt = e->p.kv_block_tokens;
    const am_kv *kv = e->kv;
    const size_t rb = am_kv_row_bytes(kv), half_block = am_kv_block_bytes(kv) / 2;
    const am_type ty = am_kv_type(kv);
    const int window = hp->layer_swa[j->layer] ? hp->sliding_window : 0;
    const float scale = hp->query_scale, cap = hp->attn_logit_softcap;

    float *kbuf = e->att_scratch + (size_t)ith * e->att_scratch_floats;
    float *vbuf = kbuf + (size_t)bt * hd;
    float *sc = vbuf + (size_t)bt * hd;  /* [nrep][bt] */
    float *acc = sc + (size_t)nrep * bt; /* [nrep][hd] */
    float *mx = acc + (size_t)nrep * hd; /* [nrep] */
    float *sum = mx + nrep;              /* [nrep] */

    for (;;) {
        int u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= j->n_units) break;
        int t = u / nkv, h = u % nkv;
        const eng_tok *tk = &e->tok[t];
        int64_t hi = tk->slot, lo = 0;
        if (window > 0 && hi - window + 1 > 0) lo = hi - window + 1;
        const float *q = e->q + ((size_t)t * hp->n_head + (size_t)h * nrep) * hd;
        for (int r = 0; r < nrep; r++) {
            mx[r] = -INFINITY;
            sum[r] = 0;
        }
        memset(acc, 0, (size_t)nrep * hd * sizeof(float));

        for (int64_t b = lo / bt; b <= hi / bt; b++) {
            int32_t id = am_kv_seq_block(kv, tk->seq, j->layer, b * bt);
            const char *blk = am_kv_block_data_const(kv, id);
            int r0 = (int)(b * bt < lo ? lo - b * bt : 0);
            int r1 = (int)((b + 1) * bt - 1 > hi ? hi - b * bt : bt - 1);
            int cnt = r1 - r0 + 1;
            load_rows(kbuf, blk + (size_t)h * bt * rb, rb, r0, cnt, hd, ty);
            load_rows(vbuf, blk + half_block + (size_t)h * bt * rb, rb, r0, cnt, hd, ty);
            for (int r = 0; r < nrep; r++) {
                const float *qr = q + (size_t)r * hd;
                float *s = sc + (size_t)r * bt;
                float m = mx[r];
                for (int i = 0; i < cnt; i++) {
                    const float *kr = kbuf + (size_t)i * hd;
                    float d = 0;
                    for (int c = 0; c < hd; c++) d += qr[c] * kr[c];
                    d *= scale;
                    if (cap > 0) d = cap * tanhf(d / cap);
                    s[i] = d;
                    if (d > m) m = d;
                }
                float corr = expf(mx[r] - m); /* 0 on the first block (mx = -inf) */
                float *a = acc + (size_t)r * hd;
                if (corr != 1.0f)
                    for (int c = 0; c < hd; c++) a[c] *= corr;
                float l = sum[r] * corr;
                for (int i = 0; i < cnt; i++) {
                    float p = expf(s[i] - m);
                    l += p;
                    const float *vr = vbuf + (size_t)i * hd;
                    for (int c = 0; c < hd; c++) a[c] += p * vr[c];
                }
                mx[r] = m;
                sum[r] = l;
            }
        }
        float *out = e->att + ((size_t)t * hp->n_head + (size_t)h * nrep) * hd;
        for (int r = 0; r < nrep; r++) {
            float inv = 1.0f / sum[r];
            for (int c = 0; c < hd; c++) out[(size_t)r * hd + c] = acc[(size_t)r * hd + c] * inv;
        }
    }
}

void eng_attention(am_engine *e, int layer, int n) {
    pthread_once(&f16_once, f16_init);
    att_job j = {.e = e, .layer = layer, .n_units = n * e->m->hp.n_head_kv};
    atomic_init(&j.next, 0);
    am_pool_run(e->pool, att_worker, &j);
}

void eng_kv_store(am_engine *e, int layer, int n) {
    const am_hparams *hp = &e->m->hp;
    const int hd = hp->head_dim;
    const am_type ty = am_kv_type(e->kv);
    for (int t = 0; t < n; t++) {
        const eng_tok *tk = &e->tok[t];
        for (int h = 0; h < hp->n_head_kv; h++) {
            const float *ks = e->k + ((size_t)t * hp->n_head_kv + h) * hd;
            const float *vs = e->v + ((size_t)t * hp->n_head_kv + h) * hd;
            void *kd = am_kv_k_row(e->kv, tk->seq, layer, tk->slot, h);
            void *vd = am_kv_v_row(e->kv, tk->seq, layer, tk->slot, h);
            if (ty == AM_TYPE_F32) {
                memcpy(kd, ks, (size_t)hd * sizeof(float));
                memcpy(vd, vs, (size_t)hd * sizeof(float));
            } else {
                uint16_t *k16 = kd, *v16 = vd;
                for (int c = 0; c < hd; c++) {
                    k16[c] = am_f32_to_f16(ks[c]);
                    v16[c] = am_f32_to_f16(vs[c]);
                }
            }
        }
    }
}
