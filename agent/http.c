/* SPDX-License-Identifier: MIT */
#include "http.h"

#include "curl-dl.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "log.h"
#include "strv.h"

struct HttpRequest {
        HttpClient *client;
        HttpRequest *prev, *next;
        CURL *easy;
        struct curl_slist *headers;
        char errbuf[CURL_ERROR_SIZE];
        http_done_t cb;
        void *userdata;
        size_t response_max;
        Buf response;
        bool truncated;
        char **resp_headers; /* "name: value" lines of the final response */
};

struct HttpClient {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        HttpRequest *requests;
        size_t n_requests;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_result;

static void curl_init_once(void) {
        if (dlopen_curl() < 0)
                curl_init_result = -EOPNOTSUPP;
        else if (sym_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                curl_init_result = -EIO;
}

/* Mapping libcurl and its ~30 libraries and curl_global_init() (OpenSSL's
 * init) take ~10 ms: callers run this in a worker thread ahead of the
 * first request (credentials.c's signing thread) so the loop never pays
 * it. Once per process; libcurl stays loaded and initialised for the life
 * of the process (curl-dl.c keeps the handle too). pthread_once: a loop
 * request that comes in during the worker's init waits for it. */
int http_preload(void) {
        (void) pthread_once(&curl_once, curl_init_once);
        return curl_init_result;
}

static pthread_t preload_thread;
static bool preload_started;

static void *preload_main(void *unused) {
        (void) pthread_setname_np(pthread_self(), "agv-curl-load");
        (void) http_preload();
        return NULL;
}

void http_preload_async(void) {
        sigset_t all, old;

        if (preload_started)
                return;
        /* the thread takes no signal: they are the loop's (signalfd) */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        preload_started = pthread_create(&preload_thread, NULL, preload_main, NULL) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void http_preload_join(void) {
        if (preload_started)
                (void) pthread_join(preload_thread, NULL);
        preload_started = false;
}

/* Header lines may carry a secret (Authorization: Bearer ...): clear
 * libcurl's copies before handing them back to the allocator. */
static void headers_clear_free(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                if (i->data)
                        explicit_bzero(i->data, strlen(i->data));
        sym_curl_slist_free_all(l);
}

static void request_unlink_free(HttpRequest *r) {
        HttpClient *c = r->client;

        if (r->easy) {
                (void) sym_curl_multi_remove_handle(c->multi, r->easy);
                sym_curl_easy_cleanup(r->easy);
        }
        headers_clear_free(r->headers);
        r->headers = NULL;
        if (r->response.data)
                explicit_bzero(r->response.data, r->response.cap);
        buf_done(&r->response);
        strv_free(r->resp_headers);
        if (r->prev)
                r->prev->next = r->next;
        else
                c->requests = r->next;
        if (r->next)
                r->next->prev = r->prev;
        c->n_requests--;
        free(r);
}

static int map_curl_error(CURLcode cc) {
        switch (cc) {
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
                return -EBADE;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return -EPROTO;
        }
}

static void check_finished(HttpClient *c) {
        CURLMsg *msg;
        int left;

        while ((msg = sym_curl_multi_info_read(c->multi, &left))) {
                HttpRequest *r = NULL;
                long status = 0;
                int error = 0;
                const char *message = "";

                if (msg->msg != CURLMSG_DONE)
                        continue;
                if (sym_curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &r) != CURLE_OK || !r)
                        continue;
                if (msg->data.result == CURLE_OK)
                        (void) sym_curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
                else {
                        error = map_curl_error(msg->data.result);
                        message = r->errbuf[0] ? r->errbuf : sym_curl_easy_strerror(msg->data.result);
                }
                /* detach from curl before the callback so it may start new
                 * requests or free the client's user */
                (void) sym_curl_multi_remove_handle(c->multi, r->easy);
                if (r->cb) {
                        _cleanup_free_ char *m = strdup(message);
                        r->cb(r, error, status, m ? m : "", r->userdata);
                }
                request_unlink_free(r);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HttpClient *c = userdata;
        int action = 0, running;

        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        (void) sym_curl_multi_socket_action(c->multi, fd, action, &running);
        check_finished(c);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        HttpClient *c = userdata;
        int running;

        (void) sym_curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_finished(c);
        return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        HttpClient *c = userp;
        sd_event_source *io = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        sd_event_source_disable_unref(io);
                        (void) sym_curl_multi_assign(c->multi, fd, NULL);
                }
                return 0;
        }
        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;
        if (io) {
                r = sd_event_source_set_io_events(io, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(io, SD_EVENT_ON);
                return r < 0 ? -1 : 0;
        }
        r = sd_event_add_io(c->event, &io, fd, events, on_io, c);
        if (r < 0) {
                log_warning_errno(r, "Cannot watch HTTP socket");
                return -1;
        }
        (void) sd_event_source_set_description(io, "http-io");
        if (sym_curl_multi_assign(c->multi, fd, io) != CURLM_OK) {
                sd_event_source_disable_unref(io);
                return -1;
        }
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        HttpClient *c = userp;
        uint64_t now;
        int r;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        /* never call curl from its own callback: a 0 timeout fires on the
         * next loop iteration */
        r = sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return -1;
        r = sd_event_source_set_time(c->timer, now + (uint64_t) timeout_ms * USEC_PER_MSEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
        return r < 0 ? -1 : 0;
}

/* libcurl is loaded and initialised on the first POST, not here: an agent
 * with no HTTP channel configured never maps it. */
static int client_init_curl(HttpClient *c) {
        int r;

        if (c->multi)
                return 0;
        r = http_preload();
        if (r < 0)
                return r;
        c->multi = sym_curl_multi_init();
        if (!c->multi)
                return -ENOMEM;
        if (sym_curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
            sym_curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
            sym_curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
            sym_curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK) {
                sym_curl_multi_cleanup(TAKE_PTR(c->multi));
                return -EIO;
        }
        return 0;
}

int http_client_new(sd_event *e, HttpClient **ret) {
        HttpClient *c;
        int r;

        c = calloc(1, sizeof(HttpClient));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(e);
        r = sd_event_add_time(e, &c->timer, CLOCK_MONOTONIC, USEC_INFINITY, 1, on_timer, c);
        if (r < 0) {
                http_client_free(c);
                return r;
        }
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(c->timer, "http-timer");
        *ret = c;
        return 0;
}

HttpClient *http_client_free(HttpClient *c) {
        if (!c)
                return NULL;
        while (c->requests)
                request_unlink_free(c->requests);
        if (c->multi)
                sym_curl_multi_cleanup(c->multi);
        sd_event_source_disable_unref(c->timer);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

size_t http_client_pending(const HttpClient *c) {
        return c ? c->n_requests : 0;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
        return size * nmemb;
}

static size_t keep_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
        HttpRequest *r = userdata;
        size_t n = size * nmemb, room;

        if (!r->response.data) {
                /* one allocation up front: growing would leave copies behind */
                r->response.data = malloc(r->response_max + 1);
                if (!r->response.data)
                        return 0;
                r->response.cap = r->response_max + 1;
                r->response.data[0] = '\0';
        }
        room = r->response_max - r->response.len;
        if (n > room)
                r->truncated = true;
        memcpy(r->response.data + r->response.len, ptr, MIN(n, room));
        r->response.len += MIN(n, room);
        r->response.data[r->response.len] = '\0';
        return n;
}

static size_t keep_header(char *ptr, size_t size, size_t nmemb, void *userdata) {
        HttpRequest *r = userdata;
        size_t n = size * nmemb, l = n;

        /* a new status line starts a new header block (100 Continue, redirects) */
        if (n >= 5 && strneq(ptr, "HTTP/", 5)) {
                r->resp_headers = strv_free(r->resp_headers);
                return n;
        }
        while (l > 0 && (ptr[l - 1] == '\n' || ptr[l - 1] == '\r'))
                l--;
        if (l > 0 && l < 8192 && strv_length(r->resp_headers) < 128) {
                char *h = strndup(ptr, l);
                if (h)
                        (void) strv_push(&r->resp_headers, h);
        }
        return n;
}

const char *http_request_body(HttpRequest *r, size_t *len, bool *truncated) {
        if (len)
                *len = r->response.len;
        if (truncated)
                *truncated = r->truncated;
        return r->response.data ? r->response.data : "";
}

const char *http_request_header(HttpRequest *r, const char *name) {
        size_t n = strlen(name);
        const char *found = NULL;
        STRV_FOREACH(h, r->resp_headers)
                if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':') {
                        found = *h + n + 1;
                        while (*found == ' ' || *found == '\t')
                                found++;
                }
        return found;
}

double http_request_total_time(HttpRequest *r) {
        double t = 0;
        if (r->easy)
                (void) sym_curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &t);
        return t;
}

int http_post(HttpClient *c, const char *url, char *const *headers, const char *body, usec_t timeout,
              http_done_t cb, void *userdata, HttpRequest **ret) {
        HttpPostOptions o = { .url = url, .headers = headers, .body = body, .timeout = timeout };
        return http_post_ex(c, &o, cb, userdata, ret);
}

static int request_add(HttpClient *c, const HttpPostOptions *o, http_done_t cb, void *userdata, HttpRequest **ret);

int http_post_ex(HttpClient *c, const HttpPostOptions *o, http_done_t cb, void *userdata, HttpRequest **ret) {
        int k = client_init_curl(c);
        if (k < 0)
                return k;
        return request_add(c, o, cb, userdata, ret);
}

static int request_add(HttpClient *c, const HttpPostOptions *o, http_done_t cb, void *userdata, HttpRequest **ret) {
        const char *url = o->url, *body = o->body;
        char *const *headers = o->headers;
        usec_t timeout = o->timeout;
        HttpRequest *r;
        struct curl_slist *l;
        long ms = timeout == 0 ? 10000 : (long) MAX(timeout / USEC_PER_MSEC, (usec_t) 1);
        bool ok = true;

        r = calloc(1, sizeof(HttpRequest));
        if (!r)
                return -ENOMEM;
        r->client = c;
        r->cb = cb;
        r->userdata = userdata;
        r->next = c->requests;
        if (c->requests)
                c->requests->prev = r;
        c->requests = r;
        c->n_requests++;

        r->easy = sym_curl_easy_init();
        if (!r->easy) {
                request_unlink_free(r);
                return -ENOMEM;
        }
        /* the caller's own Content-Type (a signed one) replaces the default */
        bool own_type = false;
        STRV_FOREACH(h, headers)
                if (strncasecmp(*h, "Content-Type:", 13) == 0)
                        own_type = true;
        l = sym_curl_slist_append(NULL, own_type ? "Expect:" : "Content-Type: application/json");
        if (l)
                r->headers = l;
        /* curl adds "Expect: 100-continue" for larger bodies: one more round
         * trip and some receivers never answer it */
        if (l && !own_type && (l = sym_curl_slist_append(r->headers, "Expect:")))
                r->headers = l;
        STRV_FOREACH(h, headers)
                if (l && (l = sym_curl_slist_append(r->headers, *h)))
                        r->headers = l;
        if (!l) {
                request_unlink_free(r);
                return -ENOMEM;
        }

        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_URL, url) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, ms) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, ms) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, body) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "agv-agent/" AGV_VERSION) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf) == CURLE_OK;
        if (o->response_max > 0) {
                r->response_max = o->response_max;
                ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, keep_body) == CURLE_OK;
                ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r) == CURLE_OK;
                ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, keep_header) == CURLE_OK;
                ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r) == CURLE_OK;
        } else
                ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, discard_body) == CURLE_OK;
        if (o->ca_file)
                ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_CAINFO, o->ca_file) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r) == CURLE_OK;
        if (!ok) {
                request_unlink_free(r);
                return -EINVAL;
        }
        if (sym_curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
                sym_curl_easy_cleanup(TAKE_PTR(r->easy));
                request_unlink_free(r);
                return -EIO;
        }
        if (ret)
                *ret = r;
        return 0;
}

struct HttpAbort {
        pthread_mutex_t lock;
        atomic_bool aborted;
        CURLM *multi; /* of the transfer under way, for curl_multi_wakeup */
};

HttpAbort *http_abort_new(void) {
        HttpAbort *a = calloc(1, sizeof(HttpAbort));
        if (a)
                pthread_mutex_init(&a->lock, NULL);
        return a;
}

HttpAbort *http_abort_free(HttpAbort *a) {
        if (!a)
                return NULL;
        pthread_mutex_destroy(&a->lock);
        free(a);
        return NULL;
}

void http_abort(HttpAbort *a) {
        pthread_mutex_lock(&a->lock);
        atomic_store(&a->aborted, true);
        if (a->multi)
                (void) sym_curl_multi_wakeup(a->multi); /* made to be called from another thread */
        pthread_mutex_unlock(&a->lock);
}

int http_post_sync(const HttpPostOptions *o, HttpAbort *a, http_done_t cb, void *userdata) {
        HttpClient c = {}; /* no loop: curl's own poll drives the private multi */
        int r;

        r = http_preload();
        if (r < 0)
                return r;
        c.multi = sym_curl_multi_init();
        if (!c.multi)
                return -ENOMEM;
        pthread_mutex_lock(&a->lock);
        if (!atomic_load(&a->aborted))
                a->multi = c.multi;
        pthread_mutex_unlock(&a->lock);
        r = a->multi ? request_add(&c, o, cb, userdata, NULL) : -ECANCELED;
        while (r >= 0 && c.requests && !atomic_load(&a->aborted)) {
                int running = 0;
                if (sym_curl_multi_perform(c.multi, &running) != CURLM_OK) {
                        r = -EIO;
                        break;
                }
                check_finished(&c); /* the callback runs here, in this thread */
                if (!c.requests || atomic_load(&a->aborted))
                        break;
                if (sym_curl_multi_poll(c.multi, NULL, 0, 1000, NULL) != CURLM_OK)
                        r = -EIO;
        }
        pthread_mutex_lock(&a->lock);
        a->multi = NULL;
        pthread_mutex_unlock(&a->lock);
        if (c.requests && r >= 0)
                r = -ECANCELED;
        while (c.requests)
                request_unlink_free(c.requests);
        sym_curl_multi_cleanup(c.multi);
        return r;
}

void http_request_cancel(HttpRequest *r) {
        if (r)
                request_unlink_free(r);
}

char *http_url_redact(const char *url) {
        const char *p = strstr(url, "://"), *end;
        char *s = NULL;

        if (!p)
                return strdup("(invalid URL)");
        p += 3;
        end = p + strcspn(p, "/?#");
        /* drop user:password@ too */
        const char *at = memchr(p, '@', (size_t) (end - p));
        if (at)
                p = at + 1;
        if (asprintf(&s, "%.*s%.*s", (int) (strstr(url, "://") + 3 - url), url, (int) (end - p), p) < 0)
                return NULL;
        return s;
}
