/* SPDX-License-Identifier: MIT */
#include "pki_watch.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/inotify.h>

#include <inotifytools/inotifytools.h>

#include "event-util.h"
#include "log.h"
#include "pki_renew.h"
#include "strv.h"

/* What changes a pair: writes finishing, renames, links, mode/owner; and the
 * directory itself going away. IN_MODIFY is left out on purpose: a file half
 * written is only looked at when it is closed. */
#define DIR_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | \
                  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)
/* A missing directory is awaited through its parent. */
#define PARENT_MASK (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)
#define MAX_INOTIFY_FDS 64
#define SETTLE_USEC (250 * USEC_PER_MSEC)

struct PkiWatch {
        sd_event *event;
        char **dirs;
        int fd;              /* libinotifytools' inotify fd, owned by the library */
        bool initialized;
        sd_event_source *io, *timer, *settle;
        usec_t interval;
        PkiWatchHandler handler;
        void *userdata;
        unsigned missing;
        uint64_t events;
        char **files;        /* watched by inode too (hard-linked files) */
};

#define FILE_MASK (IN_ATTRIB | IN_DONT_FOLLOW)

static void watch_files_add(PkiWatch *w) {
        STRV_FOREACH(f, w->files)
                if (!inotifytools_watch_file(*f, FILE_MASK))
                        log_debug("Cannot watch %s (%s); the rescan will notice its links", *f,
                                  strerror(inotifytools_error()));
}

/* libinotifytools keeps its fd to itself: list the inotify fds we have, so
 * the one that appears across inotifytools_initialize() is the library's. */
static size_t inotify_fds(int *fds, size_t max) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        size_t n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)) && n < max) {
                char target[64];
                ssize_t l;
                if (de->d_name[0] == '.')
                        continue;
                l = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (l <= 0)
                        continue;
                target[l] = 0;
                if (streq(target, "anon_inode:inotify"))
                        fds[n++] = atoi(de->d_name);
        }
        closedir(d);
        return n;
}

static void watch_teardown(PkiWatch *w) {
        w->io = sd_event_source_disable_unref(w->io);
        if (w->initialized)
                inotifytools_cleanup(); /* closes the fd */
        w->initialized = false;
        w->fd = -1;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static int watch_setup(PkiWatch *w) {
        int before[MAX_INOTIFY_FDS], after[MAX_INOTIFY_FDS], flags, r;
        size_t nb, na;

        watch_teardown(w);
        nb = inotify_fds(before, ELEMENTSOF(before));
        if (!inotifytools_initialize())
                return log_error_errno(inotifytools_error() ?: EIO, "Cannot initialise inotify");
        w->initialized = true;
        na = inotify_fds(after, ELEMENTSOF(after));
        for (size_t i = 0; i < na && w->fd < 0; i++) {
                bool old = false;
                for (size_t j = 0; j < nb; j++)
                        old = old || before[j] == after[i];
                if (!old)
                        w->fd = after[i];
        }
        if (w->fd < 0) {
                watch_teardown(w);
                return log_error_errno(ENOENT, "Cannot find libinotifytools' inotify fd in /proc/self/fd");
        }
        /* the library opens it blocking and inheritable */
        if (fcntl(w->fd, F_SETFD, FD_CLOEXEC) < 0 || (flags = fcntl(w->fd, F_GETFL)) < 0 ||
            fcntl(w->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                r = -errno;
                watch_teardown(w);
                return log_error_errno(r, "Cannot make the inotify fd non-blocking");
        }

        w->missing = 0;
        STRV_FOREACH(d, w->dirs) {
                _cleanup_free_ char *copy = NULL;
                const char *parent;
                if (inotifytools_watch_file(*d, DIR_MASK))
                        continue;
                r = inotifytools_error();
                w->missing++;
                log_debug("Cannot watch %s (%s); waiting for it to appear", *d, strerror(r));
                copy = strdup(*d);
                if (!copy)
                        return log_oom();
                parent = dirname(copy);
                if (!inotifytools_watch_file(parent, PARENT_MASK))
                        log_debug("Cannot watch %s either (%s); the rescan timer will retry", parent,
                                  strerror(inotifytools_error()));
        }
        watch_files_add(w);
        r = sd_event_add_io(w->event, &w->io, w->fd, EPOLLIN, on_io, w);
        if (r < 0) {
                watch_teardown(w);
                return log_error_errno(r, "Cannot add the inotify fd to the event loop");
        }
        (void) sd_event_source_set_description(w->io, "pki-inotify");
        return 0;
}

static int on_settle(sd_event_source *s, uint64_t usec, void *userdata);

/* One more look shortly after a burst: a safety net should the library
 * ever keep an event buffered while the fd reads empty (epoll would not
 * wake us for it). Cheap: one assessment per burst. */
static void arm_settle(PkiWatch *w) {
        uint64_t now;
        if (sd_event_now(w->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (w->settle) {
                (void) event_timer_arm(w->settle, now + SETTLE_USEC, SD_EVENT_ONESHOT, "PKI settle");
        } else if (sd_event_add_time(w->event, &w->settle, CLOCK_MONOTONIC, now + SETTLE_USEC, 10 * USEC_PER_MSEC,
                                     on_settle, w) >= 0)
                (void) sd_event_source_set_description(w->settle, "pki-settle");
}

/* Names in the PKI directory that are not the pair's business: the
 * root-only request and previous-pair directories and install's staged
 * copies (a pass would find the same disk until the rename). They are
 * never assessed; only their events are skipped here. */
static bool ignored_name(const struct inotify_event *ev) {
        size_t n, k = strlen(STAGED_SUFFIX);
        if (ev->len == 0)
                return false;
        if (streq(ev->name, PKI_PENDING_DIR) || streq(ev->name, PKI_PREVIOUS_DIR) ||
            streq(ev->name, PKI_PREVIOUS_DIR ".new"))
                return true;
        n = strlen(ev->name);
        return n > k && ev->name[0] == '.' && streq(ev->name + n - k, STAGED_SUFFIX);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        PkiWatch *w = userdata;
        struct inotify_event *ev;
        bool rebuild = false, overflow = false, relevant = false;
        int err;

        while ((ev = inotifytools_next_events(0, 1))) {
                w->events++;
                if (ignored_name(ev) && !(ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))) {
                        continue;
                }
                relevant = true;
                if (ev->mask & IN_Q_OVERFLOW)
                        overflow = true;
                if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))
                        rebuild = true;
                if (w->missing > 0 && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
                        rebuild = true;
        }
        err = inotifytools_error();
        if (err != 0 && err != EAGAIN && err != EINTR) {
                log_warning_errno(err, "Reading inotify events failed; re-establishing the watch");
                rebuild = true;
        }
        /* only the ignored names moved: no pass, no settle pass (the settle
         * pass itself, s == NULL, always runs) */
        if (s && !relevant && !rebuild)
                return 0;
        if (rebuild) {
                /* the directory was replaced (or appeared): watch the new one */
                if (watch_setup(w) < 0)
                        log_warning("The PKI watch is down; the periodic rescan keeps checking");
                w->handler(w->userdata, WATCH_REBUILT);
        } else
                w->handler(w->userdata, overflow ? WATCH_OVERFLOW : WATCH_EVENT);
        if (s)
                arm_settle(w);
        return 0;
}

static int on_settle(sd_event_source *s, uint64_t usec, void *userdata) {
        PkiWatch *w = userdata;
        if (w->initialized)
                return on_io(NULL, w->fd, EPOLLIN, w);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        PkiWatch *w = userdata;
        PkiWatchReason reason = WATCH_RESCAN;

        if (w->missing > 0 || !w->initialized) {
                (void) watch_setup(w);
                reason = WATCH_REBUILT;
        }
        (void) event_timer_arm_relative(s, w->interval, SD_EVENT_ON, "PKI rescan");
        w->handler(w->userdata, reason);
        return 0;
}

int pki_watch_new(sd_event *e, char *const *dirs, usec_t rescan_interval, PkiWatchHandler h, void *userdata,
                  PkiWatch **ret) {
        _cleanup_(pki_watch_freep) PkiWatch *w = NULL;
        int r;

        w = calloc(1, sizeof(PkiWatch));
        if (!w)
                return -ENOMEM;
        w->fd = -1;
        w->event = sd_event_ref(e);
        w->handler = h;
        w->userdata = userdata;
        w->interval = rescan_interval;
        STRV_FOREACH(d, dirs)
                if (!strv_contains(w->dirs, *d) && strv_extend(&w->dirs, *d) < 0)
                        return -ENOMEM;
        r = sd_event_add_time_relative(e, &w->timer, CLOCK_MONOTONIC, rescan_interval, USEC_PER_SEC, on_timer, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->timer, "pki-rescan");
        /* without inotify (fd or watch limits) the rescan timer still runs
         * and retries the setup on every tick */
        r = watch_setup(w);
        if (r < 0)
                log_warning_errno(r, "No inotify watch for now; rescanning every %llus until it can be set up",
                                  (unsigned long long) (rescan_interval / USEC_PER_SEC));
        *ret = TAKE_PTR(w);
        return 0;
}

PkiWatch *pki_watch_free(PkiWatch *w) {
        if (!w)
                return NULL;
        watch_teardown(w);
        sd_event_source_disable_unref(w->timer);
        sd_event_source_disable_unref(w->settle);
        sd_event_unref(w->event);
        strv_free(w->dirs);
        strv_free(w->files);
        free(w);
        return NULL;
}

int pki_watch_set_rescan(PkiWatch *w, usec_t interval) {
        w->interval = interval;
        return sd_event_source_set_time_relative(w->timer, interval);
}

int pki_watch_set_files(PkiWatch *w, char *const *files) {
        char **copy = NULL;

        if (strv_length(w->files) == 0 && strv_length((char **) files) == 0)
                return 0;
        if (strv_length((char **) files) > 0 && !(copy = strv_copy(files)))
                return -ENOMEM;
        if (w->initialized)
                STRV_FOREACH(f, w->files)
                        (void) inotifytools_remove_watch_by_filename(*f);
        strv_free(w->files);
        w->files = copy;
        /* re-added every time: the name may point at a new inode now */
        if (w->initialized)
                watch_files_add(w);
        return 0;
}

unsigned pki_watch_missing(const PkiWatch *w) {
        return w->missing;
}

uint64_t pki_watch_events(const PkiWatch *w) {
        return w->events;
}
