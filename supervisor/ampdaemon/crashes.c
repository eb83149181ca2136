/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault 6 (ARCHITECTURE.md, "Faults"): worker crashes counted by kind for
 * the metrics, CrashThreshold of them within CrashWindow raise the fault,
 * StableAfter without one clears it, InterventionAfter with it raised
 * marks it as needing intervention.
 */
#include <stdio.h>
#include <string.h>

#include "pool_int.h"

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
crash_ring_note(struct daemon *d, int64_t now, const char *sig, pid_t pid)
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

void
crashes_note(struct daemon *d, int64_t now, const char *sig, pid_t pid)
{
	pool_count_crash(&d->pool, sig);
	crash_ring_note(d, now, sig, pid);
	ev_timer_stop(d->loop, &d->pool.stable_timer);
	ev_timer_set(&d->pool.stable_timer, ms_to_s(d->cfg.stable_after_ms), 0.);
	ev_timer_start(d->loop, &d->pool.stable_timer);
}

void
crashes_resume(struct daemon *d)
{
	int64_t now = walltime_now_ms(), deadline;

	if (!fault_is_raised(&d->faults, FAULT_SCAN_RESTARTING) ||
	    ev_is_active(&d->pool.stable_timer))
		return;
	ev_timer_set(&d->pool.stable_timer, ms_to_s(d->cfg.stable_after_ms), 0.);
	ev_timer_start(d->loop, &d->pool.stable_timer);
	deadline = d->started_ms + (int64_t)d->cfg.intervention_after_ms;
	ev_timer_set(&d->pool.intervention_timer,
	    deadline > now ? (double)(deadline - now) / 1000.0 : 0., 0.);
	ev_timer_start(d->loop, &d->pool.intervention_timer);
}

void
crashes_init(struct daemon *d)
{
	ev_init(&d->pool.stable_timer, pool_on_stable);
	d->pool.stable_timer.data = d;
	ev_init(&d->pool.intervention_timer, pool_on_intervention);
	d->pool.intervention_timer.data = d;
}
