/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One worker's lifecycle, as a (state x event) table: actions[st][ev] is
 * the function run when ev happens in st; each sets the next state.
 *
 *   IDLE/WAITING -START-> STARTING -READY-> READY -EXIT-> BACKOFF -TIMER-> STARTING
 *   STARTING -EOF-> START_EOF -TIMER-> START_KILLED -EXIT-> BACKOFF (fault 7)
 *   READY -EOF-> READY_EOF -TIMER-> KILLED -EXIT-> BACKOFF (a crash)
 *   READY (busy) -RETIRE-> RETIRING -RESULT-> STOPPING_OLD -EXIT-> IDLE
 *   READY -MEM over WorkerMemoryLimit-> (busy: MEM_RETIRING -RESULT->)
 *         STOPPING_MEM -EXIT-> STARTING (a fresh one, not a crash)
 *   running -STOP-> STOPPING -EXIT-> IDLE; -TIMER-> SIGKILL
 *
 * Faults decided here: 2 (the worker's protocol or version), 7 (start
 * failures; the pool decides whether to check the definitions).  What
 * the pool must hear (READY, IDLE after a stop) goes through its hooks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "account.h"
#include "killpoint.h"
#include "launch.h"
#include "pool_int.h"

#ifndef AMPSCAN_VERSION
#define AMPSCAN_VERSION "0.0.0"
#endif

#define WORKER_OF(ptr, member) \
	((struct worker *)((char *)(ptr) - offsetof(struct worker, member)))

typedef void worker_action(struct worker *w, const struct worker_input *in);

const char *
worker_state_name(enum worker_state s)
{
	switch (s) {
	case WORKER_IDLE: return "idle";
	case WORKER_WAITING: return "waiting";
	case WORKER_STARTING: return "starting";
	case WORKER_READY: return "ready";
	case WORKER_BACKOFF: return "backoff";
	case WORKER_STOPPING: return "stopping";
	}
	return "?";
}

static void
timer_again(struct worker *w, uint64_t ms)
{
	struct ev_loop *loop = w->d->loop;

	ev_timer_stop(loop, &w->timer);
	ev_timer_set(&w->timer, ms_to_s(ms), 0.);
	ev_timer_start(loop, &w->timer);
}

/* "exit status 2", "SIGSEGV (core dumped)". */
static void
wstatus_text(int ws, char *buf, size_t len)
{
	char s[16];

	if (WIFEXITED(ws))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(ws));
	else if (WIFSIGNALED(ws))
		snprintf(buf, len, "%s%s", events_signal_name(WTERMSIG(ws), s, sizeof(s)),
		    WCOREDUMP(ws) ? " (core dumped)" : "");
	else
		snprintf(buf, len, "wait status %#x", ws);
}

/* ---- the worker's stderr -> ampscansvc.log ----------------------------- */

static void
worker_on_log(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = WORKER_OF(io, log.io);

	(void)loop;
	(void)revents;
	launch_log_on_read(w->d, w->pid, &w->log);
}

static void
pool_add_definitions(struct event *ev, const struct wproto_ready *r)
{
	char defs[512];

	launch_defs_text(r, defs, sizeof(defs));
	events_add_str(ev, "definitions", defs);
}

/*
 * Its worker_exited event and exits.jsonl line.  taker: the spare that
 * takes w's slot at once (its pid is `spare_pid`, the restart delay 0), or
 * NULL.  A spare's own exit has `spare` true.
 */
static void
worker_record_exit_to(struct worker *w, int ws, const char *kind, int64_t now,
    const struct worker *taker)
{
	struct daemon *d = w->d;
	struct event ev;
	const char *files[1];

	files[0] = w->req != NULL ? w->req->name : NULL;
	events_worker_exited(&ev, now, w->pid, ws, now - w->started_ms, files,
	    files[0] != NULL ? 1 : 0);
	events_add_str(&ev, "kind", kind);
	events_add_int(&ev, "worker", w->slot);
	events_add_int(&ev, "uid", w->uid);
	if (w->killed == WK_SCAN_TIMEOUT)
		events_add_bool(&ev, "scan_timeout", true);
	if (w->st == WS_STOPPING_MEM)
		events_add_str(&ev, "retired", w->retire_reason != NULL ?
		    w->retire_reason : "memory");
	if (w->log.last_line[0] && strcmp(kind, "stopped") != 0)
		events_add_str(&ev, "last_stderr", w->log.last_line);
	if (strcmp(kind, "stopped") != 0) {
		/* the delay worker_next_delay() is about to choose (for diag) */
		uint64_t delay = w->delay_ms;

		if (strcmp(kind, "crash") == 0 && w->ready_ms > 0 &&
		    now - w->ready_ms >= (int64_t)d->cfg.stable_after_ms)
			delay = d->cfg.restart_delay_min_ms;
		events_add_int(&ev, "restart_delay_ms", taker != NULL ? 0 :
		    (int64_t)delay);
	}
	if (taker != NULL)
		events_add_int(&ev, "spare_pid", taker->pid);
	if (spare_is(w))
		events_add_bool(&ev, "spare", true);
	/* which set a crash belongs to: the worker's own once it was READY
	 * (after a rollover the pool's last READY is another set) */
	if (w->ready_ms > 0 && w->defs[0] != '\0')
		events_add_str(&ev, "definitions", w->defs);
	else if (d->pool.have_ready)
		pool_add_definitions(&ev, &d->pool.ready);
	launch_exit_append(d, &ev);
	daemon_event(d, &ev);
}

static void
worker_record_exit(struct worker *w, int ws, const char *kind, int64_t now)
{
	worker_record_exit_to(w, ws, kind, now, NULL);
}

static struct worker *worker_spare_ready(struct daemon *d);
static void worker_take_spare(struct worker *w, struct worker *s,
    uint64_t refill_ms);

/* Wipe w's scratch directory (it exited, or never started). */
static void
worker_scratch_wipe(struct worker *w)
{
	launch_scratch_wipe(w->d, w->scratch, sizeof(w->scratch));
}

/*
 * WorkerLaunch loader: the worker's socketpair, log pipe and (clamav)
 * scratch directory go to the loader, which forks it (loader_fork).
 */
static int
worker_fork(struct worker *w, char *err, size_t errlen)
{
	struct daemon *d = w->d;
	struct launch_out o;
	int sv[2] = { -1, -1 }, logp[2] = { -1, -1 }, fds[3], scr = -1, rc = -1;
	size_t n = 2;

	if (loader_identity(d, &o.uid, &o.gid) != 0) {
		snprintf(err, errlen, "no loader is READY");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0 ||
	    pipe2(logp, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "socketpair/pipe: %s", strerror(errno));
		goto out;
	}
	fds[0] = sv[1];
	fds[1] = logp[1];
	if (d->cfg.engine == CONFIG_ENGINE_CLAMAV) {
		if ((scr = launch_scratch_make(d, w->slot, &w->generation, w->scratch,
		    sizeof(w->scratch), o.uid, o.gid, err, errlen)) < 0)
			goto out;
		fds[n++] = scr;
	}
	if (loader_fork(d, fds, n, &w->pid, err, errlen) != 0)
		goto out;
	w->loader_pid = loader_current_pid(d);
	w->pre_collapse = !loader_collapsed(d);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	fcntl(logp[0], F_SETFL, O_NONBLOCK);
	w->sock = sv[0];
	w->log.fd = logp[0];
	sv[0] = logp[0] = -1;
	w->uid = o.uid;
	w->gid = o.gid;
	rc = 0;
out:
	for (int *f = (int[]){ sv[0], sv[1], logp[0], logp[1], scr }, i = 0;
	    i < 5; i++)
		if (f[i] >= 0)
			close(f[i]);
	if (rc != 0)
		worker_scratch_wipe(w);
	return rc;
}

static int
worker_spawn(struct worker *w, const struct account *acct, bool as_root,
    char *err, size_t errlen)
{
	struct launch_target t = { .d = w->d, .loader = false, .slot = w->slot,
	    .generation = &w->generation, .scratch = w->scratch,
	    .scratchlen = sizeof(w->scratch) };
	struct launch_out o;

	if (pool_uses_loader(w->d)) {
		w->as_root = as_root;
		return worker_fork(w, err, errlen);
	}
	if (launch_exec(&t, acct, as_root, &o, err, errlen) != 0)
		return -1;
	w->sock = o.sock;
	w->log.fd = o.log_fd;
	w->pid = o.pid;
	w->uid = o.uid;
	w->gid = o.gid;
	w->as_root = as_root;
	return 0;
}

/* ---- helpers of the actions --------------------------------------------- */

static uint64_t
worker_next_delay(struct worker *w)
{
	return launch_next_delay(&w->d->cfg, &w->delay_ms);
}

/* -> BACKOFF: the restart timer runs. */
static void
worker_schedule(struct worker *w, uint64_t delay_ms)
{
	w->st = WS_BACKOFF;
	timer_again(w, delay_ms);
}

/* A start that failed: fault 7, and the pool checks the definitions. */
static void
worker_start_failed(struct worker *w, const char *why, int64_t now)
{
	struct daemon *d = w->d;
	char detail[FAULTS_DETAIL_MAX];
	uint64_t delay = worker_next_delay(w);

	snprintf(detail, sizeof(detail), "worker %u: %s", w->slot, why);
	dlog(&d->log, DLOG_ERROR, "worker %u could not start: %s; retrying in %.3f s",
	    w->slot, why, ms_to_s(delay));
	fault_raise(&d->faults, FAULT_SCAN_START_FAILED, detail, w->pid > 0 ?
	    w->pid : 0, now);
	d->pool.recovery_needed = true;
	router_fail_if_unavailable(d);
	w->pid = -1;
	worker_schedule(w, delay);
}

static void
worker_close(struct worker *w)
{
	struct ev_loop *loop = w->d->loop;

	ev_timer_stop(loop, &w->timer);
	ev_timer_stop(loop, &w->scan_timer);
	ev_io_stop(loop, &w->sock_io);
	if (w->sock >= 0)
		close(w->sock);
	w->sock = -1;
	launch_log_drain(w->d, w->pid, &w->log);   /* it has exited: all it wrote is in the pipe */
}

static void
worker_kill(struct worker *w, const char *why)
{
	if (w->pid > 0) {
		dlog(&w->d->log, DLOG_WARNING, "worker %u (pid %d): %s: killing it",
		    w->slot, (int)w->pid, why);
		kill(w->pid, SIGKILL);
	}
	ev_io_stop(w->d->loop, &w->sock_io);
}

/* Ask w to exit: EOF on its socket, SIGTERM, SIGKILL after the grace. */
static void
worker_stop(struct worker *w, enum wstate next)
{
	struct daemon *d = w->d;

	w->st = next;
	ev_timer_stop(d->loop, &w->scan_timer);
	ev_io_stop(d->loop, &w->sock_io);
	shutdown(w->sock, SHUT_RDWR);   /* EOF: it exits 0 */
	kill(w->pid, SIGTERM);
	timer_again(w, DAEMON_STOP_GRACE_MS);
}

/* Why a worker that never became READY failed. */
static void
start_failure_text(struct worker *w, int ws, char *why, size_t len)
{
	char how[96];

	wstatus_text(ws, how, sizeof(how));
	if (w->killed == WK_READY_TIMEOUT)
		snprintf(why, len, "no READY within %.1f s",
		    ms_to_s(w->d->cfg.ready_timeout_ms));
	else if (w->bad_ready[0])
		snprintf(why, len, "%s", w->bad_ready);
	else
		str_fmt(why, len, "exited before READY (%s)%s%s",
		    how, w->log.last_line[0] ? ": " : "", w->log.last_line);
}

/* Whether a READY is acceptable; if not, why is in w->bad_ready. */
static bool
ready_acceptable(struct worker *w, struct buf *r, int64_t now)
{
	struct daemon *d = w->d;
	struct wproto_ready *m = &d->pool.ready_tmp;
	char detail[FAULTS_DETAIL_MAX];

	if (wproto_decode_ready(r, m) != 0) {
		snprintf(w->bad_ready, sizeof(w->bad_ready), "malformed READY message");
		return false;
	}
	if (m->proto != WPROTO_VERSION || strcmp(m->version, AMPSCAN_VERSION) != 0) {
		str_fmt(detail, sizeof(detail), "ampscansvc %s speaks protocol %u; ampdaemon %s speaks %u (%s): the installation is damaged, reinstall",
		    m->version, m->proto, AMPSCAN_VERSION, WPROTO_VERSION,
		    d->scansvc);
		fault_raise(&d->faults, FAULT_VERSION_MISMATCH, detail, w->pid, now);
		snprintf(w->bad_ready, sizeof(w->bad_ready), "version mismatch (fault 2)");
		return false;
	}
	return true;
}

/* worker_ready event; faults 2 and 7 cleared. */
static void
ready_announce(struct worker *w, const struct wproto_ready *m, int64_t now)
{
	struct daemon *d = w->d;
	struct event ev;
	char detail[FAULTS_DETAIL_MAX];

	events_begin(&ev, EVENT_WORKER_READY, now);
	events_add_int(&ev, "pid", w->pid);
	events_add_int(&ev, "worker", w->slot);
	events_add_int(&ev, "uid", w->uid);
	events_add_int(&ev, "start_ms", now - w->started_ms);
	pool_add_definitions(&ev, m);
	daemon_event(d, &ev);
	fault_clear(&d->faults, FAULT_VERSION_MISMATCH, "ampscansvc and ampdaemon agree", now);
	snprintf(detail, sizeof(detail), "worker %u (pid %d) is READY", w->slot,
	    (int)w->pid);
	if (fault_clear(&d->faults, FAULT_SCAN_START_FAILED, detail, now))
		defs_retry_reset(d);
	d->pool.recovery_needed = false;
	defs_forget_rollback(d);
}

/* Spawned: watch it, the READY timer runs, worker_started. */
static void
worker_watch(struct worker *w, bool as_root, int64_t now)
{
	struct daemon *d = w->d;
	struct event ev;

	w->st = WS_STARTING;
	ev_child_set(&w->child, w->pid, 0);
	ev_child_start(d->loop, &w->child);
	ev_io_set(&w->sock_io, w->sock, EV_READ);
	ev_io_start(d->loop, &w->sock_io);
	ev_io_set(&w->log.io, w->log.fd, EV_READ);
	ev_io_start(d->loop, &w->log.io);
	timer_again(w, d->cfg.ready_timeout_ms);
	/* stamped now, not when the spawn began: a loader's FORK reply may
	 * come after its MEM or COLLAPSED, whose events are written first */
	events_begin(&ev, EVENT_WORKER_STARTED, walltime_now_ms());
	events_add_int(&ev, "pid", w->pid);
	events_add_int(&ev, "worker", w->slot);
	events_add_int(&ev, "uid", w->uid);
	events_add_bool(&ev, "as_root", as_root);
	daemon_event(d, &ev);
	if (!as_root && geteuid() == 0)
		fault_clear(&d->faults, FAULT_SCAN_USER_UNAVAILABLE, "workers run as the scan user again", now);
}

/* ---- the actions ------------------------------------------------------- */

static void
act_none(struct worker *w, const struct worker_input *in)
{
	(void)w;
	(void)in;
}

/* IDLE, WAITING, BACKOFF: start it if the pool lets it. */
static void
act_start(struct worker *w, const struct worker_input *in)
{
	struct account acct = { .uid = 0 };
	bool as_root = false;
	char err[1024];
	int64_t now;

	(void)in;
	w->st = WS_WAITING;
	if (!w->d->pool.hooks.may_start(w, &acct, &as_root))
		return;
	now = walltime_now_ms();
	w->started_ms = now;
	w->ready_ms = 0;
	w->req = NULL;
	w->killed = WK_NONE;
	w->bad_ready[0] = '\0';
	w->log.last_line[0] = '\0';
	w->log.len = 0;
	w->mem_ms = 0;
	w->loader_pid = -1;
	w->uid = as_root ? 0 : acct.uid;
	if (worker_spawn(w, &acct, as_root, err, sizeof(err)) != 0) {
		w->pid = -1;
		worker_start_failed(w, err, now);
		return;
	}
	worker_watch(w, as_root, now);
}

/* STARTING: READY came; -> READY, or killed when it is refused. */
static void
act_ready(struct worker *w, const struct worker_input *in)
{
	struct daemon *d = w->d;
	int64_t now = walltime_now_ms();

	if (!ready_acceptable(w, in->r, now)) {
		w->st = WS_START_KILLED;
		w->killed = WK_OTHER;
		worker_kill(w, w->bad_ready);
		return;
	}
	ev_timer_stop(d->loop, &w->timer);
	w->st = WS_READY;
	w->ready_ms = now;
	w->defs_changed_ms = 0;
	d->pool.ready = d->pool.ready_tmp;
	d->pool.have_ready = true;
	launch_defs_text(&d->pool.ready, w->defs, sizeof(w->defs));
	ready_announce(w, &d->pool.ready, now);
	/* its memory, once loaded (a failed send shows at its next request) */
	(void)launch_mem_ask(d, w->sock);
	poolmem_touch(d);   /* and the others', whose Pss it changed */
	d->pool.hooks.changed(w, WN_READY);
}

/* Past WorkerMemoryLimit: the worker_retired event and the log line. */
static void
worker_mem_retire(struct worker *w)
{
	struct daemon *d = w->d;
	struct event ev;

	d->pool.retired_memory_total++;
	w->retire_reason = "memory";
	dlog(&d->log, DLOG_INFO, "worker %u (pid %d): private memory %llu KiB is past WorkerMemoryLimit (%llu KiB): retired %s, replaced by a fresh one",
	    w->slot, (int)w->pid, (unsigned long long)(w->mem.priv >> 10),
	    (unsigned long long)(d->cfg.worker_memory_limit >> 10),
	    w->req != NULL ? "after its request" : "now");
	events_begin(&ev, EVENT_WORKER_RETIRED, walltime_now_ms());
	events_add_int(&ev, "pid", w->pid);
	events_add_int(&ev, "worker", w->slot);
	events_add_str(&ev, "reason", "memory");
	events_add_int(&ev, "private_bytes", (int64_t)w->mem.priv);
	events_add_int(&ev, "rss_bytes", (int64_t)w->mem.rss);
	events_add_int(&ev, "limit_bytes", (int64_t)d->cfg.worker_memory_limit);
	events_add_int(&ev, "scans", (int64_t)w->scans);
	daemon_event(d, &ev);
}

/* READY phase: its memory.  Past WorkerMemoryLimit it is replaced: now
 * when idle, after its request when busy. */
static void
act_mem(struct worker *w, const struct worker_input *in)
{
	struct worker_input kill_in = { .why = "malformed MEM" };

	if (launch_mem_got(in->r, &w->mem, &w->mem_ms) != 0) {
		worker_handle(w, WE_KILL, &kill_in);
		return;
	}
	if (w->st != WS_READY || !poolmem_over(w))
		return;
	worker_mem_retire(w);
	if (w->req == NULL)
		worker_stop(w, WS_STOPPING_MEM);
	else
		w->st = WS_MEM_RETIRING;
}

/* READY, RETIRING: the result of its request. */
static void
act_result(struct worker *w, const struct worker_input *in)
{
	struct daemon *d = w->d;
	struct scan_req *req = w->req;
	struct worker_input kill_in = { .why = "unexpected or malformed RESULT" };

	if (req == NULL || req->id != in->id ||
	    wproto_decode_result(in->r, in->id, d->pool.res) != 0) {
		worker_handle(w, WE_KILL, &kill_in);
		return;
	}
	ev_timer_stop(d->loop, &w->scan_timer);
	w->req = NULL;
	w->idle_ms = walltime_now_ms();
	w->scans++;
	poolmem_touch(d);
	router_result(d, w, req, d->pool.res);
	if (w->st == WS_RETIRING)
		worker_stop(w, WS_STOPPING_OLD);
	else if (w->st == WS_MEM_RETIRING)
		worker_stop(w, WS_STOPPING_MEM);
	pool_dispatch(d);
}

static void
act_unexpected(struct worker *w, const struct worker_input *in)
{
	struct worker_input kill_in = { .why = "unexpected message" };

	(void)in;
	worker_handle(w, WE_KILL, &kill_in);
}

/* Starting: killed; its exit is a start failure. */
static void
act_kill_starting(struct worker *w, const struct worker_input *in)
{
	w->st = WS_START_KILLED;
	if (w->killed == WK_NONE)
		w->killed = WK_OTHER;
	worker_kill(w, in->why);
}

/* Ready: killed; its exit is a crash. */
static void
act_kill_ready(struct worker *w, const struct worker_input *in)
{
	w->st = WS_KILLED;
	if (w->killed == WK_NONE)
		w->killed = WK_OTHER;
	worker_kill(w, in->why);
}

/* Stopping: SIGKILL now (nothing else changes). */
static void
act_kill_stopping(struct worker *w, const struct worker_input *in)
{
	worker_kill(w, in->why);
}

/*
 * EOF on its socket.  A worker that exits closes it an instant before
 * ev_child reports the exit; one that closed it and runs on would keep
 * its request until ScanTimeout, and its slot for ever: killed once
 * POOL_EOF_GRACE_MS have passed without its exit.
 */
static void
act_eof_starting(struct worker *w, const struct worker_input *in)
{
	(void)in;
	w->st = WS_START_EOF;
	timer_again(w, POOL_EOF_GRACE_MS);   /* instead of the READY timeout */
}

static void
act_eof_ready(struct worker *w, const struct worker_input *in)
{
	(void)in;
	w->st = WS_READY_EOF;
	timer_again(w, POOL_EOF_GRACE_MS);
}

/* BACKOFF: the restart delay is over. */
static void
act_backoff_over(struct worker *w, const struct worker_input *in)
{
	act_start(w, in);
}

/* STARTING (or killed meanwhile): no READY in time. */
static void
act_ready_timeout(struct worker *w, const struct worker_input *in)
{
	(void)in;
	w->st = WS_START_KILLED;
	w->killed = WK_READY_TIMEOUT;
	worker_kill(w, "no READY in time");
}

/* START_EOF, READY_EOF: closed its socket, did not exit in the grace. */
static void
act_eof_grace_over(struct worker *w, const struct worker_input *in)
{
	(void)in;
	if (w->st == WS_START_EOF) {
		snprintf(w->bad_ready, sizeof(w->bad_ready),
		    "closed its socket before READY");
		w->st = WS_START_KILLED;
	} else {
		w->st = WS_KILLED;
	}
	if (w->killed == WK_NONE)
		w->killed = WK_OTHER;
	worker_kill(w, "closed its socket but did not exit");
}

/* STOPPING: the grace is over. */
static void
act_stop_grace_over(struct worker *w, const struct worker_input *in)
{
	(void)in;
	if (w->pid > 0)
		kill(w->pid, SIGKILL);
}

/* Ready phase: its scan outlived ScanTimeout. */
static void
act_scan_timeout(struct worker *w, const struct worker_input *in)
{
	char why[POOL_SCAN_NAME_MAX + 64];

	(void)in;
	if (w->req == NULL)
		return;
	w->killed = WK_SCAN_TIMEOUT;
	snprintf(why, sizeof(why), "scan of %s outlived ScanTimeout (%.1f s)",
	    w->req->name, ms_to_s(w->d->cfg.scan_timeout_ms));
	w->st = WS_KILLED;
	worker_kill(w, why);
}

/* STOPPING: it exited as asked -> IDLE; its request goes back. */
static void
act_exit_stopped(struct worker *w, const struct worker_input *in)
{
	struct daemon *d = w->d;
	bool old = w->st == WS_STOPPING_OLD;

	worker_record_exit(w, in->ws, "stopped", walltime_now_ms());
	if (w->req != NULL) {
		struct scan_req *req = w->req;

		w->req = NULL;
		if (d->stopping)
			req_finish(d, req, NULL, "ampdaemon is stopping");
		else
			router_requeue(d, req);
	}
	w->pid = -1;
	w->st = WS_IDLE;
	if (old)
		daemon_kill_point(d, KP_ROLLOVER_RETIRED, false);
	d->pool.hooks.changed(w, WN_STOPPED);
	pool_dispatch(d);
}

/* STOPPING_MEM: it exited as asked; a fresh one at once (no backoff). */
static void
act_exit_retired(struct worker *w, const struct worker_input *in)
{
	struct daemon *d = w->d;
	struct worker *s = worker_is_current(w) ? worker_spare_ready(d) : NULL;

	worker_record_exit_to(w, in->ws, "stopped", walltime_now_ms(), s);
	w->pid = -1;
	if (w->req != NULL) {
		struct scan_req *req = w->req;

		w->req = NULL;
		router_requeue(d, req);
	}
	if (s != NULL) {
		worker_take_spare(w, s, 0);
	} else if (!worker_is_current(w) && !spare_is(w)) {
		/* a rollover's old half: its replacement is on the way */
		w->st = WS_IDLE;
		d->pool.hooks.changed(w, WN_GONE);
	} else {
		act_start(w, in);
	}
	pool_dispatch(d);
}

/*
 * A worker that exited WPROTO_EXIT_DEFS_CHANGED while an update is under
 * way read active/ in the middle of an activation: it starts again every
 * WORKER_DEFS_CHANGED_RETRY_MS, without a fault, for
 * WORKER_DEFS_CHANGED_MAX_MS at most (an activation takes milliseconds;
 * the bound keeps a bug from looping for ever).  Outside an update
 * (active/ changed by hand, say) it is a start failure: fault 7's recovery
 * re-checks the definitions and rebuilds the index.
 */
#define WORKER_DEFS_CHANGED_RETRY_MS 250
#define WORKER_DEFS_CHANGED_MAX_MS 30000
static bool
worker_defs_changed(struct worker *w, int ws, int64_t now)
{
	struct daemon *d = w->d;

	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != WPROTO_EXIT_DEFS_CHANGED ||
	    !update_busy(d))
		return false;
	if (w->defs_changed_ms == 0)
		w->defs_changed_ms = now;
	else if (now - w->defs_changed_ms > WORKER_DEFS_CHANGED_MAX_MS)
		return false;
	worker_record_exit(w, ws, EXITS_KIND_DEFS_CHANGED, now);
	dlog(&d->log, DLOG_INFO, "worker %u: the definitions changed while it loaded them (an activation in progress); starting it again in %.3f s",
	    w->slot, ms_to_s(WORKER_DEFS_CHANGED_RETRY_MS));
	w->pid = -1;
	worker_schedule(w, WORKER_DEFS_CHANGED_RETRY_MS);
	return true;
}

/* Starting: it exited (or was killed) before READY -> BACKOFF, fault 7. */
static void
act_exit_starting(struct worker *w, const struct worker_input *in)
{
	int64_t now = walltime_now_ms();
	char why[FAULTS_DETAIL_MAX];

	if (worker_defs_changed(w, in->ws, now))
		return;

	worker_record_exit(w, in->ws, "start_failure", now);
	start_failure_text(w, in->ws, why, sizeof(why));
	worker_start_failed(w, why, now);
}

/* "SIGSEGV", "exit 2", "timeout": the kind of a crash. */
static void
crash_kind(const struct worker *w, int ws, char *sig, size_t len)
{
	if (WIFSIGNALED(ws))
		events_signal_name(WTERMSIG(ws), sig, len);
	else
		snprintf(sig, len, "exit %d", WEXITSTATUS(ws));
	if (w->killed == WK_SCAN_TIMEOUT)
		snprintf(sig, len, "timeout");
}

/* Ready phase: a crash -> BACKOFF (or IDLE: a rollover's old worker). */
static void
act_exit_crash(struct worker *w, const struct worker_input *in)
{
	struct daemon *d = w->d;
	int64_t now = walltime_now_ms();
	char how[96], sig[16], next[96];
	uint64_t delay;
	/* a READY spare serves the slot at once: no backoff for the slot */
	struct worker *s = worker_is_current(w) ? worker_spare_ready(d) : NULL;

	worker_record_exit_to(w, in->ws, "crash", now, s);
	wstatus_text(in->ws, how, sizeof(how));
	crash_kind(w, in->ws, sig, sizeof(sig));
	if (w->ready_ms > 0 && now - w->ready_ms >= (int64_t)d->cfg.stable_after_ms)
		w->delay_ms = d->cfg.restart_delay_min_ms;
	delay = worker_next_delay(w);
	if (s != NULL)
		snprintf(next, sizeof(next), "spare %u (pid %d) takes the slot",
		    s->slot, (int)s->pid);
	else
		snprintf(next, sizeof(next), "%s in %.3f s", spare_is(w) ?
		    "a new spare" : "restarting", ms_to_s(delay));
	dlog(&d->log, DLOG_WARNING, "%s %u (pid %d) crashed: %s after %.1f s%s%s; %s",
	    spare_is(w) ? "spare worker" : "worker", w->slot, (int)w->pid,
	    w->killed == WK_SCAN_TIMEOUT ?
	    "killed, its scan outlived ScanTimeout," : how,
	    ms_to_s((uint64_t)(now - w->started_ms)),
	    w->req ? " while scanning " : "", w->req ? w->req->name : "", next);
	w->restarts++;
	crashes_note(d, now, sig, w->pid);
	if (w->req != NULL)
		router_crashed(d, w, now);
	w->pid = -1;
	if (s != NULL) {
		worker_take_spare(w, s, delay);
	} else if (!worker_is_current(w) && !spare_is(w)) {
		/* a rollover's old worker: its replacement is on the way */
		w->st = WS_IDLE;
		d->pool.hooks.changed(w, WN_GONE);
	} else {
		worker_schedule(w, delay);
	}
	pool_dispatch(d);
}

/* Not running: the pool stops or a rollover retires it -> IDLE. */
static void
act_to_idle(struct worker *w, const struct worker_input *in)
{
	(void)in;
	ev_timer_stop(w->d->loop, &w->timer);
	w->st = WS_IDLE;
}

static void
act_stop(struct worker *w, const struct worker_input *in)
{
	(void)in;
	worker_stop(w, WS_STOPPING);
}

static void
act_stop_old(struct worker *w, const struct worker_input *in)
{
	(void)in;
	worker_stop(w, WS_STOPPING_OLD);
}

/* STOPPING: a rollover retires it (its exit is then a kill point). */
static void
act_mark_old(struct worker *w, const struct worker_input *in)
{
	(void)in;
	w->st = WS_STOPPING_OLD;
}

/* Ready phase: retired now when idle, after its request when busy. */
static void
act_retire_ready(struct worker *w, const struct worker_input *in)
{
	(void)in;
	if (w->req == NULL)
		worker_stop(w, WS_STOPPING_OLD);
	else if (w->st == WS_READY || w->st == WS_MEM_RETIRING)
		w->st = WS_RETIRING;   /* the rollover's: no replacement in this slot */
}

/* STOPPING_MEM: the pool stops; no replacement then. */
static void
act_mark_stopping(struct worker *w, const struct worker_input *in)
{
	(void)in;
	w->st = WS_STOPPING;
}

/* ---- the table ------------------------------------------------------------ */

#define N act_none
static worker_action *const actions[WS_NSTATES][WE_NEVENTS] = {
	/*                 START     READY_MSG  RESULT_MSG      OTHER_MSG       KILL               EOF               TIMER                SCAN_TIMEOUT      EXIT               STOP               RETIRE            MEM_MSG */
	[WS_IDLE] =        { act_start, N,      N,              N,              N,                 N,                N,                   N,                N,                 act_to_idle,       act_to_idle,      N },
	[WS_WAITING] =     { act_start, N,      N,              N,              N,                 N,                N,                   N,                N,                 act_to_idle,       act_to_idle,      N },
	[WS_STARTING] =    { N, act_ready,      act_unexpected, act_unexpected, act_kill_starting, act_eof_starting, act_ready_timeout,   N,                act_exit_starting, act_stop,          act_stop_old,     act_unexpected },
	[WS_START_EOF] =   { N, N,              N,              N,              act_kill_starting, N,                act_eof_grace_over,  N,                act_exit_starting, act_stop,          act_stop_old,     N },
	[WS_START_KILLED] = { N, N,             N,              N,              act_kill_starting, N,                act_ready_timeout,   N,                act_exit_starting, act_stop,          act_stop_old,     N },
	[WS_READY] =       { N, act_unexpected, act_result,     act_unexpected, act_kill_ready,    act_eof_ready,    N,                   act_scan_timeout, act_exit_crash,    act_stop,          act_retire_ready, act_mem },
	[WS_RETIRING] =    { N, act_unexpected, act_result,     act_unexpected, act_kill_ready,    act_eof_ready,    N,                   act_scan_timeout, act_exit_crash,    act_stop_old,      act_retire_ready, act_mem },
	[WS_MEM_RETIRING] = { N, act_unexpected, act_result,    act_unexpected, act_kill_ready,    act_eof_ready,    N,                   act_scan_timeout, act_exit_crash,    act_stop,          act_retire_ready, act_mem },
	[WS_READY_EOF] =   { N, N,              N,              N,              act_kill_ready,    N,                act_eof_grace_over,  act_scan_timeout, act_exit_crash,    act_stop,          act_retire_ready, N },
	[WS_KILLED] =      { N, N,              N,              N,              act_kill_ready,    N,                N,                   act_scan_timeout, act_exit_crash,    act_stop,          act_retire_ready, N },
	[WS_BACKOFF] =     { act_start, N,      N,              N,              N,                 N,                act_backoff_over,    N,                N,                 act_to_idle,       act_to_idle,      N },
	[WS_STOPPING] =    { N, N,              N,              N,              act_kill_stopping, N,                act_stop_grace_over, N,                act_exit_stopped,  N,                 act_mark_old,     N },
	[WS_STOPPING_OLD] = { N, N,             N,              N,              act_kill_stopping, N,                act_stop_grace_over, N,                act_exit_stopped,  N,                 N,                N },
	[WS_STOPPING_MEM] = { N, N,             N,              N,              act_kill_stopping, N,                act_stop_grace_over, N,                act_exit_retired,  act_mark_stopping, act_mark_old,     N },
};
#undef N

void
worker_handle(struct worker *w, enum worker_event ev,
    const struct worker_input *in)
{
	static const struct worker_input none = { .why = "" };

	actions[w->st][ev](w, in != NULL ? in : &none);
}

void
worker_send_failed(struct worker *w, const char *why)
{
	struct worker_input in = { .why = why };

	worker_handle(w, WE_KILL, &in);
}

/* ---- the loop's watchers -> events ------------------------------------------ */

static void
worker_on_exit(struct ev_loop *loop, ev_child *c, int revents)
{
	struct worker *w = WORKER_OF(c, child);
	struct worker_input in = { .ws = c->rstatus };

	(void)revents;
	ev_child_stop(loop, c);
	worker_close(w);
	worker_scratch_wipe(w);
	poolmem_touch(w->d);   /* its pages' other holders' Pss rose */
	worker_handle(w, WE_EXIT, &in);
}

static void
worker_on_sock(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = WORKER_OF(io, sock_io);
	struct daemon *d = w->d;
	struct worker_input in = { .why = "malformed message" };
	struct buf r;
	uint16_t type;
	int fd = -1;
	ssize_t n;
	char why[96];

	(void)revents;
	n = wproto_recv(w->sock, d->pool.msg, WPROTO_MAX_MSG, &fd);
	if (fd >= 0)
		close(fd);   /* a worker never sends descriptors */
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n == -EMSGSIZE) {
		/* the kernel dropped the rest of the packet: nothing to trust */
		snprintf(why, sizeof(why), "oversized message (longer than %d bytes, or with descriptors)",
		    WPROTO_MAX_MSG);
		in.why = why;
		worker_handle(w, WE_KILL, &in);
		return;
	}
	if (n <= 0) {
		ev_io_stop(loop, io);
		worker_handle(w, WE_EOF, NULL);
		return;
	}
	if (wproto_open(d->pool.msg, (size_t)n, &type, &in.id, &r) != 0) {
		worker_handle(w, WE_KILL, &in);
		return;
	}
	in.r = &r;
	worker_handle(w, type == WPROTO_READY ? WE_READY_MSG :
	    type == WPROTO_RESULT ? WE_RESULT_MSG : type == WPROTO_MEM ?
	    WE_MEM_MSG : WE_OTHER_MSG, &in);
}

static void
worker_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	worker_handle(WORKER_OF(t, timer), WE_TIMER, NULL);
}

static void
worker_on_scan_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	worker_handle(WORKER_OF(t, scan_timer), WE_SCAN_TIMEOUT, NULL);
}

/* ---- SpareWorkers: a spare takes a slot (spares.c) ----------------------- */

/* Move from's running process (READY, idle) into the empty slot to. */
static void
worker_move(struct worker *to, struct worker *from)
{
	struct ev_loop *loop = to->d->loop;

	ev_child_stop(loop, &from->child);
	ev_io_stop(loop, &from->sock_io);
	ev_io_stop(loop, &from->log.io);
	ev_timer_stop(loop, &from->timer);
	ev_timer_stop(loop, &from->scan_timer);
	to->pid = from->pid;
	to->uid = from->uid;
	to->gid = from->gid;
	to->as_root = from->as_root;
	to->sock = from->sock;
	to->log.fd = from->log.fd;
	to->started_ms = from->started_ms;
	to->ready_ms = from->ready_ms;
	to->loader_pid = from->loader_pid;
	to->pre_collapse = from->pre_collapse;
	to->mem = from->mem;
	to->mem_ms = from->mem_ms;
	to->scans = 0;
	to->req = NULL;
	to->killed = WK_NONE;
	to->bad_ready[0] = '\0';
	to->defs_changed_ms = 0;
	memcpy(to->log.buf, from->log.buf, from->log.len);
	to->log.len = from->log.len;
	memcpy(to->log.last_line, from->log.last_line, sizeof(to->log.last_line));
	memcpy(to->defs, from->defs, sizeof(to->defs));
	memcpy(to->scratch, from->scratch, sizeof(to->scratch));
	to->st = WS_READY;
	ev_child_set(&to->child, to->pid, 0);
	ev_child_start(loop, &to->child);
	ev_io_set(&to->sock_io, to->sock, EV_READ);
	ev_io_start(loop, &to->sock_io);
	ev_io_set(&to->log.io, to->log.fd, EV_READ);
	ev_io_start(loop, &to->log.io);
	from->pid = -1;
	from->sock = from->log.fd = -1;
	from->scratch[0] = '\0';
	from->log.len = 0;
	from->st = WS_IDLE;
}

/* Was s forked from the current loader, and is that loader READY?  Only
 * such a spare may take a slot; any other is retired (spares.c). */
static bool
spare_of_current(const struct worker *s)
{
	return s->pid > 0 && s->loader_pid > 0 && loader_ready(s->d) &&
	    s->loader_pid == loader_current_pid(s->d);
}

/* A READY, idle spare of the current, READY loader, or NULL (none, or
 * the pool is paused or stopping). */
static struct worker *
worker_spare_ready(struct daemon *d)
{
	struct pool *p = &d->pool;

	if (p->paused || d->stopping)
		return NULL;
	for (unsigned i = POOL_SLOTS(p); i < POOL_ALL(p); i++) {
		struct worker *s = &p->w[i];

		if (s->st == WS_READY && s->req == NULL && spare_of_current(s))
			return s;
	}
	return NULL;
}

/*
 * w's worker died or was retired: the spare s (worker_spare_ready) takes
 * its slot now, a worker_ready event for the slot with `spare` true and
 * `start_ms` 0, and a new spare is forked after refill_ms (the slot's
 * backoff: a crash loop forks no faster than without spares).
 */
static void
worker_take_spare(struct worker *w, struct worker *s, uint64_t refill_ms)
{
	struct daemon *d = w->d;
	struct event ev;
	int64_t now = walltime_now_ms();

	worker_move(w, s);
	events_begin(&ev, EVENT_WORKER_READY, now);
	events_add_int(&ev, "pid", w->pid);
	events_add_int(&ev, "worker", w->slot);
	events_add_int(&ev, "uid", w->uid);
	events_add_int(&ev, "start_ms", 0);
	events_add_bool(&ev, "spare", true);
	events_add_str(&ev, "definitions", w->defs);
	daemon_event(d, &ev);
	dlog(&d->log, DLOG_INFO, "worker %u: spare %u (pid %d) took the slot; a new spare is forked in %.3f s",
	    w->slot, s->slot, (int)w->pid, ms_to_s(refill_ms));
	worker_schedule(s, refill_ms);
	poolmem_touch(d);
	d->pool.hooks.changed(w, WN_READY);
}

void
worker_init(struct worker *w, struct daemon *d, unsigned slot)
{
	w->d = d;
	w->slot = slot;
	w->st = WS_IDLE;
	w->pid = -1;
	w->sock = -1;
	w->log.fd = -1;
	w->loader_pid = -1;
	w->delay_ms = d->cfg.restart_delay_min_ms;
	ev_init(&w->timer, worker_on_timer);
	ev_init(&w->scan_timer, worker_on_scan_timer);
	ev_init(&w->sock_io, worker_on_sock);
	ev_init(&w->log.io, worker_on_log);
	ev_child_init(&w->child, worker_on_exit, 0, 0);
}

/* ---- huge pages: replacing the workers forked before the collapse --------- */

/* w was forked before its loader's COLLAPSED: the worker_retired event
 * (reason huge_pages) and the log line; replaced as WorkerMemoryLimit's. */
static void
worker_refork_retire(struct worker *w)
{
	struct daemon *d = w->d;
	struct event ev;

	dlog(&d->log, DLOG_INFO, "%s %u (pid %d) was forked before the loader's engine was collapsed into huge pages: retired %s, replaced by a fork of it",
	    spare_is(w) ? "spare worker" : "worker", w->slot, (int)w->pid,
	    w->req != NULL ? "after its request" : "now");
	events_begin(&ev, EVENT_WORKER_RETIRED, walltime_now_ms());
	events_add_int(&ev, "pid", w->pid);
	events_add_int(&ev, "worker", w->slot);
	events_add_str(&ev, "reason", "huge_pages");
	events_add_int(&ev, "loader_pid", w->loader_pid);
	events_add_int(&ev, "scans", (int64_t)w->scans);
	if (spare_is(w))
		events_add_bool(&ev, "spare", true);
	daemon_event(d, &ev);
	w->retire_reason = "huge_pages";
	if (w->req == NULL)
		worker_stop(w, WS_STOPPING_MEM);
	else
		w->st = WS_MEM_RETIRING;
}

/* Whether w holds up the next re-fork: one is retiring or starting. */
static bool
worker_refork_busy(const struct worker *w)
{
	return w->st == WS_MEM_RETIRING || w->st == WS_STOPPING_MEM ||
	    worker_phase(w) == WORKER_STARTING;
}

/*
 * One at a time: nothing happens while a worker of this loader retires or
 * starts; then the first READY one forked before COLLAPSED is retired
 * (after its request).  Spares first, so that no old spare takes the slot
 * of a retired worker.
 */
void
worker_refork_next(struct daemon *d)
{
	struct pool *p = &d->pool;
	pid_t lp = loader_current_pid(d);
	struct worker *pick = NULL;

	if (!loader_collapsed(d) || lp <= 0 || d->stopping || p->rolling)
		return;
	for (unsigned k = 0; k < POOL_ALL(p); k++) {
		/* the spares, then the current slots */
		unsigned i = k < POOL_ALL(p) - POOL_SLOTS(p) ? POOL_SLOTS(p) + k :
		    k - (POOL_ALL(p) - POOL_SLOTS(p));
		struct worker *w = &p->w[i];

		if (w->pid <= 0 || w->loader_pid != lp ||
		    (!spare_is(w) && !worker_is_current(w)))
			continue;
		if (worker_refork_busy(w))
			return;
		if (pick == NULL && w->pre_collapse && w->st == WS_READY)
			pick = w;
	}
	if (pick != NULL)
		worker_refork_retire(pick);
}
