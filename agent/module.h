/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "config.h"
#include "status.h"

typedef struct Manager Manager;
typedef struct MetricsWriter MetricsWriter;
typedef struct ControlRequest ControlRequest;

/* Events that travel between modules through the manager, so that modules
 * never call each other directly (the certificate watcher does not know the
 * child supervisor exists). Payloads are valid only during the call. */
typedef enum AgentEventType {
        EVENT_CERT_ACTIVATED,        /* const CertInfo * (pki.h): a new pair is active */
        EVENT_CERT_STATE,            /* NULL: certificate state or findings changed */
        EVENT_RENEWAL_INCOMPLETE,    /* const AlertEvent * */
        EVENT_PERMISSION_REPAIRED,   /* const AlertEvent * */
        EVENT_CHILD_FAILED,          /* const AlertEvent * */
        EVENT_CHILD_RECOVERED,       /* NULL */
        EVENT_CLOCK_CHANGED,         /* NULL: wall clock jumped (or test clock offset changed) */
        EVENT_STATUS_CHANGED,        /* json_object *: the new status result (borrowed) */
        EVENT_CREDENTIALS_FAILED,    /* const AlertEvent *: AWS credential exchange failing / recovered */
        EVENT_RENEWED_CERT_REJECTED, /* const AlertEvent *: AWS rejects the renewed certificate */
        _EVENT_MAX,
} AgentEventType;

/* A generic alertable condition raised by a module (see alerts). */
typedef struct AlertEvent {
        const char *name;     /* alertname, e.g. "AgvRenewalIncomplete" */
        Health severity;
        const char *summary;  /* one sentence */
        const char *description; /* what to do */
        char *const *fields;  /* extra "AGV_*=value" journal fields, may be NULL */
        bool resolved;        /* the condition ended */
} AlertEvent;

/* A control command a module serves. The handler fills *result (owned by the
 * caller afterwards) or returns a negative errno with *error_code and
 * *error_message set (static strings or owned by the caller: see control.h). */
typedef struct ControlCommand {
        const char *name;
        bool admin;   /* mutating: needs uid 0 or [agent] admin_group */
        const char *help;
        int (*handler)(Manager *m, void *userdata, json_object *request, json_object **result,
                       char **error_code, char **error_message);
        /* Instead of handler: the whole reply line ("{"ok":true,...}\n",
         * malloc'd), for replies holding a secret. The control server wipes
         * it (explicit_bzero) once queued. */
        int (*raw_handler)(Manager *m, void *userdata, json_object *request, char **reply, size_t *reply_len,
                           char **error_code, char **error_message);
} ControlCommand;

/* What every module of the daemon provides. Modules live in the manager's
 * table (modules.c) and are created in table order, freed in reverse. */
typedef struct ModuleOps {
        const char *name;            /* status section name: "certificate", "child" ... */
        const char *config_section;  /* the [section] it implements, for "inactive" */
        int (*new)(Manager *m, void **ret);
        void *(*free)(void *mod);
        /* Called once the first assessment may start (after all modules exist). */
        int (*start)(void *mod);
        /* A validated new config is active; adopt what changed. Never fails the
         * reload: problems become reasons in status. */
        void (*reconfigure)(void *mod, const Config *old, const Config *new);
        void (*status)(void *mod, StatusBuilder *sb);
        void (*metrics)(void *mod, MetricsWriter *w);
        void (*event)(void *mod, AgentEventType type, const void *payload);
        /* Graceful stop (SIGTERM): return >0 while still busy; the manager
         * calls manager_stop_progress() once the module is done. */
        int (*stop)(void *mod);
        const ControlCommand *commands; /* terminated by { .name = NULL } */
} ModuleOps;
