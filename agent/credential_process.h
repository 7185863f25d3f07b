/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "macro.h"

/* `agv-agent credential-process`, the half both ELF files share: its
 * arguments and the cache path. Linked into the lean executable, so it uses
 * libc and json-c only (no OpenSSL, no libsystemd): launcher.c serves a
 * successful cache answer with it; the full verb (credentials_cli.c) parses
 * the same arguments with it and does everything else. */

typedef struct CpOptions {
        const char *socket, *config;
        const char *certificate, *private_key, *intermediates;
        const char *trust_anchor_arn, *profile_arn, *role_arn, *region, *endpoint, *role_session_name, *ca_file;
        unsigned session_duration;
        bool quiet; /* the cache path: a usage error is the full verb's to print */
} CpOptions;

/* The certificate file's bytes sent to the agent (base64) so it can compare
 * them with the certificate it holds; a larger file is left to the full verb
 * (which sends its SHA-256). Stays well inside the control line limit. */
#define CP_CERTIFICATE_MAX (32 * 1024)

/* 0, or EXIT_USAGE (printed unless o->quiet). *help: --help was given. */
int cp_parse_args(int argc, char **argv, CpOptions *o, bool *help);
/* The helper's flags, all or none. *direct: they were given. 0 or EXIT_USAGE. */
int cp_check_identity_flags(const CpOptions *o, bool *direct);
/* The ARNs of the helper's flags into a `credentials` request. */
void cp_identity_args(const CpOptions *o, json_object *args);
/* The file as base64, at most CP_CERTIFICATE_MAX bytes of a regular file. */
int cp_read_base64(const char *path, size_t max, char **ret);
char *cp_base64(const void *data, size_t len);
/* The credential_process JSON, one line on stdout (the printed copy wiped). */
void cp_print_reply(json_object *result);

/* The cache path: 0 when the agent answered and the JSON is printed; else a
 * negative errno and nothing printed (the caller hands the whole verb to
 * the full implementation, which redoes it and says what went wrong). */
int credential_process_cached(int argc, char **argv);
