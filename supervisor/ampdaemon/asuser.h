/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The client's filesystem rights for path commands (docs/scan-protocol.md,
 * "Whose rights").  ampdaemon runs as root in one thread; around each
 * lookup it makes for an untrusted scan client (lstat, open, openat,
 * fstatat) it takes that client's filesystem identity for the calling
 * thread only, and gives it back right after:
 *
 *   raw SYS_setgroups   the client's supplementary groups (glibc's
 *                       setgroups() would change every thread's)
 *   setfsgid, setfsuid  per thread; leaving fsuid 0 clears the DAC
 *                       capabilities from the effective set, and going
 *                       back to 0 restores them from the permitted set
 *
 * Needs CAP_SETUID and CAP_SETGID (the shipped unit keeps both).  Each
 * switch is verified (setfsuid(-1) answers the current value); a switch
 * back that does not take is fatal to the caller: the daemon must never go
 * on with a client's identity, nor hand one client's rights to another.
 */
#ifndef AMPSCAN_ASUSER_H
#define AMPSCAN_ASUSER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ASUSER_GROUPS_MAX 65536      /* NGROUPS_MAX of Linux */

/* A client's identity: SO_PEERCRED's uid and gid, SO_PEERGROUPS. */
struct asuser_cred {
	uid_t uid;
	gid_t gid;
	gid_t *groups;                   /* malloc'd; NULL when ngroups is 0 */
	size_t ngroups;
};

/*
 * Remember the identity to come back to (this thread's fsuid, fsgid and
 * groups).  0, or -1 with err set.
 */
int asuser_init(char *err, size_t errlen);

/*
 * SO_PEERGROUPS of a connected unix socket into cr (groups malloc'd, at
 * most ASUSER_GROUPS_MAX).  0, or -1 with errno set.
 */
int asuser_peer_groups(int fd, struct asuser_cred *cr);

/* Free cr's groups. */
void asuser_cred_free(struct asuser_cred *cr);

/*
 * Take cr's filesystem identity for this thread.  0; or -1 with errno set
 * and the daemon's own identity back (nothing may be done as the client).
 */
int asuser_enter(const struct asuser_cred *cr);

/*
 * Back to the daemon's identity.  0; -1 when a switch did not take (the
 * caller logs it and aborts: the thread's identity is unknown).
 */
int asuser_leave(void);

#endif
