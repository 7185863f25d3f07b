/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* The parsed, validated configuration. Pure data: parsing reads the files
 * and resolves user and group names, nothing else. A Config is immutable once
 * parsed; a reload parses a new one and swaps it in whole, or not at all.
 *
 * Every key is listed in config.c's table and documented in
 * docs/agent.conf.md. */

typedef enum PermissionsPolicy {
        PERMISSIONS_ENFORCE,
        PERMISSIONS_AUDIT,
} PermissionsPolicy;

typedef enum OnRenewal {
        ON_RENEWAL_NONE,
        ON_RENEWAL_SIGNAL,
        ON_RENEWAL_RESTART,
} OnRenewal;

/* A resolved group: the name as written and its gid. name == NULL: unset. */
typedef struct ConfigGroup {
        char *name;
        gid_t gid;
} ConfigGroup;

typedef struct ConfigUser {
        char *name;
        uid_t uid;
        gid_t gid; /* the user's primary group */
} ConfigUser;

typedef struct AgentSection {
        char *socket;
        ConfigGroup socket_group;
        mode_t socket_mode;
        ConfigGroup admin_group;
        char *state_dir;
        int log_level;
        unsigned max_clients;
        unsigned max_clients_per_user; /* non-admin connections per uid */
        usec_t client_timeout;
} AgentSection;

typedef struct PkiSection {
        char *dir;
        char *certificate;  /* absolute, joined with dir when written relative */
        char *private_key;
        char *ca_bundle;    /* NULL: no CA bundle configured */
        ConfigGroup group;
        ConfigUser owner;   /* owner of every PKI file; root in production */
        PermissionsPolicy permissions;
        mode_t key_mode;
        mode_t cert_mode;
        mode_t ca_mode;
        mode_t dir_mode;
        usec_t rescan_interval;
        usec_t renewal_grace;
} PkiSection;

typedef struct ChildSection {
        char **command;     /* argv; NULL or empty: no child */
        ConfigUser user;    /* name == NULL: run as the agent's user */
        ConfigGroup group;
        char **environment; /* "KEY=value" */
        char *working_directory;
        mode_t umask;
        char *mcp_socket;
        usec_t ping_interval;
        usec_t ping_timeout;
        char *health_tool;  /* NULL: no periodic tool call */
        usec_t health_interval;
        char *restart_on_tool_failure_tool; /* "TOOL:N"; NULL: off */
        unsigned restart_on_tool_failure_count;
        usec_t stop_timeout;
        usec_t restart_backoff_max;
        unsigned start_limit;
        usec_t start_limit_interval;
        usec_t drain_timeout;
        usec_t request_timeout; /* a client request unanswered this long fails */
        OnRenewal on_renewal;
        int renewal_signal;
} ChildSection;

#define ALERT_THRESHOLDS_MAX 16
typedef struct AlertsSection {
        usec_t thresholds[ALERT_THRESHOLDS_MAX]; /* descending; sorted on parse */
        size_t n_thresholds;
        bool threshold_expired;                   /* "expired" in the list */
        usec_t warning_before;
        usec_t critical_before;
        char *webhook_url;
        char **webhook_headers; /* "Name: value" */
        char *webhook_secret_file;
        bool webhook_slack_text;
        char *alertmanager_url;
        usec_t alertmanager_resend;
        char **command;
        ConfigUser command_user;
        usec_t command_timeout;
        usec_t delivery_timeout;
        usec_t retry_max;
        unsigned queue_max;
        char *textfile;
        char *instance; /* NULL: hostname */
} AlertsSection;

typedef struct CredentialsSection {
        bool enabled;            /* the three ARNs are set */
        char *trust_anchor_arn;
        char *profile_arn;
        char *role_arn;
        char *region;            /* default: the trust anchor ARN's region */
        char *endpoint;          /* default: https://rolesanywhere.<region>.amazonaws.com */
        char *ca_file;           /* extra trust for the endpoint, NULL: system store */
        usec_t session_duration;
        char *role_session_name;
        char *intermediates;     /* PEM chain file, NULL: none */
        usec_t refresh_before;
        usec_t timeout;
        usec_t retry_max;
        char **allowed_users;    /* as written */
        char **allowed_groups;
        uid_t *allowed_uids;     /* resolved; default root + [child] user */
        size_t n_allowed_uids;
        gid_t *allowed_gids;
        size_t n_allowed_gids;
} CredentialsSection;

typedef struct Config {
        char *path;          /* main file */
        char **files;        /* every file read, in order */
        AgentSection agent;
        PkiSection pki;
        ChildSection child;
        AlertsSection alerts;
        CredentialsSection credentials;
        /* test-only: seconds added to the wall clock; see docs/agent.conf.md */
        int64_t test_clock_offset_sec;
        /* test-only: the credentials signing worker waits this long first */
        usec_t test_sign_delay;
} Config;

/* One error found while parsing, already formatted as "file:line: message". */
typedef struct ConfigErrors {
        char **lines;
} ConfigErrors;

/* Parse `path` then every *.conf in `dropin_dir` (lexical order). dropin_dir NULL:
 * "<path>.d". A missing main file is an error unless allow_missing.
 * Returns 0 and *ret, or -EINVAL with every problem in *errors. */
int config_load(const char *path, const char *dropin_dir, bool allow_missing, Config **ret,
                ConfigErrors *errors);
/* Defaults only, no file read (used by tests and `check` without config). */
int config_new_default(Config **ret);
Config *config_free(Config *c);
void config_errors_done(ConfigErrors *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

/* Parsing of typed values, exported for the unit tests and for CLI options.
 * Each returns 0 or -EINVAL/-ERANGE. */
int parse_duration(const char *s, usec_t *ret);      /* "90s" "5m" "12h" "30d" "1h30m" "250ms" */
int parse_mode(const char *s, mode_t *ret);          /* octal, 0..07777 */
int parse_boolean(const char *s);                    /* 1/0 or -EINVAL */
int parse_unsigned(const char *s, unsigned *ret);
int split_command_line(const char *s, char ***ret);  /* shell-like quoting, no expansion */
char *format_duration(usec_t u, char *buf, size_t n);/* "30d", "1h30m", "250ms" */

#define DEFAULT_CONFIG_PATH "/etc/agv-agent/agent.conf"
