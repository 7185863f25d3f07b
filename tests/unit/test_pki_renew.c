/* SPDX-License-Identifier: MIT */
/* The pure half of request/install-cert: subject syntax, the printed sign
 * command, the request and journal records, and the recovery decision for
 * every state an interrupted install can leave a file in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "pki_renew.h"

static void test_subject_roundtrip(void **state) {
        static const char *const ok[] = {
                "/CN=agentic-vault-vm/O=YourOrg",
                "/CN=vm 7",
                "/C=DE/ST=Berlin/L=Berlin/O=Example Org/OU=Ops/CN=signer.example.org",
                "/CN=a\\/b",          /* escaped slash stays part of the value */
                "/CN=caf\xc3\xa9",    /* UTF-8 */
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                X509_NAME *n = NULL;
                char *err = NULL, *back;
                assert_int_equal(renew_subject_parse(ok[i], &n, &err), 0);
                assert_null(err);
                back = renew_subject_format(n);
                assert_string_equal(back, ok[i]);
                free(back);
                X509_NAME_free(n);
        }
}

static void test_subject_entries(void **state) {
        X509_NAME *n = NULL;
        char *err = NULL;
        char buf[64];
        assert_int_equal(renew_subject_parse("/CN=a\\/b/O=Org", &n, &err), 0);
        assert_int_equal(X509_NAME_entry_count(n), 2);
        assert_int_equal(X509_NAME_get_text_by_NID(n, NID_commonName, buf, sizeof(buf)), 3);
        assert_string_equal(buf, "a/b");
        X509_NAME_free(n);
}

static void test_subject_errors(void **state) {
        static const struct {
                const char *in, *says;
        } bad[] = {
                { "CN=x", "does not start with '/'" },
                { "", "does not start with '/'" },
                { "/", "names no attribute" },
                { "/CN", "is not TYPE=value" },
                { "/CN=", "is not TYPE=value" },
                { "/=x", "is not TYPE=value" },
                { "/XX=1", "'XX' is not an attribute type" },
                { "/C=Germany", "two letters" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                X509_NAME *n = NULL;
                char *err = NULL;
                assert_int_equal(renew_subject_parse(bad[i].in, &n, &err), -EINVAL);
                assert_null(n);
                assert_non_null(err);
                if (!strstr(err, bad[i].says))
                        fail_msg("%s: '%s' lacks '%s'", bad[i].in, err, bad[i].says);
                free(err);
        }
}

static void test_sign_command(void **state) {
        char *s = renew_sign_command("vm7.csr", 90);
        /* the guide's extension file, verbatim, and -extfile on the x509 line */
        assert_non_null(strstr(s, "cat > client-ext.cnf << 'EXTEOF'\nbasicConstraints = CA:FALSE\n"
                                  "keyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\nEXTEOF\n"));
        assert_non_null(strstr(s, "openssl x509 -req -days 90 -in vm7.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                                  "-extfile client-ext.cnf -out client.crt\n"));
        free(s);
}

static void test_key_types(void **state) {
        assert_int_equal(renew_key_type_from_string("rsa2048"), RENEW_KEY_RSA2048);
        assert_int_equal(renew_key_type_from_string("ec-p384"), RENEW_KEY_EC_P384);
        assert_int_equal(renew_key_type_from_string("ec-p521"), -EINVAL);
        assert_int_equal(renew_key_type_from_string("RSA2048"), -EINVAL);
        for (int i = 0; i < _RENEW_KEY_MAX; i++)
                assert_int_equal(renew_key_type_from_string(renew_key_type_to_string(i)), i);
        assert_string_equal(renew_key_type_label(RENEW_KEY_EC_P256), "EC-P256");
}

static void test_request_record(void **state) {
        PendingRequest p = { .created = 1796033046888388ULL, .key_type = (char *) "EC-P256",
                             .subject = (char *) "/CN=\"quoted\"", .key_sha256 = (char *) "ab12" }, q;
        char *t = pending_request_format(&p);
        assert_int_equal(pending_request_parse(t, &q), 0);
        assert_true(q.created == p.created);
        assert_string_equal(q.key_type, p.key_type);
        assert_string_equal(q.subject, p.subject);
        assert_string_equal(q.key_sha256, p.key_sha256);
        pending_request_done(&q);
        free(t);
        assert_int_equal(pending_request_parse("{\"created_usec\":1,\"key_type\":\"x\"}", &q), -EBADMSG);
        assert_int_equal(pending_request_parse("not json", &q), -EBADMSG);
        assert_int_equal(pending_request_parse("[]", &q), -EBADMSG);
}

static void test_journal_record(void **state) {
        InstallJournal j = { .source = (char *) "request", .cert_path = (char *) "/etc/pki/x/client.crt",
                             .key_path = (char *) "/etc/pki/x/client.key", .new_cert_sha256 = (char *) "c1",
                             .new_key_sha256 = (char *) "k1", .old_cert_sha256 = NULL, .old_key_sha256 = (char *) "k0" },
                       k;
        char *t = install_journal_format(&j);
        assert_int_equal(install_journal_parse(t, &k), 0);
        assert_string_equal(k.source, "request");
        assert_string_equal(k.key_path, "/etc/pki/x/client.key");
        assert_null(k.old_cert_sha256); /* first install: there was no certificate */
        assert_string_equal(k.old_key_sha256, "k0");
        install_journal_done(&k);
        free(t);
        /* relative paths would make recovery rename somewhere unexpected */
        assert_int_equal(install_journal_parse("{\"source\":\"request\",\"cert_path\":\"client.crt\",\"key_path\":"
                                               "\"/k\",\"new_cert_sha256\":\"a\",\"new_key_sha256\":\"b\"}", &k),
                         -EBADMSG);
        assert_int_equal(install_journal_parse("{\"source\":\"request\"}", &k), -EBADMSG);
        assert_int_equal(install_journal_parse("", &k), -EBADMSG);
}

static void test_recover_steps(void **state) {
        /* target, staged, new, old */
        assert_int_equal(install_recover_step("N", NULL, "N", "O"), RECOVER_DONE);
        assert_int_equal(install_recover_step("N", "N", "N", "O"), RECOVER_DONE);   /* leftover copy */
        assert_int_equal(install_recover_step("O", "N", "N", "O"), RECOVER_RENAME);
        assert_int_equal(install_recover_step(NULL, "N", "N", NULL), RECOVER_RENAME); /* first install */
        assert_int_equal(install_recover_step("O", NULL, "N", "O"), RECOVER_OLD);
        assert_int_equal(install_recover_step(NULL, NULL, "N", NULL), RECOVER_OLD);
        assert_int_equal(install_recover_step("X", NULL, "N", "O"), RECOVER_CONFLICT); /* someone else's file */
        assert_int_equal(install_recover_step("O", "X", "N", "O"), RECOVER_OLD);      /* damaged copy: never renamed */
        assert_int_equal(install_recover_step(NULL, NULL, "N", "O"), RECOVER_CONFLICT); /* deleted since */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_subject_roundtrip), cmocka_unit_test(test_subject_entries),
                cmocka_unit_test(test_subject_errors),    cmocka_unit_test(test_sign_command),
                cmocka_unit_test(test_key_types),         cmocka_unit_test(test_request_record),
                cmocka_unit_test(test_journal_record),    cmocka_unit_test(test_recover_steps),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
