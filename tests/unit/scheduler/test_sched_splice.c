/*
 * test_sched_splice.c — a client sends the model's answer back as text; its
 * tokens need not be the generated ids. The scheduler puts the generated
 * ids back where the prompt's bytes spell them (sched_splice.c), so the
 * cache covers the answer, and the answer to the spliced prompt must equal
 * the plain engine loop's for that prompt (sched_test_util.h).
 */
#include "sched_test_util.h"

#define UNUSED_DIR (void)g_dir

enum { LEN = 60, GEN = 16, EXTRA = 6 };

static int retok(const int32_t *ids, int n, bool flip, int32_t *out, int cap) {
    am_tok_decode_params dp = am_tok_decode_default_params();
    dp.strip_leading = false;
    size_t len = 0;
    am_err err = {0};
    char *text = am_tokenizer_decode(g_b->tok, ids, (size_t)n, &dp, &len, &err);
    if (!text) return -1;
    if (flip && len > 0) text[0] = text[0] == 'a' ? 'b' : 'a'; /* differs from the first byte on */
    am_tokens t = {0};
    int rc = am_bundle_tokenize(g_b, text, len, false, &t, &err);
    free(text);
    if (rc < 0 || (int)t.n > cap) return -1;
    memcpy(out, t.ids, t.n * sizeof(int32_t));
    int k = (int)t.n;
    am_tokens_free(&t);
    return k;
}

/* Bug: the generated ids are not put back (the answer is prefilled again),
 * the splice ends at a byte offset that is not a token boundary of the
 * prompt (text dropped or doubled), or it splices text that differs — the
 * second turn must reuse the whole fed answer, report the spliced prompt's
 * length, and answer as the engine does for exactly that prompt; a third
 * turn must still reuse the first answer; text that differs from its first
 * byte must splice nothing. */
static void test_answer_sent_back_as_text(void) {
    int32_t p[LEN], gen[GEN];
    make_prompt(p, LEN, 21);
    int ng = ref_generate(p, LEN, GEN, gen);
    CHECKF(ng == GEN, "reference stopped after %d tokens", ng);
    int32_t eot = am_tokenizer_token_id(g_b->tok, "<|eot_id|>", 10);
    CHECK(eot >= 0);
    for (int flip = 0; flip < 2; flip++) {
        char agent[16];
        snprintf(agent, sizeof agent, "sp-%d", flip);
        am_sched *s = make_sched(2, 0, NULL);
        result r;
        am_req *q = submit(s, agent, p, LEN, GEN);
        collect(q, &r);
        am_req_release(q);
        CHECK(same(&r, gen, ng));
        /* The cache holds the prompt and the first GEN-1 answer tokens (the
         * last one was sampled, never fed). The client sends all GEN back as
         * text, then the end of turn and a few more tokens. */
        static int32_t q2[LEN + 4 * GEN + 1 + EXTRA], want[LEN + GEN + 1 + EXTRA], ref[GEN];
        memcpy(q2, p, sizeof p);
        int k = retok(gen, GEN, flip, q2 + LEN, 4 * GEN);
        CHECK(k > 0);
        CHECKF(flip || k != GEN - 1 || memcmp(q2 + LEN, gen, (size_t)k * 4),
               "the text re-tokenizes to the generated ids: nothing to test, pick another prompt seed");
        int n2 = LEN + k;
        q2[n2++] = eot;
        for (int i = 0; i < EXTRA; i++) q2[n2++] = 7 + i;
        q = submit(s, agent, q2, n2, GEN);
        collect(q, &r);
        am_req_release(q);
        CHECK_SCHED(s);
        if (!flip) {
            /* expected: the generated ids for what they spell, the re-tokenized
             * tail for the last token's text */
            int nw = 0;
            memcpy(want, p, sizeof p);
            nw = LEN;
            for (int i = 0; i < GEN - 1; i++) want[nw++] = gen[i];
            int32_t tail[16];
            int kt = retok(gen + GEN - 1, 1, false, tail, 16);
            /* only when the last token's text is not merged with the ones before */
            int32_t full[4 * GEN];
            int kf = retok(gen, GEN - 1, false, full, 4 * GEN);
            CHECK(kt > 0 && kf > 0);
            bool clean = kf + kt == k && !memcmp(full, q2 + LEN, (size_t)kf * 4) && !memcmp(tail, q2 + LEN + kf, (size_t)kt * 4);
            if (clean) {
                for (int i = 0; i < kt; i++) want[nw++] = tail[i];
                want[nw++] = eot;
                for (int i = 0; i < EXTRA; i++) want[nw++] = 7 + i;
                CHECKF(r.done.n_prompt == nw, "spliced prompt %d tokens, want %d", r.done.n_prompt, nw);
                int nr = ref_generate(want, nw, GEN, ref);
                CHECK(same(&r, ref, nr));
                /* Third turn: the whole history as text again. The first
                 * answer, now older than the last generation, must still be
                 * spliced (else reuse ends at it in every later turn). */
                static int32_t q3[2 * (LEN + 4 * GEN + 1 + EXTRA)];
                memcpy(q3, q2, (size_t)n2 * 4);
                int k3 = retok(r.toks, r.n, false, q3 + n2, 4 * GEN);
                CHECK(k3 > 0);
                int n3 = n2 + k3;
                q3[n3++] = eot;
                for (int i = 0; i < EXTRA; i++) q3[n3++] = 9 + i;
                result r3 = {0};
                q = submit(s, agent, q3, n3, 4);
                collect(q, &r3);
                am_req_release(q);
                CHECK_SCHED(s);
                CHECKF(r3.done.n_cached >= nw, "third turn cached %d, the second turn's prompt was %d", r3.done.n_cached, nw);
            }
            CHECKF(clean, "the last token merges with the text before it: pick another prompt seed");
            CHECKF(r.done.n_cached == LEN + GEN - 1, "cached %d", r.done.n_cached);
        } else {
            CHECKF(r.done.n_prompt == n2, "a changed byte spliced: %d tokens of %d", r.done.n_prompt, n2);
            CHECKF(r.done.n_cached == LEN, "cached %d", r.done.n_cached);
            int nr = ref_generate(q2, n2, GEN, ref);
            CHECK(same(&r, ref, nr));
        }
        am_sched_free(s, 1000);
    }
}

/* Bug: the cache ends inside one of the prompt's tokens (a turn's last
 * token is sampled, never fed, and re-tokenizing the text merges it with the
 * bytes before), so the splice stops at the prompt's last token boundary
 * before the cache's end and the last few cached tokens are prefilled again
 * every turn — every cached id must be taken, then the rest of that prompt
 * token's text tokenized alone, then the prompt's own ids; the answer is the
 * engine's for exactly that prompt. */
static void test_cache_ends_inside_a_prompt_token(void) {
    int32_t p[LEN + 8];
    make_prompt(p, LEN, 33);
    static const char word[] = "theory", sent[] = "theory is";
    enum { CUT = 5 }; /* the cache holds "theor" as byte tokens */
    int n1 = LEN;
    for (int k = 0; k < CUT; k++) { /* the id that decodes to exactly that byte */
        int32_t id = -1;
        for (int32_t v = 0; v < g_b->model->hp.n_vocab && id < 0; v++) {
            am_tok_decode_params dp = am_tok_decode_default_params();
            dp.strip_leading = false;
            size_t n = 0;
            char *s = am_tokenizer_decode(g_b->tok, &v, 1, &dp, &n, NULL);
            if (s && n == 1 && s[0] == word[k]) id = v;
            free(s);
        }
        CHECK(id >= 0);
        p[n1++] = id;
    }
    am_sched *s = make_sched(2, 0, NULL);
    result r;
    am_req *q = submit(s, "cut", p, n1, 1); /* one token sampled, not fed: the cache is p */
    collect(q, &r);
    am_req_release(q);
    /* turn 2: p's first LEN ids, then the text re-tokenized, then the end of turn */
    int32_t eot = am_tokenizer_token_id(g_b->tok, "<|eot_id|>", 10);
    static int32_t q2[LEN + 32], want[LEN + 40];
    memcpy(q2, p, LEN * sizeof *p);
    am_tokens t = {0};
    am_err err = {0};
    CHECK(am_bundle_tokenize(g_b, sent, strlen(sent), false, &t, &err) == 0 && t.n < 24);
    memcpy(q2 + LEN, t.ids, t.n * sizeof *t.ids);
    int n2 = LEN + (int)t.n;
    q2[n2++] = eot;
    /* the prompt token that spans byte CUT, and the text after the cut in it */
    size_t off = 0, k = 0, end = 0;
    for (; k < t.n; k++) {
        int32_t id = t.ids[k];
        size_t n = 0;
        am_tok_decode_params dp = am_tok_decode_default_params();
        dp.strip_leading = false;
        free(am_tokenizer_decode(g_b->tok, &id, 1, &dp, &n, NULL));
        if (off < CUT && off + n > CUT) {
            end = off + n;
            break;
        }
        off += n;
    }
    CHECKF(end > 0, "a token boundary at the cut: nothing to test, pick another word");
    am_tokens rest = {0};
    CHECK(end > 0 && am_bundle_tokenize(g_b, sent + CUT, end - CUT, false, &rest, &err) == 0);
    int nw = 0;
    memcpy(want, p, (size_t)n1 * sizeof *p), nw = n1;
    memcpy(want + nw, rest.ids, rest.n * sizeof *rest.ids), nw += (int)rest.n;
    for (int i = LEN + (int)k + 1; i < n2; i++) want[nw++] = q2[i];
    am_tokens_free(&rest);
    am_tokens_free(&t);
    q = submit(s, "cut", q2, n2, GEN);
    collect(q, &r);
    am_req_release(q);
    CHECK_SCHED(s);
    CHECKF(r.done.n_cached == n1, "cached %d, want %d (the whole cache)", r.done.n_cached, n1);
    CHECKF(r.done.n_prompt == nw, "spliced prompt %d tokens, want %d", r.done.n_prompt, nw);
    int32_t ref[GEN];
    int nr = ref_generate(want, nw, GEN, ref);
    CHECK(nr >= 0 && same(&r, ref, nr));
    am_sched_free(s, 1000);
}

/* Principle 5 (reuse is verified by tokens; a template that rewrites the
 * history shortens the reuse): a special token the model generated inside
 * its answer was skipped in the text the server sent, so the text the
 * client sends back cannot contain it. Bug: a splice that puts it back
 * gives the model a token the rendered prompt does not have. The cache
 * holds "text A" <special> "text B" <eot> ...; the client sends "text A text
 * B" <eot> ...: the reuse ends at the special token, the prompt keeps its
 * own ids from there, and the answer is the engine's for that prompt. Text
 * that differs after the special ends the reuse there too. */
static void test_skipped_special_ends_reuse(void) {
    static const char a_text[] = " alpha beta gamma", b_text[] = " delta epsilon", b_other[] = " delta epsilom";
    int32_t sp = am_tokenizer_token_id(g_b->tok, "<|finetune_right_pad_id|>", 25);
    int32_t eot = am_tokenizer_token_id(g_b->tok, "<|eot_id|>", 10);
    CHECK(sp >= 0 && eot >= 0);
    am_err err = {0};
    am_tokens ta = {0}, tb = {0};
    CHECK(am_bundle_tokenize(g_b, a_text, strlen(a_text), false, &ta, &err) == 0);
    CHECK(am_bundle_tokenize(g_b, b_text, strlen(b_text), false, &tb, &err) == 0);
    static int32_t p[LEN + 64], q2[LEN + 64 + EXTRA];
    make_prompt(p, LEN, 45);
    int n1 = LEN;
    memcpy(p + n1, ta.ids, ta.n * 4), n1 += (int)ta.n;
    p[n1++] = sp;
    memcpy(p + n1, tb.ids, tb.n * 4), n1 += (int)tb.n;
    /* then the end of the turn and more: the walk reaches this special token
     * with the cache's side ahead; it must wait for the prompt's own */
    p[n1++] = eot;
    for (int i = 0; i < 3; i++) p[n1++] = 21 + i;
    for (int other = 0; other < 2; other++) {
        char agent[16];
        snprintf(agent, sizeof agent, "hid-%d", other);
        am_sched *s = make_sched(2, 0, NULL);
        result r;
        am_req *q = submit(s, agent, p, n1, 1); /* one token sampled, not fed: the cache is p */
        collect(q, &r);
        am_req_release(q);
        /* turn 2: the text as the server would have sent it, then the end of turn */
        char text[64];
        snprintf(text, sizeof text, "%s%s", a_text, other ? b_other : b_text);
        am_tokens t = {0};
        CHECK(am_bundle_tokenize(g_b, text, strlen(text), false, &t, &err) == 0 && t.n < 48);
        memcpy(q2, p, LEN * 4);
        int n2 = LEN;
        memcpy(q2 + n2, t.ids, t.n * 4), n2 += (int)t.n;
        q2[n2++] = eot;
        for (int i = 0; i < 3; i++) q2[n2++] = 21 + i;
        for (int i = 0; i < EXTRA; i++) q2[n2++] = 11 + i;
        am_tokens_free(&t);
        q = submit(s, agent, q2, n2, GEN);
        collect(q, &r);
        am_req_release(q);
        CHECK_SCHED(s);
        /* text A is spliced (its ids are the cache's), nothing past the special */
        CHECKF(r.done.n_cached == LEN + (int)ta.n, "%s: cached %d, want %d (text A)", other ? "other text" : "same text",
               r.done.n_cached, LEN + (int)ta.n);
        CHECKF(r.done.n_prompt <= n2 && r.done.n_prompt >= n2 - (int)tb.n, "prompt %d tokens, sent %d", r.done.n_prompt, n2);
        if (!other) {
            int32_t ref[GEN];
            int nr = ref_generate(q2, n2, GEN, ref);
            CHECK(nr >= 0 && (r.done.n_prompt != n2 || same(&r, ref, nr)));
        }
        am_sched_free(s, 1000);
    }
    am_tokens_free(&ta);
    am_tokens_free(&tb);
}

/* Principle 5 again: Llama 3's template trims each message (`content |
 * trim`), so an answer the model began with a space comes back without it.
 * Bug: a splice that keeps the generated space gives the model bytes the
 * template did not render. The cache holds "\n\n" " alpha beta gamma" <eot>
 * ...; the prompt "\n\nalpha beta gamma" <eot> ...: the reuse ends where the
 * answer starts, the prompt is the rendered one, and the answer is the
 * engine's for it; likewise for text that differs after the trim. A space
 * missing inside the text ends the reuse at the difference. */
static void test_trimmed_space_ends_reuse(void) {
    static const char *const sent[] = {"\n\nalpha beta gamma", "\n\n alpha betagamma", "\n\nalphA beta gamma"};
    int32_t eot = am_tokenizer_token_id(g_b->tok, "<|eot_id|>", 10);
    CHECK(eot >= 0);
    am_err err = {0};
    am_tokens th = {0}, ta = {0};
    CHECK(am_bundle_tokenize(g_b, "\n\n", 2, false, &th, &err) == 0);
    CHECK(am_bundle_tokenize(g_b, " alpha beta gamma", 17, false, &ta, &err) == 0);
    static int32_t p[LEN + 64], q2[LEN + 64 + EXTRA];
    make_prompt(p, LEN, 47);
    int n1 = LEN;
    memcpy(p + n1, th.ids, th.n * 4), n1 += (int)th.n;
    const int answer = n1;
    memcpy(p + n1, ta.ids, ta.n * 4), n1 += (int)ta.n;
    p[n1++] = eot;
    for (int i = 0; i < 3; i++) p[n1++] = 21 + i;
    for (int v = 0; v < 3; v++) {
        char agent[16];
        snprintf(agent, sizeof agent, "trim-%d", v);
        am_sched *s = make_sched(2, 0, NULL);
        result r;
        am_req *q = submit(s, agent, p, n1, 1);
        collect(q, &r);
        am_req_release(q);
        am_tokens t = {0};
        CHECK(am_bundle_tokenize(g_b, sent[v], strlen(sent[v]), false, &t, &err) == 0 && t.n < 48);
        memcpy(q2, p, LEN * 4);
        int n2 = LEN;
        memcpy(q2 + n2, t.ids, t.n * 4), n2 += (int)t.n;
        q2[n2++] = eot;
        for (int i = 0; i < 3; i++) q2[n2++] = 21 + i;
        for (int i = 0; i < EXTRA; i++) q2[n2++] = 11 + i;
        am_tokens_free(&t);
        q = submit(s, agent, q2, n2, GEN);
        collect(q, &r);
        am_req_release(q);
        CHECK_SCHED(s);
        if (v == 1) { /* " alpha beta" is the cache's text: spliced up to the missing space */
            CHECKF(r.done.n_cached > answer && r.done.n_cached < answer + (int)ta.n, "a space missing inside the text: "
                   "cached %d, the answer is ids %d..%d", r.done.n_cached, answer, answer + (int)ta.n);
        } else {
            CHECKF(r.done.n_cached <= answer, "%s: cached %d, the answer starts at %d", v ? "text that differs" : "trimmed",
                   r.done.n_cached, answer);
            CHECKF(r.done.n_prompt == n2, "prompt %d tokens, sent %d: rewritten", r.done.n_prompt, n2);
            int32_t ref[GEN];
            int nr = ref_generate(q2, n2, GEN, ref);
            CHECK(nr >= 0 && same(&r, ref, nr));
        }
        am_sched_free(s, 1000);
    }
    am_tokens_free(&th);
    am_tokens_free(&ta);
}

int main(void) {
    UNUSED_DIR;
    if (load("models/llama3-tiny/llama3-tiny-q8_0.gguf") < 0) return 1;
    AM_TEST_RUN(test_answer_sent_back_as_text);
    AM_TEST_RUN(test_cache_ends_inside_a_prompt_token);
    AM_TEST_RUN(test_skipped_special_ends_reuse);
    AM_TEST_RUN(test_trimmed_space_ends_reuse);
    am_bundle_unref(g_b);
    AM_TEST_EXIT();
}
