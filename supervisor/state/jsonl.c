/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A bounded file of whole lines: open, append, cut down, reopen. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonl.h"
#include "statefile.h"
#include "strbuf.h"

#define JSONL_CHUNK 65536

int
jsonl_prepare(struct jsonl *j, const char *dir, const char *name,
    mode_t mode, char *err, size_t errlen)
{
	int n;

	memset(j, 0, sizeof(*j));
	j->fd = -1;
	j->mode = mode;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	snprintf(j->name, sizeof(j->name), "%s", name);
	n = snprintf(j->path, sizeof(j->path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(j->path) ||
	    strlen(name) >= sizeof(j->name)) {
		j->path[0] = '\0';
		return str_seterr(err, errlen, JSONL_ERR_INVAL,
		    "%s: path too long", dir);
	}
	snprintf(j->dir, sizeof(j->dir), "%s", dir);
	return JSONL_OK;
}

int
jsonl_pread_all(int fd, char *buf, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, buf, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;    /* cut under us: not by us */
			return -1;
		}
		buf += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/*
 * Scanning back from size: *end, the size up to the last newline, and
 * *start, where the last `want` lines before it begin (0 if fewer; want
 * 0: *end).  *lines: how many lines were seen from *start to *end.
 */
static int
jsonl_scan_back(int fd, off_t size, size_t want, off_t *start, off_t *end,
    size_t *lines)
{
	char *chunk = malloc(JSONL_CHUNK);
	off_t pos = size;
	size_t n, i;
	bool have_end = false;

	*start = *end = 0;
	*lines = 0;
	if (chunk == NULL)
		return -1;
	while (pos > 0) {
		n = pos > JSONL_CHUNK ? JSONL_CHUNK : (size_t)pos;
		pos -= (off_t)n;
		if (jsonl_pread_all(fd, chunk, n, pos) != 0) {
			free(chunk);
			return -1;
		}
		for (i = n; i-- > 0;) {
			if (chunk[i] != '\n')
				continue;
			if (!have_end) {
				have_end = true;
				*start = *end = pos + (off_t)i + 1;
				if (want == 0)
					goto out;
				continue;
			}
			if (++*lines == want) {
				*start = pos + (off_t)i + 1;
				goto out;
			}
		}
	}
	if (have_end) {
		++*lines;                /* the first line of the file */
		*start = 0;
	}
out:
	free(chunk);
	return 0;
}

/* A new file's name is durable only once its directory is synced. */
static void
jsonl_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static void
jsonl_close_fd(struct jsonl *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

/* Open (or create) the file: a regular file, j->mode when created. */
static int
jsonl_open_fd(struct jsonl *j, char *err, size_t errlen)
{
	int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
	bool created = false;
	struct stat st;
	int fd, saved;

	if ((fd = open(j->path, flags)) < 0 && errno == ENOENT) {
		fd = open(j->path, flags | O_CREAT | O_EXCL, j->mode);
		created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = open(j->path, flags);
	}
	if (fd < 0)
		return str_seterr(err, errlen, JSONL_ERR_IO, "%s: open: %s",
		    j->path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		saved = errno;
		close(fd);
		return str_seterr(err, errlen, JSONL_ERR_IO, "%s: fstat: %s",
		    j->path, strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return str_seterr(err, errlen, JSONL_ERR_IO,
		    "%s: not a regular file", j->path);
	}
	if (created) {
		(void)fchmod(fd, j->mode);   /* whatever the umask */
		jsonl_sync_dir(j->dir);
	}
	j->fd = fd;
	return JSONL_OK;
}

/* Open, cut a torn last line, count the lines if they are bounded. */
static int
jsonl_reopen(struct jsonl *j, char *err, size_t errlen)
{
	struct stat st;
	off_t start, end;
	size_t lines;
	int rc;

	if (j->path[0] == '\0')
		return str_seterr(err, errlen, JSONL_ERR_INVAL,
		    "%s: not prepared", j->name);
	if ((rc = jsonl_open_fd(j, err, errlen)) != JSONL_OK)
		return rc;
	if (fstat(j->fd, &st) != 0 || jsonl_scan_back(j->fd, st.st_size,
	    j->trim_lines > 0 ? j->trim_lines + 1 : 0, &start, &end,
	    &lines) != 0)
		goto fail;
	if (end != st.st_size) {
		/* a line torn by a crash of the machine during an append */
		if (ftruncate(j->fd, end) != 0 || fsync(j->fd) != 0)
			goto fail;
	}
	j->lines = lines;
	return JSONL_OK;
fail:
	rc = str_seterr(err, errlen, JSONL_ERR_IO, "%s: %s", j->path,
	    strerror(errno));
	jsonl_close_fd(j);
	return rc;
}

/* Past the bound, and not held back by a failed cut. */
static bool
jsonl_too_big(const struct jsonl *j, off_t size)
{
	if (size <= j->trim_after)
		return false;
	return size > j->trim_at ||
	    (j->trim_lines > 0 && j->lines > j->trim_lines);
}

/* Read the newest lines to keep into *buf (*len bytes, *lines lines). */
static int
jsonl_read_keep(struct jsonl *j, off_t size, char **buf, size_t *len,
    size_t *lines)
{
	off_t start = 0, end, from = size > j->keep ? size - j->keep : 0;
	size_t n, skip = 0;
	bool partial = false;
	char *nl;

	*buf = NULL;
	if (j->keep_lines > 0 && jsonl_scan_back(j->fd, size, j->keep_lines,
	    &start, &end, lines) != 0)
		return -1;
	if (from > start) {
		/* the byte before too: a line may start right at from */
		start = from - 1;
		partial = true;
	}
	n = (size_t)(size - start);
	if ((*buf = malloc(n + 1)) == NULL ||
	    jsonl_pread_all(j->fd, *buf, n, start) != 0)
		return -1;
	if (partial) {
		/* from the first line that starts in the kept bytes */
		nl = memchr(*buf, '\n', n);
		skip = nl == NULL ? n : (size_t)(nl - *buf) + 1;
		memmove(*buf, *buf + skip, n - skip);
	}
	*len = n - skip;
	*lines = 0;
	for (n = 0; n < *len; n++)
		*lines += (*buf)[n] == '\n';
	return 0;
}

/* The cut failed: not again for a while; if the rename was done (then
 * the directory's fsync failed), the file is the new one: reopen it. */
static int
jsonl_trim_failed(struct jsonl *j, off_t size, const char *why, char *err,
    size_t errlen)
{
	j->trim_after = j->trim_retry > 0 ? size + j->trim_retry : 0;
	if (j->fd >= 0 && !statefile_same_file(j->fd, j->path)) {
		jsonl_close_fd(j);
		(void)jsonl_reopen(j, NULL, 0);   /* or at the next write */
	}
	if (j->keep_lines > 0)
		return str_seterr(err, errlen, JSONL_ERR_TRIM,
		    "trim: %s is %lld bytes, %zu lines; cutting it down to its last %zu lines failed: %s",
		    j->path, (long long)size, j->lines, j->keep_lines, why);
	return str_seterr(err, errlen, JSONL_ERR_TRIM,
	    "trim: %s is %lld bytes; cutting it down to its last %lld bytes failed: %s (tried again after %lld bytes more)",
	    j->path, (long long)size, (long long)j->keep, why,
	    (long long)j->trim_retry);
}

int
jsonl_trim(struct jsonl *j, char *err, size_t errlen)
{
	char *buf = NULL, why[JSONL_PATH_MAX + 256];
	struct stat st;
	size_t len, lines;
	int rc;

	if (j->fd < 0 || fstat(j->fd, &st) != 0 || !jsonl_too_big(j,
	    st.st_size))
		return JSONL_OK;
	if (jsonl_read_keep(j, st.st_size, &buf, &len, &lines) != 0) {
		snprintf(why, sizeof(why), "%s: reading what to keep: %s",
		    j->path, strerror(errno));
		rc = jsonl_trim_failed(j, st.st_size, why, err, errlen);
		goto out;
	}
	if (statefile_write(j->dir, j->name, buf, len, j->mode, why,
	    sizeof(why)) != STATEFILE_OK) {
		rc = jsonl_trim_failed(j, st.st_size, why, err, errlen);
		goto out;
	}
	j->trim_after = 0;
	/* the descriptor points at the replaced file */
	jsonl_close_fd(j);
	if (jsonl_reopen(j, why, sizeof(why)) != JSONL_OK)
		rc = str_seterr(err, errlen, JSONL_ERR_TRIM,
		    "trim: cut down, then: %s", why);
	else
		rc = JSONL_OK;
	j->lines = lines;
out:
	free(buf);
	return rc;
}

int
jsonl_open(struct jsonl *j, char *err, size_t errlen)
{
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = jsonl_reopen(j, err, errlen)) != JSONL_OK)
		return rc;
	return jsonl_trim(j, err, errlen);
}

/* One line, one write(), then a sync; 0, or -1 with errno set. */
static int
jsonl_put(void *arg, const char *line, size_t len)
{
	struct jsonl *j = arg;
	bool torn;
	int saved;

	if (j->fd < 0 && jsonl_reopen(j, NULL, 0) != JSONL_OK)
		return -1;
	if (lineq_write(&j->queue, j->fd, line, len, &torn) == 0) {
		j->lines++;
		return 0;
	}
	saved = errno;
	/* the file may be gone, the fd bad, a torn line left: reopen */
	if (torn || (saved != ENOSPC && saved != EDQUOT))
		jsonl_close_fd(j);
	errno = saved;
	return -1;
}

int
jsonl_write(struct jsonl *j, const char *line, size_t len)
{
	return jsonl_put(j, line, len);
}

int
jsonl_flush(struct jsonl *j)
{
	return lineq_flush(&j->queue, jsonl_put, j);
}

void
jsonl_close(struct jsonl *j)
{
	lineq_clear(&j->queue);
	jsonl_close_fd(j);
}
