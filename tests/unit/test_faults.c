/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Faults: the catalogue against FAULTS.md, the raise/clear state machine
 * and its events, faults.state (round trip, damaged files), and the atomic
 * state files under it (statefile.c).
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "events.h"
#include "faults.h"
#include "statefile.h"
#include "testutil.h"

#ifndef AMPSCAN_SHARED_DIR
#define AMPSCAN_SHARED_DIR "../shared"
#endif

#define T0 1795472225123LL           /* 2026-11-23T22:17:05.123Z */

/* ---- helpers ---- */

/* remove the test's directory and free its name */
static void
rmtree(char *dir)
{
	tu_rmtree(dir);
	free(dir);
}

static void
write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static char *
read_file(const char *dir, const char *name, size_t *len)
{
	char path[4096], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "rb"));
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

/* Events emitted by struct faults, rendered. */
struct recorder {
	char lines[8][EVENTS_LINE_MAX + 1];
	size_t n;
};

static void
record(void *arg, const struct event *ev)
{
	struct recorder *r = arg;

	assert_true(r->n < 8);
	assert_true(events_render(ev, r->lines[r->n], sizeof(r->lines[0])) > 0);
	r->n++;
}

/* ---- the catalogue ---- */

static const int faults_md_ids[] = { 1, 2, 3, 4, 5, 6, 7, 10, 12, 13, 14,
	15, 17 };
static const int never_on_linux[] = { 1, 4, 10, 12, 13, 14, 15, 17 };

static bool
in(const int *set, size_t n, int id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i] == id)
			return true;
	return false;
}

static void
test_catalogue_has_every_faults_md_id(void **state)
{
	size_t i, n = sizeof(faults_md_ids) / sizeof(faults_md_ids[0]);

	(void)state;
	assert_int_equal(fault_def_count(), n);
	for (i = 0; i < n; i++) {
		const struct fault_def *d = fault_def_find(faults_md_ids[i]);

		assert_non_null(d);
		assert_int_equal(d->id, faults_md_ids[i]);
		assert_ptr_equal(fault_def_at(i), d);   /* id order */
		assert_ptr_equal(fault_def_by_name(d->name), d);
	}
	assert_null(fault_def_find(0));
	assert_null(fault_def_find(8));
	assert_null(fault_def_find(11));
	assert_null(fault_def_find(16));
	assert_null(fault_def_find(-1));
	assert_null(fault_def_at(n));
	assert_null(fault_def_by_name("nope"));
}

static void
test_catalogue_texts_in_both_languages(void **state)
{
	size_t i, j, k;

	(void)state;
	for (i = 0; i < fault_def_count(); i++) {
		const struct fault_def *d = fault_def_at(i);
		const char *s;

		for (s = d->name; *s != '\0'; s++)
			assert_true((*s >= 'a' && *s <= 'z') || *s == '_' ||
			    (*s >= '0' && *s <= '9'));
		for (j = 0; j < FAULT_LANG_COUNT; j++) {
			for (k = 0; k < FAULT_FIELD_COUNT; k++) {
				const char *t = fault_text(d,
				    (enum fault_lang)j, (enum fault_field)k);
				bool cjk = false;

				assert_true(strlen(t) > 0);
				for (s = t; *s != '\0'; s++)
					cjk |= (unsigned char)*s >= 0xe3;
				/* Chinese is Chinese, English is not */
				if (j == FAULT_LANG_ZH_TW)
					assert_true(cjk);
				else
					assert_false(cjk);
			}
		}
		for (j = i + 1; j < fault_def_count(); j++)
			assert_string_not_equal(d->name, fault_def_at(j)->name);
	}
	assert_string_equal(fault_text(fault_def_find(1), FAULT_LANG_COUNT,
	    FAULT_FIELD_PORTAL), "");
	assert_string_equal(fault_text(NULL, FAULT_LANG_EN,
	    FAULT_FIELD_PORTAL), "");
	assert_non_null(strstr(fault_text(fault_def_find(5), FAULT_LANG_EN,
	    FAULT_FIELD_REMEDY), "ampctl repair-account"));
	assert_non_null(strstr(fault_text(fault_def_find(5), FAULT_LANG_ZH_TW,
	    FAULT_FIELD_REMEDY), "ampctl repair-account"));
	assert_non_null(strstr(fault_text(fault_def_find(6), FAULT_LANG_EN,
	    FAULT_FIELD_REMEDY), "ampctl diag"));
}

static void
test_catalogue_marks_macos_faults_never_raised(void **state)
{
	size_t i, n = sizeof(never_on_linux) / sizeof(never_on_linux[0]);

	(void)state;
	for (i = 0; i < fault_def_count(); i++) {
		const struct fault_def *d = fault_def_at(i);

		assert_int_equal(d->linux_raised,
		    !in(never_on_linux, n, d->id));
	}
	assert_true(fault_def_find(5)->linux_raised);
	assert_true(fault_def_find(6)->linux_raised);
	assert_true(fault_def_find(7)->linux_raised);
}

/* Trim the cell [s, e) of a Markdown table row. */
static void
cell(const char *s, const char *e, char *out, size_t outlen)
{
	while (s < e && *s == ' ')
		s++;
	while (e > s && e[-1] == ' ')
		e--;
	snprintf(out, outlen, "%.*s", (int)(e - s), s);
}

/* The English texts are shared with the other platforms: same bytes. */
static void
test_catalogue_english_matches_faults_md_table(void **state)
{
	char path[4096], *md, *line, *next, c[4][256];
	size_t rows = 0, k;

	(void)state;
	snprintf(path, sizeof(path), "%s/design/FAULTS.md", AMPSCAN_SHARED_DIR);
	if (access(path, R_OK) != 0) {
		print_message("[  SKIP    ] %s not found\n", path);
		skip();
	}
	md = read_file(AMPSCAN_SHARED_DIR "/design", "FAULTS.md", NULL);
	for (line = md; line != NULL && *line != '\0'; line = next) {
		const char *bar[6], *p;
		long id;
		char *endp;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (line[0] != '|' || line[1] != ' ' || line[2] < '0' ||
		    line[2] > '9')
			continue;
		for (k = 0, p = line; k < 6 && (p = strchr(p, '|')) != NULL;
		    p++)
			bar[k++] = p;
		assert_true(k >= 5);
		for (k = 0; k < 4; k++)
			cell(bar[k] + 1, bar[k + 1], c[k], sizeof(c[k]));
		id = strtol(c[0], &endp, 10);
		assert_true(*endp == '\0');
		assert_non_null(fault_def_find((int)id));
		assert_string_equal(fault_text(fault_def_find((int)id),
		    FAULT_LANG_EN, FAULT_FIELD_PORTAL), c[1]);
		assert_string_equal(fault_text(fault_def_find((int)id),
		    FAULT_LANG_EN, FAULT_FIELD_ENDPOINT), c[2]);
		assert_int_equal(fault_def_find((int)id)->linux_raised,
		    strncmp(c[3], "never raised", 12) != 0);
		rows++;
	}
	assert_int_equal(rows, fault_def_count());
	free(md);
}

static void
test_lang_parse(void **state)
{
	enum fault_lang l = FAULT_LANG_EN;

	(void)state;
	assert_true(fault_lang_parse("zh-TW", &l));
	assert_int_equal(l, FAULT_LANG_ZH_TW);
	assert_true(fault_lang_parse("zh_tw", &l));
	assert_int_equal(l, FAULT_LANG_ZH_TW);
	assert_true(fault_lang_parse("en", &l));
	assert_int_equal(l, FAULT_LANG_EN);
	assert_false(fault_lang_parse("zh-CN", &l));
	assert_false(fault_lang_parse("", &l));
}

/* ---- the state machine ---- */

static void
test_raise_raise_clear_clear(void **state)
{
	struct recorder r = { .n = 0 };
	struct faults f;
	char want[512];

	(void)state;
	faults_init(&f, record, &r);
	assert_false(fault_is_raised(&f, 6));

	assert_true(fault_raise(&f, 6, "3 crashes in 41 s (SIGSEGV x3)", 1234, T0));
	assert_int_equal(r.n, 1);
	assert_string_equal(r.lines[0],
	    "{\"time\":\"2026-11-23T22:17:05.123Z\",\"event\":\"fault_raised\",\"fault\":6,\"name\":\"Scan Service Restarting Frequently\",\"detail\":\"3 crashes in 41 s (SIGSEGV x3)\",\"pid\":1234}\n");
	assert_true(fault_is_raised(&f, 6));
	assert_int_equal(fault_state_of(&f, 6)->since_ms, T0);

	/* again: detail updated, no event, since unchanged */
	assert_false(fault_raise(&f, 6, "4 crashes in 50 s", 1240, T0 + 9000));
	assert_int_equal(r.n, 1);
	assert_string_equal(fault_state_of(&f, 6)->detail, "4 crashes in 50 s");
	assert_int_equal(fault_state_of(&f, 6)->since_ms, T0);
	assert_int_equal(faults_raised_count(&f), 1);

	assert_true(fault_clear(&f, 6, "stable for 60 s", T0 + 120000 - 119));
	assert_int_equal(r.n, 2);
	snprintf(want, sizeof(want), "%s",
	    "{\"time\":\"2026-11-23T22:19:05.004Z\",\"event\":\"fault_cleared\",\"fault\":6,\"name\":\"Scan Service Restarting Frequently\",\"detail\":\"stable for 60 s\"}\n");
	assert_string_equal(r.lines[1], want);
	assert_false(fault_is_raised(&f, 6));
	assert_string_equal(fault_state_of(&f, 6)->detail, "");

	assert_false(fault_clear(&f, 6, "again", T0 + 130000));
	assert_int_equal(r.n, 2);
	assert_int_equal(faults_raised_count(&f), 0);

	/* raised again after a clear: a new event */
	assert_true(fault_raise(&f, 6, "back", 0, T0 + 140000));
	assert_int_equal(r.n, 3);
	assert_null(strstr(r.lines[2], "\"pid\""));
}

static void
test_raise_refuses_unknown_and_macos_ids(void **state)
{
	struct recorder r = { .n = 0 };
	struct faults f;
	size_t i;

	(void)state;
	faults_init(&f, record, &r);
	for (i = 0; i < sizeof(never_on_linux) / sizeof(never_on_linux[0]); i++)
		assert_false(fault_raise(&f, never_on_linux[i], "x", 0, T0));
	assert_false(fault_raise(&f, 8, "x", 0, T0));
	assert_false(fault_raise(&f, -5, "x", 0, T0));
	assert_false(fault_clear(&f, 99, "x", T0));
	assert_false(fault_mark_intervention(&f, 99, T0));
	assert_null(fault_state_of(&f, 99));
	assert_int_equal(r.n, 0);
	assert_int_equal(faults_raised_count(&f), 0);
}

static void
test_intervention_marked_once_reset_by_clear(void **state)
{
	struct recorder r = { .n = 0 };
	struct faults f;

	(void)state;
	faults_init(&f, record, &r);
	assert_false(fault_mark_intervention(&f, 6, T0));   /* not raised */
	assert_int_equal(r.n, 0);
	fault_raise(&f, 6, "crashing", 0, T0);
	assert_true(fault_mark_intervention(&f, 6, T0 + 600000));
	assert_int_equal(r.n, 2);
	assert_non_null(strstr(r.lines[1], "\"event\":\"intervention_required\",\"fault\":6,"));
	assert_non_null(strstr(r.lines[1], "\"detail\":\"crashing\""));
	assert_non_null(strstr(r.lines[1], "\"since\":\"2026-11-23T22:17:05.123Z\""));
	assert_true(fault_needs_intervention(&f, 6));
	assert_false(fault_mark_intervention(&f, 6, T0 + 700000));
	assert_int_equal(r.n, 2);
	/* a detail update keeps the mark */
	fault_raise(&f, 6, "still crashing", 0, T0 + 710000);
	assert_true(fault_needs_intervention(&f, 6));
	fault_clear(&f, 6, "stable", T0 + 800000);
	assert_false(fault_needs_intervention(&f, 6));
	fault_raise(&f, 6, "again", 0, T0 + 900000);
	assert_false(fault_needs_intervention(&f, 6));
}

static void
test_no_callback_is_allowed(void **state)
{
	struct faults f;

	(void)state;
	faults_init(&f, NULL, NULL);
	assert_true(fault_raise(&f, 7, "exec failed", 0, T0));
	assert_true(fault_mark_intervention(&f, 7, T0));
	assert_true(fault_clear(&f, 7, "ready", T0));
}

static void
test_long_detail_cut_at_character_boundary(void **state)
{
	struct faults f;
	char big[2000];
	const char *d;
	size_t i, n;

	(void)state;
	faults_init(&f, NULL, NULL);
	/* "中" is 3 bytes: 511 is not a multiple of 3 */
	for (i = 0; i + 3 < sizeof(big); i += 3)
		memcpy(big + i, "\xe4\xb8\xad", 3);
	big[i] = '\0';
	fault_raise(&f, 5, big, 0, T0);
	d = fault_state_of(&f, 5)->detail;
	n = strlen(d);
	assert_true(n < FAULTS_DETAIL_MAX);
	assert_string_equal(d + n - 3, "...");
	assert_int_equal((n - 3) % 3, 0);
	assert_memory_equal(d, big, n - 3);

	/* exactly at the limit: kept whole */
	memset(big, 'a', FAULTS_DETAIL_MAX - 1);
	big[FAULTS_DETAIL_MAX - 1] = '\0';
	fault_raise(&f, 5, big, 0, T0);
	assert_string_equal(fault_state_of(&f, 5)->detail, big);
	/* one past it: cut */
	memset(big, 'a', FAULTS_DETAIL_MAX);
	big[FAULTS_DETAIL_MAX] = '\0';
	fault_raise(&f, 5, big, 0, T0);
	assert_int_equal(strlen(fault_state_of(&f, 5)->detail),
	    FAULTS_DETAIL_MAX - 1);
	fault_raise(&f, 5, NULL, 0, T0);
	assert_string_equal(fault_state_of(&f, 5)->detail, "");
}

/* ---- persistence ---- */

static const char hostile[] = "user \"cisco-amp-scan-svc\" 100% gone\n"
    "line2\r\x01\x1b[31m\x7f \xff\xfe 中文 %00 %41";

static void
test_save_load_round_trip(void **state)
{
	struct recorder r = { .n = 0 };
	struct faults f, g;
	char err[512], path[4096];
	struct stat st;
	char *dir = tu_tmpdir();
	size_t i;

	(void)state;
	faults_init(&f, NULL, NULL);
	fault_raise(&f, 5, hostile, 0, T0);
	fault_raise(&f, 6, "3 crashes in 41 s (SIGSEGV x3)", 0, T0 + 1);
	fault_mark_intervention(&f, 6, T0 + 600000);
	fault_raise(&f, 7, "", 0, -5);
	fault_raise(&f, 2, "a  b ", 0, INT64_MAX);
	assert_int_equal(faults_save(&f, dir, err, sizeof(err)), 0);

	snprintf(path, sizeof(path), "%s/%s", dir, FAULTS_STATE_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	faults_init(&g, record, &r);
	fault_raise(&g, 3, "to be replaced", 0, T0);
	r.n = 0;
	assert_int_equal(faults_load(&g, dir, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(r.n, 0);                /* no events on load */
	assert_ptr_equal(g.emit, record);
	for (i = 0; i < FAULTS_NDEFS; i++) {
		assert_int_equal(g.state[i].raised, f.state[i].raised);
		assert_int_equal(g.state[i].intervention,
		    f.state[i].intervention);
		assert_true(g.state[i].since_ms == f.state[i].since_ms);
		assert_true(g.state[i].intervention_ms ==
		    f.state[i].intervention_ms);
		assert_string_equal(g.state[i].detail, f.state[i].detail);
	}
	assert_false(fault_is_raised(&g, 3));
	assert_true(fault_needs_intervention(&g, 6));

	/* saving nothing raised, then loading: no faults */
	faults_init(&f, NULL, NULL);
	assert_int_equal(faults_save(&f, dir, err, sizeof(err)), 0);
	assert_int_equal(faults_load(&g, dir, err, sizeof(err)), 0);
	assert_int_equal(faults_raised_count(&g), 0);
	rmtree(dir);
}

static void
test_load_missing_file_is_no_faults(void **state)
{
	struct faults f;
	char err[256] = "junk";
	char *dir = tu_tmpdir();

	(void)state;
	faults_init(&f, NULL, NULL);
	fault_raise(&f, 5, "x", 0, T0);
	assert_int_equal(faults_load(&f, dir, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(faults_raised_count(&f), 0);
	rmtree(dir);
}

static void
test_load_damaged_files_yield_no_faults(void **state)
{
	static const struct {
		const char *what, *text;
		size_t len;                  /* 0: strlen */
	} cases[] = {
		{ "empty", "", 0 },
		{ "header only", "ampscan-faults 1\n", 0 },
		{ "no end", "ampscan-faults 1\nfault 5 1 0 0 x\n", 0 },
		{ "no newline", "ampscan-faults 1\nend 0", 0 },
		{ "wrong version", "ampscan-faults 2\nend 0\n", 0 },
		{ "not ours", "{\"faults\":[]}\n", 0 },
		{ "count low", "ampscan-faults 1\nfault 5 1 0 0 x\nend 0\n", 0 },
		{ "count high", "ampscan-faults 1\nend 1\n", 0 },
		{ "count junk", "ampscan-faults 1\nend 0x\n", 0 },
		{ "after end", "ampscan-faults 1\nend 0\nfault 5 1 0 0 x\n", 0 },
		{ "duplicate", "ampscan-faults 1\nfault 5 1 0 0 x\nfault 5 2 0 0 y\nend 2\n", 0 },
		{ "flag 2", "ampscan-faults 1\nfault 5 1 2 0 x\nend 1\n", 0 },
		{ "since junk", "ampscan-faults 1\nfault 5 1a 0 0 x\nend 1\n", 0 },
		{ "since overflow", "ampscan-faults 1\nfault 5 99999999999999999999 0 0 x\nend 1\n", 0 },
		{ "missing fields", "ampscan-faults 1\nfault 5 1 0\nend 1\n", 0 },
		{ "no detail space", "ampscan-faults 1\nfault 5 1 0 0\nend 1\n", 0 },
		{ "double space", "ampscan-faults 1\nfault 5  1 0 0 x\nend 1\n", 0 },
		{ "bad escape", "ampscan-faults 1\nfault 5 1 0 0 100%\nend 1\n", 0 },
		{ "bad hex", "ampscan-faults 1\nfault 5 1 0 0 %G1\nend 1\n", 0 },
		{ "escaped NUL", "ampscan-faults 1\nfault 5 1 0 0 a%00b\nend 1\n", 0 },
		{ "raw control", "ampscan-faults 1\nfault 5 1 0 0 a\tb\nend 1\n", 0 },
		{ "CRLF", "ampscan-faults 1\r\nend 0\r\n", 0 },
		{ "NUL byte", "ampscan-faults 1\nfault 5 1 0 0 a\0b\nend 1\n", 41 },
		{ "unknown line", "ampscan-faults 1\nfoo\nend 0\n", 0 },
	};
	struct faults f;
	char err[512];
	char *dir = tu_tmpdir();
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].len ? cases[i].len : strlen(cases[i].text);

		write_file(dir, FAULTS_STATE_FILE, cases[i].text, n);
		faults_init(&f, NULL, NULL);
		fault_raise(&f, 6, "before", 0, T0);
		err[0] = '\0';
		if (faults_load(&f, dir, err, sizeof(err)) >= 0 ||
		    faults_raised_count(&f) != 0 ||
		    strstr(err, FAULTS_STATE_FILE) == NULL ||
		    strstr(err, "damaged, no fault loaded") == NULL)
			fail_msg("case %s: err \"%s\"", cases[i].what, err);
	}
	rmtree(dir);
}

/* Every proper prefix of a valid file is rejected; the whole is accepted. */
static void
test_load_truncated_at_every_byte(void **state)
{
	struct faults f;
	char err[512], *full;
	char *dir = tu_tmpdir();
	size_t len, cut;

	(void)state;
	faults_init(&f, NULL, NULL);
	fault_raise(&f, 5, "no such user", 0, T0);
	fault_raise(&f, 7, "exec: ENOENT", 0, T0);
	assert_int_equal(faults_save(&f, dir, err, sizeof(err)), 0);
	full = read_file(dir, FAULTS_STATE_FILE, &len);
	for (cut = 0; cut < len; cut++) {
		write_file(dir, FAULTS_STATE_FILE, full, cut);
		fault_raise(&f, 6, "x", 0, T0);
		assert_true(faults_load(&f, dir, err, sizeof(err)) < 0);
		assert_int_equal(faults_raised_count(&f), 0);
	}
	write_file(dir, FAULTS_STATE_FILE, full, len);
	assert_int_equal(faults_load(&f, dir, err, sizeof(err)), 0);
	assert_int_equal(faults_raised_count(&f), 2);
	free(full);
	rmtree(dir);
}

static void
test_load_too_large_is_damaged(void **state)
{
	struct faults f;
	char err[512], *big;
	char *dir = tu_tmpdir();

	(void)state;
	big = malloc(FAULTS_STATE_MAX + 1);
	memset(big, '\n', FAULTS_STATE_MAX + 1);
	write_file(dir, FAULTS_STATE_FILE, big, FAULTS_STATE_MAX + 1);
	faults_init(&f, NULL, NULL);
	assert_int_equal(faults_load(&f, dir, err, sizeof(err)),
	    STATEFILE_ERR_TOOBIG);
	assert_non_null(strstr(err, "allowed"));
	free(big);
	rmtree(dir);
}

static void
test_load_ignores_unknown_ids_with_a_note(void **state)
{
	static const char text[] = "ampscan-faults 1\n"
	    "fault 99 1 0 0 from the future\n"
	    "fault 6 5 1 7 crashing\n"
	    "fault 4 1 0 0 macOS\n"
	    "end 3\n";
	struct faults f;
	char err[512];
	char *dir = tu_tmpdir();

	(void)state;
	write_file(dir, FAULTS_STATE_FILE, text, strlen(text));
	faults_init(&f, NULL, NULL);
	assert_int_equal(faults_load(&f, dir, err, sizeof(err)), 0);
	assert_int_equal(faults_raised_count(&f), 1);
	assert_true(fault_needs_intervention(&f, 6));
	assert_string_equal(fault_state_of(&f, 6)->detail, "crashing");
	assert_non_null(strstr(err, "line 2: fault 99 is unknown, ignored"));
	assert_non_null(strstr(err, "line 4: fault 4 is never raised on Linux, ignored"));
	rmtree(dir);
}

/* ---- statefile ---- */

static void
test_statefile_write_read(void **state)
{
	char err[512], path[4096], *buf;
	struct stat st;
	size_t len;
	char *dir = tu_tmpdir();

	(void)state;
	assert_int_equal(statefile_write(dir, "a.state", "one", 3, 0644, err,
	    sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/a.state", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* replace, with a leftover temporary file from a crash in the way */
	write_file(dir, ".a.state.tmp", "junk", 4);
	assert_int_equal(statefile_write(dir, "a.state", "second", 6, 0600,
	    err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/.a.state.tmp", dir);
	assert_int_not_equal(access(path, F_OK), 0);

	assert_int_equal(statefile_read(dir, "a.state", 6, &buf, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "second");
	free(buf);
	/* empty content */
	assert_int_equal(statefile_write(dir, "e", "", 0, 0600, err,
	    sizeof(err)), 0);
	assert_int_equal(statefile_read(dir, "e", 0, &buf, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
	rmtree(dir);
}

/* statefile_same_file: the name still the open file, replaced, gone. */
static void
test_statefile_same_file(void **state)
{
	char err[512];
	char *dir = tu_tmpdir();
	const char *path = tu_path(dir, "log");
	int fd;

	(void)state;
	write_file(dir, "log", "one\n", 4);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_true(statefile_same_file(fd, path));
	assert_int_equal(statefile_write(dir, "log", "two\n", 4, 0640, err,
	    sizeof(err)), 0);
	assert_false(statefile_same_file(fd, path));
	close(fd);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_true(statefile_same_file(fd, path));
	assert_int_equal(unlink(path), 0);
	assert_false(statefile_same_file(fd, path));
	close(fd);
	rmtree(dir);
}

static void
test_statefile_errors(void **state)
{
	static const char *bad[] = { "", ".", "..", ".hidden", "a/b", "/abs" };
	char err[512], path[4096], target[4096], *buf = (char *)1;
	size_t len = 7, i;
	char *dir = tu_tmpdir();

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(statefile_write(dir, bad[i], "x", 1, 0600, err,
		    sizeof(err)), STATEFILE_ERR_NAME);
		assert_int_equal(statefile_read(dir, bad[i], 10, &buf, &len,
		    err, sizeof(err)), STATEFILE_ERR_NAME);
	}
	assert_int_equal(statefile_read(dir, "none", 10, &buf, &len, err,
	    sizeof(err)), STATEFILE_ERR_NOENT);
	assert_null(buf);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err, "none"));

	/* at the cap, and one past it */
	assert_int_equal(statefile_write(dir, "c", "12345", 5, 0600, err,
	    sizeof(err)), 0);
	assert_int_equal(statefile_read(dir, "c", 5, &buf, &len, err,
	    sizeof(err)), 0);
	free(buf);
	assert_int_equal(statefile_read(dir, "c", 4, &buf, &len, err,
	    sizeof(err)), STATEFILE_ERR_TOOBIG);
	assert_null(buf);

	/* not a regular file; a symlink is not followed */
	snprintf(path, sizeof(path), "%s/d", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(statefile_read(dir, "d", 10, &buf, &len, err,
	    sizeof(err)), STATEFILE_ERR_TYPE);
	snprintf(path, sizeof(path), "%s/l", dir);
	snprintf(target, sizeof(target), "%s/c", dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(statefile_read(dir, "l", 10, &buf, &len, err,
	    sizeof(err)), STATEFILE_ERR_IO);

	/* no directory: the error names it; nothing is left behind */
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(statefile_write(path, "x", "x", 1, 0600, err,
	    sizeof(err)), STATEFILE_ERR_IO);
	assert_non_null(strstr(err, "missing/x: open directory"));
	rmtree(dir);
}

/* A failed write leaves the old content and no temporary file. */
static void
test_statefile_failure_keeps_old_content(void **state)
{
	char err[512], path[4096], *buf;
	size_t len;
	char *dir = tu_tmpdir();

	(void)state;
	assert_int_equal(statefile_write(dir, "s", "old", 3, 0600, err,
	    sizeof(err)), 0);
	/* a directory where the temporary file goes: its creation fails */
	snprintf(path, sizeof(path), "%s/.s.tmp", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(statefile_write(dir, "s", "new", 3, 0600, err,
	    sizeof(err)), STATEFILE_ERR_IO);
	assert_non_null(strstr(err, "create temporary file"));
	assert_int_equal(statefile_read(dir, "s", 10, &buf, &len, err,
	    sizeof(err)), 0);
	assert_string_equal(buf, "old");
	free(buf);
	rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalogue_has_every_faults_md_id),
		cmocka_unit_test(test_catalogue_texts_in_both_languages),
		cmocka_unit_test(test_catalogue_marks_macos_faults_never_raised),
		cmocka_unit_test(test_catalogue_english_matches_faults_md_table),
		cmocka_unit_test(test_lang_parse),
		cmocka_unit_test(test_raise_raise_clear_clear),
		cmocka_unit_test(test_raise_refuses_unknown_and_macos_ids),
		cmocka_unit_test(test_intervention_marked_once_reset_by_clear),
		cmocka_unit_test(test_no_callback_is_allowed),
		cmocka_unit_test(test_long_detail_cut_at_character_boundary),
		cmocka_unit_test(test_save_load_round_trip),
		cmocka_unit_test(test_load_missing_file_is_no_faults),
		cmocka_unit_test(test_load_damaged_files_yield_no_faults),
		cmocka_unit_test(test_load_truncated_at_every_byte),
		cmocka_unit_test(test_load_too_large_is_damaged),
		cmocka_unit_test(test_load_ignores_unknown_ids_with_a_note),
		cmocka_unit_test(test_statefile_write_read),
		cmocka_unit_test(test_statefile_errors),
		cmocka_unit_test(test_statefile_same_file),
		cmocka_unit_test(test_statefile_failure_keeps_old_content),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
