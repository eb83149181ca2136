/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real ampscansvc --worker, driven over its socketpair as ampdaemon
 * drives it: READY, SCAN with a passed descriptor, RESULT; and its sandbox,
 * proven from outside the process (/proc/PID/status) and by the test-build
 * probe request.  As root, the worker runs as the unprivileged `nobody`.
 * Each worker's stderr goes to its own log, which must hold no "refused
 * syscall" line (test builds log every call the sandbox refuses) unless
 * the test provoked one.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ampscan/cvd.h"
#include "sandbox.h"
#include "testutil.h"
#include "wproto.h"

#define EICAR "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

struct worker {
	pid_t pid;
	int sock;
	char log[4096];   /* its stderr */
};

static char *g_dir;          /* definitions + files, readable by nobody */
static char *g_pub;
static char g_svc[4096];     /* a copy of ampscansvc nobody can execute */
static bool g_unreachable;   /* nobody cannot reach g_dir: skip */
static char *g_knobs[3];     /* "NAME=value" test knobs for the next workers */

static void child_drop(void);

/*
 * Can the unprivileged user reach and execute our copy?  Not when a
 * directory above it is closed to others: a chroot whose root was made by
 * mktemp (mode 0700), as some "fresh machine" checks do.
 */
static bool
worker_reachable(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		child_drop();
		_exit(access(g_svc, X_OK) == 0 ? 0 : 1);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0;
}

static int
setup_defs(void **state)
{
	struct cvd_build_opts o = { .name = "demo", .version = 3 };
	const char *priv, *pub;
	char err[512], src[4096], out[4096];

	(void)state;
	g_dir = tu_tmpdir();
	chmod(g_dir, 0755);
	tu_key_files(g_dir, &priv, &pub);
	chmod(pub, 0644);
	g_pub = strdup(pub);
	snprintf(src, sizeof(src), "%s/tools/demo-defs", AMPSCAN_SOURCE_DIR);
	mkdir(tu_path(g_dir, "defs"), 0755);
	snprintf(out, sizeof(out), "%s/defs/demo.cvd", g_dir);
	o.key_path = priv;
	if (cvd_build(src, out, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "build: %s\n", err);
		return -1;
	}
	chmod(out, 0644);
	tu_write_str(tu_path(g_dir, "eicar.com"), EICAR);
	tu_write_str(tu_path(g_dir, "clean.txt"), "nothing here\n");
	/* the build tree may sit where nobody cannot reach (/root/...) */
	{
		size_t len;
		uint8_t *bin = tu_read(AMPSCANSVC_PATH, &len);

		snprintf(g_svc, sizeof(g_svc), "%s/ampscansvc", g_dir);
		tu_write(g_svc, bin, len);
		chmod(g_svc, 0755);
		free(bin);
	}
	if (!worker_reachable()) {
		g_unreachable = true;
		fprintf(stderr, "SKIPPED: user nobody cannot execute %s (a directory above it is closed to others, e.g. a chroot root of mode 0700)\n",
		    g_svc);
	}
	return 0;
}

static int
teardown_defs(void **state)
{
	(void)state;
	tu_rmtree(g_dir);
	free(g_dir);
	free(g_pub);
	return 0;
}

/* Drop to nobody in the child when we are root. */
static void
child_drop(void)
{
	struct passwd *pw;

	if (getuid() != 0)
		return;
	if ((pw = getpwnam("nobody")) == NULL ||
	    setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
		_exit(126);
}

static void
worker_start(struct worker *w)
{
	static unsigned seq;
	int sv[2], log;
	char defs[4096];

	if (g_unreachable)
		skip();
	snprintf(w->log, sizeof(w->log), "%s/worker%u.log", g_dir, ++seq);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(defs, sizeof(defs), "%s/defs", g_dir);
	w->pid = fork();
	assert_true(w->pid >= 0);
	if (w->pid == 0) {
		dup2(sv[1], 3);
		if ((log = open(w->log, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
		    dup2(log, STDERR_FILENO) < 0)
			_exit(126);
		child_drop();
		/* sanitizer builds: LeakSanitizer needs ptrace and /proc, which
		 * the sandbox forbids; leaks are checked in the other tests */
		setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0", 1);
		for (size_t i = 0; g_knobs[i] != NULL; i++)
			putenv(g_knobs[i]);
		execl(g_svc, "ampscansvc", "--worker", "--defs", defs,
		    "--trusted-key", g_pub, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	w->sock = sv[0];
}
#ifdef AMPSCAN_TEST_HOOKS   /* its tests use the test hooks */

/*
 * A clamav worker as ampdaemon starts one: the definitions directory on
 * fd 5, its scratch directory (scratch, the scan user's) on fd 6.
 */
static void
worker_start_clamav(struct worker *w, const char *scratch)
{
	static unsigned seq;
	int sv[2], log, d, sc;
	char defs[4096];

	if (g_unreachable)
		skip();
	snprintf(w->log, sizeof(w->log), "%s/clamav%u.log", g_dir, ++seq);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(defs, sizeof(defs), "%s/defs", g_dir);
	w->pid = fork();
	assert_true(w->pid >= 0);
	if (w->pid == 0) {
		/* above 6 first: dup2 must not close one with the other */
		if ((d = fcntl(open(defs, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
		    F_DUPFD_CLOEXEC, 20)) < 0 ||
		    (sc = fcntl(open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
		    F_DUPFD_CLOEXEC, 20)) < 0 ||
		    dup2(sv[1], 3) < 0 || dup2(d, 5) < 0 || dup2(sc, 6) < 0)
			_exit(126);
		close(d);
		close(sc);
		if ((log = open(w->log, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
		    dup2(log, STDERR_FILENO) < 0)
			_exit(126);
		close(log);
		child_drop();
		setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0", 1);
		for (size_t i = 0; g_knobs[i] != NULL; i++)
			putenv(g_knobs[i]);
		execl(g_svc, "ampscansvc", "--worker", "--engine", "clamav",
		    "--defs-dir-fd", "5", "--scratch-fd", "6",
		    "--trusted-key", g_pub, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	w->sock = sv[0];
}
#endif

/* Receive one message within 20 s; returns its length. */
static ssize_t
worker_recv(struct worker *w, uint8_t *buf, int *fd)
{
	struct timeval tv = { 20, 0 };

	setsockopt(w->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return wproto_recv(w->sock, buf, WPROTO_MAX_MSG, fd);
}

static int
worker_wait(struct worker *w)
{
	int st = -1;

	for (int i = 0; i < 200; i++) {
		if (waitpid(w->pid, &st, WNOHANG) == w->pid)
			return st;
		usleep(50000);
	}
	kill(w->pid, SIGKILL);
	waitpid(w->pid, &st, 0);
	fail_msg("worker %d did not exit within 10 s", (int)w->pid);
	return st;
}

static void
worker_ready(struct worker *w, struct wproto_ready *m)
{
	static uint8_t buf[WPROTO_MAX_MSG];
	struct buf r;
	uint16_t type;
	uint64_t id;
	int fd;
	ssize_t n = worker_recv(w, buf, &fd);

	if (n <= 0) {
		char *text = (char *)tu_read(w->log, NULL);

		fprintf(stderr, "no READY; %s:\n%s", w->log, text ? text : "");
		free(text);
	}
	assert_true(n > 0);
	assert_int_equal(wproto_open(buf, (size_t)n, &type, &id, &r), 0);
	assert_int_equal(type, WPROTO_READY);
	assert_int_equal(wproto_decode_ready(&r, m), 0);
}

static void
worker_scan(struct worker *w, const char *path, uint32_t flags,
    struct wproto_result *res)
{
	static uint8_t buf[WPROTO_MAX_MSG];
	static struct wbuf b;
	struct wproto_scan req = { .id = 42, .flags = flags };
	struct buf r;
	uint16_t type;
	uint64_t id;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rfd;
	ssize_t n;

	assert_true(fd >= 0);
	snprintf(req.name, sizeof(req.name), "%s", path);
	assert_int_equal(wproto_encode_scan(&b, &req), 0);
	assert_int_equal(wproto_send(w->sock, &b, fd), 0);
	close(fd);
	n = worker_recv(w, buf, &rfd);
	assert_true(n > 0);
	assert_int_equal(wproto_open(buf, (size_t)n, &type, &id, &r), 0);
	assert_int_equal(type, WPROTO_RESULT);
	assert_int_equal(id, 42);
	assert_int_equal(wproto_decode_result(&r, id, res), 0);
}

/* How many calls the sandbox refused (test builds log each on stderr);
 * the log is shown when that is not the number expected. */
static unsigned
worker_refused(const char *log, unsigned expect)
{
	char *text = (char *)tu_read(log, NULL), *p = text;
	unsigned n = 0;

	while ((p = strstr(p, "sandbox: refused syscall ")) != NULL) {
		n++;
		p++;
	}
	if (n != expect)
		fprintf(stderr, "%s:\n%s", log, text);
	free(text);
	return n;
}

static void
worker_stop(struct worker *w)
{
	int st;

	close(w->sock);
	st = worker_wait(w);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *text = (char *)tu_read(w->log, NULL);

		fprintf(stderr, "%s:\n%s", w->log, text);
		free(text);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(worker_refused(w->log, 0), 0);
}

static void
test_worker_ready_reports_definitions(void **state)
{
	struct wproto_ready m;
	struct worker w;

	(void)state;
	worker_start(&w);
	worker_ready(&w, &m);
	assert_int_equal(m.proto, WPROTO_VERSION);
	assert_int_equal(m.ndbs, 1);
	assert_string_equal(m.dbs[0].name, "demo");
	assert_int_equal(m.dbs[0].version, 3);
	assert_string_equal(m.types[0].type, "hdb");
	assert_int_equal(m.types[0].loaded, 1);
	worker_stop(&w);
}

static void
test_worker_scans_passed_descriptors(void **state)
{
	struct wproto_ready m;
	struct wproto_result res;
	struct worker w;

	(void)state;
	worker_start(&w);
	worker_ready(&w, &m);
	worker_scan(&w, tu_path(g_dir, "eicar.com"), 0, &res);
	assert_int_equal(res.verdict, WPROTO_FOUND);
	assert_int_equal(res.nnames, 1);
	assert_string_equal(res.names[0].sig, "Eicar-Test-Signature");
	worker_scan(&w, tu_path(g_dir, "eicar.com"), WPROTO_SCAN_ALLMATCH, &res);
	assert_int_equal(res.verdict, WPROTO_FOUND);
	assert_true(res.nnames >= 2);   /* md5, sha256 and body: same name, once */
	worker_scan(&w, tu_path(g_dir, "clean.txt"), 0, &res);
	assert_int_equal(res.verdict, WPROTO_CLEAN);
	worker_stop(&w);
}

static void
status_field(pid_t pid, const char *field, char *out, size_t outlen)
{
	char path[64], line[512];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, strlen(field)) == 0 &&
		    line[strlen(field)] == ':') {
			snprintf(out, outlen, "%s", line + strlen(field) + 1);
			out[strcspn(out, "\n")] = '\0';
		}
	fclose(f);
}

static void
test_worker_sandbox_seen_from_outside(void **state)
{
	struct wproto_ready m;
	struct worker w;
	char v[256];

	(void)state;
	worker_start(&w);
	worker_ready(&w, &m);
	status_field(w.pid, "NoNewPrivs", v, sizeof(v));
	assert_string_equal(v, "\t1");
	status_field(w.pid, "Seccomp", v, sizeof(v));
	assert_string_equal(v, "\t2");              /* filter mode */
	status_field(w.pid, "CapEff", v, sizeof(v));
	assert_string_equal(v, "\t0000000000000000");
	status_field(w.pid, "Uid", v, sizeof(v));
	assert_true(strncmp(v, "\t0\t", 3) != 0);   /* not root */
	worker_stop(&w);
}

#ifdef AMPSCAN_TEST_HOOKS
/* Seen from outside: the worker has a mount namespace of its own (or not). */
static bool
own_mount_ns(pid_t pid)
{
	char path[64], theirs[128] = "", ours[128] = "";

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	assert_true(readlink(path, theirs, sizeof(theirs) - 1) > 0);
	assert_true(readlink("/proc/self/ns/mnt", ours, sizeof(ours) - 1) > 0);
	return strcmp(theirs, ours) != 0;
}

/* The log holds TEXT. */
static bool
log_has(const char *log, const char *text)
{
	char *t = (char *)tu_read(log, NULL);
	bool found = t != NULL && strstr(t, text) != NULL;

	if (!found)
		fprintf(stderr, "%s does not hold \"%s\":\n%s", log, text, t ? t : "");
	free(t);
	return found;
}

/* mountns: the worker runs with AMPSCAN_TEST_NO_LANDLOCK=1 */
static void
probe_worker(bool mountns)
{
	static uint8_t buf[WPROTO_MAX_MSG];
	static struct wbuf b;
	struct wproto_ready m;
	struct wproto_result res;
	struct worker w;
	struct buf r;
	uint16_t type;
	uint64_t id;
	char v[256];
	int fd;
	ssize_t n;

	g_knobs[0] = mountns ? (char *)"AMPSCAN_TEST_NO_LANDLOCK=1" : NULL;
	worker_start(&w);
	g_knobs[0] = NULL;
	worker_ready(&w, &m);
	assert_true(own_mount_ns(w.pid) == mountns);
	/* what the user namespace gave is dropped again, bounding set too */
	status_field(w.pid, "CapEff", v, sizeof(v));
	assert_string_equal(v, "\t0000000000000000");
	if (mountns) {
		status_field(w.pid, "CapPrm", v, sizeof(v));
		assert_string_equal(v, "\t0000000000000000");
		status_field(w.pid, "CapBnd", v, sizeof(v));
		assert_string_equal(v, "\t0000000000000000");
		assert_true(log_has(w.log, "Landlock unavailable (ENOSYS): confined to a private mount namespace whose root is an empty tmpfs"));
	}
	wproto_begin(&b, WPROTO_PROBE, 7);
	assert_true(wproto_end(&b));
	assert_int_equal(wproto_send(w.sock, &b, -1), 0);
	n = worker_recv(&w, buf, &fd);
	assert_true(n > 0);
	assert_int_equal(wproto_open(buf, (size_t)n, &type, &id, &r), 0);
	assert_int_equal(wproto_decode_result(&r, id, &res), 0);
	assert_string_equal(res.note,
	    "open=EPERM socket=EPERM exec=EPERM ptrace=EPERM kill=EPERM prlimit=EPERM fchmod=EPERM mmap_exec=EPERM mprotect_exec=EPERM");
	/* a plain scan still works after the probe */
	worker_scan(&w, tu_path(g_dir, "eicar.com"), 0, &res);
	assert_int_equal(res.verdict, WPROTO_FOUND);
	close(w.sock);
	assert_int_equal(WEXITSTATUS(worker_wait(&w)), 0);
	/* each refusal was logged: the proof the clean logs mean something */
	assert_int_equal(worker_refused(w.log, 9), 9);
}

/* Can nobody make a user and mount namespace here (a child tries)? */
static bool
userns_available(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		child_drop();
		_exit(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 ? 0 : 1);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0;
}
#endif

static void
test_worker_probe_cannot_open_socket_or_exec(void **state)
{
	(void)state;
#ifdef AMPSCAN_TEST_HOOKS
	probe_worker(false);
#else
	skip();   /* the probe exists in test builds only */
#endif
}

/*
 * Without Landlock (test builds: AMPSCAN_TEST_NO_LANDLOCK=1) the builtin
 * worker is confined to a mount namespace of its own whose root is an
 * empty tmpfs; the probe finds the same refusals, EICAR is still found.
 */
static void
test_worker_without_landlock_in_mount_ns(void **state)
{
	(void)state;
#ifdef AMPSCAN_TEST_HOOKS
	if (g_unreachable || !userns_available())
		skip();   /* user namespaces disabled here */
	probe_worker(true);
#else
	skip();   /* the knob exists in test builds only */
#endif
}

/*
 * The clamav worker without Landlock: READY (scratch check and canaries
 * passed in its mount namespace), its probe finds no /etc/hostname (its
 * root is its scratch directory) and the 8 refusals of the seccomp
 * filter (open is allowed beneath the scratch directory), EICAR is found.
 */
static void
test_clamav_worker_without_landlock(void **state)
{
#ifdef AMPSCAN_TEST_HOOKS
	static uint8_t buf[WPROTO_MAX_MSG];
	static struct wbuf b;
	struct passwd *pw = getpwnam("nobody");
	struct wproto_ready m;
	struct wproto_result res;
	struct worker w;
	struct buf r;
	char *top, scratch[4096];
	uint16_t type;
	uint64_t id;
	int fd;
	ssize_t n;

	(void)state;
	if (g_unreachable || !userns_available())
		skip();
	top = tu_tmpdir();
	chmod(top, 0755);
	snprintf(scratch, sizeof(scratch), "%s/scratch", top);
	assert_int_equal(mkdir(scratch, 0700), 0);
	if (getuid() == 0)
		assert_int_equal(chown(scratch, pw->pw_uid, pw->pw_gid), 0);
	g_knobs[0] = (char *)"AMPSCAN_TEST_NO_LANDLOCK=1";
	worker_start_clamav(&w, scratch);
	g_knobs[0] = NULL;
	worker_ready(&w, &m);
	assert_true(own_mount_ns(w.pid));
	assert_true(log_has(w.log, "confined to a private mount namespace whose root is the scratch directory"));
	wproto_begin(&b, WPROTO_PROBE, 7);
	assert_true(wproto_end(&b));
	assert_int_equal(wproto_send(w.sock, &b, -1), 0);
	n = worker_recv(&w, buf, &fd);
	assert_true(n > 0);
	assert_int_equal(wproto_open(buf, (size_t)n, &type, &id, &r), 0);
	assert_int_equal(wproto_decode_result(&r, id, &res), 0);
	assert_string_equal(res.note,
	    "open=No such file or directory socket=EPERM exec=EPERM ptrace=EPERM kill=EPERM prlimit=EPERM fchmod=EPERM mmap_exec=EPERM mprotect_exec=EPERM");
	worker_scan(&w, tu_path(g_dir, "eicar.com"), 0, &res);
	assert_int_equal(res.verdict, WPROTO_FOUND);
	worker_scan(&w, tu_path(g_dir, "clean.txt"), 0, &res);
	assert_int_equal(res.verdict, WPROTO_CLEAN);
	/* the worker confirms it read the whole file (the cache needs it) */
	struct stat cst;

	assert_int_equal(stat(tu_path(g_dir, "clean.txt"), &cst), 0);
	assert_true(res.rflags & WPROTO_RES_WHOLE);
	assert_int_equal(res.read_bytes, (uint64_t)cst.st_size);
	close(w.sock);
	assert_int_equal(WEXITSTATUS(worker_wait(&w)), 0);
	assert_int_equal(worker_refused(w.log, 8), 8);
	tu_rmtree(top);
	free(top);
#else
	(void)state;
	skip();   /* the probe and the knob exist in test builds only */
#endif
}

/* Neither Landlock nor a user namespace: the worker refuses to start. */
static void
test_worker_refuses_to_run_unconfined(void **state)
{
	struct worker w;
	int st;

	(void)state;
#ifdef AMPSCAN_TEST_HOOKS
	g_knobs[0] = (char *)"AMPSCAN_TEST_NO_LANDLOCK=1";
	g_knobs[1] = (char *)"AMPSCAN_TEST_NO_USERNS=1";
	worker_start(&w);
	g_knobs[0] = g_knobs[1] = NULL;
	st = worker_wait(&w);
	close(w.sock);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_true(log_has(w.log, "ampscansvc: sandbox: Landlock unavailable (ENOSYS) and no mount namespace (unshare: EPERM): refusing to run unconfined\n"));
	/* Landlock refused with EPERM: a misconfiguration, no fallback */
	g_knobs[0] = (char *)"AMPSCAN_TEST_NO_LANDLOCK=EPERM";
	worker_start(&w);
	g_knobs[0] = NULL;
	st = worker_wait(&w);
	close(w.sock);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_true(log_has(w.log, "blocks landlock_*; allow them for ampdaemon (misconfiguration)"));
#else
	(void)w;
	(void)st;
	skip();   /* the knobs exist in test builds only */
#endif
}

#define SCRATCH_EXPECT "create=ok write=ok mkdir=ok chmod0700=ok chmod0755=EPERM fchmod=EPERM rename=ok unlink=ok rmdir=ok outside=EACCES escape=EACCES localtime=ok socket=EPERM fdescape=EACCES"
/* the mount namespace: outside is nowhere, ".." of the root is the root */
#define SCRATCH_EXPECT_NS "create=ok write=ok mkdir=ok chmod0700=ok chmod0755=EPERM fchmod=EPERM rename=ok unlink=ok rmdir=ok outside=ENOENT escape=ok localtime=ENOENT socket=EPERM fdescape=ok"

static const char *
scratch_rc(int rc, int e)
{
	return rc >= 0 ? "ok" : e == EPERM ? "EPERM" : e == EACCES ? "EACCES" :
	    e == ENOENT ? "ENOENT" : strerror(e);
}

/* In the sandboxed child: what a libclamav scan does, and what it must not. */
static void
scratch_try(int sfd, char *out, size_t outlen)
{
	int f, rc[14], e[14], k = 0;

#define TRY(expr) do { rc[k] = (expr); e[k++] = errno; } while (0)
	TRY(f = open("t.tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
	TRY((int)write(f, "scratch", 7));
	TRY(mkdir("d", 0755));
	TRY(chmod("d", 0700));
	TRY(chmod("d", 0755));
	TRY(fchmod(f, 0644));
	TRY(rename("t.tmp", "d/t.tmp"));
	TRY(unlink("d/t.tmp"));
	TRY(rmdir("d"));
	TRY(open("/etc/hostname", O_RDONLY | O_CLOEXEC));
	TRY(open("../escape", O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	TRY(open("/etc/localtime", O_RDONLY | O_CLOEXEC));
	TRY(socket(AF_UNIX, SOCK_STREAM, 0));
	/* from the scratch directory's descriptor, not the cwd */
	TRY(openat(sfd, "../fdescape", O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
#undef TRY
	snprintf(out, outlen,
	    "create=%s write=%s mkdir=%s chmod0700=%s chmod0755=%s fchmod=%s rename=%s unlink=%s rmdir=%s outside=%s escape=%s localtime=%s socket=%s fdescape=%s",
	    scratch_rc(rc[0], e[0]), scratch_rc(rc[1], e[1]), scratch_rc(rc[2], e[2]),
	    scratch_rc(rc[3], e[3]), scratch_rc(rc[4], e[4]), scratch_rc(rc[5], e[5]),
	    scratch_rc(rc[6], e[6]), scratch_rc(rc[7], e[7]), scratch_rc(rc[8], e[8]),
	    scratch_rc(rc[9], e[9]), scratch_rc(rc[10], e[10]),
	    scratch_rc(rc[11], e[11]), scratch_rc(rc[12], e[12]),
	    scratch_rc(rc[13], e[13]));
}

/*
 * The SANDBOX_SCRATCH variant (the libclamav worker's): a child enters it
 * with a scratch directory as its cwd and reports what worked; mountns:
 * with AMPSCAN_TEST_NO_LANDLOCK=1 (test builds).
 */
static void
scratch_variant(bool mountns, const char *expect)
{
	char *top, scratch[4096], log[4096], got[1024] = "", err[512];
	struct passwd *pw = getpwnam("nobody");
	int pfd[2], st;
	ssize_t n;
	pid_t pid;

	top = tu_tmpdir();
	chmod(top, 0755);
	snprintf(scratch, sizeof(scratch), "%s/scratch", top);
	snprintf(log, sizeof(log), "%s/child.log", top);
	assert_int_equal(mkdir(scratch, 0700), 0);
	if (getuid() == 0)
		assert_int_equal(chown(scratch, pw->pw_uid, pw->pw_gid), 0);
	assert_int_equal(pipe(pfd), 0);
	if ((pid = fork()) == 0) {
		struct sandbox_opts o = { .flags = SANDBOX_SCRATCH | SANDBOX_LOCALTIME,
		    .sock_fd = -1 };
		int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (lfd < 0 || dup2(lfd, STDERR_FILENO) < 0)
			_exit(126);
		close(lfd);
		close(pfd[0]);
		child_drop();
		/* dumpable again, as after the exec of a worker (the uid
		 * change cleared it; /proc/self/uid_map would be root's) */
		if (mountns && (setenv("AMPSCAN_TEST_NO_LANDLOCK", "1", 1) != 0 ||
		    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0))
			_exit(123);
		if ((o.scratch_fd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		    fchdir(o.scratch_fd) != 0)
			_exit(125);
		if (sandbox_enter_opts(&o, err, sizeof(err)) != 0) {
			snprintf(got, sizeof(got), "sandbox: %s", err);
		} else {
			scratch_try(o.scratch_fd, got, sizeof(got));
		}
		if (write(pfd[1], got, strlen(got)) < 0)
			_exit(124);
		_exit(0);
	}
	close(pfd[1]);
	n = read(pfd[0], got, sizeof(got) - 1);
	close(pfd[0]);
	got[n > 0 ? n : 0] = '\0';
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_string_equal(got, expect);
	assert_false(tu_exists(tu_path(top, "escape")));
	assert_false(tu_exists(tu_path(top, "fdescape")));
	if (mountns) {
		/* "..": the root itself, which is the scratch directory */
		assert_true(tu_exists(tu_path(scratch, "escape")));
		assert_true(tu_exists(tu_path(scratch, "fdescape")));
	}
#ifdef AMPSCAN_TEST_HOOKS
	/* the refused chmod 0755, fchmod and socket, each logged */
	assert_int_equal(worker_refused(log, 3), 3);
#endif
	tu_rmtree(top);
	free(top);
}

static void
test_sandbox_scratch_variant(void **state)
{
	(void)state;
	if (g_unreachable)
		skip();
	if (sandbox_landlock_abi() < 0)
		skip();   /* no Landlock: see the mount-namespace variant */
	scratch_variant(false, SCRATCH_EXPECT);
}

/*
 * Without Landlock (test builds: AMPSCAN_TEST_NO_LANDLOCK=1): the same in
 * a private mount namespace whose root is the scratch directory.
 */
static void
test_sandbox_scratch_variant_mount_ns(void **state)
{
	(void)state;
#ifdef AMPSCAN_TEST_HOOKS
	if (g_unreachable || !userns_available())
		skip();
	scratch_variant(true, SCRATCH_EXPECT_NS);
#else
	skip();   /* the knob exists in test builds only */
#endif
}

static void
test_worker_exits_on_malformed_message(void **state)
{
	struct wproto_ready m;
	struct worker w;
	int st;

	(void)state;
	worker_start(&w);
	worker_ready(&w, &m);
	assert_int_equal(send(w.sock, "garbage", 7, 0), 7);
	st = worker_wait(&w);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	close(w.sock);
}

static void
test_worker_crash_marker_kills_it(void **state)
{
	static struct wbuf b;
	struct wproto_scan req = { .id = 1 };
	struct wproto_ready m;
	struct worker w;
	int fd, st;

	(void)state;
#ifndef AMPSCAN_TEST_HOOKS
	skip();   /* the crash marker exists in test builds only */
#endif
	tu_write_str(tu_path(g_dir, "crash.bin"), "xx AMPSCAN-TEST-CRASH-MARKER xx");
	worker_start(&w);
	worker_ready(&w, &m);
	fd = open(tu_path(g_dir, "crash.bin"), O_RDONLY);
	snprintf(req.name, sizeof(req.name), "crash.bin");
	assert_int_equal(wproto_encode_scan(&b, &req), 0);
	assert_int_equal(wproto_send(w.sock, &b, fd), 0);
	close(fd);
	st = worker_wait(&w);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
	close(w.sock);
	assert_int_equal(worker_refused(w.log, 0), 0);
}

static void
test_worker_hang_marker_hangs_it(void **state)
{
	static struct wbuf b;
	struct wproto_scan req = { .id = 2 };
	struct wproto_ready m;
	struct worker w;
	struct pollfd pfd;
	int fd, st;

	(void)state;
#ifndef AMPSCAN_TEST_HOOKS
	skip();   /* the hang marker exists in test builds only */
#endif
	tu_write_str(tu_path(g_dir, "hang.bin"), "xx AMPSCAN-TEST-HANG-MARKER xx");
	worker_start(&w);
	worker_ready(&w, &m);
	fd = open(tu_path(g_dir, "hang.bin"), O_RDONLY);
	snprintf(req.name, sizeof(req.name), "hang.bin");
	assert_int_equal(wproto_encode_scan(&b, &req), 0);
	assert_int_equal(wproto_send(w.sock, &b, fd), 0);
	close(fd);
	/* no reply within a second, and still alive: only a kill ends it */
	pfd.fd = w.sock;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 1000), 0);
	assert_int_equal(waitpid(w.pid, &st, WNOHANG), 0);
	kill(w.pid, SIGKILL);
	assert_int_equal(waitpid(w.pid, &st, 0), w.pid);
	assert_true(WIFSIGNALED(st));
	close(w.sock);
	assert_int_equal(worker_refused(w.log, 0), 0);
}

static void
test_worker_refuses_root_without_allow_root(void **state)
{
	char cmd[8192 + 64];

	(void)state;
	if (getuid() != 0)
		skip();
	snprintf(cmd, sizeof(cmd), "%s --worker --defs %s/defs 3</dev/null 2>/dev/null",
	    g_svc, g_dir);
	assert_int_equal(tu_sh("%s", cmd), 2);
}

/* RESULT carries the read confirmation; unknown rflags are malformed. */
static void
test_wproto_result_read_bytes(void **state)
{
	static struct wbuf b;
	static struct wproto_result m, got;
	struct buf r;
	uint16_t type;
	uint64_t id;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.id = 7;
	m.verdict = WPROTO_CLEAN;
	m.rflags = WPROTO_RES_WHOLE;
	m.read_bytes = 0x123456789ull;
	assert_int_equal(wproto_encode_result(&b, &m), 0);
	assert_int_equal(wproto_open(b.data, b.b.len, &type, &id, &r), 0);
	assert_int_equal(wproto_decode_result(&r, id, &got), 0);
	assert_int_equal(got.rflags, WPROTO_RES_WHOLE);
	assert_int_equal(got.read_bytes, 0x123456789ull);
	m.rflags = 0x2;
	assert_int_equal(wproto_encode_result(&b, &m), 0);
	assert_int_equal(wproto_open(b.data, b.b.len, &type, &id, &r), 0);
	assert_int_equal(wproto_decode_result(&r, id, &got), -EPROTO);
}

/* COLLAPSED round-trips; an unknown state, or more huge than eligible,
 * is malformed; COLLAPSE has no body. */
static void
test_wproto_collapsed(void **state)
{
	static struct wbuf b;
	static struct wproto_collapsed m, got;
	struct buf r;
	uint16_t type;
	uint64_t id;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.state = WPROTO_HP_DONE;
	m.huge_bytes = 30ull << 20;
	m.eligible_bytes = 32ull << 20;
	m.chunks_failed = 1;
	m.collapse_ms = 53;
	snprintf(m.line, sizeof(m.line), "30 MiB of 32 MiB");
	assert_int_equal(wproto_encode_collapsed(&b, 9, &m), 0);
	assert_int_equal(wproto_open(b.data, b.b.len, &type, &id, &r), 0);
	assert_int_equal(type, WPROTO_COLLAPSED);
	assert_int_equal(id, 9);
	assert_int_equal(wproto_decode_collapsed(&r, &got), 0);
	assert_int_equal(got.huge_bytes, 30ull << 20);
	assert_int_equal(got.eligible_bytes, 32ull << 20);
	assert_int_equal(got.chunks_failed, 1);
	assert_int_equal(got.collapse_ms, 53);
	assert_string_equal(got.line, "30 MiB of 32 MiB");
	m.state = WPROTO_HP_MAX + 1;
	assert_int_equal(wproto_encode_collapsed(&b, 9, &m), 0);
	assert_int_equal(wproto_open(b.data, b.b.len, &type, &id, &r), 0);
	assert_int_equal(wproto_decode_collapsed(&r, &got), -EPROTO);
	m.state = WPROTO_HP_DONE;
	m.huge_bytes = m.eligible_bytes + 1;
	assert_int_equal(wproto_encode_collapsed(&b, 9, &m), 0);
	assert_int_equal(wproto_open(b.data, b.b.len, &type, &id, &r), 0);
	assert_int_equal(wproto_decode_collapsed(&r, &got), -EPROTO);
	assert_int_equal(wproto_encode_collapse(&b, 4), 0);
	assert_int_equal(wproto_open(b.data, b.b.len, &type, &id, &r), 0);
	assert_int_equal(type, WPROTO_COLLAPSE);
	assert_int_equal(b.b.len, WPROTO_HDR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wproto_collapsed),
		cmocka_unit_test(test_wproto_result_read_bytes),
		cmocka_unit_test(test_worker_ready_reports_definitions),
		cmocka_unit_test(test_worker_scans_passed_descriptors),
		cmocka_unit_test(test_worker_sandbox_seen_from_outside),
		cmocka_unit_test(test_worker_probe_cannot_open_socket_or_exec),
		cmocka_unit_test(test_worker_without_landlock_in_mount_ns),
		cmocka_unit_test(test_worker_refuses_to_run_unconfined),
		cmocka_unit_test(test_clamav_worker_without_landlock),
		cmocka_unit_test(test_sandbox_scratch_variant),
		cmocka_unit_test(test_sandbox_scratch_variant_mount_ns),
		cmocka_unit_test(test_worker_exits_on_malformed_message),
		cmocka_unit_test(test_worker_crash_marker_kills_it),
		cmocka_unit_test(test_worker_hang_marker_hangs_it),
		cmocka_unit_test(test_worker_refuses_root_without_allow_root),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup_defs, teardown_defs);
}
