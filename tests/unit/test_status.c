/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "status.h"

static const char *str(json_object *o, const char *k) {
        json_object *v;
        assert_true(json_object_object_get_ex(o, k, &v));
        return json_object_get_string(v);
}

static void test_empty_is_ok(void **state) {
        StatusBuilder sb;
        json_object *r;
        char *line;

        assert_int_equal(status_builder_init(&sb), 0);
        status_add_summary(&sb, "cert expires in 211d");
        status_add_summary(&sb, "signer ready");
        r = status_builder_finish(&sb);
        assert_string_equal(str(r, "state"), "ok");
        assert_int_equal(status_result_health(r), HEALTH_OK);
        line = status_line_from_result(r);
        assert_string_equal(line, "ok: cert expires in 211d; signer ready");
        free(line);
        json_object_put(r);
}

static void test_worst_reason_wins_and_leads(void **state) {
        StatusBuilder sb;
        json_object *r, *reasons;
        char *line;

        assert_int_equal(status_builder_init(&sb), 0);
        status_add_reason(&sb, HEALTH_OK, "note", "just a note");
        status_add_reason(&sb, HEALTH_WARNING, "renewal_pending", "certificate and key disagree (renewal in progress)");
        status_add_reason(&sb, HEALTH_CRITICAL, "cert_expired", "the client certificate expired %d days ago", 2);
        status_add_summary(&sb, "signer ready");
        status_set_section(&sb, "child", json_object_new_object());
        r = status_builder_finish(&sb);
        assert_string_equal(str(r, "state"), "critical");
        reasons = json_object_object_get(r, "reasons");
        assert_int_equal(json_object_array_length(reasons), 3);
        /* most severe first */
        assert_string_equal(str(json_object_array_get_idx(reasons, 0), "code"), "cert_expired");
        assert_string_equal(str(json_object_array_get_idx(reasons, 0), "message"),
                            "the client certificate expired 2 days ago");
        assert_string_equal(str(json_object_array_get_idx(reasons, 1), "level"), "warning");
        assert_string_equal(str(json_object_array_get_idx(reasons, 2), "code"), "note");
        line = status_line_from_result(r);
        assert_string_equal(line, "critical: the client certificate expired 2 days ago; signer ready");
        free(line);
        json_object_put(r);
}

static void test_render_text(void **state) {
        StatusBuilder sb;
        json_object *r, *cert;
        char *text;

        assert_int_equal(status_builder_init(&sb), 0);
        json_object_object_add(sb.root, "version", json_object_new_string("9.9"));
        json_object_object_add(sb.root, "uptime_s", json_object_new_int(12));
        cert = json_object_new_object();
        json_object_object_add(cert, "serial", json_object_new_string("0A1B"));
        json_object_object_add(cert, "subject", json_object_new_string("CN=vm"));
        json_object_object_add(cert, "key_type", json_object_new_string("RSA-2048"));
        json_object_object_add(cert, "chain", json_object_new_string("verified"));
        json_object_object_add(cert, "seconds_left", json_object_new_int64(364 * 86400 + 5));
        status_set_section(&sb, "certificate", cert);
        {
                json_object *cred = json_object_new_object(), *err = json_object_new_object();
                json_object_object_add(cred, "state", json_object_new_string("valid"));
                json_object_object_add(cred, "expiration", json_object_new_string("2026-11-30T11:26:46Z"));
                json_object_object_add(cred, "role_arn", json_object_new_string("arn:aws:iam::123456789012:role/r"));
                json_object_object_add(cred, "endpoint", json_object_new_string("rolesanywhere.eu-west-1.amazonaws.com"));
                json_object_object_add(cred, "exchanges", json_object_new_int(3));
                json_object_object_add(cred, "failures", json_object_new_int(1));
                json_object_object_add(err, "type", json_object_new_string("throttled"));
                json_object_object_add(err, "message", json_object_new_string("Rate exceeded"));
                json_object_object_add(cred, "last_error", err);
                status_set_section(&sb, "credentials", cred);
                /* sections the renderer does not know are shown generically */
                json_object *other = json_object_new_object();
                json_object_object_add(other, "note", json_object_new_string("x"));
                status_set_section(&sb, "other", other);
        }
        status_set_section(&sb, "child", NULL);
        status_add_reason(&sb, HEALTH_WARNING, "w", "look at this");
        r = status_builder_finish(&sb);

        text = status_render_text(r, false);
        assert_non_null(strstr(text, "agv-agent 9.9: warning (agent up 12s)\n"));
        assert_non_null(strstr(text, "look at this (w)"));
        assert_non_null(strstr(text, "certificate  CN=vm, serial 0A1B, RSA-2048\n"));
        assert_non_null(strstr(text, "(364d left), chain verified"));
        assert_non_null(strstr(text, "credentials  valid, until 2026-11-30 11:26 UTC, arn:aws:iam::123456789012:role/r via "
                                     "rolesanywhere.eu-west-1.amazonaws.com, 3 exchanges, 1 failure\n"));
        assert_non_null(strstr(text, "last error: throttled: Rate exceeded\n"));
        assert_null(strstr(text, "\033["));
        free(text);
        {
                /* through an intermediate CA: the issuer the path went through is named */
                json_object *c = json_object_object_get(r, "certificate");
                json_object *path = json_object_new_array(), *l1 = json_object_new_object(), *l2 = json_object_new_object();
                json_object_object_add(l1, "subject", json_object_new_string("CN=Issuing CA"));
                json_object_object_add(l2, "subject", json_object_new_string("CN=Root CA"));
                json_object_array_add(path, l1);
                json_object_array_add(path, l2);
                assert_non_null(c);
                json_object_object_add(c, "chain_path", path);
                text = status_render_text(r, false);
                assert_non_null(strstr(text, "(364d left), chain verified via CN=Issuing CA, generation"));
                free(text);
                json_object_object_del(c, "chain_path");
        }
        text = status_render_text(r, true);
        assert_non_null(strstr(text, "\033[33mwarning"));
        free(text);
        json_object_put(r);
}

static void test_render_child_uptime(void **state) {
        StatusBuilder sb;
        assert_int_equal(status_builder_init(&sb), 0);
        json_object_object_add(sb.root, "version", json_object_new_string("9.9"));
        json_object_object_add(sb.root, "uptime_s", json_object_new_int(3600));
        json_object *c = json_object_new_object();
        json_object_object_add(c, "state", json_object_new_string("running"));
        json_object_object_add(c, "pid", json_object_new_int(42));
        json_object_object_add(c, "uptime_s", json_object_new_int(7));
        status_set_section(&sb, "child", c);
        status_add_summary(&sb, "signer ready");
        json_object *r = status_builder_finish(&sb);
        char *text = status_render_text(r, false);
        /* the signer's own uptime on its line; the header says whose it is */
        assert_non_null(strstr(text, "signer ready (agent up 3600s)\n"));
        assert_non_null(strstr(text, "signer       running, pid 42, up 7s,"));
        free(text);
        json_object_put(r);
}

static void test_health_strings(void **state) {
        assert_int_equal(health_from_string("critical"), HEALTH_CRITICAL);
        assert_int_equal(health_from_string("bogus"), -EINVAL);
        assert_int_equal(status_result_health(NULL), HEALTH_UNKNOWN);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty_is_ok),
                cmocka_unit_test(test_worst_reason_wins_and_leads),
                cmocka_unit_test(test_render_text),
                cmocka_unit_test(test_health_strings),
                cmocka_unit_test(test_render_child_uptime),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
