/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/x509.h>

#include "config.h"
#include "macro.h"

/* Renewal with the key made on the VM: `agv-agent request` (key + CSR) and
 * `agv-agent install-cert` (validated, crash-safe install). The pure parts
 * (subject syntax, the sign command, the request and journal records, the
 * recovery decision) live in pki_renew_core.c; the file work in pki_renew.c.
 * See docs/renewal.md. */

/* Inside [pki] dir, both root-only (0700) and never watched or assessed. */
#define PKI_PENDING_DIR "pending"
#define PKI_PREVIOUS_DIR "previous"
#define PENDING_KEY "client.key"
#define PENDING_CSR "client.csr"
#define PENDING_META "request.json"
#define INSTALL_JOURNAL "install.journal"
/* staged copies next to their targets, renamed over them */
#define STAGED_SUFFIX ".agv-new"

typedef enum RenewKeyType {
        RENEW_KEY_RSA2048,
        RENEW_KEY_RSA3072,
        RENEW_KEY_EC_P256,
        RENEW_KEY_EC_P384,
        _RENEW_KEY_MAX,
} RenewKeyType;
const char *renew_key_type_to_string(RenewKeyType t); /* "rsa2048" ... (the option values) */
int renew_key_type_from_string(const char *s);        /* -EINVAL if unknown */
const char *renew_key_type_label(RenewKeyType t);     /* "RSA-2048" ..., like status' key_type */

/* openssl -subj syntax: "/CN=vm/O=Org", backslash escapes a '/'. On error
 * *error says which part is wrong. */
int renew_subject_parse(const char *s, X509_NAME **ret, char **error);
/* The same syntax back, from a name. */
char *renew_subject_format(const X509_NAME *n);

/* The guide's extension file and the `openssl x509 -req` line that signs
 * csr_name with it into client.crt: a shell snippet that runs as is. */
#define RENEW_EXTFILE "basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n"
char *renew_sign_command(const char *csr_name, unsigned days);

/* pending/request.json */
typedef struct PendingRequest {
        uint64_t created;   /* Unix usec */
        char *key_type;     /* "RSA-2048" ... */
        char *subject;      /* -subj syntax */
        char *key_sha256;   /* of the pending key file's content */
} PendingRequest;
void pending_request_done(PendingRequest *p);
char *pending_request_format(const PendingRequest *p);
int pending_request_parse(const char *text, PendingRequest *ret);

/* pending/install.journal: written (and fsynced) before the first rename,
 * removed after the last step; its presence means "roll forward". */
typedef struct InstallJournal {
        char *source;       /* "request" or "rollback" */
        char *cert_path, *key_path;
        char *new_cert_sha256, *new_key_sha256;
        char *old_cert_sha256, *old_key_sha256; /* NULL: the file did not exist */
} InstallJournal;
void install_journal_done(InstallJournal *j);
char *install_journal_format(const InstallJournal *j);
int install_journal_parse(const char *text, InstallJournal *ret);

/* What recovery does with one file of an interrupted install. */
typedef enum RecoverStep {
        RECOVER_DONE,     /* the target holds the new content */
        RECOVER_RENAME,   /* the staged copy holds it: rename it over the target */
        RECOVER_OLD,      /* the target still holds the old content, nothing staged */
        RECOVER_CONFLICT, /* neither: someone else changed the file */
} RecoverStep;
/* target/staged: SHA-256 of what is on disk (NULL: missing). */
RecoverStep install_recover_step(const char *target, const char *staged, const char *new_sha, const char *old_sha);

/* The verbs (pki_renew.c), declared in verbs.h too. */
int pending_request_load(const char *pki_dir, PendingRequest *ret); /* 0 none, 1 loaded, <0 error */
/* A journal left by an interrupted install: 1 present, 2 present and an
 * installer is at work right now (it holds the lock), 0 none. */
int install_journal_present(const char *pki_dir);
/* `agv-agent run`, before the loop starts: complete (or undo) an install
 * that a crash or power loss interrupted, so the first assessment sees one
 * whole pair. 0 nothing to do, 1 recovered, <0 left as found (logged). */
int pki_renew_recover_at_start(const Config *cfg);
/* {since, key_type, subject, key_path, csr_path}: status and check. */
#include <json-c/json.h>
json_object *pending_request_json(const char *pki_dir, const PendingRequest *p);
