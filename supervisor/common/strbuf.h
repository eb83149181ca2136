/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A growable, capped text buffer (curl's dynbuf idea): appends either fit
 * under the cap or set the buffer's "toobig" flag and change nothing
 * more, so a caller can build a whole reply and check once at the end.
 * The text is always NUL-terminated; sb->len excludes the NUL.
 */
#ifndef AMPSCAN_STRBUF_H
#define AMPSCAN_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
	char *buf;          /* NULL until the first append */
	size_t len;
	size_t cap;         /* allocated */
	size_t max;         /* the cap on len */
	bool failed;        /* an append did not fit or allocation failed */
};

/* An empty buffer that will hold at most max bytes. */
void strbuf_init(struct strbuf *sb, size_t max);
void strbuf_free(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
/* The text ("" when empty); valid until the next append. */
const char *strbuf_str(const struct strbuf *sb);

void strbuf_append(struct strbuf *sb, const void *data, size_t len);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A jsonw_put_fn (json.h): arg is the struct strbuf. */
void strbuf_sink(void *arg, const void *data, size_t len);

/*
 * snprintf for messages where cutting is the intent (a path in a log
 * line, a detail in a fixed field): always NUL-terminated, never
 * overflows; the compiler's truncation warning does not apply.
 */
void str_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The error-return idiom of the supervisor's modules: format into err
 * (when there is room), keep errno, return code.
 */
int str_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
