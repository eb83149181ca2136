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
#define IMPORT_DBNAME_MAX 63
#define IMPORT_SEEN_FIELDS 8              /* numbers on a line of IMPORT_SEEN_FILE */
#define IMPORT_SEEN_LINE 400              /* at most, a line */

static bool
import_dbname_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

/*
 * NAME.cvd, NAME.cld or NAME.cud (.cud only with AllowUnsigned): its
 * NAME into db and its extension; false for anything else (dot-files,
 * .sign files, freshclam's own files, a writer's temporary names).
 */
static bool
import_name_ok(const char *name, char *db, size_t dblen, const char **ext)
{
	size_t l = strlen(name);

	if (name[0] == '.' || l <= 4 || l - 4 > IMPORT_DBNAME_MAX || l - 4 >= dblen)
		return false;
	*ext = name + l - 4;
	if (strcmp(*ext, ".cvd") != 0 && strcmp(*ext, ".cld") != 0 &&
	    strcmp(*ext, ".cud") != 0)
		return false;
	for (size_t i = 0; i < l - 4; i++)
		if (!import_dbname_char(name[i]))
			return false;
	str_fmt(db, dblen, "%.*s", (int)(l - 4), name);
	return true;
}

static bool
import_name(const struct daemon *d, const char *name, char *db, size_t dblen,
    const char **ext)
{
	return import_name_ok(name, db, dblen, ext) &&
	    (strcmp(*ext, ".cud") != 0 || d->cfg.allow_unsigned);
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
 * StateDir/import.seen: the judged files, a line each, "NAME DEV INO SIZE
 * MTIME_NS SDEV SINO SSIZE SMTIME_NS", so a restart does not judge an
 * unchanged file again (one still in the pipeline is not in it: a
 * restart looks at it again).
 */
static void
import_save(struct daemon *d)
{
	struct importdir *m = &d->imp;
	char *buf, err[512];
	size_t len = 0, room = (size_t)IMPORT_TRACK_MAX * IMPORT_SEEN_LINE;

	if ((buf = malloc(room)) == NULL)
		return;
	for (unsigned i = 0; i < m->nf; i++) {
		const struct import_file *f = &m->f[i];

		if (!f->final)
			continue;
		str_fmt(buf + len, room - len, "%s %llu %llu %llu %llu %llu %llu %llu %llu\n",
		    f->name, (unsigned long long)f->dev, (unsigned long long)f->ino,
		    (unsigned long long)f->size, (unsigned long long)f->mtime_ns,
		    (unsigned long long)f->sdev, (unsigned long long)f->sino,
		    (unsigned long long)f->ssize, (unsigned long long)f->smtime_ns);
		len += strlen(buf + len);
	}
	if (statefile_write(d->cfg.state_dir, IMPORT_SEEN_FILE, buf, len, 0600,
	    err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_WARNING, "import: %s (a restart judges those files again)", err);
	free(buf);
}

/* One line of import.seen into *f; false: not such a line (ignored). */
static bool
import_parse_line(const char *s, size_t n, struct import_file *f)
{
	uint64_t v[IMPORT_SEEN_FIELDS];
	const char *sp = memchr(s, ' ', n), *end = s + n;
	char db[IMPORT_DBNAME_MAX + 1];
	const char *ext;

	if (sp == NULL || (size_t)(sp - s) >= sizeof(f->name))
		return false;
	memset(f, 0, sizeof(*f));
	memcpy(f->name, s, (size_t)(sp - s));
	if (!import_name_ok(f->name, db, sizeof(db), &ext))
		return false;
	for (unsigned i = 0; i < IMPORT_SEEN_FIELDS; i++) {
		const char *p = sp + 1, *q;

		if (p >= end)
			return false;
		q = memchr(p, ' ', (size_t)(end - p));
		if (q == NULL)
			q = end;
		if ((q == end) != (i == IMPORT_SEEN_FIELDS - 1) ||
		    num_u64(p, (size_t)(q - p), NUM_CANONICAL, &v[i]) != NUM_OK)
			return false;
		sp = q;
	}
	f->dev = v[0];
	f->ino = v[1];
	f->size = v[2];
	f->mtime_ns = (int64_t)v[3];
	f->sdev = v[4];
	f->sino = v[5];
	f->ssize = v[6];
	f->smtime_ns = (int64_t)v[7];
	f->final = true;
	return true;
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
	for (size_t at = 0; at < len && m->nf < IMPORT_TRACK_MAX; ) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t l = nl != NULL ? (size_t)(nl - (buf + at)) : len - at;

		if (nl != NULL && import_parse_line(buf + at, l, &m->f[m->nf]) &&
		    import_find(m, m->f[m->nf].name) == NULL)
			m->nf++;
		at += l + 1;
	}
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
 * .cld): *why says so.  A header that cannot be read is left to the
 * pipeline, which rejects it with the verifier's reason.
 */
static bool
import_not_newer(struct daemon *d, const char *path, const char *db,
    const char *ext, char *why, size_t whylen)
{
	char active[STORE_NAME_MAX + 1], err[512];
	uint8_t buf[CVD_HEADER_SIZE];
	struct cvd_header h, ah;
	size_t got = 0;
	ssize_t n;
	int fd, found;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return false;
	while (got < sizeof(buf) &&
	    (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (got < sizeof(buf) || cvd_header_parse(buf, got, &h, err, sizeof(err)) != 0)
		return false;
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

/* An import ended: after an I/O failure it is tried again in a while. */
static void
import_done(struct daemon *d, void *arg, int status, const char *text)
{
	struct importdir *m = &d->imp;
	char *name = arg;

	(void)text;
	if ((status == UPDATE_DONE_OK || status == UPDATE_DONE_FAILED) &&
	    name != NULL && import_find(m, name) != NULL) {
		import_find(m, name)->final = true;
		import_save(d);
	}
	if (status == UPDATE_DONE_IO && name != NULL) {
		import_forget(m, name);
		if (m->ino_fd >= 0 && !ev_is_active(&m->retry)) {
			ev_timer_set(&m->retry, IMPORT_RETRY_S, 0.);
			ev_timer_start(d->loop, &m->retry);
		}
	}
	free(name);
	/* the directory may have changed while it ran */
	if (status != UPDATE_DONE_STOPPING && status != UPDATE_DONE_IO)
		importdir_rescan(d);
}

/* Look at one entry of the listing; false: stop (the queue is full). */
static bool
import_entry(struct daemon *d, const char *dir, const char *name, bool *changed)
{
	struct importdir *m = &d->imp;
	char path[4400], sign[4500], db[IMPORT_DBNAME_MAX + 1], err[512], why[600];
	struct import_file now, *was;
	struct stat st, sst;
	const char *ext;
	char *arg;

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
	if (import_not_newer(d, path, db, ext, why, sizeof(why))) {
		dlog(&d->log, DLOG_INFO, "import: %s: not newer, skipped (%s)", path, why);
		if (!import_remember(m, &now, true))
			dlog(&d->log, DLOG_WARNING, "import: more than %u containers in %s; %s is looked at every time",
			    IMPORT_TRACK_MAX, dir, name);
		*changed = true;
		return true;
	}
	if ((arg = strdup(name)) == NULL) {
		dlog(&d->log, DLOG_ERROR, "import: %s: out of memory", path);
		return false;
	}
	dlog(&d->log, DLOG_INFO, "import: %s%s", path, sign[0] ? " (and its .sign)" : "");
	if (update_submit(d, path, sign, false, false, false, import_done, arg, err,
	    sizeof(err)) != 0) {
		free(arg);
		dlog(&d->log, DLOG_WARNING, "import: %s: %s (looked at again on the next change or RELOAD)",
		    path, err);
		return false;
	}
	if (!import_remember(m, &now, false))
		dlog(&d->log, DLOG_WARNING, "import: more than %u containers in %s; %s is looked at every time",
		    IMPORT_TRACK_MAX, dir, name);
	*changed = true;
	return true;
}

static void
importdir_scan(struct daemon *d)
{
	struct importdir *m = &d->imp;
	const char *dir = d->cfg.import_directory;
	struct dirent *de;
	unsigned before;
	bool changed = false;
	DIR *dp;

	if (dir == NULL)
		return;
	if ((dp = opendir(dir)) == NULL) {
		dlog(&d->log, DLOG_ERROR, "import: %s: %s", dir, strerror(errno));
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
	importdir_scan(d);
}

static void
importdir_on_inotify(struct ev_loop *loop, ev_io *io, int revents)
{
	struct daemon *d = io->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)revents;
	while ((n = read(d->imp.ino_fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		dlog(&d->log, DLOG_ERROR, "import: inotify: %s", strerror(errno));
	ev_timer_stop(loop, &d->imp.settle);
	ev_timer_set(&d->imp.settle, IMPORT_SETTLE_S, 0.);
	ev_timer_start(loop, &d->imp.settle);
}

void
importdir_rescan(struct daemon *d)
{
	struct importdir *m = &d->imp;

	if (d->cfg.import_directory == NULL || m->f == NULL || d->loop == NULL ||
	    ev_is_active(&m->settle))
		return;
	ev_timer_set(&m->settle, IMPORT_SETTLE_S, 0.);
	ev_timer_start(d->loop, &m->settle);
}

int
importdir_init(struct daemon *d, char *err, size_t errlen)
{
	struct importdir *m = &d->imp;
	const char *dir = d->cfg.import_directory;

	ev_init(&m->settle, importdir_settled);
	m->settle.data = d;
	ev_init(&m->retry, importdir_settled);
	m->retry.data = d;
	m->ino_fd = -1;
	m->nf = 0;
	m->f = NULL;
	if (dir == NULL)
		return 0;
	if ((m->f = calloc(IMPORT_TRACK_MAX, sizeof(*m->f))) == NULL) {
		str_fmt(err, errlen, "out of memory");
		return -1;
	}
	import_load(d);   /* what was judged before the restart */
	/* read at start and on RELOAD even when it cannot be watched */
	ev_timer_set(&m->settle, IMPORT_SETTLE_S, 0.);
	ev_timer_start(d->loop, &m->settle);
	if ((m->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		str_fmt(err, errlen, "inotify: %s", strerror(errno));
		return -1;
	}
	if (inotify_add_watch(m->ino_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO |
	    IN_ONLYDIR) < 0) {
		str_fmt(err, errlen, "%s: inotify: %s", dir, strerror(errno));
		close(m->ino_fd);
		m->ino_fd = -1;
		return -1;
	}
	ev_io_init(&m->ino_io, importdir_on_inotify, m->ino_fd, EV_READ);
	m->ino_io.data = d;
	ev_io_start(d->loop, &m->ino_io);
	d->upd.on_reload = importdir_rescan;   /* update.c calls no file above it */
	return 0;
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
