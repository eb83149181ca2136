/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers private to the cvd library. */
#ifndef CVD_UTIL_H
#define CVD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "num.h"  /* numbers and hex */

/* snprintf into err (if any); always returns code, for `return seterr(...)`. */
int cvd_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Copy at most size-1 bytes and NUL-terminate; returns false if cut. */
bool cvd_strlcpy(char *dst, const char *src, size_t size);

/* Every byte of s[0..n) is of ClamAV's base-64 alphabet ([a-zA-Z0-9+/]). */
bool cvd_is_b64(const char *s, size_t n);

#endif
