/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Directories root trusts (dirtrust.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirtrust.h"
#include "strbuf.h"

int
dir_trusted_fd(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uid_t me = geteuid();

	if (fstat(fd, &st) != 0)
		return str_seterr(err, errlen, -1, "%s: %s", path,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return str_seterr(err, errlen, -1, "%s: not a directory", path);
	if (st.st_uid != 0 && st.st_uid != me)
		return str_seterr(err, errlen, -1,
		    "%s: owned by uid %lu, not %s: refused, anyone who owns it may replace what is inside (chown %s %s)",
		    path, (unsigned long)st.st_uid, me == 0 ? "root" : "us",
		    me == 0 ? "root" : "<the daemon's user>", path);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return str_seterr(err, errlen, -1,
		    "%s: writable by %s (mode %04o): refused, they may replace what is inside (chmod go-w %s)",
		    path, (st.st_mode & S_IWOTH) != 0 ? "others" : "its group",
		    (unsigned)(st.st_mode & 07777), path);
	return 0;
}

int
dir_trusted(const char *path, char *err, size_t errlen)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return str_seterr(err, errlen, -1, "%s: %s", path,
		    errno == ELOOP || errno == ENOTDIR ?
		    "not a directory (or a symbolic link to one)" :
		    strerror(errno));
	rc = dir_trusted_fd(fd, path, err, errlen);
	close(fd);
	return rc;
}
