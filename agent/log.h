/* SPDX-License-Identifier: MIT */
#pragma once

#include <syslog.h>

#include "macro.h"

/* Logging in the OpenBSD ntpd idiom: log_warn*() for conditions the daemon
 * survives, log_error*() for ones that stop an operation. The *_errno()
 * variants append strerror and return the negative errno, so callers can
 * write `return log_warning_errno(r, "...")`.
 *
 * Under journald (JOURNAL_STREAM matches stderr) entries go to the journal
 * natively with PRIORITY, CODE_* and any structured fields; otherwise plain
 * "LEVEL: message" lines go to stderr. */

/* Returns < 0 when the entry could not be sent (then it goes to stderr). */
typedef int (*LogJournalSink)(int level, int error, const char *message_id, char *const *fields,
                              const char *file, int line, const char *func, const char *msg);
void log_set_journal_sink(LogJournalSink sink);
void log_open(void);                  /* decide journal (if a sink is set) vs stderr */
void log_open_journal(void);          /* log-journal.c: the daemon's sd_journal sink, then log_open() */
void log_write_stderr(int level, const char *msg); /* "LEVEL: message" */
void log_set_max_level(int level);    /* LOG_ERR .. LOG_DEBUG */
int log_get_max_level(void);
int log_level_from_string(const char *s); /* -EINVAL if unknown */
const char *log_level_to_string(int level);
void log_force_stderr(bool b);        /* the CLI always writes to the terminal */

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *fmt, ...) _printf_(6, 7);

/* A structured entry: MESSAGE_ID (may be NULL) plus "KEY=value" fields
 * (NULL-terminated, may be NULL). On stderr only the message is printed. */
int log_struct_internal(int level, int error, const char *message_id, char *const *fields,
                        const char *file, int line, const char *func,
                        const char *fmt, ...) _printf_(8, 9);

#define log_full_errno(level, error, ...) \
        log_internal(level, error, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_error_errno(ENOMEM, "Out of memory")

#define log_struct(level, message_id, fields, ...) \
        log_struct_internal(level, 0, message_id, fields, __FILE__, __LINE__, __func__, __VA_ARGS__)
