/*
 * weights.c — the engine's table of matmul weights: the model's tensor views,
 * or, where the kernels in use prefer it (compute/pack.h), packed copies that
 * the engine owns. Repacked tensors' file pages are dropped (am_model_drop_pages)
 * so the weights are resident once. The token embedding is read by row and stays
 * as loaded; an output matrix tied to it is packed all the same (for Q6_K, the
 * vocabulary-sized head that dominates batched decode): the copy serves the matmul,
 * the embedding view the row lookups, and after its pages are dropped only the rows
 * looked up come back from the file.
 * F16 / BF16 matmul weights are copied as they are (same bytes, row layout) into
 * memory on transparent huge pages: decode streams every weight once per token,
 * and from the file's 4 KiB mmap pages it read ~36 GB/s where the same kernel on
 * the huge-page copy reads ~42 GB/s (docs/BENCHMARKS.md). Quantized types get the
 * same through their packed copies; other tensors stay as loaded.
 * AGENTMEM_REPACK=0 keeps every view as loaded (A/B measurements).
 */
#include <stdlib.h>
#include <string.h>

#include "compute/matmul.h"
#include "compute/pack.h"
#include "engine/engine_impl.h"

/* True for a float matmul weight worth a huge-page copy (see the top). */
static bool copy_wanted(const am_tensor *t) {
    return t->layout == AM_LAYOUT_ROWS && (t->type == AM_TYPE_F16 || t->type == AM_TYPE_BF16);
}

/* dst = src with its bytes in a new huge-page buffer (am_aligned_free). */
static void copy_huge(const am_tensor *src, am_tensor *dst) {
    void *d = am_xmalloc_huge(src->nbytes);
    memcpy(d, src->data, src->nbytes);
    *dst = *src;
    dst->data = d;
}

/* The view to compute with for t: a packed copy when packing applies, a huge-page
 * copy for float weights, else t. */
static const am_tensor *use(am_engine *e, const am_tensor *t, bool pack, am_err *err, int *rc) {
    if (!pack || *rc || !t) return t;
    am_tensor *dst = &e->packed[e->n_packed];
    if (copy_wanted(t)) {
        copy_huge(t, dst);
    } else if (!am_pack_supported(t)) {
        return t;
    } else if (am_pack_tensor(e->pool, t, dst, err)) {
        *rc = -1;
        return t;
    }
    e->n_packed++;
    e->packed_bytes += dst->nbytes;
    am_model_drop_pages(e->m, t);
    return dst;
}

int eng_weights_init(am_engine *e, am_err *err) {
    const am_model *m = e->m;
    const int nl = m->hp.n_layer;
    const char *env = getenv("AGENTMEM_REPACK");
    const bool pack = am_pack_preferred() && !(env && strcmp(env, "0") == 0);
    e->lw = am_xcalloc((size_t)nl, sizeof *e->lw);
    e->packed = pack ? am_xcalloc((size_t)nl * 7 + 1, sizeof *e->packed) : NULL;
    double t0 = am_time_now();
    int rc = 0;
    for (int l = 0; l < nl; l++) {
        const am_layer *L = &m->layers[l];
        eng_lw *w = &e->lw[l];
        w->wq = use(e, L->wq, pack, err, &rc);
        w->wk = use(e, L->wk, pack, err, &rc);
        w->wv = use(e, L->wv, pack, err, &rc);
        w->wo = use(e, L->wo, pack, err, &rc);
        w->gate = use(e, L->ffn_gate, pack, err, &rc);
        w->up = use(e, L->ffn_up, pack, err, &rc);
        w->down = use(e, L->ffn_down, pack, err, &rc);
    }
    e->output = use(e, m->output, pack, err, &rc); /* tied or not */
    e->pack_seconds = am_time_now() - t0;
    if (rc) return -1;
    if (e->n_packed)
        am_log_debug("engine: repacked or copied %d weight tensors (%.1f MB) for the %s kernels in %.0f ms", e->n_packed,
                    (double)e->packed_bytes / 1e6, am_compute_isa(), e->pack_seconds * 1e3);
    return 0;
}

void eng_weights_free(am_engine *e) {
    for (int i = 0; i < e->n_packed; i++) am_aligned_free((void *)e->packed[i].data);
    free(e->packed);
    free(e->lw);
}
