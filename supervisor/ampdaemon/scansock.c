/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan socket: the clamd protocol (docs/scan-protocol.md) on LocalSocket,
 * and on TCP with TCPSocket (the same set of connections: a TCP peer is
 * never trusted, has no uid, and gets no path commands unless
 * TCPAllowPathCommands), so that clamdscan and the clamd client libraries
 * work unchanged.
 *
 * A connection reads commands (clamdproto.c parses them), and each scan
 * command becomes a job: one file (a path, an INSTREAM into a memfd, a
 * FILDES descriptor) or a directory walked in bounded steps, its files
 * handed to the pool one at a time (SCAN, CONTSCAN, ALLMATCHSCAN) or
 * several at once (MULTISCAN).  Outside IDSESSION a connection carries one
 * command and is closed once its reply is written; inside, commands are
 * read while earlier ones are still scanning, and replies carry their id.
 * Nothing here blocks: every descriptor is non-blocking, paths are opened
 * with O_NONBLOCK|O_NOFOLLOW, and a client that is slow or hostile costs
 * only its own connection (caps below).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "asuser.h"
#include "clamdproto.h"
#include "connset.h"
#include "daemon.h"
#include "scanlog.h"
#include "store.h"

#ifndef AMPSCAN_VERSION
#define AMPSCAN_VERSION "0.0.0"
#endif

#define SCAN_CONNS_MAX 1024          /* connections at once */
#define SCAN_READ_TIMEOUT 30.0       /* s for a command (clamd's CommandReadTimeout) */
#define SCAN_JOBS_MAX 64             /* jobs in flight on one connection */
#define SCAN_WALK_STEP 256           /* directory entries per loop iteration, all walks */
#define SCAN_WALK_STEP_MIN 8         /* a walk's share of it, at least */
#define SCAN_WALK_DEPTH 64           /* nesting of directories walked */
#define SCAN_DIR_ENTRIES_MAX (1u << 20) /* entries of one directory listed */
#define SCAN_OUT_MAX (4u << 20)      /* reply bytes waiting: past it, a reset */
#define SCAN_OUT_HIGH (64u << 10)    /* replies waiting: walks and reading pause */
#define SCAN_OUT_LOW (16u << 10)     /* ... until the client has taken this much */
#define SCAN_WALK_MEM_MAX (64u << 20) /* bytes of all walks' listings at once */
#define SCAN_WALK_DIR_COST 32768u    /* an open directory stream (glibc's buffer) */
#define SCAN_WENT_OVERHEAD 16u       /* malloc's share of an entry's name */
#define SCAN_FDS_MAX 16              /* descriptors received, not yet claimed */
#define SCAN_IN_MAX (CLAMD_COMMAND_MAX + 65536)
#define SCAN_PRODUCT "ampscan"
#define SCAN_BACKLOG 512             /* listen(2) */
/* the last connections, kept for root and TrustedScanUsers (the connector) */
#define SCAN_CONNS_RESERVED (SCAN_CONNS_MAX - CONFIG_CONNS_PER_USER_MAX)
#define SCAN_DRAIN_MAX 4096          /* bytes read and dropped before a refusal */
#define SCAN_STATS_FILES_MAX 256     /* file lines in STATS (trusted clients) */
/* A stream refused at its limit: what the client still sends is read and
 * dropped for this long, or this many bytes, so that it reads the error
 * rather than failing a write (EPIPE, ECONNRESET); then the close. */
#define SCAN_LINGER_TIME 2.0         /* s */
#define SCAN_LINGER_MAX (32u << 20)  /* bytes */
/* TCP peers have no uid: path commands (TCPAllowPathCommands yes) are
 * served with this account's rights, no supplementary groups */
#define SCAN_TCP_USER "nobody"
#define SCAN_TCP_UID_FALLBACK 65534
#define SCAN_WHO_MAX (CONNSET_PEER_MAX + 16)

/* The budgets' replies (clamd's style: what, then ERROR). */
#define SCAN_REPLY_STREAM_MEMORY "INSTREAM: stream memory limit reached, try again later. ERROR"
#define SCAN_REPLY_CONNS_PER_USER "Too many connections from this user (MaxConnectionsPerUser), try again later. ERROR"
#define SCAN_REPLY_RESERVED "Server busy: the remaining connections are reserved, try again later. ERROR"
#define SCAN_REPLY_SESSION_TIME "IDSESSION: session time limit reached (MaxSessionTime). ERROR"
#define SCAN_REPLY_TCP_PATH "path commands are not accepted over TCP (TCPAllowPathCommands no). ERROR"
#define SCAN_REPLY_TCP_FILDES "FILDES: not available over TCP (no descriptor can pass). ERROR"

struct sconn;

/* An entry of a directory being walked. */
struct went {
	char *name;
	ino_t ino;
	bool dir;
};

/*
 * A directory being walked: listed whole first (in steps), then sorted
 * as clamd orders a walk: files before subdirectories, each by inode.
 */
struct wlevel {
	DIR *dir;
	size_t plen;                     /* length of its path */
	struct went *e;
	size_t n, cap, pos;
	size_t bytes;                    /* charged to the walks' budget */
	bool listed;
};

/* One scan command. */
struct sjob {
	struct sconn *c;
	unsigned id;                     /* session id, 0 outside a session */
	enum clamd_framing framing;
	enum clamd_cmd cmd;
	uint32_t flags;                  /* WPROTO_SCAN_ALLMATCH */
	char root[PATH_MAX];             /* the path, "stream" or "fd[N]" */
	bool is_dir;
	/* the walk */
	struct wlevel lv[SCAN_WALK_DEPTH];
	int depth;                       /* open directories */
	char path[PATH_MAX];
	bool walk_done, stop;
	bool blocked;                    /* waiting for the client to read */
	bool incomplete;                 /* a listing was cut: no "<dir>: OK" */
	bool budget_logged;
	ev_idle step;
	unsigned inflight, found, errors;
	bool submitting;                 /* inside pool_submit: no re-entry */
	uint64_t held;                   /* INSTREAM bytes, given back at its end */
	char *logname;                   /* the log's name of a FILDES file, or NULL */
	struct sjob *next;
};

/* One file of a job, in the pool. */
struct sreq {
	struct scan_req req;             /* first: the pool hands it back */
	struct sjob *job;
};

enum sconn_state { SC_CMD, SC_INSTREAM, SC_FILDES };

struct sconn {
	struct conn conn;                /* first; conn.busy: jobs not finished */
	struct daemon *d;
	uint8_t *in;                     /* bytes read, not yet consumed */
	size_t inlen;
	enum sconn_state state;
	bool session, ended, paused;
	bool read_blocked;               /* reading paused: replies not taken */
	unsigned next_id;
	struct sjob *joblist;
	int fds[SCAN_FDS_MAX];           /* descriptors received (FILDES) */
	unsigned nfds;
	/* the command being served in SC_INSTREAM / SC_FILDES */
	unsigned cmd_id;
	enum clamd_framing cmd_framing;
	int memfd;
	uint64_t streamed;
	uint32_t chunk_left;
	bool in_chunk;
	/* the client (SO_PEERCRED at accept); trusted: root or a
	 * TrustedScanUsers account, served with ampdaemon's rights */
	pid_t peer_pid;
	uid_t peer_uid;
	gid_t peer_gid;
	bool trusted;
	/* for the log: "uid N", or "TCP addr:port" for a TCP peer, which is
	 * never trusted and counts under MaxConnectionsPerUser by address */
	char who[SCAN_WHO_MAX];
	/* StreamMemoryLimit: bytes of the stream being received, counted */
	uint64_t held;
	/* MaxSessionTime: the session's deadline; expired: no more commands */
	ev_timer life;
	enum clamd_framing session_framing;
	bool expired;
	struct asuser_cred cred;         /* untrusted: opens and lists with it */
};

struct scansock {
	struct connset set;
	uint64_t served;
	/* TrustedScanUsers, resolved at the start (root is trusted too) */
	uid_t trusted[CONFIG_NAMES_MAX];
	size_t ntrusted;
	uid_t tcp_uid;                   /* SCAN_TCP_USER: a TCP peer's rights */
	gid_t tcp_gid;
	unsigned walks;                  /* directory walks under way: they share
	                                  * SCAN_WALK_STEP, so that 40 walks cost a
	                                  * turn of the loop what one does */
	struct connset_ops ops;
};

static void sconn_process(struct sconn *c);
static void job_pump(struct sjob *j);
static void job_free(struct sjob *j);
static void wlevel_pop(struct sjob *j);
static void stream_unhold(struct daemon *d, bool trusted, uint64_t *held);
static void sconn_session_drained(struct sconn *c);

/* ---- connections ----------------------------------------------------- */

/* connset_ops.release: what the connection owns beyond struct conn */
static void
sconn_release(struct conn *cn)
{
	struct sconn *c = (struct sconn *)cn;
	struct sjob *j;
	unsigned i;

	while ((j = c->joblist) != NULL)   /* at scansock_close only */
		job_free(j);
	for (i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	if (c->memfd >= 0)
		close(c->memfd);
	stream_unhold(c->d, c->trusted, &c->held);
	ev_timer_stop(c->d->loop, &c->life);
	free(c->in);
	asuser_cred_free(&c->cred);
}

/* One reply: "<id>: text" and the terminator of its command's framing. */
static void
sconn_reply_as(struct sconn *c, unsigned id, enum clamd_framing f,
    const char *text, bool multiline)
{
	if (c->conn.dead)
		return;
	if (multiline)
		clamd_reply_put(&c->conn.out, id, f, text);
	else
		clamd_reply_put_line(&c->conn.out, id, f, text);
	if (c->conn.out.failed) {
		/* not a clean close: the replies it would read next are lost,
		 * and a client must never take a cut list for the whole */
		dlog(&c->d->log, DLOG_WARNING, "scan socket: a client (%s) does not read its replies (%zu bytes waiting); connection reset",
		    c->who, c->conn.out.len);
		conn_reset(&c->conn);
	}
}

/* A one-line reply: control characters in it (a file name's) escaped. */
static void
sconn_reply(struct sconn *c, unsigned id, enum clamd_framing f,
    const char *text)
{
	sconn_reply_as(c, id, f, text, false);
}

/* ---- budgets (docs/scan-protocol.md, "Budgets") ------------------------ */

/* budget_hit, naming a TCP peer (its uid is SCAN_TCP_USER's) */
static void
sconn_budget_hit(struct sconn *c, enum budget b, const char *what)
{
	char line[256];

	if (c->conn.tcp)
		str_fmt(line, sizeof(line), "%s (%s)", what, c->who);
	budget_hit(c->d, b, c->peer_uid, c->conn.tcp ? line : what);
}

/*
 * StreamMemoryLimit: take len more bytes of INSTREAM data for c, announced
 * by a chunk header, before a byte of it is read.  Untrusted clients
 * together hold at most three quarters of the limit: the last quarter is
 * for root and TrustedScanUsers, so the connector's streams go on while
 * other users exhaust theirs.  false: over the budget, nothing taken.
 */
static bool
stream_hold(struct sconn *c, uint64_t len)
{
	struct budgets *b = &c->d->budgets;
	uint64_t lim = c->d->cfg.stream_memory_limit;

	if (b->stream_held + len > lim)
		return false;
	if (!c->trusted && b->stream_held_untrusted + len > lim - lim / 4)
		return false;
	b->stream_held += len;
	if (!c->trusted)
		b->stream_held_untrusted += len;
	c->held += len;
	metrics_touch(c->d);
	return true;
}

/* Give back what *held counts (a stream scanned, dropped or refused). */
static void
stream_unhold(struct daemon *d, bool trusted, uint64_t *held)
{
	struct budgets *b = &d->budgets;

	if (*held == 0)
		return;
	b->stream_held -= *held;
	if (!trusted)
		b->stream_held_untrusted -= *held;
	*held = 0;
	metrics_touch(d);
}

/* The stream being received is dropped: its memfd and its bytes. */
static void
sconn_stream_drop(struct sconn *c)
{
	if (c->memfd >= 0)
		close(c->memfd);
	c->memfd = -1;
	stream_unhold(c->d, c->trusted, &c->held);
	c->state = SC_CMD;
	c->inlen = 0;
}

/*
 * A session with nothing in flight: END closes it; past MaxSessionTime it
 * ends with its error line, after the replies that were due (called when
 * the last job of the connection finishes, and when the time is up).
 */
static void
sconn_session_drained(struct sconn *c)
{
	if (!c->session || c->conn.busy > 0 || c->conn.closing || c->conn.dead)
		return;
	if (c->expired) {
		sconn_reply(c, 0, c->session_framing, SCAN_REPLY_SESSION_TIME);
		c->conn.closing = true;
	} else if (c->ended) {
		c->conn.closing = true;
	}
}

/* MaxSessionTime is up: no more commands; the error once replies are out. */
static void
sconn_on_life(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sconn *c = t->data;
	char what[96];

	(void)revents;
	if (c->conn.dead || c->conn.closing)
		return;
	c->expired = true;
	c->paused = false;   /* a finishing job must not start reading again */
	ev_io_stop(loop, &c->conn.rio);
	ev_timer_stop(loop, &c->conn.timer);
	sconn_stream_drop(c);   /* a stream half received is not scanned */
	str_fmt(what, sizeof(what), "IDSESSION ended after MaxSessionTime (%.0f s)",
	    (double)c->d->cfg.max_session_time_ms / 1000.0);
	sconn_budget_hit(c, BUDGET_SESSION_TIME, what);
	sconn_session_drained(c);
	conn_flush(&c->conn);
}

/*
 * Refuse a new connection with a line: what the client sent already is
 * read and dropped first, so that closing does not reset the connection
 * before the client reads the reply.  '\n': its framing is not known.
 */
static void
sconn_refuse(struct sconn *c, enum budget b, const char *reply,
    const char *what)
{
	char junk[SCAN_DRAIN_MAX];

	(void)recv(c->conn.fd, junk, sizeof(junk), MSG_DONTWAIT);
	sconn_budget_hit(c, b, what);
	ev_io_stop(c->d->loop, &c->conn.rio);
	sconn_reply(c, 0, CLAMD_FRAMING_N, reply);
	c->conn.closing = true;
	conn_flush(&c->conn);
}

/* The key of MaxConnectionsPerUser: the uid on the unix socket, the
 * remote address (whatever its port) on TCP. */
static bool
sconn_same_peer(const struct sconn *a, const struct sconn *b)
{
	if (a->conn.tcp != b->conn.tcp)
		return false;
	if (a->conn.tcp)
		return strcmp(a->conn.peer_addr, b->conn.peer_addr) == 0;
	return a->peer_uid == b->peer_uid;
}

/*
 * MaxConnectionsPerUser and the reserved slots, for an untrusted client
 * just accepted: true when it was refused.  Closed connections not yet
 * freed do not count.
 */
static bool
sconn_over_budget(struct sconn *c)
{
	const struct connset *set = c->conn.set;
	const struct conn *o;
	unsigned mine = 0, live = 0, max = c->d->cfg.max_connections_per_user;
	char what[128];

	for (o = set->conns; o != NULL; o = o->next) {
		if (o->dead)
			continue;
		live++;
		if (o != &c->conn && sconn_same_peer((const struct sconn *)o, c))
			mine++;
	}
	if (mine >= max) {
		str_fmt(what, sizeof(what), "%u connections open (MaxConnectionsPerUser %u): refused",
		    mine, max);
		sconn_refuse(c, BUDGET_CONNS_PER_USER, SCAN_REPLY_CONNS_PER_USER, what);
		return true;
	}
	if (live > SCAN_CONNS_MAX - SCAN_CONNS_RESERVED) {
		str_fmt(what, sizeof(what), "%u connections open: the last %d are for root and TrustedScanUsers: refused",
		    live - 1, SCAN_CONNS_RESERVED);
		sconn_refuse(c, BUDGET_RESERVED_SLOTS, SCAN_REPLY_RESERVED, what);
		return true;
	}
	return false;
}

/* ---- jobs ------------------------------------------------------------ */

static void
job_free(struct sjob *j)
{
	struct sconn *c = j->c;
	struct sjob **pp;

	ev_idle_stop(c->d->loop, &j->step);
	stream_unhold(c->d, c->trusted, &j->held);
	if (j->is_dir)
		c->d->scansock->walks--;
	while (j->depth > 0)
		wlevel_pop(j);
	for (pp = &c->joblist; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	free(j->logname);
	free(j);
}

/* The job is over: the directory's summary line, then the connection. */
static void
job_finish(struct sjob *j)
{
	struct sconn *c = j->c;
	char line[PATH_MAX + 32];

	if (j->is_dir && j->found == 0 && !j->incomplete && !c->conn.dead) {
		str_fmt(line, sizeof(line), "%s: OK", j->root);
		sconn_reply(c, j->id, j->framing, line);
	}
	job_free(j);
	conn_release(&c->conn);
	if (c->conn.dead)
		return;
	if (!c->session)
		c->conn.closing = true;
	if (c->paused && c->conn.busy < SCAN_JOBS_MAX && !c->conn.lingering) {
		c->paused = false;
		ev_io_start(c->d->loop, &c->conn.rio);
		sconn_process(c);
		if (c->conn.dead)
			return;
	}
	sconn_session_drained(c);
	if (c->session && !c->conn.closing && !c->conn.lingering &&
	    c->conn.busy == 0 && !ev_is_active(&c->conn.timer)) {
		/* an idle session is bounded in time like a command */
		ev_timer_set(&c->conn.timer, SCAN_READ_TIMEOUT, 0.);
		ev_timer_start(c->d->loop, &c->conn.timer);
	}
	conn_flush(&c->conn);
}

static void
job_reply_result(struct sjob *j, const char *name,
    const struct wproto_result *res, const char *error)
{
	struct sconn *c = j->c;
	char line[PATH_MAX + 512];
	uint32_t k;

	if (res == NULL) {
		j->errors++;
		str_fmt(line, sizeof(line), "%s: %s ERROR", name, error);
		sconn_reply(c, j->id, j->framing, line);
	} else if (res->verdict == WPROTO_FOUND && res->nnames > 0) {
		j->found++;
		for (k = 0; k < res->nnames && (k == 0 ||
		    (j->flags & WPROTO_SCAN_ALLMATCH)); k++) {
			str_fmt(line, sizeof(line), "%s: %s FOUND", name,
			    res->names[k].sig);
			sconn_reply(c, j->id, j->framing, line);
		}
		if (j->cmd == CLAMD_CMD_SCAN)
			j->stop = true;   /* SCAN stops at the first detection */
	} else if (res->verdict == WPROTO_ERROR) {
		j->errors++;
		str_fmt(line, sizeof(line), "%s: %s ERROR", name,
		    res->note[0] ? res->note : "scan error");
		sconn_reply(c, j->id, j->framing, line);
	} else if (!j->is_dir) {
		str_fmt(line, sizeof(line), "%s: OK", name);
		sconn_reply(c, j->id, j->framing, line);
	}
}

/* The result in the scan log (scanlog.h), as clamd logs it. */
static void
job_log_result(struct sjob *j, const struct scan_req *req,
    const struct wproto_result *res, const char *error)
{
	const struct sconn *c = j->c;
	const struct scanlog_client cl = {
		.uid = c->peer_uid, .pid = c->peer_pid,
		.cmd = clamd_cmd_name(j->cmd), .session_id = j->id,
	};
	const char *name = req->name, *port;
	char tcpname[CONNSET_PEER_MAX + 16];

	if (j->cmd == CLAMD_CMD_INSTREAM && c->conn.tcp &&
	    (port = strrchr(c->conn.peer, ':')) != NULL) {
		/* clamd's name of a stream from a TCP peer: instream(addr@port) */
		str_fmt(tcpname, sizeof(tcpname), "instream(%s@%s)",
		    c->conn.peer_addr, port + 1);
		name = tcpname;
	} else if (j->cmd == CLAMD_CMD_INSTREAM) {
		name = SCANLOG_STREAM_LOCAL;
	} else if (j->logname != NULL) {
		name = j->logname;
	}
	scanlog_result(c->d, &cl, req, name, res, error,
	    (j->flags & WPROTO_SCAN_ALLMATCH) != 0);
}

static void
sreq_done(struct scan_req *req, const struct wproto_result *res,
    const char *error)
{
	struct sreq *r = (struct sreq *)req;
	struct sjob *j = r->job;

	j->inflight--;
	job_log_result(j, req, res, error);
	if (!j->c->conn.dead)
		job_reply_result(j, req->name, res, error);
	free(r);
	if (j->c->conn.dead)
		j->stop = true;
	if (!j->submitting)   /* answered later, from the loop */
		job_pump(j);
}

/* Hand fd (owned from here) to the pool under name. */
static void
job_submit(struct sjob *j, int fd, const char *name)
{
	struct sreq *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		close(fd);
		job_reply_result(j, name, NULL, "out of memory");
		return;
	}
	r->job = j;
	r->req.fd = fd;
	r->req.flags = j->flags;
	str_fmt(r->req.name, sizeof(r->req.name), "%s", name);
	r->req.done = sreq_done;
	r->req.data = r;
	r->req.no_cache = j->cmd == CLAMD_CMD_INSTREAM;
	j->inflight++;
	j->c->d->scansock->served++;
	j->submitting = true;
	pool_submit(j->c->d, &r->req);   /* may answer at once (sreq_done) */
	j->submitting = false;
}

/*
 * The kernel's own filesystems: their "files" are views of processes and
 * devices (/proc/PID/mem, /sys/kernel/..., tracefs), never content anyone
 * asks a virus scanner about, and reading them as root would lend the
 * client root's eyes.  NULL for a filesystem that holds real files.
 */
static const char *
pseudo_fs(int fd)
{
	static const struct { unsigned long magic; const char *name; } fs[] = {
		{ PROC_SUPER_MAGIC, "procfs" }, { SYSFS_MAGIC, "sysfs" },
		{ DEBUGFS_MAGIC, "debugfs" }, { TRACEFS_MAGIC, "tracefs" },
		{ SECURITYFS_MAGIC, "securityfs" }, { BPF_FS_MAGIC, "bpffs" },
		{ CGROUP_SUPER_MAGIC, "cgroupfs" }, { CGROUP2_SUPER_MAGIC, "cgroup2fs" },
		{ EFIVARFS_MAGIC, "efivarfs" }, { 0x62656570UL, "configfs" },
	};
	struct statfs sfs;

	if (fstatfs(fd, &sfs) != 0)
		return "an unknown filesystem (fstatfs failed)";
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		if ((unsigned long)sfs.f_type == fs[i].magic)
			return fs[i].name;
	return NULL;
}

/*
 * What a descriptor must be before a worker reads it: open for reading
 * (not O_PATH, not O_WRONLY: a read that fails must never look like an
 * empty, clean file), a regular file, on a filesystem of real files.
 * 0, or -1 with the reason clients see.
 */
static int
scannable_fd(int fd, char *err, size_t errlen)
{
	struct stat st;
	const char *fs;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0) {
		str_fmt(err, errlen, "Cannot inspect the descriptor: %s", strerror(errno));
		return -1;
	}
	if ((fl & O_PATH) == O_PATH || (fl & O_ACCMODE) == O_WRONLY) {
		str_fmt(err, errlen, "Descriptor not open for reading");
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		str_fmt(err, errlen, "Not a regular file");
		return -1;
	}
	if ((fs = pseudo_fs(fd)) != NULL) {
		str_fmt(err, errlen, "Not scanned: a file of %s", fs);
		return -1;
	}
	return 0;
}

/*
 * Whose rights (asuser.h): an untrusted client's lookups are made with its
 * own filesystem identity, a trusted client's (root, TrustedScanUsers) with
 * ampdaemon's.  false with errno set when the identity could not be taken
 * (nothing is done then).
 */
static bool
as_client(struct sconn *c)
{
	if (c->trusted)
		return true;
	if (asuser_enter(&c->cred) == 0)
		return true;
	dlog(&c->d->log, DLOG_ERROR, "scan socket: cannot take the rights of uid %u: %s; its paths are refused",
	    (unsigned)c->peer_uid, strerror(errno));
	return false;
}

static void
as_self(struct sconn *c)
{
	int e = errno;

	if (c->trusted)
		return;
	if (asuser_leave() != 0) {
		dlog(&c->d->log, DLOG_ERROR, "scan socket: cannot give back the rights of uid %u; stopping at once",
		    (unsigned)c->peer_uid);
		abort();
	}
	errno = e;
}

static int
sc_openat(struct sconn *c, int dirfd, const char *name, int flags)
{
	int fd;

	if (!as_client(c))
		return -1;
	fd = openat(dirfd, name, flags);
	as_self(c);
	return fd;
}

static int
sc_fstatat(struct sconn *c, int dirfd, const char *name, struct stat *st)
{
	int rc;

	if (!as_client(c))
		return -1;
	rc = fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW);
	as_self(c);
	return rc;
}

/*
 * Open a regular file below dir without following links or blocking, with
 * the client's rights.  A file it may not read is "Access denied", clamd's
 * word for it.
 */
static int
open_regular(struct sconn *c, int dirfd, const char *name, char *err,
    size_t errlen)
{
	int fd = sc_openat(c, dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		str_fmt(err, errlen, "%s", errno == ELOOP ? "Not a regular file" :
		    errno == EACCES ? "Access denied." : strerror(errno));
		return -1;
	}
	if (scannable_fd(fd, err, errlen) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
wlevel_pop(struct sjob *j)
{
	struct wlevel *l = &j->lv[--j->depth];
	size_t i;

	j->c->d->budgets.walk_bytes -= l->bytes;
	for (i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	closedir(l->dir);
	memset(l, 0, sizeof(*l));
}

static int
went_cmp(const void *a, const void *b)
{
	const struct went *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir ? 1 : -1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Charge n bytes of a listing to the walks' budget; false when spent. */
static bool
walk_charge(struct sjob *j, struct wlevel *l, size_t n)
{
	struct budgets *s = &j->c->d->budgets;
	/* the last quarter is kept for root and TrustedScanUsers, so that
	 * other users' walks cannot leave the connector none */
	size_t cap = j->c->trusted ? SCAN_WALK_MEM_MAX :
	    SCAN_WALK_MEM_MAX / 4 * 3;

	if (s->walk_bytes > cap || n > cap - s->walk_bytes)
		return false;
	s->walk_bytes += n;
	l->bytes += n;
	return true;
}

/*
 * A directory (j->path up to its plen) is not walked whole: its error line,
 * and the walk's summary is no longer "OK".
 */
static void
walk_dir_error(struct sjob *j, size_t plen, const char *why)
{
	char line[PATH_MAX + 300];

	j->errors++;
	j->incomplete = true;
	str_fmt(line, sizeof(line), "%.*s: %s ERROR", plen ? (int)plen : 1,
	    plen ? j->path : "/", why);
	sconn_reply(j->c, j->id, j->framing, line);
}

/* The walks' budget is spent: the directory's error, the log, the count. */
static void
walk_over_budget(struct sjob *j, size_t plen)
{
	struct budgets *s = &j->c->d->budgets;

	s->walk_refused++;
	if (!j->budget_logged)
		dlog(&j->c->d->log, DLOG_WARNING, "scan socket: %.*s: not walked whole: directory walks hold %zu bytes of listings (at most %u); uid %u",
		    plen ? (int)plen : 1, plen ? j->path : "/", s->walk_bytes,
		    SCAN_WALK_MEM_MAX, (unsigned)j->c->peer_uid);
	j->budget_logged = true;
	walk_dir_error(j, plen, "Not scanned: directory walks use all their memory now (try again later)");
}

/* false: too deep (dir not taken), or over budget (said; dir not taken) */
static bool
wlevel_push(struct sjob *j, DIR *dir, size_t plen)
{
	struct wlevel *l;

	if (j->depth == SCAN_WALK_DEPTH)
		return false;
	l = &j->lv[j->depth];
	memset(l, 0, sizeof(*l));
	if (!walk_charge(j, l, SCAN_WALK_DIR_COST)) {
		walk_over_budget(j, plen);
		return false;
	}
	j->depth++;
	l->dir = dir;
	l->plen = plen;
	return true;
}

/*
 * Room in l for one more entry whose name is nlen bytes, charged to the
 * walks' budget; false (the directory's error said) when it is spent or
 * memory is short.
 */
static bool
wlevel_room(struct sjob *j, struct wlevel *l, size_t nlen)
{
	struct went *ne;
	size_t nc;

	if (l->n == l->cap) {
		nc = l->cap ? l->cap * 2 : 64;
		if (!walk_charge(j, l, (nc - l->cap) * sizeof(*ne))) {
			walk_over_budget(j, l->plen);
			return false;
		}
		if ((ne = realloc(l->e, nc * sizeof(*ne))) == NULL) {
			walk_dir_error(j, l->plen, "Not scanned whole: out of memory");
			return false;
		}
		l->e = ne;
		l->cap = nc;
	}
	if (!walk_charge(j, l, nlen + 1 + SCAN_WENT_OVERHEAD)) {
		walk_over_budget(j, l->plen);
		return false;
	}
	return true;
}

/* List some more of the top directory; false when the budget ran out. */
static bool
wlevel_list(struct sjob *j, unsigned *budget)
{
	struct wlevel *l = &j->lv[j->depth - 1];
	struct dirent *de;
	struct stat st;
	bool dir;

	while (!l->listed) {
		if ((*budget)-- == 0)
			return false;
		if (l->n == SCAN_DIR_ENTRIES_MAX)
			walk_dir_error(j, l->plen, "Not scanned whole: more than 1048576 entries");
		if (l->n == SCAN_DIR_ENTRIES_MAX || (de = readdir(l->dir)) == NULL) {
			l->listed = true;
			if (l->n > 1)   /* an empty directory has no array at all */
				qsort(l->e, l->n, sizeof(l->e[0]), went_cmp);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR)
			dir = true;
		else if (de->d_type == DT_REG)
			dir = false;
		else if (de->d_type == DT_UNKNOWN && sc_fstatat(j->c, dirfd(l->dir),
		    de->d_name, &st) == 0 &&
		    (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
			dir = S_ISDIR(st.st_mode);
		else
			continue;   /* links, devices, FIFOs, sockets: skipped */
		if (!wlevel_room(j, l, strlen(de->d_name))) {
			l->listed = true;   /* the entries so far are still scanned */
			if (l->n > 1)
				qsort(l->e, l->n, sizeof(l->e[0]), went_cmp);
			break;
		}
		if ((l->e[l->n].name = strdup(de->d_name)) == NULL) {
			walk_dir_error(j, l->plen, "Not scanned whole: out of memory");
			continue;
		}
		l->e[l->n].ino = de->d_ino;
		l->e[l->n].dir = dir;
		l->n++;
	}
	return true;
}

/*
 * Go down into the subdirectory name of l (j->path set to it, plen long),
 * with the client's rights.  One it may not list gets clamd's line for it;
 * one gone or replaced by a link since it was listed is skipped.
 */
static void
walk_enter(struct sjob *j, struct wlevel *l, const char *name, size_t plen)
{
	char line[PATH_MAX + 300];
	int sub;
	DIR *sd;

	sub = sc_openat(j->c, dirfd(l->dir), name, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (sub < 0) {
		if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
			return;
		j->errors++;
		str_fmt(line, sizeof(line), "%s: File path check failure: %s. ERROR",
		    j->path, strerror(errno));
		sconn_reply(j->c, j->id, j->framing, line);
		return;
	}
	if ((sd = fdopendir(sub)) == NULL) {
		close(sub);
		return;
	}
	if (!wlevel_push(j, sd, plen))
		closedir(sd);
}

/*
 * The next regular file of the walk: 1 with *fd and j->path set, 0 when
 * the walk is over, 2 when this step's budget is spent (call again from
 * the loop).  Symbolic links, devices, FIFOs and sockets are skipped, as
 * clamd does by default; the order is clamd's (wlevel).
 */
static int
walk_next(struct sjob *j, int *fd)
{
	unsigned walks = j->c->d->scansock->walks;
	unsigned budget = walks > SCAN_WALK_STEP / SCAN_WALK_STEP_MIN ?
	    SCAN_WALK_STEP_MIN : SCAN_WALK_STEP / (walks ? walks : 1);
	char err[256], line[PATH_MAX + 300];
	struct wlevel *l;
	struct went *e;
	size_t nlen;

	while (j->depth > 0) {
		l = &j->lv[j->depth - 1];
		if (j->c->conn.out.len >= SCAN_OUT_HIGH)
			return 2;   /* job_pump sees the client is behind */
		if (!wlevel_list(j, &budget))
			return 2;
		if (l->pos == l->n) {
			wlevel_pop(j);
			continue;
		}
		if (budget-- == 0)
			return 2;
		e = &l->e[l->pos++];
		nlen = strlen(e->name);
		if (l->plen + 1 + nlen >= sizeof(j->path)) {
			j->errors++;
			str_fmt(line, sizeof(line), "%.*s/%.64s...: File name too long ERROR",
			    l->plen ? (int)l->plen : 0, j->path, e->name);
			sconn_reply(j->c, j->id, j->framing, line);
			continue;
		}
		j->path[l->plen] = '/';
		memcpy(j->path + l->plen + 1, e->name, nlen + 1);
		if (e->dir) {
			walk_enter(j, l, e->name, l->plen + 1 + nlen);
			continue;
		}
		*fd = open_regular(j->c, dirfd(l->dir), e->name, err, sizeof(err));
		if (*fd >= 0)
			return 1;
		if (strcmp(err, "Not a regular file") == 0)
			continue;   /* replaced by a link or a special file since */
		j->errors++;
		str_fmt(line, sizeof(line), "%s: %s ERROR", j->path, err);
		sconn_reply(j->c, j->id, j->framing, line);
	}
	return 0;
}

static void
job_on_step(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct sjob *j = w->data;

	(void)revents;
	ev_idle_stop(loop, w);
	job_pump(j);
}

/*
 * Whether the client is behind with its replies (SCAN_OUT_HIGH waiting
 * after a flush): then the job waits, blocked, until connset says the
 * output drained (sconn_unthrottled) or the connection is gone.
 */
static bool
job_throttled(struct sjob *j)
{
	struct conn *cn = &j->c->conn;

	if (cn->out.len < SCAN_OUT_HIGH)
		return false;
	conn_flush(cn);
	if (cn->dead || cn->out.len < SCAN_OUT_HIGH)
		return false;
	cn->throttled = true;
	j->blocked = true;
	return true;
}

/*
 * Keep the job's files flowing to the pool, as fast as the client takes
 * the replies; finish it when all are done.
 */
static void
job_pump(struct sjob *j)
{
	unsigned limit = j->cmd == CLAMD_CMD_MULTISCAN ? j->c->d->pool.n : 1;
	int fd, rc;

	while (!j->stop && !j->walk_done && j->inflight < limit) {
		if (j->c->conn.dead) {
			j->stop = true;   /* nobody to answer: walk no further */
			break;
		}
		if (job_throttled(j))
			return;
		rc = walk_next(j, &fd);
		if (rc == 2) {
			if (!job_throttled(j))
				ev_idle_start(j->c->d->loop, &j->step);
			return;
		}
		if (rc == 0) {
			j->walk_done = true;
			break;
		}
		job_submit(j, fd, j->path);
	}
	if (j->c->conn.dead)
		j->stop = true;
	if (j->inflight == 0 && (j->walk_done || j->stop)) {
		job_finish(j);
		return;
	}
	conn_flush(&j->c->conn);   /* replies flow as they come */
}

/* connset: the client took its replies (or is gone): resume what waits. */
static void
sconn_unthrottled(struct conn *cn)
{
	struct sconn *c = (struct sconn *)cn;
	struct sjob *j;

	for (j = c->joblist; j != NULL; j = j->next)
		if (j->blocked) {
			j->blocked = false;
			ev_idle_start(c->d->loop, &j->step);
		}
	if (c->read_blocked) {
		c->read_blocked = false;
		if (!cn->dead && !cn->closing && !cn->lingering && !c->paused)
			ev_io_start(c->d->loop, &cn->rio);
	}
}

static struct sjob *
job_new(struct sconn *c, unsigned id, enum clamd_framing f,
    enum clamd_cmd cmd)
{
	struct sjob *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->c = c;
	j->id = id;
	j->framing = f;
	j->cmd = cmd;
	j->flags = cmd == CLAMD_CMD_ALLMATCHSCAN ? WPROTO_SCAN_ALLMATCH : 0;
	ev_idle_init(&j->step, job_on_step);
	/* idle watchers run only when nothing of their priority or above is
	 * pending: above the sockets', a directory walk goes on under load */
	ev_set_priority(&j->step, EV_MAXPRI);
	j->step.data = j;
	j->next = c->joblist;
	c->joblist = j;
	c->conn.busy++;
	return j;
}

/* SCAN, CONTSCAN, MULTISCAN, ALLMATCHSCAN of one path. */
static void
job_start_path(struct sconn *c, unsigned id, const struct clamd_request *rq)
{
	char path[PATH_MAX], err[256], line[PATH_MAX + 300];
	struct stat st;
	struct sjob *j;
	size_t plen;
	int fd;

	if (clamd_request_path(rq, path, sizeof(path)) != 0) {
		sconn_reply(c, id, rq->framing, CLAMD_REPLY_UNKNOWN);
		return;
	}
	if ((j = job_new(c, id, rq->framing, rq->cmd)) == NULL) {
		str_fmt(line, sizeof(line), "%s: out of memory ERROR", path);
		sconn_reply(c, id, rq->framing, line);
		return;
	}
	str_fmt(j->root, sizeof(j->root), "%s", path);
	if (path[0] != '/') {
		str_fmt(line, sizeof(line), "%s: File path check failure: the path must be absolute. ERROR",
		    path);
		sconn_reply(c, id, rq->framing, line);
		job_finish(j);
		return;
	}
	if (sc_fstatat(c, AT_FDCWD, path, &st) != 0) {
		str_fmt(line, sizeof(line), "%s: File path check failure: %s. ERROR",
		    path, strerror(errno));
		sconn_reply(c, id, rq->framing, line);
		job_finish(j);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		fd = sc_openat(c, AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC | O_NONBLOCK);
		DIR *top = NULL;

		const char *fs = fd >= 0 ? pseudo_fs(fd) : NULL;

		if (fs != NULL) {
			close(fd);
			str_fmt(line, sizeof(line), "%s: Not scanned: a directory of %s ERROR",
			    path, fs);
			sconn_reply(c, id, rq->framing, line);
			job_finish(j);
			return;
		}
		if (fd < 0 || (top = fdopendir(fd)) == NULL) {
			if (fd >= 0)
				close(fd);
			str_fmt(line, sizeof(line), "%s: File path check failure: %s. ERROR",
			    path, strerror(errno));
			sconn_reply(c, id, rq->framing, line);
			job_finish(j);
			return;
		}
		j->is_dir = true;
		c->d->scansock->walks++;
		str_fmt(j->path, sizeof(j->path), "%s", path);
		plen = strlen(j->path);
		while (plen > 1 && j->path[plen - 1] == '/')
			j->path[--plen] = '\0';
		if (plen == 1)   /* "/": children are "/x", not "//x" */
			plen = 0;
		if (!wlevel_push(j, top, plen))
			closedir(top);   /* over the walks' budget: said */
		job_pump(j);
		return;
	}
	fd = open_regular(c, AT_FDCWD, path, err, sizeof(err));
	if (fd < 0) {
		str_fmt(line, sizeof(line), "%s: %s ERROR", path, err);
		sconn_reply(c, id, rq->framing, line);
		job_finish(j);
		return;
	}
	j->walk_done = true;
	job_submit(j, fd, path);
	job_pump(j);   /* finishes it if it was answered at once */
}

/*
 * What the log calls a FILDES file, as clamd does: the path the kernel
 * shows for the descriptor ("/srv/x", "/memfd:m (deleted)"), or NULL
 * (then the reply's "fd[N]").
 */
static char *
fd_log_name(int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	str_fmt(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return NULL;
	path[n] = '\0';
	return strdup(path);
}

/* A descriptor (INSTREAM's memfd, FILDES's) as a one-file job. */
static void
job_start_fd(struct sconn *c, unsigned id, enum clamd_framing f,
    enum clamd_cmd cmd, int fd, const char *name)
{
	struct sjob *j = job_new(c, id, f, cmd);
	char line[128];

	if (j == NULL) {
		close(fd);
		str_fmt(line, sizeof(line), "%s: out of memory ERROR", name);
		sconn_reply(c, id, f, line);
		return;
	}
	str_fmt(j->root, sizeof(j->root), "%s", name);
	if (cmd == CLAMD_CMD_FILDES)
		j->logname = fd_log_name(fd);
	j->walk_done = true;
	j->held = c->held;   /* INSTREAM: its memfd's bytes, until the scan ends */
	c->held = 0;
	job_submit(j, fd, name);
	job_pump(j);
}

/* ---- commands ---------------------------------------------------------- */

/*
 * The engine's version for VERSION, after "ClamAV ": what libclamav
 * reported in the last READY ("1.4.6"); with the builtin engine, or
 * before any READY, ampscan's own version marked as such ("0.1.0-ampscan-
 * builtin"): a number first, which clients parse as the engine's version
 * (c-icap reads "%d.%d.%d" there; clamdtop keeps what precedes a '-').
 */
static void
version_engine(struct daemon *d, char *buf, size_t len)
{
	if (d->cfg.engine == CONFIG_ENGINE_CLAMAV && d->pool.have_ready &&
	    d->pool.ready.engine[0] != '\0')
		str_fmt(buf, len, "%s", d->pool.ready.engine);
	else
		str_fmt(buf, len, "%s-%s%s", AMPSCAN_VERSION, SCAN_PRODUCT,
		    d->cfg.engine == CONFIG_ENGINE_CLAMAV ? "" : "-builtin");
}

/* The container VERSION names: daily, else main, else the first by name. */
static const struct store_container *
version_db(const struct store_container *sc, size_t n)
{
	static const char *const pref[] = { "daily.", "main." };
	size_t i, k;

	for (k = 0; k < sizeof(pref) / sizeof(pref[0]); k++) {
		for (i = 0; i < n; i++) {
			if (sc[i].header_ok && sc[i].has_stime &&
			    strncmp(sc[i].name, pref[k], strlen(pref[k])) == 0)
				return &sc[i];
		}
	}
	for (i = 0; i < n; i++) {
		if (sc[i].header_ok && sc[i].has_stime)
			return &sc[i];
	}
	return NULL;
}

/*
 * VERSION, as clamd words it: "ClamAV <engine>/<version>/<build time>"
 * ("ClamAV 1.4.6/27300/Sat Jun  7 09:33:03 2025"), the definitions read
 * from active/ at each VERSION, as clamd reads daily's header; without
 * any, "ClamAV <engine>".  ampscan's own version is in STATS and ampctl
 * status.
 */
static void
version_text(struct daemon *d, char *buf, size_t len)
{
	struct store_container sc[16];
	const struct store_container *db = NULL;
	struct clamd_db_version v;
	char err[256], engine[96];
	size_t n = 0;

	version_engine(d, engine, sizeof(engine));
	if (store_active_summary(d->cfg.definitions_dir, sc, 16, &n, err,
	    sizeof(err)) == 0)
		db = version_db(sc, n);
	if (db != NULL) {
		v.version = db->version;
		v.built = (int64_t)db->stime;
	}
	clamd_version_text(buf, len, engine, db != NULL ? &v : NULL);
}

/* The clamd command a request came from ("SCAN" for ampctl's). */
static const char *
stats_cmd(const struct scan_req *r)
{
	if (r->done == sreq_done)
		return clamd_cmd_name(((const struct sreq *)r->data)->job->cmd);
	return clamd_cmd_name(CLAMD_CMD_SCAN);
}

/*
 * A line per worker and per waiting file, in clamd's shape: "\tIDLE
 * <seconds idle> ", "\t<COMMAND> <seconds running> <file>", "\t<COMMAND>
 * <seconds waiting> <file>"; the files (other clients' names) only for
 * trusted clients.  SCAN_STATS_FILES_MAX lines at most.
 */
static void
stats_tasks(struct daemon *d, struct strbuf *sb, bool trusted)
{
	const struct scan_req *r;
	int64_t now = walltime_now_ms(), since;
	unsigned i, n = 0;
	double secs;

	for (i = 0; i < POOL_SLOTS(&d->pool) && n < SCAN_STATS_FILES_MAX; i++) {
		struct worker *w = &d->pool.w[i];

		if (worker_phase(w) != WORKER_READY)
			continue;
		n++;
		if (w->req == NULL) {
			since = w->idle_ms > w->ready_ms ? w->idle_ms : w->ready_ms;
			clamd_stats_task(sb, "IDLE", (double)(now - since) / 1000.0, NULL);
			continue;
		}
		secs = (double)d->cfg.scan_timeout_ms / 1000.0;
		if (ev_is_active(&w->scan_timer))
			secs -= ev_timer_remaining(d->loop, &w->scan_timer);
		clamd_stats_task(sb, stats_cmd(w->req), secs,
		    trusted ? w->req->name : NULL);
	}
	for (r = d->pool.queue_head; r != NULL && n < SCAN_STATS_FILES_MAX;
	    r = r->next, n++)
		clamd_stats_task(sb, stats_cmd(r),
		    (double)(now - r->submitted_ms) / 1000.0, trusted ? r->name : NULL);
}

/*
 * MEMSTATS with the pool's Pss (poolmem.c), in clamd's fields: heap the
 * workers', mmap ampdaemon's, used their sum, pools the processes
 * measured and pools_used/pools_total the loaders' (the engines forked
 * from); clamdtop's MEM column (heap + mmap + pools_total) is then the
 * pool's whole Pss.  free and releasable: 0 (no malloc arena is shared).
 */
static void
stats_mem(struct daemon *d, struct strbuf *sb)
{
	struct clamd_memstats ms = { .known = false };
	struct pool_mem m;

	poolmem_totals(d, &m);
	ms.pools = m.processes - m.unknown;
	ms.known = ms.pools > 0;
	ms.heap = m.workers_pss;
	ms.mmap = m.ampdaemon_pss;
	ms.used = ms.heap + ms.mmap;
	ms.pools_used = ms.pools_total = m.loaders_pss;
	clamd_stats_memstats(sb, &ms);
}

static void
stats_text(struct daemon *d, struct strbuf *sb, bool trusted)
{
	unsigned i, live = 0, idle = 0;
	char engine[96];

	for (i = 0; i < POOL_SLOTS(&d->pool); i++) {
		if (worker_phase(&d->pool.w[i]) == WORKER_READY) {
			live++;
			idle += d->pool.w[i].req == NULL;
		}
	}
	strbuf_printf(sb, "POOLS: 1\n\nSTATE: %s PRIMARY\n", pool_is_unavailable(d) ?
	    "INVALID" : "VALID");
	strbuf_printf(sb, "THREADS: live %u  idle %u max %u idle-timeout %d\n",
	    live, idle, d->pool.n, (int)SCAN_READ_TIMEOUT);
	strbuf_printf(sb, "QUEUE: %zu items\n", d->pool.queued);
	stats_tasks(d, sb, trusted);
	strbuf_puts(sb, "\n");
	stats_mem(d, sb);
	version_engine(d, engine, sizeof(engine));
	strbuf_printf(sb, "AMPSCAN: version %s engine %s %s scanned %llu\n",
	    AMPSCAN_VERSION, config_engine_name(d->cfg.engine), engine,
	    (unsigned long long)d->scansock->served);
	strbuf_puts(sb, CLAMD_REPLY_END);
}

/* A path command from a TCP peer, TCPAllowPathCommands no: "<path>:
 * <why> ERROR", as a path's other refusals. */
static void
sconn_tcp_path_refused(struct sconn *c, unsigned id,
    const struct clamd_request *rq)
{
	char line[PATH_MAX + 128];

	str_fmt(line, sizeof(line), "%.*s: %s", (int)rq->arglen, rq->arg,
	    SCAN_REPLY_TCP_PATH);
	sconn_reply(c, id, rq->framing, line);
}

/* One parsed command; false when the connection must stop reading. */
static bool
sconn_command(struct sconn *c, const struct clamd_request *rq)
{
	struct daemon *d = c->d;
	char text[512];
	struct strbuf sb;
	unsigned id = 0;

	if (c->session) {
		id = ++c->next_id;
		if (rq->framing == CLAMD_FRAMING_BARE) {
			sconn_reply(c, id, rq->framing, CLAMD_REPLY_SESSION_BARE);
			sconn_reply(c, id, rq->framing, CLAMD_REPLY_PROCESSING);
			c->conn.closing = true;
			return false;
		}
		if (!clamd_cmd_allowed_in_session(rq->cmd)) {
			sconn_reply(c, id, rq->framing, CLAMD_REPLY_SESSION_INVALID);
			c->conn.closing = true;
			return false;
		}
	} else if (rq->cmd == CLAMD_CMD_END) {
		sconn_reply(c, 0, rq->framing, CLAMD_REPLY_UNKNOWN);
		c->conn.closing = true;
		return false;
	}
	switch (rq->cmd) {
	case CLAMD_CMD_PING:
		sconn_reply(c, id, rq->framing, CLAMD_REPLY_PONG);
		break;
	case CLAMD_CMD_VERSION:
		version_text(d, text, sizeof(text));
		sconn_reply(c, id, rq->framing, text);
		break;
	case CLAMD_CMD_VERSIONCOMMANDS:
		version_text(d, text, sizeof(text));
		strbuf_init(&sb, 1024);
		strbuf_printf(&sb, "%s%s", text, CLAMD_COMMANDS_LIST);
		sconn_reply(c, id, rq->framing, strbuf_str(&sb));
		strbuf_free(&sb);
		break;
	case CLAMD_CMD_RELOAD:
		/* never queued beside updates: at most one pending, which every
		 * RELOAD joins; an untrusted one waits for ReloadInterval */
		sconn_reply(c, id, rq->framing, CLAMD_REPLY_RELOADING);
		if (c->trusted)
			dlog(&d->log, DLOG_INFO, "scan socket: RELOAD (uid %u): re-verifying the active definitions and rolling the workers over",
			    (unsigned)c->peer_uid);
		if (update_reload(d, c->trusted, c->peer_uid, NULL, NULL, text,
		    sizeof(text)) != 0)
			dlog(&d->log, DLOG_WARNING, "scan socket: RELOAD: %s", text);
		break;
	case CLAMD_CMD_SHUTDOWN:
	case CLAMD_CMD_QUIT:   /* clamd's alias */
		/* a TCP peer is anyone who can reach the port: never */
		if (!d->cfg.enable_shutdown_command || c->conn.tcp) {
			sconn_reply(c, id, rq->framing, CLAMD_REPLY_UNAVAILABLE);
			break;
		}
		dlog(&d->log, DLOG_INFO, "scan socket: %s (EnableShutdownCommand yes)",
		    clamd_cmd_name(rq->cmd));
		c->conn.closing = true;
		kill(getpid(), SIGTERM);
		return false;
	case CLAMD_CMD_STATS:
		strbuf_init(&sb, SCAN_OUT_MAX / 4);
		stats_text(d, &sb, c->trusted);
		sconn_reply_as(c, id, rq->framing, strbuf_str(&sb), true);
		strbuf_free(&sb);
		break;
	case CLAMD_CMD_IDSESSION:
		c->session = true;
		c->session_framing = rq->framing;
		ev_timer_init(&c->life, sconn_on_life,
		    (double)d->cfg.max_session_time_ms / 1000.0, 0.);
		c->life.data = c;
		ev_timer_start(d->loop, &c->life);
		return true;
	case CLAMD_CMD_END:
		c->ended = true;
		if (c->conn.busy == 0)
			c->conn.closing = true;
		return false;
	case CLAMD_CMD_SCAN:
	case CLAMD_CMD_CONTSCAN:
	case CLAMD_CMD_MULTISCAN:
	case CLAMD_CMD_ALLMATCHSCAN:
		if (c->conn.tcp && !d->cfg.tcp_allow_path_commands)
			sconn_tcp_path_refused(c, id, rq);
		else
			job_start_path(c, id, rq);
		break;
	case CLAMD_CMD_INSTREAM:
		c->state = SC_INSTREAM;
		c->cmd_id = id;
		c->cmd_framing = rq->framing;
		c->streamed = 0;
		c->in_chunk = false;
		c->memfd = memfd_create("ampscan-instream", MFD_CLOEXEC);
		if (c->memfd < 0) {
			str_fmt(text, sizeof(text), "%s: %s ERROR", CLAMD_NAME_STREAM,
			    strerror(errno));
			sconn_reply(c, id, rq->framing, text);
			c->conn.closing = true;
			return false;
		}
		return true;
	case CLAMD_CMD_FILDES:
		c->state = SC_FILDES;
		c->cmd_id = id;
		c->cmd_framing = rq->framing;
		return true;
	case CLAMD_CMD_DETSTATS:
	case CLAMD_CMD_DETSTATSCLEAR:
		/* clamd 1.4 closes without a word */
		c->conn.closing = true;
		return false;
	case CLAMD_CMD_UNKNOWN:
		sconn_reply(c, id, rq->framing, CLAMD_REPLY_UNKNOWN);
		c->conn.closing = true;
		return false;
	}
	if (!c->session) {
		c->conn.closing = true;
		return false;
	}
	return true;
}

/*
 * A stream refused (its limit, the memory budget): the client is likely
 * still writing it.  Its reply goes out, then what it sends is read and
 * dropped for a bounded time (conn_linger), as clamd reads on a little,
 * so that it reads the error instead of failing a write.
 */
static void
sconn_stream_refused(struct sconn *c)
{
	sconn_stream_drop(c);
	if (c->conn.dead)
		return;
	conn_linger(&c->conn, SCAN_LINGER_MAX, SCAN_LINGER_TIME);
}

/* INSTREAM: chunks into the memfd; false when more bytes are needed. */
/* The warning clamd writes when a stream passes StreamMaxLength. */
static void
stream_limit_log(const struct sconn *c, uint32_t len)
{
	dlog(&c->d->log, DLOG_WARNING, "%s: INSTREAM size limit exceeded: a chunk of %u bytes after %llu would pass StreamMaxLength (%llu bytes); stream refused (uid %u)",
	    SCANLOG_STREAM_LOCAL, len, (unsigned long long)c->streamed,
	    (unsigned long long)c->d->cfg.stream_max_length,
	    (unsigned)c->peer_uid);
}

static bool
sconn_instream(struct sconn *c)
{
	uint32_t len;
	size_t take;
	ssize_t w;
	char line[160];

	if (!c->in_chunk) {
		if (clamd_chunk_header(c->in, c->inlen, &len) == 0)
			return false;
		memmove(c->in, c->in + CLAMD_CHUNK_HDR, c->inlen - CLAMD_CHUNK_HDR);
		c->inlen -= CLAMD_CHUNK_HDR;
		if (len == 0) {   /* the end: scan it */
			int fd = c->memfd;

			c->memfd = -1;
			c->state = SC_CMD;
			lseek(fd, 0, SEEK_SET);
			job_start_fd(c, c->cmd_id, c->cmd_framing, CLAMD_CMD_INSTREAM,
			    fd, CLAMD_NAME_STREAM);
			/* the job holds the bytes until its scan ends; if it
			 * could not start, they are free now */
			stream_unhold(c->d, c->trusted, &c->held);
			if (!c->session)
				c->conn.closing = true;
			return true;
		}
		if (len > c->d->cfg.stream_max_length - c->streamed) {
			stream_limit_log(c, len);
			sconn_reply(c, c->cmd_id, c->cmd_framing,
			    CLAMD_REPLY_STREAM_LIMIT);
			sconn_stream_refused(c);
			return false;
		}
		if (!stream_hold(c, len)) {
			str_fmt(line, sizeof(line), "INSTREAM: a chunk of %u bytes after %llu would pass StreamMemoryLimit: refused",
			    len, (unsigned long long)c->streamed);
			sconn_budget_hit(c, BUDGET_STREAM_MEMORY, line);
			sconn_reply(c, c->cmd_id, c->cmd_framing,
			    SCAN_REPLY_STREAM_MEMORY);
			sconn_stream_refused(c);
			return false;
		}
		c->chunk_left = len;
		c->in_chunk = true;
	}
	take = c->inlen < c->chunk_left ? c->inlen : c->chunk_left;
	if (take == 0)
		return false;
	w = write(c->memfd, c->in, take);
	if (w != (ssize_t)take) {
		str_fmt(line, sizeof(line), "%s: %s ERROR", CLAMD_NAME_STREAM,
		    w < 0 ? strerror(errno) : "short write");
		sconn_reply(c, c->cmd_id, c->cmd_framing, line);
		c->conn.closing = true;
		sconn_stream_drop(c);
		return false;
	}
	memmove(c->in, c->in + take, c->inlen - take);
	c->inlen -= take;
	c->chunk_left -= (uint32_t)take;
	c->streamed += take;
	if (c->chunk_left == 0)
		c->in_chunk = false;
	return true;
}

/* FILDES: the dummy byte and the descriptor that came with it. */
static bool
sconn_fildes(struct sconn *c)
{
	char name[32], why[128], line[192];
	int fd;

	if (c->inlen == 0)
		return false;   /* the dummy byte carries the descriptor */
	memmove(c->in, c->in + 1, c->inlen - 1);
	c->inlen--;
	c->state = SC_CMD;
	if (c->nfds == 0) {
		sconn_reply(c, c->cmd_id, c->cmd_framing, c->conn.tcp ?
		    SCAN_REPLY_TCP_FILDES : CLAMD_REPLY_FILDES_NOFD);
		if (!c->session)
			c->conn.closing = true;
		return c->session;
	}
	fd = c->fds[0];
	memmove(c->fds, c->fds + 1, (c->nfds - 1) * sizeof(int));
	c->nfds--;
	str_fmt(name, sizeof(name), "fd[%d]", fd);
	if (scannable_fd(fd, why, sizeof(why)) != 0) {
		close(fd);
		str_fmt(line, sizeof(line), "%s: %s ERROR", name, why);
		sconn_reply(c, c->cmd_id, c->cmd_framing, line);
	} else {
		job_start_fd(c, c->cmd_id, c->cmd_framing, CLAMD_CMD_FILDES, fd, name);
	}
	if (!c->session)
		c->conn.closing = true;
	return c->session;
}

/* Consume what was read: commands, stream chunks, descriptors. */
static void
sconn_process(struct sconn *c)
{
	struct clamd_request rq;
	size_t used;
	int rc;

	while (!c->conn.dead && !c->conn.closing && !c->conn.lingering) {
		if (c->conn.out.len >= SCAN_OUT_HIGH) {
			conn_flush(&c->conn);
			if (c->conn.dead)
				return;
		}
		if (c->conn.out.len >= SCAN_OUT_HIGH) {
			/* the client is behind: read on once it took its replies */
			c->conn.throttled = true;
			c->read_blocked = true;
			ev_io_stop(c->d->loop, &c->conn.rio);
			return;
		}
		if (c->conn.busy >= SCAN_JOBS_MAX) {
			c->paused = true;   /* read again when a job ends */
			ev_io_stop(c->d->loop, &c->conn.rio);
			return;
		}
		if (c->state == SC_INSTREAM) {
			if (!sconn_instream(c))
				break;
			continue;
		}
		if (c->state == SC_FILDES) {
			if (!sconn_fildes(c))
				break;
			continue;
		}
		if (c->inlen == 0)
			break;
		rc = clamd_parse(c->in, c->inlen, true, &rq, &used);
		if (rc == 0)
			break;
		if (rc < 0) {
			if (c->session && rq.framing == CLAMD_FRAMING_BARE) {
				sconn_reply(c, ++c->next_id, rq.framing,
				    CLAMD_REPLY_SESSION_BARE);
				sconn_reply(c, c->next_id, rq.framing,
				    CLAMD_REPLY_PROCESSING);
			} else if (rc != CLAMD_ETOOLONG)
				sconn_reply(c, c->session ? ++c->next_id : 0,
				    rq.framing, c->session ?
				    CLAMD_REPLY_SESSION_INVALID : CLAMD_REPLY_UNKNOWN);
			c->conn.closing = true;
			c->inlen = 0;
			break;
		}
		ev_timer_stop(c->d->loop, &c->conn.timer);
		{
			/* the request points into c->in: keep it until handled */
			bool more = sconn_command(c, &rq);

			memmove(c->in, c->in + used, c->inlen - used);
			c->inlen -= used;
			if (!more && !c->session)
				c->inlen = 0;
			if (!more && c->conn.closing)
				break;
		}
	}
	if (c->conn.dead || c->conn.lingering)
		return;   /* lingering: conn_linger reads and times c now */
	if (c->conn.closing && c->conn.busy == 0) {
		conn_flush(&c->conn);
		return;
	}
	if (!c->conn.closing && !c->paused) {
		/*
		 * Waiting for a command or the rest of one: the clock runs from
		 * its first byte (a client sending a byte a second does not reset
		 * it); a stream's clock restarts with each read that brings data.
		 */
		if (c->state == SC_INSTREAM)
			ev_timer_stop(c->d->loop, &c->conn.timer);
		if (!ev_is_active(&c->conn.timer) && (c->conn.busy == 0 ||
		    c->state != SC_CMD || c->inlen > 0)) {
			ev_timer_set(&c->conn.timer, SCAN_READ_TIMEOUT, 0.);
			ev_timer_start(c->d->loop, &c->conn.timer);
		}
	}
	if (c->conn.closing)
		ev_io_stop(c->d->loop, &c->conn.rio);
	conn_flush(&c->conn);
}

/*
 * Outside a session, input is read with MSG_PEEK and taken off the socket
 * after it was processed; while the command's job runs, its last byte is
 * left there (conn.held).  A clean end reads it first; a reset (the
 * replies could not all be kept) closes with it unread, so the client's
 * reads fail with ECONNRESET after what it received instead of ending as
 * if the list were whole (a unix socket has no other way to say it).
 */
static void
sconn_consume(struct sconn *c)
{
	size_t keep, want;
	char sink[4096];
	ssize_t n;

	if (c->conn.held == 0 || c->conn.dead)
		return;
	keep = c->conn.closing && c->conn.busy > 0 ? 1 : 0;
	want = c->conn.held - keep;
	while (want > 0) {
		n = recv(c->conn.fd, sink, want < sizeof(sink) ? want : sizeof(sink),
		    MSG_DONTWAIT);
		if (n <= 0)
			break;
		want -= (size_t)n;
	}
	c->conn.held = want == 0 ? keep : 0;
}

static void
sconn_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sconn *c = w->data;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} cm;
	struct msghdr msg = { 0 };
	struct iovec iov;
	struct cmsghdr *h;
	size_t room = SCAN_IN_MAX - c->inlen, k, nfd;
	bool got_fds = false;
	ssize_t n;
	int fds[8];

	(void)revents;
	if (room == 0) {
		ev_io_stop(loop, w);   /* a full buffer: processing frees room */
		return;
	}
	iov.iov_base = c->in + c->inlen;
	iov.iov_len = room;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	n = recvmsg(c->conn.fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT |
	    (c->session ? 0 : MSG_PEEK));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	for (h = CMSG_FIRSTHDR(&msg); h != NULL; h = CMSG_NXTHDR(&msg, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfd > 8)
			nfd = 8;
		memcpy(fds, CMSG_DATA(h), nfd * sizeof(int));
		got_fds = got_fds || nfd > 0;
		for (k = 0; k < nfd; k++) {
			if (c->nfds < SCAN_FDS_MAX)
				c->fds[c->nfds++] = fds[k];
			else
				close(fds[k]);
		}
	}
	if (n <= 0) {
		/* the client is gone (or half-closed): nothing more will come */
		if (c->conn.busy == 0 || n < 0) {
			conn_close(&c->conn);
			return;
		}
		ev_io_stop(loop, w);
		c->conn.closing = true;
		return;
	}
	c->inlen += (size_t)n;
	if (!c->session)   /* peeked: a close now reads them first */
		c->conn.held = (size_t)n;
	sconn_process(c);
	sconn_consume(c);
	/*
	 * A read ends with the segment that carried descriptors (the kernel
	 * stops there), so descriptors that came with the bytes of the FILDES
	 * command itself, not with the byte after it, leave us waiting for
	 * that byte with nothing more read: clamd calls that a protocol error.
	 */
	if (got_fds && !c->conn.dead && c->state == SC_FILDES && c->inlen == 0) {
		while (c->nfds > 0)
			close(c->fds[--c->nfds]);
		sconn_reply(c, c->cmd_id, c->cmd_framing, CLAMD_REPLY_STRAY_FD);
		c->state = SC_CMD;
		c->conn.closing = true;
		ev_io_stop(loop, w);
		conn_flush(&c->conn);
	}
}

static void
sconn_on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sconn *c = t->data;

	(void)loop;
	(void)revents;
	if (c->conn.busy > 0)
		return;
	if (c->session && c->inlen == 0 && c->state == SC_CMD) {
		conn_close(&c->conn);   /* an idle session ends without a word (clamd) */
		return;
	}
	/* clamd answers this with '\n' whatever the framing */
	sconn_reply(c, 0, CLAMD_FRAMING_N, CLAMD_REPLY_TIMEOUT);
	c->conn.closing = true;
	c->inlen = 0;
	ev_io_stop(c->d->loop, &c->conn.rio);
	conn_flush(&c->conn);
}

/* Whether uid is root or one of TrustedScanUsers. */
static bool
scansock_trusts(const struct scansock *s, uid_t uid)
{
	if (uid == 0)
		return true;
	for (size_t i = 0; i < s->ntrusted; i++)
		if (s->trusted[i] == uid)
			return true;
	return false;
}

/*
 * A TCP peer: anyone who can reach the port, with no uid.  Never trusted;
 * its path commands (TCPAllowPathCommands yes) run with SCAN_TCP_USER's
 * rights and no supplementary groups: what everyone may read.
 */
static bool
sconn_peer_tcp(struct sconn *c)
{
	const struct scansock *s = c->d->scansock;

	c->peer_pid = 0;
	c->peer_uid = s->tcp_uid;
	c->peer_gid = s->tcp_gid;
	c->trusted = false;
	c->cred.uid = s->tcp_uid;
	c->cred.gid = s->tcp_gid;
	c->cred.groups = NULL;
	c->cred.ngroups = 0;
	str_fmt(c->who, sizeof(c->who), "TCP %s", c->conn.peer);
	return true;
}

/* Who the client is (the kernel's word, taken at connect). */
static bool
sconn_peer(struct sconn *c)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	if (c->conn.tcp)
		return sconn_peer_tcp(c);
	if (getsockopt(c->conn.fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0)
		return false;
	c->peer_pid = cred.pid;
	c->peer_uid = cred.uid;
	c->peer_gid = cred.gid;
	c->trusted = scansock_trusts(c->d->scansock, cred.uid);
	c->cred.uid = cred.uid;
	c->cred.gid = cred.gid;
	str_fmt(c->who, sizeof(c->who), "uid %u", (unsigned)cred.uid);
	/* an untrusted client's lookups are made with its groups too */
	return c->trusted || asuser_peer_groups(c->conn.fd, &c->cred) == 0;
}

/* A new client: its input buffer, and its command, which is usually
 * there already: read now rather than after another turn of the loop. */
static void
sconn_accepted(struct conn *cn)
{
	struct sconn *c = (struct sconn *)cn;

	c->d = cn->set->d;
	c->memfd = -1;
	if (!sconn_peer(c)) {
		dlog(&c->d->log, DLOG_WARNING, "scan socket: SO_PEERCRED/SO_PEERGROUPS: %s; connection closed",
		    strerror(errno));
		conn_close(cn);
		return;
	}
	if (!c->trusted && sconn_over_budget(c))
		return;
	if ((c->in = malloc(SCAN_IN_MAX)) == NULL) {
		conn_close(cn);
		return;
	}
	sconn_on_read(c->d->loop, &cn->rio, EV_READ);
}

static const struct connset_ops scansock_ops = {
	.name = "scan socket", .conn_size = sizeof(struct sconn),
	.conns_max = SCAN_CONNS_MAX, .out_max = SCAN_OUT_MAX, .timeout = SCAN_READ_TIMEOUT,
	.on_read = sconn_on_read, .on_timeout = sconn_on_timeout,
	.accepted = sconn_accepted, .release = sconn_release,
	.unthrottled = sconn_unthrottled, .out_low = SCAN_OUT_LOW,
};

/* ---- the socket ---------------------------------------------------------- */

/* TrustedScanUsers' names as uids; an unknown name is an error. */
static int
trusted_resolve(const char *names, struct scansock *s, char *err,
    size_t errlen)
{
	char name[CONFIG_NAME_MAX + 1], pbuf[4096];
	struct passwd pw, *res;
	size_t i = 0, start, len;

	while (names != NULL && names[i] != '\0') {
		while (names[i] == ',' || names[i] == ' ' || names[i] == '\t')
			i++;
		if (names[i] == '\0')
			break;
		start = i;
		while (names[i] != '\0' && names[i] != ',' && names[i] != ' ' &&
		    names[i] != '\t')
			i++;
		len = i - start < CONFIG_NAME_MAX ? i - start : CONFIG_NAME_MAX;
		memcpy(name, names + start, len);
		name[len] = '\0';
		res = NULL;
		if (getpwnam_r(name, &pw, pbuf, sizeof(pbuf), &res) != 0 ||
		    res == NULL) {
			str_fmt(err, errlen, "TrustedScanUsers: %s: no such user", name);
			return -1;
		}
		if (s->ntrusted < CONFIG_NAMES_MAX)
			s->trusted[s->ntrusted++] = pw.pw_uid;
	}
	return 0;
}

/* SCAN_TCP_USER's uid and gid (its usual numbers when it is missing). */
static void
tcp_account(struct scansock *s)
{
	char pbuf[4096];
	struct passwd pw, *res = NULL;

	s->tcp_uid = SCAN_TCP_UID_FALLBACK;
	s->tcp_gid = SCAN_TCP_UID_FALLBACK;
	if (getpwnam_r(SCAN_TCP_USER, &pw, pbuf, sizeof(pbuf), &res) == 0 &&
	    res != NULL && pw.pw_uid != 0) {
		s->tcp_uid = pw.pw_uid;
		s->tcp_gid = pw.pw_gid;
	}
}

/*
 * TCPSocket: a listener on each TCPAddr (CONFIG_DEFAULT_TCP_ADDR when
 * none), into the scan socket's set: the same protocol, caps and budgets.
 * A failure names the address ("127.0.0.1:3310: bind: Address already in
 * use"); the caller closes the set.
 */
static int
scansock_listen_tcp(struct daemon *d, struct scansock *s, char *err,
    size_t errlen)
{
	const char *v = d->cfg.tcp_addr != NULL ? d->cfg.tcp_addr :
	    CONFIG_DEFAULT_TCP_ADDR;
	char addr[INET6_ADDRSTRLEN + 1], why[256];
	size_t i = 0, start, len;

	if (d->cfg.tcp_socket == 0)
		return 0;
	tcp_account(s);
	while (v[i] != '\0') {
		while (v[i] == ',' || v[i] == ' ' || v[i] == '\t')
			i++;
		if (v[i] == '\0')
			break;
		start = i;
		while (v[i] != '\0' && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		len = i - start < INET6_ADDRSTRLEN ? i - start : INET6_ADDRSTRLEN;
		memcpy(addr, v + start, len);
		addr[len] = '\0';
		if (connset_listen_tcp(&s->set, addr, d->cfg.tcp_socket,
		    SCAN_BACKLOG, why, sizeof(why)) != 0) {
			str_fmt(err, errlen, "TCPSocket %u, TCPAddr %s: %s",
			    d->cfg.tcp_socket, addr, why);
			return -1;
		}
		dlog(&d->log, DLOG_INFO, "scan socket: listening on TCP %s%s%s:%u (path commands %s)",
		    strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "",
		    d->cfg.tcp_socket, d->cfg.tcp_allow_path_commands ?
		    "with the rights of " SCAN_TCP_USER : "refused");
	}
	return 0;
}

int
scansock_open(struct daemon *d, char *err, size_t errlen)
{
	struct scansock *s;
	struct group gr, *res = NULL;
	char gbuf[4096];
	gid_t gid = 0;

	if (d->cfg.local_socket_group != NULL) {
		if (getgrnam_r(d->cfg.local_socket_group, &gr, gbuf, sizeof(gbuf),
		    &res) != 0 || res == NULL) {
			str_fmt(err, errlen, "LocalSocketGroup %s: no such group",
			    d->cfg.local_socket_group);
			return -1;
		}
		gid = gr.gr_gid;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		str_fmt(err, errlen, "%s: %s", d->cfg.local_socket, strerror(errno));
		return -1;
	}
	if (trusted_resolve(d->cfg.trusted_scan_users, s, err, errlen) != 0 ||
	    asuser_init(err, errlen) != 0) {
		free(s);
		return -1;
	}
	s->ops = scansock_ops;
#ifdef AMPSCAN_TEST_HOOKS
	{
		/* a cap a test can reach without megabytes of replies */
		const char *om = getenv("AMPSCAN_TEST_SCAN_OUT_MAX");

		const char *st = getenv("AMPSCAN_TEST_STALL_S");

		if (om != NULL && strtoul(om, NULL, 10) > 0)
			s->ops.out_max = strtoul(om, NULL, 10);
		/* a stalled client reset in seconds rather than 30 */
		if (st != NULL && strtoul(st, NULL, 10) > 0)
			s->ops.stall_timeout = (double)strtoul(st, NULL, 10);
	}
#endif
	if (connset_open(&s->set, d, &s->ops, d->cfg.local_socket,
	    d->cfg.local_socket_mode, gid, SCAN_BACKLOG, err, errlen) != 0) {
		free(s);
		return -1;
	}
	d->scansock = s;
	if (scansock_listen_tcp(d, s, err, errlen) != 0) {
		scansock_close(d);
		return -1;
	}
	return 0;
}

void
scansock_stop_accepting(struct daemon *d)
{
	if (d->scansock != NULL)
		connset_stop_accepting(&d->scansock->set);
}

void
scansock_close(struct daemon *d)
{
	if (d->scansock == NULL)
		return;
	connset_close(&d->scansock->set);
	free(d->scansock);
	d->scansock = NULL;
}
