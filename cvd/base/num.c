/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Numbers and hex from text: one implementation, strict by default. */
#include <string.h>
#include <strings.h>

#include "num.h"

enum num_rc
num_prefix_u64(const char *s, size_t n, size_t *used, uint64_t *out)
{
	uint64_t v = 0;
	bool over = false;
	size_t i;

	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (over || v > (UINT64_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	*used = i;
	*out = v;
	if (i == 0)
		return NUM_SYNTAX;
	return over ? NUM_RANGE : NUM_OK;
}

enum num_rc
num_u64(const char *s, size_t n, unsigned flags, uint64_t *out)
{
	size_t used;
	uint64_t v;
	enum num_rc rc = num_prefix_u64(s, n, &used, &v);

	if (rc == NUM_SYNTAX || used != n)
		return NUM_SYNTAX;
	if ((flags & NUM_CANONICAL) && n > 1 && s[0] == '0')
		return NUM_SYNTAX;
	if (rc == NUM_OK)
		*out = v;
	return rc;
}

enum num_rc
num_i64(const char *s, size_t n, unsigned flags, int64_t *out)
{
	bool neg = n > 0 && s[0] == '-';
	uint64_t v, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	enum num_rc rc = num_u64(s + neg, n - neg, flags, &v);

	if (rc != NUM_OK)
		return rc;
	if (neg && v == 0 && (flags & NUM_CANONICAL))
		return NUM_SYNTAX;
	if (v > lim)
		return NUM_RANGE;
	if (!neg)
		*out = (int64_t)v;
	else
		*out = v == lim ? INT64_MIN : -(int64_t)v;
	return NUM_OK;
}

/* Digits then a suffix from a table: v times the suffix's factor. */
struct num_unit {
	const char *name;
	uint64_t factor;
};

static enum num_rc
num_with_unit(const char *s, size_t n, const struct num_unit *units,
    size_t nunits, bool anycase, uint64_t *out)
{
	size_t used;
	uint64_t v;
	enum num_rc rc = num_prefix_u64(s, n, &used, &v);

	if (rc == NUM_SYNTAX)
		return rc;
	for (size_t i = 0; i < nunits; i++) {
		if (strlen(units[i].name) != n - used ||
		    (anycase ? strncasecmp(units[i].name, s + used, n - used) :
		    memcmp(units[i].name, s + used, n - used)) != 0)
			continue;
		if (rc == NUM_RANGE || v > UINT64_MAX / units[i].factor)
			return NUM_RANGE;
		*out = v * units[i].factor;
		return NUM_OK;
	}
	return NUM_SYNTAX;
}

enum num_rc
num_duration_ms(const char *s, size_t n, uint64_t *out)
{
	static const struct num_unit units[] = { { "", 1000 }, { "ms", 1 },
		{ "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };

	return num_with_unit(s, n, units, sizeof(units) / sizeof(units[0]),
	    false, out);
}

enum num_rc
num_size(const char *s, size_t n, uint64_t *out)
{
	static const struct num_unit units[] = { { "", 1 }, { "k", 1u << 10 },
		{ "m", 1u << 20 }, { "g", 1u << 30 } };

	return num_with_unit(s, n, units, sizeof(units) / sizeof(units[0]),
	    true, out);
}

int
num_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum num_rc
num_hex_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return NUM_SYNTAX;
	for (size_t i = 0; i < n; i++) {
		int d = num_hexval((unsigned char)s[i]);

		if (d < 0)
			return NUM_SYNTAX;
		if (v > (UINT64_MAX >> 4))
			return NUM_RANGE;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return NUM_OK;
}

bool
num_unhex(const char *s, size_t nbytes, unsigned flags, uint8_t *out)
{
	for (size_t i = 0; i < 2 * nbytes; i++) {
		int v = num_hexval((unsigned char)s[i]);

		if (v < 0 || ((flags & NUM_HEX_LOWER) && s[i] >= 'A' &&
		    s[i] <= 'F'))
			return false;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return true;
}

void
num_hex(const uint8_t *p, size_t nbytes, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * nbytes] = '\0';
}
