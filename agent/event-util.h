/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "macro.h"

/* Re-arm an existing timer source: set its time (absolute on the source's
 * clock, or relative to now) and enable it (SD_EVENT_ONESHOT or
 * SD_EVENT_ON). Either call can fail (the time overflows the clock, the
 * loop is exiting, no memory); then a warning naming `what` is logged, so a
 * timer never silently stops, and the negative errno is returned. */
int event_timer_arm(sd_event_source *s, usec_t when, int enabled, const char *what);
int event_timer_arm_relative(sd_event_source *s, usec_t delay, int enabled, const char *what);
