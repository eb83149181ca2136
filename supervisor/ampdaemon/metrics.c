/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metrics file (MetricsFile): ampdaemon's counters and state in the
 * Prometheus text exposition format, for node_exporter's textfile
 * collector (point its --collector.textfile.directory at the file's
 * directory; the name must end in .prom).
 *
 * Written atomically (statefile_write: temp, fsync, rename), at start,
 * at stop, and METRICS_DELAY_S after something it shows changed (a scan
 * finished, a fault, a worker, an update): one write per delay at most
 * under load, none while nothing happens (no timer runs when idle).
 * Ages are not written (they would go stale between writes): the
 * definitions' build time is, and Prometheus computes the age
 * (time() - ampscan_definitions_build_time_seconds).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "statefile.h"
#include "store.h"

#define METRICS_MAX (256 * 1024)
#define BUDGET_LOG_EVERY_MS 1000     /* one line a second per kind of hit */

static void
label(struct strbuf *sb, const char *s)
{
	/* a label value: backslash, quote and newline escaped */
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			strbuf_printf(sb, "\\%c", *s);
		else if (*s == '\n')
			strbuf_puts(sb, "\\n");
		else
			strbuf_printf(sb, "%c", *s);
	}
}

static void
head(struct strbuf *sb, const char *name, const char *type, const char *help)
{
	strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The pool's memory (poolmem.c): Pss by process kind, each worker's. */
static void
metrics_memory(struct daemon *d, struct strbuf *sb)
{
	struct pool *p = &d->pool;
	struct pool_mem m;

	poolmem_totals(d, &m);
	head(sb, "ampscan_pool_pss_bytes", "gauge", "Pss of ampdaemon, the loaders and the workers (each one's last report)");
	strbuf_printf(sb, "ampscan_pool_pss_bytes %llu\n", (unsigned long long)m.pss);
	head(sb, "ampscan_pool_pss_by_process_bytes", "gauge", "the pool's Pss by kind of process");
	strbuf_printf(sb, "ampscan_pool_pss_by_process_bytes{process=\"ampdaemon\"} %llu\n",
	    (unsigned long long)m.ampdaemon_pss);
	strbuf_printf(sb, "ampscan_pool_pss_by_process_bytes{process=\"loader\"} %llu\n",
	    (unsigned long long)m.loaders_pss);
	strbuf_printf(sb, "ampscan_pool_pss_by_process_bytes{process=\"worker\"} %llu\n",
	    (unsigned long long)m.workers_pss);
	head(sb, "ampscan_pool_memory_unreported", "gauge", "running pool processes whose memory is not known yet");
	strbuf_printf(sb, "ampscan_pool_memory_unreported %u\n", m.unknown);
	head(sb, "ampscan_worker_private_bytes", "gauge", "a worker's private memory (Private_Clean + Private_Dirty), by slot");
	head(sb, "ampscan_worker_pss_bytes", "gauge", "a worker's Pss, by slot");
	for (unsigned i = 0; i < POOL_SLOTS(p); i++) {
		const struct worker *w = &p->w[i];

		if (w->pid <= 0 || w->mem_ms == 0 || w->mem.err != 0)
			continue;
		strbuf_printf(sb, "ampscan_worker_private_bytes{worker=\"%u\"} %llu\n",
		    w->slot, (unsigned long long)w->mem.priv);
		strbuf_printf(sb, "ampscan_worker_pss_bytes{worker=\"%u\"} %llu\n",
		    w->slot, (unsigned long long)w->mem.pss);
	}
	head(sb, "ampscan_workers_retired_total", "counter", "workers replaced after a request, by reason (memory: WorkerMemoryLimit)");
	strbuf_printf(sb, "ampscan_workers_retired_total{reason=\"memory\"} %llu\n",
	    (unsigned long long)p->retired_memory_total);
}

/* ImportDirectory (importdir.c): nothing without one. */
static void
metrics_import(struct daemon *d, struct strbuf *sb)
{
	const struct importdir *m = &d->imp;

	if (d->cfg.import_directory == NULL || m->f == NULL)
		return;
	head(sb, "ampscan_import_watched", "gauge", "1 while ImportDirectory has an inotify watch (0: read at start and on RELOAD only)");
	strbuf_printf(sb, "ampscan_import_watched %d\n", m->ino_fd >= 0 ? 1 : 0);
	head(sb, "ampscan_import_files_total", "counter", "ImportDirectory's containers judged, by result (imported, rejected, skipped: not newer, io_error: looked at again)");
	for (unsigned k = 0; k < IMPORT_RES_COUNT; k++)
		strbuf_printf(sb, "ampscan_import_files_total{result=\"%s\"} %llu\n",
		    importseen_result_name((enum import_result)k),
		    (unsigned long long)m->results[k]);
	head(sb, "ampscan_import_files_known", "gauge", "ImportDirectory's containers kept in mind (listed, or judged before a restart)");
	strbuf_printf(sb, "ampscan_import_files_known %u\n", m->nf);
	head(sb, "ampscan_import_last_read_time_seconds", "gauge", "when ImportDirectory was last read (Unix time; absent: not yet)");
	if (m->read_ms != 0)
		strbuf_printf(sb, "ampscan_import_last_read_time_seconds %lld\n",
		    (long long)(m->read_ms / 1000));
	head(sb, "ampscan_import_retry_pending", "gauge", "1 while a read of ImportDirectory after an I/O failure is due");
	strbuf_printf(sb, "ampscan_import_retry_pending %d\n",
	    m->retry_ms != 0 ? 1 : 0);
}

static void
metrics_text(struct daemon *d, struct strbuf *sb)
{
	const struct pool *p = &d->pool;
	const struct updates *u = &d->upd;
	struct store_container sc[64];
	size_t n = 0, k;
	unsigned i, ready = 0, restarts = 0;
	char err[256];

	head(sb, "ampscan_up", "gauge", "1 while ampdaemon runs (0 in the file it leaves at stop)");
	strbuf_printf(sb, "ampscan_up %d\n", d->stopping ? 0 : 1);
	head(sb, "ampscan_start_time_seconds", "gauge", "when ampdaemon started (Unix time)");
	strbuf_printf(sb, "ampscan_start_time_seconds %lld\n",
	    (long long)(d->started_ms / 1000));

	head(sb, "ampscan_fault_active", "gauge", "1 while the fault is raised (ampctl faults --all lists them)");
	head(sb, "ampscan_fault_intervention", "gauge", "1 while the raised fault needs a person");
	for (k = 0; k < fault_def_count(); k++) {
		const struct fault_def *def = fault_def_at(k);
		const struct fault_state *st = fault_state_of(&d->faults, def->id);
		bool raised = st != NULL && st->raised;

		strbuf_printf(sb, "ampscan_fault_active{id=\"%d\",name=\"", def->id);
		label(sb, fault_text(def, FAULT_LANG_EN, FAULT_FIELD_PORTAL));
		strbuf_printf(sb, "\"} %d\n", raised ? 1 : 0);
		strbuf_printf(sb, "ampscan_fault_intervention{id=\"%d\"} %d\n", def->id,
		    raised && st->intervention ? 1 : 0);
	}

	for (i = 0; i < POOL_SLOTS(p); i++) {
		ready += worker_phase(&p->w[i]) == WORKER_READY;
		restarts += p->w[i].restarts;
	}
	head(sb, "ampscan_workers", "gauge", "configured workers (Workers)");
	strbuf_printf(sb, "ampscan_workers %u\n", p->n);
	head(sb, "ampscan_workers_ready", "gauge", "workers READY now");
	strbuf_printf(sb, "ampscan_workers_ready %u\n", ready);
	head(sb, "ampscan_worker_restarts_total", "counter", "workers restarted after a crash");
	strbuf_printf(sb, "ampscan_worker_restarts_total %u\n", restarts);
	head(sb, "ampscan_worker_crashes_total", "counter", "worker crashes by signal (or exit N, timeout)");
	for (k = 0; k < p->ncrash_kinds; k++) {
		strbuf_puts(sb, "ampscan_worker_crashes_total{signal=\"");
		label(sb, p->crash_kinds[k].sig);
		strbuf_printf(sb, "\"} %llu\n",
		    (unsigned long long)p->crash_kinds[k].count);
	}
	if (p->ncrash_kinds == 0)
		strbuf_puts(sb, "ampscan_worker_crashes_total{signal=\"none\"} 0\n");
	metrics_memory(d, sb);

	head(sb, "ampscan_scans_total", "counter", "scan requests answered (files, streams, descriptors)");
	strbuf_printf(sb, "ampscan_scans_total %llu\n", (unsigned long long)p->scans_total);
	head(sb, "ampscan_detections_total", "counter", "scan requests answered FOUND");
	strbuf_printf(sb, "ampscan_detections_total %llu\n",
	    (unsigned long long)p->detections_total);
	head(sb, "ampscan_scan_errors_total", "counter", "scan requests answered with an error");
	strbuf_printf(sb, "ampscan_scan_errors_total %llu\n",
	    (unsigned long long)p->scan_errors_total);
	head(sb, "ampscan_limits_exceeded_total", "counter", "scans that hit a limit (MaxFileSize, MaxScanSize, MaxRecursion, MaxFiles, MaxScanTime; AlertExceedsMax decides the verdict)");
	strbuf_printf(sb, "ampscan_limits_exceeded_total %llu\n",
	    (unsigned long long)p->limits_exceeded_total);
	head(sb, "ampscan_clean_cache_hits_total", "counter", "requests answered from the clean-file cache");
	strbuf_printf(sb, "ampscan_clean_cache_hits_total %llu\n",
	    (unsigned long long)p->cc.n.hits);
	head(sb, "ampscan_clean_cache_misses_total", "counter", "cacheable requests a worker had to scan");
	strbuf_printf(sb, "ampscan_clean_cache_misses_total %llu\n",
	    (unsigned long long)p->cc.n.misses);
	head(sb, "ampscan_clean_cache_entries", "gauge", "clean verdicts held, each with a read lease");
	strbuf_printf(sb, "ampscan_clean_cache_entries %u\n", p->cc.cached);
	head(sb, "ampscan_clean_cache_not_cached_total", "counter", "clean verdicts not kept, by reason");
	strbuf_printf(sb, "ampscan_clean_cache_not_cached_total{reason=\"no_lease\"} %llu\n",
	    (unsigned long long)p->cc.n.no_lease);
	strbuf_printf(sb, "ampscan_clean_cache_not_cached_total{reason=\"short_read\"} %llu\n",
	    (unsigned long long)p->cc.n.short_read);
	strbuf_printf(sb, "ampscan_clean_cache_not_cached_total{reason=\"lease_broke\"} %llu\n",
	    (unsigned long long)p->cc.n.broke);
	strbuf_printf(sb, "ampscan_clean_cache_not_cached_total{reason=\"full\"} %llu\n",
	    (unsigned long long)p->cc.n.full);
	head(sb, "ampscan_walk_memory_bytes", "gauge", "bytes of directory listings held by the scan socket's walks");
	strbuf_printf(sb, "ampscan_walk_memory_bytes %zu\n", d->budgets.walk_bytes);
	head(sb, "ampscan_walk_budget_refusals_total", "counter", "directories not walked whole: the walks' memory budget was spent");
	strbuf_printf(sb, "ampscan_walk_budget_refusals_total %llu\n",
	    (unsigned long long)d->budgets.walk_refused);
	head(sb, "ampscan_queue_length", "gauge", "scan requests waiting for a worker");
	strbuf_printf(sb, "ampscan_queue_length %zu\n", p->queued);
	head(sb, "ampscan_budget_refusals_total", "counter", "clients refused by a budget of the service (StreamMemoryLimit, MaxConnectionsPerUser, the reserved slots, MaxSessionTime; RELOADs coalesced)");
	for (k = 0; k < BUDGET_COUNT; k++)
		strbuf_printf(sb, "ampscan_budget_refusals_total{budget=\"%s\"} %llu\n",
		    budget_name((enum budget)k),
		    (unsigned long long)d->budgets.refused[k]);
	head(sb, "ampscan_stream_bytes_held", "gauge", "INSTREAM bytes held now (at most StreamMemoryLimit)");
	strbuf_printf(sb, "ampscan_stream_bytes_held %llu\n",
	    (unsigned long long)d->budgets.stream_held);

	/* the active containers (headers: cheap, no verification) */
	head(sb, "ampscan_definitions_version", "gauge", "version of each active container");
	head(sb, "ampscan_definitions_build_time_seconds", "gauge", "build time of each active container (Unix time); its age is time() minus this");
	if (store_active_summary(d->cfg.definitions_dir, sc, 64, &n, err,
	    sizeof(err)) == 0) {
		for (k = 0; k < n; k++) {
			const char *dot = strrchr(sc[k].name, '.');
			char db[STORE_NAME_MAX + 1];

			if (!sc[k].header_ok)
				continue;
			str_fmt(db, sizeof(db), "%.*s", (int)(dot ? (size_t)(dot -
			    sc[k].name) : strlen(sc[k].name)), sc[k].name);
			strbuf_puts(sb, "ampscan_definitions_version{db=\"");
			label(sb, db);
			strbuf_printf(sb, "\"} %u\n", sc[k].version);
			if (sc[k].has_stime) {
				strbuf_puts(sb, "ampscan_definitions_build_time_seconds{db=\"");
				label(sb, db);
				strbuf_printf(sb, "\"} %llu\n",
				    (unsigned long long)sc[k].stime);
			}
		}
	}
	head(sb, "ampscan_update_in_progress", "gauge", "1 while a definitions update runs");
	strbuf_printf(sb, "ampscan_update_in_progress %d\n", u->cur != NULL ? 1 : 0);
	head(sb, "ampscan_last_update_success", "gauge", "1 if the last update was activated, 0 if not (absent: none yet)");
	head(sb, "ampscan_last_update_time_seconds", "gauge", "when the last update ended (Unix time)");
	if (u->have_last) {
		strbuf_printf(sb, "ampscan_last_update_success %d\n", u->last_ok ? 1 : 0);
		strbuf_printf(sb, "ampscan_last_update_time_seconds %lld\n",
		    (long long)(u->last_ms / 1000));
	}
	metrics_import(d, sb);
}

const char *
budget_name(enum budget b)
{
	static const char *const names[BUDGET_COUNT] = {
		[BUDGET_STREAM_MEMORY] = "stream_memory",
		[BUDGET_CONNS_PER_USER] = "connections_per_user",
		[BUDGET_RESERVED_SLOTS] = "reserved_slots",
		[BUDGET_SESSION_TIME] = "session_time",
		[BUDGET_RELOAD_COALESCED] = "reload_coalesced",
	};

	return (unsigned)b < BUDGET_COUNT ? names[b] : "?";
}

/*
 * A client that hits a budget again and again must not fill the log:
 * the first hit of a kind is logged, then at most one a second, saying
 * how many were not.
 */
void
budget_hit(struct daemon *d, enum budget b, uid_t uid, const char *what)
{
	struct budgets *bg = &d->budgets;
	int64_t now = walltime_now_ms();

	bg->refused[b]++;
	metrics_touch(d);
	if (bg->logged_ms[b] != 0 && now - bg->logged_ms[b] < BUDGET_LOG_EVERY_MS) {
		bg->unlogged[b]++;
		return;
	}
	if (bg->unlogged[b] > 0)
		dlog(&d->log, DLOG_WARNING, "budget %s: uid %u: %s (and %llu more such since the last line)",
		    budget_name(b), (unsigned)uid, what,
		    (unsigned long long)bg->unlogged[b]);
	else
		dlog(&d->log, DLOG_WARNING, "budget %s: uid %u: %s",
		    budget_name(b), (unsigned)uid, what);
	bg->logged_ms[b] = now;
	bg->unlogged[b] = 0;
}

void
metrics_write(struct daemon *d)
{
	char dir[4096], err[512];
	const char *slash;
	struct strbuf sb;

	if (d->cfg.metrics_file == NULL)
		return;
	ev_timer_stop(d->loop, &d->metrics_timer);
	slash = strrchr(d->cfg.metrics_file, '/');
	str_fmt(dir, sizeof(dir), "%.*s", (int)(slash - d->cfg.metrics_file),
	    d->cfg.metrics_file);
	if (dir[0] == '\0')
		str_fmt(dir, sizeof(dir), "/");
	strbuf_init(&sb, METRICS_MAX);
	metrics_text(d, &sb);
	if (sb.failed)
		dlog(&d->log, DLOG_ERROR, "%s: more than %d bytes of metrics",
		    d->cfg.metrics_file, METRICS_MAX);
	else if (statefile_write(dir, slash + 1, sb.buf, sb.len, 0644, err,
	    sizeof(err)) != 0)
		dlog(&d->log, DLOG_ERROR, "metrics: %s", err);
	strbuf_free(&sb);
}

static void
metrics_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	metrics_write(t->data);
}

void
metrics_init(struct daemon *d)
{
	ev_init(&d->metrics_timer, metrics_on_timer);
	d->metrics_timer.data = d;
}

void
metrics_stop(struct daemon *d)
{
	if (d->loop != NULL)
		ev_timer_stop(d->loop, &d->metrics_timer);
}
