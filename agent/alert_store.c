/* SPDX-License-Identifier: MIT */
#include "alert_store.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "log.h"

#define STORE_VERSION 1

static void fired_done(AlertFired *f) {
        free(f->role);
        free(f->serial);
        strv_free(f->stages);
        *f = (AlertFired) {};
}

static AlertDelivery *delivery_free(AlertDelivery *d) {
        if (!d)
                return NULL;
        free(d->channel);
        free(d->dedupe);
        free(d->last_error);
        alert_done(&d->alert);
        free(d);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(AlertDelivery *, delivery_free);

void alert_store_done(AlertStore *s) {
        for (size_t i = 0; i < s->n_fired; i++)
                fired_done(&s->fired[i]);
        free(s->fired);
        for (size_t i = 0; i < s->n_queue; i++)
                delivery_free(s->queue[i]);
        free(s->queue);
        for (size_t i = 0; i < s->n_am; i++)
                alert_free(s->am[i]);
        free(s->am);
        strv_free(s->delivered);
        *s = (AlertStore) {};
}

static AlertFired *find_fired(const AlertStore *s, const char *role, const char *serial) {
        for (size_t i = 0; i < s->n_fired; i++)
                if (streq(s->fired[i].role, role) && streq(s->fired[i].serial, serial))
                        return &s->fired[i];
        return NULL;
}

char **alert_store_fired(const AlertStore *s, const char *role, const char *serial) {
        AlertFired *f = find_fired(s, role, serial);
        return f ? f->stages : NULL;
}

static int fired_add(AlertStore *s, const char *role, const char *serial, AlertFired **ret) {
        AlertFired *n;

        if (s->n_fired >= ALERT_STORE_FIRED_MAX) {
                /* forget the least recently touched certificate */
                fired_done(&s->fired[0]);
                memmove(s->fired, s->fired + 1, (s->n_fired - 1) * sizeof(AlertFired));
                s->n_fired--;
        }
        n = realloc(s->fired, (s->n_fired + 1) * sizeof(AlertFired));
        if (!n)
                return -ENOMEM;
        s->fired = n;
        n = &s->fired[s->n_fired];
        *n = (AlertFired) { .role = strdup(role), .serial = strdup(serial) };
        if (!n->role || !n->serial) {
                fired_done(n);
                return -ENOMEM;
        }
        s->n_fired++;
        *ret = n;
        return 0;
}

int alert_store_mark_fired(AlertStore *s, const char *role, const char *serial, const char *stage) {
        AlertFired *f = find_fired(s, role, serial);
        int r;

        if (!f) {
                r = fired_add(s, role, serial, &f);
                if (r < 0)
                        return r;
        } else if (f != &s->fired[s->n_fired - 1]) {
                /* move to the end: most recently touched */
                AlertFired t = *f;
                size_t i = (size_t) (f - s->fired);
                memmove(s->fired + i, s->fired + i + 1, (s->n_fired - i - 1) * sizeof(AlertFired));
                s->fired[s->n_fired - 1] = t;
                f = &s->fired[s->n_fired - 1];
        }
        if (strv_contains(f->stages, stage))
                return 0;
        return strv_extend(&f->stages, stage);
}

static char *dedupe_key(const char *channel, const Alert *a) {
        char *k = NULL;
        if (asprintf(&k, "%s:%s:%s", a->key, a->resolved ? "resolved" : "firing", channel) < 0)
                return NULL;
        return k;
}

bool alert_store_was_delivered(const AlertStore *s, const char *dedupe) {
        return strv_contains(s->delivered, dedupe);
}

static void remember_delivered(AlertStore *s, const char *dedupe) {
        size_t n = strv_length(s->delivered);

        if (strv_contains(s->delivered, dedupe))
                return;
        if (n >= ALERT_STORE_DELIVERED_MAX) {
                free(s->delivered[0]);
                memmove(s->delivered, s->delivered + 1, n * sizeof(char *)); /* includes NULL */
        }
        (void) strv_extend(&s->delivered, dedupe);
}

static void queue_remove_at(AlertStore *s, size_t i) {
        delivery_free(s->queue[i]);
        memmove(s->queue + i, s->queue + i + 1, (s->n_queue - i - 1) * sizeof(AlertDelivery *));
        s->n_queue--;
}

static int queue_append(AlertStore *s, AlertDelivery *d) {
        AlertDelivery **n = realloc(s->queue, (s->n_queue + 1) * sizeof(AlertDelivery *));
        if (!n)
                return -ENOMEM;
        s->queue = n;
        s->queue[s->n_queue++] = d;
        return 0;
}

int alert_store_enqueue(AlertStore *s, const char *channel, const Alert *a, unsigned queue_max) {
        _cleanup_(delivery_freep) AlertDelivery *d = NULL;
        int r;

        d = calloc(1, sizeof(AlertDelivery));
        if (!d)
                return -ENOMEM;
        d->channel = strdup(channel);
        d->dedupe = dedupe_key(channel, a);
        if (!d->channel || !d->dedupe)
                return -ENOMEM;
        if (alert_store_was_delivered(s, d->dedupe))
                return 0;
        for (size_t i = 0; i < s->n_queue; i++)
                if (streq(s->queue[i]->dedupe, d->dedupe))
                        return 0;
        r = alert_copy(a, &d->alert);
        if (r < 0)
                return r;
        d->enqueued = a->resolved ? a->ends_at : a->starts_at;

        while (queue_max > 0 && s->n_queue >= queue_max) {
                size_t i;
                for (i = 0; i < s->n_queue; i++)
                        if (!s->queue[i]->in_flight)
                                break;
                if (i == s->n_queue)
                        return -ENOBUFS; /* everything in flight: refuse rather than free a busy item */
                log_warning("Alert queue full (%u): dropping undelivered %s", queue_max, s->queue[i]->dedupe);
                queue_remove_at(s, i);
                s->dropped++;
        }
        r = queue_append(s, d);
        if (r < 0)
                return r;
        TAKE_PTR(d);
        return 1;
}

void alert_store_dequeue(AlertStore *s, AlertDelivery *d, bool delivered) {
        for (size_t i = 0; i < s->n_queue; i++)
                if (s->queue[i] == d) {
                        if (delivered)
                                remember_delivered(s, d->dedupe);
                        queue_remove_at(s, i);
                        return;
                }
}

Alert *alert_store_am_get(const AlertStore *s, const char *key) {
        for (size_t i = 0; i < s->n_am; i++)
                if (streq(s->am[i]->key, key))
                        return s->am[i];
        return NULL;
}

int alert_store_am_put(AlertStore *s, const Alert *a) {
        _cleanup_(alert_freep) Alert *c = calloc(1, sizeof(Alert));
        Alert **n;
        int r;

        if (!c)
                return -ENOMEM;
        r = alert_copy(a, c);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_am; i++)
                if (streq(s->am[i]->key, a->key)) {
                        alert_free(s->am[i]);
                        s->am[i] = TAKE_PTR(c);
                        return 0;
                }
        n = realloc(s->am, (s->n_am + 1) * sizeof(Alert *));
        if (!n)
                return -ENOMEM;
        s->am = n;
        s->am[s->n_am++] = TAKE_PTR(c);
        return 0;
}

void alert_store_am_prune_resolved(AlertStore *s) {
        size_t j = 0;
        for (size_t i = 0; i < s->n_am; i++) {
                if (s->am[i]->resolved)
                        alert_free(s->am[i]);
                else
                        s->am[j++] = s->am[i];
        }
        s->n_am = j;
}

/* ---- JSON ------------------------------------------------------------- */

static json_object *strv_to_json(char *const *l) {
        json_object *a = json_object_new_array();
        STRV_FOREACH(i, l)
                json_object_array_add(a, json_object_new_string(*i));
        return a;
}

json_object *alert_store_to_json(const AlertStore *s) {
        json_object *o = json_object_new_object(), *fired = json_object_new_array(),
                    *queue = json_object_new_array(), *am = json_object_new_array();

        if (!o || !fired || !queue || !am) {
                json_object_put(o);
                json_object_put(fired);
                json_object_put(queue);
                json_object_put(am);
                return NULL;
        }
        json_object_object_add(o, "version", json_object_new_int(STORE_VERSION));
        for (size_t i = 0; i < s->n_fired; i++) {
                json_object *f = json_object_new_object();
                json_object_object_add(f, "role", json_object_new_string(s->fired[i].role));
                json_object_object_add(f, "serial", json_object_new_string(s->fired[i].serial));
                json_object_object_add(f, "stages", strv_to_json(s->fired[i].stages));
                json_object_array_add(fired, f);
        }
        json_object_object_add(o, "fired", fired);
        for (size_t i = 0; i < s->n_queue; i++) {
                const AlertDelivery *d = s->queue[i];
                json_object *q = json_object_new_object();
                json_object_object_add(q, "channel", json_object_new_string(d->channel));
                json_object_object_add(q, "dedupe", json_object_new_string(d->dedupe));
                json_object_object_add(q, "attempts", json_object_new_int64(d->attempts));
                json_object_object_add(q, "enqueued_usec", json_object_new_int64((int64_t) d->enqueued));
                json_object_object_add(q, "alert", alert_to_json(&d->alert));
                json_object_array_add(queue, q);
        }
        json_object_object_add(o, "queue", queue);
        for (size_t i = 0; i < s->n_am; i++)
                json_object_array_add(am, alert_to_json(s->am[i]));
        json_object_object_add(o, "alertmanager", am);
        json_object_object_add(o, "delivered", strv_to_json(s->delivered));
        return o;
}

static int json_to_strv(json_object *a, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;

        if (!a || !json_object_is_type(a, json_type_array))
                return -EBADMSG;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *v = json_object_array_get_idx(a, i);
                if (!json_object_is_type(v, json_type_string))
                        return -EBADMSG;
                if (strv_extend(&l, json_object_get_string(v)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static const char *obj_str(json_object *o, const char *k) {
        json_object *v;
        if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static int from_json_internal(json_object *o, AlertStore *s) {
        json_object *v, *arr;
        int r;

        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (!json_object_object_get_ex(o, "version", &v) || json_object_get_int(v) != STORE_VERSION)
                return -EBADMSG;

        if (!json_object_object_get_ex(o, "fired", &arr) || !json_object_is_type(arr, json_type_array))
                return -EBADMSG;
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *f = json_object_array_get_idx(arr, i), *st;
                const char *role = obj_str(f, "role"), *serial = obj_str(f, "serial");
                _cleanup_strv_free_ char **stages = NULL;
                if (!role || !serial || !json_object_object_get_ex(f, "stages", &st))
                        return -EBADMSG;
                r = json_to_strv(st, &stages);
                if (r < 0)
                        return r;
                STRV_FOREACH(x, stages) {
                        r = alert_store_mark_fired(s, role, serial, *x);
                        if (r < 0)
                                return r;
                }
                if (!stages && !find_fired(s, role, serial)) {
                        AlertFired *unused;
                        r = fired_add(s, role, serial, &unused);
                        if (r < 0)
                                return r;
                }
        }

        if (!json_object_object_get_ex(o, "queue", &arr) || !json_object_is_type(arr, json_type_array))
                return -EBADMSG;
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *q = json_object_array_get_idx(arr, i), *a;
                _cleanup_(delivery_freep) AlertDelivery *d = calloc(1, sizeof(AlertDelivery));
                const char *ch = obj_str(q, "channel"), *dd = obj_str(q, "dedupe");
                if (!d)
                        return -ENOMEM;
                if (!ch || !dd || !json_object_object_get_ex(q, "alert", &a))
                        return -EBADMSG;
                r = alert_from_json(a, &d->alert);
                if (r < 0)
                        return r;
                d->channel = strdup(ch);
                d->dedupe = strdup(dd);
                if (!d->channel || !d->dedupe)
                        return -ENOMEM;
                if (json_object_object_get_ex(q, "attempts", &v))
                        d->attempts = (unsigned) json_object_get_int(v);
                if (json_object_object_get_ex(q, "enqueued_usec", &v))
                        d->enqueued = (uint64_t) json_object_get_int64(v);
                r = queue_append(s, d);
                if (r < 0)
                        return r;
                TAKE_PTR(d);
        }

        if (!json_object_object_get_ex(o, "alertmanager", &arr) || !json_object_is_type(arr, json_type_array))
                return -EBADMSG;
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                _cleanup_(alert_done) Alert a = {};
                r = alert_from_json(json_object_array_get_idx(arr, i), &a);
                if (r < 0)
                        return r;
                r = alert_store_am_put(s, &a);
                if (r < 0)
                        return r;
        }

        if (json_object_object_get_ex(o, "delivered", &arr)) {
                r = json_to_strv(arr, &s->delivered);
                if (r < 0)
                        return r;
        }
        return 0;
}

int alert_store_from_json(json_object *o, AlertStore *ret) {
        AlertStore s = {};
        int r = from_json_internal(o, &s);
        if (r < 0) {
                alert_store_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}

/* ---- files ------------------------------------------------------------ */

static int mkdir_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        char *slash;

        if (!p)
                return -ENOMEM;
        slash = strrchr(p, '/');
        if (!slash || slash == p)
                return 0;
        *slash = '\0';
        for (char *q = p + 1; *q; q++)
                if (*q == '/') {
                        *q = '\0';
                        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                                return negative_errno();
                        *q = '/';
                }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        /* the temp name must not end in .prom: node_exporter would read a
         * half-written file */
        if (asprintf(&tmp, "%s.%u.tmp", path, (unsigned) getpid()) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return negative_errno();
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, data + off, len - off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        goto fail;
                }
                off += (size_t) n;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                r = negative_errno();
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = negative_errno();
                goto fail;
        }
        /* the rename itself is durable only once the directory is synced */
        {
                _cleanup_free_ char *dir = strdup(path);
                char *slash = dir ? strrchr(dir, '/') : NULL;
                if (slash) {
                        _cleanup_close_ int dfd = -1;
                        *(slash == dir ? slash + 1 : slash) = '\0';
                        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (dfd >= 0)
                                (void) fsync(dfd);
                }
        }
        return 0;
fail:
        (void) unlink(tmp);
        return r;
}

int alert_store_load(const char *path, AlertStore *ret) {
        _cleanup_json_ json_object *o = NULL;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *corrupt = NULL;
        Buf b = {};
        char chunk[8192];
        int r;

        *ret = (AlertStore) {};
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                r = negative_errno();
                log_warning_errno(r, "Cannot read alert state %s, starting with a clean state", path);
                return 1;
        }
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        buf_done(&b);
                        log_warning_errno(r, "Cannot read alert state %s, starting with a clean state", path);
                        return 1;
                }
                if (n == 0)
                        break;
                buf_append(&b, chunk, (size_t) n);
                if (b.len > 64 * 1024 * 1024)
                        break;
        }
        if (b.oom) {
                buf_done(&b);
                return -ENOMEM;
        }
        if (b.len > 0) {
                enum json_tokener_error jerr;
                json_tokener *tok = json_tokener_new();
                if (!tok) {
                        buf_done(&b);
                        return -ENOMEM;
                }
                o = json_tokener_parse_ex(tok, b.data, (int) b.len);
                jerr = json_tokener_get_error(tok);
                /* a truncated file parses as "continue", not as an object */
                if (jerr != json_tokener_success) {
                        json_object_put(o);
                        o = NULL;
                }
                json_tokener_free(tok);
        }
        buf_done(&b);

        r = o ? alert_store_from_json(o, ret) : -EBADMSG;
        if (r == -ENOMEM)
                return r;
        if (r >= 0)
                return 0;

        /* keep the bad file for a post-mortem; a clean state is safe: at
         * worst one stage fires again */
        if (asprintf(&corrupt, "%s.corrupt", path) >= 0)
                (void) rename(path, corrupt);
        log_warning("Alert state %s is corrupt or truncated; moved it to %s and started with a clean state "
                    "(an alert stage may fire once more)", path, strna(corrupt));
        return 1;
}

int alert_store_save(const AlertStore *s, const char *path) {
        _cleanup_json_ json_object *o = alert_store_to_json(s);
        const char *text;
        int r;

        if (!o)
                return -ENOMEM;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        r = mkdir_parents(path, 0700);
        if (r < 0)
                return r;
        return write_file_atomic(path, text, strlen(text), 0600);
}
