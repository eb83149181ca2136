/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A bounded file of lines in StateDir, appended one whole line at a time:
 * what events.jsonl (events.c) and exits.jsonl (exits.c) share.  This
 * module knows nothing of what the lines say.
 *
 * Opening: the file is created (with its mode, whatever the umask, and
 * the directory fsynced) if missing; it must be a regular file.  A last
 * line without its newline (torn by a crash of the machine during an
 * append) is cut off, so the file holds whole lines only.
 *
 * Appending: jsonl_write() writes a line with one write() on an O_APPEND
 * descriptor and syncs it (lineq_write(): a short write or a failed sync
 * is undone with ftruncate()).  Should that cut fail too, or the error be
 * other than ENOSPC/EDQUOT, the descriptor is closed: the next write
 * reopens the file, which cuts what a failed cut left.  A line that cannot
 * be written now is kept in the queue (jsonl_push(), lineq.h) by the
 * owner, and written first once writing works again (jsonl_flush()).
 *
 * Bounded: once the file is bigger than trim_at bytes, or holds more than
 * trim_lines lines (0: no bound on lines), it is replaced by its newest
 * lines: its last keep bytes, from the first line that starts in them,
 * and at most its last keep_lines lines (0: no such cut).  The
 * replacement goes through statefile_write() (temporary file, fsync,
 * rename, directory fsync: a crash leaves the old file or the new one),
 * then the file is reopened by name; readers holding the old one read on
 * in it.  If that fails (JSONL_ERR_TRIM; the lines are written) it is
 * tried again once the file has grown by trim_retry more bytes (0: at the
 * next write or flush); if the rename was done but the directory's fsync failed,
 * the file is reopened by name all the same.
 *
 * Errors name the file, and never leave the log unusable: a later write
 * or flush retries (reopening the file if needed).
 */
#ifndef AMPSCAN_JSONL_H
#define AMPSCAN_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lineq.h"

#define JSONL_PATH_MAX 4096
#define JSONL_NAME_MAX 64

enum jsonl_err {
	JSONL_OK = 0,
	JSONL_ERR_IO = -1,           /* a system call failed */
	JSONL_ERR_INVAL = -2,        /* a path too long, a log never prepared */
	JSONL_ERR_TRIM = -3,         /* written; cutting the file down failed */
};

struct jsonl {
	char dir[JSONL_PATH_MAX];    /* the state directory */
	char name[JSONL_NAME_MAX];   /* events.jsonl */
	char path[JSONL_PATH_MAX];   /* dir/name; "" if not prepared */
	mode_t mode;                 /* of a file created */
	int fd;                      /* -1 when closed; reopened on demand */
	size_t lines;                /* whole lines (counted if trim_lines) */
	/* the bound (see above); the owner sets it after jsonl_prepare() */
	off_t trim_at, keep, trim_retry;
	size_t trim_lines, keep_lines;
	off_t trim_after;            /* a cut failed: not again below this */
	/* lines not written yet, the lost count, the test hooks */
	struct lineq queue;
};

/* Prepare j for dir/name (not opened yet); JSONL_ERR_INVAL with err set
 * if the path is too long.  Call jsonl_close() in every case. */
int jsonl_prepare(struct jsonl *j, const char *dir, const char *name,
    mode_t mode, char *err, size_t errlen);

/* Open the file (as above), then cut it down if it is past its bound. */
int jsonl_open(struct jsonl *j, char *err, size_t errlen);

/*
 * Write line[0..len) (with its newline) and sync it, opening the file if
 * it is closed.  0, or -1 with errno set: not written, the file as it was.
 * Then call jsonl_trim().
 */
int jsonl_write(struct jsonl *j, const char *line, size_t len);

/*
 * The queued lines, oldest first, as jsonl_write() writes: 0 when none is
 * left, else -1 with errno set (the rest waits).  The dropped count stays
 * in j->queue (lineq.h): the owner says it in the file.
 */
int jsonl_flush(struct jsonl *j);

/* Cut the file down if it is past its bound: JSONL_OK (also when there
 * was nothing to do) or JSONL_ERR_TRIM with err saying why. */
int jsonl_trim(struct jsonl *j, char *err, size_t errlen);

/* n bytes at off into buf: 0, or -1 with errno set (EIO: the file
 * ended first). */
int jsonl_pread_all(int fd, char *buf, size_t n, off_t off);

/* Close the file and free the queue (lines still queued are lost). */
void jsonl_close(struct jsonl *j);

#endif
