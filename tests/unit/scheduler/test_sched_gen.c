/*
 * test_sched_gen.c — persistence results reach only the agent they were
 * made for. The scheduler's agent table and result accounting
 * (sched_persist_collect) are driven directly on a bare am_sched, with no
 * threads, so the order of events is exact: a save finishes after its agent
 * was deleted and a new agent of the same id was created.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheduler/sched_impl.h"
#include "test_util.h"

static am_sched *bare_sched(void) {
    am_sched *s = am_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->amu, NULL);
    pthread_mutex_init(&s->pmu, NULL);
    pthread_cond_init(&s->pcv, NULL);
    return s;
}

static void bare_free(am_sched *s) {
    for (int i = 0; i < s->n_agents; i++)
        if (s->agents[i].used) sched_agent_forget(s, &s->agents[i]);
    free(s->agents);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->amu);
    pthread_mutex_destroy(&s->pmu);
    pthread_cond_destroy(&s->pcv);
    free(s);
}

/* A finished save of agent a (rc 0: written to path). */
static persist_job *done_save(const sched_agent *a, const char *path, int rc) {
    persist_job *j = am_xcalloc(1, sizeof *j);
    snprintf(j->path, sizeof j->path, "%s", path);
    snprintf(j->agent, sizeof j->agent, "%s", a->id);
    j->owner = a->owner;
    j->agent_gen = a->gen;
    j->rc = rc;
    j->code = rc ? AM_E_IO : AM_OK;
    return j;
}

/* Bug: a save's result is matched to its agent by id only, so a save of a
 * deleted agent marks the new agent of the same id as on disk (with the old
 * file's size) — the new agent must stay without a file; the result of its
 * own save must still reach it. */
static void test_result_skips_recreated_agent(void) {
    char path[] = "/tmp/am-gen-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "0123456789", 10) == 10);
    close(fd);
    am_sched *s = bare_sched();
    sched_agent *a = sched_agent_add(s, 7, "x");
    persist_job *old = done_save(a, path, 0);
    uint64_t gen_old = a->gen;
    sched_agent_forget(s, a); /* DELETE /v1/agents/x */
    a = sched_agent_add(s, 7, "x");
    CHECK(a->gen != gen_old);
    CHECK(sched_job_agent(s, old) == NULL);
    s->pdone = old;
    sched_persist_collect(s);
    CHECKF(!a->on_disk && a->disk_bytes == 0, "the new agent took the old save: on_disk %d, %llu bytes",
           a->on_disk, (unsigned long long)a->disk_bytes);
    CHECK(atomic_load(&s->st_saves) == 1); /* still counted as a save */

    /* Its own save's result is applied. */
    s->pdone = done_save(a, path, 0);
    sched_persist_collect(s);
    CHECK(a->on_disk && a->disk_bytes == 10);
    /* Another owner's agent of the same id is another agent too. */
    sched_agent *b = sched_agent_add(s, 8, "x");
    persist_job *j = done_save(a, path, 0);
    CHECK(sched_job_agent(s, j) == a && b != a);
    free(j);
    bare_free(s);
    unlink(path);
}

int main(void) {
    AM_TEST_RUN(test_result_skips_recreated_agent);
    AM_TEST_EXIT();
}
