/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The router: scan requests go to an idle READY worker (round robin) or
 * wait in a bounded queue; a file found clean is remembered (the clean-
 * file cache); a request in flight on a worker that crashed is counted
 * against the file (poison) and retried once on another worker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pool_int.h"
#include "scanlog.h"

/* ---- the clean-file cache (cleancache.h) ------------------------------- */

/* New definitions: nothing found clean before stays trusted. */
void
pool_cache_clear(struct daemon *d)
{
	cc_clear(&d->pool.cc);
}

/* ---- requests ----------------------------------------------------------- */

void
req_finish(struct daemon *d, struct scan_req *req,
    const struct wproto_result *res, const char *error)
{
	struct pool *p = &d->pool;

	p->scans_total++;
	if (res == NULL || res->verdict == WPROTO_ERROR)
		p->scan_errors_total++;
	else if (res->verdict == WPROTO_FOUND)
		p->detections_total++;
	if (res != NULL && strncmp(res->note, WPROTO_NOTE_LIMIT,
	    strlen(WPROTO_NOTE_LIMIT)) == 0)
		p->limits_exceeded_total++;
	metrics_touch(d);
	if (req->cc_slot >= 0)   /* not kept (router_result keeps it) */
		cc_settle(&d->pool.cc, req->cc_slot, false, false, 0);
	req->cc_slot = -1;
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

/* READY and not killed. */
static bool
pool_has_ready(const struct daemon *d)
{
	unsigned i;

	for (i = 0; i < POOL_SLOTS(&d->pool); i++)
		if (worker_phase(&d->pool.w[i]) == WORKER_READY &&
		    d->pool.w[i].st != WS_KILLED)
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
	poisonq_drain(d, why);
	pool_fail_queue(d, why);
}

void
router_fail_if_unavailable(struct daemon *d)
{
	char unavail[FAULTS_DETAIL_MAX + 64];

	if (pool_is_unavailable(d)) {
		unavailable_text(d, unavail, sizeof(unavail));
		pool_fail_queue(d, unavail);
	}
}

void
router_requeue(struct daemon *d, struct scan_req *req)
{
	queue_push(&d->pool, req, true);
}

/* The file in flight on a worker that crashed. */
void
router_crashed(struct daemon *d, struct worker *w, int64_t now)
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

/* ---- the router -------------------------------------------------------- */

static struct worker *
pool_idle_worker(struct daemon *d)
{
	struct pool *p = &d->pool;
	unsigned i, k;

	for (k = 0; k < POOL_SLOTS(p); k++) {
		i = (p->rr + k) % POOL_SLOTS(p);
		if (p->w[i].st == WS_READY && p->w[i].req == NULL) {
			p->rr = (i + 1) % POOL_SLOTS(p);
			return &p->w[i];
		}
	}
	return NULL;
}

void
pool_dispatch(struct daemon *d)
{
	struct worker *w;
	struct scan_req *req;
	struct wproto_scan m;

	if (pool_is_unavailable(d)) {
		router_fail_if_unavailable(d);
		return;
	}
	while (d->pool.queue_head != NULL && (w = pool_idle_worker(d)) != NULL) {
		req = queue_pop(&d->pool);
		memset(&m, 0, sizeof(m));
		m.id = req->id;
		m.flags = req->flags;
		if (poolmem_due(w, walltime_now_ms()))
			m.flags |= WPROTO_SCAN_MEM;   /* its memory with the RESULT */
		snprintf(m.name, sizeof(m.name), "%s", req->name);
		if (wproto_encode_scan(&d->pool.out, &m) != 0 ||
		    wproto_send(w->sock, &d->pool.out, req->fd) != 0) {
			queue_push(&d->pool, req, true);
			d->pool.hooks.send_failed(w, "cannot send a request");
			continue;
		}
		req->attempts++;
		req->t_start_us = scanlog_now_us();
		req->log_slot = (int)w->slot;
		w->req = req;
		ev_timer_stop(d->loop, &w->scan_timer);
		ev_timer_set(&w->scan_timer, ms_to_s(d->cfg.scan_timeout_ms), 0.);
		ev_timer_start(d->loop, &w->scan_timer);
	}
}

/* The rest of pool_submit, once the poison verdict is known. */
static void
router_admit(struct daemon *d, struct scan_req *req, int st,
    unsigned crashes, const char *error)
{
	char msg[FAULTS_DETAIL_MAX + 128];

	if (error != NULL) {
		req_finish(d, req, NULL, error);
		return;
	}
	if (st == POISON_POISON) {
		snprintf(msg, sizeof(msg), "poison file: the scanner crashed %u times on it; it is not scanned again until it changes",
		    crashes > 0 ? crashes : d->cfg.poison_threshold);
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
	    cc_key_of(req->fd, &req->key);
	if (req->have_key && cc_lookup(&d->pool.cc, &req->key)) {
		/* unchanged since a worker found it clean with these definitions */
		struct wproto_result *res = d->pool.res;

		res->id = req->id;
		res->verdict = WPROTO_CLEAN;
		res->nnames = 0;
		res->note[0] = '\0';
		req->cached = true;
		req_finish(d, req, res, NULL);
		return;
	}
	if (d->pool.queued >= POOL_QUEUE_MAX) {
		req_finish(d, req, NULL, "scan queue full: try again later");
		return;
	}
	if (req->have_key)   /* leased before a worker reads it */
		req->cc_slot = cc_acquire(&d->pool.cc, req->fd, &req->key);
	queue_push(&d->pool, req, false);
	pool_dispatch(d);
}

/*
 * A submitted file: judged against the poison list by its identity (fstat)
 * when the list knows it; one that must be hashed waits for poisonq.c.
 */
void
pool_submit(struct daemon *d, struct scan_req *req)
{
	const struct poison_entry *pe = NULL;
	struct poison_id now;
	char msg[FAULTS_DETAIL_MAX + 128];
	int st;

	req->id = ++d->pool.next_id;
	req->submitted_ms = walltime_now_ms();
	req->attempts = 0;
	req->cc_slot = -1;
	req->next = NULL;
	req->t_submit_us = scanlog_now_us();
	req->t_start_us = 0;
	req->log_slot = -1;
	req->cached = false;
	if (d->stopping) {
		req_finish(d, req, NULL, "ampdaemon is stopping");
		return;
	}
	st = poison_lookup(&d->poison, req->fd, &now, &pe, msg, sizeof(msg));
	if (st < 0)
		dlog(&d->log, DLOG_WARNING, "%s: poison check: %s", req->name, msg);
	if (d->poison.dirty && poison_save(&d->poison, d->cfg.state_dir, msg,
	    sizeof(msg)) != 0) {   /* a changed file left the list */
		dlog(&d->log, DLOG_ERROR, "%s", msg);
		daemon_state_retry(d);
	}
	if (st == POISON_NEED_HASH) {
		if (poisonq_wait(d, req, &now, router_admit, msg,
		    sizeof(msg)) == 0)
			return;
		router_admit(d, req, st, 0, msg);
		return;
	}
	router_admit(d, req, st, pe != NULL ? pe->crashes : 0, NULL);
}

void
router_result(struct daemon *d, struct worker *w, struct scan_req *req,
    const struct wproto_result *res)
{
	if (req->cc_slot >= 0) {
		cc_settle(&d->pool.cc, req->cc_slot, res->verdict == WPROTO_CLEAN &&
		    res->note[0] == '\0' && worker_is_current(w),
		    (res->rflags & WPROTO_RES_WHOLE) != 0, res->read_bytes);
		req->cc_slot = -1;
	}
	req_finish(d, req, res, NULL);
}
