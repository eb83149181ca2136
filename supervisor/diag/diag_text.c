/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The diagnosis: the text report (diag_int.h). */
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

static void
fmt_dur(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (ms < 0)
		str_fmt(buf, len, "?");
	else if (ms < 1000)
		str_fmt(buf, len, "%lld ms", (long long)ms);
	else if (ms < 10000)
		str_fmt(buf, len, "%.1f s", (double)ms / 1000.0);
	else if (s < 60)
		str_fmt(buf, len, "%lld s", (long long)s);
	else if (s < 3600)
		str_fmt(buf, len, "%lldm%02llds", (long long)(s / 60),
		    (long long)(s % 60));
	else
		str_fmt(buf, len, "%lldh%02lldm", (long long)(s / 3600),
		    (long long)(s / 60 % 60));
}

/* ---- text ---------------------------------------------------------------- */

void
diag_text_fault_explain(const struct diag *g, const struct diag_active *a,
    struct strbuf *sb)
{
	const struct diag_exit *e;
	char cause[DIAG_SIG_MAX + 16], when[WALLTIME_LEN], up[32];
	size_t i, shown = 0;

	switch (a->id) {
	case FAULT_SCAN_USER_UNAVAILABLE:
		strbuf_printf(sb, "    the account: %s (ScanUser %s, ScanGroup %s)\n",
		    a->detail[0] ? a->detail : "(no detail recorded)",
		    g->cfg->scan_user, g->cfg->scan_group);
		if (g->root_starts > 0) {
			diag_time_str(g->last_root_start, when);
			strbuf_printf(sb, "    %u worker start(s) as root in the records, the last at %s\n",
			    g->root_starts, when);
		}
		strbuf_puts(sb, "    (as recorded when the fault was raised; not looked up again by diag)\n");
		break;
	case FAULT_SCAN_RESTARTING:
		if (g->crashes > 0) {
			strbuf_puts(sb, "    ");
			diag_crash_sentence(g, sb);
			strbuf_puts(sb, "\n");
		}
		if (a->intervention)
			strbuf_puts(sb, "    suspected files are refused without being scanned while it needs intervention\n");
		break;
	case FAULT_SCAN_START_FAILED:
		for (i = g->exn; i-- > 0 && shown < 5; ) {
			e = diag_exit_at(g, i);
			if (!diag_exit_in_window(g, e) || diag_exit_is_crash(e))
				continue;
			shown++;
			diag_exit_cause(e, cause, sizeof(cause));
			fmt_dur(e->uptime_ms, up, sizeof(up));
			strbuf_printf(sb, "    start failure %s: pid %lld, %s after %s; last stderr: %s\n",
			    e->time, (long long)e->pid, cause, up,
			    e->last_stderr ? e->last_stderr : "(none)");
		}
		if (shown == 0)
			strbuf_puts(sb, "    no start failure in the exits records: the detail above says what failed (exec error, READY timeout)\n");
		break;
	default:
		break;
	}
}

static void
text_faults(const struct diag *g, struct strbuf *sb)
{
	const struct diag_active *a;
	const struct fault_def *def;
	char when[WALLTIME_LEN], iw[WALLTIME_LEN];
	size_t i;

	strbuf_puts(sb, "\nACTIVE FAULTS");
	if (g->faults_from_events)
		strbuf_puts(sb, " (from events.jsonl: faults.state could not be read)");
	strbuf_puts(sb, g->nact ? "\n" : "\n  none\n");
	for (i = 0; i < g->nact; i++) {
		a = &g->act[i];
		def = fault_def_find(a->id);
		diag_time_str(a->since, when);
		diag_time_str(a->intervention_ms, iw);
		strbuf_printf(sb, "  fault %d: %s (raised %s%s%s)\n", a->id,
		    fault_text(def, FAULT_LANG_EN, FAULT_FIELD_PORTAL), when,
		    a->intervention ? "; NEEDS INTERVENTION since " : "",
		    a->intervention ? iw : "");
		strbuf_printf(sb, "    detail: %s\n", a->detail);
		strbuf_printf(sb, "    meaning: %s\n", fault_text(def,
		    FAULT_LANG_EN, FAULT_FIELD_CONDITION));
		diag_text_fault_explain(g, a, sb);
		strbuf_printf(sb, "    remedy: %s\n", fault_text(def,
		    FAULT_LANG_EN, FAULT_FIELD_REMEDY));
	}
}

static void
text_crashes(const struct diag *g, struct strbuf *sb)
{
	const struct diag_episode *ep;
	char a[WALLTIME_LEN], b[WALLTIME_LEN], span[32], d[32];
	size_t i;

	strbuf_puts(sb, "\nCRASHES\n");
	if (g->crashes == 0) {
		strbuf_printf(sb, "  no crash%s\n", g->start_failures ?
		    "" : " and no start failure");
	} else {
		diag_time_str(g->first, a);
		diag_time_str(g->last, b);
		fmt_dur(g->last - g->first, span, sizeof(span));
		strbuf_printf(sb, "  %u crash(es) from %s to %s (%s): %.1f per minute, at most %lld in one minute\n",
		    g->crashes, a, b, span, (double)g->crashes * 60000.0 /
		    (double)(g->last - g->first > 60000 ? g->last - g->first : 60000),
		    (long long)g->peak);
		strbuf_puts(sb, "  ");
		diag_crash_sentence(g, sb);
		strbuf_puts(sb, "\n  by signal: ");
		diag_sigs_text(sb, &g->by_sig);
		strbuf_puts(sb, "\n  by definitions: ");
		diag_sigs_text(sb, &g->by_defs);
		strbuf_puts(sb, "\n  by file in flight:\n");
		for (i = 0; i < g->by_file.n && i < 20; i++) {
			strbuf_printf(sb, "    %u x %s (", g->by_file.g[i].count,
			    g->by_file.g[i].key);
			diag_group_sigs_text(sb, &g->by_file.g[i]);
			strbuf_puts(sb, ")\n");
		}
		if (g->no_file)
			strbuf_printf(sb, "    %u x (no file in flight)\n", g->no_file);
		if (g->timeouts)
			strbuf_printf(sb, "  %u of them: a scan outlived ScanTimeout and the worker was killed\n",
			    g->timeouts);
	}
	if (g->start_failures)
		strbuf_printf(sb, "  %u start failure(s) (fault 7)\n", g->start_failures);
	strbuf_puts(sb, "\nFAULT 6 HISTORY (scan service restarting frequently)\n");
	for (i = 0; (ep = diag_episodes_of(g, &i, FAULT_SCAN_RESTARTING)) != NULL; ) {
		diag_time_str(ep->raised, a);
		diag_time_str(ep->cleared, b);
		strbuf_printf(sb, "  raised %s (%s)", a, ep->detail[0] ?
		    ep->detail : "detail not recorded");
		if (ep->intervention >= 0) {
			diag_time_str(ep->intervention, a);
			strbuf_printf(sb, "; needs intervention from %s", a);
		}
		if (ep->cleared >= 0 && ep->raised >= 0) {
			fmt_dur(ep->cleared - ep->raised, d, sizeof(d));
			strbuf_printf(sb, "; cleared %s (%s); lasted %s\n", b,
			    ep->cleared_detail, d);
		} else if (ep->cleared >= 0) {
			strbuf_printf(sb, "; cleared %s (%s)\n", b, ep->cleared_detail);
		} else {
			strbuf_puts(sb, "; still raised\n");
		}
	}
	if (i == 0)
		strbuf_puts(sb, "  never raised in the records\n");
}

static void
text_timeline(const struct diag *g, struct strbuf *sb)
{
	const struct diag_exit *e;
	struct loglines ll;
	char cause[DIAG_SIG_MAX + 16], up[32], delay[32];
	size_t i, k, omitted, start = diag_timeline_start(g, &omitted);

	strbuf_puts(sb, "\nTIMELINE (worker exits");
	if (g->exits_from_events)
		strbuf_puts(sb, ", from events.jsonl");
	if (omitted)
		strbuf_printf(sb, "; the last %d, %zu earlier left out", DIAG_TIMELINE_MAX,
		    omitted);
	if (g->exits_lost)
		strbuf_printf(sb, "; %" PRIu64 " not recorded: exits.jsonl could not be written",
		    g->exits_lost);
	strbuf_puts(sb, ")\n");
	if (start == g->exn)
		strbuf_puts(sb, "  none\n");
	for (i = start; i < g->exn; i++) {
		e = diag_exit_at(g, i);
		if (!diag_exit_in_window(g, e))
			continue;
		diag_exit_cause(e, cause, sizeof(cause));
		fmt_dur(e->uptime_ms, up, sizeof(up));
		fmt_dur(e->delay_ms, delay, sizeof(delay));
		strbuf_printf(sb, "  %s pid %lld worker %lld %s %s%s%s, up %s, restart in %s, definitions %s\n",
		    e->time, (long long)e->pid, (long long)e->worker, e->kind, cause,
		    e->core ? " (core dumped)" : "",
		    e->scan_timeout ? " (ScanTimeout)" : "", up,
		    e->delay_ms >= 0 ? delay : "(not recorded)",
		    e->defs ? e->defs : "(not recorded)");
		for (k = 0; k < e->nfiles; k++)
			strbuf_printf(sb, "    file in flight: %s\n", e->files[k]);
		if (e->last_stderr)
			strbuf_printf(sb, "    last stderr: %s\n", e->last_stderr);
		if (!diag_exit_gets_logs(g, i))
			continue;
		if (g->svclog != NULL) {
			diag_svc_lines(g, e, &ll);
			strbuf_printf(sb, "    ampscansvc.log, pid %lld:%s\n",
			    (long long)e->pid, ll.count ? "" : " (no lines)");
			diag_loglines_out(sb, &ll, "      ");
		}
		if (g->dlog != NULL) {
			diag_daemon_lines(g, e, &ll);
			strbuf_printf(sb, "    ampdaemon.log around it:%s\n",
			    ll.count ? "" : " (no lines)");
			diag_loglines_out(sb, &ll, "      ");
		}
	}
}

/* Crashes of the window with path in flight. */
static unsigned
crashes_with_file(const struct diag *g, const char *path)
{
	size_t i;

	for (i = 0; i < g->by_file.n; i++)
		if (strcmp(g->by_file.g[i].key, path) == 0)
			return g->by_file.g[i].count;
	return 0;
}

static void
sha_hex(const uint8_t *sha, char out[2 * POISON_SHA256_LEN + 1])
{
	size_t i;

	for (i = 0; i < POISON_SHA256_LEN; i++)
		str_fmt(out + 2 * i, 3, "%02x", sha[i]);
}

static void
text_poison(const struct diag *g, struct strbuf *sb)
{
	const struct poison_entry *p;
	char mt[WALLTIME_LEN], last[WALLTIME_LEN];
	char hex[2 * POISON_SHA256_LEN + 1];
	size_t i;

	strbuf_puts(sb, "\nSUSPECTED AND POISON FILES (poison.state)\n");
	if (!g->poison_ok)
		strbuf_puts(sb, "  (could not be read: see below)\n");
	else if (g->poison.n == 0)
		strbuf_puts(sb, "  none\n");
	for (i = 0; i < g->poison.n && i < DIAG_POISON_SHOWN; i++) {
		p = &g->poison.e[i];
		walltime_format(p->id.mtime_sec * 1000 + p->id.mtime_nsec / 1000000, mt);
		walltime_format(p->last_ms, last);
		sha_hex(p->id.sha256, hex);
		strbuf_printf(sb, "  %s %s\n    in flight during %u crash(es) (%u in this diagnosis), the last at %s\n",
		    p->poison ? "POISON " : "suspect", p->path, p->crashes,
		    crashes_with_file(g, p->path), last);
		strbuf_printf(sb, "    size %" PRIu64 ", device %" PRIu64 ", inode %" PRIu64 ", mtime %s, sha256 %s%s\n",
		    p->id.size, p->id.dev, p->id.ino, mt, hex,
		    p->id.hashed < p->id.size ? " (of its first bytes)" : "");
	}
	if (g->poison.n > DIAG_POISON_SHOWN)
		strbuf_printf(sb, "  ... %zu more\n", g->poison.n - DIAG_POISON_SHOWN);
}


/* WorkerLaunch loader: which set it held, its pid, when and how fast. */
static void
text_loader(const struct diag *g, struct strbuf *sb)
{
	char when[WALLTIME_LEN], dur[32];

	if (!g->loader.seen)
		return;
	strbuf_puts(sb, "\nLOADER (WorkerLaunch loader; the last events)\n");
	if (g->loader.ready > 0) {
		diag_time_str(g->loader.ready, when);
		fmt_dur(g->loader.load_ms, dur, sizeof(dur));
		strbuf_printf(sb, "  READY: pid %lld%s, holds %s, loaded %s in %s\n",
		    (long long)g->loader.pid, g->loader.candidate ?
		    " (an update's candidate)" : "", g->loader.defs[0] ?
		    g->loader.defs : "(no set named)", when, dur);
	} else if (g->loader.started > 0) {
		diag_time_str(g->loader.started, when);
		strbuf_printf(sb, "  started: pid %lld at %s, never READY in the records\n",
		    (long long)g->loader.pid, when);
	}
	if (g->loader.exited > 0) {
		diag_time_str(g->loader.exited, when);
		strbuf_printf(sb, "  last exit: pid %lld at %s, %s (%s)\n",
		    (long long)g->loader.exit_pid, when, g->loader.exit_kind,
		    g->loader.exit_how[0] ? g->loader.exit_how : "?");
	}
	/* the last start's fallback, unless a loader was READY after it */
	if (g->loader.fallback > 0 && g->loader.fallback >= g->loader.ready) {
		diag_time_str(g->loader.fallback, when);
		strbuf_printf(sb, "  fell back at %s: the workers are exec'd, each loading the definitions itself (%s)\n"
		    "  what to do: a kernel with Landlock (5.13+, `lsm=` including landlock) gives the loader its sandbox back; until then every worker start is a full load\n",
		    when, g->loader.fallback_why[0] ? g->loader.fallback_why : "no reason recorded");
	}
}

static void
text_defs(const struct diag *g, struct strbuf *sb)
{
	const struct diag_defs_event *h;
	size_t i;

	strbuf_puts(sb, "\nDEFINITIONS\n  active:");
	if (g->o->definitions_dir == NULL)
		strbuf_puts(sb, " (definitions directory not available)");
	else if (!g->cont_ok)
		strbuf_puts(sb, " (could not be read: see below)");
	else if (g->ncont == 0)
		strbuf_puts(sb, " none");
	strbuf_puts(sb, "\n");
	for (i = 0; g->cont_ok && i < g->ncont; i++) {
		if (!g->cont[i].header_ok)
			strbuf_printf(sb, "    %s (header unreadable)\n", g->cont[i].name);
		else
			strbuf_printf(sb, "    %s version %u (%s, %u signatures, built %s)\n",
			    g->cont[i].name, g->cont[i].version,
			    diag_kind_name(g->cont[i].kind), g->cont[i].sigs,
			    g->cont[i].time);
	}
	strbuf_puts(sb, "  history:");
	for (i = 0; i < g->dhn; i++) {
		h = &g->dh[(g->dhhead + i) % DIAG_HISTORY_MAX];
		if (h->t < g->o->since_ms)
			continue;
		strbuf_printf(sb, "\n    %s %s", h->time, h->type + 12);
		if (h->file[0])
			strbuf_printf(sb, " %s", h->file);
		if (h->versions[0])
			strbuf_printf(sb, " %s", h->versions);
		if (h->reason[0])
			strbuf_printf(sb, ": %s", h->reason);
	}
	strbuf_puts(sb, g->dhn ? "\n" : " no activation, rejection, deletion or rollback in the records\n");
}

static void
text_cores(const struct diag *g, struct strbuf *sb)
{
	const char *cp = g->o->core_pattern;
	size_t i;

	strbuf_printf(sb, "\nCORE DUMPS (CoreDumps %s)\n", g->cfg->core_dumps ? "yes" : "no");
	if (!g->cfg->core_dumps) {
		strbuf_printf(sb, "  workers do not dump core; %u crash(es) recorded a core anyway\n",
		    g->cores);
		strbuf_puts(sb, "  to get backtraces: CoreDumps yes in ampdaemon.conf, restart ampdaemon, wait for the next crash\n");
		return;
	}
	strbuf_printf(sb, "  %u crash(es) dumped core:", g->cores);
	for (i = 0; i < g->exn; i++) {
		const struct diag_exit *e = diag_exit_at(g, i);

		if (diag_exit_in_window(g, e) && e->core)
			strbuf_printf(sb, " %lld", (long long)e->pid);
	}
	strbuf_printf(sb, "\n  kernel.core_pattern: %s\n", cp ? cp : "(unknown)");
	if (cp != NULL && cp[0] == '|' && strstr(cp, "systemd-coredump") != NULL)
		strbuf_puts(sb, "  cores go to systemd-coredump: coredumpctl list ampscansvc; backtrace: coredumpctl gdb PID (then: bt)\n");
	else if (cp != NULL && cp[0] == '|')
		strbuf_puts(sb, "  cores are piped to the program above; find the core it kept, then: gdb $(command -v ampscansvc) CORE -batch -ex bt\n");
	else
		strbuf_puts(sb, "  cores are written as the pattern says (%p is the pid; a relative pattern is relative to the worker's directory, /); backtrace: gdb $(command -v ampscansvc) CORE -batch -ex bt\n");
}

static void
text_config(const struct diag *g, struct strbuf *sb)
{
	const struct config *c = g->cfg;

	strbuf_printf(sb, "\nCONFIGURATION%s\n", g->o->cfg ? "" :
	    " (not available: the defaults are shown)");
	strbuf_printf(sb, "  ScanUser %s, ScanGroup %s, CrashThreshold %u, CrashWindow %llu ms, StableAfter %llu ms, InterventionAfter %llu ms,\n",
	    c->scan_user, c->scan_group, c->crash_threshold,
	    (unsigned long long)c->crash_window_ms,
	    (unsigned long long)c->stable_after_ms,
	    (unsigned long long)c->intervention_after_ms);
	strbuf_printf(sb, "  PoisonThreshold %u, RestartDelayMin %llu ms, RestartDelayMax %llu ms, ScanTimeout %llu ms, CoreDumps %s\n",
	    c->poison_threshold, (unsigned long long)c->restart_delay_min_ms,
	    (unsigned long long)c->restart_delay_max_ms,
	    (unsigned long long)c->scan_timeout_ms, c->core_dumps ? "yes" : "no");
}

static void
text_problems(const struct diag *g, struct strbuf *sb)
{
	const struct diag_problem *p;
	size_t i;

	strbuf_puts(sb, "\nCOULD NOT READ\n");
	if (g->npr == 0 && g->events_lost == 0)
		strbuf_puts(sb, "  nothing: every record was read\n");
	if (g->events_lost)
		strbuf_printf(sb, "  %s: %" PRIu64 " events were never written (the state directory could not be written and the queue overflowed; the report may miss them)\n",
		    EVENTS_FILE_NAME, g->events_lost);
	for (i = 0; i < g->npr; i++) {
		p = &g->pr[i];
		strbuf_printf(sb, "  %s", p->file);
		if (p->line >= 0)
			strbuf_printf(sb, " line %lld", (long long)p->line);
		if (p->offset >= 0)
			strbuf_printf(sb, " (offset %lld)", (long long)p->offset);
		strbuf_printf(sb, ": %s\n", p->why);
	}
	if (g->pr_omitted)
		strbuf_printf(sb, "  ... %zu more\n", g->pr_omitted);
}

void
diag_text_verdict(const struct diag *g, struct strbuf *sb)
{
	const struct diag_active *a;
	size_t i;
	static const char *const names[] = { "HEALTHY", "DEGRADED",
	    "INTERVENTION NEEDED" };

	strbuf_printf(sb, "\nVERDICT: %s (exit status %d)\n", names[g->verdict],
	    g->verdict);
	if (g->nact == 0)
		strbuf_puts(sb, "  no active fault\n");
	for (i = 0; i < g->nact; i++) {
		a = &g->act[i];
		strbuf_printf(sb, "  fault %d %s%s\n", a->id, fault_text(
		    fault_def_find(a->id), FAULT_LANG_EN, FAULT_FIELD_PORTAL),
		    a->intervention ? ": needs intervention" :
		    a->id == FAULT_SCAN_START_FAILED ? ": scanning is off" :
		    a->id == FAULT_VERSION_MISMATCH ? ": reinstall" : "");
	}
	if (g->crashes > 0) {
		strbuf_puts(sb, "  ");
		diag_crash_sentence(g, sb);
		strbuf_puts(sb, "\n");
	}
	if (g->poison_ok && g->poison.n > 0) {
		size_t np = 0;

		for (i = 0; i < g->poison.n; i++)
			np += g->poison.e[i].poison;
		strbuf_printf(sb, "  %zu poison file(s) refused until they change, %zu suspect(s)\n",
		    np, g->poison.n - np);
	}
	if (g->npr > 0)
		strbuf_printf(sb, "  %zu record(s) could not be read (see COULD NOT READ)\n",
		    g->npr + g->pr_omitted);
}

void
diag_report_text(const struct diag *g, struct strbuf *sb)
{
	char now[WALLTIME_LEN], since[WALLTIME_LEN];

	walltime_format(g->o->now_ms, now);
	diag_time_str(g->o->since_ms, since);
	strbuf_printf(sb, "ampscan diagnosis, generated %s; records %s%s\n", now,
	    g->o->since_ms > 0 ? "since " : "", g->o->since_ms > 0 ? since : "all");
	strbuf_printf(sb, "state: %s; logs: %s; definitions: %s\n", g->o->state_dir,
	    g->o->log_dir ? g->o->log_dir : "(not available)",
	    g->o->definitions_dir ? g->o->definitions_dir : "(not available)");
	diag_text_verdict(g, sb);
	text_faults(g, sb);
	text_crashes(g, sb);
	text_timeline(g, sb);
	text_poison(g, sb);
	text_defs(g, sb);
	text_loader(g, sb);
	text_cores(g, sb);
	text_config(g, sb);
	text_problems(g, sb);
}
