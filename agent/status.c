/* SPDX-License-Identifier: MIT */
#include "status.h"

#include <stdarg.h>
#include <time.h>

#include "strv.h"

static const char *const health_names[] = {
        [HEALTH_OK] = "ok",
        [HEALTH_WARNING] = "warning",
        [HEALTH_CRITICAL] = "critical",
        [HEALTH_UNKNOWN] = "unknown",
};

const char *health_to_string(Health h) {
        return (size_t) h < ELEMENTSOF(health_names) ? health_names[h] : "unknown";
}

int health_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(health_names); i++)
                if (s && streq(s, health_names[i]))
                        return (int) i;
        return -EINVAL;
}

int status_builder_init(StatusBuilder *sb) {
        *sb = (StatusBuilder) {};
        sb->root = json_object_new_object();
        sb->reasons = json_object_new_array();
        if (!sb->root || !sb->reasons) {
                status_builder_done(sb);
                return -ENOMEM;
        }
        return 0;
}

void status_builder_done(StatusBuilder *sb) {
        json_object_put(sb->root);
        json_object_put(sb->reasons);
        strv_free(sb->summary);
        *sb = (StatusBuilder) {};
}

void status_add_reason(StatusBuilder *sb, Health level, const char *code, const char *fmt, ...) {
        json_object *r;
        char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);

        r = json_object_new_object();
        if (!r) {
                free(msg);
                return;
        }
        json_object_object_add(r, "code", json_object_new_string(code));
        json_object_object_add(r, "level", json_object_new_string(health_to_string(level)));
        json_object_object_add(r, "message", json_object_new_string(msg ? msg : code));
        json_object_array_add(sb->reasons, r);
        free(msg);
        if (level > sb->state && level != HEALTH_UNKNOWN)
                sb->state = level;
}

void status_set_section(StatusBuilder *sb, const char *name, json_object *section) {
        json_object_object_add(sb->root, name, section);
}

void status_add_summary(StatusBuilder *sb, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (s)
                (void) strv_push(&sb->summary, s);
}

json_object *status_builder_finish(StatusBuilder *sb) {
        json_object *root = sb->root, *summary;
        _cleanup_free_ char *joined = strv_join(sb->summary, "; ");

        /* Most severe first, so the first reason is the one to act on. */
        size_t n = json_object_array_length(sb->reasons);
        json_object *sorted = json_object_new_array();
        for (int lvl = HEALTH_CRITICAL; lvl >= HEALTH_OK; lvl--)
                for (size_t i = 0; i < n; i++) {
                        json_object *r = json_object_array_get_idx(sb->reasons, i);
                        json_object *l;
                        if (json_object_object_get_ex(r, "level", &l) &&
                            health_from_string(json_object_get_string(l)) == lvl)
                                json_object_array_add(sorted, json_object_get(r));
                }

        summary = json_object_new_string(joined ? joined : "");
        json_object_object_add(root, "state", json_object_new_string(health_to_string(sb->state)));
        json_object_object_add(root, "reasons", sorted);
        json_object_object_add(root, "summary", summary);
        json_object_put(sb->reasons);
        strv_free(sb->summary);
        *sb = (StatusBuilder) {};
        return root;
}

Health status_result_health(json_object *result) {
        json_object *s;
        int h;
        if (!result || !json_object_object_get_ex(result, "state", &s))
                return HEALTH_UNKNOWN;
        h = health_from_string(json_object_get_string(s));
        return h < 0 ? HEALTH_UNKNOWN : (Health) h;
}

char *status_line_from_result(json_object *result) {
        json_object *s = NULL, *reasons = NULL;
        const char *summary = NULL;
        char *line = NULL;
        Health h = status_result_health(result);

        if (json_object_object_get_ex(result, "summary", &s))
                summary = json_object_get_string(s);
        /* When not ok, lead with the most severe reason: that is what an
         * operator glancing at `systemctl status` needs. */
        if (h != HEALTH_OK && json_object_object_get_ex(result, "reasons", &reasons) &&
            json_object_array_length(reasons) > 0) {
                json_object *r = json_object_array_get_idx(reasons, 0), *m;
                if (json_object_object_get_ex(r, "message", &m)) {
                        if (asprintf(&line, "%s: %s%s%s", health_to_string(h), json_object_get_string(m),
                                     isempty(summary) ? "" : "; ", strempty(summary)) < 0)
                                line = NULL;
                        return line;
                }
        }
        if (asprintf(&line, "%s: %s", health_to_string(h), isempty(summary) ? "running" : summary) < 0)
                line = NULL;
        return line;
}

json_object *json_string_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

char *format_rfc3339(uint64_t unix_usec, char *buf, size_t n) {
        time_t t = (time_t) (unix_usec / USEC_PER_SEC);
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, n, "invalid");
        return buf;
}

json_object *json_time_or_null(uint64_t unix_usec) {
        char buf[32];
        if (unix_usec == 0 || unix_usec == USEC_INFINITY)
                return NULL;
        return json_object_new_string(format_rfc3339(unix_usec, buf, sizeof(buf)));
}

/* ---- human rendering ------------------------------------------------- */

static const char *colour_of(Health h, bool colour) {
        if (!colour)
                return "";
        switch (h) {
        case HEALTH_OK:
                return "\033[32m";
        case HEALTH_WARNING:
                return "\033[33m";
        default:
                return "\033[31m";
        }
}

static const char *get_str(json_object *o, const char *k) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, k, &v) || !v)
                return NULL;
        return json_object_get_string(v);
}

/* Each section renders itself as "key: value" lines; sections come from the
 * other modules, so the renderer walks known fields generically and leaves
 * nested detail to --json. */
static void render_section(Buf *b, const char *title, json_object *sec) {
        if (!sec || !json_object_is_type(sec, json_type_object))
                return;
        buf_printf(b, "%s:\n", title);
        json_object_object_foreach(sec, key, val) {
                if (!val)
                        continue;
                switch (json_object_get_type(val)) {
                case json_type_object:
                case json_type_array:
                        continue;
                default:
                        buf_printf(b, "  %-20s %s\n", key, json_object_get_string(val));
                }
        }
}

char *status_render_text(json_object *result, bool colour) {
        Buf b = {};
        Health h = status_result_health(result);
        json_object *reasons, *sections;
        const char *reset = colour ? "\033[0m" : "";
        static const char *const order[] = { "certificate", "permissions", "child", "alerts", "credentials" };

        buf_printf(&b, "agv-agent %s, up %ss: %s%s%s\n", strna(get_str(result, "version")),
                   strna(get_str(result, "uptime_s")), colour_of(h, colour), health_to_string(h), reset);
        const char *summary = get_str(result, "summary");
        if (!isempty(summary))
                buf_printf(&b, "  %s\n", summary);
        if (json_object_object_get_ex(result, "reasons", &reasons))
                for (size_t i = 0; i < json_object_array_length(reasons); i++) {
                        json_object *r = json_object_array_get_idx(reasons, i);
                        int lv = health_from_string(get_str(r, "level"));
                        buf_printf(&b, "  %s%-8s%s %s (%s)\n", colour_of(lv < 0 ? HEALTH_UNKNOWN : (Health) lv, colour),
                                   strna(get_str(r, "level")), reset, strna(get_str(r, "message")),
                                   strna(get_str(r, "code")));
                }
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (json_object_object_get_ex(result, order[i], &sections))
                        render_section(&b, order[i], sections);
        if (json_object_object_get_ex(result, "inactive", &sections) &&
            json_object_array_length(sections) > 0) {
                buf_puts(&b, "inactive:");
                for (size_t i = 0; i < json_object_array_length(sections); i++)
                        buf_printf(&b, " [%s]", json_object_get_string(json_object_array_get_idx(sections, i)));
                buf_puts(&b, " (configured, not yet implemented)\n");
        }
        return buf_steal(&b);
}
