/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * incoming/: files dropped there become queued updates.  An inotify
 * watch (IN_CLOSE_WRITE, IN_MOVED_TO) arms a short settle timer, so a
 * .cvd and its .sign are read together; dot-files wait; what is there
 * at start is read too.  main.c starts it; it sits above update.c and
 * hears of an I/O failure through the done callback it submits with.
 *
 * Cdiffs are ordered (docs/updates.md, "Ordering"): a NAME-VERSION.cdiff
 * is submitted only when the queue is idle and VERSION is the active
 * NAME's + 1, one at a time per name (the next once it is activated);
 * one whose base has not arrived waits in incoming/, at most
 * INCOMING_CDIFF_WAIT_MAX of them and INCOMING_CDIFF_WAIT_MS each, then
 * is rejected with that reason.  Its name and header are only hints for
 * the order: the pipeline verifies it as any update.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "num.h"
#include "store.h"

#define INCOMING_SETTLE_S 0.25            /* quiet in incoming/ before reading it */
#define INCOMING_RETRY_S 60.0             /* again after an I/O failure */
#define CDIFF_MAGIC "ClamAV-Diff:"
#define CDIFF_HEAD_READ 32                /* "ClamAV-Diff:VERSION:" fits */
#define CDIFF_VERSION_DIGITS 10

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- incoming/ ---------------------------------------------------------------- */

/* An update from incoming/ ended; one that failed for I/O (not for its
 * bytes: it stays in incoming/) is looked at again in a while. */
static void
incoming_done(struct daemon *d, void *arg, int status, const char *text)
{
	struct incoming *u = &d->inc;

	(void)arg;
	(void)text;
	if (status == UPDATE_DONE_IO)   /* no cdiff goes before the retry */
		u->hold_until = mono_ms() + (int64_t)(INCOMING_RETRY_S * 1000) - 1000;
	if (status == UPDATE_DONE_IO && u->ino_fd >= 0 &&
	    !ev_is_active(&u->retry)) {
		ev_timer_set(&u->retry, INCOMING_RETRY_S, 0.);
		ev_timer_start(d->loop, &u->retry);
	}
}

/* ---- cdiffs, in version order ------------------------------------------------ */

static unsigned
cdiff_wait_max_ms(void)
{
#ifdef AMPSCAN_TEST_HOOKS
	const char *e = getenv("AMPSCAN_TEST_CDIFF_WAIT_MS");
	uint64_t v;

	if (e != NULL && num_u64(e, strlen(e), 0, &v) == NUM_OK && v < UINT32_MAX)
		return (unsigned)v;
#endif
	return INCOMING_CDIFF_WAIT_MS;
}

static bool
dbname_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

/*
 * NAME-VERSION.cdiff whose first bytes say "ClamAV-Diff:VERSION:": its
 * NAME and VERSION, hints for the order only.  false: not such a file
 * (it goes to the pipeline at once, as any file).
 */
static bool
cdiff_hint(const char *dir, const char *name, char *db, size_t dblen,
    unsigned *version)
{
	char path[4600], head[CDIFF_HEAD_READ + 1], want[CDIFF_HEAD_READ];
	size_t l = strlen(name), bl;
	const char *dash;
	uint64_t v;
	ssize_t n;
	int fd;

	if (l <= 6 || strcmp(name + l - 6, ".cdiff") != 0)
		return false;
	bl = l - 6;
	for (dash = name + bl; dash > name && dash[-1] != '-'; dash--)
		;
	if (dash <= name + 1 || (size_t)(dash - 1 - name) >= dblen ||
	    (size_t)(name + bl - dash) > CDIFF_VERSION_DIGITS ||
	    num_u64(dash, (size_t)(name + bl - dash), NUM_CANONICAL, &v) != NUM_OK ||
	    v == 0 || v > UINT32_MAX)
		return false;
	for (const char *p = name; p < dash - 1; p++)
		if (!dbname_char(*p))
			return false;
	str_fmt(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	head[n > 0 ? n : 0] = '\0';
	str_fmt(want, sizeof(want), CDIFF_MAGIC "%llu:", (unsigned long long)v);
	if (strncmp(head, want, strlen(want)) != 0)
		return false;
	str_fmt(db, dblen, "%.*s", (int)(dash - 1 - name), name);
	*version = (unsigned)v;
	return true;
}

/* Keep a cdiff of the listing in mind; false: no room (it waits its turn). */
static bool
cdiff_track(struct incoming *u, const char *name, const char *db,
    unsigned version)
{
	struct incoming_cdiff *e;

	for (unsigned i = 0; i < u->ncd; i++) {
		e = &u->cd[i];
		if (strcmp(e->name, name) != 0)
			continue;
		if (strcmp(e->db, db) != 0 || e->version != version) {
			str_fmt(e->db, sizeof(e->db), "%s", db);   /* replaced */
			e->version = version;
			e->waits_for = 0;
		}
		e->seen = true;
		return true;
	}
	if (u->cd == NULL || u->ncd >= INCOMING_CDIFF_TRACK)
		return false;
	e = &u->cd[u->ncd++];
	memset(e, 0, sizeof(*e));
	str_fmt(e->name, sizeof(e->name), "%s", name);
	str_fmt(e->db, sizeof(e->db), "%s", db);
	e->version = version;
	e->seen = true;
	return true;
}

/* Forget what is gone from incoming/ (submitted, removed): name[0] or !seen. */
static void
cdiff_compact(struct incoming *u)
{
	unsigned k = 0;

	u->nwaiting = 0;
	for (unsigned i = 0; i < u->ncd; i++) {
		if (!u->cd[i].seen || u->cd[i].name[0] == '\0')
			continue;
		if (u->cd[i].waits_for != 0)
			u->nwaiting++;
		if (k != i)
			u->cd[k] = u->cd[i];
		k++;
	}
	u->ncd = k;
}

static int
cdiff_cmp(const void *pa, const void *pb)
{
	const struct incoming_cdiff *a = pa, *b = pb;
	int c = strcmp(a->db, b->db);

	if (c != 0)
		return c;
	if (a->version != b->version)
		return a->version < b->version ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* Hand e to the queue, plainly (why NULL) or to be rejected with why. */
static bool
cdiff_submit(struct daemon *d, const char *dir, struct incoming_cdiff *e,
    const char *why);

/* e waits for version need; rejected once it has waited too long. */
static void
cdiff_wait(struct daemon *d, const char *dir, struct incoming_cdiff *e,
    unsigned need, const char *active, unsigned have, unsigned *nwaiting,
    int64_t *deadline)
{
	int64_t now = mono_ms(), max = cdiff_wait_max_ms();
	char why[600], path[4600];
	struct event ev;

	if (*nwaiting >= INCOMING_CDIFF_WAIT_MAX) {
		str_fmt(why, sizeof(why), "%s: %u cdiffs wait for their base in incoming/ already (the limit)",
		    e->name, INCOMING_CDIFF_WAIT_MAX);
		(void)cdiff_submit(d, dir, e, why);
		return;
	}
	(*nwaiting)++;
	if (e->waits_for != need) {
		e->waits_for = need;
		e->since_ms = walltime_now_ms();
		e->since_mono = now;
		str_fmt(why, sizeof(why), "%s waits for %s version %u (the active %s is version %u)",
		    e->name, e->db, need, active, have);
		dlog(&d->log, DLOG_WARNING, "incoming: %s; rejected after %.0f s unless it comes",
		    why, (double)max / 1000.0);
		events_begin(&ev, EVENT_UPDATE_WAITING, e->since_ms);
		str_fmt(path, sizeof(path), "%s/%s", dir, e->name);
		events_add_str(&ev, "file", path);
		events_add_str(&ev, "reason", why);
		events_add_str(&ev, "database", e->db);
		events_add_int(&ev, "version", e->version);
		events_add_int(&ev, "waits_for", need);
		daemon_event(d, &ev);
	}
	if (now - e->since_mono >= max) {
		str_fmt(why, sizeof(why), "%s: waited %lld s for %s version %u, which never came",
		    e->name, (long long)((now - e->since_mono) / 1000), e->db, need);
		(void)cdiff_submit(d, dir, e, why);
	} else if (*deadline < 0 || e->since_mono + max < *deadline) {
		*deadline = e->since_mono + max;
	}
}

/*
 * The cdiffs of one database (cd[0..n), in version order) against its
 * active container: the next one goes, those after it in an unbroken
 * chain are in line, those beyond a gap wait; those the active version
 * has passed go too (rejected as they always were, or as obsolete when
 * they were waiting).
 */
static void
cdiff_plan_db(struct daemon *d, const char *dir, struct incoming_cdiff *cd,
    unsigned n, unsigned *nwaiting, int64_t *deadline)
{
	char active[STORE_NAME_MAX + 1], err[512], why[600];
	struct cvd_header h;
	bool sent = false;
	unsigned next;
	int found;

	found = activation_active_container(d->cfg.definitions_dir, cd[0].db,
	    active, sizeof(active), &h, err, sizeof(err));
	if (found < 0) {
		dlog(&d->log, DLOG_WARNING, "incoming: the active %s: %s (its cdiffs wait)",
		    cd[0].db, err);
		return;
	}
	next = found ? h.version + 1 : 0;
	for (unsigned i = 0; i < n; i++) {
		struct incoming_cdiff *e = &cd[i];

		if (!found) {   /* rejected as ever: nothing to apply it to */
			(void)cdiff_submit(d, dir, e, NULL);
		} else if (e->version <= h.version) {
			if (e->waits_for != 0)
				str_fmt(why, sizeof(why), "%s: obsolete: the active %s became version %u while it waited for version %u",
				    e->name, active, h.version, e->waits_for);
			(void)cdiff_submit(d, dir, e, e->waits_for != 0 ? why : NULL);
		} else if (e->version < next) {
			e->waits_for = 0;   /* the same version twice: in line */
		} else if (e->version == next) {
			e->waits_for = 0;
			if (!sent)   /* the one that applies now; the rest in line */
				(void)cdiff_submit(d, dir, e, NULL);
			sent = true;
			next++;
		} else {
			cdiff_wait(d, dir, e, next, active, h.version, nwaiting,
			    deadline);
		}
	}
}

static bool
cdiff_submit(struct daemon *d, const char *dir, struct incoming_cdiff *e,
    const char *why)
{
	char path[4600], sign[4700], err[512];
	struct stat st;
	int rc;

	str_fmt(path, sizeof(path), "%s/%s", dir, e->name);
	str_fmt(sign, sizeof(sign), "%s.sign", path);
	if (lstat(sign, &st) != 0)
		sign[0] = '\0';
	if (why == NULL) {
		dlog(&d->log, DLOG_INFO, "incoming: %s%s", path,
		    sign[0] ? " (and its .sign)" : "");
		rc = update_submit(d, path, sign, false, true, false, incoming_done,
		    NULL, err, sizeof(err));
	} else {
		dlog(&d->log, DLOG_WARNING, "incoming: %s", why);
		rc = update_submit_rejected(d, path, sign, why, incoming_done, NULL,
		    err, sizeof(err));
	}
	if (rc != 0) {
		dlog(&d->log, DLOG_WARNING, "incoming: %s: %s (looked at again later)",
		    path, err);
		return false;
	}
	e->name[0] = '\0';   /* queued: forgotten here */
	return true;
}

/* The queue is idle: which cdiffs go, which wait, which are rejected. */
static void
cdiff_plan(struct daemon *d, const char *dir)
{
	struct incoming *u = &d->inc;
	unsigned nwaiting = 0, i, j;
	int64_t deadline = -1;

	qsort(u->cd, u->ncd, sizeof(u->cd[0]), cdiff_cmp);
	for (i = 0; i < u->ncd; i = j) {
		for (j = i + 1; j < u->ncd && strcmp(u->cd[j].db, u->cd[i].db) == 0; j++)
			;
		cdiff_plan_db(d, dir, u->cd + i, j - i, &nwaiting, &deadline);
	}
	cdiff_compact(u);
	ev_timer_stop(d->loop, &u->wait_timer);
	if (deadline >= 0) {
		int64_t in = deadline - mono_ms();

		ev_timer_set(&u->wait_timer, (double)(in > 0 ? in : 0) / 1000.0 + 0.05, 0.);
		ev_timer_start(d->loop, &u->wait_timer);
	}
}

/*
 * List incoming/ and queue each file not queued yet (.sign files ride
 * along); cdiffs are kept in mind and planned once the queue is idle.
 */
static void
incoming_scan(struct daemon *d)
{
	struct incoming *u = &d->inc;
	char dir[4200], path[4600], sign[4700], err[512], db[64];
	unsigned version, untracked = 0;
	struct dirent *de;
	struct stat st;
	DIR *dp;

	str_fmt(dir, sizeof(dir), "%s/%s", d->cfg.definitions_dir, STORE_DIR_INCOMING);
	if ((dp = opendir(dir)) == NULL) {
		dlog(&d->log, DLOG_ERROR, "%s: %s", dir, strerror(errno));
		return;
	}
	for (unsigned i = 0; i < u->ncd; i++)
		u->cd[i].seen = false;
	while ((de = readdir(dp)) != NULL) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' || (l > 5 &&
		    strcmp(de->d_name + l - 5, ".sign") == 0))
			continue;   /* temporary files; a .sign waits for its file */
		str_fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0 || update_is_queued(d, path))
			continue;
		if (S_ISREG(st.st_mode) &&
		    cdiff_hint(dir, de->d_name, db, sizeof(db), &version)) {
			if (!cdiff_track(u, de->d_name, db, version))
				untracked++;
			continue;
		}
		str_fmt(sign, sizeof(sign), "%s.sign", path);
		if (lstat(sign, &st) != 0)
			sign[0] = '\0';
		dlog(&d->log, DLOG_INFO, "incoming: %s%s", path,
		    sign[0] ? " (and its .sign)" : "");
		if (update_submit(d, path, sign, false, true, false, incoming_done, NULL, err,
		    sizeof(err)) != 0) {
			dlog(&d->log, DLOG_WARNING, "incoming: %s: %s (looked at again on the next change)",
			    path, err);
			break;
		}
	}
	closedir(dp);
	cdiff_compact(u);   /* forget those gone */
	if (untracked > 0)
		dlog(&d->log, DLOG_WARNING, "incoming: %u more cdiffs than the %u kept in mind; they wait their turn",
		    untracked, INCOMING_CDIFF_TRACK);
	if (u->ncd > 0 && update_idle(d) && mono_ms() >= u->hold_until)
		cdiff_plan(d, dir);
}

/* The queue is idle (update.c): cdiffs held back may go. */
static void
incoming_on_idle(struct daemon *d)
{
	struct incoming *u = &d->inc;

	if (u->ncd == 0 || u->ino_fd < 0 || ev_is_active(&u->settle) ||
	    mono_ms() < u->hold_until)
		return;
	ev_timer_set(&u->settle, INCOMING_SETTLE_S, 0.);
	ev_timer_start(d->loop, &u->settle);
}

static void
incoming_settled(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct daemon *d = t->data;

	(void)loop;
	(void)revents;
	incoming_scan(d);
}

static void
incoming_on_inotify(struct ev_loop *loop, ev_io *io, int revents)
{
	struct daemon *d = io->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)revents;
	while ((n = read(d->inc.ino_fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		dlog(&d->log, DLOG_ERROR, "incoming: inotify: %s", strerror(errno));
	/* a quiet moment first: a .cvd and its .sign arrive together */
	ev_timer_stop(loop, &d->inc.settle);
	ev_timer_set(&d->inc.settle, INCOMING_SETTLE_S, 0.);
	ev_timer_start(loop, &d->inc.settle);
}

int
incoming_init(struct daemon *d, char *err, size_t errlen)
{
	struct incoming *u = &d->inc;
	char dir[4200];

	ev_init(&u->settle, incoming_settled);
	u->settle.data = d;
	ev_init(&u->retry, incoming_settled);
	u->retry.data = d;
	ev_init(&u->wait_timer, incoming_settled);
	u->wait_timer.data = d;
	u->ino_fd = -1;
	u->ncd = u->nwaiting = 0;
	if ((u->cd = calloc(INCOMING_CDIFF_TRACK, sizeof(*u->cd))) == NULL) {
		str_fmt(err, errlen, "out of memory");
		return -1;
	}
	str_fmt(dir, sizeof(dir), "%s/%s", d->cfg.definitions_dir, STORE_DIR_INCOMING);
	if ((u->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		str_fmt(err, errlen, "inotify: %s", strerror(errno));
		return -1;
	}
	if (inotify_add_watch(u->ino_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO |
	    IN_ONLYDIR | IN_DONT_FOLLOW) < 0) {
		str_fmt(err, errlen, "%s: inotify: %s", dir, strerror(errno));
		close(u->ino_fd);
		u->ino_fd = -1;
		return -1;
	}
	ev_io_init(&u->ino_io, incoming_on_inotify, u->ino_fd, EV_READ);
	u->ino_io.data = d;
	ev_io_start(d->loop, &u->ino_io);
	d->upd.on_idle = incoming_on_idle;
	/* what arrived while ampdaemon was down */
	ev_timer_set(&u->settle, INCOMING_SETTLE_S, 0.);
	ev_timer_start(d->loop, &u->settle);
	return 0;
}

void
incoming_free(struct daemon *d)
{
	struct incoming *u = &d->inc;

	ev_timer_stop(d->loop, &u->settle);
	ev_timer_stop(d->loop, &u->retry);
	ev_timer_stop(d->loop, &u->wait_timer);
	d->upd.on_idle = NULL;
	free(u->cd);
	u->cd = NULL;
	u->ncd = u->nwaiting = 0;
	if (u->ino_fd >= 0) {
		ev_io_stop(d->loop, &u->ino_io);
		close(u->ino_fd);
		u->ino_fd = -1;
	}
}
