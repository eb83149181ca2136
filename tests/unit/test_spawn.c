/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * spawn_worker(): a probe program (spawn_probe.c) is started as a worker
 * would be and reports what it got: ids, groups, fds, rlimits,
 * capabilities, no_new_privs, signals, session, environment.  Failures
 * name their step; the worker dies with its parent (PR_SET_PDEATHSIG).
 * Everything that forks needs root and skips visibly without it.
 */
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "spawn.h"

#ifndef SPAWN_PROBE_PATH
#error "build with -DSPAWN_PROBE_PATH=\"/path/to/spawn_probe\""
#endif

#define TEST_UID 64123          /* any unused ids: no passwd entry needed */
#define TEST_GID 64124
#define REPORT_MAX 65536
#define WAIT_MS 10000

struct t {
	char dir[256];
	char probe[512];        /* a copy in dir, 0755, reachable by TEST_UID */
	pid_t pid;              /* a worker to kill in teardown */
	int log_fd;
	/* process state a test changes, restored in teardown */
	gid_t groups[64];
	int ngroups;
	struct sigaction sigpipe;
	sigset_t mask;
};

/* ---- helpers ---- */

static bool
need_root(void)
{
	if (geteuid() != 0) {
		print_message("[  SKIP    ] not root: spawning as another user needs root\n");
		return false;
	}
	/*
	 * The test user must reach the probe: not so when a directory above
	 * TMPDIR is closed to others (a chroot whose root mktemp made, 0700).
	 */
	const char *base = getenv("TMPDIR");
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (setresgid(64124, 64124, 64124) != 0 ||
		    setresuid(64123, 64123, 64123) != 0)
			_exit(2);
		_exit(access(base && base[0] ? base : "/tmp", X_OK) == 0 ? 0 : 1);
	}
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0)
		return true;
	print_message("[  SKIP    ] an unprivileged user cannot reach TMPDIR (a directory above it is closed to others)\n");
	return false;
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ssize_t n;

	assert_true(in >= 0);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	assert_int_equal(fchmod(out, mode), 0);
	close(in);
	close(out);
}

static int
count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static bool
no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

/* Read fd until EOF (or WAIT_MS); a malloc'd NUL-terminated string. */
static char *
read_all(int fd)
{
	char *buf = calloc(1, REPORT_MAX + 1);
	size_t got = 0;
	int waited = 0;

	assert_non_null(buf);
	while (got < REPORT_MAX && waited < WAIT_MS) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 100) == 0) {
			waited += 100;
			continue;
		}
		n = read(fd, buf + got, REPORT_MAX - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return buf;
}

/* The value of "key ..." at a line start in rep, into v. */
static const char *
field(const char *rep, const char *key, char *v, size_t vlen)
{
	size_t kl = strlen(key);

	for (const char *p = rep; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (ll > kl && strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			snprintf(v, vlen, "%.*s", (int)(ll - kl - 1), p + kl + 1);
			return v;
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
	snprintf(v, vlen, "<no %s>", key);
	return v;
}

#define assert_field(rep, key, want) do { \
	char v_[512]; \
	assert_string_equal(field((rep), (key), v_, sizeof(v_)), (want)); \
} while (0)

static int
wait_exit(pid_t pid)
{
	int st = 0;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

/*
 * Spawn the probe with req (argv and sock filled here), collect its report
 * from the socket until EOF, reap it.  Returns the report.
 */
static char *
run_probe(struct t *t, struct spawn_req *req, const char *mode)
{
	char *argv[] = { t->probe, (char *)(uintptr_t)mode, NULL };
	struct spawn_result res;
	char err[512];
	int sv[2], st;
	char *rep;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	req->argv = argv;
	req->sock_fd = sv[1];
	if (spawn_worker(req, &res, err, sizeof(err)) != SPAWN_OK)
		fail_msg("spawn_worker: %s", err);
	t->pid = res.pid;
	t->log_fd = res.log_fd;
	close(sv[1]);
	rep = read_all(sv[0]);
	close(sv[0]);
	st = wait_exit(res.pid);
	t->pid = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *log = read_all(res.log_fd);

		print_message("probe status %#x, log:\n%s\n", st, log);
		free(log);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(rep, "\nend\n"));
	return rep;
}

static struct spawn_req
req_user(void)
{
	struct spawn_req r = { .uid = TEST_UID, .gid = TEST_GID,
		.sock_fd = -1, .index_fd = -1 };

	return r;
}

/* ---- fixtures ---- */

static int
setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	const char *base = getenv("TMPDIR");

	if (t == NULL)
		return -1;
	t->pid = -1;
	t->log_fd = -1;
	snprintf(t->dir, sizeof(t->dir), "%s/test_spawn.XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(t->dir) == NULL || chmod(t->dir, 0755) != 0)
		return -1;
	if ((t->ngroups = getgroups(64, t->groups)) < 0 ||
	    sigaction(SIGPIPE, NULL, &t->sigpipe) != 0 ||
	    sigprocmask(SIG_SETMASK, NULL, &t->mask) != 0)
		return -1;
	snprintf(t->probe, sizeof(t->probe), "%s/spawn_probe", t->dir);
	copy_file(SPAWN_PROBE_PATH, t->probe, 0755);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;
	char path[600];

	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		wait_exit(t->pid);
	}
	if (t->log_fd >= 0)
		close(t->log_fd);
	if (geteuid() == 0)
		setgroups((size_t)t->ngroups, t->groups);
	sigaction(SIGPIPE, &t->sigpipe, NULL);
	sigprocmask(SIG_SETMASK, &t->mask, NULL);
	unsetenv("AMPT_SECRET");
	unsetenv("AMPSCAN_TEST_NO_USERNS");
	unlink(t->probe);
	snprintf(path, sizeof(path), "%s/noexec", t->dir);
	unlink(path);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* ---- tests ---- */

static void
test_spawn_drops_to_the_scan_user(void **state)
{
	struct t *t = *state;
	char *env[] = { "AMPT_EXTRA=1", NULL };
	struct spawn_req req = req_user();
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigset_t usr1;
	char want[128], *rep;
	int before = count_fds(), fl;
	gid_t priv[2] = { 4, 6 };

	if (!need_root())
		skip();
	/* what the worker must not inherit: an ignored signal, a blocked one,
	 * our environment */
	/* (all restored in teardown) */
	sigaction(SIGPIPE, &ign, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	setenv("AMPT_SECRET", "leaked", 1);
	setenv("UBSAN_OPTIONS", "print_stacktrace=1", 1);
	/* a sandbox knob: passed on in test builds only */
	setenv("AMPSCAN_TEST_NO_USERNS", "1", 1);
	assert_int_equal(setgroups(2, priv), 0);   /* adm, disk */
	req.env = env;
	rep = run_probe(t, &req, "report");

	assert_field(rep, "uid", "64123 64123 64123");
	assert_field(rep, "gid", "64124 64124 64124");
	assert_field(rep, "groups", "0");
	assert_field(rep, "fds", "0 1 2 3");
	assert_field(rep, "securebits", "0");
	assert_field(rep, "NoNewPrivs", "1");
	assert_field(rep, "CapInh", "0000000000000000");
	assert_field(rep, "CapPrm", "0000000000000000");
	assert_field(rep, "CapEff", "0000000000000000");
	assert_field(rep, "CapBnd", "0000000000000000");
	assert_field(rep, "CapAmb", "0000000000000000");
	assert_field(rep, "SigBlk", "0000000000000000");
	assert_field(rep, "SigIgn", "0000000000000000");
	assert_field(rep, "rlimit_core", "0 0");
	assert_field(rep, "rlimit_nofile", "64 64");
	snprintf(want, sizeof(want), "%d", (int)getpid());
	assert_field(rep, "ppid", want);
	/* its own session and process group */
	{
		char pid[32], sid[32], pgid[32];

		field(rep, "pid", pid, sizeof(pid));
		assert_string_equal(field(rep, "sid", sid, sizeof(sid)), pid);
		assert_string_equal(field(rep, "pgid", pgid, sizeof(pgid)), pid);
	}
	/* fd 0 is /dev/null, 1 and 2 the log pipe, 3 the socket */
	assert_non_null(strstr(rep, "\nfd0 "));
	assert_non_null(strstr(rep, " /dev/null\n"));
	assert_non_null(strstr(rep, " socket:["));
	/* the environment: PATH, the sanitizer options, req->env; nothing else */
	assert_non_null(strstr(rep, "\nenv " SPAWN_PATH_ENV "\n"));
	assert_non_null(strstr(rep, "\nenv UBSAN_OPTIONS=print_stacktrace=1\n"));
	assert_non_null(strstr(rep, "\nenv AMPT_EXTRA=1\n"));
	assert_null(strstr(rep, "AMPT_SECRET"));
#ifdef AMPSCAN_TEST_HOOKS
	assert_non_null(strstr(rep, "\nenv AMPSCAN_TEST_NO_USERNS=1\n"));
#else
	assert_null(strstr(rep, "AMPSCAN_TEST_NO_USERNS"));
#endif
	for (const char *p = strstr(rep, "\nenv "); p != NULL; p = strstr(p + 1, "\nenv ")) {
		const char *v = p + 5;

		assert_true(strncmp(v, "PATH=", 5) == 0 ||
		    strncmp(v, "ASAN_OPTIONS=", 13) == 0 ||
		    strncmp(v, "UBSAN_OPTIONS=", 14) == 0 ||
		    strncmp(v, "LSAN_OPTIONS=", 13) == 0 ||
#ifdef AMPSCAN_TEST_HOOKS
		    strncmp(v, "AMPSCAN_TEST_NO_USERNS=", 23) == 0 ||
#endif
		    strncmp(v, "AMPT_EXTRA=", 11) == 0);
	}
	/* the log pipe: ours, close-on-exec and non-blocking */
	assert_true(fcntl(t->log_fd, F_GETFD) & FD_CLOEXEC);
	fl = fcntl(t->log_fd, F_GETFL);
	assert_true(fl & O_NONBLOCK);
	close(t->log_fd);
	t->log_fd = -1;
	assert_int_equal(count_fds(), before);     /* nothing leaked */
	assert_true(no_children());
	free(rep);
}

static void
test_spawn_installs_fds_even_when_swapped(void **state)
{
	struct t *t = *state;
	struct spawn_req req = req_user();
	char *argv[] = { t->probe, "report", NULL };
	struct spawn_result res;
	struct stat ssock, sidx;
	char err[512], want[700], *rep;
	int sv[2], idx, st;

	if (!need_root())
		skip();
	/* the socket on fd 4 and the index on fd 3: each must move to the
	 * other's number without clobbering it */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	idx = open(t->probe, O_RDONLY);
	assert_true(idx >= 0);
	{
		int s0 = fcntl(sv[0], F_DUPFD, 100), s4 = fcntl(sv[1], F_DUPFD, 100);
		int i3 = fcntl(idx, F_DUPFD, 100);

		close(sv[0]);
		close(sv[1]);
		close(idx);
		sv[0] = s0;
		assert_int_equal(dup2(s4, 4), 4);
		assert_int_equal(dup2(i3, 3), 3);
		close(s4);
		close(i3);
	}
	assert_int_equal(fstat(4, &ssock), 0);
	assert_int_equal(fstat(3, &sidx), 0);
	req.argv = argv;
	req.sock_fd = 4;
	req.index_fd = 3;
	if (spawn_worker(&req, &res, err, sizeof(err)) != SPAWN_OK)
		fail_msg("spawn_worker: %s", err);
	t->pid = res.pid;
	t->log_fd = res.log_fd;
	close(3);
	close(4);
	rep = read_all(sv[0]);
	close(sv[0]);
	st = wait_exit(res.pid);
	t->pid = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *log = read_all(res.log_fd);

		print_message("probe status %#x, report:\n%s\nlog:\n%s\n", st, rep, log);
		free(log);
	}
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_field(rep, "fds", "0 1 2 3 4");
	snprintf(want, sizeof(want), "\nfd3 %llu socket:[",
	    (unsigned long long)ssock.st_ino);
	assert_non_null(strstr(rep, want));
	snprintf(want, sizeof(want), "\nfd4 %llu %s\n",
	    (unsigned long long)sidx.st_ino, t->probe);
	assert_non_null(strstr(rep, want));
	free(rep);
}

static void
test_spawn_sets_the_rlimits_asked(void **state)
{
	struct t *t = *state;
	struct spawn_req req = req_user();
	struct rlimit core;
	char want[64], *rep;

	if (!need_root())
		skip();
	assert_int_equal(getrlimit(RLIMIT_CORE, &core), 0);
	req.core_dumps = true;
	req.nofile = 32;
	req.cpu_seconds = 3600;
	req.as_bytes = (rlim_t)1 << 46;   /* big enough for ASan's shadow */
	rep = run_probe(t, &req, "report");
	/* the hard limit only: an ASan build sets its own soft limit to 0 */
	snprintf(want, sizeof(want), " %llu", (unsigned long long)core.rlim_max);
	{
		char v[128];

		field(rep, "rlimit_core", v, sizeof(v));
		assert_non_null(strstr(v, want));
		assert_string_equal(strstr(v, want), want);
	}
	assert_field(rep, "rlimit_nofile", "32 32");
	assert_field(rep, "rlimit_cpu", "3600 3600");
	snprintf(want, sizeof(want), "%llu %llu", 1ULL << 46, 1ULL << 46);
	assert_field(rep, "rlimit_as", want);
	free(rep);
}

static void
test_spawn_as_root_keeps_no_capability(void **state)
{
	struct t *t = *state;
	struct spawn_req req = req_user();
	char *rep;

	if (!need_root())
		skip();
	req.as_root = true;
	req.uid = 12345;            /* ignored in the degraded mode */
	rep = run_probe(t, &req, "report");
	assert_field(rep, "uid", "0 0 0");
	assert_field(rep, "gid", "0 0 0");
	/* SECBIT_NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE, all locked,
	 * and KEEP_CAPS locked off: exec grants root nothing */
	assert_field(rep, "securebits", "0xef");
	assert_field(rep, "groups", "0");
	assert_field(rep, "NoNewPrivs", "1");
	assert_field(rep, "CapInh", "0000000000000000");
	assert_field(rep, "CapPrm", "0000000000000000");
	assert_field(rep, "CapEff", "0000000000000000");
	assert_field(rep, "CapBnd", "0000000000000000");
	assert_field(rep, "CapAmb", "0000000000000000");
	assert_field(rep, "fds", "0 1 2 3");
	free(rep);
}

static void
spawn_must_fail(struct t *t, struct spawn_req *req, int want_rc,
    const char *want_err)
{
	struct spawn_result res = { 123, 456 };
	char err[512];
	int sv[2], before, rc;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	if (req->sock_fd == -2)
		req->sock_fd = sv[1];
	before = count_fds();
	rc = spawn_worker(req, &res, err, sizeof(err));
	if (rc == SPAWN_OK) {
		t->pid = res.pid;
		t->log_fd = res.log_fd;
	}
	assert_int_equal(rc, want_rc);
	assert_string_equal(err, want_err);
	assert_int_equal(res.pid, -1);
	assert_int_equal(res.log_fd, -1);
	assert_int_equal(count_fds(), before);
	assert_true(no_children());           /* the failed child was reaped */
	close(sv[0]);
	close(sv[1]);
}

static void
test_spawn_missing_binary_names_execve(void **state)
{
	struct t *t = *state;
	char *argv[] = { "/nonexistent/ampscansvc", "--worker", NULL };
	struct spawn_req req = req_user();

	if (!need_root())
		skip();
	req.argv = argv;
	req.sock_fd = -2;
	spawn_must_fail(t, &req, SPAWN_ERR_CHILD,
	    "execve /nonexistent/ampscansvc: No such file or directory");
}

static void
test_spawn_unreadable_binary_is_eacces_as_the_user(void **state)
{
	struct t *t = *state;
	char path[600], want[700];
	char *argv[] = { path, NULL };
	struct spawn_req req = req_user();

	if (!need_root())
		skip();
	snprintf(path, sizeof(path), "%s/noexec", t->dir);
	copy_file(SPAWN_PROBE_PATH, path, 0700);      /* root's only */
	req.argv = argv;
	req.sock_fd = -2;
	snprintf(want, sizeof(want), "execve %s: Permission denied", path);
	spawn_must_fail(t, &req, SPAWN_ERR_CHILD, want);
}

static void
test_spawn_failing_step_is_named(void **state)
{
	struct t *t = *state;
	char *argv[] = { t->probe, "report", NULL };
	struct spawn_req req = req_user();

	if (!need_root())
		skip();
	/* above fs.nr_open (and the hard limit): refused even to root */
	req.argv = argv;
	req.sock_fd = -2;
	req.nofile = (rlim_t)1 << 30;
	spawn_must_fail(t, &req, SPAWN_ERR_CHILD,
	    "setrlimit RLIMIT_NOFILE 1073741824: Operation not permitted");
}

static void
test_spawn_log_pipe_carries_stdout_and_stderr(void **state)
{
	struct t *t = *state;
	char *argv[] = { t->probe, "say", "hello from the worker", NULL };
	struct spawn_req req = req_user();
	struct spawn_result res;
	char err[512], *log;
	int sv[2];

	if (!need_root())
		skip();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	req.argv = argv;
	req.sock_fd = sv[1];
	if (spawn_worker(&req, &res, err, sizeof(err)) != SPAWN_OK)
		fail_msg("spawn_worker: %s", err);
	t->pid = res.pid;
	t->log_fd = res.log_fd;
	close(sv[1]);
	log = read_all(res.log_fd);          /* EOF: the probe has exited */
	assert_string_equal(log, "out:hello from the worker\nerr:hello from the worker\n");
	assert_int_equal(wait_exit(res.pid), 0);
	t->pid = -1;
	close(sv[0]);
	free(log);
}

static void
test_spawn_rejects_bad_requests(void **state)
{
	struct t *t = *state;
	char *rel[] = { "ampscansvc", NULL };
	char *abs[] = { "/usr/sbin/ampscansvc", NULL };
	char *badenv[] = { "NOEQUALS", NULL };
	char *many[SPAWN_ARGV_MAX + 2];
	struct spawn_req req;

	for (int i = 0; i < SPAWN_ARGV_MAX + 1; i++)
		many[i] = "/x";
	many[SPAWN_ARGV_MAX + 1] = NULL;

	req = req_user();
	req.sock_fd = -2;
	spawn_must_fail(t, &req, SPAWN_ERR_ARGS, "spawn: argv[0] must be an absolute path");
	req.argv = rel;
	spawn_must_fail(t, &req, SPAWN_ERR_ARGS, "spawn: argv[0] must be an absolute path");
	req.argv = many;
	{
		char want[64];

		snprintf(want, sizeof(want), "spawn: more than %d arguments", SPAWN_ARGV_MAX);
		spawn_must_fail(t, &req, SPAWN_ERR_ARGS, want);
	}
	req.argv = abs;
	req.uid = 0;
	spawn_must_fail(t, &req, SPAWN_ERR_ARGS, "spawn: uid 0, gid 64124: running as root (or group 0) is only the degraded mode (as_root)");
	req.uid = TEST_UID;
	req.gid = 0;
	spawn_must_fail(t, &req, SPAWN_ERR_ARGS, "spawn: uid 64123, gid 0: running as root (or group 0) is only the degraded mode (as_root)");
	req.gid = TEST_GID;
	req.sock_fd = -1;
	spawn_must_fail(t, &req, SPAWN_ERR_ARGS, "spawn: socket fd -1 is not open");
	req.sock_fd = 1000;
	spawn_must_fail(t, &req, SPAWN_ERR_ARGS, "spawn: socket fd 1000 is not open");
	req.sock_fd = -2;
	req.index_fd = 1001;
	spawn_must_fail(t, &req, SPAWN_ERR_ARGS, "spawn: index fd 1001 is not open");
	req.index_fd = -1;
	req.env = badenv;
	spawn_must_fail(t, &req, SPAWN_ERR_ARGS, "spawn: env entry 0: more than 16 or not NAME=value");
}

static void
test_spawn_worker_dies_with_its_parent(void **state)
{
	struct t *t = *state;
	int p[2], st = 0, waited = 0;
	pid_t mid, worker = -1;

	if (!need_root())
		skip();
	/* the worker, orphaned, comes back to us: we see how it died */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	assert_int_equal(pipe(p), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		char *argv[] = { t->probe, "hold", NULL };
		struct spawn_req req = req_user();
		struct spawn_result res;
		char err[256];
		int sv[2];

		close(p[0]);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			_exit(1);
		req.argv = argv;
		req.sock_fd = sv[1];
		if (spawn_worker(&req, &res, err, sizeof(err)) != SPAWN_OK)
			res.pid = -1;
		(void)!write(p[1], &res.pid, sizeof(res.pid));
		_exit(0);                /* the worker must die with us */
	}
	close(p[1]);
	assert_int_equal(read(p[0], &worker, sizeof(worker)), (ssize_t)sizeof(worker));
	close(p[0]);
	assert_true(worker > 0);
	t->pid = worker;
	assert_int_equal(wait_exit(mid), 0);
	while (waitpid(worker, &st, WNOHANG) == 0 && waited < WAIT_MS) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
		waited += 10;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
	assert_true(waited < WAIT_MS);
	t->pid = -1;
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
}

static void
test_spawn_strerror_names_every_code(void **state)
{
	(void)state;
	assert_string_equal(spawn_strerror(SPAWN_OK), "success");
	assert_string_equal(spawn_strerror(SPAWN_ERR_ARGS), "bad spawn request");
	assert_string_equal(spawn_strerror(SPAWN_ERR_CHILD), "the worker failed before exec");
	assert_string_equal(spawn_strerror(-99), "unknown spawn error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spawn_drops_to_the_scan_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_installs_fds_even_when_swapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_sets_the_rlimits_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_as_root_keeps_no_capability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_missing_binary_names_execve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_unreadable_binary_is_eacces_as_the_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_failing_step_is_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_log_pipe_carries_stdout_and_stderr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_rejects_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_worker_dies_with_its_parent, setup, teardown),
		cmocka_unit_test(test_spawn_strerror_names_every_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
