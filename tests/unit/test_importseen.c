/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The lines of StateDir/import.seen (importseen.h): names, a round trip
 * through format and parse (extreme numbers included), the lines
 * refused (overlong, too few or too many fields, not numbers, bad
 * names, a NUL), and the whole file (duplicates, a cut last line, the cap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "importseen.h"

static bool
parse(const char *s, struct import_file *f)
{
	return importseen_parse_line(s, strlen(s), f);
}

static void
test_names(void **state)
{
	char db[IMPORT_DBNAME_MAX + 1], long_name[IMPORT_DBNAME_MAX + 6];
	const char *ext;

	(void)state;
	assert_true(importseen_name_ok("main.cvd", db, sizeof(db), &ext));
	assert_string_equal(db, "main");
	assert_string_equal(ext, ".cvd");
	assert_true(importseen_name_ok("daily.cld", db, sizeof(db), &ext));
	assert_true(importseen_name_ok("my_db-2.cud", db, sizeof(db), &ext));
	assert_string_equal(db, "my_db-2");
	assert_false(importseen_name_ok(".cvd", db, sizeof(db), &ext));
	assert_false(importseen_name_ok(".main.cvd", db, sizeof(db), &ext));
	assert_false(importseen_name_ok("main.cvd.sign", db, sizeof(db), &ext));
	assert_false(importseen_name_ok("main.cdiff", db, sizeof(db), &ext));
	assert_false(importseen_name_ok("freshclam.dat", db, sizeof(db), &ext));
	assert_false(importseen_name_ok("ma in.cvd", db, sizeof(db), &ext));
	assert_false(importseen_name_ok("a/b.cvd", db, sizeof(db), &ext));
	assert_false(importseen_name_ok("", db, sizeof(db), &ext));
	memset(long_name, 'a', IMPORT_DBNAME_MAX);
	memcpy(long_name + IMPORT_DBNAME_MAX, ".cvd", 5);
	assert_true(importseen_name_ok(long_name, db, sizeof(db), &ext));
	memset(long_name, 'a', IMPORT_DBNAME_MAX + 1);
	memcpy(long_name + IMPORT_DBNAME_MAX + 1, ".cvd", 5);
	assert_false(importseen_name_ok(long_name, db, sizeof(db), &ext));
	/* db too small for the name: refused, not cut */
	assert_false(importseen_name_ok("main.cvd", db, 4, &ext));
}

static void
round_trip(const struct import_file *f)
{
	char line[IMPORT_SEEN_LINE];
	struct import_file back;
	size_t n;

	n = importseen_format_line(f, line, sizeof(line));
	assert_true(n > 0 && n < sizeof(line));
	assert_int_equal(line[n - 1], '\n');
	assert_true(importseen_parse_line(line, n - 1, &back));
	assert_string_equal(back.name, f->name);
	assert_true(back.dev == f->dev && back.ino == f->ino && back.size == f->size);
	assert_true(back.mtime_ns == f->mtime_ns && back.smtime_ns == f->smtime_ns);
	assert_true(back.sdev == f->sdev && back.sino == f->sino &&
	    back.ssize == f->ssize);
	assert_true(back.final);
	assert_false(back.seen);
}

static void
test_round_trip(void **state)
{
	struct import_file f = { .name = "daily.cld", .dev = 2049, .ino = 1234567,
	    .size = 60123456, .mtime_ns = 1795472225123456789LL };
	char line[IMPORT_SEEN_LINE];

	(void)state;
	round_trip(&f);
	assert_int_equal(importseen_format_line(&f, line, sizeof(line)),
	    strlen("daily.cld 2049 1234567 60123456 1795472225123456789 0 0 0 0\n"));
	assert_string_equal(line, "daily.cld 2049 1234567 60123456 1795472225123456789 0 0 0 0\n");
	/* every number at its extremes; a time before 1970 */
	memset(&f, 0, sizeof(f));
	memset(f.name, 'z', IMPORT_DBNAME_MAX);
	memcpy(f.name + IMPORT_DBNAME_MAX, ".cvd", 5);
	f.dev = f.ino = f.size = f.sdev = f.sino = f.ssize = UINT64_MAX;
	f.mtime_ns = INT64_MIN;
	f.smtime_ns = -1;
	round_trip(&f);
	/* too small a buffer: 0, never a cut line */
	assert_int_equal(importseen_format_line(&f, line, 20), 0);
	/* a name that could not be read back: not written */
	memset(&f, 0, sizeof(f));
	memcpy(f.name, "bad name.cvd", 13);
	assert_int_equal(importseen_format_line(&f, line, sizeof(line)), 0);
	memset(f.name, 'a', sizeof(f.name));   /* no NUL at all */
	assert_int_equal(importseen_format_line(&f, line, sizeof(line)), 0);
}

static void
test_rejected_lines(void **state)
{
	static const char *const bad[] = {
		"",
		"main.cvd",
		"main.cvd ",
		"main.cvd 1 2 3 4 5 6 7",                 /* too few */
		"main.cvd 1 2 3 4 5 6 7 8 9",             /* too many */
		"main.cvd 1 2 3 4 5 6 7 8 ",              /* trailing space */
		"main.cvd  1 2 3 4 5 6 7 8",              /* two spaces */
		"main.cvd 1 2 3 4 5 6 7 x",               /* not a number */
		"main.cvd 1 2 3 -4 5 6 7 8",              /* a sign */
		"main.cvd 1 2 3 04 5 6 7 8",              /* a leading zero */
		"main.cvd 1 2 3 4 5 6 7 18446744073709551616",  /* 2^64 */
		"main.cvd 1 2 3 4 5 6 7 8\r",
		"main.cvd\t1 2 3 4 5 6 7 8",
		"main.cdiff 1 2 3 4 5 6 7 8",             /* bad names */
		".main.cvd 1 2 3 4 5 6 7 8",
		"main.cvd.sign 1 2 3 4 5 6 7 8",
		"../main.cvd 1 2 3 4 5 6 7 8",
		" main.cvd 1 2 3 4 5 6 7 8",
	};
	struct import_file f;
	char line[IMPORT_SEEN_LINE + 64];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &f))
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_false(f.final);
	}
	assert_true(parse("main.cvd 1 2 3 4 5 6 7 8", &f));
	assert_string_equal(f.name, "main.cvd");
	assert_true(f.dev == 1 && f.smtime_ns == 8);
	/* a NUL inside the name: not a shorter name */
	assert_false(importseen_parse_line("main.cvd\0x 1 2 3 4 5 6 7 8", 26, &f));
	/* a name longer than any kept */
	memset(line, 'a', 300);
	memcpy(line + 300, ".cvd 1 2 3 4 5 6 7 8", 21);
	assert_false(parse(line, &f));
	/* overlong: IMPORT_SEEN_LINE or more, even of good fields */
	n = (size_t)snprintf(line, sizeof(line), "main.cvd 1 2 3 4 5 6 7 8");
	memset(line + n, ' ', IMPORT_SEEN_LINE - n);
	assert_false(importseen_parse_line(line, IMPORT_SEEN_LINE, &f));
	assert_true(importseen_parse_line(line, n, &f));
}

static void
test_whole_file(void **state)
{
	static const char text[] =
	    "main.cvd 1 2 3 4 0 0 0 0\n"
	    "garbage\n"
	    "daily.cld 5 6 7 8 0 0 0 0\n"
	    "main.cvd 9 9 9 9 0 0 0 0\n"             /* a duplicate: the first wins */
	    "\n"
	    "bytecode.cvd 1 1 1 1 1 1 1 1";          /* no newline: cut, ignored */
	struct import_file f[3];
	unsigned n = 0;

	(void)state;
	memset(f, 0x55, sizeof(f));
	importseen_parse(text, sizeof(text) - 1, f, 3, &n);
	assert_int_equal(n, 2);
	assert_string_equal(f[0].name, "main.cvd");
	assert_true(f[0].dev == 1 && f[0].final);
	assert_string_equal(f[1].name, "daily.cld");
	assert_true(f[1].ino == 6);
	assert_string_equal(f[2].name, "");   /* no leftover of a refused line */
	/* the cap */
	n = 0;
	importseen_parse(text, sizeof(text) - 1, f, 1, &n);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].name, "main.cvd");
	/* nothing */
	n = 0;
	importseen_parse("", 0, f, 3, &n);
	assert_int_equal(n, 0);
}

/* the labels of status and metrics: one each, none missing */
static void
test_labels(void **state)
{
	(void)state;
	assert_string_equal(importseen_why_name(IMPORT_WHY_START), "start");
	assert_string_equal(importseen_why_name(IMPORT_WHY_RELOAD), "RELOAD");
	for (int w = 0; w < IMPORT_WHY_COUNT; w++)
		assert_string_not_equal(importseen_why_name((enum import_why)w), "?");
	assert_string_equal(importseen_why_name(IMPORT_WHY_COUNT), "?");
	assert_string_equal(importseen_result_name(IMPORT_RES_IO_ERROR), "io_error");
	for (int r = 0; r < IMPORT_RES_COUNT; r++)
		assert_string_not_equal(importseen_result_name((enum import_result)r), "?");
	assert_string_equal(importseen_result_name(IMPORT_RES_COUNT), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rejected_lines),
		cmocka_unit_test(test_whole_file),
		cmocka_unit_test(test_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
