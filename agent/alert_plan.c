/* SPDX-License-Identifier: MIT */
#include "alert_plan.h"

#include <syslog.h>

#include "strv.h"

size_t alert_plan_stages(const AlertsSection *a, usec_t stages[static ALERT_STAGES_MAX]) {
        size_t n = 0;

        /* config.c keeps thresholds sorted descending and > 0 */
        for (size_t i = 0; i < a->n_thresholds && n < ALERT_THRESHOLDS_MAX; i++)
                if (a->thresholds[i] > 0)
                        stages[n++] = a->thresholds[i];
        if (a->threshold_expired)
                stages[n++] = ALERT_STAGE_EXPIRED;
        return n;
}

char *alert_stage_name(usec_t before, char buf[static ALERT_STAGE_NAME_MAX]) {
        if (before == ALERT_STAGE_EXPIRED) {
                snprintf(buf, ALERT_STAGE_NAME_MAX, "expired");
                return buf;
        }
        return format_duration(before, buf, ALERT_STAGE_NAME_MAX);
}

int alert_stage_parse(const char *s, usec_t *ret) {
        usec_t u;

        if (isempty(s))
                return -EINVAL;
        if (streq(s, "expired")) {
                *ret = ALERT_STAGE_EXPIRED;
                return 0;
        }
        if (parse_duration(s, &u) < 0 || u == 0)
                return -EINVAL;
        *ret = u;
        return 0;
}

uint64_t alert_stage_time(uint64_t not_after, usec_t before) {
        return before >= not_after ? 0 : not_after - before;
}

/* Fired sets are stored as names so that a changed threshold list keeps the
 * stages both lists share; compare by value so "720h" matches "30d". */
static bool stage_fired(char *const *fired, usec_t before) {
        STRV_FOREACH(f, fired) {
                usec_t u;
                if (alert_stage_parse(*f, &u) == 0 && u == before)
                        return true;
        }
        return false;
}

void alert_plan_evaluate(const AlertsSection *a, uint64_t not_after, char *const *fired, uint64_t now,
                         AlertPlan *ret) {
        usec_t stages[ALERT_STAGES_MAX];
        size_t n = alert_plan_stages(a, stages);

        *ret = (AlertPlan) { .next = USEC_INFINITY };
        /* stages run least to most severe, so the last passed one wins */
        for (size_t i = 0; i < n; i++) {
                uint64_t t = alert_stage_time(not_after, stages[i]);
                if (stage_fired(fired, stages[i]))
                        continue;
                if (t <= now) {
                        ret->fire = true;
                        ret->fire_before = stages[i];
                        ret->mark[ret->n_mark++] = stages[i];
                } else if (t < ret->next) {
                        ret->next = t;
                        ret->next_before = stages[i];
                }
        }
}

Health alert_plan_health(const AlertsSection *a, uint64_t not_after, uint64_t now) {
        if (now >= not_after)
                return HEALTH_CRITICAL;
        if (not_after - now <= a->critical_before)
                return HEALTH_CRITICAL;
        if (not_after - now <= a->warning_before)
                return HEALTH_WARNING;
        return HEALTH_OK;
}

uint64_t alert_plan_next_health_change(const AlertsSection *a, uint64_t not_after, uint64_t now) {
        /* health is "<= before", so it changes at not_after - before exactly */
        uint64_t c[] = {
                alert_stage_time(not_after, a->warning_before),
                alert_stage_time(not_after, a->critical_before),
        };
        uint64_t next = USEC_INFINITY;

        for (size_t i = 0; i < ELEMENTSOF(c); i++)
                if (c[i] > now && c[i] < next)
                        next = c[i];
        return next;
}

Health alert_stage_severity(const AlertsSection *a, usec_t before) {
        if (before == ALERT_STAGE_EXPIRED || before <= a->critical_before)
                return HEALTH_CRITICAL;
        if (before <= a->warning_before)
                return HEALTH_WARNING;
        return HEALTH_OK;
}

const char *alert_severity_label(Health h) {
        switch (h) {
        case HEALTH_WARNING:
                return "warning";
        case HEALTH_CRITICAL:
                return "critical";
        default:
                return "info";
        }
}

int alert_stage_priority(const AlertsSection *a, usec_t before) {
        if (before == ALERT_STAGE_EXPIRED)
                return LOG_ALERT;
        if (before <= USEC_PER_DAY)
                return LOG_CRIT;
        switch (alert_stage_severity(a, before)) {
        case HEALTH_CRITICAL:
                return LOG_ERR;
        case HEALTH_WARNING:
                return LOG_WARNING;
        default:
                return LOG_NOTICE;
        }
}

int64_t alert_days_left(uint64_t not_after, uint64_t now) {
        int64_t d = (int64_t) not_after - (int64_t) now;
        int64_t day = (int64_t) USEC_PER_DAY;

        if (d >= 0)
                return (d + day / 2) / day;
        return -((-d + day / 2) / day);
}

usec_t alert_backoff(usec_t retry_max, unsigned attempts, uint64_t random) {
        usec_t cap = MAX(retry_max, (usec_t) 10 * USEC_PER_MSEC);
        usec_t d = MIN(USEC_PER_SEC, cap);

        for (unsigned i = 1; i < attempts && d < cap; i++)
                d = d > cap / 2 ? cap : d * 2;
        return d / 2 + random % (d / 2 + 1);
}
