/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Wall-clock time for logs, events and state files: milliseconds since
 * the Unix epoch and their one text form, RFC 3339 in UTC with
 * milliseconds ("2026-11-23T22:17:05.123Z"). */
#ifndef AMPSCAN_WALLTIME_H
#define AMPSCAN_WALLTIME_H

#include <stdint.h>

#define WALLTIME_LEN 25               /* "2026-11-23T22:17:05.123Z" + NUL */

/* Milliseconds since the Unix epoch, CLOCK_REALTIME. */
int64_t walltime_now_ms(void);
/* ms as "2026-11-23T22:17:05.123Z" (UTC) into out; a time that does not
 * fit four digits of year gives the epoch. */
void walltime_format(int64_t ms, char out[WALLTIME_LEN]);

#endif
