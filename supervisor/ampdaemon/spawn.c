/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Starting a scan worker with its privilege dropped (see spawn.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdio.h"
#include "spawn.h"

#define SPAWN_CHILD_FDS_MAX (5 + SPAWN_EXTRA_FDS_MAX)
#define SPAWN_RLIMITS_MAX 5
#define SPAWN_CAP_MAX 64            /* capability numbers probed */
#define SPAWN_CLOSE_FALLBACK_MAX (1 << 20)

/* What a failing child reports: step, errno, one argument. */
enum spawn_step {
	STEP_SIGNALS = 1,
	STEP_SETSID,
	STEP_FDS,
	STEP_RLIMIT,
	STEP_OOM,
	STEP_CAPBSET,
	STEP_SETGROUPS,
	STEP_SETRESGID,
	STEP_SETRESUID,
	STEP_AMBIENT,
	STEP_SECUREBITS,
	STEP_CAPSET,
	STEP_VERIFY_UID,
	STEP_VERIFY_GID,
	STEP_VERIFY_GROUPS,
	STEP_VERIFY_CAPS,
	STEP_VERIFY_SETUID0,
	STEP_VERIFY_SETGID0,
	STEP_PDEATHSIG,
	STEP_PARENT,
	STEP_NNP,
	STEP_EXEC,
	STEP_END
};

struct spawn_limit {
	int resource;
	rlim_t value;
};

/*
 * Passed on from our environment when set: the sanitizers' options, and
 * in test builds only the workers' sandbox knobs (a release build never
 * passes them, and its ampscansvc does not read them).
 */
static const char *const spawn_pass[] = { "ASAN_OPTIONS=", "UBSAN_OPTIONS=",
	"LSAN_OPTIONS=",
#ifdef AMPSCAN_TEST_HOOKS
	"AMPSCAN_TEST_NO_LANDLOCK=", "AMPSCAN_TEST_NO_USERNS=",
	"AMPSCAN_TEST_LOADER_BALLAST_MB=",
#endif
};
#define SPAWN_PASS_N (sizeof(spawn_pass) / sizeof(spawn_pass[0]))

/* Everything the child needs, prepared before fork. */
struct spawn_plan {
	char *const *argv;
	char *envp[1 + SPAWN_PASS_N + SPAWN_ENV_MAX + 1];
	int fds[5 + SPAWN_EXTRA_FDS_MAX];
	int nfds;
	int status_fd;
	struct spawn_limit lim[SPAWN_RLIMITS_MAX];
	int nlim;
	bool as_root;
	bool as_self;
	uid_t uid;
	gid_t gid;
	pid_t parent;
	char oom[16];            /* oom_score_adj to write, "" none */
	size_t oomlen;
};

const char *
spawn_strerror(int code)
{
	switch (code) {
	case SPAWN_OK: return "success";
	case SPAWN_ERR_ARGS: return "bad spawn request";
	case SPAWN_ERR_SYS: return "system call failed in the supervisor";
	case SPAWN_ERR_CHILD: return "the worker failed before exec";
	}
	return "unknown spawn error";
}

/* ---- in the child: async-signal-safe only ---- */

int
spawn_child_reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	/* 32 and 33 belong to libc and fail with EINVAL: ignored */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	return sigprocmask(SIG_SETMASK, &none, NULL);
}

static int
close_range_keep(unsigned lo, unsigned hi)
{
	struct rlimit rl;
	unsigned max;

	if (lo > hi)
		return 0;
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	/* kernels before 5.9: close one by one up to the fd limit */
	max = SPAWN_CLOSE_FALLBACK_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < max)
		max = (unsigned)rl.rlim_max;
	for (unsigned fd = lo; fd <= hi && fd < max; fd++)
		(void)close((int)fd);
	return 0;
}

int
spawn_child_fds(const int *fds, int n, int *keep, int *bad)
{
	int hi[SPAWN_CHILD_FDS_MAX];
	int k = -1, low = n > SPAWN_FD_HIGH ? n : SPAWN_FD_HIGH;

	if (n < 0 || n > SPAWN_CHILD_FDS_MAX) {
		*bad = n;
		errno = EINVAL;
		return -1;
	}
	/* park everything above the targets first, so no move clobbers a
	 * source that happens to sit on a target number */
	if (*keep >= 0) {
		if ((k = fcntl(*keep, F_DUPFD_CLOEXEC, low)) < 0) {
			*bad = *keep;
			return -1;
		}
		*keep = k;     /* the original goes in the close below */
	}
	for (int i = 0; i < n; i++) {
		if ((hi[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, low)) < 0) {
			*bad = fds[i];
			return -1;
		}
	}
	for (int i = 0; i < n; i++) {
		if (dup2(hi[i], i) < 0) {        /* clears FD_CLOEXEC */
			*bad = i;
			return -1;
		}
	}
	if (k >= 0) {
		if (close_range_keep((unsigned)n, (unsigned)k - 1) != 0 ||
		    close_range_keep((unsigned)k + 1, UINT_MAX) != 0) {
			*bad = n;
			return -1;
		}
	} else if (close_range_keep((unsigned)n, UINT_MAX) != 0) {
		*bad = n;
		return -1;
	}
	return 0;
}

static _Noreturn void
child_fail(int fd, int step, int err, long long arg)
{
	int64_t rec[3] = { step, err, arg };
	ssize_t r;

	do
		r = write(fd, rec, sizeof(rec));
	while (r < 0 && errno == EINTR);
	_exit(127);
}

static int
caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return (int)syscall(SYS_capget, &h, d);
}

static int
caps_clear(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { { 0, 0, 0 }, { 0, 0, 0 } };

	return (int)syscall(SYS_capset, &h, d);
}

/* Empty the bounding set; -1 with *cap at the one that would not go. */
static int
capbset_drop(int *cap)
{
	for (int c = 0; c < SPAWN_CAP_MAX; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);

		if (r < 0)
			break;                 /* EINVAL past the last one */
		if (r == 1 && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
			*cap = c;
			return -1;
		}
	}
	return 0;
}

static bool
caps_all_gone(bool check_bounding)
{
	struct __user_cap_data_struct d[2];

	if (caps_get(d) != 0)
		return false;
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return false;
	for (int c = 0; check_bounding && c < SPAWN_CAP_MAX; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);

		if (r < 0)
			break;
		if (r != 0)
			return false;
	}
	return true;     /* ambient is a subset of permitted: empty too */
}

static void
child_ids(const struct spawn_plan *p, int st)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	int ng;

	/* raw calls: libc's wrappers would try to sync other threads */
	if (!p->as_self && syscall(SYS_setgroups, 0, NULL) != 0)
		child_fail(st, STEP_SETGROUPS, errno, 0);
	if (!p->as_self && syscall(SYS_setresgid, p->gid, p->gid, p->gid) != 0)
		child_fail(st, STEP_SETRESGID, errno, p->gid);
	if (!p->as_self && syscall(SYS_setresuid, p->uid, p->uid, p->uid) != 0)
		child_fail(st, STEP_SETRESUID, errno, p->uid);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
		child_fail(st, STEP_AMBIENT, errno, 0);
	if (p->as_root && prctl(PR_SET_SECUREBITS, SECBIT_NOROOT |
	    SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
	    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
	    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
	    0, 0, 0) != 0)
		child_fail(st, STEP_SECUREBITS, errno, 0);
	if (caps_clear() != 0)
		child_fail(st, STEP_CAPSET, errno, 0);

	if (getresuid(&r, &e, &s) != 0)
		child_fail(st, STEP_VERIFY_UID, errno, 0);
	if (r != p->uid || e != p->uid || s != p->uid)
		child_fail(st, STEP_VERIFY_UID, 0, r != p->uid ? r : e != p->uid ? e : s);
	if (getresgid(&rg, &eg, &sg) != 0)
		child_fail(st, STEP_VERIFY_GID, errno, 0);
	if (rg != p->gid || eg != p->gid || sg != p->gid)
		child_fail(st, STEP_VERIFY_GID, 0, rg != p->gid ? rg : eg != p->gid ? eg : sg);
	/* as_self keeps the (unprivileged) caller's groups: it cannot drop them */
	if (!p->as_self && (ng = getgroups(0, NULL)) != 0)
		child_fail(st, STEP_VERIFY_GROUPS, ng < 0 ? errno : 0, ng);
	if (!caps_all_gone(!p->as_self))   /* as_self: no_new_privs holds it */
		child_fail(st, STEP_VERIFY_CAPS, 0, 0);
	if (!p->as_root) {
		if (syscall(SYS_setuid, 0) == 0)
			child_fail(st, STEP_VERIFY_SETUID0, 0, p->uid);
		if (syscall(SYS_setgid, 0) == 0)
			child_fail(st, STEP_VERIFY_SETGID0, 0, p->gid);
	}
}

/* /proc/self/oom_score_adj = p->oom; 0 or -1 + errno. */
static int
child_oom(const struct spawn_plan *p)
{
	int fd = open(SPAWN_OOM_PATH, O_WRONLY | O_CLOEXEC), e;
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, p->oom, p->oomlen);
	e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)p->oomlen ? 0 : -1;
}

static _Noreturn void
child_run(const struct spawn_plan *p)
{
	int st = p->status_fd;
	int bad = -1, cap = -1;

	if (spawn_child_reset_signals() != 0)
		child_fail(st, STEP_SIGNALS, errno, 0);
	if (setsid() < 0)
		child_fail(st, STEP_SETSID, errno, 0);
	if (spawn_child_fds(p->fds, p->nfds, &st, &bad) != 0)
		child_fail(st, STEP_FDS, errno, bad);
	for (int i = 0; i < p->nlim; i++) {
		struct rlimit rl = { p->lim[i].value, p->lim[i].value };

		if (setrlimit(p->lim[i].resource, &rl) != 0)
			child_fail(st, STEP_RLIMIT, errno, i);
	}
	/* raised before the uid change (the file is ours while we are root
	 * and dumpable); raising needs no capability */
	if (p->oomlen > 0 && child_oom(p) != 0)
		child_fail(st, STEP_OOM, errno, 0);
	if (!p->as_self && capbset_drop(&cap) != 0)   /* needs CAP_SETPCAP */
		child_fail(st, STEP_CAPBSET, errno, cap);
	child_ids(p, st);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
		child_fail(st, STEP_PDEATHSIG, errno, 0);
	if (getppid() != p->parent)
		child_fail(st, STEP_PARENT, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		child_fail(st, STEP_NNP, errno, 0);
	execve(p->argv[0], p->argv, p->envp);
	child_fail(st, STEP_EXEC, errno, 0);
}

/* ---- in the parent ---- */

static const char *
rlimit_name(int resource)
{
	switch (resource) {
	case RLIMIT_CORE: return "RLIMIT_CORE";
	case RLIMIT_NOFILE: return "RLIMIT_NOFILE";
	case RLIMIT_AS: return "RLIMIT_AS";
	case RLIMIT_CPU: return "RLIMIT_CPU";
	case RLIMIT_FSIZE: return "RLIMIT_FSIZE";
	}
	return "rlimit";
}

static void
step_message(const struct spawn_plan *p, const int64_t rec[3], char *err,
    size_t errlen)
{
	const char *es = strerror((int)rec[1]);
	long long arg = rec[2];

	switch (rec[0]) {
	case STEP_SIGNALS: snprintf(err, errlen, "reset signals: %s", es); break;
	case STEP_SETSID: snprintf(err, errlen, "setsid: %s", es); break;
	case STEP_FDS: snprintf(err, errlen, "install fds (fd %lld): %s", arg, es); break;
	case STEP_RLIMIT:
		if (arg >= 0 && arg < p->nlim)
			snprintf(err, errlen, "setrlimit %s %llu: %s",
			    rlimit_name(p->lim[arg].resource),
			    (unsigned long long)p->lim[arg].value, es);
		else
			snprintf(err, errlen, "setrlimit: %s", es);
		break;
	case STEP_CAPBSET: snprintf(err, errlen, "drop capability %lld from the bounding set: %s", arg, es); break;
	case STEP_SETGROUPS: snprintf(err, errlen, "setgroups(0): %s", es); break;
	case STEP_SETRESGID: snprintf(err, errlen, "setresgid(%lld): %s", arg, es); break;
	case STEP_SETRESUID: snprintf(err, errlen, "setresuid(%lld): %s", arg, es); break;
	case STEP_AMBIENT: snprintf(err, errlen, "clear ambient capabilities: %s", es); break;
	case STEP_SECUREBITS: snprintf(err, errlen, "set securebits (SECBIT_NOROOT, locked): %s", es); break;
	case STEP_CAPSET: snprintf(err, errlen, "capset (drop every capability): %s", es); break;
	case STEP_VERIFY_UID:
		if (rec[1] != 0)
			snprintf(err, errlen, "verify: getresuid: %s", es);
		else
			snprintf(err, errlen, "verify: getresuid gives uid %lld, want %u", arg, (unsigned)p->uid);
		break;
	case STEP_VERIFY_GID:
		if (rec[1] != 0)
			snprintf(err, errlen, "verify: getresgid: %s", es);
		else
			snprintf(err, errlen, "verify: getresgid gives gid %lld, want %u", arg, (unsigned)p->gid);
		break;
	case STEP_VERIFY_GROUPS: snprintf(err, errlen, "verify: %lld supplementary groups left after setgroups(0)", arg); break;
	case STEP_VERIFY_CAPS: snprintf(err, errlen, "verify: capabilities left after dropping them all"); break;
	case STEP_VERIFY_SETUID0: snprintf(err, errlen, "verify: setuid(0) succeeded after dropping to uid %lld", arg); break;
	case STEP_VERIFY_SETGID0: snprintf(err, errlen, "verify: setgid(0) succeeded after dropping to gid %lld", arg); break;
	case STEP_OOM: snprintf(err, errlen, "%s = %s: %s", SPAWN_OOM_PATH, p->oom, es); break;
	case STEP_PDEATHSIG: snprintf(err, errlen, "prctl(PR_SET_PDEATHSIG): %s", es); break;
	case STEP_PARENT: snprintf(err, errlen, "the supervisor died before the worker could exec"); break;
	case STEP_NNP: snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", es); break;
	case STEP_EXEC: snprintf(err, errlen, "execve %s: %s", p->argv[0], es); break;
	default: snprintf(err, errlen, "the child reported an unknown step %lld", (long long)rec[0]); break;
	}
}

static bool
fd_is_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

/* Checks req and fills everything of the plan but the fds; 0 or -1. */
static int
plan_prepare(const struct spawn_req *req, struct spawn_plan *p, char *err,
    size_t errlen)
{
	size_t argc = 0, ne = 0;
	struct rlimit core, nf;
	rlim_t nofile;

	if (req->argv == NULL || req->argv[0] == NULL || req->argv[0][0] != '/') {
		snprintf(err, errlen, "spawn: argv[0] must be an absolute path");
		return -1;
	}
	while (req->argv[argc] != NULL)
		if (++argc > SPAWN_ARGV_MAX) {
			snprintf(err, errlen, "spawn: more than %d arguments", SPAWN_ARGV_MAX);
			return -1;
		}
	if (req->as_self && (req->as_root || geteuid() == 0)) {
		snprintf(err, errlen, "spawn: as_self is for an unprivileged caller only");
		return -1;
	}
	if (!req->as_root && !req->as_self && (req->uid == 0 || req->gid == 0)) {
		snprintf(err, errlen, "spawn: uid %u, gid %u: running as root (or group 0) is only the degraded mode (as_root)",
		    (unsigned)req->uid, (unsigned)req->gid);
		return -1;
	}
	if (!fd_is_open(req->sock_fd)) {
		snprintf(err, errlen, "spawn: socket fd %d is not open", req->sock_fd);
		return -1;
	}
	if (req->index_fd != -1 && !fd_is_open(req->index_fd)) {
		snprintf(err, errlen, "spawn: index fd %d is not open", req->index_fd);
		return -1;
	}
	if (req->nextra_fds > SPAWN_EXTRA_FDS_MAX ||
	    (req->nextra_fds > 0 && req->index_fd < 0)) {
		snprintf(err, errlen, "spawn: %zu extra fds (at most %d, and only after an index fd)",
		    req->nextra_fds, SPAWN_EXTRA_FDS_MAX);
		return -1;
	}
	for (size_t i = 0; i < req->nextra_fds; i++)
		if (!fd_is_open(req->extra_fds[i])) {
			snprintf(err, errlen, "spawn: fd %d is not open", req->extra_fds[i]);
			return -1;
		}
	p->argv = req->argv;
	p->as_root = req->as_root;
	p->as_self = req->as_self;
	p->uid = req->as_root ? 0 : req->as_self ? getuid() : req->uid;
	p->gid = req->as_root ? 0 : req->as_self ? getgid() : req->gid;
	p->parent = getpid();
	p->oomlen = 0;
	if (req->oom_score_adj != 0) {
		if (req->oom_score_adj < SPAWN_OOM_MIN || req->oom_score_adj > SPAWN_OOM_MAX) {
			snprintf(err, errlen, "spawn: oom_score_adj %d out of range", req->oom_score_adj);
			return -1;
		}
		p->oomlen = (size_t)snprintf(p->oom, sizeof(p->oom), "%d", req->oom_score_adj);
	}

	p->envp[ne++] = SPAWN_PATH_ENV;
	for (size_t i = 0; i < SPAWN_PASS_N; i++)
		for (char **e = environ; e != NULL && *e != NULL; e++)
			if (strncmp(*e, spawn_pass[i], strlen(spawn_pass[i])) == 0) {
				p->envp[ne++] = *e;
				break;
			}
	for (size_t i = 0; req->env != NULL && req->env[i] != NULL; i++) {
		if (i >= SPAWN_ENV_MAX || strchr(req->env[i], '=') == NULL) {
			snprintf(err, errlen, "spawn: env entry %zu: more than %d or not NAME=value",
			    i, SPAWN_ENV_MAX);
			return -1;
		}
		p->envp[ne++] = req->env[i];
	}
	p->envp[ne] = NULL;

	if (getrlimit(RLIMIT_CORE, &core) != 0)
		core.rlim_max = 0;
	p->nlim = 0;
	p->lim[p->nlim++] = (struct spawn_limit){ RLIMIT_CORE,
		req->core_dumps ? core.rlim_max : 0 };
	nofile = req->nofile != 0 ? req->nofile : SPAWN_NOFILE_DEFAULT;
	/* the default never above our own hard limit: raising it needs
	 * CAP_SYS_RESOURCE, which a daemon under a LimitNOFILE may not have
	 * (an explicit req->nofile is applied as asked, or the spawn fails) */
	if (req->nofile == 0 && getrlimit(RLIMIT_NOFILE, &nf) == 0 &&
	    nf.rlim_max < nofile)
		nofile = nf.rlim_max;
	p->lim[p->nlim++] = (struct spawn_limit){ RLIMIT_NOFILE, nofile };
	if (req->as_bytes != 0)
		p->lim[p->nlim++] = (struct spawn_limit){ RLIMIT_AS, req->as_bytes };
	if (req->cpu_seconds != 0)
		p->lim[p->nlim++] = (struct spawn_limit){ RLIMIT_CPU, req->cpu_seconds };
	if (req->fsize_bytes > 0)
		p->lim[p->nlim++] = (struct spawn_limit){ RLIMIT_FSIZE, req->fsize_bytes };
	return 0;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		int e = errno;

		close(*fd);
		errno = e;
		*fd = -1;
	}
}

static void
reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Waits for EOF (exec'd) or the child's record; 0, 1 (record), -1. */
static int
read_status(int fd, int64_t rec[3])
{
	ssize_t got = fd_read_full(fd, rec, 3 * sizeof(rec[0]));

	if (got <= 0)
		return (int)got;
	if ((size_t)got != 3 * sizeof(rec[0])) {
		errno = EPROTO;
		return -1;
	}
	return 1;
}

int
spawn_worker(const struct spawn_req *req, struct spawn_result *res,
    char *err, size_t errlen)
{
	struct spawn_plan plan;
	int logp[2] = { -1, -1 }, stp[2] = { -1, -1 }, null = -1;
	sigset_t all, old;
	int64_t rec[3];
	int rc = SPAWN_ERR_SYS, r;
	pid_t pid;

	res->pid = -1;
	res->log_fd = -1;
	if (errlen > 0)
		err[0] = '\0';
	memset(&plan, 0, sizeof(plan));
	if (plan_prepare(req, &plan, err, errlen) != 0)
		return SPAWN_ERR_ARGS;

	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "spawn: /dev/null: %s", strerror(errno));
		goto out;
	}
	if (pipe2(logp, O_CLOEXEC) != 0 || pipe2(stp, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "spawn: pipe: %s", strerror(errno));
		goto out;
	}
	plan.fds[0] = null;
	plan.fds[1] = logp[1];
	plan.fds[2] = logp[1];
	plan.fds[3] = req->sock_fd;
	plan.nfds = 4;
	if (req->index_fd >= 0)
		plan.fds[plan.nfds++] = req->index_fd;
	for (size_t i = 0; i < req->nextra_fds; i++)
		plan.fds[plan.nfds++] = req->extra_fds[i];
	plan.status_fd = stp[1];

	/* no handler of ours may run in the child before it resets them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_run(&plan);
	r = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		errno = r;
		snprintf(err, errlen, "spawn: fork: %s", strerror(errno));
		goto out;
	}
	close_fd(&stp[1]);
	close_fd(&logp[1]);
	close_fd(&null);

	if ((r = read_status(stp[0], rec)) != 0) {
		if (r < 0) {
			snprintf(err, errlen, "spawn: reading the exec status of pid %d: %s",
			    (int)pid, strerror(errno));
			kill(pid, SIGKILL);
		} else {
			step_message(&plan, rec, err, errlen);
			rc = SPAWN_ERR_CHILD;
		}
		reap(pid);
		goto out;
	}
	(void)fcntl(logp[0], F_SETFL, O_NONBLOCK);   /* our own pipe: cannot fail */
	res->pid = pid;
	res->log_fd = logp[0];
	logp[0] = -1;
	rc = SPAWN_OK;
out:
	close_fd(&null);
	close_fd(&logp[0]);
	close_fd(&logp[1]);
	close_fd(&stp[0]);
	close_fd(&stp[1]);
	return rc;
}
