/* SPDX-License-Identifier: MIT */
#pragma once

#include "module.h"

/* The alerting module ([alerts]): plans expiry alerts for the client and CA
 * certificates on exact wall-clock times, carries the other modules'
 * AlertEvents, delivers to journal, webhook, Alertmanager and the hook
 * command with retries, and writes the node_exporter textfile.
 * docs/alerts.md describes the behaviour. */
extern const ModuleOps alerts_module;
