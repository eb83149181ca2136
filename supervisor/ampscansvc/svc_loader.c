/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampscansvc --loader (docs/loader.md): load and compile the engine once,
 * enter the loader's sandbox, prove the engine on the canaries, say READY
 * to ampdaemon, then fork workers on request.  Each FORK carries the
 * worker's socket, its log pipe and (clamav) its scratch directory; the
 * loader clones with CLONE_PARENT, so ampdaemon is the worker's parent,
 * and answers FORKED with its pid.  The child installs its descriptors
 * where an exec'd worker has them (1, 2: the log; 3: the socket; 6: the
 * scratch directory) and goes on exactly as an exec'd worker does after
 * its load: its own sandbox (no clone from then on), canaries, READY.
 * The loader itself never scans and never starts a thread.  After READY,
 * when ampdaemon sends COLLAPSE, it collapses its engine into huge pages
 * (hugepages.h) one bounded step at a time between requests, and answers
 * COLLAPSED when done (docs/loader.md, "Huge pages").
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hugepages.h"
#include "sandbox.h"
#include "svc.h"

#define SVC_LOADER_PARK_FD 40      /* received fds are moved here first */
#define SVC_LOADER_LOG_FD 1        /* and 2 */
#define SVC_LOADER_SOCK_FD 3
#define SVC_LOADER_SCRATCH_FD 6    /* as an exec'd clamav worker's */

enum { FORK_SOCK, FORK_LOG, FORK_SCRATCH, FORK_NFDS };

static bool
svc_clamav(const struct svc *s)
{
	return s->backend == SENG_CLAMAV;
}

/* In the child: the fds in place, tied to ampdaemon, then a worker. */
static _Noreturn void
svc_loader_child(struct svc *s, const int *fds, size_t nfds, pid_t ampd,
    pid_t loader)
{
	for (size_t i = 0; i < nfds; i++)
		if (fds[i] >= SVC_LOADER_PARK_FD ||
		    dup2(fds[i], SVC_LOADER_PARK_FD + (int)i) < 0)
			_exit(2);
	if (dup2(SVC_LOADER_PARK_FD + FORK_LOG, SVC_LOADER_LOG_FD) < 0 ||
	    dup2(SVC_LOADER_PARK_FD + FORK_LOG, 2) < 0 ||
	    dup2(SVC_LOADER_PARK_FD + FORK_SOCK, SVC_LOADER_SOCK_FD) < 0 ||
	    (nfds > FORK_SCRATCH && dup2(SVC_LOADER_PARK_FD + FORK_SCRATCH,
	    SVC_LOADER_SCRATCH_FD) < 0))
		_exit(2);
	/* everything else goes: the loader's scratch, ScratchDir, the parked */
	if (nfds > FORK_SCRATCH) {
		if (syscall(SYS_close_range, 4u, 5u, 0u) != 0 ||
		    syscall(SYS_close_range, 7u, ~0u, 0u) != 0)
			_exit(2);
	} else if (syscall(SYS_close_range, 4u, ~0u, 0u) != 0) {
		_exit(2);
	}
	s->mem_fd = -1;   /* the loader's, closed above: the worker opens its own */
	/* with ampdaemon, not with the loader; ampdaemon may be gone already */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != ampd)
		_exit(2);
	fprintf(stderr, "ampscansvc: worker forked from the loader (pid %d)\n",
	    (int)loader);
	s->sock_fd = SVC_LOADER_SOCK_FD;
	if (svc_clamav(s)) {
		s->scratch_fd = SVC_LOADER_SCRATCH_FD;
		svc_worker_clamav_serve(s);
	}
	svc_worker_builtin_serve(s);
}

/* One FORK: the child's pid, or -errno. */
static int32_t
svc_loader_fork(struct svc *s, const int *fds, size_t nfds, pid_t ampd)
{
	pid_t loader = getpid();
	long pid;

	fflush(stdout);
	fflush(stderr);
	/* glibc's fork() would make us the parent: the raw call, as a fork */
	pid = syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), 0UL,
	    0UL, 0UL, 0UL);
	if (pid == 0)
		svc_loader_child(s, fds, nfds, ampd, loader);
	return pid < 0 ? -errno : (int32_t)pid;
}

/*
 * A request waiting on the socket (or its EOF, or an error: the next
 * receive says which)?  recvmsg with MSG_PEEK, not poll: the seccomp
 * filter allows recvmsg on this socket, and a peek takes no descriptor.
 */
static bool
svc_loader_pending(int sock)
{
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	do
		n = recvmsg(sock, &mh, MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* The collapse (hugepages.h) ampdaemon asked for: COLLAPSE, then steps. */
struct svc_collapse {
	struct hugepages h;
	bool running;
	uint64_t id;                     /* the COLLAPSE being answered */
};

/* It is over (or was never possible): the line in the log, COLLAPSED. */
static void
svc_loader_collapsed(const struct svc *s, struct svc_collapse *c,
    struct wbuf *out)
{
	struct wproto_collapsed m;

	memset(&m, 0, sizeof(m));
	c->running = false;
	if (!s->huge_pages) {
		m.state = WPROTO_HP_OFF;
		snprintf(m.line, sizeof(m.line), "off (LoaderHugePages no)");
	} else {
		m.state = (uint32_t)c->h.r.state;
		m.err = (uint32_t)c->h.r.err;
		m.huge_bytes = c->h.r.collapsed;
		m.eligible_bytes = c->h.r.eligible;
		m.chunks_failed = c->h.r.chunks_failed;
		m.collapse_ms = c->h.r.ms;
		hugepages_describe(&c->h.r, m.line, sizeof(m.line));
		fprintf(stderr, "ampscansvc: loader: huge pages: %s\n", m.line);
	}
	hugepages_free(&c->h);
	if (wproto_encode_collapsed(out, c->id, &m) != 0 ||
	    wproto_send(s->sock_fd, out, -1) != 0)
		svc_die("loader: cannot answer ampdaemon: %s", strerror(errno));
}

/* COLLAPSE: start the steps, or answer at once if there is nothing to do. */
static void
svc_loader_collapse(const struct svc *s, struct svc_collapse *c, uint64_t id,
    struct wbuf *out)
{
	c->id = id;
	if (c->running)
		return;   /* already under way: one COLLAPSED answers */
	if (!s->huge_pages || c->h.r.state != HUGEPAGES_DONE || c->h.i >= c->h.n) {
		svc_loader_collapsed(s, c, out);
		return;
	}
	c->running = true;
}

/*
 * Serve FORK, MEMQ and COLLAPSE until ampdaemon closes the socket.  While
 * a collapse is under way, one bounded step runs whenever no request
 * waits: a request waits for one step at most.
 */
static _Noreturn void
svc_loader_serve(struct svc *s, pid_t ampd, struct svc_collapse *c)
{
	size_t want = svc_clamav(s) ? FORK_NFDS : FORK_SCRATCH, nfds;
	uint8_t *buf = malloc(WPROTO_MAX_MSG);
	struct wbuf *out = malloc(sizeof(*out));
	int fds[WPROTO_MAX_FDS];

	if (buf == NULL || out == NULL)
		svc_die("out of memory");
	for (;;) {
		ssize_t n;
		struct buf r;
		uint16_t type;
		uint64_t id;
		int32_t pid;

		if (c->running && !svc_loader_pending(s->sock_fd)) {
			if (hugepages_step(&c->h) == 0)
				svc_loader_collapsed(s, c, out);
			continue;
		}
		n = wproto_recv_fds(s->sock_fd, buf, WPROTO_MAX_MSG, fds, &nfds);
		if (n == 0)
			svc_exit(0);   /* ampdaemon retired us, or is gone */
		if (n > 0 && wproto_open(buf, (size_t)n, &type, &id, &r) == 0 &&
		    (type == WPROTO_MEMQ || type == WPROTO_COLLAPSE) && nfds == 0) {
			if (type == WPROTO_COLLAPSE)
				svc_loader_collapse(s, c, id, out);
			else if (svc_mem_send(s, id, out) != 0)
				svc_die("loader: cannot answer ampdaemon: %s", strerror(errno));
			continue;
		}
		if (n < 0 || wproto_open(buf, (size_t)n, &type, &id, &r) != 0 ||
		    type != WPROTO_FORK || nfds != want)
			svc_die("loader: malformed request from ampdaemon (%zd bytes, type %u, %zu fds)",
			    n, n > 0 ? (unsigned)type : 0u, nfds);
		pid = svc_loader_fork(s, fds, nfds, ampd);
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		if (pid < 0)
			fprintf(stderr, "ampscansvc: loader: clone: %s\n", strerror(-pid));
		if (wproto_encode_forked(out, id, pid) != 0 ||
		    wproto_send(s->sock_fd, out, -1) != 0)
			svc_die("loader: cannot answer ampdaemon: %s", strerror(errno));
	}
}

#ifdef AMPSCAN_TEST_HOOKS
#define SVC_LOADER_BALLAST_MAX_MB 256
/*
 * Test builds: AMPSCAN_TEST_LOADER_BALLAST_MB=N gives the loader N MiB
 * more of written anonymous memory (a test engine is too small to span a
 * 2 MiB-aligned range reliably), so that the collapse and the re-fork of
 * the workers have something to work on.  Kept for the loader's life.
 */
static void
svc_loader_ballast(void)
{
	static unsigned char *ballast;
	const char *v = getenv("AMPSCAN_TEST_LOADER_BALLAST_MB");
	unsigned long mb = v != NULL ? strtoul(v, NULL, 10) : 0;

	if (mb == 0 || mb > SVC_LOADER_BALLAST_MAX_MB || ballast != NULL)
		return;
	if ((ballast = malloc(mb << 20)) == NULL)
		svc_die("out of memory (test ballast)");
	for (size_t i = 0; i < (mb << 20); i += 4096)
		ballast[i] = (unsigned char)(i >> 12 | 1u);
}
#else
static void
svc_loader_ballast(void)
{
}
#endif

/*
 * Huge pages (hugepages.h): what the collapse needs is read now, before
 * the sandbox (THP's setting, /proc/self/smaps: the list of mappings is
 * kept); the collapse itself runs after READY, when ampdaemon asks
 * (COLLAPSE), and its line is logged when it ends.
 */
static void
svc_loader_huge_pages(const struct svc *s, struct svc_collapse *c)
{
	memset(c, 0, sizeof(*c));
	if (!s->huge_pages) {
		fprintf(stderr, "ampscansvc: loader: huge pages: off (LoaderHugePages no)\n");
		return;
	}
	hugepages_prepare(&c->h);
}

int
svc_loader(struct svc *s)
{
	static struct svc_collapse c;   /* lives as long as the loader */
	struct wproto_ready m;
	struct wbuf *b = malloc(sizeof(*b));
	unsigned flags = SANDBOX_LOADER;
	pid_t ampd = getppid();
	char err[1024];

	if (b == NULL)
		svc_die("out of memory");
	if (sandbox_check_identity(s->allow_root, err, sizeof(err)) != 0)
		svc_die("%s", err);
	/* before the load: without Landlock, ampdaemon execs the workers */
	switch (sandbox_loader_possible(err, sizeof(err))) {
	case 0:
		break;
	case 1:
		fprintf(stderr, "ampscansvc: loader: %s\n", err);
		svc_exit(WPROTO_EXIT_NO_LANDLOCK);
	default:
		svc_fail(s, "loader sandbox: %s", err);
	}
	if (svc_clamav(s)) {
		svc_worker_clamav_load(s);   /* and into its scratch directory */
		flags |= SANDBOX_SCRATCH | SANDBOX_LOCALTIME;
	} else {
		svc_worker_builtin_load(s);
	}
	svc_loader_ballast();
	svc_loader_huge_pages(s, &c);
	svc_mem_open(s);   /* its own memory, read again at each report */
	/* Landlock: beneath ScratchDir (its own directory and its workers') */
	if (sandbox_enter_opts(&(struct sandbox_opts){ .flags = flags,
	    .scratch_fd = svc_clamav(s) ? s->scratch_root_fd : -1,
	    .sock_fd = s->sock_fd }, err, sizeof(err)) != 0)
		svc_fail(s, "loader sandbox: %s", err);
	svc_sandboxed = true;
	if (svc_clamav(s)) {
		svc_scratch_probe(s);
		if (seng_check_canaries(s->seng, err, sizeof(err)) != 0)
			svc_fail(s, "canary check in the loader's sandbox failed: %s", err);
		memset(&m, 0, sizeof(m));
		m.proto = WPROTO_VERSION;
		snprintf(m.version, sizeof(m.version), "%s", AMPSCAN_VERSION);
		seng_info(s->seng, &m);
	} else {
		svc_info_ready(s->engine, &m);
	}
	/* huge_bytes, collapse_ms stay 0: COLLAPSED reports them, later */
	if (wproto_encode_ready(b, &m) != 0 || wproto_send(s->sock_fd, b, -1) != 0)
		svc_die("cannot send READY: %s", strerror(errno));
	free(b);
	fprintf(stderr, "ampscansvc: loader READY: the engine is loaded, workers are forked from here\n");
	svc_loader_serve(s, ampd, &c);
}
