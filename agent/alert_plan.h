/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "status.h"

/* Expiry alert planning, pure: no clock, no I/O. A certificate passes a
 * series of stages, one per [alerts] threshold (fires at not_after - T) plus
 * "expired" (fires at not_after). Each stage fires once per serial; the
 * caller persists which stages fired (alert_store) and asks the plan again
 * whenever the time, the certificate or the configuration changed.
 *
 * Rules (docs/alerts.md):
 *  - a stage fires when now >= its time and it has not fired for this serial;
 *  - if several stages passed at once (clock jump forwards, suspend, first
 *    start with a short-lived certificate) only the MOST SEVERE fires, the
 *    others are marked fired silently: one alert, not a burst of stale ones;
 *  - a clock jump backwards never re-fires: fired stages stay fired;
 *  - a new serial starts with nothing fired (renewal starts clean). */

#define ALERT_STAGES_MAX (ALERT_THRESHOLDS_MAX + 1)
#define ALERT_STAGE_EXPIRED ((usec_t) 0) /* "before" value of the expired stage */
#define ALERT_STAGE_NAME_MAX 32

/* The configured stages, least severe first (largest threshold first, then
 * "expired"). Returns the count. */
size_t alert_plan_stages(const AlertsSection *a, usec_t stages[static ALERT_STAGES_MAX]);
/* "30d", "1h30m", "expired". */
char *alert_stage_name(usec_t before, char buf[static ALERT_STAGE_NAME_MAX]);
/* Inverse of alert_stage_name(); -EINVAL if not a stage name. */
int alert_stage_parse(const char *s, usec_t *ret);

/* Wall-clock time at which a stage fires (never underflows). */
uint64_t alert_stage_time(uint64_t not_after, usec_t before);

typedef struct AlertPlan {
        bool fire;              /* a stage fires now */
        usec_t fire_before;     /* ...this one (the most severe passed) */
        usec_t mark[ALERT_STAGES_MAX]; /* every passed, unfired stage (incl. fire_before) */
        size_t n_mark;
        uint64_t next;          /* wall time of the next unfired stage, USEC_INFINITY if none */
        usec_t next_before;
} AlertPlan;

/* `fired`: stage names already fired for this certificate (may be NULL). */
void alert_plan_evaluate(const AlertsSection *a, uint64_t not_after, char *const *fired, uint64_t now,
                         AlertPlan *ret);

/* Health of a certificate by time left: ok, warning (<= warning_before),
 * critical (<= critical_before or expired). */
Health alert_plan_health(const AlertsSection *a, uint64_t not_after, uint64_t now);
/* Next wall time after `now` at which alert_plan_health() changes, or
 * USEC_INFINITY. */
uint64_t alert_plan_next_health_change(const AlertsSection *a, uint64_t not_after, uint64_t now);

/* Severity of a stage, for labels: ok ("info"), warning, critical. */
Health alert_stage_severity(const AlertsSection *a, usec_t before);
const char *alert_severity_label(Health h); /* "info", "warning", "critical" */
/* Journal PRIORITY of a stage, rising as expiry nears: NOTICE before the
 * warning level, WARNING, ERR at critical, CRIT in the last day, ALERT once
 * expired. */
int alert_stage_priority(const AlertsSection *a, usec_t before);

/* Delay before retry number `attempts` (>= 1) of a failed delivery:
 * exponential from min(1s, retry_max), doubling, capped at retry_max (at
 * least 10ms), with "equal jitter": half fixed, half taken from `random`, so
 * a fleet whose receiver comes back does not retry in lockstep. */
usec_t alert_backoff(usec_t retry_max, unsigned attempts, uint64_t random);

/* Whole days left, rounded to nearest (a stage fired a few ms late still
 * says 14); negative once expired. */
int64_t alert_days_left(uint64_t not_after, uint64_t now);
