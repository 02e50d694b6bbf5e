/*
 * ops.c — the engine's row-wise operations between matmuls: RMSNorm, RoPE
 * (tables and rotation), gated activations. Float32 throughout, following
 * the order of operations of the HF reference so rounding matches closely.
 * Owns no state beyond what the engine passes in; never allocates.
 */
#include <math.h>
#include <string.h>

#include "engine/att_kern.h"
#include "engine/engine_impl.h"

/* ---- RMSNorm ----------------------------------------------------------- */

typedef struct {
    float *dst;
    const float *src, *w;
    int n_rows, dim, stride;
    float eps;
} norm_job;

static void norm_rows(float *dst, const float *src, const float *w, int dim, float eps) {
    double ss = 0;
    for (int i = 0; i < dim; i++) ss += (double)src[i] * src[i];
    float mean = (float)(ss / dim);
    float r = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < dim; i++) dst[i] = (src[i] * r) * w[i];
}

static void norm_worker(void *ctx, int ith, int nth) {
    norm_job *j = ctx;
    int a = (int)((int64_t)j->n_rows * ith / nth), b = (int)((int64_t)j->n_rows * (ith + 1) / nth);
    for (int r = a; r < b; r++)
        norm_rows(j->dst + (size_t)r * j->stride, j->src + (size_t)r * j->stride, j->w, j->dim, j->eps);
}

/* dst[r][0..dim) = rmsnorm(src[r]) * w for n_rows rows `stride` floats apart
 * (stride = dim for plain rows; per-head norms use dim = head_dim). dst may
 * equal src. */
void eng_rmsnorm_rows(am_engine *e, float *dst, const float *src, const float *w, int n_rows,
                      int dim, int stride) {
    norm_job j = {dst, src, w, n_rows, dim, stride, e->m->hp.norm_eps};
    if ((int64_t)n_rows * dim < 16384)
        norm_worker(&j, 0, 1);
    else
        am_pool_run(e->pool, norm_worker, &j);
}

/* ---- RoPE -------------------------------------------------------------- */

/* inv_freq[i] = 1 / base^(2i/d) / freq_factor[i] (/ rope_scale on global
 * layers), rounded to float the way HF builds its float32 inv_freq; with
 * bf16, rounded once more to bfloat16 as HF's buffer is when the checkpoint
 * is loaded in its bf16 dtype (the reference logits carry this rounding:
 * without it the error grows linearly with the distance between positions,
 * to ~1e-2 relative at 300 tokens; see INTERNALS.md "Engine"). */
void eng_rope_inv_freq(const am_hparams *hp, bool local, bool bf16, float *out) {
    int half = hp->head_dim / 2;
    double base = local ? hp->rope_base_local : hp->rope_base;
    for (int i = 0; i < half; i++) {
        float ex = (float)(2 * i) / (float)hp->head_dim;
        float p = (float)pow(base, (double)ex);
        float f = 1.0f / p;
        if (!local) {
            if (hp->rope_freq_factors) f = f / hp->rope_freq_factors[i];
            if (hp->rope_scale > 0 && hp->rope_scale != 1.0f) f = f / hp->rope_scale;
        }
        if (bf16) f = am_bf16_to_f32(am_f32_to_bf16(f));
        out[i] = f;
    }
}

static void fill_cs(float *cs, const float *inv, int half, int64_t pos) {
    float fp = (float)pos;
    for (int i = 0; i < half; i++) {
        /* HF: angle = float32(pos * inv_freq), then float32 cos/sin of it. */
        float ang = fp * inv[i];
        cs[2 * i] = (float)cos((double)ang);
        cs[2 * i + 1] = (float)sin((double)ang);
    }
}

/* Cos/sin tables for the n batch tokens (both rope flavours when needed). */
void eng_rope_tables(am_engine *e, int n) {
    const am_hparams *hp = &e->m->hp;
    int half = hp->head_dim / 2;
    bool any_local = false;
    for (int l = 0; l < hp->n_layer; l++) any_local |= hp->layer_swa[l];
    for (int t = 0; t < n; t++) {
        fill_cs(e->cs_global + (size_t)t * half * 2, e->inv_freq_global, half, e->tok[t].pos);
        if (any_local)
            fill_cs(e->cs_local + (size_t)t * half * 2, e->inv_freq_local, half, e->tok[t].pos);
    }
}

/* Rotates n_heads vectors of head_dim in x by the table cs ([half][2]). */
void eng_rope_apply(float *x, int n_heads, int head_dim, const float *cs, am_rope_style style) {
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        if (style == AM_ROPE_NEOX) {
            for (int i = 0; i < half; i++) {
                float c = cs[2 * i], s = cs[2 * i + 1];
                float a = v[i], b = v[i + half];
                v[i] = a * c - b * s;
                v[i + half] = b * c + a * s;
            }
        } else {
            for (int i = 0; i < half; i++) {
                float c = cs[2 * i], s = cs[2 * i + 1];
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * c - b * s;
                v[2 * i + 1] = b * c + a * s;
            }
        }
    }
}

/* ---- gated activations -------------------------------------------------- */

typedef struct {
    float *gate;
    const float *up;
    int64_t n;
    am_act act;
} glu_job;

static void glu_worker(void *ctx, int ith, int nth) {
    glu_job *j = ctx;
    int64_t a = j->n * ith / nth, b = j->n * (ith + 1) / nth;
    const eng_att_kern *k = eng_att_kern_get();
    (j->act == AM_ACT_SILU ? k->silu_mul : k->gelu_mul)(j->gate + a, j->up + a, b - a);
}

/* gate[i] = act(gate[i]) * up[i] for i < n. */
void eng_glu(am_engine *e, float *gate, const float *up, int64_t n) {
    glu_job j = {gate, up, n, e->m->hp.act};
    if (n < 8192)
        glu_worker(&j, 0, 1);
    else
        am_pool_run(e->pool, glu_worker, &j);
}
