/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan account (ScanUser/ScanGroup): resolve it before each spawn,
 * create it when missing, repair it on request (fault 5).
 *
 * Resolve.  The user and the group are looked up with getpwnam_r and
 * getgrnam_r.  "Not found" (a return of 0 with no entry, or ENOENT, ESRCH,
 * EBADF, EPERM as getpwnam_r(3) lists) is told apart from a failing name
 * service (EIO, ENOMEM, EAGAIN, a timeout, ...; also our own allocation
 * failing or an entry over ACCOUNT_LOOKUP_BUF_MAX): the first is
 * ACCOUNT_MISSING_*, the second ACCOUNT_LOOKUP_FAILED, and create/repair
 * never touch the account files when a lookup failed (a local account
 * could shadow the directory's).  An existing account is usable when:
 *   - its uid is not 0;
 *   - ScanGroup is not privileged (below);
 *   - its primary group is ScanGroup;
 *   - its shell is a no-login shell: /usr/sbin/nologin, /sbin/nologin,
 *     /bin/false or /usr/bin/false (an empty shell means /bin/sh);
 *   - none of its supplementary groups (getgrouplist) is privileged.
 * Other supplementary groups are tolerated: the worker never has them
 * (spawn.c calls setgroups(0)); repair removes them anyway.
 *
 * Privileged groups: gid 0-99 (the distributions' static groups: each
 * exists to grant access to something, root, adm, disk, kmem, shadow,
 * sudo on Debian, wheel on Fedora, tty, dialout, video, staff, ...), and by
 * name, for the groups whose gid is allocated dynamically: root, sudo,
 * wheel, admin, adm, disk, shadow, kmem, docker, lxd, incus-admin,
 * libvirt, kvm, systemd-journal.  100 ("users") and up are not, unless
 * named.
 *
 * Names: 1 to ACCOUNT_NAME_MAX bytes of [A-Za-z0-9_.-], the first a
 * letter or '_' (the configuration's rule): a name never reaches a tool as
 * an option.  The user "root" is never created, modified or deleted.
 *
 * Create and repair run the shadow tools (ACCOUNT_*ADD etc.): fork and
 * execve by absolute path, an environment of PATH only, stdin /dev/null,
 * stdout and stderr captured (the first ACCOUNT_TOOL_OUTPUT_MAX bytes go
 * into the reason), killed after ACCOUNT_TOOL_TIMEOUT_MS, exit status
 * checked.  They block (up to that timeout per tool) and waitpid() their
 * own children by pid: call them at startup before the event loop runs,
 * or from a child process (ampctl repair-account), never from a libev
 * callback while a SIGCHLD watcher may reap.  They need root.
 *
 * Every function clears *out / reason on entry.  reason is one line: why
 * an account is unusable or missing, or, after create/repair succeeded,
 * what was done ("" when nothing was).
 *
 * No globals: the lists above are const.
 */
#ifndef AMPSCAN_ACCOUNT_H
#define AMPSCAN_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ACCOUNT_NAME_MAX 32             /* bytes of a user or group name */
#define ACCOUNT_PATH_MAX 256            /* home, shell kept in struct account */
#define ACCOUNT_LOOKUP_BUF_MAX (4u << 20) /* getpw*_r buffer cap (big groups) */
#define ACCOUNT_GROUPS_MAX 65536        /* supplementary groups examined */
#define ACCOUNT_TOOL_TIMEOUT_MS 30000   /* per useradd/usermod/... run */
#define ACCOUNT_TOOL_OUTPUT_MAX 1024    /* tool output kept for the reason */
#define ACCOUNT_PRIV_GID_BELOW 100      /* gids below this are privileged */

#define ACCOUNT_GROUPADD "/usr/sbin/groupadd"
#define ACCOUNT_USERADD "/usr/sbin/useradd"
#define ACCOUNT_USERMOD "/usr/sbin/usermod"
#define ACCOUNT_USERDEL "/usr/sbin/userdel"
#define ACCOUNT_SHELL "/usr/sbin/nologin"
#define ACCOUNT_HOME "/nonexistent"
#define ACCOUNT_GECOS "ampscan scan worker"

enum account_status {
	ACCOUNT_OK = 0,
	ACCOUNT_MISSING_USER = -1,   /* no such user (the group may be missing too) */
	ACCOUNT_MISSING_GROUP = -2,  /* the user exists, no such group */
	ACCOUNT_LOOKUP_FAILED = -3,  /* the name service failed: not "missing" */
	ACCOUNT_INVALID = -4,        /* exists but unusable; reason says why */
	ACCOUNT_BAD_NAME = -5,       /* not a valid user or group name */
	ACCOUNT_TOOL_FAILED = -6,    /* useradd & co failed, timed out, or
	                              * create/repair refused; reason says which */
};

struct account {
	uid_t uid;
	gid_t gid;                   /* ScanGroup's: the user's primary group */
	char user[ACCOUNT_NAME_MAX + 1];
	char group[ACCOUNT_NAME_MAX + 1];
	char home[ACCOUNT_PATH_MAX];     /* truncated if longer */
	char shell[ACCOUNT_PATH_MAX];
};

/* The configuration's name rule (above). */
bool account_name_is_valid(const char *name);

/*
 * Whether an error number from getpwnam_r/getgrnam_r/getgrgid_r means
 * "no such entry" (0, ENOENT, ESRCH, EBADF, EPERM) rather than a failing
 * lookup (anything else: EIO, ENOMEM, EAGAIN, ETIMEDOUT, ...).
 */
bool account_errno_is_not_found(int err);

/* Whether a group (gid and name) is privileged by the rule above. */
bool account_group_is_privileged(gid_t gid, const char *name);

/*
 * Look user and group up and check the account (above).  ACCOUNT_OK with
 * *out filled, or a negative account_status with reason:
 *   "no such user cisco-amp-scan-svc"
 *   "looking up user cisco-amp-scan-svc: Input/output error (the name
 *    service failed; this is not \"no such user\")"
 *   "user cisco-amp-scan-svc has uid 0"
 *   "primary group is 'users' (gid 100), want 'cisco-amp-scan-svc' (gid 998)"
 *   "login shell /bin/bash (want /usr/sbin/nologin or /bin/false)"
 *   "member of privileged group 'sudo' (gid 27)"
 * (every problem found, joined with "; ").
 */
int account_resolve(const char *user, const char *group, struct account *out,
    char *reason, size_t reasonlen);

/*
 * Create what is missing: the group (groupadd --system) and the user
 * (useradd --system --gid GROUP --no-create-home --home-dir /nonexistent
 * --shell /usr/sbin/nologin --no-user-group, no supplementary groups).
 * An existing account is left as it is (invalid: ACCOUNT_INVALID; that is
 * repair's job).  Returns what account_resolve() says afterwards, or
 * ACCOUNT_TOOL_FAILED / ACCOUNT_LOOKUP_FAILED / ACCOUNT_BAD_NAME.
 */
int account_create(const char *user, const char *group, char *reason,
    size_t reasonlen);

/*
 * Make the account usable (ampctl repair-account):
 *   - a user with uid 0 is deleted (userdel -f: uid 0 is always "in use";
 *     no -r, so no file is removed) and created again, never usermod'ed:
 *     changing root's uid in place would leave a uid-0 identity's files,
 *     processes and sessions behind.  Refused when the user is "root" or
 *     is the name getpwuid(0) gives.  userdel may remove the user's
 *     same-named group; it is created again;
 *   - otherwise one usermod: --gid GROUP --shell /usr/sbin/nologin
 *     --groups "" --home /nonexistent (the new home, which does not exist,
 *     also keeps usermod from re-grouping files under the old home);
 *   - missing pieces are created as account_create() does.
 * Refused (ACCOUNT_TOOL_FAILED, nothing changed) when ScanGroup is itself
 * privileged: that is a configuration error.  Refused with
 * ACCOUNT_LOOKUP_FAILED when the name service fails.  usermod fails while
 * a process runs as the user: stop the workers first.  Returns what
 * account_resolve() says afterwards.
 */
int account_repair(const char *user, const char *group, char *reason,
    size_t reasonlen);

/*
 * Run a tool as described above: argv[0] absolute, output captured.
 * Returns 0 when it exited 0; ACCOUNT_TOOL_FAILED with reason ("/usr/sbin/
 * useradd exited with status 9: useradd: user 'x' already exists", "...
 * killed after 30000 ms") otherwise.  Exposed for tests.
 */
int account_tool_run(char *const argv[], int timeout_ms, char *reason,
    size_t reasonlen);

const char *account_strerror(int code);

#endif
