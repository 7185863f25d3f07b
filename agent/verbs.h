/* SPDX-License-Identifier: MIT */
#pragma once

/* Command-line verbs implemented outside main.c, by the module they belong
 * to. Each returns the process exit status. Declare them here and add an
 * entry to verbs[] in main.c. */

#include <stdarg.h>

#include "macro.h"

/* Exit status of a usage error, with one line on stderr:
 * "agv-agent: <message>; try 'agv-agent VERB --help'" (verb NULL: no verb). */
#define EXIT_USAGE 64
int usage_error(const char *verb, const char *fmt, ...) _printf_(2, 3);
int usage_errorv(const char *verb, const char *fmt, va_list ap) _printf_(2, 0);

/* Load the configuration for an offline verb: path NULL means the default
 * file, which may be missing (defaults). Unless quiet, every problem is
 * printed as file:line: message. Negative errno on failure. */
struct Config;
int verb_load_config(const char *verb, const char *path, bool quiet, struct Config **ret);

int verb_check(int argc, char **argv); /* pki_check.c: offline certificate check */
int verb_mcp(int argc, char **argv);   /* mcp_bridge.c: stdio to MCP socket bridge */
int verb_request(int argc, char **argv);      /* pki_renew.c: key + CSR made on this machine */
int verb_install_cert(int argc, char **argv); /* pki_renew.c: validated, crash-safe install */
