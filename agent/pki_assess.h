/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certinfo.h"
#include "macro.h"
#include "status.h"

/* Pure assessment of a certificate/key pair: everything here works on
 * in-memory buffers and a given `now`, so the unit tests drive it without
 * files or a daemon. Reading the files safely is pki_files.c's job. */

typedef enum FindingKind {
        FINDING_PAIR,      /* the pair on disk must not be activated */
        FINDING_TRANSIENT, /* ditto, but may be a renewal half-way through */
        FINDING_OTHER,     /* reported only: permissions, CA bundle, CA key */
} FindingKind;

typedef struct Finding {
        char *code;      /* stable snake_case, documented in docs/pki.md */
        Health severity;
        FindingKind kind;
        char *file;      /* the file it is about, or NULL */
        char *message;   /* what is wrong, naming the file */
        char *fix;       /* what to do about it */
} Finding;

typedef struct Findings {
        Finding *items;
        size_t n;
} Findings;

void findings_add(Findings *f, Health severity, FindingKind kind, const char *code, const char *file,
                  const char *fix, const char *fmt, ...) _printf_(7, 8);
void findings_done(Findings *f);
bool findings_has(const Findings *f, const char *code);
const Finding *findings_get(const Findings *f, const char *code);
Health findings_worst(const Findings *f);
/* The same codes, files and severities in the same order. */
bool findings_equal(const Findings *a, const Findings *b);
void findings_move(Findings *dst, Findings *src); /* append src, empty src */
int findings_copy(const Findings *src, Findings *dst); /* dst must be empty; -ENOMEM */

typedef enum ChainStatus {
        CHAIN_UNVERIFIED, /* no CA bundle (or unusable) */
        CHAIN_VERIFIED,
        CHAIN_FAILED,
} ChainStatus;
const char *chain_status_to_string(ChainStatus c);

/* One file as read by the caller: data == NULL means it could not be read
 * (the reason is already a finding). */
typedef struct PkiBlob {
        const char *path;
        const void *data;
        size_t len;
} PkiBlob;

/* One certificate of the verified path above the leaf, and where it came
 * from: "intermediates" ([credentials] intermediates), "certificate" (after
 * the leaf in its file) or "ca_bundle". */
typedef struct ChainLink {
        CertInfo info;
        const char *source;         /* static string */
} ChainLink;
void chain_links_free(ChainLink *l, size_t n);
int chain_links_copy(const ChainLink *src, size_t n, ChainLink **ret);

typedef struct PkiAssessment {
        X509 *cert;                 /* leaf, NULL if unparseable */
        STACK_OF(X509) *cert_extra; /* rest of a chain file */
        EVP_PKEY *key;
        STACK_OF(X509) *ca;         /* CA bundle, NULL if none */
        STACK_OF(X509) *inter;      /* [credentials] intermediates as parsed, NULL if none */
        bool inter_configured;      /* ... configured (then inter NULL means unusable) */
        /* what goes to AWS as X-Amz-X509-Chain: the verified path between
         * leaf and anchor (file order, stray and self-signed certificates
         * dropped), or the whole file when the chain cannot be verified */
        STACK_OF(X509) *send_chain;
        char *inter_fingerprint;    /* sha256 of the intermediates file, NULL if none */
        ChainLink *links;           /* the verified path above the leaf */
        size_t n_links;
        bool key_matches;           /* cert and key parsed and belong together */
        ChainStatus chain;
        char *cert_key_id;          /* sha256 of the certificate's SubjectPublicKeyInfo */
        char *key_id;               /* sha256 of the private key's public half */
        CertInfo info;              /* of the leaf, when parsed */
        CertInfo ca_info;           /* of the anchor (or first bundle cert) */
        bool have_ca_info;
        char *ca_fingerprint;       /* of the whole bundle, NULL if none */
        Findings findings;
} PkiAssessment;

void pki_assessment_done(PkiAssessment *a);

/* Assess cert + key (+ CA bundle when ca->path != NULL) at `now` (Unix usec).
 * ca->path == NULL: no bundle configured; ca->data == NULL with path set:
 * configured but unreadable (the caller recorded why). Findings are added to
 * a->findings (which may already hold the caller's file findings). */
void pki_assess(const PkiBlob *cert, const PkiBlob *key, const PkiBlob *ca, uint64_t now, PkiAssessment *a);
/* The same with [credentials] intermediates: untrusted certificates the
 * chain may pass through (leaf -> intermediates -> an anchor of the bundle).
 * inter == NULL or inter->path == NULL: none configured; inter->data == NULL:
 * configured but unreadable (the caller recorded why). */
void pki_assess_chain(const PkiBlob *cert, const PkiBlob *key, const PkiBlob *ca, const PkiBlob *inter,
                      uint64_t now, PkiAssessment *a);

/* Worst pair-blocking verdict of an assessment. */
typedef enum PairVerdict {
        VERDICT_VALID,      /* consistent, no blocking finding */
        VERDICT_INCOMPLETE, /* only transient blockers: missing, partial, mismatch */
        VERDICT_INVALID,    /* a definitive blocker */
} PairVerdict;
PairVerdict pki_assessment_verdict(const PkiAssessment *a);

/* Parsed certificates and keys are cached by content hash (16 entries):
 * unchanged files cost a SHA-256, not an OpenSSL decoder run. */
void pki_parse_cache_flush(void);
/* Around every pass: entries the pass did not use (a replaced or removed
 * file) are dropped at its end, so no parsed private key outlives its file. */
void pki_parse_cache_begin_pass(void);
void pki_parse_cache_end_pass(void);
size_t pki_parse_cache_keys(void); /* parsed private keys held (tests) */
/* Drop a key from the cache (a configured file turned out to be a CA key). */
void pki_parse_cache_forget(const void *data, size_t len);

/* Building blocks, exported for the tests and `check`. */
int pki_parse_cert(const void *data, size_t len, const char *path, X509 **ret_leaf,
                   STACK_OF(X509) **ret_extra, Findings *f);
int pki_parse_key(const void *data, size_t len, const char *path, EVP_PKEY **ret, Findings *f);
/* The SHA-256 (hex) of the first certificate in data (PEM or DER), parsed
 * like pki_parse_cert() but never cached: bytes a client sent. Negative
 * errno with *why (malloc'd, names `name`) when it holds none. */
int pki_cert_fingerprint_of(const void *data, size_t len, const char *name, char **ret, char **why);
int pki_parse_bundle(const void *data, size_t len, const char *path, STACK_OF(X509) **ret, Findings *f);
/* The intermediates file: every certificate in it, or findings naming the
 * file (intermediates_unparseable, intermediates_is_key). */
int pki_parse_intermediates(const void *data, size_t len, const char *path, STACK_OF(X509) **ret, Findings *f);
int pki_cert_info(X509 *x, const char *path, CertInfo *ret);
char *pki_key_type(EVP_PKEY *k);        /* "RSA-2048", "EC-P256" ... */
char *pki_pubkey_id(EVP_PKEY *k);       /* sha256 hex of the DER SubjectPublicKeyInfo */
/* A file name that looks like a CA private key (ca.key, ca-key.pem, rootCA.key ...). */
bool pki_name_looks_like_ca_key(const char *name);
/* data is a private key belonging to one of the CA certificates. */
bool pki_blob_is_ca_key(const void *data, size_t len, STACK_OF(X509) *ca);
/* An ASN.1 time as Unix microseconds over its whole range (years 0-9999,
 * before 1970 too); -EINVAL when it is not a valid time. */
int pki_asn1_time_usec(const ASN1_TIME *t, int64_t *ret);
int64_t pki_days_from_civil(int64_t y, unsigned m, unsigned d);
