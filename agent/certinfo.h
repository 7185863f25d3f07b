/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/* What the agent knows of one certificate, shared by the certificate
 * watcher (which fills it), the alerting (which plans on not_after) and the
 * status output. Times are Unix microseconds. */
typedef struct CertInfo {
        char *path;
        char *serial;             /* uppercase hex, no separators */
        char *fingerprint_sha256; /* lowercase hex, colon-free */
        char *subject;            /* RFC 2253 one-line form */
        char *issuer;
        /* signed: ASN.1 times run from year 0 to 9999, before and after
         * the epoch; there is no "unknown" value */
        int64_t not_before;
        int64_t not_after;
        char *key_type;           /* "RSA-2048", "EC-P256" ... */
        unsigned generation;      /* activation count, client pair only */
        uint64_t activated_at;
} CertInfo;

void cert_info_done(CertInfo *ci);
int cert_info_copy(const CertInfo *src, CertInfo *dst);

/* Payload of EVENT_CERT_ACTIVATED: emitted at the first assessment, on each
 * new active pair, and when the CA bundle changes. */
typedef struct CertActivation {
        const CertInfo *client;  /* the active client certificate, never NULL */
        const CertInfo *ca;      /* the CA certificate of the bundle, or NULL */
        const CertInfo *previous;/* the client certificate it replaced, or NULL */
        struct x509_st *cert;    /* the active pair's parsed objects (OpenSSL X509 and */
        struct evp_pkey_st *key; /* EVP_PKEY), borrowed: up-ref to keep; NULL if unknown */
} CertActivation;
