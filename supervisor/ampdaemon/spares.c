/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpareWorkers (docs/loader.md, "Spare workers"): with WorkerLaunch
 * loader, nspares workers forked from the current loader and READY, but
 * given no request (the router sees only the slots of POOL_SLOTS).  When
 * a current worker dies or is retired, a spare takes its slot at once
 * (worker_take_spare: no fork on that path) and a new spare is forked
 * after it.  A spare belongs to the loader it was forked from: it is
 * never promoted once another loader is the current one, and it is
 * retired then.  A spare that dies is a crash like any worker's.
 */
#include "pool_int.h"

void
spares_init(struct daemon *d)
{
	struct pool *p = &d->pool;

	p->nspares = 0;
	if (d->cfg.worker_launch == CONFIG_LAUNCH_LOADER) {
		p->nspares = d->cfg.spare_workers;
		return;
	}
	if (d->cfg.line[CONFIG_SPARE_WORKERS] != 0 && d->cfg.spare_workers > 0)
		dlog(&d->log, DLOG_INFO, "SpareWorkers %u is ignored: WorkerLaunch exec has no loader to fork spares from",
		    d->cfg.spare_workers);
}

/*
 * The loader found no Landlock (docs/loader.md, "Without Landlock"): the
 * workers are exec'd, so there is nothing to fork spares from.  Said
 * once; the count drops to 0 once no spare runs.
 */
static void
spares_fallback(struct daemon *d)
{
	struct pool *p = &d->pool;
	bool running = false;

	for (unsigned i = POOL_SLOTS(p); i < POOL_ALL(p); i++) {
		struct worker *w = &p->w[i];
		enum worker_state ph = worker_phase(w);

		if (ph != WORKER_IDLE && ph != WORKER_STOPPING)
			worker_handle(w, WE_STOP, NULL);
		if (w->st != WS_IDLE)
			running = true;   /* it exits: we are called again */
	}
	if (running)
		return;
	dlog(&d->log, DLOG_INFO, "SpareWorkers %u is ignored: the workers are exec'd (the loader found no Landlock)",
	    p->nspares);
	p->nspares = 0;
}

/*
 * After a loader came or went, or a spare changed: the spares of another
 * loader are retired (never promoted: spare_of_current); idle ones start
 * (they wait in WAITING for a READY loader, as a slot does).
 */
void
spares_check(struct daemon *d)
{
	struct pool *p = &d->pool;

	if (p->nspares > 0 && !pool_uses_loader(d)) {
		spares_fallback(d);
		return;
	}
	for (unsigned i = POOL_SLOTS(p); i < POOL_ALL(p); i++) {
		struct worker *w = &p->w[i];
		enum worker_state ph = worker_phase(w);

		if ((ph == WORKER_STARTING || ph == WORKER_READY) &&
		    w->pid > 0 && w->loader_pid != loader_current_pid(d)) {
			dlog(&d->log, DLOG_INFO, "spare worker %u (pid %d) was forked from another loader: retired",
			    w->slot, (int)w->pid);
			worker_handle(w, WE_STOP, NULL);
		} else if ((w->st == WS_IDLE || w->st == WS_WAITING) &&
		    !p->paused && !d->stopping) {
			worker_handle(w, WE_START, NULL);
		}
	}
}
