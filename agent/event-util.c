/* SPDX-License-Identifier: MIT */
#include "event-util.h"

#include "log.h"

static int arm(sd_event_source *s, usec_t usec, bool relative, int enabled, const char *what) {
        int r = relative ? sd_event_source_set_time_relative(s, usec) : sd_event_source_set_time(s, usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, enabled);
        if (r < 0)
                log_warning_errno(r, "Cannot arm the %s timer", what);
        return r;
}

int event_timer_arm(sd_event_source *s, usec_t when, int enabled, const char *what) {
        return arm(s, when, false, enabled, what);
}

int event_timer_arm_relative(sd_event_source *s, usec_t delay, int enabled, const char *what) {
        return arm(s, delay, true, enabled, what);
}
