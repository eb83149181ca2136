/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The scan log: results of the scan socket as lines of ampdaemon.log. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "scanlog.h"
#include "wproto.h"

int64_t
scanlog_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "12.345" ms from us (at least 0). */
static void
scanlog_ms(char *buf, size_t len, int64_t us)
{
	if (us < 0)
		us = 0;
	snprintf(buf, len, "%lld.%03lld", (long long)(us / 1000),
	    (long long)(us % 1000));
}

/* LogVerbose's part of the parenthesis: ", pid P, CMD[ #id], ..." */
static int
scanlog_verbose(char *buf, size_t len, const struct scanlog_line *l)
{
	const struct scanlog_client *cl = l->client;
	const struct scanlog_timing *t = l->timing;
	char pid[32] = "", sess[32] = "", worker[48], q[32], s[32];

	if (cl->pid > 0)
		snprintf(pid, sizeof(pid), ", pid %ld", (long)cl->pid);
	if (cl->session_id > 0)
		snprintf(sess, sizeof(sess), " #%u", cl->session_id);
	if (t->cached)
		snprintf(worker, sizeof(worker), ", clean-file cache");
	else if (t->slot >= 0)
		snprintf(worker, sizeof(worker), ", worker %d", t->slot);
	else
		snprintf(worker, sizeof(worker), ", no worker");
	scanlog_ms(q, sizeof(q), t->queued_us);
	scanlog_ms(s, sizeof(s), t->scan_us);
	if (t->queued_us < 0 && t->scan_us < 0)
		return snprintf(buf, len, "%s, %s%s%s", pid, cl->cmd, sess, worker);
	if (t->scan_us < 0)
		return snprintf(buf, len, "%s, %s%s%s, waited %s ms", pid, cl->cmd,
		    sess, worker, q);
	return snprintf(buf, len, "%s, %s%s%s, waited %s ms, scanned %s ms", pid,
	    cl->cmd, sess, worker, q, s);
}

int
scanlog_format(char *buf, size_t len, const struct scanlog_line *l)
{
	char more[256] = "";
	const char *what;

	if (l->timing != NULL)
		scanlog_verbose(more, sizeof(more), l);
	what = l->verdict == SCANLOG_FOUND ? " FOUND" :
	    l->verdict == SCANLOG_ERROR ? " ERROR" : "";
	return snprintf(buf, len, "%s: %s%s (uid %lu%s)", l->name,
	    l->verdict == SCANLOG_OK ? "OK" : l->text, what,
	    (unsigned long)l->client->uid, more);
}

static void
scanlog_put(struct daemon *d, struct scanlog_line *l)
{
	char line[SCANLOG_LINE_MAX];

	scanlog_format(line, sizeof(line), l);
	dlog(&d->log, DLOG_INFO, "%s", line);
}

/* The request's times and worker, for LogVerbose. */
static void
scanlog_timing_of(const struct scan_req *req, struct scanlog_timing *t)
{
	int64_t now = scanlog_now_us();

	t->slot = req->log_slot;
	t->cached = req->cached;
	t->queued_us = -1;
	t->scan_us = -1;
	if (req->t_submit_us <= 0)
		return;
	if (req->t_start_us > 0) {
		t->queued_us = req->t_start_us - req->t_submit_us;
		t->scan_us = now - req->t_start_us;
	} else {
		t->queued_us = now - req->t_submit_us;
	}
}

void
scanlog_result(struct daemon *d, const struct scanlog_client *cl,
    const struct scan_req *req, const char *name,
    const struct wproto_result *res, const char *error, bool allmatch)
{
	struct scanlog_timing t;
	struct scanlog_line l = { .name = name, .client = cl };
	uint32_t k;

	if (d->cfg.log_verbose && req != NULL) {
		scanlog_timing_of(req, &t);
		l.timing = &t;
	}
	if (res == NULL || res->verdict == WPROTO_ERROR) {
		l.verdict = SCANLOG_ERROR;
		l.text = res == NULL ? error : res->note[0] ? res->note : "scan error";
		if (l.text == NULL)
			l.text = "scan error";
		scanlog_put(d, &l);
	} else if (res->verdict == WPROTO_FOUND && res->nnames > 0) {
		l.verdict = SCANLOG_FOUND;
		for (k = 0; k < res->nnames && (k == 0 || allmatch); k++) {
			l.text = res->names[k].sig;
			scanlog_put(d, &l);
		}
	} else if (d->cfg.log_clean) {
		l.verdict = SCANLOG_OK;
		scanlog_put(d, &l);
	}
}
