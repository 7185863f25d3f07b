/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "rolesanywhere.h"

/* One CreateSession request built and signed off the event loop (issue 9:
 * an RSA-2048 or P-384 signature costs 0.3-0.8 ms, more under load, and
 * the loop must never stall that long). A short-lived worker thread reads
 * the intermediates file, runs the pure ra_request_build() on its own
 * references of the pair and its own copies of the parameters, and wakes
 * the loop through an eventfd (O_CLOEXEC|EFD_NONBLOCK); the callback then
 * runs on the loop.
 *
 * Ownership: the caller owns the job from sign_job_start() to
 * sign_job_free(). The callback runs at most once, on the loop, after the
 * worker has finished; it must not free the job itself but may do so after
 * it returns (or later). sign_job_free() joins the thread: instant once the
 * callback ran, otherwise it waits for the signature (at most a few ms; only
 * done at shutdown). Nothing is detached, so no thread outlives its job. */

typedef struct SignJob SignJob;
typedef void (*sign_job_done_t)(SignJob *j, void *userdata);

typedef struct SignJobInput {
        RaParams params;          /* strings are copied */
        X509 *cert;               /* referenced (X509_up_ref) */
        EVP_PKEY *key;            /* referenced (EVP_PKEY_up_ref) */
        STACK_OF(X509) *chain;    /* verified intermediates, or NULL; referenced (X509_chain_up_ref) */
        const char *intermediates; /* without a chain: path read in the worker, or NULL; copied */
        unsigned generation;      /* of the pair, handed back unchanged */
        usec_t delay;             /* [test] sign_delay: the worker waits this long first */
        void (*prepare)(void);    /* run in the worker first (e.g. load libcurl), may be NULL */
} SignJobInput;

int sign_job_start(sd_event *e, const SignJobInput *in, sign_job_done_t cb, void *userdata, SignJob **ret);
SignJob *sign_job_free(SignJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(SignJob *, sign_job_free);

/* From the callback on: the worker's result. 0 with *ret filled (owned by
 * the job), or a negative errno with *why (owned by the job). */
int sign_job_result(SignJob *j, const RaRequest **ret, const char **why);
unsigned sign_job_generation(const SignJob *j);
/* How long the worker took (usec): reading, building, signing. */
uint64_t sign_job_duration(const SignJob *j);
