/* SPDX-License-Identifier: MIT */
#include "pki_pair.h"

#include "config.h"
#include "strv.h"

const char *pair_state_to_string(PairState s) {
        static const char *const t[_PAIR_STATE_MAX] = {
                [PAIR_STATE_OK] = "ok",
                [PAIR_STATE_RENEWAL_PENDING] = "renewal_pending",
                [PAIR_STATE_RENEWAL_INCOMPLETE] = "renewal_incomplete",
                [PAIR_STATE_REJECTED] = "rejected",
                [PAIR_STATE_INVALID] = "invalid",
                [PAIR_STATE_MISSING] = "missing",
        };
        return s < _PAIR_STATE_MAX ? t[s] : "unknown";
}

void pki_pair_init(PkiPair *p) {
        *p = (PkiPair) { .state = PAIR_STATE_MISSING };
}

void pki_pair_done(PkiPair *p) {
        cert_info_done(&p->active);
        cert_info_done(&p->previous);
        cert_info_done(&p->ca);
        cert_info_done(&p->candidate);
        free(p->active_key_id);
        free(p->ca_fingerprint);
        chain_links_free(p->links, p->n_links);
        findings_done(&p->candidate_findings);
        findings_done(&p->findings);
        *p = (PkiPair) {};
}

static const char *base_name(const char *path) {
        const char *s = path ? strrchr(path, '/') : NULL;
        return s ? s + 1 : strna(path);
}

static void copy_finding(Findings *dst, const Finding *x, Health severity) {
        findings_add(dst, severity, x->kind, x->code, x->file, x->fix, "%s", x->message);
}

/* Which file keeps the disk from holding a consistent pair, in words. */
static char *describe_incomplete(const PkiPair *p, const PkiAssessment *a) {
        char *s = NULL;
        const char *cert = base_name(a->info.path);

        if (a->cert && a->key && !a->key_matches) {
                const char *kp = findings_get(&a->findings, "key_mismatch")
                                         ? findings_get(&a->findings, "key_mismatch")->file : NULL;
                const char *key = base_name(kp);
                bool cert_new = !p->have_active || !streq(a->info.fingerprint_sha256, p->active.fingerprint_sha256);
                bool key_new = !p->have_active || !p->active_key_id || !a->key_id || !streq(a->key_id, p->active_key_id);
                int r;
                if (cert_new && !key_new)
                        r = asprintf(&s, "%s was replaced (serial %s) but %s still belongs to the previous certificate; install the new key",
                                     cert, a->info.serial, key);
                else if (!cert_new && key_new)
                        r = asprintf(&s, "%s was replaced but %s is still the previous certificate (serial %s); install the new certificate",
                                     key, cert, a->info.serial);
                else
                        r = asprintf(&s, "%s does not belong to %s (serial %s); install the matching key",
                                     key, cert, a->info.serial);
                if (r < 0)
                        s = NULL;
                return s;
        }
        for (size_t i = 0; i < a->findings.n; i++)
                if (a->findings.items[i].kind == FINDING_TRANSIENT && a->findings.items[i].severity >= HEALTH_CRITICAL) {
                        s = strdup(a->findings.items[i].message);
                        return s;
                }
        return strdup("the pair on disk is incomplete");
}

int pki_pair_update(PkiPair *p, const PkiAssessment *a, uint64_t now_real, uint64_t now_mono, uint64_t grace,
                    PairUpdate *u) {
        PairVerdict v = pki_assessment_verdict(a);
        Findings nf = {}, cand = {};
        bool disk_is_active, pending = false;
        char buf[64];

        *u = (PairUpdate) { .old_state = p->state };

        disk_is_active = p->have_active && a->cert && a->key_id && p->active_key_id &&
                         streq(a->info.fingerprint_sha256, p->active.fingerprint_sha256) &&
                         streq(a->key_id, p->active_key_id);

        if (v == VERDICT_VALID && !disk_is_active) {
                CertInfo ci;
                if (cert_info_copy(&a->info, &ci) < 0)
                        return -ENOMEM;
                if (p->have_active) {
                        cert_info_done(&p->previous);
                        p->previous = p->active;
                        p->have_previous = true;
                } else
                        cert_info_done(&p->active);
                p->active = ci;
                p->active.generation = ++p->generation;
                p->active.activated_at = now_real;
                free(p->active_key_id);
                p->active_key_id = strdup(a->key_id);
                p->have_active = true;
                disk_is_active = true;
                u->activated = true;
        }
        /* an unusable intermediates file says nothing about the chain:
         * the last verdict (and path) stands until it is readable again */
        if (disk_is_active && !(a->inter_configured && !a->inter)) {
                bool same = p->n_links == a->n_links;
                for (size_t i = 0; same && i < a->n_links; i++)
                        same = streq(strempty(p->links[i].info.fingerprint_sha256),
                                     strempty(a->links[i].info.fingerprint_sha256)) &&
                               streq(p->links[i].source, a->links[i].source);
                p->chain = a->chain;
                if (!same) {
                        ChainLink *l = NULL;
                        if (chain_links_copy(a->links, a->n_links, &l) < 0)
                                return -ENOMEM;
                        chain_links_free(p->links, p->n_links);
                        p->links = l;
                        p->n_links = a->n_links;
                        u->chain_changed = !u->activated;
                }
        }

        /* the CA bundle travels on its own: a changed anchor is news too */
        if (!streq(strempty(a->ca_fingerprint), strempty(p->ca_fingerprint))) {
                free(p->ca_fingerprint);
                p->ca_fingerprint = a->ca_fingerprint ? strdup(a->ca_fingerprint) : NULL;
                cert_info_done(&p->ca);
                p->have_ca = a->have_ca_info && cert_info_copy(&a->ca_info, &p->ca) >= 0;
                u->ca_changed = p->have_active && !u->activated;
        }

        if (v == VERDICT_VALID) {
                p->state = PAIR_STATE_OK;
                p->pending_since = 0;
                for (size_t i = 0; i < a->findings.n; i++)
                        copy_finding(&nf, &a->findings.items[i], a->findings.items[i].severity);
        } else if (v == VERDICT_INCOMPLETE && p->have_active) {
                _cleanup_free_ char *what = describe_incomplete(p, a);
                if (p->pending_since == 0)
                        p->pending_since = now_mono;
                pending = now_mono - p->pending_since < grace;
                p->state = pending ? PAIR_STATE_RENEWAL_PENDING : PAIR_STATE_RENEWAL_INCOMPLETE;
                if (pending) {
                        findings_add(&nf, HEALTH_WARNING, FINDING_OTHER, "renewal_pending", NULL,
                                     "Finish installing the new pair: certificate and key must belong together",
                                     "Renewal in progress: %s; generation %u (serial %s) stays active", strna(what),
                                     p->generation, p->active.serial);
                        u->grace_deadline = p->pending_since + grace;
                } else
                        findings_add(&nf, HEALTH_CRITICAL, FINDING_OTHER, "renewal_incomplete", NULL,
                                     "Install the missing half of the pair (or restore the previous one)",
                                     "Renewal incomplete for longer than %s: %s; generation %u (serial %s) stays active",
                                     format_duration(grace, buf, sizeof(buf)), strna(what), p->generation,
                                     p->active.serial);
                for (size_t i = 0; i < a->findings.n; i++) {
                        const Finding *x = &a->findings.items[i];
                        if (x->kind == FINDING_TRANSIENT)
                                copy_finding(&cand, x, pending ? HEALTH_WARNING : x->severity);
                        else
                                copy_finding(&nf, x, x->severity);
                }
        } else {
                p->pending_since = 0;
                if (disk_is_active || !p->have_active)
                        p->state = p->have_active ? PAIR_STATE_INVALID
                                   : (findings_has(&a->findings, "file_missing") || findings_has(&a->findings, "dir_missing"))
                                           ? PAIR_STATE_MISSING
                                           : PAIR_STATE_INVALID;
                else
                        p->state = PAIR_STATE_REJECTED;
                if (p->state == PAIR_STATE_REJECTED)
                        findings_add(&nf, HEALTH_CRITICAL, FINDING_OTHER, "candidate_rejected", NULL,
                                     "Install a valid pair; see the candidate's findings",
                                     "The pair on disk%s%s was rejected; generation %u (serial %s) stays active",
                                     a->cert ? " with serial " : "", a->cert ? a->info.serial : "", p->generation,
                                     p->active.serial);
                for (size_t i = 0; i < a->findings.n; i++) {
                        const Finding *x = &a->findings.items[i];
                        if (p->state == PAIR_STATE_REJECTED && x->kind != FINDING_OTHER)
                                copy_finding(&cand, x, x->severity);
                        else
                                copy_finding(&nf, x, x->severity);
                }
        }

        /* the last good pair may expire while the disk holds something else */
        if (p->have_active && !disk_is_active && (int64_t) now_real > p->active.not_after)
                findings_add(&nf, HEALTH_CRITICAL, FINDING_OTHER, "active_expired", p->active.path,
                             "Install a renewed pair (see \"Cert Renewal\" in the deployment guide)",
                             "The active certificate (serial %s) expired at %s", p->active.serial,
                             format_rfc3339(p->active.not_after, buf, sizeof(buf)));

        cert_info_done(&p->candidate);
        p->have_candidate = false;
        if (!disk_is_active && a->cert && p->state != PAIR_STATE_MISSING)
                p->have_candidate = cert_info_copy(&a->info, &p->candidate) >= 0;

        u->state_changed = u->old_state != p->state;
        u->findings_changed = !findings_equal(&nf, &p->findings) || !findings_equal(&cand, &p->candidate_findings) ||
                              u->activated || u->state_changed;
        findings_done(&p->findings);
        findings_done(&p->candidate_findings);
        p->findings = nf;
        p->candidate_findings = cand;
        return 0;
}

uint64_t pki_pair_next_boundary(const PkiPair *p, uint64_t now_real) {
        /* signed: a boundary before 1970 is simply in the past */
        int64_t t[3] = {}, best = 0, now = (int64_t) now_real;
        bool have[3] = {};
        if (p->have_active) {
                t[0] = p->active.not_before;
                t[1] = p->active.not_after + (int64_t) USEC_PER_SEC; /* "expired" means strictly after */
                have[0] = have[1] = true;
        }
        if (p->have_candidate) {
                t[2] = p->candidate.not_before;
                have[2] = true;
        }
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                if (have[i] && t[i] > now && (best == 0 || t[i] < best))
                        best = t[i];
        return (uint64_t) best;
}
