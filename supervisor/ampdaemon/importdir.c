/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ImportDirectory: a directory another tool keeps up to date (freshclam's
 * DatabaseDirectory).  Each new or changed NAME.cvd (with its .sign when
 * there is one), NAME.cld, and NAME.cud where unsigned definitions are
 * allowed, goes through the update pipeline as a file of incoming/ does,
 * but as ampctl's files do: the pipeline stages a copy and never removes,
 * renames or quarantines the original, so the directory stays the other
 * tool's, byte for byte.
 *
 * Read at start, after a quiet moment following an inotify event
 * (IN_CLOSE_WRITE, IN_MOVED_TO: freshclam writes a temporary name and
 * renames it), and on RELOAD (freshclam's NotifyClamd).  What was looked
 * at is kept in mind by identity (device, inode, size, mtime of the file
 * and of its .sign), so an unchanged file is not imported again; one
 * whose version is not newer than the active one is skipped with a line
 * in the log.  main.c starts it; it sits above update.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activate.h"
#include "daemon.h"
#include "num.h"
#include "statefile.h"
#include "store.h"

#define IMPORT_SETTLE_S 0.5               /* quiet in ImportDirectory before reading it */
#define IMPORT_RETRY_S 60.0               /* again after an I/O failure */

/* What an import in the pipeline carries to import_done. */
struct import_job {
	char name[256];                  /* in ImportDirectory */
	unsigned version;                /* its header's (0: unreadable) */
};

static int importdir_watch(struct daemon *d, const char *dir, char *err,
    size_t errlen);

static bool
import_name(const struct daemon *d, const char *name, char *db, size_t dblen,
    const char **ext)
{
	return importseen_name_ok(name, db, dblen, ext) &&
	    (strcmp(*ext, ".cud") != 0 || d->cfg.allow_unsigned);
}

unsigned
importdir_judged(const struct daemon *d)
{
	unsigned n = 0;

	for (unsigned i = 0; i < d->imp.nf; i++)
		n += d->imp.f[i].final;
	return n;
}

/* Count an outcome; keep it as the last of its kind when last != NULL. */
static void
import_note(struct daemon *d, enum import_result r, struct import_last *last,
    const char *file, unsigned version, const char *text)
{
	d->imp.results[r]++;
	if (last != NULL) {
		last->ms = walltime_now_ms();
		str_fmt(last->file, sizeof(last->file), "%s", file);
		last->version = version;
		str_fmt(last->text, sizeof(last->text), "%s", text);
	}
	metrics_touch(d);
}

static int64_t
mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* What name looks like now: the container's and its .sign's identity. */
static void
import_identity(struct import_file *f, const char *name, const struct stat *st,
    const struct stat *sst)
{
	memset(f, 0, sizeof(*f));
	str_fmt(f->name, sizeof(f->name), "%s", name);
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = (uint64_t)st->st_size;
	f->mtime_ns = mtime_ns(st);
	if (sst != NULL) {
		f->sdev = sst->st_dev;
		f->sino = sst->st_ino;
		f->ssize = (uint64_t)sst->st_size;
		f->smtime_ns = mtime_ns(sst);
	}
}

static struct import_file *
import_find(struct importdir *m, const char *name)
{
	for (unsigned i = 0; i < m->nf; i++)
		if (strcmp(m->f[i].name, name) == 0)
			return &m->f[i];
	return NULL;
}

static bool
import_same(const struct import_file *a, const struct import_file *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_ns == b->mtime_ns && a->sdev == b->sdev &&
	    a->sino == b->sino && a->ssize == b->ssize &&
	    a->smtime_ns == b->smtime_ns;
}

/* Keep f in mind (replacing what name was); false: no room. */
static bool
import_remember(struct importdir *m, const struct import_file *f, bool final)
{
	struct import_file *e = import_find(m, f->name);

	if (e == NULL) {
		if (m->nf >= IMPORT_TRACK_MAX)
			return false;
		e = &m->f[m->nf++];
	}
	*e = *f;
	e->seen = true;
	e->final = final;
	return true;
}

/*
 * StateDir/import.seen (importseen.h): the judged files, so a restart
 * does not judge an unchanged file again (one still in the pipeline is
 * not in it: a restart looks at it again).
 */
static void
import_save(struct daemon *d)
{
	struct importdir *m = &d->imp;
	char *buf, err[512];
	size_t len = 0, room = (size_t)IMPORT_TRACK_MAX * IMPORT_SEEN_LINE;

	if ((buf = malloc(room)) == NULL)
		return;
	for (unsigned i = 0; i < m->nf; i++)
		if (m->f[i].final)
			len += importseen_format_line(&m->f[i], buf + len, room - len);
	if (statefile_write(d->cfg.state_dir, IMPORT_SEEN_FILE, buf, len, 0600,
	    err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_WARNING, "import: %s (a restart judges those files again)", err);
	free(buf);
}

static void
import_load(struct daemon *d)
{
	struct importdir *m = &d->imp;
	size_t room = (size_t)IMPORT_TRACK_MAX * IMPORT_SEEN_LINE, len = 0;
	char path[4200], *buf;
	ssize_t n;
	int fd;

	str_fmt(path, sizeof(path), "%s/%s", d->cfg.state_dir, IMPORT_SEEN_FILE);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return;
	if ((buf = malloc(room)) == NULL) {
		close(fd);
		return;
	}
	while (len < room && (n = read(fd, buf + len, room - len)) > 0)
		len += (size_t)n;
	close(fd);
	importseen_parse(buf, len, m->f, IMPORT_TRACK_MAX, &m->nf);
	free(buf);
}

static void
import_forget(struct importdir *m, const char *name)
{
	struct import_file *e = import_find(m, name);

	if (e != NULL)
		*e = m->f[--m->nf];
}

/* Forget the files gone from the listing. */
static void
import_compact(struct importdir *m)
{
	unsigned j = 0;

	for (unsigned i = 0; i < m->nf; i++)
		if (m->f[i].seen)
			m->f[j++] = m->f[i];
	m->nf = j;
}

/*
 * The container at path is not newer than the active one of db (the
 * pipeline's rule: newer, or the same version as a .cvd replacing a
 * .cld): *why says so.  *version: its header's (0: unreadable).  A
 * header that cannot be read is left to the pipeline, which rejects it
 * with the verifier's reason.
 */
static bool
import_not_newer(struct daemon *d, const char *path, const char *db,
    const char *ext, unsigned *version, char *why, size_t whylen)
{
	char active[STORE_NAME_MAX + 1], err[512];
	uint8_t buf[CVD_HEADER_SIZE];
	struct cvd_header h, ah;
	size_t got = 0;
	ssize_t n;
	int fd, found;

	*version = 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return false;
	while (got < sizeof(buf) &&
	    (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (got < sizeof(buf) || cvd_header_parse(buf, got, &h, err, sizeof(err)) != 0)
		return false;
	*version = h.version;
	found = activation_active_container(d->cfg.definitions_dir, db, active,
	    sizeof(active), &ah, err, sizeof(err));
	if (found <= 0)
		return false;
	if (h.version > ah.version)
		return false;
	if (h.version == ah.version && strcmp(ext, ".cvd") == 0 &&
	    strcmp(active + strlen(active) - 4, ".cld") == 0)
		return false;   /* the signed original of what a cdiff rebuilt */
	str_fmt(why, whylen, "version %u, the active %s is version %u", h.version,
	    active, ah.version);
	return true;
}

/* Read ImportDirectory again after the quiet moment; a read already
 * armed serves this reason too, and status names the latest. */
static void
import_rescan_for(struct daemon *d, enum import_why why)
{
	struct importdir *m = &d->imp;

	if (d->cfg.import_directory == NULL || m->f == NULL || d->loop == NULL)
		return;
	m->next_why = why;
	if (ev_is_active(&m->settle))
		return;
	ev_timer_set(&m->settle, IMPORT_SETTLE_S, 0.);
	ev_timer_start(d->loop, &m->settle);
}

/* An I/O failure (not the file's fault): all read again in a while. */
static void
import_retry_later(struct daemon *d)
{
	struct importdir *m = &d->imp;

	if (m->f == NULL || d->loop == NULL || m->retry_ms != 0)
		return;
	m->retry_ms = walltime_now_ms() + (int64_t)(IMPORT_RETRY_S * 1000);
	ev_timer_set(&m->retry, IMPORT_RETRY_S, 0.);
	ev_timer_start(d->loop, &m->retry);
}

/* An import ended: after an I/O failure it is tried again in a while. */
static void
import_done(struct daemon *d, void *arg, int status, const char *text)
{
	struct importdir *m = &d->imp;
	struct import_job *job = arg;
	struct import_file *f = import_find(m, job->name);

	if (status == UPDATE_DONE_OK)
		import_note(d, IMPORT_RES_IMPORTED, &m->imported, job->name,
		    job->version, text);
	else if (status == UPDATE_DONE_FAILED)
		import_note(d, IMPORT_RES_REJECTED, &m->rejected, job->name,
		    job->version, text);
	if ((status == UPDATE_DONE_OK || status == UPDATE_DONE_FAILED) &&
	    f != NULL) {
		f->final = true;
		import_save(d);
	}
	if (status == UPDATE_DONE_IO) {
		import_note(d, IMPORT_RES_IO_ERROR, &m->io_error, job->name,
		    job->version, text);
		import_forget(m, job->name);
		import_retry_later(d);
	}
	free(job);
	/* the directory may have changed while it ran */
	if (status != UPDATE_DONE_STOPPING && status != UPDATE_DONE_IO)
		import_rescan_for(d, IMPORT_WHY_IMPORTED);
}

static void
import_remember_or_warn(struct daemon *d, const struct import_file *now,
    bool final)
{
	if (!import_remember(&d->imp, now, final))
		dlog(&d->log, DLOG_WARNING, "import: more than %u containers in %s; %s is looked at every time",
		    IMPORT_TRACK_MAX, d->cfg.import_directory, now->name);
}

/* Send path to the pipeline; false: not queued (stop the listing). */
static bool
import_submit(struct daemon *d, const char *path, const char *sign,
    const struct import_file *now, unsigned version)
{
	struct import_job *job;
	char err[512], text[700];

	if ((job = calloc(1, sizeof(*job))) == NULL) {
		dlog(&d->log, DLOG_ERROR, "import: %s: out of memory", path);
		return false;
	}
	str_fmt(job->name, sizeof(job->name), "%s", now->name);
	job->version = version;
	dlog(&d->log, DLOG_INFO, "import: %s%s", path, sign[0] ? " (and its .sign)" : "");
	if (update_submit(d, path, sign, false, false, false, import_done, job, err,
	    sizeof(err)) != 0) {
		free(job);
		dlog(&d->log, DLOG_WARNING, "import: %s: %s (looked at again on the next change or RELOAD)",
		    path, err);
		str_fmt(text, sizeof(text), "not queued: %s", err);
		import_note(d, IMPORT_RES_IO_ERROR, &d->imp.io_error, now->name,
		    version, text);
		return false;
	}
	import_remember_or_warn(d, now, false);
	return true;
}

/* Look at one entry of the listing; false: stop (the queue is full). */
static bool
import_entry(struct daemon *d, const char *dir, const char *name, bool *changed)
{
	struct importdir *m = &d->imp;
	char path[4400], sign[4500], db[IMPORT_DBNAME_MAX + 1], why[600];
	struct import_file now, *was;
	struct stat st, sst;
	const char *ext;
	unsigned version;

	if (!import_name(d, name, db, sizeof(db), &ext))
		return true;
	str_fmt(path, sizeof(path), "%s/%s", dir, name);
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return true;
	str_fmt(sign, sizeof(sign), "%s.sign", path);
	if (strcmp(ext, ".cvd") != 0 || lstat(sign, &sst) != 0 ||
	    !S_ISREG(sst.st_mode))
		sign[0] = '\0';
	import_identity(&now, name, &st, sign[0] ? &sst : NULL);
	if ((was = import_find(m, name)) != NULL) {
		was->seen = true;
		if (import_same(was, &now))
			return true;
	}
	if (update_is_queued(d, path))
		return true;   /* looked at again once it is done */
	if (import_not_newer(d, path, db, ext, &version, why, sizeof(why))) {
		dlog(&d->log, DLOG_INFO, "import: %s: not newer, skipped (%s)", path, why);
		import_note(d, IMPORT_RES_SKIPPED, NULL, name, version, why);
		import_remember_or_warn(d, &now, true);
		*changed = true;
		return true;
	}
	if (!import_submit(d, path, sign, &now, version))
		return false;
	*changed = true;
	return true;
}

/*
 * No watch yet (the directory did not exist at start: freshclam installed
 * later; or it was removed): try again at each read, and while there is
 * none, read again in a while, so a directory that appears is found
 * without a restart or a RELOAD.
 */
static void
importdir_rewatch(struct daemon *d, const char *dir)
{
	struct importdir *m = &d->imp;
	char err[512];

	if (m->ino_fd >= 0 || d->loop == NULL || !m->watch_tried)
		return;
	if (importdir_watch(d, dir, err, sizeof(err)) == 0) {
		m->watch_error[0] = '\0';
		dlog(&d->log, DLOG_INFO, "import: %s is watched now (inotify)", dir);
		metrics_touch(d);
		return;
	}
	import_retry_later(d);
}

static void
importdir_scan(struct daemon *d, enum import_why why)
{
	struct importdir *m = &d->imp;
	const char *dir = d->cfg.import_directory;
	struct dirent *de;
	unsigned before;
	bool changed = false;
	DIR *dp;

	if (dir == NULL)
		return;
	m->read_ms = walltime_now_ms();
	m->read_why = why;
	metrics_touch(d);
	importdir_rewatch(d, dir);
	if ((dp = opendir(dir)) == NULL) {
		dlog(&d->log, DLOG_ERROR, "import: %s: %s", dir, strerror(errno));
		import_note(d, IMPORT_RES_IO_ERROR, &m->io_error, dir, 0,
		    strerror(errno));
		import_retry_later(d);
		return;
	}
	for (unsigned i = 0; i < m->nf; i++)
		m->f[i].seen = false;
	while ((de = readdir(dp)) != NULL)
		if (!import_entry(d, dir, de->d_name, &changed)) {
			for (unsigned i = 0; i < m->nf; i++)
				m->f[i].seen = true;   /* not all listed: forget nothing */
			break;
		}
	closedir(dp);
	before = m->nf;
	import_compact(m);
	if (changed || m->nf != before)
		import_save(d);
}

static void
importdir_settled(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = t->data;

	(void)loop;
	(void)revents;
	if (t == &d->imp.retry)
		d->imp.retry_ms = 0;   /* fired: none due until armed again */
	importdir_scan(d, t == &d->imp.retry ? IMPORT_WHY_RETRY : d->imp.next_why);
}

static void
importdir_on_inotify(struct ev_loop *loop, ev_io *io, int revents)
{
	struct daemon *d = io->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	bool gone = false;

	(void)revents;
	while ((n = read(d->imp.ino_fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *e = (const void *)(buf + off);

			gone |= (e->mask & (IN_IGNORED | IN_MOVE_SELF)) != 0;
			off += (ssize_t)sizeof(*e) + e->len;
		}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		dlog(&d->log, DLOG_ERROR, "import: inotify: %s", strerror(errno));
	if (gone) {
		/* the directory was removed or moved: watched again once back */
		dlog(&d->log, DLOG_WARNING, "import: %s: the watch ended (the directory was removed or moved); looking for it again",
		    d->cfg.import_directory);
		str_fmt(d->imp.watch_error, sizeof(d->imp.watch_error), "%s: removed or moved",
		    d->cfg.import_directory);
		ev_io_stop(loop, &d->imp.ino_io);
		close(d->imp.ino_fd);
		d->imp.ino_fd = -1;
	}
	ev_timer_stop(loop, &d->imp.settle);
	d->imp.next_why = IMPORT_WHY_INOTIFY;
	ev_timer_set(&d->imp.settle, IMPORT_SETTLE_S, 0.);
	ev_timer_start(loop, &d->imp.settle);
}

void
importdir_rescan(struct daemon *d)
{
	import_rescan_for(d, IMPORT_WHY_RELOAD);
}

/* The inotify watch on dir; -1 + err (and watch_error) when there is none. */
static int
importdir_watch(struct daemon *d, const char *dir, char *err, size_t errlen)
{
	struct importdir *m = &d->imp;

	if ((m->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		str_fmt(err, errlen, "inotify: %s", strerror(errno));
		goto out;
	}
	m->watch_tried = true;
	if (inotify_add_watch(m->ino_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO |
	    IN_ONLYDIR | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
		str_fmt(err, errlen, "%s: inotify: %s", dir, strerror(errno));
		close(m->ino_fd);
		m->ino_fd = -1;
		goto out;
	}
	ev_io_init(&m->ino_io, importdir_on_inotify, m->ino_fd, EV_READ);
	m->ino_io.data = d;
	ev_io_start(d->loop, &m->ino_io);
	return 0;
out:
	str_fmt(m->watch_error, sizeof(m->watch_error), "%s", err);
	return -1;
}

int
importdir_init(struct daemon *d, char *err, size_t errlen)
{
	struct importdir *m = &d->imp;
	const char *dir = d->cfg.import_directory;

	memset(m, 0, sizeof(*m));
	ev_init(&m->settle, importdir_settled);
	m->settle.data = d;
	ev_init(&m->retry, importdir_settled);
	m->retry.data = d;
	m->ino_fd = -1;
	if (dir == NULL)
		return 0;
	if ((m->f = calloc(IMPORT_TRACK_MAX, sizeof(*m->f))) == NULL) {
		str_fmt(err, errlen, "out of memory");
		return -1;
	}
	import_load(d);   /* what was judged before the restart */
	/* read at start and on RELOAD even when it cannot be watched */
	d->upd.on_reload = importdir_rescan;   /* update.c calls no file above it */
	import_rescan_for(d, IMPORT_WHY_START);
	return importdir_watch(d, dir, err, errlen);
}

void
importdir_free(struct daemon *d)
{
	struct importdir *m = &d->imp;

	if (m->f == NULL)
		return;   /* never started (no ImportDirectory) */
	d->upd.on_reload = NULL;
	if (d->loop != NULL) {
		ev_timer_stop(d->loop, &m->settle);
		ev_timer_stop(d->loop, &m->retry);
		m->retry_ms = 0;
	}
	free(m->f);
	m->f = NULL;
	m->nf = 0;
	if (m->ino_fd >= 0) {
		ev_io_stop(d->loop, &m->ino_io);
		close(m->ino_fd);
		m->ino_fd = -1;
	}
}
