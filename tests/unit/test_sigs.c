/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of cvd/sigs.c: the signature line syntax of each type. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ampscan/cvd.h"
#include "ampscan/sigs.h"

#define EICAR_MD5 "44d88612fea8a8f36de82e1278abb02f"
#define EICAR_SHA1 "3395856ce81f2b7382dee72602f798b642f14140"
#define EICAR_SHA256 \
	"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
#define EICAR_NAME "Eicar-Test-Signature"
#define ERRLEN 256

/*
 * One parse of a copy of the line in a buffer of exactly its length, with
 * no NUL after it: a read past line[len] trips AddressSanitizer.
 */
struct parsed {
	int rc;
	struct sig s;
	char err[ERRLEN];
	char *buf;
};

static void
parse_len(struct parsed *r, enum sig_type t, const char *line, size_t len)
{
	r->buf = malloc(len > 0 ? len : 1);
	assert_non_null(r->buf);
	memcpy(r->buf, line, len);
	memset(r->err, 'x', sizeof(r->err));
	r->rc = sig_parse_line(t, r->buf, len, &r->s, r->err, sizeof(r->err));
	assert_non_null(memchr(r->err, '\0', sizeof(r->err)));
}

static void
parse(struct parsed *r, enum sig_type t, const char *line)
{
	parse_len(r, t, line, strlen(line));
}

static void
parsed_free(struct parsed *r)
{
	free(r->buf);
	r->buf = NULL;
}

static bool
str_is(struct sig_str v, const char *want)
{
	return v.len == strlen(want) && memcmp(v.p, want, v.len) == 0;
}

/* Parse and expect SIG_OK (then free) or SIG_EINVAL with want in err. */
static void
expect(enum sig_type t, const char *line, const char *want_err)
{
	struct parsed r;

	parse(&r, t, line);
	if (want_err == NULL && r.rc != SIG_OK)
		fail_msg("'%s': want OK, got %d (%s)", line, r.rc, r.err);
	if (want_err != NULL && r.rc != SIG_EINVAL)
		fail_msg("'%s': want error '%s', got %d", line, want_err, r.rc);
	if (want_err != NULL && strstr(r.err, want_err) == NULL)
		fail_msg("'%s': want error '%s', got '%s'", line, want_err, r.err);
	parsed_free(&r);
}

static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* hdb line with the given hash field and the rest. */
static char *
line_join(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, "%s%s%s", a, b, c);
	return s;
}

/* ---- type names ------------------------------------------------------- */

static void
test_type_from_name_maps_extensions(void **state)
{
	static const struct {
		const char *name;
		enum sig_type t;
	} cases[] = {
		{ "daily.hdb", SIG_TYPE_HDB }, { "main.hsb", SIG_TYPE_HSB },
		{ "daily.ndb", SIG_TYPE_NDB }, { "daily.fp", SIG_TYPE_FP },
		{ "daily.sfp", SIG_TYPE_SFP }, { "local.ign2", SIG_TYPE_IGN2 },
		{ "DAILY.HDB", SIG_TYPE_HDB }, { "a.b.ndb", SIG_TYPE_NDB },
		{ ".hdb", SIG_TYPE_HDB }, { "daily.ldb", SIG_TYPE_OTHER },
		{ "daily.ign", SIG_TYPE_OTHER }, { "daily.hdbx", SIG_TYPE_OTHER },
		{ "daily.info", SIG_TYPE_OTHER }, { "hdb", SIG_TYPE_OTHER },
		{ "daily.", SIG_TYPE_OTHER }, { "", SIG_TYPE_OTHER },
		{ "COPYING", SIG_TYPE_OTHER },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (sig_type_from_name(cases[i].name) != cases[i].t)
			fail_msg("%s: want type %d", cases[i].name, cases[i].t);
	assert_int_equal(sig_type_from_name(NULL), SIG_TYPE_OTHER);
}

static void
test_type_name_of_each_type(void **state)
{
	(void)state;
	assert_string_equal(sig_type_name(SIG_TYPE_HDB), "hdb");
	assert_string_equal(sig_type_name(SIG_TYPE_HSB), "hsb");
	assert_string_equal(sig_type_name(SIG_TYPE_NDB), "ndb");
	assert_string_equal(sig_type_name(SIG_TYPE_FP), "fp");
	assert_string_equal(sig_type_name(SIG_TYPE_SFP), "sfp");
	assert_string_equal(sig_type_name(SIG_TYPE_IGN2), "ign2");
	assert_string_equal(sig_type_name(SIG_TYPE_OTHER), "other");
	assert_string_equal(sig_type_name((enum sig_type)99), "other");
}

/* ---- every type ------------------------------------------------------- */

static void
test_comments_and_blank_lines_skip(void **state)
{
	static const char *const lines[] = {
		"", "#", "# comment", "#" EICAR_MD5 ":68:x", "#\r", "   ",
		"\t \t", "\r", "\r\r", " \r", "\v\f",
	};
	static const enum sig_type types[] = {
		SIG_TYPE_HDB, SIG_TYPE_HSB, SIG_TYPE_NDB, SIG_TYPE_FP,
		SIG_TYPE_SFP, SIG_TYPE_IGN2,
	};
	struct parsed r;

	(void)state;
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			parse(&r, types[t], lines[i]);
			if (r.rc != SIG_SKIP)
				fail_msg("type %zu line %zu: want SKIP, got %d", t, i, r.rc);
			parsed_free(&r);
		}
	}
}

static void
test_comment_needs_hash_in_first_column(void **state)
{
	(void)state;
	expect(SIG_TYPE_HDB, " # not a comment", "field 1 (md5)");
}

static void
test_trailing_cr_is_ignored(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_HDB, EICAR_MD5 ":68:" EICAR_NAME "\r");
	assert_int_equal(r.rc, SIG_OK);
	assert_true(str_is(r.s.name, EICAR_NAME));
	parsed_free(&r);
	parse(&r, SIG_TYPE_NDB, "N:0:*:aabbcc:73\r");
	assert_int_equal(r.rc, SIG_OK);
	assert_int_equal(r.s.min_flevel, 73);
	parsed_free(&r);
}

static void
test_out_is_cleared_on_entry(void **state)
{
	struct sig s;
	char err[ERRLEN];

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(sig_parse_line(SIG_TYPE_HDB, "zz", 2, &s, err,
	    sizeof(err)), SIG_EINVAL);
	assert_null(s.name.p);
	assert_false(s.loadable);
	assert_false(s.flevel_skip);
	assert_int_equal(s.min_flevel, 0);
	assert_int_equal(s.u.hash.digest_len, 0);
	assert_int_equal(s.type, SIG_TYPE_HDB);
	/* Fields parsed before the error do not survive it. */
	assert_int_equal(sig_parse_line(SIG_TYPE_NDB, "N:1:EP+1,2:zz", 13, &s,
	    err, sizeof(err)), SIG_EINVAL);
	assert_null(s.name.p);
	assert_int_equal(s.u.ndb.target, 0);
	assert_int_equal(s.u.ndb.offset_kind, 0);
	assert_false(s.u.ndb.has_maxshift);
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(sig_parse_line(SIG_TYPE_NDB, "#", 1, &s, err,
	    sizeof(err)), SIG_SKIP);
	assert_null(s.name.p);
	assert_int_equal(s.u.ndb.offset, 0);
}

static void
test_line_at_limit_parses_one_past_fails(void **state)
{
	char *pat = repeat('a', SIG_LINE_MAX - 6);
	char *line = line_join("N:0:*:", pat, "");
	char *over = line_join("N:0:*:", pat, "bb");
	char *cr = line_join("N:0:*:", pat, "\r");
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_NDB, line);
	assert_int_equal(strlen(line), SIG_LINE_MAX);
	assert_int_equal(r.rc, SIG_OK);
	assert_true(r.s.loadable);
	parsed_free(&r);
	parse(&r, SIG_TYPE_NDB, cr);
	assert_int_equal(r.rc, SIG_OK);
	parsed_free(&r);
	parse(&r, SIG_TYPE_NDB, over);
	assert_int_equal(r.rc, SIG_EINVAL);
	assert_string_equal(r.err, "line too long: 65538 bytes, limit 65536");
	parsed_free(&r);
	free(pat);
	free(line);
	free(over);
	free(cr);
}

static void
test_parser_stops_at_len(void **state)
{
	const char *full = EICAR_MD5 ":68:" EICAR_NAME ":73";
	struct sig s;
	char err[ERRLEN];
	struct parsed r;

	(void)state;
	assert_int_equal(sig_parse_line(SIG_TYPE_HDB, full, strlen(full) - 3,
	    &s, err, sizeof(err)), SIG_OK);
	assert_int_equal(s.min_flevel, 0);
	assert_int_equal(s.name.len, strlen(EICAR_NAME));
	assert_int_equal(sig_parse_line(SIG_TYPE_HDB, full, 20, &s, err,
	    sizeof(err)), SIG_EINVAL);
	assert_string_equal(err, "field 1 (md5): 20 hex digits, want 32");
	for (size_t n = 0; n <= strlen(full); n++) {
		parse_len(&r, SIG_TYPE_HDB, full, n);
		parsed_free(&r);
		parse_len(&r, SIG_TYPE_NDB, "N:1:EP+1,2:aa[1-2]bbcc(dd|ee)", n > 30 ? 30 : n);
		parsed_free(&r);
	}
}

static void
test_other_type_is_refused(void **state)
{
	(void)state;
	expect(SIG_TYPE_OTHER, "anything", "lines of type other are not parsed");
	expect((enum sig_type)42, "anything", "not parsed");
}

static void
test_null_and_short_err_buffers(void **state)
{
	const char *bad = EICAR_MD5 ":0:x";
	struct sig s;
	char err[10];

	(void)state;
	assert_int_equal(sig_parse_line(SIG_TYPE_HDB, bad, strlen(bad), &s,
	    NULL, 0), SIG_EINVAL);
	err[0] = 'x';
	assert_int_equal(sig_parse_line(SIG_TYPE_HDB, bad, strlen(bad), &s,
	    err, 1), SIG_EINVAL);
	assert_int_equal(err[0], '\0');
	assert_int_equal(sig_parse_line(SIG_TYPE_HDB, bad, strlen(bad), &s,
	    err, sizeof(err)), SIG_EINVAL);
	assert_string_equal(err, "field 2 (");
	assert_int_equal(sig_parse_line(SIG_TYPE_HDB, bad, strlen(bad), NULL,
	    err, sizeof(err)), SIG_EINVAL);
	assert_int_equal(sig_parse_line(SIG_TYPE_HDB, NULL, 5, &s, err,
	    sizeof(err)), SIG_EINVAL);
	assert_int_equal(sig_parse_line(SIG_TYPE_HDB, NULL, 0, &s, err,
	    sizeof(err)), SIG_SKIP);
}

/* ---- .hdb and .fp ----------------------------------------------------- */

static void
test_hdb_accepts_eicar(void **state)
{
	static const uint8_t md5[16] = {
		0x44, 0xd8, 0x86, 0x12, 0xfe, 0xa8, 0xa8, 0xf3,
		0x6d, 0xe8, 0x2e, 0x12, 0x78, 0xab, 0xb0, 0x2f,
	};
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_HDB, EICAR_MD5 ":68:" EICAR_NAME);
	assert_int_equal(r.rc, SIG_OK);
	assert_int_equal(r.s.type, SIG_TYPE_HDB);
	assert_int_equal(r.s.u.hash.digest_len, 16);
	assert_memory_equal(r.s.u.hash.digest, md5, 16);
	assert_int_equal(r.s.u.hash.size, 68);
	assert_true(str_is(r.s.name, EICAR_NAME));
	assert_ptr_equal(r.s.name.p, r.buf + 36);
	assert_true(r.s.loadable);
	assert_false(r.s.flevel_skip);
	assert_int_equal(r.s.min_flevel, 0);
	assert_int_equal(r.s.max_flevel, 0);
	parsed_free(&r);
}

static void
test_hdb_accepts_uppercase_hex(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_HDB, "44D88612FEA8A8F36DE82E1278ABB02F:68:x");
	assert_int_equal(r.rc, SIG_OK);
	assert_int_equal(r.s.u.hash.digest[0], 0x44);
	assert_int_equal(r.s.u.hash.digest[1], 0xd8);
	assert_int_equal(r.s.u.hash.digest[15], 0x2f);
	parsed_free(&r);
}

static void
test_hdb_rejects_md5_of_31_digits(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_HDB, "44d88612fea8a8f36de82e1278abb02:68:x");
	assert_int_equal(r.rc, SIG_EINVAL);
	assert_string_equal(r.err, "field 1 (md5): 31 hex digits, want 32");
	parsed_free(&r);
}

static void
test_hdb_rejects_md5_of_33_digits(void **state)
{
	(void)state;
	expect(SIG_TYPE_HDB, EICAR_MD5 "0:68:x",
	    "field 1 (md5): 33 hex digits, want 32");
}

static void
test_hdb_rejects_sha_hashes(void **state)
{
	(void)state;
	expect(SIG_TYPE_HDB, EICAR_SHA1 ":68:x",
	    "field 1 (md5): 40 hex digits, want 32");
	expect(SIG_TYPE_HDB, EICAR_SHA256 ":68:x",
	    "field 1 (md5): 64 hex digits, want 32");
	expect(SIG_TYPE_HDB, EICAR_SHA256 "00:68:x",
	    "field 1 (md5): 66 hex digits, want 32");
}

static void
test_hdb_rejects_empty_md5(void **state)
{
	(void)state;
	expect(SIG_TYPE_HDB, ":68:x", "field 1 (md5): empty");
}

static void
test_hdb_rejects_non_hex_digit(void **state)
{
	(void)state;
	expect(SIG_TYPE_HDB, "44d88612fea8a8f36de82e1278abb0zf:68:x",
	    "field 1 (md5): position 31: 'z' is not a hex digit");
	expect(SIG_TYPE_HDB, "44d88612fea8a8f36de82e1278abb02 :68:x",
	    "field 1 (md5): position 32: 0x20 is not a hex digit");
	expect(SIG_TYPE_HDB, "g", "field 1 (md5): position 1: 'g'");
}

static void
test_hdb_size_limits(void **state)
{
	static const struct {
		const char *size;
		const char *err;
		uint64_t want;
	} cases[] = {
		{ "1", NULL, 1 },
		{ "68", NULL, 68 },
		{ "0068", NULL, 68 },
		{ "4294967294", NULL, 4294967294ULL },
		{ "0", "field 2 (size): 0 is out of range", 0 },
		{ "4294967295", "field 2 (size): 4294967295 is out of range", 0 },
		{ "18446744073709551615", "is out of range", 0 },
		{ "18446744073709551616", "field 2 (size): too large", 0 },
		{ "", "field 2 (size): empty", 0 },
		{ "+68", "field 2 (size): position 1: '+' is not a decimal digit", 0 },
		{ "-1", "position 1: '-'", 0 },
		{ "6 8", "field 2 (size): position 2: 0x20", 0 },
		{ "68x", "field 2 (size): position 3: 'x'", 0 },
		{ "**", "field 2 (size): position 1: '*'", 0 },
		{ "*5", "position 1: '*'", 0 },
	};
	struct parsed r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *line = line_join(EICAR_MD5 ":", cases[i].size, ":x");

		expect(SIG_TYPE_HDB, line, cases[i].err);
		if (cases[i].err == NULL) {
			parse(&r, SIG_TYPE_HDB, line);
			assert_int_equal(r.s.u.hash.size, cases[i].want);
			parsed_free(&r);
		}
		free(line);
	}
}

static void
test_hdb_wildcard_size_needs_minfl_73(void **state)
{
	struct parsed r;

	(void)state;
	expect(SIG_TYPE_HDB, EICAR_MD5 ":*:x",
	    "field 2 (size): '*' needs MinFL (field 4) of 73 or more");
	expect(SIG_TYPE_HDB, EICAR_MD5 ":*:x:72", "needs MinFL");
	expect(SIG_TYPE_HDB, EICAR_MD5 ":*:x:73:255", NULL);
	parse(&r, SIG_TYPE_HDB, EICAR_MD5 ":*:x:73");
	assert_int_equal(r.rc, SIG_OK);
	assert_true(r.s.u.hash.size == SIG_SIZE_ANY);
	assert_int_equal(r.s.min_flevel, 73);
	assert_true(r.s.loadable);
	parsed_free(&r);
	/* ClamAV skips a line outside its levels before reading Size. */
	parse(&r, SIG_TYPE_HDB, EICAR_MD5 ":*:x:0:100");
	assert_int_equal(r.rc, SIG_OK);
	assert_true(r.s.flevel_skip);
	assert_false(r.s.loadable);
	parsed_free(&r);
}

static void
test_hdb_name_limits(void **state)
{
	static const struct {
		const char *name;
		const char *err;
	} cases[] = {
		{ "", "field 3 (name): empty" },
		{ "Win.Trojan.Agent-7666671-0", NULL },
		{ "Na me", NULL },
		{ "\xc3\x9cnic\xc3\xb6" "de", NULL },
		{ "Eicar\tX", "field 3 (name): position 6: control byte 0x09" },
		{ "Eicar\x7f", "field 3 (name): position 6: control byte 0x7f" },
		{ "\x01", "field 3 (name): position 1: control byte 0x01" },
	};
	char *at = repeat('A', SIG_NAME_MAX);
	char *over = repeat('A', SIG_NAME_MAX + 1);
	char *line;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		line = line_join(EICAR_MD5 ":68:", cases[i].name, "");
		expect(SIG_TYPE_HDB, line, cases[i].err);
		free(line);
	}
	line = line_join(EICAR_MD5 ":68:", at, "");
	expect(SIG_TYPE_HDB, line, NULL);
	free(line);
	line = line_join(EICAR_MD5 ":68:", over, "");
	expect(SIG_TYPE_HDB, line, "field 3 (name): 256 bytes, limit 255");
	free(line);
	free(at);
	free(over);
}

static void
test_hdb_field_counts(void **state)
{
	static const struct {
		const char *rest;
		const char *err;
	} cases[] = {
		{ "", "line ends after field 1; want MD5:Size:Name" },
		{ ":68", "line ends after field 2" },
		{ ":68:x", NULL },
		{ ":68:x:1", NULL },
		{ ":68:x:1:255", NULL },
		{ ":68:x:1:255:7", "more than 5 fields" },
		{ ":68:x:", "field 4 (minfl): empty" },
		{ ":68:x::", "field 4 (minfl): empty" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *line = line_join(EICAR_MD5, cases[i].rest, "");

		expect(SIG_TYPE_HDB, line, cases[i].err);
		free(line);
	}
}

static void
test_hdb_flevel_fields(void **state)
{
	static const struct {
		const char *rest;
		const char *err;
		unsigned min, max;
		bool loadable;
	} cases[] = {
		{ ":73", NULL, 73, 0, true },
		{ ":0:255", NULL, 0, 255, true },
		{ ":230:230", NULL, 230, 230, true },
		{ ":231", NULL, 231, 0, false },
		{ ":0:229", NULL, 0, 229, false },
		{ ":4294967295", NULL, 4294967295U, 0, false },
		{ ":4294967296", "field 4 (minfl): '4294967296' is too large", 0, 0, false },
		{ ":x", "field 4 (minfl): 'x' is not an unsigned decimal", 0, 0, false },
		{ ":-1", "field 4 (minfl): '-1' is not", 0, 0, false },
		{ ": 1", "field 4 (minfl): ' 1' is not", 0, 0, false },
		{ ":1:x", "field 5 (maxfl): 'x' is not", 0, 0, false },
		{ ":1:", "field 5 (maxfl): empty", 0, 0, false },
	};
	struct parsed r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *line = line_join(EICAR_MD5 ":68:x", cases[i].rest, "");

		expect(SIG_TYPE_HDB, line, cases[i].err);
		if (cases[i].err == NULL) {
			parse(&r, SIG_TYPE_HDB, line);
			assert_int_equal(r.s.min_flevel, cases[i].min);
			assert_int_equal(r.s.max_flevel, cases[i].max);
			assert_int_equal(r.s.loadable, cases[i].loadable);
			assert_int_equal(r.s.flevel_skip, !cases[i].loadable);
			parsed_free(&r);
		}
		free(line);
	}
}

static void
test_hdb_line_outside_flevel_skips_hash_and_size(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_HDB, "zz:0:Old.Sig:0:38");
	assert_int_equal(r.rc, SIG_OK);
	assert_true(r.s.flevel_skip);
	assert_false(r.s.loadable);
	assert_true(str_is(r.s.name, "Old.Sig"));
	assert_int_equal(r.s.max_flevel, 38);
	assert_string_equal(r.err, "");
	parsed_free(&r);
	/* Inside the range the same line is an error, reported as such. */
	expect(SIG_TYPE_HDB, "zz:0:Old.Sig:0:230",
	    "field 1 (md5): position 1: 'z' is not a hex digit");
	/* The name and the levels themselves are still checked. */
	expect(SIG_TYPE_HDB, "zz:0::0:38", "field 1 (md5)");
	expect(SIG_TYPE_HDB, "zz:0:x:y:38", "field 1 (md5)");
	expect(SIG_TYPE_HDB, "zz:0:x:0:38:1", "field 1 (md5)");
}

static void
test_fp_parses_like_hdb(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_FP, EICAR_MD5 ":68:" EICAR_NAME);
	assert_int_equal(r.rc, SIG_OK);
	assert_int_equal(r.s.type, SIG_TYPE_FP);
	assert_int_equal(r.s.u.hash.digest_len, 16);
	assert_true(r.s.loadable);
	parsed_free(&r);
	expect(SIG_TYPE_FP, EICAR_SHA256 ":68:x",
	    "field 1 (md5): 64 hex digits, want 32");
	expect(SIG_TYPE_FP, "332feab1435662fc6c672e25beb37be3:2871808:sid25347313-1", NULL);
}

/* ---- .hsb and .sfp ---------------------------------------------------- */

static void
test_hsb_accepts_sha256_eicar(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_HSB, EICAR_SHA256 ":68:" EICAR_NAME);
	assert_int_equal(r.rc, SIG_OK);
	assert_int_equal(r.s.u.hash.digest_len, 32);
	assert_int_equal(r.s.u.hash.digest[0], 0x27);
	assert_int_equal(r.s.u.hash.digest[31], 0x0f);
	assert_int_equal(r.s.u.hash.size, 68);
	assert_true(str_is(r.s.name, EICAR_NAME));
	assert_true(r.s.loadable);
	parsed_free(&r);
}

static void
test_hsb_accepts_sha1(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_HSB, EICAR_SHA1 ":68:" EICAR_NAME ":73:255");
	assert_int_equal(r.rc, SIG_OK);
	assert_int_equal(r.s.u.hash.digest_len, 20);
	assert_int_equal(r.s.u.hash.digest[19], 0x40);
	assert_int_equal(r.s.min_flevel, 73);
	assert_int_equal(r.s.max_flevel, 255);
	parsed_free(&r);
}

static void
test_hsb_accepts_md5_as_in_real_daily_hsb(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_HSB, "02d3f6e603503f817f5d56be5531c488:2252800:Win.Trojan.Agent-7666671-0:73");
	assert_int_equal(r.rc, SIG_OK);
	assert_int_equal(r.s.u.hash.digest_len, 16);
	assert_int_equal(r.s.u.hash.size, 2252800);
	assert_true(r.s.loadable);
	parsed_free(&r);
}

static void
test_hsb_rejects_other_hash_lengths(void **state)
{
	static const size_t lens[] = { 2, 30, 31, 33, 39, 41, 63, 65, 66, 128 };

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char *hex = repeat('a', lens[i]);
		char *line = line_join(hex, ":68:", "x");
		char want[96];

		snprintf(want, sizeof(want), "field 1 (hash): %zu hex digits, want 32 (MD5), 40 (SHA-1) or 64 (SHA-256)", lens[i]);
		expect(SIG_TYPE_HSB, line, want);
		free(hex);
		free(line);
	}
}

static void
test_sfp_accepts_md5_sha1_and_sha256(void **state)
{
	(void)state;
	expect(SIG_TYPE_SFP, "6bed1a3a956a859ef4420feb2466c040800eaf01ef53214ef9dab53aeff1cff0:2871808:sid25347313-1", NULL);
	expect(SIG_TYPE_SFP, EICAR_SHA1 ":68:x", NULL);
	expect(SIG_TYPE_SFP, EICAR_MD5 ":68:x", NULL);
	expect(SIG_TYPE_SFP, EICAR_SHA256 "a:68:x", "65 hex digits");
}

/* ---- .ndb ------------------------------------------------------------- */

static void
test_ndb_accepts_real_lines(void **state)
{
	static const char *const lines[] = {
		"Win.Worm.Sobig-1:0:*:6fec40cb4ad432859b126508015369262a47554a451edfaae437057ac6d6683e4a187189b7daf883e3768a107b1f263cbf2dfaeef372e9258f2ded8943fe63fd5dbd6a317ce6f8953634874247aab83228a5caf585c1d3823cc123678823552d71af200b",
		"Win.Worm.Klez-1:0:*:2d4000bd08104000e89eeaffff80bd08104000be7d2d4000e849eaffff6a00e83500000064756d6d792e65786500653a5c77696e646f77735c53795374656d33325c644c6c63616368655c6464642e65786500ff254c404000ff25544040",
		"Win.Trojan.EOL-1:0:*:5468697320436c616d41562076657273696f6e20686173207265616368656420456e64206f66204c69666521",
	};
	struct parsed r;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		parse(&r, SIG_TYPE_NDB, lines[i]);
		if (r.rc != SIG_OK || !r.s.loadable)
			fail_msg("line %zu: %d %s", i, r.rc, r.err);
		assert_int_equal(r.s.u.ndb.target, 0);
		assert_int_equal(r.s.u.ndb.offset_kind, SIG_OFF_ANY);
		assert_ptr_equal(r.s.u.ndb.pattern.p, strchr(r.buf, '*') + 2);
		assert_ptr_equal(r.s.u.ndb.pattern.p + r.s.u.ndb.pattern.len,
		    r.buf + strlen(lines[i]));
		parsed_free(&r);
	}
	parse(&r, SIG_TYPE_NDB, "Win.Trojan.EOL-1:0:*:5468697320436c616d41562076657273696f6e20686173207265616368656420456e64206f66204c69666521:0:38");
	assert_int_equal(r.rc, SIG_OK);
	assert_true(r.s.flevel_skip);
	assert_false(r.s.loadable);
	parsed_free(&r);
}

static void
test_ndb_eol_text_line_outside_flevel_is_valid(void **state)
{
	struct parsed r;

	(void)state;
	/* Verbatim from test.ndb in every real test-N.cvd: ClamAV skips it. */
	parse(&r, SIG_TYPE_NDB, "Win.Trojan.EOL-1:0:*:This ClamAV version has reached End of Life! Please upgrade to version 0.95 or later. For more information see  www.clamav.net/eol-clamav-094 and www.clamav.net/download:0:38");
	assert_int_equal(r.rc, SIG_OK);
	assert_true(r.s.flevel_skip);
	assert_false(r.s.loadable);
	assert_true(str_is(r.s.name, "Win.Trojan.EOL-1"));
	assert_int_equal(r.s.max_flevel, 38);
	parsed_free(&r);
	expect(SIG_TYPE_NDB, "Win.Trojan.EOL-1:0:*:This ClamAV version:0:230", "field 4 (hexsig): position 1: unexpected 'T'");
	expect(SIG_TYPE_NDB, ":0:*:This ClamAV version:0:38", "field 1 (name): empty");
}

static void
test_ndb_offsets(void **state)
{
	static const struct {
		const char *off;
		unsigned target;
		const char *err;
		enum sig_offset_kind kind;
		uint64_t n, shift;
		bool has_shift;
	} cases[] = {
		{ "*", 0, NULL, SIG_OFF_ANY, 0, 0, false },
		{ "0", 0, NULL, SIG_OFF_ABS, 0, 0, false },
		{ "100", 0, NULL, SIG_OFF_ABS, 100, 0, false },
		{ "100,20", 0, NULL, SIG_OFF_ABS, 100, 20, true },
		{ "18446744073709551615", 0, NULL, SIG_OFF_ABS, UINT64_MAX, 0, false },
		{ "EOF-10", 0, NULL, SIG_OFF_EOF, 10, 0, false },
		{ "EOF-0,5", 3, NULL, SIG_OFF_EOF, 0, 5, true },
		{ "EP+0", 1, NULL, SIG_OFF_OTHER, 0, 0, false },
		{ "EP-5", 1, NULL, SIG_OFF_OTHER, 0, 0, false },
		{ "EP+4,10", 6, NULL, SIG_OFF_OTHER, 0, 10, true },
		{ "S2+10", 9, NULL, SIG_OFF_OTHER, 0, 0, false },
		{ "SE1", 1, NULL, SIG_OFF_OTHER, 0, 0, false },
		{ "SL+4", 1, NULL, SIG_OFF_OTHER, 0, 0, false },
		{ "VI", 1, NULL, SIG_OFF_OTHER, 0, 0, false },
		{ "$0$", 0, NULL, SIG_OFF_OTHER, 0, 0, false },
		{ "$31$,4", 3, NULL, SIG_OFF_OTHER, 0, 4, true },
		{ "$32$", 0, "'$32$' is not", 0, 0, 0, false },
		{ "$1", 0, "'$1' is not", 0, 0, 0, false },
		{ "$$", 0, "'$$' is not", 0, 0, 0, false },
		{ "", 0, "field 3 (offset): empty", 0, 0, 0, false },
		{ "EOF", 0, "field 3 (offset): 'EOF' is not *, n, EOF-n", 0, 0, 0, false },
		{ "EOF-", 0, "'EOF-' is not", 0, 0, 0, false },
		{ "EOF+1", 0, "'EOF+1' is not", 0, 0, 0, false },
		{ "*,5", 0, "'*' is not", 0, 0, 0, false },
		{ "10,", 0, "field 3 (offset): maxshift '' is not an unsigned decimal", 0, 0, 0, false },
		{ "10,5,3", 0, "maxshift '5,3'", 0, 0, 0, false },
		{ ",5", 0, "'' is not", 0, 0, 0, false },
		{ "EP+", 1, "'EP+' is not", 0, 0, 0, false },
		{ "EP*1", 1, "is not", 0, 0, 0, false },
		{ "S+1", 1, "is not", 0, 0, 0, false },
		{ "Sx+1", 1, "is not", 0, 0, 0, false },
		{ "S1+", 1, "is not", 0, 0, 0, false },
		{ "SE", 1, "is not", 0, 0, 0, false },
		{ "VIx", 1, "is not", 0, 0, 0, false },
		{ "1-2", 0, "is not", 0, 0, 0, false },
		{ "-1", 0, "is not", 0, 0, 0, false },
		{ " 1", 0, "is not", 0, 0, 0, false },
		{ "18446744073709551616", 0, "is not", 0, 0, 0, false },
		{ "1,18446744073709551616", 0, "maxshift", 0, 0, 0, false },
	};
	struct parsed r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[128];

		snprintf(line, sizeof(line), "N:%u:%s:aabbcc", cases[i].target,
		    cases[i].off);
		expect(SIG_TYPE_NDB, line, cases[i].err);
		if (cases[i].err != NULL)
			continue;
		parse(&r, SIG_TYPE_NDB, line);
		assert_int_equal(r.s.u.ndb.offset_kind, cases[i].kind);
		assert_true(r.s.u.ndb.offset == cases[i].n);
		assert_true(r.s.u.ndb.maxshift == cases[i].shift);
		assert_int_equal(r.s.u.ndb.has_maxshift, cases[i].has_shift);
		assert_int_equal(r.s.loadable, cases[i].kind != SIG_OFF_OTHER);
		parsed_free(&r);
	}
}

static void
test_ndb_relative_offsets_need_exe_target(void **state)
{
	(void)state;
	expect(SIG_TYPE_NDB, "N:0:EP+0:aabb", "field 3 (offset): 'EP+0' needs TargetType 1 (PE), 6 (ELF) or 9 (Mach-O), not 0");
	expect(SIG_TYPE_NDB, "N:3:VI:aabb", "not 3");
	expect(SIG_TYPE_NDB, "N:7:EOF-5:aabb", NULL);
	expect(SIG_TYPE_NDB, "N:7:$3$:aabb", NULL);
}

static void
test_ndb_offset_length_limit(void **state)
{
	char *at = repeat('1', 64);
	char *over = repeat('1', 65);
	char *line;

	(void)state;
	line = line_join("N:0:", at, ":aabb");
	expect(SIG_TYPE_NDB, line, "is not");	/* 64 digits overflow */
	free(line);
	memcpy(at, "1,", 2);
	line = line_join("N:0:", at, ":aabb");
	expect(SIG_TYPE_NDB, line, "maxshift");
	free(line);
	line = line_join("N:0:0,", "00000000000000000000000000000000000000000000000000000000000000", ":aabb");
	expect(SIG_TYPE_NDB, line, NULL);
	free(line);
	line = line_join("N:0:", over, ":aabb");
	expect(SIG_TYPE_NDB, line, "field 3 (offset): 65 bytes, limit 64");
	free(line);
	free(at);
	free(over);
}

static void
test_ndb_targets(void **state)
{
	static const struct {
		const char *target;
		const char *err;
		unsigned want;
		bool loadable;
	} cases[] = {
		{ "0", NULL, 0, true }, { "1", NULL, 1, true },
		{ "14", NULL, 14, true }, { "014", NULL, 14, true },
		{ "*", NULL, 0, true },
		{ "15", NULL, 15, false },
		{ "4294967295", NULL, 4294967295U, false },
		{ "4294967296", "field 2 (target): '4294967296' is not a TargetType (0 to 14, or *)", 0, false },
		{ "", "field 2 (target): '' is not", 0, false },
		{ "x", "field 2 (target): 'x' is not", 0, false },
		{ "-1", "is not a TargetType", 0, false },
		{ "+1", "is not a TargetType", 0, false },
		{ "**", "is not a TargetType", 0, false },
	};
	struct parsed r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *line = line_join("N:", cases[i].target, ":*:aabbcc");

		expect(SIG_TYPE_NDB, line, cases[i].err);
		if (cases[i].err == NULL) {
			parse(&r, SIG_TYPE_NDB, line);
			assert_int_equal(r.s.u.ndb.target, cases[i].want);
			assert_int_equal(r.s.loadable, cases[i].loadable);
			parsed_free(&r);
		}
		free(line);
	}
}

static void
test_ndb_unknown_target_is_skipped_unread(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_NDB, "N:15:garbage:zz");
	assert_int_equal(r.rc, SIG_OK);
	assert_false(r.s.loadable);
	assert_false(r.s.flevel_skip);
	parsed_free(&r);
}

static void
test_ndb_field_counts(void **state)
{
	(void)state;
	expect(SIG_TYPE_NDB, "N", "1 fields, want 4 to 6");
	expect(SIG_TYPE_NDB, "N:0:*", "3 fields, want 4 to 6 (Name:TargetType:Offset:HexSig[:MinFL[:MaxFL]])");
	expect(SIG_TYPE_NDB, "N:0:*:aabb", NULL);
	expect(SIG_TYPE_NDB, "N:0:*:aabb:1", NULL);
	expect(SIG_TYPE_NDB, "N:0:*:aabb:1:255", NULL);
	expect(SIG_TYPE_NDB, "N:0:*:aabb:1:255:x", "more than 6 fields");
	expect(SIG_TYPE_NDB, "N:0:*:", "field 4 (hexsig): empty");
	expect(SIG_TYPE_NDB, ":0:*:aabb", "field 1 (name): empty");
	expect(SIG_TYPE_NDB, "N\x1b:0:*:aabb", "field 1 (name): position 2: control byte 0x1b");
}

static void
test_ndb_flevels(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_NDB, "N:0:*:aabbcc:51:255");
	assert_int_equal(r.rc, SIG_OK);
	assert_int_equal(r.s.min_flevel, 51);
	assert_int_equal(r.s.max_flevel, 255);
	assert_true(r.s.loadable);
	parsed_free(&r);
	parse(&r, SIG_TYPE_NDB, "N:zz:yy:xx:231");
	assert_int_equal(r.rc, SIG_OK);
	assert_true(r.s.flevel_skip);
	assert_true(str_is(r.s.u.ndb.pattern, "xx"));
	parsed_free(&r);
	expect(SIG_TYPE_NDB, "N:0:*:aabb:x", "field 5 (minfl): 'x' is not an unsigned decimal");
	expect(SIG_TYPE_NDB, "N:0:*:aabb:1:", "field 6 (maxfl): empty");
	expect(SIG_TYPE_NDB, "N:0:*:aabb::", "field 5 (minfl): empty");
}

static void
test_ndb_bad_pattern_names_field_4(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_NDB, "Win.Test-1:0:*:aabbccdd(ee|ff)0011)");
	assert_int_equal(r.rc, SIG_EINVAL);
	assert_string_equal(r.err, "field 4 (hexsig): position 20: unbalanced ')'");
	parsed_free(&r);
}

static void
test_ndb_unusable_pattern_is_valid_not_loadable(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_NDB, "N:0:*:aa*bbcc");
	assert_int_equal(r.rc, SIG_OK);
	assert_false(r.s.loadable);
	assert_false(r.s.flevel_skip);
	parsed_free(&r);
}

/* ---- HexSig ----------------------------------------------------------- */

/* The pattern checked alone, and as an .ndb line for loadable. */
static void
expect_pattern(const char *pat, const char *err, bool loadable)
{
	char got[ERRLEN];
	char *line = line_join("N:0:*:", pat, "");
	struct parsed r;
	int rc = sig_ndb_pattern_check(pat, strlen(pat), got, sizeof(got));

	if (err == NULL && rc != 0)
		fail_msg("'%s': want valid, got %s", pat, got);
	if (err != NULL && (rc != SIG_EINVAL || strstr(got, err) == NULL))
		fail_msg("'%s': want '%s', got %d '%s'", pat, err, rc, got);
	parse(&r, SIG_TYPE_NDB, line);
	assert_int_equal(r.rc, err == NULL ? SIG_OK : SIG_EINVAL);
	if (err == NULL && r.s.loadable != loadable)
		fail_msg("'%s': want loadable %d", pat, loadable);
	parsed_free(&r);
	free(line);
}

static void
test_pattern_accepts_loadable_forms(void **state)
{
	static const char *const pats[] = {
		"aabbcc", "AaBbCc", "000000", "aabb??cc", "aabbc?", "aabb?c",
		"aabb*ccdd", "aabb{5}ccdd", "aabb{-5}ccdd", "aabb{5-}ccdd",
		"aabb{5-10}ccdd", "aabb{5-5}ccdd", "aabb{0}ccdd",
		"aabb{128}ccdd", "aabb(cc|dd)eeff", "aabb!(cc|dd)",
		"aabb(ccdd|eeff)", "aabb!(ccdd|eeff)", "aabb!(cc)",
		"aabb(cc|ddee)", "aabb(c?|dd)", "aabb(cc{5}dd|ee)",
		"aa[1-32]bbcc", "aabbcc[0-2]dd", "aa[2]bbcc",
		"aa[1-2]bbcc[3-4]dd", "??[1-2]aabb", "aabb[1]??",
		"aabb(cc|dd)[1-2]ee", "{5}aabb", "aabb{1-2}ccdd{5}eeff",
		"aabb*ccdd{5}ee", "aabbccdd*eeff{10-20}0011(22|33)4455",
		"aabb{2147483647}ccdd", "aa[32]bbcc", "aabb{127}cc",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
		expect_pattern(pats[i], NULL, true);
}

static void
test_pattern_accepts_forms_the_engine_cannot_load(void **state)
{
	static const char *const pats[] = {
		"aa", "aabb", "0000", "??", "aabb*cc", "a?bb", "(aa|bb)", "aabb(B)",
		"(L)aabb", "aabb(W)cc", "!(B)aabb", "aabb(cc|(dd|ee))",
		"aa{5}bb", "aa[1-2]bb", "aabb{128}cc", "aabb{1-2}cc",
		"aabb{1-2}ccdd{5}ee", "{5}", "aa??bb", "(aa|bb)[1-2]cc",
		"aa(bb|cc)dd", "aabb(cc|)", "aabb(cc||dd)", "aabb(cc|(|dd))",
		"aabb((cc|dd)|)", "aabb{}ccdd", "aabb{-}ccdd", "aabb{5-3}ccdd",
		"aabb(cc|())",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
		expect_pattern(pats[i], NULL, false);
}

static void
test_pattern_rejects_malformed(void **state)
{
	static const struct {
		const char *pat;
		const char *err;
	} cases[] = {
		{ "", "empty" },
		{ "a", "position 1: lone hex digit at the end" },
		{ "aab", "position 3: lone hex digit" },
		{ "aabbc", "position 5: lone hex digit" },
		{ "aagg", "position 3: unexpected 'g'" },
		{ "aabg", "position 4: 'g' where a second hex digit belongs" },
		{ "aa bb", "position 3: unexpected 0x20" },
		{ "aabb)", "position 5: unbalanced ')'" },
		{ "(aabb", "position 1: unbalanced '('" },
		{ "aabb(cc|dd", "position 5: unbalanced '('" },
		{ "aabb()", "position 6: empty '()'" },
		{ "aabb(|cc)", "position 6: empty first alternative" },
		{ "aabb(||)", "position 6: empty first alternative" },
		{ "aabb!(cc|)", "position 5: '!(...)' needs plain hex" },
		{ "aabb{", "position 5: '{' without '}'" },
		{ "aabb{5", "'{' without '}'" },
		{ "aabb{ 5}ccdd", "position 6: 0x20 inside '{...}'" },
		{ "aabb(cc{}dd|ee)", "a jump inside alternatives" },
		{ "aabb{x}ccdd", "position 6: 'x' inside '{...}'" },
		{ "aabb{1-2-3}ccdd", "position 9: '-' inside '{...}'" },
		{ "aabb{2147483648}ccdd", "jump longer than 2147483647" },
		{ "*aabb", "position 1: no bytes before this jump" },
		{ "aabb*", "position 5: the pattern ends with a jump" },
		{ "aabb**ccdd", "position 6: no bytes before this jump" },
		{ "aabb{5-}", "the pattern ends with a jump" },
		{ "{5-}aabb", "no bytes before this jump" },
		{ "aabb!(cc|ddee)", "position 5: '!(...)' needs plain hex alternatives" },
		{ "aabb!(c?|dd)", "needs plain hex" },
		{ "aabb!((cc|dd)|ee)", "needs plain hex" },
		{ "aabb!(cc{2}|dd)", "needs plain hex" },
		{ "aabb!cc", "position 5: '!' must be followed by '('" },
		{ "aabb!", "'!' must be followed by '('" },
		{ "aabb(cc|!(dd|ee))", "position 9: '!(' inside alternatives" },
		{ "aabb(cc*dd|ee)", "position 8: '*' inside alternatives" },
		{ "aabb(cc{2-3}dd|ee)", "position 8: a jump inside alternatives" },
		{ "aabb{1-2}ccdd(ee{5}ff|11)", "a jump inside alternatives" },
		{ "aabb(cc[1-2]dd|ee)", "'[' inside alternatives" },
		{ "aabb(B|cc)", "position 7: '|' where a second hex digit" },
		{ "aabb(cc|(B))", "(B) inside alternatives" },
		{ "aa[1-33]bbcc", "'[n-m]' allows at most 32" },
		{ "aa[33]bbcc", "allows at most 32" },
		{ "aa[3-2]bbcc", "'[3-2]': the minimum exceeds the maximum" },
		{ "aa[1-2bbcc", "position 7: 'b' inside '[...]'" },
		{ "aa[1-2", "'[' without ']'" },
		{ "aa[]bbcc", "']' inside '[...]'" },
		{ "[1-2]aabb", "'[n-m]' needs one byte on one side" },
		{ "aabb[1-2]", "'[n-m]' must be followed by exactly one byte" },
		{ "aabb[1-2]*ccdd", "must be followed by exactly one byte" },
		{ "aabb[1-2]ccdd", "only a jump or the end may follow" },
		{ "(aa|bb)[1-2]ccdd", "position 15: only a jump or the end" },
		{ "aabb[1-2]cc[1-2]dd", "a second '[n-m]'" },
		{ "aa[1-2]bb[1-2]cc", "needs one byte on one side" },
		{ "aabb[1-2](cc|dd)", "must be followed by exactly one byte" },
		{ "aabb[1-2]{5}", "must be followed by exactly one byte" },
		{ "aa[1-2]*bbcc", "nothing but an anchored byte before this jump" },
		{ "aa[1-2]", "nothing after '[n-m]'" },
		{ "aabb|cc", "'|' outside alternatives" },
		{ "aabb(X)", "unexpected 'X'" },
		{ "aabb]", "unexpected ']'" },
		{ "aabb}", "unexpected '}'" },
		{ "aabb\x01", "unexpected 0x01" },
		{ "aabb\xff", "unexpected 0xff" },
		{ "${1-2}0$", "unexpected '$'" },
		{ "aabb/cc/", "unexpected '/'" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_pattern(cases[i].pat, cases[i].err, false);
}

static void
test_pattern_length_limit(void **state)
{
	char *at = repeat('a', SIG_LINE_MAX);
	char *over = repeat('a', SIG_LINE_MAX + 2);
	char err[ERRLEN];

	(void)state;
	assert_int_equal(sig_ndb_pattern_check(at, SIG_LINE_MAX, err,
	    sizeof(err)), 0);
	assert_int_equal(sig_ndb_pattern_check(over, SIG_LINE_MAX + 2, err,
	    sizeof(err)), SIG_EINVAL);
	assert_string_equal(err, "65538 bytes, limit 65536");
	assert_int_equal(sig_ndb_pattern_check(NULL, 4, err, sizeof(err)),
	    SIG_EINVAL);
	free(at);
	free(over);
}

static void
test_pattern_nesting_limit(void **state)
{
	char at[128], over[128];

	(void)state;
	snprintf(at, sizeof(at), "aabb%.15s11%.15s", "(((((((((((((((", ")))))))))))))))");
	snprintf(over, sizeof(over), "aabb%.16s11%.16s", "((((((((((((((((", "))))))))))))))))");
	expect_pattern(at, NULL, false);
	expect_pattern(over, "position 20: alternatives nested deeper than 15", false);
}

static void
test_pattern_check_never_reads_past_len(void **state)
{
	static const char *const pats[] = {
		"aabb{12", "aabb[1-", "aabb!", "aabb(B", "aabb(", "a",
		"aabb{1-2}cc(dd|e", "aa[1]b",
	};
	char err[ERRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		size_t n = strlen(pats[i]);
		char *buf = malloc(n);

		assert_non_null(buf);
		memcpy(buf, pats[i], n);
		assert_int_equal(sig_ndb_pattern_check(buf, n, err,
		    sizeof(err)), SIG_EINVAL);
		free(buf);
	}
}

/* ---- .ign2 ------------------------------------------------------------ */

static void
test_ign2_accepts_name(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_IGN2, EICAR_NAME);
	assert_int_equal(r.rc, SIG_OK);
	assert_true(str_is(r.s.name, EICAR_NAME));
	assert_int_equal(r.s.u.hash.digest_len, 0);
	assert_true(r.s.loadable);
	parsed_free(&r);
}

static void
test_ign2_accepts_name_and_md5(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_IGN2, EICAR_NAME ":bc356bae4c42f19a3de16e333ba3569c");
	assert_int_equal(r.rc, SIG_OK);
	assert_true(str_is(r.s.name, EICAR_NAME));
	assert_int_equal(r.s.u.hash.digest_len, 16);
	assert_int_equal(r.s.u.hash.digest[0], 0xbc);
	assert_int_equal(r.s.u.hash.digest[15], 0x9c);
	parsed_free(&r);
}

static void
test_ign2_accepts_old_three_field_form(void **state)
{
	struct parsed r;

	(void)state;
	parse(&r, SIG_TYPE_IGN2, "daily.ndb:1234:Win.Trojan.Agent-1");
	assert_int_equal(r.rc, SIG_OK);
	assert_true(str_is(r.s.name, "Win.Trojan.Agent-1"));
	parsed_free(&r);
	expect(SIG_TYPE_IGN2, "a:b:", "field 3 (name): empty");
}

static void
test_ign2_rejects_bad_md5(void **state)
{
	(void)state;
	expect(SIG_TYPE_IGN2, "Name:", "field 2 (md5): empty");
	expect(SIG_TYPE_IGN2, "Name:abc", "field 2 (md5): 3 hex digits, want 32");
	expect(SIG_TYPE_IGN2, "Name:bc356bae4c42f19a3de16e333ba3569", "31 hex digits");
	expect(SIG_TYPE_IGN2, "Name:bc356bae4c42f19a3de16e333ba3569cc", "33 hex digits");
	expect(SIG_TYPE_IGN2, "Name:bc356bae4c42f19a3de16e333ba3569g", "field 2 (md5): position 32: 'g' is not a hex digit");
	expect(SIG_TYPE_IGN2, "Name:" EICAR_SHA256, "64 hex digits, want 32");
}

static void
test_ign2_rejects_more_than_three_fields(void **state)
{
	(void)state;
	expect(SIG_TYPE_IGN2, "a:b:c:d", "more than 3 fields");
}

static void
test_ign2_name_limits(void **state)
{
	char *at = repeat('n', SIG_NAME_MAX);
	char *over = repeat('n', SIG_NAME_MAX + 1);

	(void)state;
	expect(SIG_TYPE_IGN2, at, NULL);
	expect(SIG_TYPE_IGN2, over, "field 1 (name): 256 bytes, limit 255");
	expect(SIG_TYPE_IGN2, ":bc356bae4c42f19a3de16e333ba3569c", "field 1 (name): empty");
	expect(SIG_TYPE_IGN2, "Na\x02me", "field 1 (name): position 3: control byte 0x02");
	expect(SIG_TYPE_IGN2, " Eicar", NULL);
	free(at);
	free(over);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_from_name_maps_extensions),
		cmocka_unit_test(test_type_name_of_each_type),
		cmocka_unit_test(test_comments_and_blank_lines_skip),
		cmocka_unit_test(test_comment_needs_hash_in_first_column),
		cmocka_unit_test(test_trailing_cr_is_ignored),
		cmocka_unit_test(test_out_is_cleared_on_entry),
		cmocka_unit_test(test_line_at_limit_parses_one_past_fails),
		cmocka_unit_test(test_parser_stops_at_len),
		cmocka_unit_test(test_other_type_is_refused),
		cmocka_unit_test(test_null_and_short_err_buffers),
		cmocka_unit_test(test_hdb_accepts_eicar),
		cmocka_unit_test(test_hdb_accepts_uppercase_hex),
		cmocka_unit_test(test_hdb_rejects_md5_of_31_digits),
		cmocka_unit_test(test_hdb_rejects_md5_of_33_digits),
		cmocka_unit_test(test_hdb_rejects_sha_hashes),
		cmocka_unit_test(test_hdb_rejects_empty_md5),
		cmocka_unit_test(test_hdb_rejects_non_hex_digit),
		cmocka_unit_test(test_hdb_size_limits),
		cmocka_unit_test(test_hdb_wildcard_size_needs_minfl_73),
		cmocka_unit_test(test_hdb_name_limits),
		cmocka_unit_test(test_hdb_field_counts),
		cmocka_unit_test(test_hdb_flevel_fields),
		cmocka_unit_test(test_hdb_line_outside_flevel_skips_hash_and_size),
		cmocka_unit_test(test_fp_parses_like_hdb),
		cmocka_unit_test(test_hsb_accepts_sha256_eicar),
		cmocka_unit_test(test_hsb_accepts_sha1),
		cmocka_unit_test(test_hsb_accepts_md5_as_in_real_daily_hsb),
		cmocka_unit_test(test_hsb_rejects_other_hash_lengths),
		cmocka_unit_test(test_sfp_accepts_md5_sha1_and_sha256),
		cmocka_unit_test(test_ndb_accepts_real_lines),
		cmocka_unit_test(test_ndb_eol_text_line_outside_flevel_is_valid),
		cmocka_unit_test(test_ndb_offsets),
		cmocka_unit_test(test_ndb_relative_offsets_need_exe_target),
		cmocka_unit_test(test_ndb_offset_length_limit),
		cmocka_unit_test(test_ndb_targets),
		cmocka_unit_test(test_ndb_unknown_target_is_skipped_unread),
		cmocka_unit_test(test_ndb_field_counts),
		cmocka_unit_test(test_ndb_flevels),
		cmocka_unit_test(test_ndb_bad_pattern_names_field_4),
		cmocka_unit_test(test_ndb_unusable_pattern_is_valid_not_loadable),
		cmocka_unit_test(test_pattern_accepts_loadable_forms),
		cmocka_unit_test(test_pattern_accepts_forms_the_engine_cannot_load),
		cmocka_unit_test(test_pattern_rejects_malformed),
		cmocka_unit_test(test_pattern_length_limit),
		cmocka_unit_test(test_pattern_nesting_limit),
		cmocka_unit_test(test_pattern_check_never_reads_past_len),
		cmocka_unit_test(test_ign2_accepts_name),
		cmocka_unit_test(test_ign2_accepts_name_and_md5),
		cmocka_unit_test(test_ign2_accepts_old_three_field_form),
		cmocka_unit_test(test_ign2_rejects_bad_md5),
		cmocka_unit_test(test_ign2_rejects_more_than_three_fields),
		cmocka_unit_test(test_ign2_name_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
