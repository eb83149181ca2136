/* SPDX-License-Identifier: GPL-2.0-or-later */
/* State files: temp + fsync + rename + fsync(dir); bounded reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "num.h"
#include "statefile.h"

#define STATEFILE_TMP_SUFFIX ".tmp"

const char *
statefile_strerror(int code)
{
	switch (code) {
	case STATEFILE_OK: return "success";
	case STATEFILE_ERR_IO: return "I/O error";
	case STATEFILE_ERR_NOENT: return "no such file";
	case STATEFILE_ERR_TOOBIG: return "file too large";
	case STATEFILE_ERR_NAME: return "invalid state file name";
	case STATEFILE_ERR_NOMEM: return "out of memory";
	case STATEFILE_ERR_TYPE: return "not a regular file";
	}
	return "unknown error";
}

static int
statefile_seterr(char *err, size_t errlen, int code, const char *dir,
    const char *name, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s/%s: %s", dir, name, why);
	return code;
}

/* A plain file name of ours: no path, no dot-file (temp names are dotted). */
static int
statefile_check_name(const char *dir, const char *name, char *err,
    size_t errlen)
{
	size_t n = strnlen(name, STATEFILE_NAME_MAX + 1);

	if (n == 0 || n > STATEFILE_NAME_MAX || name[0] == '.' ||
	    memchr(name, '/', n) != NULL)
		return statefile_seterr(err, errlen, STATEFILE_ERR_NAME, dir,
		    name, statefile_strerror(STATEFILE_ERR_NAME));
	return STATEFILE_OK;
}

bool
statefile_same_file(int fd, const char *path)
{
	struct stat a, b;

	if (fstat(fd, &a) != 0)
		return true;            /* nothing better to do with it */
	return stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino;
}

int
statefile_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Create the temporary file; a leftover from a crash is replaced once. */
static int
statefile_create_tmp(int dirfd, const char *tmp, mode_t mode)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(dirfd, tmp, flags, mode);

	if (fd < 0 && errno == EEXIST) {
		if (unlinkat(dirfd, tmp, 0) != 0)
			return -1;
		fd = openat(dirfd, tmp, flags, mode);
	}
	return fd;
}

/* "DIR/NAME: STEP: strerror" (errno kept); returns STATEFILE_ERR_IO. */
static int
statefile_step_failed(const struct statefile_tmp *t, const char *step,
    char *err, size_t errlen)
{
	int saved = errno;

	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s/%s: %s: %s", t->dir, t->name, step,
		    strerror(saved));
	errno = saved;
	return STATEFILE_ERR_IO;
}

static int
statefile_open_common(struct statefile_tmp *t, const char *dir,
    const char *name, mode_t mode, unsigned flags, char *err, size_t errlen)
{
	const char *what = NULL;
	int rc, saved;

	rc = statefile_check_name(dir, name, err, errlen);
	if (rc == STATEFILE_OK && strlen(dir) >= sizeof(t->dir))
		rc = statefile_seterr(err, errlen, STATEFILE_ERR_NAME, dir, name,
		    "directory name too long");
	if (rc != STATEFILE_OK) {
		statefile_abort(t);     /* open_at's duplicated dirfd */
		return rc;
	}
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->tmp, sizeof(t->tmp), ".%s%s", name, STATEFILE_TMP_SUFFIX);
	t->flags = flags;
	if (t->dirfd < 0 &&
	    (t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		what = "open directory";
	else if ((t->fd = statefile_create_tmp(t->dirfd, t->tmp, mode)) < 0)
		what = "create temporary file";
	else if (fchmod(t->fd, mode) != 0)
		what = "chmod temporary file";
	if (what == NULL)
		return STATEFILE_OK;
	rc = statefile_step_failed(t, what, err, errlen);
	saved = errno;
	statefile_abort(t);
	errno = saved;
	return rc;
}

int
statefile_open(struct statefile_tmp *t, const char *dir, const char *name,
    mode_t mode, unsigned flags, char *err, size_t errlen)
{
	*t = (struct statefile_tmp){ .dirfd = -1, .fd = -1 };
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return statefile_open_common(t, dir, name, mode, flags, err, errlen);
}

int
statefile_open_at(struct statefile_tmp *t, int dirfd, const char *dir,
    const char *name, mode_t mode, unsigned flags, char *err, size_t errlen)
{
	*t = (struct statefile_tmp){ .dirfd = -1, .fd = -1 };
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((t->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) < 0)
		return statefile_seterr(err, errlen, STATEFILE_ERR_IO, dir, name,
		    strerror(errno));
	return statefile_open_common(t, dir, name, mode, flags, err, errlen);
}

int
statefile_open_path(struct statefile_tmp *t, const char *path, mode_t mode,
    unsigned flags, char *err, size_t errlen)
{
	char dir[sizeof(t->dir)];
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return statefile_open(t, ".", path, mode, flags, err, errlen);
	if ((size_t)(slash - path) >= sizeof(dir)) {
		*t = (struct statefile_tmp){ .dirfd = -1, .fd = -1 };
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: path too long", path);
		return STATEFILE_ERR_NAME;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
	    (int)(slash - path), path);
	return statefile_open(t, dir, slash + 1, mode, flags, err, errlen);
}

/* rename(2), or renameat2(RENAME_NOREPLACE): an existing NAME is EEXIST. */
static int
statefile_rename(const struct statefile_tmp *t)
{
	if (t->flags & STATEFILE_NOREPLACE)
		return renameat2(t->dirfd, t->tmp, t->dirfd, t->name,
		    RENAME_NOREPLACE);
	return renameat(t->dirfd, t->tmp, t->dirfd, t->name);
}

int
statefile_commit(struct statefile_tmp *t, char *err, size_t errlen)
{
	const char *what = NULL;
	int rc = STATEFILE_OK, saved;

	if (t->fd < 0) {
		errno = EBADF;
		what = "commit without an open temporary file";
	} else if (fsync(t->fd) != 0) {
		what = "fsync temporary file";
	} else if (close(t->fd) != 0) {
		t->fd = -1;
		what = "close temporary file";
	} else if ((t->fd = -1, statefile_rename(t)) != 0) {
		what = "rename temporary file";
	} else if ((t->tmp[0] = '\0', fsync(t->dirfd)) != 0) {
		/* renamed: the new file is in place, but not yet durably */
		what = "fsync directory";
	}
	if (what != NULL)
		rc = statefile_step_failed(t, what, err, errlen);
	saved = errno;
	statefile_abort(t);
	errno = saved;
	return rc;
}

void
statefile_abort(struct statefile_tmp *t)
{
	int saved = errno;

	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->dirfd >= 0 && t->tmp[0] != '\0')
		unlinkat(t->dirfd, t->tmp, 0);
	t->tmp[0] = '\0';
	if (t->dirfd >= 0)
		close(t->dirfd);
	t->dirfd = -1;
	errno = saved;
}

int
statefile_write(const char *dir, const char *name, const void *data,
    size_t len, mode_t mode, char *err, size_t errlen)
{
	return statefile_write_flags(dir, name, data, len, mode, 0, err,
	    errlen);
}

int
statefile_write_flags(const char *dir, const char *name, const void *data,
    size_t len, mode_t mode, unsigned flags, char *err, size_t errlen)
{
	struct statefile_tmp t;
	int rc;

	if ((rc = statefile_open(&t, dir, name, mode, flags, err, errlen)) !=
	    STATEFILE_OK)
		return rc;
	if (statefile_write_all(t.fd, data, len) != 0) {
		rc = statefile_step_failed(&t, "write temporary file", err,
		    errlen);
		statefile_abort(&t);
		return rc;
	}
	return statefile_commit(&t, err, errlen);
}

int
statefile_sync_dir(const char *dir, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), saved;
	const char *what = fd < 0 ? "open" : fsync(fd) != 0 ? "fsync" : NULL;

	saved = errno;
	if (fd >= 0)
		close(fd);
	errno = saved;
	if (what == NULL)
		return STATEFILE_OK;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s: %s", dir, what, strerror(saved));
	return STATEFILE_ERR_IO;
}

int
statefile_move(const char *from, const char *to, char *err, size_t errlen)
{
	char dir[STATEFILE_DIR_MAX];
	const char *slash = strrchr(to, '/');

	if (slash != NULL && (size_t)(slash - to) >= sizeof(dir)) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: path too long", to);
		return STATEFILE_ERR_NAME;
	}
	if (rename(from, to) != 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: rename to %s: %s", from, to,
			    strerror(errno));
		return STATEFILE_ERR_IO;
	}
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == to ? 1 :
		    (int)(slash - to), to);
	return statefile_sync_dir(dir, err, errlen);
}

/* Read up to max_len + 1 bytes so a file that grew past the cap is seen. */
static int
statefile_read_fd(int fd, size_t max_len, char **buf, size_t *len)
{
	size_t cap = max_len + 1, n = 0;
	char *p;

	if ((p = malloc(cap + 1)) == NULL)
		return STATEFILE_ERR_NOMEM;
	while (n < cap) {
		ssize_t r = read(fd, p + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(p);
			return STATEFILE_ERR_IO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max_len) {
		free(p);
		return STATEFILE_ERR_TOOBIG;
	}
	p[n] = '\0';
	*buf = p;
	*len = n;
	return STATEFILE_OK;
}

int
statefile_read(const char *dir, const char *name, size_t max_len,
    char **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	int dirfd = -1, fd = -1, rc, saved = 0;
	char why[128];

	*buf = NULL;
	*len = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (max_len >= (size_t)-2)
		max_len = (size_t)-3;
	if ((rc = statefile_check_name(dir, name, err, errlen)) != STATEFILE_OK)
		return rc;
	rc = STATEFILE_ERR_IO;
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) < 0) {
		saved = errno;
		rc = saved == ENOENT ? STATEFILE_ERR_NOENT : STATEFILE_ERR_IO;
		snprintf(why, sizeof(why), "%s", strerror(saved));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		saved = errno;
		snprintf(why, sizeof(why), "%s", strerror(saved));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = STATEFILE_ERR_TYPE;
		snprintf(why, sizeof(why), "%s", statefile_strerror(rc));
		goto out;
	}
	if ((uintmax_t)st.st_size > max_len) {
		rc = STATEFILE_ERR_TOOBIG;
		snprintf(why, sizeof(why), "%jd bytes, more than the %zu allowed",
		    (intmax_t)st.st_size, max_len);
		goto out;
	}
	rc = statefile_read_fd(fd, max_len, buf, len);
	saved = errno;
	if (rc == STATEFILE_ERR_IO)
		snprintf(why, sizeof(why), "read: %s", strerror(saved));
	else if (rc == STATEFILE_ERR_TOOBIG)
		snprintf(why, sizeof(why), "grew past the %zu bytes allowed",
		    max_len);
	else
		snprintf(why, sizeof(why), "%s", statefile_strerror(rc));
out:
	if (rc != STATEFILE_OK)
		statefile_seterr(err, errlen, rc, dir, name, why);
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	errno = saved;
	return rc;
}

/* ---- fields ---- */




int
statefile_unescape(const char *s, size_t len,
    bool (*needs_escape)(unsigned char), char *out, size_t outlen)
{
	size_t o = 0;
	int hi, lo;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (len - i < 3 || (hi = num_hexval(s[i + 1])) < 0 ||
			    (lo = num_hexval(s[i + 2])) < 0 ||
			    (hi == 0 && lo == 0))
				return STATEFILE_UNESCAPE_BAD;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (needs_escape(c)) {
			return STATEFILE_UNESCAPE_RAW;
		}
		if (o + 1 >= outlen)
			return STATEFILE_UNESCAPE_LONG;
		out[o++] = (char)c;
	}
	if (outlen == 0)
		return STATEFILE_UNESCAPE_LONG;
	out[o] = '\0';
	return STATEFILE_UNESCAPE_OK;
}
