/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * exits.jsonl: one worker_exited line per exit, the last EXITS_KEEP kept
 * (trimmed at EXITS_TRIM_AT + 1, never below EXITS_KEEP), a torn last
 * line cut on open, a kill between append and trim repaired on open, the
 * file mode, errors that name the file, and disk full (through the write
 * and sync hooks): lines queued and written in order, short writes undone,
 * overflow counted and marked, trimming after a flush.
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
#include "hooks.h"
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

/*
 * The pid of each line, checking that every line is a whole exit line;
 * with gaps, an events_dropped line is allowed too and stands as minus
 * its count.
 */
static size_t
file_lines(const char *path, int *pids, size_t max, bool gaps)
{
	char *buf = (char *)tu_read(path, NULL), *p = buf, *nl, *f;
	char type[32];
	size_t n = 0;

	while ((nl = strchr(p, '\n')) != NULL) {
		*nl = '\0';
		assert_true(n < max);
		assert_true(events_json_check(p, (size_t)(nl - p), type,
		    sizeof(type)));
		if (gaps && strcmp(type, EVENT_EVENTS_DROPPED) == 0) {
			assert_null(strstr(p, "\"pid\":"));   /* not an exit */
			assert_non_null(f = strstr(p, "\"count\":"));
			pids[n++] = -(int)strtol(f + 8, NULL, 10);
		} else {
			assert_string_equal(type, EVENT_WORKER_EXITED);
			assert_non_null(f = strstr(p, "\"pid\":"));
			pids[n++] = (int)strtol(f + 6, NULL, 10);
		}
		p = nl + 1;
	}
	assert_int_equal(*p, '\0');          /* nothing after the last newline */
	free(buf);
	return n;
}

static size_t
file_pids(const char *path, int *pids, size_t max)
{
	return file_lines(path, pids, max, false);
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
	assert_int_equal(log.file.lines, 0);
	exit_event(&ev, 7);
	assert_int_equal(exits_append(&log, &ev, err, sizeof(err)), EXITS_OK);
	assert_int_equal(log.file.lines, 1);
	exits_close(&log);

	buf = (char *)tu_read(tu_path(dir, EXITS_FILE_NAME), NULL);
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
	assert_int_equal(log.file.lines, EXITS_TRIM_AT);
	n = file_pids(tu_path(dir, EXITS_FILE_NAME), pids, 3 * EXITS_KEEP);
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
	assert_int_equal(log.file.lines, EXITS_KEEP);
	n = file_pids(tu_path(dir, EXITS_FILE_NAME), pids, 3 * EXITS_KEEP);
	assert_int_equal(n, EXITS_KEEP);
	for (i = 0; i < n; i++)
		assert_int_equal(pids[i], PID0 + EXITS_KEEP + 1 + (int)i);
	/* the rewrite left no temporary file and kept the mode */
	assert_int_equal(stat(tu_path(dir, ".exits.jsonl.tmp"), &st), -1);
	assert_int_equal(stat(tu_path(dir, EXITS_FILE_NAME), &st), 0);
	assert_int_equal(st.st_mode & 07777, EXITS_FILE_MODE);

	/* appending goes on in the new file: 1000 more, then trimmed again */
	append_range(&log, EXITS_TRIM_AT + 1, 2 * EXITS_TRIM_AT - EXITS_KEEP + 1);
	assert_int_equal(log.file.lines, EXITS_TRIM_AT);
	assert_int_equal(count_lines(tu_path(dir, EXITS_FILE_NAME)),
	    EXITS_TRIM_AT);
	append_range(&log, 2 * EXITS_TRIM_AT - EXITS_KEEP + 1,
	    2 * EXITS_TRIM_AT - EXITS_KEEP + 2);
	n = file_pids(tu_path(dir, EXITS_FILE_NAME), pids, 3 * EXITS_KEEP);
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
	assert_non_null(f = fopen(tu_path(dir, EXITS_FILE_NAME), "wb"));
	for (k = 0; k < EXITS_TRIM_AT + 1; k++) {
		exit_event(&ev, k);
		n = events_render(&ev, line, sizeof(line));
		assert_int_equal(fwrite(line, 1, n, f), n);
	}
	assert_int_equal(fclose(f), 0);
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	assert_int_equal(log.file.lines, EXITS_KEEP);
	n = file_pids(tu_path(dir, EXITS_FILE_NAME), pids, 3 * EXITS_KEEP);
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
		tu_write(tu_path(dir, EXITS_FILE_NAME), whole, len + n);

		assert_int_equal(exits_open(&log, dir, err, sizeof(err)),
		    EXITS_OK);
		assert_int_equal(log.file.lines, 2);
		assert_int_equal(count_lines(tu_path(dir, EXITS_FILE_NAME)), 2);
		append_range(&log, 2, 3);
		exits_close(&log);
		n = file_pids(tu_path(dir, EXITS_FILE_NAME), pids, 8);
		assert_int_equal(n, 3);
		assert_int_equal(pids[2], PID0 + 2);
	}

	/* a file that is one torn line: emptied */
	tu_write(tu_path(dir, EXITS_FILE_NAME), "{\"ti", 4);
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	assert_int_equal(log.file.lines, 0);
	free((char *)tu_read(tu_path(dir, EXITS_FILE_NAME), &len));
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
	assert_int_equal(stat(tu_path(dir, EXITS_FILE_NAME), &st), 0);
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
	/* exits.jsonl is a directory: open fails and the append is queued,
	 * both naming it */
	assert_int_equal(mkdir(tu_path(dir, EXITS_FILE_NAME), 0700), 0);
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_ERR_IO);
	assert_non_null(strstr(err, "/exits.jsonl: "));
	exit_event(&ev, 0);
	assert_int_equal(exits_append(&log, &ev, err, sizeof(err)),
	    EXITS_ERR_QUEUED);
	assert_non_null(strstr(err, "/exits.jsonl: "));
	assert_int_equal(exits_pending(&log), 1);
	/* once it is fixed, the next append writes both */
	assert_int_equal(rmdir(tu_path(dir, EXITS_FILE_NAME)), 0);
	exit_event(&ev, 1);
	assert_int_equal(exits_append(&log, &ev, err, sizeof(err)), EXITS_OK);
	assert_int_equal(log.file.lines, 2);
	assert_int_equal(exits_pending(&log), 0);
	exits_close(&log);

	/* a symlink is not followed */
	assert_int_equal(unlink(tu_path(dir, EXITS_FILE_NAME)), 0);
	assert_int_equal(symlink("/etc/passwd", tu_path(dir, EXITS_FILE_NAME)),
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
	assert_int_equal(unlink(tu_path(dir, EXITS_FILE_NAME)), 0);
	assert_int_equal(exits_open(&log, dir, err, sizeof(err)), EXITS_OK);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(exits_append(&log, &ev, err, sizeof(err)),
	    EXITS_ERR_INVAL);
	assert_int_equal(log.file.lines, 0);
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
	assert_int_equal(mkdir(tu_path(dir, ".exits.jsonl.tmp"), 0700), 0);
	exit_event(&ev, EXITS_TRIM_AT);
	assert_int_equal(exits_append(&log, &ev, err, sizeof(err)),
	    EXITS_ERR_TRIM);
	assert_non_null(strstr(err, "trim: "));
	assert_non_null(strstr(err, "/exits.jsonl: create temporary file"));
	assert_int_equal(count_lines(tu_path(dir, EXITS_FILE_NAME)),
	    EXITS_TRIM_AT + 1);
	assert_int_equal(rmdir(tu_path(dir, ".exits.jsonl.tmp")), 0);
	append_range(&log, EXITS_TRIM_AT + 1, EXITS_TRIM_AT + 2);
	assert_int_equal(log.file.lines, EXITS_KEEP);
	n = file_pids(tu_path(dir, EXITS_FILE_NAME), pids, 3 * EXITS_KEEP);
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
	assert_int_equal(log.file.lines, 1500);
	append_range(&log, 1500, EXITS_TRIM_AT);
	assert_int_equal(log.file.lines, EXITS_TRIM_AT);
	append_range(&log, EXITS_TRIM_AT, EXITS_TRIM_AT + 1);
	assert_int_equal(log.file.lines, EXITS_KEEP);
	exits_close(&log);
	assert_int_equal(count_lines(tu_path(dir, EXITS_FILE_NAME)), EXITS_KEEP);
	rmtree(dir);
}

/* ---- disk full: the queue (write and sync hooks, hooks.h) ---- */

/* A log in a new directory, its writes and syncs going through h. */
struct qlog {
	struct exits_log log;
	struct hook h;
	char *dir;
	char path[4096];             /* dir/exits.jsonl */
	char err[512];
};

static void
qlog_open(struct qlog *q, int mode)
{
	memset(q, 0, sizeof(*q));
	q->dir = tu_tmpdir();
	snprintf(q->path, sizeof(q->path), "%s",
	    tu_path(q->dir, EXITS_FILE_NAME));
	assert_int_equal(exits_open(&q->log, q->dir, q->err, sizeof(q->err)),
	    EXITS_OK);
	q->h.mode = mode;
	set_hooks(&q->log.file.queue, &q->h);
}

static void
qlog_done(struct qlog *q)
{
	exits_close(&q->log);
	rmtree(q->dir);
}

/* Exit number k appended; q->err says why when it was not written. */
static int
qlog_append(struct qlog *q, int k)
{
	struct event ev;

	exit_event(&ev, k);
	return exits_append(&q->log, &ev, q->err, sizeof(q->err));
}

static int
qlog_flush(struct qlog *q)
{
	return exits_flush(&q->log, q->err, sizeof(q->err));
}

/* Failing writes queue; the lines come out in order, later ones behind. */
static void
test_exits_failing_write_queues_and_keeps_the_order(void **state)
{
	static int pids[16];
	struct qlog q;
	size_t n, i;

	(void)state;
	qlog_open(&q, HOOK_OK);
	assert_int_equal(qlog_append(&q, 0), EXITS_OK);
	assert_int_equal(q.h.syncs, 1);              /* synced per line */

	q.h.mode = HOOK_ENOSPC;
	assert_int_equal(qlog_append(&q, 1), EXITS_ERR_QUEUED);
	assert_non_null(strstr(q.err, "/exits.jsonl: write: No space left on device"));
	assert_int_equal(qlog_append(&q, 2), EXITS_ERR_QUEUED);
	assert_non_null(strstr(q.err, "(1 exits waiting)"));
	/* a failed sync is undone: the line is not left behind */
	q.h.mode = HOOK_SYNC_EIO;
	assert_int_equal(qlog_append(&q, 3), EXITS_ERR_QUEUED);
	assert_int_equal(exits_pending(&q.log), 3);
	assert_int_equal(count_lines(q.path), 1);
	assert_int_equal(q.log.file.lines, 1);

	/* room for two lines only: the flush stops there, in order */
	q.h.mode = HOOK_BUDGET;
	q.h.budget = 2;
	assert_int_equal(qlog_flush(&q), EXITS_ERR_QUEUED);
	assert_non_null(strstr(q.err, "(1 exits waiting)"));
	assert_int_equal(exits_pending(&q.log), 1);
	assert_int_equal(q.log.file.lines, 3);

	/* room again: the rest before the new one */
	q.h.mode = HOOK_OK;
	assert_int_equal(qlog_append(&q, 4), EXITS_OK);
	assert_int_equal(exits_pending(&q.log), 0);
	assert_int_equal(q.log.file.lines, 5);
	n = file_pids(q.path, pids, 16);
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++)
		assert_int_equal(pids[i], PID0 + (int)i);
	qlog_done(&q);
}

/* A short write is cut back: the file never holds part of a line. */
static void
test_exits_short_write_is_undone_never_torn(void **state)
{
	static int pids[8];
	struct qlog q;
	char *before, *after;
	size_t blen, alen;

	(void)state;
	qlog_open(&q, HOOK_OK);
	assert_int_equal(qlog_append(&q, 0), EXITS_OK);
	before = (char *)tu_read(q.path, &blen);

	q.h.mode = HOOK_SHORT;
	assert_int_equal(qlog_append(&q, 1), EXITS_ERR_QUEUED);
	assert_non_null(strstr(q.err, "No space left on device"));
	assert_int_equal(q.h.writes, 2);
	after = (char *)tu_read(q.path, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(after);
	assert_int_equal(qlog_flush(&q), EXITS_ERR_QUEUED);
	assert_int_equal(q.h.writes, 3);
	after = (char *)tu_read(q.path, &alen);
	assert_int_equal(alen, blen);
	free(after);
	free(before);
	/* the cut worked, so the file stays open: no recount per retry */
	assert_true(q.log.file.fd >= 0);

	q.h.mode = HOOK_OK;
	assert_int_equal(qlog_flush(&q), EXITS_OK);
	assert_string_equal(q.err, "");
	assert_int_equal(file_pids(q.path, pids, 8), 2);
	assert_int_equal(pids[1], PID0 + 1);
	qlog_done(&q);
}

/* Past EXITS_QUEUE_MAX lines are dropped; an events_dropped line says so. */
static void
test_exits_queue_overflow_drops_newest_and_says_so(void **state)
{
	static int pids[EXITS_QUEUE_MAX + 8];
	struct qlog q;
	char *text;
	size_t n, i;

	(void)state;
	qlog_open(&q, HOOK_ENOSPC);
	for (i = 0; i < EXITS_QUEUE_MAX; i++)
		assert_int_equal(qlog_append(&q, (int)i), EXITS_ERR_QUEUED);
	assert_int_equal(qlog_append(&q, EXITS_QUEUE_MAX), EXITS_ERR_DROPPED);
	assert_non_null(strstr(q.err, "; dropped, queue full (1 lost)"));
	assert_int_equal(qlog_append(&q, EXITS_QUEUE_MAX + 1),
	    EXITS_ERR_DROPPED);
	assert_non_null(strstr(q.err, "/exits.jsonl: write: No space left on device"));
	assert_non_null(strstr(q.err, "(2 lost)"));
	assert_int_equal(exits_pending(&q.log), EXITS_QUEUE_MAX);
	assert_int_equal(q.log.file.queue.dropped, 2);

	q.h.mode = HOOK_OK;
	assert_int_equal(qlog_append(&q, EXITS_QUEUE_MAX + 2), EXITS_OK);
	assert_int_equal(q.log.file.queue.dropped, 0);
	assert_int_equal(q.log.file.lines, EXITS_QUEUE_MAX + 2);
	/* the queued ones in order, the gap, then the new one */
	n = file_lines(q.path, pids, EXITS_QUEUE_MAX + 8, true);
	assert_int_equal(n, EXITS_QUEUE_MAX + 2);
	for (i = 0; i < EXITS_QUEUE_MAX; i++)
		assert_int_equal(pids[i], PID0 + (int)i);
	assert_int_equal(pids[EXITS_QUEUE_MAX], -2);
	assert_int_equal(pids[EXITS_QUEUE_MAX + 1], PID0 + EXITS_QUEUE_MAX + 2);
	text = (char *)tu_read(q.path, NULL);
	assert_non_null(strstr(text, "\"event\":\"events_dropped\",\"count\":2,\"detail\":\"2 worker exits lost while exits.jsonl could not be written\"}\n"));
	free(text);
	qlog_done(&q);
}

/* Written lines take the file past EXITS_TRIM_AT: trimmed right after. */
static void
test_exits_trim_still_works_after_a_flush(void **state)
{
	static int pids[3 * EXITS_KEEP];
	struct qlog q;
	size_t n, i;

	(void)state;
	qlog_open(&q, HOOK_OK);
	append_range(&q.log, 0, EXITS_TRIM_AT - 10);
	q.h.mode = HOOK_ENOSPC;
	for (i = EXITS_TRIM_AT - 10; i < EXITS_TRIM_AT + 10; i++)
		assert_int_equal(qlog_append(&q, (int)i), EXITS_ERR_QUEUED);
	assert_int_equal(exits_pending(&q.log), 20);

	/* the rewrite fails: the lines are written all the same */
	q.h.mode = HOOK_OK;
	assert_int_equal(mkdir(tu_path(q.dir, ".exits.jsonl.tmp"), 0700), 0);
	assert_int_equal(qlog_flush(&q), EXITS_ERR_TRIM);
	assert_non_null(strstr(q.err, "trim: "));
	assert_int_equal(exits_pending(&q.log), 0);
	assert_int_equal(q.log.file.lines, EXITS_TRIM_AT + 10);
	assert_int_equal(count_lines(q.path), EXITS_TRIM_AT + 10);

	/* the next flush, with nothing queued, trims */
	assert_int_equal(rmdir(tu_path(q.dir, ".exits.jsonl.tmp")), 0);
	assert_int_equal(qlog_flush(&q), EXITS_OK);
	assert_int_equal(q.log.file.lines, EXITS_KEEP);
	n = file_pids(q.path, pids, 3 * EXITS_KEEP);
	assert_int_equal(n, EXITS_KEEP);
	for (i = 0; i < n; i++)
		assert_int_equal(pids[i],
		    PID0 + EXITS_TRIM_AT + 10 - EXITS_KEEP + (int)i);

	/* and the same when the flush is an append's */
	append_range(&q.log, EXITS_TRIM_AT + 10, 2 * EXITS_TRIM_AT - EXITS_KEEP);
	assert_int_equal(q.log.file.lines, EXITS_TRIM_AT - 10);
	q.h.mode = HOOK_ENOSPC;
	for (i = 0; i < 15; i++)
		assert_int_equal(qlog_append(&q, 3 * EXITS_KEEP + (int)i),
		    EXITS_ERR_QUEUED);
	q.h.mode = HOOK_OK;
	assert_int_equal(qlog_append(&q, 3 * EXITS_KEEP + 15), EXITS_OK);
	assert_int_equal(q.log.file.lines, EXITS_KEEP);
	n = file_pids(q.path, pids, 3 * EXITS_KEEP);
	assert_int_equal(n, EXITS_KEEP);
	assert_int_equal(pids[n - 16], PID0 + 3 * EXITS_KEEP);
	assert_int_equal(pids[n - 1], PID0 + 3 * EXITS_KEEP + 15);
	qlog_done(&q);
}

/* Closing with lines queued loses them (the daemon logs it), no more. */
static void
test_exits_close_with_lines_queued(void **state)
{
	struct qlog q;

	(void)state;
	qlog_open(&q, HOOK_OK);
	append_range(&q.log, 0, 3);
	q.h.mode = HOOK_ENOSPC;
	assert_int_equal(qlog_append(&q, 3), EXITS_ERR_QUEUED);
	assert_int_equal(qlog_append(&q, 4), EXITS_ERR_QUEUED);
	exits_close(&q.log);
	assert_int_equal(exits_pending(&q.log), 0);
	assert_int_equal(exits_open(&q.log, q.dir, q.err, sizeof(q.err)),
	    EXITS_OK);
	assert_int_equal(q.log.file.lines, 3);
	assert_int_equal(exits_pending(&q.log), 0);
	assert_int_equal(count_lines(q.path), 3);
	qlog_done(&q);
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
		cmocka_unit_test(test_exits_failing_write_queues_and_keeps_the_order),
		cmocka_unit_test(test_exits_short_write_is_undone_never_torn),
		cmocka_unit_test(test_exits_queue_overflow_drops_newest_and_says_so),
		cmocka_unit_test(test_exits_trim_still_works_after_a_flush),
		cmocka_unit_test(test_exits_close_with_lines_queued),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
