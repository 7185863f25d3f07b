/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "log.h"
#include "arn.h"
#include "strv.h"

/* ---- typed values ---------------------------------------------------- */

int parse_duration(const char *s, usec_t *ret) {
        static const struct {
                const char *suffix;
                usec_t mult;
        } units[] = {
                { "ms", USEC_PER_MSEC }, { "us", 1 },          { "s", USEC_PER_SEC },
                { "m", USEC_PER_MINUTE }, { "h", USEC_PER_HOUR }, { "d", USEC_PER_DAY },
                { "w", 7 * USEC_PER_DAY },
        };
        usec_t total = 0;
        const char *p = s;

        if (isempty(s))
                return -EINVAL;
        while (*p) {
                char *end;
                unsigned long long v;
                size_t i;

                while (*p == ' ')
                        p++;
                if (!*p)
                        break;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                errno = 0;
                v = strtoull(p, &end, 10);
                if (errno == ERANGE)
                        return -ERANGE;
                p = end;
                for (i = 0; i < ELEMENTSOF(units); i++)
                        if (strneq(p, units[i].suffix, strlen(units[i].suffix)) &&
                            !isalpha((unsigned char) p[strlen(units[i].suffix)]))
                                break;
                if (i == ELEMENTSOF(units))
                        return -EINVAL; /* a bare number is ambiguous: demand a unit */
                if (v > (UINT64_MAX - total) / units[i].mult)
                        return -ERANGE;
                total += v * units[i].mult;
                p += strlen(units[i].suffix);
        }
        *ret = total;
        return 0;
}

char *format_duration(usec_t u, char *buf, size_t n) {
        static const struct {
                const char *suffix;
                usec_t mult;
        } units[] = {
                { "d", USEC_PER_DAY }, { "h", USEC_PER_HOUR }, { "m", USEC_PER_MINUTE },
                { "s", USEC_PER_SEC }, { "ms", USEC_PER_MSEC }, { "us", 1 },
        };
        size_t l = 0;

        if (n == 0)
                return buf;
        buf[0] = '\0';
        if (u == USEC_INFINITY) {
                snprintf(buf, n, "infinity");
                return buf;
        }
        if (u == 0) {
                snprintf(buf, n, "0s");
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(units) && u > 0; i++) {
                usec_t k = u / units[i].mult;
                if (k == 0)
                        continue;
                u -= k * units[i].mult;
                l += (size_t) snprintf(buf + l, n > l ? n - l : 0, "%llu%s",
                                       (unsigned long long) k, units[i].suffix);
                if (l >= n)
                        break;
        }
        return buf;
}

int parse_mode(const char *s, mode_t *ret) {
        char *end;
        unsigned long v;

        if (isempty(s) || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 8);
        if (errno || *end || v > 07777)
                return -EINVAL;
        *ret = (mode_t) v;
        return 0;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "true", "on" };
        static const char *const no[] = { "0", "no", "false", "off" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

int parse_unsigned(const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        if (isempty(s) || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

/* Split like a POSIX shell would split words, without running anything:
 * single quotes are literal, double quotes allow \" \\ \$ \`, backslash
 * escapes outside quotes. No variables, globs or substitutions. */
int split_command_line(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        Buf w = {};
        bool in_word = false;
        const char *p = s;

        while (*p) {
                char c = *p;
                if (c == ' ' || c == '\t' || c == '\n') {
                        if (in_word) {
                                char *word = buf_steal(&w);
                                if (!word || strv_push(&l, word) < 0)
                                        return -ENOMEM;
                                in_word = false;
                        }
                        p++;
                        continue;
                }
                in_word = true;
                if (c == '\'') {
                        const char *q = strchr(p + 1, '\'');
                        if (!q)
                                goto unterminated;
                        buf_append(&w, p + 1, (size_t) (q - p - 1));
                        p = q + 1;
                } else if (c == '"') {
                        p++;
                        for (;;) {
                                if (!*p)
                                        goto unterminated;
                                if (*p == '"')
                                        break;
                                if (*p == '\\' && p[1] && strchr("\"\\$`", p[1])) {
                                        buf_append(&w, p + 1, 1);
                                        p += 2;
                                        continue;
                                }
                                buf_append(&w, p, 1);
                                p++;
                        }
                        p++;
                } else if (c == '\\') {
                        if (!p[1])
                                goto unterminated;
                        buf_append(&w, p + 1, 1);
                        p += 2;
                } else {
                        buf_append(&w, p, 1);
                        p++;
                }
                if (w.oom)
                        return -ENOMEM;
                if (!w.data) /* "" is a word too */
                        buf_append(&w, "", 0);
        }
        if (in_word) {
                char *word = buf_steal(&w);
                if (!word || strv_push(&l, word) < 0)
                        return -ENOMEM;
        }
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
unterminated:
        buf_done(&w);
        return -EINVAL;
}

/* ---- the key table --------------------------------------------------- */

typedef enum KeyType {
        KT_STRING,      /* any text; empty: NULL */
        KT_ABS_PATH,    /* absolute path */
        KT_PKI_PATH,    /* absolute, or relative to [pki] dir; empty: NULL */
        KT_URL,         /* http:// or https://; empty: NULL */
        KT_GROUP,
        KT_USER,
        KT_MODE,
        KT_DURATION,
        KT_BOOL,
        KT_UNSIGNED,
        KT_LOG_LEVEL,
        KT_COMMAND,     /* split into argv */
        KT_LIST,        /* split into words; each occurrence appends, empty clears */
        KT_ENVIRONMENT, /* list of KEY=value */
        KT_PERMISSIONS,
        KT_ON_RENEWAL,
        KT_SIGNAL,
        KT_THRESHOLDS,
        KT_TOOL_COUNT,  /* TOOL:N */
        KT_START_LIMIT, /* N or N/DURATION */
        KT_INT64,
} KeyType;

typedef struct KeyDef {
        const char *section;
        const char *key;
        KeyType type;
        size_t offset;
        const char *def; /* default, parsed like file text; NULL: unset */
        const char *hint; /* how to write it, for error messages */
} KeyDef;

#define K(sec, field) offsetof(Config, sec.field)

static const KeyDef keys[] = {
        { "agent", "socket", KT_ABS_PATH, K(agent, socket), "/run/agv-agent/agent.sock", "an absolute path" },
        { "agent", "socket_group", KT_GROUP, K(agent, socket_group), NULL, "a group name or gid" },
        { "agent", "socket_mode", KT_MODE, K(agent, socket_mode), "0660", "an octal mode such as 0660" },
        { "agent", "admin_group", KT_GROUP, K(agent, admin_group), NULL, "a group name or gid" },
        { "agent", "state_dir", KT_ABS_PATH, K(agent, state_dir), "/var/lib/agv-agent", "an absolute path" },
        { "agent", "log_level", KT_LOG_LEVEL, K(agent, log_level), "info", "one of error, warning, notice, info, debug" },
        { "agent", "max_clients", KT_UNSIGNED, K(agent, max_clients), "64", "a number from 1 to 4096" },
        { "agent", "max_clients_per_user", KT_UNSIGNED, K(agent, max_clients_per_user), "8", "a number from 1 to 4096" },
        { "agent", "client_timeout", KT_DURATION, K(agent, client_timeout), "60s", "a duration such as 60s" },

        { "pki", "dir", KT_ABS_PATH, K(pki, dir), "/etc/pki/rolesanywhere", "an absolute path" },
        { "pki", "certificate", KT_PKI_PATH, K(pki, certificate), "client.crt", "a file name in dir, or an absolute path" },
        { "pki", "private_key", KT_PKI_PATH, K(pki, private_key), "client.key", "a file name in dir, or an absolute path" },
        { "pki", "ca_bundle", KT_PKI_PATH, K(pki, ca_bundle), "ca.pem", "a file name in dir, an absolute path, or empty for none" },
        { "pki", "group", KT_GROUP, K(pki, group), "agentic-vault", "the group that may read the key (name or gid)" },
        { "pki", "owner", KT_USER, K(pki, owner), "root", "a user name or uid (root in production)" },
        { "pki", "permissions", KT_PERMISSIONS, K(pki, permissions), "enforce", "enforce or audit" },
        { "pki", "key_mode", KT_MODE, K(pki, key_mode), "0440", "an octal mode such as 0440" },
        { "pki", "cert_mode", KT_MODE, K(pki, cert_mode), "0444", "an octal mode such as 0444" },
        { "pki", "ca_mode", KT_MODE, K(pki, ca_mode), "0444", "an octal mode such as 0444" },
        { "pki", "dir_mode", KT_MODE, K(pki, dir_mode), "0755", "an octal mode such as 0755" },
        { "pki", "rescan_interval", KT_DURATION, K(pki, rescan_interval), "5m", "a duration such as 5m" },
        { "pki", "renewal_grace", KT_DURATION, K(pki, renewal_grace), "60s", "a duration such as 60s" },

        { "child", "command", KT_COMMAND, K(child, command), NULL, "a command line, e.g. agentic-vault-mcp --key-id alias/x --region eu-west-1" },
        { "child", "user", KT_USER, K(child, user), NULL, "a user name or uid" },
        { "child", "group", KT_GROUP, K(child, group), NULL, "a group name or gid" },
        { "child", "environment", KT_ENVIRONMENT, K(child, environment), NULL, "KEY=value words, quoted like a shell" },
        { "child", "working_directory", KT_ABS_PATH, K(child, working_directory), "/", "an absolute path" },
        { "child", "umask", KT_MODE, K(child, umask), "0077", "an octal mode such as 0077" },
        { "child", "mcp_socket", KT_ABS_PATH, K(child, mcp_socket), "/run/agv-agent/mcp.sock", "an absolute path" },
        { "child", "ping_interval", KT_DURATION, K(child, ping_interval), "30s", "a duration such as 30s" },
        { "child", "ping_timeout", KT_DURATION, K(child, ping_timeout), "10s", "a duration such as 10s" },
        { "child", "health_tool", KT_STRING, K(child, health_tool), NULL, "a tool name such as health_check, or empty" },
        { "child", "health_interval", KT_DURATION, K(child, health_interval), "5m", "a duration such as 5m" },
        { "child", "restart_on_tool_failure", KT_TOOL_COUNT, K(child, restart_on_tool_failure_tool), NULL, "TOOL:N, e.g. get_address:1, or empty" },
        { "child", "stop_timeout", KT_DURATION, K(child, stop_timeout), "10s", "a duration such as 10s" },
        { "child", "restart_backoff_max", KT_DURATION, K(child, restart_backoff_max), "60s", "a duration such as 60s" },
        { "child", "start_limit", KT_START_LIMIT, K(child, start_limit), "5/60s", "N or N/DURATION, e.g. 5/60s" },
        { "child", "drain_timeout", KT_DURATION, K(child, drain_timeout), "30s", "a duration such as 30s" },
        { "child", "request_timeout", KT_DURATION, K(child, request_timeout), "5m", "a duration from 1s to 1d, such as 5m" },
        { "child", "on_renewal", KT_ON_RENEWAL, K(child, on_renewal), "none", "none, signal or restart" },
        { "child", "renewal_signal", KT_SIGNAL, K(child, renewal_signal), "SIGHUP", "a signal name such as SIGHUP" },

        { "alerts", "thresholds", KT_THRESHOLDS, K(alerts, thresholds), "30d 14d 7d 3d 1d expired", "durations and 'expired', e.g. 30d 14d 7d 3d 1d expired" },
        { "alerts", "warning_before", KT_DURATION, K(alerts, warning_before), "14d", "a duration such as 14d" },
        { "alerts", "critical_before", KT_DURATION, K(alerts, critical_before), "3d", "a duration such as 3d" },
        { "alerts", "webhook_url", KT_URL, K(alerts, webhook_url), NULL, "an http:// or https:// URL" },
        { "alerts", "webhook_headers", KT_LIST, K(alerts, webhook_headers), NULL, "quoted \"Name: value\" words" },
        { "alerts", "webhook_secret_file", KT_ABS_PATH, K(alerts, webhook_secret_file), NULL, "an absolute path" },
        { "alerts", "webhook_slack_text", KT_BOOL, K(alerts, webhook_slack_text), "no", "yes or no" },
        { "alerts", "alertmanager_url", KT_URL, K(alerts, alertmanager_url), NULL, "an http:// or https:// URL, e.g. http://127.0.0.1:9093" },
        { "alerts", "alertmanager_resend", KT_DURATION, K(alerts, alertmanager_resend), "1m", "a duration such as 1m" },
        { "alerts", "command", KT_COMMAND, K(alerts, command), NULL, "a command line" },
        { "alerts", "command_user", KT_USER, K(alerts, command_user), NULL, "a user name or uid" },
        { "alerts", "command_timeout", KT_DURATION, K(alerts, command_timeout), "30s", "a duration such as 30s" },
        { "alerts", "delivery_timeout", KT_DURATION, K(alerts, delivery_timeout), "10s", "a duration such as 10s" },
        { "alerts", "retry_max", KT_DURATION, K(alerts, retry_max), "10m", "a duration such as 10m" },
        { "alerts", "queue_max", KT_UNSIGNED, K(alerts, queue_max), "256", "a number from 1 to 100000" },
        { "alerts", "textfile", KT_ABS_PATH, K(alerts, textfile), NULL, "an absolute path ending in .prom" },
        { "alerts", "instance", KT_STRING, K(alerts, instance), NULL, "a name for this machine; default the hostname" },

        { "credentials", "trust_anchor_arn", KT_STRING, K(credentials, trust_anchor_arn), NULL, "arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID" },
        { "credentials", "profile_arn", KT_STRING, K(credentials, profile_arn), NULL, "arn:aws:rolesanywhere:REGION:ACCOUNT:profile/ID" },
        { "credentials", "role_arn", KT_STRING, K(credentials, role_arn), NULL, "arn:aws:iam::ACCOUNT:role/NAME" },
        { "credentials", "region", KT_STRING, K(credentials, region), NULL, "a region such as eu-west-1, or empty for the trust anchor's" },
        { "credentials", "endpoint", KT_URL, K(credentials, endpoint), NULL, "an https:// URL (http:// only to a loopback address), or empty for the default" },
        { "credentials", "ca_file", KT_ABS_PATH, K(credentials, ca_file), NULL, "an absolute path to a PEM CA file, or empty for the system store" },
        { "credentials", "session_duration", KT_DURATION, K(credentials, session_duration), "1h", "a duration from 15m to 12h" },
        { "credentials", "role_session_name", KT_STRING, K(credentials, role_session_name), NULL, "2-64 characters of letters, digits and +=,.@_-" },
        { "credentials", "intermediates", KT_PKI_PATH, K(credentials, intermediates), NULL, "a PEM file name in [pki] dir, an absolute path, or empty" },
        { "credentials", "refresh_before", KT_DURATION, K(credentials, refresh_before), "10m", "a duration such as 10m" },
        { "credentials", "timeout", KT_DURATION, K(credentials, timeout), "20s", "a duration such as 20s" },
        { "credentials", "retry_max", KT_DURATION, K(credentials, retry_max), "5m", "a duration such as 5m" },
        { "credentials", "allowed_users", KT_LIST, K(credentials, allowed_users), NULL, "user names or uids" },
        { "credentials", "allowed_groups", KT_LIST, K(credentials, allowed_groups), NULL, "group names or gids" },

        { "test", "clock_offset", KT_INT64, offsetof(Config, test_clock_offset_sec), "0", "seconds (test only)" },
        { "test", "sign_delay", KT_DURATION, offsetof(Config, test_sign_delay), "0s", "a duration such as 2s (test only)" },
};

#define FIELD(c, k, type) ((type *) ((char *) (c) + (k)->offset))

/* ---- parse state ----------------------------------------------------- */

#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_LINE_MAX (64 * 1024 - 2) /* bytes before the newline */

typedef struct Where {
        const char *file;
        int line;
} Where;

typedef struct ParseState {
        Config *config;
        ConfigErrors *errors;
        const char *file;
        Where where[ELEMENTSOF(keys)];
        const char *text;  /* the file being parsed, whole */
        size_t text_len, pos;
        int lines_done;    /* complete lines handed to inih so far */
        bool partial;      /* the last chunk did not end in a newline */
        char *files_store[64];
        size_t n_files;
} ParseState;

static void add_error(ParseState *st, const char *file, int line, const char *fmt, ...)
        _printf_(4, 5);
static void add_error(ParseState *st, const char *file, int line, const char *fmt, ...) {
        va_list ap;
        Buf b = {};

        if (file && line > 0)
                buf_printf(&b, "%s:%d: ", file, line);
        else if (file)
                buf_printf(&b, "%s: ", file);
        va_start(ap, fmt);
        buf_vprintf(&b, fmt, ap);
        va_end(ap);
        (void) strv_push(&st->errors->lines, buf_steal(&b));
}

/* A numeric uid/gid: all digits, at most 4294967294 and not 65535. -1
 * ((uid_t) -1, 4294967295) means "leave unchanged" to setresuid(), so a
 * child configured with it would keep the agent's root; 65535 is the 16-bit
 * -1. Returns 1 and *ret, 0 if `s` is not a number, -ERANGE if it is no id. */
static int parse_id(const char *s, uint32_t *ret) {
        unsigned long long v;
        char *end;

        if (isempty(s))
                return 0;
        for (const char *p = s; *p; p++)
                if (!isdigit((unsigned char) *p))
                        return 0;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v >= UINT32_MAX || v == 65535)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 1;
}

static bool id_valid(uint32_t id) {
        return id != UINT32_MAX && id != 65535;
}

static int resolve_group(const char *s, gid_t *ret) {
        uint32_t u;
        struct group *g;
        int r = parse_id(s, &u);

        if (r < 0)
                return r;
        if (r > 0) {
                *ret = (gid_t) u;
                return 0;
        }
        errno = 0;
        g = getgrnam(s);
        if (!g)
                return errno > 0 ? -errno : -ESRCH;
        if (!id_valid(g->gr_gid))
                return -ERANGE;
        *ret = g->gr_gid;
        return 0;
}

static int resolve_user(const char *s, uid_t *uid, gid_t *gid) {
        uint32_t u;
        struct passwd *p;
        int r = parse_id(s, &u);

        if (r < 0)
                return r;
        errno = 0;
        p = r > 0 ? getpwuid((uid_t) u) : getpwnam(s);
        if (!p) {
                if (r > 0) { /* a bare uid need not exist */
                        *uid = (uid_t) u;
                        *gid = (gid_t) u;
                        return 0;
                }
                return errno > 0 ? -errno : -ESRCH;
        }
        if (!id_valid(p->pw_uid) || !id_valid(p->pw_gid))
                return -ERANGE;
        *uid = p->pw_uid;
        *gid = p->pw_gid;
        return 0;
}

static int parse_signal(const char *s) {
        static const struct {
                const char *name;
                int sig;
        } sigs[] = {
                { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "USR1", SIGUSR1 },
                { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "CONT", SIGCONT }, { "WINCH", SIGWINCH },
        };
        if (strneq(s, "SIG", 3))
                s += 3;
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                if (strcasecmp(s, sigs[i].name) == 0)
                        return sigs[i].sig;
        return -EINVAL;
}

static int cmp_usec_desc(const void *a, const void *b) {
        usec_t x = *(const usec_t *) a, y = *(const usec_t *) b;
        return x < y ? 1 : x > y ? -1 : 0;
}

/* Store one value. Returns NULL on success or a static message fragment. */
static const char *set_value(ParseState *st, size_t idx, const char *value) {
        const KeyDef *k = &keys[idx];
        Config *c = st->config;
        int r;

        switch (k->type) {
        case KT_STRING: {
                char **p = FIELD(c, k, char *);
                free(*p);
                *p = isempty(value) ? NULL : strdup(value);
                return NULL;
        }
        case KT_ABS_PATH: {
                char **p = FIELD(c, k, char *);
                if (isempty(value)) {
                        free(*p);
                        *p = NULL;
                        return NULL;
                }
                if (value[0] != '/')
                        return "is not an absolute path";
                if (strlen(value) >= PATH_MAX)
                        return "is too long";
                free(*p);
                *p = strdup(value);
                return NULL;
        }
        case KT_PKI_PATH: {
                char **p = FIELD(c, k, char *);
                free(*p);
                *p = isempty(value) ? NULL : strdup(value); /* joined with dir in validate() */
                return NULL;
        }
        case KT_URL: {
                char **p = FIELD(c, k, char *);
                if (!isempty(value) && !strneq(value, "http://", 7) && !strneq(value, "https://", 8))
                        return "is not an http:// or https:// URL";
                if (!isempty(value) && strpbrk(value, " \t\r\n"))
                        return "contains white space";
                free(*p);
                *p = isempty(value) ? NULL : strdup(value);
                return NULL;
        }
        case KT_GROUP: {
                ConfigGroup *g = FIELD(c, k, ConfigGroup);
                free(g->name);
                g->name = isempty(value) ? NULL : strdup(value);
                g->gid = (gid_t) -1;
                return NULL; /* resolved in validate(), so defaults resolve too */
        }
        case KT_USER: {
                ConfigUser *u = FIELD(c, k, ConfigUser);
                free(u->name);
                u->name = isempty(value) ? NULL : strdup(value);
                u->uid = (uid_t) -1;
                u->gid = (gid_t) -1;
                return NULL;
        }
        case KT_MODE:
                return parse_mode(value, FIELD(c, k, mode_t)) < 0 ? "is not an octal mode" : NULL;
        case KT_DURATION:
                r = parse_duration(value, FIELD(c, k, usec_t));
                return r == -ERANGE ? "is too large" : r < 0 ? "is not a duration (use s, m, h, d: 90s, 5m, 12h, 30d)" : NULL;
        case KT_BOOL:
                r = parse_boolean(value);
                if (r < 0)
                        return "is not a boolean (yes or no)";
                *FIELD(c, k, bool) = r;
                return NULL;
        case KT_UNSIGNED:
                if (parse_unsigned(value, FIELD(c, k, unsigned)) < 0)
                        return "is not a non-negative whole number";
                return NULL;
        case KT_INT64: {
                char *end;
                long long v;
                errno = 0;
                v = strtoll(value, &end, 10);
                if (errno || *end || isempty(value))
                        return "is not a whole number";
                /* seconds; a wider range would overflow µs arithmetic */
                if (v > 200LL * 366 * 86400 || v < -200LL * 366 * 86400)
                        return "is beyond 200 years";
                *FIELD(c, k, int64_t) = v;
                return NULL;
        }
        case KT_LOG_LEVEL:
                r = log_level_from_string(value);
                if (r < 0)
                        return "is not a log level";
                *FIELD(c, k, int) = r;
                return NULL;
        case KT_COMMAND: {
                char ***p = FIELD(c, k, char **);
                char **argv = NULL;
                if (split_command_line(value, &argv) < 0)
                        return "has an unterminated quote or trailing backslash";
                strv_free(*p);
                *p = strv_length(argv) > 0 ? argv : strv_free(argv);
                return NULL;
        }
        case KT_LIST:
        case KT_ENVIRONMENT: {
                char ***p = FIELD(c, k, char **);
                char **words = NULL;
                if (isempty(value)) {
                        *p = strv_free(*p);
                        return NULL;
                }
                if (split_command_line(value, &words) < 0)
                        return "has an unterminated quote or trailing backslash";
                if (k->type == KT_ENVIRONMENT)
                        STRV_FOREACH(w, words) {
                                const char *eq = strchr(*w, '=');
                                if (!eq || eq == *w) {
                                        strv_free(words);
                                        return "has a word that is not KEY=value";
                                }
                        }
                STRV_FOREACH(w, words)
                        (void) strv_extend(p, *w);
                strv_free(words);
                return NULL;
        }
        case KT_PERMISSIONS:
                if (streq(value, "enforce"))
                        *FIELD(c, k, PermissionsPolicy) = PERMISSIONS_ENFORCE;
                else if (streq(value, "audit"))
                        *FIELD(c, k, PermissionsPolicy) = PERMISSIONS_AUDIT;
                else
                        return "is neither enforce nor audit";
                return NULL;
        case KT_ON_RENEWAL:
                if (streq(value, "none"))
                        *FIELD(c, k, OnRenewal) = ON_RENEWAL_NONE;
                else if (streq(value, "signal"))
                        *FIELD(c, k, OnRenewal) = ON_RENEWAL_SIGNAL;
                else if (streq(value, "restart"))
                        *FIELD(c, k, OnRenewal) = ON_RENEWAL_RESTART;
                else
                        return "is not one of none, signal, restart";
                return NULL;
        case KT_SIGNAL:
                r = parse_signal(value);
                if (r < 0)
                        return "is not a signal name";
                *FIELD(c, k, int) = r;
                return NULL;
        case KT_THRESHOLDS: {
                AlertsSection *a = &c->alerts;
                _cleanup_strv_free_ char **words = NULL;
                if (split_command_line(value, &words) < 0)
                        return "has an unterminated quote";
                a->n_thresholds = 0;
                a->threshold_expired = false;
                STRV_FOREACH(w, words) {
                        usec_t u;
                        if (streq(*w, "expired")) {
                                a->threshold_expired = true;
                                continue;
                        }
                        if (parse_duration(*w, &u) < 0 || u == 0)
                                return "has a word that is neither a positive duration nor 'expired'";
                        if (u > 3650 * USEC_PER_DAY)
                                return "has a threshold over 3650d";
                        if (a->n_thresholds >= ALERT_THRESHOLDS_MAX)
                                return "has more than 16 thresholds";
                        for (size_t i = 0; i < a->n_thresholds; i++)
                                if (a->thresholds[i] == u)
                                        return "names the same threshold twice";
                        a->thresholds[a->n_thresholds++] = u;
                }
                qsort(a->thresholds, a->n_thresholds, sizeof(usec_t), cmp_usec_desc);
                return NULL;
        }
        case KT_TOOL_COUNT: {
                ChildSection *ch = &c->child;
                const char *colon;
                unsigned n;
                free(ch->restart_on_tool_failure_tool);
                ch->restart_on_tool_failure_tool = NULL;
                ch->restart_on_tool_failure_count = 0;
                if (isempty(value))
                        return NULL;
                colon = strrchr(value, ':');
                if (!colon || colon == value || parse_unsigned(colon + 1, &n) < 0 || n == 0)
                        return "is not TOOL:N with N >= 1";
                ch->restart_on_tool_failure_tool = strndup(value, (size_t) (colon - value));
                ch->restart_on_tool_failure_count = n;
                return NULL;
        }
        case KT_START_LIMIT: {
                ChildSection *ch = &c->child;
                const char *slash = strchr(value, '/');
                _cleanup_free_ char *num = slash ? strndup(value, (size_t) (slash - value)) : strdup(value);
                unsigned n;
                usec_t iv = 60 * USEC_PER_SEC;
                if (!num || parse_unsigned(num, &n) < 0 || n == 0)
                        return "is not N or N/DURATION with N >= 1";
                if (slash && (parse_duration(slash + 1, &iv) < 0 || iv == 0 || iv > USEC_PER_DAY))
                        return "has a bad interval after '/' (1us to 1d)";
                if (n > 10000)
                        return "allows more than 10000 starts";
                ch->start_limit = n;
                ch->start_limit_interval = iv;
                return NULL;
        }
        }
        return "has an unknown type";
}

static ssize_t find_key(const char *section, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (streq(keys[i].section, section) && streq(keys[i].key, name))
                        return (ssize_t) i;
        return -1;
}

static bool known_section(const char *section) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (streq(keys[i].section, section))
                        return true;
        return false;
}

static bool known_section(const char *section);

/* inih calls the handler only for key lines, so an unknown section with no
 * keys under it would pass silently; catch section headers here. */
static void check_section_line(ParseState *st, const char *line) {
        const char *p = line, *end;
        _cleanup_free_ char *name = NULL;

        while (*p == ' ' || *p == '\t')
                p++;
        if (*p != '[')
                return;
        end = strchr(p, ']');
        if (!end)
                return; /* inih reports the syntax error */
        name = strndup(p + 1, (size_t) (end - p - 1));
        if (name && !known_section(name))
                add_error(st, st->file, st->lines_done + (st->partial ? 1 : 0),
                          "unknown section [%s]; the sections are [agent], [pki], [child], [alerts] and [credentials]", name);
}

/* Debian builds inih without line numbers in the handler, so the reader
 * counts them: the handler always runs right after its line was read. The
 * file is read whole first and served from memory line by line, so a line
 * is never cut: inih would parse a cut-off tail as a line of its own. */
static char *ini_reader_counting(char *str, int num, void *user) {
        ParseState *st = user;
        const char *p, *nl;
        size_t l;

        if (num < 2 || st->pos >= st->text_len)
                return NULL;
        p = st->text + st->pos;
        nl = memchr(p, '\n', st->text_len - st->pos);
        l = nl ? (size_t) (nl - p) + 1 : st->text_len - st->pos;
        if (l > (size_t) num - 1)
                l = (size_t) num - 1; /* inih grows its buffer and asks for the rest */
        memcpy(str, p, l);
        str[l] = '\0';
        st->pos += l;
        st->partial = !(str[l - 1] == '\n');
        if (!st->partial)
                st->lines_done++;
        check_section_line(st, str);
        return str;
}

static int config_ini_handler(void *user, const char *section, const char *name, const char *value) {
        ParseState *st = user;
        int lineno = st->lines_done + (st->partial ? 1 : 0);
        ssize_t idx;
        const char *msg;

        if (!name) /* a bare [section] line (INI_CALL_HANDLER_ON_NEW_SECTION) */
                return 1;
        if (isempty(section)) {
                add_error(st, st->file, lineno, "'%s' is outside any section; put it under [agent], [pki], [child], [alerts] or [credentials]", name);
                return 1;
        }
        if (!known_section(section))
                return 1; /* reported once, at its header line */
        idx = find_key(section, name);
        if (idx < 0) {
                add_error(st, st->file, lineno, "unknown key '%s' in [%s]; see docs/agent.conf.md for the keys of this section", name, section);
                return 1;
        }
        msg = set_value(st, (size_t) idx, value);
        if (msg) {
                add_error(st, st->file, lineno, "[%s] %s = '%s' %s; write %s", section, name, value, msg, keys[idx].hint);
                return 1;
        }
        st->where[idx] = (Where) { .file = st->file, .line = lineno };
        return 1;
}

static const char *file_type(mode_t m) {
        return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISSOCK(m) ? "a socket" :
               S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a regular file";
}

/* Read a whole config file. Opened O_NONBLOCK|O_NOFOLLOW and checked through
 * the fd: a FIFO or device never blocks the loop (reloads run on it), a
 * symlink is not followed. */
static int read_config_file(ParseState *st, const char *path, bool allow_missing, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat s;
        size_t len = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
        if (fd < 0) {
                if (errno == ENOENT && allow_missing)
                        return 0;
                if (errno == ELOOP)
                        add_error(st, path, 0, "is a symbolic link; the agent reads only regular files: "
                                  "point --config at the real file or replace the link by it");
                else
                        add_error(st, path, 0, "cannot open: %s; create it or pass --config PATH", strerror(errno));
                return -errno;
        }
        if (fstat(fd, &s) < 0)
                return add_error(st, path, 0, "cannot stat: %s", strerror(errno)), -errno;
        if (!S_ISREG(s.st_mode)) {
                add_error(st, path, 0, "is %s, not a regular file; remove it or replace it by a file", file_type(s.st_mode));
                return -EINVAL;
        }
        if (s.st_size > CONFIG_FILE_MAX) {
                add_error(st, path, 0, "is larger than 1 MiB; a configuration file is a few KiB");
                return -EFBIG;
        }
        buf = malloc((size_t) s.st_size + 1);
        if (!buf)
                return -ENOMEM;
        /* the size may change under us: read what fits, then expect EOF */
        for (;;) {
                ssize_t n = read(fd, buf + len, (size_t) s.st_size + 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        add_error(st, path, 0, "cannot read: %s", strerror(errno));
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > (size_t) s.st_size) {
                        add_error(st, path, 0, "changed while it was read; try again");
                        return -EAGAIN;
                }
        }
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 1;
}

/* Lines over the limit or with a NUL byte are errors (at their line) and
 * handed to inih as empty lines, so no part of them takes effect. */
static void blank_bad_lines(ParseState *st, const char *path, char *text, size_t *len) {
        size_t out = 0, line = 0;
        for (size_t i = 0; i < *len;) {
                char *nl = memchr(text + i, '\n', *len - i);
                size_t l = nl ? (size_t) (nl - (text + i)) : *len - i;
                bool nul = memchr(text + i, '\0', l) != NULL;
                line++;
                if (l > CONFIG_LINE_MAX)
                        add_error(st, path, (int) line, "line is %zu bytes, longer than the limit of 64 KiB; shorten it "
                                  "(a long command line fits in a wrapper script)", l);
                else if (nul)
                        add_error(st, path, (int) line, "line contains a NUL byte; is this a text file?");
                if (l > CONFIG_LINE_MAX || nul)
                        l = 0;
                else
                        memmove(text + out, text + i, l);
                out += l;
                i += (nl ? (size_t) (nl - (text + i)) + 1 : *len - i);
                if (nl)
                        text[out++] = '\n';
        }
        *len = out;
}

static int parse_file(ParseState *st, const char *path, bool allow_missing) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        char *stored;
        int r;

        r = read_config_file(st, path, allow_missing, &text, &len);
        if (r <= 0)
                return r;
        if (st->n_files >= ELEMENTSOF(st->files_store)) {
                add_error(st, path, 0, "too many drop-in files (at most 63)");
                return -E2BIG;
        }
        stored = strdup(path);
        if (!stored)
                return -ENOMEM;
        st->files_store[st->n_files++] = stored;
        (void) strv_extend(&st->config->files, path);
        blank_bad_lines(st, stored, text, &len);
        st->file = stored;
        st->text = text;
        st->text_len = len;
        st->pos = 0;
        st->lines_done = 0;
        st->partial = false;
        /* The Debian build caps lines at 200 bytes by default; commands and
         * header lists are longer, so let the line buffer grow. */
        ini_use_stack = false;
        ini_allow_realloc = true;
        ini_max_line = CONFIG_LINE_MAX + 2;
        ini_allow_multiline = false;
        r = ini_parse_stream(ini_reader_counting, st, config_ini_handler, st);
        st->text = NULL;
        if (r > 0)
                add_error(st, path, r, "syntax error; lines are [section], key = value, or comments starting with # or ;");
        else if (r < 0)
                add_error(st, path, 0, "could not be read");
        return 0;
}

static int dropin_filter(const struct dirent *d) {
        size_t l = strlen(d->d_name);
        return d->d_name[0] != '.' && l > 5 && streq(d->d_name + l - 5, ".conf");
}

static void parse_dropins(ParseState *st, const char *dir) {
        struct dirent **list = NULL;
        int n = scandir(dir, &list, dropin_filter, alphasort);

        if (n < 0) {
                if (errno != ENOENT && errno != ENOTDIR)
                        add_error(st, dir, 0, "cannot read drop-in directory: %s", strerror(errno));
                return;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", dir, list[i]->d_name) >= 0)
                        (void) parse_file(st, p, false);
                free(list[i]);
        }
        free(list);
}

static void err_at(ParseState *st, const char *section, const char *key, const char *fmt, ...)
        _printf_(4, 5);
static void err_at(ParseState *st, const char *section, const char *key, const char *fmt, ...) {
        ssize_t idx = find_key(section, key);
        Where w = idx >= 0 ? st->where[idx] : (Where) {};
        va_list ap;
        Buf b = {};

        va_start(ap, fmt);
        buf_vprintf(&b, fmt, ap);
        va_end(ap);
        if (!w.file) /* still the default */
                add_error(st, st->config->path, 0, "[%s] %s (default): %s", section, key, strempty(b.data));
        else
                add_error(st, w.file, w.line, "[%s] %s: %s", section, key, strempty(b.data));
        buf_done(&b);
}

#define ID_RANGE_MSG \
        "is not a usable id: ids run from 0 to 4294967294, except 65535; 4294967295 is (uid_t) -1, " \
        "which the kernel reads as 'unchanged' (the child would keep the agent's root)"

static void check_group(ParseState *st, const char *section, const char *key, ConfigGroup *g) {
        int r;
        if (!g->name)
                return;
        r = resolve_group(g->name, &g->gid);
        if (r == -ERANGE)
                err_at(st, section, key, "'%s' %s", g->name, ID_RANGE_MSG);
        else if (r < 0)
                err_at(st, section, key, "group '%s' does not exist; create it (e.g. systemd-sysusers or groupadd) or name another", g->name);
}

static void check_user(ParseState *st, const char *section, const char *key, ConfigUser *u) {
        int r;
        if (!u->name)
                return;
        r = resolve_user(u->name, &u->uid, &u->gid);
        if (r == -ERANGE)
                err_at(st, section, key, "'%s' %s", u->name, ID_RANGE_MSG);
        else if (r < 0)
                err_at(st, section, key, "user '%s' does not exist; create it or name another", u->name);
}

static int join_pki_path(const char *dir, char **p) {
        char *j;
        if (!*p || (*p)[0] == '/')
                return 0;
        if (strchr(*p, '/') || streq(*p, "..") || streq(*p, "."))
                return -EINVAL;
        if (asprintf(&j, "%s/%s", dir, *p) < 0)
                return -ENOMEM;
        free(*p);
        *p = j;
        return 0;
}

/* What makes sense for each duration: far-off values would overflow timer
 * arithmetic (now + value) and nobody needs them. */
static const struct {
        const char *section, *key;
        usec_t min, max;
} duration_bounds[] = {
        { "agent", "client_timeout", USEC_PER_SEC, USEC_PER_HOUR },
        { "pki", "rescan_interval", USEC_PER_SEC, USEC_PER_DAY },
        { "pki", "renewal_grace", 0, 7 * USEC_PER_DAY },
        { "child", "ping_interval", 0, USEC_PER_DAY },
        { "child", "ping_timeout", USEC_PER_MSEC, USEC_PER_HOUR },
        { "child", "health_interval", 0, 7 * USEC_PER_DAY },
        { "child", "stop_timeout", USEC_PER_MSEC, USEC_PER_HOUR },
        { "child", "restart_backoff_max", 0, USEC_PER_DAY },
        { "child", "drain_timeout", 0, USEC_PER_DAY },
        { "child", "request_timeout", USEC_PER_SEC, USEC_PER_DAY },
        { "alerts", "warning_before", 0, 3650 * USEC_PER_DAY },
        { "alerts", "critical_before", 0, 3650 * USEC_PER_DAY },
        { "alerts", "alertmanager_resend", USEC_PER_SEC, USEC_PER_DAY },
        { "alerts", "command_timeout", USEC_PER_SEC, USEC_PER_HOUR },
        { "alerts", "delivery_timeout", USEC_PER_SEC, USEC_PER_HOUR },
        { "alerts", "retry_max", USEC_PER_SEC, 7 * USEC_PER_DAY },
        { "credentials", "refresh_before", 0, 12 * USEC_PER_HOUR },
        { "credentials", "timeout", USEC_PER_SEC, 5 * USEC_PER_MINUTE },
        { "credentials", "retry_max", USEC_PER_SEC, USEC_PER_DAY },
        { "test", "sign_delay", 0, USEC_PER_MINUTE },
};

static void check_durations(ParseState *st) {
        for (size_t i = 0; i < ELEMENTSOF(duration_bounds); i++) {
                ssize_t idx = find_key(duration_bounds[i].section, duration_bounds[i].key);
                char a[32], b[32];
                usec_t v;
                if (idx < 0 || keys[idx].type != KT_DURATION)
                        continue;
                v = *FIELD(st->config, &keys[idx], usec_t);
                if (v < duration_bounds[i].min || v > duration_bounds[i].max)
                        err_at(st, duration_bounds[i].section, duration_bounds[i].key, "must be from %s to %s",
                               format_duration(duration_bounds[i].min, a, sizeof a),
                               format_duration(duration_bounds[i].max, b, sizeof b));
        }
}

static int c_join_pki(Config *c, char **p) {
        return c->pki.dir ? join_pki_path(c->pki.dir, p) : (*p && (*p)[0] != '/' ? -EINVAL : 0);
}

static void check_arn(ParseState *st, const char *key, const char *arn, ArnKind kind, char **region) {
        const char *why = NULL;
        if (arn && ra_arn_check(arn, kind, region, &why) < 0)
                err_at(st, "credentials", key, "'%s' %s; write %s", arn, strna(why), ra_arn_example(kind));
}

static int add_id(unsigned **ids, size_t *n, unsigned id) {
        unsigned *a;
        for (size_t i = 0; i < *n; i++)
                if ((*ids)[i] == id)
                        return 0;
        a = reallocarray(*ids, *n + 1, sizeof(unsigned));
        if (!a)
                return -ENOMEM;
        a[(*n)++] = id;
        *ids = a;
        return 0;
}

static void validate_credentials(ParseState *st) {
        CredentialsSection *cr = &st->config->credentials;
        _cleanup_free_ char *ta_region = NULL, *pr_region = NULL;
        const char *why = NULL;
        int set = !!cr->trust_anchor_arn + !!cr->profile_arn + !!cr->role_arn;

        _Static_assert(sizeof(uid_t) == sizeof(unsigned) && sizeof(gid_t) == sizeof(unsigned), "ids");
        /* the allow list: root and the [child] user unless given */
        if (!cr->allowed_users) {
                (void) add_id((unsigned **) &cr->allowed_uids, &cr->n_allowed_uids, 0);
                if (st->config->child.user.name && st->config->child.user.uid != (uid_t) -1)
                        (void) add_id((unsigned **) &cr->allowed_uids, &cr->n_allowed_uids, st->config->child.user.uid);
        }
        STRV_FOREACH(u, cr->allowed_users) {
                uid_t uid;
                gid_t gid;
                int r = resolve_user(*u, &uid, &gid);
                if (r == -ERANGE)
                        err_at(st, "credentials", "allowed_users", "'%s' %s", *u, ID_RANGE_MSG);
                else if (r < 0)
                        err_at(st, "credentials", "allowed_users", "user '%s' does not exist; create it or name another", *u);
                else
                        (void) add_id((unsigned **) &cr->allowed_uids, &cr->n_allowed_uids, uid);
        }
        STRV_FOREACH(g, cr->allowed_groups) {
                gid_t gid;
                int r = resolve_group(*g, &gid);
                if (r == -ERANGE)
                        err_at(st, "credentials", "allowed_groups", "'%s' %s", *g, ID_RANGE_MSG);
                else if (r < 0)
                        err_at(st, "credentials", "allowed_groups", "group '%s' does not exist; create it or name another", *g);
                else
                        (void) add_id((unsigned **) &cr->allowed_gids, &cr->n_allowed_gids, gid);
        }

        if (set == 0) {
                /* off: keys that only matter when on are still checked for syntax below */
                cr->enabled = false;
        } else if (set < 3) {
                _cleanup_strv_free_ char **missing = NULL;
                if (!cr->trust_anchor_arn)
                        (void) strv_extend(&missing, "trust_anchor_arn");
                if (!cr->profile_arn)
                        (void) strv_extend(&missing, "profile_arn");
                if (!cr->role_arn)
                        (void) strv_extend(&missing, "role_arn");
                _cleanup_free_ char *l = strv_join(missing, ", ");
                err_at(st, "credentials", cr->trust_anchor_arn ? (cr->profile_arn ? "role_arn" : "profile_arn") : "trust_anchor_arn",
                       "[credentials] needs trust_anchor_arn, profile_arn and role_arn together; missing: %s", strna(l));
        } else
                cr->enabled = true;

        check_arn(st, "trust_anchor_arn", cr->trust_anchor_arn, ARN_TRUST_ANCHOR, &ta_region);
        check_arn(st, "profile_arn", cr->profile_arn, ARN_PROFILE, &pr_region);
        check_arn(st, "role_arn", cr->role_arn, ARN_ROLE, NULL);
        if (ta_region && pr_region && !streq(ta_region, pr_region))
                err_at(st, "credentials", "profile_arn", "is in region %s but the trust anchor is in %s; both must be in the same region",
                       pr_region, ta_region);
        if (cr->region && !ra_region_valid(cr->region))
                err_at(st, "credentials", "region", "'%s' is not a region; write one such as eu-west-1", cr->region);
        if (!cr->region && ta_region)
                cr->region = strdup(ta_region);
        if (cr->enabled && cr->region && ta_region && !streq(cr->region, ta_region))
                err_at(st, "credentials", "region", "is %s but the trust anchor lives in %s; Roles Anywhere resources are regional: leave region empty",
                       cr->region, ta_region);
        if (cr->endpoint && ra_endpoint_check(cr->endpoint, &why) < 0)
                err_at(st, "credentials", "endpoint", "'%s' %s", cr->endpoint, why);
        if (!cr->endpoint && cr->region)
                cr->endpoint = ra_endpoint_default(cr->region);
        if (cr->session_duration < 15 * USEC_PER_MINUTE || cr->session_duration > 12 * USEC_PER_HOUR ||
            cr->session_duration % USEC_PER_SEC)
                err_at(st, "credentials", "session_duration", "must be whole seconds between 15m and 12h (AWS's limits)");
        if (cr->refresh_before >= cr->session_duration)
                err_at(st, "credentials", "refresh_before", "must be shorter than session_duration, or the credentials would be refreshed at once");
        if (cr->role_session_name && !ra_role_session_name_valid(cr->role_session_name))
                err_at(st, "credentials", "role_session_name", "'%s' must be 2-64 characters of letters, digits and +=,.@_-",
                       cr->role_session_name);
        if (c_join_pki(st->config, &cr->intermediates) < 0)
                err_at(st, "credentials", "intermediates", "must be a plain file name (in [pki] dir) or an absolute path");
}

/* Cross-field checks and name resolution, after every file was read. */
static void validate(ParseState *st) {
        Config *c = st->config;

        /* the control socket's group defaults to the key's group */
        if (!c->agent.socket_group.name && c->pki.group.name)
                c->agent.socket_group.name = strdup(c->pki.group.name);
        check_group(st, "agent", "socket_group", &c->agent.socket_group);
        check_group(st, "agent", "admin_group", &c->agent.admin_group);
        check_group(st, "pki", "group", &c->pki.group);
        check_group(st, "child", "group", &c->child.group);
        check_user(st, "child", "user", &c->child.user);
        check_user(st, "pki", "owner", &c->pki.owner);
        if (!c->pki.owner.name)
                err_at(st, "pki", "owner", "is required; write root (or the user owning the files in a test setup)");
        check_user(st, "alerts", "command_user", &c->alerts.command_user);

        if (!c->agent.socket)
                err_at(st, "agent", "socket", "is required; write an absolute path");
        if (!c->agent.state_dir)
                err_at(st, "agent", "state_dir", "is required; write an absolute path");
        if (!c->pki.dir)
                err_at(st, "pki", "dir", "is required; write an absolute path");
        if (c->agent.max_clients < 1 || c->agent.max_clients > 4096)
                err_at(st, "agent", "max_clients", "must be between 1 and 4096");
        if (c->agent.max_clients_per_user < 1 || c->agent.max_clients_per_user > 4096)
                err_at(st, "agent", "max_clients_per_user", "must be between 1 and 4096");
        check_durations(st);
        if (c->pki.dir) {
                if (!c->pki.certificate)
                        err_at(st, "pki", "certificate", "is required; write a file name such as client.crt");
                if (!c->pki.private_key)
                        err_at(st, "pki", "private_key", "is required; write a file name such as client.key");
                if (join_pki_path(c->pki.dir, &c->pki.certificate) < 0)
                        err_at(st, "pki", "certificate", "must be a plain file name or an absolute path");
                if (join_pki_path(c->pki.dir, &c->pki.private_key) < 0)
                        err_at(st, "pki", "private_key", "must be a plain file name or an absolute path");
                if (join_pki_path(c->pki.dir, &c->pki.ca_bundle) < 0)
                        err_at(st, "pki", "ca_bundle", "must be a plain file name or an absolute path");
                if (c->pki.certificate && c->pki.private_key && streq(c->pki.certificate, c->pki.private_key))
                        err_at(st, "pki", "private_key", "names the same file as certificate; keep them in two files");
        }
        if (c->pki.key_mode & 0022)
                err_at(st, "pki", "key_mode", "%04o lets others write the private key; use 0440 or 0400", (unsigned) c->pki.key_mode);
        if (c->pki.key_mode & 0007)
                err_at(st, "pki", "key_mode", "%04o lets every user read the private key; use 0440 or 0400", (unsigned) c->pki.key_mode);
        if (c->pki.dir_mode & 0022)
                err_at(st, "pki", "dir_mode", "%04o makes the directory writable by others; use 0755", (unsigned) c->pki.dir_mode);
        if (c->pki.cert_mode & 0022)
                err_at(st, "pki", "cert_mode", "%04o lets others rewrite the certificate; use 0444", (unsigned) c->pki.cert_mode);
        if (c->pki.ca_mode & 0022)
                err_at(st, "pki", "ca_mode", "%04o lets others rewrite the trust anchors; use 0444", (unsigned) c->pki.ca_mode);
        if (c->agent.socket_mode & 0002)
                err_at(st, "agent", "socket_mode", "%04o lets every local user connect; use 0660 and [agent] socket_group",
                       (unsigned) c->agent.socket_mode);
        /* set-uid/set-gid/sticky mean nothing good on these files and sockets */
        {
                static const struct {
                        const char *section, *key;
                        size_t offset;
                } modes[] = {
                        { "pki", "key_mode", K(pki, key_mode) },   { "pki", "cert_mode", K(pki, cert_mode) },
                        { "pki", "ca_mode", K(pki, ca_mode) },     { "pki", "dir_mode", K(pki, dir_mode) },
                        { "agent", "socket_mode", K(agent, socket_mode) },
                };
                for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                        mode_t m = *(const mode_t *) ((const char *) c + modes[i].offset);
                        if (m & 07000)
                                err_at(st, modes[i].section, modes[i].key,
                                       "%04o has set-uid, set-gid or sticky bits; write the mode without them (%04o)",
                                       (unsigned) m, (unsigned) (m & 0777));
                }
        }
        if (c->child.umask > 0777)
                err_at(st, "child", "umask", "%04o is not a umask; write one from 0000 to 0777, such as 0077", (unsigned) c->child.umask);

        if (c->child.ping_interval > 0 && c->child.ping_timeout >= c->child.ping_interval)
                err_at(st, "child", "ping_timeout", "must be shorter than ping_interval");
        if (c->child.mcp_socket && c->agent.socket && streq(c->child.mcp_socket, c->agent.socket))
                err_at(st, "child", "mcp_socket", "is the same path as [agent] socket; give each its own");
        if (c->child.health_tool && c->child.health_interval == 0)
                err_at(st, "child", "health_interval", "must be greater than 0 when health_tool is set");
        if (c->child.on_renewal != ON_RENEWAL_NONE && !c->child.command)
                err_at(st, "child", "on_renewal", "needs a [child] command to act on");

        if (c->alerts.critical_before > c->alerts.warning_before)
                err_at(st, "alerts", "critical_before", "is longer than warning_before; critical must come later than warning");
        if (c->alerts.webhook_secret_file && !c->alerts.webhook_url)
                err_at(st, "alerts", "webhook_secret_file", "is set but webhook_url is not");
        if (c->alerts.command_user.name && !c->alerts.command)
                err_at(st, "alerts", "command_user", "is set but command is not");
        STRV_FOREACH(h, c->alerts.webhook_headers) {
                const char *colon = strchr(*h, ':');
                if (!colon || colon == *h || strpbrk(*h, "\r\n"))
                        err_at(st, "alerts", "webhook_headers", "'%s' is not \"Name: value\"", *h);
        }
        if (c->alerts.textfile) {
                size_t l = strlen(c->alerts.textfile);
                if (l < 5 || !streq(c->alerts.textfile + l - 5, ".prom"))
                        err_at(st, "alerts", "textfile", "must end in .prom (node_exporter reads only those)");
        }
        if (c->alerts.queue_max < 1 || c->alerts.queue_max > 100000)
                err_at(st, "alerts", "queue_max", "must be between 1 and 100000");
        validate_credentials(st);
}

static void apply_defaults(ParseState *st) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].def) {
                        const char *msg = set_value(st, i, keys[i].def);
                        if (msg) /* a bug in the table; say so loudly */
                                add_error(st, "(built-in default)", 0, "[%s] %s %s", keys[i].section, keys[i].key, msg);
                }
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        free(c->path);
        strv_free(c->files);
        free(c->agent.socket);
        free(c->agent.socket_group.name);
        free(c->agent.admin_group.name);
        free(c->agent.state_dir);
        free(c->pki.dir);
        free(c->pki.certificate);
        free(c->pki.private_key);
        free(c->pki.ca_bundle);
        free(c->pki.group.name);
        free(c->pki.owner.name);
        strv_free(c->child.command);
        free(c->child.user.name);
        free(c->child.group.name);
        strv_free(c->child.environment);
        free(c->child.working_directory);
        free(c->child.mcp_socket);
        free(c->child.health_tool);
        free(c->child.restart_on_tool_failure_tool);
        free(c->alerts.webhook_url);
        strv_free(c->alerts.webhook_headers);
        free(c->alerts.webhook_secret_file);
        free(c->alerts.alertmanager_url);
        strv_free(c->alerts.command);
        free(c->alerts.command_user.name);
        free(c->alerts.textfile);
        free(c->alerts.instance);
        free(c->credentials.trust_anchor_arn);
        free(c->credentials.profile_arn);
        free(c->credentials.role_arn);
        free(c->credentials.region);
        free(c->credentials.endpoint);
        free(c->credentials.ca_file);
        free(c->credentials.role_session_name);
        free(c->credentials.intermediates);
        strv_free(c->credentials.allowed_users);
        strv_free(c->credentials.allowed_groups);
        free(c->credentials.allowed_uids);
        free(c->credentials.allowed_gids);
        free(c);
        return NULL;
}

void config_errors_done(ConfigErrors *e) {
        e->lines = strv_free(e->lines);
}

static int config_load_internal(const char *path, const char *dropin_dir, bool allow_missing,
                                bool read_files, Config **ret, ConfigErrors *errors) {
        _cleanup_(config_freep) Config *c = NULL;
        ParseState st = {};
        ConfigErrors local = {};
        int r = 0;

        if (!errors)
                errors = &local;
        c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        c->path = strdup(path ? path : DEFAULT_CONFIG_PATH);
        if (!c->path)
                return -ENOMEM;
        st.config = c;
        st.errors = errors;

        apply_defaults(&st);
        if (read_files) {
                _cleanup_free_ char *d = NULL;
                (void) parse_file(&st, c->path, allow_missing);
                if (!dropin_dir) {
                        if (asprintf(&d, "%s.d", c->path) < 0)
                                r = -ENOMEM;
                        dropin_dir = d;
                }
                if (dropin_dir)
                        parse_dropins(&st, dropin_dir);
        }
        validate(&st);
        for (size_t i = 0; i < st.n_files; i++)
                free(st.files_store[i]);

        if (r < 0) {
                config_errors_done(&local);
                return r;
        }
        if (errors->lines) {
                config_errors_done(&local);
                return -EINVAL;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int config_load(const char *path, const char *dropin_dir, bool allow_missing, Config **ret,
                ConfigErrors *errors) {
        return config_load_internal(path, dropin_dir, allow_missing, true, ret, errors);
}

int config_new_default(Config **ret) {
        return config_load_internal(NULL, NULL, true, false, ret, NULL);
}
