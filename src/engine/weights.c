/*
 * weights.c — the engine's table of matmul weights: the model's tensor views,
 * or, where the kernels in use prefer it (compute/pack.h), packed copies that
 * the engine owns. Repacked tensors' file pages are dropped (am_model_drop_pages)
 * so the weights are resident once. The token embedding is read by row and stays
 * as loaded; an output matrix tied to it is packed all the same (for Q6_K, the
 * vocabulary-sized head that dominates batched decode): the copy serves the matmul,
 * the embedding view the row lookups, and after its pages are dropped only the rows
 * looked up come back from the file.
 * AGENTMEM_REPACK=0 keeps every view as loaded (A/B measurements).
 */
#include <stdlib.h>
#include <string.h>

#include "compute/matmul.h"
#include "compute/pack.h"
#include "engine/engine_impl.h"

/* The view to compute with for t: a packed copy when packing applies, else t. */
static const am_tensor *use(am_engine *e, const am_tensor *t, bool pack, am_err *err, int *rc) {
    if (!pack || *rc || !t || !am_pack_supported(t)) return t;
    am_tensor *dst = &e->packed[e->n_packed];
    if (am_pack_tensor(e->pool, t, dst, err)) {
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
        am_log_debug("engine: repacked %d weight tensors (%.1f MB) for the %s kernels in %.0f ms", e->n_packed,
                    (double)e->packed_bytes / 1e6, am_compute_isa(), e->pack_seconds * 1e3);
    return 0;
}

void eng_weights_free(am_engine *e) {
    for (int i = 0; i < e->n_packed; i++) am_aligned_free((void *)e->packed[i].data);
    free(e->packed);
    free(e->lw);
}
