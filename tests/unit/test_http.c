/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "http.h"

static void check(const char *url, const char *want) {
        _cleanup_free_ char *s = http_url_redact(url);
        assert_non_null(s);
        assert_string_equal(s, want);
}

/* Webhook URLs often carry their token in the path or the userinfo: only
 * scheme://host[:port] may reach a log line. */
static void test_redact(void **state) {
        check("https://hooks.slack.com/services/T000/B000/XXXXSECRET", "https://hooks.slack.com");
        check("http://127.0.0.1:8080/hook?token=abc", "http://127.0.0.1:8080");
        check("https://user:pa55@example.org/x", "https://example.org");
        check("https://example.org", "https://example.org");
        check("https://example.org#frag", "https://example.org");
        check("not a url", "(invalid URL)");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_redact),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
