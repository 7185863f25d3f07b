/* SPDX-License-Identifier: MIT */
#include "arn.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>

#include "strv.h"

/* ---- ARNs and endpoint -------------------------------------------------- */

bool ra_region_valid(const char *r) {
        /* eu-west-1, us-gov-west-1, cn-north-1, ap-southeast-3 ... */
        const char *p = r;
        int parts = 0;

        if (isempty(r) || strlen(r) > 32)
                return false;
        for (;;) {
                const char *s = p;
                while (islower((unsigned char) *p))
                        p++;
                if (p == s)
                        break;
                parts++;
                if (*p != '-')
                        return false;
                p++;
        }
        if (parts < 2 || !isdigit((unsigned char) *p))
                return false;
        while (isdigit((unsigned char) *p))
                p++;
        return *p == '\0';
}

static bool partition_valid(const char *s, size_t n) {
        /* aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b ... */
        if (n < 3 || !strneq(s, "aws", 3))
                return false;
        for (size_t i = 3; i < n; i++)
                if (!islower((unsigned char) s[i]) && s[i] != '-')
                        return false;
        return true;
}

static bool account_valid(const char *s, size_t n) {
        if (n != 12)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char) s[i]))
                        return false;
        return true;
}

const char *ra_arn_example(ArnKind kind) {
        switch (kind) {
        case ARN_TRUST_ANCHOR:
                return "arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID";
        case ARN_PROFILE:
                return "arn:aws:rolesanywhere:REGION:ACCOUNT:profile/ID";
        default:
                return "arn:aws:iam::ACCOUNT:role/NAME";
        }
}

int ra_arn_check(const char *arn, ArnKind kind, char **ret_region, const char **why) {
        const char *f[6];
        size_t len[6];
        const char *p = arn, *res;
        size_t i;

        if (isempty(arn)) {
                *why = "is empty";
                return -EINVAL;
        }
        if (strlen(arn) > 2048 || strpbrk(arn, " \t\r\n")) {
                *why = "contains white space or is too long";
                return -EINVAL;
        }
        /* arn:partition:service:region:account:resource (the resource may contain ':') */
        for (i = 0; i < 5; i++) {
                const char *c = strchr(p, ':');
                if (!c) {
                        *why = "is not an ARN";
                        return -EINVAL;
                }
                f[i] = p;
                len[i] = (size_t) (c - p);
                p = c + 1;
        }
        f[5] = p;
        len[5] = strlen(p);
        if (len[0] != 3 || !strneq(f[0], "arn", 3)) {
                *why = "does not start with arn:";
                return -EINVAL;
        }
        if (!partition_valid(f[1], len[1])) {
                *why = "has an unknown partition (aws, aws-cn, aws-us-gov ...)";
                return -EINVAL;
        }
        if (!account_valid(f[4], len[4])) {
                *why = "has an account id that is not 12 digits";
                return -EINVAL;
        }
        res = f[5];
        if (kind == ARN_ROLE) {
                if (len[2] != 3 || !strneq(f[2], "iam", 3)) {
                        *why = "is not an IAM ARN";
                        return -EINVAL;
                }
                if (len[3] != 0) {
                        *why = "has a region, but IAM ARNs have none";
                        return -EINVAL;
                }
                if (!strneq(res, "role/", 5) || len[5] <= 5 || res[len[5] - 1] == '/') {
                        *why = "is not a role ARN";
                        return -EINVAL;
                }
                for (const char *q = res + 5; *q; q++)
                        if (!isalnum((unsigned char) *q) && !strchr("+=,.@_-/", *q)) {
                                *why = "has a character not allowed in a role name or path";
                                return -EINVAL;
                        }
                if (ret_region)
                        *ret_region = NULL;
                return 0;
        }
        if (len[2] != 13 || !strneq(f[2], "rolesanywhere", 13)) {
                *why = "is not a Roles Anywhere ARN";
                return -EINVAL;
        }
        {
                _cleanup_free_ char *region = strndup(f[3], len[3]);
                const char *prefix = kind == ARN_TRUST_ANCHOR ? "trust-anchor/" : "profile/";
                size_t pl = strlen(prefix);
                if (!region)
                        return -ENOMEM;
                if (!ra_region_valid(region)) {
                        *why = "has no valid region (such as eu-west-1)";
                        return -EINVAL;
                }
                if (!strneq(res, prefix, pl) || len[5] == pl) {
                        *why = kind == ARN_TRUST_ANCHOR ? "is not a trust anchor ARN" : "is not a profile ARN";
                        return -EINVAL;
                }
                for (const char *q = res + pl; *q; q++)
                        if (!isalnum((unsigned char) *q) && *q != '-') {
                                *why = "has an id with characters other than letters, digits and '-'";
                                return -EINVAL;
                        }
                if (ret_region)
                        *ret_region = TAKE_PTR(region);
        }
        return 0;
}

const char *ra_arn_resource_id(const char *arn) {
        const char *s = arn ? strrchr(arn, '/') : NULL;
        return s && s[1] ? s + 1 : NULL;
}

bool ra_role_session_name_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n < 2 || n > 64)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("+=,.@_-", *s))
                        return false;
        return true;
}

/* Split scheme://authority/path: returns the authority span. */
static int url_authority(const char *url, const char **ret, size_t *ret_len, bool *https) {
        const char *p;
        if (strneq(url, "https://", 8)) {
                *https = true;
                p = url + 8;
        } else if (strneq(url, "http://", 7)) {
                *https = false;
                p = url + 7;
        } else
                return -EINVAL;
        *ret = p;
        *ret_len = strcspn(p, "/?#");
        return 0;
}

static bool host_is_loopback(const char *host) {
        struct in_addr a4;
        struct in6_addr a6;
        if (streq(host, "localhost"))
                return true;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

int ra_endpoint_check(const char *url, const char **why) {
        const char *a, *rest;
        size_t n;
        bool https;
        _cleanup_free_ char *host = NULL;

        if (isempty(url) || url_authority(url, &a, &n, &https) < 0) {
                *why = "is not an https:// URL";
                return -EINVAL;
        }
        if (strpbrk(url, " \t\r\n\"\\")) {
                *why = "contains white space, quotes or backslashes";
                return -EINVAL;
        }
        if (n == 0) {
                *why = "has no host";
                return -EINVAL;
        }
        if (memchr(a, '@', n)) {
                *why = "contains user info (user@host); the endpoint takes no credentials";
                return -EINVAL;
        }
        rest = a + n;
        if (*rest && !streq(rest, "/")) {
                *why = "has a path, query or fragment; write only scheme://host[:port]";
                return -EINVAL;
        }
        if (https)
                return 0;
        /* plain http only where nobody else can listen in: loopback */
        if (a[0] == '[') {
                const char *e = memchr(a, ']', n);
                host = e ? strndup(a + 1, (size_t) (e - a - 1)) : NULL;
        } else {
                const char *c = memchr(a, ':', n);
                host = strndup(a, c ? (size_t) (c - a) : n);
        }
        if (!host || !host_is_loopback(host)) {
                *why = "uses http://, which is accepted only for a loopback address (tests); use https://";
                return -EINVAL;
        }
        return 0;
}

char *ra_endpoint_default(const char *region) {
        char *s;
        if (asprintf(&s, "https://rolesanywhere.%s.amazonaws.com", region) < 0)
                return NULL;
        return s;
}

char *ra_endpoint_authority(const char *url) {
        const char *a;
        size_t n;
        bool https;
        char *s;
        if (url_authority(url, &a, &n, &https) < 0)
                return NULL;
        s = strndup(a, n);
        if (s)
                for (char *q = s; *q; q++)
                        *q = (char) tolower((unsigned char) *q);
        return s;
}
