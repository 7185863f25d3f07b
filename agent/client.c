/* SPDX-License-Identifier: MIT */
#include "client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "config.h"
#include "protocol.h"
#include "strv.h"

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int64_t left = deadline - now_ms();
                int r;
                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

int control_call(const char *socket_path, const char *command, json_object *args, int timeout_ms,
                 json_object **result, char **code, char **message) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        json_object *req;
        const char *s;
        size_t len, off = 0;
        Buf in = {};
        int64_t deadline = now_ms() + timeout_ms;
        int r;

        *result = NULL;
        *code = *message = NULL;
        if (strlen(socket_path) >= sizeof(sa.sun_path)) {
                *message = strdup("socket path too long");
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, socket_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                r = -errno;
                if (asprintf(message, "cannot connect to %s: %s%s", socket_path, strerror(errno),
                             errno == ENOENT || errno == ECONNREFUSED ? " (is the agent running?)" :
                             errno == EACCES ? " (are you in the socket's group?)" : "") < 0)
                        *message = NULL;
                return r;
        }

        req = args ? json_object_get(args) : json_object_new_object();
        json_object_object_add(req, "command", json_object_new_string(command));
        s = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN, &len);
        {
                _cleanup_free_ char *line = malloc(len + 1);
                if (!line) {
                        json_object_put(req);
                        return -ENOMEM;
                }
                memcpy(line, s, len);
                line[len] = '\n';
                json_object_put(req);
                while (off < len + 1) {
                        ssize_t n = send(fd, line + off, len + 1 - off, MSG_NOSIGNAL);
                        if (n < 0) {
                                if (errno == EAGAIN) {
                                        r = wait_fd(fd, POLLOUT, deadline);
                                        if (r < 0)
                                                goto timeout;
                                        continue;
                                }
                                r = -errno;
                                if (asprintf(message, "cannot send to %s: %s", socket_path, strerror(errno)) < 0)
                                        *message = NULL;
                                return r;
                        }
                        off += (size_t) n;
                }
        }

        for (;;) {
                char tmp[65536];
                ssize_t n;
                char *nl;

                r = wait_fd(fd, POLLIN, deadline);
                if (r < 0)
                        goto timeout;
                n = recv(fd, tmp, sizeof(tmp), 0);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n <= 0) {
                        buf_done(&in);
                        if (asprintf(message, "the agent closed the connection without a reply") < 0)
                                *message = NULL;
                        return -EPIPE;
                }
                buf_append(&in, tmp, (size_t) n);
                nl = in.data ? memchr(in.data, '\n', in.len) : NULL;
                if (nl) {
                        *nl = '\0';
                        r = protocol_parse_reply(in.data, result, code, message);
                        buf_done(&in);
                        if (r < 0) {
                                *message = strdup("the agent sent a reply that is not valid JSON of the control protocol");
                                return -EBADMSG;
                        }
                        return r;
                }
                if (in.len > 64 * 1024 * 1024) {
                        buf_done(&in);
                        *message = strdup("reply too large");
                        return -EMSGSIZE;
                }
        }
timeout:
        buf_done(&in);
        if (asprintf(message, "no reply from %s within %d ms", socket_path, timeout_ms) < 0)
                *message = NULL;
        return -ETIMEDOUT;
}

char *control_socket_resolve(const char *socket_opt, const char *config_path) {
        const char *e;
        Config *c = NULL;
        char *p;

        if (socket_opt)
                return strdup(socket_opt);
        e = getenv("AGV_AGENT_SOCKET");
        if (!isempty(e))
                return strdup(e);
        if (config_load(config_path ? config_path : DEFAULT_CONFIG_PATH, NULL, true, &c, NULL) >= 0 && c) {
                p = strdup(c->agent.socket);
                config_free(c);
                return p;
        }
        return strdup("/run/agv-agent/agent.sock");
}
