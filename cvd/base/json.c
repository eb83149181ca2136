/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON writer (json.h). */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "json.h"

#define CONT(b) (((b) & 0xc0) == 0x80)

/*
 * Length of the valid UTF-8 sequence at p (at most n bytes), or 0.  The
 * second byte's range rules out overlong forms (e0, f0), surrogates
 * (ed) and code points above U+10FFFF (f4), as in RFC 3629's grammar.
 */
static size_t
jsonw_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	if (len >= 3 && !CONT(p[2]))
		return 0;
	if (len == 4 && !CONT(p[3]))
		return 0;
	return len;
}

static void
jsonw_hex_escape(char out[JSONW_UNIT_MAX], unsigned hi, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	out[0] = '\\';
	out[1] = 'u';
	out[2] = hex[hi >> 4];
	out[3] = hex[hi & 0xf];
	out[4] = hex[c >> 4];
	out[5] = hex[c & 0xf];
}

/* The two-character escape of c, or 0. */
static char
jsonw_short_escape(unsigned char c)
{
	switch (c) {
	case '"': return '"';
	case '\\': return '\\';
	case '\n': return 'n';
	case '\t': return 't';
	case '\r': return 'r';
	case '\b': return 'b';
	case '\f': return 'f';
	default: return 0;
	}
}

size_t
jsonw_escape_unit(const unsigned char *s, size_t n, size_t i,
    char out[JSONW_UNIT_MAX], size_t *outlen)
{
	unsigned char c = s[i];
	size_t len;
	char e;

	if ((e = jsonw_short_escape(c)) != 0) {
		out[0] = '\\';
		out[1] = e;
		*outlen = 2;
		return 1;
	}
	if (c < 0x20 || c == 0x7f) {
		jsonw_hex_escape(out, 0x00, c);
		*outlen = 6;
		return 1;
	}
	if (c < 0x80) {
		out[0] = (char)c;
		*outlen = 1;
		return 1;
	}
	if ((len = jsonw_utf8_len(s + i, n - i)) == 0) {
		jsonw_hex_escape(out, 0xdc, c);   /* surrogateescape */
		*outlen = 6;
		return 1;
	}
	memcpy(out, s + i, len);
	*outlen = len;
	return len;
}

void
jsonw_escape(jsonw_put_fn put, void *arg, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	char unit[JSONW_UNIT_MAX];
	size_t i = 0, plain, ulen;

	put(arg, "\"", 1);
	while (i < n) {
		/* runs of plain ASCII go out in one call */
		for (plain = i; plain < n && p[plain] >= 0x20 && p[plain] < 0x7f &&
		    p[plain] != '"' && p[plain] != '\\'; plain++)
			;
		if (plain > i) {
			put(arg, p + i, plain - i);
			i = plain;
			continue;
		}
		i += jsonw_escape_unit(p, n, i, unit, &ulen);
		put(arg, unit, ulen);
	}
	put(arg, "\"", 1);
}

void
jsonw_put_file(void *arg, const void *data, size_t len)
{
	fwrite(data, 1, len, (FILE *)arg);
}

void
jsonw_init(struct jsonw *w, jsonw_put_fn put, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->put = put;
	w->arg = arg;
}

static uint64_t
jsonw_bit(const struct jsonw *w)
{
	return w->depth < JSONW_DEPTH_MAX ? UINT64_C(1) << w->depth : 0;
}

/* Before any value: the comma, unless it follows a key or comes first. */
static void
jsonw_sep(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->more & jsonw_bit(w))
		w->put(w->arg, ",", 1);
	w->more |= jsonw_bit(w);
}

static void
jsonw_open(struct jsonw *w, const char *c)
{
	jsonw_sep(w);
	w->put(w->arg, c, 1);
	w->depth++;
	w->more &= ~jsonw_bit(w);
}

static void
jsonw_close(struct jsonw *w, const char *c)
{
	if (w->depth > 0)
		w->depth--;
	w->after_key = false;
	w->put(w->arg, c, 1);
}

void
jsonw_obj_begin(struct jsonw *w)
{
	jsonw_open(w, "{");
}

void
jsonw_obj_end(struct jsonw *w)
{
	jsonw_close(w, "}");
}

void
jsonw_arr_begin(struct jsonw *w)
{
	jsonw_open(w, "[");
}

void
jsonw_arr_end(struct jsonw *w)
{
	jsonw_close(w, "]");
}

void
jsonw_key(struct jsonw *w, const char *key)
{
	jsonw_sep(w);
	jsonw_escape(w->put, w->arg, key, strlen(key));
	w->put(w->arg, ":", 1);
	w->after_key = true;
}

void
jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
	jsonw_sep(w);
	jsonw_escape(w->put, w->arg, s, n);
}

void
jsonw_str(struct jsonw *w, const char *s)
{
	jsonw_strn(w, s, strlen(s));
}

void
jsonw_str_or_null(struct jsonw *w, const char *s)
{
	if (s == NULL)
		jsonw_null(w);
	else
		jsonw_str(w, s);
}

void
jsonw_rawn(struct jsonw *w, const char *json, size_t n)
{
	jsonw_sep(w);
	w->put(w->arg, json, n);
}

void
jsonw_raw(struct jsonw *w, const char *json)
{
	jsonw_rawn(w, json, strlen(json));
}

void
jsonw_fixed(struct jsonw *w, double v, int decimals)
{
	/* sign, DBL_MAX's 309 digits, the point, the decimals, NUL */
	char buf[DBL_MAX_10_EXP + JSONW_DECIMALS_MAX + 8];

	if (!isfinite(v)) {
		jsonw_null(w);
		return;
	}
	if (decimals < 0)
		decimals = 0;
	if (decimals > JSONW_DECIMALS_MAX)
		decimals = JSONW_DECIMALS_MAX;
	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	jsonw_raw(w, buf);
}

void
jsonw_int(struct jsonw *w, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	jsonw_raw(w, buf);
}

void
jsonw_uint(struct jsonw *w, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	jsonw_raw(w, buf);
}

void
jsonw_bool(struct jsonw *w, bool v)
{
	jsonw_raw(w, v ? "true" : "false");
}

void
jsonw_null(struct jsonw *w)
{
	jsonw_raw(w, "null");
}

void
jsonw_key_str(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_str(w, s);
}

void
jsonw_key_str_or_null(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_str_or_null(w, s);
}

void
jsonw_key_int(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_int(w, v);
}

void
jsonw_key_uint(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_uint(w, v);
}

void
jsonw_key_bool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}

void
jsonw_key_int_or_null(struct jsonw *w, const char *key, bool has, int64_t v)
{
	jsonw_key(w, key);
	if (has)
		jsonw_int(w, v);
	else
		jsonw_null(w);
}
