/* events.jsonl: building, escaping, appending without tearing, reading back. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "statefile.h"
#include "strbuf.h"

/* Room kept for ,"truncated":true}\n so a line can always be closed. */
#define EVENTS_TAIL ",\"truncated\":true"
#define EVENTS_TAIL_RESERVE (sizeof(EVENTS_TAIL) - 1 + 2)
#define EVENTS_BODY_MAX (EVENTS_LINE_MAX - EVENTS_TAIL_RESERVE)
#define EVENTS_CHUNK 65536
#define EVENTS_JSON_DEPTH 8

static const char *const events_known_types[] = {
	EVENT_FAULT_RAISED, EVENT_FAULT_CLEARED, EVENT_INTERVENTION_REQUIRED,
	EVENT_WORKER_STARTED, EVENT_WORKER_READY, EVENT_WORKER_EXITED,
	EVENT_DEFINITIONS_REJECTED, EVENT_DEFINITIONS_DELETED,
	EVENT_DEFINITIONS_ACTIVATED, EVENT_DEFINITIONS_ROLLED_BACK,
	EVENT_DEFINITIONS_QUARANTINED, EVENT_POISON_FILE, EVENT_EVENTS_DROPPED,
	EVENT_DAEMON_STARTED, EVENT_DAEMON_STOPPED, EVENT_ACTIVATION_RECOVERED,
};

const char *
events_strerror(int code)
{
	switch (code) {
	case EVENTS_OK: return "success";
	case EVENTS_ERR_IO: return "I/O error";
	case EVENTS_ERR_QUEUED: return "not written yet, kept in memory";
	case EVENTS_ERR_DROPPED: return "not written, queue full: event lost";
	case EVENTS_ERR_INVAL: return "invalid argument";
	case EVENTS_ERR_NOENT: return "no events file";
	case EVENTS_ERR_TRIM: return "written, but the file could not be cut down";
	}
	return "unknown error";
}

bool
events_type_is_known(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(events_known_types) /
	    sizeof(events_known_types[0]); i++)
		if (strcmp(type, events_known_types[i]) == 0)
			return true;
	return false;
}

const char *
events_line_status_name(enum events_line_status st)
{
	switch (st) {
	case EVENTS_LINE_OK: return "ok";
	case EVENTS_LINE_TORN: return "torn";
	case EVENTS_LINE_BAD_JSON: return "not a JSON event";
	case EVENTS_LINE_UNKNOWN_TYPE: return "unknown event type";
	case EVENTS_LINE_TOO_LONG: return "too long";
	}
	return "?";
}

/* ---- building ---- */

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t
events_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;

#define CONT(b) ((b) >= 0x80 && (b) <= 0xbf)
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && CONT(p[1]) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (c == 0xe0)
			lo = 0xa0;          /* overlong */
		if (c == 0xed)
			hi = 0x9f;          /* surrogates */
		return n >= 3 && p[1] >= lo && p[1] <= hi && CONT(p[2]) ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (c == 0xf0)
			lo = 0x90;          /* overlong */
		if (c == 0xf4)
			hi = 0x8f;          /* beyond U+10FFFF */
		return n >= 4 && p[1] >= lo && p[1] <= hi && CONT(p[2]) &&
		    CONT(p[3]) ? 4 : 0;
	}
	return 0;
#undef CONT
}

static bool
events_put(struct event *ev, const char *s, size_t n, size_t limit)
{
	if (n > limit || ev->len > limit - n)
		return false;
	memcpy(ev->buf + ev->len, s, n);
	ev->len += n;
	return true;
}

/*
 * One escaped unit of s at i: sets rep and rlen to what to write and
 * returns how many input bytes it stands for.
 */
static size_t
events_escape_unit(const unsigned char *s, size_t n, size_t i,
    const char **rep, size_t *rlen, char u[8])
{
	unsigned char c = s[i];
	size_t l;

	*rlen = 2;
	switch (c) {
	case '"': *rep = "\\\""; return 1;
	case '\\': *rep = "\\\\"; return 1;
	case '\n': *rep = "\\n"; return 1;
	case '\r': *rep = "\\r"; return 1;
	case '\t': *rep = "\\t"; return 1;
	case '\b': *rep = "\\b"; return 1;
	case '\f': *rep = "\\f"; return 1;
	}
	if (c < 0x20 || c == 0x7f) {
		snprintf(u, 8, "\\u%04x", c);
		*rep = u;
		*rlen = 6;
		return 1;
	}
	if ((l = events_utf8_len(s + i, n - i)) == 0) {
		*rep = "\\ufffd";
		*rlen = 6;
		return 1;
	}
	if (l == 3 && c == 0xe2 && s[i + 1] == 0x80 &&
	    (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
		*rep = s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
		*rlen = 6;
		return 3;
	}
	*rep = (const char *)s + i;
	*rlen = l;
	return l;
}

/*
 * Append s as a JSON string, the whole of it within limit (closing quote
 * included); cut at a character boundary if it does not fit.  The caller
 * has checked that at least the two quotes fit.  Returns false if cut.
 */
static bool
events_put_json_str(struct event *ev, const char *str, size_t n, size_t limit)
{
	const unsigned char *s = (const unsigned char *)str;
	const char *rep;
	size_t i = 0, rlen, adv;
	bool whole = true;
	char u[8];

	events_put(ev, "\"", 1, limit - 1);
	while (i < n) {
		adv = events_escape_unit(s, n, i, &rep, &rlen, u);
		if (!events_put(ev, rep, rlen, limit - 1)) {
			whole = false;
			break;
		}
		i += adv;
	}
	ev->buf[ev->len++] = '"';
	return whole;
}

/* ,"key": with room left for at least need more bytes; else nothing. */
static bool
events_put_key(struct event *ev, const char *key, size_t need)
{
	size_t save = ev->len, klen = strlen(key);

	if (ev->len == 0)
		return false;
	/* keys are ours and plain; 4 = , " " : */
	if (klen + 4 + need > EVENTS_BODY_MAX - ev->len) {
		ev->truncated = true;
		return false;
	}
	events_put(ev, ",", 1, EVENTS_BODY_MAX);
	if (!events_put_json_str(ev, key, klen, EVENTS_BODY_MAX - need - 1)) {
		ev->len = save;
		ev->truncated = true;
		return false;
	}
	events_put(ev, ":", 1, EVENTS_BODY_MAX);
	return true;
}

void
events_begin(struct event *ev, const char *type, int64_t now_ms)
{
	char t[WALLTIME_LEN];

	ev->len = 0;
	ev->truncated = false;
	walltime_format(now_ms, t);
	events_put(ev, "{\"time\":\"", 9, EVENTS_BODY_MAX);
	events_put(ev, t, strlen(t), EVENTS_BODY_MAX);
	events_put(ev, "\",\"event\":", 10, EVENTS_BODY_MAX);
	if (!events_put_json_str(ev, type, strlen(type), EVENTS_BODY_MAX))
		ev->truncated = true;
}

void
events_add_strn(struct event *ev, const char *key, const char *value,
    size_t len)
{
	if (!events_put_key(ev, key, 2))
		return;
	if (!events_put_json_str(ev, value != NULL ? value : "",
	    value != NULL ? len : 0, EVENTS_BODY_MAX))
		ev->truncated = true;
}

void
events_add_str(struct event *ev, const char *key, const char *value)
{
	events_add_strn(ev, key, value, value != NULL ? strlen(value) : 0);
}

void
events_add_int(struct event *ev, const char *key, int64_t value)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, value);

	if (events_put_key(ev, key, (size_t)n))
		events_put(ev, num, (size_t)n, EVENTS_BODY_MAX);
}

void
events_add_bool(struct event *ev, const char *key, bool value)
{
	const char *v = value ? "true" : "false";

	if (events_put_key(ev, key, strlen(v)))
		events_put(ev, v, strlen(v), EVENTS_BODY_MAX);
}

void
events_add_time(struct event *ev, const char *key, int64_t ms)
{
	char t[WALLTIME_LEN];

	walltime_format(ms, t);
	events_add_str(ev, key, t);
}

/* A list is cut between items, never inside one. */
void
events_add_strlist(struct event *ev, const char *key,
    const char *const *items, size_t n)
{
	size_t i, save;

	if (!events_put_key(ev, key, 2))
		return;
	events_put(ev, "[", 1, EVENTS_BODY_MAX - 1);
	for (i = 0; i < n; i++) {
		const char *it = items[i] != NULL ? items[i] : "";

		save = ev->len;
		if ((i > 0 && !events_put(ev, ",", 1, EVENTS_BODY_MAX - 1)) ||
		    EVENTS_BODY_MAX - 1 - ev->len < 2 ||
		    !events_put_json_str(ev, it, strlen(it),
		    EVENTS_BODY_MAX - 1)) {
			ev->len = save;
			ev->truncated = true;
			break;
		}
	}
	ev->buf[ev->len++] = ']';
}

const char *
events_signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev != NULL)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "SIG%d", sig);
	return buf;
}

void
events_worker_exited(struct event *ev, int64_t now_ms, pid_t pid,
    int wstatus, int64_t uptime_ms, const char *const *files, size_t nfiles)
{
	char sig[32];

	events_begin(ev, EVENT_WORKER_EXITED, now_ms);
	events_add_int(ev, "pid", pid);
	if (WIFEXITED(wstatus)) {
		events_add_int(ev, "exit_code", WEXITSTATUS(wstatus));
		events_add_bool(ev, "core_dumped", false);
	} else if (WIFSIGNALED(wstatus)) {
		events_add_str(ev, "signal", events_signal_name(WTERMSIG(wstatus),
		    sig, sizeof(sig)));
		events_add_bool(ev, "core_dumped", WCOREDUMP(wstatus) != 0);
	}
	events_add_int(ev, "uptime_ms", uptime_ms);
	events_add_strlist(ev, "files", files, nfiles);
}

size_t
events_render(const struct event *ev, char *out, size_t outlen)
{
	size_t n = ev->len;

	if (n == 0 || n > EVENTS_BODY_MAX || outlen < EVENTS_LINE_MAX + 1)
		return 0;
	memcpy(out, ev->buf, n);
	if (ev->truncated) {
		memcpy(out + n, EVENTS_TAIL, sizeof(EVENTS_TAIL) - 1);
		n += sizeof(EVENTS_TAIL) - 1;
	}
	out[n++] = '}';
	out[n++] = '\n';
	out[n] = '\0';
	return n;
}

/* ---- the log file ---- */

/* A new file's name is durable only once its directory is synced. */
static void
events_sync_dir(const char *path)
{
	char dir[EVENTS_PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static int
events_reopen(struct events_log *log, char *err, size_t errlen)
{
	int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
	bool created = false;
	struct stat st;
	char last;
	int fd;

	if ((fd = open(log->path, flags)) < 0 && errno == ENOENT) {
		fd = open(log->path, flags | O_CREAT | O_EXCL,
		    EVENTS_FILE_MODE);
		created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = open(log->path, flags);
	}
	if (fd < 0)
		return str_seterr(err, errlen, EVENTS_ERR_IO, "%s: %s",
		    log->path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return str_seterr(err, errlen, EVENTS_ERR_IO,
		    "%s: not a regular file", log->path);
	}
	if (created)
		events_sync_dir(log->path);
	if (st.st_size > 0 && (pread(fd, &last, 1, st.st_size - 1) != 1 ||
	    last != '\n'))
		log->need_newline = true;
	log->fd = fd;
	return EVENTS_OK;
}

/* The file bigger than log->trim_at: replace it by its newest lines
 * (events.h, "Bounded"), then reopen it. */
static int
events_trim(struct events_log *log, char *err, size_t errlen)
{
	struct stat st;
	char *buf, *nl, why[EVENTS_PATH_MAX + 256];
	size_t n, got = 0;
	ssize_t r;
	int rc;

	if (log->fd < 0 || fstat(log->fd, &st) != 0 ||
	    st.st_size <= log->trim_at || st.st_size <= log->trim_after)
		return EVENTS_OK;
	n = (size_t)(log->keep < st.st_size ? log->keep : st.st_size);
	if ((buf = malloc(n)) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	while (got < n) {
		r = pread(log->fd, buf + got, n - got,
		    st.st_size - (off_t)n + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;   /* cut under us: not by us */
			free(buf);
			goto fail;
		}
		got += (size_t)r;
	}
	/* from the first line that starts in the kept bytes */
	nl = memchr(buf, '\n', n);
	got = nl == NULL ? n : (size_t)(nl - buf) + 1;
	rc = statefile_write(log->dir, EVENTS_FILE_NAME, buf + got, n - got,
	    EVENTS_FILE_MODE, why, sizeof(why));
	free(buf);
	if (rc != STATEFILE_OK) {
		log->trim_after = st.st_size + EVENTS_TRIM_RETRY;
		if (!statefile_same_file(log->fd, log->path)) {
			/* renamed, then its directory's fsync failed */
			close(log->fd);
			log->fd = -1;
			log->need_newline = false;
			(void)events_reopen(log, NULL, 0);   /* or at the next write */
		}
		return str_seterr(err, errlen, EVENTS_ERR_TRIM,
		    "%s is %lld bytes; cutting it down to its last %lld failed: %s (tried again after %lld bytes more)",
		    log->path, (long long)st.st_size, (long long)log->keep, why,
		    (long long)EVENTS_TRIM_RETRY);
	}
	log->trim_after = 0;
	/* the descriptor points at the replaced file */
	close(log->fd);
	log->fd = -1;
	log->need_newline = false;
	if (events_reopen(log, why, sizeof(why)) != EVENTS_OK)
		return str_seterr(err, errlen, EVENTS_ERR_TRIM,
		    "cut down, then: %s", why);
	return EVENTS_OK;
fail:
	log->trim_after = st.st_size + EVENTS_TRIM_RETRY;
	return str_seterr(err, errlen, EVENTS_ERR_TRIM,
	    "%s: reading its last %lld bytes to cut it down: %s", log->path,
	    (long long)log->keep, strerror(errno));
}

int
events_open(struct events_log *log, const char *state_dir, char *err,
    size_t errlen)
{
	int n;

	memset(log, 0, sizeof(*log));
	log->fd = -1;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	log->trim_at = EVENTS_TRIM_AT;
	log->keep = EVENTS_KEEP;
	n = snprintf(log->path, sizeof(log->path), "%s/%s", state_dir,
	    EVENTS_FILE_NAME);
	if (n < 0 || (size_t)n >= sizeof(log->path)) {
		log->path[0] = '\0';
		return str_seterr(err, errlen, EVENTS_ERR_INVAL,
		    "%s: path too long", state_dir);
	}
	snprintf(log->dir, sizeof(log->dir), "%s", state_dir);
	if ((n = events_reopen(log, err, errlen)) != EVENTS_OK)
		return n;
	return events_trim(log, err, errlen);
}

/*
 * One line, one write(), then a sync (lineq_write(): on any failure the
 * file is cut back, so it never keeps part of a line).  0, or -1 with
 * errno set.
 */
static int
events_write_line(struct events_log *log, const char *line, size_t len)
{
	char buf[EVENTS_LINE_MAX + 2];
	const char *p = line;
	size_t plen = len;
	bool torn;
	int saved;

	if (log->fd < 0 && events_reopen(log, NULL, 0) != EVENTS_OK)
		return -1;
	if (log->need_newline && len <= EVENTS_LINE_MAX) {
		buf[0] = '\n';
		memcpy(buf + 1, line, len);
		p = buf;
		plen = len + 1;
	}
	if (lineq_write(&log->queue, log->fd, p, plen, &torn) == 0) {
		log->need_newline = false;
		return 0;
	}
	saved = errno;
	if (torn)
		log->need_newline = true;
	if (saved != ENOSPC && saved != EDQUOT) {
		/* the file may be gone or the fd bad: reopen next time */
		close(log->fd);
		log->fd = -1;
	}
	errno = saved;
	return -1;
}

/* lineq_flush()'s writer. */
static int
events_put_line(void *arg, const char *line, size_t len)
{
	return events_write_line(arg, line, len);
}

int
events_catch_up(struct lineq *q, int (*put)(void *arg, const char *line,
    size_t len), void *arg, const char *lost_what)
{
	struct event ev;
	char line[EVENTS_LINE_MAX + 1], detail[256];
	uint64_t lost;
	size_t len;

	if (lineq_flush(q, put, arg) != 0)
		return -1;
	if ((lost = q->dropped) == 0)
		return 0;
	snprintf(detail, sizeof(detail), "%" PRIu64 " %s", lost, lost_what);
	events_begin(&ev, EVENT_EVENTS_DROPPED, walltime_now_ms());
	events_add_int(&ev, "count", (int64_t)lost);
	events_add_str(&ev, "detail", detail);
	len = events_render(&ev, line, sizeof(line));
	if (put(arg, line, len) != 0)
		return -1;
	lineq_dropped_said(q, lost);
	return 0;
}

/* The queued lines, in order, then events_dropped if some were lost. */
static int
events_flush_queue(struct events_log *log, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (events_catch_up(&log->queue, events_put_line, log,
	    "events lost while events.jsonl could not be written") != 0)
		return str_seterr(err, errlen, EVENTS_ERR_QUEUED,
		    "%s: %s (%zu events waiting)", log->path, strerror(errno),
		    lineq_pending(&log->queue));
	return EVENTS_OK;
}

int
events_flush(struct events_log *log, char *err, size_t errlen)
{
	int rc = events_flush_queue(log, err, errlen);

	return rc != EVENTS_OK ? rc : events_trim(log, err, errlen);
}

int
events_append(struct events_log *log, const struct event *ev, char *err,
    size_t errlen)
{
	char line[EVENTS_LINE_MAX + 1];
	size_t len;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((len = events_render(ev, line, sizeof(line))) == 0 ||
	    log->path[0] == '\0')
		return str_seterr(err, errlen, EVENTS_ERR_INVAL,
		    "events: %s", log->path[0] == '\0' ? "log not opened" :
		    "event not begun");
	if (events_flush_queue(log, err, errlen) == EVENTS_OK) {
		if (events_write_line(log, line, len) == 0)
			return events_trim(log, err, errlen);
		str_seterr(err, errlen, 0, "%s: %s", log->path,
		    strerror(errno));
	}
	return lineq_push(&log->queue, line, len, err, errlen) ?
	    EVENTS_ERR_QUEUED : EVENTS_ERR_DROPPED;
}

size_t
events_pending(const struct events_log *log)
{
	return lineq_pending(&log->queue);
}

void
events_close(struct events_log *log)
{
	lineq_clear(&log->queue);
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
}

/* ---- a small JSON checker (RFC 8259), enough to classify lines ---- */

struct events_jp {
	const unsigned char *s;
	size_t n, i;
};

static void
events_jp_ws(struct events_jp *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	    p->s[p->i] == '\r' || p->s[p->i] == '\n'))
		p->i++;
}

static bool
events_jp_lit(struct events_jp *p, const char *lit)
{
	size_t l = strlen(lit);

	if (p->n - p->i < l || memcmp(p->s + p->i, lit, l) != 0)
		return false;
	p->i += l;
	return true;
}

static bool
events_jp_hex4(struct events_jp *p)
{
	size_t k;

	if (p->n - p->i < 4)
		return false;
	for (k = 0; k < 4; k++) {
		unsigned char c = p->s[p->i + k];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F')))
			return false;
	}
	p->i += 4;
	return true;
}

/* A string; its raw content (between the quotes) is [*start, *end). */
static bool
events_jp_string(struct events_jp *p, size_t *start, size_t *end)
{
	size_t l;

	if (p->i >= p->n || p->s[p->i] != '"')
		return false;
	*start = ++p->i;
	while (p->i < p->n) {
		unsigned char c = p->s[p->i];

		if (c == '"') {
			*end = p->i++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (++p->i >= p->n)
				return false;
			c = p->s[p->i++];
			if (c == 'u') {
				if (!events_jp_hex4(p))
					return false;
			} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
				return false;
			}
			continue;
		}
		if ((l = events_utf8_len(p->s + p->i, p->n - p->i)) == 0)
			return false;
		p->i += l;
	}
	return false;
}

static bool
events_jp_digits(struct events_jp *p)
{
	size_t s = p->i;

	while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
		p->i++;
	return p->i > s;
}

static bool
events_jp_number(struct events_jp *p)
{
	if (p->i < p->n && p->s[p->i] == '-')
		p->i++;
	if (p->i < p->n && p->s[p->i] == '0')
		p->i++;
	else if (!events_jp_digits(p))
		return false;
	if (p->i < p->n && p->s[p->i] == '.') {
		p->i++;
		if (!events_jp_digits(p))
			return false;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (!events_jp_digits(p))
			return false;
	}
	return true;
}

static bool events_jp_value(struct events_jp *p, int depth);

static bool
events_jp_array(struct events_jp *p, int depth)
{
	p->i++;
	events_jp_ws(p);
	if (p->i < p->n && p->s[p->i] == ']') {
		p->i++;
		return true;
	}
	for (;;) {
		if (!events_jp_value(p, depth + 1))
			return false;
		events_jp_ws(p);
		if (p->i >= p->n)
			return false;
		if (p->s[p->i++] == ']')
			return true;
		if (p->s[p->i - 1] != ',')
			return false;
	}
}

/* An object; at the top level, copy the "event" string into type. */
static bool
events_jp_object(struct events_jp *p, int depth, char *type, size_t typelen)
{
	size_t ks, ke, vs, ve;

	if (depth > EVENTS_JSON_DEPTH || p->i >= p->n || p->s[p->i] != '{')
		return false;
	p->i++;
	events_jp_ws(p);
	if (p->i < p->n && p->s[p->i] == '}') {
		p->i++;
		return true;
	}
	for (;;) {
		events_jp_ws(p);
		if (!events_jp_string(p, &ks, &ke))
			return false;
		events_jp_ws(p);
		if (p->i >= p->n || p->s[p->i++] != ':')
			return false;
		events_jp_ws(p);
		if (type != NULL && ke - ks == 5 &&
		    memcmp(p->s + ks, "event", 5) == 0 && p->i < p->n &&
		    p->s[p->i] == '"') {
			if (!events_jp_string(p, &vs, &ve))
				return false;
			snprintf(type, typelen, "%.*s", (int)(ve - vs),
			    (const char *)p->s + vs);
		} else if (!events_jp_value(p, depth + 1)) {
			return false;
		}
		events_jp_ws(p);
		if (p->i >= p->n)
			return false;
		if (p->s[p->i++] == '}')
			return true;
		if (p->s[p->i - 1] != ',')
			return false;
	}
}

static bool
events_jp_value(struct events_jp *p, int depth)
{
	size_t a, b;

	if (depth > EVENTS_JSON_DEPTH || p->i >= p->n)
		return false;
	switch (p->s[p->i]) {
	case '{': return events_jp_object(p, depth, NULL, 0);
	case '[': return events_jp_array(p, depth);
	case '"': return events_jp_string(p, &a, &b);
	case 't': return events_jp_lit(p, "true");
	case 'f': return events_jp_lit(p, "false");
	case 'n': return events_jp_lit(p, "null");
	}
	return events_jp_number(p);
}

bool
events_json_check(const char *s, size_t len, char *type, size_t typelen)
{
	struct events_jp p = { (const unsigned char *)s, len, 0 };
	char dummy[1];

	if (type == NULL || typelen == 0) {
		type = dummy;
		typelen = sizeof(dummy);
	}
	type[0] = '\0';
	events_jp_ws(&p);
	if (!events_jp_object(&p, 0, type, typelen)) {
		type[0] = '\0';
		return false;
	}
	events_jp_ws(&p);
	if (p.i != p.n) {
		type[0] = '\0';
		return false;
	}
	return true;
}

/* ---- reading the tail ---- */

static int
events_pread_all(int fd, char *buf, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, buf, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		buf += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* Where the last want non-empty lines start, scanning back from size. */
static int
events_tail_start(int fd, off_t size, size_t want, char *chunk, off_t *start)
{
	off_t pos = size;
	size_t found = 0, i, n;
	bool nonempty = false;

	*start = 0;
	while (pos > 0) {
		n = pos > EVENTS_CHUNK ? EVENTS_CHUNK : (size_t)pos;
		pos -= (off_t)n;
		if (events_pread_all(fd, chunk, n, pos) != 0)
			return -1;
		for (i = n; i-- > 0;) {
			if (chunk[i] != '\n') {
				nonempty = true;
				continue;
			}
			if (nonempty && ++found == want) {
				*start = pos + (off_t)i + 1;
				return 0;
			}
			nonempty = false;
		}
	}
	return 0;
}

struct events_tail {
	char *line;                  /* EVENTS_LINE_MAX bytes */
	size_t len;
	off_t offset;
	bool too_long;
	int (*cb)(void *, const struct events_line *);
	void *arg;
};

static int
events_tail_emit(struct events_tail *t, bool torn)
{
	char type[64];
	struct events_line l = { t->line, t->len, t->offset, EVENTS_LINE_OK,
	    "" };
	int rc;

	if (t->len == 0 && !t->too_long)
		return 0;
	t->line[t->len] = '\0';
	if (t->too_long) {
		l.status = EVENTS_LINE_TOO_LONG;
	} else if (!events_json_check(t->line, t->len, type, sizeof(type))) {
		l.status = torn ? EVENTS_LINE_TORN : EVENTS_LINE_BAD_JSON;
		l.type = type;
	} else {
		l.type = type;
		if (type[0] == '\0')
			l.status = EVENTS_LINE_BAD_JSON;
		else if (torn)
			l.status = EVENTS_LINE_TORN;
		else if (!events_type_is_known(type))
			l.status = EVENTS_LINE_UNKNOWN_TYPE;
	}
	rc = t->cb(t->arg, &l);
	t->len = 0;
	t->too_long = false;
	return rc;
}

/* Lines from off to the end; *ioerr set if reading failed. */
static int
events_tail_forward(int fd, off_t off, char *chunk, struct events_tail *t,
    bool *ioerr)
{
	ssize_t r;
	size_t i;
	int rc;

	*ioerr = false;
	t->offset = off;
	for (;;) {
		r = pread(fd, chunk, EVENTS_CHUNK, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*ioerr = true;
			return 0;
		}
		if (r == 0)
			break;
		for (i = 0; i < (size_t)r; i++) {
			if (chunk[i] == '\n') {
				if ((rc = events_tail_emit(t, false)) != 0)
					return rc;
				t->offset = off + (off_t)i + 1;
			} else if (t->len < EVENTS_LINE_MAX - 1) {
				t->line[t->len++] = chunk[i];
			} else {
				t->too_long = true;
			}
		}
		off += r;
	}
	return events_tail_emit(t, true);
}

int
events_read_tail(const char *path, size_t max_lines,
    int (*cb)(void *arg, const struct events_line *line), void *arg,
    char *err, size_t errlen)
{
	struct events_tail t = { NULL, 0, 0, false, cb, arg };
	char *chunk = NULL;
	struct stat st;
	off_t start;
	int fd = -1, rc = 0;
	bool ioerr = false;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (max_lines > EVENTS_TAIL_MAX)
		max_lines = EVENTS_TAIL_MAX;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0) {
		rc = errno == ENOENT ? EVENTS_ERR_NOENT : EVENTS_ERR_IO;
		str_seterr(err, errlen, rc, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = str_seterr(err, errlen, EVENTS_ERR_IO,
		    "%s: not a regular file", path);
		goto out;
	}
	if (max_lines == 0)
		goto out;
	if ((chunk = malloc(EVENTS_CHUNK)) == NULL ||
	    (t.line = malloc(EVENTS_LINE_MAX)) == NULL) {
		rc = str_seterr(err, errlen, EVENTS_ERR_IO, "%s: %s", path,
		    strerror(ENOMEM));
		goto out;
	}
	if (events_tail_start(fd, st.st_size, max_lines, chunk, &start) != 0)
		ioerr = true;
	else
		rc = events_tail_forward(fd, start, chunk, &t, &ioerr);
	if (ioerr)
		rc = str_seterr(err, errlen, EVENTS_ERR_IO, "%s: read: %s",
		    path, strerror(errno));
out:
	free(chunk);
	free(t.line);
	if (fd >= 0)
		close(fd);
	return rc;
}
