/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading a descriptor to the end of a buffer: the loops that retry on
 * EINTR and on short reads, written once.  (The write side is
 * statefile_write_all, statefile.h.)
 */
#ifndef AMPSCAN_FDIO_H
#define AMPSCAN_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* Read up to len bytes from fd; fewer only at end of file.  Returns the
 * count, or -1 with errno set (what was read before the error is lost to
 * the caller: treat the buffer as undefined). */
ssize_t fd_read_full(int fd, void *buf, size_t len);

/* The same with pread from offset off (the file position is unchanged). */
ssize_t fd_pread_full(int fd, void *buf, size_t len, off_t off);

#endif
