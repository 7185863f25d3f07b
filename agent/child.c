/* SPDX-License-Identifier: MIT */
#include "child.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "child_fsm.h"
#include "credentials.h"
#include "certinfo.h"
#include "fdlimit.h"
#include "event-util.h"
#include "log.h"
#include "manager.h"
#include "mcp_router.h"
#include "mcp_server.h"
#include "message-ids.h"
#include "signer_check.h"
#include "metrics.h"
#include "procgroup.h"
#include "strv.h"

#define STDERR_LINE_MAX 8192
#define CHILD_INPUT_MAX (64u * 1024 * 1024) /* unread stdin of a child that stopped reading */
#define OVERSIZE_KEEP 256
#define BACKOFF_BASE (100 * USEC_PER_MSEC)
#define STABLE_MAX (30 * USEC_PER_SEC)
#define HANDSHAKE_TIMEOUT_MIN (10 * USEC_PER_SEC)
/* A child whose stdout hits EOF is usually dying: wait this long for its
 * exit status (which says why) before calling it "closed its stdout". */
#define STDOUT_EOF_GRACE (500 * USEC_PER_MSEC)
#define LAST_ERROR_LINE_MAX 300
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct Child Child;

typedef enum ProcRole {
        ROLE_CURRENT,   /* starting or serving */
        ROLE_CANDIDATE, /* replacement being started */
        ROLE_DRAINING,  /* replaced; finishing its in-flight requests */
        ROLE_RETIRED,   /* stopping or lost; no more traffic */
} ProcRole;

typedef struct Proc Proc;
struct Proc {
        Child *owner;
        Proc *next;
        unsigned id; /* router backend id */
        ProcRole role;
        pid_t pid;
        int in_fd, out_fd, err_fd;
        sd_event_source *exit_src, *in_src, *out_src, *err_src, *stop_timer, *drain_timer, *handshake_timer,
                *lost_defer, *eof_timer;
        Buf in;       /* to the child's stdin */
        Buf out;      /* from its stdout, one partial line */
        size_t out_scanned;
        bool out_discarding;   /* inside an oversize line */
        char over_head[OVERSIZE_KEEP];
        size_t over_head_len;
        char over_tail[OVERSIZE_KEEP];
        size_t over_tail_len;
        Buf err;
        bool ready, exited, in_router, drained;
        int stop_stage; /* 0 running, 1 stdin closed, 2 SIGTERM, 3 SIGKILL */
        char *lost_reason;
        char *last_error_line; /* the signer's own last error-level stderr line */
        json_object *tools;    /* its tools/list result's "tools", NULL if unknown */
        usec_t started_mono;
        uint64_t started_real;
};

struct Child {
        Manager *m;
        ChildFsm fsm;
        McpRouter *router;
        McpServer *server;
        char *server_error;
        Proc *procs;
        Proc *current, *candidate;
        unsigned next_proc_id;
        sd_event_source *backoff_timer, *ping_timer, *ping_timeout_timer, *health_timer;

        int64_t ping_id;
        unsigned ping_backend;
        usec_t ping_sent;
        usec_t last_ping_rtt;
        bool have_ping_rtt;

        bool health_known, health_ok;
        char *health_message;
        uint64_t health_at;
        pid_t health_pid; /* the child the health result belongs to */

        json_object *served_tools; /* tools of the child that served last (list_changed) */
        uint64_t audit[_CHILD_AUDIT_MAX];
        Findings preflight; /* the signer's side of the guide, at start and reload */

        unsigned tool_failures;
        unsigned restarts;
        unsigned replacements;
        char *last_exit;
        uint64_t last_exit_at;
        char *last_error;         /* why the last start/replacement failed; cleared when a child is ready */
        bool replacement_failed;  /* the last replacement was discarded; the old child serves */
        char *replace_reason;     /* pending replacement's cause */
        bool stopping;            /* agent shutdown in progress */
        bool started_once;
        sd_event_source *replace_defer; /* replacement asked from inside the router */
        sd_event_source *request_timer; /* the earliest client request deadline */
        bool stop_reported;
};

static usec_t now_mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static const ChildSection *cfg(Child *c) {
        return &c->m->config->child;
}

static bool child_configured(const Config *config) {
        return config->child.command && !isempty(config->child.command[0]);
}

static void set_str(char **p, const char *s) {
        free(*p);
        *p = s ? strdup(s) : NULL;
}

static void feed(Child *c, ChildEvent ev);
static void proc_stop(Proc *p);
static void update_timers(Child *c);

static Proc *find_proc(Child *c, unsigned id) {
        for (Proc *p = c->procs; p; p = p->next)
                if (p->id == id)
                        return p;
        return NULL;
}

/* ---- stderr -> journal ------------------------------------------------ */

static int level_to_priority(const char *l) {
        if (!l)
                return LOG_INFO;
        if (!strcasecmp(l, "trace") || !strcasecmp(l, "debug"))
                return LOG_DEBUG;
        if (!strcasecmp(l, "info") || !strcasecmp(l, "log"))
                return LOG_INFO;
        if (!strcasecmp(l, "notice"))
                return LOG_NOTICE;
        if (!strcasecmp(l, "warn") || !strcasecmp(l, "warning"))
                return LOG_WARNING;
        if (!strcasecmp(l, "error") || !strcasecmp(l, "err"))
                return LOG_ERR;
        if (!strcasecmp(l, "fatal") || !strcasecmp(l, "critical") || !strcasecmp(l, "crit"))
                return LOG_CRIT;
        return LOG_INFO;
}

static const char *json_str(json_object *o, const char *key) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* An audit line names an action and its result; its message is made
 * readable: "sign_permit denied by policy: <what> (<why>)". */
static ChildAudit audit_line(json_object *o, int *priority, char **message) {
        const char *action = json_str(o, "action"), *result = json_str(o, "result");
        const char *what = json_str(o, "what"), *why = json_str(o, "why");
        ChildAudit kind;
        const char *verb;

        if (!action || !result)
                return CHILD_AUDIT_NONE;
        if (streq(result, "approved")) {
                kind = CHILD_AUDIT_APPROVED;
                *priority = LOG_INFO;
                verb = "approved";
        } else if (streq(result, "denied")) {
                kind = CHILD_AUDIT_DENIED;
                *priority = LOG_WARNING;
                verb = "denied by policy";
        } else if (streq(result, "error")) {
                kind = CHILD_AUDIT_ERROR;
                *priority = LOG_ERR;
                verb = "failed";
        } else
                return CHILD_AUDIT_NONE;
        if (asprintf(message, "%s %s%s%s%s%s%s", action, verb, what || why ? ": " : "", strempty(what),
                     what && why ? " (" : "", strempty(why), what && why ? ")" : "") < 0)
                *message = NULL;
        return kind;
}

int child_parse_stderr_line(const char *line, size_t len, int *priority, char **message, char ***fields,
                            ChildAudit *audit) {
        _cleanup_strv_free_ char **f = NULL;
        json_object *o = NULL;
        ChildAudit kind = CHILD_AUDIT_NONE;

        if (len > 0 && line[0] == '{') {
                json_tokener *tok = json_tokener_new();
                if (tok) {
                        o = json_tokener_parse_ex(tok, line, (int) len);
                        json_tokener_free(tok);
                }
        }
        if (o && json_object_is_type(o, json_type_object)) {
                json_object *msg = NULL, *lvl = NULL;
                (void) json_object_object_get_ex(o, "message", &msg);
                (void) json_object_object_get_ex(o, "level", &lvl);
                *priority = level_to_priority(lvl ? json_object_get_string(lvl) : NULL);
                json_object_object_foreach(o, key, val) {
                        Buf b = {};
                        buf_puts(&b, "AGV_CHILD_");
                        /* journald drops fields whose name exceeds 64 bytes */
                        for (const char *k = key; *k && b.len < 64; k++) {
                                char ch = *k;
                                if (ch >= 'a' && ch <= 'z')
                                        ch = (char) (ch - 'a' + 'A');
                                else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
                                        ch = '_';
                                buf_append(&b, &ch, 1);
                        }
                        buf_puts(&b, "=");
                        buf_puts(&b, json_object_is_type(val, json_type_string)
                                             ? json_object_get_string(val)
                                             : json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
                        char *s = buf_steal(&b);
                        if (!s || strv_push(&f, s) < 0) {
                                free(s);
                                json_object_put(o);
                                return -ENOMEM;
                        }
                }
                kind = audit_line(o, priority, message);
                if (kind == CHILD_AUDIT_NONE)
                        *message = strdup(msg ? json_object_get_string(msg)
                                              : json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
        } else {
                json_object_put(o);
                *priority = LOG_INFO;
                *message = strndup(line, len);
        }
        if (!*message)
                return -ENOMEM;
        *fields = TAKE_PTR(f);
        if (audit)
                *audit = kind;
        return 0;
}

static void log_child_line(Proc *p, const char *line, size_t len) {
        _cleanup_free_ char *message = NULL;
        _cleanup_strv_free_ char **fields = NULL;
        ChildAudit audit;
        int prio;

        if (len == 0)
                return;
        if (child_parse_stderr_line(line, len, &prio, &message, &fields, &audit) < 0)
                return;
        p->owner->audit[audit]++;
        if (prio <= LOG_ERR) {
                /* Said again when it exits: usually why it died. */
                free(p->last_error_line);
                p->last_error_line = strndup(message, LAST_ERROR_LINE_MAX);
        }
        (void) strv_extendf(&fields, "AGV_CHILD_PID=%d", (int) p->pid);
        log_struct(prio, NULL, fields, "signer[%d]: %s", (int) p->pid, message);
}

static void drain_stderr(Proc *p, bool final) {
        for (;;) {
                char *nl = p->err.data ? memchr(p->err.data, '\n', p->err.len) : NULL; /* empty Buf: data NULL */
                if (!nl) {
                        if (p->err.len >= STDERR_LINE_MAX || (final && p->err.len > 0)) {
                                /* Bounded: cut overlong lines into pieces. */
                                size_t n = MIN(p->err.len, (size_t) STDERR_LINE_MAX);
                                log_child_line(p, p->err.data, n);
                                buf_consume(&p->err, n);
                                continue;
                        }
                        return;
                }
                size_t n = (size_t) (nl - p->err.data);
                log_child_line(p, p->err.data, MIN(n, (size_t) STDERR_LINE_MAX));
                buf_consume(&p->err, n + 1);
        }
}

static int on_stderr(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Proc *p = userdata;
        char chunk[16384];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                drain_stderr(p, true);
                p->err_src = sd_event_source_disable_unref(p->err_src);
                p->err_fd = safe_close(p->err_fd);
                return 0;
        }
        buf_append(&p->err, chunk, (size_t) n);
        drain_stderr(p, false);
        return 0;
}

/* ---- stdin / stdout ---------------------------------------------------- */

/* Problems found inside router callbacks are handled from the loop. */
static void proc_lost(Proc *p, const char *reason) {
        if (p->lost_reason || p->exited)
                return;
        p->lost_reason = strdup(reason);
        if (p->lost_defer)
                (void) sd_event_source_set_enabled(p->lost_defer, SD_EVENT_ONESHOT);
}

static void close_stdin(Proc *p) {
        p->in_src = sd_event_source_disable_unref(p->in_src);
        p->in_fd = safe_close(p->in_fd);
        buf_done(&p->in);
}

static int flush_stdin(Proc *p) {
        while (p->in.len > 0) {
                ssize_t n = write(p->in_fd, p->in.data, p->in.len);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -errno;
                }
                buf_consume(&p->in, (size_t) n);
        }
        if (p->in_src)
                (void) sd_event_source_set_enabled(p->in_src, p->in.len > 0 ? SD_EVENT_ON : SD_EVENT_OFF);
        return 0;
}

static int on_stdin_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Proc *p = userdata;
        if (flush_stdin(p) < 0) {
                close_stdin(p);
                proc_lost(p, "its stdin was closed");
        }
        return 0;
}

static void proc_send(Proc *p, const char *line, size_t len) {
        if (p->in_fd < 0 || p->stop_stage > 0)
                return;
        if (p->in.len == 0) {
                struct iovec iov[2] = { { (void *) line, len }, { (void *) "\n", 1 } };
                ssize_t n = writev(p->in_fd, iov, 2);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR) {
                                close_stdin(p);
                                proc_lost(p, "its stdin was closed");
                                return;
                        }
                        n = 0;
                }
                if ((size_t) n == len + 1)
                        return;
                if ((size_t) n < len)
                        buf_append(&p->in, line + n, len - (size_t) n);
                buf_append(&p->in, "\n", 1);
        } else {
                if (p->in.len + len + 1 > CHILD_INPUT_MAX) {
                        proc_lost(p, "it stopped reading its stdin");
                        return;
                }
                buf_append(&p->in, line, len);
                buf_append(&p->in, "\n", 1);
        }
        if (p->in.oom) {
                proc_lost(p, "out of memory");
                return;
        }
        (void) sd_event_source_set_enabled(p->in_src, SD_EVENT_ON);
}

static void handle_stdout_line(Proc *p, const char *line, size_t len) {
        Child *c = p->owner;
        if (len > 0 && line[len - 1] == '\r')
                len--;
        if (len == 0)
                return;
        if (mcp_router_backend_line(c->router, p->id, line, len) < 0)
                log_struct(LOG_WARNING, NULL, NULL, "signer[%d] wrote a line that is not JSON-RPC, ignored: %.*s%s",
                           (int) p->pid, (int) MIN(len, (size_t) 200), line, len > 200 ? "..." : "");
}

static void finish_oversize(Proc *p) {
        Child *c = p->owner;
        int64_t id;
        log_warning("signer[%d] wrote a line over the %u byte limit; answering its request with an error",
                    (int) p->pid, MCP_LINE_MAX);
        if (mcp_find_trailing_id(p->over_tail, p->over_tail_len, &id) == 0 ||
            mcp_find_trailing_id(p->over_head, p->over_head_len, &id) == 0)
                mcp_router_backend_oversize(c->router, p->id, id);
        p->out_discarding = false;
        p->over_head_len = p->over_tail_len = 0;
}

static void keep_tail(Proc *p, const char *data, size_t n) {
        if (n >= OVERSIZE_KEEP) {
                memcpy(p->over_tail, data + n - OVERSIZE_KEEP, OVERSIZE_KEEP);
                p->over_tail_len = OVERSIZE_KEEP;
                return;
        }
        size_t keep = MIN(p->over_tail_len, OVERSIZE_KEEP - n);
        memmove(p->over_tail, p->over_tail + p->over_tail_len - keep, keep);
        memcpy(p->over_tail + keep, data, n);
        p->over_tail_len = keep + n;
}

static void process_stdout(Proc *p, const char *data, size_t n) {
        while (n > 0) {
                if (p->out_discarding) {
                        const char *nl = memchr(data, '\n', n);
                        size_t k = nl ? (size_t) (nl - data) : n;
                        keep_tail(p, data, k);
                        if (!nl)
                                return;
                        finish_oversize(p);
                        data += k + 1;
                        n -= k + 1;
                        continue;
                }
                buf_append(&p->out, data, n);
                n = 0;
                size_t start = 0;
                for (;;) {
                        size_t from = MAX(start, p->out_scanned);
                        char *nl = memchr(p->out.data + from, '\n', p->out.len - from);
                        if (!nl)
                                break;
                        size_t end = (size_t) (nl - p->out.data);
                        handle_stdout_line(p, p->out.data + start, end - start);
                        start = end + 1;
                }
                buf_consume(&p->out, start);
                p->out_scanned = p->out.len;
                if (p->out.len > MCP_LINE_MAX) {
                        /* Keep just enough to find the request it answered. */
                        p->over_head_len = MIN(p->out.len, (size_t) OVERSIZE_KEEP);
                        memcpy(p->over_head, p->out.data, p->over_head_len);
                        p->over_tail_len = 0;
                        keep_tail(p, p->out.data, p->out.len);
                        buf_done(&p->out);
                        p->out_scanned = 0;
                        p->out_discarding = true;
                }
        }
}

static int read_stdout(Proc *p) {
        char chunk[65536];
        for (int i = 0; i < 16; i++) {
                ssize_t n = read(p->out_fd, chunk, sizeof chunk);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                if (n == 0)
                        return -EPIPE;
                process_stdout(p, chunk, (size_t) n);
                if (p->out_fd < 0)
                        return 0;
        }
        return 0;
}

static int on_stdout_eof_grace(sd_event_source *s, uint64_t usec, void *userdata) {
        Proc *p = userdata;
        p->eof_timer = sd_event_source_disable_unref(p->eof_timer);
        proc_lost(p, "it closed its stdout");
        return 0;
}

static int on_stdout(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Proc *p = userdata;
        int r = read_stdout(p);
        if (r < 0) {
                p->out_src = sd_event_source_disable_unref(p->out_src);
                p->out_fd = safe_close(p->out_fd);
                /* A crashing child closes stdout a moment before its exit
                 * is reported; its exit status and last error line say
                 * more than "closed its stdout", so give it that moment. */
                if (!p->exited && p->stop_stage == 0 &&
                    sd_event_add_time_relative(p->owner->m->event, &p->eof_timer, CLOCK_MONOTONIC, STDOUT_EOF_GRACE,
                                               0, on_stdout_eof_grace, p) < 0)
                        proc_lost(p, "it closed its stdout");
        }
        return 0;
}

/* ---- process lifecycle ------------------------------------------------- */

static void proc_free(Proc *p) {
        if (!p)
                return;
        Child *c = p->owner;
        for (Proc **pp = &c->procs; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        if (c->current == p)
                c->current = NULL;
        if (c->candidate == p)
                c->candidate = NULL;
        if (p->in_router)
                mcp_router_backend_dead(c->router, p->id, MCP_ERR_CHILD_EXITED, "signer child exited");
        sd_event_source_disable_unref(p->exit_src);
        sd_event_source_disable_unref(p->in_src);
        sd_event_source_disable_unref(p->out_src);
        sd_event_source_disable_unref(p->err_src);
        sd_event_source_disable_unref(p->stop_timer);
        sd_event_source_disable_unref(p->drain_timer);
        sd_event_source_disable_unref(p->handshake_timer);
        sd_event_source_disable_unref(p->lost_defer);
        sd_event_source_disable_unref(p->eof_timer);
        safe_close(p->in_fd);
        safe_close(p->out_fd);
        safe_close(p->err_fd);
        buf_done(&p->in);
        buf_done(&p->out);
        buf_done(&p->err);
        free(p->lost_reason);
        free(p->last_error_line);
        json_object_put(p->tools);
        free(p);
}

/* Fail its in-flight requests now and take it out of routing. */
static void proc_unroute(Proc *p, int code, const char *message) {
        if (!p->in_router)
                return;
        p->in_router = false;
        mcp_router_backend_dead(p->owner->router, p->id, code, message);
}

static void check_all_stopped(Child *c) {
        if (c->stopping && !c->procs) {
                feed(c, CHILD_EV_ALL_EXITED);
                if (!c->stop_reported) {
                        c->stop_reported = true;
                        manager_stop_progress(c->m);
                }
        }
}

static int on_stop_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Proc *p = userdata;
        if (p->exited)
                return 0;
        if (p->stop_stage == 1) {
                log_notice("signer[%d] still running %s after its stdin closed; sending SIGTERM", (int) p->pid,
                           "stop_timeout");
                (void) kill(-p->pid, SIGTERM);
                (void) kill(p->pid, SIGTERM);
                p->stop_stage = 2;
        } else {
                log_warning("signer[%d] ignored SIGTERM for stop_timeout; sending SIGKILL", (int) p->pid);
                (void) kill(-p->pid, SIGKILL);
                (void) kill(p->pid, SIGKILL);
                p->stop_stage = 3;
                return 0;
        }
        (void) event_timer_arm_relative(s, cfg(p->owner)->stop_timeout, SD_EVENT_ONESHOT, "signer stop");
        return 0;
}

/* The graceful ladder: close stdin (the signer exits at EOF), SIGTERM after
 * stop_timeout, SIGKILL after another. Idempotent. */
static void proc_stop(Proc *p) {
        if (p->stop_stage > 0 || p->exited)
                return;
        p->role = ROLE_RETIRED;
        p->stop_stage = 1;
        close_stdin(p);
        p->handshake_timer = sd_event_source_disable_unref(p->handshake_timer);
        p->drain_timer = sd_event_source_disable_unref(p->drain_timer);
        p->eof_timer = sd_event_source_disable_unref(p->eof_timer);
        if (sd_event_add_time_relative(p->owner->m->event, &p->stop_timer, CLOCK_MONOTONIC, cfg(p->owner)->stop_timeout,
                                       0, on_stop_timer, p) < 0) {
                (void) kill(-p->pid, SIGKILL);
                p->stop_stage = 3;
        }
}

static void format_exit(const siginfo_t *si, char *buf, size_t n) {
        if (si->si_code == CLD_EXITED)
                snprintf(buf, n, "exit code %d", si->si_status);
        else
                snprintf(buf, n, "signal %s%s", sigabbrev_np(si->si_status) ? "SIG" : "",
                         sigabbrev_np(si->si_status) ? sigabbrev_np(si->si_status) : "?");
}

static int on_proc_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Proc *p = userdata;
        Child *c = p->owner;
        char desc[64], msg[128];

        p->exited = true;
        format_exit(si, desc, sizeof desc);
        /* Answers written just before exiting still count. */
        if (p->out_fd >= 0)
                (void) read_stdout(p);
        if (p->err_fd >= 0) {
                char chunk[16384];
                ssize_t n;
                while ((n = read(p->err_fd, chunk, sizeof chunk)) > 0)
                        buf_append(&p->err, chunk, (size_t) n);
                drain_stderr(p, true);
        }

        /* Expected only when the agent asked it to go (stdin closed or a
         * signal sent), never because its stdout hit EOF first. */
        bool expected = p->stop_stage > 0;
        _cleanup_free_ char *last_line = TAKE_PTR(p->last_error_line);
        _cleanup_strv_free_ char **fields = NULL;
        (void) strv_extendf(&fields, "AGV_CHILD_PID=%d", (int) p->pid);
        (void) strv_extendf(&fields, "AGV_CHILD_EXIT=%s", desc);
        if (last_line)
                (void) strv_extendf(&fields, "AGV_CHILD_LAST_ERROR=%s", last_line);
        if (expected)
                log_struct(LOG_INFO, MSGID_CHILD_EXITED, fields, "Signer child %d exited (%s)", (int) p->pid, desc);
        else
                log_struct(LOG_WARNING, MSGID_CHILD_EXITED, fields, "Signer child %d exited unexpectedly (%s)%s%s",
                           (int) p->pid, desc, last_line ? "; its last error: " : "", strempty(last_line));
        /* what it started in the background must not outlive it (nor meet
         * its replacement) */
        (void) procgroup_kill_leftovers(p->pid, "signer");
        set_str(&c->last_exit, desc);
        c->last_exit_at = manager_now_realtime(c->m);

        snprintf(msg, sizeof msg, "signer child exited (%s) before answering", desc);
        proc_unroute(p, MCP_ERR_CHILD_EXITED, msg);

        ProcRole role = p->role;
        bool current = c->current == p, candidate = c->candidate == p;
        p->exit_src = sd_event_source_disable_unref(p->exit_src);
        proc_free(p);

        _cleanup_free_ char *e = NULL;
        if (current && role != ROLE_RETIRED) {
                if (asprintf(&e, "exited unexpectedly (%s)%s%s", desc, last_line ? ": " : "", strempty(last_line)) >= 0)
                        set_str(&c->last_error, e);
                feed(c, CHILD_EV_EXITED);
        } else if (candidate) {
                if (asprintf(&e, "replacement child exited during its handshake (%s)%s%s", desc,
                             last_line ? ": " : "", strempty(last_line)) >= 0)
                        set_str(&c->last_error, e);
                feed(c, CHILD_EV_CANDIDATE_FAILED);
        }
        check_all_stopped(c);
        manager_state_changed(c->m);
        return 0;
}

static int on_lost(sd_event_source *s, void *userdata) {
        Proc *p = userdata;
        Child *c = p->owner;
        _cleanup_free_ char *msg = NULL;

        if (p->exited || !p->lost_reason)
                return 0;
        log_warning("signer[%d] is unusable: %s; stopping it", (int) p->pid, p->lost_reason);
        if (asprintf(&msg, "signer child is unusable (%s)", p->lost_reason) < 0)
                msg = NULL;
        proc_unroute(p, MCP_ERR_CHILD_EXITED, msg ? msg : "signer child is unusable");
        bool current = c->current == p, candidate = c->candidate == p;
        ProcRole role = p->role;
        proc_stop(p);
        if (current && role != ROLE_RETIRED) {
                set_str(&c->last_error, msg);
                feed(c, CHILD_EV_EXITED);
        } else if (candidate) {
                set_str(&c->last_error, msg);
                feed(c, CHILD_EV_CANDIDATE_FAILED);
        }
        manager_state_changed(c->m);
        return 0;
}

int child_resolve_executable(const char *name, char *const *env, char **ret) {
        if (strchr(name, '/')) {
                if (access(name, X_OK) < 0)
                        return -errno;
                *ret = strdup(name);
                return *ret ? 0 : -ENOMEM;
        }
        const char *path = DEFAULT_PATH;
        STRV_FOREACH(e, env)
                if (strneq(*e, "PATH=", 5))
                        path = *e + 5;
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *full = NULL;
                struct stat st;
                if (asprintf(&full, "%s/%s", dir, name) < 0)
                        return -ENOMEM;
                if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0) {
                        *ret = TAKE_PTR(full);
                        return 0;
                }
        }
        return -ENOENT;
}

char **child_build_env(const ChildSection *ch, const char *aws_config) {
        _cleanup_strv_free_ char **env = NULL;
        bool has_path = false;
        STRV_FOREACH(e, ch->environment)
                if (strneq(*e, "PATH=", 5))
                        has_path = true;
        if (!has_path && strv_extend(&env, "PATH=" DEFAULT_PATH) < 0)
                return NULL;
        if (ch->user.name) {
                struct passwd *pw = getpwuid(ch->user.uid);
                if (pw) {
                        (void) strv_extendf(&env, "HOME=%s", pw->pw_dir);
                        (void) strv_extendf(&env, "USER=%s", pw->pw_name);
                        (void) strv_extendf(&env, "LOGNAME=%s", pw->pw_name);
                }
        }
        STRV_FOREACH(e, ch->environment)
                if (strv_extend(&env, *e) < 0)
                        return NULL;
        /* [credentials]: the signer's SDK asks the agent (credential_process
         * in a config of the agent's making), never a stray ~/.aws file */
        if (aws_config && (strv_extendf(&env, "AWS_CONFIG_FILE=%s", aws_config) < 0 ||
                           strv_extend(&env, "AWS_SDK_LOAD_CONFIG=1") < 0 ||
                           strv_extend(&env, "AWS_SHARED_CREDENTIALS_FILE=/dev/null") < 0))
                return NULL;
        return TAKE_PTR(env);
}

enum { STAGE_SETUP = 1, STAGE_CHDIR, STAGE_GROUPS, STAGE_GID, STAGE_UID, STAGE_NNP, STAGE_EXEC };

static _noreturn_ void child_after_fork(pid_t parent, int fin, int fout, int ferr, int report, const ChildSection *ch,
                                        const char *exe, char **argv, char **envp, gid_t *groups, int ngroups,
                                        bool set_ids, uid_t uid, gid_t gid) {
        /* Only async-signal-safe calls from here on. */
        int stage = STAGE_SETUP;
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;

        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                goto fail;
        if (setsid() < 0)
                goto fail;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                goto fail;
        if (getppid() != parent) /* the agent died before prctl(): follow it */
                _exit(EXIT_FAILURE);

        if (dup2(fin, 0) < 0 || dup2(fout, 1) < 0 || dup2(ferr, 2) < 0)
                goto fail;
        if (report != 3) {
                if (dup3(report, 3, O_CLOEXEC) < 0)
                        goto fail;
                report = 3;
        }
        if (syscall(SYS_close_range, 4U, ~0U, 0) < 0)
                for (int fd = 4; fd < 65536; fd++)
                        (void) close(fd);

        umask(ch->umask);
        fdlimit_restore_for_child();
        stage = STAGE_CHDIR;
        if (chdir(ch->working_directory ? ch->working_directory : "/") < 0)
                goto fail;
        if (set_ids) {
                stage = STAGE_GROUPS;
                if (ngroups >= 0 && setgroups((size_t) ngroups, groups) < 0)
                        goto fail;
                stage = STAGE_GID;
                if (setresgid(gid, gid, gid) < 0)
                        goto fail;
                stage = STAGE_UID;
                if (setresuid(uid, uid, uid) < 0)
                        goto fail;
        }
        stage = STAGE_NNP;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                goto fail;
        stage = STAGE_EXEC;
        execve(exe, argv, envp);
fail:;
        int report_data[2] = { stage, errno };
        (void) !write(report, report_data, sizeof report_data);
        _exit(127);
}

static const char *stage_name(int stage) {
        switch (stage) {
        case STAGE_CHDIR:
                return "cannot enter [child] working_directory";
        case STAGE_GROUPS:
                return "cannot set supplementary groups";
        case STAGE_GID:
                return "cannot switch to [child] group";
        case STAGE_UID:
                return "cannot switch to [child] user";
        case STAGE_NNP:
                return "cannot set no_new_privs";
        case STAGE_EXEC:
                return "cannot execute [child] command";
        default:
                return "cannot set up the child process";
        }
}

static int pipe_pair(int fds[2], bool ours_is_read) {
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        int ours = ours_is_read ? fds[0] : fds[1];
        if (fcntl(ours, F_SETFL, fcntl(ours, F_GETFL) | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

static void on_init_reply(McpRouter *r, void *userdata, unsigned backend, json_object *result, json_object *error);
static void now_serving(Child *c, Proc *p);

static int on_handshake_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Proc *p = userdata;
        p->handshake_timer = sd_event_source_disable_unref(p->handshake_timer);
        proc_lost(p, "it did not answer initialize in time");
        return 0;
}

static int on_drain_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Proc *p = userdata;
        p->drain_timer = sd_event_source_disable_unref(p->drain_timer);
        if (p->drained || mcp_router_backend_pending(p->owner->router, p->id) == 0)
                log_debug("Draining signer[%d] finished its requests", (int) p->pid);
        else
                log_warning("Draining signer[%d] did not finish its requests within drain_timeout; stopping it",
                            (int) p->pid);
        proc_unroute(p, MCP_ERR_DRAIN_TIMEOUT,
                     p->owner->stopping ? "the signer child did not answer within drain_timeout while the agent stopped"
                                        : "the replaced signer child did not answer within drain_timeout");
        proc_stop(p);
        return 0;
}

static int proc_spawn(Child *c, ProcRole role, Proc **ret) {
        const ChildSection *ch = cfg(c);
        _cleanup_free_ char *exe = NULL;
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ gid_t *groups = NULL;
        int ngroups = -1, pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 }, prep[2] = { -1, -1 };
        int r;
        bool set_ids = ch->user.name || ch->group.name;
        uid_t uid = ch->user.name ? ch->user.uid : getuid();
        gid_t gid = ch->group.name ? ch->group.gid : ch->user.name ? ch->user.gid : getgid();
        _cleanup_free_ char *why = NULL;

        env = child_build_env(ch, credentials_child_aws_config(c->m));
        if (!env)
                return log_oom();
        r = child_resolve_executable(ch->command[0], env, &exe);
        if (r < 0) {
                if (asprintf(&why, "[child] command %s: %s", ch->command[0],
                             r == -ENOENT ? "not found in PATH" : strerror(-r)) >= 0)
                        set_str(&c->last_error, why);
                return log_error_errno(r, "Cannot start the signer: [child] command %s: %s", ch->command[0],
                                       r == -ENOENT ? "not found (check the path or PATH in [child] environment)"
                                                    : strerror(-r));
        }
        if (ch->user.name) {
                /* initgroups() is not async-signal-safe: resolve now. */
                int n = 64;
                for (int tries = 0; tries < 4; tries++) {
                        free(groups);
                        groups = calloc((size_t) n, sizeof(gid_t));
                        if (!groups)
                                return log_oom();
                        int want = n;
                        if (getgrouplist(ch->user.name, gid, groups, &want) >= 0) {
                                ngroups = want;
                                break;
                        }
                        n = want > n ? want : n * 2;
                }
        } else if (set_ids && geteuid() == 0)
                ngroups = 0;

        Proc *p = calloc(1, sizeof(*p));
        if (!p)
                return log_oom();
        p->owner = c;
        p->id = ++c->next_proc_id;
        p->role = role;
        p->in_fd = p->out_fd = p->err_fd = -1;
        p->next = c->procs;
        c->procs = p;

        if ((r = pipe_pair(pin, false)) < 0 || (r = pipe_pair(pout, true)) < 0 || (r = pipe_pair(perr, true)) < 0 ||
            pipe2(prep, O_CLOEXEC) < 0) {
                if (r >= 0)
                        r = -errno;
                log_error_errno(r, "Cannot create pipes for the signer: %m");
                goto fail_fds;
        }

        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                r = log_error_errno(errno, "Cannot fork the signer: %m");
                goto fail_fds;
        }
        if (pid == 0)
                child_after_fork(parent, pin[0], pout[1], perr[1], prep[1], ch, exe, ch->command, env, groups, ngroups,
                                 set_ids, uid, gid);

        safe_close(pin[0]);
        safe_close(pout[1]);
        safe_close(perr[1]);
        safe_close(prep[1]);
        p->pid = pid;
        p->in_fd = pin[1];
        p->out_fd = pout[0];
        p->err_fd = perr[0];

        /* exec closes the report pipe; anything read means it failed. */
        int report[2];
        ssize_t n;
        do
                n = read(prep[0], report, sizeof report);
        while (n < 0 && errno == EINTR);
        safe_close(prep[0]);
        if (n == (ssize_t) sizeof report) {
                (void) waitpid(pid, NULL, 0);
                p->exited = true;
                r = -report[1];
                if (asprintf(&why, "%s: %s", stage_name(report[0]), strerror(report[1])) >= 0)
                        set_str(&c->last_error, why);
                log_struct(LOG_ERR, MSGID_CHILD_FAILED, NULL, "Cannot start the signer %s: %s: %s", exe,
                           stage_name(report[0]), strerror(report[1]));
                proc_free(p);
                return r;
        }

        p->started_mono = now_mono();
        p->started_real = manager_now_realtime(c->m);
        sd_event *e = c->m->event;
        if ((r = sd_event_add_child(e, &p->exit_src, pid, WEXITED, on_proc_exit, p)) < 0 ||
            (r = sd_event_add_io(e, &p->out_src, p->out_fd, EPOLLIN, on_stdout, p)) < 0 ||
            (r = sd_event_add_io(e, &p->err_src, p->err_fd, EPOLLIN, on_stderr, p)) < 0 ||
            (r = sd_event_add_io(e, &p->in_src, p->in_fd, EPOLLOUT, on_stdin_writable, p)) < 0 ||
            (r = sd_event_add_defer(e, &p->lost_defer, on_lost, p)) < 0) {
                log_error_errno(r, "Cannot watch the signer process: %m");
                (void) kill(-pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                p->exited = true;
                proc_free(p);
                return r;
        }
        (void) sd_event_source_set_enabled(p->in_src, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(p->lost_defer, SD_EVENT_OFF);
        /* The stdout reader runs before the exit handler, so the last
         * answers of a dying child are delivered, not failed. */
        (void) sd_event_source_set_priority(p->out_src, SD_EVENT_PRIORITY_NORMAL - 1);

        {
                _cleanup_free_ char *cmdline = strv_join(ch->command, " ");
                char *fields[] = { NULL, NULL };
                _cleanup_free_ char *f = NULL;
                if (asprintf(&f, "AGV_CHILD_PID=%d", (int) pid) >= 0)
                        fields[0] = f;
                log_struct(LOG_INFO, MSGID_CHILD_STARTED, fields, "Started signer child %d: %s%s", (int) pid,
                           strna(cmdline), role == ROLE_CANDIDATE ? " (replacement)" : "");
        }

        /* The MCP handshake, as a client. */
        r = mcp_router_backend_add(c->router, p->id);
        if (r < 0) {
                proc_stop(p);
                return r;
        }
        p->in_router = true;
        json_object *params = json_object_new_object(), *info = json_object_new_object();
        json_object_object_add(params, "protocolVersion", json_object_new_string(MCP_LATEST_PROTOCOL_VERSION));
        json_object_object_add(params, "capabilities", json_object_new_object());
        json_object_object_add(info, "name", json_object_new_string("agv-agent"));
        json_object_object_add(info, "version", json_object_new_string(AGV_VERSION));
        json_object_object_add(params, "clientInfo", info);
        (void) mcp_router_internal_request(c->router, p->id, "initialize", params, on_init_reply, c);
        json_object_put(params);
        if (sd_event_add_time_relative(e, &p->handshake_timer, CLOCK_MONOTONIC,
                                       MAX(ch->ping_timeout, HANDSHAKE_TIMEOUT_MIN), 0, on_handshake_timeout, p) < 0)
                log_warning("Cannot arm the signer handshake timer");
        *ret = p;
        return 0;

fail_fds:
        safe_close(pin[0]);
        safe_close(pin[1]);
        safe_close(pout[0]);
        safe_close(pout[1]);
        safe_close(perr[0]);
        safe_close(perr[1]);
        safe_close(prep[0]);
        safe_close(prep[1]);
        p->exited = true;
        proc_free(p);
        return r;
}

/* Through its handshake (initialize, and tools/list when it has tools). */
static void proc_ready(Child *c, Proc *p) {
        p->handshake_timer = sd_event_source_disable_unref(p->handshake_timer);
        p->ready = true;
        if (p == c->current) {
                mcp_router_set_active(c->router, p->id);
                now_serving(c, p);
                feed(c, CHILD_EV_READY);
        } else if (p == c->candidate)
                feed(c, CHILD_EV_CANDIDATE_READY);
        manager_state_changed(c->m);
}

static void on_tools_reply(McpRouter *r, void *userdata, unsigned backend, json_object *result, json_object *error) {
        Child *c = userdata;
        Proc *p = find_proc(c, backend);
        json_object *tools = NULL, *m = NULL;

        if (!p || p->stop_stage > 0 || p->exited)
                return;
        if (result && json_object_object_get_ex(result, "tools", &tools) &&
            json_object_is_type(tools, json_type_array))
                p->tools = json_object_get(tools);
        else {
                if (error)
                        (void) json_object_object_get_ex(error, "message", &m);
                log_warning("signer[%d] did not list its tools (%s); clients are not told when they change",
                            (int) p->pid, m ? json_object_get_string(m) : "no tools array");
        }
        proc_ready(c, p);
}

static void on_init_reply(McpRouter *r, void *userdata, unsigned backend, json_object *result, json_object *error) {
        Child *c = userdata;
        Proc *p = find_proc(c, backend);
        json_object *pv = NULL, *caps = NULL;

        if (!p || p->stop_stage > 0 || p->exited)
                return;
        if (!result || !json_object_object_get_ex(result, "protocolVersion", &pv) ||
            !json_object_is_type(pv, json_type_string)) {
                json_object *m = NULL;
                if (error)
                        (void) json_object_object_get_ex(error, "message", &m);
                _cleanup_free_ char *why = NULL;
                if (asprintf(&why, "it answered initialize with %s", m ? json_object_get_string(m) : "no protocolVersion") < 0)
                        why = NULL;
                proc_lost(p, why ? why : "bad initialize answer");
                return;
        }
        mcp_router_backend_set_init(c->router, p->id, result);
        mcp_router_internal_notify(c->router, p->id, "notifications/initialized", NULL);
        log_info("Signer child %d ready (MCP %s)", (int) p->pid, json_object_get_string(pv));

        /* Its tool list, before it serves: a replacement whose list differs
         * from the old child's is announced with list_changed. */
        if (json_object_object_get_ex(result, "capabilities", &caps) && json_object_object_get_ex(caps, "tools", NULL) &&
            mcp_router_internal_request(c->router, p->id, "tools/list", NULL, on_tools_reply, c) > 0)
                return;
        proc_ready(c, p);
}

/* A child starts serving (first start, restart or promotion): what was
 * said about the previous one no longer holds. */
static void now_serving(Child *c, Proc *p) {
        set_str(&c->last_error, NULL);
        c->replacement_failed = false;
        c->tool_failures = 0;
        /* Its own first health probe at once; until it answers, unknown. */
        c->health_known = false;
        c->health_pid = p->pid;
        set_str(&c->health_message, NULL);
        c->health_timer = sd_event_source_disable_unref(c->health_timer); /* re-armed at 0 by update_timers() */

        if (p->tools && c->served_tools && !json_object_equal(p->tools, c->served_tools)) {
                log_info("The signer's tool list changed (%zu -> %zu tools); telling the clients",
                         json_object_array_length(c->served_tools), json_object_array_length(p->tools));
                mcp_router_notify_listers(c->router, "tools/list", "notifications/tools/list_changed");
        }
        if (p->tools) {
                json_object_put(c->served_tools);
                c->served_tools = json_object_get(p->tools);
        }
}

/* ---- router callbacks -------------------------------------------------- */

static void rt_send_client(void *userdata, unsigned client, const char *line, size_t len) {
        Child *c = userdata;
        if (c->server)
                mcp_server_send(c->server, client, line, len);
}

static void rt_send_backend(void *userdata, unsigned backend, const char *line, size_t len) {
        Proc *p = find_proc(userdata, backend);
        if (p)
                proc_send(p, line, len);
}

static void rt_backend_idle(void *userdata, unsigned backend) {
        Proc *p = find_proc(userdata, backend);
        /* Called from inside the router: let the drain timer fire now. */
        if (p && p->role == ROLE_DRAINING && p->drain_timer) {
                p->drained = true;
                (void) sd_event_source_set_time(p->drain_timer, 1);
        }
}

static void request_replace(Child *c, const char *reason) {
        set_str(&c->replace_reason, reason);
        feed(c, CHILD_EV_REPLACE);
}

static void rt_tool_result(void *userdata, unsigned backend, const char *tool, bool ok) {
        Child *c = userdata;
        const ChildSection *ch = cfg(c);
        if (!ch->restart_on_tool_failure_tool || !streq(tool, ch->restart_on_tool_failure_tool))
                return;
        if (!c->current || c->current->id != backend)
                return;
        if (ok) {
                c->tool_failures = 0;
                return;
        }
        if (++c->tool_failures >= MAX(ch->restart_on_tool_failure_count, 1u)) {
                _cleanup_free_ char *why = NULL;
                c->tool_failures = 0;
                if (asprintf(&why, "tool %s failed %u times in a row", tool, ch->restart_on_tool_failure_count) < 0)
                        why = NULL;
                log_struct(LOG_WARNING, MSGID_CHILD_HEALTH_FAILED, NULL, "Replacing the signer: %s", strna(why));
                /* From inside the router: replace from the loop. */
                set_str(&c->replace_reason, why);
                if (c->replace_defer)
                        (void) sd_event_source_set_enabled(c->replace_defer, SD_EVENT_ONESHOT);
        }
}

static uint64_t rt_now(void *userdata) {
        return now_mono();
}

static int on_request_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* One timer serves every client request's deadline (the router keeps them). */
static void arm_request_timer(Child *c, usec_t when) {
        int r;
        if (!c->request_timer)
                r = sd_event_add_time(c->m->event, &c->request_timer, CLOCK_MONOTONIC, when, USEC_PER_SEC / 10,
                                      on_request_timer, c);
        else {
                r = sd_event_source_set_time(c->request_timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->request_timer, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                log_warning_errno(r, "Cannot arm the MCP request timeout; requests past [child] request_timeout fail later");
}

static int on_request_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Child *c = userdata;
        uint64_t next = mcp_router_expire(c->router, now_mono());
        if (next != USEC_INFINITY)
                arm_request_timer(c, next);
        return 0;
}

/* ---- MCP server callbacks --------------------------------------------- */

static void srv_connect(void *userdata, unsigned client) {
        Child *c = userdata;
        (void) mcp_router_client_add(c->router, client);
}

static void srv_line(void *userdata, unsigned client, const char *line, size_t len) {
        Child *c = userdata;
        int enabled = SD_EVENT_OFF;
        mcp_router_client_line(c->router, client, line, len);
        /* A new request's deadline is never earlier than an armed one. */
        if (mcp_router_client_pending(c->router, client) > 0 &&
            (!c->request_timer || (sd_event_source_get_enabled(c->request_timer, &enabled), enabled == SD_EVENT_OFF)))
                arm_request_timer(c, usec_add(now_mono(), cfg(c)->request_timeout));
}

static bool srv_busy(void *userdata, unsigned client) {
        Child *c = userdata;
        return mcp_router_client_pending(c->router, client) > 0;
}

static void srv_disconnect(void *userdata, unsigned client) {
        Child *c = userdata;
        mcp_router_client_remove(c->router, client);
}

/* ---- liveness and health ------------------------------------------------ */

static void on_ping_reply(McpRouter *r, void *userdata, unsigned backend, json_object *result, json_object *error) {
        Child *c = userdata;
        if (backend != c->ping_backend)
                return;
        c->ping_backend = 0;
        c->ping_timeout_timer = sd_event_source_disable_unref(c->ping_timeout_timer);
        if (result) {
                c->last_ping_rtt = now_mono() - c->ping_sent;
                c->have_ping_rtt = true;
        }
}

static int on_ping_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Child *c = userdata;
        char d[32];
        _cleanup_free_ char *why = NULL;
        c->ping_timeout_timer = sd_event_source_disable_unref(c->ping_timeout_timer);
        c->ping_backend = 0;
        if (asprintf(&why, "no answer to ping within %s", format_duration(cfg(c)->ping_timeout, d, sizeof d)) < 0)
                why = NULL;
        log_struct(LOG_WARNING, MSGID_CHILD_HEALTH_FAILED, NULL, "Signer child hung (%s); replacing it", strna(why));
        request_replace(c, why);
        return 0;
}

static int on_ping_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Child *c = userdata;
        (void) event_timer_arm_relative(s, cfg(c)->ping_interval, SD_EVENT_ON, "signer ping");
        if (!c->current || !c->current->ready || c->ping_backend)
                return 0;
        c->ping_sent = now_mono();
        c->ping_backend = c->current->id;
        if (mcp_router_internal_request(c->router, c->current->id, "ping", NULL, on_ping_reply, c) < 0) {
                c->ping_backend = 0;
                return 0;
        }
        if (sd_event_add_time_relative(c->m->event, &c->ping_timeout_timer, CLOCK_MONOTONIC, cfg(c)->ping_timeout,
                                       0, on_ping_timeout, c) < 0)
                log_warning("Cannot arm the signer ping timeout timer");
        return 0;
}

static void on_health_reply(McpRouter *r, void *userdata, unsigned backend, json_object *result, json_object *error) {
        Child *c = userdata;
        json_object *is_error = NULL, *content = NULL, *m = NULL;
        const char *text = NULL;

        /* A probe of a child that no longer serves says nothing now. */
        if (!c->current || backend != c->current->id)
                return;
        c->health_known = true;
        c->health_pid = c->current->pid;
        c->health_at = manager_now_realtime(c->m);
        if (result) {
                c->health_ok = !(json_object_object_get_ex(result, "isError", &is_error) &&
                                 json_object_get_boolean(is_error));
                if (json_object_object_get_ex(result, "content", &content) &&
                    json_object_is_type(content, json_type_array) && json_object_array_length(content) > 0) {
                        json_object *t = NULL;
                        if (json_object_object_get_ex(json_object_array_get_idx(content, 0), "text", &t))
                                text = json_object_get_string(t);
                }
        } else {
                c->health_ok = false;
                if (error && json_object_object_get_ex(error, "message", &m))
                        text = json_object_get_string(m);
        }
        free(c->health_message);
        c->health_message = text ? strndup(text, 300) : NULL;
        if (!c->health_ok)
                log_struct(LOG_WARNING, MSGID_CHILD_HEALTH_FAILED, NULL, "Signer health check %s failed: %s",
                           cfg(c)->health_tool, strna(c->health_message));
        manager_state_changed(c->m);
}

static int on_health_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Child *c = userdata;
        (void) event_timer_arm_relative(s, cfg(c)->health_interval, SD_EVENT_ON, "signer health check");
        if (!c->current || !c->current->ready || !cfg(c)->health_tool)
                return 0;
        json_object *params = json_object_new_object();
        json_object_object_add(params, "name", json_object_new_string(cfg(c)->health_tool));
        json_object_object_add(params, "arguments", json_object_new_object());
        (void) mcp_router_internal_request(c->router, c->current->id, "tools/call", params, on_health_reply, c);
        json_object_put(params);
        return 0;
}

static void update_timers(Child *c) {
        bool serving = c->fsm.state == CHILD_RUNNING || c->fsm.state == CHILD_REPLACING;
        sd_event *e = c->m->event;

        if (serving && cfg(c)->ping_interval > 0) {
                if (!c->ping_timer && sd_event_add_time_relative(e, &c->ping_timer, CLOCK_MONOTONIC,
                                                                 cfg(c)->ping_interval, 0, on_ping_timer, c) < 0)
                        log_warning("Cannot arm the signer ping timer");
                if (c->ping_timer)
                        (void) sd_event_source_set_enabled(c->ping_timer, SD_EVENT_ON);
        } else {
                c->ping_timer = sd_event_source_disable_unref(c->ping_timer);
                c->ping_timeout_timer = sd_event_source_disable_unref(c->ping_timeout_timer);
                c->ping_backend = 0;
        }
        if (serving && cfg(c)->health_tool && cfg(c)->health_interval > 0) {
                if (!c->health_timer) {
                        /* First check at once, then every interval; while a
                         * replacement handshakes the old child is not worth
                         * a first probe: the new one gets its own when it
                         * serves (now_serving), the old one if it fails. */
                        usec_t first = c->fsm.state == CHILD_REPLACING ? cfg(c)->health_interval : 0;
                        if (sd_event_add_time_relative(e, &c->health_timer, CLOCK_MONOTONIC, first, 0, on_health_timer,
                                                       c) < 0)
                                log_warning("Cannot arm the signer health check timer");
                }
        } else
                c->health_timer = sd_event_source_disable_unref(c->health_timer);
}

/* ---- the state machine's actions --------------------------------------- */

static int on_backoff(sd_event_source *s, uint64_t usec, void *userdata) {
        Child *c = userdata;
        c->backoff_timer = sd_event_source_disable_unref(c->backoff_timer);
        feed(c, CHILD_EV_TIMER);
        return 0;
}

static void emit_failed(Child *c) {
        _cleanup_free_ char *summary = NULL, *f = NULL;
        char d[32];
        if (asprintf(&summary, "The signer child failed %u times within %s and is not restarted any more",
                     cfg(c)->start_limit, format_duration(cfg(c)->start_limit_interval, d, sizeof d)) < 0)
                summary = NULL;
        if (asprintf(&f, "AGV_CHILD_LAST_EXIT=%s", c->last_error ? c->last_error : strna(c->last_exit)) < 0)
                f = NULL;
        char *fields[] = { f, NULL };
        log_struct(LOG_ERR, MSGID_CHILD_FAILED, f ? fields : NULL, "%s (last: %s)", strna(summary),
                   c->last_error ? c->last_error : strna(c->last_exit));
        AlertEvent ev = {
                .name = "AgvChildFailed",
                .severity = HEALTH_CRITICAL,
                .summary = summary ? summary : "The signer child failed",
                .description = "Check the signer's journal lines (journalctl -u agv-agent), fix the cause, then run "
                               "'agv-agent restart-child' or reload the agent.",
                .fields = f ? fields : NULL,
        };
        manager_emit(c->m, c, EVENT_CHILD_FAILED, &ev);
}

static void start_draining(Child *c, Proc *old) {
        if (!old)
                return;
        if (old->role == ROLE_DRAINING && old->drain_timer)
                return; /* already draining, on its own deadline */
        old->role = ROLE_DRAINING;
        if (!old->in_router || mcp_router_backend_pending(c->router, old->id) == 0) {
                proc_unroute(old, MCP_ERR_CHILD_EXITED, "signer child replaced");
                proc_stop(old);
                return;
        }
        if (sd_event_add_time_relative(c->m->event, &old->drain_timer, CLOCK_MONOTONIC, cfg(c)->drain_timeout, 0,
                                       on_drain_timeout, old) < 0)
                log_warning("Cannot arm the signer drain timer");
}

/* Performs actions; returns a follow-up event or _CHILD_EV_MAX. */
static ChildEvent perform(Child *c, unsigned a) {
        ChildEvent follow = _CHILD_EV_MAX;

        if (a & CHILD_ACT_STOP_ALL) {
                /* New requests fail at once (-32010); the ones in flight
                 * are answered first (bounded by drain_timeout): a client
                 * must never be told that a signature the signer made
                 * failed. */
                mcp_router_set_active(c->router, 0);
                for (Proc *p = c->procs; p; p = p->next)
                        if (p->ready && p->in_router && !p->exited && p->stop_stage == 0 &&
                            (p->role == ROLE_CURRENT || p->role == ROLE_DRAINING))
                                start_draining(c, p);
                        else {
                                proc_unroute(p, MCP_ERR_UNAVAILABLE, "the agent is stopping the signer child");
                                proc_stop(p);
                        }
                c->current = c->candidate = NULL;
                c->backoff_timer = sd_event_source_disable_unref(c->backoff_timer);
        }
        if (a & CHILD_ACT_STOP_CURRENT) {
                Proc *p = c->current;
                c->current = NULL;
                if (p) {
                        proc_unroute(p, MCP_ERR_CHILD_EXITED, "signer child stopped before answering");
                        proc_stop(p);
                }
        }
        if (a & CHILD_ACT_ADOPT_CANDIDATE) {
                c->current = c->candidate;
                c->candidate = NULL;
                if (c->current) {
                        c->current->role = ROLE_CURRENT;
                        if (c->current->ready) {
                                /* Already through its handshake. */
                                mcp_router_set_active(c->router, c->current->id);
                                now_serving(c, c->current);
                                follow = CHILD_EV_READY;
                        }
                } else
                        follow = CHILD_EV_EXITED;
        }
        if (a & CHILD_ACT_SPAWN) {
                Proc *p = NULL;
                if (proc_spawn(c, ROLE_CURRENT, &p) < 0)
                        follow = CHILD_EV_EXITED;
                else {
                        c->current = p;
                        if (c->started_once)
                                c->restarts++;
                        c->started_once = true;
                }
        }
        if (a & CHILD_ACT_SPAWN_CANDIDATE) {
                Proc *p = NULL;
                log_info("Replacing the signer child: %s", c->replace_reason ? c->replace_reason : "requested");
                if (proc_spawn(c, ROLE_CANDIDATE, &p) < 0)
                        follow = CHILD_EV_CANDIDATE_FAILED;
                else
                        c->candidate = p;
        }
        if (a & CHILD_ACT_PROMOTE) {
                Proc *old = c->current;
                c->current = c->candidate;
                c->candidate = NULL;
                c->current->role = ROLE_CURRENT;
                mcp_router_set_active(c->router, c->current->id);
                c->replacements++;
                c->ping_backend = 0;
                c->ping_timeout_timer = sd_event_source_disable_unref(c->ping_timeout_timer);
                now_serving(c, c->current);
                {
                        _cleanup_free_ char *f = NULL;
                        if (asprintf(&f, "AGV_CHILD_PID=%d", (int) c->current->pid) < 0)
                                f = NULL;
                        char *fields[] = { f, NULL };
                        log_struct(LOG_INFO, MSGID_CHILD_REPLACED, f ? fields : NULL,
                                   "Signer child replaced: %d now serves, %d drains (%s)", (int) c->current->pid,
                                   old ? (int) old->pid : 0, c->replace_reason ? c->replace_reason : "requested");
                }
                start_draining(c, old);
        }
        if (a & CHILD_ACT_DISCARD_CANDIDATE) {
                Proc *p = c->candidate;
                c->candidate = NULL;
                c->replacement_failed = true;
                if (!c->health_known) /* e.g. health_tool added by the reload that failed */
                        c->health_timer = sd_event_source_disable_unref(c->health_timer);
                log_warning("Replacement signer failed (%s); the old one keeps serving", strna(c->last_error));
                if (p) {
                        proc_unroute(p, MCP_ERR_CHILD_EXITED, "replacement discarded");
                        proc_stop(p);
                }
        }
        if (a & CHILD_ACT_ARM_BACKOFF) {
                char d[32];
                c->backoff_timer = sd_event_source_disable_unref(c->backoff_timer);
                log_info("Restarting the signer child in %s", format_duration(c->fsm.backoff_usec, d, sizeof d));
                if (sd_event_add_time_relative(c->m->event, &c->backoff_timer, CLOCK_MONOTONIC, c->fsm.backoff_usec,
                                               0, on_backoff, c) < 0)
                        log_warning("Cannot arm the signer restart backoff timer");
        }
        if (a & CHILD_ACT_EMIT_FAILED)
                emit_failed(c);
        if (a & CHILD_ACT_EMIT_RECOVERED) {
                log_struct(LOG_NOTICE, MSGID_CHILD_STARTED, NULL, "Signer child recovered");
                manager_emit(c->m, c, EVENT_CHILD_RECOVERED, NULL);
        }
        return follow;
}

static void feed(Child *c, ChildEvent ev) {
        for (int guard = 0; guard < 16 && ev != _CHILD_EV_MAX; guard++) {
                ChildState before = c->fsm.state;
                unsigned a = child_fsm_handle(&c->fsm, ev, now_mono());
                if (c->fsm.state != before)
                        log_debug("child: %s --%s--> %s", child_state_to_string(before), child_event_to_string(ev),
                                  child_state_to_string(c->fsm.state));
                ev = perform(c, a);
        }
        if (c->fsm.state != CHILD_BACKOFF)
                c->backoff_timer = sd_event_source_disable_unref(c->backoff_timer);
        update_timers(c);
        manager_state_changed(c->m);
}

/* ---- module ops ---------------------------------------------------------- */

static double jitter_random(void *userdata) {
        uint32_t v = 0;
        if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
                v = (uint32_t) now_mono();
        return (double) v / 4294967296.0;
}

static void fsm_params(const ChildSection *ch, ChildFsmParams *p) {
        *p = (ChildFsmParams) {
                .start_limit = ch->start_limit,
                .start_limit_interval = ch->start_limit_interval,
                .backoff_base = MIN(BACKOFF_BASE, ch->restart_backoff_max),
                .backoff_max = ch->restart_backoff_max,
                .stable_after = MIN(ch->start_limit_interval, STABLE_MAX),
        };
}

static int on_replace_defer(sd_event_source *s, void *userdata) {
        Child *c = userdata;
        feed(c, CHILD_EV_REPLACE);
        return 0;
}

static void *child_free(void *mod);

static int child_new(Manager *m, void **ret) {
        Child *c = calloc(1, sizeof(*c));
        ChildFsmParams p;
        static const McpRouterCallbacks rcb = {
                .send_client = rt_send_client,
                .send_backend = rt_send_backend,
                .backend_idle = rt_backend_idle,
                .tool_result = rt_tool_result,
                .now = rt_now,
        };
        int r;

        if (!c)
                return -ENOMEM;
        c->m = m;
        fsm_params(&m->config->child, &p);
        child_fsm_init(&c->fsm, &p);
        c->fsm.random = jitter_random;
        r = mcp_router_new(&rcb, c, &c->router);
        if (r < 0) {
                free(c);
                return r;
        }
        mcp_router_set_request_timeout(c->router, m->config->child.request_timeout);
        r = sd_event_add_defer(m->event, &c->replace_defer, on_replace_defer, c);
        if (r < 0) {
                child_free(c);
                return r;
        }
        (void) sd_event_source_set_enabled(c->replace_defer, SD_EVENT_OFF);
        *ret = c;
        return 0;
}

static void *child_free(void *mod) {
        Child *c = mod;
        if (!c)
                return NULL;
        /* Agent exit: no child survives us (PDEATHSIG covers crashes). */
        while (c->procs) {
                Proc *p = c->procs;
                if (!p->exited) {
                        (void) kill(-p->pid, SIGKILL);
                        (void) kill(p->pid, SIGKILL);
                        (void) waitpid(p->pid, NULL, 0);
                        p->exited = true;
                }
                proc_free(p);
        }
        c->server = mcp_server_free(c->server);
        sd_event_source_disable_unref(c->backoff_timer);
        sd_event_source_disable_unref(c->ping_timer);
        sd_event_source_disable_unref(c->ping_timeout_timer);
        sd_event_source_disable_unref(c->health_timer);
        sd_event_source_disable_unref(c->replace_defer);
        sd_event_source_disable_unref(c->request_timer);
        mcp_router_free(c->router);
        free(c->server_error);
        free(c->health_message);
        free(c->last_exit);
        free(c->last_error);
        free(c->replace_reason);
        json_object_put(c->served_tools);
        findings_done(&c->preflight);
        free(c);
        return NULL;
}

static void open_server(Child *c) {
        const Config *config = c->m->config;
        static const McpServerCallbacks scb = {
                .on_connect = srv_connect,
                .on_line = srv_line,
                .on_disconnect = srv_disconnect,
                .busy = srv_busy,
        };
        int r;

        if (!c->server && mcp_server_new(c->m->event, &scb, c, &c->server) < 0)
                return;
        mcp_server_set_max_clients(c->server, manager_max_clients(c->m));
        r = mcp_server_listen(c->server, config->child.mcp_socket,
                              config->agent.socket_group.name ? config->agent.socket_group.gid : (gid_t) -1, 0660);
        if (r < 0) {
                free(c->server_error);
                if (asprintf(&c->server_error, "cannot listen on %s: %s", config->child.mcp_socket, strerror(-r)) < 0)
                        c->server_error = NULL;
        } else {
                free(c->server_error);
                c->server_error = NULL;
                log_info("MCP clients are served on %s", config->child.mcp_socket);
        }
}

/* Local files only (config, helper header, modes): quick enough for the
 * loop, like a PKI pass; `node --version` is left to 'agv-agent check'. */
static void run_preflight(Child *c) {
        Findings f = {};
        signer_preflight(c->m->config, false, &f);
        for (size_t i = 0; i < f.n; i++)
                if (!findings_has(&c->preflight, f.items[i].code))
                        log_struct(f.items[i].severity == HEALTH_CRITICAL ? LOG_ERR : LOG_WARNING, NULL, NULL,
                                   "Signer preflight: %s; fix: %s", f.items[i].message, f.items[i].fix);
        findings_done(&c->preflight);
        c->preflight = f;
}

static int child_start(void *mod) {
        Child *c = mod;
        if (!child_configured(c->m->config))
                return 0;
        run_preflight(c);
        open_server(c);
        feed(c, CHILD_EV_START);
        return 0;
}

static bool spawn_config_changed(const ChildSection *a, const ChildSection *b) {
        return !strv_equal(a->command, b->command) || !strv_equal(a->environment, b->environment) ||
               !streq(strempty(a->working_directory), strempty(b->working_directory)) || a->umask != b->umask ||
               !streq(strempty(a->user.name), strempty(b->user.name)) || a->user.uid != b->user.uid ||
               !streq(strempty(a->group.name), strempty(b->group.name)) || a->group.gid != b->group.gid;
}

static void child_reconfigure(void *mod, const Config *old, const Config *new) {
        Child *c = mod;
        ChildFsmParams p;

        fsm_params(&new->child, &p);
        c->fsm.params = p;
        /* requests in flight keep their deadlines; new ones get the new one */
        mcp_router_set_request_timeout(c->router, new->child.request_timeout);

        if (!child_configured(new)) {
                if (child_configured(old)) {
                        log_info("[child] command removed: stopping the signer child");
                        feed(c, CHILD_EV_STOP);
                        c->server = mcp_server_free(c->server);
                }
                return;
        }
        run_preflight(c);
        if (!c->server || !streq(old->child.mcp_socket, new->child.mcp_socket) ||
            old->agent.socket_group.gid != new->agent.socket_group.gid ||
            old->agent.max_clients != new->agent.max_clients)
                open_server(c);

        /* Interval changes take effect at once; a health probe right now
         * would ask the child that is about to be replaced (the new one
         * gets its own first probe when it serves). */
        /* Only when they changed: a storm of SIGHUPs must neither start a
         * probe each nor keep postponing the next ping. */
        if (old->child.ping_interval != new->child.ping_interval)
                c->ping_timer = sd_event_source_disable_unref(c->ping_timer);
        bool replacing = c->fsm.state == CHILD_FAILED || spawn_config_changed(&old->child, &new->child);
        if (!replacing && (!streq(strempty(old->child.health_tool), strempty(new->child.health_tool)) ||
                           old->child.health_interval != new->child.health_interval))
                c->health_timer = sd_event_source_disable_unref(c->health_timer);

        if (!child_configured(old) || c->fsm.state == CHILD_STOPPED)
                feed(c, CHILD_EV_START);
        else if (c->fsm.state == CHILD_FAILED)
                request_replace(c, "configuration reloaded");
        else if (spawn_config_changed(&old->child, &new->child))
                request_replace(c, "[child] configuration changed");
        update_timers(c);
        manager_state_changed(c->m);
}

static void child_event(void *mod, AgentEventType type, const void *payload) {
        Child *c = mod;
        const CertActivation *act = payload;

        if (type != EVENT_CERT_ACTIVATED || !act || !act->previous || !child_configured(c->m->config))
                return;
        switch (cfg(c)->on_renewal) {
        case ON_RENEWAL_NONE:
                break;
        case ON_RENEWAL_SIGNAL:
                if (c->current && !c->current->exited) {
                        log_info("Certificate renewed: sending %s to signer[%d] ([child] on_renewal=signal)",
                                 sigabbrev_np(cfg(c)->renewal_signal) ? sigabbrev_np(cfg(c)->renewal_signal) : "?",
                                 (int) c->current->pid);
                        (void) kill(c->current->pid, cfg(c)->renewal_signal);
                }
                break;
        case ON_RENEWAL_RESTART:
                request_replace(c, "certificate renewed");
                break;
        }
}

static int child_stop(void *mod) {
        Child *c = mod;
        c->stopping = true;
        feed(c, CHILD_EV_STOP);
        if (!c->procs) {
                c->stop_reported = true;
                return 0;
        }
        return 1;
}

static const char *summary_phrase(ChildState s) {
        switch (s) {
        case CHILD_RUNNING:
                return "signer ready";
        case CHILD_REPLACING:
                return "signer ready (replacing)";
        case CHILD_STARTING:
                return "signer starting";
        case CHILD_BACKOFF:
                return "signer restarting";
        case CHILD_FAILED:
                return "signer failed";
        case CHILD_STOPPING:
                return "signer stopping";
        default:
                return "signer stopped";
        }
}

static void child_status(void *mod, StatusBuilder *sb) {
        Child *c = mod;
        const ChildSection *ch = cfg(c);

        if (!child_configured(c->m->config)) {
                status_set_section(sb, "child", NULL);
                return;
        }
        json_object *o = json_object_new_object();
        _cleanup_free_ char *cmdline = strv_join(ch->command, " ");
        Proc *p = c->current;
        json_object_object_add(o, "command", json_string_or_null(cmdline));
        json_object_object_add(o, "state", json_object_new_string(child_state_to_string(c->fsm.state)));
        json_object_object_add(o, "pid", p && !p->exited ? json_object_new_int(p->pid) : NULL);
        json_object_object_add(o, "started_at", p ? json_time_or_null(p->started_real) : NULL);
        json_object_object_add(o, "uptime_s", p && !p->exited ? json_object_new_int64((int64_t) ((now_mono() - p->started_mono) / USEC_PER_SEC)) : NULL);
        json_object_object_add(o, "restarts", json_object_new_int64(c->restarts));
        json_object_object_add(o, "replacements", json_object_new_int64(c->replacements));
        if (c->last_exit) {
                json_object *le = json_object_new_object();
                json_object_object_add(le, "status", json_object_new_string(c->last_exit));
                json_object_object_add(le, "at", json_time_or_null(c->last_exit_at));
                json_object_object_add(o, "last_exit", le);
        } else
                json_object_object_add(o, "last_exit", NULL);
        json_object_object_add(o, "last_ping_rtt_ms",
                               c->have_ping_rtt ? json_object_new_double((double) c->last_ping_rtt / 1000.0) : NULL);
        if (ch->health_tool) {
                json_object *h = json_object_new_object();
                json_object_object_add(h, "tool", json_object_new_string(ch->health_tool));
                json_object_object_add(h, "ok", c->health_known ? json_object_new_boolean(c->health_ok) : NULL);
                json_object_object_add(h, "message", json_string_or_null(c->health_message));
                json_object_object_add(h, "checked_at", c->health_known ? json_time_or_null(c->health_at) : NULL);
                json_object_object_add(h, "pid", c->health_known ? json_object_new_int(c->health_pid) : NULL);
                json_object_object_add(o, "health", h);
        } else
                json_object_object_add(o, "health", NULL);
        json_object_object_add(o, "clients", json_object_new_int((int) mcp_server_n_clients(c->server)));
        json_object_object_add(o, "requests_in_flight", json_object_new_int((int) mcp_router_pending_total(c->router)));
        json_object_object_add(o, "mcp_socket", json_string_or_null(mcp_server_path(c->server)));
        json_object_object_add(o, "last_error", json_string_or_null(c->last_error));
        json_object *au = json_object_new_object();
        json_object_object_add(au, "approved", json_object_new_int64((int64_t) c->audit[CHILD_AUDIT_APPROVED]));
        json_object_object_add(au, "denied", json_object_new_int64((int64_t) c->audit[CHILD_AUDIT_DENIED]));
        json_object_object_add(au, "errors", json_object_new_int64((int64_t) c->audit[CHILD_AUDIT_ERROR]));
        json_object_object_add(o, "audit", au);
        status_set_section(sb, "child", o);

        status_add_summary(sb, "%s", summary_phrase(c->fsm.state));
        switch (c->fsm.state) {
        case CHILD_FAILED:
                status_add_reason(sb, HEALTH_CRITICAL, "child_failed",
                                  "the signer child failed %u times within the start limit (last: %s); fix the cause, "
                                  "then run 'agv-agent restart-child'",
                                  ch->start_limit, c->last_error ? c->last_error : strna(c->last_exit));
                break;
        case CHILD_BACKOFF:
                status_add_reason(sb, HEALTH_WARNING, "child_restarting",
                                  "the signer child exited (%s) and is being restarted",
                                  c->last_error ? c->last_error : strna(c->last_exit));
                break;
        case CHILD_STARTING:
                if (c->restarts > 0 || c->last_exit)
                        status_add_reason(sb, HEALTH_WARNING, "child_starting", "the signer child is starting again");
                else
                        status_add_reason(sb, HEALTH_OK, "child_starting", "the signer child is starting");
                break;
        case CHILD_RUNNING:
        case CHILD_REPLACING:
                if (c->replacement_failed)
                        status_add_reason(sb, HEALTH_WARNING, "child_replacement_failed",
                                          "the last replacement of the signer failed, the old one keeps serving: %s",
                                          c->last_error);
                break;
        default:
                break;
        }
        if (ch->health_tool && c->health_known && !c->health_ok)
                status_add_reason(sb, HEALTH_WARNING, "child_health_failed", "the signer's %s tool failed: %s",
                                  ch->health_tool, strna(c->health_message));
        for (size_t i = 0; i < c->preflight.n; i++) {
                const Finding *f = &c->preflight.items[i];
                status_add_reason(sb, f->severity, f->code, "%s; %s", f->message, f->fix);
        }
        if (c->server_error)
                status_add_reason(sb, HEALTH_CRITICAL, "mcp_socket_failed", "MCP clients cannot connect: %s",
                                  c->server_error);
}

static void child_metrics(void *mod, MetricsWriter *w) {
        Child *c = mod;
        metrics_family(w, "agv_child_state", "gauge", "Signer child state (1 for the current state)");
        for (int s = 0; s < _CHILD_STATE_MAX; s++)
                metrics_sample(w, "agv_child_state", c->fsm.state == (ChildState) s ? 1.0 : 0.0, "state",
                               child_state_to_string(s), NULL);
        metrics_family(w, "agv_child_restarts_total", "counter", "Signer child restarts after an exit");
        metrics_sample(w, "agv_child_restarts_total", (double) c->restarts, NULL);
        metrics_family(w, "agv_child_replacements_total", "counter", "Zero-downtime signer replacements completed");
        metrics_sample(w, "agv_child_replacements_total", (double) c->replacements, NULL);
        metrics_family(w, "agv_child_audit_total", "counter",
                       "Audit lines of the signer by result (approved, denied by policy, error)");
        static const char *const results[] = { [CHILD_AUDIT_APPROVED] = "approved", [CHILD_AUDIT_DENIED] = "denied",
                                               [CHILD_AUDIT_ERROR] = "error" };
        for (int k = CHILD_AUDIT_APPROVED; k < _CHILD_AUDIT_MAX; k++)
                metrics_sample(w, "agv_child_audit_total", (double) c->audit[k], "result", results[k], NULL);
        metrics_family(w, "agv_mcp_clients", "gauge", "MCP clients attached to the MCP socket");
        metrics_sample(w, "agv_mcp_clients", (double) mcp_server_n_clients(c->server), NULL);
        metrics_family(w, "agv_mcp_requests_total", "counter", "MCP requests received from clients");
        metrics_sample(w, "agv_mcp_requests_total", (double) mcp_router_requests_total(c->router), NULL);
}

static int cmd_restart_child(Manager *m, void *userdata, json_object *request, json_object **result, char **error_code,
                             char **error_message) {
        Child *c = userdata;
        if (!child_configured(m->config)) {
                *error_code = strdup("no_child");
                *error_message = strdup("no [child] command is configured");
                return -ENOENT;
        }
        ChildState before = c->fsm.state;
        request_replace(c, "restart-child requested");
        json_object *o = json_object_new_object();
        json_object_object_add(o, "previous_state", json_object_new_string(child_state_to_string(before)));
        json_object_object_add(o, "state", json_object_new_string(child_state_to_string(c->fsm.state)));
        json_object_object_add(o, "message",
                               json_object_new_string(before == CHILD_REPLACING ? "a replacement is already in progress"
                                                      : before == CHILD_RUNNING ? "replacement started; the current child serves until the new one is ready"
                                                                                : "starting the signer child"));
        *result = o;
        return 0;
}

static const ControlCommand child_commands[] = {
        { "restart-child", true, "replace the signer child without downtime, or retry a failed one", cmd_restart_child },
        { .name = NULL },
};

const ModuleOps child_module = {
        .name = "child",
        .config_section = "child",
        .new = child_new,
        .free = child_free,
        .start = child_start,
        .reconfigure = child_reconfigure,
        .status = child_status,
        .metrics = child_metrics,
        .event = child_event,
        .stop = child_stop,
        .commands = child_commands,
};
