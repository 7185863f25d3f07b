/* SPDX-License-Identifier: MIT */
#include "pki_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/xattr.h>

#include "log.h"
#include "message-ids.h"
#include "strv.h"

const char *pki_role_to_string(PkiRole r) {
        static const char *const t[_ROLE_MAX] = {
                [ROLE_CERTIFICATE] = "certificate",
                [ROLE_PRIVATE_KEY] = "private_key",
                [ROLE_CA_BUNDLE] = "ca_bundle",
                [ROLE_DIRECTORY] = "directory",
                [ROLE_INTERMEDIATES] = "intermediates",
        };
        return r < _ROLE_MAX ? t[r] : "unknown";
}

const char *perm_state_to_string(PermState s) {
        switch (s) {
        case PERM_OK:
                return "ok";
        case PERM_REPAIRED:
                return "repaired";
        case PERM_DRIFT:
                return "drift";
        case PERM_UNSAFE:
                return "unsafe";
        default:
                return "missing";
        }
}

void pki_file_done(PkiFile *pf) {
        free(pf->path);
        free(pf->acl);
        if (pf->data)
                explicit_bzero(pf->data, pf->len);
        free(pf->data);
        *pf = (PkiFile) {};
}

bool pki_file_view_changed(const PkiFile *a, const PkiFile *b) {
        return a->perm != b->perm || a->found != b->found || a->mode != b->mode || a->uid != b->uid ||
               a->gid != b->gid || a->want.mode != b->want.mode || !streq(strempty(a->acl), strempty(b->acl)) || a->want.uid != b->want.uid ||
               a->want.gid != b->want.gid || !streq(strempty(a->path), strempty(b->path));
}

/* <linux/posix_acl_xattr.h> and <linux/posix_acl.h>, a stable kernel ABI */
#define ACL_XATTR_VERSION 2
#define ACL_TAG_USER_OBJ 0x01
#define ACL_TAG_USER 0x02
#define ACL_TAG_GROUP_OBJ 0x04
#define ACL_TAG_GROUP 0x08
#define ACL_TAG_MASK 0x10
#define ACL_TAG_OTHER 0x20
#define ACL_UNDEFINED_ID UINT32_MAX

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static void acl_append(PkiAcl *a, const char *tag, uint32_t id, bool has_id, unsigned perm) {
        size_t n = strlen(a->desc);
        char ids[16] = "";
        if (has_id)
                snprintf(ids, sizeof(ids), "%u", id);
        snprintf(a->desc + n, sizeof(a->desc) - n, "%s%s:%s:%c%c%c", n ? ", " : "", tag, ids, perm & 4 ? 'r' : '-',
                 perm & 2 ? 'w' : '-', perm & 1 ? 'x' : '-');
}

int pki_acl_parse(const void *data, size_t len, PkiAcl *ret) {
        const uint8_t *p = data;
        unsigned named = 0, mask = 7;
        bool have_mask = false;
        PkiAcl a = {};

        if (len < 4 || (len - 4) % 8 != 0 || le32(p) != ACL_XATTR_VERSION)
                return -EBADMSG;
        for (size_t off = 4; off < len; off += 8) {
                uint16_t tag = le16(p + off), perm = le16(p + off + 2);
                uint32_t id = le32(p + off + 4);
                switch (tag) {
                case ACL_TAG_USER_OBJ:
                case ACL_TAG_GROUP_OBJ:
                case ACL_TAG_OTHER:
                        break;
                case ACL_TAG_USER:
                case ACL_TAG_GROUP:
                        a.extended = true;
                        named |= perm & 7;
                        acl_append(&a, tag == ACL_TAG_USER ? "user" : "group", id, true, perm);
                        break;
                case ACL_TAG_MASK:
                        a.extended = have_mask = true;
                        mask = perm & 7;
                        acl_append(&a, "mask", 0, false, perm);
                        break;
                default:
                        return -EBADMSG;
                }
        }
        /* named entries get what the mask lets through */
        a.others = named & (have_mask ? mask : 7);
        *ret = a;
        return 0;
}

static const char *file_type(mode_t m) {
        if (S_ISDIR(m))
                return "a directory";
        if (S_ISFIFO(m))
                return "a FIFO";
        if (S_ISSOCK(m))
                return "a socket";
        if (S_ISCHR(m) || S_ISBLK(m))
                return "a device node";
        if (S_ISLNK(m))
                return "a symlink";
        return "not a regular file";
}

int pki_fd_repair(int fd, const char *path, const struct stat *st, const PkiPolicy *want) {
        _cleanup_strv_free_ char **fields = NULL;
        mode_t old = st->st_mode & 07777;

        if ((st->st_uid != want->uid || st->st_gid != want->gid) && fchown(fd, want->uid, want->gid) < 0)
                return log_warning_errno(errno, "Cannot change owner of %s to %u:%u",
                                         path, (unsigned) want->uid, (unsigned) want->gid);
        /* fchown may clear set-id bits, so always set the mode afterwards */
        if (fchmod(fd, want->mode) < 0)
                return log_warning_errno(errno, "Cannot change mode of %s to %04o", path, (unsigned) want->mode);
        (void) strv_extendf(&fields, "AGV_PATH=%s", path);
        (void) strv_extendf(&fields, "AGV_OLD_MODE=%04o", (unsigned) old);
        (void) strv_extendf(&fields, "AGV_NEW_MODE=%04o", (unsigned) want->mode);
        (void) strv_extendf(&fields, "AGV_OLD_OWNER=%u:%u", (unsigned) st->st_uid, (unsigned) st->st_gid);
        (void) strv_extendf(&fields, "AGV_NEW_OWNER=%u:%u", (unsigned) want->uid, (unsigned) want->gid);
        log_struct(LOG_NOTICE, MSGID_PERMISSION_REPAIRED, fields,
                   "Repaired permissions of %s: %04o %u:%u -> %04o %u:%u", path, (unsigned) old,
                   (unsigned) st->st_uid, (unsigned) st->st_gid, (unsigned) want->mode,
                   (unsigned) want->uid, (unsigned) want->gid);
        return 1;
}

/* How bad leaving this drift is: readable key or writable files are critical. */
static Health drift_severity(PkiRole role, mode_t m) {
        if (m & 0002)
                return HEALTH_CRITICAL;
        if (role == ROLE_PRIVATE_KEY && (m & 0027))
                return HEALTH_CRITICAL;
        if (role == ROLE_DIRECTORY && (m & 0020))
                return HEALTH_CRITICAL;
        if (role != ROLE_DIRECTORY && (m & 0020))
                return HEALTH_CRITICAL;
        return HEALTH_WARNING;
}

static FindingKind kind_for(PkiRole role) {
        return role == ROLE_CA_BUNDLE || role == ROLE_DIRECTORY ? FINDING_OTHER : FINDING_PAIR;
}

static int read_fd(int fd, size_t size, char **ret, size_t *ret_len) {
        _cleanup_free_ char *b = malloc(size + 1);
        size_t got = 0;

        if (!b)
                return -ENOMEM;
        /* size+1 to notice a file that grew since fstat */
        while (got <= size) {
                ssize_t n = read(fd, b + got, size + 1 - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        explicit_bzero(b, got);
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        if (got > size) {
                explicit_bzero(b, got);
                return -EFBIG;
        }
        b[got] = 0;
        *ret = TAKE_PTR(b);
        *ret_len = got;
        return 0;
}

static const char *base_name(const char *path) {
        const char *s = strrchr(path, '/');
        return s ? s + 1 : path;
}

static char *parent_of(const char *path) {
        const char *s = strrchr(path, '/');
        if (!s)
                return strdup(".");
        return strndup(path, s == path ? 1 : (size_t) (s - path));
}

/* The xattrs that grant access beyond the mode bits. POSIX ACLs are judged
 * entry by entry; an NFSv4 or SMB ACL cannot be judged here at all. */
static const char *const acl_xattrs[] = {
        "system.posix_acl_access", "system.posix_acl_default", "system.nfs4_acl", "system.cifs_acl",
        "system.cifs_ntsd",
};

static void strappend(char *buf, size_t size, const char *s) {
        size_t n = strlen(buf);
        while (*s && n + 1 < size)
                buf[n++] = *s++;
        buf[n] = 0;
}

static Health acl_severity(PkiRole role, bool is_default, bool foreign, unsigned others) {
        if (foreign)
                return role == ROLE_PRIVATE_KEY || role == ROLE_DIRECTORY ? HEALTH_CRITICAL : HEALTH_WARNING;
        if (others & 2)
                return HEALTH_CRITICAL;
        /* read on the key, or a default ACL that lets others read the next key */
        if ((role == ROLE_PRIVATE_KEY || is_default) && (others & 4))
                return HEALTH_CRITICAL;
        return HEALTH_WARNING;
}

/* Find (and under enforce remove) access-granting ACLs on fd. Returns the
 * worst severity left unrepaired (HEALTH_OK when none), fills ret->acl. */
static Health check_acls(int fd, const char *path, const char *fn, const PkiPolicy *want, bool enforce,
                         PkiFile *ret, Findings *f) {
        char names[4096], desc[512] = "";
        ssize_t n = flistxattr(fd, names, sizeof(names));
        Health worst = HEALTH_OK;
        bool found = false, removed = false;
        int err = 0;

        if (n <= 0) /* none, or no xattr support (ENOTSUP): nothing grants more than the mode */
                return HEALTH_OK;
        for (const char *name = names; name < names + n; name += strlen(name) + 1) {
                bool is_default = false, foreign = false;
                uint8_t buf[8192];
                PkiAcl acl = {};
                ssize_t l;
                size_t dl = strlen(desc), i;

                for (i = 0; i < ELEMENTSOF(acl_xattrs) && !streq(name, acl_xattrs[i]); i++)
                        ;
                if (i == ELEMENTSOF(acl_xattrs))
                        continue;
                is_default = i == 1;
                foreign = i >= 2;
                if (!foreign) {
                        l = fgetxattr(fd, name, buf, sizeof(buf));
                        if (l < 0 && errno == ENODATA)
                                continue;
                        if (l < 0 || pki_acl_parse(buf, (size_t) l, &acl) < 0)
                                foreign = true; /* unreadable: cannot vouch for it */
                        else if (!acl.extended && !is_default)
                                continue; /* the mode bits say it all */
                }
                found = true;
                /* truncation of an absurdly long list is fine */
                strappend(desc, sizeof(desc), dl ? "; " : "");
                strappend(desc, sizeof(desc), foreign ? name : is_default ? "default: " : "");
                strappend(desc, sizeof(desc), foreign ? "" : acl.desc);
                if (!foreign && is_default && !acl.extended)
                        strappend(desc, sizeof(desc), "(no named entries)");
                if (enforce) {
                        if (fremovexattr(fd, name) == 0 || errno == ENODATA) {
                                removed = true;
                                continue;
                        }
                        err = -errno;
                }
                worst = MAX(worst, acl_severity(ret->role, is_default, foreign, acl.others));
        }
        if (!found)
                return HEALTH_OK;
        free(ret->acl);
        ret->acl = strdup(desc);
        if (removed) {
                _cleanup_strv_free_ char **fields = NULL;
                /* without the ACL the group bits are the old mask: set the mode again */
                if (fchmod(fd, want->mode) < 0)
                        log_warning_errno(errno, "Cannot change mode of %s to %04o", path, (unsigned) want->mode);
                ret->acl_removed = true;
                (void) strv_extendf(&fields, "AGV_PATH=%s", path);
                (void) strv_extendf(&fields, "AGV_REMOVED_ACL=%s", desc);
                log_struct(LOG_NOTICE, MSGID_PERMISSION_REPAIRED, fields, "Removed the ACL of %s (%s)", path, desc);
        }
        if (worst == HEALTH_OK)
                return HEALTH_OK;
        findings_add(f, enforce ? MAX(HEALTH_WARNING, worst) : worst, FINDING_OTHER,
                     ret->role == ROLE_DIRECTORY ? "dir_acl" : "acl", path,
                     enforce ? "The agent could not remove it: check the file system (setfacl -b, setfacl -k for a directory's default ACL)"
                     : ret->role == ROLE_DIRECTORY ? "Remove it: setfacl -b -k <dir> (or set [pki] permissions = enforce)"
                                                   : "Remove it: setfacl -b <file> (or set [pki] permissions = enforce)",
                     "%s has an ACL that grants more than its mode %04o: %s%s%s", fn, (unsigned) ret->mode, desc,
                     err ? "; removal failed: " : "", err ? strerror(-err) : "");
        return worst;
}

int pki_file_load(PkiRole role, const char *path, const PkiPolicy *want, bool enforce, PkiFile *ret,
                  Findings *f) {
        _cleanup_close_ int fd = -1, dfd = -1;
        struct stat st;
        bool is_dir = role == ROLE_DIRECTORY;
        const char *fn = is_dir ? path : base_name(path);
        FindingKind kind = kind_for(role);
        Health acl;
        int r;

        *ret = (PkiFile) { .role = role, .want = *want, .perm = PERM_MISSING };
        ret->path = strdup(path);
        if (!ret->path)
                return -ENOMEM;

        /* a file is opened relative to its directory, itself opened
         * O_NOFOLLOW: a directory that is (or becomes) a symlink is never
         * followed to somebody else's files */
        if (!is_dir) {
                _cleanup_free_ char *parent = parent_of(path);
                if (!parent)
                        return -ENOMEM;
                dfd = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0 && errno != ENOENT) {
                        struct stat pst;
                        r = -errno;
                        /* O_DIRECTORY|O_NOFOLLOW says ENOTDIR for a symlink */
                        if ((r == -ENOTDIR || r == -ELOOP) && lstat(parent, &pst) == 0 && S_ISLNK(pst.st_mode))
                                r = -ELOOP;
                        ret->found = true;
                        ret->perm = PERM_UNSAFE;
                        findings_add(f, HEALTH_CRITICAL, kind, "file_unreadable", path,
                                     r == -ELOOP || r == -ENOTDIR
                                             ? "Make the directory a real directory (not a symlink), or set [pki] dir to its real path"
                                             : "Check that the agent (root) can open the directory",
                                     "%s is not read: its directory %s %s", fn, parent,
                                     r == -ELOOP ? "is a symlink (never followed)"
                                     : r == -ENOTDIR ? "is not a directory" : strerror(-r));
                        return 0;
                }
                fd = dfd < 0 ? -1 : openat(dfd, fn, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0)
                        errno = ENOENT;
        } else
                fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT) {
                        if (role == ROLE_CA_BUNDLE)
                                return 0; /* optional: chain stays unverified */
                        if (role == ROLE_INTERMEDIATES) {
                                /* configured, so the exchange needs it */
                                findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "intermediates_missing", path,
                                             "Install the intermediate CA certificates (PEM) there, or remove intermediates= from [credentials]",
                                             "%s ([credentials] intermediates) does not exist", fn);
                                return 0;
                        }
                        findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT,
                                     is_dir ? "dir_missing" : "file_missing", path,
                                     is_dir ? "Create it (install -d -m 755 <dir>) and install the pair"
                                            : "Install the file (see the deployment guide, step 6)",
                                     "%s does not exist", fn);
                        return 0;
                }
                ret->found = true;
                ret->perm = PERM_UNSAFE;
                if (r == -ELOOP || r == -ENOTDIR) {
                        struct stat lst;
                        char target[256] = "";
                        int at = is_dir ? AT_FDCWD : dfd;
                        const char *name = is_dir ? path : fn;
                        if (fstatat(at, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode)) {
                                ssize_t n = readlinkat(at, name, target, sizeof(target) - 1);
                                target[n > 0 ? n : 0] = 0;
                                findings_add(f, HEALTH_CRITICAL, kind, is_dir ? "dir_symlink" : "file_symlink", path,
                                             "Replace the symlink with the real file (never a link): it is not followed or changed",
                                             "%s is a symlink to %s", fn, target[0] ? target : "?");
                                return 0;
                        }
                        if (is_dir && fstatat(AT_FDCWD, path, &lst, AT_SYMLINK_NOFOLLOW) == 0) {
                                findings_add(f, HEALTH_CRITICAL, kind, "dir_not_directory", path,
                                             "Remove it and create the directory (install -d -m 755 <dir>)",
                                             "%s is %s, not a directory", fn, file_type(lst.st_mode));
                                return 0;
                        }
                }
                findings_add(f, HEALTH_CRITICAL, kind, "file_unreadable", path,
                             "Check that the agent (root) can open it", "%s cannot be opened: %s", fn, strerror(-r));
                return 0;
        }
        if (fstat(fd, &st) < 0)
                return log_warning_errno(errno, "fstat(%s) failed", path), 0;
        ret->found = true;
        ret->mode = st.st_mode & 07777;
        ret->uid = st.st_uid;
        ret->gid = st.st_gid;
        ret->dev = st.st_dev;
        ret->ino = st.st_ino;

        if (!is_dir && !S_ISREG(st.st_mode)) {
                ret->perm = PERM_UNSAFE;
                findings_add(f, HEALTH_CRITICAL, kind, "file_not_regular", path,
                             "Remove it and install a regular file in its place",
                             "%s is %s, not a regular file; it is not read or changed", fn, file_type(st.st_mode));
                return 0;
        }
        if (!is_dir && st.st_nlink > 1) {
                ret->perm = PERM_UNSAFE;
                findings_add(f, HEALTH_CRITICAL, kind, "file_hardlink", path,
                             "Replace it with a file of its own (install copies): a hard link lets another name change it",
                             "%s has %lu hard links; it is not read or changed", fn, (unsigned long) st.st_nlink);
                return 0;
        }
        if (!is_dir && (size_t) st.st_size > PKI_FILE_MAX) {
                ret->perm = PERM_UNSAFE;
                findings_add(f, HEALTH_CRITICAL, kind, "file_too_large", path,
                             "Install the real file: certificates and keys are a few kilobytes",
                             "%s is %lld bytes, more than the 1 MiB limit; it is not read", fn, (long long) st.st_size);
                return 0;
        }
        if (!is_dir) {
                r = read_fd(fd, (size_t) st.st_size, &ret->data, &ret->len);
                if (r == -ENOMEM)
                        return r;
                if (r == -EFBIG) {
                        /* grew while we read: a writer is at work; the next event re-reads */
                        findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "file_changing", path,
                                     "Wait for the copy to finish", "%s changed while being read", fn);
                        return 0;
                }
                if (r < 0) {
                        findings_add(f, HEALTH_CRITICAL, kind, "file_unreadable", path,
                                     "Check that the agent (root) can read it", "%s cannot be read: %s", fn, strerror(-r));
                        return 0;
                }
        }

        /* permissions, judged on the fd we read through (fresh: they may flip) */
        if (fstat(fd, &st) < 0)
                return 0;
        ret->mode = st.st_mode & 07777;
        ret->uid = st.st_uid;
        ret->gid = st.st_gid;
        /* an ACL grants past the mode bits (and fchmod keeps its entries) */
        acl = check_acls(fd, path, fn, want, enforce, ret, f);
        if (ret->acl_removed && fstat(fd, &st) < 0)
                return 0;
        if ((st.st_mode & 07777) == want->mode && st.st_uid == want->uid && st.st_gid == want->gid) {
                ret->perm = acl != HEALTH_OK ? PERM_DRIFT : ret->acl_removed ? PERM_REPAIRED : PERM_OK;
                return 0;
        }
        if (enforce) {
                r = pki_fd_repair(fd, path, &st, want);
                if (r > 0) {
                        ret->perm = PERM_REPAIRED;
                        return 0;
                }
                ret->repair_error = r;
        }
        ret->perm = PERM_DRIFT;
        findings_add(f, enforce ? MAX(HEALTH_WARNING, drift_severity(role, ret->mode)) : drift_severity(role, ret->mode),
                     FINDING_OTHER, is_dir ? "dir_permissions" : "permissions", path,
                     enforce ? "The agent could not repair this: run it as root, or set [pki] owner to the user that owns these files"
                     : role == ROLE_PRIVATE_KEY ? "chmod 440 and chown root:<group> the key (or set [pki] permissions = enforce)"
                                                : "Restore the mode and owner (or set [pki] permissions = enforce)",
                     "%s is %04o %u:%u, expected %04o %u:%u%s%s", fn, (unsigned) ret->mode, (unsigned) st.st_uid,
                     (unsigned) st.st_gid, (unsigned) want->mode, (unsigned) want->uid, (unsigned) want->gid,
                     ret->repair_error ? "; repair failed: " : "",
                     ret->repair_error ? strerror(-ret->repair_error) : "");
        return 0;
}

static bool is_own(const char *dir, const char *name, const char *const *own) {
        size_t n = strlen(dir);
        for (; own && *own; own++)
                if (strneq(*own, dir, n) && (*own)[n] == '/' && streq(*own + n + 1, name))
                        return true;
        return false;
}

/* The CA-key scan's memory: per inode, whether its content is a CA key,
 * valid while size, mtime and ctime stay and the CA set is the same. Only
 * the verdict is kept, never key material. A directory of thousands of
 * key-like files is then decoded once, not on every pass. */
typedef struct ScanVerdict {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtim, ctim;
        bool ca_key;
} ScanVerdict;

typedef struct ScanCache {
        ScanVerdict *v;
        size_t n, cap;
        unsigned char ca_md[32];
} ScanCache;

static ScanCache scan_cache;

/* A scan cut short resumes where it stopped (readdir order) instead of
 * re-walking what it judged: the CA keys found earlier in the round are
 * carried by name. A change of the directory (its mtime) starts a new round. */
static struct {
        unsigned resume;          /* entries of the round already judged */
        struct timespec dir_mtim;
        char **found;             /* names of CA keys found earlier in the round */
        char *dir;
} scan_round;

static void scan_round_reset(void) {
        scan_round.resume = 0;
        strv_free(scan_round.found);
        scan_round.found = NULL;
}

static int verdict_cmp(const void *a, const void *b) {
        const ScanVerdict *x = a, *y = b;
        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        if (x->ino != y->ino)
                return x->ino < y->ino ? -1 : 1;
        return 0;
}

static const ScanVerdict *verdict_find(const ScanCache *c, const struct stat *st) {
        ScanVerdict key = { .dev = st->st_dev, .ino = st->st_ino };
        const ScanVerdict *v = c->n ? bsearch(&key, c->v, c->n, sizeof(ScanVerdict), verdict_cmp) : NULL;
        if (!v || v->size != st->st_size || v->mtim.tv_sec != st->st_mtim.tv_sec ||
            v->mtim.tv_nsec != st->st_mtim.tv_nsec || v->ctim.tv_sec != st->st_ctim.tv_sec ||
            v->ctim.tv_nsec != st->st_ctim.tv_nsec)
                return NULL;
        return v;
}

static int verdict_push(ScanCache *c, const ScanVerdict *v) {
        if (c->n == c->cap) {
                size_t cap = MAX(c->cap * 2, (size_t) 64);
                ScanVerdict *n = reallocarray(c->v, cap, sizeof(ScanVerdict));
                if (!n)
                        return -ENOMEM;
                c->v = n;
                c->cap = cap;
        }
        c->v[c->n++] = *v;
        return 0;
}

static int verdict_add(ScanCache *c, const struct stat *st, bool ca_key) {
        return verdict_push(c, &(ScanVerdict) { .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
                                                .mtim = st->st_mtim, .ctim = st->st_ctim, .ca_key = ca_key });
}

static bool ca_set_hash(STACK_OF(X509) *ca, unsigned char out[32]) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned mdlen = 0;
        bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
        for (int i = 0; ok && i < sk_X509_num(ca); i++) {
                unsigned char md[EVP_MAX_MD_SIZE];
                unsigned l = 0;
                ok = X509_digest(sk_X509_value(ca, i), EVP_sha256(), md, &l) == 1 &&
                     EVP_DigestUpdate(ctx, md, l) == 1;
        }
        ok = ok && EVP_DigestFinal_ex(ctx, out, &mdlen) == 1 && mdlen == 32;
        EVP_MD_CTX_free(ctx);
        return ok;
}

void pki_scan_cache_flush(void) {
        free(scan_cache.v);
        scan_cache = (ScanCache) {};
        scan_round_reset();
        free(scan_round.dir);
        scan_round.dir = NULL;
}

size_t pki_scan_cache_size(void) {
        return scan_cache.n;
}

static usec_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

int pki_scan_ca_keys(const char *dir, STACK_OF(X509) *ca, const char *const *own, Findings *f) {
        return pki_scan_ca_keys_bounded(dir, ca, own, 0, f, NULL);
}

int pki_scan_ca_keys_bounded(const char *dir, STACK_OF(X509) *ca, const char *const *own, usec_t budget,
                             Findings *f, bool *ret_incomplete) {
        _cleanup_close_ int dfd = -1;
        _cleanup_strv_free_ char **found = NULL;
        ScanCache next = {};
        unsigned char ca_md[32];
        usec_t start = mono_usec();
        unsigned decoded = 0, index = 0, skip;
        bool use_cache, incomplete = false;
        struct stat dst;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (ret_incomplete)
                *ret_incomplete = false;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return 0;
        d = fdopendir(dfd);
        if (!d)
                return -errno;
        TAKE_FD(dfd);
        /* verdicts hold for one CA set only */
        use_cache = ca && ca_set_hash(ca, ca_md);
        if (use_cache && memcmp(ca_md, scan_cache.ca_md, 32) != 0) {
                pki_scan_cache_flush();
                memcpy(scan_cache.ca_md, ca_md, 32);
        }
        /* resume a round only in the same, unchanged directory, and only
         * when bounded (an unbounded scan always walks everything) */
        if (budget == 0 || fstat(dirfd(d), &dst) < 0 || !scan_round.dir || !streq(scan_round.dir, dir) ||
            dst.st_mtim.tv_sec != scan_round.dir_mtim.tv_sec || dst.st_mtim.tv_nsec != scan_round.dir_mtim.tv_nsec)
                scan_round_reset();
        skip = scan_round.resume;
        STRV_FOREACH(n, scan_round.found)
                if (strv_extend(&found, *n) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
        while ((de = readdir(d))) {
                _cleanup_close_ int fd = -1;
                _cleanup_free_ char *data = NULL, *p = NULL;
                const ScanVerdict *v;
                struct stat st;
                size_t len = 0;
                bool named, match;

                if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
                        continue;
                if (index++ < skip)
                        continue; /* judged earlier in this round */
                /* bounded: a directory of 30,000 files must not hold the loop
                 * (or the watchdog); the rest is looked at by the next pass */
                if (budget > 0 && index > skip + 1 && mono_usec() - start > budget) { /* >= 1 judged: progress */
                        incomplete = true;
                        index--;
                        break;
                }
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                named = pki_name_looks_like_ca_key(de->d_name) && !is_own(dir, de->d_name, own);
                if (!named) {
                        if (!ca || (size_t) st.st_size > PKI_FILE_MAX)
                                continue;
                        if (use_cache && (v = verdict_find(&scan_cache, &st))) {
                                match = v->ca_key;
                                if (verdict_add(&next, &st, match) < 0) {
                                        r = -ENOMEM;
                                        break;
                                }
                        } else {
                                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
                                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
                                    read_fd(fd, (size_t) st.st_size, &data, &len) < 0)
                                        continue;
                                decoded++;
                                match = pki_blob_is_ca_key(data, len, ca);
                                if (match)
                                        pki_parse_cache_forget(data, len); /* one of ours, parsed this pass */
                                explicit_bzero(data, len);
                                if (use_cache && verdict_add(&next, &st, match) < 0) {
                                        r = -ENOMEM;
                                        break;
                                }
                        }
                        if (!match)
                                continue;
                }
                if (asprintf(&p, "%s%s/%s", named ? "N" : "C", dir, de->d_name) < 0 || strv_extend(&found, p) < 0) {
                        r = -ENOMEM;
                        break;
                }
        }
        closedir(d);
        /* one finding per CA key of the round, this slice's and earlier ones */
        STRV_FOREACH(n, found) {
                const char *path = *n + 1, *name = strrchr(path, '/') + 1;
                findings_add(f, HEALTH_CRITICAL, FINDING_OTHER, "ca_key_present", path,
                             "Move the CA key off this VM (1Password or offline storage, deployment guide step 3) and delete it here",
                             **n == 'N' ? "%s looks like a CA private key; the CA key must never be on the VM"
                                        : "%s is the private key of the CA certificate; the CA key must never be on the VM",
                             name);
        }
        if (budget > 0) {
                if (incomplete) {
                        char *dcopy = strdup(dir);
                        if (!dcopy) {
                                free(next.v);
                                return -ENOMEM;
                        }
                        free(scan_round.dir);
                        scan_round.dir = dcopy;
                        scan_round.resume = index;
                        scan_round.dir_mtim = dst.st_mtim;
                        strv_free(scan_round.found);
                        scan_round.found = TAKE_PTR(found);
                } else
                        scan_round_reset();
        }
        if (r < 0) {
                free(next.v);
                return r;
        }
        if (use_cache) {
                /* entries not seen by a scan of the whole directory are gone;
                 * a slice keeps the verdicts it did not reach */
                size_t reached;
                if (next.n)
                        qsort(next.v, next.n, sizeof(ScanVerdict), verdict_cmp);
                reached = next.n;
                for (size_t i = 0; (incomplete || skip > 0) && i < scan_cache.n; i++)
                        if ((!reached || !bsearch(&scan_cache.v[i], next.v, reached, sizeof(ScanVerdict), verdict_cmp)) &&
                            verdict_push(&next, &scan_cache.v[i]) < 0) {
                                free(next.v);
                                return -ENOMEM;
                        }
                if (next.n > reached)
                        qsort(next.v, next.n, sizeof(ScanVerdict), verdict_cmp);
                free(scan_cache.v);
                scan_cache.v = next.v;
                scan_cache.n = next.n;
                scan_cache.cap = next.cap;
        }
        if (incomplete) {
                findings_add(f, HEALTH_WARNING, FINDING_OTHER, "ca_key_scan_incomplete", dir,
                             "Remove the files that do not belong in the PKI directory; the scan continues meanwhile",
                             "The CA-key scan of %s has judged %u entries so far (%u read in this pass) and goes on in the next pass, to keep the agent responsive",
                             dir, index, decoded);
                if (ret_incomplete)
                        *ret_incomplete = true;
        }
        return 0;
}
