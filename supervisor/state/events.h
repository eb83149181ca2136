/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Events: state/events.jsonl, one JSON object a line (docs/state.md "Events").
 *
 *   {"time":"2026-11-23T22:17:05.123Z","event":"fault_raised","fault":6,
 *    "name":"Scan Service Restarting Frequently","detail":"...","pid":1234}
 *
 * Every line starts with "time" (ISO-8601 UTC, milliseconds, Z) and "event"
 * (the type).  The fields of each type, fixed here so that ampctl and diag
 * can rely on them:
 *
 *   fault_raised           fault, name, detail, pid (of a process concerned)
 *   fault_cleared          fault, name, detail
 *   intervention_required  fault, name, detail, since (when it was raised)
 *   worker_started         pid, user
 *   worker_ready           pid, version, definitions (list)
 *   worker_exited          pid, exit_code | signal ("SIGSEGV"), core_dumped,
 *                          uptime_ms, files (list: in flight when it died);
 *                          events_worker_exited() builds it
 *   worker_retired         pid, worker, reason ("memory": WorkerMemoryLimit),
 *                          private_bytes, rss_bytes, limit_bytes, scans
 *   definitions_rejected   file, reason
 *   definitions_deleted    file, reason
 *   definitions_activated  versions (list, "daily:27432")
 *   definitions_rolled_back  versions (list), reason
 *   poison_file            path, device, inode, size, mtime, sha256, crashes
 *   events_dropped         count, detail: written by events_catch_up() when
 *                          the in-memory queue of events.jsonl (or of
 *                          exits.jsonl, exits.h) overflowed while the disk
 *                          was full
 *
 * Building: events_begin() (by name) or events_begin_type(), then
 * events_add_*(): an event is its type and typed fields (struct event, no
 * allocation, ~5 KiB, fine on the stack), rendered only where it leaves
 * the daemon: the JSON line (events_render()) and FaultCommand's
 * environment (events_fault_env()); nothing parses a rendered line back.
 * A line is at most EVENTS_LINE_MAX bytes, newline included: a field that
 * does not fit is cut (a string at a character boundary, a list between
 * items) or left out, and the line then ends with "truncated":true.  It
 * is always a complete, valid JSON object.  The event keeps of each field
 * only what its line shows, so the fields read back (events_get_*()) are
 * cut the same way.
 *
 * Strings are escaped by the one JSON writer (json.h, a unit at a time
 * so that a field can be cut at a character boundary): quote, backslash
 * and control characters escaped, valid UTF-8 passed through, and each
 * byte that is not part of valid UTF-8 written as \udcNN, which
 * json_read.h (and Python's surrogateescape) turn back into the byte.
 * FaultCommand's environment gets the bytes as given.
 *
 * Writing: events_append() writes the line with a single write() on an
 * O_APPEND descriptor, then fdatasync()s it (lineq_write()).  Durability
 * choice: an event is on disk when events_append() returns EVENTS_OK.
 * Events are rare (worker restarts are rate-limited by the backoff), so a
 * sync per line costs nothing that matters, and a crash loop's own
 * timeline must survive the power cut or kernel panic it may end in.
 *
 * Nothing torn: a short write (disk full part-way) or a failed sync is
 * undone with ftruncate() back to the size before the write.  Should that
 * fail too, the file is closed, and reopening it cuts what is left, as it
 * cuts a last line without its newline (a line torn by an earlier crash
 * of the machine): jsonl.h, shared with exits.jsonl.
 *
 * Disk full (or any failure to write): the line is kept in a bounded
 * in-memory queue (lineq.h: EVENTS_QUEUE_MAX lines, EVENTS_QUEUE_BYTES
 * bytes) and written, in order, before the next line that can be written;
 * call events_flush() from a timer so events resume even when nothing new
 * happens.  When the queue is full new lines are dropped (the oldest are
 * kept: they show how the trouble began) and counted; once writing works
 * again an "events_dropped" line says how many were lost.
 */
#ifndef AMPSCAN_EVENTS_H
#define AMPSCAN_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jsonl.h"
#include "lineq.h"
#include "walltime.h"

#define EVENTS_FILE_NAME "events.jsonl"
#define EVENTS_LINE_MAX 4096             /* bytes in a line, newline included */
#define EVENTS_QUEUE_MAX LINEQ_MAX       /* lines held while writing fails */
#define EVENTS_QUEUE_BYTES LINEQ_BYTES   /* bytes held while writing fails */
#define EVENTS_TAIL_MAX 100000           /* max_lines of events_read_tail */
#define EVENTS_PATH_MAX 4096
#define EVENTS_FILE_MODE 0640
#define EVENTS_TRIM_AT (16L << 20)        /* bigger than this: cut down... */
#define EVENTS_KEEP (8L << 20)            /* ...to its newest lines, this much */
#define EVENTS_TRIM_RETRY (1L << 20)      /* growth before a failed cut is retried */

#define EVENT_FAULT_RAISED "fault_raised"
#define EVENT_FAULT_CLEARED "fault_cleared"
#define EVENT_INTERVENTION_REQUIRED "intervention_required"
#define EVENT_WORKER_STARTED "worker_started"
#define EVENT_WORKER_READY "worker_ready"
#define EVENT_WORKER_EXITED "worker_exited"
#define EVENT_DEFINITIONS_REJECTED "definitions_rejected"
#define EVENT_DEFINITIONS_DELETED "definitions_deleted"
#define EVENT_DEFINITIONS_ACTIVATED "definitions_activated"
#define EVENT_DEFINITIONS_ROLLED_BACK "definitions_rolled_back"
#define EVENT_DEFINITIONS_QUARANTINED "definitions_quarantined"
#define EVENT_POISON_FILE "poison_file"
#define EVENT_DAEMON_STARTED "daemon_started"
#define EVENT_DAEMON_STOPPED "daemon_stopped"
#define EVENT_ACTIVATION_RECOVERED "activation_recovered"
#define EVENT_EVENTS_DROPPED "events_dropped"
#define EVENT_WORKER_RETIRED "worker_retired"
#define EVENT_LOADER_STARTED "loader_started"
#define EVENT_LOADER_READY "loader_ready"
#define EVENT_LOADER_EXITED "loader_exited"
#define EVENT_UPDATE_WAITING "update_waiting"
#define EVENT_LOADER_FALLBACK "loader_fallback"
#define EVENT_LOADER_COLLAPSE "loader_collapse"
#define EVENT_LOADER_COLLAPSED "loader_collapsed"

enum events_err {
	EVENTS_OK = 0,
	EVENTS_ERR_IO = -1,          /* a system call failed */
	EVENTS_ERR_QUEUED = -2,      /* not written now; kept in memory */
	EVENTS_ERR_DROPPED = -3,     /* not written, queue full: lost */
	EVENTS_ERR_INVAL = -4,       /* an empty event, or no path set */
	EVENTS_ERR_NOENT = -5,       /* read_tail: no events file */
	EVENTS_ERR_TRIM = -6,        /* written; cutting the file down failed */
};

const char *events_strerror(int code);

/* ---- building one event ---- */

/* The types listed at the top of this file; EVENT_T_NONE: not begun. */
enum event_type {
	EVENT_T_NONE = 0,
	EVENT_T_FAULT_RAISED,
	EVENT_T_FAULT_CLEARED,
	EVENT_T_INTERVENTION_REQUIRED,
	EVENT_T_WORKER_STARTED,
	EVENT_T_WORKER_READY,
	EVENT_T_WORKER_EXITED,
	EVENT_T_DEFINITIONS_REJECTED,
	EVENT_T_DEFINITIONS_DELETED,
	EVENT_T_DEFINITIONS_ACTIVATED,
	EVENT_T_DEFINITIONS_ROLLED_BACK,
	EVENT_T_DEFINITIONS_QUARANTINED,
	EVENT_T_POISON_FILE,
	EVENT_T_EVENTS_DROPPED,
	EVENT_T_DAEMON_STARTED,
	EVENT_T_DAEMON_STOPPED,
	EVENT_T_ACTIVATION_RECOVERED,
	EVENT_T_WORKER_RETIRED,
	EVENT_T_LOADER_STARTED,
	EVENT_T_LOADER_READY,
	EVENT_T_LOADER_EXITED,
	EVENT_T_UPDATE_WAITING,
	EVENT_T_LOADER_FALLBACK,
	EVENT_T_LOADER_COLLAPSE,
	EVENT_T_LOADER_COLLAPSED,
	EVENT_T_COUNT
};

enum event_kind {
	EVENT_KIND_STR,              /* bytes, any */
	EVENT_KIND_INT,
	EVENT_KIND_BOOL,
	EVENT_KIND_STRLIST,          /* C strings */
};

#define EVENTS_FIELDS_MAX 24         /* fields of an event; more: left out */
/*
 * Room for the keys and values of an event, raw.  Each raw byte takes at
 * least one byte of the line, so what does not fit here would not fit in
 * a line either; the few bytes over EVENTS_LINE_MAX let a value cut here
 * still be cut in the line where it would have been.
 */
#define EVENTS_DATA_MAX (EVENTS_LINE_MAX + 16)

struct event_field {
	enum event_kind kind;
	uint16_t key, klen;          /* the key: data[key..key+klen) */
	uint16_t off, len;           /* str: the bytes; strlist: the items,
	                              * each followed by a NUL */
	uint16_t n;                  /* strlist: items kept */
	bool cut;                    /* the value did not fit in data */
	int64_t num;                 /* int; bool: 0 or 1 */
};

/*
 * An event: its type and its typed fields, in the order added.  It
 * becomes text only where it leaves the daemon: events_render() (the
 * JSON line of events.jsonl, exits.jsonl, `ampctl events --follow`, the
 * log) and events_fault_env() (FaultCommand's environment).
 */
struct event {
	enum event_type type;
	int64_t time_ms;
	size_t nfields;
	bool lost;                   /* a field found no room: left out */
	struct event_field field[EVENTS_FIELDS_MAX];
	size_t used;                 /* bytes of data */
	char data[EVENTS_DATA_MAX];
};

/* Start ev: its type and "time" from now_ms.  Resets ev. */
void events_begin_type(struct event *ev, enum event_type type,
    int64_t now_ms);
/* The same by name (EVENT_FAULT_RAISED, ...); a name that is not one of
 * them leaves ev not begun (nothing is added, nothing rendered). */
void events_begin(struct event *ev, const char *type, int64_t now_ms);
/* Add a field; keys are ours (plain ASCII).  Never fail: see truncation.
 * A key the event has already (or "time", "event") is not added again:
 * the event is marked as having lost a field. */
void events_add_str(struct event *ev, const char *key, const char *value);
/* value[0..len): for bytes that are not NUL-terminated. */
void events_add_strn(struct event *ev, const char *key, const char *value,
    size_t len);
void events_add_int(struct event *ev, const char *key, int64_t value);
void events_add_bool(struct event *ev, const char *key, bool value);
void events_add_strlist(struct event *ev, const char *key,
    const char *const *items, size_t n);
/* Add "time"-style field: ISO-8601 of ms. */
void events_add_time(struct event *ev, const char *key, int64_t ms);

/* "fault_raised" for EVENT_T_FAULT_RAISED; "" for none. */
const char *events_type_name(enum event_type type);
/* The type of a name; EVENT_T_NONE if it is not one of ours. */
enum event_type events_type_of(const char *name);

/*
 * The first field named key of kind str: its bytes (not NUL-terminated)
 * into *value, *len; false if there is none.
 */
bool events_get_str(const struct event *ev, const char *key,
    const char **value, size_t *len);
/* The first field named key of kind int into *value; false if none. */
bool events_get_int(const struct event *ev, const char *key, int64_t *value);

/* "SIGSEGV" (or "SIG77" for a number without a name) into buf; buf. */
const char *events_signal_name(int sig, char *buf, size_t len);

/*
 * worker_exited from a wait status: exit_code, or signal (its name) and
 * core_dumped; uptime_ms; the files in flight.
 */
void events_worker_exited(struct event *ev, int64_t now_ms, pid_t pid,
    int wstatus, int64_t uptime_ms, const char *const *files, size_t nfiles);

/*
 * The JSON line (with its newline) into out; returns its length, or 0
 * if ev was never begun or outlen < EVENTS_LINE_MAX + 1.  out is
 * NUL-terminated (for logging).  Truncation as above: the fields in the
 * order added, each cut or left out when the line has no room left.
 */
size_t events_render(const struct event *ev, char *out, size_t outlen);

/*
 * FaultCommand's environment for ev, into out: "NAME=value" strings, each
 * NUL-terminated, one after another, then an empty one:
 *   AMPSCAN_EVENT         the JSON line (events_render(), no newline)
 *   AMPSCAN_EVENT_TYPE    its type
 *   AMPSCAN_FAULT_ID      "fault" (decimal; empty without one)
 *   AMPSCAN_FAULT_NAME    "name"
 *   AMPSCAN_FAULT_DETAIL  "detail"
 * The values are the bytes given to events_add_*(), not escaped: a
 * detail with quotes, a backslash, a tab or any non-ASCII byte arrives as
 * it was (an environment cannot hold a NUL byte: a value ends at its
 * first).  Returns the bytes used (with the last NUL), or 0 if ev was
 * never begun or outlen < EVENTS_ENV_MAX.
 */
#define EVENTS_ENV_MAX (2 * EVENTS_LINE_MAX + EVENTS_DATA_MAX + 128)
#define EVENTS_ENV_VARS 5
size_t events_fault_env(const struct event *ev, char *out, size_t outlen);

/* ---- the log file ---- */

struct events_log {
	/* state_dir/events.jsonl: its descriptor, its bound (EVENTS_TRIM_AT,
	 * EVENTS_KEEP; tests make them small), the lines not written yet,
	 * the lost count, the test hooks (set them after events_open()) */
	struct jsonl file;
};

/*
 * Prepare log for state_dir/events.jsonl and open it (jsonl.h: created
 * 0640 if missing, a torn last line cut, cut down if too big).  If opening
 * fails the error is returned but log is usable: appends queue and retry
 * the open.  Call events_close() in every case.
 *
 * Bounded: once the file is bigger than EVENTS_TRIM_AT after a write, it
 * is replaced by its last EVENTS_KEEP bytes, from the first line that
 * starts in them (jsonl.h).  If that fails (EVENTS_ERR_TRIM: the line
 * itself is written), it is tried again once the file has grown by
 * EVENTS_TRIM_RETRY more.
 */
int events_open(struct events_log *log, const char *state_dir, char *err,
    size_t errlen);

/*
 * Write ev (after any queued lines) and sync it.  EVENTS_OK: it and every
 * queued line are on disk.  EVENTS_ERR_QUEUED: kept in memory, err says
 * why the write failed.  EVENTS_ERR_DROPPED: lost (counted).
 * EVENTS_ERR_TRIM: written, but the file could not be cut down (above).
 * Never blocks on anything but the disk.
 */
int events_append(struct events_log *log, const struct event *ev, char *err,
    size_t errlen);

/* Write queued lines; EVENTS_OK when none are left (EVENTS_ERR_TRIM:
 * none are, but the file could not be cut down). */
int events_flush(struct events_log *log, char *err, size_t errlen);

/* Lines waiting in memory. */
size_t events_pending(const struct events_log *log);

/* Lines lost (the queue was full) that no events_dropped line says yet. */
uint64_t events_lost(const struct events_log *log);

/* Close the file and free the queue (lines still queued are lost). */
void events_close(struct events_log *log);

/*
 * Any .jsonl file of event lines (this one, exits.jsonl): what
 * events_append() and events_flush() do, for j.  noun names its lines in
 * messages ("events": "(3 events waiting)"); lost_what ends the detail of
 * its events_dropped line.
 *
 * events_write(): ev rendered and written after the queued lines, or
 * queued; the file cut down after.  EVENTS_OK, _QUEUED, _DROPPED, _TRIM,
 * _INVAL (j never prepared, ev never begun).
 *
 * events_write_queued(): the queued lines, then the file cut down.
 *
 * events_catch_up(): the queued lines written out (jsonl_flush()), then,
 * if lines were dropped, an events_dropped line in their place whose
 * detail is "N lost_what" ("3 worker exits lost while exits.jsonl could
 * not be written").  EVENTS_OK when all is written, else
 * EVENTS_ERR_QUEUED with err saying why (the rest waits).
 */
int events_write(struct jsonl *j, const struct event *ev, const char *noun,
    const char *lost_what, char *err, size_t errlen);
int events_write_queued(struct jsonl *j, const char *noun,
    const char *lost_what, char *err, size_t errlen);
int events_catch_up(struct jsonl *j, const char *noun,
    const char *lost_what, char *err, size_t errlen);

/* ---- reading (ampctl events, diag) ---- */

enum events_line_status {
	EVENTS_LINE_OK = 0,
	EVENTS_LINE_TORN,            /* last, no newline: crash or being written */
	EVENTS_LINE_BAD_JSON,        /* not a JSON object with "event" */
	EVENTS_LINE_UNKNOWN_TYPE,    /* valid, an event type we do not know */
	EVENTS_LINE_TOO_LONG,        /* past EVENTS_LINE_MAX; text is cut */
};

struct events_line {
	const char *text;            /* NUL-terminated, without the newline */
	size_t len;
	off_t offset;                /* of the line in the file */
	enum events_line_status status;
	const char *type;            /* the "event" value ("" if none) */
};

/* True for the types listed at the top of this file. */
bool events_type_is_known(const char *type);

/* Name of a line status, for messages: "ok", "torn", ... */
const char *events_line_status_name(enum events_line_status st);

/*
 * Call cb for each of the last max_lines non-empty lines of path (at most
 * EVENTS_TAIL_MAX), oldest first.  Damaged lines are passed with their
 * status, never fatal.  cb returning non-zero stops the walk, and that
 * value is returned.  Memory used is bounded (a read chunk and a line),
 * whatever the file holds.  Returns 0, or a negative events_err with err
 * set (EVENTS_ERR_NOENT: no file yet).
 */
int events_read_tail(const char *path, size_t max_lines,
    int (*cb)(void *arg, const struct events_line *line), void *arg,
    char *err, size_t errlen);

/*
 * Validate one line as a JSON object (json_read.h's strict reader) and
 * copy its top-level "event" string into type (empty if absent or cut
 * to typelen).  Exposed for tests
 * and ampctl --follow.
 */
bool events_json_check(const char *s, size_t len, char *type, size_t typelen);

#endif
