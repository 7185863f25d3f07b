/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "module.h"

/* The signer child supervisor and MCP doorway ([child]): spawns the MCP
 * stdio server, keeps it alive (child_fsm.h), serves it to local clients
 * over the MCP socket (mcp_server.h, mcp_router.h) and replaces it without
 * downtime. docs/child.md describes the behaviour. */
extern const ModuleOps child_module;

/* The outcome of one of the signer's audit lines
 * ({timestamp, traceId, service, action, who, what, why, result, details}). */
typedef enum ChildAudit {
        CHILD_AUDIT_NONE,     /* not an audit line */
        CHILD_AUDIT_APPROVED,
        CHILD_AUDIT_DENIED,
        CHILD_AUDIT_ERROR,
        _CHILD_AUDIT_MAX,
} ChildAudit;

/* Parse one stderr line of the child into a priority, a message and
 * AGV_CHILD_* journal fields: audit lines by their `result` (approved info,
 * denied warning, error err) with a readable message, other JSON lines by
 * `level`/`message`, anything else as it is. Pure, for the unit tests.
 * Caller frees *message and *fields; *audit may be NULL. */
int child_parse_stderr_line(const char *line, size_t len, int *priority, char **message, char ***fields,
                            ChildAudit *audit);

/* The child's clean environment (PATH, HOME/USER/LOGNAME of [child] user,
 * then [child] environment); NULL on OOM. */
/* aws_config: the AWS config the agent wrote for the signer ([credentials]),
 * or NULL. */
char **child_build_env(const ChildSection *ch, const char *aws_config);
/* `name` as execve() will find it: a path, or searched in env's PATH
 * (default PATH if none); -ENOENT, -EACCES... */
int child_resolve_executable(const char *name, char *const *env, char **ret);
