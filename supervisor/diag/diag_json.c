/* The diagnosis: the JSON report (diag_int.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diag_int.h"

/* ---- JSON ------------------------------------------------------------------ */

static void
json_time(struct strbuf *sb, int64_t ms)
{
	char t[WALLTIME_LEN];

	if (ms < 0) {
		strbuf_puts(sb, "null");
		return;
	}
	walltime_format(ms, t);
	strbuf_printf(sb, "\"%s\"", t);
}

static void
json_str_or_null(struct strbuf *sb, const char *s)
{
	if (s == NULL)
		strbuf_puts(sb, "null");
	else
		strbuf_json_str(sb, s);
}

static void
json_groups(struct strbuf *sb, const char *name, const char *key,
    const struct diag_groups *gs, bool sigs)
{
	size_t i, k;

	strbuf_printf(sb, ",\"%s\":[", name);
	for (i = 0; i < gs->n; i++) {
		strbuf_printf(sb, "%s{\"%s\":", i ? "," : "", key);
		strbuf_json_str(sb, gs->g[i].key);
		strbuf_printf(sb, ",\"count\":%u", gs->g[i].count);
		if (sigs) {
			strbuf_puts(sb, ",\"signals\":{");
			for (k = 0; k < DIAG_SIGS_PER_GROUP && gs->g[i].sigs[k].n; k++) {
				strbuf_puts(sb, k ? "," : "");
				strbuf_json_str(sb, gs->g[i].sigs[k].sig);
				strbuf_printf(sb, ":%u", gs->g[i].sigs[k].n);
			}
			strbuf_puts(sb, "}");
		}
		strbuf_puts(sb, "}");
	}
	strbuf_printf(sb, "],\"%s_other\":%u", name, gs->other);
}

static void
json_faults(const struct diag *g, struct strbuf *sb)
{
	const struct diag_active *a;
	const struct fault_def *def;
	struct strbuf ex;
	size_t i;

	strbuf_printf(sb, ",\"faults_source\":\"%s\",\"faults\":[",
	    g->faults_from_events ? "events" : "faults.state");
	for (i = 0; i < g->nact; i++) {
		a = &g->act[i];
		def = fault_def_find(a->id);
		strbuf_printf(sb, "%s{\"id\":%d,\"short_name\":", i ? "," : "", a->id);
		strbuf_json_str(sb, def ? def->name : "");
		strbuf_puts(sb, ",\"portal\":");
		strbuf_json_str(sb, fault_text(def, FAULT_LANG_EN, FAULT_FIELD_PORTAL));
		strbuf_puts(sb, ",\"since\":");
		json_time(sb, a->since);
		strbuf_printf(sb, ",\"intervention\":%s,\"intervention_since\":",
		    a->intervention ? "true" : "false");
		json_time(sb, a->intervention ? a->intervention_ms : -1);
		strbuf_puts(sb, ",\"detail\":");
		strbuf_json_str(sb, a->detail);
		strbuf_puts(sb, ",\"condition\":");
		strbuf_json_str(sb, fault_text(def, FAULT_LANG_EN, FAULT_FIELD_CONDITION));
		strbuf_puts(sb, ",\"remedy\":");
		strbuf_json_str(sb, fault_text(def, FAULT_LANG_EN, FAULT_FIELD_REMEDY));
		strbuf_init(&ex, DIAG_OUT_MAX);
		diag_text_fault_explain(g, a, &ex);
		strbuf_puts(sb, ",\"explanation\":");
		strbuf_json_str(sb, strbuf_str(&ex));
		strbuf_free(&ex);
		strbuf_puts(sb, "}");
	}
	strbuf_puts(sb, "]");
}

static void
json_crashes(const struct diag *g, struct strbuf *sb)
{
	struct strbuf s;

	strbuf_printf(sb, ",\"crashes\":{\"count\":%u,\"start_failures\":%u,\"scan_timeouts\":%u,\"core_dumped\":%u,\"no_file\":%u,\"first\":",
	    g->crashes, g->start_failures, g->timeouts, g->cores, g->no_file);
	json_time(sb, g->first);
	strbuf_puts(sb, ",\"last\":");
	json_time(sb, g->last);
	strbuf_printf(sb, ",\"span_ms\":%lld,\"per_minute\":%.1f,\"peak_per_minute\":%lld",
	    g->crashes ? (long long)(g->last - g->first) : 0LL,
	    g->crashes ? (double)g->crashes * 60000.0 / (double)(g->last -
	    g->first > 60000 ? g->last - g->first : 60000) : 0.0,
	    (long long)g->peak);
	strbuf_init(&s, DIAG_OUT_MAX);
	diag_crash_sentence(g, &s);
	strbuf_puts(sb, ",\"sentence\":");
	strbuf_json_str(sb, strbuf_str(&s));
	strbuf_free(&s);
	json_groups(sb, "by_signal", "signal", &g->by_sig, false);
	json_groups(sb, "by_definitions", "definitions", &g->by_defs, false);
	json_groups(sb, "by_file", "file", &g->by_file, true);
	strbuf_puts(sb, "}");
}

static void
json_timeline(const struct diag *g, struct strbuf *sb)
{
	const struct diag_exit *e;
	struct loglines ll;
	size_t i, k, omitted, start = diag_timeline_start(g, &omitted);
	bool first = true;

	strbuf_printf(sb, ",\"timeline_source\":\"%s\",\"timeline_omitted\":%zu,\"timeline_lost\":%" PRIu64 ",\"timeline\":[",
	    g->exits_from_events ? "events" : "exits", omitted, g->exits_lost);
	for (i = start; i < g->exn; i++) {
		e = diag_exit_at(g, i);
		if (!diag_exit_in_window(g, e))
			continue;
		strbuf_printf(sb, "%s{\"time\":\"%s\",\"pid\":%lld,\"worker\":", first ? "" : ",",
		    e->time, (long long)e->pid);
		first = false;
		if (e->has_worker)
			strbuf_printf(sb, "%lld", (long long)e->worker);
		else
			strbuf_puts(sb, "null");
		strbuf_puts(sb, ",\"kind\":");
		strbuf_json_str(sb, e->kind);
		strbuf_puts(sb, ",\"signal\":");
		json_str_or_null(sb, e->signal[0] ? e->signal : NULL);
		if (e->has_code)
			strbuf_printf(sb, ",\"exit_code\":%lld", (long long)e->exit_code);
		else
			strbuf_puts(sb, ",\"exit_code\":null");
		strbuf_printf(sb, ",\"core_dumped\":%s,\"scan_timeout\":%s,\"uptime_ms\":%lld,\"restart_delay_ms\":",
		    e->core ? "true" : "false", e->scan_timeout ? "true" : "false",
		    (long long)e->uptime_ms);
		if (e->delay_ms >= 0)
			strbuf_printf(sb, "%lld", (long long)e->delay_ms);
		else
			strbuf_puts(sb, "null");
		strbuf_puts(sb, ",\"uid\":");
		if (e->has_uid)
			strbuf_printf(sb, "%lld", (long long)e->uid);
		else
			strbuf_puts(sb, "null");
		strbuf_puts(sb, ",\"definitions\":");
		json_str_or_null(sb, e->defs);
		strbuf_puts(sb, ",\"last_stderr\":");
		json_str_or_null(sb, e->last_stderr);
		strbuf_puts(sb, ",\"files\":[");
		for (k = 0; k < e->nfiles; k++) {
			strbuf_puts(sb, k ? "," : "");
			strbuf_json_str(sb, e->files[k]);
		}
		strbuf_puts(sb, "]");
		if (diag_exit_gets_logs(g, i)) {
			strbuf_puts(sb, ",\"scansvc_log\":");
			if (g->svclog != NULL) {
				diag_svc_lines(g, e, &ll);
				strbuf_puts(sb, "[");
				diag_loglines_out(sb, &ll, true, "");
				strbuf_puts(sb, "]");
			} else {
				strbuf_puts(sb, "null");
			}
			strbuf_puts(sb, ",\"daemon_log\":");
			if (g->dlog != NULL) {
				diag_daemon_lines(g, e, &ll);
				strbuf_puts(sb, "[");
				diag_loglines_out(sb, &ll, true, "");
				strbuf_puts(sb, "]");
			} else {
				strbuf_puts(sb, "null");
			}
		}
		strbuf_puts(sb, "}");
	}
	strbuf_puts(sb, "]");
}

static void
json_history(const struct diag *g, struct strbuf *sb)
{
	const struct diag_episode *ep;
	const struct diag_defs_event *h;
	size_t i;
	bool first = true;

	strbuf_puts(sb, ",\"fault_history\":[");
	for (i = 0; (ep = diag_episodes_of(g, &i, 0)) != NULL; first = false) {
		strbuf_printf(sb, "%s{\"fault\":%d,\"raised\":", first ? "" : ",",
		    ep->fault);
		json_time(sb, ep->raised);
		strbuf_puts(sb, ",\"intervention\":");
		json_time(sb, ep->intervention);
		strbuf_puts(sb, ",\"cleared\":");
		json_time(sb, ep->cleared);
		strbuf_puts(sb, ",\"duration_ms\":");
		if (ep->raised >= 0 && ep->cleared >= 0)
			strbuf_printf(sb, "%lld", (long long)(ep->cleared - ep->raised));
		else
			strbuf_puts(sb, "null");
		strbuf_puts(sb, ",\"detail\":");
		strbuf_json_str(sb, ep->detail);
		strbuf_puts(sb, ",\"cleared_detail\":");
		json_str_or_null(sb, ep->cleared >= 0 ? ep->cleared_detail : NULL);
		strbuf_puts(sb, "}");
	}
	strbuf_puts(sb, "],\"definitions\":{\"active\":");
	if (g->o->definitions_dir == NULL || !g->cont_ok) {
		strbuf_puts(sb, "null");
	} else {
		strbuf_puts(sb, "[");
		for (i = 0; i < g->ncont; i++) {
			strbuf_printf(sb, "%s{\"name\":", i ? "," : "");
			strbuf_json_str(sb, g->cont[i].name);
			if (g->cont[i].header_ok) {
				strbuf_printf(sb, ",\"kind\":\"%s\",\"version\":%u,\"sigs\":%u,\"built\":",
				    diag_kind_name(g->cont[i].kind), g->cont[i].version,
				    g->cont[i].sigs);
				strbuf_json_str(sb, g->cont[i].time);
			}
			strbuf_printf(sb, ",\"header_ok\":%s}",
			    g->cont[i].header_ok ? "true" : "false");
		}
		strbuf_puts(sb, "]");
	}
	strbuf_puts(sb, ",\"history\":[");
	for (i = 0, first = true; i < g->dhn; i++) {
		h = &g->dh[(g->dhhead + i) % DIAG_HISTORY_MAX];
		if (h->t < g->o->since_ms)
			continue;
		strbuf_printf(sb, "%s{\"time\":\"%s\",\"event\":\"%s\",\"file\":",
		    first ? "" : ",", h->time, h->type);
		strbuf_json_str(sb, h->file);
		strbuf_puts(sb, ",\"versions\":");
		strbuf_json_str(sb, h->versions);
		strbuf_puts(sb, ",\"reason\":");
		strbuf_json_str(sb, h->reason);
		strbuf_puts(sb, "}");
		first = false;
	}
	strbuf_puts(sb, "]}");
}

static void
json_rest(const struct diag *g, struct strbuf *sb)
{
	const struct config *c = g->cfg;
	const struct diag_problem *p;
	struct poison_list shown = g->poison;
	size_t i;

	strbuf_puts(sb, ",\"poison\":");
	if (!g->poison_ok) {
		strbuf_puts(sb, "null");
	} else {
		if (shown.n > DIAG_POISON_SHOWN)
			shown.n = DIAG_POISON_SHOWN;
		poison_to_json(&shown, sb);
	}
	strbuf_printf(sb, ",\"poison_omitted\":%zu", g->poison.n > DIAG_POISON_SHOWN ?
	    g->poison.n - DIAG_POISON_SHOWN : 0);
	strbuf_printf(sb, ",\"core_dumps\":{\"enabled\":%s,\"core_pattern\":",
	    c->core_dumps ? "true" : "false");
	json_str_or_null(sb, g->o->core_pattern);
	strbuf_puts(sb, ",\"pids\":[");
	for (i = 0; i < g->exn; i++) {
		const struct diag_exit *e = diag_exit_at(g, i);

		if (diag_exit_in_window(g, e) && e->core)
			strbuf_printf(sb, "%s%lld", sb->len && sb->buf[sb->len - 1] == '[' ?
			    "" : ",", (long long)e->pid);
	}
	strbuf_puts(sb, "]}");
	strbuf_printf(sb, ",\"config\":{\"available\":%s,\"scan_user\":", g->o->cfg ?
	    "true" : "false");
	strbuf_json_str(sb, c->scan_user);
	strbuf_puts(sb, ",\"scan_group\":");
	strbuf_json_str(sb, c->scan_group);
	strbuf_printf(sb, ",\"crash_threshold\":%u,\"crash_window_ms\":%llu,\"stable_after_ms\":%llu,\"intervention_after_ms\":%llu,\"poison_threshold\":%u,\"restart_delay_min_ms\":%llu,\"restart_delay_max_ms\":%llu,\"scan_timeout_ms\":%llu,\"core_dumps\":%s}",
	    c->crash_threshold, (unsigned long long)c->crash_window_ms,
	    (unsigned long long)c->stable_after_ms,
	    (unsigned long long)c->intervention_after_ms, c->poison_threshold,
	    (unsigned long long)c->restart_delay_min_ms,
	    (unsigned long long)c->restart_delay_max_ms,
	    (unsigned long long)c->scan_timeout_ms, c->core_dumps ? "true" : "false");
	strbuf_puts(sb, ",\"unreadable\":[");
	for (i = 0; i < g->npr; i++) {
		p = &g->pr[i];
		strbuf_printf(sb, "%s{\"file\":\"%s\",\"line\":", i ? "," : "", p->file);
		if (p->line >= 0)
			strbuf_printf(sb, "%lld", (long long)p->line);
		else
			strbuf_puts(sb, "null");
		strbuf_puts(sb, ",\"offset\":");
		if (p->offset >= 0)
			strbuf_printf(sb, "%lld", (long long)p->offset);
		else
			strbuf_puts(sb, "null");
		strbuf_puts(sb, ",\"why\":");
		strbuf_json_str(sb, p->why);
		strbuf_puts(sb, "}");
	}
	strbuf_printf(sb, "],\"unreadable_omitted\":%zu,\"events_lost\":%" PRIu64,
	    g->pr_omitted, g->events_lost);
}

void
diag_report_json(const struct diag *g, struct strbuf *sb)
{
	struct strbuf s;

	strbuf_puts(sb, "{\"schema\":\"" DIAG_SCHEMA "\",\"generated\":");
	json_time(sb, g->o->now_ms);
	strbuf_puts(sb, ",\"since\":");
	json_time(sb, g->o->since_ms > 0 ? g->o->since_ms : -1);
	strbuf_printf(sb, ",\"verdict\":\"%s\",\"exit_status\":%d", diag_verdict_name(g->verdict),
	    g->verdict);
	strbuf_init(&s, DIAG_OUT_MAX);
	diag_text_verdict(g, &s);
	strbuf_puts(sb, ",\"summary\":");
	strbuf_json_str(sb, strbuf_str(&s));
	strbuf_free(&s);
	strbuf_puts(sb, ",\"sources\":{\"state_dir\":");
	strbuf_json_str(sb, g->o->state_dir);
	strbuf_puts(sb, ",\"log_dir\":");
	json_str_or_null(sb, g->o->log_dir);
	strbuf_puts(sb, ",\"definitions_dir\":");
	json_str_or_null(sb, g->o->definitions_dir);
	strbuf_puts(sb, "}");
	json_faults(g, sb);
	json_crashes(g, sb);
	json_timeline(g, sb);
	json_history(g, sb);
	json_rest(g, sb);
	strbuf_puts(sb, "}\n");
}
