/* test_matmul.c — am_matmul at every ISA level this CPU has, for every weight type, on odd
 * shapes, against a double-precision reference. Errors are RMS over a token's outputs,
 * relative to sqrt(sum_r sum_i (w_ri x_i)^2), the natural size of dots of random terms
 * (relative to the outputs themselves, one near-zero output of a 1-row case means nothing).
 *  - exact: dequantized weights · the activations the kernels actually see (float32, or
 *    the Q8 blocks they are quantized to): only float summation order may differ: <= 2e-6
 *    (observed <= 1e-6);
 *  - physical: the same against unquantized activations, i.e. the Q8 activation error:
 *    <= 3e-2 (typical 5e-3..7e-3; single-row cases fluctuate). The outlier token, whose
 *    256-element Q8_K blocks are coarse by design, is skipped here.
 * BF16 weights' prefill at the avx512 level with am_compute_bf16_act() on (AM_ACT_BF16XT)
 * sees bf16-rounded activations: "exact" is then against those (products of bf16 are
 * exact in f32, so still only summation order: <= 2e-6), "physical" is the rounding of
 * the activations: 8 significant bits, relative error of one value <= 2^-8 = 3.9e-3, the
 * RMS over a dot of random terms ~1.1e-3 (uniform errors); a 1-row or 1-input case is one
 * draw of that (n_in 1 is one rounding: up to 3.9e-3). Held to BF16_PHYS_TOL 6e-3
 * (observed: 1.2e-3 over many rows, 4.8e-3 worst single row). check_case runs BF16 at
 * avx512 with the knob off and on. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "compute/blocks.h"
#include "compute/kernels.h"
#include "compute/matmul.h"
#include "compute/quant.h"
#include "test_util.h"

#define AM_ARRAY_LEN_(a) (sizeof(a) / sizeof((a)[0]))
#define EXACT_TOL 2e-6
#define PHYS_TOL 3e-2
#define BF16_PHYS_TOL 6e-3


static const am_type TYPES[] = {AM_TYPE_F32, AM_TYPE_F16, AM_TYPE_BF16, AM_TYPE_Q8_0,
                                AM_TYPE_Q4_0, AM_TYPE_Q4_K, AM_TYPE_Q5_K, AM_TYPE_Q6_K};
static const char *ISAS[] = {"scalar", "avx2", "avx512"};

/* The activations a kernel for type t sees, as floats. */
static void effective_x(am_type t, const float *x, float *xe, int64_t n) {
    if (t == AM_TYPE_F32 || t == AM_TYPE_F16 || t == AM_TYPE_BF16) {
        memcpy(xe, x, n * sizeof(float));
    } else if (t == AM_TYPE_Q4_0 || t == AM_TYPE_Q8_0) {
        am_q8a *q = malloc(sizeof(am_q8a) * (n / 32));
        am_quantize_q8a(x, q, n);
        for (int64_t i = 0; i < n; i++) xe[i] = q[i / 32].qs[i % 32] * q[i / 32].d;
        free(q);
    } else {
        am_q8k *q = malloc(sizeof(am_q8k) * (n / 256));
        am_quantize_q8k(x, q, n);
        for (int64_t i = 0; i < n; i++) xe[i] = q[i / 256].qs[i % 256] * q[i / 256].d;
        free(q);
    }
}

/* The bf16-activation path (kernels.h AM_ACT_BF16XT) runs for this call. */
static bool bf16_act_path(am_type t, int n_tok) {
    return t == AM_TYPE_BF16 && n_tok >= AM_XT_MIN_TOK && am_compute_bf16_act() && am_kernels_get()->mm_bf16xt;
}

static void bf16_round(const float *x, float *xb, int64_t n) {
    for (int64_t i = 0; i < n; i++) xb[i] = am_bf16_to_f32(am_f32_to_bf16(x[i]));
}

/* [3]: avx512 with bf16 activations (BF16 prefill only) */
typedef struct {
    double worst_exact[4], worst_phys[4];
} stats;

/* One random case; the double references are computed once and every ISA level checked. */
static void check_case(am_pool *pool, am_type t, int64_t n_in, int64_t n_out, int n_tok, stats *st) {
    size_t rb = am_type_row_bytes(t, n_in);
    float *wf = malloc(sizeof(float) * n_in * n_out), *wd = malloc(sizeof(float) * n_in * n_out);
    uint8_t *wq = malloc(rb * n_out);
    float *x = malloc(sizeof(float) * n_in * n_tok), *xe = malloc(sizeof(float) * n_in);
    float *y = malloc(sizeof(float) * n_out * n_tok);
    double *ref_ex = malloc(sizeof(double) * n_out * n_tok), *ref_ph = malloc(sizeof(double) * n_out * n_tok);
    double *ref_bx = malloc(sizeof(double) * n_out * n_tok); /* against bf16-rounded activations */
    float *xb = malloc(sizeof(float) * n_in);
    double *s_terms = calloc(n_tok, sizeof(double));
    for (int64_t i = 0; i < n_in * n_out; i++) wf[i] = am_test_gauss() * 0.05f;
    for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = am_test_gauss();
    /* one token with a large outlier channel, as real activations have */
    if (n_tok > 2) x[1 * n_in + 5 % n_in] = 60.0f;
    for (int64_t r = 0; r < n_out; r++) {
        am_quantize_row(t, wf + r * n_in, wq + r * rb, n_in);
        am_dequant_row(t, wq + r * rb, wd + r * n_in, n_in);
    }
    for (int tk = 0; tk < n_tok; tk++) {
        effective_x(t, x + tk * n_in, xe, n_in);
        bf16_round(x + tk * n_in, xb, n_in);
        for (int64_t r = 0; r < n_out; r++) {
            double ex = 0, ph = 0, bx = 0;
            for (int64_t i = 0; i < n_in; i++) {
                double term = (double)wd[r * n_in + i] * x[tk * n_in + i];
                ex += (double)wd[r * n_in + i] * xe[i];
                bx += (double)wd[r * n_in + i] * xb[i];
                ph += term;
                s_terms[tk] += term * term;
            }
            ref_ex[tk * n_out + r] = ex;
            ref_ph[tk * n_out + r] = ph;
            ref_bx[tk * n_out + r] = bx;
        }
    }
    am_tensor w = {.name = "w", .type = t, .n_dims = 2, .ne = {n_in, n_out, 1, 1}, .data = wq, .nbytes = rb * n_out};
    const int saved_knob = am_compute_bf16_act();
    for (int l = 0; l < 3; l++) {
        if (am_compute_set_isa(ISAS[l]) != 0) continue;
        for (int knob = 0; knob < 2; knob++) { /* BF16 at avx512: f32 and bf16 activations */
            if (knob && !(t == AM_TYPE_BF16 && l == 2)) break;
            if (t == AM_TYPE_BF16 && l == 2) am_compute_set_bf16_act(knob);
            const bool bx = bf16_act_path(t, n_tok);
            const int slot = bx ? 3 : l;
            const double *ref = bx ? ref_bx : ref_ex, phys_tol = bx ? BF16_PHYS_TOL : PHYS_TOL;
            for (int64_t i = 0; i < n_out * n_tok; i++) y[i] = NAN;
            am_matmul(pool, &w, x, n_tok, y);
            for (int tk = 0; tk < n_tok; tk++) {
                double e_ex = 0, e_ph = 0;
                for (int64_t r = 0; r < n_out; r++) {
                    double v = y[tk * n_out + r];
                    if (!(fabs(v) < 1e30)) v = 1e30; /* unwritten output (NaN) fails loudly */
                    e_ex += (v - ref[tk * n_out + r]) * (v - ref[tk * n_out + r]);
                    e_ph += (v - ref_ph[tk * n_out + r]) * (v - ref_ph[tk * n_out + r]);
                }
                e_ex = sqrt(e_ex / s_terms[tk]), e_ph = sqrt(e_ph / s_terms[tk]);
                if (n_tok > 2 && tk == 1) e_ph = 0; /* the outlier token */
                if (e_ex > st->worst_exact[slot]) st->worst_exact[slot] = e_ex;
                if (e_ph > st->worst_phys[slot]) st->worst_phys[slot] = e_ph;
                CHECKF(e_ex <= EXACT_TOL && e_ph <= phys_tol,
                       "%s%s %s n_in %lld n_out %lld n_tok %d token %d: exact %g phys %g", ISAS[l],
                       bx ? " bf16-act" : "", am_type_name(t), (long long)n_in, (long long)n_out, n_tok, tk, e_ex, e_ph);
            }
        }
    }
    am_compute_set_bf16_act(saved_knob);
    free(wf), free(wd), free(wq), free(x), free(xe), free(xb), free(y), free(ref_ex), free(ref_ph), free(ref_bx),
        free(s_terms);
}

/* Every level against the reference on ragged rows (1..130: tails of the 16- and 32-row
 * tiles) and token counts on both sides of the decode/prefill switch (8 tokens). Bugs it is
 * for: a wrong element order or offset in a kernel (e.g. the Q4_0 prefill repack taking the
 * high nibbles as elements 4g.. instead of 16+4g.., or cancelling the +8 offset with -7s),
 * and lost or extra tail rows (prefill stores masked by the wrong row count). */
static void test_all_isas(void) {
    static const int toks[] = {1, 2, 3, 5, 17, 70};
    static const int64_t outs[] = {1, 7, 37, 130};
    am_pool *pool = am_pool_create(2);
    for (int l = 0; l < 3; l++)
        if (am_compute_set_isa(ISAS[l]) != 0) fprintf(stderr, "  %s: not available on this CPU, skipped\n", ISAS[l]);
    for (size_t ti = 0; ti < AM_ARRAY_LEN_(TYPES); ti++) {
        stats st = {{0}, {0}};
        for (size_t a = 0; a < AM_ARRAY_LEN_(toks); a++)
            for (size_t b = 0; b < AM_ARRAY_LEN_(outs); b++) {
                int64_t n_in = (a + b) % 2 ? 512 : 768;
                check_case(a % 2 ? pool : NULL, TYPES[ti], n_in, outs[b], toks[a], &st);
            }
        for (int l = 0; l < 3; l++)
            if (am_compute_set_isa(ISAS[l]) == 0)
                fprintf(stderr, "  %-6s %-5s worst rel err: exact %.2e  vs float activations %.2e\n", ISAS[l],
                        am_type_name(TYPES[ti]), st.worst_exact[l], st.worst_phys[l]);
        if (st.worst_exact[3] > 0)
            fprintf(stderr, "  avx512 %-5s bf16 activations: exact %.2e  vs float activations %.2e [limit %.0e]\n",
                    am_type_name(TYPES[ti]), st.worst_exact[3], st.worst_phys[3], BF16_PHYS_TOL);
    }
    am_pool_free(pool);
}

/* Row lengths that are not multiples of the SIMD widths or of the k-blocks: any length for
 * float weights, odd numbers of 32-blocks for Q4_0/Q8_0 (k-block tails). */
static void test_odd_lengths(void) {
    static const int64_t f_in[] = {1, 17, 100, 300};
    static const int64_t q_in[] = {32, 96, 2080};
    static const int toks[] = {1, 5, 20};
    am_pool *pool = am_pool_create(2);
    for (int ti = 0; ti < 5; ti++) {
        stats st = {{0}, {0}};
        int nq = ti < 3 ? 4 : 3;
        for (int a = 0; a < nq; a++)
            for (int b = 0; b < 3; b++)
                check_case(b == 1 ? NULL : pool, TYPES[ti], ti < 3 ? f_in[a] : q_in[a], 21, toks[b], &st);
    }
    am_pool_free(pool);
}

/* A prefill-sized case across many chunks and both threads. */
static void test_large(void) {
    am_pool *pool = am_pool_create(2);
    for (size_t ti = 0; ti < AM_ARRAY_LEN_(TYPES); ti++) {
        stats st = {{0}, {0}};
        check_case(pool, TYPES[ti], 512, 300, 150, &st);
    }
    am_pool_free(pool);
}

/* Decode with several sequences: every token count 1..9 (the decode kernels keep up to 8
 * tokens' accumulators in registers; 9 is the first prefill call) against rows on both
 * sides of the 16-row tiles and row lengths of an odd number of 32-blocks. Bugs it is for:
 * a token's accumulator or activation pointer indexed wrong in a many-token tile (token j
 * reading token 0's blocks, or its output stored to the wrong row of y), a tile tail that
 * drops or duplicates rows (the store mask built from the wrong count), a wrong scale
 * taken for one of the 16 rows. */
static void test_decode_tokens(void) {
    static const int64_t outs[] = {1, 15, 17, 40};
    am_pool *pool = am_pool_create(2);
    for (size_t ti = 0; ti < AM_ARRAY_LEN_(TYPES); ti++) {
        stats st = {{0}, {0}};
        am_act_kind ak = am_act_of(am_ktype_of(TYPES[ti]));
        int64_t n_in = ak == AM_ACT_Q8A ? 2080 : ak == AM_ACT_F32 ? 300 : 768;
        for (int n_tok = 1; n_tok <= 9; n_tok++)
            for (size_t b = 0; b < AM_ARRAY_LEN_(outs); b++) check_case((n_tok + b) % 2 ? pool : NULL, TYPES[ti], n_in, outs[b], n_tok, &st);
    }
    am_pool_free(pool);
}

/* Bug: decode (<= 8 tokens) and prefill kernels of one level that round differently, or a
 * many-token decode tile that sums in another order than the one-token one. Then a token's
 * outputs depend on how many tokens shared its call, and a greedy answer computed by decode
 * steps differs from the same text prefilled, or from the same request decoded beside
 * others (the scheduler's cached-turn tests see the first). Each token alone must give the
 * bytes it gets among 2..9 and among 20. */
static void test_decode_equals_prefill(void) {
    static const am_type qt[] = {AM_TYPE_Q4_0, AM_TYPE_Q8_0, AM_TYPE_Q4_K, AM_TYPE_Q5_K, AM_TYPE_Q6_K};
    const int64_t n_in = 512, n_out = 37;
    const int n_tok = 20;
    float *row = malloc(sizeof(float) * n_in), *x = malloc(sizeof(float) * n_in * n_tok);
    float *ya = malloc(sizeof(float) * n_out * n_tok), *y1 = malloc(sizeof(float) * n_out);
    for (int64_t k = 0; k < n_in * n_tok; k++) x[k] = am_test_gauss();
    for (size_t ti = 0; ti < AM_ARRAY_LEN_(qt); ti++) {
        size_t rb = am_type_row_bytes(qt[ti], n_in);
        uint8_t *wq = malloc(rb * n_out);
        for (int64_t r = 0; r < n_out; r++) {
            for (int64_t k = 0; k < n_in; k++) row[k] = am_test_gauss();
            am_quantize_row(qt[ti], row, wq + r * rb, n_in);
        }
        am_tensor w = {.name = "w", .type = qt[ti], .n_dims = 2, .ne = {n_in, n_out, 1, 1}, .data = wq, .nbytes = rb * n_out};
        static const char *levels[] = {"scalar", "avx2", "avx512"};
        for (int l = 0; l < 3; l++) {
            if (am_compute_set_isa(levels[l]) != 0) continue;
            static const int batch[] = {2, 3, 4, 5, 6, 7, 8, 9, 20};
            for (size_t bi = 0; bi < AM_ARRAY_LEN_(batch); bi++) {
                int nb = batch[bi];
                am_matmul(NULL, &w, x + (n_tok - nb) * n_in, nb, ya);
                for (int t = 0; t < nb; t++) {
                    am_matmul(NULL, &w, x + (n_tok - nb + t) * n_in, 1, y1);
                    CHECKF(memcmp(y1, ya + t * n_out, sizeof(float) * n_out) == 0, "%s %s token %d of %d alone differs",
                           levels[l], am_type_name(qt[ti]), t, nb);
                }
            }
        }
        free(wq);
    }
    free(row), free(x), free(ya), free(y1);
}

/* am_matmul_multi gives each weight exactly what am_matmul gives it, types mixed. */
static void test_multi(void) {
    static const am_type mt[4] = {AM_TYPE_Q4_K, AM_TYPE_Q6_K, AM_TYPE_F16, AM_TYPE_Q8_0};
    static const int64_t mo[4] = {48, 16, 37, 130};
    const int64_t n_in = 512;
    am_pool *pool = am_pool_create(2);
    uint8_t *wq[4];
    am_tensor w[4];
    const am_tensor *wp[4];
    float *row = malloc(sizeof(float) * n_in);
    for (int i = 0; i < 4; i++) {
        size_t rb = am_type_row_bytes(mt[i], n_in);
        wq[i] = malloc(rb * mo[i]);
        for (int64_t r = 0; r < mo[i]; r++) {
            for (int64_t k = 0; k < n_in; k++) row[k] = am_test_gauss();
            am_quantize_row(mt[i], row, wq[i] + r * rb, n_in);
        }
        w[i] = (am_tensor){.name = "w", .type = mt[i], .n_dims = 2, .ne = {n_in, mo[i], 1, 1}, .data = wq[i], .nbytes = rb * mo[i]};
        wp[i] = &w[i];
    }
    static const int toks[] = {1, 5, 40};
    for (int l = 0; l < 3; l++) {
        if (am_compute_set_isa(ISAS[l]) != 0) continue;
        for (int ti = 0; ti < 3; ti++) {
            int n_tok = toks[ti];
            float *x = malloc(sizeof(float) * n_in * n_tok);
            for (int64_t k = 0; k < n_in * n_tok; k++) x[k] = am_test_gauss();
            float *ya[4], *yb[4];
            for (int i = 0; i < 4; i++) {
                ya[i] = malloc(sizeof(float) * mo[i] * n_tok);
                yb[i] = malloc(sizeof(float) * mo[i] * n_tok);
                am_matmul(pool, &w[i], x, n_tok, ya[i]);
            }
            for (int n_w = 1; n_w <= 4; n_w++) {
                am_matmul_multi(pool, n_w, wp, x, n_tok, yb);
                for (int i = 0; i < n_w; i++)
                    CHECKF(memcmp(ya[i], yb[i], sizeof(float) * mo[i] * n_tok) == 0, "%s n_w %d weight %d n_tok %d",
                           ISAS[l], n_w, i, n_tok);
            }
            for (int i = 0; i < 4; i++) free(ya[i]), free(yb[i]);
            free(x);
        }
    }
    for (int i = 0; i < 4; i++) free(wq[i]);
    free(row);
    am_pool_free(pool);
}

static void test_get_row(void) {
    float w[3 * 256], d[256];
    for (int i = 0; i < 3 * 256; i++) w[i] = am_test_gauss();
    uint8_t q[3 * 210];
    size_t rb = am_type_row_bytes(AM_TYPE_Q6_K, 256);
    for (int r = 0; r < 3; r++) am_quantize_row(AM_TYPE_Q6_K, w + 256 * r, q + rb * r, 256);
    am_tensor t = {.name = "e", .type = AM_TYPE_Q6_K, .n_dims = 2, .ne = {256, 3, 1, 1}, .data = q, .nbytes = 3 * rb};
    am_tensor_get_row(&t, 2, d);
    float ref[256];
    am_dequant_row(AM_TYPE_Q6_K, q + 2 * rb, ref, 256);
    CHECK(memcmp(d, ref, sizeof ref) == 0);
}

/* SIMD activation quantizers must write the scalar quantizer's bytes (kernels.h). */
static void test_activation_bytes(void) {
    enum { N = 4096 };
    static float x[N];
    static am_q8a a0[N / 32], a1[N / 32];
    static am_q8k k0[N / 256], k1[N / 256];
    for (int i = 0; i < N; i++) x[i] = am_test_gauss() * (i % 97 == 0 ? 30.0f : 1.0f);
    for (int i = 0; i < 256; i++) x[i] = 0;             /* an all-zero block */
    for (int i = 256; i < 512; i++) x[i] = (i % 5) - 2; /* exact levels and ties */
    am_quantize_q8a(x, a0, N);
    am_quantize_q8k(x, k0, N);
    for (int l = 0; l < 3; l++) {
        if (am_compute_set_isa(ISAS[l]) != 0) continue;
        const am_kernels *k = am_kernels_get();
        memset(a1, 0x55, sizeof a1);
        memset(k1, 0x55, sizeof k1);
        k->quant_q8a(x, a1, N);
        k->quant_q8k(x, k1, N);
        CHECKF(memcmp(a0, a1, sizeof a0) == 0, "%s q8a bytes differ", ISAS[l]);
        CHECKF(memcmp(k0, k1, sizeof k0) == 0, "%s q8k bytes differ", ISAS[l]);
    }
}

/* ---- bf16 activations (AM_ACT_BF16XT, BF16 weights' prefill at avx512) ----------------- */

/* BF16 weights [n_out][n_in] of gaussian values (already bf16: quantizing is exact). */
static uint8_t *bf16_weights(int64_t n_in, int64_t n_out, float scale) {
    uint16_t *w = malloc(sizeof(uint16_t) * n_in * n_out + 2);
    for (int64_t i = 0; i < n_in * n_out; i++) w[i] = am_f32_to_bf16(am_test_gauss() * scale);
    return (uint8_t *)w;
}

static am_tensor bf16_tensor(const uint8_t *w, int64_t n_in, int64_t n_out) {
    return (am_tensor){.name = "w", .type = AM_TYPE_BF16, .n_dims = 2, .ne = {n_in, n_out, 1, 1}, .data = w,
                       .nbytes = sizeof(uint16_t) * n_in * n_out};
}

/* Selects the AVX-512 level and says whether it has the bf16-activation kernel
 * (AVX512_BF16); without it prints the skip and goes back to scalar. */
static bool bf16_kernel_selected(void) {
    if (am_compute_set_isa("avx512") == 0 && am_kernels_get()->mm_bf16xt) return true;
    fprintf(stderr, "  no avx512 bf16 kernel on this CPU, skipped\n");
    am_compute_set_isa("scalar");
    return false;
}

/* Bugs: a ragged tile's store mask built from the full tile (rows past n_out written into
 * the next token's outputs, or past y's end), tokens of a partial last group dropped or
 * stored, an odd n_in's last input skipped (or its pair read with the next row's first
 * weight), a k-block (512 pairs) boundary that loses or repeats pairs. Every element is
 * checked against plain loops over the bf16-rounded activations in double:
 * |y - ref| <= 1e-5 * sum_i |w_i x_i| (f32 summation of <= 2049 exact products; observed
 * ~1e-7), y filled with NaN first, and a NaN guard after y must stay untouched. */
static void test_bf16_prefill_loses_no_edge(void) {
    if (!bf16_kernel_selected()) return;
    static const int64_t outs[] = {1, 7, 9, 63, 65, 71};
    static const int toks[] = {16, 17, 31, 33, 50, 129};
    static const int64_t ins[] = {1, 3, 64, 301, 1025, 2049}; /* 1025, 2049: past one k-block */
    const int saved = am_compute_bf16_act();
    am_compute_set_bf16_act(1);
    am_pool *pool = am_pool_create(2);
    double worst = 0;
    const int GUARD = 64;
    for (size_t a = 0; a < AM_ARRAY_LEN_(ins); a++)
        for (size_t b = 0; b < AM_ARRAY_LEN_(outs); b++) {
            int64_t n_in = ins[a], n_out = outs[b];
            int n_tok = toks[(a + b) % AM_ARRAY_LEN_(toks)];
            uint8_t *wq = bf16_weights(n_in, n_out, 0.05f);
            am_tensor w = bf16_tensor(wq, n_in, n_out);
            float *x = malloc(sizeof(float) * n_in * n_tok), *xb = malloc(sizeof(float) * n_in);
            float *y = malloc(sizeof(float) * (n_out * n_tok + GUARD));
            for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = am_test_gauss();
            for (int64_t i = 0; i < n_out * n_tok + GUARD; i++) y[i] = NAN;
            am_matmul((a + b) % 2 ? pool : NULL, &w, x, n_tok, y);
            int bad = 0;
            for (int tk = 0; tk < n_tok; tk++) {
                bf16_round(x + tk * n_in, xb, n_in);
                for (int64_t r = 0; r < n_out; r++) {
                    double ref = 0, mag = 0;
                    for (int64_t i = 0; i < n_in; i++) {
                        double term = (double)am_bf16_to_f32(((const uint16_t *)wq)[r * n_in + i]) * xb[i];
                        ref += term;
                        mag += fabs(term);
                    }
                    double v = y[tk * n_out + r], e = fabs(v - ref) / (mag > 0 ? mag : 1);
                    if (!(e <= 1e-5)) {
                        if (bad++ < 3)
                            CHECKF(0, "n_in %lld n_out %lld n_tok %d: y[%d][%lld] = %g, want %g", (long long)n_in,
                                   (long long)n_out, n_tok, tk, (long long)r, v, ref);
                    } else if (e > worst) {
                        worst = e;
                    }
                }
            }
            CHECKF(bad == 0, "n_in %lld n_out %lld n_tok %d: %d wrong outputs", (long long)n_in, (long long)n_out, n_tok, bad);
            for (int i = 0; i < GUARD; i++)
                CHECKF(isnan(y[n_out * n_tok + i]), "n_in %lld n_out %lld n_tok %d: written past y's end (+%d)",
                       (long long)n_in, (long long)n_out, n_tok, i);
            free(wq), free(x), free(xb), free(y);
        }
    fprintf(stderr, "  bf16 activations, every element: worst |y - ref| / sum|terms| %.2e [limit 1e-05]\n", worst);
    am_pool_free(pool);
    am_compute_set_bf16_act(saved);
}

/* Bug: activations truncated to bf16 (the top 16 bits of the f32) instead of rounded to
 * nearest even, or a NaN whose payload lies in the low bits truncated to infinity. With
 * weights 1.0 (exact in bf16) and activations exact sums of bf16 values, every result is
 * exact in f32, so y must be exactly the RNE sum:
 *   1 + 0.75 ulp -> 1 + ulp (truncation: 1),   ulp = 2^-7 at 1
 *   1 + 0.5 ulp  -> 1 (tie, even; round-half-up: 1 + ulp)
 *   1 + 1.5 ulp  -> 1 + 2 ulp (tie, even; truncation: 1 + ulp)
 *   -(1 + 0.75 ulp) -> -(1 + ulp)
 * and a row holding f32 NaN 0x7f800001 gives NaN (truncation: +inf). */
static void test_bf16_rounding_not_truncation(void) {
    if (!bf16_kernel_selected()) return;
    const int saved = am_compute_bf16_act();
    am_compute_set_bf16_act(1);
    enum { N_IN = 33, N_TOK = 16, N_OUT = 1 };
    const float ulp = 1.0f / 128;
    static const float vals[4] = {1 + 0.75f * ulp, 1 + 0.5f * ulp, 1 + 1.5f * ulp, -(1 + 0.75f * ulp)};
    static const double rne[4] = {1 + 1.0 / 128, 1, 1 + 2.0 / 128, -(1 + 1.0 / 128)};
    uint16_t w[N_IN];
    for (int i = 0; i < N_IN; i++) w[i] = am_f32_to_bf16(1.0f);
    am_tensor wt = bf16_tensor((const uint8_t *)w, N_IN, N_OUT);
    float x[N_TOK * N_IN], y[N_TOK * N_OUT];
    for (int t = 0; t < N_TOK; t++)
        for (int i = 0; i < N_IN; i++) x[t * N_IN + i] = vals[t % 4];
    uint32_t nan_bits = 0x7f800001u;
    memcpy(&x[5 * N_IN + 7], &nan_bits, 4); /* token 5: NaN */
    am_matmul(NULL, &wt, x, N_TOK, y);
    for (int t = 0; t < N_TOK; t++) {
        if (t == 5) {
            CHECKF(isnan(y[t]), "token with a NaN input gave %g (truncation makes 0x7f800001 +inf)", y[t]);
            continue;
        }
        double want = N_IN * rne[t % 4];
        CHECKF(y[t] == want, "token %d (x = 1%+.4f ulp): %.9g, round to nearest even gives %.9g", t,
               (fabs(vals[t % 4]) - 1) / ulp, y[t], want);
    }
    am_compute_set_bf16_act(saved);
}

/* The prepared bytes: am_act_row_bytes / am_act_bytes size AM_ACT_BF16XT exactly (whole
 * groups, odd n_in padded to a pair), and am_prep_bf16xt writes every byte of that and
 * none past it: [g][p][i][h] = am_f32_to_bf16(x[16g + i][2p + h]), zero for missing
 * tokens and the odd input. */
static void test_bf16_prepared_bytes(void) {
    CHECK(am_act_row_bytes(AM_ACT_BF16XT, 1) == 4);
    CHECK(am_act_row_bytes(AM_ACT_BF16XT, 7) == 16);
    CHECK(am_act_row_bytes(AM_ACT_BF16XT, 2048) == 4096);
    CHECK(am_act_bytes(AM_ACT_BF16XT, 7, 17) == 2 * 16 * 4 * 4);
    CHECK(am_act_bytes(AM_ACT_BF16XT, 2048, 512) == (size_t)512 * 2048 * 2);
    CHECK(am_act_bytes(AM_ACT_BF16XT, 3, 16) == 16 * 2 * 4);
    static const int64_t ins[] = {1, 7, 64, 129};
    static const int toks[] = {1, 16, 17, 40};
    for (size_t a = 0; a < AM_ARRAY_LEN_(ins); a++)
        for (size_t b = 0; b < AM_ARRAY_LEN_(toks); b++) {
            int64_t n_in = ins[a];
            int n_tok = toks[b];
            size_t bytes = am_act_bytes(AM_ACT_BF16XT, n_in, n_tok);
            uint8_t *buf = malloc(bytes + 64);
            memset(buf, 0xA5, bytes + 64);
            float *x = malloc(sizeof(float) * n_in * n_tok);
            for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = am_test_gauss();
            am_prep_bf16xt(x, n_in, n_tok, 0, n_tok, buf);
            const uint16_t *h = (const uint16_t *)buf;
            int64_t np = (n_in + 1) / 2, bad = 0;
            int ng = (n_tok + 15) / 16;
            for (int g = 0; g < ng; g++)
                for (int64_t p = 0; p < np; p++)
                    for (int i = 0; i < 16; i++)
                        for (int hh = 0; hh < 2; hh++) {
                            int t = 16 * g + i;
                            int64_t k = 2 * p + hh;
                            uint16_t want = t < n_tok && k < n_in ? am_f32_to_bf16(x[t * n_in + k]) : 0;
                            bad += h[((g * np + p) * 16 + i) * 2 + hh] != want;
                        }
            CHECKF(bad == 0, "n_in %lld n_tok %d: %lld wrong elements", (long long)n_in, n_tok, (long long)bad);
            for (int i = 0; i < 64; i++) CHECKF(buf[bytes + i] == 0xA5, "n_in %lld n_tok %d: byte %zu past the end written", (long long)n_in, n_tok, bytes + i);
            free(buf), free(x);
        }
}

/* Bug: a token's result depends on where it sits: the one-group and two-group tiles (or a
 * partial last group, or the second 128-token chunk) summing in other orders, or the
 * activations of a group position rounded differently. Then a prompt's logits change with
 * how the scheduler batched it. The same token alone in a 16-token call (position 0 and
 * 9) and at position 37 of 50 and 140 of 150 (2 threads) must give the same bytes. */
static void test_bf16_token_depends_on_batch(void) {
    if (!bf16_kernel_selected()) return;
    const int saved = am_compute_bf16_act();
    am_compute_set_bf16_act(1);
    const int64_t n_in = 1101, n_out = 77;
    uint8_t *wq = bf16_weights(n_in, n_out, 0.05f);
    am_tensor w = bf16_tensor(wq, n_in, n_out);
    am_pool *pool = am_pool_create(2);
    const int n_max = 150;
    float *x = malloc(sizeof(float) * n_in * n_max), *y = malloc(sizeof(float) * n_out * n_max);
    float *v = malloc(sizeof(float) * n_in), *y0 = malloc(sizeof(float) * n_out);
    for (int64_t i = 0; i < n_in; i++) v[i] = am_test_gauss();
    static const int cases[][2] = {{16, 0}, {16, 9}, {50, 37}, {17, 16}, {150, 140}, {150, 3}};
    for (size_t c = 0; c < AM_ARRAY_LEN_(cases); c++) {
        int n_tok = cases[c][0], pos = cases[c][1];
        for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = am_test_gauss();
        memcpy(x + pos * n_in, v, sizeof(float) * n_in);
        am_matmul(c % 2 ? pool : NULL, &w, x, n_tok, y);
        if (c == 0)
            memcpy(y0, y + pos * n_out, sizeof(float) * n_out);
        else
            CHECKF(memcmp(y0, y + pos * n_out, sizeof(float) * n_out) == 0,
                   "the token at %d of %d differs from it at 0 of 16", pos, n_tok);
    }
    am_pool_free(pool);
    free(wq), free(x), free(y), free(v), free(y0);
    am_compute_set_bf16_act(saved);
}

/* The knob: off gives the f32 path's bytes (mm_xt), on differs from them (bf16 rounding). */
static void test_bf16_knob(void) {
    if (am_compute_set_isa("avx512") != 0 || !am_kernels_get()->mm_bf16xt) {
        am_compute_set_isa("scalar");
        return;
    }
    const int saved = am_compute_bf16_act();
    const int64_t n_in = 256, n_out = 16;
    const int n_tok = 32;
    uint8_t *wq = bf16_weights(n_in, n_out, 0.05f);
    am_tensor w = bf16_tensor(wq, n_in, n_out);
    float *x = malloc(sizeof(float) * n_in * n_tok), *ya = malloc(sizeof(float) * n_out * n_tok),
          *yb = malloc(sizeof(float) * n_out * n_tok);
    for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = am_test_gauss();
    am_compute_set_bf16_act(0);
    CHECK(am_compute_bf16_act() == 0);
    am_matmul(NULL, &w, x, n_tok, ya);
    am_compute_set_bf16_act(1);
    CHECK(am_compute_bf16_act() == 1);
    am_matmul(NULL, &w, x, n_tok, yb);
    CHECK(memcmp(ya, yb, sizeof(float) * n_out * n_tok) != 0);
    am_compute_set_bf16_act(saved);
    free(wq), free(x), free(ya), free(yb);
}

static void test_isa_names(void) {
    CHECK(am_compute_set_isa("scalar") == 0);
    CHECK(strcmp(am_compute_isa(), "scalar") == 0);
    CHECK(am_compute_set_isa("sse9") == -1);
    CHECK(strcmp(am_compute_isa(), "scalar") == 0);
}

int main(void) {
    am_test_rng_seed(0x9E3779B97F4A7C15ull);
    AM_TEST_RUN(test_isa_names);
    AM_TEST_RUN(test_get_row);
    AM_TEST_RUN(test_activation_bytes);
    AM_TEST_RUN(test_all_isas);
    AM_TEST_RUN(test_multi);
    AM_TEST_RUN(test_decode_equals_prefill);
    AM_TEST_RUN(test_decode_tokens);
    AM_TEST_RUN(test_odd_lengths);
    AM_TEST_RUN(test_large);
    AM_TEST_RUN(test_bf16_prepared_bytes);
    AM_TEST_RUN(test_bf16_rounding_not_truncation);
    AM_TEST_RUN(test_bf16_prefill_loses_no_edge);
    AM_TEST_RUN(test_bf16_token_depends_on_batch);
    AM_TEST_RUN(test_bf16_knob);
    AM_TEST_EXIT();
}
