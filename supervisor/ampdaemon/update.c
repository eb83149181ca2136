/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Definitions updates (docs/updates.md):
 * the queue of updates (files dropped into incoming/ (incoming.c) and
 * `ampctl update`) and, beside it, the one pending reload (`ampctl
 * reload`, RELOAD: coalesced, rate-limited), one child for each update
 * (update_child.c: stage, verify, apply a cdiff, version, candidate set,
 * trial, index, activation), and what the loop does with its verdict
 * (events, the rollover of the workers, the answer to ampctl).
 *
 * The child reports on its pipe, one record a line, tab-separated:
 *
 *   step <TAB> staging|verifying|trial|index|loading|activating
 *   note <TAB> the trial's last line (for the log)
 *   setid <TAB> 64 hex digits  (Engine clamav, which builds no index: the
 *                          candidate set's identity, the workers' once
 *                          it is active)
 *   candidate <TAB> set   (WorkerLaunch loader: start its loader, answer
 *                          on the child's stdin: update_child.c)
 *   event <TAB> type <TAB> file <TAB> reason
 *   rejected <TAB> reason <TAB> quarantined-as
 *   activated <TAB> name <TAB> old versions <TAB> new versions <TAB> forced(0|1)
 *   fail <TAB> reason          (activation could not finish: I/O)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "defs.h"
#include "num.h"
#include "procmem.h"
#include "store.h"
#include "update_int.h"

/* ---- the loop's side -------------------------------------------------------- */

static void update_next(struct daemon *d);

/*
 * WorkerLaunch loader: the candidate set's loader is the trial.  The
 * child waits on a pipe (update_child.c: child_candidate) while the loop
 * starts that loader; it is told "ok" at its READY, else why not.
 */
#define UPDATE_MEM_RETRY_MS 2000                  /* MemAvailable, again */
#define UPDATE_MEM_WAIT_MAX_MS (30 * 60 * 1000)   /* then: not installed */

static void
go_answer(struct daemon *d, const char *verdict, const char *why)
{
	struct updates *u = &d->upd;
	char line[1200];

	ev_timer_stop(d->loop, &u->mem_timer);
	u->mem_waiting = false;
	u->wait_reason[0] = '\0';
	if (u->go_fd < 0)
		return;
	str_fmt(line, sizeof(line), "%s%s%s\n", verdict, why ? "\t" : "",
	    why ? why : "");
	for (char *p = line + strlen(verdict) + 1; why != NULL && *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	if (write(u->go_fd, line, strlen(line)) < 0)
		dlog(&d->log, DLOG_WARNING, "update: cannot answer the pipeline: %s",
		    strerror(errno));
	close(u->go_fd);
	u->go_fd = -1;
}

/* No answer (the child is gone): the pipe closed, no wait left. */
static void
go_close(struct daemon *d)
{
	struct updates *u = &d->upd;

	ev_timer_stop(d->loop, &u->mem_timer);
	u->mem_waiting = false;
	u->wait_reason[0] = '\0';
	if (u->go_fd >= 0)
		close(u->go_fd);
	u->go_fd = -1;
}

static void
candidate_done(struct daemon *d, bool ok, const char *why)
{
	if (ok)
		go_answer(d, "ok", NULL);
	else
		go_answer(d, "no", why);
}

static uint64_t
mem_wait_max_ms(void)
{
#ifdef AMPSCAN_TEST_HOOKS
	const char *e = getenv("AMPSCAN_TEST_MEM_WAIT_MAX_MS");

	if (e != NULL)
		return strtoull(e, NULL, 10);
#endif
	return UPDATE_MEM_WAIT_MAX_MS;
}

/*
 * Start the candidate's loader when MemAvailable holds a second engine
 * (the serving loader's resident size: loader_engine_bytes); else wait,
 * with the reason in status and an update_waiting event, and give up
 * after UPDATE_MEM_WAIT_MAX_MS (not installed, not the file's fault).
 */
static void
candidate_try(struct daemon *d)
{
	struct updates *u = &d->upd;
	uint64_t need = loader_engine_bytes(d);
	int64_t avail = procmem_available(), now = walltime_now_ms();
	char err[1100];
	struct event ev;

	if (u->cur == NULL || u->go_fd < 0)
		return;
	if (need > 0 && avail >= 0 && (uint64_t)avail < need) {
		str_fmt(u->wait_reason, sizeof(u->wait_reason),
		    "MemAvailable (%llu MiB) cannot hold a second engine (the serving loader holds %llu MiB)",
		    (unsigned long long)(avail >> 20), (unsigned long long)(need >> 20));
		if (!u->mem_waiting) {
			u->mem_waiting = true;
			u->mem_wait_ms = now;
			str_fmt(u->step, sizeof(u->step), "waiting for memory");
			u->step_ms = now;
			dlog(&d->log, DLOG_WARNING, "update %s waits: %s", u->cur->path,
			    u->wait_reason);
			events_begin(&ev, EVENT_UPDATE_WAITING, now);
			events_add_str(&ev, "file", u->cur->path);
			events_add_str(&ev, "reason", u->wait_reason);
			events_add_int(&ev, "mem_available", avail);
			events_add_int(&ev, "needed", (int64_t)need);
			daemon_event(d, &ev);
		} else if (now - u->mem_wait_ms >= (int64_t)mem_wait_max_ms()) {
			str_fmt(err, sizeof(err), "not enough memory for a second engine: %s (waited %.0f s)",
			    u->wait_reason, (double)(now - u->mem_wait_ms) / 1000.0);
			go_answer(d, "io", err);
			return;
		}
		ev_timer_stop(d->loop, &u->mem_timer);
		ev_timer_set(&u->mem_timer, UPDATE_MEM_RETRY_MS / 1000.0, 0.);
		ev_timer_start(d->loop, &u->mem_timer);
		return;
	}
	if (u->mem_waiting)
		dlog(&d->log, DLOG_INFO, "update %s: memory for a second engine, after %.1f s",
		    u->cur->path, (double)(now - u->mem_wait_ms) / 1000.0);
	u->mem_waiting = false;
	u->wait_reason[0] = '\0';
	str_fmt(u->step, sizeof(u->step), "loading");
	u->step_ms = now;
	if (loader_candidate_start(d, u->cand_set, candidate_done, err,
	    sizeof(err)) != 0)
		go_answer(d, "io", err);
}

static void
mem_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	candidate_try(t->data);
}

/* Answer a job and free it; a reload's chain of coalesced asks too. */
static void
job_answer(struct daemon *d, struct update_job *job, int status,
    const char *text)
{
	struct update_job *next;

	for (; job != NULL; job = next) {
		next = job->reload ? job->next : NULL;
		if (job->done != NULL)
			job->done(d, job->arg, status, text);
		free(job);
	}
}

static void
update_verdict(struct daemon *d, int status, const char *file,
    const char *text)
{
	bool ok = status == UPDATE_DONE_OK;

	struct updates *u = &d->upd;
	struct update_job *job = u->cur;

	u->have_last = true;
	u->last_ok = ok;
	u->last_ms = walltime_now_ms();
	str_fmt(u->last_file, sizeof(u->last_file), "%s", file);
	str_fmt(u->last_text, sizeof(u->last_text), "%s", text);
	u->step[0] = '\0';
	u->cur = NULL;
	u->rolling = false;
	ev_timer_stop(d->loop, &u->roll_timer);
	if (job != NULL && job->reload)
		u->reload_end_ms = walltime_now_ms();
	job_answer(d, job, status, text);
	defs_run_pending(d);
	update_next(d);
}

/* The workers are on the new set (or rolled back, or still not READY). */
static void
rollover_done(struct daemon *d, int outcome)
{
	struct updates *u = &d->upd;
	char text[1536];

	if (u->cur == NULL || !u->rolling)
		return;
	if (outcome == POOL_ROLLED_BACK)
		str_fmt(text, sizeof(text), "%s; but the workers could not start on it: rolled back to the previous set (%s)",
		    u->roll_text, defs_rollback_why(d));
	else if (outcome == POOL_ROLL_TIMEOUT)
		str_fmt(text, sizeof(text), "%s; the workers are not all READY on it yet (see `ampctl status`)",
		    u->roll_text);
	else
		str_fmt(text, sizeof(text), "%s; workers READY on it", u->roll_text);
	update_verdict(d, outcome == POOL_ROLLED_OVER ? UPDATE_DONE_OK :
	    UPDATE_DONE_FAILED, u->roll_file, text);
}

static void
roll_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = t->data;

	(void)loop;
	(void)revents;
	rollover_done(d, POOL_ROLL_TIMEOUT);
}

/*
 * What the new workers start on: the new index, opened; Engine clamav
 * (no index) the activated set's identity, which the child named (a
 * reload: the definitions check named it, d->defs_id).  0, or -1 with the
 * verdict given.
 */
static int
install_new_set(struct daemon *d, bool reload, const char *file,
    const char *text)
{
	struct updates *u = &d->upd;
	char index[4200], why[1536];
	int fd;

	if (d->cfg.engine == CONFIG_ENGINE_CLAMAV && reload)
		return 0;
	if (d->cfg.engine == CONFIG_ENGINE_CLAMAV) {
		if (!u->have_cand_id) {
			str_fmt(why, sizeof(why), "%s; but the pipeline did not name the set",
			    text);
			update_verdict(d, UPDATE_DONE_FAILED, file, why);
			return -1;
		}
		memcpy(d->defs_id, u->cand_id, sizeof(d->defs_id));
		d->defs_id_set = true;
		return 0;
	}
	str_fmt(index, sizeof(index), "%s/%s/%s", d->cfg.definitions_dir,
	    STORE_DIR_ACTIVE, DEFS_INDEX_NAME);
	if ((fd = open(index, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		str_fmt(why, sizeof(why), "%s; but %s: %s", text, index, strerror(errno));
		update_verdict(d, UPDATE_DONE_FAILED, file, why);
		return -1;
	}
	if (d->index_fd >= 0)
		close(d->index_fd);
	d->index_fd = fd;
	return 0;
}

/* Take the new set (install_new_set) and roll the workers over to it. */
static void
start_rollover(struct daemon *d, bool reload, const char *file,
    const char *text)
{
	struct updates *u = &d->upd;

	if (install_new_set(d, reload, file, text) != 0)
		return;
	pool_defs_installed(d);
	str_fmt(u->roll_file, sizeof(u->roll_file), "%s", file);
	str_fmt(u->roll_text, sizeof(u->roll_text), "%s", text);
	str_fmt(u->step, sizeof(u->step), "rollover");
	u->step_ms = walltime_now_ms();
	u->rolling = true;
	ev_timer_set(&u->roll_timer, (double)(2 * d->cfg.ready_timeout_ms) / 1000.0 +
	    10.0, 0.);
	ev_timer_start(d->loop, &u->roll_timer);
	pool_rollover(d, rollover_done);
}

/* A record of the child, as it comes (task.line): status sees each step. */
static void
child_line(struct task *t, char *line)
{
	struct daemon *d = t->data;
	struct updates *u = &d->upd;
	char *out = u->out_text, *f[5];
	size_t outlen = sizeof(u->out_text);
	int *kind = &u->out_kind;
	struct event ev;

	if (u->cur == NULL)
		return;

	task_fields(line, f, 5);
	if (strcmp(f[0], "step") == 0) {
		str_fmt(u->step, sizeof(u->step), "%s", f[1]);
		u->step_ms = walltime_now_ms();
		dlog(&d->log, DLOG_INFO, "update %s: %s", u->cur->path, f[1]);
	} else if (strcmp(f[0], "event") == 0) {
		events_begin(&ev, f[1], walltime_now_ms());
		events_add_str(&ev, "file", f[2]);
		events_add_str(&ev, "reason", f[3]);
		daemon_event(d, &ev);
	} else if (strcmp(f[0], "rejected") == 0) {
		*kind = 1;
		u->out_io = strcmp(f[3], "io") == 0;
		events_begin(&ev, EVENT_DEFINITIONS_REJECTED, walltime_now_ms());
		events_add_str(&ev, "file", u->cur->path);
		events_add_str(&ev, "reason", f[1]);
		if (f[2][0])
			events_add_str(&ev, "quarantined_as", f[2]);
		daemon_event(d, &ev);
		if (u->out_io)
			str_fmt(out, outlen, "not installed: %s%s", f[1],
			    u->cur->incoming ? " (not the file's fault: it stays in incoming/ and is tried again in a minute)" :
			    " (not the file's fault: try again)");
		else
			str_fmt(out, outlen, "rejected: %s%s%s%s", f[1],
			    f[2][0] ? " (kept as " STORE_DIR_QUARANTINE "/" : "", f[2],
			    f[2][0] ? ")" : "");
	} else if (strcmp(f[0], "note") == 0) {
		dlog(&d->log, DLOG_INFO, "update %s: %s", u->cur->path, f[1]);
	} else if (strcmp(f[0], "setid") == 0) {
		u->have_cand_id = strlen(f[1]) == 2 * sizeof(u->cand_id) &&
		    num_unhex(f[1], sizeof(u->cand_id), NUM_HEX_LOWER, u->cand_id);
	} else if (strcmp(f[0], "candidate") == 0) {
		str_fmt(u->cand_set, sizeof(u->cand_set), "%s", f[1]);
		candidate_try(d);
	} else if (strcmp(f[0], "activated") == 0) {
		*kind = 2;
		loader_candidate_activated(d);
		events_begin(&ev, EVENT_DEFINITIONS_ACTIVATED, walltime_now_ms());
		events_add_str(&ev, "file", f[1]);
		events_add_str(&ev, "source", u->cur->path);
		events_add_str(&ev, "previous", f[2]);
		events_add_str(&ev, "definitions", f[3]);
		if (strcmp(f[4], "1") == 0) {
			events_add_bool(&ev, "forced", true);
			dlog(&d->log, DLOG_WARNING, "%s: installed with --force although not newer than the active set (%s)",
			    u->cur->path, f[2]);
		}
		daemon_event(d, &ev);
		str_fmt(out, outlen, "activated %s (was: %s; now: %s)", f[1],
		    f[2][0] ? f[2] : "none", f[3]);
	} else if (strcmp(f[0], "fail") == 0) {
		*kind = 3;
		str_fmt(out, outlen, "activation failed: %s (the next definitions check finishes or undoes it)",
		    f[1]);
	}
}

static void
update_task_done(struct task *t, int ws, const char *out, size_t len)
{
	struct daemon *d = t->data;
	struct updates *u = &d->upd;
	char *text = u->out_text;
	size_t textlen = sizeof(u->out_text);
	int kind = u->out_kind;

	(void)out;
	(void)len;
	free(t->data2);
	t->data2 = NULL;
	go_close(d);   /* the child is gone: no one waits */
	if (kind != 2)
		loader_candidate_drop(d);
	if (u->cur != NULL && kind != 1 && kind != 2)
		pool_check_defs(d, false);   /* held: it runs after the verdict */
	defs_hold(d, false);
	if (u->cur == NULL)
		return;
	if (kind == 2) {
		start_rollover(d, false, u->cur->path, text);
		return;
	}
	if (kind == 0) {
		str_fmt(text, textlen, "the update pipeline %s (see ampdaemon.log)",
		    task_timed_out(t) ? "did not finish in time" :
		    WIFSIGNALED(ws) ? "was killed" : "failed");
		kind = 3;
	}
	if (kind == 3) {
		/* a journal may be left: the check resolves it */
		dlog(&d->log, DLOG_ERROR, "%s: %s", u->cur->path, text);
	}
	update_verdict(d, kind == 1 && u->out_io ? UPDATE_DONE_IO :
	    UPDATE_DONE_FAILED, u->cur->path, text);
}

/* After every definitions check (the pool's listener, set by main.c). */
void
update_defs_done(struct daemon *d, bool ok, const char *error)
{
	struct updates *u = &d->upd;
	char text[1536];

	if (u->cur == NULL || !u->cur->reload || u->rolling) {
		update_next(d);
		return;
	}
	if (!ok) {
		str_fmt(text, sizeof(text), "reload failed: %s", error);
		update_verdict(d, UPDATE_DONE_FAILED, "active", text);
		return;
	}
	start_rollover(d, true, "active", "definitions re-verified");
}

/*
 * Whether the pending reload may run now; when it must wait for
 * ReloadInterval, the timer is armed for the moment it may.
 */
static bool
reload_due(struct daemon *d)
{
	struct updates *u = &d->upd;
	int64_t now = walltime_now_ms(), at;

	if (!u->reload_pending)
		return false;
	at = u->reload_end_ms + (int64_t)d->cfg.reload_interval_ms;
	if (u->reload_urgent || u->reload_end_ms == 0 || now >= at || now <
	    u->reload_end_ms)   /* the clock was set back: do not wait on it */
		return true;
	if (!ev_is_active(&u->reload_timer)) {
		ev_timer_set(&u->reload_timer, (double)(at - now) / 1000.0, 0.);
		ev_timer_start(d->loop, &u->reload_timer);
	}
	return false;
}

/* The pending reload becomes the current job, with every ask it gathered. */
static void
reload_start(struct daemon *d)
{
	struct updates *u = &d->upd;
	struct update_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return;   /* it stays pending; the next verdict or ask retries */
	job->reload = true;
	job->next = u->reload_waiters;   /* answered with this verdict */
	u->reload_waiters = NULL;
	u->reload_pending = u->reload_urgent = false;
	ev_timer_stop(d->loop, &u->reload_timer);
	u->cur = job;
	u->step_ms = walltime_now_ms();
	str_fmt(u->step, sizeof(u->step), "re-verifying");
	dlog(&d->log, DLOG_INFO, "reload: re-verifying the active definitions");
	pool_cache_clear(d);
	pool_check_defs(d, false);
}

static void
reload_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	update_next(t->data);
}

int
update_reload(struct daemon *d, bool urgent, uid_t uid,
    void (*done)(struct daemon *d, void *arg, int status, const char *text),
    void *arg, char *err, size_t errlen)
{
	struct updates *u = &d->upd;
	struct update_job *w = NULL;

	if (done != NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL) {
			str_fmt(err, errlen, "out of memory");
			return -1;
		}
		w->reload = true;
		w->done = done;
		w->arg = arg;
		w->next = u->reload_waiters;
		u->reload_waiters = w;
	}
	if (u->reload_pending && !urgent)
		budget_hit(d, BUDGET_RELOAD_COALESCED, uid,
		    "RELOAD joined the reload already waiting");
	u->reload_pending = true;
	u->reload_urgent = u->reload_urgent || urgent;
	/* freshclam's NotifyClamd: ImportDirectory is read again (cheap: a
	 * listing; what is new goes to the queue as an update) */
	if (u->on_reload != NULL)
		u->on_reload(d);
	update_next(d);
	return 0;
}

static void
update_next(struct daemon *d)
{
	struct updates *u = &d->upd;
	struct update_child *c;
	struct update_job *job;

	/* after the check at start, and never beside one; a failed check
	 * (fault 7: e.g. no definitions yet) does not keep updates out */
	if (u->cur != NULL || d->stopping || defs_running(d) ||
	    !defs_checked(d))
		return;
	if (reload_due(d)) {
		reload_start(d);
		return;
	}
	if (u->head == NULL) {
		if (u->on_idle != NULL)   /* incoming/'s cdiffs held back */
			u->on_idle(d);
		return;
	}
	job = u->head;
	u->head = job->next;
	if (u->head == NULL)
		u->tail = NULL;
	u->n--;
	u->cur = job;
	u->step_ms = walltime_now_ms();
	dlog(&d->log, DLOG_INFO, "definitions update %s%s%s%s", job->path,
	    job->sign[0] ? " with " : "", job->sign, job->force ? " (--force)" : "");
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		update_verdict(d, UPDATE_DONE_FAILED, job->path, "out of memory");
		return;
	}
	c->d = d;
	c->job = job;
	c->go_fd = -1;
	if (pool_uses_loader(d)) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) != 0) {
			free(c);
			update_verdict(d, UPDATE_DONE_FAILED, job->path,
			    "cannot run the update: pipe failed");
			return;
		}
		c->go_fd = p[0];   /* the child's stdin (task.c: child_in) */
		u->go_fd = p[1];
	}
	u->task.name = "definitions update";
	u->task.done = update_task_done;
	u->task.line = child_line;
	u->out_kind = 0;
	u->have_cand_id = false;
	u->out_io = false;
	u->out_text[0] = '\0';
	u->task.data = d;
	u->task.data2 = c;
	str_fmt(u->step, sizeof(u->step), "staging");
	defs_hold(d, true);   /* a check never runs beside an activation */
	u->task.child_in = c->go_fd >= 0 ? c->go_fd : -1;
	if (task_start(d->loop, &u->task, update_child_fn, c,
	    DAEMON_UPDATE_TIMEOUT_MS) != 0) {
		char why[256];

		defs_hold(d, false);
		u->task.data2 = NULL;
		snprintf(why, sizeof(why), "cannot run the update: fork: %s",
		    strerror(errno));
		if (c->go_fd >= 0)
			close(c->go_fd);
		u->task.child_in = -1;
		free(c);
		go_close(d);
		update_verdict(d, UPDATE_DONE_FAILED, job->path, why);
		return;
	}
	u->task.child_in = -1;
	if (c->go_fd >= 0) {   /* the child's end: its stdin now */
		close(c->go_fd);
		c->go_fd = STDIN_FILENO;
	}
}


/* A new job for the queue's tail; NULL (err set) when it is full. */
static struct update_job *
job_new(struct daemon *d, const char *path, const char *sign, char *err,
    size_t errlen)
{
	struct update_job *job;

	if (d->upd.n >= UPDATE_QUEUE_MAX) {
		str_fmt(err, errlen, "%u updates are waiting already; try again later",
		    UPDATE_QUEUE_MAX);
		return NULL;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		str_fmt(err, errlen, "out of memory");
		return NULL;
	}
	str_fmt(job->path, sizeof(job->path), "%s", path ? path : "");
	str_fmt(job->sign, sizeof(job->sign), "%s", sign ? sign : "");
	return job;
}

static void
job_queue(struct daemon *d, struct update_job *job)
{
	struct updates *u = &d->upd;

	if (u->tail != NULL)
		u->tail->next = job;
	else
		u->head = job;
	u->tail = job;
	u->n++;
	update_next(d);
}

int
update_submit(struct daemon *d, const char *path, const char *sign, bool force,
    bool incoming, bool reload,
    void (*done)(struct daemon *d, void *arg, int status, const char *text),
    void *arg, char *err, size_t errlen)
{
	struct update_job *job;

	if (reload)   /* ampctl reload: root's, at once; never in the queue */
		return update_reload(d, true, 0, done, arg, err, errlen);
	if ((job = job_new(d, path, sign, err, errlen)) == NULL)
		return -1;
	job->force = force;
	job->incoming = incoming;
	job->done = done;
	job->arg = arg;
	job_queue(d, job);
	return 0;
}

int
update_submit_rejected(struct daemon *d, const char *path, const char *sign,
    const char *why,
    void (*done)(struct daemon *d, void *arg, int status, const char *text),
    void *arg, char *err, size_t errlen)
{
	struct update_job *job;

	if ((job = job_new(d, path, sign, err, errlen)) == NULL)
		return -1;
	job->incoming = true;
	str_fmt(job->reject, sizeof(job->reject), "%s", why);
	job->done = done;
	job->arg = arg;
	job_queue(d, job);
	return 0;
}

bool
update_idle(const struct daemon *d)
{
	return d->upd.cur == NULL && d->upd.head == NULL && !d->stopping &&
	    !defs_running(d) && defs_checked(d);
}

/* ---- the queue, as incoming/ sees it ---- */

bool
update_is_queued(const struct daemon *d, const char *path)
{
	const struct update_job *j;

	if (d->upd.cur != NULL && strcmp(d->upd.cur->path, path) == 0)
		return true;
	for (j = d->upd.head; j != NULL; j = j->next)
		if (strcmp(j->path, path) == 0)
			return true;
	return false;
}

void
update_init(struct daemon *d)
{
	struct updates *u = &d->upd;

	ev_init(&u->roll_timer, roll_timeout);
	u->roll_timer.data = d;
	ev_init(&u->reload_timer, reload_on_timer);
	u->reload_timer.data = d;
	ev_init(&u->mem_timer, mem_on_timer);
	u->mem_timer.data = d;
	u->go_fd = -1;
}

void
update_free(struct daemon *d)
{
	struct updates *u = &d->upd;
	struct update_job *j, *next;

	ev_timer_stop(d->loop, &u->roll_timer);
	ev_timer_stop(d->loop, &u->reload_timer);
	go_close(d);
	job_answer(d, u->reload_waiters, UPDATE_DONE_STOPPING,
	    "ampdaemon is stopping");
	u->reload_waiters = NULL;
	u->reload_pending = false;
	task_release(&u->task);
	free(u->task.data2);
	u->task.data2 = NULL;
	for (j = u->head; j != NULL; j = next) {
		next = j->next;
		if (j->done != NULL)
			j->done(d, j->arg, UPDATE_DONE_STOPPING,
			    "ampdaemon is stopping");
		free(j);
	}
	u->head = u->tail = NULL;
	u->n = 0;
	job_answer(d, u->cur, UPDATE_DONE_STOPPING, "ampdaemon is stopping");
	u->cur = NULL;
}
