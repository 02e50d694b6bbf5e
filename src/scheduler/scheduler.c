/*
 * scheduler.c — the engine's owner thread: takes submitted requests,
 * admits them onto agents' caches, and runs one packed forward pass per step
 * (every decoding sequence's next token + chunks of pending prefill under
 * step_tokens), streaming sampled tokens back to each request's queue.
 *
 * Never blocks on HTTP threads: events go into per-request queues; a request
 * whose caller went away is cancelled by its flag and finishes at the next
 * step. Never holds a lock across a forward pass or file I/O.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

#include "scheduler/sched_impl.h"

am_sched_params am_sched_default_params(void) {
    return (am_sched_params){
        .n_threads = 0,
        .parallel = 4,
        .queue_max = 64,
        .step_tokens = 256,
        .n_ctx = 0,
        .kv_budget = 0,
        .kv_type = AM_TYPE_F16,
        .kv_block_tokens = 32,
        .cache_dir = NULL,
        .disk_budget = 0,
        .kv_wait_ms = 10000,
        .hf_bf16_buffers = true,
    };
}

/* ---- requests (any thread) ------------------------------------------------ */

static void req_unref(am_req *q) {
    if (atomic_fetch_sub(&q->refs, 1) != 1) return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->ev);
    free(q->prompt);
    free(q);
}

/* Scheduler side: append an event and wake the reader. */
static void req_post(am_req *q, const am_gen_event *ev) {
    pthread_mutex_lock(&q->mu);
    if (q->ev_head + q->ev_n == q->ev_cap) {
        if (q->ev_head > 0) {
            memmove(q->ev, q->ev + q->ev_head, (size_t)q->ev_n * sizeof *q->ev);
            q->ev_head = 0;
        }
        if (q->ev_n == q->ev_cap) {
            q->ev_cap = q->ev_cap ? q->ev_cap * 2 : 16;
            q->ev = am_xrealloc(q->ev, (size_t)q->ev_cap * sizeof *q->ev);
        }
    }
    q->ev[q->ev_head + q->ev_n] = *ev;
    q->ev[q->ev_head + q->ev_n++].t_emit = am_time_now();
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

int am_req_next(am_req *q, am_gen_event *ev, int timeout_ms) {
    pthread_mutex_lock(&q->mu);
    struct timespec dl;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
    }
    int got = 0;
    while (!q->done_read) {
        if (q->ev_n > 0) {
            *ev = q->ev[q->ev_head++];
            q->ev_n--;
            if (ev->kind == AM_EV_DONE) q->done_read = true;
            got = 1;
            break;
        }
        if (timeout_ms < 0)
            pthread_cond_wait(&q->cv, &q->mu);
        else if (pthread_cond_timedwait(&q->cv, &q->mu, &dl) != 0)
            break;
    }
    pthread_mutex_unlock(&q->mu);
    return got;
}

void am_req_cancel(am_req *q) {
    if (q) atomic_store(&q->cancel, true);
}

void am_req_release(am_req *q) {
    if (!q) return;
    am_req_cancel(q);
    req_unref(q);
}

am_req *am_sched_submit(am_sched *s, const am_gen_request *r, am_err *err) {
    if (!r || r->n_prompt <= 0 || !r->prompt) {
        am_err_set(err, "the prompt is empty");
        return NULL;
    }
    if (r->max_tokens <= 0) {
        am_err_set(err, "max_tokens must be positive");
        return NULL;
    }
    if (r->agent[0] && !am_agent_id_valid(r->agent, strlen(r->agent))) {
        am_err_set(err, "agent id must match [A-Za-z0-9._-]{1,128}");
        return NULL;
    }
    if (r->n_logprobs > AM_MAX_TOP_LOGPROBS) {
        am_err_set(err, "top_logprobs must be at most %d", AM_MAX_TOP_LOGPROBS);
        return NULL;
    }
    for (int i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= s->n_vocab) {
            am_err_set(err, "token id %d out of range (vocabulary %d)", r->prompt[i], s->n_vocab);
            return NULL;
        }
    if ((int64_t)r->n_prompt + r->max_tokens > s->p.n_ctx) {
        am_err_setc(err, AM_E_TOO_LONG,
                    "the prompt (%d tokens) plus max_tokens (%d) exceeds the context (%d tokens)", r->n_prompt,
                    r->max_tokens, s->p.n_ctx);
        return NULL;
    }
    /* A request the whole pool cannot hold would only wait and fail. */
    const am_kv_params *kp = am_kv_get_params(s->kv);
    int64_t n = (int64_t)r->n_prompt + r->max_tokens, bt = kp->block_tokens, blocks = 0;
    for (int l = 0; l < kp->n_layer; l++) {
        int64_t b = (n + bt - 1) / bt, w = kp->window[l];
        blocks += w > 0 && w / bt + 2 < b ? w / bt + 2 : b;
    }
    if (blocks > kp->max_blocks) {
        am_err_setc(err, AM_E_TOO_LONG, "%d prompt tokens + max_tokens %d need %lld bytes of KV; the budget is %lld",
                    r->n_prompt, r->max_tokens, (long long)(blocks * (int64_t)am_kv_block_bytes(s->kv)),
                    (long long)(kp->max_blocks * (int64_t)am_kv_block_bytes(s->kv)));
        return NULL;
    }
    am_req *q = am_xcalloc(1, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    atomic_init(&q->cancel, false);
    atomic_init(&q->refs, 2);
    q->r = *r;
    q->prompt = am_xmalloc((size_t)r->n_prompt * sizeof(int32_t));
    memcpy(q->prompt, r->prompt, (size_t)r->n_prompt * sizeof(int32_t));
    q->r.prompt = q->prompt;
    q->t_submit = am_time_now();

    pthread_mutex_lock(&s->mu);
    bool busy = s->draining || s->n_queued >= s->p.queue_max;
    if (!busy) {
        if (s->q_tail)
            s->q_tail->next = q;
        else
            s->q_head = q;
        s->q_tail = q;
        s->n_queued++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (busy) {
        am_err_setc(err, AM_E_BUSY, s->draining ? "the server is shutting down" : "too many requests queued");
        atomic_store(&q->refs, 1);
        req_unref(q);
        return NULL;
    }
    return q;
}

/* ---- admission (scheduler thread) ------------------------------------------ */

static void finish_run(am_sched *s, sched_run *r, am_finish fin, am_status code, const char *msg);

static int64_t lcp(const int32_t *a, int64_t na, const int32_t *b, int64_t nb) {
    int64_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

static void run_push_tok(sched_run *r, int32_t t) {
    if (r->n_toks == r->cap_toks) {
        r->cap_toks = r->cap_toks ? r->cap_toks * 2 : 64;
        r->toks = am_xrealloc(r->toks, (size_t)r->cap_toks * sizeof(int32_t));
    }
    r->toks[r->n_toks++] = t;
}

/* The agent a request runs on: its named agent, or an anonymous one keyed by
 * the prompt's first tokens (an ephemeral one when that is busy). */
static sched_agent *agent_for(am_sched *s, am_req *q) {
    char id[AM_KVF_AGENT_MAX + 1];
    bool anon = !q->r.agent[0];
    if (anon) {
        int n = q->r.n_prompt < 64 ? q->r.n_prompt : 64;
        snprintf(id, sizeof id, "anon-%016llx",
                 (unsigned long long)XXH3_64bits(q->prompt, (size_t)n * sizeof(int32_t)));
    } else {
        snprintf(id, sizeof id, "%s", q->r.agent);
    }
    sched_agent *a = q->r.no_cache ? NULL : sched_agent_find(s, q->r.owner, id);
    if (q->r.no_cache || (a && a->running)) {
        if (!anon && !q->r.no_cache) return NULL; /* a named agent runs one request at a time: wait */
        snprintf(id, sizeof id, "anon-tmp-%llu", (unsigned long long)++s->anon_counter);
        pthread_mutex_lock(&s->amu);
        a = sched_agent_add(s, q->r.owner, id);
        a->ephemeral = true;
        pthread_mutex_unlock(&s->amu);
        return a;
    }
    if (!a) {
        pthread_mutex_lock(&s->amu);
        a = sched_agent_add(s, q->r.owner, id);
        pthread_mutex_unlock(&s->amu);
    }
    return a;
}

/* Another agent of the same owner whose cache starts with more of this
 * prompt than ours does (found through the prefix index, verified by
 * tokens): its full blocks are shared (reference-counted, copy-on-write)
 * instead of recomputed, so ten agents behind one system prompt hold it
 * once. Returns the tokens now shared into a fresh sequence (a multiple of
 * the block size), or 0. Running agents are not indexed, so never donors:
 * their token list is being rewritten. */
static int64_t share_from_donor(am_sched *s, sched_agent *a, const am_req *q, int64_t have) {
    sched_agent *donor = NULL;
    int64_t best = sched_prefix_find(s, a, q->prompt, q->r.n_prompt, &donor);
    if (!donor || best <= have) return 0;
    int seq = am_kv_seq_create(s->kv);
    if (am_kv_seq_share_prefix(s->kv, seq, donor->seq, best, NULL) < 0) {
        am_kv_seq_remove(s->kv, seq);
        return 0;
    }
    if (a->seq >= 0) am_kv_seq_remove(s->kv, a->seq);
    pthread_mutex_lock(&s->amu);
    a->seq = seq;
    if (a->cap < best) {
        a->cap = best;
        a->tokens = am_xrealloc(a->tokens, (size_t)best * sizeof(int32_t));
    }
    memcpy(a->tokens, q->prompt, (size_t)best * sizeof(int32_t));
    a->n_tokens = best;
    a->clean_tokens = 0; /* its file (if any) holds another history */
    free(a->logits_gen);
    free(a->logits_last);
    a->logits_gen = a->logits_last = NULL;
    pthread_mutex_unlock(&s->amu);
    atomic_fetch_add(&s->st_shared_tokens, (uint64_t)best);
    return best;
}

/* The logits where an earlier turn's generation began at q's prompt length,
 * from a's cache file (which keeps the last few; sched_persist writes them).
 * False when the file has none for it: the last prompt token is recomputed. */
static bool gen_logits_from_file(am_sched *s, const sched_agent *a, const am_req *q, float *out) {
    char path[4096];
    if (!s->mdir || a->ephemeral || !a->on_disk || am_kvf_path(s->mdir, a->owner, a->id, path, sizeof path) < 0)
        return false;
    am_err err = {0};
    if (am_kvf_read_gen(path, s->fp, &s->geom, q->r.n_prompt, q->prompt, out, &err) == 0) return true;
    if (err.code != AM_E_NOT_FOUND) am_log_warn("agent %s: earlier logits not read: %s", a->id, err.msg);
    return false;
}

/* Sets up a run for q on agent a: restores a warm cache, reuses the longest
 * common prefix (its own, or shared from another agent's blocks), and leaves
 * the rest for prefill. */
static void admit(am_sched *s, am_req *q, sched_agent *a) {
    sched_run *r = &s->runs[s->n_runs++];
    memset(r, 0, sizeof *r);
    r->q = q;
    r->a = a;
    r->batch_row = -1;
    r->t_admit = am_time_now();
    r->n_prompt = q->r.n_prompt;
    r->smp = am_sampler_create(&q->r.sp, s->n_vocab);
    r->logits = am_xmalloc((size_t)s->n_vocab * sizeof(float));
    for (int i = 0; i < q->r.n_prompt; i++) run_push_tok(r, q->prompt[i]);

    sched_prefix_remove(s, a); /* its tokens and blocks are about to change */
    pthread_mutex_lock(&s->amu);
    a->running = true;
    sched_agent_touch(s, a);
    pthread_mutex_unlock(&s->amu);
    atomic_fetch_add(&s->st_running, 1);

    am_err err = {0};
    if (a->seq < 0 && a->on_disk) {
        if (sched_agent_restore(s, a, &err) < 0) am_log_warn("agent %s: cache not restored: %s", a->id, err.msg);
    }
    int64_t reuse = 0;
    bool have_logits = false;
    if (a->seq >= 0) {
        int64_t l = lcp(a->tokens, a->n_tokens, q->prompt, q->r.n_prompt);
        int64_t l2 = sched_splice_generated(s, a, q, l);
        if (l2 != l) { /* the prompt now carries the answer's generated ids */
            l = l2;
            r->n_toks = 0;
            for (int i = 0; i < q->r.n_prompt; i++) run_push_tok(r, q->prompt[i]);
            r->n_prompt = q->r.n_prompt;
        }
        if (l == q->r.n_prompt && l == a->n_tokens && a->logits_last) {
            memcpy(r->logits, a->logits_last, (size_t)s->n_vocab * sizeof(float));
            have_logits = true;
            reuse = l;
        } else if (l == q->r.n_prompt && l == a->gen_start && a->logits_gen &&
                   am_kv_seq_can_truncate(s->kv, a->seq, l)) {
            memcpy(r->logits, a->logits_gen, (size_t)s->n_vocab * sizeof(float));
            have_logits = true;
            reuse = l;
        } else if (l == q->r.n_prompt && l < a->n_tokens && am_kv_seq_can_truncate(s->kv, a->seq, l) &&
                   gen_logits_from_file(s, a, q, r->logits)) {
            have_logits = true; /* the prompt of an earlier turn, sent again */
            reuse = l;
        } else {
            reuse = l < q->r.n_prompt ? l : q->r.n_prompt - 1;
        }
        /* Sliding layers may have dropped what a shorter prefix needs. */
        while (reuse > 0 && !am_kv_seq_can_truncate(s->kv, a->seq, reuse)) {
            have_logits = false;
            reuse = 0;
        }
        if (reuse == 0) {
            am_kv_seq_remove(s->kv, a->seq);
            a->seq = -1;
        } else if (reuse < a->n_tokens) {
            am_kv_seq_truncate(s->kv, a->seq, reuse, NULL);
        }
    }
    if (!have_logits && !a->ephemeral) {
        int64_t shared = share_from_donor(s, a, q, reuse);
        if (shared > 0) reuse = shared;
    }
    if (a->seq < 0) a->seq = am_kv_seq_create(s->kv);
    pthread_mutex_lock(&s->amu);
    a->n_tokens = reuse;
    if (a->clean_tokens > reuse) a->clean_tokens = reuse;
    if (reuse > 0) a->hits++;
    pthread_mutex_unlock(&s->amu);
    r->seq = a->seq;
    r->n_done = (int)reuse;
    r->n_cached = (int)reuse;
    for (int i = 0; i < q->r.n_prompt; i++) am_sampler_accept(r->smp, q->prompt[i]);
    atomic_fetch_add(&s->st_prompt_cached, (uint64_t)reuse);
    if (have_logits) {
        r->logits_gen = am_xmalloc((size_t)s->n_vocab * sizeof(float));
        memcpy(r->logits_gen, r->logits, (size_t)s->n_vocab * sizeof(float));
        r->decoding = true;
        r->pending = -1; /* sample from r->logits before feeding anything */
    }
}

/* ---- sampling and events -------------------------------------------------- */

static void logprobs(const float *lg, int nv, int32_t chosen, int n_top, am_gen_event *ev) {
    float mx = -INFINITY;
    for (int i = 0; i < nv; i++) mx = lg[i] > mx ? lg[i] : mx;
    double sum = 0;
    for (int i = 0; i < nv; i++) sum += exp((double)lg[i] - mx);
    float lse = mx + (float)log(sum);
    ev->logprob = lg[chosen] - lse;
    ev->n_top = 0;
    for (int k = 0; k < n_top; k++) {
        int best = -1;
        for (int i = 0; i < nv; i++) {
            bool taken = false;
            for (int j = 0; j < ev->n_top && !taken; j++) taken = ev->top_id[j] == i;
            if (!taken && (best < 0 || lg[i] > lg[best])) best = i;
        }
        if (best < 0) break;
        ev->top_id[ev->n_top] = best;
        ev->top_logprob[ev->n_top++] = lg[best] - lse;
    }
}

/* Samples from r->logits; emits the token or finishes the run. Returns true
 * when the run goes on (the token is to be fed next step). */
static bool sample_and_emit(am_sched *s, sched_run *r) {
    am_req *q = r->q;
    if (atomic_load(&q->cancel)) {
        finish_run(s, r, AM_FINISH_CANCELLED, AM_OK, NULL);
        return false;
    }
    int32_t id = am_sampler_sample(r->smp, r->logits);
    if (!q->r.ignore_eos && am_bundle_is_eog(s->b, id)) {
        finish_run(s, r, AM_FINISH_STOP, AM_OK, NULL);
        return false;
    }
    am_sampler_accept(r->smp, id);
    am_gen_event ev = {.kind = AM_EV_TOKEN, .token = id};
    if (q->r.n_logprobs) logprobs(r->logits, s->n_vocab, id, q->r.n_logprobs > 0 ? q->r.n_logprobs : 0, &ev);
    if (r->n_gen == 0) r->t_first = am_time_now();
    r->n_gen++;
    atomic_fetch_add(&s->st_generated, 1);
    req_post(q, &ev);
    if (r->n_gen >= q->r.max_tokens || r->n_done + 1 >= s->p.n_ctx) {
        finish_run(s, r, AM_FINISH_LENGTH, AM_OK, NULL);
        return false;
    }
    r->pending = id;
    return true;
}

/* Ends a run: the agent keeps what was computed (prompt + fed tokens), its
 * new blocks are queued for the file, and the request gets DONE. The run's
 * slot is marked free (q = NULL); the step loop compacts. */
static void finish_run(am_sched *s, sched_run *r, am_finish fin, am_status code, const char *msg) {
    sched_agent *a = r->a;
    am_req *q = r->q;
    pthread_mutex_lock(&s->amu);
    int64_t n = am_kv_seq_len(s->kv, r->seq);
    if (n > a->cap) {
        a->cap = n;
        a->tokens = am_xrealloc(a->tokens, (size_t)n * sizeof(int32_t));
    }
    /* n is 0 (and a->tokens NULL) for a new agent cut before its first step */
    if (n > 0) memcpy(a->tokens, r->toks, (size_t)n * sizeof(int32_t));
    a->n_tokens = n;
    if (n > 0 && r->logits_gen && n >= r->n_prompt) {
        a->gen_start = r->n_prompt;
        if (!a->logits_gen) a->logits_gen = am_xmalloc((size_t)s->n_vocab * sizeof(float));
        memcpy(a->logits_gen, r->logits_gen, (size_t)s->n_vocab * sizeof(float));
    } else {
        a->gen_start = 0;
        free(a->logits_gen);
        a->logits_gen = NULL;
    }
    /* r->logits is the row after token n-1 whenever the last forward covered
     * it (decode, or the end of prefill); otherwise it is stale. */
    bool last_ok = n > 0 && (r->decoding || r->n_done == r->n_prompt);
    if (last_ok) {
        if (!a->logits_last) a->logits_last = am_xmalloc((size_t)s->n_vocab * sizeof(float));
        memcpy(a->logits_last, r->logits, (size_t)s->n_vocab * sizeof(float));
    } else {
        free(a->logits_last);
        a->logits_last = NULL;
    }
    a->mem_bytes = sched_agent_mem_bytes(s, a);
    a->running = false;
    a->last_used = (double)time(NULL);
    sched_agent_touch(s, a);
    pthread_mutex_unlock(&s->amu);
    if (a->ephemeral || n == 0) {
        pthread_mutex_lock(&s->amu);
        sched_agent_forget(s, a);
        pthread_mutex_unlock(&s->amu);
    } else {
        sched_agent_snapshot(s, a);
        sched_prefix_add(s, a); /* idle and hot: a donor for others' prompts */
    }
    atomic_fetch_sub(&s->st_running, 1);

    double now = am_time_now();
    am_gen_event ev = {.kind = AM_EV_DONE, .finish = fin, .code = code};
    if (msg) snprintf(ev.msg, sizeof ev.msg, "%s", msg);
    ev.n_prompt = r->n_prompt;
    ev.n_cached = r->n_cached;
    ev.n_generated = r->n_gen;
    ev.t_queue = r->t_admit - q->t_submit;
    ev.t_first = r->n_gen ? r->t_first - q->t_submit : 0;
    ev.t_total = now - q->t_submit;
    req_post(q, &ev);
    req_unref(q);
    am_sampler_free(r->smp);
    free(r->toks);
    free(r->logits);
    free(r->logits_gen);
    r->q = NULL;
}

/* ---- one step --------------------------------------------------------------- */

/* Makes room for need more blocks by evicting idle agents. */
static bool ensure_blocks(am_sched *s, int64_t need) {
    while (am_kv_n_blocks_free(s->kv) < need)
        if (!sched_evict_one(s)) return false;
    return true;
}

static void compact_runs(am_sched *s) {
    int j = 0;
    for (int i = 0; i < s->n_runs; i++)
        if (s->runs[i].q) s->runs[j++] = s->runs[i];
    s->n_runs = j;
}

/* am_sched_cut: every run and every request not yet admitted ends now. */
static void cut_all(am_sched *s, am_req **pending) {
    for (int i = 0; i < s->n_runs; i++)
        if (s->runs[i].q) finish_run(s, &s->runs[i], AM_FINISH_LENGTH, AM_OK, NULL);
    compact_runs(s);
    for (am_req *q = *pending, *nx; q; q = nx) {
        nx = q->next;
        am_gen_event ev = {.kind = AM_EV_DONE, .finish = AM_FINISH_LENGTH, .n_prompt = q->r.n_prompt};
        snprintf(ev.msg, sizeof ev.msg, "ended at the drain deadline");
        req_post(q, &ev);
        req_unref(q);
        pthread_mutex_lock(&s->mu);
        s->n_queued--;
        pthread_mutex_unlock(&s->mu);
    }
    *pending = NULL;
}

static void step(am_sched *s) {
    /* Runs whose logits are ready but nothing was sampled yet (full reuse). */
    for (int i = 0; i < s->n_runs; i++) {
        sched_run *r = &s->runs[i];
        if (r->q && r->decoding && r->pending < 0) sample_and_emit(s, r);
    }
    bool stopping = __atomic_load_n(&s->stopping, __ATOMIC_RELAXED);
    for (int i = 0; i < s->n_runs; i++)
        if (s->runs[i].q && (stopping || atomic_load(&s->runs[i].q->cancel)))
            finish_run(s, &s->runs[i], AM_FINISH_CANCELLED, AM_OK, NULL);
    compact_runs(s);
    if (!s->n_runs) return;

    am_batch_clear(&s->batch);
    int budget = s->p.step_tokens, n_rows = 0;
    int64_t claimed = 0; /* blocks the runs packed so far will take in the forward pass */
    double now = am_time_now();
    for (int i = 0; i < s->n_runs; i++) s->runs[i].batch_row = -1;
    /* Prefill chunks go shortest remaining prompt first, so a short request
     * arriving during a long prefill is done in the next step instead of
     * waiting for the whole long prompt. And a step that finishes a prompt
     * leaves out chunks of prompts it would not finish, so that step is
     * short and the request's first token comes after about one chunk time
     * in all; a prompt left out once is not left out in the next step, so a
     * stream of short requests cannot starve a long one. */
    bool finishing = false;
    int ord[s->n_runs > 0 ? s->n_runs : 1];
    for (int i = 0; i < s->n_runs; i++) {
        int j = i, rem = s->runs[i].n_prompt - s->runs[i].n_done;
        while (j > 0 && s->runs[ord[j - 1]].n_prompt - s->runs[ord[j - 1]].n_done > rem) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = i;
    }
    for (int pass = 0; pass < 2; pass++) /* decodes first, then prefill chunks */
        for (int i = 0; i < s->n_runs && budget > 0; i++) {
            sched_run *r = &s->runs[pass ? ord[i] : i];
            if (r->decoding != (pass == 0)) continue;
            int n = r->decoding ? 1 : AM_MIN(budget, r->n_prompt - r->n_done);
            if (!r->decoding) {
                bool finishes = n == r->n_prompt - r->n_done;
                if (finishing && !finishes && !r->held_back) {
                    r->held_back = true;
                    continue;
                }
                r->held_back = false;
                finishing |= finishes;
            }
            int64_t need = am_kv_seq_blocks_needed(s->kv, r->seq, n);
            if (!ensure_blocks(s, claimed + need)) {
                /* Try a smaller prefill chunk, else wait (bounded). */
                while (n > 1 && !ensure_blocks(s, claimed + am_kv_seq_blocks_needed(s->kv, r->seq, n))) n /= 2;
                need = am_kv_seq_blocks_needed(s->kv, r->seq, n);
                if (!ensure_blocks(s, claimed + need)) {
                    if (!r->t_kv_wait) r->t_kv_wait = now;
                    if ((now - r->t_kv_wait) * 1000 > s->p.kv_wait_ms)
                        finish_run(s, r, AM_FINISH_ERROR, AM_E_NO_KV, "no KV memory for this request: the pool is full");
                    continue;
                }
            }
            r->t_kv_wait = 0;
            claimed += need; /* the engine reserves them, all or nothing, for the batch */
            if (r->decoding) {
                run_push_tok(r, r->pending);
                am_batch_add(&s->batch, r->pending, r->n_done, r->seq, true);
                r->batch_row = n_rows++;
            } else {
                for (int k = 0; k < n; k++) {
                    bool last = r->n_done + k == r->n_prompt - 1;
                    am_batch_add(&s->batch, r->toks[r->n_done + k], r->n_done + k, r->seq, last);
                    if (last) r->batch_row = n_rows++;
                }
            }
            budget -= n;
        }
    compact_runs(s);
    if (s->batch.n == 0) return;

    am_err err = {0};
    if (s->p.gate) am_step_gate_enter(s->p.gate);
    int frc = am_engine_forward(s->e, &s->batch, s->logits, &err);
    if (s->p.gate) am_step_gate_leave(s->p.gate);
    if (frc < 0) {
        am_log_error("scheduler: forward failed: %s", err.msg);
        for (int i = 0; i < s->n_runs; i++)
            finish_run(s, &s->runs[i], AM_FINISH_ERROR, err.code ? err.code : AM_E_INTERNAL, err.msg);
        compact_runs(s);
        return;
    }
    atomic_fetch_add(&s->st_steps, 1);
    /* Advance every run by what it fed. */
    for (int i = 0; i < s->n_runs; i++) {
        sched_run *r = &s->runs[i];
        int fed = 0;
        for (int t = 0; t < s->batch.n; t++) fed += s->batch.tok[t].seq == r->seq;
        if (!fed) continue;
        if (!r->decoding) atomic_fetch_add(&s->st_prompt_computed, (uint64_t)fed);
        r->n_done += fed;
        pthread_mutex_lock(&s->amu);
        r->a->n_tokens = r->n_done;
        pthread_mutex_unlock(&s->amu);
        if (r->batch_row < 0) continue;
        memcpy(r->logits, s->logits + (size_t)r->batch_row * s->n_vocab, (size_t)s->n_vocab * sizeof(float));
        if (!r->decoding) {
            r->logits_gen = am_xmalloc((size_t)s->n_vocab * sizeof(float));
            memcpy(r->logits_gen, r->logits, (size_t)s->n_vocab * sizeof(float));
            r->decoding = true;
        }
        sample_and_emit(s, r);
    }
    compact_runs(s);
}

/* ---- the thread --------------------------------------------------------------- */

static void run_commands(am_sched *s, sched_cmd *list) {
    for (sched_cmd *c = list; c; c = c->next) {
        if (c->kind == CMD_CHECK) {
            c->rc = am_kvc_check(s->kv, &c->err);
            for (int i = 0; i < s->n_agents && c->rc == 0; i++) {
                const sched_agent *a = &s->agents[i];
                if (a->used && !a->running && a->seq >= 0 && am_kv_seq_len(s->kv, a->seq) != a->n_tokens)
                    c->rc = am_err_setc(&c->err, AM_E_INTERNAL, "agent %s: sequence of %lld tokens, agent %lld",
                                        a->id, (long long)am_kv_seq_len(s->kv, a->seq), (long long)a->n_tokens);
            }
            if (c->rc == 0) c->rc = sched_prefix_check(s, &c->err);
            if (c->rc < 0 && c->err.code == AM_E_INVALID) c->err.code = AM_E_INTERNAL;
            continue;
        }
        if (c->kind == CMD_FLUSH) {
            sched_persist_register(s, c->barrier);
            sched_persist_collect(s); /* failed writes make their agents dirty again */
            sched_snapshot_dirty(s);
            persist_job *j = am_xcalloc(1, sizeof *j);
            j->barrier = c->barrier;
            sched_persist_push(s, j);
            c->rc = 0;
            continue;
        }
        sched_agent *a = sched_agent_find(s, c->owner, c->id);
        if (!a || a->ephemeral) {
            c->rc = am_err_setc(&c->err, AM_E_NOT_FOUND, "no agent '%s'", c->id);
        } else if (a->running) {
            c->rc = am_err_setc(&c->err, AM_E_BUSY, "agent '%s' has a request running", c->id);
        } else if (c->kind == CMD_EVICT) {
            if (a->seq >= 0) sched_agent_evict(s, a);
            c->rc = 0;
        } else {
            if (a->seq >= 0) am_kv_seq_remove(s->kv, a->seq);
            a->seq = -1;
            if (s->mdir) {
                persist_job *j = am_xcalloc(1, sizeof *j);
                j->is_delete = true;
                am_kvf_path(s->mdir, a->owner, a->id, j->path, sizeof j->path);
                sched_persist_push(s, j);
            }
            pthread_mutex_lock(&s->amu);
            sched_agent_forget(s, a);
            pthread_mutex_unlock(&s->amu);
            c->rc = 0;
        }
    }
    pthread_mutex_lock(&s->mu);
    for (sched_cmd *c = list; c; c = c->next) c->done = true;
    pthread_cond_broadcast(&s->cmd_cv);
    pthread_mutex_unlock(&s->mu);
}

static void *sched_main(void *arg) {
    am_sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && !s->cmds && s->n_runs == 0 && !s->q_head && !s->persist_done)
            pthread_cond_wait(&s->cv, &s->mu);
        s->persist_done = false;
        if (s->stopping) { /* queued requests end now; running ones at the next step */
            for (am_req *q = s->q_head, *nx; q; q = nx) {
                nx = q->next;
                am_gen_event ev = {.kind = AM_EV_DONE, .finish = AM_FINISH_CANCELLED, .code = AM_E_BUSY,
                                   .n_prompt = q->r.n_prompt};
                snprintf(ev.msg, sizeof ev.msg, "the server is shutting down");
                req_post(q, &ev);
                req_unref(q);
            }
            s->q_head = s->q_tail = NULL;
            s->n_queued = 0;
            if (s->n_runs == 0) {
                /* Commands that came in with the stop are refused, not left waiting. */
                for (sched_cmd *c = s->cmds; c; c = c->next) {
                    c->rc = am_err_setc(&c->err, AM_E_BUSY, "the server is shutting down");
                    c->done = true;
                }
                s->cmds = NULL;
                pthread_cond_broadcast(&s->cmd_cv);
                pthread_mutex_unlock(&s->mu);
                break;
            }
        }
        sched_cmd *cmds = s->cmds;
        s->cmds = NULL;
        /* Admit in order; a named agent already running keeps its request waiting. */
        am_req *pending = NULL, **ptail = &pending;
        while (s->q_head) {
            am_req *q = s->q_head;
            s->q_head = q->next;
            q->next = NULL;
            *ptail = q;
            ptail = &q->next;
        }
        s->q_tail = NULL;
        pthread_mutex_unlock(&s->mu);

        if (cmds) run_commands(s, cmds);
        sched_persist_collect(s);
        if (atomic_exchange(&s->cut, false)) cut_all(s, &pending);

        am_req *keep = NULL, **ktail = &keep;
        int n_kept = 0;
        for (am_req *q = pending, *nx; q; q = nx) {
            nx = q->next;
            q->next = NULL;
            sched_agent *a = NULL;
            if (atomic_load(&q->cancel)) {
                am_gen_event ev = {.kind = AM_EV_DONE, .finish = AM_FINISH_CANCELLED, .n_prompt = q->r.n_prompt};
                req_post(q, &ev);
                req_unref(q);
                pthread_mutex_lock(&s->mu);
                s->n_queued--;
                pthread_mutex_unlock(&s->mu);
                continue;
            }
            if (s->n_runs < s->p.parallel && (a = agent_for(s, q))) {
                pthread_mutex_lock(&s->mu);
                s->n_queued--;
                pthread_mutex_unlock(&s->mu);
                admit(s, q, a);
            } else {
                *ktail = q;
                ktail = &q->next;
                n_kept++;
            }
        }
        if (keep) { /* put the waiting ones back at the head, in order */
            pthread_mutex_lock(&s->mu);
            *ktail = s->q_head;
            s->q_head = keep;
            am_req *t = s->q_head;
            while (t->next) t = t->next;
            s->q_tail = t;
            pthread_mutex_unlock(&s->mu);
        }
        if (s->n_runs) step(s);
        atomic_store(&s->st_kv_used, am_kv_n_blocks_used(s->kv) * (int64_t)am_kv_block_bytes(s->kv));
        if (!s->n_runs && keep) {
            /* Requests wait only for a running agent, so with nothing
             * running this does not happen; back off rather than spin. */
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* ---- create / free -------------------------------------------------------------- */

am_sched *am_sched_create(am_bundle *b, const am_sched_params *pp, am_err *err) {
    am_sched_params p = pp ? *pp : am_sched_default_params();
    const am_hparams *hp = &b->model->hp;
    if (p.parallel <= 0) p.parallel = 4;
    if (p.queue_max <= 0) p.queue_max = 64;
    if (p.step_tokens <= 0) p.step_tokens = 256;
    if (p.step_tokens < p.parallel) p.step_tokens = p.parallel;
    if (p.n_ctx <= 0) p.n_ctx = hp->n_ctx_train > 0 && hp->n_ctx_train < 8192 ? hp->n_ctx_train : 8192;
    if (p.kv_block_tokens <= 0) p.kv_block_tokens = 32;
    if (p.kv_wait_ms <= 0) p.kv_wait_ms = 10000;
    if (p.kv_type_fallback && p.kv_type != AM_TYPE_F16 && hp->head_dim % 32 != 0) {
        am_log_info("kv type %s needs head_dim %% 32 == 0 (%s has %d): f16", am_type_name(p.kv_type),
                    b->id ? b->id : "the model", hp->head_dim);
        p.kv_type = AM_TYPE_F16;
    }

    am_engine_params ep = am_engine_default_params();
    ep.n_threads = p.n_threads;
    ep.max_batch = p.step_tokens;
    ep.kv_block_tokens = p.kv_block_tokens;
    ep.kv_type = p.kv_type;
    ep.kv_type_k = p.kv_type_k;
    ep.kv_type_v = p.kv_type_v;
    ep.hf_bf16_buffers = p.hf_bf16_buffers;
    ep.kv_tokens = (int64_t)p.n_ctx * p.parallel;
    ep.kv_bytes = p.kv_budget;
    int window[AM_MAX_LAYERS];
    am_kv_params kp;
    if (am_engine_kv_params(b->model, &ep, &kp, window, err) < 0) return NULL;
    am_kv *kv = am_kv_create(&kp, err);
    if (!kv) return NULL;
    am_type tk, tv;
    am_kv_resolve_types(kp.type, kp.type_k, kp.type_v, &tk, &tv);
    ep.kv = kv;
    am_engine *e = am_engine_create(b->model, &ep, err);
    if (!e) {
        am_kv_free(kv);
        return NULL;
    }
    am_sched *s = am_xcalloc(1, sizeof *s);
    s->p = p;
    if (p.cache_dir) s->p.cache_dir = am_xstrdup(p.cache_dir);
    s->b = am_bundle_ref(b);
    s->e = e;
    s->kv = kv;
    s->n_vocab = hp->n_vocab;
    s->geom = (am_kvf_geom){
        .n_layer = (uint32_t)kp.n_layer,
        .n_head_kv = (uint32_t)kp.n_head_kv,
        .head_dim = (uint32_t)kp.head_dim,
        .block_tokens = (uint32_t)kp.block_tokens,
        .type_k = (uint32_t)tk,
        .type_v = (uint32_t)tv,
        .n_vocab = (uint32_t)hp->n_vocab,
        .block_bytes = am_kv_block_bytes(kv),
    };
    /* What shapes K/V bytes beyond the model: the engine's settings. */
    struct {
        uint8_t model[16];
        int32_t type_k, type_v, block_tokens, bf16;
    } fpin = {.type_k = (int32_t)tk, .type_v = (int32_t)tv, .block_tokens = kp.block_tokens,
              .bf16 = p.hf_bf16_buffers};
    memcpy(fpin.model, b->fingerprint, 16);
    XXH128_hash_t h = XXH3_128bits(&fpin, sizeof fpin);
    memcpy(s->fp, &h.low64, 8);
    memcpy(s->fp + 8, &h.high64, 8);

    s->runs = am_xcalloc((size_t)p.parallel, sizeof *s->runs);
    am_batch_init(&s->batch, p.step_tokens);
    /* A step asks logits of at most one token per run (its decode or its prompt's last
     * token), so parallel rows, not step_tokens (256 x 128256 floats were 131 MB). */
    s->logits = am_xmalloc((size_t)p.parallel * (size_t)hp->n_vocab * sizeof(float));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->cmd_cv, NULL);
    pthread_mutex_init(&s->amu, NULL);
    pthread_mutex_init(&s->pmu, NULL);
    pthread_cond_init(&s->pcv, NULL);
    /* Write-behind memory: snapshots wait beyond this (sched_persist_push). */
    int64_t kv_bytes = kp.max_blocks * (int64_t)am_kv_block_bytes(kv);
    s->pq_max = p.persist_queue_max > 0 ? p.persist_queue_max : AM_MAX(kv_bytes / 8, (int64_t)64 << 20);
    if (s->p.cache_dir) {
        char md[4096];
        if (am_kvf_model_dir(s->p.cache_dir, s->fp, md, sizeof md) == 0) {
            s->mdir = am_xstrdup(md);
            if (mkdir(md, 0700) < 0 && errno != EEXIST)
                am_log_warn("cache: cannot create %s: %s (caches will not be saved)", md, strerror(errno));
            am_kvf_sweep_temps(s->p.cache_dir); /* temps of the flat layout */
            am_kvf_sweep_temps(md);
            sched_index_dir(s);
        } else {
            am_log_warn("cache: directory path too long: %s", s->p.cache_dir);
        }
    }
    sched_persist_start(s);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 8u << 20);
    pthread_create(&s->thread, &attr, sched_main, s);
    pthread_attr_destroy(&attr);
    atomic_store(&s->ready, true);
    return s;
}

void am_sched_drain(am_sched *s) {
    pthread_mutex_lock(&s->mu);
    s->draining = true;
    pthread_mutex_unlock(&s->mu);
    atomic_store(&s->ready, false);
}

void am_sched_cut(am_sched *s) {
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->cut, true);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int am_sched_active(am_sched *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->n_queued + (int)atomic_load(&s->st_running);
    pthread_mutex_unlock(&s->mu);
    return n;
}

void am_sched_free(am_sched *s, int deadline_ms) {
    if (!s) return;
    am_sched_drain(s);
    double t0 = am_time_now();
    for (;;) { /* let running requests finish until the deadline */
        pthread_mutex_lock(&s->mu);
        bool idle = !s->q_head && atomic_load(&s->st_running) == 0;
        pthread_mutex_unlock(&s->mu);
        if (idle || (am_time_now() - t0) * 1000 > deadline_ms) break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&s->mu);
    __atomic_store_n(&s->stopping, true, __ATOMIC_RELAXED);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    /* The scheduler thread is gone: this thread owns the agents now. Writes
     * that failed left their agents dirty; try them once more. */
    sched_persist_collect(s);
    sched_snapshot_dirty(s);
    sched_persist_stop(s);
    for (int i = 0; i < s->n_agents; i++)
        if (s->agents[i].used) sched_agent_forget(s, &s->agents[i]);
    free(s->agents);
    sched_prefix_free(&s->prefix);
    free(s->runs);
    free(s->logits);
    am_batch_free(&s->batch);
    am_engine_free(s->e);
    am_kv_free(s->kv);
    am_bundle_unref(s->b);
    free((char *)s->p.cache_dir);
    free(s->mdir);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->cmd_cv);
    pthread_mutex_destroy(&s->amu);
    pthread_mutex_destroy(&s->pmu);
    pthread_cond_destroy(&s->pcv);
    free(s);
}

const am_bundle *am_sched_bundle(const am_sched *s) { return s->b; }
int am_sched_n_ctx(const am_sched *s) { return s->p.n_ctx; }
const char *am_sched_model_dir(const am_sched *s) { return s->mdir; }

/* Hands a command to the scheduler thread and waits until it ran. -1 with
 * AM_E_BUSY while stopping (the thread may never look again), else c's rc. */
static int run_cmd(am_sched *s, sched_cmd *c, am_err *err) {
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return am_err_setc(err, AM_E_BUSY, "the server is shutting down");
    }
    c->next = s->cmds;
    s->cmds = c;
    pthread_cond_signal(&s->cv);
    while (!c->done) pthread_cond_wait(&s->cmd_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (c->rc < 0 && err) *err = c->err;
    return c->rc;
}

int am_sched_agent_delete(am_sched *s, uint64_t owner, const char *id, bool evict_only, am_err *err) {
    if (!id || !am_agent_id_valid(id, strlen(id))) return am_err_setc(err, AM_E_NOT_FOUND, "no agent '%s'", id ? id : "");
    sched_cmd c = {.kind = evict_only ? CMD_EVICT : CMD_DELETE, .owner = owner};
    snprintf(c.id, sizeof c.id, "%s", id);
    return run_cmd(s, &c, err);
}

int am_sched_check(am_sched *s, am_err *err) {
    sched_cmd c = {.kind = CMD_CHECK};
    return run_cmd(s, &c, err);
}

int am_sched_flush(am_sched *s, json_t **lost, am_err *err) {
    if (lost) *lost = NULL;
    persist_barrier b = {.lost = json_array()};
    sched_cmd c = {.kind = CMD_FLUSH, .barrier = &b};
    if (run_cmd(s, &c, err) < 0) { /* stopping, or refused: the marker was never queued */
        json_decref(b.lost);
        return -1;
    }
    pthread_mutex_lock(&s->pmu);
    while (!b.done) pthread_cond_wait(&s->pcv, &s->pmu);
    int n = b.n_written;
    pthread_mutex_unlock(&s->pmu);
    if (lost)
        *lost = b.lost;
    else
        json_decref(b.lost);
    return n;
}

void am_sched_stats_get(am_sched *s, am_sched_stats *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&s->mu);
    o->queued = s->n_queued;
    pthread_mutex_unlock(&s->mu);
    o->running = atomic_load(&s->st_running);
    o->kv_bytes_budget = (int64_t)am_kv_get_params(s->kv)->max_blocks * (int64_t)am_kv_block_bytes(s->kv);
    pthread_mutex_lock(&s->amu);
    o->kv_bytes_used = atomic_load(&s->st_kv_used);
    for (int i = 0; i < s->n_agents; i++) {
        const sched_agent *a = &s->agents[i];
        if (!a->used || a->ephemeral) continue;
        if (a->seq >= 0)
            o->agents_hot++;
        else if (a->on_disk)
            o->agents_warm++;
    }
    pthread_mutex_unlock(&s->amu);
    o->prompt_tokens_computed = atomic_load(&s->st_prompt_computed);
    o->prompt_tokens_cached = atomic_load(&s->st_prompt_cached);
    o->generated_tokens = atomic_load(&s->st_generated);
    o->cache_saves = atomic_load(&s->st_saves);
    o->cache_save_bytes = atomic_load(&s->st_save_bytes);
    o->cache_save_failures = atomic_load(&s->st_save_fail);
    o->cache_restores = atomic_load(&s->st_restores);
    o->cache_restore_bytes = atomic_load(&s->st_restore_bytes);
    o->cache_restore_failures = atomic_load(&s->st_restore_fail);
    o->evictions = atomic_load(&s->st_evictions);
    o->steps = atomic_load(&s->st_steps);
    o->shared_prefix_tokens = atomic_load(&s->st_shared_tokens);
    o->disk_bytes = atomic_load(&s->st_disk_bytes);
    pthread_mutex_lock(&s->pmu);
    o->persist_queue_bytes = s->pq_bytes;
    o->persist_queue_peak = s->pq_peak;
    o->persist_queue_max = s->pq_max;
    pthread_mutex_unlock(&s->pmu);
    o->persist_waits = atomic_load(&s->st_persist_waits);
    o->ready = atomic_load(&s->ready);
}
