/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan log's lines (scanlog_format): clamd's "NAME: SIG FOUND", "NAME:
 * OK", "NAME: WHY ERROR", then the client's uid and, with LogVerbose, its
 * pid, the command, the worker and the times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "scanlog.h"

static const struct scanlog_client client = {
	.uid = 1000, .pid = 4242, .cmd = "SCAN", .session_id = 0,
};

static void
test_default_lines(void **state)
{
	struct scanlog_line l = { .name = "/srv/x", .client = &client };
	char buf[256];

	(void)state;
	l.verdict = SCANLOG_FOUND;
	l.text = "Eicar-Test-Signature";
	assert_int_equal(scanlog_format(buf, sizeof(buf), &l),
	    (int)strlen("/srv/x: Eicar-Test-Signature FOUND (uid 1000)"));
	assert_string_equal(buf, "/srv/x: Eicar-Test-Signature FOUND (uid 1000)");
	l.verdict = SCANLOG_OK;
	l.text = NULL;
	scanlog_format(buf, sizeof(buf), &l);
	assert_string_equal(buf, "/srv/x: OK (uid 1000)");
	l.verdict = SCANLOG_ERROR;
	l.text = "Access denied.";
	scanlog_format(buf, sizeof(buf), &l);
	assert_string_equal(buf, "/srv/x: Access denied. ERROR (uid 1000)");
	l.name = SCANLOG_STREAM_LOCAL;
	l.verdict = SCANLOG_FOUND;
	l.text = "Sig";
	scanlog_format(buf, sizeof(buf), &l);
	assert_string_equal(buf, "instream(local): Sig FOUND (uid 1000)");
}

static void
test_verbose_lines(void **state)
{
	struct scanlog_client cl = client;
	struct scanlog_timing t = { .slot = 3, .cached = false,
	    .queued_us = 1500, .scan_us = 12034 };
	struct scanlog_line l = { .name = "/srv/x", .verdict = SCANLOG_FOUND,
	    .text = "Sig", .client = &cl, .timing = &t };
	char buf[256];

	(void)state;
	scanlog_format(buf, sizeof(buf), &l);
	assert_string_equal(buf, "/srv/x: Sig FOUND (uid 1000, pid 4242, SCAN, worker 3, waited 1.500 ms, scanned 12.034 ms)");
	/* the clean-file cache answered: no worker, no scan time */
	t.cached = true;
	t.slot = -1;
	t.queued_us = 7;
	t.scan_us = -1;
	cl.session_id = 12;
	cl.cmd = "INSTREAM";
	l.verdict = SCANLOG_OK;
	scanlog_format(buf, sizeof(buf), &l);
	assert_string_equal(buf, "/srv/x: OK (uid 1000, pid 4242, INSTREAM #12, clean-file cache, waited 0.007 ms)");
	/* refused before a worker: no times at all, no pid known */
	t.cached = false;
	t.queued_us = -1;
	cl.pid = 0;
	cl.session_id = 0;
	cl.cmd = "FILDES";
	l.verdict = SCANLOG_ERROR;
	l.text = "scan queue full: try again later";
	scanlog_format(buf, sizeof(buf), &l);
	assert_string_equal(buf, "/srv/x: scan queue full: try again later ERROR (uid 1000, FILDES, no worker)");
}

static void
test_cut_and_raw(void **state)
{
	struct scanlog_line l = { .name = "/a\nb", .verdict = SCANLOG_FOUND,
	    .text = "Sig", .client = &client };
	char buf[8];

	(void)state;
	/* cut, always terminated, the full length returned */
	assert_int_equal(scanlog_format(buf, sizeof(buf), &l),
	    (int)strlen("/a\nb: Sig FOUND (uid 1000)"));
	assert_string_equal(buf, "/a\nb: S");
	/* the name is left as it is: dlog() escapes the whole line */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_lines),
		cmocka_unit_test(test_verbose_lines),
		cmocka_unit_test(test_cut_and_raw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
