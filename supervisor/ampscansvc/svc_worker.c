/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampscansvc --worker: load the definitions (builtin or clamav), enter the
 * sandbox, send READY and answer SCAN requests; in test builds also the
 * sandbox probes and the misbehaviour the fault tests ask for.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"
#include "svc.h"

#ifdef AMPSCAN_TEST_HOOKS
/* Test builds: the supervisor's pid, taken before the sandbox closes. */
static pid_t svc_parent;

static const char *
svc_probe_errno(int rc, int e)
{
	return rc == 0 ? "allowed" : e == EPERM ? "EPERM" : strerror(e);
}

/* Test builds: try what the sandbox forbids and report each errno. */
static void
svc_probe(struct wproto_result *r)
{
	char *argv[] = { (char *)"/bin/true", NULL };
	struct rlimit rl;
	int fd, so, e[9], ok[9];
	void *p;

	/* a path, a socket, exec, the supervisor (ptrace, kill, prlimit) */
	ok[0] = (fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC)) < 0 ? -1 : 0;
	e[0] = errno;
	ok[1] = (so = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ? -1 : 0;
	e[1] = errno;
	ok[2] = execve(argv[0], argv, NULL) < 0 ? -1 : 0;
	e[2] = errno;
	if ((ok[3] = ptrace(PTRACE_ATTACH, svc_parent, NULL, NULL) < 0 ? -1 : 0) == 0)
		ptrace(PTRACE_DETACH, svc_parent, NULL, NULL);
	e[3] = errno;
	ok[4] = kill(svc_parent, 0) < 0 ? -1 : 0;
	e[4] = errno;
	ok[5] = prlimit(svc_parent, RLIMIT_NOFILE, NULL, &rl) < 0 ? -1 : 0;
	e[5] = errno;
	/* a mode change of a descriptor it holds (stderr) */
	ok[6] = fchmod(STDERR_FILENO, 0666) < 0 ? -1 : 0;
	e[6] = errno;
	/* executable memory, new or made so */
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ok[7] = p == MAP_FAILED ? -1 : 0;
	e[7] = errno;
	if (p != MAP_FAILED)
		munmap(p, 4096);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ok[8] = p == MAP_FAILED || mprotect(p, 4096, PROT_READ | PROT_EXEC) < 0 ? -1 : 0;
	e[8] = p == MAP_FAILED ? 0 : errno;
	if (p != MAP_FAILED)
		munmap(p, 4096);
	if (fd >= 0)
		close(fd);
	if (so >= 0)
		close(so);
	snprintf(r->note, sizeof(r->note),
	    "open=%s socket=%s exec=%s ptrace=%s kill=%s prlimit=%s fchmod=%s mmap_exec=%s mprotect_exec=%s",
	    svc_probe_errno(ok[0], e[0]), svc_probe_errno(ok[1], e[1]),
	    svc_probe_errno(ok[2], e[2]), svc_probe_errno(ok[3], e[3]),
	    svc_probe_errno(ok[4], e[4]), svc_probe_errno(ok[5], e[5]),
	    svc_probe_errno(ok[6], e[6]), svc_probe_errno(ok[7], e[7]),
	    svc_probe_errno(ok[8], e[8]));
}
#endif

static void
svc_worker_load(struct svc *s)
{
	char err[1024];
	bool from_index = false;

	if (s->index_fd >= 0) {
		if (engine_index_map_flags(s->index_fd, s->index_verified ?
		    ENGINE_MAP_CHECKSUM_VERIFIED : 0, &s->engine, err, sizeof(err)) != 0)
			svc_die("index (fd %d): %s", s->index_fd, err);
		close(s->index_fd);
		return;
	}
	if (s->ndefs != 1)
		svc_die("--worker needs --defs DIR or --index-fd N");
	if (defs_engine(s->defs[0], &s->dopts, &s->engine, &from_index, err,
	    sizeof(err)) != 0)
		svc_die("cannot load definitions: %s", err);
	fprintf(stderr, "ampscansvc: definitions %s loaded from %s\n", s->defs[0],
	    from_index ? "the index" : "the containers (index missing or stale)");
}

/*
 * Before the sandbox closes: run every code path a scan takes once, so
 * libraries that load things on first use (OpenSSL's configuration and
 * providers, libarchive's bidders) do it while opening files still works.
 */
static void
svc_warm_up(struct svc *s)
{
	struct wproto_result r;

	walk_scan_buffer(s->walk, (const uint8_t *)svc_canary,
	    sizeof(svc_canary) - 1, "canary", WPROTO_SCAN_ALLMATCH, &r);
#ifdef AMPSCAN_TEST_HOOKS
	/* Test builds: definitions that detect this marker verify but make
	 * the worker fail to start (fault 7 tests). */
	static const char nostart[] = "AMPSCAN-TEST-NOSTART-MARKER";

	walk_scan_buffer(s->walk, (const uint8_t *)nostart, sizeof(nostart) - 1,
	    "nostart-probe", 0, &r);
	if (r.verdict == WPROTO_FOUND)
		svc_die("test hook: the definitions detect the no-start marker (%s); refusing to start",
		    r.names[0].sig);
#endif
}

#ifdef AMPSCAN_TEST_HOOKS
/*
 * Test builds: a scanned file whose first WPROTO_MAX_MSG bytes hold one of
 * these markers is scanned, and then the worker misbehaves on its socket
 * instead of sending the RESULT (ampdaemon's fault handling tests):
 *   GARBAGE  one packet of 4 KiB of pseudo-random bytes, then it serves on;
 *   HUGELEN  one packet of 2 x WPROTO_MAX_MSG bytes whose header (right
 *            magic, type and id) claims a body of 4 GiB - 1 (a packet the
 *            supervisor's 64 KiB buffer truncates), then it serves on;
 *   CLOSE    closes its socket and runs on, never exiting;
 *   HOG      answers as usual, but first allocates SVC_TEST_HOG_BYTES and
 *            writes every page, kept until it exits (WorkerMemoryLimit).
 */
#define SVC_TEST_HOG_BYTES (64u << 20)

static void
svc_test_hog(void)
{
	static uint8_t *hogs[64];
	static size_t nhogs;
	uint8_t *p;

	if (nhogs == sizeof(hogs) / sizeof(hogs[0]) ||
	    (p = malloc(SVC_TEST_HOG_BYTES)) == NULL)
		svc_die("test hook: hog marker: out of memory");
	memset(p, 0xa5, SVC_TEST_HOG_BYTES);
	hogs[nhogs++] = p;
	fprintf(stderr, "ampscansvc: test hook: hog marker: holding %zu MiB more\n",
	    nhogs * (SVC_TEST_HOG_BYTES >> 20));
	fflush(stderr);
}
enum svc_misdeed { SVC_BEHAVE, SVC_GARBAGE, SVC_HUGELEN, SVC_CLOSE, SVC_HOG };

static enum svc_misdeed
svc_test_misdeed(int fd, uint8_t *buf)
{
	static const char *const marker[] = { NULL,
	    "AMPSCAN-TEST-GARBAGE-MARKER", "AMPSCAN-TEST-HUGELEN-MARKER",
	    "AMPSCAN-TEST-CLOSE-MARKER", "AMPSCAN-TEST-HOG-MARKER" };
	ssize_t n = pread(fd, buf, WPROTO_MAX_MSG, 0);

	for (int k = SVC_GARBAGE; n > 0 && k <= SVC_HOG; k++)
		if (memmem(buf, (size_t)n, marker[k], strlen(marker[k])) != NULL)
			return (enum svc_misdeed)k;
	return SVC_BEHAVE;
}

static void
svc_test_misbehave(struct svc *s, enum svc_misdeed how, uint64_t id,
    uint8_t *buf, struct wbuf *out)
{
	uint64_t x = id * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	size_t len = 2 * WPROTO_MAX_MSG;
	uint8_t *big;
	ssize_t n;

	switch (how) {
	case SVC_GARBAGE:
		for (size_t i = 0; i < 4096; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		buf[0] = 'G';   /* never the magic */
		fprintf(stderr, "ampscansvc: test hook: garbage marker: replying with 4096 random bytes\n");
		fflush(stderr);
		n = send(s->sock_fd, buf, 4096, MSG_NOSIGNAL);
		break;
	case SVC_HUGELEN:
		if ((big = calloc(1, len)) == NULL)
			svc_die("out of memory");
		wproto_begin(out, WPROTO_RESULT, id);
		memcpy(big, out->data, WPROTO_HDR);
		memset(big + 8, 0xff, 4);   /* body length 4 GiB - 1 */
		/* said before the send: ampdaemon kills us as soon as it reads it */
		fprintf(stderr, "ampscansvc: test hook: huge length marker: sending a %zu-byte packet claiming a 4 GiB body\n",
		    len);
		fflush(stderr);
		n = send(s->sock_fd, big, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EMSGSIZE)   /* a small SO_SNDBUF: the maximum */
			n = send(s->sock_fd, big, len = WPROTO_MAX_MSG, MSG_NOSIGNAL);
		fprintf(stderr, "ampscansvc: test hook: huge length marker: sent %zu bytes (%s)\n",
		    len, n < 0 ? strerror(errno) : "sent");
		free(big);
		break;
	case SVC_CLOSE:
		fprintf(stderr, "ampscansvc: test hook: close marker: closing the socket, running on\n");
		fflush(stderr);
		close(s->sock_fd);
		for (;;)
			pause();
	case SVC_HOG:
	case SVC_BEHAVE:
		break;
	}
	fflush(stderr);
}
#endif

/* One request; false when the worker must exit. */
static bool
svc_serve_one(struct svc *s, uint8_t *buf)
{
	struct wproto_scan req;
	struct wproto_result res;
	struct buf r;
	struct wbuf *out = (struct wbuf *)(buf + WPROTO_MAX_MSG);
	uint16_t type;
	uint64_t id;
	int fd;
	bool mem;
	ssize_t n = wproto_recv(s->sock_fd, buf, WPROTO_MAX_MSG, &fd);

	if (n == 0)
		return false;   /* the supervisor is gone */
	if (n < 0 || wproto_open(buf, (size_t)n, &type, &id, &r) != 0)
		svc_die("malformed message from the supervisor (%zd bytes)", n);
#ifdef AMPSCAN_TEST_HOOKS
	if (type == WPROTO_PROBE) {
		memset(&res, 0, sizeof(res));
		res.id = id;
		svc_probe(&res);
		if (fd >= 0)
			close(fd);
		goto reply;
	}
#endif
	if (type == WPROTO_MEMQ) {
		if (fd >= 0)
			close(fd);
		return svc_mem_send(s, id, out) == 0;
	}
	if (type != WPROTO_SCAN || wproto_decode_scan(&r, id, &req) != 0 || fd < 0)
		svc_die("unexpected message type %u from the supervisor", type);
	mem = (req.flags & WPROTO_SCAN_MEM) != 0;
	req.flags &= ~(uint32_t)WPROTO_SCAN_MEM;
	if (s->seng != NULL)
		seng_scan_fd(s->seng, fd, req.name, req.flags, &res);
	else
		walk_scan_fd(s->walk, fd, req.name, req.flags, &res);
#ifdef AMPSCAN_TEST_HOOKS
	enum svc_misdeed misdeed = svc_test_misdeed(fd, buf);

	if (misdeed == SVC_HOG) {
		svc_test_hog();
	} else if (misdeed != SVC_BEHAVE) {
		close(fd);
		svc_test_misbehave(s, misdeed, id, buf, out);
		return true;
	}
#endif
	close(fd);
	res.id = id;
	/* the memory after this scan, before its RESULT: ampdaemon decides
	 * on WorkerMemoryLimit when the RESULT comes */
	if (mem && svc_mem_send(s, id, out) != 0)
		return false;
#ifdef AMPSCAN_TEST_HOOKS
reply:
#endif
	if (wproto_encode_result(out, &res) != 0 ||
	    wproto_send(s->sock_fd, out, -1) != 0)
		return false;
	return true;
}

/* The builtin engine loaded: what a worker does before it serves. */
void
svc_worker_builtin_load(struct svc *s)
{
	svc_worker_load(s);
	svc_whole_set(s, s->engine, "", s->ndefs == 1 ? s->defs[0] : "the index");
	if (walk_new(s->engine, &s->lim, &s->walk) != 0)
		svc_die("out of memory");
	svc_warm_up(s);
}

/* Builtin: sandbox, READY, serve (exec'd, or forked by the loader). */
_Noreturn void
svc_worker_builtin_serve(struct svc *s)
{
	struct wproto_ready m;
	struct wbuf *b;
	uint8_t *buf;
	char err[512];

	if ((buf = malloc(WPROTO_MAX_MSG + sizeof(struct wbuf))) == NULL ||
	    (b = malloc(sizeof(*b))) == NULL)
		svc_die("out of memory");
#ifdef AMPSCAN_TEST_HOOKS
	svc_parent = getppid();
#endif
	svc_mem_open(s);   /* its own memory, read again at each report */
	if (sandbox_enter_opts(&(struct sandbox_opts){ .flags = 0,
	    .scratch_fd = -1, .sock_fd = s->sock_fd }, err, sizeof(err)) != 0)
		svc_die("sandbox: %s", err);
	svc_sandboxed = true;
	svc_info_ready(s->engine, &m);
	if (wproto_encode_ready(b, &m) != 0 || wproto_send(s->sock_fd, b, -1) != 0)
		svc_die("cannot send READY: %s", strerror(errno));
	free(b);
	while (svc_serve_one(s, buf))
		;
	svc_exit(0);
}

int
svc_worker(struct svc *s)
{
	char err[512];

	if (sandbox_check_identity(s->allow_root, err, sizeof(err)) != 0)
		svc_die("%s", err);
	svc_worker_builtin_load(s);
	svc_worker_builtin_serve(s);
}

/*
 * --fsize-limit: the stage (the whole set, unpacked) is gone; from here
 * on no file grows beyond the limit, and neither this process nor a
 * worker forked from it can raise it again (the hard limit too).  Never
 * above the hard limit it was given.
 */
static void
svc_fsize_limit(const struct svc *s)
{
	struct rlimit rl;

	if (s->fsize_limit == 0)
		return;
	if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
		svc_die("getrlimit(RLIMIT_FSIZE): %s", strerror(errno));
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > s->fsize_limit)
		rl.rlim_max = (rlim_t)s->fsize_limit;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		svc_die("setrlimit(RLIMIT_FSIZE, %llu): %s",
		    (unsigned long long)rl.rlim_max, strerror(errno));
}

/*
 * Clamav: before the load, RLIMIT_FSIZE's signal ignored and the set's
 * identity taken from --source-id (what ampdaemon's definitions check or
 * update named; Engine clamav has no builtin index) or, when given, from
 * an index's name of its set; then libclamav loads and compiles it.
 */
void
svc_worker_clamav_load(struct svc *s)
{
	char err[1200];

	/* RLIMIT_FSIZE (ampdaemon's): a write beyond it fails with EFBIG,
	 * which libclamav reports as an error, instead of killing us */
	signal(SIGXFSZ, SIG_IGN);
	if (s->index_fd >= 0) {
		/* the builtin engine's index; here only its name of the set */
		struct engine *ix = NULL;

		if (engine_index_map_flags(s->index_fd, ENGINE_MAP_CHECKSUM_VERIFIED,
		    &ix, err, sizeof(err)) != 0)
			svc_die("index (fd %d): %s", s->index_fd, err);
		engine_source_id(ix, s->defs_want);
		s->defs_want_set = true;
		engine_free(ix);
		close(s->index_fd);
		s->index_fd = -1;
	} else if (s->have_source_id) {
		memcpy(s->defs_want, s->source_id, sizeof(s->defs_want));
		s->defs_want_set = true;
	}
	if (svc_clamav_load(s, err, sizeof(err)) != 0)
		svc_die("%s", err);
	svc_fsize_limit(s);
	/* libclamav's temporary directory is ".": from here on (the hook's
	 * scan below needs it) */
	if (fchdir(s->scratch_fd) != 0)
		svc_die("scratch directory (fd %d): %s", s->scratch_fd, strerror(errno));
#ifdef AMPSCAN_TEST_HOOKS
	if (seng_test_nostart(s->seng, err, sizeof(err)) != 0)
		svc_fail(s, "%s", err);
#endif
}

/*
 * Clamav, the engine loaded: into the scratch directory (libclamav's
 * temporary directory is "."), the sandbox, the scratch probe, the
 * canaries, READY, serve (exec'd, or forked by the loader).
 */
_Noreturn void
svc_worker_clamav_serve(struct svc *s)
{
	struct wproto_ready m;
	struct wbuf *b;
	uint8_t *buf;
	char err[1024];

	if ((buf = malloc(WPROTO_MAX_MSG + sizeof(struct wbuf))) == NULL ||
	    (b = malloc(sizeof(*b))) == NULL)
		svc_die("out of memory");
	if (fchdir(s->scratch_fd) != 0)
		svc_die("scratch directory (fd %d): %s", s->scratch_fd, strerror(errno));
#ifdef AMPSCAN_TEST_HOOKS
	{
		/* Test builds: definitions that detect this marker make the
		 * scratch directory read-only before the sandbox: the canaries
		 * must then fail and the worker never become READY. */
		struct wproto_result r;

		if (seng_test_marker(s->seng, "AMPSCAN-TEST-ROSCRATCH-MARKER",
		    "roscratch-probe", &r)) {
			fprintf(stderr, "ampscansvc: test hook: read-only scratch marker: making the scratch directory mode 0500\n");
			if (fchmod(s->scratch_fd, 0500) != 0)
				svc_die("fchmod scratch: %s", strerror(errno));
		}
	}
	svc_parent = getppid();
#endif
	svc_mem_open(s);   /* its own memory, read again at each report */
	if (sandbox_enter_opts(&(struct sandbox_opts){
	    .flags = SANDBOX_SCRATCH | SANDBOX_LOCALTIME,
	    .scratch_fd = s->scratch_fd, .sock_fd = s->sock_fd }, err, sizeof(err)) != 0)
		svc_fail(s, "sandbox: %s", err);
	svc_sandboxed = true;
	svc_scratch_probe(s);
	if (seng_check_canaries(s->seng, err, sizeof(err)) != 0)
		svc_fail(s, "canary check in the sandbox failed: %s", err);
	memset(&m, 0, sizeof(m));
	m.proto = WPROTO_VERSION;
	snprintf(m.version, sizeof(m.version), "%s", AMPSCAN_VERSION);
	seng_info(s->seng, &m);
	if (wproto_encode_ready(b, &m) != 0 || wproto_send(s->sock_fd, b, -1) != 0)
		svc_die("cannot send READY: %s", strerror(errno));
	free(b);
	while (svc_serve_one(s, buf))
		;
	svc_exit(0);
}

int
svc_worker_clamav(struct svc *s)
{
	char err[1024];

	if (sandbox_check_identity(s->allow_root, err, sizeof(err)) != 0)
		svc_die("%s", err);
	svc_worker_clamav_load(s);
	svc_worker_clamav_serve(s);
}
