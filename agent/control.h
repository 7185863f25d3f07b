/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "config.h"

typedef struct Manager Manager;
typedef struct Control Control;

/* The control socket server: accepts clients, frames newline-delimited
 * requests, enforces the limits (line cap, idle timeout, client cap, output
 * backlog) and hands each request to the manager's command dispatch. */
int control_new(Manager *m, Control **ret);
Control *control_free(Control *c);
/* Bind (or adopt a socket-activated fd) according to the active config. */
int control_start(Control *c);
/* [agent] socket settings changed: rebind when the path changed. */
void control_reconfigure(Control *c, const Config *old, const Config *new);
unsigned control_n_clients(Control *c);
const char *control_socket_path(Control *c);
bool control_socket_activated(Control *c);

/* Who is asking: decided once at accept from SO_PEERCRED/SO_PEERGROUPS. */
typedef struct ControlPeer {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        bool admin;
        gid_t *groups;   /* supplementary groups (SO_PEERGROUPS) */
        size_t n_groups;
} ControlPeer;

/* The peer's primary or supplementary groups include gid. */
bool control_peer_in_group(const ControlPeer *p, gid_t gid);
