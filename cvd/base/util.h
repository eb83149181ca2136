/* Small helpers private to the cvd library. */
#ifndef CVD_UTIL_H
#define CVD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* snprintf into err (if any); always returns code, for `return seterr(...)`. */
int cvd_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parse an unsigned decimal of exactly len bytes; false on junk/overflow. */
bool cvd_parse_u64(const char *s, size_t len, uint64_t *out);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void cvd_hex(const uint8_t *p, size_t n, char *out);

/* A hex digit's value (either case), or -1. */
int cvd_hexval(int c);

/* Decode 2n hex digits (either case) into n bytes; false on a non-digit. */
bool cvd_unhex(const char *s, size_t n, uint8_t *out);

/* Copy at most size-1 bytes and NUL-terminate; returns false if cut. */
bool cvd_strlcpy(char *dst, const char *src, size_t size);

/* Every byte of s[0..n) is of ClamAV's base-64 alphabet ([a-zA-Z0-9+/]). */
bool cvd_is_b64(const char *s, size_t n);

#endif
