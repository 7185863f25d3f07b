/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "protocol.h"
#include "metrics.h"
#include "strv.h"

static int parse(const char *s, const char **code) {
        json_object *req = NULL;
        const char *cmd, *msg;
        int r = protocol_parse_request(s, strlen(s), &req, &cmd, code, &msg);
        json_object_put(req);
        return r;
}

static void test_requests(void **state) {
        json_object *req = NULL;
        const char *cmd, *code, *msg;
        const char *line = "{\"command\":\"status\",\"verbose\":true}";

        assert_int_equal(protocol_parse_request(line, strlen(line), &req, &cmd, &code, &msg), 0);
        assert_string_equal(cmd, "status");
        json_object_put(req);

        assert_int_equal(parse("  {\"command\":\"x\"}  \r", &code), 0);
        assert_int_equal(parse("{\"command\":\"x\"} {}", &code), -EBADMSG);
        assert_string_equal(code, "parse_error");
        assert_int_equal(parse("not json", &code), -EBADMSG);
        assert_string_equal(code, "parse_error");
        assert_int_equal(parse("{\"command\":", &code), -EBADMSG);
        assert_string_equal(code, "parse_error");
        assert_int_equal(parse("\"status\"", &code), -EBADMSG);
        assert_string_equal(code, "invalid_request");
        assert_int_equal(parse("{\"cmd\":\"status\"}", &code), -EBADMSG);
        assert_string_equal(code, "invalid_request");
        assert_int_equal(parse("{\"command\":null}", &code), -EBADMSG);
        assert_string_equal(code, "invalid_request");
        assert_int_equal(parse("{\"command\":\"\xc3\x28\"}", &code), -EBADMSG);
        assert_string_equal(code, "invalid_utf8");
}

static void test_line_cap(void **state) {
        size_t n = CONTROL_LINE_MAX + 1;
        char *big = malloc(n + 1);
        json_object *req = NULL;
        const char *cmd, *code, *msg;
        memset(big, ' ', n);
        big[n] = '\0';
        assert_int_equal(protocol_parse_request(big, n, &req, &cmd, &code, &msg), -EBADMSG);
        assert_string_equal(code, "line_too_long");
        free(big);
}

static void test_utf8(void **state) {
        assert_true(utf8_is_valid("plain ascii", 11));
        assert_true(utf8_is_valid("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", 14));
        assert_false(utf8_is_valid("\xc0\xaf", 2));         /* overlong '/' */
        assert_false(utf8_is_valid("\xe0\x80\xaf", 3));     /* overlong */
        assert_false(utf8_is_valid("\xed\xa0\x80", 3));     /* surrogate */
        assert_false(utf8_is_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
        assert_false(utf8_is_valid("\xe2\x82", 2));         /* truncated */
        assert_false(utf8_is_valid("\xff", 1));
}

static void test_replies_round_trip(void **state) {
        json_object *res = json_object_new_object(), *got = NULL;
        char *code = NULL, *msg = NULL, *line;
        size_t len;

        json_object_object_add(res, "state", json_object_new_string("ok"));
        line = protocol_format_ok(res, &len);
        assert_int_equal(line[len - 1], '\n');
        assert_null(memchr(line, '\n', len - 1)); /* exactly one line */
        line[len - 1] = '\0';
        assert_int_equal(protocol_parse_reply(line, &got, &code, &msg), 1);
        assert_string_equal(json_object_get_string(json_object_object_get(got, "state")), "ok");
        json_object_put(got);
        free(line);
        json_object_put(res);

        line = protocol_format_error("unknown_command", "no such \"thing\"\nhere", &len);
        assert_null(memchr(line, '\n', len - 1));
        line[len - 1] = '\0';
        assert_int_equal(protocol_parse_reply(line, &got, &code, &msg), 0);
        assert_string_equal(code, "unknown_command");
        assert_string_equal(msg, "no such \"thing\"\nhere");
        free(code);
        free(msg);
        free(line);

        assert_int_equal(protocol_parse_reply("{\"ok\":\"yes\"}", &got, &code, &msg), -EBADMSG);
        assert_int_equal(protocol_parse_reply("garbage", &got, &code, &msg), -EBADMSG);
}

static void test_metrics_writer(void **state) {
        MetricsWriter *w = metrics_writer_new();
        char *out;

        metrics_family(w, "agv_a", "gauge", "A gauge.");
        metrics_family(w, "agv_b_total", "counter", "A counter.");
        metrics_sample(w, "agv_a", 1, "serial", "01AB", NULL);
        metrics_sample(w, "agv_b_total", 3, NULL);
        /* samples of a family added later still group under its header */
        metrics_sample(w, "agv_a", 2.5, "subject", "CN=a \"b\"\\c\nd", NULL);
        out = metrics_writer_finish(w);
        assert_string_equal(out,
                            "# HELP agv_a A gauge.\n# TYPE agv_a gauge\n"
                            "agv_a{serial=\"01AB\"} 1\n"
                            "agv_a{subject=\"CN=a \\\"b\\\"\\\\c\\nd\"} 2.5\n"
                            "# HELP agv_b_total A counter.\n# TYPE agv_b_total counter\n"
                            "agv_b_total 3\n");
        free(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_requests),
                cmocka_unit_test(test_line_cap),
                cmocka_unit_test(test_utf8),
                cmocka_unit_test(test_replies_round_trip),
                cmocka_unit_test(test_metrics_writer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
