/*
 * sched_persist.c — the persistence thread: writes snapshots of agents'
 * changed blocks to their cache files and deletes files, in queue order, off
 * the request path. A job owns copies of everything it writes, so the
 * scheduler may change or free the blocks at once. Results go back through
 * a done list that the scheduler thread accounts (sched_persist_collect).
 *
 * Never touches the pool or the agent table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scheduler/sched_impl.h"

static void job_free_payload(persist_job *j) {
    int64_t per = j->u.n_blocks - j->u.first_block;
    if (j->blocks)
        for (int64_t i = 0; i < (int64_t)j->h.g.n_layer * (per > 0 ? per : 0); i++) free(j->blocks[i]);
    free(j->blocks);
    free(j->tokens);
    free(j->logits_gen);
    free(j->logits_last);
    j->blocks = NULL;
    j->tokens = NULL;
    j->logits_gen = j->logits_last = NULL;
}

static void run_job(persist_job *j) {
    am_err err = {0};
    if (j->is_delete) {
        j->rc = unlink(j->path) == 0 || errno == ENOENT ? 0 : -1;
        j->code = j->rc ? AM_E_IO : AM_OK;
        return;
    }
    j->rc = am_kvf_save(j->path, &j->h, &j->u, &j->written, &err);
    j->code = j->rc ? err.code : AM_OK;
    if (j->rc) am_log_warn("cache save %s: %s", j->path, err.msg);
}

/* Records a finished write in every registered flush: a success counts and
 * removes the agent from their lost lists (its file caught up), a failure
 * adds it. pmu held. */
static void note_result(am_sched *s, const persist_job *j) {
    if (j->is_delete || j->barrier) return;
    char owner[17];
    snprintf(owner, sizeof owner, "%016llx", (unsigned long long)j->owner);
    for (persist_barrier *m = s->barriers; m; m = m->next) {
        json_t *lost = m->lost;
        if (j->rc == 0) m->n_written++;
        size_t k = 0;
        for (; k < json_array_size(lost); k++) {
            json_t *e = json_array_get(lost, k);
            if (!strcmp(json_string_value(json_object_get(e, "id")), j->agent) &&
                !strcmp(json_string_value(json_object_get(e, "owner")), owner))
                break;
        }
        if (j->rc != 0 && k == json_array_size(lost))
            json_array_append_new(lost, json_pack("{s:s, s:s}", "id", j->agent, "owner", owner));
        else if (j->rc == 0 && k < json_array_size(lost))
            json_array_remove(lost, k);
    }
}

static void *persist_main(void *arg) {
    am_sched *s = arg;
    pthread_mutex_lock(&s->pmu);
    for (;;) {
        while (!s->pq_head && !s->pstop) pthread_cond_wait(&s->pcv, &s->pmu);
        if (!s->pq_head) break;
        persist_job *j = s->pq_head;
        s->pq_head = j->next;
        if (!s->pq_head) s->pq_tail = NULL;
        if (j->barrier) { /* everything before it has finished */
            for (persist_barrier **pp = &s->barriers; *pp; pp = &(*pp)->next)
                if (*pp == j->barrier) {
                    *pp = j->barrier->next;
                    break;
                }
            j->barrier->done = true;
            free(j);
            pthread_cond_broadcast(&s->pcv);
            continue;
        }
        snprintf(s->pbusy, sizeof s->pbusy, "%s", j->path);
        pthread_mutex_unlock(&s->pmu);

        run_job(j);
        uint64_t freed = j->copy_bytes;
        job_free_payload(j);

        pthread_mutex_lock(&s->pmu);
        s->pq_bytes -= (int64_t)freed;
        s->pbusy[0] = 0;
        note_result(s, j);
        j->next = s->pdone;
        s->pdone = j;
        pthread_cond_broadcast(&s->pcv);
        /* Wake an idle scheduler so the result is accounted now (saves,
         * bytes_disk, the disk budget), not at the next request. pmu is
         * dropped first: the lock order is mu before pmu. */
        pthread_mutex_unlock(&s->pmu);
        pthread_mutex_lock(&s->mu);
        s->persist_done = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_lock(&s->pmu);
    }
    pthread_mutex_unlock(&s->pmu);
    return NULL;
}

void sched_persist_start(am_sched *s) { pthread_create(&s->pthread, NULL, persist_main, s); }

void sched_persist_stop(am_sched *s) {
    pthread_mutex_lock(&s->pmu);
    s->pstop = true;
    pthread_cond_broadcast(&s->pcv);
    pthread_mutex_unlock(&s->pmu);
    pthread_join(s->pthread, NULL);
    sched_persist_collect(s);
}

void sched_persist_push(am_sched *s, persist_job *j) {
    pthread_mutex_lock(&s->pmu);
    int64_t add = (int64_t)j->copy_bytes;
    if (add > 0 && s->pq_bytes > 0 && s->pq_bytes + add > s->pq_max) {
        atomic_fetch_add(&s->st_persist_waits, 1);
        while (s->pq_bytes > 0 && s->pq_bytes + add > s->pq_max) pthread_cond_wait(&s->pcv, &s->pmu);
    }
    j->next = NULL;
    if (s->pq_tail)
        s->pq_tail->next = j;
    else
        s->pq_head = j;
    s->pq_tail = j;
    s->pq_bytes += add;
    if (s->pq_bytes > s->pq_peak) s->pq_peak = s->pq_bytes;
    pthread_cond_broadcast(&s->pcv);
    pthread_mutex_unlock(&s->pmu);
}

void sched_persist_register(am_sched *s, persist_barrier *b) {
    pthread_mutex_lock(&s->pmu);
    b->next = s->barriers;
    s->barriers = b;
    pthread_mutex_unlock(&s->pmu);
}

void sched_persist_wait_path(am_sched *s, const char *path) {
    pthread_mutex_lock(&s->pmu);
    for (;;) {
        bool pending = !strcmp(s->pbusy, path);
        for (persist_job *j = s->pq_head; j && !pending; j = j->next) pending = !strcmp(j->path, path);
        if (!pending) break;
        pthread_cond_wait(&s->pcv, &s->pmu);
    }
    pthread_mutex_unlock(&s->pmu);
}

/* Deletes the least recently used files beyond the disk budget; keeps the
 * disk-bytes gauge current with or without a budget. */
static void enforce_disk_budget(am_sched *s) {
    for (;;) {
        int64_t total = 0;
        sched_agent *old = NULL;
        for (int i = 0; i < s->n_agents; i++) {
            sched_agent *a = &s->agents[i];
            if (!a->used || !a->on_disk) continue;
            total += (int64_t)a->disk_bytes;
            if (!a->running && (!old || a->lru < old->lru)) old = a;
        }
        atomic_store(&s->st_disk_bytes, total);
        if (s->p.disk_budget <= 0 || total <= s->p.disk_budget || !old) return;
        persist_job *j = am_xcalloc(1, sizeof *j);
        j->is_delete = true;
        am_kvf_path(s->mdir, old->owner, old->id, j->path, sizeof j->path);
        sched_persist_push(s, j);
        pthread_mutex_lock(&s->amu);
        old->on_disk = false;
        old->disk_bytes = 0;
        old->clean_tokens = 0;
        if (old->seq < 0) sched_agent_forget(s, old);
        pthread_mutex_unlock(&s->amu);
    }
}

void sched_persist_collect(am_sched *s) {
    pthread_mutex_lock(&s->pmu);
    persist_job *done = s->pdone;
    s->pdone = NULL;
    pthread_mutex_unlock(&s->pmu);
    if (!done) return;
    for (persist_job *j = done, *nx; j; j = nx) {
        nx = j->next;
        if (!j->is_delete) {
            sched_agent *a = sched_job_agent(s, j); /* never a new agent of the same id */
            if (j->rc == 0) {
                atomic_fetch_add(&s->st_saves, 1);
                atomic_fetch_add(&s->st_save_bytes, j->written);
                struct stat st;
                if (a && stat(j->path, &st) == 0) {
                    pthread_mutex_lock(&s->amu);
                    a->on_disk = true;
                    a->disk_bytes = (uint64_t)st.st_size;
                    pthread_mutex_unlock(&s->amu);
                }
            } else {
                atomic_fetch_add(&s->st_save_fail, 1);
                if (a) {
                    pthread_mutex_lock(&s->amu);
                    a->clean_tokens = 0;
                    pthread_mutex_unlock(&s->amu);
                    /* An append the file refused: write it whole while the
                     * blocks are still in memory. */
                    if (j->code == AM_E_BAD_FILE && j->u.first_block > 0 && a->seq >= 0 && !a->running)
                        sched_agent_snapshot(s, a);
                }
            }
        }
        free(j);
    }
    enforce_disk_budget(s);
}
