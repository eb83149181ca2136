/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan worker's sandbox: no_new_privs, not dumpable, Landlock (or,
 * on a kernel without it, a private mount namespace), and a seccomp allow
 * list built with libseccomp.
 *
 * The allow list names what a worker does once it is READY (found with
 * `strace -f` over the worker tests; docs/workers.md lists the runs): read
 * the descriptors it is handed, talk on its socket, write its log, manage
 * memory that is never executable, sleep, exit.  Every other call fails
 * with EPERM rather than killing the worker: a call nobody foresaw, in a
 * parser's rare path, becomes an ERROR reply and not a crash loop.  Test
 * builds trap instead and log each refused call, so the tests can prove
 * that no scan takes such a path.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/magic.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "sandbox.h"

/* ---- Landlock ------------------------------------------------------------ */

/* Access rights of later ABIs, for headers older than the kernel. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)      /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)     /* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)      /* ABI 4 */
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)   /* ABI 6 */
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* The ruleset attribute as of ABI 6; older kernels get a prefix of it. */
struct sandbox_ll_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define SANDBOX_LL_ABI1_FS ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)
/* beneath the scratch directory: plain files and directories, no exec */
#define SANDBOX_LL_SCRATCH (LANDLOCK_ACCESS_FS_WRITE_FILE | \
	LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | \
	LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)
#define SANDBOX_LOCALTIME_PATH "/etc/localtime"
#define SANDBOX_PROC_PATH "/proc"

int
sandbox_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	return v > 0 ? (int)v : -errno;
}

/* Everything the kernel's ABI can refuse, filesystem, network, scopes. */
static size_t
sandbox_ll_handled(int abi, struct sandbox_ll_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->handled_access_fs = SANDBOX_LL_ABI1_FS;
	if (abi >= 2)
		a->handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		a->handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		a->handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	if (abi < 4)
		return sizeof(a->handled_access_fs);
	a->handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP |
	    LANDLOCK_ACCESS_NET_CONNECT_TCP;
	if (abi < 6)
		return offsetof(struct sandbox_ll_attr, scoped);
	a->scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
	return sizeof(*a);
}

static int
sandbox_ll_rule(int ruleset, int fd, uint64_t access, uint64_t handled,
    const char *what, char *err, size_t errlen)
{
	struct landlock_path_beneath_attr pb = { .allowed_access =
	    access & handled, .parent_fd = fd };

	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
	    &pb, 0) != 0) {
		snprintf(err, errlen, "Landlock rule for %s: %s", what,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
sandbox_landlock(const struct sandbox_opts *o, int abi, char *err,
    size_t errlen)
{
	struct sandbox_ll_attr attr;
	int ruleset = -1, tz = -1, proc = -1, rc = -1;
	size_t attrlen;

	attrlen = sandbox_ll_handled(abi, &attr);
	if ((ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attrlen,
	    0)) < 0) {
		snprintf(err, errlen, "Landlock ruleset (ABI %d): %s", abi,
		    strerror(errno));
		goto out;
	}
	if ((o->flags & SANDBOX_SCRATCH) && sandbox_ll_rule(ruleset,
	    o->scratch_fd, SANDBOX_LL_SCRATCH, attr.handled_access_fs,
	    "the scratch directory", err, errlen) != 0)
		goto out;
	if (o->flags & SANDBOX_LOCALTIME) {
		/* a link to the zone file: the rule lands on the file itself */
		if ((tz = open(SANDBOX_LOCALTIME_PATH, O_PATH | O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "%s: %s", SANDBOX_LOCALTIME_PATH,
			    strerror(errno));
			goto out;
		}
		if (sandbox_ll_rule(ruleset, tz, LANDLOCK_ACCESS_FS_READ_FILE,
		    attr.handled_access_fs, SANDBOX_LOCALTIME_PATH, err,
		    errlen) != 0)
			goto out;
	}
	/* the loader: reading beneath /proc, so that a worker it forks can
	 * open its own smaps_rollup before stacking its own layer, which
	 * allows no /proc (procmem.h; the ptrace checks still apply) */
	if (o->flags & SANDBOX_LOADER) {
		if ((proc = open(SANDBOX_PROC_PATH, O_PATH | O_DIRECTORY |
		    O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "%s: %s", SANDBOX_PROC_PATH,
			    strerror(errno));
			goto out;
		}
		if (sandbox_ll_rule(ruleset, proc, LANDLOCK_ACCESS_FS_READ_FILE,
		    attr.handled_access_fs, SANDBOX_PROC_PATH, err, errlen) != 0)
			goto out;
	}
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
		snprintf(err, errlen, "Landlock restrict_self: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (proc >= 0)
		close(proc);
	if (tz >= 0)
		close(tz);
	if (ruleset >= 0)
		close(ruleset);
	return rc;
}

/* ---- where Landlock is missing: a private mount namespace --------------- */

/*
 * The worker (the scan user, or root without capabilities in the fault-5
 * mode) has no CAP_SYS_ADMIN, so CLONE_NEWNS alone is refused to it; a user
 * namespace of its own, mapping only its own uid and gid onto themselves,
 * gives it the right to mount in the new mount namespace, for either
 * identity.  The capabilities that come with the user namespace are all
 * dropped again (bounding set included) before the seccomp filter.
 */
#define SANDBOX_PROC_FD_DIR "/proc/self/fd"
#define SANDBOX_IDMAP_MAX 64           /* "uid uid 1\n" */
#define SANDBOX_CAP_MAX 64             /* capability numbers dropped */
/* the builtin worker's root: an empty, read-only tmpfs */
#define SANDBOX_EMPTY_ROOT_OPTS "size=4k,mode=0555"

/* One step of the fallback that failed, and its errno. */
struct sandbox_ns_fail {
	const char *step;
	int err;
};

static const char *
sandbox_errname(int e)
{
	const char *n = strerrorname_np(e);

	return n != NULL ? n : strerror(e);
}

static int
sandbox_ns_failed(struct sandbox_ns_fail *f, const char *step, int e)
{
	f->step = step;
	f->err = e;
	return -1;
}

/* "deny" to setgroups, then "ID ID 1" to uid_map and gid_map. */
static int
sandbox_write_proc(const char *path, const char *text, struct sandbox_ns_fail *f)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CLOEXEC), e;

	if (fd < 0)
		return sandbox_ns_failed(f, path, errno);
	if (write(fd, text, len) != (ssize_t)len) {
		e = errno;
		close(fd);
		return sandbox_ns_failed(f, path, e);
	}
	close(fd);
	return 0;
}

static int
sandbox_idmaps(uid_t uid, gid_t gid, struct sandbox_ns_fail *f)
{
	char map[SANDBOX_IDMAP_MAX];

	if (sandbox_write_proc("/proc/self/setgroups", "deny", f) != 0)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (sandbox_write_proc("/proc/self/uid_map", map, f) != 0)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	return sandbox_write_proc("/proc/self/gid_map", map, f);
}

/*
 * A directory descriptor is a way out of any root: openat(fd, "..") walks
 * from it, not from the root.  None may be open but the scratch
 * directory's, which is replaced by one opened inside the new root.
 */
static int
sandbox_no_dir_fds(int keep, struct sandbox_ns_fail *f)
{
	DIR *d = opendir(SANDBOX_PROC_FD_DIR);
	struct dirent *de;
	struct stat st;
	int fd, rc = 0;

	if (d == NULL)
		return sandbox_ns_failed(f, SANDBOX_PROC_FD_DIR, errno);
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		fd = (int)strtol(de->d_name, NULL, 10);
		if (fd == keep || fd == dirfd(d) || fstat(fd, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc = sandbox_ns_failed(f, "a directory descriptor outside the new root is open",
			    EBADF);
	}
	closedir(d);
	return rc;
}

/* Stack the new root on "/": the scratch directory (the cwd), or a tmpfs. */
static int
sandbox_stack_root(bool scratch, struct sandbox_ns_fail *f)
{
	/* nothing we mount may reach the namespace we came from */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return sandbox_ns_failed(f, "mount --make-rprivate /", errno);
	if (scratch) {
		/* "." is the cwd, which unshare moved into the new namespace;
		 * the descriptor still names the old one (a bind of it: EINVAL) */
		if (mount(".", "/", NULL, MS_BIND | MS_REC, NULL) != 0)
			return sandbox_ns_failed(f, "bind mount of the scratch directory", errno);
	} else if (mount("ampscan", "/", "tmpfs", MS_RDONLY | MS_NOSUID |
	    MS_NODEV | MS_NOEXEC, SANDBOX_EMPTY_ROOT_OPTS) != 0) {
		return sandbox_ns_failed(f, "mount tmpfs", errno);
	}
	/* "/" is the old root; ".." from it crosses into what is on top */
	if (chdir("/..") != 0)
		return sandbox_ns_failed(f, "chdir into the new root", errno);
	return 0;
}

/*
 * The cwd (the new root, stacked on the old one) becomes the root: the
 * old root, now on top of it, is detached, and nothing outside is left
 * reachable by path.
 */
static int
sandbox_pivot(struct sandbox_ns_fail *f)
{
	if (syscall(SYS_pivot_root, ".", ".") != 0)
		return sandbox_ns_failed(f, "pivot_root", errno);
	if (umount2(".", MNT_DETACH) != 0)
		return sandbox_ns_failed(f, "umount of the old root", errno);
	if (chdir("/") != 0)
		return sandbox_ns_failed(f, "chdir /", errno);
	return 0;
}

/* Is the root the directory scratch_fd names (or an empty tmpfs)? */
static int
sandbox_check_root(const struct sandbox_opts *o, const struct stat *want,
    struct sandbox_ns_fail *f)
{
	struct stat st;
	struct statfs sf;

	if (stat("/", &st) != 0)
		return sandbox_ns_failed(f, "stat /", errno);
	if (o->flags & SANDBOX_SCRATCH) {
		if (st.st_dev != want->st_dev || st.st_ino != want->st_ino)
			return sandbox_ns_failed(f, "the new root is not the scratch directory", ENOTDIR);
		return 0;
	}
	if (statfs("/", &sf) != 0)
		return sandbox_ns_failed(f, "statfs /", errno);
	if (sf.f_type != TMPFS_MAGIC)
		return sandbox_ns_failed(f, "the new root is not the empty tmpfs", ENOTDIR);
	return 0;
}

/* The scratch descriptor, reopened inside the new root (see above). */
static int
sandbox_reopen_scratch(int scratch_fd, struct sandbox_ns_fail *f)
{
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), e;

	if (fd < 0)
		return sandbox_ns_failed(f, "open /", errno);
	if (dup3(fd, scratch_fd, O_CLOEXEC) < 0) {
		e = errno;
		close(fd);
		return sandbox_ns_failed(f, "dup3 onto the scratch descriptor", e);
	}
	close(fd);
	return 0;
}

/* Every capability the user namespace gave, the bounding set first. */
static int
sandbox_drop_caps(struct sandbox_ns_fail *f)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];

	for (int cap = 0; cap < SANDBOX_CAP_MAX; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
			return sandbox_ns_failed(f, "PR_CAPBSET_DROP", errno);
	memset(none, 0, sizeof(none));
	if (syscall(SYS_capset, &hdr, none) != 0)
		return sandbox_ns_failed(f, "capset", errno);
	return 0;
}

static int
sandbox_unshare(struct sandbox_ns_fail *f)
{
#ifdef AMPSCAN_TEST_HOOKS
	/* test builds: as if user namespaces were disabled */
	if (getenv("AMPSCAN_TEST_NO_USERNS") != NULL)
		return sandbox_ns_failed(f, "unshare", EPERM);
#endif
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
		return sandbox_ns_failed(f, "unshare", errno);
	return 0;
}

static int
sandbox_mountns_steps(const struct sandbox_opts *o, struct sandbox_ns_fail *f)
{
	bool scratch = (o->flags & SANDBOX_SCRATCH) != 0;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	struct stat want;

	if (scratch && (fstat(o->scratch_fd, &want) != 0 ||
	    fchdir(o->scratch_fd) != 0))
		return sandbox_ns_failed(f, "the scratch directory", errno);
	if (sandbox_no_dir_fds(scratch ? o->scratch_fd : -1, f) != 0 ||
	    sandbox_unshare(f) != 0 || sandbox_idmaps(uid, gid, f) != 0 ||
	    sandbox_stack_root(scratch, f) != 0 || sandbox_pivot(f) != 0 ||
	    sandbox_check_root(o, &want, f) != 0)
		return -1;
	if (scratch && sandbox_reopen_scratch(o->scratch_fd, f) != 0)
		return -1;
	return sandbox_drop_caps(f);
}

/*
 * Landlock is missing (ll_err: ENOSYS or EOPNOTSUPP): confine the worker
 * to a private mount namespace whose root is the scratch directory (the
 * clamav engine) or an empty read-only tmpfs (the builtin engine), or
 * refuse: the worker never runs unconfined.  Before PR_SET_DUMPABLE 0,
 * which would make /proc/self/uid_map root's, and after the time zone is
 * read (sandbox_pin_timezone): /etc/localtime is out of reach then, local
 * times stay right.  libclamav's CL_ENGINE_TMPDIR "." is the cwd, the
 * scratch directory, now "/".
 */
static int
sandbox_mountns(const struct sandbox_opts *o, int ll_err, char *err,
    size_t errlen)
{
	struct sandbox_ns_fail f = { NULL, 0 };

	if (sandbox_mountns_steps(o, &f) != 0) {
		snprintf(err, errlen,
		    "Landlock unavailable (%s) and no mount namespace (%s: %s): refusing to run unconfined",
		    sandbox_errname(ll_err), f.step, sandbox_errname(f.err));
		return -1;
	}
	fprintf(stderr, "ampscansvc: sandbox: Landlock unavailable (%s): confined to a private mount namespace whose root is %s\n",
	    sandbox_errname(ll_err), (o->flags & SANDBOX_SCRATCH) ?
	    "the scratch directory" : "an empty tmpfs");
	return 0;
}

/*
 * The Landlock ABI, or -errno; test builds: AMPSCAN_TEST_NO_LANDLOCK=1
 * (or ENOSYS, EOPNOTSUPP, EPERM) as if the kernel had said so.
 */
static int
sandbox_ll_probe(void)
{
#ifdef AMPSCAN_TEST_HOOKS
	const char *v = getenv("AMPSCAN_TEST_NO_LANDLOCK");

	if (v != NULL)
		return strcmp(v, "EPERM") == 0 ? -EPERM :
		    strcmp(v, "EOPNOTSUPP") == 0 ? -EOPNOTSUPP : -ENOSYS;
#endif
	return sandbox_landlock_abi();
}

/*
 * EPERM: a seccomp filter above us (systemd's) blocks landlock_*: a
 * misconfiguration, reported as one, with no fallback that would hide it.
 * ENOSYS/EOPNOTSUPP (not built, or not in lsm=): 0, the caller falls back.
 */
static int
sandbox_ll_refused(int abi, char *err, size_t errlen)
{
	if (abi == -EPERM) {
		snprintf(err, errlen,
		    "Landlock is refused with EPERM: a seccomp filter above the worker (systemd's SystemCallFilter=, e.g. @system-service on systemd < 255) blocks landlock_*; allow them for ampdaemon (misconfiguration)");
		return -1;
	}
	if (abi < 0 && abi != -ENOSYS && abi != -EOPNOTSUPP) {
		snprintf(err, errlen, "Landlock: %s", strerror(-abi));
		return -1;
	}
	return 0;
}

/* ---- the seccomp allow list ------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

enum { SB_ALL, SB_SCRATCH, SB_SAN };   /* who gets a rule */

struct sandbox_call {
	int nr;
	int who;
};

/*
 * Allowed with any arguments.  The ones with argument filters follow in
 * sandbox_filtered().
 */
static const struct sandbox_call sandbox_calls[] = {
	/* reading the descriptor a SCAN hands over (walk.c: fstat, pread) */
	{ SCMP_SYS(read), SB_ALL },
	{ SCMP_SYS(pread64), SB_ALL },
	{ SCMP_SYS(readv), SB_ALL },
	{ SCMP_SYS(lseek), SB_ALL },
	{ SCMP_SYS(fstat), SB_ALL },
	/* the scanned descriptor once done; a descriptor closes no path */
	{ SCMP_SYS(close), SB_ALL },
	/* malloc and free: heap and large blocks (mmap/mprotect: filtered) */
	{ SCMP_SYS(brk), SB_ALL },
	{ SCMP_SYS(munmap), SB_ALL },
	{ SCMP_SYS(mremap), SB_ALL },
	{ SCMP_SYS(madvise), SB_ALL },
	/* glibc's locks (stdio, malloc arenas) */
	{ SCMP_SYS(futex), SB_ALL },
	/* time without the vDSO, and the test hooks' sleeps */
	{ SCMP_SYS(clock_gettime), SB_ALL },
	{ SCMP_SYS(clock_nanosleep), SB_ALL },
	{ SCMP_SYS(nanosleep), SB_ALL },
	/* the kernel resumes an interrupted sleep with it (SIGSTOP/SIGCONT) */
	{ SCMP_SYS(restart_syscall), SB_ALL },
	/* OpenSSL's and libarchive's random numbers */
	{ SCMP_SYS(getrandom), SB_ALL },
	/* signals: return from a handler, mask changes by raise() */
	{ SCMP_SYS(rt_sigreturn), SB_ALL },
	{ SCMP_SYS(rt_sigprocmask), SB_ALL },
	/* raise() asks who we are before tgkill (kill: filtered) */
	{ SCMP_SYS(getpid), SB_ALL },
	{ SCMP_SYS(gettid), SB_ALL },
	/* a test hook waits for its kill with pause(); it waits, nothing else */
#ifdef __NR_pause
	{ SCMP_SYS(pause), SB_ALL },
#endif
	{ SCMP_SYS(exit), SB_ALL },
	{ SCMP_SYS(exit_group), SB_ALL },

	/*
	 * SANDBOX_SCRATCH: a scan's temp files (libclamav), beneath the
	 * scratch directory: Landlock refuses every path outside it.
	 */
	{ SCMP_SYS(openat), SB_SCRATCH },       /* create and open them */
	{ SCMP_SYS(newfstatat), SB_SCRATCH },   /* stat(path) of them */
	{ SCMP_SYS(getdents64), SB_SCRATCH },   /* readdir when removing a tree */
	{ SCMP_SYS(unlinkat), SB_SCRATCH },     /* remove them */
	{ SCMP_SYS(mkdirat), SB_SCRATCH },      /* a directory per scan */
	{ SCMP_SYS(renameat), SB_SCRATCH },
	{ SCMP_SYS(renameat2), SB_SCRATCH },
	{ SCMP_SYS(ftruncate), SB_SCRATCH },    /* reuse a temp file */
	{ SCMP_SYS(fchdir), SB_SCRATCH },       /* into the scratch directory */
	{ SCMP_SYS(write), SB_SCRATCH },        /* write temp files (else: stderr only) */
	{ SCMP_SYS(pwrite64), SB_SCRATCH },
	{ SCMP_SYS(fsync), SB_SCRATCH },
	{ SCMP_SYS(fcntl), SB_SCRATCH },        /* stdio's fdopen checks the mode */
	{ SCMP_SYS(dup), SB_SCRATCH },          /* fdopen of a duplicate */
	{ SCMP_SYS(faccessat), SB_SCRATCH },    /* access() on a temp name */
	{ SCMP_SYS(faccessat2), SB_SCRATCH },
	{ SCMP_SYS(getcwd), SB_SCRATCH },       /* realpath of "." */
	{ SCMP_SYS(statx), SB_SCRATCH },
	/* x86_64 glibc calls the old path syscalls for these libc functions */
#ifdef __NR_unlink
	{ SCMP_SYS(unlink), SB_SCRATCH },
	{ SCMP_SYS(rmdir), SB_SCRATCH },
	{ SCMP_SYS(mkdir), SB_SCRATCH },
	{ SCMP_SYS(rename), SB_SCRATCH },
	{ SCMP_SYS(stat), SB_SCRATCH },
	{ SCMP_SYS(lstat), SB_SCRATCH },
	{ SCMP_SYS(access), SB_SCRATCH },
#endif

	/*
	 * Sanitizer builds only: ASan asks for its alternate signal stack
	 * whenever a signal reaches it (a trapped call's SIGSYS, the crash
	 * marker's SIGSEGV); without it, a CHECK failure.  Nothing else: its
	 * reports cannot open /proc from here anyway (Landlock).
	 */
	{ SCMP_SYS(sigaltstack), SB_SAN },
};

#define SANDBOX_NCALLS (sizeof(sandbox_calls) / sizeof(sandbox_calls[0]))

static bool
sandbox_wants(int who, unsigned flags)
{
	switch (who) {
	case SB_ALL: return true;
	case SB_SCRATCH: return (flags & SANDBOX_SCRATCH) != 0;
#ifdef SANDBOX_SANITIZER
	case SB_SAN: return true;
#endif
	default: return false;
	}
}

/* seccomp_rule_add that names the call when it fails */
#define SB_RULE(ctx, nr, ...) sandbox_rc(seccomp_rule_add((ctx), \
	SCMP_ACT_ALLOW, (nr), __VA_ARGS__), (nr), err, errlen)

static int
sandbox_rc(int rc, int nr, char *err, size_t errlen)
{
	char *name;

	if (rc == 0)
		return 0;
	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	snprintf(err, errlen, "seccomp rule for %s: %s", name ? name : "?",
	    strerror(-rc));
	free(name);
	return -1;
}

/*
 * Argument comparisons, every field set.  The int arguments (fds, pids,
 * signals, modes) are compared on their low 32 bits, as the kernel reads
 * them.
 */
static struct scmp_arg_cmp
sb_arg(unsigned arg, enum scmp_compare op, uint64_t a, uint64_t b)
{
	return (struct scmp_arg_cmp){ .arg = arg, .op = op, .datum_a = a,
	    .datum_b = b };
}

static struct scmp_arg_cmp
sb_eq32(unsigned arg, uint32_t v)
{
	return sb_arg(arg, SCMP_CMP_MASKED_EQ, 0xffffffffu, v);
}

/* SANDBOX_LOADER: what the loader and a worker before its own sandbox need. */
static int
sandbox_loader_calls(scmp_filter_ctx ctx, unsigned flags, char *err,
    size_t errlen)
{
	static const int any[] = { SCMP_SYS(dup2), SCMP_SYS(dup3),
	    SCMP_SYS(close_range), SCMP_SYS(getppid), SCMP_SYS(seccomp),
	    SCMP_SYS(landlock_create_ruleset), SCMP_SYS(landlock_add_rule),
	    SCMP_SYS(landlock_restrict_self), SCMP_SYS(kill), SCMP_SYS(tgkill) };
	static const int pr[] = { PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS,
	    PR_SET_PDEATHSIG, PR_SET_SECCOMP };

	for (size_t i = 0; i < sizeof(any) / sizeof(any[0]); i++)
		if (SB_RULE(ctx, any[i], 0))
			return -1;
	for (size_t i = 0; i < sizeof(pr) / sizeof(pr[0]); i++)
		if (SB_RULE(ctx, SCMP_SYS(prctl), 1, sb_eq32(0, (uint32_t)pr[i])))
			return -1;
	/* a fork whose parent is ampdaemon, nothing else (no thread, no
	 * namespace): the whole register compared */
	if (SB_RULE(ctx, SCMP_SYS(clone), 1, sb_arg(0, SCMP_CMP_EQ,
	    CLONE_PARENT | SIGCHLD, 0)))
		return -1;
	/* a forked worker opens its smaps_rollup (Landlock: /proc only, read);
	 * with SANDBOX_SCRATCH openat is allowed anyway */
	if (!(flags & SANDBOX_SCRATCH) && SB_RULE(ctx, SCMP_SYS(openat), 1,
	    sb_arg(2, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)))
		return -1;
	/* the worker's test builds read (never change) SIGSYS's handler */
	return SB_RULE(ctx, SCMP_SYS(rt_sigaction), 2,
	    sb_eq32(0, SIGSYS), sb_arg(1, SCMP_CMP_EQ, 0, 0));
}

/* Allowed only with the arguments shown. */
static int
sandbox_filtered(scmp_filter_ctx ctx, const struct sandbox_opts *o,
    pid_t self, char *err, size_t errlen)
{
	/* memory never executable: no code is loaded after READY */
	if (SB_RULE(ctx, SCMP_SYS(mmap), 1,
	    sb_arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) ||
	    SB_RULE(ctx, SCMP_SYS(mprotect), 1,
	    sb_arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)))
		return -1;
	if ((o->flags & SANDBOX_LOADER) && sandbox_loader_calls(ctx, o->flags,
	    err, errlen) != 0)
		return -1;
	/* signals to ourselves only: raise() and abort() (tgkill), kill(self) */
	if (!(o->flags & SANDBOX_LOADER) && (SB_RULE(ctx, SCMP_SYS(kill), 1,
	    sb_eq32(0, self)) || SB_RULE(ctx, SCMP_SYS(tgkill), 1, sb_eq32(0, self))))
		return -1;
	/* a handler may change, but not the one that reports refused calls
	 * (whole register compared: SIGSYS with high bits set passes; that
	 * only matters in test builds, to code already making raw calls) */
	if (SB_RULE(ctx, SCMP_SYS(rt_sigaction), 1, sb_arg(0, SCMP_CMP_NE, SIGSYS, 0)))
		return -1;
	/* fstat() of the scanned file: glibc's is fstatat(fd, "", AT_EMPTY_PATH) */
	if (!(o->flags & SANDBOX_SCRATCH) && SB_RULE(ctx, SCMP_SYS(newfstatat), 1,
	    sb_arg(3, SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)))
		return -1;
	/* the log (stderr) and --trial's verdict (stdout); scratch: any fd */
	if (!(o->flags & SANDBOX_SCRATCH) && (SB_RULE(ctx, SCMP_SYS(write), 1,
	    sb_eq32(0, STDERR_FILENO)) || SB_RULE(ctx,
	    SCMP_SYS(write), 1, sb_eq32(0, STDOUT_FILENO))))
		return -1;
	/* scratch: chmod(dir, 0700) only (libclamav before it removes a
	 * tree); fchmod and fchmodat2 are refused */
	if (o->flags & SANDBOX_SCRATCH) {
#ifdef __NR_chmod
		if (SB_RULE(ctx, SCMP_SYS(chmod), 1, sb_eq32(1, 0700)))
			return -1;
#endif
		if (SB_RULE(ctx, SCMP_SYS(fchmodat), 1, sb_eq32(2, 0700)))
			return -1;
	}
	/* requests and replies on the worker socket only; send() is sendto
	 * without an address (the test hooks' misbehaviour) */
	if (o->sock_fd < 0)
		return SB_RULE(ctx, SCMP_SYS(recvmsg), 0) ||
		    SB_RULE(ctx, SCMP_SYS(sendmsg), 0) ||
		    SB_RULE(ctx, SCMP_SYS(sendto), 1, sb_arg(4, SCMP_CMP_EQ, 0, 0));
	return SB_RULE(ctx, SCMP_SYS(recvmsg), 1,
	    sb_eq32(0, o->sock_fd)) ||
	    SB_RULE(ctx, SCMP_SYS(sendmsg), 1,
	    sb_eq32(0, o->sock_fd)) ||
	    SB_RULE(ctx, SCMP_SYS(sendto), 2,
	    sb_eq32(0, o->sock_fd), sb_arg(4, SCMP_CMP_EQ, 0, 0));
}

#ifdef AMPSCAN_TEST_HOOKS
/*
 * Test builds: a refused call traps here.  Log it (write(2) only: this is
 * a signal handler) and make the call return EPERM, as a release build's
 * filter does.
 */
static void
sandbox_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	char msg[64] = "sandbox: refused syscall ", digits[16];
	size_t len = strlen(msg), nd = 0;
	unsigned nr = (unsigned)si->si_syscall;
	int saved = errno;

	(void)sig;
	do
		digits[nd++] = (char)('0' + nr % 10);
	while ((nr /= 10) != 0 && nd < sizeof(digits));
	while (nd > 0)
		msg[len++] = digits[--nd];
	msg[len++] = '\n';
	if (write(STDERR_FILENO, msg, len) < 0)
		(void)0;
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
	uc->uc_mcontext.regs[0] = (unsigned long long)-EPERM;
#else
#error "sandbox: set the syscall's return value in this architecture's ucontext"
#endif
	errno = saved;
}

static int
sandbox_trap_handler(char *err, size_t errlen)
{
	struct sigaction sa;

	/* a worker forked from the loader has it already (and may not set it) */
	if (sigaction(SIGSYS, NULL, &sa) == 0 && (sa.sa_flags & SA_SIGINFO) &&
	    sa.sa_sigaction == sandbox_sigsys)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0) {
		snprintf(err, errlen, "SIGSYS handler: %s", strerror(errno));
		return -1;
	}
	return 0;
}
#define SANDBOX_DEFAULT_ACTION SCMP_ACT_TRAP
#else
#define SANDBOX_DEFAULT_ACTION SCMP_ACT_ERRNO(EPERM)
#endif

static int
sandbox_seccomp(const struct sandbox_opts *o, char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SANDBOX_DEFAULT_ACTION);
	int rc = -1, r;

	if (ctx == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	/*
	 * A foreign ABI (i386 via int 0x80; x32, whose numbers libseccomp's
	 * native x86_64 filter treats as a foreign architecture) kills.
	 */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) != 0) {
		snprintf(err, errlen, "seccomp bad-arch action: %s", strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < SANDBOX_NCALLS; i++)
		if (sandbox_wants(sandbox_calls[i].who, o->flags) &&
		    SB_RULE(ctx, sandbox_calls[i].nr, 0) != 0)
			goto out;
	if (sandbox_filtered(ctx, o, getpid(), err, errlen) != 0)
		goto out;
#ifdef AMPSCAN_TEST_HOOKS
	if (sandbox_trap_handler(err, errlen) != 0)
		goto out;
#endif
	if ((r = seccomp_load(ctx)) != 0) {
		snprintf(err, errlen, "seccomp filter: %s", strerror(-r));
		goto out;
	}
	rc = 0;
out:
	seccomp_release(ctx);
	return rc;
}

/* ---- entering it ------------------------------------------------------- */

int
sandbox_check_identity(bool allow_root, char *err, size_t errlen)
{
	if ((getuid() == 0 || geteuid() == 0) && !allow_root) {
		snprintf(err, errlen,
		    "running as root (uid %u, euid %u): the worker runs as the scan user; ampdaemon passes --allow-root only in its degraded mode (fault 5)",
		    (unsigned)getuid(), (unsigned)geteuid());
		return -1;
	}
	return 0;
}

/*
 * glibc re-reads /etc/localtime at every mktime()/localtime() while TZ is
 * unset (libarchive converts a zip member's DOS time with mktime); with TZ
 * naming the same file it reads it once, here, and never again.
 */
static void
sandbox_pin_timezone(void)
{
	if (getenv("TZ") == NULL)
		setenv("TZ", ":" SANDBOX_LOCALTIME_PATH, 0);
	tzset();
}

int
sandbox_loader_possible(char *err, size_t errlen)
{
	int abi = sandbox_ll_probe();

	if (sandbox_ll_refused(abi, err, errlen) != 0)
		return -1;
	if (abi < 0) {
		snprintf(err, errlen, "Landlock unavailable (%s): a loader has no mount-namespace fallback (its workers' directories lie outside any one root); its workers are to be exec'd",
		    sandbox_errname(-abi));
		return 1;
	}
	return 0;
}

int
sandbox_enter_opts(const struct sandbox_opts *o, char *err, size_t errlen)
{
	int abi = sandbox_ll_probe();

	if ((o->flags & SANDBOX_SCRATCH) && o->scratch_fd < 0) {
		snprintf(err, errlen, "SANDBOX_SCRATCH without a scratch directory");
		return -1;
	}
	if (sandbox_ll_refused(abi, err, errlen) != 0)
		return -1;
	if ((o->flags & SANDBOX_LOADER) && sandbox_loader_possible(err, errlen) != 0)
		return -1;
	sandbox_pin_timezone();
	if (abi < 0 && sandbox_mountns(o, -abi, err, errlen) != 0)
		return -1;
	/* no core dumps, no ptrace by the scan user's other processes */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		snprintf(err, errlen, "PR_SET_DUMPABLE: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (abi > 0 && sandbox_landlock(o, abi, err, errlen) != 0)
		return -1;
	return sandbox_seccomp(o, err, errlen);
}

int
sandbox_enter(char *err, size_t errlen)
{
	struct sandbox_opts o = { .flags = 0, .scratch_fd = -1, .sock_fd = -1 };

	return sandbox_enter_opts(&o, err, errlen);
}
