/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The client's filesystem rights, per thread (asuser.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "asuser.h"
#include "strbuf.h"

#define ASUSER_PEERGROUPS_FIRST 64   /* groups asked for before ERANGE says */

/* The daemon's own identity, taken once at the start (one thread). */
static struct {
	uid_t fsuid;
	gid_t fsgid;
	gid_t *groups;
	size_t ngroups;
	bool ready;
} self;

int
asuser_init(char *err, size_t errlen)
{
	int n;

	if (self.ready)
		return 0;
	if ((n = getgroups(0, NULL)) < 0 ||
	    (self.groups = calloc((size_t)n + 1, sizeof(gid_t))) == NULL ||
	    (n = getgroups(n, self.groups)) < 0) {
		str_fmt(err, errlen, "getgroups: %s", strerror(errno));
		free(self.groups);
		self.groups = NULL;
		return -1;
	}
	self.ngroups = (size_t)n;
	self.fsuid = (uid_t)setfsuid((uid_t)-1);
	self.fsgid = (gid_t)setfsgid((gid_t)-1);
	self.ready = true;
	return 0;
}

int
asuser_peer_groups(int fd, struct asuser_cred *cr)
{
	socklen_t len = ASUSER_PEERGROUPS_FIRST * sizeof(gid_t);
	gid_t *g = NULL, *ng;
	int tries;

	cr->groups = NULL;
	cr->ngroups = 0;
	for (tries = 0; tries < 2; tries++) {
		if (len > ASUSER_GROUPS_MAX * sizeof(gid_t)) {
			errno = E2BIG;
			break;
		}
		if ((ng = realloc(g, len ? len : sizeof(gid_t))) == NULL)
			break;
		g = ng;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
			cr->groups = g;
			cr->ngroups = len / sizeof(gid_t);
			return 0;
		}
		if (errno != ERANGE)
			break;   /* len now holds the size needed: once more */
	}
	free(g);
	return -1;
}

void
asuser_cred_free(struct asuser_cred *cr)
{
	free(cr->groups);
	cr->groups = NULL;
	cr->ngroups = 0;
}

/* The calling thread's groups (the raw call: this thread only). */
static int
groups_set(size_t n, const gid_t *g)
{
	return (int)syscall(SYS_setgroups, n, g);
}

int
asuser_leave(void)
{
	int rc = 0;

	setfsuid(self.fsuid);
	if ((uid_t)setfsuid((uid_t)-1) != self.fsuid)
		rc = -1;
	setfsgid(self.fsgid);
	if ((gid_t)setfsgid((gid_t)-1) != self.fsgid)
		rc = -1;
	if (groups_set(self.ngroups, self.groups) != 0)
		rc = -1;
	return rc;
}

int
asuser_enter(const struct asuser_cred *cr)
{
	int e = EPERM;

	if (!self.ready)
		goto fail;
	if (groups_set(cr->ngroups, cr->groups) != 0) {
		e = errno;
		goto fail;
	}
	/* the group first: with fsuid no longer 0, setfsgid may be refused */
	setfsgid(cr->gid);
	if ((gid_t)setfsgid((gid_t)-1) != cr->gid)
		goto fail;
	setfsuid(cr->uid);
	if ((uid_t)setfsuid((uid_t)-1) != cr->uid)
		goto fail;
	return 0;
fail:
	if (asuser_leave() != 0)
		abort();   /* neither the client's identity nor ours: stop */
	errno = e;
	return -1;
}
