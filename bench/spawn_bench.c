/* SPDX-License-Identifier: MIT */
/* Whole-process cost of short commands without an interpreter's own fork
 * overhead: posix_spawn (vfork-style in glibc) + wait4, commands run
 * round-robin so each gets the same share of the machine's noise.
 *
 *   spawn_bench N CMD1 [CMD2 ...]     each CMD one argument, words split on
 *                                     spaces (the bench passes no spaces)
 *
 * Prints one line per command: median and p90 wall time, median CPU
 * (user+sys of the child, from wait4) in ms. Exits 1 when a command fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
        int n = argc > 2 ? atoi(argv[1]) : 0, k = argc - 2;
        posix_spawn_file_actions_t fa;
        char ***cmds;
        double *wall, *cpu;

        if (n <= 0 || k <= 0) {
                fprintf(stderr, "usage: spawn_bench N 'CMD ARGS' ['CMD ARGS' ...]\n");
                return 2;
        }
        cmds = calloc((size_t) k, sizeof(*cmds));
        wall = calloc((size_t) n * (size_t) k, sizeof(double));
        cpu = calloc((size_t) n * (size_t) k, sizeof(double));
        if (!cmds || !wall || !cpu)
                return 2;
        for (int c = 0; c < k; c++) {
                char *s = strdup(argv[c + 2]), *save = NULL;
                size_t m = 0;
                cmds[c] = calloc(strlen(argv[c + 2]) / 2 + 2, sizeof(char *));
                if (!s || !cmds[c])
                        return 2;
                for (char *w = strtok_r(s, " ", &save); w; w = strtok_r(NULL, " ", &save))
                        cmds[c][m++] = w;
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        for (int i = 0; i < n; i++)
                for (int c = 0; c < k; c++) {
                        struct rusage ru;
                        pid_t pid;
                        int status, r;
                        double t0 = now_ms();

                        r = posix_spawn(&pid, cmds[c][0], &fa, NULL, cmds[c], environ);
                        if (r != 0) {
                                fprintf(stderr, "spawn_bench: %s: %s\n", cmds[c][0], strerror(r));
                                return 1;
                        }
                        while (wait4(pid, &status, 0, &ru) < 0)
                                if (errno != EINTR)
                                        return 1;
                        wall[c * n + i] = now_ms() - t0;
                        cpu[c * n + i] = (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                                         (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
                        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                                fprintf(stderr, "spawn_bench: '%s' failed (status %d)\n", argv[c + 2], status);
                                return 1;
                        }
                }
        for (int c = 0; c < k; c++) {
                qsort(wall + c * n, (size_t) n, sizeof(double), cmp);
                qsort(cpu + c * n, (size_t) n, sizeof(double), cmp);
                printf("%.3f %.3f %.3f %s\n", wall[c * n + n / 2], wall[c * n + n * 9 / 10], cpu[c * n + n / 2], argv[c + 2]);
        }
        return 0;
}
