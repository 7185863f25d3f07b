/* SPDX-License-Identifier: MIT */
#include "loopstat.h"

const uint64_t loop_bucket_ns[LOOP_BUCKETS] = {
        25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000, 25000000, 100000000,
};

static void watch_feed(LoopWatch *w, uint64_t ns, uint64_t cpu_ns) {
        if (!w->running)
                return;
        w->dispatches++;
        w->max_ns = MAX(w->max_ns, ns);
        w->max_cpu_ns = MAX(w->max_cpu_ns, cpu_ns);
        w->cpu_ns += cpu_ns;
        if (!w->ending)
                return;
        w->last_max_ns = w->max_ns;
        w->last_max_cpu_ns = w->max_cpu_ns;
        w->last_cpu_ns = w->cpu_ns;
        w->last_dispatches = w->dispatches;
        w->all_max_ns = MAX(w->all_max_ns, w->max_ns);
        w->finished++;
        w->running = w->ending = false;
}

void loop_stats_record(LoopStats *s, uint64_t now_usec, uint64_t ns, uint64_t cpu_ns) {
        uint64_t sec = now_usec / USEC_PER_SEC;
        size_t b = 0, slot = sec % LOOP_WINDOW_SECONDS;

        s->count++;
        s->sum_ns += ns;
        while (b < LOOP_BUCKETS && ns > loop_bucket_ns[b])
                b++;
        s->buckets[b]++;
        if (ns > s->max_ns) {
                s->max_ns = ns;
                s->max_at = now_usec;
        }
        if (s->sec_of[slot] != sec) {
                s->sec_of[slot] = sec;
                s->sec_max_ns[slot] = 0;
        }
        s->sec_max_ns[slot] = MAX(s->sec_max_ns[slot], ns);
        for (size_t i = 0; i < LOOP_MAX_WATCHES; i++)
                if (s->watches[i])
                        watch_feed(s->watches[i], ns, cpu_ns);
}

uint64_t loop_stats_window_max(const LoopStats *s, uint64_t now_usec, unsigned seconds) {
        uint64_t sec = now_usec / USEC_PER_SEC, m = 0;

        seconds = MIN(seconds, (unsigned) LOOP_WINDOW_SECONDS);
        for (size_t i = 0; i < LOOP_WINDOW_SECONDS; i++)
                /* slot i holds second sec_of[i]; only the last `seconds` count */
                if (s->sec_of[i] <= sec && sec - s->sec_of[i] < seconds
                    && s->sec_max_ns[i] > m) /* never-used slots hold 0 */
                        m = s->sec_max_ns[i];
        return m;
}

bool loop_stats_watching(const LoopStats *s) {
        for (size_t i = 0; i < LOOP_MAX_WATCHES; i++)
                if (s->watches[i] && s->watches[i]->running)
                        return true;
        return false;
}

int loop_stats_add_watch(LoopStats *s, LoopWatch *w) {
        for (size_t i = 0; i < LOOP_MAX_WATCHES; i++)
                if (!s->watches[i]) {
                        s->watches[i] = w;
                        return 0;
                }
        return -ENOSPC;
}

void loop_stats_remove_watch(LoopStats *s, LoopWatch *w) {
        for (size_t i = 0; i < LOOP_MAX_WATCHES; i++)
                if (s->watches[i] == w)
                        s->watches[i] = NULL;
}

void loop_watch_begin(LoopWatch *w) {
        w->running = true;
        w->ending = false;
        w->max_ns = w->max_cpu_ns = w->cpu_ns = w->dispatches = 0;
}

void loop_watch_end(LoopWatch *w) {
        if (w->running)
                w->ending = true;
}

void loop_watch_cancel(LoopWatch *w) {
        w->running = w->ending = false;
}
