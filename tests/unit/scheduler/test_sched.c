/*
 * test_sched.c — the scheduler against an independent path: every answer it
 * streams (batched with other agents, resumed from a reused prefix, restored
 * from a cache file after eviction or a restart) must equal what a plain
 * engine loop (one sequence, token by token, greedy) gives for the same
 * prompt.
 */
#include <stdlib.h>
#include <time.h>

#include "sched_test_util.h"

/* Bug: tokens of different sequences mixed in one batch (wrong seq, wrong
 * position, logits rows swapped between runs) — each concurrent agent's
 * answer must equal its answer alone. */
static void test_concurrent_equals_alone(void) {
    enum { N = 6, LEN = 90, GEN = 20 };
    static int32_t prompts[N][LEN], ref[N][GEN];
    int n_ref[N];
    for (int i = 0; i < N; i++) {
        make_prompt(prompts[i], LEN - i * 7, 100 + i);
        n_ref[i] = ref_generate(prompts[i], LEN - i * 7, GEN, ref[i]);
    }
    am_sched *s = make_sched(4, 0, NULL);
    am_req *q[N];
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "agent-%d", i);
        q[i] = submit(s, id, prompts[i], LEN - i * 7, GEN);
    }
    for (int i = 0; i < N; i++) {
        result r;
        collect(q[i], &r);
        CHECKF(same(&r, ref[i], n_ref[i]), "agent %d: %d tokens vs %d", i, r.n, n_ref[i]);
        CHECK(r.done.finish == (n_ref[i] == GEN ? AM_FINISH_LENGTH : AM_FINISH_STOP));
        CHECK(r.done.n_cached == 0 && r.done.n_prompt == LEN - i * 7);
        am_req_release(q[i]);
        CHECK_SCHED(s);
    }
    am_sched_stats st;
    am_sched_stats_get(s, &st);
    CHECK(st.running == 0 && st.agents_hot == N);
    am_sched_free(s, 1000);
}

/* Bug: the reused prefix is wrong (off by one, stale logits, the cache not
 * truncated to the common prefix) — a second turn and a retry of the same
 * prompt must equal the cold answers, and a retry computes nothing. */
static void test_reuse_and_retry(void) {
    enum { LEN = 70, GEN = 16 };
    int32_t p[LEN + GEN + 10], ref[GEN], ref2[GEN];
    make_prompt(p, LEN, 7);
    int nr = ref_generate(p, LEN, GEN, ref);
    am_sched *s = make_sched(2, 0, NULL);
    result r;
    am_req *q = submit(s, "conv", p, LEN, GEN);
    collect(q, &r);
    am_req_release(q);
    CHECK_SCHED(s);
    CHECK(same(&r, ref, nr));

    /* Retry: same prompt, answer must be the same, nothing recomputed. */
    am_sched_stats a, b;
    am_sched_stats_get(s, &a);
    q = submit(s, "conv", p, LEN, GEN);
    collect(q, &r);
    am_req_release(q);
    CHECK_SCHED(s);
    am_sched_stats_get(s, &b);
    CHECK(same(&r, ref, nr));
    /* A sliding layer has dropped the window the prompt's end needs once the
     * answer moved past it: the retry then recomputes (correctly). */
    if (!g_b->model->hp.sliding_window) {
        CHECKF(r.done.n_cached == LEN, "cached %d", r.done.n_cached);
        CHECKF(b.prompt_tokens_computed == a.prompt_tokens_computed, "computed %llu more",
               (unsigned long long)(b.prompt_tokens_computed - a.prompt_tokens_computed));
    }

    /* Second turn: prompt + answer + 10 new tokens. */
    int n2 = LEN;
    for (int i = 0; i < nr; i++) p[n2++] = ref[i];
    for (int i = 0; i < 10; i++) p[n2++] = 3 + i;
    int nr2 = ref_generate(p, n2, GEN, ref2);
    q = submit(s, "conv", p, n2, GEN);
    collect(q, &r);
    am_req_release(q);
    CHECK_SCHED(s);
    CHECK(same(&r, ref2, nr2));
    CHECKF(r.done.n_cached >= LEN + nr - 1, "cached %d of %d", r.done.n_cached, n2);
    am_sched_free(s, 1000);
}

/* Bug: a request repeating the prompt of an earlier turn (not the last one)
 * recomputes its last token, or samples from the wrong turn's logits — after
 * two more turns, hot and after eviction, the first turn's prompt again must
 * give the first answer with nothing computed. */
static void test_retry_earlier_turn(void) {
    enum { LEN = 70, GEN = 12 };
    int32_t p[LEN + 2 * (GEN + 10)], ref[GEN], ref2[GEN];
    make_prompt(p, LEN, 11);
    int nr = ref_generate(p, LEN, GEN, ref);
    am_sched *s = make_sched(2, 0, g_dir);
    result r;
    am_req *q = submit(s, "hist", p, LEN, GEN);
    collect(q, &r);
    am_req_release(q);
    CHECK(same(&r, ref, nr));
    int n2 = LEN;
    for (int i = 0; i < r.n; i++) p[n2++] = r.toks[i];
    for (int i = 0; i < 10; i++) p[n2++] = 5 + i;
    int nr2 = ref_generate(p, n2, GEN, ref2);
    for (int round = 0; round < 2; round++) {
        q = submit(s, "hist", p, n2, GEN); /* the second turn: the newest generation start */
        collect(q, &r);
        am_req_release(q);
        CHECK(same(&r, ref2, nr2));
        am_err err = {0};
        CHECK(am_sched_flush(s, NULL, &err) >= 0);
        if (round == 1) CHECK(am_sched_agent_delete(s, 0, "hist", true, &err) == 0); /* warm */
        am_sched_stats a, b;
        am_sched_stats_get(s, &a);
        q = submit(s, "hist", p, LEN, GEN); /* the first turn's prompt again */
        collect(q, &r);
        am_req_release(q);
        CHECK_SCHED(s);
        am_sched_stats_get(s, &b);
        CHECKF(same(&r, ref, nr), "round %d", round);
        if (!g_b->model->hp.sliding_window) {
            CHECKF(r.done.n_cached == LEN, "round %d: cached %d", round, r.done.n_cached);
            CHECKF(b.prompt_tokens_computed == a.prompt_tokens_computed, "round %d: computed %llu", round,
                   (unsigned long long)(b.prompt_tokens_computed - a.prompt_tokens_computed));
        }
    }
    am_sched_free(s, 1000);
}

/* Bug: eviction loses or corrupts a cache, LRU evicts a running agent, a
 * restore reads the wrong blocks — with a pool that holds ~2 agents, 6 agents
 * in turn must each come back (restored from disk) with the cold answers. */
static void test_evict_restore_restart(void) {
    enum { N = 6, LEN = 120, GEN = 12 };
    static int32_t prompts[N][LEN], ref[N][GEN];
    int n_ref[N];
    for (int i = 0; i < N; i++) {
        make_prompt(prompts[i], LEN, 300 + i);
        n_ref[i] = ref_generate(prompts[i], LEN, GEN, ref[i]);
    }
    const am_hparams *hp = &g_b->model->hp;
    int64_t per_token = (int64_t)hp->n_layer * hp->n_head_kv * am_type_row_bytes(g_kv, hp->head_dim) * 2;
    int64_t budget = per_token * 32 * 10; /* 10 blocks per layer: two agents of 4 blocks */
    char cmd[700], mdir[512];
    am_sched *s = make_sched(1, budget, g_dir);
    snprintf(mdir, sizeof mdir, "%s", am_sched_model_dir(s));
    am_sched_free(s, 1000);
    snprintf(cmd, sizeof cmd, "rm -f %s/*.amkv", mdir);
    if (system(cmd)) {
    }
    s = make_sched(1, budget, g_dir);
    result r;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N; i++) {
            char id[32];
            snprintf(id, sizeof id, "ev-%d", i);
            am_req *q = submit(s, id, prompts[i], LEN, GEN);
            collect(q, &r);
            am_req_release(q);
            CHECK_SCHED(s);
            CHECKF(same(&r, ref[i], n_ref[i]), "round %d agent %d", round, i);
            if (round == 1) CHECKF(r.done.n_cached == LEN, "round 1 agent %d cached %d", i, r.done.n_cached);
        }
    /* LRU order: the last agent used is hot, the first ones were evicted. */
    json_t *last = am_sched_agents_json(s, 0, "ev-5"), *first = am_sched_agents_json(s, 0, "ev-0");
    CHECK(last && !strcmp(json_string_value(json_object_get(last, "tier")), "hot"));
    CHECK(first && !strcmp(json_string_value(json_object_get(first, "tier")), "warm"));
    json_decref(last);
    json_decref(first);
    am_sched_stats st;
    am_sched_stats_get(s, &st);
    CHECK(st.evictions >= N);
    CHECK(st.cache_restores >= N);
    CHECK(st.cache_restore_failures == 0);
    CHECK(st.kv_bytes_used <= st.kv_bytes_budget);
    am_sched_free(s, 1000);
    CHECK(count_files(mdir, ".amkv") == N);

    /* Restart: a new scheduler finds every agent warm. */
    s = make_sched(2, 0, g_dir);
    json_t *list = am_sched_agents_json(s, 0, NULL);
    CHECKF(json_array_size(list) == N, "%zu agents after restart", json_array_size(list));
    json_decref(list);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "ev-%d", i);
        am_req *q = submit(s, id, prompts[i], LEN, GEN);
        collect(q, &r);
        am_req_release(q);
        CHECK_SCHED(s);
        CHECKF(same(&r, ref[i], n_ref[i]), "after restart agent %d", i);
        CHECKF(r.done.n_cached == LEN, "after restart agent %d cached %d", i, r.done.n_cached);
    }
    am_sched_free(s, 1000);

    /* A corrupt file is removed and the prompt recomputed. */
    char path[700];
    snprintf(path, sizeof path, "%s/ev-0.amkv", mdir);
    /* Flip a byte inside the block data, past every header. */
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 0, SEEK_END);
        long at = ftell(f) - 200; /* inside the last segment, which a load always reads */
        fseek(f, at, SEEK_SET);
        int c = fgetc(f);
        fseek(f, at, SEEK_SET);
        fputc(c ^ 0x5a, f);
        fclose(f);
    }
    s = make_sched(2, 0, g_dir);
    am_req *q = submit(s, "ev-0", prompts[0], LEN, GEN);
    collect(q, &r);
    am_req_release(q);
    CHECK_SCHED(s);
    CHECK(same(&r, ref[0], n_ref[0]));
    CHECK(r.done.n_cached == 0);
    am_sched_stats_get(s, &st);
    CHECK(st.cache_restore_failures == 1);
    am_sched_free(s, 1000);
    CHECK(access(path, F_OK) != 0 || count_files(mdir, ".amkv") == N); /* removed, then rewritten */
}

/* Bug: a step packs more runs than the pool holds blocks for (each run's
 * need checked against the free count alone, not what the runs before it
 * in the step take), so the engine refuses the whole batch — three agents
 * that cross a block boundary in the same step, with room for two, must
 * each get their answer (the third waits a step, then evicts an idle one). */
static void test_tight_pool_parallel(void) {
    enum { N = 3, LEN = 62, GEN = 12 };
    static int32_t prompts[N][LEN], ref[N][GEN];
    int n_ref[N];
    for (int i = 0; i < N; i++) {
        make_prompt(prompts[i], LEN, 500 + i);
        n_ref[i] = ref_generate(prompts[i], LEN, GEN, ref[i]);
    }
    const am_hparams *hp = &g_b->model->hp;
    int64_t per_token = (int64_t)hp->n_layer * hp->n_head_kv * am_type_row_bytes(g_kv, hp->head_dim) * 2;
    am_sched_params p = am_sched_default_params();
    p.parallel = N;
    p.n_threads = 2;
    p.kv_budget = per_token * 32 * 8; /* 8 blocks per layer: 3 agents of 3 do not fit at once */
    p.kv_type = g_kv;
    p.step_tokens = 256;              /* all three prompts in one step */
    am_err err = {0};
    am_sched *s = am_sched_create(g_b, &p, &err);
    CHECKF(s, "%s", err.msg);
    if (!s) return;
    am_req *q[N];
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "tight-%d", i);
        q[i] = submit(s, id, prompts[i], LEN, GEN);
    }
    for (int i = 0; i < N; i++) {
        result r;
        collect(q[i], &r);
        am_req_release(q[i]);
        CHECK_SCHED(s);
        CHECKF(r.done.finish != AM_FINISH_ERROR, "agent %d: %s", i, r.done.msg);
        CHECKF(same(&r, ref[i], n_ref[i]), "agent %d: %d tokens vs %d", i, r.n, n_ref[i]);
    }
    am_sched_free(s, 1000);
}

/* Bug: a cancelled request keeps running or leaks its place — it must end
 * CANCELLED promptly and the agent must be reusable. */
static void test_cancel(void) {
    int32_t p[40];
    make_prompt(p, 40, 9);
    am_sched *s = make_sched(2, 0, NULL);
    am_gen_request rq = {.prompt = p, .n_prompt = 40, .max_tokens = 2000, .ignore_eos = true};
    rq.sp = am_sampler_default_params();
    snprintf(rq.agent, sizeof rq.agent, "c1");
    am_req *q = am_sched_submit(s, &rq, NULL);
    am_gen_event ev;
    int n = 0;
    double t_cancel = 0;
    while (am_req_next(q, &ev, 10000) == 1 && ev.kind == AM_EV_TOKEN)
        if (++n == 3) {
            am_req_cancel(q);
            t_cancel = am_time_now();
        }
    /* Tokens already queued before the cancel still arrive; the run itself
     * must stop well before max_tokens and soon after the cancel. */
    CHECK(ev.kind == AM_EV_DONE && ev.finish == AM_FINISH_CANCELLED);
    CHECKF(ev.n_generated < 2000, "%d tokens generated", ev.n_generated);
    CHECKF(am_time_now() - t_cancel < 1.0, "%.2f s from cancel to done", am_time_now() - t_cancel);
    am_req_release(q);
    CHECK_SCHED(s);
    am_sched_stats st;
    am_sched_stats_get(s, &st);
    CHECK(st.running == 0);
    am_sched_free(s, 1000);
}

/* Bug: prefill chunks handed out in admission order, so a short request that
 * arrives during a long prefill waits for the whole long prompt. With 64
 * tokens a step, a 1500-token prompt takes ~24 steps; a 20-token request
 * submitted after the long one started must be done (1 token) before the
 * long one's first token. */
static void test_short_during_long_prefill(void) {
    int32_t lp[1500], sp[20];
    make_prompt(lp, 1500, 21);
    make_prompt(sp, 20, 22);
    am_sched *s = make_sched(2, 0, NULL);
    am_gen_request rl = {.prompt = lp, .n_prompt = 1500, .max_tokens = 1, .ignore_eos = true};
    rl.sp = am_sampler_default_params();
    snprintf(rl.agent, sizeof rl.agent, "long");
    am_gen_request rs = {.prompt = sp, .n_prompt = 20, .max_tokens = 1, .ignore_eos = true};
    rs.sp = am_sampler_default_params();
    snprintf(rs.agent, sizeof rs.agent, "short");
    am_req *ql = am_sched_submit(s, &rl, NULL);
    /* let the long prefill get going: a few steps */
    am_sched_stats st;
    for (int i = 0; i < 2000; i++) {
        am_sched_stats_get(s, &st);
        if (st.steps >= 3) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    am_req *qs = am_sched_submit(s, &rs, NULL);
    am_gen_event ev;
    while (am_req_next(qs, &ev, 20000) == 1 && ev.kind != AM_EV_DONE) {}
    CHECK(ev.kind == AM_EV_DONE && ev.n_generated == 1);
    /* the long one has not produced its token yet */
    CHECKF(am_req_next(ql, &ev, 0) == 0, "the long prompt finished prefill before the short request");
    while (am_req_next(ql, &ev, 60000) == 1 && ev.kind != AM_EV_DONE) {}
    CHECK(ev.kind == AM_EV_DONE);
    am_req_release(qs);
    am_req_release(ql);
    am_sched_free(s, 1000);
}

/* Bug: bad requests reach the engine — each is refused with its code. */
static void test_bad_requests(void) {
    am_sched *s = make_sched(1, 0, NULL);
    int32_t p[4] = {1, 2, 3, 99999};
    am_gen_request r = {.prompt = p, .n_prompt = 4, .max_tokens = 4};
    am_err err = {0};
    CHECK(!am_sched_submit(s, &r, &err) && err.code == AM_E_INVALID);
    p[3] = 4;
    snprintf(r.agent, sizeof r.agent, "bad/id");
    CHECK(!am_sched_submit(s, &r, &err) && err.code == AM_E_INVALID);
    r.agent[0] = 0;
    r.max_tokens = 0;
    CHECK(!am_sched_submit(s, &r, &err) && err.code == AM_E_INVALID);
    CHECK(am_sched_agent_delete(s, 0, "nobody", false, &err) < 0 && err.code == AM_E_NOT_FOUND);
    r.max_tokens = am_sched_n_ctx(s) - 3; /* 4 + n_ctx - 3 > n_ctx */
    CHECK(!am_sched_submit(s, &r, &err) && err.code == AM_E_TOO_LONG);
    am_sched_free(s, 1000);
    /* Bug: a request larger than the whole pool waits, then fails late. */
    s = make_sched(1, 64 * 1024, NULL);
    r.max_tokens = 2000;
    CHECK(!am_sched_submit(s, &r, &err) && err.code == AM_E_TOO_LONG);
    am_sched_drain(s);
    r.max_tokens = 4;
    CHECK(!am_sched_submit(s, &r, &err) && err.code == AM_E_BUSY);
    am_sched_free(s, 1000);
}

/* Bug: agents behind one system prompt each hold a copy of it, or a shared
 * block is written by one agent under another — ten agents with a common
 * 256-token prefix must hold its blocks once and each answer as if alone. */
static void test_shared_prefix(void) {
    enum { N = 10, SYS = 256, OWN = 40, GEN = 12 };
    static int32_t p[N][SYS + OWN], ref[N][GEN];
    int n_ref[N];
    for (int i = 0; i < N; i++) {
        make_prompt(p[i], SYS, 777); /* the same system prompt */
        make_prompt(p[i] + SYS, OWN, 900 + i);
        n_ref[i] = ref_generate(p[i], SYS + OWN, GEN, ref[i]);
    }
    am_sched *s = make_sched(2, 0, NULL);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "share-%d", i);
        result r;
        am_req *q = submit(s, id, p[i], SYS + OWN, GEN);
        collect(q, &r);
        am_req_release(q);
        CHECK_SCHED(s);
        CHECKF(same(&r, ref[i], n_ref[i]), "agent %d", i);
        if (i > 0) CHECKF(r.done.n_cached == SYS, "agent %d cached %d", i, r.done.n_cached);
    }
    am_sched_stats st;
    am_sched_stats_get(s, &st);
    const am_hparams *hp = &g_b->model->hp;
    int64_t block = (int64_t)hp->n_head_kv * am_type_row_bytes(g_kv, hp->head_dim) * 2 * 32;
    int64_t per_layer = st.kv_bytes_used / block / hp->n_layer;
    /* Shared: 8 prefix blocks + 2 own per agent = 28; unshared 10 per agent = 100. */
    CHECKF(per_layer <= SYS / 32 + N * 2, "%lld blocks per layer for %d agents", (long long)per_layer, N);
    CHECK(st.shared_prefix_tokens == (uint64_t)(N - 1) * SYS);
    /* A shared agent's second turn, then the donor's: neither sees the other's writes. */
    for (int i = 0; i < 2; i++) {
        char id[32];
        snprintf(id, sizeof id, "share-%d", i);
        result r;
        am_req *q = submit(s, id, p[i], SYS + OWN, GEN);
        collect(q, &r);
        am_req_release(q);
        CHECK_SCHED(s);
        CHECKF(same(&r, ref[i], n_ref[i]), "agent %d again", i);
    }
    am_sched_free(s, 1000);
}

int main(void) {
    /* These tests compare greedy tokens of batched runs with each agent
     * alone, exactly. Batching decides which tokens attention treats as
     * decode units, and decode units score Q8_0/Q4_0 keys with an int8
     * query (att_kern.h qk_rows_q8), which moves logits by more than float
     * order (test_att_long bounds it): with it on, the q4_0 run of
     * test_concurrent_equals_alone took a different token. Float scores
     * everywhere keep the comparison exact. */
    setenv("AGENTMEM_ATT_INT8", "0", 1);
    snprintf(g_dir, sizeof g_dir, "/tmp/am-sched-XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    if (load("models/llama3-tiny/llama3-tiny-q8_0.gguf") < 0) return 1;
    AM_TEST_RUN(test_bad_requests);
    AM_TEST_RUN(test_cancel);
    AM_TEST_RUN(test_short_during_long_prefill);
    /* Exact restore for every KV type: the same blocks and kernels give the
     * same answers as the live cache. */
    am_type types[] = {AM_TYPE_F16, AM_TYPE_Q8_0, AM_TYPE_Q4_0};
    for (size_t i = 0; i < AM_ARRAY_LEN(types); i++) {
        g_kv = types[i];
        fprintf(stderr, "llama3-tiny, KV %s\n", am_type_name(g_kv));
        AM_TEST_RUN(test_concurrent_equals_alone);
        AM_TEST_RUN(test_reuse_and_retry);
        AM_TEST_RUN(test_evict_restore_restart);
        AM_TEST_RUN(test_retry_earlier_turn);
        AM_TEST_RUN(test_shared_prefix);
    }
    AM_TEST_RUN(test_tight_pool_parallel);
    /* Sliding-window layers (window 8): reuse only where their K/V exists. */
    g_kv = AM_TYPE_F16;
    if (load("models/gemma3-tiny/gemma3-tiny-q8_0.gguf") < 0) return 1;
    fprintf(stderr, "gemma3-tiny, KV f16\n");
    AM_TEST_RUN(test_concurrent_equals_alone);
    AM_TEST_RUN(test_reuse_and_retry);
    AM_TEST_RUN(test_evict_restore_restart);
    AM_TEST_RUN(test_retry_earlier_turn);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd)) {
    }
    am_bundle_unref(g_b);
    AM_TEST_EXIT();
}
