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

char *format_rfc3339(int64_t unix_usec, char *buf, size_t n) {
        /* floor division: -1 us is 1969-12-31T23:59:59Z */
        int64_t s = unix_usec / (int64_t) USEC_PER_SEC - (unix_usec % (int64_t) USEC_PER_SEC < 0);
        time_t t = (time_t) s;
        struct tm tm;
        if (!gmtime_r(&t, &tm))
                snprintf(buf, n, "invalid");
        else
                snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec);
        return buf;
}

json_object *json_time(int64_t unix_usec) {
        char buf[48];
        return json_object_new_string(format_rfc3339((int64_t) unix_usec, buf, sizeof(buf)));
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

json_object *json_ms_from_ns(uint64_t ns) {
        char t[32];
        snprintf(t, sizeof(t), "%.3f", (double) (ns / 1000) / 1000.0);
        return json_object_new_double_s((double) (ns / 1000) / 1000.0, t);
}

static double get_double(json_object *o, const char *k) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, k, &v) || !v)
                return 0;
        return json_object_get_double(v);
}

static json_object *get_obj(json_object *o, const char *k) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, k, &v) || !v || !json_object_is_type(v, json_type_object))
                return NULL;
        return v;
}

static int64_t get_int(json_object *o, const char *k, int64_t def) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, k, &v) || !v)
                return def;
        return json_object_get_int64(v);
}

/* "2027-11-28T17:40:24Z" -> "2027-11-28" */
static void put_date(Buf *b, const char *rfc3339) {
        if (rfc3339 && strlen(rfc3339) >= 10)
                buf_append(b, rfc3339, 10);
        else
                buf_puts(b, strna(rfc3339));
}

static void put_left(Buf *b, int64_t secs) {
        if (secs < 0)
                buf_printf(b, "expired %lldd ago", (long long) (-secs / 86400));
        else if (secs >= 2 * 86400)
                buf_printf(b, "%lldd left", (long long) (secs / 86400));
        else
                buf_printf(b, "%lldh left", (long long) (secs / 3600));
}

static void render_certificate(Buf *b, json_object *c) {
        json_object *cand = get_obj(c, "candidate"), *findings, *pend, *path;
        const char *serial = get_str(c, "serial");

        if (!serial) {
                buf_printf(b, "%-12s no active pair (%s)\n", "certificate", strna(get_str(c, "state")));
        } else {
                buf_printf(b, "%-12s %s, serial %s, %s\n", "certificate", strna(get_str(c, "subject")), serial,
                           strna(get_str(c, "key_type")));
                buf_printf(b, "%-12s valid ", "");
                put_date(b, get_str(c, "not_before"));
                buf_puts(b, " to ");
                put_date(b, get_str(c, "not_after"));
                buf_puts(b, " (");
                put_left(b, get_int(c, "seconds_left", 0));
                buf_printf(b, "), chain %s", strna(get_str(c, "chain")));
                /* through an intermediate: name the issuer the path went through */
                if (json_object_object_get_ex(c, "chain_path", &path) && json_object_is_type(path, json_type_array) &&
                    json_object_array_length(path) > 1)
                        buf_printf(b, " via %s", strna(get_str(json_object_array_get_idx(path, 0), "subject")));
                buf_printf(b, ", generation %lld, %s\n", (long long) get_int(c, "generation", 0),
                           strna(get_str(c, "state")));
        }
        pend = get_obj(c, "pending_request");
        if (pend)
                buf_printf(b, "%-12s pending since %s: %s key, %s (install its certificate with "
                              "'agv-agent install-cert FILE')\n", "request", strna(get_str(pend, "since")),
                           strna(get_str(pend, "key_type")), strna(get_str(pend, "subject")));
        if (cand) {
                buf_printf(b, "%-12s candidate %s", "", get_str(cand, "serial") ? get_str(cand, "serial") : "(unreadable)");
                if (json_object_object_get_ex(cand, "findings", &findings) && json_object_array_length(findings) > 0)
                        buf_printf(b, " not activated: %s",
                                   strna(get_str(json_object_array_get_idx(findings, 0), "message")));
                buf_puts(b, "\n");
        }
}

static void render_permissions(Buf *b, json_object *p) {
        static const struct {
                const char *key, *label;
        } files[] = {
                { "private_key", "key" }, { "certificate", "cert" }, { "ca_bundle", "ca" },
                { "intermediates", "intermediates" }, { "directory", "dir" },
        };
        bool first = true;

        buf_printf(b, "%-12s %s:", "permissions", strna(get_str(p, "policy")));
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                const char *v = get_str(p, files[i].key);
                if (!v)
                        continue;
                buf_printf(b, "%s %s %s", first ? "" : ",", files[i].label, v);
                first = false;
        }
        buf_printf(b, "; %lld repaired\n", (long long) get_int(p, "repaired", 0));
}

static void render_child(Buf *b, json_object *c) {
        json_object *health = get_obj(c, "health");
        const char *state = get_str(c, "state");

        buf_printf(b, "%-12s %s", "signer", strna(state));
        if (get_int(c, "pid", 0) > 0)
                buf_printf(b, ", pid %lld, up %llds", (long long) get_int(c, "pid", 0),
                           (long long) get_int(c, "uptime_s", 0));
        if (health)
                buf_printf(b, ", health %s", get_int(health, "ok", 0) ? "ok" : "FAILED");
        buf_printf(b, ", %lld client%s, %lld restart%s, %lld replacement%s\n", (long long) get_int(c, "clients", 0),
                   get_int(c, "clients", 0) == 1 ? "" : "s", (long long) get_int(c, "restarts", 0),
                   get_int(c, "restarts", 0) == 1 ? "" : "s", (long long) get_int(c, "replacements", 0),
                   get_int(c, "replacements", 0) == 1 ? "" : "s");
        if (get_str(c, "last_error"))
                buf_printf(b, "%-12s last error: %s\n", "", get_str(c, "last_error"));
}

static void render_alerts(Buf *b, json_object *a) {
        json_object *channels = get_obj(a, "channels");

        buf_printf(b, "%-12s next ", "alerts");
        if (get_str(a, "next_alert"))
                put_date(b, get_str(a, "next_alert"));
        else
                buf_puts(b, "none planned");
        buf_printf(b, ", %lld pending", (long long) get_int(a, "pending_deliveries", 0));
        if (channels) {
                json_object_object_foreach(channels, name, ch) {
                        const char *last = get_str(ch, "last_result");
                        buf_printf(b, ", %s %s", name, last ? last : "idle");
                }
        }
        buf_puts(b, "\n");
}

static void render_credentials(Buf *b, json_object *c) {
        const char *state = get_str(c, "state"), *exp = get_str(c, "expiration");
        json_object *err = get_obj(c, "last_error");

        if (state && streq(state, "disabled"))
                return;
        buf_printf(b, "%-12s %s", "credentials", strna(state));
        if (exp && strlen(exp) >= 16)
                buf_printf(b, ", until %.10s %.5s UTC", exp, exp + 11);
        buf_printf(b, ", %s via %s, %lld exchange%s, %lld failure%s\n", strna(get_str(c, "role_arn")),
                   strna(get_str(c, "endpoint")), (long long) get_int(c, "exchanges", 0),
                   get_int(c, "exchanges", 0) == 1 ? "" : "s", (long long) get_int(c, "failures", 0),
                   get_int(c, "failures", 0) == 1 ? "" : "s");
        if (err)
                buf_printf(b, "%-12s last error: %s: %s\n", "", strna(get_str(err, "type")), strna(get_str(err, "message")));
        if (get_str(c, "longest_dispatch_ms"))
                buf_printf(b, "%-12s longest loop callback during the last exchange %.3f ms (%.3f ms on CPU), during any %.3f ms\n",
                           "", get_double(c, "longest_dispatch_ms"), get_double(c, "longest_dispatch_cpu_ms"),
                           get_double(c, "longest_dispatch_any_ms"));
}

static void render_event_loop(Buf *b, json_object *l) {
        buf_printf(b, "%-12s longest callback %.3f ms in the last minute, %.3f ms since start (%lld callbacks)\n",
                   "event loop", get_double(l, "longest_dispatch_last_minute_ms"), get_double(l, "longest_dispatch_ms"),
                   (long long) get_int(l, "dispatches", 0));
}

/* Sections this renderer does not know are shown as their scalar fields. */
static void render_generic(Buf *b, const char *title, json_object *sec) {
        buf_printf(b, "%s:\n", title);
        json_object_object_foreach(sec, key, val) {
                if (!val || json_object_is_type(val, json_type_object) || json_object_is_type(val, json_type_array))
                        continue;
                buf_printf(b, "  %-20s %s\n", key, json_object_get_string(val));
        }
}

char *status_render_text(json_object *result, bool colour) {
        static const struct {
                const char *name;
                void (*render)(Buf *b, json_object *section);
        } sections[] = {
                { "certificate", render_certificate },
                { "permissions", render_permissions },
                { "child", render_child },
                { "alerts", render_alerts },
                { "credentials", render_credentials },
                { "event_loop", render_event_loop },
        };
        Buf b = {};
        Health h = status_result_health(result);
        json_object *reasons, *inactive;
        const char *reset = colour ? "\033[0m" : "", *summary = get_str(result, "summary");

        buf_printf(&b, "agv-agent %s: %s%s%s", strna(get_str(result, "version")), colour_of(h, colour),
                   health_to_string(h), reset);
        if (!isempty(summary))
                buf_printf(&b, ": %s", summary);
        /* The agent's uptime, said so: the summary may name the signer. */
        buf_printf(&b, " (agent up %ss)\n", strna(get_str(result, "uptime_s")));
        if (json_object_object_get_ex(result, "reasons", &reasons))
                for (size_t i = 0; i < json_object_array_length(reasons); i++) {
                        json_object *r = json_object_array_get_idx(reasons, i);
                        int lv = health_from_string(get_str(r, "level"));
                        buf_printf(&b, "  %s%-8s%s %s (%s)\n", colour_of(lv < 0 ? HEALTH_UNKNOWN : (Health) lv, colour),
                                   strna(get_str(r, "level")), reset, strna(get_str(r, "message")),
                                   strna(get_str(r, "code")));
                }
        for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
                json_object *sec = get_obj(result, sections[i].name);
                if (!sec)
                        continue;
                if (sections[i].render)
                        sections[i].render(&b, sec);
                else
                        render_generic(&b, sections[i].name, sec);
        }
        if (json_object_object_get_ex(result, "inactive", &inactive) && inactive &&
            json_object_array_length(inactive) > 0) {
                buf_puts(&b, "inactive:");
                for (size_t i = 0; i < json_object_array_length(inactive); i++)
                        buf_printf(&b, " [%s]", json_object_get_string(json_object_array_get_idx(inactive, i)));
                buf_puts(&b, " (configured, not part of this build)\n");
        }
        return buf_steal(&b);
}
