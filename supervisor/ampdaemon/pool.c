/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker pool: 2N slots, each running one ampscansvc through the
 * state machine of worker.c; the pool starts, stops and rolls them over,
 * decides when they may start (the definitions, the scan account: faults
 * 5 and 7) and hears from them through the hooks it gives (struct
 * worker_hooks).  Requests: router.c; fault 6: crashes.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "account.h"
#include "killpoint.h"
#include "num.h"
#include "pool_int.h"

static void roll_check(struct daemon *d);
static void pool_on_defs(struct daemon *d, void *arg,
    const struct defs_report *r);

static void
pool_check_stopped(struct daemon *d)
{
	unsigned i;
	void (*cb)(struct daemon *d);

	if (d->pool.all_stopped == NULL || !loader_all_down(d))
		return;
	for (i = 0; i < POOL_ALL(&d->pool); i++)
		if (d->pool.w[i].st != WS_IDLE)
			return;
	cb = d->pool.all_stopped;
	d->pool.all_stopped = NULL;
	cb(d);
}

/* ---- the scan account (fault 5) ---------------------------------------------------------------- */

static int
account_task_fn(void *arg, int out_fd)
{
	struct daemon *d = arg;
	char reason[1024], line[1100];
	int rc;

	if (d->pool.account_repair)
		rc = account_repair(d->cfg.scan_user, d->cfg.scan_group, reason,
		    sizeof(reason));
	else
		rc = account_create(d->cfg.scan_user, d->cfg.scan_group, reason,
		    sizeof(reason));
	reason[strcspn(reason, "\n")] = '\0';
	snprintf(line, sizeof(line), "%d %s", rc, reason);
	task_write(out_fd, line);
	return 0;
}

static void
account_task_done(struct task *t, int ws, const char *out, size_t len)
{
	struct daemon *d = t->data;
	char reason[1024] = "";
	long rc = ACCOUNT_TOOL_FAILED;
	unsigned i;
	void (*cb)(struct daemon *, int, const char *) = d->pool.account_done;

	(void)len;
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && out[0] != '\0') {
		size_t tok = strcspn(out, " ");
		int64_t v;

		if (num_i64(out, tok, 0, &v) == NUM_OK && v >= INT_MIN &&
		    v <= INT_MAX)
			rc = (long)v;
		snprintf(reason, sizeof(reason), "%s", out + tok +
		    (out[tok] == ' '));
	} else {
		snprintf(reason, sizeof(reason), "%s", task_timed_out(t) ?
		    "the account tools did not finish in time" :
		    "the account task failed");
	}
	dlog(&d->log, rc == ACCOUNT_OK ? DLOG_INFO : DLOG_ERROR,
	    "scan account %s/%s: %s %s%s%s", d->cfg.scan_user, d->cfg.scan_group,
	    d->pool.account_repair ? "repair" : "creation",
	    rc == ACCOUNT_OK ? "done" : "failed", reason[0] ? ": " : "", reason);
	if (!d->pool.account_repair)
		str_fmt(d->pool.account_error, sizeof(d->pool.account_error), "%s",
		    rc == ACCOUNT_OK ? "" : reason);
	d->pool.account_done = NULL;
	if (cb != NULL)
		cb(d, (int)rc, reason);
	if (d->pool.paused)
		return;
	for (i = 0; i < POOL_ALL(&d->pool); i++)
		if (d->pool.w[i].st == WS_WAITING)
			worker_handle(&d->pool.w[i], WE_START, NULL);
}

static int
pool_account_task(struct daemon *d, bool repair)
{
	struct task *t = &d->pool.account_task;

	d->pool.account_repair = repair;
	d->pool.account_last_ms = walltime_now_ms();
	t->name = repair ? "repair the scan account" : "create the scan account";
	t->done = account_task_done;
	t->data = d;
	if (task_start(d->loop, t, account_task_fn, d,
	    DAEMON_ACCOUNT_TIMEOUT_MS) != 0) {
		dlog(&d->log, DLOG_ERROR, "cannot %s: fork: %s", t->name,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The account for the next worker: false when the worker must wait (an
 * account task runs); else *acct and *as_root are set, and fault 5 raised
 * when it is unusable.
 */
static bool
worker_account(struct worker *w, struct account *acct, bool *as_root)
{
	struct daemon *d = w->d;
	char reason[1024], detail[FAULTS_DETAIL_MAX];
	int rc;

	if (geteuid() != 0) {
		/* not root: no account to switch to; workers run as we do */
		*as_root = false;
		str_fmt(detail, sizeof(detail), "ampdaemon runs as uid %u, not root: workers run as uid %u, not as %s",
		    (unsigned)geteuid(), (unsigned)geteuid(), d->cfg.scan_user);
		fault_raise(&d->faults, FAULT_SCAN_USER_UNAVAILABLE, detail, 0,
		    walltime_now_ms());
		acct->uid = geteuid();
		acct->gid = getegid();
		return true;
	}
	if (task_is_running(&d->pool.account_task))
		return false;
	rc = account_resolve(d->cfg.scan_user, d->cfg.scan_group, acct, reason,
	    sizeof(reason));
	if ((rc == ACCOUNT_MISSING_USER || rc == ACCOUNT_MISSING_GROUP) &&
	    d->cfg.create_scan_user && (d->pool.account_last_ms == 0 ||
	    walltime_now_ms() - d->pool.account_last_ms >=
	    (int64_t)d->cfg.restart_delay_max_ms)) {
		dlog(&d->log, DLOG_INFO, "%s; creating it (CreateScanUser yes)", reason);
		if (pool_account_task(d, false) == 0)
			return false;
	}
	*as_root = rc != ACCOUNT_OK;
	if (*as_root) {
		str_fmt(detail, sizeof(detail), "workers run as root: %s%s%s%s", reason,
		    d->pool.account_error[0] ? " (creating it failed: " : "",
		    d->pool.account_error, d->pool.account_error[0] ? ")" : "");
		if (fault_raise(&d->faults, FAULT_SCAN_USER_UNAVAILABLE, detail, 0,
		    walltime_now_ms()))
			dlog(&d->log, DLOG_ERROR, "scan account %s/%s unusable (%s): workers run as root; run `ampctl repair-account`",
			    d->cfg.scan_user, d->cfg.scan_group, reason);
	}
	return true;
}


/*
 * The first definitions check is running: a loader loads beside it
 * (loader_early_start), so time to serving is the load, not the check
 * plus the load.
 */
static void
pool_early_loader(struct daemon *d)
{
	struct account acct = { .uid = 0 };
	bool as_root = false;

	if (!pool_uses_loader(d) || !defs_running(d) || d->stopping ||
	    d->pool.loaders.early_tried)
		return;
	if (worker_account(&d->pool.w[0], &acct, &as_root))
		loader_early_start(d, &acct, as_root);
}

/* The hook of worker.c: may w start now? */
static bool
pool_may_start(struct worker *w, struct account *acct, bool *as_root)
{
	struct daemon *d = w->d;

	if (d->pool.paused || d->stopping)
		return false;
	if (spare_is(w) && !pool_uses_loader(d))
		return false;   /* exec'd workers have no spares (spares.c) */
	if (d->pool.recovery_needed && !defs_running(d)) {
		d->pool.recovery_needed = false;
		defs_unready(d);
		defs_check_start(d, !defs_rolled_back(d), pool_on_defs, NULL);
	}
	if (!defs_ready(d) || defs_running(d)) {
		pool_early_loader(d);
		return false;
	}
	if (!worker_account(w, acct, as_root))
		return false;
	if (pool_uses_loader(d) && !loader_ready(d)) {
		loader_ensure(d, acct, *as_root);   /* the workers wait for it */
		return false;
	}
	return true;
}

/* The hook of loader.c: the identity a loader runs as, a worker's. */
static bool
pool_loader_account(struct daemon *d, struct account *acct, bool *as_root)
{
	return worker_account(&d->pool.w[0], acct, as_root);
}

/* Kick the slots that wait (definitions, account, the loader). */
static void
pool_kick_waiting(struct daemon *d)
{
	if (d->pool.paused || d->stopping)
		return;
	for (unsigned i = 0; i < POOL_ALL(&d->pool); i++)
		if (d->pool.w[i].st == WS_WAITING)
			worker_handle(&d->pool.w[i], WE_START, NULL);
}

/*
 * The hook of loader.c: READY (the waiting slots get their workers), or
 * a loader exited or its backoff is over: a new one loads now, so a
 * worker's replacement never waits for a load.
 */
static void
pool_loader_changed(struct daemon *d, bool ready)
{
	struct account acct = { .uid = 0 };
	bool as_root = false;

	poolmem_touch(d);   /* a loader came or went: the Pss shares moved */
	if (!ready) {
		pool_check_stopped(d);
		if (d->pool.paused || d->stopping || !defs_ready(d) || defs_running(d))
			return;
		if (worker_account(&d->pool.w[0], &acct, &as_root))
			loader_ensure(d, &acct, as_root);
	}
	pool_kick_waiting(d);
	spares_check(d);
	worker_refork_next(d);   /* after COLLAPSED (docs/loader.md) */
}

/* The hook of worker.c: w became READY, or IDLE. */
static void
pool_worker_changed(struct worker *w, enum worker_note note)
{
	struct daemon *d = w->d;
	struct pool *p = &d->pool;

	if (spare_is(w)) {
		/* a spare serves nobody until it takes a slot */
		if (note == WN_STOPPED)
			pool_check_stopped(d);
		spares_check(d);
		worker_refork_next(d);
		return;
	}
	switch (note) {
	case WN_READY:
		if (p->rolling && worker_is_current(w)) {
			unsigned i = (unsigned)(w - p->w) - p->base;

			daemon_kill_point(d, KP_ROLLOVER_READY, false);
			worker_handle(&p->w[p->old_base + i], WE_RETIRE, NULL);
		}
		pool_dispatch(d);
		roll_check(d);
		break;
	case WN_STOPPED:
		pool_check_stopped(d);
		roll_check(d);
		break;
	case WN_GONE:
		roll_check(d);
		break;
	}
	worker_refork_next(d);   /* after COLLAPSED (docs/loader.md) */
}

/* ---- the pool as a whole ---------------------------------------------- */

int
pool_init(struct daemon *d, char *err, size_t errlen)
{
	struct pool *p = &d->pool;
	unsigned i;

	p->n = d->cfg.workers;
	p->res = calloc(1, sizeof(*p->res));
	p->msg = malloc(WPROTO_MAX_MSG);
	if (p->res == NULL || p->msg == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cc_init(&p->cc, CC_ENTRIES_MAX);
	if (cc_attach(&p->cc, d->loop) != 0 && d->loop != NULL)
		dlog(&d->log, DLOG_WARNING, "clean-file cache off: %s", p->cc.lease_error);
	p->hooks.may_start = pool_may_start;
	p->hooks.changed = pool_worker_changed;
	p->hooks.send_failed = worker_send_failed;
	p->hooks.loader_changed = pool_loader_changed;
	p->hooks.loader_account = pool_loader_account;
	p->hooks.unavailable = router_fail_if_unavailable;
	loader_init(d);
	poolmem_init(d);
	spares_init(d);
	for (i = 0; i < POOL_ALL(p); i++)
		worker_init(&p->w[i], d, i + 1);
	crashes_init(d);
	defs_init(d);
	return 0;
}

void
pool_free(struct daemon *d)
{
	cc_free(&d->pool.cc);
	poolmem_free(d);
	poisonq_free(d);
	free(d->pool.res);
	free(d->pool.msg);
	d->pool.res = NULL;
	d->pool.msg = NULL;
}

void
pool_start(struct daemon *d)
{
	unsigned i;

	d->pool.paused = false;
	/* faults carried over from before a restart are re-evaluated */
	crashes_resume(d);
	for (i = d->pool.base; i < d->pool.base + d->pool.n; i++)
		if (d->pool.w[i].st == WS_IDLE || d->pool.w[i].st == WS_WAITING)
			worker_handle(&d->pool.w[i], WE_START, NULL);
}

void
pool_on_defs_checked(struct daemon *d,
    void (*fn)(struct daemon *d, bool ok, const char *error))
{
	d->pool.on_defs = fn;
}

void
pool_check_defs(struct daemon *d, bool allow_rollback)
{
	defs_check_start(d, allow_rollback, pool_on_defs, NULL);
}

/* A definitions check failed: fault 7 now, the retry backs off. */
static void
pool_defs_failed(struct daemon *d, const struct defs_report *r)
{
	char detail[FAULTS_DETAIL_MAX];

	snprintf(detail, sizeof(detail), "%s", r->error);
	fault_raise(&d->faults, FAULT_SCAN_START_FAILED, detail, 0,
	    walltime_now_ms());
	dlog(&d->log, DLOG_ERROR, "definitions: %s; checking again in %.3f s",
	    r->error, ms_to_s(r->retry_ms));
	router_fail_if_unavailable(d);
	d->pool.recovery_needed = true;
	if (pool_uses_loader(d))
		loader_early_drop(d);
}

/* defstask.c's report: a check ended, or its retry is due. */
static void
pool_on_defs(struct daemon *d, void *arg, const struct defs_report *r)
{
	unsigned i;

	(void)arg;
	if (r->outcome == DEFS_RETRY_DUE) {
		if (d->pool.paused || d->stopping || defs_running(d))
			return;
		d->pool.recovery_needed = false;
		defs_check_start(d, !defs_rolled_back(d), pool_on_defs, NULL);
		return;
	}
	if (r->rolled_back && d->pool.rolling)
		d->pool.roll_rolled_back = true;
	if (r->outcome == DEFS_FAILED) {
		pool_defs_failed(d, r);
	} else {
		pool_cache_clear(d);   /* the definitions may have changed */
		if (pool_uses_loader(d))
			loader_defs_changed(d);
		if (!d->pool.paused && !d->stopping)
			for (i = 0; i < POOL_ALL(&d->pool); i++)
				if (d->pool.w[i].st == WS_WAITING)
					worker_handle(&d->pool.w[i], WE_START, NULL);
	}
	if (d->pool.on_defs != NULL)
		d->pool.on_defs(d, r->outcome == DEFS_CHECKED, r->error);
}

/* ---- the rollover ---------------------------------------------------- */

/* A rollover ends when every current worker is READY and the old are gone. */
static void
roll_check(struct daemon *d)
{
	struct pool *p = &d->pool;
	void (*cb)(struct daemon *, int);
	unsigned i;

	if (!p->rolling)
		return;
	if (p->roll_cb != NULL) {
		for (i = p->base; i < p->base + p->n; i++)
			if (worker_phase(&p->w[i]) != WORKER_READY)
				return;
		daemon_kill_point(d, KP_ROLLOVER_DONE, false);
		cb = p->roll_cb;
		p->roll_cb = NULL;
		dlog(&d->log, DLOG_INFO, "rollover: %u worker(s) READY on the new definitions%s",
		    p->n, p->roll_rolled_back ? " (rolled back to previous/)" : "");
		cb(d, p->roll_rolled_back ? POOL_ROLLED_BACK : POOL_ROLLED_OVER);
	}
	for (i = p->old_base; i < p->old_base + p->n; i++)
		if (p->w[i].st != WS_IDLE)
			return;
	p->rolling = false;
	if (p->roll_next != NULL) {
		cb = p->roll_next;
		p->roll_next = NULL;
		pool_rollover(d, cb);
	}
}

void
pool_defs_installed(struct daemon *d)
{
	defs_installed(d);
	d->pool.recovery_needed = false;
}

void
pool_rollover(struct daemon *d, void (*cb)(struct daemon *d, int outcome))
{
	struct pool *p = &d->pool;
	unsigned i;

	if (p->rolling) {
		/*
		 * The old half is still draining: after it.  Or the last
		 * rollover's workers never all became READY (its caller gave up
		 * waiting): those still starting will use the new index anyway.
		 */
		if (p->roll_cb == NULL)
			p->roll_next = cb;
		else
			p->roll_cb = cb;
		return;
	}
	p->rolling = true;
	p->roll_cb = cb;
	p->roll_rolled_back = false;
	defs_forget_rollback(d);   /* a new set: a rollback is allowed again */
	p->old_base = p->base;
	p->base = p->base ? 0 : p->n;
	pool_cache_clear(d);
	if (pool_uses_loader(d))
		loader_defs_changed(d);   /* the new half forks from a new loader */
	dlog(&d->log, DLOG_INFO, "rollover: starting %u worker(s) on the new definitions; the old ones serve until they are READY",
	    p->n);
	for (i = p->old_base; i < p->old_base + p->n; i++)
		if (worker_phase(&p->w[i]) != WORKER_READY)
			worker_handle(&p->w[i], WE_RETIRE, NULL);
	for (i = p->base; i < p->base + p->n; i++) {
		struct worker *w = &p->w[i];

		/* the spare half is IDLE: a rollover starts once the last ended */
		ev_timer_stop(d->loop, &w->timer);
		w->delay_ms = d->cfg.restart_delay_min_ms;
		worker_handle(w, WE_START, NULL);
	}
	roll_check(d);
}

void
pool_stop(struct daemon *d, void (*cb)(struct daemon *d))
{
	struct worker *w;
	unsigned i;

	d->pool.paused = true;
	d->pool.all_stopped = cb;
	pool_cache_clear(d);   /* no lease is held past a stop */
	defs_retry_cancel(d);
	for (i = 0; i < POOL_ALL(&d->pool); i++) {
		w = &d->pool.w[i];
		worker_handle(w, WE_STOP, NULL);
	}
	loader_stop(d);
	pool_check_stopped(d);
}

static void
repair_stopped(struct daemon *d)
{
	dlog(&d->log, DLOG_INFO, "workers stopped; repairing the scan account");
	if (pool_account_task(d, true) != 0) {
		void (*cb)(struct daemon *, int, const char *) = d->pool.account_done;

		d->pool.account_done = NULL;
		pool_start(d);
		if (cb != NULL)
			cb(d, ACCOUNT_TOOL_FAILED, "cannot start the repair (fork failed)");
	}
}

static void
repair_finished(struct daemon *d, int rc, const char *reason)
{
	void (*cb)(struct daemon *, int, const char *) = d->pool.repair_cb;

	d->pool.repair_cb = NULL;
	d->pool.account_last_ms = 0;
	pool_start(d);
	if (cb != NULL)
		cb(d, rc, reason);
}

int
pool_repair_account(struct daemon *d,
    void (*cb)(struct daemon *d, int rc, const char *reason))
{
	if (task_is_running(&d->pool.account_task) || d->pool.repair_cb != NULL ||
	    d->stopping)
		return -1;
	dlog(&d->log, DLOG_INFO, "repair-account: stopping the workers");
	d->pool.repair_cb = cb;
	d->pool.account_done = repair_finished;
	pool_stop(d, repair_stopped);
	return 0;
}

