/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The diagnosis: the analysis, and what both reports share (diag_int.h). */
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

/* ---- analysis ------------------------------------------------------------ */

bool
diag_exit_in_window(const struct diag *g, const struct diag_exit *e)
{
	/* exits asked for, a loader started beside the first definitions
	 * check that ended before it, or a loader that found no Landlock (its
	 * workers are exec'd): neither a crash nor a start failure */
	return e->t >= g->o->since_ms && strcmp(e->kind, EXITS_KIND_STOPPED) != 0 &&
	    strcmp(e->kind, EXITS_KIND_DEFS_CHANGED) != 0 &&
	    strcmp(e->kind, EXITS_KIND_LOADER_STOPPED) != 0 &&
	    strcmp(e->kind, EXITS_KIND_LOADER_EARLY) != 0 &&
	    strcmp(e->kind, EXITS_KIND_LOADER_NO_LANDLOCK) != 0;
}

bool
diag_exit_is_crash(const struct diag_exit *e)
{
	return strcmp(e->kind, EXITS_KIND_CRASH) == 0 ||
	    strcmp(e->kind, EXITS_KIND_LOADER_CRASH) == 0;
}

void
diag_exit_cause(const struct diag_exit *e, char *buf, size_t len)
{
	if (e->signal[0])
		str_fmt(buf, len, "%s", e->signal);
	else if (e->has_code)
		str_fmt(buf, len, "exit %lld", (long long)e->exit_code);
	else
		str_fmt(buf, len, "unknown");
}

static struct diag_group *
group_add(struct diag_groups *gs, const char *key, const char *sig)
{
	struct diag_group *gr = NULL;
	size_t i;

	for (i = 0; i < gs->n; i++)
		if (strcmp(gs->g[i].key, key) == 0) {
			gr = &gs->g[i];
			break;
		}
	if (gr == NULL) {
		if (gs->n == DIAG_GROUPS_MAX) {
			gs->other++;
			return NULL;
		}
		gr = &gs->g[gs->n];
		memset(gr, 0, sizeof(*gr));
		if ((gr->key = diag_dupn(key, EVENTS_LINE_MAX)) == NULL) {
			gs->other++;
			return NULL;
		}
		gs->n++;
	}
	gr->count++;
	for (i = 0; sig != NULL && i < DIAG_SIGS_PER_GROUP; i++) {
		if (gr->sigs[i].n == 0)
			str_fmt(gr->sigs[i].sig, sizeof(gr->sigs[i].sig), "%s", sig);
		if (strcmp(gr->sigs[i].sig, sig) == 0) {
			gr->sigs[i].n++;
			break;
		}
	}
	return gr;
}

static int
group_cmp(const void *a, const void *b)
{
	const struct diag_group *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

void
diag_groups_free(struct diag_groups *gs)
{
	size_t i;

	for (i = 0; i < gs->n; i++)
		free(gs->g[i].key);
	gs->n = 0;
}

void
diag_analyse(struct diag *g)
{
	struct diag_exit *e, *w;
	char cause[DIAG_SIG_MAX + 16];
	size_t i, k, lo = 0;
	int64_t in_minute;

	g->first = g->last = -1;
	for (i = 0; i < g->exn; i++) {
		e = diag_exit_at(g, i);
		if (!diag_exit_in_window(g, e))
			continue;
		if (!diag_exit_is_crash(e)) {
			g->start_failures++;
			continue;
		}
		g->crashes++;
		g->timeouts += e->scan_timeout;
		g->cores += e->core;
		if (g->first < 0)
			g->first = e->t;
		g->last = e->t;
		diag_exit_cause(e, cause, sizeof(cause));
		group_add(&g->by_sig, cause, NULL);
		group_add(&g->by_defs, e->defs != NULL && e->defs[0] ? e->defs :
		    "(not recorded)", NULL);
		if (e->nfiles == 0)
			g->no_file++;
		for (k = 0; k < e->nfiles; k++)
			group_add(&g->by_file, e->files[k], cause);
		/* the most crashes in any minute: a window over the ring */
		for (in_minute = 0; lo <= i; lo++) {
			w = diag_exit_at(g, lo);
			if (diag_exit_in_window(g, w) && diag_exit_is_crash(w) &&
			    w->t > e->t - 60000)
				break;
		}
		for (k = lo, in_minute = 0; k <= i; k++) {
			w = diag_exit_at(g, k);
			in_minute += diag_exit_in_window(g, w) && diag_exit_is_crash(w);
		}
		if (in_minute > g->peak)
			g->peak = in_minute;
	}
	qsort(g->by_sig.g, g->by_sig.n, sizeof(g->by_sig.g[0]), group_cmp);
	qsort(g->by_defs.g, g->by_defs.n, sizeof(g->by_defs.g[0]), group_cmp);
	qsort(g->by_file.g, g->by_file.n, sizeof(g->by_file.g[0]), group_cmp);
}

static bool
fault_needs_person(const struct diag_active *a)
{
	return a->intervention || a->id == FAULT_SCAN_START_FAILED ||
	    a->id == FAULT_VERSION_MISMATCH;
}

int
diag_verdict_of(const struct diag *g)
{
	size_t i;
	int v = DIAG_HEALTHY;

	for (i = 0; i < g->nact; i++)
		v = fault_needs_person(&g->act[i]) ? DIAG_INTERVENTION :
		    v == DIAG_HEALTHY ? DIAG_DEGRADED : v;
	return v;
}

const char *
diag_verdict_name(int v)
{
	return v == DIAG_HEALTHY ? "healthy" : v == DIAG_DEGRADED ? "degraded" :
	    "intervention";
}

void
diag_sigs_text(struct strbuf *sb, const struct diag_groups *gs)
{
	size_t i;

	for (i = 0; i < gs->n; i++)
		strbuf_printf(sb, "%s%s x%u", i ? ", " : "", gs->g[i].key,
		    gs->g[i].count);
	if (gs->other)
		strbuf_printf(sb, ", other x%u", gs->other);
}

void
diag_group_sigs_text(struct strbuf *sb, const struct diag_group *gr)
{
	size_t i;

	for (i = 0; i < DIAG_SIGS_PER_GROUP && gr->sigs[i].n; i++)
		strbuf_printf(sb, "%s%s x%u", i ? ", " : "", gr->sigs[i].sig,
		    gr->sigs[i].n);
}

/* The last definitions_activated before t, or NULL. */
static const struct diag_defs_event *
activation_before(const struct diag *g, int64_t t)
{
	const struct diag_defs_event *h, *best = NULL;
	size_t i;

	for (i = 0; i < g->dhn; i++) {
		h = &g->dh[(g->dhhead + i) % DIAG_HISTORY_MAX];
		if (strcmp(h->type, EVENT_DEFINITIONS_ACTIVATED) == 0 && h->t <= t)
			best = h;
	}
	return best;
}

/* The sentence that explains the crashes (issue 7's "All 7 crashes..."). */
void
diag_crash_sentence(const struct diag *g, struct strbuf *sb)
{
	const struct diag_group *top = g->by_file.n ? &g->by_file.g[0] : NULL;
	const struct diag_defs_event *act;
	const char *every = g->crashes == 2 ? "Both" : "All";

	if (g->crashes == 0)
		return;
	if (g->crashes == 1) {
		strbuf_puts(sb, "1 crash (");
		diag_sigs_text(sb, &g->by_sig);
		strbuf_puts(sb, ")");
		if (top != NULL)
			strbuf_printf(sb, " while scanning %s", top->key);
	} else if (top != NULL && top->count == g->crashes) {
		strbuf_printf(sb, "%s %u crashes happened while scanning %s (",
		    every, g->crashes, top->key);
		diag_group_sigs_text(sb, top);
		strbuf_puts(sb, ")");
	} else if (top != NULL && top->count >= 2) {
		strbuf_printf(sb, "%u of %u crashes happened while scanning %s (",
		    top->count, g->crashes, top->key);
		diag_group_sigs_text(sb, top);
		strbuf_printf(sb, "); by signal: ");
		diag_sigs_text(sb, &g->by_sig);
	} else if (g->no_file == g->crashes) {
		strbuf_printf(sb, "%s %u crashes happened with no file in flight (",
		    every, g->crashes);
		diag_sigs_text(sb, &g->by_sig);
		strbuf_puts(sb, "): the workers died while idle or were killed from outside, not by a file");
	} else {
		strbuf_printf(sb, "%u crashes (", g->crashes);
		diag_sigs_text(sb, &g->by_sig);
		strbuf_printf(sb, "), %zu different files in flight, %u with none",
		    g->by_file.n, g->no_file);
	}
	if (g->by_defs.n == 1 && strcmp(g->by_defs.g[0].key, "(not recorded)") != 0) {
		act = activation_before(g, g->first);
		if (act != NULL && act->t >= g->o->since_ms)
			strbuf_printf(sb, ", since definitions %s were activated (%s)",
			    act->versions[0] ? act->versions : "(versions not recorded)",
			    act->time);
		else
			strbuf_printf(sb, ", %s with definitions %s",
			    g->crashes == 1 ? "" : "all", g->by_defs.g[0].key);
	} else if (g->by_defs.n > 1) {
		strbuf_puts(sb, "; by definitions: ");
		diag_sigs_text(sb, &g->by_defs);
	}
	strbuf_puts(sb, ".");
}

const char *
diag_kind_name(enum cvd_kind k)
{
	return k == CVD_KIND_CVD ? "cvd" : k == CVD_KIND_CLD ? "cld" : "cud";
}

/* ---- the report ------------------------------------------------------------ */

void
diag_time_str(int64_t ms, char out[WALLTIME_LEN])
{
	if (ms < 0)
		str_fmt(out, WALLTIME_LEN, "(unknown)");
	else
		walltime_format(ms, out);
}




static bool
log_time(const char *l, size_t n, int64_t *t)
{
	char ts[WALLTIME_LEN];

	if (n < WALLTIME_LEN - 1)
		return false;
	memcpy(ts, l, WALLTIME_LEN - 1);
	ts[WALLTIME_LEN - 1] = '\0';
	return diag_parse_time(ts, t);
}

/* The last lines of ampscansvc.log from pid, up to its exit (+1 s). */
void
diag_svc_lines(const struct diag *g, const struct diag_exit *e, struct loglines *ll)
{
	const char *p = g->svclog, *end = g->svclog + g->svclen, *nl;
	char tag[48];
	size_t n, tl;
	int64_t t;

	memset(ll, 0, sizeof(*ll));
	if (p == NULL)
		return;
	str_fmt(tag, sizeof(tag), " ampscansvc[%lld]: ", (long long)e->pid);
	tl = strlen(tag);
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n < WALLTIME_LEN - 1 + tl ||
		    memcmp(p + WALLTIME_LEN - 1, tag, tl) != 0)
			continue;
		if (log_time(p, n, &t) && t > e->t + 1000)
			break;
		if (ll->count == DIAG_LOG_LINES) {
			ll->l[ll->head] = p;
			ll->n[ll->head] = n;
			ll->head = (ll->head + 1) % DIAG_LOG_LINES;
		} else {
			ll->l[ll->count] = p;
			ll->n[ll->count++] = n;
		}
	}
}

#define DIAG_WINDOW_LINES_MAX 256   /* lines of the window looked at */

/*
 * ampdaemon.log around an exit: 1 s before to 0.5 s after, events left out
 * (they are the records above).  At most DIAG_LOG_LINES, in their order:
 * the ones naming the pid first, then the earliest others (a busy second
 * before the exit must not push out the lines about it).
 */
void
diag_daemon_lines(const struct diag *g, const struct diag_exit *e,
    struct loglines *ll)
{
	const char *p = g->dlog, *end = g->dlog + g->dloglen, *nl;
	const char *wl[DIAG_WINDOW_LINES_MAX];
	size_t wn[DIAG_WINDOW_LINES_MAX], nw = 0, n, room = DIAG_LOG_LINES;
	bool keep[DIAG_WINDOW_LINES_MAX] = { false };
	char tag[48];
	int64_t t;

	memset(ll, 0, sizeof(*ll));
	if (p == NULL)
		return;
	str_fmt(tag, sizeof(tag), "(pid %lld)", (long long)e->pid);
	for (; p < end && nw < DIAG_WINDOW_LINES_MAX; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (!log_time(p, n, &t) || t < e->t - 1000)
			continue;
		if (t > e->t + 500)
			break;
		if (memmem(p, n, "]: info: event: {", 17) != NULL)
			continue;
		wl[nw] = p;
		wn[nw++] = n;
	}
	for (size_t i = 0; i < nw && room > 0; i++)
		if (memmem(wl[i], wn[i], tag, strlen(tag)) != NULL) {
			keep[i] = true;
			room--;
		}
	for (size_t i = 0; i < nw && room > 0; i++)
		if (!keep[i]) {
			keep[i] = true;
			room--;
		}
	for (size_t i = 0; i < nw; i++)
		if (keep[i]) {
			ll->l[ll->count] = wl[i];
			ll->n[ll->count++] = wn[i];
		}
}

void
diag_loglines_out(struct strbuf *sb, const struct loglines *ll,
    const char *indent)
{
	size_t i, k, n;

	for (i = 0; i < ll->count; i++) {
		k = (ll->head + i) % DIAG_LOG_LINES;
		n = ll->n[k] > DIAG_LOG_LINE_MAX ? DIAG_LOG_LINE_MAX : ll->n[k];
		strbuf_puts(sb, indent);
		strbuf_append(sb, ll->l[k], n);
		strbuf_puts(sb, n < ll->n[k] ? "...\n" : "\n");
	}
}

/* Index of the first exit shown in the timeline, and how many are left out. */
size_t
diag_timeline_start(const struct diag *g, size_t *omitted)
{
	size_t i, shown = 0, start = g->exn;

	*omitted = 0;
	for (i = g->exn; i-- > 0; ) {
		if (!diag_exit_in_window(g, diag_exit_at(g, i)))
			continue;
		if (shown == DIAG_TIMELINE_MAX) {
			(*omitted)++;
			continue;
		}
		shown++;
		start = i;
	}
	return start;
}

/* Whether exit i is among the last DIAG_LOG_CRASHES shown with log lines. */
bool
diag_exit_gets_logs(const struct diag *g, size_t i)
{
	size_t k, later = 0;

	for (k = i + 1; k < g->exn; k++)
		later += diag_exit_in_window(g, diag_exit_at(g, k));
	return later < DIAG_LOG_CRASHES;
}

const struct diag_episode *
diag_episodes_of(const struct diag *g, size_t *i, int fault)
{
	for (; *i < g->epn; (*i)++) {
		const struct diag_episode *e = &g->ep[*i];

		if (fault != 0 && e->fault != fault)
			continue;
		if (e->cleared >= 0 && e->cleared < g->o->since_ms)
			continue;
		(*i)++;
		return e;
	}
	return NULL;
}
