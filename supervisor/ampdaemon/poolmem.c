/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pool's memory (docs/loader.md, "Memory"): every worker and loader
 * reports its own smaps_rollup figures (wproto MEM: a worker is not
 * dumpable and runs as another user, so ampdaemon could not read them
 * under the shipped unit, which grants no CAP_SYS_PTRACE); ampdaemon reads
 * its own.  POOL_MEM_POLL_MS after something changed (a worker or loader
 * READY or gone, a scan answered: nothing else moves the figures; no
 * timer runs while the pool is idle), idle READY workers and the READY
 * loader are asked again; a busy worker's SCAN asks when its figure is
 * POOL_MEM_REFRESH_MS old, and the MEM comes right before the RESULT, so
 * WorkerMemoryLimit (worker.c) retires it after that request.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "launch.h"
#include "pool_int.h"
#include "procmem.h"

bool
poolmem_due(const struct worker *w, int64_t now)
{
	return w->mem_ms == 0 || now - w->mem_ms >= POOL_MEM_REFRESH_MS;
}

bool
poolmem_over(const struct worker *w)
{
	uint64_t limit = w->d->cfg.worker_memory_limit;

	return limit > 0 && w->mem_ms > 0 && w->mem.err == 0 && w->mem.priv > limit;
}

static void
poolmem_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = (struct daemon *)((char *)t -
	    offsetof(struct daemon, pool.mem_timer));

	(void)loop;
	(void)revents;
	for (unsigned i = 0; i < POOL_ALL(&d->pool); i++) {
		struct worker *w = &d->pool.w[i];

		if (w->st != WS_READY || w->req != NULL)
			continue;
		if (launch_mem_ask(d, w->sock) != 0)
			d->pool.hooks.send_failed(w, "cannot ask for its memory");
	}
	loader_mem_ask(d);
	metrics_touch(d);   /* the figures move: the file follows */
}

void
poolmem_init(struct daemon *d)
{
	struct pool *p = &d->pool;

	p->mem_fd = procmem_open();
	if (p->mem_fd < 0)
		dlog(&d->log, DLOG_WARNING, "%s: %s: ampdaemon's own memory is not reported",
		    PROCMEM_PATH, strerror(errno));
	ev_init(&p->mem_timer, poolmem_on_timer);
}

void
poolmem_touch(struct daemon *d)
{
	ev_timer *t = &d->pool.mem_timer;

	if (d->loop == NULL || ev_is_active(t))
		return;
	ev_timer_set(t, (double)POOL_MEM_POLL_MS / 1000.0, 0.);
	ev_timer_start(d->loop, t);
}

void
poolmem_free(struct daemon *d)
{
	if (d->loop != NULL)
		ev_timer_stop(d->loop, &d->pool.mem_timer);
	if (d->pool.mem_fd >= 0)
		close(d->pool.mem_fd);
	d->pool.mem_fd = -1;
}

/* One process's figure into the totals. */
static void
poolmem_add(struct pool_mem *m, const struct wproto_mem *pm, int64_t at,
    uint64_t *pss)
{
	m->processes++;
	if (at == 0 || pm->err != 0) {
		m->unknown++;
		return;
	}
	*pss += pm->pss;
	m->pss += pm->pss;
	if (m->oldest_ms == 0 || at < m->oldest_ms)
		m->oldest_ms = at;
}

void
poolmem_totals(struct daemon *d, struct pool_mem *m)
{
	struct procmem self;
	struct wproto_mem own = { .err = 0 };
	int64_t now = walltime_now_ms();

	memset(m, 0, sizeof(*m));
	if (procmem_read(d->pool.mem_fd, &self) == 0) {
		own.rss = self.rss;
		own.pss = self.pss;
		own.priv = self.priv;
		m->ampdaemon_rss = self.rss;
		m->ampdaemon_priv = self.priv;
	} else {
		own.err = EIO;
	}
	poolmem_add(m, &own, now, &m->ampdaemon_pss);
	for (unsigned i = 0; i < 2; i++) {
		const struct loader *l = &d->pool.loaders.l[i];

		if (l->pid > 0)
			poolmem_add(m, &l->mem, l->mem_ms, &m->loaders_pss);
	}
	for (unsigned i = 0; i < POOL_ALL(&d->pool); i++) {
		const struct worker *w = &d->pool.w[i];

		if (w->pid <= 0 || w->st == WS_BACKOFF || w->st == WS_IDLE ||
		    w->st == WS_WAITING)
			continue;
		poolmem_add(m, &w->mem, w->mem_ms, &m->workers_pss);
		if (w->mem_ms > 0 && w->mem.err == 0)
			m->workers_priv += w->mem.priv;
	}
}
