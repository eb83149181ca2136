/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Wall-clock time and its one text form (walltime.h). */
#include <stdio.h>
#include <time.h>

#include "walltime.h"

int64_t
walltime_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
walltime_format(int64_t ms, char out[WALLTIME_LEN])
{
	int64_t sec = ms / 1000, frac = ms % 1000;
	time_t t;
	struct tm tm;

	if (frac < 0) {         /* floor, for times before 1970 */
		frac += 1000;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 0 ||
	    strftime(out, WALLTIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
		snprintf(out, WALLTIME_LEN, "%s", "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out + 19, WALLTIME_LEN - 19, ".%03dZ", (int)frac);
}
