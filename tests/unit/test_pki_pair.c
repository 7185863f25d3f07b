/* SPDX-License-Identifier: MIT */
/* The active-pair state machine: renewal half-way, grace, rejection,
 * expiry and CA changes, driven with explicit clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "pki_pair.h"
#include "pki_testlib.h"

#define GRACE (60 * USEC_PER_SEC)

static TlCert ca, ca2, old_pair, new_pair, expired;
static uint64_t now_real;

static int setup(void **state) {
        ca = tl_make(&(TlOpts) { .ca = true, .days = 3650 }, NULL);
        ca2 = tl_make(&(TlOpts) { .ca = true, .cn = "Next CA", .days = 3650 }, NULL);
        old_pair = tl_make(&(TlOpts) { .days = 10 }, &ca);
        new_pair = tl_make(&(TlOpts) { .days = 365 }, &ca);
        expired = tl_make(&(TlOpts) { .days = -1 }, &ca);
        now_real = (uint64_t) time(NULL) * USEC_PER_SEC;
        return 0;
}

static int teardown(void **state) {
        tl_free(&ca);
        tl_free(&ca2);
        tl_free(&old_pair);
        tl_free(&new_pair);
        tl_free(&expired);
        return 0;
}

/* Assess "disk" = cert of c + key k (+ bundle) at time t. */
static void disk(const TlCert *c, EVP_PKEY *k, const TlCert *bundle, uint64_t t, PkiAssessment *a) {
        size_t cl = 0, kl = 0, bl = 0;
        _cleanup_free_ char *cp = c ? tl_cert_pem(c->cert, &cl) : NULL;
        _cleanup_free_ char *kp = k ? tl_key_pem(k, "pkcs8", &kl) : NULL;
        _cleanup_free_ char *bp = bundle ? tl_cert_pem(bundle->cert, &bl) : NULL;
        PkiBlob cb = { "/pki/client.crt", cp, cl }, kb = { "/pki/client.key", kp, kl };
        PkiBlob bb = { "/pki/ca.pem", bp, bl };
        *a = (PkiAssessment) {};
        if (!c)
                findings_add(&a->findings, HEALTH_CRITICAL, FINDING_TRANSIENT, "file_missing", "/pki/client.crt", "install it",
                             "client.crt does not exist");
        pki_assess(&cb, &kb, &bb, t, a);
}

static void step(PkiPair *p, const TlCert *c, EVP_PKEY *k, const TlCert *bundle, uint64_t mono, PairUpdate *u) {
        PkiAssessment a;
        disk(c, k, bundle, now_real, &a);
        assert_int_equal(pki_pair_update(p, &a, now_real, mono, GRACE, u), 0);
        pki_assessment_done(&a);
}

static void test_guide_renewal(void **state) {
        PkiPair p;
        PairUpdate u;
        const Finding *f;

        pki_pair_init(&p);
        step(&p, &old_pair, old_pair.key, &ca, 1000, &u);
        assert_true(u.activated);
        assert_int_equal(p.generation, 1);
        assert_int_equal(p.state, PAIR_STATE_OK);
        assert_false(p.have_previous);
        _cleanup_free_ char *old_serial = strdup(p.active.serial);

        /* an ATTRIB or rescan with nothing new: no activation, no change */
        step(&p, &old_pair, old_pair.key, &ca, 2000, &u);
        assert_false(u.activated);
        assert_false(u.findings_changed);

        /* install -m 444 new client.crt: new cert, old key */
        step(&p, &new_pair, old_pair.key, &ca, 3000, &u);
        assert_false(u.activated);
        assert_int_equal(p.state, PAIR_STATE_RENEWAL_PENDING);
        assert_int_equal(findings_worst(&p.findings), HEALTH_WARNING);
        f = findings_get(&p.findings, "renewal_pending");
        assert_non_null(f);
        assert_non_null(strstr(f->message, "client.key still belongs to the previous certificate"));
        assert_int_equal(u.grace_deadline, 3000 + GRACE);
        assert_string_equal(p.active.serial, old_serial); /* last good pair stays */
        assert_true(p.have_candidate);

        /* the key file is half written: still pending, same deadline */
        {
                PkiAssessment a;
                size_t cl;
                _cleanup_free_ char *cp = tl_cert_pem(new_pair.cert, &cl);
                PkiBlob cb = { "/pki/client.crt", cp, cl }, kb = { "/pki/client.key", "-----BEGIN PRIVATE KEY-----\nMIIE", 32 };
                PkiBlob bb = { NULL, NULL, 0 };
                a = (PkiAssessment) {};
                pki_assess(&cb, &kb, &bb, now_real, &a);
                assert_int_equal(pki_pair_update(&p, &a, now_real, 4000, GRACE, &u), 0);
                pki_assessment_done(&a);
                assert_int_equal(p.state, PAIR_STATE_RENEWAL_PENDING);
                assert_int_equal(u.grace_deadline, 3000 + GRACE);
                assert_int_equal(findings_worst(&p.findings), HEALTH_WARNING);
        }

        /* install -m 440 new client.key: consistent, activated at once */
        step(&p, &new_pair, new_pair.key, &ca, 5000, &u);
        assert_true(u.activated);
        assert_int_equal(p.generation, 2);
        assert_int_equal(p.active.generation, 2);
        assert_int_equal(p.state, PAIR_STATE_OK);
        assert_true(p.have_previous);
        assert_string_equal(p.previous.serial, old_serial);
        assert_string_not_equal(p.active.serial, old_serial);
        assert_int_equal(u.grace_deadline, 0);
        assert_int_equal(p.findings.n, 0);
        assert_false(p.have_candidate);

        /* chown root:group: ATTRIB, nothing new */
        step(&p, &new_pair, new_pair.key, &ca, 6000, &u);
        assert_false(u.activated);
        assert_int_equal(p.generation, 2);
        pki_pair_done(&p);
}

static void test_grace_expires(void **state) {
        PkiPair p;
        PairUpdate u;
        const Finding *f;

        pki_pair_init(&p);
        step(&p, &old_pair, old_pair.key, NULL, 0, &u);
        step(&p, &new_pair, old_pair.key, NULL, 10, &u);
        assert_int_equal(p.state, PAIR_STATE_RENEWAL_PENDING);
        step(&p, &new_pair, old_pair.key, NULL, 10 + GRACE - 1, &u);
        assert_int_equal(p.state, PAIR_STATE_RENEWAL_PENDING);
        assert_false(u.state_changed);
        step(&p, &new_pair, old_pair.key, NULL, 10 + GRACE, &u);
        assert_int_equal(p.state, PAIR_STATE_RENEWAL_INCOMPLETE);
        assert_true(u.state_changed);
        assert_int_equal(findings_worst(&p.findings), HEALTH_CRITICAL);
        f = findings_get(&p.findings, "renewal_incomplete");
        assert_non_null(f);
        assert_non_null(strstr(f->message, "client.key"));
        assert_int_equal(p.generation, 1);

        /* the other way round: the key was replaced, the certificate not */
        step(&p, &old_pair, old_pair.key, NULL, 20 + GRACE, &u);
        assert_int_equal(p.state, PAIR_STATE_OK);
        assert_false(u.activated); /* the same pair as before */
        step(&p, &old_pair, new_pair.key, NULL, 30 + GRACE, &u);
        f = findings_get(&p.findings, "renewal_pending");
        assert_non_null(f);
        assert_non_null(strstr(f->message, "client.crt is still the previous certificate"));
        pki_pair_done(&p);
}

static void test_missing_file_is_pending_not_critical(void **state) {
        PkiPair p;
        PairUpdate u;
        pki_pair_init(&p);
        step(&p, &old_pair, old_pair.key, NULL, 0, &u);
        step(&p, NULL, old_pair.key, NULL, 1, &u);
        assert_int_equal(p.state, PAIR_STATE_RENEWAL_PENDING);
        assert_int_equal(findings_worst(&p.findings), HEALTH_WARNING);
        /* the transient finding is kept with the candidate, downgraded */
        assert_true(findings_has(&p.candidate_findings, "file_missing"));
        assert_int_equal(findings_worst(&p.candidate_findings), HEALTH_WARNING);
        pki_pair_done(&p);
}

static void test_no_active_pair(void **state) {
        PkiPair p;
        PairUpdate u;
        pki_pair_init(&p);
        step(&p, NULL, NULL, NULL, 0, &u);
        assert_int_equal(p.state, PAIR_STATE_MISSING);
        assert_int_equal(findings_worst(&p.findings), HEALTH_CRITICAL);
        assert_false(p.have_active);
        step(&p, &expired, expired.key, NULL, 1, &u);
        assert_int_equal(p.state, PAIR_STATE_INVALID);
        assert_false(u.activated);
        assert_int_equal(p.generation, 0);
        pki_pair_done(&p);
}

static void test_invalid_candidate_rejected(void **state) {
        PkiPair p;
        PairUpdate u;
        pki_pair_init(&p);
        step(&p, &old_pair, old_pair.key, &ca, 0, &u);
        step(&p, &expired, expired.key, &ca, 1, &u);
        assert_int_equal(p.state, PAIR_STATE_REJECTED);
        assert_false(u.activated);
        assert_int_equal(p.generation, 1);
        assert_true(findings_has(&p.findings, "candidate_rejected"));
        assert_true(findings_has(&p.candidate_findings, "cert_expired"));
        assert_true(p.have_candidate);
        /* the old pair comes back: ok again, nothing activated */
        step(&p, &old_pair, old_pair.key, &ca, 2, &u);
        assert_int_equal(p.state, PAIR_STATE_OK);
        assert_false(u.activated);
        assert_int_equal(p.candidate_findings.n, 0);
        pki_pair_done(&p);
}

static void test_active_expires(void **state) {
        PkiPair p;
        PairUpdate u;
        PkiAssessment a;
        uint64_t later = now_real + 11 * USEC_PER_DAY;

        pki_pair_init(&p);
        step(&p, &old_pair, old_pair.key, NULL, 0, &u);
        assert_int_equal(pki_pair_next_boundary(&p, now_real), p.active.not_after + USEC_PER_SEC);

        disk(&old_pair, old_pair.key, NULL, later, &a);
        assert_int_equal(pki_pair_update(&p, &a, later, 1, GRACE, &u), 0);
        pki_assessment_done(&a);
        assert_int_equal(p.state, PAIR_STATE_INVALID);
        assert_true(findings_has(&p.findings, "cert_expired"));
        assert_true(u.state_changed);

        /* and while the disk is mid-renewal the memory of the pair expires too */
        disk(&new_pair, old_pair.key, NULL, later, &a);
        assert_int_equal(pki_pair_update(&p, &a, later, 2, GRACE, &u), 0);
        pki_assessment_done(&a);
        assert_int_equal(p.state, PAIR_STATE_RENEWAL_PENDING);
        assert_true(findings_has(&p.findings, "active_expired"));
        pki_pair_done(&p);
}

static void test_ca_change(void **state) {
        PkiPair p;
        PairUpdate u;
        pki_pair_init(&p);
        step(&p, &old_pair, old_pair.key, &ca, 0, &u);
        assert_true(u.activated);
        assert_false(u.ca_changed); /* reported with the activation */
        assert_true(p.have_ca);
        step(&p, &old_pair, old_pair.key, &ca, 1, &u);
        assert_false(u.ca_changed);
        /* a bundle holding both the old and the next CA */
        {
                size_t l1, l2, cl, kl;
                _cleanup_free_ char *b1 = tl_cert_pem(ca.cert, &l1), *b2 = tl_cert_pem(ca2.cert, &l2);
                _cleanup_free_ char *cp = tl_cert_pem(old_pair.cert, &cl), *kp = tl_key_pem(old_pair.key, "pkcs8", &kl);
                _cleanup_free_ char *both = malloc(l1 + l2 + 1);
                PkiAssessment a = {};
                memcpy(both, b2, l2);
                memcpy(both + l2, b1, l1 + 1);
                PkiBlob cb = { "/pki/client.crt", cp, cl }, kb = { "/pki/client.key", kp, kl }, bb = { "/pki/ca.pem", both, l1 + l2 };
                pki_assess(&cb, &kb, &bb, now_real, &a);
                assert_int_equal(pki_pair_update(&p, &a, now_real, 2, GRACE, &u), 0);
                pki_assessment_done(&a);
        }
        assert_true(u.ca_changed);
        assert_false(u.activated);
        assert_int_equal(p.generation, 1);
        /* the anchor is the CA that verified the chain, not the first in the file */
        assert_string_equal(p.ca.subject, "CN=Test CA");
        pki_pair_done(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_guide_renewal),
                cmocka_unit_test(test_grace_expires),
                cmocka_unit_test(test_missing_file_is_pending_not_critical),
                cmocka_unit_test(test_no_active_pair),
                cmocka_unit_test(test_invalid_candidate_rejected),
                cmocka_unit_test(test_active_expires),
                cmocka_unit_test(test_ca_change),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
