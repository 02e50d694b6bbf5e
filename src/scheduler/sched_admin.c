/*
 * sched_admin.c — operations over every agent of a scheduler at once, built
 * on the per-agent commands (so the scheduler thread still does every
 * mutation): dropping all caches of the model.
 */
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_impl.h"

int am_sched_drop_all(am_sched *s, int *busy, am_err *err) {
    typedef struct {
        uint64_t owner;
        char id[AM_KVF_AGENT_MAX + 1];
    } key;
    pthread_mutex_lock(&s->amu);
    int n = 0;
    key *k = am_xcalloc((size_t)s->n_agents + 1, sizeof *k);
    for (int i = 0; i < s->n_agents; i++) {
        const sched_agent *a = &s->agents[i];
        if (!a->used || a->ephemeral || (a->seq < 0 && !a->on_disk)) continue;
        k[n].owner = a->owner;
        memcpy(k[n].id, a->id, sizeof k[n].id);
        n++;
    }
    pthread_mutex_unlock(&s->amu);
    int dropped = 0;
    if (busy) *busy = 0;
    for (int i = 0; i < n; i++) {
        am_err e = {0};
        if (am_sched_agent_delete(s, k[i].owner, k[i].id, false, &e) == 0) dropped++;
        else if (e.code == AM_E_BUSY && busy) (*busy)++;
    }
    free(k);
    (void)err;
    return dropped;
}
