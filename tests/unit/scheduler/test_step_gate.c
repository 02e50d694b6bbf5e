/* test_step_gate.c — the ticket lock the schedulers of several loaded models
 * share. Bug it is for: a plain mutex (or any unfair lock) lets a busy
 * model's thread, which releases and at once re-takes the gate, win again
 * and again, so another model's steps starve. With the gate, a thread that
 * waits gets in before the holder's next turn. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "scheduler/scheduler.h"
#include "test_util.h"

static am_step_gate *g;
static atomic_int order, b_got;

static void *waiter(void *arg) {
    (void)arg;
    am_step_gate_enter(g);
    atomic_store(&b_got, atomic_fetch_add(&order, 1));
    am_step_gate_leave(g);
    return NULL;
}

static void test_waiter_goes_first(void) {
    g = am_step_gate_create();
    int fails = 0;
    for (int round = 0; round < 20; round++) {
        atomic_store(&order, 0);
        am_step_gate_enter(g); /* the busy model holds the gate */
        pthread_t t;
        pthread_create(&t, NULL, waiter, NULL);
        /* until the other model waits (a fixed sleep is not enough on a loaded machine) */
        for (int i = 0; i < 5000 && am_step_gate_queued(g) < 2; i++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        am_step_gate_leave(g);
        am_step_gate_enter(g); /* ... and wants the next step at once */
        int mine = atomic_fetch_add(&order, 1);
        am_step_gate_leave(g);
        pthread_join(t, NULL);
        if (mine < atomic_load(&b_got)) fails++;
    }
    CHECKF(fails == 0, "the holder re-took the gate before the waiter %d times of 20", fails);
    am_step_gate_free(g);
}

int main(void) {
    AM_TEST_RUN(test_waiter_goes_first);
    AM_TEST_EXIT();
}
