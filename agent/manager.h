/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/resource.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "loopstat.h"
#include "module.h"
#include "status.h"

typedef struct Control Control;

/* The one object that owns the event loop, the active configuration and
 * every module (after systemd-timesyncd's Manager). */
typedef struct Manager {
        sd_event *event;
        Config *config;            /* active configuration */
        char *config_path;         /* as given on the command line */
        Control *control;
        void **modules;            /* parallel to module_table[] */

        uint64_t start_realtime;   /* usec */
        uint64_t start_monotonic;
        unsigned config_generation;
        uint64_t last_reload_realtime;
        char *last_reload_error;   /* NULL when the last reload applied */

        sd_event_source *sigterm, *sigint, *sighup;
        sd_event_source *clock_watch;   /* timerfd that fires when the clock is set */
        sd_event_source *status_defer;  /* coalesces state changes */
        char *status_line;         /* last STATUS= sent */
        bool ready;                /* READY=1 sent */
        bool stopping;
        unsigned stop_pending;     /* modules still stopping */
        sd_event_source *stop_timer;
        bool notify;               /* NOTIFY_SOCKET present */
        rlim_t nofile;             /* soft RLIMIT_NOFILE after raising it */

        /* The serialized status reply, reused until a module reports a
         * change (manager_state_changed) or the second ticks over (uptime,
         * seconds left): status polling in a tight loop costs a memcpy. */
        uint64_t state_generation;
        char *status_reply;
        size_t status_reply_len;
        uint64_t status_reply_generation;
        uint64_t status_reply_second;

        /* The peer of the control request being handled (NULL outside a
         * command handler): for commands that decide by who asks. */
        const struct ControlPeer *peer;

        /* How long each dispatch (one callback) held the loop (manager_run). */
        LoopStats loop;
} Manager;

int manager_new(const char *config_path, Config *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);
int manager_run(Manager *m);

/* Connections the control and the MCP socket may each hold: [agent]
 * max_clients, or less when the descriptor limit cannot take it. */
unsigned manager_max_clients(Manager *m);

/* A module's state changed: recompute status and STATUS= soon (coalesced). */
void manager_state_changed(Manager *m);
/* Deliver an event to every module (except `from`). */
void manager_emit(Manager *m, void *from, AgentEventType type, const void *payload);
/* Build the full status result (caller owns). */
json_object *manager_status(Manager *m);
/* The status reply line for the control protocol ("{"ok":true,...}\n"),
 * cached as described above; borrowed, valid until the next call. */
const char *manager_status_reply(Manager *m, size_t *len);
/* Prometheus text exposition of every module (caller frees). */
char *manager_metrics(Manager *m);
/* Reload the configuration from disk; 0 or -EINVAL with *error set. */
int manager_reload(Manager *m, char **error);
/* A module finished its graceful stop. */
void manager_stop_progress(Manager *m);
/* Module instance by name ("certificate", "child" ...), NULL if absent. */
void *manager_module(Manager *m, const char *name);

/* Feed a module's watch with every dispatch while it is open (see
 * loopstat.h); removed before the module frees it. */
int manager_loop_watch_add(Manager *m, LoopWatch *w);
void manager_loop_watch_remove(Manager *m, LoopWatch *w);

/* The wall clock as the daemon sees it: realtime plus the test-only offset
 * ([test] clock_offset), so alert tests can travel in time without sleeping. */
uint64_t manager_now_realtime(Manager *m);
