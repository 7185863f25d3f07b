/* SPDX-License-Identifier: MIT */
/* Every check of pki_assess.c on PKIs generated here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "pki_assess.h"
#include "pki_testlib.h"

static TlCert ca, ca2, client, client_ec;

static uint64_t now_usec(void) {
        return (uint64_t) time(NULL) * USEC_PER_SEC;
}

static int setup(void **state) {
        ca = tl_make(&(TlOpts) { .ca = true, .days = 3650 }, NULL);
        ca2 = tl_make(&(TlOpts) { .ca = true, .cn = "Other CA" }, NULL);
        client = tl_make(&(TlOpts) {}, &ca);
        client_ec = tl_make(&(TlOpts) { .key = "p256" }, &ca);
        return 0;
}

static int teardown(void **state) {
        tl_free(&ca);
        tl_free(&ca2);
        tl_free(&client);
        tl_free(&client_ec);
        return 0;
}

/* Assess raw buffers; ca_pem NULL: no bundle configured. */
static void run(const char *cert, size_t cl, const char *key, size_t kl, const char *ca_pem, size_t cal,
                PkiAssessment *a) {
        PkiBlob c = { "/pki/client.crt", cert, cl }, k = { "/pki/client.key", key, kl };
        PkiBlob b = { ca_pem ? "/pki/ca.pem" : NULL, ca_pem, cal };
        *a = (PkiAssessment) {};
        pki_assess(&c, &k, &b, now_usec(), a);
}

/* Assess a generated pair written as PEM (PKCS#8), with ca as the bundle. */
static void run_pair(const TlCert *cert, EVP_PKEY *key, const TlCert *bundle, PkiAssessment *a) {
        size_t cl, kl, bl = 0;
        _cleanup_free_ char *c = tl_cert_pem(cert->cert, &cl), *k = tl_key_pem(key, "pkcs8", &kl);
        _cleanup_free_ char *b = bundle ? tl_cert_pem(bundle->cert, &bl) : NULL;
        run(c, cl, k, kl, b, bl, a);
}

static void assert_only(const PkiAssessment *a, const char *code) {
        if (!findings_has(&a->findings, code) || a->findings.n != 1) {
                for (size_t i = 0; i < a->findings.n; i++)
                        print_error("finding: %s: %s\n", a->findings.items[i].code, a->findings.items[i].message);
                fail_msg("expected exactly the finding %s", code);
        }
        /* every finding says what to do */
        assert_true(strlen(a->findings.items[0].fix) > 10);
}

static void test_valid_rsa_pem(void **state) {
        PkiAssessment a;
        run_pair(&client, client.key, &ca, &a);
        assert_int_equal(a.findings.n, 0);
        assert_true(a.key_matches);
        assert_int_equal(a.chain, CHAIN_VERIFIED);
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_VALID);
        assert_string_equal(a.info.key_type, "RSA-2048");
        assert_string_equal(a.info.subject, "CN=vm");
        assert_string_equal(a.info.issuer, "CN=Test CA");
        assert_int_equal(strlen(a.info.fingerprint_sha256), 64);
        assert_non_null(a.info.serial);
        assert_string_equal(a.key_id, a.cert_key_id);
        assert_true(a.have_ca_info);
        assert_string_equal(a.ca_info.subject, "CN=Test CA");
        assert_non_null(a.ca_fingerprint);
        pki_assessment_done(&a);
}

static void test_der_and_key_formats(void **state) {
        static const char *const fmts[] = { "traditional", "der", "pkcs8" };
        size_t cl, kl;
        _cleanup_free_ char *der = tl_cert_der(client.cert, &cl);
        for (size_t i = 0; i < ELEMENTSOF(fmts); i++) {
                PkiAssessment a;
                _cleanup_free_ char *k = tl_key_pem(client.key, fmts[i], &kl);
                run(der, cl, k, kl, NULL, 0, &a);
                assert_int_equal(a.findings.n, 0);
                assert_true(a.key_matches);
                assert_int_equal(a.chain, CHAIN_UNVERIFIED);
                assert_int_equal(pki_assessment_verdict(&a), VERDICT_VALID);
                pki_assessment_done(&a);
        }
        /* SEC1 EC key */
        {
                PkiAssessment a;
                _cleanup_free_ char *c = tl_cert_pem(client_ec.cert, &cl), *k = tl_key_pem(client_ec.key, "traditional", &kl);
                assert_non_null(strstr(k, "BEGIN EC PRIVATE KEY"));
                run(c, cl, k, kl, NULL, 0, &a);
                assert_int_equal(a.findings.n, 0);
                assert_string_equal(a.info.key_type, "EC-P256");
                pki_assessment_done(&a);
        }
        /* `openssl ecparam -genkey` writes EC PARAMETERS before the key */
        {
                PkiAssessment a;
                static const char params[] = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
                _cleanup_free_ char *c = tl_cert_pem(client_ec.cert, &cl), *k = tl_key_pem(client_ec.key, "traditional", &kl);
                _cleanup_free_ char *both = malloc(sizeof(params) + kl);
                memcpy(both, params, sizeof(params) - 1);
                memcpy(both + sizeof(params) - 1, k, kl + 1);
                pki_parse_cache_flush();
                run(c, cl, both, sizeof(params) - 1 + kl, NULL, 0, &a);
                assert_int_equal(a.findings.n, 0);
                assert_true(a.key_matches);
                pki_assessment_done(&a);
        }
}

static void test_chain_file_first_is_leaf(void **state) {
        size_t l1, l2, kl;
        _cleanup_free_ char *leaf = tl_cert_pem(client.cert, &l1), *cap = tl_cert_pem(ca.cert, &l2);
        _cleanup_free_ char *k = tl_key_pem(client.key, "pkcs8", &kl);
        _cleanup_free_ char *both = malloc(l1 + l2 + 1);
        PkiAssessment a;
        memcpy(both, leaf, l1);
        memcpy(both + l1, cap, l2 + 1);
        run(both, l1 + l2, k, kl, cap, l2, &a);
        assert_int_equal(a.findings.n, 0);
        assert_string_equal(a.info.subject, "CN=vm");
        assert_int_equal(sk_X509_num(a.cert_extra), 1);
        pki_assessment_done(&a);
}

static void test_empty_truncated_random(void **state) {
        size_t cl, kl;
        _cleanup_free_ char *c = tl_cert_pem(client.cert, &cl), *k = tl_key_pem(client.key, "pkcs8", &kl);
        char rnd[512];
        PkiAssessment a;

        run("", 0, k, kl, NULL, 0, &a);
        assert_only(&a, "cert_empty");
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INCOMPLETE);
        pki_assessment_done(&a);

        run(c, cl, "", 0, NULL, 0, &a);
        assert_only(&a, "key_empty");
        pki_assessment_done(&a);

        run(c, cl / 2, k, kl, NULL, 0, &a);
        assert_only(&a, "cert_truncated");
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INCOMPLETE);
        pki_assessment_done(&a);

        run(c, cl, k, kl / 2, NULL, 0, &a);
        assert_only(&a, "key_truncated");
        pki_assessment_done(&a);

        for (size_t i = 0; i < sizeof(rnd); i++)
                rnd[i] = (char) (rand() & 0xff);
        rnd[0] = 0x01; /* not a DER SEQUENCE */
        run(rnd, sizeof(rnd), rnd, sizeof(rnd), NULL, 0, &a);
        assert_true(findings_has(&a.findings, "cert_unparseable"));
        assert_true(findings_has(&a.findings, "key_unparseable"));
        assert_null(a.cert);
        assert_null(a.key);
        pki_assessment_done(&a);
}

static void test_swapped_files(void **state) {
        size_t cl, kl;
        _cleanup_free_ char *c = tl_cert_pem(client.cert, &cl), *k = tl_key_pem(client.key, "pkcs8", &kl);
        PkiAssessment a;
        run(k, kl, c, cl, NULL, 0, &a);
        assert_true(findings_has(&a.findings, "cert_is_key"));
        assert_true(findings_has(&a.findings, "key_is_cert"));
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
        pki_assessment_done(&a);
}

static void test_key_of_another_certificate(void **state) {
        TlCert other = tl_make(&(TlOpts) {}, &ca);
        PkiAssessment a;
        run_pair(&client, other.key, &ca, &a);
        assert_only(&a, "key_mismatch");
        assert_false(a.key_matches);
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INCOMPLETE);
        assert_string_equal(a.findings.items[0].file, "/pki/client.key");
        pki_assessment_done(&a);
        tl_free(&other);
}

static void test_encrypted_key(void **state) {
        static const char *const fmts[] = { "enc-pkcs8", "enc-traditional" };
        size_t cl, kl;
        _cleanup_free_ char *c = tl_cert_pem(client.cert, &cl);
        for (size_t i = 0; i < ELEMENTSOF(fmts); i++) {
                _cleanup_free_ char *k = tl_key_pem(client.key, fmts[i], &kl);
                PkiAssessment a;
                run(c, cl, k, kl, NULL, 0, &a);
                assert_only(&a, "key_encrypted");
                assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
                pki_assessment_done(&a);
        }
}

static void test_encrypted_key_der(void **state) {
        /* DER PKCS#8 encrypted: only the passphrase callback can tell */
        size_t cl, kl;
        _cleanup_free_ char *c = tl_cert_pem(client.cert, &cl);
        BIO *b = BIO_new(BIO_s_mem());
        PkiAssessment a;
        i2d_PKCS8PrivateKey_bio(b, client.key, EVP_aes_256_cbc(), "secret", 6, NULL, NULL);
        _cleanup_free_ char *k = tl_bio_take(b, &kl);
        run(c, cl, k, kl, NULL, 0, &a);
        assert_only(&a, "key_encrypted");
        pki_assessment_done(&a);
}

static void test_validity(void **state) {
        TlCert expired = tl_make(&(TlOpts) { .days = -1 }, &ca);
        TlCert future = tl_make(&(TlOpts) { .nb_offset = 86400 }, &ca);
        PkiAssessment a;

        run_pair(&expired, expired.key, &ca, &a);
        assert_only(&a, "cert_expired");
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
        /* the chain itself is fine: the date is reported once */
        assert_int_equal(a.chain, CHAIN_VERIFIED);
        pki_assessment_done(&a);

        run_pair(&future, future.key, &ca, &a);
        assert_only(&a, "cert_not_yet_valid");
        pki_assessment_done(&a);
        tl_free(&expired);
        tl_free(&future);
}

/* Re-date a generated certificate (ASN.1 time strings, "YYYYMMDDHHMMSSZ")
 * and sign it again with the issuer's key. */
static void redate(TlCert *c, const TlCert *issuer, const char *nb, const char *na) {
        if (nb)
                assert_int_equal(ASN1_TIME_set_string_X509(X509_getm_notBefore(c->cert), nb), 1);
        if (na)
                assert_int_equal(ASN1_TIME_set_string_X509(X509_getm_notAfter(c->cert), na), 1);
        assert_true(X509_sign(c->cert, issuer->key, EVP_sha256()) > 0);
}

static void test_validity_full_range(void **state) {
        TlCert c = tl_make(&(TlOpts) {}, &ca);
        PkiAssessment a;
        char buf[48];
        int64_t t;

        /* the epoch arithmetic, both sides of 1970 and at the ends */
        assert_int_equal(pki_days_from_civil(1970, 1, 1), 0);
        assert_int_equal(pki_days_from_civil(1969, 12, 31), -1);
        assert_int_equal(pki_days_from_civil(2038, 1, 19), 24855);
        assert_int_equal(pki_days_from_civil(2000, 3, 1), 11017);
        assert_int_equal(pki_days_from_civil(0, 1, 1), -719528);
        assert_int_equal(pki_days_from_civil(9999, 12, 31), 2932896);

        /* notAfter in 1969 (UTCTime 69 is 1969): expired, never activated */
        redate(&c, &ca, "19600101000000Z", "19691231235959Z");
        run_pair(&c, c.key, NULL, &a);
        assert_only(&a, "cert_expired");
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
        assert_true(a.info.not_after == -(int64_t) USEC_PER_SEC);
        assert_string_equal(format_rfc3339(a.info.not_after, buf, sizeof(buf)), "1969-12-31T23:59:59Z");
        assert_non_null(strstr(a.findings.items[0].message, "expired at 1969-12-31T23:59:59Z"));
        pki_assessment_done(&a);

        /* the same with the CA bundle: still the date, not a chain failure */
        run_pair(&c, c.key, &ca, &a);
        assert_only(&a, "cert_expired");
        pki_assessment_done(&a);

        /* year 0 to 1 s after the epoch: expired too */
        redate(&c, &ca, "00000101000000Z", "19700101000001Z");
        run_pair(&c, c.key, NULL, &a);
        assert_only(&a, "cert_expired");
        assert_true(a.info.not_before == (int64_t) -719528 * 86400 * (int64_t) USEC_PER_SEC);
        pki_assessment_done(&a);

        /* notBefore before 1970, notAfter at the end of 9999 (RFC 5280's
         * "no expiration"): valid now */
        redate(&c, &ca, "19500101000000Z", "99991231235959Z");
        run_pair(&c, c.key, &ca, &a);
        assert_int_equal(a.findings.n, 0);
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_VALID);
        assert_string_equal(format_rfc3339(a.info.not_after, buf, sizeof(buf)), "9999-12-31T23:59:59Z");
        assert_string_equal(format_rfc3339(a.info.not_before, buf, sizeof(buf)), "1950-01-01T00:00:00Z");
        pki_assessment_done(&a);

        /* valid from after 2038 (beyond 32-bit time_t): not yet valid */
        redate(&c, &ca, "20400101000000Z", "20500101000000Z");
        run_pair(&c, c.key, NULL, &a);
        assert_only(&a, "cert_not_yet_valid");
        assert_non_null(strstr(a.findings.items[0].message, "not valid before 2040-01-01T00:00:00Z"));
        pki_assessment_done(&a);

        /* and a notAfter that is no time at all */
        assert_int_equal(ASN1_STRING_set(X509_getm_notAfter(c.cert), "20501399000000Z", 15), 1);
        assert_true(X509_sign(c.cert, ca.key, EVP_sha256()) > 0);
        assert_int_equal(pki_asn1_time_usec(X509_get0_notAfter(c.cert), &t), -EINVAL);
        run_pair(&c, c.key, NULL, &a);
        assert_true(findings_has(&a.findings, "cert_time_invalid"));
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
        pki_assessment_done(&a);
        tl_free(&c);
}

static void test_ca_as_client(void **state) {
        PkiAssessment a;
        run_pair(&ca, ca.key, NULL, &a);
        assert_true(findings_has(&a.findings, "cert_is_ca"));
        assert_true(findings_has(&a.findings, "cert_eku"));
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
        pki_assessment_done(&a);
}

static void test_extensions(void **state) {
        TlCert noeku = tl_make(&(TlOpts) { .no_eku = true }, &ca);
        TlCert noku = tl_make(&(TlOpts) { .no_ku = true }, &ca);
        TlCert wrongku = tl_make(&(TlOpts) { .ku_wrong = true }, &ca);
        PkiAssessment a;

        run_pair(&noeku, noeku.key, &ca, &a);
        assert_only(&a, "cert_eku");
        assert_non_null(strstr(a.findings.items[0].message, "Insufficient certificate"));
        pki_assessment_done(&a);
        run_pair(&noku, noku.key, &ca, &a);
        assert_only(&a, "cert_key_usage");
        pki_assessment_done(&a);
        run_pair(&wrongku, wrongku.key, &ca, &a);
        assert_only(&a, "cert_key_usage");
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
        pki_assessment_done(&a);
        tl_free(&noeku);
        tl_free(&noku);
        tl_free(&wrongku);
}

static void test_key_strength(void **state) {
        TlCert weak = tl_make(&(TlOpts) { .key = "rsa1024" }, &ca);
        TlCert p384 = tl_make(&(TlOpts) { .key = "p384" }, &ca);
        TlCert p521 = tl_make(&(TlOpts) { .key = "p521" }, &ca);
        PkiAssessment a;

        run_pair(&weak, weak.key, &ca, &a);
        assert_only(&a, "key_weak");
        assert_non_null(strstr(a.findings.items[0].message, "1024-bit"));
        pki_assessment_done(&a);
        run_pair(&p384, p384.key, &ca, &a);
        assert_int_equal(a.findings.n, 0);
        assert_string_equal(a.info.key_type, "EC-P384");
        pki_assessment_done(&a);
        run_pair(&p521, p521.key, &ca, &a);
        assert_only(&a, "key_type_unsupported");
        pki_assessment_done(&a);
        tl_free(&weak);
        tl_free(&p384);
        tl_free(&p521);
}

static void test_rsa512(void **state) {
        /* the 512-bit case; OpenSSL 3 still generates it */
        TlCert weak = tl_make(&(TlOpts) { .key = "rsa512" }, &ca);
        PkiAssessment a;
        if (!weak.key) {
                tl_free(&weak);
                skip();
        }
        run_pair(&weak, weak.key, &ca, &a);
        assert_true(findings_has(&a.findings, "key_weak"));
        pki_assessment_done(&a);
        tl_free(&weak);
}

static void test_chain(void **state) {
        TlCert bad_bc = tl_make(&(TlOpts) { .ca = true, .ca_bc_not_critical = true }, NULL);
        TlCert no_sign = tl_make(&(TlOpts) { .ca = true, .ca_no_certsign = true }, NULL);
        PkiAssessment a;
        size_t n;
        _cleanup_free_ char *junk = strdup("not a certificate");

        run_pair(&client, client.key, &ca2, &a);
        assert_only(&a, "chain_failed");
        assert_int_equal(a.chain, CHAIN_FAILED);
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
        pki_assessment_done(&a);

        run_pair(&client, client.key, &bad_bc, &a);
        assert_true(findings_has(&a.findings, "ca_basic_constraints"));
        assert_int_equal(findings_get(&a.findings, "ca_basic_constraints")->severity, HEALTH_WARNING);
        pki_assessment_done(&a);

        run_pair(&client, client.key, &no_sign, &a);
        assert_true(findings_has(&a.findings, "ca_key_usage"));
        pki_assessment_done(&a);

        {
                size_t cl, kl;
                _cleanup_free_ char *c = tl_cert_pem(client.cert, &cl), *k = tl_key_pem(client.key, "pkcs8", &kl);
                n = strlen(junk);
                run(c, cl, k, kl, junk, n, &a);
                assert_only(&a, "ca_bundle_unparseable");
                assert_int_equal(a.chain, CHAIN_UNVERIFIED);
                /* an unusable bundle does not block the pair */
                assert_int_equal(pki_assessment_verdict(&a), VERDICT_VALID);
                pki_assessment_done(&a);
        }
        tl_free(&bad_bc);
        tl_free(&no_sign);
}

static void test_ca_key_detection(void **state) {
        size_t kl, cl;
        _cleanup_free_ char *cak = tl_key_pem(ca.key, "traditional", &kl);
        _cleanup_free_ char *clk = tl_key_pem(client.key, "pkcs8", &cl);
        STACK_OF(X509) *s = sk_X509_new_null();
        sk_X509_push(s, ca.cert);

        assert_true(pki_blob_is_ca_key(cak, kl, s));
        assert_false(pki_blob_is_ca_key(clk, cl, s));
        assert_false(pki_blob_is_ca_key(cak, kl, NULL));
        sk_X509_free(s);

        assert_true(pki_name_looks_like_ca_key("ca.key"));
        assert_true(pki_name_looks_like_ca_key("CA.key"));
        assert_true(pki_name_looks_like_ca_key("ca-key.pem"));
        assert_true(pki_name_looks_like_ca_key("rootCA.key"));
        assert_true(pki_name_looks_like_ca_key("my_ca.key"));
        assert_true(pki_name_looks_like_ca_key("ca.key.bak"));
        assert_false(pki_name_looks_like_ca_key("client.key"));
        assert_false(pki_name_looks_like_ca_key("ca.pem"));
        assert_false(pki_name_looks_like_ca_key("cacert.pem"));
        assert_false(pki_name_looks_like_ca_key("vacation.key"));
        assert_false(pki_name_looks_like_ca_key("ca.crt"));
}

static void test_parse_cache(void **state) {
        /* the same content parses to the same result, from the cache too */
        size_t kl;
        _cleanup_free_ char *k = tl_key_pem(client.key, "pkcs8", &kl);
        EVP_PKEY *a = NULL, *b = NULL;
        Findings f = {};
        pki_parse_cache_flush();
        assert_int_equal(pki_parse_key(k, kl, "/k", &a, &f), 0);
        assert_int_equal(pki_parse_key(k, kl, "/k", &b, &f), 0);
        assert_ptr_equal(a, b);
        assert_int_equal(EVP_PKEY_eq(a, client.key), 1);
        EVP_PKEY_free(a);
        EVP_PKEY_free(b);
        /* one byte less is another content: not served from the cache */
        assert_int_equal(pki_parse_key(k, kl - 30, "/k", &a, &f), -EBADMSG);
        assert_true(findings_has(&f, "key_truncated"));
        findings_done(&f);
        pki_parse_cache_flush();
}

static void test_fingerprint_of_bytes_sent(void **state) {
        /* the `credentials` command's certificate: PEM, DER or a chain file
         * name the same leaf; garbage is an error that says so */
        size_t pl, dl, cl, kl;
        _cleanup_free_ char *pem = tl_cert_pem(client.cert, &pl), *der = tl_cert_der(client.cert, &dl);
        _cleanup_free_ char *cap = tl_cert_pem(ca.cert, &cl), *k = tl_key_pem(client.key, "pkcs8", &kl);
        _cleanup_free_ char *chain = malloc(pl + cl + 1);
        char *fp = NULL, *why = NULL, *want = NULL;
        CertInfo ci = {};

        assert_int_equal(pki_cert_info(client.cert, "/c", &ci), 0);
        want = ci.fingerprint_sha256;
        memcpy(chain, pem, pl);
        memcpy(chain + pl, cap, cl + 1);
        pki_parse_cache_flush();
        const struct { const char *d; size_t l; } ok[] = { { pem, pl }, { der, dl }, { chain, pl + cl } };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                assert_int_equal(pki_cert_fingerprint_of(ok[i].d, ok[i].l, "sent", &fp, &why), 0);
                assert_string_equal(fp, want);
                assert_null(why);
                free(fp);
        }
        const struct { const char *d; size_t l; } bad[] = { { "", 0 }, { "hello", 5 }, { der, dl - 1 }, { pem, pl / 2 }, { k, kl } };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_true(pki_cert_fingerprint_of(bad[i].d, bad[i].l, "the certificate sent", &fp, &why) < 0);
                assert_null(fp);
                assert_non_null(why);
                assert_non_null(strstr(why, "the certificate sent"));
                free(why);
        }
        cert_info_done(&ci);
}

static void test_findings_equal(void **state) {
        Findings a = {}, b = {};
        findings_add(&a, HEALTH_WARNING, FINDING_OTHER, "x", "/f", "fix", "m %d", 1);
        findings_add(&b, HEALTH_WARNING, FINDING_OTHER, "x", "/f", "fix", "m %d", 1);
        assert_true(findings_equal(&a, &b));
        findings_add(&b, HEALTH_CRITICAL, FINDING_PAIR, "y", NULL, "fix", "n");
        assert_false(findings_equal(&a, &b));
        assert_int_equal(findings_worst(&b), HEALTH_CRITICAL);
        findings_move(&a, &b);
        assert_int_equal(a.n, 3);
        assert_int_equal(b.n, 0);
        findings_done(&a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_rsa_pem),
                cmocka_unit_test(test_fingerprint_of_bytes_sent),
                cmocka_unit_test(test_der_and_key_formats),
                cmocka_unit_test(test_chain_file_first_is_leaf),
                cmocka_unit_test(test_empty_truncated_random),
                cmocka_unit_test(test_swapped_files),
                cmocka_unit_test(test_key_of_another_certificate),
                cmocka_unit_test(test_encrypted_key),
                cmocka_unit_test(test_encrypted_key_der),
                cmocka_unit_test(test_validity),
                cmocka_unit_test(test_validity_full_range),
                cmocka_unit_test(test_ca_as_client),
                cmocka_unit_test(test_extensions),
                cmocka_unit_test(test_key_strength),
                cmocka_unit_test(test_rsa512),
                cmocka_unit_test(test_chain),
                cmocka_unit_test(test_ca_key_detection),
                cmocka_unit_test(test_parse_cache),
                cmocka_unit_test(test_findings_equal),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
