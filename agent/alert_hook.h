/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>
#include <sys/types.h>

#include "macro.h"

/* The [alerts] command: run with a clean AGV_ALERT_* environment, as an
 * unprivileged user, with a timeout; its stdout/stderr lines go to the
 * journal; it is reaped through an sd-event child source (the manager
 * blocks SIGCHLD before creating the loop). */

typedef struct HookRun HookRun;

/* result: 0 when it exited 0, -ETIMEDOUT when killed by the timeout,
 * -EPROTO otherwise; `what` says how it ended ("exited with status 3"). */
typedef void (*hook_done_t)(HookRun *h, int result, const char *what, void *userdata);

typedef struct HookCredentials {
        bool set;  /* false: keep the agent's user */
        uid_t uid;
        gid_t gid;
} HookCredentials;

int hook_run(sd_event *e, char *const *argv, char *const *envp, const HookCredentials *cred, usec_t timeout,
             hook_done_t cb, void *userdata, HookRun **ret);
/* Kill (SIGKILL to its process group) and forget; no callback. */
void hook_run_cancel(HookRun *h);
pid_t hook_run_pid(const HookRun *h);
