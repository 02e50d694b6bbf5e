/*
 * step_gate.c — a ticket lock: schedulers of several loaded models take it
 * around each forward pass and get it in arrival order, so a busy model
 * cannot starve another (a plain mutex lets the thread that just released
 * it win again).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/base.h"
#include "scheduler/scheduler.h"

struct am_step_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t next;    /* ticket the next arrival takes */
    uint64_t serving; /* ticket allowed in */
};

am_step_gate *am_step_gate_create(void) {
    am_step_gate *g = am_xcalloc(1, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    return g;
}

void am_step_gate_free(am_step_gate *g) {
    if (!g) return;
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

void am_step_gate_enter(am_step_gate *g) {
    pthread_mutex_lock(&g->mu);
    uint64_t t = g->next++;
    while (g->serving != t) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

void am_step_gate_leave(am_step_gate *g) {
    pthread_mutex_lock(&g->mu);
    g->serving++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

int am_step_gate_queued(am_step_gate *g) {
    pthread_mutex_lock(&g->mu);
    int n = (int)(g->next - g->serving);
    pthread_mutex_unlock(&g->mu);
    return n;
}
