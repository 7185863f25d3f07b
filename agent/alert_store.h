/* SPDX-License-Identifier: MIT */
#pragma once

#include "alert_payload.h"

/* The alerting state that must survive a restart, kept in
 * [agent] state_dir/alerts.json:
 *  - fired stages per certificate (role + serial), so a restart never
 *    re-fires and a new serial starts clean;
 *  - the queue of undelivered webhook/command deliveries (bounded);
 *  - the alerts Alertmanager should know about: firing ones (re-posted) and
 *    resolved ones not yet posted with their endsAt;
 *  - recently delivered dedupe keys, so nothing is delivered twice.
 * The JSON conversion is pure (unit-tested); load/save do the file I/O:
 * save writes a temporary file, fsyncs and renames it over the old one. A
 * corrupt or truncated file is logged and replaced by a clean state. */

#define ALERT_STORE_FIRED_MAX 16      /* certificates remembered */
#define ALERT_STORE_DELIVERED_MAX 512 /* dedupe keys remembered */

typedef struct AlertFired {
        char *role;
        char *serial;
        char **stages;
} AlertFired;

typedef struct AlertDelivery {
        char *channel;     /* "webhook", "command" */
        char *dedupe;      /* alert key + status + channel */
        unsigned attempts; /* failed attempts so far */
        uint64_t enqueued; /* wall clock */
        char *last_error;  /* not persisted */
        usec_t next_attempt; /* CLOCK_MONOTONIC; not persisted: retried at once after a restart */
        bool in_flight;
        Alert alert;
} AlertDelivery;

typedef struct AlertStore {
        AlertFired *fired;   /* most recently touched last */
        size_t n_fired;
        AlertDelivery **queue; /* oldest first */
        size_t n_queue;
        Alert **am;          /* Alertmanager: firing, or resolved and not yet posted */
        size_t n_am;
        char **delivered;    /* oldest first */
        uint64_t dropped;    /* deliveries evicted by queue_max (not persisted) */
} AlertStore;

void alert_store_done(AlertStore *s);

/* Fired stages of one certificate (borrowed, may be NULL). */
char **alert_store_fired(const AlertStore *s, const char *role, const char *serial);
int alert_store_mark_fired(AlertStore *s, const char *role, const char *serial, const char *stage);

/* Queue a delivery of `a` on `channel`. Returns 1 when queued, 0 when the
 * same delivery is already queued or was delivered (dedupe), -errno on
 * failure. When the queue holds queue_max items the oldest not in flight is
 * dropped (s->dropped counts them). */
int alert_store_enqueue(AlertStore *s, const char *channel, const Alert *a, unsigned queue_max);
/* Remove a queue item; when delivered, remember its dedupe key. */
void alert_store_dequeue(AlertStore *s, AlertDelivery *d, bool delivered);
bool alert_store_was_delivered(const AlertStore *s, const char *dedupe);

/* Alertmanager set: replace the alert with the same key or add it. */
int alert_store_am_put(AlertStore *s, const Alert *a);
Alert *alert_store_am_get(const AlertStore *s, const char *key);
/* Drop resolved alerts that were posted. */
void alert_store_am_prune_resolved(AlertStore *s);

json_object *alert_store_to_json(const AlertStore *s);
/* -EBADMSG if the object is not a valid store (ret untouched). */
int alert_store_from_json(json_object *o, AlertStore *ret);

/* Load `path`; a missing file is a clean state. A corrupt file is logged
 * (naming the file) and renamed to path.corrupt, and a clean state returned:
 * returns 0 for a good or missing file, 1 when it started clean after
 * corruption, -errno only for failures to allocate. */
int alert_store_load(const char *path, AlertStore *ret);
/* Atomically replace `path` (mkdir -p of its directory with 0700). */
int alert_store_save(const AlertStore *s, const char *path);

/* Atomic replacement of a file with `data` (temp + fsync + rename). Used for
 * the state file and the node_exporter textfile. */
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode);
