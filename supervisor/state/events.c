/* SPDX-License-Identifier: GPL-2.0-or-later */
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
#include "json.h"
#include "json_read.h"
#include "strbuf.h"

/* Room kept for ,"truncated":true}\n so a line can always be closed. */
#define EVENTS_TAIL ",\"truncated\":true"
#define EVENTS_TAIL_RESERVE (sizeof(EVENTS_TAIL) - 1 + 2)
#define EVENTS_BODY_MAX (EVENTS_LINE_MAX - EVENTS_TAIL_RESERVE)
#define EVENTS_CHUNK 65536
#define EVENTS_JSON_DEPTH 8

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

static const char *const events_type_names[EVENT_T_COUNT] = {
	[EVENT_T_NONE] = "",
	[EVENT_T_FAULT_RAISED] = EVENT_FAULT_RAISED,
	[EVENT_T_FAULT_CLEARED] = EVENT_FAULT_CLEARED,
	[EVENT_T_INTERVENTION_REQUIRED] = EVENT_INTERVENTION_REQUIRED,
	[EVENT_T_WORKER_STARTED] = EVENT_WORKER_STARTED,
	[EVENT_T_WORKER_READY] = EVENT_WORKER_READY,
	[EVENT_T_WORKER_EXITED] = EVENT_WORKER_EXITED,
	[EVENT_T_DEFINITIONS_REJECTED] = EVENT_DEFINITIONS_REJECTED,
	[EVENT_T_DEFINITIONS_DELETED] = EVENT_DEFINITIONS_DELETED,
	[EVENT_T_DEFINITIONS_ACTIVATED] = EVENT_DEFINITIONS_ACTIVATED,
	[EVENT_T_DEFINITIONS_ROLLED_BACK] = EVENT_DEFINITIONS_ROLLED_BACK,
	[EVENT_T_DEFINITIONS_QUARANTINED] = EVENT_DEFINITIONS_QUARANTINED,
	[EVENT_T_POISON_FILE] = EVENT_POISON_FILE,
	[EVENT_T_EVENTS_DROPPED] = EVENT_EVENTS_DROPPED,
	[EVENT_T_DAEMON_STARTED] = EVENT_DAEMON_STARTED,
	[EVENT_T_DAEMON_STOPPED] = EVENT_DAEMON_STOPPED,
	[EVENT_T_ACTIVATION_RECOVERED] = EVENT_ACTIVATION_RECOVERED,
	[EVENT_T_WORKER_RETIRED] = EVENT_WORKER_RETIRED,
	[EVENT_T_LOADER_STARTED] = EVENT_LOADER_STARTED,
	[EVENT_T_LOADER_READY] = EVENT_LOADER_READY,
	[EVENT_T_LOADER_EXITED] = EVENT_LOADER_EXITED,
	[EVENT_T_UPDATE_WAITING] = EVENT_UPDATE_WAITING,
	[EVENT_T_LOADER_FALLBACK] = EVENT_LOADER_FALLBACK,
	[EVENT_T_LOADER_COLLAPSE] = EVENT_LOADER_COLLAPSE,
	[EVENT_T_LOADER_COLLAPSED] = EVENT_LOADER_COLLAPSED,
};

const char *
events_type_name(enum event_type type)
{
	return (unsigned)type < EVENT_T_COUNT ? events_type_names[type] : "";
}

enum event_type
events_type_of(const char *name)
{
	unsigned t;

	for (t = EVENT_T_NONE + 1; t < EVENT_T_COUNT; t++)
		if (strcmp(name, events_type_names[t]) == 0)
			return (enum event_type)t;
	return EVENT_T_NONE;
}

bool
events_type_is_known(const char *type)
{
	return events_type_of(type) != EVENT_T_NONE;
}

void
events_begin_type(struct event *ev, enum event_type type, int64_t now_ms)
{
	ev->type = (unsigned)type < EVENT_T_COUNT ? type : EVENT_T_NONE;
	ev->time_ms = now_ms;
	ev->nfields = 0;
	ev->lost = false;
	ev->used = 0;
}

void
events_begin(struct event *ev, const char *type, int64_t now_ms)
{
	events_begin_type(ev, type != NULL ? events_type_of(type) :
	    EVENT_T_NONE, now_ms);
}

static void events_fit_last(struct event *ev);

/* Copy up to n bytes into the data (as many as fit); their offset. */
static size_t
events_keep(struct event *ev, const char *s, size_t n, bool *cut)
{
	size_t off = ev->used, room = EVENTS_DATA_MAX - ev->used;

	*cut = n > room;
	if (n > room)
		n = room;
	if (n > 0)
		memcpy(ev->data + off, s, n);
	ev->used += n;
	return off;
}

/* key is "time", "event" (the line's own) or a field's already. */
static bool
events_has_key(const struct event *ev, const char *key, size_t klen)
{
	if ((klen == 4 && memcmp(key, "time", 4) == 0) ||
	    (klen == 5 && memcmp(key, "event", 5) == 0))
		return true;
	for (size_t i = 0; i < ev->nfields; i++)
		if (ev->field[i].klen == klen &&
		    memcmp(ev->data + ev->field[i].key, key, klen) == 0)
			return true;
	return false;
}

/* A new field with its key, or NULL (not begun, no room, or a key it
 * has already: lost). */
static struct event_field *
events_field_new(struct event *ev, const char *key, enum event_kind kind)
{
	struct event_field *f;
	size_t klen = strlen(key);
	bool cut;

	if (ev->type == EVENT_T_NONE || ev->type >= EVENT_T_COUNT)
		return NULL;
	if (events_has_key(ev, key, klen)) {
		ev->lost = true;         /* one value a key: the line stays JSON
		                          * our reader takes (no duplicate key) */
		return NULL;
	}
	if (ev->nfields == EVENTS_FIELDS_MAX ||
	    klen > EVENTS_DATA_MAX - ev->used) {
		ev->lost = true;
		return NULL;
	}
	f = &ev->field[ev->nfields++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->klen = (uint16_t)klen;
	f->key = (uint16_t)events_keep(ev, key, klen, &cut);
	f->off = (uint16_t)ev->used;
	return f;
}

void
events_add_strn(struct event *ev, const char *key, const char *value,
    size_t len)
{
	struct event_field *f = events_field_new(ev, key, EVENT_KIND_STR);

	if (f == NULL)
		return;
	if (value == NULL) {
		events_fit_last(ev);
		return;
	}
	f->off = (uint16_t)events_keep(ev, value, len, &f->cut);
	f->len = (uint16_t)(ev->used - f->off);
	events_fit_last(ev);
}

void
events_add_str(struct event *ev, const char *key, const char *value)
{
	events_add_strn(ev, key, value, value != NULL ? strlen(value) : 0);
}

void
events_add_int(struct event *ev, const char *key, int64_t value)
{
	struct event_field *f = events_field_new(ev, key, EVENT_KIND_INT);

	if (f != NULL) {
		f->num = value;
		events_fit_last(ev);
	}
}

void
events_add_bool(struct event *ev, const char *key, bool value)
{
	struct event_field *f = events_field_new(ev, key, EVENT_KIND_BOOL);

	if (f != NULL) {
		f->num = value;
		events_fit_last(ev);
	}
}

void
events_add_time(struct event *ev, const char *key, int64_t ms)
{
	char t[WALLTIME_LEN];

	walltime_format(ms, t);
	events_add_str(ev, key, t);
}

/* Items kept whole, each with its NUL; the first that does not fit is
 * the last tried. */
void
events_add_strlist(struct event *ev, const char *key,
    const char *const *items, size_t n)
{
	struct event_field *f = events_field_new(ev, key, EVENT_KIND_STRLIST);
	size_t i, l;
	bool cut;

	if (f == NULL)
		return;
	for (i = 0; i < n; i++) {
		const char *it = items[i] != NULL ? items[i] : "";

		if ((l = strlen(it) + 1) > EVENTS_DATA_MAX - ev->used) {
			f->cut = true;
			break;
		}
		events_keep(ev, it, l, &cut);
		f->n++;
	}
	f->len = (uint16_t)(ev->used - f->off);
	events_fit_last(ev);
}

static const struct event_field *
events_find(const struct event *ev, const char *key, enum event_kind kind)
{
	size_t i, klen = strlen(key);

	for (i = 0; i < ev->nfields; i++) {
		const struct event_field *f = &ev->field[i];

		if (f->kind == kind && f->klen == klen &&
		    memcmp(ev->data + f->key, key, klen) == 0)
			return f;
	}
	return NULL;
}

bool
events_get_str(const struct event *ev, const char *key, const char **value,
    size_t *len)
{
	const struct event_field *f = events_find(ev, key, EVENT_KIND_STR);

	if (f == NULL)
		return false;
	*value = ev->data + f->off;
	*len = f->len;
	return true;
}

bool
events_get_int(const struct event *ev, const char *key, int64_t *value)
{
	const struct event_field *f = events_find(ev, key, EVENT_KIND_INT);

	if (f == NULL)
		return false;
	*value = f->num;
	return true;
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

	events_begin_type(ev, EVENT_T_WORKER_EXITED, now_ms);
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

/* ---- rendering: the JSON line ---- */

/* The line being rendered; it never grows past EVENTS_BODY_MAX. */
struct events_out {
	char *buf;
	size_t len;
	bool truncated;              /* some field was cut or left out */
};

static bool
events_put(struct events_out *o, const char *s, size_t n, size_t limit)
{
	if (n > limit || o->len > limit - n)
		return false;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	return true;
}

/*
 * Append s as a JSON string (json.h's escaper, one unit at a time), the
 * whole of it within limit (closing quote included); cut between
 * characters if it does not fit.  The caller has checked that at least
 * the two quotes fit.  *raw: the bytes of s written.  False if cut.
 */
static bool
events_put_json_str(struct events_out *o, const char *s, size_t n,
    size_t limit, size_t *raw)
{
	const unsigned char *p = (const unsigned char *)s;
	char unit[JSONW_UNIT_MAX];
	size_t i = 0, used, ulen;

	events_put(o, "\"", 1, limit - 1);
	while (i < n) {
		used = jsonw_escape_unit(p, n, i, unit, &ulen);
		if (!events_put(o, unit, ulen, limit - 1))
			break;
		i += used;
	}
	*raw = i;
	o->buf[o->len++] = '"';
	return i >= n;
}

/* ,"key": with room left for at least need more bytes; else nothing. */
static bool
events_put_key(struct events_out *o, const char *key, size_t klen,
    size_t need)
{
	size_t save = o->len, raw;

	/* keys are ours and plain; 4 = , " " : */
	if (klen + 4 + need > EVENTS_BODY_MAX - o->len) {
		o->truncated = true;
		return false;
	}
	events_put(o, ",", 1, EVENTS_BODY_MAX);
	if (!events_put_json_str(o, key, klen, EVENTS_BODY_MAX - need - 1,
	    &raw)) {
		o->len = save;
		o->truncated = true;
		return false;
	}
	events_put(o, ":", 1, EVENTS_BODY_MAX);
	return true;
}

/* A list is cut between items, never inside one; the items written. */
static size_t
events_put_strlist(struct events_out *o, const char *items, size_t n)
{
	size_t i, save, l, raw;

	events_put(o, "[", 1, EVENTS_BODY_MAX - 1);
	for (i = 0; i < n; i++, items += l + 1) {
		l = strlen(items);
		save = o->len;
		if ((i > 0 && !events_put(o, ",", 1, EVENTS_BODY_MAX - 1)) ||
		    EVENTS_BODY_MAX - 1 - o->len < 2 ||
		    !events_put_json_str(o, items, l, EVENTS_BODY_MAX - 1,
		    &raw)) {
			o->len = save;
			o->truncated = true;
			break;
		}
	}
	o->buf[o->len++] = ']';
	return i;
}

/* What of a field the line took: its key at all, the bytes of a
 * string, the items of a list. */
struct events_took {
	bool keyed;
	size_t raw, items;
};

static void
events_put_field(struct events_out *o, const struct event *ev,
    const struct event_field *f, struct events_took *took)
{
	const char *key = ev->data + f->key;
	char num[24];
	size_t n;

	memset(took, 0, sizeof(*took));
	switch (f->kind) {
	case EVENT_KIND_STR:
		if ((took->keyed = events_put_key(o, key, f->klen, 2)) &&
		    !events_put_json_str(o, ev->data + f->off, f->len,
		    EVENTS_BODY_MAX, &took->raw))
			o->truncated = true;
		break;
	case EVENT_KIND_INT:
	case EVENT_KIND_BOOL:
		if (f->kind == EVENT_KIND_INT)
			n = (size_t)snprintf(num, sizeof(num), "%" PRId64,
			    f->num);
		else
			n = (size_t)snprintf(num, sizeof(num), "%s",
			    f->num != 0 ? "true" : "false");
		if ((took->keyed = events_put_key(o, key, f->klen, n)))
			events_put(o, num, n, EVENTS_BODY_MAX);
		break;
	case EVENT_KIND_STRLIST:
		if ((took->keyed = events_put_key(o, key, f->klen, 2)))
			took->items = events_put_strlist(o,
			    ev->data + f->off, f->n);
		break;
	}
	if (f->cut)
		o->truncated = true;
}

/* The line into out (EVENTS_LINE_MAX + 1 bytes); what the last field
 * took into *last.  Its length, 0 if ev was never begun. */
static size_t
events_render_took(const struct event *ev, char *out,
    struct events_took *last)
{
	struct events_out o = { out, 0, ev->lost };
	const char *type = events_type_name(ev->type);
	char t[WALLTIME_LEN];
	size_t i, raw;

	memset(last, 0, sizeof(*last));
	if (type[0] == '\0')
		return 0;
	walltime_format(ev->time_ms, t);
	events_put(&o, "{\"time\":\"", 9, EVENTS_BODY_MAX);
	events_put(&o, t, strlen(t), EVENTS_BODY_MAX);
	events_put(&o, "\",\"event\":", 10, EVENTS_BODY_MAX);
	events_put_json_str(&o, type, strlen(type), EVENTS_BODY_MAX, &raw);
	for (i = 0; i < ev->nfields; i++)
		events_put_field(&o, ev, &ev->field[i], last);
	if (o.truncated) {
		memcpy(out + o.len, EVENTS_TAIL, sizeof(EVENTS_TAIL) - 1);
		o.len += sizeof(EVENTS_TAIL) - 1;
	}
	out[o.len++] = '}';
	out[o.len++] = '\n';
	out[o.len] = '\0';
	return o.len;
}

size_t
events_render(const struct event *ev, char *out, size_t outlen)
{
	struct events_took last;

	if (outlen < EVENTS_LINE_MAX + 1)
		return 0;
	return events_render_took(ev, out, &last);
}

/*
 * Keep of the field just added only what the line has room for, so that
 * the data holds no byte the line does not show (and what follows finds
 * the room the line has): left out, a string cut, a list's items cut.
 */
static void
events_fit_last(struct event *ev)
{
	struct event_field *f = &ev->field[ev->nfields - 1];
	char line[EVENTS_LINE_MAX + 1];
	struct events_took took;
	size_t i, l;

	events_render_took(ev, line, &took);
	if (!took.keyed) {
		ev->used = f->key;
		ev->nfields--;
		ev->lost = true;
		return;
	}
	if (f->kind == EVENT_KIND_STR && took.raw < f->len) {
		f->len = (uint16_t)took.raw;
		f->cut = true;
	} else if (f->kind == EVENT_KIND_STRLIST && took.items < f->n) {
		for (i = 0, l = 0; i < took.items; i++)
			l += strlen(ev->data + f->off + l) + 1;
		f->len = (uint16_t)l;
		f->n = (uint16_t)took.items;
		f->cut = true;
	}
	ev->used = (size_t)f->off + f->len;
}

/* ---- rendering: FaultCommand's environment ---- */

/* NAME=value[0..len) up to a NUL byte of value, then a NUL; false if
 * out has no room. */
static bool
events_env_put(char *out, size_t outlen, size_t *used, const char *name,
    const char *value, size_t len)
{
	const char *nul = memchr(value, '\0', len);
	size_t nlen = strlen(name);

	if (nul != NULL)
		len = (size_t)(nul - value);
	if (nlen + 1 + len + 1 > outlen - *used)
		return false;
	memcpy(out + *used, name, nlen);
	out[*used + nlen] = '=';
	memcpy(out + *used + nlen + 1, value, len);
	*used += nlen + 1 + len;
	out[(*used)++] = '\0';
	return true;
}

size_t
events_fault_env(const struct event *ev, char *out, size_t outlen)
{
	char line[EVENTS_LINE_MAX + 1], id[24] = "";
	const char *type = events_type_name(ev->type), *name = "", *detail = "";
	size_t used = 0, n, nlen = 0, dlen = 0;
	int64_t fault;

	if (outlen < EVENTS_ENV_MAX || (n = events_render(ev, line,
	    sizeof(line))) == 0)
		return 0;
	if (events_get_int(ev, "fault", &fault))
		snprintf(id, sizeof(id), "%" PRId64, fault);
	(void)events_get_str(ev, "name", &name, &nlen);
	(void)events_get_str(ev, "detail", &detail, &dlen);
	if (!events_env_put(out, outlen, &used, "AMPSCAN_EVENT", line, n - 1) ||
	    !events_env_put(out, outlen, &used, "AMPSCAN_EVENT_TYPE", type,
	    strlen(type)) ||
	    !events_env_put(out, outlen, &used, "AMPSCAN_FAULT_ID", id,
	    strlen(id)) ||
	    !events_env_put(out, outlen, &used, "AMPSCAN_FAULT_NAME", name,
	    nlen) ||
	    !events_env_put(out, outlen, &used, "AMPSCAN_FAULT_DETAIL", detail,
	    dlen) || used == outlen)
		return 0;
	out[used++] = '\0';
	return used;
}

/* ---- the log file, and any .jsonl file of event lines ---- */

static int
events_code(int jsonl_rc)
{
	switch (jsonl_rc) {
	case JSONL_OK: return EVENTS_OK;
	case JSONL_ERR_TRIM: return EVENTS_ERR_TRIM;
	case JSONL_ERR_INVAL: return EVENTS_ERR_INVAL;
	}
	return EVENTS_ERR_IO;
}

int
events_open(struct events_log *log, const char *state_dir, char *err,
    size_t errlen)
{
	struct jsonl *j = &log->file;

	if (jsonl_prepare(j, state_dir, EVENTS_FILE_NAME, EVENTS_FILE_MODE,
	    err, errlen) != JSONL_OK)
		return EVENTS_ERR_INVAL;
	j->trim_at = EVENTS_TRIM_AT;
	j->keep = EVENTS_KEEP;
	j->trim_retry = EVENTS_TRIM_RETRY;
	return events_code(jsonl_open(j, err, errlen));
}

int
events_catch_up(struct jsonl *j, const char *noun, const char *lost_what,
    char *err, size_t errlen)
{
	struct event ev;
	char line[EVENTS_LINE_MAX + 1], detail[256];
	uint64_t lost;
	size_t len;

	if (jsonl_flush(j) != 0)
		goto fail;
	if ((lost = j->queue.dropped) == 0)
		return EVENTS_OK;
	snprintf(detail, sizeof(detail), "%" PRIu64 " %s", lost, lost_what);
	events_begin_type(&ev, EVENT_T_EVENTS_DROPPED, walltime_now_ms());
	events_add_int(&ev, "count", (int64_t)lost);
	events_add_str(&ev, "detail", detail);
	len = events_render(&ev, line, sizeof(line));
	if (jsonl_write(j, line, len) != 0)
		goto fail;
	lineq_dropped_said(&j->queue, lost);
	return EVENTS_OK;
fail:
	return str_seterr(err, errlen, EVENTS_ERR_QUEUED,
	    "%s: write: %s (%zu %s waiting)", j->path, strerror(errno),
	    lineq_pending(&j->queue), noun);
}

int
events_write(struct jsonl *j, const struct event *ev, const char *noun,
    const char *lost_what, char *err, size_t errlen)
{
	char line[EVENTS_LINE_MAX + 1];
	size_t len;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (j->path[0] == '\0')
		return str_seterr(err, errlen, EVENTS_ERR_INVAL,
		    "%s: not opened", j->name);
	if ((len = events_render(ev, line, sizeof(line))) == 0)
		return str_seterr(err, errlen, EVENTS_ERR_INVAL,
		    "%s: empty event", j->path);
	if (events_catch_up(j, noun, lost_what, err, errlen) == EVENTS_OK) {
		if (jsonl_write(j, line, len) == 0)
			return events_code(jsonl_trim(j, err, errlen));
		str_seterr(err, errlen, 0, "%s: write: %s", j->path,
		    strerror(errno));
	}
	return lineq_push(&j->queue, line, len, err, errlen) ?
	    EVENTS_ERR_QUEUED : EVENTS_ERR_DROPPED;
}

int
events_write_queued(struct jsonl *j, const char *noun,
    const char *lost_what, char *err, size_t errlen)
{
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = events_catch_up(j, noun, lost_what, err, errlen)) !=
	    EVENTS_OK)
		return rc;
	return events_code(jsonl_trim(j, err, errlen));
}

#define EVENTS_LOST "events lost while events.jsonl could not be written"

int
events_flush(struct events_log *log, char *err, size_t errlen)
{
	return events_write_queued(&log->file, "events", EVENTS_LOST, err,
	    errlen);
}

int
events_append(struct events_log *log, const struct event *ev, char *err,
    size_t errlen)
{
	return events_write(&log->file, ev, "events", EVENTS_LOST, err,
	    errlen);
}

size_t
events_pending(const struct events_log *log)
{
	return lineq_pending(&log->file.queue);
}

uint64_t
events_lost(const struct events_log *log)
{
	return log->file.queue.dropped;
}

void
events_close(struct events_log *log)
{
	jsonl_close(&log->file);
}

/* ---- classifying a line read back (json_read.h: the one reader) ---- */

bool
events_json_check(const char *s, size_t len, char *type, size_t typelen)
{
	json_t *o = jsonr_object(s, len, NULL, 0);
	const char *t;

	if (type != NULL && typelen > 0)
		type[0] = '\0';
	if (o == NULL)
		return false;
	t = jsonr_str(o, "event");
	if (t != NULL && type != NULL && typelen > 0)
		snprintf(type, typelen, "%s", t);
	json_decref(o);
	return true;
}

/* ---- reading the tail ---- */

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
		if (jsonl_pread_all(fd, chunk, n, pos) != 0)
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
