/* SPDX-License-Identifier: MIT */
#include "certinfo.h"

#include "macro.h"

void cert_info_done(CertInfo *ci) {
        if (!ci)
                return;
        free(ci->path);
        free(ci->serial);
        free(ci->fingerprint_sha256);
        free(ci->subject);
        free(ci->issuer);
        free(ci->key_type);
        *ci = (CertInfo) {};
}

static int dup_field(const char *s, char **d) {
        if (!s) {
                *d = NULL;
                return 0;
        }
        *d = strdup(s);
        return *d ? 0 : -ENOMEM;
}

int cert_info_copy(const CertInfo *src, CertInfo *dst) {
        CertInfo c = *src;
        if (dup_field(src->path, &c.path) < 0 || dup_field(src->serial, &c.serial) < 0 ||
            dup_field(src->fingerprint_sha256, &c.fingerprint_sha256) < 0 ||
            dup_field(src->subject, &c.subject) < 0 || dup_field(src->issuer, &c.issuer) < 0 ||
            dup_field(src->key_type, &c.key_type) < 0) {
                cert_info_done(&c);
                return -ENOMEM;
        }
        *dst = c;
        return 0;
}
