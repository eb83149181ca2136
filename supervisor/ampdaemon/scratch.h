/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The workers' scratch directories (Engine clamav): one private directory
 * per worker start under ScratchDir, named worker-SLOT-GENERATION (an
 * update's trial load: trial-PID, update_child.c), mode
 * 0700, owned by the scan user; handed to the worker as an open directory
 * (spawn.h: SPAWN_SCRATCH_FD) and wiped when it exits or is killed, and,
 * for leftovers of a crash, when ampdaemon opens ScratchDir.  Removal never
 * follows a symbolic link: openat(O_NOFOLLOW | O_DIRECTORY), unlinkat.
 */
#ifndef AMPSCAN_SCRATCH_H
#define AMPSCAN_SCRATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SCRATCH_PREFIX "worker-"
#define SCRATCH_TRIAL_PREFIX "trial-"   /* an update's trial: trial-PID */
#define SCRATCH_NAME_MAX 48
#define SCRATCH_DEPTH_MAX 64     /* libclamav nests a few levels; deeper is hostile */

/*
 * Open ScratchDir (made mode 0711 when missing; a symbolic link is
 * refused) and remove every worker-* and trial-* entry in it.  The fd, or
 * -1 + err.
 */
int scratch_root_open(const char *dir, char *err, size_t errlen);

/* The same without removing anything (an update's child: workers run). */
int scratch_root_open_only(const char *dir, char *err, size_t errlen);

/*
 * Make root/name (mode 0700; owned by uid:gid when chown_it) and open it
 * (O_DIRECTORY | O_NOFOLLOW, close-on-exec).  A leftover of that name is
 * removed first.  The fd, or -1 + err.
 */
int scratch_make(int root, const char *name, bool chown_it, uid_t uid,
    gid_t gid, char *err, size_t errlen);

/*
 * Remove root/name and everything beneath it, following no symbolic link.
 * 0, or -1 with errno of the first failure (what could be removed is).
 */
int scratch_remove(int root, const char *name);

#endif
