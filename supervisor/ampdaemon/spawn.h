/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Starting a scan worker: fork, drop privilege in the child in the order of
 * docs/style.md ("Processes and privilege"), exec, and learn whether the exec
 * happened.
 *
 * The child, between fork and exec, calls only async-signal-safe functions
 * (raw system calls, no malloc, no stdio): everything it needs (argv, envp,
 * fds, limits, ids) is prepared by the parent before the fork.  In order:
 *
 *   1. every signal handler to SIG_DFL, then an empty signal mask (the
 *      parent blocks all signals around fork, so none of its handlers can
 *      run in the child);
 *   2. setsid: the worker has its own session and process group;
 *   3. fds: 0 = /dev/null, 1 and 2 = the log pipe (its read end is returned
 *      to the caller), 3 = req->sock_fd, 4 = req->index_fd if given, 5.. =
 *      req->extra_fds; every other fd is closed (close_range), except
 *      the close-on-exec status pipe;
 *   4. rlimits, soft = hard, so the worker cannot raise them again:
 *      RLIMIT_CORE 0 (or its hard limit when core dumps are allowed),
 *      RLIMIT_NOFILE, and RLIMIT_AS / RLIMIT_CPU / RLIMIT_FSIZE when asked;
 *      then req->oom_score_adj into /proc/self/oom_score_adj when not 0
 *      (while we are still the file's owner; raising it needs no
 *      capability, lowering it would need CAP_SYS_RESOURCE);
 *   5. the capability bounding set is emptied (needs CAP_SETPCAP, so
 *      before the uid change);
 *   6. setgroups(0), setresgid(gid x3), setresuid(uid x3);
 *   7. capabilities: ambient cleared; as root also SECBIT_NOROOT and the
 *      other securebits, locked; then effective, permitted and inheritable
 *      emptied (capset);
 *   8. verify: getresuid/getresgid give the ids asked, no supplementary
 *      groups, no capabilities, an empty bounding set and, unless as root,
 *      setuid(0) and setgid(0) fail;
 *   9. PR_SET_PDEATHSIG(SIGKILL), after the uid change (a credential
 *      change clears it), then getppid() must still be the parent: if the
 *      parent died before the prctl, nobody would kill the worker;
 *  10. PR_SET_NO_NEW_PRIVS;
 *  11. execve(argv[0]) with a minimal environment: PATH, ASAN_OPTIONS,
 *      UBSAN_OPTIONS and LSAN_OPTIONS when set in ours (sanitizer builds),
 *      in test builds only AMPSCAN_TEST_NO_LANDLOCK and
 *      AMPSCAN_TEST_NO_USERNS when set in ours (the sandbox's knobs), and
 *      req->env.
 * A failing step writes (step, errno, argument) to the status pipe and the
 * child _exit(127)s; the parent reads the pipe until EOF (the exec closed
 * it) or that record, reaps the failed child and names the step.
 *
 * Degraded mode (fault 5, req->as_root): the worker stays uid/gid 0 but
 * with no supplementary groups, no capabilities (none in any set, bounding
 * set empty, SECBIT_NOROOT locked so exec grants none) and no_new_privs;
 * ampscansvc also needs --allow-root in argv then (the caller's job).
 *
 * No RLIMIT_NPROC: it counts every process of the uid, so with N workers
 * sharing the scan user a limit would make the (N+1)th exec fail (EAGAIN);
 * the worker's seccomp filter forbids fork and clone instead.
 * RLIMIT_AS does not mix with sanitizers (ASan reserves terabytes of
 * address space); leave it 0 in sanitizer builds.
 *
 * Call from the daemon's main thread: PR_SET_PDEATHSIG fires when the
 * thread that forked exits, not the process.  spawn_worker() blocks until
 * the child has exec'd or failed (a few ms) and reaps a child that failed
 * before exec itself (waitpid on that pid); a child that exec'd is the
 * caller's to reap.
 */
#ifndef AMPSCAN_SPAWN_H
#define AMPSCAN_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#define SPAWN_SOCK_FD 3          /* the request socketpair in the worker */
#define SPAWN_INDEX_FD 4         /* the definitions index, when given */
#define SPAWN_ARGV_MAX 96        /* arguments, argv[0] included */
#define SPAWN_ENV_MAX 16         /* req->env entries */
#define SPAWN_NOFILE_DEFAULT 64  /* RLIMIT_NOFILE when req->nofile is 0 */
#define SPAWN_PATH_ENV "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define SPAWN_FD_HIGH 10         /* fds are parked from here (or above the
                                  * targets) while moved */
#define SPAWN_EXTRA_FDS_MAX 32   /* req->extra_fds: fds 5, 6, ... */
/* A clamav worker's extra fds (worker.c): the active definitions directory,
 * its scratch directory, then the TrustedKeys files, in order. */
#define SPAWN_DEFS_DIR_FD 5
#define SPAWN_SCRATCH_FD 6
#define SPAWN_KEYS_FD 7
#define SPAWN_OOM_PATH "/proc/self/oom_score_adj"
#define SPAWN_OOM_MIN (-1000)
#define SPAWN_OOM_MAX 1000

enum spawn_err {
	SPAWN_OK = 0,
	SPAWN_ERR_ARGS = -1,     /* a bad request; nothing was started */
	SPAWN_ERR_SYS = -2,      /* pipe/fork/... failed in the parent; errno kept */
	SPAWN_ERR_CHILD = -3,    /* a step in the child failed; child reaped */
};

struct spawn_req {
	char *const *argv;       /* argv[0]: absolute path; NULL-terminated */
	char *const *env;        /* extra "NAME=value" entries, or NULL */
	bool as_root;            /* degraded mode (fault 5): uid/gid stay 0 */
	bool as_self;            /* the caller is not root (a demo, a test):
	                          * ids and groups stay the caller's, the
	                          * bounding set is left (dropping it needs
	                          * CAP_SETPCAP); the rest as usual */
	uid_t uid;               /* unless as_root: both non-zero */
	gid_t gid;
	int sock_fd;             /* becomes fd 3; required */
	int index_fd;            /* becomes fd 4; -1 for none */
	const int *extra_fds;    /* become fds 5, 6, ... (the trial's
	                          * definitions); needs index_fd (fd 4 may be
	                          * any open fd, e.g. /dev/null) */
	size_t nextra_fds;       /* at most SPAWN_EXTRA_FDS_MAX */
	bool core_dumps;         /* RLIMIT_CORE = its hard limit, else 0 */
	rlim_t nofile;           /* RLIMIT_NOFILE; 0 = SPAWN_NOFILE_DEFAULT, or
	                          * our hard limit when that is lower */
	rlim_t as_bytes;         /* RLIMIT_AS; 0 = inherited */
	rlim_t cpu_seconds;      /* RLIMIT_CPU; 0 = inherited */
	rlim_t fsize_bytes;      /* RLIMIT_FSIZE; 0 = inherited */
	int oom_score_adj;       /* 0 = inherited; else written (-1000..1000) */
};

struct spawn_result {
	pid_t pid;               /* the worker, exec'd; -1 on failure */
	int log_fd;              /* read end of its stdout+stderr pipe:
	                          * O_CLOEXEC|O_NONBLOCK, the caller's to close;
	                          * -1 on failure */
};

/*
 * Start req->argv[0] as described above.  req's fds stay open and owned
 * by the caller (close the worker's socket end after a successful spawn).
 * Returns SPAWN_OK with res filled, or a negative spawn_err with err
 * naming the step: "setresuid(998): Operation not permitted",
 * "execve /usr/sbin/ampscansvc: No such file or directory".  res is set
 * only on success (pid -1, log_fd -1 otherwise).
 */
int spawn_worker(const struct spawn_req *req, struct spawn_result *res,
    char *err, size_t errlen);

const char *spawn_strerror(int code);

/*
 * Helpers for any forked child (account.c's tool runner uses them too);
 * async-signal-safe.
 *
 * spawn_child_reset_signals: every handler to SIG_DFL, then an empty mask.
 * Returns 0, or -1 with errno if the mask could not be set.
 */
int spawn_child_reset_signals(void);

/*
 * spawn_child_fds: make fds[i] fd i for i < n (fds[i] >= 0; the same fd
 * may appear twice), keep *keep open (moved to a number >= SPAWN_FD_HIGH,
 * close-on-exec; its new number is stored in *keep; -1 for none) and close
 * every other fd.  The fds installed are not close-on-exec.  Returns 0, or
 * -1 with errno and *bad set to the fd number that failed.
 */
int spawn_child_fds(const int *fds, int n, int *keep, int *bad);

#endif
