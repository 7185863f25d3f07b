/* SPDX-License-Identifier: MIT */
/* The pure half of request/install-cert: no files, no clock. */
#include "pki_renew.h"

#include <stdarg.h>

#include <json-c/json.h>
#include <openssl/objects.h>

#include "status.h"

static const char *const key_types[_RENEW_KEY_MAX] = {
        [RENEW_KEY_RSA2048] = "rsa2048",
        [RENEW_KEY_RSA3072] = "rsa3072",
        [RENEW_KEY_EC_P256] = "ec-p256",
        [RENEW_KEY_EC_P384] = "ec-p384",
};

const char *renew_key_type_to_string(RenewKeyType t) {
        return t < _RENEW_KEY_MAX ? key_types[t] : "unknown";
}

int renew_key_type_from_string(const char *s) {
        for (size_t i = 0; i < _RENEW_KEY_MAX; i++)
                if (streq(s, key_types[i]))
                        return (int) i;
        return -EINVAL;
}

const char *renew_key_type_label(RenewKeyType t) {
        static const char *const l[_RENEW_KEY_MAX] = {
                [RENEW_KEY_RSA2048] = "RSA-2048",
                [RENEW_KEY_RSA3072] = "RSA-3072",
                [RENEW_KEY_EC_P256] = "EC-P256",
                [RENEW_KEY_EC_P384] = "EC-P384",
        };
        return t < _RENEW_KEY_MAX ? l[t] : "unknown";
}

/* ---- subject ---------------------------------------------------------------- */

_printf_(2, 3) static int subject_error(char **error, const char *fmt, ...) {
        va_list ap;
        int n;
        va_start(ap, fmt);
        n = vasprintf(error, fmt, ap);
        va_end(ap);
        if (n < 0)
                *error = NULL;
        return -EINVAL;
}


int renew_subject_parse(const char *s, X509_NAME **ret, char **error) {
        X509_NAME *n = NULL;
        _cleanup_free_ char *buf = NULL;
        char *w, *attr;
        const char *p;

        *error = NULL;
        if (!s || s[0] != '/')
                return subject_error(error, "'%s' does not start with '/'; write it like /CN=agentic-vault-vm/O=YourOrg",
                                     strempty(s));
        buf = malloc(strlen(s) + 1);
        n = X509_NAME_new();
        if (!buf || !n) {
                X509_NAME_free(n);
                return -ENOMEM;
        }
        p = s + 1;
        while (*p) {
                char *eq;
                int nid;
                /* one "type=value", up to the next unescaped '/' */
                w = attr = buf;
                for (; *p && *p != '/'; p++) {
                        if (*p == '\\' && p[1])
                                p++;
                        *w++ = *p;
                }
                *w = 0;
                if (*p == '/')
                        p++;
                eq = strchr(attr, '=');
                if (!eq || eq == attr || !eq[1]) {
                        X509_NAME_free(n);
                        return subject_error(error, "'%s' is not TYPE=value (like CN=agentic-vault-vm)", attr);
                }
                *eq = 0;
                nid = OBJ_txt2nid(attr);
                if (nid == NID_undef) {
                        X509_NAME_free(n);
                        return subject_error(error, "'%s' is not an attribute type OpenSSL knows (CN, O, OU, C, ST, L ...)",
                                             attr);
                }
                if (X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (unsigned char *) eq + 1, -1, -1, 0) != 1) {
                        X509_NAME_free(n);
                        return subject_error(error, "the value of %s is not acceptable (a country must be two letters)",
                                             attr);
                }
        }
        if (X509_NAME_entry_count(n) == 0) {
                X509_NAME_free(n);
                return subject_error(error, "'%s' names no attribute; write it like /CN=agentic-vault-vm", s);
        }
        *ret = n;
        return 0;
}

char *renew_subject_format(const X509_NAME *n) {
        size_t cap = 64, len = 0;
        char *out = malloc(cap);

        if (!out)
                return NULL;
        out[0] = 0;
        for (int i = 0; i < X509_NAME_entry_count(n); i++) {
                const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
                unsigned char *v = NULL;
                int vl = ASN1_STRING_to_UTF8(&v, X509_NAME_ENTRY_get_data(e));
                const char *sn = OBJ_nid2sn(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)));
                size_t need;
                if (vl < 0) {
                        free(out);
                        return NULL;
                }
                need = len + strlen(sn) + 2 + 2 * (size_t) vl + 1;
                if (need > cap) {
                        char *q = realloc(out, cap = need * 2);
                        if (!q) {
                                OPENSSL_free(v);
                                free(out);
                                return NULL;
                        }
                        out = q;
                }
                len += (size_t) sprintf(out + len, "/%s=", sn);
                for (int k = 0; k < vl; k++) {
                        if (v[k] == '/' || v[k] == '\\')
                                out[len++] = '\\';
                        out[len++] = (char) v[k];
                }
                out[len] = 0;
                OPENSSL_free(v);
        }
        return out;
}

char *renew_sign_command(const char *csr_name, unsigned days) {
        char *s;
        /* the guide's Step 2 lines; -extfile because `openssl x509 -req`
         * drops the CSR's own extensions (no -copy_extensions) */
        if (asprintf(&s,
                     "cat > client-ext.cnf << 'EXTEOF'\n%sEXTEOF\n"
                     "openssl x509 -req -days %u -in %s -CA ca.pem -CAkey ca.key -CAcreateserial "
                     "-extfile client-ext.cnf -out client.crt\n"
                     "rm client-ext.cnf\n",
                     RENEW_EXTFILE, days, csr_name) < 0)
                return NULL;
        return s;
}

/* ---- records ---------------------------------------------------------------- */

static const char *get_s(json_object *o, const char *k) {
        json_object *v;
        return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v) : NULL;
}

static int dup_s(json_object *o, const char *k, bool required, char **ret) {
        const char *v = get_s(o, k);
        *ret = NULL;
        if (!v)
                return required ? -EBADMSG : 0;
        *ret = strdup(v);
        return *ret ? 0 : -ENOMEM;
}

static char *to_text(json_object *o) {
        char *s = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                                      JSON_C_TO_STRING_NOSLASHESCAPE)) : NULL;
        json_object_put(o);
        return s;
}

void pending_request_done(PendingRequest *p) {
        free(p->key_type);
        free(p->subject);
        free(p->key_sha256);
        *p = (PendingRequest) {};
}

char *pending_request_format(const PendingRequest *p) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "version", json_object_new_int(1));
        json_object_object_add(o, "created_usec", json_object_new_int64((int64_t) p->created));
        json_object_object_add(o, "key_type", json_string_or_null(p->key_type));
        json_object_object_add(o, "subject", json_string_or_null(p->subject));
        json_object_object_add(o, "key_sha256", json_string_or_null(p->key_sha256));
        return to_text(o);
}

int pending_request_parse(const char *text, PendingRequest *ret) {
        _cleanup_json_ json_object *o = json_tokener_parse(text);
        PendingRequest p = {};
        json_object *v;
        int r;

        *ret = (PendingRequest) {};
        if (!o || !json_object_is_type(o, json_type_object) ||
            !json_object_object_get_ex(o, "created_usec", &v) || !json_object_is_type(v, json_type_int))
                return -EBADMSG;
        p.created = (uint64_t) json_object_get_int64(v);
        if ((r = dup_s(o, "key_type", true, &p.key_type)) < 0 || (r = dup_s(o, "subject", true, &p.subject)) < 0 ||
            (r = dup_s(o, "key_sha256", true, &p.key_sha256)) < 0) {
                pending_request_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

void install_journal_done(InstallJournal *j) {
        free(j->source);
        free(j->cert_path);
        free(j->key_path);
        free(j->new_cert_sha256);
        free(j->new_key_sha256);
        free(j->old_cert_sha256);
        free(j->old_key_sha256);
        *j = (InstallJournal) {};
}

char *install_journal_format(const InstallJournal *j) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "version", json_object_new_int(1));
        json_object_object_add(o, "source", json_string_or_null(j->source));
        json_object_object_add(o, "cert_path", json_string_or_null(j->cert_path));
        json_object_object_add(o, "key_path", json_string_or_null(j->key_path));
        json_object_object_add(o, "new_cert_sha256", json_string_or_null(j->new_cert_sha256));
        json_object_object_add(o, "new_key_sha256", json_string_or_null(j->new_key_sha256));
        json_object_object_add(o, "old_cert_sha256", json_string_or_null(j->old_cert_sha256));
        json_object_object_add(o, "old_key_sha256", json_string_or_null(j->old_key_sha256));
        return to_text(o);
}

int install_journal_parse(const char *text, InstallJournal *ret) {
        _cleanup_json_ json_object *o = json_tokener_parse(text);
        InstallJournal j = {};
        int r;

        *ret = (InstallJournal) {};
        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if ((r = dup_s(o, "source", true, &j.source)) < 0 || (r = dup_s(o, "cert_path", true, &j.cert_path)) < 0 ||
            (r = dup_s(o, "key_path", true, &j.key_path)) < 0 ||
            (r = dup_s(o, "new_cert_sha256", true, &j.new_cert_sha256)) < 0 ||
            (r = dup_s(o, "new_key_sha256", true, &j.new_key_sha256)) < 0 ||
            (r = dup_s(o, "old_cert_sha256", false, &j.old_cert_sha256)) < 0 ||
            (r = dup_s(o, "old_key_sha256", false, &j.old_key_sha256)) < 0) {
                install_journal_done(&j);
                return r;
        }
        if (j.cert_path[0] != '/' || j.key_path[0] != '/') {
                install_journal_done(&j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

RecoverStep install_recover_step(const char *target, const char *staged, const char *new_sha, const char *old_sha) {
        if (target && streq(target, new_sha))
                return RECOVER_DONE;
        if (staged && streq(staged, new_sha))
                return RECOVER_RENAME;
        if ((!target && !old_sha) || (target && old_sha && streq(target, old_sha)))
                return RECOVER_OLD;
        return RECOVER_CONFLICT;
}
