/* SPDX-License-Identifier: MIT */
#include "control.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "fdlimit.h"
#include "log.h"
#include "manager.h"
#include "modules.h"
#include "protocol.h"
#include "strv.h"

/* A client that does not read its replies may hold at most this much. */
#define CONTROL_OUTPUT_MAX (1024 * 1024)
/* accept() at most this many per wakeup so a flood cannot starve the loop */
#define ACCEPT_BURST 32
/* Connections only root, the agent's user and admin_group may take, so
 * members of the socket group cannot lock the administrators out. */
#define CONTROL_ADMIN_RESERVED 4
/* A started request line must be complete within this (or client_timeout
 * if shorter), however slowly its bytes trickle in. */
#define CONTROL_REQUEST_DEADLINE (10 * USEC_PER_SEC)

typedef struct ControlClient ControlClient;

struct Control {
        Manager *manager;
        int fd;
        char *path;          /* bound path (NULL when socket-activated) */
        bool activated;
        sd_event_source *listen_source;
        AcceptGuard accept_guard;
        ControlClient *clients;
        unsigned n_clients;
        uint64_t requests;
        uint64_t dropped;
};

struct ControlClient {
        Control *control;
        ControlClient *prev, *next;
        int fd;
        sd_event_source *io, *idle;
        ControlPeer peer;
        Buf in, out;
        bool read_closed;  /* EOF seen: close once the output is flushed */
        bool close_after_flush;
        bool wipe_out;      /* out has held a secret since it was last empty */
        usec_t partial_since; /* monotonic start of an incomplete line; 0: none */
};

unsigned control_n_clients(Control *c) {
        return c ? c->n_clients : 0;
}

const char *control_socket_path(Control *c) {
        return c ? c->path : NULL;
}

bool control_socket_activated(Control *c) {
        return c && c->activated;
}

static void client_free(ControlClient *cl) {
        Control *c;
        if (!cl)
                return;
        c = cl->control;
        if (cl->prev)
                cl->prev->next = cl->next;
        else
                c->clients = cl->next;
        if (cl->next)
                cl->next->prev = cl->prev;
        c->n_clients--;
        sd_event_source_disable_unref(cl->io);
        sd_event_source_disable_unref(cl->idle);
        safe_close(cl->fd);
        buf_done(&cl->in);
        free(cl->peer.groups);
        if (cl->wipe_out && cl->out.data)
                explicit_bzero(cl->out.data, cl->out.cap);
        buf_done(&cl->out);
        free(cl);
}

static void client_update_events(ControlClient *cl) {
        uint32_t ev = 0;
        if (!cl->read_closed && !cl->close_after_flush)
                ev |= EPOLLIN;
        if (cl->out.len > 0)
                ev |= EPOLLOUT;
        (void) sd_event_source_set_io_events(cl->io, ev);
}

/* Write as much as the socket takes now. Returns <0 when the client is gone. */
static int client_flush(ControlClient *cl) {
        while (cl->out.len > 0) {
                ssize_t n = send(cl->fd, cl->out.data, cl->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -errno;
                }
                buf_consume(&cl->out, (size_t) n);
        }
        /* a secret was queued (credentials): once sent, leave no copy behind */
        if (cl->out.len == 0 && cl->wipe_out && cl->out.data) {
                explicit_bzero(cl->out.data, cl->out.cap);
                cl->wipe_out = false;
        }
        if (cl->out.len == 0 && (cl->close_after_flush || cl->read_closed))
                return -ECONNRESET;
        if (cl->out.len > CONTROL_OUTPUT_MAX) {
                log_warning("Control client (pid %d) is not reading its replies; disconnecting", (int) cl->peer.pid);
                return -ENOBUFS;
        }
        client_update_events(cl);
        return 0;
}

static void client_queue(ControlClient *cl, char *line, size_t len) {
        if (!line) {
                cl->close_after_flush = true;
                return;
        }
        buf_append(&cl->out, line, len);
        free(line);
}

static void client_reply_error(ControlClient *cl, const char *code, const char *message) {
        size_t len = 0;
        char *line = protocol_format_error(code, message, &len);
        client_queue(cl, line, len);
}

/* ---- commands -------------------------------------------------------- */

static int cmd_status(Manager *m, void *u, json_object *req, json_object **result, char **code, char **msg) {
        *result = manager_status(m);
        return *result ? 0 : -ENOMEM;
}

static int cmd_version(Manager *m, void *u, json_object *req, json_object **result, char **code, char **msg) {
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "version", json_object_new_string(AGV_VERSION));
        json_object_object_add(o, "schema_version", json_object_new_int(STATUS_SCHEMA_VERSION));
        *result = o;
        return 0;
}

static int cmd_reload(Manager *m, void *u, json_object *req, json_object **result, char **code, char **msg) {
        _cleanup_free_ char *err = NULL;
        json_object *o;

        if (manager_reload(m, &err) < 0) {
                *code = strdup("config_invalid");
                *msg = err ? TAKE_PTR(err) : strdup("configuration invalid");
                return -EINVAL;
        }
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "reloaded", json_object_new_boolean(1));
        json_object_object_add(o, "generation", json_object_new_int((int) m->config_generation));
        *result = o;
        return 0;
}

static int cmd_metrics(Manager *m, void *u, json_object *req, json_object **result, char **code, char **msg) {
        _cleanup_free_ char *text = manager_metrics(m);
        json_object *o;
        if (!text)
                return -ENOMEM;
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "content_type", json_object_new_string("text/plain; version=0.0.4"));
        json_object_object_add(o, "text", json_object_new_string(text));
        *result = o;
        return 0;
}

static int cmd_help(Manager *m, void *u, json_object *req, json_object **result, char **code, char **msg);

static const ControlCommand core_commands[] = {
        { "status", false, "health and state of every part of the agent", cmd_status },
        { "version", false, "agent version and status schema version", cmd_version },
        { "metrics", false, "Prometheus text exposition", cmd_metrics },
        { "reload", true, "re-read the configuration (like SIGHUP)", cmd_reload },
        { "help", false, "list the commands", cmd_help },
        {},
};

static void add_help(json_object *arr, const ControlCommand *cmds) {
        for (const ControlCommand *c = cmds; c && c->name; c++) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "command", json_object_new_string(c->name));
                json_object_object_add(o, "admin", json_object_new_boolean(c->admin));
                json_object_object_add(o, "help", json_object_new_string(c->help ? c->help : ""));
                json_object_array_add(arr, o);
        }
}

static int cmd_help(Manager *m, void *u, json_object *req, json_object **result, char **code, char **msg) {
        json_object *o = json_object_new_object(), *arr = json_object_new_array();
        add_help(arr, core_commands);
        for (size_t i = 0; module_table[i]; i++)
                add_help(arr, module_table[i]->commands);
        json_object_object_add(o, "commands", arr);
        *result = o;
        return 0;
}

static const ControlCommand *find_command(Manager *m, const char *name, void **userdata) {
        for (const ControlCommand *c = core_commands; c->name; c++)
                if (streq(c->name, name)) {
                        *userdata = NULL;
                        return c;
                }
        for (size_t i = 0; module_table[i]; i++)
                for (const ControlCommand *c = module_table[i]->commands; c && c->name; c++)
                        if (streq(c->name, name)) {
                                *userdata = m->modules[i];
                                return c;
                        }
        return NULL;
}

static void client_handle_line(ControlClient *cl, const char *line, size_t len) {
        Control *c = cl->control;
        _cleanup_json_ json_object *req = NULL, *result = NULL;
        const char *command, *ecode, *emsg;
        const ControlCommand *cmd;
        void *userdata;
        char *code = NULL, *msg = NULL;
        int r;

        c->requests++;
        if (len > 0 && line[len - 1] == '\r')
                len--;
        if (len == 0)
                return; /* blank lines are keep-alives */
        r = protocol_parse_request(line, len, &req, &command, &ecode, &emsg);
        if (r < 0) {
                client_reply_error(cl, ecode, emsg);
                return;
        }
        /* Fast path: a plain status request is answered from the cache. */
        if (streq(command, "status") && json_object_object_length(req) == 1) {
                size_t l = 0;
                const char *reply = manager_status_reply(c->manager, &l);
                if (reply) {
                        buf_append(&cl->out, reply, l);
                        return;
                }
        }
        cmd = find_command(c->manager, command, &userdata);
        if (!cmd) {
                _cleanup_free_ char *m = NULL;
                if (asprintf(&m, "unknown command '%.64s'; send {\"command\":\"help\"} for the list", command) < 0)
                        m = NULL;
                client_reply_error(cl, "unknown_command", m ? m : "unknown command");
                return;
        }
        if (cmd->admin && !cl->peer.admin) {
                log_notice("Refused '%s' from uid %u (pid %d): not root, the agent's user or in admin_group",
                           cmd->name, (unsigned) cl->peer.uid, (int) cl->peer.pid);
                client_reply_error(cl, "permission_denied",
                                   "this command changes the agent: run it as root or as a member of [agent] admin_group");
                return;
        }
        if (cmd->raw_handler) {
                char *reply = NULL;
                size_t l = 0;
                c->manager->peer = &cl->peer;
                r = cmd->raw_handler(c->manager, userdata, req, &reply, &l, &code, &msg);
                c->manager->peer = NULL;
                if (r >= 0) {
                        cl->wipe_out = true;
                        buf_append(&cl->out, reply, l);
                        explicit_bzero(reply, l);
                        free(reply);
                        return;
                }
        } else {
                c->manager->peer = &cl->peer;
                r = cmd->handler(c->manager, userdata, req, &result, &code, &msg);
                c->manager->peer = NULL;
        }
        if (r < 0) {
                client_reply_error(cl, code ? code : "failed", msg ? msg : strerror(-r));
                free(code);
                free(msg);
                return;
        }
        {
                size_t l = 0;
                char *out = protocol_format_ok(result, &l);
                client_queue(cl, out, l);
        }
}

/* Frame complete lines out of the input buffer. */
static void client_process(ControlClient *cl) {
        size_t start = 0;

        if (cl->in.len == 0)
                return;
        for (;;) {
                char *nl;
                if (cl->close_after_flush)
                        break;
                nl = memchr(cl->in.data + start, '\n', cl->in.len - start);
                if (!nl)
                        break;
                client_handle_line(cl, cl->in.data + start, (size_t) (nl - (cl->in.data + start)));
                start = (size_t) (nl - cl->in.data) + 1;
        }
        buf_consume(&cl->in, start);
        if (cl->in.len > CONTROL_LINE_MAX) {
                client_reply_error(cl, "line_too_long", "request line exceeds 65536 bytes; closing the connection");
                cl->close_after_flush = true;
                buf_done(&cl->in);
        }
}

static usec_t request_deadline(const Config *cfg) {
        return MIN(cfg->agent.client_timeout, CONTROL_REQUEST_DEADLINE);
}

/* The connection's one timer: client_timeout after the last complete
 * request, or the request deadline while a line is incomplete. Bytes alone
 * never extend it, so a client trickling one byte at a time goes away. */
static int client_rearm(ControlClient *cl, bool request_done) {
        Manager *m = cl->control->manager;
        usec_t now;
        int r;

        r = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        if (cl->in.len == 0)
                cl->partial_since = 0;
        else if (cl->partial_since == 0 || request_done)
                cl->partial_since = now; /* what is left began after the last complete line */
        if (cl->partial_since > 0) {
                usec_t until = usec_add(cl->partial_since, request_deadline(m->config)), cur;
                /* never later than the idle deadline already running */
                if (sd_event_source_get_time(cl->idle, &cur) >= 0 && cur < until && !request_done)
                        until = cur;
                return sd_event_source_set_time(cl->idle, until);
        }
        if (!request_done)
                return 0;
        return sd_event_source_set_time(cl->idle, usec_add(now, m->config->agent.client_timeout));
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ControlClient *cl = userdata;
        Control *c = cl->control;
        char tmp[16384];

        if (revents & EPOLLIN) {
                /* One bounded read per wakeup keeps every client's share fair. */
                ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        client_free(cl);
                        return 0;
                }
                if (n == 0) {
                        cl->read_closed = true;
                        if (cl->in.len > 0) /* a last request without newline */
                                buf_append(&cl->in, "\n", 1);
                } else if (n > 0)
                        buf_append(&cl->in, tmp, (size_t) n);
                if (cl->in.oom) {
                        client_free(cl);
                        return 0;
                }
                {
                        uint64_t before = c->requests;
                        client_process(cl);
                        if (client_rearm(cl, c->requests != before) < 0) {
                                log_warning("Cannot rearm a control client's timer; disconnecting it");
                                client_free(cl);
                                return 0;
                        }
                }
        } else if (revents & (EPOLLHUP | EPOLLERR)) {
                if (cl->out.len == 0) {
                        client_free(cl);
                        return 0;
                }
        }
        if (client_flush(cl) < 0)
                client_free(cl);
        return 0;
}

static int on_client_idle(sd_event_source *s, uint64_t usec, void *userdata) {
        ControlClient *cl = userdata;
        if (cl->partial_since > 0) {
                log_notice("Control client (uid %u, pid %d) did not finish its request in time; disconnecting",
                           (unsigned) cl->peer.uid, (int) cl->peer.pid);
                client_reply_error(cl, "timeout", "request not completed in time; closing the connection");
        } else {
                log_debug("Control client (pid %d) idle too long; disconnecting", (int) cl->peer.pid);
                client_reply_error(cl, "timeout", "idle timeout; closing the connection");
        }
        (void) client_flush(cl); /* best effort: a stalled peer may not read it */
        client_free(cl);
        return 0;
}

bool control_peer_in_group(const ControlPeer *p, gid_t want) {
        if (p->gid == want)
                return true;
        for (size_t i = 0; i < p->n_groups; i++)
                if (p->groups[i] == want)
                        return true;
        return false;
}

/* SO_PEERGROUPS: the peer's supplementary groups at connect time, straight
 * from the kernel; no NSS lookup on the event loop. */
static void peer_read_groups(int fd, ControlPeer *p) {
        socklen_t len = 64 * sizeof(gid_t);
        for (int tries = 0; tries < 3; tries++) {
                gid_t *g = malloc(len);
                socklen_t got = len;
                if (!g)
                        return;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
                        p->groups = g;
                        p->n_groups = got / sizeof(gid_t);
                        return;
                }
                free(g);
                if (errno != ERANGE)
                        return;
                len = MAX(got, len * 4); /* the kernel says how much it needs */
        }
}

static void reject_client(int fd, const char *code, const char *message) {
        size_t len = 0;
        _cleanup_free_ char *line = protocol_format_error(code, message, &len);
        if (line)
                (void) send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
}

/* May a non-admin peer of `uid` have one more connection? NULL if so, else
 * the reason. Admins are only bound by max_clients. */
static const char *control_admit(Control *c, Manager *m, uid_t uid) {
        unsigned max = manager_max_clients(m), reserved = MIN(CONTROL_ADMIN_RESERVED, max / 2), mine = 0;

        for (ControlClient *cl = c->clients; cl; cl = cl->next)
                if (!cl->peer.admin && cl->peer.uid == uid)
                        mine++;
        if (mine >= m->config->agent.max_clients_per_user)
                return "this user already has [agent] max_clients_per_user connections open; close one";
        if (c->n_clients >= max - reserved)
                return "the remaining connections are kept for root and [agent] admin_group; try again";
        return NULL;
}

static int on_accept(sd_event_source *s, int lfd, uint32_t revents, void *userdata) {
        Control *c = userdata;
        Manager *m = c->manager;

        for (int i = 0; i < ACCEPT_BURST; i++) {
                _cleanup_close_ int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                struct ucred cred;
                socklen_t sl = sizeof(cred);
                ControlClient *cl;
                int r;

                if (fd < 0) {
                        (void) accept_guard_failed(&c->accept_guard, m->event, s, errno);
                        break;
                }
                if (c->n_clients >= manager_max_clients(m)) {
                        c->dropped++;
                        reject_client(TAKE_FD(fd), "too_many_clients",
                                      "the agent serves [agent] max_clients connections at once; try again");
                        continue;
                }
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) < 0)
                        continue;
                {
                        ControlPeer peer = { .pid = cred.pid, .uid = cred.uid, .gid = cred.gid };
                        peer_read_groups(fd, &peer);
                        bool admin = cred.uid == 0 || cred.uid == geteuid() ||
                                     (m->config->agent.admin_group.name &&
                                      control_peer_in_group(&peer, m->config->agent.admin_group.gid));
                        const char *why = admin ? NULL : control_admit(c, m, cred.uid);
                        if (why) {
                                free(peer.groups);
                                c->dropped++;
                                log_debug("Refused a control connection from uid %u (pid %d): %s", (unsigned) cred.uid,
                                          (int) cred.pid, why);
                                reject_client(TAKE_FD(fd), "too_many_clients", why);
                                continue;
                        }
                        cl = calloc(1, sizeof(ControlClient));
                        if (!cl) {
                                free(peer.groups);
                                return log_oom();
                        }
                        cl->peer = peer;
                        cl->peer.admin = admin;
                }
                cl->control = c;
                cl->fd = TAKE_FD(fd);
                cl->next = c->clients;
                if (c->clients)
                        c->clients->prev = cl;
                c->clients = cl;
                c->n_clients++;

                r = sd_event_add_io(m->event, &cl->io, cl->fd, EPOLLIN, on_client_io, cl);
                if (r >= 0)
                        r = sd_event_add_time_relative(m->event, &cl->idle, CLOCK_MONOTONIC,
                                                       m->config->agent.client_timeout, USEC_PER_SEC / 10,
                                                       on_client_idle, cl);
                if (r < 0) {
                        log_warning_errno(r, "Cannot watch a control client");
                        client_free(cl);
                }
        }
        return 0;
}

/* ---- listening ------------------------------------------------------- */

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

/* Is something already answering on this path? Then it is not stale. */
static bool socket_in_use(const struct sockaddr_un *sa) {
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return false;
        return connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) == 0 || errno == EAGAIN;
}

static int bind_socket(Control *c, const char *path, const Config *cfg) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        mode_t old_umask;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG, "[agent] socket %s: path too long (at most 107 bytes)", path);
        strcpy(sa.sun_path, path);

        r = mkdir_parents(path);
        if (r < 0)
                return log_error_errno(r, "Cannot create the directory of %s", path);
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return log_error_errno(EEXIST, "%s exists and is not a socket; remove it or set [agent] socket", path);
                if (socket_in_use(&sa))
                        return log_error_errno(EADDRINUSE, "%s is in use: another agent is running", path);
                (void) unlink(path);
        }

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "socket() failed");
        /* Bind with a tight umask so the socket never exists with looser
         * permissions than configured, then set the configured mode. */
        old_umask = umask(0177);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old_umask);
        if (r < 0)
                return log_error_errno(errno, "Cannot bind %s", path);
        if (chmod(path, cfg->agent.socket_mode) < 0)
                log_warning_errno(errno, "Cannot set mode %04o on %s", (unsigned) cfg->agent.socket_mode, path);
        if (cfg->agent.socket_group.name && chown(path, (uid_t) -1, cfg->agent.socket_group.gid) < 0)
                log_warning_errno(errno, "Cannot give %s to group %s", path, cfg->agent.socket_group.name);
        if (listen(fd, 128) < 0)
                return log_error_errno(errno, "listen() on %s failed", path);
        c->fd = TAKE_FD(fd);
        free(c->path);
        c->path = strdup(path);
        return 0;
}

static int adopt_activated(Control *c) {
        char **names = NULL;
        int n = sd_listen_fds_with_names(true, &names), found = -1;

        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
                        continue;
                if ((names && names[i] && streq(names[i], "control")) || (found < 0 && n == 1))
                        found = fd;
        }
        strv_free(names);
        if (found < 0)
                return 0;
        (void) fcntl(found, F_SETFD, FD_CLOEXEC);
        (void) fcntl(found, F_SETFL, fcntl(found, F_GETFL) | O_NONBLOCK);
        c->fd = found;
        c->activated = true;
        log_info("Using the socket-activated control socket");
        return 1;
}

static void close_listener(Control *c) {
        accept_guard_done(&c->accept_guard);
        c->listen_source = sd_event_source_disable_unref(c->listen_source);
        c->fd = safe_close(c->fd);
        if (c->path && !c->activated)
                (void) unlink(c->path);
        free(c->path);
        c->path = NULL;
}

int control_start(Control *c) {
        Manager *m = c->manager;
        int r = adopt_activated(c);

        if (r == 0) {
                r = bind_socket(c, m->config->agent.socket, m->config);
                if (r < 0)
                        return r;
        }
        r = sd_event_add_io(m->event, &c->listen_source, c->fd, EPOLLIN, on_accept, c);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the control socket");
        log_debug("Control socket ready at %s", c->path ? c->path : "(activated)");
        return 0;
}

void control_reconfigure(Control *c, const Config *old, const Config *new) {
        Manager *m = c->manager;

        if (c->activated || streq(old->agent.socket, new->agent.socket)) {
                /* same socket: adjust mode and group in place */
                if (c->path) {
                        if (old->agent.socket_mode != new->agent.socket_mode)
                                (void) chmod(c->path, new->agent.socket_mode);
                        if (new->agent.socket_group.name && new->agent.socket_group.gid != old->agent.socket_group.gid)
                                if (chown(c->path, (uid_t) -1, new->agent.socket_group.gid) < 0)
                                        log_warning_errno(errno, "Cannot give %s to group %s", c->path,
                                                          new->agent.socket_group.name);
                }
                return;
        }
        /* New path: bind the new one first; keep the old one if that fails. */
        {
                Control tmp = { .manager = m, .fd = -1 };
                if (bind_socket(&tmp, new->agent.socket, new) < 0) {
                        log_warning("Keeping the control socket at %s", c->path);
                        return;
                }
                close_listener(c);
                c->fd = tmp.fd;
                c->path = tmp.path;
                if (sd_event_add_io(m->event, &c->listen_source, c->fd, EPOLLIN, on_accept, c) < 0)
                        log_warning("Cannot watch the new control socket");
                log_info("Control socket moved to %s", c->path);
        }
}

int control_new(Manager *m, Control **ret) {
        Control *c = calloc(1, sizeof(Control));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->fd = -1;
        c->accept_guard.what = "control socket";
        *ret = c;
        return 0;
}

Control *control_free(Control *c) {
        if (!c)
                return NULL;
        while (c->clients)
                client_free(c->clients);
        close_listener(c);
        free(c);
        return NULL;
}
