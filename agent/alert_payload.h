/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "status.h"
#include "strv.h"

/* One alert as it travels to every channel, and the pure builders of what
 * each channel receives. The schemas are documented in docs/alerts.md;
 * change them only additively. */

#define ALERT_SCHEMA_VERSION 1

typedef struct Alert {
        char *key;          /* identity: "name[:role][:serial][:stage]" or "name:<start>" */
        char *name;         /* alertname, e.g. "AgvCertificateExpiring" */
        char *kind;         /* cert_expiring, cert_expired, renewal_incomplete ... */
        bool resolved;
        Health severity;
        char *stage;        /* "14d", "expired"; NULL for non-expiry alerts */
        char *role;         /* "client", "ca"; NULL when no certificate is involved */
        char *serial;
        char *subject;
        char *issuer;
        uint64_t not_after; /* 0: unknown */
        int64_t days_left;  /* valid when not_after != 0 */
        char *summary;
        char *description;  /* what to do about it */
        char *instance;
        uint64_t starts_at; /* when it fired */
        uint64_t ends_at;   /* when it resolved; 0 while firing */
} Alert;

void alert_done(Alert *a);
Alert *alert_free(Alert *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(Alert *, alert_free);
int alert_copy(const Alert *src, Alert *dst);

/* Lossless JSON form, used for the webhook body and for persistence. */
json_object *alert_to_json(const Alert *a);
int alert_from_json(json_object *o, Alert *ret); /* -EBADMSG if malformed */

/* The webhook body (docs/alerts.md "Webhook body"). slack_text adds a
 * Slack-compatible "text" field. Caller frees. */
char *alert_webhook_body(const Alert *a, bool slack_text);
/* The Slack/human one-liner: "[WARNING] host: summary". Caller frees. */
char *alert_text(const Alert *a);

/* Alertmanager /api/v2/alerts body: a JSON array, one element per alert.
 * Firing alerts get endsAt = firing_ends_at (a lease renewed by re-posting,
 * as Prometheus does); resolved ones their ends_at. Caller frees. */
char *alertmanager_body(Alert *const *alerts, size_t n, uint64_t firing_ends_at);

/* Environment of the hook command ("AGV_ALERT_*=..." plus PATH and LANG).
 * NULL on OOM. */
char **alert_hook_env(const Alert *a);
