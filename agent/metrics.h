/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"
#include "strv.h"

/* Prometheus text exposition (format 0.0.4). Modules add samples in any
 * order; metrics_writer_finish() groups them per family with one HELP and
 * TYPE line each, as the format requires. Label values are escaped here. */

typedef struct MetricsWriter MetricsWriter;

MetricsWriter *metrics_writer_new(void);
void metrics_writer_free(MetricsWriter *w);
/* Declare a family (idempotent). type: "gauge" or "counter". */
void metrics_family(MetricsWriter *w, const char *name, const char *type, const char *help);
/* One sample; labels are name/value pairs terminated by NULL. */
void metrics_sample(MetricsWriter *w, const char *name, double value, ...) _sentinel_;
/* A histogram family: name_bucket{le} (cumulative, from per-bucket
 * counts[0..n], the last being +Inf), name_sum and name_count. */
void metrics_histogram(MetricsWriter *w, const char *name, const char *help, const double *le,
                       const uint64_t *counts, size_t n, double sum);
char *metrics_writer_finish(MetricsWriter *w); /* caller frees; frees w */

/* Escape a label value per the exposition format (\\, \", \n). */
void metrics_escape_label(Buf *b, const char *value);
