/* SPDX-License-Identifier: MIT */
#include "procgroup.h"

#include <signal.h>

#include "log.h"

bool procgroup_kill_leftovers(pid_t pgid, const char *what) {
        if (pgid <= 1)
                return false;
        /* signal 0: does anything of the group live (a zombie leader counts,
         * killing it is harmless) */
        if (kill(-pgid, 0) < 0)
                return false;
        if (kill(-pgid, SIGKILL) < 0)
                return false;
        log_notice("Killed what %s[%d] left running in its process group", what, (int) pgid);
        return true;
}
