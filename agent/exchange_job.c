/* SPDX-License-Identifier: MIT */
#include "exchange_job.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>

#include "credentials.h"
#include "log.h"

struct ExchangeJob {
        sd_event_source *source; /* the eventfd on the loop */
        int efd;
        pthread_t thread;
        bool thread_started;
        atomic_bool finished;    /* release by the worker, acquire by the loop */
        HttpAbort *abort;
        exchange_job_done_t cb;
        void *userdata;

        /* the worker's input: its own copies and references */
        RaParams p;
        char *endpoint, *region, *trust_anchor_arn, *profile_arn, *role_arn, *role_session_name, *intermediates,
                *ca_file;
        X509 *cert;
        EVP_PKEY *key;
        STACK_OF(X509) *chain;
        usec_t timeout, delay;
        unsigned generation;

        /* the worker's output, read by the loop only after `finished` */
        int r;                /* < 0: failed before the transfer; 1: transferred */
        const char *why;      /* static text, or why_buf */
        char *why_buf;
        int parsed;
        RaCredentials creds;  /* secret: wiped in exchange_job_free */
        RaError err;
        uint64_t sign_usec;
};

static uint64_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* http.c callback, in the worker: keep only the parsed result */
static void on_reply(HttpRequest *r, int error, long status, const char *message, void *userdata) {
        ExchangeJob *j = userdata;
        j->parsed = credentials_parse_reply(r, error, status, message, &j->creds, &j->err);
        j->r = 1;
}

static void work(ExchangeJob *j) {
        _cleanup_(ra_request_done) RaRequest rq = {};
        STACK_OF(X509) *chain = TAKE_PTR(j->chain);
        uint64_t t0;

        if (j->delay > 0) {
                struct timespec ts = { .tv_sec = (time_t) (j->delay / USEC_PER_SEC),
                                       .tv_nsec = (long) (j->delay % USEC_PER_SEC) * 1000 };
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
        }
        t0 = mono_usec();
        j->r = chain ? 0 : credentials_load_intermediates(j->intermediates, &chain, &j->why_buf);
        if (j->r < 0) {
                j->why = j->why_buf;
                j->r = -ENOENT; /* a file problem, told apart from a key problem (-EINVAL) */
        } else
                j->r = ra_request_build(&j->p, j->cert, chain, j->key, &rq, &j->why);
        if (chain)
                sk_X509_pop_free(chain, X509_free);
        j->sign_usec = mono_usec() - t0;
        if (j->r < 0)
                return;

        HttpPostOptions o = {
                .url = rq.url, .headers = rq.headers, .body = rq.body, .timeout = j->timeout,
                .ca_file = j->ca_file, .response_max = CREDENTIALS_REPLY_MAX,
        };
        int k = http_post_sync(&o, j->abort, on_reply, j);
        if (k < 0) {
                j->r = k;
                j->why = k == -EOPNOTSUPP ? "libcurl (libcurl4) is not installed"
                         : k == -ECANCELED ? "cancelled"
                                           : "cannot start the HTTP request";
        }
}

static void signal_done(ExchangeJob *j) {
        uint64_t one = 1;
        atomic_store_explicit(&j->finished, true, memory_order_release);
        /* an eventfd write only fails when the counter would overflow */
        ssize_t n = write(j->efd, &one, sizeof(one));
        (void) n;
}

static void *worker(void *userdata) {
        ExchangeJob *j = userdata;
        (void) pthread_setname_np(pthread_self(), "agv-exchange"); /* prctl here, not /proc writes on the loop */
        work(j);
        signal_done(j);
        return NULL;
}

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExchangeJob *j = userdata;
        uint64_t v;
        ssize_t n = read(fd, &v, sizeof(v));

        (void) n;
        if (!atomic_load_explicit(&j->finished, memory_order_acquire))
                return 0;
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF); /* once */
        /* it said it is done, but may not have exited yet: a blocking join
         * here would wait for the scheduler (measured: up to a few ms) */
        if (j->thread_started && pthread_tryjoin_np(j->thread, NULL) == 0)
                j->thread_started = false;
        if (j->cb)
                j->cb(j, j->userdata);
        return 0;
}

static int dup_str(char **dst, const char **field, const char *src) {
        *field = NULL;
        if (!src)
                return 0;
        *dst = strdup(src);
        if (!*dst)
                return -ENOMEM;
        *field = *dst;
        return 0;
}

int exchange_job_start(sd_event *e, const ExchangeJobInput *in, exchange_job_done_t cb, void *userdata,
                       ExchangeJob **ret) {
        _cleanup_(exchange_job_freep) ExchangeJob *j = NULL;
        const char *unused;
        sigset_t all, old;
        int r;

        j = calloc(1, sizeof(ExchangeJob));
        if (!j)
                return -ENOMEM;
        j->efd = -EBADF;
        j->cb = cb;
        j->userdata = userdata;
        j->p = in->params;
        if (dup_str(&j->endpoint, &j->p.endpoint, in->params.endpoint) < 0 ||
            dup_str(&j->region, &j->p.region, in->params.region) < 0 ||
            dup_str(&j->trust_anchor_arn, &j->p.trust_anchor_arn, in->params.trust_anchor_arn) < 0 ||
            dup_str(&j->profile_arn, &j->p.profile_arn, in->params.profile_arn) < 0 ||
            dup_str(&j->role_arn, &j->p.role_arn, in->params.role_arn) < 0 ||
            dup_str(&j->role_session_name, &j->p.role_session_name, in->params.role_session_name) < 0 ||
            dup_str(&j->intermediates, &unused, in->intermediates) < 0 ||
            dup_str(&j->ca_file, &unused, in->ca_file) < 0)
                return -ENOMEM;
        j->abort = http_abort_new();
        if (!j->abort)
                return -ENOMEM;
        if (!X509_up_ref(in->cert))
                return -EIO;
        j->cert = in->cert;
        if (!EVP_PKEY_up_ref(in->key))
                return -EIO;
        j->key = in->key;
        if (in->chain) {
                j->chain = X509_chain_up_ref(in->chain);
                if (!j->chain)
                        return -ENOMEM;
        }
        j->timeout = in->timeout;
        j->delay = in->delay;
        j->generation = in->generation;

        j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (j->efd < 0)
                return -errno;
        r = sd_event_add_io(e, &j->source, j->efd, EPOLLIN, on_event, j);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(j->source, "credentials-exchange");

        /* the worker takes no signal: they are the loop's (signalfd) */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&j->thread, NULL, worker, j);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                /* no thread to be had (RLIMIT_NPROC, memory): the exchange
                 * fails like a network error and is retried with backoff */
                return log_warning_errno(r, "Cannot start the credentials exchange thread");
        j->thread_started = true;
        *ret = TAKE_PTR(j);
        return 0;
}

void exchange_job_abort(ExchangeJob *j) {
        if (j && j->abort)
                http_abort(j->abort);
}

/* Workers that reported but had not exited when their job was freed;
 * joined later without waiting (exchange_job_reap). Loop thread only. */
static pthread_t *exited;
static size_t n_exited;

void exchange_job_reap(bool wait) {
        for (size_t i = 0; i < n_exited;)
                if ((wait ? pthread_join(exited[i], NULL) : pthread_tryjoin_np(exited[i], NULL)) == 0)
                        exited[i] = exited[--n_exited];
                else
                        i++;
        if (n_exited == 0) {
                free(exited);
                exited = NULL;
        }
}

ExchangeJob *exchange_job_free(ExchangeJob *j) {
        if (!j)
                return NULL;
        if (j->thread_started) {
                pthread_t *a = atomic_load(&j->finished) ? reallocarray(exited, n_exited + 1, sizeof(pthread_t)) : NULL;
                if (a) {
                        exited = a;
                        exited[n_exited++] = j->thread;
                } else {
                        exchange_job_abort(j);
                        (void) pthread_join(j->thread, NULL); /* shutdown: waits for a signature under way */
                }
        }
        sd_event_source_disable_unref(j->source);
        if (j->efd >= 0)
                close(j->efd);
        http_abort_free(j->abort);
        ra_credentials_done(&j->creds);
        ra_error_done(&j->err);
        free(j->why_buf);
        X509_free(j->cert);
        EVP_PKEY_free(j->key);
        if (j->chain)
                sk_X509_pop_free(j->chain, X509_free);
        free(j->endpoint);
        free(j->region);
        free(j->trust_anchor_arn);
        free(j->profile_arn);
        free(j->role_arn);
        free(j->role_session_name);
        free(j->intermediates);
        free(j->ca_file);
        free(j);
        return NULL;
}

int exchange_job_result(ExchangeJob *j, const char **why, int *parsed, RaCredentials *creds, RaError *err) {
        *why = j->why;
        if (j->r < 0)
                return j->r;
        *parsed = j->parsed;
        *creds = j->creds;
        j->creds = (RaCredentials) {};
        *err = j->err;
        j->err = (RaError) {};
        return 1;
}

unsigned exchange_job_generation(const ExchangeJob *j) {
        return j->generation;
}

uint64_t exchange_job_sign_usec(const ExchangeJob *j) {
        return j->sign_usec;
}
