/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "curl-dl.h"
#include "http.h"

static void (*real_slist_free_all)(struct curl_slist *list);
static unsigned spied_lists, spied_dirty;

/* Stands in for curl_slist_free_all(): every header line must have been
 * cleared before the list goes back to the allocator. */
static void spy_slist_free_all(struct curl_slist *list) {
        spied_lists++;
        for (struct curl_slist *i = list; i; i = i->next)
                if (i->data && i->data[0])
                        spied_dirty++;
        real_slist_free_all(list);
}

static void done_cb(HttpRequest *r, int error, long status, const char *message, void *userdata) {
}

/* The webhook secret travels as "Authorization: Bearer <secret>": libcurl's
 * copies of the header lines are wiped before they are freed. */
static void test_header_copies_cleared(void **state) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(http_client_freep) HttpClient *c = NULL;
        char *headers[] = { (char *) "Authorization: Bearer s3cret-token", NULL };
        HttpRequest *r = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(http_client_new(e, &c), 0);
        /* port 9 (discard) on loopback: never answered before we cancel */
        assert_int_equal(http_post(c, "http://127.0.0.1:9/hook", headers, "{}", 5 * USEC_PER_SEC, done_cb, NULL, &r), 0);
        real_slist_free_all = sym_curl_slist_free_all;
        sym_curl_slist_free_all = spy_slist_free_all;
        http_request_cancel(r);
        sym_curl_slist_free_all = real_slist_free_all;
        assert_int_equal(spied_lists, 1);
        assert_int_equal(spied_dirty, 0);
}

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
                cmocka_unit_test(test_header_copies_cleared),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
