/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the signature line parsers of cvd/sigs.c.
 *
 * Input: one selector byte, then the line (any bytes, no newline needed).
 * Selector byte:
 *   'h' .hdb    'H' .hsb    'n' .ndb    'f' .fp    's' .sfp    'i' .ign2
 *   'p' sig_ndb_pattern_check() on the bare HexSig
 * Any other byte b picks entry b % 7 of that list, in that order, so every
 * input exercises some parser.  Seeds: corpus/sig/, named <type>-<what>.
 *
 * Besides the sanitizers, it checks what the callers rely on: a known return
 * code, a NUL-terminated message on error, views inside the line, and that
 * a loadable .ndb line's pattern passes sig_ndb_pattern_check() alone.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ampscan/sigs.h"

#define FUZZ_ERRLEN 256
#define FUZZ_SHORT_ERRLEN 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { SEL_PATTERN = SIG_TYPE_OTHER };

static int
fuzz_select(uint8_t b)
{
	static const int order[] = {
		SIG_TYPE_HDB, SIG_TYPE_HSB, SIG_TYPE_NDB, SIG_TYPE_FP,
		SIG_TYPE_SFP, SIG_TYPE_IGN2, SEL_PATTERN,
	};

	switch (b) {
	case 'h':
		return SIG_TYPE_HDB;
	case 'H':
		return SIG_TYPE_HSB;
	case 'n':
		return SIG_TYPE_NDB;
	case 'f':
		return SIG_TYPE_FP;
	case 's':
		return SIG_TYPE_SFP;
	case 'i':
		return SIG_TYPE_IGN2;
	case 'p':
		return SEL_PATTERN;
	default:
		return order[b % (sizeof(order) / sizeof(order[0]))];
	}
}

static void
fuzz_check_err(const char *err, size_t errlen)
{
	if (memchr(err, '\0', errlen) == NULL || err[0] == '\0')
		abort();
}

static void
fuzz_check_view(struct sig_str v, const char *line, size_t len)
{
	if (v.p == NULL)
		return;
	if (v.p < line || v.len > len || (size_t)(v.p - line) > len - v.len)
		abort();
}

static void
fuzz_check_sig(const struct sig *s, const char *line, size_t len)
{
	char err[FUZZ_ERRLEN];

	fuzz_check_view(s->name, line, len);
	if (s->name.len == 0 || s->name.len > SIG_NAME_MAX)
		abort();
	if (s->type != SIG_TYPE_NDB) {
		if (s->type != SIG_TYPE_IGN2 && !s->flevel_skip &&
		    s->u.hash.digest_len != 16 && s->u.hash.digest_len != 20 &&
		    s->u.hash.digest_len != 32)
			abort();
		return;
	}
	fuzz_check_view(s->u.ndb.pattern, line, len);
	if (s->loadable && (s->u.ndb.offset_kind == SIG_OFF_OTHER ||
	    sig_ndb_pattern_check(s->u.ndb.pattern.p, s->u.ndb.pattern.len,
	    err, sizeof(err)) != 0))
		abort();
}

static void
fuzz_line(enum sig_type t, const char *line, size_t len)
{
	struct sig s, again;
	char err[FUZZ_ERRLEN], small[FUZZ_SHORT_ERRLEN];
	int rc = sig_parse_line(t, line, len, &s, err, sizeof(err));

	if (rc == SIG_EINVAL)
		fuzz_check_err(err, sizeof(err));
	else if (rc == SIG_OK)
		fuzz_check_sig(&s, line, len);
	else if (rc != SIG_SKIP)
		abort();
	if (sig_parse_line(t, line, len, &again, small, sizeof(small)) != rc ||
	    sig_parse_line(t, line, len, &again, NULL, 0) != rc)
		abort();
}

static void
fuzz_pattern(const char *pat, size_t len)
{
	char err[FUZZ_ERRLEN];
	int rc = sig_ndb_pattern_check(pat, len, err, sizeof(err));

	if (rc == SIG_EINVAL)
		fuzz_check_err(err, sizeof(err));
	else if (rc != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sel;

	if (size == 0)
		return 0;
	sel = fuzz_select(data[0]);
	if (sel == SEL_PATTERN)
		fuzz_pattern((const char *)data + 1, size - 1);
	else
		fuzz_line((enum sig_type)sel, (const char *)data + 1, size - 1);
	return 0;
}
