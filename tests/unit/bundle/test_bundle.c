/* test_bundle.c — am_bundle_load over GGUF files and Hugging Face folders:
 * EOG set, chat rendering, id, fingerprint stability and sensitivity, and
 * the error codes of missing and truncated files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "test_util.h"

static am_bundle *load(const char *rel) {
    char *p = am_test_fixture(rel);
    am_err err = {0};
    am_bundle *b = am_bundle_load(p, &err);
    CHECKF(b != NULL, "%s: %s", rel, err.msg);
    free(p);
    return b;
}

/* Catches: an EOG set missing eos (generation never stops), an unsorted set
 * (binary search misses), a template not wired to bos/eos or not parsed. */
static void check_basic(am_bundle *b, const char *want_id) {
    if (!b) return;
    CHECK(b->tok != NULL);
    CHECK(b->n_eog > 0);
    for (int i = 1; i < b->n_eog; i++) CHECK(b->eog[i - 1] < b->eog[i]);
    if (b->model->hp.eos_id >= 0) CHECK(am_bundle_is_eog(b, b->model->hp.eos_id));
    for (int i = 0; i < b->n_eog; i++) CHECK(am_bundle_is_eog(b, b->eog[i]));
    CHECKF(!strcmp(b->id, want_id), "id %s want %s", b->id, want_id);
    CHECK(b->tmpl != NULL);
    json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "hello bundle");
    am_err err = {0};
    size_t len = 0;
    char *s = am_bundle_render_chat(b, msgs, NULL, NULL, &len, &err);
    CHECKF(s && strstr(s, "hello bundle"), "render: %s", s ? s : err.msg);
    am_tokens t = {0};
    if (s) CHECK(am_bundle_tokenize(b, s, len, false, &t, &err) == 0 && t.n > 0);
    am_tokens_free(&t);
    free(s);
    json_decref(msgs);
}

/* Catches: a fingerprint over uninitialized or address-dependent bytes
 * (differs between loads), one missing the weights (q8_0 == f16) or the
 * model (two models equal). */
static void test_fingerprints(void) {
    am_bundle *a = load("models/llama3-tiny/llama3-tiny-f16.gguf");
    am_bundle *a2 = load("models/llama3-tiny/llama3-tiny-f16.gguf");
    am_bundle *q = load("models/llama3-tiny/llama3-tiny-q8_0.gguf");
    am_bundle *o = load("models/qwen3-tiny/qwen3-tiny-f16.gguf");
    if (a && a2) CHECK(!memcmp(a->fingerprint, a2->fingerprint, 16));
    if (a && q) CHECK(memcmp(a->fingerprint, q->fingerprint, 16) != 0);
    if (a && o) CHECK(memcmp(a->fingerprint, o->fingerprint, 16) != 0);
    if (a) {
        char hex[33];
        am_bundle_fingerprint_hex(a, hex);
        CHECK(strlen(hex) == 32);
    }
    am_bundle_unref(a);
    am_bundle_unref(a2);
    am_bundle_unref(q);
    am_bundle_unref(o);
}

/* Catches: GGUF-only wiring (HF folder ids, template from tokenizer_config.json). */
static void test_sources(void) {
    am_bundle *g = load("models/llama3-tiny/llama3-tiny-f16.gguf");
    check_basic(g, "llama3-tiny-f16");
    am_bundle *h = load("models/llama3-tiny/");
    check_basic(h, "llama3-tiny");
    /* Catches: refcount freeing on the first unref (use after free under ASan). */
    if (h) {
        CHECK(am_bundle_ref(h) == h);
        am_bundle_unref(h);
        CHECK(h->model != NULL);
    }
    am_bundle_unref(g);
    am_bundle_unref(h);
}

/* Catches: a missing path reported as a bad file (the scheduler would delete it). */
static void test_missing(void) {
    am_err err = {0};
    CHECK(am_bundle_load("/nonexistent/model.gguf", &err) == NULL);
    CHECKF(err.code == AM_E_NOT_FOUND, "code %s", am_status_name(err.code));
}

/* Catches: a crash or success on a truncated GGUF (reads past the end). */
static void test_truncated(void) {
    char *p = am_test_fixture("models/llama3-tiny/llama3-tiny-q8_0.gguf");
    size_t n = 0;
    void *data = am_test_read_file(p, &n);
    free(p);
    CHECK(data && n > 1000);
    if (!data) return;
    char tmp[] = "/tmp/am_test_bundle_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    if (fd < 0) {
        free(data);
        return;
    }
    size_t cut[] = {n / 2, 64};
    for (size_t c = 0; c < AM_ARRAY_LEN(cut); c++) {
        CHECK(ftruncate(fd, 0) == 0);
        CHECK(pwrite(fd, data, cut[c], 0) == (ssize_t)cut[c]);
        char path[64];
        snprintf(path, sizeof path, "%s", tmp);
        am_err err = {0};
        am_bundle *b = am_bundle_load(path, &err);
        CHECK(b == NULL);
        CHECKF(err.code == AM_E_BAD_FILE, "code %s: %s", am_status_name(err.code), err.msg);
        am_bundle_unref(b);
    }
    close(fd);
    unlink(tmp);
    free(data);
}

int main(void) {
    AM_TEST_RUN(test_sources);
    AM_TEST_RUN(test_fingerprints);
    AM_TEST_RUN(test_missing);
    AM_TEST_RUN(test_truncated);
    AM_TEST_EXIT();
}
