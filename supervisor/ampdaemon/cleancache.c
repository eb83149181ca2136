/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The clean-file cache and its read leases (cleancache.h).  The table is
 * small (CC_ENTRIES_MAX) and searched linearly: a lookup is a few
 * thousand compares, far below the cost of one scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleancache.h"

#define CC_LEASE_SIG (SIGRTMIN + 2)   /* F_SETSIG: carries the fd */
#define CC_PROC_FD_LEN 40

enum cc_state { CC_FREE, CC_PENDING, CC_BROKEN, CC_CACHED };

struct cc_entry {
	int fd;                          /* ampdaemon's own O_RDONLY, leased */
	enum cc_state st;
	uint32_t epoch;
	struct clean_key key;
	int64_t added_ms;
};

static int64_t
cc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
cc_init(struct cleancache *c, unsigned cap)
{
	memset(c, 0, sizeof(*c));
	c->cap = cap;
	c->sfd = -1;
	c->sweep_ms = CC_SWEEP_MS;
	c->max_age_ms = CC_MAX_AGE_MS;
#ifdef AMPSCAN_TEST_HOOKS
	/* AMPSCAN_TEST_CACHE_SWEEP_MS: a faster sweep for the tests */
	const char *s = getenv("AMPSCAN_TEST_CACHE_SWEEP_MS");

	if (s != NULL && strtol(s, NULL, 10) > 0)
		c->sweep_ms = strtol(s, NULL, 10);
#endif
}

bool
cc_key_of(int fd, struct clean_key *k)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink == 0)
		return false;   /* unlinked files: their inode may come back */
	memset(k, 0, sizeof(*k));
	k->dev = (uint64_t)st.st_dev;
	k->ino = (uint64_t)st.st_ino;
	k->size = (uint64_t)st.st_size;
	k->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	k->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	return true;
}

static bool
cc_key_eq(const struct clean_key *a, const struct clean_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

/* Release a slot's lease at once (a waiting writer goes on) and free it
 * unless a request still owns it (then CC_BROKEN until settled). */
static void
cc_release(struct cleancache *c, struct cc_entry *e, bool settled)
{
	if (e->fd >= 0) {
		(void)fcntl(e->fd, F_SETLEASE, F_UNLCK);
		close(e->fd);
		e->fd = -1;
	}
	if (e->st == CC_CACHED) {
		c->cached--;
		c->n.dropped++;
	} else if (e->st == CC_PENDING || e->st == CC_BROKEN) {
		if (!settled) {
			e->st = CC_BROKEN;
			return;
		}
		c->pending--;
	}
	e->st = CC_FREE;
}

/* Whether e's lease still stands (not broken, not being broken). */
static bool
cc_lease_held(const struct cc_entry *e)
{
	return e->fd >= 0 && fcntl(e->fd, F_GETLEASE) == F_RDLCK;
}

bool
cc_lookup(struct cleancache *c, const struct clean_key *k)
{
	for (unsigned i = 0; c->e != NULL && i < c->cap; i++) {
		struct cc_entry *e = &c->e[i];

		if (e->st != CC_CACHED || e->key.dev != k->dev || e->key.ino != k->ino)
			continue;
		if (cc_key_eq(&e->key, k) && cc_lease_held(e)) {
			c->n.hits++;
			return true;
		}
		cc_release(c, e, true);   /* changed or broken: gone */
	}
	c->n.misses++;
	return false;
}

/* A slot for a new lease: a free one, else the oldest cached entry's. */
static struct cc_entry *
cc_slot_for_new(struct cleancache *c)
{
	struct cc_entry *old = NULL;

	if (c->e == NULL && (c->e = calloc(c->cap, sizeof(*c->e))) == NULL)
		return NULL;
	for (unsigned i = 0; i < c->cap; i++) {
		struct cc_entry *e = &c->e[i];

		if (e->st == CC_FREE)
			return e;
		if (e->st == CC_CACHED && (old == NULL || e->added_ms < old->added_ms))
			old = e;
	}
	if (old != NULL)
		cc_release(c, old, true);
	return old;
}

static void
cc_refused(struct cleancache *c, const char *what, int err)
{
	c->n.no_lease++;
	snprintf(c->lease_error, sizeof(c->lease_error), "%s: %s", what,
	    strerror(err));
}

/*
 * ampdaemon's own read-only open file of the inode behind fd: a lease on
 * the client's (maybe O_RDWR) open file would not break on its own
 * writes, and the worker shares the submitted one.  O_NONBLOCK: an open
 * that would wait for someone else's lease fails instead.
 */
static int
cc_reopen(struct cleancache *c, int fd, const struct clean_key *k)
{
	char path[CC_PROC_FD_LEN];
	struct clean_key nk;
	int lfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	lfd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (lfd < 0) {
		cc_refused(c, "reopen", errno);
		return -1;
	}
	if (!cc_key_of(lfd, &nk) || nk.dev != k->dev || nk.ino != k->ino) {
		close(lfd);
		cc_refused(c, "reopen", ESTALE);
		return -1;
	}
	return lfd;
}

int
cc_acquire(struct cleancache *c, int fd, const struct clean_key *k)
{
	struct cc_entry *e;
	int lfd;

	if (c->cap == 0 || c->sfd < 0) {
		if (c->cap != 0)
			cc_refused(c, "no break-signal watcher", ENOSYS);
		return -1;
	}
	if ((e = cc_slot_for_new(c)) == NULL) {
		c->n.full++;
		return -1;
	}
	if ((lfd = cc_reopen(c, fd, k)) < 0)
		return -1;
	if (fcntl(lfd, F_SETSIG, CC_LEASE_SIG) != 0 ||
	    fcntl(lfd, F_SETLEASE, F_RDLCK) != 0) {
		/* EAGAIN: open for writing or mapped writable; EACCES: not
		 * ours and no CAP_LEASE; EINVAL: no leases on this fs */
		cc_refused(c, "read lease", errno);
		close(lfd);
		return -1;
	}
	e->fd = lfd;
	e->st = CC_PENDING;
	e->epoch = c->epoch;
	e->key = *k;
	e->added_ms = cc_now_ms();
	c->pending++;
	return (int)(e - c->e);
}

void
cc_settle(struct cleancache *c, int slot, bool clean, bool whole,
    uint64_t read_bytes)
{
	struct cc_entry *e;
	struct clean_key now;

	if (slot < 0 || c->e == NULL || (unsigned)slot >= c->cap)
		return;
	e = &c->e[slot];
	if (e->st != CC_PENDING && e->st != CC_BROKEN)
		return;
	if (!clean) {
		cc_release(c, e, true);
		return;
	}
	if (!whole || read_bytes != e->key.size) {
		c->n.short_read++;
		cc_release(c, e, true);
		return;
	}
	/* the lease held throughout and nothing changed the file since the
	 * key was taken (ctime moves on any change of the inode) */
	if (e->st == CC_BROKEN || e->epoch != c->epoch || !cc_lease_held(e) ||
	    !cc_key_of(e->fd, &now) || !cc_key_eq(&now, &e->key)) {
		c->n.broke++;
		cc_release(c, e, true);
		return;
	}
	e->st = CC_CACHED;
	e->added_ms = cc_now_ms();
	c->pending--;
	c->cached++;
}

void
cc_broken_fd(struct cleancache *c, int fd)
{
	for (unsigned i = 0; fd >= 0 && c->e != NULL && i < c->cap; i++)
		if (c->e[i].fd == fd) {
			cc_release(c, &c->e[i], false);
			return;
		}
}

void
cc_sweep(struct cleancache *c, int64_t now_ms)
{
	for (unsigned i = 0; c->e != NULL && i < c->cap; i++) {
		struct cc_entry *e = &c->e[i];
		struct stat st;

		if (e->st == CC_PENDING && !cc_lease_held(e)) {
			cc_release(c, e, false);   /* broken: its writer waits */
			continue;
		}
		if (e->st != CC_CACHED)
			continue;
		if (!cc_lease_held(e) || fstat(e->fd, &st) != 0 || st.st_nlink == 0 ||
		    now_ms - e->added_ms >= c->max_age_ms)
			cc_release(c, e, true);
	}
}

void
cc_clear(struct cleancache *c)
{
	c->epoch++;
	for (unsigned i = 0; c->e != NULL && i < c->cap; i++)
		if (c->e[i].st == CC_CACHED)
			cc_release(c, &c->e[i], true);
}

/* ---- the break signals and the sweep in the loop ------------------------ */

static void
cc_signal_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cleancache *c = w->data;
	struct signalfd_siginfo si;

	(void)loop;
	(void)revents;
	while (read(c->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if ((int)si.ssi_signo == CC_LEASE_SIG)
			cc_broken_fd(c, (int)si.ssi_fd);
		else   /* SIGIO: the signal queue overflowed, check them all */
			cc_sweep(c, cc_now_ms());
	}
}

static void
cc_sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	cc_sweep(w->data, cc_now_ms());
}

int
cc_attach(struct cleancache *c, struct ev_loop *loop)
{
	sigset_t set;

	if (c->cap == 0 || loop == NULL || c->sfd >= 0)
		return c->sfd >= 0 ? 0 : -1;
	sigemptyset(&set);
	sigaddset(&set, CC_LEASE_SIG);
	sigaddset(&set, SIGIO);
	/* blocked, read from the signalfd; children reset their mask */
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
	    (c->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		cc_refused(c, "signalfd", errno);
		return -1;
	}
	c->loop = loop;
	ev_io_init(&c->sio, cc_signal_cb, c->sfd, EV_READ);
	c->sio.data = c;
	ev_io_start(loop, &c->sio);
	ev_timer_init(&c->sweep, cc_sweep_cb, (double)c->sweep_ms / 1000.0,
	    (double)c->sweep_ms / 1000.0);
	c->sweep.data = c;
	ev_timer_start(loop, &c->sweep);
	ev_unref(loop);   /* neither keeps the loop alive */
	ev_unref(loop);
	return 0;
}

void
cc_free(struct cleancache *c)
{
	for (unsigned i = 0; c->e != NULL && i < c->cap; i++)
		if (c->e[i].st != CC_FREE)
			cc_release(c, &c->e[i], true);
	free(c->e);
	c->e = NULL;
	if (c->loop != NULL) {
		ev_ref(c->loop);
		ev_ref(c->loop);
		ev_io_stop(c->loop, &c->sio);
		ev_timer_stop(c->loop, &c->sweep);
		c->loop = NULL;
	}
	if (c->sfd >= 0)
		close(c->sfd);
	c->sfd = -1;
}
