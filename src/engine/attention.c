/*
 * attention.c — attention of each batch token over its own sequence's paged
 * KV, and storing the batch's K/V into the blocks.
 *
 * Work is split into units (tile of up to ENG_ATT_TILE tokens of one
 * sequence, kv head): the tile's tokens and the n_head/n_head_kv query heads
 * that share the kv head are the unit's query rows, done together so each
 * K/V block row is converted to float once per unit, and each block is
 * three small matrix products over all rows (att_kern.h: scores, an online
 * softmax step, P.V). A decode step at a level with its own qk_rows_x /
 * pv_x (AVX-512) converts nothing: K/V rows are read in their stored type
 * and decoded in registers, so the cache is read once and not copied.
 * Softmax is computed online block by block (running max and sum,
 * rescaled accumulator) in float; this equals the two-pass
 * max-subtracted softmax up to rounding and needs no buffer as long as the
 * context. Units are handed out through an atomic counter because causal
 * prefill makes their costs unequal.
 * Reads the KV tables, never changes them; writes only e->att (attention)
 * or the reserved slots of the batch (store).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
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

static void sc_qk_t(const float *qt, int rp, int hd, const float *k, int cnt, float *st) {
    for (int i = 0; i < cnt; i++)
        for (int r = 0; r < rp; r++) {
            float d = 0;
            for (int c = 0; c < hd; c++) d += qt[(int64_t)c * rp + r] * k[(int64_t)i * hd + c];
            st[(int64_t)i * rp + r] = d;
        }
}

static void sc_qk_rows(const float *q, int nr, int hd, const float *k, int cnt, float *st, int rp) {
    for (int i = 0; i < cnt; i++)
        for (int r = 0; r < nr; r++) {
            float d = 0;
            for (int c = 0; c < hd; c++) d += q[(int64_t)r * hd + c] * k[(int64_t)i * hd + c];
            st[(int64_t)i * rp + r] = d;
        }
}

static void sc_softmax_t(float *st, int rp, int cnt, const int32_t *lo, const int32_t *hi, float *mx, float *sum,
                         float *corr) {
    for (int r = 0; r < rp; r++) {
        float m = mx[r];
        for (int i = 0; i < cnt; i++) {
            float *x = st + (int64_t)i * rp + r;
            if (i < lo[r] || i > hi[r]) *x = -INFINITY;
            m = *x > m ? *x : m;
        }
        float u = m == -INFINITY ? 0 : m, s = 0;
        for (int i = 0; i < cnt; i++) {
            float *x = st + (int64_t)i * rp + r;
            s += (*x = expf(*x - u));
        }
        corr[r] = expf(mx[r] - u);
        sum[r] = sum[r] * corr[r] + s;
        mx[r] = m;
    }
}

static void sc_pv_t(float *acc, int nr, int hd, const float *st, int rp, const float *corr, const float *v, int cnt) {
    for (int r = 0; r < nr; r++) {
        float *a = acc + (int64_t)r * hd;
        for (int c = 0; c < hd; c++) a[c] *= corr[r];
        for (int i = 0; i < cnt; i++) {
            float p = st[(int64_t)i * rp + r];
            for (int c = 0; c < hd; c++) a[c] += p * v[(int64_t)i * hd + c];
        }
    }
}

/* Value c of a row of type ty at p (eng_att_direct_type), one element at a
 * time: the reference the SIMD levels' register decoders are tested
 * against. */
static float sc_elem(const char *p, am_type ty, int c) {
    switch (ty) {
    case AM_TYPE_F16: {
        uint16_t h;
        memcpy(&h, p + 2 * (size_t)c, 2);
        return f16_table[h];
    }
    case AM_TYPE_Q8_0: {
        const am_block_q8_0 *b = (const am_block_q8_0 *)p + c / AM_QK;
        return f16_table[b->d] * b->qs[c % AM_QK];
    }
    case AM_TYPE_Q4_0: {
        const am_block_q4_0 *b = (const am_block_q4_0 *)p + c / AM_QK;
        int j = c % AM_QK, q = j < AM_QK / 2 ? b->qs[j] & 0xF : b->qs[j - AM_QK / 2] >> 4;
        return f16_table[b->d] * (float)(q - 8);
    }
    default: {
        float x;
        memcpy(&x, p + 4 * (size_t)c, 4);
        return x;
    }
    }
}

static void sc_qk_rows_x(const float *q, int nr, int hd, const void *k, size_t rb, am_type ty, int cnt, float *st,
                         int rp) {
    for (int i = 0; i < cnt; i++)
        for (int r = 0; r < nr; r++) {
            float d = 0;
            for (int c = 0; c < hd; c++) d += q[(int64_t)r * hd + c] * sc_elem((const char *)k + (size_t)i * rb, ty, c);
            st[(int64_t)i * rp + r] = d;
        }
}

static void sc_pv_x(float *acc, int nr, int hd, const float *st, int rp, const float *corr, const void *v, size_t rb,
                    am_type ty, int cnt) {
    for (int r = 0; r < nr; r++) {
        float *a = acc + (int64_t)r * hd;
        for (int c = 0; c < hd; c++) a[c] *= corr[r];
        for (int i = 0; i < cnt; i++) {
            float p = st[(int64_t)i * rp + r];
            for (int c = 0; c < hd; c++) a[c] += p * sc_elem((const char *)v + (size_t)i * rb, ty, c);
        }
    }
}

void eng_att_quant_q(const float *q, int nr, int hd, const eng_att_qq *qq) {
    const int nb = hd / AM_QK;
    for (int r = 0; r < nr; r++)
        for (int b = 0; b < nb; b++) {
            const float *x = q + (int64_t)r * hd + b * AM_QK;
            float amax = 0;
            for (int c = 0; c < AM_QK; c++) amax = fabsf(x[c]) > amax ? fabsf(x[c]) : amax;
            const float d = amax / 127, id = d > 0 ? 1 / d : 0;
            int8_t *o = qq->qs + (int64_t)r * hd + b * AM_QK;
            int32_t s = 0;
            for (int c = 0; c < AM_QK; c++) {
                float v = nearbyintf(x[c] * id);
                o[c] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
                s += o[c];
            }
            qq->d[r * nb + b] = d;
            qq->sum[r * nb + b] = s;
        }
    if (hd % 64) return;
    /* per two blocks: the low halves of both, then the high halves */
    for (int r = 0; r < nr; r++)
        for (int c0 = 0; c0 < hd; c0 += 64) {
            const int8_t *in = qq->qs + (int64_t)r * hd + c0;
            int8_t *o = qq->qs4 + (int64_t)r * hd + c0;
            memcpy(o, in, 16);
            memcpy(o + 16, in + 32, 16);
            memcpy(o + 32, in + 16, 16);
            memcpy(o + 48, in + 48, 16);
        }
}

/* Integer dot products per key block, combined by fmaf in block order:
 * the SIMD levels produce these bits exactly. */
static void sc_qk_rows_q8(const eng_att_qq *qq, int nr, int hd, const void *k, size_t rb, am_type ty, int cnt,
                          float *st, int rp) {
    const int nb = hd / AM_QK;
    for (int i = 0; i < cnt; i++)
        for (int r = 0; r < nr; r++) {
            const int8_t *qs = qq->qs + (int64_t)r * hd;
            float s = 0;
            for (int b = 0; b < nb; b++) {
                int32_t dot = 0;
                uint16_t dh;
                if (ty == AM_TYPE_Q8_0) {
                    const am_block_q8_0 *kb = (const am_block_q8_0 *)((const char *)k + (size_t)i * rb) + b;
                    for (int c = 0; c < AM_QK; c++) dot += kb->qs[c] * qs[b * AM_QK + c];
                    dh = kb->d;
                } else {
                    const am_block_q4_0 *kb = (const am_block_q4_0 *)((const char *)k + (size_t)i * rb) + b;
                    for (int c = 0; c < AM_QK / 2; c++)
                        dot += ((kb->qs[c] & 0xF) - 8) * qs[b * AM_QK + c] +
                               ((kb->qs[c] >> 4) - 8) * qs[b * AM_QK + c + AM_QK / 2];
                    dh = kb->d;
                }
                s = fmaf((float)dot, f16_table[dh] * qq->d[r * nb + b], s);
            }
            st[(int64_t)i * rp + r] = s;
        }
}

static void sc_softmax_r4(float *st, int cnt, int l, int u, float *mx, float *sum, float *corr) {
    const int32_t lo[4] = {l, l, l, l}, hi[4] = {u, u, u, u};
    sc_softmax_t(st, 4, cnt, lo, hi, mx, sum, corr);
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
    k->qk_t = sc_qk_t;
    k->qk_rows = sc_qk_rows;
    k->softmax_t = sc_softmax_t;
    k->pv_t = sc_pv_t;
    k->qk_rows_x = sc_qk_rows_x;
    k->pv_x = sc_pv_x;
    k->softmax_r4 = sc_softmax_r4;
    k->qk_rows_q8 = sc_qk_rows_q8;
    k->qk_int8 = 0;
    k->direct = 0;
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
    /* AGENTMEM_ATT_INT8=0: float scores for quantized keys too (exact
     * comparisons, measurements) */
    const char *s = getenv("AGENTMEM_ATT_INT8");
    if (s && !strcmp(s, "0")) g_kern.qk_int8 = 0;
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

static size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Above this many query rows per unit, scores go through qk_t (rows in
 * lanes); at or below (decode: nrep rows), qk_rows (keys folded into lanes)
 * does fewer operations. Measured with hd 64, nrep 4. */
#define ENG_ATT_FEW_ROWS 8

/* Floats of a unit's int8 query (eng_att_qq) for up to ENG_ATT_FEW_ROWS
 * rows: qs, qs4 [rows][hd] int8, then d, sum [rows][hd/32]. */
static size_t qq_floats(int hd) {
    return up16((size_t)ENG_ATT_FEW_ROWS * hd * 2 / sizeof(float)) + 2 * up16((size_t)ENG_ATT_FEW_ROWS * (hd / AM_QK));
}

/* The scratch of one thread, in floats, each piece 64-byte aligned:
 * kbuf, vbuf [bt][hd]; qt [hd][rp]; st [bt][rp]; acc [rp][hd]; mx, sum,
 * corr, lo, hi [rp] (lo, hi as int32), rp = ENG_ATT_TILE*nrep rounded up
 * to 16; then the int8 query (qq_floats). */
size_t eng_att_scratch_floats(int hd, int nrep, int bt) {
    size_t rp = up16((size_t)ENG_ATT_TILE * nrep);
    return 2 * up16((size_t)bt * hd) + up16((size_t)hd * rp) + up16((size_t)bt * rp) + up16(rp * hd) + 5 * rp +
           qq_floats(hd);
}

/* Asks for head h's K and V rows of the block holding `slot` while the
 * current block is computed: the rows of one head are a few KB inside a
 * block that holds every head, which the hardware prefetcher does not
 * follow across pages. Into L2 (hint 2), not L1: a burst of L1 prefetches
 * stalls on the fill buffers that the current block's loads need (measured:
 * f16 decode at 4K 28-29 ms -> 19-20 ms CPU). */
static void prefetch_head(const am_kv *kv, int seq, int layer, int64_t slot, int h, int bt, int hd) {
    int32_t id = am_kv_seq_block(kv, seq, layer, slot);
    const char *blk = am_kv_block_data_const(kv, id);
    const size_t rk = am_type_row_bytes(am_kv_block_type_k(kv, id), hd);
    const size_t rv = am_type_row_bytes(am_kv_block_type_v(kv, id), hd);
    const char *k = blk + (size_t)h * bt * rk, *v = blk + am_kv_block_v_offset(kv, id) + (size_t)h * bt * rv;
    for (size_t o = 0; o < (size_t)bt * rk; o += 64) __builtin_prefetch(k + o, 0, 2);
    for (size_t o = 0; o < (size_t)bt * rv; o += 64) __builtin_prefetch(v + o, 0, 2);
}

/* One unit: kv head h for the tile of up to ENG_ATT_TILE consecutive tokens
 * of one sequence starting at batch index t0. Its R = nt*nrep query rows
 * (row k*nrep + r: token k, query head h*nrep + r) are done together: each
 * K/V block row is converted to float once for the unit, and every block
 * is three small matrix products over all rows (scores, online softmax,
 * P.V) with the rows in vector lanes. Each row sees only its token's slots
 * [lo, hi]; blocks on the diagonal (or cut by a sliding window) mask the
 * rest inside softmax_t. A decode unit (few rows) with a direct level reads
 * the block's rows in place (qk_rows_x, pv_x) instead. */
static void att_unit(att_job *j, float *scratch, int t0, int nt, int h) {
    am_engine *e = j->e;
    const am_hparams *hp = &e->m->hp;
    const int hd = hp->head_dim, nrep = hp->n_head / hp->n_head_kv;
    const int bt = e->p.kv_block_tokens;
    const am_kv *kv = e->kv;
    const int window = hp->layer_swa[j->layer] ? hp->sliding_window : 0;
    const float scale = hp->query_scale, cap = hp->attn_logit_softcap;
    const eng_att_kern *kk = eng_att_kern_get();
    const int nr = nt * nrep, rp = (int)up16((size_t)nr), rpmax = (int)up16((size_t)ENG_ATT_TILE * nrep);

    float *kbuf = scratch;                             /* [bt][hd] */
    float *vbuf = kbuf + up16((size_t)bt * hd);        /* [bt][hd] */
    float *qt = vbuf + up16((size_t)bt * hd);          /* [hd][rp] */
    float *st = qt + up16((size_t)hd * rpmax);         /* [bt][rp] scores, then probabilities */
    float *acc = st + up16((size_t)bt * rpmax);        /* [nr][hd] */
    float *mx = acc + up16((size_t)rpmax * hd);        /* [rp] running max */
    float *sum = mx + rpmax;                           /* [rp] running sum */
    float *corr = sum + rpmax;                         /* [rp] rescale for this block */
    int32_t *lo = (int32_t *)(corr + rpmax);           /* [rp] visible keys of the block */
    int32_t *hi = lo + rpmax;
    /* the int8 query, made on the first Q8_0 / Q4_0 K block */
    int8_t *qqs = (int8_t *)(hi + rpmax);
    float *qqd = (float *)(hi + rpmax) + up16((size_t)ENG_ATT_FEW_ROWS * hd * 2 / sizeof(float));
    const eng_att_qq qq = {.qs = qqs,
                           .qs4 = qqs + (size_t)ENG_ATT_FEW_ROWS * hd,
                           .d = qqd,
                           .sum = (int32_t *)(qqd + up16((size_t)ENG_ATT_FEW_ROWS * (hd / AM_QK)))};
    const bool q8ok = nr <= ENG_ATT_FEW_ROWS && kk->direct && kk->qk_int8 && hd % 64 == 0;
    bool qq_ready = false;

    const int32_t seq = e->tok[t0].seq;
    int64_t lo_all = INT64_MAX, hi_all = 0;
    for (int k = 0; k < nt; k++) {
        int64_t th = e->tok[t0 + k].slot, tl = window > 0 && th - window + 1 > 0 ? th - window + 1 : 0;
        lo_all = tl < lo_all ? tl : lo_all;
        hi_all = th > hi_all ? th : hi_all;
    }
    /* few rows (a decode step): scores by qk_rows from row-major q in qt's
     * place; otherwise qt transposed for qk_t */
    const bool few = nr <= ENG_ATT_FEW_ROWS;
    for (int c = 0; c < hd; c++)
        for (int i = 0; i < rp; i++) {
            int k = i / nrep, r = i % nrep;
            float x = i < nr ? e->q[((size_t)(t0 + k) * hp->n_head + (size_t)h * nrep + r) * hd + c] * scale : 0;
            if (!few) qt[(size_t)c * rp + i] = x;
            else if (i < nr) qt[(size_t)i * hd + c] = x;
        }
    for (int i = 0; i < rp; i++) {
        mx[i] = -INFINITY;
        sum[i] = 0;
    }
    memset(acc, 0, (size_t)nr * hd * sizeof(float));

    for (int64_t b = lo_all / bt; b <= hi_all / bt; b++) {
        int64_t b0 = b * bt; /* slot of row 0 */
        int32_t id = am_kv_seq_block(kv, seq, j->layer, b0);
        const char *blk = am_kv_block_data_const(kv, id);
        const am_type tk = am_kv_block_type_k(kv, id), tv = am_kv_block_type_v(kv, id);
        const size_t rk = am_type_row_bytes(tk, hd), rv = am_type_row_bytes(tv, hd);
        const char *vblk = blk + am_kv_block_v_offset(kv, id);
        if (b < hi_all / bt) prefetch_head(kv, seq, j->layer, b0 + bt, h, bt, hd);
        int r0 = (int)(lo_all > b0 ? lo_all - b0 : 0);
        int r1 = (int)(hi_all < b0 + bt - 1 ? hi_all - b0 : bt - 1);
        int cnt = r1 - r0 + 1;
        const char *krow = blk + (size_t)h * bt * rk + (size_t)r0 * rk;
        const char *vrow = vblk + (size_t)h * bt * rv + (size_t)r0 * rv;
        /* decode: rows read in place (direct), else one float copy per block */
        const bool dk = few && kk->direct && eng_att_direct_type(tk);
        const bool dv = few && kk->direct && eng_att_direct_type(tv);
        if (!dk) load_rows(kk, kbuf, blk + (size_t)h * bt * rk, rk, r0, cnt, hd, tk);
        if (!dv) load_rows(kk, vbuf, vblk + (size_t)h * bt * rv, rv, r0, cnt, hd, tv);
        /* rows' visible keys, relative to slot b0 + r0 */
        for (int k = 0; k < nt; k++) {
            int64_t th = e->tok[t0 + k].slot, tl = window > 0 && th - window + 1 > 0 ? th - window + 1 : 0;
            int64_t a0 = tl - (b0 + r0), a1 = th - (b0 + r0);
            int32_t l = (int32_t)(a0 < 0 ? 0 : a0 > cnt ? cnt : a0);
            int32_t u = (int32_t)(a1 < -1 ? -1 : a1 >= cnt ? cnt - 1 : a1); /* l > u: nothing visible */
            for (int r = 0; r < nrep; r++) {
                lo[k * nrep + r] = l;
                hi[k * nrep + r] = u;
            }
        }
        for (int i = nr; i < rp; i++) {
            lo[i] = 1;
            hi[i] = 0;
        }
        /* one decode token's 4 rows read in place: scores dense [cnt][4] */
        const bool r4 = dk && dv && nt == 1 && nr == 4;
        const int srp = r4 ? 4 : rp;
        const bool ik = q8ok && (tk == AM_TYPE_Q8_0 || tk == AM_TYPE_Q4_0);
        if (ik && !qq_ready) {
            eng_att_quant_q(qt, nr, hd, &qq);
            qq_ready = true;
        }
        if (ik) kk->qk_rows_q8(&qq, nr, hd, krow, rk, tk, cnt, st, srp);
        else if (dk) kk->qk_rows_x(qt, nr, hd, krow, rk, tk, cnt, st, srp);
        else if (few) kk->qk_rows(qt, nr, hd, kbuf, cnt, st, rp);
        else kk->qk_t(qt, rp, hd, kbuf, cnt, st);
        if (cap > 0)
            for (int i = 0; i < cnt; i++)
                for (int r = 0; r < nr; r++) st[(size_t)i * srp + r] = cap * tanhf(st[(size_t)i * srp + r] / cap);
        if (r4) kk->softmax_r4(st, cnt, lo[0], hi[0], mx, sum, corr);
        else kk->softmax_t(st, rp, cnt, lo, hi, mx, sum, corr);
        if (dv) kk->pv_x(acc, nr, hd, st, srp, corr, vrow, rv, tv, cnt);
        else kk->pv_t(acc, nr, hd, st, rp, corr, vbuf, cnt);
    }
    for (int i = 0; i < nr; i++) {
        int k = i / nrep, r = i % nrep;
        float *out = e->att + ((size_t)(t0 + k) * hp->n_head + (size_t)h * nrep + r) * hd;
        float inv = 1.0f / sum[i];
        for (int c = 0; c < hd; c++) out[c] = acc[(size_t)i * hd + c] * inv;
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

/* Tiles of a chunk whose first slot is at least ENG_ATT_FAR take up to
 * ENG_ATT_TILE tokens (48: all of an agent turn's new tokens x 4 query
 * heads are 192 rows that share each K/V block's decoding and loop
 * overhead); nearer the start, where the causal diagonal is a large share
 * of a tile's blocks and a long tile would compute masked rows for
 * nothing, ENG_ATT_TILE_NEAR. Measured (llama-1b shape, one thread):
 * pp48 @ d4096 321 -> 287 ms of attention with 48; at depth 0 tiles of 48
 * cost 7.5 -> 10 ms, hence the cut. */
#define ENG_ATT_TILE_NEAR 16
#define ENG_ATT_FAR 512

/* Cuts the batch into tiles of consecutive tokens of one sequence with
 * consecutive slots (a prefill chunk; a decode step is a tile of one). */
static int make_tiles(am_engine *e, int n) {
    int nt = 0;
    for (int t = 0; t < n; t++) {
        bool cont = t > 0 && e->tok[t].seq == e->tok[t - 1].seq && e->tok[t].slot == e->tok[t - 1].slot + 1;
        if (cont) {
            int t0 = e->tile_start[nt - 1];
            cont = t - t0 < (e->tok[t0].slot >= ENG_ATT_FAR ? ENG_ATT_TILE : ENG_ATT_TILE_NEAR);
        }
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
