/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "macro.h"

/* The CLI side of the control protocol: one blocking request/reply with a
 * timeout. Used only by the command-line verbs, never inside the daemon. */

/* Returns 1 ok (*result set), 0 error reply (*code and *message set), or a
 * negative errno when the agent could not be reached or replied garbage
 * (*message explains). */
int control_call(const char *socket_path, const char *command, json_object *args, int timeout_ms,
                 json_object **result, char **code, char **message);

/* Where the control socket is: --socket, else $AGV_AGENT_SOCKET, else the
 * config file's [agent] socket, else the built-in default. */
char *control_socket_resolve(const char *socket_opt, const char *config_path);
