/*
 * Events leave the daemon here: ampdaemon.log, state/events.jsonl, the
 * `ampctl events --follow` clients, and, for fault events, FaultCommand.
 *
 * FaultCommand runs through /bin/sh -c in a child (task.c), one event at a
 * time in order, with the event in its environment:
 *   AMPSCAN_EVENT         the JSON line
 *   AMPSCAN_EVENT_TYPE    fault_raised, fault_cleared, intervention_required
 *   AMPSCAN_FAULT_ID      6
 *   AMPSCAN_FAULT_NAME    the catalogue's portal text
 *   AMPSCAN_FAULT_DETAIL  the detail
 * bounded by DAEMON_FAULTCMD_TIMEOUT_MS (then killed); at most
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
is_fault_event(const char *line)
{
	return strstr(line, "\"event\":\"fault_") != NULL ||
	    strstr(line, "\"event\":\"" EVENT_INTERVENTION_REQUIRED "\"") != NULL;
}

/* A top-level string or number field of an event line we rendered. */
static void
json_field(const char *line, const char *key, char *out, size_t outlen)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	out[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(line, pat)) == NULL)
		return;
	p += strlen(pat);
	if (*p == '"') {
		for (p++; *p && *p != '"' && n + 1 < outlen; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			out[n++] = *p;
		}
	} else {
		while (*p && *p != ',' && *p != '}' && n + 1 < outlen)
			out[n++] = *p++;
	}
	out[n] = '\0';
}

static int
faultcmd_fn(void *arg, int out_fd)
{
	struct daemon *d = arg;
	const char *line = d->faultcmd_queue[0];
	char e_event[EVENTS_LINE_MAX + 32], e_type[64], e_id[64];
	char e_name[256], e_detail[FAULTS_DETAIL_MAX + 32], v[FAULTS_DETAIL_MAX];
	char cmd[CONFIG_VALUE_MAX + 1];
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", cmd, NULL };
	char *envp[] = { (char *)SPAWN_PATH_ENV, e_event, e_type, e_id, e_name,
	    e_detail, NULL };

	str_fmt(cmd, sizeof(cmd), "%s", d->cfg.fault_command);
	snprintf(e_event, sizeof(e_event), "AMPSCAN_EVENT=%s", line);
	e_event[strcspn(e_event, "\n")] = '\0';
	json_field(line, "event", v, sizeof(v));
	str_fmt(e_type, sizeof(e_type), "AMPSCAN_EVENT_TYPE=%s", v);
	json_field(line, "fault", v, sizeof(v));
	str_fmt(e_id, sizeof(e_id), "AMPSCAN_FAULT_ID=%s", v);
	json_field(line, "name", v, sizeof(v));
	str_fmt(e_name, sizeof(e_name), "AMPSCAN_FAULT_NAME=%s", v);
	json_field(line, "detail", v, sizeof(v));
	snprintf(e_detail, sizeof(e_detail), "AMPSCAN_FAULT_DETAIL=%s", v);
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

static void
faultcmd_push(struct daemon *d, const char *line)
{
	char *copy;

	if (d->cfg.fault_command == NULL || d->loop == NULL)
		return;
	if (d->faultcmd_n == DAEMON_FAULTCMD_QUEUE) {
		dlog(&d->log, DLOG_ERROR, "FaultCommand: %d events waiting; not passing: %s",
		    DAEMON_FAULTCMD_QUEUE, line);
		return;
	}
	if ((copy = strdup(line)) == NULL)
		return;
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
	fault = is_fault_event(line);
	/* a fault raised is a warning; its clearing is good news */
	dlog(&d->log, fault && strstr(line, "\"event\":\"" EVENT_FAULT_CLEARED "\"") ==
	    NULL ? DLOG_WARNING : DLOG_INFO, "event: %.*s", (int)(len - 1), line);
	if (d->events_open && events_append(&d->events, ev, err, sizeof(err)) !=
	    EVENTS_OK) {
		dlog(&d->log, DLOG_ERROR, "events.jsonl: %s", err);
		daemon_state_retry(d);
	}
	if (d->follower != NULL)
		d->follower(d->follower_arg, line, len);
	if (fault)
		faultcmd_push(d, line);
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
	    d->exits.queue.dropped > 0);
}

static bool
state_pending(const struct daemon *d)
{
	return (d->events_open && (events_pending(&d->events) > 0 ||
	    d->events.queue.dropped > 0)) || exits_waiting(d) ||
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
	lost = d->exits.queue.dropped;
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
	uint64_t lost = d->events.queue.dropped;
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
	uint64_t lost = d->events_open ? d->events.queue.dropped : 0;
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
	xlost = exits_pending(&d->exits) + d->exits.queue.dropped;
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
