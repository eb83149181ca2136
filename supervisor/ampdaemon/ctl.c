/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket (docs/control.md): root only
 * (mode 0600 and the peer's uid checked with SO_PEERCRED), one request
 * per connection, answered with output frames and an exit status.  The
 * commands of ampctl are carried out here, without blocking the loop: a
 * scan goes through the pool one file at a time, repair-account waits
 * for the pool, events --follow stays subscribed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "account.h"
#include "connset.h"
#include "ctlproto.h"
#include "daemon.h"
#include "diag.h"
#include "json.h"
#include "num.h"

#ifndef AMPSCAN_VERSION
#define AMPSCAN_VERSION "0.0.0"
#endif

#define CTL_OUT_MAX (16u << 20)     /* bytes waiting for a slow client */
#define CTL_CONNS_MAX 64            /* clients at once */
#define CTL_EVENTS_DEFAULT 20       /* events shown without -n */
#define CTL_EVENTS_MAX 10000        /* -n at most */
#define CTL_SOCK_MODE 0600
#define CTL_BACKLOG 16              /* listen(2) */
#define CTL_REQUEST_TIMEOUT 10.0    /* seconds a client has to send its request */
#define CTL_DIAG_TIMEOUT_MS 60000   /* the diagnosis child's time limit */
#define CTL_DIAG_FAILED 3           /* its exit status when diag_run failed */

struct ctl_conn {
	struct conn conn;            /* first; its timer: the request must come
	                              * in time; busy: a scan, repair, update or
	                              * diag refers to it; closing: X queued */
	struct daemon *d;
	struct ctl_decoder dec;
	bool requested;              /* the request came */
	bool refused;                /* not root: answered once it has spoken */
	uid_t uid;
	bool follow, json;
	/* scan */
	char **argv;                 /* the decoded request (one allocation) */
	uint8_t *reqcopy;
	size_t argc, next;
	bool allmatch, first_json;
	unsigned found, errors;
	struct scan_req req;
	/* diag: run in a child (it reads files) */
	struct task diag;
	bool diag_started;
	struct diag_opts diag_opts;
	char core_pattern[256];
};

struct ctl {
	struct connset set;
	struct ctl_conn *repair;     /* waiting for repair-account */
};

static void conn_refuse(struct ctl_conn *c);

/* ---- connections ------------------------------------------------------- */

/* connset_ops.release: what the connection owns beyond struct conn */
static void
conn_release_ctl(struct conn *cn)
{
	struct ctl_conn *c = (struct ctl_conn *)cn;

	if (c->diag_started)
		task_release(&c->diag);
	ctl_decoder_free(&c->dec);
	free(c->reqcopy);
	free(c->argv);
}

static void
conn_frame(struct ctl_conn *c, uint8_t type, const void *p, size_t len)
{
	if (c->conn.dead)
		return;
	ctl_frame_encode(&c->conn.out, type, p, len);
	if (c->conn.out.failed) {
		/* a client that does not read: it loses its connection */
		dlog(&c->d->log, DLOG_WARNING, "control: a client does not read its output; closing it");
		conn_close(&c->conn);
	}
}

static void
conn_out(struct ctl_conn *c, const struct strbuf *sb)
{
	size_t off, n;

	for (off = 0; off < sb->len && !c->conn.dead; off += n) {
		n = sb->len - off > CTL_FRAME_MAX ? CTL_FRAME_MAX : sb->len - off;
		conn_frame(c, CTL_OUT, sb->buf + off, n);
	}
}

static void
conn_err(struct ctl_conn *c, const char *msg)
{
	conn_frame(c, CTL_ERR, msg, strlen(msg));
}

static void
conn_exit(struct ctl_conn *c, int status)
{
	uint8_t b = (uint8_t)status;

	conn_frame(c, CTL_EXIT, &b, 1);
	c->conn.closing = true;
	conn_flush(&c->conn);
}

/* ---- status ------------------------------------------------------------ */

static void
fmt_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600),
		    (long long)(s / 60 % 60));
}

/* Current slots always; a rollover's old half while its workers run. */
static bool
slot_shown(const struct daemon *d, unsigned i)
{
	const struct pool *p = &d->pool;

	return (i >= p->base && i < p->base + p->n) ||
	    worker_phase(&p->w[i]) != WORKER_IDLE;
}

/* "time": ms as the ISO-8601 text */
static void
ctl_json_time(struct jsonw *w, const char *key, int64_t ms)
{
	char t[WALLTIME_LEN];

	walltime_format(ms, t);
	jsonw_key_str(w, key, t);
}

/* "cdiffs_waiting": incoming/'s cdiffs whose base has not arrived */
static void
cdiffs_waiting_json(struct daemon *d, struct jsonw *w)
{
	const struct incoming *in = &d->inc;

	jsonw_key(w, "cdiffs_waiting");
	jsonw_arr_begin(w);
	for (unsigned i = 0; i < in->ncd; i++) {
		const struct incoming_cdiff *e = &in->cd[i];

		if (e->waits_for == 0)
			continue;
		jsonw_obj_begin(w);
		jsonw_key_str(w, "file", e->name);
		jsonw_key_str(w, "database", e->db);
		jsonw_key_uint(w, "version", e->version);
		jsonw_key_uint(w, "waits_for", e->waits_for);
		ctl_json_time(w, "since", e->since_ms);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

/* "update": the one in progress, the queue, the last verdict */
static void
update_json(struct daemon *d, struct jsonw *w)
{
	const struct updates *u = &d->upd;

	jsonw_key(w, "update");
	jsonw_obj_begin(w);
	jsonw_key_bool(w, "in_progress", u->cur != NULL);
	jsonw_key_uint(w, "queued", u->n);
	jsonw_key_str_or_null(w, "file", u->cur == NULL ? NULL :
	    u->cur->reload ? "(reload)" : u->cur->path);
	jsonw_key_str_or_null(w, "step", u->cur != NULL ? u->step : NULL);
	jsonw_key_str_or_null(w, "waiting", u->mem_waiting ? u->wait_reason : NULL);
	cdiffs_waiting_json(d, w);
	jsonw_key(w, "last");
	if (!u->have_last) {
		jsonw_null(w);
	} else {
		jsonw_obj_begin(w);
		ctl_json_time(w, "time", u->last_ms);
		jsonw_key_bool(w, "ok", u->last_ok);
		jsonw_key_str(w, "file", u->last_file);
		jsonw_key_str(w, "verdict", u->last_text);
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

static void
update_text(struct daemon *d, struct strbuf *sb, int64_t now)
{
	const struct updates *u = &d->upd;
	char when[WALLTIME_LEN], dur[32];

	strbuf_puts(sb, "\ndefinitions update: ");
	if (u->cur != NULL) {
		fmt_duration(now - u->step_ms, dur, sizeof(dur));
		strbuf_printf(sb, "IN PROGRESS: %s, %s (for %s)", u->cur->reload ?
		    "reload" : u->cur->path, u->step, dur);
		if (u->mem_waiting)
			strbuf_printf(sb, "\n  waiting: %s", u->wait_reason);
	} else {
		strbuf_puts(sb, "none in progress");
	}
	if (u->n > 0)
		strbuf_printf(sb, "; %u waiting", u->n);
	strbuf_puts(sb, "\n");
	for (unsigned i = 0; i < d->inc.ncd; i++) {
		const struct incoming_cdiff *e = &d->inc.cd[i];

		if (e->waits_for == 0)
			continue;
		walltime_format(e->since_ms, when);
		fmt_duration(now - e->since_ms, dur, sizeof(dur));
		strbuf_printf(sb, "  cdiff waiting: %s (%s version %u) waits for %s version %u, since %s (for %s)\n",
		    e->name, e->db, e->version, e->db, e->waits_for, when, dur);
	}
	if (u->have_last) {
		walltime_format(u->last_ms, when);
		strbuf_printf(sb, "  last: %s %s: %s\n", when, u->last_file,
		    u->last_text);
	}
}

/* ImportDirectory's last outcome of a kind, or null. */
static void
import_last_json(struct jsonw *w, const char *key, const struct import_last *l,
    const char *textkey)
{
	jsonw_key(w, key);
	if (l->ms == 0) {
		jsonw_null(w);
		return;
	}
	jsonw_obj_begin(w);
	ctl_json_time(w, "time", l->ms);
	jsonw_key_str(w, "file", l->file);
	jsonw_key_uint(w, "version", l->version);
	jsonw_key_str(w, textkey, l->text);
	jsonw_obj_end(w);
}

/* "import": ImportDirectory (importdir.c), null without one */
static void
import_json(struct daemon *d, struct jsonw *w)
{
	const struct importdir *m = &d->imp;

	jsonw_key(w, "import");
	if (d->cfg.import_directory == NULL || m->f == NULL) {
		jsonw_null(w);
		return;
	}
	jsonw_obj_begin(w);
	jsonw_key_str(w, "directory", d->cfg.import_directory);
	jsonw_key_bool(w, "watched", m->ino_fd >= 0);
	jsonw_key_str_or_null(w, "watch_error", m->ino_fd >= 0 ? NULL : m->watch_error);
	jsonw_key(w, "last_read");
	if (m->read_ms == 0) {
		jsonw_null(w);
	} else {
		jsonw_obj_begin(w);
		ctl_json_time(w, "time", m->read_ms);
		jsonw_key_str(w, "why", importseen_why_name(m->read_why));
		jsonw_obj_end(w);
	}
	jsonw_key_uint(w, "files_known", m->nf);
	jsonw_key_uint(w, "files_judged", importdir_judged(d));
	jsonw_key(w, "results");
	jsonw_obj_begin(w);
	for (unsigned k = 0; k < IMPORT_RES_COUNT; k++)
		jsonw_key_uint(w, importseen_result_name((enum import_result)k),
		    m->results[k]);
	jsonw_obj_end(w);
	import_last_json(w, "last_imported", &m->imported, "verdict");
	import_last_json(w, "last_rejected", &m->rejected, "reason");
	import_last_json(w, "last_io_error", &m->io_error, "error");
	if (m->retry_ms != 0)
		ctl_json_time(w, "retry_at", m->retry_ms);
	else {
		jsonw_key(w, "retry_at");
		jsonw_null(w);
	}
	jsonw_obj_end(w);
}

/* "  last imported: TIME test.cld (version 6): ..." */
static void
import_last_text(struct strbuf *sb, const char *what, const struct import_last *l)
{
	char when[WALLTIME_LEN];

	if (l->ms == 0)
		return;
	walltime_format(l->ms, when);
	strbuf_printf(sb, "  last %s: %s %s", what, when, l->file);
	if (l->version > 0)
		strbuf_printf(sb, " (version %u)", l->version);
	strbuf_printf(sb, ": %s\n", l->text);
}

/* ImportDirectory: its watch, the last read, what was judged, the last
 * of each outcome, a retry; nothing without ImportDirectory. */
static void
import_text(struct daemon *d, struct strbuf *sb, int64_t now)
{
	const struct importdir *m = &d->imp;
	char when[WALLTIME_LEN], dur[32];

	if (d->cfg.import_directory == NULL || m->f == NULL)
		return;
	strbuf_printf(sb, "\nimport: %s, ", d->cfg.import_directory);
	if (m->ino_fd >= 0)
		strbuf_puts(sb, "watched (inotify)\n");
	else
		strbuf_printf(sb, "NOT WATCHED (%s): read at start and on RELOAD only\n",
		    m->watch_error);
	if (m->read_ms != 0) {
		walltime_format(m->read_ms, when);
		strbuf_printf(sb, "  read: %s (%s)", when, importseen_why_name(m->read_why));
	} else {
		strbuf_puts(sb, "  read: not yet");
	}
	strbuf_printf(sb, "; %u file(s) known, %u judged; since start %llu imported, %llu rejected, %llu skipped, %llu I/O error(s)\n",
	    m->nf, importdir_judged(d),
	    (unsigned long long)m->results[IMPORT_RES_IMPORTED],
	    (unsigned long long)m->results[IMPORT_RES_REJECTED],
	    (unsigned long long)m->results[IMPORT_RES_SKIPPED],
	    (unsigned long long)m->results[IMPORT_RES_IO_ERROR]);
	import_last_text(sb, "imported", &m->imported);
	import_last_text(sb, "rejected", &m->rejected);
	import_last_text(sb, "I/O error", &m->io_error);
	if (m->retry_ms != 0) {
		walltime_format(m->retry_ms, when);
		fmt_duration(m->retry_ms > now ? m->retry_ms - now : 0, dur, sizeof(dur));
		strbuf_printf(sb, "  retry: %s (in %s)\n", when, dur);
	}
}

/* "memory": a process's last report (MEM), or null. */
static void
mem_json(struct jsonw *w, const struct wproto_mem *m, int64_t at, int64_t now)
{
	char e[64];

	jsonw_key(w, "memory");
	if (at == 0) {
		jsonw_null(w);
		return;
	}
	jsonw_obj_begin(w);
	jsonw_key_uint(w, "rss", m->rss);
	jsonw_key_uint(w, "pss", m->pss);
	jsonw_key_uint(w, "private", m->priv);
	jsonw_key_int(w, "at_ms", at);
	jsonw_key_int(w, "age_ms", now - at);
	if (m->err != 0)
		snprintf(e, sizeof(e), "%s", strerror((int)m->err));
	jsonw_key_str_or_null(w, "error", m->err != 0 ? e : NULL);
	jsonw_obj_end(w);
}

/* "memory": the pool's Pss, and its parts (poolmem.c). */
static void
pool_mem_json(struct daemon *d, struct jsonw *w)
{
	struct pool_mem m;

	poolmem_totals(d, &m);
	jsonw_key(w, "memory");
	jsonw_obj_begin(w);
	jsonw_key_uint(w, "pool_pss", m.pss);
	jsonw_key_uint(w, "ampdaemon_pss", m.ampdaemon_pss);
	jsonw_key_uint(w, "ampdaemon_rss", m.ampdaemon_rss);
	jsonw_key_uint(w, "ampdaemon_private", m.ampdaemon_priv);
	jsonw_key_uint(w, "loaders_pss", m.loaders_pss);
	jsonw_key_uint(w, "workers_pss", m.workers_pss);
	jsonw_key_uint(w, "workers_private", m.workers_priv);
	jsonw_key_uint(w, "processes", m.processes);
	jsonw_key_uint(w, "unreported", m.unknown);
	jsonw_key_int(w, "oldest_at_ms", m.oldest_ms);
	jsonw_key_uint(w, "worker_memory_limit", d->cfg.worker_memory_limit);
	jsonw_key_uint(w, "retired", d->pool.retired_memory_total);
	jsonw_obj_end(w);
}

static void
status_json_worker(struct jsonw *w, const struct worker *wk, int64_t now)
{
	enum worker_state ph = worker_phase(wk);
	bool running = ph == WORKER_STARTING || ph == WORKER_READY ||
	    ph == WORKER_STOPPING;

	jsonw_obj_begin(w);
	jsonw_key_uint(w, "slot", wk->slot);
	jsonw_key_str(w, "state", worker_state_name(ph));
	jsonw_key_bool(w, "busy", wk->req != NULL);
	jsonw_key_int(w, "pid", running ? wk->pid : 0);
	jsonw_key_int(w, "uid", running ? (int)wk->uid : -1);   /* as %d was */
	jsonw_key_bool(w, "as_root", wk->as_root);
	jsonw_key_int(w, "uptime_ms", running ? now - wk->started_ms : 0);
	jsonw_key_uint(w, "scans", wk->scans);
	jsonw_key_uint(w, "restarts", wk->restarts);
	mem_json(w, &wk->mem, running ? wk->mem_ms : 0, now);
	jsonw_obj_end(w);
}

/* "definitions": the workers' databases and signature types */
static void
status_json_defs(struct daemon *d, struct jsonw *w)
{
	const struct wproto_ready *r = &d->pool.ready;
	size_t k;

	jsonw_key(w, "definitions");
	jsonw_obj_begin(w);
	jsonw_key(w, "databases");
	jsonw_arr_begin(w);
	for (k = 0; d->pool.have_ready && k < r->ndbs; k++) {
		jsonw_obj_begin(w);
		jsonw_key_str(w, "name", r->dbs[k].name);
		jsonw_key_uint(w, "version", r->dbs[k].version);
		jsonw_key_str(w, "kind", r->dbs[k].kind);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_key(w, "types");
	jsonw_arr_begin(w);
	for (k = 0; d->pool.have_ready && k < r->ntypes; k++) {
		jsonw_obj_begin(w);
		jsonw_key_str(w, "type", r->types[k].type);
		jsonw_key_uint(w, "loaded", r->types[k].loaded);
		jsonw_key_uint(w, "not_loaded", r->types[k].not_loaded);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

/* "faults": the raised ones */
static void
status_json_faults(struct daemon *d, struct jsonw *w)
{
	const struct fault_def *def;
	const struct fault_state *st;
	size_t k;

	jsonw_key(w, "faults");
	jsonw_arr_begin(w);
	for (k = 0; k < fault_def_count(); k++) {
		def = fault_def_at(k);
		st = fault_state_of(&d->faults, def->id);
		if (st == NULL || !st->raised)
			continue;
		jsonw_obj_begin(w);
		jsonw_key_int(w, "id", def->id);
		jsonw_key_str(w, "name", fault_text(def, FAULT_LANG_EN, FAULT_FIELD_PORTAL));
		ctl_json_time(w, "since", st->since_ms);
		jsonw_key_bool(w, "intervention", st->intervention);
		jsonw_key_str(w, "detail", st->detail);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}


/* The clean-file cache's counters (cleancache.h). */
static void
cache_json(struct jsonw *w, const struct cleancache *c)
{
	const struct cc_counters *n = &c->n;

	jsonw_key_uint(w, "entries", c->cached);
	jsonw_key_uint(w, "max_entries", c->cap);
	jsonw_key_uint(w, "pending", c->pending);
	jsonw_key_uint(w, "hits", n->hits);
	jsonw_key_uint(w, "misses", n->misses);
	jsonw_key(w, "not_cached");
	jsonw_obj_begin(w);
	jsonw_key_uint(w, "no_lease", n->no_lease);
	jsonw_key_uint(w, "short_read", n->short_read);
	jsonw_key_uint(w, "lease_broke", n->broke);
	jsonw_key_uint(w, "full", n->full);
	jsonw_obj_end(w);
	jsonw_key_uint(w, "dropped", n->dropped);
	jsonw_key_str_or_null(w, "last_lease_error",
	    c->lease_error[0] ? c->lease_error : NULL);
}

static void
cache_text(struct strbuf *sb, const struct cleancache *c)
{
	const struct cc_counters *n = &c->n;

	strbuf_printf(sb, "clean-file cache: %u of %u entries leased, %llu hits, %llu misses; not cached: %llu no lease, %llu short read, %llu lease broke, %llu full\n",
	    c->cached, c->cap, (unsigned long long)n->hits,
	    (unsigned long long)n->misses, (unsigned long long)n->no_lease,
	    (unsigned long long)n->short_read, (unsigned long long)n->broke,
	    (unsigned long long)n->full);
	if (c->lease_error[0])
		strbuf_printf(sb, "  last lease refused: %s\n", c->lease_error);
}

/* WorkerLaunch loader: the current loader, and how often one loaded. */
static void
status_json_loader(struct daemon *d, struct jsonw *w, int64_t now)
{
	static const char *const st[] = { "down", "starting", "ready", "backoff",
	    "stopping" };
	const struct loaders *ls = &d->pool.loaders;
	const struct loader *l = &ls->l[ls->cur];

	const struct loader *o = &ls->l[ls->cur ^ 1u];

	jsonw_key(w, "loader");
	jsonw_obj_begin(w);
	/* exec: no Landlock, the workers are exec'd; exec_fallback says why */
	jsonw_key_str(w, "worker_launch", pool_uses_loader(d) ? "loader" : "exec");
	jsonw_key_str_or_null(w, "exec_fallback",
	    ls->exec_fallback ? ls->fallback_why : NULL);
	jsonw_key_str(w, "state", st[l->st]);
	jsonw_key_int(w, "pid", l->pid > 0 ? l->pid : 0);
	jsonw_key_str_or_null(w, "definitions", l->st == LS_READY ? l->defs : NULL);
	if (l->st == LS_READY)
		ctl_json_time(w, "loaded", l->ready_ms);
	else {
		jsonw_key(w, "loaded");
		jsonw_null(w);
	}
	jsonw_key_uint(w, "load_ms", l->st == LS_READY ? l->load_ms : 0);
	/* LoaderHugePages (docs/loader.md): what its READY said */
	jsonw_key_uint(w, "huge_pages_mb", l->st == LS_READY ? l->huge_bytes >> 20 : 0);
	jsonw_key_uint(w, "collapse_ms", l->st == LS_READY ? l->collapse_ms : 0);
	jsonw_key_uint(w, "loads", ls->loads);
	jsonw_key_uint(w, "last_load_ms", ls->last_load_ms);
	jsonw_key_uint(w, "forks", l->forks);
	jsonw_key_int(w, "uptime_ms", l->pid > 0 ? now - l->started_ms : 0);
	mem_json(w, &l->mem, l->pid > 0 ? l->mem_ms : 0, now);
	jsonw_key_uint(w, "pss_at_ready", l->pss_at_ready);
	/* an update's candidate (the trial), or the one retired, exiting */
	jsonw_key(w, "other");
	if (o->pid <= 0) {
		jsonw_null(w);
	} else {
		jsonw_obj_begin(w);
		jsonw_key_str(w, "role", o->candidate ? "candidate" : "retired");
		jsonw_key_str(w, "state", st[o->st]);
		jsonw_key_int(w, "pid", o->pid);
		jsonw_key_str_or_null(w, "definitions", o->st == LS_READY ? o->defs : NULL);
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

static void
status_json(struct daemon *d, struct strbuf *sb, int64_t now)
{
	struct jsonw w;
	unsigned i;

	jsonw_init(&w, strbuf_sink, sb);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "version", AMPSCAN_VERSION);
	jsonw_key_int(&w, "pid", getpid());
	jsonw_key_int(&w, "uptime_ms", now - d->started_ms);
	jsonw_key_str(&w, "scan_user", d->cfg.scan_user);
	jsonw_key_uint(&w, "queue", d->pool.queued);
	jsonw_key_bool(&w, "unavailable", pool_is_unavailable(d));
	jsonw_key(&w, "clean_cache");
	jsonw_obj_begin(&w);
	cache_json(&w, &d->pool.cc);
	jsonw_obj_end(&w);
	jsonw_key(&w, "workers");
	jsonw_arr_begin(&w);
	for (i = 0; i < POOL_SLOTS(&d->pool); i++) {
		if (slot_shown(d, i))
			status_json_worker(&w, &d->pool.w[i], now);
	}
	jsonw_arr_end(&w);
	/* SpareWorkers: forked, READY, given no request (spares.c) */
	jsonw_key(&w, "spares");
	jsonw_arr_begin(&w);
	for (i = POOL_SLOTS(&d->pool); i < POOL_ALL(&d->pool); i++)
		status_json_worker(&w, &d->pool.w[i], now);
	jsonw_arr_end(&w);
	if (d->cfg.worker_launch == CONFIG_LAUNCH_LOADER)
		status_json_loader(d, &w, now);
	pool_mem_json(d, &w);
	update_json(d, &w);
	import_json(d, &w);
	status_json_defs(d, &w);
	status_json_faults(d, &w);
	jsonw_key(&w, "poison");
	poison_json(&w, &d->poison);
	jsonw_obj_end(&w);
	strbuf_puts(sb, "\n");
}

/* "memory: pool Pss 612.3 MiB (ampdaemon 3.1, loader 120.0, 4 workers 489.2); ..." */
static void
status_mem_text(struct daemon *d, struct strbuf *sb)
{
	struct pool_mem m;
	const double mib = 1 << 20;

	poolmem_totals(d, &m);
	strbuf_printf(sb, "memory: pool Pss %.1f MiB (ampdaemon %.1f, loaders %.1f, workers %.1f)",
	    (double)m.pss / mib, (double)m.ampdaemon_pss / mib,
	    (double)m.loaders_pss / mib, (double)m.workers_pss / mib);
	if (m.unknown > 0)
		strbuf_printf(sb, ", %u process(es) not reported yet", m.unknown);
	if (d->cfg.worker_memory_limit > 0)
		strbuf_printf(sb, "; WorkerMemoryLimit %.1f MiB private, %llu retired",
		    (double)d->cfg.worker_memory_limit / mib,
		    (unsigned long long)d->pool.retired_memory_total);
	strbuf_puts(sb, "\n");
}

/* WorkerLaunch loader: which set it holds, its pid, its load. */
static void
loader_text(struct daemon *d, struct strbuf *sb, int64_t now)
{
	static const char *const st[] = { "down", "starting", "ready", "backoff",
	    "stopping" };
	const struct loaders *ls = &d->pool.loaders;
	const struct loader *l = &ls->l[ls->cur], *o = &ls->l[ls->cur ^ 1u];
	char when[WALLTIME_LEN], up[32];

	if (ls->exec_fallback) {
		strbuf_printf(sb, "\nloader: none, workers are exec'd (fallback): %s\n",
		    ls->fallback_why);
		return;
	}
	if (l->st == LS_READY) {
		walltime_format(l->ready_ms, when);
		strbuf_printf(sb, "\nloader: pid %d, ready, holds %s; loaded %s in %.3f s; %llu fork(s); %llu load(s) since start\n",
		    (int)l->pid, l->defs[0] ? l->defs : "(no set named)", when,
		    (double)l->load_ms / 1000.0, (unsigned long long)l->forks,
		    (unsigned long long)ls->loads);
	} else {
		fmt_duration(l->pid > 0 ? now - l->started_ms : 0, up, sizeof(up));
		if (l->pid > 0)
			strbuf_printf(sb, "\nloader: pid %d, %s (for %s); %llu load(s) since start\n",
			    (int)l->pid, st[l->st], up, (unsigned long long)ls->loads);
		else
			strbuf_printf(sb, "\nloader: %s; %llu load(s) since start\n",
			    st[l->st], (unsigned long long)ls->loads);
	}
	if (o->pid > 0)
		strbuf_printf(sb, "  %s loader: pid %d, %s%s%s\n",
		    o->candidate ? "the update's candidate" : "a retired", (int)o->pid,
		    st[o->st], o->st == LS_READY ? ", holds " : "",
		    o->st == LS_READY ? o->defs : "");
}

static void
status_text(struct daemon *d, struct strbuf *sb, int64_t now)
{
	const struct wproto_ready *r = &d->pool.ready;
	const struct fault_def *def;
	const struct fault_state *st;
	char up[32], when[WALLTIME_LEN];
	unsigned i, ready = 0;
	size_t k;
	bool any = false;

	for (i = 0; i < POOL_SLOTS(&d->pool); i++)
		ready += worker_phase(&d->pool.w[i]) == WORKER_READY;
	fmt_duration(now - d->started_ms, up, sizeof(up));
	strbuf_printf(sb, "ampdaemon %s, pid %d, up %s\n", AMPSCAN_VERSION,
	    (int)getpid(), up);
	strbuf_printf(sb, "scan service: %s; %u of %u workers ready; %zu request(s) queued\n",
	    pool_is_unavailable(d) ? "UNAVAILABLE" : ready ? "running" : "starting",
	    ready, d->pool.n, d->pool.queued);
	cache_text(sb, &d->pool.cc);
	status_mem_text(d, sb);
	strbuf_printf(sb, "\n  %-4s %-9s %-8s %-7s %-9s %-8s %-8s %s\n", "#", "state",
	    "pid", "uid", "uptime", "scans", "restarts", "private");
	for (i = 0; i < POOL_SLOTS(&d->pool); i++) {
		const struct worker *w = &d->pool.w[i];
		bool running = worker_phase(w) == WORKER_STARTING ||
		    worker_phase(w) == WORKER_READY || worker_phase(w) == WORKER_STOPPING;
		char pid[16] = "-", uid[16] = "-", priv[24] = "-";

		if (!slot_shown(d, i))
			continue;
		if (running) {
			snprintf(pid, sizeof(pid), "%d", (int)w->pid);
			snprintf(uid, sizeof(uid), "%d%s", (int)w->uid,
			    w->as_root ? "!" : "");
			fmt_duration(now - w->started_ms, up, sizeof(up));
			if (w->mem_ms > 0 && w->mem.err == 0)
				snprintf(priv, sizeof(priv), "%.1fM",
				    (double)w->mem.priv / (1 << 20));
		} else {
			snprintf(up, sizeof(up), "-");
		}
		strbuf_printf(sb, "  %-4u %-9s %-8s %-7s %-9s %-8llu %-8u %s\n", w->slot,
		    w->req ? "busy" : worker_state_name(worker_phase(w)), pid, uid, up,
		    (unsigned long long)w->scans, w->restarts, priv);
	}
	strbuf_puts(sb, "\ndefinitions:");
	if (!d->pool.have_ready)
		strbuf_puts(sb, " (no worker has been READY yet)");
	for (k = 0; d->pool.have_ready && k < r->ndbs; k++)
		strbuf_printf(sb, "%s %s version %u (%s)", k ? "," : "",
		    r->dbs[k].name, r->dbs[k].version, r->dbs[k].kind);
	strbuf_puts(sb, "\n");
	if (d->pool.have_ready && r->ntypes > 0) {
		strbuf_puts(sb, "signatures:");
		for (k = 0; k < r->ntypes; k++)
			strbuf_printf(sb, "%s %s %llu%s", k ? "," : "", r->types[k].type,
			    (unsigned long long)r->types[k].loaded,
			    r->types[k].not_loaded ? " (+ not loaded)" : "");
		strbuf_puts(sb, "\n");
	}
	if (d->cfg.worker_launch == CONFIG_LAUNCH_LOADER)
		loader_text(d, sb, now);
	for (i = POOL_SLOTS(&d->pool); i < POOL_ALL(&d->pool); i++)
		strbuf_printf(sb, "%sspare %u: %s, pid %d%s", i == POOL_SLOTS(&d->pool) ?
		    "" : "; ", d->pool.w[i].slot, worker_state_name(worker_phase(&d->pool.w[i])),
		    d->pool.w[i].pid > 0 ? (int)d->pool.w[i].pid : 0,
		    i + 1 == POOL_ALL(&d->pool) ? "\n" : "");
	update_text(d, sb, now);
	import_text(d, sb, now);
	strbuf_puts(sb, "\nfaults:");
	for (k = 0; k < fault_def_count(); k++) {
		def = fault_def_at(k);
		st = fault_state_of(&d->faults, def->id);
		if (st == NULL || !st->raised)
			continue;
		walltime_format(st->since_ms, when);
		strbuf_printf(sb, "\n  %d %s (since %s%s)\n    %s", def->id,
		    fault_text(def, FAULT_LANG_EN, FAULT_FIELD_PORTAL), when,
		    st->intervention ? ", NEEDS INTERVENTION" : "", st->detail);
		any = true;
	}
	strbuf_puts(sb, any ? "\n" : " none\n");
}

/* ---- commands ------------------------------------------------------------ */

static bool
opt_is(const struct ctl_conn *c, size_t i, const char *name)
{
	return strcmp(c->argv[i], name) == 0;
}

/* A command's usage error: the usage line, exit status 2. */
static void
cmd_usage(struct ctl_conn *c, const char *usage)
{
	conn_err(c, usage);
	conn_exit(c, 2);
}

static void
cmd_status(struct ctl_conn *c)
{
	struct daemon *d = c->d;
	struct strbuf sb;
	size_t i;

	for (i = 1; i < c->argc; i++) {
		if (opt_is(c, i, "--json"))
			c->json = true;
		else {
			cmd_usage(c, "ampctl status: usage: status [--json]\n");
			return;
		}
	}
	strbuf_init(&sb, CTL_OUT_MAX);
	if (c->json)
		status_json(d, &sb, walltime_now_ms());
	else
		status_text(d, &sb, walltime_now_ms());
	conn_out(c, &sb);
	strbuf_free(&sb);
	conn_exit(c, faults_raised_count(&d->faults) > 0 ? 1 : 0);
}

static void
fault_text_entry(struct strbuf *sb, const struct fault_def *def,
    const struct fault_state *st, enum fault_lang lang)
{
	char when[WALLTIME_LEN];

	strbuf_printf(sb, "fault %d: %s\n", def->id,
	    fault_text(def, lang, FAULT_FIELD_PORTAL));
	if (st != NULL && st->raised) {
		walltime_format(st->since_ms, when);
		strbuf_printf(sb, "  raised:  %s%s\n", when, st->intervention ?
		    " (needs intervention)" : "");
		strbuf_printf(sb, "  detail:  %s\n", st->detail);
	} else {
		strbuf_printf(sb, "  state:   %s\n", def->linux_raised ?
		    "not raised" : "never raised on Linux");
	}
	strbuf_printf(sb, "  endpoint: %s\n", fault_text(def, lang,
	    FAULT_FIELD_ENDPOINT));
	strbuf_printf(sb, "  when:    %s\n", fault_text(def, lang,
	    FAULT_FIELD_CONDITION));
	strbuf_printf(sb, "  remedy:  %s\n\n", fault_text(def, lang,
	    FAULT_FIELD_REMEDY));
}

static void
fault_json_entry(struct jsonw *w, const struct fault_def *def,
    const struct fault_state *st, enum fault_lang lang)
{
	static const char *const keys[FAULT_FIELD_COUNT] = { "portal", "endpoint",
	    "condition", "remedy" };
	bool raised = st != NULL && st->raised;
	int f;

	jsonw_obj_begin(w);
	jsonw_key_int(w, "id", def->id);
	jsonw_key_str(w, "short_name", def->name);
	jsonw_key_bool(w, "linux", def->linux_raised);
	jsonw_key_bool(w, "raised", raised);
	if (raised) {
		ctl_json_time(w, "since", st->since_ms);
		jsonw_key_bool(w, "intervention", st->intervention);
		jsonw_key_str(w, "detail", st->detail);
	}
	for (f = 0; f < FAULT_FIELD_COUNT; f++)
		jsonw_key_str(w, keys[f], fault_text(def, lang, (enum fault_field)f));
	jsonw_obj_end(w);
}

static void
cmd_faults(struct ctl_conn *c)
{
	struct daemon *d = c->d;
	enum fault_lang lang = FAULT_LANG_EN;
	const struct fault_def *def;
	const struct fault_state *st;
	struct strbuf sb;
	struct jsonw w;
	bool all = false, first = true;
	size_t i, k;

	for (i = 1; i < c->argc; i++) {
		if (opt_is(c, i, "--json"))
			c->json = true;
		else if (opt_is(c, i, "--all"))
			all = true;
		else if (strcmp(c->argv[i], "--lang") == 0 && i + 1 < c->argc &&
		    fault_lang_parse(c->argv[i + 1], &lang))
			i++;
		else {
			cmd_usage(c, "ampctl faults: usage: faults [--all] [--lang en|zh-TW] [--json]\n");
			return;
		}
	}
	strbuf_init(&sb, CTL_OUT_MAX);
	jsonw_init(&w, strbuf_sink, &sb);
	if (c->json)
		jsonw_arr_begin(&w);
	for (k = 0; k < fault_def_count(); k++) {
		def = fault_def_at(k);
		st = fault_state_of(&d->faults, def->id);
		if (!all && (st == NULL || !st->raised))
			continue;
		if (c->json)
			fault_json_entry(&w, def, st, lang);
		else
			fault_text_entry(&sb, def, st, lang);
		first = false;
	}
	if (c->json) {
		jsonw_arr_end(&w);
		strbuf_puts(&sb, "\n");
	} else if (first)
		strbuf_puts(&sb, "no active faults\n");
	conn_out(c, &sb);
	strbuf_free(&sb);
	conn_exit(c, faults_raised_count(&d->faults) > 0 ? 1 : 0);
}

/*
 * events: the JSON line as is, or "time event {rest}" for people.  With
 * --json each events.jsonl line passes through byte for byte (JSON Lines,
 * one object per line, rendered once by events.c): never re-rendered here.
 */
static void
event_line_out(struct strbuf *sb, const char *line, size_t len, bool json)
{
	const char *t, *e, *rest;

	while (len > 0 && line[len - 1] == '\n')
		len--;
	if (json || len < 40 || strncmp(line, "{\"time\":\"", 9) != 0) {
		strbuf_append(sb, line, len);
		strbuf_puts(sb, "\n");
		return;
	}
	t = line + 9;
	e = memchr(t, '"', len - 9);
	if (e == NULL || strncmp(e, "\",\"event\":\"", 11) != 0) {
		strbuf_append(sb, line, len);
		strbuf_puts(sb, "\n");
		return;
	}
	rest = memchr(e + 11, '"', len - (size_t)(e + 11 - line));
	if (rest == NULL) {
		strbuf_append(sb, line, len);
		strbuf_puts(sb, "\n");
		return;
	}
	strbuf_append(sb, t, (size_t)(e - t));
	strbuf_puts(sb, "  ");
	strbuf_append(sb, e + 11, (size_t)(rest - (e + 11)));
	rest++;
	if (*rest == ',') {
		strbuf_puts(sb, "  {");
		strbuf_append(sb, rest + 1, len - (size_t)(rest + 1 - line));
	}
	strbuf_puts(sb, "\n");
}

struct tail_ctx {
	struct strbuf *sb;
	bool json;
};

static int
tail_cb(void *arg, const struct events_line *l)
{
	struct tail_ctx *t = arg;

	event_line_out(t->sb, l->text, l->len, t->json);
	return 0;
}

static void
cmd_events(struct ctl_conn *c)
{
	struct daemon *d = c->d;
	struct strbuf sb;
	struct tail_ctx t;
	char path[4200], err[512];
	unsigned long n = CTL_EVENTS_DEFAULT;
	size_t i;
	int rc;

	for (i = 1; i < c->argc; i++) {
		if (opt_is(c, i, "--json"))
			c->json = true;
		else if (opt_is(c, i, "--follow") || opt_is(c, i, "-f"))
			c->follow = true;
		else if (strcmp(c->argv[i], "-n") == 0 && i + 1 < c->argc) {
			uint64_t v;

			i++;
			if (num_u64(c->argv[i], strlen(c->argv[i]), 0, &v) !=
			    NUM_OK || v > CTL_EVENTS_MAX)
				goto usage;
			n = (unsigned long)v;
		} else
			goto usage;
	}
	strbuf_init(&sb, CTL_OUT_MAX);
	t.sb = &sb;
	t.json = c->json;
	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, EVENTS_FILE_NAME);
	rc = n > 0 ? events_read_tail(path, n, tail_cb, &t, err, sizeof(err)) : 0;
	conn_out(c, &sb);
	strbuf_free(&sb);
	if (rc != 0 && rc != EVENTS_ERR_NOENT) {
		conn_err(c, err);
		conn_err(c, "\n");
	}
	if (!c->follow)
		conn_exit(c, rc != 0 && rc != EVENTS_ERR_NOENT ? 2 : 0);
	else
		conn_flush(&c->conn);
	return;
usage:
	cmd_usage(c, "ampctl events: usage: events [--follow] [-n N (at most 10000)] [--json]\n");
}

/* notify.c's subscriber: a new event line for the followers. */
static void
ctl_broadcast_event(void *arg, const char *line, size_t len)
{
	struct daemon *d = arg;
	struct ctl_conn *c;
	struct conn *cn, *next;
	struct strbuf sb;

	if (d->ctl == NULL)
		return;
	for (cn = d->ctl->set.conns; cn != NULL; cn = next) {
		c = (struct ctl_conn *)cn;
		next = cn->next;
		if (!c->follow || c->conn.dead || c->conn.closing)
			continue;
		strbuf_init(&sb, EVENTS_LINE_MAX * 2);
		event_line_out(&sb, line, len, c->json);
		conn_out(c, &sb);
		strbuf_free(&sb);
		if (!c->conn.dead)
			conn_flush(&c->conn);
	}
}

/* scan: one file at a time through the pool, answered clamdscan-style. */
static void scan_next(struct ctl_conn *c);

/*
 * One element of the scan --json array.  The array is streamed, an
 * element per frame as each file is answered, so its framing is written
 * here and in cmd_scan/scan_next rather than by one jsonw: "[", then
 * elements separated by ",\n", then "]\n" (or "[]\n").
 */
static void
scan_line_json(struct strbuf *sb, const char *path, const char *verdict,
    const char *what, bool first)
{
	struct jsonw w;

	if (!first)
		strbuf_puts(sb, ",\n");
	jsonw_init(&w, strbuf_sink, sb);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "file", path);
	jsonw_key_str(&w, "verdict", verdict);
	if (what != NULL)
		jsonw_key_str(&w, strcmp(verdict, "error") == 0 ? "error" :
		    "signature", what);
	jsonw_obj_end(&w);
}

static void
scan_line(struct ctl_conn *c, const char *path, const char *verdict,
    const char *what)
{
	struct strbuf sb;

	strbuf_init(&sb, 2 * POOL_SCAN_NAME_MAX + 512);
	if (c->json) {
		scan_line_json(&sb, path, verdict, what, c->first_json);
		c->first_json = false;
	} else if (strcmp(verdict, "clean") == 0) {
		strbuf_printf(&sb, "%s: OK\n", path);
	} else if (strcmp(verdict, "found") == 0) {
		strbuf_printf(&sb, "%s: %s FOUND\n", path, what);
	} else {
		strbuf_printf(&sb, "%s: %s ERROR\n", path, what);
	}
	conn_out(c, &sb);
	strbuf_free(&sb);
	conn_flush(&c->conn);
}

static void
scan_done(struct scan_req *req, const struct wproto_result *res,
    const char *error)
{
	struct ctl_conn *c = req->data;
	uint32_t k;

	conn_release(&c->conn);
	if (c->conn.dead)
		return;
	if (res == NULL) {
		c->errors++;
		scan_line(c, req->name, "error", error);
	} else if (res->verdict == WPROTO_FOUND && res->nnames > 0) {
		c->found++;
		for (k = 0; k < res->nnames && (k == 0 || c->allmatch); k++)
			scan_line(c, req->name, "found", res->names[k].sig);
	} else if (res->verdict == WPROTO_ERROR) {
		c->errors++;
		scan_line(c, req->name, "error", res->note[0] ? res->note : "scan error");
	} else {
		scan_line(c, req->name, "clean", NULL);
	}
	if (!c->conn.dead)
		scan_next(c);
}

static void
scan_next(struct ctl_conn *c)
{
	struct stat st;
	const char *path;
	int fd;

	while (c->next < c->argc) {
		path = c->argv[c->next++];
		/* never open a device or a FIFO (opening one can act on it) */
		if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			c->errors++;
			scan_line(c, path, "error", S_ISDIR(st.st_mode) ?
			    "Is a directory (ampctl scan takes files)" :
			    "Not a regular file");
			continue;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0) {
			c->errors++;
			scan_line(c, path, "error", strerror(errno));
			continue;
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			c->errors++;
			scan_line(c, path, "error", "Not a regular file");
			continue;
		}
		memset(&c->req, 0, sizeof(c->req));
		c->req.fd = fd;
		c->req.flags = c->allmatch ? WPROTO_SCAN_ALLMATCH : 0;
		snprintf(c->req.name, sizeof(c->req.name), "%s", path);
		c->req.done = scan_done;
		c->req.data = c;
		c->conn.busy++;
		pool_submit(c->d, &c->req);   /* may call scan_done at once */
		return;
	}
	if (c->json)
		conn_frame(c, CTL_OUT, c->first_json ? "[]\n" : "]\n",
		    c->first_json ? 3 : 2);
	conn_exit(c, c->errors ? 2 : c->found ? 1 : 0);
}

static void
cmd_scan(struct ctl_conn *c)
{
	size_t i;

	for (i = 1; i < c->argc && c->argv[i][0] == '-'; i++) {
		if (strcmp(c->argv[i], "--json") == 0)
			c->json = true;
		else if (strcmp(c->argv[i], "--allmatch") == 0)
			c->allmatch = true;
		else if (strcmp(c->argv[i], "--") == 0) {
			i++;
			break;
		} else
			break;
	}
	if (i >= c->argc) {
		cmd_usage(c, "ampctl scan: usage: scan [--json] [--allmatch] PATH...\n");
		return;
	}
	c->next = i;
	c->first_json = true;
	if (c->json)
		conn_frame(c, CTL_OUT, "[", 1);
	scan_next(c);
}

static void
repair_done(struct daemon *d, int rc, const char *reason)
{
	struct ctl_conn *c = d->ctl != NULL ? d->ctl->repair : NULL;
	struct strbuf sb;

	if (c == NULL)
		return;
	d->ctl->repair = NULL;
	conn_release(&c->conn);
	if (c->conn.dead)
		return;
	strbuf_init(&sb, 4096);
	if (rc == ACCOUNT_OK)
		strbuf_printf(&sb, "scan account %s/%s is usable%s%s; workers restarted\n",
		    d->cfg.scan_user, d->cfg.scan_group, reason[0] ? ": " : "", reason);
	else
		strbuf_printf(&sb, "ampctl repair-account: %s/%s still unusable: %s\n",
		    d->cfg.scan_user, d->cfg.scan_group, reason);
	if (rc == ACCOUNT_OK)
		conn_out(c, &sb);
	else
		conn_err(c, strbuf_str(&sb));
	strbuf_free(&sb);
	conn_exit(c, rc == ACCOUNT_OK ? 0 : 2);
}

static void
cmd_repair_account(struct ctl_conn *c)
{
	struct daemon *d = c->d;

	if (c->argc != 1) {
		conn_err(c, "ampctl repair-account: takes no arguments\n");
		conn_exit(c, 2);
		return;
	}
	if (d->ctl->repair == NULL) {
		/* before the call: it may answer at once (no worker to stop,
		 * the repair's fork failed) */
		d->ctl->repair = c;
		c->conn.busy++;
		if (pool_repair_account(d, repair_done) == 0)
			return;
		d->ctl->repair = NULL;
		c->conn.busy--;
	}
	conn_err(c, "ampctl repair-account: a repair or account creation is already running; try again\n");
	conn_exit(c, 2);
}

/* update / reload: the verdict, once the pipeline and the rollover are done. */
static void
update_answer(struct daemon *d, void *arg, int status, const char *text)
{
	struct ctl_conn *c = arg;
	char line[2048];

	(void)d;
	conn_release(&c->conn);
	if (c->conn.dead)
		return;
	str_fmt(line, sizeof(line), "%s\n", text);
	if (status == UPDATE_DONE_OK)
		conn_frame(c, CTL_OUT, line, strlen(line));
	else
		conn_err(c, line);
	conn_exit(c, status == UPDATE_DONE_OK ? 0 :
	    status == UPDATE_DONE_STOPPING ? 2 : 1);
}

static void
cmd_update(struct ctl_conn *c, bool reload)
{
	struct daemon *d = c->d;
	const char *file = NULL, *sign = NULL;
	char err[512], msg[700];
	bool force = false;

	for (size_t i = 1; i < c->argc; i++) {
		if (!reload && opt_is(c, i, "--force"))
			force = true;
		else if (!reload && c->argv[i][0] == '/' && file == NULL)
			file = c->argv[i];
		else if (!reload && c->argv[i][0] == '/' && sign == NULL)
			sign = c->argv[i];
		else {
			conn_err(c, reload ? "ampctl reload: takes no arguments\n" :
			    "ampctl update: usage: update [--force] /ABS/FILE [/ABS/FILE.sign]\n");
			conn_exit(c, 2);
			return;
		}
	}
	if (!reload && file == NULL) {
		conn_err(c, "ampctl update: which file?\n");
		conn_exit(c, 2);
		return;
	}
	c->conn.busy++;   /* before the call: it may answer at once (fork failed) */
	if (update_submit(d, file, sign, force, false, reload, update_answer, c,
	    err, sizeof(err)) != 0) {
		c->conn.busy--;
		str_fmt(msg, sizeof(msg), "ampctl %s: %s\n", reload ? "reload" :
		    "update", err);
		conn_err(c, msg);
		conn_exit(c, 2);
	}
}

/* diag, in the child: the report on its pipe, the verdict as exit status. */
static int
diag_child(void *arg, int fd)
{
	struct ctl_conn *c = arg;
	struct strbuf sb;
	char err[256];
	int rc;

	strbuf_init(&sb, DIAG_OUT_MAX);
	rc = diag_run(&c->diag_opts, &sb, err, sizeof(err));
	if (rc < 0) {
		task_write(fd, err);
		rc = CTL_DIAG_FAILED;
	} else {
		task_write(fd, strbuf_str(&sb));
	}
	strbuf_free(&sb);
	return rc;
}

static void
diag_done(struct task *t, int wstatus, const char *out, size_t len)
{
	struct ctl_conn *c = t->data;
	struct strbuf sb;
	int st = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;

	conn_release(&c->conn);
	if (c->conn.dead)
		return;
	if (st >= DIAG_HEALTHY && st <= DIAG_INTERVENTION) {
		sb.buf = (char *)(uintptr_t)out;
		sb.len = len;
		conn_out(c, &sb);
		conn_exit(c, st);
		return;
	}
	conn_err(c, "ampctl diag: the diagnosis failed: ");
	if (st == CTL_DIAG_FAILED)
		conn_frame(c, CTL_ERR, out, len);
	else
		conn_err(c, task_timed_out(t) ? "it took too long" :
		    "its process died");
	conn_err(c, "\n");
	conn_exit(c, 2);
}

static void
cmd_diag(struct ctl_conn *c)
{
	struct daemon *d = c->d;
	struct diag_opts *o = &c->diag_opts;
	char err[256];
	size_t i;

	memset(o, 0, sizeof(*o));
	o->now_ms = walltime_now_ms();
	for (i = 1; i < c->argc; i++) {
		if (opt_is(c, i, "--json"))
			o->json = true;
		else if (opt_is(c, i, "--since") && i + 1 < c->argc) {
			if (diag_parse_since(c->argv[++i], o->now_ms, &o->since_ms,
			    err, sizeof(err)) != 0) {
				conn_err(c, "ampctl diag: ");
				conn_err(c, err);
				conn_err(c, "\n");
				conn_exit(c, 2);
				return;
			}
		} else {
			cmd_usage(c, "ampctl diag: usage: diag [--since DURATION|TIME] [--json]\n");
			return;
		}
	}
	/* the daemon's own directories and configuration: what offline reads */
	o->state_dir = d->cfg.state_dir;
	o->log_dir = d->cfg.log_dir;
	o->definitions_dir = d->cfg.definitions_dir;
	o->cfg = &d->cfg;
	if (diag_read_core_pattern("/proc/sys/kernel/core_pattern",
	    c->core_pattern, sizeof(c->core_pattern)))
		o->core_pattern = c->core_pattern;
	memset(&c->diag, 0, sizeof(c->diag));
	c->diag.name = "diag";
	c->diag.done = diag_done;
	c->diag.data = c;
	c->diag.fd = -1;
	if (task_start(d->loop, &c->diag, diag_child, c, CTL_DIAG_TIMEOUT_MS) != 0) {
		conn_err(c, "ampctl diag: cannot start the diagnosis: ");
		conn_err(c, strerror(errno));
		conn_err(c, "\n");
		conn_exit(c, 2);
		return;
	}
	c->diag_started = true;
	c->conn.busy++;
}

static void
conn_request(struct ctl_conn *c, const uint8_t *p, size_t len)
{
	char msg[256];
	const char *cmd;

	if ((c->reqcopy = malloc(len + 1)) == NULL ||
	    (c->argv = calloc(CTL_ARGV_MAX + 1, sizeof(char *))) == NULL) {
		conn_err(c, "ampdaemon: out of memory\n");
		conn_exit(c, 2);
		return;
	}
	memcpy(c->reqcopy, p, len);
	if (ctl_request_decode(c->reqcopy, len, c->argv, CTL_ARGV_MAX + 1,
	    &c->argc) != 0 || c->argc == 0) {
		conn_err(c, "ampdaemon: malformed request\n");
		conn_exit(c, 2);
		return;
	}
	cmd = c->argv[0];
	if (strcmp(cmd, "status") == 0)
		cmd_status(c);
	else if (strcmp(cmd, "faults") == 0)
		cmd_faults(c);
	else if (strcmp(cmd, "events") == 0)
		cmd_events(c);
	else if (strcmp(cmd, "scan") == 0)
		cmd_scan(c);
	else if (strcmp(cmd, "repair-account") == 0)
		cmd_repair_account(c);
	else if (strcmp(cmd, "diag") == 0)
		cmd_diag(c);
	else if (strcmp(cmd, "update") == 0 || strcmp(cmd, "reload") == 0)
		cmd_update(c, strcmp(cmd, "reload") == 0);
	else {
		snprintf(msg, sizeof(msg), "ampdaemon: unknown command '%.64s'\n", cmd);
		conn_err(c, msg);
		conn_exit(c, 2);
	}
}

static void
conn_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_conn *c = w->data;
	uint8_t buf[16384], type;
	const uint8_t *payload;
	size_t len, off;
	ssize_t n;
	int rc;

	(void)loop;
	(void)revents;
	n = recv(c->conn.fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(&c->conn);   /* the client left; a scan in flight ends quietly */
		return;
	}
	if (c->requested)
		return;          /* one request per connection; the rest is ignored */
	if (c->refused) {
		conn_refuse(c);
		return;
	}
	for (off = 0; off < (size_t)n; ) {
		off += ctl_decoder_feed(&c->dec, buf + off, (size_t)n - off);
		rc = ctl_decoder_next(&c->dec, &type, &payload, &len);
		if (rc == 0)
			continue;
		c->requested = true;
		ev_timer_stop(c->d->loop, &c->conn.timer);
		if (rc < 0 || type != CTL_REQUEST) {
			conn_err(c, "ampdaemon: malformed request\n");
			conn_exit(c, 2);
			return;
		}
		conn_request(c, payload, len);
		return;
	}
}

/* A peer that is not root: told so once it has sent its request (so that
 * it reads the answer rather than a broken pipe), then closed. */
static void
conn_refuse(struct ctl_conn *c)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "ampdaemon: the control socket is for root only (you are uid %d)\n",
	    (int)c->uid);
	c->requested = true;
	ev_timer_stop(c->d->loop, &c->conn.timer);
	conn_err(c, msg);
	conn_exit(c, 2);
}

static void
conn_on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct ctl_conn *c = t->data;

	(void)loop;
	(void)revents;
	if (c->refused)
		conn_refuse(c);
	else
		conn_close(&c->conn);   /* no request in time */
}

/* A new client: whose it is (SO_PEERCRED). */
static void
conn_accepted(struct conn *cn)
{
	struct ctl_conn *c = (struct ctl_conn *)cn;
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t clen = sizeof(cred);

	c->d = cn->set->d;
	ctl_decoder_init(&c->dec);
	if (getsockopt(cn->fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 ||
	    clen != sizeof(cred) || (cred.uid != 0 && cred.uid != geteuid())) {
		c->refused = true;
		c->uid = clen == sizeof(cred) ? cred.uid : (uid_t)-1;
		dlog(&c->d->log, DLOG_WARNING, "control: refused a client with uid %d pid %d",
		    (int)cred.uid, (int)cred.pid);
	}
}

static const struct connset_ops ctl_ops = {
	.name = "control", .conn_size = sizeof(struct ctl_conn),
	.conns_max = CTL_CONNS_MAX, .out_max = CTL_OUT_MAX, .timeout = CTL_REQUEST_TIMEOUT,
	.on_read = conn_on_read, .on_timeout = conn_on_timeout,
	.accepted = conn_accepted, .release = conn_release_ctl,
};

int
ctl_open(struct daemon *d, char *err, size_t errlen)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));

	if (ctl == NULL) {
		str_fmt(err, errlen, "%s: %s", d->cfg.control_socket, strerror(errno));
		return -1;
	}
	if (connset_open(&ctl->set, d, &ctl_ops, d->cfg.control_socket,
	    CTL_SOCK_MODE, 0, CTL_BACKLOG, err, errlen) != 0) {
		free(ctl);
		return -1;
	}
	d->ctl = ctl;
	notify_subscribe(d, ctl_broadcast_event, d);
	return 0;
}

void
ctl_close(struct daemon *d)
{
	struct ctl *ctl = d->ctl;
	struct ctl_conn *c;
	struct conn *cn;
	uint8_t zero = 0;

	if (ctl == NULL)
		return;
	for (cn = ctl->set.conns; cn != NULL; cn = cn->next) {
		c = (struct ctl_conn *)cn;
		if (cn->fd < 0 || !c->follow || cn->closing)
			continue;
		/* events --follow ends cleanly: exit status 0, best effort */
		ctl_frame_encode(&cn->out, CTL_EXIT, &zero, 1);
		if (!cn->out.failed && send(cn->fd, cn->out.buf, cn->out.len,
		    MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			dlog(&d->log, DLOG_DEBUG, "control: a follower missed the end");
	}
	connset_close(&ctl->set);
	free(ctl);
	d->ctl = NULL;
	notify_subscribe(d, NULL, NULL);
}

/* Stop taking connections (the daemon is stopping); clients stay served. */
void
ctl_stop_accepting(struct daemon *d)
{
	if (d->ctl != NULL)
		connset_stop_accepting(&d->ctl->set);
}
