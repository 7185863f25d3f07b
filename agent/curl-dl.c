/* SPDX-License-Identifier: MIT */
#include "curl-dl.h"

#include <dlfcn.h>

#include "log.h"
#include "macro.h"

CURLcode (*sym_curl_global_init)(long flags);
void (*sym_curl_global_cleanup)(void);
CURL *(*sym_curl_easy_init)(void);
void (*sym_curl_easy_cleanup)(CURL *curl);
CURLcode (*sym_curl_easy_setopt)(CURL *curl, CURLoption option, ...);
CURLcode (*sym_curl_easy_getinfo)(CURL *curl, CURLINFO info, ...);
const char *(*sym_curl_easy_strerror)(CURLcode code);
struct curl_slist *(*sym_curl_slist_append)(struct curl_slist *list, const char *s);
void (*sym_curl_slist_free_all)(struct curl_slist *list);
CURLM *(*sym_curl_multi_init)(void);
CURLMcode (*sym_curl_multi_cleanup)(CURLM *multi);
CURLMcode (*sym_curl_multi_setopt)(CURLM *multi, CURLMoption option, ...);
CURLMcode (*sym_curl_multi_add_handle)(CURLM *multi, CURL *easy);
CURLMcode (*sym_curl_multi_remove_handle)(CURLM *multi, CURL *easy);
CURLMcode (*sym_curl_multi_assign)(CURLM *multi, curl_socket_t fd, void *p);
CURLMcode (*sym_curl_multi_socket_action)(CURLM *multi, curl_socket_t fd, int ev, int *running);
CURLMsg *(*sym_curl_multi_info_read)(CURLM *multi, int *msgs_in_queue);
CURLMcode (*sym_curl_multi_perform)(CURLM *multi, int *running);
CURLMcode (*sym_curl_multi_poll)(CURLM *multi, struct curl_waitfd extra_fds[], unsigned extra_nfds, int timeout_ms,
                                 int *ret);
CURLMcode (*sym_curl_multi_wakeup)(CURLM *multi);

static void *curl_dl;

#define SYM(name) { #name, (void **) &sym_##name }

int dlopen_curl(void) {
        static const struct {
                const char *name;
                void **ptr;
        } syms[] = {
                SYM(curl_global_init),       SYM(curl_global_cleanup),     SYM(curl_easy_init),
                SYM(curl_easy_cleanup),      SYM(curl_easy_setopt),        SYM(curl_easy_getinfo),
                SYM(curl_easy_strerror),     SYM(curl_slist_append),       SYM(curl_slist_free_all),
                SYM(curl_multi_init),        SYM(curl_multi_cleanup),      SYM(curl_multi_setopt),
                SYM(curl_multi_add_handle),  SYM(curl_multi_remove_handle), SYM(curl_multi_assign),
                SYM(curl_multi_socket_action), SYM(curl_multi_info_read), SYM(curl_multi_perform),
                SYM(curl_multi_poll),        SYM(curl_multi_wakeup),
        };
        void *dl;

        if (curl_dl)
                return 0;
        dl = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
                log_error("Cannot load libcurl (%s): webhook and Alertmanager delivery are unavailable; "
                          "install the libcurl4 package", dlerror());
                return -EOPNOTSUPP;
        }
        for (size_t i = 0; i < ELEMENTSOF(syms); i++) {
                *syms[i].ptr = dlsym(dl, syms[i].name);
                if (!*syms[i].ptr) {
                        log_error("libcurl.so.4 lacks %s: %s", syms[i].name, dlerror());
                        dlclose(dl);
                        return -EOPNOTSUPP;
                }
        }
        curl_dl = dl; /* kept for the life of the process, like systemd does */
        return 0;
}
