/* SPDX-License-Identifier: MIT */
#include "pki_assess.h"

#include <ctype.h>
#include <stdarg.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "strv.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_DECODER_CTX *, OSSL_DECODER_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);

static void x509_stack_free(STACK_OF(X509) *s) {
        sk_X509_pop_free(s, X509_free);
}
static void x509_stackp(STACK_OF(X509) **s) {
        if (*s)
                x509_stack_free(*s);
}

/* ---- findings ----------------------------------------------------------- */

void findings_add(Findings *f, Health severity, FindingKind kind, const char *code, const char *file,
                  const char *fix, const char *fmt, ...) {
        Finding *n, x = { .severity = severity, .kind = kind };
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&x.message, fmt, ap) < 0)
                x.message = NULL;
        va_end(ap);
        x.code = strdup(code);
        x.file = file ? strdup(file) : NULL;
        x.fix = strdup(strempty(fix));
        n = realloc(f->items, (f->n + 1) * sizeof(Finding));
        if (!n || !x.message || !x.code || !x.fix || (file && !x.file)) {
                free(x.message);
                free(x.code);
                free(x.file);
                free(x.fix);
                if (n)
                        f->items = n;
                return;
        }
        f->items = n;
        f->items[f->n++] = x;
}

void findings_done(Findings *f) {
        for (size_t i = 0; i < f->n; i++) {
                free(f->items[i].code);
                free(f->items[i].file);
                free(f->items[i].message);
                free(f->items[i].fix);
        }
        free(f->items);
        *f = (Findings) {};
}

const Finding *findings_get(const Findings *f, const char *code) {
        for (size_t i = 0; i < f->n; i++)
                if (streq(f->items[i].code, code))
                        return &f->items[i];
        return NULL;
}

bool findings_has(const Findings *f, const char *code) {
        return findings_get(f, code) != NULL;
}

Health findings_worst(const Findings *f) {
        Health h = HEALTH_OK;
        for (size_t i = 0; i < f->n; i++)
                h = MAX(h, f->items[i].severity);
        return h;
}

bool findings_equal(const Findings *a, const Findings *b) {
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (!streq(a->items[i].code, b->items[i].code) ||
                    a->items[i].severity != b->items[i].severity ||
                    !streq(strempty(a->items[i].file), strempty(b->items[i].file)) ||
                    !streq(a->items[i].message, b->items[i].message))
                        return false;
        return true;
}

void findings_move(Findings *dst, Findings *src) {
        Finding *n;
        if (src->n == 0)
                return;
        n = realloc(dst->items, (dst->n + src->n) * sizeof(Finding));
        if (!n) {
                findings_done(src);
                return;
        }
        memcpy(n + dst->n, src->items, src->n * sizeof(Finding));
        dst->items = n;
        dst->n += src->n;
        free(src->items);
        *src = (Findings) {};
}

int findings_copy(const Findings *src, Findings *dst) {
        *dst = (Findings) {};
        for (size_t i = 0; i < src->n; i++) {
                const Finding *x = &src->items[i];
                findings_add(dst, x->severity, x->kind, x->code, x->file, x->fix, "%s", x->message);
                if (dst->n != i + 1) {
                        findings_done(dst);
                        return -ENOMEM;
                }
        }
        return 0;
}

const char *chain_status_to_string(ChainStatus c) {
        switch (c) {
        case CHAIN_VERIFIED:
                return "verified";
        case CHAIN_FAILED:
                return "failed";
        default:
                return "unverified";
        }
}

/* ---- helpers -------------------------------------------------------------- */

static const char *base_name(const char *path) {
        const char *s = path ? strrchr(path, '/') : NULL;
        return s ? s + 1 : strna(path);
}

static bool mem_contains(const void *data, size_t len, const char *needle) {
        return memmem(data, len, needle, strlen(needle)) != NULL;
}

static char *hex(const unsigned char *d, size_t n) {
        char *s = malloc(n * 2 + 1);
        if (!s)
                return NULL;
        for (size_t i = 0; i < n; i++)
                sprintf(s + 2 * i, "%02x", d[i]);
        s[n * 2] = 0;
        return s;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days
 * algorithm by H. Hinnant): no time_t, no timegm() and its -1 ambiguity. */
int64_t pki_days_from_civil(int64_t y, unsigned m, unsigned d) {
        int64_t era, yoe, doy, doe;
        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (int64_t) (m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t) d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

int pki_asn1_time_usec(const ASN1_TIME *t, int64_t *ret) {
        struct tm tm = {};
        int64_t s;
        /* ASN1_TIME_to_tm() checks the string (UTCTime or GeneralizedTime) */
        if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
                ERR_clear_error();
                return -EINVAL;
        }
        s = pki_days_from_civil((int64_t) tm.tm_year + 1900, (unsigned) tm.tm_mon + 1, (unsigned) tm.tm_mday) * 86400 +
            tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
        *ret = s * (int64_t) USEC_PER_SEC;
        return 0;
}

static char *name_oneline(const X509_NAME *n) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        char *p, *s;
        long l;
        if (!b || X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) < 0)
                return NULL;
        l = BIO_get_mem_data(b, &p);
        s = strndup(p, l > 0 ? (size_t) l : 0);
        return s;
}

char *pki_pubkey_id(EVP_PKEY *k) {
        unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        int n;
        char *s;
        if (!k)
                return NULL;
        n = i2d_PUBKEY(k, &der);
        if (n <= 0)
                return NULL;
        if (EVP_Digest(der, n, md, &mdlen, EVP_sha256(), NULL) != 1) {
                OPENSSL_free(der);
                return NULL;
        }
        OPENSSL_free(der);
        s = hex(md, mdlen);
        return s;
}

/* The certificate holds its SubjectPublicKeyInfo as parsed ASN.1: re-encoding
 * that is cheap, unlike i2d_PUBKEY() on an EVP_PKEY. Same bytes. */
static char *cert_pubkey_id(X509 *x) {
        unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
        char *s = NULL;
        if (n <= 0)
                return NULL;
        if (EVP_Digest(der, n, md, &mdlen, EVP_sha256(), NULL) == 1)
                s = hex(md, mdlen);
        OPENSSL_free(der);
        return s;
}

char *pki_key_type(EVP_PKEY *k) {
        char group[64] = "", *s = NULL;
        size_t gl = 0;
        if (!k)
                return NULL;
        switch (EVP_PKEY_get_base_id(k)) {
        case EVP_PKEY_RSA:
        case EVP_PKEY_RSA_PSS:
                if (asprintf(&s, "RSA-%d", EVP_PKEY_get_bits(k)) < 0)
                        return NULL;
                return s;
        case EVP_PKEY_EC:
                if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &gl) != 1)
                        strcpy(group, "unknown");
                if (streq(group, "prime256v1") || streq(group, "P-256"))
                        return strdup("EC-P256");
                if (streq(group, "secp384r1") || streq(group, "P-384"))
                        return strdup("EC-P384");
                if (streq(group, "secp521r1") || streq(group, "P-521"))
                        return strdup("EC-P521");
                if (asprintf(&s, "EC-%s", group) < 0)
                        return NULL;
                return s;
        case EVP_PKEY_ED25519:
                return strdup("Ed25519");
        case EVP_PKEY_ED448:
                return strdup("Ed448");
        case EVP_PKEY_DSA:
                if (asprintf(&s, "DSA-%d", EVP_PKEY_get_bits(k)) < 0)
                        return NULL;
                return s;
        default:
                return strdup(OBJ_nid2sn(EVP_PKEY_get_base_id(k)));
        }
}

int pki_cert_info(X509 *x, const char *path, CertInfo *ret) {
        CertInfo ci = {};
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        _cleanup_(BN_freep) BIGNUM *bn = NULL;
        char *h;

        if (path && !(ci.path = strdup(path)))
                goto oom;
        bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        if (!bn)
                goto oom;
        h = BN_bn2hex(bn);
        if (!h)
                goto oom;
        ci.serial = strdup(h);
        OPENSSL_free(h);
        if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1)
                goto oom;
        ci.fingerprint_sha256 = hex(md, mdlen);
        ci.subject = name_oneline(X509_get_subject_name(x));
        ci.issuer = name_oneline(X509_get_issuer_name(x));
        if (pki_asn1_time_usec(X509_get0_notBefore(x), &ci.not_before) < 0 ||
            pki_asn1_time_usec(X509_get0_notAfter(x), &ci.not_after) < 0) {
                cert_info_done(&ci);
                return -EBADMSG;
        }
        ci.key_type = pki_key_type(X509_get0_pubkey(x));
        if (!ci.serial || !ci.fingerprint_sha256 || !ci.subject || !ci.issuer || !ci.key_type)
                goto oom;
        *ret = ci;
        return 0;
oom:
        cert_info_done(&ci);
        return -ENOMEM;
}

/* ---- parse cache ----------------------------------------------------------- */

/* OpenSSL 3's decoders cost milliseconds per key (provider lookups), and an
 * assessment runs on every inotify burst: remember what a given content
 * (by SHA-256) parsed to, so unchanged files cost a hash. */
#define CACHE_SIZE 16
/* CACHE_KEY_FAILED: a content that is no usable key (no key material kept),
 * so a broken key file costs a hash, not a decoder run, on every pass */
enum { CACHE_CERT = 1, CACHE_KEY = 2, CACHE_KEY_FAILED = 3 };
typedef struct CacheEntry {
        int kind;
        unsigned char md[32];
        X509 *leaf;
        STACK_OF(X509) *extra;
        EVP_PKEY *key;
        int error;       /* CACHE_KEY_FAILED: what decode_key() said */
        bool encrypted;
        uint64_t used;
        uint64_t pass;   /* the last pass that used it */
} CacheEntry;
static CacheEntry parse_cache[CACHE_SIZE];
static uint64_t cache_tick, cache_pass;

static bool content_hash(const void *data, size_t len, unsigned char md[32]) {
        unsigned mdlen = 0;
        return EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32;
}

static void cache_entry_clear(CacheEntry *e) {
        X509_free(e->leaf);
        if (e->extra)
                x509_stack_free(e->extra);
        EVP_PKEY_free(e->key);
        *e = (CacheEntry) {};
}

void pki_parse_cache_flush(void) {
        for (size_t i = 0; i < CACHE_SIZE; i++)
                cache_entry_clear(&parse_cache[i]);
}

void pki_parse_cache_begin_pass(void) {
        cache_pass++;
}

/* What this pass did not use is no longer on disk (a replaced key, a
 * removed file): a private key must not linger in memory for it. */
void pki_parse_cache_end_pass(void) {
        for (size_t i = 0; i < CACHE_SIZE; i++)
                if (parse_cache[i].kind && parse_cache[i].pass != cache_pass)
                        cache_entry_clear(&parse_cache[i]);
}

size_t pki_parse_cache_keys(void) {
        size_t n = 0;
        for (size_t i = 0; i < CACHE_SIZE; i++)
                n += parse_cache[i].kind == CACHE_KEY;
        return n;
}

static CacheEntry *cache_find(int kind, const unsigned char md[32]) {
        for (size_t i = 0; i < CACHE_SIZE; i++)
                if (parse_cache[i].kind == kind && memcmp(parse_cache[i].md, md, 32) == 0) {
                        parse_cache[i].used = ++cache_tick;
                        parse_cache[i].pass = cache_pass;
                        return &parse_cache[i];
                }
        return NULL;
}

static CacheEntry *cache_slot(int kind, const unsigned char md[32]) {
        CacheEntry *e = &parse_cache[0];
        for (size_t i = 1; i < CACHE_SIZE; i++)
                if (parse_cache[i].used < e->used)
                        e = &parse_cache[i];
        cache_entry_clear(e);
        e->kind = kind;
        memcpy(e->md, md, 32);
        e->used = ++cache_tick;
        e->pass = cache_pass;
        return e;
}

static STACK_OF(X509) *stack_ref(STACK_OF(X509) *s) {
        STACK_OF(X509) *n = sk_X509_new_null();
        if (!n)
                return NULL;
        for (int i = 0; s && i < sk_X509_num(s); i++) {
                X509 *x = sk_X509_value(s, i);
                if (!X509_up_ref(x) || !sk_X509_push(n, x)) {
                        x509_stack_free(n);
                        return NULL;
                }
        }
        return n;
}

/* ---- parsing -------------------------------------------------------------- */

static bool looks_pem(const void *data, size_t len) {
        return mem_contains(data, len, "-----BEGIN ");
}

/* A PEM block opened but never closed: the file is being written or was cut. */
static bool pem_truncated(const void *data, size_t len, const char *label) {
        char begin[64], end[64];
        snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
        snprintf(end, sizeof(end), "-----END %s-----", label);
        return mem_contains(data, len, begin) && !mem_contains(data, len, end);
}

/* PEM (leaf first, then any further certificates) or DER; no cache. */
static int parse_cert_uncached(const void *data, size_t len, const char *path, X509 **ret_leaf,
                               STACK_OF(X509) **ret_extra, Findings *f) {
        _cleanup_(X509_freep) X509 *leaf = NULL;
        _cleanup_(x509_stackp) STACK_OF(X509) *extra = NULL;
        const char *fn = base_name(path);

        if (len == 0) {
                findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "cert_empty", path,
                             "Install the certificate again: install -m 444 client.crt <dir>/",
                             "%s is empty", fn);
                return -ENODATA;
        }
        if (looks_pem(data, len)) {
                _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(data, (int) len);
                if (!b)
                        return -ENOMEM;
                leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
                if (leaf) {
                        X509 *x;
                        extra = sk_X509_new_null();
                        if (!extra)
                                return -ENOMEM;
                        while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
                                if (!sk_X509_push(extra, x)) {
                                        X509_free(x);
                                        return -ENOMEM;
                                }
                }
                ERR_clear_error();
                if (!leaf) {
                        if (mem_contains(data, len, "PRIVATE KEY-----"))
                                findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "cert_is_key", path,
                                             "Put the certificate in the certificate file and the key in the key file",
                                             "%s holds a private key, not a certificate", fn);
                        else if (pem_truncated(data, len, "CERTIFICATE"))
                                findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "cert_truncated", path,
                                             "Copy the complete certificate file again (it must end with -----END CERTIFICATE-----)",
                                             "%s is truncated: the PEM block has no END line", fn);
                        else
                                findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "cert_unparseable", path,
                                             "Install a PEM (or DER) X.509 certificate; check it with: openssl x509 -in <file> -noout -text",
                                             "%s holds no readable X.509 certificate", fn);
                        return -EBADMSG;
                }
        } else {
                const unsigned char *p = data;
                leaf = d2i_X509(NULL, &p, (long) len);
                ERR_clear_error();
                if (!leaf || p != (const unsigned char *) data + len) {
                        findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "cert_unparseable", path,
                                     "Install a PEM (or DER) X.509 certificate; check it with: openssl x509 -in <file> -noout -text",
                                     "%s is neither a PEM nor a DER certificate", fn);
                        return -EBADMSG;
                }
        }
        *ret_leaf = TAKE_PTR(leaf);
        if (ret_extra)
                *ret_extra = TAKE_PTR(extra);
        return 0;
}

int pki_parse_cert(const void *data, size_t len, const char *path, X509 **ret_leaf,
                   STACK_OF(X509) **ret_extra, Findings *f) {
        _cleanup_(X509_freep) X509 *leaf = NULL;
        _cleanup_(x509_stackp) STACK_OF(X509) *extra = NULL;
        unsigned char md[32];
        bool have_md;
        CacheEntry *e;
        int r;

        have_md = content_hash(data, len, md);
        if (have_md && (e = cache_find(CACHE_CERT, md))) {
                extra = stack_ref(e->extra);
                if (!extra || !X509_up_ref(e->leaf))
                        return -ENOMEM;
                *ret_leaf = e->leaf;
                if (ret_extra)
                        *ret_extra = TAKE_PTR(extra);
                return 0;
        }
        r = parse_cert_uncached(data, len, path, &leaf, &extra, f);
        if (r < 0)
                return r;
        if (have_md) {
                STACK_OF(X509) *copy = stack_ref(extra);
                if (copy && X509_up_ref(leaf)) {
                        e = cache_slot(CACHE_CERT, md);
                        e->leaf = leaf;
                        e->extra = copy;
                } else if (copy)
                        x509_stack_free(copy);
        }
        *ret_leaf = TAKE_PTR(leaf);
        if (ret_extra)
                *ret_extra = TAKE_PTR(extra);
        return 0;
}

int pki_cert_fingerprint_of(const void *data, size_t len, const char *name, char **ret, char **why) {
        _cleanup_(X509_freep) X509 *leaf = NULL;
        _cleanup_(x509_stackp) STACK_OF(X509) *extra = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        Findings f = {};
        int r;

        *ret = *why = NULL;
        /* someone else's bytes: never into the parse cache */
        r = parse_cert_uncached(data, len, name, &leaf, &extra, &f);
        if (r < 0) {
                *why = strdup(f.n ? f.items[0].message : "no readable X.509 certificate");
                findings_done(&f);
                return r;
        }
        findings_done(&f);
        if (X509_digest(leaf, EVP_sha256(), md, &mdlen) != 1)
                return -ENOMEM;
        *ret = hex(md, mdlen);
        return *ret ? 0 : -ENOMEM;
}

/* Called only for an encrypted key: we never have a passphrase, so note
 * that one was asked for and fail. */
static int no_passphrase_cb(char *buf, int size, int rwflag, void *u) {
        *(bool *) u = true;
        return -1;
}

static int decode_params(const void *data, size_t len, const char *input_type, const char *structure,
                         const char *keytype, EVP_PKEY **ret, bool *encrypted) {
        _cleanup_(OSSL_DECODER_CTX_freep) OSSL_DECODER_CTX *dctx = NULL;
        EVP_PKEY *pkey = NULL;
        const unsigned char *p = data;
        size_t left = len;

        dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, input_type, structure, keytype, EVP_PKEY_KEYPAIR, NULL, NULL);
        if (!dctx)
                return -ENOMEM;
        if (OSSL_DECODER_CTX_set_pem_password_cb(dctx, no_passphrase_cb, encrypted) != 1)
                return -ENOMEM;
        if (OSSL_DECODER_from_data(dctx, &p, &left) != 1 || !pkey) {
                EVP_PKEY_free(pkey);
                return -EBADMSG;
        }
        *ret = pkey;
        return 0;
}

/* DER: tell the decoder what it is looking at. An untyped decoder tries every
 * format and key type it knows, several times slower. */
static int decode_der(const unsigned char *der, long dl, const char *structure, const char *keytype,
                      EVP_PKEY **ret, bool *encrypted) {
        const unsigned char *p = der;
        PKCS8_PRIV_KEY_INFO *p8;
        X509_SIG *sig;

        if (!structure) {
                p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, dl);
                if (p8 && p == der + dl) {
                        const ASN1_OBJECT *alg = NULL;
                        structure = "PrivateKeyInfo";
                        if (PKCS8_pkey_get0(&alg, NULL, NULL, NULL, p8) == 1)
                                switch (OBJ_obj2nid(alg)) {
                                case NID_rsaEncryption:
                                        keytype = "RSA";
                                        break;
                                case NID_X9_62_id_ecPublicKey:
                                        keytype = "EC";
                                        break;
                                default:
                                        break;
                                }
                }
                PKCS8_PRIV_KEY_INFO_free(p8);
        }
        if (!structure) {
                p = der;
                sig = d2i_X509_SIG(NULL, &p, dl);
                if (sig && p == der + dl) {
                        X509_SIG_free(sig);
                        *encrypted = true;
                        return -EKEYREJECTED;
                }
                X509_SIG_free(sig);
        }
        ERR_clear_error();
        return decode_params(der, (size_t) dl, "DER", structure, keytype, ret, encrypted);
}

static int decode_key(const void *data, size_t len, EVP_PKEY **ret, bool *encrypted) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        int r = -EBADMSG;

        if (!looks_pem(data, len))
                return decode_der(data, (long) len, NULL, NULL, ret, encrypted);
        b = BIO_new_mem_buf(data, (int) len);
        if (!b)
                return -ENOMEM;
        for (;;) {
                char *name = NULL, *header = NULL;
                unsigned char *der = NULL;
                long dl = 0;
                bool done = true;

                if (PEM_read_bio(b, &name, &header, &der, &dl) != 1)
                        break;
                if (strstr(header, "ENCRYPTED") || streq(name, "ENCRYPTED PRIVATE KEY")) {
                        *encrypted = true;
                        r = -EKEYREJECTED;
                } else if (streq(name, "PRIVATE KEY"))
                        r = decode_der(der, dl, NULL, NULL, ret, encrypted);
                else if (streq(name, "RSA PRIVATE KEY"))
                        r = decode_der(der, dl, "type-specific", "RSA", ret, encrypted);
                else if (streq(name, "EC PRIVATE KEY"))
                        r = decode_der(der, dl, "type-specific", "EC", ret, encrypted);
                else if (strstr(name, "PRIVATE KEY"))
                        r = decode_params(data, len, "PEM", NULL, NULL, ret, encrypted); /* rare types */
                else
                        done = false; /* e.g. EC PARAMETERS before the key */
                OPENSSL_free(name);
                OPENSSL_free(header);
                OPENSSL_clear_free(der, (size_t) dl);
                if (done)
                        break;
        }
        ERR_clear_error();
        return r;
}

/* decode_key() through the cache: keys while their file is there, failures
 * as a verdict only. */
static int decode_key_cached(const void *data, size_t len, EVP_PKEY **ret, bool *encrypted) {
        unsigned char md[32];
        bool have_md = content_hash(data, len, md);
        CacheEntry *e;
        int r;

        if (have_md && (e = cache_find(CACHE_KEY, md))) {
                if (!EVP_PKEY_up_ref(e->key))
                        return -ENOMEM;
                *ret = e->key;
                return 0;
        }
        if (have_md && (e = cache_find(CACHE_KEY_FAILED, md))) {
                *encrypted = e->encrypted;
                return e->error;
        }
        r = decode_key(data, len, ret, encrypted);
        ERR_clear_error();
        if (r >= 0 && have_md && EVP_PKEY_up_ref(*ret)) {
                e = cache_slot(CACHE_KEY, md);
                e->key = *ret;
        } else if (r < 0 && r != -ENOMEM && have_md) {
                e = cache_slot(CACHE_KEY_FAILED, md);
                e->error = r;
                e->encrypted = *encrypted;
        }
        return r;
}

void pki_parse_cache_forget(const void *data, size_t len) {
        unsigned char md[32];
        CacheEntry *e;
        if (content_hash(data, len, md) && (e = cache_find(CACHE_KEY, md)))
                cache_entry_clear(e);
}

int pki_parse_key(const void *data, size_t len, const char *path, EVP_PKEY **ret, Findings *f) {
        const char *fn = base_name(path);
        bool encrypted = false;
        EVP_PKEY *k = NULL;
        int r;

        if (len == 0) {
                findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "key_empty", path,
                             "Install the private key again: install -m 440 client.key <dir>/",
                             "%s is empty", fn);
                return -ENODATA;
        }
        if (mem_contains(data, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
            mem_contains(data, len, "Proc-Type: 4,ENCRYPTED"))
                encrypted = true;
        else {
                r = decode_key_cached(data, len, &k, &encrypted);
                if (r == -ENOMEM)
                        return r;
        }
        if (encrypted) {
                EVP_PKEY_free(k);
                findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "key_encrypted", path,
                             "aws_signing_helper needs an unencrypted key: openssl pkey -in <encrypted> -out client.key",
                             "%s is encrypted with a passphrase", fn);
                return -EKEYREJECTED;
        }
        if (!k) {
                if (mem_contains(data, len, "-----BEGIN CERTIFICATE-----"))
                        findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "key_is_cert", path,
                                     "Put the private key in the key file and the certificate in the certificate file",
                                     "%s holds a certificate, not a private key", fn);
                else if (pem_truncated(data, len, "PRIVATE KEY") || pem_truncated(data, len, "RSA PRIVATE KEY") ||
                         pem_truncated(data, len, "EC PRIVATE KEY"))
                        findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "key_truncated", path,
                                     "Copy the complete key file again (it must end with an -----END ... PRIVATE KEY----- line)",
                                     "%s is truncated: the PEM block has no END line", fn);
                else
                        findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "key_unparseable", path,
                                     "Install an unencrypted PKCS#8, PKCS#1 or SEC1 key (PEM or DER); check it with: openssl pkey -in <file> -noout",
                                     "%s holds no readable private key", fn);
                return -EBADMSG;
        }
        *ret = k;
        return 0;
}

int pki_parse_bundle(const void *data, size_t len, const char *path, STACK_OF(X509) **ret, Findings *f) {
        _cleanup_(x509_stackp) STACK_OF(X509) *s = NULL;
        X509 *leaf = NULL;
        Findings tmp = {};
        int r;

        r = pki_parse_cert(data, len, path, &leaf, &s, &tmp);
        if (r < 0) {
                findings_done(&tmp);
                if (r == -ENOMEM)
                        return r;
                findings_add(f, HEALTH_WARNING, FINDING_OTHER, "ca_bundle_unparseable", path,
                             "Install the CA certificate (PEM) as the bundle, or set [pki] ca_bundle= to none",
                             "%s holds no readable CA certificate; the chain cannot be checked", base_name(path));
                return -EBADMSG;
        }
        if (!sk_X509_insert(s, leaf, 0)) {
                X509_free(leaf);
                return -ENOMEM;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int pki_parse_intermediates(const void *data, size_t len, const char *path, STACK_OF(X509) **ret, Findings *f) {
        _cleanup_(x509_stackp) STACK_OF(X509) *s = NULL;
        X509 *first = NULL;
        Findings tmp = {};
        const char *fn = base_name(path);
        int r;

        /* the certificate parser (and its cache) does the work; its findings
         * talk about client.crt, so say it again for this file */
        r = pki_parse_cert(data, len, path, &first, &s, &tmp);
        if (r == -ENOMEM) {
                findings_done(&tmp);
                return r;
        }
        if (r < 0) {
                if (findings_has(&tmp, "cert_is_key"))
                        findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "intermediates_is_key", path,
                                     "Put only the intermediate CA certificates (PEM) in it; a private key has no place there",
                                     "%s ([credentials] intermediates) holds a private key, not CA certificates", fn);
                else
                        findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "intermediates_unparseable", path,
                                     "Install the intermediate CA certificates as PEM (check: openssl storeutl -noout -certs <file>), "
                                     "or remove intermediates= from [credentials]",
                                     "%s ([credentials] intermediates): %s", fn,
                                     tmp.n > 0 ? tmp.items[0].message : "no readable certificate");
                findings_done(&tmp);
                return -EBADMSG;
        }
        findings_done(&tmp);
        if (!sk_X509_insert(s, first, 0)) {
                X509_free(first);
                return -ENOMEM;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

void chain_links_free(ChainLink *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                cert_info_done(&l[i].info);
        free(l);
}

int chain_links_copy(const ChainLink *src, size_t n, ChainLink **ret) {
        ChainLink *l = n ? calloc(n, sizeof(ChainLink)) : NULL;
        if (n && !l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (cert_info_copy(&src[i].info, &l[i].info) < 0) {
                        chain_links_free(l, i);
                        return -ENOMEM;
                }
                l[i].source = src[i].source;
        }
        *ret = l;
        return 0;
}

/* ---- checks --------------------------------------------------------------- */

static void check_validity(X509 *x, const CertInfo *ci, uint64_t now_u, const char *path, Findings *f) {
        char a[64], b[64];
        const char *fn = base_name(path);
        int64_t now = (int64_t) now_u;
        /* both ends, whole range: a notAfter in 1969 is expired, not "unknown" */
        if (now > ci->not_after)
                findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "cert_expired", path,
                             "Renew the certificate (see \"Cert Renewal\" in the deployment guide) and install the new pair",
                             "%s expired at %s", fn, format_rfc3339(ci->not_after, a, sizeof(a)));
        else if (now < ci->not_before)
                findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "cert_not_yet_valid", path,
                             "Check the clock of this VM and of the CA machine; the certificate becomes usable at notBefore",
                             "%s is not valid before %s (now %s)", fn, format_rfc3339(ci->not_before, a, sizeof(a)),
                             format_rfc3339(now, b, sizeof(b)));
}

static void check_leaf_extensions(X509 *x, const char *path, Findings *f) {
        uint32_t flags = X509_get_extension_flags(x);
        const char *fn = base_name(path);

        if (flags & EXFLAG_CA)
                findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "cert_is_ca", path,
                             "Install the client certificate, not the CA certificate (the leaf needs basicConstraints CA:FALSE)",
                             "%s is a CA certificate (basicConstraints CA:TRUE), not a client certificate", fn);
        if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
                findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "cert_key_usage", path,
                             "Re-sign with -extfile containing keyUsage = critical, digitalSignature",
                             "%s lacks keyUsage digitalSignature: Roles Anywhere answers \"Untrusted certificate. Insufficient certificate\"",
                             fn);
        if (!(flags & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT))
                findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "cert_eku", path,
                             "Re-sign with -extfile containing extendedKeyUsage = clientAuth",
                             "%s lacks extendedKeyUsage clientAuth: Roles Anywhere answers \"Untrusted certificate. Insufficient certificate\"",
                             fn);
}

static void check_key_strength(EVP_PKEY *k, const char *path, Findings *f) {
        _cleanup_free_ char *t = pki_key_type(k);
        int id = EVP_PKEY_get_base_id(k);
        const char *fn = base_name(path);

        if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
                if (EVP_PKEY_get_bits(k) < 2048)
                        findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "key_weak", path,
                                     "Generate a new key of at least 2048 bits (openssl genrsa -out client.key 2048) and re-sign",
                                     "%s uses a %d-bit RSA key; at least 2048 bits are required", fn, EVP_PKEY_get_bits(k));
                return;
        }
        if (t && (streq(t, "EC-P256") || streq(t, "EC-P384")))
                return;
        findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "key_type_unsupported", path,
                     "Use RSA (2048 bits or more) or EC P-256/P-384 keys, which Roles Anywhere accepts",
                     "%s uses a %s key; Roles Anywhere accepts RSA >= 2048 and EC P-256/P-384", fn, strna(t));
}

static void check_ca_cert(X509 *x, const char *path, Findings *f) {
        uint32_t flags = X509_get_extension_flags(x);
        int idx = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
        X509_EXTENSION *ext = idx >= 0 ? X509_get_ext(x, idx) : NULL;
        _cleanup_free_ char *subj = name_oneline(X509_get_subject_name(x));

        if (!(flags & EXFLAG_CA) || !ext || !X509_EXTENSION_get_critical(ext))
                findings_add(f, HEALTH_WARNING, FINDING_OTHER, "ca_basic_constraints", path,
                             "Re-create the CA with -addext \"basicConstraints=critical,CA:TRUE\"",
                             "CA certificate %s lacks a critical basicConstraints CA:TRUE: a trust anchor cannot be created from it",
                             strna(subj));
        if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN))
                findings_add(f, HEALTH_WARNING, FINDING_OTHER, "ca_key_usage", path,
                             "Re-create the CA with -addext \"keyUsage=critical,keyCertSign,cRLSign\"",
                             "CA certificate %s lacks keyUsage keyCertSign: a trust anchor cannot be created from it",
                             strna(subj));
}

static bool stack_has(STACK_OF(X509) *s, X509 *x) {
        for (int i = 0; i < sk_X509_num(s); i++)
                if (X509_cmp(sk_X509_value(s, i), x) == 0)
                        return true;
        return false;
}

static bool self_signed(X509 *x) {
        return (X509_get_extension_flags(x) & EXFLAG_SS) != 0;
}

/* Where a certificate of the path came from. A certificate in several
 * places counts where the chain is meant to live: the intermediates file
 * before client.crt's tail before the bundle. */
static const char *link_source(const PkiAssessment *a, X509 *x) {
        if (stack_has(a->inter, x))
                return "intermediates";
        if (stack_has(a->cert_extra, x))
                return "certificate";
        return "ca_bundle";
}

static int verify_once(PkiAssessment *a, X509_STORE *store, STACK_OF(X509) *untrusted, uint64_t now,
                       bool no_time, X509_STORE_CTX *ctx) {
        X509_VERIFY_PARAM *vp;
        int ok;

        X509_STORE_CTX_cleanup(ctx);
        if (X509_STORE_CTX_init(ctx, store, a->cert, untrusted) != 1)
                return -ENOMEM;
        vp = X509_STORE_CTX_get0_param(ctx);
        /* USE_CHECK_TIME (set by set_time) would win over NO_CHECK_TIME */
        if (no_time)
                X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_NO_CHECK_TIME);
        else
                X509_VERIFY_PARAM_set_time(vp, (time_t) (now / USEC_PER_SEC));
        ok = X509_verify_cert(ctx);
        ERR_clear_error();
        return ok == 1;
}

static void chain_verified(PkiAssessment *a, STACK_OF(X509) *chain, const char *ca_path, const char *inter_path) {
        int n = sk_X509_num(chain);

        chain_links_free(a->links, a->n_links);
        a->links = NULL;
        a->n_links = 0;
        if (n > 1) {
                const char *src;
                a->links = calloc((size_t) n - 1, sizeof(ChainLink));
                for (int i = 1; a->links && i < n; i++) {
                        X509 *x = sk_X509_value(chain, i);
                        /* the anchor always comes from the bundle (the store) */
                        src = i == n - 1 ? "ca_bundle" : link_source(a, x);
                        if (pki_cert_info(x, streq(src, "intermediates") ? inter_path : streq(src, "ca_bundle") ? ca_path : NULL,
                                          &a->links[a->n_links].info) == 0)
                                a->links[a->n_links++].source = src;
                }
                cert_info_done(&a->ca_info);
                if (pki_cert_info(sk_X509_value(chain, n - 1), ca_path, &a->ca_info) == 0)
                        a->have_ca_info = true;
        }
        /* what AWS needs between the leaf and its trust anchor, in path
         * order: a root, the leaf itself or a stale certificate left in the
         * file stay home */
        if (a->inter_configured) {
                STACK_OF(X509) *send = sk_X509_new_null();
                for (int i = 1; send && i < n; i++) {
                        X509 *x = sk_X509_value(chain, i);
                        if (self_signed(x))
                                continue;
                        if (!X509_up_ref(x))
                                break;
                        if (!sk_X509_push(send, x))
                                X509_free(x);
                }
                if (a->send_chain)
                        x509_stack_free(a->send_chain);
                a->send_chain = send;
        }
}

static void check_chain(PkiAssessment *a, const char *cert_path, const char *ca_path, const char *inter_path,
                        uint64_t now) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        STACK_OF(X509) *untrusted = NULL;
        _cleanup_free_ char *subj = NULL;
        char when[64];
        const char *src, *where;
        X509 *bad;
        int ok, err, depth;

        if (!store || !ctx)
                return;
        for (int i = 0; i < sk_X509_num(a->ca); i++)
                X509_STORE_add_cert(store, sk_X509_value(a->ca, i));
        /* client.crt's own tail and the intermediates file, untrusted: they
         * may carry the path, never end it (borrowed, not up-ref'ed) */
        untrusted = a->cert_extra ? sk_X509_dup(a->cert_extra) : sk_X509_new_null();
        if (!untrusted)
                return;
        for (int i = 0; i < sk_X509_num(a->inter); i++)
                if (!sk_X509_push(untrusted, sk_X509_value(a->inter, i))) {
                        sk_X509_free(untrusted);
                        return;
                }
        ok = verify_once(a, store, untrusted, now, false, ctx);
        err = X509_STORE_CTX_get_error(ctx);
        depth = X509_STORE_CTX_get_error_depth(ctx);
        /* the leaf's own dates are reported as cert_expired / not_yet_valid */
        if (ok == 0 && depth == 0 && (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID)) {
                ok = verify_once(a, store, untrusted, now, true, ctx);
                err = X509_STORE_CTX_get_error(ctx);
                depth = X509_STORE_CTX_get_error_depth(ctx);
        }
        if (ok < 0) {
                sk_X509_free(untrusted);
                return;
        }
        if (ok == 1) {
                a->chain = CHAIN_VERIFIED;
                chain_verified(a, X509_STORE_CTX_get0_chain(ctx), ca_path, inter_path);
                sk_X509_free(untrusted);
                return;
        }
        sk_X509_free(untrusted);
        a->chain = CHAIN_FAILED;
        bad = X509_STORE_CTX_get_current_cert(ctx);
        subj = bad ? name_oneline(X509_get_subject_name(bad)) : NULL;
        src = bad && depth > 0 ? link_source(a, bad) : NULL;
        where = !src ? "" : streq(src, "intermediates") ? base_name(inter_path)
                          : streq(src, "certificate") ? base_name(cert_path) : base_name(ca_path);
        if (depth > 0 && bad && (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID)) {
                int64_t t = 0;
                (void) pki_asn1_time_usec(err == X509_V_ERR_CERT_HAS_EXPIRED ? X509_get0_notAfter(bad)
                                                                            : X509_get0_notBefore(bad), &t);
                findings_add(&a->findings, HEALTH_CRITICAL, FINDING_PAIR, "chain_failed", cert_path,
                             streq(strempty(src), "intermediates")
                                     ? "Install the renewed intermediate CA certificate in the intermediates file (and remove the old one)"
                                     : "Renew the CA certificate and install it where the old one was",
                             "%s does not verify: CA certificate %s in %s %s %s", base_name(cert_path), strna(subj), where,
                             err == X509_V_ERR_CERT_HAS_EXPIRED ? "expired at" : "is not valid before",
                             format_rfc3339(t, when, sizeof(when)));
                return;
        }
        if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) {
                _cleanup_free_ char *issuer = bad ? name_oneline(X509_get_issuer_name(bad)) : NULL;
                findings_add(&a->findings, HEALTH_CRITICAL, FINDING_PAIR, "chain_failed", cert_path,
                             inter_path ? "Put the intermediate CA certificates in the intermediates file and the root (the trust anchor) in the CA bundle"
                                        : "Install a certificate issued by the CA in the bundle, or the bundle of the CA that issued it; "
                                          "an intermediate CA goes in [credentials] intermediates",
                             "%s does not verify against %s%s%s: no certificate of issuer %s (for %s)", base_name(cert_path),
                             base_name(ca_path), inter_path ? " and " : "", inter_path ? base_name(inter_path) : "",
                             strna(issuer), strna(subj));
                return;
        }
        findings_add(&a->findings, HEALTH_CRITICAL, FINDING_PAIR, "chain_failed", cert_path,
                     "Install a certificate issued by the CA in the bundle, or the bundle of the CA that issued it",
                     "%s does not verify against %s%s%s: %s%s%s%s%s%s", base_name(cert_path), base_name(ca_path),
                     inter_path ? " and " : "", inter_path ? base_name(inter_path) : "",
                     X509_verify_cert_error_string(err), depth > 0 ? " (" : "", depth > 0 ? strna(subj) : "",
                     depth > 0 && *where ? " in " : "", depth > 0 ? where : "", depth > 0 ? ")" : "");
}

static bool in_links(const PkiAssessment *a, X509 *x) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        _cleanup_free_ char *fp = NULL;
        if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || !(fp = hex(md, mdlen)))
                return false;
        for (size_t i = 0; i < a->n_links; i++)
                if (streq(strempty(a->links[i].info.fingerprint_sha256), fp))
                        return true;
        return false;
}

/* What a careless hand puts in the intermediates file: the client
 * certificate, the root, a certificate that is no CA, a stale one. None of
 * it blocks by itself (the chain check decides); each is named. */
static void check_intermediates(PkiAssessment *a, const char *path, uint64_t now) {
        const char *fn = base_name(path);
        char when[64];

        for (int i = 0; i < sk_X509_num(a->inter); i++) {
                X509 *x = sk_X509_value(a->inter, i);
                uint32_t flags = X509_get_extension_flags(x);
                _cleanup_free_ char *subj = name_oneline(X509_get_subject_name(x));
                int64_t nb = 0, na = 0;

                if (a->cert && X509_cmp(x, a->cert) == 0) {
                        findings_add(&a->findings, HEALTH_WARNING, FINDING_OTHER, "intermediates_has_leaf", path,
                                     "Keep only the intermediate CA certificates in it; the client certificate is sent on its own",
                                     "%s ([credentials] intermediates) holds the client certificate %s itself", fn, strna(subj));
                        continue;
                }
                if (self_signed(x)) {
                        findings_add(&a->findings, HEALTH_WARNING, FINDING_OTHER, "intermediates_has_root", path,
                                     "Keep only the intermediate CA certificates in it; the root (the trust anchor) belongs in the CA bundle",
                                     "%s ([credentials] intermediates) holds the self-signed root %s; it is not sent to AWS",
                                     fn, strna(subj));
                        continue;
                }
                if (!(flags & EXFLAG_CA)) {
                        findings_add(&a->findings, HEALTH_WARNING, FINDING_OTHER, "intermediates_not_ca", path,
                                     "Remove it: only CA certificates (basicConstraints CA:TRUE) belong in the intermediates file",
                                     "%s ([credentials] intermediates) holds %s, which is not a CA certificate", fn, strna(subj));
                        continue;
                }
                if (a->chain == CHAIN_FAILED || pki_asn1_time_usec(X509_get0_notBefore(x), &nb) < 0 ||
                    pki_asn1_time_usec(X509_get0_notAfter(x), &na) < 0)
                        continue; /* the chain finding says what is wrong */
                if ((int64_t) now <= na && (int64_t) now >= nb)
                        continue;
                /* in a verified path it would have failed; outside it, or
                 * with no bundle to tell, it is dead weight or a warning sign */
                if (a->chain == CHAIN_VERIFIED && in_links(a, x))
                        continue;
                findings_add(&a->findings, HEALTH_WARNING, FINDING_OTHER, "intermediates_expired", path,
                             a->chain == CHAIN_VERIFIED ? "Remove it from the file: the chain does not need it"
                                                        : "Install the renewed intermediate CA certificate; AWS refuses a chain through an expired one",
                             "%s ([credentials] intermediates) holds %s, %s %s%s", fn, strna(subj),
                             (int64_t) now > na ? "expired at" : "not valid before",
                             format_rfc3339((int64_t) now > na ? na : nb, when, sizeof(when)),
                             a->chain == CHAIN_VERIFIED ? " (not used by the chain)" : "");
        }
}

void pki_assess(const PkiBlob *cert, const PkiBlob *key, const PkiBlob *ca, uint64_t now, PkiAssessment *a) {
        pki_assess_chain(cert, key, ca, NULL, now, a);
}

void pki_assess_chain(const PkiBlob *cert, const PkiBlob *key, const PkiBlob *ca, const PkiBlob *inter,
                      uint64_t now, PkiAssessment *a) {
        Findings *f = &a->findings;
        const char *inter_path = inter ? inter->path : NULL;
        int r;

        a->chain = CHAIN_UNVERIFIED;
        if (cert->data) {
                r = pki_parse_cert(cert->data, cert->len, cert->path, &a->cert, &a->cert_extra, f);
                if (r >= 0) {
                        r = pki_cert_info(a->cert, cert->path, &a->info);
                        if (r == -EBADMSG)
                                findings_add(f, HEALTH_CRITICAL, FINDING_PAIR, "cert_time_invalid", cert->path,
                                             "Re-issue the certificate: its validity dates must be UTCTime or GeneralizedTime (openssl x509 -noout -dates -in <file>)",
                                             "%s has a notBefore or notAfter that is not a valid time", base_name(cert->path));
                }
                if (r < 0 && a->cert) {
                        X509_free(a->cert);
                        a->cert = NULL;
                }
        }
        if (key->data)
                (void) pki_parse_key(key->data, key->len, key->path, &a->key, f);
        if (ca && ca->path && ca->data) {
                r = pki_parse_bundle(ca->data, ca->len, ca->path, &a->ca, f);
                if (r >= 0) {
                        unsigned char md[EVP_MAX_MD_SIZE];
                        unsigned mdlen = 0;
                        if (EVP_Digest(ca->data, ca->len, md, &mdlen, EVP_sha256(), NULL) == 1)
                                a->ca_fingerprint = hex(md, mdlen);
                        for (int i = 0; i < sk_X509_num(a->ca); i++) {
                                X509 *x = sk_X509_value(a->ca, i);
                                /* intermediates need the same; the anchor is what AWS sees */
                                check_ca_cert(x, ca->path, f);
                        }
                        if (sk_X509_num(a->ca) > 0 &&
                            pki_cert_info(sk_X509_value(a->ca, 0), ca->path, &a->ca_info) == 0)
                                a->have_ca_info = true;
                }
        }
        if (inter_path) {
                a->inter_configured = true;
                if (inter->data && pki_parse_intermediates(inter->data, inter->len, inter_path, &a->inter, f) >= 0) {
                        unsigned char md[EVP_MAX_MD_SIZE];
                        unsigned mdlen = 0;
                        if (EVP_Digest(inter->data, inter->len, md, &mdlen, EVP_sha256(), NULL) == 1)
                                a->inter_fingerprint = hex(md, mdlen);
                }
        }

        if (a->cert) {
                check_validity(a->cert, &a->info, now, cert->path, f);
                check_leaf_extensions(a->cert, cert->path, f);
                check_key_strength(X509_get0_pubkey(a->cert), cert->path, f);
                a->cert_key_id = cert_pubkey_id(a->cert);
        }
        if (a->cert && a->key) {
                a->key_matches = EVP_PKEY_eq(X509_get0_pubkey(a->cert), a->key) == 1;
                ERR_clear_error();
        }
        /* encoding a key's public half goes through OpenSSL's slow encoder:
         * a matching key has the certificate's id */
        if (a->key)
                a->key_id = a->key_matches && a->cert_key_id ? strdup(a->cert_key_id) : pki_pubkey_id(a->key);
        if (a->cert && a->key) {
                if (!a->key_matches)
                        findings_add(f, HEALTH_CRITICAL, FINDING_TRANSIENT, "key_mismatch", key->path,
                                     "Install the key that belongs to the certificate (compare: openssl x509 -noout -pubkey -in client.crt; openssl pkey -pubout -in client.key)",
                                     "%s does not belong to %s", base_name(key->path), base_name(cert->path));
        }
        /* an unusable intermediates file is its own finding; a chain
         * verdict without it would only add noise */
        if (a->cert && a->ca && (!a->inter_configured || a->inter))
                check_chain(a, cert->path, ca->path, a->inter ? inter_path : NULL, now);
        if (a->inter) {
                check_intermediates(a, inter_path, now);
                /* no bundle to verify against: AWS gets the file as it is */
                if (a->chain != CHAIN_VERIFIED && !a->send_chain)
                        a->send_chain = stack_ref(a->inter);
        }
}

PairVerdict pki_assessment_verdict(const PkiAssessment *a) {
        PairVerdict v = VERDICT_VALID;
        for (size_t i = 0; i < a->findings.n; i++) {
                const Finding *x = &a->findings.items[i];
                if (x->severity < HEALTH_CRITICAL)
                        continue;
                if (x->kind == FINDING_PAIR)
                        return VERDICT_INVALID;
                if (x->kind == FINDING_TRANSIENT)
                        v = VERDICT_INCOMPLETE;
        }
        if (v == VERDICT_VALID && !(a->cert && a->key && a->key_matches))
                v = VERDICT_INCOMPLETE;
        return v;
}

void pki_assessment_done(PkiAssessment *a) {
        X509_free(a->cert);
        x509_stackp(&a->cert_extra);
        EVP_PKEY_free(a->key);
        x509_stackp(&a->ca);
        x509_stackp(&a->inter);
        x509_stackp(&a->send_chain);
        free(a->inter_fingerprint);
        chain_links_free(a->links, a->n_links);
        free(a->cert_key_id);
        free(a->key_id);
        free(a->ca_fingerprint);
        cert_info_done(&a->info);
        cert_info_done(&a->ca_info);
        findings_done(&a->findings);
        *a = (PkiAssessment) {};
}

/* ---- CA private key detection ---------------------------------------------- */

bool pki_name_looks_like_ca_key(const char *name) {
        char low[256];
        size_t n = strlen(name);
        const char *p;

        if (n == 0 || n >= sizeof(low))
                return false;
        for (size_t i = 0; i <= n; i++)
                low[i] = (char) tolower((unsigned char) name[i]);
        /* "ca" as a word: start of name or after a separator, or the rootCA/subCA style */
        for (p = low; (p = strstr(p, "ca")); p++) {
                bool start = p == low || strchr("._-", p[-1]) || (p - low >= 4 && strneq(p - 4, "root", 4)) ||
                             (p - low >= 3 && strneq(p - 3, "sub", 3));
                bool end = p[2] == 0 || strchr("._-", p[2]);
                if (start && end)
                        return strstr(low, "key") != NULL;
        }
        return false;
}

bool pki_blob_is_ca_key(const void *data, size_t len, STACK_OF(X509) *ca) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        bool encrypted = false, match = false;

        if (!ca || len == 0 || !mem_contains(data, len, "PRIVATE KEY-----"))
                return false;
        /* uncached: a CA key must not stay in memory past this check (the
         * scan remembers its verdict by inode instead) */
        if (decode_key(data, len, &k, &encrypted) < 0) {
                ERR_clear_error();
                return false;
        }
        for (int i = 0; i < sk_X509_num(ca) && !match; i++)
                match = EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(ca, i)), k) == 1;
        ERR_clear_error();
        return match;
}
