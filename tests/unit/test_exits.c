/*
 * exits.jsonl: one worker_exited line per exit, the last EXITS_KEEP kept
 * (trimmed at EXITS_TRIM_AT + 1, never below EXITS_KEEP), a torn last
 * line cut on open, a kill between append and trim repaired on open, the
 * file mode, and errors that name the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "events.h"
#include "exits.h"
#include "testutil.h"

#define T0 1795472225123LL           /* 2026-11-23T22:17:05.123Z */
#define PID0 10000                   /* pid of exit number 0 */

/* ---- helpers ---- */

/* remove the test's directory and free its name */
static void
rmtree(char *dir)
{
	tu_rmtree(dir);
	free(dir);
}

static const char *
path_of(const char *dir, const char *name)
{
	static char path[4096];               /* test only */

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static void
spit(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Exit number k: a crash with SIGSEGV, pid PID0 + k. */
static void
exit_event(struct event *ev, int k)
{
	char file[64];
	const char *files[1] = { file };

	snprintf(file, sizeof(file), "/srv/data/file %d.bin", k);
	events_worker_exited(ev, T0 + k, PID0 + k, SIGSEGV, 1500, files, 1);
	events_add_str(ev, "kind", EXITS_KIND_CRASH);
	events_add_int(ev, "worker", k % 4);
	events_add_int(ev, "uid", 998);
}

static void
append_range(struct exits_log *log, int from, int to)
{
	struct event ev;
	char err[512];
	int k;

	for (k = from; k < to; k++) {
		exit_event(&ev, k);
		assert_int_equal(exits_append(log, &ev, err, sizeof(err)),
		    EXITS_OK);
	}
}

/* The pid of each line, checking that every line is a whole exit line. */
static size_t
file_pids(const char *path, int *pids, size_t max)
{
	char *buf = slurp(path, NULL), *p = buf, *nl, *f;
	size_t n = 0;

	while ((nl = strchr(p, '\n')) != NULL) {
		*nl = '\0';
		assert_true(n < max);
		assert_true(events_json_check(p, (size_t)(nl - p), NULL, 0));
		assert_non_null(strstr(p, "\"event\":\"worker_exited\""));
		assert_non_null(f = strstr(p, "\"pid\":"));
		pids[n++] = (int)strtol(f + 6, NULL, 10);
		p = nl + 1;
	}
	assert_int_equal(*p, '\0');          /* nothing after the last newline */
	free(buf);
	return n;
}

static size_t
count_lines(const char *path)
{
	static int pids[3 * EXITS_KEEP];     /* test only */

	return file_pids(path, pids, 3 * EXITS_KEEP);
}

/* ---- tests ---- */

static void
test_exits_line_is_the_worker_exited_event(void **state)
{
	struct exits_log log;
	struct event ev;
	char err[512], want[EVENTS_LINE_MAX + 1], *buf;
	char *dir = tu_tmpdir();

	(void)state;
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	assert_string_equal(err, "");
	assert_int_equal(log.lines, 0);
	exit_event(&ev, 7);
	assert_int_equal(exits_append(&log, &ev, err, sizeof(err)), EXITS_OK);
	assert_int_equal(log.lines, 1);
	exits_close(&log);

	buf = slurp(path_of(dir, EXITS_FILE_NAME), NULL);
	assert_true(events_render(&ev, want, sizeof(want)) > 0);
	assert_string_equal(buf, want);
	assert_non_null(strstr(buf, "\"signal\":\"SIGSEGV\",\"core_dumped\":false,\"uptime_ms\":1500,\"files\":[\"/srv/data/file 7.bin\"],\"kind\":\"crash\",\"worker\":3,\"uid\":998}\n"));
	free(buf);
	rmtree(dir);
}

static void
test_exits_keeps_2000_lines_after_2000_appends(void **state)
{
	static int pids[3 * EXITS_KEEP];
	struct exits_log log;
	char err[512];
	char *dir = tu_tmpdir();
	size_t n;

	(void)state;
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	append_range(&log, 0, EXITS_TRIM_AT);
	assert_int_equal(log.lines, EXITS_TRIM_AT);
	n = file_pids(path_of(dir, EXITS_FILE_NAME), pids, 3 * EXITS_KEEP);
	assert_int_equal(n, EXITS_TRIM_AT);
	assert_int_equal(pids[0], PID0);
	assert_int_equal(pids[n - 1], PID0 + EXITS_TRIM_AT - 1);
	exits_close(&log);
	rmtree(dir);
}

static void
test_exits_keeps_last_1000_after_2001_appends(void **state)
{
	static int pids[3 * EXITS_KEEP];
	struct exits_log log;
	char err[512];
	char *dir = tu_tmpdir();
	struct stat st;
	size_t n, i;

	(void)state;
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	append_range(&log, 0, EXITS_TRIM_AT + 1);
	assert_int_equal(log.lines, EXITS_KEEP);
	n = file_pids(path_of(dir, EXITS_FILE_NAME), pids, 3 * EXITS_KEEP);
	assert_int_equal(n, EXITS_KEEP);
	for (i = 0; i < n; i++)
		assert_int_equal(pids[i], PID0 + EXITS_KEEP + 1 + (int)i);
	/* the rewrite left no temporary file and kept the mode */
	assert_int_equal(stat(path_of(dir, ".exits.jsonl.tmp"), &st), -1);
	assert_int_equal(stat(path_of(dir, EXITS_FILE_NAME), &st), 0);
	assert_int_equal(st.st_mode & 07777, EXITS_FILE_MODE);

	/* appending goes on in the new file: 1000 more, then trimmed again */
	append_range(&log, EXITS_TRIM_AT + 1, 2 * EXITS_TRIM_AT - EXITS_KEEP + 1);
	assert_int_equal(log.lines, EXITS_TRIM_AT);
	assert_int_equal(count_lines(path_of(dir, EXITS_FILE_NAME)),
	    EXITS_TRIM_AT);
	append_range(&log, 2 * EXITS_TRIM_AT - EXITS_KEEP + 1,
	    2 * EXITS_TRIM_AT - EXITS_KEEP + 2);
	n = file_pids(path_of(dir, EXITS_FILE_NAME), pids, 3 * EXITS_KEEP);
	assert_int_equal(n, EXITS_KEEP);
	assert_int_equal(pids[n - 1], PID0 + 2 * EXITS_TRIM_AT - EXITS_KEEP + 1);
	exits_close(&log);
	rmtree(dir);
}

/* A kill -9 between the append and the rewrite: the next open trims. */
static void
test_exits_open_trims_a_file_of_2001_lines(void **state)
{
	static int pids[3 * EXITS_KEEP];
	struct exits_log log;
	struct event ev;
	char err[512], line[EVENTS_LINE_MAX + 1];
	char *dir = tu_tmpdir();
	FILE *f;
	size_t n;
	int k;

	(void)state;
	assert_non_null(f = fopen(path_of(dir, EXITS_FILE_NAME), "wb"));
	for (k = 0; k < EXITS_TRIM_AT + 1; k++) {
		exit_event(&ev, k);
		n = events_render(&ev, line, sizeof(line));
		assert_int_equal(fwrite(line, 1, n, f), n);
	}
	assert_int_equal(fclose(f), 0);
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	assert_int_equal(log.lines, EXITS_KEEP);
	n = file_pids(path_of(dir, EXITS_FILE_NAME), pids, 3 * EXITS_KEEP);
	assert_int_equal(n, EXITS_KEEP);
	assert_int_equal(pids[0], PID0 + EXITS_KEEP + 1);
	assert_int_equal(pids[n - 1], PID0 + EXITS_TRIM_AT);
	exits_close(&log);
	rmtree(dir);
}

static void
test_exits_open_cuts_a_torn_last_line(void **state)
{
	static const char *const tails[] = { "{", "{\"time\":\"2026-11-23T22:17",
		"garbage without newline" };
	static int pids[8];
	struct exits_log log;
	struct event ev;
	char err[512], line[EVENTS_LINE_MAX + 1], whole[3 * sizeof(line) + 64];
	size_t n, len, t;
	char *dir = tu_tmpdir();

	(void)state;
	for (t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
		len = 0;
		for (int k = 0; k < 2; k++) {
			exit_event(&ev, k);
			n = events_render(&ev, line, sizeof(line));
			memcpy(whole + len, line, n);
			len += n;
		}
		n = strlen(tails[t]);
		memcpy(whole + len, tails[t], n);
		spit(path_of(dir, EXITS_FILE_NAME), whole, len + n);

		assert_int_equal(exits_open(&log, dir, err, sizeof(err)),
		    EXITS_OK);
		assert_int_equal(log.lines, 2);
		assert_int_equal(count_lines(path_of(dir, EXITS_FILE_NAME)), 2);
		append_range(&log, 2, 3);
		exits_close(&log);
		n = file_pids(path_of(dir, EXITS_FILE_NAME), pids, 8);
		assert_int_equal(n, 3);
		assert_int_equal(pids[2], PID0 + 2);
	}

	/* a file that is one torn line: emptied */
	spit(path_of(dir, EXITS_FILE_NAME), "{\"ti", 4);
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	assert_int_equal(log.lines, 0);
	free(slurp(path_of(dir, EXITS_FILE_NAME), &len));
	assert_int_equal(len, 0);
	exits_close(&log);
	rmtree(dir);
}

static void
test_exits_file_mode_is_0640_whatever_the_umask(void **state)
{
	struct exits_log log;
	struct stat st;
	char err[512];
	char *dir = tu_tmpdir();
	mode_t old = umask(0077);

	(void)state;
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	umask(old);
	assert_int_equal(stat(path_of(dir, EXITS_FILE_NAME), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	exits_close(&log);
	rmtree(dir);
}

static void
test_exits_errors_name_the_file_and_do_not_abort(void **state)
{
	struct exits_log log;
	struct event ev;
	char err[512], missing[4096];
	char *dir = tu_tmpdir();

	(void)state;
	/* exits.jsonl is a directory: open and append fail, naming it */
	assert_int_equal(mkdir(path_of(dir, EXITS_FILE_NAME), 0700), 0);
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_ERR_IO);
	assert_non_null(strstr(err, "/exits.jsonl: "));
	exit_event(&ev, 0);
	assert_int_equal(exits_append(&log, &ev, err, sizeof(err)),
	    EXITS_ERR_IO);
	assert_non_null(strstr(err, "/exits.jsonl: "));
	/* once it is fixed, the next append works */
	assert_int_equal(rmdir(path_of(dir, EXITS_FILE_NAME)), 0);
	assert_int_equal(exits_append(&log, &ev, err, sizeof(err)), EXITS_OK);
	assert_int_equal(log.lines, 1);
	exits_close(&log);

	/* a symlink is not followed */
	assert_int_equal(unlink(path_of(dir, EXITS_FILE_NAME)), 0);
	assert_int_equal(symlink("/etc/passwd", path_of(dir, EXITS_FILE_NAME)),
	    0);
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_ERR_IO);
	assert_non_null(strstr(err, "exits.jsonl"));
	exits_close(&log);

	/* a missing state directory */
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	assert_int_equal(exits_open(&log, missing, err, sizeof(err)),
	    EXITS_ERR_IO);
	assert_non_null(strstr(err, "missing/exits.jsonl: "));
	exits_close(&log);

	/* an empty event is refused */
	assert_int_equal(unlink(path_of(dir, EXITS_FILE_NAME)), 0);
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(exits_append(&log, &ev, err, sizeof(err)),
	    EXITS_ERR_INVAL);
	assert_int_equal(log.lines, 0);
	exits_close(&log);
	rmtree(dir);
}

/* A failed rewrite keeps the appended line; the next append trims. */
static void
test_exits_failed_trim_keeps_the_line_and_is_retried(void **state)
{
	static int pids[3 * EXITS_KEEP];
	struct exits_log log;
	struct event ev;
	char err[512];
	char *dir = tu_tmpdir();
	size_t n;

	(void)state;
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	append_range(&log, 0, EXITS_TRIM_AT);
	/* a directory where the temporary file goes: statefile_write fails */
	assert_int_equal(mkdir(path_of(dir, ".exits.jsonl.tmp"), 0700), 0);
	exit_event(&ev, EXITS_TRIM_AT);
	assert_int_equal(exits_append(&log, &ev, err, sizeof(err)),
	    EXITS_ERR_TRIM);
	assert_non_null(strstr(err, "trim: "));
	assert_non_null(strstr(err, "/exits.jsonl: create temporary file"));
	assert_int_equal(count_lines(path_of(dir, EXITS_FILE_NAME)),
	    EXITS_TRIM_AT + 1);
	assert_int_equal(rmdir(path_of(dir, ".exits.jsonl.tmp")), 0);
	append_range(&log, EXITS_TRIM_AT + 1, EXITS_TRIM_AT + 2);
	assert_int_equal(log.lines, EXITS_KEEP);
	n = file_pids(path_of(dir, EXITS_FILE_NAME), pids, 3 * EXITS_KEEP);
	assert_int_equal(n, EXITS_KEEP);
	assert_int_equal(pids[n - 1], PID0 + EXITS_TRIM_AT + 1);
	exits_close(&log);
	rmtree(dir);
}

/* Opening again counts what is there; appends continue after it. */
static void
test_exits_reopen_counts_existing_lines(void **state)
{
	struct exits_log log;
	char err[512];
	char *dir = tu_tmpdir();

	(void)state;
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	append_range(&log, 0, 1500);
	exits_close(&log);
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	assert_int_equal(log.lines, 1500);
	append_range(&log, 1500, EXITS_TRIM_AT);
	assert_int_equal(log.lines, EXITS_TRIM_AT);
	append_range(&log, EXITS_TRIM_AT, EXITS_TRIM_AT + 1);
	assert_int_equal(log.lines, EXITS_KEEP);
	exits_close(&log);
	assert_int_equal(count_lines(path_of(dir, EXITS_FILE_NAME)), EXITS_KEEP);
	rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exits_line_is_the_worker_exited_event),
		cmocka_unit_test(test_exits_keeps_2000_lines_after_2000_appends),
		cmocka_unit_test(test_exits_keeps_last_1000_after_2001_appends),
		cmocka_unit_test(test_exits_open_trims_a_file_of_2001_lines),
		cmocka_unit_test(test_exits_open_cuts_a_torn_last_line),
		cmocka_unit_test(test_exits_file_mode_is_0640_whatever_the_umask),
		cmocka_unit_test(test_exits_errors_name_the_file_and_do_not_abort),
		cmocka_unit_test(test_exits_failed_trim_keeps_the_line_and_is_retried),
		cmocka_unit_test(test_exits_reopen_counts_existing_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
