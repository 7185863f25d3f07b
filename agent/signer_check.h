/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/stat.h>

#include "config.h"
#include "pki_assess.h"

/* Preflight of the signer's side of the deployment guide: the rows of its
 * troubleshooting tables that live on the VM, each found with the guide's
 * fix. `agv-agent check` prints them; the daemon adds them to the child's
 * status at start and at every reload. Codes in docs/child.md. */

/* Pure: the signer's AWS config file `text` (from `path`, for messages).
 * Looks at section `profile` ("default" or a profile name): a
 * credential_process continued with a backslash, duplicate sections, a
 * missing profile, region or credential_process. On success *ret_argv is
 * the credential_process split into words like a shell would (NULL when
 * there is none). */
int signer_check_aws_config(const char *path, const char *text, size_t len, const char *profile, Findings *f,
                            char ***ret_argv);

/* Pure: the first bytes of the credential helper `path`. `host_machine`
 * is this machine's ELF e_machine (signer_host_machine()). */
void signer_check_helper_head(const char *path, const unsigned char *head, size_t n, unsigned host_machine,
                              Findings *f);
unsigned signer_host_machine(void);
const char *signer_machine_name(unsigned machine);

/* Pure: may uid (with gid and supplementary groups) open a file of this
 * owner/mode for `want` (R_OK, W_OK, X_OK bits)? root may always. */
bool signer_mode_allows(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, const struct stat *st,
                        int want);

/* Pure: the minimum Node major version in a package.json's engines.node
 * (">=22", "^22.1", ">= 20.10"), or -ENOENT. */
int signer_node_min_major(const char *package_json, size_t len);
/* Pure: the major of `node --version` output ("v20.20.2\n"), or -EINVAL. */
int signer_node_major(const char *version);

/* Everything, with I/O: reads the files as the agent may, never changes
 * them. `run_node` runs `node --version` (the CLI only; the daemon never
 * forks from its loop for this). No [child] command: nothing to check. */
void signer_preflight(const Config *cfg, bool run_node, Findings *f);
