/* SPDX-License-Identifier: MIT */
/* The control protocol codec (agent/protocol.c): request parsing, reply
 * formatting and client-side reply parsing. Invariants beyond "no sanitizer
 * report": an accepted request is valid UTF-8 and survives a round trip
 * through a reply unchanged; every formatted reply is exactly one line;
 * utf8_is_valid agrees with an independent decoder (RFC 3629). */
#include "fuzz.h"

#include "protocol.h"

/* Written from RFC 3629's table, not from protocol.c. */
static bool ref_utf8_valid(const uint8_t *s, size_t len) {
        size_t i = 0;
        while (i < len) {
                uint8_t c = s[i];
                uint8_t lo = 0x80, hi = 0xbf;
                size_t n;
                if (c <= 0x7f) {
                        i++;
                        continue;
                } else if (c >= 0xc2 && c <= 0xdf)
                        n = 1;
                else if (c == 0xe0) {
                        n = 2;
                        lo = 0xa0;
                } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
                        n = 2;
                else if (c == 0xed) {
                        n = 2;
                        hi = 0x9f;
                } else if (c == 0xf0) {
                        n = 3;
                        lo = 0x90;
                } else if (c >= 0xf1 && c <= 0xf3)
                        n = 3;
                else if (c == 0xf4) {
                        n = 3;
                        hi = 0x8f;
                } else
                        return false;
                if (len - i <= n)
                        return false;
                if (s[i + 1] < lo || s[i + 1] > hi)
                        return false;
                for (size_t k = 2; k <= n; k++)
                        if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                                return false;
                i += n + 1;
        }
        return true;
}

static void check_one_line(const char *s, size_t len) {
        FUZZ_CHECK(s);
        FUZZ_CHECK(len > 0 && s[len - 1] == '\n');
        FUZZ_CHECK(strlen(s) == len);
        FUZZ_CHECK(!memchr(s, '\n', len - 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *line = malloc(size + 1);
        json_object *req = NULL, *result = NULL;
        const char *cmd = NULL, *ecode = NULL, *emsg = NULL;
        char *code = NULL, *message = NULL, *out;
        size_t outlen = 0;
        int r;

        if (!line)
                return 0;
        memcpy(line, data, size);
        line[size] = '\0';

        FUZZ_CHECK(utf8_is_valid(line, size) == ref_utf8_valid(data, size));

        r = protocol_parse_request(line, size, &req, &cmd, &ecode, &emsg);
        if (r >= 0) {
                FUZZ_CHECK(req && cmd);
                FUZZ_CHECK(size <= CONTROL_LINE_MAX);
                FUZZ_CHECK(ref_utf8_valid(data, size));
                out = protocol_format_ok(req, &outlen);
                check_one_line(out, outlen);
                out[outlen - 1] = '\0';
                FUZZ_CHECK(protocol_parse_reply(out, &result, &code, &message) == 1);
                FUZZ_CHECK(json_object_equal(result, req));
                json_object_put(result);
                free(out);
                json_object_put(req);
        } else {
                FUZZ_CHECK(!req && ecode && emsg);
        }

        /* The same bytes as a reply (the CLI's side). */
        result = NULL;
        r = protocol_parse_reply(line, &result, &code, &message);
        FUZZ_CHECK(r == 1 || r == 0 || r == -EBADMSG);
        if (r == 1)
                FUZZ_CHECK(result || !code);
        if (r == 0)
                FUZZ_CHECK(code && message);
        json_object_put(result);
        free(code);
        free(message);
        code = message = NULL;

        /* An error reply carrying the input (split at the first NUL) as code
         * and message stays one line and parses back to the same strings
         * when they are valid UTF-8. */
        const char *c = line, *m = line + strlen(line) + (strlen(line) < size ? 1 : 0);
        out = protocol_format_error(c, m, &outlen);
        check_one_line(out, outlen);
        out[outlen - 1] = '\0';
        FUZZ_CHECK(protocol_parse_reply(out, &result, &code, &message) == 0);
        if (utf8_is_valid(c, strlen(c)) && utf8_is_valid(m, strlen(m))) {
                FUZZ_CHECK(streq(code, c));
                FUZZ_CHECK(streq(message, m));
        }
        free(code);
        free(message);
        free(out);
        free(line);
        return 0;
}
