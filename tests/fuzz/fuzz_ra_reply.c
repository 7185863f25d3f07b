/* SPDX-License-Identifier: MIT */
/* The Roles Anywhere reply as the endpoint (or whatever answers in its
 * place: a proxy, a captive portal) sends it: ra_response_parse() over the
 * HTTP status, X-Amzn-ErrorType, Retry-After and the body, then what the
 * agent makes of the result (the credential_process JSON, the fix text).
 *
 * Input: 2 bytes of status selector, then "type\x1f" "retry-after\x1f" body
 * (a missing part is a missing header). A secret is the value of a
 * "secretAccessKey" or "sessionToken" member anywhere in the body (found by
 * a plain scan, not by the parser under test) that occurs nowhere else in it
 * and is shaped like one.
 *
 * Invariants beyond "no sanitizer report, no leak":
 * - 2xx: either credentials (all three strings non-empty, an expiration in
 *   years 1970..9999 that survives the round trip through the
 *   credential_process JSON) or RA_ERR_BAD_RESPONSE with nothing kept;
 * - otherwise an error whose class matches the return value, a Retry-After
 *   only for throttling and at most an hour;
 * - error type and message are bounded, valid UTF-8 and free of control
 *   characters (they go to the journal, status and alerts), and never carry
 *   a secret the body held. */
#include "fuzz.h"

#include <json-c/json.h>

#include "protocol.h"
#include "rolesanywhere.h"

#define MESSAGE_MAX 1024

static const long statuses[] = { 200, 201, 204, 299, 400, 401, 403, 404, 409, 413, 429, 500, 502, 503, 504, 0, -1, 99, 302, 999 };

static size_t count(const char *hay, size_t len, const char *needle, size_t nl) {
        size_t n = 0;
        for (const char *p = hay; (p = memmem(p, len - (size_t) (p - hay), needle, nl)); p++)
                n++;
        return n;
}

/* No value of a secret member in s: unique in the body and shaped like a
 * secret (16+ bytes without a blank, so no word of the agent's own text). */
static void check_no_secret(const char *s, const char *body, size_t len) {
        static const char *const keys[] = { "\"secretAccessKey\"", "\"sessionToken\"" };
        for (size_t k = 0; s && k < ELEMENTSOF(keys); k++)
                for (const char *p = body; (p = memmem(p, len - (size_t) (p - body), keys[k], strlen(keys[k]))); p++) {
                        const char *v = p + strlen(keys[k]), *end = body + len, *q;
                        while (v < end && (*v == ' ' || *v == ':' || *v == '\t'))
                                v++;
                        if (v >= end || *v != '"')
                                continue;
                        v++;
                        for (q = v; q < end && *q != '"' && *q != '\\' && *q != ' '; q++)
                                ;
                        if (q - v < 16 || count(body, len, v, (size_t) (q - v)) != 1)
                                continue;
                        FUZZ_CHECK(!memmem(s, strlen(s), v, (size_t) (q - v)));
                }
}

static void check_text(const char *s, size_t max) {
        if (!s)
                return;
        FUZZ_CHECK(strlen(s) <= max);
        FUZZ_CHECK(utf8_is_valid(s, strlen(s)));
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *p;
        size_t len, tl = 0, rl = 0;
        char *type = NULL, *retry = NULL, *body;
        RaCredentials creds = {};
        RaError err = {};
        long status;
        int r;

        if (size < 2 || size > 128 * 1024)
                return 0;
        status = data[1] & 0x80 ? (long) (((unsigned) data[0] << 8 | data[1]) & 0x3ff)
                                : statuses[data[0] % ELEMENTSOF(statuses)];
        data += 2;
        size -= 2;
        /* headers are C strings: curl hands over what precedes a NUL */
        if (memchr(data, 0x1f, size)) {
                p = fuzz_next_part(&data, &size, "\x1f", &tl);
                type = strndup((const char *) p, tl);
                if (memchr(data, 0x1f, size)) {
                        p = fuzz_next_part(&data, &size, "\x1f", &rl);
                        retry = strndup((const char *) p, rl);
                }
        }
        len = size;
        body = malloc(len + 1);
        if (!body) {
                free(type);
                free(retry);
                return 0;
        }
        memcpy(body, data, len);
        body[len] = 0;

        r = ra_response_parse(status, type && *type ? type : NULL, retry, body, len, &creds, &err);
        if (status >= 200 && status < 300) {
                if (r == 0) {
                        char *json;
                        json_object *o, *v;
                        uint64_t exp2 = 0;

                        FUZZ_CHECK(err.kind == RA_ERR_NONE);
                        FUZZ_CHECK(creds.access_key_id && *creds.access_key_id);
                        FUZZ_CHECK(creds.secret_access_key && *creds.secret_access_key);
                        FUZZ_CHECK(creds.session_token && *creds.session_token);
                        /* 1970-01-01 .. 9999-12-31 */
                        FUZZ_CHECK(creds.expiration <= (uint64_t) 253402300799 * USEC_PER_SEC);
                        FUZZ_CHECK(creds.expiration % USEC_PER_SEC == 0);
                        json = ra_credentials_process_json(&creds);
                        FUZZ_CHECK(json);
                        FUZZ_CHECK(!strchr(json, '\n'));
                        o = json_tokener_parse(json);
                        FUZZ_CHECK(o);
                        FUZZ_CHECK(json_object_object_get_ex(o, "Version", &v) && json_object_get_int(v) == 1);
                        FUZZ_CHECK(json_object_object_get_ex(o, "AccessKeyId", &v) &&
                                   streq(json_object_get_string(v), creds.access_key_id));
                        FUZZ_CHECK(json_object_object_get_ex(o, "SecretAccessKey", &v) &&
                                   streq(json_object_get_string(v), creds.secret_access_key));
                        FUZZ_CHECK(json_object_object_get_ex(o, "SessionToken", &v) &&
                                   streq(json_object_get_string(v), creds.session_token));
                        FUZZ_CHECK(json_object_object_get_ex(o, "Expiration", &v) &&
                                   ra_parse_time(json_object_get_string(v), &exp2) == 0 && exp2 == creds.expiration);
                        json_object_put(o);
                        ra_secret_free(json);
                } else {
                        FUZZ_CHECK(r == -EBADMSG);
                        FUZZ_CHECK(err.kind == RA_ERR_BAD_RESPONSE);
                        FUZZ_CHECK(!creds.access_key_id && !creds.secret_access_key && !creds.session_token);
                        FUZZ_CHECK(err.message);
                }
        } else {
                char *fix;
                FUZZ_CHECK(err.kind != RA_ERR_NONE && err.kind < _RA_ERR_MAX);
                FUZZ_CHECK(r == (ra_error_class(err.kind) == RA_CLASS_REJECTED ? -EACCES : -EAGAIN));
                FUZZ_CHECK(err.http_status == status);
                FUZZ_CHECK(err.message);
                FUZZ_CHECK(!creds.access_key_id && !creds.secret_access_key && !creds.session_token);
                FUZZ_CHECK(err.retry_after <= 3600 * USEC_PER_SEC);
                FUZZ_CHECK(err.retry_after == 0 || err.kind == RA_ERR_THROTTLED);
                fix = ra_error_fix(&err, "arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/ta",
                                   "arn:aws:rolesanywhere:eu-west-1:123456789012:profile/pr", -1);
                FUZZ_CHECK(fix && *fix);
                free(fix);
        }
        check_text(err.message, MESSAGE_MAX);
        check_text(err.aws_type, 256);
        check_no_secret(err.message, body, len);

        ra_credentials_done(&creds);
        ra_error_done(&err);
        free(body);
        free(type);
        free(retry);
        return 0;
}
