/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* The child supervisor's state machine, pure: a states x events table plus
 * the failure accounting (exponential backoff with jitter, start limit).
 * child.c performs the actions it returns. docs/child.md has the table. */

typedef enum ChildState {
        CHILD_STOPPED,   /* no child (none configured, or agent stopping done) */
        CHILD_STARTING,  /* spawned, MCP handshake in progress */
        CHILD_RUNNING,   /* handshake done, serving requests */
        CHILD_REPLACING, /* serving, and a replacement is handshaking */
        CHILD_BACKOFF,   /* exited; waiting before the next start */
        CHILD_FAILED,    /* too many quick failures: waits for restart-child or reload */
        CHILD_STOPPING,  /* agent shutdown: waiting for every child to exit */
        _CHILD_STATE_MAX,
} ChildState;

typedef enum ChildEvent {
        CHILD_EV_START,            /* a command is configured (start, reload) */
        CHILD_EV_READY,            /* the starting child answered initialize */
        CHILD_EV_EXITED,           /* the serving/starting child exited, lost stdout, or failed its handshake */
        CHILD_EV_REPLACE,          /* restart-child, changed config, renewal, liveness or tool failure */
        CHILD_EV_CANDIDATE_READY,  /* the replacement answered initialize */
        CHILD_EV_CANDIDATE_FAILED, /* the replacement exited or failed its handshake */
        CHILD_EV_TIMER,            /* backoff elapsed */
        CHILD_EV_STOP,             /* agent shutdown, or command removed */
        CHILD_EV_ALL_EXITED,       /* no child process left */
        _CHILD_EV_MAX,
} ChildEvent;

typedef enum ChildAction {
        CHILD_ACT_SPAWN             = 1 << 0, /* start a child as the serving one */
        CHILD_ACT_SPAWN_CANDIDATE   = 1 << 1, /* start a replacement beside the serving one */
        CHILD_ACT_PROMOTE           = 1 << 2, /* candidate serves; the old one drains */
        CHILD_ACT_DISCARD_CANDIDATE = 1 << 3, /* stop the replacement; the old one keeps serving */
        CHILD_ACT_ADOPT_CANDIDATE   = 1 << 4, /* the serving one died: the candidate is the starting child */
        CHILD_ACT_STOP_CURRENT      = 1 << 5, /* stop the serving/starting child */
        CHILD_ACT_ARM_BACKOFF       = 1 << 6, /* start the backoff timer (ChildFsm.backoff_usec) */
        CHILD_ACT_EMIT_FAILED       = 1 << 7, /* raise EVENT_CHILD_FAILED */
        CHILD_ACT_EMIT_RECOVERED    = 1 << 8, /* raise EVENT_CHILD_RECOVERED */
        CHILD_ACT_STOP_ALL          = 1 << 9, /* stop every child process */
} ChildAction;

typedef struct ChildFsmParams {
        unsigned start_limit;         /* failures within the interval that mean `failed`; 0: never */
        usec_t start_limit_interval;
        usec_t backoff_base;          /* first delay */
        usec_t backoff_max;
        usec_t stable_after;          /* a run this long resets the backoff */
} ChildFsmParams;

#define CHILD_FSM_FAILURES_MAX 64

typedef struct ChildFsm {
        ChildFsmParams params;
        ChildState state;
        unsigned consecutive_failures; /* drives the backoff exponent */
        usec_t failures[CHILD_FSM_FAILURES_MAX]; /* monotonic times, ring */
        unsigned n_failures, failures_head;
        usec_t running_since;          /* monotonic; 0 if not running */
        usec_t backoff_usec;           /* set with CHILD_ACT_ARM_BACKOFF */
        bool failed_reported;          /* EMIT_FAILED sent, RECOVERED pending */
        /* Randomness for the jitter, injectable for tests: [0, 1). */
        double (*random)(void *userdata);
        void *random_userdata;
} ChildFsm;

void child_fsm_init(ChildFsm *f, const ChildFsmParams *params);
/* Feed an event at monotonic time `now`; returns ChildAction bits. */
unsigned child_fsm_handle(ChildFsm *f, ChildEvent ev, usec_t now);
/* Failures currently counted in the start-limit window. */
unsigned child_fsm_failures_in_window(const ChildFsm *f, usec_t now);

const char *child_state_to_string(ChildState s);
const char *child_event_to_string(ChildEvent e);
