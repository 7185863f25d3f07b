/* SPDX-License-Identifier: MIT */
#pragma once

#include "module.h"

/* The signer child supervisor and MCP doorway ([child]): spawns the MCP
 * stdio server, keeps it alive (child_fsm.h), serves it to local clients
 * over the MCP socket (mcp_server.h, mcp_router.h) and replaces it without
 * downtime. docs/child.md describes the behaviour. */
extern const ModuleOps child_module;

/* Parse one stderr line of the child into a priority, a message and
 * AGV_CHILD_* journal fields (JSON audit lines; other lines as they are).
 * Pure, for the unit tests. Caller frees *message and *fields. */
int child_parse_stderr_line(const char *line, size_t len, int *priority, char **message, char ***fields);
