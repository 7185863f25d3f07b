/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* Read a whole regular file of at most max bytes (NUL-terminated copy in
 * *ret). -EBADFD: not a regular file (FIFO, device, directory); -EFBIG:
 * larger than max, or it grew past max while being read. Linked into the
 * lean executable: libc only. */
int read_regular_file(const char *path, size_t max, char **ret, size_t *len);
