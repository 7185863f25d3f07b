/* SPDX-License-Identifier: MIT */
#include "credential_process.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "arn.h"
#include "client.h"
#include "config.h"
#include "fileio.h"
#include "strv.h"
#include "verbs.h"

/* The cache path's whole budget, retries of too_many_clients included; past
 * it the full verb asks again with its own 30 s deadline. */
#define CP_CACHE_BUDGET_MS 5000

static int cp_usage(const CpOptions *o, const char *fmt, ...) _printf_(2, 3);
static int cp_usage(const CpOptions *o, const char *fmt, ...) {
        va_list ap;
        if (o->quiet)
                return EXIT_USAGE;
        va_start(ap, fmt);
        usage_errorv("credential-process", fmt, ap);
        va_end(ap);
        return EXIT_USAGE;
}

int cp_parse_args(int argc, char **argv, CpOptions *o, bool *help) {
        enum {
                O_CERT = 0x100, O_KEY, O_TA, O_PROFILE, O_ROLE, O_REGION, O_ENDPOINT, O_DURATION, O_INTER, O_RSN, O_CA,
                O_CONFIG, O_SOCKET,
        };
        static const struct option opts[] = {
                { "socket", required_argument, NULL, O_SOCKET },
                { "config", required_argument, NULL, O_CONFIG },
                { "certificate", required_argument, NULL, O_CERT },
                { "private-key", required_argument, NULL, O_KEY },
                { "trust-anchor-arn", required_argument, NULL, O_TA },
                { "profile-arn", required_argument, NULL, O_PROFILE },
                { "role-arn", required_argument, NULL, O_ROLE },
                { "region", required_argument, NULL, O_REGION },
                { "endpoint", required_argument, NULL, O_ENDPOINT },
                { "session-duration", required_argument, NULL, O_DURATION },
                { "intermediates", required_argument, NULL, O_INTER },
                { "role-session-name", required_argument, NULL, O_RSN },
                { "ca-file", required_argument, NULL, O_CA },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) >= 0)
                switch (c) {
                case O_SOCKET: o->socket = optarg; break;
                case O_CONFIG: o->config = optarg; break;
                case O_CERT: o->certificate = optarg; break;
                case O_KEY: o->private_key = optarg; break;
                case O_TA: o->trust_anchor_arn = optarg; break;
                case O_PROFILE: o->profile_arn = optarg; break;
                case O_ROLE: o->role_arn = optarg; break;
                case O_REGION: o->region = optarg; break;
                case O_ENDPOINT: o->endpoint = optarg; break;
                case O_INTER: o->intermediates = optarg; break;
                case O_RSN: o->role_session_name = optarg; break;
                case O_CA: o->ca_file = optarg; break;
                case O_DURATION:
                        if (parse_unsigned(optarg, &o->session_duration) < 0 || o->session_duration < 900 ||
                            o->session_duration > 43200)
                                return cp_usage(o, "--session-duration needs seconds from 900 to 43200, not '%s'", optarg);
                        break;
                case 'h':
                        *help = true;
                        return 0;
                default:
                        return cp_usage(o, "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        if (optind < argc)
                return cp_usage(o, "unexpected argument '%s'", argv[optind]);
        return 0;
}

/* The helper's flags: all-or-nothing like aws_signing_helper, checked here
 * so a typo is a usage error, not an AWS round trip. */
int cp_check_identity_flags(const CpOptions *o, bool *direct) {
        const char *why;
        int n = !!o->certificate + !!o->private_key + !!o->trust_anchor_arn + !!o->profile_arn + !!o->role_arn;

        *direct = n > 0;
        if (n == 0) {
                if (o->region || o->endpoint || o->session_duration || o->intermediates || o->role_session_name || o->ca_file)
                        return cp_usage(o, "%s", "--region, --endpoint, --session-duration, --intermediates, --role-session-name "
                                                 "and --ca-file need --certificate, --private-key, --trust-anchor-arn, "
                                                 "--profile-arn and --role-arn");
                return 0;
        }
        if (n < 5)
                return cp_usage(o, "%s", "--certificate, --private-key, --trust-anchor-arn, --profile-arn and --role-arn go together");
        if (ra_arn_check(o->trust_anchor_arn, ARN_TRUST_ANCHOR, NULL, &why) < 0)
                return cp_usage(o, "--trust-anchor-arn %s: %s", o->trust_anchor_arn, why);
        if (ra_arn_check(o->profile_arn, ARN_PROFILE, NULL, &why) < 0)
                return cp_usage(o, "--profile-arn %s: %s", o->profile_arn, why);
        if (ra_arn_check(o->role_arn, ARN_ROLE, NULL, &why) < 0)
                return cp_usage(o, "--role-arn %s: %s", o->role_arn, why);
        if (o->region && !ra_region_valid(o->region))
                return cp_usage(o, "--region '%s' is not a region such as eu-west-1", o->region);
        if (o->endpoint && ra_endpoint_check(o->endpoint, &why) < 0)
                return cp_usage(o, "--endpoint %s %s", o->endpoint, why);
        if (o->role_session_name && !ra_role_session_name_valid(o->role_session_name))
                return cp_usage(o, "--role-session-name '%s' must be 2-64 of letters, digits and +=,.@_-", o->role_session_name);
        return 0;
}

void cp_identity_args(const CpOptions *o, json_object *args) {
        json_object_object_add(args, "trust_anchor_arn", json_object_new_string(o->trust_anchor_arn));
        json_object_object_add(args, "profile_arn", json_object_new_string(o->profile_arn));
        json_object_object_add(args, "role_arn", json_object_new_string(o->role_arn));
}

char *cp_base64(const void *data, size_t len) {
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *d = data;
        char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i += 3) {
                unsigned v = (unsigned) d[i] << 16 | (i + 1 < len ? (unsigned) d[i + 1] << 8 : 0) |
                             (i + 2 < len ? d[i + 2] : 0);
                *p++ = tab[v >> 18 & 63];
                *p++ = tab[v >> 12 & 63];
                *p++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
                *p++ = i + 2 < len ? tab[v & 63] : '=';
        }
        *p = '\0';
        return out;
}

int cp_read_base64(const char *path, size_t max, char **ret) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = read_regular_file(path, max, &data, &len);

        if (r < 0)
                return r;
        *ret = cp_base64(data, len);
        return *ret ? 0 : -ENOMEM;
}

void cp_print_reply(json_object *result) {
        const char *s = json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        explicit_bzero((char *) s, strlen(s));
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int credential_process_cached(int argc, char **argv) {
        CpOptions o = { .quiet = true };
        json_object *args = NULL;
        _cleanup_free_ char *path = NULL;
        int64_t deadline = now_ms() + CP_CACHE_BUDGET_MS;
        bool help = false, direct = false;
        int r;

        if (cp_parse_args(argc, argv, &o, &help) != 0 || help || cp_check_identity_flags(&o, &direct) != 0)
                return -EINVAL;
        args = json_object_new_object();
        if (!args)
                return -ENOMEM;
        if (direct) {
                /* the certificate is public; the agent parses it (this file
                 * links no crypto) and compares it with the one it holds */
                _cleanup_free_ char *b64 = NULL;
                r = cp_read_base64(o.certificate, CP_CERTIFICATE_MAX, &b64);
                if (r < 0)
                        goto out;
                cp_identity_args(&o, args);
                json_object_object_add(args, "certificate", json_object_new_string(b64));
        }
        path = control_socket_resolve(o.socket, o.config);
        if (!path) {
                r = -ENOMEM;
                goto out;
        }
        for (;;) {
                _cleanup_free_ char *code = NULL, *message = NULL;
                json_object *result = NULL;
                int64_t left = deadline - now_ms();

                r = control_call(path, "credentials", args, (int) MAX(left, 1), &result, &code, &message);
                if (r == 1) {
                        cp_print_reply(result);
                        json_object_put(result);
                        r = 0;
                        break;
                }
                if (r == 0 && streq(strempty(code), "too_many_clients") && now_ms() < deadline) {
                        /* a burst of SDK processes at once: the agent caps connections */
                        (void) usleep((useconds_t) (5000 + now_ms() % 20 * 1000));
                        continue;
                }
                r = r < 0 ? r : -EAGAIN;
                break;
        }
out:
        json_object_put(args);
        return r;
}
