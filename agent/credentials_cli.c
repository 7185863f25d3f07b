/* SPDX-License-Identifier: MIT */
/* `agv-agent credential-process` and `check --online`: the CLI side of the
 * credentials module. The cache path (ask the daemon) maps neither libcurl
 * nor reads a key; only a direct exchange does. */
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "client.h"
#include "credential_process.h"
#include "credentials.h"
#include "log.h"
#include "pki.h"
#include "pki_assess.h"
#include "status.h"
#include "strv.h"
#include "verbs.h"

/* Exit codes of credential-process (docs/credentials.md), sysexits-style. */
#define EXIT_CP_USAGE 64       /* bad arguments */
#define EXIT_CP_NOINPUT 66     /* certificate, key or intermediates unreadable for a direct exchange */
#define EXIT_CP_UNAVAILABLE 69 /* agent unreachable and no direct exchange possible */
#define EXIT_CP_TEMPFAIL 75    /* network: DNS, connect, TLS, timeout, throttling, 5xx, garbage */
#define EXIT_CP_PROTOCOL 76    /* AWS rejected the request */
#define EXIT_CP_NOPERM 77      /* the agent refused (forbidden) */
#define EXIT_CP_CONFIG 78      /* the agent has no [credentials] */

/* how long credential-process waits for the agent (pending, too_many_clients) */
#define CP_TIMEOUT_USEC (30 * USEC_PER_SEC)

/* ---- one exchange, blocking, on a private loop ------------------------------ */

typedef struct OneShot {
        bool done;
        int k;
        RaCredentials creds;
        RaError err;
} OneShot;

static void oneshot_done(HttpRequest *r, int error, long status, const char *message, void *userdata) {
        OneShot *o = userdata;
        o->k = credentials_parse_reply(r, error, status, message, &o->creds, &o->err);
        o->done = true;
}

static uint64_t now_real(int64_t offset_sec) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ((int64_t) ts.tv_sec + offset_sec) * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t now_mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* 0 with *creds, or a negative errno with *err set. */
static int exchange_once(const CredentialsSection *cs, X509 *cert, EVP_PKEY *key, int64_t clock_offset,
                         RaCredentials *creds, RaError *err, usec_t *duration) {
        _cleanup_(ra_request_done) RaRequest rq = {};
        STACK_OF(X509) *chain = NULL;
        _cleanup_free_ char *cwhy = NULL;
        const char *why = NULL;
        sd_event *e = NULL;
        HttpClient *http = NULL;
        OneShot o = {};
        RaParams p;
        uint64_t t0 = now_mono();
        int r;

        *creds = (RaCredentials) {};
        r = credentials_load_intermediates(cs->intermediates, &chain, &cwhy);
        if (r < 0) {
                ra_error_set(err, RA_ERR_NO_CERTIFICATE, cwhy ? cwhy : strerror(-r));
                return r;
        }
        p = credentials_params(cs, now_real(clock_offset));
        r = ra_request_build(&p, cert, chain, key, &rq, &why);
        if (chain)
                sk_X509_pop_free(chain, X509_free);
        if (r < 0) {
                ra_error_set(err, RA_ERR_NO_CERTIFICATE, why ? why : strerror(-r));
                return r;
        }
        r = sd_event_new(&e);
        if (r >= 0)
                r = http_client_new(e, &http);
        if (r >= 0) {
                HttpPostOptions opt = {
                        .url = rq.url, .headers = rq.headers, .body = rq.body, .timeout = cs->timeout,
                        .ca_file = cs->ca_file, .response_max = CREDENTIALS_REPLY_MAX,
                };
                r = http_post_ex(http, &opt, oneshot_done, &o, NULL);
        }
        while (r >= 0 && !o.done) {
                r = sd_event_run(e, UINT64_MAX);
                if (r > 0)
                        r = 0;
        }
        http_client_free(http);
        sd_event_unref(e);
        if (duration)
                *duration = now_mono() - t0;
        if (r < 0) {
                ra_error_set(err, RA_ERR_NETWORK, r == -EOPNOTSUPP ? "libcurl (libcurl4) is not installed" : strerror(-r));
                return r;
        }
        *creds = o.creds;
        *err = o.err;
        return o.k;
}

static int load_cert(const char *path, X509 **ret, char **why) {
        _cleanup_free_ char *data = NULL;
        STACK_OF(X509) *extra = NULL;
        Findings f = {};
        size_t len = 0;
        int r = credentials_read_file(path, &data, &len);

        *ret = NULL;
        if (r < 0) {
                if (asprintf(why, "cannot read the certificate %s: %s", path, strerror(-r)) < 0)
                        *why = NULL;
                return r;
        }
        r = pki_parse_cert(data, len, path, ret, &extra, &f);
        if (extra)
                sk_X509_pop_free(extra, X509_free);
        if (r < 0 || !*ret) {
                if (asprintf(why, "%s holds no certificate%s%s", path, f.n ? ": " : "", f.n ? f.items[0].message : "") < 0)
                        *why = NULL;
                findings_done(&f);
                return -EINVAL;
        }
        findings_done(&f);
        return 0;
}

static int load_key(const char *path, EVP_PKEY **ret, char **why) {
        _cleanup_free_ char *data = NULL;
        Findings f = {};
        size_t len = 0;
        int r = credentials_read_file(path, &data, &len);

        *ret = NULL;
        if (r < 0) {
                if (asprintf(why, "cannot read the private key %s: %s", path, strerror(-r)) < 0)
                        *why = NULL;
                return r;
        }
        r = pki_parse_key(data, len, path, ret, &f);
        explicit_bzero(data, len);
        if (r < 0 || !*ret) {
                if (asprintf(why, "%s holds no usable private key%s%s", path, f.n ? ": " : "", f.n ? f.items[0].message : "") < 0)
                        *why = NULL;
                findings_done(&f);
                return -EINVAL;
        }
        findings_done(&f);
        return 0;
}

static char *cert_fingerprint(X509 *x) {
        unsigned char md[32];
        unsigned n = 0;
        char *s;
        if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32)
                return NULL;
        s = malloc(65);
        if (!s)
                return NULL;
        for (unsigned i = 0; i < n; i++)
                sprintf(s + 2 * i, "%02x", md[i]);
        return s;
}

static int exit_for_error(const RaError *e) {
        switch (ra_error_class(e->kind)) {
        case RA_CLASS_REJECTED:
                return EXIT_CP_PROTOCOL;
        case RA_CLASS_LOCAL:
                return EXIT_CP_NOINPUT;
        default:
                return EXIT_CP_TEMPFAIL;
        }
}

/* ---- credential-process ------------------------------------------------------- */

static void cp_help(void) {
        printf("agv-agent credential-process [--socket PATH] [--config PATH]\n"
               "agv-agent credential-process --certificate FILE --private-key FILE --trust-anchor-arn ARN\n"
               "        --profile-arn ARN --role-arn ARN [--region R] [--endpoint URL] [--session-duration SECONDS]\n"
               "        [--intermediates FILE] [--role-session-name NAME] [--ca-file FILE] [--socket PATH]\n\n"
               "Print AWS credentials as credential_process JSON (and nothing else) for the AWS SDKs'\n"
               "credential_process setting. Served from the running agent's cache ([credentials]);\n"
               "with the aws_signing_helper flags, from the agent when it holds the same identity,\n"
               "otherwise by one direct exchange (needs read access to the key).\n"
               "Exit: 0 ok, 64 bad arguments, 66 certificate/key unreadable, 69 agent unreachable,\n"
               "75 network failure or throttling, 76 AWS rejected the request, 77 forbidden by the\n"
               "agent, 78 the agent has no [credentials]. Errors go to stderr.\n");
}

/* Ask the agent. Returns 0 printed, or the exit code for this failure (and
 * *fallback when a direct exchange may still help). */
static int ask_agent(const CpOptions *o, const char *fingerprint, bool *fallback, char **deferred) {
        _cleanup_free_ char *path = control_socket_resolve(o->socket, o->config);
        _cleanup_json_ json_object *args = json_object_new_object(), *result = NULL;
        uint64_t deadline = now_mono() + CP_TIMEOUT_USEC;
        int r;

        *fallback = false;
        if (!path || !args)
                return log_oom(), EXIT_CP_UNAVAILABLE;
        if (o->trust_anchor_arn) {
                cp_identity_args(o, args);
                if (fingerprint)
                        json_object_object_add(args, "certificate_sha256", json_object_new_string(fingerprint));
        }
        for (;;) {
                _cleanup_free_ char *code = NULL, *message = NULL;
                int left = (int) ((deadline > now_mono() ? deadline - now_mono() : 0) / USEC_PER_MSEC);

                r = control_call(path, "credentials", args, MAX(left, 1000), &result, &code, &message);
                if (r == 1) {
                        cp_print_reply(result);
                        return 0;
                }
                if (r < 0) {
                        *fallback = true;
                        *deferred = strprintf("%s", message ? message : strerror(-r));
                        return EXIT_CP_UNAVAILABLE;
                }
                if (streq(strempty(code), "credentials_pending") && now_mono() < deadline) {
                        /* the agent just started: its first exchange is on the way */
                        (void) usleep(100 * 1000);
                        continue;
                }
                if (streq(strempty(code), "too_many_clients") && now_mono() < deadline) {
                        /* a burst of SDK processes at once: the agent caps connections; come back shortly */
                        (void) usleep((useconds_t) (5000 + now_mono() % 20000));
                        continue;
                }
                /* said now only when no direct exchange can follow: a
                 * successful fallback prints nothing but the JSON */
                *deferred = strprintf("%s (%s)", strna(message), strna(code));
                if (streq(strempty(code), "forbidden")) {
                        *fallback = true;
                        return EXIT_CP_NOPERM;
                }
                if (streq(strempty(code), "credentials_disabled") || streq(strempty(code), "identity_mismatch")) {
                        *fallback = true;
                        return EXIT_CP_CONFIG;
                }
                fprintf(stderr, "agv-agent credential-process: %s\n", *deferred);
                *deferred = mfree_str(*deferred);
                if (streq(strempty(code), "credentials_rejected"))
                        return EXIT_CP_PROTOCOL;
                return EXIT_CP_TEMPFAIL; /* unavailable, pending past the deadline */
        }
}

static int direct_exchange(const CpOptions *o, X509 *cert, int agent_code) {
        _cleanup_free_ char *region = NULL, *endpoint = NULL, *why = NULL;
        EVP_PKEY *key = NULL;
        CredentialsSection cs = {};
        RaCredentials cr = {};
        RaError e = {};
        const char *w;
        int r;

        r = load_key(o->private_key, &key, &why);
        if (r < 0) {
                fprintf(stderr, "agv-agent credential-process: %s%s\n", strna(why),
                        r == -EACCES ? " (the agent serves credentials without key access: run it with [credentials])" : "");
                /* no key access is the normal case of a caller the agent should serve: its answer is the failure */
                return r == -EACCES ? agent_code : EXIT_CP_NOINPUT;
        }
        if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
                fprintf(stderr, "agv-agent credential-process: the private key %s does not belong to the certificate %s\n",
                        o->private_key, o->certificate);
                EVP_PKEY_free(key);
                return EXIT_CP_NOINPUT;
        }
        (void) ra_arn_check(o->trust_anchor_arn, ARN_TRUST_ANCHOR, &region, &w);
        if (o->region) {
                free(region);
                region = strdup(o->region);
        }
        endpoint = o->endpoint ? strdup(o->endpoint) : ra_endpoint_default(strna(region));
        cs = (CredentialsSection) {
                .enabled = true, .trust_anchor_arn = (char *) o->trust_anchor_arn, .profile_arn = (char *) o->profile_arn,
                .role_arn = (char *) o->role_arn, .region = region, .endpoint = endpoint, .ca_file = (char *) o->ca_file,
                .session_duration = (o->session_duration ? o->session_duration : 3600) * USEC_PER_SEC,
                .role_session_name = (char *) o->role_session_name, .intermediates = (char *) o->intermediates,
                .timeout = 20 * USEC_PER_SEC,
        };
        r = exchange_once(&cs, cert, key, 0, &cr, &e, NULL);
        EVP_PKEY_free(key);
        if (r < 0) {
                _cleanup_free_ char *fix = ra_error_fix(&e, o->trust_anchor_arn, o->profile_arn,
                                                       e.kind == RA_ERR_CLOCK_SKEW ? credentials_clock_synced() : -1);
                int code = exit_for_error(&e);
                fprintf(stderr, "agv-agent credential-process: %s: %s\n  fix: %s\n", ra_error_kind_to_string(e.kind),
                        strna(e.message), strempty(fix));
                ra_error_done(&e);
                return code;
        }
        {
                char *json = ra_credentials_process_json(&cr);
                ra_credentials_done(&cr);
                if (!json)
                        return log_oom(), EXIT_CP_TEMPFAIL;
                fputs(json, stdout);
                fputc('\n', stdout);
                fflush(stdout);
                ra_secret_free(json);
        }
        return 0;
}

int verb_credential_process(int argc, char **argv) {
        CpOptions o = {};
        bool help = false, direct = false, fallback = false;
        _cleanup_free_ char *fp = NULL, *why = NULL, *deferred = NULL;
        X509 *cert = NULL;
        int r;

        r = cp_parse_args(argc, argv, &o, &help);
        if (r)
                return r;
        if (help) {
                cp_help();
                return 0;
        }
        r = cp_check_identity_flags(&o, &direct);
        if (r)
                return r;
        if (direct) {
                /* the certificate is public: it names the identity to the agent */
                r = load_cert(o.certificate, &cert, &why);
                if (r < 0) {
                        fprintf(stderr, "agv-agent credential-process: %s\n", strna(why));
                        return EXIT_CP_NOINPUT;
                }
                fp = cert_fingerprint(cert);
        }
        r = ask_agent(&o, fp, &fallback, &deferred);
        if (r == 0 || !direct || !fallback) {
                if (deferred)
                        fprintf(stderr, "agv-agent credential-process: %s\n", deferred);
                X509_free(cert);
                return r;
        }
        r = direct_exchange(&o, cert, r);
        if (r != 0 && deferred)
                fprintf(stderr, "agv-agent credential-process: (the agent: %s)\n", deferred);
        X509_free(cert);
        return r;
}

/* ---- check --online ------------------------------------------------------------ */

int credentials_check_online(const Config *cfg, bool json, json_object **result) {
        const CredentialsSection *cs = &cfg->credentials;
        _cleanup_free_ char *why = NULL, *fix = NULL, *host = NULL;
        X509 *cert = NULL;
        EVP_PKEY *key = NULL;
        RaCredentials cr = {};
        RaError e = {};
        usec_t duration = 0;
        json_object *o = json_object_new_object();
        char exp[64], serial_buf[128] = "";
        int r;

        *result = o;
        if (!cs->enabled) {
                json_object_object_add(o, "ok", json_object_new_boolean(0));
                json_object_object_add(o, "error", NULL);
                json_object_object_add(o, "message", json_object_new_string("no [credentials] section: nothing to exchange"));
                if (!json)
                        printf("online        no [credentials] section: set trust_anchor_arn, profile_arn and role_arn\n");
                return 2;
        }
        host = ra_endpoint_authority(cs->endpoint);
        r = load_cert(cfg->pki.certificate, &cert, &why);
        if (r >= 0)
                r = load_key(cfg->pki.private_key, &key, &why);
        if (r >= 0 && EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
                r = -EINVAL;
                why = strdup("the private key does not belong to the certificate");
        }
        if (r < 0)
                ra_error_set(&e, RA_ERR_NO_CERTIFICATE, why ? why : strerror(-r));
        else {
                ASN1_INTEGER *sn = X509_get_serialNumber(cert);
                BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
                char *hex = bn ? BN_bn2hex(bn) : NULL;
                snprintf(serial_buf, sizeof(serial_buf), "%s", hex ? hex : "");
                OPENSSL_free(hex);
                BN_free(bn);
                r = exchange_once(cs, cert, key, cfg->test_clock_offset_sec, &cr, &e, &duration);
        }
        X509_free(cert);
        EVP_PKEY_free(key);

        json_object_object_add(o, "ok", json_object_new_boolean(r >= 0));
        json_object_object_add(o, "role_arn", json_object_new_string(cs->role_arn));
        json_object_object_add(o, "endpoint", json_string_or_null(host));
        json_object_object_add(o, "serial", serial_buf[0] ? json_object_new_string(serial_buf) : NULL);
        json_object_object_add(o, "duration_ms", json_object_new_double((double) duration / 1000.0));
        if (r >= 0) {
                format_rfc3339(cr.expiration, exp, sizeof(exp));
                json_object_object_add(o, "expiration", json_object_new_string(exp));
                json_object_object_add(o, "error", NULL);
                ra_credentials_done(&cr);
                if (!json)
                        printf("online        credentials for %s via %s, valid until %s (%.0f ms)\n", cs->role_arn,
                               strna(host), exp, (double) duration / 1000.0);
                return 0;
        }
        fix = ra_error_fix(&e, cs->trust_anchor_arn, cs->profile_arn,
                           e.kind == RA_ERR_CLOCK_SKEW ? credentials_clock_synced() : -1);
        {
                json_object *err = json_object_new_object();
                json_object_object_add(err, "type", json_object_new_string(ra_error_kind_to_string(e.kind)));
                json_object_object_add(err, "aws_type", json_string_or_null(e.aws_type));
                json_object_object_add(err, "http_status", e.http_status ? json_object_new_int64(e.http_status) : NULL);
                json_object_object_add(err, "message", json_string_or_null(e.message));
                json_object_object_add(err, "fix", json_string_or_null(fix));
                json_object_object_add(o, "expiration", NULL);
                json_object_object_add(o, "error", err);
        }
        if (!json)
                printf("online        FAILED for %s via %s: %s: %s\n              fix: %s\n", cs->role_arn, strna(host),
                       ra_error_kind_to_string(e.kind), strna(e.message), strempty(fix));
        ra_error_done(&e);
        return 2;
}
