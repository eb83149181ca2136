/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampdaemon's log: LogDir/ampdaemon.log, one line per message,
 *   2026-11-24T00:21:33.123Z ampdaemon[1234]: warning: message
 * appended with one write() (lines never interleave), mirrored to stderr
 * in the foreground, reopened on SIGHUP (logrotate).  A log that cannot be
 * written costs nothing but the message: the service goes on.
 *
 * When stderr is journald's stream (systemd sets JOURNAL_STREAM to its
 * device:inode), the stderr copy is "<N>level: message" instead: journald
 * takes the priority from the <N> (3 error, 4 warning, 6 info, 7 debug),
 * so `journalctl -p warning` finds our warnings, and it keeps its own
 * time and pid.
 *
 * A message is always one line: its control characters (a file name's
 * newline above all) are written escaped, as the scan socket's replies
 * write them: \n, \r, \t, \xNN for the others and DEL.  Bytes from
 * 0x80 up pass unchanged; a backslash stays a backslash.
 */
#ifndef AMPSCAN_DLOG_H
#define AMPSCAN_DLOG_H

#include <stdbool.h>
#include <stddef.h>

#define DLOG_LINE_MAX 4096
#define DLOG_NAME "ampdaemon.log"
#define DLOG_WORKERS_NAME "ampscansvc.log"

enum dlog_level { DLOG_DEBUG, DLOG_INFO, DLOG_WARNING, DLOG_ERROR };

struct dlog {
	char path[4096];
	int fd;                 /* -1: not open (messages go to stderr only) */
	bool to_stderr;
	bool journal;           /* stderr is journald's stream: <N> prefixes */
	unsigned failures;      /* writes lost since the last success */
};

/* Whether fd is the stream named by JOURNAL_STREAM ("DEV:INO"). */
bool dlog_fd_is_journal(int fd);

/* Open LogDir/ampdaemon.log (created 0640); err says why it failed. */
int dlog_open(struct dlog *l, const char *log_dir, bool to_stderr, char *err,
    size_t errlen);
/* Another file of LogDir (ampscansvc.log), the same way. */
int dlog_open_named(struct dlog *l, const char *log_dir, const char *name,
    bool to_stderr, char *err, size_t errlen);
/* Reopen after rotation; the old fd is closed only once the new one is open. */
int dlog_reopen(struct dlog *l);
void dlog_close(struct dlog *l);

/* The longest escape of one byte ("\\xNN"). */
#define DLOG_ESCAPE_MAX 4
/*
 * src with its control characters escaped (above) into dst, cut before an
 * escape or a byte that would not fit; always NUL-terminated when dstlen
 * > 0.  Returns the bytes written, the NUL not counted.
 */
size_t dlog_escape(char *dst, size_t dstlen, const char *src);

void dlog(struct dlog *l, enum dlog_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
