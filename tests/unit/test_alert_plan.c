/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>
#include <cmocka.h>

#include "alert_plan.h"
#include "strv.h"

#define D USEC_PER_DAY
/* 2027-01-01T00:00:00Z */
#define NOT_AFTER (1798761600ULL * USEC_PER_SEC)

/* The documented defaults (config.c), built here so the test does not
 * depend on the machine's users and groups. */
static Config cfg_store;
static Config *cfg = &cfg_store;

static int setup(void **state) {
        AlertsSection *a = &cfg->alerts;
        const usec_t t[] = { 30 * D, 14 * D, 7 * D, 3 * D, 1 * D };
        memcpy(a->thresholds, t, sizeof(t));
        a->n_thresholds = ELEMENTSOF(t);
        a->threshold_expired = true;
        a->warning_before = 14 * D;
        a->critical_before = 3 * D;
        return 0;
}

static int teardown(void **state) {
        return 0;
}

static void test_default_stages(void **state) {
        usec_t s[ALERT_STAGES_MAX];
        char buf[ALERT_STAGE_NAME_MAX];
        const char *want[] = { "30d", "14d", "7d", "3d", "1d", "expired" };
        size_t n = alert_plan_stages(&cfg->alerts, s);

        assert_int_equal(n, 6);
        for (size_t i = 0; i < n; i++) {
                usec_t u;
                assert_string_equal(alert_stage_name(s[i], buf), want[i]);
                assert_int_equal(alert_stage_parse(want[i], &u), 0);
                assert_true(u == s[i]);
        }
        usec_t u;
        assert_int_equal(alert_stage_parse("bogus", &u), -EINVAL);
        assert_int_equal(alert_stage_parse("0d", &u), -EINVAL);
        assert_int_equal(alert_stage_parse("", &u), -EINVAL);
}

/* Walk the clock from 40 days before expiry past it, one hour at a time,
 * feeding fired stages back like the daemon does: every stage fires exactly
 * once, in order, at (not before) its time. */
static void test_every_threshold_once_in_order(void **state) {
        _cleanup_strv_free_ char **fired = NULL;
        const char *want[] = { "30d", "14d", "7d", "3d", "1d", "expired" };
        size_t k = 0;

        for (uint64_t now = NOT_AFTER - 40 * D; now <= NOT_AFTER + 2 * D; now += USEC_PER_HOUR) {
                AlertPlan p;
                char buf[ALERT_STAGE_NAME_MAX];

                alert_plan_evaluate(&cfg->alerts, NOT_AFTER, fired, now, &p);
                if (!p.fire) {
                        if (k < ELEMENTSOF(want)) {
                                usec_t u;
                                assert_int_equal(alert_stage_parse(want[k], &u), 0);
                                assert_true(p.next == alert_stage_time(NOT_AFTER, u));
                                assert_true(p.next > now);
                        } else
                                assert_true(p.next == USEC_INFINITY);
                        continue;
                }
                assert_true(k < ELEMENTSOF(want));
                assert_string_equal(alert_stage_name(p.fire_before, buf), want[k]);
                /* fires in the first step at or after its time */
                assert_true(now >= alert_stage_time(NOT_AFTER, p.fire_before));
                assert_true(now < alert_stage_time(NOT_AFTER, p.fire_before) + USEC_PER_HOUR);
                assert_int_equal(p.n_mark, 1);
                assert_int_equal(strv_extend(&fired, buf), 0);
                k++;
        }
        assert_int_equal(k, ELEMENTSOF(want));
}

static void test_exact_boundary(void **state) {
        AlertPlan p;
        char buf[ALERT_STAGE_NAME_MAX];

        alert_plan_evaluate(&cfg->alerts, NOT_AFTER, NULL, NOT_AFTER - 30 * D - 1, &p);
        assert_false(p.fire);
        assert_true(p.next == NOT_AFTER - 30 * D);
        assert_string_equal(alert_stage_name(p.next_before, buf), "30d");
        alert_plan_evaluate(&cfg->alerts, NOT_AFTER, NULL, NOT_AFTER - 30 * D, &p);
        assert_true(p.fire);
        assert_string_equal(alert_stage_name(p.fire_before, buf), "30d");
        assert_true(p.next == NOT_AFTER - 14 * D);
}

/* Restart: the persisted fired set means nothing fires again. */
static void test_restart_does_not_refire(void **state) {
        char *fired[] = { (char *) "30d", (char *) "14d", NULL };
        AlertPlan p;

        alert_plan_evaluate(&cfg->alerts, NOT_AFTER, fired, NOT_AFTER - 10 * D, &p);
        assert_false(p.fire);
        assert_int_equal(p.n_mark, 0);
        assert_true(p.next == NOT_AFTER - 7 * D);
}

/* A jump forwards over several stages fires the most severe one once and
 * marks the others fired. */
static void test_jump_forward_collapses(void **state) {
        char *fired[] = { (char *) "30d", NULL };
        char buf[ALERT_STAGE_NAME_MAX];
        AlertPlan p;

        alert_plan_evaluate(&cfg->alerts, NOT_AFTER, fired, NOT_AFTER - 2 * D, &p);
        assert_true(p.fire);
        assert_string_equal(alert_stage_name(p.fire_before, buf), "3d");
        assert_int_equal(p.n_mark, 3); /* 14d 7d 3d */
        assert_true(p.mark[0] == 14 * D && p.mark[1] == 7 * D && p.mark[2] == 3 * D);
        assert_true(p.next == NOT_AFTER - 1 * D);

        /* past expiry from a clean state: only "expired" fires */
        alert_plan_evaluate(&cfg->alerts, NOT_AFTER, NULL, NOT_AFTER + 5 * D, &p);
        assert_true(p.fire);
        assert_true(p.fire_before == ALERT_STAGE_EXPIRED);
        assert_int_equal(p.n_mark, 6);
        assert_true(p.next == USEC_INFINITY);
}

/* A jump backwards keeps fired stages fired; the next one is planned at its
 * real time again. */
static void test_jump_backward_no_refire(void **state) {
        char *fired[] = { (char *) "30d", (char *) "14d", (char *) "7d", NULL };
        AlertPlan p;

        alert_plan_evaluate(&cfg->alerts, NOT_AFTER, fired, NOT_AFTER - 60 * D, &p);
        assert_false(p.fire);
        assert_true(p.next == NOT_AFTER - 3 * D);
        assert_true(p.next_before == 3 * D);
}

/* A renewed certificate (new serial, empty fired set) renewed between
 * thresholds starts clean: with a year left nothing fires. */
static void test_renewal_starts_clean(void **state) {
        uint64_t now = NOT_AFTER - 10 * D;
        uint64_t renewed = now + 365 * D;
        AlertPlan p;

        alert_plan_evaluate(&cfg->alerts, renewed, NULL, now, &p);
        assert_false(p.fire);
        assert_true(p.next == renewed - 30 * D);
}

/* Threshold names match by value, and stages not configured are ignored. */
static void test_fired_by_value(void **state) {
        char *fired[] = { (char *) "720h", (char *) "garbage", (char *) "99d", NULL };
        AlertPlan p;

        alert_plan_evaluate(&cfg->alerts, NOT_AFTER, fired, NOT_AFTER - 20 * D, &p);
        assert_false(p.fire);
        assert_true(p.next_before == 14 * D);
}

static void test_no_expired_stage(void **state) {
        AlertsSection a = cfg->alerts;
        AlertPlan p;

        a.threshold_expired = false;
        alert_plan_evaluate(&a, NOT_AFTER, NULL, NOT_AFTER + D, &p);
        assert_true(p.fire);
        assert_true(p.fire_before == 1 * D);
        alert_plan_evaluate(&a, NOT_AFTER, (char *[]) { (char *) "30d", (char *) "14d", (char *) "7d", (char *) "3d", (char *) "1d", NULL }, NOT_AFTER - 12 * USEC_PER_HOUR, &p);
        assert_false(p.fire);
        assert_true(p.next == USEC_INFINITY);
}

static void test_short_lived_cert_no_underflow(void **state) {
        AlertPlan p;
        /* not_after smaller than the largest threshold: its time clamps to 0 */
        assert_true(alert_stage_time(5 * D, 30 * D) == 0);
        alert_plan_evaluate(&cfg->alerts, 5 * D, NULL, 1, &p);
        assert_true(p.fire);
        assert_true(p.fire_before == 7 * D);
}

static void test_health_levels(void **state) {
        assert_int_equal(alert_plan_health(&cfg->alerts, NOT_AFTER, NOT_AFTER - 15 * D), HEALTH_OK);
        assert_int_equal(alert_plan_health(&cfg->alerts, NOT_AFTER, NOT_AFTER - 14 * D - 1), HEALTH_OK);
        assert_int_equal(alert_plan_health(&cfg->alerts, NOT_AFTER, NOT_AFTER - 14 * D), HEALTH_WARNING);
        assert_int_equal(alert_plan_health(&cfg->alerts, NOT_AFTER, NOT_AFTER - 3 * D - 1), HEALTH_WARNING);
        assert_int_equal(alert_plan_health(&cfg->alerts, NOT_AFTER, NOT_AFTER - 3 * D), HEALTH_CRITICAL);
        assert_int_equal(alert_plan_health(&cfg->alerts, NOT_AFTER, NOT_AFTER + D), HEALTH_CRITICAL);

        assert_true(alert_plan_next_health_change(&cfg->alerts, NOT_AFTER, NOT_AFTER - 20 * D) == NOT_AFTER - 14 * D);
        assert_true(alert_plan_next_health_change(&cfg->alerts, NOT_AFTER, NOT_AFTER - 14 * D) == NOT_AFTER - 3 * D);
        assert_true(alert_plan_next_health_change(&cfg->alerts, NOT_AFTER, NOT_AFTER - D) == USEC_INFINITY);

        AlertsSection a = cfg->alerts;
        a.warning_before = 60 * D;
        a.critical_before = 20 * D;
        assert_int_equal(alert_plan_health(&a, NOT_AFTER, NOT_AFTER - 30 * D), HEALTH_WARNING);
        assert_int_equal(alert_stage_severity(&a, 30 * D), HEALTH_WARNING);
        assert_int_equal(alert_stage_severity(&a, 14 * D), HEALTH_CRITICAL);
}

static void test_severity_and_priority(void **state) {
        const AlertsSection *a = &cfg->alerts;
        assert_int_equal(alert_stage_severity(a, 30 * D), HEALTH_OK);
        assert_int_equal(alert_stage_severity(a, 14 * D), HEALTH_WARNING);
        assert_int_equal(alert_stage_severity(a, 7 * D), HEALTH_WARNING);
        assert_int_equal(alert_stage_severity(a, 3 * D), HEALTH_CRITICAL);
        assert_int_equal(alert_stage_severity(a, ALERT_STAGE_EXPIRED), HEALTH_CRITICAL);
        assert_string_equal(alert_severity_label(HEALTH_OK), "info");
        assert_string_equal(alert_severity_label(HEALTH_CRITICAL), "critical");

        /* rising: each later stage at least as urgent (lower syslog number) */
        int prev = LOG_DEBUG + 1;
        usec_t s[ALERT_STAGES_MAX];
        size_t n = alert_plan_stages(a, s);
        for (size_t i = 0; i < n; i++) {
                int p = alert_stage_priority(a, s[i]);
                assert_true(p <= prev);
                prev = p;
        }
        assert_int_equal(alert_stage_priority(a, 30 * D), LOG_NOTICE);
        assert_int_equal(alert_stage_priority(a, 14 * D), LOG_WARNING);
        assert_int_equal(alert_stage_priority(a, 3 * D), LOG_ERR);
        assert_int_equal(alert_stage_priority(a, 1 * D), LOG_CRIT);
        assert_int_equal(alert_stage_priority(a, ALERT_STAGE_EXPIRED), LOG_ALERT);
}

static void test_days_left(void **state) {
        assert_int_equal(alert_days_left(NOT_AFTER, NOT_AFTER - 14 * D), 14);
        assert_int_equal(alert_days_left(NOT_AFTER, NOT_AFTER - 14 * D + 5 * USEC_PER_MSEC), 14);
        assert_int_equal(alert_days_left(NOT_AFTER, NOT_AFTER), 0);
        assert_int_equal(alert_days_left(NOT_AFTER, NOT_AFTER + 3 * D), -3);
}

static void test_backoff(void **state) {
        const usec_t S = USEC_PER_SEC;
        /* bounds: [d/2, d] with d = 1s, 2s, 4s ... capped at retry_max */
        for (unsigned n = 1; n <= 12; n++) {
                usec_t d = MIN((usec_t) 1 << (n - 1), (usec_t) 600) * S;
                assert_true(alert_backoff(600 * S, n, 0) == d / 2);
                assert_true(alert_backoff(600 * S, n, UINT64_MAX - 1) <= d);
                assert_true(alert_backoff(600 * S, n, UINT64_MAX - 1) >= d / 2);
        }
        assert_true(alert_backoff(600 * S, 1000, 0) == 300 * S); /* no overflow */
        /* jitter: different random inputs spread the delay */
        assert_true(alert_backoff(600 * S, 5, 12345) != alert_backoff(600 * S, 5, 999999));
        /* a small retry_max caps even the first attempt */
        assert_true(alert_backoff(200 * USEC_PER_MSEC, 1, UINT64_MAX) <= 200 * USEC_PER_MSEC);
        assert_true(alert_backoff(0, 3, UINT64_MAX) <= 10 * USEC_PER_MSEC);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_stages),
                cmocka_unit_test(test_every_threshold_once_in_order),
                cmocka_unit_test(test_exact_boundary),
                cmocka_unit_test(test_restart_does_not_refire),
                cmocka_unit_test(test_jump_forward_collapses),
                cmocka_unit_test(test_jump_backward_no_refire),
                cmocka_unit_test(test_renewal_starts_clean),
                cmocka_unit_test(test_fired_by_value),
                cmocka_unit_test(test_no_expired_stage),
                cmocka_unit_test(test_short_lived_cert_no_underflow),
                cmocka_unit_test(test_health_levels),
                cmocka_unit_test(test_severity_and_priority),
                cmocka_unit_test(test_days_left),
                cmocka_unit_test(test_backoff),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
