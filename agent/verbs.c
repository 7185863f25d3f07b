/* SPDX-License-Identifier: MIT */
#include "verbs.h"

#include <stdarg.h>

int usage_error(const char *verb, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "agv-agent: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "; try 'agv-agent %s%s--help'\n", strempty(verb), verb ? " " : "");
        return EXIT_USAGE;
}
