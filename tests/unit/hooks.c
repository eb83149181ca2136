/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Write and sync hooks for a struct lineq: see hooks.h. */
#include <errno.h>
#include <unistd.h>

#include "hooks.h"

static ssize_t
hook_write(void *arg, int fd, const void *buf, size_t len)
{
	struct hook *h = arg;
	ssize_t r;

	h->writes++;
	if (h->mode == HOOK_BUDGET && h->budget == 0)
		h->mode = HOOK_ENOSPC;
	else if (h->mode == HOOK_BUDGET)
		h->budget--;
	switch (h->mode) {
	case HOOK_ENOSPC:
		errno = ENOSPC;
		return -1;
	case HOOK_SHORT:
		return write(fd, buf, len / 2);      /* really writes half */
	default:
		r = write(fd, buf, len);
		h->shorts += r >= 0 && (size_t)r < len;
		h->enospc += r < 0 && errno == ENOSPC;
		return r;
	}
}

static int
hook_sync(void *arg, int fd)
{
	struct hook *h = arg;

	h->syncs++;
	if (h->mode == HOOK_SYNC_EIO) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

void
set_hooks(struct lineq *q, struct hook *h)
{
	q->write_fn = hook_write;
	q->sync_fn = hook_sync;
	q->hook_arg = h;
}
