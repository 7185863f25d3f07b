/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "alert_payload.h"

#define T0 (1798761600ULL * USEC_PER_SEC) /* 2027-01-01T00:00:00Z */

static void sample(Alert *a) {
        *a = (Alert) {
                .key = (char *) "AgvCertificateExpiring:client:0A1B:14d",
                .name = (char *) "AgvCertificateExpiring",
                .kind = (char *) "cert_expiring",
                .severity = HEALTH_WARNING,
                .stage = (char *) "14d",
                .role = (char *) "client",
                .serial = (char *) "0A1B",
                .subject = (char *) "CN=vm \"one\",O=Org",
                .issuer = (char *) "CN=ca",
                .not_after = T0 + 14 * USEC_PER_DAY,
                .days_left = 14,
                .summary = (char *) "Client certificate expires in 14 days",
                .description = (char *) "Renew it:\nsee docs",
                .instance = (char *) "vm1",
                .starts_at = T0 + 123456,
        };
}

static const char *get(json_object *o, const char *k) {
        json_object *v;
        assert_true(json_object_object_get_ex(o, k, &v));
        return json_object_get_string(v);
}

static void test_webhook_body(void **state) {
        Alert a;
        sample(&a);
        _cleanup_free_ char *body = alert_webhook_body(&a, false);
        _cleanup_json_ json_object *o = json_tokener_parse(body);
        json_object *v;

        assert_non_null(o);
        assert_string_equal(get(o, "alertname"), "AgvCertificateExpiring");
        assert_string_equal(get(o, "status"), "firing");
        assert_string_equal(get(o, "severity"), "warning");
        assert_string_equal(get(o, "stage"), "14d");
        assert_string_equal(get(o, "serial"), "0A1B");
        assert_string_equal(get(o, "subject"), "CN=vm \"one\",O=Org");
        assert_string_equal(get(o, "not_after"), "2027-01-15T00:00:00Z");
        assert_string_equal(get(o, "starts_at"), "2027-01-01T00:00:00Z");
        assert_string_equal(get(o, "instance"), "vm1");
        assert_string_equal(get(o, "source"), "agv-agent");
        assert_int_equal(json_object_get_int(json_object_object_get(o, "days_left")), 14);
        assert_int_equal(json_object_get_int(json_object_object_get(o, "version")), 1);
        assert_false(json_object_object_get_ex(o, "text", &v));
        assert_false(json_object_object_get_ex(o, "starts_at_usec", &v));
        assert_false(json_object_object_get_ex(o, "ends_at", &v));
}

static void test_webhook_slack_text(void **state) {
        Alert a;
        sample(&a);
        _cleanup_free_ char *body = alert_webhook_body(&a, true);
        _cleanup_json_ json_object *o = json_tokener_parse(body);
        assert_string_equal(get(o, "text"), "[WARNING] vm1: Client certificate expires in 14 days");
        a.resolved = true;
        a.ends_at = T0 + USEC_PER_DAY;
        _cleanup_free_ char *t = alert_text(&a);
        assert_string_equal(t, "[RESOLVED] vm1: Client certificate expires in 14 days");
}

static void test_json_round_trip(void **state) {
        Alert a, b;
        sample(&a);
        a.resolved = true;
        a.ends_at = T0 + 999;
        _cleanup_json_ json_object *o = alert_to_json(&a);
        assert_int_equal(alert_from_json(o, &b), 0);
        assert_string_equal(b.key, a.key);
        assert_string_equal(b.subject, a.subject);
        assert_string_equal(b.description, a.description);
        assert_true(b.resolved);
        assert_int_equal(b.severity, HEALTH_WARNING);
        assert_true(b.starts_at == a.starts_at);
        assert_true(b.ends_at == a.ends_at);
        assert_true(b.not_after == a.not_after);
        assert_int_equal(b.days_left, 14);
        alert_done(&b);

        /* malformed inputs are refused, not half-read */
        _cleanup_json_ json_object *bad = json_tokener_parse("{\"key\":\"k\",\"alertname\":\"n\",\"status\":\"weird\",\"severity\":\"info\"}");
        assert_int_equal(alert_from_json(bad, &b), -EBADMSG);
        _cleanup_json_ json_object *bad2 = json_tokener_parse("{\"alertname\":\"n\",\"status\":\"firing\",\"severity\":\"info\"}");
        assert_int_equal(alert_from_json(bad2, &b), -EBADMSG);
        _cleanup_json_ json_object *bad3 = json_tokener_parse("[1]");
        assert_int_equal(alert_from_json(bad3, &b), -EBADMSG);
        _cleanup_json_ json_object *bad4 = json_tokener_parse("{\"key\":\"k\",\"alertname\":\"n\",\"status\":\"firing\",\"severity\":\"info\",\"subject\":5}");
        assert_int_equal(alert_from_json(bad4, &b), -EBADMSG);
        /* a notAfter that would wrap in microseconds (found by fuzz_alert_store) */
        _cleanup_json_ json_object *bad5 = json_tokener_parse("{\"key\":\"k\",\"alertname\":\"n\",\"status\":\"firing\",\"severity\":\"info\",\"not_after_unix\":18446744073708}");
        assert_int_equal(alert_from_json(bad5, &b), -EBADMSG);
        _cleanup_json_ json_object *bad6 = json_tokener_parse("{\"key\":\"k\",\"alertname\":\"n\",\"status\":\"firing\",\"severity\":\"info\",\"not_after_unix\":-1}");
        assert_int_equal(alert_from_json(bad6, &b), -EBADMSG);
}

static void test_alertmanager_body(void **state) {
        Alert a, r;
        sample(&a);
        sample(&r);
        r.name = (char *) "AgvCaCertificateExpiring";
        r.resolved = true;
        r.ends_at = T0 + 5 * USEC_PER_SEC + 250 * USEC_PER_MSEC;
        Alert *list[] = { &a, &r };
        _cleanup_free_ char *body = alertmanager_body(list, 2, T0 + 4 * USEC_PER_MINUTE);
        _cleanup_json_ json_object *o = json_tokener_parse(body);
        json_object *e, *labels, *ann;

        assert_true(json_object_is_type(o, json_type_array));
        assert_int_equal(json_object_array_length(o), 2);
        e = json_object_array_get_idx(o, 0);
        assert_true(json_object_object_get_ex(e, "labels", &labels));
        assert_string_equal(get(labels, "alertname"), "AgvCertificateExpiring");
        assert_string_equal(get(labels, "instance"), "vm1");
        assert_string_equal(get(labels, "serial"), "0A1B");
        assert_string_equal(get(labels, "severity"), "warning");
        assert_string_equal(get(labels, "subject"), "CN=vm \"one\",O=Org");
        assert_true(json_object_object_get_ex(e, "annotations", &ann));
        assert_string_equal(get(ann, "summary"), a.summary);
        assert_string_equal(get(ann, "description"), a.description);
        assert_string_equal(get(e, "startsAt"), "2027-01-01T00:00:00.123Z");
        assert_string_equal(get(e, "endsAt"), "2027-01-01T00:04:00.000Z");
        e = json_object_array_get_idx(o, 1);
        assert_string_equal(get(e, "endsAt"), "2027-01-01T00:00:05.250Z");
}

static void test_hook_env(void **state) {
        Alert a;
        sample(&a);
        _cleanup_strv_free_ char **env = alert_hook_env(&a);
        assert_non_null(env);
        assert_true(strv_contains(env, "AGV_ALERT_NAME=AgvCertificateExpiring"));
        assert_true(strv_contains(env, "AGV_ALERT_STATUS=firing"));
        assert_true(strv_contains(env, "AGV_ALERT_SEVERITY=warning"));
        assert_true(strv_contains(env, "AGV_ALERT_STAGE=14d"));
        assert_true(strv_contains(env, "AGV_ALERT_SERIAL=0A1B"));
        assert_true(strv_contains(env, "AGV_ALERT_DAYS_LEFT=14"));
        assert_true(strv_contains(env, "AGV_ALERT_NOT_AFTER=2027-01-15T00:00:00Z"));
        assert_true(strv_contains(env, "AGV_ALERT_INSTANCE=vm1"));
        bool json = false;
        STRV_FOREACH(e, env)
                if (strneq(*e, "AGV_ALERT_JSON={", 16))
                        json = true;
        assert_true(json);
        /* no agent environment leaks into the hook */
        STRV_FOREACH(e, env)
                assert_true(strneq(*e, "AGV_ALERT_", 10) || strneq(*e, "PATH=", 5) || strneq(*e, "LANG=", 5));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_webhook_body),
                cmocka_unit_test(test_webhook_slack_text),
                cmocka_unit_test(test_json_round_trip),
                cmocka_unit_test(test_alertmanager_body),
                cmocka_unit_test(test_hook_env),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
