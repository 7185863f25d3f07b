/* SPDX-License-Identifier: MIT */
#include "verbs.h"

#include <stdarg.h>

#include "config.h"
#include "strv.h"

int verb_load_config(const char *verb, const char *path, bool quiet, Config **ret) {
        ConfigErrors errors = {};
        int r = config_load(path ?: DEFAULT_CONFIG_PATH, NULL, !path, ret, &errors);
        if (r < 0 && !quiet) {
                STRV_FOREACH(e, errors.lines)
                        fprintf(stderr, "%s\n", *e);
                if (!errors.lines)
                        fprintf(stderr, "agv-agent %s: cannot load the configuration: %s\n", verb, strerror(-r));
        }
        config_errors_done(&errors);
        return r;
}

int usage_errorv(const char *verb, const char *fmt, va_list ap) {
        fprintf(stderr, "agv-agent: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "; try 'agv-agent %s%s--help'\n", strempty(verb), verb ? " " : "");
        return EXIT_USAGE;
}

int usage_error(const char *verb, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = usage_errorv(verb, fmt, ap);
        va_end(ap);
        return r;
}
