/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <syslog.h>

#include "child.h"
#include "child_fsm.h"
#include "strv.h"

static double fixed_r;
static double fixed_random(void *u) {
        return fixed_r;
}

static void setup(ChildFsm *f, unsigned limit) {
        ChildFsmParams p = {
                .start_limit = limit,
                .start_limit_interval = 60 * USEC_PER_SEC,
                .backoff_base = 100 * USEC_PER_MSEC,
                .backoff_max = 2 * USEC_PER_SEC,
                .stable_after = 30 * USEC_PER_SEC,
        };
        child_fsm_init(f, &p);
        f->random = fixed_random;
        fixed_r = 0.0;
}

static void test_start_ready_running(void **state) {
        ChildFsm f;
        setup(&f, 5);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_START, 1), CHILD_ACT_SPAWN);
        assert_int_equal(f.state, CHILD_STARTING);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_READY, 2), 0);
        assert_int_equal(f.state, CHILD_RUNNING);
        /* events that do not apply are ignored */
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_TIMER, 3), 0);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_START, 3), 0);
        assert_int_equal(f.state, CHILD_RUNNING);
}

static void test_backoff_exponential_capped_with_jitter(void **state) {
        ChildFsm f;
        setup(&f, 0); /* never failed */
        child_fsm_handle(&f, CHILD_EV_START, 1);
        usec_t expect_full[] = { 100, 200, 400, 800, 1600, 2000, 2000 };
        usec_t now = 10;
        for (size_t i = 0; i < ELEMENTSOF(expect_full); i++) {
                fixed_r = 0.0;
                unsigned a = child_fsm_handle(&f, CHILD_EV_EXITED, now);
                assert_true(a & CHILD_ACT_ARM_BACKOFF);
                assert_int_equal(f.state, CHILD_BACKOFF);
                /* r = 0: half of the full delay */
                assert_int_equal(f.backoff_usec, expect_full[i] * USEC_PER_MSEC / 2);
                assert_int_equal(child_fsm_handle(&f, CHILD_EV_TIMER, now), CHILD_ACT_SPAWN);
                now += USEC_PER_MSEC;
        }
        /* jitter: r close to 1 gives nearly the full delay */
        fixed_r = 0.5;
        child_fsm_handle(&f, CHILD_EV_EXITED, now);
        assert_int_equal(f.backoff_usec, 2000 * USEC_PER_MSEC * 3 / 4);
}

static void test_stable_run_resets_backoff(void **state) {
        ChildFsm f;
        setup(&f, 0);
        child_fsm_handle(&f, CHILD_EV_START, 1);
        child_fsm_handle(&f, CHILD_EV_EXITED, 2);
        child_fsm_handle(&f, CHILD_EV_TIMER, 3);
        child_fsm_handle(&f, CHILD_EV_EXITED, 4);
        assert_int_equal(f.backoff_usec, 100 * USEC_PER_MSEC);
        child_fsm_handle(&f, CHILD_EV_TIMER, 5);
        child_fsm_handle(&f, CHILD_EV_READY, 10);
        child_fsm_handle(&f, CHILD_EV_EXITED, 10 + 31 * USEC_PER_SEC);
        assert_int_equal(f.backoff_usec, 50 * USEC_PER_MSEC);
}

static void test_crash_loop_fails_and_recovers(void **state) {
        ChildFsm f;
        setup(&f, 3);
        child_fsm_handle(&f, CHILD_EV_START, 1);
        usec_t now = USEC_PER_SEC;
        unsigned a;
        a = child_fsm_handle(&f, CHILD_EV_EXITED, now);
        assert_int_equal(f.state, CHILD_BACKOFF);
        child_fsm_handle(&f, CHILD_EV_TIMER, now + 1);
        a = child_fsm_handle(&f, CHILD_EV_EXITED, now + 2);
        assert_int_equal(f.state, CHILD_BACKOFF);
        child_fsm_handle(&f, CHILD_EV_TIMER, now + 3);
        a = child_fsm_handle(&f, CHILD_EV_EXITED, now + 4);
        assert_int_equal(f.state, CHILD_FAILED);
        assert_true(a & CHILD_ACT_EMIT_FAILED);
        assert_false(a & CHILD_ACT_ARM_BACKOFF);
        /* stays failed: timers are ignored */
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_TIMER, now + 5), 0);
        assert_int_equal(f.state, CHILD_FAILED);
        /* restart-child tries again with a clean slate */
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_REPLACE, now + 6), CHILD_ACT_SPAWN);
        assert_int_equal(child_fsm_failures_in_window(&f, now + 6), 0);
        a = child_fsm_handle(&f, CHILD_EV_READY, now + 7);
        assert_int_equal(a, CHILD_ACT_EMIT_RECOVERED);
        assert_int_equal(f.state, CHILD_RUNNING);
}

static void test_window_forgets_old_failures(void **state) {
        ChildFsm f;
        setup(&f, 2);
        child_fsm_handle(&f, CHILD_EV_START, 1);
        child_fsm_handle(&f, CHILD_EV_EXITED, 10);
        child_fsm_handle(&f, CHILD_EV_TIMER, 11);
        /* second failure outside the 60 s window: still backoff */
        child_fsm_handle(&f, CHILD_EV_EXITED, 10 + 61 * USEC_PER_SEC);
        assert_int_equal(f.state, CHILD_BACKOFF);
        child_fsm_handle(&f, CHILD_EV_TIMER, 12 + 61 * USEC_PER_SEC);
        child_fsm_handle(&f, CHILD_EV_EXITED, 13 + 61 * USEC_PER_SEC);
        assert_int_equal(f.state, CHILD_FAILED);
}

static void test_replacement_flow(void **state) {
        ChildFsm f;
        setup(&f, 5);
        child_fsm_handle(&f, CHILD_EV_START, 1);
        child_fsm_handle(&f, CHILD_EV_READY, 2);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_REPLACE, 3), CHILD_ACT_SPAWN_CANDIDATE);
        assert_int_equal(f.state, CHILD_REPLACING);
        /* only one replacement at a time */
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_REPLACE, 4), 0);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_CANDIDATE_READY, 5), CHILD_ACT_PROMOTE);
        assert_int_equal(f.state, CHILD_RUNNING);

        /* a failing candidate leaves the old child serving */
        child_fsm_handle(&f, CHILD_EV_REPLACE, 6);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_CANDIDATE_FAILED, 7), CHILD_ACT_DISCARD_CANDIDATE);
        assert_int_equal(f.state, CHILD_RUNNING);

        /* the serving child dies during a replacement: the candidate takes over */
        child_fsm_handle(&f, CHILD_EV_REPLACE, 8);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_EXITED, 9),
                         CHILD_ACT_STOP_CURRENT | CHILD_ACT_ADOPT_CANDIDATE);
        assert_int_equal(f.state, CHILD_STARTING);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_READY, 10), 0);
        assert_int_equal(f.state, CHILD_RUNNING);
}

static void test_stop(void **state) {
        ChildFsm f;
        setup(&f, 5);
        child_fsm_handle(&f, CHILD_EV_START, 1);
        child_fsm_handle(&f, CHILD_EV_READY, 2);
        child_fsm_handle(&f, CHILD_EV_REPLACE, 3);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_STOP, 4), CHILD_ACT_STOP_ALL);
        assert_int_equal(f.state, CHILD_STOPPING);
        /* nothing restarts a stopping child */
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_EXITED, 5), 0);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_REPLACE, 5), 0);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_ALL_EXITED, 6), 0);
        assert_int_equal(f.state, CHILD_STOPPED);
        /* from backoff the stop is immediate */
        child_fsm_handle(&f, CHILD_EV_START, 7);
        child_fsm_handle(&f, CHILD_EV_EXITED, 8);
        assert_int_equal(f.state, CHILD_BACKOFF);
        assert_int_equal(child_fsm_handle(&f, CHILD_EV_STOP, 9), CHILD_ACT_STOP_ALL);
        assert_int_equal(f.state, CHILD_STOPPED);
}

static void test_names(void **state) {
        for (int s = 0; s < _CHILD_STATE_MAX; s++)
                assert_non_null(child_state_to_string(s));
        for (int e = 0; e < _CHILD_EV_MAX; e++)
                assert_non_null(child_event_to_string(e));
        assert_string_equal(child_state_to_string(CHILD_FAILED), "failed");
        assert_null(child_state_to_string(_CHILD_STATE_MAX));
}

static void test_stderr_lines(void **state) {
        int prio;
        char *msg = NULL, **fields = NULL;
        const char *j = "{\"timestamp\":\"2025-01-01T00:00:00Z\",\"service\":\"agentic-vault\",\"level\":\"error\",\"message\":\"KMS denied\",\"key-id\":7}";
        assert_int_equal(child_parse_stderr_line(j, strlen(j), &prio, &msg, &fields, NULL), 0);
        assert_int_equal(prio, LOG_ERR);
        assert_string_equal(msg, "KMS denied");
        assert_true(strv_contains(fields, "AGV_CHILD_SERVICE=agentic-vault"));
        assert_true(strv_contains(fields, "AGV_CHILD_TIMESTAMP=2025-01-01T00:00:00Z"));
        assert_true(strv_contains(fields, "AGV_CHILD_KEY_ID=7"));
        free(msg);
        strv_free(fields);
        fields = NULL;

        const char *w = "{\"level\":\"warn\",\"message\":\"slow\"}";
        assert_int_equal(child_parse_stderr_line(w, strlen(w), &prio, &msg, &fields, NULL), 0);
        assert_int_equal(prio, LOG_WARNING);
        free(msg);
        strv_free(fields);
        fields = NULL;

        /* plain lines go in as they are */
        const char *plain = "Error: something {broken";
        assert_int_equal(child_parse_stderr_line(plain, strlen(plain), &prio, &msg, &fields, NULL), 0);
        assert_int_equal(prio, LOG_INFO);
        assert_string_equal(msg, plain);
        assert_null(fields);
        free(msg);
        fields = NULL;

        /* a key longer than journald's 64-byte field names is cut, not dropped
         * by journald (found by fuzz_child_stderr) */
        const char *lk = "{\"message\":\"m\",\"a_very_long_key_name_that_goes_on_and_on_and_on_past_the_limit\":1}";
        assert_int_equal(child_parse_stderr_line(lk, strlen(lk), &prio, &msg, &fields, NULL), 0);
        assert_true(strv_contains(fields, "AGV_CHILD_A_VERY_LONG_KEY_NAME_THAT_GOES_ON_AND_ON_AND_ON_PAST_T=1"));
        free(msg);
        strv_free(fields);
}

static void test_audit_lines(void **state) {
        int prio;
        char *msg = NULL, **fields = NULL;
        ChildAudit kind;
        /* the real signer's shape */
        const char *denied = "{\"timestamp\":\"2026-01-01T00:00:00.000Z\",\"traceId\":\"t-1\",\"service\":\"agentic-vault-mcp\","
                             "\"action\":\"sign_permit\",\"who\":\"mcp-client\",\"what\":\"Permit signing denied for token 0xab on chain 1\","
                             "\"why\":\"Policy violations: chainId 1 not in allowed list\",\"result\":\"denied\",\"details\":{\"chainId\":1}}";
        assert_int_equal(child_parse_stderr_line(denied, strlen(denied), &prio, &msg, &fields, &kind), 0);
        assert_int_equal(kind, CHILD_AUDIT_DENIED);
        assert_int_equal(prio, LOG_WARNING);
        assert_string_equal(msg, "sign_permit denied by policy: Permit signing denied for token 0xab on chain 1 "
                                 "(Policy violations: chainId 1 not in allowed list)");
        assert_true(strv_contains(fields, "AGV_CHILD_RESULT=denied"));
        assert_true(strv_contains(fields, "AGV_CHILD_TRACEID=t-1"));
        assert_true(strv_contains(fields, "AGV_CHILD_DETAILS={\"chainId\":1}"));
        free(msg);
        strv_free(fields);
        fields = NULL;

        static const struct {
                const char *line;
                ChildAudit kind;
                int prio;
                const char *message;
        } cases[] = {
                { "{\"action\":\"get_address\",\"what\":\"Retrieved address\",\"why\":\"ok\",\"result\":\"approved\"}",
                  CHILD_AUDIT_APPROVED, LOG_INFO, "get_address approved: Retrieved address (ok)" },
                { "{\"action\":\"health_check\",\"why\":\"KMS unreachable\",\"result\":\"error\"}", CHILD_AUDIT_ERROR,
                  LOG_ERR, "health_check failed: KMS unreachable" },
                /* the fatal start-up line is not an audit line: level/message as before */
                { "{\"timestamp\":\"x\",\"service\":\"agentic-vault-mcp\",\"level\":\"error\",\"message\":\"--key-id or "
                  "VAULT_KEY_ID environment variable is required\"}",
                  CHILD_AUDIT_NONE, LOG_ERR, "--key-id or VAULT_KEY_ID environment variable is required" },
                /* an unknown result is not counted */
                { "{\"action\":\"x\",\"result\":\"maybe\",\"message\":\"m\"}", CHILD_AUDIT_NONE, LOG_INFO, "m" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(child_parse_stderr_line(cases[i].line, strlen(cases[i].line), &prio, &msg, &fields, &kind), 0);
                assert_int_equal(kind, cases[i].kind);
                assert_int_equal(prio, cases[i].prio);
                assert_string_equal(msg, cases[i].message);
                free(msg);
                strv_free(fields);
                fields = NULL;
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_start_ready_running),
                cmocka_unit_test(test_backoff_exponential_capped_with_jitter),
                cmocka_unit_test(test_stable_run_resets_backoff),
                cmocka_unit_test(test_crash_loop_fails_and_recovers),
                cmocka_unit_test(test_window_forgets_old_failures),
                cmocka_unit_test(test_replacement_flow),
                cmocka_unit_test(test_stop),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_stderr_lines),
                cmocka_unit_test(test_audit_lines),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
