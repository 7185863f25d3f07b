/* SPDX-License-Identifier: MIT */
#pragma once

/* Command-line verbs implemented outside main.c, by the module they belong
 * to. Each returns the process exit status. Declare them here and add an
 * entry to verbs[] in main.c. */

int verb_check(int argc, char **argv); /* pki_check.c: offline certificate check */
int verb_mcp(int argc, char **argv);   /* mcp_bridge.c: stdio to MCP socket bridge */
