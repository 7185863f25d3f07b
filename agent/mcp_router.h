/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "macro.h"

/* The MCP multiplexer, pure: many clients, one child (plus the old one while
 * it drains during a replacement). It parses JSON-RPC lines, rewrites ids
 * and progress tokens, answers `initialize` from the child's cached answer,
 * and hands lines to its callbacks; it does no I/O. See docs/child.md. */

/* JSON-RPC error codes the agent itself returns (documented in docs/child.md). */
#define MCP_ERR_PARSE            (-32700)
#define MCP_ERR_INVALID_REQUEST  (-32600)
#define MCP_ERR_METHOD_NOT_FOUND (-32601)
#define MCP_ERR_UNAVAILABLE      (-32010) /* no ready signer child */
#define MCP_ERR_CHILD_EXITED     (-32011) /* the child died before answering */
#define MCP_ERR_NOT_ROUTABLE     (-32012) /* child-initiated request, not exactly one client */
#define MCP_ERR_TOO_MANY         (-32013) /* too many requests in flight for this client */
#define MCP_ERR_TOO_LARGE        (-32014) /* the child's answer exceeded the line limit */
#define MCP_ERR_DRAIN_TIMEOUT    (-32015) /* old child did not answer within drain_timeout */
#define MCP_ERR_TIMEOUT          (-32016) /* no answer within [child] request_timeout */

#define MCP_LATEST_PROTOCOL_VERSION "2025-06-18"
extern const char *const mcp_supported_versions[]; /* newest first, NULL-terminated */

/* Per-client cap on requests in flight; past it requests fail at once. */
#define MCP_CLIENT_PENDING_MAX 1024

typedef struct McpRouter McpRouter;

/* Result of an internal (agent-originated) request: exactly one of result or
 * error is set (error is a JSON-RPC error object, or a synthesized one when
 * the child died). Both borrowed. */
typedef void (*McpInternalCallback)(McpRouter *r, void *userdata, unsigned backend, json_object *result,
                                    json_object *error);

typedef struct McpRouterCallbacks {
        /* A line (no newline) for a client / a backend (child). */
        void (*send_client)(void *userdata, unsigned client, const char *line, size_t len);
        void (*send_backend)(void *userdata, unsigned backend, const char *line, size_t len);
        /* A non-active backend has no request in flight any more. */
        void (*backend_idle)(void *userdata, unsigned backend);
        /* A tools/call finished on `backend`; ok false: JSON-RPC error or isError. */
        void (*tool_result)(void *userdata, unsigned backend, const char *tool, bool ok);
        /* The monotonic clock (µs); NULL: client requests have no deadline. */
        uint64_t (*now)(void *userdata);
} McpRouterCallbacks;

int mcp_router_new(const McpRouterCallbacks *cb, void *userdata, McpRouter **ret);
McpRouter *mcp_router_free(McpRouter *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(McpRouter *, mcp_router_free);

/* Every client request gets a deadline `timeout` µs after it arrived (0:
 * none). mcp_router_expire() fails the requests past theirs with
 * MCP_ERR_TIMEOUT, tells the child with notifications/cancelled and returns
 * the next deadline (USEC_INFINITY: none pending), so the caller needs one
 * timer. A request's deadline is never earlier than one routed before it. */
void mcp_router_set_request_timeout(McpRouter *r, uint64_t timeout);
uint64_t mcp_router_expire(McpRouter *r, uint64_t now);

/* Clients (ids chosen by the caller, never 0). Removing a client drops its
 * pending requests and tells the child with notifications/cancelled. */
int mcp_router_client_add(McpRouter *r, unsigned client);
void mcp_router_client_remove(McpRouter *r, unsigned client);
unsigned mcp_router_n_clients(McpRouter *r);
/* Requests of this client still in flight. */
unsigned mcp_router_client_pending(McpRouter *r, unsigned client);
/* A line from a client. Never fails: bad input is answered with an error. */
void mcp_router_client_line(McpRouter *r, unsigned client, const char *line, size_t len);

/* Backends (children, ids chosen by the caller, never 0). `init_result` is
 * the child's initialize result (reference taken). */
int mcp_router_backend_add(McpRouter *r, unsigned backend);
void mcp_router_backend_set_init(McpRouter *r, unsigned backend, json_object *init_result);
/* Route every new client request to `backend` (0: none; requests then fail
 * with MCP_ERR_UNAVAILABLE). The previous one keeps its in-flight requests. */
void mcp_router_set_active(McpRouter *r, unsigned backend);
unsigned mcp_router_active(McpRouter *r);
/* A line from a backend's stdout. Returns -EBADMSG for a line that is not
 * JSON-RPC (the caller logs it), else 0. */
int mcp_router_backend_line(McpRouter *r, unsigned backend, const char *line, size_t len);
/* The backend's answer was too large: fail request `upstream_id` (if it is
 * in flight) with MCP_ERR_TOO_LARGE. */
void mcp_router_backend_oversize(McpRouter *r, unsigned backend, int64_t upstream_id);
/* The backend is gone (or gave up): every request in flight on it fails
 * with `code`/`message`, internal callbacks get an error. */
void mcp_router_backend_dead(McpRouter *r, unsigned backend, int code, const char *message);
/* Requests in flight on a backend (client and internal). */
unsigned mcp_router_backend_pending(McpRouter *r, unsigned backend);
unsigned mcp_router_pending_total(McpRouter *r);
/* Client requests received so far (for agv_mcp_requests_total). */
uint64_t mcp_router_requests_total(McpRouter *r);

/* Send an agent-originated request to a backend; returns the upstream id
 * (>0) or a negative errno. `params` borrowed, may be NULL. */
int64_t mcp_router_internal_request(McpRouter *r, unsigned backend, const char *method, json_object *params,
                                    McpInternalCallback cb, void *userdata);
/* Send an agent-originated notification to a backend. */
void mcp_router_internal_notify(McpRouter *r, unsigned backend, const char *method, json_object *params);

/* Send `notification` (no params) to every initialized client that has
 * called `list_method` (tools/list, prompts/list, resources/list): after a
 * replacement whose list differs from the old child's. */
void mcp_router_notify_listers(McpRouter *r, const char *list_method, const char *notification);

/* Pick the protocol version to answer a client's initialize with. */
const char *mcp_negotiate_version(const char *requested, const char *child_version);

/* Extract the trailing `"id":N` of a (truncated) JSON-RPC response tail;
 * returns 0 and *ret, or -ENOENT. Used for oversize lines. */
int mcp_find_trailing_id(const char *tail, size_t len, int64_t *ret);
