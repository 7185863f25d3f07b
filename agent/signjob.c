/* SPDX-License-Identifier: MIT */
#include "signjob.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>

#include "credentials.h"
#include "log.h"

struct SignJob {
        sd_event_source *source; /* the eventfd on the loop */
        int efd;
        pthread_t thread;
        bool thread_started;
        atomic_bool finished;    /* release by the worker, acquire by the loop */
        sign_job_done_t cb;
        void *userdata;

        /* the worker's input: its own copies and references */
        RaParams p;
        char *endpoint, *region, *trust_anchor_arn, *profile_arn, *role_arn, *role_session_name, *intermediates;
        X509 *cert;
        EVP_PKEY *key;
        STACK_OF(X509) *chain;
        unsigned generation;
        usec_t delay;
        void (*prepare)(void);

        /* the worker's output, read by the loop only after `finished` */
        int r;
        RaRequest rq;
        const char *why;      /* static text from ra_request_build, or why_buf */
        char *why_buf;
        uint64_t duration;
};

static uint64_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void work(SignJob *j) {
        STACK_OF(X509) *chain = TAKE_PTR(j->chain);
        uint64_t t0;

        if (j->delay > 0) {
                struct timespec ts = { .tv_sec = (time_t) (j->delay / USEC_PER_SEC),
                                       .tv_nsec = (long) (j->delay % USEC_PER_SEC) * 1000 };
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
        }
        if (j->prepare)
                j->prepare();
        t0 = mono_usec();
        j->r = chain ? 0 : credentials_load_intermediates(j->intermediates, &chain, &j->why_buf);
        if (j->r < 0) {
                j->why = j->why_buf;
                j->r = -ENOENT; /* the caller tells a file problem from a key problem (-EINVAL) */
        } else
                j->r = ra_request_build(&j->p, j->cert, chain, j->key, &j->rq, &j->why);
        if (chain)
                sk_X509_pop_free(chain, X509_free);
        j->duration = mono_usec() - t0;
}

static void signal_done(SignJob *j) {
        uint64_t one = 1;
        atomic_store_explicit(&j->finished, true, memory_order_release);
        /* an eventfd write only fails when the counter would overflow */
        ssize_t n = write(j->efd, &one, sizeof(one));
        (void) n;
}

static void *worker(void *userdata) {
        SignJob *j = userdata;
        work(j);
        signal_done(j);
        return NULL;
}

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        SignJob *j = userdata;
        uint64_t v;
        ssize_t n = read(fd, &v, sizeof(v));

        (void) n;
        if (!atomic_load_explicit(&j->finished, memory_order_acquire))
                return 0;
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF); /* once */
        if (j->thread_started) {
                (void) pthread_join(j->thread, NULL); /* it has finished: does not wait */
                j->thread_started = false;
        }
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

int sign_job_start(sd_event *e, const SignJobInput *in, sign_job_done_t cb, void *userdata, SignJob **ret) {
        _cleanup_(sign_job_freep) SignJob *j = NULL;
        const char *unused;
        sigset_t all, old;
        int r;

        j = calloc(1, sizeof(SignJob));
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
            dup_str(&j->intermediates, &unused, in->intermediates) < 0)
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
        j->generation = in->generation;
        j->delay = in->delay;
        j->prepare = in->prepare;

        j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (j->efd < 0)
                return -errno;
        r = sd_event_add_io(e, &j->source, j->efd, EPOLLIN, on_event, j);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(j->source, "credentials-sign");

        /* the worker takes no signal: they are the loop's (signalfd) */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&j->thread, NULL, worker, j);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                /* no thread to be had (RLIMIT_NPROC, memory): sign here, the
                 * exchange must not fail for it */
                log_warning_errno(r, "Cannot start a signing thread; signing on the event loop");
                work(j);
                signal_done(j);
        } else {
                j->thread_started = true;
                (void) pthread_setname_np(j->thread, "agv-sign");
        }
        *ret = TAKE_PTR(j);
        return 0;
}

SignJob *sign_job_free(SignJob *j) {
        if (!j)
                return NULL;
        if (j->thread_started)
                (void) pthread_join(j->thread, NULL); /* shutdown only: waits for the signature */
        sd_event_source_disable_unref(j->source);
        if (j->efd >= 0)
                close(j->efd);
        ra_request_done(&j->rq);
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
        free(j);
        return NULL;
}

int sign_job_result(SignJob *j, const RaRequest **ret, const char **why) {
        *ret = j->r >= 0 ? &j->rq : NULL;
        *why = j->why;
        return j->r;
}

unsigned sign_job_generation(const SignJob *j) {
        return j->generation;
}

uint64_t sign_job_duration(const SignJob *j) {
        return j->duration;
}
