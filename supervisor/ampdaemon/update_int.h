/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What update.c and update_child.c share (not for the rest of
 * ampdaemon: daemon.h has update's public calls).
 */
#ifndef AMPSCAN_UPDATE_INT_H
#define AMPSCAN_UPDATE_INT_H

#include <stdbool.h>

#include "daemon.h"
#include "store.h"

#define UPDATE_LINE_MAX 4200              /* one record of the child's pipe */

/* What the child needs: the daemon's configuration, its job. */
struct update_child {
	struct daemon *d;
	const struct update_job *job;
	int fd;
	char stage[STORE_PATH_MAX];
	struct cvd_trust *trust;
	/* WorkerLaunch loader: the loop's verdict on the candidate's loader
	 * ("ok", "no TAB why", "io TAB why"), the child's stdin; else -1 */
	int go_fd;
};

/* The child's body (task.c's fn): the whole pipeline; 0 when it ran to
 * a verdict, which it has reported on out_fd. */
int update_child_fn(void *arg, int out_fd);

#endif
