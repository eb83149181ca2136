/* The crash-loop diagnosis (diag.h). */
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

#include "diag.h"
#include "dlog.h"
#include "events.h"
#include "exits.h"
#include "faults.h"
#include "poison.h"
#include "store.h"

#define DIAG_KEY_MAX 32              /* bytes of a JSON key we look at */
#define DIAG_JFIELDS_MAX 48          /* top-level fields of a line */
#define DIAG_FILES_PER_EXIT 4        /* files in flight kept per exit */
#define DIAG_SIGS_PER_GROUP 4        /* signals told apart per file */
#define DIAG_TEXT_MAX 512            /* a detail, a reason */
#define DIAG_SIG_MAX 16

/* ---- a flat JSON object (one line of events.jsonl/exits.jsonl) ------ */

enum jtype { J_NONE, J_STR, J_NUM, J_BOOL, J_NULL, J_ARR, J_OBJ };

struct jfield {
	char key[DIAG_KEY_MAX];
	enum jtype type;
	const char *s;               /* J_STR: the string; J_ARR: the first */
	size_t n;                    /* J_ARR: strings in it (others skipped) */
	int64_t num;
	bool b;
};

struct jobj {
	char scratch[EVENTS_LINE_MAX + 1];   /* decoded strings, NUL-separated */
	size_t used;
	struct jfield f[DIAG_JFIELDS_MAX];
	size_t n;
};

struct jp {
	const char *p, *end;
	struct jobj *o;
};

static void
jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
	    *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int
jp_hex4(struct jp *j, unsigned *v)
{
	unsigned x = 0;
	int i;

	if (j->end - j->p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		char c = j->p[i];

		x <<= 4;
		if (c >= '0' && c <= '9')
			x |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			x |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	j->p += 4;
	*v = x;
	return 0;
}

static int
jp_put(struct jp *j, char c)
{
	if (j->o == NULL)
		return 0;
	if (j->o->used + 1 >= sizeof(j->o->scratch))
		return -1;
	j->o->scratch[j->o->used++] = c;
	return 0;
}

static int
jp_put_cp(struct jp *j, unsigned cp)
{
	if (cp == 0)
		cp = 0xfffd;         /* a NUL would end our string */
	if (cp < 0x80)
		return jp_put(j, (char)cp);
	if (cp < 0x800)
		return jp_put(j, (char)(0xc0 | (cp >> 6))) |
		    jp_put(j, (char)(0x80 | (cp & 0x3f)));
	if (cp < 0x10000)
		return jp_put(j, (char)(0xe0 | (cp >> 12))) |
		    jp_put(j, (char)(0x80 | ((cp >> 6) & 0x3f))) |
		    jp_put(j, (char)(0x80 | (cp & 0x3f)));
	return jp_put(j, (char)(0xf0 | (cp >> 18))) |
	    jp_put(j, (char)(0x80 | ((cp >> 12) & 0x3f))) |
	    jp_put(j, (char)(0x80 | ((cp >> 6) & 0x3f))) |
	    jp_put(j, (char)(0x80 | (cp & 0x3f)));
}

/* A string at j->p (the quote); decoded into scratch when j->o is set. */
static int
jp_string(struct jp *j, const char **out)
{
	unsigned cp, lo;

	if (j->p >= j->end || *j->p != '"')
		return -1;
	j->p++;
	if (out != NULL && j->o != NULL)
		*out = j->o->scratch + j->o->used;
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;

		if ((unsigned char)c < 0x20)
			return -1;
		if (c != '\\') {
			if (jp_put(j, c) != 0)
				return -1;
			continue;
		}
		if (j->p >= j->end)
			return -1;
		c = *j->p++;
		switch (c) {
		case '"': case '\\': case '/':
			break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			if (jp_hex4(j, &cp) != 0)
				return -1;
			if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 &&
			    j->p[0] == '\\' && j->p[1] == 'u') {
				j->p += 2;
				if (jp_hex4(j, &lo) != 0)
					return -1;
				cp = lo >= 0xdc00 && lo < 0xe000 ?
				    0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00) :
				    0xfffd;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd;
			}
			if (jp_put_cp(j, cp) != 0)
				return -1;
			continue;
		default:
			return -1;
		}
		if (jp_put(j, c) != 0)
			return -1;
	}
	if (j->p >= j->end)
		return -1;
	j->p++;
	return jp_put(j, '\0');
}

static int jp_value(struct jp *j, struct jfield *f, int depth);

/* A value we do not keep (nested objects, arrays of anything). */
static int
jp_skip(struct jp *j, int depth)
{
	struct jp save = *j;
	int rc;

	save.o = NULL;
	rc = jp_value(&save, NULL, depth);
	j->p = save.p;
	return rc;
}

static int
jp_number(struct jp *j, struct jfield *f)
{
	char buf[32], *e;
	size_t n = 0;

	while (j->p + n < j->end && n < sizeof(buf) - 1 &&
	    strchr("+-0123456789.eE", j->p[n]) != NULL)
		n++;
	if (n == 0 || n == sizeof(buf) - 1)
		return -1;
	memcpy(buf, j->p, n);
	buf[n] = '\0';
	errno = 0;
	if (f != NULL) {
		f->type = J_NUM;
		f->num = strtoll(buf, &e, 10);
		if (errno != 0 || e == buf)
			return -1;
	}
	j->p += n;
	return 0;
}

static int
jp_value(struct jp *j, struct jfield *f, int depth)
{
	const char *s = NULL;

	if (depth > 8)
		return -1;
	jp_ws(j);
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '"':
		if (jp_string(j, &s) != 0)
			return -1;
		if (f != NULL) {
			f->type = J_STR;
			f->s = s;
		}
		return 0;
	case '{':
	case '[': {
		char close = *j->p == '{' ? '}' : ']';
		bool obj = close == '}';

		j->p++;
		if (f != NULL) {
			f->type = obj ? J_OBJ : J_ARR;
			f->n = 0;
			f->s = j->o != NULL ? j->o->scratch + j->o->used : NULL;
		}
		jp_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		for (;;) {
			jp_ws(j);
			if (obj) {
				if (jp_skip(j, depth + 1) != 0)   /* the key */
					return -1;
				jp_ws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return -1;
				if (jp_skip(j, depth + 1) != 0)
					return -1;
			} else if (f != NULL && j->p < j->end && *j->p == '"') {
				if (jp_string(j, NULL) != 0)
					return -1;
				f->n++;
			} else if (jp_skip(j, depth + 1) != 0) {
				return -1;
			}
			jp_ws(j);
			if (j->p >= j->end)
				return -1;
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p++ != close)
				return -1;
			return 0;
		}
	}
	case 't':
	case 'f':
	case 'n': {
		static const char *const lit[] = { "true", "false", "null" };
		int i = *j->p == 't' ? 0 : *j->p == 'f' ? 1 : 2;
		size_t n = strlen(lit[i]);

		if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit[i], n) != 0)
			return -1;
		j->p += n;
		if (f != NULL) {
			f->type = i == 2 ? J_NULL : J_BOOL;
			f->b = i == 0;
		}
		return 0;
	}
	default:
		return jp_number(j, f);
	}
}

/* Parse one line as an object; its top-level fields into o.  0 or -1. */
static int
jobj_parse(struct jobj *o, const char *s, size_t len)
{
	struct jp j = { s, s + len, o };
	const char *key;
	struct jfield scratch, *f;

	o->used = 0;
	o->n = 0;
	jp_ws(&j);
	if (j.p >= j.end || *j.p++ != '{')
		return -1;
	jp_ws(&j);
	if (j.p < j.end && *j.p == '}')
		return 0;
	for (;;) {
		jp_ws(&j);
		if (jp_string(&j, &key) != 0)
			return -1;
		jp_ws(&j);
		if (j.p >= j.end || *j.p++ != ':')
			return -1;
		f = o->n < DIAG_JFIELDS_MAX ? &o->f[o->n] : &scratch;
		memset(f, 0, sizeof(*f));
		str_fmt(f->key, sizeof(f->key), "%s", key);
		if (jp_value(&j, f, 1) != 0)
			return -1;
		if (f != &scratch)
			o->n++;
		jp_ws(&j);
		if (j.p >= j.end)
			return -1;
		if (*j.p == ',') {
			j.p++;
			continue;
		}
		if (*j.p++ != '}')
			return -1;
		jp_ws(&j);
		return j.p == j.end ? 0 : -1;
	}
}

static const struct jfield *
jget(const struct jobj *o, const char *key, enum jtype type)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->f[i].key, key) == 0)
			return o->f[i].type == type ? &o->f[i] : NULL;
	return NULL;
}

static const char *
jstr(const struct jobj *o, const char *key)
{
	const struct jfield *f = jget(o, key, J_STR);

	return f != NULL ? f->s : NULL;
}

static bool
jint(const struct jobj *o, const char *key, int64_t *v)
{
	const struct jfield *f = jget(o, key, J_NUM);

	if (f != NULL)
		*v = f->num;
	return f != NULL;
}

static bool
jbool(const struct jobj *o, const char *key)
{
	const struct jfield *f = jget(o, key, J_BOOL);

	return f != NULL && f->b;
}

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

/* ---- the model ---------------------------------------------------------- */

struct diag_exit {
	int64_t t;
	char time[WALLTIME_LEN];
	int64_t pid, worker, uid, uptime_ms, delay_ms, exit_code;
	bool has_code, has_worker, has_uid, core, scan_timeout;
	char signal[DIAG_SIG_MAX];
	char kind[16];
	char *files[DIAG_FILES_PER_EXIT];
	size_t nfiles;
	char *defs;
	char *last_stderr;
};

struct diag_problem {
	const char *file;            /* a name of ours: "events.jsonl" */
	int64_t line, offset;        /* -1: unknown */
	char why[256];
};

struct diag_episode {
	int fault;
	int64_t raised, cleared, intervention;   /* -1: not seen */
	char detail[DIAG_TEXT_MAX], cleared_detail[DIAG_TEXT_MAX];
};

struct diag_defs_event {
	int64_t t;
	char time[WALLTIME_LEN];
	char type[40];
	char file[DIAG_TEXT_MAX];
	char reason[DIAG_TEXT_MAX];
	char versions[DIAG_TEXT_MAX];
};

struct diag_group {
	char *key;
	unsigned count;
	struct { char sig[DIAG_SIG_MAX]; unsigned n; } sigs[DIAG_SIGS_PER_GROUP];
};

struct diag_groups {
	struct diag_group g[DIAG_GROUPS_MAX];
	size_t n;
	unsigned other;              /* counted beyond DIAG_GROUPS_MAX keys */
};

struct diag_active {
	int id;
	int64_t since, intervention_ms;
	bool intervention;
	char detail[FAULTS_DETAIL_MAX];
};

struct diag {
	const struct diag_opts *o;
	struct config defcfg;        /* when o->cfg is NULL */
	const struct config *cfg;
	struct jobj j;
	/* exits: a ring, oldest first from head */
	struct diag_exit *ex;
	size_t exhead, exn;
	bool exits_from_events;
	uint64_t exits_lost;         /* not in exits.jsonl: its events_dropped lines */
	uint64_t events_lost;        /* not in events.jsonl: its events_dropped lines */
	/* events */
	struct diag_episode ep[DIAG_HISTORY_MAX];
	size_t epn;
	struct diag_defs_event dh[DIAG_HISTORY_MAX];
	size_t dhhead, dhn;
	unsigned root_starts;
	int64_t last_root_start;
	int64_t line_no;             /* lines seen in the file being read */
	bool whole_file;
	const char *reading;
	/* faults */
	struct diag_active act[FAULTS_NDEFS];
	size_t nact;
	bool faults_from_events;
	/* poison */
	struct poison_list poison;
	bool poison_ok;
	/* definitions */
	struct store_container cont[DIAG_CONTAINERS_MAX];
	size_t ncont;
	bool cont_ok;
	/* logs */
	char *svclog, *dlog;
	size_t svclen, dloglen;
	/* problems */
	struct diag_problem pr[DIAG_PROBLEMS_MAX];
	size_t npr, pr_omitted;
	/* derived */
	unsigned crashes, start_failures, timeouts, no_file, cores;
	int64_t first, last, peak;
	struct diag_groups by_sig, by_defs, by_file;
	int verdict;
};

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

static struct diag_exit *
exit_at(const struct diag *g, size_t i)
{
	return &g->ex[(g->exhead + i) % DIAG_EXITS_MAX];
}

static void
exit_clear(struct diag_exit *e)
{
	size_t k;

	for (k = 0; k < e->nfiles; k++)
		free(e->files[k]);
	free(e->defs);
	free(e->last_stderr);
	memset(e, 0, sizeof(*e));
}

static char *
dupn(const char *s, size_t max)
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
exit_add(struct diag *g, const struct jobj *o, int64_t t, const char *time)
{
	struct diag_exit *e;
	const struct jfield *fl;
	const char *s;
	size_t k;

	if (g->exn == DIAG_EXITS_MAX) {
		e = exit_at(g, 0);
		g->exhead = (g->exhead + 1) % DIAG_EXITS_MAX;
		g->exn--;
	} else {
		e = exit_at(g, g->exn);
	}
	exit_clear(e);
	g->exn++;
	e->t = t;
	str_fmt(e->time, sizeof(e->time), "%s", time);
	e->pid = e->delay_ms = e->exit_code = e->uptime_ms = -1;
	jint(o, "pid", &e->pid);
	e->has_worker = jint(o, "worker", &e->worker);
	e->has_uid = jint(o, "uid", &e->uid);
	jint(o, "uptime_ms", &e->uptime_ms);
	jint(o, "restart_delay_ms", &e->delay_ms);
	e->has_code = jint(o, "exit_code", &e->exit_code);
	e->core = jbool(o, "core_dumped");
	e->scan_timeout = jbool(o, "scan_timeout");
	str_fmt(e->signal, sizeof(e->signal), "%s",
	    (s = jstr(o, "signal")) != NULL ? s : "");
	/* a line of an older daemon has no kind: every exit was a crash */
	str_fmt(e->kind, sizeof(e->kind), "%s",
	    (s = jstr(o, "kind")) != NULL ? s : EXITS_KIND_CRASH);
	if ((fl = jget(o, "files", J_ARR)) != NULL)
		for (s = fl->s, k = 0; k < fl->n; k++, s += strlen(s) + 1)
			if (e->nfiles < DIAG_FILES_PER_EXIT &&
			    (e->files[e->nfiles] = dupn(s, EVENTS_LINE_MAX)) != NULL)
				e->nfiles++;
	if ((s = jstr(o, "definitions")) != NULL)
		e->defs = dupn(s, DIAG_TEXT_MAX);
	if ((s = jstr(o, "last_stderr")) != NULL)
		e->last_stderr = dupn(s, DIAG_TEXT_MAX);
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
	if (l->status == EVENTS_LINE_BAD_JSON ||
	    jobj_parse(&g->j, l->text, l->len) != 0) {
		problem(g, g->reading, line, (int64_t)l->offset,
		    "not a JSON object with an \"event\"; skipped");
		return false;
	}
	if ((time = jstr(&g->j, "time")) == NULL || !diag_parse_time(time, t)) {
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

	if (t >= g->o->since_ms && jint(&g->j, "count", &n) && n > 0)
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
	exit_add(g, &g->j, t, jstr(&g->j, "time"));
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
	const char *detail = jstr(&g->j, "detail");
	int64_t id;

	if (!jint(&g->j, "fault", &id))
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
	const struct jfield *vl;
	const char *s;
	size_t k, off = 0;

	if (g->dhn == DIAG_HISTORY_MAX)
		g->dhhead = (g->dhhead + 1) % DIAG_HISTORY_MAX;
	else
		g->dhn++;
	h = &g->dh[(g->dhhead + g->dhn - 1) % DIAG_HISTORY_MAX];
	memset(h, 0, sizeof(*h));
	h->t = t;
	str_fmt(h->time, sizeof(h->time), "%s", jstr(&g->j, "time"));
	str_fmt(h->type, sizeof(h->type), "%s", type);
	str_fmt(h->file, sizeof(h->file), "%s", (s = jstr(&g->j, "file")) ? s : "");
	str_fmt(h->reason, sizeof(h->reason), "%s",
	    (s = jstr(&g->j, "reason")) ? s : "");
	if ((vl = jget(&g->j, "versions", J_ARR)) != NULL)
		for (s = vl->s, k = 0; k < vl->n && off < sizeof(h->versions);
		    k++, s += strlen(s) + 1)
			off += (size_t)snprintf(h->versions + off,
			    sizeof(h->versions) - off, "%s%s", k ? " " : "", s);
	else if ((s = jstr(&g->j, "versions")) != NULL)
		str_fmt(h->versions, sizeof(h->versions), "%s", s);
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
	    jbool(&g->j, "as_root")) {
		g->root_starts++;
		g->last_root_start = t;
	} else if (strcmp(type, EVENT_WORKER_EXITED) == 0 && g->exits_from_events)
		exit_add(g, &g->j, t, jstr(&g->j, "time"));
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
	while (got < want) {
		n = pread(fd, buf + got, want - got, from + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
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

/* ---- analysis ------------------------------------------------------------ */

static bool
exit_in_window(const struct diag *g, const struct diag_exit *e)
{
	return e->t >= g->o->since_ms && strcmp(e->kind, EXITS_KIND_STOPPED) != 0;
}

static bool
exit_is_crash(const struct diag_exit *e)
{
	return strcmp(e->kind, EXITS_KIND_CRASH) == 0;
}

static void
exit_cause(const struct diag_exit *e, char *buf, size_t len)
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
		if ((gr->key = dupn(key, EVENTS_LINE_MAX)) == NULL) {
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

static void
groups_free(struct diag_groups *gs)
{
	size_t i;

	for (i = 0; i < gs->n; i++)
		free(gs->g[i].key);
	gs->n = 0;
}

static void
analyse(struct diag *g)
{
	struct diag_exit *e, *w;
	char cause[DIAG_SIG_MAX + 16];
	size_t i, k, lo = 0;
	int64_t in_minute;

	g->first = g->last = -1;
	for (i = 0; i < g->exn; i++) {
		e = exit_at(g, i);
		if (!exit_in_window(g, e))
			continue;
		if (!exit_is_crash(e)) {
			g->start_failures++;
			continue;
		}
		g->crashes++;
		g->timeouts += e->scan_timeout;
		g->cores += e->core;
		if (g->first < 0)
			g->first = e->t;
		g->last = e->t;
		exit_cause(e, cause, sizeof(cause));
		group_add(&g->by_sig, cause, NULL);
		group_add(&g->by_defs, e->defs != NULL && e->defs[0] ? e->defs :
		    "(not recorded)", NULL);
		if (e->nfiles == 0)
			g->no_file++;
		for (k = 0; k < e->nfiles; k++)
			group_add(&g->by_file, e->files[k], cause);
		/* the most crashes in any minute: a window over the ring */
		for (in_minute = 0; lo <= i; lo++) {
			w = exit_at(g, lo);
			if (exit_in_window(g, w) && exit_is_crash(w) &&
			    w->t > e->t - 60000)
				break;
		}
		for (k = lo, in_minute = 0; k <= i; k++) {
			w = exit_at(g, k);
			in_minute += exit_in_window(g, w) && exit_is_crash(w);
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

static int
verdict_of(const struct diag *g)
{
	size_t i;
	int v = DIAG_HEALTHY;

	for (i = 0; i < g->nact; i++)
		v = fault_needs_person(&g->act[i]) ? DIAG_INTERVENTION :
		    v == DIAG_HEALTHY ? DIAG_DEGRADED : v;
	return v;
}

static const char *
verdict_name(int v)
{
	return v == DIAG_HEALTHY ? "healthy" : v == DIAG_DEGRADED ? "degraded" :
	    "intervention";
}

static void
sigs_text(struct strbuf *sb, const struct diag_groups *gs)
{
	size_t i;

	for (i = 0; i < gs->n; i++)
		strbuf_printf(sb, "%s%s x%u", i ? ", " : "", gs->g[i].key,
		    gs->g[i].count);
	if (gs->other)
		strbuf_printf(sb, ", other x%u", gs->other);
}

static void
group_sigs_text(struct strbuf *sb, const struct diag_group *gr)
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
static void
crash_sentence(const struct diag *g, struct strbuf *sb)
{
	const struct diag_group *top = g->by_file.n ? &g->by_file.g[0] : NULL;
	const struct diag_defs_event *act;
	const char *every = g->crashes == 2 ? "Both" : "All";

	if (g->crashes == 0)
		return;
	if (g->crashes == 1) {
		strbuf_puts(sb, "1 crash (");
		sigs_text(sb, &g->by_sig);
		strbuf_puts(sb, ")");
		if (top != NULL)
			strbuf_printf(sb, " while scanning %s", top->key);
	} else if (top != NULL && top->count == g->crashes) {
		strbuf_printf(sb, "%s %u crashes happened while scanning %s (",
		    every, g->crashes, top->key);
		group_sigs_text(sb, top);
		strbuf_puts(sb, ")");
	} else if (top != NULL && top->count >= 2) {
		strbuf_printf(sb, "%u of %u crashes happened while scanning %s (",
		    top->count, g->crashes, top->key);
		group_sigs_text(sb, top);
		strbuf_printf(sb, "); by signal: ");
		sigs_text(sb, &g->by_sig);
	} else if (g->no_file == g->crashes) {
		strbuf_printf(sb, "%s %u crashes happened with no file in flight (",
		    every, g->crashes);
		sigs_text(sb, &g->by_sig);
		strbuf_puts(sb, "): the workers died while idle or were killed from outside, not by a file");
	} else {
		strbuf_printf(sb, "%u crashes (", g->crashes);
		sigs_text(sb, &g->by_sig);
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
		sigs_text(sb, &g->by_defs);
	}
	strbuf_puts(sb, ".");
}

/* ---- the report ------------------------------------------------------------ */

static void
time_str(int64_t ms, char out[WALLTIME_LEN])
{
	if (ms < 0)
		str_fmt(out, WALLTIME_LEN, "(unknown)");
	else
		walltime_format(ms, out);
}

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

/*
 * For each line of a log buffer: cb(arg, line, len).  Lines are never
 * NUL-terminated here.
 */
struct loglines {
	const char *l[DIAG_LOG_LINES];
	size_t n[DIAG_LOG_LINES];
	size_t count;                /* kept, at most DIAG_LOG_LINES */
	size_t head;                 /* ring start when keeping the last */
};

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
static void
svc_lines(const struct diag *g, const struct diag_exit *e, struct loglines *ll)
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

/* ampdaemon.log around an exit: 1 s before to 0.5 s after, events left out
 * (they are the records above). */
static void
daemon_lines(const struct diag *g, const struct diag_exit *e,
    struct loglines *ll)
{
	const char *p = g->dlog, *end = g->dlog + g->dloglen, *nl;
	size_t n;
	int64_t t;

	memset(ll, 0, sizeof(*ll));
	if (p == NULL)
		return;
	for (; p < end && ll->count < DIAG_LOG_LINES; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (!log_time(p, n, &t) || t < e->t - 1000)
			continue;
		if (t > e->t + 500)
			break;
		if (memmem(p, n, "]: info: event: {", 17) != NULL)
			continue;
		ll->l[ll->count] = p;
		ll->n[ll->count++] = n;
	}
}

static void
loglines_out(struct strbuf *sb, const struct loglines *ll, bool json,
    const char *indent)
{
	size_t i, k, n;

	for (i = 0; i < ll->count; i++) {
		k = (ll->head + i) % DIAG_LOG_LINES;
		n = ll->n[k] > DIAG_LOG_LINE_MAX ? DIAG_LOG_LINE_MAX : ll->n[k];
		if (json) {
			strbuf_puts(sb, i ? "," : "");
			strbuf_json_strn(sb, ll->l[k], n);
		} else {
			strbuf_puts(sb, indent);
			strbuf_append(sb, ll->l[k], n);
			strbuf_puts(sb, n < ll->n[k] ? "...\n" : "\n");
		}
	}
}

/* Index of the first exit shown in the timeline, and how many are left out. */
static size_t
timeline_start(const struct diag *g, size_t *omitted)
{
	size_t i, shown = 0, start = g->exn;

	*omitted = 0;
	for (i = g->exn; i-- > 0; ) {
		if (!exit_in_window(g, exit_at(g, i)))
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
static bool
exit_gets_logs(const struct diag *g, size_t i)
{
	size_t k, later = 0;

	for (k = i + 1; k < g->exn; k++)
		later += exit_in_window(g, exit_at(g, k));
	return later < DIAG_LOG_CRASHES;
}

static const struct diag_episode *
episodes_of(const struct diag *g, size_t *i, int fault)
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

/* ---- text ---------------------------------------------------------------- */

static void
text_fault_explain(const struct diag *g, const struct diag_active *a,
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
			time_str(g->last_root_start, when);
			strbuf_printf(sb, "    %u worker start(s) as root in the records, the last at %s\n",
			    g->root_starts, when);
		}
		strbuf_puts(sb, "    (as recorded when the fault was raised; not looked up again by diag)\n");
		break;
	case FAULT_SCAN_RESTARTING:
		if (g->crashes > 0) {
			strbuf_puts(sb, "    ");
			crash_sentence(g, sb);
			strbuf_puts(sb, "\n");
		}
		if (a->intervention)
			strbuf_puts(sb, "    suspected files are refused without being scanned while it needs intervention\n");
		break;
	case FAULT_SCAN_START_FAILED:
		for (i = g->exn; i-- > 0 && shown < 5; ) {
			e = exit_at(g, i);
			if (!exit_in_window(g, e) || exit_is_crash(e))
				continue;
			shown++;
			exit_cause(e, cause, sizeof(cause));
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
		time_str(a->since, when);
		time_str(a->intervention_ms, iw);
		strbuf_printf(sb, "  fault %d: %s (raised %s%s%s)\n", a->id,
		    fault_text(def, FAULT_LANG_EN, FAULT_FIELD_PORTAL), when,
		    a->intervention ? "; NEEDS INTERVENTION since " : "",
		    a->intervention ? iw : "");
		strbuf_printf(sb, "    detail: %s\n", a->detail);
		strbuf_printf(sb, "    meaning: %s\n", fault_text(def,
		    FAULT_LANG_EN, FAULT_FIELD_CONDITION));
		text_fault_explain(g, a, sb);
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
		time_str(g->first, a);
		time_str(g->last, b);
		fmt_dur(g->last - g->first, span, sizeof(span));
		strbuf_printf(sb, "  %u crash(es) from %s to %s (%s): %.1f per minute, at most %lld in one minute\n",
		    g->crashes, a, b, span, (double)g->crashes * 60000.0 /
		    (double)(g->last - g->first > 60000 ? g->last - g->first : 60000),
		    (long long)g->peak);
		strbuf_puts(sb, "  ");
		crash_sentence(g, sb);
		strbuf_puts(sb, "\n  by signal: ");
		sigs_text(sb, &g->by_sig);
		strbuf_puts(sb, "\n  by definitions: ");
		sigs_text(sb, &g->by_defs);
		strbuf_puts(sb, "\n  by file in flight:\n");
		for (i = 0; i < g->by_file.n && i < 20; i++) {
			strbuf_printf(sb, "    %u x %s (", g->by_file.g[i].count,
			    g->by_file.g[i].key);
			group_sigs_text(sb, &g->by_file.g[i]);
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
	for (i = 0; (ep = episodes_of(g, &i, FAULT_SCAN_RESTARTING)) != NULL; ) {
		time_str(ep->raised, a);
		time_str(ep->cleared, b);
		strbuf_printf(sb, "  raised %s (%s)", a, ep->detail[0] ?
		    ep->detail : "detail not recorded");
		if (ep->intervention >= 0) {
			time_str(ep->intervention, a);
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
	size_t i, k, omitted, start = timeline_start(g, &omitted);

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
		e = exit_at(g, i);
		if (!exit_in_window(g, e))
			continue;
		exit_cause(e, cause, sizeof(cause));
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
		if (!exit_gets_logs(g, i))
			continue;
		if (g->svclog != NULL) {
			svc_lines(g, e, &ll);
			strbuf_printf(sb, "    ampscansvc.log, pid %lld:%s\n",
			    (long long)e->pid, ll.count ? "" : " (no lines)");
			loglines_out(sb, &ll, false, "      ");
		}
		if (g->dlog != NULL) {
			daemon_lines(g, e, &ll);
			strbuf_printf(sb, "    ampdaemon.log around it:%s\n",
			    ll.count ? "" : " (no lines)");
			loglines_out(sb, &ll, false, "      ");
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

static const char *
kind_name(enum cvd_kind k)
{
	return k == CVD_KIND_CVD ? "cvd" : k == CVD_KIND_CLD ? "cld" : "cud";
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
			    kind_name(g->cont[i].kind), g->cont[i].sigs,
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
		const struct diag_exit *e = exit_at(g, i);

		if (exit_in_window(g, e) && e->core)
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

static void
text_verdict(const struct diag *g, struct strbuf *sb)
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
		crash_sentence(g, sb);
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

static void
report_text(const struct diag *g, struct strbuf *sb)
{
	char now[WALLTIME_LEN], since[WALLTIME_LEN];

	walltime_format(g->o->now_ms, now);
	time_str(g->o->since_ms, since);
	strbuf_printf(sb, "ampscan diagnosis, generated %s; records %s%s\n", now,
	    g->o->since_ms > 0 ? "since " : "", g->o->since_ms > 0 ? since : "all");
	strbuf_printf(sb, "state: %s; logs: %s; definitions: %s\n", g->o->state_dir,
	    g->o->log_dir ? g->o->log_dir : "(not available)",
	    g->o->definitions_dir ? g->o->definitions_dir : "(not available)");
	text_verdict(g, sb);
	text_faults(g, sb);
	text_crashes(g, sb);
	text_timeline(g, sb);
	text_poison(g, sb);
	text_defs(g, sb);
	text_cores(g, sb);
	text_config(g, sb);
	text_problems(g, sb);
}

/* ---- JSON ------------------------------------------------------------------ */

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
		text_fault_explain(g, a, &ex);
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
	crash_sentence(g, &s);
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
	size_t i, k, omitted, start = timeline_start(g, &omitted);
	bool first = true;

	strbuf_printf(sb, ",\"timeline_source\":\"%s\",\"timeline_omitted\":%zu,\"timeline_lost\":%" PRIu64 ",\"timeline\":[",
	    g->exits_from_events ? "events" : "exits", omitted, g->exits_lost);
	for (i = start; i < g->exn; i++) {
		e = exit_at(g, i);
		if (!exit_in_window(g, e))
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
		if (exit_gets_logs(g, i)) {
			strbuf_puts(sb, ",\"scansvc_log\":");
			if (g->svclog != NULL) {
				svc_lines(g, e, &ll);
				strbuf_puts(sb, "[");
				loglines_out(sb, &ll, true, "");
				strbuf_puts(sb, "]");
			} else {
				strbuf_puts(sb, "null");
			}
			strbuf_puts(sb, ",\"daemon_log\":");
			if (g->dlog != NULL) {
				daemon_lines(g, e, &ll);
				strbuf_puts(sb, "[");
				loglines_out(sb, &ll, true, "");
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
	for (i = 0; (ep = episodes_of(g, &i, 0)) != NULL; first = false) {
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
				    kind_name(g->cont[i].kind), g->cont[i].version,
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
		const struct diag_exit *e = exit_at(g, i);

		if (exit_in_window(g, e) && e->core)
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

static void
report_json(const struct diag *g, struct strbuf *sb)
{
	struct strbuf s;

	strbuf_puts(sb, "{\"schema\":\"" DIAG_SCHEMA "\",\"generated\":");
	json_time(sb, g->o->now_ms);
	strbuf_puts(sb, ",\"since\":");
	json_time(sb, g->o->since_ms > 0 ? g->o->since_ms : -1);
	strbuf_printf(sb, ",\"verdict\":\"%s\",\"exit_status\":%d", verdict_name(g->verdict),
	    g->verdict);
	strbuf_init(&s, DIAG_OUT_MAX);
	text_verdict(g, &s);
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

/* ---- the whole -------------------------------------------------------------- */

static void
diag_free(struct diag *g)
{
	size_t i;

	for (i = 0; g->ex != NULL && i < DIAG_EXITS_MAX; i++)
		exit_clear(&g->ex[i]);
	free(g->ex);
	poison_free(&g->poison);
	free(g->svclog);
	free(g->dlog);
	groups_free(&g->by_sig);
	groups_free(&g->by_defs);
	groups_free(&g->by_file);
	config_free(&g->defcfg);
	free(g);
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

int
diag_run(const struct diag_opts *o, struct strbuf *out, char *err,
    size_t errlen)
{
	struct diag *g;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (o->state_dir == NULL) {
		str_fmt(err, errlen, "no state directory");
		return -1;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->ex = calloc(DIAG_EXITS_MAX, sizeof(*g->ex))) == NULL) {
		free(g);
		str_fmt(err, errlen, "out of memory");
		return -1;
	}
	g->o = o;
	config_defaults(&g->defcfg);
	g->cfg = o->cfg != NULL ? o->cfg : &g->defcfg;
	read_faults(g);
	read_jsonl(g, EXITS_FILE_NAME, DIAG_EXITS_MAX, exits_cb, &rc);
	g->exits_from_events = g->exn == 0;
	if (g->exits_from_events)
		g->exits_lost = 0;   /* a gap of exits.jsonl, not of the events */
	read_jsonl(g, EVENTS_FILE_NAME, DIAG_EVENTS_MAX, events_cb, NULL);
	if (g->faults_from_events)
		faults_from_events(g);
	read_rest(g);
	analyse(g);
	g->verdict = verdict_of(g);
	if (o->json)
		report_json(g, out);
	else
		report_text(g, out);
	if (out->failed)
		str_fmt(err, errlen, "the diagnosis was cut at %zu bytes", out->max);
	rc = g->verdict;
	diag_free(g);
	return rc;
}
