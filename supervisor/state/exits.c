/*
 * exits.jsonl: appended line by line (queued in memory while it cannot
 * be), rewritten atomically when too long.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "exits.h"
#include "statefile.h"
#include "strbuf.h"

#define EXITS_CHUNK 16384
/* Bigger than EXITS_TRIM_AT of our lines: trimmed without counting. */
#define EXITS_COUNT_MAX_BYTES ((off_t)(EXITS_TRIM_AT + 1) * EVENTS_LINE_MAX)

const char *
exits_strerror(int code)
{
	switch (code) {
	case EXITS_OK: return "success";
	case EXITS_ERR_IO: return "I/O error";
	case EXITS_ERR_INVAL: return "invalid argument";
	case EXITS_ERR_TRIM: return "written, but the file could not be trimmed";
	case EXITS_ERR_NOMEM: return "out of memory";
	case EXITS_ERR_QUEUED: return "not written yet, kept in memory";
	case EXITS_ERR_DROPPED: return "not written, queue full: exit lost";
	}
	return "unknown error";
}

static int
exits_pread_all(int fd, char *buf, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, buf, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;    /* shrank under us */
			return -1;
		}
		buf += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* The size up to and including the last newline (0 if none). */
static int
exits_last_newline(int fd, off_t size, off_t *end)
{
	char chunk[EXITS_CHUNK];
	off_t pos = size;
	size_t n, i;

	*end = 0;
	while (pos > 0) {
		n = pos > EXITS_CHUNK ? EXITS_CHUNK : (size_t)pos;
		pos -= (off_t)n;
		if (exits_pread_all(fd, chunk, n, pos) != 0)
			return -1;
		for (i = n; i-- > 0;) {
			if (chunk[i] == '\n') {
				*end = pos + (off_t)i + 1;
				return 0;
			}
		}
	}
	return 0;
}

static int
exits_count_lines(int fd, off_t size, size_t *lines)
{
	char chunk[EXITS_CHUNK];
	off_t pos = 0;
	size_t n, i, count = 0;

	*lines = 0;
	while (pos < size) {
		n = size - pos > EXITS_CHUNK ? EXITS_CHUNK : (size_t)(size - pos);
		if (exits_pread_all(fd, chunk, n, pos) != 0)
			return -1;
		for (i = 0; i < n; i++)
			count += chunk[i] == '\n';
		pos += (off_t)n;
	}
	*lines = count;
	return 0;
}

/* Close the descriptor only: the queue stays (a trim, a failed write). */
static void
exits_close_fd(struct exits_log *log)
{
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
}

/* A new file's name is durable only once its directory is synced. */
static void
exits_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Open (or create) the file; a regular file, mode 0640 when created. */
static int
exits_open_fd(struct exits_log *log, char *err, size_t errlen)
{
	int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
	bool created = false;
	struct stat st;
	int fd, saved;

	if ((fd = open(log->path, flags)) < 0 && errno == ENOENT) {
		fd = open(log->path, flags | O_CREAT | O_EXCL, EXITS_FILE_MODE);
		created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = open(log->path, flags);
	}
	if (fd < 0)
		return str_seterr(err, errlen, EXITS_ERR_IO, "%s: open: %s",
		    log->path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		saved = errno;
		close(fd);
		return str_seterr(err, errlen, EXITS_ERR_IO, "%s: fstat: %s",
		    log->path, strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return str_seterr(err, errlen, EXITS_ERR_IO,
		    "%s: not a regular file", log->path);
	}
	if (created) {
		(void)fchmod(fd, EXITS_FILE_MODE);   /* whatever the umask */
		exits_sync_dir(log->dir);
	}
	log->fd = fd;
	return EXITS_OK;
}

struct exits_keep {
	struct strbuf sb;
	size_t lines;
};

/* Keep whole lines of ours; a torn or overlong line is not ours to keep. */
static int
exits_keep_line(void *arg, const struct events_line *l)
{
	struct exits_keep *k = arg;

	if (l->status == EVENTS_LINE_TORN || l->status == EVENTS_LINE_TOO_LONG)
		return 0;
	strbuf_append(&k->sb, l->text, l->len);
	strbuf_append(&k->sb, "\n", 1);
	k->lines++;
	return 0;
}

/* Rewrite the file with its last EXITS_KEEP lines, then reopen it. */
static int
exits_trim(struct exits_log *log, char *err, size_t errlen)
{
	struct exits_keep k;
	char why[EXITS_PATH_MAX + 256];
	int rc;

	strbuf_init(&k.sb, EXITS_REWRITE_MAX);
	k.lines = 0;
	if (events_read_tail(log->path, EXITS_KEEP, exits_keep_line, &k, why,
	    sizeof(why)) != 0) {
		/* why names the file */
		rc = str_seterr(err, errlen, EXITS_ERR_TRIM, "trim: %s", why);
		goto out;
	}
	if (k.sb.failed) {
		rc = str_seterr(err, errlen, EXITS_ERR_TRIM, "%s: trim: %s",
		    log->path, strerror(ENOMEM));
		goto out;
	}
	if (statefile_write(log->dir, EXITS_FILE_NAME, strbuf_str(&k.sb),
	    k.sb.len, EXITS_FILE_MODE, why, sizeof(why)) != STATEFILE_OK) {
		rc = str_seterr(err, errlen, EXITS_ERR_TRIM, "trim: %s", why);
		if (!statefile_same_file(log->fd, log->path)) {
			/* renamed, then its directory's fsync failed */
			exits_close_fd(log);
			log->lines = k.lines;
			(void)exits_open_fd(log, NULL, 0);   /* or at the next write */
		}
		goto out;
	}
	/* the old descriptor now points at the replaced file */
	exits_close_fd(log);
	log->lines = k.lines;
	if ((rc = exits_open_fd(log, err, errlen)) != EXITS_OK)
		rc = EXITS_ERR_TRIM;
out:
	strbuf_free(&k.sb);
	return rc;
}

/* Open, cut a torn last line, count, trim if too long. */
static int
exits_reopen(struct exits_log *log, char *err, size_t errlen)
{
	struct stat st;
	off_t end;
	int rc;

	if ((rc = exits_open_fd(log, err, errlen)) != EXITS_OK)
		return rc;
	if (fstat(log->fd, &st) != 0 ||
	    exits_last_newline(log->fd, st.st_size, &end) != 0)
		goto fail;
	if (end != st.st_size) {
		/* a line torn by a crash of the machine during an append */
		if (ftruncate(log->fd, end) != 0 || fsync(log->fd) != 0)
			goto fail;
	}
	if (end > EXITS_COUNT_MAX_BYTES)
		log->lines = EXITS_TRIM_AT + 1;
	else if (exits_count_lines(log->fd, end, &log->lines) != 0)
		goto fail;
	if (log->lines > EXITS_TRIM_AT)
		return exits_trim(log, err, errlen);
	return EXITS_OK;
fail:
	rc = str_seterr(err, errlen, EXITS_ERR_IO, "%s: %s", log->path,
	    strerror(errno));
	exits_close_fd(log);
	return rc;
}

int
exits_open(struct exits_log *log, const char *state_dir, char *err,
    size_t errlen)
{
	int n;

	memset(log, 0, sizeof(*log));
	log->fd = -1;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	n = snprintf(log->path, sizeof(log->path), "%s/%s", state_dir,
	    EXITS_FILE_NAME);
	if (n < 0 || (size_t)n >= sizeof(log->path)) {
		log->path[0] = '\0';
		return str_seterr(err, errlen, EXITS_ERR_INVAL,
		    "%s: path too long", state_dir);
	}
	snprintf(log->dir, sizeof(log->dir), "%s", state_dir);
	return exits_reopen(log, err, errlen);
}

/*
 * Reopen the file if it is closed.  False when it cannot be written to
 * now, err saying why; a failed trim leaves it open: write anyway.
 */
static bool
exits_usable(struct exits_log *log, char *err, size_t errlen)
{
	return log->fd >= 0 || exits_reopen(log, err, errlen) == EXITS_OK ||
	    log->fd >= 0;
}

/*
 * One line, one write(), then a sync (lineq_write(): on failure the file
 * is cut back to its size before the write).  A descriptor that may be
 * bad, or a cut that failed, is closed: the next write reopens the file,
 * which also cuts what a failed cut left.  On ENOSPC it stays open, as the
 * retry timer tries again every second and a reopen counts the file.
 */
static int
exits_write_line(struct exits_log *log, const char *line, size_t len)
{
	bool torn;
	int saved;

	if (log->fd < 0) {
		errno = EBADF;          /* a line before it failed and closed it */
		return -1;
	}
	if (lineq_write(&log->queue, log->fd, line, len, &torn) == 0) {
		log->lines++;
		return 0;
	}
	saved = errno;
	if (torn || (saved != ENOSPC && saved != EDQUOT))
		exits_close_fd(log);
	errno = saved;
	return -1;
}

/* lineq_flush()'s writer. */
static int
exits_put_line(void *arg, const char *line, size_t len)
{
	return exits_write_line(arg, line, len);
}

/* The queued lines, in order, then the events_dropped line if needed. */
static int
exits_flush_queue(struct exits_log *log, char *err, size_t errlen)
{
	if (lineq_pending(&log->queue) == 0 && log->queue.dropped == 0)
		return EXITS_OK;
	if (!exits_usable(log, err, errlen))
		return EXITS_ERR_QUEUED;
	if (events_catch_up(&log->queue, exits_put_line, log,
	    "worker exits lost while exits.jsonl could not be written") != 0)
		return str_seterr(err, errlen, EXITS_ERR_QUEUED,
		    "%s: write: %s (%zu exits waiting)", log->path,
		    strerror(errno), lineq_pending(&log->queue));
	return EXITS_OK;
}

int
exits_flush(struct exits_log *log, char *err, size_t errlen)
{
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = exits_flush_queue(log, err, errlen)) != EXITS_OK)
		return rc;
	/* the queue may have taken the file past the bound */
	if (log->lines > EXITS_TRIM_AT)
		return exits_trim(log, err, errlen);
	return EXITS_OK;
}

int
exits_append(struct exits_log *log, const struct event *ev, char *err,
    size_t errlen)
{
	char line[EVENTS_LINE_MAX + 1];
	size_t len;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (log->path[0] == '\0')
		return str_seterr(err, errlen, EXITS_ERR_INVAL,
		    "%s: not opened", EXITS_FILE_NAME);
	if ((len = events_render(ev, line, sizeof(line))) == 0)
		return str_seterr(err, errlen, EXITS_ERR_INVAL,
		    "%s: empty event", log->path);
	if (exits_flush_queue(log, err, errlen) != EXITS_OK ||
	    !exits_usable(log, err, errlen))
		goto queue;
	if (exits_write_line(log, line, len) != 0) {
		str_seterr(err, errlen, 0, "%s: write: %s", log->path,
		    strerror(errno));
		goto queue;
	}
	if (log->lines > EXITS_TRIM_AT)
		return exits_trim(log, err, errlen);
	return EXITS_OK;
queue:
	return lineq_push(&log->queue, line, len, err, errlen) ?
	    EXITS_ERR_QUEUED : EXITS_ERR_DROPPED;
}

size_t
exits_pending(const struct exits_log *log)
{
	return lineq_pending(&log->queue);
}

void
exits_close(struct exits_log *log)
{
	lineq_clear(&log->queue);
	exits_close_fd(log);
}
