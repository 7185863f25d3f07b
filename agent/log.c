/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "strv.h"

static int max_level = LOG_INFO;
static bool use_journal = false;
static bool force_stderr = false;
/* set by the daemon (log-journal.c): the CLI, and the lean credential-process
 * executable in particular, never links libsystemd for it */
static LogJournalSink journal_sink = NULL;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",   [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit",
        [LOG_ERR] = "error",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",     [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (streq(s, level_names[i]))
                        return (int) i;
        if (streq(s, "err"))
                return LOG_ERR;
        if (streq(s, "warn"))
                return LOG_WARNING;
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        if (level < 0 || (size_t) level >= ELEMENTSOF(level_names))
                return "unknown";
        return level_names[level];
}

/* stderr is connected to journald when JOURNAL_STREAM names its device and
 * inode (systemd.exec(5)); only then is native journal logging right. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == (dev_t) dev && st.st_ino == (ino_t) ino;
}

void log_set_journal_sink(LogJournalSink sink) {
        journal_sink = sink;
}

void log_open(void) {
        use_journal = journal_sink && !force_stderr && stderr_is_journal();
}

void log_force_stderr(bool b) {
        force_stderr = b;
        if (b)
                use_journal = false;
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_write_stderr(int level, const char *msg) {
        char upper[16];
        const char *n = log_level_to_string(level);
        size_t i;

        for (i = 0; n[i] && i < sizeof(upper) - 1; i++)
                upper[i] = (char) (n[i] >= 'a' && n[i] <= 'z' ? n[i] - 32 : n[i]);
        upper[i] = '\0';
        fprintf(stderr, "%s: %s\n", upper, msg);
}

static int log_dispatch(int level, int error, const char *message_id, char *const *fields,
                        const char *file, int line, const char *func, const char *fmt,
                        va_list ap) _printf_(8, 0);
static int log_dispatch(int level, int error, const char *message_id, char *const *fields,
                        const char *file, int line, const char *func, const char *fmt,
                        va_list ap) {
        char buf[2048];
        int saved = errno;

        error = error < 0 ? -error : error;
        if (level > max_level)
                goto out;

        vsnprintf(buf, sizeof(buf), fmt, ap);
        if (error > 0) {
                size_t l = strlen(buf);
                snprintf(buf + l, sizeof(buf) - l, ": %s", strerror(error));
        }
        if (!use_journal || journal_sink(level, error, message_id, fields, file, line, func, buf) < 0)
                log_write_stderr(level, buf);
out:
        errno = saved;
        return -(error > 0 ? error : EIO) ;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = log_dispatch(level, error, NULL, NULL, file, line, func, fmt, ap);
        va_end(ap);
        return r;
}

int log_struct_internal(int level, int error, const char *message_id, char *const *fields,
                        const char *file, int line, const char *func, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = log_dispatch(level, error, message_id, fields, file, line, func, fmt, ap);
        va_end(ap);
        return r;
}
