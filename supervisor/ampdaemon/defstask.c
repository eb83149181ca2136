/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The definitions check, run in a child (task.c) at start and before the
 * workers are retried while fault 7 is raised (docs/updates.md, "The
 * definitions check"): re-verify every active definitions file and delete the invalid
 * ones; roll back to previous/ when allowed and previous/ holds a set that
 * differs; make the compiled index fresh (built only when missing or
 * stale).  Engine clamav builds no index (its workers never read one): a
 * stale ampscan.idx an earlier builtin run left is removed, and the set's
 * identity (defs_source_id, what an index would name) is reported instead.
 * The child reports on its pipe, one record a line, fields separated by
 * tabs (tabs and newlines inside a field become spaces):
 *
 *   event <TAB> definitions_deleted|definitions_rolled_back|... <TAB> file <TAB> reason
 *   index <TAB> fresh|built|removed <TAB> text
 *   setid <TAB> 64 hex digits  (Engine clamav: the identity of the set)
 *   fail <TAB> reason          (then exit 1)
 *
 * The parent turns events into events, opens the index (clamav: keeps the
 * identity, d->defs_id) and reports to the
 * callback its caller gave (defs_check_start); it owns the state of the
 * checks (ready, checked, rolled back, the fault-7 retry) that the others
 * read through the accessors of daemon.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "activate.h"
#include "daemon.h"
#include "defs.h"
#include "faults.h"
#include "num.h"
#include "store.h"

#define DEFS_REPORT_MAX 2048

struct defs_child {
	struct daemon *d;
	int fd;
	bool allow_rollback;
	char why[FAULTS_DETAIL_MAX];     /* fault 7's detail: why roll back */
};

static void
defs_report(void *arg, const char *event, const char *file, const char *reason)
{
	struct defs_child *c = arg;
	char e[64], f[1024], r[1024], line[DEFS_REPORT_MAX + 16];

	task_field(e, sizeof(e), event);
	task_field(f, sizeof(f), file);
	task_field(r, sizeof(r), reason);
	str_fmt(line, sizeof(line), "event\t%s\t%s\t%s\n", e, f, r);
	task_write(c->fd, line);
}

static int
defs_fail(struct defs_child *c, const char *msg)
{
	char f[1024], line[1100];

	task_field(f, sizeof(f), msg);
	snprintf(line, sizeof(line), "fail\t%s\n", f);
	task_write(c->fd, line);
	return 1;
}

/* Whether dir/ampscan.idx exists and was built from dir as it is. */
static bool
index_is_fresh(const char *dir, const char *index_path)
{
	uint8_t want[32], have[32];
	struct engine *e = NULL;
	char err[512];
	bool fresh = false;
	int fd;

	if (defs_source_id(dir, want, err, sizeof(err)) != 0)
		return false;
	if ((fd = open(index_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return false;
	if (engine_index_map(fd, &e, err, sizeof(err)) == 0) {
		engine_source_id(e, have);
		fresh = memcmp(want, have, sizeof(want)) == 0;
		engine_free(e);
	}
	close(fd);
	return fresh;
}

/*
 * Engine clamav: no index.  One left by an earlier builtin run goes (it
 * names a set clamav's updates would make stale, and is hundreds of MB
 * for a big set); the set's identity is what the workers check instead.
 */
static int
defs_child_clamav(struct defs_child *c, const char *active, const char *index)
{
	uint8_t id[32];
	char hex[65], err[1024], line[4400];

	if (unlink(index) == 0) {
		str_fmt(line, sizeof(line), "index\tremoved\t%s (Engine clamav does not use it)\n",
		    index);
		task_write(c->fd, line);
	} else if (errno != ENOENT) {
		str_fmt(err, sizeof(err), "%s: unlink: %s", index, strerror(errno));
		return defs_fail(c, err);
	}
	if (defs_source_id(active, id, err, sizeof(err)) != 0)
		return defs_fail(c, err);
	num_hex(id, sizeof(id), hex);
	str_fmt(line, sizeof(line), "setid\t%s\n", hex);
	task_write(c->fd, line);
	return 0;
}

static int
defs_child_fn(void *arg, int out_fd)
{
	struct defs_child *c = arg;
	const struct config *cfg = &c->d->cfg;
	struct store_trust st = { .trusted_keys = cfg->trusted_keys,
	    .ntrusted_keys = cfg->ntrusted_keys, .certs_dir = cfg->certs_dir,
	    .allow_unsigned = cfg->allow_unsigned };
	struct defs_opts o = { .allow_unsigned = cfg->allow_unsigned };
	struct cvd_trust *trust = NULL;
	char active[4096], index[4200], err[1024], line[1200], msg[1100];
	unsigned kept = 0, deleted = 0;
	int rc;

	c->fd = out_fd;
#ifdef AMPSCAN_TEST_HOOKS
	{
		/* AMPSCAN_TEST_DEFS_CHECK_PAUSE_MS: the check waits before it
		 * touches active/ (a window for the early loader's tests) */
		const char *e = getenv("AMPSCAN_TEST_DEFS_CHECK_PAUSE_MS");
		uint64_t ms;
		struct timespec ts;

		if (e != NULL && num_u64(e, strlen(e), 0, &ms) == NUM_OK &&
		    ms <= 10000) {
			ts.tv_sec = (time_t)(ms / 1000u);
			ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
		}
	}
#endif
	snprintf(active, sizeof(active), "%s/active", cfg->definitions_dir);
	snprintf(index, sizeof(index), "%s/%s", active, DEFS_INDEX_NAME);
	if (store_dirs_create(cfg->definitions_dir, err, sizeof(err)) != 0)
		return defs_fail(c, err);
	/* an activation a stop interrupted: finish it; then staging/ is empty */
	if (activation_recover(cfg->definitions_dir, cfg->state_dir, defs_report,
	    c, err, sizeof(err)) < 0)
		return defs_fail(c, err);
	if (store_verify_active(cfg->definitions_dir, &st, defs_report, c, &kept,
	    &deleted, err, sizeof(err)) != 0)
		return defs_fail(c, err);
	if (c->allow_rollback) {
		rc = store_rollback(cfg->definitions_dir, c->why, defs_report, c, err,
		    sizeof(err));
		if (rc < 0)
			return defs_fail(c, err);
		if (rc > 0) {
			task_write(out_fd, "rolledback\n");
			/* what came back is checked like the rest */
			if (store_verify_active(cfg->definitions_dir, &st, defs_report,
			    c, &kept, &deleted, err, sizeof(err)) != 0)
				return defs_fail(c, err);
		}
	}
	rc = store_dir_has_set(active, err, sizeof(err));
	if (rc < 0)
		return defs_fail(c, err);
	if (rc == 0) {
		str_fmt(msg, sizeof(msg), "no definitions in %s: install a .cvd with `ampctl update FILE` (or put one there: ampdaemon looks again by itself)",
		    active);
		return defs_fail(c, msg);
	}
	if (cfg->engine == CONFIG_ENGINE_CLAMAV)
		return defs_child_clamav(c, active, index);
	if (index_is_fresh(active, index)) {
		task_write(out_fd, "index\tfresh\t\n");
		return 0;
	}
	if (store_trust_new(&st, &trust, err, sizeof(err)) != 0)
		return defs_fail(c, err);
	o.trust = trust;
	rc = defs_build_index(active, index, &o, err, sizeof(err));
	cvd_trust_free(trust);
	if (rc != 0) {
		str_fmt(msg, sizeof(msg), "cannot build the index: %s", err);
		return defs_fail(c, msg);
	}
	str_fmt(line, sizeof(line), "index\tbuilt\t%s\n", index);
	task_write(out_fd, line);
	return 0;
}

struct defs_done_ctx {
	struct daemon *d;
	char fail[1024];
	bool rolled_back;
	uint8_t setid[32];     /* Engine clamav: the set's identity */
	bool have_setid;
};

/* One line of the child's report. */
static void
defs_line(void *arg, char *line)
{
	struct defs_done_ctx *x = arg;
	struct daemon *d = x->d;
	char *fail = x->fail;
	size_t faillen = sizeof(x->fail);
	char *f[4];
	struct event ev;
	size_t n = task_fields(line, f, 4);
	if (strcmp(f[0], "event") == 0 && n == 4) {
		events_begin(&ev, f[1], walltime_now_ms());
		events_add_str(&ev, "file", f[2]);
		events_add_str(&ev, "reason", f[3]);
		daemon_event(d, &ev);
	} else if (strcmp(f[0], "rolledback") == 0) {
		d->defs.rolled_back = true;
		x->rolled_back = true;
	} else if (strcmp(f[0], "index") == 0 && n >= 2) {
		dlog(&d->log, DLOG_INFO, "definitions index: %s%s%s", f[1],
		    n > 2 && f[2][0] ? " " : "", n > 2 ? f[2] : "");
	} else if (strcmp(f[0], "setid") == 0 && n >= 2) {
		x->have_setid = strlen(f[1]) == 2 * sizeof(x->setid) &&
		    num_unhex(f[1], sizeof(x->setid), NUM_HEX_LOWER, x->setid);
	} else if (strcmp(f[0], "fail") == 0 && n >= 2) {
		snprintf(fail, faillen, "%s", f[1]);
	}
}

/* The check ended (error: NULL when it succeeded): tell its caller. */
static void
defs_report_end(struct daemon *d, const char *error, bool rolled_back)
{
	struct defs_state *ds = &d->defs;
	struct defs_report r = { .outcome = DEFS_CHECKED,
	    .rolled_back = rolled_back };
	uint64_t delay;

	ds->checked = true;
	if (error != NULL) {
		/* nothing can start: the next check backs off */
		delay = ds->delay_ms ? ds->delay_ms : d->cfg.restart_delay_min_ms;
		ds->delay_ms = delay > d->cfg.restart_delay_max_ms / 2 ?
		    d->cfg.restart_delay_max_ms : delay * 2;
		r.outcome = DEFS_FAILED;
		r.error = error;
		r.retry_ms = delay;
		ev_timer_stop(d->loop, &ds->retry);
		ev_timer_set(&ds->retry, (double)delay / 1000.0, 0.);
		ev_timer_start(d->loop, &ds->retry);
	} else {
		ds->ready = true;
	}
	if (ds->done != NULL)
		ds->done(d, ds->arg, &r);
}

/* Engine clamav: the check named the set; no index to open. */
static void
defs_done_clamav(struct daemon *d, const struct defs_done_ctx *x)
{
	if (!x->have_setid) {
		defs_report_end(d, "the definitions check did not name the set",
		    x->rolled_back);
		return;
	}
	memcpy(d->defs_id, x->setid, sizeof(d->defs_id));
	d->defs_id_set = true;
	dlog(&d->log, DLOG_INFO, "definitions checked: set %02x%02x%02x%02x (Engine clamav: no index)",
	    x->setid[0], x->setid[1], x->setid[2], x->setid[3]);
	defs_report_end(d, NULL, x->rolled_back);
}

static void
defs_done(struct task *t, int ws, const char *out, size_t len)
{
	struct daemon *d = t->data;
	struct defs_done_ctx x = { .d = d };
	char fail[1024] = "", index[4200];
	int fd;

	free(t->data2);
	t->data2 = NULL;
	task_lines(out, len, defs_line, &x);
	str_fmt(fail, sizeof(fail), "%s", x.fail);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
		if (fail[0] == '\0')
			snprintf(fail, sizeof(fail), "the definitions check %s",
			    task_timed_out(t) ? "did not finish in time" :
			    "died (see ampdaemon.log)");
		defs_report_end(d, fail, x.rolled_back);
		return;
	}
	if (d->cfg.engine == CONFIG_ENGINE_CLAMAV) {
		defs_done_clamav(d, &x);
		return;
	}
	snprintf(index, sizeof(index), "%s/active/%s", d->cfg.definitions_dir,
	    DEFS_INDEX_NAME);
	if ((fd = open(index, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		str_fmt(fail, sizeof(fail), "%s: %s", index, strerror(errno));
		defs_report_end(d, fail, x.rolled_back);
		return;
	}
	if (d->index_fd >= 0)
		close(d->index_fd);
	d->index_fd = fd;
	defs_report_end(d, NULL, x.rolled_back);
}

static void
defs_on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = t->data;
	struct defs_report r = { .outcome = DEFS_RETRY_DUE };

	(void)loop;
	(void)revents;
	if (d->defs.done != NULL)
		d->defs.done(d, d->defs.arg, &r);
}

void
defs_init(struct daemon *d)
{
	ev_init(&d->defs.retry, defs_on_retry);
	d->defs.retry.data = d;
}

void
defs_free(struct daemon *d)
{
	if (d->loop != NULL && d->defs.retry.data != NULL)
		ev_timer_stop(d->loop, &d->defs.retry);
	task_release(&d->defs.task);
	free(d->defs.task.data2);   /* the check's context, if it ran */
	d->defs.task.data2 = NULL;
}

bool
defs_ready(const struct daemon *d)
{
	return d->defs.ready;
}

bool
defs_checked(const struct daemon *d)
{
	return d->defs.checked;
}

bool
defs_rolled_back(const struct daemon *d)
{
	return d->defs.rolled_back;
}

bool
defs_running(const struct daemon *d)
{
	return task_is_running(&d->defs.task);
}

const char *
defs_rollback_why(const struct daemon *d)
{
	return d->defs.rollback_why;
}


void
defs_unready(struct daemon *d)
{
	d->defs.ready = false;
}

void
defs_installed(struct daemon *d)
{
	d->defs.ready = true;
	ev_timer_stop(d->loop, &d->defs.retry);
}

void
defs_forget_rollback(struct daemon *d)
{
	d->defs.rolled_back = false;
}

void
defs_retry_reset(struct daemon *d)
{
	d->defs.delay_ms = 0;
}

void
defs_retry_cancel(struct daemon *d)
{
	ev_timer_stop(d->loop, &d->defs.retry);
}

void
defs_hold(struct daemon *d, bool hold)
{
	d->defs.held = hold;
}

void
defs_run_pending(struct daemon *d)
{
	struct defs_state *ds = &d->defs;
	bool rb = ds->pending_rollback;

	if (!ds->pending)
		return;
	ds->pending = false;
	ds->pending_rollback = false;
	defs_check_start(d, rb, ds->done, ds->arg);
}

void
defs_check_start(struct daemon *d, bool allow_rollback, defs_done_fn *done,
    void *arg)
{
	struct defs_state *ds = &d->defs;
	struct defs_child *c;

	if (task_is_running(&ds->task))
		return;
	ds->done = done;
	ds->arg = arg;
	if (ds->held) {
		/* never beside an activation: after it */
		ds->pending = true;
		ds->pending_rollback |= allow_rollback;
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		defs_report_end(d, "out of memory", false);
		return;
	}
	c->d = d;
	c->allow_rollback = allow_rollback;
	{
		const struct fault_state *st = fault_state_of(&d->faults,
		    FAULT_SCAN_START_FAILED);

		str_fmt(c->why, sizeof(c->why), "workers could not start on these definitions: %s",
		    st != NULL && st->raised ? st->detail : "(no detail)");
		if (allow_rollback)
			str_fmt(ds->rollback_why, sizeof(ds->rollback_why), "%s",
			    st != NULL && st->raised ? st->detail : "workers could not start");
	}
	ds->ready = false;
	ds->task.name = "definitions check";
	ds->task.done = defs_done;
	ds->task.data = d;
	ds->task.data2 = c;
	dlog(&d->log, DLOG_INFO, "checking the active definitions%s",
	    allow_rollback ? " (rollback to previous/ allowed)" : "");
	if (task_start(d->loop, &ds->task, defs_child_fn, c,
	    DAEMON_DEFS_TIMEOUT_MS) != 0) {
		char why[256];

		free(c);
		ds->task.data2 = NULL;
		snprintf(why, sizeof(why), "cannot run the definitions check: fork: %s",
		    strerror(errno));
		defs_report_end(d, why, false);
	}
}
