/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* The MCP Unix socket: accepts local clients and frames newline-delimited
 * JSON-RPC. Bounded buffers: a client whose unread output exceeds
 * MCP_CLIENT_OUTPUT_MAX is disconnected rather than stalling the others. */

#define MCP_LINE_MAX (4u * 1024 * 1024)
#define MCP_CLIENT_OUTPUT_MAX (16u * 1024 * 1024)

typedef struct McpServer McpServer;

typedef struct McpServerCallbacks {
        void (*on_connect)(void *userdata, unsigned client);
        void (*on_line)(void *userdata, unsigned client, const char *line, size_t len);
        /* Always called from the event loop, never from inside a send. */
        void (*on_disconnect)(void *userdata, unsigned client);
        /* A client that closed its sending side stays until it has no
         * request in flight (so `printf ... | agv-agent mcp` gets answers). */
        bool (*busy)(void *userdata, unsigned client);
} McpServerCallbacks;

int mcp_server_new(sd_event *e, const McpServerCallbacks *cb, void *userdata, McpServer **ret);
McpServer *mcp_server_free(McpServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(McpServer *, mcp_server_free);
/* (Re)bind the listening socket; existing clients stay connected. gid
 * (gid_t) -1 keeps the group. */
int mcp_server_listen(McpServer *s, const char *path, gid_t gid, mode_t mode);
void mcp_server_set_max_clients(McpServer *s, unsigned max);
/* Queue one line (a newline is appended) for a client. */
void mcp_server_send(McpServer *s, unsigned client, const char *line, size_t len);
unsigned mcp_server_n_clients(McpServer *s);
const char *mcp_server_path(McpServer *s);
