/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <grp.h>
#include <sys/stat.h>

#include "config.h"
#include "strv.h"

static void test_durations(void **state) {
        usec_t u;
        assert_int_equal(parse_duration("90s", &u), 0);
        assert_int_equal(u, 90 * USEC_PER_SEC);
        assert_int_equal(parse_duration("5m", &u), 0);
        assert_int_equal(u, 5 * USEC_PER_MINUTE);
        assert_int_equal(parse_duration("12h", &u), 0);
        assert_int_equal(u, 12 * USEC_PER_HOUR);
        assert_int_equal(parse_duration("30d", &u), 0);
        assert_int_equal(u, 30 * USEC_PER_DAY);
        assert_int_equal(parse_duration("1h30m", &u), 0);
        assert_int_equal(u, 90 * USEC_PER_MINUTE);
        assert_int_equal(parse_duration("1h 30m", &u), 0);
        assert_int_equal(u, 90 * USEC_PER_MINUTE);
        assert_int_equal(parse_duration("250ms", &u), 0);
        assert_int_equal(u, 250 * USEC_PER_MSEC);
        assert_int_equal(parse_duration("2w", &u), 0);
        assert_int_equal(u, 14 * USEC_PER_DAY);
        assert_int_equal(parse_duration("0s", &u), 0);
        assert_int_equal(u, 0);

        /* a bare number is ambiguous; junk and negative values are errors */
        assert_int_equal(parse_duration("90", &u), -EINVAL);
        assert_int_equal(parse_duration("", &u), -EINVAL);
        assert_int_equal(parse_duration("-5s", &u), -EINVAL);
        assert_int_equal(parse_duration("5 s", &u), -EINVAL);
        assert_int_equal(parse_duration("5x", &u), -EINVAL);
        assert_int_equal(parse_duration("5mins", &u), -EINVAL);
        assert_int_equal(parse_duration("99999999999999999999d", &u), -ERANGE);
        assert_int_equal(parse_duration("999999999999d", &u), -ERANGE);
}

static void test_format_duration(void **state) {
        char b[64];
        assert_string_equal(format_duration(30 * USEC_PER_DAY, b, sizeof(b)), "30d");
        assert_string_equal(format_duration(90 * USEC_PER_MINUTE, b, sizeof(b)), "1h30m");
        assert_string_equal(format_duration(250 * USEC_PER_MSEC, b, sizeof(b)), "250ms");
        assert_string_equal(format_duration(0, b, sizeof(b)), "0s");
        /* round trip */
        usec_t u;
        assert_int_equal(parse_duration(format_duration(3 * USEC_PER_DAY + 7 * USEC_PER_SEC, b, sizeof(b)), &u), 0);
        assert_int_equal(u, 3 * USEC_PER_DAY + 7 * USEC_PER_SEC);
}

static void test_modes_bools_numbers(void **state) {
        mode_t m;
        unsigned n;
        assert_int_equal(parse_mode("0440", &m), 0);
        assert_int_equal(m, 0440);
        assert_int_equal(parse_mode("440", &m), 0);
        assert_int_equal(m, 0440);
        assert_int_equal(parse_mode("0888", &m), -EINVAL);
        assert_int_equal(parse_mode("17777", &m), -EINVAL);
        assert_int_equal(parse_mode("-1", &m), -EINVAL);
        assert_int_equal(parse_mode("", &m), -EINVAL);
        assert_int_equal(parse_boolean("yes"), 1);
        assert_int_equal(parse_boolean("On"), 1);
        assert_int_equal(parse_boolean("false"), 0);
        assert_int_equal(parse_boolean("maybe"), -EINVAL);
        assert_int_equal(parse_unsigned("42", &n), 0);
        assert_int_equal(n, 42);
        assert_int_equal(parse_unsigned("-1", &n), -EINVAL);
        assert_int_equal(parse_unsigned("4x", &n), -EINVAL);
        assert_int_equal(parse_unsigned("99999999999", &n), -ERANGE);
}

static void test_split_command_line(void **state) {
        char **l = NULL;
        assert_int_equal(split_command_line("agentic-vault-mcp --key-id alias/x --region eu-west-1", &l), 0);
        assert_int_equal(strv_length(l), 5);
        assert_string_equal(l[0], "agentic-vault-mcp");
        assert_string_equal(l[4], "eu-west-1");
        l = strv_free(l);

        assert_int_equal(split_command_line("a 'b c' \"d \\\"e\\\" $f\" g\\ h '' \"\"", &l), 0);
        assert_int_equal(strv_length(l), 6);
        assert_string_equal(l[1], "b c");
        assert_string_equal(l[2], "d \"e\" $f");
        assert_string_equal(l[3], "g h");
        assert_string_equal(l[4], "");
        assert_string_equal(l[5], "");
        l = strv_free(l);

        /* nothing is expanded or run */
        assert_int_equal(split_command_line("echo $(id) `id` *", &l), 0);
        assert_string_equal(l[1], "$(id)");
        assert_string_equal(l[2], "`id`");
        assert_string_equal(l[3], "*");
        l = strv_free(l);

        assert_int_equal(split_command_line("   ", &l), 0);
        assert_int_equal(strv_length(l), 0);
        l = strv_free(l);

        assert_int_equal(split_command_line("echo 'open", &l), -EINVAL);
        assert_int_equal(split_command_line("echo \"open", &l), -EINVAL);
        assert_int_equal(split_command_line("echo trailing\\", &l), -EINVAL);
}

static char tmpdir[256];

static char *write_file(const char *name, const char *content) {
        char *p = NULL;
        FILE *f;
        assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
        f = fopen(p, "we");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
        return p;
}

static const char *my_group(void) {
        struct group *g = getgrgid(getgid());
        assert_non_null(g);
        return g->gr_name;
}

static int setup_tmp(void **state) {
        const char *base = getenv("AGV_TEST_TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/cfgXXXXXX", base ? base : "/tmp");
        assert_non_null(mkdtemp(tmpdir));
        return 0;
}

static int teardown_tmp(void **state) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_load_defaults_and_dropins(void **state) {
        char *main_conf, *text = NULL, *dropdir = NULL;
        Config *c = NULL;
        ConfigErrors e = {};

        assert_true(asprintf(&text,
                             "# agent config\n[agent]\nsocket = /run/x/agent.sock\n\n[pki]\ngroup = %s\n"
                             "dir = /etc/pki/ra\n[child]\ncommand = node /srv/signer.mjs --region 'eu west'\n"
                             "environment = A=1\n",
                             my_group()) > 0);
        main_conf = write_file("agent.conf", text);
        assert_true(asprintf(&dropdir, "%s/agent.conf.d", tmpdir) > 0);
        assert_int_equal(mkdir(dropdir, 0755), 0);
        free(write_file("agent.conf.d/20-later.conf", "[agent]\nmax_clients = 7\n[child]\nenvironment = C=3\n"));
        free(write_file("agent.conf.d/10-first.conf", "[agent]\nmax_clients = 5\nlog_level = debug\n[child]\nenvironment = B=2\n"));
        free(write_file("agent.conf.d/ignored.txt", "[agent]\nmax_clients = 99\n"));

        assert_int_equal(config_load(main_conf, NULL, false, &c, &e), 0);
        assert_null(e.lines);
        assert_string_equal(c->agent.socket, "/run/x/agent.sock");
        assert_int_equal(c->agent.max_clients, 7); /* lexical order: 20 wins */
        assert_int_equal(c->agent.log_level, 7);
        /* lists append across files */
        assert_int_equal(strv_length(c->child.environment), 3);
        assert_string_equal(c->child.environment[2], "C=3");
        assert_string_equal(c->child.command[3], "eu west");
        /* relative PKI names are joined with dir */
        assert_string_equal(c->pki.certificate, "/etc/pki/ra/client.crt");
        assert_string_equal(c->pki.private_key, "/etc/pki/ra/client.key");
        assert_string_equal(c->pki.ca_bundle, "/etc/pki/ra/ca.pem");
        /* defaults */
        assert_int_equal(c->pki.key_mode, 0440);
        assert_int_equal(c->pki.cert_mode, 0444);
        assert_int_equal(c->pki.permissions, PERMISSIONS_ENFORCE);
        assert_int_equal(c->pki.rescan_interval, 5 * USEC_PER_MINUTE);
        assert_int_equal(c->pki.renewal_grace, 60 * USEC_PER_SEC);
        assert_int_equal(c->alerts.n_thresholds, 5);
        assert_int_equal(c->alerts.thresholds[0], 30 * USEC_PER_DAY);
        assert_int_equal(c->alerts.thresholds[4], 1 * USEC_PER_DAY);
        assert_true(c->alerts.threshold_expired);
        assert_int_equal(c->agent.socket_group.gid, getgid()); /* defaults to [pki] group */
        assert_int_equal(strv_length(c->files), 3);
        config_free(c);
        free(text);
        free(main_conf);
        free(dropdir);
}

static bool has_error(ConfigErrors *e, const char *prefix, const char *needle) {
        STRV_FOREACH(l, e->lines)
                if (strncmp(*l, prefix, strlen(prefix)) == 0 && strstr(*l, needle))
                        return true;
        return false;
}

static void test_load_errors_name_file_and_line(void **state) {
        char *p, *text = NULL, prefix[512];
        Config *c = NULL;
        ConfigErrors e = {};

        assert_true(asprintf(&text,
                             "[agent]\n"                          /* 1 */
                             "socket = relative/path\n"           /* 2 */
                             "max_clients = lots\n"               /* 3 */
                             "[pki]\n"                            /* 4 */
                             "group = %s\n"                       /* 5 */
                             "key_mode = 0666\n"                  /* 6 */
                             "permissions = sometimes\n"          /* 7 */
                             "[child]\n"                          /* 8 */
                             "on_renewal = reboot\n"              /* 9 */
                             "restart_on_tool_failure = get_address\n" /* 10 */
                             "[alerts]\n"                         /* 11 */
                             "thresholds = 30d soon expired\n"    /* 12 */
                             "webhook_url = ftp://x\n"            /* 13 */
                             "bogus = 1\n"                        /* 14 */
                             "[pki\n",                            /* 15 */
                             my_group()) > 0);
        p = write_file("bad.conf", text);
        assert_int_equal(config_load(p, "/nonexistent", false, &c, &e), -EINVAL);
        assert_null(c);
#define AT(n) (snprintf(prefix, sizeof(prefix), "%s:%d:", p, n), prefix)
        assert_true(has_error(&e, AT(2), "absolute path"));
        assert_true(has_error(&e, AT(3), "max_clients"));
        assert_true(has_error(&e, AT(6), "0440"));
        assert_true(has_error(&e, AT(7), "enforce or audit"));
        assert_true(has_error(&e, AT(9), "none, signal"));
        assert_true(has_error(&e, AT(10), "TOOL:N"));
        assert_true(has_error(&e, AT(12), "expired"));
        assert_true(has_error(&e, AT(13), "http://"));
        assert_true(has_error(&e, AT(14), "unknown key 'bogus'"));
        assert_true(has_error(&e, AT(15), "syntax error"));
        config_errors_done(&e);
        free(p);
        free(text);
}

static void test_cross_field_and_groups(void **state) {
        char *p;
        Config *c = NULL;
        ConfigErrors e = {};

        p = write_file("cross.conf",
                       "[pki]\ngroup = no-such-group-agv\n"
                       "[child]\nping_interval = 5s\nping_timeout = 10s\non_renewal = restart\n"
                       "[alerts]\nwarning_before = 1d\ncritical_before = 3d\ntextfile = /var/lib/x.txt\n");
        assert_int_equal(config_load(p, "/nonexistent", false, &c, &e), -EINVAL);
        assert_true(has_error(&e, p, "group 'no-such-group-agv' does not exist"));
        assert_true(has_error(&e, p, "ping_timeout"));
        assert_true(has_error(&e, p, "needs a [child] command"));
        assert_true(has_error(&e, p, "critical must come later"));
        assert_true(has_error(&e, p, ".prom"));
        config_errors_done(&e);
        free(p);
}

static void test_missing_file(void **state) {
        Config *c = NULL;
        ConfigErrors e = {};
        assert_int_equal(config_load("/nonexistent/agent.conf", NULL, false, &c, &e), -EINVAL);
        assert_true(has_error(&e, "/nonexistent/agent.conf", "--config"));
        config_errors_done(&e);
}

static void test_long_line(void **state) {
        char *text = malloc(9000), *p;
        Config *c = NULL;
        ConfigErrors e = {};
        size_t l;

        snprintf(text, 9000, "[pki]\ngroup = %s\n[child]\ncommand = /bin/echo", my_group());
        l = strlen(text);
        for (int i = 0; i < 800; i++)
                l += (size_t) snprintf(text + l, 9000 - l, " a%03d", i);
        snprintf(text + l, 9000 - l, "\n[agent]\nmax_clients = 3\n");
        p = write_file("long.conf", text);
        assert_int_equal(config_load(p, "/nonexistent", false, &c, &e), 0);
        assert_int_equal(strv_length(c->child.command), 801);
        assert_string_equal(c->child.command[800], "a799");
        assert_int_equal(c->agent.max_clients, 3);
        config_free(c);
        free(p);
        free(text);
}

#define TA "arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/1f2e3d4c-0000-4000-8000-aabbccddeeff"
#define PR "arn:aws:rolesanywhere:eu-west-1:123456789012:profile/0a0b0c0d-1111-4111-8111-001122334455"
#define RO "arn:aws:iam::123456789012:role/agentic-vault-signer"

static void test_credentials_section(void **state) {
        char *p, *text = NULL;
        Config *c = NULL;
        ConfigErrors e = {};

        /* off by default; root may fetch */
        assert_true(asprintf(&text, "[pki]\ngroup = %s\n", my_group()) > 0);
        p = write_file("credoff.conf", text);
        assert_int_equal(config_load(p, "/nonexistent", false, &c, &e), 0);
        assert_false(c->credentials.enabled);
        assert_int_equal(c->credentials.n_allowed_uids, 1);
        assert_int_equal(c->credentials.allowed_uids[0], 0);
        c = config_free(c);
        free(p);
        free(text);

        /* the three ARNs switch it on; region and endpoint follow the trust anchor */
        assert_true(asprintf(&text,
                             "[pki]\ngroup = %s\ndir = /etc/pki/ra\n[credentials]\ntrust_anchor_arn = " TA "\nprofile_arn = " PR
                             "\nrole_arn = " RO "\nintermediates = chain.pem\nrole_session_name = vault-1\n",
                             my_group()) > 0);
        p = write_file("cred.conf", text);
        assert_int_equal(config_load(p, "/nonexistent", false, &c, &e), 0);
        assert_true(c->credentials.enabled);
        assert_string_equal(c->credentials.region, "eu-west-1");
        assert_string_equal(c->credentials.endpoint, "https://rolesanywhere.eu-west-1.amazonaws.com");
        assert_string_equal(c->credentials.intermediates, "/etc/pki/ra/chain.pem");
        assert_int_equal(c->credentials.session_duration, USEC_PER_HOUR);
        assert_int_equal(c->credentials.refresh_before, 10 * USEC_PER_MINUTE);
        c = config_free(c);
        free(p);
        free(text);

        /* every mistake named with file:line and the fix */
        p = write_file("credbad.conf",
                       "[credentials]\n"
                       "trust_anchor_arn = arn:aws:rolesanywhere:eu-west-1:12345:trust-anchor/x\n"          /* 2 */
                       "profile_arn = arn:aws:rolesanywhere:us-east-1:123456789012:profile/abc\n"           /* 3 */
                       "role_arn = arn:aws:iam::123456789012:user/bob\n"                                   /* 4 */
                       "endpoint = http://rolesanywhere.example.com\n"                                    /* 5 */
                       "session_duration = 13h\n"                                                         /* 6 */
                       "role_session_name = a b\n"                                                        /* 7 */
                       "allowed_users = no-such-user-agv\n"                                               /* 8 */
                       "region = Europe\n");                                                               /* 9 */
        assert_int_equal(config_load(p, "/nonexistent", false, &c, &e), -EINVAL);
        char at[600];
#define AT2(n) (snprintf(at, sizeof(at), "%s:%d: ", p, (n)), at)
        assert_true(has_error(&e, AT2(2), "12 digits"));
        assert_true(has_error(&e, AT2(2), "arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID"));
        assert_true(has_error(&e, AT2(4), "not a role ARN"));
        assert_true(has_error(&e, AT2(5), "loopback"));
        assert_true(has_error(&e, AT2(6), "between 15m and 12h"));
        assert_true(has_error(&e, AT2(7), "2-64 characters"));
        assert_true(has_error(&e, AT2(8), "no-such-user-agv"));
        assert_true(has_error(&e, AT2(9), "not a region"));
        config_errors_done(&e);
        free(p);

        /* only some ARNs: say which are missing */
        p = write_file("credpart.conf", "[credentials]\nrole_arn = " RO "\nendpoint = http://127.0.0.1:9\n");
        assert_int_equal(config_load(p, "/nonexistent", false, &c, &e), -EINVAL);
        assert_true(has_error(&e, p, "missing: trust_anchor_arn, profile_arn"));
        assert_false(has_error(&e, p, "loopback")); /* http:// to loopback is fine */
        config_errors_done(&e);
        free(p);

        /* mismatched regions and refresh_before >= session_duration */
        p = write_file("credreg.conf", "[credentials]\ntrust_anchor_arn = " TA "\nprofile_arn = " PR "\nrole_arn = " RO
                                       "\nregion = us-east-1\nsession_duration = 15m\nrefresh_before = 20m\n");
        assert_int_equal(config_load(p, "/nonexistent", false, &c, &e), -EINVAL);
        assert_true(has_error(&e, p, "trust anchor lives in eu-west-1"));
        assert_true(has_error(&e, p, "shorter than session_duration"));
        config_errors_done(&e);
        free(p);
}

/* Load `text` as the main file (plus an optional drop-in dir); returns the
 * result and leaves the errors in *e. */
static int load_text(const char *name, const char *text, const char *dropins, Config **c, ConfigErrors *e) {
        _cleanup_free_ char *p = write_file(name, text);
        return config_load(p, dropins ? dropins : "/nonexistent", false, c, e);
}

static void test_bad_ids(void **state) {
        static const char *const bad[] = { "4294967295", "4294967296", "99999999999999999999", "65535" };
        char *text = NULL;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Config *c = NULL;
                ConfigErrors e = {};
                char at[512];
                assert_true(asprintf(&text, "[pki]\ngroup = %s\n[child]\ncommand = /bin/true\nuser = %s\ngroup = %s\n", my_group(),
                                     bad[i], bad[i]) > 0);
                assert_int_equal(load_text("ids.conf", text, NULL, &c, &e), -EINVAL);
                assert_null(c);
                snprintf(at, sizeof at, "%s/ids.conf:5:", tmpdir);
                assert_true(has_error(&e, at, "not a usable id"));
                snprintf(at, sizeof at, "%s/ids.conf:6:", tmpdir);
                assert_true(has_error(&e, at, "not a usable id"));
                config_errors_done(&e);
                free(text);
        }
        /* the largest valid id and a plain small one still work */
        {
                Config *c = NULL;
                ConfigErrors e = {};
                assert_true(asprintf(&text, "[pki]\ngroup = %s\n[child]\ncommand = /bin/true\nuser = 4294967294\ngroup = 4242\n",
                                     my_group()) > 0);
                assert_int_equal(load_text("ids.conf", text, NULL, &c, &e), 0);
                assert_int_equal(c->child.user.uid, 4294967294u);
                assert_int_equal(c->child.group.gid, 4242);
                config_free(c);
                free(text);
        }
}

static void test_line_over_64k_is_an_error_not_split(void **state) {
        size_t n = 70000, size = n + 1024;
        char *text = malloc(size), at[512];
        Config *c = NULL;
        ConfigErrors e = {};
        int l = snprintf(text, 512, "[pki]\ngroup = %s\n[child]\ncommand = /bin/echo ", my_group());
        /* the tail past 64 KiB looks like a key: it must not take effect */
        memset(text + l, 'a', n);
        l += (int) n;
        /* cut at 64 KiB, the rest of the line would read "aaa...a = 9" */
        snprintf(text + l, size - (size_t) l, " = 9\n[agent]\nmax_clients = 3\n");
        assert_int_equal(load_text("long.conf", text, NULL, &c, &e), -EINVAL);
        snprintf(at, sizeof at, "%s/long.conf:4:", tmpdir);
        assert_true(has_error(&e, at, "longer than the limit of 64 KiB"));
        /* exactly one error: no stray key from a split tail */
        assert_int_equal(strv_length(e.lines), 1);
        config_errors_done(&e);

        /* a line of exactly the limit is fine */
        l = snprintf(text, 512, "[pki]\ngroup = %s\n[child]\ncommand = /bin/", my_group());
        memset(text + l, 'b', 64 * 1024 - 2 - (size_t) strlen("command = /bin/"));
        l += 64 * 1024 - 2 - (int) strlen("command = /bin/");
        snprintf(text + l, size - (size_t) l, "\n[agent]\nmax_clients = 3\n");
        assert_int_equal(load_text("long.conf", text, NULL, &c, &e), 0);
        assert_int_equal(strlen(c->child.command[0]), 64 * 1024 - 2 - strlen("command = "));
        assert_int_equal(c->agent.max_clients, 3);
        config_free(c);

        /* NUL bytes: an error at their line, nothing of the line applies */
        {
                static const char nul[] = "[agent]\nmax_clients = 5\0 0\n";
                _cleanup_free_ char *p = NULL;
                FILE *f;
                assert_true(asprintf(&p, "%s/nul.conf", tmpdir) > 0);
                f = fopen(p, "we");
                fwrite(nul, 1, sizeof nul - 1, f);
                fclose(f);
                assert_int_equal(config_load(p, "/nonexistent", false, &c, &e), -EINVAL);
                snprintf(at, sizeof at, "%s:2:", p);
                assert_true(has_error(&e, at, "NUL byte"));
                config_errors_done(&e);
        }
        free(text);
}

static void test_non_regular_files_rejected_without_blocking(void **state) {
        char dir[512], path[600], at[700], *text = NULL;
        Config *c = NULL;
        ConfigErrors e = {};

        snprintf(dir, sizeof dir, "%s/fifo.d", tmpdir);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(path, sizeof path, "%s/50-fifo.conf", dir);
        assert_int_equal(mkfifo(path, 0644), 0);
        snprintf(path, sizeof path, "%s/60-dir.conf", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        assert_true(asprintf(&text, "[pki]\ngroup = %s\n", my_group()) > 0);
        /* a FIFO with no writer would block open() and read() forever */
        assert_int_equal(load_text("main.conf", text, dir, &c, &e), -EINVAL);
        snprintf(at, sizeof at, "%s/50-fifo.conf:", dir);
        assert_true(has_error(&e, at, "is a FIFO, not a regular file"));
        snprintf(at, sizeof at, "%s/60-dir.conf:", dir);
        assert_true(has_error(&e, at, "is a directory"));
        config_errors_done(&e);

        /* the main file as a FIFO, and as a symlink */
        snprintf(path, sizeof path, "%s/main-fifo.conf", tmpdir);
        assert_int_equal(mkfifo(path, 0644), 0);
        assert_int_equal(config_load(path, "/nonexistent", false, &c, &e), -EINVAL);
        assert_true(has_error(&e, path, "is a FIFO"));
        config_errors_done(&e);
        snprintf(path, sizeof path, "%s/link.conf", tmpdir);
        snprintf(at, sizeof at, "%s/main.conf", tmpdir);
        assert_int_equal(symlink(at, path), 0);
        assert_int_equal(config_load(path, "/nonexistent", false, &c, &e), -EINVAL);
        assert_true(has_error(&e, path, "symbolic link"));
        config_errors_done(&e);
        free(text);
}

static void test_bounds_and_unsafe_modes(void **state) {
        static const struct {
                const char *section, *line, *expect;
        } cases[] = {
                { "agent", "client_timeout = 9999999d", "from 1s to 1h" },
                { "agent", "client_timeout = 500ms", "from 1s to 1h" },
                { "pki", "rescan_interval = 100000w", "from 1s to 1d" },
                { "child", "ping_interval = 500000d", "from 0s to 1d" },
                { "child", "request_timeout = 0s", "from 1s to 1d" },
                { "child", "stop_timeout = 0s", "from 1ms to 1h" },
                { "alerts", "retry_max = 100000d", "from 1s to 7d" },
                { "alerts", "thresholds = 30d 99999d", "over 3650d" },
                { "child", "start_limit = 5/999d", "1us to 1d" },
                { "test", "clock_offset = 9223372036854775807", "200 years" },
                { "pki", "cert_mode = 0666", "rewrite the certificate" },
                { "pki", "ca_mode = 0446", "rewrite the trust anchors" },
                { "pki", "cert_mode = 4444", "set-uid" },
                { "pki", "key_mode = 2440", "set-uid" },
                { "pki", "dir_mode = 1755", "sticky" },
                { "agent", "socket_mode = 0666", "every local user" },
                { "agent", "socket_mode = 4660", "set-uid" },
                { "child", "umask = 1077", "not a umask" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Config *c = NULL;
                ConfigErrors e = {};
                char *text = NULL, at[512];
                const char *extra = streq(cases[i].section, "child") ? "command = /bin/true\n" : "";
                assert_true(asprintf(&text, "[pki]\ngroup = %s\n[%s]\n%s%s\n", my_group(), cases[i].section, extra,
                                     cases[i].line) > 0);
                assert_int_equal(load_text("bounds.conf", text, NULL, &c, &e), -EINVAL);
                snprintf(at, sizeof at, "%s/bounds.conf:%d:", tmpdir, *extra ? 5 : 4);
                if (!has_error(&e, at, cases[i].expect)) {
                        STRV_FOREACH(l, e.lines)
                                fprintf(stderr, "got: %s\n", *l);
                        fail_msg("%s: expected '%s' at %s", cases[i].line, cases[i].expect, at);
                }
                config_errors_done(&e);
                free(text);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_durations),
                cmocka_unit_test(test_format_duration),
                cmocka_unit_test(test_modes_bools_numbers),
                cmocka_unit_test(test_split_command_line),
                cmocka_unit_test(test_load_defaults_and_dropins),
                cmocka_unit_test(test_load_errors_name_file_and_line),
                cmocka_unit_test(test_cross_field_and_groups),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_bad_ids),
                cmocka_unit_test(test_line_over_64k_is_an_error_not_split),
                cmocka_unit_test(test_non_regular_files_rejected_without_blocking),
                cmocka_unit_test(test_bounds_and_unsafe_modes),
                cmocka_unit_test(test_credentials_section),
        };
        return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
