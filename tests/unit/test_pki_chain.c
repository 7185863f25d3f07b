/* SPDX-License-Identifier: MIT */
/* The chain through [credentials] intermediates (pki_assess_chain and the
 * pair machine's chain bookkeeping) on PKIs generated here: the trust anchor
 * alone in ca.pem, the intermediates in their own file, and what careless
 * hands put in that file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "pki_assess.h"
#include "pki_pair.h"
#include "pki_testlib.h"

static TlCert root, inter, policy, client, client2, deep, stranger;

static uint64_t now_usec(void) {
        return (uint64_t) time(NULL) * USEC_PER_SEC;
}

static int setup(void **state) {
        root = tl_make(&(TlOpts) { .ca = true, .days = 3650, .cn = "Root CA" }, NULL);
        inter = tl_make(&(TlOpts) { .ca = true, .days = 1000, .cn = "Issuing CA" }, &root);
        policy = tl_make(&(TlOpts) { .ca = true, .days = 900, .cn = "Policy CA" }, &inter);
        client = tl_make(&(TlOpts) { .key = "p256" }, &inter);
        client2 = tl_make(&(TlOpts) { .key = "p256", .cn = "vm2" }, &inter);
        deep = tl_make(&(TlOpts) { .cn = "deep" }, &policy);
        stranger = tl_make(&(TlOpts) { .cn = "another vm" }, &root);
        return 0;
}

static int teardown(void **state) {
        TlCert *all[] = { &root, &inter, &policy, &client, &client2, &deep, &stranger };
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                tl_free(all[i]);
        return 0;
}

/* PEM of several certificates, in the order given. */
static char *pem_of(size_t *len, ...) {
        char *out = NULL;
        size_t n = 0;
        va_list ap;
        X509 *x;

        va_start(ap, len);
        while ((x = va_arg(ap, X509 *))) {
                size_t l;
                _cleanup_free_ char *p = tl_cert_pem(x, &l);
                out = realloc(out, n + l + 1);
                assert_non_null(out);
                memcpy(out + n, p, l);
                n += l;
                out[n] = 0;
        }
        va_end(ap);
        *len = n;
        return out;
}

/* leaf + its key, ca.pem = bundle (NULL: none), intermediates file = inter_pem
 * (NULL with configured: unreadable; configured false: not configured). */
static void run(const TlCert *leaf, const char *bundle, size_t bl, bool configured, const char *inter_pem, size_t il,
                PkiAssessment *a) {
        size_t cl, kl;
        _cleanup_free_ char *c = tl_cert_pem(leaf->cert, &cl), *k = tl_key_pem(leaf->key, "pkcs8", &kl);
        PkiBlob cb = { "/pki/client.crt", c, cl }, kb = { "/pki/client.key", k, kl };
        PkiBlob ab = { bundle ? "/pki/ca.pem" : NULL, bundle, bl };
        PkiBlob ib = { configured ? "/pki/chain.pem" : NULL, inter_pem, il };
        *a = (PkiAssessment) {};
        pki_assess_chain(&cb, &kb, &ab, &ib, now_usec(), a);
}

static void dump(const PkiAssessment *a) {
        for (size_t i = 0; i < a->findings.n; i++)
                print_message("finding: %s: %s (fix: %s)\n", a->findings.items[i].code, a->findings.items[i].message,
                              a->findings.items[i].fix);
}

static void assert_sends(const PkiAssessment *a, size_t n, ...) {
        va_list ap;
        assert_non_null(a->send_chain);
        assert_int_equal(sk_X509_num(a->send_chain), n);
        va_start(ap, n);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(X509_cmp(sk_X509_value(a->send_chain, (int) i), va_arg(ap, X509 *)), 0);
        va_end(ap);
}

static void test_root_in_bundle_intermediate_in_file(void **state) {
        size_t bl, il;
        _cleanup_free_ char *b = pem_of(&bl, root.cert, NULL), *i = pem_of(&il, inter.cert, NULL);
        PkiAssessment a;

        run(&client, b, bl, true, i, il, &a);
        dump(&a);
        assert_int_equal(a.findings.n, 0);
        assert_int_equal(a.chain, CHAIN_VERIFIED);
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_VALID);
        /* the path: the intermediate from its file, then the anchor */
        assert_int_equal(a.n_links, 2);
        assert_string_equal(a.links[0].info.subject, "CN=Issuing CA");
        assert_string_equal(a.links[0].source, "intermediates");
        assert_string_equal(a.links[0].info.path, "/pki/chain.pem");
        assert_string_equal(a.links[1].info.subject, "CN=Root CA");
        assert_string_equal(a.links[1].source, "ca_bundle");
        assert_string_equal(a.ca_info.subject, "CN=Root CA");
        assert_non_null(a.inter_fingerprint);
        assert_sends(&a, 1, inter.cert);
        pki_assessment_done(&a);

        /* the leaf issued by the root directly: nothing of the file is needed */
        run(&stranger, b, bl, true, i, il, &a);
        assert_int_equal(a.chain, CHAIN_VERIFIED);
        assert_int_equal(a.n_links, 1);
        assert_sends(&a, 0);
        pki_assessment_done(&a);
}

static void test_without_intermediates_the_chain_fails(void **state) {
        size_t bl;
        _cleanup_free_ char *b = pem_of(&bl, root.cert, NULL);
        PkiAssessment a;
        const Finding *f;

        run(&client, b, bl, false, NULL, 0, &a);
        assert_int_equal(a.chain, CHAIN_FAILED);
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
        f = findings_get(&a.findings, "chain_failed");
        assert_non_null(f);
        /* names the missing issuer and where it belongs */
        assert_non_null(strstr(f->message, "CN=Issuing CA"));
        assert_non_null(strstr(f->fix, "intermediates"));
        assert_null(a.send_chain);
        pki_assessment_done(&a);

        /* configured, but the file does not hold it (another CA's chain) */
        {
                size_t il;
                _cleanup_free_ char *i = pem_of(&il, policy.cert, NULL);
                run(&client, b, bl, true, i, il, &a);
                f = findings_get(&a.findings, "chain_failed");
                assert_non_null(f);
                assert_non_null(strstr(f->message, "chain.pem"));
                assert_non_null(strstr(f->fix, "intermediates file"));
                pki_assessment_done(&a);
        }
}

static void test_careless_files(void **state) {
        size_t bl, il;
        _cleanup_free_ char *b = pem_of(&bl, root.cert, NULL);
        PkiAssessment a;

        /* root included, wrong order: verified, the root named and not sent */
        {
                _cleanup_free_ char *i = pem_of(&il, root.cert, inter.cert, NULL);
                run(&client, b, bl, true, i, il, &a);
                dump(&a);
                assert_int_equal(a.chain, CHAIN_VERIFIED);
                assert_int_equal(pki_assessment_verdict(&a), VERDICT_VALID);
                assert_true(findings_has(&a.findings, "intermediates_has_root"));
                assert_int_equal(findings_get(&a.findings, "intermediates_has_root")->severity, HEALTH_WARNING);
                assert_int_equal(a.findings.n, 1);
                assert_sends(&a, 1, inter.cert);
                pki_assessment_done(&a);
        }
        /* two levels, reversed: sent in path order */
        {
                _cleanup_free_ char *i = pem_of(&il, inter.cert, policy.cert, NULL);
                run(&deep, b, bl, true, i, il, &a);
                assert_int_equal(a.findings.n, 0);
                assert_int_equal(a.n_links, 3);
                assert_string_equal(a.links[0].info.subject, "CN=Policy CA");
                assert_sends(&a, 2, policy.cert, inter.cert);
                pki_assessment_done(&a);
        }
        /* a client certificate (not a CA) and the leaf itself in the file */
        {
                _cleanup_free_ char *i = pem_of(&il, client2.cert, inter.cert, client.cert, NULL);
                const Finding *f;
                run(&client, b, bl, true, i, il, &a);
                dump(&a);
                assert_int_equal(pki_assessment_verdict(&a), VERDICT_VALID);
                f = findings_get(&a.findings, "intermediates_not_ca");
                assert_non_null(f);
                assert_non_null(strstr(f->message, "CN=vm2"));
                assert_non_null(strstr(f->message, "chain.pem"));
                assert_true(findings_has(&a.findings, "intermediates_has_leaf"));
                assert_sends(&a, 1, inter.cert);
                pki_assessment_done(&a);
        }
        /* only a non-CA certificate: the chain fails, naming the issuer */
        {
                _cleanup_free_ char *i = pem_of(&il, client2.cert, NULL);
                run(&client, b, bl, true, i, il, &a);
                assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
                assert_true(findings_has(&a.findings, "chain_failed"));
                assert_true(findings_has(&a.findings, "intermediates_not_ca"));
                pki_assessment_done(&a);
        }
}

static void test_unusable_file(void **state) {
        size_t bl, kl;
        _cleanup_free_ char *b = pem_of(&bl, root.cert, NULL), *k = tl_key_pem(client.key, "pkcs8", &kl);
        _cleanup_free_ char *junk = strdup("-----BEGIN CERTIFICATE-----\nMIIB");
        PkiAssessment a;
        const Finding *f;

        /* unreadable (the caller's finding): no chain verdict, nothing to send */
        run(&client, b, bl, true, NULL, 0, &a);
        assert_int_equal(a.chain, CHAIN_UNVERIFIED);
        assert_true(a.inter_configured);
        assert_null(a.inter);
        assert_null(a.send_chain);
        assert_false(findings_has(&a.findings, "chain_failed"));
        pki_assessment_done(&a);

        /* half written: transient, like a half-written certificate */
        run(&client, b, bl, true, junk, strlen(junk), &a);
        f = findings_get(&a.findings, "intermediates_unparseable");
        assert_non_null(f);
        assert_int_equal(f->kind, FINDING_TRANSIENT);
        assert_string_equal(f->file, "/pki/chain.pem");
        assert_non_null(strstr(f->message, "chain.pem"));
        assert_non_null(strstr(f->fix, "intermediates"));
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INCOMPLETE);
        assert_false(findings_has(&a.findings, "chain_failed"));
        pki_assessment_done(&a);

        /* a private key in it: never normal */
        run(&client, b, bl, true, k, kl, &a);
        assert_true(findings_has(&a.findings, "intermediates_is_key"));
        assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
        pki_assessment_done(&a);
}

static void test_expired_intermediate(void **state) {
        size_t bl, il;
        _cleanup_free_ char *b = pem_of(&bl, root.cert, NULL);
        TlCert old = { .cert = X509_dup(inter.cert) };
        PkiAssessment a;
        const Finding *f;

        /* the same CA key, certified for a period that is over */
        assert_int_equal(ASN1_TIME_set_string_X509(X509_getm_notBefore(old.cert), "20200101000000Z"), 1);
        assert_int_equal(ASN1_TIME_set_string_X509(X509_getm_notAfter(old.cert), "20210101000000Z"), 1);
        ASN1_INTEGER_set(X509_get_serialNumber(old.cert), 0x77);
        assert_true(X509_sign(old.cert, root.key, EVP_sha256()) > 0);

        /* only the expired one: the chain fails, naming it and its file */
        {
                _cleanup_free_ char *i = pem_of(&il, old.cert, NULL);
                run(&client, b, bl, true, i, il, &a);
                dump(&a);
                f = findings_get(&a.findings, "chain_failed");
                assert_non_null(f);
                assert_non_null(strstr(f->message, "CN=Issuing CA in chain.pem expired at 2021-01-01"));
                assert_non_null(strstr(f->fix, "renewed intermediate"));
                assert_int_equal(pki_assessment_verdict(&a), VERDICT_INVALID);
                pki_assessment_done(&a);
        }
        /* renewed one appended, the old one left in front: the valid one is
         * used and sent, the stale one named */
        {
                _cleanup_free_ char *i = pem_of(&il, old.cert, inter.cert, NULL);
                run(&client, b, bl, true, i, il, &a);
                dump(&a);
                assert_int_equal(pki_assessment_verdict(&a), VERDICT_VALID);
                f = findings_get(&a.findings, "intermediates_expired");
                assert_non_null(f);
                assert_int_equal(f->severity, HEALTH_WARNING);
                assert_non_null(strstr(f->message, "not used by the chain"));
                assert_sends(&a, 1, inter.cert);
                pki_assessment_done(&a);
        }
        /* no bundle to verify against: the whole file goes, the stale one warned */
        {
                _cleanup_free_ char *i = pem_of(&il, old.cert, inter.cert, NULL);
                run(&client, NULL, 0, true, i, il, &a);
                assert_int_equal(a.chain, CHAIN_UNVERIFIED);
                assert_int_equal(pki_assessment_verdict(&a), VERDICT_VALID);
                assert_true(findings_has(&a.findings, "intermediates_expired"));
                assert_sends(&a, 2, old.cert, inter.cert);
                pki_assessment_done(&a);
        }
        X509_free(old.cert);
}

/* The pair machine keeps the last verified path while the file is broken
 * and notices a renewed intermediate. */
static void test_pair_follows_the_chain(void **state) {
        size_t bl, il, il2;
        _cleanup_free_ char *b = pem_of(&bl, root.cert, NULL), *i = pem_of(&il, inter.cert, NULL);
        _cleanup_free_ char *renewed_pem = NULL;
        X509 *renewed = X509_dup(inter.cert);
        PkiAssessment a;
        PkiPair p;
        PairUpdate u;
        uint64_t mono = 1000000;
        char *old_fp;

        ASN1_INTEGER_set(X509_get_serialNumber(renewed), 0x99);
        X509_gmtime_adj(X509_getm_notAfter(renewed), 2000L * 86400);
        assert_true(X509_sign(renewed, root.key, EVP_sha256()) > 0);
        renewed_pem = pem_of(&il2, renewed, NULL);

        pki_pair_init(&p);
        run(&client, b, bl, true, i, il, &a);
        assert_int_equal(pki_pair_update(&p, &a, now_usec(), mono, 60 * USEC_PER_SEC, &u), 0);
        assert_true(u.activated);
        assert_false(u.chain_changed);
        assert_int_equal(p.chain, CHAIN_VERIFIED);
        assert_int_equal(p.n_links, 2);
        old_fp = strdup(p.links[0].info.fingerprint_sha256);
        pki_assessment_done(&a);

        /* the file half rewritten: renewal pending, the path stays */
        run(&client, b, bl, true, "-----BEGIN CERTIFICATE-----\n", 28, &a);
        assert_int_equal(pki_pair_update(&p, &a, now_usec(), mono + 1, 60 * USEC_PER_SEC, &u), 0);
        assert_int_equal(p.state, PAIR_STATE_RENEWAL_PENDING);
        assert_true(p.have_active);
        assert_int_equal(p.chain, CHAIN_VERIFIED);
        assert_int_equal(p.n_links, 2);
        assert_string_equal(p.links[0].info.fingerprint_sha256, old_fp);
        assert_non_null(strstr(findings_get(&p.findings, "renewal_pending")->message, "chain.pem"));
        pki_assessment_done(&a);

        /* the renewed intermediate: same pair, new path */
        run(&client, b, bl, true, renewed_pem, il2, &a);
        assert_int_equal(pki_pair_update(&p, &a, now_usec(), mono + 2, 60 * USEC_PER_SEC, &u), 0);
        assert_int_equal(p.state, PAIR_STATE_OK);
        assert_false(u.activated);
        assert_true(u.chain_changed);
        assert_int_equal(p.generation, 1);
        assert_string_equal(p.links[0].info.serial, "99");
        assert_string_not_equal(p.links[0].info.fingerprint_sha256, old_fp);
        pki_assessment_done(&a);

        /* the same again: no news */
        run(&client, b, bl, true, renewed_pem, il2, &a);
        assert_int_equal(pki_pair_update(&p, &a, now_usec(), mono + 3, 60 * USEC_PER_SEC, &u), 0);
        assert_false(u.chain_changed);
        assert_false(u.findings_changed);
        pki_assessment_done(&a);

        free(old_fp);
        X509_free(renewed);
        pki_pair_done(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_root_in_bundle_intermediate_in_file),
                cmocka_unit_test(test_without_intermediates_the_chain_fails),
                cmocka_unit_test(test_careless_files),
                cmocka_unit_test(test_unusable_file),
                cmocka_unit_test(test_expired_intermediate),
                cmocka_unit_test(test_pair_follows_the_chain),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
