/*
 * The definitions check, run in a child (task.c) at start and before the
 * workers are retried while fault 7 is raised (docs/updates.md, "The
 * definitions check"): re-verify every active definitions file and delete the invalid
 * ones; roll back to previous/ when allowed and previous/ holds a set that
 * differs; make the compiled index fresh (built only when missing or
 * stale).  The child reports on its pipe, one record a line, fields
 * separated by tabs (tabs and newlines inside a field become spaces):
 *
 *   event <TAB> definitions_deleted|definitions_rolled_back|... <TAB> file <TAB> reason
 *   index <TAB> fresh|built <TAB> text
 *   fail <TAB> reason          (then exit 1)
 *
 * The parent turns events into events, opens the index and tells the pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activate.h"
#include "daemon.h"
#include "defs.h"
#include "faults.h"
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
		d->pool.rolled_back = true;
		if (d->pool.rolling)
			d->pool.roll_rolled_back = true;
	} else if (strcmp(f[0], "index") == 0 && n >= 2) {
		dlog(&d->log, DLOG_INFO, "definitions index: %s%s%s", f[1],
		    n > 2 && f[2][0] ? " " : "", n > 2 ? f[2] : "");
	} else if (strcmp(f[0], "fail") == 0 && n >= 2) {
		snprintf(fail, faillen, "%s", f[1]);
	}
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
		pool_defs_done(d, false, fail);
		return;
	}
	snprintf(index, sizeof(index), "%s/active/%s", d->cfg.definitions_dir,
	    DEFS_INDEX_NAME);
	if ((fd = open(index, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		str_fmt(fail, sizeof(fail), "%s: %s", index, strerror(errno));
		pool_defs_done(d, false, fail);
		return;
	}
	if (d->index_fd >= 0)
		close(d->index_fd);
	d->index_fd = fd;
	pool_defs_done(d, true, NULL);
}

void
defs_check_start(struct daemon *d, bool allow_rollback)
{
	struct defs_child *c;

	if (task_is_running(&d->defs_task))
		return;
	if (task_is_running(&d->upd.task)) {
		/* never beside an activation: after it */
		d->upd.defs_pending = true;
		d->upd.defs_pending_rollback |= allow_rollback;
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		pool_defs_done(d, false, "out of memory");
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
			str_fmt(d->pool.rollback_why, sizeof(d->pool.rollback_why), "%s",
			    st != NULL && st->raised ? st->detail : "workers could not start");
	}
	d->pool.defs_ready = false;
	d->defs_task.name = "definitions check";
	d->defs_task.done = defs_done;
	d->defs_task.data = d;
	d->defs_task.data2 = c;
	dlog(&d->log, DLOG_INFO, "checking the active definitions%s",
	    allow_rollback ? " (rollback to previous/ allowed)" : "");
	if (task_start(d->loop, &d->defs_task, defs_child_fn, c,
	    DAEMON_DEFS_TIMEOUT_MS) != 0) {
		char why[256];

		free(c);
		d->defs_task.data2 = NULL;
		snprintf(why, sizeof(why), "cannot run the definitions check: fork: %s",
		    strerror(errno));
		pool_defs_done(d, false, why);
	}
}
