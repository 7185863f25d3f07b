/* SPDX-License-Identifier: MIT */
/* The identity arguments of the `credentials` control command
 * (credentials_request_identity), on certificates generated here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "credentials.h"
#include "pki_testlib.h"

#define TA "arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/ta-1"
#define PR "arn:aws:rolesanywhere:eu-west-1:123456789012:profile/pr-1"
#define RO "arn:aws:iam::123456789012:role/signer"

static const CredentialsSection cs = { .enabled = true, .trust_anchor_arn = (char *) TA, .profile_arn = (char *) PR,
                                       .role_arn = (char *) RO };

static char *b64(const char *d, size_t n) {
        char *s = malloc(4 * ((n + 2) / 3) + 1);
        assert_non_null(s);
        EVP_EncodeBlock((unsigned char *) s, (const unsigned char *) d, (int) n);
        return s;
}

static int check(const char *json, bool valid, const char *held, char **code, char **msg) {
        json_object *req = json_tokener_parse(json);
        int r;
        assert_non_null(req);
        *code = *msg = NULL;
        r = credentials_request_identity(req, &cs, valid, held, code, msg);
        json_object_put(req);
        return r;
}

static void test_arns(void **state) {
        char *code, *msg;

        assert_int_equal(check("{\"command\":\"credentials\"}", true, "ab", &code, &msg), 0);
        assert_null(code);
        /* ARNs compare ignoring case, like IAM's */
        assert_int_equal(check("{\"command\":\"credentials\",\"role_arn\":\"ARN:AWS:IAM::123456789012:ROLE/SIGNER\"}", false,
                               NULL, &code, &msg), 0);
        assert_int_equal(check("{\"command\":\"credentials\",\"role_arn\":\"arn:aws:iam::123456789012:role/other\"}", false,
                               NULL, &code, &msg), -EXDEV);
        assert_string_equal(code, "identity_mismatch");
        free(code);
        free(msg);
        assert_int_equal(check("{\"command\":\"credentials\",\"profile_arn\":7}", false, NULL, &code, &msg), -EXDEV);
        free(code);
        free(msg);
}

static void test_certificate(void **state) {
        TlCert ca = tl_make(&(TlOpts) { .ca = true }, NULL), leaf = tl_make(&(TlOpts) { .key = "p256" }, &ca);
        size_t n;
        _cleanup_free_ char *pem = tl_cert_pem(leaf.cert, &n), *enc = b64(pem, n), *json = NULL;
        unsigned char md[32];
        unsigned mdlen = 0;
        char fp[65], *code, *msg;

        X509_digest(leaf.cert, EVP_sha256(), md, &mdlen);
        for (unsigned i = 0; i < mdlen; i++)
                sprintf(fp + 2 * i, "%02x", md[i]);
        assert_true(asprintf(&json, "{\"command\":\"credentials\",\"certificate\":\"%s\"}", enc) > 0);
        assert_int_equal(check(json, true, fp, &code, &msg), 0);
        assert_int_equal(check(json, true, "00ff", &code, &msg), -EXDEV);
        free(code);
        free(msg);
        /* no valid credentials: nothing to compare the certificate with */
        assert_int_equal(check(json, false, NULL, &code, &msg), 0);

        /* found by fuzz/credentials_args: base64 of something that is no
         * certificate ("====" decodes to zero bytes) returned the parser's
         * errno (-EBADMSG) instead of bad_certificate's -EINVAL */
        static const char *const bad[] = { "====", "AAAA", "not base64!", "", "QUJD" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *j = NULL;
                assert_true(asprintf(&j, "{\"command\":\"credentials\",\"certificate\":\"%s\"}", bad[i]) > 0);
                assert_int_equal(check(j, true, fp, &code, &msg), -EINVAL);
                assert_string_equal(code, "bad_certificate");
                assert_non_null(msg);
                free(code);
                free(msg);
        }
        tl_free(&leaf);
        tl_free(&ca);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_arns),
                cmocka_unit_test(test_certificate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
