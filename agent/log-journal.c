/* SPDX-License-Identifier: MIT */
/* The journal sink of log.c: native entries with PRIORITY, CODE_*, MESSAGE_ID
 * and structured fields. Only the daemon installs it (log_open_journal()), so
 * log.c itself needs no libsystemd. */
#include <sys/uio.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"
#include "strv.h"

static int journal_write(int level, int error, const char *message_id, char *const *fields,
                         const char *file, int line, const char *func, const char *msg) {
        _cleanup_strv_free_ char **v = NULL;
        struct iovec *iov;
        size_t n;
        int r;

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
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec) { .iov_base = v[i], .iov_len = strlen(v[i]) };
        r = sd_journal_sendv(iov, (int) n);
        free(iov);
        return r;
}

void log_open_journal(void) {
        log_set_journal_sink(journal_write);
        log_open();
}
