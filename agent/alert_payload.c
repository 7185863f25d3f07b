/* SPDX-License-Identifier: MIT */
#include "alert_payload.h"

#include <ctype.h>
#include <time.h>

#include "alert_plan.h"

void alert_done(Alert *a) {
        if (!a)
                return;
        free(a->key);
        free(a->name);
        free(a->kind);
        free(a->stage);
        free(a->role);
        free(a->serial);
        free(a->subject);
        free(a->issuer);
        free(a->summary);
        free(a->description);
        free(a->instance);
        *a = (Alert) {};
}

Alert *alert_free(Alert *a) {
        alert_done(a);
        free(a);
        return NULL;
}

static int dup_str(const char *s, char **ret) {
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int alert_copy(const Alert *src, Alert *dst) {
        Alert c = *src;
        int r = 0;

        r |= dup_str(src->key, &c.key);
        r |= dup_str(src->name, &c.name);
        r |= dup_str(src->kind, &c.kind);
        r |= dup_str(src->stage, &c.stage);
        r |= dup_str(src->role, &c.role);
        r |= dup_str(src->serial, &c.serial);
        r |= dup_str(src->subject, &c.subject);
        r |= dup_str(src->issuer, &c.issuer);
        r |= dup_str(src->summary, &c.summary);
        r |= dup_str(src->description, &c.description);
        r |= dup_str(src->instance, &c.instance);
        if (r < 0) {
                alert_done(&c);
                return -ENOMEM;
        }
        *dst = c;
        return 0;
}

static void add_str(json_object *o, const char *k, const char *v) {
        if (v)
                json_object_object_add(o, k, json_object_new_string(v));
}

static void add_time(json_object *o, const char *k, uint64_t t) {
        char buf[32];
        if (t != 0)
                json_object_object_add(o, k, json_object_new_string(format_rfc3339(t, buf, sizeof(buf))));
}

json_object *alert_to_json(const Alert *a) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "version", json_object_new_int(ALERT_SCHEMA_VERSION));
        add_str(o, "key", a->key);
        add_str(o, "alertname", a->name);
        add_str(o, "kind", a->kind);
        json_object_object_add(o, "status", json_object_new_string(a->resolved ? "resolved" : "firing"));
        json_object_object_add(o, "severity", json_object_new_string(alert_severity_label(a->severity)));
        add_str(o, "stage", a->stage);
        add_str(o, "role", a->role);
        add_str(o, "serial", a->serial);
        add_str(o, "subject", a->subject);
        add_str(o, "issuer", a->issuer);
        if (a->not_after != 0) {
                add_time(o, "not_after", a->not_after);
                json_object_object_add(o, "not_after_unix", json_object_new_int64((int64_t) (a->not_after / USEC_PER_SEC)));
                json_object_object_add(o, "days_left", json_object_new_int64(a->days_left));
        }
        add_str(o, "summary", a->summary);
        add_str(o, "description", a->description);
        add_str(o, "instance", a->instance);
        add_time(o, "starts_at", a->starts_at);
        /* microseconds too, so a reload round-trips exactly */
        json_object_object_add(o, "starts_at_usec", json_object_new_int64((int64_t) a->starts_at));
        if (a->ends_at != 0) {
                add_time(o, "ends_at", a->ends_at);
                json_object_object_add(o, "ends_at_usec", json_object_new_int64((int64_t) a->ends_at));
        }
        return o;
}

static int get_str(json_object *o, const char *k, bool required, char **ret) {
        json_object *v;

        *ret = NULL;
        if (!json_object_object_get_ex(o, k, &v) || !v)
                return required ? -EBADMSG : 0;
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

static int get_u64(json_object *o, const char *k, uint64_t *ret) {
        json_object *v;

        *ret = 0;
        if (!json_object_object_get_ex(o, k, &v) || !v)
                return 0;
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
                return -EBADMSG;
        *ret = (uint64_t) json_object_get_int64(v);
        return 0;
}

int alert_from_json(json_object *o, Alert *ret) {
        _cleanup_(alert_done) Alert a = {};
        json_object *v;
        int h;

        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (get_str(o, "key", true, &a.key) < 0 || get_str(o, "alertname", true, &a.name) < 0 ||
            get_str(o, "kind", false, &a.kind) < 0 || get_str(o, "stage", false, &a.stage) < 0 ||
            get_str(o, "role", false, &a.role) < 0 || get_str(o, "serial", false, &a.serial) < 0 ||
            get_str(o, "subject", false, &a.subject) < 0 || get_str(o, "issuer", false, &a.issuer) < 0 ||
            get_str(o, "summary", false, &a.summary) < 0 ||
            get_str(o, "description", false, &a.description) < 0 ||
            get_str(o, "instance", false, &a.instance) < 0)
                return -EBADMSG;
        if (!json_object_object_get_ex(o, "status", &v) || !json_object_is_type(v, json_type_string))
                return -EBADMSG;
        if (streq(json_object_get_string(v), "resolved"))
                a.resolved = true;
        else if (!streq(json_object_get_string(v), "firing"))
                return -EBADMSG;
        if (!json_object_object_get_ex(o, "severity", &v) || !json_object_is_type(v, json_type_string))
                return -EBADMSG;
        h = streq(json_object_get_string(v), "info") ? HEALTH_OK : health_from_string(json_object_get_string(v));
        if (h < 0 || h == HEALTH_UNKNOWN)
                return -EBADMSG;
        a.severity = (Health) h;
        if (json_object_object_get_ex(o, "not_after_unix", &v)) {
                /* up to 9999-12-31 (the last ASN.1 time): a larger value
                 * would wrap in microseconds and change on every save */
                if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
                    json_object_get_int64(v) > INT64_C(253402300799))
                        return -EBADMSG;
                a.not_after = (uint64_t) json_object_get_int64(v) * USEC_PER_SEC;
                if (json_object_object_get_ex(o, "days_left", &v) && json_object_is_type(v, json_type_int))
                        a.days_left = json_object_get_int64(v);
        }
        if (get_u64(o, "starts_at_usec", &a.starts_at) < 0 || get_u64(o, "ends_at_usec", &a.ends_at) < 0)
                return -EBADMSG;
        *ret = a;
        a = (Alert) {};
        return 0;
}

char *alert_text(const Alert *a) {
        char *s = NULL;
        char sev[16];
        size_t i;
        const char *label = a->resolved ? "resolved" : alert_severity_label(a->severity);

        for (i = 0; label[i] && i < sizeof(sev) - 1; i++)
                sev[i] = (char) toupper((unsigned char) label[i]);
        sev[i] = '\0';
        if (asprintf(&s, "[%s] %s: %s", sev, strna(a->instance), strna(a->summary)) < 0)
                return NULL;
        return s;
}

char *alert_webhook_body(const Alert *a, bool slack_text) {
        _cleanup_json_ json_object *o = alert_to_json(a);
        const char *s;

        if (!o)
                return NULL;
        /* the persistence-only fields are noise to a receiver */
        json_object_object_del(o, "starts_at_usec");
        json_object_object_del(o, "ends_at_usec");
        json_object_object_add(o, "source", json_object_new_string("agv-agent"));
        if (slack_text) {
                _cleanup_free_ char *t = alert_text(a);
                if (!t)
                        return NULL;
                json_object_object_add(o, "text", json_object_new_string(t));
        }
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        return s ? strdup(s) : NULL;
}

/* Alertmanager wants RFC 3339 with sub-second precision optional; use ms so
 * two posts in the same second still order. */
static json_object *am_time(uint64_t t) {
        char buf[48];
        time_t s = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&s, &tm))
                return NULL;
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned) (t % USEC_PER_SEC / USEC_PER_MSEC));
        return json_object_new_string(buf);
}

char *alertmanager_body(Alert *const *alerts, size_t n, uint64_t firing_ends_at) {
        _cleanup_json_ json_object *arr = json_object_new_array();
        const char *s;

        if (!arr)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                const Alert *a = alerts[i];
                json_object *o = json_object_new_object(), *labels = json_object_new_object(),
                            *ann = json_object_new_object();
                if (!o || !labels || !ann) {
                        json_object_put(o);
                        json_object_put(labels);
                        json_object_put(ann);
                        return NULL;
                }
                add_str(labels, "alertname", a->name);
                add_str(labels, "instance", a->instance);
                add_str(labels, "severity", alert_severity_label(a->severity));
                add_str(labels, "serial", a->serial);
                add_str(labels, "subject", a->subject);
                add_str(labels, "role", a->role);
                add_str(labels, "job", "agv-agent");
                add_str(ann, "summary", a->summary);
                add_str(ann, "description", a->description);
                if (a->not_after != 0) {
                        char buf[32];
                        add_str(ann, "not_after", format_rfc3339(a->not_after, buf, sizeof(buf)));
                }
                json_object_object_add(o, "labels", labels);
                json_object_object_add(o, "annotations", ann);
                if (a->starts_at != 0)
                        json_object_object_add(o, "startsAt", am_time(a->starts_at));
                json_object_object_add(o, "endsAt", am_time(a->resolved && a->ends_at ? a->ends_at : firing_ends_at));
                json_object_array_add(arr, o);
        }
        s = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        return s ? strdup(s) : NULL;
}

char **alert_hook_env(const Alert *a) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *json = alert_webhook_body(a, false);
        char buf[32];
        int r = 0;

        if (!json)
                return NULL;
        r |= strv_extend(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        r |= strv_extend(&env, "LANG=C.UTF-8");
        r |= strv_extendf(&env, "AGV_ALERT_NAME=%s", strempty(a->name));
        r |= strv_extendf(&env, "AGV_ALERT_KEY=%s", strempty(a->key));
        r |= strv_extendf(&env, "AGV_ALERT_KIND=%s", strempty(a->kind));
        r |= strv_extendf(&env, "AGV_ALERT_STATUS=%s", a->resolved ? "resolved" : "firing");
        r |= strv_extendf(&env, "AGV_ALERT_SEVERITY=%s", alert_severity_label(a->severity));
        r |= strv_extendf(&env, "AGV_ALERT_STAGE=%s", strempty(a->stage));
        r |= strv_extendf(&env, "AGV_ALERT_ROLE=%s", strempty(a->role));
        r |= strv_extendf(&env, "AGV_ALERT_SERIAL=%s", strempty(a->serial));
        r |= strv_extendf(&env, "AGV_ALERT_SUBJECT=%s", strempty(a->subject));
        r |= strv_extendf(&env, "AGV_ALERT_ISSUER=%s", strempty(a->issuer));
        r |= strv_extendf(&env, "AGV_ALERT_NOT_AFTER=%s", a->not_after ? format_rfc3339(a->not_after, buf, sizeof(buf)) : "");
        if (a->not_after)
                r |= strv_extendf(&env, "AGV_ALERT_DAYS_LEFT=%lld", (long long) a->days_left);
        else
                r |= strv_extend(&env, "AGV_ALERT_DAYS_LEFT=");
        r |= strv_extendf(&env, "AGV_ALERT_SUMMARY=%s", strempty(a->summary));
        r |= strv_extendf(&env, "AGV_ALERT_DESCRIPTION=%s", strempty(a->description));
        r |= strv_extendf(&env, "AGV_ALERT_INSTANCE=%s", strempty(a->instance));
        r |= strv_extendf(&env, "AGV_ALERT_STARTS_AT=%s", a->starts_at ? format_rfc3339(a->starts_at, buf, sizeof(buf)) : "");
        r |= strv_extendf(&env, "AGV_ALERT_JSON=%s", json);
        if (r < 0)
                return NULL;
        return TAKE_PTR(env);
}
