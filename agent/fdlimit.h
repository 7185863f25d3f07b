/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/resource.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* File descriptors: the daemon's budget and what happens when it runs out.
 * Every client connection costs one descriptor; a listener that keeps
 * failing accept() for want of one would stay readable and spin the loop,
 * so it is paused briefly instead (AcceptGuard). */

/* Descriptors kept for everything but client connections: the loop, the
 * inotify watch, the children's pipes, journal, timers, PKI file reads,
 * HTTP deliveries, the hook. Generous: the common case has ~40 open. */
#define FDLIMIT_RESERVED 128
/* How long a listener rests after accept() found no descriptor. */
#define ACCEPT_PAUSE_USEC (250 * USEC_PER_MSEC)
/* At most one log line per listener per this interval while it fails. */
#define ACCEPT_LOG_INTERVAL_USEC (10 * USEC_PER_SEC)

/* Raise the soft RLIMIT_NOFILE to the hard limit (what systemd services are
 * expected to do); remembers the original soft limit for our children.
 * Returns the soft limit now in effect. */
rlim_t fdlimit_raise(void);
/* Between fork and exec: give the child the original soft limit back, so
 * select()-using programs keep working (async-signal-safe). */
void fdlimit_restore_for_child(void);
/* The current soft limit. */
rlim_t fdlimit_current(void);

/* Pure: connections the control and the MCP socket may each hold so that
 * both full never exhaust `nofile` descriptors: min(configured,
 * (nofile - FDLIMIT_RESERVED) / 2), at least 1. */
unsigned fdlimit_max_clients(unsigned configured, rlim_t nofile);

typedef struct AcceptGuard {
        const char *what;          /* "control socket", "MCP socket" */
        sd_event_source *listen;   /* borrowed: the listener to pause */
        sd_event_source *timer;    /* re-enables it */
        uint64_t failures;         /* not yet reported */
        usec_t logged_at;
        int last_error;
} AcceptGuard;

/* accept() on `listen` failed with `error` (errno). Transient errors
 * (EAGAIN, EINTR, ECONNABORTED) return false: go on. Anything else pauses
 * the listener for ACCEPT_PAUSE_USEC, logs at most once per
 * ACCEPT_LOG_INTERVAL_USEC and returns true: stop accepting now. */
bool accept_guard_failed(AcceptGuard *g, sd_event *e, sd_event_source *listen, int error);
/* The listener is gone or replaced: drop the timer. */
void accept_guard_done(AcceptGuard *g);
