/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan log (docs/logging.md): each result of the scan socket as a line
 * of ampdaemon.log, in clamd's shape with the client's uid after it:
 *
 *   /srv/x: Eicar-Test-Signature FOUND (uid 1000)              always
 *   instream(local): Eicar-Test-Signature FOUND (uid 1000)     INSTREAM
 *   /srv/y: Access denied. ERROR (uid 1000)                    always
 *   /srv/z: OK (uid 1000)                                      LogClean yes
 *
 * With LogVerbose yes the parenthesis also holds the client's pid, the
 * command (and session id), the worker's slot and the milliseconds spent
 * waiting for a worker and scanning ("cache" for a verdict of the clean-
 * file cache).  All at level info.  dlog() escapes the control characters
 * of the line, so a file name can never start another line.
 */
#ifndef AMPSCAN_SCANLOG_H
#define AMPSCAN_SCANLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* clamd's name of a stream from a local (unix socket) client */
#define SCANLOG_STREAM_LOCAL "instream(local)"
#define SCANLOG_LINE_MAX 4096

enum scanlog_verdict { SCANLOG_OK, SCANLOG_FOUND, SCANLOG_ERROR };

/* Who asked and how; the same for every line of one command. */
struct scanlog_client {
	uid_t uid;
	pid_t pid;                       /* 0: unknown */
	const char *cmd;                 /* "SCAN", "INSTREAM", ... */
	unsigned session_id;             /* 0: not in a session */
};

/* How the request went (scan_req's log fields); -1: does not apply. */
struct scanlog_timing {
	int slot;                        /* the worker that answered */
	bool cached;                     /* the clean-file cache answered */
	int64_t queued_us, scan_us;
};

struct scanlog_line {
	const char *name;                /* the path, instream(local), fd's path */
	enum scanlog_verdict verdict;
	const char *text;                /* FOUND: the signature; ERROR: why */
	const struct scanlog_client *client;
	const struct scanlog_timing *timing;   /* NULL: not verbose */
};

/*
 * The line's text (without a newline, not yet escaped: dlog does that)
 * into buf; cut at len - 1 bytes.  Returns what snprintf would.
 */
int scanlog_format(char *buf, size_t len, const struct scanlog_line *l);

struct daemon;
struct scan_req;
struct wproto_result;
/*
 * The result of req (res, or NULL with error) for the client: one line per
 * signature reported (allmatch: all of them, else the first), an ERROR
 * line, or, with LogClean, the OK line.  name: what the log calls the
 * file (req->name, or the stream's or descriptor's name).
 */
void scanlog_result(struct daemon *d, const struct scanlog_client *cl,
    const struct scan_req *req, const char *name,
    const struct wproto_result *res, const char *error, bool allmatch);

/* Monotonic microseconds, for scan_req's times. */
int64_t scanlog_now_us(void);

#endif
