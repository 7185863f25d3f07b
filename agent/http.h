/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "macro.h"

/* HTTP POST through libcurl's multi interface, driven by the sd-event loop
 * (CURLMOPT_SOCKETFUNCTION -> io sources, CURLMOPT_TIMERFUNCTION -> one
 * monotonic timer): nothing ever blocks the loop. TLS peer and host
 * verification are always on; only http and https are allowed; redirects
 * are not followed (a webhook that redirects is misconfigured). */

typedef struct HttpClient HttpClient;
typedef struct HttpRequest HttpRequest;

/* error: 0 when a response arrived (any status), else -errno-ish (-ETIMEDOUT
 * for timeouts, -ECONNREFUSED, -EPROTO for other transfer errors) with a
 * human message in `message`. The request is freed after the callback. */
typedef void (*http_done_t)(HttpRequest *r, int error, long status, const char *message, void *userdata);

/* Load and initialise libcurl now (thread-safe, once per process): 0,
 * -EOPNOTSUPP (libcurl missing, logged) or -EIO. */
int http_preload(void);
/* The same in a thread of its own, for a module that will post from the
 * loop later (alerts): the first delivery then finds libcurl ready instead
 * of loading it inside a loop callback. Loop thread only; joined by
 * http_preload_join() (the module's free). */
void http_preload_async(void);
void http_preload_join(void);

int http_client_new(sd_event *e, HttpClient **ret);
HttpClient *http_client_free(HttpClient *c); /* cancels pending requests without callbacks */
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpClient *, http_client_free);

/* POST `body` (copied) as application/json. headers: extra "Name: value"
 * lines (copied; may hold a secret, never logged). timeout covers the whole
 * transfer. */
int http_post(HttpClient *c, const char *url, char *const *headers, const char *body, usec_t timeout,
              http_done_t cb, void *userdata, HttpRequest **ret);
/* The general form: a private CA file, the reply body and headers kept
 * for the callback (body up to response_max bytes, zeroed when freed since
 * it may carry a secret). */
typedef struct HttpPostOptions {
        const char *url;
        char *const *headers;
        const char *body;
        usec_t timeout;
        const char *ca_file;     /* NULL: the system store */
        size_t response_max;     /* 0: discard the body */
} HttpPostOptions;
int http_post_ex(HttpClient *c, const HttpPostOptions *o, http_done_t cb, void *userdata, HttpRequest **ret);
/* The same POST run to completion in the calling thread, never the loop's
 * (a worker: credentials' exchange, see docs/decisions.md): a private multi
 * handle driven by curl_multi_poll(); the callback runs in this thread
 * before it returns. Returns 0 once the callback ran, -ECANCELED when
 * http_abort() stopped it first (no callback), or another negative errno
 * (no callback). http_abort() may be called from any thread, before or
 * during the transfer; it wakes the poll at once. */
typedef struct HttpAbort HttpAbort;
HttpAbort *http_abort_new(void);
HttpAbort *http_abort_free(HttpAbort *a);
void http_abort(HttpAbort *a);
int http_post_sync(const HttpPostOptions *o, HttpAbort *a, http_done_t cb, void *userdata);

/* During the callback: the reply body (NUL-terminated, truncated at
 * response_max; *truncated set) and a reply header's value (last one wins;
 * NULL if absent). */
const char *http_request_body(HttpRequest *r, size_t *len, bool *truncated);
const char *http_request_header(HttpRequest *r, const char *name);
/* Seconds the transfer took (curl's total time), during the callback. */
double http_request_total_time(HttpRequest *r);
void http_request_cancel(HttpRequest *r);
size_t http_client_pending(const HttpClient *c);

/* "https://host:port" of a URL, for log lines: paths and queries of webhook
 * URLs often embed tokens (Slack), so they are never logged. */
char *http_url_redact(const char *url);
