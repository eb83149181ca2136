/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's sandbox, applied in the worker itself once its definitions
 * are loaded and before its first scan (the supervisor has already dropped
 * its uid/gid, groups and capabilities and set rlimits before exec).
 */
#ifndef AMPSCAN_SANDBOX_H
#define AMPSCAN_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* Refuse to run as root (real or effective) unless allowed; 0 or -1 + err. */
int sandbox_check_identity(bool allow_root, char *err, size_t errlen);

/* What a worker may do beyond reading the descriptors it is handed. */
enum {
	/*
	 * File operations beneath scratch_fd (a directory): create, write,
	 * truncate, rename and remove files and directories there, list it,
	 * fchdir, chmod to 0700 only.  Landlock confines them to the
	 * directory; without Landlock, a private mount namespace whose root
	 * is that directory.  For an engine that writes temp files
	 * (libclamav); the builtin one does not.
	 */
	SANDBOX_SCRATCH = 1u << 0,
	/* Read /etc/localtime (libclamav's log and date code calls localtime) */
	SANDBOX_LOCALTIME = 1u << 1,
	/*
	 * The loader (docs/loader.md), with SANDBOX_SCRATCH on ScratchDir
	 * itself: its workers' directories lie beneath it.  Adds what a
	 * worker does between the loader's clone and its own sandbox:
	 * clone(CLONE_PARENT|SIGCHLD) only, dup2/dup3, close_range,
	 * getppid, prctl (DUMPABLE, NO_NEW_PRIVS, PDEATHSIG, SECCOMP),
	 * landlock_*, seccomp, kill/tgkill of any pid (a worker's raise()
	 * names its own pid, unknown when the loader's filter is built),
	 * and reading SIGSYS's handler; reading files beneath /proc (Landlock)
	 * and a read-only openat, so that a worker it forks can open its own
	 * /proc/self/smaps_rollup before its own layer closes /proc again.
	 * Landlock is required: no mount-namespace fallback for a loader.
	 */
	SANDBOX_LOADER = 1u << 2,
};

struct sandbox_opts {
	unsigned flags;   /* SANDBOX_* */
	int scratch_fd;   /* with SANDBOX_SCRATCH: the scratch directory, else -1 */
	int sock_fd;      /* the worker socket: the only one sendmsg/recvmsg may use; -1: any */
};

/*
 * In this order: PR_SET_DUMPABLE 0, PR_SET_NO_NEW_PRIVS, Landlock (no
 * filesystem access at all, or beneath scratch_fd only), then a seccomp
 * allow list built with libseccomp: every call not on it fails with EPERM
 * (test builds: SIGSYS, logged as "sandbox: refused syscall N" on stderr,
 * then EPERM); a foreign ABI (x32 included) kills the process.  Load
 * everything the scans need first: nothing can be opened by path after.
 *
 * Landlock refused with EPERM (a seccomp filter above us, e.g. systemd's
 * SystemCallFilter=): -1, a misconfiguration, no fallback.  Landlock
 * missing (ENOSYS, EOPNOTSUPP): first of all, a user + mount namespace of
 * our own whose root is the scratch directory (SANDBOX_SCRATCH; the cwd
 * and scratch_fd are then "/") or an empty read-only tmpfs, every
 * capability it gave dropped again; if that cannot be had either, -1
 * ("... refusing to run unconfined").  The fallback needs a dumpable
 * process (as after exec) and no directory descriptor open but
 * scratch_fd.  Test builds: AMPSCAN_TEST_NO_LANDLOCK=1 (or =EPERM) and
 * AMPSCAN_TEST_NO_USERNS=1 in the environment pretend those failures.
 * Returns 0 or -1 with the reason in err (the worker must then exit).
 */
int sandbox_enter_opts(const struct sandbox_opts *o, char *err, size_t errlen);

/* The builtin worker's sandbox: no scratch directory, any socket fd. */
int sandbox_enter(char *err, size_t errlen);

/* The Landlock ABI version the kernel offers: > 0, or -errno. */
int sandbox_landlock_abi(void);

/*
 * Can a loader be sandboxed here?  0: Landlock is there; 1: it does not
 * exist (ENOSYS, EOPNOTSUPP; test builds: AMPSCAN_TEST_NO_LANDLOCK),
 * err says so; -1: it is refused otherwise (EPERM: a seccomp filter
 * above us), err says why.
 */
int sandbox_loader_possible(char *err, size_t errlen);

#endif
