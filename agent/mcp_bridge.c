/* SPDX-License-Identifier: MIT */
/* `agv-agent mcp`: stdio <-> MCP socket, so an MCP client configuration can
 * say {"command": "agv-agent", "args": ["mcp"]}. Bytes are copied as they
 * are (the agent frames and checks them); poll(), no busy loop. */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config.h"
#include "strv.h"
#include "verbs.h"

#define BRIDGE_BUF (256 * 1024)

typedef struct Pipe {
        int from, to;
        char *buf;
        size_t len;
        bool eof, closed;
} Pipe;

static char *resolve_socket(const char *opt, const char *config_path) {
        const char *e;
        Config *c = NULL;
        char *p;

        if (opt)
                return strdup(opt);
        e = getenv("AGV_MCP_SOCKET");
        if (!isempty(e))
                return strdup(e);
        if (config_load(config_path ? config_path : DEFAULT_CONFIG_PATH, NULL, true, &c, NULL) >= 0 && c) {
                p = strdup(c->child.mcp_socket);
                config_free(c);
                return p;
        }
        return strdup("/run/agv-agent/mcp.sock");
}

static int set_nonblock(int fd) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

/* Move what can be moved without blocking; -errno on a broken side. */
static int pump(Pipe *p, bool can_read, bool can_write) {
        if (can_read && !p->eof && p->len < BRIDGE_BUF) {
                ssize_t n = read(p->from, p->buf + p->len, BRIDGE_BUF - p->len);
                if (n > 0)
                        p->len += (size_t) n;
                else if (n == 0)
                        p->eof = true;
                else if (errno != EAGAIN && errno != EINTR)
                        p->eof = true;
        }
        if ((can_write || p->len > 0) && p->len > 0) {
                ssize_t n = write(p->to, p->buf, p->len);
                if (n > 0) {
                        memmove(p->buf, p->buf + n, p->len - (size_t) n);
                        p->len -= (size_t) n;
                } else if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return -errno;
        }
        return 0;
}

int verb_mcp(int argc, char **argv) {
        static const struct option opts[] = {
                { "socket", required_argument, NULL, 's' },
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *socket_opt = NULL, *config = NULL;
        _cleanup_free_ char *path = NULL, *b1 = NULL, *b2 = NULL;
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+s:c:h", opts, NULL)) >= 0)
                switch (c) {
                case 's':
                        socket_opt = optarg;
                        break;
                case 'c':
                        config = optarg;
                        break;
                case 'h':
                        printf("agv-agent mcp [--socket PATH] [--config PATH]\n\n"
                               "Connect stdin/stdout to the agent's MCP socket, so MCP clients reach the\n"
                               "supervised signer: {\"command\": \"agv-agent\", \"args\": [\"mcp\"]}.\n"
                               "The socket is --socket, else $AGV_MCP_SOCKET, else [child] mcp_socket of\n"
                               "the configuration, else /run/agv-agent/mcp.sock. Exits when either side\n"
                               "closes.\n");
                        return 0;
                default:
                        return usage_error("mcp", "unknown or incomplete option '%s'", argv[optind - 1]);
                }
        if (optind < argc)
                return usage_error("mcp", "unexpected argument '%s'", argv[optind]);

        path = resolve_socket(socket_opt, config);
        if (!path || strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "agv-agent mcp: invalid socket path\n");
                return 1;
        }
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int e = errno;
                fprintf(stderr, "agv-agent mcp: cannot connect to %s: %s%s\n", path, strerror(e),
                        e == ENOENT || e == ECONNREFUSED ? " (is agv-agent running with a [child] command?)"
                        : e == EACCES                    ? " (join the agent's socket_group)"
                                                         : "");
                return 1;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        if (set_nonblock(fd) < 0 || set_nonblock(STDIN_FILENO) < 0 || set_nonblock(STDOUT_FILENO) < 0) {
                fprintf(stderr, "agv-agent mcp: cannot set non-blocking mode: %s\n", strerror(errno));
                return 1;
        }

        b1 = malloc(BRIDGE_BUF);
        b2 = malloc(BRIDGE_BUF);
        if (!b1 || !b2)
                return 1;
        Pipe up = { .from = STDIN_FILENO, .to = fd, .buf = b1 };
        Pipe down = { .from = fd, .to = STDOUT_FILENO, .buf = b2 };

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = up.eof ? -1 : STDIN_FILENO, .events = up.len < BRIDGE_BUF ? POLLIN : 0 },
                        { .fd = fd, .events = (short) ((!down.eof && down.len < BRIDGE_BUF ? POLLIN : 0) |
                                                       (up.len > 0 ? POLLOUT : 0)) },
                        { .fd = STDOUT_FILENO, .events = down.len > 0 ? POLLOUT : 0 },
                        /* (POLLHUP on stdout: the client went away) */
                };
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                if (pump(&up, p[0].revents & (POLLIN | POLLHUP | POLLERR), p[1].revents & POLLOUT) < 0)
                        return 0; /* the agent went away */
                if (pump(&down, p[1].revents & (POLLIN | POLLHUP | POLLERR), p[2].revents & POLLOUT) < 0)
                        return 0; /* the client went away */
                if (p[2].revents & (POLLERR | POLLHUP))
                        return 0;
                /* Either side closed: pass on what is buffered, then stop. */
                if (up.eof && up.len == 0 && !up.closed) {
                        /* The agent answers what is in flight, then closes. */
                        (void) shutdown(fd, SHUT_WR);
                        up.closed = true;
                }
                if (down.eof && down.len == 0)
                        return 0;
        }
}
