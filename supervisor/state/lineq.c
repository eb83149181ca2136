/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Appending lines without tearing them, and queueing them while that fails. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lineq.h"

static ssize_t
lineq_do_write(const struct lineq *q, int fd, const char *p, size_t n)
{
	ssize_t r;

	do
		r = q->write_fn != NULL ? q->write_fn(q->hook_arg, fd, p, n) :
		    write(fd, p, n);
	while (r < 0 && errno == EINTR);
	return r;
}

static int
lineq_do_sync(const struct lineq *q, int fd)
{
	return q->sync_fn != NULL ? q->sync_fn(q->hook_arg, fd) :
	    fdatasync(fd);
}

int
lineq_write(const struct lineq *q, int fd, const char *line, size_t len,
    bool *torn)
{
	struct stat before, after;
	ssize_t n;
	int saved;

	*torn = false;
	if (fstat(fd, &before) != 0)
		return -1;
	n = lineq_do_write(q, fd, line, len);
	if (n == (ssize_t)len && lineq_do_sync(q, fd) == 0)
		return 0;
	saved = n < 0 || n == (ssize_t)len ? errno : ENOSPC;
	if (fstat(fd, &after) != 0 || after.st_size != before.st_size) {
		/* the next successful fdatasync makes the cut durable too */
		if (ftruncate(fd, before.st_size) != 0)
			*torn = true;
	}
	errno = saved;
	return -1;
}

bool
lineq_push(struct lineq *q, const char *line, size_t len, char *err,
    size_t errlen)
{
	struct lineq_ent *e;
	char *copy;
	size_t m;

	if (q->count == LINEQ_MAX || len > LINEQ_BYTES - q->bytes ||
	    (copy = malloc(len)) == NULL) {
		q->dropped++;
		if (err != NULL && errlen > 0) {
			m = strlen(err);
			snprintf(err + m, errlen - m,
			    "; dropped, queue full (%" PRIu64 " lost)",
			    q->dropped);
		}
		return false;
	}
	memcpy(copy, line, len);
	e = &q->ent[(q->head + q->count) % LINEQ_MAX];
	e->line = copy;
	e->len = len;
	q->count++;
	q->bytes += len;
	return true;
}

/* The oldest line is on disk: forget it. */
static void
lineq_pop(struct lineq *q)
{
	struct lineq_ent *e = &q->ent[q->head];

	free(e->line);
	e->line = NULL;
	q->bytes -= e->len;
	q->head = (q->head + 1) % LINEQ_MAX;
	q->count--;
}

int
lineq_flush(struct lineq *q, int (*put)(void *arg, const char *line,
    size_t len), void *arg)
{
	while (q->count > 0) {
		if (put(arg, q->ent[q->head].line, q->ent[q->head].len) != 0)
			return -1;
		lineq_pop(q);
	}
	return 0;
}

void
lineq_dropped_said(struct lineq *q, uint64_t n)
{
	q->dropped -= n < q->dropped ? n : q->dropped;
}

size_t
lineq_pending(const struct lineq *q)
{
	return q->count;
}

void
lineq_clear(struct lineq *q)
{
	while (q->count > 0)
		lineq_pop(q);
}
