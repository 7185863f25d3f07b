/* SPDX-License-Identifier: MIT */
#include "fdlimit.h"

#include <errno.h>
#include <time.h>

#include "log.h"

static struct rlimit original_nofile;
static bool have_original;

rlim_t fdlimit_raise(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 1024;
        original_nofile = rl;
        have_original = true;
        if (rl.rlim_cur < rl.rlim_max) {
                struct rlimit raised = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
                if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
                        rl = raised;
                else
                        log_warning_errno(errno, "Cannot raise the file descriptor limit from %llu to %llu",
                                          (unsigned long long) rl.rlim_cur, (unsigned long long) rl.rlim_max);
        }
        return rl.rlim_cur;
}

void fdlimit_restore_for_child(void) {
        if (have_original)
                (void) setrlimit(RLIMIT_NOFILE, &original_nofile);
}

rlim_t fdlimit_current(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 1024;
        return rl.rlim_cur;
}

unsigned fdlimit_max_clients(unsigned configured, rlim_t nofile) {
        rlim_t budget;
        if (nofile == RLIM_INFINITY)
                return configured;
        budget = nofile > FDLIMIT_RESERVED ? (nofile - FDLIMIT_RESERVED) / 2 : 0;
        if (budget < 1)
                budget = 1;
        return budget < configured ? (unsigned) budget : configured;
}

static usec_t now_mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static int on_resume(sd_event_source *s, uint64_t usec, void *userdata) {
        AcceptGuard *g = userdata;
        int r = g->listen ? sd_event_source_set_enabled(g->listen, SD_EVENT_ON) : 0;
        if (r < 0) {
                /* Without the listener nobody can connect: try again later. */
                log_warning_errno(r, "Cannot resume the %s; retrying", g->what);
                if (sd_event_source_set_time_relative(s, ACCEPT_PAUSE_USEC) >= 0)
                        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

bool accept_guard_failed(AcceptGuard *g, sd_event *e, sd_event_source *listen, int error) {
        usec_t now;
        int r;

        if (error == EAGAIN || error == EINTR || error == ECONNABORTED)
                return false;
        g->failures++;
        g->last_error = error;
        now = now_mono();
        if (g->logged_at == 0 || now - g->logged_at >= ACCEPT_LOG_INTERVAL_USEC) {
                if (error == EMFILE || error == ENFILE)
                        log_warning_errno(error,
                                          "accept() on the %s failed %llu time(s): out of file descriptors; pausing it "
                                          "for %llums at a time (raise LimitNOFILE= or lower [agent] max_clients)",
                                          g->what, (unsigned long long) g->failures,
                                          (unsigned long long) (ACCEPT_PAUSE_USEC / USEC_PER_MSEC));
                else
                        log_warning_errno(error, "accept() on the %s failed %llu time(s); pausing it for %llums at a time",
                                          g->what, (unsigned long long) g->failures,
                                          (unsigned long long) (ACCEPT_PAUSE_USEC / USEC_PER_MSEC));
                g->failures = 0;
                g->logged_at = now;
        }

        g->listen = listen;
        if (!g->timer)
                r = sd_event_add_time_relative(e, &g->timer, CLOCK_MONOTONIC, ACCEPT_PAUSE_USEC, 10 * USEC_PER_MSEC,
                                               on_resume, g);
        else {
                r = sd_event_source_set_time_relative(g->timer, ACCEPT_PAUSE_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT);
        }
        /* Pause only with a way back; else keep accepting (bounded per wakeup). */
        if (r >= 0)
                r = sd_event_source_set_enabled(listen, SD_EVENT_OFF);
        if (r < 0)
                log_warning_errno(r, "Cannot pause the %s", g->what);
        return true;
}

void accept_guard_done(AcceptGuard *g) {
        g->timer = sd_event_source_disable_unref(g->timer);
        g->listen = NULL;
}
