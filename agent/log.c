/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "strv.h"

static int max_level = LOG_INFO;
static bool use_journal = false;
static bool force_stderr = false;

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

void log_open(void) {
        use_journal = !force_stderr && stderr_is_journal();
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

static void write_stderr(int level, const char *msg) {
        char upper[16];
        const char *n = log_level_to_string(level);
        size_t i;

        for (i = 0; n[i] && i < sizeof(upper) - 1; i++)
                upper[i] = (char) (n[i] >= 'a' && n[i] <= 'z' ? n[i] - 32 : n[i]);
        upper[i] = '\0';
        fprintf(stderr, "%s: %s\n", upper, msg);
}

static void write_journal(int level, int error, const char *message_id, char *const *fields,
                          const char *file, int line, const char *func, const char *msg) {
        _cleanup_strv_free_ char **v = NULL;
        struct iovec *iov;
        size_t n;

        (void) strv_extendf(&v, "MESSAGE=%s", msg);
        (void) strv_extendf(&v, "PRIORITY=%d", level);
        (void) strv_extendf(&v, "SYSLOG_IDENTIFIER=%s", "agv-agent");
        (void) strv_extendf(&v, "CODE_FILE=%s", file);
        (void) strv_extendf(&v, "CODE_LINE=%d", line);
        (void) strv_extendf(&v, "CODE_FUNC=%s", func);
        if (message_id)
                (void) strv_extendf(&v, "MESSAGE_ID=%s", message_id);
        if (error > 0)
                (void) strv_extendf(&v, "ERRNO=%d", error);
        STRV_FOREACH(f, fields)
                (void) strv_extend(&v, *f);

        n = strv_length(v);
        iov = calloc(n ? n : 1, sizeof(struct iovec));
        if (!iov || n == 0) {
                free(iov);
                write_stderr(level, msg);
                return;
        }
        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec) { .iov_base = v[i], .iov_len = strlen(v[i]) };
        if (sd_journal_sendv(iov, (int) n) < 0)
                write_stderr(level, msg);
        free(iov);
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
        if (use_journal)
                write_journal(level, error, message_id, fields, file, line, func, buf);
        else
                write_stderr(level, buf);
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
