/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control and scan sockets' connections (connset.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "connset.h"
#include "dirtrust.h"
#include "daemon.h"

#define CONNSET_ACCEPT_BURST 64       /* accepts per wake-up */
#define CONNSET_ACCEPT_PAUSE 0.1      /* s without accepting after EMFILE */

static void
conn_free(struct conn *c)
{
	struct connset *s = c->set;
	struct conn **pp;

	for (pp = &s->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			s->nconns--;
			break;
		}
	s->ops->release(c);
	strbuf_free(&c->out);
	free(c);
}

/* Read and drop what the protocol left in the queue (a clean end). */
static void
conn_drop_held(struct conn *c)
{
	char sink[4096];
	ssize_t n;

	while (c->held > 0) {
		n = recv(c->fd, sink, c->held < sizeof(sink) ? c->held : sizeof(sink),
		    MSG_DONTWAIT);
		if (n <= 0)
			break;
		c->held -= (size_t)n;
	}
	c->held = 0;
}

static void
conn_shut(struct conn *c)
{
	struct ev_loop *loop = c->set->d->loop;

	ev_timer_stop(loop, &c->timer);
	ev_timer_stop(loop, &c->stall);
	if (c->fd >= 0) {
		ev_io_stop(loop, &c->rio);
		ev_io_stop(loop, &c->wio);
		close(c->fd);
		c->fd = -1;
	}
	c->dead = true;
	ev_prepare_start(loop, &c->set->reaper);
	if (c->throttled) {
		c->throttled = false;
		c->set->ops->unthrottled(c);
	}
}

void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		conn_drop_held(c);
	conn_shut(c);
}

void
conn_reset(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (c->fd >= 0)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_shut(c);
}

void
conn_release(struct conn *c)
{
	c->busy--;
	if (c->dead)
		ev_prepare_start(c->set->d->loop, &c->set->reaper);
}

static void
connset_on_reap(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct connset *s = w->data;
	struct conn *c, *next;

	(void)revents;
	ev_prepare_stop(loop, w);
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (c->dead && c->busy == 0)
			conn_free(c);
	}
}

/* A throttled connection whose output fell to the low-water mark. */
static void
conn_check_drained(struct conn *c)
{
	if (c->throttled && c->out.len <= c->set->ops->out_low) {
		c->throttled = false;
		c->set->ops->unthrottled(c);
	}
}

void
conn_flush(struct conn *c)
{
	struct ev_loop *loop = c->set->d->loop;
	ssize_t n;

	if (c->dead)
		return;
	while (c->out.len > 0) {
		n = send(c->fd, c->out.buf, c->out.len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			ev_io_start(loop, &c->wio);
			if (!ev_is_active(&c->stall))   /* since the last progress */
				ev_timer_start(loop, &c->stall);
			conn_check_drained(c);
			return;
		}
		if (n <= 0) {
			conn_close(c);
			return;
		}
		memmove(c->out.buf, c->out.buf + n, c->out.len - (size_t)n);
		c->out.len -= (size_t)n;
		c->out.buf[c->out.len] = '\0';
		ev_timer_stop(loop, &c->stall);   /* it reads: not stalled */
	}
	ev_io_stop(loop, &c->wio);
	conn_check_drained(c);
	if (c->lingering && !c->wr_shut && c->busy == 0 && !c->dead) {
		/* the replies are out: the client reads them, then an end */
		(void)shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
	if (c->closing && c->busy == 0 && !c->dead)
		conn_close(c);
}

/* ---- lingering (conn_linger) ------------------------------------------- */

/* The linger is over: close once the replies are out and nothing runs. */
static void
conn_linger_end(struct conn *c)
{
	ev_io_stop(c->set->d->loop, &c->rio);
	ev_timer_stop(c->set->d->loop, &c->timer);
	c->closing = true;
	conn_flush(c);
}

static void
conn_on_linger_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	char sink[65536];
	ssize_t n;
	int i;

	(void)loop;
	(void)revents;
	for (i = 0; i < CONNSET_LINGER_BURST && !c->dead; i++) {
		n = recv(c->fd, sink, c->linger_left < sizeof(sink) ?
		    c->linger_left : sizeof(sink), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {   /* the client closed (or failed): done */
			conn_linger_end(c);
			return;
		}
		c->linger_left -= (size_t)n;
		if (c->linger_left == 0) {
			conn_linger_end(c);
			return;
		}
	}
}

static void
conn_on_linger_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	conn_linger_end(t->data);
}

void
conn_linger(struct conn *c, size_t max_bytes, double max_s)
{
	struct ev_loop *loop = c->set->d->loop;

	if (c->dead || c->lingering)
		return;
	conn_drop_held(c);
	c->lingering = true;
	c->linger_left = max_bytes > 0 ? max_bytes : 1;
	ev_io_stop(loop, &c->rio);
	ev_set_cb(&c->rio, conn_on_linger_read);
	ev_io_start(loop, &c->rio);
	ev_timer_stop(loop, &c->timer);
	ev_set_cb(&c->timer, conn_on_linger_timeout);
	ev_timer_set(&c->timer, max_s, 0.);
	ev_timer_start(loop, &c->timer);
	conn_flush(c);
}

/* The client took none of its output for CONNSET_STALL_TIMEOUT. */
static void
conn_on_stall(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct conn *c = t->data;

	(void)loop;
	(void)revents;
	if (c->dead)
		return;
	dlog(&c->set->d->log, DLOG_WARNING, "%s: a client took none of its %zu bytes of replies for %.0f s; connection reset",
	    c->set->ops->name, c->out.len, c->set->ops->stall_timeout > 0 ?
	    c->set->ops->stall_timeout : CONNSET_STALL_TIMEOUT);
	conn_reset(c);
}

static void
conn_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_flush(w->data);
}

/* ---- accepting ----------------------------------------------------------- */

static void
connset_on_resume(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct connset *s = t->data;

	(void)revents;
	if (!s->d->stopping)
		for (size_t i = 0; i < s->nlis; i++)
			ev_io_start(loop, &s->lis[i].io);
}

/* A TCP peer's address, and the address and port as text. */
static void
conn_peer_name(struct conn *c, const struct sockaddr_storage *sa)
{
	const void *a;
	unsigned port;

	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		a = &s6->sin6_addr;
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		a = &s4->sin_addr;
		port = ntohs(s4->sin_port);
	}
	if (inet_ntop(sa->ss_family, a, c->peer_addr, sizeof(c->peer_addr)) == NULL)
		str_fmt(c->peer_addr, sizeof(c->peer_addr), "?");
	str_fmt(c->peer, sizeof(c->peer), sa->ss_family == AF_INET6 ?
	    "[%s]:%u" : "%s:%u", c->peer_addr, port);
}

/* One connection off l's backlog; false when there was none. */
static bool
connset_accept_one(struct connset *s, const struct connset_listener *l)
{
	struct ev_loop *loop = s->d->loop;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	struct conn *c;
	int fd;

	memset(&sa, 0, sizeof(sa));
	fd = accept4(l->fd, (struct sockaddr *)&sa, &salen,
	    SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE) {
			/* the backlog would keep the socket readable and the
			 * loop spinning: pause accepting */
			if (!s->starved)
				dlog(&s->d->log, DLOG_WARNING, "%s: accept: %s; pausing %.1f s at a time until descriptors are free",
				    s->ops->name, strerror(errno), CONNSET_ACCEPT_PAUSE);
			s->starved = true;
			for (size_t i = 0; i < s->nlis; i++)
				ev_io_stop(loop, &s->lis[i].io);
			ev_timer_set(&s->resume, CONNSET_ACCEPT_PAUSE, 0.);
			ev_timer_start(loop, &s->resume);
		}
		return false;
	}
	if (s->starved) {
		dlog(&s->d->log, DLOG_INFO, "%s: accepting again", s->ops->name);
		s->starved = false;
	}
	if (s->nconns >= s->ops->conns_max || (c = calloc(1, s->ops->conn_size)) == NULL) {
		if (!s->full)
			dlog(&s->d->log, DLOG_WARNING, "%s: %zu connections open (at most %zu): refusing new ones",
			    s->ops->name, s->nconns, s->ops->conns_max);
		s->full = true;
		close(fd);
		return true;
	}
	if (s->full) {
		dlog(&s->d->log, DLOG_INFO, "%s: below %zu connections again",
		    s->ops->name, s->ops->conns_max);
		s->full = false;
	}
	c->set = s;
	c->fd = fd;
	c->tcp = l->tcp;
	if (l->tcp)
		conn_peer_name(c, &sa);
	strbuf_init(&c->out, s->ops->out_max);
	ev_io_init(&c->rio, s->ops->on_read, fd, EV_READ);
	ev_io_init(&c->wio, conn_on_write, fd, EV_WRITE);
	ev_timer_init(&c->timer, s->ops->on_timeout, s->ops->timeout, 0.);
	ev_timer_init(&c->stall, conn_on_stall, s->ops->stall_timeout > 0 ?
	    s->ops->stall_timeout : CONNSET_STALL_TIMEOUT, 0.);
	c->rio.data = c->wio.data = c->timer.data = c->stall.data = c;
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	ev_io_start(loop, &c->rio);
	ev_timer_start(loop, &c->timer);
	s->ops->accepted(c);
	return true;
}

static void
connset_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct connset *s = w->data;
	const struct connset_listener *l = NULL;
	int i;

	(void)loop;
	(void)revents;
	for (size_t k = 0; k < s->nlis; k++)
		if (&s->lis[k].io == w)
			l = &s->lis[k];
	for (i = 0; l != NULL && i < CONNSET_ACCEPT_BURST; i++)   /* a burst */
		if (!connset_accept_one(s, l))
			break;
}

/* ---- the socket ---------------------------------------------------------- */

/* A socket file left there: stale (replace it) or alive (refuse). */
static int
sock_clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : (str_fmt(err, errlen, "%s: %s", path,
		    strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		str_fmt(err, errlen, "%s: exists and is not a socket", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		str_fmt(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		str_fmt(err, errlen, "%s: another process is serving it (not taken over)",
		    path);
		return -1;
	}
	unlink(path);   /* nobody listens: stale */
	return 0;
}

/*
 * Bind fd to path with the mode and group already right: the umask
 * leaves exactly mode, and (as root) the fs group id is gid while bind
 * creates the inode, so nothing is changed by path afterwards.
 */
static int
sock_bind(int fd, const struct sockaddr_un *sa, mode_t mode, gid_t gid)
{
	mode_t old = umask((mode_t)(~mode & 0777));
	bool as_root = geteuid() == 0;
	int rc, e;

	if (as_root)
		setfsgid(gid);
	rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	if (as_root)
		setfsgid(getegid());
	umask(old);
	errno = e;
	return rc;
}

/*
 * What bind made, seen through the directory's descriptor: a socket with
 * our uid, the mode and the group.  A set-group-ID directory gives its
 * own group: corrected by name in the trusted directory, not by path.
 */
static int
sock_verify(int dirfd, const char *name, const char *path, mode_t mode,
    gid_t gid, char *err, size_t errlen)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		str_fmt(err, errlen, "%s: not the socket just bound", path);
		return -1;
	}
	if (geteuid() == 0 && st.st_gid != gid &&
	    fchownat(dirfd, name, 0, gid, AT_SYMLINK_NOFOLLOW) != 0) {
		str_fmt(err, errlen, "%s: chown: %s", path, strerror(errno));
		return -1;
	}
	if ((st.st_mode & 07777) != mode) {
		str_fmt(err, errlen, "%s: bound with mode %04o, not %04o", path,
		    (unsigned)(st.st_mode & 07777), (unsigned)mode);
		return -1;
	}
	return 0;
}

/* The socket's directory, made if missing (0755), open, and trusted. */
static int
sock_dir_open(const char *path, char *dir, size_t dirlen, const char **name,
    char *err, size_t errlen)
{
	char *slash;
	int fd;

	str_fmt(dir, dirlen, "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL) {
		str_fmt(err, errlen, "%s: not an absolute path", path);
		return -1;
	}
	*name = path + (slash - dir) + 1;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		str_fmt(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		str_fmt(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (dir_trusted_fd(fd, dir, err, errlen) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
connset_open(struct connset *s, struct daemon *d,
    const struct connset_ops *ops, const char *path, mode_t mode, gid_t gid,
    int backlog, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	const char *name = NULL;
	int fd = -1, dirfd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		str_fmt(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((dirfd = sock_dir_open(path, dir, sizeof(dir), &name, err,
	    errlen)) < 0)
		return -1;
	/* another daemon (another StateDir) may serve this path: not taken */
	if (sock_clear_stale(path, err, errlen) != 0)
		goto fail;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		str_fmt(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	if (sock_bind(fd, &sa, mode & 0777, gid) != 0) {
		str_fmt(err, errlen, "%s: bind: %s", path, strerror(errno));
		goto fail;
	}
	if (sock_verify(dirfd, name, path, mode & 0777, gid, err, errlen) != 0) {
		unlinkat(dirfd, name, 0);
		goto fail;
	}
	if (listen(fd, backlog) != 0) {
		str_fmt(err, errlen, "%s: listen: %s", path, strerror(errno));
		unlinkat(dirfd, name, 0);
		goto fail;
	}
	close(dirfd);
	memset(s, 0, sizeof(*s));
	s->d = d;
	s->ops = ops;
	s->lis[0].fd = fd;
	s->nlis = 1;
	memcpy(s->path, sa.sun_path, sizeof(s->path));
	ev_io_init(&s->lis[0].io, connset_on_accept, fd, EV_READ);
	s->lis[0].io.data = s;
	ev_prepare_init(&s->reaper, connset_on_reap);
	s->reaper.data = s;
	ev_init(&s->resume, connset_on_resume);
	s->resume.data = s;
	ev_io_start(d->loop, &s->lis[0].io);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	close(dirfd);
	return -1;
}

/* addr and port as a socket address; false: not a numeric address. */
static bool
tcp_sockaddr(const char *addr, unsigned port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return true;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return true;
	}
	return false;
}

int
connset_listen_tcp(struct connset *s, const char *addr, unsigned port,
    int backlog, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct connset_listener *l;
	socklen_t len;
	int fd = -1, one = 1;
	char where[CONNSET_PEER_MAX + 8];

	str_fmt(where, sizeof(where), strchr(addr, ':') != NULL ? "[%.*s]:%u" :
	    "%.*s:%u", INET6_ADDRSTRLEN, addr, port);

	if (s->nlis >= CONNSET_LISTEN_MAX || port == 0 || port > 65535 ||
	    !tcp_sockaddr(addr, port, &ss, &len)) {
		str_fmt(err, errlen, "%s: listen: %s", where, s->nlis >=
		    CONNSET_LISTEN_MAX ? "too many addresses" :
		    "not a numeric address and port");
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) < 0) {
		str_fmt(err, errlen, "%s: socket: %s", where, strerror(errno));
		return -1;
	}
	/* a restart binds at once (no TIME_WAIT wait); a live listener
	 * still makes bind fail: SO_REUSEPORT is not set */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(fd, backlog) != 0) {
		str_fmt(err, errlen, "%s: bind: %s", where, strerror(errno));
		close(fd);
		return -1;
	}
	l = &s->lis[s->nlis++];
	l->fd = fd;
	l->tcp = true;
	ev_io_init(&l->io, connset_on_accept, fd, EV_READ);
	l->io.data = s;
	ev_io_start(s->d->loop, &l->io);
	return 0;
}

void
connset_stop_accepting(struct connset *s)
{
	for (size_t i = 0; i < s->nlis; i++)
		ev_io_stop(s->d->loop, &s->lis[i].io);
	ev_timer_stop(s->d->loop, &s->resume);
}

void
connset_close(struct connset *s)
{
	struct conn *c;

	connset_stop_accepting(s);
	for (size_t i = 0; i < s->nlis; i++)
		close(s->lis[i].fd);
	s->nlis = 0;
	unlink(s->path);
	for (c = s->conns; c != NULL; c = c->next)
		conn_close(c);
	ev_prepare_stop(s->d->loop, &s->reaper);
	while (s->conns != NULL)
		conn_free(s->conns);
}
