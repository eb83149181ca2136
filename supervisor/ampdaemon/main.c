/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampdaemon: the root supervisor.
 *
 * This file owns the process: arguments, the start-up sequence, the libev
 * default loop and its signal watchers, the single-instance lock, systemd
 * readiness, and the orderly stop.  The parts are listed in daemon.h.
 *
 * Start-up: configuration, state and log directories, lock, logs, events,
 * persisted faults, exit records and poison list, the control socket, the
 * definitions check (a child: re-verify active/, delete what is invalid,
 * make the index fresh), then the pool (which resolves the account before
 * each spawn), ready.  Stop (SIGTERM/SIGINT): stop accepting work, stop
 * the workers (TERM, KILL after a grace), flush state, exit 0.  SIGHUP
 * reopens the log files (logrotate).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "daemon.h"
#include "dirtrust.h"
#include "killpoint.h"
#include "num.h"
#include "store.h"

#ifndef AMPSCAN_VERSION
#define AMPSCAN_VERSION "0.0.0"
#endif

#define DAEMON_DEFAULT_CONFIG "/etc/ampscan/ampdaemon.conf"
#define DAEMON_PIDFILE "ampdaemon.pid"
#define DAEMON_DIR_MODE 0750
#define DAEMON_NOFILE_MAX 65536       /* descriptors asked for at start */


static const char daemon_usage[] =
"usage: ampdaemon [--foreground] [--config FILE] [--check-config]\n"
"\n"
"The ampscan supervisor: runs the scan workers, keeps the definitions\n"
"verified, serves the clamd protocol and reports faults.\n"
"\n"
"  --config FILE     configuration (default " DAEMON_DEFAULT_CONFIG ")\n"
"  --check-config    check the configuration, print the effective settings, exit\n"
"  --foreground      stay in the foreground and log to stderr too\n"
"  --version         print the version and exit\n"
"\n"
"Signals: TERM/INT stop cleanly, HUP reopens the log files.\n"
"Exit status: 0 stopped cleanly or configuration OK, 1 could not start\n"
"(the reason is on stderr and in the log), 2 usage error.\n";

static void daemon_die(struct daemon *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Start-up failures: say why (stderr and, once open, the log) and exit 1. */
static void
daemon_die(struct daemon *d, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d->log.fd >= 0)
		dlog(&d->log, DLOG_ERROR, "cannot start: %s", msg);
	if (d->log.fd < 0 || !d->log.to_stderr)
		fprintf(stderr, "ampdaemon: cannot start: %s\n", msg);
	exit(1);
}

static void
daemon_args(struct daemon *d, int argc, char **argv, bool *check_only)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "c:Fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': d->config_path = optarg; break;
		case 'C': *check_only = true; break;
		case 'F': d->foreground = true; break;
		case 'V': printf("ampdaemon %s\n", AMPSCAN_VERSION); exit(0);
		case 'h': fputs(daemon_usage, stdout); exit(0);
		default: fputs(daemon_usage, stderr); exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ampdaemon: unexpected argument '%s'\n%s",
		    argv[optind], daemon_usage);
		exit(2);
	}
}

static void
daemon_mkdir(struct daemon *d, const char *dir)
{
	struct stat st;
	char err[1024];

	if (mkdir(dir, DAEMON_DIR_MODE) != 0 && errno != EEXIST)
		daemon_die(d, "%s: %s", dir, strerror(errno));
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		daemon_die(d, "%s: not a directory", dir);
	if (dir_trusted(dir, err, sizeof(err)) != 0)
		daemon_die(d, "%s", err);
}

/* The single-instance lock: an flock on StateDir/ampdaemon.pid. */
static void
daemon_lock(struct daemon *d)
{
	char path[4096], buf[32] = "";
	ssize_t n;
	int len;

	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, DAEMON_PIDFILE);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (d->lock_fd < 0)
		daemon_die(d, "%s: %s", path, strerror(errno));
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		n = pread(d->lock_fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		daemon_die(d, "another ampdaemon is running (pid %s, lock %s)",
		    buf[0] ? buf : "unknown", path);
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(d->lock_fd, 0) != 0 ||
	    pwrite(d->lock_fd, buf, (size_t)len, 0) != len)
		daemon_die(d, "%s: %s", path, strerror(errno));
}

/* systemd Type=notify: a datagram to $NOTIFY_SOCKET, if set. */
static void
daemon_notify(struct daemon *d, const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';   /* abstract namespace */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		dlog(&d->log, DLOG_WARNING, "NOTIFY_SOCKET %s: %s", path,
		    strerror(errno));
	close(fd);
}

static void
daemon_on_stopped(struct daemon *d)
{
	dlog(&d->log, DLOG_INFO, "workers stopped");
	ev_break(d->loop, EVBREAK_ALL);
}

static void
daemon_on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	if (d->stopping)
		return;
	dlog(&d->log, DLOG_INFO, "signal %d: stopping", w->signum);
	daemon_notify(d, "STOPPING=1");
	d->stopping = true;
	ctl_stop_accepting(d);
	scansock_stop_accepting(d);
	pool_drain(d, "ampdaemon is stopping");
	pool_stop(d, daemon_on_stopped);
}

static void
daemon_on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	if (dlog_reopen(&d->log) != 0)
		dlog(&d->log, DLOG_ERROR, "SIGHUP: cannot reopen %s: %s",
		    d->log.path, strerror(errno));
	else if (dlog_reopen(&d->svclog) != 0)
		dlog(&d->log, DLOG_ERROR, "SIGHUP: cannot reopen %s: %s",
		    d->svclog.path, strerror(errno));
	else
		dlog(&d->log, DLOG_INFO, "SIGHUP: logs reopened");
}

static void
daemon_signals(struct daemon *d)
{
	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&d->sig_term, daemon_on_stop, SIGTERM);
	ev_signal_init(&d->sig_int, daemon_on_stop, SIGINT);
	ev_signal_init(&d->sig_hup, daemon_on_hup, SIGHUP);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	ev_signal_start(d->loop, &d->sig_term);
	ev_signal_start(d->loop, &d->sig_int);
	ev_signal_start(d->loop, &d->sig_hup);
}

/* The worker binary: ampscansvc beside ampdaemon (both in sbin, or both
 * in the build tree). */
static void
daemon_find_scansvc(struct daemon *d)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		daemon_die(d, "/proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	str_fmt(d->scansvc, sizeof(d->scansvc), "%s/ampscansvc", self);
	if (access(d->scansvc, X_OK) != 0)
		dlog(&d->log, DLOG_ERROR, "%s: %s (workers cannot start)", d->scansvc,
		    strerror(errno));
}

/*
 * Fault 3: ampdaemon opens the files it scans; without root (or
 * CAP_DAC_READ_SEARCH) it can open only what its own user may read.
 */
static void
daemon_check_privilege(struct daemon *d)
{
	char line[256], detail[FAULTS_DETAIL_MAX];
	uint64_t eff = 0;
	bool have = geteuid() == 0;
	FILE *f;

	if (!have && (f = fopen("/proc/self/status", "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "CapEff:", 7) == 0) {
				const char *h = line + 7 + strspn(line + 7, " \t");

				if (num_hex_u64(h, strcspn(h, "\n"), &eff) != NUM_OK)
					eff = 0;
			}
		fclose(f);
		have = (eff & (1ull << 2)) != 0;   /* CAP_DAC_READ_SEARCH */
	}
	if (have) {
		fault_clear(&d->faults, FAULT_FULL_DISK_ACCESS,
		    "ampdaemon can open every file", walltime_now_ms());
		return;
	}
	str_fmt(detail, sizeof(detail), "ampdaemon runs as uid %u without CAP_DAC_READ_SEARCH: it can scan only the files that uid may read",
	    (unsigned)geteuid());
	fault_raise(&d->faults, FAULT_FULL_DISK_ACCESS, detail, getpid(),
	    walltime_now_ms());
}

/*
 * Descriptors: every connection, worker and file in flight holds some;
 * the usual soft limit (1024) is below the scan socket's 1024 connections,
 * so raise it to the hard limit (at most DAEMON_NOFILE_MAX).
 */
static void
daemon_raise_nofile(struct daemon *d)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	want = rl.rlim_max < DAEMON_NOFILE_MAX ? rl.rlim_max : DAEMON_NOFILE_MAX;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		dlog(&d->log, DLOG_WARNING, "RLIMIT_NOFILE: %s", strerror(errno));
}

static void
daemon_start(struct daemon *d)
{
	char err[1024];
	int rc;

	d->started_ms = walltime_now_ms();
	daemon_mkdir(d, d->cfg.state_dir);
	daemon_mkdir(d, d->cfg.log_dir);
	if (dlog_open(&d->log, d->cfg.log_dir, d->foreground, err, sizeof(err)) != 0)
		daemon_die(d, "log: %s", err);
	daemon_lock(d);
	dlog(&d->log, DLOG_INFO, "ampdaemon %s starting (pid %d, configuration %s)",
	    AMPSCAN_VERSION, (int)getpid(), d->config_path);
	if (dlog_open_named(&d->svclog, d->cfg.log_dir, DLOG_WORKERS_NAME, false,
	    err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_ERROR, "%s (worker output goes to this log only)", err);
	if (events_open(&d->events, d->cfg.state_dir, err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_ERROR, "events: %s (events are queued)", err);
	d->events_open = true;
	if (exits_open(&d->exits, d->cfg.state_dir, err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_ERROR, "exit records: %s (appends retry)", err);
	d->exits_open = true;   /* usable either way: appends retry the open */
	faults_init(&d->faults, daemon_faults_emit, d);
	if (faults_load(&d->faults, d->cfg.state_dir, err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_WARNING, "faults.state: %s", err);
	if (faults_raised_count(&d->faults) > 0)
		dlog(&d->log, DLOG_WARNING, "%zu fault(s) still raised from before the restart; re-evaluating",
		    faults_raised_count(&d->faults));
	if (poison_load(&d->poison, d->cfg.state_dir, err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_WARNING, "%s", err);
	{
		struct event ev;

		events_begin(&ev, EVENT_DAEMON_STARTED, d->started_ms);
		events_add_int(&ev, "pid", getpid());
		events_add_str(&ev, "version", AMPSCAN_VERSION);
		daemon_event(d, &ev);
	}
	daemon_check_privilege(d);
	daemon_raise_nofile(d);
	daemon_find_scansvc(d);
	if ((d->loop = ev_default_loop(EVFLAG_AUTO)) == NULL)
		daemon_die(d, "libev: no usable event backend");
	daemon_signals(d);
	metrics_init(d);
	daemon_state_retry_init(d);
	if (pool_init(d, err, sizeof(err)) != 0)
		daemon_die(d, "%s", err);
	if (ctl_open(d, err, sizeof(err)) != 0)
		daemon_die(d, "control socket: %s", err);
	if (scansock_open(d, err, sizeof(err)) != 0) {
		ctl_close(d);   /* removes the control socket we made */
		daemon_die(d, "scan socket: %s", err);
	}
	update_init(d);
	rc = store_dirs_create(d->cfg.definitions_dir, err, sizeof(err));
	if (rc == STORE_ERR_UNSAFE) {
		scansock_close(d);
		ctl_close(d);
		daemon_die(d, "%s", err);
	}
	if (rc != 0)
		dlog(&d->log, DLOG_ERROR, "%s", err);   /* the check says it too */
	else if (incoming_init(d, err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_ERROR, "%s: files dropped into incoming/ are not noticed; use `ampctl update`",
		    err);
	if (rc == 0 && importdir_init(d, err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_ERROR, "ImportDirectory %s: %s: it is read at start and on RELOAD only",
		    d->cfg.import_directory, err);
	pool_on_defs_checked(d, update_defs_done);   /* updates wait for checks */
	pool_check_defs(d, false);
	pool_start(d);
}

static void
daemon_stop(struct daemon *d)
{
	char err[512], path[4096];

	/* ampscan_up 0: the service stopped; first, while ImportDirectory's
	 * and the updates' state is still there to report */
	metrics_write(d);
	importdir_free(d);
	incoming_free(d);
	update_free(d);   /* answers waiting ampctl clients: before ctl_close */
	metrics_stop(d);
	scansock_close(d);
	ctl_close(d);
	{
		struct event ev;

		events_begin(&ev, EVENT_DAEMON_STOPPED, walltime_now_ms());
		events_add_int(&ev, "pid", getpid());
		daemon_event(d, &ev);
	}
	daemon_state_retry_stop(d);
	if (faults_save(&d->faults, d->cfg.state_dir, err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_ERROR, "faults.state: %s", err);
	if (poison_save(&d->poison, d->cfg.state_dir, err, sizeof(err)) != 0)
		dlog(&d->log, DLOG_ERROR, "%s", err);
	poison_free(&d->poison);
	if (d->exits_open)
		exits_close(&d->exits);
	if (d->events_open)
		events_close(&d->events);
	daemon_faultcmd_flush(d);
	defs_free(d);
	task_release(&d->faultcmd_task);
	task_release(&d->pool.account_task);
	if (d->index_fd >= 0)
		close(d->index_fd);
	if (d->scratch_open)
		close(d->scratch_root);
	pool_free(d);
	dlog(&d->log, DLOG_INFO, "stopped");
	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, DAEMON_PIDFILE);
	unlink(path);
	close(d->lock_fd);
	dlog_close(&d->svclog);
	dlog_close(&d->log);
	config_free(&d->cfg);
}

/*
 * Without --foreground: fork, let the parent wait until the child is ready
 * (or failed: its exit status comes back), so the caller's exit status is
 * the truth about the start.
 */
static int
daemon_background(void)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
		perror("ampdaemon: fork");
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	return p[1];
}

int
main(int argc, char **argv)
{
	struct daemon *d = calloc(1, sizeof(*d));   /* large: the pool */
	bool check_only = false;
	char err[1024];
	int ready_fd = -1, nul, rc;

	if (d == NULL) {
		fputs("ampdaemon: out of memory\n", stderr);
		return 1;
	}
	d->config_path = DAEMON_DEFAULT_CONFIG;
	d->lock_fd = -1;
	d->log.fd = -1;
	d->svclog.fd = -1;
	d->index_fd = -1;
	d->inc.ino_fd = -1;
	killpoint_init(d);   /* test builds: SIGKILL at a numbered point */
	daemon_args(d, argc, argv, &check_only);
	if (config_load(d->config_path, &d->cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "ampdaemon: %s\n", err);
		free(d);
		return 1;
	}
	if (check_only) {
		printf("# configuration OK: %s\n", d->config_path);
		config_print(stdout, &d->cfg);
		config_free(&d->cfg);
		free(d);
		return 0;
	}
	if (!d->foreground)
		ready_fd = daemon_background();
	daemon_start(d);
	dlog(&d->log, DLOG_INFO, "ready");
	metrics_write(d);
	daemon_notify(d, "READY=1");
	if (ready_fd >= 0) {
		if (write(ready_fd, "r", 1) != 1 ||
		    (nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
			daemon_die(d, "cannot detach: %s", strerror(errno));
		close(ready_fd);
		dup2(nul, STDIN_FILENO);
		dup2(nul, STDOUT_FILENO);
		dup2(nul, STDERR_FILENO);
		close(nul);
	}
	ev_run(d->loop, 0);
	daemon_stop(d);
	rc = d->exit_code;
	free(d);
	return rc;
}
