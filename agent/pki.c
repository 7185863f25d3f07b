/* SPDX-License-Identifier: MIT */
#include "pki.h"

#include <time.h>

#include "event-util.h"
#include "log.h"
#include "manager.h"
#include "message-ids.h"
#include "metrics.h"
#include "pki_pair.h"
#include "pki_renew.h"
#include "pki_watch.h"
#include "strv.h"

/* Runaway guard: a file whose mode will not stick (an LSM, a fighting
 * tool) would otherwise loop repair -> IN_ATTRIB -> repair forever. */
#define REPAIR_BURST_MAX 2000
#define REPAIR_BURST_WINDOW (10 * USEC_PER_SEC)
/* How long one pass may spend on the CA-key scan; a scan cut short goes on
 * SCAN_FOLLOWUP later, so a huge directory is worked off in slices while
 * the loop (and the watchdog) keeps being served. */
#define SCAN_BUDGET (200 * USEC_PER_MSEC)
#define SCAN_FOLLOWUP (100 * USEC_PER_MSEC)

typedef struct Pki {
        Manager *m;
        PkiWatch *watch;
        PkiPair pair;
        /* the last pass's file records (content dropped) */
        PkiFile files[_ROLE_MAX];
        bool have_files;
        sd_event_source *grace_timer, *boundary_timer, *scan_timer;
        uint64_t renewals_total;
        uint64_t repairs_total;
        uint64_t last_repair_at;
        uint64_t assessments;
        uint64_t last_pass_usec;   /* how long the last assessment took */
        uint64_t burst_start;
        unsigned burst_count;
        bool burst_tripped;
        /* pending/request.json as last read, keyed by its stat (a request is
         * made inside pending/, where no event reaches us) */
        PendingRequest pending;
        bool have_pending;
        struct stat pending_st;
        /* the active pair's parsed objects (references), for modules that
         * sign with it: the very cert and key that were assessed together */
        X509 *active_cert;
        EVP_PKEY *active_key;
        /* X-Amz-X509-Chain for it: the verified path out of [credentials]
         * intermediates, from the last pass the disk held a valid pair
         * (a broken intermediates file leaves it as it was) */
        STACK_OF(X509) *active_chain;
} Pki;

/* ---- one pass ----------------------------------------------------------- */

PkiPolicy pki_policy_for(const PkiSection *c, PkiRole role) {
        switch (role) {
        /* owner root by default: the key's group is the app group, every
         * other file belongs to the owner's own group (root:root) */
        case ROLE_PRIVATE_KEY:
                return (PkiPolicy) { .mode = c->key_mode, .uid = c->owner.uid,
                                     .gid = c->group.name ? c->group.gid : c->owner.gid };
        case ROLE_CERTIFICATE:
                return (PkiPolicy) { .mode = c->cert_mode, .uid = c->owner.uid, .gid = c->owner.gid };
        case ROLE_CA_BUNDLE:
        case ROLE_INTERMEDIATES:
                return (PkiPolicy) { .mode = c->ca_mode, .uid = c->owner.uid, .gid = c->owner.gid };
        default:
                return (PkiPolicy) { .mode = c->dir_mode, .uid = c->owner.uid, .gid = c->owner.gid };
        }
}

void pki_pass_done(PkiPass *p) {
        for (size_t i = 0; i < _ROLE_MAX; i++)
                pki_file_done(&p->files[i]);
        pki_assessment_done(&p->a);
}

int pki_pass_run(const PkiSection *cfg, const char *intermediates, bool enforce, uint64_t now, usec_t scan_budget,
                 PkiPass *ret) {
        const char *paths[_ROLE_MAX] = {
                [ROLE_DIRECTORY] = cfg->dir,
                [ROLE_CERTIFICATE] = cfg->certificate,
                [ROLE_PRIVATE_KEY] = cfg->private_key,
                [ROLE_CA_BUNDLE] = cfg->ca_bundle,
                [ROLE_INTERMEDIATES] = intermediates,
        };
        static const PkiRole order[] = { ROLE_DIRECTORY, ROLE_CERTIFICATE, ROLE_PRIVATE_KEY, ROLE_CA_BUNDLE,
                                         ROLE_INTERMEDIATES };
        PkiBlob cert, key, ca, inter;
        STACK_OF(X509) *cas = NULL;
        int r;

        *ret = (PkiPass) {};
        pki_parse_cache_begin_pass();
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                PkiRole role = order[i];
                PkiPolicy pol = pki_policy_for(cfg, role);
                ret->files[role].role = role;
                if (!paths[role])
                        continue;
                r = pki_file_load(role, paths[role], &pol, enforce, &ret->files[role], &ret->a.findings);
                if (r < 0)
                        return r;
        }
        cert = (PkiBlob) { cfg->certificate, ret->files[ROLE_CERTIFICATE].data, ret->files[ROLE_CERTIFICATE].len };
        key = (PkiBlob) { cfg->private_key, ret->files[ROLE_PRIVATE_KEY].data, ret->files[ROLE_PRIVATE_KEY].len };
        ca = (PkiBlob) { cfg->ca_bundle, ret->files[ROLE_CA_BUNDLE].data, ret->files[ROLE_CA_BUNDLE].len };
        inter = (PkiBlob) { intermediates, ret->files[ROLE_INTERMEDIATES].data, ret->files[ROLE_INTERMEDIATES].len };
        pki_assess_chain(&cert, &key, &ca, &inter, now, &ret->a);
        /* an intermediate CA's key on the VM is as bad as the root's */
        if (ret->a.inter && sk_X509_num(ret->a.inter) > 0) {
                cas = ret->a.ca ? sk_X509_dup(ret->a.ca) : sk_X509_new_null();
                for (int i = 0; cas && i < sk_X509_num(ret->a.inter); i++)
                        if (!sk_X509_push(cas, sk_X509_value(ret->a.inter, i))) {
                                sk_X509_free(cas);
                                cas = NULL;
                        }
                if (!cas)
                        return -ENOMEM;
        }
        {
                const char *all[] = { cfg->certificate, cfg->private_key, cfg->ca_bundle, intermediates }, *own[5] = {};
                size_t n = 0;
                for (size_t i = 0; i < ELEMENTSOF(all); i++)
                        if (all[i])
                                own[n++] = all[i];
                r = pki_scan_ca_keys_bounded(cfg->dir, cas ? cas : ret->a.ca, own, scan_budget, &ret->a.findings,
                                             &ret->scan_incomplete);
        }
        sk_X509_free(cas);
        /* parsed keys of files this pass did not see go now */
        pki_parse_cache_end_pass();
        return r;
}

/* ---- the module ----------------------------------------------------------- */

static uint64_t clock_usec(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}
#define now_mono() clock_usec(CLOCK_MONOTONIC)

static void pki_assess_now(Pki *p, const char *why);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Pki *p = userdata;
        pki_assess_now(p, s == p->grace_timer ? "renewal grace over"
                          : s == p->scan_timer ? "CA-key scan continues" : "validity boundary");
        return 0;
}

/* (Re)arm a one-shot timer; usec 0 disarms it. */
static void arm(Pki *p, sd_event_source **s, clockid_t clock, uint64_t usec, const char *desc) {
        if (usec == 0) {
                if (*s)
                        (void) sd_event_source_set_enabled(*s, SD_EVENT_OFF);
                return;
        }
        if (*s) {
                (void) event_timer_arm(*s, usec, SD_EVENT_ONESHOT, "certificate");
                return;
        }
        if (sd_event_add_time(p->m->event, s, clock, usec, 0, on_timer, p) >= 0)
                (void) sd_event_source_set_description(*s, desc);
}

static void log_activation(Pki *p) {
        const CertInfo *c = &p->pair.active;
        _cleanup_strv_free_ char **fields = NULL;
        char nb[64], na[64];

        format_rfc3339(c->not_before, nb, sizeof(nb));
        format_rfc3339(c->not_after, na, sizeof(na));
        (void) strv_extendf(&fields, "AGV_GENERATION=%u", c->generation);
        (void) strv_extendf(&fields, "AGV_SERIAL=%s", c->serial);
        (void) strv_extendf(&fields, "AGV_FINGERPRINT_SHA256=%s", c->fingerprint_sha256);
        (void) strv_extendf(&fields, "AGV_SUBJECT=%s", c->subject);
        (void) strv_extendf(&fields, "AGV_ISSUER=%s", c->issuer);
        (void) strv_extendf(&fields, "AGV_NOT_BEFORE=%s", nb);
        (void) strv_extendf(&fields, "AGV_NOT_AFTER=%s", na);
        (void) strv_extendf(&fields, "AGV_KEY_TYPE=%s", c->key_type);
        (void) strv_extendf(&fields, "AGV_CERT_PATH=%s", strna(c->path));
        if (p->pair.have_previous)
                (void) strv_extendf(&fields, "AGV_PREVIOUS_SERIAL=%s", p->pair.previous.serial);
        log_struct(LOG_NOTICE, MSGID_CERT_ACTIVATED, fields,
                   "Certificate generation %u active: serial %s, %s, %s, valid until %s", c->generation,
                   c->serial, c->subject, c->key_type, na);
}

static char *findings_codes(const Findings *f) {
        _cleanup_strv_free_ char **l = NULL;
        for (size_t i = 0; i < f->n; i++)
                (void) strv_extend(&l, f->items[i].code);
        return strv_join(l, ",");
}

/* Journal and events for what changed in this pass. */
static void report(Pki *p, const PairUpdate *u, const Findings *old) {
        PkiPair *pr = &p->pair;

        if (u->activated) {
                CertActivation act = {
                        .client = &pr->active,
                        .ca = pr->have_ca ? &pr->ca : NULL,
                        .previous = pr->have_previous ? &pr->previous : NULL,
                        .cert = p->active_cert,
                        .key = p->active_key,
                };
                if (pr->generation > 1)
                        p->renewals_total++;
                log_activation(p);
                manager_emit(p->m, p, EVENT_CERT_ACTIVATED, &act);
        } else if (u->chain_changed) {
                CertActivation act = { .client = &pr->active, .ca = pr->have_ca ? &pr->ca : NULL,
                                       .cert = p->active_cert, .key = p->active_key };
                log_info("Chain of certificate serial %s changed: %zu certificate%s above it%s%s", pr->active.serial,
                         pr->n_links, pr->n_links == 1 ? "" : "s", pr->n_links ? ", first " : "",
                         pr->n_links ? pr->links[0].info.subject : "");
                manager_emit(p->m, p, EVENT_CERT_ACTIVATED, &act);
        } else if (u->ca_changed) {
                CertActivation act = { .client = &pr->active, .ca = pr->have_ca ? &pr->ca : NULL,
                                       .cert = p->active_cert, .key = p->active_key };
                log_info("CA bundle changed%s%s", pr->have_ca ? ": " : " (removed)", pr->have_ca ? pr->ca.subject : "");
                manager_emit(p->m, p, EVENT_CERT_ACTIVATED, &act);
        }

        if (u->state_changed) {
                const Finding *f;
                _cleanup_free_ char *codes = findings_codes(&pr->candidate_findings);
                switch (pr->state) {
                case PAIR_STATE_RENEWAL_PENDING:
                        f = findings_get(&pr->findings, "renewal_pending");
                        log_struct(LOG_INFO, MSGID_CERT_RENEWAL_PENDING, NULL, "%s", f ? f->message : "Renewal pending");
                        break;
                case PAIR_STATE_RENEWAL_INCOMPLETE: {
                        f = findings_get(&pr->findings, "renewal_incomplete");
                        AlertEvent ev = {
                                .name = "AgvRenewalIncomplete",
                                .severity = HEALTH_CRITICAL,
                                .summary = f ? f->message : "Certificate renewal incomplete",
                                .description = f ? f->fix : "",
                        };
                        log_struct(LOG_WARNING, MSGID_CERT_RENEWAL_INCOMPLETE, NULL, "%s", ev.summary);
                        manager_emit(p->m, p, EVENT_RENEWAL_INCOMPLETE, &ev);
                        break;
                }
                case PAIR_STATE_REJECTED:
                        log_struct(LOG_WARNING, MSGID_CERT_REJECTED, NULL,
                                   "Rejected the pair on disk (serial %s): %s; generation %u stays active",
                                   pr->have_candidate ? pr->candidate.serial : "?", strna(codes), pr->generation);
                        break;
                default:
                        break;
                }
                if (u->old_state == PAIR_STATE_RENEWAL_INCOMPLETE) {
                        AlertEvent ev = {
                                .name = "AgvRenewalIncomplete",
                                .severity = HEALTH_CRITICAL,
                                .summary = "Certificate renewal completed",
                                .description = "",
                                .resolved = true,
                        };
                        manager_emit(p->m, p, EVENT_RENEWAL_INCOMPLETE, &ev);
                }
        }

        for (size_t i = 0; i < pr->findings.n; i++) {
                const Finding *f = &pr->findings.items[i];
                if (findings_has(old, f->code))
                        continue;
                if (streq(f->code, "ca_key_present"))
                        log_struct(LOG_CRIT, MSGID_CA_KEY_PRESENT, NULL, "%s", f->message);
                else if (streq(f->code, "permissions") || streq(f->code, "dir_permissions") ||
                         streq(f->code, "acl") || streq(f->code, "dir_acl") ||
                         streq(f->code, "file_symlink") || streq(f->code, "file_hardlink") ||
                         streq(f->code, "file_not_regular"))
                        log_struct(LOG_WARNING, MSGID_PERMISSION_VIOLATION, NULL, "%s", f->message);
        }

        /* and what went away, so the operator who fixed it sees it taken */
        for (size_t i = 0; i < old->n; i++) {
                const Finding *f = &old->items[i];
                bool still = false;
                for (size_t j = 0; j < pr->findings.n && !still; j++)
                        still = streq(pr->findings.items[j].code, f->code) &&
                                streq(strempty(pr->findings.items[j].file), strempty(f->file));
                if (!still)
                        log_info("Resolved %s: %s", f->code, f->message);
        }

        for (size_t i = 0; i < _ROLE_MAX; i++) {
                const PkiFile *pf = &p->files[i];
                char summary[512];
                if (pf->perm != PERM_REPAIRED)
                        continue;
                p->repairs_total++;
                p->last_repair_at = manager_now_realtime(p->m);
                snprintf(summary, sizeof(summary), "Repaired permissions of %s: %04o %u:%u -> %04o %u:%u%s%.200s", pf->path,
                         (unsigned) pf->mode, (unsigned) pf->uid, (unsigned) pf->gid, (unsigned) pf->want.mode,
                         (unsigned) pf->want.uid, (unsigned) pf->want.gid, pf->acl_removed ? ", removed ACL " : "",
                         pf->acl_removed ? strempty(pf->acl) : "");
                AlertEvent ev = {
                        .name = "AgvPermissionRepaired",
                        .severity = HEALTH_WARNING,
                        .summary = summary,
                        .description = "Something changed the file's mode or owner; find out what (auditctl -w <path> -p a)",
                };
                manager_emit(p->m, p, EVENT_PERMISSION_REPAIRED, &ev);
        }
}

static bool burst_allows_repair(Pki *p, uint64_t mono) {
        if (mono - p->burst_start > REPAIR_BURST_WINDOW) {
                p->burst_start = mono;
                p->burst_count = 0;
                p->burst_tripped = false;
        }
        if (p->burst_count < REPAIR_BURST_MAX)
                return true;
        if (!p->burst_tripped)
                log_warning("More than %d permission repairs in %llus: something keeps changing them; only reporting until the next rescan",
                            REPAIR_BURST_MAX, (unsigned long long) (REPAIR_BURST_WINDOW / USEC_PER_SEC));
        p->burst_tripped = true;
        return false;
}

static void pki_assess_now(Pki *p, const char *why) {
        const PkiSection *cfg = &p->m->config->pki;
        uint64_t real = manager_now_realtime(p->m), mono = now_mono(), boundary;
        bool enforce = cfg->permissions == PERMISSIONS_ENFORCE && burst_allows_repair(p, mono);
        _cleanup_(pki_pass_done) PkiPass pass = {};
        Findings old = {};
        PairUpdate u;
        bool view_changed = false;
        int r;

        log_debug("Assessing %s (%s)", cfg->dir, why);
        p->assessments++;
        r = pki_pass_run(cfg, p->m->config->credentials.intermediates, enforce, real, SCAN_BUDGET, &pass);
        p->last_pass_usec = now_mono() - mono;
        if (r < 0) {
                log_warning_errno(r, "Assessment of %s failed; keeping the previous state", cfg->dir);
                return;
        }
        /* a copy of the old findings to log only what is new; the pair
         * machine compares against its own (a pass that clears the last
         * finding is a change too) */
        r = findings_copy(&p->pair.findings, &old);
        if (r < 0) {
                log_oom();
                return;
        }
        r = pki_pair_update(&p->pair, &pass.a, real, mono, cfg->renewal_grace, &u);
        if (r < 0) {
                findings_done(&old);
                log_warning_errno(r, "Cannot update the certificate state");
                return;
        }
        if (u.activated && pass.a.cert && pass.a.key) {
                /* the pair just activated is this pass's; keep its objects */
                X509_up_ref(pass.a.cert);
                EVP_PKEY_up_ref(pass.a.key);
                X509_free(p->active_cert);
                EVP_PKEY_free(p->active_key);
                p->active_cert = pass.a.cert;
                p->active_key = pass.a.key;
        }
        if (p->pair.state == PAIR_STATE_OK) {
                /* state ok: this pass's disk pair is the active one and valid */
                STACK_OF(X509) *s = pass.a.send_chain ? X509_chain_up_ref(pass.a.send_chain) : NULL;
                if (p->active_chain)
                        sk_X509_pop_free(p->active_chain, X509_free);
                p->active_chain = s;
        }
        for (size_t i = 0; i < _ROLE_MAX; i++) {
                if (pass.files[i].perm == PERM_REPAIRED)
                        p->burst_count++;
                /* the permissions section shows these: a repair or a mode
                 * change with the same findings is news to status readers */
                if (!p->have_files || pass.files[i].perm == PERM_REPAIRED ||
                    pki_file_view_changed(&p->files[i], &pass.files[i]))
                        view_changed = true;
                pki_file_done(&p->files[i]);
                p->files[i] = pass.files[i];
                /* content stays out of long-lived memory */
                if (p->files[i].data)
                        explicit_bzero(p->files[i].data, p->files[i].len);
                free(p->files[i].data);
                p->files[i].data = NULL;
                pass.files[i] = (PkiFile) {};
        }
        p->have_files = true;
        report(p, &u, &old);
        findings_done(&old);

        arm(p, &p->grace_timer, CLOCK_MONOTONIC, u.grace_deadline ? u.grace_deadline + USEC_PER_MSEC : 0,
            "pki-grace");
        arm(p, &p->scan_timer, CLOCK_MONOTONIC, pass.scan_incomplete ? now_mono() + SCAN_FOLLOWUP : 0, "pki-scan");
        boundary = pki_pair_next_boundary(&p->pair, real);
        if (boundary) {
                /* the timer runs on the real clock; the test offset shifts the daemon's view */
                int64_t off = (int64_t) real - (int64_t) clock_usec(CLOCK_REALTIME);
                arm(p, &p->boundary_timer, CLOCK_REALTIME, (uint64_t) ((int64_t) boundary - off), "pki-validity");
        } else
                arm(p, &p->boundary_timer, CLOCK_REALTIME, 0, NULL);

        if (p->watch) {
                /* a hard link's other name may be removed anywhere: watch the
                 * inode, so the finding clears when it is */
                _cleanup_strv_free_ char **linked = NULL;
                for (size_t i = 0; i < p->pair.findings.n + p->pair.candidate_findings.n; i++) {
                        const Finding *f = i < p->pair.findings.n ? &p->pair.findings.items[i]
                                                                  : &p->pair.candidate_findings.items[i - p->pair.findings.n];
                        if (streq(f->code, "file_hardlink") && f->file && !strv_contains(linked, f->file))
                                (void) strv_extend(&linked, f->file);
                }
                (void) pki_watch_set_files(p->watch, linked);
        }

        if (u.findings_changed || u.activated || u.ca_changed) {
                manager_emit(p->m, p, EVENT_CERT_STATE, NULL);
                manager_state_changed(p->m);
        } else if (view_changed)
                manager_state_changed(p->m);
}

static void on_watch(void *userdata, PkiWatchReason reason) {
        static const char *const why[] = {
                [WATCH_EVENT] = "inotify", [WATCH_OVERFLOW] = "inotify queue overflow",
                [WATCH_REBUILT] = "directory replaced", [WATCH_RESCAN] = "periodic rescan",
        };
        Pki *p = userdata;
        if (reason == WATCH_OVERFLOW)
                log_info("inotify queue overflowed; rescanning everything");
        pki_assess_now(p, why[reason]);
}

static int watch_start(Pki *p) {
        const PkiSection *c = &p->m->config->pki;
        _cleanup_strv_free_ char **dirs = NULL;
        const char *paths[] = { c->certificate, c->private_key, c->ca_bundle, p->m->config->credentials.intermediates };
        int r;

        p->watch = pki_watch_free(p->watch);
        r = strv_extend(&dirs, c->dir);
        if (r < 0)
                return r;
        /* a file configured outside the directory is watched where it lives */
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                _cleanup_free_ char *d = NULL;
                const char *slash;
                if (!paths[i] || !(slash = strrchr(paths[i], '/')))
                        continue;
                d = strndup(paths[i], MAX(slash - paths[i], 1));
                if (!d)
                        return -ENOMEM;
                if (!strv_contains(dirs, d) && strv_extend(&dirs, d) < 0)
                        return -ENOMEM;
        }
        return pki_watch_new(p->m->event, dirs, c->rescan_interval, on_watch, p, &p->watch);
}

STACK_OF(X509) *pki_active_chain(Manager *m) {
        Pki *p = manager_module(m, "certificate");
        return p && p->pair.have_active ? p->active_chain : NULL;
}

int pki_active_pair(Manager *m, X509 **ret_cert, EVP_PKEY **ret_key, const CertInfo **ret_info) {
        Pki *p = manager_module(m, "certificate");
        if (!p || !p->active_cert || !p->active_key || !p->pair.have_active)
                return -ENOENT;
        *ret_cert = p->active_cert;
        *ret_key = p->active_key;
        if (ret_info)
                *ret_info = &p->pair.active;
        return 0;
}

static int pki_new(Manager *m, void **ret) {
        Pki *p = calloc(1, sizeof(Pki));
        if (!p)
                return -ENOMEM;
        p->m = m;
        pki_pair_init(&p->pair);
        *ret = p;
        return 0;
}

static void *pki_free(void *mod) {
        Pki *p = mod;
        if (!p)
                return NULL;
        pki_watch_free(p->watch);
        sd_event_source_disable_unref(p->grace_timer);
        sd_event_source_disable_unref(p->boundary_timer);
        sd_event_source_disable_unref(p->scan_timer);
        for (size_t i = 0; i < _ROLE_MAX; i++)
                pki_file_done(&p->files[i]);
        pki_pair_done(&p->pair);
        pending_request_done(&p->pending);
        X509_free(p->active_cert);
        EVP_PKEY_free(p->active_key);
        if (p->active_chain)
                sk_X509_pop_free(p->active_chain, X509_free);
        pki_parse_cache_flush();
        pki_scan_cache_flush();
        free(p);
        return NULL;
}

static int pki_start(void *mod) {
        Pki *p = mod;
        int r = watch_start(p);
        if (r < 0)
                log_warning_errno(r, "Cannot watch %s", p->m->config->pki.dir);
        /* READY=1 waits for this: "active" means "assessed" */
        pki_assess_now(p, "start");
        return 0;
}

static bool streq_null(const char *a, const char *b) {
        return (!a && !b) || (a && b && streq(a, b));
}

static void pki_reconfigure(void *mod, const Config *old, const Config *new) {
        Pki *p = mod;
        const PkiSection *o = &old->pki, *n = &new->pki;

        if (!streq_null(o->dir, n->dir) || !streq_null(o->certificate, n->certificate) ||
            !streq_null(o->private_key, n->private_key) || !streq_null(o->ca_bundle, n->ca_bundle) ||
            !streq_null(old->credentials.intermediates, new->credentials.intermediates)) {
                int r = watch_start(p);
                if (r < 0)
                        log_warning_errno(r, "Cannot watch %s", n->dir);
        } else if (p->watch && o->rescan_interval != n->rescan_interval)
                (void) pki_watch_set_rescan(p->watch, n->rescan_interval);
        pki_assess_now(p, "configuration reloaded");
}

static json_object *finding_json(const Finding *f) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "code", json_object_new_string(f->code));
        json_object_object_add(o, "severity", json_object_new_string(health_to_string(f->severity)));
        json_object_object_add(o, "file", json_string_or_null(f->file));
        json_object_object_add(o, "message", json_object_new_string(f->message));
        json_object_object_add(o, "fix", json_object_new_string(f->fix));
        return o;
}

json_object *pki_findings_json(const Findings *fs) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < fs->n; i++)
                json_object_array_add(a, finding_json(&fs->items[i]));
        return a;
}

void pki_cert_json(json_object *o, const CertInfo *c) {
        json_object_object_add(o, "serial", json_string_or_null(c->serial));
        json_object_object_add(o, "subject", json_string_or_null(c->subject));
        json_object_object_add(o, "issuer", json_string_or_null(c->issuer));
        json_object_object_add(o, "not_before", json_time(c->not_before));
        json_object_object_add(o, "not_after", json_time(c->not_after));
        json_object_object_add(o, "fingerprint_sha256", json_string_or_null(c->fingerprint_sha256));
        json_object_object_add(o, "key_type", json_string_or_null(c->key_type));
}

json_object *pki_chain_links_json(const ChainLink *l, size_t n) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_new_object();
                pki_cert_json(o, &l[i].info);
                json_object_object_add(o, "source", json_object_new_string(l[i].source));
                json_object_object_add(o, "path", json_string_or_null(l[i].info.path));
                json_object_array_add(a, o);
        }
        return a;
}

json_object *pki_file_json(const PkiFile *f) {
        json_object *o = json_object_new_object();
        char m1[8], m2[8];

        snprintf(m1, sizeof(m1), "%04o", (unsigned) f->mode);
        snprintf(m2, sizeof(m2), "%04o", (unsigned) f->want.mode);
        json_object_object_add(o, "role", json_object_new_string(pki_role_to_string(f->role)));
        json_object_object_add(o, "path", json_object_new_string(f->path));
        json_object_object_add(o, "state", json_object_new_string(perm_state_to_string(f->perm)));
        json_object_object_add(o, "mode", f->found ? json_object_new_string(m1) : NULL);
        json_object_object_add(o, "owner", f->found ? json_object_new_int64(f->uid) : NULL);
        json_object_object_add(o, "group", f->found ? json_object_new_int64(f->gid) : NULL);
        json_object_object_add(o, "expected_mode", json_object_new_string(m2));
        json_object_object_add(o, "expected_owner", json_object_new_int64(f->want.uid));
        json_object_object_add(o, "expected_group", json_object_new_int64(f->want.gid));
        /* what an access-granting ACL held (also when it was just removed) */
        json_object_object_add(o, "acl", json_string_or_null(f->acl));
        return o;
}

static char *days_left(int64_t secs, char *buf, size_t n) {
        if (secs >= 2 * 86400)
                snprintf(buf, n, "%lldd", (long long) (secs / 86400));
        else if (secs >= 3600)
                snprintf(buf, n, "%lldh", (long long) (secs / 3600));
        else
                snprintf(buf, n, "%lldm", (long long) MAX(secs / 60, 0));
        return buf;
}

static void pending_refresh(Pki *p) {
        _cleanup_free_ char *path = NULL;
        struct stat st = {};

        if (asprintf(&path, "%s/" PKI_PENDING_DIR "/" PENDING_META, p->m->config->pki.dir) < 0)
                return;
        if (lstat(path, &st) < 0)
                st = (struct stat) {};
        if (st.st_ino == p->pending_st.st_ino && st.st_dev == p->pending_st.st_dev &&
            st.st_size == p->pending_st.st_size && st.st_mtim.tv_sec == p->pending_st.st_mtim.tv_sec &&
            st.st_mtim.tv_nsec == p->pending_st.st_mtim.tv_nsec)
                return;
        p->pending_st = st;
        pending_request_done(&p->pending);
        p->have_pending = st.st_ino != 0 && pending_request_load(p->m->config->pki.dir, &p->pending) > 0;
}

static void pki_status(void *mod, StatusBuilder *sb) {
        Pki *p = mod;
        const PkiPair *pr = &p->pair;
        const PkiSection *cfg = &p->m->config->pki;
        json_object *c = json_object_new_object(), *perm = json_object_new_object(), *files;
        int64_t left = 0;
        char buf[32];

        json_object_object_add(c, "path", json_string_or_null(cfg->certificate));
        json_object_object_add(c, "key_path", json_string_or_null(cfg->private_key));
        json_object_object_add(c, "ca_bundle", json_string_or_null(cfg->ca_bundle));
        json_object_object_add(c, "intermediates", json_string_or_null(p->m->config->credentials.intermediates));
        json_object_object_add(c, "state", json_object_new_string(pair_state_to_string(pr->state)));
        json_object_object_add(c, "generation", json_object_new_int64(pr->generation));
        if (pr->have_active) {
                left = ((int64_t) pr->active.not_after - (int64_t) manager_now_realtime(p->m)) / (int64_t) USEC_PER_SEC;
                pki_cert_json(c, &pr->active);
                json_object_object_add(c, "seconds_left", json_object_new_int64(left));
                json_object_object_add(c, "activated_at", json_time_or_null(pr->active.activated_at));
        } else {
                static const char *const nulls[] = { "serial", "subject", "issuer", "not_before", "not_after",
                                                     "fingerprint_sha256", "key_type", "seconds_left", "activated_at" };
                for (size_t i = 0; i < ELEMENTSOF(nulls); i++)
                        json_object_object_add(c, nulls[i], NULL);
        }
        json_object_object_add(c, "chain", json_object_new_string(chain_status_to_string(pr->chain)));
        json_object_object_add(c, "chain_path", pki_chain_links_json(pr->links, pr->n_links));
        json_object_object_add(c, "findings", pki_findings_json(&pr->findings));
        if (pr->have_candidate || pr->candidate_findings.n > 0) {
                json_object *cand = json_object_new_object();
                if (pr->have_candidate)
                        pki_cert_json(cand, &pr->candidate);
                json_object_object_add(cand, "findings", pki_findings_json(&pr->candidate_findings));
                json_object_object_add(c, "candidate", cand);
                json_object_object_add(c, "candidate_serial", json_string_or_null(pr->candidate.serial));
        } else
                json_object_object_add(c, "candidate", NULL);
        if (pr->have_ca) {
                json_object *ca = json_object_new_object();
                pki_cert_json(ca, &pr->ca);
                json_object_object_add(c, "ca", ca);
        } else
                json_object_object_add(c, "ca", NULL);
        pending_refresh(p);
        json_object_object_add(c, "pending_request",
                               p->have_pending ? pending_request_json(cfg->dir, &p->pending) : NULL);
        json_object_object_add(c, "renewals", json_object_new_int64((int64_t) p->renewals_total));
        json_object_object_add(c, "assessments", json_object_new_int64((int64_t) p->assessments));
        json_object_object_add(c, "last_assessment_us", json_object_new_int64((int64_t) p->last_pass_usec));
        status_set_section(sb, "certificate", c);

        json_object_object_add(perm, "policy", json_object_new_string(
                cfg->permissions == PERMISSIONS_ENFORCE ? "enforce" : "audit"));
        json_object_object_add(perm, "repaired", json_object_new_int64((int64_t) p->repairs_total));
        json_object_object_add(perm, "last_repair", json_time_or_null(p->last_repair_at));
        files = json_object_new_array();
        for (size_t i = 0; i < _ROLE_MAX; i++) {
                const PkiFile *f = &p->files[i];
                char m1[8], m2[8], line[128];
                if (!f->path)
                        continue;
                snprintf(m1, sizeof(m1), "%04o", (unsigned) f->mode);
                snprintf(m2, sizeof(m2), "%04o", (unsigned) f->want.mode);
                json_object_array_add(files, pki_file_json(f));
                /* one readable line per file for `agv-agent status` */
                if (f->found && f->perm != PERM_UNSAFE)
                        snprintf(line, sizeof(line), "%s %u:%u %s%s%s", m1, (unsigned) f->uid, (unsigned) f->gid,
                                 perm_state_to_string(f->perm), f->perm == PERM_OK ? "" : ", want ",
                                 f->perm == PERM_OK ? "" : m2);
                else
                        snprintf(line, sizeof(line), "%s", perm_state_to_string(f->perm));
                json_object_object_add(perm, pki_role_to_string(f->role), json_object_new_string(line));
        }
        json_object_object_add(perm, "files", files);
        status_set_section(sb, "permissions", perm);

        for (size_t i = 0; i < pr->findings.n; i++) {
                const Finding *f = &pr->findings.items[i];
                status_add_reason(sb, f->severity, f->code, "%s; %s", f->message, f->fix);
        }
        if (pr->state == PAIR_STATE_REJECTED || pr->state == PAIR_STATE_RENEWAL_INCOMPLETE)
                for (size_t i = 0; i < pr->candidate_findings.n; i++) {
                        const Finding *f = &pr->candidate_findings.items[i];
                        status_add_reason(sb, f->severity, f->code, "New pair: %s; %s", f->message, f->fix);
                }

        switch (pr->state) {
        case PAIR_STATE_MISSING:
                status_add_summary(sb, "no certificate");
                break;
        case PAIR_STATE_RENEWAL_PENDING:
                status_add_summary(sb, "cert renewal pending");
                break;
        case PAIR_STATE_RENEWAL_INCOMPLETE:
                status_add_summary(sb, "cert renewal incomplete");
                break;
        case PAIR_STATE_REJECTED:
                status_add_summary(sb, "new cert rejected");
                break;
        default:
                break;
        }
        if (pr->have_active) {
                if (left <= 0)
                        status_add_summary(sb, "cert expired");
                else
                        status_add_summary(sb, "cert expires in %s", days_left(left, buf, sizeof(buf)));
        } else if (pr->state == PAIR_STATE_INVALID)
                status_add_summary(sb, "cert invalid");
}

static void cert_metrics(MetricsWriter *w, const CertInfo *c, const char *role, uint64_t now) {
        metrics_sample(w, "agv_cert_not_after_seconds", (double) (c->not_after / (int64_t) USEC_PER_SEC), "serial", c->serial,
                       "subject", c->subject, "issuer", c->issuer, "role", role, "path", strempty(c->path), NULL);
        metrics_sample(w, "agv_cert_not_before_seconds", (double) (c->not_before / (int64_t) USEC_PER_SEC), "serial",
                       c->serial, "subject", c->subject, "issuer", c->issuer, "role", role, "path",
                       strempty(c->path), NULL);
        metrics_sample(w, "agv_cert_expired", (int64_t) now > c->not_after ? 1 : 0, "serial", c->serial, "subject",
                       c->subject, "issuer", c->issuer, "role", role, "path", strempty(c->path), NULL);
}

static void pki_metrics(void *mod, MetricsWriter *w) {
        Pki *p = mod;
        uint64_t now = manager_now_realtime(p->m);

        metrics_family(w, "agv_cert_not_after_seconds", "gauge", "notAfter of the active certificate (Unix seconds)");
        metrics_family(w, "agv_cert_not_before_seconds", "gauge", "notBefore of the active certificate (Unix seconds)");
        metrics_family(w, "agv_cert_expired", "gauge", "1 if the active certificate has expired");
        metrics_family(w, "agv_cert_generation", "gauge", "Generation of the active pair: pairs activated since the agent started");
        metrics_family(w, "agv_renewals_total", "counter", "New certificate pairs picked up after the first one");
        metrics_family(w, "agv_permission_repairs_total", "counter", "Permission drifts repaired on PKI files");
        if (p->pair.have_active)
                cert_metrics(w, &p->pair.active, "client", now);
        if (p->pair.have_ca)
                cert_metrics(w, &p->pair.ca, "ca", now);
        /* an expiring intermediate CA breaks the exchange as surely as the leaf */
        for (size_t i = 0; i < p->pair.n_links; i++)
                if (!streq(p->pair.links[i].source, "ca_bundle"))
                        cert_metrics(w, &p->pair.links[i].info, "intermediate", now);
        metrics_sample(w, "agv_cert_generation", p->pair.generation, NULL);
        metrics_sample(w, "agv_renewals_total", (double) p->renewals_total, NULL);
        metrics_sample(w, "agv_permission_repairs_total", (double) p->repairs_total, NULL);
}

static void pki_event(void *mod, AgentEventType type, const void *payload) {
        Pki *p = mod;
        if (type == EVENT_CLOCK_CHANGED && p->have_files)
                pki_assess_now(p, "clock changed");
}

static int pki_stop(void *mod) {
        return 0;
}

const ModuleOps pki_module = {
        .name = "certificate",
        .config_section = "pki",
        .new = pki_new,
        .free = pki_free,
        .start = pki_start,
        .reconfigure = pki_reconfigure,
        .status = pki_status,
        .metrics = pki_metrics,
        .event = pki_event,
        .stop = pki_stop,
};
