/* SPDX-License-Identifier: MIT */
/* The agv-agent executable. It links only libc, json-c and libinih, so a
 * `credential-process` served from the agent's cache costs a few
 * milliseconds (issue 9: the AWS SDKs run it once per refresh, and a burst
 * of processes at once). Everything else, and every outcome of the cache
 * path but success, goes to the full implementation: agv-agent-core.so,
 * dlopen()ed from the private directory in this file's DT_RUNPATH and called
 * with the original arguments, so it redoes the verb with today's messages
 * and exit codes. Same process: PID, comm and /proc/self/exe stay
 * agv-agent's (sd_notify, the journal's _COMM/_EXE). */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>

#include "credential_process.h"
#include "macro.h"

#define AGV_CORE_MODULE "agv-agent-core.so"

/* The directory of the RUNPATH, spelt relative to this executable
 * (AGV_MODULE_RELDIR: "../lib/<triplet>/agv-agent" installed, "." in the
 * build tree). */
static void module_dir(char *buf, size_t n) {
        char exe[PATH_MAX];
        ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (l <= 0) {
                snprintf(buf, n, "<agv-agent's directory>/%s", AGV_MODULE_RELDIR);
                return;
        }
        exe[l] = '\0';
        snprintf(buf, n, "%s/%s", dirname(exe), AGV_MODULE_RELDIR);
}

int main(int argc, char **argv) {
        int (*core_main)(int, char **);
        bool cp = argc >= 2 && streq(argv[1], "credential-process");
        void *h;

        if (cp && credential_process_cached(argc - 1, argv + 1) == 0)
                return 0;

        h = dlopen(AGV_CORE_MODULE, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                /* under ASan its dlopen() interceptor is the caller, whose
                 * RUNPATH is not ours: the same directory, spelt out */
                char path[PATH_MAX + 96];
                module_dir(path, sizeof(path));
                strncat(path, "/" AGV_CORE_MODULE, sizeof(path) - strlen(path) - 1);
                h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        }
        core_main = h ? (int (*)(int, char **)) dlsym(h, "agv_core_main") : NULL;
        if (!core_main) {
                char dir[PATH_MAX + 64];
                const char *why = dlerror();
                module_dir(dir, sizeof(dir));
                fprintf(stderr,
                        "agv-agent: cannot load its implementation %s/%s: %s\n"
                        "  fix: reinstall the agv-agent package (apt-get install --reinstall agv-agent); "
                        "the executable and the module are installed together\n",
                        dir, AGV_CORE_MODULE, why ? why : "agv_core_main() missing");
                /* credential-process: "unavailable" like an unreachable agent */
                return cp ? 69 : 1;
        }
        return core_main(argc, argv);
}
