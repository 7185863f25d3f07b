/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "macro.h"

/* The control protocol, pure: newline-delimited JSON objects.
 *   request:  {"command":"status", ...arguments}
 *   reply:    {"ok":true,"result":{...}}
 *             {"ok":false,"error":{"code":"...","message":"..."}}
 * docs/control-protocol.md is the reference. */

#define CONTROL_LINE_MAX (64 * 1024)

/* Parse one request line (without the newline). On success *request holds
 * the object and *command points into it. On failure returns -EBADMSG with
 * an error code and message for the reply (static strings). */
int protocol_parse_request(const char *line, size_t len, json_object **request, const char **command,
                           const char **error_code, const char **error_message);

/* Serialize a reply as one line ending in '\n' (caller frees). `result` is
 * borrowed. */
char *protocol_format_ok(json_object *result, size_t *len);
char *protocol_format_error(const char *code, const char *message, size_t *len);

/* Parse a reply line on the client side. Returns 1 with *result (owned) for
 * ok, 0 with *code and *message (owned) for an error reply, -EBADMSG if the line
 * is not a reply. */
int protocol_parse_reply(const char *line, json_object **result, char **code, char **message);

bool utf8_is_valid(const char *s, size_t len);
