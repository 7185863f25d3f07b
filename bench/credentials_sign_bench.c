/* SPDX-License-Identifier: MIT */
/* Agent-side cost of one Roles Anywhere exchange without the network: build
 * and sign the CreateSession request (canonical request, string to sign,
 * signature with the certificate's key, headers) exactly as the credentials
 * module does (ra_request_build), and parse a credentials reply.
 *
 *   credentials_sign_bench CERT.pem KEY.pem [N]
 *
 * Prints the median and p99 in microseconds per build+sign and per parse. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "loopstat.h"
#include "rolesanywhere.h"

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *t, size_t n) {
        qsort(t, n, sizeof(*t), cmp_u64);
        printf("%-28s median %.1f us, p99 %.1f us (n=%zu)\n", what, t[n / 2] / 1e3, t[n * 99 / 100] / 1e3, n);
}

int main(int argc, char **argv) {
        if (argc < 3) {
                fprintf(stderr, "usage: %s CERT.pem KEY.pem [N]\n", argv[0]);
                return 64;
        }
        size_t n = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000;
        FILE *f = fopen(argv[1], "re");
        X509 *cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
        if (f)
                fclose(f);
        f = fopen(argv[2], "re");
        EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
        if (f)
                fclose(f);
        if (!cert || !key) {
                fprintf(stderr, "cannot read %s / %s\n", argv[1], argv[2]);
                return 66;
        }
        uint64_t *t = calloc(n, sizeof(*t));
        if (!t)
                return 1;
        RaParams p = {
                .endpoint = "https://rolesanywhere.eu-central-1.amazonaws.com",
                .region = "eu-central-1",
                .trust_anchor_arn = "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/"
                                    "a1b2c3d4-0000-4000-8000-00000000000a",
                .profile_arn = "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/"
                               "a1b2c3d4-0000-4000-8000-00000000000b",
                .role_arn = "arn:aws:iam::123456789012:role/agentic-vault-signer",
                .duration_seconds = 3600,
        };
        for (size_t i = 0; i < n; i++) {
                RaRequest r;
                const char *why = NULL;
                p.now = (uint64_t) time(NULL) * 1000000ULL;
                uint64_t t0 = now_ns();
                int k = ra_request_build(&p, cert, NULL, key, &r, &why);
                t[i] = now_ns() - t0;
                if (k < 0) {
                        fprintf(stderr, "ra_request_build: %s (%s)\n", strerror(-k), why ? why : "");
                        return 1;
                }
                ra_request_done(&r);
        }
        report(EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "build+sign (RSA)" : "build+sign (EC)", t, n);

        static const char reply[] =
                "{\"credentialSet\":[{\"assumedRoleUser\":{\"arn\":\"arn:aws:sts::123456789012:assumed-role/"
                "agentic-vault-signer/1\",\"assumedRoleId\":\"AROAX:1\"},\"credentials\":{\"accessKeyId\":"
                "\"ASIAAAAAAAAAAAAAAAAA\",\"expiration\":\"2026-11-30T12:00:00Z\",\"secretAccessKey\":"
                "\"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\",\"sessionToken\":\"IQoJb3JpZ2luX2VjEXAMPLE"
                "EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE\"},"
                "\"packedPolicySize\":0,\"roleArn\":\"arn:aws:iam::123456789012:role/agentic-vault-signer\","
                "\"sourceIdentity\":\"CN=agentic-vault-vm\"}],\"subjectArn\":\"arn:aws:rolesanywhere:"
                "eu-central-1:123456789012:subject/x\"}";
        for (size_t i = 0; i < n; i++) {
                RaCredentials c = {};
                RaError e = {};
                uint64_t t0 = now_ns();
                int k = ra_response_parse(201, NULL, NULL, reply, sizeof(reply) - 1, &c, &e);
                t[i] = now_ns() - t0;
                if (k < 0) {
                        fprintf(stderr, "ra_response_parse: %s\n", strerror(-k));
                        return 1;
                }
                ra_credentials_done(&c);
                ra_error_done(&e);
        }
        report("parse reply", t, n);

        /* what timing every loop callback costs the loop (manager.c run_loop):
         * two clock_gettime(CLOCK_MONOTONIC) and one loop_stats_record() per
         * dispatch; while a watch is open (an exchange) two more of the
         * thread's CPU clock, a real system call */
        for (int watching = 0; watching < 2; watching++) {
                static LoopStats ls;
                static LoopWatch lw;
                size_t k = 1000000;
                if (watching) {
                        (void) loop_stats_add_watch(&ls, &lw);
                        loop_watch_begin(&lw);
                }
                uint64_t t0 = now_ns();
                for (size_t i = 0; i < k; i++) {
                        bool cpu = loop_stats_watching(&ls);
                        struct timespec c0 = {}, c1 = {};
                        uint64_t a = now_ns();
                        if (cpu)
                                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
                        if (cpu)
                                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
                        uint64_t b = now_ns();
                        loop_stats_record(&ls, b / 1000, b - a, (uint64_t) (c1.tv_nsec - c0.tv_nsec));
                }
                printf("%-28s %.1f ns per dispatch (mean of %zu)\n",
                       watching ? "loop accounting, watching" : "loop accounting", (double) (now_ns() - t0) / (double) k, k);
        }
        free(t);
        X509_free(cert);
        EVP_PKEY_free(key);
        return 0;
}
