/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "http.h"
#include "module.h"
#include "rolesanywhere.h"

/* The credentials module: trades the active certificate for AWS
 * credentials (IAM Roles Anywhere CreateSession) on the event loop, keeps
 * them fresh in memory, serves them over the control socket (`credentials`)
 * and reports and alerts on the exchange. See docs/credentials.md. */
extern const ModuleOps credentials_module;

/* Largest reply body read from the endpoint. */
#define CREDENTIALS_REPLY_MAX ((size_t) 256 * 1024)
/* The `credentials` command's `certificate` argument (base64 of a
 * certificate file; credential-process sends at most 32 KiB of file). */
#define CREDENTIALS_CERTIFICATE_B64_MAX (48 * 1024)

/* The parameters of one exchange from a [credentials] section. */
RaParams credentials_params(const CredentialsSection *c, uint64_t now);
/* Read a small regular file (<= 1 MiB; -EFBIG otherwise), NUL-terminated. */
int credentials_read_file(const char *path, char **ret, size_t *len);
/* Read the [credentials] intermediates file into a stack (NULL path: *ret
 * NULL). 0 or a negative errno with *why (malloc'd). */
int credentials_load_intermediates(const char *path, STACK_OF(X509) **ret, char **why);
/* The identity arguments of a `credentials` request (trust_anchor_arn,
 * profile_arn, role_arn; with valid credentials also certificate_sha256 and
 * certificate, the client's certificate file in base64) against what the
 * agent holds. 0: they match or name nothing; -EXDEV identity_mismatch,
 * -EINVAL bad_certificate (*code, *msg set); -ENOMEM. Pure: the fuzz
 * harness fuzz_credentials_args drives it. */
int credentials_request_identity(json_object *req, const CredentialsSection *cs, bool have_valid,
                                 const char *held_fingerprint, char **code, char **msg);
/* One finished transfer to credentials or an error (http.c callback args). */
int credentials_parse_reply(HttpRequest *r, int error, long status, const char *message, RaCredentials *creds,
                            RaError *err);
/* 1 synchronised, 0 not, -1 unknown (adjtimex, else timesyncd's flag file). */
int credentials_clock_synced(void);

/* The AWS config file the agent writes for the supervised signer, or NULL
 * when [credentials] is off or the [child] brings its own AWS settings. */
const char *credentials_child_aws_config(Manager *m);
/* The [child] environment already chooses AWS credentials or a profile. */
bool credentials_child_has_aws_profile(char *const *environment);

/* CLI verbs (credentials_cli.c). */
int verb_credential_process(int argc, char **argv);
/* `check --online`: one exchange with the configured files. Fills *result
 * (JSON) and prints text unless json; returns 0 ok or 2 failed. */
int credentials_check_online(const Config *cfg, bool json, json_object **result);
