/* SPDX-License-Identifier: MIT */
#include "alerts.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <sys/random.h>
#include <time.h>

#include "alert_hook.h"
#include "alert_payload.h"
#include "alert_plan.h"
#include "alert_store.h"
#include "certinfo.h"
#include "http.h"
#include "event-util.h"
#include "log.h"
#include "manager.h"
#include "message-ids.h"
#include "metrics.h"
#include "strv.h"

#define STATE_FILE "alerts.json"
#define TEXTFILE_HEARTBEAT (60 * USEC_PER_SEC)
#define FIRED_COUNTERS_MAX 32

typedef enum Channel {
        CHANNEL_WEBHOOK,
        CHANNEL_ALERTMANAGER,
        CHANNEL_COMMAND,
        _CHANNEL_MAX,
} Channel;

static const char *const channel_names[_CHANNEL_MAX] = {
        [CHANNEL_WEBHOOK] = "webhook",
        [CHANNEL_ALERTMANAGER] = "alertmanager",
        [CHANNEL_COMMAND] = "command",
};

typedef struct ChannelStats {
        uint64_t delivered, failed;
        bool has_last;
        bool last_ok;
        uint64_t last_time; /* daemon wall clock */
        char *last_error;
        char *last_alert;
} ChannelStats;

typedef struct FiredCounter {
        char name[48];
        Health severity;
        uint64_t n;
} FiredCounter;

typedef struct Alerts {
        Manager *m;
        AlertStore store;
        char *state_path;
        bool store_dirty;

        CertInfo client, ca;
        bool have_client, have_ca;

        sd_event_source *plan_timer;  /* CLOCK_REALTIME: next stage or health change */
        uint64_t plan_target;         /* daemon clock the timer was set for */
        uint64_t last_planned, last_fired; /* for status: how late the timer fired */

        sd_event_source *retry_timer; /* CLOCK_MONOTONIC: queued deliveries */
        sd_event_source *save_defer;  /* idle priority: state no delivery waits for */
        sd_event_source *am_timer;    /* CLOCK_MONOTONIC: Alertmanager resend / retry */
        sd_event_source *textfile_timer;
        HttpClient *http;

        HttpRequest *webhook_req;
        AlertDelivery *webhook_item;
        HookRun *hook;
        AlertDelivery *hook_item;

        HttpRequest *am_req;
        bool am_dirty;
        unsigned am_attempts;
        char *am_error;

        ChannelStats ch[_CHANNEL_MAX];
        FiredCounter fired[FIRED_COUNTERS_MAX];
        size_t n_fired;

        char *textfile_error;
        char *hostname;
        uid_t nobody_uid;
        gid_t nobody_gid;
} Alerts;

static const AlertsSection *cfg(Alerts *a) {
        return &a->m->config->alerts;
}

static bool channel_configured(Alerts *a, Channel c) {
        switch (c) {
        case CHANNEL_WEBHOOK:
                return cfg(a)->webhook_url != NULL;
        case CHANNEL_ALERTMANAGER:
                return cfg(a)->alertmanager_url != NULL;
        case CHANNEL_COMMAND:
                return strv_length(cfg(a)->command) > 0;
        default:
                return false;
        }
}

static int channel_from_name(const char *s) {
        for (int i = 0; i < _CHANNEL_MAX; i++)
                if (streq(channel_names[i], s))
                        return i;
        return -EINVAL;
}

static const char *instance(Alerts *a) {
        return cfg(a)->instance ? cfg(a)->instance : a->hostname;
}

/* Offset of the daemon's clock from the real one ([test] clock_offset):
 * CLOCK_REALTIME timers and Alertmanager timestamps are in real time. */
static int64_t clock_offset(Alerts *a) {
        return a->m->config->test_clock_offset_sec * (int64_t) USEC_PER_SEC;
}

static uint64_t now_mono(Alerts *a) {
        uint64_t t = 0;
        (void) sd_event_now(a->m->event, CLOCK_MONOTONIC, &t);
        return t;
}

static uint64_t random_u64(void) {
        uint64_t v;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v)) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                v = (uint64_t) ts.tv_nsec * 6364136223846793005ULL + (uint64_t) getpid();
        }
        return v;
}

static usec_t backoff(Alerts *a, unsigned attempts) {
        return alert_backoff(cfg(a)->retry_max, attempts, random_u64());
}

static void save_store(Alerts *a) {
        int r;

        if (!a->store_dirty)
                return;
        r = alert_store_save(&a->store, a->state_path);
        if (r < 0) {
                log_warning_errno(r, "Cannot save alert state to %s (check [agent] state_dir)", a->state_path);
                return;
        }
        a->store_dirty = false;
}

static int on_save_defer(sd_event_source *s, void *userdata) {
        save_store(userdata);
        return 0;
}

/* Persist at idle priority, after whatever else is ready in this loop
 * iteration (a status request waiting for a renewal's new serial, say).
 * Only for state no delivery depends on yet: before a delivery the store is
 * saved synchronously, so a crash never sends twice. */
static void save_store_soon(Alerts *a) {
        if (!a->store_dirty)
                return;
        if (!a->save_defer || sd_event_source_set_enabled(a->save_defer, SD_EVENT_ONESHOT) < 0)
                save_store(a);
}

static void stats_record(Alerts *a, Channel c, bool ok, const char *alert, const char *error) {
        ChannelStats *s = &a->ch[c];

        if (ok)
                s->delivered++;
        else
                s->failed++;
        s->has_last = true;
        s->last_ok = ok;
        s->last_time = manager_now_realtime(a->m);
        free(s->last_error);
        s->last_error = error ? strdup(error) : NULL;
        free(s->last_alert);
        s->last_alert = alert ? strdup(alert) : NULL;
}

static void count_fired(Alerts *a, const char *name, Health severity) {
        for (size_t i = 0; i < a->n_fired; i++)
                if (streq(a->fired[i].name, name) && a->fired[i].severity == severity) {
                        a->fired[i].n++;
                        return;
                }
        if (a->n_fired >= FIRED_COUNTERS_MAX)
                return;
        snprintf(a->fired[a->n_fired].name, sizeof(a->fired[0].name), "%s", name);
        a->fired[a->n_fired].severity = severity;
        a->fired[a->n_fired++].n = 1;
}

/* ---- deliveries: webhook and command ---------------------------------- */

static void process_queue(Alerts *a);
static void am_post(Alerts *a);

static int read_secret(const char *path, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        char buf[4096];
        ssize_t n;

        if (fd < 0)
                return negative_errno();
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return negative_errno();
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0] == '\0')
                return -ENODATA;
        *ret = strdup(buf);
        explicit_bzero(buf, sizeof(buf));
        return *ret ? 0 : -ENOMEM;
}

static char *hmac_hex(const char *key, const char *data) {
        unsigned char out[EVP_MAX_MD_SIZE];
        size_t len = 0;
        char *hex;

        if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key), (const unsigned char *) data,
                       strlen(data), out, sizeof(out), &len))
                return NULL;
        hex = malloc(len * 2 + 1);
        if (!hex)
                return NULL;
        for (size_t i = 0; i < len; i++)
                sprintf(hex + 2 * i, "%02x", out[i]);
        return hex;
}

static void delivery_failed(Alerts *a, AlertDelivery *d, Channel c, const char *error) {
        _cleanup_strv_free_ char **fields = NULL;

        d->in_flight = false;
        d->attempts++;
        d->next_attempt = now_mono(a) + backoff(a, d->attempts);
        free(d->last_error);
        d->last_error = strdup(error);
        a->store_dirty = true;
        stats_record(a, c, false, d->alert.name, error);
        (void) strv_extendf(&fields, "AGV_ALERT=%s", strempty(d->alert.name));
        (void) strv_extendf(&fields, "AGV_ALERT_CHANNEL=%s", channel_names[c]);
        (void) strv_extendf(&fields, "AGV_ALERT_ATTEMPTS=%u", d->attempts);
        /* scheme://host only: webhook paths often embed tokens */
        _cleanup_free_ char *where = c == CHANNEL_WEBHOOK && cfg(a)->webhook_url ? http_url_redact(cfg(a)->webhook_url) : NULL;
        log_struct(LOG_WARNING, MSGID_ALERT_DELIVERY_FAILED, fields,
                   "Alert %s (%s) not delivered via %s%s%s%s (attempt %u): %s; retrying in %llus",
                   strempty(d->alert.name), d->alert.resolved ? "resolved" : "firing", channel_names[c],
                   where ? " (" : "", strempty(where), where ? ")" : "", d->attempts, error,
                   (unsigned long long) ((d->next_attempt - now_mono(a) + USEC_PER_SEC - 1) / USEC_PER_SEC));
}

static void delivery_done(Alerts *a, AlertDelivery *d, Channel c) {
        _cleanup_strv_free_ char **fields = NULL;

        stats_record(a, c, true, d->alert.name, NULL);
        (void) strv_extendf(&fields, "AGV_ALERT=%s", strempty(d->alert.name));
        (void) strv_extendf(&fields, "AGV_ALERT_CHANNEL=%s", channel_names[c]);
        log_struct(LOG_INFO, MSGID_ALERT_DELIVERED, fields, "Alert %s (%s) delivered via %s",
                   strempty(d->alert.name), d->alert.resolved ? "resolved" : "firing", channel_names[c]);
        alert_store_dequeue(&a->store, d, true);
        a->store_dirty = true;
}

/* One attempt ended (error NULL: delivered): record it, persist, go on. */
static void delivery_finished(Alerts *a, AlertDelivery *d, Channel c, const char *error) {
        if (error)
                delivery_failed(a, d, c, error);
        else
                delivery_done(a, d, c);
        save_store(a);
        manager_state_changed(a->m);
        process_queue(a);
}

static void on_webhook_done(HttpRequest *r, int error, long status, const char *message, void *userdata) {
        Alerts *a = userdata;
        AlertDelivery *d = a->webhook_item;

        a->webhook_req = NULL;
        a->webhook_item = NULL;
        if (!d)
                return;
        if (error < 0)
                delivery_finished(a, d, CHANNEL_WEBHOOK,
                                  error == -ETIMEDOUT ? "timed out" : message ? message : "transfer failed");
        else if (status < 200 || status > 299) {
                char e[64];
                snprintf(e, sizeof(e), "HTTP status %ld", status);
                delivery_finished(a, d, CHANNEL_WEBHOOK, e);
        } else
                delivery_finished(a, d, CHANNEL_WEBHOOK, NULL);
}

/* The secret and the header lines that carry it are wiped before free,
 * on every path out. */
static void secret_freep(char **s) {
        if (*s)
                explicit_bzero(*s, strlen(*s));
        free(*s);
}

static void headers_erase_freep(char ***l) {
        STRV_FOREACH(h, *l)
                explicit_bzero(*h, strlen(*h));
        strv_free(*l);
}

static int start_webhook(Alerts *a, AlertDelivery *d) {
        _cleanup_free_ char *body = alert_webhook_body(&d->alert, cfg(a)->webhook_slack_text);
        _cleanup_(headers_erase_freep) char **headers = strv_copy(cfg(a)->webhook_headers);
        _cleanup_(secret_freep) char *secret = NULL;
        int r;

        if (!body || (cfg(a)->webhook_headers && !headers))
                return -ENOMEM;
        if (cfg(a)->webhook_secret_file) {
                _cleanup_free_ char *sig = NULL;
                r = read_secret(cfg(a)->webhook_secret_file, &secret);
                if (r < 0) {
                        char e[256];
                        snprintf(e, sizeof(e), "cannot read [alerts] webhook_secret_file %s: %s",
                                 cfg(a)->webhook_secret_file, strerror(-r));
                        delivery_failed(a, d, CHANNEL_WEBHOOK, e);
                        return 0;
                }
                sig = hmac_hex(secret, body);
                if (strv_extendf(&headers, "Authorization: Bearer %s", secret) < 0 ||
                    (sig && strv_extendf(&headers, "X-Agv-Signature-256: sha256=%s", sig) < 0))
                        return -ENOMEM;
        }
        r = http_post(a->http, cfg(a)->webhook_url, headers, body, cfg(a)->delivery_timeout, on_webhook_done, a,
                      &a->webhook_req);
        if (r < 0)
                return r;
        d->in_flight = true;
        a->webhook_item = d;
        return 0;
}

static void on_hook_done(HookRun *h, int result, const char *what, void *userdata) {
        Alerts *a = userdata;
        AlertDelivery *d = a->hook_item;

        a->hook = NULL;
        a->hook_item = NULL;
        if (!d)
                return;
        if (result < 0) {
                char e[128];
                snprintf(e, sizeof(e), "command %s", what);
                delivery_finished(a, d, CHANNEL_COMMAND, e);
        } else
                delivery_finished(a, d, CHANNEL_COMMAND, NULL);
}

static int start_command(Alerts *a, AlertDelivery *d) {
        _cleanup_strv_free_ char **env = alert_hook_env(&d->alert);
        HookCredentials cred = {};
        int r;

        if (!env)
                return -ENOMEM;
        if (cfg(a)->command_user.name)
                cred = (HookCredentials) { true, cfg(a)->command_user.uid, cfg(a)->command_user.gid };
        else if (geteuid() == 0)
                /* never run an alert hook as root by default */
                cred = (HookCredentials) { true, a->nobody_uid, a->nobody_gid };
        r = hook_run(a->m->event, cfg(a)->command, env, &cred, cfg(a)->command_timeout, on_hook_done, a, &a->hook);
        if (r < 0) {
                char e[128];
                snprintf(e, sizeof(e), "cannot start command: %s", strerror(-r));
                delivery_failed(a, d, CHANNEL_COMMAND, e);
                return 0;
        }
        d->in_flight = true;
        a->hook_item = d;
        return 0;
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        process_queue(userdata);
        return 0;
}

static void process_queue(Alerts *a) {
        uint64_t now = now_mono(a), next = USEC_INFINITY;
        bool changed = false;

        for (size_t i = 0; i < a->store.n_queue;) {
                AlertDelivery *d = a->store.queue[i];
                int c = channel_from_name(d->channel);
                bool busy;
                int r;

                if (d->in_flight) {
                        i++;
                        continue;
                }
                if (c < 0 || !channel_configured(a, (Channel) c)) {
                        log_notice("Dropping undelivered alert %s: channel %s is no longer configured",
                                   d->dedupe, d->channel);
                        alert_store_dequeue(&a->store, d, false);
                        changed = true;
                        continue;
                }
                if (a->m->stopping)
                        break;
                busy = c == CHANNEL_WEBHOOK ? a->webhook_item != NULL : a->hook_item != NULL;
                if (busy || d->next_attempt > now) {
                        if (!busy)
                                next = MIN(next, d->next_attempt);
                        i++;
                        continue;
                }
                r = c == CHANNEL_WEBHOOK ? start_webhook(a, d) : start_command(a, d);
                if (r < 0) {
                        char e[128];
                        snprintf(e, sizeof(e), "cannot start delivery: %s", strerror(-r));
                        delivery_failed(a, d, (Channel) c, e);
                        next = MIN(next, d->next_attempt);
                }
                changed = true;
                /* the item may have failed synchronously and stays queued */
                i++;
        }
        if (changed) {
                a->store_dirty = true;
                save_store(a);
                manager_state_changed(a->m);
        }
        if (next == USEC_INFINITY) {
                (void) sd_event_source_set_enabled(a->retry_timer, SD_EVENT_OFF);
                return;
        }
        (void) event_timer_arm(a->retry_timer, next, SD_EVENT_ONESHOT, "alert retry");
}

/* ---- Alertmanager ------------------------------------------------------ */

static bool am_has_firing(Alerts *a) {
        for (size_t i = 0; i < a->store.n_am; i++)
                if (!a->store.am[i]->resolved)
                        return true;
        return false;
}

static void am_schedule(Alerts *a, usec_t delay) {
        (void) event_timer_arm(a->am_timer, usec_add(now_mono(a), delay), SD_EVENT_ONESHOT, "Alertmanager resend");
}

static void on_am_done(HttpRequest *r, int error, long status, const char *message, void *userdata) {
        Alerts *a = userdata;
        char e[256];

        a->am_req = NULL;
        if (error < 0 || status < 200 || status > 299) {
                if (error < 0)
                        snprintf(e, sizeof(e), "%s", error == -ETIMEDOUT ? "timed out" : message);
                else
                        snprintf(e, sizeof(e), "HTTP status %ld", status);
                a->am_attempts++;
                stats_record(a, CHANNEL_ALERTMANAGER, false, NULL, e);
                free(a->am_error);
                a->am_error = strdup(e);
                log_struct(LOG_WARNING, MSGID_ALERT_DELIVERY_FAILED,
                           ((char *[]) { (char *) "AGV_ALERT_CHANNEL=alertmanager", NULL }),
                           "Alerts not delivered to Alertmanager (attempt %u): %s", a->am_attempts, e);
                am_schedule(a, backoff(a, a->am_attempts));
        } else {
                a->am_attempts = 0;
                a->am_error = mfree_str(a->am_error);
                stats_record(a, CHANNEL_ALERTMANAGER, true, NULL, NULL);
                log_debug("Posted %zu alert(s) to Alertmanager", a->store.n_am);
                if (!a->am_dirty) {
                        /* resolved alerts were posted with their endsAt: done */
                        size_t before = a->store.n_am;
                        alert_store_am_prune_resolved(&a->store);
                        if (before != a->store.n_am)
                                a->store_dirty = true;
                }
                if (a->am_dirty)
                        am_schedule(a, 0);
                else if (am_has_firing(a))
                        am_schedule(a, cfg(a)->alertmanager_resend);
                else
                        (void) sd_event_source_set_enabled(a->am_timer, SD_EVENT_OFF);
        }
        save_store(a);
        manager_state_changed(a->m);
}

static void am_post(Alerts *a) {
        _cleanup_free_ Alert *shifted = NULL;
        _cleanup_free_ Alert **list = NULL;
        _cleanup_free_ char *body = NULL, *url = NULL;
        int64_t off = clock_offset(a);
        uint64_t real_now;
        int r;

        if (!channel_configured(a, CHANNEL_ALERTMANAGER)) {
                size_t before = a->store.n_am;
                alert_store_am_prune_resolved(&a->store);
                a->store_dirty |= before != a->store.n_am;
                (void) sd_event_source_set_enabled(a->am_timer, SD_EVENT_OFF);
                return;
        }
        if (a->am_req) {
                a->am_dirty = true;
                return;
        }
        a->am_dirty = false;
        if (a->store.n_am == 0) {
                (void) sd_event_source_set_enabled(a->am_timer, SD_EVENT_OFF);
                return;
        }
        /* Alertmanager works in real time: undo the test clock offset */
        shifted = calloc(a->store.n_am, sizeof(Alert));
        list = calloc(a->store.n_am, sizeof(Alert *));
        if (!shifted || !list)
                return (void) log_oom();
        for (size_t i = 0; i < a->store.n_am; i++) {
                shifted[i] = *a->store.am[i];
                if (shifted[i].starts_at)
                        shifted[i].starts_at = (uint64_t) ((int64_t) shifted[i].starts_at - off);
                if (shifted[i].ends_at)
                        shifted[i].ends_at = (uint64_t) ((int64_t) shifted[i].ends_at - off);
                list[i] = &shifted[i];
        }
        real_now = (uint64_t) ((int64_t) manager_now_realtime(a->m) - off);
        /* like Prometheus: a lease of 4 resend intervals, renewed by re-posting */
        body = alertmanager_body(list, a->store.n_am, real_now + 4 * MAX(cfg(a)->alertmanager_resend, USEC_PER_SEC));
        if (!body)
                return (void) log_oom();
        {
                const char *u = cfg(a)->alertmanager_url;
                size_t l = strlen(u);
                if (asprintf(&url, "%s%s", u,
                             strstr(u, "/api/v2/alerts") ? "" : (l > 0 && u[l - 1] == '/') ? "api/v2/alerts" : "/api/v2/alerts") < 0)
                        return (void) log_oom();
        }
        r = http_post(a->http, url, NULL, body, cfg(a)->delivery_timeout, on_am_done, a, &a->am_req);
        if (r < 0) {
                log_warning_errno(r, "Cannot post to Alertmanager");
                a->am_attempts++;
                am_schedule(a, backoff(a, a->am_attempts));
        }
}

static int on_am_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        am_post(userdata);
        return 0;
}

/* ---- firing ------------------------------------------------------------ */

static void dispatch(Alerts *a, const Alert *al, bool to_am) {
        int r;

        if (channel_configured(a, CHANNEL_WEBHOOK)) {
                r = alert_store_enqueue(&a->store, "webhook", al, cfg(a)->queue_max);
                if (r < 0)
                        log_warning_errno(r, "Cannot queue alert %s for the webhook", al->name);
                a->store_dirty |= r > 0;
        }
        if (channel_configured(a, CHANNEL_COMMAND)) {
                r = alert_store_enqueue(&a->store, "command", al, cfg(a)->queue_max);
                if (r < 0)
                        log_warning_errno(r, "Cannot queue alert %s for the command", al->name);
                a->store_dirty |= r > 0;
        }
        if (to_am) {
                r = alert_store_am_put(&a->store, al);
                if (r < 0)
                        log_oom();
                a->store_dirty = true;
                am_post(a);
        }
        process_queue(a);
}

static const char *role_title(const char *role) {
        return streq(role, "ca") ? "CA certificate" : "Client certificate";
}

static const char *renewal_fix(const char *role) {
        if (streq(role, "ca"))
                return "Create a new CA (deployment guide, Step 2), register it as a new IAM Roles Anywhere "
                       "trust anchor (Step 4a), issue a new client certificate from it and install the new "
                       "ca.pem before the old CA expires.";
        return "Renew it with the key made on this VM: `sudo agv-agent request --out client.csr` prints the "
               "openssl line that signs the CSR with the CA key and the guide's client-ext.cnf; then "
               "`sudo agv-agent install-cert client.crt` checks and installs the certificate (docs/renewal.md). "
               "Or the deployment guide's 'Cert Renewal (Annual)' with `install -m 444 client.crt` and "
               "`install -m 440 client.key` (owned root:<app group>). The agent picks the new pair up by itself.";
}

static void resolve_matching(Alerts *a, const char *role, const char *serial, const char *name, bool notify,
                             const char *keep_key) {
        uint64_t now = manager_now_realtime(a->m);
        _cleanup_free_ Alert **notify_list = NULL;
        size_t n_notify = 0;
        bool changed = false;

        notify_list = calloc(a->store.n_am + 1, sizeof(Alert *));
        if (!notify_list)
                return (void) log_oom();
        for (size_t i = 0; i < a->store.n_am; i++) {
                Alert *x = a->store.am[i];
                if (x->resolved || (keep_key && streq(x->key, keep_key)))
                        continue;
                if (role && !(x->role && streq(x->role, role)))
                        continue;
                if (serial && !(x->serial && streq(x->serial, serial)))
                        continue;
                if (name && !streq(x->name, name))
                        continue;
                x->resolved = true;
                x->ends_at = now;
                changed = true;
                if (notify)
                        notify_list[n_notify++] = x;
        }
        if (!changed)
                return;
        a->store_dirty = true;
        for (size_t i = 0; i < n_notify; i++) {
                _cleanup_free_ char *summary = NULL;
                Alert copy = *notify_list[i];
                if (asprintf(&summary, "Resolved: %s", strempty(copy.summary)) >= 0)
                        copy.summary = summary;
                log_struct(LOG_NOTICE, MSGID_ALERT_RESOLVED,
                           ((char *[]) { (char *) "AGV_ALERT_STATUS=resolved", NULL }), "Alert %s resolved",
                           copy.name);
                dispatch(a, &copy, false);
        }
        am_post(a);
}

/* The planner counts in unsigned Unix time: a certificate that ended
 * before 1970 is planned as ending at the epoch, i.e. long expired (its
 * real date is still what the messages show). */
static uint64_t planned_end(const CertInfo *ci) {
        return ci->not_after <= 0 ? 1 : (uint64_t) ci->not_after;
}

static void fire_expiry(Alerts *a, const char *role, const CertInfo *ci, usec_t before, uint64_t now) {
        _cleanup_strv_free_ char **fields = NULL;
        _cleanup_free_ char *key = NULL, *summary = NULL;
        char stage[ALERT_STAGE_NAME_MAX], na[32];
        bool ca = streq(role, "ca"), expired = before == ALERT_STAGE_EXPIRED;
        int64_t days = alert_days_left(planned_end(ci), now);
        Alert al = {
                .name = (char *) (ca ? (expired ? "AgvCaCertificateExpired" : "AgvCaCertificateExpiring")
                                     : (expired ? "AgvCertificateExpired" : "AgvCertificateExpiring")),
                .kind = (char *) (ca ? (expired ? "ca_expired" : "ca_expiring")
                                     : (expired ? "cert_expired" : "cert_expiring")),
                .severity = alert_stage_severity(cfg(a), before),
                .stage = alert_stage_name(before, stage),
                .role = (char *) role,
                .serial = ci->serial,
                .subject = ci->subject,
                .issuer = ci->issuer,
                .not_after = planned_end(ci),
                .days_left = days,
                .description = (char *) renewal_fix(role),
                .instance = (char *) instance(a),
                .starts_at = now,
        };

        format_rfc3339(ci->not_after, na, sizeof(na));
        if (asprintf(&key, "%s:%s:%s:%s", al.name, role, strempty(ci->serial), stage) < 0)
                return (void) log_oom();
        if (expired &&
            asprintf(&summary, "%s %s (%s) expired on %s", role_title(role), strempty(ci->serial),
                             strempty(ci->subject), na) < 0)
                summary = NULL;
        if (!expired && asprintf(&summary, "%s %s (%s) expires in %lld day%s, on %s", role_title(role),
                                 strempty(ci->serial), strempty(ci->subject), (long long) days,
                                 days == 1 ? "" : "s", na) < 0)
                summary = NULL;
        if (!summary)
                return (void) log_oom();
        al.key = key;
        al.summary = summary;

        (void) strv_extendf(&fields, "AGV_ALERT=%s", al.name);
        (void) strv_extendf(&fields, "AGV_ALERT_STAGE=%s", stage);
        (void) strv_extendf(&fields, "AGV_ALERT_SEVERITY=%s", alert_severity_label(al.severity));
        (void) strv_extendf(&fields, "AGV_CERT_ROLE=%s", role);
        (void) strv_extendf(&fields, "AGV_CERT_SERIAL=%s", strempty(ci->serial));
        (void) strv_extendf(&fields, "AGV_CERT_SUBJECT=%s", strempty(ci->subject));
        (void) strv_extendf(&fields, "AGV_CERT_NOT_AFTER=%s", na);
        (void) strv_extendf(&fields, "AGV_DAYS_LEFT=%lld", (long long) days);
        if (ci->path)
                (void) strv_extendf(&fields, "AGV_CERT_PATH=%s", ci->path);
        log_struct(alert_stage_priority(cfg(a), before),
                   ca ? (expired ? MSGID_CA_EXPIRED : MSGID_CA_EXPIRING) : (expired ? MSGID_CERT_EXPIRED : MSGID_CERT_EXPIRING),
                   fields, "%s [%s]", summary, stage);
        count_fired(a, al.name, al.severity);

        /* a later stage supersedes the earlier one in Alertmanager (its
         * severity label differs, so it is a different alert there) */
        resolve_matching(a, role, ci->serial, NULL, false, key);
        dispatch(a, &al, true);
}

/* ---- planning ---------------------------------------------------------- */

static void evaluate(Alerts *a);

static int on_plan_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Alerts *a = userdata;

        a->last_planned = a->plan_target;
        a->last_fired = manager_now_realtime(a->m);
        log_debug("Alert timer for %llu fired %lld us late", (unsigned long long) a->plan_target,
                  (long long) a->last_fired - (long long) a->plan_target);
        evaluate(a);
        return 0;
}

static void arm_plan_timer(Alerts *a, uint64_t next) {
        int64_t real;
        int r;

        a->plan_target = next;
        if (next == USEC_INFINITY) {
                (void) sd_event_source_set_enabled(a->plan_timer, SD_EVENT_OFF);
                return;
        }
        real = (int64_t) next - clock_offset(a);
        r = sd_event_source_set_time(a->plan_timer, real > 0 ? (uint64_t) real : 1);
        if (r >= 0)
                r = sd_event_source_set_enabled(a->plan_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Cannot arm the alert timer");
}

static uint64_t plan_role(Alerts *a, const char *role, const CertInfo *ci, uint64_t now) {
        AlertPlan p;
        uint64_t next;

        if (!ci->serial)
                return USEC_INFINITY;
        alert_plan_evaluate(cfg(a), planned_end(ci), alert_store_fired(&a->store, role, ci->serial), now, &p);
        if (p.fire) {
                char name[ALERT_STAGE_NAME_MAX];
                for (size_t i = 0; i < p.n_mark; i++)
                        if (alert_store_mark_fired(&a->store, role, ci->serial, alert_stage_name(p.mark[i], name)) < 0)
                                log_oom();
                a->store_dirty = true;
                /* persist before delivering: a crash must not re-fire */
                save_store(a);
                fire_expiry(a, role, ci, p.fire_before, now);
        }
        next = MIN(p.next, alert_plan_next_health_change(cfg(a), planned_end(ci), now));
        if (planned_end(ci) > now)
                next = MIN(next, planned_end(ci));
        return next;
}

static void evaluate(Alerts *a) {
        uint64_t now = manager_now_realtime(a->m), next = USEC_INFINITY;

        if (a->have_client)
                next = MIN(next, plan_role(a, "client", &a->client, now));
        if (a->have_ca)
                next = MIN(next, plan_role(a, "ca", &a->ca, now));
        arm_plan_timer(a, next);
        save_store_soon(a);
        manager_state_changed(a->m);
}

/* ---- events ------------------------------------------------------------ */

static void on_cert_activated(Alerts *a, const CertActivation *act) {
        if (act->client) {
                if (a->have_client && a->client.serial && act->client->serial &&
                    !streq(a->client.serial, act->client->serial)) {
                        log_info("Client certificate renewed (%s -> %s): resolving its alerts, the new one starts clean",
                                 a->client.serial, act->client->serial);
                        resolve_matching(a, "client", a->client.serial, NULL, true, NULL);
                }
                cert_info_done(&a->client);
                a->have_client = cert_info_copy(act->client, &a->client) >= 0;
        }
        if (act->previous && act->previous->serial && act->client && act->client->serial &&
            !streq(act->previous->serial, act->client->serial))
                resolve_matching(a, "client", act->previous->serial, NULL, true, NULL);
        if (a->have_ca && a->ca.serial && (!act->ca || !act->ca->serial || !streq(a->ca.serial, act->ca->serial)))
                resolve_matching(a, "ca", a->ca.serial, NULL, true, NULL);
        cert_info_done(&a->ca);
        a->have_ca = act->ca && cert_info_copy(act->ca, &a->ca) >= 0;
        evaluate(a);
}

static const char *event_kind(AgentEventType t) {
        switch (t) {
        case EVENT_RENEWAL_INCOMPLETE:
                return "renewal_incomplete";
        case EVENT_PERMISSION_REPAIRED:
                return "permission_repaired";
        case EVENT_CHILD_FAILED:
                return "child_failed";
        case EVENT_CREDENTIALS_FAILED:
                return "credentials_failed";
        case EVENT_RENEWED_CERT_REJECTED:
                return "renewed_certificate_rejected";
        default:
                return "other";
        }
}

static Alert *find_active_by_name(Alerts *a, const char *name) {
        for (size_t i = 0; i < a->store.n_am; i++)
                if (!a->store.am[i]->resolved && streq(a->store.am[i]->name, name))
                        return a->store.am[i];
        return NULL;
}

static void on_alert_event(Alerts *a, AgentEventType t, const AlertEvent *ev) {
        _cleanup_strv_free_ char **fields = NULL;
        _cleanup_free_ char *key = NULL;
        uint64_t now = manager_now_realtime(a->m);
        /* a repair is a one-off fact, not a condition that later ends */
        bool condition = t != EVENT_PERMISSION_REPAIRED;
        Alert al;

        if (!ev || !ev->name)
                return;
        if (ev->resolved) {
                resolve_matching(a, NULL, NULL, ev->name, true, NULL);
                save_store(a);
                manager_state_changed(a->m);
                return;
        }
        if (condition && find_active_by_name(a, ev->name))
                return; /* already firing: one alert per occurrence of a condition */
        if (asprintf(&key, "%s@%llu", ev->name, (unsigned long long) now) < 0)
                return (void) log_oom();
        al = (Alert) {
                .key = key,
                .name = (char *) ev->name,
                .kind = (char *) event_kind(t),
                .severity = ev->severity == HEALTH_UNKNOWN ? HEALTH_WARNING : ev->severity,
                .summary = (char *) ev->summary,
                .description = (char *) ev->description,
                .instance = (char *) instance(a),
                .starts_at = now,
        };
        if (t == EVENT_RENEWAL_INCOMPLETE && a->have_client) {
                al.serial = a->client.serial;
                al.subject = a->client.subject;
                al.role = (char *) "client";
        }
        (void) strv_extendf(&fields, "AGV_ALERT=%s", ev->name);
        (void) strv_extendf(&fields, "AGV_ALERT_SEVERITY=%s", alert_severity_label(al.severity));
        STRV_FOREACH(f, ev->fields)
                (void) strv_extend(&fields, *f);
        log_struct(al.severity >= HEALTH_CRITICAL ? LOG_ERR : al.severity == HEALTH_WARNING ? LOG_WARNING : LOG_NOTICE,
                   MSGID_ALERT_FIRED, fields, "Alert %s: %s", ev->name, strempty(ev->summary));
        count_fired(a, ev->name, al.severity);
        if (!condition) {
                /* Alertmanager still hears of it; the lease lets it expire */
                dispatch(a, &al, true);
                Alert *x = alert_store_am_get(&a->store, key);
                if (x) {
                        x->resolved = true;
                        x->ends_at = now + 4 * MAX(cfg(a)->alertmanager_resend, USEC_PER_SEC);
                }
        } else
                dispatch(a, &al, true);
        save_store(a);
        manager_state_changed(a->m);
}

static void write_textfile(Alerts *a) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (!cfg(a)->textfile)
                return;
        text = manager_metrics(a->m);
        if (!text)
                return (void) log_oom();
        r = write_file_atomic(cfg(a)->textfile, text, strlen(text), 0644);
        if (r < 0) {
                if (!a->textfile_error)
                        log_warning_errno(r, "Cannot write [alerts] textfile %s (does its directory exist?)",
                                          cfg(a)->textfile);
                free(a->textfile_error);
                a->textfile_error = strdup(strerror(-r));
        } else if (a->textfile_error) {
                log_info("Writing [alerts] textfile %s works again", cfg(a)->textfile);
                a->textfile_error = mfree_str(a->textfile_error);
        }
}

static int on_textfile_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Alerts *a = userdata;
        /* a heartbeat, so a stale file (node_textfile_mtime_seconds) reveals a dead agent */
        write_textfile(a);
        (void) event_timer_arm_relative(s, TEXTFILE_HEARTBEAT, SD_EVENT_ONESHOT, "metrics textfile");
        return 0;
}

static void alerts_event(void *mod, AgentEventType type, const void *payload) {
        Alerts *a = mod;

        switch (type) {
        case EVENT_CERT_ACTIVATED:
                if (payload)
                        on_cert_activated(a, payload);
                break;
        case EVENT_RENEWAL_INCOMPLETE:
        case EVENT_PERMISSION_REPAIRED:
        case EVENT_CHILD_FAILED:
        case EVENT_CREDENTIALS_FAILED:
        case EVENT_RENEWED_CERT_REJECTED:
                on_alert_event(a, type, payload);
                break;
        case EVENT_CHILD_RECOVERED:
                for (size_t i = 0; i < a->store.n_am; i++) {
                        Alert *x = a->store.am[i];
                        if (!x->resolved && x->kind && streq(x->kind, "child_failed")) {
                                resolve_matching(a, NULL, NULL, x->name, true, NULL);
                                break;
                        }
                }
                save_store(a);
                manager_state_changed(a->m);
                break;
        case EVENT_CLOCK_CHANGED:
                evaluate(a);
                break;
        case EVENT_STATUS_CHANGED:
                write_textfile(a);
                break;
        default:
                break;
        }
}

/* ---- lifecycle --------------------------------------------------------- */

static int state_path_for(const Config *c, char **ret) {
        return asprintf(ret, "%s/%s", c->agent.state_dir, STATE_FILE) < 0 ? -ENOMEM : 0;
}

static void *alerts_free(void *mod) {
        Alerts *a = mod;

        if (!a)
                return NULL;
        save_store(a);
        hook_run_cancel(a->hook);
        http_client_free(a->http); /* cancels requests without callbacks */
        http_preload_join();
        sd_event_source_disable_unref(a->plan_timer);
        sd_event_source_disable_unref(a->retry_timer);
        sd_event_source_disable_unref(a->save_defer);
        sd_event_source_disable_unref(a->am_timer);
        sd_event_source_disable_unref(a->textfile_timer);
        alert_store_done(&a->store);
        cert_info_done(&a->client);
        cert_info_done(&a->ca);
        for (int i = 0; i < _CHANNEL_MAX; i++) {
                free(a->ch[i].last_error);
                free(a->ch[i].last_alert);
        }
        free(a->am_error);
        free(a->textfile_error);
        free(a->hostname);
        free(a->state_path);
        free(a);
        return NULL;
}

static int alerts_new(Manager *m, void **ret) {
        Alerts *a;
        char host[256];
        struct passwd *pw;
        int r;

        a = calloc(1, sizeof(Alerts));
        if (!a)
                return -ENOMEM;
        a->m = m;
        a->nobody_uid = 65534;
        a->nobody_gid = 65534;
        /* resolved once here, not between fork and exec */
        pw = getpwnam("nobody");
        if (pw) {
                a->nobody_uid = pw->pw_uid;
                a->nobody_gid = pw->pw_gid;
        }
        if (gethostname(host, sizeof(host)) < 0)
                snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        a->hostname = strdup(host);
        r = state_path_for(m->config, &a->state_path);
        if (r < 0 || !a->hostname)
                goto fail;

        r = alert_store_load(a->state_path, &a->store);
        if (r < 0)
                goto fail;
        if (r > 0)
                a->store_dirty = true;
        r = http_client_new(m->event, &a->http);
        if (r < 0) {
                log_error_errno(r, "Cannot initialise libcurl");
                goto fail;
        }
        r = sd_event_add_time(m->event, &a->plan_timer, CLOCK_REALTIME, USEC_INFINITY, 1, on_plan_timer, a);
        if (r >= 0)
                r = sd_event_add_time(m->event, &a->retry_timer, CLOCK_MONOTONIC, USEC_INFINITY, 1, on_retry_timer, a);
        if (r >= 0)
                r = sd_event_add_time(m->event, &a->am_timer, CLOCK_MONOTONIC, USEC_INFINITY, 1, on_am_timer, a);
        if (r >= 0)
                r = sd_event_add_time(m->event, &a->textfile_timer, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_SEC,
                                      on_textfile_timer, a);
        if (r >= 0)
                r = sd_event_add_defer(m->event, &a->save_defer, on_save_defer, a);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_priority(a->save_defer, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_enabled(a->save_defer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(a->plan_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(a->retry_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(a->am_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(a->textfile_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(a->plan_timer, "alerts-plan");
        *ret = a;
        return 0;
fail:
        alerts_free(a);
        return r < 0 ? r : -ENOMEM;
}

/* An HTTP channel will post from the loop: load libcurl (~10 ms) in a
 * thread now rather than inside the first delivery's callback. */
static void preload_http(Alerts *a) {
        if (cfg(a)->webhook_url || cfg(a)->alertmanager_url)
                http_preload_async();
}

static int alerts_start(void *mod) {
        Alerts *a = mod;

        preload_http(a);

        if (a->store.n_queue > 0)
                log_info("Retrying %zu undelivered alert(s) from %s", a->store.n_queue, a->state_path);
        save_store(a);
        process_queue(a);
        if (a->store.n_am > 0)
                am_post(a);
        if (cfg(a)->textfile)
                on_textfile_timer(a->textfile_timer, 0, a);
        evaluate(a);
        return 0;
}

static void alerts_reconfigure(void *mod, const Config *old, const Config *new) {
        Alerts *a = mod;
        _cleanup_free_ char *p = NULL;

        preload_http(a);
        if (state_path_for(new, &p) >= 0 && !streq(p, a->state_path)) {
                free(a->state_path);
                a->state_path = TAKE_PTR(p);
                a->store_dirty = true;
                save_store(a);
        }
        if (new->alerts.textfile && !old->alerts.textfile)
                on_textfile_timer(a->textfile_timer, 0, a);
        else if (!new->alerts.textfile)
                (void) sd_event_source_set_enabled(a->textfile_timer, SD_EVENT_OFF);
        process_queue(a);
        am_post(a);
        evaluate(a);
}

static int alerts_stop(void *mod) {
        Alerts *a = mod;

        /* a clean stop leaves agv_up 0 behind for the fleet's AgvAgentDown
         * rule, instead of a stale 1 */
        if (cfg(a)->textfile) {
                _cleanup_free_ char *text = manager_metrics(a->m);
                char *p = text ? strstr(text, "\nagv_up 1\n") : NULL;
                if (p) {
                        p[strlen("\nagv_up ")] = '0';
                        (void) write_file_atomic(cfg(a)->textfile, text, strlen(text), 0644);
                }
                (void) sd_event_source_set_enabled(a->textfile_timer, SD_EVENT_OFF);
        }
        /* in-flight deliveries stay queued and persisted: retried after the
         * restart (at-least-once) */
        a->store_dirty = true;
        save_store(a);
        return 0;
}

/* ---- status and metrics ----------------------------------------------- */

static json_object *cert_json(Alerts *a, const char *role, const CertInfo *ci, uint64_t now) {
        json_object *o = json_object_new_object(), *fired = json_object_new_array();
        AlertPlan p;
        char name[ALERT_STAGE_NAME_MAX];

        json_object_object_add(o, "role", json_object_new_string(role));
        json_object_object_add(o, "serial", json_string_or_null(ci->serial));
        json_object_object_add(o, "not_after", ci->serial ? json_time(ci->not_after) : NULL);
        json_object_object_add(o, "health", json_object_new_string(health_to_string(alert_plan_health(cfg(a), planned_end(ci), now))));
        STRV_FOREACH(f, alert_store_fired(&a->store, role, strempty(ci->serial)))
                json_object_array_add(fired, json_object_new_string(*f));
        json_object_object_add(o, "fired", fired);
        alert_plan_evaluate(cfg(a), planned_end(ci), alert_store_fired(&a->store, role, strempty(ci->serial)), now, &p);
        json_object_object_add(o, "next_alert", json_time_or_null(p.next));
        json_object_object_add(o, "next_stage", p.next == USEC_INFINITY ? NULL
                                                  : json_object_new_string(alert_stage_name(p.next_before, name)));
        return o;
}

static void health_reason(Alerts *a, StatusBuilder *sb, const char *role, const CertInfo *ci, uint64_t now) {
        Health h;
        char na[32];
        int64_t days;

        if (!ci->serial || now >= planned_end(ci))
                return; /* expired: the certificate module reports that */
        h = alert_plan_health(cfg(a), planned_end(ci), now);
        if (h == HEALTH_OK)
                return;
        days = (int64_t) ((planned_end(ci) - now) / USEC_PER_DAY);
        format_rfc3339(ci->not_after, na, sizeof(na));
        status_add_reason(sb, h, streq(role, "ca") ? "ca_cert_expiring" : "cert_expiring",
                          "%s %s expires in %s%lld day%s (%s); %s", role_title(role), strempty(ci->serial),
                          days == 0 ? "less than " : "", (long long) (days == 0 ? 1 : days),
                          days <= 1 ? "" : "s", na,
                          streq(role, "ca") ? "replace the CA and its trust anchor"
                                            : "renew it: 'agv-agent request', sign the CSR, "
                                              "'agv-agent install-cert client.crt' (docs/renewal.md)");
}

static void alerts_status(void *mod, StatusBuilder *sb) {
        Alerts *a = mod;
        uint64_t now = manager_now_realtime(a->m);
        json_object *o = json_object_new_object(), *th = json_object_new_array(), *certs = json_object_new_array(),
                    *channels = json_object_new_object(), *active = json_object_new_array();
        usec_t stages[ALERT_STAGES_MAX];
        size_t n = alert_plan_stages(cfg(a), stages), pending_failed = 0;
        char buf[ALERT_STAGE_NAME_MAX];

        for (size_t i = 0; i < n; i++)
                json_object_array_add(th, json_object_new_string(alert_stage_name(stages[i], buf)));
        json_object_object_add(o, "thresholds", th);
        json_object_object_add(o, "warning_before", json_object_new_string(format_duration(cfg(a)->warning_before, buf, sizeof(buf))));
        json_object_object_add(o, "critical_before", json_object_new_string(format_duration(cfg(a)->critical_before, buf, sizeof(buf))));
        if (a->have_client) {
                json_object *c = cert_json(a, "client", &a->client, now);
                json_object_object_add(o, "fired", json_object_get(json_object_object_get(c, "fired")));
                json_object_array_add(certs, c);
        } else
                json_object_object_add(o, "fired", json_object_new_array());
        if (a->have_ca)
                json_object_array_add(certs, cert_json(a, "ca", &a->ca, now));
        json_object_object_add(o, "certificates", certs);
        json_object_object_add(o, "next_alert",
                               a->plan_target == USEC_INFINITY ? NULL : json_time_or_null(a->plan_target));
        json_object_object_add(o, "pending_deliveries", json_object_new_int64((int64_t) a->store.n_queue));
        for (size_t i = 0; i < a->store.n_queue; i++)
                if (a->store.queue[i]->attempts > 0)
                        pending_failed++;
        json_object_object_add(o, "dropped_deliveries", json_object_new_int64((int64_t) a->store.dropped));
        for (int c = 0; c < _CHANNEL_MAX; c++) {
                ChannelStats *s = &a->ch[c];
                json_object *co;
                if (!channel_configured(a, (Channel) c))
                        continue;
                co = json_object_new_object();
                json_object_object_add(co, "delivered", json_object_new_int64((int64_t) s->delivered));
                json_object_object_add(co, "failed", json_object_new_int64((int64_t) s->failed));
                json_object_object_add(co, "last_result", s->has_last ? json_object_new_string(s->last_ok ? "ok" : "failed") : NULL);
                json_object_object_add(co, "last_time", s->has_last ? json_time_or_null(s->last_time) : NULL);
                json_object_object_add(co, "last_error", json_string_or_null(s->last_error));
                json_object_object_add(channels, channel_names[c], co);
        }
        json_object_object_add(o, "channels", channels);
        for (size_t i = 0; i < a->store.n_am; i++)
                if (!a->store.am[i]->resolved)
                        json_object_array_add(active, json_object_new_string(a->store.am[i]->name));
        json_object_object_add(o, "active", active);
        if (a->last_planned) {
                json_object *t = json_object_new_object();
                json_object_object_add(t, "planned_usec", json_object_new_int64((int64_t) a->last_planned));
                json_object_object_add(t, "fired_usec", json_object_new_int64((int64_t) a->last_fired));
                json_object_object_add(t, "late_usec", json_object_new_int64((int64_t) a->last_fired - (int64_t) a->last_planned));
                json_object_object_add(o, "last_timer", t);
        }
        if (a->textfile_error)
                json_object_object_add(o, "textfile_error", json_object_new_string(a->textfile_error));
        status_set_section(sb, "alerts", o);

        if (a->have_client)
                health_reason(a, sb, "client", &a->client, now);
        if (a->have_ca)
                health_reason(a, sb, "ca", &a->ca, now);
        if (pending_failed > 0 || a->am_attempts > 0) {
                status_add_reason(sb, HEALTH_WARNING, "alert_delivery_failing",
                                  "%zu alert delivery(ies) failing%s%s; check [alerts] webhook_url/alertmanager_url/command "
                                  "and the journal (MESSAGE_ID=" MSGID_ALERT_DELIVERY_FAILED ")",
                                  pending_failed + (a->am_attempts > 0 ? 1 : 0), a->am_error ? ": " : "",
                                  strempty(a->am_error));
                status_add_summary(sb, "alert delivery failing");
        }
        if (a->textfile_error)
                status_add_reason(sb, HEALTH_WARNING, "metrics_textfile_failed",
                                  "cannot write [alerts] textfile %s: %s", cfg(a)->textfile, a->textfile_error);
}

static void alerts_metrics(void *mod, MetricsWriter *w) {
        Alerts *a = mod;
        metrics_family(w, "agv_alerts_fired_total", "counter", "Alerts raised since the agent started, by alert name and severity.");
        metrics_family(w, "agv_alert_deliveries_total", "counter", "Successful alert deliveries since start, by channel.");
        metrics_family(w, "agv_alert_delivery_failures_total", "counter", "Failed alert delivery attempts since start, by channel.");
        metrics_family(w, "agv_alert_queue_length", "gauge", "Alert deliveries waiting (webhook and command).");
        metrics_family(w, "agv_alert_dropped_total", "counter", "Undelivered alerts dropped because the queue was full.");
        metrics_family(w, "agv_alert_active", "gauge", "Alerts currently firing.");
        metrics_family(w, "agv_alert_next_timestamp_seconds", "gauge", "When the next expiry alert or health change is planned, Unix time.");
        metrics_family(w, "agv_alert_last_delivery_success", "gauge", "1 if the last delivery on the channel succeeded, 0 if it failed.");

        for (size_t i = 0; i < a->n_fired; i++)
                metrics_sample(w, "agv_alerts_fired_total", (double) a->fired[i].n, "alertname", a->fired[i].name,
                               "severity", alert_severity_label(a->fired[i].severity), NULL);
        for (int c = 0; c < _CHANNEL_MAX; c++) {
                if (!channel_configured(a, (Channel) c))
                        continue;
                metrics_sample(w, "agv_alert_deliveries_total", (double) a->ch[c].delivered, "channel", channel_names[c], NULL);
                metrics_sample(w, "agv_alert_delivery_failures_total", (double) a->ch[c].failed, "channel", channel_names[c], NULL);
                if (a->ch[c].has_last)
                        metrics_sample(w, "agv_alert_last_delivery_success", a->ch[c].last_ok ? 1 : 0, "channel", channel_names[c], NULL);
        }
        metrics_sample(w, "agv_alert_queue_length", (double) a->store.n_queue, NULL);
        metrics_sample(w, "agv_alert_dropped_total", (double) a->store.dropped, NULL);
        for (size_t i = 0; i < a->store.n_am; i++)
                if (!a->store.am[i]->resolved)
                        metrics_sample(w, "agv_alert_active", 1, "alertname", a->store.am[i]->name, "severity",
                                       alert_severity_label(a->store.am[i]->severity), "serial",
                                       strempty(a->store.am[i]->serial), NULL);
        if (a->plan_target != USEC_INFINITY && a->plan_target != 0)
                metrics_sample(w, "agv_alert_next_timestamp_seconds", (double) (a->plan_target / USEC_PER_SEC), NULL);
}

const ModuleOps alerts_module = {
        .name = "alerts",
        .config_section = "alerts",
        .new = alerts_new,
        .free = alerts_free,
        .start = alerts_start,
        .reconfigure = alerts_reconfigure,
        .status = alerts_status,
        .metrics = alerts_metrics,
        .event = alerts_event,
        .stop = alerts_stop,
};
