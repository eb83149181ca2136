/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The diagnosis: the JSON report (diag_int.h), written with json.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "diag_int.h"
#include "json.h"

/* ---- JSON ------------------------------------------------------------------ */

/* key: the time, or null when ms < 0 (not seen) */
static void
json_time(struct jsonw *w, const char *key, int64_t ms)
{
	char t[WALLTIME_LEN];

	if (ms < 0) {
		jsonw_key_str_or_null(w, key, NULL);
		return;
	}
	walltime_format(ms, t);
	jsonw_key_str(w, key, t);
}

/* key: the text a report helper appends to a strbuf */
static void
json_text(struct jsonw *w, const char *key, const struct strbuf *s)
{
	jsonw_key_str(w, key, strbuf_str(s));
}

static void
json_group(struct jsonw *w, const char *key, const struct diag_group *gr,
    bool sigs)
{
	size_t k;

	jsonw_obj_begin(w);
	jsonw_key_str(w, key, gr->key);
	jsonw_key_uint(w, "count", gr->count);
	if (sigs) {
		jsonw_key(w, "signals");
		jsonw_obj_begin(w);
		for (k = 0; k < DIAG_SIGS_PER_GROUP && gr->sigs[k].n; k++)
			jsonw_key_uint(w, gr->sigs[k].sig, gr->sigs[k].n);
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

/* name: the groups, then name_other: how many were left out */
static void
json_groups(struct jsonw *w, const char *name, const char *key,
    const struct diag_groups *gs, bool sigs)
{
	char other[64];
	size_t i;

	jsonw_key(w, name);
	jsonw_arr_begin(w);
	for (i = 0; i < gs->n; i++)
		json_group(w, key, &gs->g[i], sigs);
	jsonw_arr_end(w);
	snprintf(other, sizeof(other), "%s_other", name);
	jsonw_key_uint(w, other, gs->other);
}

static void
json_fault(const struct diag *g, struct jsonw *w, const struct diag_active *a)
{
	const struct fault_def *def = fault_def_find(a->id);
	struct strbuf ex;

	jsonw_obj_begin(w);
	jsonw_key_int(w, "id", a->id);
	jsonw_key_str(w, "short_name", def ? def->name : "");
	jsonw_key_str(w, "portal", fault_text(def, FAULT_LANG_EN, FAULT_FIELD_PORTAL));
	json_time(w, "since", a->since);
	jsonw_key_bool(w, "intervention", a->intervention);
	json_time(w, "intervention_since", a->intervention ? a->intervention_ms : -1);
	jsonw_key_str(w, "detail", a->detail);
	jsonw_key_str(w, "condition", fault_text(def, FAULT_LANG_EN,
	    FAULT_FIELD_CONDITION));
	jsonw_key_str(w, "remedy", fault_text(def, FAULT_LANG_EN, FAULT_FIELD_REMEDY));
	strbuf_init(&ex, DIAG_OUT_MAX);
	diag_text_fault_explain(g, a, &ex);
	json_text(w, "explanation", &ex);
	strbuf_free(&ex);
	jsonw_obj_end(w);
}

static void
json_faults(const struct diag *g, struct jsonw *w)
{
	size_t i;

	jsonw_key_str(w, "faults_source", g->faults_from_events ? "events" :
	    "faults.state");
	jsonw_key(w, "faults");
	jsonw_arr_begin(w);
	for (i = 0; i < g->nact; i++)
		json_fault(g, w, &g->act[i]);
	jsonw_arr_end(w);
}

/* Crashes per minute over their span, a minute at least. */
static double
json_per_minute(const struct diag *g)
{
	int64_t span = g->last - g->first;

	if (!g->crashes)
		return 0.0;
	return (double)g->crashes * 60000.0 / (double)(span > 60000 ? span : 60000);
}

static void
json_crashes(const struct diag *g, struct jsonw *w)
{
	struct strbuf s;

	jsonw_key(w, "crashes");
	jsonw_obj_begin(w);
	jsonw_key_uint(w, "count", g->crashes);
	jsonw_key_uint(w, "start_failures", g->start_failures);
	jsonw_key_uint(w, "scan_timeouts", g->timeouts);
	jsonw_key_uint(w, "core_dumped", g->cores);
	jsonw_key_uint(w, "no_file", g->no_file);
	json_time(w, "first", g->first);
	json_time(w, "last", g->last);
	jsonw_key_int(w, "span_ms", g->crashes ? g->last - g->first : 0);
	jsonw_key(w, "per_minute");
	jsonw_fixed(w, json_per_minute(g), 1);
	jsonw_key_int(w, "peak_per_minute", g->peak);
	strbuf_init(&s, DIAG_OUT_MAX);
	diag_crash_sentence(g, &s);
	json_text(w, "sentence", &s);
	strbuf_free(&s);
	json_groups(w, "by_signal", "signal", &g->by_sig, false);
	json_groups(w, "by_definitions", "definitions", &g->by_defs, false);
	json_groups(w, "by_file", "file", &g->by_file, true);
	jsonw_obj_end(w);
}

/* key: the log lines (each cut at DIAG_LOG_LINE_MAX), or null without a log */
static void
json_loglines(struct jsonw *w, const char *key, const struct loglines *ll)
{
	size_t i, k, n;

	jsonw_key(w, key);
	if (ll == NULL) {
		jsonw_null(w);
		return;
	}
	jsonw_arr_begin(w);
	for (i = 0; i < ll->count; i++) {
		k = (ll->head + i) % DIAG_LOG_LINES;
		n = ll->n[k] > DIAG_LOG_LINE_MAX ? DIAG_LOG_LINE_MAX : ll->n[k];
		jsonw_strn(w, ll->l[k], n);
	}
	jsonw_arr_end(w);
}

/* The lines of both logs about exit e. */
static void
json_exit_logs(const struct diag *g, struct jsonw *w, const struct diag_exit *e)
{
	struct loglines ll;

	if (g->svclog != NULL)
		diag_svc_lines(g, e, &ll);
	json_loglines(w, "scansvc_log", g->svclog != NULL ? &ll : NULL);
	if (g->dlog != NULL)
		diag_daemon_lines(g, e, &ll);
	json_loglines(w, "daemon_log", g->dlog != NULL ? &ll : NULL);
}

static void
json_exit(const struct diag *g, struct jsonw *w, size_t i)
{
	const struct diag_exit *e = diag_exit_at(g, i);
	size_t k;

	jsonw_obj_begin(w);
	jsonw_key_str(w, "time", e->time);
	jsonw_key_int(w, "pid", e->pid);
	jsonw_key_int_or_null(w, "worker", e->has_worker, e->worker);
	jsonw_key_str(w, "kind", e->kind);
	jsonw_key_str_or_null(w, "signal", e->signal[0] ? e->signal : NULL);
	jsonw_key_int_or_null(w, "exit_code", e->has_code, e->exit_code);
	jsonw_key_bool(w, "core_dumped", e->core);
	jsonw_key_bool(w, "scan_timeout", e->scan_timeout);
	jsonw_key_int(w, "uptime_ms", e->uptime_ms);
	jsonw_key_int_or_null(w, "restart_delay_ms", e->delay_ms >= 0, e->delay_ms);
	jsonw_key_int_or_null(w, "uid", e->has_uid, e->uid);
	jsonw_key_str_or_null(w, "definitions", e->defs);
	jsonw_key_str_or_null(w, "last_stderr", e->last_stderr);
	jsonw_key(w, "files");
	jsonw_arr_begin(w);
	for (k = 0; k < e->nfiles; k++)
		jsonw_str(w, e->files[k]);
	jsonw_arr_end(w);
	if (diag_exit_gets_logs(g, i))
		json_exit_logs(g, w, e);
	jsonw_obj_end(w);
}

static void
json_timeline(const struct diag *g, struct jsonw *w)
{
	size_t i, omitted, start = diag_timeline_start(g, &omitted);

	jsonw_key_str(w, "timeline_source", g->exits_from_events ? "events" : "exits");
	jsonw_key_uint(w, "timeline_omitted", omitted);
	jsonw_key_uint(w, "timeline_lost", g->exits_lost);
	jsonw_key(w, "timeline");
	jsonw_arr_begin(w);
	for (i = start; i < g->exn; i++) {
		if (diag_exit_in_window(g, diag_exit_at(g, i)))
			json_exit(g, w, i);
	}
	jsonw_arr_end(w);
}

static void
json_episode(struct jsonw *w, const struct diag_episode *ep)
{
	bool done = ep->raised >= 0 && ep->cleared >= 0;

	jsonw_obj_begin(w);
	jsonw_key_int(w, "fault", ep->fault);
	json_time(w, "raised", ep->raised);
	json_time(w, "intervention", ep->intervention);
	json_time(w, "cleared", ep->cleared);
	jsonw_key_int_or_null(w, "duration_ms", done, ep->cleared - ep->raised);
	jsonw_key_str(w, "detail", ep->detail);
	jsonw_key_str_or_null(w, "cleared_detail", ep->cleared >= 0 ?
	    ep->cleared_detail : NULL);
	jsonw_obj_end(w);
}

static void
json_history(const struct diag *g, struct jsonw *w)
{
	const struct diag_episode *ep;
	size_t i = 0;

	jsonw_key(w, "fault_history");
	jsonw_arr_begin(w);
	while ((ep = diag_episodes_of(g, &i, 0)) != NULL)
		json_episode(w, ep);
	jsonw_arr_end(w);
}

/* One container of the active definitions. */
static void
json_container(const struct diag *g, struct jsonw *w, size_t i)
{
	jsonw_obj_begin(w);
	jsonw_key_str(w, "name", g->cont[i].name);
	if (g->cont[i].header_ok) {
		jsonw_key_str(w, "kind", diag_kind_name(g->cont[i].kind));
		jsonw_key_uint(w, "version", g->cont[i].version);
		jsonw_key_uint(w, "sigs", g->cont[i].sigs);
		jsonw_key_str(w, "built", g->cont[i].time);
	}
	jsonw_key_bool(w, "header_ok", g->cont[i].header_ok);
	jsonw_obj_end(w);
}

static void
json_defs_event(struct jsonw *w, const struct diag_defs_event *h)
{
	jsonw_obj_begin(w);
	jsonw_key_str(w, "time", h->time);
	jsonw_key_str(w, "event", h->type);
	jsonw_key_str(w, "file", h->file);
	jsonw_key_str(w, "versions", h->versions);
	jsonw_key_str(w, "reason", h->reason);
	jsonw_obj_end(w);
}

/* "definitions": the active containers (null unknown) and their history */
static void
json_definitions(const struct diag *g, struct jsonw *w)
{
	const struct diag_defs_event *h;
	size_t i;

	jsonw_key(w, "definitions");
	jsonw_obj_begin(w);
	jsonw_key(w, "active");
	if (g->o->definitions_dir == NULL || !g->cont_ok) {
		jsonw_null(w);
	} else {
		jsonw_arr_begin(w);
		for (i = 0; i < g->ncont; i++)
			json_container(g, w, i);
		jsonw_arr_end(w);
	}
	jsonw_key(w, "history");
	jsonw_arr_begin(w);
	for (i = 0; i < g->dhn; i++) {
		h = &g->dh[(g->dhhead + i) % DIAG_HISTORY_MAX];
		if (h->t >= g->o->since_ms)
			json_defs_event(w, h);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

/* "loader": its last loader_* events (null: none, WorkerLaunch exec) */
static void
json_loader(const struct diag *g, struct jsonw *w)
{
	jsonw_key(w, "loader");
	if (!g->loader.seen) {
		jsonw_null(w);
		return;
	}
	jsonw_obj_begin(w);
	jsonw_key_int(w, "pid", g->loader.pid);
	json_time(w, "started", g->loader.started > 0 ? g->loader.started : -1);
	json_time(w, "ready", g->loader.ready > 0 ? g->loader.ready : -1);
	jsonw_key_int(w, "load_ms", g->loader.ready > 0 ? g->loader.load_ms : -1);
	jsonw_key_str_or_null(w, "definitions", g->loader.ready > 0 ?
	    g->loader.defs : NULL);
	jsonw_key_bool(w, "candidate", g->loader.candidate);
	jsonw_key(w, "last_exit");
	if (g->loader.exited <= 0) {
		jsonw_null(w);
	} else {
		jsonw_obj_begin(w);
		jsonw_key_int(w, "pid", g->loader.exit_pid);
		json_time(w, "time", g->loader.exited);
		jsonw_key_str(w, "kind", g->loader.exit_kind);
		jsonw_key_str(w, "how", g->loader.exit_how);
		jsonw_obj_end(w);
	}
	/* the workers are exec'd since (null: no fallback, or a READY since) */
	jsonw_key(w, "fallback");
	if (g->loader.fallback <= 0 || g->loader.fallback < g->loader.ready) {
		jsonw_null(w);
	} else {
		jsonw_obj_begin(w);
		json_time(w, "time", g->loader.fallback);
		jsonw_key_str(w, "reason", g->loader.fallback_why);
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

static void
json_poison(const struct diag *g, struct jsonw *w)
{
	struct poison_list shown = g->poison;

	jsonw_key(w, "poison");
	if (!g->poison_ok) {
		jsonw_null(w);
	} else {
		if (shown.n > DIAG_POISON_SHOWN)
			shown.n = DIAG_POISON_SHOWN;
		poison_json(w, &shown);
	}
	jsonw_key_uint(w, "poison_omitted", g->poison.n > DIAG_POISON_SHOWN ?
	    g->poison.n - DIAG_POISON_SHOWN : 0);
}

static void
json_core_dumps(const struct diag *g, struct jsonw *w)
{
	const struct diag_exit *e;
	size_t i;

	jsonw_key(w, "core_dumps");
	jsonw_obj_begin(w);
	jsonw_key_bool(w, "enabled", g->cfg->core_dumps);
	jsonw_key_str_or_null(w, "core_pattern", g->o->core_pattern);
	jsonw_key(w, "pids");
	jsonw_arr_begin(w);
	for (i = 0; i < g->exn; i++) {
		e = diag_exit_at(g, i);
		if (diag_exit_in_window(g, e) && e->core)
			jsonw_int(w, e->pid);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void
json_config(const struct diag *g, struct jsonw *w)
{
	const struct config *c = g->cfg;

	jsonw_key(w, "config");
	jsonw_obj_begin(w);
	jsonw_key_bool(w, "available", g->o->cfg != NULL);
	jsonw_key_str(w, "scan_user", c->scan_user);
	jsonw_key_str(w, "scan_group", c->scan_group);
	jsonw_key_uint(w, "crash_threshold", c->crash_threshold);
	jsonw_key_uint(w, "crash_window_ms", c->crash_window_ms);
	jsonw_key_uint(w, "stable_after_ms", c->stable_after_ms);
	jsonw_key_uint(w, "intervention_after_ms", c->intervention_after_ms);
	jsonw_key_uint(w, "poison_threshold", c->poison_threshold);
	jsonw_key_uint(w, "restart_delay_min_ms", c->restart_delay_min_ms);
	jsonw_key_uint(w, "restart_delay_max_ms", c->restart_delay_max_ms);
	jsonw_key_uint(w, "scan_timeout_ms", c->scan_timeout_ms);
	jsonw_key_bool(w, "core_dumps", c->core_dumps);
	jsonw_obj_end(w);
}

static void
json_unreadable(const struct diag *g, struct jsonw *w)
{
	const struct diag_problem *p;
	size_t i;

	jsonw_key(w, "unreadable");
	jsonw_arr_begin(w);
	for (i = 0; i < g->npr; i++) {
		p = &g->pr[i];
		jsonw_obj_begin(w);
		jsonw_key_str(w, "file", p->file);
		jsonw_key_int_or_null(w, "line", p->line >= 0, p->line);
		jsonw_key_int_or_null(w, "offset", p->offset >= 0, p->offset);
		jsonw_key_str(w, "why", p->why);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_key_uint(w, "unreadable_omitted", g->pr_omitted);
	jsonw_key_uint(w, "events_lost", g->events_lost);
}

/* schema, times, verdict, summary and where the report read from */
static void
json_head(const struct diag *g, struct jsonw *w)
{
	struct strbuf s;

	jsonw_key_str(w, "schema", DIAG_SCHEMA);
	json_time(w, "generated", g->o->now_ms);
	json_time(w, "since", g->o->since_ms > 0 ? g->o->since_ms : -1);
	jsonw_key_str(w, "verdict", diag_verdict_name(g->verdict));
	jsonw_key_int(w, "exit_status", g->verdict);
	strbuf_init(&s, DIAG_OUT_MAX);
	diag_text_verdict(g, &s);
	json_text(w, "summary", &s);
	strbuf_free(&s);
	jsonw_key(w, "sources");
	jsonw_obj_begin(w);
	jsonw_key_str(w, "state_dir", g->o->state_dir);
	jsonw_key_str_or_null(w, "log_dir", g->o->log_dir);
	jsonw_key_str_or_null(w, "definitions_dir", g->o->definitions_dir);
	jsonw_obj_end(w);
}

void
diag_report_json(const struct diag *g, struct strbuf *sb)
{
	struct jsonw w;

	jsonw_init(&w, strbuf_sink, sb);
	jsonw_obj_begin(&w);
	json_head(g, &w);
	json_faults(g, &w);
	json_crashes(g, &w);
	json_timeline(g, &w);
	json_history(g, &w);
	json_definitions(g, &w);
	json_loader(g, &w);
	json_poison(g, &w);
	json_core_dumps(g, &w);
	json_config(g, &w);
	json_unreadable(g, &w);
	jsonw_obj_end(&w);
	strbuf_puts(sb, "\n");
}
