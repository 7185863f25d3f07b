/* SPDX-License-Identifier: MIT */
#include "mcp_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "fdlimit.h"
#include "log.h"
#include "strv.h"

typedef struct McpClient McpClient;
struct McpClient {
        McpServer *server;
        unsigned id;
        int fd;
        sd_event_source *io;
        Buf in, out;
        size_t scanned;      /* bytes of `in` known to hold no newline */
        bool dead;
        bool read_closed;
        McpClient *next;
};

struct McpServer {
        sd_event *event;
        McpServerCallbacks cb;
        void *userdata;
        int listen_fd;
        char *path;
        sd_event_source *listen_src;
        AcceptGuard accept_guard;
        sd_event_source *reaper;   /* deferred disconnects */
        McpClient *clients;
        unsigned n_clients, max_clients, next_id;
};

static McpClient *find(McpServer *s, unsigned id) {
        for (McpClient *c = s->clients; c; c = c->next)
                if (c->id == id)
                        return c;
        return NULL;
}

static void client_free(McpClient *c) {
        sd_event_source_disable_unref(c->io);
        safe_close(c->fd);
        buf_done(&c->in);
        buf_done(&c->out);
        free(c);
}

static void unlink_client(McpServer *s, McpClient *c) {
        for (McpClient **p = &s->clients; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        s->n_clients--;
}

static int on_reap(sd_event_source *src, void *userdata) {
        McpServer *s = userdata;
        for (;;) {
                McpClient *c = s->clients;
                while (c && !c->dead)
                        c = c->next;
                if (!c)
                        break;
                unlink_client(s, c);
                unsigned id = c->id;
                client_free(c);
                if (s->cb.on_disconnect)
                        s->cb.on_disconnect(s->userdata, id);
        }
        return sd_event_source_set_enabled(src, SD_EVENT_OFF);
}

/* Never free a client under a caller's feet: mark it and let the loop reap. */
static void client_kill(McpClient *c, const char *why) {
        if (c->dead)
                return;
        if (why)
                log_notice("MCP client %u disconnected: %s", c->id, why);
        c->dead = true;
        (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(c->server->reaper, SD_EVENT_ONESHOT);
}

static int flush_out(McpClient *c) {
        while (c->out.len > 0) {
                ssize_t n = write(c->fd, c->out.data, c->out.len);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -errno;
                }
                buf_consume(&c->out, (size_t) n);
        }
        return 0;
}

static void update_events(McpClient *c) {
        if (c->dead)
                return;
        if (c->read_closed && c->out.len == 0 && !(c->server->cb.busy && c->server->cb.busy(c->server->userdata, c->id))) {
                client_kill(c, NULL);
                return;
        }
        uint32_t ev = c->read_closed ? 0 : EPOLLIN;
        if (c->out.len > 0)
                ev |= EPOLLOUT;
        /* epoll reports EPOLLHUP even for an empty mask, so a half-closed
         * client waiting for an answer is switched off, not left at 0. */
        int r = ev == 0 ? sd_event_source_set_enabled(c->io, SD_EVENT_OFF) : sd_event_source_set_io_events(c->io, ev);
        if (r >= 0 && ev != 0)
                r = sd_event_source_set_enabled(c->io, SD_EVENT_ON);
        if (r < 0)
                client_kill(c, "cannot watch the connection");
}

void mcp_server_send(McpServer *s, unsigned client, const char *line, size_t len) {
        McpClient *c = find(s, client);
        if (!c || c->dead)
                return;
        if (c->out.len == 0) {
                /* Fast path: straight to the socket. */
                struct iovec iov[2] = { { (void *) line, len }, { (void *) "\n", 1 } };
                ssize_t n = writev(c->fd, iov, 2);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR) {
                                client_kill(c, "write failed");
                                return;
                        }
                        n = 0;
                }
                if ((size_t) n == len + 1) {
                        if (c->read_closed)
                                update_events(c);
                        return;
                }
                if ((size_t) n < len) {
                        buf_append(&c->out, line + n, len - (size_t) n);
                        buf_append(&c->out, "\n", 1);
                } else
                        buf_append(&c->out, "\n", 1);
        } else {
                if (c->out.len + len + 1 > MCP_CLIENT_OUTPUT_MAX) {
                        client_kill(c, "client does not read its responses (output buffer full)");
                        return;
                }
                buf_append(&c->out, line, len);
                buf_append(&c->out, "\n", 1);
        }
        if (c->out.oom) {
                client_kill(c, "out of memory");
                return;
        }
        update_events(c);
}

static void process_lines(McpClient *c) {
        McpServer *s = c->server;
        size_t start = 0;
        while (!c->dead) {
                size_t from = MAX(start, c->scanned);
                char *nl = memchr(c->in.data + from, '\n', c->in.len - from);
                if (!nl) {
                        c->scanned = c->in.len;
                        break;
                }
                size_t end = (size_t) (nl - c->in.data);
                size_t l = end - start;
                if (l > 0 && c->in.data[start + l - 1] == '\r')
                        l--;
                if (l > 0)
                        s->cb.on_line(s->userdata, c->id, c->in.data + start, l);
                start = end + 1;
        }
        if (c->dead)
                return;
        buf_consume(&c->in, start);
        c->scanned = c->scanned >= start ? c->scanned - start : 0;
        if (c->in.len > MCP_LINE_MAX) {
                static const char err[] =
                        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"message exceeds the 4 MiB line limit\"}}";
                mcp_server_send(s, c->id, err, sizeof(err) - 1);
                client_kill(c, "line too long");
        }
}

static int on_client_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        McpClient *c = userdata;

        if (revents & EPOLLOUT) {
                if (flush_out(c) < 0) {
                        client_kill(c, NULL);
                        return 0;
                }
                update_events(c);
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                char chunk[65536];
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        client_kill(c, NULL);
                        return 0;
                }
                if (n == 0) {
                        c->read_closed = true;
                        if (revents & (EPOLLHUP | EPOLLERR)) {
                                /* Hung up both ways: no one can read an answer,
                                 * so the router cancels what is in flight. */
                                client_kill(c, NULL);
                                return 0;
                        }
                        update_events(c);
                        return 0;
                }
                buf_append(&c->in, chunk, (size_t) n);
                if (c->in.oom) {
                        client_kill(c, "out of memory");
                        return 0;
                }
                process_lines(c);
        }
        return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        McpServer *s = userdata;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                (void) accept_guard_failed(&s->accept_guard, s->event, src, errno);
                return 0;
        }
        if (s->max_clients && s->n_clients >= s->max_clients) {
                static const char err[] =
                        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32010,\"message\":\"too many MCP clients attached ([agent] max_clients)\"}}\n";
                (void) !write(cfd, err, sizeof(err) - 1);
                safe_close(cfd);
                log_warning("MCP socket: refused a client, %u already attached", s->n_clients);
                return 0;
        }
        McpClient *c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(cfd);
                return 0;
        }
        c->server = s;
        c->fd = cfd;
        c->id = ++s->next_id;
        if (c->id == 0)
                c->id = ++s->next_id;
        if (sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, on_client_io, c) < 0) {
                client_free(c);
                return 0;
        }
        c->next = s->clients;
        s->clients = c;
        s->n_clients++;
        if (s->cb.on_connect)
                s->cb.on_connect(s->userdata, c->id);
        return 0;
}

int mcp_server_new(sd_event *e, const McpServerCallbacks *cb, void *userdata, McpServer **ret) {
        McpServer *s = calloc(1, sizeof(*s));
        int r;
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->cb = *cb;
        s->userdata = userdata;
        s->listen_fd = -1;
        s->accept_guard.what = "MCP socket";
        r = sd_event_add_defer(e, &s->reaper, on_reap, s);
        if (r < 0) {
                mcp_server_free(s);
                return r;
        }
        (void) sd_event_source_set_enabled(s->reaper, SD_EVENT_OFF);
        *ret = s;
        return 0;
}

static void close_listener(McpServer *s) {
        accept_guard_done(&s->accept_guard);
        s->listen_src = sd_event_source_disable_unref(s->listen_src);
        if (s->listen_fd >= 0) {
                s->listen_fd = safe_close(s->listen_fd);
                if (s->path)
                        (void) unlink(s->path);
        }
        free(s->path);
        s->path = NULL;
}

McpServer *mcp_server_free(McpServer *s) {
        if (!s)
                return NULL;
        close_listener(s);
        while (s->clients) {
                McpClient *c = s->clients;
                s->clients = c->next;
                client_free(c);
        }
        sd_event_source_disable_unref(s->reaper);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int mcp_server_listen(McpServer *s, const char *path, gid_t gid, mode_t mode) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *dir = NULL, *p = NULL;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG, "[child] mcp_socket %s: path too long (max %zu bytes)", path,
                                       sizeof(sa.sun_path) - 1);
        strcpy(sa.sun_path, path);
        p = strdup(path);
        dir = strdup(path);
        if (!p || !dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "[child] mcp_socket: cannot create directory %s: %m", dir);
        }

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "MCP socket: %m");
        /* A stale socket from a previous run; never replace a non-socket. */
        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return log_error_errno(EEXIST, "[child] mcp_socket %s exists and is not a socket; remove it or choose another path", path);
                (void) unlink(path);
        }
        /* Bind with a tight umask so the socket is never briefly too open. */
        mode_t old = umask(0177);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return log_error_errno(errno, "[child] mcp_socket %s: cannot bind: %m", path);
        if (gid != (gid_t) -1 && chown(path, (uid_t) -1, gid) < 0)
                log_warning_errno(errno, "[child] mcp_socket %s: cannot set group %u: %m", path, (unsigned) gid);
        if (chmod(path, mode) < 0)
                log_warning_errno(errno, "[child] mcp_socket %s: cannot set mode %04o: %m", path, (unsigned) mode);
        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(errno, "[child] mcp_socket %s: listen: %m", path);

        sd_event_source *src = NULL;
        r = sd_event_add_io(s->event, &src, fd, EPOLLIN, on_accept, s);
        if (r < 0)
                return log_error_errno(r, "MCP socket: cannot watch: %m");

        /* Swap: the old listener goes (and its path if different). */
        bool same = s->path && streq(s->path, path);
        accept_guard_done(&s->accept_guard);
        s->listen_src = sd_event_source_disable_unref(s->listen_src);
        if (s->listen_fd >= 0) {
                safe_close(s->listen_fd);
                if (!same)
                        (void) unlink(s->path);
        }
        free(s->path);
        s->path = TAKE_PTR(p);
        s->listen_fd = TAKE_FD(fd);
        s->listen_src = src;
        return 0;
}

void mcp_server_set_max_clients(McpServer *s, unsigned max) {
        s->max_clients = max;
}

unsigned mcp_server_n_clients(McpServer *s) {
        return s ? s->n_clients : 0;
}

const char *mcp_server_path(McpServer *s) {
        return s ? s->path : NULL;
}
