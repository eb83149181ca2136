/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the pool: what pool.c, worker.c, router.c, poolmem.c, loader.c
 * and crashes.c share.  The order of the files, from the bottom: launch.c
 * (a process's start, log, exit: launch.h), loader.c and crashes.c, then
 * poolmem.c, router.c, worker.c (the state machine), then pool.c.  A
 * lower file reports up through the hooks pool_init put in struct pool,
 * never by calling up.
 */
#ifndef AMPSCAN_POOL_INT_H
#define AMPSCAN_POOL_INT_H

#include "daemon.h"

/* The events of a worker's state machine (worker_handle). */
enum worker_event {
	WE_START,          /* start it (pool start, definitions, account) */
	WE_READY_MSG,      /* it sent READY */
	WE_RESULT_MSG,     /* it sent RESULT */
	WE_OTHER_MSG,      /* it sent another message */
	WE_KILL,           /* kill it (why in the input) */
	WE_EOF,            /* its socket closed */
	WE_TIMER,          /* READY timeout, backoff over, EOF or stop grace */
	WE_SCAN_TIMEOUT,   /* the request in flight outlived ScanTimeout */
	WE_EXIT,           /* it exited (ws in the input) */
	WE_STOP,           /* the pool stops */
	WE_RETIRE,         /* a rollover retires it */
	WE_MEM_MSG,        /* it sent MEM (its memory) */
	WE_NEVENTS
};

struct buf;
struct worker_input {
	const char *why;                 /* WE_KILL */
	struct buf *r;               /* WE_READY_MSG, WE_RESULT_MSG, WE_MEM_MSG */
	uint64_t id;                     /* WE_RESULT_MSG */
	int ws;                          /* WE_EXIT: its wait status */
};

static inline double
ms_to_s(uint64_t ms)
{
	return (double)ms / 1000.0;
}

/* Whether w is one of the N current slots (not a rollover's old half). */
static inline bool
worker_is_current(const struct worker *w)
{
	const struct pool *p = &w->d->pool;
	unsigned i = (unsigned)(w - p->w);

	return i >= p->base && i < p->base + p->n;
}

/* loader.c (WorkerLaunch loader): up through hooks.loader_changed,
 * hooks.loader_account and hooks.unavailable */
void loader_init(struct daemon *d);
/* The pool may start workers: make sure a loader runs (or is on its way). */
void loader_ensure(struct daemon *d, const struct account *acct, bool as_root);
bool loader_ready(const struct daemon *d);
/* The current loader's pid (the spares' owner: worker.loader_pid), -1:
 * none. */
pid_t loader_current_pid(const struct daemon *d);
/* The READY loader's uid and gid; -1 when none is READY. */
int loader_identity(const struct daemon *d, uid_t *uid, gid_t *gid);
/* Ask the READY loader for a worker with these fds (socket, log pipe,
 * scratch directory); *pid, or -1 + err (the loader is then killed). */
int loader_fork(struct daemon *d, const int *fds, size_t nfds, pid_t *pid,
    char *err, size_t errlen);
/* The current loader collapsed its engine into huge pages (COLLAPSED):
 * the workers forked before it are to be replaced (worker_refork_next). */
bool loader_collapsed(const struct daemon *d);
/* The definitions changed (a check ended well, a rollover): the current
 * loader is retired (it exits; its workers serve on) and a new one loads. */
void loader_defs_changed(struct daemon *d);
/*
 * At start, beside the first definitions check (Engine clamav, loader
 * launch): a loader loads active/ as it is now, so the check's second
 * and the load's ten overlap.  Kept when the check names the same set;
 * replaced when the check changed it (deleted, rolled back, recovered);
 * stopped when the check fails.  Its exit before the check ends counts
 * for nothing.  Once per start; never for a check that follows a fault.
 */
void loader_early_start(struct daemon *d, const struct account *acct,
    bool as_root);
/* The first definitions check failed: an early loader goes. */
void loader_early_drop(struct daemon *d);
/* The pool stops: every loader is asked to exit. */
void loader_stop(struct daemon *d);
/* No loader process is left. */
bool loader_all_down(const struct daemon *d);

/* loader.c: ask the READY loaders for MEM (poolmem.c's timer) */
void loader_mem_ask(struct daemon *d);

/* poolmem.c: memory reports and WorkerMemoryLimit */
void poolmem_init(struct daemon *d);
void poolmem_free(struct daemon *d);
/* Something changed (READY, an exit, a result): ask again in a while. */
void poolmem_touch(struct daemon *d);
/* Whether w's next SCAN should ask for MEM (its figure is old). */
bool poolmem_due(const struct worker *w, int64_t now);
/* Whether w's last report is past WorkerMemoryLimit. */
bool poolmem_over(const struct worker *w);

/* worker.c */
void worker_init(struct worker *w, struct daemon *d, unsigned slot);
void worker_handle(struct worker *w, enum worker_event ev,
    const struct worker_input *in);
void worker_send_failed(struct worker *w, const char *why);
/* After the loader's COLLAPSED: retire the next worker forked before it
 * (after its request), one at a time; pool.c calls it on every change. */
void worker_refork_next(struct daemon *d);

/* router.c */
/* The end of a request: counted, its fd closed, its done() called. */
void req_finish(struct daemon *d, struct scan_req *req,
    const struct wproto_result *res, const char *error);
/* Back to the front of the queue (its worker stopped before answering). */
void router_requeue(struct daemon *d, struct scan_req *req);
/* Hand queued requests to idle READY workers. */
void pool_dispatch(struct daemon *d);
/* Fault 7 with nobody READY: answer every queued request. */
void router_fail_if_unavailable(struct daemon *d);
/* w's request is answered (res, the worker's result). */
void router_result(struct daemon *d, struct worker *w, struct scan_req *req,
    const struct wproto_result *res);
/* w crashed with w->req in flight: count it against the file (poison),
 * then retry it once on another worker or answer it. */
void router_crashed(struct daemon *d, struct worker *w, int64_t now);

/*
 * poisonq.c: the poison check's hash, off the loop.  poisonq_wait: req's
 * file must be hashed (poison_lookup said POISON_NEED_HASH; now is its
 * identity): req waits for the hash of that identity (one child per
 * distinct file), then done(d, req, verdict, crashes, NULL) is called, or
 * done(..., error) if the hash could not be had.  Returns 0, or -1 with
 * why set (too many waiting, fork failed): req is still the caller's.
 */
typedef void poisonq_done_fn(struct daemon *d, struct scan_req *req,
    int verdict, unsigned crashes, const char *error);
int poisonq_wait(struct daemon *d, struct scan_req *req,
    const struct poison_id *now, poisonq_done_fn *done, char *why,
    size_t whylen);
/* Every waiting request gets done(..., why); the children are killed. */
void poisonq_drain(struct daemon *d, const char *why);
/* Release everything (the daemon exits). */
void poisonq_free(struct daemon *d);
/* Requests waiting for a hash (status, tests). */
size_t poisonq_waiting(const struct daemon *d);

/* SpareWorkers (docs/loader.md): w[2N ..] are spares, READY workers
 * forked from a loader and given no request until one takes a slot. */
static inline bool
spare_is(const struct worker *w)
{
	const struct pool *p = &w->d->pool;

	return (unsigned)(w - p->w) >= POOL_SLOTS(p);
}
/* spares.c, above worker.c: the pool's count of spares; the spares of
 * another loader retired, the missing ones started. */
void spares_init(struct daemon *d);
void spares_check(struct daemon *d);

/* crashes.c: fault 6 */
void crashes_init(struct daemon *d);
/* A crash of pid by sig ("SIGSEGV", "timeout", "exit 2"): counted, fault
 * 6 raised past CrashThreshold in CrashWindow, the StableAfter timer
 * restarted. */
void crashes_note(struct daemon *d, int64_t now, const char *sig, pid_t pid);
/* pool_start: a fault 6 carried over from before is re-evaluated. */
void crashes_resume(struct daemon *d);

#endif
