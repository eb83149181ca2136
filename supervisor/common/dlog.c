/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ampdaemon's log file. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlog.h"
#include "num.h"
#include "statefile.h"
#include "walltime.h"

static const char *const dlog_levels[] = { "debug", "info", "warning", "error" };
/* syslog priorities of the levels, for journald's <N> prefix */
static const char dlog_prio[] = { '7', '6', '4', '3' };

/* A decimal number at *p (num_u64 with NUM_CANONICAL), moved past it. */
static bool
dlog_parse_num(const char **p, uint64_t *out)
{
	size_t n = strspn(*p, "0123456789");

	if (num_u64(*p, n, NUM_CANONICAL, out) != NUM_OK)
		return false;
	*p += n;
	return true;
}

bool
dlog_fd_is_journal(int fd)
{
	const char *p = getenv("JOURNAL_STREAM");
	uint64_t dev, ino;
	struct stat st;

	if (p == NULL || !dlog_parse_num(&p, &dev) || *p++ != ':' ||
	    !dlog_parse_num(&p, &ino) || *p != '\0' || fstat(fd, &st) != 0)
		return false;
	return (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

static int
dlog_open_fd(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    O_NOCTTY, 0640);
}

int
dlog_open(struct dlog *l, const char *log_dir, bool to_stderr, char *err,
    size_t errlen)
{
	return dlog_open_named(l, log_dir, DLOG_NAME, to_stderr, err, errlen);
}

int
dlog_open_named(struct dlog *l, const char *log_dir, const char *name,
    bool to_stderr, char *err, size_t errlen)
{
	l->fd = -1;
	l->to_stderr = to_stderr;
	l->journal = dlog_fd_is_journal(STDERR_FILENO);
	l->failures = 0;
	if ((size_t)snprintf(l->path, sizeof(l->path), "%s/%s", log_dir,
	    name) >= sizeof(l->path)) {
		snprintf(err, errlen, "%s: path too long", log_dir);
		return -1;
	}
	if ((l->fd = dlog_open_fd(l->path)) < 0) {
		snprintf(err, errlen, "%s: %s", l->path, strerror(errno));
		return -1;
	}
	return 0;
}

int
dlog_reopen(struct dlog *l)
{
	int fd = dlog_open_fd(l->path);

	if (fd < 0)
		return -1;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = fd;
	return 0;
}

void
dlog_close(struct dlog *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

size_t
dlog_escape(char *dst, size_t dstlen, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t n = 0, k;
	char esc[DLOG_ESCAPE_MAX + 1];

	if (dstlen == 0)
		return 0;
	for (; *p != '\0'; p++) {
		if (*p >= 0x20 && *p != 0x7f) {
			esc[0] = (char)*p;
			esc[1] = '\0';
		} else if (*p == '\n') {
			memcpy(esc, "\\n", 3);
		} else if (*p == '\r') {
			memcpy(esc, "\\r", 3);
		} else if (*p == '\t') {
			memcpy(esc, "\\t", 3);
		} else {
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
		}
		k = strlen(esc);
		if (n + k >= dstlen)
			break;   /* never half an escape */
		memcpy(dst + n, esc, k);
		n += k;
	}
	dst[n] = '\0';
	return n;
}

void
dlog(struct dlog *l, enum dlog_level lvl, const char *fmt, ...)
{
	char line[DLOG_LINE_MAX], msg[DLOG_LINE_MAX], when[WALLTIME_LEN];
	int saved = errno;
	va_list ap;
	int n, head;

	walltime_format(walltime_now_ms(), when);
	n = snprintf(line, sizeof(line), "%s ampdaemon[%d]: %s: ", when,
	    (int)getpid(), dlog_levels[lvl]);
	head = n - (int)strlen(dlog_levels[lvl]) - 2;   /* where "level: " starts */
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	/* one message, one line: a file name's newline cannot forge another */
	n += (int)dlog_escape(line + n, sizeof(line) - (size_t)n - 1, msg);
	line[n++] = '\n';
	if (l->fd >= 0) {
		if (write(l->fd, line, (size_t)n) == n)
			l->failures = 0;
		else
			l->failures++;
	}
	if (l->to_stderr || l->fd < 0) {
		ssize_t w;

		if (l->journal) {
			/* "<N>" over the end of the time stamp: one write still */
			head -= 3;
			line[head] = '<';
			line[head + 1] = dlog_prio[lvl];
			line[head + 2] = '>';
			w = write(STDERR_FILENO, line + head, (size_t)(n - head));
		} else {
			w = write(STDERR_FILENO, line, (size_t)n);
		}
		(void)w;
	}
	errno = saved;
}
