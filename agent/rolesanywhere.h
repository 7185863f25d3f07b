/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "arn.h"
#include "macro.h"

/* IAM Roles Anywhere CreateSession, the pure half: ARN syntax, the
 * SigV4-X.509 request (canonical request, string to sign, signature with the
 * certificate's key, headers), the reply and error parsing, the mapping of
 * every failure to the deployment guide's troubleshooting rows, and refresh
 * and backoff planning. No I/O: the credentials module (credentials.c) and
 * the CLI (credentials_cli.c) send what this builds. Wire format as the
 * official aws_signing_helper sends it. */

/* ---- the signed request ------------------------------------------------- */

typedef struct RaParams {
        const char *endpoint;          /* "https://rolesanywhere.eu-west-1.amazonaws.com" */
        const char *region;
        const char *trust_anchor_arn;
        const char *profile_arn;
        const char *role_arn;
        const char *role_session_name; /* NULL: none */
        unsigned duration_seconds;
        uint64_t now;                  /* Unix usec, the X-Amz-Date */
} RaParams;

typedef struct RaRequest {
        char *url;               /* endpoint/sessions?sorted query */
        char **headers;          /* "Name: value" lines to send (Authorization included) */
        char *body;
        char *canonical_request; /* kept for tests and debugging (no secret in it) */
        char *string_to_sign;
        char *serial;            /* certificate serial in decimal */
        const char *algorithm;   /* AWS4-X509-RSA-SHA256 / AWS4-X509-ECDSA-SHA256 */
} RaRequest;

void ra_request_done(RaRequest *r);

/* The algorithm for a key: NULL with *why when the key cannot sign for
 * Roles Anywhere (RSA < 2048, curves other than P-256/P-384, Ed25519 ...). */
const char *ra_key_algorithm(EVP_PKEY *key, const char **why);
/* SigV4 URI encoding of one query component (unreserved kept, rest %XX). */
char *ra_uri_encode(const char *s);
/* "YYYYMMDDTHHMMSSZ" */
void ra_amz_date(uint64_t now, char buf[static 17]);

/* Build and sign. chain: intermediates for X-Amz-X509-Chain, may be NULL or
 * empty. Returns 0, -EINVAL with *why (key unusable), -ENOMEM, -EIO. */
int ra_request_build(const RaParams *p, X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key, RaRequest *ret,
                     const char **why);

/* ---- the reply ---------------------------------------------------------- */

/* The credentials: secret. Only ever in memory; ra_credentials_done zeroes. */
typedef struct RaCredentials {
        char *access_key_id;
        char *secret_access_key;
        char *session_token;
        uint64_t expiration; /* Unix usec */
} RaCredentials;

void ra_credentials_done(RaCredentials *c); /* explicit_bzero + free */
int ra_credentials_copy(const RaCredentials *src, RaCredentials *dst);
/* The credential_process JSON (Version 1 ...), one line without newline. The
 * caller must ra_secret_free() it. */
char *ra_credentials_process_json(const RaCredentials *c);
void ra_secret_free(char *s); /* explicit_bzero(strlen) + free */

typedef enum RaErrorKind {
        RA_ERR_NONE,
        RA_ERR_TRUST_ANCHOR_DISABLED,
        RA_ERR_PROFILE_DISABLED,
        RA_ERR_UNTRUSTED_CERTIFICATE,
        RA_ERR_BASIC_CONSTRAINTS,
        RA_ERR_CLOCK_SKEW,
        RA_ERR_ACCESS_DENIED,
        RA_ERR_BAD_SIGNATURE,
        RA_ERR_NOT_FOUND,
        RA_ERR_VALIDATION,
        RA_ERR_THROTTLED,
        RA_ERR_SERVER,
        RA_ERR_HTTP,          /* another unexpected status */
        RA_ERR_BAD_RESPONSE,  /* 200 with garbage / no credentials */
        RA_ERR_DNS,
        RA_ERR_CONNECT,
        RA_ERR_TLS,
        RA_ERR_TIMEOUT,
        RA_ERR_NETWORK,       /* another transfer error */
        RA_ERR_NO_CERTIFICATE,/* nothing to sign with (no active pair, bad key) */
        _RA_ERR_MAX,
} RaErrorKind;

/* Failure classes, for exit codes and severities. */
typedef enum RaErrorClass {
        RA_CLASS_OK,
        RA_CLASS_REJECTED, /* AWS said no: retrying will not help until someone fixes something */
        RA_CLASS_NETWORK,  /* transient: DNS, connect, TLS, timeout, 5xx, throttling, garbage */
        RA_CLASS_LOCAL,    /* nothing to sign with */
} RaErrorClass;

typedef struct RaError {
        RaErrorKind kind;
        char *aws_type;     /* X-Amzn-ErrorType (before ':') or the body's __type, NULL if none */
        char *message;      /* AWS's message or the transfer error */
        long http_status;   /* 0: no response */
        usec_t retry_after; /* from Retry-After on throttling, 0: none */
} RaError;

void ra_error_done(RaError *e);
const char *ra_error_kind_to_string(RaErrorKind k); /* "trust_anchor_disabled" ... */
RaErrorClass ra_error_class(RaErrorKind k);
/* The troubleshooting row's fix, with the ARNs' ids filled in. clock_synced:
 * -1 unknown, 0 no, 1 yes (said for clock skew). Caller frees. */
char *ra_error_fix(const RaError *e, const char *trust_anchor_arn, const char *profile_arn, int clock_synced);
/* One line for logs and status: "<kind>: <message>" (no secret can be in it:
 * the reply body is only read on error). */

/* Longest error type and message kept from a reply (bytes). */
#define RA_ERROR_TYPE_MAX 256
#define RA_ERROR_MESSAGE_MAX 1024
/* In place: control characters to blanks, invalid UTF-8 to '?', cut to at
 * most max bytes at a character boundary. */
void ra_text_sanitize(char *s, size_t max);

/* Parse the reply. status 2xx: credentials into *creds (0) or a
 * RA_ERR_BAD_RESPONSE (-EBADMSG). Otherwise the error (-EACCES, -EAGAIN for
 * throttling/5xx). error_type_header / retry_after_header may be NULL. */
int ra_response_parse(long status, const char *error_type_header, const char *retry_after_header, const char *body,
                      size_t len, RaCredentials *creds, RaError *err);
/* A transfer that got no reply: error is http.c's negative errno. */
void ra_error_from_transport(int error, const char *message, RaError *err);
void ra_error_set(RaError *e, RaErrorKind kind, const char *message);

/* RFC 3339 / ISO 8601 UTC ("2026-11-30T11:00:00Z", fraction and +00:00
 * accepted) to Unix usec; -EINVAL. */
int ra_parse_time(const char *s, uint64_t *ret);

/* ---- planning ----------------------------------------------------------- */

/* When to refresh credentials that expire at `expiration`: refresh_before
 * ahead, minus a jitter of up to 10% of refresh_before (rnd: any random
 * value); if the lifetime is shorter than that, at half of what is left;
 * never sooner than 5 s from now. */
uint64_t ra_plan_refresh(uint64_t now, uint64_t expiration, usec_t refresh_before, uint64_t rnd);
/* Delay before retry number `failures` (1 = after the first failure):
 * 1 s doubling up to cap, +-20% jitter; a throttling delay is honoured
 * (never retried sooner, even past the cap). */
usec_t ra_plan_backoff(unsigned failures, usec_t cap, usec_t retry_after, uint64_t rnd);
