/* SPDX-License-Identifier: MIT */
/* Safe reads and the permission policy, on a real temp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cmocka.h>

#include "pki_files.h"
#include "pki_testlib.h"

static char dir[256];

static int setup_dir(void **state) {
        const char *base = getenv("AGV_TEST_TMPDIR");
        snprintf(dir, sizeof(dir), "%s/pki-files-XXXXXX", base ? base : "/tmp");
        assert_non_null(mkdtemp(dir));
        return 0;
}

static int teardown_dir(void **state) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static char *path_of(const char *name) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static void write_file(const char *p, const char *data, mode_t mode) {
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, strlen(data)), (ssize_t) strlen(data));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static PkiPolicy mine(mode_t mode) {
        return (PkiPolicy) { .mode = mode, .uid = getuid(), .gid = getgid() };
}

static void load(const char *name, PkiRole role, mode_t want, bool enforce, PkiFile *pf, Findings *f) {
        _cleanup_free_ char *p = path_of(name);
        PkiPolicy pol = mine(want);
        *f = (Findings) {};
        assert_int_equal(pki_file_load(role, p, &pol, enforce, pf, f), 0);
}

static void test_regular_ok(void **state) {
        _cleanup_free_ char *p = path_of("ok.crt");
        PkiFile pf;
        Findings f;
        write_file(p, "hello", 0444);
        load("ok.crt", ROLE_CERTIFICATE, 0444, true, &pf, &f);
        assert_int_equal(f.n, 0);
        assert_int_equal(pf.perm, PERM_OK);
        assert_int_equal(pf.len, 5);
        assert_memory_equal(pf.data, "hello", 5);
        pki_file_done(&pf);
        findings_done(&f);
}

static void test_missing(void **state) {
        PkiFile pf;
        Findings f;
        load("nope.key", ROLE_PRIVATE_KEY, 0440, true, &pf, &f);
        assert_true(findings_has(&f, "file_missing"));
        assert_int_equal(f.items[0].kind, FINDING_TRANSIENT);
        assert_int_equal(pf.perm, PERM_MISSING);
        pki_file_done(&pf);
        findings_done(&f);
        /* an absent CA bundle is allowed: the chain stays unverified */
        load("nope.pem", ROLE_CA_BUNDLE, 0444, true, &pf, &f);
        assert_int_equal(f.n, 0);
        pki_file_done(&pf);
        findings_done(&f);
}

static void test_symlink_never_followed(void **state) {
        _cleanup_free_ char *p = path_of("link.key");
        PkiFile pf;
        Findings f;
        struct stat st;
        assert_int_equal(stat("/etc/shadow", &st) == 0 || stat("/etc/passwd", &st) == 0, 1);
        assert_int_equal(symlink("/etc/shadow", p), 0);
        load("link.key", ROLE_PRIVATE_KEY, 0600, true, &pf, &f);
        assert_true(findings_has(&f, "file_symlink"));
        assert_non_null(strstr(f.items[0].message, "/etc/shadow"));
        assert_int_equal(f.items[0].severity, HEALTH_CRITICAL);
        assert_int_equal(pf.perm, PERM_UNSAFE);
        assert_null(pf.data);
        /* the target was not touched by the "repair" */
        if (stat("/etc/shadow", &st) == 0)
                assert_int_not_equal(st.st_mode & 07777, 0600);
        pki_file_done(&pf);
        findings_done(&f);
        unlink(p);
}

static void test_fifo_does_not_block(void **state) {
        _cleanup_free_ char *p = path_of("fifo.key");
        PkiFile pf;
        Findings f;
        assert_int_equal(mkfifo(p, 0644), 0);
        load("fifo.key", ROLE_PRIVATE_KEY, 0440, true, &pf, &f);
        assert_true(findings_has(&f, "file_not_regular"));
        assert_non_null(strstr(f.items[0].message, "FIFO"));
        assert_int_equal(pf.perm, PERM_UNSAFE);
        pki_file_done(&pf);
        findings_done(&f);
        struct stat st;
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644); /* never touched */
        unlink(p);
}

static void test_directory_in_place_of_file(void **state) {
        _cleanup_free_ char *p = path_of("dir.key");
        PkiFile pf;
        Findings f;
        assert_int_equal(mkdir(p, 0700), 0);
        load("dir.key", ROLE_PRIVATE_KEY, 0440, true, &pf, &f);
        assert_true(findings_has(&f, "file_not_regular"));
        assert_non_null(strstr(f.items[0].message, "directory"));
        pki_file_done(&pf);
        findings_done(&f);
        rmdir(p);
}

static void test_hardlink(void **state) {
        _cleanup_free_ char *p = path_of("a.key"), *q = path_of("b.key");
        PkiFile pf;
        Findings f;
        struct stat st;
        write_file(p, "secret", 0644);
        assert_int_equal(link(p, q), 0);
        load("a.key", ROLE_PRIVATE_KEY, 0440, true, &pf, &f);
        assert_true(findings_has(&f, "file_hardlink"));
        assert_null(pf.data);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644); /* not repaired through a shared inode */
        pki_file_done(&pf);
        findings_done(&f);
        unlink(p);
        unlink(q);
}

static void test_too_large(void **state) {
        _cleanup_free_ char *p = path_of("big.crt");
        PkiFile pf;
        Findings f;
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 100 * 1024 * 1024), 0); /* sparse 100 MiB */
        close(fd);
        load("big.crt", ROLE_CERTIFICATE, 0444, true, &pf, &f);
        assert_true(findings_has(&f, "file_too_large"));
        assert_null(pf.data);
        pki_file_done(&pf);
        findings_done(&f);
        unlink(p);
}

static void test_drift_enforce(void **state) {
        _cleanup_free_ char *p = path_of("drift.key");
        PkiFile pf;
        Findings f;
        struct stat st;
        write_file(p, "k", 0644);
        load("drift.key", ROLE_PRIVATE_KEY, 0440, true, &pf, &f);
        assert_int_equal(f.n, 0);
        assert_int_equal(pf.perm, PERM_REPAIRED);
        assert_int_equal(pf.mode, 0644); /* as found */
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0440);
        pki_file_done(&pf);
        findings_done(&f);
        unlink(p);
}

static void test_drift_audit(void **state) {
        _cleanup_free_ char *p = path_of("audit.key"), *c = path_of("audit.crt");
        PkiFile pf;
        Findings f;
        struct stat st;
        write_file(p, "k", 0644);
        load("audit.key", ROLE_PRIVATE_KEY, 0440, false, &pf, &f);
        assert_true(findings_has(&f, "permissions"));
        /* a world-readable key is critical, and the pair still usable */
        assert_int_equal(f.items[0].severity, HEALTH_CRITICAL);
        assert_int_equal(f.items[0].kind, FINDING_OTHER);
        assert_int_equal(pf.perm, PERM_DRIFT);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        pki_file_done(&pf);
        findings_done(&f);

        /* a too strict certificate is only a warning */
        write_file(c, "c", 0400);
        load("audit.crt", ROLE_CERTIFICATE, 0444, false, &pf, &f);
        assert_int_equal(f.items[0].severity, HEALTH_WARNING);
        pki_file_done(&pf);
        findings_done(&f);
        unlink(p);
        unlink(c);
}

static void test_directory_policy(void **state) {
        _cleanup_free_ char *d = path_of("sub"), *l = path_of("sublink");
        PkiFile pf;
        Findings f = {};
        PkiPolicy pol = mine(0755);
        struct stat st;

        assert_int_equal(mkdir(d, 0777), 0);
        assert_int_equal(chmod(d, 0777), 0);
        assert_int_equal(pki_file_load(ROLE_DIRECTORY, d, &pol, false, &pf, &f), 0);
        assert_true(findings_has(&f, "dir_permissions"));
        assert_int_equal(f.items[0].severity, HEALTH_CRITICAL);
        pki_file_done(&pf);
        findings_done(&f);
        assert_int_equal(pki_file_load(ROLE_DIRECTORY, d, &pol, true, &pf, &f), 0);
        assert_int_equal(pf.perm, PERM_REPAIRED);
        assert_int_equal(stat(d, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        pki_file_done(&pf);
        findings_done(&f);

        assert_int_equal(symlink(d, l), 0);
        assert_int_equal(pki_file_load(ROLE_DIRECTORY, l, &pol, true, &pf, &f), 0);
        assert_true(findings_has(&f, "dir_symlink"));
        pki_file_done(&pf);
        findings_done(&f);
        unlink(l);
        rmdir(d);
}

/* ---- ACLs --------------------------------------------------------------- */

/* One ACL xattr in the kernel's format: entries as {tag, perm, id}. */
static size_t acl_blob(uint8_t *b, const uint32_t (*e)[3], size_t n) {
        b[0] = 2, b[1] = b[2] = b[3] = 0;
        for (size_t i = 0; i < n; i++) {
                uint8_t *p = b + 4 + 8 * i;
                p[0] = (uint8_t) e[i][0], p[1] = (uint8_t) (e[i][0] >> 8);
                p[2] = (uint8_t) e[i][1], p[3] = (uint8_t) (e[i][1] >> 8);
                for (int k = 0; k < 4; k++)
                        p[4 + k] = (uint8_t) (e[i][2] >> (8 * k));
        }
        return 4 + 8 * n;
}

#define U32MAX 0xffffffffu
static const uint32_t acl_minimal[][3] = { { 1, 6, U32MAX }, { 4, 4, U32MAX }, { 0x20, 0, U32MAX } };
static const uint32_t acl_user_read[][3] = { { 1, 4, U32MAX }, { 2, 4, 1001 }, { 4, 4, U32MAX },
                                             { 0x10, 4, U32MAX }, { 0x20, 0, U32MAX } };
static const uint32_t acl_masked[][3] = { { 1, 4, U32MAX }, { 4, 4, U32MAX }, { 8, 6, 4 },
                                          { 0x10, 0, U32MAX }, { 0x20, 0, U32MAX } };

static void test_acl_parse(void **state) {
        uint8_t b[128];
        PkiAcl a;
        size_t n;

        n = acl_blob(b, acl_minimal, ELEMENTSOF(acl_minimal));
        assert_int_equal(pki_acl_parse(b, n, &a), 0);
        assert_false(a.extended);
        assert_int_equal(a.others, 0);

        n = acl_blob(b, acl_user_read, ELEMENTSOF(acl_user_read));
        assert_int_equal(pki_acl_parse(b, n, &a), 0);
        assert_true(a.extended);
        assert_int_equal(a.others, 4);
        assert_string_equal(a.desc, "user:1001:r--, mask::r--");

        /* a mask of --- takes everything back from the named group */
        n = acl_blob(b, acl_masked, ELEMENTSOF(acl_masked));
        assert_int_equal(pki_acl_parse(b, n, &a), 0);
        assert_true(a.extended);
        assert_int_equal(a.others, 0);

        /* malformed: short, wrong version, ragged, unknown tag */
        assert_int_equal(pki_acl_parse(b, 3, &a), -EBADMSG);
        assert_int_equal(pki_acl_parse(b, n - 1, &a), -EBADMSG);
        b[0] = 1;
        assert_int_equal(pki_acl_parse(b, n, &a), -EBADMSG);
        b[0] = 2, b[4] = 0x40;
        assert_int_equal(pki_acl_parse(b, n, &a), -EBADMSG);
}

static bool set_acl(const char *p, const char *name, const uint32_t (*e)[3], size_t n) {
        uint8_t b[128];
        size_t l = acl_blob(b, e, n);
        if (setxattr(p, name, b, l, 0) == 0)
                return true;
        if (errno == EOPNOTSUPP)
                return false;
        fail_msg("setxattr(%s, %s): %s", p, name, strerror(errno));
        return false;
}

static void test_acl_on_key(void **state) {
        _cleanup_free_ char *p = path_of("acl.key");
        PkiFile pf;
        Findings f;

        write_file(p, "key", 0440);
        if (!set_acl(p, "system.posix_acl_access", acl_user_read, ELEMENTSOF(acl_user_read)))
                skip();
        /* the mode still reads 0440: the ACL is what grants uid 1001 */
        load("acl.key", ROLE_PRIVATE_KEY, 0440, false, &pf, &f);
        assert_int_equal(pf.mode, 0440);
        assert_int_equal(pf.perm, PERM_DRIFT);
        assert_true(findings_has(&f, "acl"));
        assert_int_equal(findings_get(&f, "acl")->severity, HEALTH_CRITICAL);
        assert_non_null(strstr(findings_get(&f, "acl")->message, "user:1001:r--"));
        assert_non_null(strstr(findings_get(&f, "acl")->fix, "setfacl -b"));
        assert_string_equal(pf.acl, "user:1001:r--, mask::r--");
        assert_true(getxattr(p, "system.posix_acl_access", NULL, 0) > 0); /* audit never changes */
        pki_file_done(&pf);
        findings_done(&f);

        /* enforce: removed, mode set again, nothing left to report */
        load("acl.key", ROLE_PRIVATE_KEY, 0440, true, &pf, &f);
        assert_int_equal(f.n, 0);
        assert_int_equal(pf.perm, PERM_REPAIRED);
        assert_true(pf.acl_removed);
        assert_true(getxattr(p, "system.posix_acl_access", NULL, 0) < 0 && errno == ENODATA);
        {
                struct stat st;
                assert_int_equal(stat(p, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0440);
        }
        pki_file_done(&pf);
        load("acl.key", ROLE_PRIVATE_KEY, 0440, true, &pf, &f);
        assert_int_equal(pf.perm, PERM_OK);
        assert_null(pf.acl);
        pki_file_done(&pf);

        /* a masked-out group entry on a certificate: a warning, not critical */
        write_file(p, "crt", 0444);
        assert_true(set_acl(p, "system.posix_acl_access", acl_masked, ELEMENTSOF(acl_masked)));
        load("acl.key", ROLE_CERTIFICATE, 0404, false, &pf, &f);
        assert_int_equal(findings_get(&f, "acl")->severity, HEALTH_WARNING);
        pki_file_done(&pf);
        findings_done(&f);
}

static void test_default_acl_on_directory(void **state) {
        _cleanup_free_ char *d = path_of("acldir");
        PkiFile pf;
        Findings f;

        assert_int_equal(mkdir(d, 0755), 0);
        if (!set_acl(d, "system.posix_acl_default", acl_user_read, ELEMENTSOF(acl_user_read)))
                skip();
        *&f = (Findings) {};
        {
                PkiPolicy pol = mine(0755);
                assert_int_equal(pki_file_load(ROLE_DIRECTORY, d, &pol, false, &pf, &f), 0);
        }
        /* the next key written here would inherit user:1001:r-- */
        assert_true(findings_has(&f, "dir_acl"));
        assert_int_equal(findings_get(&f, "dir_acl")->severity, HEALTH_CRITICAL);
        assert_non_null(strstr(findings_get(&f, "dir_acl")->message, "default: user:1001:r--"));
        pki_file_done(&pf);
        findings_done(&f);
        {
                PkiPolicy pol = mine(0755);
                assert_int_equal(pki_file_load(ROLE_DIRECTORY, d, &pol, true, &pf, &f), 0);
        }
        assert_int_equal(f.n, 0);
        assert_int_equal(pf.perm, PERM_REPAIRED);
        assert_true(getxattr(d, "system.posix_acl_default", NULL, 0) < 0 && errno == ENODATA);
        pki_file_done(&pf);
}

static void test_ca_key_scan(void **state) {
        TlCert ca = tl_make(&(TlOpts) { .ca = true }, NULL);
        size_t kl;
        _cleanup_free_ char *k = tl_key_pem(ca.key, "pkcs8", &kl);
        _cleanup_free_ char *sub = path_of("scan"), *named = NULL, *hidden = NULL;
        STACK_OF(X509) *s = sk_X509_new_null();
        Findings f = {};

        sk_X509_push(s, ca.cert);
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_true(asprintf(&named, "%s/ca.key", sub) > 0);
        assert_true(asprintf(&hidden, "%s/backup.pem", sub) > 0);

        assert_int_equal(pki_scan_ca_keys(sub, s, NULL, &f), 0);
        assert_int_equal(f.n, 0);

        write_file(named, "whatever", 0400);
        assert_int_equal(pki_scan_ca_keys(sub, s, NULL, &f), 0);
        assert_int_equal(f.n, 1);
        assert_string_equal(f.items[0].code, "ca_key_present");
        assert_string_equal(f.items[0].file, named);
        findings_done(&f);
        /* unless it is the configured key itself: then only its content counts */
        {
                const char *own[] = { named, NULL };
                assert_int_equal(pki_scan_ca_keys(sub, s, own, &f), 0);
                assert_int_equal(f.n, 0);
        }
        unlink(named);

        /* a CA key under an innocent name is found by its content */
        write_file(hidden, k, 0400);
        assert_int_equal(pki_scan_ca_keys(sub, s, NULL, &f), 0);
        assert_int_equal(f.n, 1);
        assert_string_equal(f.items[0].file, hidden);
        findings_done(&f);
        unlink(hidden);
        rmdir(sub);
        sk_X509_free(s);
        tl_free(&ca);
}

/* Thousands of key-like files: each is decoded once (the verdict is kept by
 * inode, no key material), a pass stops at its budget and the next goes on,
 * and the CA key is still found. No private key stays parsed. */
static void test_ca_key_scan_bounded(void **state) {
        TlCert ca = tl_make(&(TlOpts) { .ca = true }, NULL);
        size_t kl;
        _cleanup_free_ char *k = tl_key_pem(ca.key, "pkcs8", &kl);
        _cleanup_free_ char *sub = path_of("many"), *hidden = NULL;
        STACK_OF(X509) *s = sk_X509_new_null();
        Findings f = {};
        bool incomplete = true;
        unsigned scans = 0;
        const unsigned N = 60;

        sk_X509_push(s, ca.cert);
        assert_int_equal(mkdir(sub, 0755), 0);
        for (unsigned i = 0; i < N; i++) {
                _cleanup_free_ char *p = NULL;
                assert_true(asprintf(&p, "%s/junk%03u.pem", sub, i) > 0);
                write_file(p, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0400);
        }
        assert_true(asprintf(&hidden, "%s/zz-backup.pem", sub) > 0);
        write_file(hidden, k, 0400);
        pki_scan_cache_flush();
        pki_parse_cache_flush();

        /* a budget of 1 us: every scan reads one new file, then stops */
        while (incomplete) {
                findings_done(&f);
                assert_int_equal(pki_scan_ca_keys_bounded(sub, s, NULL, 1, &f, &incomplete), 0);
                assert_true(++scans <= N + 2);
                if (incomplete) {
                        assert_true(findings_has(&f, "ca_key_scan_incomplete"));
                        assert_int_equal(findings_get(&f, "ca_key_scan_incomplete")->severity, HEALTH_WARNING);
                }
        }
        assert_true(scans > 10); /* it really was cut into slices */
        assert_true(findings_has(&f, "ca_key_present"));
        assert_false(findings_has(&f, "ca_key_scan_incomplete"));
        assert_int_equal(pki_scan_cache_size(), N + 1);
        /* the CA key was decoded to compare, never kept */
        assert_int_equal(pki_parse_cache_keys(), 0);
        findings_done(&f);

        /* the next round: the CA key is reported by every slice of it
         * (carried by name), and no verdict is lost */
        incomplete = true;
        for (bool reported = false; incomplete; findings_done(&f)) {
                assert_int_equal(pki_scan_ca_keys_bounded(sub, s, NULL, 1, &f, &incomplete), 0);
                /* once found in a slice, every later slice still reports it */
                assert_true(!reported || findings_has(&f, "ca_key_present"));
                reported = findings_has(&f, "ca_key_present");
                assert_true(reported || incomplete);
        }
        assert_int_equal(pki_scan_cache_size(), N + 1);
        assert_int_equal(pki_scan_ca_keys_bounded(sub, s, NULL, 0, &f, &incomplete), 0);
        assert_true(findings_has(&f, "ca_key_present"));
        findings_done(&f);

        /* a removed file's verdict goes with the next complete scan */
        assert_int_equal(unlink(hidden), 0);
        assert_int_equal(pki_scan_ca_keys_bounded(sub, s, NULL, 0, &f, &incomplete), 0);
        assert_int_equal(f.n, 0);
        assert_int_equal(pki_scan_cache_size(), N);

        for (unsigned i = 0; i < N; i++) {
                _cleanup_free_ char *p = NULL;
                assert_true(asprintf(&p, "%s/junk%03u.pem", sub, i) > 0);
                unlink(p);
        }
        rmdir(sub);
        sk_X509_free(s);
        tl_free(&ca);
        pki_scan_cache_flush();
}

/* A parsed private key stays cached only while a pass still sees it. */
static void test_parse_cache_evicts_keys(void **state) {
        TlCert a = tl_make(&(TlOpts) { .key = "p256" }, NULL), b = tl_make(&(TlOpts) { .key = "p256" }, NULL);
        size_t al, bl;
        _cleanup_free_ char *ak = tl_key_pem(a.key, "pkcs8", &al), *bk = tl_key_pem(b.key, "pkcs8", &bl);
        EVP_PKEY *k = NULL;
        Findings f = {};

        pki_parse_cache_flush();
        pki_parse_cache_begin_pass();
        assert_int_equal(pki_parse_key(ak, al, "/pki/client.key", &k, &f), 0);
        EVP_PKEY_free(k);
        pki_parse_cache_end_pass();
        assert_int_equal(pki_parse_cache_keys(), 1); /* still on disk: kept */

        /* renewal: the next pass parses the new key only */
        pki_parse_cache_begin_pass();
        assert_int_equal(pki_parse_key(bk, bl, "/pki/client.key", &k, &f), 0);
        EVP_PKEY_free(k);
        pki_parse_cache_end_pass();
        assert_int_equal(pki_parse_cache_keys(), 1);

        /* the key file removed: nothing parsed stays */
        pki_parse_cache_begin_pass();
        pki_parse_cache_end_pass();
        assert_int_equal(pki_parse_cache_keys(), 0);

        /* a broken key is remembered as a verdict, not re-decoded, not a key */
        pki_parse_cache_begin_pass();
        assert_int_equal(pki_parse_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 60,
                                       "/pki/client.key", &k, &f), -EBADMSG);
        assert_int_equal(pki_parse_cache_keys(), 0);
        pki_parse_cache_end_pass();
        findings_done(&f);
        tl_free(&a);
        tl_free(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_regular_ok),
                cmocka_unit_test(test_missing),
                cmocka_unit_test(test_symlink_never_followed),
                cmocka_unit_test(test_fifo_does_not_block),
                cmocka_unit_test(test_directory_in_place_of_file),
                cmocka_unit_test(test_hardlink),
                cmocka_unit_test(test_too_large),
                cmocka_unit_test(test_drift_enforce),
                cmocka_unit_test(test_drift_audit),
                cmocka_unit_test(test_directory_policy),
                cmocka_unit_test(test_ca_key_scan),
                cmocka_unit_test(test_ca_key_scan_bounded),
                cmocka_unit_test(test_parse_cache_evicts_keys),
                cmocka_unit_test(test_acl_parse),
                cmocka_unit_test(test_acl_on_key),
                cmocka_unit_test(test_default_acl_on_directory),
        };
        return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
