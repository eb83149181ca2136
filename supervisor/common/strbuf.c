#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

void
strbuf_init(struct strbuf *sb, size_t max)
{
	memset(sb, 0, sizeof(*sb));
	sb->max = max;
}

void
strbuf_free(struct strbuf *sb)
{
	free(sb->buf);
	strbuf_init(sb, sb->max);
}

void
strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->failed = false;
	if (sb->buf != NULL)
		sb->buf[0] = '\0';
}

const char *
strbuf_str(const struct strbuf *sb)
{
	return sb->buf != NULL ? sb->buf : "";
}

/* Room for need more bytes plus the NUL; false (and failed) if not. */
static bool
strbuf_room(struct strbuf *sb, size_t need)
{
	size_t want, ncap;
	char *p;

	if (sb->failed || need > sb->max - sb->len)
		goto fail;
	want = sb->len + need + 1;
	if (want <= sb->cap)
		return true;
	ncap = sb->cap ? sb->cap : 256;
	while (ncap < want)
		ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
	if ((p = realloc(sb->buf, ncap)) == NULL)
		goto fail;
	sb->buf = p;
	sb->cap = ncap;
	return true;
fail:
	sb->failed = true;
	return false;
}

void
strbuf_append(struct strbuf *sb, const void *data, size_t len)
{
	if (!strbuf_room(sb, len))
		return;
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void
strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

void
strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !strbuf_room(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (at most left bytes), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t left)
{
	size_t n, i;
	unsigned cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void
strbuf_json_strn(struct strbuf *sb, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	static const char short_esc[] = "\n\r\t\b\f";
	const char *c;
	size_t i = 0, n;
	char esc[8];

	strbuf_append(sb, "\"", 1);
	while (i < len) {
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			strbuf_append(sb, esc, 2);
			i++;
		} else if ((c = memchr(short_esc, p[i], 5)) != NULL) {
			esc[0] = '\\';
			esc[1] = "nrtbf"[c - short_esc];
			strbuf_append(sb, esc, 2), i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
			strbuf_append(sb, esc, 6), i++;
		} else if (p[i] < 0x80) {
			strbuf_append(sb, p + i, 1), i++;
		} else if ((n = utf8_len(p + i, len - i)) == 3 && p[i] == 0xe2 &&
		    p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
			/* U+2028, U+2029: line breaks to JavaScript */
			strbuf_append(sb, p[i + 2] == 0xa8 ? "\\u2028" :
			    "\\u2029", 6), i += 3;
		} else if (n > 0) {
			strbuf_append(sb, p + i, n), i += n;
		} else {
			strbuf_append(sb, "\\ufffd", 6), i++;
		}
	}
	strbuf_append(sb, "\"", 1);
}

void
strbuf_json_str(struct strbuf *sb, const char *s)
{
	strbuf_json_strn(sb, s, strlen(s));
}

void
str_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (len == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(buf, len, fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
}

int
str_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return code;
}
