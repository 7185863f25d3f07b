/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "fdlimit.h"

static void test_max_clients_fits_the_limit(void **state) {
        /* plenty of descriptors: the configured value */
        assert_int_equal(fdlimit_max_clients(64, 524288), 64);
        assert_int_equal(fdlimit_max_clients(4096, 524288), 4096);
        assert_int_equal(fdlimit_max_clients(64, RLIM_INFINITY), 64);
        /* systemd's default soft limit (if raising failed): 2 x 448 + 128 = 1024 */
        assert_int_equal(fdlimit_max_clients(4096, 1024), 448);
        assert_int_equal(fdlimit_max_clients(64, 1024), 64);
        /* exactly enough, one short */
        assert_int_equal(fdlimit_max_clients(64, 2 * 64 + FDLIMIT_RESERVED), 64);
        assert_int_equal(fdlimit_max_clients(64, 2 * 64 + FDLIMIT_RESERVED - 1), 63);
        /* absurdly low limits still leave one connection each */
        assert_int_equal(fdlimit_max_clients(64, 100), 1);
        assert_int_equal(fdlimit_max_clients(64, 0), 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_max_clients_fits_the_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
