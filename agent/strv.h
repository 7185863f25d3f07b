/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include "macro.h"

/* NULL-terminated string vectors, the shape argv and environment come in. */
size_t strv_length(char *const *l);
char **strv_free(char **l);
char **strv_copy(char *const *l);
int strv_push(char ***l, char *value);            /* takes ownership of value */
int strv_extend(char ***l, const char *value);    /* copies value */
int strv_extendf(char ***l, const char *fmt, ...) _printf_(2, 3);
bool strv_contains(char *const *l, const char *s);
bool strv_equal(char *const *a, char *const *b);
char *strv_join(char *const *l, const char *sep);

char *strprintf(const char *fmt, ...) _printf_(1, 2); /* asprintf that returns the string, NULL on OOM */

/* free and return NULL: p = mfree_str(p) */
static inline char *mfree_str(char *s) {
        free(s);
        return NULL;
}

static inline void strv_freep(char ***l) {
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
#define STRV_FOREACH(s, l) for (char *const *s = (l); s && *s; s++)

/* Growing string buffer for building lines without a dozen asprintf()s. */
typedef struct Buf {
        char *data;
        size_t len, cap;
        bool oom; /* sticky: once an append failed, the content is incomplete */
} Buf;

void buf_append(Buf *b, const char *s, size_t n);
void buf_puts(Buf *b, const char *s);
void buf_printf(Buf *b, const char *fmt, ...) _printf_(2, 3);
void buf_vprintf(Buf *b, const char *fmt, va_list ap) _printf_(2, 0);
void buf_consume(Buf *b, size_t n); /* drop n bytes from the front */
char *buf_steal(Buf *b);            /* NUL-terminated, NULL on OOM; resets b */
void buf_done(Buf *b);
