/* SPDX-License-Identifier: MIT */
#include "protocol.h"

#include "strv.h"

bool utf8_is_valid(const char *str, size_t len) {
        const unsigned char *s = (const unsigned char *) str, *end = s + len;

        while (s < end) {
                unsigned char c = *s;
                size_t n;
                uint32_t cp;

                if (c < 0x80) {
                        s++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        n = 1;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        n = 2;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 3;
                        cp = c & 0x07;
                } else
                        return false;
                if ((size_t) (end - s) <= n)
                        return false;
                for (size_t i = 1; i <= n; i++) {
                        if ((s[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i] & 0x3f);
                }
                /* overlong forms, surrogates, beyond U+10FFFF */
                if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                s += n + 1;
        }
        return true;
}

int protocol_parse_request(const char *line, size_t len, json_object **request, const char **command,
                           const char **error_code, const char **error_message) {
        json_tokener *tok;
        json_object *obj, *cmd;
        enum json_tokener_error jerr;

        *request = NULL;
        *command = NULL;
        if (len > CONTROL_LINE_MAX) {
                *error_code = "line_too_long";
                *error_message = "request line exceeds 65536 bytes";
                return -EBADMSG;
        }
        if (!utf8_is_valid(line, len)) {
                *error_code = "invalid_utf8";
                *error_message = "request is not valid UTF-8";
                return -EBADMSG;
        }
        tok = json_tokener_new_ex(32);
        if (!tok) {
                *error_code = "internal";
                *error_message = "out of memory";
                return -ENOMEM;
        }
        obj = json_tokener_parse_ex(tok, line, (int) len);
        jerr = json_tokener_get_error(tok);
        /* The whole line must be one JSON value and nothing after it. */
        if (obj && jerr == json_tokener_success && json_tokener_get_parse_end(tok) < len) {
                size_t end = json_tokener_get_parse_end(tok);
                for (; end < len; end++)
                        if (line[end] != ' ' && line[end] != '\t' && line[end] != '\r')
                                break;
                if (end < len) {
                        json_object_put(obj);
                        obj = NULL;
                        jerr = json_tokener_error_parse_unexpected;
                }
        }
        json_tokener_free(tok);
        if (!obj || jerr != json_tokener_success) {
                json_object_put(obj);
                *error_code = "parse_error";
                *error_message = "request is not a JSON object on one line";
                return -EBADMSG;
        }
        if (!json_object_is_type(obj, json_type_object)) {
                json_object_put(obj);
                *error_code = "invalid_request";
                *error_message = "request must be a JSON object";
                return -EBADMSG;
        }
        if (!json_object_object_get_ex(obj, "command", &cmd) || !json_object_is_type(cmd, json_type_string)) {
                json_object_put(obj);
                *error_code = "invalid_request";
                *error_message = "request needs a string member \"command\"";
                return -EBADMSG;
        }
        *request = obj;
        *command = json_object_get_string(cmd);
        return 0;
}

static char *finish_line(json_object *reply, size_t *len) {
        size_t l;
        const char *s = json_object_to_json_string_length(reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &l);
        char *out = malloc(l + 2);

        if (out) {
                memcpy(out, s, l);
                out[l] = '\n';
                out[l + 1] = '\0';
                if (len)
                        *len = l + 1;
        }
        json_object_put(reply);
        return out;
}

char *protocol_format_ok(json_object *result, size_t *len) {
        json_object *reply = json_object_new_object();
        if (!reply)
                return NULL;
        json_object_object_add(reply, "ok", json_object_new_boolean(1));
        json_object_object_add(reply, "result", json_object_get(result));
        return finish_line(reply, len);
}

char *protocol_format_error(const char *code, const char *message, size_t *len) {
        json_object *reply = json_object_new_object(), *err = json_object_new_object();
        if (!reply || !err) {
                json_object_put(reply);
                json_object_put(err);
                return NULL;
        }
        json_object_object_add(err, "code", json_object_new_string(code));
        json_object_object_add(err, "message", json_object_new_string(message));
        json_object_object_add(reply, "ok", json_object_new_boolean(0));
        json_object_object_add(reply, "error", err);
        return finish_line(reply, len);
}

int protocol_parse_reply(const char *line, json_object **result, char **code, char **message) {
        json_object *obj = json_tokener_parse(line), *ok, *v;
        int r = -EBADMSG;

        *result = NULL;
        *code = *message = NULL;
        if (!obj || !json_object_is_type(obj, json_type_object) ||
            !json_object_object_get_ex(obj, "ok", &ok) || !json_object_is_type(ok, json_type_boolean))
                goto out;
        if (json_object_get_boolean(ok)) {
                if (!json_object_object_get_ex(obj, "result", &v))
                        goto out;
                *result = json_object_get(v);
                r = 1;
        } else {
                json_object *c, *m;
                if (!json_object_object_get_ex(obj, "error", &v) || !json_object_object_get_ex(v, "code", &c) ||
                    !json_object_object_get_ex(v, "message", &m))
                        goto out;
                *code = strdup(json_object_get_string(c));
                *message = strdup(json_object_get_string(m));
                r = 0;
        }
out:
        json_object_put(obj);
        return r;
}
