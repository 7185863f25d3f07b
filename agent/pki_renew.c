/* SPDX-License-Identifier: MIT */
/* `agv-agent request` and `agv-agent install-cert`: the key is made on the
 * VM and never leaves it; the signed certificate is validated like the
 * daemon would, then installed with a journal so a crash at any point is
 * completed (or rolled back) by the next run. docs/renewal.md. */
#include "pki_renew.h"

#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "pki.h"
#include "strv.h"
#include "verbs.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ *, X509_REQ_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);

#define EXIT_REFUSED 2

/* A blob that holds key material: wiped before it is freed. */
typedef struct Secret {
        char *data;
        size_t len;
} Secret;

static void secret_done(Secret *s) {
        if (s->data)
                explicit_bzero(s->data, s->len);
        free(s->data);
        *s = (Secret) {};
}

typedef struct Renew {
        const char *verb;
        Config *cfg;
        int dir_fd;      /* [pki] dir, flock()ed for the whole run */
        bool json;
        bool quiet;
        const char *config_opt;
} Renew;

static void renew_done(Renew *r) {
        safe_close(r->dir_fd);
        config_free(r->cfg);
}

/* ---- small file helpers ------------------------------------------------------ */

static char *sha256_hex(const void *data, size_t len) {
        unsigned char md[32];
        unsigned n = 0;
        char *s;
        if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || !(s = malloc(65)))
                return NULL;
        for (unsigned i = 0; i < 32; i++)
                sprintf(s + 2 * i, "%02x", md[i]);
        return s;
}

/* Read a regular file (never a FIFO, device or, with nofollow, a symlink). */
static int read_at(int dfd, const char *name, bool nofollow, Secret *ret) {
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
                                                           (nofollow ? O_NOFOLLOW : 0));
        struct stat st;
        size_t got = 0;

        *ret = (Secret) {};
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((size_t) st.st_size > PKI_FILE_MAX)
                return -EFBIG;
        ret->data = malloc((size_t) st.st_size + 1);
        if (!ret->data)
                return -ENOMEM;
        while (got < (size_t) st.st_size) {
                ssize_t n = read(fd, ret->data + got, (size_t) st.st_size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        ret->data[got] = 0;
        ret->len = got;
        return 0;
}

static int read_path(const char *path, bool nofollow, Secret *ret) {
        return read_at(AT_FDCWD, path, nofollow, ret);
}

static const char *read_error(int r) {
        return r == -EBADFD ? "not a regular file" : r == -EFBIG ? "larger than 1 MiB" : strerror(-r);
}

/* Write name in dfd from scratch: O_EXCL (a leftover is removed first, a
 * symlink planted there is never followed), owner and mode set on the fd
 * before any byte is written, fsync before returning. */
static int write_at(int dfd, const char *name, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = -1;
        size_t done = 0;

        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
        if (fd < 0)
                return -errno;
        if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
                return -errno;
        while (done < len) {
                ssize_t n = write(fd, (const char *) data + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                done += (size_t) n;
        }
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

static int fsync_dir(int dfd) {
        return fsync(dfd) < 0 ? -errno : 0;
}

/* Test hooks: AGV_TEST_INSTALL_CRASH_AT=<step> kills the installer there
 * with SIGKILL, so the tests can prove every step is recoverable;
 * AGV_TEST_INSTALL_STOP_AT=<step> stops it (SIGSTOP) so they can look at
 * the directory and the agent in between. */
static void crash_point(const char *step) {
        const char *e = getenv("AGV_TEST_INSTALL_CRASH_AT");
        if (e && streq(e, step))
                raise(SIGKILL);
        e = getenv("AGV_TEST_INSTALL_STOP_AT");
        if (e && streq(e, step))
                raise(SIGSTOP);
}

static const char *base_name(const char *path) {
        const char *s = strrchr(path, '/');
        return s ? s + 1 : path;
}

/* The directory of path, opened O_DIRECTORY|O_NOFOLLOW. */
static int open_parent(const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        int fd;
        if (!copy)
                return -ENOMEM;
        fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static char *staged_name(const char *path) {
        char *s;
        return asprintf(&s, ".%s" STAGED_SUFFIX, base_name(path)) < 0 ? NULL : s;
}

/* pending/ or previous/: root-only. Refused (never "fixed") when it is a
 * symlink, someone else's, or open to group/others: a planted directory
 * must not receive a key. */
static int open_private_dir(Renew *r, const char *name, bool create, int *ret) {
        struct stat st;
        int fd;

        *ret = -1;
        if (create && mkdirat(r->dir_fd, name, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s/%s", r->cfg->pki.dir, name);
        fd = openat(r->dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT && !create)
                        return 0;
                return log_error_errno(errno, "Cannot open %s/%s (it must be a directory, not a symlink)",
                                       r->cfg->pki.dir, name);
        }
        if (fstat(fd, &st) < 0 || st.st_uid != r->cfg->pki.owner.uid || (st.st_mode & 0077)) {
                fprintf(stderr, "agv-agent %s: %s/%s is %04o owned by %u, not 0700 owned by %u; it holds private keys. "
                        "Check who changed it, then: chown %u %s/%s && chmod 700 %s/%s\n", r->verb, r->cfg->pki.dir,
                        name, (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid, (unsigned) r->cfg->pki.owner.uid,
                        (unsigned) r->cfg->pki.owner.uid, r->cfg->pki.dir, name, r->cfg->pki.dir, name);
                safe_close(fd);
                return -EPERM;
        }
        if (create && fchown(fd, r->cfg->pki.owner.uid, r->cfg->pki.owner.gid) < 0) {
                safe_close(fd);
                return -errno;
        }
        *ret = fd;
        return 1;
}

/* ---- reading the pending request (also for status and check) ------------------ */

int pending_request_load(const char *pki_dir, PendingRequest *ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_(secret_done) Secret s = {};
        int r;

        *ret = (PendingRequest) {};
        if (asprintf(&path, "%s/" PKI_PENDING_DIR "/" PENDING_META, pki_dir) < 0)
                return -ENOMEM;
        r = read_path(path, true, &s);
        if (r == -ENOENT || r == -ENOTDIR)
                return 0;
        if (r < 0)
                return r;
        r = pending_request_parse(s.data, ret);
        return r < 0 ? r : 1;
}

int install_journal_present(const char *pki_dir) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int dfd = -1;
        if (asprintf(&path, "%s/" PKI_PENDING_DIR "/" INSTALL_JOURNAL, pki_dir) < 0)
                return -ENOMEM;
        if (faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        /* an installer holds the lock while it works: its journal is live */
        dfd = open(pki_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd >= 0 && flock(dfd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
                return 2;
        return 1;
}

/* ---- recovery --------------------------------------------------------------------- */

static char *file_sha(int dfd, const char *name) {
        _cleanup_(secret_done) Secret s = {};
        if (read_at(dfd, name, true, &s) < 0)
                return NULL;
        return sha256_hex(s.data, s.len);
}

static int remove_request_files(int pending_fd) {
        static const char *const names[] = { PENDING_KEY, PENDING_CSR, PENDING_META };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (unlinkat(pending_fd, names[i], 0) < 0 && errno != ENOENT)
                        return -errno;
        return fsync_dir(pending_fd);
}

static bool remove_staged(const char *path) {
        _cleanup_close_ int dfd = open_parent(path);
        _cleanup_free_ char *st = staged_name(path);
        if (dfd < 0 || !st || unlinkat(dfd, st, 0) < 0)
                return false;
        (void) fsync_dir(dfd);
        return true;
}

/* No journal: an install that died before committing left at most staged
 * copies; the pair in place was never touched. */
static int remove_uncommitted(Renew *r) {
        bool a = remove_staged(r->cfg->pki.certificate), b = remove_staged(r->cfg->pki.private_key);
        /* a copy of an older pair, left when previous/ was being replaced */
        (void) unlinkat(r->dir_fd, PKI_PREVIOUS_DIR ".new/client.crt", 0);
        (void) unlinkat(r->dir_fd, PKI_PREVIOUS_DIR ".new/client.key", 0);
        (void) unlinkat(r->dir_fd, PKI_PREVIOUS_DIR ".new", AT_REMOVEDIR);
        if ((a || b) && !r->quiet)
                fprintf(stderr, "agv-agent %s: rolled back an interrupted install (nothing had been renamed); "
                        "the pair in place stays\n", r->verb);
        return a || b;
}

/* The last steps of an install, also run by recovery: the request is used
 * up, the journal goes last. */
static int install_finish(int pending_fd, const InstallJournal *j) {
        int r;
        if (streq(j->source, "request")) {
                r = remove_request_files(pending_fd);
                if (r < 0)
                        return log_error_errno(r, "Cannot remove the used request from pending/");
        }
        crash_point("cleanup");
        if (unlinkat(pending_fd, INSTALL_JOURNAL, 0) < 0 && errno != ENOENT)
                return log_error_errno(errno, "Cannot remove pending/" INSTALL_JOURNAL);
        return fsync_dir(pending_fd);
}

static int rename_staged(const char *path) {
        _cleanup_close_ int dfd = open_parent(path);
        _cleanup_free_ char *st = staged_name(path);
        if (dfd < 0)
                return dfd;
        if (!st)
                return -ENOMEM;
        if (renameat(dfd, st, dfd, base_name(path)) < 0)
                return -errno;
        return fsync_dir(dfd);
}

/* Complete (or undo) an install that died half-way. 0: nothing to do, 1:
 * recovered, <0: left as found (message printed). Runs under the lock, so
 * a journal here is never a live installer's. */
static int recover(Renew *r) {
        _cleanup_close_ int pfd = -1;
        _cleanup_(secret_done) Secret s = {};
        _cleanup_(install_journal_done) InstallJournal j = {};
        const char *paths[2];
        RecoverStep steps[2];
        const char *news[2], *olds[2];
        int k;

        k = open_private_dir(r, PKI_PENDING_DIR, false, &pfd);
        if (k <= 0)
                return k < 0 ? k : remove_uncommitted(r);
        k = read_at(pfd, INSTALL_JOURNAL, true, &s);
        if (k == -ENOENT)
                return remove_uncommitted(r);
        if (k < 0 || install_journal_parse(s.data, &j) < 0) {
                fprintf(stderr, "agv-agent %s: %s/" PKI_PENDING_DIR "/" INSTALL_JOURNAL " is unreadable or damaged; "
                        "check the pair with 'agv-agent check', then remove the journal\n", r->verb, r->cfg->pki.dir);
                return -EBADMSG;
        }
        paths[0] = j.key_path, news[0] = j.new_key_sha256, olds[0] = j.old_key_sha256;
        paths[1] = j.cert_path, news[1] = j.new_cert_sha256, olds[1] = j.old_cert_sha256;
        for (int i = 0; i < 2; i++) {
                _cleanup_close_ int dfd = open_parent(paths[i]);
                _cleanup_free_ char *st = staged_name(paths[i]), *target_sha = NULL, *staged_sha = NULL;
                if (dfd >= 0 && st) {
                        target_sha = file_sha(dfd, base_name(paths[i]));
                        staged_sha = file_sha(dfd, st);
                }
                steps[i] = install_recover_step(target_sha, staged_sha, news[i], olds[i]);
        }
        if (steps[0] == RECOVER_OLD && steps[1] == RECOVER_OLD) {
                /* nothing was renamed and the staged copies are gone: undo */
                remove_staged(j.cert_path);
                remove_staged(j.key_path);
                if (unlinkat(pfd, INSTALL_JOURNAL, 0) < 0 || fsync_dir(pfd) < 0)
                        return log_error_errno(errno, "Cannot remove pending/" INSTALL_JOURNAL);
                if (!r->quiet)
                        fprintf(stderr, "agv-agent %s: rolled back an interrupted install; the old pair stays\n",
                                r->verb);
                return 1;
        }
        for (int i = 0; i < 2; i++)
                if (steps[i] == RECOVER_OLD || steps[i] == RECOVER_CONFLICT) {
                        fprintf(stderr, "agv-agent %s: an interrupted install cannot be completed: %s %s. Nothing "
                                "was changed. Restore a pair by hand (%s/" PKI_PREVIOUS_DIR " holds the one before "
                                "the install), then remove %s/" PKI_PENDING_DIR "/" INSTALL_JOURNAL "\n", r->verb,
                                paths[i], steps[i] == RECOVER_CONFLICT ? "was changed by something else since"
                                                                       : "lost its staged copy",
                                r->cfg->pki.dir, r->cfg->pki.dir);
                        return -EUCLEAN;
                }
        /* roll forward: the journal was written after both copies were staged */
        for (int i = 0; i < 2; i++)
                if (steps[i] == RECOVER_RENAME) {
                        k = rename_staged(paths[i]);
                        if (k < 0)
                                return log_error_errno(k, "Cannot rename the staged copy over %s", paths[i]);
                }
        remove_staged(j.cert_path);
        remove_staged(j.key_path);
        k = install_finish(pfd, &j);
        if (k < 0)
                return k;
        if (!r->quiet)
                fprintf(stderr, "agv-agent %s: completed an interrupted install (%s); the new pair is in place\n",
                        r->verb, j.source);
        return 1;
}

/* ---- common setup --------------------------------------------------------------------- */

static int renew_open(Renew *r, const char *config_path, bool create_dir) {
        int k;

        /* root (or the configured owner of the PKI files, for unprivileged
         * demos); said first, as a user who may not even read the config */
        k = verb_load_config(r->verb, config_path, geteuid() != 0, &r->cfg);
        if (geteuid() != 0 && (k < 0 || geteuid() != r->cfg->pki.owner.uid)) {
                fprintf(stderr, "agv-agent %s: permission denied: only root may create or install the private key "
                        "in %s (it is root-only); run it with sudo\n", r->verb,
                        r->cfg ? r->cfg->pki.dir : "the PKI directory");
                return -EPERM;
        }
        if (k < 0)
                return k;
        if (create_dir && mkdir(r->cfg->pki.dir, r->cfg->pki.dir_mode) == 0 &&
            chown(r->cfg->pki.dir, r->cfg->pki.owner.uid, r->cfg->pki.owner.gid) < 0)
                return log_error_errno(errno, "Cannot set the owner of %s", r->cfg->pki.dir);
        r->dir_fd = open(r->cfg->pki.dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (r->dir_fd < 0) {
                k = -errno;
                fprintf(stderr, "agv-agent %s: cannot open %s: %s%s\n", r->verb, r->cfg->pki.dir, strerror(-k),
                        k == -ENOENT ? " (create it: install -d -m 755 <dir>)" : "");
                return k;
        }
        /* one request/install at a time; also what tells recovery that a
         * journal is not a live installer's */
        if (flock(r->dir_fd, LOCK_EX | LOCK_NB) < 0) {
                fprintf(stderr, "agv-agent %s: another 'agv-agent request' or 'install-cert' is working on %s; "
                        "try again when it is done\n", r->verb, r->cfg->pki.dir);
                return -EBUSY;
        }
        k = recover(r);
        return k < 0 ? k : 0;
}

int pki_renew_recover_at_start(const Config *cfg) {
        Renew r = { .verb = "run", .cfg = (Config *) cfg, .dir_fd = -1 };
        int k;

        /* only when there is a journal or a staged copy to deal with: the
         * common start touches nothing */
        if (install_journal_present(cfg->pki.dir) <= 0) {
                _cleanup_free_ char *sc = staged_name(cfg->pki.certificate), *sk = staged_name(cfg->pki.private_key);
                _cleanup_close_ int cd = open_parent(cfg->pki.certificate), kd = open_parent(cfg->pki.private_key);
                if (!sc || !sk || ((cd < 0 || faccessat(cd, sc, F_OK, AT_SYMLINK_NOFOLLOW) < 0) &&
                                   (kd < 0 || faccessat(kd, sk, F_OK, AT_SYMLINK_NOFOLLOW) < 0)))
                        return 0;
        }
        r.dir_fd = open(cfg->pki.dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (r.dir_fd < 0)
                return 0;
        /* an install-cert at work right now finishes by itself */
        if (flock(r.dir_fd, LOCK_EX | LOCK_NB) < 0) {
                safe_close(r.dir_fd);
                return 0;
        }
        k = recover(&r);
        safe_close(r.dir_fd);
        return k;
}

static uint64_t now_usec(const Config *cfg) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ((int64_t) ts.tv_sec + cfg->test_clock_offset_sec) * USEC_PER_SEC +
               (uint64_t) ts.tv_nsec / 1000;
}

static void print_json(json_object *o) {
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

json_object *pending_request_json(const char *pki_dir, const PendingRequest *p) {
        json_object *o = json_object_new_object();
        char *kp = NULL, *cp = NULL;
        if (!o)
                return NULL;
        (void) !asprintf(&kp, "%s/" PKI_PENDING_DIR "/" PENDING_KEY, pki_dir);
        (void) !asprintf(&cp, "%s/" PKI_PENDING_DIR "/" PENDING_CSR, pki_dir);
        json_object_object_add(o, "since", json_time_or_null(p->created));
        json_object_object_add(o, "key_type", json_string_or_null(p->key_type));
        json_object_object_add(o, "subject", json_string_or_null(p->subject));
        json_object_object_add(o, "key_path", json_string_or_null(kp));
        json_object_object_add(o, "csr_path", json_string_or_null(cp));
        free(kp);
        free(cp);
        return o;
}

/* ---- request ------------------------------------------------------------------------------ */

static EVP_PKEY *generate_key(RenewKeyType t) {
        switch (t) {
        case RENEW_KEY_RSA2048:
                return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        case RENEW_KEY_RSA3072:
                return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 3072);
        case RENEW_KEY_EC_P256:
                return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        case RENEW_KEY_EC_P384:
                return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        default:
                return NULL;
        }
}

static int add_ext(STACK_OF(X509_EXTENSION) *exts, int nid, const char *value) {
        X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, NULL, nid, value);
        if (!e)
                return -EINVAL;
        if (!sk_X509_EXTENSION_push(exts, e)) {
                X509_EXTENSION_free(e);
                return -ENOMEM;
        }
        return 0;
}

/* PKCS#10 with the guide's client extensions, signed with SHA-256. */
static int make_csr(EVP_PKEY *key, X509_NAME *subject, char **ret_pem) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new();
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        char *p;
        long l;
        int ok;

        if (!req || !b || !exts) {
                sk_X509_EXTENSION_free(exts);
                return -ENOMEM;
        }
        ok = X509_REQ_set_version(req, X509_REQ_VERSION_1) == 1 && X509_REQ_set_subject_name(req, subject) == 1 &&
             X509_REQ_set_pubkey(req, key) == 1 && add_ext(exts, NID_basic_constraints, "CA:FALSE") == 0 &&
             add_ext(exts, NID_key_usage, "critical,digitalSignature") == 0 &&
             add_ext(exts, NID_ext_key_usage, "clientAuth") == 0 && X509_REQ_add_extensions(req, exts) == 1 &&
             X509_REQ_sign(req, key, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(b, req) == 1;
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        if (!ok)
                return -EIO;
        l = BIO_get_mem_data(b, &p);
        *ret_pem = strndup(p, (size_t) l);
        return *ret_pem ? 0 : -ENOMEM;
}

/* --subject, else the active certificate's subject (a renewal), else /CN=<hostname>. */
static int pick_subject(Renew *r, const char *opt, X509_NAME **ret, const char **origin) {
        _cleanup_(secret_done) Secret s = {};
        _cleanup_free_ char *error = NULL;
        char host[256] = "", *subj = NULL;
        int k;

        if (opt) {
                *origin = "--subject";
                k = renew_subject_parse(opt, ret, &error);
                if (k == -EINVAL)
                        fprintf(stderr, "agv-agent request: --subject: %s\n", strna(error));
                return k;
        }
        if (read_path(r->cfg->pki.certificate, true, &s) == 0) {
                _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(s.data, (int) s.len);
                _cleanup_(X509_freep) X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
                ERR_clear_error();
                if (x && X509_NAME_entry_count(X509_get_subject_name(x)) > 0) {
                        *ret = X509_NAME_dup(X509_get_subject_name(x));
                        *origin = "the active certificate";
                        return *ret ? 0 : -ENOMEM;
                }
        }
        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
                strcpy(host, "localhost");
        *origin = "the host name";
        if (asprintf(&subj, "/CN=%s", host) < 0)
                return -ENOMEM;
        k = renew_subject_parse(subj, ret, &error);
        free(subj);
        return k;
}

static void print_instructions(FILE *f, const char *csr_name, const char *sign, const char *install) {
        fprintf(f, "\nCopy %s to the machine that holds the CA key and sign it there with the guide's\n"
                   "extension file (a CSR's own extensions are dropped by 'openssl x509 -req'):\n\n%s\n"
                   "Then copy client.crt back (it is not secret) and install it:\n\n    %s\n",
                csr_name, sign, install);
}

static int emit_request(Renew *r, const PendingRequest *p, const char *csr, const char *out, unsigned days,
                        const char *origin) {
        bool reused = !origin;
        _cleanup_free_ char *sign = NULL, *install = NULL, *keyp = NULL;
        const char *csr_name = out ? base_name(out) : "client.csr";

        sign = renew_sign_command(csr_name, days);
        if (asprintf(&install, "sudo agv-agent install-cert%s%s client.crt", r->config_opt ? " --config " : "",
                     strempty(r->config_opt)) < 0 || !sign ||
            asprintf(&keyp, "%s/" PKI_PENDING_DIR "/" PENDING_KEY, r->cfg->pki.dir) < 0)
                return -ENOMEM;
        if (out) {
                _cleanup_close_ int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd < 0 || write(fd, csr, strlen(csr)) != (ssize_t) strlen(csr))
                        return log_error_errno(errno ?: EIO, "Cannot write %s", out);
        }
        if (r->json) {
                _cleanup_json_ json_object *o = pending_request_json(r->cfg->pki.dir, p);
                json_object_object_add(o, "reused", json_object_new_boolean(reused));
                json_object_object_add(o, "csr", json_object_new_string(csr));
                json_object_object_add(o, "out", json_string_or_null(out));
                json_object_object_add(o, "extfile", json_object_new_string(RENEW_EXTFILE));
                json_object_object_add(o, "sign_command", json_object_new_string(sign));
                json_object_object_add(o, "install_command", json_object_new_string(install));
                print_json(o);
                return 0;
        }
        if (!out)
                fputs(csr, stdout);
        /* the CSR may be on stdout: everything for the human goes to stderr then */
        FILE *f = out ? stdout : stderr;
        char since[64];
        if (reused)
                fprintf(f, "A request is already pending since %s (%s, %s); its key is kept and this is its CSR "
                           "again. 'agv-agent request --force' makes a new key.\n",
                        format_rfc3339(p->created, since, sizeof(since)), p->key_type, p->subject);
        else
                fprintf(f, "New %s key in %s (root-only; it never leaves this machine).\n", p->key_type, keyp);
        fprintf(f, "CSR for %s%s%s%s %s%s.\n", p->subject, origin ? " (from " : "", strempty(origin), origin ? ")" : "",
                out ? "written to " : "on standard output", strempty(out));
        print_instructions(f, out ? csr_name : "the CSR (saved as client.csr)", sign, install);
        return 0;
}

/* A CSR written over client.crt (or anywhere the agent watches) would turn
 * a typo into a broken pair. */
static bool same_dir(const char *a_file, const char *b_dir) {
        _cleanup_free_ char *ca = strdup(a_file), *ra = NULL, *rb = NULL;
        if (!ca)
                return false;
        ra = realpath(dirname(ca), NULL);
        rb = realpath(b_dir, NULL);
        return ra && rb && streq(ra, rb);
}

static bool out_in_pki_dirs(const Config *cfg, const char *out) {
        _cleanup_free_ char *cd = strdup(cfg->pki.certificate), *kd = strdup(cfg->pki.private_key);
        return same_dir(out, cfg->pki.dir) || (cd && same_dir(out, dirname(cd))) ||
               (kd && same_dir(out, dirname(kd)));
}

int verb_request(int argc, char **argv) {
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' }, { "key-type", required_argument, NULL, 't' },
                { "subject", required_argument, NULL, 's' }, { "out", required_argument, NULL, 'o' },
                { "days", required_argument, NULL, 'd' },    { "force", no_argument, NULL, 'f' },
                { "json", no_argument, NULL, 'j' },          { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(renew_done) Renew r = { .verb = "request", .dir_fd = -1 };
        const char *subject_opt = NULL, *out = NULL, *origin = NULL;
        int type = RENEW_KEY_RSA2048, c, k;
        bool force = false, type_given = false;
        unsigned days = 365;
        _cleanup_(pending_request_done) PendingRequest p = {};
        _cleanup_close_ int pfd = -1;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+c:t:s:o:d:fjh", opts, NULL)) >= 0)
                switch (c) {
                case 'c':
                        r.config_opt = optarg;
                        break;
                case 't':
                        type = renew_key_type_from_string(optarg);
                        if (type < 0)
                                return usage_error("request", "unknown --key-type '%s' (rsa2048, rsa3072, ec-p256, ec-p384)",
                                                   optarg);
                        type_given = true;
                        break;
                case 's':
                        subject_opt = optarg;
                        break;
                case 'o':
                        out = optarg;
                        break;
                case 'd': {
                        char *end;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (*end || v < 1 || v > 3650)
                                return usage_error("request", "--days must be 1..3650, not '%s'", optarg);
                        days = (unsigned) v;
                        break;
                }
                case 'f':
                        force = true;
                        break;
                case 'j':
                        r.json = true;
                        break;
                case 'h':
                        printf("agv-agent request [--key-type TYPE] [--subject /CN=..] [--out FILE] [--days N]\n"
                               "                  [--force] [--json] [--config PATH]\n\n"
                               "Make a new private key on this machine (root-only, in <dir>/pending/) and a\n"
                               "PKCS#10 CSR for it; print the openssl line that signs the CSR with the\n"
                               "deployment guide's extension file. The key never leaves the VM; only the CSR\n"
                               "and the certificate travel. Install the signed certificate with\n"
                               "'agv-agent install-cert FILE'. Needs root.\n"
                               "  --key-type TYPE  rsa2048 (default, as the guide), rsa3072, ec-p256, ec-p384\n"
                               "  --subject SUBJ   /CN=name/O=org (default: the active certificate's subject,\n"
                               "                   else /CN=<hostname>)\n"
                               "  --out FILE       write the CSR to FILE (default: standard output)\n"
                               "  --days N         validity in the printed sign command (default 365)\n"
                               "  --force          replace a pending request's key with a new one\n"
                               "  --json           print the request as JSON (docs/renewal.md)\n"
                               "  --config PATH    configuration (default " DEFAULT_CONFIG_PATH " if present)\n");
                        return 0;
                default:
                        return usage_error("request", "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        if (optind < argc)
                return usage_error("request", "unexpected argument '%s'", argv[optind]);

        if (renew_open(&r, r.config_opt, true) < 0)
                return 1;
        if (out && out_in_pki_dirs(r.cfg, out)) {
                fprintf(stderr, "agv-agent request: --out %s is in the directory of the certificate or key; "
                        "write the CSR somewhere else (e.g. --out ~/client.csr)\n", out);
                return 1;
        }
        if (open_private_dir(&r, PKI_PENDING_DIR, true, &pfd) < 0)
                return 1;

        k = pending_request_load(r.cfg->pki.dir, &p);
        if (k > 0 && !force) {
                _cleanup_(secret_done) Secret csr = {};
                _cleanup_(X509_NAME_freep) X509_NAME *want = NULL;
                _cleanup_free_ char *want_s = NULL, *err = NULL;
                char since[64];
                if (subject_opt && renew_subject_parse(subject_opt, &want, &err) == 0)
                        want_s = renew_subject_format(want);
                if ((type_given && !streq(p.key_type, renew_key_type_label(type))) ||
                    (want_s && !streq(want_s, p.subject))) {
                        fprintf(stderr, "agv-agent request: a request is pending since %s (%s, %s) and differs from "
                                "this one; its key is kept. Install its certificate, or replace it with --force\n",
                                format_rfc3339(p.created, since, sizeof(since)), p.key_type, p.subject);
                        return 1;
                }
                _cleanup_(secret_done) Secret pk = {};
                if (read_at(pfd, PENDING_CSR, true, &csr) < 0 || read_at(pfd, PENDING_KEY, true, &pk) < 0) {
                        fprintf(stderr, "agv-agent request: the pending request in %s/" PKI_PENDING_DIR " is incomplete; "
                                "make a new one with --force\n", r.cfg->pki.dir);
                        return 1;
                }
                return emit_request(&r, &p, csr.data, out, days, NULL) < 0 ? 1 : 0;
        }
        if (k < 0 && k != -EBADMSG) {
                log_error_errno(k, "Cannot read the pending request in %s/" PKI_PENDING_DIR, r.cfg->pki.dir);
                return 1;
        }
        pending_request_done(&p);

        {
                _cleanup_(X509_NAME_freep) X509_NAME *subject = NULL;
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
                _cleanup_(BIO_freep) BIO *kb = BIO_new(BIO_s_mem());
                _cleanup_free_ char *csr = NULL, *meta = NULL;
                char *kd;
                long kl;

                if (pick_subject(&r, subject_opt, &subject, &origin) < 0)
                        return 1;
                key = generate_key((RenewKeyType) type);
                if (!key || !kb || PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
                    make_csr(key, subject, &csr) < 0) {
                        fprintf(stderr, "agv-agent request: OpenSSL could not make the key or CSR\n");
                        return 1;
                }
                kl = BIO_get_mem_data(kb, &kd);
                p.created = now_usec(r.cfg);
                p.key_type = strdup(renew_key_type_label(type));
                p.subject = renew_subject_format(subject);
                p.key_sha256 = sha256_hex(kd, (size_t) kl);
                meta = pending_request_format(&p);
                if (!p.key_type || !p.subject || !p.key_sha256 || !meta)
                        return log_oom(), 1;
                /* the key first: metadata without a key is "incomplete", never the reverse */
                k = write_at(pfd, PENDING_KEY, kd, (size_t) kl, 0400, r.cfg->pki.owner.uid, r.cfg->pki.owner.gid);
                explicit_bzero(kd, (size_t) kl);
                if (k >= 0)
                        k = write_at(pfd, PENDING_CSR, csr, strlen(csr), 0444, r.cfg->pki.owner.uid, r.cfg->pki.owner.gid);
                if (k >= 0)
                        k = write_at(pfd, PENDING_META, meta, strlen(meta), 0400, r.cfg->pki.owner.uid,
                                     r.cfg->pki.owner.gid);
                if (k >= 0)
                        k = fsync_dir(pfd);
                if (k < 0) {
                        log_error_errno(k, "Cannot write the request into %s/" PKI_PENDING_DIR, r.cfg->pki.dir);
                        return 1;
                }
                return emit_request(&r, &p, csr, out, days, origin) < 0 ? 1 : 0;
        }
}

/* ---- install-cert ---------------------------------------------------------------------------- */

/* Assess cert + key (+ the configured CA bundle and intermediates) the way
 * the daemon does. */
static int assess_pair(Renew *r, const char *cert_path, const Secret *cert, const char *key_path,
                       const Secret *key, PkiAssessment *a) {
        PkiFile ca_file = {}, inter_file = {};
        PkiPolicy pol = pki_policy_for(&r->cfg->pki, ROLE_CA_BUNDLE);
        PkiBlob cb = { cert_path, cert->data, cert->len }, kb = { key_path, key->data, key->len }, ab = {}, ib = {};
        const char *inter = r->cfg->credentials.intermediates;
        int k = 0;

        if (r->cfg->pki.ca_bundle) {
                k = pki_file_load(ROLE_CA_BUNDLE, r->cfg->pki.ca_bundle, &pol, false, &ca_file, &a->findings);
                if (k < 0)
                        return k;
                ab = (PkiBlob) { r->cfg->pki.ca_bundle, ca_file.data, ca_file.len };
        }
        if (inter) {
                k = pki_file_load(ROLE_INTERMEDIATES, inter, &pol, false, &inter_file, &a->findings);
                if (k < 0) {
                        pki_file_done(&ca_file);
                        return k;
                }
                ib = (PkiBlob) { inter, inter_file.data, inter_file.len };
        }
        pki_assess_chain(&cb, &kb, &ab, &ib, now_usec(r->cfg), a);
        pki_file_done(&ca_file);
        pki_file_done(&inter_file);
        return 0;
}

static bool blocking(const PkiAssessment *a) {
        return pki_assessment_verdict(a) != VERDICT_VALID;
}

static void report_refusal(Renew *r, const char *what, const PkiAssessment *a) {
        if (r->json) {
                _cleanup_json_ json_object *o = json_object_new_object();
                json_object *cert = json_object_new_object();
                json_object_object_add(o, "installed", json_object_new_boolean(false));
                if (a->cert)
                        pki_cert_json(cert, &a->info);
                json_object_object_add(cert, "key_matches", json_object_new_boolean(a->key_matches));
                json_object_object_add(cert, "chain", json_object_new_string(chain_status_to_string(a->chain)));
                json_object_object_add(o, "certificate", cert);
                json_object_object_add(o, "findings", pki_findings_json(&a->findings));
                print_json(o);
        }
        fprintf(stderr, "agv-agent %s: refused %s: it would not be activated. Nothing was changed.\n", r->verb, what);
        if (!r->json)
                pki_findings_print(stderr, &a->findings);
}

typedef struct Pair {
        Secret cert, key;
} Pair;

static void pair_done(Pair *p) {
        secret_done(&p->cert);
        secret_done(&p->key);
}

/* Copy the pair in place now into previous/ (complete before it replaces
 * the old copy: previous.new is swapped in with RENAME_EXCHANGE). */
static int save_previous(Renew *r, const Pair *old) {
        _cleanup_close_ int nfd = -1;
        uid_t u = r->cfg->pki.owner.uid;
        gid_t g = r->cfg->pki.owner.gid;
        int k;

        if (!old->cert.data || !old->key.data)
                return 0; /* first install: nothing to keep */
        (void) unlinkat(r->dir_fd, PKI_PREVIOUS_DIR ".new/client.crt", 0);
        (void) unlinkat(r->dir_fd, PKI_PREVIOUS_DIR ".new/client.key", 0);
        (void) unlinkat(r->dir_fd, PKI_PREVIOUS_DIR ".new", AT_REMOVEDIR);
        k = open_private_dir(r, PKI_PREVIOUS_DIR ".new", true, &nfd);
        if (k < 0)
                return k;
        if ((k = write_at(nfd, "client.crt", old->cert.data, old->cert.len, 0400, u, g)) < 0 ||
            (k = write_at(nfd, "client.key", old->key.data, old->key.len, 0400, u, g)) < 0 || (k = fsync_dir(nfd)) < 0)
                return log_error_errno(k, "Cannot save the current pair to %s/" PKI_PREVIOUS_DIR ".new", r->cfg->pki.dir);
        {
                _cleanup_close_ int pfd = -1;
                k = open_private_dir(r, PKI_PREVIOUS_DIR, false, &pfd);
                if (k < 0)
                        return k;
        }
        if (k > 0) {
                if (renameat2(r->dir_fd, PKI_PREVIOUS_DIR ".new", r->dir_fd, PKI_PREVIOUS_DIR, RENAME_EXCHANGE) < 0)
                        return log_error_errno(errno, "Cannot swap in %s/" PKI_PREVIOUS_DIR, r->cfg->pki.dir);
                /* the name previous.new now holds the pair before the
                 * previous one (nfd follows the directory to "previous") */
                (void) unlinkat(r->dir_fd, PKI_PREVIOUS_DIR ".new/client.crt", 0);
                (void) unlinkat(r->dir_fd, PKI_PREVIOUS_DIR ".new/client.key", 0);
                (void) unlinkat(r->dir_fd, PKI_PREVIOUS_DIR ".new", AT_REMOVEDIR);
        } else if (renameat(r->dir_fd, PKI_PREVIOUS_DIR ".new", r->dir_fd, PKI_PREVIOUS_DIR) < 0)
                return log_error_errno(errno, "Cannot rename %s/" PKI_PREVIOUS_DIR ".new", r->cfg->pki.dir);
        return fsync_dir(r->dir_fd);
}

/* The install proper. The running agent watches the directory: it sees the
 * key renamed first (new key, old certificate: renewal_pending, the old
 * pair stays active), then the certificate (consistent: activated). Every
 * file is complete and has its final owner and mode before it gets its
 * name, so no pass ever reads a partial file or a readable key. */
static int install_pair(Renew *r, int pfd, const char *source, const Pair *new) {
        const PkiSection *c = &r->cfg->pki;
        _cleanup_(pair_done) Pair old = {};
        _cleanup_(install_journal_done) InstallJournal j = {};
        _cleanup_free_ char *text = NULL, *st_cert = staged_name(c->certificate), *st_key = staged_name(c->private_key);
        _cleanup_close_ int cdfd = open_parent(c->certificate), kdfd = open_parent(c->private_key);
        PkiPolicy kp = pki_policy_for(c, ROLE_PRIVATE_KEY), cp = pki_policy_for(c, ROLE_CERTIFICATE);
        int k;

        if (cdfd < 0 || kdfd < 0)
                return log_error_errno(cdfd < 0 ? cdfd : kdfd, "Cannot open the directory of %s",
                                       cdfd < 0 ? c->certificate : c->private_key);
        if (!st_cert || !st_key)
                return -ENOMEM;
        (void) read_path(c->certificate, true, &old.cert);
        (void) read_path(c->private_key, true, &old.key);

        k = save_previous(r, &old);
        if (k < 0)
                return k;
        crash_point("previous");

        k = write_at(kdfd, st_key, new->key.data, new->key.len, kp.mode, kp.uid, kp.gid);
        if (k >= 0)
                k = write_at(cdfd, st_cert, new->cert.data, new->cert.len, cp.mode, cp.uid, cp.gid);
        if (k < 0) {
                remove_staged(c->certificate);
                remove_staged(c->private_key);
                return log_error_errno(k, "Cannot stage the new pair next to %s", c->certificate);
        }
        crash_point("staged");

        j.source = strdup(source);
        j.cert_path = strdup(c->certificate);
        j.key_path = strdup(c->private_key);
        j.new_cert_sha256 = sha256_hex(new->cert.data, new->cert.len);
        j.new_key_sha256 = sha256_hex(new->key.data, new->key.len);
        j.old_cert_sha256 = old.cert.data ? sha256_hex(old.cert.data, old.cert.len) : NULL;
        j.old_key_sha256 = old.key.data ? sha256_hex(old.key.data, old.key.len) : NULL;
        text = install_journal_format(&j);
        if (!text || !j.new_cert_sha256 || !j.new_key_sha256)
                return log_oom();
        k = write_at(pfd, INSTALL_JOURNAL ".tmp", text, strlen(text), 0400, c->owner.uid, c->owner.gid);
        if (k >= 0 && renameat(pfd, INSTALL_JOURNAL ".tmp", pfd, INSTALL_JOURNAL) < 0)
                k = -errno;
        if (k >= 0)
                k = fsync_dir(pfd);
        if (k < 0) {
                remove_staged(c->certificate);
                remove_staged(c->private_key);
                return log_error_errno(k, "Cannot write the install journal");
        }
        crash_point("journal");

        /* committed: from here on, recovery rolls forward */
        if (renameat(kdfd, st_key, kdfd, base_name(c->private_key)) < 0 || fsync_dir(kdfd) < 0)
                return log_error_errno(errno, "Cannot rename the new key over %s; the next run completes it",
                                       c->private_key);
        crash_point("key");
        if (renameat(cdfd, st_cert, cdfd, base_name(c->certificate)) < 0 || fsync_dir(cdfd) < 0)
                return log_error_errno(errno, "Cannot rename the new certificate over %s; the next run completes it",
                                       c->certificate);
        crash_point("cert");
        return install_finish(pfd, &j);
}

static int install_report(Renew *r, const char *action, const PkiAssessment *a, const Pair *old_note) {
        char na[64];
        if (r->json) {
                _cleanup_json_ json_object *o = json_object_new_object();
                json_object *cert = json_object_new_object();
                json_object_object_add(o, "installed", json_object_new_boolean(true));
                json_object_object_add(o, "action", json_object_new_string(action));
                pki_cert_json(cert, &a->info);
                json_object_object_add(cert, "chain", json_object_new_string(chain_status_to_string(a->chain)));
                json_object_object_add(o, "certificate", cert);
                json_object_object_add(o, "findings", pki_findings_json(&a->findings));
                print_json(o);
                return 0;
        }
        printf("%s %s: serial %s, %s, %s, valid until %s, chain %s.\n",
               streq(action, "rollback") ? "Restored" : "Installed", r->cfg->pki.certificate, a->info.serial,
               a->info.subject, a->info.key_type, format_rfc3339(a->info.not_after, na, sizeof(na)),
               chain_status_to_string(a->chain));
        printf("The previous pair is kept in %s/" PKI_PREVIOUS_DIR " ('agv-agent install-cert --rollback' restores it).\n"
               "A running agent activates the new pair by itself; 'agv-agent status' shows it.\n",
               r->cfg->pki.dir);
        if (a->findings.n > 0)
                pki_findings_print(stdout, &a->findings);
        return 0;
}

int verb_install_cert(int argc, char **argv) {
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' }, { "rollback", no_argument, NULL, 'r' },
                { "recover", no_argument, NULL, 'R' },      { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },         {},
        };
        _cleanup_(renew_done) Renew r = { .verb = "install-cert", .dir_fd = -1 };
        _cleanup_(pki_assessment_done) PkiAssessment a = {};
        _cleanup_(pair_done) Pair new = {};
        _cleanup_(secret_done) Secret current = {};
        _cleanup_close_ int pfd = -1;
        bool rollback = false, recover_only = false;
        const char *file = NULL;
        _cleanup_free_ char *key_path = NULL;
        int c, k;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+c:jh", opts, NULL)) >= 0)
                switch (c) {
                case 'c':
                        r.config_opt = optarg;
                        break;
                case 'r':
                        rollback = true;
                        break;
                case 'R':
                        recover_only = true;
                        break;
                case 'j':
                        r.json = true;
                        break;
                case 'h':
                        printf("agv-agent install-cert [--json] [--config PATH] FILE\n"
                               "agv-agent install-cert --rollback | --recover\n\n"
                               "Install the certificate signed for the pending request ('agv-agent request'):\n"
                               "it is checked against the pending key, the CA bundle, the extensions, the\n"
                               "validity and the key strength exactly like the agent checks a pair, and refused\n"
                               "with the findings and their fixes if the agent would not activate it. Then the\n"
                               "pair replaces the active one atomically (journal, fsync) with the [pki] owners\n"
                               "and modes; the previous pair is kept in <dir>/previous/. A running agent picks\n"
                               "it up by itself. Needs root. Exit 0 installed, 1 error, 2 refused.\n"
                               "  --rollback     put the previous pair back (validated the same way)\n"
                               "  --recover      only complete or undo an interrupted install\n"
                               "  --json         print the result as JSON (docs/renewal.md)\n"
                               "  --config PATH  configuration (default " DEFAULT_CONFIG_PATH " if present)\n");
                        return 0;
                default:
                        return usage_error("install-cert", "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        if (optind < argc)
                file = argv[optind++];
        if (optind < argc)
                return usage_error("install-cert", "unexpected argument '%s'", argv[optind]);
        if ((rollback || recover_only) == !!file || (rollback && recover_only))
                return usage_error("install-cert", "give the certificate FILE, or --rollback, or --recover");

        if (renew_open(&r, r.config_opt, false) < 0)
                return 1;
        if (recover_only)
                return 0;

        if (rollback) {
                _cleanup_close_ int prev = -1;
                if (open_private_dir(&r, PKI_PREVIOUS_DIR, false, &prev) <= 0 ||
                    read_at(prev, "client.crt", true, &new.cert) < 0 || read_at(prev, "client.key", true, &new.key) < 0) {
                        fprintf(stderr, "agv-agent install-cert: no previous pair in %s/" PKI_PREVIOUS_DIR
                                " to roll back to\n", r.cfg->pki.dir);
                        return 1;
                }
                if (asprintf(&key_path, "%s/" PKI_PREVIOUS_DIR "/client.key", r.cfg->pki.dir) < 0)
                        return log_oom(), 1;
                _cleanup_free_ char *cp = NULL;
                if (asprintf(&cp, "%s/" PKI_PREVIOUS_DIR "/client.crt", r.cfg->pki.dir) < 0 ||
                    assess_pair(&r, cp, &new.cert, key_path, &new.key, &a) < 0)
                        return log_oom(), 1;
                if (blocking(&a)) {
                        report_refusal(&r, "the previous pair", &a);
                        return EXIT_REFUSED;
                }
                if (open_private_dir(&r, PKI_PENDING_DIR, true, &pfd) < 0)
                        return 1;
                k = install_pair(&r, pfd, "rollback", &new);
                return k < 0 ? 1 : install_report(&r, "rollback", &a, NULL) < 0 ? 1 : 0;
        }

        k = read_path(file, false, &new.cert);
        if (k < 0) {
                fprintf(stderr, "agv-agent install-cert: cannot read %s: %s\n", file, read_error(k));
                return 1;
        }
        if (asprintf(&key_path, "%s/" PKI_PENDING_DIR "/" PENDING_KEY, r.cfg->pki.dir) < 0)
                return log_oom(), 1;
        if (open_private_dir(&r, PKI_PENDING_DIR, false, &pfd) < 0)
                return 1;
        k = pfd < 0 ? -ENOENT : read_at(pfd, PENDING_KEY, true, &new.key);
        if (k < 0) {
                fprintf(stderr, "agv-agent install-cert: no pending request (%s: %s). The certificate must be for a "
                        "key made here: run 'agv-agent request', have its CSR signed, then install that certificate\n",
                        key_path, read_error(k));
                return 1;
        }
        if (assess_pair(&r, file, &new.cert, key_path, &new.key, &a) < 0)
                return log_oom(), 1;
        if (blocking(&a)) {
                report_refusal(&r, file, &a);
                return EXIT_REFUSED;
        }
        if (read_path(r.cfg->pki.certificate, true, &current) == 0 && current.len == new.cert.len &&
            memcmp(current.data, new.cert.data, current.len) == 0) {
                fprintf(stderr, "agv-agent install-cert: %s is already installed\n", file);
                return 1;
        }
        k = install_pair(&r, pfd, "request", &new);
        return k < 0 ? 1 : install_report(&r, "install", &a, NULL) < 0 ? 1 : 0;
}
