/*
 * test_att_kern.c — the SIMD attention loops (att_avx2.c, att_avx512.c)
 * (and the Q8_0 / Q4_0 KV row decoders) against the scalar reference, on odd sizes that exercise every tail, for
 * each level this CPU supports.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compute/blocks.h"
#include "compute/quant.h"
#include "compute/types.h"
#include "engine/att_kern.h"
#include "test_util.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float rnd01(unsigned *s) { return (frand(s) + 1) / 2; }

static void check_level(const char *name, const eng_att_kern *k, const eng_att_kern *ref) {
    unsigned seed = 1;
    static const int hds[] = {64, 128, 256, 40, 7};
    static const int cnts[] = {1, 5, 16, 31, 32, 47};
    for (size_t a = 0; a < AM_ARRAY_LEN(hds); a++)
        for (size_t b = 0; b < AM_ARRAY_LEN(cnts); b++) {
            int hd = hds[a], cnt = cnts[b], nrep = 3;
            int64_t n = (int64_t)cnt * hd;
            float *x = malloc(n * 4), *y = malloc(n * 4), *y2 = malloc(n * 4), *q = malloc(nrep * hd * 4);
            uint16_t *h = malloc(n * 2), *h2 = malloc(n * 2);
            for (int64_t i = 0; i < n; i++) x[i] = frand(&seed) * 8;
            for (int i = 0; i < nrep * hd; i++) q[i] = frand(&seed);
            /* conversions are exact */
            k->f32_to_f16(x, h, n);
            ref->f32_to_f16(x, h2, n);
            CHECKF(!memcmp(h, h2, n * 2), "%s f32_to_f16 hd %d cnt %d", name, hd, cnt);
            k->f16_to_f32(h, y, n);
            ref->f16_to_f32(h, y2, n);
            CHECKF(!memcmp(y, y2, n * 4), "%s f16_to_f32", name);
            /* the block steps, rows in lanes: rp rows (nr real), as attention.c
             * lays them out */
            static const int rps[] = {16, 48, 64};
            for (size_t ri = 0; ri < AM_ARRAY_LEN(rps); ri++) {
                int rp = rps[ri], nr = rp - (int)(ri * 3) % 7;
                float *qt = malloc((size_t)hd * rp * 4), *st = malloc((size_t)cnt * rp * 4);
                float *st2 = malloc((size_t)cnt * rp * 4);
                for (int i = 0; i < hd * rp; i++) qt[i] = frand(&seed);
                /* qk_t: bug it catches — a transposed or shifted qt/st index in
                 * a register tile, a dropped key tail */
                k->qk_t(qt, rp, hd, x, cnt, st);
                ref->qk_t(qt, rp, hd, x, cnt, st2);
                for (int i = 0; i < cnt * rp; i++)
                    CHECKF(fabsf(st[i] - st2[i]) <= 1e-5f * (8 * hd), "%s qk_t hd %d cnt %d rp %d [%d]: %g vs %g", name,
                           hd, cnt, rp, i, st[i], st2[i]);
                /* qk_rows (decode): bug it catches — a lane of the folding
                 * tree summed into the wrong key, the key tail past 16 dropped,
                 * a row scattered into the wrong column */
                for (int nq = 1; nq <= 8; nq += 3) {
                    for (int i = 0; i < cnt * rp; i++) st[i] = st2[i] = -7.0f; /* rows >= nq stay */
                    k->qk_rows(qt, nq, hd, x, cnt, st, rp);
                    ref->qk_rows(qt, nq, hd, x, cnt, st2, rp);
                    for (int i = 0; i < cnt * rp; i++)
                        CHECKF(fabsf(st[i] - st2[i]) <= 1e-5f * (8 * hd),
                               "%s qk_rows hd %d cnt %d nr %d [%d]: %g vs %g", name, hd, cnt, nq, i, st[i], st2[i]);
                }
                /* softmax_t: rows with a key range inside the block, none
                 * visible, a first block (max -inf) and a later one; scores
                 * scaled up so exp spans a wide range. Bug it catches: a
                 * mask bound off by one, corr/sum wrong on a first block.
                 * Then (vm 1) every row seeing every key, the unmasked
                 * pass of the AVX-512 level, and (vm 2) all but one row of
                 * a group of 16 seeing every key (that row missing the
                 * last key or the first): bug it catches — the whole-block
                 * test of a group off by one, so the short row is not
                 * masked (planted once: hi >= cnt - 2 taken as whole) */
                float mx[64], mx2[64], sm[64], sm2[64], cr[64], cr2[64];
                int32_t lo[64], hi[64];
                for (int vm = 0; vm < 3; vm++) {
                for (int r = 0; r < rp; r++) {
                    int a0 = (int)(rnd01(&seed) * cnt), a1 = (int)(rnd01(&seed) * cnt);
                    lo[r] = r % 5 == 4 ? 1 : a0 < a1 ? a0 : a1;
                    hi[r] = r % 5 == 4 ? 0 : a0 < a1 ? a1 : a0;
                    if (vm > 0) {
                        lo[r] = 0;
                        hi[r] = cnt - 1;
                    }
                    if (vm == 2 && r % 16 == 7) {
                        if (r % 32 == 7) hi[r] = cnt - 2;
                        else lo[r] = 1;
                    }
                    mx[r] = mx2[r] = r % 3 == 0 ? -INFINITY : frand(&seed) * 10;
                    sm[r] = sm2[r] = mx[r] == -INFINITY ? 0 : 1 + rnd01(&seed) * 5;
                }
                for (int i = 0; i < cnt * rp; i++) st[i] = st2[i] = frand(&seed) * 20;
                k->softmax_t(st, rp, cnt, lo, hi, mx, sm, cr);
                ref->softmax_t(st2, rp, cnt, lo, hi, mx2, sm2, cr2);
                for (int i = 0; i < cnt * rp; i++)
                    CHECKF(fabsf(st[i] - st2[i]) <= 3e-7f * st2[i] + 1e-37f, "%s softmax_t p[%d] %g vs %g", name, i,
                           st[i], st2[i]);
                for (int r = 0; r < rp; r++) {
                    CHECKF(mx[r] == mx2[r], "%s softmax_t max row %d: %g vs %g", name, r, mx[r], mx2[r]);
                    CHECKF(fabsf(cr[r] - cr2[r]) <= 3e-7f * cr2[r] + 1e-37f, "%s softmax_t corr row %d: %g vs %g",
                           name, r, cr[r], cr2[r]);
                    CHECKF(fabsf(sm[r] - sm2[r]) <= 1e-6f * sm2[r] + 1e-37f,
                           "%s softmax_t vm %d cnt %d sum row %d: %g vs %g", name, vm, cnt, r, sm[r], sm2[r]);
                }
                }
                /* pv_t: bug it catches — a row's probabilities read from
                 * the wrong lane, a column tail dropped, corr not applied */
                float *acc = malloc((size_t)nr * hd * 4), *acc2 = malloc((size_t)nr * hd * 4);
                for (int i = 0; i < nr * hd; i++) acc[i] = acc2[i] = frand(&seed);
                for (int i = 0; i < cnt * rp; i++) st[i] = rnd01(&seed);
                for (int r = 0; r < rp; r++) cr[r] = r % 4 == 0 ? 0.0f : rnd01(&seed);
                k->pv_t(acc, nr, hd, st, rp, cr, x, cnt);
                ref->pv_t(acc2, nr, hd, st, rp, cr, x, cnt);
                for (int i = 0; i < nr * hd; i++)
                    CHECKF(fabsf(acc[i] - acc2[i]) <= 1e-5f * (1 + 8 * cnt), "%s pv_t hd %d cnt %d rp %d: %g vs %g",
                           name, hd, cnt, rp, acc[i], acc2[i]);
                free(acc);
                free(acc2);
                free(qt);
                free(st);
                free(st2);
            }
            free(x);
            free(y);
            free(y2);
            free(q);
            free(h);
            free(h2);
        }
    /* qk_rows_x / pv_x (decode straight from the stored rows) against the
     * scalar ones, for each row type, on rows the store would write, with
     * ragged key counts and 1..8 rows. Bugs they are for: a Q4_0 chunk
     * taking the low nibbles for the high half (or no -8), a Q8_0 chunk
     * reading the wrong block or half, a key past cnt scored or stored, a
     * row group's scores stored into the wrong st column, an f16 tail lane
     * of a head dim that is not a multiple of 16 read unmasked, a V chunk
     * decoded at the wrong column offset. */
    if (k->direct) {
        static const am_type tys[] = {AM_TYPE_F32, AM_TYPE_F16, AM_TYPE_Q8_0, AM_TYPE_Q4_0};
        static const int xhds[] = {64, 128, 256, 96, 40, 7};
        static const int xcnts[] = {1, 3, 4, 5, 17, 32};
        for (size_t ti = 0; ti < AM_ARRAY_LEN(tys); ti++)
            for (size_t a = 0; a < AM_ARRAY_LEN(xhds); a++) {
                const am_type ty = tys[ti];
                const int hd = xhds[a];
                if ((ty == AM_TYPE_Q8_0 || ty == AM_TYPE_Q4_0) && hd % AM_QK) continue;
                const size_t rb = am_type_row_bytes(ty, hd);
                const int maxc = 32, rp = 16;
                unsigned char *rows = malloc(rb * maxc);
                float *x = malloc((size_t)hd * 4), *q = malloc((size_t)8 * hd * 4);
                float *st = malloc((size_t)maxc * rp * 4), *st2 = malloc((size_t)maxc * rp * 4);
                float *acc = malloc((size_t)8 * hd * 4), *acc2 = malloc((size_t)8 * hd * 4), cr[16];
                for (int i = 0; i < maxc; i++) {
                    for (int c = 0; c < hd; c++) x[c] = frand(&seed) * 4;
                    if (ty == AM_TYPE_F32) memcpy(rows + i * rb, x, rb);
                    else if (ty == AM_TYPE_F16) ref->f32_to_f16(x, (uint16_t *)(rows + i * rb), hd);
                    else am_quantize_row(ty, x, rows + i * rb, hd);
                }
                for (int i = 0; i < 8 * hd; i++) q[i] = frand(&seed);
                /* the scalar reference's element decoder against
                 * am_dequant_row (bug: a nibble or scale taken wrongly there
                 * would hide the same bug in a SIMD level) */
                float *dec = malloc((size_t)maxc * hd * 4);
                for (int i = 0; i < maxc; i++) am_dequant_row(ty, rows + i * rb, dec + (size_t)i * hd, hd);
                ref->qk_rows_x(q, 8, hd, rows, rb, ty, maxc, st, rp);
                ref->qk_rows(q, 8, hd, dec, maxc, st2, rp);
                for (int i = 0; i < maxc; i++)
                    for (int r = 0; r < 8; r++)
                        CHECKF(st[i * rp + r] == st2[i * rp + r], "scalar qk_rows_x %s hd %d key %d row %d: %g vs %g",
                               am_type_name(ty), hd, i, r, st[i * rp + r], st2[i * rp + r]);
                free(dec);
                /* softmax_r4 (one decode token, 4 rows, st dense [cnt][4]):
                 * a key range cutting the keys, none visible, a first block.
                 * Bugs it is for: a lane's key index off by one, the row
                 * max / sum folded across rows instead of keys, the tail
                 * past 4 keys a vector not masked. */
                if (a == 0)
                    for (int cnt = 1; cnt <= 32; cnt += 3) {
                        float smx[4], smx2[4], ssm[4], ssm2[4], scr[4], scr2[4];
                        int l = (int)(rnd01(&seed) * cnt), u = (int)(rnd01(&seed) * cnt);
                        if (cnt % 4 == 2) l = u + 1; /* nothing visible */
                        else if (l > u) { int t = l; l = u; u = t; }
                        for (int r = 0; r < 4; r++) {
                            smx[r] = smx2[r] = cnt % 3 == 1 ? -INFINITY : frand(&seed) * 10;
                            ssm[r] = ssm2[r] = smx[r] == -INFINITY ? 0 : 1 + rnd01(&seed) * 5;
                        }
                        for (int i = 0; i < maxc * 4; i++) st[i] = st2[i] = frand(&seed) * 20;
                        k->softmax_r4(st, cnt, l, u, smx, ssm, scr);
                        ref->softmax_r4(st2, cnt, l, u, smx2, ssm2, scr2);
                        for (int i = 0; i < maxc * 4; i++)
                            CHECKF(fabsf(st[i] - st2[i]) <= 3e-7f * fabsf(st2[i]) + 1e-37f,
                                   "%s softmax_r4 cnt %d [%d, %d] p[%d] %g vs %g", name, cnt, l, u, i, st[i], st2[i]);
                        for (int r = 0; r < 4; r++) {
                            CHECKF(smx[r] == smx2[r], "%s softmax_r4 max row %d: %g vs %g", name, r, smx[r], smx2[r]);
                            CHECKF(fabsf(scr[r] - scr2[r]) <= 3e-7f * scr2[r] + 1e-37f,
                                   "%s softmax_r4 corr row %d: %g vs %g", name, r, scr[r], scr2[r]);
                            CHECKF(fabsf(ssm[r] - ssm2[r]) <= 1e-6f * ssm2[r] + 1e-37f,
                                   "%s softmax_r4 sum row %d: %g vs %g", name, r, ssm[r], ssm2[r]);
                        }
                    }
                for (size_t b = 0; b < AM_ARRAY_LEN(xcnts); b++)
                    for (int nq = 1; nq <= 8; nq++) {
                        const int cnt = xcnts[b];
                        for (int i = 0; i < maxc * rp; i++) st[i] = st2[i] = -7.0f; /* rows >= nq, keys >= cnt stay */
                        k->qk_rows_x(q, nq, hd, rows, rb, ty, cnt, st, rp);
                        ref->qk_rows_x(q, nq, hd, rows, rb, ty, cnt, st2, rp);
                        for (int i = 0; i < maxc * rp; i++)
                            CHECKF(fabsf(st[i] - st2[i]) <= 1e-5f * (4 * hd),
                                   "%s qk_rows_x %s hd %d cnt %d nr %d [%d]: %g vs %g", name, am_type_name(ty), hd,
                                   cnt, nq, i, st[i], st2[i]);
                        for (int i = 0; i < cnt * rp; i++) st[i] = rnd01(&seed);
                        for (int r = 0; r < rp; r++) cr[r] = r % 3 == 0 ? 0.0f : rnd01(&seed);
                        for (int i = 0; i < 8 * hd; i++) acc[i] = acc2[i] = i < nq * hd ? frand(&seed) : 5.0f;
                        k->pv_x(acc, nq, hd, st, rp, cr, rows, rb, ty, cnt);
                        ref->pv_x(acc2, nq, hd, st, rp, cr, rows, rb, ty, cnt);
                        for (int i = 0; i < 8 * hd; i++)
                            CHECKF(fabsf(acc[i] - acc2[i]) <= 1e-5f * (1 + 4 * cnt),
                                   "%s pv_x %s hd %d cnt %d nr %d [%d]: %g vs %g", name, am_type_name(ty), hd, cnt,
                                   nq, i, acc[i], acc2[i]);
                    }
                free(rows);
                free(x);
                free(q);
                free(st);
                free(st2);
                free(acc);
                free(acc2);
            }
    }
    /* qk_rows_q8 (integer K.Q over Q8_0 / Q4_0 keys, an int8 query):
     * (1) the scalar reference against exact scores of the dequantized
     * keys and the float query: |diff| <= sum_b (d_b / 2) * sum_b |k| (the
     * query rounding bound att_kern.h states) + float slack. Bug it catches:
     * a wrong block scale, the Q4_0 -8 or nibble order, a query block summed
     * against the wrong key block. (2) a level's own version bit-exact with
     * the scalar one, on ragged key counts (1..47: tails inside the 16-key
     * groups), 1..8 rows, hd 64 / 128 / 256, into rp 4 (the dense decode
     * layout) and 16. Bugs it catches: a transpose lane swapped, the qs4
     * order or the block of a dword mismatched, the unsigned offset
     * correction missing, a tail key stored or a row written to the wrong
     * st column. Planted once each and seen to fail: the reference's Q4_0
     * nibbles swapped (1), the +128 correction dropped, one transpose
     * shuffle taking the wrong lanes, qs4's middle quarters not swapped (2). */
    if (k->qk_int8 || ref == k) {
        static const am_type qtys[] = {AM_TYPE_Q8_0, AM_TYPE_Q4_0};
        static const int qhds[] = {64, 128, 256};
        static const int qcnts[] = {1, 4, 15, 16, 17, 32, 47};
        double worst_rel = 0, sum_rel = 0;
        long n_rel = 0;
        for (size_t ti = 0; ti < AM_ARRAY_LEN(qtys); ti++)
            for (size_t a = 0; a < AM_ARRAY_LEN(qhds); a++) {
                const am_type ty = qtys[ti];
                const int hd = qhds[a], nb = hd / AM_QK, maxc = 47;
                const size_t rb = am_type_row_bytes(ty, hd);
                unsigned char *rows = malloc(rb * maxc);
                float *x = malloc((size_t)hd * 4), *q = malloc((size_t)8 * hd * 4), *dec = malloc((size_t)maxc * hd * 4);
                float *st = malloc((size_t)maxc * 16 * 4), *st2 = malloc((size_t)maxc * 16 * 4);
                int8_t *qs = malloc((size_t)2 * 8 * hd);
                float *qd = malloc((size_t)8 * nb * 4);
                int32_t *qsum = malloc((size_t)8 * nb * 4);
                const eng_att_qq qq = {.qs = qs, .qs4 = qs + 8 * hd, .d = qd, .sum = qsum};
                for (int i = 0; i < maxc; i++) {
                    for (int c = 0; c < hd; c++) x[c] = frand(&seed) * 4 * (1 + (c % 7 == 0));
                    am_quantize_row(ty, x, rows + i * rb, hd);
                    am_dequant_row(ty, rows + i * rb, dec + (size_t)i * hd, hd);
                }
                for (int i = 0; i < 8 * hd; i++) q[i] = frand(&seed) * (i % 13 == 0 ? 3 : 1);
                eng_att_quant_q(q, 8, hd, &qq);
                /* (1) the reference against the float query */
                ref->qk_rows_q8(&qq, 8, hd, rows, rb, ty, maxc, st, 16);
                for (int i = 0; i < maxc; i++)
                    for (int r = 0; r < 8; r++) {
                        double exact = 0, bound = 0, nq = 0, nk = 0;
                        for (int b = 0; b < nb; b++) {
                            double l1 = 0;
                            for (int c = b * AM_QK; c < (b + 1) * AM_QK; c++) {
                                exact += (double)q[r * hd + c] * dec[(size_t)i * hd + c];
                                l1 += fabs(dec[(size_t)i * hd + c]);
                                nq += (double)q[r * hd + c] * q[r * hd + c];
                                nk += (double)dec[(size_t)i * hd + c] * dec[(size_t)i * hd + c];
                            }
                            bound += qd[r * nb + b] / 2 * l1;
                        }
                        const double got = st[i * 16 + r], err = fabs(got - exact);
                        CHECKF(err <= bound * (1 + 1e-5) + 1e-5 * sqrt(nq * nk),
                               "qk_rows_q8 ref %s hd %d key %d row %d: %g vs exact %g (bound %g)", am_type_name(ty),
                               hd, i, r, got, exact, bound);
                        const double rel = err / sqrt(nq * nk);
                        worst_rel = rel > worst_rel ? rel : worst_rel;
                        sum_rel += rel;
                        n_rel++;
                    }
                /* (2) the level against the reference, bit for bit */
                if (k != ref)
                    for (size_t b = 0; b < AM_ARRAY_LEN(qcnts); b++)
                        for (int nq = 1; nq <= 8; nq++)
                            for (int rp = 4; rp <= 16; rp += 12) {
                                const int cnt = qcnts[b];
                                if (nq > rp) continue;
                                for (int i = 0; i < maxc * 16; i++) st[i] = st2[i] = -7.0f;
                                k->qk_rows_q8(&qq, nq, hd, rows, rb, ty, cnt, st, rp);
                                ref->qk_rows_q8(&qq, nq, hd, rows, rb, ty, cnt, st2, rp);
                                for (int i = 0; i < maxc * 16; i++)
                                    CHECKF(st[i] == st2[i], "%s qk_rows_q8 %s hd %d cnt %d nr %d rp %d [%d]: %g vs %g",
                                           name, am_type_name(ty), hd, cnt, nq, rp, i, st[i], st2[i]);
                            }
                free(rows);
                free(x);
                free(q);
                free(dec);
                free(st);
                free(st2);
                free(qs);
                free(qd);
                free(qsum);
            }
        fprintf(stderr, "  %s int8 query scores: |err| / (|q| |k|) worst %.2e mean %.2e\n", name, worst_rel,
                sum_rel / (double)n_rel);
    }
    /* gated activations, over the range where they bend and far out */
    for (int act = 0; act < 2; act++) {
        int n = 1001;
        float *g = malloc(n * 4), *g2 = malloc(n * 4), *u = malloc(n * 4);
        for (int i = 0; i < n; i++) {
            g[i] = g2[i] = (i - 500) * (i % 7 == 0 ? 0.5f : 0.02f);
            u[i] = frand(&seed);
        }
        (act ? k->gelu_mul : k->silu_mul)(g, u, n);
        (act ? ref->gelu_mul : ref->silu_mul)(g2, u, n);
        for (int i = 0; i < n; i++)
            CHECKF(fabsf(g[i] - g2[i]) <= 1e-6f * (fabsf(g2[i]) + fabsf(u[i])), "%s %s(%g): %g vs %g", name,
                   act ? "gelu" : "silu", (i - 500) * (i % 7 == 0 ? 0.5f : 0.02f), g[i], g2[i]);
        free(g);
        free(g2);
        free(u);
    }
    /* Q8_0 / Q4_0 row decoders: bit-exact with am_dequant_row, on rows the
     * quantizer made and on raw random blocks (any q, any finite scale) */
    for (int qt = 0; qt < 2; qt++) {
        am_type t = qt ? AM_TYPE_Q4_0 : AM_TYPE_Q8_0;
        void (*dec)(const void *, float *, int64_t) = qt ? k->q4_0_to_f32 : k->q8_0_to_f32;
        for (int nb = 1; nb <= 9; nb += 4) {
            int64_t n = (int64_t)nb * AM_QK;
            size_t bytes = am_type_row_bytes(t, n);
            float *x = malloc(n * 4), *y = malloc(n * 4), *y2 = malloc(n * 4);
            unsigned char *blk = malloc(bytes);
            for (int raw = 0; raw < 2; raw++) {
                if (raw) {
                    for (size_t i = 0; i < bytes; i++) blk[i] = (unsigned char)(frand(&seed) * 128 + 128);
                    size_t bb = am_type_block_bytes(t);
                    for (int b = 0; b < nb; b++) {
                        uint16_t d = am_f32_to_f16(frand(&seed) * 4);
                        memcpy(blk + (size_t)b * bb, &d, 2);
                    }
                } else {
                    for (int64_t i = 0; i < n; i++) x[i] = frand(&seed) * (1 + (float)(i % 32));
                    am_quantize_row(t, x, blk, n);
                }
                dec(blk, y, nb);
                am_dequant_row(t, blk, y2, n);
                CHECKF(!memcmp(y, y2, n * 4), "%s %s decode nb %d raw %d", name, am_type_name(t), nb, raw);
            }
            free(x);
            free(y);
            free(y2);
            free(blk);
        }
    }
    /* f16 rounding of halfway and special values matches the scalar reference */
    float sp[] = {0.0f, -0.0f, 65504.0f, 65520.0f, 1e-8f, 6.1e-5f, 1.0009765625f + 0.00048828125f, INFINITY, -INFINITY};
    uint16_t a[9], b2[9];
    k->f32_to_f16(sp, a, 9);
    ref->f32_to_f16(sp, b2, 9);
    CHECKF(!memcmp(a, b2, sizeof a), "%s special f16", name);
}

static void test_levels(void) {
    eng_att_kern ref, k;
    eng_att_kern_scalar(&ref);
    check_level("scalar", &ref, &ref); /* the reference's own int8 bound */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        k = ref;
        eng_att_kern_avx2(&k);
        check_level("avx2", &k, &ref);
    } else {
        fprintf(stderr, "  (no AVX2: skipped)\n");
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
        k = ref;
        eng_att_kern_avx512(&k);
        check_level("avx512", &k, &ref);
    } else {
        fprintf(stderr, "  (no AVX-512: skipped)\n");
    }
}

int main(void) {
    AM_TEST_RUN(test_levels);
    AM_TEST_EXIT();
}
