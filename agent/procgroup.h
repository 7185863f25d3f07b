/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* The signer and the alert command each run in a session of their own
 * (setsid() before exec), so their process group holds exactly what they
 * started. Once the leader has exited (or is being stopped), whatever is
 * left in the group is its leftovers: kill them all with SIGKILL. The group
 * id cannot be reused while a member lives, so this never hits a stranger.
 * Returns true when something was left (and logged as `what`). */
bool procgroup_kill_leftovers(pid_t pgid, const char *what);
