/* SPDX-License-Identifier: MIT */
#include "alert_hook.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>

#include "fdlimit.h"
#include "log.h"
#include "procgroup.h"
#include "strv.h"

#define HOOK_LINE_MAX 4096

struct HookRun {
        sd_event_source *child, *out, *timer;
        pid_t pid;
        int fd;
        Buf line;
        bool exited, timed_out;
        siginfo_t si;
        hook_done_t cb;
        void *userdata;
        char *name; /* argv[0] for log lines */
};

static void hook_free(HookRun *h) {
        if (!h)
                return;
        sd_event_source_disable_unref(h->child);
        sd_event_source_disable_unref(h->out);
        sd_event_source_disable_unref(h->timer);
        safe_close(h->fd);
        buf_done(&h->line);
        free(h->name);
        free(h);
}

pid_t hook_run_pid(const HookRun *h) {
        return h ? h->pid : 0;
}

static void flush_lines(HookRun *h, bool eof) {
        for (;;) {
                char *nl = h->line.data ? memchr(h->line.data, '\n', h->line.len) : NULL;
                size_t n;
                if (!nl && !(eof && h->line.len > 0) && h->line.len < HOOK_LINE_MAX)
                        return;
                n = nl ? (size_t) (nl - h->line.data) : MIN(h->line.len, (size_t) HOOK_LINE_MAX);
                log_info("alert command %s[%d]: %.*s", h->name, (int) h->pid, (int) n, h->line.data);
                buf_consume(&h->line, nl ? n + 1 : n);
                if (h->line.len == 0)
                        return;
        }
}

static void maybe_finish(HookRun *h) {
        char what[96];
        int result;

        /* the exit decides; on_exit_cb drained the output already, so a
         * grandchild holding the pipe open cannot keep us waiting */
        if (!h->exited)
                return;
        flush_lines(h, true);
        if (h->timed_out) {
                snprintf(what, sizeof(what), "killed after its timeout");
                result = -ETIMEDOUT;
        } else if (h->si.si_code == CLD_EXITED) {
                snprintf(what, sizeof(what), "exited with status %d", h->si.si_status);
                result = h->si.si_status == 0 ? 0 : -EPROTO;
        } else {
                snprintf(what, sizeof(what), "killed by signal %s", strsignal(h->si.si_status));
                result = -EPROTO;
        }
        if (h->cb)
                h->cb(h, result, what, h->userdata);
        hook_free(h);
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HookRun *h = userdata;
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                h->fd = safe_close(h->fd);
                maybe_finish(h);
                return 0;
        }
        buf_append(&h->line, buf, (size_t) n);
        flush_lines(h, false);
        return 0;
}

static int on_exit_cb(sd_event_source *s, const siginfo_t *si, void *userdata) {
        HookRun *h = userdata;

        h->si = *si;
        h->exited = true;
        /* its own session: anything left in the group is its leftovers */
        (void) procgroup_kill_leftovers(h->pid, "alert command");
        /* drain what is already buffered, then do not wait for a pipe a
         * grandchild may keep open */
        if (h->fd >= 0) {
                char buf[4096];
                ssize_t n;
                while ((n = read(h->fd, buf, sizeof(buf))) > 0)
                        buf_append(&h->line, buf, (size_t) n);
                (void) sd_event_source_set_enabled(h->out, SD_EVENT_OFF);
                h->fd = safe_close(h->fd);
        }
        maybe_finish(h);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        HookRun *h = userdata;

        log_warning("alert command %s[%d] did not finish in time, killing it", h->name, (int) h->pid);
        h->timed_out = true;
        (void) kill(-h->pid, SIGKILL);
        (void) kill(h->pid, SIGKILL);
        return 0;
}

/* Between fork and exec only async-signal-safe calls. */
_noreturn_ static void child_exec(int out_fd, int null_fd, char *const *argv, char *const *envp,
                                  const HookCredentials *cred) {
        sigset_t all;

        (void) setsid();
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                (void) signal(sig, SIG_DFL);
        if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
            dup2(out_fd, STDERR_FILENO) < 0)
                _exit(126);
        if (cred && cred->set) {
                if (setgroups(1, &cred->gid) < 0 || setresgid(cred->gid, cred->gid, cred->gid) < 0 ||
                    setresuid(cred->uid, cred->uid, cred->uid) < 0)
                        _exit(126);
        }
        if (chdir("/") < 0)
                _exit(126);
        fdlimit_restore_for_child();
        execvpe(argv[0], argv, envp);
        _exit(127);
}

int hook_run(sd_event *e, char *const *argv, char *const *envp, const HookCredentials *cred, usec_t timeout,
             hook_done_t cb, void *userdata, HookRun **ret) {
        _cleanup_close_ int null_fd = -1;
        int pipefd[2];
        HookRun *h;
        pid_t pid;
        int r;

        if (strv_length(argv) == 0)
                return -EINVAL;
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0)
                return negative_errno();
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return negative_errno();
        h = calloc(1, sizeof(HookRun));
        if (!h || !(h->name = strdup(argv[0]))) {
                free(h);
                safe_close(pipefd[0]);
                safe_close(pipefd[1]);
                return -ENOMEM;
        }
        h->fd = pipefd[0];
        h->cb = cb;
        h->userdata = userdata;

        pid = fork();
        if (pid < 0) {
                r = negative_errno();
                safe_close(pipefd[1]);
                hook_free(h);
                return r;
        }
        if (pid == 0)
                child_exec(pipefd[1], null_fd, argv, envp, cred);
        safe_close(pipefd[1]);
        h->pid = pid;
        (void) fcntl(h->fd, F_SETFL, O_NONBLOCK);

        r = sd_event_add_child(e, &h->child, pid, WEXITED, on_exit_cb, h);
        if (r >= 0)
                r = sd_event_add_io(e, &h->out, h->fd, EPOLLIN, on_output, h);
        if (r >= 0 && timeout > 0)
                r = sd_event_add_time_relative(e, &h->timer, CLOCK_MONOTONIC, timeout, 0, on_timeout, h);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0); /* already killed: returns at once */
                hook_free(h);
                return r;
        }
        log_debug("Started alert command %s[%d]", h->name, (int) pid);
        if (ret)
                *ret = h;
        return 0;
}

void hook_run_cancel(HookRun *h) {
        if (!h)
                return;
        if (!h->exited) {
                (void) kill(-h->pid, SIGKILL);
                (void) kill(h->pid, SIGKILL);
                /* SIGKILL cannot be caught: this returns at once */
                (void) waitpid(h->pid, NULL, 0);
        }
        hook_free(h);
}
