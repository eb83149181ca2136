/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * incoming/: files dropped there become queued updates.  An inotify
 * watch (IN_CLOSE_WRITE, IN_MOVED_TO) arms a short settle timer, so a
 * .cvd and its .sign are read together; dot-files wait; what is there
 * at start is read too.  main.c starts it; it sits above update.c and
 * hears of an I/O failure through the done callback it submits with.
 * docs/updates.md.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "store.h"

#define INCOMING_SETTLE_S 0.25            /* quiet in incoming/ before reading it */
#define INCOMING_RETRY_S 60.0             /* again after an I/O failure */

/* ---- incoming/ ---------------------------------------------------------------- */

/* An update from incoming/ ended; one that failed for I/O (not for its
 * bytes: it stays in incoming/) is looked at again in a while. */
static void
incoming_done(struct daemon *d, void *arg, int status, const char *text)
{
	struct incoming *u = &d->inc;

	(void)arg;
	(void)text;
	if (status == UPDATE_DONE_IO && u->ino_fd >= 0 &&
	    !ev_is_active(&u->retry)) {
		ev_timer_set(&u->retry, INCOMING_RETRY_S, 0.);
		ev_timer_start(d->loop, &u->retry);
	}
}

/* List incoming/ and queue each file not queued yet (.sign files ride along). */
static void
incoming_scan(struct daemon *d)
{
	char dir[4200], path[4600], sign[4700], err[512];
	struct dirent *de;
	struct stat st;
	DIR *dp;

	str_fmt(dir, sizeof(dir), "%s/%s", d->cfg.definitions_dir, STORE_DIR_INCOMING);
	if ((dp = opendir(dir)) == NULL) {
		dlog(&d->log, DLOG_ERROR, "%s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' || (l > 5 &&
		    strcmp(de->d_name + l - 5, ".sign") == 0))
			continue;   /* temporary files; a .sign waits for its file */
		str_fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0 || update_is_queued(d, path))
			continue;
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
	u->ino_fd = -1;
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
	if (u->ino_fd >= 0) {
		ev_io_stop(d->loop, &u->ino_io);
		close(u->ino_fd);
		u->ino_fd = -1;
	}
}
