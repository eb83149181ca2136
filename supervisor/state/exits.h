/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The record of worker exits: state/exits.jsonl, one JSON line per exit,
 * the crash history that `ampctl diag` reads even when ampdaemon is down.
 *
 * A line is the worker_exited event of events.h, built by the caller with
 * events_worker_exited() plus these fields:
 *
 *   "kind"    EXITS_KIND_CRASH | EXITS_KIND_START_FAILURE | EXITS_KIND_STOPPED
 *   "worker"  the slot number
 *   "uid"     the uid it ran as
 *
 * Bounded: the file keeps the last EXITS_KEEP lines.  A line is appended
 * with one write() on an O_APPEND descriptor, then synced (lineq_write());
 * once the file holds more than EXITS_TRIM_AT lines it is rewritten with
 * its last EXITS_KEEP lines through statefile_write() (temporary file,
 * fsync, rename, fsync of the directory) and reopened.  So the file holds
 * between the last EXITS_KEEP and EXITS_TRIM_AT lines (up to
 * EXITS_QUEUE_MAX more for the moment between writing queued lines and
 * the rewrite that follows), and a kill -9 or a power cut at any instant
 * leaves the old file or the new one, never a torn one.  A kill between
 * the append and the rewrite leaves more than EXITS_TRIM_AT lines; the
 * next exits_open() trims them.
 *
 * Nothing torn: a failed or short write is undone with ftruncate(), and
 * exits_open() cuts a last line without its newline (a crash of the
 * machine during an append) before counting.  The file code (open,
 * append, rewrite, reopen) is jsonl.h's, shared with events.jsonl.
 *
 * Disk full (or any failure to open or write): the line is kept in a
 * bounded in-memory queue (lineq.h: EXITS_QUEUE_MAX lines) and written, in
 * order, before the next line that can be written; call exits_flush() from
 * a timer so the record catches up even when no worker exits.  When the
 * queue is full new lines are dropped and counted; once writing works
 * again an events_dropped line (events.h: "count", "detail") takes their
 * place.  So a line of the file is either a worker_exited line or, rarely,
 * an events_dropped line standing for "count" exits that are missing
 * there; readers must look at "event" (diag.c does).
 *
 * Errors never abort anything: they are returned with a message naming
 * the file, and the next append or flush retries (reopening the file if
 * needed).  Read the file back with events_read_tail().
 */
#ifndef AMPSCAN_EXITS_H
#define AMPSCAN_EXITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "lineq.h"

#define EXITS_FILE_NAME "exits.jsonl"
#define EXITS_KEEP 1000                  /* lines kept by a rewrite */
#define EXITS_TRIM_AT (2 * EXITS_KEEP)   /* more lines than this: rewrite */
#define EXITS_FILE_MODE 0640
#define EXITS_PATH_MAX 4096
/* The most bytes a rewrite keeps: EXITS_KEEP lines of the longest kind. */
#define EXITS_REWRITE_MAX ((size_t)EXITS_KEEP * EVENTS_LINE_MAX)
#define EXITS_QUEUE_MAX LINEQ_MAX        /* lines held while writing fails */
/* Bigger than EXITS_TRIM_AT of our lines: cut down without counting. */
#define EXITS_TRIM_BYTES ((off_t)(EXITS_TRIM_AT + 1) * EVENTS_LINE_MAX)

#define EXITS_KIND_CRASH "crash"
#define EXITS_KIND_START_FAILURE "start_failure"
#define EXITS_KIND_STOPPED "stopped"
/* a worker that found its definitions changing under it (an activation):
 * neither a crash nor a start failure; started again at once */
#define EXITS_KIND_DEFS_CHANGED "defs_changed"
/* a loader's exit (WorkerLaunch loader, docs/loader.md): after READY and
 * not asked (counts toward CrashThreshold), before READY, or as asked */
#define EXITS_KIND_LOADER_CRASH "loader_crash"
#define EXITS_KIND_LOADER_START_FAILURE "loader_start_failure"
#define EXITS_KIND_LOADER_STOPPED "loader_stopped"
/* a loader started beside the first definitions check (loader.c,
 * loader_early_start) that exited before the check ended: it counts for
 * nothing; a loader starts after the check */
#define EXITS_KIND_LOADER_EARLY "loader_early_exit"
/* a loader that found no Landlock: the workers are exec'd instead */
#define EXITS_KIND_LOADER_NO_LANDLOCK "loader_no_landlock"

enum exits_err {
	EXITS_OK = 0,
	EXITS_ERR_IO = -1,           /* open: a system call failed */
	EXITS_ERR_INVAL = -2,        /* an empty event, a path too long */
	EXITS_ERR_TRIM = -3,         /* the line is written; the rewrite failed */
	EXITS_ERR_NOMEM = -4,
	EXITS_ERR_QUEUED = -5,       /* not written now; kept in memory */
	EXITS_ERR_DROPPED = -6,      /* not written, queue full: lost (counted) */
};

const char *exits_strerror(int code);

struct exits_log {
	/* state_dir/exits.jsonl (jsonl.h): its descriptor, its bound
	 * (EXITS_TRIM_AT lines or EXITS_TRIM_BYTES, cut to EXITS_KEEP lines
	 * and at most EXITS_REWRITE_MAX bytes), its complete lines
	 * (file.lines), the queue and test hooks (set after exits_open()) */
	struct jsonl file;
};

/*
 * Prepare log for state_dir/exits.jsonl and open it (created 0640 if
 * missing): a torn last line is cut, the lines are counted, and a file of
 * more than EXITS_TRIM_AT lines is trimmed.  Returns EXITS_OK or a negative
 * exits_err with err naming the file; log is usable either way (appends
 * retry the open).  Call exits_close() in every case.
 */
int exits_open(struct exits_log *log, const char *state_dir, char *err,
    size_t errlen);

/*
 * Append ev (rendered by events_render()) as one line, after any queued
 * lines, and sync it; trim the file when it now holds more than
 * EXITS_TRIM_AT lines.  EXITS_OK: it and every queued line are on disk.
 * EXITS_ERR_TRIM: they are on disk but the rewrite failed (retried by the
 * next append or flush).  EXITS_ERR_QUEUED: kept in memory, err says why
 * it could not be written.  EXITS_ERR_DROPPED: lost (counted).
 * EXITS_ERR_INVAL: an empty event or a log never prepared.  Whatever
 * fails, the file is left without a torn line.
 */
int exits_append(struct exits_log *log, const struct event *ev, char *err,
    size_t errlen);

/*
 * Write the queued lines (then the events_dropped line if some were lost)
 * and trim the file if it now holds too many.  EXITS_OK when none are
 * left; EXITS_ERR_QUEUED (some still wait) or EXITS_ERR_TRIM as above.
 */
int exits_flush(struct exits_log *log, char *err, size_t errlen);

/* Lines waiting in memory. */
size_t exits_pending(const struct exits_log *log);

/* Lines lost (the queue was full) that no events_dropped line says yet. */
uint64_t exits_lost(const struct exits_log *log);

/* Close the file and free the queue (lines still queued are lost); log
 * may be opened again. */
void exits_close(struct exits_log *log);

#endif
