/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Appending whole lines to a state file that may refuse them (StateDir
 * full): what events.jsonl (events.c) and exits.jsonl (exits.c) share.
 *
 * Writing: lineq_write() appends one line with a single write() on an
 * O_APPEND descriptor, then fdatasync()s it (for an append that syncs the
 * new size too).  A short write (disk full part-way) or a failed sync is
 * undone with ftruncate() back to the size before the write, so the file
 * never keeps part of a line; should the cut fail too, the caller is told
 * (torn) and repairs it its own way.
 *
 * Queueing: a line that could not be written is kept in memory with
 * lineq_push(), in order, and written with lineq_flush() before the next
 * one.  The queue is bounded (LINEQ_MAX lines, LINEQ_BYTES bytes): when it
 * is full a new line is dropped and counted (the oldest are kept: they
 * show how the trouble began).  The count (q->dropped) is the owner's to
 * say: once the queued lines are out it writes a line of its own in their
 * place (events.h: events_dropped) and calls lineq_dropped_said().
 *
 * The owner opens its file and writes one line to it (reopening, counting,
 * isolating a torn line as it needs); this module only calls it back, and
 * knows nothing of what the lines say.
 */
#ifndef AMPSCAN_LINEQ_H
#define AMPSCAN_LINEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LINEQ_MAX 256                    /* lines held while writing fails */
#define LINEQ_BYTES (256 * 1024)         /* bytes held while writing fails */

struct lineq_ent {
	char *line;                  /* malloc'd, with its newline */
	size_t len;
};

struct lineq {
	struct lineq_ent ent[LINEQ_MAX];     /* ring, oldest first */
	size_t head, count, bytes;
	uint64_t dropped;            /* lost, not yet said in the file */
	/*
	 * Test hooks, set after the owner's open: NULL means write(2) and
	 * fdatasync(2).  A test makes them fail (ENOSPC) or write short to
	 * exercise the queue and the undo.
	 */
	ssize_t (*write_fn)(void *hook_arg, int fd, const void *buf,
	    size_t len);
	int (*sync_fn)(void *hook_arg, int fd);
	void *hook_arg;
};

/*
 * Append line[0..len) to fd and sync it.  0: on disk.  -1 with errno set
 * (ENOSPC for a short write): the file was cut back to its size before
 * the write; *torn is set when that cut failed too, so part of the line
 * may be left at the end of the file.
 */
int lineq_write(const struct lineq *q, int fd, const char *line, size_t len,
    bool *torn);

/*
 * Keep a copy of line[0..len) at the end of the queue: true.  False when
 * the queue is full (or out of memory): the line is dropped and counted,
 * and when err holds the reason it could not be written (err may be NULL)
 * "; dropped, queue full (N lost)" is added to it.
 */
bool lineq_push(struct lineq *q, const char *line, size_t len, char *err,
    size_t errlen);

/*
 * Write the queued lines, oldest first, each with put(arg, line, len)
 * (0 once it is on disk, else -1 with errno set and the file as it was),
 * removing each once written.  Stops at the first failure, keeping the
 * rest for the next call.  Returns 0 when nothing is left, else -1 with
 * errno of the failed write.  Lines dropped are still in q->dropped: the
 * owner says so in the file, then calls lineq_dropped_said().
 */
int lineq_flush(struct lineq *q, int (*put)(void *arg, const char *line,
    size_t len), void *arg);

/* n of the dropped lines are now said in the file: no longer counted. */
void lineq_dropped_said(struct lineq *q, uint64_t n);

/* Lines waiting in memory. */
size_t lineq_pending(const struct lineq *q);

/* Free the queued lines (they are lost); the dropped count stays. */
void lineq_clear(struct lineq *q);

#endif
