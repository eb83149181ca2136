/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampbase's one-of-each helpers: numbers and hex (num.c), the bounded
 * buffer (buf.c), and statefile's streaming and no-replace writes.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "num.h"
#include "statefile.h"
#include "testutil.h"

/* ---- num ---- */

static enum num_rc
u64s(const char *s, unsigned flags, uint64_t *v)
{
	return num_u64(s, strlen(s), flags, v);
}

static void
test_num_u64_exact_and_canonical(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(u64s("0", NUM_CANONICAL, &v), NUM_OK);
	assert_int_equal(v, 0);
	assert_int_equal(u64s("18446744073709551615", 0, &v), NUM_OK);
	assert_true(v == UINT64_MAX);
	assert_int_equal(u64s("18446744073709551616", 0, &v), NUM_RANGE);
	assert_int_equal(u64s("007", 0, &v), NUM_OK);
	assert_int_equal(v, 7);
	assert_int_equal(u64s("007", NUM_CANONICAL, &v), NUM_SYNTAX);
	assert_int_equal(u64s("", 0, &v), NUM_SYNTAX);
	assert_int_equal(u64s("+1", 0, &v), NUM_SYNTAX);
	assert_int_equal(u64s("1 ", 0, &v), NUM_SYNTAX);
	assert_int_equal(u64s("-1", 0, &v), NUM_SYNTAX);
	/* exactly n bytes: what follows is not read */
	assert_int_equal(num_u64("12x", 2, 0, &v), NUM_OK);
	assert_int_equal(v, 12);
}

static void
test_num_i64_limits(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(num_i64("-9223372036854775808", 20, NUM_CANONICAL, &v),
	    NUM_OK);
	assert_true(v == INT64_MIN);
	assert_int_equal(num_i64("9223372036854775807", 19, 0, &v), NUM_OK);
	assert_true(v == INT64_MAX);
	assert_int_equal(num_i64("9223372036854775808", 19, 0, &v), NUM_RANGE);
	assert_int_equal(num_i64("-9223372036854775809", 20, 0, &v), NUM_RANGE);
	assert_int_equal(num_i64("-0", 2, NUM_CANONICAL, &v), NUM_SYNTAX);
	assert_int_equal(num_i64("-0", 2, 0, &v), NUM_OK);
	assert_int_equal(num_i64("-", 1, 0, &v), NUM_SYNTAX);
}

static void
test_num_size_and_duration_units(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(num_size("4k", 2, &v), NUM_OK);
	assert_int_equal(v, 4096);
	assert_int_equal(num_size("2G", 2, &v), NUM_OK);
	assert_true(v == 2ULL << 30);
	assert_int_equal(num_size("10", 2, &v), NUM_OK);
	assert_int_equal(v, 10);
	assert_int_equal(num_size("1KB", 3, &v), NUM_SYNTAX);
	assert_int_equal(num_size("K", 1, &v), NUM_SYNTAX);
	assert_int_equal(num_size("17179869184G", 12, &v), NUM_RANGE);
	assert_int_equal(num_duration_ms("5", 1, &v), NUM_OK);
	assert_int_equal(v, 5000);
	assert_int_equal(num_duration_ms("250ms", 5, &v), NUM_OK);
	assert_int_equal(v, 250);
	assert_int_equal(num_duration_ms("2h", 2, &v), NUM_OK);
	assert_int_equal(v, 7200000);
	assert_int_equal(num_duration_ms("2H", 2, &v), NUM_SYNTAX);
	assert_int_equal(num_duration_ms("2d", 2, &v), NUM_SYNTAX);
}

static void
test_num_hex_round_trip_and_case(void **state)
{
	const uint8_t bytes[4] = { 0x00, 0x9f, 0xa0, 0xff };
	uint8_t out[4];
	char hex[9];

	(void)state;
	num_hex(bytes, 4, hex);
	assert_string_equal(hex, "009fa0ff");
	assert_true(num_unhex(hex, 4, NUM_HEX_LOWER, out));
	assert_memory_equal(out, bytes, 4);
	assert_true(num_unhex("009FA0FF", 4, 0, out));
	assert_memory_equal(out, bytes, 4);
	assert_false(num_unhex("009FA0FF", 4, NUM_HEX_LOWER, out));
	assert_false(num_unhex("0g", 1, 0, out));
	assert_int_equal(num_hexval('F'), 15);
	assert_int_equal(num_hexval('/'), -1);
}

/* ---- buf ---- */

static void
test_num_hex_u64_whole_field(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(num_hex_u64("000001ffffffffff", 16, &v), NUM_OK);
	assert_true(v == 0x1ffffffffffULL);
	assert_int_equal(num_hex_u64("FFFFFFFFFFFFFFFF", 16, &v), NUM_OK);
	assert_true(v == UINT64_MAX);
	assert_int_equal(num_hex_u64("10000000000000000", 17, &v), NUM_RANGE);
	assert_int_equal(num_hex_u64("0x1", 3, &v), NUM_SYNTAX);
	assert_int_equal(num_hex_u64("1 ", 2, &v), NUM_SYNTAX);
	v = 7;
	assert_int_equal(num_hex_u64("", 0, &v), NUM_SYNTAX);
	assert_true(v == 7);                    /* untouched on failure */
}

static void
test_buf_byte_order_is_the_wires(void **state)
{
	static const uint8_t want[] = { 0x04, 0x03, 0x02, 0x01, 0x01, 0x02,
		0x03, 0x04, 0xbb, 0xaa, 8, 7, 6, 5, 4, 3, 2, 1 };
	uint8_t mem[sizeof(want)];
	struct buf b, r;
	uint32_t a, c;
	uint16_t s;
	uint64_t q;

	(void)state;
	buf_init_fixed(&b, mem, sizeof(mem));
	buf_put_le32(&b, 0x01020304);
	buf_put_be32(&b, 0x01020304);
	buf_put_le16(&b, 0xaabb);
	buf_put_le64(&b, 0x0102030405060708ULL);
	assert_int_equal(buf_error(&b), BUF_OK);
	assert_memory_equal(mem, want, sizeof(want));
	/* full: one more byte fails and changes nothing */
	assert_int_equal(buf_put_u8(&b, 9), BUF_ENOSPC);
	assert_int_equal(b.len, sizeof(want));
	buf_init_view(&r, want, sizeof(want));
	buf_get_le32(&r, &a);
	buf_get_be32(&r, &c);
	buf_get_le16(&r, &s);
	buf_get_le64(&r, &q);
	assert_int_equal(buf_done(&r), BUF_OK);
	assert_int_equal(a, 0x01020304);
	assert_int_equal(c, 0x01020304);
	assert_int_equal(s, 0xaabb);
	assert_true(q == 0x0102030405060708ULL);
}

static void
test_buf_errors_are_sticky(void **state)
{
	static const uint8_t three[3] = { 1, 2, 3 };
	struct buf r;
	uint32_t v = 99;
	uint8_t c = 99;

	(void)state;
	buf_init_view(&r, three, sizeof(three));
	assert_int_equal(buf_get_le32(&r, &v), BUF_ESHORT);
	assert_int_equal(v, 0);
	/* a byte is there, but the buffer already failed */
	assert_int_equal(buf_get_u8(&r, &c), BUF_ESHORT);
	assert_int_equal(c, 0);
	assert_int_equal(buf_done(&r), BUF_ESHORT);
	assert_int_equal(buf_put_u8(&r, 1), BUF_ESHORT);
	buf_reset(&r);
	assert_int_equal(buf_put_u8(&r, 1), BUF_ERDONLY);
	buf_reset(&r);
	assert_int_equal(buf_get_u8(&r, &c), BUF_OK);
	assert_int_equal(buf_done(&r), BUF_EBAD);     /* two bytes unread */
	assert_int_equal(buf_fail(&r, BUF_EBAD), BUF_EBAD);
	assert_non_null(buf_strerror(BUF_EBAD));
}

static void
test_buf_grows_to_its_max_and_no_further(void **state)
{
	uint8_t chunk[100] = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 1000);
	for (int i = 0; i < 10; i++)
		assert_int_equal(buf_put(&b, chunk, sizeof(chunk)), BUF_OK);
	assert_int_equal(b.len, 1000);
	assert_true(b.cap <= 1000);
	assert_int_equal(buf_put_u8(&b, 1), BUF_ENOSPC);
	assert_int_equal(b.len, 1000);
	buf_reset(&b);
	assert_int_equal(buf_put_u8(&b, 1), BUF_OK);
	assert_int_equal(buf_poke(&b, 0, "x", 1), BUF_OK);
	assert_int_equal(buf_poke(&b, 1, "x", 1), BUF_ESHORT);
	buf_free(&b);
	assert_null(b.d);
	assert_int_equal(b.max, 1000);
}

/* ---- statefile: streaming, no-replace ---- */

/* Entries of dir other than . and ..; the names joined by ' '. */
static size_t
dir_entries(const char *dir, char *names, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	names[0] = '\0';
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		strncat(names, e->d_name, len - strlen(names) - 2);
		strncat(names, " ", len - strlen(names) - 1);
	}
	closedir(d);
	return n;
}

static void
test_statefile_streaming_commit_and_abort(void **state)
{
	char *dir = tu_tmpdir(), err[512], names[256];
	struct statefile_tmp t;
	struct stat st;
	uint8_t *got;
	size_t len;

	(void)state;
	assert_int_equal(statefile_open(&t, dir, "big.idx", 0640, 0, err,
	    sizeof(err)), STATEFILE_OK);
	assert_true(t.fd >= 0);
	assert_int_equal(statefile_write_all(t.fd, "part one, ", 10), 0);
	assert_int_equal(statefile_write_all(t.fd, "part two", 8), 0);
	/* nothing published before the commit */
	assert_false(tu_exists(tu_path(dir, "big.idx")));
	assert_true(tu_exists(tu_path(dir, ".big.idx.tmp")));
	assert_int_equal(statefile_commit(&t, err, sizeof(err)), STATEFILE_OK);
	assert_int_equal(t.fd, -1);
	assert_int_equal(t.dirfd, -1);
	statefile_abort(&t);        /* harmless after a commit */
	got = tu_read(tu_path(dir, "big.idx"), &len);
	assert_int_equal(len, 18);
	assert_memory_equal(got, "part one, part two", 18);
	free(got);
	assert_int_equal(stat(tu_path(dir, "big.idx"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* abort: the old content stays, no temporary file */
	assert_int_equal(statefile_open_path(&t, tu_path(dir, "big.idx"), 0644,
	    0, err, sizeof(err)), STATEFILE_OK);
	assert_int_equal(statefile_write_all(t.fd, "x", 1), 0);
	statefile_abort(&t);
	got = tu_read(tu_path(dir, "big.idx"), &len);
	assert_int_equal(len, 18);
	free(got);
	assert_int_equal(dir_entries(dir, names, sizeof(names)), 1);
	assert_string_equal(names, "big.idx ");
	tu_rmtree(dir);
	free(dir);
}

static void
test_statefile_noreplace_refuses_an_existing_file(void **state)
{
	char *dir = tu_tmpdir(), err[512], names[256];
	struct statefile_tmp t;
	uint8_t *got;
	size_t len;

	(void)state;
	tu_write_str(tu_path(dir, "keep"), "operator's");
	assert_int_equal(statefile_write_flags(dir, "keep", "ours", 4, 0644,
	    STATEFILE_NOREPLACE, err, sizeof(err)), STATEFILE_ERR_IO);
	assert_int_equal(errno, EEXIST);
	assert_non_null(strstr(err, "keep: rename temporary file: File exists"));
	got = tu_read(tu_path(dir, "keep"), &len);
	assert_int_equal(len, 10);
	assert_memory_equal(got, "operator's", 10);
	free(got);
	/* a symbolic link there, even a dangling one: not followed, kept */
	assert_int_equal(symlink("nowhere", tu_path(dir, "link")), 0);
	assert_int_equal(statefile_open(&t, dir, "link", 0644,
	    STATEFILE_NOREPLACE, err, sizeof(err)), STATEFILE_OK);
	assert_int_equal(statefile_commit(&t, err, sizeof(err)),
	    STATEFILE_ERR_IO);
	assert_false(tu_exists(tu_path(dir, "nowhere")));
	/* no temporary file left behind: only the two names */
	assert_int_equal(dir_entries(dir, names, sizeof(names)), 2);
	/* a new name is written */
	assert_int_equal(statefile_write_flags(dir, "new", "n", 1, 0644,
	    STATEFILE_NOREPLACE, err, sizeof(err)), STATEFILE_OK);
	assert_int_equal(dir_entries(dir, names, sizeof(names)), 3);
	tu_rmtree(dir);
	free(dir);
}

static void
test_statefile_open_failure_names_the_step(void **state)
{
	char *dir = tu_tmpdir(), err[512], missing[4096];
	struct statefile_tmp t;

	(void)state;
	snprintf(missing, sizeof(missing), "%s/no-such-dir", dir);
	assert_int_equal(statefile_open(&t, missing, "x", 0644, 0, err,
	    sizeof(err)), STATEFILE_ERR_IO);
	assert_non_null(strstr(err, "no-such-dir/x: open directory: "));
	assert_int_equal(t.fd, -1);
	assert_int_equal(t.dirfd, -1);
	statefile_abort(&t);
	assert_int_equal(statefile_open(&t, dir, ".hidden", 0644, 0, err,
	    sizeof(err)), STATEFILE_ERR_NAME);
	statefile_abort(&t);
	assert_int_equal(statefile_commit(&t, err, sizeof(err)),
	    STATEFILE_ERR_IO);
	/* move: rename, then the target's directory fsync'd */
	tu_write_str(tu_path(dir, "a"), "A");
	snprintf(missing, sizeof(missing), "%s/b", dir);
	assert_int_equal(statefile_move(tu_path(dir, "a"), missing, err,
	    sizeof(err)), STATEFILE_OK);
	assert_true(tu_exists(missing));
	assert_int_equal(statefile_move(tu_path(dir, "a"), missing, err,
	    sizeof(err)), STATEFILE_ERR_IO);
	assert_non_null(strstr(err, "rename to"));
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_num_u64_exact_and_canonical),
		cmocka_unit_test(test_num_i64_limits),
		cmocka_unit_test(test_num_size_and_duration_units),
		cmocka_unit_test(test_num_hex_round_trip_and_case),
		cmocka_unit_test(test_num_hex_u64_whole_field),
		cmocka_unit_test(test_buf_byte_order_is_the_wires),
		cmocka_unit_test(test_buf_errors_are_sticky),
		cmocka_unit_test(test_buf_grows_to_its_max_and_no_further),
		cmocka_unit_test(test_statefile_streaming_commit_and_abort),
		cmocka_unit_test(test_statefile_noreplace_refuses_an_existing_file),
		cmocka_unit_test(test_statefile_open_failure_names_the_step),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
