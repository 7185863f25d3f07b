/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>

typedef struct Family {
        char *name, *type, *help;
        Buf samples;
} Family;

struct MetricsWriter {
        Family *families;
        size_t n;
};

MetricsWriter *metrics_writer_new(void) {
        return calloc(1, sizeof(MetricsWriter));
}

void metrics_writer_free(MetricsWriter *w) {
        if (!w)
                return;
        for (size_t i = 0; i < w->n; i++) {
                free(w->families[i].name);
                free(w->families[i].type);
                free(w->families[i].help);
                buf_done(&w->families[i].samples);
        }
        free(w->families);
        free(w);
}

static Family *find_family(MetricsWriter *w, const char *name) {
        for (size_t i = 0; i < w->n; i++)
                if (streq(w->families[i].name, name))
                        return &w->families[i];
        return NULL;
}

void metrics_family(MetricsWriter *w, const char *name, const char *type, const char *help) {
        Family *f;
        if (!w || find_family(w, name))
                return;
        f = realloc(w->families, (w->n + 1) * sizeof(Family));
        if (!f)
                return;
        w->families = f;
        w->families[w->n++] = (Family) { .name = strdup(name), .type = strdup(type), .help = strdup(help) };
}

void metrics_escape_label(Buf *b, const char *v) {
        for (const char *p = v; *p; p++) {
                if (*p == '\\')
                        buf_puts(b, "\\\\");
                else if (*p == '"')
                        buf_puts(b, "\\\"");
                else if (*p == '\n')
                        buf_puts(b, "\\n");
                else
                        buf_append(b, p, 1);
        }
}

void metrics_sample(MetricsWriter *w, const char *name, double value, ...) {
        Family *f;
        va_list ap;
        const char *k;
        bool first = true;

        if (!w)
                return;
        f = find_family(w, name);
        if (!f) { /* undeclared: declare untyped so the output stays valid */
                metrics_family(w, name, "untyped", name);
                f = find_family(w, name);
                if (!f)
                        return;
        }
        buf_puts(&f->samples, name);
        va_start(ap, value);
        while ((k = va_arg(ap, const char *))) {
                const char *v = va_arg(ap, const char *);
                buf_puts(&f->samples, first ? "{" : ",");
                buf_printf(&f->samples, "%s=\"", k);
                metrics_escape_label(&f->samples, v ? v : "");
                buf_puts(&f->samples, "\"");
                first = false;
        }
        va_end(ap);
        if (!first)
                buf_puts(&f->samples, "}");
        if (isnan(value))
                buf_puts(&f->samples, " NaN\n");
        else if (isinf(value))
                buf_puts(&f->samples, value > 0 ? " +Inf\n" : " -Inf\n");
        else if (value == (double) (int64_t) value)
                buf_printf(&f->samples, " %lld\n", (long long) value);
        else
                buf_printf(&f->samples, " %.17g\n", value);
}

void metrics_histogram(MetricsWriter *w, const char *name, const char *help, const double *le,
                       const uint64_t *counts, size_t n, double sum) {
        Family *f;
        uint64_t cum = 0;

        metrics_family(w, name, "histogram", help);
        f = w ? find_family(w, name) : NULL;
        if (!f)
                return;
        for (size_t i = 0; i <= n; i++) {
                cum += counts[i];
                if (i < n)
                        buf_printf(&f->samples, "%s_bucket{le=\"%g\"} %llu\n", name, le[i], (unsigned long long) cum);
                else
                        buf_printf(&f->samples, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long) cum);
        }
        buf_printf(&f->samples, "%s_sum %.9g\n%s_count %llu\n", name, sum, name, (unsigned long long) cum);
}

char *metrics_writer_finish(MetricsWriter *w) {
        Buf b = {};
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n; i++) {
                Family *f = &w->families[i];
                if (f->samples.len == 0)
                        continue;
                buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
                buf_append(&b, f->samples.data, f->samples.len);
        }
        metrics_writer_free(w);
        return buf_steal(&b);
}
