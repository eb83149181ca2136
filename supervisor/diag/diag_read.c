/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The diagnosis: reading the state and log files (diag_int.h). */
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
#include "fdio.h"

/* ---- times ------------------------------------------------------------ */

static bool
digits(const char **p, int n, int *v)
{
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return true;
}

bool
diag_parse_time(const char *s, int64_t *ms)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, scale = 1000;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) ||
	    *s++ != '-' || !digits(&s, 2, &d))
		return false;
	if (*s == 'T' || *s == ' ') {
		s++;
		if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi))
			return false;
		if (*s == ':') {
			s++;
			if (!digits(&s, 2, &sec))
				return false;
			if (*s == '.') {
				s++;
				if (*s < '0' || *s > '9')
					return false;
				for (; *s >= '0' && *s <= '9'; s++)
					if (scale > 1) {
						scale /= 10;
						frac += (*s - '0') * scale;
					}
			}
		}
	}
	if (*s == 'Z')
		s++;
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return false;
	*ms = (int64_t)t * 1000 + frac;
	return true;
}

int
diag_parse_since(const char *s, int64_t now_ms, int64_t *since_ms,
    char *err, size_t errlen)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 },
	};
	const char *p = s;
	int64_t n = 0;
	size_t i;

	if (diag_parse_time(s, since_ms))
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (INT64_MAX - 9) / 10)
			goto bad;
		n = n * 10 + (*p - '0');
	}
	if (p == s)
		goto bad;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].unit) == 0) {
			if (n > now_ms / units[i].ms)
				n = now_ms / units[i].ms;
			*since_ms = now_ms - n * units[i].ms;
			return 0;
		}
bad:
	str_fmt(err, errlen, "--since '%s': not a duration (90s, 10m, 2h, 3d) or a UTC time (2026-11-24T02:35:36Z)",
	    s);
	return -1;
}

bool
diag_read_core_pattern(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if (len == 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

static void
problem(struct diag *g, const char *file, int64_t line, int64_t offset,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
problem(struct diag *g, const char *file, int64_t line, int64_t offset,
    const char *fmt, ...)
{
	struct diag_problem *p;
	va_list ap;

	if (g->npr == DIAG_PROBLEMS_MAX) {
		g->pr_omitted++;
		return;
	}
	p = &g->pr[g->npr++];
	p->file = file;
	p->line = line;
	p->offset = offset;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
}

struct diag_exit *
diag_exit_at(const struct diag *g, size_t i)
{
	return &g->ex[(g->exhead + i) % DIAG_EXITS_MAX];
}

void
diag_exit_clear(struct diag_exit *e)
{
	size_t k;

	for (k = 0; k < e->nfiles; k++)
		free(e->files[k]);
	free(e->defs);
	free(e->last_stderr);
	memset(e, 0, sizeof(*e));
}

char *
diag_dupn(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *p = malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* A worker_exited line (either file) into the ring. */
static void
exit_add(struct diag *g, const json_t *o, int64_t t, const char *time)
{
	struct diag_exit *e;
	const json_t *fl, *it;
	const char *s;
	size_t k;

	if (g->exn == DIAG_EXITS_MAX) {
		e = diag_exit_at(g, 0);
		g->exhead = (g->exhead + 1) % DIAG_EXITS_MAX;
		g->exn--;
	} else {
		e = diag_exit_at(g, g->exn);
	}
	diag_exit_clear(e);
	g->exn++;
	e->t = t;
	str_fmt(e->time, sizeof(e->time), "%s", time);
	e->pid = e->delay_ms = e->exit_code = e->uptime_ms = -1;
	jsonr_int(o, "pid", &e->pid);
	e->has_worker = jsonr_int(o, "worker", &e->worker);
	e->has_uid = jsonr_int(o, "uid", &e->uid);
	jsonr_int(o, "uptime_ms", &e->uptime_ms);
	jsonr_int(o, "restart_delay_ms", &e->delay_ms);
	e->has_code = jsonr_int(o, "exit_code", &e->exit_code);
	e->core = jsonr_true(o, "core_dumped");
	e->scan_timeout = jsonr_true(o, "scan_timeout");
	str_fmt(e->signal, sizeof(e->signal), "%s",
	    (s = jsonr_str(o, "signal")) != NULL ? s : "");
	/* a line of an older daemon has no kind: every exit was a crash */
	str_fmt(e->kind, sizeof(e->kind), "%s",
	    (s = jsonr_str(o, "kind")) != NULL ? s : EXITS_KIND_CRASH);
	fl = json_object_get(o, "files");
	json_array_foreach(fl, k, it)
		if (json_is_string(it) && e->nfiles < DIAG_FILES_PER_EXIT &&
		    (e->files[e->nfiles] = diag_dupn(json_string_value(it),
		    EVENTS_LINE_MAX)) != NULL)
			e->nfiles++;
	if ((s = jsonr_str(o, "definitions")) != NULL)
		e->defs = diag_dupn(s, DIAG_TEXT_MAX);
	if ((s = jsonr_str(o, "last_stderr")) != NULL)
		e->last_stderr = diag_dupn(s, DIAG_TEXT_MAX);
}

/* ---- reading the state ---------------------------------------------------- */

/*
 * One line of a .jsonl file: checked, parsed, its time read.  Returns true
 * with g->j filled for a line to use; damaged lines are reported.
 */
static bool
line_take(struct diag *g, const struct events_line *l, int64_t *t)
{
	const char *time;
	char err[160];
	int64_t line;

	if (g->line_no == 0)
		g->whole_file = l->offset == 0;
	g->line_no++;
	line = g->whole_file ? g->line_no : -1;
	if (l->status == EVENTS_LINE_TORN) {
		problem(g, g->reading, line, (int64_t)l->offset,
		    "torn last line (no newline: cut by a crash or being written); skipped");
		return false;
	}
	if (l->status == EVENTS_LINE_TOO_LONG) {
		problem(g, g->reading, line, (int64_t)l->offset,
		    "line longer than %d bytes; skipped", EVENTS_LINE_MAX);
		return false;
	}
	json_decref(g->j);
	g->j = NULL;
	if (l->status == EVENTS_LINE_BAD_JSON ||
	    (g->j = jsonr_object(l->text, l->len, err, sizeof(err))) == NULL) {
		problem(g, g->reading, line, (int64_t)l->offset,
		    "not a JSON object with an \"event\"; skipped");
		json_decref(g->j);
		g->j = NULL;
		return false;
	}
	if ((time = jsonr_str(g->j, "time")) == NULL || !diag_parse_time(time, t)) {
		problem(g, g->reading, line, (int64_t)l->offset,
		    "no valid \"time\"; skipped");
		return false;
	}
	if (l->status == EVENTS_LINE_UNKNOWN_TYPE) {
		problem(g, g->reading, line, (int64_t)l->offset,
		    "unknown event type '%.64s'; skipped", l->type);
		return false;
	}
	return true;
}

/* An events_dropped line (lineq.c): "count" lines that were never
 * written, added to *sum when the line is in the --since window. */
static void
lost_add(struct diag *g, int64_t t, uint64_t *sum)
{
	int64_t n;

	if (t >= g->o->since_ms && jsonr_int(g->j, "count", &n) && n > 0)
		*sum = (uint64_t)n > UINT64_MAX - *sum ? UINT64_MAX :
		    *sum + (uint64_t)n;
}

static int
exits_cb(void *arg, const struct events_line *l)
{
	struct diag *g = arg;
	int64_t t;

	if (!line_take(g, l, &t))
		return 0;
	if (strcmp(l->type, EVENT_EVENTS_DROPPED) == 0) {
		/* exits.c's stand-in for exits it could not record (StateDir
		 * full): a gap in the timeline, not an exit */
		lost_add(g, t, &g->exits_lost);
		return 0;
	}
	if (strcmp(l->type, EVENT_WORKER_EXITED) != 0) {
		problem(g, g->reading, g->whole_file ? g->line_no : -1,
		    (int64_t)l->offset, "a '%.64s' line in the exits file; skipped",
		    l->type);
		return 0;
	}
	exit_add(g, g->j, t, jsonr_str(g->j, "time"));
	return 0;
}

static struct diag_episode *
episode_open(struct diag *g, int fault)
{
	size_t i;

	for (i = g->epn; i-- > 0; )
		if (g->ep[i].fault == fault)
			return g->ep[i].cleared < 0 ? &g->ep[i] : NULL;
	return NULL;
}

static struct diag_episode *
episode_new(struct diag *g, int fault)
{
	struct diag_episode *e;

	if (g->epn == DIAG_HISTORY_MAX) {
		memmove(&g->ep[0], &g->ep[1], (DIAG_HISTORY_MAX - 1) * sizeof(g->ep[0]));
		g->epn--;
	}
	e = &g->ep[g->epn++];
	memset(e, 0, sizeof(*e));
	e->fault = fault;
	e->raised = e->cleared = e->intervention = -1;
	return e;
}

static void
event_fault(struct diag *g, const char *type, int64_t t)
{
	struct diag_episode *e;
	const char *detail = jsonr_str(g->j, "detail");
	int64_t id;

	if (!jsonr_int(g->j, "fault", &id))
		return;
	e = episode_open(g, (int)id);
	if (strcmp(type, EVENT_FAULT_RAISED) == 0) {
		if (e == NULL) {
			e = episode_new(g, (int)id);
			e->raised = t;
		}
		str_fmt(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
		return;
	}
	if (e == NULL) {             /* raised before the records we have */
		e = episode_new(g, (int)id);
	}
	if (strcmp(type, EVENT_FAULT_CLEARED) == 0) {
		e->cleared = t;
		str_fmt(e->cleared_detail, sizeof(e->cleared_detail), "%s",
		    detail ? detail : "");
	} else if (e->intervention < 0) {
		e->intervention = t;
	}
}

static void
event_defs(struct diag *g, const char *type, int64_t t)
{
	struct diag_defs_event *h;
	const json_t *vl, *it;
	const char *s;
	size_t k, off = 0;

	if (g->dhn == DIAG_HISTORY_MAX)
		g->dhhead = (g->dhhead + 1) % DIAG_HISTORY_MAX;
	else
		g->dhn++;
	h = &g->dh[(g->dhhead + g->dhn - 1) % DIAG_HISTORY_MAX];
	memset(h, 0, sizeof(*h));
	h->t = t;
	str_fmt(h->time, sizeof(h->time), "%s", jsonr_str(g->j, "time"));
	str_fmt(h->type, sizeof(h->type), "%s", type);
	str_fmt(h->file, sizeof(h->file), "%s", (s = jsonr_str(g->j, "file")) ? s : "");
	str_fmt(h->reason, sizeof(h->reason), "%s",
	    (s = jsonr_str(g->j, "reason")) ? s : "");
	if (json_is_array(vl = json_object_get(g->j, "versions"))) {
		json_array_foreach(vl, k, it)
			if (json_is_string(it) && off < sizeof(h->versions))
				off += (size_t)snprintf(h->versions + off,
				    sizeof(h->versions) - off, "%s%s", off ? " " : "",
				    json_string_value(it));
	} else if ((s = jsonr_str(g->j, "versions")) != NULL)
		str_fmt(h->versions, sizeof(h->versions), "%s", s);
}

/* loader_started, _ready, _exited, _fallback: the last of each. */
static void
event_loader(struct diag *g, const char *type, int64_t t)
{
	const char *s;
	int64_t v;

	g->loader.seen = true;
	if (strcmp(type, EVENT_LOADER_STARTED) == 0) {
		jsonr_int(g->j, "pid", &g->loader.pid);
		g->loader.started = t;
	} else if (strcmp(type, EVENT_LOADER_READY) == 0) {
		jsonr_int(g->j, "pid", &g->loader.pid);
		g->loader.ready = t;
		g->loader.load_ms = jsonr_int(g->j, "load_ms", &v) ? v : -1;
		g->loader.candidate = jsonr_true(g->j, "candidate");
		s = jsonr_str(g->j, "definitions");
		str_fmt(g->loader.defs, sizeof(g->loader.defs), "%s", s ? s : "");
	} else if (strcmp(type, EVENT_LOADER_EXITED) == 0) {
		jsonr_int(g->j, "pid", &g->loader.exit_pid);
		g->loader.exited = t;
		s = jsonr_str(g->j, "kind");
		str_fmt(g->loader.exit_kind, sizeof(g->loader.exit_kind), "%s", s ? s : "");
		if ((s = jsonr_str(g->j, "signal")) != NULL)
			str_fmt(g->loader.exit_how, sizeof(g->loader.exit_how), "%s", s);
		else if (jsonr_int(g->j, "exit_code", &v))
			str_fmt(g->loader.exit_how, sizeof(g->loader.exit_how), "exit %lld",
			    (long long)v);
	} else if (strcmp(type, EVENT_LOADER_FALLBACK) == 0) {
		g->loader.fallback = t;
		s = jsonr_str(g->j, "reason");
		str_fmt(g->loader.fallback_why, sizeof(g->loader.fallback_why), "%s",
		    s ? s : "");
	}
}

static int
events_cb(void *arg, const struct events_line *l)
{
	struct diag *g = arg;
	const char *type = l->type;
	int64_t t;

	if (!line_take(g, l, &t))
		return 0;
	if (strcmp(type, EVENT_FAULT_RAISED) == 0 ||
	    strcmp(type, EVENT_FAULT_CLEARED) == 0 ||
	    strcmp(type, EVENT_INTERVENTION_REQUIRED) == 0)
		event_fault(g, type, t);
	else if (strncmp(type, "definitions_", 12) == 0)
		event_defs(g, type, t);
	else if (strcmp(type, EVENT_WORKER_STARTED) == 0 &&
	    jsonr_true(g->j, "as_root")) {
		g->root_starts++;
		g->last_root_start = t;
	} else if (strncmp(type, "loader_", 7) == 0) {
		event_loader(g, type, t);
	} else if (strcmp(type, EVENT_WORKER_EXITED) == 0 && g->exits_from_events)
		exit_add(g, g->j, t, jsonr_str(g->j, "time"));
	else if (strcmp(type, EVENT_EVENTS_DROPPED) == 0)
		lost_add(g, t, &g->events_lost);
	return 0;
}

static void
read_jsonl(struct diag *g, const char *name, size_t max,
    int (*cb)(void *, const struct events_line *), int *rcp)
{
	char path[4200], err[512];
	int rc;

	str_fmt(path, sizeof(path), "%s/%s", g->o->state_dir, name);
	g->reading = name;
	g->line_no = 0;
	g->whole_file = false;
	rc = events_read_tail(path, max, cb, g, err, sizeof(err));
	if (rc == EVENTS_ERR_NOENT)
		problem(g, name, -1, -1, "missing (no record yet, or not copied)");
	else if (rc != 0)
		problem(g, name, -1, -1, "%s", err);
	if (rcp != NULL)
		*rcp = rc;
}

static void
read_faults(struct diag *g)
{
	struct faults f;
	const struct fault_state *st;
	char err[512];
	size_t i;
	int rc;

	faults_init(&f, NULL, NULL);
	rc = faults_load(&f, g->o->state_dir, err, sizeof(err));
	if (rc == 0) {
		if (err[0] != '\0')
			problem(g, FAULTS_STATE_FILE, -1, -1, "%s", err);
		for (i = 0; i < fault_def_count(); i++) {
			st = fault_state_of(&f, fault_def_at(i)->id);
			if (st == NULL || !st->raised)
				continue;
			g->act[g->nact].id = fault_def_at(i)->id;
			g->act[g->nact].since = st->since_ms;
			g->act[g->nact].intervention = st->intervention;
			g->act[g->nact].intervention_ms = st->intervention_ms;
			str_fmt(g->act[g->nact].detail, sizeof(g->act[0].detail),
			    "%s", st->detail);
			g->nact++;
		}
		return;
	}
	problem(g, FAULTS_STATE_FILE, -1, -1,
	    "%s; the active faults are taken from events.jsonl instead", err);
	g->faults_from_events = true;
}

/* faults.state unreadable: what the events leave raised. */
static void
faults_from_events(struct diag *g)
{
	size_t i, k;

	for (i = 0; i < fault_def_count(); i++) {
		int id = fault_def_at(i)->id;

		for (k = g->epn; k-- > 0; ) {
			const struct diag_episode *e = &g->ep[k];

			if (e->fault != id)
				continue;
			if (e->cleared < 0 && g->nact < FAULTS_NDEFS) {
				struct diag_active *a = &g->act[g->nact++];

				a->id = id;
				a->since = e->raised;
				a->intervention = e->intervention >= 0;
				a->intervention_ms = e->intervention;
				str_fmt(a->detail, sizeof(a->detail), "%s", e->detail);
			}
			break;
		}
	}
}

static char *
read_tail(struct diag *g, const char *name, size_t *lenp)
{
	char path[4200];
	struct stat st;
	char *buf = NULL, *nl;
	off_t from;
	ssize_t n;
	size_t got = 0, want;
	int fd;

	*lenp = 0;
	str_fmt(path, sizeof(path), "%s/%s", g->o->log_dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0) {
		problem(g, name, -1, -1, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		problem(g, name, -1, -1, "not a regular file");
		goto out;
	}
	from = st.st_size > (off_t)DIAG_LOG_TAIL ? st.st_size - DIAG_LOG_TAIL : 0;
	want = (size_t)(st.st_size - from);
	if ((buf = malloc(want + 1)) == NULL) {
		problem(g, name, -1, -1, "out of memory");
		goto out;
	}
	n = fd_pread_full(fd, buf, want, from);
	got = n > 0 ? (size_t)n : 0;
	buf[got] = '\0';
	if (from > 0 && (nl = memchr(buf, '\n', got)) != NULL) {
		got -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, got + 1);
	}
	*lenp = got;
out:
	close(fd);
	return buf;
}

static void
read_rest(struct diag *g)
{
	char err[512];
	int rc;

	rc = poison_load(&g->poison, g->o->state_dir, err, sizeof(err));
	g->poison_ok = rc == 0;
	if (rc != 0)
		problem(g, POISON_STATE_FILE, -1, -1, "%s", err);
	if (g->o->definitions_dir != NULL) {
		rc = store_active_summary(g->o->definitions_dir, g->cont,
		    DIAG_CONTAINERS_MAX, &g->ncont, err, sizeof(err));
		g->cont_ok = rc == 0;
		if (rc != 0)
			problem(g, "definitions", -1, -1, "%s", err);
	}
	if (g->o->log_dir != NULL) {
		g->svclog = read_tail(g, DLOG_WORKERS_NAME, &g->svclen);
		g->dlog = read_tail(g, DLOG_NAME, &g->dloglen);
	}
}

void
diag_read(struct diag *g)
{
	int rc;

	read_faults(g);
	read_jsonl(g, EXITS_FILE_NAME, DIAG_EXITS_MAX, exits_cb, &rc);
	g->exits_from_events = g->exn == 0;
	if (g->exits_from_events)
		g->exits_lost = 0;   /* a gap of exits.jsonl, not of the events */
	read_jsonl(g, EVENTS_FILE_NAME, DIAG_EVENTS_MAX, events_cb, NULL);
	if (g->faults_from_events)
		faults_from_events(g);
	read_rest(g);
	json_decref(g->j);
	g->j = NULL;
}
