/* SPDX-License-Identifier: GPL-2.0-or-later */
/* diag.c: the diagnosis on synthetic state directories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "diag.h"

#define NOW 1795488900000LL     /* 2026-11-24T02:55:00Z */

struct fx {
	char dir[64];
	struct strbuf out;
};

static void
put(const struct fx *f, const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_diag.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	strbuf_init(&f->out, DIAG_OUT_MAX);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	strbuf_free(&f->out);
	free(f);
	return 0;
}

static int
run(struct fx *f, bool json)
{
	struct diag_opts o = { .state_dir = f->dir, .now_ms = NOW, .json = json };
	char err[256];

	strbuf_reset(&f->out);
	return diag_run(&o, &f->out, err, sizeof(err));
}

#define EXIT(t, pid, sig, file) \
	"{\"time\":\"" t "\",\"event\":\"worker_exited\",\"pid\":" #pid \
	",\"signal\":\"" sig "\",\"core_dumped\":false,\"uptime_ms\":500," \
	"\"files\":[" file "],\"kind\":\"crash\",\"worker\":1,\"uid\":995," \
	"\"restart_delay_ms\":100,\"definitions\":\"daily:27012\"}\n"

static void
test_diag_empty_dir_is_healthy_and_says_what_is_missing(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, false), DIAG_HEALTHY);
	assert_non_null(strstr(strbuf_str(&f->out), "VERDICT: HEALTHY (exit status 0)"));
	assert_non_null(strstr(strbuf_str(&f->out), "exits.jsonl: missing"));
	assert_int_equal(run(f, true), DIAG_HEALTHY);
	assert_non_null(strstr(strbuf_str(&f->out), "\"verdict\":\"healthy\""));
}

static void
test_diag_fault_5_is_degraded_with_the_account_reason(void **state)
{
	struct fx *f = *state;

	put(f, "faults.state", "ampscan-faults 1\n"
	    "fault 5 1795486400000 0 0 user x has uid 0\nend 1\n");
	assert_int_equal(run(f, false), DIAG_DEGRADED);
	assert_non_null(strstr(strbuf_str(&f->out), "the account: user x has uid 0"));
	assert_non_null(strstr(strbuf_str(&f->out), "repair-account"));
}

static void
test_diag_verdict_intervention_for_marked_6_and_for_7(void **state)
{
	struct fx *f = *state;

	put(f, "faults.state", "ampscan-faults 1\n"
	    "fault 6 1795486400000 1 1795486460000 3 crashes in 4 s (SIGSEGV x3)\nend 1\n");
	assert_int_equal(run(f, false), DIAG_INTERVENTION);
	assert_non_null(strstr(strbuf_str(&f->out), "NEEDS INTERVENTION"));
	put(f, "faults.state", "ampscan-faults 1\n"
	    "fault 7 1795486400000 0 0 worker 1: exited 1 before READY\nend 1\n");
	assert_int_equal(run(f, false), DIAG_INTERVENTION);
	put(f, "faults.state", "ampscan-faults 1\n"
	    "fault 6 1795486400000 0 0 3 crashes\nend 1\n");
	assert_int_equal(run(f, false), DIAG_DEGRADED);
}

static void
test_diag_groups_crashes_into_one_sentence(void **state)
{
	struct fx *f = *state;

	put(f, "events.jsonl",
	    "{\"time\":\"2026-11-24T02:40:00.000Z\",\"event\":\"definitions_activated\",\"versions\":[\"daily:27012\"]}\n"
	    "{\"time\":\"2026-11-24T02:50:03.000Z\",\"event\":\"fault_raised\",\"fault\":6,\"name\":\"x\",\"detail\":\"3 crashes in 2 s (SIGSEGV x3)\",\"pid\":3}\n"
	    "{\"time\":\"2026-11-24T02:51:03.000Z\",\"event\":\"fault_cleared\",\"fault\":6,\"name\":\"x\",\"detail\":\"no crash for 60 s\"}\n");
	put(f, "exits.jsonl",
	    EXIT("2026-11-24T02:50:01.000Z", 1, "SIGSEGV", "\"/srv/x/y.zip\"")
	    EXIT("2026-11-24T02:50:02.000Z", 2, "SIGSEGV", "\"/srv/x/y.zip\"")
	    EXIT("2026-11-24T02:50:03.000Z", 3, "SIGSEGV", "\"/srv/x/y.zip\""));
	assert_int_equal(run(f, false), DIAG_HEALTHY);
	assert_non_null(strstr(strbuf_str(&f->out),
	    "All 3 crashes happened while scanning /srv/x/y.zip (SIGSEGV x3), since definitions daily:27012 were activated (2026-11-24T02:40:00.000Z)."));
	assert_non_null(strstr(strbuf_str(&f->out), "cleared 2026-11-24T02:51:03.000Z (no crash for 60 s); lasted 1m00s"));
	assert_non_null(strstr(strbuf_str(&f->out), "3 x /srv/x/y.zip (SIGSEGV x3)"));
	/* --since after the crashes: none left */
	{
		struct diag_opts o = { .state_dir = f->dir, .now_ms = NOW,
		    .since_ms = NOW - 1000 };

		strbuf_reset(&f->out);
		assert_int_equal(diag_run(&o, &f->out, NULL, 0), DIAG_HEALTHY);
		assert_non_null(strstr(strbuf_str(&f->out), "CRASHES\n  no crash"));
	}
}

static void
test_diag_mixed_files_and_no_file(void **state)
{
	struct fx *f = *state;

	put(f, "exits.jsonl",
	    EXIT("2026-11-24T02:50:01.000Z", 1, "SIGSEGV", "")
	    EXIT("2026-11-24T02:50:02.000Z", 2, "SIGABRT", ""));
	run(f, false);
	assert_non_null(strstr(strbuf_str(&f->out),
	    "Both 2 crashes happened with no file in flight (SIGABRT x1, SIGSEGV x1)"));
}

static void
test_diag_damaged_files_are_reported_not_fatal(void **state)
{
	struct fx *f = *state;

	put(f, "events.jsonl",
	    "{\"time\":\"2026-11-24T02:40:00.000Z\",\"event\":\"who_knows\"}\n"
	    "garbage {\n"
	    "{\"time\":\"2026-11-24T02:50:03.000Z\",\"event\":\"fault_raised\",\"fault\":6,\"name\":\"x\",\"detail\":\"d\",\"pid\":3}\n"
	    "{\"time\":\"2026-11-24T02:50:0");
	put(f, "exits.jsonl", EXIT("2026-11-24T02:50:01.000Z", 1, "SIGSEGV", "")
	    "{\"time\":\"2026-11-24T02:50:02");
	put(f, "faults.state", "not ours\n");
	put(f, "poison.state", "ampscan-poison 1\nfile x\n");
	/* faults.state unreadable: fault 6 left raised by the events */
	assert_int_equal(run(f, false), DIAG_DEGRADED);
	assert_non_null(strstr(strbuf_str(&f->out), "events.jsonl line 1 (offset 0): unknown event type 'who_knows'"));
	assert_non_null(strstr(strbuf_str(&f->out), "events.jsonl line 2"));
	assert_non_null(strstr(strbuf_str(&f->out), "events.jsonl line 4"));
	assert_non_null(strstr(strbuf_str(&f->out), "exits.jsonl line 2"));
	assert_non_null(strstr(strbuf_str(&f->out), "torn last line"));
	assert_non_null(strstr(strbuf_str(&f->out), "faults.state:"));
	assert_non_null(strstr(strbuf_str(&f->out), "poison.state:"));
	assert_non_null(strstr(strbuf_str(&f->out), "from events.jsonl: faults.state could not be read"));
	assert_int_equal(run(f, true), DIAG_DEGRADED);
	assert_non_null(strstr(strbuf_str(&f->out), "\"faults_source\":\"events\""));
}

/* exits.c's events_dropped line: a gap counted, neither an exit nor damage. */
static void
test_diag_exits_lost_line_is_a_gap_not_an_exit(void **state)
{
	struct fx *f = *state;

	put(f, "exits.jsonl",
	    EXIT("2026-11-24T02:50:01.000Z", 1, "SIGSEGV", "")
	    "{\"time\":\"2026-11-24T02:52:00.000Z\",\"event\":\"events_dropped\",\"count\":7,\"detail\":\"7 worker exits lost while exits.jsonl could not be written\"}\n"
	    EXIT("2026-11-24T02:52:01.000Z", 2, "SIGSEGV", ""));
	run(f, false);
	assert_non_null(strstr(strbuf_str(&f->out),
	    "TIMELINE (worker exits; 7 not recorded: exits.jsonl could not be written)"));
	assert_non_null(strstr(strbuf_str(&f->out), "Both 2 crashes"));
	assert_null(strstr(strbuf_str(&f->out), "exits.jsonl line"));
	run(f, true);
	assert_non_null(strstr(strbuf_str(&f->out), "\"timeline_lost\":7,"));
	assert_non_null(strstr(strbuf_str(&f->out), "\"count\":2,"));
	assert_null(strstr(strbuf_str(&f->out), "{\"file\":\"exits.jsonl\""));
	/* --since after the gap: not counted */
	{
		struct diag_opts o = { .state_dir = f->dir, .now_ms = NOW,
		    .since_ms = NOW - 60000, .json = true };

		strbuf_reset(&f->out);
		diag_run(&o, &f->out, NULL, 0);
		assert_non_null(strstr(strbuf_str(&f->out), "\"timeline_lost\":0,"));
	}
}

/* events.jsonl's own events_dropped lines: counted and said, not damage. */
static void
test_diag_events_lost_lines_are_counted_and_said(void **state)
{
	struct fx *f = *state;

	put(f, "events.jsonl",
	    "{\"time\":\"2026-11-24T02:40:00.000Z\",\"event\":\"events_dropped\",\"count\":4,\"detail\":\"4 events lost\"}\n"
	    "{\"time\":\"2026-11-24T02:54:30.000Z\",\"event\":\"events_dropped\",\"count\":3,\"detail\":\"3 events lost\"}\n");
	put(f, "exits.jsonl", "");
	assert_int_equal(run(f, false), DIAG_HEALTHY);
	assert_non_null(strstr(strbuf_str(&f->out),
	    "events.jsonl: 7 events were never written"));
	assert_null(strstr(strbuf_str(&f->out), "nothing: every record was read"));
	assert_null(strstr(strbuf_str(&f->out), "events.jsonl line"));
	run(f, true);
	assert_non_null(strstr(strbuf_str(&f->out), "\"events_lost\":7}"));
	{
		struct diag_opts o = { .state_dir = f->dir, .now_ms = NOW,
		    .since_ms = NOW - 60000, .json = true };

		strbuf_reset(&f->out);
		diag_run(&o, &f->out, NULL, 0);
		assert_non_null(strstr(strbuf_str(&f->out), "\"events_lost\":3}"));
	}
	/* none: nothing said */
	put(f, "events.jsonl", "");
	run(f, false);
	assert_null(strstr(strbuf_str(&f->out), "never written"));
	run(f, true);
	assert_non_null(strstr(strbuf_str(&f->out), "\"events_lost\":0}"));
}

/* test_diag_json_document_is_stable: @DIR@ is the state directory */
static const char golden_json[] =
	"{\"schema\":\"ampscan-diag/1\",\"generated\":\"2026-11-24T02:55:00.000Z\","
	"\"since\":null,\"verdict\":\"intervention\",\"exit_status\":2,\"summary\":"
	"\"\\nVERDICT: INTERVENTION NEEDED (exit status 2)\\n  fault 6 Scan Service Restarting Frequently:"
	" needs intervention\\n  2 of 3 crashes happened while scanning /srv/a \\\"q\\\"\\\\b\\t.zip (SIGSEGV x2); by signal:"
	" SIGSEGV x2, SIGABRT x1; by definitions: daily:27012 x2, (not recorded) x1.\\n  1 poison file(s) refused until they change,"
	" 0 suspect(s)\\n  1 record(s) could not be read (see COULD NOT READ)\\n\","
	"\"sources\":{\"state_dir\":\"@DIR@\",\"log_dir\":null,\"definitions_dir\":"
	"null},\"faults_source\":\"faults.state\",\"faults\":[{\"id\":6,\"short_name\":"
	"\"scan_service_restarting\",\"portal\":\"Scan Service Restarting Frequently\","
	"\"since\":\"2026-11-24T02:50:01.000Z\",\"intervention\":true,\"intervention_since\":"
	"\"2026-11-24T02:51:40.000Z\",\"detail\":\"3 crashes in 2 s (SIGSEGV x2,"
	" SIGABRT x1)\",\"condition\":\"Scan workers crashed CrashThreshold times within CrashWindow,"
	" usually because a file makes the scanner crash. Scanning goes on with reduced capacity. If still raised InterventionAfter (10 minutes) after ampdaemon started,"
	" it is marked as needing intervention and suspected files are skipped.\","
	"\"remedy\":\"Run `ampctl diag`: it shows the crash timeline, the exit signals,"
	" the suspected files and the matching lines of ampdaemon.log and ampscansvc.log. Move the suspected file out of the way or install newer definitions,"
	" and send the diag output (and the file, if you can) to support. The fault clears after StableAfter (60 s) without a crash.\","
	"\"explanation\":\"    2 of 3 crashes happened while scanning /srv/a \\\"q\\\"\\\\b\\t.zip (SIGSEGV x2); by signal:"
	" SIGSEGV x2, SIGABRT x1; by definitions: daily:27012 x2, (not recorded) x1.\\n    suspected files are refused without being scanned while it needs intervention\\n\"}],"
	"\"crashes\":{\"count\":3,\"start_failures\":0,\"scan_timeouts\":0,\"core_dumped\":"
	"1,\"no_file\":1,\"first\":\"2026-11-24T02:50:00.000Z\",\"last\":\"2026-11-24T02:"
	"50:02.000Z\",\"span_ms\":2000,\"per_minute\":3.0,\"peak_per_minute\":3,"
	"\"sentence\":\"2 of 3 crashes happened while scanning /srv/a \\\"q\\\"\\\\b\\t.zip (SIGSEGV x2); by signal:"
	" SIGSEGV x2, SIGABRT x1; by definitions: daily:27012 x2, (not recorded) x1.\","
	"\"by_signal\":[{\"signal\":\"SIGSEGV\",\"count\":2},{\"signal\":\"SIGABRT\","
	"\"count\":1}],\"by_signal_other\":0,\"by_definitions\":[{\"definitions\":"
	"\"daily:27012\",\"count\":2},{\"definitions\":\"(not recorded)\",\"count\":"
	"1}],\"by_definitions_other\":0,\"by_file\":[{\"file\":\"/srv/a \\\"q\\\"\\\\b\\t.zip\","
	"\"count\":2,\"signals\":{\"SIGSEGV\":2}}],\"by_file_other\":0},\"timeline_source\":"
	"\"exits\",\"timeline_omitted\":0,\"timeline_lost\":0,\"timeline\":[{\"time\":"
	"\"2026-11-24T02:50:00.000Z\",\"pid\":1,\"worker\":1,\"kind\":\"crash\",\"signal\":"
	"\"SIGSEGV\",\"exit_code\":null,\"core_dumped\":false,\"scan_timeout\":false,"
	"\"uptime_ms\":500,\"restart_delay_ms\":100,\"uid\":995,\"definitions\":\"daily:"
	"27012\",\"last_stderr\":null,\"files\":[\"/srv/a \\\"q\\\"\\\\b\\t.zip\"],\"scansvc_log\":"
	"null,\"daemon_log\":null},{\"time\":\"2026-11-24T02:50:01.000Z\",\"pid\":"
	"2,\"worker\":1,\"kind\":\"crash\",\"signal\":\"SIGSEGV\",\"exit_code\":null,"
	"\"core_dumped\":false,\"scan_timeout\":false,\"uptime_ms\":500,\"restart_delay_ms\":"
	"100,\"uid\":995,\"definitions\":\"daily:27012\",\"last_stderr\":null,\"files\":"
	"[\"/srv/a \\\"q\\\"\\\\b\\t.zip\"],\"scansvc_log\":null,\"daemon_log\":null},"
	"{\"time\":\"2026-11-24T02:50:02.000Z\",\"pid\":3,\"worker\":2,\"kind\":\"crash\","
	"\"signal\":\"SIGABRT\",\"exit_code\":134,\"core_dumped\":true,\"scan_timeout\":"
	"false,\"uptime_ms\":7,\"restart_delay_ms\":null,\"uid\":null,\"definitions\":"
	"null,\"last_stderr\":\"boom \xc3\xa9""\",\"files\":[],\"scansvc_log\":null,\"daemon_log\":"
	"null}],\"fault_history\":[{\"fault\":6,\"raised\":\"2026-11-24T02:50:01.000Z\","
	"\"intervention\":null,\"cleared\":null,\"duration_ms\":null,\"detail\":\"3 crashes in 2 s (SIGSEGV x2,"
	" SIGABRT x1)\",\"cleared_detail\":null}],\"definitions\":{\"active\":null,"
	"\"history\":[{\"time\":\"2026-11-24T02:40:00.000Z\",\"event\":\"definitions_activated\","
	"\"file\":\"daily.cvd\",\"versions\":\"daily:27012\",\"reason\":\"\"}]},\"loader\":null,\"poison\":"
	"[{\"path\":\"/srv/a b.zip\",\"dev\":64768,\"ino\":1234,\"size\":46,\"mtime\":"
	"\"2026-11-24T02:40:00.005Z\",\"sha256\":\"67ba739d27e9b470a435460e3dd76725bdc434eb41b01feda28c1388129b7fa2\","
	"\"hashed\":46,\"crashes\":2,\"first\":\"2026-11-24T02:50:00.000Z\",\"last\":"
	"\"2026-11-24T02:50:01.000Z\",\"poison\":true}],\"poison_omitted\":0,\"core_dumps\":"
	"{\"enabled\":false,\"core_pattern\":null,\"pids\":[3]},\"config\":{\"available\":"
	"false,\"scan_user\":\"cisco-amp-scan-svc\",\"scan_group\":\"cisco-amp-scan-svc\","
	"\"crash_threshold\":3,\"crash_window_ms\":300000,\"stable_after_ms\":60000,"
	"\"intervention_after_ms\":600000,\"poison_threshold\":2,\"restart_delay_min_ms\":"
	"100,\"restart_delay_max_ms\":30000,\"scan_timeout_ms\":120000,\"core_dumps\":"
	"false},\"unreadable\":[{\"file\":\"events.jsonl\",\"line\":3,\"offset\":255,"
	"\"why\":\"unknown event type 'who_knows'; skipped\"}],\"unreadable_omitted\":"
	"0,\"events_lost\":0}\n";

/*
 * The whole JSON document, byte for byte: key order, number formats,
 * nulls, escapes.  ampctl users parse it, so a change here is a change
 * of DIAG_SCHEMA.  (Generated before diag_json.c moved to the jsonw
 * emitters, and unchanged by the move.)
 */
static void
test_diag_json_document_is_stable(void **state)
{
	struct fx *f = *state;
	struct strbuf want;
	const char *dir;

	put(f, "faults.state", "ampscan-faults 1\n"
	    "fault 6 1795488601000 1 1795488700000 3 crashes in 2 s (SIGSEGV x2, SIGABRT x1)\nend 1\n");
	put(f, "events.jsonl",
	    "{\"time\":\"2026-11-24T02:40:00.000Z\",\"event\":\"definitions_activated\",\"file\":\"daily.cvd\",\"versions\":[\"daily:27012\"]}\n"
	    "{\"time\":\"2026-11-24T02:50:01.000Z\",\"event\":\"fault_raised\",\"fault\":6,\"name\":\"x\",\"detail\":\"3 crashes in 2 s (SIGSEGV x2, SIGABRT x1)\",\"pid\":3}\n"
	    "{\"time\":\"2026-11-24T02:50:02.000Z\",\"event\":\"who_knows\"}\n");
	put(f, "exits.jsonl",
	    EXIT("2026-11-24T02:50:00.000Z", 1, "SIGSEGV", "\"/srv/a \\\"q\\\"\\\\b\\t.zip\"")
	    EXIT("2026-11-24T02:50:01.000Z", 2, "SIGSEGV", "\"/srv/a \\\"q\\\"\\\\b\\t.zip\"")
	    "{\"time\":\"2026-11-24T02:50:02.000Z\",\"event\":\"worker_exited\",\"pid\":3,"
	    "\"signal\":\"SIGABRT\",\"exit_code\":134,\"core_dumped\":true,\"uptime_ms\":7,"
	    "\"files\":[],\"kind\":\"crash\",\"worker\":2,\"last_stderr\":\"boom \\u00e9\"}\n");
	put(f, "poison.state", "ampscan-poison 1\n"
	    "file 64768 1234 46 1795488000 5000000 46 "
	    "67ba739d27e9b470a435460e3dd76725bdc434eb41b01feda28c1388129b7fa2 "
	    "2 1795488600000 1795488601000 1 /srv/a%20b.zip\nend 1\n");
	assert_int_equal(run(f, true), DIAG_INTERVENTION);
	dir = strstr(golden_json, "@DIR@");
	assert_non_null(dir);
	strbuf_init(&want, DIAG_OUT_MAX);
	strbuf_append(&want, golden_json, (size_t)(dir - golden_json));
	strbuf_puts(&want, f->dir);
	strbuf_puts(&want, dir + 5);
	assert_string_equal(strbuf_str(&f->out), strbuf_str(&want));
	strbuf_free(&want);
}

static void
test_diag_parse_since(void **state)
{
	int64_t t;
	char err[256];

	(void)state;
	assert_int_equal(diag_parse_since("10m", NOW, &t, err, sizeof(err)), 0);
	assert_int_equal(t, NOW - 600000);
	assert_int_equal(diag_parse_since("2026-11-24T02:55:00Z", 0, &t, err, sizeof(err)), 0);
	assert_int_equal(t, NOW);
	assert_int_equal(diag_parse_since("2026-11-24 02:55", 0, &t, err, sizeof(err)), 0);
	assert_int_equal(t, NOW);
	assert_int_equal(diag_parse_since("10x", NOW, &t, err, sizeof(err)), -1);
	assert_int_equal(diag_parse_since("", NOW, &t, err, sizeof(err)), -1);
	assert_int_equal(diag_parse_since("99999999999999999999d", NOW, &t, err, sizeof(err)), -1);
}

/* A file name that is not UTF-8 comes back as its bytes (text) and as the
 * same \udcNN escapes (JSON); valid UTF-8 passes through both. */
static void
test_diag_non_utf8_file_name_round_trips(void **state)
{
	struct fx *f = *state;

	put(f, "exits.jsonl",
	    EXIT("2026-11-24T02:50:01.000Z", 1, "SIGSEGV", "\"/srv/caf\\udce9-\xc3\xa9.zip\"")
	    EXIT("2026-11-24T02:50:02.000Z", 2, "SIGSEGV", "\"/srv/caf\\udce9-\xc3\xa9.zip\""));
	run(f, false);
	assert_non_null(strstr(strbuf_str(&f->out), "/srv/caf\xe9-\xc3\xa9.zip"));
	run(f, true);
	assert_non_null(strstr(strbuf_str(&f->out), "\"/srv/caf\\udce9-\xc3\xa9.zip\""));
	assert_null(strstr(strbuf_str(&f->out), "\\u00"));
}

/* jansson is strict: a line with a duplicate key is a damaged line. */
static void
test_diag_duplicate_key_line_is_a_problem(void **state)
{
	struct fx *f = *state;

	put(f, "exits.jsonl",
	    EXIT("2026-11-24T02:50:01.000Z", 1, "SIGSEGV", "")
	    "{\"time\":\"2026-11-24T02:50:02.000Z\",\"event\":\"worker_exited\",\"pid\":2,\"pid\":3}\n");
	run(f, false);
	assert_non_null(strstr(strbuf_str(&f->out), "exits.jsonl line 2"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_diag_empty_dir_is_healthy_and_says_what_is_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diag_fault_5_is_degraded_with_the_account_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diag_verdict_intervention_for_marked_6_and_for_7, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diag_groups_crashes_into_one_sentence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diag_mixed_files_and_no_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diag_damaged_files_are_reported_not_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diag_exits_lost_line_is_a_gap_not_an_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diag_events_lost_lines_are_counted_and_said, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diag_non_utf8_file_name_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diag_duplicate_key_line_is_a_problem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diag_json_document_is_stable, setup, teardown),
		cmocka_unit_test(test_diag_parse_since),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
