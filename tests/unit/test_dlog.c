/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampdaemon's log: the file line (time, pid, level, message), the stderr
 * copy, and journald's <N> priority prefix when stderr is the stream that
 * JOURNAL_STREAM names (and only then).
 */
#include <fcntl.h>
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

#include "dlog.h"
#include "testutil.h"

struct fx {
	char *dir;
	char errpath[4096];
	int saved_stderr;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	f->dir = tu_tmpdir();
	snprintf(f->errpath, sizeof(f->errpath), "%s/stderr", f->dir);
	fd = open(f->errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	f->saved_stderr = dup(STDERR_FILENO);
	assert_true(f->saved_stderr >= 0);
	assert_true(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	close(fd);
	unsetenv("JOURNAL_STREAM");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	dup2(f->saved_stderr, STDERR_FILENO);
	close(f->saved_stderr);
	unsetenv("JOURNAL_STREAM");
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static char *
slurp(const char *path)
{
	static char buf[8192];
	FILE *fp = fopen(path, "r");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* JOURNAL_STREAM naming fd's device and inode, plus junk when asked */
static void
set_journal_stream(int fd, const char *junk)
{
	struct stat st;
	char v[128];

	assert_int_equal(fstat(fd, &st), 0);
	snprintf(v, sizeof(v), "%ju:%ju%s", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino, junk);
	assert_int_equal(setenv("JOURNAL_STREAM", v, 1), 0);
}

static void
test_file_and_plain_stderr(void **state)
{
	struct fx *f = *state;
	struct dlog l;
	char err[256], path[4200], want[64];
	const char *s;

	assert_int_equal(dlog_open(&l, f->dir, true, err, sizeof(err)), 0);
	assert_false(l.journal);
	dlog(&l, DLOG_WARNING, "disk %d%% full", 97);
	dlog_close(&l);
	snprintf(path, sizeof(path), "%s/%s", f->dir, DLOG_NAME);
	snprintf(want, sizeof(want), " ampdaemon[%d]: warning: disk 97%% full\n",
	    (int)getpid());
	s = slurp(path);
	/* 2026-11-24T08:30:00.123Z, then the rest */
	assert_int_equal(strlen(s), 24 + strlen(want));
	assert_int_equal(s[4], '-');
	assert_int_equal(s[23], 'Z');
	assert_string_equal(s + 24, want);
	s = slurp(f->errpath);
	assert_string_equal(s + 24, want);
}

static void
test_journal_prefixes(void **state)
{
	struct fx *f = *state;
	struct dlog l;
	char err[256], path[4200], want[64];

	set_journal_stream(STDERR_FILENO, "");
	assert_true(dlog_fd_is_journal(STDERR_FILENO));
	assert_int_equal(dlog_open(&l, f->dir, true, err, sizeof(err)), 0);
	assert_true(l.journal);
	dlog(&l, DLOG_ERROR, "e");
	dlog(&l, DLOG_WARNING, "w");
	dlog(&l, DLOG_INFO, "i");
	dlog(&l, DLOG_DEBUG, "d");
	dlog_close(&l);
	assert_string_equal(slurp(f->errpath),
	    "<3>error: e\n<4>warning: w\n<6>info: i\n<7>debug: d\n");
	/* the file keeps its own format */
	snprintf(path, sizeof(path), "%s/%s", f->dir, DLOG_NAME);
	snprintf(want, sizeof(want), " ampdaemon[%d]: debug: d\n", (int)getpid());
	assert_non_null(strstr(slurp(path), want));
}

static void
test_journal_stream_must_match(void **state)
{
	struct fx *f = *state;
	int other;
	char p[4200];

	snprintf(p, sizeof(p), "%s/other", f->dir);
	other = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(other >= 0);
	set_journal_stream(other, "");       /* another file: not ours */
	assert_false(dlog_fd_is_journal(STDERR_FILENO));
	set_journal_stream(STDERR_FILENO, "x");   /* trailing junk */
	assert_false(dlog_fd_is_journal(STDERR_FILENO));
	assert_int_equal(setenv("JOURNAL_STREAM", "", 1), 0);
	assert_false(dlog_fd_is_journal(STDERR_FILENO));
	for (const char *const *v = (const char *const[]){ "12", ":5", "5:",
	    "5:6:7", "-1:2", "99999999999999999999999:1", NULL }; *v != NULL; v++) {
		assert_int_equal(setenv("JOURNAL_STREAM", *v, 1), 0);
		assert_false(dlog_fd_is_journal(STDERR_FILENO));
	}
	unsetenv("JOURNAL_STREAM");
	assert_false(dlog_fd_is_journal(STDERR_FILENO));
	close(other);
}

/* a message as long as the line allows: cut, still one line, prefix intact */
static void
test_journal_long_line(void **state)
{
	struct fx *f = *state;
	struct dlog l;
	char err[256], *big;
	const char *s;

	big = malloc(DLOG_LINE_MAX * 2);
	assert_non_null(big);
	memset(big, 'x', DLOG_LINE_MAX * 2 - 1);
	big[DLOG_LINE_MAX * 2 - 1] = '\0';
	set_journal_stream(STDERR_FILENO, "");
	assert_int_equal(dlog_open(&l, f->dir, true, err, sizeof(err)), 0);
	dlog(&l, DLOG_INFO, "%s", big);
	dlog_close(&l);
	s = slurp(f->errpath);
	assert_memory_equal(s, "<6>info: xxx", 12);
	assert_int_equal(s[strlen(s) - 1], '\n');
	assert_ptr_equal(strchr(s, '\n'), s + strlen(s) - 1);   /* one line */
	free(big);
}

/* dlog_escape: the scan socket's escapes, never half of one */
static void
test_escape(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(dlog_escape(buf, sizeof(buf), "a\nb\rc\td\x01\x1b\x7f\\\xc3\xa9"), 25);
	assert_string_equal(buf, "a\\nb\\rc\\td\\x01\\x1b\\x7f\\\xc3\xa9");
	/* cut before an escape that would not fit */
	assert_int_equal(dlog_escape(buf, 4, "ab\n"), 2);
	assert_string_equal(buf, "ab");
	assert_int_equal(dlog_escape(buf, 5, "ab\n"), 4);
	assert_string_equal(buf, "ab\\n");
	assert_int_equal(dlog_escape(buf, 1, "ab"), 0);
	assert_string_equal(buf, "");
	assert_int_equal(dlog_escape(buf, 0, "ab"), 0);
}

/* a message is one line, whatever its arguments hold (a file name) */
static void
test_message_escaped(void **state)
{
	struct fx *f = *state;
	struct dlog l;
	char err[256], path[4200];
	const char *s, *nl;

	assert_int_equal(dlog_open(&l, f->dir, true, err, sizeof(err)), 0);
	dlog(&l, DLOG_INFO, "%s: Sig FOUND", "/srv/x\n2026-01-01T00:00:00.000Z ampdaemon[1]: info: /y: OK");
	dlog_close(&l);
	snprintf(path, sizeof(path), "%s/%s", f->dir, DLOG_NAME);
	s = slurp(path);
	nl = strchr(s, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');   /* one line */
	assert_non_null(strstr(s, "info: /srv/x\\n2026-01-01T00:00:00.000Z ampdaemon[1]: info: /y: OK: Sig FOUND\n"));
	s = slurp(f->errpath);   /* stderr: the same */
	assert_int_equal(strchr(s, '\n')[1], '\0');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_and_plain_stderr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_prefixes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_stream_must_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_long_line, setup, teardown),
		cmocka_unit_test(test_escape),
		cmocka_unit_test_setup_teardown(test_message_escaped, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
