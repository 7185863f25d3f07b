/* SPDX-License-Identifier: MIT */
#include "child_fsm.h"

#include <math.h>

/* `FAILURE` is a pseudo next state: the failure accounting decides between
 * backoff and failed. `SAME` keeps the state (event ignored). */
enum { NEXT_SAME = -1, NEXT_FAILURE = -2 };

typedef struct Transition {
        int next;
        unsigned actions;
} Transition;

#define IGNORE { NEXT_SAME, 0 }

/* The table documented in docs/child.md: keep both in sync. */
static const Transition table[_CHILD_STATE_MAX][_CHILD_EV_MAX] = {
        [CHILD_STOPPED] = {
                [CHILD_EV_START]            = { CHILD_STARTING, CHILD_ACT_SPAWN },
                [CHILD_EV_READY]            = IGNORE,
                [CHILD_EV_EXITED]           = IGNORE,
                [CHILD_EV_REPLACE]          = { CHILD_STARTING, CHILD_ACT_SPAWN },
                [CHILD_EV_CANDIDATE_READY]  = IGNORE,
                [CHILD_EV_CANDIDATE_FAILED] = IGNORE,
                [CHILD_EV_TIMER]            = IGNORE,
                [CHILD_EV_STOP]             = IGNORE,
                [CHILD_EV_ALL_EXITED]       = IGNORE,
        },
        [CHILD_STARTING] = {
                [CHILD_EV_START]            = IGNORE,
                [CHILD_EV_READY]            = { CHILD_RUNNING, 0 },
                [CHILD_EV_EXITED]           = { NEXT_FAILURE, CHILD_ACT_STOP_CURRENT },
                [CHILD_EV_REPLACE]          = { CHILD_STARTING, CHILD_ACT_STOP_CURRENT | CHILD_ACT_SPAWN },
                [CHILD_EV_CANDIDATE_READY]  = IGNORE,
                [CHILD_EV_CANDIDATE_FAILED] = IGNORE,
                [CHILD_EV_TIMER]            = IGNORE,
                [CHILD_EV_STOP]             = { CHILD_STOPPING, CHILD_ACT_STOP_ALL },
                [CHILD_EV_ALL_EXITED]       = IGNORE,
        },
        [CHILD_RUNNING] = {
                [CHILD_EV_START]            = IGNORE,
                [CHILD_EV_READY]            = IGNORE,
                [CHILD_EV_EXITED]           = { NEXT_FAILURE, CHILD_ACT_STOP_CURRENT },
                [CHILD_EV_REPLACE]          = { CHILD_REPLACING, CHILD_ACT_SPAWN_CANDIDATE },
                [CHILD_EV_CANDIDATE_READY]  = IGNORE,
                [CHILD_EV_CANDIDATE_FAILED] = IGNORE,
                [CHILD_EV_TIMER]            = IGNORE,
                [CHILD_EV_STOP]             = { CHILD_STOPPING, CHILD_ACT_STOP_ALL },
                [CHILD_EV_ALL_EXITED]       = IGNORE,
        },
        [CHILD_REPLACING] = {
                [CHILD_EV_START]            = IGNORE,
                [CHILD_EV_READY]            = IGNORE,
                [CHILD_EV_EXITED]           = { CHILD_STARTING, CHILD_ACT_STOP_CURRENT | CHILD_ACT_ADOPT_CANDIDATE },
                [CHILD_EV_REPLACE]          = IGNORE, /* one replacement at a time */
                [CHILD_EV_CANDIDATE_READY]  = { CHILD_RUNNING, CHILD_ACT_PROMOTE },
                [CHILD_EV_CANDIDATE_FAILED] = { CHILD_RUNNING, CHILD_ACT_DISCARD_CANDIDATE },
                [CHILD_EV_TIMER]            = IGNORE,
                [CHILD_EV_STOP]             = { CHILD_STOPPING, CHILD_ACT_STOP_ALL },
                [CHILD_EV_ALL_EXITED]       = IGNORE,
        },
        [CHILD_BACKOFF] = {
                [CHILD_EV_START]            = IGNORE,
                [CHILD_EV_READY]            = IGNORE,
                [CHILD_EV_EXITED]           = IGNORE,
                [CHILD_EV_REPLACE]          = { CHILD_STARTING, CHILD_ACT_SPAWN },
                [CHILD_EV_CANDIDATE_READY]  = IGNORE,
                [CHILD_EV_CANDIDATE_FAILED] = IGNORE,
                [CHILD_EV_TIMER]            = { CHILD_STARTING, CHILD_ACT_SPAWN },
                [CHILD_EV_STOP]             = { CHILD_STOPPED, CHILD_ACT_STOP_ALL },
                [CHILD_EV_ALL_EXITED]       = IGNORE,
        },
        [CHILD_FAILED] = {
                [CHILD_EV_START]            = { CHILD_STARTING, CHILD_ACT_SPAWN },
                [CHILD_EV_READY]            = IGNORE,
                [CHILD_EV_EXITED]           = IGNORE,
                [CHILD_EV_REPLACE]          = { CHILD_STARTING, CHILD_ACT_SPAWN },
                [CHILD_EV_CANDIDATE_READY]  = IGNORE,
                [CHILD_EV_CANDIDATE_FAILED] = IGNORE,
                [CHILD_EV_TIMER]            = IGNORE,
                [CHILD_EV_STOP]             = { CHILD_STOPPED, CHILD_ACT_STOP_ALL },
                [CHILD_EV_ALL_EXITED]       = IGNORE,
        },
        [CHILD_STOPPING] = {
                [CHILD_EV_START]            = IGNORE,
                [CHILD_EV_READY]            = IGNORE,
                [CHILD_EV_EXITED]           = IGNORE,
                [CHILD_EV_REPLACE]          = IGNORE,
                [CHILD_EV_CANDIDATE_READY]  = IGNORE,
                [CHILD_EV_CANDIDATE_FAILED] = IGNORE,
                [CHILD_EV_TIMER]            = IGNORE,
                [CHILD_EV_STOP]             = IGNORE,
                [CHILD_EV_ALL_EXITED]       = { CHILD_STOPPED, 0 },
        },
};

static const char *const state_names[_CHILD_STATE_MAX] = {
        [CHILD_STOPPED] = "stopped",     [CHILD_STARTING] = "starting", [CHILD_RUNNING] = "running",
        [CHILD_REPLACING] = "replacing", [CHILD_BACKOFF] = "backoff",   [CHILD_FAILED] = "failed",
        [CHILD_STOPPING] = "stopping",
};

static const char *const event_names[_CHILD_EV_MAX] = {
        [CHILD_EV_START] = "start",
        [CHILD_EV_READY] = "ready",
        [CHILD_EV_EXITED] = "exited",
        [CHILD_EV_REPLACE] = "replace",
        [CHILD_EV_CANDIDATE_READY] = "candidate-ready",
        [CHILD_EV_CANDIDATE_FAILED] = "candidate-failed",
        [CHILD_EV_TIMER] = "timer",
        [CHILD_EV_STOP] = "stop",
        [CHILD_EV_ALL_EXITED] = "all-exited",
};

const char *child_state_to_string(ChildState s) {
        return s < _CHILD_STATE_MAX ? state_names[s] : NULL;
}

const char *child_event_to_string(ChildEvent e) {
        return e < _CHILD_EV_MAX ? event_names[e] : NULL;
}

static double default_random(void *userdata) {
        return (double) random() / ((double) RAND_MAX + 1.0);
}

void child_fsm_init(ChildFsm *f, const ChildFsmParams *params) {
        *f = (ChildFsm) {
                .params = *params,
                .state = CHILD_STOPPED,
                .random = default_random,
        };
}

static void reset_failures(ChildFsm *f) {
        f->consecutive_failures = 0;
        f->n_failures = 0;
        f->failures_head = 0;
}

unsigned child_fsm_failures_in_window(const ChildFsm *f, usec_t now) {
        unsigned n = 0;
        for (unsigned i = 0; i < f->n_failures; i++) {
                usec_t t = f->failures[(f->failures_head + CHILD_FSM_FAILURES_MAX - 1 - i) % CHILD_FSM_FAILURES_MAX];
                if (now - t <= f->params.start_limit_interval)
                        n++;
        }
        return n;
}

static usec_t backoff_delay(ChildFsm *f) {
        /* Exponential, capped, "equal jitter": half fixed, half random, so
         * restarts never synchronise yet never come too soon. */
        unsigned k = f->consecutive_failures ? f->consecutive_failures - 1 : 0;
        double d = (double) f->params.backoff_base * ldexp(1.0, (int) MIN(k, 40u));
        if (d > (double) f->params.backoff_max)
                d = (double) f->params.backoff_max;
        double r = f->random(f->random_userdata);
        if (r < 0.0 || r >= 1.0)
                r = 0.0;
        return (usec_t) (d / 2.0 + r * d / 2.0);
}

static int record_failure(ChildFsm *f, usec_t now) {
        if (f->running_since && now - f->running_since >= f->params.stable_after)
                f->consecutive_failures = 0; /* it ran long enough: start over */
        f->running_since = 0;
        f->consecutive_failures++;
        f->failures[f->failures_head] = now;
        f->failures_head = (f->failures_head + 1) % CHILD_FSM_FAILURES_MAX;
        if (f->n_failures < CHILD_FSM_FAILURES_MAX)
                f->n_failures++;

        unsigned limit = MIN(f->params.start_limit, (unsigned) CHILD_FSM_FAILURES_MAX);
        if (limit > 0 && child_fsm_failures_in_window(f, now) >= limit)
                return CHILD_FAILED;
        return CHILD_BACKOFF;
}

unsigned child_fsm_handle(ChildFsm *f, ChildEvent ev, usec_t now) {
        if (f->state >= _CHILD_STATE_MAX || ev >= _CHILD_EV_MAX)
                return 0;
        const Transition *t = &table[f->state][ev];
        unsigned actions = t->actions;
        int next = t->next;

        if (next == NEXT_SAME)
                return 0;

        if (next == NEXT_FAILURE) {
                next = record_failure(f, now);
                if (next == CHILD_BACKOFF) {
                        f->backoff_usec = backoff_delay(f);
                        actions |= CHILD_ACT_ARM_BACKOFF;
                } else if (!f->failed_reported) {
                        actions |= CHILD_ACT_EMIT_FAILED;
                        f->failed_reported = true;
                }
        }

        /* A manual or reload start from `failed` forgets the old failures. */
        if (f->state == CHILD_FAILED && next == CHILD_STARTING)
                reset_failures(f);

        if (f->state == CHILD_REPLACING && ev == CHILD_EV_EXITED)
                (void) record_failure(f, now);

        if (next == CHILD_RUNNING && f->state == CHILD_STARTING) {
                f->running_since = now;
                if (f->failed_reported) {
                        actions |= CHILD_ACT_EMIT_RECOVERED;
                        f->failed_reported = false;
                }
        }
        if (next == CHILD_RUNNING && ev == CHILD_EV_CANDIDATE_READY)
                f->running_since = now;
        if (next == CHILD_STOPPED || next == CHILD_STOPPING)
                f->running_since = 0;

        f->state = (ChildState) next;
        return actions;
}
