/* SPDX-License-Identifier: MIT */
#include "rolesanywhere.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <strings.h>
#include <time.h>

#include "protocol.h"
#include "status.h"
#include "strv.h"

/* ---- the signed request ------------------------------------------------- */

void ra_request_done(RaRequest *r) {
        free(r->url);
        strv_free(r->headers);
        free(r->body);
        free(r->canonical_request);
        free(r->string_to_sign);
        free(r->serial);
        *r = (RaRequest) {};
}

const char *ra_key_algorithm(EVP_PKEY *key, const char **why) {
        int id = EVP_PKEY_get_base_id(key);

        if (id == EVP_PKEY_RSA) {
                if (EVP_PKEY_get_bits(key) < 2048) {
                        *why = "RSA keys must have at least 2048 bits for Roles Anywhere";
                        return NULL;
                }
                return "AWS4-X509-RSA-SHA256";
        }
        if (id == EVP_PKEY_EC) {
                char curve[64] = "";
                size_t l = 0;
                if (!EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof(curve), &l) ||
                    !(streq(curve, "prime256v1") || streq(curve, "P-256") || streq(curve, "secp384r1") ||
                      streq(curve, "P-384"))) {
                        *why = "EC keys must be on curve P-256 or P-384 for Roles Anywhere";
                        return NULL;
                }
                return "AWS4-X509-ECDSA-SHA256";
        }
        *why = "the key is neither RSA nor EC; Roles Anywhere accepts RSA 2048+ and EC P-256/P-384";
        return NULL;
}

char *ra_uri_encode(const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        Buf b = {};
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
                        buf_append(&b, (const char *) p, 1);
                else {
                        char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
                        buf_append(&b, e, 3);
                }
        }
        if (!b.data)
                buf_append(&b, "", 0);
        return buf_steal(&b);
}

void ra_amz_date(uint64_t now, char buf[static 17]) {
        time_t t = (time_t) (now / USEC_PER_SEC);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hex_encode(const unsigned char *d, size_t n, char *out) {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex[d[i] >> 4];
                out[2 * i + 1] = hex[d[i] & 15];
        }
        out[2 * n] = '\0';
}

static int sha256_hex(const void *data, size_t len, char out[static 65]) {
        unsigned char md[32];
        unsigned int l = 0;
        if (!EVP_Digest(data, len, md, &l, EVP_sha256(), NULL) || l != 32)
                return -EIO;
        hex_encode(md, 32, out);
        return 0;
}

static char *der_base64(X509 *x) {
        unsigned char *der = NULL;
        int n = i2d_X509(x, &der);
        char *out;

        if (n <= 0)
                return NULL;
        out = malloc((size_t) (4 * ((n + 2) / 3) + 1));
        if (out)
                EVP_EncodeBlock((unsigned char *) out, der, n);
        OPENSSL_free(der);
        return out;
}

static char *serial_decimal(X509 *x) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *d, *s;
        if (!bn)
                return NULL;
        d = BN_bn2dec(bn);
        BN_free(bn);
        if (!d)
                return NULL;
        s = strdup(d);
        OPENSSL_free(d);
        return s;
}

static char *json_escape_body(const RaParams *p) {
        _cleanup_json_ json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "durationSeconds", json_object_new_int64(p->duration_seconds));
        if (p->role_session_name)
                json_object_object_add(o, "roleSessionName", json_object_new_string(p->role_session_name));
        return strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

int ra_request_build(const RaParams *p, X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key, RaRequest *ret,
                     const char **why) {
        RaRequest r = {};
        char date[17], body_hash[65], cr_hash[65];
        _cleanup_free_ char *host = NULL, *x509 = NULL, *x509_chain = NULL, *q_profile = NULL, *q_role = NULL,
                            *q_anchor = NULL, *query = NULL, *scope = NULL, *sig_hex = NULL;
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        EVP_MD_CTX *md = NULL;
        Buf b = {};
        int k = -ENOMEM;

        *ret = (RaRequest) {};
        r.algorithm = ra_key_algorithm(key, why);
        if (!r.algorithm)
                return -EINVAL;
        host = ra_endpoint_authority(p->endpoint);
        x509 = der_base64(cert);
        r.serial = serial_decimal(cert);
        if (!host || !x509 || !r.serial)
                goto fail;
        if (chain && sk_X509_num(chain) > 0) {
                Buf c = {};
                for (int i = 0; i < sk_X509_num(chain); i++) {
                        _cleanup_free_ char *one = der_base64(sk_X509_value(chain, i));
                        if (!one) {
                                buf_done(&c);
                                goto fail;
                        }
                        if (i > 0)
                                buf_puts(&c, ",");
                        buf_puts(&c, one);
                }
                x509_chain = buf_steal(&c);
                if (!x509_chain)
                        goto fail;
        }
        ra_amz_date(p->now, date);

        /* the query: parameter names sorted (profileArn < roleArn < trustAnchorArn) */
        q_profile = ra_uri_encode(p->profile_arn);
        q_role = ra_uri_encode(p->role_arn);
        q_anchor = ra_uri_encode(p->trust_anchor_arn);
        if (!q_profile || !q_role || !q_anchor)
                goto fail;
        if (asprintf(&query, "profileArn=%s&roleArn=%s&trustAnchorArn=%s", q_profile, q_role, q_anchor) < 0) {
                query = NULL;
                goto fail;
        }
        r.body = json_escape_body(p);
        if (!r.body || sha256_hex(r.body, strlen(r.body), body_hash) < 0)
                goto fail;

        /* canonical request: method, URI, query, headers (lowercase, sorted),
         * blank line, signed header names, payload hash */
        buf_printf(&b, "POST\n/sessions\n%s\n", query);
        buf_printf(&b, "content-type:application/json\nhost:%s\nx-amz-date:%s\nx-amz-x509:%s\n", host, date, x509);
        if (x509_chain)
                buf_printf(&b, "x-amz-x509-chain:%s\n", x509_chain);
        buf_printf(&b, "\n%s\n%s", x509_chain ? "content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain"
                                               : "content-type;host;x-amz-date;x-amz-x509",
                   body_hash);
        r.canonical_request = buf_steal(&b);
        if (!r.canonical_request || sha256_hex(r.canonical_request, strlen(r.canonical_request), cr_hash) < 0)
                goto fail;

        if (asprintf(&scope, "%.8s/%s/rolesanywhere/aws4_request", date, p->region) < 0) {
                scope = NULL;
                goto fail;
        }
        if (asprintf(&r.string_to_sign, "%s\n%s\n%s\n%s", r.algorithm, date, scope, cr_hash) < 0) {
                r.string_to_sign = NULL;
                goto fail;
        }

        /* RSA: PKCS#1 v1.5 over SHA-256; ECDSA: SHA-256, DER (r,s) */
        md = EVP_MD_CTX_new();
        if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *) r.string_to_sign, strlen(r.string_to_sign)) != 1 ||
            !(sig = OPENSSL_malloc(sig_len)) ||
            EVP_DigestSign(md, sig, &sig_len, (const unsigned char *) r.string_to_sign, strlen(r.string_to_sign)) != 1) {
                k = -EIO;
                *why = "signing with the private key failed";
                goto fail;
        }
        sig_hex = malloc(2 * sig_len + 1);
        if (!sig_hex)
                goto fail;
        hex_encode(sig, sig_len, sig_hex);

        {
                size_t el = strlen(p->endpoint);
                if (el > 0 && p->endpoint[el - 1] == '/')
                        el--;
                if (asprintf(&r.url, "%.*s/sessions?%s", (int) el, p->endpoint, query) < 0) {
                        r.url = NULL;
                        goto fail;
                }
        }
        if (strv_extend(&r.headers, "Content-Type: application/json") < 0 ||
            strv_extendf(&r.headers, "Host: %s", host) < 0 || strv_extendf(&r.headers, "X-Amz-Date: %s", date) < 0 ||
            strv_extendf(&r.headers, "X-Amz-X509: %s", x509) < 0 ||
            (x509_chain && strv_extendf(&r.headers, "X-Amz-X509-Chain: %s", x509_chain) < 0) ||
            strv_extendf(&r.headers, "Authorization: %s Credential=%s/%s, SignedHeaders=%s, Signature=%s", r.algorithm,
                         r.serial, scope,
                         x509_chain ? "content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain"
                                    : "content-type;host;x-amz-date;x-amz-x509",
                         sig_hex) < 0)
                goto fail;
        EVP_MD_CTX_free(md);
        OPENSSL_free(sig);
        *ret = r;
        return 0;
fail:
        buf_done(&b);
        EVP_MD_CTX_free(md);
        OPENSSL_free(sig);
        ra_request_done(&r);
        return k;
}

/* ---- the reply ---------------------------------------------------------- */

void ra_secret_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

void ra_credentials_done(RaCredentials *c) {
        ra_secret_free(c->access_key_id);
        ra_secret_free(c->secret_access_key);
        ra_secret_free(c->session_token);
        *c = (RaCredentials) {};
}

int ra_credentials_copy(const RaCredentials *src, RaCredentials *dst) {
        *dst = (RaCredentials) { .expiration = src->expiration };
        dst->access_key_id = strdup(src->access_key_id);
        dst->secret_access_key = strdup(src->secret_access_key);
        dst->session_token = strdup(src->session_token);
        if (!dst->access_key_id || !dst->secret_access_key || !dst->session_token) {
                ra_credentials_done(dst);
                return -ENOMEM;
        }
        return 0;
}

/* JSON string body without json-c, so no unzeroed copy of a secret is
 * left behind in json-c's buffers. */
static void json_put_string(Buf *b, const char *s) {
        buf_puts(b, "\"");
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\') {
                        char e[2] = { '\\', (char) *p };
                        buf_append(b, e, 2);
                } else if (*p < 0x20)
                        buf_printf(b, "\\u%04x", *p);
                else
                        buf_append(b, (const char *) p, 1);
        }
        buf_puts(b, "\"");
}

static char *format_time_z(uint64_t usec, char *buf, size_t n) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return buf;
}

char *ra_credentials_process_json(const RaCredentials *c) {
        Buf b = {};
        char t[32];
        char *out;

        /* sized up front: a realloc would leave a copy of the secret behind */
        b.cap = strlen(c->access_key_id) + 2 * strlen(c->secret_access_key) + 2 * strlen(c->session_token) + 256;
        b.data = malloc(b.cap);
        if (!b.data)
                return NULL;
        b.data[0] = '\0';
        buf_puts(&b, "{\"Version\":1,\"AccessKeyId\":");
        json_put_string(&b, c->access_key_id);
        buf_puts(&b, ",\"SecretAccessKey\":");
        json_put_string(&b, c->secret_access_key);
        buf_puts(&b, ",\"SessionToken\":");
        json_put_string(&b, c->session_token);
        buf_printf(&b, ",\"Expiration\":\"%s\"}", format_time_z(c->expiration, t, sizeof(t)));
        if (b.oom) {
                if (b.data)
                        explicit_bzero(b.data, b.cap);
                buf_done(&b);
                return NULL;
        }
        out = b.data;
        return out;
}

void ra_error_done(RaError *e) {
        free(e->aws_type);
        free(e->message);
        *e = (RaError) {};
}

static const char *const kind_names[_RA_ERR_MAX] = {
        [RA_ERR_NONE] = "none",
        [RA_ERR_TRUST_ANCHOR_DISABLED] = "trust_anchor_disabled",
        [RA_ERR_PROFILE_DISABLED] = "profile_disabled",
        [RA_ERR_UNTRUSTED_CERTIFICATE] = "untrusted_certificate",
        [RA_ERR_BASIC_CONSTRAINTS] = "ca_basic_constraints",
        [RA_ERR_CLOCK_SKEW] = "clock_skew",
        [RA_ERR_ACCESS_DENIED] = "access_denied",
        [RA_ERR_BAD_SIGNATURE] = "signature_invalid",
        [RA_ERR_NOT_FOUND] = "not_found",
        [RA_ERR_VALIDATION] = "validation",
        [RA_ERR_THROTTLED] = "throttled",
        [RA_ERR_SERVER] = "server_error",
        [RA_ERR_HTTP] = "http_error",
        [RA_ERR_BAD_RESPONSE] = "bad_response",
        [RA_ERR_DNS] = "dns_failure",
        [RA_ERR_CONNECT] = "connect_failure",
        [RA_ERR_TLS] = "tls_failure",
        [RA_ERR_TIMEOUT] = "timeout",
        [RA_ERR_NETWORK] = "network_failure",
        [RA_ERR_NO_CERTIFICATE] = "no_certificate",
};

const char *ra_error_kind_to_string(RaErrorKind k) {
        return k < _RA_ERR_MAX ? kind_names[k] : "unknown";
}

RaErrorClass ra_error_class(RaErrorKind k) {
        switch (k) {
        case RA_ERR_NONE:
                return RA_CLASS_OK;
        case RA_ERR_TRUST_ANCHOR_DISABLED:
        case RA_ERR_PROFILE_DISABLED:
        case RA_ERR_UNTRUSTED_CERTIFICATE:
        case RA_ERR_BASIC_CONSTRAINTS:
        case RA_ERR_CLOCK_SKEW:
        case RA_ERR_ACCESS_DENIED:
        case RA_ERR_BAD_SIGNATURE:
        case RA_ERR_NOT_FOUND:
        case RA_ERR_VALIDATION:
        case RA_ERR_HTTP:
                return RA_CLASS_REJECTED;
        case RA_ERR_NO_CERTIFICATE:
                return RA_CLASS_LOCAL;
        default:
                return RA_CLASS_NETWORK;
        }
}

void ra_error_set(RaError *e, RaErrorKind kind, const char *message) {
        ra_error_done(e);
        e->kind = kind;
        e->message = message ? strdup(message) : NULL;
}

char *ra_error_fix(const RaError *e, const char *trust_anchor_arn, const char *profile_arn, int clock_synced) {
        const char *ta = strna(ra_arn_resource_id(trust_anchor_arn)), *pr = strna(ra_arn_resource_id(profile_arn));
        char *s = NULL;
        int r = -1;

        switch (e->kind) {
        case RA_ERR_NONE:
                return strdup("");
        case RA_ERR_TRUST_ANCHOR_DISABLED:
                r = asprintf(&s, "enable it: aws rolesanywhere enable-trust-anchor --trust-anchor-id %s", ta);
                break;
        case RA_ERR_PROFILE_DISABLED:
                r = asprintf(&s, "enable it: aws rolesanywhere enable-profile --profile-id %s", pr);
                break;
        case RA_ERR_UNTRUSTED_CERTIFICATE:
                r = asprintf(&s, "the trust anchor %s does not accept this certificate: it must be issued by the CA "
                                 "registered in the trust anchor (or chain to it through [credentials] intermediates) and "
                                 "carry keyUsage digitalSignature and extendedKeyUsage clientAuth; re-sign it with "
                                 "-extfile holding those extensions",
                             ta);
                break;
        case RA_ERR_BASIC_CONSTRAINTS:
                r = asprintf(&s, "the CA certificate lacks CA:TRUE; regenerate the CA with "
                                 "-addext \"basicConstraints=critical,CA:TRUE\" and update the trust anchor");
                break;
        case RA_ERR_CLOCK_SKEW:
                r = asprintf(&s, "the system clock is off by more than AWS allows (5 minutes); %s",
                             clock_synced == 1   ? "the clock reports itself synchronised, so check the time zone "
                                                   "and the NTP servers (timedatectl timesync-status)"
                             : clock_synced == 0 ? "the clock is NOT synchronised: enable NTP (timedatectl set-ntp true) "
                                                   "and check systemd-timesyncd or chrony"
                                                 : "check 'timedatectl' and enable NTP (timedatectl set-ntp true)");
                break;
        case RA_ERR_ACCESS_DENIED:
                r = asprintf(&s, "check that role_arn, profile_arn and trust_anchor_arn belong together: the profile %s "
                                 "must list the role, and the role's trust policy must allow rolesanywhere.amazonaws.com "
                                 "(sts:AssumeRole, sts:TagSession, sts:SetSourceIdentity), with conditions matching this "
                                 "certificate",
                             pr);
                break;
        case RA_ERR_BAD_SIGNATURE:
                r = asprintf(&s, "AWS could not verify the request's signature: something between the agent and AWS "
                                 "changed the request (a proxy rewriting headers?), or the endpoint is not Roles Anywhere");
                break;
        case RA_ERR_NOT_FOUND:
                r = asprintf(&s, "the trust anchor or profile does not exist in this account and region; check the ARNs "
                                 "and [credentials] region (aws rolesanywhere list-trust-anchors / list-profiles)");
                break;
        case RA_ERR_VALIDATION:
                r = asprintf(&s, "AWS refused the request's parameters; check the ARNs, session_duration (at most the "
                                 "profile's duration) and role_session_name");
                break;
        case RA_ERR_THROTTLED:
                r = asprintf(&s, "AWS is throttling CreateSession; the agent retries after the delay AWS asked for. "
                                 "Many machines refreshing at once? The jitter spreads them; raise session_duration");
                break;
        case RA_ERR_SERVER:
                r = asprintf(&s, "the Roles Anywhere endpoint had an internal error; the agent retries with backoff "
                                 "(check the AWS Health Dashboard if it persists)");
                break;
        case RA_ERR_HTTP:
                r = asprintf(&s, "unexpected HTTP status from the endpoint; check [credentials] endpoint (and any proxy "
                                 "in between)");
                break;
        case RA_ERR_BAD_RESPONSE:
                r = asprintf(&s, "the endpoint answered without usable credentials; check [credentials] endpoint points "
                                 "to Roles Anywhere (a proxy or captive portal in between?)");
                break;
        case RA_ERR_DNS:
                r = asprintf(&s, "the endpoint's name does not resolve; check DNS (resolvectl query HOST) and "
                                 "[credentials] endpoint/region");
                break;
        case RA_ERR_CONNECT:
                r = asprintf(&s, "cannot connect to the endpoint; check the network, firewall egress to port 443 and "
                                 "any HTTPS proxy");
                break;
        case RA_ERR_TLS:
                r = asprintf(&s, "the endpoint's TLS certificate is not trusted or the handshake failed; for a private "
                                 "endpoint or a TLS-inspecting proxy set [credentials] ca_file; also check the clock");
                break;
        case RA_ERR_TIMEOUT:
                r = asprintf(&s, "the exchange took longer than [credentials] timeout; check the network path to the "
                                 "endpoint");
                break;
        case RA_ERR_NETWORK:
                r = asprintf(&s, "the transfer failed; check the network path to the endpoint");
                break;
        case RA_ERR_NO_CERTIFICATE:
                r = asprintf(&s, "no usable certificate and key: see the certificate section of 'agv-agent status' or "
                                 "run 'agv-agent check'");
                break;
        default:
                break;
        }
        return r < 0 ? NULL : s;
}

static bool contains_ci(const char *hay, const char *needle) {
        return hay && strcasestr(hay, needle);
}

/* Map AWS's answer to a troubleshooting row. The message decides first,
 * since AWS reports most Roles Anywhere refusals as AccessDeniedException. */
static RaErrorKind classify(long status, const char *type, const char *msg) {
        if (contains_ci(msg, "trust anchor is disabled") || contains_ci(msg, "trustanchor is disabled"))
                return RA_ERR_TRUST_ANCHOR_DISABLED;
        if (contains_ci(msg, "profile is disabled"))
                return RA_ERR_PROFILE_DISABLED;
        if (contains_ci(msg, "basic constraints"))
                return RA_ERR_BASIC_CONSTRAINTS;
        if (contains_ci(msg, "untrusted") || contains_ci(msg, "insufficient certificate"))
                return RA_ERR_UNTRUSTED_CERTIFICATE;
        if (contains_ci(msg, "signature expired") || contains_ci(msg, "too skewed") ||
            contains_ci(msg, "signature not yet current") || contains_ci(type, "RequestTimeTooSkewed") ||
            (contains_ci(type, "InvalidSignatureException") && contains_ci(msg, "date")))
                return RA_ERR_CLOCK_SKEW;
        if (contains_ci(msg, "invalid signature") || contains_ci(msg, "signature does not match"))
                return RA_ERR_BAD_SIGNATURE;
        if (status == 429 || contains_ci(type, "Throttling") || contains_ci(type, "TooManyRequests"))
                return RA_ERR_THROTTLED;
        if (status >= 500)
                return RA_ERR_SERVER;
        if (contains_ci(type, "AccessDenied") || status == 403)
                return RA_ERR_ACCESS_DENIED;
        if (contains_ci(type, "ResourceNotFound") || status == 404)
                return RA_ERR_NOT_FOUND;
        if (contains_ci(type, "Validation") || status == 400)
                return RA_ERR_VALIDATION;
        return RA_ERR_HTTP;
}

static char *dup_json_string(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return strdup(json_object_get_string(v));
}

int ra_parse_time(const char *s, uint64_t *ret) {
        struct tm tm = {};
        const char *p;
        time_t t;

        if (isempty(s))
                return -EINVAL;
        p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                while (isdigit((unsigned char) *p))
                        p++;
        }
        if (!(streq(p, "Z") || streq(p, "z") || streq(p, "+00:00")))
                return -EINVAL;
        t = timegm(&tm);
        if (t < 0)
                return -EINVAL;
        *ret = (uint64_t) t * USEC_PER_SEC;
        return 0;
}

static int parse_credentials(const char *body, size_t len, RaCredentials *c, const char **why) {
        _cleanup_json_ json_object *root = NULL;
        json_tokener *tok = json_tokener_new();
        json_object *set, *first, *cr, *v;
        int k = -EBADMSG;

        *c = (RaCredentials) {};
        if (!tok)
                return -ENOMEM;
        root = len > 0 ? json_tokener_parse_ex(tok, body, (int) len) : NULL;
        if (!root || json_tokener_get_error(tok) != json_tokener_success ||
            (size_t) json_tokener_get_parse_end(tok) != len) {
                json_tokener_free(tok);
                *why = len == 0 ? "empty reply body" : "the reply is not JSON";
                if (root) /* trailing garbage: the tokener kept a partial object */
                        json_object_put(TAKE_PTR(root));
                return -EBADMSG;
        }
        json_tokener_free(tok);
        if (!json_object_object_get_ex(root, "credentialSet", &set) || !json_object_is_type(set, json_type_array) ||
            json_object_array_length(set) < 1 || !(first = json_object_array_get_idx(set, 0)) ||
            !json_object_object_get_ex(first, "credentials", &cr) || !json_object_is_type(cr, json_type_object)) {
                *why = "the reply has no credentialSet[0].credentials";
                goto out;
        }
        c->access_key_id = dup_json_string(cr, "accessKeyId");
        c->secret_access_key = dup_json_string(cr, "secretAccessKey");
        c->session_token = dup_json_string(cr, "sessionToken");
        if (isempty(c->access_key_id) || isempty(c->secret_access_key) || isempty(c->session_token)) {
                *why = "the reply's credentials are empty or incomplete";
                goto out;
        }
        if (!json_object_object_get_ex(cr, "expiration", &v) || !json_object_is_type(v, json_type_string) ||
            ra_parse_time(json_object_get_string(v), &c->expiration) < 0) {
                *why = "the reply's credentials have no valid expiration";
                goto out;
        }
        k = 0;
out:
        /* the parsed tree holds copies of the secret: wipe them before freeing */
        if (root && json_object_object_get_ex(root, "credentialSet", &set) && json_object_is_type(set, json_type_array))
                for (size_t i = 0; i < json_object_array_length(set); i++) {
                        json_object *e = json_object_array_get_idx(set, i);
                        if (!json_object_object_get_ex(e, "credentials", &cr) || !json_object_is_type(cr, json_type_object))
                                continue;
                        json_object_object_foreach(cr, key, val) {
                                (void) key;
                                if (json_object_is_type(val, json_type_string)) {
                                        int l = json_object_get_string_len(val);
                                        explicit_bzero((char *) json_object_get_string(val), (size_t) l);
                                }
                        }
                }
        if (k < 0)
                ra_credentials_done(c);
        return k;
}

/* The endpoint's words go to the journal, status, alerts and a terminal:
 * control characters (newlines, ANSI escapes) become blanks, invalid UTF-8
 * becomes '?', and the length is capped at a character boundary. */
void ra_text_sanitize(char *s, size_t max) {
        size_t i = 0, n = s ? strlen(s) : 0;

        while (i < n) {
                unsigned char c = (unsigned char) s[i];
                size_t l = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
                if (l == 1) {
                        if (c < 0x20 || c == 0x7f)
                                s[i] = ' ';
                } else if (l == 0 || i + l > n || !utf8_is_valid(s + i, l)) {
                        s[i] = '?';
                        l = 1;
                }
                if (i + l > max) {
                        s[i] = 0;
                        return;
                }
                i += l;
        }
}

/* A reply body holding credential members is never echoed into a message. */
static bool looks_like_credentials(const char *body, size_t len) {
        return memmem(body, len, "secretAccessKey", 15) || memmem(body, len, "sessionToken", 12) ||
               memmem(body, len, "SecretAccessKey", 15) || memmem(body, len, "SessionToken", 12);
}

/* Wipe every string of a parsed reply (it may hold a secret) before it is freed. */
static void json_wipe(json_object *o) {
        if (!o)
                return;
        switch (json_object_get_type(o)) {
        case json_type_string:
                explicit_bzero((char *) json_object_get_string(o), (size_t) json_object_get_string_len(o));
                break;
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        json_wipe(json_object_array_get_idx(o, i));
                break;
        case json_type_object: {
                json_object_object_foreach(o, k, v) {
                        (void) k;
                        json_wipe(v);
                }
                break;
        }
        default:
                break;
        }
}

int ra_response_parse(long status, const char *error_type_header, const char *retry_after_header, const char *body,
                      size_t len, RaCredentials *creds, RaError *err) {
        _cleanup_json_ json_object *root = NULL;
        _cleanup_free_ char *type = NULL, *msg = NULL;
        const char *why = NULL;
        RaErrorKind kind;

        ra_error_done(err);
        if (status >= 200 && status < 300) {
                int k = parse_credentials(body, len, creds, &why);
                if (k == -EBADMSG) {
                        ra_error_set(err, RA_ERR_BAD_RESPONSE, why);
                        err->http_status = status;
                }
                return k;
        }

        if (len > 0 && len < 64 * 1024) {
                json_tokener *tok = json_tokener_new();
                if (tok) {
                        root = json_tokener_parse_ex(tok, body, (int) len);
                        json_tokener_free(tok);
                }
        }
        if (!isempty(error_type_header))
                type = strndup(error_type_header, strcspn(error_type_header, ":"));
        else if (root && json_object_is_type(root, json_type_object)) {
                /* awsJson: "__type":"com.amazon...#AccessDeniedException" */
                char *t = dup_json_string(root, "__type");
                if (!t)
                        t = dup_json_string(root, "code");
                if (t) {
                        const char *h = strrchr(t, '#');
                        type = strdup(h ? h + 1 : t);
                        free(t);
                }
        }
        if (root && json_object_is_type(root, json_type_object)) {
                msg = dup_json_string(root, "message");
                if (!msg)
                        msg = dup_json_string(root, "Message");
        }
        if (!msg && len > 0 && looks_like_credentials(body, len)) {
                if (asprintf(&msg, "HTTP status %ld with a body that holds credential fields (not shown)", status) < 0)
                        msg = NULL;
        } else if (!msg) {
                /* not JSON: keep a short printable excerpt, never the whole body */
                Buf b = {};
                size_t n = MIN(len, (size_t) 200);
                for (size_t i = 0; i < n; i++)
                        if (isprint((unsigned char) body[i]))
                                buf_append(&b, body + i, 1);
                if (b.data)
                        msg = buf_steal(&b);
                else if (asprintf(&msg, "HTTP status %ld", status) < 0)
                        msg = NULL;
        }
        json_wipe(root);
        kind = classify(status, type, msg);
        ra_text_sanitize(type, RA_ERROR_TYPE_MAX);
        ra_text_sanitize(msg, RA_ERROR_MESSAGE_MAX);
        err->kind = kind;
        err->aws_type = TAKE_PTR(type);
        err->message = TAKE_PTR(msg);
        err->http_status = status;
        if (kind == RA_ERR_THROTTLED && retry_after_header) {
                char *end;
                unsigned long v;
                errno = 0;
                v = strtoul(retry_after_header, &end, 10);
                if (!errno && end != retry_after_header && v <= 3600)
                        err->retry_after = (usec_t) v * USEC_PER_SEC;
        }
        return ra_error_class(kind) == RA_CLASS_REJECTED ? -EACCES : -EAGAIN;
}

void ra_error_from_transport(int error, const char *message, RaError *err) {
        RaErrorKind k;
        switch (error) {
        case -EHOSTUNREACH:
                k = RA_ERR_DNS;
                break;
        case -ECONNREFUSED:
                k = RA_ERR_CONNECT;
                break;
        case -EBADE:
                k = RA_ERR_TLS;
                break;
        case -ETIMEDOUT:
                k = RA_ERR_TIMEOUT;
                break;
        default:
                k = RA_ERR_NETWORK;
                break;
        }
        ra_error_set(err, k, message);
}

/* ---- planning ----------------------------------------------------------- */

uint64_t ra_plan_refresh(uint64_t now, uint64_t expiration, usec_t refresh_before, uint64_t rnd) {
        uint64_t t, min = now + 5 * USEC_PER_SEC;
        usec_t jitter = refresh_before / 10 > 0 ? rnd % (refresh_before / 10 + 1) : 0;

        if (expiration <= now)
                return min;
        if (expiration - now > refresh_before + jitter)
                t = expiration - refresh_before - jitter;
        else
                t = now + (expiration - now) / 2;
        return MAX(t, min);
}

usec_t ra_plan_backoff(unsigned failures, usec_t cap, usec_t retry_after, uint64_t rnd) {
        usec_t d = USEC_PER_SEC;
        if (cap < USEC_PER_SEC)
                cap = USEC_PER_SEC;
        for (unsigned i = 1; i < failures && d < cap; i++)
                d *= 2;
        d = MIN(d, cap);
        /* +-20% */
        d = d - d / 5 + (d / 5 > 0 ? rnd % (2 * (d / 5) + 1) : 0);
        return MAX(d, retry_after);
}
