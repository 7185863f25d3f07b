/* SPDX-License-Identifier: MIT */
#pragma once

#include <curl/curl.h>

/* libcurl is loaded with dlopen() on first use, the way systemd loads its
 * optional libraries: the CLI verbs and an agent with no webhook or
 * Alertmanager configured never map libcurl and its two dozen dependencies
 * (startup time of `agv-agent status`, idle memory). http.c calls these
 * sym_ pointers instead of the functions. */

int dlopen_curl(void); /* 0, or -EOPNOTSUPP (logged) when libcurl.so.4 is missing */

extern CURLcode (*sym_curl_global_init)(long flags);
extern void (*sym_curl_global_cleanup)(void);
extern CURL *(*sym_curl_easy_init)(void);
extern void (*sym_curl_easy_cleanup)(CURL *curl);
extern CURLcode (*sym_curl_easy_setopt)(CURL *curl, CURLoption option, ...);
extern CURLcode (*sym_curl_easy_getinfo)(CURL *curl, CURLINFO info, ...);
extern const char *(*sym_curl_easy_strerror)(CURLcode code);
extern struct curl_slist *(*sym_curl_slist_append)(struct curl_slist *list, const char *s);
extern void (*sym_curl_slist_free_all)(struct curl_slist *list);
extern CURLM *(*sym_curl_multi_init)(void);
extern CURLMcode (*sym_curl_multi_cleanup)(CURLM *multi);
extern CURLMcode (*sym_curl_multi_setopt)(CURLM *multi, CURLMoption option, ...);
extern CURLMcode (*sym_curl_multi_add_handle)(CURLM *multi, CURL *easy);
extern CURLMcode (*sym_curl_multi_remove_handle)(CURLM *multi, CURL *easy);
extern CURLMcode (*sym_curl_multi_assign)(CURLM *multi, curl_socket_t fd, void *p);
extern CURLMcode (*sym_curl_multi_socket_action)(CURLM *multi, curl_socket_t fd, int ev, int *running);
extern CURLMsg *(*sym_curl_multi_info_read)(CURLM *multi, int *msgs_in_queue);
extern CURLMcode (*sym_curl_multi_perform)(CURLM *multi, int *running);
extern CURLMcode (*sym_curl_multi_poll)(CURLM *multi, struct curl_waitfd extra_fds[], unsigned extra_nfds,
                                        int timeout_ms, int *ret);
extern CURLMcode (*sym_curl_multi_wakeup)(CURLM *multi);
