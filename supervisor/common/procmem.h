/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A process's memory as /proc/PID/smaps_rollup reports it (issue 16: the
 * pool's Pss, a worker's private memory).  Pss is the process's share of
 * every page it maps (a page mapped by k processes counts 1/k), so the Pss
 * of all the pool's processes adds up to what the pool costs; private is
 * Private_Clean + Private_Dirty, what only this process maps (for a worker
 * forked from a loader: the pages it wrote or allocated since the fork).
 *
 * A process reads its own: the file is opened before a sandbox closes
 * (procmem_open) and read again with pread at each report (procmem_read),
 * so neither Landlock nor a ptrace check stands in the way later; under
 * the shipped unit ampdaemon could not read a worker's (no
 * CAP_SYS_PTRACE, and workers are not dumpable).
 */
#ifndef AMPSCAN_PROCMEM_H
#define AMPSCAN_PROCMEM_H

#include <stddef.h>
#include <stdint.h>

#define PROCMEM_PATH "/proc/self/smaps_rollup"
#define PROCMEM_READ_MAX 4096     /* the file is about 1 KiB */

struct procmem {
	uint64_t rss;       /* bytes */
	uint64_t pss;
	uint64_t priv;      /* Private_Clean + Private_Dirty */
};

/* Parse the text of smaps_rollup; 0, or -1 when Rss, Pss or a Private_
 * line is missing or malformed. */
int procmem_parse(const char *text, size_t len, struct procmem *m);
/* Open PROCMEM_PATH (O_CLOEXEC); the fd, or -1 with errno. */
int procmem_open(void);
/* pread fd from 0 and parse; 0, or -errno (-EPROTO: unparsable). */
int procmem_read(int fd, struct procmem *m);
/*
 * MemAvailable of /proc/meminfo in bytes; -1 unknown.  Test builds:
 * AMPSCAN_TEST_MEMAVAILABLE_FILE names a file whose number (kB) replaces
 * it while the file exists (the update's wait, the loader's collapse).
 */
int64_t procmem_available(void);

#endif
