/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "loopstat.h"
#include "metrics.h"

#define S(x) ((uint64_t) (x) * USEC_PER_SEC)

static void test_buckets_and_longest(void **state) {
        LoopStats s = {};

        loop_stats_record(&s, S(100), 10000, 9000);  /* 10 µs -> first bucket */
        loop_stats_record(&s, S(100), 25000, 0);     /* on the bound: same bucket (le) */
        loop_stats_record(&s, S(101), 700000, 0);    /* 0.7 ms -> le 1 ms */
        loop_stats_record(&s, S(102), 200000000, 0); /* 200 ms -> +Inf */
        assert_int_equal(s.count, 4);
        assert_int_equal(s.sum_ns, 10000 + 25000 + 700000 + 200000000);
        assert_int_equal(s.buckets[0], 2);
        assert_int_equal(s.buckets[5], 1);
        assert_int_equal(s.buckets[LOOP_BUCKETS], 1);
        assert_int_equal(s.max_ns, 200000000);
        assert_int_equal(s.max_at, S(102));
}

static void test_rolling_window(void **state) {
        LoopStats s = {};

        loop_stats_record(&s, S(1000), 5000000, 0);
        loop_stats_record(&s, S(1030), 2000000, 0);
        assert_int_equal(loop_stats_window_max(&s, S(1030), 60), 5000000);
        /* 60 s later the 5 ms one has left the window, the 2 ms one not yet */
        assert_int_equal(loop_stats_window_max(&s, S(1060), 60), 2000000);
        assert_int_equal(loop_stats_window_max(&s, S(1060), 10), 0);
        /* a slot reused 60 s later forgets its old second */
        loop_stats_record(&s, S(1090), 1000, 0);
        assert_int_equal(loop_stats_window_max(&s, S(1090), 60), 1000);
        assert_int_equal(s.max_ns, 5000000);
}

static void test_watch(void **state) {
        LoopStats s = {};
        LoopWatch w = {};

        assert_int_equal(loop_stats_add_watch(&s, &w), 0);
        loop_stats_record(&s, S(1), 9000000, 0); /* before the operation: not counted */
        assert_false(loop_stats_watching(&s));
        loop_watch_begin(&w);                 /* from inside a callback ... */
        assert_true(loop_stats_watching(&s));
        loop_stats_record(&s, S(1), 300000, 0);  /* ... which counts */
        loop_stats_record(&s, S(1), 100000, 0);
        assert_int_equal(w.finished, 0);
        loop_watch_end(&w);
        loop_stats_record(&s, S(1), 400000, 350000); /* the callback that ended it counts */
        loop_stats_record(&s, S(1), 8000000, 0); /* after: not */
        assert_int_equal(w.finished, 1);
        assert_int_equal(w.last_max_ns, 400000);
        assert_int_equal(w.last_max_cpu_ns, 350000);
        assert_int_equal(w.last_cpu_ns, 350000);
        assert_int_equal(w.last_dispatches, 3);
        assert_int_equal(w.all_max_ns, 400000);

        /* a cancelled operation leaves the last finished figures alone */
        loop_watch_begin(&w);
        loop_stats_record(&s, S(2), 7000000, 0);
        loop_watch_cancel(&w);
        loop_stats_record(&s, S(2), 7000000, 0);
        assert_int_equal(w.finished, 1);
        assert_int_equal(w.last_max_ns, 400000);

        loop_watch_begin(&w);
        loop_stats_record(&s, S(3), 50000, 0);
        loop_watch_end(&w);
        loop_stats_record(&s, S(3), 60000, 0);
        assert_int_equal(w.finished, 2);
        assert_int_equal(w.last_max_ns, 60000);
        assert_int_equal(w.all_max_ns, 400000);

        loop_stats_remove_watch(&s, &w);
        loop_watch_begin(&w);
        loop_stats_record(&s, S(4), 1, 0);
        assert_int_equal(w.dispatches, 0);
}

static void test_watch_slots(void **state) {
        LoopStats s = {};
        LoopWatch w[LOOP_MAX_WATCHES + 1] = {};
        for (size_t i = 0; i < LOOP_MAX_WATCHES; i++)
                assert_int_equal(loop_stats_add_watch(&s, &w[i]), 0);
        assert_int_equal(loop_stats_add_watch(&s, &w[LOOP_MAX_WATCHES]), -ENOSPC);
}

static void test_histogram_exposition(void **state) {
        MetricsWriter *w = metrics_writer_new();
        const double le[] = { 0.001, 0.01 };
        const uint64_t counts[] = { 3, 0, 2 };
        char *t;

        metrics_histogram(w, "x_seconds", "help", le, counts, 2, 1.5);
        t = metrics_writer_finish(w);
        assert_string_equal(t, "# HELP x_seconds help\n# TYPE x_seconds histogram\n"
                               "x_seconds_bucket{le=\"0.001\"} 3\nx_seconds_bucket{le=\"0.01\"} 3\n"
                               "x_seconds_bucket{le=\"+Inf\"} 5\nx_seconds_sum 1.5\nx_seconds_count 5\n");
        free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_buckets_and_longest), cmocka_unit_test(test_rolling_window),
                cmocka_unit_test(test_watch),               cmocka_unit_test(test_watch_slots),
                cmocka_unit_test(test_histogram_exposition),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
