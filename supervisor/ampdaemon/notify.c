/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Events leave the daemon here: ampdaemon.log, state/events.jsonl, the
 * `ampctl events --follow` clients, and, for fault events, FaultCommand.
 *
 * FaultCommand runs through /bin/sh -c in a child (task.c), one event at a
 * time in order, with the event in its environment (events_fault_env():
 * AMPSCAN_EVENT, the JSON line; AMPSCAN_EVENT_TYPE, fault_raised,
 * fault_cleared or intervention_required; AMPSCAN_FAULT_ID,
 * AMPSCAN_FAULT_NAME, AMPSCAN_FAULT_DETAIL, the fields as they were given,
 * unescaped), bounded by DAEMON_FAULTCMD_TIMEOUT_MS (then killed); at most
 * DAEMON_FAULTCMD_QUEUE events wait, older ones are dropped with a log line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "spawn.h"

static bool
is_fault_event(const struct event *ev)
{
	return ev->type == EVENT_T_FAULT_RAISED ||
	    ev->type == EVENT_T_FAULT_CLEARED ||
	    ev->type == EVENT_T_INTERVENTION_REQUIRED;
}

/* The queued environment block (events_fault_env()) as envp, after PATH. */
static int
faultcmd_fn(void *arg, int out_fd)
{
	struct daemon *d = arg;
	char *p = d->faultcmd_queue[0];
	char cmd[CONFIG_VALUE_MAX + 1];
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", cmd, NULL };
	char *envp[EVENTS_ENV_VARS + 2] = { (char *)SPAWN_PATH_ENV };
	size_t n = 1;

	for (; *p != '\0' && n < EVENTS_ENV_VARS + 1; p += strlen(p) + 1)
		envp[n++] = p;
	envp[n] = NULL;
	str_fmt(cmd, sizeof(cmd), "%s", d->cfg.fault_command);
	dup2(out_fd, STDOUT_FILENO);
	dup2(out_fd, STDERR_FILENO);
	execve(argv[0], argv, envp);
	return 127;
}

static void faultcmd_next(struct daemon *d);

static void
faultcmd_done(struct task *t, int ws, const char *out, size_t len)
{
	struct daemon *d = t->data;

	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		dlog(&d->log, DLOG_WARNING, "FaultCommand %s%s%.*s",
		    task_timed_out(t) ? "killed after the time limit" :
		    WIFEXITED(ws) ? "failed" : "died",
		    len ? ": " : "", (int)(len > 300 ? 300 : len), out);
	free(d->faultcmd_queue[0]);
	memmove(d->faultcmd_queue, d->faultcmd_queue + 1,
	    (d->faultcmd_n - 1) * sizeof(d->faultcmd_queue[0]));
	d->faultcmd_n--;
	faultcmd_next(d);
}

static void
faultcmd_next(struct daemon *d)
{
	while (d->faultcmd_n > 0 && !task_is_running(&d->faultcmd_task)) {
		d->faultcmd_task.name = "FaultCommand";
		d->faultcmd_task.done = faultcmd_done;
		d->faultcmd_task.data = d;
		if (task_start(d->loop, &d->faultcmd_task, faultcmd_fn, d,
		    DAEMON_FAULTCMD_TIMEOUT_MS) == 0)
			return;
		dlog(&d->log, DLOG_ERROR, "FaultCommand: fork: %s", strerror(errno));
		free(d->faultcmd_queue[0]);
		memmove(d->faultcmd_queue, d->faultcmd_queue + 1,
		    (d->faultcmd_n - 1) * sizeof(d->faultcmd_queue[0]));
		d->faultcmd_n--;
	}
}

/* Queue ev's environment (its JSON line is in the log already). */
static void
faultcmd_push(struct daemon *d, const struct event *ev, const char *line)
{
	char *copy, *env;
	size_t n;

	if (d->cfg.fault_command == NULL || d->loop == NULL)
		return;
	if (d->faultcmd_n == DAEMON_FAULTCMD_QUEUE) {
		dlog(&d->log, DLOG_ERROR, "FaultCommand: %d events waiting; not passing: %s",
		    DAEMON_FAULTCMD_QUEUE, line);
		return;
	}
	if ((env = malloc(EVENTS_ENV_MAX)) == NULL)
		return;
	n = events_fault_env(ev, env, EVENTS_ENV_MAX);
	copy = n > 0 ? realloc(env, n) : NULL;
	if (copy == NULL) {
		free(env);
		return;
	}
	d->faultcmd_queue[d->faultcmd_n++] = copy;
	faultcmd_next(d);
}

void
daemon_event(struct daemon *d, const struct event *ev)
{
	char line[EVENTS_LINE_MAX + 2], err[256];
	size_t len;
	bool fault;

	metrics_touch(d);
	if ((len = events_render(ev, line, sizeof(line))) == 0)
		return;
	fault = is_fault_event(ev);
	/* a fault raised is a warning; its clearing is good news */
	dlog(&d->log, fault && ev->type != EVENT_T_FAULT_CLEARED ?
	    DLOG_WARNING : DLOG_INFO, "event: %.*s", (int)(len - 1), line);
	if (d->events_open && events_append(&d->events, ev, err, sizeof(err)) !=
	    EVENTS_OK) {
		dlog(&d->log, DLOG_ERROR, "events.jsonl: %s", err);
		daemon_state_retry(d);
	}
	if (d->follower != NULL)
		d->follower(d->follower_arg, line, len);
	if (fault)
		faultcmd_push(d, ev, line);
}

void
notify_subscribe(struct daemon *d, notify_fn *fn, void *arg)
{
	d->follower = fn;
	d->follower_arg = arg;
}

void
daemon_save_faults(struct daemon *d)
{
	char err[512];

	if (faults_save(&d->faults, d->cfg.state_dir, err, sizeof(err)) != 0) {
		dlog(&d->log, DLOG_ERROR, "faults.state: %s", err);
		d->faults_unsaved = true;
		daemon_state_retry(d);
	} else {
		d->faults_unsaved = false;
	}
}

/* ---- what could not be written (StateDir full) ------------------------ */

static bool
exits_waiting(const struct daemon *d)
{
	return d->exits_open && (exits_pending(&d->exits) > 0 ||
	    exits_lost(&d->exits) > 0);
}

static bool
state_pending(const struct daemon *d)
{
	return (d->events_open && (events_pending(&d->events) > 0 ||
	    events_lost(&d->events) > 0)) || exits_waiting(d) ||
	    d->faults_unsaved || d->poison.dirty;
}

/*
 * The queued exits.jsonl lines.  Lost ones were logged one by one when
 * the queue refused them; the events_dropped line written in their place
 * is said here.  A trim that fails after the lines are written is logged:
 * the next append or flush tries it again.
 */
static void
state_retry_exits(struct daemon *d)
{
	size_t n;
	uint64_t lost;
	char err[512], more[160] = "";
	int rc;

	if (!exits_waiting(d))
		return;
	n = exits_pending(&d->exits);
	lost = exits_lost(&d->exits);
	if ((rc = exits_flush(&d->exits, err, sizeof(err))) == EXITS_ERR_QUEUED)
		return;
	if (lost > 0)
		snprintf(more, sizeof(more), "; %" PRIu64 " more were lost (the queue was full): an events_dropped line stands for them",
		    lost);
	dlog(&d->log, DLOG_INFO, "exits.jsonl: writable again: %zu queued exit(s) written%s",
	    n, more);
	if (rc != EXITS_OK)
		dlog(&d->log, DLOG_ERROR, "%s", err);
}

/*
 * Every DAEMON_STATE_RETRY_MS while something waits: the queued events
 * and exits (each in order, then events_dropped if some were lost),
 * faults.state, poison.state.  A failure was logged when it happened: a
 * retry that fails again says nothing, one that succeeds says so.
 */
static void
state_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = t->data;
	size_t n = events_pending(&d->events);
	uint64_t lost = events_lost(&d->events);
	char err[512];
	int rc;

	(void)revents;
	if (d->events_open && (n > 0 || lost > 0)) {
		rc = events_flush(&d->events, err, sizeof(err));
		if (rc == EVENTS_OK || rc == EVENTS_ERR_TRIM)
			dlog(&d->log, DLOG_INFO, "events.jsonl: writable again: %zu queued event(s) written%s",
			    n, lost > 0 ? " (and events_dropped: the queue had overflowed)" : "");
		if (rc == EVENTS_ERR_TRIM)
			dlog(&d->log, DLOG_ERROR, "events.jsonl: %s", err);
	}
	state_retry_exits(d);
	if (d->faults_unsaved &&
	    faults_save(&d->faults, d->cfg.state_dir, err, sizeof(err)) == 0) {
		d->faults_unsaved = false;
		dlog(&d->log, DLOG_INFO, "faults.state: saved (it could not be written before)");
	}
	if (d->poison.dirty &&
	    poison_save(&d->poison, d->cfg.state_dir, err, sizeof(err)) == 0)
		dlog(&d->log, DLOG_INFO, "poison.state: saved (it could not be written before)");
	if (!state_pending(d))
		ev_timer_stop(loop, t);
}

void
daemon_state_retry_init(struct daemon *d)
{
	ev_init(&d->state_retry, state_retry_cb);
	d->state_retry.data = d;
	d->state_retry.repeat = (double)DAEMON_STATE_RETRY_MS / 1000.0;
	daemon_state_retry(d);   /* the start's events may be queued already */
}

void
daemon_state_retry(struct daemon *d)
{
	if (d->loop == NULL || d->state_retry.data == NULL ||
	    ev_is_active(&d->state_retry) || !state_pending(d))
		return;
	ev_timer_again(d->loop, &d->state_retry);
}

void
daemon_state_retry_stop(struct daemon *d)
{
	size_t n = d->events_open ? events_pending(&d->events) : 0;
	uint64_t lost = d->events_open ? events_lost(&d->events) : 0;
	uint64_t xlost;

	if (d->loop != NULL && d->state_retry.data != NULL)
		ev_timer_stop(d->loop, &d->state_retry);
	if (n > 0 || lost > 0)
		dlog(&d->log, DLOG_ERROR, "events.jsonl: %" PRIu64 " event(s) could not be written before the stop and are lost (each is in this log)",
		    (uint64_t)n + lost);
	/* events had a last try with daemon_stopped; exits have theirs here */
	state_retry_exits(d);
	if (!exits_waiting(d))
		return;
	xlost = exits_pending(&d->exits) + exits_lost(&d->exits);
	dlog(&d->log, DLOG_ERROR, "exits.jsonl: %" PRIu64 " exit(s) could not be written before the stop and are lost (each is a worker_exited event in this log)",
	    xlost);
}

/* faults.c's callback: the state has changed; tell and persist it. */
void
daemon_faults_emit(void *arg, const struct event *ev)
{
	struct daemon *d = arg;

	daemon_event(d, ev);
	daemon_save_faults(d);
}

void
daemon_faultcmd_flush(struct daemon *d)
{
	while (d->faultcmd_n > 0)
		free(d->faultcmd_queue[--d->faultcmd_n]);
}
