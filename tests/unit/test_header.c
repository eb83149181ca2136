/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cvd_header_parse(): every field, at and past its limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ampscan/cvd.h"

#define GOOD_MD5 "0123456789abcdef0123456789abcdef"
#define GOOD_DSIG "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"

/* Pad line to a 512-byte header and parse it. */
static int
parse(const char *line, struct cvd_header *h, char *err, size_t errlen)
{
	uint8_t buf[CVD_HEADER_SIZE];
	size_t n = strlen(line);

	memset(buf, ' ', sizeof(buf));
	memcpy(buf, line, n > sizeof(buf) ? sizeof(buf) : n);
	return cvd_header_parse(buf, sizeof(buf), h, err, errlen);
}

static void
test_header_accepts_signed_header(void **state)
{
	struct cvd_header h;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse("ClamAV-VDB:08 Mar 2021 10-21 -0500:333:92:63:" GOOD_MD5 ":" GOOD_DSIG ":awillia2:1615216911",
	    &h, err, sizeof(err)), 0);
	assert_string_equal(h.time, "08 Mar 2021 10-21 -0500");
	assert_int_equal(h.version, 333);
	assert_int_equal(h.sigs, 92);
	assert_int_equal(h.flevel, 63);
	assert_string_equal(h.md5, GOOD_MD5);
	assert_string_equal(h.dsig, GOOD_DSIG);
	assert_string_equal(h.builder, "awillia2");
	assert_true(h.has_stime);
	assert_int_equal(h.stime, 1615216911);
	assert_int_equal(h.kind, CVD_KIND_CVD);
}

static void
test_header_kinds_from_md5_and_dsig(void **state)
{
	struct cvd_header h;
	char err[256];

	(void)state;
	assert_int_equal(parse("ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":X:b:4", &h, err, sizeof(err)), 0);
	assert_int_equal(h.kind, CVD_KIND_CUD);
	assert_int_equal(parse("ClamAV-VDB:t:1:2:3:X:X:b:4", &h, err, sizeof(err)), 0);
	assert_int_equal(h.kind, CVD_KIND_CLD);
	assert_int_equal(parse("ClamAV-VDB:t:1:2:3:X:" GOOD_DSIG ":b:4", &h, err, sizeof(err)), CVD_EHEADER);
	assert_non_null(strstr(err, "md5"));
}

static void
test_header_stime_may_be_missing(void **state)
{
	struct cvd_header h;
	char err[256];

	(void)state;
	assert_int_equal(parse("ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":X:b", &h, err, sizeof(err)), 0);
	assert_false(h.has_stime);
}

struct bad_case {
	const char *line;
	const char *want;   /* substring of the error */
};

static void
test_header_rejects_bad_fields(void **state)
{
	static const struct bad_case cases[] = {
		{ "", "empty" },
		{ "ClamAV-VDX:t:1:2:3:" GOOD_MD5 ":X:b:4", "ClamAV-VDB" },
		{ "ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":X", "fields" },
		{ "ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":X:b:4:5", "fields" },
		{ "ClamAV-VDB::1:2:3:" GOOD_MD5 ":X:b:4", "field 2 (time)" },
		{ "ClamAV-VDB:t:x1:2:3:" GOOD_MD5 ":X:b:4", "field 3 (version)" },
		{ "ClamAV-VDB:t::2:3:" GOOD_MD5 ":X:b:4", "field 3 (version)" },
		{ "ClamAV-VDB:t:4294967296:2:3:" GOOD_MD5 ":X:b:4", "field 3 (version)" },
		{ "ClamAV-VDB:t:1:-2:3:" GOOD_MD5 ":X:b:4", "field 4 (sigs)" },
		{ "ClamAV-VDB:t:1:2:3a:" GOOD_MD5 ":X:b:4", "field 5 (flevel)" },
		{ "ClamAV-VDB:t:1:2:3:0123456789abcdef0123456789abcde:X:b:4", "field 6 (md5)" },
		{ "ClamAV-VDB:t:1:2:3:0123456789abcdef0123456789abcdef0:X:b:4", "field 6 (md5)" },
		{ "ClamAV-VDB:t:1:2:3:0123456789ABCDEF0123456789abcdef:X:b:4", "field 6 (md5)" },
		{ "ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":ab=c:b:4", "field 7 (dsig)" },
		{ "ClamAV-VDB:t:1:2:3:" GOOD_MD5 "::b:4", "field 7 (dsig)" },
		{ "ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":X::4", "field 8 (builder)" },
		{ "ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":X:123456789012345678901234567890123:4", "field 8 (builder)" },
		{ "ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":X:b:4x", "field 9 (stime)" },
		{ "ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":X:b:\x01", "printable" },
	};
	struct cvd_header h;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(cases[i].line, &h, err, sizeof(err)),
		    CVD_EHEADER);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("case %zu '%s': error '%s' lacks '%s'", i,
			    cases[i].line, err, cases[i].want);
		assert_int_equal(h.version, 0);   /* cleared on failure */
	}
}

static void
test_header_builder_at_limit(void **state)
{
	struct cvd_header h;
	char err[256];

	(void)state;
	assert_int_equal(parse("ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":X:12345678901234567890123456789012:4",
	    &h, err, sizeof(err)), 0);
	assert_int_equal(strlen(h.builder), CVD_BUILDER_MAX);
}

static void
test_header_rejects_short_buffer_and_bad_padding(void **state)
{
	uint8_t buf[CVD_HEADER_SIZE];
	struct cvd_header h;
	char err[256];
	const char *line = "ClamAV-VDB:t:1:2:3:" GOOD_MD5 ":X:b:4";

	(void)state;
	memset(buf, ' ', sizeof(buf));
	memcpy(buf, line, strlen(line));
	assert_int_equal(cvd_header_parse(buf, 511, &h, err, sizeof(err)), CVD_EHEADER);
	assert_non_null(strstr(err, "shorter"));
	assert_int_equal(cvd_header_parse(buf, 512, &h, err, sizeof(err)), 0);
	buf[300] = '\0';
	assert_int_equal(cvd_header_parse(buf, 512, &h, err, sizeof(err)), CVD_EHEADER);
	buf[300] = '\n';
	assert_int_equal(cvd_header_parse(buf, 512, &h, err, sizeof(err)), CVD_EHEADER);
	buf[300] = 'x';   /* not spaces after the line: the line is longer */
	assert_int_equal(cvd_header_parse(buf, 512, &h, err, sizeof(err)), CVD_EHEADER);
}

static void
test_header_display_time_restores_colon(void **state)
{
	struct cvd_header h;
	char err[256], when[CVD_TIME_MAX];

	(void)state;
	assert_int_equal(parse("ClamAV-VDB:08 Mar 2021 10-21 -0500:1:2:3:" GOOD_MD5 ":X:b:4",
	    &h, err, sizeof(err)), 0);
	cvd_header_display_time(&h, when, sizeof(when));
	assert_string_equal(when, "08 Mar 2021 10:21 -0500");
	cvd_header_display_time(&h, when, 6);
	assert_string_equal(when, "08 Ma");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_accepts_signed_header),
		cmocka_unit_test(test_header_kinds_from_md5_and_dsig),
		cmocka_unit_test(test_header_stime_may_be_missing),
		cmocka_unit_test(test_header_rejects_bad_fields),
		cmocka_unit_test(test_header_builder_at_limit),
		cmocka_unit_test(test_header_rejects_short_buffer_and_bad_padding),
		cmocka_unit_test(test_header_display_time_restores_colon),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
