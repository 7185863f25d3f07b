/* SPDX-License-Identifier: MIT */
/* Control socket benchmark: status requests per second and latency on one
 * persistent connection and on fresh connections.
 *
 *   control_bench SOCKET [N] [COMMAND] [spin]
 *
 * Prints medians and p99 in microseconds and requests per second. With
 * "spin" the client polls its socket without sleeping, so the figures show
 * the agent's service time rather than this client's own wake-up latency
 * (on an idle VM a sleeping client adds tens of microseconds per request). */
static int spin;
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static int connect_to(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("connect");
                exit(1);
        }
        return fd;
}

/* send one request, read until the reply's newline */
static size_t roundtrip(int fd, const char *req, size_t reqlen, char *buf, size_t bufsz) {
        size_t got = 0;
        if (write(fd, req, reqlen) != (ssize_t) reqlen) {
                perror("write");
                exit(1);
        }
        for (;;) {
                ssize_t n = spin ? recv(fd, buf + got, bufsz - got, MSG_DONTWAIT) : read(fd, buf + got, bufsz - got);
                if (n < 0 && spin && errno == EAGAIN)
                        continue;
                if (n <= 0) {
                        fprintf(stderr, "read: %s\n", n == 0 ? "EOF" : strerror(errno));
                        exit(1);
                }
                got += (size_t) n;
                if (buf[got - 1] == '\n')
                        return got;
                if (got == bufsz) {
                        fprintf(stderr, "reply too large\n");
                        exit(1);
                }
        }
}

static void report(const char *name, uint64_t *lat, size_t n, uint64_t total_ns, size_t reply) {
        qsort(lat, n, sizeof(uint64_t), cmp_u64);
        printf("%-22s n=%zu  req/s=%.0f  p50=%.1fus  p99=%.1fus  max=%.1fus  reply=%zuB\n", name, n,
               (double) n * 1e9 / (double) total_ns, (double) lat[n / 2] / 1e3, (double) lat[n * 99 / 100] / 1e3,
               (double) lat[n - 1] / 1e3, reply);
}

int main(int argc, char **argv) {
        const char *path, *command;
        size_t n, reply = 0;
        char req[256], *buf = malloc(1 << 20);
        uint64_t *lat, t0;
        int fd;

        if (argc < 2) {
                fprintf(stderr, "usage: control_bench SOCKET [N] [COMMAND]\n");
                return 64;
        }
        path = argv[1];
        n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
        command = argc > 3 ? argv[3] : "status";
        spin = argc > 4 && strcmp(argv[4], "spin") == 0;
        snprintf(req, sizeof(req), "{\"command\":\"%s\"}\n", command);
        lat = calloc(n, sizeof(uint64_t));

        /* warm-up */
        fd = connect_to(path);
        for (int i = 0; i < 1000; i++)
                reply = roundtrip(fd, req, strlen(req), buf, 1 << 20);

        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
                uint64_t s = now_ns();
                reply = roundtrip(fd, req, strlen(req), buf, 1 << 20);
                lat[i] = now_ns() - s;
        }
        report(spin ? "persistent (spin)" : "persistent connection", lat, n, now_ns() - t0, reply);
        close(fd);

        n = n / 10 ? n / 10 : 1;
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
                uint64_t s = now_ns();
                fd = connect_to(path);
                reply = roundtrip(fd, req, strlen(req), buf, 1 << 20);
                close(fd);
                lat[i] = now_ns() - s;
        }
        report(spin ? "fresh (spin)" : "fresh connections", lat, n, now_ns() - t0, reply);
        free(lat);
        free(buf);
        return 0;
}
