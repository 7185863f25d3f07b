/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "module.h"
#include "pki_assess.h"
#include "pki_files.h"

/* The certificate module: watches the PKI directory, assesses the pair on
 * every change, keeps the last-known-good pair active and hot-switches to a
 * new consistent valid pair; enforces (or audits) file permissions. */
extern const ModuleOps pki_module;

/* One pass over the disk: the files as found and their assessment. Shared by
 * the daemon and the offline `agv-agent check`. */
typedef struct PkiPass {
        PkiFile files[_ROLE_MAX];
        PkiAssessment a;
        bool scan_incomplete; /* the CA-key scan ran out of its budget */
} PkiPass;

/* Mode and owner a file of this role must have ([pki] owner, group, *_mode). */
PkiPolicy pki_policy_for(const PkiSection *c, PkiRole role);
/* scan_budget: time the CA-key scan may take (0: no limit, for `check`).
 * intermediates: [credentials] intermediates (NULL: none), the untrusted
 * certificates the chain may pass through. */
int pki_pass_run(const PkiSection *cfg, const char *intermediates, bool enforce, uint64_t now, usec_t scan_budget,
                 PkiPass *ret);
void pki_pass_done(PkiPass *p);

/* JSON shapes shared by the status sections and `agv-agent check --json`
 * (docs/pki.md). */
json_object *pki_findings_json(const Findings *fs);
void pki_cert_json(json_object *o, const CertInfo *c);
json_object *pki_file_json(const PkiFile *f);
/* The verified path above the leaf: [{serial, subject, ..., source, path}]. */
json_object *pki_chain_links_json(const ChainLink *l, size_t n);
/* Each finding with its fix, the way `check` prints them. */
void pki_findings_print(FILE *f, const Findings *fs);

/* The active pair's parsed certificate and key (borrowed; up-ref to keep),
 * read and assessed together in one pass, and its CertInfo (generation).
 * -ENOENT when no pair is active. For signing with the certificate. */
int pki_active_pair(Manager *m, X509 **ret_cert, EVP_PKEY **ret_key, const CertInfo **ret_info);

/* The intermediates to send with the active pair (X-Amz-X509-Chain):
 * borrowed, NULL when [credentials] intermediates is not set or no pair is
 * active. The verified path in order, without a root or stray certificates. */
STACK_OF(X509) *pki_active_chain(Manager *m);

/* `agv-agent check` is verb_check() in pki_check.c, declared in verbs.h. */
