/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading a descriptor to the end of a buffer (fdio.h). */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "fdio.h"

/* read() or, when at, pread() at off + what was read so far. */
static ssize_t
fd_fill(int fd, void *buf, size_t len, bool at, off_t off)
{
	size_t got = 0;

	while (got < len) {
		char *p = (char *)buf + got;
		ssize_t n = at ? pread(fd, p, len - got, off + (off_t)got) :
		    read(fd, p, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t
fd_read_full(int fd, void *buf, size_t len)
{
	return fd_fill(fd, buf, len, false, 0);
}

ssize_t
fd_pread_full(int fd, void *buf, size_t len, off_t off)
{
	return fd_fill(fd, buf, len, true, off);
}
