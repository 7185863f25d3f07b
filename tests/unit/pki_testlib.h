/* SPDX-License-Identifier: MIT */
#pragma once

/* Test PKIs made at test time with the OpenSSL API: a CA shaped like the
 * deployment guide's and client certificates with whatever flaw a test
 * needs. No key is ever committed. */

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "macro.h"

#define TL_UNUSED __attribute__((unused))

typedef struct TlCert {
        X509 *cert;
        EVP_PKEY *key;
} TlCert;

typedef struct TlOpts {
        const char *key;     /* "rsa2048" (default), "rsa1024", "p256", "p384", "p521" */
        long nb_offset;      /* notBefore = now + nb_offset seconds (default -300) */
        long days;           /* validity from now, default 365; negative: expired */
        bool ca;             /* basicConstraints CA:TRUE */
        bool no_ku, no_eku;
        bool ku_wrong;       /* keyEncipherment only */
        bool ca_bc_not_critical, ca_no_certsign;
        const char *cn;
} TlOpts;

static TL_UNUSED EVP_PKEY *tl_key(const char *kind) {
        if (!kind || strneq(kind, "rsa", 3))
                return EVP_RSA_gen(kind ? (unsigned) atoi(kind + 3) : 2048);
        if (streq(kind, "p256"))
                return EVP_EC_gen("P-256");
        if (streq(kind, "p384"))
                return EVP_EC_gen("P-384");
        return EVP_EC_gen("P-521");
}

static TL_UNUSED void tl_ext(X509 *x, X509 *issuer, int nid, const char *value) {
        X509V3_CTX ctx;
        X509_EXTENSION *e;
        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (e) {
                X509_add_ext(x, e, -1);
                X509_EXTENSION_free(e);
        }
}

static unsigned long tl_serial = 0x1000;

/* issuer NULL: self-signed. */
static TL_UNUSED TlCert tl_make(const TlOpts *o, const TlCert *issuer) {
        TlCert c = {};
        X509_NAME *n;
        long days = o->days ? o->days : 365;

        c.key = tl_key(o->key);
        c.cert = X509_new();
        X509_set_version(c.cert, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(c.cert), (long) ++tl_serial);
        X509_gmtime_adj(X509_getm_notBefore(c.cert), o->nb_offset ? o->nb_offset : -300);
        if (days < 0)
                X509_gmtime_adj(X509_getm_notAfter(c.cert), days * 86400L);
        else
                X509_gmtime_adj(X509_getm_notAfter(c.cert), days * 86400L);
        if (days < 0)
                X509_gmtime_adj(X509_getm_notBefore(c.cert), (days - 30) * 86400L);
        X509_set_pubkey(c.cert, c.key);
        n = X509_get_subject_name(c.cert);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *) (o->cn ? o->cn : (o->ca ? "Test CA" : "vm")), -1, -1, 0);
        X509_set_issuer_name(c.cert, issuer ? X509_get_subject_name(issuer->cert) : n);
        if (o->ca) {
                tl_ext(c.cert, issuer ? issuer->cert : c.cert, NID_basic_constraints,
                       o->ca_bc_not_critical ? "CA:TRUE" : "critical,CA:TRUE");
                if (!o->no_ku)
                        tl_ext(c.cert, issuer ? issuer->cert : c.cert, NID_key_usage,
                               o->ca_no_certsign ? "critical,digitalSignature" : "critical,keyCertSign,cRLSign,digitalSignature");
        } else {
                tl_ext(c.cert, issuer ? issuer->cert : c.cert, NID_basic_constraints, "CA:FALSE");
                if (!o->no_ku)
                        tl_ext(c.cert, issuer ? issuer->cert : c.cert, NID_key_usage,
                               o->ku_wrong ? "critical,keyEncipherment" : "critical,digitalSignature");
                if (!o->no_eku)
                        tl_ext(c.cert, issuer ? issuer->cert : c.cert, NID_ext_key_usage, "clientAuth");
        }
        X509_sign(c.cert, issuer ? issuer->key : c.key, EVP_sha256());
        return c;
}

static TL_UNUSED void tl_free(TlCert *c) {
        X509_free(c->cert);
        EVP_PKEY_free(c->key);
        *c = (TlCert) {};
}

/* Serialisations; the result is malloc()ed and NUL-terminated. */
static TL_UNUSED char *tl_bio_take(BIO *b, size_t *len) {
        char *p, *s;
        long l = BIO_get_mem_data(b, &p);
        s = malloc((size_t) l + 1);
        memcpy(s, p, (size_t) l);
        s[l] = 0;
        *len = (size_t) l;
        BIO_free(b);
        return s;
}

static TL_UNUSED char *tl_cert_pem(X509 *x, size_t *len) {
        BIO *b = BIO_new(BIO_s_mem());
        PEM_write_bio_X509(b, x);
        return tl_bio_take(b, len);
}

static TL_UNUSED char *tl_cert_der(X509 *x, size_t *len) {
        BIO *b = BIO_new(BIO_s_mem());
        i2d_X509_bio(b, x);
        return tl_bio_take(b, len);
}

/* fmt: "pkcs8", "traditional" (PKCS#1 / SEC1), "der", "enc-pkcs8", "enc-traditional" */
static TL_UNUSED char *tl_key_pem(EVP_PKEY *k, const char *fmt, size_t *len) {
        BIO *b = BIO_new(BIO_s_mem());
        if (streq(fmt, "pkcs8"))
                PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
        else if (streq(fmt, "traditional"))
                PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL);
        else if (streq(fmt, "der"))
                i2d_PrivateKey_bio(b, k);
        else if (streq(fmt, "enc-pkcs8"))
                PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_256_cbc(), "secret", 6, NULL, NULL);
        else
                PEM_write_bio_PrivateKey_traditional(b, k, EVP_aes_256_cbc(), (unsigned char *) "secret", 6, NULL, NULL);
        return tl_bio_take(b, len);
}
