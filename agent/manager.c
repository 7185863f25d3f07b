/* SPDX-License-Identifier: MIT */
#include "manager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "control.h"
#include "fdlimit.h"
#include "log.h"
#include "message-ids.h"
#include "metrics.h"
#include "modules.h"
#include "protocol.h"
#include "strv.h"

static size_t n_modules(void) {
        size_t n = 0;
        while (module_table[n])
                n++;
        return n;
}

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

uint64_t manager_now_realtime(Manager *m) {
        int64_t off = m && m->config ? m->config->test_clock_offset_sec : 0;
        uint64_t now = now_usec(CLOCK_REALTIME);
        if (off < 0 && (uint64_t) (-off) * USEC_PER_SEC > now)
                return 0;
        return (uint64_t) ((int64_t) now + off * (int64_t) USEC_PER_SEC);
}

static uint64_t now_nsec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

int manager_loop_watch_add(Manager *m, LoopWatch *w) {
        return loop_stats_add_watch(&m->loop, w);
}

void manager_loop_watch_remove(Manager *m, LoopWatch *w) {
        loop_stats_remove_watch(&m->loop, w);
}

static json_object *loop_status(Manager *m, uint64_t now_mono) {
        json_object *o = json_object_new_object();
        uint64_t at = m->loop.max_ns ? m->start_realtime + (m->loop.max_at - m->start_monotonic) : 0;

        json_object_object_add(o, "dispatches", json_object_new_int64((int64_t) m->loop.count));
        json_object_object_add(o, "longest_dispatch_ms", json_ms_from_ns(m->loop.max_ns));
        json_object_object_add(o, "longest_dispatch_at", json_time_or_null(at));
        json_object_object_add(o, "longest_dispatch_last_minute_ms",
                               json_ms_from_ns(loop_stats_window_max(&m->loop, now_mono, 60)));
        return o;
}

void *manager_module(Manager *m, const char *name) {
        for (size_t i = 0; module_table[i]; i++)
                if (streq(module_table[i]->name, name))
                        return m->modules[i];
        return NULL;
}

void manager_emit(Manager *m, void *from, AgentEventType type, const void *payload) {
        for (size_t i = 0; module_table[i]; i++)
                if (m->modules[i] && m->modules[i] != from && module_table[i]->event)
                        module_table[i]->event(m->modules[i], type, payload);
}

static void notify(Manager *m, const char *fmt, ...) _printf_(2, 3);
static void notify(Manager *m, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        if (!m->notify)
                return;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (s)
                (void) sd_notify(0, s);
}

json_object *manager_status(Manager *m) {
        StatusBuilder sb;
        json_object *cfg, *inactive;
        uint64_t now_mono = now_usec(CLOCK_MONOTONIC);

        if (status_builder_init(&sb) < 0)
                return NULL;

        json_object_object_add(sb.root, "schema_version", json_object_new_int(STATUS_SCHEMA_VERSION));
        json_object_object_add(sb.root, "version", json_object_new_string(AGV_VERSION));
        json_object_object_add(sb.root, "pid", json_object_new_int((int) getpid()));
        json_object_object_add(sb.root, "uptime_s",
                               json_object_new_int64((int64_t) ((now_mono - m->start_monotonic) / USEC_PER_SEC)));
        json_object_object_add(sb.root, "started_at", json_time_or_null(m->start_realtime));
        json_object_object_add(sb.root, "config", json_object_new_string(m->config->path));

        cfg = json_object_new_object();
        json_object_object_add(cfg, "path", json_object_new_string(m->config->path));
        {
                json_object *files = json_object_new_array();
                STRV_FOREACH(f, m->config->files)
                        json_object_array_add(files, json_object_new_string(*f));
                json_object_object_add(cfg, "files", files);
        }
        json_object_object_add(cfg, "generation", json_object_new_int((int) m->config_generation));
        json_object_object_add(cfg, "last_reload_at", json_time_or_null(m->last_reload_realtime));
        json_object_object_add(cfg, "last_reload_error", json_string_or_null(m->last_reload_error));
        json_object_object_add(sb.root, "configuration", cfg);
        json_object_object_add(sb.root, "event_loop", loop_status(m, now_mono));

        if (m->last_reload_error)
                status_add_reason(&sb, HEALTH_WARNING, "config_reload_failed",
                                  "configuration reload failed, the previous configuration stays active: %s",
                                  m->last_reload_error);

        /* Sections later modules fill are present as null until built. */
        static const char *const sections[] = { "certificate", "permissions", "child", "alerts", "credentials" };
        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                status_set_section(&sb, sections[i], NULL);

        inactive = json_object_new_array();
        static const char *const config_sections[] = { "pki", "child", "alerts", "credentials" };
        for (size_t i = 0; i < ELEMENTSOF(config_sections); i++) {
                bool found = false;
                for (size_t j = 0; module_table[j]; j++)
                        if (module_table[j]->config_section && streq(module_table[j]->config_section, config_sections[i]))
                                found = true;
                if (!found)
                        json_object_array_add(inactive, json_object_new_string(config_sections[i]));
        }
        json_object_object_add(sb.root, "inactive", inactive);

        for (size_t i = 0; module_table[i]; i++)
                if (m->modules[i] && module_table[i]->status)
                        module_table[i]->status(m->modules[i], &sb);

        if (!m->ready)
                status_add_summary(&sb, "starting");
        if (m->stopping)
                status_add_reason(&sb, HEALTH_WARNING, "stopping", "the agent is stopping");

        return status_builder_finish(&sb);
}

const char *manager_status_reply(Manager *m, size_t *len) {
        uint64_t second = now_usec(CLOCK_MONOTONIC) / USEC_PER_SEC;

        if (!m->status_reply || m->status_reply_generation != m->state_generation ||
            m->status_reply_second != second) {
                _cleanup_json_ json_object *st = manager_status(m);
                size_t l = 0;
                char *line = st ? protocol_format_ok(st, &l) : NULL;

                if (!line)
                        return NULL;
                free(m->status_reply);
                m->status_reply = line;
                m->status_reply_len = l;
                m->status_reply_generation = m->state_generation;
                m->status_reply_second = second;
        }
        *len = m->status_reply_len;
        return m->status_reply;
}

char *manager_metrics(Manager *m) {
        MetricsWriter *w = metrics_writer_new();
        if (!w)
                return NULL;
        metrics_family(w, "agv_up", "gauge", "1 when the agent is running and serving its control socket.");
        metrics_sample(w, "agv_up", 1, NULL);
        metrics_family(w, "agv_build_info", "gauge", "Agent version.");
        metrics_sample(w, "agv_build_info", 1, "version", AGV_VERSION, NULL);
        metrics_family(w, "agv_start_time_seconds", "gauge", "When the agent started, Unix time.");
        metrics_sample(w, "agv_start_time_seconds", (double) (m->start_realtime / USEC_PER_SEC), NULL);
        metrics_family(w, "agv_config_reload_failed", "gauge", "1 when the last configuration reload was rejected.");
        metrics_sample(w, "agv_config_reload_failed", m->last_reload_error ? 1 : 0, NULL);
        {
                double le[LOOP_BUCKETS];
                for (size_t i = 0; i < LOOP_BUCKETS; i++)
                        le[i] = (double) loop_bucket_ns[i] / 1e9;
                metrics_histogram(w, "agv_event_loop_dispatch_seconds",
                                  "Time one event loop callback (sd_event_dispatch) held the loop; nothing else is served meanwhile.",
                                  le, m->loop.buckets, LOOP_BUCKETS, (double) m->loop.sum_ns / 1e9);
                metrics_family(w, "agv_event_loop_longest_dispatch_seconds", "gauge",
                               "Longest event loop callback since the agent started.");
                metrics_sample(w, "agv_event_loop_longest_dispatch_seconds", (double) m->loop.max_ns / 1e9, NULL);
        }
        {
                json_object *st = manager_status(m);
                Health h = status_result_health(st);
                metrics_family(w, "agv_health", "gauge", "Overall health: 0 ok, 1 warning, 2 critical.");
                metrics_sample(w, "agv_health", (double) h, NULL);
                json_object_put(st);
        }
        for (size_t i = 0; module_table[i]; i++)
                if (m->modules[i] && module_table[i]->metrics)
                        module_table[i]->metrics(m->modules[i], w);
        return metrics_writer_finish(w);
}

static void update_status(Manager *m) {
        _cleanup_json_ json_object *st = manager_status(m);
        _cleanup_free_ char *line = NULL;

        if (!st)
                return;
        line = status_line_from_result(st);
        if (line && (!m->status_line || !streq(line, m->status_line))) {
                notify(m, "STATUS=%s", line);
                free(m->status_line);
                m->status_line = TAKE_PTR(line);
        }
        manager_emit(m, NULL, EVENT_STATUS_CHANGED, st);
}

static int on_status_defer(sd_event_source *s, void *userdata) {
        update_status(userdata);
        return 0;
}

/* One permanent defer source, armed one-shot: any number of changes within
 * one loop iteration cost one status computation. */
void manager_state_changed(Manager *m) {
        m->state_generation++; /* invalidates the cached status reply now */
        if (!m->status_defer || sd_event_source_set_enabled(m->status_defer, SD_EVENT_ONESHOT) < 0)
                update_status(m);
}

static void reload_failed(Manager *m, char *const *errors) {
        _cleanup_free_ char *joined = strv_join(errors, "; ");

        STRV_FOREACH(e, errors)
                log_error("%s", *e);
        log_struct(LOG_ERR, MSGID_CONFIG_RELOAD_FAILED, NULL,
                   "Configuration reload rejected (%zu problem%s); the previous configuration stays active",
                   strv_length(errors), strv_length(errors) == 1 ? "" : "s");
        free(m->last_reload_error);
        m->last_reload_error = joined ? TAKE_PTR(joined) : strdup("invalid configuration");
}

unsigned manager_max_clients(Manager *m) {
        return fdlimit_max_clients(m->config->agent.max_clients, m->nofile);
}

/* Say so when max_clients cannot be honoured: past the limit accept()
 * would fail instead of refusing with too_many_clients. */
static void check_client_budget(Manager *m) {
        unsigned eff = manager_max_clients(m);
        if (eff < m->config->agent.max_clients)
                log_warning("[agent] max_clients = %u needs %u file descriptors but the limit is %llu; serving at most %u "
                            "control and %u MCP connections (raise LimitNOFILE= or lower max_clients)",
                            m->config->agent.max_clients, 2 * m->config->agent.max_clients + FDLIMIT_RESERVED,
                            (unsigned long long) m->nofile, eff, eff);
}

int manager_reload(Manager *m, char **error) {
        _cleanup_(config_freep) Config *new = NULL;
        ConfigErrors errors = {};
        Config *old;
        int r;

        notify(m, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) now_usec(CLOCK_MONOTONIC));
        log_info("Reloading configuration from %s", m->config_path);

        r = config_load(m->config_path, NULL, false, &new, &errors);
        m->last_reload_realtime = now_usec(CLOCK_REALTIME);
        if (r < 0) {
                if (errors.lines)
                        reload_failed(m, errors.lines);
                else {
                        char *l[] = { (char *) "could not load the configuration", NULL };
                        reload_failed(m, l);
                }
                if (error)
                        *error = strdup(m->last_reload_error);
                config_errors_done(&errors);
                manager_state_changed(m);
                update_status(m);
                notify(m, "READY=1");
                return -EINVAL;
        }

        old = m->config;
        m->config = TAKE_PTR(new);
        m->config_generation++;
        free(m->last_reload_error);
        m->last_reload_error = NULL;
        log_set_max_level(m->config->agent.log_level);
        check_client_budget(m);

        control_reconfigure(m->control, old, m->config);
        for (size_t i = 0; module_table[i]; i++)
                if (m->modules[i] && module_table[i]->reconfigure)
                        module_table[i]->reconfigure(m->modules[i], old, m->config);
        if (old->test_clock_offset_sec != m->config->test_clock_offset_sec)
                manager_emit(m, NULL, EVENT_CLOCK_CHANGED, NULL);
        config_free(old);

        m->state_generation++;
        log_struct(LOG_NOTICE, MSGID_CONFIG_RELOADED, NULL, "Configuration reloaded (generation %u)",
                   m->config_generation);
        update_status(m);
        notify(m, "READY=1");
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata, NULL);
        return 0;
}

static void finish_stop(Manager *m) {
        log_struct(LOG_INFO, MSGID_AGENT_STOPPING, NULL, "Stopped");
        (void) sd_event_exit(m->event, 0);
}

void manager_stop_progress(Manager *m) {
        if (!m->stopping)
                return;
        if (m->stop_pending > 0)
                m->stop_pending--;
        if (m->stop_pending == 0)
                finish_stop(m);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        log_warning("Modules did not finish stopping in time; exiting anyway");
        finish_stop(m);
        return 0;
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        usec_t budget;

        if (m->stopping) {
                log_notice("Second termination signal: exiting now");
                finish_stop(m);
                return 0;
        }
        m->stopping = true;
        m->state_generation++;
        notify(m, "STOPPING=1\nSTATUS=stopping");
        log_struct(LOG_INFO, MSGID_AGENT_STOPPING, NULL, "Received %s, stopping", strsignal((int) si->ssi_signo));

        m->stop_pending = 0;
        for (size_t i = 0; module_table[i]; i++)
                if (m->modules[i] && module_table[i]->stop && module_table[i]->stop(m->modules[i]) > 0)
                        m->stop_pending++;
        if (m->stop_pending == 0) {
                finish_stop(m);
                return 0;
        }
        /* The child first drains its requests (drain_timeout), then its
         * ladder is stop_timeout to SIGTERM and again to SIGKILL; allow
         * for all plus a margin before giving up. */
        budget = m->config->child.drain_timeout + 2 * m->config->child.stop_timeout + 5 * USEC_PER_SEC;
        if (sd_event_add_time_relative(m->event, &m->stop_timer, CLOCK_MONOTONIC, budget, 0,
                                       on_stop_timeout, m) < 0)
                log_warning("Cannot arm the stop deadline timer");
        return 0;
}

/* A CLOCK_REALTIME timerfd with TFD_TIMER_CANCEL_ON_SET wakes us only when
 * someone sets the clock (NTP step, manual date, resume adjustments). */
static int arm_clock_watch(Manager *m, int fd) {
        struct itimerspec its = { .it_value.tv_sec = (time_t) INT32_MAX };
        if (timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0)
                return -errno;
        return 0;
}

static int on_clock_change(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        uint64_t v;

        if (read(fd, &v, sizeof(v)) < 0 && errno == ECANCELED) {
                log_info("System clock changed; re-planning wall-clock timers");
                manager_emit(m, NULL, EVENT_CLOCK_CHANGED, NULL);
        }
        (void) arm_clock_watch(m, fd);
        return 0;
}

static int setup_clock_watch(Manager *m) {
        _cleanup_close_ int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
        int r;

        if (fd < 0)
                return -errno;
        r = arm_clock_watch(m, fd);
        if (r < 0)
                return r;
        r = sd_event_add_io(m->event, &m->clock_watch, fd, EPOLLIN, on_clock_change, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_io_fd_own(m->clock_watch, true);
        TAKE_FD(fd);
        return 0;
}

int manager_new(const char *config_path, Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        sigset_t mask;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        m->config_path = strdup(config_path);
        if (!m->config_path)
                return -ENOMEM;
        m->config = config;
        m->start_realtime = now_usec(CLOCK_REALTIME);
        m->start_monotonic = now_usec(CLOCK_MONOTONIC);
        m->config_generation = 1;
        m->notify = !!getenv("NOTIFY_SOCKET");
        m->nofile = fdlimit_raise();
        check_client_budget(m);

        /* Signals arrive through signalfd in the loop; SIGCHLD is blocked so
         * the child supervisor's sd-event child sources work. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        (void) signal(SIGPIPE, SIG_IGN);

        r = sd_event_new(&m->event);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, on_terminate, m);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, &m->sigint, SIGINT, on_terminate, m);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, &m->sighup, SIGHUP, on_sighup, m);
        if (r < 0)
                return r;
        r = sd_event_add_defer(m->event, &m->status_defer, on_status_defer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(m->status_defer, SD_EVENT_OFF);
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot enable the watchdog");
        r = setup_clock_watch(m);
        if (r < 0)
                log_warning_errno(r, "Cannot watch for clock changes");

        m->modules = calloc(n_modules() + 1, sizeof(void *));
        if (!m->modules)
                return -ENOMEM;

        r = control_new(m, &m->control);
        if (r < 0)
                return r;
        for (size_t i = 0; module_table[i]; i++) {
                r = module_table[i]->new(m, &m->modules[i]);
                if (r < 0)
                        return log_error_errno(r, "Cannot set up the %s module", module_table[i]->name);
        }
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        if (m->modules)
                for (size_t i = n_modules(); i > 0; i--)
                        if (m->modules[i - 1])
                                module_table[i - 1]->free(m->modules[i - 1]);
        free(m->modules);
        control_free(m->control);
        sd_event_source_unref(m->sigterm);
        sd_event_source_unref(m->sigint);
        sd_event_source_unref(m->sighup);
        sd_event_source_unref(m->status_defer);
        sd_event_source_unref(m->stop_timer);
        sd_event_source_unref(m->clock_watch);
        sd_event_unref(m->event);
        config_free(m->config);
        free(m->config_path);
        free(m->last_reload_error);
        free(m->status_line);
        free(m->status_reply);
        free(m);
        return NULL;
}

/* sd_event_loop() spelled out as sd_event_run() does it (prepare, wait,
 * dispatch; the watchdog is kept in sd_event_wait, exit sources in
 * sd_event_dispatch), to time each dispatch: one dispatch is one callback,
 * and nothing else is served while it runs. Wall time is the stall; while
 * an operation is watched, the thread's CPU time says how much of it was
 * the agent's own work (the rest is preemption on a busy machine). Two
 * clock_gettime() per dispatch, four while watching
 * (bench/credentials_sign_bench.c measures both). */
static int run_loop(Manager *m) {
        int r;

        for (;;) {
                r = sd_event_get_state(m->event);
                if (r < 0)
                        return r;
                if (r == SD_EVENT_FINISHED)
                        break;
                r = sd_event_prepare(m->event);
                if (r == 0)
                        r = sd_event_wait(m->event, UINT64_MAX);
                if (r < 0)
                        return r;
                if (r > 0) {
                        /* the thread's CPU clock is a system call (~2 µs here,
                         * the monotonic one is not): read only while a module
                         * watches an operation; inside the wall interval, so
                         * cpu <= wall */
                        bool cpu = loop_stats_watching(&m->loop);
                        uint64_t t0 = now_nsec(CLOCK_MONOTONIC), c0 = cpu ? now_nsec(CLOCK_THREAD_CPUTIME_ID) : 0, t1, c1;
                        r = sd_event_dispatch(m->event);
                        c1 = cpu ? now_nsec(CLOCK_THREAD_CPUTIME_ID) : 0;
                        t1 = now_nsec(CLOCK_MONOTONIC);
                        if (r < 0)
                                return r;
                        loop_stats_record(&m->loop, t1 / 1000, t1 - t0, c1 > c0 ? c1 - c0 : 0);
                }
        }
        r = 0;
        (void) sd_event_get_exit_code(m->event, &r);
        return r;
}

int manager_run(Manager *m) {
        int r;

        r = control_start(m->control);
        if (r < 0)
                return r;
        /* First full assessment: every module's start() completes its
         * initial checks before READY=1, so "active" means "assessed". */
        for (size_t i = 0; module_table[i]; i++)
                if (module_table[i]->start) {
                        r = module_table[i]->start(m->modules[i]);
                        if (r < 0)
                                log_warning_errno(r, "The %s module could not start fully", module_table[i]->name);
                }
        m->ready = true;
        m->state_generation++;
        update_status(m);
        notify(m, "READY=1\nSTATUS=%s\nMAINPID=%d", strempty(m->status_line), (int) getpid());
        log_struct(LOG_INFO, MSGID_AGENT_STARTED, NULL, "agv-agent %s started: %s", AGV_VERSION,
                   strempty(m->status_line));

        r = run_loop(m);
        return r < 0 ? log_error_errno(r, "Event loop failed") : 0;
}
