/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test kill points (test builds only: AMPSCAN_TEST_HOOKS).  A test names a
 * point in AMPSCAN_TEST_KILL_POINT (the numbers of activate.h); ampdaemon
 * SIGKILLs itself when it gets there, so the tests can check that what it
 * leaves behind is recovered.  In other builds both functions do nothing.
 */
#ifndef AMPSCAN_KILLPOINT_H
#define AMPSCAN_KILLPOINT_H

#include <stdbool.h>

struct daemon;

/* Read AMPSCAN_TEST_KILL_POINT into d->kill_point. */
void killpoint_init(struct daemon *d);
/* SIGKILL ampdaemon at point `point` if so told; in_child: from a task's
 * child, which kills its parent first. */
void daemon_kill_point(struct daemon *d, int point, bool in_child);

#endif
