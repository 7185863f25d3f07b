/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* How long each sd_event_dispatch() (one callback) kept the loop busy: a
 * histogram for Prometheus, the longest since start, the longest per second
 * for a rolling window, and watches that a module opens around an
 * operation (a credentials exchange) to learn the longest dispatch while it
 * ran. Pure: the manager feeds it (manager.c, run loop). */

/* Upper bounds of the histogram buckets, nanoseconds; a last +Inf bucket
 * follows. 25 µs and 50 µs resolve the typical callback, the rest bracket
 * the 1 ms stall target. */
#define LOOP_BUCKETS 10
extern const uint64_t loop_bucket_ns[LOOP_BUCKETS];

#define LOOP_WINDOW_SECONDS 60
#define LOOP_MAX_WATCHES 4

/* Opened by a module, fed by the manager. The dispatch that ends the watch
 * (loop_watch_end from inside a callback) still counts: it ran while the
 * operation was under way. */
typedef struct LoopWatch {
        bool running, ending;
        uint64_t max_ns, max_cpu_ns, cpu_ns, dispatches;                     /* the operation under way */
        uint64_t last_max_ns, last_max_cpu_ns, last_cpu_ns, last_dispatches; /* the last finished one */
        uint64_t all_max_ns;                                    /* any operation since start */
        unsigned finished;
} LoopWatch;

typedef struct LoopStats {
        uint64_t count, sum_ns;
        uint64_t buckets[LOOP_BUCKETS + 1]; /* per bucket, not cumulative */
        uint64_t max_ns, max_at;            /* max_at: monotonic usec */
        uint64_t sec_max_ns[LOOP_WINDOW_SECONDS];
        uint64_t sec_of[LOOP_WINDOW_SECONDS]; /* which monotonic second a slot holds */
        LoopWatch *watches[LOOP_MAX_WATCHES];
} LoopStats;

/* One dispatch that ended at now_usec (monotonic) and took ns of wall time,
 * cpu_ns of it on a CPU (the rest: the loop thread was preempted, the
 * machine's doing rather than the agent's; 0 when not measured). */
void loop_stats_record(LoopStats *s, uint64_t now_usec, uint64_t ns, uint64_t cpu_ns);
/* A watch is open: the manager then also measures each dispatch's CPU time. */
bool loop_stats_watching(const LoopStats *s);
/* Longest dispatch in the last `seconds` (<= LOOP_WINDOW_SECONDS) before now_usec. */
uint64_t loop_stats_window_max(const LoopStats *s, uint64_t now_usec, unsigned seconds);
/* 0, or -ENOSPC when LOOP_MAX_WATCHES are registered. */
int loop_stats_add_watch(LoopStats *s, LoopWatch *w);
void loop_stats_remove_watch(LoopStats *s, LoopWatch *w);

void loop_watch_begin(LoopWatch *w);
/* The operation is done; its figures move to last_* once the current dispatch is counted. */
void loop_watch_end(LoopWatch *w);
/* Drop an operation without counting it as finished (cancelled). */
void loop_watch_cancel(LoopWatch *w);
