/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "credentials.h"
#include "log.h"
#include "manager.h"
#include "pki_renew.h"
#include "status.h"
#include "strv.h"
#include "verbs.h"

/* monitoring-plugin convention, shared by status and check */
#define EXIT_UNKNOWN 3

/* Options every client verb understands. */
typedef struct ClientOptions {
        const char *socket;
        const char *config;
        bool json;
        bool help;
} ClientOptions;

static int parse_client_options(const char *verb, int argc, char **argv, bool allow_json, ClientOptions *o) {
        static const struct option opts[] = {
                { "socket", required_argument, NULL, 's' },
                { "config", required_argument, NULL, 'c' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+s:c:jh", opts, NULL)) >= 0)
                switch (c) {
                case 's':
                        o->socket = optarg;
                        break;
                case 'c':
                        o->config = optarg;
                        break;
                case 'j':
                        if (!allow_json)
                                return usage_error(verb, "'%s' has no --json option", verb);
                        o->json = true;
                        break;
                case 'h':
                        o->help = true;
                        break;
                default:
                        return usage_error(verb, "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        if (optind < argc)
                return usage_error(verb, "unexpected argument '%s'", argv[optind]);
        return 0;
}

static int call_agent(const ClientOptions *o, const char *command, json_object **result) {
        _cleanup_free_ char *path = control_socket_resolve(o->socket, o->config);
        _cleanup_free_ char *code = NULL, *message = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = control_call(path, command, NULL, 5000, result, &code, &message);
        if (r < 0) {
                fprintf(stderr, "agv-agent: %s\n", message ? message : strerror(-r));
                return r;
        }
        if (r == 0) {
                fprintf(stderr, "agv-agent: %s refused: %s (%s)\n", command, strna(message), strna(code));
                return -EPERM;
        }
        return 0;
}

static bool use_colour(void) {
        const char *t = getenv("TERM");
        return isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !(t && streq(t, "dumb"));
}

/* ---- verbs ----------------------------------------------------------- */

static int verb_status(int argc, char **argv) {
        ClientOptions o = {};
        _cleanup_json_ json_object *result = NULL;
        int r = parse_client_options("status", argc, argv, true, &o);
        Health h;

        if (r)
                return r;
        if (o.help) {
                printf("agv-agent status [--json] [--socket PATH] [--config PATH]\n\n"
                       "Show the running agent's health. Exit status like a monitoring plugin:\n"
                       "0 ok, 1 warning, 2 critical, 3 unknown (agent unreachable or bad reply).\n"
                       "  --json          print the raw status result (schema: docs/status.md)\n"
                       "  --socket PATH   control socket (default: [agent] socket of the config,\n"
                       "                  or $AGV_AGENT_SOCKET)\n"
                       "  --config PATH   config file to find the socket in\n");
                return 0;
        }
        if (call_agent(&o, "status", &result) < 0) {
                if (o.json)
                        printf("{\"state\":\"unknown\"}\n");
                else
                        printf("UNKNOWN: agent unreachable\n");
                return EXIT_UNKNOWN;
        }
        h = status_result_health(result);
        if (o.json)
                printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        else {
                _cleanup_free_ char *text = status_render_text(result, use_colour());
                fputs(text ? text : "", stdout);
        }
        return h == HEALTH_OK ? 0 : h == HEALTH_WARNING ? 1 : h == HEALTH_CRITICAL ? 2 : EXIT_UNKNOWN;
}

static int simple_client_verb(const char *verb, const char *command, const char *help, int argc, char **argv) {
        ClientOptions o = {};
        _cleanup_json_ json_object *result = NULL;
        int r = parse_client_options(verb, argc, argv, true, &o);

        if (r)
                return r;
        if (o.help) {
                printf("agv-agent %s [--json] [--socket PATH] [--config PATH]\n\n%s\n", verb, help);
                return 0;
        }
        if (call_agent(&o, command, &result) < 0)
                return 1;
        if (o.json)
                printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        else if (streq(command, "metrics")) {
                json_object *t;
                if (json_object_object_get_ex(result, "text", &t))
                        fputs(json_object_get_string(t), stdout);
        } else {
                json_object_object_foreach(result, k, v)
                        printf("%s: %s\n", k, v ? json_object_get_string(v) : "null");
        }
        return 0;
}

static int verb_reload(int argc, char **argv) {
        return simple_client_verb("reload", "reload",
                                  "Ask the running agent to re-read its configuration (like SIGHUP).\n"
                                  "An invalid configuration is refused whole; the old one stays active.\n"
                                  "Needs root, the agent's user or [agent] admin_group.",
                                  argc, argv);
}

static int verb_metrics(int argc, char **argv) {
        return simple_client_verb("metrics", "metrics",
                                  "Print the agent's Prometheus metrics (text exposition format).", argc, argv);
}

static int verb_restart_child(int argc, char **argv) {
        return simple_client_verb("restart-child", "restart-child",
                                  "Replace the signer child without downtime (or retry a failed one).\n"
                                  "Needs root, the agent's user or [agent] admin_group.",
                                  argc, argv);
}

static int verb_version(int argc, char **argv) {
        ClientOptions o = {};
        _cleanup_json_ json_object *result = NULL;
        int r = parse_client_options("version", argc, argv, false, &o);
        _cleanup_free_ char *path = NULL, *code = NULL, *message = NULL;

        if (r)
                return r;
        if (o.help) {
                printf("agv-agent version [--socket PATH] [--config PATH]\n\n"
                       "Print this program's version and the running agent's, if reachable.\n");
                return 0;
        }
        printf("agv-agent %s\n", AGV_VERSION);
        path = control_socket_resolve(o.socket, o.config);
        if (path && control_call(path, "version", NULL, 2000, &result, &code, &message) == 1) {
                json_object *v;
                if (json_object_object_get_ex(result, "version", &v))
                        printf("running agent %s\n", json_object_get_string(v));
        } else
                printf("running agent: not reachable\n");
        return 0;
}

static int verb_check_config(int argc, char **argv) {
        ClientOptions o = {};
        _cleanup_(config_freep) Config *c = NULL;
        ConfigErrors errors = {};
        int r = parse_client_options("check-config", argc, argv, false, &o);

        if (r)
                return r;
        if (o.help) {
                printf("agv-agent check-config [--config PATH]\n\n"
                       "Validate the configuration (main file and drop-ins) without starting\n"
                       "anything. Prints every problem as file:line: message; exit 0 valid, 1 not.\n");
                return 0;
        }
        r = config_load(o.config ? o.config : DEFAULT_CONFIG_PATH, NULL, false, &c, &errors);
        if (r < 0) {
                STRV_FOREACH(e, errors.lines)
                        fprintf(stderr, "%s\n", *e);
                if (!errors.lines)
                        fprintf(stderr, "agv-agent: cannot load the configuration: %s\n", strerror(-r));
                config_errors_done(&errors);
                return 1;
        }
        printf("%s: valid", c->path);
        if (strv_length(c->files) > 1)
                printf(" (with %zu drop-in%s)", strv_length(c->files) - 1, strv_length(c->files) == 2 ? "" : "s");
        printf("\n");
        return 0;
}

static int verb_run(int argc, char **argv) {
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "log-level", required_argument, NULL, 'l' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *config_path = DEFAULT_CONFIG_PATH, *level = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;
        Config *config = NULL;
        ConfigErrors errors = {};
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+c:l:h", opts, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'l':
                        level = optarg;
                        if (log_level_from_string(level) < 0)
                                return usage_error("run", "unknown log level '%s' (error, warning, notice, info, debug)", level);
                        break;
                case 'h':
                        printf("agv-agent run [--config PATH] [--log-level LEVEL]\n\n"
                               "Run the daemon in the foreground (systemd Type=notify). SIGHUP reloads,\n"
                               "SIGTERM/SIGINT stop gracefully.\n"
                               "  --config PATH      main config file (default %s;\n"
                               "                     drop-ins from PATH.d/*.conf)\n"
                               "  --log-level LEVEL  error, warning, notice, info or debug (overrides\n"
                               "                     [agent] log_level)\n",
                               DEFAULT_CONFIG_PATH);
                        return 0;
                default:
                        return usage_error("run", "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        if (optind < argc)
                return usage_error("run", "unexpected argument '%s'", argv[optind]);

        log_open_journal();
        r = config_load(config_path, NULL, false, &config, &errors);
        if (r < 0) {
                STRV_FOREACH(e, errors.lines)
                        log_error("%s", *e);
                config_errors_done(&errors);
                log_error("Not starting: the configuration is invalid (check with 'agv-agent check-config --config %s')",
                          config_path);
                return 1;
        }
        log_set_max_level(level ? log_level_from_string(level) : config->agent.log_level);
        /* a freshly started agent has no last good pair to keep: an install
         * killed between its renames is finished before the first pass */
        (void) pki_renew_recover_at_start(config);

        /* Reloads re-read this path; make it independent of the cwd. */
        _cleanup_free_ char *abs = realpath(config_path, NULL);
        r = manager_new(abs ? abs : config_path, config, &m);
        if (r < 0) {
                if (!m)
                        config_free(config);
                log_error_errno(r, "Cannot start");
                return 1;
        }
        r = manager_run(m);
        return r < 0 ? 1 : 0;
}

/* ---- dispatch -------------------------------------------------------- */

typedef struct Verb {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
} Verb;

static const Verb verbs[] = {
        { "run", verb_run, "run the daemon (normally started by systemd)" },
        { "status", verb_status, "show health; exit 0 ok, 1 warning, 2 critical, 3 unknown" },
        { "reload", verb_reload, "re-read the configuration" },
        { "version", verb_version, "show this program's and the running agent's version" },
        { "check-config", verb_check_config, "validate the configuration without starting" },
        { "check", verb_check, "assess certificate, key and permissions offline; exit 0/1/2" },
        { "metrics", verb_metrics, "print Prometheus metrics" },
        { "restart-child", verb_restart_child, "replace the signer child without downtime" },
        { "request", verb_request, "make a key and CSR on this machine for a renewal" },
        { "install-cert", verb_install_cert, "validate and install the signed certificate (or --rollback)" },
        { "mcp", verb_mcp, "bridge stdio to the agent's MCP socket (for MCP client configs)" },
        { "credential-process", verb_credential_process, "print AWS credentials for the SDKs' credential_process" },
};

static void help(void) {
        printf("agv-agent %s: keeps an IAM Roles Anywhere client certificate and the MCP\n"
               "signer beside it healthy.\n\nUsage: agv-agent COMMAND [OPTIONS]\n\nCommands:\n",
               AGV_VERSION);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-14s %s\n", verbs[i].name, verbs[i].summary);
        printf("\n'agv-agent COMMAND --help' describes a command. Documentation: agv-agent(8),\n"
               "agv-agent.conf(5).\n");
}

/* The module's one exported symbol: the executable (launcher.c) calls it with
 * the original argc/argv for everything but a cache-served credential-process. */
__attribute__((visibility("default"))) int agv_core_main(int argc, char **argv);
__attribute__((visibility("default"))) int agv_core_main(int argc, char **argv) {
        log_force_stderr(true);
        if (argc < 2) {
                help();
                return EXIT_USAGE;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                help();
                return 0;
        }
        if (streq(argv[1], "--version")) {
                printf("agv-agent %s\n", AGV_VERSION);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[1], verbs[i].name)) {
                        if (streq(verbs[i].name, "run"))
                                log_force_stderr(false);
                        return verbs[i].fn(argc - 1, argv + 1);
                }
        return usage_error(NULL, "unknown command '%s'", argv[1]);
}
