/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "credentials.h"
#include "protocol.h"
#include "rolesanywhere.h"
#include "strv.h"

#define TA "arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/1f2e3d4c-0000-4000-8000-aabbccddeeff"
#define PR "arn:aws:rolesanywhere:eu-west-1:123456789012:profile/0a0b0c0d-1111-4111-8111-001122334455"
#define RO "arn:aws:iam::123456789012:role/agentic-vault-signer"
/* 2026-11-30T10:00:00Z */
#define NOW ((uint64_t) 1796032800 * USEC_PER_SEC)

/* A self-signed certificate with a serial wider than 64 bits, so the decimal
 * rendering is exercised past what an integer holds. */
static X509 *make_cert(EVP_PKEY *k, const char *serial_hex) {
        X509 *x = X509_new();
        BIGNUM *bn = NULL;
        X509_NAME *n;

        assert_non_null(x);
        assert_true(BN_hex2bn(&bn, serial_hex) > 0);
        assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
        BN_free(bn);
        X509_set_version(x, 2);
        n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *) "agv-test", -1, -1, 0);
        X509_set_issuer_name(x, n);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, k);
        assert_true(X509_sign(x, k, EVP_sha256()) > 0);
        return x;
}

static char *b64_der(X509 *x) {
        unsigned char *der = NULL;
        int n = i2d_X509(x, &der);
        char *out = malloc((size_t) (4 * ((n + 2) / 3) + 1));
        EVP_EncodeBlock((unsigned char *) out, der, n);
        OPENSSL_free(der);
        return out;
}

static const char *header(const RaRequest *r, const char *name) {
        size_t l = strlen(name);
        STRV_FOREACH(h, r->headers)
                if (strncasecmp(*h, name, l) == 0 && (*h)[l] == ':')
                        return *h + l + 2;
        return NULL;
}

static RaParams params(void) {
        return (RaParams) {
                .endpoint = "https://rolesanywhere.eu-west-1.amazonaws.com",
                .region = "eu-west-1",
                .trust_anchor_arn = TA,
                .profile_arn = PR,
                .role_arn = RO,
                .duration_seconds = 3600,
                .now = NOW,
        };
}

/* The signature must verify with the certificate's public key over the
 * string to sign, and the string to sign must hash the canonical request. */
static void verify_signature(const RaRequest *r, X509 *cert) {
        const char *auth = header(r, "Authorization");
        const char *sig_hex = strstr(auth, "Signature=");
        unsigned char sig[1024];
        size_t n = 0;
        EVP_MD_CTX *md = EVP_MD_CTX_new();

        assert_non_null(sig_hex);
        sig_hex += 10;
        for (; sig_hex[0] && sig_hex[1]; sig_hex += 2) {
                unsigned v;
                assert_int_equal(sscanf(sig_hex, "%2x", &v), 1);
                sig[n++] = (unsigned char) v;
        }
        assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)), 1);
        assert_int_equal(EVP_DigestVerify(md, sig, n, (const unsigned char *) r->string_to_sign, strlen(r->string_to_sign)), 1);
        EVP_MD_CTX_free(md);
}

static void check_rsa_or_ec(const char *type, const char *param, const char *algorithm) {
        EVP_PKEY *k = streq(type, "RSA") ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048)
                                         : EVP_PKEY_Q_keygen(NULL, NULL, "EC", param);
        X509 *cert = make_cert(k, "0123456789ABCDEF0123");
        RaParams p = params();
        RaRequest r = {};
        const char *why = NULL;
        char *b64 = b64_der(cert), *expected = NULL, *cr_hash_line;

        assert_int_equal(ra_request_build(&p, cert, NULL, k, &r, &why), 0);
        assert_string_equal(r.algorithm, algorithm);
        /* 0x0123456789ABCDEF0123 in decimal (python3 -c "print(0x0123456789ABCDEF0123)") */
        assert_string_equal(r.serial, "5373003642731685151011");
        assert_string_equal(r.url,
                            "https://rolesanywhere.eu-west-1.amazonaws.com/sessions?"
                            "profileArn=arn%3Aaws%3Arolesanywhere%3Aeu-west-1%3A123456789012%3Aprofile%2F0a0b0c0d-1111-4111-8111-001122334455"
                            "&roleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fagentic-vault-signer"
                            "&trustAnchorArn=arn%3Aaws%3Arolesanywhere%3Aeu-west-1%3A123456789012%3Atrust-anchor%2F1f2e3d4c-0000-4000-8000-aabbccddeeff");
        assert_string_equal(r.body, "{\"durationSeconds\":3600}");
        assert_string_equal(header(&r, "Content-Type"), "application/json"); /* signed, so sent as signed */
        assert_string_equal(header(&r, "Host"), "rolesanywhere.eu-west-1.amazonaws.com");
        assert_string_equal(header(&r, "X-Amz-Date"), "20261130T100000Z");
        assert_string_equal(header(&r, "X-Amz-X509"), b64);
        assert_null(header(&r, "X-Amz-X509-Chain"));

        /* the canonical request, written out by hand; the last line is sha256 of {"durationSeconds":3600} (sha256sum) */
        assert_true(asprintf(&expected,
                             "POST\n/sessions\n"
                             "profileArn=arn%%3Aaws%%3Arolesanywhere%%3Aeu-west-1%%3A123456789012%%3Aprofile%%2F0a0b0c0d-1111-4111-8111-001122334455"
                             "&roleArn=arn%%3Aaws%%3Aiam%%3A%%3A123456789012%%3Arole%%2Fagentic-vault-signer"
                             "&trustAnchorArn=arn%%3Aaws%%3Arolesanywhere%%3Aeu-west-1%%3A123456789012%%3Atrust-anchor%%2F1f2e3d4c-0000-4000-8000-aabbccddeeff\n"
                             "content-type:application/json\n"
                             "host:rolesanywhere.eu-west-1.amazonaws.com\n"
                             "x-amz-date:20261130T100000Z\n"
                             "x-amz-x509:%s\n"
                             "\n"
                             "content-type;host;x-amz-date;x-amz-x509\n"
                             "1a15f67f6619aa540b13e9a4c37d149fb2c9bdea25d82b73a3878826694dfe27",
                             b64) > 0);
        assert_string_equal(r.canonical_request, expected);

        /* string to sign: algorithm, date, scope, hex sha256 of the canonical request */
        cr_hash_line = strrchr(r.string_to_sign, '\n');
        assert_non_null(cr_hash_line);
        {
                char *head = NULL;
                assert_true(asprintf(&head, "%s\n20261130T100000Z\n20261130/eu-west-1/rolesanywhere/aws4_request\n", algorithm) > 0);
                assert_true(strncmp(r.string_to_sign, head, strlen(head)) == 0);
                free(head);
        }
        {
                unsigned char md[32];
                char hexs[65];
                unsigned l;
                EVP_Digest(r.canonical_request, strlen(r.canonical_request), md, &l, EVP_sha256(), NULL);
                for (int i = 0; i < 32; i++)
                        sprintf(hexs + 2 * i, "%02x", md[i]);
                assert_string_equal(cr_hash_line + 1, hexs);
        }
        {
                char *auth = NULL;
                assert_true(asprintf(&auth, "%s Credential=5373003642731685151011/20261130/eu-west-1/rolesanywhere/aws4_request, "
                                            "SignedHeaders=content-type;host;x-amz-date;x-amz-x509, Signature=",
                                     algorithm) > 0);
                assert_true(strncmp(header(&r, "Authorization"), auth, strlen(auth)) == 0);
                free(auth);
        }
        verify_signature(&r, cert);
        if (streq(type, "EC")) {
                /* ECDSA signatures are DER (r, s) */
                const char *sh = strstr(header(&r, "Authorization"), "Signature=") + 10;
                unsigned char der[256];
                const unsigned char *pp = der;
                size_t n = 0;
                for (; sh[0] && sh[1]; sh += 2) {
                        unsigned v;
                        sscanf(sh, "%2x", &v);
                        der[n++] = (unsigned char) v;
                }
                ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &pp, (long) n);
                assert_non_null(s);
                assert_ptr_equal(pp, der + n);
                ECDSA_SIG_free(s);
        }
        ra_request_done(&r);
        free(expected);
        free(b64);
        X509_free(cert);
        EVP_PKEY_free(k);
}

static void test_rsa2048(void **state) {
        check_rsa_or_ec("RSA", NULL, "AWS4-X509-RSA-SHA256");
}
static void test_ec_p256(void **state) {
        check_rsa_or_ec("EC", "P-256", "AWS4-X509-ECDSA-SHA256");
}
static void test_ec_p384(void **state) {
        check_rsa_or_ec("EC", "P-384", "AWS4-X509-ECDSA-SHA256");
}

static void test_chain_port_and_session_name(void **state) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        EVP_PKEY *ik = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        X509 *cert = make_cert(k, "05"), *i1 = make_cert(ik, "06"), *i2 = make_cert(ik, "07");
        STACK_OF(X509) *chain = sk_X509_new_null();
        RaParams p = params();
        RaRequest r = {};
        const char *why = NULL;
        char *b1 = b64_der(i1), *b2 = b64_der(i2), *both = NULL;

        sk_X509_push(chain, i1);
        sk_X509_push(chain, i2);
        p.endpoint = "https://127.0.0.1:8443/";
        p.role_session_name = "vault-1";
        assert_int_equal(ra_request_build(&p, cert, chain, k, &r, &why), 0);
        assert_string_equal(r.serial, "5");
        assert_true(strncmp(r.url, "https://127.0.0.1:8443/sessions?profileArn=", 43) == 0);
        assert_string_equal(header(&r, "Host"), "127.0.0.1:8443");
        assert_true(asprintf(&both, "%s,%s", b1, b2) > 0);
        assert_string_equal(header(&r, "X-Amz-X509-Chain"), both);
        assert_string_equal(r.body, "{\"durationSeconds\":3600,\"roleSessionName\":\"vault-1\"}");
        assert_non_null(strstr(r.canonical_request, "\nhost:127.0.0.1:8443\n"));
        assert_non_null(strstr(r.canonical_request, "\nx-amz-x509-chain:"));
        assert_non_null(strstr(r.canonical_request, "\ncontent-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain\n"));
        assert_non_null(strstr(header(&r, "Authorization"), "Credential=5/20261130/eu-west-1/"));
        assert_non_null(strstr(header(&r, "Authorization"), "SignedHeaders=content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain,"));
        verify_signature(&r, cert);
        ra_request_done(&r);
        free(both);
        free(b1);
        free(b2);
        sk_X509_pop_free(chain, X509_free);
        X509_free(cert);
        EVP_PKEY_free(k);
        EVP_PKEY_free(ik);
}

static void test_unusable_keys(void **state) {
        const char *why = NULL;
        EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
        EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
        EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        X509 *cert = make_cert(small, "01");
        RaParams p = params();
        RaRequest r = {};

        assert_null(ra_key_algorithm(small, &why));
        assert_non_null(strstr(why, "2048"));
        assert_int_equal(ra_request_build(&p, cert, NULL, small, &r, &why), -EINVAL);
        assert_null(ra_key_algorithm(p521, &why));
        assert_non_null(strstr(why, "P-256"));
        assert_null(ra_key_algorithm(ed, &why));
        X509_free(cert);
        EVP_PKEY_free(small);
        EVP_PKEY_free(p521);
        EVP_PKEY_free(ed);
}

static void test_uri_encode(void **state) {
        char *s = ra_uri_encode("a-Z_0.9~ :/+=&%é");
        assert_string_equal(s, "a-Z_0.9~%20%3A%2F%2B%3D%26%25%C3%A9");
        free(s);
}

static void test_arns(void **state) {
        const char *why;
        char *region = NULL;

        assert_int_equal(ra_arn_check(TA, ARN_TRUST_ANCHOR, &region, &why), 0);
        assert_string_equal(region, "eu-west-1");
        free(region);
        assert_int_equal(ra_arn_check("arn:aws-us-gov:rolesanywhere:us-gov-west-1:123456789012:profile/abc", ARN_PROFILE, NULL, &why), 0);
        assert_int_equal(ra_arn_check(RO, ARN_ROLE, NULL, &why), 0);
        assert_int_equal(ra_arn_check("arn:aws:iam::123456789012:role/path/to/My+Role=,.@_-", ARN_ROLE, NULL, &why), 0);
        assert_int_equal(ra_arn_check(PR, ARN_TRUST_ANCHOR, NULL, &why), -EINVAL); /* a profile where a trust anchor belongs */
        assert_int_equal(ra_arn_check(TA, ARN_ROLE, NULL, &why), -EINVAL);
        assert_int_equal(ra_arn_check("arn:aws:iam:eu-west-1:123456789012:role/x", ARN_ROLE, NULL, &why), -EINVAL);
        assert_non_null(strstr(why, "region"));
        assert_int_equal(ra_arn_check("arn:aws:rolesanywhere:EU:123456789012:profile/x", ARN_PROFILE, NULL, &why), -EINVAL);
        assert_int_equal(ra_arn_check("arn:aws:rolesanywhere:eu-west-1:1234:profile/x", ARN_PROFILE, NULL, &why), -EINVAL);
        assert_int_equal(ra_arn_check("arn:aws:rolesanywhere:eu-west-1:123456789012:profile/", ARN_PROFILE, NULL, &why), -EINVAL);
        assert_int_equal(ra_arn_check("arn:aws:rolesanywhere:eu-west-1:123456789012:profile/a b", ARN_PROFILE, NULL, &why), -EINVAL);
        assert_int_equal(ra_arn_check("TA_ARN", ARN_TRUST_ANCHOR, NULL, &why), -EINVAL);
        assert_string_equal(ra_arn_resource_id(TA), "1f2e3d4c-0000-4000-8000-aabbccddeeff");
}

static void test_endpoints(void **state) {
        const char *why;
        char *a;
        assert_int_equal(ra_endpoint_check("https://rolesanywhere.eu-west-1.amazonaws.com", &why), 0);
        assert_int_equal(ra_endpoint_check("https://vpce.example:8443/", &why), 0);
        assert_int_equal(ra_endpoint_check("http://127.0.0.1:8080", &why), 0);
        assert_int_equal(ra_endpoint_check("http://[::1]:8080", &why), 0);
        assert_int_equal(ra_endpoint_check("http://localhost", &why), 0);
        assert_int_equal(ra_endpoint_check("http://10.0.0.1", &why), -EINVAL);
        assert_non_null(strstr(why, "loopback"));
        assert_int_equal(ra_endpoint_check("http://127.0.0.1.evil.com", &why), -EINVAL);
        assert_int_equal(ra_endpoint_check("https://h/sessions", &why), -EINVAL);
        assert_int_equal(ra_endpoint_check("https://user:pw@h", &why), -EINVAL);
        assert_int_equal(ra_endpoint_check("ftp://h", &why), -EINVAL);
        a = ra_endpoint_authority("https://RolesAnywhere.eu-west-1.amazonaws.com:443/");
        assert_string_equal(a, "rolesanywhere.eu-west-1.amazonaws.com:443");
        free(a);
}

static void test_parse_success_and_json(void **state) {
        const char *body = "{\"credentialSet\":[{\"assumedRoleUser\":{\"arn\":\"x\"},\"credentials\":{"
                           "\"accessKeyId\":\"ASIAEXAMPLE\",\"secretAccessKey\":\"s3cr\\\"et/+\","
                           "\"sessionToken\":\"tok==\",\"expiration\":\"2026-11-30T11:00:00.123Z\"}}],\"subjectArn\":\"y\"}";
        RaCredentials c = {};
        RaError e = {};
        char *j;

        assert_int_equal(ra_response_parse(201, NULL, NULL, body, strlen(body), &c, &e), 0);
        assert_string_equal(c.access_key_id, "ASIAEXAMPLE");
        assert_string_equal(c.secret_access_key, "s3cr\"et/+");
        assert_int_equal(c.expiration, (uint64_t) 1796036400 * USEC_PER_SEC);
        j = ra_credentials_process_json(&c);
        assert_string_equal(j, "{\"Version\":1,\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"s3cr\\\"et/+\","
                               "\"SessionToken\":\"tok==\",\"Expiration\":\"2026-11-30T11:00:00Z\"}");
        ra_secret_free(j);
        ra_credentials_done(&c);
        assert_null(c.secret_access_key);
}

static void test_parse_bad_success(void **state) {
        static const char *const bodies[] = {
                "", "<html>captive portal</html>", "{\"credentialSet\":[]}",
                "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"\",\"secretAccessKey\":\"x\",\"sessionToken\":\"y\",\"expiration\":\"2026-11-30T11:00:00Z\"}}]}",
                "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"a\",\"secretAccessKey\":\"x\",\"sessionToken\":\"y\",\"expiration\":\"tomorrow\"}}]}",
                "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"a\",\"secretAccessKey\":\"x\",\"sessionToken\":\"y\",\"expiration\":\"2026-11-30T11:00:00Z\"}}]} trailing",
        };
        for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
                RaCredentials c = {};
                RaError e = {};
                assert_int_equal(ra_response_parse(200, NULL, NULL, bodies[i], strlen(bodies[i]), &c, &e), -EBADMSG);
                assert_int_equal(e.kind, RA_ERR_BAD_RESPONSE);
                assert_null(c.access_key_id);
                assert_int_equal(ra_error_class(e.kind), RA_CLASS_NETWORK);
                ra_error_done(&e);
        }
}

static void test_error_mapping(void **state) {
        static const struct {
                long status;
                const char *type_header, *body;
                RaErrorKind kind;
                const char *fix_part;
        } cases[] = {
                { 403, "AccessDeniedException:http://internal.amazon.com/coral/", "{\"message\":\"Trust anchor is disabled\"}", RA_ERR_TRUST_ANCHOR_DISABLED, "enable-trust-anchor --trust-anchor-id 1f2e3d4c-0000-4000-8000-aabbccddeeff" },
                { 403, NULL, "{\"__type\":\"com.amazon#AccessDeniedException\",\"message\":\"Profile is disabled\"}", RA_ERR_PROFILE_DISABLED, "enable-profile --profile-id 0a0b0c0d-1111-4111-8111-001122334455" },
                { 403, "AccessDeniedException", "{\"message\":\"Untrusted certificate. Insufficient certificate\"}", RA_ERR_UNTRUSTED_CERTIFICATE, "clientAuth" },
                { 403, "AccessDeniedException", "{\"Message\":\"Incorrect basic constraints for CA certificate\"}", RA_ERR_BASIC_CONSTRAINTS, "CA:TRUE" },
                { 403, "AccessDeniedException", "{\"message\":\"Signature expired: 20261130T090000Z is now earlier than 20261130T095500Z\"}", RA_ERR_CLOCK_SKEW, "NOT synchronised" },
                { 403, "AccessDeniedException", "{\"message\":\"Unable to assume role for arn:aws:iam::123456789012:role/x\"}", RA_ERR_ACCESS_DENIED, "trust policy" },
                { 403, "AccessDeniedException", "{\"message\":\"Untrusted signing certificate\"}", RA_ERR_UNTRUSTED_CERTIFICATE, "issued by the CA" },
                { 403, "AccessDeniedException", "{\"message\":\"Invalid signature\"}", RA_ERR_BAD_SIGNATURE, "proxy" },
                { 403, "InvalidSignatureException", "{\"message\":\"Signature not yet current: 20261130T100600Z is still later than 20261130T100500Z\"}", RA_ERR_CLOCK_SKEW, "clock" },
                { 404, "ResourceNotFoundException", "{\"message\":\"Profile not found\"}", RA_ERR_NOT_FOUND, "list-trust-anchors" },
                { 400, "ValidationException", "{\"message\":\"durationSeconds too large\"}", RA_ERR_VALIDATION, "session_duration" },
                { 429, "ThrottlingException", "{\"message\":\"Rate exceeded\"}", RA_ERR_THROTTLED, "throttling" },
                { 503, NULL, "<html>Service Unavailable</html>", RA_ERR_SERVER, "internal error" },
                { 302, NULL, "", RA_ERR_HTTP, "unexpected HTTP status" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                RaCredentials c = {};
                RaError e = {};
                char *fix;
                int r = ra_response_parse(cases[i].status, cases[i].type_header, "7", cases[i].body,
                                          strlen(cases[i].body), &c, &e);
                assert_int_equal(e.kind, cases[i].kind);
                assert_int_equal(r, ra_error_class(e.kind) == RA_CLASS_REJECTED ? -EACCES : -EAGAIN);
                assert_int_equal(e.http_status, cases[i].status);
                fix = ra_error_fix(&e, TA, PR, 0);
                assert_non_null(strstr(fix, cases[i].fix_part));
                free(fix);
                ra_error_done(&e);
        }
        /* type from the header, cut at ':' */
        {
                RaCredentials c = {};
                RaError e = {};
                const char *b = "{\"message\":\"Rate exceeded\"}";
                ra_response_parse(429, "ThrottlingException:http://x", "7", b, strlen(b), &c, &e);
                assert_string_equal(e.aws_type, "ThrottlingException");
                assert_string_equal(e.message, "Rate exceeded");
                assert_int_equal(e.retry_after, 7 * USEC_PER_SEC);
                ra_error_done(&e);
        }
        /* the clock fix says whether the clock is synchronised */
        {
                RaError e = { .kind = RA_ERR_CLOCK_SKEW };
                char *f1 = ra_error_fix(&e, TA, PR, 1), *f0 = ra_error_fix(&e, TA, PR, 0);
                assert_non_null(strstr(f1, "reports itself synchronised"));
                assert_non_null(strstr(f0, "NOT synchronised"));
                free(f1);
                free(f0);
        }
        /* transfer failures */
        {
                static const struct {
                        int err;
                        RaErrorKind kind;
                } t[] = { { -EHOSTUNREACH, RA_ERR_DNS }, { -ECONNREFUSED, RA_ERR_CONNECT }, { -EBADE, RA_ERR_TLS },
                          { -ETIMEDOUT, RA_ERR_TIMEOUT }, { -EPROTO, RA_ERR_NETWORK } };
                for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                        RaError e = {};
                        ra_error_from_transport(t[i].err, "curl says", &e);
                        assert_int_equal(e.kind, t[i].kind);
                        assert_int_equal(ra_error_class(e.kind), RA_CLASS_NETWORK);
                        assert_string_equal(e.message, "curl says");
                        ra_error_done(&e);
                }
        }
}

static void test_planning(void **state) {
        uint64_t now = NOW, exp = NOW + USEC_PER_HOUR;
        usec_t rb = 10 * USEC_PER_MINUTE;

        /* 10 minutes ahead, minus at most 1 minute of jitter */
        assert_int_equal(ra_plan_refresh(now, exp, rb, 0), exp - rb);
        for (uint64_t rnd = 1; rnd < 100000000; rnd = rnd * 7 + 13) {
                uint64_t t = ra_plan_refresh(now, exp, rb, rnd);
                assert_true(t <= exp - rb && t >= exp - rb - rb / 10);
        }
        /* a lifetime shorter than refresh_before: half of what is left */
        assert_int_equal(ra_plan_refresh(now, now + 60 * USEC_PER_SEC, rb, 0), now + 30 * USEC_PER_SEC);
        /* never sooner than 5 s */
        assert_int_equal(ra_plan_refresh(now, now + 2 * USEC_PER_SEC, rb, 0), now + 5 * USEC_PER_SEC);
        assert_int_equal(ra_plan_refresh(now, now - USEC_PER_SEC, rb, 0), now + 5 * USEC_PER_SEC);

        /* backoff doubles from 1 s, +-20%, capped */
        for (unsigned f = 1; f <= 12; f++) {
                usec_t base = MIN(USEC_PER_SEC << (f - 1), 60 * USEC_PER_SEC);
                for (uint64_t rnd = 0; rnd < 50; rnd++) {
                        usec_t d = ra_plan_backoff(f, 60 * USEC_PER_SEC, 0, rnd * 7919);
                        assert_true(d >= base - base / 5 && d <= base + base / 5);
                }
        }
        /* throttling's delay wins, even past the cap */
        assert_int_equal(ra_plan_backoff(1, 60 * USEC_PER_SEC, 120 * USEC_PER_SEC, 0), 120 * USEC_PER_SEC);
}

static void test_times(void **state) {
        uint64_t t;
        assert_int_equal(ra_parse_time("2026-11-30T11:00:00Z", &t), 0);
        assert_int_equal(t, (uint64_t) 1796036400 * USEC_PER_SEC);
        assert_int_equal(ra_parse_time("2026-11-30T11:00:00+00:00", &t), 0);
        assert_int_equal(ra_parse_time("2026-11-30T11:00:00", &t), -EINVAL);
        assert_int_equal(ra_parse_time("2026-11-30T11:00:00+02:00", &t), -EINVAL);
        assert_int_equal(ra_parse_time("", &t), -EINVAL);
}

/* The agent writes the signer's AWS config only when the [child] brings none. */
static void test_child_aws_profile(void **state) {
        char *none[] = { "PATH=/usr/bin", "NODE_OPTIONS=--x", "AWS_REGION=eu-west-1", NULL };
        char *profile[] = { "PATH=/usr/bin", "AWS_PROFILE=rolesanywhere-kms", NULL };
        char *file[] = { "AWS_CONFIG_FILE=/etc/agv-agent/aws-config", NULL };
        char *keys[] = { "AWS_ACCESS_KEY_ID=AKIA", NULL };
        char *lookalike[] = { "MY_AWS_PROFILE=x", "AWS_PROFILES=y", NULL };

        assert_false(credentials_child_has_aws_profile(NULL));
        assert_false(credentials_child_has_aws_profile(none));
        assert_true(credentials_child_has_aws_profile(profile));
        assert_true(credentials_child_has_aws_profile(file));
        assert_true(credentials_child_has_aws_profile(keys));
        assert_false(credentials_child_has_aws_profile(lookalike));
}

/* Found by fuzz/ra_reply: the endpoint's (or a proxy's) words reached the
 * journal, status and a terminal unfiltered, and an error body holding
 * credentials was echoed into the message. */
static void test_error_text_is_tamed(void **state) {
        RaCredentials c = {};
        RaError e = {};
        const char *ctrl = "{\"message\":\"Signature expired\\nAGV_FAKE=1 \\u001b[31mred\\u0007\"}";
        const char *inval = "{\"message\":\"bad \xff\xfe utf8 \xc3\xa9t\xc3\"}";
        const char *creds = "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"ASIA1\","
                            "\"secretAccessKey\":\"wJalrXUtnFEMIK7MDENGbPxRfiCY\",\"sessionToken\":\"FwoGZXIvYXdzEXAMPLE\"}}]}";
        _cleanup_free_ char *longmsg = NULL;

        assert_int_equal(ra_response_parse(403, "AccessDenied\r\nX-Injected: 1", NULL, ctrl, strlen(ctrl), &c, &e), -EACCES);
        /* still classified by what it says */
        assert_int_equal(e.kind, RA_ERR_CLOCK_SKEW);
        assert_string_equal(e.message, "Signature expired AGV_FAKE=1  [31mred ");
        assert_string_equal(e.aws_type, "AccessDenied  X-Injected");
        ra_error_done(&e);

        ra_response_parse(500, NULL, NULL, inval, strlen(inval), &c, &e);
        assert_string_equal(e.message, "bad ?? utf8 \xc3\xa9t?");
        ra_error_done(&e);

        /* a non-2xx reply carrying credentials: the body is not shown */
        assert_int_equal(ra_response_parse(500, NULL, NULL, creds, strlen(creds), &c, &e), -EAGAIN);
        assert_null(strstr(e.message, "wJalrXUtnFEMIK7MDENGbPxRfiCY"));
        assert_null(strstr(e.message, "FwoGZXIvYXdzEXAMPLE"));
        assert_non_null(strstr(e.message, "not shown"));
        ra_error_done(&e);
        {
                /* not JSON either (cut short): same */
                size_t n = strlen(creds) - 10;
                _cleanup_free_ char *cut = strndup(creds, n);
                ra_response_parse(502, NULL, NULL, cut, n, &c, &e);
                assert_null(strstr(e.message, "wJalrXUtnFEMIK7MDENGbPxRfiCY"));
                ra_error_done(&e);
        }

        /* a 60 KiB message is cut at a character boundary */
        longmsg = malloc(64 * 1024);
        assert_non_null(longmsg);
        strcpy(longmsg, "{\"message\":\"");
        for (size_t i = strlen(longmsg); i < 60 * 1024; i += 2)
                memcpy(longmsg + i, "\xc3\xa9", 2);
        strcpy(longmsg + 60 * 1024, "\"}");
        ra_response_parse(400, NULL, NULL, longmsg, strlen(longmsg), &c, &e);
        assert_true(strlen(e.message) <= RA_ERROR_MESSAGE_MAX);
        assert_true(strlen(e.message) >= RA_ERROR_MESSAGE_MAX - 1);
        assert_true(utf8_is_valid(e.message, strlen(e.message)));
        ra_error_done(&e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rsa2048),
                cmocka_unit_test(test_ec_p256),
                cmocka_unit_test(test_ec_p384),
                cmocka_unit_test(test_chain_port_and_session_name),
                cmocka_unit_test(test_unusable_keys),
                cmocka_unit_test(test_uri_encode),
                cmocka_unit_test(test_arns),
                cmocka_unit_test(test_endpoints),
                cmocka_unit_test(test_parse_success_and_json),
                cmocka_unit_test(test_parse_bad_success),
                cmocka_unit_test(test_error_mapping),
                cmocka_unit_test(test_error_text_is_tamed),
                cmocka_unit_test(test_planning),
                cmocka_unit_test(test_times),
                cmocka_unit_test(test_child_aws_profile),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
