/* Test kill points: see killpoint.h. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon.h"
#include "killpoint.h"

void
killpoint_init(struct daemon *d)
{
#ifdef AMPSCAN_TEST_HOOKS
	const char *kp = getenv("AMPSCAN_TEST_KILL_POINT");

	d->kill_point = kp != NULL ? (int)strtol(kp, NULL, 10) : 0;
#else
	(void)d;
#endif
}

void
daemon_kill_point(struct daemon *d, int point, bool in_child)
{
#ifdef AMPSCAN_TEST_HOOKS
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
