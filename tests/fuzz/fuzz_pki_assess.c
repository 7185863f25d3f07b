/* SPDX-License-Identifier: MIT */
/* Certificate/key assessment (agent/pki_assess.c) on PEM and DER, RSA and
 * EC input. The input is the certificate file, then the key file, then
 * optionally the CA bundle and the [credentials] intermediates file,
 * separated by the line "@@AGV@@". Invariants: a pair judged valid has a
 * parsed certificate and matching key, and is within its validity period by
 * OpenSSL's own clock comparison; every finding has a code and a message; a
 * verified chain's path ends at a bundle certificate, and what would be sent
 * as X-Amz-X509-Chain holds no self-signed certificate and not the leaf. */
#include <time.h>

#include "fuzz.h"

#include "log.h"

#include <openssl/x509v3.h>

#include "pki_assess.h"

#define SEP "\n@@AGV@@\n"

static time_t now_sec;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        log_set_max_level(LOG_ERR); /* a warning per input would drown the findings */
        /* the seeds are generated at build time, valid from then on */
        now_sec = time(NULL);
        return 0;
}

static char *terminated(const uint8_t *d, size_t n) {
        char *s = malloc(n + 1);
        if (!s)
                abort();
        memcpy(s, d, n);
        s[n] = '\0';
        return s;
}

static void check_findings(const Findings *f) {
        for (size_t i = 0; i < f->n; i++) {
                FUZZ_CHECK(f->items[i].code && f->items[i].code[0]);
                FUZZ_CHECK(f->items[i].message && f->items[i].message[0]);
                FUZZ_CHECK(f->items[i].fix);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *cert, *key, *ca = NULL, *inter = NULL;
        size_t cert_len, key_len = 0, ca_len = 0, inter_len = 0;
        PkiAssessment a = {};
        bool have_ca, have_inter;

        cert = fuzz_next_part(&data, &size, SEP, &cert_len);
        key = fuzz_next_part(&data, &size, SEP, &key_len);
        have_ca = size > 0;
        if (have_ca)
                ca = fuzz_next_part(&data, &size, SEP, &ca_len);
        have_inter = size > 0;
        if (have_inter)
                inter = fuzz_next_part(&data, &size, SEP, &inter_len);

        PkiBlob bc = { "/fuzz/client.crt", cert, cert_len };
        PkiBlob bk = { "/fuzz/client.key", key, key_len };
        PkiBlob bca = { have_ca ? "/fuzz/ca.crt" : NULL, ca, ca_len };
        PkiBlob bi = { have_inter ? "/fuzz/chain.pem" : NULL, inter, inter_len };

        pki_assess_chain(&bc, &bk, &bca, &bi, (uint64_t) now_sec * USEC_PER_SEC, &a);
        check_findings(&a.findings);
        if (a.chain == CHAIN_VERIFIED) {
                /* no path above the leaf only when the leaf is itself in the
                 * bundle (a CA certificate as client.crt: cert_is_ca) */
                bool leaf_trusted = false;
                for (int i = 0; i < sk_X509_num(a.ca); i++)
                        leaf_trusted = leaf_trusted || X509_cmp(sk_X509_value(a.ca, i), a.cert) == 0;
                FUZZ_CHECK(a.n_links >= 1 || leaf_trusted);
                FUZZ_CHECK(a.n_links == 0 || streq(a.links[a.n_links - 1].source, "ca_bundle"));
        } else
                FUZZ_CHECK(a.n_links == 0);
        for (int i = 0; a.send_chain && i < sk_X509_num(a.send_chain); i++) {
                X509 *x = sk_X509_value(a.send_chain, i);
                FUZZ_CHECK(!a.cert || X509_cmp(x, a.cert) != 0 || a.chain != CHAIN_VERIFIED);
                FUZZ_CHECK(a.chain != CHAIN_VERIFIED || !(X509_get_extension_flags(x) & EXFLAG_SS));
        }
        FUZZ_CHECK(!a.send_chain || have_inter);
        if (pki_assessment_verdict(&a) == VERDICT_VALID) {
                FUZZ_CHECK(a.cert && a.key && a.key_matches);
                FUZZ_CHECK(X509_cmp_time(X509_get0_notBefore(a.cert), &now_sec) < 0);
                FUZZ_CHECK(X509_cmp_time(X509_get0_notAfter(a.cert), &now_sec) > 0);
                FUZZ_CHECK(a.cert_key_id && a.key_id && streq(a.cert_key_id, a.key_id));
        }
        if (a.key) {
                char *t = pki_key_type(a.key), *id = pki_pubkey_id(a.key);
                free(t);
                free(id);
        }
        if (a.ca && key_len > 0)
                (void) pki_blob_is_ca_key(key, key_len, a.ca);
        pki_assessment_done(&a);

        /* The building blocks on every part, as `check` and the scan use them. */
        const uint8_t *parts[] = { cert, key, ca, inter };
        size_t lens[] = { cert_len, key_len, ca_len, inter_len };
        for (size_t i = 0; i < (have_inter ? 4u : have_ca ? 3u : 2u); i++) {
                Findings f = {};
                X509 *leaf = NULL;
                STACK_OF(X509) *extra = NULL, *bundle = NULL;
                EVP_PKEY *k = NULL;

                if (pki_parse_cert(parts[i], lens[i], "/fuzz/x.crt", &leaf, &extra, &f) >= 0 && leaf) {
                        CertInfo ci = {};
                        if (pki_cert_info(leaf, "/fuzz/x.crt", &ci) >= 0)
                                cert_info_done(&ci);
                }
                X509_free(leaf);
                sk_X509_pop_free(extra, X509_free);
                (void) pki_parse_key(parts[i], lens[i], "/fuzz/x.key", &k, &f);
                EVP_PKEY_free(k);
                (void) pki_parse_bundle(parts[i], lens[i], "/fuzz/ca.crt", &bundle, &f);
                sk_X509_pop_free(bundle, X509_free);
                bundle = NULL;
                (void) pki_parse_intermediates(parts[i], lens[i], "/fuzz/chain.pem", &bundle, &f);
                sk_X509_pop_free(bundle, X509_free);
                check_findings(&f);
                findings_done(&f);
        }
        char *name = terminated(cert, cert_len < 256 ? cert_len : 256);
        (void) pki_name_looks_like_ca_key(name);
        free(name);

        /* No state may carry over between inputs. */
        pki_parse_cache_flush();
        return 0;
}
