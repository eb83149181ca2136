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
 * The loader itself never scans and never starts a thread.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

/* Serve FORK requests until ampdaemon closes the socket. */
static _Noreturn void
svc_loader_serve(struct svc *s, pid_t ampd)
{
	size_t want = svc_clamav(s) ? FORK_NFDS : FORK_SCRATCH, nfds;
	uint8_t *buf = malloc(WPROTO_MAX_MSG);
	struct wbuf *out = malloc(sizeof(*out));
	int fds[WPROTO_MAX_FDS];

	if (buf == NULL || out == NULL)
		svc_die("out of memory");
	for (;;) {
		ssize_t n = wproto_recv_fds(s->sock_fd, buf, WPROTO_MAX_MSG, fds, &nfds);
		struct buf r;
		uint16_t type;
		uint64_t id;
		int32_t pid;

		if (n == 0)
			svc_exit(0);   /* ampdaemon retired us, or is gone */
		if (n > 0 && wproto_open(buf, (size_t)n, &type, &id, &r) == 0 &&
		    type == WPROTO_MEMQ && nfds == 0) {
			if (svc_mem_send(s, id, out) != 0)
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

/*
 * The engine into transparent huge pages (hugepages.h), before the
 * sandbox: one line in the log whatever happens, never a failure.
 */
static void
svc_loader_huge_pages(const struct svc *s, struct hugepages_report *hp)
{
	char line[256];

	memset(hp, 0, sizeof(*hp));
	if (!s->huge_pages) {
		fprintf(stderr, "ampscansvc: loader: huge pages: off (LoaderHugePages no)\n");
		return;
	}
	hugepages_collapse(hp);
	hugepages_describe(hp, line, sizeof(line));
	fprintf(stderr, "ampscansvc: loader: huge pages: %s\n", line);
}

int
svc_loader(struct svc *s)
{
	struct hugepages_report hp;
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
	svc_loader_huge_pages(s, &hp);
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
	m.huge_bytes = hp.collapsed;
	m.collapse_ms = hp.ms;
	if (wproto_encode_ready(b, &m) != 0 || wproto_send(s->sock_fd, b, -1) != 0)
		svc_die("cannot send READY: %s", strerror(errno));
	free(b);
	fprintf(stderr, "ampscansvc: loader READY: the engine is loaded, workers are forked from here\n");
	svc_loader_serve(s, ampd);
}
