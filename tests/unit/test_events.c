/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * events.jsonl: the line format of FAULTS.md, JSON escaping of hostile
 * bytes, the line cap, appending with disk full (injected through the
 * write/sync hooks, and for real on a 64 KiB tmpfs when root), never a
 * torn line, and reading the tail back with damaged lines.  Every file
 * written is also checked by Python's json module when python3 is there.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "events.h"
#include "hooks.h"
#include "testutil.h"

#define T0 1795472225123LL           /* 2026-11-23T22:17:05.123Z */

/* ---- helpers ---- */

/* remove the test's directory and free its name */
static void
rmtree(char *dir)
{
	tu_rmtree(dir);
	free(dir);
}

static char *
render(const struct event *ev)
{
	static char line[EVENTS_LINE_MAX + 1];   /* test only */

	assert_true(events_render(ev, line, sizeof(line)) > 0);
	return line;
}

/*
 * Every line of path parses with Python's json module as an object with
 * "time" and "event" (strict UTF-8 decoding); skipped without python3.
 */
static void
python_check(const char *path)
{
	char cmd[16384];
	int st;

	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		print_message("[  NOTE    ] python3 missing: JSON cross-check skipped\n");
		return;
	}
	snprintf(cmd, sizeof(cmd),
	    "python3 -c 'import json,sys\n"
	    "for l in open(sys.argv[1], \"rb\"):\n"
	    "    assert l.endswith(b\"\\n\"), l\n"
	    "    o = json.loads(l.decode(\"utf-8\", \"strict\"))\n"
	    "    assert isinstance(o, dict) and \"time\" in o and \"event\" in o, l\n"
	    "' '%s'", path);
	st = system(cmd);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/*
 * Decode with Python the value of key in each line of lines_path; compare
 * its UTF-8 bytes with the hex in the same line of hex_path.
 */
static void
python_decode_check(const char *lines_path, const char *key,
    const char *hex_path)
{
	char cmd[16384];
	int st;

	if (system("command -v python3 >/dev/null 2>&1") != 0)
		return;
	snprintf(cmd, sizeof(cmd),
	    "python3 -c 'import json,sys\n"
	    "ls = open(sys.argv[1], \"rb\").read().split(b\"\\n\")[:-1]\n"
	    "hs = open(sys.argv[3]).read().split()\n"
	    "assert len(ls) == len(hs)\n"
	    "for l, h in zip(ls, hs):\n"
	    "    o = json.loads(l.decode(\"utf-8\"))\n"
	    "    got = o[sys.argv[2]].encode(\"utf-8\", \"surrogateescape\").hex()\n"
	    "    assert got == h, (got, h)\n"
	    "' '%s' '%s' '%s'", lines_path, key, hex_path);
	st = system(cmd);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
open_log(struct events_log *log, const char *dir)
{
	char err[512];

	assert_int_equal(events_open(log, dir, err, sizeof(err)), EVENTS_OK);
}

static int
append_simple(struct events_log *log, const char *detail)
{
	struct event ev;
	char err[512];

	events_begin(&ev, EVENT_WORKER_STARTED, T0);
	events_add_int(&ev, "pid", 42);
	events_add_str(&ev, "detail", detail);
	return events_append(log, &ev, err, sizeof(err));
}

/* ---- building ---- */

static void
test_format_time(void **state)
{
	static const struct {
		int64_t ms;
		const char *want;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 1, "1970-01-01T00:00:00.001Z" },
		{ -1, "1969-12-31T23:59:59.999Z" },
		{ T0, "2026-11-23T22:17:05.123Z" },
		{ 951782400000LL, "2000-02-29T00:00:00.000Z" },
		{ INT64_MAX, "1970-01-01T00:00:00.000Z" },   /* out of range */
	};
	char out[WALLTIME_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		walltime_format(cases[i].ms, out);
		assert_string_equal(out, cases[i].want);
	}
}

static void
test_line_has_the_faults_md_format(void **state)
{
	char line[EVENTS_LINE_MAX + 1];
	struct event ev;

	(void)state;
	events_begin(&ev, EVENT_FAULT_RAISED, T0);
	events_add_int(&ev, "fault", 6);
	events_add_str(&ev, "name", "Scan Service Restarting Frequently");
	events_add_str(&ev, "detail", "3 crashes in 41 s (SIGSEGV x3)");
	events_add_int(&ev, "pid", 1234);
	assert_string_equal(render(&ev),
	    "{\"time\":\"2026-11-23T22:17:05.123Z\",\"event\":\"fault_raised\",\"fault\":6,\"name\":\"Scan Service Restarting Frequently\",\"detail\":\"3 crashes in 41 s (SIGSEGV x3)\",\"pid\":1234}\n");

	events_begin_type(&ev, EVENT_T_DAEMON_STARTED, 0);
	events_add_bool(&ev, "a", true);
	events_add_bool(&ev, "b", false);
	events_add_int(&ev, "n", INT64_MIN);
	events_add_str(&ev, "s", NULL);
	events_add_strlist(&ev, "l", NULL, 0);
	events_add_strn(&ev, "z", "a\0b", 3);
	assert_string_equal(render(&ev),
	    "{\"time\":\"1970-01-01T00:00:00.000Z\",\"event\":\"daemon_started\",\"a\":true,\"b\":false,\"n\":-9223372036854775808,\"s\":\"\",\"l\":[],\"z\":\"a\\u0000b\"}\n");

	/* not begun: nothing to render, adders do nothing */
	memset(&ev, 0, sizeof(ev));
	events_add_int(&ev, "x", 1);
	assert_int_equal(ev.nfields, 0);
	assert_int_equal(events_render(&ev, line, sizeof(line)), 0);

	/* a type that is not ours: not begun */
	events_begin(&ev, "no_such_event", 0);
	events_add_int(&ev, "x", 1);
	assert_int_equal(events_render(&ev, line, sizeof(line)), 0);
}

static void
test_escaping_of_hostile_details(void **state)
{
	static const struct {
		const char *in, *want, *want_hex;   /* hex of the bytes decoded (surrogateescape) */
	} cases[] = {
		{ "say \"hi\"", "say \\\"hi\\\"", "7361792022686922" },
		{ "a\\b", "a\\\\b", "615c62" },
		{ "l1\nl2\r\t", "l1\\nl2\\r\\t", "6c310a6c320d09" },
		{ "\x01\x1b[31m\x7f", "\\u0001\\u001b[31m\\u007f", "011b5b33316d7f" },
		{ "\b\f", "\\b\\f", "080c" },
		{ "中文", "中文", "e4b8ade69687" },
		{ "\xf0\x9f\x92\xa5", "\xf0\x9f\x92\xa5", "f09f92a5" },
		{ "\xff", "\\udcff", "ff" },
		{ "a\xc0\xafz", "a\\udcc0\\udcafz", "61c0af7a" },      /* overlong '/' */
		{ "\xed\xa0\x80", "\\udced\\udca0\\udc80", "eda080" },   /* surrogate */
		{ "\xf4\x90\x80\x80", "\\udcf4\\udc90\\udc80\\udc80", "f4908080" },
		{ "\xe4\xb8", "\\udce4\\udcb8", "e4b8" },             /* cut */
		{ "\xe2\x80\xa8|\xe2\x80\xa9", "\xe2\x80\xa8|\xe2\x80\xa9", "e280a87ce280a9" },
		{ "</script>", "</script>", "3c2f7363726970743e" },
	};
	char want[256], lines[4096], hexes[4096];
	char *dir = tu_tmpdir();
	struct event ev;
	FILE *fl, *fh;
	size_t i;

	(void)state;
	snprintf(lines, sizeof(lines), "%s/lines", dir);
	snprintf(hexes, sizeof(hexes), "%s/hex", dir);
	assert_non_null(fl = fopen(lines, "wb"));
	assert_non_null(fh = fopen(hexes, "w"));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *line;

		events_begin(&ev, EVENT_POISON_FILE, T0);
		events_add_str(&ev, "path", cases[i].in);
		line = render(&ev);
		snprintf(want, sizeof(want), ",\"path\":\"%s\"}\n",
		    cases[i].want);
		if (strstr(line, want) == NULL)
			fail_msg("case %zu: %s", i, line);
		assert_true(events_json_check(line, strlen(line) - 1, NULL, 0));
		fputs(line, fl);
		fprintf(fh, "%s\n", cases[i].want_hex);
	}
	fclose(fl);
	fclose(fh);
	python_decode_check(lines, "path", hexes);
	rmtree(dir);
}

/* A key given twice keeps its first value and marks the line; the line
 * stays one our strict reader takes (it refuses duplicate keys). */
static void
test_a_key_twice_is_kept_once(void **state)
{
	struct event ev;
	const char *line;

	(void)state;
	events_begin(&ev, EVENT_FAULT_RAISED, T0);
	events_add_str(&ev, "detail", "first");
	events_add_str(&ev, "detail", "second");
	events_add_int(&ev, "time", 5);
	events_add_str(&ev, "event", "forged");
	events_add_int(&ev, "fault", 6);
	line = render(&ev);
	assert_non_null(strstr(line, "\"detail\":\"first\""));
	assert_null(strstr(line, "second"));
	assert_null(strstr(line, "forged"));
	assert_non_null(strstr(line, "\"fault\":6"));
	assert_non_null(strstr(line, "\"truncated\":true"));
	assert_true(events_json_check(line, strlen(line) - 1, NULL, 0));
}

static void
test_line_cap_truncates_and_marks(void **state)
{
	static char big[3 * EVENTS_LINE_MAX];
	const char *items[600];
	char item[600][16];
	struct event ev;
	const char *line;
	char type[64], path[4096];
	char *dir = tu_tmpdir();
	size_t i, n;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/lines", dir);
	assert_non_null(f = fopen(path, "wb"));
	/* ASCII: cut, marked, valid */
	memset(big, 'a', sizeof(big) - 1);
	events_begin(&ev, EVENT_FAULT_RAISED, T0);
	events_add_int(&ev, "fault", 6);
	events_add_str(&ev, "detail", big);
	events_add_int(&ev, "pid", 7);           /* no room: left out */
	line = render(&ev);
	n = strlen(line);
	assert_true(n <= EVENTS_LINE_MAX);
	assert_true(n > EVENTS_LINE_MAX - 32);
	assert_string_equal(line + n - 19, ",\"truncated\":true}\n");
	assert_null(strstr(line, "\"pid\""));
	assert_true(events_json_check(line, n - 1, type, sizeof(type)));
	assert_string_equal(type, "fault_raised");
	fputs(line, f);

	/* 3-byte characters and 6-byte escapes: never cut inside one */
	for (i = 0; i + 4 < sizeof(big); i += 4)
		memcpy(big + i, "\xe4\xb8\xad\x01", 4);
	big[i] = '\0';
	events_begin(&ev, EVENT_FAULT_RAISED, T0);
	events_add_str(&ev, "detail", big);
	line = render(&ev);
	n = strlen(line);
	assert_true(n <= EVENTS_LINE_MAX);
	assert_true(events_json_check(line, n - 1, NULL, 0));
	fputs(line, f);

	/* a list is cut between items */
	for (i = 0; i < 600; i++) {
		snprintf(item[i], sizeof(item[i]), "/f/%04zu", i);
		items[i] = item[i];
	}
	events_begin(&ev, EVENT_WORKER_EXITED, T0);
	events_add_strlist(&ev, "files", items, 600);
	line = render(&ev);
	n = strlen(line);
	assert_true(n <= EVENTS_LINE_MAX);
	assert_non_null(strstr(line, "\"],\"truncated\":true}\n"));
	assert_true(events_json_check(line, n - 1, NULL, 0));
	fputs(line, f);
	fclose(f);
	python_check(path);                  /* strict UTF-8, valid JSON */
	rmtree(dir);

	/* a short line is not marked */
	events_begin(&ev, EVENT_DAEMON_STOPPED, 0);
	events_add_str(&ev, "d", "x");
	assert_null(strstr(render(&ev), "truncated"));
}

static void
test_worker_exited_fields(void **state)
{
	const char *files[] = { "/home/u/evil.zip", "/tmp/a\"b" };
	struct event ev;

	(void)state;
	events_worker_exited(&ev, T0, 4321, 11 | 0x80, 1500, files, 2);
	assert_string_equal(render(&ev),
	    "{\"time\":\"2026-11-23T22:17:05.123Z\",\"event\":\"worker_exited\",\"pid\":4321,\"signal\":\"SIGSEGV\",\"core_dumped\":true,\"uptime_ms\":1500,\"files\":[\"/home/u/evil.zip\",\"/tmp/a\\\"b\"]}\n");
	events_worker_exited(&ev, T0, 4321, 3 << 8, 20, NULL, 0);
	assert_string_equal(render(&ev),
	    "{\"time\":\"2026-11-23T22:17:05.123Z\",\"event\":\"worker_exited\",\"pid\":4321,\"exit_code\":3,\"core_dumped\":false,\"uptime_ms\":20,\"files\":[]}\n");
	events_worker_exited(&ev, T0, 1, 9, 0, NULL, 0);
	assert_non_null(strstr(render(&ev), "\"signal\":\"SIGKILL\",\"core_dumped\":false"));
}

/* The next NAME=value string of an environment block, checked. */
static const char *
env_expect(const char *p, const char *want, size_t wantlen)
{
	size_t n = strlen(p);

	if (n != wantlen || memcmp(p, want, n) != 0)
		fail_msg("environment: got \"%s\", want \"%.*s\"", p,
		    (int)wantlen, want);
	return p + n + 1;
}

#define ENV_EXPECT(p, lit) env_expect((p), (lit), sizeof(lit) - 1)

/*
 * FaultCommand's environment carries the fields as they were given: a
 * detail with a backslash, a tab, quotes, a newline and non-ASCII bytes
 * (valid UTF-8 and not) arrives byte for byte, not as JSON.
 */
static void
test_fault_env_carries_the_bytes_given(void **state)
{
	static const char detail[] = "C:\\tmp\tx \"q\" 'a' \n\xc3\xa9 \xff\xfe \xe4\xb8\xad";
	static char env[EVENTS_ENV_MAX];        /* test only */
	char line[EVENTS_LINE_MAX + 1], want[EVENTS_LINE_MAX + 32];
	const char *p;
	struct event ev;
	size_t n, len;

	(void)state;
	events_begin_type(&ev, EVENT_T_FAULT_RAISED, T0);
	events_add_int(&ev, "fault", 6);
	events_add_str(&ev, "name", "Scan \"Service\" \\ Restarting");
	events_add_str(&ev, "detail", detail);
	events_add_int(&ev, "pid", 1234);
	n = events_fault_env(&ev, env, sizeof(env));
	assert_true(n > 0);
	assert_int_equal(env[n - 1], '\0');
	assert_int_equal(env[n - 2], '\0');     /* the empty one ends it */
	len = events_render(&ev, line, sizeof(line));
	snprintf(want, sizeof(want), "AMPSCAN_EVENT=%.*s", (int)(len - 1), line);
	p = env_expect(env, want, strlen(want));
	p = ENV_EXPECT(p, "AMPSCAN_EVENT_TYPE=fault_raised");
	p = ENV_EXPECT(p, "AMPSCAN_FAULT_ID=6");
	p = ENV_EXPECT(p, "AMPSCAN_FAULT_NAME=Scan \"Service\" \\ Restarting");
	p = ENV_EXPECT(p, "AMPSCAN_FAULT_DETAIL=" "C:\\tmp\tx \"q\" 'a' \n\xc3\xa9 \xff\xfe \xe4\xb8\xad");
	assert_int_equal(*p, '\0');
	assert_int_equal((size_t)(p + 1 - env), n);
	/* the JSON line has them escaped */
	assert_non_null(strstr(line, "\"detail\":\"C:\\\\tmp\\tx \\\"q\\\" 'a' \\n\xc3\xa9 \\udcff\\udcfe \xe4\xb8\xad\""));

	/* without a fault, name or detail: empty values; a NUL ends one */
	events_begin_type(&ev, EVENT_T_FAULT_CLEARED, T0);
	events_add_strn(&ev, "detail", "a\0b", 3);
	n = events_fault_env(&ev, env, sizeof(env));
	p = env + strlen(env) + 1;
	p = ENV_EXPECT(p, "AMPSCAN_EVENT_TYPE=fault_cleared");
	p = ENV_EXPECT(p, "AMPSCAN_FAULT_ID=");
	p = ENV_EXPECT(p, "AMPSCAN_FAULT_NAME=");
	p = ENV_EXPECT(p, "AMPSCAN_FAULT_DETAIL=a");
	assert_int_equal((size_t)(p + 1 - env), n);

	/* not begun, or too small a buffer: nothing */
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(events_fault_env(&ev, env, sizeof(env)), 0);
	events_begin_type(&ev, EVENT_T_FAULT_RAISED, T0);
	assert_int_equal(events_fault_env(&ev, env, EVENTS_LINE_MAX), 0);
}

/* Each type's name gives the type back; an unknown name gives none. */
static void
test_type_names_round_trip(void **state)
{
	unsigned t;

	(void)state;
	for (t = EVENT_T_NONE + 1; t < EVENT_T_COUNT; t++) {
		const char *name = events_type_name((enum event_type)t);

		assert_true(name[0] != '\0');
		assert_int_equal(events_type_of(name), t);
		assert_true(events_type_is_known(name));
	}
	assert_int_equal(events_type_of("fault"), EVENT_T_NONE);
	assert_false(events_type_is_known(""));
	assert_string_equal(events_type_name(EVENT_T_COUNT), "");
}

static void
test_json_check(void **state)
{
	static const struct {
		const char *s;
		bool ok;
		const char *type;
	} cases[] = {
		{ "{\"event\":\"a\"}", true, "a" },
		{ " {\"x\":[1,-2.5e+3,true,false,null,{\"y\":\"\\u00e9\"}],\"event\":\"b\"} ", true, "b" },
		{ "{}", true, "" },
		{ "{\"x\":{\"event\":\"inner\"}}", true, "" },
		{ "{\"event\":1}", true, "" },
		{ "", false, "" },
		{ "[]", false, "" },
		{ "{\"event\":\"a\"", false, "" },
		{ "{\"event\":\"a\"}x", false, "" },
		{ "{\"event\":\"a\",}", false, "" },
		{ "{\"a\":01}", false, "" },
		{ "{\"a\":1.}", false, "" },
		{ "{\"a\":\"\\x\"}", false, "" },
		{ "{\"a\":\"\\u12\"}", false, "" },
		{ "{\"a\":\"tab\there\"}", false, "" },
		{ "{\"a\":\"\xff\"}", false, "" },
		{ "{\"a\":tru}", false, "" },
		{ "{\"a\":[[[[[[[[[[[[1]]]]]]]]]]]]}", true, "" },    /* jansson: 2048 */
		{ "{\"event\":\"a\",\"event\":\"b\"}", false, "" },   /* duplicate key */
		{ "{'a':1}", false, "" },
	};
	char type[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = events_json_check(cases[i].s, strlen(cases[i].s),
		    type, sizeof(type));

		if (ok != cases[i].ok || strcmp(type, cases[i].type) != 0)
			fail_msg("case %zu: %s -> %d \"%s\"", i, cases[i].s, ok,
			    type);
	}
}

/* ---- writing ---- */

static void
test_append_writes_valid_lines(void **state)
{
	struct events_log log;
	char path[4096], err[512], *text;
	const char *v[] = { "daily:27432", "main:62" };
	struct event ev;
	struct stat st;
	char *dir = tu_tmpdir();
	size_t len;

	(void)state;
	open_log(&log, dir);
	snprintf(path, sizeof(path), "%s/%s", dir, EVENTS_FILE_NAME);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, EVENTS_FILE_MODE);
	assert_int_equal(append_simple(&log, "first"), EVENTS_OK);
	assert_int_equal(append_simple(&log, "quote\" nl\n \xff\x01 中"), EVENTS_OK);
	events_begin(&ev, EVENT_DEFINITIONS_ACTIVATED, T0);
	events_add_strlist(&ev, "versions", v, 2);
	assert_int_equal(events_append(&log, &ev, err, sizeof(err)), EVENTS_OK);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(events_append(&log, &ev, err, sizeof(err)),
	    EVENTS_ERR_INVAL);
	events_close(&log);

	/* reopened: appends after what is there */
	open_log(&log, dir);
	assert_int_equal(append_simple(&log, "after reopen"), EVENTS_OK);
	events_close(&log);
	text = (char *)tu_read(path, &len);
	assert_non_null(strstr(text, "\"detail\":\"quote\\\" nl\\n \\udcff\\u0001 中\""));
	assert_non_null(strstr(text, "\"versions\":[\"daily:27432\",\"main:62\"]"));
	assert_non_null(strstr(text, "after reopen"));
	free(text);
	python_check(path);
	rmtree(dir);
}

static int
count_lines(const char *path)
{
	char *t = (char *)tu_read(path, NULL), *p;
	int n = 0;

	for (p = t; *p != '\0'; p++)
		n += *p == '\n';
	free(t);
	return n;
}

static void
test_disk_full_queues_then_resumes_in_order(void **state)
{
	struct events_log log;
	struct hook h = { .mode = HOOK_OK };
	char path[4096], *text, *a, *b, *c, *d, *e;
	char *dir = tu_tmpdir();
	size_t len;

	(void)state;
	open_log(&log, dir);
	set_hooks(&log.file.queue, &h);
	snprintf(path, sizeof(path), "%s/%s", dir, EVENTS_FILE_NAME);
	assert_int_equal(append_simple(&log, "A"), EVENTS_OK);
	assert_int_equal(h.syncs, 1);                /* synced per line */

	h.mode = HOOK_ENOSPC;
	assert_int_equal(append_simple(&log, "B"), EVENTS_ERR_QUEUED);
	assert_int_equal(append_simple(&log, "C"), EVENTS_ERR_QUEUED);
	assert_int_equal(events_pending(&log), 2);
	assert_int_equal(count_lines(path), 1);

	/* a short write is undone: nothing torn is left */
	h.mode = HOOK_SHORT;
	assert_int_equal(append_simple(&log, "D"), EVENTS_ERR_QUEUED);
	assert_int_equal(events_pending(&log), 3);
	text = (char *)tu_read(path, &len);
	assert_int_equal(len, strchr(text, '\n') - text + 1);
	free(text);

	/* a failed sync is undone too */
	h.mode = HOOK_SYNC_EIO;
	assert_int_equal(append_simple(&log, "E"), EVENTS_ERR_QUEUED);
	assert_int_equal(count_lines(path), 1);

	/* room again: everything, in order, then the new one */
	h.mode = HOOK_OK;
	assert_int_equal(append_simple(&log, "F"), EVENTS_OK);
	assert_int_equal(events_pending(&log), 0);
	events_close(&log);
	text = (char *)tu_read(path, &len);
	assert_int_equal(count_lines(path), 6);
	a = strstr(text, "\"A\"");
	b = strstr(text, "\"B\"");
	c = strstr(text, "\"C\"");
	d = strstr(text, "\"D\"");
	e = strstr(text, "\"E\"");
	assert_true(a && b && c && d && e && a < b && b < c && c < d && d < e &&
	    e < strstr(text, "\"F\""));
	assert_null(strstr(text, "events_dropped"));
	free(text);
	python_check(path);
	rmtree(dir);
}

static void
test_flush_resumes_without_a_new_event(void **state)
{
	struct events_log log;
	struct hook h = { .mode = HOOK_ENOSPC };
	char path[4096], err[512];
	char *dir = tu_tmpdir();

	(void)state;
	open_log(&log, dir);
	set_hooks(&log.file.queue, &h);
	snprintf(path, sizeof(path), "%s/%s", dir, EVENTS_FILE_NAME);
	assert_int_equal(append_simple(&log, "A"), EVENTS_ERR_QUEUED);
	assert_int_equal(events_flush(&log, err, sizeof(err)),
	    EVENTS_ERR_QUEUED);
	assert_non_null(strstr(err, "No space left on device"));
	assert_non_null(strstr(err, "1 events waiting"));
	h.mode = HOOK_OK;
	assert_int_equal(events_flush(&log, err, sizeof(err)), EVENTS_OK);
	assert_int_equal(count_lines(path), 1);
	events_close(&log);
	rmtree(dir);
}

static void
test_queue_overflow_drops_newest_and_says_so(void **state)
{
	struct events_log log;
	struct hook h = { .mode = HOOK_ENOSPC };
	char path[4096], *text, *p;
	char *dir = tu_tmpdir();
	size_t i;

	(void)state;
	open_log(&log, dir);
	set_hooks(&log.file.queue, &h);
	snprintf(path, sizeof(path), "%s/%s", dir, EVENTS_FILE_NAME);
	for (i = 0; i < EVENTS_QUEUE_MAX; i++)
		assert_int_equal(append_simple(&log, "q"), EVENTS_ERR_QUEUED);
	assert_int_equal(append_simple(&log, "dropped-1"), EVENTS_ERR_DROPPED);
	assert_int_equal(append_simple(&log, "dropped-2"), EVENTS_ERR_DROPPED);
	assert_int_equal(events_pending(&log), EVENTS_QUEUE_MAX);
	h.mode = HOOK_OK;
	assert_int_equal(append_simple(&log, "last"), EVENTS_OK);
	events_close(&log);
	assert_int_equal(count_lines(path), EVENTS_QUEUE_MAX + 2);
	text = (char *)tu_read(path, NULL);
	assert_null(strstr(text, "dropped-"));
	p = strstr(text, "\"event\":\"events_dropped\",\"count\":2,");
	assert_non_null(p);
	assert_true(p < strstr(text, "\"last\""));
	free(text);
	python_check(path);
	rmtree(dir);
}

/* A file ending in a torn line (a crash): the next line starts afresh. */
static void
test_open_cuts_a_torn_line(void **state)
{
	struct events_log log;
	char path[4096], *text;
	char *dir = tu_tmpdir();

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", dir, EVENTS_FILE_NAME);
	tu_write_str(path, "{\"time\":\"2026-11-23T22:17:05.000Z\",\"event\":\"daemon_started\"}\n"
	    "{\"time\":\"2026-11-23T22:17:05.123Z\",\"event\":\"fault_ra");
	open_log(&log, dir);
	assert_int_equal(append_simple(&log, "after crash"), EVENTS_OK);
	assert_int_equal(append_simple(&log, "next"), EVENTS_OK);
	events_close(&log);
	text = (char *)tu_read(path, NULL);
	assert_null(strstr(text, "fault_ra"));
	assert_non_null(strstr(text, "daemon_started\"}\n{\"time\""));
	assert_int_equal(count_lines(path), 3);
	free(text);
	rmtree(dir);
}

static void
test_unwritable_dir_queues_and_retries_open(void **state)
{
	struct events_log log;
	char path[4096], err[512];
	char *dir = tu_tmpdir();

	(void)state;
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(events_open(&log, path, err, sizeof(err)),
	    EVENTS_ERR_IO);
	assert_non_null(strstr(err, "state/events.jsonl"));
	assert_int_equal(append_simple(&log, "early"), EVENTS_ERR_QUEUED);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(append_simple(&log, "later"), EVENTS_OK);
	events_close(&log);
	snprintf(path, sizeof(path), "%s/state/%s", dir, EVENTS_FILE_NAME);
	assert_int_equal(count_lines(path), 2);
	rmtree(dir);
}

/* The real thing: a 64 KiB tmpfs filled up.  Root only. */
struct tmpfs {
	char *dir;
	char mnt[2048];
	bool mounted;
};

static int
tmpfs_setup(void **state)
{
	struct tmpfs *t = calloc(1, sizeof(*t));

	t->dir = tu_tmpdir();
	snprintf(t->mnt, sizeof(t->mnt), "%s/mnt", t->dir);
	mkdir(t->mnt, 0700);
	t->mounted = geteuid() == 0 &&
	    mount("tmpfs", t->mnt, "tmpfs", 0, "size=64k,mode=0700") == 0;
	if (!t->mounted)
		print_message("[  SKIP    ] disk full on tmpfs needs root and tmpfs (%s)\n",
		    geteuid() != 0 ? "not root" : strerror(errno));
	*state = t;
	return 0;
}

/* Unmounts even when the test failed. */
static int
tmpfs_teardown(void **state)
{
	struct tmpfs *t = *state;

	if (t->mounted)
		umount2(t->mnt, MNT_DETACH);
	rmtree(t->dir);
	free(t);
	return 0;
}

static void
test_disk_full_on_a_real_tmpfs(void **state)
{
	struct tmpfs *t = *state;
	struct events_log log;
	struct hook h = { .mode = HOOK_OK };
	char path[4096], filler[4096], buf[4096], detail[900], *text;
	int fd, rc, queued = 0, i;
	size_t len;

	if (!t->mounted)
		skip();
	open_log(&log, t->mnt);
	set_hooks(&log.file.queue, &h);         /* pass-through, counting */
	snprintf(path, sizeof(path), "%s/%s", t->mnt, EVENTS_FILE_NAME);
	memset(detail, 'x', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	assert_int_equal(append_simple(&log, "before"), EVENTS_OK);

	/* fill the file system to the last byte */
	snprintf(filler, sizeof(filler), "%s/filler", t->mnt);
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	memset(buf, 'f', sizeof(buf));
	while (write(fd, buf, sizeof(buf)) > 0)
		;
	while (write(fd, buf, 1) > 0)
		;
	close(fd);

	for (i = 0; i < 20; i++) {
		rc = append_simple(&log, detail);
		assert_true(rc == EVENTS_OK || rc == EVENTS_ERR_QUEUED);
		queued += rc == EVENTS_ERR_QUEUED;
	}
	assert_true(queued > 0);
	assert_true(h.shorts + h.enospc > 0);
	print_message("[  NOTE    ] tmpfs: %zu short writes undone, %zu ENOSPC\n",
	    h.shorts, h.enospc);
	assert_int_equal(events_pending(&log), (size_t)queued);
	text = (char *)tu_read(path, &len);
	assert_true(len > 0 && text[len - 1] == '\n');   /* nothing torn */
	free(text);
	python_check(path);

	/* room again: the queue drains */
	unlink(filler);
	assert_int_equal(append_simple(&log, "after"), EVENTS_OK);
	assert_int_equal(events_pending(&log), 0);
	events_close(&log);
	assert_int_equal(count_lines(path), 22);
	python_check(path);
}

/* ---- reading the tail ---- */

struct seen {
	char text[16][256];
	enum events_line_status st[16];
	char type[16][32];
	size_t n;
};

static int
collect(void *arg, const struct events_line *l)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	snprintf(s->text[s->n], sizeof(s->text[0]), "%s", l->text);
	snprintf(s->type[s->n], sizeof(s->type[0]), "%s", l->type);
	s->st[s->n] = l->status;
	s->n++;
	return 0;
}

static int
stop_at_two(void *arg, const struct events_line *l)
{
	size_t *n = arg;

	(void)l;
	return ++*n == 2 ? 7 : 0;
}

static void
test_read_tail_reports_damage(void **state)
{
	static const char file[] =
	    "{\"time\":\"t\",\"event\":\"worker_started\",\"pid\":1}\n"
	    "{\"time\":\"t\",\"event\":\"worker_ready\",\"pid\":1}\n"
	    "\n"
	    "{\"time\":\"t\",\"event\":\"from_the_future\"}\n"
	    "not json at all\n"
	    "{\"time\":\"t\"}\n"
	    "\n\n"
	    "{\"time\":\"t\",\"event\":\"fault_raised\",\"fault\":6}\n"
	    "{\"time\":\"t\",\"event\":\"fault_cle";
	struct seen s;
	char path[4096], err[512];
	char *dir = tu_tmpdir();
	size_t n = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", dir, EVENTS_FILE_NAME);
	tu_write_str(path, file);

	memset(&s, 0, sizeof(s));
	assert_int_equal(events_read_tail(path, 100, collect, &s, err,
	    sizeof(err)), 0);
	assert_int_equal(s.n, 7);                    /* empty lines skipped */
	assert_int_equal(s.st[0], EVENTS_LINE_OK);
	assert_string_equal(s.type[0], "worker_started");
	assert_int_equal(s.st[1], EVENTS_LINE_OK);
	assert_int_equal(s.st[2], EVENTS_LINE_UNKNOWN_TYPE);
	assert_string_equal(s.type[2], "from_the_future");
	assert_int_equal(s.st[3], EVENTS_LINE_BAD_JSON);
	assert_int_equal(s.st[4], EVENTS_LINE_BAD_JSON);   /* no "event" */
	assert_int_equal(s.st[5], EVENTS_LINE_OK);
	assert_int_equal(s.st[6], EVENTS_LINE_TORN);
	assert_string_equal(s.text[6], "{\"time\":\"t\",\"event\":\"fault_cle");

	/* the last 3 */
	memset(&s, 0, sizeof(s));
	assert_int_equal(events_read_tail(path, 3, collect, &s, err,
	    sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.text[0], "{\"time\":\"t\"}");
	assert_int_equal(s.st[2], EVENTS_LINE_TORN);

	/* the last 1; zero lines */
	memset(&s, 0, sizeof(s));
	events_read_tail(path, 1, collect, &s, err, sizeof(err));
	assert_int_equal(s.n, 1);
	assert_int_equal(s.st[0], EVENTS_LINE_TORN);
	memset(&s, 0, sizeof(s));
	events_read_tail(path, 0, collect, &s, err, sizeof(err));
	assert_int_equal(s.n, 0);

	/* the callback stops the walk */
	assert_int_equal(events_read_tail(path, 100, stop_at_two, &n, err,
	    sizeof(err)), 7);
	assert_int_equal(n, 2);

	/* missing file */
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(events_read_tail(path, 10, collect, &s, err,
	    sizeof(err)), EVENTS_ERR_NOENT);
	rmtree(dir);
}

/* Lines past the cap and a tail across many read chunks. */
static void
test_read_tail_long_lines_and_big_files(void **state)
{
	struct events_log log;
	struct seen s;
	char path[4096], err[512];
	char *dir = tu_tmpdir(), *big;
	FILE *f;
	size_t i;

	(void)state;
	open_log(&log, dir);
	for (i = 0; i < 400; i++)
		assert_int_equal(append_simple(&log,
		    "padding padding padding padding padding padding padding "
		    "padding padding padding padding padding padding padding "
		    "padding padding padding padding padding padding padding"),
		    EVENTS_OK);
	events_close(&log);
	snprintf(path, sizeof(path), "%s/%s", dir, EVENTS_FILE_NAME);
	big = malloc(3 * EVENTS_LINE_MAX);
	memset(big, 'z', 3 * EVENTS_LINE_MAX - 1);
	big[3 * EVENTS_LINE_MAX - 1] = '\0';
	assert_non_null(f = fopen(path, "ab"));
	fprintf(f, "%s\n{\"time\":\"t\",\"event\":\"poison_file\"}\n", big);
	fclose(f);

	memset(&s, 0, sizeof(s));
	assert_int_equal(events_read_tail(path, 3, collect, &s, err,
	    sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.st[0], EVENTS_LINE_OK);
	assert_string_equal(s.type[0], "worker_started");
	assert_int_equal(s.st[1], EVENTS_LINE_TOO_LONG);
	assert_int_equal(s.st[2], EVENTS_LINE_OK);
	assert_string_equal(s.type[2], "poison_file");
	free(big);
	rmtree(dir);
}

/* Every line of path: a JSON object whose "detail" is "n=K", K counting up
 * by one to `last`; returns the first K. */
static long
check_counting_lines(const char *path, long last)
{
	size_t len;
	char *buf = (char *)tu_read(path, &len), *p = buf, *nl, *d;
	long first = -1, k, prev = -1;

	assert_true(len > 0 && buf[len - 1] == '\n');
	for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		assert_int_equal(strncmp(p, "{\"time\":", 8), 0);
		assert_int_equal(nl[-1], '}');
		assert_non_null(d = strstr(p, "\"detail\":\"n="));
		k = strtol(d + 12, NULL, 10);
		if (first < 0)
			first = k;
		else
			assert_int_equal(k, prev + 1);
		prev = k;
	}
	assert_int_equal(prev, last);
	free(buf);
	return first;
}

/* Past trim_at the file is replaced by its newest lines, whole ones only,
 * and appending goes on in the new file. */
static void
test_file_is_cut_down_to_its_newest_lines(void **state)
{
	struct events_log log;
	struct stat st;
	char detail[64], err[512];
	const char *path;
	char *dir = tu_tmpdir();
	long i, first;
	int cuts = 0;
	off_t prev = 0;

	(void)state;
	open_log(&log, dir);
	log.file.trim_at = 8192;
	log.file.keep = 4096;
	path = tu_path(dir, EVENTS_FILE_NAME);
	for (i = 0; i < 300; i++) {
		snprintf(detail, sizeof(detail), "n=%ld", i);
		assert_int_equal(append_simple(&log, detail), EVENTS_OK);
		assert_int_equal(stat(path, &st), 0);
		assert_true(st.st_size <= 8192);
		if (st.st_size < prev)
			cuts++;
		prev = st.st_size;
	}
	assert_true(cuts >= 5);
	assert_int_equal(st.st_mode & 07777, EVENTS_FILE_MODE);
	first = check_counting_lines(path, 299);
	assert_true(first > 200);
	/* and once more through events_flush() */
	assert_int_equal(events_flush(&log, err, sizeof(err)), EVENTS_OK);
	events_close(&log);
	rmtree(dir);
}

/* A file already too big is cut down when it is opened. */
static void
test_open_cuts_down_a_file_too_big(void **state)
{
	struct events_log log;
	struct stat st;
	const char *path;
	char *dir = tu_tmpdir();
	FILE *f;
	long i, n = 0, first;

	(void)state;
	path = tu_path(dir, EVENTS_FILE_NAME);
	assert_non_null(f = fopen(path, "wb"));
	for (i = 0; ftell(f) <= EVENTS_TRIM_AT; i++, n++)
		fprintf(f, "{\"time\":\"2026-11-24T11:00:00.000Z\",\"event\":\"worker_started\",\"pid\":42,\"detail\":\"n=%ld padding padding padding padding padding padding padding\"}\n", i);
	fclose(f);
	open_log(&log, dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= EVENTS_KEEP && st.st_size > EVENTS_KEEP - EVENTS_LINE_MAX);
	first = check_counting_lines(path, n - 1);
	assert_true(first > 0);
	assert_int_equal(append_simple(&log, "n=0"), EVENTS_OK);
	events_close(&log);
	rmtree(dir);
}

/* A cut that fails: the line is written and the error says why; the cut
 * is tried again only after EVENTS_TRIM_RETRY more bytes. */
/* A line that starts right where the kept bytes start is kept. */
static void
test_cut_keeps_a_line_starting_at_the_edge(void **state)
{
	static const char a[] = "{\"time\":\"2026-11-23T22:17:05.000Z\",\"event\":\"daemon_started\",\"n\":\"a\"}\n";
	static const char b[] = "{\"time\":\"2026-11-23T22:17:05.000Z\",\"event\":\"daemon_started\",\"n\":\"b\"}\n";
	char line[EVENTS_LINE_MAX + 1], *text;
	struct events_log log;
	struct event ev;
	char *dir = tu_tmpdir();
	const char *path = tu_path(dir, EVENTS_FILE_NAME);
	size_t clen, len;

	(void)state;
	/* the line append_simple() writes */
	events_begin(&ev, EVENT_WORKER_STARTED, T0);
	events_add_int(&ev, "pid", 42);
	events_add_str(&ev, "detail", "c");
	clen = events_render(&ev, line, sizeof(line));
	tu_write_str(path, a);
	open_log(&log, dir);
	assert_int_equal(write(log.file.fd, b, strlen(b)), (ssize_t)strlen(b));
	log.file.trim_at = (off_t)(strlen(a) + strlen(b));
	log.file.keep = (off_t)(strlen(b) + clen);
	assert_int_equal(append_simple(&log, "c"), EVENTS_OK);
	events_close(&log);
	text = (char *)tu_read(path, &len);
	assert_int_equal(len, strlen(b) + clen);
	assert_memory_equal(text, b, strlen(b));
	assert_memory_equal(text + strlen(b), line, clen);
	free(text);
	rmtree(dir);
}

static void
test_failed_cut_is_reported_and_retried_later(void **state)
{
	struct events_log log;
	struct event ev;
	struct stat st;
	char detail[64], err[1024];
	const char *path, *tmp;
	char *dir = tu_tmpdir();
	long i;
	int rc;

	(void)state;
	open_log(&log, dir);
	log.file.trim_at = 8192;
	log.file.keep = 4096;
	path = tu_path(dir, EVENTS_FILE_NAME);
	/* statefile_write's temporary name taken by a directory */
	tmp = tu_path(dir, "." EVENTS_FILE_NAME ".tmp");
	assert_int_equal(mkdir(tmp, 0700), 0);
	for (i = 0, rc = EVENTS_OK; rc == EVENTS_OK; i++) {
		snprintf(detail, sizeof(detail), "n=%ld", i);
		events_begin(&ev, EVENT_WORKER_STARTED, T0);
		events_add_str(&ev, "detail", detail);
		rc = events_append(&log, &ev, err, sizeof(err));
	}
	assert_int_equal(rc, EVENTS_ERR_TRIM);
	assert_non_null(strstr(err, "events.jsonl is "));
	assert_non_null(strstr(err, "cutting it down to its last 4096 bytes failed"));
	assert_non_null(strstr(err, "create temporary file"));
	check_counting_lines(path, i - 1);          /* the line is there */
	/* the next appends do not try again (nor fail) for a while */
	snprintf(detail, sizeof(detail), "n=%ld", i);
	assert_int_equal(append_simple(&log, detail), EVENTS_OK);
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 8192);
	/* after EVENTS_TRIM_RETRY more bytes it is cut down */
	log.file.trim_after = 0;   /* test: without writing a MiB */
	snprintf(detail, sizeof(detail), "n=%ld", i + 1);
	assert_int_equal(append_simple(&log, detail), EVENTS_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= 4096);
	check_counting_lines(path, i + 1);
	events_close(&log);
	rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_line_has_the_faults_md_format),
		cmocka_unit_test(test_escaping_of_hostile_details),
		cmocka_unit_test(test_a_key_twice_is_kept_once),
		cmocka_unit_test(test_line_cap_truncates_and_marks),
		cmocka_unit_test(test_worker_exited_fields),
		cmocka_unit_test(test_fault_env_carries_the_bytes_given),
		cmocka_unit_test(test_type_names_round_trip),
		cmocka_unit_test(test_json_check),
		cmocka_unit_test(test_append_writes_valid_lines),
		cmocka_unit_test(test_disk_full_queues_then_resumes_in_order),
		cmocka_unit_test(test_flush_resumes_without_a_new_event),
		cmocka_unit_test(test_queue_overflow_drops_newest_and_says_so),
		cmocka_unit_test(test_open_cuts_a_torn_line),
		cmocka_unit_test(test_unwritable_dir_queues_and_retries_open),
		cmocka_unit_test_setup_teardown(test_disk_full_on_a_real_tmpfs,
		    tmpfs_setup, tmpfs_teardown),
		cmocka_unit_test(test_read_tail_reports_damage),
		cmocka_unit_test(test_read_tail_long_lines_and_big_files),
		cmocka_unit_test(test_file_is_cut_down_to_its_newest_lines),
		cmocka_unit_test(test_open_cuts_down_a_file_too_big),
		cmocka_unit_test(test_cut_keeps_a_line_starting_at_the_edge),
		cmocka_unit_test(test_failed_cut_is_reported_and_retried_later),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
