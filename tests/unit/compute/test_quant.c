/* test_quant.c — block formats: hand-built known-answer blocks, quantize/dequantize round
 * trips within each format's error bound, and the layouts of llama.cpp's own quantizer
 * output (fixture GGUFs: every quantized tensor must dequantize close to the f16 file's). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "compute/blocks.h"
#include "compute/quant.h"
#include "test_util.h"


/* ---- known answers --------------------------------------------------------------- */

static void test_known_q4_0(void) {
    am_block_q4_0 b;
    b.d = 0x3800; /* 0.5 */
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    am_dequant_row(AM_TYPE_Q4_0, &b, y, 32);
    for (int j = 0; j < 16; j++) {
        CHECK(y[j] == (j - 8) * 0.5f);
        CHECK(y[j + 16] == (7 - j) * 0.5f);
    }
}

static void test_known_q8_0(void) {
    am_block_q8_0 b;
    b.d = 0xC000; /* -2.0 */
    for (int j = 0; j < 32; j++) b.qs[j] = (int8_t)(j * 8 - 128);
    float y[32];
    am_dequant_row(AM_TYPE_Q8_0, &b, y, 32);
    for (int j = 0; j < 32; j++) CHECK(y[j] == -2.0f * (j * 8 - 128));
}

/* Sub-block scales {1,2,3,4,17,33,49,63} and mins {5,6,7,8,20,36,52,60}, packed by hand
 * following the 12-byte layout (6 low bits for 0-3; nibbles + top-2-bit spill for 4-7). */
static const uint8_t K_SCALES[12] = {0x41, 0x82, 0xC3, 0xC4, 0x45, 0x86, 0xC7, 0xC8, 0x41, 0x41, 0x41, 0xCF};
static const int K_SC[8] = {1, 2, 3, 4, 17, 33, 49, 63}, K_M[8] = {5, 6, 7, 8, 20, 36, 52, 60};

static void test_known_q4_k(void) {
    am_block_q4_k b;
    b.d = 0x3C00;    /* 1.0 */
    b.dmin = 0x3800; /* 0.5 */
    memcpy(b.scales, K_SCALES, 12);
    for (int i = 0; i < 128; i++) b.qs[i] = (uint8_t)((i & 0xF) | ((15 - (i & 0xF)) << 4));
    float y[256];
    am_dequant_row(AM_TYPE_Q4_K, &b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int j = e / 32, l = e % 32, q = j % 2 == 0 ? (l & 15) : 15 - (l & 15);
        float want = 1.0f * K_SC[j] * q - 0.5f * K_M[j];
        if (y[e] != want && bad++ < 4) CHECKF(0, "q4_k element %d: %g want %g", e, y[e], want);
    }
}

static void test_known_q5_k(void) {
    am_block_q5_k b;
    b.d = 0x3C00;
    b.dmin = 0x3800;
    memcpy(b.scales, K_SCALES, 12);
    for (int i = 0; i < 128; i++) b.qs[i] = (uint8_t)((i & 0xF) | ((15 - (i & 0xF)) << 4));
    for (int l = 0; l < 32; l++) b.qh[l] = (uint8_t)(l * 37 + 11); /* arbitrary bit pattern */
    float y[256];
    am_dequant_row(AM_TYPE_Q5_K, &b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int j = e / 32, l = e % 32, q = j % 2 == 0 ? (l & 15) : 15 - (l & 15);
        q += ((b.qh[l] >> j) & 1) * 16; /* sub-block j takes bit j of qh[l] */
        float want = 1.0f * K_SC[j] * q - 0.5f * K_M[j];
        if (y[e] != want && bad++ < 4) CHECKF(0, "q5_k element %d: %g want %g", e, y[e], want);
    }
}

static void test_known_q6_k(void) {
    am_block_q6_k b;
    b.d = 0x3400; /* 0.25 */
    /* Element e gets level (e * 7) % 64; build ql/qh from the documented layout. */
    int lev[256];
    for (int e = 0; e < 256; e++) lev[e] = (e * 7) % 64;
    memset(b.qh, 0, sizeof b.qh);
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const int *L = lev + 128 * h;
            b.ql[64 * h + l] = (uint8_t)((L[l] & 15) | ((L[l + 64] & 15) << 4));
            b.ql[64 * h + l + 32] = (uint8_t)((L[l + 32] & 15) | ((L[l + 96] & 15) << 4));
            b.qh[32 * h + l] = (uint8_t)((L[l] >> 4) | ((L[l + 32] >> 4) << 2) | ((L[l + 64] >> 4) << 4) | ((L[l + 96] >> 4) << 6));
        }
    for (int j = 0; j < 16; j++) b.scales[j] = (int8_t)(j * 17 - 128);
    float y[256];
    am_dequant_row(AM_TYPE_Q6_K, &b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        float want = 0.25f * (float)b.scales[e / 16] * (float)(lev[e] - 32);
        if (y[e] != want && bad++ < 4) CHECKF(0, "q6_k element %d: %g want %g", e, y[e], want);
    }
}

static void test_known_float(void) {
    uint16_t h[2] = {0x3C00, 0xC000}, bf[2] = {0x3F80, 0xC040};
    float y[2];
    am_dequant_row(AM_TYPE_F16, h, y, 2);
    CHECK(y[0] == 1.0f && y[1] == -2.0f);
    am_dequant_row(AM_TYPE_BF16, bf, y, 2);
    CHECK(y[0] == 1.0f && y[1] == -3.0f);
}

/* ---- round trips ----------------------------------------------------------------- */

#define N 8192

/* Fills x with Gaussian data, with a few awkward 256-blocks: all zero, constant, one spike,
 * all positive, wide dynamic range. */
static void fill_data(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = am_test_gauss();
    for (int i = 0; i < 256; i++) {
        x[i] = 0;
        x[256 + i] = 0.75f;
        x[512 + i] = i == 77 ? 40.0f : 0.01f * am_test_gauss();
        x[768 + i] = fabsf(am_test_gauss()) + 1.0f;
        x[1024 + i] = am_test_gauss() * powf(10.0f, (float)(i % 7) - 3.0f);
    }
}

static double rel_rmse(const float *a, const float *b, int n) {
    double e = 0, s = 0;
    for (int i = 0; i < n; i++) e += (double)(a[i] - b[i]) * (a[i] - b[i]), s += (double)b[i] * b[i];
    return s > 0 ? sqrt(e / s) : sqrt(e);
}

/* Relative RMS error on Gaussian data, each bound ~1.3x what these quantizers reach
 * (llama.cpp's reference quantizers land at similar values). */
static void round_trip(am_type t, double bound) {
    static float x[N], y[N];
    static uint8_t q[N * 4];
    fill_data(x, N);
    am_quantize_row(t, x, q, N);
    am_dequant_row(t, q, y, N);
    /* zero block stays zero, and nothing is NaN */
    for (int i = 0; i < 256; i++) CHECK(y[i] == 0);
    for (int i = 0; i < N; i++)
        if (!(fabsf(y[i]) < 1e30f)) {
            CHECKF(0, "%s: element %d is %g", am_type_name(t), i, y[i]);
            break;
        }
    double e = rel_rmse(y + 1280, x + 1280, N - 1280);
    fprintf(stderr, "  %-5s rel rmse %.5f (bound %.4f)\n", am_type_name(t), e, bound);
    CHECKF(e <= bound, "%s: %g > %g", am_type_name(t), e, bound);
    /* per-block relative error on the awkward blocks */
    for (int b = 1; b < 5; b++) {
        double eb = rel_rmse(y + 256 * b, x + 256 * b, 256);
        CHECKF(eb <= (b == 2 ? 1.0 : 2 * bound + 1e-6), "%s block %d: %g", am_type_name(t), b, eb);
    }
}

static void test_round_trips(void) {
    round_trip(AM_TYPE_F32, 0);
    round_trip(AM_TYPE_F16, 3e-4);
    round_trip(AM_TYPE_BF16, 2.5e-3);
    round_trip(AM_TYPE_Q8_0, 8e-3);
    round_trip(AM_TYPE_Q4_0, 0.13);
    round_trip(AM_TYPE_Q4_K, 0.11);
    round_trip(AM_TYPE_Q5_K, 0.055);
    round_trip(AM_TYPE_Q6_K, 0.028);
}

/* Q8_0 and Q4_0 also have a hard per-element bound: half a step (Q4_0: one step where the
 * top level clips), plus the f16 rounding of d. */
static void test_elementwise_bounds(void) {
    float x[256], y[256];
    uint8_t q[256 * 2];
    for (int i = 0; i < 256; i++) x[i] = am_test_gauss() * 3;
    am_quantize_row(AM_TYPE_Q8_0, x, q, 256);
    am_dequant_row(AM_TYPE_Q8_0, q, y, 256);
    for (int b = 0; b < 8; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        for (int j = 0; j < 32; j++) CHECK(fabsf(y[32 * b + j] - x[32 * b + j]) <= amax / 127 * 0.56f);
    }
    am_quantize_row(AM_TYPE_Q4_0, x, q, 256);
    am_dequant_row(AM_TYPE_Q4_0, q, y, 256);
    for (int b = 0; b < 8; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        for (int j = 0; j < 32; j++) CHECK(fabsf(y[32 * b + j] - x[32 * b + j]) <= amax / 8 * 1.01f);
    }
}

/* Activation quantizers: values and block sums. */
static void test_activation_quant(void) {
    float x[512];
    for (int i = 0; i < 512; i++) x[i] = am_test_gauss();
    am_q8a a[16];
    am_quantize_q8a(x, a, 512);
    for (int b = 0; b < 16; b++) {
        int s = 0;
        for (int j = 0; j < 32; j++) {
            s += a[b].qs[j];
            CHECK(fabsf(a[b].qs[j] * a[b].d - x[32 * b + j]) <= a[b].d * 0.5001f);
        }
        CHECK(s == a[b].s);
    }
    am_q8k k[2];
    am_quantize_q8k(x, k, 512);
    for (int b = 0; b < 2; b++)
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 16 * g; j < 16 * g + 16; j++) {
                s += k[b].qs[j];
                CHECK(fabsf(k[b].qs[j] * k[b].d - x[256 * b + j]) <= k[b].d * 0.5001f);
            }
            CHECK(s == k[b].bsums[g]);
        }
}

/* ---- llama.cpp's files ----------------------------------------------------------- */

/* Just enough GGUF to find tensors (the real reader lives in src/model). */
typedef struct {
    char name[96];
    uint32_t type;
    uint64_t ne[4];
    uint64_t offset;
} tinfo;

typedef struct {
    uint8_t *buf;
    size_t size, pos;
    int ok;
} rd;

static uint64_t rd_u(rd *r, int n) {
    uint64_t v = 0;
    if (r->pos + n > r->size) {
        r->ok = 0;
        return 0;
    }
    memcpy(&v, r->buf + r->pos, n);
    r->pos += n;
    return v;
}
static void rd_skip(rd *r, uint64_t n) {
    if (n > r->size - r->pos) r->ok = 0, n = 0;
    r->pos += n;
}
static void skip_value(rd *r, uint32_t type) {
    static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) rd_skip(r, rd_u(r, 8));
    else if (type == 9) {
        uint32_t et = (uint32_t)rd_u(r, 4);
        uint64_t n = rd_u(r, 8);
        for (uint64_t i = 0; i < n && r->ok; i++) skip_value(r, et);
    } else if (type < 13) rd_skip(r, sz[type]);
    else r->ok = 0;
}

static int read_gguf(const char *path, uint8_t **buf_out, tinfo **ti_out, uint64_t *nt_out, uint8_t **data_out) {
    size_t size;
    rd r = {am_test_read_file(path, &size), 0, 0, 1};
    r.size = size;
    if (rd_u(&r, 4) != 0x46554747u) return -1;
    rd_u(&r, 4);
    uint64_t nt = rd_u(&r, 8), nkv = rd_u(&r, 8);
    uint64_t align = 32;
    for (uint64_t i = 0; i < nkv && r.ok; i++) {
        uint64_t kl = rd_u(&r, 8);
        int is_align = kl == 17 && r.pos + kl <= r.size && memcmp(r.buf + r.pos, "general.alignment", 17) == 0;
        rd_skip(&r, kl);
        uint32_t vt = (uint32_t)rd_u(&r, 4);
        if (is_align && vt == 4) align = rd_u(&r, 4);
        else skip_value(&r, vt);
    }
    tinfo *ti = calloc(nt, sizeof *ti);
    for (uint64_t i = 0; i < nt && r.ok; i++) {
        uint64_t nl = rd_u(&r, 8);
        if (nl < sizeof ti[i].name && r.pos + nl <= r.size) memcpy(ti[i].name, r.buf + r.pos, nl);
        rd_skip(&r, nl);
        uint32_t nd = (uint32_t)rd_u(&r, 4);
        for (int d = 0; d < 4; d++) ti[i].ne[d] = 1;
        for (uint32_t d = 0; d < nd && d < 4; d++) ti[i].ne[d] = rd_u(&r, 8);
        ti[i].type = (uint32_t)rd_u(&r, 4);
        ti[i].offset = rd_u(&r, 8);
    }
    if (!r.ok) return -1;
    *buf_out = r.buf;
    *ti_out = ti;
    *nt_out = nt;
    *data_out = r.buf + (r.pos + align - 1) / align * align;
    return 0;
}

static void compare_file(const char *family, const char *quant) {
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "models/%s-tiny/%s-tiny-f16.gguf", family, family);
    snprintf(p2, sizeof p2, "models/%s-tiny/%s-tiny-%s.gguf", family, family, quant);
    char *f1 = am_test_fixture(p1), *f2 = am_test_fixture(p2);
    uint8_t *b1, *b2, *d1, *d2;
    tinfo *t1, *t2;
    uint64_t n1, n2;
    CHECK(read_gguf(f1, &b1, &t1, &n1, &d1) == 0);
    CHECK(read_gguf(f2, &b2, &t2, &n2, &d2) == 0);
    int seen[32] = {0};
    for (uint64_t i = 0; i < n2; i++) {
        if (!am_type_valid(t2[i].type) || t2[i].type == AM_TYPE_F32) continue;
        tinfo *ref = NULL;
        for (uint64_t k = 0; k < n1; k++)
            if (strcmp(t1[k].name, t2[i].name) == 0) ref = &t1[k];
        if (!ref || (ref->type != AM_TYPE_F16 && ref->type != AM_TYPE_F32)) continue;
        int64_t n = (int64_t)t2[i].ne[0];
        int rows = (int)(t2[i].ne[1] < 64 ? t2[i].ne[1] : 64);
        size_t rb2 = am_type_row_bytes(t2[i].type, n), rb1 = am_type_row_bytes(ref->type, n);
        if (ref->ne[0] != t2[i].ne[0] || rb1 == 0 || rb2 == 0) continue;
        float *a = malloc(sizeof(float) * n * rows), *b = malloc(sizeof(float) * n * rows);
        for (int r = 0; r < rows; r++) {
            am_dequant_row(t2[i].type, d2 + t2[i].offset + r * rb2, a + r * n, n);
            am_dequant_row(ref->type, d1 + ref->offset + r * rb1, b + r * n, n);
        }
        double e = rel_rmse(a, b, (int)(n * rows));
        /* what these formats give on weights (llama.cpp's quantizer, these small models) */
        double bound = t2[i].type == AM_TYPE_Q8_0 ? 0.007 : t2[i].type == AM_TYPE_Q6_K ? 0.023
                     : t2[i].type == AM_TYPE_Q5_K ? 0.045 : t2[i].type == AM_TYPE_Q4_K ? 0.09 : 0.11;
        if (t2[i].type == AM_TYPE_F16 || t2[i].type == AM_TYPE_BF16) bound = 1e-6;
        CHECKF(e <= bound, "%s %s %s (%s): rel rmse %g", family, quant, t2[i].name, am_type_name(t2[i].type), e);
        if (!seen[t2[i].type % 32]++)
            fprintf(stderr, "  %s %-7s %-26s %-5s rel rmse vs f16 %.4f\n", family, quant, t2[i].name,
                    am_type_name(t2[i].type), e);
        free(a);
        free(b);
    }
    free(t1);
    free(t2);
    free(b1);
    free(b2);
    free(f1);
    free(f2);
}

static void test_llamacpp_files(void) {
    static const char *fam[] = {"llama3", "qwen2", "gemma3"};
    static const char *qs[] = {"q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"};
    for (int f = 0; f < 3; f++)
        for (int q = 0; q < 5; q++) compare_file(fam[f], qs[q]);
}

int main(void) {
    am_test_rng_seed(88172645463325252ull);
    AM_TEST_RUN(test_known_q4_0);
    AM_TEST_RUN(test_known_q8_0);
    AM_TEST_RUN(test_known_q4_k);
    AM_TEST_RUN(test_known_q5_k);
    AM_TEST_RUN(test_known_q6_k);
    AM_TEST_RUN(test_known_float);
    AM_TEST_RUN(test_round_trips);
    AM_TEST_RUN(test_elementwise_bounds);
    AM_TEST_RUN(test_activation_quant);
    AM_TEST_RUN(test_llamacpp_files);
    AM_TEST_EXIT();
}
