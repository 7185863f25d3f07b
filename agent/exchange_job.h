/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "http.h"
#include "rolesanywhere.h"

/* One Roles Anywhere exchange run off the event loop (issue 9: the loop
 * never stalls > 1 ms). A short-lived worker thread reads the intermediates
 * file if needed, runs the pure ra_request_build() on its own references of
 * the pair and its own copies of the parameters (an RSA-2048 or P-384
 * signature costs 0.3-0.8 ms), posts the request with libcurl in the same
 * thread (loading libcurl, the CA file, SSL_CTX_new and the TLS handshake
 * steps cost 1-70 ms per step: docs/performance.md) and parses the reply; it
 * then wakes the loop through an eventfd (O_CLOEXEC|EFD_NONBLOCK) and the
 * callback runs on the loop with the parsed credentials or error.
 *
 * Ownership: the caller owns the job from exchange_job_start() to
 * exchange_job_free(). The callback runs at most once, on the loop, after
 * the worker has finished; it must not free the job itself but may free it
 * after it returns. exchange_job_abort() ends a transfer under way at once
 * (curl_multi_wakeup); a signature under way cannot be interrupted (a few
 * ms). exchange_job_free() aborts and joins: after the callback it never waits
 * (a worker still exiting is joined later by exchange_job_reap()),
 * otherwise it waits for the worker to notice. Nothing is detached: every
 * thread is joined before the module is freed. */

typedef struct ExchangeJob ExchangeJob;
typedef void (*exchange_job_done_t)(ExchangeJob *j, void *userdata);

typedef struct ExchangeJobInput {
        RaParams params;           /* strings are copied */
        X509 *cert;                /* referenced (X509_up_ref) */
        EVP_PKEY *key;             /* referenced (EVP_PKEY_up_ref) */
        STACK_OF(X509) *chain;     /* verified intermediates, or NULL; referenced (X509_chain_up_ref) */
        const char *intermediates; /* without a chain: path read in the worker, or NULL; copied */
        const char *ca_file;       /* NULL: the system store; copied */
        usec_t timeout;            /* of the transfer */
        unsigned generation;       /* of the pair, handed back unchanged */
        usec_t delay;              /* [test] sign_delay: the worker waits this long first */
} ExchangeJobInput;

int exchange_job_start(sd_event *e, const ExchangeJobInput *in, exchange_job_done_t cb, void *userdata,
                       ExchangeJob **ret);
void exchange_job_abort(ExchangeJob *j);
ExchangeJob *exchange_job_free(ExchangeJob *j);
/* Join the workers of freed jobs that had reported but not yet exited:
 * those that have (wait: all, blocking; for the module's free). */
void exchange_job_reap(bool wait);
DEFINE_TRIVIAL_CLEANUP_FUNC(ExchangeJob *, exchange_job_free);

/* From the callback on. Before the transfer (no request sent): a negative
 * errno with *why (owned by the job): -EINVAL the key cannot sign, -ENOENT
 * the intermediates file, -EOPNOTSUPP no libcurl, else could not start.
 * After it: 1, with the reply parsed into *creds (moved out: the caller
 * wipes it) or *err (moved out) and the parse result in *parsed
 * (credentials_parse_reply()). */
int exchange_job_result(ExchangeJob *j, const char **why, int *parsed, RaCredentials *creds, RaError *err);
unsigned exchange_job_generation(const ExchangeJob *j);
/* How long signing took in the worker (usec). */
uint64_t exchange_job_sign_usec(const ExchangeJob *j);
