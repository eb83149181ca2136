/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker pool's state machine (worker.c, pool.c, crashes.c), driven
 * with synthetic events: no process runs (loopfake.h).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "loopfake.h"

#define EXITED(n) ((n) << 8)
#define SIGNALED(s) (s)

static int
setup(void **state)
{
	*state = fake_daemon(1);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fake_free();
	return 0;
}

/* Started, checked, READY: the one worker of the pool. */
static struct worker *
ready_worker(struct daemon *d)
{
	struct worker *w = &d->pool.w[0];

	pool_check_defs(d, false);
	pool_start(d);
	fake_defs_ok();
	assert_int_equal(w->st, WS_STARTING);
	fake_ready(w, NULL);
	assert_int_equal(w->st, WS_READY);
	return w;
}

static void
test_waits_for_definitions(void **state)
{
	struct daemon *d = *state;
	struct worker *w = &d->pool.w[0];

	pool_check_defs(d, false);
	pool_start(d);
	assert_int_equal(w->st, WS_WAITING);
	assert_int_equal(fk.spawns, 0);
	assert_string_equal(worker_state_name(worker_phase(w)), "waiting");
	fake_defs_ok();
	assert_true(defs_ready(d));
	assert_int_equal(w->st, WS_STARTING);
	assert_int_equal(fk.spawns, 1);
	assert_true(fake_log_has("\"event\":\"worker_started\""));
	fake_ready(w, NULL);
	assert_int_equal(w->st, WS_READY);
	assert_string_equal(worker_state_name(worker_phase(w)), "ready");
	assert_true(fake_log_has("\"event\":\"worker_ready\""));
	assert_true(d->pool.have_ready);
	assert_string_equal(w->defs, "main:62");
}

static void
test_ready_timeout_is_a_start_failure(void **state)
{
	struct daemon *d = *state;
	struct worker *w = &d->pool.w[0];

	pool_check_defs(d, false);
	pool_start(d);
	fake_defs_ok();
	fake_timer(w);                       /* no READY in time */
	assert_int_equal(w->st, WS_START_KILLED);
	assert_int_equal(fake_signal(w), SIGKILL);
	assert_string_equal(worker_state_name(worker_phase(w)), "starting");
	fake_exit(w, SIGNALED(SIGKILL));
	assert_int_equal(w->st, WS_BACKOFF);
	assert_true(fault_is_raised(&d->faults, FAULT_SCAN_START_FAILED));
	assert_true(fake_log_has("could not start: no READY within"));
	assert_true(fake_log_has("\"kind\":\"start_failure\""));
	assert_true(d->pool.recovery_needed);
	/* the restart checks the definitions first, rollback allowed */
	fake_timer(w);
	assert_int_equal(w->st, WS_WAITING);
	assert_true(defs_running(d));
	assert_true(fake_log_has("checking the active definitions (rollback to previous/ allowed)"));
	fake_defs_ok();
	assert_int_equal(w->st, WS_STARTING);
	fake_ready(w, NULL);
	assert_false(fault_is_raised(&d->faults, FAULT_SCAN_START_FAILED));
}

static void
test_version_mismatch_raises_fault_2(void **state)
{
	struct daemon *d = *state;
	struct worker *w = &d->pool.w[0];

	pool_check_defs(d, false);
	pool_start(d);
	fake_defs_ok();
	fake_ready(w, "9.9.9");
	assert_int_equal(w->st, WS_START_KILLED);
	assert_true(fault_is_raised(&d->faults, FAULT_VERSION_MISMATCH));
	fake_exit(w, SIGNALED(SIGKILL));
	assert_int_equal(w->st, WS_BACKOFF);
	assert_true(fake_log_has("could not start: version mismatch (fault 2)"));
}

static void
test_eof_then_grace_kills(void **state)
{
	struct daemon *d = *state;
	struct worker *w = ready_worker(d);

	fake_eof(w);
	assert_int_equal(w->st, WS_READY_EOF);
	assert_int_equal(fake_signal(w), 0);
	assert_true(pool_is_unavailable(d) == false);
	fake_timer(w);                       /* the grace is over */
	assert_int_equal(w->st, WS_KILLED);
	assert_int_equal(fake_signal(w), SIGKILL);
	assert_true(fake_log_has("closed its socket but did not exit: killing it"));
	fake_exit(w, SIGNALED(SIGKILL));
	assert_int_equal(w->st, WS_BACKOFF);
	assert_int_equal(w->restarts, 1);
	assert_int_equal(d->pool.crashes_total, 1);
	assert_true(fake_log_has("\"kind\":\"crash\""));
	assert_true(fake_log_has("crashed: SIGKILL after"));
}

static void
test_crashes_raise_fault_6(void **state)
{
	struct daemon *d = *state;
	struct worker *w = ready_worker(d);
	unsigned i;

	for (i = 0; i < d->cfg.crash_threshold; i++) {
		assert_false(fault_is_raised(&d->faults, FAULT_SCAN_RESTARTING));
		fake_exit(w, SIGNALED(SIGSEGV));
		assert_int_equal(w->st, WS_BACKOFF);
		fake_timer(w);
		assert_int_equal(w->st, WS_STARTING);
		fake_ready(w, NULL);
	}
	assert_true(fault_is_raised(&d->faults, FAULT_SCAN_RESTARTING));
	assert_int_equal(d->pool.ncrash_kinds, 1);
	assert_string_equal(d->pool.crash_kinds[0].sig, "SIGSEGV");
	assert_int_equal(d->pool.crash_kinds[0].count, d->cfg.crash_threshold);
}

static void
test_backoff_doubles(void **state)
{
	struct daemon *d = *state;
	struct worker *w = ready_worker(d);
	uint64_t min = d->cfg.restart_delay_min_ms;

	fake_exit(w, EXITED(3));
	assert_int_equal(w->delay_ms, 2 * min);
	fake_timer(w);
	fake_ready(w, NULL);
	fake_exit(w, EXITED(3));
	assert_int_equal(w->delay_ms, 4 * min);
	assert_true(fake_log_has("crashed: exit status 3"));
}

static int all_stopped;

static void
on_stopped(struct daemon *d)
{
	(void)d;
	all_stopped++;
}

static void
test_stop(void **state)
{
	struct daemon *d = *state;
	struct worker *w = ready_worker(d);

	all_stopped = 0;
	pool_stop(d, on_stopped);
	assert_int_equal(w->st, WS_STOPPING);
	assert_int_equal(fake_signal(w), SIGTERM);
	assert_int_equal(all_stopped, 0);
	fake_timer(w);                       /* the grace is over */
	assert_int_equal(fake_signal(w), SIGKILL);
	assert_int_equal(w->st, WS_STOPPING);
	fake_exit(w, SIGNALED(SIGKILL));
	assert_int_equal(w->st, WS_IDLE);
	assert_int_equal(all_stopped, 1);
	assert_true(fake_log_has("\"kind\":\"stopped\""));
	/* started again (repair-account does this) */
	pool_start(d);
	assert_int_equal(w->st, WS_STARTING);
}

static int roll_outcome = -1;

static void
on_rolled(struct daemon *d, int outcome)
{
	(void)d;
	roll_outcome = outcome;
}

static void
test_rollover(void **state)
{
	struct daemon *d = *state;
	struct worker *old = ready_worker(d), *nw = &d->pool.w[1];

	roll_outcome = -1;
	pool_defs_installed(d);
	pool_rollover(d, on_rolled);
	assert_true(d->pool.rolling);
	assert_int_equal(nw->st, WS_STARTING);
	assert_int_equal(old->st, WS_READY);   /* serves until the new is READY */
	fake_ready(nw, NULL);
	assert_int_equal(old->st, WS_STOPPING_OLD);
	assert_int_equal(fake_signal(old), SIGTERM);
	assert_int_equal(roll_outcome, POOL_ROLLED_OVER);
	assert_true(d->pool.rolling);          /* the old one is still there */
	fake_exit(old, EXITED(0));
	assert_int_equal(old->st, WS_IDLE);
	assert_false(d->pool.rolling);
	assert_true(fake_log_has("rollover: 1 worker(s) READY on the new definitions"));
}

static void
count_done(struct scan_req *req, const struct wproto_result *res,
    const char *error)
{
	(void)req;
	(void)res;
	(void)error;
}

static void
test_rollover_busy_old_worker_retires_after_its_request(void **state)
{
	struct daemon *d = *state;
	struct worker *old = ready_worker(d), *nw = &d->pool.w[1];
	char name[256];
	uint64_t id;
	struct scan_req *req = test_calloc(1, sizeof(*req));

	req->fd = open("/dev/null", 0);
	req->no_cache = true;
	snprintf(req->name, sizeof(req->name), "busy-file");
	req->done = count_done;
	pool_submit(d, req);
	id = fake_recv_scan(old, name, sizeof(name));
	assert_int_not_equal(id, 0);
	pool_rollover(d, on_rolled);
	fake_ready(nw, NULL);
	assert_int_equal(old->st, WS_RETIRING);
	fake_result(old, id, WPROTO_CLEAN);
	assert_int_equal(old->st, WS_STOPPING_OLD);
	assert_int_equal(fake_signal(old), SIGTERM);
	test_free(req);
}

static unsigned mem_answered;
static uint32_t mem_verdict;

static void
mem_done(struct scan_req *req, const struct wproto_result *res,
    const char *error)
{
	(void)req;
	assert_null(error);
	mem_answered++;
	mem_verdict = res->verdict;
}

/* WorkerMemoryLimit: past it, replaced after its request, no crash. */
static void
test_memory_limit_retires_after_its_request(void **state)
{
	struct daemon *d = *state;
	struct worker *w = ready_worker(d);
	struct scan_req *req = test_calloc(1, sizeof(*req));
	char name[256];
	uint64_t id;
	pid_t pid = w->pid;

	d->cfg.worker_memory_limit = 100u << 20;
	fake_mem(w, 0, 50u << 20);               /* under: nothing happens */
	assert_int_equal(w->st, WS_READY);
	assert_int_equal(w->mem.priv, 50u << 20);
	req->fd = open("/dev/null", 0);
	req->no_cache = true;
	snprintf(req->name, sizeof(req->name), "hog-file");
	req->done = mem_done;
	mem_answered = 0;
	pool_submit(d, req);
	id = fake_recv_scan(w, name, sizeof(name));
	assert_int_not_equal(id, 0);
	fake_mem(w, id, 200u << 20);             /* over, before its RESULT */
	assert_int_equal(w->st, WS_MEM_RETIRING);
	assert_int_equal(fake_signal(w), 0);
	assert_true(fake_log_has("\"event\":\"worker_retired\""));
	assert_true(fake_log_has("\"reason\":\"memory\""));
	fake_result(w, id, WPROTO_FOUND);
	assert_int_equal(mem_answered, 1);       /* the request was answered */
	assert_int_equal(mem_verdict, WPROTO_FOUND);
	assert_int_equal(w->st, WS_STOPPING_MEM);
	assert_int_equal(fake_signal(w), SIGTERM);
	fake_exit(w, EXITED(0));
	assert_int_equal(w->st, WS_STARTING);    /* a fresh one, no backoff */
	assert_int_not_equal(w->pid, pid);
	assert_int_equal(fk.spawns, 2);
	assert_int_equal(w->restarts, 0);
	assert_int_equal(d->pool.crashes_total, 0);
	assert_int_equal(d->pool.retired_memory_total, 1);
	assert_true(fake_log_has("\"retired\":\"memory\""));
	/* idle and over: retired at once */
	fake_ready(w, NULL);
	fake_mem(w, 0, 101u << 20);
	assert_int_equal(w->st, WS_STOPPING_MEM);
	/* the pool stops meanwhile: no replacement */
	pool_stop(d, NULL);
	assert_int_equal(w->st, WS_STOPPING);
	fake_exit(w, EXITED(0));
	assert_int_equal(w->st, WS_IDLE);
	assert_int_equal(fk.spawns, 2);
	test_free(req);
}

static void
test_defs_failure_retries_with_backoff(void **state)
{
	struct daemon *d = *state;
	struct worker *w = &d->pool.w[0];
	double min = (double)d->cfg.restart_delay_min_ms / 1000.0;
	char want[128];

	pool_check_defs(d, false);
	pool_start(d);
	fake_defs_fail("no definitions in x");
	assert_true(defs_checked(d));
	assert_false(defs_ready(d));
	assert_true(fault_is_raised(&d->faults, FAULT_SCAN_START_FAILED));
	snprintf(want, sizeof(want), "definitions: no definitions in x; checking again in %.3f s",
	    min);
	assert_true(fake_log_has(want));
	assert_true(pool_is_unavailable(d));
	assert_int_equal(w->st, WS_WAITING);
	ev_invoke(d->loop, &d->defs.retry, EV_TIMER);
	assert_true(defs_running(d));
	fake_defs_fail("no definitions in x");
	snprintf(want, sizeof(want), "checking again in %.3f s", 2 * min);
	assert_true(fake_log_has(want));
	ev_invoke(d->loop, &d->defs.retry, EV_TIMER);
	fake_defs_ok();
	assert_int_equal(w->st, WS_STARTING);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_waits_for_definitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ready_timeout_is_a_start_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_mismatch_raises_fault_2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_then_grace_kills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crashes_raise_fault_6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff_doubles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollover_busy_old_worker_retires_after_its_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defs_failure_retries_with_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_limit_retires_after_its_request, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
