/* SPDX-License-Identifier: MIT */
#include "modules.h"
#include "alerts.h"
#include "child.h"
#include "credentials.h"
#include "pki.h"

/* The daemon's modules, created in this order and freed in reverse. Each
 * owns one [section] of the configuration and one section of status. */
const ModuleOps *const module_table[] = {
        &pki_module,
        &alerts_module,
        &credentials_module, /* before child: it writes the signer's AWS config */
        &child_module,
        NULL,
};
