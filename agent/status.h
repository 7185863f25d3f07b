/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "macro.h"

/* The status model: what `agv-agent status` reports and what STATUS= says.
 * Pure: modules describe themselves into a StatusBuilder; the builder works
 * out the overall state and the one-line summary. Schema: docs/status.md. */

#define STATUS_SCHEMA_VERSION 1

typedef enum Health {
        HEALTH_OK,
        HEALTH_WARNING,
        HEALTH_CRITICAL,
        HEALTH_UNKNOWN, /* only for the CLI: agent unreachable or bad reply */
} Health;

const char *health_to_string(Health h);
int health_from_string(const char *s); /* -EINVAL if unknown */

typedef struct StatusBuilder {
        json_object *root;     /* the result object being filled */
        json_object *reasons;  /* array */
        char **summary;        /* short phrases for STATUS=, in order */
        Health state;
} StatusBuilder;

int status_builder_init(StatusBuilder *sb);
void status_builder_done(StatusBuilder *sb);

/* A reason makes the overall state at least `level`; `code` is a stable
 * snake_case identifier (documented in docs/status.md), the message a
 * sentence for humans that says what to do. HEALTH_OK reasons are notes. */
void status_add_reason(StatusBuilder *sb, Health level, const char *code, const char *fmt, ...)
        _printf_(4, 5);
/* Section object (ownership taken); NULL stores JSON null. */
void status_set_section(StatusBuilder *sb, const char *name, json_object *section);
/* A phrase for the STATUS= line, e.g. "cert expires in 211d". */
void status_add_summary(StatusBuilder *sb, const char *fmt, ...) _printf_(2, 3);

/* Finish: sets "state", "reasons", "summary"; returns the root (caller owns). */
json_object *status_builder_finish(StatusBuilder *sb);

/* "ok: cert expires in 211d; signer ready" - the STATUS= line. */
char *status_line_from_result(json_object *result);

/* Human rendering for `agv-agent status` (colour when `colour`). */
char *status_render_text(json_object *result, bool colour);

/* Health from a result object; HEALTH_UNKNOWN if malformed. */
Health status_result_health(json_object *result);

/* json-c helpers used across modules */
json_object *json_string_or_null(const char *s);
json_object *json_time_or_null(uint64_t unix_usec); /* RFC 3339 UTC string */
char *format_rfc3339(int64_t unix_usec, char *buf, size_t n); /* also before 1970 */
json_object *json_time(int64_t unix_usec); /* always a string: certificate dates */
json_object *json_ms_from_ns(uint64_t ns); /* milliseconds, written with µs precision */
static inline void json_object_putp(json_object **j) {
        if (*j)
                json_object_put(*j);
}
#define _cleanup_json_ _cleanup_(json_object_putp)
