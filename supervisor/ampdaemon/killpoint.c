/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test kill points: see killpoint.h. */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "killpoint.h"
#include "num.h"

void
killpoint_init(struct daemon *d)
{
#ifdef AMPSCAN_TEST_HOOKS
	const char *kp = getenv("AMPSCAN_TEST_KILL_POINT");

	uint64_t n;

	d->kill_point = kp != NULL && num_u64(kp, strlen(kp), 0, &n) == NUM_OK &&
	    n <= INT_MAX ? (int)n : 0;
#else
	(void)d;
#endif
}

void
daemon_kill_point(struct daemon *d, int point, bool in_child)
{
#ifdef AMPSCAN_TEST_HOOKS
	/* AMPSCAN_TEST_PAUSE_POINT=N: the update child sleeps 3 s at point N
	 * instead (a window for a test to act in the middle of a step) */
	const char *pp = in_child ? getenv("AMPSCAN_TEST_PAUSE_POINT") : NULL;
	uint64_t n;

	if (pp != NULL && num_u64(pp, strlen(pp), 0, &n) == NUM_OK &&
	    n == (uint64_t)point) {
		sleep(3);
		return;
	}
	if (d->kill_point != point)
		return;
	if (in_child) {
		kill(getppid(), SIGKILL);
	} else {
		dlog(&d->log, DLOG_WARNING, "test hook: kill point %d: SIGKILL", point);
	}
	raise(SIGKILL);
#else
	(void)d;
	(void)point;
	(void)in_child;
#endif
}
