/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * WorkerLaunch loader (docs/loader.md): one `ampscansvc --loader` per
 * definitions set loads the engine once; workers are forked from it on
 * request (loader_fork), with CLONE_PARENT, so they are our children and
 * worker.c supervises them unchanged.  The loader is supervised here: its
 * READY within LoadTimeout, its exit recorded (exits.jsonl, kind
 * loader_*; a crash counts toward fault 6, a failed load is fault 7),
 * restarted with backoff.  When the definitions change, the loader is
 * retired (it exits at once; the workers forked from it serve on: they
 * no longer need it) and a new one loads the new set.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "account.h"
#include "defs.h"
#include "launch.h"
#include "procmem.h"
#include "pool_int.h"

#define LOADER_OF(ptr, member) \
	((struct loader *)((char *)(ptr) - offsetof(struct loader, member)))
#define LOADER_FORK_TIMEOUT_MS 5000   /* a clone and a reply: milliseconds */
#define LOADER_SLOT 0                 /* its scratch directory: worker-0-GEN */

static struct loader *
cur(struct daemon *d)
{
	return &d->pool.loaders.l[d->pool.loaders.cur];
}

static void
loader_timer(struct loader *l, uint64_t ms)
{
	ev_timer_stop(l->d->loop, &l->timer);
	ev_timer_set(&l->timer, ms_to_s(ms), 0.);
	ev_timer_start(l->d->loop, &l->timer);
}

/* ---- its stderr -> ampscansvc.log ---------------------------------------- */

static void
loader_on_log(struct ev_loop *loop, ev_io *io, int revents)
{
	struct loader *l = LOADER_OF(io, log.io);

	(void)loop;
	(void)revents;
	launch_log_on_read(l->d, l->pid, &l->log);
}

static void
loader_close(struct loader *l)
{
	struct ev_loop *loop = l->d->loop;

	ev_timer_stop(loop, &l->timer);
	ev_io_stop(loop, &l->sock_io);
	if (l->sock >= 0)
		close(l->sock);
	l->sock = -1;
	launch_log_drain(l->d, l->pid, &l->log);
}

static void
loader_kill(struct loader *l, const char *why)
{
	if (l->pid > 0) {
		dlog(&l->d->log, DLOG_WARNING, "loader (pid %d): %s: killing it",
		    (int)l->pid, why);
		kill(l->pid, SIGKILL);
	}
	l->killed = true;
	ev_io_stop(l->d->loop, &l->sock_io);
}

/* Ask it to exit: EOF on its socket (it exits 0), SIGTERM, SIGKILL later. */
static void
loader_retire(struct loader *l)
{
	if (l->pid <= 0) {
		ev_timer_stop(l->d->loop, &l->timer);
		l->st = LS_DOWN;
		return;
	}
	l->st = LS_STOPPING;
	ev_io_stop(l->d->loop, &l->sock_io);
	shutdown(l->sock, SHUT_RDWR);
	kill(l->pid, SIGTERM);
	loader_timer(l, DAEMON_STOP_GRACE_MS);
}

/* ---- its exit ------------------------------------------------------------ */

static void
loader_record_exit(struct loader *l, int ws, const char *kind, int64_t now)
{
	struct daemon *d = l->d;
	struct event ev;

	events_worker_exited(&ev, now, l->pid, ws, now - l->started_ms, NULL, 0);
	events_add_str(&ev, "kind", kind);
	events_add_bool(&ev, "loader", true);
	events_add_int(&ev, "worker", 0);
	events_add_int(&ev, "uid", l->uid);
	if (l->candidate)
		events_add_bool(&ev, "candidate", true);
	if (l->defs[0])
		events_add_str(&ev, "definitions", l->defs);
	if (l->log.last_line[0] && strcmp(kind, EXITS_KIND_LOADER_STOPPED) != 0)
		events_add_str(&ev, "last_stderr", l->log.last_line);
	/* exits.jsonl keeps its one kind of line (the crash history: diag
	 * reads it as worker_exited with "loader"); the event is the loader's */
	launch_exit_append(d, &ev);
	ev.type = EVENT_T_LOADER_EXITED;
	daemon_event(d, &ev);
}

static uint64_t
loader_next_delay(struct loader *l)
{
	return launch_next_delay(&l->d->cfg, &l->delay_ms);
}

/* "exit status 2", "SIGKILL": for the log and fault 7. */
static void
loader_status_text(int ws, char *sig, size_t len)
{
	char s[16];

	if (WIFSIGNALED(ws))
		snprintf(sig, len, "%s", events_signal_name(WTERMSIG(ws), s, sizeof(s)));
	else
		snprintf(sig, len, "exit %d", WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
}

/*
 * An update's candidate ended before it was adopted: before READY, the
 * set is not loadable (the update is rejected: the trial failed); after,
 * it crashed (the update's rollover starts a loader of its own).  Never
 * fault 6 or 7: nothing serves from it.
 */
static void
loader_candidate_exited(struct loader *l, int ws, const char *how, int64_t now)
{
	struct daemon *d = l->d;
	void (*done)(struct daemon *, bool, const char *) = l->cand_done;
	char why[FAULTS_DETAIL_MAX];
	bool before_ready = l->st == LS_STARTING;

	loader_record_exit(l, ws, before_ready ? EXITS_KIND_LOADER_START_FAILURE :
	    EXITS_KIND_LOADER_CRASH, now);
	str_fmt(why, sizeof(why), "%s%s%s", l->killed && WIFSIGNALED(ws) &&
	    before_ready ? "no READY within LoadTimeout" : how,
	    l->log.last_line[0] ? ": " : "", l->log.last_line);
	dlog(&d->log, before_ready ? DLOG_ERROR : DLOG_WARNING,
	    "the candidate's loader (pid %d) %s: %s", (int)l->pid,
	    before_ready ? "could not load the new set" : "exited", why);
	ev_timer_stop(d->loop, &l->timer);
	l->pid = -1;
	l->st = LS_DOWN;
	l->candidate = l->adopt = false;
	l->cand_done = NULL;
	if (before_ready && done != NULL)
		done(d, false, why);
	d->pool.hooks.loader_changed(d, false);
}

/*
 * The loader found no Landlock (WPROTO_EXIT_NO_LANDLOCK, before loading
 * anything): a loader has no other sandbox, so the pool's workers are
 * exec'd from now on, each with its own sandbox (Landlock, else its
 * private mount namespace, else it refuses: never unconfined).  Logged,
 * an event, `ampctl status`; not a fault.
 */
static void
loader_fall_back(struct loader *l, int ws, int64_t now)
{
	struct daemon *d = l->d;
	struct loaders *ls = &d->pool.loaders;
	struct event ev;

	loader_record_exit(l, ws, EXITS_KIND_LOADER_NO_LANDLOCK, now);
	ls->exec_fallback = true;
	str_fmt(ls->fallback_why, sizeof(ls->fallback_why), "%s",
	    l->log.last_line[0] ? l->log.last_line : "the loader found no Landlock");
	dlog(&d->log, DLOG_WARNING, "WorkerLaunch loader: the loader (pid %d) found no Landlock; the workers are exec'd instead, each in its own sandbox: %s",
	    (int)l->pid, ls->fallback_why);
	events_begin(&ev, EVENT_LOADER_FALLBACK, now);
	events_add_int(&ev, "pid", l->pid);
	events_add_str(&ev, "worker_launch", "exec");
	events_add_str(&ev, "reason", ls->fallback_why);
	daemon_event(d, &ev);
	ev_timer_stop(d->loop, &l->timer);
	l->pid = -1;
	l->st = LS_DOWN;
	d->pool.hooks.loader_changed(d, false);
}

static bool
loader_no_landlock(const struct loader *l, int ws)
{
	return l->st == LS_STARTING && !l->candidate && !l->killed &&
	    WIFEXITED(ws) && WEXITSTATUS(ws) == WPROTO_EXIT_NO_LANDLOCK;
}

static void
loader_exited(struct loader *l, int ws)
{
	struct daemon *d = l->d;
	int64_t now = walltime_now_ms();
	char how[32], detail[FAULTS_DETAIL_MAX];
	enum loader_state was = l->st;
	uint64_t delay;

	loader_status_text(ws, how, sizeof(how));
	if (loader_no_landlock(l, ws)) {
		loader_fall_back(l, ws, now);
		return;
	}
	if (l->candidate && was != LS_STOPPING) {
		loader_candidate_exited(l, ws, how, now);
		return;
	}
	if (l->early && was != LS_STOPPING) {
		/* the set may be what the check is about to repair */
		loader_record_exit(l, ws, EXITS_KIND_LOADER_EARLY, now);
		dlog(&d->log, DLOG_INFO, "the loader started beside the definitions check (pid %d) exited (%s%s%s) before the check ended; one starts after it",
		    (int)l->pid, how, l->log.last_line[0] ? ": " : "", l->log.last_line);
		ev_timer_stop(d->loop, &l->timer);
		l->early = false;
		l->pid = -1;
		l->st = LS_DOWN;
		d->pool.hooks.loader_changed(d, false);
		return;
	}
	if (was == LS_STOPPING) {
		loader_record_exit(l, ws, EXITS_KIND_LOADER_STOPPED, now);
		l->candidate = l->adopt = false;
		dlog(&d->log, DLOG_INFO, "loader (pid %d) exited (%s) as asked", (int)l->pid, how);
		l->st = LS_DOWN;
	} else if (was == LS_READY) {
		loader_record_exit(l, ws, EXITS_KIND_LOADER_CRASH, now);
		if (l->ready_ms > 0 && now - l->ready_ms >= (int64_t)d->cfg.stable_after_ms)
			l->delay_ms = d->cfg.restart_delay_min_ms;
		delay = loader_next_delay(l);
		dlog(&d->log, DLOG_WARNING, "loader (pid %d) crashed: %s; its workers serve on; a new loader in %.3f s",
		    (int)l->pid, how, ms_to_s(delay));
		crashes_note(d, now, how, l->pid);
		l->st = LS_BACKOFF;
		loader_timer(l, delay);
	} else {
		loader_record_exit(l, ws, EXITS_KIND_LOADER_START_FAILURE, now);
		delay = loader_next_delay(l);
		str_fmt(detail, sizeof(detail), "loader: %s%s%s", l->killed &&
		    WIFSIGNALED(ws) ? "no READY within LoadTimeout" : how,
		    l->log.last_line[0] ? ": " : "", l->log.last_line);
		dlog(&d->log, DLOG_ERROR, "the loader could not load: %s; retrying in %.3f s",
		    detail, ms_to_s(delay));
		fault_raise(&d->faults, FAULT_SCAN_START_FAILED, detail,
		    l->pid > 0 ? l->pid : 0, now);
		d->pool.recovery_needed = true;
		d->pool.hooks.unavailable(d);
		l->st = LS_BACKOFF;
		loader_timer(l, delay);
	}
	l->pid = -1;
	if (l != cur(d) && l->st == LS_BACKOFF) {
		ev_timer_stop(d->loop, &l->timer);   /* a retired one: not again */
		l->st = LS_DOWN;
	}
	d->pool.hooks.loader_changed(d, false);
}

static void
loader_on_exit(struct ev_loop *loop, ev_child *c, int revents)
{
	struct loader *l = LOADER_OF(c, child);

	(void)revents;
	ev_child_stop(loop, c);
	loader_close(l);
	launch_scratch_wipe(l->d, l->scratch, sizeof(l->scratch));
	loader_exited(l, c->rstatus);
}

/* ---- READY --------------------------------------------------------------- */

static void
loader_got_ready(struct loader *l, struct buf *r)
{
	struct daemon *d = l->d;
	struct wproto_ready *m = &d->pool.ready_tmp;
	int64_t now = walltime_now_ms();
	struct event ev;

	if (wproto_decode_ready(r, m) != 0 || m->proto != WPROTO_VERSION) {
		loader_kill(l, "malformed READY, or another protocol");
		return;
	}
	ev_timer_stop(d->loop, &l->timer);
	l->st = LS_READY;
	l->ready_ms = now;
	l->load_ms = (uint64_t)(now - l->started_ms);
	l->huge_bytes = m->huge_bytes;
	l->collapse_ms = m->collapse_ms;
	launch_defs_text(m, l->defs, sizeof(l->defs));
	d->pool.loaders.loads++;
	d->pool.loaders.last_load_ms = l->load_ms;
	dlog(&d->log, DLOG_INFO, "%s (pid %d) READY on %s after %.3f s (load %llu)",
	    l->candidate ? "the candidate's loader" : "loader", (int)l->pid,
	    l->defs, ms_to_s(l->load_ms), (unsigned long long)d->pool.loaders.loads);
	events_begin(&ev, EVENT_LOADER_READY, now);
	events_add_int(&ev, "pid", l->pid);
	events_add_int(&ev, "uid", l->uid);
	events_add_str(&ev, "definitions", l->defs);
	events_add_int(&ev, "load_ms", (int64_t)l->load_ms);
	events_add_bool(&ev, "candidate", l->candidate);
	daemon_event(d, &ev);
	(void)launch_mem_ask(d, l->sock);   /* one engine's memory, before any fork */
	if (l->candidate) {
		if (l->cand_done != NULL)
			l->cand_done(d, true, NULL);
		l->cand_done = NULL;
		return;
	}
	d->pool.hooks.loader_changed(d, true);
}

static void loader_collapse_decide(struct loader *l);

/* MEM (poolmem.c): its memory; the first is one engine's, alone. */
static void
loader_got_mem(struct loader *l, struct buf *r)
{
	if (launch_mem_got(r, &l->mem, &l->mem_ms) != 0) {
		loader_kill(l, "malformed MEM");
		return;
	}
	if (l->pss_at_ready == 0 && l->mem.err == 0)
		l->pss_at_ready = l->mem.pss;
	loader_collapse_decide(l);
}

void
loader_mem_ask(struct daemon *d)
{
	struct loader *l = cur(d);

	if (l->st == LS_READY && launch_mem_ask(d, l->sock) != 0)
		loader_kill(l, "cannot ask for its memory");
}

/* ---- huge pages, after READY (docs/loader.md, "Huge pages") -------------- */

/* Why not: the log line and the loader_collapse event (asked false). */
static void
loader_collapse_skip(struct loader *l, const char *why)
{
	struct event ev;

	dlog(&l->d->log, DLOG_INFO, "loader (pid %d): its engine is not collapsed into huge pages: %s",
	    (int)l->pid, why);
	events_begin(&ev, EVENT_LOADER_COLLAPSE, walltime_now_ms());
	events_add_int(&ev, "pid", l->pid);
	events_add_bool(&ev, "asked", false);
	events_add_str(&ev, "reason", why);
	daemon_event(l->d, &ev);
}

/*
 * The serving loader, READY and its memory known: collapse its engine
 * into huge pages (COLLAPSE) only if MemAvailable holds another engine,
 * since the workers forked before hold the 4 KiB pages until they are
 * replaced.  Decided once per loader.
 */
static void
loader_collapse_decide(struct loader *l)
{
	struct daemon *d = l->d;
	char why[256];
	uint64_t engine;
	int64_t avail;
	struct event ev;

	if (l->collapse_asked || l->st != LS_READY || l->candidate || l != cur(d) ||
	    !d->cfg.loader_huge_pages || l->mem_ms == 0)
		return;
	l->collapse_asked = true;
	engine = l->mem.err == 0 ? l->mem.rss : 0;
	avail = procmem_available();
	if (engine == 0 || avail < 0) {
		str_fmt(why, sizeof(why), "%s unknown", engine == 0 ?
		    "the loader's resident size is" : "MemAvailable is");
		loader_collapse_skip(l, why);
		return;
	}
	if ((uint64_t)avail < engine) {
		str_fmt(why, sizeof(why), "MemAvailable (%llu MiB) cannot hold a second engine (the loader holds %llu MiB) while the workers forked before it are replaced",
		    (unsigned long long)((uint64_t)avail >> 20),
		    (unsigned long long)(engine >> 20));
		loader_collapse_skip(l, why);
		return;
	}
	if (wproto_encode_collapse(&d->pool.out, ++d->pool.loaders.fork_id) != 0 ||
	    wproto_send(l->sock, &d->pool.out, -1) != 0) {
		loader_kill(l, "cannot send it COLLAPSE");
		return;
	}
	dlog(&d->log, DLOG_INFO, "loader (pid %d): collapsing its engine into huge pages while it serves (MemAvailable %llu MiB holds a second engine of %llu MiB)",
	    (int)l->pid, (unsigned long long)((uint64_t)avail >> 20),
	    (unsigned long long)(engine >> 20));
	events_begin(&ev, EVENT_LOADER_COLLAPSE, walltime_now_ms());
	events_add_int(&ev, "pid", l->pid);
	events_add_bool(&ev, "asked", true);
	events_add_int(&ev, "mem_available", avail);
	events_add_int(&ev, "engine_bytes", (int64_t)engine);
	daemon_event(d, &ev);
}

/*
 * COLLAPSED: the figures for status; the workers forked before are
 * replaced, one at a time (worker.c: worker_refork_next, via the hook;
 * not while a FORK waits for its answer: the worker it starts calls it
 * when READY).
 */
static void
loader_got_collapsed(struct loader *l, struct buf *r, bool notify)
{
	struct daemon *d = l->d;
	struct wproto_collapsed m;
	struct event ev;

	if (wproto_decode_collapsed(r, &m) != 0) {
		loader_kill(l, "malformed COLLAPSED");
		return;
	}
	l->huge_bytes = m.huge_bytes;
	l->collapse_ms = m.collapse_ms;
	l->collapsed = m.huge_bytes > 0;
	dlog(&d->log, DLOG_INFO, "loader (pid %d): huge pages: %s%s", (int)l->pid,
	    m.line, l->collapsed ? "; the workers forked before are replaced by forks of it, one at a time" : "");
	events_begin(&ev, EVENT_LOADER_COLLAPSED, walltime_now_ms());
	events_add_int(&ev, "pid", l->pid);
	events_add_int(&ev, "huge_bytes", (int64_t)m.huge_bytes);
	events_add_int(&ev, "eligible_bytes", (int64_t)m.eligible_bytes);
	events_add_int(&ev, "chunks_failed", m.chunks_failed);
	events_add_int(&ev, "collapse_ms", m.collapse_ms);
	events_add_bool(&ev, "refork", l->collapsed);
	daemon_event(d, &ev);
	if (notify && l->collapsed && l == cur(d))
		d->pool.hooks.loader_changed(d, true);
}

/* A message beside the requests: MEM or COLLAPSED; 1 handled, 0 not. */
static int
loader_side_msg(struct loader *l, uint16_t type, struct buf *r, bool notify)
{
	if (l->st != LS_READY)
		return 0;
	if (type == WPROTO_MEM)
		loader_got_mem(l, r);
	else if (type == WPROTO_COLLAPSED)
		loader_got_collapsed(l, r, notify);
	else
		return 0;
	return 1;
}

bool
loader_collapsed(const struct daemon *d)
{
	return d->pool.loaders.l[d->pool.loaders.cur].collapsed;
}

static void
loader_on_sock(struct ev_loop *loop, ev_io *io, int revents)
{
	struct loader *l = LOADER_OF(io, sock_io);
	struct daemon *d = l->d;
	struct buf r;
	uint16_t type;
	uint64_t id;
	int fd = -1;
	ssize_t n = wproto_recv(l->sock, d->pool.msg, WPROTO_MAX_MSG, &fd);

	(void)revents;
	if (fd >= 0)
		close(fd);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n <= 0) {
		ev_io_stop(loop, io);   /* EOF: its exit follows */
		return;
	}
	if (wproto_open(d->pool.msg, (size_t)n, &type, &id, &r) == 0 &&
	    loader_side_msg(l, type, &r, true))
		return;
	if (wproto_open(d->pool.msg, (size_t)n, &type, &id, &r) != 0 ||
	    type != WPROTO_READY || l->st != LS_STARTING) {
		loader_kill(l, "unexpected message");
		return;
	}
	loader_got_ready(l, &r);
}

static void
loader_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct loader *l = LOADER_OF(t, timer);

	(void)loop;
	(void)revents;
	switch (l->st) {
	case LS_STARTING:
		loader_kill(l, "no READY within LoadTimeout");
		break;
	case LS_STOPPING:
		if (l->pid > 0)
			kill(l->pid, SIGKILL);
		break;
	case LS_BACKOFF:
		l->st = LS_DOWN;
		l->d->pool.hooks.loader_changed(l->d, false);
		break;
	default:
		break;
	}
}

/* ---- starting one -------------------------------------------------------- */

/* l: the current slot (active/), or a candidate's (set_dir); 0 or -1. */
static int
loader_start_at(struct daemon *d, struct loader *l, const struct account *acct,
    bool as_root, char *cerr, size_t cerrlen)
{
	struct launch_target t = { .d = d, .loader = true, .slot = LOADER_SLOT,
	    .generation = &d->pool.loaders.generation, .scratch = l->scratch,
	    .scratchlen = sizeof(l->scratch),
	    .defs_dir = l->set_dir[0] ? l->set_dir : NULL,
	    .source_id = l->early ? l->early_id : NULL };
	struct launch_out o;
	char err[1024], detail[FAULTS_DETAIL_MAX];
	int64_t now = walltime_now_ms();
	struct event ev;

	l->started_ms = now;
	l->ready_ms = 0;
	l->killed = false;
	l->log.last_line[0] = '\0';
	l->defs[0] = '\0';
	l->load_ms = 0;
	l->huge_bytes = 0;
	l->collapse_ms = 0;
	l->collapse_asked = l->collapsed = false;
	l->forks = 0;
	l->log.len = 0;
	l->mem_ms = 0;
	l->pss_at_ready = 0;
	l->defs_gen = d->pool.loaders.defs_gen;
	if (launch_exec(&t, acct, as_root, &o, err, sizeof(err)) != 0) {
		uint64_t delay = loader_next_delay(l);

		if (l->candidate) {   /* the update says why; nothing else */
			str_fmt(cerr, cerrlen, "cannot start the candidate's loader: %s", err);
			l->candidate = false;
			l->set_dir[0] = '\0';
			return -1;
		}

		str_fmt(detail, sizeof(detail), "loader: %s", err);
		dlog(&d->log, DLOG_ERROR, "cannot start the loader: %s; retrying in %.3f s",
		    err, ms_to_s(delay));
		fault_raise(&d->faults, FAULT_SCAN_START_FAILED, detail, 0, now);
		d->pool.recovery_needed = true;
		d->pool.hooks.unavailable(d);
		l->st = LS_BACKOFF;
		loader_timer(l, delay);
		return -1;
	}
	l->pid = o.pid;
	l->sock = o.sock;
	l->log.fd = o.log_fd;
	l->uid = o.uid;
	l->gid = o.gid;
	l->as_root = as_root;
	l->st = LS_STARTING;
	ev_child_set(&l->child, l->pid, 0);
	ev_child_start(d->loop, &l->child);
	ev_io_set(&l->sock_io, l->sock, EV_READ);
	ev_io_start(d->loop, &l->sock_io);
	ev_io_set(&l->log.io, l->log.fd, EV_READ);
	ev_io_start(d->loop, &l->log.io);
	loader_timer(l, d->cfg.load_timeout_ms);
	events_begin(&ev, EVENT_LOADER_STARTED, now);
	events_add_int(&ev, "pid", l->pid);
	events_add_int(&ev, "uid", l->uid);
	events_add_bool(&ev, "as_root", as_root);
	events_add_bool(&ev, "candidate", l->candidate);
	daemon_event(d, &ev);
	if (l->candidate)
		dlog(&d->log, DLOG_INFO, "the candidate's loader (pid %d) started: the update's trial, loading %s",
		    (int)l->pid, l->set_dir);
	else
		dlog(&d->log, DLOG_INFO, "loader (pid %d) started: loading the definitions once for the workers",
		    (int)l->pid);
	return 0;
}

void
loader_ensure(struct daemon *d, const struct account *acct, bool as_root)
{
	struct loader *l = cur(d);
	char err[8];

	if (l->st == LS_DOWN && pool_uses_loader(d)) {
		l->set_dir[0] = '\0';
		l->candidate = false;
		l->early = false;
		(void)loader_start_at(d, l, acct, as_root, err, sizeof(err));
	}
}

void
loader_early_start(struct daemon *d, const struct account *acct, bool as_root)
{
	struct loaders *ls = &d->pool.loaders;
	struct loader *l = cur(d);
	char active[4200], err[512];

	if (ls->early_tried || l->st != LS_DOWN || !pool_uses_loader(d) ||
	    d->cfg.engine != CONFIG_ENGINE_CLAMAV)
		return;
	ls->early_tried = true;
	snprintf(active, sizeof(active), "%s/active", d->cfg.definitions_dir);
	/* the identity before the load reads a byte: any change after it
	 * makes the check's differ, and this loader is replaced */
	if (defs_source_id(active, l->early_id, err, sizeof(err)) != 0) {
		dlog(&d->log, DLOG_INFO, "no loader beside the definitions check (%s): it starts after the check",
		    err);
		return;
	}
	l->set_dir[0] = '\0';
	l->candidate = false;
	l->early = true;
	dlog(&d->log, DLOG_INFO, "a loader starts beside the definitions check, on active/ as it is now");
	if (loader_start_at(d, l, acct, as_root, err, sizeof(err)) != 0)
		l->early = false;
}

void
loader_early_drop(struct daemon *d)
{
	struct loader *l = cur(d);

	if (!l->early)
		return;
	l->early = false;
	if (l->pid > 0)
		dlog(&d->log, DLOG_INFO, "the definitions check failed: the loader started beside it (pid %d) is stopped",
		    (int)l->pid);
	loader_retire(l);
}

bool
loader_ready(const struct daemon *d)
{
	return d->pool.loaders.l[d->pool.loaders.cur].st == LS_READY;
}

int
loader_identity(const struct daemon *d, uid_t *uid, gid_t *gid)
{
	const struct loader *l = &d->pool.loaders.l[d->pool.loaders.cur];

	if (l->st != LS_READY)
		return -1;
	*uid = l->uid;
	*gid = l->gid;
	return 0;
}

/* The current loader's pid (the spares' owner), -1: none. */
pid_t
loader_current_pid(const struct daemon *d)
{
	const struct loader *l = &d->pool.loaders.l[d->pool.loaders.cur];

	return l->pid > 0 ? l->pid : -1;
}

/* ---- a worker ------------------------------------------------------------ */

/* Its FORKED reply: the pid, or -1 + err. */
static int
loader_reply(struct loader *l, uint64_t id, pid_t *pid, char *err, size_t errlen)
{
	struct daemon *d = l->d;
	struct pollfd p = { .fd = l->sock, .events = POLLIN };
	struct buf r;
	uint16_t type;
	uint64_t got;
	int32_t v;
	int fd = -1, pr;
	ssize_t n;

again:
	do
		pr = poll(&p, 1, LOADER_FORK_TIMEOUT_MS);
	while (pr < 0 && errno == EINTR);
	if (pr <= 0) {
		snprintf(err, errlen, "loader: no answer to FORK within %d ms", LOADER_FORK_TIMEOUT_MS);
		return -1;
	}
	n = wproto_recv(l->sock, d->pool.msg, WPROTO_MAX_MSG, &fd);
	if (fd >= 0)
		close(fd);
	/* a MEM asked for before this FORK, or COLLAPSED, may come first */
	if (n > 0 && wproto_open(d->pool.msg, (size_t)n, &type, &got, &r) == 0 &&
	    loader_side_msg(l, type, &r, false)) {
		if (l->killed) {
			snprintf(err, errlen, "loader: malformed MEM or COLLAPSED");
			return -1;
		}
		goto again;
	}
	if (n <= 0 || wproto_open(d->pool.msg, (size_t)n, &type, &got, &r) != 0 ||
	    type != WPROTO_FORKED || got != id || wproto_decode_forked(&r, &v) != 0) {
		snprintf(err, errlen, "loader: %s", n == 0 ? "closed its socket" :
		    "malformed answer to FORK");
		return -1;
	}
	if (v <= 0) {
		snprintf(err, errlen, "loader: clone: %s", strerror(-v));
		return -2;
	}
	*pid = (pid_t)v;
	return 0;
}

int
loader_fork(struct daemon *d, const int *fds, size_t nfds, pid_t *pid,
    char *err, size_t errlen)
{
	struct loader *l = cur(d);
	uint64_t id = ++d->pool.loaders.fork_id;
	int rc;

	if (l->st != LS_READY) {
		snprintf(err, errlen, "no loader is READY");
		return -1;
	}
	wproto_begin(&d->pool.out, WPROTO_FORK, id);
	if (!wproto_end(&d->pool.out) ||
	    (rc = wproto_send_fds(l->sock, &d->pool.out, fds, nfds)) != 0) {
		snprintf(err, errlen, "loader: sending FORK: %s", strerror(errno));
		loader_kill(l, "cannot send it FORK");
		return -1;
	}
	if ((rc = loader_reply(l, id, pid, err, errlen)) == -1)
		loader_kill(l, err);
	if (rc != 0)
		return -1;
	l->forks++;
	return 0;
}

/* ---- changes, stop ------------------------------------------------------- */

void
loader_defs_changed(struct daemon *d)
{
	struct loaders *ls = &d->pool.loaders;
	struct loader *l = cur(d), *old;

	ls->defs_gen++;
	if (l->early) {
		l->early = false;
		if (l->pid > 0 && d->defs_id_set &&
		    memcmp(l->early_id, d->defs_id, sizeof(l->early_id)) == 0) {
			l->defs_gen = ls->defs_gen;
			dlog(&d->log, DLOG_INFO, "the definitions check names the set the loader (pid %d) started on beside it: kept",
			    (int)l->pid);
			return;
		}
		dlog(&d->log, DLOG_INFO, "the definitions check changed the set the loader (pid %d) started on: replaced",
		    (int)l->pid);
	}
	old = &ls->l[ls->cur ^ 1u];
	if (old->candidate && old->adopt && old->st == LS_READY) {
		/* the update's trial serves: its set was loaded once */
		dlog(&d->log, DLOG_INFO, "the candidate's loader (pid %d) serves the new definitions; the loader (pid %d) is retired",
		    (int)old->pid, (int)l->pid);
		old->candidate = old->adopt = false;
		old->set_dir[0] = '\0';
		old->defs_gen = ls->defs_gen;
		old->delay_ms = d->cfg.restart_delay_min_ms;
		loader_retire(l);
		ls->cur ^= 1u;
		loader_collapse_decide(cur(d));   /* now the serving one */
		return;
	}
	if (l->st == LS_DOWN || l->defs_gen == ls->defs_gen)
		return;
	if (old->pid > 0) {
		/* two changes within a stop grace: the older one goes now */
		kill(old->pid, SIGKILL);
		ev_child_stop(d->loop, &old->child);
		loader_close(old);
		old->pid = -1;
		old->st = LS_DOWN;
	}
	old->candidate = old->adopt = false;
	old->set_dir[0] = '\0';
	dlog(&d->log, DLOG_INFO, "the definitions changed: the loader (pid %d) is retired; a new one loads them",
	    (int)l->pid);
	loader_retire(l);
	ls->cur ^= 1u;
	cur(d)->st = LS_DOWN;
	cur(d)->delay_ms = d->cfg.restart_delay_min_ms;
}

void
loader_stop(struct daemon *d)
{
	for (unsigned i = 0; i < 2; i++)
		loader_retire(&d->pool.loaders.l[i]);
}

bool
loader_all_down(const struct daemon *d)
{
	for (unsigned i = 0; i < 2; i++)
		if (d->pool.loaders.l[i].pid > 0)
			return false;
	return true;
}

void
loader_init(struct daemon *d)
{
	for (unsigned i = 0; i < 2; i++) {
		struct loader *l = &d->pool.loaders.l[i];

		l->d = d;
		l->st = LS_DOWN;
		l->pid = -1;
		l->sock = -1;
		l->log.fd = -1;
		l->delay_ms = d->cfg.restart_delay_min_ms;
		ev_init(&l->timer, loader_on_timer);
		ev_init(&l->sock_io, loader_on_sock);
		ev_init(&l->log.io, loader_on_log);
		ev_child_init(&l->child, loader_on_exit, 0, 0);
	}
}

/* ---- an update's candidate (the trial) ------------------------------------ */

int
loader_candidate_start(struct daemon *d, const char *set_dir,
    void (*done)(struct daemon *d, bool ok, const char *why), char *err,
    size_t errlen)
{
	struct loaders *ls = &d->pool.loaders;
	struct loader *l = &ls->l[ls->cur ^ 1u];
	struct account acct = { .uid = 0 };
	bool as_root = false;

	if (!d->pool.hooks.loader_account(d, &acct, &as_root)) {
		str_fmt(err, errlen, "the scan account is not ready for the candidate's loader");
		return -1;
	}
	if (l->pid > 0) {   /* a retired loader still in its stop grace */
		kill(l->pid, SIGKILL);
		ev_child_stop(d->loop, &l->child);
		loader_close(l);
		launch_scratch_wipe(d, l->scratch, sizeof(l->scratch));
		l->pid = -1;
	}
	ev_timer_stop(d->loop, &l->timer);
	l->st = LS_DOWN;
	l->candidate = true;
	l->adopt = false;
	l->cand_done = done;
	str_fmt(l->set_dir, sizeof(l->set_dir), "%s", set_dir);
	if (loader_start_at(d, l, &acct, as_root, err, errlen) != 0) {
		l->candidate = false;
		l->cand_done = NULL;
		l->set_dir[0] = '\0';
		return -1;
	}
	return 0;
}

void
loader_candidate_activated(struct daemon *d)
{
	struct loader *l = &d->pool.loaders.l[d->pool.loaders.cur ^ 1u];

	if (l->candidate)
		l->adopt = true;
}

void
loader_candidate_drop(struct daemon *d)
{
	struct loader *l = &d->pool.loaders.l[d->pool.loaders.cur ^ 1u];

	if (!l->candidate)
		return;
	l->cand_done = NULL;
	if (l->pid > 0)
		dlog(&d->log, DLOG_INFO, "the candidate's loader (pid %d) is not needed: retired",
		    (int)l->pid);
	l->candidate = l->adopt = false;
	l->set_dir[0] = '\0';
	loader_retire(l);
}

/* A "Key:   N kB" line of a /proc file; bytes, or 0. */
static uint64_t
proc_kb(const char *path, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	uint64_t v = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, klen) == 0) {
			v = strtoull(line + klen, NULL, 10) * 1024u;
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * The serving loader's engine: its resident memory (all of it is the
 * loaded set, or nearly: it never scans), from smaps_rollup, else
 * status's VmRSS.  Under the shipped unit /proc of another user may be
 * hidden (ProtectProc): 0, unknown (the worker protocol's self-report,
 * issue 16's memory accounting, is the better source there).
 */
uint64_t
loader_engine_bytes(const struct daemon *d)
{
	const struct loader *l = &d->pool.loaders.l[d->pool.loaders.cur];
	char path[64];
	uint64_t v;

	if (l->pid <= 0 || l->st != LS_READY)
		return 0;
	/* its own report first (MEM, poolmem.c): under the shipped unit
	 * (ProtectProc, no CAP_SYS_PTRACE) /proc of the scan user is hidden */
	if (l->mem_ms > 0 && l->mem.err == 0 && l->mem.rss > 0)
		return l->mem.rss;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)l->pid);
	if ((v = proc_kb(path, "Rss:")) > 0)
		return v;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)l->pid);
	return proc_kb(path, "VmRSS:");
}
