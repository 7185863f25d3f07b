/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "macro.h"

/* The PKI directory watch: libinotifytools driven from sd-event. Every
 * batch of events (and every rescan tick) ends in one call of the handler,
 * which re-assesses everything; events are triggers, never state. */

typedef struct PkiWatch PkiWatch;

typedef enum PkiWatchReason {
        WATCH_EVENT,     /* files changed */
        WATCH_OVERFLOW,  /* the kernel queue overflowed: events were lost */
        WATCH_REBUILT,   /* a directory was replaced or appeared */
        WATCH_RESCAN,    /* the periodic safety net */
} PkiWatchReason;

typedef void (*PkiWatchHandler)(void *userdata, PkiWatchReason reason);

/* dirs: the directories to watch (copied). libinotifytools is a process-wide
 * singleton, so there is at most one PkiWatch at a time. */
int pki_watch_new(sd_event *e, char *const *dirs, usec_t rescan_interval, PkiWatchHandler h, void *userdata,
                  PkiWatch **ret);
PkiWatch *pki_watch_free(PkiWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(PkiWatch *, pki_watch_free);
int pki_watch_set_rescan(PkiWatch *w, usec_t interval);
/* Directories currently missing (watched through their parent or retried). */
unsigned pki_watch_missing(const PkiWatch *w);
uint64_t pki_watch_events(const PkiWatch *w);
/* Also watch these files' inodes for IN_ATTRIB (link count changes): a hard
 * link removed in another directory says nothing to the directory watch.
 * Replaces the previous list; an empty list removes them all. */
int pki_watch_set_files(PkiWatch *w, char *const *files);
