/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* IAM Roles Anywhere names, pure string checks: ARN syntax, regions, the
 * endpoint URL, the role session name. Apart from rolesanywhere.c (which
 * needs OpenSSL) so config.c and the lean credential-process executable can
 * validate without linking libcrypto. */

typedef enum ArnKind {
        ARN_TRUST_ANCHOR, /* arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID */
        ARN_PROFILE,      /* arn:aws:rolesanywhere:REGION:ACCOUNT:profile/ID */
        ARN_ROLE,         /* arn:aws:iam::ACCOUNT:role/[PATH/]NAME */
} ArnKind;

/* 0, or -EINVAL with *why (static) saying what is wrong. ret_region: the
 * region of a rolesanywhere ARN (malloc'd), may be NULL. */
int ra_arn_check(const char *arn, ArnKind kind, char **ret_region, const char **why);
/* The resource id after "trust-anchor/" or "profile/" (borrowed), or NULL. */
const char *ra_arn_resource_id(const char *arn);
const char *ra_arn_example(ArnKind kind);
bool ra_region_valid(const char *region);
/* https://, or http:// to a loopback host only; no path but "/", no query,
 * no user info. 0 or -EINVAL with *why. */
int ra_endpoint_check(const char *url, const char **why);
char *ra_endpoint_default(const char *region);
/* "host[:port]" exactly as written in the URL (the Host header). */
char *ra_endpoint_authority(const char *url);
bool ra_role_session_name_valid(const char *s);
