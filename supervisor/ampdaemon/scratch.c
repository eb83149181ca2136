/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The workers' scratch directories (scratch.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scratch.h"

#define SCRATCH_ROOT_MODE 0711   /* the scan users reach their own only */
#define SCRATCH_MODE 0700

static int remove_at(int dirfd, const char *name, unsigned depth);

/* Empty the directory open on fd; 0 or -1 with errno. */
static int
empty_dir(int fd, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int rc = 0, e = 0;

	if ((d = fdopendir(fd)) == NULL) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (remove_at(dirfd(d), de->d_name, depth + 1) != 0 && rc == 0) {
			rc = -1;
			e = errno;
		}
	}
	closedir(d);
	errno = e;
	return rc;
}

/*
 * Remove dirfd/name: a file or link by unlinkat, a directory by emptying
 * it through a descriptor opened without following links.  A directory the
 * worker made unreadable (mode 0) is given 0700 back first (a root
 * ampdaemon needs no such help; one running as the scan user does).
 */
static int
remove_at(int dirfd, const char *name, unsigned depth)
{
	int fd;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth > SCRATCH_DEPTH_MAX) {
		errno = ELOOP;
		return -1;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* EACCES: a directory (a link gives ELOOP), its owner dead by now */
	if (fd < 0 && errno == EACCES && fchmodat(dirfd, name, SCRATCH_MODE, 0) == 0)
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	(void)fchmod(fd, SCRATCH_MODE);   /* one the worker made 0500 */
	if (empty_dir(fd, depth) != 0)
		return -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		return -1;
	return 0;
}

/*
 * Remove root/name.  A root ampdaemon empties a worker's directory with the
 * worker's own file-system identity (setfsuid/setfsgid: the owner may
 * chmod and unlink what it made), not with CAP_DAC_OVERRIDE and
 * CAP_FOWNER, which the shipped unit does not grant; the empty directory
 * itself goes as root (ScratchDir is root's).
 */
int
scratch_remove(int root, const char *name)
{
	struct stat st;
	int fd, rc, e;

	if (geteuid() != 0 || fstatat(root, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISDIR(st.st_mode) || st.st_uid == 0)
		return remove_at(root, name, 0);
	fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return remove_at(root, name, 0);
	setfsgid(st.st_gid);
	setfsuid(st.st_uid);
	(void)fchmod(fd, SCRATCH_MODE);
	rc = empty_dir(fd, 0);   /* closes fd */
	e = errno;
	setfsuid(0);
	setfsgid(0);
	if (rc != 0)   /* not all the worker's own: what root can do, then */
		return remove_at(root, name, 0) == 0 ? 0 : (errno = e, -1);
	if (unlinkat(root, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Remove every worker-* entry of root (what a crash left). */
static void
wipe_leftovers(int root)
{
	int fd = dup(root);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, SCRATCH_PREFIX, strlen(SCRATCH_PREFIX)) == 0 ||
		    strncmp(de->d_name, SCRATCH_TRIAL_PREFIX,
		    strlen(SCRATCH_TRIAL_PREFIX)) == 0)
			(void)remove_at(root, de->d_name, 0);
	closedir(d);
}

int
scratch_root_open(const char *dir, char *err, size_t errlen)
{
	int fd = scratch_root_open_only(dir, err, errlen);

	if (fd >= 0)
		wipe_leftovers(fd);
	return fd;
}

int
scratch_root_open_only(const char *dir, char *err, size_t errlen)
{
	int fd;

	if (mkdir(dir, SCRATCH_ROOT_MODE) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "ScratchDir %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "ScratchDir %s: %s", dir, errno == ELOOP ?
		    "a symbolic link (refused)" : strerror(errno));
		return -1;
	}
	return fd;
}

int
scratch_make(int root, const char *name, bool chown_it, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	int fd;

	if (scratch_remove(root, name) != 0) {
		snprintf(err, errlen, "scratch directory %s: cannot remove the old one: %s",
		    name, strerror(errno));
		return -1;
	}
	if (mkdirat(root, name, SCRATCH_MODE) != 0) {
		snprintf(err, errlen, "scratch directory %s: %s", name, strerror(errno));
		return -1;
	}
	fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* the mode first: once the directory is the scan user's, a root
	 * without CAP_FOWNER (the shipped unit) may no longer change it */
	if (fd < 0 || fchmod(fd, SCRATCH_MODE) != 0 ||
	    (chown_it && fchown(fd, uid, gid) != 0)) {
		snprintf(err, errlen, "scratch directory %s: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		(void)scratch_remove(root, name);
		return -1;
	}
	return fd;
}
