/* SPDX-License-Identifier: MIT */
#include "credentials.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <strings.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <time.h>

#include "alert_store.h"
#include "control.h"
#include "fileio.h"
#include "log.h"
#include "manager.h"
#include "message-ids.h"
#include "metrics.h"
#include "pki.h"
#include "pki_assess.h"
#include "exchange_job.h"
#include "strv.h"

/* The credential_process JSON lives in one anonymous mapping excluded
 * from core dumps; a reply larger than this is refused as bad. */
#define SECRET_AREA_SIZE ((size_t) 64 * 1024)

typedef enum CredState {
        CRED_DISABLED,
        CRED_PENDING,
        CRED_VALID,
        CRED_REFRESHING,
        CRED_FAILED,
} CredState;

static const char *const state_names[] = {
        [CRED_DISABLED] = "disabled", [CRED_PENDING] = "pending", [CRED_VALID] = "valid",
        [CRED_REFRESHING] = "refreshing", [CRED_FAILED] = "failed",
};

typedef struct Credentials {
        Manager *m;
        bool started;

        /* the pair to sign with (references from the certificate module) */
        X509 *cert;
        EVP_PKEY *key;
        unsigned generation;
        char *serial;          /* hex, as in the certificate section */
        char *fingerprint;

        /* the exchange in flight, run by a worker thread (exchange_job.h);
         * superseded jobs wait in `stale` for their worker to finish and
         * are then freed, their result discarded */
        ExchangeJob *job;
        ExchangeJob **stale;
        size_t n_stale;
        uint64_t discarded;
        uint64_t req_started;  /* monotonic */
        unsigned req_generation;
        char *req_serial;
        char *req_fingerprint;

        /* the secret */
        char *secret;          /* SECRET_AREA_SIZE mapping, MADV_DONTDUMP */
        size_t secret_len;     /* 0: no credentials */
        uint64_t expiration;
        unsigned creds_generation;
        char *creds_serial;
        char *creds_fingerprint;

        uint64_t last_success, last_attempt, next_refresh; /* wall clock (daemon's view) */
        uint64_t exchanges, failures;
        uint64_t results[_RA_ERR_MAX]; /* [RA_ERR_NONE]: successes */
        unsigned streak;               /* consecutive failures */
        uint64_t last_duration;        /* usec */
        RaError last_error;
        char *last_fix;
        Health failed_alert;           /* severity of the raised AgvCredentialsFailed, 0: none */
        bool renewal_rejected;
        char *rejected_serial;
        uint64_t served, refused;

        LoopWatch loop;                 /* longest loop callback during each exchange */

        sd_event_source *refresh_timer; /* CLOCK_REALTIME */
        sd_event_source *retry_timer;   /* CLOCK_MONOTONIC */
        char *aws_config;               /* path of the file written for the child */
} Credentials;

static const CredentialsSection *cfg(Credentials *c) {
        return &c->m->config->credentials;
}

static uint64_t clock_usec(clockid_t id) {
        struct timespec ts;
        clock_gettime(id, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t random_u64(void) {
        uint64_t v = 0;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
                v = clock_usec(CLOCK_MONOTONIC) * 6364136223846793005ULL;
        return v;
}

/* ---- pieces shared with the CLI ------------------------------------------ */

RaParams credentials_params(const CredentialsSection *c, uint64_t now) {
        return (RaParams) {
                .endpoint = c->endpoint,
                .region = c->region,
                .trust_anchor_arn = c->trust_anchor_arn,
                .profile_arn = c->profile_arn,
                .role_arn = c->role_arn,
                .role_session_name = c->role_session_name,
                .duration_seconds = (unsigned) (c->session_duration / USEC_PER_SEC),
                .now = now,
        };
}

int credentials_read_file(const char *path, char **ret, size_t *len) {
        int r = read_regular_file(path, PKI_FILE_MAX, ret, len);
        /* callers say "not a regular file under 1 MiB" for both */
        return r == -EBADFD ? -EFBIG : r;
}

int credentials_load_intermediates(const char *path, STACK_OF(X509) **ret, char **why) {
        _cleanup_free_ char *data = NULL;
        Findings f = {};
        size_t n = 0;
        int r;

        *ret = NULL;
        if (!path)
                return 0;
        r = credentials_read_file(path, &data, &n);
        if (r < 0) {
                *why = r == -EFBIG ? strprintf("intermediates %s is not a regular file under 1 MiB", path)
                                   : strprintf("cannot read intermediates %s: %s", path, strerror(-r));
                return r;
        }
        r = pki_parse_bundle(data, n, path, ret, &f);
        if (r < 0 || !*ret || sk_X509_num(*ret) == 0) {
                *why = strprintf("intermediates %s holds no PEM certificate%s%s", path, f.n > 0 ? ": " : "",
                                f.n > 0 ? f.items[0].message : "");
                findings_done(&f);
                if (*ret) {
                        sk_X509_pop_free(*ret, X509_free);
                        *ret = NULL;
                }
                return -EINVAL;
        }
        findings_done(&f);
        return 0;
}

int credentials_parse_reply(HttpRequest *r, int error, long status, const char *message, RaCredentials *creds,
                            RaError *err) {
        const char *body;
        size_t len = 0;
        bool truncated = false;

        *creds = (RaCredentials) {};
        if (error < 0) {
                ra_error_from_transport(error, message, err);
                return -EAGAIN;
        }
        body = http_request_body(r, &len, &truncated);
        if (truncated && status >= 200 && status < 300) {
                ra_error_set(err, RA_ERR_BAD_RESPONSE, "the reply is larger than 256 KiB");
                err->http_status = status;
                return -EBADMSG;
        }
        return ra_response_parse(status, http_request_header(r, "X-Amzn-ErrorType"), http_request_header(r, "Retry-After"),
                                 body, len, creds, err);
}

int credentials_clock_synced(void) {
        struct timex tx = {};
        int s = adjtimex(&tx);

        if (s >= 0)
                return s != TIME_ERROR && !(tx.status & STA_UNSYNC);
        /* the service's seccomp filter denies adjtimex (@clock): timesyncd
         * touches this file once it synchronised */
        if (access("/run/systemd/timesync/synchronized", F_OK) == 0)
                return 1;
        return -1;
}

bool credentials_child_has_aws_profile(char *const *environment) {
        static const char *const vars[] = {
                "AWS_PROFILE=", "AWS_DEFAULT_PROFILE=", "AWS_CONFIG_FILE=", "AWS_SHARED_CREDENTIALS_FILE=",
                "AWS_ACCESS_KEY_ID=", "AWS_CONTAINER_CREDENTIALS_FULL_URI=", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=",
                "AWS_WEB_IDENTITY_TOKEN_FILE=",
        };
        STRV_FOREACH(e, environment)
                for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                        if (strneq(*e, vars[i], strlen(vars[i])))
                                return true;
        return false;
}

/* ---- the secret ------------------------------------------------------------ */

static int secret_area_init(Credentials *c) {
        void *p;
        if (c->secret)
                return 0;
        p = mmap(NULL, SECRET_AREA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        if (madvise(p, SECRET_AREA_SIZE, MADV_DONTDUMP) < 0)
                log_warning_errno(errno, "Cannot exclude the credentials from core dumps (MADV_DONTDUMP)");
        (void) madvise(p, SECRET_AREA_SIZE, MADV_WIPEONFORK); /* the signer child never inherits them */
        (void) mlock(p, SECRET_AREA_SIZE); /* best effort: keep them out of swap */
        c->secret = p;
        return 0;
}

static void secret_clear(Credentials *c) {
        if (c->secret)
                explicit_bzero(c->secret, SECRET_AREA_SIZE);
        c->secret_len = 0;
        c->expiration = 0;
}

static void secret_freep(char **s) {
        ra_secret_free(*s);
}

static bool have_valid(Credentials *c, uint64_t now) {
        return c->secret_len > 0 && c->expiration > now;
}

/* ---- timers ---------------------------------------------------------------- */

static void exchange_start(Credentials *c, const char *why);

static bool in_flight(Credentials *c) {
        return c->job;
}

/* Give up the exchange in flight: its transfer is aborted at once; a
 * signature under way cannot be interrupted, so the job is kept until its
 * worker reports and its result is thrown away then (on_exchanged). */
static void cancel_exchange(Credentials *c) {
        if (c->job) {
                ExchangeJob **a = reallocarray(c->stale, c->n_stale + 1, sizeof(ExchangeJob *));
                exchange_job_abort(c->job);
                if (a) {
                        c->stale = a;
                        c->stale[c->n_stale++] = TAKE_PTR(c->job);
                } else
                        c->job = exchange_job_free(c->job); /* waits for the worker: rare */
        }
        loop_watch_cancel(&c->loop);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Credentials *c = userdata;
        exchange_start(c, s == c->retry_timer ? "retry" : "refresh");
        return 0;
}

static void arm(Credentials *c, sd_event_source **s, clockid_t clock, uint64_t usec, const char *desc) {
        if (usec == 0) {
                if (*s)
                        (void) sd_event_source_set_enabled(*s, SD_EVENT_OFF);
                return;
        }
        if (*s) {
                (void) sd_event_source_set_time(*s, usec);
                (void) sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
                return;
        }
        if (sd_event_add_time(c->m->event, s, clock, usec, USEC_PER_MSEC, on_timer, c) >= 0)
                (void) sd_event_source_set_description(*s, desc);
}

/* next_refresh is on the daemon's clock (with the test offset); the timer
 * runs on the real one. */
static void arm_refresh(Credentials *c) {
        int64_t off = (int64_t) manager_now_realtime(c->m) - (int64_t) clock_usec(CLOCK_REALTIME);
        arm(c, &c->refresh_timer, CLOCK_REALTIME, c->next_refresh ? (uint64_t) ((int64_t) c->next_refresh - off) : 0,
            "credentials-refresh");
}

static void disarm_all(Credentials *c) {
        arm(c, &c->refresh_timer, CLOCK_REALTIME, 0, NULL);
        arm(c, &c->retry_timer, CLOCK_MONOTONIC, 0, NULL);
        c->next_refresh = 0;
}

/* ---- alerts ---------------------------------------------------------------- */

static void raise_failed(Credentials *c, Health severity) {
        _cleanup_free_ char *summary = NULL;
        const char *kind = ra_error_kind_to_string(c->last_error.kind);
        char exp[64];

        if (c->failed_alert == severity)
                return;
        if (c->failed_alert) {
                /* a change of severity is a new alert: the old one ends */
                AlertEvent end = { .name = "AgvCredentialsFailed", .resolved = true, .summary = "severity changed" };
                manager_emit(c->m, c, EVENT_CREDENTIALS_FAILED, &end);
        }
        if (severity == HEALTH_CRITICAL)
                summary = strprintf("No valid AWS credentials: the exchange fails (%s: %s)", kind,
                                strna(c->last_error.message));
        else
                summary = strprintf("Refreshing the AWS credentials fails (%s: %s); the current ones expire at %s",
                                kind, strna(c->last_error.message), format_rfc3339(c->expiration, exp, sizeof(exp)));
        char *fields[] = { NULL, NULL };
        _cleanup_free_ char *f0 = NULL;
        if (asprintf(&f0, "AGV_CREDENTIALS_ERROR=%s", kind) >= 0)
                fields[0] = f0;
        AlertEvent ev = {
                .name = "AgvCredentialsFailed",
                .severity = severity,
                .summary = summary ? summary : "AWS credential exchange fails",
                .description = strempty(c->last_fix),
                .fields = fields,
        };
        manager_emit(c->m, c, EVENT_CREDENTIALS_FAILED, &ev);
        c->failed_alert = severity;
}

static void resolve_failed(Credentials *c) {
        if (!c->failed_alert)
                return;
        AlertEvent ev = { .name = "AgvCredentialsFailed", .summary = "AWS credentials obtained again", .resolved = true };
        manager_emit(c->m, c, EVENT_CREDENTIALS_FAILED, &ev);
        c->failed_alert = 0;
}

static void resolve_rejected(Credentials *c) {
        if (!c->renewal_rejected)
                return;
        AlertEvent ev = { .name = "AgvRenewedCertificateRejected", .summary = "AWS accepts the active certificate",
                          .resolved = true };
        manager_emit(c->m, c, EVENT_RENEWED_CERT_REJECTED, &ev);
        c->renewal_rejected = false;
        c->rejected_serial = mfree_str(c->rejected_serial);
}

/* ---- the exchange ------------------------------------------------------------ */

static void record_error(Credentials *c, RaError *e) {
        ra_error_done(&c->last_error);
        c->last_error = *e;
        *e = (RaError) {};
        free(c->last_fix);
        c->last_fix = ra_error_fix(&c->last_error, cfg(c)->trust_anchor_arn, cfg(c)->profile_arn,
                                   c->last_error.kind == RA_ERR_CLOCK_SKEW ? credentials_clock_synced() : -1);
}

static void on_failure(Credentials *c, RaError *e, bool counted) {
        uint64_t now = manager_now_realtime(c->m);
        const char *kind;
        usec_t delay;
        bool was_renewal = c->req_generation > c->creds_generation && c->creds_generation > 0;
        char exp[64];

        if (counted) {
                c->failures++;
                c->results[e->kind < _RA_ERR_MAX ? e->kind : RA_ERR_NETWORK]++;
        }
        c->streak++;
        record_error(c, e);
        kind = ra_error_kind_to_string(c->last_error.kind);
        {
                _cleanup_strv_free_ char **fields = NULL;
                (void) strv_extendf(&fields, "AGV_CREDENTIALS_ERROR=%s", kind);
                if (c->last_error.aws_type)
                        (void) strv_extendf(&fields, "AGV_AWS_ERROR_TYPE=%s", c->last_error.aws_type);
                if (c->last_error.http_status)
                        (void) strv_extendf(&fields, "AGV_HTTP_STATUS=%ld", c->last_error.http_status);
                (void) strv_extendf(&fields, "AGV_SERIAL=%s", strna(c->req_serial));
                (void) strv_extendf(&fields, "AGV_FIX=%s", strempty(c->last_fix));
                log_struct(c->streak == 1 ? LOG_WARNING : LOG_INFO, MSGID_CREDENTIALS_FAILED, fields,
                           "AWS credential exchange failed%s (%s): %s; %s", c->streak > 1 ? " again" : "", kind,
                           strna(c->last_error.message), strempty(c->last_fix));
        }

        if (was_renewal && have_valid(c, now) && ra_error_class(c->last_error.kind) == RA_CLASS_REJECTED &&
            !(c->renewal_rejected && c->rejected_serial && streq(c->rejected_serial, strna(c->req_serial)))) {
                _cleanup_free_ char *summary = NULL, *f0 = NULL, *f1 = NULL;
                format_rfc3339(c->expiration, exp, sizeof(exp));
                if (c->renewal_rejected)
                        resolve_rejected(c);
                c->renewal_rejected = true;
                c->rejected_serial = strdup(strna(c->req_serial));
                summary = strprintf(
                                "AWS rejects the renewed certificate (serial %s): %s: %s; the credentials of serial %s "
                                "stay in use until %s",
                                strna(c->req_serial), kind, strna(c->last_error.message), strna(c->creds_serial), exp);
                f0 = strprintf("AGV_SERIAL=%s", strna(c->req_serial));
                f1 = strprintf("AGV_OLD_EXPIRATION=%s", exp);
                char *fields[] = { f0, f1, NULL };
                log_struct(LOG_ERR, MSGID_RENEWED_CERT_REJECTED, fields, "%s", strna(summary));
                AlertEvent ev = {
                        .name = "AgvRenewedCertificateRejected",
                        .severity = HEALTH_CRITICAL,
                        .summary = summary ? summary : "AWS rejects the renewed certificate",
                        .description = strempty(c->last_fix),
                        .fields = fields,
                };
                manager_emit(c->m, c, EVENT_RENEWED_CERT_REJECTED, &ev);
        } else if (!c->renewal_rejected || !have_valid(c, now))
                raise_failed(c, have_valid(c, now) ? HEALTH_WARNING : HEALTH_CRITICAL);

        delay = ra_plan_backoff(c->streak, cfg(c)->retry_max, c->last_error.retry_after, random_u64());
        c->next_refresh = now + delay;
        arm(c, &c->refresh_timer, CLOCK_REALTIME, 0, NULL);
        arm(c, &c->retry_timer, CLOCK_MONOTONIC, clock_usec(CLOCK_MONOTONIC) + delay, "credentials-retry");
}

static void on_success(Credentials *c, RaCredentials *cr) {
        uint64_t now = manager_now_realtime(c->m);
        _cleanup_(secret_freep) char *json = NULL;
        size_t len;
        char exp[64];

        json = ra_credentials_process_json(cr);
        len = json ? strlen(json) : 0;
        if (!json || len + 1 > SECRET_AREA_SIZE || secret_area_init(c) < 0) {
                RaError e = {};
                ra_error_set(&e, RA_ERR_BAD_RESPONSE, json ? "the credentials are larger than 64 KiB" : "out of memory");
                ra_credentials_done(cr);
                on_failure(c, &e, true);
                return;
        }
        /* replace: the old secret is wiped in the same step */
        explicit_bzero(c->secret, SECRET_AREA_SIZE);
        memcpy(c->secret, json, len + 1);
        c->secret_len = len;
        c->expiration = cr->expiration;
        ra_credentials_done(cr);

        c->results[RA_ERR_NONE]++;
        c->streak = 0;
        c->last_success = now;
        c->creds_generation = c->req_generation;
        free(c->creds_serial);
        c->creds_serial = TAKE_PTR(c->req_serial);
        free(c->creds_fingerprint);
        c->creds_fingerprint = TAKE_PTR(c->req_fingerprint);
        ra_error_done(&c->last_error);
        c->last_fix = mfree_str(c->last_fix);

        format_rfc3339(c->expiration, exp, sizeof(exp));
        {
                _cleanup_strv_free_ char **fields = NULL;
                (void) strv_extendf(&fields, "AGV_SERIAL=%s", strna(c->creds_serial));
                (void) strv_extendf(&fields, "AGV_ROLE_ARN=%s", cfg(c)->role_arn);
                (void) strv_extendf(&fields, "AGV_EXPIRATION=%s", exp);
                log_struct(LOG_INFO, MSGID_CREDENTIALS_OBTAINED, fields,
                           "Obtained AWS credentials for %s with certificate serial %s, valid until %s (%.0f ms)",
                           cfg(c)->role_arn, strna(c->creds_serial), exp, (double) c->last_duration / 1000.0);
        }
        resolve_failed(c);
        if (c->creds_generation == c->generation)
                resolve_rejected(c);

        c->next_refresh = ra_plan_refresh(now, c->expiration, cfg(c)->refresh_before, random_u64());
        arm(c, &c->retry_timer, CLOCK_MONOTONIC, 0, NULL);
        arm_refresh(c);
}

static void exchange_failed_to_start(Credentials *c, int r, const char *why) {
        RaError e = {};
        /* -EINVAL: the key cannot sign; -ENOENT: the intermediates file */
        ra_error_set(&e, r == -EINVAL || r == -ENOENT ? RA_ERR_NO_CERTIFICATE : RA_ERR_NETWORK, why ? why : strerror(-r));
        loop_watch_end(&c->loop);
        on_failure(c, &e, true);
}

/* The worker is done: on the loop, only the parsed result is handled. */
static void on_exchanged(ExchangeJob *j, void *userdata) {
        _cleanup_(exchange_job_freep) _unused_ ExchangeJob *job = j; /* owns j: freed on return */
        Credentials *c = userdata;
        RaCredentials cr = {};
        RaError e = {};
        const char *why = NULL;
        int r, parsed = 0;

        if (j != c->job) {
                /* superseded (new pair, reload, stop): its result is discarded */
                for (size_t i = 0; i < c->n_stale; i++)
                        if (c->stale[i] == j) {
                                c->stale[i] = c->stale[--c->n_stale];
                                break;
                        }
                c->discarded++;
                log_debug("Discarded the exchange for certificate generation %u (superseded)",
                          exchange_job_generation(j));
                return;
        }
        c->job = NULL;
        c->last_duration = clock_usec(CLOCK_MONOTONIC) - c->req_started;
        r = exchange_job_result(j, &why, &parsed, &cr, &e);
        if (r < 0)
                exchange_failed_to_start(c, r, why);
        else {
                loop_watch_end(&c->loop); /* this callback still counts */
                if (parsed >= 0)
                        on_success(c, &cr);
                else
                        on_failure(c, &e, true);
        }
        ra_credentials_done(&cr);
        ra_error_done(&e);
        /* a newer pair arrived while this one was in flight */
        if (c->generation != c->creds_generation && c->generation != c->req_generation && c->cert && !in_flight(c))
                exchange_start(c, "certificate renewed during the exchange");
        manager_state_changed(c->m);
}

static void exchange_start(Credentials *c, const char *why) {
        const CredentialsSection *cs = cfg(c);
        int r;

        if (!cs->enabled || !c->started || c->m->stopping)
                return;
        if (in_flight(c)) {
                if (c->req_generation == c->generation)
                        return; /* already asking with this pair */
                cancel_exchange(c);
        }
        arm(c, &c->retry_timer, CLOCK_MONOTONIC, 0, NULL);
        arm(c, &c->refresh_timer, CLOCK_REALTIME, 0, NULL);
        exchange_job_reap(false); /* the last worker has long exited */
        c->last_attempt = manager_now_realtime(c->m);
        if (!c->cert || !c->key) {
                RaError e = {};
                ra_error_set(&e, RA_ERR_NO_CERTIFICATE, "no active certificate and key pair to sign with");
                record_error(c, &e);
                c->next_refresh = 0; /* the next activation starts an exchange */
                manager_state_changed(c->m);
                return;
        }
        log_debug("Exchanging certificate serial %s for AWS credentials (%s)", strna(c->serial), why);
        c->exchanges++;
        loop_watch_begin(&c->loop); /* this callback counts */
        c->req_generation = c->generation;
        free(c->req_serial);
        c->req_serial = c->serial ? strdup(c->serial) : NULL;
        free(c->req_fingerprint);
        c->req_fingerprint = c->fingerprint ? strdup(c->fingerprint) : NULL;
        c->req_started = clock_usec(CLOCK_MONOTONIC);

        /* reading the intermediates, signing, the HTTPS request and parsing
         * the reply happen in a worker (exchange_job.h). The chain is the one the certificate module verified with this
         * pair (kept while the file is being rewritten); the worker reads
         * the file only when there never was a usable one. */
        STACK_OF(X509) *chain = cs->intermediates ? pki_active_chain(c->m) : NULL;
        ExchangeJobInput in = {
                .params = credentials_params(cs, manager_now_realtime(c->m)),
                .cert = c->cert,
                .key = c->key,
                .chain = chain,
                .intermediates = chain ? NULL : cs->intermediates,
                .ca_file = cs->ca_file,
                .timeout = cs->timeout,
                .generation = c->generation,
                .delay = c->m->config->test_sign_delay,
        };
        r = exchange_job_start(c->m->event, &in, on_exchanged, c, &c->job);
        if (r < 0) {
                c->job = NULL;
                exchange_failed_to_start(c, r, "cannot start the exchange thread");
        }
        manager_state_changed(c->m);
}

/* ---- the pair ------------------------------------------------------------------ */

static void adopt_pair(Credentials *c, X509 *cert, EVP_PKEY *key, const CertInfo *info) {
        X509_up_ref(cert);
        EVP_PKEY_up_ref(key);
        X509_free(c->cert);
        EVP_PKEY_free(c->key);
        c->cert = cert;
        c->key = key;
        c->generation = info->generation;
        free(c->serial);
        c->serial = info->serial ? strdup(info->serial) : NULL;
        free(c->fingerprint);
        c->fingerprint = info->fingerprint_sha256 ? strdup(info->fingerprint_sha256) : NULL;
}

static void pick_up_pair(Credentials *c) {
        X509 *cert;
        EVP_PKEY *key;
        const CertInfo *info;
        if (pki_active_pair(c->m, &cert, &key, &info) >= 0 && info->generation != c->generation)
                adopt_pair(c, cert, key, info);
}

/* ---- the child's AWS config -------------------------------------------------- */

static char *runtime_dir(Manager *m) {
        const char *e = getenv("RUNTIME_DIRECTORY"), *sock = m->config->agent.socket, *slash;
        if (!isempty(e) && e[0] == '/')
                return strndup(e, strcspn(e, ":")); /* the first of several */
        slash = sock ? strrchr(sock, '/') : NULL;
        return slash && slash != sock ? strndup(sock, (size_t) (slash - sock)) : strdup("/run/agv-agent");
}

static void write_aws_config(Credentials *c) {
        const Config *conf = c->m->config;
        _cleanup_free_ char *dir = NULL, *path = NULL, *exe = NULL, *text = NULL;
        int r;

        c->aws_config = mfree_str(c->aws_config);
        if (!conf->credentials.enabled || !conf->child.command ||
            credentials_child_has_aws_profile(conf->child.environment))
                return;
        exe = realpath("/proc/self/exe", NULL);
        dir = runtime_dir(c->m);
        if (!exe || !dir || asprintf(&path, "%s/aws-config", dir) < 0)
                return (void) log_oom();
        if (strpbrk(exe, " \t\"'\\") || strpbrk(conf->agent.socket, " \t\"'\\")) {
                log_warning("Not writing an AWS config for the signer: the path of %s or of the socket has blanks or "
                            "quotes, which credential_process cannot carry; give the [child] its own AWS_CONFIG_FILE",
                            exe);
                return;
        }
        if (asprintf(&text,
                     "# Written by agv-agent: the signer gets AWS credentials from the agent ([credentials]).\n"
                     "# Regenerated at start and reload; do not edit (set AWS_CONFIG_FILE in [child] environment\n"
                     "# to use your own).\n"
                     "[default]\n"
                     "region = %s\n"
                     "credential_process = %s credential-process --socket %s\n",
                     conf->credentials.region, exe, conf->agent.socket) < 0)
                return (void) log_oom();
        r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0) {
                log_warning_errno(r, "Cannot write %s; the signer will not find the agent's credentials", path);
                return;
        }
        c->aws_config = TAKE_PTR(path);
}

const char *credentials_child_aws_config(Manager *m) {
        Credentials *c = manager_module(m, "credentials");
        return c ? c->aws_config : NULL;
}

/* ---- module ops ----------------------------------------------------------------- */

static int credentials_new(Manager *m, void **ret) {
        Credentials *c = calloc(1, sizeof(Credentials));
        if (!c)
                return -ENOMEM;
        c->m = m;
        (void) manager_loop_watch_add(m, &c->loop);
        *ret = c;
        return 0;
}

static void *credentials_free(void *mod) {
        Credentials *c = mod;
        if (!c)
                return NULL;
        manager_loop_watch_remove(c->m, &c->loop);
        /* joins the workers: at shutdown, at most one signature's wait */
        exchange_job_free(c->job);
        for (size_t i = 0; i < c->n_stale; i++)
                exchange_job_free(c->stale[i]);
        free(c->stale);
        exchange_job_reap(true);
        sd_event_source_disable_unref(c->refresh_timer);
        sd_event_source_disable_unref(c->retry_timer);
        if (c->secret) {
                explicit_bzero(c->secret, SECRET_AREA_SIZE);
                munmap(c->secret, SECRET_AREA_SIZE);
        }
        X509_free(c->cert);
        EVP_PKEY_free(c->key);
        free(c->serial);
        free(c->fingerprint);
        free(c->req_serial);
        free(c->req_fingerprint);
        free(c->creds_serial);
        free(c->creds_fingerprint);
        ra_error_done(&c->last_error);
        free(c->last_fix);
        free(c->rejected_serial);
        free(c->aws_config);
        free(c);
        return NULL;
}

/* With credentials in memory the daemon must not end up in a core dump or
 * be read through ptrace by its own uid. Not under AddressSanitizer: its
 * leak checker attaches to the process with ptrace at exit. */
static void make_undumpable(void) {
#ifndef __SANITIZE_ADDRESS__
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                log_warning_errno(errno, "Cannot make the daemon non-dumpable");
#endif
}

static int credentials_start(void *mod) {
        Credentials *c = mod;
        c->started = true;
        if (cfg(c)->enabled)
                make_undumpable();
        write_aws_config(c);
        if (!cfg(c)->enabled)
                return 0;
        pick_up_pair(c);
        /* READY=1 does not wait for AWS: the reply arrives on the loop */
        exchange_start(c, "start");
        return 0;
}

static bool identity_changed(const CredentialsSection *a, const CredentialsSection *b) {
        return !streq(strempty(a->trust_anchor_arn), strempty(b->trust_anchor_arn)) ||
               !streq(strempty(a->profile_arn), strempty(b->profile_arn)) ||
               !streq(strempty(a->role_arn), strempty(b->role_arn)) ||
               !streq(strempty(a->endpoint), strempty(b->endpoint)) ||
               !streq(strempty(a->ca_file), strempty(b->ca_file)) ||
               !streq(strempty(a->role_session_name), strempty(b->role_session_name)) ||
               !streq(strempty(a->intermediates), strempty(b->intermediates)) ||
               a->session_duration != b->session_duration;
}

static void credentials_reconfigure(void *mod, const Config *old, const Config *new) {
        Credentials *c = mod;
        const CredentialsSection *o = &old->credentials, *n = &new->credentials;

        write_aws_config(c);
        if (!n->enabled) {
                if (o->enabled) {
                        log_info("[credentials] removed: dropping the AWS credentials");
                        cancel_exchange(c);
                        secret_clear(c);
                        disarm_all(c);
                        resolve_failed(c);
                        resolve_rejected(c);
                        ra_error_done(&c->last_error);
                        c->last_fix = mfree_str(c->last_fix);
                        c->streak = 0;
                }
                return;
        }
        make_undumpable();
        pick_up_pair(c);
        if (!o->enabled || identity_changed(o, n)) {
                /* other role or endpoint: the credentials in hand are not these */
                if (o->enabled)
                        log_info("[credentials] changed: exchanging again");
                cancel_exchange(c);
                secret_clear(c);
                c->streak = 0;
                exchange_start(c, "configuration changed");
        } else if (c->secret_len > 0 && !in_flight(c) && c->streak == 0) {
                c->next_refresh = ra_plan_refresh(manager_now_realtime(c->m), c->expiration, n->refresh_before, random_u64());
                arm_refresh(c);
        }
        manager_state_changed(c->m);
}

static CredState state_of(Credentials *c, uint64_t now) {
        if (!cfg(c)->enabled)
                return CRED_DISABLED;
        if (have_valid(c, now))
                return in_flight(c) ? CRED_REFRESHING : CRED_VALID;
        if (c->streak > 0 || (c->last_error.kind != RA_ERR_NONE && !in_flight(c)))
                return CRED_FAILED;
        return CRED_PENDING;
}

static json_object *error_json(Credentials *c) {
        json_object *e;
        if (c->last_error.kind == RA_ERR_NONE)
                return NULL;
        e = json_object_new_object();
        json_object_object_add(e, "type", json_object_new_string(ra_error_kind_to_string(c->last_error.kind)));
        json_object_object_add(e, "aws_type", json_string_or_null(c->last_error.aws_type));
        json_object_object_add(e, "http_status",
                               c->last_error.http_status ? json_object_new_int64(c->last_error.http_status) : NULL);
        json_object_object_add(e, "message", json_string_or_null(c->last_error.message));
        json_object_object_add(e, "fix", json_string_or_null(c->last_fix));
        return e;
}

static void credentials_status(void *mod, StatusBuilder *sb) {
        Credentials *c = mod;
        const CredentialsSection *cs = cfg(c);
        uint64_t now = manager_now_realtime(c->m);
        CredState st = state_of(c, now);
        json_object *o = json_object_new_object();
        _cleanup_free_ char *host = cs->endpoint ? ra_endpoint_authority(cs->endpoint) : NULL;
        const char *kind = ra_error_kind_to_string(c->last_error.kind);
        char exp[64];

        json_object_object_add(o, "state", json_object_new_string(state_names[st]));
        json_object_object_add(o, "expiration", c->secret_len ? json_time_or_null(c->expiration) : NULL);
        json_object_object_add(o, "last_success", json_time_or_null(c->last_success));
        json_object_object_add(o, "last_attempt", json_time_or_null(c->last_attempt));
        json_object_object_add(o, "next_refresh", json_time_or_null(c->next_refresh));
        json_object_object_add(o, "serial", json_string_or_null(c->creds_serial));
        json_object_object_add(o, "role_arn", json_string_or_null(cs->role_arn));
        json_object_object_add(o, "endpoint", json_string_or_null(host));
        json_object_object_add(o, "exchanges", json_object_new_int64((int64_t) c->exchanges));
        json_object_object_add(o, "failures", json_object_new_int64((int64_t) c->failures));
        json_object_object_add(o, "last_duration_ms", json_object_new_double((double) c->last_duration / 1000.0));
        /* the issue-9 figure: how long the loop was held at most while an exchange ran */
        json_object_object_add(o, "longest_dispatch_ms",
                               c->loop.finished ? json_ms_from_ns(c->loop.last_max_ns) : NULL);
        json_object_object_add(o, "longest_dispatch_cpu_ms",
                               c->loop.finished ? json_ms_from_ns(c->loop.last_max_cpu_ns) : NULL);
        json_object_object_add(o, "loop_cpu_ms", c->loop.finished ? json_ms_from_ns(c->loop.last_cpu_ns) : NULL);
        json_object_object_add(o, "longest_dispatch_any_ms",
                               c->loop.finished ? json_ms_from_ns(c->loop.all_max_ns) : NULL);
        json_object_object_add(o, "last_error", error_json(c));
        json_object_object_add(o, "renewed_certificate_rejected",
                               c->renewal_rejected ? json_object_new_string(strna(c->rejected_serial)) : NULL);
        json_object_object_add(o, "discarded", json_object_new_int64((int64_t) c->discarded));
        json_object_object_add(o, "served", json_object_new_int64((int64_t) c->served));
        json_object_object_add(o, "refused", json_object_new_int64((int64_t) c->refused));
        json_object_object_add(o, "aws_config", json_string_or_null(c->aws_config));
        status_set_section(sb, "credentials", o);
        if (st == CRED_DISABLED)
                return;

        format_rfc3339(c->expiration, exp, sizeof(exp));
        if (c->renewal_rejected)
                status_add_reason(sb, HEALTH_CRITICAL, "renewed_certificate_rejected",
                                  "AWS rejects the renewed certificate (serial %s): %s: %s; %s. The credentials of serial "
                                  "%s stay in use until %s",
                                  strna(c->rejected_serial), kind, strna(c->last_error.message), strempty(c->last_fix),
                                  strna(c->creds_serial), exp);
        else if (c->last_error.kind != RA_ERR_NONE && have_valid(c, now))
                status_add_reason(sb, HEALTH_WARNING, "credentials_failed",
                                  "refreshing the AWS credentials fails (%s: %s); the current ones expire at %s; %s", kind,
                                  strna(c->last_error.message), exp, strempty(c->last_fix));
        else if (c->last_error.kind != RA_ERR_NONE)
                status_add_reason(sb, HEALTH_CRITICAL, "credentials_failed", "no valid AWS credentials (%s: %s); %s", kind,
                                  strna(c->last_error.message), strempty(c->last_fix));
        switch (st) {
        case CRED_PENDING:
                status_add_summary(sb, "AWS credentials pending");
                break;
        case CRED_FAILED:
                status_add_summary(sb, "no AWS credentials");
                break;
        default: {
                int64_t left = ((int64_t) c->expiration - (int64_t) now) / (int64_t) USEC_PER_SEC;
                status_add_summary(sb, "AWS credentials valid %lldm", (long long) (left / 60));
                break;
        }
        }
}

static void credentials_metrics(void *mod, MetricsWriter *w) {
        Credentials *c = mod;
        if (!cfg(c)->enabled)
                return;
        metrics_family(w, "agv_credentials_expiration_seconds", "gauge",
                       "Expiration of the AWS credentials in memory (Unix seconds), 0 if none");
        metrics_sample(w, "agv_credentials_expiration_seconds", c->secret_len ? (double) (c->expiration / USEC_PER_SEC) : 0,
                       "role_arn", cfg(c)->role_arn, NULL);
        metrics_family(w, "agv_credentials_exchanges_total", "counter",
                       "Certificate-for-credentials exchanges by result (success or the error type)");
        for (size_t i = 0; i < _RA_ERR_MAX; i++)
                if (c->results[i] > 0 || i == RA_ERR_NONE)
                        metrics_sample(w, "agv_credentials_exchanges_total", (double) c->results[i], "result",
                                       i == RA_ERR_NONE ? "success" : ra_error_kind_to_string((RaErrorKind) i), NULL);
        metrics_family(w, "agv_credentials_exchange_duration_seconds", "gauge", "Duration of the last exchange");
        metrics_sample(w, "agv_credentials_exchange_duration_seconds", (double) c->last_duration / 1e6, NULL);
        metrics_family(w, "agv_credentials_served_total", "counter", "Credentials handed out over the control socket");
        metrics_sample(w, "agv_credentials_served_total", (double) c->served, NULL);
        metrics_family(w, "agv_credentials_refused_total", "counter", "Credential requests refused (forbidden peers)");
        metrics_sample(w, "agv_credentials_refused_total", (double) c->refused, NULL);
}

static void credentials_event(void *mod, AgentEventType type, const void *payload) {
        Credentials *c = mod;

        switch (type) {
        case EVENT_CERT_ACTIVATED: {
                const CertActivation *act = payload;
                if (!act || !act->cert || !act->key || !act->client || act->client->generation == c->generation)
                        return; /* a CA bundle change: same pair */
                adopt_pair(c, act->cert, act->key, act->client);
                /* a renewal is exchanged at once, so a rejection shows while the old credentials still work */
                if (cfg(c)->enabled && c->started) {
                        c->streak = 0;
                        exchange_start(c, "certificate activated");
                }
                break;
        }
        case EVENT_CLOCK_CHANGED:
                if (c->next_refresh && !in_flight(c) && c->streak == 0)
                        arm_refresh(c);
                manager_state_changed(c->m);
                break;
        default:
                break;
        }
}

static int credentials_stop(void *mod) {
        Credentials *c = mod;
        cancel_exchange(c);
        disarm_all(c);
        return 0;
}

/* ---- control: `credentials` --------------------------------------------------- */

static bool peer_allowed(Credentials *c, const ControlPeer *p) {
        const CredentialsSection *cs = cfg(c);
        if (p->uid == 0)
                return true;
        for (size_t i = 0; i < cs->n_allowed_uids; i++)
                if (cs->allowed_uids[i] == p->uid)
                        return true;
        /* the default list means "root and whoever runs the signer": without
         * a [child] user that is the agent's own user */
        if (!cs->allowed_users && !c->m->config->child.user.name && p->uid == geteuid())
                return true;
        for (size_t i = 0; i < cs->n_allowed_gids; i++)
                if (control_peer_in_group(p, cs->allowed_gids[i]))
                        return true;
        return false;
}

static bool field_differs(json_object *req, const char *key, const char *have) {
        json_object *v;
        if (!json_object_object_get_ex(req, key, &v) || !v)
                return false;
        return !json_object_is_type(v, json_type_string) || !have || strcasecmp(json_object_get_string(v), have) != 0;
}

/* The client's certificate (`certificate`: base64 of its file, PEM or DER)
 * as the SHA-256 of its first certificate, or the `certificate_sha256` it
 * sent; *ret NULL when it named none. Only ever called for an allowed peer. */
static int request_fingerprint(json_object *req, char **ret, char **code, char **msg) {
        _cleanup_free_ unsigned char *der = NULL;
        _cleanup_free_ char *why = NULL;
        const char *b64;
        json_object *v;
        size_t len, pad = 0;
        int n, r;

        *ret = NULL;
        if (!json_object_object_get_ex(req, "certificate", &v) || !v)
                return 0;
        b64 = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
        len = b64 ? strlen(b64) : 0;
        if (!b64 || len == 0 || len % 4 != 0 || len > CREDENTIALS_CERTIFICATE_B64_MAX) {
                *code = strdup("bad_certificate");
                *msg = strprintf("'certificate' must be the certificate file in base64, at most %d characters",
                                 CREDENTIALS_CERTIFICATE_B64_MAX);
                return -EINVAL;
        }
        der = malloc(len / 4 * 3 + 1);
        if (!der)
                return -ENOMEM;
        n = EVP_DecodeBlock(der, (const unsigned char *) b64, (int) len);
        ERR_clear_error();
        if (n < 0) {
                *code = strdup("bad_certificate");
                *msg = strdup("'certificate' is not valid base64");
                return -EINVAL;
        }
        /* EVP_DecodeBlock counts the padding as zero bytes */
        pad = (b64[len - 1] == '=') + (b64[len - 2] == '=');
        r = pki_cert_fingerprint_of(der, (size_t) n - pad, "the certificate sent", ret, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                *code = strdup("bad_certificate");
                *msg = strprintf("%s", why ? why : strerror(-r));
                return -EINVAL; /* whatever the parser said: the client sent no certificate */
        }
        return 0;
}

int credentials_request_identity(json_object *req, const CredentialsSection *cs, bool have_valid,
                                 const char *held_fingerprint, char **code, char **msg) {
        _cleanup_free_ char *client_fp = NULL;
        int r;

        r = request_fingerprint(req, &client_fp, code, msg);
        if (r == -ENOMEM) {
                *code = mfree_str(*code);
                *msg = mfree_str(*msg);
        }
        if (r < 0)
                return r;
        if (field_differs(req, "trust_anchor_arn", cs->trust_anchor_arn) || field_differs(req, "profile_arn", cs->profile_arn) ||
            field_differs(req, "role_arn", cs->role_arn) ||
            (have_valid && field_differs(req, "certificate_sha256", held_fingerprint)) ||
            (have_valid && client_fp && (!held_fingerprint || strcasecmp(client_fp, held_fingerprint) != 0))) {
                *code = strdup("identity_mismatch");
                *msg = strdup("the agent holds credentials for another trust anchor, profile, role or certificate");
                return -EXDEV;
        }
        return 0;
}

static int cmd_credentials(Manager *m, void *userdata, json_object *req, char **reply, size_t *reply_len, char **code,
                           char **msg) {
        Credentials *c = userdata;
        const CredentialsSection *cs = cfg(c);
        const ControlPeer *p = m->peer;
        uint64_t now = manager_now_realtime(m);
        size_t n;
        char *out;
        int r;

        /* who asks comes first: nothing a refused peer sent is parsed */
        if (!p || !peer_allowed(c, p)) {
                c->refused++;
                log_notice("Refused credentials to uid %u (pid %d): not root and not in [credentials] allowed_users or "
                           "allowed_groups",
                           p ? (unsigned) p->uid : 0, p ? (int) p->pid : 0);
                *code = strdup("forbidden");
                *msg = strprintf("uid %u may not fetch AWS credentials; add the user to [credentials] allowed_users "
                                     "or allowed_groups",
                                p ? (unsigned) p->uid : 0);
                return -EPERM;
        }
        if (!cs->enabled) {
                *code = strdup("credentials_disabled");
                *msg = strdup("the agent has no [credentials] section; set trust_anchor_arn, profile_arn and role_arn");
                return -ENOENT;
        }
        r = credentials_request_identity(req, cs, have_valid(c, now), c->creds_fingerprint, code, msg);
        if (r < 0)
                return r;
        if (!have_valid(c, now)) {
                /* pending: the first exchange (of this configuration or pair)
                 * is under way; a retry after failures is not news, the
                 * failure is (the worker holds an exchange in flight for
                 * its whole life, signing and TLS included) */
                if ((in_flight(c) && c->streak == 0) || (c->started && c->last_error.kind == RA_ERR_NONE)) {
                        *code = strdup("credentials_pending");
                        *msg = strdup("the first exchange is still running; retry shortly");
                        return -EAGAIN;
                }
                *code = strdup(ra_error_class(c->last_error.kind) == RA_CLASS_REJECTED ? "credentials_rejected"
                                                                                        : "credentials_unavailable");
                *msg = strprintf("no valid AWS credentials: %s: %s; %s", ra_error_kind_to_string(c->last_error.kind),
                                strna(c->last_error.message), strempty(c->last_fix));
                return -ENODATA;
        }
        /* exact size, one copy, wiped by the control server once queued */
        n = strlen("{\"ok\":true,\"result\":") + c->secret_len + strlen("}\n");
        out = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        snprintf(out, n + 1, "{\"ok\":true,\"result\":%s}\n", c->secret);
        *reply = out;
        *reply_len = n;
        c->served++;
        return 0;
}

static const ControlCommand credentials_commands[] = {
        { "credentials", false,
          "AWS credentials in credential_process form (allowed_users/allowed_groups only)", NULL, cmd_credentials },
        {},
};

const ModuleOps credentials_module = {
        .name = "credentials",
        .config_section = "credentials",
        .new = credentials_new,
        .free = credentials_free,
        .start = credentials_start,
        .reconfigure = credentials_reconfigure,
        .status = credentials_status,
        .metrics = credentials_metrics,
        .event = credentials_event,
        .stop = credentials_stop,
        .commands = credentials_commands,
};
