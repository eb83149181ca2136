/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * update.c's verdicts: what an update or a reload answers (ampctl's
 * status and text, `ampctl status`'s last verdict) for each outcome of
 * the pipeline, the definitions check and the rollover.  The pipeline
 * and the check are fake tasks (loopfake.h) fed the records they write.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "loopfake.h"

struct verdict_seen {
	int calls, status;
	char text[1600];
};

static struct verdict_seen seen;

static void
answer(struct daemon *d, void *arg, int status, const char *text)
{
	(void)d;
	(void)arg;
	seen.calls++;
	seen.status = status;
	snprintf(seen.text, sizeof(seen.text), "%s", text);
}

/* One worker READY on the definitions checked at start. */
static int
setup(void **state)
{
	struct daemon *d = fake_daemon(1);
	char dir[300], err[256];

	memset(&seen, 0, sizeof(seen));
	snprintf(dir, sizeof(dir), "%s/incoming", fk.dir);
	mkdir(dir, 0700);
	update_init(d);
	assert_int_equal(incoming_init(d, err, sizeof(err)), 0);
	pool_on_defs_checked(d, update_defs_done);
	pool_check_defs(d, false);
	pool_start(d);
	fake_defs_ok();
	fake_ready(&d->pool.w[0], NULL);
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	incoming_free(*state);
	update_free(*state);
	fake_free();
	return 0;
}

static int
submit_file(struct daemon *d, const char *path)
{
	char err[256];

	return update_submit(d, path, "", false, false, false, answer, NULL,
	    err, sizeof(err));
}

static int
submit_reload(struct daemon *d)
{
	char err[256];

	return update_submit(d, NULL, NULL, false, false, true, answer, NULL,
	    err, sizeof(err));
}

/* The new worker of a rollover becomes READY; the old one exits. */
static void
finish_rollover(struct daemon *d)
{
	struct worker *nw = &d->pool.w[d->pool.base];
	struct worker *old = &d->pool.w[d->pool.old_base];

	assert_int_equal(nw->st, WS_STARTING);
	fake_ready(nw, NULL);
	fake_exit(old, 0);
}

static void
test_reload_rolls_over(void **state)
{
	struct daemon *d = *state;

	assert_int_equal(submit_reload(d), 0);
	assert_true(defs_running(d));
	assert_string_equal(d->upd.step, "re-verifying");
	fake_defs_ok();
	assert_string_equal(d->upd.step, "rollover");
	assert_int_equal(seen.calls, 0);
	finish_rollover(d);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.status, 0);
	assert_string_equal(seen.text, "definitions re-verified; workers READY on it");
	assert_true(d->upd.have_last);
	assert_true(d->upd.last_ok);
	assert_string_equal(d->upd.last_file, "active");
	assert_null(d->upd.cur);
}

static void
test_reload_check_fails(void **state)
{
	struct daemon *d = *state;

	submit_reload(d);
	fake_defs_fail("main.cvd: bad signature");
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.status, 1);
	assert_string_equal(seen.text, "reload failed: main.cvd: bad signature");
	assert_false(d->upd.last_ok);
}

static void
test_rollover_timeout(void **state)
{
	struct daemon *d = *state;

	submit_reload(d);
	fake_defs_ok();
	ev_invoke(d->loop, &d->upd.roll_timer, EV_TIMER);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.status, 1);
	assert_string_equal(seen.text, "definitions re-verified; the workers are not all READY on it yet (see `ampctl status`)");
}

static void
test_activated_then_rolled_over(void **state)
{
	struct daemon *d = *state;
	char idx[300];
	int fd;

	assert_int_equal(submit_file(d, "/x/daily.cdiff"), 0);
	assert_true(task_is_running(&d->upd.task));
	d->upd.task.line(&d->upd.task, (char[]){ "step\tverifying\t\t\t" });
	assert_string_equal(d->upd.step, "verifying");
	snprintf(idx, sizeof(idx), "%s/active/ampscan.idx", fk.dir);
	fd = open(idx, O_WRONLY | O_CREAT, 0600);
	close(fd);
	/* Engine clamav (the fake's): the set's identity, no index */
	d->upd.task.line(&d->upd.task, (char[]){ "setid\t"
	    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\t\t\t" });
	fake_task_end(&d->upd.task, 0,
	    "activated\tdaily.cld\tdaily:1 main:62\tdaily:2 main:62\t0\n");
	assert_true(fake_log_has("\"event\":\"definitions_activated\""));
	assert_int_equal(seen.calls, 0);       /* not before the workers are */
	/* the workers start on the identity the pipeline named */
	assert_true(d->defs_id_set);
	assert_int_equal(d->defs_id[0], 0xff);
	assert_int_equal(d->defs_id[31], 0x00);
	finish_rollover(d);
	assert_int_equal(seen.status, 0);
	assert_string_equal(seen.text, "activated daily.cld (was: daily:1 main:62; now: daily:2 main:62); workers READY on it");
}

/* Engine clamav: an activation whose pipeline never named the set fails
 * (no index to fall back on: the workers would not know what to check). */
static void
test_activated_without_setid_fails(void **state)
{
	struct daemon *d = *state;

	assert_int_equal(submit_file(d, "/x/daily.cdiff"), 0);
	fake_task_end(&d->upd.task, 0,
	    "activated\tdaily.cld\tdaily:1 main:62\tdaily:2 main:62\t0\n");
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.status, 1);
	assert_non_null(strstr(seen.text, "the pipeline did not name the set"));
}

static void
test_rejected_and_io_failure(void **state)
{
	struct daemon *d = *state;

	submit_file(d, "/x/main.cvd");
	fake_task_end(&d->upd.task, 0, "rejected\tbad digest\tmain.cvd.1\t\t\n");
	assert_int_equal(seen.status, 1);
	assert_string_equal(seen.text, "rejected: bad digest (kept as quarantine/main.cvd.1)");
	assert_true(fake_log_has("\"event\":\"definitions_rejected\""));
	submit_file(d, "/x/main.cvd");
	fake_task_end(&d->upd.task, 0, "rejected\tENOSPC\t\tio\t\n");
	assert_int_equal(seen.calls, 2);
	assert_int_equal(seen.status, UPDATE_DONE_IO);
	assert_string_equal(seen.text, "not installed: ENOSPC (not the file's fault: try again)");
}

/* A file in incoming/ is submitted when the settle timer fires; an I/O
 * failure (not the file's fault) arms the retry, a rejection does not. */
static void
test_incoming_retries_after_io_failure_only(void **state)
{
	struct daemon *d = *state;
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/incoming/main.cvd", fk.dir);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	ev_invoke(d->loop, &d->inc.settle, EV_TIMER);
	assert_true(update_is_queued(d, path));
	assert_true(task_is_running(&d->upd.task));
	fake_task_end(&d->upd.task, 0, "rejected\tbad digest\tmain.cvd.1\t\t\n");
	assert_false(ev_is_active(&d->inc.retry));
	assert_false(update_is_queued(d, path));

	ev_invoke(d->loop, &d->inc.settle, EV_TIMER);   /* still there */
	assert_true(update_is_queued(d, path));
	fake_task_end(&d->upd.task, 0, "rejected\tENOSPC\t\tio\t\n");
	assert_true(ev_is_active(&d->inc.retry));
	unlink(path);
}

static void
test_failed_activation_checks_after_verdict(void **state)
{
	struct daemon *d = *state;
	unsigned tasks;

	submit_file(d, "/x/main.cvd");
	/* a check asked for beside the activation waits for it */
	pool_check_defs(d, true);
	assert_false(defs_running(d));
	tasks = fk.tasks;
	fake_task_end(&d->upd.task, 0, "fail\trename: EIO\t\t\t\n");
	assert_int_equal(seen.status, 1);
	assert_string_equal(seen.text, "activation failed: rename: EIO (the next definitions check finishes or undoes it)");
	assert_true(defs_running(d));          /* after the verdict */
	assert_int_equal(fk.tasks, tasks + 1);
	assert_true(fake_log_has("checking the active definitions (rollback to previous/ allowed)"));
}

static void
test_updates_wait_for_the_first_check(void **state)
{
	struct daemon *d = fake_daemon(1);
	char err[256];

	(void)state;
	memset(&seen, 0, sizeof(seen));
	pool_on_defs_checked(d, update_defs_done);
	pool_check_defs(d, false);
	assert_int_equal(submit_file(d, "/x/main.cvd"), 0);
	assert_null(d->upd.cur);               /* queued */
	assert_int_equal(d->upd.n, 1);
	fake_defs_fail("no definitions in x");   /* fault 7 keeps none out */
	assert_non_null(d->upd.cur);
	assert_true(task_is_running(&d->upd.task));
	assert_int_equal(update_submit(d, "/x/a.cvd", "", false, false, false,
	    NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(d->upd.n, 1);
	update_free(d);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.status, 2);
	fake_free();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reload_rolls_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_check_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollover_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activated_then_rolled_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activated_without_setid_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_and_io_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incoming_retries_after_io_failure_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_activation_checks_after_verdict, setup, teardown),
		cmocka_unit_test(test_updates_wait_for_the_first_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
