/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the libFuzzer harnesses (docs/fuzzing.md). A harness defines
 * LLVMFuzzerTestOneInput; FUZZ_CHECK aborts on a broken invariant so
 * libFuzzer keeps the input as a crash, exactly like a sanitizer report. */

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                          \
        do {                                                                                      \
                if (!(cond)) {                                                                    \
                        fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
                        abort();                                                                  \
                }                                                                                 \
        } while (0)

/* Split data at the next occurrence of `sep` (a string), like strsep on a
 * buffer: returns the part before it and advances data and size past it; the
 * last part has no separator. */
static inline const uint8_t *fuzz_next_part(const uint8_t **data, size_t *size, const char *sep, size_t *len) {
        const uint8_t *start = *data;
        size_t l = strlen(sep);
        const uint8_t *hit = *size >= l ? memmem(start, *size, sep, l) : NULL;

        if (!hit) {
                *len = *size;
                *data += *size;
                *size = 0;
                return start;
        }
        *len = (size_t) (hit - start);
        *size -= *len + l;
        *data = hit + l;
        return start;
}

/* A private temp directory for harnesses that feed files (config, state
 * file), removed with everything in it at exit. Aborts when it cannot be
 * made: a harness without it would test nothing. */
static inline char *fuzz_dir(void) {
        static char d[256];
        return d;
}

static inline int fuzz_rm_one(const char *p, const struct stat *s, int flag, struct FTW *f) {
        return remove(p) < 0 ? -1 : 0;
}
static inline void fuzz_rm_dir(void) {
        if (fuzz_dir()[0])
                (void) nftw(fuzz_dir(), fuzz_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}
static inline const char *fuzz_make_dir(const char *name) {
        const char *t = getenv("TMPDIR");
        char *d = fuzz_dir();
        snprintf(d, 256, "%s/agv-fuzz-%s.XXXXXX", t && *t ? t : "/tmp", name);
        if (!mkdtemp(d))
                abort();
        atexit(fuzz_rm_dir);
        return d;
}
