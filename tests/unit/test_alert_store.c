/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "alert_store.h"

#define T0 (1798761600ULL * USEC_PER_SEC)

static char dir[256];
static char path[300];

static int setup(void **state) {
        const char *base = getenv("AGV_TEST_TMPDIR");
        snprintf(dir, sizeof(dir), "%s/alert-store-XXXXXX", base ? base : "/tmp");
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/state/alerts.json", dir);
        return 0;
}

static int teardown(void **state) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void make_alert(Alert *a, const char *key, bool resolved) {
        *a = (Alert) {
                .key = (char *) key,
                .name = (char *) "AgvCertificateExpiring",
                .kind = (char *) "cert_expiring",
                .severity = HEALTH_CRITICAL,
                .stage = (char *) "3d",
                .serial = (char *) "AB",
                .starts_at = T0,
                .resolved = resolved,
                .ends_at = resolved ? T0 + 1 : 0,
        };
}

static void test_fired(void **state) {
        _cleanup_(alert_store_done) AlertStore s = {};
        assert_null(alert_store_fired(&s, "client", "AB"));
        assert_int_equal(alert_store_mark_fired(&s, "client", "AB", "30d"), 0);
        assert_int_equal(alert_store_mark_fired(&s, "client", "AB", "30d"), 0);
        assert_int_equal(alert_store_mark_fired(&s, "client", "AB", "14d"), 0);
        assert_int_equal(alert_store_mark_fired(&s, "ca", "AB", "expired"), 0);
        char **f = alert_store_fired(&s, "client", "AB");
        assert_int_equal(strv_length(f), 2);
        assert_true(strv_contains(f, "30d") && strv_contains(f, "14d"));
        assert_int_equal(strv_length(alert_store_fired(&s, "ca", "AB")), 1);
        /* a new serial starts clean */
        assert_null(alert_store_fired(&s, "client", "CD"));

        /* bounded: the least recently touched certificates are forgotten */
        for (int i = 0; i < ALERT_STORE_FIRED_MAX + 4; i++) {
                char serial[16];
                snprintf(serial, sizeof(serial), "S%d", i);
                assert_int_equal(alert_store_mark_fired(&s, "client", serial, "30d"), 0);
                if (i == 3) /* keep AB fresh */
                        assert_int_equal(alert_store_mark_fired(&s, "client", "AB", "7d"), 0);
        }
        assert_int_equal(s.n_fired, ALERT_STORE_FIRED_MAX);
        assert_null(alert_store_fired(&s, "client", "S0"));
        assert_non_null(alert_store_fired(&s, "client", "S19"));
}

static void test_queue_dedupe_and_bound(void **state) {
        _cleanup_(alert_store_done) AlertStore s = {};
        Alert a, r;

        make_alert(&a, "k1", false);
        assert_int_equal(alert_store_enqueue(&s, "webhook", &a, 3), 1);
        assert_int_equal(alert_store_enqueue(&s, "webhook", &a, 3), 0); /* already queued */
        assert_int_equal(alert_store_enqueue(&s, "command", &a, 3), 1); /* other channel */
        assert_string_equal(s.queue[0]->dedupe, "k1:firing:webhook");
        make_alert(&r, "k1", true);
        assert_int_equal(alert_store_enqueue(&s, "webhook", &r, 3), 1); /* resolution is its own */
        assert_int_equal(s.n_queue, 3);

        alert_store_dequeue(&s, s.queue[0], true);
        assert_int_equal(s.n_queue, 2);
        assert_true(alert_store_was_delivered(&s, "k1:firing:webhook"));
        assert_int_equal(alert_store_enqueue(&s, "webhook", &a, 3), 0); /* delivered: never again */

        /* full: the oldest item not in flight is dropped */
        s.queue[0]->in_flight = true;
        Alert b, c;
        make_alert(&b, "k2", false);
        make_alert(&c, "k3", false);
        assert_int_equal(alert_store_enqueue(&s, "webhook", &b, 3), 1);
        assert_int_equal(alert_store_enqueue(&s, "webhook", &c, 3), 1);
        assert_int_equal(s.n_queue, 3);
        assert_int_equal(s.dropped, 1);
        assert_string_equal(s.queue[0]->dedupe, "k1:firing:command"); /* in flight: kept */
        assert_string_equal(s.queue[1]->dedupe, "k2:firing:webhook");
        for (size_t i = 0; i < s.n_queue; i++)
                s.queue[i]->in_flight = true;
        Alert d;
        make_alert(&d, "k4", false);
        assert_int_equal(alert_store_enqueue(&s, "webhook", &d, 3), -ENOBUFS);
}

static void test_am_set(void **state) {
        _cleanup_(alert_store_done) AlertStore s = {};
        Alert a, r;
        make_alert(&a, "x", false);
        assert_int_equal(alert_store_am_put(&s, &a), 0);
        make_alert(&r, "x", true);
        assert_int_equal(alert_store_am_put(&s, &r), 0);
        assert_int_equal(s.n_am, 1);
        assert_true(alert_store_am_get(&s, "x")->resolved);
        make_alert(&a, "y", false);
        assert_int_equal(alert_store_am_put(&s, &a), 0);
        alert_store_am_prune_resolved(&s);
        assert_int_equal(s.n_am, 1);
        assert_string_equal(s.am[0]->key, "y");
}

static void test_save_load_round_trip(void **state) {
        _cleanup_(alert_store_done) AlertStore s = {}, t = {};
        Alert a;
        struct stat st;

        assert_int_equal(alert_store_load(path, &t), 0); /* missing: clean */
        assert_int_equal(t.n_fired + t.n_queue + t.n_am, 0);

        make_alert(&a, "k1", false);
        assert_int_equal(alert_store_mark_fired(&s, "client", "AB", "30d"), 0);
        assert_int_equal(alert_store_enqueue(&s, "webhook", &a, 10), 1);
        s.queue[0]->attempts = 3;
        assert_int_equal(alert_store_am_put(&s, &a), 0);
        assert_int_equal(alert_store_enqueue(&s, "command", &a, 10), 1);
        alert_store_dequeue(&s, s.queue[1], true);
        assert_int_equal(alert_store_save(&s, path), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        assert_int_equal(alert_store_load(path, &t), 0);
        assert_true(strv_contains(alert_store_fired(&t, "client", "AB"), "30d"));
        assert_int_equal(t.n_queue, 1);
        assert_int_equal(t.queue[0]->attempts, 3);
        assert_string_equal(t.queue[0]->alert.key, "k1");
        assert_int_equal(t.n_am, 1);
        assert_true(alert_store_was_delivered(&t, "k1:firing:command"));
}

static void write_raw(const char *data) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(data, f);
        fclose(f);
}

static void test_corrupt_starts_clean(void **state) {
        _cleanup_(alert_store_done) AlertStore s = {};
        Alert a;
        char corrupt[320];
        struct stat st;
        static const char *const bad[] = {
                "",                 /* empty */
                "{\"version\":1,\"fired\":[{\"role\":\"client\",\"ser", /* truncated */
                "not json at all",
                "{\"version\":99,\"fired\":[],\"queue\":[],\"alertmanager\":[]}",
                "{\"version\":1,\"fired\":[{\"role\":5}],\"queue\":[],\"alertmanager\":[]}",
                "{\"version\":1,\"fired\":[],\"queue\":[{\"channel\":\"webhook\"}],\"alertmanager\":[]}",
                "[]",
        };

        make_alert(&a, "k1", false);
        assert_int_equal(alert_store_mark_fired(&s, "client", "AB", "30d"), 0);
        assert_int_equal(alert_store_save(&s, path), 0);
        alert_store_done(&s);

        /* a truncated copy of a real file */
        {
                _cleanup_free_ char *full = NULL;
                FILE *f = fopen(path, "re");
                size_t n;
                assert_non_null(f);
                full = calloc(1, 4096);
                n = fread(full, 1, 4095, f);
                fclose(f);
                full[n / 2] = '\0';
                write_raw(full);
                assert_int_equal(alert_store_load(path, &s), 1);
                assert_int_equal(s.n_fired, 0);
                alert_store_done(&s);
        }
        snprintf(corrupt, sizeof(corrupt), "%s.corrupt", path);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                write_raw(bad[i]);
                int r = alert_store_load(path, &s);
                if (i == 0)
                        assert_true(r == 1 || r == 0);
                else
                        assert_int_equal(r, 1);
                assert_int_equal(s.n_fired + s.n_queue + s.n_am, 0);
                alert_store_done(&s);
        }
        assert_int_equal(stat(corrupt, &st), 0); /* kept for a post-mortem */
        /* and the clean state saves over it fine */
        assert_int_equal(alert_store_save(&s, path), 0);
        assert_int_equal(alert_store_load(path, &s), 0);
}

static void test_write_file_atomic(void **state) {
        char p[320], buf[64] = {};
        struct stat st;
        FILE *f;

        snprintf(p, sizeof(p), "%s/metrics.prom", dir);
        assert_int_equal(write_file_atomic(p, "a 1\n", 4, 0644), 0);
        assert_int_equal(write_file_atomic(p, "b 2\n", 4, 0644), 0);
        f = fopen(p, "re");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        assert_string_equal(buf, "b 2\n");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0644);
        snprintf(p, sizeof(p), "%s/nonexistent/x.prom", dir);
        assert_int_equal(write_file_atomic(p, "a", 1, 0644), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fired),
                cmocka_unit_test(test_queue_dedupe_and_bound),
                cmocka_unit_test(test_am_set),
                cmocka_unit_test_setup_teardown(test_save_load_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_starts_clean, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
