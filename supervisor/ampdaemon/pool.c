/*
 * The worker pool: each slot runs one ampscansvc through the state machine
 *
 *   IDLE/WAITING -> STARTING -(READY)-> READY -(exit)-> BACKOFF -> STARTING
 *                       |                                  ^
 *                       +--(exit, READY timeout)-----------+   (fault 7)
 *   any running state -(pool_stop)-> STOPPING -(exit)-> IDLE
 *
 * and the router: scan requests go to an idle READY worker or wait in a
 * bounded queue.  Faults decided here: 2 (the worker's protocol or
 * version), 5 (the account), 6 (crashes), 7 (start failures).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "account.h"
#include "daemon.h"
#include "spawn.h"

#ifndef AMPSCAN_VERSION
#define AMPSCAN_VERSION "0.0.0"
#endif

#define WORKER_OF(ptr, member) \
	((struct worker *)((char *)(ptr) - offsetof(struct worker, member)))

static void worker_try_start(struct worker *w);
static void pool_dispatch(struct daemon *d);
static void worker_retire(struct worker *w);
static void worker_sock_closed(struct worker *w);
static void roll_check(struct daemon *d);

/* Whether w is one of the N current slots (not a rollover's old half). */
static bool
worker_is_current(const struct worker *w)
{
	const struct pool *p = &w->d->pool;
	unsigned i = (unsigned)(w - p->w);

	return i >= p->base && i < p->base + p->n;
}

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

static double
ms_to_s(uint64_t ms)
{
	return (double)ms / 1000.0;
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
worker_log_line(struct worker *w, const char *s, size_t len)
{
	char line[POOL_LOG_LINE_MAX + 128], when[WALLTIME_LEN];
	int n;

	while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	if (len == 0)
		return;
	walltime_format(walltime_now_ms(), when);
	n = snprintf(line, sizeof(line), "%s ampscansvc[%d]: %.*s\n", when,
	    (int)w->pid, (int)len, s);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (w->d->svclog.fd >= 0 && write(w->d->svclog.fd, line, (size_t)n) != n)
		w->d->svclog.failures++;
	if (w->d->foreground) {
		ssize_t r = write(STDERR_FILENO, line, (size_t)n);

		(void)r;
	}
	snprintf(w->last_line, sizeof(w->last_line), "%.*s", (int)len, s);
}

/* Read what the worker wrote; returns false at EOF or error. */
static bool
worker_log_read(struct worker *w)
{
	char buf[4096];
	ssize_t n;
	size_t i, start;

	for (;;) {
		n = read(w->log_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			break;
		for (i = 0, start = 0; i < (size_t)n; i++) {
			if (buf[i] != '\n' && w->loglen + (i - start) <
			    sizeof(w->logbuf))
				continue;
			memcpy(w->logbuf + w->loglen, buf + start, i - start);
			w->loglen += i - start;
			worker_log_line(w, w->logbuf, w->loglen);
			w->loglen = 0;
			start = buf[i] == '\n' ? i + 1 : i;
		}
		memcpy(w->logbuf + w->loglen, buf + start, (size_t)n - start);
		w->loglen += (size_t)n - start;
	}
	if (w->loglen > 0)
		worker_log_line(w, w->logbuf, w->loglen);
	w->loglen = 0;
	return false;
}

static void
worker_on_log(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = WORKER_OF(io, log_io);

	(void)revents;
	if (!worker_log_read(w)) {
		ev_io_stop(loop, io);
		close(w->log_fd);
		w->log_fd = -1;
	}
}

/* ---- the clean-file cache (daemon.h) ------------------------------------ */

static size_t
cache_slot(const struct clean_key *k)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a over the fields */
	const uint64_t v[5] = { k->dev, k->ino, k->size, (uint64_t)k->mtime_ns,
	    (uint64_t)k->ctime_ns };

	for (size_t i = 0; i < 5; i++) {
		h ^= v[i];
		h *= 1099511628211ull;
		h ^= h >> 29;
	}
	return (size_t)(h & (POOL_CACHE_SLOTS - 1));
}

static bool
cache_key_of(int fd, struct clean_key *k)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink == 0)
		return false;   /* unlinked files: their inode may come back */
	k->dev = (uint64_t)st.st_dev;
	k->ino = (uint64_t)st.st_ino;
	k->size = (uint64_t)st.st_size;
	k->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	k->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	return true;
}

static bool
cache_has(const struct pool *p, const struct clean_key *k)
{
	return p->cache != NULL &&
	    memcmp(&p->cache[cache_slot(k)], k, sizeof(*k)) == 0;
}

static void
cache_put(struct pool *p, const struct clean_key *k)
{
	if (p->cache == NULL &&
	    (p->cache = calloc(POOL_CACHE_SLOTS, sizeof(*p->cache))) == NULL)
		return;   /* no cache: every file is scanned */
	p->cache[cache_slot(k)] = *k;
}

/* New definitions: nothing found clean before stays trusted. */
void
pool_cache_clear(struct daemon *d)
{
	free(d->pool.cache);
	d->pool.cache = NULL;
}

/* ---- requests ----------------------------------------------------------- */

static void
req_finish(struct daemon *d, struct scan_req *req,
    const struct wproto_result *res, const char *error)
{
	struct pool *p = &d->pool;

	p->scans_total++;
	if (res == NULL || res->verdict == WPROTO_ERROR)
		p->scan_errors_total++;
	else if (res->verdict == WPROTO_FOUND)
		p->detections_total++;
	metrics_touch(d);
	if (req->fd >= 0)
		close(req->fd);
	req->fd = -1;
	req->done(req, res, error);
}

static void
queue_push(struct pool *p, struct scan_req *req, bool front)
{
	req->next = NULL;
	if (front) {
		req->next = p->queue_head;
		p->queue_head = req;
		if (p->queue_tail == NULL)
			p->queue_tail = req;
	} else if (p->queue_tail != NULL) {
		p->queue_tail->next = req;
		p->queue_tail = req;
	} else {
		p->queue_head = p->queue_tail = req;
	}
	p->queued++;
}

static struct scan_req *
queue_pop(struct pool *p)
{
	struct scan_req *req = p->queue_head;

	if (req == NULL)
		return NULL;
	p->queue_head = req->next;
	if (p->queue_head == NULL)
		p->queue_tail = NULL;
	p->queued--;
	req->next = NULL;
	return req;
}

static bool
pool_has_ready(const struct daemon *d)
{
	unsigned i;

	for (i = 0; i < POOL_SLOTS(&d->pool); i++)
		if (d->pool.w[i].state == WORKER_READY && !d->pool.w[i].dead)
			return true;
	return false;
}

bool
pool_is_unavailable(const struct daemon *d)
{
	return fault_is_raised(&d->faults, FAULT_SCAN_START_FAILED) &&
	    !pool_has_ready(d);
}

static void
unavailable_text(const struct daemon *d, char *buf, size_t len)
{
	const struct fault_state *st = fault_state_of(&d->faults,
	    FAULT_SCAN_START_FAILED);

	snprintf(buf, len, "scan service unavailable (fault 7: %s)",
	    st != NULL && st->detail[0] ? st->detail : "failed to start");
}

/* Fault 7 with nobody READY: nothing queued may wait. */
static void
pool_fail_queue(struct daemon *d, const char *why)
{
	struct scan_req *req;

	while ((req = queue_pop(&d->pool)) != NULL)
		req_finish(d, req, NULL, why);
}

void
pool_drain(struct daemon *d, const char *why)
{
	pool_fail_queue(d, why);
}

/* ---- exits, crashes, faults ----------------------------------------------- */

/* Crashes by signal, for the metrics ("timeout", "exit N" too); the last
 * row, "other", takes what does not fit. */
static void
pool_count_crash(struct pool *p, const char *sig)
{
	size_t i;

	for (i = 0; i < p->ncrash_kinds; i++)
		if (strcmp(p->crash_kinds[i].sig, sig) == 0)
			break;
	if (i == p->ncrash_kinds) {
		if (p->ncrash_kinds < POOL_CRASH_KINDS_MAX - 1) {
			str_fmt(p->crash_kinds[i].sig, sizeof(p->crash_kinds[i].sig),
			    "%s", sig);
			p->ncrash_kinds++;
		} else {
			i = POOL_CRASH_KINDS_MAX - 1;
			if (p->ncrash_kinds < POOL_CRASH_KINDS_MAX) {
				str_fmt(p->crash_kinds[i].sig,
				    sizeof(p->crash_kinds[i].sig), "other");
				p->ncrash_kinds = POOL_CRASH_KINDS_MAX;
			}
		}
	}
	p->crash_kinds[i].count++;
	p->crashes_total++;
}

static void
crash_note(struct daemon *d, int64_t now, const char *sig, pid_t pid)
{
	struct crash_ring *r = &d->pool.crashes;
	size_t cap = CONFIG_THRESHOLD_MAX;
	size_t i, idx, n, inwin = 0, kinds = 0;
	int64_t oldest = now;
	char detail[FAULTS_DETAIL_MAX], names[8][16];
	unsigned counts[8] = { 0 };
	size_t k, off;

	r->when[r->head] = now;
	snprintf(r->sig[r->head], sizeof(r->sig[0]), "%s", sig);
	r->head = (r->head + 1) % cap;
	if (r->count < cap)
		r->count++;

	/* the crashes within CrashWindow, newest first */
	n = r->count;
	for (i = 0; i < n; i++) {
		idx = (r->head + cap - 1 - i) % cap;
		if (now - r->when[idx] > (int64_t)d->cfg.crash_window_ms)
			break;
		inwin++;
		oldest = r->when[idx];
		for (k = 0; k < kinds; k++)
			if (strcmp(names[k], r->sig[idx]) == 0)
				break;
		if (k == kinds && kinds < 8)
			snprintf(names[kinds++], sizeof(names[0]), "%s", r->sig[idx]);
		if (k < kinds)
			counts[k]++;
	}
	if (inwin < d->cfg.crash_threshold)
		return;
	off = (size_t)snprintf(detail, sizeof(detail), "%zu crashes in %.0f s (",
	    inwin, ms_to_s((uint64_t)(now - oldest)));
	for (k = 0; k < kinds && off < sizeof(detail); k++)
		off += (size_t)snprintf(detail + off, sizeof(detail) - off,
		    "%s%s x%u", k ? ", " : "", names[k], counts[k]);
	if (off < sizeof(detail))
		snprintf(detail + off, sizeof(detail) - off, ")");
	if (fault_raise(&d->faults, FAULT_SCAN_RESTARTING, detail, pid, now)) {
		int64_t deadline = d->started_ms + (int64_t)d->cfg.intervention_after_ms;

		if (now >= deadline)
			deadline = now + (int64_t)d->cfg.intervention_after_ms;
		ev_timer_stop(d->loop, &d->pool.intervention_timer);
		ev_timer_set(&d->pool.intervention_timer,
		    (double)(deadline - now) / 1000.0, 0.);
		ev_timer_start(d->loop, &d->pool.intervention_timer);
	}
}

static void
pool_on_stable(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = t->data;
	char detail[64];

	(void)loop;
	(void)revents;
	snprintf(detail, sizeof(detail), "no crash for %.0f s",
	    ms_to_s(d->cfg.stable_after_ms));
	if (fault_clear(&d->faults, FAULT_SCAN_RESTARTING, detail,
	    walltime_now_ms()))
		ev_timer_stop(d->loop, &d->pool.intervention_timer);
}

static void
pool_on_intervention(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = t->data;

	(void)loop;
	(void)revents;
	if (fault_mark_intervention(&d->faults, FAULT_SCAN_RESTARTING,
	    walltime_now_ms()))
		dlog(&d->log, DLOG_ERROR, "fault 6 still raised after %.0f s: "
		    "needs intervention; files suspected of crashing the scanner "
		    "are no longer scanned (see ampctl diag)",
		    ms_to_s(d->cfg.intervention_after_ms));
}

/* The file in flight on a worker that crashed. */
static void
crash_suspect(struct daemon *d, struct worker *w, int64_t now)
{
	struct scan_req *req = w->req;
	const struct poison_entry *pe = NULL;
	struct poison_id id;
	struct event ev;
	char err[512], msg[600];
	unsigned count;
	int rc;

	w->req = NULL;
	if (poison_id_from_fd(req->fd, &id, true, POOL_POISON_HASH_MAX, err,
	    sizeof(err)) != 0) {
		dlog(&d->log, DLOG_WARNING, "%s: cannot identify the file in flight: %s",
		    req->name, err);
		req_finish(d, req, NULL, "the scan service crashed while scanning this file");
		return;
	}
	rc = poison_note_crash(&d->poison, &id, req->name, now,
	    d->cfg.poison_threshold, &pe);
	if (rc < 0) {
		req_finish(d, req, NULL, "the scan service crashed while scanning this file");
		return;
	}
	count = (unsigned)rc;
	if (count >= d->cfg.poison_threshold && pe != NULL) {
		poison_event(&ev, pe, now);
		events_add_int(&ev, "pid", w->pid);
		daemon_event(d, &ev);
		if (poison_save(&d->poison, d->cfg.state_dir, err, sizeof(err)) != 0) {
			dlog(&d->log, DLOG_ERROR, "%s", err);
			daemon_state_retry(d);
		}
		snprintf(msg, sizeof(msg), "poison file: the scanner crashed %u times on it; it is not scanned again until it changes",
		    count);
		req_finish(d, req, NULL, msg);
		return;
	}
	if (poison_save(&d->poison, d->cfg.state_dir, err, sizeof(err)) != 0) {
		dlog(&d->log, DLOG_ERROR, "%s", err);
		daemon_state_retry(d);
	}
	if (req->attempts < 2 && !d->stopping) {
		dlog(&d->log, DLOG_WARNING, "%s: in flight when worker %u crashed (%u crash(es)); retrying once on another worker",
		    req->name, w->slot, count);
		queue_push(&d->pool, req, true);
		return;
	}
	req_finish(d, req, NULL, "the scan service crashed while scanning this file");
}

static void
worker_schedule(struct worker *w, uint64_t delay_ms)
{
	struct daemon *d = w->d;

	w->state = WORKER_BACKOFF;
	ev_timer_stop(d->loop, &w->timer);
	ev_timer_set(&w->timer, ms_to_s(delay_ms), 0.);
	ev_timer_start(d->loop, &w->timer);
}

static uint64_t
worker_next_delay(struct worker *w)
{
	uint64_t cur = w->delay_ms, max = w->d->cfg.restart_delay_max_ms;

	w->delay_ms = cur > max / 2 ? max : cur * 2;
	if (w->delay_ms < w->d->cfg.restart_delay_min_ms)
		w->delay_ms = w->d->cfg.restart_delay_min_ms;
	return cur;
}

static void
pool_check_stopped(struct daemon *d)
{
	unsigned i;
	void (*cb)(struct daemon *d);

	if (d->pool.all_stopped == NULL)
		return;
	for (i = 0; i < POOL_SLOTS(&d->pool); i++)
		if (d->pool.w[i].state != WORKER_IDLE)
			return;
	cb = d->pool.all_stopped;
	d->pool.all_stopped = NULL;
	cb(d);
}

/* "daily:27012 main:62": the set of a READY message. */
static void
definitions_text(const struct wproto_ready *r, char *out, size_t len)
{
	size_t off = 0, k;

	out[0] = '\0';
	for (k = 0; k < r->ndbs && off < len; k++)
		off += (size_t)snprintf(out + off, len - off, "%s%s:%u",
		    k ? " " : "", r->dbs[k].name, r->dbs[k].version);
}

static void
pool_add_definitions(struct event *ev, const struct wproto_ready *r)
{
	char defs[512];

	definitions_text(r, defs, sizeof(defs));
	events_add_str(ev, "definitions", defs);
}

static void
worker_record_exit(struct worker *w, int ws, const char *kind, int64_t now)
{
	struct daemon *d = w->d;
	struct event ev;
	const char *files[1];
	char err[512];

	files[0] = w->req != NULL ? w->req->name : NULL;
	events_worker_exited(&ev, now, w->pid, ws, now - w->started_ms, files,
	    files[0] != NULL ? 1 : 0);
	events_add_str(&ev, "kind", kind);
	events_add_int(&ev, "worker", w->slot);
	events_add_int(&ev, "uid", w->uid);
	if (w->scan_timed_out)
		events_add_bool(&ev, "scan_timeout", true);
	if (w->last_line[0] && strcmp(kind, "stopped") != 0)
		events_add_str(&ev, "last_stderr", w->last_line);
	if (strcmp(kind, "stopped") != 0) {
		/* the delay worker_next_delay() is about to choose (for diag) */
		uint64_t delay = w->delay_ms;

		if (strcmp(kind, "crash") == 0 && w->ready_ms > 0 &&
		    now - w->ready_ms >= (int64_t)d->cfg.stable_after_ms)
			delay = d->cfg.restart_delay_min_ms;
		events_add_int(&ev, "restart_delay_ms", (int64_t)delay);
	}
	/* which set a crash belongs to: the worker's own once it was READY
	 * (after a rollover the pool's last READY is another set) */
	if (w->ready_ms > 0 && w->defs[0] != '\0')
		events_add_str(&ev, "definitions", w->defs);
	else if (d->pool.have_ready)
		pool_add_definitions(&ev, &d->pool.ready);
	if (d->exits_open && exits_append(&d->exits, &ev, err, sizeof(err)) != 0) {
		dlog(&d->log, DLOG_ERROR, "%s", err);
		daemon_state_retry(d);   /* queued (or lost): written when there is room */
	}
	daemon_event(d, &ev);
}

static void
worker_start_failed(struct worker *w, const char *why, int64_t now)
{
	struct daemon *d = w->d;
	char detail[FAULTS_DETAIL_MAX], unavail[FAULTS_DETAIL_MAX + 64];
	uint64_t delay = worker_next_delay(w);

	snprintf(detail, sizeof(detail), "worker %u: %s", w->slot, why);
	dlog(&d->log, DLOG_ERROR, "worker %u could not start: %s; retrying in %.3f s",
	    w->slot, why, ms_to_s(delay));
	fault_raise(&d->faults, FAULT_SCAN_START_FAILED, detail, w->pid > 0 ?
	    w->pid : 0, now);
	d->pool.recovery_needed = true;
	if (pool_is_unavailable(d)) {
		unavailable_text(d, unavail, sizeof(unavail));
		pool_fail_queue(d, unavail);
	}
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
	if (w->log_fd >= 0) {
		ev_io_stop(loop, &w->log_io);
		worker_log_read(w);   /* it has exited: all it wrote is in the pipe */
		close(w->log_fd);
		w->log_fd = -1;
	}
}

static void
worker_on_exit(struct ev_loop *loop, ev_child *c, int revents)
{
	struct worker *w = WORKER_OF(c, child);
	struct daemon *d = w->d;
	int64_t now = walltime_now_ms();
	int ws = c->rstatus;
	enum worker_state was = w->state;
	char how[96], why[FAULTS_DETAIL_MAX], sig[16];
	uint64_t delay;

	(void)revents;
	ev_child_stop(loop, c);
	worker_close(w);
	wstatus_text(ws, how, sizeof(how));
	if (was == WORKER_STOPPING) {
		worker_record_exit(w, ws, "stopped", now);
		if (w->req != NULL) {
			struct scan_req *req = w->req;

			w->req = NULL;
			if (d->stopping)
				req_finish(d, req, NULL, "ampdaemon is stopping");
			else
				queue_push(&d->pool, req, true);
		}
		w->pid = -1;
		w->state = WORKER_IDLE;
		if (w->retiring) {
			w->retiring = false;
			daemon_kill_point(d, KP_ROLLOVER_RETIRED, false);
		}
		pool_check_stopped(d);
		roll_check(d);
		pool_dispatch(d);
		return;
	}
	if (was == WORKER_STARTING) {
		worker_record_exit(w, ws, "start_failure", now);
		if (w->ready_timed_out)
			snprintf(why, sizeof(why), "no READY within %.1f s",
			    ms_to_s(d->cfg.ready_timeout_ms));
		else if (w->bad_ready[0])
			snprintf(why, sizeof(why), "%s", w->bad_ready);
		else
			str_fmt(why, sizeof(why), "exited before READY (%s)%s%s",
			    how, w->last_line[0] ? ": " : "", w->last_line);
		worker_start_failed(w, why, now);
		return;
	}

	/* a crash: a READY worker died without being asked to */
	worker_record_exit(w, ws, "crash", now);
	if (WIFSIGNALED(ws))
		events_signal_name(WTERMSIG(ws), sig, sizeof(sig));
	else
		snprintf(sig, sizeof(sig), "exit %d", WEXITSTATUS(ws));
	if (w->scan_timed_out)
		snprintf(sig, sizeof(sig), "timeout");
	if (w->ready_ms > 0 && now - w->ready_ms >= (int64_t)d->cfg.stable_after_ms)
		w->delay_ms = d->cfg.restart_delay_min_ms;
	delay = worker_next_delay(w);
	dlog(&d->log, DLOG_WARNING, "worker %u (pid %d) crashed: %s after %.1f s%s%s; restarting in %.3f s",
	    w->slot, (int)w->pid, w->scan_timed_out ?
	    "killed, its scan outlived ScanTimeout," : how,
	    ms_to_s((uint64_t)(now - w->started_ms)),
	    w->req ? " while scanning " : "", w->req ? w->req->name : "",
	    ms_to_s(delay));
	w->restarts++;
	pool_count_crash(&d->pool, sig);
	crash_note(d, now, sig, w->pid);
	ev_timer_stop(d->loop, &d->pool.stable_timer);
	ev_timer_set(&d->pool.stable_timer, ms_to_s(d->cfg.stable_after_ms), 0.);
	ev_timer_start(d->loop, &d->pool.stable_timer);
	if (w->req != NULL)
		crash_suspect(d, w, now);
	w->pid = -1;
	if (!worker_is_current(w)) {
		/* a rollover's old worker: its replacement is on the way */
		w->retiring = false;
		w->state = WORKER_IDLE;
		roll_check(d);
	} else {
		worker_schedule(w, delay);
	}
	pool_dispatch(d);
}

/* ---- messages from a worker -------------------------------------------- */

static void
worker_kill(struct worker *w, const char *why)
{
	if (w->pid > 0) {
		dlog(&w->d->log, DLOG_WARNING, "worker %u (pid %d): %s: killing it",
		    w->slot, (int)w->pid, why);
		kill(w->pid, SIGKILL);
	}
	w->dead = true;
	ev_io_stop(w->d->loop, &w->sock_io);
}

/*
 * EOF (or an error) on a worker's socket.  A worker that exits closes it
 * an instant before ev_child reports the exit; one that closed it and
 * runs on would keep its request until ScanTimeout, and its slot for
 * ever: killed once POOL_EOF_GRACE_MS have passed without its exit.
 */
static void
worker_sock_closed(struct worker *w)
{
	struct ev_loop *loop = w->d->loop;

	if (w->state == WORKER_STOPPING || w->dead || w->sock_eof)
		return;
	w->sock_eof = true;
	ev_timer_stop(loop, &w->timer);   /* STARTING: the READY timeout */
	ev_timer_set(&w->timer, ms_to_s(POOL_EOF_GRACE_MS), 0.);
	ev_timer_start(loop, &w->timer);
}

static void
worker_ready(struct worker *w, struct buf *r)
{
	struct daemon *d = w->d;
	struct wproto_ready *m = &d->pool.ready_tmp;
	struct event ev;
	char detail[FAULTS_DETAIL_MAX];
	int64_t now = walltime_now_ms();

	if (wproto_decode_ready(r, m) != 0) {
		snprintf(w->bad_ready, sizeof(w->bad_ready), "malformed READY message");
		worker_kill(w, w->bad_ready);
		return;
	}
	if (m->proto != WPROTO_VERSION || strcmp(m->version, AMPSCAN_VERSION) != 0) {
		str_fmt(detail, sizeof(detail), "ampscansvc %s speaks protocol %u; ampdaemon %s speaks %u (%s): the installation is damaged, reinstall",
		    m->version, m->proto, AMPSCAN_VERSION, WPROTO_VERSION,
		    d->scansvc);
		fault_raise(&d->faults, FAULT_VERSION_MISMATCH, detail, w->pid, now);
		snprintf(w->bad_ready, sizeof(w->bad_ready), "version mismatch (fault 2)");
		worker_kill(w, w->bad_ready);
		return;
	}
	ev_timer_stop(d->loop, &w->timer);
	w->state = WORKER_READY;
	w->ready_ms = now;
	d->pool.ready = *m;
	d->pool.have_ready = true;
	definitions_text(m, w->defs, sizeof(w->defs));
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
		d->pool.defs_delay_ms = 0;
	d->pool.recovery_needed = false;
	d->pool.rolled_back = false;
	if (d->pool.rolling && worker_is_current(w)) {
		struct pool *p = &d->pool;
		unsigned i = (unsigned)(w - p->w) - p->base;

		daemon_kill_point(d, KP_ROLLOVER_READY, false);
		worker_retire(&p->w[p->old_base + i]);
	}
	pool_dispatch(d);
	roll_check(d);
}

static void
worker_result(struct worker *w, struct buf *r, uint64_t id)
{
	struct daemon *d = w->d;
	struct scan_req *req = w->req;

	if (req == NULL || req->id != id ||
	    wproto_decode_result(r, id, d->pool.res) != 0) {
		worker_kill(w, "unexpected or malformed RESULT");
		return;
	}
	ev_timer_stop(d->loop, &w->scan_timer);
	w->req = NULL;
	w->scans++;
	if (req->have_key && d->pool.res->verdict == WPROTO_CLEAN &&
	    d->pool.res->note[0] == '\0' && worker_is_current(w))
		cache_put(&d->pool, &req->key);
	req_finish(d, req, d->pool.res, NULL);
	if (w->retiring)
		worker_retire(w);
	pool_dispatch(d);
}

static void
worker_on_sock(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = WORKER_OF(io, sock_io);
	struct daemon *d = w->d;
	struct buf r;
	uint16_t type;
	uint64_t id;
	int fd = -1;
	ssize_t n;

	(void)revents;
	n = wproto_recv(w->sock, d->pool.msg, WPROTO_MAX_MSG, &fd);
	if (fd >= 0)
		close(fd);   /* a worker never sends descriptors */
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n == -EMSGSIZE) {
		/* the kernel dropped the rest of the packet: nothing to trust */
		char why[96];

		snprintf(why, sizeof(why), "oversized message (longer than %d bytes, or with descriptors)",
		    WPROTO_MAX_MSG);
		worker_kill(w, why);
		return;
	}
	if (n <= 0) {
		ev_io_stop(loop, io);
		worker_sock_closed(w);
		return;
	}
	if (wproto_open(d->pool.msg, (size_t)n, &type, &id, &r) != 0) {
		worker_kill(w, "malformed message");
		return;
	}
	if (w->state == WORKER_STARTING && type == WPROTO_READY)
		worker_ready(w, &r);
	else if (w->state == WORKER_READY && type == WPROTO_RESULT)
		worker_result(w, &r, id);
	else if (w->state != WORKER_STOPPING)
		worker_kill(w, "unexpected message");
}

/* ---- timers ---------------------------------------------------------------- */

static void
worker_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = WORKER_OF(t, timer);

	(void)loop;
	(void)revents;
	if (w->sock_eof && (w->state == WORKER_STARTING ||
	    w->state == WORKER_READY)) {
		if (w->state == WORKER_STARTING)
			snprintf(w->bad_ready, sizeof(w->bad_ready),
			    "closed its socket before READY");
		worker_kill(w, "closed its socket but did not exit");
		return;
	}
	switch (w->state) {
	case WORKER_BACKOFF:
		worker_try_start(w);
		break;
	case WORKER_STARTING:
		w->ready_timed_out = true;
		worker_kill(w, "no READY in time");
		break;
	case WORKER_STOPPING:
		if (w->pid > 0)
			kill(w->pid, SIGKILL);
		break;
	default:
		break;
	}
}

static void
worker_on_scan_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = WORKER_OF(t, scan_timer);
	char why[POOL_SCAN_NAME_MAX + 64];

	(void)loop;
	(void)revents;
	if (w->state != WORKER_READY || w->req == NULL)
		return;
	w->scan_timed_out = true;
	snprintf(why, sizeof(why), "scan of %s outlived ScanTimeout (%.1f s)",
	    w->req->name, ms_to_s(w->d->cfg.scan_timeout_ms));
	worker_kill(w, why);
}

/* ---- starting ---------------------------------------------------------------- */

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
	char *end;
	unsigned i;
	void (*cb)(struct daemon *, int, const char *) = d->pool.account_done;

	(void)len;
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && out[0] != '\0') {
		rc = strtol(out, &end, 10);
		if (*end == ' ')
			end++;
		snprintf(reason, sizeof(reason), "%s", end);
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
	for (i = 0; i < POOL_SLOTS(&d->pool); i++)
		if (d->pool.w[i].state == WORKER_WAITING)
			worker_try_start(&d->pool.w[i]);
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

static int
worker_spawn(struct worker *w, const struct account *acct, bool as_root,
    char *err, size_t errlen)
{
	struct daemon *d = w->d;
	char fsz[32], ssz[32], rec[16], files[16], idx[8], sockfd[8];
	char *argv[SPAWN_ARGV_MAX];
	struct spawn_req req = { .argv = argv, .as_root = as_root,
	    .as_self = geteuid() != 0,
	    .uid = as_root ? 0 : acct->uid, .gid = as_root ? 0 : acct->gid,
	    .index_fd = d->index_fd, .core_dumps = d->cfg.core_dumps };
	struct spawn_result res;
	int sv[2], n = 0, rc;

	snprintf(fsz, sizeof(fsz), "%llu", (unsigned long long)d->cfg.max_file_size);
	snprintf(ssz, sizeof(ssz), "%llu", (unsigned long long)d->cfg.max_scan_size);
	snprintf(rec, sizeof(rec), "%u", d->cfg.max_recursion);
	snprintf(files, sizeof(files), "%u", d->cfg.max_files);
	snprintf(idx, sizeof(idx), "%d", SPAWN_INDEX_FD);
	snprintf(sockfd, sizeof(sockfd), "%d", SPAWN_SOCK_FD);
	argv[n++] = d->scansvc;
	argv[n++] = (char *)"--worker";
	argv[n++] = (char *)"--index-fd";
	argv[n++] = idx;
	argv[n++] = (char *)"--index-verified";   /* defstask.c checked it */
	argv[n++] = (char *)"--sock-fd";
	argv[n++] = sockfd;
	argv[n++] = (char *)"--max-file-size";
	argv[n++] = fsz;
	argv[n++] = (char *)"--max-scan-size";
	argv[n++] = ssz;
	argv[n++] = (char *)"--max-recursion";
	argv[n++] = rec;
	argv[n++] = (char *)"--max-files";
	argv[n++] = files;
	if (as_root)
		argv[n++] = (char *)"--allow-root";
	argv[n] = NULL;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	req.sock_fd = sv[1];
	rc = spawn_worker(&req, &res, err, errlen);
	close(sv[1]);
	if (rc != SPAWN_OK) {
		close(sv[0]);
		return -1;
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	w->sock = sv[0];
	w->log_fd = res.log_fd;
	w->pid = res.pid;
	w->uid = req.uid;
	w->gid = req.gid;
	w->as_root = as_root;
	return 0;
}

static void
worker_try_start(struct worker *w)
{
	struct daemon *d = w->d;
	struct account acct;
	struct event ev;
	bool as_root = false;
	char err[1024];
	int64_t now;

	w->state = WORKER_WAITING;
	if (d->pool.paused || d->stopping)
		return;
	if (d->pool.recovery_needed && !task_is_running(&d->defs_task)) {
		d->pool.recovery_needed = false;
		d->pool.defs_ready = false;
		defs_check_start(d, !d->pool.rolled_back);
	}
	if (!d->pool.defs_ready || task_is_running(&d->defs_task))
		return;
	if (!worker_account(w, &acct, &as_root))
		return;
	now = walltime_now_ms();
	w->started_ms = now;
	w->ready_ms = 0;
	w->req = NULL;
	w->scan_timed_out = false;
	w->ready_timed_out = false;
	w->bad_ready[0] = '\0';
	w->dead = false;
	w->sock_eof = false;
	w->last_line[0] = '\0';
	w->loglen = 0;
	w->uid = as_root ? 0 : acct.uid;
	if (worker_spawn(w, &acct, as_root, err, sizeof(err)) != 0) {
		w->pid = -1;
		worker_start_failed(w, err, now);
		return;
	}
	w->state = WORKER_STARTING;
	ev_child_set(&w->child, w->pid, 0);
	ev_child_start(d->loop, &w->child);
	ev_io_set(&w->sock_io, w->sock, EV_READ);
	ev_io_start(d->loop, &w->sock_io);
	ev_io_set(&w->log_io, w->log_fd, EV_READ);
	ev_io_start(d->loop, &w->log_io);
	ev_timer_stop(d->loop, &w->timer);
	ev_timer_set(&w->timer, ms_to_s(d->cfg.ready_timeout_ms), 0.);
	ev_timer_start(d->loop, &w->timer);
	events_begin(&ev, EVENT_WORKER_STARTED, now);
	events_add_int(&ev, "pid", w->pid);
	events_add_int(&ev, "worker", w->slot);
	events_add_int(&ev, "uid", w->uid);
	events_add_bool(&ev, "as_root", as_root);
	daemon_event(d, &ev);
	if (!as_root && geteuid() == 0)
		fault_clear(&d->faults, FAULT_SCAN_USER_UNAVAILABLE, "workers run as the scan user again", now);
}

/* ---- the router -------------------------------------------------------- */

static struct worker *
pool_idle_worker(struct daemon *d)
{
	struct pool *p = &d->pool;
	unsigned i, k;

	for (k = 0; k < POOL_SLOTS(p); k++) {
		i = (p->rr + k) % POOL_SLOTS(p);
		if (p->w[i].state == WORKER_READY && p->w[i].req == NULL &&
		    !p->w[i].dead && !p->w[i].sock_eof && !p->w[i].retiring) {
			p->rr = (i + 1) % POOL_SLOTS(p);
			return &p->w[i];
		}
	}
	return NULL;
}

static void
pool_dispatch(struct daemon *d)
{
	struct worker *w;
	struct scan_req *req;
	struct wproto_scan m;
	char unavail[FAULTS_DETAIL_MAX + 64];

	if (pool_is_unavailable(d)) {
		unavailable_text(d, unavail, sizeof(unavail));
		pool_fail_queue(d, unavail);
		return;
	}
	while (d->pool.queue_head != NULL && (w = pool_idle_worker(d)) != NULL) {
		req = queue_pop(&d->pool);
		memset(&m, 0, sizeof(m));
		m.id = req->id;
		m.flags = req->flags;
		snprintf(m.name, sizeof(m.name), "%s", req->name);
		if (wproto_encode_scan(&d->pool.out, &m) != 0 ||
		    wproto_send(w->sock, &d->pool.out, req->fd) != 0) {
			queue_push(&d->pool, req, true);
			worker_kill(w, "cannot send a request");
			continue;
		}
		req->attempts++;
		w->req = req;
		ev_timer_stop(d->loop, &w->scan_timer);
		ev_timer_set(&w->scan_timer, ms_to_s(d->cfg.scan_timeout_ms), 0.);
		ev_timer_start(d->loop, &w->scan_timer);
	}
}

void
pool_submit(struct daemon *d, struct scan_req *req)
{
	const struct poison_entry *pe = NULL;
	char msg[FAULTS_DETAIL_MAX + 128];
	int st;

	req->id = ++d->pool.next_id;
	req->attempts = 0;
	req->next = NULL;
	if (d->stopping) {
		req_finish(d, req, NULL, "ampdaemon is stopping");
		return;
	}
	st = poison_check(&d->poison, req->fd, &pe, msg, sizeof(msg));
	if (st < 0)
		dlog(&d->log, DLOG_WARNING, "%s: poison check: %s", req->name, msg);
	if (d->poison.dirty && poison_save(&d->poison, d->cfg.state_dir, msg,
	    sizeof(msg)) != 0) {   /* a changed file left the list */
		dlog(&d->log, DLOG_ERROR, "%s", msg);
		daemon_state_retry(d);
	}
	if (st == POISON_POISON) {
		snprintf(msg, sizeof(msg), "poison file: the scanner crashed %u times on it; it is not scanned again until it changes",
		    pe != NULL ? pe->crashes : d->cfg.poison_threshold);
		req_finish(d, req, NULL, msg);
		return;
	}
	if (st == POISON_SUSPECT &&
	    fault_needs_intervention(&d->faults, FAULT_SCAN_RESTARTING)) {
		req_finish(d, req, NULL, "skipped: suspected of crashing the scanner while fault 6 needs intervention");
		return;
	}
	if (pool_is_unavailable(d)) {
		unavailable_text(d, msg, sizeof(msg));
		req_finish(d, req, NULL, msg);
		return;
	}
	req->have_key = !req->no_cache && st == POISON_CLEAN &&
	    cache_key_of(req->fd, &req->key);
	if (req->have_key && cache_has(&d->pool, &req->key)) {
		/* unchanged since a worker found it clean with these definitions */
		struct wproto_result *res = d->pool.res;

		d->pool.cache_hits++;
		res->id = req->id;
		res->verdict = WPROTO_CLEAN;
		res->nnames = 0;
		res->note[0] = '\0';
		req_finish(d, req, res, NULL);
		return;
	}
	d->pool.cache_misses++;
	if (d->pool.queued >= POOL_QUEUE_MAX) {
		req_finish(d, req, NULL, "scan queue full: try again later");
		return;
	}
	queue_push(&d->pool, req, false);
	pool_dispatch(d);
}

/* ---- the pool as a whole ---------------------------------------------- */

static void
pool_on_defs_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = t->data;

	(void)loop;
	(void)revents;
	if (d->pool.paused || d->stopping || task_is_running(&d->defs_task))
		return;
	d->pool.recovery_needed = false;
	defs_check_start(d, !d->pool.rolled_back);
}


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
	for (i = 0; i < POOL_SLOTS(p); i++) {
		struct worker *w = &p->w[i];

		w->d = d;
		w->slot = i + 1;
		w->state = WORKER_IDLE;
		w->pid = -1;
		w->sock = -1;
		w->log_fd = -1;
		w->delay_ms = d->cfg.restart_delay_min_ms;
		ev_init(&w->timer, worker_on_timer);
		ev_init(&w->scan_timer, worker_on_scan_timer);
		ev_init(&w->sock_io, worker_on_sock);
		ev_init(&w->log_io, worker_on_log);
		ev_child_init(&w->child, worker_on_exit, 0, 0);
	}
	ev_init(&p->stable_timer, pool_on_stable);
	p->stable_timer.data = d;
	ev_init(&p->intervention_timer, pool_on_intervention);
	p->intervention_timer.data = d;
	ev_init(&p->defs_retry, pool_on_defs_retry);
	p->defs_retry.data = d;
	return 0;
}

void
pool_free(struct daemon *d)
{
	pool_cache_clear(d);
	free(d->pool.res);
	free(d->pool.msg);
	d->pool.res = NULL;
	d->pool.msg = NULL;
}

void
pool_start(struct daemon *d)
{
	unsigned i;
	int64_t now = walltime_now_ms(), deadline;

	d->pool.paused = false;
	/* faults carried over from before a restart are re-evaluated */
	if (fault_is_raised(&d->faults, FAULT_SCAN_RESTARTING) &&
	    !ev_is_active(&d->pool.stable_timer)) {
		ev_timer_set(&d->pool.stable_timer, ms_to_s(d->cfg.stable_after_ms), 0.);
		ev_timer_start(d->loop, &d->pool.stable_timer);
		deadline = d->started_ms + (int64_t)d->cfg.intervention_after_ms;
		ev_timer_set(&d->pool.intervention_timer,
		    deadline > now ? (double)(deadline - now) / 1000.0 : 0., 0.);
		ev_timer_start(d->loop, &d->pool.intervention_timer);
	}
	for (i = d->pool.base; i < d->pool.base + d->pool.n; i++)
		if (d->pool.w[i].state == WORKER_IDLE ||
		    d->pool.w[i].state == WORKER_WAITING)
			worker_try_start(&d->pool.w[i]);
}

void
pool_defs_done(struct daemon *d, bool ok, const char *error)
{
	char detail[FAULTS_DETAIL_MAX];
	uint64_t delay;
	unsigned i;

	d->pool.defs_checked = true;
	if (!ok) {
		/* nothing can start: fault 7 now, the next check backs off */
		delay = d->pool.defs_delay_ms ? d->pool.defs_delay_ms :
		    d->cfg.restart_delay_min_ms;
		d->pool.defs_delay_ms = delay > d->cfg.restart_delay_max_ms / 2 ?
		    d->cfg.restart_delay_max_ms : delay * 2;
		snprintf(detail, sizeof(detail), "%s", error);
		fault_raise(&d->faults, FAULT_SCAN_START_FAILED, detail, 0,
		    walltime_now_ms());
		dlog(&d->log, DLOG_ERROR, "definitions: %s; checking again in %.3f s",
		    error, ms_to_s(delay));
		if (pool_is_unavailable(d)) {
			char unavail[FAULTS_DETAIL_MAX + 64];

			unavailable_text(d, unavail, sizeof(unavail));
			pool_fail_queue(d, unavail);
		}
		d->pool.recovery_needed = true;
		ev_timer_stop(d->loop, &d->pool.defs_retry);
		ev_timer_set(&d->pool.defs_retry, ms_to_s(delay), 0.);
		ev_timer_start(d->loop, &d->pool.defs_retry);
		update_defs_done(d, false, error);
		return;
	}
	d->pool.defs_ready = true;
	pool_cache_clear(d);   /* the definitions may have changed */
	if (!d->pool.paused && !d->stopping)
		for (i = 0; i < POOL_SLOTS(&d->pool); i++)
			if (d->pool.w[i].state == WORKER_WAITING)
				worker_try_start(&d->pool.w[i]);
	update_defs_done(d, true, NULL);
}

/* Ask w to exit: EOF on its socket, SIGTERM, SIGKILL after the grace. */
static void
worker_stop(struct worker *w)
{
	struct daemon *d = w->d;

	w->state = WORKER_STOPPING;
	ev_timer_stop(d->loop, &w->scan_timer);
	ev_io_stop(d->loop, &w->sock_io);
	shutdown(w->sock, SHUT_RDWR);   /* EOF: it exits 0 */
	kill(w->pid, SIGTERM);
	ev_timer_stop(d->loop, &w->timer);
	ev_timer_set(&w->timer, ms_to_s(DAEMON_STOP_GRACE_MS), 0.);
	ev_timer_start(d->loop, &w->timer);
}

/*
 * A rollover's old worker: gone at once when idle or not running, after
 * its request when busy (the router gives it nothing more meanwhile).
 */
static void
worker_retire(struct worker *w)
{
	w->retiring = true;
	switch (w->state) {
	case WORKER_READY:
		if (w->req == NULL)
			worker_stop(w);
		break;
	case WORKER_STARTING:
		worker_stop(w);
		break;
	case WORKER_STOPPING:
		break;
	default:
		ev_timer_stop(w->d->loop, &w->timer);
		w->state = WORKER_IDLE;
		w->retiring = false;
		break;
	}
}

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
			if (p->w[i].state != WORKER_READY)
				return;
		daemon_kill_point(d, KP_ROLLOVER_DONE, false);
		cb = p->roll_cb;
		p->roll_cb = NULL;
		dlog(&d->log, DLOG_INFO, "rollover: %u worker(s) READY on the new definitions%s",
		    p->n, p->roll_rolled_back ? " (rolled back to previous/)" : "");
		cb(d, p->roll_rolled_back ? POOL_ROLLED_BACK : POOL_ROLLED_OVER);
	}
	for (i = p->old_base; i < p->old_base + p->n; i++)
		if (p->w[i].state != WORKER_IDLE)
			return;
	p->rolling = false;
	if (p->roll_next != NULL) {
		cb = p->roll_next;
		p->roll_next = NULL;
		pool_rollover(d, cb);
	}
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
	p->rolled_back = false;   /* a new set: a rollback is allowed again */
	p->old_base = p->base;
	p->base = p->base ? 0 : p->n;
	pool_cache_clear(d);
	dlog(&d->log, DLOG_INFO, "rollover: starting %u worker(s) on the new definitions; the old ones serve until they are READY",
	    p->n);
	for (i = p->old_base; i < p->old_base + p->n; i++)
		if (p->w[i].state != WORKER_READY)
			worker_retire(&p->w[i]);
	for (i = p->base; i < p->base + p->n; i++) {
		struct worker *w = &p->w[i];

		ev_timer_stop(d->loop, &w->timer);
		w->retiring = false;
		w->delay_ms = d->cfg.restart_delay_min_ms;
		w->state = WORKER_WAITING;
		worker_try_start(w);
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
	ev_timer_stop(d->loop, &d->pool.defs_retry);
	for (i = 0; i < POOL_SLOTS(&d->pool); i++) {
		w = &d->pool.w[i];
		switch (w->state) {
		case WORKER_STARTING:
		case WORKER_READY:
			worker_stop(w);
			break;
		case WORKER_STOPPING:
			break;
		default:
			ev_timer_stop(d->loop, &w->timer);
			w->state = WORKER_IDLE;
			break;
		}
	}
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

