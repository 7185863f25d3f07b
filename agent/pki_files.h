/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/stat.h>

#include <openssl/x509.h>

#include "pki_assess.h"

/* Safe access to the PKI files: every file is opened O_NOFOLLOW|O_NONBLOCK
 * and judged through its fd, so a symlink, FIFO, hardlink or directory put in
 * place of a file is reported and never followed, blocked on, or modified. */

#define PKI_FILE_MAX ((size_t) 1024 * 1024)

typedef enum PkiRole {
        ROLE_CERTIFICATE,
        ROLE_PRIVATE_KEY,
        ROLE_CA_BUNDLE,
        ROLE_DIRECTORY,
        ROLE_INTERMEDIATES, /* [credentials] intermediates */
        _ROLE_MAX,
} PkiRole;
const char *pki_role_to_string(PkiRole r);

typedef struct PkiPolicy {
        mode_t mode;
        uid_t uid;
        gid_t gid;
} PkiPolicy;

typedef enum PermState {
        PERM_OK,
        PERM_REPAIRED, /* drift found and fixed in this pass */
        PERM_DRIFT,    /* drift left as is (audit, or the repair failed) */
        PERM_UNSAFE,   /* not a regular file / directory: never touched */
        PERM_MISSING,
} PermState;
const char *perm_state_to_string(PermState s);

/* What one pass found for one path. */
typedef struct PkiFile {
        PkiRole role;
        char *path;
        PermState perm;
        bool found;           /* something exists at path */
        mode_t mode;          /* as found (before a repair) */
        uid_t uid;
        gid_t gid;
        PkiPolicy want;
        int repair_error;     /* negative errno of a failed repair */
        char *acl;            /* access-granting ACL/xattr found ("user:1001:r--, ..."), or NULL */
        bool acl_removed;     /* ... and removed in this pass */
        char *data;           /* content, NULL if not read */
        size_t len;
        dev_t dev;
        ino_t ino;
} PkiFile;

void pki_file_done(PkiFile *pf);

/* A POSIX ACL xattr (system.posix_acl_access / _default, the kernel's
 * little-endian format: u32 version 2, then {u16 tag, u16 perm, u32 id}),
 * parsed without libacl. */
typedef struct PkiAcl {
        bool extended;   /* named users/groups or a mask: more than the mode says */
        unsigned others; /* rwx bits (4 2 1) named users/groups effectively get */
        char desc[256];  /* the extended entries, getfacl style: "user:1001:r--, mask::r--" */
} PkiAcl;
int pki_acl_parse(const void *data, size_t len, PkiAcl *ret); /* -EBADMSG when malformed */
/* What the permissions section shows of a file differs between two passes
 * (state, mode, owner, presence): the cached status must be rebuilt. */
bool pki_file_view_changed(const PkiFile *a, const PkiFile *b);

/* Open, check and (for files) read path. enforce: repair drift through the
 * fd. Problems become findings; returns 0 (also when the file is bad) or
 * -ENOMEM. */
int pki_file_load(PkiRole role, const char *path, const PkiPolicy *want, bool enforce, PkiFile *ret,
                  Findings *f);

/* Repair mode/owner of an fd already checked to be a regular file or a
 * directory; logs before/after with MSGID_PERMISSION_REPAIRED. */
int pki_fd_repair(int fd, const char *path, const struct stat *st, const PkiPolicy *want);

/* Look for CA private keys in dir: names like ca.key, or any private key
 * matching a certificate of `ca` (may be NULL). Paths in `own` (the
 * configured files) are judged by content only, not by name. */
int pki_scan_ca_keys(const char *dir, STACK_OF(X509) *ca, const char *const *own, Findings *f);
/* The same, stopping after `budget` (0: none) with a ca_key_scan_incomplete
 * warning and *ret_incomplete set; what was judged is remembered by inode
 * (no key material), so the next passes go on from there. */
int pki_scan_ca_keys_bounded(const char *dir, STACK_OF(X509) *ca, const char *const *own, usec_t budget,
                             Findings *f, bool *ret_incomplete);
void pki_scan_cache_flush(void);
size_t pki_scan_cache_size(void); /* verdicts held (tests) */
