/* SPDX-License-Identifier: MIT */
/* What a client sends with the `credentials` control command: the request
 * line (agent/protocol.c) and its identity arguments (trust_anchor_arn,
 * profile_arn, role_arn, certificate_sha256, certificate: the client's
 * certificate file in base64), checked against what the agent holds by
 * credentials_request_identity() (agent/credentials.c).
 *
 * Input: one mode byte, then the request line. Mode bit 0: the agent holds
 * valid credentials; bit 1: they came from the very certificate the request
 * carries (when the harness's own decoder can read it), else from another.
 *
 * Invariants beyond "no crash, no leak":
 * - 0, identity_mismatch (-EXDEV) or bad_certificate (-EINVAL), with a code
 *   and a message exactly on failure;
 * - the message is one bounded line of valid UTF-8 without control
 *   characters and never echoes what the client sent as its certificate;
 * - an ARN that differs (not a string, or another value ignoring case) is
 *   never accepted; a request naming nothing is;
 * - a certificate this harness can decode itself (strict base64, then DER or
 *   PEM through OpenSSL's plain d2i/PEM readers, SHA-256 of the first
 *   certificate) is judged by that fingerprint: equal to what the agent
 *   holds -> accepted (ARNs equal), different -> identity_mismatch. */
#include "fuzz.h"

#include <ctype.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "credentials.h"
#include "log.h"
#include "protocol.h"

#define TA "arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/1f2a3b4c-0000-4000-8000-000000000001"
#define PR "arn:aws:rolesanywhere:eu-west-1:123456789012:profile/1f2a3b4c-0000-4000-8000-000000000002"
#define RO "arn:aws:iam::123456789012:role/agentic-vault-signer"
#define OTHER_FP "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define MSG_MAX 512

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        log_set_max_level(LOG_ERR);
        return 0;
}

/* RFC 4648 base64 with padding, nothing else accepted; written here, not
 * taken from the agent. */
static int b64val(int c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static unsigned char *b64decode(const char *s, size_t len, size_t *out) {
        unsigned char *d;
        size_t n = 0;
        if (len == 0 || len % 4)
                return NULL;
        d = malloc(len / 4 * 3);
        if (!d)
                return NULL;
        for (size_t i = 0; i < len; i += 4) {
                int v[4];
                for (int k = 0; k < 4; k++) {
                        v[k] = s[i + k] == '=' ? -2 : b64val((unsigned char) s[i + k]);
                        if (v[k] == -1 || (v[k] == -2 && (i + 4 != len || k < 2)) || (k == 3 && v[2] == -2 && v[3] != -2)) {
                                free(d);
                                return NULL;
                        }
                }
                d[n++] = (unsigned char) (v[0] << 2 | v[1] >> 4);
                if (v[2] >= 0)
                        d[n++] = (unsigned char) ((v[1] & 15) << 4 | v[2] >> 2);
                if (v[3] >= 0)
                        d[n++] = (unsigned char) ((v[2] & 3) << 6 | v[3]);
        }
        *out = n;
        return d;
}

/* SHA-256 hex of the first certificate in a DER or PEM blob, or NULL. */
static char *oracle_fingerprint(const unsigned char *d, size_t n) {
        X509 *x = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        char *hex = NULL;

        if (n >= 11 && memmem(d, n, "-----BEGIN ", 11)) {
                BIO *b = BIO_new_mem_buf(d, (int) n);
                if (b)
                        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
                BIO_free(b);
        } else {
                const unsigned char *p = d;
                x = d2i_X509(NULL, &p, (long) n);
                if (x && p != d + n) { /* trailing bytes: not a plain DER certificate */
                        X509_free(x);
                        x = NULL;
                }
        }
        ERR_clear_error();
        if (x && X509_digest(x, EVP_sha256(), md, &mdlen) == 1 && (hex = malloc(mdlen * 2 + 1)))
                for (unsigned i = 0; i < mdlen; i++)
                        sprintf(hex + 2 * i, "%02x", md[i]);
        X509_free(x);
        return hex;
}

static bool arn_differs(json_object *req, const char *key, const char *have) {
        json_object *v;
        if (!json_object_object_get_ex(req, key, &v) || !v)
                return false;
        return !json_object_is_type(v, json_type_string) || strcasecmp(json_object_get_string(v), have) != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CredentialsSection cs = { .enabled = true, .trust_anchor_arn = (char *) TA, .profile_arn = (char *) PR,
                                  .role_arn = (char *) RO };
        json_object *req = NULL, *v;
        const char *cmd = NULL, *ecode = NULL, *emsg = NULL, *b64 = NULL;
        char *line, *code = NULL, *msg = NULL, *ofp = NULL;
        const char *held;
        bool arns_differ, names_nothing;
        uint8_t mode;
        int r;

        if (size < 1)
                return 0;
        mode = data[0];
        data++;
        size--;
        line = malloc(size + 1);
        if (!line)
                return 0;
        memcpy(line, data, size);
        line[size] = 0;
        if (protocol_parse_request(line, size, &req, &cmd, &ecode, &emsg) < 0 || !streq(cmd, "credentials")) {
                json_object_put(req);
                free(line);
                return 0;
        }

        if (json_object_object_get_ex(req, "certificate", &v) && json_object_is_type(v, json_type_string)) {
                size_t n = 0;
                unsigned char *der;
                b64 = json_object_get_string(v);
                der = b64decode(b64, strlen(b64), &n);
                if (der && strlen(b64) <= CREDENTIALS_CERTIFICATE_B64_MAX)
                        ofp = oracle_fingerprint(der, n);
                free(der);
        }
        held = !(mode & 1) ? NULL : (mode & 2) && ofp ? ofp : OTHER_FP;

        r = credentials_request_identity(req, &cs, held != NULL, held, &code, &msg);
        FUZZ_CHECK(r == 0 || r == -EXDEV || r == -EINVAL || r == -ENOMEM);
        if (r == 0 || r == -ENOMEM)
                FUZZ_CHECK(!code && !msg);
        else {
                FUZZ_CHECK(code && msg);
                FUZZ_CHECK(streq(code, r == -EXDEV ? "identity_mismatch" : "bad_certificate"));
                FUZZ_CHECK(strlen(msg) > 0 && strlen(msg) <= MSG_MAX);
                FUZZ_CHECK(utf8_is_valid(msg, strlen(msg)));
                for (const unsigned char *p = (const unsigned char *) msg; *p; p++)
                        FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
                /* nothing the client sent as its certificate comes back */
                if (b64 && strlen(b64) >= 16)
                        for (size_t i = 0; i + 16 <= strlen(b64); i += 8)
                                FUZZ_CHECK(!memmem(msg, strlen(msg), b64 + i, 16));
        }

        arns_differ = arn_differs(req, "trust_anchor_arn", TA) || arn_differs(req, "profile_arn", PR) ||
                      arn_differs(req, "role_arn", RO);
        if (arns_differ)
                FUZZ_CHECK(r < 0);
        names_nothing = !json_object_object_get_ex(req, "trust_anchor_arn", NULL) &&
                        !json_object_object_get_ex(req, "profile_arn", NULL) &&
                        !json_object_object_get_ex(req, "role_arn", NULL) &&
                        !json_object_object_get_ex(req, "certificate_sha256", NULL) &&
                        !json_object_object_get_ex(req, "certificate", NULL);
        if (names_nothing)
                FUZZ_CHECK(r == 0 || r == -ENOMEM);
        /* a certificate the oracle can read is judged by its fingerprint */
        if (ofp && held && !arns_differ && r != -ENOMEM) {
                bool sha_ok = !json_object_object_get_ex(req, "certificate_sha256", &v) || !v ||
                              (json_object_is_type(v, json_type_string) && strcasecmp(json_object_get_string(v), held) == 0);
                if (strcasecmp(ofp, held) != 0)
                        FUZZ_CHECK(r == -EXDEV);
                else if (sha_ok)
                        FUZZ_CHECK(r == 0);
        }

        free(code);
        free(msg);
        free(ofp);
        json_object_put(req);
        free(line);
        return 0;
}
