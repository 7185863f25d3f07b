/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <elf.h>

#include "signer_check.h"
#include "strv.h"

static const char *const PROCESS =
        "/usr/local/bin/aws_signing_helper credential-process --certificate /etc/pki/rolesanywhere/client.crt "
        "--private-key /etc/pki/rolesanywhere/client.key --trust-anchor-arn arn:ta --profile-arn arn:p --role-arn arn:r";

static void run(const char *text, const char *profile, Findings *f, char ***argv) {
        assert_int_equal(signer_check_aws_config("/etc/agv-agent/aws-config", text, strlen(text), profile, f, argv), 0);
}

static void test_guide_profile(void **state) {
        Findings f = {};
        char **argv = NULL, *text = NULL;
        assert_true(asprintf(&text, "# comment\n\n[profile rolesanywhere-kms]\nregion = eu-west-1\ncredential_process = %s\n",
                             PROCESS) > 0);
        run(text, "rolesanywhere-kms", &f, &argv);
        assert_int_equal(f.n, 0);
        assert_int_equal(strv_length(argv), 12);
        assert_string_equal(argv[0], "/usr/local/bin/aws_signing_helper");
        assert_string_equal(argv[4], "--private-key");
        strv_free(argv);
        free(text);
}

static void test_continuation_duplicate_missing(void **state) {
        Findings f = {};
        char **argv = NULL;
        run("[profile p]\nregion = x\ncredential_process = /h credential-process \\\n    --certificate /c\n", "p", &f, &argv);
        assert_true(findings_has(&f, "aws_config_continuation"));
        assert_non_null(strstr(findings_get(&f, "aws_config_continuation")->message, "aws-config:3:"));
        strv_free(argv);
        argv = NULL;
        findings_done(&f);

        run("[profile p]\nregion = x\ncredential_process = /h\n[profile  p]\nregion = x\n", "p", &f, &argv);
        assert_true(findings_has(&f, "aws_config_duplicate_section"));
        assert_non_null(strstr(findings_get(&f, "aws_config_duplicate_section")->message, ":4: [profile p] appears again (first at line 1)"));
        strv_free(argv);
        argv = NULL;
        findings_done(&f);

        run("[default]\nregion = x\n", "p", &f, &argv);
        assert_true(findings_has(&f, "aws_profile_missing"));
        assert_null(argv);
        findings_done(&f);

        /* AWS_PROFILE unset: [default]; no region, no credential_process */
        run("[default]\noutput = json\n", "default", &f, &argv);
        assert_true(findings_has(&f, "aws_profile_no_region"));
        assert_true(findings_has(&f, "aws_profile_no_credential_process"));
        assert_null(argv);
        findings_done(&f);
}

static void test_shell_words(void **state) {
        Findings f = {};
        char **argv = NULL;
        run("[profile p]\nregion = x\ncredential_process = '/opt/my helper' --a \"b c\" d\\ e\n", "p", &f, &argv);
        assert_int_equal(strv_length(argv), 4);
        assert_string_equal(argv[0], "/opt/my helper");
        assert_string_equal(argv[2], "b c");
        assert_string_equal(argv[3], "d e");
        strv_free(argv);
}

static void test_helper_head(void **state) {
        Findings f = {};
        const unsigned char xml[] = "<?xml version=\"1.0\"?><Error>";
        signer_check_helper_head("/h", xml, sizeof xml - 1, EM_X86_64, &f);
        assert_true(findings_has(&f, "helper_not_elf"));
        assert_non_null(strstr(findings_get(&f, "helper_not_elf")->message, "error page"));
        findings_done(&f);

        unsigned char elf[64] = { 0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, 1 };
        elf[18] = EM_AARCH64 & 0xff;
        elf[19] = EM_AARCH64 >> 8;
        signer_check_helper_head("/h", elf, sizeof elf, EM_X86_64, &f);
        assert_true(findings_has(&f, "helper_wrong_architecture"));
        assert_non_null(strstr(findings_get(&f, "helper_wrong_architecture")->message, "built for aarch64, this machine is x86_64"));
        findings_done(&f);
        signer_check_helper_head("/h", elf, sizeof elf, EM_AARCH64, &f);
        assert_int_equal(f.n, 0);

        const unsigned char script[] = "#!/bin/sh\n";
        signer_check_helper_head("/h", script, sizeof script - 1, EM_X86_64, &f);
        assert_int_equal(f.n, 0);
        signer_check_helper_head("/h", (const unsigned char *) "", 0, EM_X86_64, &f);
        assert_true(findings_has(&f, "helper_not_elf")); /* empty file */
        findings_done(&f);
}

static void test_modes_and_node(void **state) {
        struct stat st = { .st_uid = 0, .st_gid = 50, .st_mode = S_IFREG | 0440 };
        gid_t groups[] = { 100, 50 };
        assert_true(signer_mode_allows(1000, 100, groups, 2, &st, R_OK));  /* supplementary group 50 */
        assert_false(signer_mode_allows(1000, 100, groups, 1, &st, R_OK)); /* only 100 */
        assert_false(signer_mode_allows(1000, 50, NULL, 0, &st, W_OK));
        assert_true(signer_mode_allows(0, 0, NULL, 0, &st, R_OK));
        st.st_mode = S_IFREG | 0400;
        assert_false(signer_mode_allows(1000, 50, groups, 2, &st, R_OK)); /* the guide's 400-owned-by-root row */

        const char pj[] = "{\"name\":\"@agenticvault/agentic-vault\",\"engines\":{\"node\":\">=22\"}}";
        assert_int_equal(signer_node_min_major(pj, strlen(pj)), 22);
        const char pj2[] = "{\"engines\":{\"node\":\"^20.10 || >=22\"}}";
        assert_int_equal(signer_node_min_major(pj2, strlen(pj2)), 20);
        assert_int_equal(signer_node_min_major("{}", 2), -ENOENT);
        assert_int_equal(signer_node_major("v20.20.2\n"), 20);
        assert_int_equal(signer_node_major("garbage"), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_guide_profile),
                cmocka_unit_test(test_continuation_duplicate_missing),
                cmocka_unit_test(test_shell_words),
                cmocka_unit_test(test_helper_head),
                cmocka_unit_test(test_modes_and_node),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
