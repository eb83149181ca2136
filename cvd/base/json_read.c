/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON reader (json_read.h): jansson plus surrogateescape. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_read.h"

/* a text we read at all: the prepass doubles it at most */
#define JSONR_TEXT_MAX (SIZE_MAX / 4)
#define JSONR_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY)

static int
jsonr_hex4(const char *p, unsigned *v)
{
	unsigned x = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		x <<= 4;
		if (c >= '0' && c <= '9')
			x |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			x |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*v = x;
	return 0;
}

/*
 * The \u escape at s[i] (s[i] is the backslash, s[i + 1] 'u', four hex
 * digits follow): what jansson gets instead.  \u0000 becomes \u0000\u0000
 * and a lone \udcNN (NN 80..ff, not the second half of a pair) becomes
 * \u0000\u00NN: jansson rejects lone surrogates but reads a NUL; the
 * pair NUL+x is undone by jsonr_unescape.  Returns the bytes written.
 */
static size_t
jsonr_rewrite_u(const char *s, unsigned v, bool after_high, char *out)
{
	if (v == 0) {
		memcpy(out, "\\u0000\\u0000", 12);
		return 12;
	}
	if (v >= 0xdc80 && v <= 0xdcff && !after_high) {
		memcpy(out, "\\u0000\\u00", 10);
		memcpy(out + 10, s + 4, 2);
		return 12;
	}
	memcpy(out, s, 6);
	return 6;
}

/* s with its \u escapes rewritten (above) into a new buffer of *outlen
 * bytes; NULL if out of memory. */
static char *
jsonr_prepass(const char *s, size_t len, size_t *outlen)
{
	char *out = calloc(2 * len + 1, 1);
	bool in_str = false, after_high = false;
	size_t i = 0, o = 0;
	unsigned v;

	if (out == NULL)
		return NULL;
	while (i < len) {
		if (!in_str || (s[i] != '\\' && s[i] != '"')) {
			in_str = in_str || s[i] == '"';
			out[o++] = s[i++];
			after_high = false;
		} else if (s[i] == '"') {
			in_str = false;
			out[o++] = s[i++];
		} else if (len - i >= 6 && s[i + 1] == 'u' &&
		    jsonr_hex4(s + i + 2, &v) == 0) {
			o += jsonr_rewrite_u(s + i, v, after_high, out + o);
			after_high = v >= 0xd800 && v <= 0xdbff;
			i += 6;
		} else {
			/* another escape, or a bad one jansson will refuse */
			out[o++] = s[i++];
			if (i < len)
				out[o++] = s[i++];
			after_high = false;
		}
	}
	*outlen = o;
	return out;
}

/* A string with the prepass's NUL pairs: back to the bytes; -1 if a NUL
 * is followed by anything the prepass does not write. */
static int
jsonr_unescape_str(json_t *v)
{
	const unsigned char *p = (const unsigned char *)json_string_value(v);
	size_t n = json_string_length(v), i, o = 0;
	unsigned char *buf;
	int rc = -1;

	if (memchr(p, '\0', n) == NULL)
		return 0;
	if ((buf = malloc(n)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] != '\0') {
			buf[o++] = p[i];
		} else if (i + 1 < n && p[i + 1] == '\0') {
			buf[o++] = 0;
			i++;
		} else if (i + 2 < n && (p[i + 1] == 0xc2 || p[i + 1] == 0xc3) &&
		    (p[i + 2] & 0xc0) == 0x80) {
			buf[o++] = (unsigned char)(((p[i + 1] & 0x03) << 6) |
			    (p[i + 2] & 0x3f));
			i += 2;
		} else {
			goto out;
		}
	}
	rc = json_string_setn_nocheck(v, (const char *)buf, o);
out:
	free(buf);
	return rc;
}

/* Every string in v through jsonr_unescape_str; depth is bounded by
 * jansson's parser (JSON_PARSER_MAX_DEPTH). */
static int
jsonr_unescape(json_t *v)
{
	const char *key;
	json_t *m;
	size_t i;

	if (json_is_string(v))
		return jsonr_unescape_str(v);
	if (json_is_object(v)) {
		json_object_foreach(v, key, m)
			if (jsonr_unescape(m) != 0)
				return -1;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			if (jsonr_unescape(m) != 0)
				return -1;
	}
	return 0;
}

json_t *
jsonr_loadb(const char *s, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *v = NULL;
	char *pre = NULL;
	size_t plen = len;

	if (len > JSONR_TEXT_MAX) {
		snprintf(err, errlen, "longer than %zu bytes", (size_t)JSONR_TEXT_MAX);
		return NULL;
	}
	if (memmem(s, len, "\\u", 2) != NULL) {
		if ((pre = jsonr_prepass(s, len, &plen)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		s = pre;
	}
	v = json_loadb(s, plen, JSONR_FLAGS, &je);
	if (v == NULL)
		snprintf(err, errlen, "line %d column %d: %s", je.line,
		    je.column, je.text);
	else if (pre != NULL && jsonr_unescape(v) != 0) {
		snprintf(err, errlen, "a NUL escape in a string that cannot be read back");
		json_decref(v);
		v = NULL;
	}
	free(pre);
	return v;
}

json_t *
jsonr_object(const char *s, size_t len, char *err, size_t errlen)
{
	json_t *v = jsonr_loadb(s, len, err, errlen);

	if (v != NULL && !json_is_object(v)) {
		snprintf(err, errlen, "not a JSON object");
		json_decref(v);
		v = NULL;
	}
	return v;
}

const char *
jsonr_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

bool
jsonr_int(const json_t *o, const char *key, int64_t *v)
{
	const json_t *m = json_object_get(o, key);

	if (!json_is_integer(m))
		return false;
	*v = (int64_t)json_integer_value(m);
	return true;
}

bool
jsonr_true(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}
